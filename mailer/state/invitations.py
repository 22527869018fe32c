"""The meeting invitations a transition sent: what each attendee's calendar holds now."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime

from mailer.handoff.meeting_invite import Meeting
from mailer.handoff.model import Person
from mailer.state.store import Store, from_iso, iso

INVITED, CANCELLED = "invited", "cancelled"


def _people(text: str) -> tuple[Person, ...]:
    return tuple(Person(p["name"], p["email"]) for p in json.loads(text))


def _json(people: tuple[Person, ...] | list[Person]) -> str:
    return json.dumps([{"name": p.name, "email": p.email} for p in people])


def save_invitation(store: Store, transition_id: str, step_id: str, meeting: Meeting, *,
                    status: str, message_id: str, now: datetime) -> None:
    store.run(
        "INSERT INTO invitations(transition_id, step_id, uid, sequence, title, start, end,"
        " location, organizer_json, attendees_json, chair, status, message_id, updated_at)"
        " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(transition_id, step_id) DO UPDATE SET"
        " uid=excluded.uid, sequence=excluded.sequence, title=excluded.title,"
        " start=excluded.start, end=excluded.end, location=excluded.location,"
        " organizer_json=excluded.organizer_json, attendees_json=excluded.attendees_json,"
        " chair=excluded.chair, status=excluded.status, message_id=excluded.message_id,"
        " updated_at=excluded.updated_at",
        transition_id, step_id, meeting.uid, meeting.sequence, meeting.title,
        iso(meeting.start), iso(meeting.end), meeting.location, _json([meeting.organizer]),
        _json(meeting.attendees), meeting.chair, status, message_id, iso(now))


def invitations_of(store: Store, transition_id: str) -> dict[str, tuple[Meeting, str]]:
    """Each meeting step's invitation as last sent, with its status (invited, cancelled)."""
    found: dict[str, tuple[Meeting, str]] = {}
    for row in store.all("SELECT * FROM invitations WHERE transition_id=? ORDER BY rowid",
                         transition_id):
        start, end = from_iso(row["start"]), from_iso(row["end"])
        assert start is not None and end is not None
        meeting = Meeting(uid=row["uid"], title=row["title"], description="", start=start,
                          end=end, organizer=_people(row["organizer_json"])[0],
                          attendees=_people(row["attendees_json"]), sequence=row["sequence"],
                          location=row["location"], chair=row["chair"])
        found[row["step_id"]] = (meeting, row["status"])
    return found


def next_version(meeting: Meeting, **changes: object) -> Meeting:
    """The same meeting (same UID), one SEQUENCE further, with what changed."""
    return replace(meeting, sequence=meeting.sequence + 1, **changes)  # type: ignore[arg-type]


def record_answer(store: Store, uid: str, attendee: str, answer: str, now: datetime) -> bool:
    """An attendee's Accept/Decline; False when the UID or the attendee is not ours."""
    row = store.one("SELECT attendees_json FROM invitations WHERE uid=?", uid)
    if row is None or attendee.lower() not in {p.email.lower() for p in _people(
            row["attendees_json"])}:
        return False
    store.run("INSERT INTO invitation_answers(uid, attendee, answer, at) VALUES(?,?,?,?)"
              " ON CONFLICT(uid, attendee) DO UPDATE SET answer=excluded.answer, at=excluded.at",
              uid, attendee.lower(), answer, iso(now))
    return True


def answers_to(store: Store, uid: str) -> dict[str, str]:
    return {row["attendee"]: row["answer"] for row in store.all(
        "SELECT attendee, answer FROM invitation_answers WHERE uid=?", uid)}
