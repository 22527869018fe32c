"""The handoff workbook: everything the incoming CSM and the team lead need, in one .xlsx file.

Pure: the caller gathers a ``HandoffData`` (including the moment it was generated) and gets the
file's bytes back. Text that came from email always goes through ``cell_text.put_text``, so it is
stored exactly as written and never evaluated as a formula.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, date, datetime

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, NamedStyle, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from mailer.handoff.cell_text import CELL_TEXT_LIMIT, excel_length, put_text, safe_cell_text
from mailer.handoff.model import Contact, ContactRole, IssueStatus, Person
from mailer.handoff.workbook_content import (
    COMMUNICATION,
    CONTRACT,
    DOCUMENTS,
    EVENTS,
    FIT,
    GOALS,
    PROJECTS,
    RENEWAL_RISK,
    SENTIMENT,
    SUCCESSES,
    HandoffData,
    HandoffSummary,
    summarise,
)

SHEET_NAMES = (
    "Overview",
    "Contacts",
    "Issues",
    "Wins & Goals",
    "Contract",
    "Plan",
    "Answers",
    "History",
)


# Used only when the caller's section_titles has no title for a section.
_FALLBACK_SECTION_TITLES = {
    1: "Customer contacts",
    2: "Sentiment",
    3: "Customer fit",
    4: "Red flags and issues",
    5: "Successes",
    6: "Goals",
    7: "Current projects",
    8: "Contract",
    9: "Renewal risk",
    10: "Communication",
    11: "Significant events",
    12: "Documents",
}

# Extra empty rows that still offer the drop-downs, so new contacts and issues can be added.
_SPARE_ROWS = 100

_NOT_ANSWERED = "Not answered yet."
_SHORTENED_ANSWER = "\n\n[Shortened to fit one cell. The complete text is on the Answers sheet.]"
_SHORTENED = "\n\n[Shortened to fit one cell.]"

_TYPE_LABELS = {
    "soft": "Soft: both CSMs work the account together for a few weeks",
    "hard": "Hard: the outgoing CSM has a firm last day with the customer",
    "abrupt": "Abrupt: the outgoing CSM is already unavailable; the team lead stays close by",
}
_DIRECTION_LABELS = {"in": "Received", "out": "Sent"}

# --- cell values -----------------------------------------------------------------------------


def _excel_datetime(moment: datetime) -> datetime:
    """Excel has no time zones: aware moments become naive UTC; naive ones are taken as UTC."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _fit_cell(text: str, note: str = _SHORTENED_ANSWER) -> str:
    """The text, or as much of it as fits in one cell followed by a visible note."""
    if excel_length(text) <= CELL_TEXT_LIMIT:
        return text
    return _prefix_within(text, CELL_TEXT_LIMIT - len(note)) + note


def _prefix_within(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose Excel length is at most ``limit`` (``limit`` >= 2)."""
    prefix = text[:limit]
    while (excess := excel_length(prefix) - limit) > 0:
        # A character counts as one or two units, so this never drops too much.
        prefix = prefix[: -((excess + 1) // 2)]
    return prefix


def split_for_cells(text: str, limit: int = CELL_TEXT_LIMIT) -> list[str]:
    """Consecutive parts of ``text``, each fitting a cell, which join back to exactly ``text``.

    Parts end at a line break or space when one is reasonably near the limit, so each part
    reads naturally.
    """
    parts: list[str] = []
    rest = text
    while excel_length(rest) > limit:
        part = _prefix_within(rest, limit)
        for separator in ("\n", " "):
            cut = part.rfind(separator)
            if cut >= len(part) // 2:
                part = part[: cut + 1]
                break
        parts.append(part)
        rest = rest[len(part) :]
    parts.append(rest)
    return parts


# --- styles ----------------------------------------------------------------------------------

_HEADER = "Handoff header"
_TITLE = "Handoff title"
_SUBTITLE = "Handoff subtitle"
_TEXT = "Handoff text"
_LABEL = "Handoff label"
_EMPHASIS = "Handoff emphasis"
_DATE = "Handoff date"
_DATETIME = "Handoff date and time"
_FORMER_CONTACT = "Handoff former contact"
_OPEN_ISSUE = "Handoff open issue"

_WRAP_TOP = Alignment(wrap_text=True, vertical="top", horizontal="left")
_HEADER_FILL = PatternFill("solid", fgColor="1F4E79")
_OPEN_FILL = PatternFill("solid", fgColor="FCE4D6")
_DATE_FORMAT = "yyyy-mm-dd"
_DATETIME_FORMAT = "yyyy-mm-dd hh:mm"


def _named_styles() -> list[NamedStyle]:
    # NamedStyles are bound to one workbook, so they are made per build; cells then copy a
    # prepared style array instead of each looking up fonts and fills.
    return [
        NamedStyle(
            _HEADER,
            font=Font(bold=True, color="FFFFFF"),
            fill=_HEADER_FILL,
            alignment=Alignment(wrap_text=True, vertical="center"),
        ),
        NamedStyle(_TITLE, font=Font(bold=True, size=14, color="1F4E79")),
        NamedStyle(_SUBTITLE, font=Font(bold=True, size=12, color="1F4E79")),
        NamedStyle(_TEXT, alignment=_WRAP_TOP),
        NamedStyle(_LABEL, font=Font(bold=True), alignment=_WRAP_TOP),
        NamedStyle(_EMPHASIS, font=Font(bold=True, color="1F4E79"), alignment=_WRAP_TOP),
        NamedStyle(_DATE, number_format=_DATE_FORMAT, alignment=_WRAP_TOP),
        NamedStyle(_DATETIME, number_format=_DATETIME_FORMAT, alignment=_WRAP_TOP),
        NamedStyle(_FORMER_CONTACT, font=Font(color="808080", strike=True), alignment=_WRAP_TOP),
        NamedStyle(_OPEN_ISSUE, fill=_OPEN_FILL, alignment=_WRAP_TOP),
    ]


CellValue = str | int | date | datetime | None

# Row heights are estimated, because neither LibreOffice nor every Excel version re-measures
# wrapped text when opening a file; without a height, long answers overlap the next row.
_LINE_HEIGHT = 15.0  # points, for the default 11 pt font
_MAX_ROW_HEIGHT = 409.0  # Excel's maximum


def _wrapped_line_count(text: str, width: float) -> int:
    # A column's width is counted in "0" characters. Ordinary text averages a little narrower,
    # but words pushed to the next line and wider fallback fonts (LibreOffice without Calibri)
    # eat that up, so plan for slightly fewer characters per line.
    per_line = max(1, int(width * 0.9))
    return sum(max(1, -(-len(line) // per_line)) for line in text.split("\n"))


class _Table:
    """One sheet laid out as a table: styled frozen header, widths, print setup, row heights."""

    def __init__(
        self,
        wb: Workbook,
        title: str,
        headers: Sequence[str],
        widths: Sequence[float],
        *,
        header_row: int = 1,
    ) -> None:
        self.ws = wb.create_sheet(title)
        self.header_row = header_row
        self._widths = tuple(widths)
        self._column_count = len(headers)
        ws = self.ws
        for column, (header, width) in enumerate(zip(headers, widths, strict=True), start=1):
            cell = ws.cell(row=header_row, column=column, value=header)
            cell.style = _HEADER
            ws.column_dimensions[get_column_letter(column)].width = width
        ws.freeze_panes = f"A{header_row + 1}"
        ws.print_title_rows = f"1:{header_row}"
        ws.page_setup.orientation = "landscape"
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True

    def write(self, row: int, column: int, value: CellValue, style: str = _TEXT) -> None:
        cell = self.ws.cell(row=row, column=column)
        if isinstance(value, datetime):
            cell.value = _excel_datetime(value)
            cell.style = _DATETIME
            return
        if isinstance(value, date):
            cell.value = value
            cell.style = _DATE
            return
        cell.style = style
        if isinstance(value, str):
            put_text(cell, value)
            self._make_room(row, column, value)
        else:
            cell.value = value

    def write_row(self, row: int, values: Sequence[CellValue], style: str = _TEXT) -> None:
        for column, value in enumerate(values, start=1):
            self.write(row, column, value, style)

    def filter_down_to(self, last_row: int) -> None:
        """Put the auto-filter over the header and the data rows down to ``last_row``."""
        last_column = get_column_letter(self._column_count)
        bottom = max(last_row, self.header_row)
        self.ws.auto_filter.ref = f"A{self.header_row}:{last_column}{bottom}"

    def _make_room(self, row: int, column: int, text: str) -> None:
        width = self._widths[column - 1]
        if len(text) <= width and "\n" not in text:
            return  # the common case: one short line
        lines = _wrapped_line_count(text, width)
        if lines < 2:
            return
        height = min(_MAX_ROW_HEIGHT, lines * _LINE_HEIGHT)
        dimension = self.ws.row_dimensions[row]
        if (dimension.height or 0) < height:
            dimension.height = height


def _drop_down(ws: Worksheet, choices: Sequence[str], cells: str, what: str) -> None:
    validation = DataValidation(
        type="list",
        formula1='"' + ",".join(choices) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle=f"Please pick a {what}",
        error=f"Choose one of: {', '.join(choices)}.",
    )
    validation.add(cells)
    ws.add_data_validation(validation)


# --- sheets ----------------------------------------------------------------------------------


def _section_title(data: HandoffData, section: int) -> str:
    return data.section_titles.get(section) or _FALLBACK_SECTION_TITLES.get(
        section, f"Section {section}"
    )


def _answer(data: HandoffData, section: int) -> str:
    text = data.current_answers.get(section, "")
    return _fit_cell(text) if text.strip() else _NOT_ANSWERED


def _person(person: Person) -> str:
    # Person.formatted() is for mail headers (it encodes non-ASCII names); people read this.
    return f"{person.name} <{person.email}>" if person.name else person.email


def _contact_line(contact: Contact) -> str:
    details = ", ".join(part for part in (contact.name, contact.title) if part)
    if contact.email:
        details += f" ({contact.email})"
    return f"{str(contact.role).capitalize()}: {details}"


def _overview_rows(data: HandoffData, summary: HandoffSummary) -> list[tuple[str, CellValue, str]]:
    open_risks = "\n".join(f"\u2022 {risk}" for risk in summary.top_risks)
    key_contacts = "\n".join(_contact_line(contact) for contact in summary.key_contacts)
    version = max((row.version for row in data.versions), default=1)
    return [
        ("Account", data.account, _EMPHASIS),
        ("Transition", data.transition_id, _TEXT),
        ("Type of handoff", _TYPE_LABELS.get(data.type.lower(), data.type), _TEXT),
        ("Team lead", _person(data.manager), _TEXT),
        ("Outgoing CSM", _person(data.outgoing), _TEXT),
        ("Incoming CSM", _person(data.incoming), _TEXT),
        (
            "Customer contacts in the request",
            "\n".join(_person(person) for person in data.customer_contacts) or "None named",
            _TEXT,
        ),
        ("Effective date", data.effective_date or "Not set yet", _TEXT),
        ("Outgoing CSM's last day", data.last_day or "Not set", _TEXT),
        ("Renewal date", data.renewal_date or "Not known yet", _TEXT),
        ("Reason for the change", data.reason or "No reason given", _TEXT),
        (
            "Can the customer be told the reason?",
            "Yes" if data.share_reason else "No, please keep it internal",
            _TEXT,
        ),
        ("Customer sentiment in a line", summary.sentiment or _NOT_ANSWERED, _EMPHASIS),
        ("Customer sentiment in full", _answer(data, SENTIMENT), _TEXT),
        ("How well they fit the product", _answer(data, FIT), _TEXT),
        ("Top risks", open_risks or "No open issues or renewal concerns reported.", _TEXT),
        (
            "Key contacts",
            key_contacts or "No point of contact, sponsor or champion named yet.",
            _TEXT,
        ),
        ("How they like to communicate", _answer(data, COMMUNICATION), _TEXT),
        ("Where the documents live", _answer(data, DOCUMENTS), _TEXT),
        ("Open issues", summary.open_issues, _TEXT),
        ("Resolved issues", summary.resolved_issues, _TEXT),
        ("Handoff version", version, _TEXT),
        ("Workbook made at (UTC)", data.generated_at, _TEXT),
    ]


def _add_overview(wb: Workbook, data: HandoffData, summary: HandoffSummary) -> None:
    table = _Table(wb, "Overview", ("Topic", "Details"), (38, 100), header_row=2)
    title = table.ws.cell(row=1, column=1)
    put_text(title, _fit_cell(f"{data.account} \u2014 handoff brief ({data.transition_id})"))
    title.style = _TITLE
    rows = _overview_rows(data, summary)
    for row, (label, value, style) in enumerate(rows, start=3):
        table.write(row, 1, label, _LABEL)
        table.write(row, 2, _fit_cell(value) if isinstance(value, str) else value, style)
    table.filter_down_to(2 + len(rows))


def _add_contacts(wb: Workbook, data: HandoffData) -> None:
    headers = ("Name", "Title", "Email", "Role on the account", "Still there?", "Notes")
    table = _Table(wb, "Contacts", headers, (26, 28, 32, 20, 13, 60))
    for row, contact in enumerate(data.contacts, start=2):
        values = (
            contact.name,
            contact.title,
            contact.email,
            str(contact.role),
            "Yes" if contact.still_there else "No",
            contact.notes,
        )
        style = _TEXT if contact.still_there else _FORMER_CONTACT
        table.write_row(row, [_fit_cell(value, _SHORTENED) for value in values], style)
    last_row = 1 + len(data.contacts)
    spare = last_row + _SPARE_ROWS
    _drop_down(table.ws, [role.value for role in ContactRole], f"D2:D{spare}", "role")
    _drop_down(table.ws, ("Yes", "No"), f"E2:E{spare}", "Yes or No")
    table.filter_down_to(last_row)


def _add_issues(wb: Workbook, data: HandoffData) -> None:
    table = _Table(wb, "Issues", ("Issue", "Status", "Notes"), (60, 12, 60))
    for row, issue in enumerate(data.issues, start=2):
        style = _OPEN_ISSUE if issue.status == IssueStatus.OPEN else _TEXT
        values = (_fit_cell(issue.text), str(issue.status), _fit_cell(issue.notes))
        table.write_row(row, values, style)
    last_row = 1 + len(data.issues)
    statuses = [status.value for status in IssueStatus]
    _drop_down(table.ws, statuses, f"B2:B{last_row + _SPARE_ROWS}", "status")
    table.filter_down_to(last_row)


def _add_topic_sheet(
    wb: Workbook, title: str, rows: Sequence[tuple[str, CellValue]], *, heading: str
) -> None:
    table = _Table(wb, title, ("Topic", heading), (28, 110))
    for row, (topic, value) in enumerate(rows, start=2):
        table.write(row, 1, topic, _LABEL)
        table.write(row, 2, value)
    table.filter_down_to(1 + len(rows))


def _add_wins_and_goals(wb: Workbook, data: HandoffData) -> None:
    sections = (SUCCESSES, GOALS, PROJECTS)
    rows = [(_section_title(data, section), _answer(data, section)) for section in sections]
    _add_topic_sheet(wb, "Wins & Goals", rows, heading="What the outgoing CSM wrote")


def _add_contract(wb: Workbook, data: HandoffData) -> None:
    renewal: CellValue = data.renewal_date or "Not known yet"
    rows: list[tuple[str, CellValue]] = [("Renewal date", renewal)]
    for section in (CONTRACT, RENEWAL_RISK, COMMUNICATION, EVENTS, DOCUMENTS):
        rows.append((_section_title(data, section), _answer(data, section)))
    _add_topic_sheet(wb, "Contract", rows, heading="Details")


def _add_plan(wb: Workbook, data: HandoffData) -> None:
    headers = ("Step", "Owner", "Sent to", "Due (UTC)", "Status")
    table = _Table(wb, "Plan", headers, (44, 22, 30, 18, 16))
    for row, step in enumerate(data.plan, start=2):
        table.write_row(row, (step.step, step.owner, step.to, step.due, step.status))
    table.filter_down_to(1 + len(data.plan))


def _add_answers(wb: Workbook, data: HandoffData) -> None:
    headers = ("Section", "Section title", "Part", "Answer as written", "Received (UTC)")
    table = _Table(wb, "Answers", headers, (9, 24, 9, 110, 18))
    row = 2
    # Grouped by section; within a section the arrival order is kept (the sort is stable).
    for answer in sorted(data.answers, key=lambda item: item.section):
        parts = split_for_cells(safe_cell_text(answer.text))
        for number, part in enumerate(parts, start=1):
            values = (
                answer.section,
                _section_title(data, answer.section),
                f"{number} of {len(parts)}",
                part,
                answer.received_at,
            )
            table.write_row(row, values)
            row += 1
    table.filter_down_to(row - 1)


def _add_history(wb: Workbook, data: HandoffData) -> None:
    headers = ("When (UTC)", "Direction", "From", "To", "Subject", "Note")
    table = _Table(wb, "History", headers, (18, 11, 32, 40, 50, 50))
    for row, mail in enumerate(data.history, start=2):
        values = (
            mail.at,
            _DIRECTION_LABELS.get(mail.direction, mail.direction),
            _fit_cell(mail.sender, _SHORTENED),
            _fit_cell(", ".join(mail.recipients), _SHORTENED),
            _fit_cell(mail.subject, _SHORTENED),
            _fit_cell(mail.note, _SHORTENED),
        )
        table.write_row(row, values)
    last_mail_row = 1 + len(data.history)
    table.filter_down_to(last_mail_row)

    log_title_row = last_mail_row + 2
    # Not wrapped, so the heading runs across the empty cells to its right.
    table.ws.cell(row=log_title_row, column=1, value="Versions of this handoff").style = _SUBTITLE
    log_header_row = log_title_row + 1
    # The moment goes first: the first column is the one wide enough for a date and time.
    table.write_row(log_header_row, ("Saved (UTC)", "Version", "What changed"), _HEADER)
    for row, version in enumerate(data.versions, start=log_header_row + 1):
        summary = _fit_cell(version.summary, _SHORTENED)
        table.write_row(row, (version.at, version.version, summary))


def build_workbook(data: HandoffData) -> bytes:
    """The handoff workbook as .xlsx bytes."""
    wb = Workbook()
    wb.remove(wb.active)
    for style in _named_styles():
        wb.add_named_style(style)
    made_at = _excel_datetime(data.generated_at)
    wb.properties.created = made_at
    wb.properties.modified = made_at
    wb.properties.creator = "Transitions assistant"
    wb.properties.title = safe_cell_text(f"{data.account} handoff {data.transition_id}")

    _add_overview(wb, data, summarise(data))
    _add_contacts(wb, data)
    _add_issues(wb, data)
    _add_wins_and_goals(wb, data)
    _add_contract(wb, data)
    _add_plan(wb, data)
    _add_answers(wb, data)
    _add_history(wb, data)

    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
