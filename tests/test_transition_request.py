"""A CS manager asks, by email, for an account to move to a new CSM.

Each test is one way a real manager writes that email, and what the assistant reads from it.
"""

from __future__ import annotations

import json
from datetime import date
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest

from mailer.handoff.model import Person, TransitionType
from mailer.handoff.people import split_people
from mailer.handoff.request import parse_request, request_from_fields
from mailer.handoff.request_fields import (
    FIELD_ALIASES,
    FIELD_NAMES,
    FIELD_TEMPLATE,
    canonical_field,
)
from mailer.handoff.request_lines import extract_fields, html_to_text, merge_fields

TODAY = date(2026, 11, 20)
CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"


def test_a_plain_request_becomes_a_complete_transition() -> None:
    body = (
        "Hi team,\n"
        "\n"
        "Jane is going on parental leave, please move Northwind to Sam.\n"
        "\n"
        "Account: Northwind Traders\n"
        "Outgoing CSM: Jane Doe <Jane.Doe@ourco.com>\n"
        "Incoming CSM: Sam Lee <sam.lee@ourco.com>\n"
        "Customer contacts: Olga Berg <olga@northwind.com>, Tom Ito <tom@northwind.com>\n"
        "Type: hard\n"
        "Effective date: 2026-12-01\n"
        "Last day: 2026-12-18\n"
        "Renewal date: 30 June 2027\n"
        "Reason: Jane is going on parental leave\n"
        "Share reason: yes\n"
        "Playbook: hard-leave\n"
        "Notes: Olga prefers calls on Tuesday mornings\n"
        "\n"
        "Thanks,\n"
        "Dana\n"
        "-- \n"
        "Dana Smith | Head of Customer Success\n"
        "Account: our signature must never be read as a field\n"
    )

    parsed = parse_request(body, today=TODAY)

    assert parsed.problems == ()
    request = parsed.request
    assert request is not None
    assert request.account == "Northwind Traders"
    assert request.outgoing == Person("Jane Doe", "jane.doe@ourco.com")
    assert request.incoming == Person("Sam Lee", "sam.lee@ourco.com")
    assert request.customer_contacts == (
        Person("Olga Berg", "olga@northwind.com"),
        Person("Tom Ito", "tom@northwind.com"),
    )
    assert request.type is TransitionType.HARD
    assert request.effective_date == date(2026, 12, 1)
    assert request.last_day == date(2026, 12, 18)
    assert request.renewal_date == date(2027, 6, 30)
    assert request.reason == "Jane is going on parental leave"
    assert request.share_reason is True
    assert request.playbook == "hard-leave"
    assert request.notes == "Olga prefers calls on Tuesday mornings"
    assert parsed.unknown_lines == (
        "Hi team,",
        "Jane is going on parental leave, please move Northwind to Sam.",
        "Thanks,",
        "Dana",
    )


def test_only_the_required_fields_give_a_soft_transition_with_defaults() -> None:
    body = (
        "account: Litware\n"
        "OUTGOING CSM: jane.doe@ourco.com\n"
        "incoming csm: Sam Lee <sam.lee@ourco.com>\n"
        "customer contacts: kim@litware.com\n"
    )

    request = parse_request(body, today=TODAY).request

    assert request is not None
    assert request.type is TransitionType.SOFT
    assert request.outgoing == Person("", "jane.doe@ourco.com")
    assert request.customer_contacts == (Person("", "kim@litware.com"),)
    assert (request.effective_date, request.last_day, request.playbook) == (None, None, None)
    assert request.share_reason is False


def test_a_bulleted_markdown_request_with_bold_labels_and_a_contact_list() -> None:
    body = (
        "Morning! Handover details below:\n"
        "\n"
        "* **Account:** Contoso Ltd\n"
        "* **tCSM:** Jane Doe (jane.doe@ourco.com)\n"
        "* **nCSM** - Sam Lee <sam.lee@ourco.com>\n"
        "* **Customer contacts:**\n"
        "\n"
        "    - Kim Park <kim@contoso.com>\n"
        "    - Lee, Pat <pat@contoso.com>\n"
        "    • ana.ruiz@contoso.com (Ana Ruiz)\n"
        "\n"
        "1. __Type__: Soft handoff\n"
        "2. **Effective date**: Dec 15, 2026\u00a0\u00a0\n"
    )

    parsed = parse_request(body, today=TODAY)

    assert parsed.problems == ()
    request = parsed.request
    assert request is not None
    assert request.account == "Contoso Ltd"
    assert request.outgoing == Person("Jane Doe", "jane.doe@ourco.com")
    assert request.incoming == Person("Sam Lee", "sam.lee@ourco.com")
    assert request.customer_contacts == (
        Person("Kim Park", "kim@contoso.com"),
        Person("Lee, Pat", "pat@contoso.com"),
        Person("Ana Ruiz", "ana.ruiz@contoso.com"),
    )
    assert request.type is TransitionType.SOFT
    assert request.effective_date == date(2026, 12, 15)


OUTLOOK_TABLE_REQUEST = """\
<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office"
 xmlns:w="urn:schemas-microsoft-com:office:word" xmlns="http://www.w3.org/TR/REC-html40">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<meta name="Generator" content="Microsoft Word 15 (filtered medium)">
<style><!--
p.MsoNormal, li.MsoNormal, div.MsoNormal {margin:0cm; font-size:11.0pt; font-family:"Calibri";}
--></style>
<!--[if gte mso 9]><xml><o:shapedefaults v:ext="edit" spidmax="1026" /></xml><![endif]-->
</head>
<body lang="EN-US" link="#0563C1" vlink="#954F72" style="word-wrap:break-word">
<div class="WordSection1">
<p class="MsoNormal">Hi,<o:p></o:p></p>
<p class="MsoNormal"><o:p>&nbsp;</o:p></p>
<p class="MsoNormal">Please start the handover of Fabrikam below.<o:p></o:p></p>
<p class="MsoNormal"><o:p>&nbsp;</o:p></p>
<table class="MsoTableGrid" border="1" cellspacing="0" cellpadding="0"
 style="border-collapse:collapse;border:none">
<tr>
<td width="180" valign="top" style="width:135.0pt;border:solid windowtext 1.0pt">
<p class="MsoNormal"><b>Account<o:p></o:p></b></p></td>
<td width="400" valign="top" style="width:300.0pt;border:solid windowtext 1.0pt">
<p class="MsoNormal">Fabrikam&nbsp;Inc.<o:p></o:p></p></td>
</tr>
<tr>
<td valign="top"><p class="MsoNormal"><b>Current CSM<o:p></o:p></b></p></td>
<td valign="top"><p class="MsoNormal">Jane Doe &lt;<a href="mailto:jane.doe@ourco.com">
jane.doe@ourco.com</a>&gt;<o:p></o:p></p></td>
</tr>
<tr>
<td valign="top"><p class="MsoNormal"><b>New CSM:<o:p></o:p></b></p></td>
<td valign="top"><p class="MsoNormal"><a href="mailto:sam.lee@ourco.com">
<span style="color:#0563C1">sam.lee@ourco.com</span></a> (Sam Lee)<o:p></o:p></p></td>
</tr>
<tr>
<td valign="top"><p class="MsoNormal"><b>Customer contacts<o:p></o:p></b></p></td>
<td valign="top">
<p class="MsoNormal">Olga Berg &lt;<a href="mailto:olga@fabrikam.com">olga@fabrikam.com</a>&gt;
<o:p></o:p></p>
<p class="MsoNormal">&quot;Lee, Pat&quot; &lt;<a href="mailto:pat@fabrikam.com">
pat@fabrikam.com</a>&gt;<o:p></o:p></p></td>
</tr>
<tr>
<td valign="top"><p class="MsoNormal"><b>Type<o:p></o:p></b></p></td>
<td valign="top"><p class="MsoNormal">Soft<o:p></o:p></p></td>
</tr>
<tr>
<td valign="top"><p class="MsoNormal"><b>Effective date<o:p></o:p></b></p></td>
<td valign="top"><p class="MsoNormal">Tuesday, January 12, 2027<o:p></o:p></p></td>
</tr>
<tr>
<td valign="top"><p class="MsoNormal"><b>Notes<o:p></o:p></b></p></td>
<td valign="top"><p class="MsoNormal">Olga is the champion.<o:p></o:p></p>
<p class="MsoNormal">Renewal talks start in March.<o:p></o:p></p></td>
</tr>
</table>
<p class="MsoNormal"><o:p>&nbsp;</o:p></p>
<p class="MsoNormal">Thanks,<o:p></o:p></p>
<p class="MsoNormal">Dana<o:p></o:p></p>
</div>
</body>
</html>
"""


def test_an_html_only_outlook_mail_with_a_two_column_table() -> None:
    parsed = parse_request("", html=OUTLOOK_TABLE_REQUEST, today=TODAY)

    assert parsed.problems == ()
    request = parsed.request
    assert request is not None
    assert request.account == "Fabrikam Inc."
    assert request.outgoing == Person("Jane Doe", "jane.doe@ourco.com")
    assert request.incoming == Person("Sam Lee", "sam.lee@ourco.com")
    assert request.customer_contacts == (
        Person("Olga Berg", "olga@fabrikam.com"),
        Person("Lee, Pat", "pat@fabrikam.com"),
    )
    assert request.effective_date == date(2027, 1, 12)
    assert request.notes == "Olga is the champion. Renewal talks start in March."
    assert "Thanks," in parsed.unknown_lines


def test_the_html_body_is_used_when_the_text_part_holds_no_fields() -> None:
    text_part = "This message is best viewed in a mail client that shows HTML.\n"

    parsed = parse_request(text_part, html=OUTLOOK_TABLE_REQUEST, today=TODAY)

    assert parsed.request is not None
    assert parsed.request.account == "Fabrikam Inc."


def test_a_gmail_html_request_written_as_lines_with_a_quoted_thread() -> None:
    html = (
        '<div dir="ltr"><div>Account: Adventure Works</div>'
        "<div>Outgoing CSM: Jane Doe &lt;jane.doe@ourco.com&gt;</div>"
        "<div>Incoming CSM: Sam Lee &lt;sam.lee@ourco.com&gt;<br>"
        "Customer contacts: Ray Ng &lt;ray@adventure-works.com&gt;</div>"
        "<div><br></div><div>Thanks!</div></div><br>"
        '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Thu, Nov 19, 2026 at '
        "4:10 PM Jane Doe &lt;jane.doe@ourco.com&gt; wrote:<br></div>"
        '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex">'
        "<div>Account: Something Jane mentioned earlier</div></blockquote></div>"
    )

    parsed = parse_request("", html=html, today=TODAY)

    assert parsed.request is not None
    assert parsed.request.account == "Adventure Works"
    assert parsed.request.customer_contacts == (Person("Ray Ng", "ray@adventure-works.com"),)
    assert "> Account: Something Jane mentioned earlier" in html_to_text(html)


def test_a_broken_request_reports_every_problem_at_once_with_lines_to_send_back() -> None:
    body = (
        "Account: Tailspin Toys\n"
        "Outgoing CSM: Jane Doe <jane.doe@ourco.com>\n"
        "Incoming CSM: Sam\n"
        "Customer contacts: Mia Chen <mia@tailspin.com>, Raj Patel\n"
        "Type: hard\n"
        "Effective date: 03/04/2027\n"
    )

    parsed = parse_request(body, today=TODAY)

    assert parsed.request is None
    by_field = {problem.field: problem for problem in parsed.problems}
    assert list(by_field) == ["Incoming CSM", "Customer contacts", "Effective date", "Last day"]
    assert "no email address" in by_field["Incoming CSM"].message
    assert by_field["Incoming CSM"].fix_line == "Incoming CSM: Sam <name@yourcompany.com>"
    assert '"Raj Patel"' in by_field["Customer contacts"].message
    assert by_field["Customer contacts"].fix_line == (
        "Customer contacts: Mia Chen <mia@tailspin.com>, Raj Patel <name@customer.com>"
    )
    assert "2027-04-03" in by_field["Effective date"].message
    assert by_field["Effective date"].fix_line == "Effective date: YYYY-MM-DD"
    assert "hard handoff" in by_field["Last day"].message
    assert by_field["Last day"].fix_line == "Last day: YYYY-MM-DD"
    assert parsed.fields["Account"] == "Tailspin Toys"


def test_an_empty_mail_lists_each_required_field_as_missing() -> None:
    parsed = parse_request("Can you move Acme over to Sam please?\n", today=TODAY)

    assert parsed.request is None
    assert [problem.field for problem in parsed.problems] == [
        "Account",
        "Outgoing CSM",
        "Incoming CSM",
        "Customer contacts",
    ]
    assert all(problem.fix_line.startswith(problem.field + ":") for problem in parsed.problems)
    assert parsed.unknown_lines == ("Can you move Acme over to Sam please?",)


def test_replying_with_only_the_fixes_completes_the_request() -> None:
    first = parse_request(
        "Account: Tailspin Toys\n"
        "Outgoing CSM: Jane Doe <jane.doe@ourco.com>\n"
        "Incoming CSM: Sam\n"
        "Customer contacts: Mia Chen\n"
        "Type: hard\n"
        "Effective date: 03/04/2027\n",
        today=TODAY,
    )
    assert first.request is None
    reply = (
        "Incoming CSM: Sam Lee <sam.lee@ourco.com>\n"
        "> Customer contacts: Mia Chen <mia@tailspin.com>\n"
        "Customer contacts: Mia Chen <mia@tailspin.com>\n"
        "Effective date: 2027-04-03\n"
        "Last day: 2027-03-31\n"
        "Renewal date:\n"
        "\n"
        "Sorry about that!\n"
        "\n"
        "On Fri, Nov 20, 2026 at 9:02 AM Transitions <transitions@ourco.com> wrote:\n"
        "> I could not start this one yet. Please send back these lines:\n"
        "> Incoming CSM: Sam <name@yourcompany.com>\n"
        ">\n"
        "> Or copy the whole template:\n"
        "> Account: Acme Corp\n"
        "> Outgoing CSM: Jane Doe <jane.doe@yourcompany.com>\n"
    )

    fixes = extract_fields(reply)
    completed = request_from_fields(merge_fields(first.fields, fixes), today=TODAY)

    assert "Account" not in fixes  # the quoted template never overrides the real account
    assert completed.problems == ()
    request = completed.request
    assert request is not None
    assert request.account == "Tailspin Toys"
    assert request.outgoing.email == "jane.doe@ourco.com"
    assert request.incoming == Person("Sam Lee", "sam.lee@ourco.com")
    assert request.customer_contacts == (Person("Mia Chen", "mia@tailspin.com"),)
    assert request.effective_date == date(2027, 4, 3)
    assert request.last_day == date(2027, 3, 31)


def test_an_outlook_reply_ignores_the_unquoted_history_below_its_header_block() -> None:
    reply = (
        "Incoming CSM: Sam Lee <sam.lee@ourco.com>\n"
        "\n"
        "________________________________\n"
        "From: Transitions <transitions@ourco.com>\n"
        "Sent: Friday, November 20, 2026 9:02 AM\n"
        "To: Dana Smith <dana@ourco.com>\n"
        "Subject: [TR-0042] Please check the request for Tailspin Toys\n"
        "\n"
        "Account: Acme Corp\n"
    )

    assert extract_fields(reply) == {"Incoming CSM": "Sam Lee <sam.lee@ourco.com>"}


def test_a_forwarded_request_that_is_entirely_quoted_is_still_read() -> None:
    body = (
        "Forwarding Jane's note, please set this up.\n"
        "\n"
        "> Account: Wide World Importers\n"
        "> Outgoing CSM: Jane Doe <jane.doe@ourco.com>\n"
        ">> Incoming CSM: Sam Lee <sam.lee@ourco.com>\n"
        "> Customer contacts: lu@wideworld.com\n"
    )

    request = parse_request(body, today=TODAY).request

    assert request is not None
    assert request.account == "Wide World Importers"
    assert request.incoming.email == "sam.lee@ourco.com"


def test_a_field_left_empty_in_a_fix_reply_keeps_its_original_value() -> None:
    merged = merge_fields(
        {"Account": "Tailspin Toys", "Type": "hard"}, {"Account": "  ", "Type": "soft"}
    )

    assert merged == {"Account": "Tailspin Toys", "Type": "soft"}


@pytest.mark.parametrize(
    ("label", "canonical"),
    [(alias, name) for name, aliases in FIELD_ALIASES.items() for alias in (name, *aliases)],
)
def test_every_synonym_names_its_field_in_any_case(label: str, canonical: str) -> None:
    assert canonical_field(label) == canonical
    assert canonical_field(label.upper()) == canonical
    assert extract_fields(f"  - **{label.lower()}:** value here  \n") == {canonical: "value here"}


def test_the_synonyms_from_the_interface_are_all_accepted() -> None:
    documented = {
        "Customer account": "Account",
        "Company": "Account",
        "Current CSM": "Outgoing CSM",
        "From CSM": "Outgoing CSM",
        "Transitioning CSM": "Outgoing CSM",
        "tCSM": "Outgoing CSM",
        "New CSM": "Incoming CSM",
        "To CSM": "Incoming CSM",
        "nCSM": "Incoming CSM",
        "Customer contact": "Customer contacts",
        "Contacts": "Customer contacts",
        "Customer": "Customer contacts",
        "Effective": "Effective date",
        "Handoff date": "Effective date",
        "Outgoing last day": "Last day",
        "Renewal": "Renewal date",
        "Why": "Reason",
        "Playbook": "Playbook",
        "Notes": "Notes",
        "Share reason": "Share reason",
    }

    assert {label: canonical_field(label) for label in documented} == documented


@pytest.mark.parametrize(
    "line",
    [
        "Account\tAcme Robotics",
        "| Account | Acme Robotics |",
        "Account - Acme Robotics",
        "Account – Acme Robotics",
        "**Account**: Acme Robotics",
        "Account (customer name): Acme Robotics",
        "\u00a0Account:\u00a0Acme Robotics\u00a0",
    ],
)
def test_tab_table_and_dash_separators_are_understood(line: str) -> None:
    assert extract_fields(line) == {"Account": "Acme Robotics"}


def test_a_markdown_table_from_a_converted_html_mail() -> None:
    body = (
        "| Field | Value |\n"
        "|---|---|\n"
        "| Account | Acme Robotics |\n"
        "| New CSM | Sam Lee <sam.lee@ourco.com> |\n"
    )

    assert extract_fields(body) == {
        "Account": "Acme Robotics",
        "Incoming CSM": "Sam Lee <sam.lee@ourco.com>",
    }


def test_customer_contacts_with_commas_in_quoted_names_and_every_address_form() -> None:
    body = (
        "Customer contacts: \"Lee, Pat\" <PAT@Acme.com>, 'Kim Park' <kim@acme.com>; "
        "Ana Ruiz (ana@acme.com)\n"
        "Customer contact: raj@acme.com (Raj Patel)\n"
        "Customer contact: lu@acme.com\n"
        "Contact: Ito, Tom <tom@acme.com>\n"
    )
    fields = {
        **extract_fields(body),
        "Account": "Acme",
        "Outgoing CSM": "jane@ourco.com",
        "Incoming CSM": "sam@ourco.com",
    }

    request = request_from_fields(fields, today=TODAY).request

    assert request is not None
    assert request.customer_contacts == (
        Person("Lee, Pat", "pat@acme.com"),
        Person("Kim Park", "kim@acme.com"),
        Person("Ana Ruiz", "ana@acme.com"),
        Person("Raj Patel", "raj@acme.com"),
        Person("", "lu@acme.com"),
        Person("Ito, Tom", "tom@acme.com"),
    )


def test_splitting_people_keeps_quoted_and_bracketed_commas_together() -> None:
    assert split_people('"Lee, Pat" <pat@acme.com>, Kim (kim@acme.com, EMEA)') == [
        '"Lee, Pat" <pat@acme.com>',
        "Kim (kim@acme.com, EMEA)",
    ]


def test_a_contact_list_under_a_heading_stops_at_the_sign_off() -> None:
    body = "Customer contacts:\n- Mia Chen\n- Kim Park <kim@tailspin.com>\nThanks,\nDana\n"

    fields = extract_fields(body)

    assert fields == {"Customer contacts": "Mia Chen\nKim Park <kim@tailspin.com>"}
    assert split_people(fields["Customer contacts"]) == ["Mia Chen", "Kim Park <kim@tailspin.com>"]


def test_an_html_bulleted_contact_list_reports_the_contact_without_an_address() -> None:
    html = (
        "<p>Account: Tailspin Toys</p><p>Outgoing CSM: jane.doe@ourco.com</p>"
        "<p>Incoming CSM: sam.lee@ourco.com</p><p><b>Customer contacts:</b></p>"
        "<ul><li>Mia Chen</li><li>Kim Park &lt;kim@tailspin.com&gt;</li></ul><p>Thanks</p>"
    )

    parsed = parse_request("", html=html, today=TODAY)

    (problem,) = parsed.problems
    assert problem.field == "Customer contacts"
    assert '"Mia Chen"' in problem.message
    assert problem.fix_line == (
        "Customer contacts: Kim Park <kim@tailspin.com>, Mia Chen <name@customer.com>"
    )


def _complete(**overrides: str) -> dict[str, str]:
    fields = {
        "Account": "Acme",
        "Outgoing CSM": "Jane Doe <jane.doe@ourco.com>",
        "Incoming CSM": "Sam Lee <sam.lee@ourco.com>",
        "Customer contacts": "Pat Kim <pat@acme.com>",
    }
    fields.update(overrides)
    return fields


def test_the_same_person_cannot_hand_the_account_to_themself() -> None:
    parsed = request_from_fields(
        _complete(**{"Incoming CSM": "J. Doe <JANE.DOE@ourco.com>"}), today=TODAY
    )

    assert [problem.field for problem in parsed.problems] == ["Incoming CSM"]
    assert "both the outgoing and the incoming" in parsed.problems[0].message


def test_an_unknown_type_lists_the_three_that_exist() -> None:
    parsed = request_from_fields(_complete(Type="gentle"), today=TODAY)

    (problem,) = parsed.problems
    assert problem.field == "Type"
    assert all(word in problem.message for word in ("soft", "hard", "abrupt"))
    assert problem.fix_line == "Type: soft"


def test_an_abrupt_handoff_does_not_need_a_last_day() -> None:
    request = request_from_fields(_complete(Type="Abrupt"), today=TODAY).request

    assert request is not None
    assert request.type is TransitionType.ABRUPT


def test_an_effective_date_more_than_a_week_ago_is_questioned() -> None:
    stale = request_from_fields(_complete(**{"Effective date": "2026-11-12"}), today=TODAY)
    recent = request_from_fields(_complete(**{"Effective date": "2026-11-13"}), today=TODAY)

    assert [problem.field for problem in stale.problems] == ["Effective date"]
    assert "more than a week in the past" in stale.problems[0].message
    assert recent.request is not None
    assert recent.request.effective_date == date(2026, 11, 13)


def test_a_last_day_after_the_effective_date_is_fine() -> None:
    fields = _complete(Type="hard", **{"Effective date": "2026-12-01", "Last day": "2026-12-20"})

    assert request_from_fields(fields, today=TODAY).problems == ()


def test_a_date_that_cannot_be_read_is_reported_for_its_field() -> None:
    parsed = request_from_fields(_complete(**{"Renewal date": "after Q2"}), today=TODAY)

    (problem,) = parsed.problems
    assert problem.field == "Renewal date"
    assert '"after Q2"' in problem.message
    assert problem.fix_line == "Renewal date: YYYY-MM-DD"


@pytest.mark.parametrize(
    ("written", "shared"),
    [("yes", True), ("Y", True), ("TRUE", True), ("yes, please", True), ("no", False)]
    + [("n", False), ("False", False)],
)
def test_share_reason_is_a_yes_or_no(written: str, shared: bool) -> None:
    request = request_from_fields(_complete(**{"Share reason": written}), today=TODAY).request

    assert request is not None
    assert request.share_reason is shared


def test_share_reason_that_is_neither_yes_nor_no_is_asked_about() -> None:
    parsed = request_from_fields(_complete(**{"Share reason": "maybe"}), today=TODAY)

    assert [problem.field for problem in parsed.problems] == ["Share reason"]


def test_the_playbook_is_kept_exactly_as_written() -> None:
    request = request_from_fields(_complete(Playbook="Enterprise Soft v2"), today=TODAY).request

    assert request is not None
    assert request.playbook == "Enterprise Soft v2"


def test_two_addresses_for_one_csm_is_a_problem() -> None:
    parsed = request_from_fields(
        _complete(**{"Incoming CSM": "sam@ourco.com, kai@ourco.com"}), today=TODAY
    )

    assert [problem.field for problem in parsed.problems] == ["Incoming CSM"]
    assert "one person" in parsed.problems[0].message


def test_the_template_covers_every_field_and_cannot_be_sent_back_unchanged() -> None:
    template_fields = extract_fields(FIELD_TEMPLATE)

    assert list(template_fields) == list(FIELD_NAMES)
    parsed = request_from_fields(template_fields, today=TODAY)
    assert parsed.request is None
    assert {problem.field for problem in parsed.problems} == {
        "Outgoing CSM",
        "Incoming CSM",
        "Customer contacts",
    }
    assert all("example" in problem.message for problem in parsed.problems)


def test_a_filled_in_template_is_accepted() -> None:
    filled = (
        FIELD_TEMPLATE.replace("yourcompany.com", "ourco.com")
        .replace("customer.com", "acme.com")
        .replace("Playbook: soft", "Playbook:")
    )

    request = parse_request(filled, today=TODAY).request

    assert request is not None
    assert request.playbook is None
    assert len(request.customer_contacts) == 2


def _corpus_bodies() -> list[tuple[str, str, str]]:
    """(fixture name, text, html) for every text or HTML fixture in the shared corpora."""
    bodies: list[tuple[str, str, str]] = []
    for expected in sorted(CORPORA.glob("*/expected.json")):
        for relative, entry in json.loads(expected.read_text("utf-8")).items():
            raw = (expected.parent / relative).read_bytes()
            name = f"{expected.parent.name}/{relative}"
            if entry["input"] == "text":
                bodies.append((name, raw.decode("utf-8", "replace"), ""))
            elif entry["input"] == "html":
                bodies.append((name, "", raw.decode("utf-8", "replace")))
            elif entry["input"] == "message":
                bodies.append((name, *_message_parts(message_from_bytes(raw))))
    return bodies


def _message_parts(message: Message) -> tuple[str, str]:
    parts = {"text/plain": "", "text/html": ""}
    for part in message.walk():
        kind = part.get_content_type()
        if kind in parts and not parts[kind]:
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                parts[kind] = payload.decode(part.get_content_charset() or "utf-8", "replace")
    return parts["text/plain"], parts["text/html"]


def test_hundreds_of_real_world_mails_never_crash_or_pass_as_a_request() -> None:
    if not CORPORA.is_dir():
        pytest.skip(f"the shared mail corpora are not checked out beside the project ({CORPORA})")
    bodies = _corpus_bodies()
    assert len(bodies) > 300

    for name, text, html in bodies:
        parsed = parse_request(text, html=html, today=TODAY)
        assert parsed.request is None, name


def test_outlooks_text_rendering_of_addresses_is_read_as_the_addresses_typed() -> None:
    parsed = parse_request(
        "Account: Acme Corp\n"
        "Outgoing CSM: Sam Jones <sam@example.com<mailto:sam@example.com>>\n"
        "Incoming CSM: rita@example.com<mailto:rita@example.com>\n"
        "Customer contacts: Pat Lee <pat@acme.com<mailto:pat@acme.com>>; "
        "jo@acme.com<mailto:jo@acme.com>\n", today=TODAY)
    assert parsed.problems == ()
    assert parsed.request is not None
    assert parsed.request.outgoing == Person("Sam Jones", "sam@example.com")
    assert [p.email for p in parsed.request.customer_contacts] == ["pat@acme.com", "jo@acme.com"]


@pytest.mark.parametrize(("written", "why"), [
    ("pat@acme,com", "it has a comma where a dot belongs"),
    ("Pat Lee <pat@acme>", "the part after the @ has no dot (like acme.com)"),
    ("Pat Lee <pat..lee@acme.com>", "it has two dots in a row"),
])
def test_a_customer_address_that_mail_cannot_go_to_is_a_problem(written: str, why: str) -> None:
    parsed = parse_request(f"Account: Acme\nOutgoing CSM: sam@example.com\nIncoming CSM: "
                           f"rita@example.com\nCustomer contacts: {written}, jo@acme.com\n",
                           today=TODAY)
    assert parsed.request is None
    [problem] = parsed.problems
    assert problem.field == "Customer contacts" and why in problem.message
