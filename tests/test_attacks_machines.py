"""Machines get no answer: mail shaped the way responders, gateways and complaint desks send
it, each aimed at the assistant's own address as a request from an allowed requester.

Each one is filed under Ignored with nothing sent; the same text without the machine's mark
(a person writing) is answered.
"""

from __future__ import annotations

from pathlib import Path

from attacks import DANA, Desk, each, letter

REQUEST_TEXT = "Account: Initech\nOutgoing CSM: Sam <sam@example.com>\n"

NESTED_REPORT = (
    "This is a multi-part message.\n\n--outer\nContent-Type: text/plain\n\n"
    "Your message could not be delivered.\n\n--outer\n"
    "Content-Type: multipart/mixed; boundary=\"inner\"\n\n--inner\n"
    "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.acme.example\n\n"
    "Final-Recipient: rfc822; pat@acme.example\nAction: failed\nStatus: 5.1.1\n\n"
    "--inner--\n--outer--\n")

MACHINES = {
    "x-loop-any-value": dict(extra="X-Loop: helpdesk@acme.example\r\n"),
    "exchange-out-of-office": dict(extra="X-Auto-Response-Suppress: All\r\n"
                                         "X-MS-Exchange-Inbox-Rules-Loop: dana@example.com\r\n"),
    "delivery-status-deep-in-the-tree": dict(
        content_type='multipart/mixed; boundary="outer"', body=NESTED_REPORT),
    "empty-from": dict(sender=""),
    "null-from": dict(sender="<>"),
    "delivery-status-subject": dict(subject="Delivery Status"),
    "hotmail-complaint-report": dict(subject="complaint about message from 192.0.2.222"),
    "auto-generated-subject": dict(subject="[AUTO GENERATED] Account handover"),
}


@each(MACHINES)
def test_a_machine_gets_no_answer_and_a_person_does(tmp_path: Path, case: dict) -> None:
    desk = Desk(tmp_path)
    try:
        fields = {"sender": DANA, "subject": "Handover", "body": REQUEST_TEXT} | case
        assert desk.attempt(letter(**fields)) == []
        assert desk.last_inbound()[0] == "ignored"
        sent = desk.run(letter(sender=DANA, subject="Handover", body=REQUEST_TEXT))
        assert [m["kind"] for m in sent] == ["request_problems"]
    finally:
        desk.close()


def test_a_rule_forwarded_person_is_still_answered(tmp_path: Path) -> None:
    """Exchange marks mail forwarded by an inbox rule too; without its out-of-office form it is
    a person's mail."""
    desk = Desk(tmp_path)
    try:
        sent = desk.run(letter(sender=DANA, subject="Handover", body=REQUEST_TEXT,
                               extra="X-MS-Exchange-Inbox-Rules-Loop: dana@example.com\r\n"))
        assert [m["kind"] for m in sent] == ["request_problems"]
    finally:
        desk.close()


