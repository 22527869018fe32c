"""We never answer a machine: bounces, vacation notices, lists and our own mail coming back."""

from __future__ import annotations

from datetime import date

import pytest

from mailer.handoff.model import InboundMessage
from mailer.mail.automation import automation_reason, is_out_of_office, return_date
from mailer.mail.parsing import parse_message

OWN = ["transitions@example.com"]
TODAY = date(2026, 12, 21)

HUMAN_OUTLOOK = b"""\
From: Dana Whitfield <dana@acme.example>
To: transitions@example.com
Subject: RE: Handoff TR-0042
Message-ID: <DM6PR@outlook.example>
X-Auto-Response-Suppress: All
X-MS-Exchange-Organization-AuthAs: Internal
Content-Type: text/plain; charset=utf-8

Yes, Thursday works for the intro call.
"""

VACATION = b"""\
Return-Path: <>
From: Jonas Becker <jonas.becker@kunde.example>
To: transitions+t0k3n@example.com
Subject: Automatische Antwort: Handoff TR-0042
Auto-Submitted: auto-replied
Message-ID: <oof-1@kunde.example>
Content-Type: text/plain; charset=utf-8

Vielen Dank fuer Ihre Nachricht. Ich bin bis zum 11.01.2027 nicht im Buero
und habe keinen Zugriff auf meine E-Mails.
"""

POSTFIX_BOUNCE = b"""\
Return-Path: <>
From: MAILER-DAEMON@mx.example.com (Mail Delivery System)
To: transitions+b0unce@example.com
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"
Message-ID: <20270112.1@mx.example.com>

--B1
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.com.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<gone@acme.example>: host mail.acme.example said: 550 5.1.1 User unknown
--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com
Final-Recipient: rfc822; gone@acme.example
Action: failed
Status: 5.1.1
--B1--
"""

LIST_MAIL = b"""\
From: Sam Ortiz <sam@community.example>
To: cs-leads@lists.example.com
Subject: [cs-leads] Who owns the Acme renewal?
List-Id: CS leads <cs-leads.lists.example.com>
List-Unsubscribe: <mailto:cs-leads-leave@lists.example.com>
Message-ID: <list-1@community.example>

Quick question for the group.
"""

OUR_OWN = b"""\
From: Transitions <transitions+a1b2c3@example.com>
To: transitions@example.com
Subject: Handoff TR-0042: your questionnaire
Message-ID: <tr-0042.q@example.com>
Content-Type: text/plain; charset=utf-8

Hello again.
"""


def test_a_person_writing_from_outlook_is_answered() -> None:
    msg = parse_message(HUMAN_OUTLOOK)

    assert automation_reason(msg, own_addresses=OWN) is None
    assert not is_out_of_office(msg)


def test_a_german_vacation_notice_is_automatic_with_its_return_date() -> None:
    msg = parse_message(VACATION)

    assert automation_reason(msg, own_addresses=OWN) is not None
    assert is_out_of_office(msg)
    assert return_date(msg, today=TODAY) == date(2027, 1, 11)


def test_a_postfix_bounce_is_automatic_and_not_an_out_of_office() -> None:
    msg = parse_message(POSTFIX_BOUNCE)

    assert automation_reason(msg, own_addresses=OWN)
    assert not is_out_of_office(msg)


def test_a_mailing_list_post_is_never_answered() -> None:
    reason = automation_reason(parse_message(LIST_MAIL), own_addresses=OWN)

    assert reason is not None and "list" in reason


def test_our_own_mail_coming_back_is_recognised_even_on_a_token_address() -> None:
    msg = parse_message(OUR_OWN)

    reason = automation_reason(msg, own_addresses=["Transitions@Example.com"])

    assert reason is not None and "own address" in reason
    lookalike = _message(from_email="transitions-team@example.com")
    assert automation_reason(lookalike, own_addresses=OWN) is None


def test_our_loop_header_coming_back_is_recognised() -> None:
    msg = _message(headers=(("x-mailer-loop", "transitions@example.com"),))

    assert automation_reason(msg, own_addresses=OWN) == "loop: X-Mailer-Loop present"


def _message(
    *,
    subject: str = "Re: handoff",
    from_email: str = "ana@acme.example",
    headers: tuple[tuple[str, str], ...] = (),
    return_path: str | None = None,
    content_type: str = "text/plain",
    text: str = "",
) -> InboundMessage:
    return InboundMessage(
        message_id="<m@acme.example>",
        subject=subject,
        from_name="",
        from_email=from_email,
        headers=headers,
        return_path=return_path,
        content_type=content_type,
        text=text,
    )


@pytest.mark.parametrize(
    "msg",
    [
        _message(headers=(("auto-submitted", "auto-generated"),)),
        _message(return_path=""),
        _message(content_type="multipart/report"),
        _message(headers=(("precedence", "bulk"),)),
        _message(headers=(("precedence", "auto_reply"),)),
        _message(headers=(("list-post", "<mailto:l@x.example>"),)),
        _message(headers=(("x-autoreply", "yes"),)),
        _message(from_email="mailer-daemon@mx.example.com"),
        _message(from_email="postmaster@acme.example"),
        _message(from_email="no-reply@acme.example"),
        _message(from_email="noreply+billing@acme.example"),
        _message(from_email="do_not_reply@acme.example"),
        _message(subject="Delivery Status Notification (Failure)"),
        _message(subject="Mail delivery failed: returning message to sender"),
        _message(subject="failure notice"),
        _message(subject="Undeliverable: Handoff TR-0042"),
        _message(subject="Out of Office: Handoff TR-0042"),
        _message(subject="Automatic reply: Handoff TR-0042"),
        _message(subject="Auto: Handoff TR-0042"),
        _message(subject="Abwesenheitsnotiz: Handoff"),
        _message(subject="Réponse automatique : Handoff"),
        _message(subject="Absence : Handoff"),
        _message(subject="Fuera de la oficina"),
        _message(subject="Respuesta automática: Handoff"),
        _message(subject="Risposta automatica: Handoff"),
        _message(subject="Afwezig: Handoff"),
        _message(subject="Autosvar: Handoff"),
        _message(subject="自動応答: 引き継ぎ"),
    ],
)
def test_machine_signs_each_mark_a_message_automatic(msg: InboundMessage) -> None:
    assert automation_reason(msg, own_addresses=OWN) is not None


@pytest.mark.parametrize(
    "msg",
    [
        _message(headers=(("auto-submitted", "no"),)),
        _message(headers=(("x-auto-response-suppress", "DR, OOF, AutoReply"),)),
        _message(subject="Re: absence policy for the Acme team"),
        _message(subject="Re: out-of-scope items for TR-0042"),
        _message(from_email="replyhere@acme.example"),
    ],
)
def test_people_are_not_mistaken_for_machines(msg: InboundMessage) -> None:
    assert automation_reason(msg, own_addresses=OWN) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I am out of the office until 5 January with limited access.", date(2027, 1, 5)),
        ("I'm on leave and back on Monday, January 11th 2027.", date(2027, 1, 11)),
        ("Returning 2027-01-04. For urgent matters call Ana.", date(2027, 1, 4)),
        ("Ich bin bis 8. Januar abwesend.", date(2027, 1, 8)),
        ("Je suis absente jusqu'au 6 janvier inclus.", date(2027, 1, 6)),
        ("Je serai de retour le 07/01/2027.", date(2027, 1, 7)),
        ("Thank you for your message, I will answer soon.", None),
    ],
)
def test_the_return_date_is_read_from_an_out_of_office(text: str, expected: date | None) -> None:
    msg = _message(subject="Out of Office", text=text)

    assert return_date(msg, today=TODAY) == expected
