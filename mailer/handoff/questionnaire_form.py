"""The `.xlsx` form attached to the questionnaire mail, and reading it back once filled.

Some CSMs would rather fill a spreadsheet than write a long email. The form carries the
transition id in a hidden sheet (and a defined name), so a form sent back as a fresh email
without our reply token can still be matched to its transition.
"""

from __future__ import annotations

import functools
import io
import re
import zipfile
from copy import copy as shallow_copy
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape as xml_escape

from mailer.errors import MailerError
from mailer.handoff.cell_text import safe_cell_text
from mailer.handoff.contacts import departed_from_text, role_from_text, still_there_from_cell
from mailer.handoff.model import Contact
from mailer.handoff.questionnaire import SECTION_BY_NUMBER, SECTIONS
from mailer.handoff.spreadsheet_reading import (
    UNREADABLE,
    CellBudget,
    NotAWorkbook,
    SheetCaps,
    SpreadsheetTooLarge,
    capped_rows,
    cell_value,
    open_workbook,
)

if TYPE_CHECKING:  # openpyxl is imported only to read a form back (`open_workbook`)
    from openpyxl import Workbook
    from openpyxl.worksheet.worksheet import Worksheet

FORM_VERSION = "1"
QUESTIONNAIRE_SHEET = "Questionnaire"
CONTACTS_SHEET = "Contacts"
META_SHEET = "_form"
MAX_UNCOMPRESSED_BYTES = 20 * 1024 * 1024
MAX_MEMBERS = 2000
CONTACT_ROWS = 200  # rows that get the Role and Yes/No drop-downs


class FormError(MailerError):
    """A file sent back as the questionnaire form cannot be read; the message says what to do."""


@dataclass(frozen=True)
class FilledForm:
    transition_id: str | None
    sections: dict[int, str]  # section number -> answer text, as typed
    contacts: list[Contact]


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------


ACCOUNT_SLOT = "mailer-account-slot-7f3a"
TRANSITION_SLOT = "mailer-transition-slot-7f3a"
# The form with the two slots above where the values go, drawn by openpyxl ahead of time
# (`questionnaire_form_layout`, which says how to write it again).
FORM_TEMPLATE = Path(__file__).with_name("questionnaire_form.xlsx")


def build_form(account: str, transition_id: str) -> bytes:
    """The questionnaire as a workbook: one row per section, plus a sheet for contacts.

    Each copy is the shipped form with the account and the transition id swapped into the
    two parts that hold them: openpyxl would take tens of milliseconds to write the form,
    and the service a tenth of a second to import openpyxl first. The other nine parts are
    the same in every copy, so they are compressed once (`_template_parts`)."""
    values = {ACCOUNT_SLOT: account, TRANSITION_SLOT: transition_id}
    shared, slotted = _template_parts()
    buffer = io.BytesIO(shared)
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as copy:
        for item, data in slotted:
            text = data.decode("utf-8")
            for slot, value in values.items():
                text = text.replace(slot, xml_escape(safe_cell_text(value)))
            copy.writestr(shallow_copy(item), text.encode("utf-8"))  # it fills in the sizes
    return buffer.getvalue()


@functools.cache
def _template_parts() -> tuple[bytes, tuple[tuple[zipfile.ZipInfo, bytes], ...]]:
    """The shipped form, split once per process: a zip of the parts every copy shares, and
    the parts with slots (which the shipped file holds last, so a copy keeps its order)."""
    source = zipfile.ZipFile(io.BytesIO(FORM_TEMPLATE.read_bytes()))
    shared = io.BytesIO()
    slotted: list[tuple[zipfile.ZipInfo, bytes]] = []
    with zipfile.ZipFile(shared, "w", zipfile.ZIP_DEFLATED) as common:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.endswith(".xml") and _SLOT_MARK in data:
                slotted.append((item, data))
            else:
                common.writestr(shallow_copy(item), data)
    return shared.getvalue(), tuple(slotted)


_SLOT_MARK = b"-slot-7f3a"


# ---------------------------------------------------------------------------------------------
# Reading back
# ---------------------------------------------------------------------------------------------

_NOT_OUR_FILE = (
    "This file does not look like the questionnaire form I sent. Please reply with the "
    ".xlsx form attached to my questionnaire email, or simply write your answers in the email."
)


# The form has 3 sheets, 13 rows of questions and a contacts sheet with room for 200; a filled
# one stays far below these, and a file beyond them is not the form.
FORM_CAPS = SheetCaps(sheets=12, rows=1000, columns=40, cells=30_000,
                      unpacked_bytes=MAX_UNCOMPRESSED_BYTES, members=MAX_MEMBERS,
                      characters=512 * 1024)  # as much text as one email may hold


def read_form(data: bytes) -> FilledForm:
    """Answers and contacts from a filled form, tolerant of edits people make to spreadsheets.

    Read in streaming mode within FORM_CAPS: a file past a cap is refused as a whole, with
    what to do instead (the answers written in the email are read all the same)."""
    try:
        workbook = open_workbook(data, FORM_CAPS)
    except NotAWorkbook as e:
        raise FormError(_NOT_A_WORKBOOK if not zipfile.is_zipfile(io.BytesIO(data))
                        else _DAMAGED) from e
    except SpreadsheetTooLarge as e:
        raise FormError(too_large_words(e)) from e
    try:
        budget = CellBudget(FORM_CAPS)
        sheet = _questionnaire_sheet(workbook, budget)
        if sheet is None:
            raise FormError(_NOT_OUR_FILE)
        contacts_sheet = next((ws for ws in workbook.worksheets
                               if ws.title.strip().lower() == "contacts"), None)
        return FilledForm(
            transition_id=_transition_id(workbook, budget),
            sections=_read_sections(sheet, budget),
            contacts=_read_contacts(contacts_sheet, budget) if contacts_sheet is not None
            else [],
        )
    except SpreadsheetTooLarge as e:
        raise FormError(too_large_words(e)) from e
    except UNREADABLE as e:  # a sheet's XML broken halfway through
        raise FormError(_DAMAGED) from e
    finally:
        workbook.close()


_NOT_A_WORKBOOK = (
    "The attached file is not an Excel workbook. Please send back the .xlsx form from my "
    "questionnaire email (Excel, Numbers, Google Sheets and LibreOffice can all save as "
    ".xlsx), or write your answers in the email.")
_DAMAGED = ("I could not open this spreadsheet; it may be damaged. Please save it again as an "
            ".xlsx file and send it back, or write your answers in the email.")


def too_large_words(e: SpreadsheetTooLarge) -> str:
    """Which cap a form went past, said plainly, and what to send instead."""
    where = f" on the sheet '{e.sheet}'" if e.sheet else ""
    what = {
        "unpacked": "is far larger than the questionnaire form once unpacked",
        "sheets": f"has more than {e.limit} sheets (the form has three)",
        "rows": f"has more than {e.limit:,} rows{where}, counting blank ones",
        "cells": f"has more than {e.limit:,} filled cells",
        "characters": f"holds more than {e.limit // 1024:,} KB of text",
    }.get(e.what, "is far larger than the form")
    return (f"This spreadsheet {what}, so I did not read it. Please send back the form from my "
            "email with your answers only, or write them in the email.")


def _questionnaire_sheet(workbook: Workbook, budget: CellBudget) -> Worksheet | None:
    for sheet in workbook.worksheets:
        if sheet.title.strip().lower() == QUESTIONNAIRE_SHEET.lower():
            return sheet
    for sheet in workbook.worksheets:  # renamed by the user: recognise it by its header row
        if _header_row(sheet, budget) is not None:
            return sheet
    return None


def _transition_id(workbook: Workbook, budget: CellBudget) -> str | None:
    if META_SHEET in workbook.sheetnames:
        for row in capped_rows(workbook[META_SHEET], FORM_CAPS, budget, last=10):
            if len(row) > 1 and row[0] == "transition_id" and row[1]:
                return str(row[1]).strip()
    defined = workbook.defined_names.get("mailer_transition_id")
    if defined is not None:
        for sheet_name, reference in defined.destinations:
            value = cell_value(workbook, sheet_name, reference, FORM_CAPS, budget)
            if value:
                return str(value).strip()
    return None


def cell_text(value: object) -> str:
    """Any cell value as the text a person would read in it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _header_row(sheet: Worksheet, budget: CellBudget) -> tuple[int, dict[str, int]] | None:
    """The row holding our headers and where each column went (users may move columns)."""
    for row_number, row in enumerate(capped_rows(sheet, FORM_CAPS, budget, last=5), start=1):
        columns: dict[str, int] = {}
        for position, value in enumerate(row):
            label = cell_text(value).lower()
            if label.startswith("section"):
                columns.setdefault("section", position)
            elif label.startswith("topic"):
                columns.setdefault("topic", position)
            elif label.startswith("question"):
                columns.setdefault("questions", position)
            elif "answer" in label:
                columns.setdefault("answer", position)
        if "answer" in columns and ("section" in columns or "topic" in columns):
            return row_number, columns
    return None


def _section_of(row: tuple[object, ...], columns: dict[str, int]) -> int | None:
    if "section" in columns:
        match = re.search(r"\d{1,2}", cell_text(_at(row, columns["section"])))
        if match and int(match.group()) in SECTION_BY_NUMBER:
            return int(match.group())
    topic = cell_text(_at(row, columns["topic"])).lower() if "topic" in columns else ""
    for section in SECTIONS:
        if topic and topic.startswith(section.title.lower()):
            return section.number
    return None


def _at(row: tuple[object, ...], position: int) -> object:
    return row[position] if position < len(row) else None


def _read_sections(sheet: Worksheet, budget: CellBudget) -> dict[int, str]:
    header = _header_row(sheet, budget)
    if header is None:
        raise FormError(_NOT_OUR_FILE)
    header_row, columns = header
    answers: dict[int, list[str]] = {}
    current: int | None = None
    for row in capped_rows(sheet, FORM_CAPS, budget, first=header_row + 1):
        section = _section_of(row, columns)
        current = section if section is not None else current
        texts = _answer_texts(row, columns, section)
        if current is not None and texts:
            answers.setdefault(current, []).extend(texts)
    return {n: "\n\n".join(parts) for n, parts in sorted(answers.items())}


def _answer_texts(
    row: tuple[object, ...], columns: dict[str, int], section: int | None
) -> list[str]:
    """The answer cell, plus anything typed in a column we did not expect text in."""
    # Our guidance in the questions column is skipped by content, so an answer typed over it
    # still counts.
    known = {columns[key] for key in ("section", "topic") if key in columns}
    texts: list[str] = []
    answer = cell_text(_at(row, columns["answer"]))
    if answer:
        texts.append(answer)
    for position, value in enumerate(row):
        if position == columns["answer"] or (position in known and section is not None):
            continue
        text = cell_text(value)
        if text and not _is_our_text(text):
            texts.append(text)
    return texts


def _is_our_text(text: str) -> bool:
    """Topics and guidance we wrote ourselves are not answers."""
    lowered = text.lower().removesuffix(" (required)")
    return any(lowered == s.title.lower() or text.startswith(s.prompt) for s in SECTIONS)


def _read_contacts(sheet: Worksheet, budget: CellBudget) -> list[Contact]:
    rows = capped_rows(sheet, FORM_CAPS, budget)
    header = next(rows, None)
    if header is None:
        return []
    positions = {cell_text(label).lower(): i for i, label in enumerate(header) if label}
    contacts: list[Contact] = []
    for row in rows:
        values = {label: cell_text(_at(row, i)) for label, i in positions.items()}
        name, email = values.get("name", ""), values.get("email", "").lower()
        if not name and not email:
            continue
        notes = values.get("notes", "")
        still = still_there_from_cell(values.get("still at the company", ""))
        contacts.append(
            Contact(
                name=name,
                title=values.get("title", ""),
                email=email,
                role=role_from_text(values.get("role", "")),
                still_there=still and not departed_from_text(notes),
                notes=notes,
            )
        )
    return contacts
