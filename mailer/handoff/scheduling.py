"""The pure scheduler: anchors, step states, conditions and "now" come in; dated steps come out.

Nothing here reads a clock or a database, so a plan can be checked for any instant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from mailer.handoff.business_time import BusinessCalendar
from mailer.handoff.playbooks import Offset, Playbook, StepSpec

Status = Literal["pending", "sent", "skipped", "awaiting_approval", "cancelled"]
DONE_STATUSES = ("sent", "skipped")

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


NOT_NEEDED = "no longer needed"


def plan_finished(planned: Sequence[PlannedStep]) -> bool:
    """Nothing is left to happen: every step went out or was skipped, or is no longer needed
    (its `stops_when` holds), or can never be dated."""
    return all(p.status in (*DONE_STATUSES, "cancelled") or (
        p.status == "pending" and p.blocked_reason.startswith((NOT_NEEDED, "cannot be dated")))
        for p in planned)


def meeting_moment(playbook: Playbook, anchors: Anchors, *, calendar: BusinessCalendar,
                   states: Mapping[str, StepState], conditions: Mapping[str, bool],
                   step: StepSpec, invited_at: datetime) -> datetime | None:
    """When a meeting step's meeting takes place for an invitation sent at `invited_at`
    (after the invitation, in business hours, on the date its anchor says)."""
    return _Scheduler(playbook, anchors, calendar, states, conditions).meeting_start(
        step, invited_at)


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
            return f"{NOT_NEEDED}: {_CONDITION_WORDS[step.stops_when]}"
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
