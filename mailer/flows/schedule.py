"""A transition's playbook schedule: its anchors, step states, conditions and dated plan."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailer.flows.problems import record_problem
from mailer.flows.runtime import Runtime
from mailer.handoff.playbooks import Playbook
from mailer.handoff.questionnaire import SECTION_BY_NUMBER
from mailer.handoff.scheduling import (
    NOT_NEEDED,
    Anchors,
    PlannedStep,
    StepState,
    plan,
    plan_finished,
    silence_deadline,
)
from mailer.handoff.transitions import ACTIVE, COMPLETED, Transition, display_name
from mailer.state.invitations import INVITED, invitations_of
from mailer.state.store import Store, from_iso, iso
from mailer.state.transition_records import transition_from_row

log = logging.getLogger(__name__)

STATUS_WORDS = {"pending": "planned", "sent": "sent", "skipped": "skipped",
                "awaiting_approval": "draft waiting for approval", "cancelled": "cancelled"}
ROLE_WORDS = {"manager": "you", "outgoing": "outgoing CSM", "incoming": "incoming CSM",
              "customer": "customer", "assistant": "assistant"}


def playbook_of(rt: Runtime, t: Transition) -> Playbook:
    return rt.playbooks[t.playbook]


def anchors_of(t: Transition) -> Anchors:
    return Anchors(request_received=t.request_received, effective_date=t.effective_date,
                   last_day=t.last_day, renewal_date=t.renewal_date)


def step_states(store: Store, transition_id: str) -> dict[str, StepState]:
    return {row["step_id"]: StepState(status=row["status"],
                                      completed_at=from_iso(row["completed_at"]),
                                      not_before=from_iso(row["not_before"]))
            for row in store.all("SELECT * FROM steps WHERE transition_id=?", transition_id)}


def save_step_state(store: Store, transition_id: str, step_id: str, state: StepState,
                    *, draft: str | None = None) -> None:
    store.run("INSERT INTO steps(transition_id, step_id, status, completed_at, not_before, draft)"
              " VALUES(?,?,?,?,?,COALESCE(?, '')) ON CONFLICT(transition_id, step_id) DO UPDATE"
              " SET status=excluded.status, completed_at=excluded.completed_at,"
              " not_before=excluded.not_before, draft=COALESCE(?, steps.draft)",
              transition_id, step_id, state.status, iso(state.completed_at),
              iso(state.not_before), draft, draft)


def answered_sections(store: Store, transition_id: str) -> set[int]:
    return {row["section"] for row in store.all(
        "SELECT section FROM current_answers WHERE transition_id=?", transition_id)}


def conditions_of(rt: Runtime, t: Transition) -> dict[str, bool]:
    return conditions_from(rt, t, answered_sections(rt.store, t.id))


def conditions_from(rt: Runtime, t: Transition, answered: set[int]) -> dict[str, bool]:
    playbook = playbook_of(rt, t)
    complete = set(playbook.required_sections) <= answered
    return {"answers_complete": complete, "answers_incomplete": not complete,
            "intro_text_received": bool(t.intro_text.strip()),
            "call_notes_received": bool(t.call_notes.strip()),
            "workbook_sent": t.workbook_version > 0}


def planned_steps(rt: Runtime, t: Transition) -> list[PlannedStep]:
    return plan(playbook_of(rt, t), anchors_of(t), calendar=rt.calendar,
                states=step_states(rt.store, t.id), conditions=conditions_of(rt, t))


@dataclass(frozen=True)
class PlanRow:
    step_id: str
    title: str
    due: str  # when it happens, as people read it; for a meeting, when the meeting is
    who: str
    status: str
    due_at: datetime | None
    blocked: str = ""  # why a pending step will not go out when due, in plain words
    past: bool = False  # its moment has come (or gone) and it has not happened
    meeting_at: datetime | None = None  # a meeting step: when the meeting takes place

    @property
    def state(self) -> str:
        """The status as people say it. Never 'planned' for a moment already past: such a
        step is due now, or says what it waits for, or that it is not needed any more."""
        if self.status == "pending" and self.blocked.startswith(NOT_NEEDED):
            return "not needed any more"
        if self.status == "pending" and self.past:
            return f"due, but it {self.blocked}" if self.blocked else "due now"
        if self.status == "pending" and self.blocked and self.due_at is not None:
            return f"planned; {self.blocked}"
        return STATUS_WORDS.get(self.status, self.status)


def plan_rows(rt: Runtime, t: Transition, *, now: datetime | None = None) -> list[PlanRow]:
    """The dated plan as people read it, in the team's time zone: a meeting shows when it
    takes place, and a date that follows from known dates is shown as a date, not 'about'."""
    moment_now = now or rt.clock()
    planned_all = planned_steps(rt, t)
    by_id = {p.step.id: p for p in planned_all}
    sent_meetings = {step_id: meeting.start for step_id, (meeting, status)
                     in invitations_of(rt.store, t.id).items() if status == INVITED}
    rows: list[PlanRow] = []
    for planned in planned_all:
        step = planned.step
        meeting_at = sent_meetings.get(step.id) if planned.status == "sent" else (
            planned.meeting_start if planned.status in ("pending", "awaiting_approval")
            else None)
        moment = planned.due_at or planned.expected_at
        if meeting_at is not None:
            due = f"{_local(rt, meeting_at)} (the meeting)"
        elif moment is not None:
            firm = planned.due_at is not None or _firm(planned, by_id)
            local = moment.astimezone(rt.settings.timezone)
            due = _local(rt, moment) if firm else f"about {local:%a %d %b %Y}"
        else:
            due = planned.blocked_reason or "when its condition is met"
        past = planned.status == "pending" and planned.due_at is not None \
            and planned.due_at <= moment_now
        rows.append(PlanRow(step_id=step.id, title=step.title, due=due,
                            who=_who(t, planned), status=planned.status,
                            due_at=planned.due_at, blocked=planned.blocked_reason, past=past,
                            meeting_at=meeting_at))
    return rows


def _local(rt: Runtime, moment: datetime) -> str:
    return moment.astimezone(rt.settings.timezone).strftime("%a %d %b %Y %H:%M")


def _firm(planned: PlannedStep, by_id: dict[str, PlannedStep]) -> bool:
    """Is an estimated date certain, as far as the plan goes: every step it waits for is
    dated, needs no condition and no approval?"""
    step = planned.step
    while step.depends_on is not None:
        before = by_id.get(step.depends_on)
        if before is None or before.status not in ("pending",) or before.blocked_reason \
                or before.step.approval:
            return False
        if before.due_at is not None:
            return True
        step = before.step
    return False


def _who(t: Transition, planned: PlannedStep) -> str:
    names = {"manager": display_name(t.manager), "outgoing": display_name(t.outgoing),
             "incoming": display_name(t.incoming), "customer": "the customer"}
    to = ", ".join(names.get(role, role) for role in planned.step.to)
    sender = planned.step.sender
    if sender in ("assistant",):
        return f"to {to}"
    return f"{names.get(sender, sender)} to {to}"


def section_title(number: int) -> str:
    return SECTION_BY_NUMBER[number].title


NOTHING_DUE = "9999-12-31T00:00:00+00:00"  # sorts after every real instant
FULL_PASS_EVERY = timedelta(hours=1)
INDEX_SLICE = 200  # transitions planned per slice of the safety pass or of the index build
# Transitions whose due steps one slice carries out: each step is a mail rendered and queued
# (10 to 20 ms), so a slice stays well under a second even when a whole book falls due at once.
DUE_SLICE = 10


def next_due_moment(rt: Runtime, t: Transition) -> datetime | None:
    return next_due_step(rt, t)[0]


def next_due_step(rt: Runtime, t: Transition, *, states: dict[str, StepState] | None = None,
                  planned_all: list[PlannedStep] | None = None) -> tuple[datetime | None, str]:
    """The earliest moment anything time-based can happen to this transition: a pending
    step falling due (within business hours when it must) or a draft's silence running out.
    Steps waiting on a condition or on another step are left out: only an event (an answer,
    a command, a step done) can free them, and every event marks the transition for a visit.
    A caller that holds the step states and the plan already passes them in."""
    playbook = playbook_of(rt, t)
    if states is None:
        states = step_states(rt.store, t.id)
    if planned_all is None:
        planned_all = plan(playbook, anchors_of(t), calendar=rt.calendar, states=states,
                           conditions=conditions_of(rt, t))
    moments: list[tuple[datetime, str]] = []
    for planned in planned_all:
        step = planned.step
        if planned.status == "pending" and planned.due_at and not planned.blocked_reason:
            due = planned.due_at
            not_before = states.get(step.id, StepState()).not_before
            if not_before and not_before > due:
                due = not_before
            moments.append((rt.calendar.next_business_moment(due)
                            if step.keeps_business_hours else due, step.title))
        state = states.get(step.id)
        if planned.status == "awaiting_approval" and state and state.completed_at \
                and step.silence_business_days is not None:
            moments.append((silence_deadline(step, drafted_at=state.completed_at,
                                             calendar=rt.calendar),
                            f"{step.title} (goes ahead unless answered)"))
    if moments:
        return min(moments)
    waiting = any(p.status in ("pending", "awaiting_approval") for p in planned_all)
    return (None, "waiting for answers or replies" if waiting else "nothing left to send")


def remember_next_due(rt: Runtime, t: Transition) -> None:
    moment, label = next_due_step(rt, t)
    rt.store.run("UPDATE transitions SET next_due_at=?, next_step=? WHERE id=?",
                 iso(moment) if moment else NOTHING_DUE, label, t.id)
    if t.status == ACTIVE and moment is None and plan_finished(planned_steps(rt, t)):
        complete(rt, t, now=rt.clock())


def complete(rt: Runtime, t: Transition, *, now: datetime) -> None:
    """Every step is done: the transition says completed everywhere (status, digest, sheets),
    and stops counting as in flight. Call inside a transaction."""
    rt.store.run("UPDATE transitions SET status=?, next_step=?, updated_at=? WHERE id=? "
                 "AND status=?", COMPLETED, "nothing left: completed", iso(now), t.id, ACTIVE)
    rt.store.add_history(t.id, at=now, direction="note", sender=rt.address, recipients=[],
                         subject="", note="every step is done: the transition is completed")
    log.info("%s: every step is done; the transition is completed", t.id)


def mark_for_visit(store: Store, transition_id: str) -> None:
    """Something happened to this transition: the next scheduler pass looks at it."""
    store.run("UPDATE transitions SET next_due_at=NULL WHERE id=?", transition_id)


def due_transitions(rt: Runtime, now: datetime, *, after_seq: int = 0,
                    limit: int = -1) -> list[Transition]:
    """Active transitions whose stored next moment has come: the only ones a pass visits
    to carry out steps, so a pass over 10,000 transitions reads a handful of rows. In order
    of their numbers, from after `after_seq`, at most `limit` of them (-1: all)."""
    return _readable(rt, rt.store.all(
        "SELECT * FROM transitions WHERE status='active' AND next_due_at <= ? AND seq > ? "
        "ORDER BY seq LIMIT ?", iso(now), after_seq, limit))


def _readable(rt: Runtime, rows: list[sqlite3.Row]) -> list[Transition]:
    found = []
    for row in rows:
        try:
            found.append(transition_from_row(row))
        except (ValueError, TypeError, KeyError, AssertionError) as exc:
            # A row no code can read is the trouble of its own transition only.
            log.error("%s cannot be read (%s); it is left out of the pass", row["id"], exc)
            with rt.store.transaction():
                rt.store.run("UPDATE transitions SET next_due_at=?, next_step=? WHERE id=?",
                             NOTHING_DUE, f"stopped: its stored data cannot be read ({exc})",
                             row["id"])
    return found


def schedule_fingerprint(rt: Runtime) -> str:
    """What every stored next moment was computed from besides the transition itself: the
    playbooks and the business calendar. When it changes (an edited playbook, a new holiday)
    every transition is planned again."""
    c = rt.calendar
    parts = [f"{name}={rt.playbooks[name]!r}" for name in sorted(rt.playbooks)]
    parts.append(f"{c.tz.key}|{sorted(c.holidays)}|{c.day_start}|{c.day_end}|"
                 f"{sorted(c.workdays)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def transitions_to_index(rt: Runtime, now: datetime, *, limit: int) -> tuple[list[Transition],
                                                                               bool]:
    """The next slice of transitions to plan afresh, and whether more are left: first the
    safety pass (every active transition, once an hour, and at once when the playbooks or the
    calendar changed), then transitions marked for a visit. Done a slice at a time, between
    inbound messages, so a request arriving meanwhile is answered at once."""
    store = rt.store
    cursor = store.meta("sweep_after_seq")
    if not cursor:
        last_full = from_iso(store.meta("full_pass_at") or None)
        fingerprint = schedule_fingerprint(rt)
        if (last_full is None or now - last_full >= FULL_PASS_EVERY or now < last_full
                or store.meta("schedule_fingerprint") != fingerprint):
            changed = store.meta("schedule_fingerprint") not in ("", fingerprint)
            with store.transaction():
                store.set_meta("full_pass_at", iso(now) or "")
                store.set_meta("schedule_fingerprint", fingerprint)
                store.set_meta("sweep_after_seq", "0")
            cursor = "0"
            log.info("safety pass: planning every active transition again%s, %d at a time "
                     "between inbound messages", " (the playbooks or the business calendar "
                     "changed)" if changed else "", limit)
    rows: list[sqlite3.Row] = []
    if cursor:
        # Transitions marked for a visit are planned below anyway.
        rows = store.all("SELECT * FROM transitions WHERE status='active' AND seq > ? AND "
                         "next_due_at IS NOT NULL ORDER BY seq LIMIT ?", int(cursor), limit)
        with store.transaction():
            store.set_meta("sweep_after_seq", str(rows[-1]["seq"]) if rows else "")
        if not rows:
            log.info("safety pass done")
    if len(rows) < limit:
        rows += store.all("SELECT * FROM transitions WHERE status='active' AND next_due_at IS "
                          "NULL ORDER BY seq LIMIT ?", limit - len(rows))
    more = len(rows) >= limit or bool(store.meta("sweep_after_seq"))
    return _readable(rt, rows), more


def index_transitions(rt: Runtime, transitions: list[Transition], *, now: datetime) -> None:
    """Plan each transition once and store its next moment, all in one transaction."""
    if not transitions:
        return
    ids = [t.id for t in transitions]
    states = _states_of(rt.store, ids)
    answered = _answered_of(rt.store, ids)
    updates = []
    finished: list[Transition] = []
    for t in transitions:
        mine = states.get(t.id, {})
        try:
            planned_all = plan(playbook_of(rt, t), anchors_of(t), calendar=rt.calendar,
                               states=mine,
                               conditions=conditions_from(rt, t, answered.get(t.id, set())))
            moment, label = next_due_step(rt, t, states=mine, planned_all=planned_all)
            if t.status == ACTIVE and plan_finished(planned_all):
                finished.append(t)
        except Exception as exc:  # noqa: BLE001 - one transition must never stop the others
            log.exception("%s: its plan cannot be worked out; it is set aside", t.id)
            record_problem(rt, t.id, f"{exc.__class__.__name__}: {exc}", now=now)
            continue
        updates.append((iso(moment) if moment else NOTHING_DUE, label, t.id))
    with rt.store.transaction():
        rt.store.db.executemany("UPDATE transitions SET next_due_at=?, next_step=? WHERE id=?",
                                updates)
        for t in finished:
            complete(rt, t, now=now)


def _states_of(store: Store, ids: list[str]) -> dict[str, dict[str, StepState]]:
    found: dict[str, dict[str, StepState]] = {}
    marks = ",".join("?" * len(ids))
    for row in store.all(f"SELECT transition_id, step_id, status, completed_at, not_before "
                         f"FROM steps WHERE transition_id IN ({marks})", *ids):
        found.setdefault(row[0], {})[row[1]] = StepState(
            status=row[2], completed_at=from_iso(row[3]), not_before=from_iso(row[4]))
    return found


def _answered_of(store: Store, ids: list[str]) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    marks = ",".join("?" * len(ids))
    for row in store.all(f"SELECT transition_id, section FROM current_answers "
                         f"WHERE transition_id IN ({marks})", *ids):
        found.setdefault(row[0], set()).add(row[1])
    return found
