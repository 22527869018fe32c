"""HTML mail as the lines its writer typed, for the readers of requests and answers.

Web clients write one `<div>` or `<p>` per typed line and `<div><br></div>` for a blank one;
a renderer for display (html2text) puts a blank line between every block, which hides where a
paragraph ends. Here each block is one line, a break is a line break, an empty paragraph is a
blank line, a blockquote is `> ` quoted, a table row is one line of tab-separated cells, and a
link keeps its target when its words are not the address itself.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from html.parser import HTMLParser

_BLOCK_TAGS = frozenset(
    {"address", "article", "aside", "dd", "div", "dl", "dt", "footer", "header", "hr", "li"}
    | {"ol", "p", "pre", "section", "table", "tbody", "thead", "tfoot", "ul"}
    | {f"h{level}" for level in range(1, 7)}
)
_HIDDEN_TAGS = frozenset({"head", "script", "style", "title", "xml"})


@dataclass
class _Table:
    """One open `<table>`; a cell is None outside a cell or once the cell held a nested table."""

    row: list[list[str]] | None = None
    cell: list[str] | None = None


class _HtmlLines(HTMLParser):
    """HTML to `Field: value` friendly text: table rows become tab-separated cells, paragraphs
    and breaks become lines, and blockquotes become `> ` quoted lines."""

    def __init__(self, *, headings: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.headings = headings
        self.lines: list[str] = []
        self.current: list[str] = []
        self.quote_depth = 0
        self.link: tuple[str, list[str]] | None = None  # an open <a>: its target, its words
        self.hidden_depth = 0
        self.tables: list[_Table] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href") or ""
            self.link = (href, []) if href else None
        elif tag in _HIDDEN_TAGS:
            self.hidden_depth += 1
        elif tag == "table":
            self._open_table()
        elif tag == "tr" and self.tables:
            self._break()
            self.tables[-1].row = []
        elif tag in ("td", "th") and self.tables and self.tables[-1].row is not None:
            self.tables[-1].cell = []
        elif tag == "blockquote":
            self._break()
            self.quote_depth += 1
        elif tag == "br":
            self._break(keep_blank=True)
        elif tag == "li":
            self._break()
            self.current.append("- ")  # keeps list items recognisable as a list
        elif tag in _BLOCK_TAGS:
            self._break()
            if self.headings and re.fullmatch(r"h[1-6]", tag):
                self.current.append("#" * int(tag[1]) + " ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.link is not None:
            target, words = self.link
            self.link = None
            shown = link_target(target, "".join(words))
            if shown:
                self.handle_data(f" <{shown}>")
        elif tag in _HIDDEN_TAGS:
            self.hidden_depth = max(0, self.hidden_depth - 1)
        elif tag == "table" and self.tables:
            self._break()
            self.tables.pop()
        elif tag in ("td", "th") and self.tables:
            self._close_cell(self.tables[-1])
        elif tag == "tr" and self.tables:
            self._close_row(self.tables[-1])
        elif tag == "blockquote":
            self._break()
            self.quote_depth = max(0, self.quote_depth - 1)
        elif tag in _BLOCK_TAGS:
            self._break()

    def handle_data(self, data: str) -> None:
        if self.hidden_depth:
            return
        text = re.sub(r"[ \t\r\n\f]+", " ", data)  # keeps &nbsp;, which marks a blank paragraph
        if self.link is not None:
            self.link[1].append(text)
        table = self.tables[-1] if self.tables else None
        if table is not None and table.cell is not None:
            if not table.cell:
                table.cell.append("")
            table.cell[-1] += text
        else:
            self.current.append(text)

    def _open_table(self) -> None:
        outer = self.tables[-1] if self.tables else None
        if outer is not None and outer.cell is not None:
            # A table inside a cell means the outer table is layout: its text is plain lines.
            self._emit_cells([*(outer.row or []), outer.cell])
            outer.row, outer.cell = None, None
        self._break()
        self.tables.append(_Table())

    def _close_cell(self, table: _Table) -> None:
        if table.cell is not None and table.row is not None:
            table.row.append(table.cell)
        table.cell = None

    def _close_row(self, table: _Table) -> None:
        if table.row is not None:
            self._emit_cells(table.row)
        table.row = None
        self._break()

    def _emit_cells(self, cells: list[list[str]]) -> None:
        texts = [[" ".join(part.split()) for part in cell if part.strip()] for cell in cells]
        texts = [cell for cell in texts if cell]
        if len(texts) == 1:
            self.lines.extend(self._quoted(part) for part in texts[0])
        elif texts:
            self.lines.append(self._quoted("\t".join(_join_cell_parts(cell) for cell in texts)))

    def _break(self, *, keep_blank: bool = False) -> None:
        table = self.tables[-1] if self.tables else None
        if table is not None and table.cell is not None:
            table.cell.append("")  # a paragraph inside a cell starts a new part of that cell
            return
        raw = "".join(self.current)
        line = raw.replace("\u00a0", " ").strip()
        self.current = []
        if line or keep_blank or "\u00a0" in raw:
            self.lines.append(self._quoted(line))

    def _quoted(self, line: str) -> str:
        return "> " * self.quote_depth + line

    def text(self) -> str:
        self._break()
        return "\n".join(self.lines)


def _join_cell_parts(parts: list[str]) -> str:
    """One line from a cell's paragraphs: sentences run on, bare list items get a `;`."""
    joined = parts[0]
    for part in parts[1:]:
        joined += " " if joined[-1] in ".!?:;," else "; "
        joined += part
    return joined


# The readers of one message ask for the same HTML's lines several times: made once.
@functools.lru_cache(maxsize=4)
def html_to_text(html: str, *, headings: bool = False) -> str:
    """The lines of an HTML body as the readers of requests and answers need them (not for
    display). With `headings`, a heading keeps its level as Markdown `#` marks."""
    parser = _HtmlLines(headings=headings)
    parser.feed(html)
    parser.close()
    return parser.text()


def link_target(href: str, words: str) -> str:
    """The target to show after a link's words, or "" when the words already say it."""
    bare = re.sub(r"^mailto:", "", href.strip(), flags=re.IGNORECASE).split("?", 1)[0]
    said = words.strip().lower().rstrip("/")
    if not bare or bare.startswith("#") or not re.match(r"^(?:https?://|[^@\s]+@)", bare):
        return ""
    if said in (bare.lower().rstrip("/"), href.strip().lower().rstrip("/")) or (
            "@" in bare and bare.lower() in said):
        return ""
    if said and re.sub(r"^https?://", "", bare.lower()).rstrip("/") == said:
        return ""
    return bare
