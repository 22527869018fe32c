"""Playbooks: the plan of a transition, as typed values.

A playbook is a list of steps. Each step says when it falls due (an offset from an anchor),
under which condition, who sends it to whom, with which template, and whether its sender
approves it first. Reading them from YAML, with errors that name the file, the line and the
fix, is `mailer.config.playbooks`; dating them is `mailer.handoff.scheduling`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

from mailer.errors import MailerError
from mailer.handoff.model import TransitionType

Phase = Literal["assign", "knowledge_transfer", "research", "communicate", "cadence", "recap",
                "update_systems", "debrief", "checkin"]
Condition = Literal["answers_complete", "answers_incomplete", "intro_text_received",
                    "call_notes_received", "workbook_sent"]
Sender = Literal["assistant", "manager", "outgoing", "incoming"]
Recipient = Literal["manager", "outgoing", "incoming", "customer"]
MeetingAnchor = Literal["sent", "request_received", "effective_date", "last_day",
                        "renewal_date"]

PHASES: tuple[str, ...] = get_args(Phase)
CONDITIONS: tuple[str, ...] = get_args(Condition)
DATE_ANCHORS = ("effective_date", "last_day", "renewal_date")
NAMED_ANCHORS = ("request_received", *DATE_ANCHORS)
STEP_ANCHOR_PREFIX = "step:"
MEETING_ANCHORS: tuple[str, ...] = get_args(MeetingAnchor)
CHECKIN_OFFSET = "checkin_days"
MEETING_TITLE_PLACES = ("account", "company", "incoming", "incoming_first", "outgoing",
                        "outgoing_first")
# Conversations opened when a transition starts, which a step may follow.
OPENING_THREADS = ("request", "questionnaire")
STEP_THREAD_PREFIX = "step:"

_SLUG_PATTERN = r"^[a-z][a-z0-9_]*$"
_OFFSET = re.compile(r"^\s*([+-]?\s*\d+)\s+(business\s+|working\s+)?(day|days|week|weeks)\s*$",
                     re.IGNORECASE)
_WALL_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


# ---------------------------------------------------------------------------------------------
# Values read from YAML


@dataclass(frozen=True)
class Offset:
    """How far a step falls from its anchor: business days, or calendar days."""

    amount: int
    business: bool
    uses_checkin_days: bool = False  # "checkin_days": the playbook's checkin_days, calendar days

    def describe(self) -> str:
        unit = "business day" if self.business else "day"
        plural = "" if abs(self.amount) == 1 else "s"
        return f"{abs(self.amount)} {unit}{plural}"


def parse_offset(value: Any) -> Offset:
    """Read '2 business days', '-3 business days', '1 day', '60 days', '2 weeks'."""
    if isinstance(value, Offset):
        return value
    if isinstance(value, str) and value.strip() == CHECKIN_OFFSET:
        return Offset(0, business=False, uses_checkin_days=True)
    match = _OFFSET.match(value) if isinstance(value, str) else None
    if match is None:
        raise PydanticCustomError(
            "offset", "cannot read the offset '{text}'", {"text": str(value)})
    amount = int(match.group(1).replace(" ", ""))
    business = match.group(2) is not None
    if match.group(3).lower().startswith("week"):
        if business:
            raise PydanticCustomError(
                "offset", "'{text}': count business time in days, not weeks", {"text": value})
        amount *= 7
    return Offset(amount, business=business)


def parse_wall_time(value: Any) -> time | None:
    """Read a local time like '09:30'.

    YAML 1.1 reads an unquoted 10:30 as the number 630 (base 60), so a whole number of at least
    60 is read back as hours and minutes; that is what the person typed.
    """
    if value is None or isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 60:
        hours, minutes = divmod(value, 60)
    else:
        match = _WALL_TIME.match(value) if isinstance(value, str) else None
        if match is None:
            raise PydanticCustomError(
                "wall_time", "cannot read the time '{text}'", {"text": str(value)})
        hours, minutes = int(match.group(1)), int(match.group(2))
    if hours > 23 or minutes > 59:
        raise PydanticCustomError("wall_time", "'{text}' is not a time of day",
                                  {"text": f"{hours}:{minutes:02d}"})
    return time(hours, minutes)


def _check_anchor(value: Any) -> str:
    if isinstance(value, str):
        value = value.strip()
        if value in NAMED_ANCHORS:
            return value
        if value.startswith(STEP_ANCHOR_PREFIX) and re.match(
                _SLUG_PATTERN, value.removeprefix(STEP_ANCHOR_PREFIX).strip()):
            return STEP_ANCHOR_PREFIX + value.removeprefix(STEP_ANCHOR_PREFIX).strip()
    raise PydanticCustomError("anchor", "unknown anchor '{text}'", {"text": str(value)})


def _as_list(value: Any) -> Any:
    # "to: customer" is as clear as "to: [customer]"; accept both.
    return [value] if isinstance(value, str) else value


Slug = Annotated[str, StringConstraints(pattern=_SLUG_PATTERN)]
OffsetValue = Annotated[Offset, PlainValidator(parse_offset)]
WallTime = Annotated[time | None, PlainValidator(parse_wall_time)]
AnchorValue = Annotated[str, PlainValidator(_check_anchor)]
Recipients = Annotated[list[Recipient], BeforeValidator(_as_list)]


class StepSpec(BaseModel):
    """One step of a playbook, as written in YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    title: str = Field(min_length=1)
    phase: Phase
    anchor: AnchorValue
    offset: OffsetValue
    at: WallTime = None
    condition: Condition | None = None
    stops_when: Condition | None = None
    sender: Sender
    to: Recipients = Field(min_length=1)
    cc: Recipients = Field(default_factory=list)
    template: Slug
    approval: bool = False
    on_silence: Literal["send", "skip"] | None = None
    silence_business_days: int | None = Field(default=None, ge=1, le=20)
    on_no_answer: Slug | None = None
    business_hours: bool | None = None
    kind: Literal["email", "meeting"] = "email"
    duration_minutes: int | None = Field(default=None, ge=5, le=480)
    meeting_anchor: MeetingAnchor | None = None
    meeting_offset: OffsetValue | None = None
    meeting_at: WallTime = None
    # What people's calendars show: a title with {account}, {company}, {incoming},
    # {incoming_first}, {outgoing}, {outgoing_first}; a room or a video link.
    meeting_title: str | None = Field(default=None, min_length=1)
    meeting_location: str | None = Field(default=None, min_length=1)
    postpone_on_out_of_office: bool = False
    # The conversation this mail continues: `request` (the manager's request and its answer),
    # `questionnaire`, or the id of an earlier step; a reminder threads under what it follows.
    follows: Slug | None = None

    @property
    def thread(self) -> str:
        """The name of the conversation this step's mail belongs to."""
        if self.follows is None:
            return f"{STEP_THREAD_PREFIX}{self.id}"
        if self.follows in OPENING_THREADS:
            return self.follows
        return f"{STEP_THREAD_PREFIX}{self.follows}"

    @property
    def recipients(self) -> tuple[str, ...]:
        return (*self.to, *self.cc)

    @property
    def customer_facing(self) -> bool:
        return "customer" in self.recipients

    @property
    def keeps_business_hours(self) -> bool:
        """Customer mail waits for business hours unless the playbook says otherwise."""
        return self.customer_facing if self.business_hours is None else self.business_hours

    @property
    def depends_on(self) -> str | None:
        """The id of the step whose completion anchors this one, if any."""
        if self.anchor.startswith(STEP_ANCHOR_PREFIX):
            return self.anchor.removeprefix(STEP_ANCHOR_PREFIX)
        return None

    @property
    def meeting_minutes(self) -> int:
        return self.duration_minutes or 30


class Playbook(BaseModel):
    """A whole playbook file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Slug
    description: str = ""
    type: TransitionType
    default_effective_business_days: int = Field(default=10, ge=0, le=120)
    required_sections: list[Annotated[int, Field(ge=1, le=12)]] = Field(
        default_factory=lambda: [1, 2, 4, 6, 8, 9])
    checkin_days: int = Field(default=60, ge=60, le=90)
    # A book of business: one questionnaire mail per account, or one combined form for all.
    book_questionnaire: Literal["separate", "combined"] = "separate"
    steps: list[StepSpec] = Field(min_length=1)

    _source: Path | None = PrivateAttr(default=None)
    _lines: dict[tuple[str | int, ...], int] = PrivateAttr(default_factory=dict)

    @property
    def source(self) -> Path | None:
        """The file this playbook was loaded from."""
        return self._source

    def step(self, step_id: str) -> StepSpec:
        for spec in self.steps:
            if spec.id == step_id:
                return spec
        raise KeyError(step_id)

    def offset_of(self, step: StepSpec) -> Offset:
        if step.offset.uses_checkin_days:
            return Offset(self.checkin_days, business=False)
        return step.offset


class UnknownPlaybook(MailerError):
    """A request named a playbook (or a type) no playbook file provides."""


def choose_playbook(playbooks: Mapping[str, Playbook], *, type: str,
                    name: str | None = None) -> Playbook:
    """The playbook a request named, else the one for its type (the one named like the type
    when several share it, else the first by name)."""
    if name is not None:
        wanted = name.strip().lower()
        if wanted in playbooks:
            return playbooks[wanted]
        raise UnknownPlaybook(f"there is no playbook called '{name}'; the playbooks are: "
                              f"{', '.join(sorted(playbooks))}")
    matching = sorted((p for p in playbooks.values() if p.type == type.strip().lower()),
                      key=lambda p: (p.name != p.type, p.name))
    if not matching:
        raise UnknownPlaybook(f"no playbook handles '{type}' transitions")
    return matching[0]


def template_names(playbooks: Mapping[str, Playbook] | Iterable[Playbook]) -> frozenset[str]:
    """Every template any playbook step uses."""
    items = playbooks.values() if isinstance(playbooks, Mapping) else playbooks
    return frozenset(step.template for playbook in items for step in playbook.steps)
