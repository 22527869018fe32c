"""Render a template and queue it in the outbox, recording it in the transition's history.

Called inside the transaction of the event that caused the mail, so the mail and the state
change it belongs to commit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from mailer.errors import LimitReached
from mailer.flows.runtime import Runtime
from mailer.handoff.model import InboundMessage, Person
from mailer.handoff.transitions import Transition, display_name, first_name
from mailer.mail.compose import CalendarPart, Envelope, OutgoingAttachment, compose_email
from mailer.mail.conversation import reply_subject, thread_index_reply
from mailer.mail.outbox import (
    Conversation,
    last_in_thread,
    queue_mail,
    thread_index_in,
    thread_of,
)
from mailer.state.tokens import new_message_id, token_address


def person_view(person: Person) -> dict[str, str]:
    """How templates see a person."""
    name = display_name(person)
    return {"name": name, "email": person.email, "first_name": first_name(person),
            "display": name}


def transition_context(rt: Runtime, t: Transition) -> dict[str, Any]:
    """The values every transition template may use."""
    return {
        "tid": t.id, "account": t.account, "type": t.type.value,
        "manager": person_view(t.manager), "outgoing": person_view(t.outgoing),
        "incoming": person_view(t.incoming),
        "customer_contacts": [person_view(p) for p in t.customer_contacts],
        "effective_date": t.effective_date, "last_day": t.last_day,
        "renewal_date": t.renewal_date,
        "reason": t.reason if t.share_reason else "",
        "internal_reason": t.reason, "notes": t.notes,
        "intro_text": t.intro_text, "call_notes": t.call_notes,
        "assistant": rt.address,
    }


@dataclass(frozen=True)
class Outgoing:
    """One email to queue.

    Where it sits in a conversation: `answering` a person's mail (it keeps `Re: <their
    subject>` and links to their mail), `follows` one of the transition's threads (a reminder
    continues the conversation it follows up), or starts `thread` (a name later mail can
    follow, such as `questionnaire`). Mail that continues a conversation takes its subject,
    whatever the template's subject line says, so it threads in every mail client.
    """

    template: str
    to: Sequence[Person]
    context: dict[str, Any]
    kind: str
    cc: Sequence[Person] = ()
    reply_token: str | None = None  # Reply-To: the assistant's address with this token
    reply_to_people: Sequence[str] = ()  # Reply-To: these humans instead (customer mail)
    from_name: str = "Transitions assistant"
    answering: InboundMessage | None = None
    echo_subject: bool = True  # False: linked to their mail, but never repeating their words
    follows: str = ""
    thread: str = ""
    shared_with: Sequence[str] = ()  # a book's shared mail: the other transitions it is about
    auto_submitted: str | None = "auto-replied"  # None: a person's own mail, not automatic
    attachments: Sequence[OutgoingAttachment] = ()
    calendar: CalendarPart | None = None  # a meeting invitation, its update or its cancel
    extra_headers: Sequence[tuple[str, str]] = ()
    send_at: datetime | None = None  # customer mail waits for business hours
    holdable: bool = False  # playbook mail: held while paused, withdrawn when cancelled


@dataclass(frozen=True)
class _Place:
    """Where a new mail joins the conversations: what it answers and under which subject."""

    subject: str = ""  # '' when it starts a conversation: the template's subject stands
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    thread: str = ""
    thread_index: str = ""


MAX_REFERENCES = 20


def _place(rt: Runtime, mail: Outgoing, transition_id: str | None, now: datetime) -> _Place:
    transitions = [transition_id, *mail.shared_with] if transition_id else []
    if mail.answering is not None:
        msg = mail.answering
        thread = mail.thread or thread_of(rt.store, [msg.in_reply_to, *reversed(msg.references)])
        parent_index = msg.header("thread-index") or (
            thread_index_in(rt.store, transitions, thread) if thread and transitions else "")
        return _Place(subject=reply_subject(msg.subject) if mail.echo_subject else "",
                      in_reply_to=msg.message_id,
                      references=(*msg.references, msg.message_id)[-MAX_REFERENCES:],
                      thread=thread, thread_index=_child_index(rt, parent_index, now))
    if mail.follows and transitions:
        last = last_in_thread(rt.store, transitions, mail.follows)
        if last is not None:
            parent_index = thread_index_in(rt.store, transitions, mail.follows)
            return _Place(subject=reply_subject(last["subject"]), in_reply_to=last["message_id"],
                          references=(*last["refs"].split(), last["message_id"])[
                              -MAX_REFERENCES:],
                          thread=mail.follows, thread_index=_child_index(rt, parent_index, now))
        return _Place(thread=mail.follows)
    return _Place(thread=mail.thread)


def _within_recipient_limit(rt: Runtime, mail: Outgoing) -> None:
    """One email goes to at most `limits.max_recipients_per_mail` people (To and Cc)."""
    people = {p.email.lower() for p in [*mail.to, *mail.cc]}
    most = rt.rules.limits.max_recipients_per_mail
    if len(people) > most:
        raise LimitReached(
            f"the {mail.kind.replace('_', ' ')} email would go to {len(people)} people, more "
            f"than the {most} one email may go to",
            advice="Name fewer people (the others can be told by the people in copy), or "
            "ask your operations team to raise limits.max_recipients_per_mail in "
            "inbox_rules.yaml.")


def _child_index(rt: Runtime, parent: str, now: datetime) -> str:
    return thread_index_reply(parent, now=now, random_byte=rt.random_bytes(1)[0]) \
        if parent else ""


def queue_outgoing(rt: Runtime, mail: Outgoing, *, transition_id: str | None,
                   now: datetime) -> str:
    """Render, compose and queue; returns the new Message-ID."""
    _within_recipient_limit(rt, mail)
    place = _place(rt, mail, transition_id, now)
    rendered = rt.renderer.render(mail.template,
                                  context=mail.context | {"reply_subject": place.subject})
    if place.subject:
        rendered = replace(rendered, subject=place.subject)
    message_id = new_message_id(rt.settings.address_domain, rt.random_bytes)
    reply_to = list(mail.reply_to_people)
    if mail.reply_token:
        if len(mail.to) != 1 or mail.cc:
            # A reply token is one person's capability; nobody else may see it.
            raise ValueError(f"a {mail.kind} mail with a reply token must go to one person")
        reply_to = [token_address(rt.address, mail.reply_token)]
    headers = list(mail.extra_headers)
    if place.thread_index:
        headers.append(("Thread-Index", place.thread_index))
    envelope = Envelope(from_name=mail.from_name, to=mail.to, cc=mail.cc, reply_to=reply_to,
                        message_id=message_id, in_reply_to=place.in_reply_to,
                        references=place.references, auto_submitted=mail.auto_submitted,
                        attachments=mail.attachments, extra_headers=headers,
                        calendar=mail.calendar)
    # Mail held for business hours is dated when it leaves, not when it was decided.
    dated = max(mail.send_at, now) if mail.send_at else now
    composed = compose_email(rendered, envelope=envelope, assistant=rt.address, now=dated)
    queue_mail(rt.store, composed, transition_id=transition_id, kind=mail.kind, now=now,
               send_at=mail.send_at, holdable=mail.holdable, template=mail.template,
               conversation=Conversation(thread=place.thread, references=place.references,
                                         thread_index=place.thread_index))
    if transition_id:
        rt.store.add_history(transition_id, at=now, direction="out", sender=rt.address,
                             recipients=list(composed.recipients), subject=composed.subject,
                             note=mail.kind, message_id=message_id)
    return message_id
