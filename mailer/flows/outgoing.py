"""Render a template and queue it in the outbox, recording it in the transition's history.

Called inside the transaction of the event that caused the mail, so the mail and the state
change it belongs to commit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailer.flows.runtime import Runtime
from mailer.handoff.model import Person
from mailer.handoff.transitions import Transition, display_name, first_name
from mailer.mail.compose import Envelope, OutgoingAttachment, compose_email
from mailer.mail.outbox import queue_mail
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
    """One email to queue."""

    template: str
    to: Sequence[Person]
    context: dict[str, Any]
    kind: str
    cc: Sequence[Person] = ()
    reply_token: str | None = None  # Reply-To: the assistant's address with this token
    reply_to_people: Sequence[str] = ()  # Reply-To: these humans instead (customer mail)
    from_name: str = "Transitions assistant"
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    auto_submitted: str = "auto-replied"
    attachments: Sequence[OutgoingAttachment] = ()
    extra_headers: Sequence[tuple[str, str]] = ()
    send_at: datetime | None = None  # customer mail waits for business hours
    holdable: bool = False  # playbook mail: held while paused, withdrawn when cancelled


def queue_outgoing(rt: Runtime, mail: Outgoing, *, transition_id: str | None,
                   now: datetime) -> str:
    """Render, compose and queue; returns the new Message-ID."""
    rendered = rt.renderer.render(mail.template, context=mail.context)
    message_id = new_message_id(rt.settings.address_domain,
                                f"{transition_id or 'mail'}.{mail.kind}", rt.random_bytes)
    reply_to = list(mail.reply_to_people)
    if mail.reply_token:
        reply_to = [token_address(rt.address, mail.reply_token)]
    envelope = Envelope(from_name=mail.from_name, to=mail.to, cc=mail.cc, reply_to=reply_to,
                        message_id=message_id, in_reply_to=mail.in_reply_to,
                        references=mail.references, auto_submitted=mail.auto_submitted,
                        attachments=mail.attachments, extra_headers=mail.extra_headers)
    # Mail held for business hours is dated when it leaves, not when it was decided.
    dated = max(mail.send_at, now) if mail.send_at else now
    composed = compose_email(rendered, envelope=envelope, assistant=rt.address, now=dated)
    queue_mail(rt.store, composed, transition_id=transition_id, kind=mail.kind, now=now,
               send_at=mail.send_at, holdable=mail.holdable)
    if transition_id:
        rt.store.add_history(transition_id, at=now, direction="out", sender=rt.address,
                             recipients=list(composed.recipients), subject=composed.subject,
                             note=mail.kind, message_id=message_id)
    return message_id
