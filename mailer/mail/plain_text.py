"""The text/plain part, read off the same HTML the reader sees: clean text, no Markdown.

Headings are lines of their own, lists keep a `-` or their number, a two-column table reads
`Label: value` and a wider one one line per row, a quote and a copyable block are indented,
emphasis and code marks disappear. Whitespace is collapsed as a browser collapses it, except
inside a block that is copied as it stands.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser

INDENT = "    "
_BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote",
           "pre", "table", "thead", "tbody", "tr", "th", "td", "hr"}
_VOID = {"br", "hr", "img", "meta", "link", "input", "col"}
_SPACES = re.compile(r"[ \t\r\n\f]+")


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[_Node | str] = field(default_factory=list)


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("root")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = _Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def html_to_text(html: str) -> str:
    """Clean text for the text/plain part of an email whose HTML body is `html`."""
    return joined_text(text_blocks(html))


def text_blocks(html: str) -> tuple[str, ...]:
    """The text blocks of an HTML fragment made of whole blocks (paragraphs, lists, tables):
    what `html_to_text` reads off it, before the blocks are joined. Converting a page block
    by block gives the same text as converting it whole, so the blocks every mail shares can
    be converted once."""
    parser = _Tree()
    parser.feed(html)
    parser.close()
    return tuple(_blocks(parser.root))


def joined_text(blocks: Iterable[str]) -> str:
    return "\n\n".join(b for b in blocks if b.strip()).strip("\n") + "\n"


def _blocks(node: _Node) -> list[str]:
    """The node's content as a list of blocks (each a text without surrounding blank lines)."""
    blocks: list[str] = []
    inline: list[_Node | str] = []

    def flush() -> None:
        text = _inline_text(inline)
        if text.strip():
            blocks.append(text)
        inline.clear()

    for child in node.children:
        if isinstance(child, str) or child.tag not in _BLOCKS:
            inline.append(child)
            continue
        flush()
        blocks.extend(_block(child))
    flush()
    return blocks


def _block(node: _Node) -> list[str]:
    tag = node.tag
    if tag in ("ul", "ol"):
        return [_list(node)]
    if tag == "blockquote":
        inner = "\n\n".join(_blocks(node))
        return [_indent(inner)] if inner.strip() else []
    if tag == "pre":
        text = _raw_text(node).strip("\n")
        return [_indent(text)] if text.strip() else []
    if tag == "table":
        return [_table(node)]
    if tag == "hr":
        return []
    return _blocks(node)


def _list(node: _Node) -> str:
    start = int(node.attrs.get("start", "1") or 1) if node.tag == "ol" else 0
    lines: list[str] = []
    number = start
    for item in node.children:
        if not isinstance(item, _Node) or item.tag != "li":
            continue
        marker = f"{number}. " if node.tag == "ol" else "- "
        number += 1
        body = "\n\n".join(_blocks(item)) if _has_blocks(item) else _inline_text(item.children)
        first, *rest = body.strip("\n").split("\n") or [""]
        lines.append(marker + first)
        lines.extend(" " * len(marker) + line if line.strip() else "" for line in rest)
    return "\n".join(lines)


def _table(node: _Node) -> str:
    rows = [row for row in _descendants(node, "tr")]
    cells = [[_inline_text(cell.children).replace("\n", " ").strip()
              for cell in row.children if isinstance(cell, _Node) and cell.tag in ("th", "td")]
             for row in rows]
    header = [] if not rows or not any(
        isinstance(c, _Node) and c.tag == "th" for c in rows[0].children) else cells[0]
    body = cells[1:] if header else cells
    if header and len(header) == 2:
        return "\n".join(f"{row[0]}: {row[1]}" if len(row) > 1 else row[0] for row in body)
    lines = []
    for row in body:
        pairs = [f"{header[i]}: {value}" if header and i < len(header) and header[i] else value
                 for i, value in enumerate(row)]
        lines.append("- " + "; ".join(p for p in pairs if p))
    return "\n".join(lines)


def _descendants(node: _Node, tag: str) -> list[_Node]:
    found: list[_Node] = []
    for child in node.children:
        if isinstance(child, _Node):
            if child.tag == tag:
                found.append(child)
            else:
                found.extend(_descendants(child, tag))
    return found


def _has_blocks(node: _Node) -> bool:
    return any(isinstance(c, _Node) and c.tag in _BLOCKS for c in node.children)


def _inline_text(children: list[_Node | str]) -> str:
    """Inline content as one paragraph: spaces collapsed, `<br>` kept as a line break."""
    parts: list[str] = []

    def walk(items: list[_Node | str]) -> None:
        for item in items:
            if isinstance(item, str):
                parts.append(_SPACES.sub(" ", item))
            elif item.tag == "br":
                parts.append("\n")
            elif item.tag == "a":
                label = _inline_text(item.children).strip()
                href = item.attrs.get("href", "")
                target = href.removeprefix("mailto:")
                parts.append(label if not href or target == label or href == label
                             else f"{label} ({target})")
            elif item.tag in ("script", "style", "head", "title"):
                continue
            else:
                walk(item.children)

    walk(children)
    lines = "".join(parts).split("\n")
    return "\n".join(line.strip() for line in lines).strip("\n")


def _raw_text(node: _Node) -> str:
    parts: list[str] = []
    for child in node.children:
        if isinstance(child, str):
            parts.append(child)
        elif child.tag == "br":
            parts.append("\n")
        else:
            parts.append(_raw_text(child))
    return "".join(parts)


def _indent(text: str) -> str:
    return "\n".join(INDENT + line if line.strip() else "" for line in text.split("\n"))
