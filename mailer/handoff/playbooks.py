"""Playbooks: the editable YAML plans of a transition, and the pure scheduler that dates them.

A playbook is a list of steps. Each step says when it falls due (an offset from an anchor),
under which condition, who sends it to whom, with which template, and whether its sender
approves it first. CS operations staff edit these files, so every mistake is reported with
the file, the line and the fix, and all mistakes are reported in one pass.

Scheduling is pure: anchors, step states, conditions and "now" come in; dated steps come out.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
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

from mailer.config.yaml_file import YamlPath, line_of, load_yaml_with_lines, validate
from mailer.errors import ConfigError, ConfigErrors, MailerError
from mailer.handoff.business_time import BusinessCalendar
from mailer.handoff.model import TransitionType

Phase = Literal["assign", "knowledge_transfer", "research", "communicate", "cadence", "recap",
                "update_systems", "debrief", "checkin"]
Condition = Literal["answers_complete", "answers_incomplete", "intro_text_received",
                    "call_notes_received", "workbook_sent"]
Sender = Literal["assistant", "manager", "outgoing", "incoming"]
Recipient = Literal["manager", "outgoing", "incoming", "customer"]
MeetingAnchor = Literal["sent", "request_received", "effective_date", "last_day",
                        "renewal_date"]
Status = Literal["pending", "sent", "skipped", "awaiting_approval", "cancelled"]

PHASES: tuple[str, ...] = get_args(Phase)
CONDITIONS: tuple[str, ...] = get_args(Condition)
DATE_ANCHORS = ("effective_date", "last_day", "renewal_date")
NAMED_ANCHORS = ("request_received", *DATE_ANCHORS)
STEP_ANCHOR_PREFIX = "step:"
MEETING_ANCHORS: tuple[str, ...] = get_args(MeetingAnchor)
CHECKIN_OFFSET = "checkin_days"
DONE_STATUSES = ("sent", "skipped")

_SLUG_PATTERN = r"^[a-z][a-z0-9_]*$"
_OFFSET = re.compile(r"^\s*([+-]?\s*\d+)\s+(business\s+|working\s+)?(day|days|week|weeks)\s*$",
                     re.IGNORECASE)
_WALL_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")

_CONDITION_WORDS: dict[str, str] = {
    "answers_complete": "the questionnaire answers are complete",
    "answers_incomplete": "questionnaire answers are still missing",
    "intro_text_received": "the incoming CSM has sent their introduction",
    "call_notes_received": "the incoming CSM has sent their call notes",
    "workbook_sent": "the handoff workbook has gone out",
}
_ANCHOR_WORDS: dict[str, str] = {
    "request_received": "the request arrived",
    "effective_date": "the effective date",
    "last_day": "the outgoing CSM's last day",
    "renewal_date": "the renewal date",
}


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
    postpone_on_out_of_office: bool = False

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
    _lines: dict[YamlPath, int] = PrivateAttr(default_factory=dict)

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

    def line_of_step(self, step_id: str, setting: str = "id") -> int | None:
        """The line a step's setting was written on, for messages that point into the file."""
        for index, spec in enumerate(self.steps):
            if spec.id == step_id:
                return line_of(self._lines, ("steps", index, setting))
        return None


class UnknownPlaybook(MailerError):
    """A request named a playbook (or a type) no playbook file provides."""


# ---------------------------------------------------------------------------------------------
# Loading and checking

_TOP_SETTINGS = tuple(Playbook.model_fields)
_STEP_SETTINGS = tuple(StepSpec.model_fields)
_FIXES: dict[str, str] = {
    "offset": "write it like '2 business days', '-3 business days', '1 day', '60 days' "
              f"or '{CHECKIN_OFFSET}'",
    "meeting_offset": "write it like '2 business days' or '0 days'",
    "anchor": f"use one of {', '.join(NAMED_ANCHORS)} or step:<id of another step>",
    "meeting_anchor": f"use one of {', '.join(MEETING_ANCHORS)}",
    "condition": f"use one of {', '.join(CONDITIONS)}, or remove the line",
    "stops_when": f"use one of {', '.join(CONDITIONS)}, or remove the line",
    "at": "write a local time in quotes, like at: '09:30'",
    "meeting_at": "write a local time in quotes, like meeting_at: '10:00'",
    "phase": f"use one of {', '.join(PHASES)}",
    "sender": "use one of assistant, manager, outgoing, incoming",
    "to": "list roles among manager, outgoing, incoming, customer, like to: [customer]",
    "cc": "list roles among manager, outgoing, incoming, customer, like cc: [incoming]",
    "type": "use soft, hard or abrupt",
    "checkin_days": "choose a number of days from 60 to 90",
    "book_questionnaire": "use separate (one questionnaire per account) or combined (one form "
                          "with a sheet per account)",
    "required_sections": "list questionnaire section numbers from 1 to 12, like [1, 2, 4]",
    "id": "use lower-case letters, digits and underscores, like customer_intro",
    "name": "use lower-case letters, digits and underscores, like soft",
    "template": "use the name of a file in templates/ without its extension, like customer_intro",
    "on_silence": "use send or skip",
    "silence_business_days": "choose a number of business days from 1 to 20",
    "kind": "use email or meeting",
    "duration_minutes": "choose a number of minutes from 5 to 480",
    "steps": "add at least one step under 'steps:'",
}


def load_playbooks(directory: Path) -> dict[str, Playbook]:
    """Every `*.yaml` playbook in `directory`, by name; all problems raised together."""
    if not directory.is_dir():
        raise ConfigErrors([ConfigError(directory, None, "is not a folder of playbooks",
                                        "set MAILER_PLAYBOOKS to the playbooks folder")])
    problems: list[ConfigError] = []
    playbooks: dict[str, Playbook] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            playbook = load_playbook(path)
        except ConfigError as exc:
            problems.append(exc)
            continue
        except ConfigErrors as exc:
            problems.extend(exc.errors)
            continue
        if playbook.name in playbooks:
            first = playbooks[playbook.name].source
            problems.append(ConfigError(
                path, line_of(playbook._lines, ("name",)),
                f"the name '{playbook.name}' is already used by {first}",
                "give each playbook its own name"))
            continue
        playbooks[playbook.name] = playbook
    problems.extend(_missing_types(directory, playbooks, failed=bool(problems)))
    if problems:
        raise ConfigErrors(problems)
    return playbooks


def load_playbook(path: Path) -> Playbook:
    """One playbook file, validated in full."""
    data, lines = load_yaml_with_lines(path)
    if not isinstance(data, dict):
        raise ConfigError(path, 1, "should be a set of settings (name:, type:, steps:)",
                          "start from one of the shipped playbooks, e.g. playbooks/soft.yaml")
    try:
        playbook = validate(Playbook, data, path, lines,
                            fixes={**_FIXES, **_spelling_fixes(data)})
    except ConfigErrors as exc:
        misspelt = _misspelt_settings(data)
        raise ConfigErrors([_name_the_step(error, data) for error in exc.errors
                            if _missing_setting(error) not in misspelt]) from exc
    problems = _step_problems(playbook, path, lines)
    if problems:
        raise ConfigErrors(problems)
    playbook._source = path
    playbook._lines = lines
    return playbook


def _name_the_step(error: ConfigError, data: dict[str, Any]) -> ConfigError:
    """Say "step 'customer_intro': offset" rather than "steps.6.offset"."""
    match = re.match(r"^'?steps\.(\d+)\.", error.problem)
    steps = data.get("steps")
    if match is None or not isinstance(steps, list) or int(match.group(1)) >= len(steps):
        return error
    step = steps[int(match.group(1))]
    step_id = step.get("id") if isinstance(step, dict) else None
    name = f"step '{step_id}'" if isinstance(step_id, str) else f"step {int(match.group(1)) + 1}"
    rest = error.problem[match.end():]
    problem = f"{name}: '{rest}" if error.problem.startswith("'") else f"{name}: {rest}"
    return ConfigError(error.path, error.line, problem, error.fix)


def _missing_setting(error: ConfigError) -> str | None:
    """'steps.6.template' for "'steps.6.template' is required but missing", else None."""
    match = re.fullmatch(r"'(.+)' is required but missing", error.problem)
    return match.group(1) if match else None


def _misspelt_settings(data: dict[str, Any]) -> set[str]:
    """Where a required setting is only missing because it was misspelt (e.g. 'tempate'):
    the unknown-setting error already says what to fix, so "missing" would be noise."""
    places: list[tuple[str, dict[Any, Any], tuple[str, ...]]] = [("", data, _TOP_SETTINGS)]
    steps = data.get("steps")
    if isinstance(steps, list):
        places += [(f"steps.{index}.", step, _STEP_SETTINGS)
                   for index, step in enumerate(steps) if isinstance(step, dict)]
    misspelt: set[str] = set()
    for prefix, settings, known in places:
        for key in settings:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            if key not in known and close and close[0] not in settings:
                misspelt.add(prefix + close[0])
    return misspelt


def _spelling_fixes(data: dict[str, Any]) -> dict[str, str]:
    """For each unknown setting, the known one it was most likely meant to be."""
    fixes: dict[str, str] = {}
    _suggest(data, _TOP_SETTINGS, fixes)
    for step in data.get("steps") or []:
        if isinstance(step, dict):
            _suggest(step, _STEP_SETTINGS, fixes)
    return fixes


def _suggest(settings: dict[Any, Any], known: tuple[str, ...], fixes: dict[str, str]) -> None:
    for key in settings:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        fixes[str(key)] = (f"did you mean '{close[0]}'?" if close
                           else f"remove it; the settings here are: {', '.join(known)}")


def _missing_types(directory: Path, playbooks: Mapping[str, Playbook], *,
                   failed: bool) -> list[ConfigError]:
    # A broken file already explains why its type is missing; do not say it twice.
    if failed:
        return []
    present = {playbook.type for playbook in playbooks.values()}
    return [ConfigError(directory, None, f"no playbook handles '{kind}' transitions",
                        f"add a playbook with 'type: {kind}' (copy one of the shipped ones)")
            for kind in TransitionType if kind not in present]


def _step_problems(playbook: Playbook, path: Path,
                   lines: dict[YamlPath, int]) -> list[ConfigError]:
    """Rules that span settings or steps, each pinned to the line to change."""
    problems: list[ConfigError] = []
    ids: set[str] = set()
    for index, step in enumerate(playbook.steps):
        def at(setting: str, index: int = index) -> int | None:
            return line_of(lines, ("steps", index, setting))

        if step.id in ids:
            problems.append(ConfigError(path, at("id"), f"step id '{step.id}' is used twice",
                                        "give each step its own id"))
        ids.add(step.id)
        problems.extend(ConfigError(path, at(setting), problem, fix)
                        for setting, problem, fix in _setting_conflicts(step))
    known = {step.id for step in playbook.steps}
    for index, step in enumerate(playbook.steps):
        for setting, target in (("anchor", step.depends_on), ("on_no_answer", step.on_no_answer)):
            if target is not None and target not in known:
                problems.append(ConfigError(
                    path, line_of(lines, ("steps", index, setting)),
                    f"step '{step.id}' refers to a step '{target}' that does not exist",
                    _closest_step_fix(target, known)))
    if len(ids) == len(playbook.steps):  # with a duplicate id, "which step waits" is ambiguous
        problems.extend(_cycles(playbook, path, lines))
    return problems


def _closest_step_fix(target: str, known: set[str]) -> str:
    close = difflib.get_close_matches(target, sorted(known), n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"use the id of a step in this file: {', '.join(sorted(known))}"


def _setting_conflicts(step: StepSpec) -> Iterable[tuple[str, str, str]]:
    """(setting, problem, fix) for settings that contradict each other within a step."""
    humans = "manager, outgoing or incoming"
    if step.customer_facing and step.sender == "assistant":
        yield ("sender", "mail to the customer must go out in a person's name",
               f"set sender to {humans}")
    if step.approval and not step.customer_facing:
        yield ("approval", "approval only applies to mail that goes to the customer",
               "remove 'approval: true', or add customer to 'to'")
    if step.approval and step.sender == "assistant":
        yield ("approval", "the sender approves the draft, and the assistant cannot",
               f"set sender to {humans}")
    if step.approval and (step.on_silence is None or step.silence_business_days is None):
        yield ("approval", "an approval step must say what happens when the sender stays silent",
               "add 'on_silence: send' (or skip) and 'silence_business_days: 2'")
    for setting in ("on_silence", "silence_business_days"):
        if getattr(step, setting) is not None and not step.approval:
            yield (setting, f"'{setting}' only applies to a step with approval",
                   "add 'approval: true' or remove this line")
    if step.kind == "meeting" and step.meeting_offset is None:
        yield ("kind", "a meeting step must say when the meeting takes place",
               "add 'meeting_offset:' (e.g. '2 business days'), and optionally "
               "'meeting_anchor:' and 'meeting_at:'")
    if step.kind == "email":
        for setting in ("duration_minutes", "meeting_anchor", "meeting_offset", "meeting_at"):
            if getattr(step, setting) is not None:
                yield (setting, f"'{setting}' only applies to meeting steps",
                       "add 'kind: meeting' or remove this line")
    if step.meeting_offset is not None and step.meeting_offset.uses_checkin_days:
        yield ("meeting_offset", f"'{CHECKIN_OFFSET}' is only meant for a step's offset",
               "write a number of days, like '2 business days'")
    if step.condition is not None and step.condition == step.stops_when:
        yield ("stops_when", "the step would stop the moment it may go out",
               "use a different condition for 'stops_when', or remove one of them")


def _cycles(playbook: Playbook, path: Path, lines: dict[YamlPath, int]) -> list[ConfigError]:
    """Steps that, through their anchors, wait for each other and so could never go out."""
    index_of = {step.id: index for index, step in enumerate(playbook.steps)}
    waits_for = {step.id: step.depends_on for step in playbook.steps
                 if step.depends_on in index_of}
    reported: set[frozenset[str]] = set()
    problems: list[ConfigError] = []
    for start in waits_for:
        chain = [start]
        while (following := waits_for.get(chain[-1])) is not None and following not in chain:
            chain.append(following)
        if following is None:
            continue
        loop = chain[chain.index(following):]
        if frozenset(loop) in reported:
            continue
        reported.add(frozenset(loop))
        first = min(loop, key=index_of.__getitem__)
        rotated = loop[loop.index(first):] + loop[:loop.index(first)]
        if len(loop) == 1:
            problem = f"step '{first}' waits for itself, so it can never go out"
        else:
            shown = ", which waits for ".join(f"'{step_id}'" for step_id in [*rotated, first])
            problem = f"steps wait for each other in a loop: {shown}; none of them can go out"
        problems.append(ConfigError(
            path, line_of(lines, ("steps", index_of[first], "anchor")), problem,
            f"anchor '{first}' on {', '.join(NAMED_ANCHORS)} or an earlier step"))
    return problems


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


def missing_templates(playbooks: Mapping[str, Playbook],
                      available: Iterable[str]) -> list[ConfigError]:
    """A ConfigError, on the step's template line, for each template that does not exist."""
    have = set(available)
    problems: list[ConfigError] = []
    for playbook in playbooks.values():
        for step in playbook.steps:
            if step.template not in have:
                close = difflib.get_close_matches(step.template, sorted(have), n=1, cutoff=0.6)
                fix = (f"did you mean '{close[0]}'?" if close
                       else f"add a template named '{step.template}' to templates/, "
                            "or use one that exists")
                problems.append(ConfigError(
                    playbook.source or playbook.name, playbook.line_of_step(step.id, "template"),
                    f"step '{step.id}' uses a template '{step.template}' that does not exist",
                    fix))
    return problems


# ---------------------------------------------------------------------------------------------
# Scheduling


@dataclass(frozen=True)
class Anchors:
    """The fixed points a transition's steps are planned from."""

    request_received: datetime
    effective_date: date | None = None
    last_day: date | None = None
    renewal_date: date | None = None


@dataclass(frozen=True)
class StepState:
    """What has happened to one step. `not_before` holds a step back (an out-of-office)."""

    status: Status = "pending"
    completed_at: datetime | None = None
    not_before: datetime | None = None


PENDING = StepState()


@dataclass(frozen=True)
class PlannedStep:
    """One line of the dated plan.

    `due_at` is None while the anchor is unknown (a step not yet done, a missing last day).
    `expected_at` then estimates it from the plan, for people to read; it is never used to
    send. `blocked_reason` says, in plain words, why a pending step cannot go out when due.
    `meeting_start` is set for meeting steps once the meeting can be dated.
    """

    step: StepSpec
    due_at: datetime | None
    status: str
    blocked_reason: str = ""
    expected_at: datetime | None = None
    meeting_start: datetime | None = None

    @property
    def meeting_end(self) -> datetime | None:
        if self.meeting_start is None:
            return None
        return self.meeting_start + timedelta(minutes=self.step.meeting_minutes)


def condition_holds(condition: str | None, conditions: Mapping[str, bool]) -> bool:
    """No condition always holds; `answers_incomplete` defaults to "not answers_complete"."""
    if condition is None:
        return True
    if condition == "answers_incomplete" and condition not in conditions:
        return not conditions.get("answers_complete", False)
    return bool(conditions.get(condition, False))


def effective_date(playbook: Playbook, anchors: Anchors, calendar: BusinessCalendar) -> date:
    """The request's effective date, else the playbook's default distance from the request.

    A default never falls before a known last day: the new CSM cannot take over an account
    the outgoing CSM is still running alone.
    """
    if anchors.effective_date is not None:
        return anchors.effective_date
    received = calendar.local(anchors.request_received).date()
    default = calendar.add_business_days(received, playbook.default_effective_business_days)
    if anchors.last_day is not None and default < anchors.last_day:
        return anchors.last_day
    return default


def plan(playbook: Playbook, anchors: Anchors, *, calendar: BusinessCalendar,
         states: Mapping[str, StepState], conditions: Mapping[str, bool]) -> list[PlannedStep]:
    """Every step of the playbook with its date and state, soonest first."""
    return _Scheduler(playbook, anchors, calendar, states, conditions).plan()


def due_steps(playbook: Playbook, anchors: Anchors, *, calendar: BusinessCalendar,
              states: Mapping[str, StepState], conditions: Mapping[str, bool],
              now: datetime) -> list[PlannedStep]:
    """The pending steps to carry out at `now`.

    A step whose moment passed while nothing ran is returned once, at the next run; the caller
    then records it as sent, skipped or awaiting approval, and it is never returned again.
    Customer mail is only returned within business hours.
    """
    scheduler = _Scheduler(playbook, anchors, calendar, states, conditions)
    ready: list[PlannedStep] = []
    for planned in scheduler.plan():
        if (planned.status != "pending" or planned.due_at is None or planned.due_at > now
                or planned.blocked_reason):
            continue
        if planned.step.keeps_business_hours and not calendar.in_business_hours(now):
            continue
        if planned.step.kind == "meeting":
            planned = replace(planned, meeting_start=scheduler.meeting_start(planned.step, now))
        ready.append(planned)
    return ready


def postpone_for_out_of_office(playbook: Playbook, states: Mapping[str, StepState], *,
                               away: str, back_on: date,
                               calendar: BusinessCalendar) -> dict[str, StepState]:
    """New states for the pending steps to `away` (a role) that wait while they are away.

    They are held until the start of the first business day after `back_on`, so the person
    gets their first day back before the reminders resume. Only changed states are returned.
    """
    resume = calendar.at_local(calendar.add_business_days(back_on, 1), calendar.day_start)
    changed: dict[str, StepState] = {}
    for step in playbook.steps:
        state = states.get(step.id, PENDING)
        if (step.postpone_on_out_of_office and away in step.to and state.status == "pending"
                and (state.not_before is None or state.not_before < resume)):
            changed[step.id] = replace(state, not_before=resume)
    return changed


def silence_deadline(step: StepSpec, *, drafted_at: datetime,
                     calendar: BusinessCalendar) -> datetime:
    """When an unanswered approval request turns into the step's `on_silence` outcome."""
    if step.silence_business_days is None:
        raise ValueError(f"step '{step.id}' does not ask for approval")
    local = calendar.local(drafted_at)
    day = calendar.add_business_days(local.date(), step.silence_business_days)
    return calendar.next_business_moment(calendar.at_local(day, local.time()))


def silence_outcome(step: StepSpec, *, drafted_at: datetime, now: datetime,
                    calendar: BusinessCalendar) -> str | None:
    """'send' or 'skip' once the sender's silence has lasted long enough, else None."""
    if now < silence_deadline(step, drafted_at=drafted_at, calendar=calendar):
        return None
    return step.on_silence


def _sort_key(planned: PlannedStep, position: int) -> tuple[int, datetime, int]:
    moment = planned.due_at or planned.expected_at
    if moment is None:
        return (1, datetime.max.replace(tzinfo=None), position)
    naive_utc = moment.astimezone(UTC).replace(tzinfo=None)
    return (0, naive_utc, position)


class _Scheduler:
    """Dates the steps of one transition; remembers estimates so chains are computed once."""

    def __init__(self, playbook: Playbook, anchors: Anchors, calendar: BusinessCalendar,
                 states: Mapping[str, StepState], conditions: Mapping[str, bool]) -> None:
        self.playbook = playbook
        self.anchors = anchors
        self.calendar = calendar
        self.states = states
        self.conditions = conditions
        self._estimates: dict[str, datetime | None] = {}

    def plan(self) -> list[PlannedStep]:
        order = {step.id: index for index, step in enumerate(self.playbook.steps)}
        planned = [self.planned(step) for step in self.playbook.steps]
        return sorted(planned, key=lambda p: _sort_key(p, order[p.step.id]))

    def state(self, step_id: str) -> StepState:
        return self.states.get(step_id, PENDING)

    def planned(self, step: StepSpec) -> PlannedStep:
        state = self.state(step.id)
        if state.status in DONE_STATUSES or state.status == "cancelled":
            due = state.completed_at or self.due_at(step, estimate=False)
            return PlannedStep(step, due, state.status)
        due = self.due_at(step, estimate=False)
        expected = None if due is not None else self.due_at(step, estimate=True)
        meeting = self.meeting_start(step, due or expected) if step.kind == "meeting" else None
        return PlannedStep(step, due, state.status, self.blocked_reason(step, due),
                           expected, meeting)

    def blocked_reason(self, step: StepSpec, due: datetime | None) -> str:
        if due is None:
            return self.waiting_for(step)
        if step.stops_when is not None and condition_holds(step.stops_when, self.conditions):
            return f"no longer needed: {_CONDITION_WORDS[step.stops_when]}"
        if step.condition is not None and not condition_holds(step.condition, self.conditions):
            return f"waits until {_CONDITION_WORDS[step.condition]}"
        return ""

    def waiting_for(self, step: StepSpec) -> str:
        offset = self.playbook.offset_of(step).describe()
        if step.depends_on is not None:
            other = self.playbook.step(step.depends_on)
            if self.state(other.id).status == "cancelled":
                return f"cannot be dated: '{other.title}' was cancelled"
            return f"{offset} after '{other.title}' is done"
        return f"waits for {_ANCHOR_WORDS[step.anchor]}, which is not known yet"

    def due_at(self, step: StepSpec, *, estimate: bool) -> datetime | None:
        """The moment a step falls due; with `estimate`, uncompleted steps it depends on are
        assumed to go out when they are planned to."""
        if estimate and step.id in self._estimates:
            return self._estimates[step.id]
        base = self.anchor_value(step, estimate=estimate)
        due = None
        if base is not None:
            due = self.shift(base, self.playbook.offset_of(step), step.at)
            received = self.anchors.request_received
            if due < received:
                due = self.calendar.next_business_moment(received)
            not_before = self.state(step.id).not_before
            if not_before is not None and due < not_before:
                due = not_before
            if step.keeps_business_hours:
                due = self.calendar.next_business_moment(due)
        if estimate:
            self._estimates[step.id] = due
        return due

    def anchor_value(self, step: StepSpec, *, estimate: bool) -> date | datetime | None:
        if step.depends_on is None:
            return self.named_anchor(step.anchor)
        other = self.playbook.step(step.depends_on)
        state = self.state(other.id)
        if state.status in DONE_STATUSES and state.completed_at is not None:
            return state.completed_at
        if estimate and state.status in ("pending", "awaiting_approval"):
            return self.due_at(other, estimate=True)
        return None

    def named_anchor(self, name: str) -> date | datetime | None:
        if name == "request_received":
            return self.anchors.request_received
        if name == "effective_date":
            return effective_date(self.playbook, self.anchors, self.calendar)
        value: date | None = getattr(self.anchors, name)
        return value

    def shift(self, base: date | datetime, offset: Offset, wall: time | None) -> datetime:
        """Apply an offset on local dates, then pin the local wall-clock time.

        A date anchor lands at `wall` (default: the start of the business day); a moment
        anchor keeps its own local time of day unless `wall` is given.
        """
        if isinstance(base, datetime):
            local = self.calendar.local(base)
            day, wall = local.date(), wall or local.time().replace(tzinfo=None)
        else:
            day, wall = base, wall or self.calendar.day_start
        if offset.business:
            day = self.calendar.add_business_days(day, offset.amount)
        else:
            day = self.calendar.add_days(day, offset.amount)
        return self.calendar.at_local(day, wall)

    def meeting_start(self, step: StepSpec, sent_at: datetime | None) -> datetime | None:
        """When the meeting itself takes place: after the invitation, in business hours."""
        if step.meeting_offset is None or sent_at is None:
            return None
        anchor = step.meeting_anchor or "sent"
        base = sent_at if anchor == "sent" else self.named_anchor(anchor)
        if base is None:
            return None
        wall = step.meeting_at or self.calendar.day_start
        start = self.calendar.next_business_moment(self.shift(base, step.meeting_offset, wall))
        sent_on = self.calendar.local(sent_at).date()
        if self.calendar.local(start).date() <= sent_on:
            # A late invitation would invite people to the past, or to a meeting a few hours
            # away: take the next business day at the same hour instead.
            next_day = self.calendar.add_business_days(sent_on, 1)
            start = self.calendar.next_business_moment(self.calendar.at_local(next_day, wall))
        return start
