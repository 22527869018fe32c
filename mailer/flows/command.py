"""A manager's commands on their transition: status, pause, resume, cancel, set a field,
send a step now, skip a step, send the workbook. Each gets an answer by email."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from mailer.flows.due_steps import approver_of, execute_step, planned_for, send_draft_as_is
from mailer.flows.meetings import (
    cancel_meetings,
    customer_mail_sent,
    recast_meetings,
    reschedule_meetings,
)
from mailer.flows.opening import checked_request, questionnaire_mail
from mailer.flows.outcome import Outcome
from mailer.flows.outgoing import Outgoing, person_view, queue_outgoing, transition_context
from mailer.flows.runtime import Runtime
from mailer.flows.schedule import plan_rows, playbook_of, save_step_state, step_states
from mailer.flows.workbook_delivery import current_answers, deliver_workbook
from mailer.handoff.commands import (
    CANCEL,
    PAUSE,
    RESUME,
    SEND,
    SEND_NOW,
    SEND_WORKBOOK,
    SET,
    SKIP,
    STATUS,
    Command,
    parse_command,
)
from mailer.handoff.model import InboundMessage, Person
from mailer.handoff.playbooks import StepSpec
from mailer.handoff.questionnaire import SECTION_BY_NUMBER, missing_sections
from mailer.handoff.request import request_from_fields
from mailer.handoff.request_fields import CUSTOMER_CONTACTS, INCOMING_CSM, OUTGOING_CSM
from mailer.handoff.scheduling import StepState
from mailer.handoff.step_names import find_step as match_step
from mailer.handoff.step_names import step_name
from mailer.handoff.transitions import (
    ACTIVE,
    CANCELLED,
    PAUSED,
    Transition,
    display_name,
    first_name,
    request_rows,
    with_request,
)
from mailer.mail.reply_text import new_text
from mailer.state.store import from_iso
from mailer.state.tokens import (
    ReplyToken,
    issue_token,
    revoke_person,
    revoke_token,
    revoke_tokens,
)
from mailer.state.transition_records import save_transition


def handle_command(rt: Runtime, msg: InboundMessage, t: Transition, *,
                   now: datetime) -> Outcome:
    rt.store.add_history(t.id, at=now, direction="in", sender=msg.from_email,
                         recipients=list(msg.to), subject=msg.subject, note="command",
                         message_id=msg.message_id)
    command = parse_command(new_text(msg.text, html=msg.html))
    if command is None:
        _answer(rt, msg, t, "command_unknown", now=now)
        return Outcome("processed", "no command recognised; the manager was told", t.id)
    handler = HANDLERS.get(command.verb)
    if handler is None:
        _answer(rt, msg, t, "command_unknown", now=now, verb=command.verb)
        return Outcome("processed", f"'{command.verb}' cannot be used here", t.id)
    if not t.is_open and command.verb != STATUS:
        _answer(rt, msg, t, "command_result", now=now,
                result=f"{t.id} is {t.status}, so it cannot be changed any more.")
        return Outcome("processed", f"{command.verb} refused: transition {t.status}", t.id)
    return handler(rt, msg, t, command, now)


def _answer(rt: Runtime, msg: InboundMessage, t: Transition, template: str, *,
            now: datetime, **values: Any) -> None:
    sender = Person(msg.from_name, msg.from_email)
    token = issue_token(rt.store, transition_id=t.id, person_email=t.manager.email,
                        purpose="manager", now=now, random_bytes=rt.random_bytes)
    queue_outgoing(rt, Outgoing(
        template=template, to=[sender], kind=template,
        context=transition_context(rt, t) | {"person": person_view(sender),
                                             "plan": plan_rows(rt, t)} | values,
        reply_token=token, answering=msg),
        transition_id=t.id, now=now)


STATUS_WORDS = {ACTIVE: "running", PAUSED: "paused: nothing is sent until you reply “resume”",
                CANCELLED: "cancelled", "completed": "completed"}


def _status(rt: Runtime, msg: InboundMessage, t: Transition, command: Command,
            now: datetime) -> Outcome:
    answers = current_answers(rt, t.id)
    missing = missing_sections(answers.keys(), playbook_of(rt, t).required_sections)
    history = rt.store.all("SELECT at, direction, subject, note FROM history "
                           "WHERE transition_id=? ORDER BY id DESC LIMIT 12", t.id)
    _answer(rt, msg, t, "status", now=now, status=t.status,
            status_words=STATUS_WORDS.get(t.status, t.status),
            answered=[f"{n}. {SECTION_BY_NUMBER[n].title}" for n in sorted(answers)
                      if n in SECTION_BY_NUMBER],
            missing=[f"{s.number}. {s.title}" for s in missing],
            workbook_version=t.workbook_version,
            history=[_history_line(rt, row) for row in reversed(history)])
    return Outcome("processed", "status sent", t.id)


def _history_line(rt: Runtime, row: Any) -> dict[str, str]:
    moment = from_iso(row["at"])
    when = moment.astimezone(rt.settings.timezone).strftime("%a %d %b %H:%M") if moment else ""
    verb = {"in": "received", "out": "sent"}.get(row["direction"], "noted")
    what = f"{verb} \"{row['subject']}\"" if row["subject"] else verb
    if row["direction"] == "note" and row["note"]:
        what += f" ({row['note']})"
    return {"when": when, "what": what}


def _set_status(status: str, words: str):  # noqa: ANN202 - a small handler factory
    def handler(rt: Runtime, msg: InboundMessage, t: Transition, command: Command,
                now: datetime) -> Outcome:
        if t.status == status:
            result = f"{t.id} was already {STATUS_WORDS.get(status, status)}; nothing changed."
        else:
            updated = replace(t, status=status)
            save_transition(rt.store, updated, now=now)
            if status == CANCELLED:
                revoke_tokens(rt.store, t.id)
            result = f"{t.id} is {words}" + (_next_step(rt, updated, now) if status == ACTIVE
                                             else "")
            if status == CANCELLED:
                result += _call_off(rt, updated, now=now)
        _answer(rt, msg, replace(t, status=status), "command_result", now=now, result=result)
        return Outcome("processed", f"{command.verb}: {t.id} {status}", t.id)
    return handler


def _next_step(rt: Runtime, t: Transition, now: datetime) -> str:
    upcoming = [row for row in plan_rows(rt, t) if row.status == "pending"
                and not row.blocked.startswith("no longer needed")]
    if not upcoming:
        return " Nothing is left to send."
    step = upcoming[0]
    if step.due_at is not None and step.due_at <= now:
        return f" First: {step.title}, due since {step.due}."
    return f" Next: {step.title} ({step.due})."


def transition_fields(t: Transition) -> dict[str, str]:
    """The transition as request fields, so `set` is validated like a request."""
    return {label: value for label, value in request_rows(t)
            if value not in ("not given", "none")} | {
        "Share reason": "yes" if t.share_reason else "no",
        OUTGOING_CSM: t.outgoing.formatted(), INCOMING_CSM: t.incoming.formatted(),
        CUSTOMER_CONTACTS: ", ".join(p.formatted() for p in t.customer_contacts)}


def _set_field(rt: Runtime, msg: InboundMessage, t: Transition, command: Command,
               now: datetime) -> Outcome:
    fields = transition_fields(t)
    fields.pop("Share reason with the customer", None)
    fields[command.field] = command.value
    parsed = checked_request(rt, request_from_fields(
        fields, today=now.astimezone(rt.settings.timezone).date()))
    if parsed.request is None:
        problems = [p for p in parsed.problems if p.field == command.field] or \
            list(parsed.problems)
        _answer(rt, msg, t, "command_result", now=now,
                result=f"I could not set {command.field}: "
                       + "; ".join(p.message for p in problems)
                       + f". Send it again as “set {problems[0].fix_line}”.")
        return Outcome("processed", f"set {command.field} refused", t.id)
    updated = with_request(t, parsed.request)
    note = ""
    if updated.incoming.email != t.incoming.email:
        updated, note = _hand_to_new_incoming(rt, t, updated, now=now)
    if updated.outgoing.email != t.outgoing.email:
        revoke_person(rt.store, t.id, t.outgoing.email)
    save_transition(rt.store, updated, now=now)
    if updated.outgoing.email != t.outgoing.email:
        _send_questionnaire_to_new_outgoing(rt, updated, now=now)
    if updated.incoming.email != t.incoming.email:
        _notify_new_incoming(rt, updated, now=now)
        if updated.workbook_version:
            _ask_before_sending_workbook(rt, old=t, new=updated, now=now)
            note += (f" The workbook goes to {display_name(updated.incoming)} once you "
                     "confirm it: I sent you a separate email for that.")
    note += _meetings_recast(rt, old=t, new=updated, now=now)
    note += _dates_moved(rt, old=t, new=updated, now=now)
    _answer(rt, msg, updated, "command_result", now=now, show_plan=True,
            result=f"{command.field} is now {command.value}. Every step that depends on it "
                   f"is rescheduled; the plan below is the new one.{note}")
    return Outcome("processed", f"set {command.field}", t.id)


_DATES = (("effective_date", "effective date"), ("last_day", "last day"),
          ("renewal_date", "renewal date"))


def _dates_moved(rt: Runtime, *, old: Transition, new: Transition, now: datetime) -> str:
    """After a date changed: the meetings already sent move (updated invitations to every
    attendee), and the manager learns which mails already told the customer the old date."""
    words = []
    for field, label in _DATES:
        before, after = getattr(old, field), getattr(new, field)
        if before is None or before == after:
            continue
        shown = rt.renderer.date_words(before)
        told = customer_mail_sent(rt, new, mentioning=shown)
        if told:
            words.append(f" The customer was already sent the old {label} ({shown}) in "
                         + _and(f'"{m.subject}" ({rt.renderer.date_words(m.sent_at)})'
                                for m in told)
                         + "; you may want to tell them the new one yourself.")
    for moved in reschedule_meetings(rt, old, new, now=now):
        change = (f"now takes place at {moved.location}" if moved.old_start == moved.new_start
                  else f"moves from {rt.renderer.moment_words(moved.old_start)} to "
                       f"{rt.renderer.moment_words(moved.new_start)}")
        words.append(f' The meeting "{moved.title}" {change}: an updated invitation went to '
                     f"{_and(display_name(p) for p in moved.attendees)}.")
    return "".join(words)


def _meetings_recast(rt: Runtime, *, old: Transition, new: Transition, now: datetime) -> str:
    """After a CSM was replaced: the meetings still to come change hands in every calendar."""
    words = []
    for meeting in recast_meetings(rt, old, new, now=now):
        words.append(f' At the meeting "{meeting.title}" '
                     f"({rt.renderer.moment_words(meeting.start)}), "
                     f"{_and(display_name(p) for p in meeting.joined)} takes the place of "
                     f"{_and(display_name(p) for p in meeting.left)}: an updated invitation went "
                     f"to {_and(display_name(p) for p in meeting.attendees)}, and "
                     f"{_and(first_name(p) for p in meeting.left)}'s calendar no longer has it.")
    return "".join(words)


def _call_off(rt: Runtime, t: Transition, *, now: datetime) -> str:
    """A cancelled transition: its meetings are called off in everyone's calendar, both CSMs
    are told, and the manager learns whether the customer had heard of the change."""
    told = customer_mail_sent(rt, t, sent_only=True)
    meetings = cancel_meetings(rt, t, now=now)
    queue_outgoing(rt, Outgoing(
        template="transition_cancelled", to=[t.outgoing, t.incoming], kind="transition_cancelled",
        context=transition_context(rt, t) | {
            "meetings": [{"title": m.title, "start": m.start} for m in meetings],
            "told": [{"subject": m.subject, "sent_at": m.sent_at} for m in told]},
        auto_submitted="auto-generated"), transition_id=t.id, now=now)
    words = f" {display_name(t.outgoing)} and {display_name(t.incoming)} are told."
    if meetings:
        words += (f" I cancelled {_and(chr(34) + m.title + chr(34) for m in meetings)} in "
                  "everyone's calendar.")
    if told:
        words += (" The customer had already heard about the change, in "
                  + _and(f'"{m.subject}" ({rt.renderer.date_words(m.sent_at)})' for m in told)
                  + ": you may want to tell them yourself that it is off.")
    else:
        words += " The customer had not been told anything about the change."
    return words


def _and(items: Iterable[str]) -> str:
    listed = list(items)
    return listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]


# What each prompt to the incoming CSM collects: asked again of a new incoming CSM until given.
_INCOMING_ANSWERS = {"intro_text_prompt": "intro_text", "call_notes_prompt": "call_notes",
                     "debrief_questionnaire": "debrief_text"}


def _hand_to_new_incoming(rt: Runtime, old: Transition, new: Transition, *,
                          now: datetime) -> tuple[Transition, str]:
    """A different incoming CSM: the old one's replies stop counting, and what only they were
    asked (their introduction, call notes) is asked again of the new one."""
    revoke_person(rt.store, old.id, old.incoming.email)
    states = step_states(rt.store, old.id)
    playbook = playbook_of(rt, old)
    introduced = any(states.get(s.id, StepState()).status == "sent"
                     for s in playbook.steps if s.template == "customer_intro")
    if not introduced:
        new = replace(new, intro_text="")
    for step in playbook.steps:
        field = _INCOMING_ANSWERS.get(step.template)
        if field is None or "incoming" not in step.to or getattr(new, field):
            continue
        if states.get(step.id, StepState()).status == "sent":
            save_step_state(rt.store, old.id, step.id, StepState())
    if introduced:
        return new, (f" The customer was already introduced to {display_name(old.incoming)};"
                     " you may want to tell them about the change yourself.")
    return new, ""


def _notify_new_incoming(rt: Runtime, t: Transition, *, now: datetime) -> None:
    token = issue_token(rt.store, transition_id=t.id, person_email=t.incoming.email,
                        purpose="incoming", now=now, random_bytes=rt.random_bytes)
    queue_outgoing(rt, Outgoing(
        template="incoming_notice", to=[t.incoming], kind="incoming_notice",
        context=transition_context(rt, t) | {"plan": plan_rows(rt, t)}, reply_token=token,
        auto_submitted="auto-generated"), transition_id=t.id, now=now)


def _send_questionnaire_to_new_outgoing(rt: Runtime, t: Transition, *, now: datetime) -> None:
    """A new outgoing CSM answers the questions from here on, with a reply address of their own."""
    token = issue_token(rt.store, transition_id=t.id, person_email=t.outgoing.email,
                        purpose="questionnaire", now=now, random_bytes=rt.random_bytes)
    context = transition_context(rt, t) | {"plan": plan_rows(rt, t), "fields": request_rows(t)}
    queue_outgoing(rt, questionnaire_mail(rt, t, context, token), transition_id=t.id, now=now)


CONFIRM_WORKBOOK = "confirm_workbook"


def _ask_before_sending_workbook(rt: Runtime, *, old: Transition, new: Transition,
                                 now: datetime) -> None:
    """The workbook holds the account's secrets: a new recipient needs the manager's own
    reply to a mail only the manager got (a one-time token bound to that recipient)."""
    token = issue_token(rt.store, transition_id=new.id, person_email=new.manager.email,
                        purpose=CONFIRM_WORKBOOK, step_id=new.incoming.email, now=now,
                        random_bytes=rt.random_bytes)
    queue_outgoing(rt, Outgoing(
        template="workbook_confirm", to=[new.manager], kind="workbook_confirm",
        context=transition_context(rt, new) | {"new_incoming": person_view(new.incoming),
                                               "old_incoming": person_view(old.incoming)},
        reply_token=token, auto_submitted="auto-generated", follows="request"),
        transition_id=new.id, now=now)


def confirm_workbook(rt: Runtime, msg: InboundMessage, t: Transition, token: ReplyToken, *,
                     now: datetime) -> Outcome:
    """The manager's answer to `workbook_confirm`: `send` sends it, once, to that person only."""
    command = parse_command(new_text(msg.text, html=msg.html))
    revoke_token(rt.store, token)  # one time only
    if command is None or command.verb != SEND:
        _answer(rt, msg, t, "command_result", now=now,
                result="I did not send the workbook: your reply did not say “send”. To send "
                       "it now, write “send workbook” in the transition's thread.")
        return Outcome("processed", "workbook confirmation declined", t.id)
    if t.incoming.email != token.step_id or not t.is_open:
        _answer(rt, msg, t, "command_result", now=now,
                result="I did not send the workbook: the incoming CSM has changed again since "
                       "I asked. Write “send workbook” in the transition's thread to send it "
                       f"to {display_name(t.incoming)}.")
        return Outcome("processed", "workbook confirmation out of date", t.id)
    updated = deliver_workbook(rt, t, now=now, change_summary=(
        f"handed to {display_name(t.incoming)}, the new incoming CSM"))
    _answer(rt, msg, updated, "command_result", now=now,
            result=f"Version {updated.workbook_version} of the handoff workbook is on its way "
                   f"to {display_name(t.incoming)}, with you in copy.")
    return Outcome("processed", "workbook sent to the new incoming CSM on confirmation", t.id)


def find_step(rt: Runtime, t: Transition, name: str) -> StepSpec | None:
    """A step by its title as the plan shows it, a distinctive part of it, or its name."""
    return match_step(playbook_of(rt, t).steps, name).step


def _send_now(rt: Runtime, msg: InboundMessage, t: Transition, command: Command,
              now: datetime) -> Outcome:
    step = find_step(rt, t, command.step)
    if step is None:
        return _unknown_step(rt, msg, t, command, now)
    state = step_states(rt.store, t.id).get(step.id, StepState())
    if state.status == "sent":
        result = f"'{step.title}' was already sent; a step is never sent twice."
    elif state.status == "awaiting_approval" or (step.approval and
                                                 approver_of(t, step) == t.manager):
        # The manager's own word is the approval: the draft goes out as it stands.
        outcome = send_draft_as_is(rt, t, step, now=now, approved=True)
        result = f"'{step.title}': {outcome.words}."
    else:
        outcome = execute_step(rt, t, planned_for(rt, t, step, now), now=now)
        result = f"'{step.title}': {outcome.words}."
    _answer(rt, msg, t, "command_result", now=now, result=result)
    return Outcome("processed", f"send now {step.id}", t.id)


def _skip(rt: Runtime, msg: InboundMessage, t: Transition, command: Command,
          now: datetime) -> Outcome:
    if not command.step:
        _answer(rt, msg, t, "command_result", now=now,
                result="Tell me which step to skip, e.g. “skip: customer recap”.")
        return Outcome("processed", "skip without a step", t.id)
    step = find_step(rt, t, command.step)
    if step is None:
        return _unknown_step(rt, msg, t, command, now)
    state = step_states(rt.store, t.id).get(step.id, StepState())
    if state.status == "sent":
        result = f"'{step.title}' has already gone out, so it cannot be skipped."
    else:
        save_step_state(rt.store, t.id, step.id, StepState(status="skipped", completed_at=now))
        result = f"'{step.title}' will not be sent. Steps planned after it keep their turn."
    _answer(rt, msg, t, "command_result", now=now, result=result)
    return Outcome("processed", f"skip {step.id}", t.id)


def _unknown_step(rt: Runtime, msg: InboundMessage, t: Transition, command: Command,
                  now: datetime) -> Outcome:
    steps = playbook_of(rt, t).steps
    match = match_step(steps, command.step)
    if match.closest:
        options = "; ".join(f"“{step_name(s)}” ({s.title})" for s in match.closest)
        lead = (f"'{command.step}' could be more than one step"
                if _names_several(steps, command.step)
                else f"There is no step called '{command.step}'")
        result = f"{lead}, so nothing was done. Did you mean: {options}?"
    else:
        names = ", ".join(f"“{step_name(s)}”" for s in steps)
        result = f"There is no step called '{command.step}'. The steps are: {names}."
    _answer(rt, msg, t, "command_result", now=now, result=result)
    return Outcome("processed", f"unknown step {command.step}", t.id)


def _names_several(steps: Sequence[StepSpec], name: str) -> bool:
    """Does `name` fit several steps (rather than none)?"""
    words = " ".join(name.lower().replace("_", " ").split())
    return sum(1 for s in steps if words and (words in s.title.lower()
                                               or words in step_name(s))) > 1


def _send_workbook(rt: Runtime, msg: InboundMessage, t: Transition, command: Command,
                   now: datetime) -> Outcome:
    answers = current_answers(rt, t.id)
    missing = missing_sections(answers.keys(), playbook_of(rt, t).required_sections)
    note = "sent on request" + (f" with {len(missing)} required section(s) still "
                                "unanswered" if missing else "")
    updated = deliver_workbook(rt, t, now=now, change_summary=note)
    gaps = (f" {len(missing)} required section{'' if len(missing) == 1 else 's'} "
            f"{'is' if len(missing) == 1 else 'are'} still unanswered: "
            + ", ".join(f"{s.number}. {s.title}" for s in missing) + "." if missing else "")
    _answer(rt, msg, updated, "command_result", now=now,
            result=f"Version {updated.workbook_version} of the handoff workbook is on its way "
                   f"to {display_name(t.incoming)}, with you in copy.{gaps}")
    return Outcome("processed", "workbook sent on request", t.id)


def _approve_without_draft(rt: Runtime, msg: InboundMessage, t: Transition, command: Command,
                           now: datetime) -> Outcome:
    _answer(rt, msg, t, "command_result", now=now,
            result="There is no draft waiting in this thread. To send a step now, write "
                   "“send now: <step>”, for example “send now: customer intro”.")
    return Outcome("processed", "send without a draft", t.id)


HANDLERS = {
    STATUS: _status,
    PAUSE: _set_status(PAUSED, "paused. Nothing more is sent, no reminders and no customer "
                               "emails, until you reply “resume”."),
    RESUME: _set_status(ACTIVE, "running again. Anything that fell due while it was paused "
                                "goes out once, now."),
    CANCEL: _set_status(CANCELLED, "cancelled. Nothing more will be sent, and replies to the "
                                   "earlier emails are no longer read. Its history and workbook "
                                   "stay under the data directory."),
    SET: _set_field,
    SEND_NOW: _send_now,
    SKIP: _skip,
    SEND_WORKBOOK: _send_workbook,
    SEND: _approve_without_draft,
}
