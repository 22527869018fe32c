"""Replies from the people of a transition: questionnaire answers, the incoming CSM's intro
text, call notes and debrief, and approvals of drafts.

Every reply gets a receipt saying what was understood and what is still missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from mailer.flows.outcome import Outcome
from mailer.flows.outgoing import Outgoing, person_view, queue_outgoing, transition_context
from mailer.flows.runtime import Runtime
from mailer.flows.schedule import playbook_of, save_step_state, step_states
from mailer.flows.workbook_delivery import (
    CONTACTS_SECTION,
    CONTRACT_SECTION,
    RED_FLAGS_SECTION,
    contacts_of,
    current_answers,
    deliver_workbook,
)
from mailer.handoff.contacts import contacts_as_text
from mailer.handoff.issues import parse_issues
from mailer.handoff.model import (
    Attachment,
    Contact,
    InboundMessage,
    IssueStatus,
    Person,
)
from mailer.handoff.questionnaire import (
    SECTION_BY_NUMBER,
    SECTIONS,
    excerpt,
    merge_answers,
    missing_sections,
    without_extend_marker,
)
from mailer.handoff.questionnaire_form import FormError, read_form
from mailer.handoff.renewal import renewal_date_from
from mailer.handoff.scheduling import postpone_for_out_of_office
from mailer.handoff.transitions import Transition
from mailer.mail.automation import return_date
from mailer.mail.reply_text import new_text, questionnaire_answers
from mailer.state.store import iso
from mailer.state.tokens import ReplyToken, reissue_token
from mailer.state.transition_records import save_form_contacts, save_transition

MAX_AWAY = timedelta(days=365)  # an out-of-office "until" further out is not believed
XLSX_TYPES = ("spreadsheetml", "excel", "officedocument")
TEXT_PURPOSES = {"intro_text": "intro_text", "call_notes": "call_notes",
                 "debrief": "debrief_text"}


def handle_reply(rt: Runtime, msg: InboundMessage, t: Transition, token: ReplyToken, *,
                 now: datetime) -> Outcome:
    """A person's reply to a single transition's mail, by what their token asked of them."""
    if token.purpose == "questionnaire":
        return questionnaire_reply(rt, msg, t, token, now=now)
    if token.purpose in TEXT_PURPOSES:
        return text_reply(rt, msg, t, token.purpose, now=now)
    return note_reply(rt, msg, t, now=now)


def _forms(msg: InboundMessage) -> list[Attachment]:
    return [a for a in msg.attachments
            if a.filename.lower().endswith((".xlsx", ".xlsm"))
            or any(k in a.content_type for k in XLSX_TYPES)]


@dataclass
class _ReplyContent:
    """Everything one questionnaire reply holds: the email's text and any filled forms."""

    sections: dict[int, str]
    unplaced: str
    from_form: set[int] = field(default_factory=set)
    form_notes: list[str] = field(default_factory=list)
    form_contacts: list[Contact] = field(default_factory=list)


def read_reply(msg: InboundMessage, t: Transition) -> _ReplyContent:
    """The answers in the email body; a filled form adds the sections the body leaves out."""
    reply = questionnaire_answers(msg)
    content = _ReplyContent(sections=dict(reply.sections), unplaced=reply.unplaced_text)
    for attachment in _forms(msg):
        try:
            form = read_form(attachment.payload)
        except FormError as exc:
            content.form_notes.append(f"“{attachment.filename}”: {exc}")
            continue
        if form.transition_id and form.transition_id != t.id:
            content.form_notes.append(
                f"“{attachment.filename}” is the form for {form.transition_id}, not {t.id}, so "
                "I left it out. Please send it back in reply to that transition's questions.")
            continue
        for number, text in form.sections.items():
            if text.strip() and number not in content.sections:
                content.sections[number] = text
                content.from_form.add(number)
        if form.contacts:
            content.form_contacts = form.contacts
            if CONTACTS_SECTION not in content.sections:
                content.sections[CONTACTS_SECTION] = contacts_as_text(form.contacts)
                content.from_form.add(CONTACTS_SECTION)
        if not form.sections and not form.contacts:
            content.form_notes.append(f"“{attachment.filename}” came back without answers, "
                                      "so there was nothing in it to file.")
    return content


def file_answers(rt: Runtime, t: Transition, sections: dict[int, str], *, message_id: str,
                 now: datetime) -> tuple[dict[int, str], dict[int, str], list[int]]:
    """Keep every answer as written and update the current text of each section.

    Returns the merged answers, per changed section "new", "replaced" or "extended", and the
    sections sent again word for word (not a change)."""
    previous = current_answers(rt, t.id)
    merged, changes = merge_answers(previous, sections)
    unchanged = sorted(n for n in changes if merged[n].strip() == previous.get(n, "").strip())
    for number in unchanged:
        del changes[number]
    for number, text in sections.items():
        rt.store.run("INSERT INTO answers(transition_id, section, text, received_at, message_id)"
                     " VALUES(?,?,?,?,?)", t.id, number, text, iso(now), message_id)
    for number in changes:
        rt.store.run("INSERT INTO current_answers(transition_id, section, text) VALUES(?,?,?) "
                     "ON CONFLICT(transition_id, section) DO UPDATE SET text=excluded.text",
                     t.id, number, merged[number])
    return merged, changes, unchanged


def questionnaire_reply(rt: Runtime, msg: InboundMessage, t: Transition, token: ReplyToken,
                        *, now: datetime) -> Outcome:
    content = read_reply(msg, t)
    if content.form_contacts:
        save_form_contacts(rt.store, t.id, content.form_contacts)
    merged, changes, unchanged = file_answers(rt, t, content.sections,
                                              message_id=msg.message_id, now=now)
    unplaced = content.unplaced.strip() if not content.sections else ""
    if unplaced:
        rt.store.add_history(t.id, at=now, direction="in", sender=msg.from_email,
                             recipients=[], subject=msg.subject,
                             note=f"text under no heading: {unplaced[:500]}")
    missing = missing_sections(merged.keys(), playbook_of(rt, t).required_sections)
    workbook_note = _maybe_workbook(rt, t, changes, missing, now=now)
    _send_receipt(rt, msg, t, _ReceiptFacts(
        merged=merged, changes=changes, unchanged=unchanged, missing=missing,
        content=content, workbook_note=workbook_note, unplaced=unplaced),
        reply_token=reissue_token(rt.store, token, now=now, random_bytes=rt.random_bytes),
        now=now)
    got = ", ".join(str(n) for n in sorted(changes)) or "none"
    return Outcome("processed", f"questionnaire reply: sections {got}", t.id)


def _maybe_workbook(rt: Runtime, t: Transition, changes: dict[int, str], missing: list,
                    *, now: datetime) -> str:
    """Send the first workbook once the required sections are in, and a new version after."""
    if not changes or missing:
        return ""
    if t.workbook_version == 0:
        deliver_workbook(rt, t, now=now, change_summary="first version: all required "
                         "answers are in")
        return "first"
    deliver_workbook(rt, t, now=now, change_summary=change_summary(changes))
    return "update"


def change_summary(changes: dict[int, str]) -> str:
    """ "2. Sentiment (answer replaced); 5. Successes (first answer)", for mail and History."""
    words = {"new": "first answer", "replaced": "answer replaced", "extended": "more added"}
    return "; ".join(f"{n}. {SECTION_BY_NUMBER[n].title} ({words.get(how, how)})"
                     for n, how in sorted(changes.items()) if n in SECTION_BY_NUMBER)


@dataclass(frozen=True)
class _ReceiptFacts:
    merged: dict[int, str]
    changes: dict[int, str]
    unchanged: list[int]
    missing: list
    content: _ReplyContent
    workbook_note: str
    unplaced: str


def _send_receipt(rt: Runtime, msg: InboundMessage, t: Transition, facts: _ReceiptFacts, *,
                  reply_token: str, now: datetime) -> None:
    """The receipt carries a fresh reply address of the same family: more answers sent in
    reply to it are read like answers to the questionnaire."""
    changes, merged = facts.changes, facts.merged
    contacts = contacts_of(rt, t, merged) if CONTACTS_SECTION in changes else []
    issues = parse_issues(merged.get(RED_FLAGS_SECTION, "")) \
        if RED_FLAGS_SECTION in changes else []
    renewal = renewal_date_from(merged.get(CONTRACT_SECTION, ""), today=now.date()) \
        if CONTRACT_SECTION in changes else None
    sender = Person(msg.from_name, msg.from_email)
    received = [{"number": n, "title": SECTION_BY_NUMBER[n].title, "how": how,
                 "from_form": n in facts.content.from_form,
                 "excerpt": excerpt(without_extend_marker(facts.content.sections.get(n, "")))}
                for n, how in sorted(changes.items()) if n in SECTION_BY_NUMBER]
    required = set(playbook_of(rt, t).required_sections)
    unanswered = [{"number": s.number, "title": s.title, "required": s.number in required}
                  for s in SECTIONS if not merged.get(s.number, "").strip()]
    queue_outgoing(rt, Outgoing(
        template="questionnaire_receipt", to=[sender], kind="questionnaire_receipt",
        context=transition_context(rt, t) | {
            "person": person_view(sender), "received": received,
            "unchanged": [f"{n}. {SECTION_BY_NUMBER[n].title}" for n in facts.unchanged
                          if n in SECTION_BY_NUMBER],
            "contacts": contacts,
            "contact_text_unread": CONTACTS_SECTION in changes and not contacts,
            "issues": issues,
            "open_issues": sum(1 for i in issues if i.status is IssueStatus.OPEN),
            "renewal_read": CONTRACT_SECTION in changes, "renewal": renewal,
            "missing": [{"number": s.number, "title": s.title} for s in facts.missing],
            "unanswered": unanswered,
            "form_notes": facts.content.form_notes, "workbook_note": facts.workbook_note,
            "unplaced": facts.unplaced,
            "answered_count": len([n for n in merged if n in SECTION_BY_NUMBER])},
        reply_token=reply_token, answering=msg), transition_id=t.id, now=now)


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
        answering=msg), transition_id=t.id, now=now)
    return Outcome("processed", f"{purpose} received", t.id)


def note_reply(rt: Runtime, msg: InboundMessage, t: Transition, *, now: datetime) -> Outcome:
    """A reply to a notice: kept in the history, and the sender told who to ask."""
    sender = Person(msg.from_name, msg.from_email)
    queue_outgoing(rt, Outgoing(
        template="note_receipt", to=[sender], kind="note_receipt",
        context=transition_context(rt, t) | {"person": person_view(sender)},
        answering=msg), transition_id=t.id, now=now)
    return Outcome("processed", "reply to a notice kept in the history", t.id)


def note_out_of_office(rt: Runtime, t: Transition, msg: InboundMessage, *,
                       now: datetime) -> str:
    """Hold the reminders to an away person until after their return date."""
    role = {t.outgoing.email: "outgoing", t.incoming.email: "incoming",
            t.manager.email: "manager"}.get(msg.from_email)
    today = now.astimezone(rt.settings.timezone).date()
    back_on = return_date(msg, today=today)
    rt.store.add_history(t.id, at=now, direction="in", sender=msg.from_email, recipients=[],
                         subject=msg.subject, note="out-of-office reply",
                         message_id=msg.message_id)
    if role is None or back_on is None:
        return "out-of-office noted (no return date)"
    if not today <= back_on <= today + MAX_AWAY:
        # A return date in the past or over a year out is a typo or a trick: reminders stay.
        return f"out-of-office noted (return date {back_on.isoformat()} not believed)"
    changed = postpone_for_out_of_office(playbook_of(rt, t), step_states(rt.store, t.id),
                                         away=role, back_on=back_on, calendar=rt.calendar)
    for step_id, state in changed.items():
        save_step_state(rt.store, t.id, step_id, state)
    return f"out-of-office until {back_on.isoformat()}: {len(changed)} reminder(s) moved"
