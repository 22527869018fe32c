"""Meetings a transition invites people to: the invitation, its updates, its cancellation.

The organizer is the assistant's address (the mail's From), so every person meant to attend,
the host included, is an ATTENDEE who receives the mail and can accept or decline it. Each
invitation is recorded; a date change sends the same UID with SEQUENCE + 1 to every attendee,
a cancelled transition sends METHOD:CANCEL for every meeting it had sent, and a replaced CSM
is taken off the meetings still to come while their successor is added.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from email import message_from_bytes, policy
from typing import Any

from mailer.flows.outgoing import Outgoing, person_view, queue_outgoing, transition_context
from mailer.flows.runtime import Runtime
from mailer.flows.schedule import anchors_of, conditions_of, playbook_of, step_states
from mailer.handoff.meeting_invite import (
    Meeting,
    Method,
    calendar_replies,
    invitation,
    people_of,
)
from mailer.handoff.model import InboundMessage, Person
from mailer.handoff.playbooks import StepSpec
from mailer.handoff.scheduling import meeting_moment
from mailer.handoff.transitions import Transition, display_name, first_name
from mailer.mail.compose import CalendarPart
from mailer.state.invitations import (
    CANCELLED,
    INVITED,
    invitations_of,
    next_version,
    record_answer,
    save_invitation,
)

log = logging.getLogger(__name__)
ASSISTANT_NAME = "Transitions assistant"
CALENDAR_TYPES = ("text/calendar", "application/ics")


def host_of(t: Transition, step: StepSpec) -> Person | None:
    """The person who hosts a meeting step: its sender, unless the assistant sends it."""
    return {"manager": t.manager, "outgoing": t.outgoing,
            "incoming": t.incoming}.get(step.sender)


def meeting_title(rt: Runtime, t: Transition, step: StepSpec) -> str:
    """What people's calendars show: the playbook's words, never a step's internal name."""
    default = ("{account} and {company}: meet {incoming_first}, your new Customer Success "
               "Manager" if step.customer_facing
               else "{account}: knowledge transfer, {outgoing_first} and {incoming_first}")
    values = {"account": t.account, "company": rt.settings.company_name,
              "incoming": display_name(t.incoming), "incoming_first": first_name(t.incoming),
              "outgoing": display_name(t.outgoing), "outgoing_first": first_name(t.outgoing)}
    return (step.meeting_title or default).format_map(values)


def description(t: Transition, step: StepSpec) -> str:
    if step.customer_facing:
        return (f"{display_name(t.incoming)} takes over as Customer Success Manager for "
                f"{t.account}. We go over where things stand and the next steps together.")
    return (f"{display_name(t.outgoing)} walks {display_name(t.incoming)} through {t.account} "
            "before the hand-over.")


def new_meeting(rt: Runtime, t: Transition, step: StepSpec, *, uid: str, start: datetime,
                end: datetime, attendees: list[Person]) -> Meeting:
    host = host_of(t, step)
    organizer = Person(f"{display_name(host)} via Transitions" if host else ASSISTANT_NAME,
                       rt.address)
    return Meeting(uid=uid,
                   title=meeting_title(rt, t, step), description=description(t, step),
                   start=start, end=end, organizer=organizer,
                   attendees=people_of(attendees),
                   location=t.meeting_link or step.meeting_location or "",
                   chair=host.email if host else "")


def calendar_part(rt: Runtime, meeting: Meeting, method: Method, now: datetime) -> CalendarPart:
    return CalendarPart(method, invitation(meeting, method=method,
                                           timezone=rt.settings.timezone, now=now))


def remember(rt: Runtime, t: Transition, step: StepSpec, meeting: Meeting, *, message_id: str,
             status: str = INVITED, now: datetime) -> None:
    save_invitation(rt.store, t.id, step.id, meeting, status=status, message_id=message_id,
                    now=now)


def meeting_view(rt: Runtime, meeting: Meeting) -> dict[str, Any]:
    """How templates see a meeting."""
    return {"title": meeting.title, "start": meeting.start, "end": meeting.end,
            "location": meeting.location,
            "attendees": ", ".join(display_name(p) for p in meeting.attendees)}


# ---------------------------------------------------------------------------------------------
# A date changes: every invitation already sent moves, and the manager learns who knew


@dataclass(frozen=True)
class Moved:
    title: str
    old_start: datetime
    new_start: datetime
    attendees: tuple[Person, ...]
    location: str = ""


def reschedule_meetings(rt: Runtime, old: Transition, new: Transition, *,
                        now: datetime) -> list[Moved]:
    """A date of the transition changed (`old` to `new`): send an updated invitation, to
    every attendee, for each meeting that this moves; return what moved."""
    moved: list[Moved] = []
    playbook = playbook_of(rt, new)
    states = step_states(rt.store, new.id)
    conditions = conditions_of(rt, new)
    for step_id, (meeting, status) in invitations_of(rt.store, new.id).items():
        if status != INVITED or meeting.start <= now or step_id not in {
                s.id for s in playbook.steps}:
            continue
        step = playbook.step(step_id)
        state = states.get(step_id)
        invited_at = state.completed_at if state and state.completed_at else now

        def start_for(t: Transition, at: datetime, step: StepSpec = step) -> datetime | None:
            return meeting_moment(playbook, anchors_of(t), calendar=rt.calendar, states=states,
                                  conditions=conditions, step=step, invited_at=at)

        before, start = start_for(old, invited_at), start_for(new, invited_at)
        if start is None or start == before:
            start = meeting.start
        elif start <= now:  # moved into the past: the next business day, as for a late invite
            start = start_for(new, now) or meeting.start
        location = new.meeting_link or step.meeting_location or ""
        if start == meeting.start and location == meeting.location:
            continue
        updated = next_version(meeting, start=start, location=location,
                               end=start + (meeting.end - meeting.start),
                               description=description(new, step))
        _send_change(rt, new, step, updated, method="REQUEST", template="meeting_update",
                     now=now, extra={"old_start": meeting.start})
        moved.append(Moved(meeting.title, meeting.start, start, meeting.attendees, location))
    return moved


@dataclass(frozen=True)
class Recast:
    """A meeting whose attendees changed because a CSM was replaced."""

    title: str
    start: datetime
    left: tuple[Person, ...]
    joined: tuple[Person, ...]
    attendees: tuple[Person, ...]


def recast_meetings(rt: Runtime, old: Transition, new: Transition, *,
                    now: datetime) -> list[Recast]:
    """A CSM was replaced (`old` to `new`): each meeting still to come that the replaced person
    was invited to is taken off their calendar (METHOD:CANCEL to them alone, RFC 5546 3.2.5)
    and updated for everyone else, the newcomer among the attendees (same UID, SEQUENCE + 1).
    The title and host follow the new CSM; the time and place stay."""
    swaps = {before.email.lower(): after for before, after in
             ((old.incoming, new.incoming), (old.outgoing, new.outgoing))
             if before.email.lower() != after.email.lower()}
    if not swaps:
        return []
    steps = {s.id: s for s in playbook_of(rt, new).steps}
    recast: list[Recast] = []
    for step_id, (meeting, status) in invitations_of(rt.store, new.id).items():
        leaving = tuple(p for p in meeting.attendees if p.email.lower() in swaps)
        if status != INVITED or meeting.start <= now or step_id not in steps or not leaving:
            continue
        step = steps[step_id]
        attendees = people_of([swaps.get(p.email.lower(), p) for p in meeting.attendees])
        joined = tuple(swaps[p.email.lower()] for p in leaving)
        updated = replace(new_meeting(rt, new, step, uid=meeting.uid, start=meeting.start,
                                      end=meeting.end, attendees=list(attendees)),
                          sequence=meeting.sequence + 1, location=meeting.location)
        for person in leaving:
            _send_change(rt, new, step, replace(updated, attendees=(person,)), method="CANCEL",
                         template="meeting_uninvited", now=now,
                         extra={"newcomer": person_view(swaps[person.email.lower()])})
        _send_change(rt, new, step, updated, method="REQUEST", template="meeting_update",
                     now=now, extra={"old_start": meeting.start,
                                     "joined": [person_view(p) for p in joined],
                                     "left": [person_view(p) for p in leaving]})
        recast.append(Recast(updated.title, updated.start, leaving, joined, attendees))
    return recast


def cancel_meetings(rt: Runtime, t: Transition, *, now: datetime) -> list[Meeting]:
    """METHOD:CANCEL for every meeting `t` had invited people to; returns them."""
    cancelled: list[Meeting] = []
    playbook = playbook_of(rt, t)
    for step_id, (meeting, status) in invitations_of(rt.store, t.id).items():
        if status != INVITED or meeting.start <= now:
            continue
        step = next((s for s in playbook.steps if s.id == step_id), None)
        if step is None:
            continue
        called_off = next_version(meeting, description=description(t, step))
        _send_change(rt, t, step, called_off, method="CANCEL", template="meeting_cancelled",
                     now=now, extra={})
        cancelled.append(called_off)
    return cancelled


def _send_change(rt: Runtime, t: Transition, step: StepSpec, meeting: Meeting, *,
                 method: Method, template: str, now: datetime, extra: dict[str, Any]) -> None:
    host = host_of(t, step)
    customers = {p.email.lower() for p in t.customer_contacts}
    to = [p for p in meeting.attendees if p.email.lower() in customers] or list(
        meeting.attendees)
    cc = [p for p in meeting.attendees if p not in to]
    message_id = queue_outgoing(rt, Outgoing(
        template=template, to=to, cc=cc, kind=f"{step.id}_{method.lower()}",
        context=transition_context(rt, t) | {
            "meeting": meeting_view(rt, meeting), "greeting": _greeting(to),
            "host": person_view(host) if host else None,
            "customer_facing": step.customer_facing, "from_person": step.customer_facing,
            "cancelled": method == "CANCEL"} | extra,
        from_name=meeting.organizer.name, reply_to_people=[host.email] if host else [],
        auto_submitted="auto-generated", calendar=calendar_part(rt, meeting, method, now),
        send_at=rt.calendar.next_business_moment(now) if step.customer_facing else None,
        follows=step.thread), transition_id=t.id, now=now)
    remember(rt, t, step, meeting, message_id=message_id,
             status=CANCELLED if method == "CANCEL" else INVITED, now=now)
    log.info("%s: %s of '%s' sent to %s", t.id, "cancellation" if method == "CANCEL"
             else "updated invitation", meeting.title,
             ", ".join(p.email for p in meeting.attendees))


def _greeting(people: list[Person]) -> str:
    names = [first_name(p) for p in people]
    if len(names) == 1:
        return f"Hi {names[0]},"
    if len(names) == 2:
        return f"Hi {names[0]} and {names[1]},"
    return "Hi all,"


# ---------------------------------------------------------------------------------------------
# What the customer was already told


@dataclass(frozen=True)
class Told:
    subject: str
    sent_at: datetime


def customer_mail_sent(rt: Runtime, t: Transition, *, mentioning: str = "",
                       sent_only: bool = False) -> list[Told]:
    """The mail the customer received about this transition (queued as well, unless
    `sent_only`), optionally only that which said `mentioning`."""
    customers = {p.email.lower() for p in t.customer_contacts}
    found: list[Told] = []
    for row in rt.store.all("SELECT subject, recipients_json, raw, created_at, sent_at, status "
                            "FROM outbound WHERE transition_id=? AND status IN "
                            "('queued', 'sent') ORDER BY id", t.id):
        recipients = {r.lower() for r in _json_list(row["recipients_json"])}
        if not recipients & customers:
            continue
        if sent_only and row["status"] != "sent":
            continue
        if mentioning and mentioning not in _text_of(bytes(row["raw"])):
            continue
        moment = datetime.fromisoformat(row["sent_at"] or row["created_at"])
        found.append(Told(row["subject"], moment))
    return found


def _json_list(text: str) -> list[str]:
    return list(json.loads(text))


def _text_of(raw: bytes) -> str:
    msg = message_from_bytes(raw, policy=policy.default)
    body = msg.get_body(("plain",))  # type: ignore[attr-defined]
    return " ".join(body.get_content().split()) if body is not None else ""


# ---------------------------------------------------------------------------------------------
# Attendees' answers (METHOD:REPLY) come back to the organizer: the assistant


def calendar_answers(rt: Runtime, msg: InboundMessage, *, now: datetime) -> int | None:
    """Record the Accept/Decline answers a mail carries; None when it carries none. An
    answer only counts from the attendee it names, for an invitation we sent."""
    parts = [a for a in msg.attachments if a.content_type in CALENDAR_TYPES]
    replies = [r for part in parts for r in calendar_replies(part.payload)]
    if not replies:
        return None
    recorded = 0
    for reply in replies:
        if reply.attendee != msg.from_email.lower():
            continue
        if record_answer(rt.store, reply.uid, reply.attendee, reply.answer, now):
            recorded += 1
    return recorded
