"""Reading a book of business: spreadsheets as managers really export them."""

from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from openpyxl import Workbook, load_workbook

from mailer.config.settings import SHIPPED_DEFAULTS
from mailer.handoff.book import (
    BookError,
    book_key,
    column_fix,
    decide_rows,
    is_spreadsheet,
    read_book,
)
from mailer.handoff.book_form import (
    FormAccount,
    build_combined_form,
    read_combined_form,
    sheet_title,
)
from mailer.handoff.model import Attachment, RequestProblem

TODAY = date(2027, 1, 11)


def csv_file(text: str, name: str = "book.csv") -> Attachment:
    return Attachment(name, "text/csv", text.encode("cp1252"))


def xlsx_file(rows: list[list[object]], *, title: str = "Accounts") -> Attachment:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return Attachment("book.xlsx", "application/vnd.openxmlformats-officedocument."
                      "spreadsheetml.sheet", buffer.getvalue())


def test_a_european_excel_csv_with_semicolons_and_lenient_headers_is_read():
    table = read_book(csv_file(
        "Customer account;Current CSM;New CSM;Contact 1;Contact 2;Hand-off date\r\n"
        "Café Müller;sam@example.com;Rita <rita@example.com>;ana@cafe.test;bo@cafe.test;"
        "1 Feb 2027\r\n;;;;;\r\n"
        "Globex;sam@example.com;lee@example.com;hank@globex.test;;2027-02-03\r\n"))
    assert [row.number for row in table.rows] == [2, 4], "the blank line 3 is skipped"
    first = table.rows[0].fields
    assert first["Account"] == "Café Müller"
    assert first["Customer contacts"] == "ana@cafe.test\nbo@cafe.test"
    assert first["Effective date"] == "1 Feb 2027"
    assert table.columns["New CSM"] == "Incoming CSM"


def test_an_xlsx_with_a_title_row_dates_and_an_extra_column():
    table = read_book(xlsx_file([
        ["Q1 reassignments"],
        ["Company", "tCSM", "nCSM", "Customer", "Effective", "ARR"],
        ["Initech", "sam@example.com", "rita@example.com", "bill@initech.test",
         datetime(2027, 2, 1), 120000],
    ]))
    [row] = table.rows
    assert row.number == 3 and row.fields["Effective date"] == "2027-02-01"
    assert table.ignored_columns == ("ARR",)


@pytest.mark.parametrize("attachment, words", [
    (csv_file("Name,Size\r\nfoo,1\r\n"), "column headers"),
    (Attachment("book.xlsx", "application/octet-stream", b"not a zip"), "not an Excel"),
])
def test_a_file_that_is_not_a_book_is_explained(attachment, words):
    with pytest.raises(BookError) as caught:
        read_book(attachment)
    assert words in str(caught.value)


def test_only_spreadsheets_are_books():
    assert is_spreadsheet(csv_file("a"))
    assert is_spreadsheet(Attachment("Book1.XLSX", "application/octet-stream", b""))
    assert not is_spreadsheet(Attachment("deck.pdf", "application/pdf", b""))


def test_each_row_is_decided_on_its_own_with_the_body_as_defaults():
    table = read_book(csv_file(
        "Account,Incoming CSM,Customer contacts,Type\r\n"
        "Initech,rita@example.com,bill@initech.test,\r\n"
        "Globex,Rita,hank@globex.test,\r\n"
        "  INITECH ,lee@example.com,bill@initech.test,\r\n"
        "Hooli,lee@example.com,gavin@hooli.test,hard\r\n"
        "Umbrella,lee@example.com,alice@umbrella.test,\r\n"))
    decisions = decide_rows(table, {"Outgoing CSM": "Sam <sam@example.com>", "Type": "soft"},
                            today=TODAY,
                            open_keys={book_key("umbrella", "SAM@example.com"): "TR-0007"})
    initech, globex, again, hooli, umbrella = decisions
    assert initech.request is not None and initech.request.outgoing.email == "sam@example.com"
    assert [p.field for p in globex.problems] == ["Incoming CSM"]
    assert again.same_as_row == 2, "same account (case and spaces aside) and outgoing CSM"
    assert [p.field for p in hooli.problems] == ["Last day"], "a row's Type beats the body's"
    assert umbrella.already_open == "TR-0007"


def test_the_fix_names_what_to_type_in_the_column():
    problem = RequestProblem("Incoming CSM", "no address", "Incoming CSM: Rita <name@x.com>")
    assert column_fix(problem) == "Rita <name@x.com>"


def test_the_combined_form_round_trips_answers_per_account():
    accounts = [FormAccount("TR-0001", "Initech", "Rita", (1, 2)),
                FormAccount("TR-0002", "Umbrella: EU / [West]", "Lee", (1, 2))]
    payload = build_combined_form(accounts)
    workbook = load_workbook(io.BytesIO(payload))
    eu = workbook[sheet_title("TR-0002", "Umbrella: EU / [West]")]
    eu.title = "Umbrella renamed"  # people rename sheets; the id under the questions remains
    eu["D3"] = "Happy, mostly"
    workbook["TR-0001 Initech"]["D2"] = "Bill, CTO, bill@initech.test, champion"
    buffer = io.BytesIO()
    workbook.save(buffer)
    answers = read_combined_form(buffer.getvalue(), {"TR-0001", "TR-0002"})
    assert answers == {"TR-0001": {1: "Bill, CTO, bill@initech.test, champion"},
                       "TR-0002": {2: "Happy, mostly"}}
    assert sheet_title("TR-0002", "Umbrella: EU / [West]") == "TR-0002 Umbrella EU West"


def test_a_wrong_book_questionnaire_setting_names_its_line_and_fix(tmp_path):

    from mailer.config.playbooks import load_playbook
    from mailer.errors import ConfigErrors

    source = (SHIPPED_DEFAULTS / "playbooks" / "soft.yaml").read_text()
    path = tmp_path / "soft.yaml"
    path.write_text(source.replace("checkin_days: 60\n",
                                   "checkin_days: 60\nbook_questionnaire: merged\n"))
    with pytest.raises(ConfigErrors) as caught:
        load_playbook(path)
    [error] = caught.value.errors
    assert error.line == source.splitlines().index("checkin_days: 60") + 2
    assert "combined" in error.fix and "separate" in error.fix
    path.write_text(source.replace("checkin_days: 60\n",
                                   "checkin_days: 60\nbook_questionnaire: combined\n"))
    assert load_playbook(path).book_questionnaire == "combined"
