"""Mail loops end: two assistants writing to each other, autoresponders, bounce storms.

On the real test servers. Each story runs a bounded number of rounds and counts every mail
the assistant hands to SMTP: at most one answer per sender, reason and day, and none at all
to a machine.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from assistant import Assistant, parse
from letters import REQUEST, plain
from mailservers import MailServers

NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
ROUNDS = 15
COM = "transitions@example.com"
ORG = "transitions@example.org"


def sent_from(mail: MailServers, assistant_address: str) -> Counter[str]:
    """How many mails the assistant at `assistant_address` sent to each recipient."""
    local, domain = assistant_address.split("@")
    counts: Counter[str] = Counter()
    for envelope in mail.accepted:
        if envelope.mail_from.startswith(f"{local}+bounce-") and \
                envelope.mail_from.endswith(f"@{domain}"):
            counts.update(envelope.rcpt_tos)
    return counts


def assistant_at(mail: MailServers, home: Path, address: str, requester_domain: str) -> Assistant:
    rules = home / "inbox_rules.yaml"
    home.mkdir(parents=True)
    rules.write_text(f"requesters:\n  domains: [{requester_domain}]\n"
                     # Both companies count as colleagues, so each may be named as a CSM
                     # and the loop has a path to try.
                     "internal_domains: [example.com, example.org]\n")
    env = mail.mailer_environment(address) | {"MAILER_RULES": str(rules)}
    return Assistant(home, mail, extra_env=env)


def test_two_assistants_writing_to_each_other_stop_at_once(mail, tmp_path):
    """Each may start transitions at the other (an allowed requester of the other's domain)."""
    com = assistant_at(mail, tmp_path / "com", COM, "example.org")
    org = assistant_at(mail, tmp_path / "org", ORG, "example.com")
    # An operator at example.org forwards a half-written request from the assistant's own
    # address, without any automation header: com answers it, to org's inbox.
    mail.send(plain(sender=f"Transitions <{ORG}>", to=COM, subject="Handover",
                    body="Account: Initech\nOutgoing CSM: someone\n"),
              mail_from=ORG, rcpt_to=[COM])
    # And a manager at example.com names org's address as the incoming CSM.
    mail.send(plain(sender="Dana <dana@example.org>", to=COM, subject="Handover",
                    body=REQUEST.replace("rita@example.com", ORG)),
              mail_from="dana@example.org", rcpt_to=[COM])
    for _ in range(3):
        com.run_once(now=NOW)
        org.run_once(now=NOW)
    to_org = sent_from(mail, COM)[ORG]
    # The answer to the half-written request, the incoming-CSM notice and the intro prompt.
    assert to_org == 3
    for _ in range(ROUNDS - 3):
        com.run_once(now=NOW)
        org.run_once(now=NOW)
    assert sent_from(mail, COM)[ORG] == to_org, "nothing more: the exchange is over"
    assert sent_from(mail, ORG) == Counter(), "org never answers com's machine mail"
    assert {o for o, _ in handled(org)} == {"ignored"}
    assert len(mail.messages(COM, "Ignored")) == 0
    assert len(mail.messages(ORG, "Ignored")) == to_org


def autoresponse(to_us: bytes, *, sender: str, style: str) -> bytes:
    """What a responder sends back to a mail it received from the assistant."""
    received = parse(to_us)
    target = str(received["Reply-To"] or received["From"])
    subject = str(received["Subject"])
    headers = {
        "exchange": "X-Auto-Response-Suppress: All\r\n",  # human mail has this too
        "sieve": "Auto-Submitted: auto-replied (vacation)\r\n",
        "bare": "",
    }[style]
    prefix = "Re: " if style == "bare" else "Automatic reply: "
    return plain(sender=sender, to=target, subject=prefix + subject,
                 in_reply_to=str(received["Message-ID"]), extra=headers,
                 body="Thank you for your email. I will get back to you as soon as I can.\n")


def run_with_responder(mail: MailServers, assistant: Assistant, who: str, style: str) -> int:
    """Answer every mail `who` receives, for ROUNDS rounds; how many mails `who` got."""
    answered = 0
    now = NOW
    for _ in range(ROUNDS):
        assistant.run_once(now=now)
        inbox = mail.messages(who)
        for raw in inbox[answered:]:
            reply = autoresponse(raw, sender=f"Responder <{who}>", style=style)
            target = str(parse(raw)["Reply-To"] or parse(raw)["From"])
            mail.send(reply, mail_from=who, rcpt_to=[target])
        answered = len(inbox)
        now += timedelta(minutes=5)
    return len(mail.messages(who))


def handled(assistant: Assistant) -> list[tuple[str, str]]:
    service = assistant.service(clock=lambda: NOW)
    try:
        return [(r["outcome"], r["reason"]) for r in
                service.rt.store.all("SELECT outcome, reason FROM inbound ORDER BY id")]
    finally:
        service.close()


def test_an_autoresponding_stranger_gets_one_refusal_a_day(mail, tmp_path):
    assistant = Assistant(tmp_path, mail)
    mail.send(plain(sender="Pat <pat@acme.com>", to=COM, subject="hello", body="hi\n"),
              mail_from="pat@acme.com", rcpt_to=[COM])
    assert run_with_responder(mail, assistant, "pat@acme.com", "bare") == 1
    outcomes = handled(assistant)
    assert len(outcomes) == 2 and {o for o, _ in outcomes} == {"rejected"}


def test_an_outgoing_csms_autoresponder_does_not_start_a_receipt_loop(mail, tmp_path):
    for style in ("exchange", "sieve", "bare"):
        mail.wipe()
        assistant = Assistant(tmp_path / style, mail)
        mail.send(plain(sender="Dana <dana@example.com>", to=COM, subject="Acme", body=REQUEST),
                  mail_from="dana@example.com", rcpt_to=[COM])
        got = run_with_responder(mail, assistant, "sam@example.com", style)
        # The questionnaire, plus at most one receipt for the first auto-answer.
        assert 1 <= got <= 2, f"{style}: Sam's responder got {got} mails"
        outcomes = handled(assistant)
        assert outcomes[0] == ("processed", "started TR-0001")
        assert len(outcomes) == 1 + got, "every auto-answer was read and filed"


BOUNCE = """From: Mail Delivery System <MAILER-DAEMON@mx{n}.acme.com>
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: <storm-{n}@mx.acme.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

This is the mail system. I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.
--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx{n}.acme.com
Final-Recipient: rfc822; pat@acme.com
Action: failed
Status: 5.1.1
--B--
"""


def test_a_bounce_storm_and_a_chatty_stranger_get_one_answer_in_all(mail, tmp_path):
    assistant = Assistant(tmp_path, mail)
    for n in range(40):
        mail.send(BOUNCE.format(n=n, to=COM).replace("\n", "\r\n").encode(),
                  mail_from="", rcpt_to=[COM])
        mail.send(plain(sender="Eve <eve@evil.test>", to=COM, subject=f"Hi {n}",
                        body="Let me in\n"), mail_from="eve@evil.test", rcpt_to=[COM])
    assistant.run_once(now=NOW)
    assistant.run_once(now=NOW + timedelta(hours=3))
    assert sent_from(mail, COM) == Counter({"eve@evil.test": 1})
    # Eve's first mail is refused; her 39 identical ones are filed by the loop guard.
    assert len(mail.messages(COM, "Rejected")) == 1
    assert len(mail.messages(COM, "Ignored")) == 40 + 39
    # The next day Eve may be told once more; the daemons still never are.
    mail.send(plain(sender="Eve <eve@evil.test>", to=COM, subject="Again", body="Let me in\n"),
              mail_from="eve@evil.test", rcpt_to=[COM])
    assistant.run_once(now=NOW + timedelta(days=1))
    assert sent_from(mail, COM) == Counter({"eve@evil.test": 2})
