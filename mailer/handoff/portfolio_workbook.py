"""The portfolio workbook attached to the leads' digest: every transition on one sheet.

One row per transition, most urgent first, with filters on every sheet so a lead can narrow it
to one CSM, one phase or one risk. Further sheets count transitions per CSM and per account
(a CSM change is a churn risk), and list what went out last week and what is due this week.
Pure: a `Digest` in, the file's bytes out. Every string goes through `put_text`, so an
account named "=SUM(A1)" stays text.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, NamedTuple

from mailer.handoff.cell_text import put_text
from mailer.handoff.digest import Digest

TRANSITIONS_SHEET = "Transitions"
CSMS_SHEET = "CSMs"
ACCOUNTS_SHEET = "Accounts"
SENT_SHEET = "Sent last week"
DUE_SHEET = "Due this week"

TRANSITION_COLUMNS: tuple[tuple[str, float], ...] = (
    ("Urgency", 9), ("Transition", 11), ("Account", 28), ("Status", 10), ("Phase", 22),
    ("Next step", 40), ("Next step due", 17), ("Risk flags", 48), ("Outgoing CSM", 20),
    ("Incoming CSM", 20), ("Manager", 20), ("Type", 8), ("Playbook", 10), ("Requested", 12),
    ("Effective date", 13), ("Last day", 12), ("Renewal date", 13),
    ("Handoff workbook", 36), ("Account transitions this year", 14),
)
CSM_COLUMNS: tuple[tuple[str, float], ...] = (
    ("CSM", 24), ("Email", 30), ("Handing over now", 12), ("Taking over now", 12),
    ("Handed over this year", 12), ("Taken over this year", 12),
)
ACCOUNT_COLUMNS: tuple[tuple[str, float], ...] = (
    ("Account", 30), ("Transitions this year", 14), ("Transition ids", 40),
)
SENT_COLUMNS: tuple[tuple[str, float], ...] = (
    ("Sent at", 17), ("Transition", 11), ("Account", 28), ("What", 26), ("Subject", 60),
    ("To", 40),
)
DUE_COLUMNS: tuple[tuple[str, float], ...] = (
    ("Due", 17), ("Transition", 11), ("Account", 28), ("Step", 48), ("To", 30),
    ("Waiting for", 44),
)
NO_WORKBOOK = "not sent yet"

_DATE_FORMAT = "yyyy-mm-dd"
_DATETIME_FORMAT = "yyyy-mm-dd hh:mm"

Cell = str | int | date | datetime | None

if TYPE_CHECKING:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.worksheet import Worksheet


class _Styles(NamedTuple):
    header_font: Font
    header_fill: PatternFill
    risk_fill: PatternFill
    wrap: Alignment


@functools.cache
def _styles() -> _Styles:
    """The portfolio's formats, made when the first portfolio is written: openpyxl is
    imported then, not when the service starts (a tenth of a second sooner without it)."""
    from openpyxl.styles import Alignment, Font, PatternFill

    return _Styles(header_font=Font(bold=True, color="FFFFFF"),
                   header_fill=PatternFill("solid", fgColor="1F4E79"),
                   risk_fill=PatternFill("solid", fgColor="FCE4D6"),
                   wrap=Alignment(wrap_text=True, vertical="top"))


def portfolio_filename(digest: Digest) -> str:
    return f"Transitions portfolio {digest.generated_at.date().isoformat()}.xlsx"


def build_portfolio(digest: Digest) -> bytes:
    from openpyxl import Workbook  # here, as for `_styles`

    workbook = Workbook()
    first = workbook.active
    assert first is not None  # a new workbook always has one sheet
    workbook.remove(first)
    _transitions(workbook, digest)
    _table(workbook, CSMS_SHEET, CSM_COLUMNS, [
        (c.name, c.email, c.handing_over, c.taking_over, c.handed_over_this_year,
         c.taken_over_this_year) for c in digest.csm_counts])
    _table(workbook, ACCOUNTS_SHEET, ACCOUNT_COLUMNS, [
        (a.account, a.transitions_this_year, ", ".join(a.transition_ids))
        for a in digest.account_counts])
    _table(workbook, SENT_SHEET, SENT_COLUMNS, [
        (_local(m.at, digest), m.transition_id, m.account, m.kind.replace("_", " "), m.subject,
         ", ".join(m.recipients)) for m in digest.sent_last_week])
    _table(workbook, DUE_SHEET, DUE_COLUMNS, [
        (_local(i.due_at, digest), i.transition_id, i.account, i.step, i.who, i.note)
        for i in digest.due_this_week])
    workbook.properties.title = f"Transitions portfolio, week of {digest.week_start.isoformat()}"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _local(moment: datetime, digest: Digest) -> datetime:
    # Excel has no time zones: show the team's wall-clock time.
    return moment.astimezone(digest.generated_at.tzinfo).replace(tzinfo=None)


def _transitions(workbook: Workbook, digest: Digest) -> None:
    rows = [(r.urgency, r.transition_id, r.account, r.status, r.phase, r.next_step,
             r.next_due.replace(tzinfo=None) if r.next_due else None,
             "; ".join(r.risk_flags), r.outgoing, r.incoming, r.manager, r.type, r.playbook,
             r.requested, r.effective_date, r.last_day, r.renewal_date,
             r.workbook_file or NO_WORKBOOK, r.account_transitions_this_year)
            for r in digest.rows]
    sheet = _table(workbook, TRANSITIONS_SHEET, TRANSITION_COLUMNS, rows)
    flags_column = [name for name, _ in TRANSITION_COLUMNS].index("Risk flags") + 1
    for index, row in enumerate(digest.rows, start=2):
        if row.risk_flags:
            sheet.cell(row=index, column=flags_column).fill = _styles().risk_fill


def _table(workbook: Workbook, title: str, columns: Sequence[tuple[str, float]],
           rows: Sequence[Sequence[Cell]]) -> Worksheet:
    """A sheet with a styled, frozen header row, a filter over all rows and set widths."""
    from openpyxl.utils import get_column_letter

    styles = _styles()
    sheet = workbook.create_sheet(title)
    for number, (name, width) in enumerate(columns, start=1):
        cell = sheet.cell(row=1, column=number, value=name)
        cell.font = styles.header_font
        cell.fill = styles.header_fill
        cell.alignment = styles.wrap
        sheet.column_dimensions[get_column_letter(number)].width = width
    for row_number, values in enumerate(rows, start=2):
        for column, value in enumerate(values, start=1):
            _write(sheet, row_number, column, value)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(1, len(rows) + 1)}"
    # Printed, each sheet is one page wide (as many pages long as it needs), landscape, with
    # the header row on every page.
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = "1:1"
    return sheet


def _write(sheet: Worksheet, row: int, column: int, value: Cell) -> None:
    cell = sheet.cell(row=row, column=column)
    cell.alignment = _styles().wrap
    if isinstance(value, str):
        put_text(cell, value)
    elif isinstance(value, datetime):
        cell.value = value
        cell.number_format = _DATETIME_FORMAT
    elif isinstance(value, date):
        cell.value = value
        cell.number_format = _DATE_FORMAT
    else:
        cell.value = value
