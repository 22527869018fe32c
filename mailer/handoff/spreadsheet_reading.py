"""Reading spreadsheets that people send (filled forms, books of business) with caps.

An `.xlsx` is a zip of XML, so a small attachment can unpack into gigabytes, claim a million
rows or a row sixteen thousand cells wide. Workbooks are therefore opened in openpyxl's
read-only mode, which parses a sheet as it is read, and every read goes through here: the zip
is checked before anything is unpacked, and rows are streamed with caps on sheets, rows (blank
rows count: a sheet can claim a cell a million rows down), columns and non-empty cells. A cap
that is reached raises `SpreadsheetTooLarge`, which each reader turns into words for the
person who sent the file.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

# What openpyxl raises for a sheet it cannot read (and, with its own InvalidFileException,
# for a file that is a zip but no workbook it can open). openpyxl itself is imported when a
# spreadsheet comes in: most mail has none, and the service starts faster without it.
UNREADABLE = (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, ValueError, TypeError,
              OSError, EOFError)


@dataclass(frozen=True)
class SheetCaps:
    """How much of a spreadsheet is read at most."""

    sheets: int
    rows: int  # per sheet, blank rows included
    columns: int  # read per row; cells further right are not looked at
    cells: int  # non-empty cells in the whole workbook
    unpacked_bytes: int
    members: int = 2000  # files inside the zip
    characters: int = 1 << 30  # text in the cells read, all sheets together


class NotAWorkbook(Exception):
    """The bytes are not a zip at all, or not a workbook openpyxl can open."""


class SpreadsheetTooLarge(Exception):
    """A cap was reached; `what` names it: sheets, rows, cells, characters or unpacked."""

    def __init__(self, what: str, limit: int, sheet: str = "") -> None:
        super().__init__(f"{what} over {limit}" + (f" on sheet '{sheet}'" if sheet else ""))
        self.what = what
        self.limit = limit
        self.sheet = sheet


def check_archive(payload: bytes, caps: SheetCaps) -> None:
    """Refuse what is no zip, or unpacks too large, before openpyxl unpacks anything."""
    if not zipfile.is_zipfile(io.BytesIO(payload)):
        raise NotAWorkbook("not a zip")
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise NotAWorkbook(str(exc)) from exc
    if len(members) > caps.members:
        raise SpreadsheetTooLarge("unpacked", caps.members)
    if sum(member.file_size for member in members) > caps.unpacked_bytes:
        raise SpreadsheetTooLarge("unpacked", caps.unpacked_bytes)


def open_workbook(payload: bytes, caps: SheetCaps):  # noqa: ANN201 - openpyxl's Workbook
    """The workbook in read-only mode, its values as last saved (never formulas). The caller
    closes it (`workbook.close()`), which releases the zip."""
    check_archive(payload, caps)
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(io.BytesIO(payload), read_only=True, data_only=True)
    except (InvalidFileException, *UNREADABLE) as exc:
        raise NotAWorkbook(str(exc)) from exc
    if len(workbook.sheetnames) > caps.sheets:
        workbook.close()
        raise SpreadsheetTooLarge("sheets", caps.sheets)
    return workbook


class CellBudget:
    """Non-empty cells, and the text in them, read so far across the workbook's sheets."""

    def __init__(self, caps: SheetCaps) -> None:
        self.caps = caps
        self.used = 0
        self.characters = 0

    def spend(self, row: tuple[object, ...], sheet: str) -> None:
        filled = [value for value in row if value is not None and value != ""]
        self.used += len(filled)
        self.characters += sum(len(value) for value in filled if isinstance(value, str))
        if self.used > self.caps.cells:
            raise SpreadsheetTooLarge("cells", self.caps.cells, sheet)
        if self.characters > self.caps.characters:
            raise SpreadsheetTooLarge("characters", self.caps.characters, sheet)


def capped_rows(sheet, caps: SheetCaps, budget: CellBudget, *,  # noqa: ANN001 - a sheet
                first: int = 1, last: int | None = None) -> Iterator[tuple[object, ...]]:
    """The sheet's rows from `first`, values only and `caps.columns` wide, streamed: at most
    `caps.rows` rows of the sheet are read (blank ones count), or SpreadsheetTooLarge."""
    # max_col and max_row are always given: openpyxl would otherwise believe the sheet's own
    # <dimension>, which a hostile file sets to a million rows and 16,384 columns.
    stop = min(last, caps.rows + 1) if last is not None else caps.rows + 1
    number = first - 1
    for number, row in enumerate(sheet.iter_rows(min_row=first, max_row=stop,
                                                 max_col=caps.columns, values_only=True),
                                 start=first):
        if number > caps.rows:
            raise SpreadsheetTooLarge("rows", caps.rows, sheet.title)
        budget.spend(row, sheet.title)
        yield row


def cell_value(workbook, sheet_name: str, coordinate: str,  # noqa: ANN001 - a Workbook
               caps: SheetCaps, budget: CellBudget) -> object:
    """One cell by its address (`$B$1`), read within the caps; None when out of reach."""
    from openpyxl.utils.cell import coordinate_to_tuple  # the workbook is open: imported

    row, column = coordinate_to_tuple(coordinate.replace("$", ""))
    if sheet_name not in workbook.sheetnames or row > caps.rows or column > caps.columns:
        return None
    for values in capped_rows(workbook[sheet_name], caps, budget, first=row, last=row):
        return values[column - 1] if column <= len(values) else None
    return None
