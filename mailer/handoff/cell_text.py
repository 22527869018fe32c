"""Text from email into spreadsheet cells: always data, never a formula, always valid XML.

Two separate concerns:

* ``safe_cell_text`` makes a string storable: characters XML 1.0 forbids (most C0 controls,
  lone surrogates, U+FFFE/U+FFFF) would make openpyxl or lxml refuse the whole workbook, so each
  one becomes U+FFFD. Everything else, including tabs and line breaks, is kept exactly.
* ``put_text`` writes a string into a cell so that no spreadsheet program evaluates it. openpyxl
  stores any string starting with ``=`` as a formula, so the cell's type is forced back to a
  string; text that a spreadsheet would treat as a formula once someone edits the cell or exports
  it to CSV (``= + - @``, a leading tab or line break) also gets Excel's "quote prefix" flag. The
  value itself is never altered, so reading the workbook back gives the text exactly as written.
"""

from __future__ import annotations

import re
from copy import copy
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # cells come from the workbook writers; reading email never needs openpyxl
    from openpyxl.cell.cell import Cell

# Excel refuses longer cell values; openpyxl would silently cut them.
CELL_TEXT_LIMIT = 32_767

# Everything outside the XML 1.0 "Char" production, named directly: the same set written as
# the production's complement took every process 7 ms to compile at start-up.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_REPLACEMENT = "\ufffd"

# The classic formula-injection triggers, plus their full-width forms, which some Asian-locale
# spreadsheet programs normalise to the ASCII ones.
_FORMULA_TRIGGERS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")


def safe_cell_text(value: str) -> str:
    """The text with every XML-illegal character replaced by U+FFFD; otherwise unchanged.

    Replacing rather than deleting keeps the length and shows the reader that something
    unprintable was there. Line ends become LF, the one line break a spreadsheet cell knows
    (an XML reader turns a written CR LF into LF anyway, depending on the parser).
    """
    if value.isprintable():
        # The common case, checked in C: printable text has no control character (so no CR)
        # and no surrogate or non-character, so nothing to replace.
        return value
    return _XML_ILLEGAL.sub(_REPLACEMENT, value.replace("\r\n", "\n").replace("\r", "\n"))


def excel_length(text: str) -> int:
    """The length Excel counts against ``CELL_TEXT_LIMIT``: UTF-16 code units, so an emoji is 2."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def looks_like_formula(value: str) -> bool:
    """Would a spreadsheet program (or a CSV export of this cell) read this text as a formula?"""
    stripped = value.lstrip(" ")
    return bool(stripped) and stripped[0] in _FORMULA_TRIGGERS


def put_text(cell: Cell, value: str) -> None:
    """Store ``value`` in ``cell`` as plain text that no spreadsheet will evaluate.

    The caller keeps ``value`` within ``CELL_TEXT_LIMIT``; this function never shortens it.
    """
    text = safe_cell_text(value)
    if excel_length(text) > CELL_TEXT_LIMIT:
        raise ValueError(f"cell text is {excel_length(text)} long; the limit is {CELL_TEXT_LIMIT}")
    if not text:
        cell.value = None
        return
    # Stored as it is rather than through ``cell.value``: openpyxl's own check there (illegal
    # characters, the length limit) has just been done above, and the type it infers ("f" for
    # a leading "=", "e" for "#N/A") is replaced by "s" anyway: text from email is data.
    cell._value = text
    cell.data_type = "s"
    if looks_like_formula(text):
        # The flag is this cell's alone: its style array may be shared with other cells
        # (the handoff workbook's are), so the cell gets a copy before it changes.
        cell._style = copy(cell._style)
        cell.quotePrefix = True
