"""The handoff workbook: everything the incoming CSM and the team lead need, in one .xlsx file.

Pure: the caller gathers a ``HandoffData`` (including the moment it was generated) and gets the
file's bytes back. Text that came from email always goes through ``cell_text.put_text``, so it is
stored exactly as written and never evaluated as a formula.
"""

from __future__ import annotations

import functools
import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from openpyxl import Workbook
from openpyxl.cell import Cell
from openpyxl.cell._writer import write_cell
from openpyxl.compat import safe_string
from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
from openpyxl.packaging.extended import ExtendedProperties
from openpyxl.packaging.manifest import Manifest
from openpyxl.packaging.relationship import RelationshipList
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.cell_style import StyleArray
from openpyxl.styles.differential import DifferentialStyleList
from openpyxl.styles.named_styles import NamedStyleList
from openpyxl.styles.stylesheet import write_stylesheet
from openpyxl.styles.table import TableStyleList
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.utils.datetime import to_excel
from openpyxl.utils.indexed_list import IndexedList
from openpyxl.workbook._writer import WorkbookWriter
from openpyxl.workbook.defined_name import DefinedName, DefinedNameDict, DefinedNameList
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.worksheet.datavalidation import DataValidation, DataValidationList
from openpyxl.worksheet.dimensions import DimensionHolder, RowDimension
from openpyxl.worksheet.filters import AutoFilter
from openpyxl.worksheet.print_settings import PrintArea
from openpyxl.worksheet.table import TableList
from openpyxl.writer.excel import ExcelWriter
from openpyxl.writer.theme import theme_xml
from openpyxl.xml.constants import (
    ARC_APP,
    ARC_CONTENT_TYPES,
    ARC_CORE,
    ARC_ROOT_RELS,
    ARC_STYLE,
    ARC_THEME,
    ARC_WORKBOOK,
    ARC_WORKBOOK_RELS,
)
from openpyxl.xml.functions import Element, SubElement, tostring

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
    "Versions",
    "Debrief",
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


def _excel_datetime(moment: datetime, zone: tzinfo) -> datetime:
    """Excel has no time zones: a moment shows the team's wall-clock time (the zone the
    column's header names); a naive one is taken as already in it."""
    return moment.astimezone(zone).replace(tzinfo=None) if moment.tzinfo else moment


def _zone(key: str) -> tzinfo:
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


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


@dataclass(frozen=True)
class _Format:
    font: Font | None = None
    fill: PatternFill | None = None
    alignment: Alignment | None = None
    number_format: str | None = None


_FORMATS = {
    _HEADER: _Format(
        font=Font(bold=True, color="FFFFFF"),
        fill=_HEADER_FILL,
        alignment=Alignment(wrap_text=True, vertical="center"),
    ),
    _TITLE: _Format(font=Font(bold=True, size=14, color="1F4E79")),
    _SUBTITLE: _Format(font=Font(bold=True, size=12, color="1F4E79")),
    _TEXT: _Format(alignment=_WRAP_TOP),
    _LABEL: _Format(font=Font(bold=True), alignment=_WRAP_TOP),
    _EMPHASIS: _Format(font=Font(bold=True, color="1F4E79"), alignment=_WRAP_TOP),
    _DATE: _Format(number_format=_DATE_FORMAT, alignment=_WRAP_TOP),
    _DATETIME: _Format(number_format=_DATETIME_FORMAT, alignment=_WRAP_TOP),
    _FORMER_CONTACT: _Format(font=Font(color="808080", strike=True), alignment=_WRAP_TOP),
    _OPEN_ISSUE: _Format(fill=_OPEN_FILL, alignment=_WRAP_TOP),
}


class _SharedStyle(StyleArray):
    """The style array of one format (the indexes of its font, fill, alignment and number
    format in the workbook), shared by every cell of that format instead of copied into each.

    openpyxl hashes a cell's style array each time it writes the cell, to find the style's
    number; the hash is worked out once here. A change to a shared array would restyle every
    cell holding it, so changing one is refused: a cell that needs a different style gets a
    copy first (as ``put_text`` does for its quote prefix)."""

    _hash: int

    def __new__(cls, values: StyleArray) -> _SharedStyle:
        shared = super().__new__(cls, values)
        shared._hash = hash(tuple(values))
        return shared

    def __hash__(self) -> int:
        return self._hash

    def __setitem__(self, index: object, value: object) -> None:
        raise TypeError("a shared style array cannot change; give the cell a copy")


class _Palette:
    """Each format applied once, to a scratch cell; the resulting style array is then shared
    by every cell of that format, instead of openpyxl looking each part up again per cell."""

    def __init__(self) -> None:
        self._arrays: dict[str, _SharedStyle] = {}

    @property
    def ready(self) -> bool:
        return bool(self._arrays)

    def register_all(self, ws: WriteOnlyWorksheet) -> None:
        """Every format, in one order, whichever a workbook uses: the stylesheet then comes
        out the same each time (see `_stylesheet`)."""
        for name in _FORMATS:
            self.array(name, ws)

    def array(self, name: str, ws: WriteOnlyWorksheet) -> _SharedStyle:
        """The style array of format ``name``, registered with ``ws``'s workbook."""
        prepared = self._arrays.get(name)
        if prepared is None:
            fmt = _FORMATS[name]
            scratch = Cell(ws)
            if fmt.font is not None:
                scratch.font = fmt.font
            if fmt.fill is not None:
                scratch.fill = fmt.fill
            if fmt.alignment is not None:
                scratch.alignment = fmt.alignment
            if fmt.number_format is not None:
                scratch.number_format = fmt.number_format
            prepared = self._arrays[name] = _SharedStyle(scratch._style)
        return prepared


class _StyleRegistry:
    """A workbook's style lists as they stand once openpyxl has set up its defaults and the
    palette has registered every handoff format (`_Palette.register_all`), made once per
    process, with the palette's style arrays. A handoff workbook starts from copies of these
    lists instead of building them again: the same objects in the same order, so every
    style keeps its number and the stylesheet its bytes."""

    LISTS = ("_fonts", "_alignments", "_borders", "_fills", "_number_formats",
             "_protections", "_cell_styles")

    def __init__(self) -> None:
        wb = Workbook(write_only=True)
        self.palette = _Palette()
        self.palette.register_all(_CellSheet(parent=wb, title="Model"))
        self.lists = {name: getattr(wb, name) for name in self.LISTS}
        self.named_styles = tuple(wb._named_styles)
        self.colors = wb._colors

    def give_to(self, wb: Workbook) -> None:
        for name, model in self.lists.items():
            setattr(wb, name, _copy_of(model))
        wb._date_formats, wb._timedelta_formats = {}, {}
        wb._colors = self.colors
        wb._named_styles = NamedStyleList(self.named_styles)
        wb._table_styles = TableStyleList()
        wb._differential_styles = DifferentialStyleList()


def _copy_of(model: IndexedList) -> IndexedList:
    """A copy of an IndexedList with its index, without hashing each value again (a font's
    hash is worked out field by field)."""
    copied = IndexedList()
    copied.extend(model)  # list's own extend: the index comes next, whole
    copied._dict = dict(model._dict)
    return copied


@functools.cache
def _style_registry() -> _StyleRegistry:
    return _StyleRegistry()


class _HandoffWorkbook(Workbook):
    """A write-only workbook whose styles start as `_StyleRegistry` left them: openpyxl's
    own set-up and the palette's registration took a tenth of a small workbook's time."""

    def __init__(self) -> None:
        super().__init__(write_only=True)

    def _setup_styles(self) -> None:
        _style_registry().give_to(self)


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


@dataclass
class _Book:
    """The workbook being built, and the formats its cells share.

    ``shared_parts`` is False only for the reference build the tests compare against: every
    sheet then gets openpyxl's own objects and is written by openpyxl's own steps."""

    wb: Workbook
    palette: _Palette
    zone: tzinfo = UTC  # every moment is shown as this zone's wall time
    shared_parts: bool = True

    def table(self, title: str, headers: Sequence[str], widths: Sequence[float], *,
              header_row: int = 1) -> _Table:
        return _Table(self, title, headers, widths, header_row=header_row)

    def new_sheet(self, title: str, header_row: int) -> _CellSheet:
        if self.shared_parts:
            ws = _CellSheet.with_defaults(self.wb, title, _sheet_defaults(header_row))
        else:
            ws = _CellSheet(parent=self.wb, title=title)
            _lay_out(ws, header_row)
        self.wb._add_sheet(ws)
        if not self.palette.ready:
            self.palette.register_all(ws)
        return ws


def _lay_out(ws: WriteOnlyWorksheet, header_row: int) -> None:
    """What every handoff sheet has: its header frozen and repeated on each printed page,
    printed landscape one page wide."""
    ws.freeze_panes = f"A{header_row + 1}"
    ws.print_title_rows = f"1:{header_row}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


class _SheetDefaults:
    """The settings every handoff sheet with the same header row has (its view with the
    frozen header, page setup, margins, print options, header and footer, and the empty
    parts a handoff sheet never fills), made by openpyxl once per process on a model sheet,
    with the XML openpyxl writes for each.

    openpyxl gives every new sheet about twenty fresh objects and serialises the settings
    again at every save: for a small handoff workbook, over a third of its time. Every sheet
    here shares the model's objects instead, and nothing changes them after `_lay_out`."""

    # The writer's steps whose XML comes from these settings alone, in the order it calls them.
    WRITER_STEPS = ("write_properties", "write_views", "write_format", "write_protection",
                    "write_scenarios", "write_merged_cells", "write_formatting",
                    "write_print", "write_margins", "write_page", "write_header",
                    "write_breaks")
    SHARED = ("sheet_properties", "views", "sheet_format", "protection", "scenarios",
              "merged_cells", "conditional_formatting", "print_options", "page_margins",
              "page_setup", "HeaderFooter", "row_breaks", "col_breaks")

    def __init__(self, header_row: int) -> None:
        model = WriteOnlyWorksheet(Workbook(write_only=True), "Model")
        _lay_out(model, header_row)
        self.model = model
        self.print_rows = model._print_rows
        self.xml = {step: _elements_written(model, step) for step in self.WRITER_STEPS}

    def give_to(self, ws: _CellSheet) -> None:
        for name in self.SHARED:
            setattr(ws, name, getattr(self.model, name))
        ws._print_rows = self.print_rows


@functools.cache
def _sheet_defaults(header_row: int) -> _SheetDefaults:
    return _SheetDefaults(header_row)


class _Recorder:
    """Stands in for a sheet writer's XML stream, keeping what is sent to it."""

    def __init__(self) -> None:
        self.elements: list[Element] = []

    def send(self, element: Element | None) -> None:
        if element is not None:
            self.elements.append(element)


def _elements_written(ws: WriteOnlyWorksheet, step: str) -> tuple[Element, ...]:
    """What openpyxl's writer step ``step`` writes for ``ws``, as XML elements."""
    writer = WorksheetWriter.__new__(WorksheetWriter)
    writer.ws, writer.xf = ws, _Recorder()
    getattr(WorksheetWriter, step)(writer)
    return tuple(writer.xf.elements)


class _CellSheet(WriteOnlyWorksheet):
    """A streamed sheet whose rows are handed over as finished cells, each already carrying
    its row, column and style. openpyxl's own append() first tries every cell as a value,
    fails, formats an error message and makes a spare cell before taking it as a cell."""

    defaults: _SheetDefaults | None = None
    heights: dict[int, float]  # row heights of a sheet with shared defaults

    @classmethod
    def with_defaults(cls, parent: Workbook, title: str, defaults: _SheetDefaults) -> _CellSheet:
        """A sheet sharing ``defaults``; only what a build fills in is new. openpyxl's own
        constructor would make every part afresh (see `_SheetDefaults`)."""
        ws = cls.__new__(cls)
        ws._parent = parent
        ws.title = title
        ws.defaults = defaults
        ws._max_col = ws._max_row = 0
        ws._current_row = 0
        ws.row_dimensions = DimensionHolder(worksheet=ws, default_factory=ws._add_row)
        ws.data_validations = DataValidationList()
        ws.auto_filter = AutoFilter()
        ws.defined_names = DefinedNameDict()
        ws._cells, ws._charts, ws._images, ws._comments, ws._hyperlinks, ws._pivots = (
            {}, [], [], [], [], [])
        ws._rels, ws._tables, ws._drawing, ws.legacy_drawing = (
            RelationshipList(), TableList(), None, None)
        ws.sheet_state = "visible"
        ws.heights = {}
        ws._print_cols, ws._print_area = None, PrintArea()
        defaults.give_to(ws)
        return ws

    def _values_to_row(self, values: Sequence[Cell], row_idx: int) -> Sequence[Cell]:
        return values

    def _get_writer(self) -> None:
        if self._writer is None:
            self._writer = _SheetInMemory(self)
            self._writer.write_top()


class _SheetInMemory(WorksheetWriter):
    """A sheet's XML gathered in memory. openpyxl streams each sheet of a write-only
    workbook into a temporary file of its own and reads it back into the zip: ten files
    made, written, read and removed for every workbook. The parts that come from the
    sheet's shared settings are written from their XML, made once (`_SheetDefaults`)."""

    def __init__(self, ws: _CellSheet) -> None:
        super().__init__(ws, out=io.BytesIO())
        self.defaults = ws.defaults
        self._style_numbers: dict[int, tuple[int, bool]] = {}

    def write_row(self, xf: Any, row: Sequence[Cell], row_idx: int) -> None:
        """A row of handoff cells written as the XML openpyxl writes for them, in one piece.
        openpyxl makes three stream elements and looks the style up again for every cell;
        writing the row here builds a reply's workbook 13% faster. Cells of any other kind (a
        formula, a boolean, an error, rich text, a link, a date with a zone) are left to
        openpyxl's own writer in their place in the row, and a row with a comment to openpyxl
        whole. Tests hold the bytes to openpyxl's."""
        if self.defaults is None or any(cell._comment is not None for cell in row):
            super().write_row(xf, row, row_idx)  # the reference build, or a row with a note
            return
        dimension = self.ws.row_dimensions.get(row_idx)
        if dimension is not None:
            extra = "".join(f' {name}="{value}"' for name, value in dimension)
        else:
            height = self.ws.heights.get(row_idx)
            extra = "" if height is None else _row_height_attributes(height)
        parts = [f'<row r="{row_idx}"{extra}>']
        for cell in row:
            number, styled = self._style_number(cell._style)
            if cell._value is None and not styled:
                continue  # as openpyxl: an empty cell without a style is left out
            xml = _cell_xml(cell, number if styled else None, self.ws.parent)
            if xml is None:
                self._write_text(xf, parts)
                parts = []
                write_cell(xf, self.ws, cell, styled)
            else:
                parts.append(xml)
        parts.append("</row>")
        self._write_text(xf, parts)

    def _write_text(self, xf: Any, parts: list[str]) -> None:
        """XML made here, after whatever lxml still holds: as lxml writes it, in ASCII."""
        if parts:
            xf.flush()
            self.out.write("".join(parts).encode("ascii", "xmlcharrefreplace"))

    def _style_number(self, style: StyleArray | None) -> tuple[int, bool]:
        """A style's number in the workbook and whether it is styled at all. A shared style
        is looked up once per sheet; the palette keeps it alive, so its id stays its own."""
        if style is None:
            return 0, False  # a cell never styled (openpyxl's has_style)
        known = self._style_numbers.get(id(style)) if isinstance(style, _SharedStyle) else None
        if known is None:
            known = (self.ws.parent._cell_styles.add(style), any(style))
            if isinstance(style, _SharedStyle):
                self._style_numbers[id(style)] = known
        return known

    def _write_shared(self, step: str) -> None:
        if self.defaults is None:
            getattr(super(), step)()
            return
        for element in self.defaults.xml[step]:
            self.xf.send(element)

    def write_properties(self) -> None:
        self._write_shared("write_properties")

    def write_views(self) -> None:
        self._write_shared("write_views")

    def write_format(self) -> None:
        self._write_shared("write_format")

    def write_protection(self) -> None:
        self._write_shared("write_protection")

    def write_scenarios(self) -> None:
        self._write_shared("write_scenarios")

    def write_merged_cells(self) -> None:
        self._write_shared("write_merged_cells")

    def write_formatting(self) -> None:
        self._write_shared("write_formatting")

    def write_print(self) -> None:
        self._write_shared("write_print")

    def write_margins(self) -> None:
        self._write_shared("write_margins")

    def write_page(self) -> None:
        self._write_shared("write_page")

    def write_header(self) -> None:
        self._write_shared("write_header")

    def write_breaks(self) -> None:
        self._write_shared("write_breaks")


# What lxml escapes in a text node: written the same way, the bytes match openpyxl's.
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


def _cell_xml(cell: Cell, style: int | None, wb: Workbook) -> str | None:
    """A text, number or date cell as openpyxl's writer writes it; None for any other."""
    value, kind = cell._value, cell.data_type
    if cell.hyperlink is not None:
        return None
    if kind == "d":
        if wb.iso_dates or getattr(value, "tzinfo", None) is not None:
            return None
        value, kind = to_excel(value, wb.epoch), "n"
    elif kind not in ("s", "n") or (kind == "s" and not isinstance(value, str)):
        return None  # rich text among them
    start = f'<c r="{cell.coordinate}"' + (f' s="{style}"' if style is not None else "")
    if value is None or value == "":
        return f'{start} t="{"inlineStr" if kind == "s" else kind}"></c>'
    if kind == "s":
        space = ' xml:space="preserve"' if value != value.strip() else ""
        return (f'{start} t="inlineStr"><is><t{space}>{value.translate(_TEXT_ESCAPES)}'
                "</t></is></c>")
    return f'{start} t="n"><v>{safe_string(value)}</v></c>'


class _ZipWriter(ExcelWriter):
    """openpyxl's writer, taking each sheet's XML from memory (`_SheetInMemory`) and, unless
    ``shared_parts`` is off, writing the parts every handoff workbook has in common (the
    document's application properties, its stylesheet) from the XML of the first."""

    def __init__(self, workbook: Workbook, archive: zipfile.ZipFile, *,
                 shared_parts: bool = True) -> None:
        super().__init__(workbook, archive)
        self.shared_parts = shared_parts

    def write_data(self) -> None:
        if not self.shared_parts:
            super().write_data()
            return
        # openpyxl's own steps, for a workbook of plain sheets: no custom properties, charts,
        # images, external links or macros.
        archive, wb = self._archive, self.workbook
        archive.writestr(ARC_APP, _application_properties())
        archive.writestr(ARC_CORE, tostring(wb.properties.to_tree()))
        archive.writestr(ARC_THEME, theme_xml)
        self._write_worksheets()
        archive.writestr(ARC_STYLE, _stylesheet(wb))
        writer = _PackageWriter(wb)
        archive.writestr(ARC_ROOT_RELS, writer.write_root_rels())
        archive.writestr(ARC_WORKBOOK, writer.write())
        archive.writestr(ARC_WORKBOOK_RELS, writer.write_rels())
        archive.writestr(ARC_CONTENT_TYPES, _content_types(self.manifest, archive, wb))

    def write_worksheet(self, ws: WriteOnlyWorksheet) -> None:
        ws._drawing = SpreadsheetDrawing()
        ws._drawing.charts, ws._drawing.images = ws._charts, ws._images
        if not ws.closed:
            ws.close()
        writer = ws._writer
        ws._rels = writer._rels
        self._archive.writestr(ws.path[1:], writer.out.getvalue())
        self.manifest.append(ws)


@functools.cache
def _application_properties() -> bytes:
    return tostring(ExtendedProperties().to_tree())


# Package parts written so far in this process, by what each is written from (compared by
# value: a key holds names and paths, never a workbook). A handoff workbook has the same ten
# sheets each time, so after the first build these are looked up, not made again.
_PACKAGE_PARTS: dict[tuple[object, ...], bytes] = {}
_PACKAGE_PARTS_KEPT = 64


def _package_part(key: tuple[object, ...], make: Callable[[], bytes]) -> bytes:
    xml = _PACKAGE_PARTS.get(key)
    if xml is None:
        if len(_PACKAGE_PARTS) >= _PACKAGE_PARTS_KEPT:
            _PACKAGE_PARTS.clear()
        xml = _PACKAGE_PARTS[key] = make()
    return xml


def _content_types(manifest: Manifest, archive: zipfile.ZipFile, wb: Workbook) -> bytes:
    """``[Content_Types].xml``, as openpyxl's ``Manifest._write`` writes it: from the parts
    the manifest names (the sheets, the workbook) and the extensions of the files in the
    zip. A plain workbook has no VBA project, whose parts openpyxl would add."""
    def make() -> bytes:
        manifest.append(wb)
        manifest._register_mimetypes(filenames=archive.namelist())
        return tostring(manifest.to_tree())

    key = ("content types", tuple((part.PartName, part.ContentType) for part in manifest.Override),
           wb.path, wb.mime_type, tuple(archive.namelist()))
    return _package_part(key, make)


class _PackageWriter(WorkbookWriter):
    """openpyxl's writer of ``workbook.xml`` and the package's relationships, for a workbook
    of plain sheets (no pivot tables, external links, VBA or custom properties), taking the
    parts that follow from its sheets' titles alone from the XML written the first time.

    Of ``workbook.xml`` only the defined names (each sheet's filter range and print titles)
    change from one handoff workbook to the next: they are written afresh each time, by
    openpyxl, between the XML that comes before and after them."""

    def write(self) -> bytes:
        names = _sheet_names_xml(self.wb)
        if names is None:  # names of another kind: openpyxl writes them
            self.write_names()
            if not self.package.definedNames.definedName:
                return super().write()
            names = tostring(self.package.definedNames.to_tree())
        around = _package_part(("workbook", *self._shape), self._workbook_around_names)
        return around.replace(b"\0", names, 1)

    def write_rels(self) -> bytes:
        def make() -> bytes:
            writer = WorkbookWriter(self.wb)
            writer.write()  # which gathers the sheets' relationships
            return writer.write_rels()

        return _package_part(("workbook rels", *self._shape), make)

    def write_root_rels(self) -> bytes:
        return _package_part(("root rels", *self._shape), super().write_root_rels)

    @functools.cached_property
    def _shape(self) -> tuple[object, ...]:
        """What the cached parts are written from, besides the defined names."""
        wb = self.wb
        return (tuple((ws.title, ws.sheet_state, ws.path, ws._rel_type) for ws in wb._sheets),
                wb.code_name, wb.excel_base_date, wb._active_sheet_index,
                tuple(tostring(view.to_tree()) for view in wb.views),
                tostring(wb.calculation.to_tree()),
                tostring(wb.security.to_tree()) if wb.security else None)

    def _workbook_around_names(self) -> bytes:
        """The XML before and after ``<definedNames>``, kept as one value: the two halves
        joined by a NUL byte, which XML never holds. Found by writing the workbook once
        with a marker name in place of its own."""
        writer = WorkbookWriter(self.wb)
        marker = DefinedNameList(definedName=[DefinedName(name="mailer_marker", attr_text="0")])
        writer.write_names = lambda: setattr(  # type: ignore[method-assign]
            writer.package, "definedNames", marker)
        before, found, after = writer.write().partition(tostring(marker.to_tree()))
        if not found:
            raise AssertionError("openpyxl wrote the defined names other than on their own")
        return before + b"\0" + after


def _sheet_names_xml(wb: Workbook) -> bytes | None:
    """``<definedNames>`` as openpyxl's `write_names` writes it for a workbook whose only
    names are its sheets' filter ranges and print titles, as a handoff workbook's are (a
    tenth of building one, through openpyxl's objects); None for any other workbook."""
    sheets = wb.worksheets
    if wb.defined_names or any(ws.defined_names or ws.print_area for ws in sheets):
        return None
    names: list[str] = []
    for index, ws in enumerate(sheets):
        if ws.auto_filter:
            where = f"{quote_sheetname(ws.title)}!{ws.auto_filter}".translate(_TEXT_ESCAPES)
            names.append(f'<definedName name="_xlnm._FilterDatabase" localSheetId="{index}" '
                         f'hidden="1">{where}</definedName>')
        if ws.print_titles:
            titles = ws.print_titles.translate(_TEXT_ESCAPES)
            names.append(f'<definedName name="_xlnm.Print_Titles" localSheetId="{index}">'
                         f"{titles}</definedName>")
    if not names:
        return None
    return f"<definedNames>{''.join(names)}</definedNames>".encode("ascii", "xmlcharrefreplace")


# The stylesheets written so far in this process, by what each was written from. Keys hold
# no workbook (a named style does: only the names are in the key), so none is kept alive.
_STYLESHEETS: dict[tuple[object, ...], bytes] = {}
_STYLESHEETS_KEPT = 16


def _stylesheet(wb: Workbook) -> bytes:
    """The stylesheet's XML. The palette registers its formats in one order, so workbooks
    differ at most by a quote-prefixed copy of a format; the key is what the stylesheet is
    written from, compared by value."""
    key = (tuple(wb._fonts), tuple(wb._fills), tuple(wb._borders), tuple(wb._alignments),
           tuple(wb._protections), tuple(wb._number_formats),
           tuple(tuple(array) for array in wb._cell_styles),
           tuple(style.name for style in wb._named_styles),
           tuple(wb._differential_styles.styles), wb._table_styles, tuple(wb._colors or ()))
    xml = _STYLESHEETS.get(key)
    if xml is None:
        if len(_STYLESHEETS) >= _STYLESHEETS_KEPT:
            _STYLESHEETS.clear()
        xml = _STYLESHEETS[key] = tostring(write_stylesheet(wb))
    return xml


class _ColumnWidths(DimensionHolder):
    """A sheet's column widths, written as its ``<cols>`` element straight from the numbers.

    openpyxl's own holder makes, validates and later serialises a ColumnDimension object per
    column, at a cost near that of writing a small sheet's rows. The XML is the same. The
    widths are given whole when the sheet is made: asking for another column is a KeyError
    rather than a width that would silently never be written."""

    def __init__(self, ws: WriteOnlyWorksheet, widths: Sequence[float]) -> None:
        super().__init__(worksheet=ws)
        self._widths = tuple(widths)

    def to_tree(self) -> Element:
        return _cols_element(self._widths)


@functools.lru_cache(maxsize=64)
def _cols_element(widths: tuple[float, ...]) -> Element:
    """The ``<cols>`` element of these widths, made once: each sheet kind has its own fixed
    widths, and the element is only ever written out, never changed."""
    cols = Element("cols")
    for column, width in enumerate(widths, start=1):
        number = str(column)
        SubElement(cols, "col", width=safe_string(float(width)), customWidth="1",
                   min=number, max=number)
    return cols


@functools.lru_cache(maxsize=512)
def _row_height_attributes(height: float) -> str:
    """The attributes openpyxl writes on a row of this height and no other setting."""
    dimension = RowDimension(worksheet=None, index=1, ht=height)
    return "".join(f' {name}="{value}"' for name, value in dimension)


class _Table:
    """One sheet laid out as a table: styled frozen header, widths, print setup, row heights.

    The workbook is written in openpyxl's streaming (write-only) mode, which needs each row
    whole and in order, with its height known before it is written. So cells are gathered
    per row here and streamed by `finish()`, which `build_workbook` calls for every sheet.
    """

    def __init__(
        self,
        book: _Book,
        title: str,
        headers: Sequence[str],
        widths: Sequence[float],
        *,
        header_row: int = 1,
    ) -> None:
        self.ws = book.new_sheet(title, header_row)
        self.header_row = header_row
        if len(widths) != len(headers):
            raise ValueError(f"{len(headers)} headers but {len(widths)} widths")
        self._widths = tuple(widths)
        self._column_count = len(headers)
        self._palette = book.palette
        self._zone = book.zone
        self._rows: dict[int, dict[int, Cell]] = {}
        self._heights: dict[int, float] = {}
        ws = self.ws
        for column, header in enumerate(headers, start=1):
            self._put(header_row, column, header, _HEADER)
        ws.column_dimensions = _ColumnWidths(ws, widths)

    def _put(self, row: int, column: int, value: CellValue, style: str) -> Cell:
        cell = Cell(self.ws, row, column)
        cell._style = self._palette.array(style, self.ws)
        if value is not None:
            cell.value = value  # after the style, whose date format a date then keeps
        self._rows.setdefault(row, {})[column] = cell
        return cell

    def write(self, row: int, column: int, value: CellValue, style: str = _TEXT) -> None:
        if isinstance(value, str):  # most cells: tested first
            put_text(self._put(row, column, None, style), value)
            self._make_room(row, column, value)
        elif isinstance(value, datetime):
            self._put(row, column, _excel_datetime(value, self._zone), _DATETIME)
        elif isinstance(value, date):
            self._put(row, column, value, _DATE)
        else:
            self._put(row, column, value, style)

    def write_row(self, row: int, values: Sequence[CellValue], style: str = _TEXT) -> None:
        for column, value in enumerate(values, start=1):
            self.write(row, column, value, style)

    def write_title(self, row: int, text: str, style: str) -> None:
        """A heading in the first column, left unwrapped so it runs across the empty cells
        to its right."""
        put_text(self._put(row, 1, None, style), text)

    def filter_down_to(self, last_row: int) -> None:
        """Put the auto-filter over the header and the data rows down to ``last_row``."""
        last_column = get_column_letter(self._column_count)
        bottom = max(last_row, self.header_row)
        self.ws.auto_filter.ref = f"A{self.header_row}:{last_column}{bottom}"

    def finish(self) -> None:
        """Stream the gathered rows into the sheet, in order, each with its height."""
        for row in range(1, max(self._rows, default=0) + 1):
            cells = self._rows.get(row, {})
            if row in self._heights:
                if self.ws.defaults is not None:
                    self.ws.heights[row] = self._heights[row]  # written by `_SheetInMemory`
                else:
                    self.ws.row_dimensions[row].height = self._heights[row]
            self.ws.append([cells[column] for column in sorted(cells)])

    def _make_room(self, row: int, column: int, text: str) -> None:
        width = self._widths[column - 1]
        if len(text) <= width and "\n" not in text:
            return  # the common case: one short line
        lines = _wrapped_line_count(text, width)
        if lines < 2:
            return
        height = min(_MAX_ROW_HEIGHT, lines * _LINE_HEIGHT)
        if self._heights.get(row, 0) < height:
            self._heights[row] = height


def _drop_down(ws: WriteOnlyWorksheet, choices: Sequence[str], cells: str, what: str) -> None:
    validation = DataValidation(
        type="list",
        formula1='"' + ",".join(choices) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle=f"Please pick a {what}",
        error=f"Choose one of: {', '.join(choices)}.",
    )
    validation.add(cells)
    ws.data_validations.append(validation)


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
        ("Customer sentiment", _answer(data, SENTIMENT), _EMPHASIS),
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
        (f"Workbook made at ({data.zone})", data.generated_at, _TEXT),
    ]


def _add_overview(book: _Book, data: HandoffData, summary: HandoffSummary) -> _Table:
    table = book.table("Overview", ("Topic", "Details"), (38, 100), header_row=2)
    table.write_title(1, _fit_cell(f"{data.account} \u2014 handoff brief ({data.transition_id})"),
                      _TITLE)
    rows = _overview_rows(data, summary)
    for row, (label, value, style) in enumerate(rows, start=3):
        table.write(row, 1, label, _LABEL)
        table.write(row, 2, _fit_cell(value) if isinstance(value, str) else value, style)
    table.filter_down_to(2 + len(rows))
    return table


def _add_contacts(book: _Book, data: HandoffData) -> _Table:
    headers = ("Name", "Title", "Email", "Role on the account", "Still there?", "Notes")
    table = book.table("Contacts", headers, (26, 28, 32, 20, 13, 60))
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
    return table


def _add_issues(book: _Book, data: HandoffData) -> _Table:
    table = book.table("Issues", ("Issue", "Status", "Notes"), (60, 12, 60))
    for row, issue in enumerate(data.issues, start=2):
        style = _OPEN_ISSUE if issue.status == IssueStatus.OPEN else _TEXT
        values = (_fit_cell(issue.text), str(issue.status), _fit_cell(issue.notes))
        table.write_row(row, values, style)
    last_row = 1 + len(data.issues)
    statuses = [status.value for status in IssueStatus]
    _drop_down(table.ws, statuses, f"B2:B{last_row + _SPARE_ROWS}", "status")
    table.filter_down_to(last_row)
    return table


def _add_topic_sheet(
    book: _Book, title: str, rows: Sequence[tuple[str, CellValue]], *, heading: str
) -> _Table:
    table = book.table(title, ("Topic", heading), (28, 110))
    for row, (topic, value) in enumerate(rows, start=2):
        table.write(row, 1, topic, _LABEL)
        table.write(row, 2, value)
    table.filter_down_to(1 + len(rows))
    return table


def _add_wins_and_goals(book: _Book, data: HandoffData) -> _Table:
    sections = (SUCCESSES, GOALS, PROJECTS)
    rows = [(_section_title(data, section), _answer(data, section)) for section in sections]
    return _add_topic_sheet(book, "Wins & Goals", rows, heading="What the outgoing CSM wrote")


def _add_contract(book: _Book, data: HandoffData) -> _Table:
    renewal: CellValue = data.renewal_date or "Not known yet"
    rows: list[tuple[str, CellValue]] = [("Renewal date", renewal)]
    for section in (CONTRACT, RENEWAL_RISK, COMMUNICATION, EVENTS, DOCUMENTS):
        rows.append((_section_title(data, section), _answer(data, section)))
    return _add_topic_sheet(book, "Contract", rows, heading="Details")


def _add_plan(book: _Book, data: HandoffData) -> _Table:
    headers = ("Step", "Owner", "Sent to", f"When ({data.zone})", "Status")
    table = book.table("Plan", headers, (44, 22, 30, 18, 16))
    for row, step in enumerate(data.plan, start=2):
        # A step's title comes from a playbook a person wrote, its recipients from mail:
        # either may be longer than a cell holds.
        table.write_row(row, (_fit_cell(step.step, _SHORTENED), _fit_cell(step.owner, _SHORTENED),
                              _fit_cell(step.to, _SHORTENED), step.due,
                              _fit_cell(step.status, _SHORTENED)))
    table.filter_down_to(1 + len(data.plan))
    return table


def _add_answers(book: _Book, data: HandoffData) -> _Table:
    headers = ("Section", "Section title", "Part", "Answer as written",
               f"Received ({data.zone})")
    table = book.table("Answers", headers, (9, 24, 9, 110, 18))
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
    return table


def _add_history(book: _Book, data: HandoffData) -> _Table:
    headers = (f"When ({data.zone})", "Direction", "From", "To", "Subject", "What it was")
    table = book.table("History", headers, (18, 11, 32, 40, 50, 50))
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
    table.filter_down_to(1 + len(data.history))
    return table


def _add_versions(book: _Book, data: HandoffData) -> _Table:
    """Each version of this workbook and what changed in it: a sheet of its own, so that
    History stays one table a filter works on."""
    table = book.table("Versions", (f"Saved ({data.zone})", "Version", "What changed"),
                       (18, 9, 110))
    for row, version in enumerate(data.versions, start=2):
        table.write_row(row, (version.at, version.version,
                              _fit_cell(version.summary, _SHORTENED)))
    table.filter_down_to(1 + len(data.versions))
    return table


_NO_DEBRIEF = ("Not yet: the incoming CSM is asked for a debrief after the hand-over, and "
               "their answer appears here.")


def _add_debrief(book: _Book, data: HandoffData) -> _Table:
    """What worked and what did not, in the incoming CSM's words (DOMAIN.md, phase 8)."""
    text = _fit_cell(data.debrief) if data.debrief.strip() else _NO_DEBRIEF
    rows: list[tuple[str, CellValue]] = [
        (f"Debrief from {data.incoming.name or data.incoming.email}", text)]
    return _add_topic_sheet(book, "Debrief", rows, heading="What the incoming CSM wrote")


def build_workbook(data: HandoffData, *, shared_parts: bool = True) -> bytes:
    """The handoff workbook as .xlsx bytes. Without ``shared_parts``, the same file built
    by openpyxl's own steps alone: the tests' reference (see `_SheetDefaults`)."""
    if shared_parts:
        wb: Workbook = _HandoffWorkbook()
        palette = _style_registry().palette
    else:
        wb, palette = Workbook(write_only=True), _Palette()
    book = _Book(wb, palette, _zone(data.zone), shared_parts=shared_parts)
    made_at = data.generated_at.astimezone(UTC).replace(tzinfo=None)  # file properties: UTC
    wb.properties.created = made_at
    wb.properties.modified = made_at
    wb.properties.creator = "Transitions assistant"
    wb.properties.title = safe_cell_text(f"{data.account} handoff {data.transition_id}")

    tables = (
        _add_overview(book, data, summarise(data)),
        _add_contacts(book, data),
        _add_issues(book, data),
        _add_wins_and_goals(book, data),
        _add_contract(book, data),
        _add_plan(book, data),
        _add_answers(book, data),
        _add_history(book, data),
        _add_versions(book, data),
        _add_debrief(book, data),
    )
    for table in tables:
        table.finish()

    buffer = io.BytesIO()
    archive = zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED)
    _ZipWriter(wb, archive, shared_parts=shared_parts).save()  # closes the zip
    return buffer.getvalue()
