"""Replies from the people of a transition: questionnaire answers, the incoming CSM's intro
text, call notes and debrief, and approvals of drafts.

Every reply gets a receipt saying what was understood and what is still missing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from mailer.automation import return_date
from mailer.contacts import parse_contacts
from mailer.dispatch import Outgoing, person_view, queue_outgoing, transition_context
from mailer.handoff import contacts_of, current_answers, deliver_workbook
from mailer.model import InboundMessage, Person
from mailer.outcome import Outcome
from mailer.playbooks import postpone_for_out_of_office
from mailer.questionnaire import (
    SECTION_BY_NUMBER,
    merge_answers,
    missing_sections,
    parse_answers,
    parse_issues,
    renewal_date_from,
)
from mailer.questionnaire_form import FormError, read_form
from mailer.reply_text import new_text
from mailer.runtime import Runtime
from mailer.schedule import playbook_of, save_step_state, step_states
from mailer.store import iso
from mailer.tokens import ReplyToken
from mailer.transition_records import save_form_contacts, save_transition
from mailer.transitions import Transition

XLSX_TYPES = ("spreadsheetml", "excel", "officedocument")
TEXT_PURPOSES = {"intro_text": "intro_text", "call_notes": "call_notes",
                 "debrief": "debrief_text"}


def handle_reply(rt: Runtime, msg: InboundMessage, t: Transition, token: ReplyToken, *,
                 now: datetime) -> Outcome:
    rt.store.add_history(t.id, at=now, direction="in", sender=msg.from_email,
                         recipients=list(msg.to), subject=msg.subject, note=token.purpose,
                         message_id=msg.message_id)
    if token.purpose == "questionnaire":
        return questionnaire_reply(rt, msg, t, now=now)
    if token.purpose in TEXT_PURPOSES:
        return text_reply(rt, msg, t, token.purpose, now=now)
    if token.purpose == "approval":
        from mailer.steps import handle_approval

        return handle_approval(rt, msg, t, token, now=now)
    return note_reply(rt, msg, t, now=now)


def _forms(msg: InboundMessage) -> list[bytes]:
    return [a.payload for a in msg.attachments
            if a.filename.lower().endswith((".xlsx", ".xlsm"))
            or any(k in a.content_type for k in XLSX_TYPES)]


def questionnaire_reply(rt: Runtime, msg: InboundMessage, t: Transition, *,
                        now: datetime) -> Outcome:
    reply = parse_answers(msg.text, html=msg.html)
    sections = dict(reply.sections)
    form_notes: list[str] = []
    form_contact_count = 0
    for payload in _forms(msg):
        try:
            form = read_form(payload)
        except FormError as exc:
            form_notes.append(str(exc))
            continue
        for number, text in form.sections.items():
            if text.strip() and number not in sections:
                sections[number] = text
        if form.contacts:
            save_form_contacts(rt.store, t.id, form.contacts)
            form_contact_count = len(form.contacts)
    previous = current_answers(rt, t.id)
    merged, changes = merge_answers(previous, sections)
    for number, text in sections.items():
        rt.store.run("INSERT INTO answers(transition_id, section, text, received_at, message_id)"
                     " VALUES(?,?,?,?,?)", t.id, number, text, iso(now), msg.message_id)
    for number in changes:
        rt.store.run("INSERT INTO current_answers(transition_id, section, text) VALUES(?,?,?) "
                     "ON CONFLICT(transition_id, section) DO UPDATE SET text=excluded.text",
                     t.id, number, merged[number])
    if reply.unplaced_text.strip() and not sections:
        rt.store.add_history(t.id, at=now, direction="in", sender=msg.from_email,
                             recipients=[], subject=msg.subject,
                             note=f"text under no heading: {reply.unplaced_text[:500]}")
    playbook = playbook_of(rt, t)
    missing = missing_sections(merged.keys(), playbook.required_sections)
    workbook_note = _maybe_workbook(rt, t, changes, missing, now=now, msg=msg)
    _send_receipt(rt, msg, t, merged, changes, missing, form_notes, form_contact_count,
                  workbook_note, unplaced=reply.unplaced_text if not sections else "", now=now)
    got = ", ".join(str(n) for n in sorted(changes)) or "none"
    return Outcome("processed", f"questionnaire reply: sections {got}", t.id)


def _maybe_workbook(rt: Runtime, t: Transition, changes: dict[int, str], missing: list,
                    *, now: datetime, msg: InboundMessage) -> str:
    if not changes or missing:
        return ""
    if t.workbook_version == 0:
        deliver_workbook(rt, t, now=now, change_summary="first version: all required "
                         "answers are in", in_reply_to=None)
        return "first"
    summary = "; ".join(f"section {n} ({SECTION_BY_NUMBER[n].title}) {how}"
                        for n, how in sorted(changes.items()) if n in SECTION_BY_NUMBER)
    deliver_workbook(rt, t, now=now, change_summary=f"updated: {summary}")
    return "update"


def _send_receipt(rt: Runtime, msg: InboundMessage, t: Transition, merged: dict[int, str],
                  changes: dict[int, str], missing: list, form_notes: list[str],
                  form_contacts: int, workbook_note: str, *, unplaced: str,
                  now: datetime) -> None:
    contacts = contacts_of(rt, t, merged) if 1 in changes or form_contacts else []
    issues = parse_issues(merged.get(4, "")) if 4 in changes else []
    renewal = renewal_date_from(merged.get(8, ""), today=now.date()) if 8 in changes else None
    sender = Person(msg.from_name, msg.from_email)
    received = [{"number": n, "title": SECTION_BY_NUMBER[n].title, "how": how}
                for n, how in sorted(changes.items()) if n in SECTION_BY_NUMBER]
    queue_outgoing(rt, Outgoing(
        template="questionnaire_receipt", to=[sender], kind="questionnaire_receipt",
        context=transition_context(rt, t) | {
            "person": person_view(sender), "received": received,
            "contacts": contacts, "issues": issues, "renewal": renewal,
            "missing": [{"number": s.number, "title": s.title} for s in missing],
            "form_notes": form_notes, "workbook_note": workbook_note, "unplaced": unplaced,
            "answered_count": len([n for n in merged if n in SECTION_BY_NUMBER])},
        reply_token=_token_for(rt, t, "questionnaire"), in_reply_to=msg.message_id,
        references=msg.references), transition_id=t.id, now=now)


def _token_for(rt: Runtime, t: Transition, purpose: str) -> str | None:
    row = rt.store.one("SELECT token FROM tokens WHERE transition_id=? AND purpose=? "
                       "AND revoked=0 ORDER BY created_at DESC LIMIT 1", t.id, purpose)
    return row["token"] if row else None


def text_reply(rt: Runtime, msg: InboundMessage, t: Transition, purpose: str, *,
               now: datetime) -> Outcome:
    """The incoming CSM's intro text, call notes or debrief: the new text of the reply."""
    text = new_text(msg.text, html=msg.html).strip()
    if not text:
        return Outcome("processed", f"empty {purpose} reply", t.id)
    updated = replace(t, **{TEXT_PURPOSES[purpose]: text})
    save_transition(rt.store, updated, now=now)
    if purpose == "debrief" and updated.workbook_version:
        deliver_workbook(rt, updated, now=now, change_summary="debrief added", mail=False)
    sender = Person(msg.from_name, msg.from_email)
    queue_outgoing(rt, Outgoing(
        template="text_receipt", to=[sender], kind=f"{purpose}_receipt",
        context=transition_context(rt, updated) | {"person": person_view(sender),
                                                   "purpose": purpose, "text": text},
        in_reply_to=msg.message_id, references=msg.references), transition_id=t.id, now=now)
    return Outcome("processed", f"{purpose} received", t.id)


def note_reply(rt: Runtime, msg: InboundMessage, t: Transition, *, now: datetime) -> Outcome:
    """A reply to a notice: kept in the history, and the sender told who to ask."""
    sender = Person(msg.from_name, msg.from_email)
    queue_outgoing(rt, Outgoing(
        template="note_receipt", to=[sender], kind="note_receipt",
        context=transition_context(rt, t) | {"person": person_view(sender)},
        in_reply_to=msg.message_id, references=msg.references), transition_id=t.id, now=now)
    return Outcome("processed", "reply to a notice kept in the history", t.id)


def note_out_of_office(rt: Runtime, t: Transition, msg: InboundMessage, *,
                       now: datetime) -> str:
    """Hold the reminders to an away person until after their return date."""
    role = {t.outgoing.email: "outgoing", t.incoming.email: "incoming",
            t.manager.email: "manager"}.get(msg.from_email)
    back_on = return_date(msg, today=now.astimezone(rt.settings.timezone).date())
    rt.store.add_history(t.id, at=now, direction="in", sender=msg.from_email, recipients=[],
                         subject=msg.subject, note="out-of-office reply",
                         message_id=msg.message_id)
    if role is None or back_on is None:
        return "out-of-office noted (no return date)"
    changed = postpone_for_out_of_office(playbook_of(rt, t), step_states(rt.store, t.id),
                                         away=role, back_on=back_on, calendar=rt.calendar)
    for step_id, state in changed.items():
        save_step_state(rt.store, t.id, step_id, state)
    return f"out-of-office until {back_on.isoformat()}: {len(changed)} reminder(s) moved"


__all__ = ["handle_reply", "note_out_of_office", "parse_contacts"]
