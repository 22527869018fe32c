"""The combined handoff form for a book of business: one `.xlsx`, one sheet per account.

An outgoing CSM handing over thirty accounts gets one file instead of thirty. Each sheet is
named after its transition (`TR-0042 Acme Corp`) and a hidden sheet maps the sheet names to
transition ids, so renaming a sheet still works as long as the id stays in the name or the
hidden sheet survives.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.worksheet import Worksheet

from mailer.handoff.cell_text import put_text
from mailer.handoff.questionnaire import SECTION_BY_NUMBER, SECTIONS
from mailer.handoff.questionnaire_form import cell_text

META_SHEET = "_book_form"
HEADERS = ("Section", "Topic", "Questions to consider", "Your answer")
MAX_UNCOMPRESSED_BYTES = 40 * 1024 * 1024
_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="305496")
_ANSWER_FILL = PatternFill("solid", fgColor="FFF2CC")
_WRAP = Alignment(wrap_text=True, vertical="top")
_TRANSITION_ID = re.compile(r"\bTR-(\d{1,8})\b", re.IGNORECASE)
_SHEET_UNSAFE = re.compile(r"[\[\]:*?/\\']")


@dataclass(frozen=True)
class FormAccount:
    transition_id: str
    account: str
    incoming: str  # the incoming CSM's name, shown on the sheet
    required: tuple[int, ...]


def sheet_title(transition_id: str, account: str, taken: Collection[str] = ()) -> str:
    """`TR-0042 Acme Corp`, within Excel's 31 characters and free of the forbidden ones."""
    base = f"{transition_id} {_SHEET_UNSAFE.sub(' ', account)}"
    title = " ".join(base.split())[:31].rstrip()
    return title if title not in taken else transition_id


def build_combined_form(accounts: Sequence[FormAccount]) -> bytes:
    workbook = Workbook()
    first = workbook.active
    assert first is not None  # a new workbook always has one sheet
    workbook.remove(first)
    meta = workbook.create_sheet(META_SHEET)
    taken: list[str] = []
    for account in accounts:
        title = sheet_title(account.transition_id, account.account, taken)
        taken.append(title)
        _fill_sheet(workbook.create_sheet(title), account)
        meta.append([title, account.transition_id, account.account])
    meta.sheet_state = "hidden"
    workbook.move_sheet(META_SHEET, offset=len(accounts))
    workbook.active = 0
    workbook.properties.title = "Handoff questions, one sheet per account"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _fill_sheet(sheet: Worksheet, account: FormAccount) -> None:
    sheet.append(list(HEADERS))
    for cell in sheet[1]:
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
        cell.alignment = _WRAP
    sheet.freeze_panes = "A2"
    for section in SECTIONS:
        required = section.number in account.required
        topic = f"{section.title} (required)" if required else section.title
        guidance = "\n".join([section.prompt, *(f"• {q}" for q in section.questions)])
        row = sheet.max_row + 1
        sheet.cell(row=row, column=1, value=section.number)
        put_text(sheet.cell(row=row, column=2), topic)
        put_text(sheet.cell(row=row, column=3), guidance)
        sheet.cell(row=row, column=4).fill = _ANSWER_FILL
        for column in range(1, 5):
            sheet.cell(row=row, column=column).alignment = _WRAP
        sheet.row_dimensions[row].height = 90
    for column, width in zip("ABCD", (9, 24, 60, 80), strict=True):
        sheet.column_dimensions[column].width = width
    note_row = sheet.max_row + 2
    put_text(sheet.cell(row=note_row, column=2),
             f"{account.account} ({account.transition_id}) moves to {account.incoming}.")


class CombinedFormError(Exception):
    """The attachment cannot be read as the combined form; the message says why."""


def read_combined_form(payload: bytes,
                       transition_ids: Collection[str]) -> dict[str, dict[int, str]]:
    """Answers by transition id and section number, from every sheet naming a known id."""
    workbook = _open(payload)
    mapping: dict[str, str] = {}
    if META_SHEET in workbook.sheetnames:
        for row in workbook[META_SHEET].iter_rows(values_only=True):
            if row and row[0] and len(row) > 1 and row[1]:
                mapping[str(row[0])] = str(row[1]).upper()
    wanted = {tid.upper() for tid in transition_ids}
    answers: dict[str, dict[int, str]] = {}
    for sheet in workbook.worksheets:
        if sheet.title == META_SHEET:
            continue
        tid = mapping.get(sheet.title) or _id_in(sheet.title) or _id_on(sheet)
        if tid not in wanted:
            continue
        sections = _sections(sheet)
        if sections:
            answers.setdefault(tid, {}).update(sections)
    return answers


def _open(payload: bytes):  # noqa: ANN202 - an openpyxl Workbook
    if not zipfile.is_zipfile(io.BytesIO(payload)):
        raise CombinedFormError("The attachment is not an Excel workbook.")
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        if sum(member.file_size for member in archive.infolist()) > MAX_UNCOMPRESSED_BYTES:
            raise CombinedFormError("The spreadsheet is far larger than the form once unpacked.")
    try:
        return load_workbook(io.BytesIO(payload), data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, TypeError,
            OSError) as exc:
        raise CombinedFormError("The spreadsheet could not be opened; it may be damaged.") \
            from exc


def _id_in(text: str) -> str | None:
    match = _TRANSITION_ID.search(text)
    return f"TR-{int(match.group(1)):04d}" if match else None


def _id_on(sheet: Worksheet) -> str | None:
    """The id in the note under the questions, for a sheet renamed beyond recognition."""
    for (value,) in sheet.iter_rows(min_col=2, max_col=2, values_only=True):
        found = _id_in(cell_text(value))
        if found:
            return found
    return None


def _sections(sheet: Worksheet) -> dict[int, str]:
    rows = list(sheet.iter_rows(values_only=True))
    header = next((i for i, row in enumerate(rows[:5])
                   if any("answer" in cell_text(v).lower() for v in row)), None)
    if header is None:
        return {}
    labels = [cell_text(v).lower() for v in rows[header]]
    answer_at = next(i for i, label in enumerate(labels) if "answer" in label)
    section_at = next((i for i, label in enumerate(labels) if label.startswith("section")), 0)
    found: dict[int, str] = {}
    for row in rows[header + 1:]:
        number = re.search(r"\d{1,2}", cell_text(row[section_at]) if section_at < len(row)
                           else "")
        text = cell_text(row[answer_at]) if answer_at < len(row) else ""
        if number and int(number.group()) in SECTION_BY_NUMBER and text:
            found[int(number.group())] = text
    return found
