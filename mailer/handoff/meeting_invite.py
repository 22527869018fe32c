"""An iCalendar (.ics) invitation that calendar apps accept (RFC 5545/5546, METHOD:REQUEST).

Times keep the team's zone (`DTSTART;TZID=Europe/Berlin:...`) with its VTIMEZONE definition,
so a meeting planned for 10:00 local stays at 10:00 in every calendar, across clock changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from icalendar import Calendar, Event, vCalAddress, vText

from mailer.handoff.model import Person


def _address(person: Person) -> vCalAddress:
    address = vCalAddress(f"mailto:{person.email}")
    address.params["cn"] = vText(person.name or person.email)
    return address


def meeting_invite(*, uid: str, title: str, description: str, start: datetime, end: datetime,
                   organizer: Person, attendees: Sequence[Person], now: datetime) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//mailer//account transitions//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "REQUEST")
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", now)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("sequence", 0)
    event.add("status", "CONFIRMED")
    event.add("summary", title)
    event.add("description", description)
    event["organizer"] = _address(organizer)
    for person in attendees:
        attendee = _address(person)
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        attendee.params["partstat"] = vText("NEEDS-ACTION")
        attendee.params["rsvp"] = vText("TRUE")
        event.add("attendee", attendee, encode=0)
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()
