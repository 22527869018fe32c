"""Carrying out playbook steps: what is due goes out once, drafts wait for approval.

`run_due_steps` is called by the service loop and by `mailer run --once [--now T]`. Each step
is sent inside a transaction that also marks it done, so a crash can never send it twice.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from mailer.commands import SEND, SKIP, parse_command
from mailer.compose import OutgoingAttachment
from mailer.dispatch import Outgoing, person_view, queue_outgoing, transition_context
from mailer.meeting_invite import meeting_invite
from mailer.model import InboundMessage, Person
from mailer.outcome import Outcome
from mailer.playbooks import PlannedStep, StepSpec, StepState, due_steps, silence_outcome
from mailer.questionnaire import missing_sections
from mailer.reply_text import new_text
from mailer.runtime import Runtime
from mailer.schedule import (
    anchors_of,
    answered_sections,
    conditions_of,
    plan_rows,
    playbook_of,
    save_step_state,
    step_states,
)
from mailer.tokens import ReplyToken, issue_token
from mailer.transition_records import load_transition, open_transitions
from mailer.transitions import ACTIVE, Transition, display_name

log = logging.getLogger(__name__)

# Which reply a prompt asks for: the token purpose its Reply-To carries.
PROMPT_PURPOSES = {"intro_text_prompt": "intro_text", "call_notes_prompt": "call_notes",
                   "debrief_questionnaire": "debrief", "questionnaire_reminder": "questionnaire"}


def people(t: Transition, role: str) -> list[Person]:
    return {"manager": [t.manager], "outgoing": [t.outgoing], "incoming": [t.incoming],
            "customer": list(t.customer_contacts)}.get(role, [])


def sender_person(t: Transition, step: StepSpec) -> Person:
    return people(t, step.sender)[0] if step.sender != "assistant" else t.manager


def run_due_steps(rt: Runtime, now: datetime) -> int:
    """Send every step due at `now` across all active transitions; returns how many."""
    done = 0
    for t in open_transitions(rt.store):
        if t.status != ACTIVE:
            continue
        done += _settle_silences(rt, t, now)
        for planned in due_steps(playbook_of(rt, t), anchors_of(t), calendar=rt.calendar,
                                 states=step_states(rt.store, t.id),
                                 conditions=conditions_of(rt, t), now=now):
            with rt.store.transaction():
                fresh = load_transition(rt.store, t.id)
                state = step_states(rt.store, t.id).get(planned.step.id)
                if fresh is None or fresh.status != ACTIVE or (state and state.status != "pending"):
                    continue
                execute_step(rt, fresh, planned, now=now)
                done += 1
    return done


def execute_step(rt: Runtime, t: Transition, planned: PlannedStep, *, now: datetime,
                 forced: bool = False) -> str:
    """Send a step, or its draft for approval; marks it so it never goes twice."""
    step = planned.step
    if step.approval and not forced:
        _send_draft(rt, t, planned, now=now)
        save_step_state(rt.store, t.id, step.id,
                        StepState(status="awaiting_approval", completed_at=now))
        return "draft sent for approval"
    queue_outgoing(rt, step_mail(rt, t, planned, now=now), transition_id=t.id, now=now)
    save_step_state(rt.store, t.id, step.id, StepState(status="sent", completed_at=now))
    return "sent"


def _context(rt: Runtime, t: Transition, planned: PlannedStep, now: datetime) -> dict[str, Any]:
    playbook = playbook_of(rt, t)
    missing = missing_sections(answered_sections(rt.store, t.id), playbook.required_sections)
    return transition_context(rt, t) | {
        "step": {"id": planned.step.id, "title": planned.step.title},
        "plan": plan_rows(rt, t), "missing": [{"number": s.number, "title": s.title}
                                              for s in missing],
        "meeting_start": planned.meeting_start, "meeting_end": planned.meeting_end,
        "checkin_days": playbook.checkin_days, "sender": person_view(sender_person(t, planned.step)),
        "today": now.astimezone(rt.settings.timezone).date()}


def step_mail(rt: Runtime, t: Transition, planned: PlannedStep, *, now: datetime,
              template: str | None = None, extra: dict[str, Any] | None = None) -> Outgoing:
    step = planned.step
    to = [p for role in step.to for p in people(t, role)]
    cc = [p for role in step.cc for p in people(t, role) if p not in to]
    sender = sender_person(t, step)
    from_name = "Transitions assistant" if step.sender == "assistant" \
        else f"{display_name(sender)} via Transitions"
    token = _reply_token(rt, t, step, to, now)
    attachments = []
    if step.kind == "meeting" and planned.meeting_start is not None:
        end = planned.meeting_end or planned.meeting_start + timedelta(minutes=30)
        invite = meeting_invite(uid=f"{t.id}-{step.id}@{rt.settings.address_domain}",
                                title=f"{step.title}: {t.account}",
                                description=f"{step.title} for {t.account} ({t.id}).",
                                start=planned.meeting_start, end=end, organizer=t.manager,
                                attendees=[*to, *cc], now=now)
        attachments.append(OutgoingAttachment("invite.ics", "text/calendar", invite))
    customer_facing = step.customer_facing
    return Outgoing(
        template=template or step.template, to=to, cc=cc, kind=step.id,
        context=_context(rt, t, planned, now) | (extra or {}), from_name=from_name,
        reply_token=token,
        reply_to_people=[sender.email] if customer_facing or token is None else [],
        auto_submitted="auto-generated", attachments=attachments,
        send_at=rt.calendar.next_business_moment(now) if customer_facing else None)


def _reply_token(rt: Runtime, t: Transition, step: StepSpec, to: list[Person],
                 now: datetime) -> str | None:
    if step.customer_facing:
        return None  # customers' replies go to people, never to the assistant
    purpose = PROMPT_PURPOSES.get(step.template)
    if purpose is None and t.manager in to:
        purpose = "manager"
    if purpose is None or len(to) != 1:
        return None
    return issue_token(rt.store, transition_id=t.id, person_email=to[0].email, purpose=purpose,
                       now=now, step_id=step.id, random_bytes=rt.random_bytes)


def _send_draft(rt: Runtime, t: Transition, planned: PlannedStep, *, now: datetime) -> None:
    """The customer-facing text goes first to its sender, who replies send, skip or edits."""
    step = planned.step
    approver = sender_person(t, step)
    rendered = rt.renderer.render(step.template, context=_context(rt, t, planned, now))
    token = issue_token(rt.store, transition_id=t.id, person_email=approver.email,
                        purpose="approval", now=now, step_id=step.id,
                        random_bytes=rt.random_bytes)
    rt.store.run("UPDATE steps SET draft=? WHERE transition_id=? AND step_id=?",
                 f"{rendered.subject}\n{rendered.text}", t.id, step.id)
    save_step_state(rt.store, t.id, step.id, StepState(status="awaiting_approval",
                                                       completed_at=now),
                    draft=f"{rendered.subject}\n{rendered.text}")
    silence = step.on_silence or "skip"
    queue_outgoing(rt, Outgoing(
        template="approval_request", to=[approver], kind=f"{step.id}_draft",
        context=transition_context(rt, t) | {
            "approver": person_view(approver), "step": {"id": step.id, "title": step.title},
            "draft_subject": rendered.subject, "draft_text": rendered.text,
            "recipients": ", ".join(p.formatted() for r in step.to for p in people(t, r)),
            "silence": silence, "silence_days": step.silence_business_days or 2},
        reply_token=token, auto_submitted="auto-generated"), transition_id=t.id, now=now)


def _settle_silences(rt: Runtime, t: Transition, now: datetime) -> int:
    """Drafts nobody answered: the playbook's on_silence decides."""
    settled = 0
    playbook = playbook_of(rt, t)
    for step in playbook.steps:
        state = step_states(rt.store, t.id).get(step.id)
        if state is None or state.status != "awaiting_approval" or state.completed_at is None:
            continue
        if step.silence_business_days is None:
            continue
        outcome = silence_outcome(step, drafted_at=state.completed_at, now=now,
                                  calendar=rt.calendar)
        if outcome is None:
            continue
        with rt.store.transaction():
            if outcome == "send":
                send_draft_as_is(rt, t, step, now=now)
            else:
                save_step_state(rt.store, t.id, step.id, StepState(status="skipped",
                                                                   completed_at=now))
            rt.store.add_history(t.id, at=now, direction="note", sender=rt.address,
                                 recipients=[], subject=step.title,
                                 note=f"no answer to the draft: {outcome}")
            settled += 1
    return settled


def planned_for(rt: Runtime, t: Transition, step: StepSpec, now: datetime) -> PlannedStep:
    for planned in _plan(rt, t):
        if planned.step.id == step.id:
            if step.kind == "meeting" and planned.meeting_start is None:
                start = rt.calendar.next_business_moment(now + timedelta(days=1))
                return replace(planned, meeting_start=start)
            return planned
    return PlannedStep(step=step, due_at=now, status="pending")


def _plan(rt: Runtime, t: Transition) -> list[PlannedStep]:
    from mailer.schedule import planned_steps

    return planned_steps(rt, t)


def send_draft_as_is(rt: Runtime, t: Transition, step: StepSpec, *, now: datetime) -> None:
    execute_step(rt, t, planned_for(rt, t, step, now), now=now, forced=True)


def send_edited(rt: Runtime, t: Transition, step: StepSpec, text: str, *,
                now: datetime) -> None:
    row = rt.store.one("SELECT draft FROM steps WHERE transition_id=? AND step_id=?",
                       t.id, step.id)
    subject = (row["draft"].split("\n", 1)[0] if row and row["draft"] else step.title)
    mail = step_mail(rt, t, planned_for(rt, t, step, now), now=now, template="edited_message",
                     extra={"edited_subject": subject, "edited_text": text})
    queue_outgoing(rt, mail, transition_id=t.id, now=now)
    save_step_state(rt.store, t.id, step.id, StepState(status="sent", completed_at=now))


def handle_approval(rt: Runtime, msg: InboundMessage, t: Transition, token: ReplyToken, *,
                    now: datetime) -> Outcome:
    step = next((s for s in playbook_of(rt, t).steps if s.id == token.step_id), None)
    state = step_states(rt.store, t.id).get(token.step_id)
    if step is None or state is None or state.status != "awaiting_approval":
        _tell(rt, msg, t, "approval_closed", now=now, step_title=step.title if step else "")
        return Outcome("processed", "approval for a step that is no longer waiting", t.id)
    text = new_text(msg.text, html=msg.html).strip()
    command = parse_command(text)
    if command is not None and command.verb == SEND and not command.step:
        send_draft_as_is(rt, t, step, now=now)
        verdict = "sent as drafted"
    elif command is not None and command.verb == SKIP and not command.step:
        save_step_state(rt.store, t.id, step.id, StepState(status="skipped", completed_at=now))
        verdict = "skipped"
    elif text:
        send_edited(rt, t, step, text, now=now)
        verdict = "sent with your edits"
    else:
        return Outcome("processed", "empty approval reply", t.id)
    _tell(rt, msg, t, "approval_done", now=now, step_title=step.title, verdict=verdict)
    return Outcome("processed", f"{step.id}: {verdict}", t.id)


def _tell(rt: Runtime, msg: InboundMessage, t: Transition, template: str, *, now: datetime,
          **values: Any) -> None:
    sender = Person(msg.from_name, msg.from_email)
    queue_outgoing(rt, Outgoing(
        template=template, to=[sender], kind=template,
        context=transition_context(rt, t) | {"person": person_view(sender)} | values,
        in_reply_to=msg.message_id, references=msg.references), transition_id=t.id, now=now)
