"""The red flags and issues section as rows: each issue, open or resolved, with its notes.
"""

from __future__ import annotations

import re

from mailer.handoff.model import IssueItem, IssueStatus

_BULLET = re.compile(r"^(\s*)(?:[-*+•·▪◦]|\d{1,2}[.)]|\[[ xX]?\])\s+")
_NOTHING = re.compile(r"^(?:none|n/?a|-+|nothing|no issues?|no red flags|nil|no)[\s.!]*$", re.I)
# Status words in the languages of our users ("gelöst", "résolu", "resuelto", "opgelost").
RESOLVED_WORDS = (
    r"resolved|fixed|closed|done|solved|gelöst|geloest|erledigt|behoben|geschlossen|résolu"
    r"|résolue|réglé|réglée|corrigé|corrigée|fermé|fermée|terminé|terminée|resuelto|resuelta"
    r"|solucionado|solucionada|cerrado|cerrada|arreglado|arreglada|opgelost|afgerond|gesloten"
    r"|verholpen|risolto|risolta|chiuso|chiusa|resolvido|resolvida"
)
OPEN_WORDS = (
    r"not (?:yet )?(?:resolved|fixed|solved)|(?:noch )?nicht (?:gelöst|behoben|erledigt)"
    r"|(?:pas|non) (?:encore )?(?:résolu|réglé)e?|no (?:resuelto|solucionado)|sin resolver"
    r"|(?:nog )?niet opgelost"
    r"|open|still open|ongoing|unresolved|offen|noch offen|in arbeit|ungelöst|ouvert|ouverte"
    r"|en cours|non résolu|abierto|abierta|pendiente|en curso|sin resolver|loopt nog|lopend"
    r"|nog open|aperto|aperta|in corso|em aberto"
)
# Negations that turn a resolved word around: "not fixed", "nicht gelöst", "no resuelto".
_NEGATIONS = "".join(
    f"(?<!{word} )" for word in ("not", "not yet", "nicht", "noch nicht", "non", "pas", "no",
                                  "niet", "nog niet", "nog")
)
_RESOLVED_MARK = re.compile(
    rf"\s*(?:[(\[]\s*(?:status:\s*)?(?:{RESOLVED_WORDS})\s*[)\]]|"
    rf"\bstatus\s*:\s*(?:{RESOLVED_WORDS})\b)\s*",
    re.I,
)
_OPEN_MARK = re.compile(
    rf"\s*(?:[(\[]\s*(?:status:\s*)?(?:{OPEN_WORDS})\s*[)\]]|"
    rf"\bstatus\s*:\s*(?:{OPEN_WORDS})\b)\s*",
    re.I,
)
_RESOLVED_WORD = re.compile(rf"{_NEGATIONS}\b(?:{RESOLVED_WORDS})\b", re.I)
_STATUS_LEAD = re.compile(
    rf"^(?:still\s+)?(?:{RESOLVED_WORDS}|{OPEN_WORDS})\b(?:[.!]?$|\s*[,;:\-–—]\s*)",
    re.I,
)
_NOTE_SPLIT = re.compile(r"\s+[-–—]\s+|:\s+")


def parse_issues(text: str) -> list[IssueItem]:
    """One issue per bullet or numbered line, otherwise per paragraph or line."""
    if not text.strip() or _NOTHING.match(text.strip()):
        return []
    return [item for item in (_issue_from(chunk) for chunk in _issue_chunks(text)) if item]


def _issue_chunks(text: str) -> list[list[str]]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    if any(_BULLET.match(line) for line in lines):
        return _bullet_chunks(lines)
    paragraphs = [p for p in re.split(r"\n\s*\n", "\n".join(lines)) if p.strip()]
    if len(paragraphs) > 1:
        return [
            [" ".join(line.strip() for line in p.split("\n") if line.strip())] for p in paragraphs
        ]
    return [[line] for line in _unwrap(paragraphs[0].split("\n") if paragraphs else [])]


def _bullet_chunks(lines: list[str]) -> list[list[str]]:
    """Top-level bullets start an issue; deeper bullets and continuation lines are its notes."""
    indents = [len(m.group(1)) for line in lines if (m := _BULLET.match(line))]
    top = min(indents)
    chunks: list[list[str]] = []
    after_blank = False
    for line in lines:
        if not line.strip():
            after_blank = True
            continue
        bullet = _BULLET.match(line)
        # A paragraph set apart by a blank line is an issue of its own, not a bullet's note.
        starts_paragraph = after_blank and not bullet and not line[:1].isspace()
        after_blank = False
        if bullet and len(bullet.group(1)) == top or not chunks or starts_paragraph:
            chunks.append([line[bullet.end() :] if bullet else line.strip()])
        else:
            chunks[-1].append(line[bullet.end() :] if bullet else line.strip())
    return chunks


def _unwrap(lines: list[str]) -> list[str]:
    """Rejoin a sentence that the mail client wrapped over two lines."""
    out: list[str] = []
    for line in (line.strip() for line in lines):
        if not line:
            continue
        if out and not out[-1].endswith((".", "!", "?", ")", "]")) and line[:1].islower():
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return out


def _issue_from(chunk: list[str]) -> IssueItem | None:
    head = chunk[0].strip()
    if not head or _NOTHING.match(head):
        return None
    whole = " ".join(chunk)
    resolved = bool(_RESOLVED_MARK.search(whole)) or (
        bool(_RESOLVED_WORD.search(whole)) and not _OPEN_MARK.search(whole)
    )
    head = _OPEN_MARK.sub(" ", _RESOLVED_MARK.sub(" ", head)).strip()
    issue, notes = _split_note(head)
    extra = [line.strip() for line in chunk[1:] if line.strip()]
    notes = "; ".join(part for part in [notes, *extra] if part)
    status = IssueStatus.RESOLVED if resolved else IssueStatus.OPEN
    return IssueItem(text=issue.rstrip(" ,;.") or head, status=status, notes=notes)


def _split_note(line: str) -> tuple[str, str]:
    match = _NOTE_SPLIT.search(line)
    if not match or match.start() == 0 or match.start() > 100:
        return line, ""
    notes = line[match.end() :].strip()
    # The status is its own column: "open, ticket ENG-512" keeps only "ticket ENG-512".
    notes = _STATUS_LEAD.sub("", notes)
    return line[: match.start()].strip(), notes
