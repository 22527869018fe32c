"""What the handoff workbook says, before any cell is written: the data gathered for it, the
summary at the top of its Overview, and its file name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from mailer.handoff.model import Contact, ContactRole, IssueItem, IssueStatus, Person, SectionAnswer

# Questionnaire section numbers (DOMAIN.md) the workbook places on particular sheets.
SENTIMENT, FIT, SUCCESSES, GOALS, PROJECTS = 2, 3, 5, 6, 7
CONTRACT, RENEWAL_RISK, COMMUNICATION, EVENTS, DOCUMENTS = 8, 9, 10, 11, 12

KEY_CONTACT_ROLES = (
    ContactRole.POINT_OF_CONTACT,
    ContactRole.EXECUTIVE_SPONSOR,
    ContactRole.DECISION_MAKER,
    ContactRole.CHAMPION,
)
MAX_TOP_RISKS = 3
_RISK_LINE_LIMIT = 200
_SUMMARY_LINE_LIMIT = 240


@dataclass(frozen=True)
class PlanRow:
    """One step of the transition plan."""

    step: str
    owner: str
    to: str
    due: datetime | None
    status: str


@dataclass(frozen=True)
class HistoryRow:
    """One email the assistant received ("in") or sent ("out") for this transition."""

    at: datetime
    direction: str  # "in" | "out"
    sender: str
    recipients: tuple[str, ...]
    subject: str
    note: str = ""


@dataclass(frozen=True)
class VersionRow:
    """One saved version of the handoff, e.g. after a late answer arrived."""

    version: int
    at: datetime
    summary: str


@dataclass(frozen=True, kw_only=True)
class HandoffData:
    """Everything the handoff workbook shows, gathered by the caller."""

    transition_id: str
    account: str
    type: str
    manager: Person
    outgoing: Person
    incoming: Person
    customer_contacts: tuple[Person, ...] = ()
    effective_date: date | None = None
    last_day: date | None = None
    renewal_date: date | None = None
    reason: str = ""
    share_reason: bool = False
    # Every answer ever received, several per section possible, in arrival order.
    answers: tuple[SectionAnswer, ...] = ()
    # The merged, latest text per section number.
    current_answers: dict[int, str] = field(default_factory=dict)
    section_titles: dict[int, str] = field(default_factory=dict)
    contacts: tuple[Contact, ...] = ()
    issues: tuple[IssueItem, ...] = ()
    plan: tuple[PlanRow, ...] = ()
    history: tuple[HistoryRow, ...] = ()
    versions: tuple[VersionRow, ...] = ()
    # What the incoming CSM said in the debrief after the hand-over, "" until they answer.
    debrief: str = ""
    generated_at: datetime
    zone: str = "UTC"  # the team's time zone: every moment in the workbook is its wall time


@dataclass(frozen=True)
class HandoffSummary:
    """The few facts the email that carries the workbook puts in its body."""

    top_risks: tuple[str, ...]
    renewal_date: date | None
    key_contacts: tuple[Contact, ...]  # still at the company, in KEY_CONTACT_ROLES order
    sentiment: str  # the first line of the sentiment answer, "" when unanswered
    open_issues: int
    resolved_issues: int


# --- file name -------------------------------------------------------------------------------

_UNSAFE_IN_FILENAME = re.compile(r'[/\\:*?"<>|\x00-\x1f\x7f-\x9f]')
# Room for the rest of the name, a " v12" version suffix and the ".tmp" of an atomic write,
# within the 255 bytes (Linux) or UTF-16 units (Windows, macOS) a file name may have.
_FILENAME_PART_BYTES = 120
# Windows refuses a file whose name up to its first dot is one of these ("Con. handoff ...").
_RESERVED_ON_WINDOWS = re.compile(r"^(?:con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])$", re.I)


def _filename_part(text: str, fallback: str) -> str:
    """The account as a piece of a file name: its own punctuation kept ("Acme Co."), only
    what a file system refuses replaced, never longer than the name can hold."""
    cleaned = " ".join(_UNSAFE_IN_FILENAME.sub(" ", unicodedata.normalize("NFC", text)).split())
    # Leading dots hide files on Unix.
    cleaned = _within_bytes(cleaned.lstrip(". "), _FILENAME_PART_BYTES).rstrip()
    if "." in cleaned and _RESERVED_ON_WINDOWS.match(cleaned.split(".", 1)[0].strip()):
        head, dot, tail = cleaned.partition(".")
        cleaned = f"{head.rstrip()}_{dot}{tail}"
    return cleaned or fallback


def _within_bytes(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", "ignore")


def workbook_filename(account: str, transition_id: str) -> str:
    """``<Account> handoff TR-0042.xlsx``, safe on every common file system."""
    return (
        f"{_filename_part(account, 'Account')} handoff "
        f"{_filename_part(transition_id, 'transition')}.xlsx"
    )


def form_filename(account: str, transition_id: str) -> str:
    """``<Account> handoff form TR-0042.xlsx``: the questionnaire form, named as safely."""
    return (
        f"{_filename_part(account, 'Account')} handoff form "
        f"{_filename_part(transition_id, 'transition')}.xlsx"
    )


# --- summary ---------------------------------------------------------------------------------


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def _top_risks(data: HandoffData) -> tuple[str, ...]:
    # The renewal concern leads: losing the renewal is the risk a handoff exists to avoid.
    risks: list[str] = []
    renewal_risk = _first_line(data.current_answers.get(RENEWAL_RISK, ""))
    if renewal_risk:
        risks.append(f"Renewal: {renewal_risk}")
    for issue in data.issues:
        if issue.status == IssueStatus.OPEN and _first_line(issue.text):
            risks.append(f"Open issue: {_first_line(issue.text)}")
    return tuple(_shorten(risk, _RISK_LINE_LIMIT) for risk in risks[:MAX_TOP_RISKS])


def _key_contacts(contacts: Iterable[Contact]) -> tuple[Contact, ...]:
    present = [contact for contact in contacts if contact.still_there]
    return tuple(
        contact for role in KEY_CONTACT_ROLES for contact in present if contact.role == role
    )


def summarise(data: HandoffData) -> HandoffSummary:
    """Top risks, renewal date and key contacts for the email that carries the workbook."""
    open_count = sum(1 for issue in data.issues if issue.status == IssueStatus.OPEN)
    return HandoffSummary(
        top_risks=_top_risks(data),
        renewal_date=data.renewal_date,
        key_contacts=_key_contacts(data.contacts),
        sentiment=_shorten(
            _first_line(data.current_answers.get(SENTIMENT, "")), _SUMMARY_LINE_LIMIT
        ),
        open_issues=open_count,
        resolved_issues=len(data.issues) - open_count,
    )
