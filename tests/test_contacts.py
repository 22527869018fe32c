"""The outgoing CSM lists the customer's people in section 1, in whatever shape they have."""

from __future__ import annotations

import pytest

from mailer.handoff.contacts import merge_contacts, parse_contacts, role_from_text
from mailer.handoff.model import Contact, ContactRole


def test_the_format_we_ask_for_name_title_email_role_notes() -> None:
    assert parse_contacts("Pat Lee, VP Operations, Pat@Acme.com, champion - loves dashboards") == [
        Contact("Pat Lee", "VP Operations", "pat@acme.com", ContactRole.CHAMPION, True,
                "loves dashboards"),
    ]  # fmt: skip


def test_a_bulleted_list_in_mixed_styles_one_contact_per_line() -> None:
    contacts = parse_contacts(
        "- Pat Lee (VP Operations) <pat@acme.com> — champion; loves dashboards\n"
        "* Sam Roe, CFO, sam@acme.com, exec sponsor\n"
        "• Jo Kim - jo@acme.com - POC, answers within the hour\n"
        "1. Ann Berg, Head of IT, decision maker\n"
        "2) Max Mustermann\n"
        "All other contacts are in Salesforce.\n"
    )
    assert [(c.name, c.title, c.email, c.role, c.notes) for c in contacts] == [
        ("Pat Lee", "VP Operations", "pat@acme.com", ContactRole.CHAMPION, "loves dashboards"),
        ("Sam Roe", "CFO", "sam@acme.com", ContactRole.EXECUTIVE_SPONSOR, ""),
        ("Jo Kim", "", "jo@acme.com", ContactRole.POINT_OF_CONTACT, "answers within the hour"),
        ("Ann Berg", "Head of IT", "", ContactRole.DECISION_MAKER, ""),
        ("Max Mustermann", "", "", ContactRole.OTHER, ""),
    ]


@pytest.mark.parametrize(
    ("words", "role"),
    [
        ("point of contact", ContactRole.POINT_OF_CONTACT),
        ("our POC", ContactRole.POINT_OF_CONTACT),
        ("main contact", ContactRole.POINT_OF_CONTACT),
        ("day-to-day contact", ContactRole.POINT_OF_CONTACT),
        ("executive sponsor", ContactRole.EXECUTIVE_SPONSOR),
        ("exec sponsor", ContactRole.EXECUTIVE_SPONSOR),
        ("sponsor", ContactRole.EXECUTIVE_SPONSOR),
        ("champion", ContactRole.CHAMPION),
        ("big advocate of ours", ContactRole.CHAMPION),
        ("decision maker", ContactRole.DECISION_MAKER),
        ("DM", ContactRole.DECISION_MAKER),
        ("economic buyer", ContactRole.DECISION_MAKER),
        ("signs the contract", ContactRole.DECISION_MAKER),
        ("user", ContactRole.USER),
        ("end user", ContactRole.USER),
        ("power user", ContactRole.USER),
        ("works on user research", ContactRole.OTHER),
    ],
)
def test_role_words_and_synonyms_anywhere_in_the_line(words: str, role: ContactRole) -> None:
    assert role_from_text(words) == role
    [contact] = parse_contacts(f"Dana Fox, Analyst, dana@acme.com, {words}")
    assert contact.role == role


@pytest.mark.parametrize(
    "line",
    [
        "Lee Chan, Director of Ops, lee@acme.com - left the company in May",
        "Lee Chan - no longer at Acme",
        "Lee Chan, CTO, has left",
        "Lee Chan (departed), lee@acme.com",
        "Lee Chan, ex-CTO, lee@acme.com",
    ],
)
def test_people_who_left_are_marked_as_no_longer_there(line: str) -> None:
    [contact] = parse_contacts(line)
    assert contact.name == "Lee Chan"
    assert contact.still_there is False


def test_a_table_pasted_from_a_crm_with_a_header_row() -> None:
    contacts = parse_contacts(
        "| Name | Title | Email | Role | Notes |\n"
        "|------|-------|-------|------|-------|\n"
        "| Pat Lee | VP Ops | PAT@acme.com | Champion | loves dashboards |\n"
        "| Sam Roe | CFO | sam@acme.com | Exec sponsor | no longer at Acme |\n"
    )
    assert contacts == [
        Contact("Pat Lee", "VP Ops", "pat@acme.com", ContactRole.CHAMPION, True,
                "loves dashboards"),
        Contact("Sam Roe", "CFO", "sam@acme.com", ContactRole.EXECUTIVE_SPONSOR, False,
                "no longer at Acme"),
    ]  # fmt: skip


def test_a_tab_separated_paste_from_a_spreadsheet() -> None:
    contacts = parse_contacts(
        "Name\tEmail\tRole\tStill there\nPat Lee\tpat@acme.com\tPOC\tyes\nSam Roe\t\tuser\tno\n"
    )
    assert [(c.name, c.email, c.role, c.still_there) for c in contacts] == [
        ("Pat Lee", "pat@acme.com", ContactRole.POINT_OF_CONTACT, True),
        ("Sam Roe", "", ContactRole.USER, False),
    ]


def test_a_table_without_a_header_row_is_read_line_by_line() -> None:
    [contact] = parse_contacts("Pat Lee | VP Ops | pat@acme.com | champion | loves dashboards")
    assert (contact.name, contact.title, contact.email, contact.role, contact.notes) == (
        "Pat Lee", "VP Ops", "pat@acme.com", ContactRole.CHAMPION, "loves dashboards"
    )  # fmt: skip


def test_contacts_spread_over_sub_bullets() -> None:
    contacts = parse_contacts(
        "- Pat Lee, VP Operations\n"
        "  - pat@acme.com\n"
        "  - champion, loves dashboards\n"
        "- Sam Roe\n"
        "  - CFO\n"
        "  - sam@acme.com\n"
        "  - has left, was our exec sponsor\n"
    )
    assert contacts == [
        Contact("Pat Lee", "VP Operations", "pat@acme.com", ContactRole.CHAMPION, True,
                "loves dashboards"),
        Contact("Sam Roe", "CFO", "sam@acme.com", ContactRole.EXECUTIVE_SPONSOR, False,
                "has left; was our exec sponsor"),
    ]  # fmt: skip


def test_a_contact_on_two_plain_lines_and_a_small_labelled_form() -> None:
    two_lines = parse_contacts("Pat Lee - VP Operations\npat@acme.com, champion\n")
    assert [(c.name, c.title, c.email, c.role) for c in two_lines] == [
        ("Pat Lee", "VP Operations", "pat@acme.com", ContactRole.CHAMPION)
    ]
    labelled = parse_contacts(
        "Name: Pat Lee\nTitle: VP Ops\nEmail: pat@acme.com\nRole: day-to-day\nNotes: likes Mondays"
    )
    assert labelled == [
        Contact("Pat Lee", "VP Ops", "pat@acme.com", ContactRole.POINT_OF_CONTACT, True,
                "likes Mondays"),
    ]  # fmt: skip


def test_an_html_reply_turned_to_text_keeps_markdown_links_readable() -> None:
    [contact] = parse_contacts("  - Pat Lee, [pat@acme.com](mailto:pat@acme.com), **champion**")
    assert (contact.name, contact.email, contact.role) == (
        "Pat Lee", "pat@acme.com", ContactRole.CHAMPION
    )  # fmt: skip


def test_nothing_to_list() -> None:
    assert parse_contacts("") == []
    assert parse_contacts("none") == []


# --- issue 10: notes as typed, corrections, formula-looking text ----------------------------


@pytest.mark.parametrize("notes", [
    "loves dashboards; hates long decks",
    "reference for the case study | spoke at our summit",
    "met at the 2025 user day (Berlin) - keen cyclist",
    "very direct – wants numbers, not adjectives",
    "signs the PO [not the contract]",
    "=2x seats per team is her rule of thumb",
])
def test_notes_are_kept_exactly_as_typed(notes: str) -> None:
    [contact] = parse_contacts(f"Ana Souza, Director, RevOps, ana@acme.com, champion - {notes}")
    assert (contact.name, contact.title, contact.email, contact.role, contact.notes) == (
        "Ana Souza", "Director, RevOps", "ana@acme.com", ContactRole.CHAMPION, notes)


def test_a_later_correction_updates_the_person_matched_by_name_or_old_address() -> None:
    first = parse_contacts("Pat Lee, VP Ops, pat@acme.com, champion - loves dashboards\n"
                           "Jo Park, CFO, jo@acme.com, executive sponsor")
    correction = parse_contacts("Pat Lee, COO, pat.lee@acme-group.com, champion\n"
                                "Jo Parker, CFO, jo@acme.com, executive sponsor\n"
                                "Ana Souza, Analyst, ana@acme.com, user")
    again = parse_contacts("Ana Souza, Analyst, ana@acme.com, user - joined in November")
    merged = merge_contacts(merge_contacts(first, correction), again)
    assert [(c.name, c.title, c.email, c.notes) for c in merged] == [
        ("Pat Lee", "COO", "pat.lee@acme-group.com", "loves dashboards"),
        ("Jo Parker", "CFO", "jo@acme.com", ""),
        ("Ana Souza", "Analyst", "ana@acme.com", "joined in November"),
    ]
    assert "pat@acme.com" not in {c.email for c in merged}
