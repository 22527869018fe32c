"""The transition: its typed state and the pure decisions about it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from mailer.handoff.model import Person, TransitionRequest, TransitionType
from mailer.handoff.names import name_to_show

ACTIVE, PAUSED, CANCELLED, COMPLETED = "active", "paused", "cancelled", "completed"


@dataclass(frozen=True)
class Transition:
    id: str
    seq: int
    account: str
    manager: Person
    outgoing: Person
    incoming: Person
    customer_contacts: tuple[Person, ...]
    type: TransitionType
    effective_date: date | None
    last_day: date | None
    renewal_date: date | None
    reason: str
    share_reason: bool
    playbook: str
    notes: str
    status: str
    thread_root: str
    request_received: datetime
    intro_text: str = ""
    call_notes: str = ""
    debrief_text: str = ""
    workbook_version: int = 0
    workbook_path: str = ""
    meeting_link: str = ""

    @property
    def is_open(self) -> bool:
        return self.status in (ACTIVE, PAUSED)


def transition_id(seq: int) -> str:
    return f"TR-{seq:04d}"


def start_transition(request: TransitionRequest, *, seq: int, manager: Person, playbook: str,
                     received: datetime, thread_root: str) -> Transition:
    return Transition(
        id=transition_id(seq), seq=seq, account=request.account, manager=manager,
        outgoing=request.outgoing, incoming=request.incoming,
        customer_contacts=request.customer_contacts, type=request.type,
        effective_date=request.effective_date, last_day=request.last_day,
        renewal_date=request.renewal_date, reason=request.reason,
        share_reason=request.share_reason, playbook=playbook, notes=request.notes,
        status=ACTIVE, thread_root=thread_root, request_received=received,
        meeting_link=request.meeting_link)


def as_request(transition: Transition) -> TransitionRequest:
    """The request a transition now stands for (after any `set` commands)."""
    return TransitionRequest(
        account=transition.account, outgoing=transition.outgoing, incoming=transition.incoming,
        customer_contacts=transition.customer_contacts, type=transition.type,
        effective_date=transition.effective_date, last_day=transition.last_day,
        renewal_date=transition.renewal_date, reason=transition.reason,
        share_reason=transition.share_reason, playbook=transition.playbook,
        notes=transition.notes, meeting_link=transition.meeting_link)


def with_request(transition: Transition, request: TransitionRequest) -> Transition:
    return replace(transition, account=request.account, outgoing=request.outgoing,
                   incoming=request.incoming, customer_contacts=request.customer_contacts,
                   type=request.type, effective_date=request.effective_date,
                   last_day=request.last_day, renewal_date=request.renewal_date,
                   reason=request.reason, share_reason=request.share_reason,
                   notes=request.notes, playbook=request.playbook or transition.playbook,
                   meeting_link=request.meeting_link)


def display_name(person: Person) -> str:
    """A name to greet someone by; derived from the address when none was given."""
    return name_to_show(person.name, person.email)


def first_name(person: Person) -> str:
    name = display_name(person)
    if "," in name:  # "Lee, Pat"
        return name.split(",", 1)[1].strip().split(" ")[0] or name
    return name.split(" ")[0]


def request_rows(transition: Transition) -> list[tuple[str, str]]:
    """The parsed fields as (label, value) rows for the manager's confirmation."""
    def person(p: Person) -> str:
        return f"{display_name(p)} <{p.email}>"

    def day(d: date | None) -> str:
        return d.isoformat() if d else "not given"

    return [
        ("Account", transition.account),
        ("Outgoing CSM", person(transition.outgoing)),
        ("Incoming CSM", person(transition.incoming)),
        ("Customer contacts", ", ".join(person(c) for c in transition.customer_contacts)),
        ("Type", transition.type.value),
        ("Effective date", day(transition.effective_date)),
        ("Last day", day(transition.last_day)),
        ("Renewal date", day(transition.renewal_date)),
        ("Reason", transition.reason or "not given"),
        ("Share reason with the customer", "yes" if transition.share_reason else "no"),
        ("Playbook", transition.playbook),
        ("Notes", transition.notes or "none"),
        ("Meeting link", transition.meeting_link or "none"),
    ]
