"""The outgoing CSM fills the attached spreadsheet instead of writing a long email."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from mailer.handoff.model import ContactRole
from mailer.handoff.questionnaire import SECTIONS
from mailer.handoff.questionnaire_form import (
    FORM_TEMPLATE,
    MAX_UNCOMPRESSED_BYTES,
    FormError,
    build_form,
    read_form,
)
from mailer.handoff.questionnaire_form_layout import form_template


def saved(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_the_form_lists_every_section_with_room_to_answer() -> None:
    data = build_form("Acme Corp", "TR-0042")
    assert len(data) < 40_000
    workbook = load_workbook(io.BytesIO(data))
    sheet = workbook["Questionnaire"]
    assert [c.value for c in sheet[1]] == [
        "Section",
        "Topic",
        "Questions to consider",
        "Your answer",
    ]
    assert sheet.freeze_panes == "A2"
    assert [sheet.cell(row=r, column=1).value for r in range(2, 14)] == list(range(1, 13))
    assert sheet.cell(row=5, column=2).value == "Red flags and issues (required)"
    assert SECTIONS[3].questions[0] in sheet.cell(row=5, column=3).value
    assert sheet.cell(row=5, column=4).fill.fgColor.rgb.endswith("FFF2CC")
    assert sheet.column_dimensions["D"].width >= 60

    contacts = workbook["Contacts"]
    assert [c.value for c in contacts[1]] == [
        "Name", "Title", "Email", "Role", "Still at the company", "Notes",
    ]  # fmt: skip
    choices = [v.formula1 for v in contacts.data_validations.dataValidation]
    assert any("champion" in f and "executive sponsor" in f for f in choices)
    assert '"Yes,No"' in choices
    assert workbook["_form"].sheet_state == "hidden"
    assert "mailer_transition_id" in workbook.defined_names


def test_a_filled_form_with_rows_reordered_comes_back_as_answers_and_contacts() -> None:
    workbook = load_workbook(io.BytesIO(build_form("Acme Corp", "TR-0042")))
    sheet = workbook["Questionnaire"]
    sheet["D5"] = "SSO bug still open"
    sheet["D9"] = datetime(2027, 3, 31)  # Excel turned "2027-03-31" into a date
    sheet["E3"] = 8  # typed one column too far right, as a number
    sheet["C7"] = "Roll out to EMEA"  # typed over our guidance instead of the answer cell
    # The CSM sorted the rows upside down and added a row of their own under section 4.
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2, max_row=13)]
    for offset, values in enumerate(reversed(rows)):
        for column, value in enumerate(values, start=1):
            sheet.cell(row=2 + offset, column=column).value = value
    sheet.insert_rows(11)
    sheet["D11"] = "Also: exports are slow"
    assert sheet["A10"].value == 4
    contacts = workbook["Contacts"]
    contacts.append(["Pat Lee", "VP Ops", "PAT@acme.com", "champion", "Yes", "loves dashboards"])
    contacts.append(["Sam Roe", "CFO", None, "executive sponsor", "No", None])
    contacts.append([None, None, None, None, None, None])

    form = read_form(saved(workbook))

    assert form.transition_id == "TR-0042"
    assert form.sections == {
        2: "8",
        4: "SSO bug still open\n\nAlso: exports are slow",
        6: "Roll out to EMEA",
        8: "2027-03-31",
    }
    assert [(c.name, c.email, c.role, c.still_there) for c in form.contacts] == [
        ("Pat Lee", "pat@acme.com", ContactRole.CHAMPION, True),
        ("Sam Roe", "", ContactRole.EXECUTIVE_SPONSOR, False),
    ]


def test_contacts_typed_into_section_one_stay_as_text_for_the_caller() -> None:
    workbook = load_workbook(io.BytesIO(build_form("Acme Corp", "TR-0042")))
    workbook["Questionnaire"]["D2"] = "Pat Lee, VP Ops, pat@acme.com, champion"
    form = read_form(saved(workbook))
    assert form.sections == {1: "Pat Lee, VP Ops, pat@acme.com, champion"}
    assert form.contacts == []


def test_a_form_that_lost_its_hidden_sheet_still_reads_without_an_id() -> None:
    workbook = load_workbook(io.BytesIO(build_form("Acme Corp", "TR-0042")))
    del workbook["_form"]
    del workbook.defined_names["mailer_transition_id"]
    workbook["Questionnaire"].title = "Antworten"
    workbook["Antworten"]["D3"] = "sehr zufrieden"
    form = read_form(saved(workbook))
    assert form.transition_id is None
    assert form.sections == {2: "sehr zufrieden"}


def test_a_file_that_is_not_a_spreadsheet_is_refused_with_advice() -> None:
    with pytest.raises(FormError, match="not an Excel workbook.*\\.xlsx"):
        read_form(b"%PDF-1.7 this is a PDF, not a workbook")


def test_a_zip_bomb_is_refused_before_it_is_unpacked() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (MAX_UNCOMPRESSED_BYTES + 1))
    assert len(buffer.getvalue()) < 100_000
    with pytest.raises(FormError, match="larger than the questionnaire form"):
        read_form(buffer.getvalue())


def test_a_zip_that_is_not_a_workbook_or_a_workbook_without_our_sheet_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(FormError, match="could not open this spreadsheet"):
        read_form(buffer.getvalue())

    other = Workbook()
    other.active.append(["Quarter", "Revenue"])
    with pytest.raises(FormError, match="does not look like the questionnaire form"):
        read_form(saved(other))


def test_a_form_resaved_by_libreoffice_still_reads(tmp_path: Path) -> None:
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    workbook = load_workbook(io.BytesIO(build_form("Acme Corp", "TR-0042")))
    workbook["Questionnaire"]["D5"] = "SSO bug still open"
    workbook["Contacts"].append(["Pat Lee", "VP Ops", "pat@acme.com", "champion", "No", None])
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "form.xlsx").write_bytes(saved(workbook))
    subprocess.run(
        [soffice, "--headless", f"-env:UserInstallation=file://{tmp_path}/profile",
         "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(tmp_path / "out"),
         str(tmp_path / "in" / "form.xlsx")],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    form = read_form((tmp_path / "out" / "form.xlsx").read_bytes())
    assert form.transition_id == "TR-0042"
    assert form.sections == {4: "SSO bug still open"}
    assert [(c.name, c.role, c.still_there) for c in form.contacts] == [
        ("Pat Lee", ContactRole.CHAMPION, False)
    ]


def test_the_shipped_form_is_the_layout_the_code_draws() -> None:
    """Every questionnaire carries `questionnaire_form.xlsx`, drawn ahead of time. After a
    change to the sections or the layout, this fails until the file is drawn again with
    `python -m mailer.handoff.questionnaire_form_layout`."""
    shipped = zipfile.ZipFile(FORM_TEMPLATE)
    drawn = zipfile.ZipFile(io.BytesIO(form_template()))
    assert shipped.namelist() == drawn.namelist()
    stale = [name for name in drawn.namelist() if shipped.read(name) != drawn.read(name)]
    assert not stale, f"run python -m mailer.handoff.questionnaire_form_layout ({stale})"


def test_the_service_answers_without_loading_the_spreadsheet_library() -> None:
    """openpyxl is a tenth of a second of the service's start-up; a questionnaire's form is
    a copy of the shipped file, so it is loaded only when a spreadsheet is read or a
    handoff workbook is built (by the workers)."""
    code = ("import sys; import mailer.cli, mailer.check, mailer.runtime, mailer.app, "
            "mailer.pipeline, mailer.courier_process; "
            "from mailer.handoff.questionnaire_form import build_form; "
            "build_form('Acme', 'TR-0001'); print('openpyxl' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


def test_each_form_is_the_shipped_one_with_the_account_and_id_filled_in() -> None:
    shipped = zipfile.ZipFile(FORM_TEMPLATE)
    sent = zipfile.ZipFile(io.BytesIO(build_form("Acme & Sons <EU>", "TR-0042")))
    assert sent.testzip() is None
    assert sent.namelist() == shipped.namelist()
    changed = {name for name in sent.namelist() if sent.read(name) != shipped.read(name)}
    assert changed == {"docProps/core.xml", "xl/worksheets/sheet3.xml"}
    assert b"Acme &amp; Sons &lt;EU&gt;" in sent.read("docProps/core.xml")
    assert b"TR-0042" in sent.read("xl/worksheets/sheet3.xml")
    assert not [name for name in sent.namelist() if b"-slot-7f3a" in sent.read(name)]
