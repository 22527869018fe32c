"""Read a manager's command from the first line of a reply, and a transition id from a subject.

Managers type commands from phones, between meetings: "Hi,\\nplease pause." has to work as
well as "pause". Only the first meaningful line counts, so prose further down a reply never
triggers anything by accident.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailer.handoff.request_fields import canonical_field

STATUS = "status"
PAUSE = "pause"
RESUME = "resume"
CANCEL = "cancel"
SET = "set"
SEND_NOW = "send now"
SEND_WORKBOOK = "send workbook"
SEND = "send"  # approve the draft this reply answers
SKIP = "skip"  # with a step: skip that step; without: drop the draft this reply answers
DIGEST = "digest"

VERBS: tuple[str, ...] = (
    STATUS,
    PAUSE,
    RESUME,
    CANCEL,
    SET,
    SEND_NOW,
    SEND_WORKBOOK,
    SEND,
    SKIP,
    DIGEST,
)

# Whole-line commands, after politeness and trailing punctuation are removed.
_PLAIN_WORDS: dict[str, str] = {
    "status": STATUS,
    "status update": STATUS,
    "pause": PAUSE,
    "hold": PAUSE,
    "on hold": PAUSE,
    "resume": RESUME,
    "unpause": RESUME,
    "cancel": CANCEL,
    "send workbook": SEND_WORKBOOK,
    "send the workbook": SEND_WORKBOOK,
    "send": SEND,
    "send it": SEND,
    "approve": SEND,
    "approved": SEND,
    "skip": SKIP,
    "skip it": SKIP,
    "digest": DIGEST,
}

_GREETING = re.compile(
    r"^(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)|morning|greetings|thanks|thank you)"
    r"\b[^,:!]{0,40}"
    r"[,:!]?\s*",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*(?:[-*•+]|\d{1,2}[.)])\s*")
_POLITE_PREFIX = re.compile(r"^(?:(?:please|pls|kindly|can you|could you)\s+)+", re.IGNORECASE)
_POLITE_SUFFIX = re.compile(r"[\s,]+(?:please|pls|thanks|thank you|thx)$", re.IGNORECASE)
_OBJECT_SUFFIX = re.compile(r"\s+(?:it|this|this one|the transition|this transition)$")
_SET = re.compile(r"^set\s+(?P<field>[^:=]+?)\s*[:=]\s*(?P<value>.+)$", re.IGNORECASE)
_SET_TO = re.compile(r"^set\s+(?P<field>.+?)\s+to\s+(?P<value>.+)$", re.IGNORECASE)
_STEP = re.compile(r"^(?P<verb>send now|skip)(?:\s*[:\-–]\s*|\s+)(?P<step>.+)$", re.IGNORECASE)
_SUBJECT_ID = (
    re.compile(r"\[\s*TR-(\d{1,8})\s*\]", re.IGNORECASE),
    re.compile(r"\bTR-(\d{1,8})\b", re.IGNORECASE),
)


@dataclass(frozen=True)
class Command:
    """One manager command.

    `field` is canonical (`"Incoming CSM"`) when the label is known, otherwise the label as
    written, so the answer can say which label was not understood.
    """

    verb: str
    field: str = ""
    value: str = ""
    step: str = ""


def parse_command(text: str) -> Command | None:
    """The command on the first meaningful line of a reply's new text, or None."""
    for raw_line in text.replace("\r\n", "\n").split("\n"):
        line = raw_line.replace("\u00a0", " ").strip()
        if not line:
            continue
        command = _parse_line(_without_greeting(line))
        if command is not None:
            return command
        if _is_only_greeting(line):
            continue
        return None
    return None


def _without_greeting(line: str) -> str:
    match = _GREETING.match(line)
    if match and match.end() < len(line) and match.group().rstrip()[-1:] in (",", ":", "!"):
        return line[match.end() :]
    return line


def _is_only_greeting(line: str) -> bool:
    match = _GREETING.match(line)
    return bool(match) and match.end() == len(line)


def _parse_line(line: str) -> Command | None:
    as_written = _POLITE_PREFIX.sub("", _BULLET.sub("", line, count=1)).strip()
    setting = _set_command(as_written)  # before trimming punctuation: it may belong to the value
    if setting is not None:
        return setting
    text = _POLITE_SUFFIX.sub("", as_written.rstrip(" .!?")).rstrip(" .!?")
    words = _OBJECT_SUFFIX.sub("", " ".join(text.lower().split()))
    if words in _PLAIN_WORDS:
        return Command(_PLAIN_WORDS[words])
    step = _STEP.match(text)
    if step:
        verb = SEND_NOW if step["verb"].lower() == SEND_NOW else SKIP
        return Command(verb, step=step["step"].strip(" :\"'"))
    return None


def _set_command(text: str) -> Command | None:
    """`set <field>: <value>` or `set <field> to <value>`, preferring the reading whose label
    is a known field: in `set notes to call at 10:30` the colon belongs to the value."""
    readings = [match for match in (_SET.match(text), _SET_TO.match(text)) if match]
    if not readings:
        return None
    known = [match for match in readings if canonical_field(_label(match))]
    chosen = (known or readings)[0]
    label = _label(chosen)
    return Command(SET, field=canonical_field(label) or label, value=chosen["value"].strip())


def _label(match: re.Match[str]) -> str:
    label = match["field"].strip(" *_")
    return re.sub(r"^the\s+", "", label, flags=re.IGNORECASE)


def subject_transition_id(subject: str) -> str | None:
    """The transition id in a subject (`Re: [TR-0042] Acme handoff` -> `TR-0042`), or None."""
    for pattern in _SUBJECT_ID:
        match = pattern.search(subject)
        if match:
            return f"TR-{int(match.group(1)):04d}"
    return None
