"""Reading and writing transitions in the store."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime

from mailer.handoff.model import Contact, ContactRole, Person, TransitionType
from mailer.handoff.transitions import Transition
from mailer.state.store import Store, from_iso, iso


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _people(text: str) -> tuple[Person, ...]:
    return tuple(Person(name=p["name"], email=p["email"]) for p in json.loads(text))


def transition_from_row(row: sqlite3.Row) -> Transition:
    received = from_iso(row["request_received"])
    assert received is not None
    return Transition(
        id=row["id"], seq=row["seq"], account=row["account"],
        manager=Person(row["manager_name"], row["manager_email"]),
        outgoing=Person(row["outgoing_name"], row["outgoing_email"]),
        incoming=Person(row["incoming_name"], row["incoming_email"]),
        customer_contacts=_people(row["contacts_json"]), type=TransitionType(row["type"]),
        effective_date=_day(row["effective_date"]), last_day=_day(row["last_day"]),
        renewal_date=_day(row["renewal_date"]), reason=row["reason"],
        share_reason=bool(row["share_reason"]), playbook=row["playbook"], notes=row["notes"],
        status=row["status"], thread_root=row["thread_root"], request_received=received,
        intro_text=row["intro_text"], call_notes=row["call_notes"],
        debrief_text=row["debrief_text"], workbook_version=row["workbook_version"],
        workbook_path=row["workbook_path"], meeting_link=row["meeting_link"])


def load_transition(store: Store, transition_id: str) -> Transition | None:
    row = store.one("SELECT * FROM transitions WHERE id=?", transition_id.upper())
    return transition_from_row(row) if row else None


def open_transitions(store: Store) -> list[Transition]:
    return [transition_from_row(r) for r in store.all(
        "SELECT * FROM transitions WHERE status IN ('active','paused') ORDER BY seq")]


def all_transitions(store: Store) -> list[Transition]:
    return [transition_from_row(r) for r in store.all("SELECT * FROM transitions ORDER BY seq")]


def save_transition(store: Store, t: Transition, *, now: datetime) -> None:
    contacts = json.dumps([{"name": p.name, "email": p.email} for p in t.customer_contacts])
    values = (t.seq, t.account, t.manager.name, t.manager.email, t.outgoing.name,
              t.outgoing.email, t.incoming.name, t.incoming.email, contacts, t.type.value,
              t.effective_date.isoformat() if t.effective_date else None,
              t.last_day.isoformat() if t.last_day else None,
              t.renewal_date.isoformat() if t.renewal_date else None, t.reason,
              int(t.share_reason), t.playbook, t.notes, t.status, t.thread_root,
              iso(t.request_received), iso(now), t.intro_text, t.call_notes, t.debrief_text,
              t.workbook_version, t.workbook_path, t.meeting_link)
    store.run(
        "INSERT INTO transitions(seq, account, manager_name, manager_email, outgoing_name,"
        " outgoing_email, incoming_name, incoming_email, contacts_json, type, effective_date,"
        " last_day, renewal_date, reason, share_reason, playbook, notes, status, thread_root,"
        " request_received, updated_at, intro_text, call_notes, debrief_text,"
        " workbook_version, workbook_path, meeting_link, id, created_at)"
        " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT(id) DO UPDATE SET seq=excluded.seq, account=excluded.account,"
        " manager_name=excluded.manager_name, manager_email=excluded.manager_email,"
        " outgoing_name=excluded.outgoing_name, outgoing_email=excluded.outgoing_email,"
        " incoming_name=excluded.incoming_name, incoming_email=excluded.incoming_email,"
        " contacts_json=excluded.contacts_json, type=excluded.type,"
        " effective_date=excluded.effective_date, last_day=excluded.last_day,"
        " renewal_date=excluded.renewal_date, reason=excluded.reason,"
        " share_reason=excluded.share_reason, playbook=excluded.playbook,"
        " notes=excluded.notes, status=excluded.status, thread_root=excluded.thread_root,"
        " updated_at=excluded.updated_at, intro_text=excluded.intro_text,"
        " call_notes=excluded.call_notes, debrief_text=excluded.debrief_text,"
        " workbook_version=excluded.workbook_version, workbook_path=excluded.workbook_path,"
        " meeting_link=excluded.meeting_link",
        *values, t.id, iso(now))


def form_contacts(store: Store, transition_id: str) -> list[Contact]:
    row = store.one("SELECT form_contacts_json FROM transitions WHERE id=?", transition_id)
    if not row:
        return []
    return [Contact(name=c["name"], title=c["title"], email=c["email"],
                    role=ContactRole(c["role"]), still_there=c["still_there"],
                    notes=c["notes"]) for c in json.loads(row["form_contacts_json"])]


def save_form_contacts(store: Store, transition_id: str, contacts: list[Contact]) -> None:
    store.run("UPDATE transitions SET form_contacts_json=? WHERE id=?", json.dumps(
        [{"name": c.name, "title": c.title, "email": c.email, "role": c.role.value,
          "still_there": c.still_there, "notes": c.notes} for c in contacts]), transition_id)
