"""Typed values shared by the domain modules: people, transition requests, inbound mail.

These are plain frozen dataclasses with no I/O, so every module can import them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import formataddr
from enum import StrEnum


class TransitionType(StrEnum):
    SOFT = "soft"
    HARD = "hard"
    ABRUPT = "abrupt"


class Role(StrEnum):
    """Who a playbook step is addressed to or sent as."""

    MANAGER = "manager"
    OUTGOING = "outgoing"
    INCOMING = "incoming"
    CUSTOMER = "customer"
    ASSISTANT = "assistant"


@dataclass(frozen=True)
class Person:
    name: str
    email: str  # always lower-cased

    def formatted(self) -> str:
        return formataddr((self.name, self.email)) if self.name else self.email


@dataclass(frozen=True)
class TransitionRequest:
    """A manager's complete, valid request to move one account."""

    account: str
    outgoing: Person
    incoming: Person
    customer_contacts: tuple[Person, ...]
    type: TransitionType = TransitionType.SOFT
    effective_date: date | None = None
    last_day: date | None = None
    renewal_date: date | None = None
    reason: str = ""
    share_reason: bool = False
    playbook: str | None = None
    notes: str = ""
    meeting_link: str = ""  # where the meetings take place: a room or a video link


@dataclass(frozen=True)
class RequestProblem:
    """One thing wrong with a request, with the exact line the manager should send back."""

    field: str  # canonical field name, e.g. "Incoming CSM"
    message: str  # what is wrong, in plain words
    fix_line: str  # e.g. "Incoming CSM: Name <name@company.com>"


@dataclass(frozen=True)
class Attachment:
    filename: str  # sanitised: never contains a path separator
    content_type: str
    payload: bytes


@dataclass(frozen=True)
class InboundMessage:
    """One received email, parsed once at the boundary."""

    message_id: str  # with angle brackets, e.g. "<abc@host>"; synthesised when missing
    subject: str
    from_name: str
    from_email: str  # lower-cased; "" when absent
    to: tuple[str, ...] = ()  # lower-cased addresses
    cc: tuple[str, ...] = ()
    delivered_to: tuple[str, ...] = ()  # Delivered-To / X-Original-To, lower-cased
    reply_to: tuple[str, ...] = ()
    return_path: str | None = None  # "" for the null sender <>, None when absent
    date: datetime | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    text: str = ""  # the plain-text body; HTML-only mail converted to text
    text_from_html: bool = False  # True when `text` is only our rendering of the HTML part
    html: str = ""  # the HTML body, when there is one
    attachments: tuple[Attachment, ...] = ()
    content_type: str = "text/plain"
    headers: tuple[tuple[str, str], ...] = ()  # (lower-cased name, decoded value), in order
    size: int = 0
    # Why the From cannot name one sender (two From headers, several mailboxes, an encoded
    # word inside the address); "" when it is plain. Such mail is refused, never guessed at.
    from_problem: str = ""
    part_types: tuple[str, ...] = ()  # every content type in the MIME tree (capped)
    # Characters of body text past the reading limit (limits.max_text_kb), left unread; such a
    # message is refused with an explanation. 0 when all of it was read.
    unread_text: int = 0

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key == wanted]


@dataclass(frozen=True)
class Disposition:
    """What the inbox rules decided about one message before any domain logic runs."""

    action: str  # "process" | "reject" | "ignore" | "quarantine"
    reason: str
    folder: str
    reply: bool = False  # should the sender be told (only for people, never for machines)
    notes: tuple[str, ...] = field(default_factory=tuple)


class ContactRole(StrEnum):
    POINT_OF_CONTACT = "point of contact"
    EXECUTIVE_SPONSOR = "executive sponsor"
    CHAMPION = "champion"
    DECISION_MAKER = "decision maker"
    USER = "user"
    OTHER = "other"


@dataclass(frozen=True)
class Contact:
    """A customer contact as the outgoing CSM described them."""

    name: str
    title: str = ""
    email: str = ""
    role: ContactRole = ContactRole.OTHER
    still_there: bool = True
    notes: str = ""


class IssueStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class IssueItem:
    """One grievance, roadblock or escalation from the red-flags section."""

    text: str
    status: IssueStatus = IssueStatus.OPEN
    notes: str = ""


@dataclass(frozen=True)
class SectionAnswer:
    """The outgoing CSM's answer to one numbered questionnaire section (1..12), as written."""

    section: int
    text: str
    received_at: datetime
    message_id: str = ""
