"""The combined handoff form for a book of business: one `.xlsx`, one sheet per account.

An outgoing CSM handing over thirty accounts gets one file instead of thirty. Each sheet is
named after its transition (`TR-0042 Acme Corp`) and a hidden sheet maps the sheet names to
transition ids, so renaming a sheet still works as long as the id stays in the name or the
hidden sheet survives.
"""

from __future__ import annotations

import io
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailer.handoff.cell_text import put_text
from mailer.handoff.questionnaire import SECTION_BY_NUMBER, SECTIONS
from mailer.handoff.questionnaire_form import cell_text
from mailer.handoff.spreadsheet_reading import (
    UNREADABLE,
    CellBudget,
    NotAWorkbook,
    SheetCaps,
    SpreadsheetTooLarge,
    capped_rows,
    open_workbook,
)

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

META_SHEET = "_book_form"
HEADERS = ("Section", "Topic", "Questions to consider", "Your answer")
MAX_UNCOMPRESSED_BYTES = 40 * 1024 * 1024
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
    # openpyxl is imported here, when a book's form is written: the service starts a tenth
    # of a second sooner without it.
    from openpyxl import Workbook

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
    from openpyxl.styles import Alignment, Font, PatternFill  # as in `build_combined_form`

    wrap = Alignment(wrap_text=True, vertical="top")
    answer_fill = PatternFill("solid", fgColor="FFF2CC")
    header_font, header_fill = Font(bold=True, color="FFFFFF"), PatternFill(
        "solid", fgColor="305496")
    sheet.append(list(HEADERS))
    for cell in sheet[1]:
        cell.font = header_font
        cell.fill = header_fill
        cell.alignment = wrap
    sheet.freeze_panes = "A2"
    for section in SECTIONS:
        required = section.number in account.required
        topic = f"{section.title} (required)" if required else section.title
        guidance = "\n".join([section.prompt, *(f"• {q}" for q in section.questions)])
        row = sheet.max_row + 1
        sheet.cell(row=row, column=1, value=section.number)
        put_text(sheet.cell(row=row, column=2), topic)
        put_text(sheet.cell(row=row, column=3), guidance)
        sheet.cell(row=row, column=4).fill = answer_fill
        for column in range(1, 5):
            sheet.cell(row=row, column=column).alignment = wrap
        sheet.row_dimensions[row].height = 90
    for column, width in zip("ABCD", (9, 24, 60, 80), strict=True):
        sheet.column_dimensions[column].width = width
    note_row = sheet.max_row + 2
    put_text(sheet.cell(row=note_row, column=2),
             f"{account.account} ({account.transition_id}) moves to {account.incoming}.")


class CombinedFormError(Exception):
    """The attachment cannot be read as the combined form; the message says why."""


def combined_form_caps(accounts: int) -> SheetCaps:
    """One sheet per account and the hidden map, with room for a few sheets people add."""
    return SheetCaps(sheets=accounts + 11, rows=300, columns=30,
                     cells=2_000 * (accounts + 1), unpacked_bytes=MAX_UNCOMPRESSED_BYTES,
                     characters=128 * 1024 * (accounts + 1))


def read_combined_form(payload: bytes,
                       transition_ids: Collection[str]) -> dict[str, dict[int, str]]:
    """Answers by transition id and section number, from every sheet naming a known id.

    Streamed in read-only mode within `combined_form_caps`, each sheet read once."""
    caps = combined_form_caps(len(transition_ids))
    try:
        workbook = open_workbook(payload, caps)
    except NotAWorkbook as exc:
        raise CombinedFormError("The attachment is not an Excel workbook, or it is damaged.") \
            from exc
    except SpreadsheetTooLarge as exc:
        raise CombinedFormError(_too_large(exc)) from exc
    try:
        return _answers_by_transition(workbook, transition_ids, caps)
    except SpreadsheetTooLarge as exc:
        raise CombinedFormError(_too_large(exc)) from exc
    except UNREADABLE as exc:
        raise CombinedFormError("The spreadsheet could not be read to the end; it may be "
                                "damaged.") from exc
    finally:
        workbook.close()


def _too_large(exc: SpreadsheetTooLarge) -> str:
    where = f" on the sheet '{exc.sheet}'" if exc.sheet else ""
    return {"unpacked": "The spreadsheet is far larger than the form once unpacked.",
            "sheets": f"The spreadsheet has more than {exc.limit} sheets, far more than the "
                      "form's one per account.",
            "rows": f"The spreadsheet has more than {exc.limit} rows{where}, counting blank "
                    "ones; the form has one per question.",
            "cells": f"The spreadsheet has more than {exc.limit:,} filled cells, far more "
                     "than the form.",
            "characters": f"The spreadsheet holds more than {exc.limit // 1024:,} KB of text, "
                          "far more than answers to the form need."}.get(
        exc.what, "The spreadsheet is far larger than the form.")


def _answers_by_transition(workbook, transition_ids: Collection[str],  # noqa: ANN001
                           caps: SheetCaps) -> dict[str, dict[int, str]]:
    budget = CellBudget(caps)
    mapping: dict[str, str] = {}
    if META_SHEET in workbook.sheetnames:
        for row in capped_rows(workbook[META_SHEET], caps, budget):
            if row and row[0] and len(row) > 1 and row[1]:
                mapping[str(row[0])] = str(row[1]).upper()
    wanted = {tid.upper() for tid in transition_ids}
    answers: dict[str, dict[int, str]] = {}
    for sheet in workbook.worksheets:
        if sheet.title == META_SHEET:
            continue
        known = mapping.get(sheet.title) or _id_in(sheet.title)
        if known is not None and known not in wanted:
            continue  # another sheet's business: not even read
        rows = list(capped_rows(sheet, caps, budget))  # at most caps.rows: one pass
        tid = known or _id_on(rows)
        if tid not in wanted:
            continue
        sections = _sections(rows)
        if sections:
            answers.setdefault(tid, {}).update(sections)
    return answers


def _id_in(text: str) -> str | None:
    match = _TRANSITION_ID.search(text)
    return f"TR-{int(match.group(1)):04d}" if match else None


def _id_on(rows: list[tuple[object, ...]]) -> str | None:
    """The id in the note under the questions, for a sheet renamed beyond recognition."""
    for row in rows:
        found = _id_in(cell_text(row[1])) if len(row) > 1 else None
        if found:
            return found
    return None


def _sections(rows: list[tuple[object, ...]]) -> dict[int, str]:
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
