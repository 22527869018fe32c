"""A book of business: one CSV or XLSX file, one account per row, read into request fields.

Managers export these files from a CRM or type them in a spreadsheet, so the reading is as
lenient as the email body's: header names go through the same synonyms (`nCSM`, `Company`,
`Handoff date`...), numbered columns (`Contact 1`, `Contact 2`) are joined, blank rows are
skipped, and dates typed as spreadsheet dates read as ISO dates. Each row is then validated on
its own, so the good rows can start while the others are explained.

Pure: bytes in, rows and decisions out. Which accounts already have an open transition is
passed in by the caller.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date

from mailer.handoff.model import Attachment, RequestProblem, TransitionRequest
from mailer.handoff.questionnaire_form import cell_text
from mailer.handoff.request import RequestParse, request_from_fields
from mailer.handoff.request_fields import (
    ACCOUNT,
    CUSTOMER_CONTACTS,
    INCOMING_CSM,
    OUTGOING_CSM,
    canonical_field,
)
from mailer.handoff.request_lines import merge_fields
from mailer.handoff.spreadsheet_reading import (
    UNREADABLE,
    CellBudget,
    NotAWorkbook,
    SheetCaps,
    SpreadsheetTooLarge,
    capped_rows,
    open_workbook,
)

CSV_TYPES = ("text/csv", "text/comma-separated-values", "application/csv")
XLSX_TYPES = ("spreadsheetml", "ms-excel")
MAX_ROWS = 250  # the default of inbox_rules' limits.max_book_rows
MAX_UNCOMPRESSED_BYTES = 20 * 1024 * 1024
HEADER_SEARCH_ROWS = 5
# Columns a file must have (or the email body must give for every row) to be a book at all.
KEY_COLUMNS = (ACCOUNT, INCOMING_CSM)
# Several columns may feed these fields (`Contact 1`, `Contact 2`); their values are joined.
_JOINED_FIELDS = {CUSTOMER_CONTACTS}
_NUMBERED = re.compile(r"[\s#_-]*\(?\d{1,2}\)?$")


class BookError(Exception):
    """The file cannot be read as a table at all; the message tells the manager what to do."""


@dataclass(frozen=True)
class BookRow:
    """One account's row: its line number as the spreadsheet shows it, and its raw fields."""

    number: int
    fields: dict[str, str]

    @property
    def account(self) -> str:
        return self.fields.get(ACCOUNT, "").strip()


@dataclass(frozen=True)
class BookTable:
    filename: str
    rows: tuple[BookRow, ...]
    columns: dict[str, str] = field(default_factory=dict)  # header as written -> field
    ignored_columns: tuple[str, ...] = ()  # headers that name no request field


def is_spreadsheet(attachment: Attachment) -> bool:
    name = attachment.filename.lower()
    kind = attachment.content_type.lower()
    if name.endswith((".csv", ".xlsx", ".xlsm")):
        return True
    return kind in CSV_TYPES or (any(k in kind for k in XLSX_TYPES) and not name)


def read_book(attachment: Attachment, *, max_rows: int = MAX_ROWS) -> BookTable:
    """The rows of a CSV or XLSX book, keyed by canonical field name.

    The file is streamed once: every row below the header counts toward `max_rows`, blank
    ones too (a file can claim a million empty rows), and a file past it is refused whole
    with the limit named."""
    name = attachment.filename.lower()
    if name.endswith(".csv") or attachment.content_type.lower() in CSV_TYPES:
        return _table(attachment.filename, _csv_rows(attachment.payload), max_rows)
    caps = _xlsx_caps(max_rows)
    try:
        workbook = open_workbook(attachment.payload, caps)
    except NotAWorkbook as exc:
        if not zipfile.is_zipfile(io.BytesIO(attachment.payload)):
            raise BookError("The attachment is not an Excel workbook. Please send the book "
                            "as an .xlsx or .csv file.") from exc
        raise BookError(_DAMAGED) from exc
    except SpreadsheetTooLarge as exc:
        raise BookError(_too_large(exc, max_rows)) from exc
    try:
        budget = CellBudget(caps)
        sheet = _book_sheet(workbook, caps, budget)
        rows = (cells_text(row) for row in capped_rows(sheet, caps, budget)) if sheet \
            else iter(())
        return _table(attachment.filename, rows, max_rows)
    except SpreadsheetTooLarge as exc:
        raise BookError(_too_large(exc, max_rows)) from exc
    except UNREADABLE as exc:
        raise BookError(_DAMAGED) from exc
    finally:
        workbook.close()


_DAMAGED = ("I could not open the spreadsheet; it may be damaged. Please save it again as "
            ".xlsx or .csv and send it once more.")
MAX_SHEETS = 50
MAX_COLUMNS = 60
MAX_TEXT = 2 * 1024 * 1024  # characters in all the cells of a book: far more than requests need


def _xlsx_caps(max_rows: int) -> SheetCaps:
    # The row cap of the book itself is counted below its header; the sheet may hold the
    # header a few rows down.
    return SheetCaps(sheets=MAX_SHEETS, rows=max_rows + HEADER_SEARCH_ROWS + 1,
                     columns=MAX_COLUMNS,
                     cells=(max_rows + HEADER_SEARCH_ROWS + 1) * MAX_COLUMNS,
                     unpacked_bytes=MAX_UNCOMPRESSED_BYTES)


def _too_large(exc: SpreadsheetTooLarge, max_rows: int) -> str:
    if exc.what == "rows":
        return _too_many_rows(max_rows)
    return {"unpacked": "The spreadsheet is far too large once unpacked. Please send only the "
                        "columns of the request, one row per account.",
            "sheets": f"The spreadsheet has more than {exc.limit} sheets. Please send the "
                      "book as one sheet, one row per account.",
            "cells": "The spreadsheet has far more filled cells than a book of "
                     f"{max_rows:,} accounts could need. Please send only the columns of the "
                     "request."}.get(exc.what, "The spreadsheet is far too large.")


def _too_many_rows(max_rows: int) -> str:
    return (f"The file has more than {max_rows:,} rows below its header, counting blank "
            f"ones; one book may hold {max_rows:,} accounts. Please split it into smaller "
            "files (and delete any empty rows at the end).")


def cells_text(row: tuple[object, ...]) -> list[str]:
    return [cell_text(value) for value in row]


def _book_sheet(workbook, caps: SheetCaps, budget: CellBudget):  # noqa: ANN001, ANN202
    """The visible sheet that looks most like a book: the one whose header names the most
    fields, judged from its first rows only."""
    best, best_score = None, -1
    for sheet in workbook.worksheets:
        if sheet.sheet_state != "visible":
            continue
        head = [cells_text(row) for row in capped_rows(sheet, caps, budget,
                                                         last=HEADER_SEARCH_ROWS)]
        score = len(set(_header(head)[1].values()))
        if score > best_score:
            best, best_score = sheet, score
    return best


def _csv_rows(payload: bytes) -> Iterator[list[str]]:
    text = _decode(payload)
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, ",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        for row in csv.reader(io.StringIO(text), dialect):
            yield [cell.strip() for cell in row[:MAX_COLUMNS]]
    except csv.Error as exc:  # a cell over the csv module's field limit, a stray NUL
        raise BookError("I could not read the CSV file past one of its lines "
                        f"({exc}). Please save it again as CSV or .xlsx and send it once "
                        "more.") from exc


def _decode(payload: bytes) -> str:
    # Excel on Windows saves "CSV" in the machine's code page, Excel "CSV UTF-8" with a BOM.
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return payload.decode(encoding)
        except UnicodeDecodeError:
            continue
    return payload.decode("latin-1")


def _field_of(header: str) -> str | None:
    return canonical_field(header) or canonical_field(_NUMBERED.sub("", header))


def _header(grid: list[list[str]]) -> tuple[int, dict[int, str]]:
    """The index of the header row and which field each of its columns holds."""
    best: tuple[int, dict[int, str]] = (0, {})
    for index, row in enumerate(grid[:HEADER_SEARCH_ROWS]):
        columns = {i: name for i, cell in enumerate(row) if (name := _field_of(cell))}
        if len(set(columns.values())) > len(set(best[1].values())):
            best = (index, columns)
    return best


def _table(filename: str, rows: Iterator[list[str]], max_rows: int) -> BookTable:
    """The book from its rows, streamed once: the header is looked for in the first few,
    then every row below it counts toward `max_rows`, and only rows with values are kept."""
    head = list(itertools.islice(rows, HEADER_SEARCH_ROWS))
    header_index, columns = _header(head)
    if len(set(columns.values())) < 2:
        raise BookError("I could not find the column headers. The first row should name the "
                        "columns, for example: Account, Outgoing CSM, Incoming CSM, Customer "
                        "contacts, Type, Effective date.")
    header = head[header_index]
    kept: list[BookRow] = []
    below = itertools.chain(head[header_index + 1:], rows)
    text = 0
    for count, cells in enumerate(below, start=1):
        if count > max_rows:
            raise BookError(_too_many_rows(max_rows))
        text += sum(len(cell) for cell in cells)
        if text > MAX_TEXT:
            raise BookError(f"The file holds more than {MAX_TEXT // 1024 // 1024} MB of text, far "
                            "more than requests need. Please send only the columns of the "
                            "request, one row per account.")
        fields = _row_fields(cells, columns)
        if any(value for value in fields.values()):
            kept.append(BookRow(number=header_index + 1 + count, fields=fields))
    ignored = tuple(cell for i, cell in enumerate(header) if cell.strip() and i not in columns)
    return BookTable(filename=filename, rows=tuple(kept),
                     columns={header[i]: name for i, name in columns.items()},
                     ignored_columns=ignored)


def _row_fields(cells: list[str], columns: Mapping[int, str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for index, name in columns.items():
        value = cells[index].strip() if index < len(cells) else ""
        if not value:
            continue
        if name in fields and name in _JOINED_FIELDS:
            fields[name] = f"{fields[name]}\n{value}"
        else:
            fields.setdefault(name, value)
    return fields


# --- deciding what each row becomes ----------------------------------------------------------


def book_key(account: str, outgoing_email: str) -> tuple[str, str]:
    """What makes two transitions the same: the account (case and spacing aside) and who
    hands it over."""
    return (" ".join(account.casefold().split()), outgoing_email.strip().lower())


@dataclass(frozen=True)
class RowDecision:
    """What becomes of one row: a request to start, an open transition, or problems."""

    row: BookRow
    request: TransitionRequest | None = None
    problems: tuple[RequestProblem, ...] = ()
    already_open: str = ""  # the id of the open transition this row is already running as
    same_as_row: int = 0  # an earlier row of this file for the same account and outgoing CSM

    @property
    def account(self) -> str:
        return self.request.account if self.request else self.row.account


def decide_rows(table: BookTable, defaults: Mapping[str, str], *, today: date,
                open_keys: Mapping[tuple[str, str], str],
                check: Callable[[RequestParse], RequestParse] = lambda parsed: parsed,
                ) -> list[RowDecision]:
    """Every row of the book, validated on its own against the body's defaults.

    `open_keys` maps `book_key(account, outgoing)` to the id of an open transition; a row
    matching one is not started again, which is what makes resending a corrected file safe.
    """
    decisions: list[RowDecision] = []
    seen: dict[tuple[str, str], int] = {}
    for row in table.rows:
        parsed = check(request_from_fields(merge_fields(dict(defaults), row.fields),
                                           today=today))
        if parsed.request is None:
            decisions.append(RowDecision(row=row, problems=parsed.problems))
            continue
        key = book_key(parsed.request.account, parsed.request.outgoing.email)
        if key in open_keys:
            decisions.append(RowDecision(row=row, request=parsed.request,
                                         already_open=open_keys[key]))
        elif key in seen:
            decisions.append(RowDecision(row=row, request=parsed.request, same_as_row=seen[key]))
        else:
            seen[key] = row.number
            decisions.append(RowDecision(row=row, request=parsed.request))
    return decisions


def missing_key_columns(table: BookTable, defaults: Mapping[str, str]) -> list[str]:
    """Key fields with neither a column in the file nor a value in the email body."""
    present = set(table.columns.values()) | {k for k, v in defaults.items() if v.strip()}
    return [name for name in (*KEY_COLUMNS, OUTGOING_CSM, CUSTOMER_CONTACTS)
            if name not in present]


def column_fix(problem: RequestProblem) -> str:
    """What to type in the problem's column: the value part of its `Field: value` fix line."""
    label, found, value = problem.fix_line.partition(": ")
    return value.strip() if found and canonical_field(label) else problem.fix_line




_OUR_SHEET = re.compile(rb'<(?:\w+:)?sheet\b[^>]*\bname="(?:_form|_book_form)"')


def is_our_form(attachment: Attachment) -> bool:
    """A questionnaire form we sent out (single or combined), coming back: not a book.

    Told by the sheet names in the workbook's index (`xl/workbook.xml`), read straight from
    the zip: nothing else of the file is unpacked."""
    try:
        with zipfile.ZipFile(io.BytesIO(attachment.payload)) as archive:
            index = archive.getinfo("xl/workbook.xml")
            if index.file_size > 1024 * 1024:
                return False
            return bool(_OUR_SHEET.search(archive.read(index)))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, ValueError, OSError,
            EOFError, NotImplementedError):
        return False
