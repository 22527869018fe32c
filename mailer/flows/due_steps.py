"""Carrying out playbook steps: what is due goes out once, drafts wait for approval.

`run_due_steps` is called by the service loop and by `mailer run --once [--now T]`. Each step
is sent inside a transaction that also marks it done, so a crash can never send it twice.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from mailer.flows.book_reminders import send_grouped_steps
from mailer.flows.meetings import calendar_part, host_of, meeting_view, new_meeting, remember
from mailer.flows.outcome import Outcome
from mailer.flows.outgoing import Outgoing, person_view, queue_outgoing, transition_context
from mailer.flows.problems import isolated
from mailer.flows.runtime import Runtime
from mailer.flows.schedule import (
    DUE_SLICE,
    INDEX_SLICE,
    anchors_of,
    answered_sections,
    conditions_of,
    due_transitions,
    index_transitions,
    plan_rows,
    planned_steps,
    playbook_of,
    remember_next_due,
    save_step_state,
    step_states,
    transitions_to_index,
)
from mailer.handoff.commands import SEND, SKIP, parse_command
from mailer.handoff.meeting_invite import Meeting
from mailer.handoff.model import InboundMessage, Person
from mailer.handoff.playbooks import StepSpec
from mailer.handoff.questionnaire import missing_sections
from mailer.handoff.scheduling import PlannedStep, StepState, due_steps, silence_outcome
from mailer.handoff.transitions import ACTIVE, Transition, display_name, first_name
from mailer.mail.render import HtmlFragment
from mailer.mail.reply_text import new_text
from mailer.state.tokens import ReplyToken, issue_token, opaque_name, reissue_token
from mailer.state.transition_records import load_transition

log = logging.getLogger(__name__)

# Which reply a prompt asks for: the token purpose its Reply-To carries.
PROMPT_PURPOSES = {"intro_text_prompt": "intro_text", "call_notes_prompt": "call_notes",
                   "debrief_questionnaire": "debrief", "questionnaire_reminder": "questionnaire"}
ASSISTANT_NAME = "Transitions assistant"
# A reply to a draft that is neither `send` nor `skip` replaces the draft only when it looks like
# a whole email: "Looks good, go ahead!" must never reach a customer as the email itself.
MIN_EDIT_WORDS = 25
MIN_EDIT_SHARE = 0.3
_FIRST_PERSON = ((" is ", "I am "), (" has ", "I have "), (" will ", "I will "),
                 (" was ", "I was "), (" has been ", "I have been "))


def people(t: Transition, role: str) -> list[Person]:
    return {"manager": [t.manager], "outgoing": [t.outgoing], "incoming": [t.incoming],
            "customer": list(t.customer_contacts)}.get(role, [])


def sender_person(t: Transition, step: StepSpec) -> Person:
    """Who a step speaks as; the assistant's own mail names the manager as its human."""
    return people(t, step.sender)[0] if step.sender != "assistant" else t.manager


def approver_of(t: Transition, step: StepSpec) -> Person:
    return sender_person(t, step)


# ---------------------------------------------------------------------------------------------
# Words for customer mail


def customer_greeting(contacts: tuple[Person, ...]) -> str:
    """'Hi Pat,', 'Hi Pat and Jo,' or, for a larger group, 'Hi all,'."""
    names = [first_name(p) for p in contacts]
    if len(names) == 1:
        return f"Hi {names[0]},"
    if len(names) == 2:
        return f"Hi {names[0]} and {names[1]},"
    return "Hi all,"


def reason_sentence(t: Transition, *, speaker: Person) -> str:
    """The reason for the change as the sender would say it, or '' when it stays internal.

    The reason is only ever told to the customer when the request said `Share reason: yes`.
    Written by the manager about the outgoing CSM ("Sam is moving to ..."), it is turned into
    the outgoing CSM's own voice when they are the one writing ("I am moving to ...").
    """
    if not t.share_reason:
        return ""
    reason = " ".join(t.reason.split()).rstrip(" .")
    reason = re.sub(r"^because\s+", "", reason, flags=re.IGNORECASE)
    if not reason:
        return ""
    if speaker.email == t.outgoing.email:
        for name in (display_name(t.outgoing), first_name(t.outgoing)):
            for third, first in sorted(_FIRST_PERSON, key=lambda pair: -len(pair[0])):
                if reason.lower().startswith((name + third).lower()):
                    return f"{first}{reason[len(name + third):]}."
        return f"The reason for the change: {reason}."
    return f"{reason[0].upper()}{reason[1:]}."


# ---------------------------------------------------------------------------------------------
# Running what is due


def run_due_steps(rt: Runtime, now: datetime) -> int:
    """Send every step due at `now` across all active transitions, planning whatever needs
    it first, slice after slice until nothing is left; returns how many steps went."""
    done = 0
    after_seq = 0
    while True:
        result = run_scheduler_slice(rt, now, after_seq=after_seq)
        done += result.done
        after_seq = result.after_seq
        if not result.more:
            return done


@dataclass(frozen=True)
class SliceResult:
    done: int  # steps carried out
    more: bool  # work is left for the next slice (planning, or due steps of a large book)
    after_seq: int = 0  # the next slice goes on with the due transitions after this one


def run_scheduler_slice(rt: Runtime, now: datetime, *, limit: int = INDEX_SLICE,
                        due_limit: int = DUE_SLICE, after_seq: int = 0) -> SliceResult:
    """One bounded piece of the scheduler's work: plan afresh up to `limit` transitions (the
    hourly safety pass, transitions marked for a visit), then carry out the due steps of up
    to `due_limit` transitions, going on after `after_seq` (the previous slice's
    `after_seq`; 0 starts a new round). The service runs slices between inbound messages
    until `more` is False, so a book of a thousand accounts falling due at once never keeps
    a request waiting for more than a slice."""
    to_index, more = transitions_to_index(rt, now, limit=limit)
    index_transitions(rt, to_index, now=now)
    done = 0
    if after_seq == 0:
        # Grouped mail (one per person for all their accounts of a book) looks at every due
        # transition at once, so that a book is never split between two slices' mails.
        everyone = due_transitions(rt, now)
        done += isolated(rt, "grouped steps", lambda: send_grouped_steps(rt, now, everyone),
                         now=now, fallback=0)
        visits = everyone[:due_limit + 1]
    else:
        visits = due_transitions(rt, now, after_seq=after_seq, limit=due_limit + 1)
    # A transition whose data breaks its work is set aside with the reason; the rest run.
    for t in visits[:due_limit]:
        done += isolated(rt, t.id, lambda t=t: _run_transition(rt, t, now), now=now,
                         fallback=0)
    if len(visits) > due_limit:
        return SliceResult(done=done, more=True, after_seq=visits[due_limit - 1].seq)
    return SliceResult(done=done, more=more)


def _run_transition(rt: Runtime, t: Transition, now: datetime) -> int:
    done = _settle_silences(rt, t, now)
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
    with rt.store.transaction():
        fresh = load_transition(rt.store, t.id)
        if fresh is not None:
            remember_next_due(rt, fresh)
    return done


@dataclass(frozen=True)
class StepResult:
    """What became of a step, in words for the person who asked."""

    verdict: str  # "sent" | "draft"
    words: str


def execute_step(rt: Runtime, t: Transition, planned: PlannedStep, *, now: datetime,
                 forced: bool = False, approved: bool = False) -> StepResult:
    """Send a step, or its draft for approval; marks it so it never goes twice. `approved`:
    a person said send, so mail in a person's name goes as theirs, not as automatic mail."""
    step = planned.step
    if step.approval and not forced:
        _send_draft(rt, t, planned, now=now)
        approver = display_name(approver_of(t, step))
        log.info("%s: step '%s': draft sent to %s to approve", t.id, step.id, approver)
        return StepResult("draft", f"the draft went to {approver} to approve")
    mail, meeting = step_mail(rt, t, planned, now=now, approved=approved)
    message_id = queue_outgoing(rt, mail, transition_id=t.id, now=now)
    if meeting is not None:
        remember(rt, t, step, meeting, message_id=message_id, now=now)
    save_step_state(rt.store, t.id, step.id, StepState(status="sent", completed_at=now))
    leaves = _when_it_leaves(rt, mail, now)
    log.info("%s: step '%s' for %s queued in the outbox%s", t.id, step.id,
             ", ".join(person.email for person in mail.to),
             "" if leaves == "sent" else leaves.removeprefix("queued"))
    return StepResult("sent", leaves)


def _when_it_leaves(rt: Runtime, mail: Outgoing, now: datetime) -> str:
    if mail.send_at is None or mail.send_at <= now:
        return "sent"
    local = mail.send_at.astimezone(rt.settings.timezone)
    return f"queued; it leaves at the start of business hours, {local:%a %d %b %H:%M}"


def _context(rt: Runtime, t: Transition, planned: PlannedStep, now: datetime) -> dict[str, Any]:
    playbook = playbook_of(rt, t)
    missing = missing_sections(answered_sections(rt.store, t.id), playbook.required_sections)
    sender = sender_person(t, planned.step)
    return transition_context(rt, t) | {
        "step": {"id": planned.step.id, "title": planned.step.title},
        "plan": plan_rows(rt, t), "missing": [{"number": s.number, "title": s.title}
                                              for s in missing],
        "meeting_start": planned.meeting_start, "meeting_end": planned.meeting_end,
        "checkin_days": playbook.checkin_days, "sender": person_view(sender),
        "sender_role": planned.step.sender,
        "from_person": planned.step.customer_facing,
        "intro_text": _lines(t.intro_text), "call_notes": _lines(t.call_notes),
        "greeting": customer_greeting(t.customer_contacts),
        "reason_sentence": reason_sentence(t, speaker=sender),
        "handoff_done": t.workbook_version > 0,
        "today": now.astimezone(rt.settings.timezone).date()}


def step_mail(rt: Runtime, t: Transition, planned: PlannedStep, *, now: datetime,
              template: str | None = None, extra: dict[str, Any] | None = None,
              approved: bool = False) -> tuple[Outgoing, Meeting | None]:
    """The step's mail, and the meeting it invites to (recorded once the mail is queued)."""
    step = planned.step
    # RFC 3834: mail a person approved, sent in their name, is theirs; anything else the
    # assistant decided alone is marked automatic.
    automatic = None if approved and step.sender != "assistant" else "auto-generated"
    to = [p for role in step.to for p in people(t, role)]
    cc = [p for role in step.cc for p in people(t, role) if p not in to]
    sender = sender_person(t, step)
    from_name = ASSISTANT_NAME if step.sender == "assistant" \
        else f"{display_name(sender)} via Transitions"
    token = _reply_token(rt, t, step, to, cc, now)
    meeting = None
    if step.kind == "meeting" and planned.meeting_start is not None:
        # Every person meant to attend gets the invitation, the host included.
        host = host_of(t, step)
        if host is not None and host not in to and host not in cc:
            cc.append(host)
        end = planned.meeting_end or planned.meeting_start + timedelta(minutes=30)
        # The invitation's UID stays the same for this meeting, and names no transition.
        uid = f"{opaque_name(rt.store, f'{t.id}/{step.id}')}@{rt.settings.address_domain}"
        meeting = new_meeting(rt, t, step, uid=uid, start=planned.meeting_start, end=end,
                              attendees=[*to, *cc])
    mail = Outgoing(
        template=template or step.template, to=to, cc=cc, kind=step.id,
        context=_context(rt, t, planned, now) | (extra or {}) | (
            {"meeting": meeting_view(rt, meeting)} if meeting else {}), from_name=from_name,
        reply_token=token,
        # People's mail to each other (a meeting) is answered to its human sender; mail to
        # the sender themself without a reply token is answered in its thread, to us.
        reply_to_people=[sender.email] if step.customer_facing or (
            token is None and sender not in to) else [],
        auto_submitted=automatic,
        calendar=calendar_part(rt, meeting, "REQUEST", now) if meeting else None,
        send_at=rt.calendar.next_business_moment(now) if step.keeps_business_hours else None,
        holdable=True, **({"follows": step.thread} if step.follows else {"thread": step.thread}))
    return mail, meeting


def _reply_token(rt: Runtime, t: Transition, step: StepSpec, to: list[Person],
                 cc: list[Person], now: datetime) -> str | None:
    """A reply token for a mail to one person alone: a token is its owner's capability, so
    it never rides on a mail someone else receives too (the escalation copies the outgoing
    CSM: the manager answers it in its thread)."""
    if step.customer_facing:
        return None  # customers' replies go to people, never to the assistant
    purpose = PROMPT_PURPOSES.get(step.template)
    if purpose is None and t.manager in to:
        purpose = "manager"
    if purpose is None or len(to) != 1 or cc:
        return None
    return issue_token(rt.store, transition_id=t.id, person_email=to[0].email, purpose=purpose,
                       now=now, step_id=step.id, random_bytes=rt.random_bytes)


# ---------------------------------------------------------------------------------------------
# Approval of customer mail


def _send_draft(rt: Runtime, t: Transition, planned: PlannedStep, *, now: datetime,
                added: Sequence[Person] | None = ()) -> None:
    """The customer-facing text goes first to its sender, who replies send, skip or edits.

    The people it names are kept with it: silence only ever sends it to them. `added` are
    people named since an earlier draft (None: who that one named is not known), for whom
    the approver is asked again."""
    step = planned.step
    approver = approver_of(t, step)
    rendered = rt.renderer.render(step.template, context=_context(rt, t, planned, now))
    token = issue_token(rt.store, transition_id=t.id, person_email=approver.email,
                        purpose="approval", now=now, step_id=step.id,
                        random_bytes=rt.random_bytes)
    save_step_state(rt.store, t.id, step.id, StepState(status="awaiting_approval",
                                                       completed_at=now),
                    draft=f"{rendered.subject}\n{rendered.text}")
    rt.store.run("UPDATE steps SET draft_recipients=? WHERE transition_id=? AND step_id=?",
                 json.dumps(sorted(step_recipients(t, step))), t.id, step.id)
    recipients = [p for role in step.to for p in people(t, role)]
    copied = [p for role in step.cc for p in people(t, role) if p != approver]
    queue_outgoing(rt, Outgoing(
        template="approval_request", to=[approver], kind=f"{step.id}_draft",
        context=transition_context(rt, t) | {
            "approver": person_view(approver), "step": {"id": step.id, "title": step.title},
            "draft_subject": rendered.subject, "draft_text": rendered.text,
            "draft": HtmlFragment(rendered.body_html),
            "recipients": ", ".join(p.formatted() for p in recipients),
            "copied": ", ".join(display_name(p) for p in copied),
            "meeting": step.kind == "meeting",
            "added": ", ".join(p.formatted() for p in added or ()),
            "added_count": len(added or ()),
            "recipients_changed": added is None or bool(added),
            "silence": step.on_silence or "skip", "silence_days": step.silence_business_days or 2},
        reply_token=token, auto_submitted="auto-generated", thread=approval_thread(step)),
        transition_id=t.id, now=now)


def approval_thread(step: StepSpec) -> str:
    """The conversation of a draft with its approver: the request, the answers, the outcome."""
    return f"approval:{step.id}"


def _settle_silences(rt: Runtime, t: Transition, now: datetime) -> int:
    """Drafts nobody answered: the playbook's on_silence decides, and the sender is told."""
    settled = 0
    states = step_states(rt.store, t.id)
    for step in playbook_of(rt, t).steps:
        state = states.get(step.id)
        if state is None or state.status != "awaiting_approval" or state.completed_at is None:
            continue
        if step.silence_business_days is None:
            continue
        outcome = silence_outcome(step, drafted_at=state.completed_at, now=now,
                                  calendar=rt.calendar)
        if outcome is None:
            continue
        with rt.store.transaction():
            added = _named_since_draft(rt, t, step)
            if outcome == "send" and added != []:
                # Silence is no approval for people the approver was not shown: ask again.
                _send_draft(rt, t, planned_for(rt, t, step, now), now=now, added=added)
                rt.store.add_history(t.id, at=now, direction="note", sender=rt.address,
                                     recipients=[], subject=step.title,
                                     note="no answer to the draft, but its recipients changed "
                                     "since: asked again")
                settled += 1
                continue
            if outcome == "send":
                send_draft_as_is(rt, t, step, now=now, approved=False)
                verdict = "sent"
            else:
                save_step_state(rt.store, t.id, step.id, StepState(status="skipped",
                                                                   completed_at=now))
                verdict = "skipped"
            rt.store.add_history(t.id, at=now, direction="note", sender=rt.address,
                                 recipients=[], subject=step.title,
                                 note=f"no answer to the draft: {outcome}")
            _tell_approver_of_silence(rt, t, step, verdict, now=now)
            settled += 1
    return settled


def step_recipients(t: Transition, step: StepSpec) -> set[str]:
    """Everyone a step's mail goes to now (To and Cc), by address."""
    return {p.email.lower() for role in (*step.to, *step.cc) for p in people(t, role)}


def _named_since_draft(rt: Runtime, t: Transition, step: StepSpec) -> list[Person] | None:
    """The people the step's mail would reach now that its draft did not name ([] when
    none); None when the draft's recipients were not recorded (a draft from before they
    were)."""
    row = rt.store.one("SELECT draft_recipients FROM steps WHERE transition_id=? AND step_id=?",
                       t.id, step.id)
    if row is None or not row["draft_recipients"]:
        return None
    named = set(json.loads(row["draft_recipients"]))
    now_named = {p.email.lower(): p for role in (*step.to, *step.cc) for p in people(t, role)}
    return [p for email, p in sorted(now_named.items()) if email not in named]


def _tell_approver_of_silence(rt: Runtime, t: Transition, step: StepSpec, verdict: str, *,
                              now: datetime) -> None:
    approver = approver_of(t, step)
    queue_outgoing(rt, Outgoing(
        template="approval_done", to=[approver], kind=f"{step.id}_silence",
        context=transition_context(rt, t) | {
            "person": person_view(approver), "draft_subject": _draft_subject(rt, t, step),
            "outcome": verdict, "silence_days": step.silence_business_days, "silent": True,
            "unclear": False, "leaves": ""},
        auto_submitted="auto-generated", follows=approval_thread(step)), transition_id=t.id,
        now=now)


def planned_for(rt: Runtime, t: Transition, step: StepSpec, now: datetime) -> PlannedStep:
    """The step as the plan dates it now, with a meeting time even when sent early."""
    for planned in planned_steps(rt, t):
        if planned.step.id == step.id:
            if step.kind == "meeting" and (planned.meeting_start is None
                                           or planned.meeting_start <= now):
                start = rt.calendar.next_business_moment(now + timedelta(days=1))
                return replace(planned, meeting_start=start)
            return planned
    return PlannedStep(step=step, due_at=now, status="pending")


def send_draft_as_is(rt: Runtime, t: Transition, step: StepSpec, *, now: datetime,
                     approved: bool) -> StepResult:
    """The draft goes out as written: `approved` when a person said so, not when the
    playbook sends it after their silence."""
    return execute_step(rt, t, planned_for(rt, t, step, now), now=now, forced=True,
                        approved=approved)


def send_edited(rt: Runtime, t: Transition, step: StepSpec, text: str, *,
                now: datetime) -> StepResult:
    subject = _draft_subject(rt, t, step)
    mail, meeting = step_mail(rt, t, planned_for(rt, t, step, now), now=now,
                              template="edited_message", approved=True,
                              extra={"edited_subject": subject, "edited_text": text})
    message_id = queue_outgoing(rt, mail, transition_id=t.id, now=now)
    if meeting is not None:
        remember(rt, t, step, meeting, message_id=message_id, now=now)
    save_step_state(rt.store, t.id, step.id, StepState(status="sent", completed_at=now))
    return StepResult("sent", _when_it_leaves(rt, mail, now))


def looks_like_an_edit(text: str, draft: str) -> bool:
    """Is this reply a rewritten email, rather than a remark about the draft?"""
    words = len(text.split())
    draft_words = len(draft.split())
    return words >= min(MIN_EDIT_WORDS, max(1, int(draft_words * MIN_EDIT_SHARE)))


def handle_approval(rt: Runtime, msg: InboundMessage, t: Transition, token: ReplyToken, *,
                    now: datetime) -> Outcome:
    step = next((s for s in playbook_of(rt, t).steps if s.id == token.step_id), None)
    state = step_states(rt.store, t.id).get(token.step_id)
    if step is None or state is None or state.status != "awaiting_approval":
        _tell(rt, msg, t, "approval_closed", now=now,
              draft_subject=_draft_subject(rt, t, step) if step else "")
        return Outcome("processed", "approval for a step that is no longer waiting", t.id)
    text = _lines(new_text(msg.text, html=msg.html)).strip()
    command = parse_command(text)
    subject = _draft_subject(rt, t, step)
    if command is not None and command.verb == SEND and not command.step:
        result, verdict = send_draft_as_is(rt, t, step, now=now, approved=True), "sent"
    elif command is not None and command.verb == SKIP and not command.step:
        save_step_state(rt.store, t.id, step.id, StepState(status="skipped", completed_at=now))
        result, verdict = StepResult("skipped", ""), "skipped"
    elif text and looks_like_an_edit(text, _draft_of(rt, t, step)):
        result, verdict = send_edited(rt, t, step, text, now=now), "edited"
    else:
        _tell(rt, msg, t, "approval_done", now=now, draft_subject=subject, outcome="",
              unclear=True, silent=False,
              token=reissue_token(rt.store, token, now=now, random_bytes=rt.random_bytes),
              silence=step.on_silence or "skip", silence_days=step.silence_business_days)
        return Outcome("processed", f"{step.id}: reply to the draft not understood", t.id)
    leaves = result.words if result.words not in ("", "sent") else ""
    _tell(rt, msg, t, "approval_done", now=now, draft_subject=subject, outcome=verdict,
          leaves=leaves, unclear=False, silent=False)
    return Outcome("processed", f"{step.id}: {verdict}", t.id)


def _lines(text: str) -> str:
    """People's text with the line endings of mail (CRLF) made plain newlines."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _draft_of(rt: Runtime, t: Transition, step: StepSpec) -> str:
    row = rt.store.one("SELECT draft FROM steps WHERE transition_id=? AND step_id=?",
                       t.id, step.id)
    return row["draft"] if row else ""


def _draft_subject(rt: Runtime, t: Transition, step: StepSpec) -> str:
    return _draft_of(rt, t, step).split("\n", 1)[0] or step.title


def _tell(rt: Runtime, msg: InboundMessage, t: Transition, template: str, *, now: datetime,
          token: str | None = None, **values: Any) -> None:
    sender = Person(msg.from_name, msg.from_email)
    queue_outgoing(rt, Outgoing(
        template=template, to=[sender], kind=template,
        context=transition_context(rt, t) | {"person": person_view(sender),
                                             "leaves": ""} | values,
        reply_token=token, answering=msg),
        transition_id=t.id, now=now)
