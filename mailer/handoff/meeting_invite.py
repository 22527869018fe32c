"""Meeting invitations that calendar apps treat as meetings (RFC 5545, iTIP RFC 5546).

`METHOD:REQUEST` invites (and, with the same UID and a higher SEQUENCE, moves) a meeting;
`METHOD:CANCEL` calls it off. The organizer is the assistant's own address, which is also the
mail's From, so Gmail, Outlook and Apple Calendar show Accept and Decline to every attendee,
and every attendee receives the mail. Times keep the team's zone (`DTSTART;TZID=Europe/Berlin`)
with a VTIMEZONE of yearly rules, so 10:00 stays 10:00 across clock changes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Literal

from mailer.handoff.model import Person
from mailer.handoff.vtimezone import vtimezone

if TYPE_CHECKING:
    from icalendar import vCalAddress

# icalendar is imported where a calendar is made or read: at the service's start it cost
# 17 ms, for mail most runs never send or receive.

Method = Literal["REQUEST", "CANCEL"]
PRODID = "-//handover-mailer//account transitions//EN"
_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)


@dataclass(frozen=True)
class Meeting:
    """One meeting as its invitations describe it; `sequence` grows with every change."""

    uid: str
    title: str
    description: str
    start: datetime
    end: datetime
    organizer: Person
    attendees: tuple[Person, ...]
    sequence: int = 0
    location: str = ""
    chair: str = ""  # the email of the attendee who hosts it


def _address(person: Person) -> vCalAddress:
    from icalendar import vCalAddress, vText

    address = vCalAddress(f"mailto:{person.email}")
    address.params["cn"] = vText(person.name or person.email)
    return address


def invitation(meeting: Meeting, *, method: Method, timezone: tzinfo, now: datetime) -> bytes:
    """The iCalendar object of a REQUEST (invite or update) or a CANCEL of `meeting`."""
    from icalendar import Calendar, Event, vText

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    key = getattr(timezone, "key", None)
    start, end = meeting.start.astimezone(timezone), meeting.end.astimezone(timezone)
    if key:
        calendar.add_component(vtimezone(key))
    event = Event()
    event.add("uid", meeting.uid)
    event.add("dtstamp", now)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("sequence", meeting.sequence)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    event.add("summary", meeting.title)
    description = meeting.description
    if meeting.location:
        event.add("location", meeting.location)
        if _URL.match(meeting.location):
            event.add("url", meeting.location)
            description += f"\n\nJoin: {meeting.location}"
    event.add("description", description)
    event["organizer"] = _address(meeting.organizer)
    for person in meeting.attendees:
        attendee = _address(person)
        attendee.params["cutype"] = vText("INDIVIDUAL")
        attendee.params["role"] = vText("CHAIR" if person.email == meeting.chair
                                        else "REQ-PARTICIPANT")
        attendee.params["partstat"] = vText("NEEDS-ACTION")
        attendee.params["rsvp"] = vText("TRUE")
        event.add("attendee", attendee, encode=0)
    calendar.add_component(event)
    if not key:
        calendar.add_missing_timezones()
    return calendar.to_ical()


@dataclass(frozen=True)
class CalendarReply:
    """An attendee's answer to one of our invitations (METHOD:REPLY)."""

    uid: str
    attendee: str
    answer: str  # ACCEPTED, DECLINED, TENTATIVE, ...


def calendar_replies(data: bytes) -> list[CalendarReply]:
    """The answers in a METHOD:REPLY calendar part; [] for anything else or unreadable."""
    from icalendar import Calendar

    try:
        calendar = Calendar.from_ical(data)
    except ValueError:
        return []
    if str(calendar.get("method", "")).upper() != "REPLY":
        return []
    replies = []
    for event in calendar.walk("VEVENT"):
        attendees = event.get("attendee")
        for attendee in attendees if isinstance(attendees, list) else [attendees]:
            if attendee is None:
                continue
            email = str(attendee).removeprefix("mailto:").removeprefix("MAILTO:").lower()
            replies.append(CalendarReply(uid=str(event.get("uid", "")), attendee=email,
                                         answer=str(attendee.params.get("PARTSTAT", ""))))
    return replies


def people_of(persons: Sequence[Person]) -> tuple[Person, ...]:
    """Each person once, in order."""
    seen: dict[str, Person] = {}
    for person in persons:
        seen.setdefault(person.email.lower(), person)
    return tuple(seen.values())
