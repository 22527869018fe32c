"""RFC 3676 `format=flowed` text turned back into the lines its writer typed.

Thunderbird and Apple Mail send plain text as `format=flowed`: a paragraph is cut into lines
of about 72 characters, and each line that continues on the next one ends in a space. With
`DelSp=yes` that space was added by the client and is not part of the text. Quoted lines carry
their depth as a run of `>` and continue only onto a line of the same depth. A line that starts
with a space, `>` or `From ` was "space-stuffed" with one extra space in front.

Read undecoded, a `Customer contacts:` line wrapped over three lines loses two thirds of its
people, and a contact wrapped before its role loses the role. The one library for this on PyPI
(formatflowed) was last released in 2016, and the decoding rules fit in this small module.
"""

from __future__ import annotations

import re

_QUOTE_DEPTH = re.compile(r"^>+")
_SIGNATURE_SEPARATOR = "-- "


def decode_flowed(text: str, *, delsp: bool = False) -> str:
    """The text with soft line breaks joined, space-stuffing removed and quotes normalised.

    Quoted lines come out as `>` per level and one space (`>> text`), the form every reader
    of quotes in this project expects. Line ends are LF.
    """
    out: list[str] = []
    paragraph: list[str] = []
    paragraph_depth = 0
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        depth, content = _unquote(raw)
        if paragraph and depth != paragraph_depth:
            # A flowed line followed by a line of another depth ends its paragraph (RFC 3676
            # section 4.5): the writer's client broke the rule, the text stays as it is.
            out.append(_quoted(paragraph_depth, "".join(paragraph)))
            paragraph = []
        flowed = content.endswith(" ") and content != _SIGNATURE_SEPARATOR
        if flowed:
            paragraph.append(content[:-1] if delsp else content)
            paragraph_depth = depth
            continue
        paragraph.append(content)
        out.append(_quoted(depth, "".join(paragraph)))
        paragraph = []
    if paragraph:
        out.append(_quoted(paragraph_depth, "".join(paragraph)))
    return "\n".join(out)


def _unquote(line: str) -> tuple[int, str]:
    match = _QUOTE_DEPTH.match(line)
    depth = len(match.group(0)) if match else 0
    content = line[depth:]
    if content.startswith(" "):
        content = content[1:]  # space-stuffing, or the space after the quote marks
    return depth, content


def _quoted(depth: int, content: str) -> str:
    if not depth:
        return content
    return ">" * depth + (f" {content}" if content else "")
