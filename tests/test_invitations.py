"""Issue 12: meeting invitations that calendars treat as meetings, and that stay right.

From the story's real mail: every invitation is a METHOD:REQUEST part of the message itself
(plus invite.ics), organised by the assistant's own address (the mail's From), with every
person meant to attend, host included, as an ATTENDEE who receives it, under a human title,
in the team's zone with a VTIMEZONE of yearly rules. A date change re-sends the same UID with
SEQUENCE + 1 to every attendee; a cancelled transition sends METHOD:CANCEL. Accept answers
come back to the assistant and are recorded, never answered.
"""

from __future__ import annotations

import sqlite3
import zoneinfo
from contextlib import closing
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import getaddresses

import icalendar
import pytest
from every_mail import EveryMail, parse, text_of

from mailer.handoff.vtimezone import vtimezone

BERLIN = "Europe/Berlin"


def _calendar(msg: EmailMessage) -> tuple[str, icalendar.Calendar]:
    [part] = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    return part.get_param("method"), icalendar.Calendar.from_ical(part.get_payload(decode=True))


def _mails(every: EveryMail, kind: str) -> list[EmailMessage]:
    return [parse(raw) for record, raw in every.outbound if record["kind"] == kind]


def _recipients(msg: EmailMessage) -> set[str]:
    found = getaddresses([str(msg.get("To", "")), str(msg.get("Cc", ""))])
    return {address.lower() for _, address in found if address}


def _attendees(event: icalendar.Event) -> dict[str, str]:
    found = event.get("attendee")
    found = found if isinstance(found, list) else [found]
    return {str(a).removeprefix("mailto:").lower(): str(a.params.get("ROLE")) for a in found}


INVITES = ("kt_meeting_invite", "transition_meeting_invite")


@pytest.mark.parametrize("kind", INVITES)
def test_an_invitation_is_a_meeting_everyone_meant_to_attend_receives(
        every_mail: EveryMail, kind: str) -> None:
    mails = _mails(every_mail, kind)
    assert mails, f"the story sent no {kind}"
    for msg in mails:
        alternative = next(p for p in msg.walk() if p.get_content_type() == "multipart/alternative")
        kinds = [p.get_content_type() for p in alternative.iter_parts()]
        assert kinds == ["text/plain", "text/html", "text/calendar"], kinds
        files = {p.get_filename(): p.get_content_type() for p in msg.iter_attachments()}
        assert files.get("invite.ics") == "application/ics"
        method, calendar = _calendar(msg)
        assert method == "REQUEST" and str(calendar["method"]) == "REQUEST"
        [event] = calendar.walk("VEVENT")
        organizer = str(event["organizer"]).removeprefix("mailto:")
        assert organizer == getaddresses([str(msg["From"])])[0][1], "organizer is the From"
        attendees = _attendees(event)
        assert set(attendees) == _recipients(msg), "every attendee gets it, and only they"
        if kind == "transition_meeting_invite":
            assert "CHAIR" in attendees.values(), "the host is on the meeting"
        title = str(event["summary"])
        assert "_" not in title and "TR-" not in title and "Acme Corp" in title or \
            "Globex" in title or "Initrode" in title
        assert str(event["uid"]).endswith("@example.com") and "TR-" not in str(event["uid"])
        assert event["dtstart"].params["TZID"] == BERLIN
        [zone] = calendar.walk("VTIMEZONE")
        ical = zone.to_ical().decode()
        assert "RRULE:FREQ=YEARLY" in ical and "RDATE" not in ical


def test_the_customer_meeting_has_a_human_title(every_mail: EveryMail) -> None:
    [msg] = [m for m in _mails(every_mail, "transition_meeting_invite")
             if "Acme" in str(m["Subject"])]
    _, calendar = _calendar(msg)
    [event] = calendar.walk("VEVENT")
    assert str(event["summary"]) == "Acme Corp and Example: meet Rita, your new CSM"
    assert set(_attendees(event)) == {"pat@acme.test", "jo@acme.test", "gone@acme.test",
                                      "rita@example.com", "sam@example.com"}
    assert _attendees(event)["sam@example.com"] == "CHAIR", "Sam hosts: soft hand-over"


def test_a_new_effective_date_moves_the_meeting_for_every_attendee(every_mail: EveryMail) -> None:
    [first] = [m for m in _mails(every_mail, "transition_meeting_invite")
               if "Acme" in str(m["Subject"])]
    [update, moved_room] = [m for m in _mails(every_mail, "transition_meeting_invite_request")
                            if "Acme" in str(m["Subject"])]
    _, before = _calendar(first)
    method, after = _calendar(update)
    old, new = before.walk("VEVENT")[0], after.walk("VEVENT")[0]
    assert method == "REQUEST"
    assert str(new["uid"]) == str(old["uid"]) and int(new["sequence"]) == int(old["sequence"]) + 1
    assert new.decoded("dtstart") == datetime(2027, 1, 29, 10, tzinfo=zoneinfo.ZoneInfo(BERLIN))
    assert _recipients(update) == set(_attendees(new)) == set(_attendees(old))
    assert "Friday 29 January 2027, 10:00 CET" in text_of(update)
    assert "Monday 1 February 2027, 10:00 CET" in text_of(update), "what it was"
    assert str(update["Subject"]).startswith("Re: "), "it continues the invitation's thread"
    # The link named in the request, then the one Dana set: the same meeting, one more time.
    assert str(old["location"]) == str(old["url"]) == "https://meet.example.com/sam-okafor"
    _, room = _calendar(moved_room)
    latest = room.walk("VEVENT")[0]
    assert str(latest["location"]) == "https://meet.example.com/rita-patel"
    assert int(latest["sequence"]) == 2 and latest.decoded("dtstart") == new.decoded("dtstart")
    assert "now takes place at https://meet.example.com/rita-patel" in text_of(moved_room)
    # Dana's answer says who already had the old date, and what moved.
    answers = [text_of(m) for m in _mails(every_mail, "command_result")
               if "Effective date is now 2027-01-29" in text_of(m)]
    assert len(answers) == 1
    assert ('The customer was already sent the old effective date (Monday 1 February 2027) in '
            '"Introducing Rita Patel, your new Customer Success Manager"') in answers[0]
    assert ('The meeting "Acme Corp and Example: meet Rita, your new CSM" moves from Monday 1 '
            'February 2027, 10:00 CET to Friday 29 January 2027, 10:00 CET: an updated '
            'invitation went to') in answers[0]


def test_a_cancelled_transition_cancels_its_meetings_and_tells_both_csms(
        every_mail: EveryMail) -> None:
    [invite] = [m for m in _mails(every_mail, "kt_meeting_invite")
                if "Initrode" in str(m["Subject"])]
    [cancel] = [m for m in _mails(every_mail, "kt_meeting_invite_cancel")
                if "Initrode" in str(m["Subject"])]
    method, calendar = _calendar(cancel)
    _, original = _calendar(invite)
    event, first = calendar.walk("VEVENT")[0], original.walk("VEVENT")[0]
    assert method == "CANCEL" and str(calendar["method"]) == "CANCEL"
    assert str(event["status"]) == "CANCELLED"
    assert str(event["uid"]) == str(first["uid"])
    assert int(event["sequence"]) == int(first["sequence"]) + 1
    assert _recipients(cancel) == {"ivy@example.com", "lee@example.com"}
    [notice] = _mails(every_mail, "transition_cancelled")
    assert _recipients(notice) == {"ivy@example.com", "lee@example.com"}
    assert "The customer had not been told anything about the change." in text_of(notice)
    [answer] = [text_of(m) for m in _mails(every_mail, "command_result")
                if "TR-0005 is cancelled" in text_of(m)]
    assert "Ivy Chen and Lee Chan are told." in answer
    assert "Knowledge transfer for Initrode: Ivy and Lee" in answer
    assert "The customer had not been told anything about the change." in answer


def test_a_new_incoming_csm_takes_the_old_ones_place_in_every_meeting_still_to_come(
        every_mail: EveryMail) -> None:
    """Dana hands Globex from Lee to Nina after the knowledge-transfer call was booked: Lee's
    calendar loses it (METHOD:CANCEL to Lee alone), everyone else gets the same meeting one
    SEQUENCE on, Nina among the attendees, at the same time and place."""
    [invite] = [m for m in _mails(every_mail, "kt_meeting_invite")
                if "Globex" in str(m["Subject"])]
    _, original = _calendar(invite)
    first = original.walk("VEVENT")[0]
    assert "lee@example.com" in _attendees(first), "the story books Lee first"

    [off] = [m for m in _mails(every_mail, "kt_meeting_invite_cancel")
             if "Globex" in str(m["Subject"])]
    method, calendar = _calendar(off)
    event = calendar.walk("VEVENT")[0]
    assert method == "CANCEL" and _recipients(off) == {"lee@example.com"}
    assert set(_attendees(event)) == {"lee@example.com"}, "only Lee is taken off"
    assert str(event["uid"]) == str(first["uid"])
    assert int(event["sequence"]) == int(first["sequence"]) + 1
    assert "goes ahead without you" in text_of(off) and "Nina Roy" in text_of(off)

    [update] = [m for m in _mails(every_mail, "kt_meeting_invite_request")
                if "Globex" in str(m["Subject"])]
    method, calendar = _calendar(update)
    event = calendar.walk("VEVENT")[0]
    assert method == "REQUEST" and str(event["uid"]) == str(first["uid"])
    assert int(event["sequence"]) == int(first["sequence"]) + 1
    attendees = set(_attendees(event))
    assert "nina@example.com" in attendees and "lee@example.com" not in attendees
    assert attendees - {"nina@example.com"} == set(_attendees(first)) - {"lee@example.com"}
    assert _recipients(update) == attendees, "everyone still invited gets the update"
    assert event.decoded("dtstart") == first.decoded("dtstart"), "the time stays"
    assert "with Nina Roy in place of Lee Chan" in text_of(update)

    [answer] = [text_of(m) for m in _mails(every_mail, "command_result")
                if "Incoming CSM is now" in text_of(m) and "Globex" in text_of(m)]
    assert "Nina Roy takes the place of Lee Chan: an updated invitation went to" in answer
    assert "Lee's calendar no longer has it." in answer


def test_an_accept_is_recorded_and_never_answered(every_mail: EveryMail) -> None:
    assert len(every_mail.unanswered) == 1
    with closing(sqlite3.connect(every_mail.database)) as db:
        answers = db.execute("SELECT attendee, answer FROM invitation_answers").fetchall()
    assert answers == [("pat@acme.test", "ACCEPTED")]


# --- time zones, generated over every zone ------------------------------------------------------


def _zones() -> list[str]:
    return sorted(k for k in zoneinfo.available_timezones()
                  if not k.startswith(("posix/", "right/")) and k not in ("Factory", "localtime"))


def test_every_zone_gets_a_vtimezone_that_agrees_with_the_tz_database() -> None:
    """For each IANA zone, the VTIMEZONE read back by a calendar library gives the same UTC
    offset as the tz database at moments spread over three years, at every hour of the day.
    Nearly all are yearly rules, never thousands of RDATEs."""
    with_rules = 0
    for key in _zones():
        zone = vtimezone(key)
        text = zone.to_ical()
        with_rules += b"RRULE" in text or b"RDATE" not in text
        calendar = icalendar.Calendar.from_ical(
            b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\n" + text + b"END:VCALENDAR\r\n")
        ours, real = calendar.walk("VTIMEZONE")[0].to_tz(), zoneinfo.ZoneInfo(key)
        moment = datetime(2026, 1, 1, 0, 30)
        for step in range(0, 3 * 365 * 24, 53):
            local = moment + timedelta(hours=step)
            if real.utcoffset(local) != real.utcoffset(local.replace(fold=1)):
                continue  # the hour that happens twice, or never: a matter of convention
            assert local.replace(tzinfo=ours).utcoffset() == local.replace(
                tzinfo=real).utcoffset(), (key, local)
    assert with_rules >= len(_zones()) - 10
