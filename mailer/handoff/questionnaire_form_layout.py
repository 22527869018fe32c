"""The questionnaire form's layout, drawn by openpyxl ahead of time.

The form attached to every questionnaire is the same workbook but for the account and the
transition id, so it is built once, here, with placeholders in their place, and shipped as
`questionnaire_form.xlsx` beside this module; `build_form` only swaps the values in. The
service therefore never imports openpyxl (a sixth of its start-up) to send a questionnaire.

After changing the sections, this layout or the openpyxl version, write the file again:

    python -m mailer.handoff.questionnaire_form_layout

A test fails while the shipped file differs from what this module builds.
"""

from __future__ import annotations

import io
import sys
import zipfile
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from mailer.handoff.model import ContactRole
from mailer.handoff.questionnaire import SECTIONS
from mailer.handoff.questionnaire_form import (
    ACCOUNT_SLOT,
    CONTACT_ROWS,
    CONTACTS_SHEET,
    FORM_TEMPLATE,
    FORM_VERSION,
    META_SHEET,
    QUESTIONNAIRE_SHEET,
    TRANSITION_SLOT,
)

_QUESTIONNAIRE_HEADERS = ("Section", "Topic", "Questions to consider", "Your answer")
_CONTACT_HEADERS = ("Name", "Title", "Email", "Role", "Still at the company", "Notes")
_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="305496")
_ANSWER_FILL = PatternFill("solid", fgColor="FFF2CC")
_WRAP = Alignment(wrap_text=True, vertical="top")
# The file's own dates (File > Properties), fixed so that the same layout gives the same
# file: the day this layout was last changed.
_LAYOUT_DATE = datetime(2026, 12, 4)
# Each part's date in the zip, for the same reason (zip dates start in 1980).
_PART_DATE = (2026, 12, 4, 0, 0, 0)


def form_template() -> bytes:
    """The form with `ACCOUNT_SLOT` and `TRANSITION_SLOT` where its values go."""
    workbook = Workbook()
    questions = workbook.active
    assert questions is not None  # a new Workbook always has one sheet
    questions.title = QUESTIONNAIRE_SHEET
    _fill_questionnaire(questions)
    _fill_contacts(workbook.create_sheet(CONTACTS_SHEET))
    _add_meta(workbook, ACCOUNT_SLOT, TRANSITION_SLOT)
    workbook.properties.title = f"{ACCOUNT_SLOT} handoff questionnaire {TRANSITION_SLOT}"
    workbook.properties.created = workbook.properties.modified = _LAYOUT_DATE
    written = io.BytesIO()
    with zipfile.ZipFile(written, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(workbook, archive).save()  # openpyxl's save(), but keeping the dates
    return _with_fixed_part_dates(written.getvalue())


def _with_fixed_part_dates(workbook: bytes) -> bytes:
    """The same parts, each dated `_PART_DATE`, the two with slots last: `build_form` adds
    those to a zip of the others, made once, so every copy has the shipped file's order."""
    source = zipfile.ZipFile(io.BytesIO(workbook))
    fixed = io.BytesIO()
    with zipfile.ZipFile(fixed, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in sorted(source.infolist(),
                           key=lambda part: b"-slot-7f3a" in source.read(part.filename)):
            part = zipfile.ZipInfo(item.filename, date_time=_PART_DATE)
            part.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(part, source.read(item.filename))
    return fixed.getvalue()


def _style_header(sheet: Worksheet, headers: tuple[str, ...]) -> None:
    sheet.append(list(headers))
    for cell in sheet[1]:
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
        cell.alignment = _WRAP
    sheet.freeze_panes = "A2"


def _fill_questionnaire(sheet: Worksheet) -> None:
    _style_header(sheet, _QUESTIONNAIRE_HEADERS)
    for section in SECTIONS:
        guidance = "\n".join(
            [section.prompt, *(f"• {q}" for q in section.questions), f"Example: {section.example}"]
        )
        topic = f"{section.title} (required)" if section.required else section.title
        sheet.append([section.number, topic, guidance, None])
        row = sheet.max_row
        for cell in sheet[row]:
            cell.alignment = _WRAP
        sheet.cell(row=row, column=4).fill = _ANSWER_FILL
        sheet.row_dimensions[row].height = 110
    for column, width in zip("ABCD", (9, 22, 60, 80), strict=True):
        sheet.column_dimensions[column].width = width


def _fill_contacts(sheet: Worksheet) -> None:
    _style_header(sheet, _CONTACT_HEADERS)
    for column, width in zip("ABCDEF", (24, 26, 30, 20, 14, 50), strict=True):
        sheet.column_dimensions[column].width = width
    roles = ",".join(role.value for role in ContactRole)
    role_choice = DataValidation(type="list", formula1=f'"{roles}"', allow_blank=True)
    role_choice.error = "Please pick one of the roles in the list."
    yes_no = DataValidation(type="list", formula1='"Yes,No"', allow_blank=True)
    sheet.add_data_validation(role_choice)
    sheet.add_data_validation(yes_no)
    role_choice.add(f"D2:D{CONTACT_ROWS + 1}")
    yes_no.add(f"E2:E{CONTACT_ROWS + 1}")
    for row in range(2, CONTACT_ROWS + 2):
        sheet.cell(row=row, column=6).alignment = _WRAP


def _add_meta(workbook: Workbook, account: str, transition_id: str) -> None:
    meta = workbook.create_sheet(META_SHEET)
    meta.append(["transition_id", transition_id])
    meta.append(["form_version", FORM_VERSION])
    meta.append(["account", account])
    meta.sheet_state = "hidden"
    workbook.defined_names["mailer_transition_id"] = DefinedName(
        "mailer_transition_id", attr_text=f"'{META_SHEET}'!$B$1"
    )
    workbook.defined_names["mailer_form_version"] = DefinedName(
        "mailer_form_version", attr_text=f"'{META_SHEET}'!$B$2"
    )



def write_shipped_template(path: Path = FORM_TEMPLATE) -> None:
    path.write_bytes(form_template())


if __name__ == "__main__":
    write_shipped_template()
    print(f"wrote {FORM_TEMPLATE}", file=sys.stderr)
