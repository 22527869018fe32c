"""Limits on abuse: one message costs seconds and a few megabytes, whatever it holds.

An oversized message is never downloaded (IMAP sizes first, a `stat` of the maildir file);
attached forms and books are read as streams with caps; one inbound message cannot make the
assistant write more than a set number of mails or to more than a set number of people; and an
automatic answer loop with one correspondent stops whatever the text. Each cap answers the
person clearly, and each attack is paired with the same path working for its owner.
"""

from __future__ import annotations

import base64
import io
import itertools
import re
import shutil
import sqlite3
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from assistant import ADDRESS, Assistant
from attacks import NOW, RULES, Desk, each, letter, parse, started, text_part
from letters import REQUEST
from openpyxl import Workbook, load_workbook

from mailer.app import PassReport
from mailer.config.settings import SHIPPED_DEFAULTS
from mailer.handoff.questionnaire_form import build_form
from mailer.mail.sources import ImapSource, MaildirSource

DANA = "Dana Manager <dana@example.com>"
SAM = "Sam Jones <sam@example.com>"
RITA = "Rita Patel <rita@example.com>"
_numbers = itertools.count(1)

MB = 1024 * 1024
SMALL_LIMIT = RULES + "limits:\n  max_message_mb: 1\n"


def _big_request(n: int, size: int, *, account: str = "Acme Corp") -> bytes:
    """Dana's request with a `size`-byte attachment (a deck she forgot to leave out)."""
    body = REQUEST.replace("Acme Corp", account).replace("\n", "\r\n")
    filler = (b"QUJD" * 19 + b"\r\n") * (size // 78)
    return (f"From: {DANA}\r\nTo: {ADDRESS}\r\nSubject: Handover {account}\r\n"
            f"Message-ID: <big-{n}@example.com>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n").encode() + body.encode() + (
        b"\r\n--b\r\nContent-Type: application/pdf; name=deck.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n") + filler + b"--b--\r\n"


# -- 3. raw size before the message is fetched ---------------------------------------------------


def test_imap_reads_only_the_headers_of_a_message_over_the_limit(mail, tmp_path: Path) -> None:
    (tmp_path / "inbox_rules.yaml").write_text(SMALL_LIMIT)
    assistant = Assistant(tmp_path, mail, extra_env={
        "MAILER_RULES": str(tmp_path / "inbox_rules.yaml"), "MAILER_WATCHDOG_MINUTES": "0"})
    big = _big_request(1, 5 * MB)
    near = _big_request(2, int(0.9 * MB), account="Globex")  # just under the limit
    mail.append(ADDRESS, big)
    mail.append(ADDRESS, near)

    service = assistant.service()
    try:
        assert isinstance(service.source, ImapSource)
        fetched = {m.source_key: m for m in service.source.fetch_new()}
    finally:
        service.close()
    [over] = [m for m in fetched.values() if m.full_size is not None]
    [under] = [m for m in fetched.values() if m.full_size is None]
    assert over.full_size >= 5 * MB and len(over.raw) < 4096, "the body was never fetched"
    assert b"Message-ID: <big-1@example.com>" in over.raw and b"QUJD" not in over.raw
    assert len(under.raw) > 0.9 * MB and b"<big-2@example.com>" in under.raw

    assert assistant.run_once().handled == 2
    with closing(sqlite3.connect(assistant.settings.database_path)) as db:
        outcomes = sorted(db.execute("SELECT outcome, reason FROM inbound"))
    assert outcomes[1][0] == "rejected" and "over the 1 MB limit" in outcomes[1][1], outcomes
    assert outcomes[0] == ("processed", "started TR-0001"), "the message under it is read"
    [refusal] = [m for m in mail.messages("dana@example.com") if b"over the" in m]
    assert "over the 1 MB limit" in text_part(refusal)
    # The message itself is kept whole on the server, with the rejected mail.
    with mail.imap(ADDRESS) as imap:
        imap.select_folder("Rejected", readonly=True)
        [(uid, data)] = imap.fetch(imap.search("ALL"), ["RFC822.SIZE"]).items()
        assert data[b"RFC822.SIZE"] == over.full_size
    archived = [p.stat().st_size for p in assistant.settings.archive_dir.rglob("*.eml")]
    assert sorted(archived)[0] < 4096 and len(archived) == 2


def _sparse_message(path: Path, head: bytes, size: int) -> None:
    """A message file of `size` bytes of which only the headers take room on disk: reading
    it whole would cost `size` bytes of memory."""
    with open(path, "wb") as file:
        file.write(head + b"\r\n")
        file.truncate(size)


def test_the_maildir_stats_a_message_before_reading_it(tmp_path: Path) -> None:
    desk = Desk(tmp_path, rules=SMALL_LIMIT)
    try:
        source = desk.service.source
        assert isinstance(source, MaildirSource)
        head = (f"From: {DANA}\r\nTo: {ADDRESS}\r\nSubject: Handover\r\n"
                "Message-ID: <sparse@example.com>\r\nContent-Type: text/plain").encode()
        name = "1700000000.sparse.host"
        _sparse_message(source.path / "new" / name, head, 400 * MB)
        inode = (source.path / "new" / name).stat().st_ino
        tracemalloc.start()
        started = time.monotonic()
        sent = desk.run()
        seconds = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert desk.last_inbound()[0] == "rejected"
        assert seconds < 2 and peak < 20 * MB, (seconds, peak)
        assert [m["kind"] for m in sent] == ["rejection"]
        assert "400.0 MB, over the 1 MB limit" in text_part(sent[0]["raw"])
        # Filed by a rename, never copied: the same file sits in the Rejected folder.
        [kept] = list((source.path / ".Rejected").rglob(name + "*"))
        assert kept.stat().st_ino == inode and kept.stat().st_size == 400 * MB
        # Dana's request of normal size is still read.
        desk.run(letter(sender=DANA, subject="Acme", body=REQUEST))
        assert desk.transition()["account"] == "Acme Corp"
    finally:
        desk.close()


def test_a_backlog_of_large_mail_is_fetched_in_bounded_portions(mail, tmp_path: Path) -> None:
    """Ten 5 MB messages under a 25 MB limit: never all of them in one FETCH."""
    assistant = Assistant(tmp_path, mail, extra_env={"MAILER_WATCHDOG_MINUTES": "0"})
    for n in range(10):
        mail.append(ADDRESS, _big_request(n, 5 * MB, account=f"Account {n}"))
    service = assistant.service()
    try:
        source = service.source
        assert isinstance(source, ImapSource) and source.max_message_bytes == 25 * MB
        seen: list[int] = []
        fetch = source.connect().fetch

        def counting_fetch(uids, items):  # noqa: ANN001, ANN202 - imapclient's signature
            if "BODY.PEEK[]" in items:
                seen.append(len(uids))
            return fetch(uids, items)

        source.client.fetch = counting_fetch  # type: ignore[method-assign, union-attr]
        assert len(list(source.fetch_new())) == 10
    finally:
        service.close()
    assert max(seen) <= 6 and sum(seen) == 10, seen


# -- 3b. text the readers look at --------------------------------------------------------------


def _alternative(*, sender: str, to: str, text: str, html: str) -> bytes:
    """A reply with a plain part and an HTML part, as Outlook and Gmail send it."""
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: Re: questions\r\n"
            f"Message-ID: <alt-{next(_numbers)}@example.com>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/alternative; boundary=\"a\"\r\n\r\n--a\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n--a\r\n"
            f"Content-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--a--\r\n").encode()


LINE = "They renewed early and like the reporting; the Berlin team is next in line.\n"


def test_a_reply_with_more_text_than_is_read_is_refused_in_seconds(tmp_path: Path) -> None:
    """The readers' work grows with the text: 3 MB of it would take minutes."""
    desk = started(tmp_path)
    try:
        address = desk.reply_address("sam@example.com", "questionnaire")
        for raw in (letter(sender=SAM, to=address, subject="Re",
                           body="2. Sentiment\n" + LINE * 40_000),
                    letter(sender=SAM, to=address, subject="Re", content_type="text/html",
                           body="<p>2. Sentiment</p>" + f"<p>{LINE}</p>" * 40_000)):
            started_at = time.monotonic()
            sent = desk.run(raw)
            assert time.monotonic() - started_at < 15
            assert [(m["kind"], m["to"]) for m in sent] == [("rejection", ["sam@example.com"])]
            words = " ".join(text_part(sent[0]["raw"]).split())
            assert "KB of text, more than the 512 KB the assistant reads" in words
            assert "several emails or in the questionnaire's attached form" in words
            desk.store.run("DELETE FROM rejections")
        assert desk.store.one("SELECT COUNT(*) AS n FROM current_answers")["n"] == 0
        # A long answer within the limit (300 KB) is read.
        sent = desk.run(letter(sender=SAM, to=address, subject="Re: long one",
                               body="2. Sentiment\n" + LINE * 4_000))
        assert [m["kind"] for m in sent] == ["questionnaire_receipt"]
    finally:
        desk.close()


def test_an_html_part_over_the_limit_beside_a_plain_one_is_left_out(tmp_path: Path) -> None:
    desk = started(tmp_path)
    try:
        address = desk.reply_address("sam@example.com", "questionnaire")
        html = "<div>" + "<p style='margin:0;font-family:Calibri'>&nbsp;</p>" * 20_000 + "</div>"
        sent = desk.run(_alternative(sender=SAM, to=address, html=html,
                                     text="2. Sentiment\r\nWarm and steady."))
        assert [m["kind"] for m in sent] == ["questionnaire_receipt"]
        assert desk.store.one("SELECT text FROM current_answers WHERE section=2")["text"] == \
            "Warm and steady."
    finally:
        desk.close()


# -- 4. attached forms and books, streamed with caps ---------------------------------------------

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def with_file(*, sender: str, to: str = ADDRESS, subject: str, text: str, name: str,
              payload: bytes, content_type: str = XLSX_TYPE) -> bytes:
    """A mail with one attached file, as any client sends it."""
    encoded = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <file-{next(_numbers)}@example.com>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n--m\r\n"
            f"Content-Type: {content_type}; name=\"{name}\"\r\n"
            f"Content-Disposition: attachment; filename=\"{name}\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + encoded + b"\r\n--m--\r\n"


def saved(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _form(fill: Callable[[Workbook], None]) -> bytes:
    """The questionnaire form of TR-0001, filled in (section 5 answered), then changed."""
    workbook = load_workbook(io.BytesIO(build_form("Acme Corp", "TR-0001")))
    workbook["Questionnaire"].cell(row=6, column=4, value="Cut onboarding time by half.")
    fill(workbook)
    return saved(workbook)


def _a_cell_a_million_rows_down(workbook: Workbook) -> None:
    workbook["Questionnaire"].cell(row=1_048_576, column=4, value="the end")


def _five_thousand_contacts(workbook: Workbook) -> None:
    sheet = workbook["Contacts"]
    for n in range(5000):
        sheet.append([f"Person {n}", "Title", f"p{n}@acme.com", "user", "Yes", ""])


def _forty_sheets(workbook: Workbook) -> None:
    for n in range(40):
        workbook.create_sheet(f"Extra {n}")["A1"] = n


def _thirty_six_thousand_cells(workbook: Workbook) -> None:
    sheet = workbook["Contacts"]
    for n in range(900):
        sheet.append([f"value {n}-{c}" for c in range(40)])


def _600_kb_of_answers(workbook: Workbook) -> None:
    sheet = workbook["Questionnaire"]
    for n in range(900):
        sheet.append([n % 12 + 1, "", "", "a long answer " + "n" * 700])


def _lying_dimension(payload: bytes) -> bytes:
    """The sheet claims A1:XFD1048576 (a million rows, 16,384 columns) in its <dimension>."""
    source = zipfile.ZipFile(io.BytesIO(payload))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as copy:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                data = re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"', data)
            copy.writestr(item, data)
    return buffer.getvalue()


def _a_row_as_wide_as_excel(workbook: Workbook) -> None:
    sheet = workbook["Questionnaire"]
    for column in range(5, 16_385):
        sheet.cell(row=20, column=column, value=column)


FORM_ATTACKS = {
    "a cell a million rows down": (_form(_a_cell_a_million_rows_down),
                                   "more than 1,000 rows on the sheet 'Questionnaire', counting"),
    "five thousand contacts": (_form(_five_thousand_contacts),
                               "more than 1,000 rows on the sheet 'Contacts'"),
    "forty sheets": (_form(_forty_sheets), "more than 12 sheets"),
    "thirty-six thousand cells": (_form(_thirty_six_thousand_cells),
                                  "more than 30,000 filled cells"),
    "600 KB of answers": (_form(_600_kb_of_answers), "holds more than 512 KB of text"),
}


@each(FORM_ATTACKS)
def test_a_form_past_a_cap_is_refused_with_the_cap_named_and_the_email_read(
        tmp_path: Path, case: tuple[bytes, str]) -> None:
    payload, words = case
    desk = started(tmp_path)
    try:
        address = desk.reply_address("sam@example.com", "questionnaire")
        started_at = time.monotonic()
        sent = desk.run(with_file(sender=SAM, to=address, subject="Re: questions",
                                  text="2. Sentiment\nWarm and steady.", name="form.xlsx",
                                  payload=payload))
        assert time.monotonic() - started_at < 5
        [receipt] = [m for m in sent if m["kind"] == "questionnaire_receipt"]
        assert words in " ".join(text_part(receipt["raw"]).split())
        answers = {r["section"]: r["text"] for r in desk.store.all(
            "SELECT * FROM current_answers")}
        assert answers == {2: "Warm and steady."}, "the email's answer kept, the form's not"
        # The same form without the attack is read.
        desk.run(with_file(sender=SAM, to=address, subject="Re: questions", text="Form",
                           name="form.xlsx", payload=_form(lambda workbook: None)))
        assert desk.store.one("SELECT text FROM current_answers WHERE section=5")["text"] == \
            "Cut onboarding time by half."
    finally:
        desk.close()


@each({"a dimension claiming the whole grid": _lying_dimension(_form(lambda workbook: None)),
       "a row 16,384 cells wide": _form(_a_row_as_wide_as_excel)})
def test_a_form_that_claims_to_be_huge_costs_little_and_is_read(tmp_path: Path,
                                                                 case: bytes) -> None:
    desk = started(tmp_path)
    try:
        address = desk.reply_address("sam@example.com", "questionnaire")
        tracemalloc.start()
        started_at = time.monotonic()
        desk.run(with_file(sender=SAM, to=address, subject="Re: questions", text="Form",
                           name="form.xlsx", payload=case))
        seconds, peak = time.monotonic() - started_at, tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert seconds < 5 and peak < 60 * MB, (seconds, peak)
        assert desk.store.one("SELECT text FROM current_answers WHERE section=5")["text"] == \
            "Cut onboarding time by half."
    finally:
        desk.close()


BOOK_HEADER = "Account,Outgoing CSM,Incoming CSM,Customer contacts\r\n"
BOOK_RULES = RULES + "limits:\n  max_book_rows: 5\n"


def _book_rows(n: int, *, incoming: Callable[[int], str] = lambda n: "rita@example.com") -> str:
    return BOOK_HEADER + "".join(f"Account {k},sam@example.com,{incoming(k)},pat{k}@acme.com\r\n"
                                 for k in range(n))


def _xlsx_book(rows: list[list[object]], *, far_cell: bool = False, sheets: int = 1) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    if far_cell:
        sheet.cell(row=1_048_576, column=1, value="the end")
    for n in range(sheets - 1):
        workbook.create_sheet(f"Sheet {n + 2}")
    return saved(workbook)


HEADER_ROW = ["Account", "Outgoing CSM", "Incoming CSM", "Customer contacts"]
ONE_ROW = ["Acme", "sam@example.com", "rita@example.com", "pat@acme.com"]
BOOK_ATTACKS = {
    "a CSV with a million blank lines": (
        "book.csv", (BOOK_HEADER + "\r\n" * 1_000_000).encode(), "text/csv",
        "more than 5 rows below its header, counting blank ones"),
    "an xlsx with a cell a million rows down": (
        "book.xlsx", _xlsx_book([HEADER_ROW, ONE_ROW], far_cell=True), XLSX_TYPE,
        "more than 5 rows below its header, counting blank ones"),
    "six accounts where five are allowed": (
        "book.csv", _book_rows(6).encode(), "text/csv", "one book may hold 5 accounts"),
    "a CSV cell of 200 KB": (
        "book.csv", (BOOK_HEADER + "Acme,sam@example.com,rita@example.com,\"" + "x" * 200_000
                     + "\"\r\n").encode(), "text/csv", "could not read the CSV file"),
    "sixty sheets": (
        "book.xlsx", _xlsx_book([HEADER_ROW, ONE_ROW], sheets=60), XLSX_TYPE,
        "more than 50 sheets"),
    "three megabytes of notes": (
        "book.xlsx", _xlsx_book([[*HEADER_ROW, "Notes"],
                                 *([*ONE_ROW, *["n" * 30_000] * 20] for _ in range(5))]),
        XLSX_TYPE, "holds more than 2 MB of text"),
}


@each(BOOK_ATTACKS)
def test_a_book_past_a_cap_gets_an_answer_naming_it_and_starts_nothing(
        tmp_path: Path, case: tuple[str, bytes, str, str]) -> None:
    name, payload, content_type, words = case
    desk = Desk(tmp_path, rules=BOOK_RULES)
    try:
        started_at = time.monotonic()
        sent = desk.run(with_file(sender=DANA, subject="Book", text="Please move these.",
                                  name=name, payload=payload, content_type=content_type))
        assert time.monotonic() - started_at < 5
        assert [m["kind"] for m in sent] == ["book_answer"]
        assert words in " ".join(text_part(sent[0]["raw"]).split())
        assert desk.transition() == {}
        # Five accounts, the most allowed: all five start.
        desk.run(with_file(sender=DANA, subject="Book", text="Here it is again, fixed.",
                           name="book.csv", payload=_book_rows(5).encode(),
                           content_type="text/csv"))
        assert desk.store.one("SELECT COUNT(*) AS n FROM transitions")["n"] == 5
    finally:
        desk.close()


def _combined_desk(home: Path) -> Desk:
    """Carl hands over two accounts in one book; his playbook sends one combined form."""
    playbooks = home / "playbooks"
    shutil.copytree(SHIPPED_DEFAULTS / "playbooks", playbooks)
    soft = playbooks / "soft.yaml"
    soft.write_text(soft.read_text().replace(
        "checkin_days: 60\n", "checkin_days: 60\nbook_questionnaire: combined\n"))
    desk = Desk(home, extra_env={"MAILER_PLAYBOOKS": str(playbooks)})
    book = BOOK_HEADER + "Initech,carl@example.com,rita@example.com,bill@initech.test\r\n" \
        "Hooli,carl@example.com,rita@example.com,gavin@hooli.test\r\n"
    desk.run(with_file(sender=DANA, subject="Carl's accounts", text="Carl is moving on.",
                       name="carl.csv", payload=book.encode(), content_type="text/csv"))
    return desk


def _combined_form(desk: Desk) -> Workbook:
    [row] = desk.store.all("SELECT raw FROM outbound WHERE kind='combined_questionnaire'")
    [form] = [p for p in parse(bytes(row["raw"])).iter_attachments()]
    workbook = load_workbook(io.BytesIO(form.get_content()))
    workbook.worksheets[0].cell(row=3, column=4, value="Warm, they like us.")
    return workbook


def test_a_combined_form_past_its_caps_is_refused_and_the_real_one_read(tmp_path: Path) -> None:
    desk = _combined_desk(tmp_path)
    try:
        address = desk.reply_address("carl@example.com", "combined_questionnaire")
        bombed = _combined_form(desk)
        bombed.worksheets[0].cell(row=1_048_576, column=4, value="the end")
        for n in range(20):
            bombed.create_sheet(f"Extra {n}")
        started_at = time.monotonic()
        sent = desk.run(with_file(sender="Carl Wu <carl@example.com>", to=address,
                                  subject="Re: forms", text="Form attached.",
                                  name="forms.xlsx", payload=saved(bombed)))
        assert time.monotonic() - started_at < 5
        [receipt] = [m for m in sent if m["kind"] == "questionnaire_receipt"]
        assert "more than 13 sheets" in " ".join(text_part(receipt["raw"]).split())
        assert desk.store.one("SELECT COUNT(*) AS n FROM current_answers")["n"] == 0
        desk.run(with_file(sender="Carl Wu <carl@example.com>", to=address, subject="Re: forms",
                           text="The right file this time.", name="forms.xlsx",
                           payload=saved(_combined_form(desk))))
        assert desk.store.one("SELECT text FROM current_answers WHERE section=2")["text"] == \
            "Warm, they like us."
    finally:
        desk.close()


# -- 5. what one message may make the assistant write ---------------------------------------------


def test_a_book_that_would_send_more_mails_than_allowed_starts_nothing(tmp_path: Path) -> None:
    """Six rows, each for a different incoming CSM: six questionnaires, six notices and the
    answer would be 13 emails, past max_mails_per_message: 12."""
    rules = RULES + "limits:\n  max_book_rows: 20\n  max_mails_per_message: 12\n"
    desk = Desk(tmp_path, rules=rules)
    try:
        book = _book_rows(6, incoming=lambda k: f"csm{k}@example.com")
        sent = desk.run(with_file(sender=DANA, subject="Book", text="Move these.",
                                  name="book.csv", payload=book.encode(),
                                  content_type="text/csv"))
        assert [(m["kind"], m["to"]) for m in sent] == [("rejection", ["dana@example.com"])]
        words = " ".join(text_part(sent[0]["raw"]).split())
        assert "13 emails, more than the 12 one message may cause" in words
        assert "smaller parts" in words
        assert desk.store.one("SELECT COUNT(*) AS n FROM transitions")["n"] == 0
        assert desk.last_inbound()[0] == "rejected"
        # Five rows (eleven emails) go through.
        book = _book_rows(5, incoming=lambda k: f"csm{k}@example.com")
        first = desk.last_outbound_id()
        desk.deliver(with_file(sender=DANA, subject="Book 2", text="Five of them, then.",
                               name="book.csv", payload=book.encode(), content_type="text/csv"))
        desk.service.handle_inbox(PassReport())
        assert len(desk.outbound_since(first)) == 11
        assert desk.store.one("SELECT COUNT(*) AS n FROM transitions")["n"] == 5
    finally:
        desk.close()


SIX_CONTACTS = ", ".join(f"Person {n} <p{n}@acme.com>" for n in range(6))
ROOMY = RULES + "limits:\n  max_customer_contacts: 6\n  max_recipients_per_mail: 8\n"
TIGHT = RULES + "limits:\n  max_customer_contacts: 3\n  max_recipients_per_mail: 5\n"


def _to_the_draft(desk: Desk) -> str:
    """Rita sends her introduction; on 8 December the intro's draft reaches Sam."""
    rita = desk.reply_address("rita@example.com", "intro_text_prompt")
    desk.run(letter(sender=RITA, to=rita, subject="Re: intro",
                    body="I have helped operations teams for six years."))
    desk.run(at=datetime(2026, 12, 8, 10, 0, tzinfo=UTC))
    return desk.reply_address("sam@example.com", "customer_intro_draft")


def test_an_email_to_more_people_than_allowed_is_not_sent_and_its_approver_told(
        tmp_path: Path) -> None:
    """The operator lowered max_recipients_per_mail after Acme started with six contacts."""
    desk = started(tmp_path, rules=ROOMY, request=REQUEST.replace(
        "Pat Lee <pat@acme.com>, Jo Park <jo@acme.com>", SIX_CONTACTS))
    draft = _to_the_draft(desk)
    desk.close()
    desk = Desk(tmp_path, rules=TIGHT, now=datetime(2026, 12, 8, 10, 30, tzinfo=UTC))
    try:
        sent = desk.run(letter(sender=SAM, to=draft, subject="Re: draft", body="send"))
        assert [(m["kind"], m["to"]) for m in sent] == [("rejection", ["sam@example.com"])]
        words = " ".join(text_part(sent[0]["raw"]).split())
        assert "would go to 7 people, more than the 5 one email may go to" in words
        state = desk.store.one("SELECT status FROM steps WHERE step_id='customer_intro'")
        assert state["status"] == "awaiting_approval", "nothing went out, the draft waits"
        # With the contacts brought within the limit, Sam's `send` goes out.
        dana = desk.reply_address("dana@example.com", "request_accepted")
        desk.run(letter(sender=DANA, to=dana, subject="Re", body="set customer contacts: "
                        "Pat Lee <pat@acme.com>, Jo Park <jo@acme.com>"))
        desk.store.run("DELETE FROM rejections")
        sent = desk.run(letter(sender=SAM, to=draft, subject="Re: draft", body="send"))
        [intro] = [m for m in sent if m["kind"] == "customer_intro"]
        assert sorted(intro["to"]) == ["jo@acme.com", "pat@acme.com", "rita@example.com"]
    finally:
        desk.close()


def test_silence_never_sends_a_customer_mail_to_people_its_draft_did_not_name(
        tmp_path: Path) -> None:
    desk = started(tmp_path)
    try:
        _to_the_draft(desk)
        dana = desk.reply_address("dana@example.com", "request_accepted")
        desk.run(letter(sender=DANA, to=dana, subject="Re", body="set customer contacts: "
                        "Pat Lee <pat@acme.com>, Jo Park <jo@acme.com>, Eve <eve@evil.test>"))
        # Two business days of silence: the playbook says send, but Eve was not in the draft.
        sent = desk.run(at=datetime(2026, 12, 10, 10, 30, tzinfo=UTC))
        assert not any("eve@evil.test" in m["to"] for m in sent)
        [again] = [m for m in sent if m["kind"] == "customer_intro_draft"]
        assert again["to"] == ["sam@example.com"]
        words = " ".join(text_part(again["raw"]).split())
        assert "have changed since I first sent you this draft: Eve <eve@evil.test> is new" in \
            words and "Nothing went out" in words
        # Silence about the draft that named her: it goes, as the playbook says.
        sent = desk.run(at=datetime(2026, 12, 14, 10, 30, tzinfo=UTC))
        [intro] = [m for m in sent if m["kind"] == "customer_intro"]
        assert "eve@evil.test" in intro["to"]
    finally:
        desk.close()


def test_silence_sends_the_draft_as_named(tmp_path: Path) -> None:
    desk = started(tmp_path)
    try:
        _to_the_draft(desk)
        sent = desk.run(at=datetime(2026, 12, 10, 10, 30, tzinfo=UTC))
        [intro] = [m for m in sent if m["kind"] == "customer_intro"]
        assert sorted(intro["to"]) == ["jo@acme.com", "pat@acme.com", "rita@example.com"]
    finally:
        desk.close()


def test_the_digest_to_many_leads_goes_in_mails_within_the_recipient_limit(
        tmp_path: Path) -> None:
    leads = ",".join(f"lead{n}@example.com" for n in range(70))
    desk = Desk(tmp_path, extra_env={"MAILER_DIGEST_RECIPIENTS": leads,
                                     "MAILER_DIGEST_TIME": "09:30"})
    try:
        sent = [m for m in desk.run() if m["kind"] == "digest"]
        assert [len(m["to"]) for m in sent] == [30, 30, 10]
        assert sorted(a for m in sent for a in m["to"]) == sorted(leads.split(","))
    finally:
        desk.close()


# -- 6. automatic answers to one correspondent in one conversation ------------------------------


def test_a_help_desk_acknowledging_each_mail_with_a_new_ticket_is_answered_a_bounded_number(
        tmp_path: Path, caplog) -> None:
    """Sam's mailbox is behind a help desk that answers everything, without any automation
    header, with a new ticket number each time: every reply of ours gets a new one."""
    desk = started(tmp_path)
    try:
        address = desk.reply_address("sam@example.com", "questionnaire")
        answers: list[datetime] = []
        moment = NOW
        with caplog.at_level("WARNING"):
            for ticket in range(1, 60):  # a ticket a minute for an hour
                moment += timedelta(minutes=1)
                sent = desk.run(letter(sender=SAM, to=address, subject=f"[Ticket #{ticket}] Re",
                                       body=f"Thank you. Your request is ticket #{ticket}; "
                                            "we answer within one business day."), at=moment)
                to_sam = [m for m in sent if "sam@example.com" in m["to"]]
                if to_sam:
                    answers.append(moment)
                    address = str(parse(to_sam[-1]["raw"])["Reply-To"])  # it answers that
        assert len(answers) == 10, "ten answers in its first hour, then none"
        assert answers[-1] - answers[0] < timedelta(hours=1)
        assert desk.last_inbound() == ("ignored", desk.last_inbound()[1])
        assert "answer limit: 10 automatic answers" in desk.last_inbound()[1]
        assert "max_answers_per_hour" in caplog.text
        # Past the hour, a few more; never more than the day allows.
        for hour in range(2, 8):
            moment = NOW + timedelta(hours=hour)
            for ticket in range(5):
                sent = desk.run(letter(sender=SAM, to=address, subject="Re", body=f"Ticket "
                                       f"#{hour * 100 + ticket} created."), at=moment)
                if any("sam@example.com" in m["to"] for m in sent):
                    answers.append(moment)
        assert len(answers) == 30, "the daily limit"
        # Rita, in the same transition, is still answered; so is Sam the next day.
        rita = desk.reply_address("rita@example.com", "intro_text_prompt")
        sent = desk.run(letter(sender=RITA, to=rita, subject="Re", body="My introduction."),
                        at=NOW + timedelta(hours=8))
        assert any(m["to"] == ["rita@example.com"] for m in sent)
        sent = desk.run(letter(sender=SAM, to=address, subject="Re",
                               body="2. Sentiment\nHappy."), at=NOW + timedelta(days=1, hours=1))
        assert any(m["kind"] == "questionnaire_receipt" for m in sent)
    finally:
        desk.close()


def test_the_answer_limits_are_settings_checked_like_the_others(tmp_path: Path) -> None:
    from mailer.config.inbox_rules import load_rules
    from mailer.errors import ConfigErrors

    path = tmp_path / "inbox_rules.yaml"
    for text, words in (
            ("limits:\n  max_answers_per_hour: 0\n", "it must be at least 1"),
            ("limits:\n  max_text_kb: lots\n", "write a whole number of kilobytes"),
            ("limits:\n  max_answers_per_hour: 20\n  max_answers_per_day: 5\n",
             "max_answers_per_day (5) is less than max_answers_per_hour (20)"),
            ("limits:\n  max_recipients_per_mail: 10\n  max_customer_contacts: 20\n",
             "must be at least max_customer_contacts plus 2 (22)")):
        path.write_text(text)
        with pytest.raises(ConfigErrors) as raised:
            load_rules(path)
        assert words in str(raised.value) and "inbox_rules.yaml:" in str(raised.value)
    path.write_text("limits:\n  max_answers_per_hour: 3\n  max_answers_per_day: 3\n")
    assert load_rules(path).limits.max_answers_per_day == 3


def test_the_cost_of_a_hostile_message_can_be_measured_again() -> None:
    """`python -m benchmarks.hostile` measures each case in a process of its own (the figures
    are in RELIABILITY.md); here, that it runs, at small sizes."""
    from benchmarks.hostile import measure, table

    rows = measure(["nested-300", "book-of-blank-rows"], 0.01)
    assert [row["case"] for row in rows] == ["nested-300", "book-of-blank-rows"]
    assert all(float(row["seconds"]) >= 0 and float(row["memory_mb"]) >= 0 for row in rows)
    assert "| MIME nested 300 deep |" in table(rows)
