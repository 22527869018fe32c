"""Grouped reminders for a book of business: one mail per person, not one per account.

Runs before the playbook's step executor. When the same reminder (or the prompt for the
incoming CSM's introduction) falls due for two or more of one person's book transitions, it
goes out once, listing every account, and each of those steps is marked as sent, so the step
executor never sends them one by one. A step due for a single account is left to the executor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailer.flows.outgoing import Outgoing, person_view, queue_outgoing
from mailer.flows.runtime import Runtime
from mailer.flows.schedule import (
    anchors_of,
    answered_sections,
    conditions_of,
    playbook_of,
    save_step_state,
    step_states,
)
from mailer.flows.shared_mail import (
    BOOK_QUESTIONNAIRE_THREAD,
    companions,
    group_token,
    note_shared_mail,
)
from mailer.handoff.model import Person
from mailer.handoff.questionnaire import missing_sections
from mailer.handoff.scheduling import PlannedStep, StepState, due_steps
from mailer.handoff.transitions import ACTIVE, Transition, display_name
from mailer.state.transition_records import open_transitions


@dataclass(frozen=True)
class GroupRule:
    """How a playbook template is grouped: whose it is, which mail, which reply purpose."""

    role: str
    template: str
    purpose: str
    thread: str  # the conversation the grouped mails of this kind continue


GROUPED_TEMPLATES: dict[str, GroupRule] = {
    "questionnaire_reminder": GroupRule("outgoing", "grouped_reminder", "book_questionnaire",
                                        BOOK_QUESTIONNAIRE_THREAD),
    "intro_text_prompt": GroupRule("incoming", "grouped_intro_prompt", "book_intro_text",
                                   "book_intro_text"),
}


def book_transition_ids(rt: Runtime) -> set[str]:
    return {row["transition_id"] for row in rt.store.all(
        "SELECT transition_id FROM book_rows WHERE outcome='started'")}


def send_grouped_steps(rt: Runtime, now: datetime,
                       candidates: list[Transition] | None = None) -> int:
    """Send the grouped mails due at `now` among `candidates` (default: every open
    transition); returns how many mails went out."""
    in_books = book_transition_ids(rt)
    if not in_books:
        return 0
    groups: dict[tuple[str, str], list[tuple[Transition, PlannedStep]]] = {}
    for t in open_transitions(rt.store) if candidates is None else candidates:
        if t.status != ACTIVE or t.id not in in_books:
            continue
        for planned in _groupable_due_steps(rt, t, now):
            rule = GROUPED_TEMPLATES[planned.step.template]
            person = _person(t, rule.role)
            groups.setdefault((planned.step.template, person.email), []).append((t, planned))
    sent = 0
    for (template, _), items in groups.items():
        if len({t.id for t, _ in items}) < 2:
            continue
        with rt.store.transaction():
            fresh = [(t, p) for t, p in items
                     if step_states(rt.store, t.id).get(p.step.id, StepState()).status
                     == "pending"]
            if len({t.id for t, _ in fresh}) < 2:
                continue
            _send_group(rt, GROUPED_TEMPLATES[template], fresh, now=now)
            sent += 1
    return sent


def _groupable_due_steps(rt: Runtime, t: Transition, now: datetime) -> list[PlannedStep]:
    due = due_steps(playbook_of(rt, t), anchors_of(t), calendar=rt.calendar,
                    states=step_states(rt.store, t.id), conditions=conditions_of(rt, t),
                    now=now)
    return [p for p in due if (rule := GROUPED_TEMPLATES.get(p.step.template)) is not None
            and list(p.step.to) == [rule.role] and not p.step.cc and not p.step.approval
            and p.step.kind == "email"]


def _person(t: Transition, role: str) -> Person:
    return t.outgoing if role == "outgoing" else t.incoming


def _send_group(rt: Runtime, rule: GroupRule, items: list[tuple[Transition, PlannedStep]], *,
                now: datetime) -> None:
    transitions = list({t.id: t for t, _ in items}.values())
    person = _person(transitions[0], rule.role)
    token = group_token(rt, transitions, person, rule.purpose, now=now)
    queue_outgoing(rt, Outgoing(
        template=rule.template, to=[person], kind=f"grouped_{items[0][1].step.id}",
        context={"person": person_view(person),
                 "accounts": [_account_view(rt, t) for t in transitions]},
        reply_token=token, auto_submitted="auto-generated",
        follows=rule.thread, shared_with=companions(rt, transitions)),
        transition_id=transitions[0].id, now=now)
    note_shared_mail(rt, transitions, person, subject=items[0][1].step.title,
                     kind=items[0][1].step.id, now=now)
    for t, planned in items:
        save_step_state(rt.store, t.id, planned.step.id, StepState(status="sent",
                                                                   completed_at=now))


def _account_view(rt: Runtime, t: Transition) -> dict[str, Any]:
    missing = missing_sections(answered_sections(rt.store, t.id),
                               playbook_of(rt, t).required_sections)
    return {"tid": t.id, "account": t.account, "incoming": display_name(t.incoming),
            "outgoing": display_name(t.outgoing),
            "missing": [f"{s.number}. {s.title}" for s in missing]}
