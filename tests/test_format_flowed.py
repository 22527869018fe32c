"""Thunderbird and Apple Mail wrap long lines with soft breaks (RFC 3676 format=flowed).

A manager's `Customer contacts:` line, an outgoing CSM's contact line and a command all arrive
cut into pieces of about 72 characters; every reader sees them whole again.
"""

from __future__ import annotations

from datetime import date

import pytest

from mailer.handoff.commands import parse_command
from mailer.handoff.contacts import parse_contacts
from mailer.handoff.model import ContactRole
from mailer.handoff.questionnaire_reply import parse_answers
from mailer.handoff.request import parse_request
from mailer.mail.flowed import decode_flowed
from mailer.mail.parsing import parse_message
from mailer.mail.reply_text import new_text


def flowed_mail(body: str, *, delsp: bool = False, client: str = "thunderbird") -> bytes:
    """A message as Thunderbird (DelSp=no) or Apple Mail (DelSp=yes) sends it."""
    params = "format=flowed" + ("; delsp=yes" if delsp else "")
    agent = ("User-Agent: Mozilla Thunderbird\r\n" if client == "thunderbird"
             else "X-Mailer: Apple Mail (2.3774.600.62)\r\n")
    head = ("From: Dana Manager <dana@example.com>\r\nTo: transitions@example.com\r\n"
            "Subject: Transition: Acme Corp\r\nMessage-ID: <flowed-1@example.com>\r\n"
            f"Date: Mon, 23 Nov 2026 09:00:00 +0000\r\n{agent}MIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=UTF-8; {params}\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n")
    return (head + soft(body).replace("\n", "\r\n")).encode("utf-8")


def soft(text: str) -> str:
    """`~` at the end of a line marks a soft break: the trailing space flowed text ends with."""
    return text.replace("~\n", " \n")


# Thunderbird wraps at 72 and keeps the space it broke at at the end of the line (`~` here).
REQUEST_THUNDERBIRD = """Hi,

Account: Acme Corp
Outgoing CSM: Sam Jones <sam@example.com>
Incoming CSM: Rita Patel <rita@example.com>
Customer contacts: Pat Lee <pat@acme.com>, Jo Park <jo@acme.com>, Max~
Gruber <max@acme.com>, Ana Souza <ana@acme.com>, Li Wei~
<li@acme.com>
Type: soft

Thanks,
Dana
"""

# Apple Mail with DelSp=yes: the space before each soft break was added by the client.
REQUEST_APPLE = """Account: Acme Corp
Outgoing CSM: Sam Jones <sam@example.com>
Incoming CSM: Rita Patel <rita@example.com>
Customer contacts: Pat Lee <pat@acme.com>, Jo Park <jo@acme.com>, Max ~
Gruber <max@acme.com>, Ana Souza <ana@ac~
me.com>, Li Wei <li@acme.com>
"""


@pytest.mark.parametrize(("body", "delsp"), [(REQUEST_THUNDERBIRD, False),
                                             (REQUEST_APPLE, True)])
def test_a_request_whose_contacts_line_was_soft_wrapped_gives_every_contact(
        body: str, delsp: bool) -> None:
    msg = parse_message(flowed_mail(body, delsp=delsp))
    parsed = parse_request(msg.text, html=msg.html, today=date(2026, 11, 23))
    assert parsed.problems == ()
    assert parsed.request is not None
    assert [(p.name, p.email) for p in parsed.request.customer_contacts] == [
        ("Pat Lee", "pat@acme.com"), ("Jo Park", "jo@acme.com"),
        ("Max Gruber", "max@acme.com"), ("Ana Souza", "ana@acme.com"),
        ("Li Wei", "li@acme.com")]


def test_a_contact_line_wrapped_before_its_role_keeps_the_role() -> None:
    body = ("1. Contacts\nPat Lee, VP Operations, pat@acme.com, executive \nsponsor - loves "
            "a short agenda and hates surprises in the quarterly business \nreview\n\n"
            "2. Sentiment\nHappy.\n")
    msg = parse_message(flowed_mail(body))
    answers = parse_answers(msg.text, html=msg.html, signer="Sam Jones")
    [pat] = parse_contacts(answers.sections[1])
    assert pat.role is ContactRole.EXECUTIVE_SPONSOR
    assert pat.notes == "loves a short agenda and hates surprises in the quarterly business review"


def test_a_command_wrapped_by_the_client_is_read_whole() -> None:
    msg = parse_message(flowed_mail("set notes: call Pat before the renewal meeting, she \n"
                                    "asked for a heads-up\n\nDana\n"))
    command = parse_command(new_text(msg.text, html=msg.html))
    assert command is not None and (command.verb, command.field) == ("set", "Notes")
    assert command.value == "call Pat before the renewal meeting, she asked for a heads-up"


def test_quoted_flowed_lines_join_only_within_their_depth() -> None:
    text = ("My answer is \nhere.\n\n> On Monday Ana wrote: a long quoted line \n> that "
            "goes on\n>> deeper and \n>> deeper\n> back\n")
    assert decode_flowed(text) == (
        "My answer is here.\n\n> On Monday Ana wrote: a long quoted line that goes on\n"
        ">> deeper and deeper\n> back\n")


def test_space_stuffing_and_the_signature_separator_are_undone_correctly() -> None:
    text = " From the start\n  indented\n-- \nSam Jones \nCSM\n"
    assert decode_flowed(text) == "From the start\n indented\n-- \nSam Jones CSM\n"


def test_delsp_yes_removes_the_space_the_client_added() -> None:
    assert decode_flowed("super \ncalifragilistic", delsp=True) == "supercalifragilistic"
    assert decode_flowed("super \ncalifragilistic", delsp=False) == "super califragilistic"


def test_plain_text_that_is_not_flowed_keeps_its_trailing_spaces_and_breaks() -> None:
    raw = flowed_mail("Line one \nLine two\n").replace(b"; format=flowed", b"")
    assert parse_message(raw).text == "Line one \nLine two\n"
