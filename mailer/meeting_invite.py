"""An iCalendar (.ics) invitation that calendar apps accept (RFC 5545, METHOD:REQUEST)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from icalendar import Calendar, Event, vCalAddress, vText

from mailer.model import Person


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
    event.add("summary", title)
    event.add("description", description)
    organizer_address = vCalAddress(f"mailto:{organizer.email}")
    organizer_address.params["cn"] = vText(organizer.name or organizer.email)
    event["organizer"] = organizer_address
    for person in attendees:
        attendee = vCalAddress(f"mailto:{person.email}")
        attendee.params["cn"] = vText(person.name or person.email)
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        attendee.params["partstat"] = vText("NEEDS-ACTION")
        attendee.params["rsvp"] = vText("TRUE")
        event.add("attendee", attendee, encode=0)
    calendar.add_component(event)
    return calendar.to_ical()
