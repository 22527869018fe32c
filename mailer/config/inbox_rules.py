"""`inbox_rules.yaml`: who may request, what is ignored, size limits, folders, authentication.

Each check is a small named object in an explicit registry (`CHECKS`), run in order; the
first one that objects decides the message's disposition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mailer.config.yaml_file import load_yaml_with_lines, validate
from mailer.handoff.model import InboundMessage


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Requesters(_Strict):
    addresses: list[str] = Field(default_factory=list)
    domains: list[str] = Field(default_factory=list)

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, values: list[str]) -> list[str]:
        for value in values:
            if value.count("@") != 1:
                raise ValueError(f"'{value}' is not an email address")
        return [v.strip().lower() for v in values]

    @field_validator("domains")
    @classmethod
    def _domains(cls, values: list[str]) -> list[str]:
        for value in values:
            if "@" in value or "." not in value and value != "localhost":
                raise ValueError(f"'{value}' is not a domain (write e.g. example.com)")
        return [v.strip().lower().lstrip("@") for v in values]


class Limits(_Strict):
    """What one message may cost: its size, what it may make the assistant write, and how
    often one correspondent is answered automatically in one thread."""

    max_message_mb: float = Field(default=25, gt=0, le=200)
    max_text_kb: int = Field(default=512, ge=16, le=10240)
    max_book_rows: int = Field(default=250, ge=1, le=5000)
    max_customer_contacts: int = Field(default=20, ge=1, le=200)
    max_recipients_per_mail: int = Field(default=30, ge=3, le=500)
    max_mails_per_message: int = Field(default=600, ge=5, le=20000)
    max_answers_per_hour: int = Field(default=10, ge=1, le=1000)
    max_answers_per_day: int = Field(default=30, ge=1, le=10000)

    @property
    def max_message_bytes(self) -> int:
        return int(self.max_message_mb * 1024 * 1024)

    @model_validator(mode="after")
    def _consistent(self) -> Limits:
        # Each cap leaves room for what another one allows, or legitimate mail would trip it
        # far from its cause. (A book needs two mails per row it starts, and one answer: a
        # book past max_mails_per_message is refused whole, its sender told to split it.)
        if self.max_recipients_per_mail < self.max_customer_contacts + 2:
            raise ValueError(
                f"max_recipients_per_mail ({self.max_recipients_per_mail}) must be at least "
                f"max_customer_contacts plus 2 ({self.max_customer_contacts + 2}), as customer "
                "mail goes to every contact with colleagues in copy")
        if self.max_answers_per_day < self.max_answers_per_hour:
            raise ValueError(
                f"max_answers_per_day ({self.max_answers_per_day}) is less than "
                f"max_answers_per_hour ({self.max_answers_per_hour})")
        return self


class Ignore(_Strict):
    senders: list[str] = Field(default_factory=list)
    subject_contains: list[str] = Field(default_factory=list)


class Folders(_Strict):
    processed: str = "Processed"
    rejected: str = "Rejected"
    ignored: str = "Ignored"
    quarantine: str = "Quarantine"


class Authentication(_Strict):
    require_pass: bool = False
    trusted_servers: list[str] = Field(default_factory=list)  # authserv-ids we believe
    # Host names our servers write in `Received: ... by HOST` (default: the trusted_servers):
    # they mark where our headers end and the sender's begin.
    border_hosts: list[str] = Field(default_factory=list)

    @field_validator("trusted_servers", "border_hosts")
    @classmethod
    def _hosts(cls, values: list[str]) -> list[str]:
        for value in values:
            if not value.strip() or any(ch.isspace() or ch in ";@" for ch in value.strip()):
                raise ValueError(f"'{value}' is not a server name (write e.g. mx.example.com)")
        return [v.strip().lower() for v in values]


class InboxRules(_Strict):
    requesters: Requesters = Field(default_factory=Requesters)
    internal_domains: list[str] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    ignore: Ignore = Field(default_factory=Ignore)
    folders: Folders = Field(default_factory=Folders)
    authentication: Authentication = Field(default_factory=Authentication)

    def may_request(self, email: str) -> bool:
        email = email.lower()
        domain = email.rsplit("@", 1)[-1]
        return email in self.requesters.addresses or domain in self.requesters.domains

    def is_internal(self, email: str) -> bool:
        return email.lower().rsplit("@", 1)[-1] in {d.lower() for d in self.internal_domains}


_FIXES = {
    "requesters": "list who may start transitions under requesters: addresses: / domains:",
    "require_pass": "write true or false",
    "max_message_mb": "write a number of megabytes, e.g. 25",
    "limits": "raise the first limit named, or lower the other",
    "max_text_kb": "write a whole number of kilobytes, e.g. 512",
    "max_book_rows": "write a whole number of rows, e.g. 250",
    "max_customer_contacts": "write a whole number of people, e.g. 20",
    "max_recipients_per_mail": "write a whole number of people, e.g. 30",
    "max_mails_per_message": "write a whole number of emails, e.g. 600",
    "max_answers_per_hour": "write a whole number of answers, e.g. 10",
    "max_answers_per_day": "write a whole number of answers, e.g. 30",
    "addresses": "write an address like dana@example.com",
    "domains": "write a domain like example.com, without @",
    "senders": "write an address like newsletter@vendor.example",
    "trusted_servers": "write the name your mail server puts in Authentication-Results, "
                       "e.g. mx.example.com",
    "border_hosts": "write a host name like mx.example.com",
}


def load_rules(path: Path) -> InboxRules:
    data, lines = load_yaml_with_lines(path)
    return validate(InboxRules, data, path, lines, fixes=_FIXES)


@dataclass(frozen=True)
class Objection:
    """Why a check refuses a message; `tell_sender` is False for silent filing."""

    outcome: str  # "rejected" | "ignored"
    reason: str
    tell_sender: bool
    advice: str = "Please send a smaller message, or share large files as links."


@dataclass(frozen=True)
class RuleCheck:
    name: str
    description: str
    check: Callable[[InboundMessage, InboxRules], Objection | None]


def _too_large(msg: InboundMessage, rules: InboxRules) -> Objection | None:
    if msg.size > rules.limits.max_message_bytes:
        return Objection("rejected", f"the message is {msg.size / 1048576:.1f} MB, over the "
                         f"{rules.limits.max_message_mb:g} MB limit", tell_sender=True)
    return None


def _too_much_text(msg: InboundMessage, rules: InboxRules) -> Objection | None:
    if msg.unread_text:
        read = rules.limits.max_text_kb
        return Objection("rejected", f"the message holds about {read + msg.unread_text // 1024:,}"
                         f" KB of text, more than the {read:,} KB the assistant reads in one "
                         "message", tell_sender=True,
                         advice="Please leave out long quoted history, and send long answers "
                         "over several emails or in the questionnaire's attached form.")
    return None


def _ignored_sender(msg: InboundMessage, rules: InboxRules) -> Objection | None:
    if msg.from_email in {s.lower() for s in rules.ignore.senders}:
        return Objection("ignored", "sender is on the ignore list", tell_sender=False)
    return None


def _ignored_subject(msg: InboundMessage, rules: InboxRules) -> Objection | None:
    for needle in rules.ignore.subject_contains:
        if needle.lower() in msg.subject.lower():
            return Objection("ignored", f"subject contains '{needle}'", tell_sender=False)
    return None


CHECKS: tuple[RuleCheck, ...] = (
    RuleCheck("size", "refuse messages over the size limit", _too_large),
    RuleCheck("text", "refuse messages with more text than is read", _too_much_text),
    RuleCheck("ignored-sender", "file mail from ignored senders", _ignored_sender),
    RuleCheck("ignored-subject", "file mail with ignored subjects", _ignored_subject),
)


def first_objection(msg: InboundMessage, rules: InboxRules) -> Objection | None:
    for rule in CHECKS:
        objection = rule.check(msg, rules)
        if objection is not None:
            return objection
    return None
