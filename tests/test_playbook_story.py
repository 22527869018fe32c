"""Issue 4's stories: the playbooks drive the schedule, on real mail servers, in simulated time.

A manager's request starts a transition; then the clock moves in half-hour passes (or jumps,
when the service is down), people answer what lands in their mailboxes by replying to its
Reply-To address, and each mailbox is checked for the right mail, on the right business day,
exactly once.
"""

from __future__ import annotations

import email
import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import openpyxl
from assistant import ADDRESS, ROOT, Assistant, SimulatedTime, kind_of_mail, parse
from letters import plain

from mailer.demo import DEBRIEF
from mailer.demo import REQUEST as DEMO_REQUEST

MANAGER = "Dana Reyes <dana@example.com>"
DANA, SAM, RITA = "dana@example.com", "sam@example.com", "rita@example.com"
PAT, JO = "pat@acme.com", "jo@acme.com"
BERLIN = ZoneInfo("Europe/Berlin")

SOFT_REQUEST = DEMO_REQUEST  # the demo tells this same story

FIRST_ANSWERS = """Here is a first batch, the rest tomorrow.

1. Contacts
Pat Lee, VP Operations, pat@acme.com, champion - loves dashboards
Jo Park, CFO, jo@acme.com, decision maker - signs the renewal

2. Sentiment
Positive overall; they renewed early last year.

4. Red flags
- Export to their data warehouse is slow: still open, ticket 4411
"""

LAST_ANSWERS = """6. Goals
Cut month-end reporting from five days to two.

8. Contract
Renewal: 2027-06-30, three-year term, 12% discount.

9. Renewal risk
Medium: a competitor demoed to their finance team.
"""

ALL_ANSWERS = FIRST_ANSWERS + "\n" + LAST_ANSWERS

INTRO = ("I have spent six years helping operations teams get more out of their data. "
         "I look forward to helping Acme bring the Berlin office on board.")
NOTES = ("We reviewed the Berlin rollout and ticket 4411.\n"
         "Next steps I own: a Berlin kickoff plan by 5 February.")
RITAS_RECAP = """Hi Pat and Jo,

Thank you both for Monday, it was great to meet you properly. We went through the Berlin
rollout and the slow export (ticket 4411). I owe you a kickoff plan for Berlin by 5 February,
and a fix date for the ticket this week. You can always reach me at rita@example.com.

Looking forward to working together,
Rita"""


def jan(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 1, day, hour, minute, tzinfo=UTC)


# -- what people see and do -------------------------------------------------------------------


def inbox(mail, user: str) -> list[EmailMessage]:
    return [parse(raw) for raw in mail.messages(user)]


def step_of(msg: EmailMessage) -> str:
    """What each email is, as the assistant recorded it (its Message-ID tells nobody)."""
    return kind_of_mail(msg)


def steps_in(mail, user: str) -> list[str]:
    return [step_of(m) for m in inbox(mail, user)]


def the_one(mail, user: str, step: str) -> EmailMessage:
    """The single email of this step in the person's mailbox; never none, never two."""
    found = [m for m in inbox(mail, user) if step_of(m) == step]
    assert len(found) == 1, f"{user} has {len(found)} '{step}' emails: {steps_in(mail, user)}"
    return found[0]


def sent_at(msg: EmailMessage) -> datetime:
    return parsedate_to_datetime(str(msg["Date"]))


def text(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    return body.get_content().replace("\r\n", "\n") if body is not None else ""


def reply(mail, msg: EmailMessage, body: str, *, sender: str | None = None) -> None:
    """Answer an email the way a person does: to its Reply-To, quoting it below."""
    who = sender or str(msg["To"].addresses[0])
    address = who.split("<")[-1].rstrip(">")
    to = str(msg["Reply-To"])
    quoted = "\n".join(f"> {line}" for line in text(msg).splitlines())
    mail.send(plain(sender=who, to=to, subject=f"Re: {str(msg['Subject']).strip()}",
                    body=f"{body}\n\nOn {msg['Date']}, {msg['From']} wrote:\n{quoted}\n",
                    in_reply_to=str(msg["Message-ID"])),
              mail_from=address, rcpt_to=[to])


def request(mail, body: str, *, sender: str = MANAGER) -> None:
    mail.send(plain(sender=sender, to=ADDRESS, subject="Transition: Acme Corp", body=body),
              mail_from=sender.split("<")[-1].rstrip(">"), rcpt_to=[ADDRESS])


def assert_in_the_name_of(msg: EmailMessage, name: str, address: str) -> None:
    """Customer mail: sent as the person, replies to the person, never to the assistant."""
    assert msg["From"].addresses[0].display_name == f"{name} via Transitions"
    assert str(msg["Reply-To"]) == address
    assert "transitions+" not in str(msg["Reply-To"])


def assert_business_hours(msg: EmailMessage) -> None:
    local = sent_at(msg)  # the team's zone is UTC in these stories
    assert local.weekday() < 5 and 9 <= local.hour < 17, f"{msg['Subject']} sent {local}"


def invite_of(msg: EmailMessage) -> icalendar.Calendar:
    [ics] = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    return icalendar.Calendar.from_ical(ics.get_payload(decode=True))


# -- the soft playbook, start to finish ----------------------------------------------------------


def test_a_soft_transition_plays_out_on_schedule_with_each_email_once(mail, tmp_path):
    assistant = Assistant(tmp_path, mail)
    request(mail, SOFT_REQUEST)
    sim = SimulatedTime(assistant, jan(4, 8))
    try:
        sim.at(jan(4, 8))  # Monday 08:00: the request arrives
        assert the_one(mail, DANA, "request_accepted")["Subject"] == "Re: Transition: Acme Corp"
        prompt = the_one(mail, RITA, "intro_text_prompt")
        assert sent_at(prompt) == jan(4, 8)
        questionnaire = the_one(mail, SAM, "questionnaire")

        sim.run_until(jan(4, 13))
        reply(mail, questionnaire, FIRST_ANSWERS)
        sim.run_until(jan(5, 10))
        reply(mail, prompt, INTRO)

        # Wednesday 09:30, two business days after the request: one reminder, for what is missing.
        sim.run_until(jan(6, 9))
        assert "questionnaire_reminder_1" not in steps_in(mail, SAM)
        sim.run_until(jan(6, 9, 30))
        reminder = the_one(mail, SAM, "questionnaire_reminder_1")
        assert sent_at(reminder) == jan(6, 9, 30)
        assert "6. Goals" in text(reminder) and "1. Contacts" not in text(reminder)
        assert "intro_text_reminder" not in steps_in(mail, RITA), "Rita already answered"
        reply(mail, reminder, LAST_ANSWERS)
        sim.run_until(jan(6, 12))
        assert the_one(mail, RITA, "workbook")["Cc"] == MANAGER

        # Thursday 10:00: the knowledge-transfer call, held two business days later.
        sim.run_until(jan(7, 10))
        kt = the_one(mail, RITA, "kt_meeting_invite")
        assert sent_at(kt) == jan(7, 10)
        assert {a.addr_spec for a in kt["To"].addresses} == {SAM, RITA}
        event = invite_of(kt).walk("VEVENT")[0]
        assert event.decoded("dtstart") == jan(11, 14)
        assert event.decoded("dtend") == jan(11, 14, 45)

        sim.run_until(jan(18, 10))
        assert "questionnaire_reminder_2" not in steps_in(mail, SAM), "the answers were in"
        assert inbox(mail, PAT) == [], "nothing reaches the customer before it is approved"
        draft = the_one(mail, SAM, "customer_intro_draft")
        assert sent_at(draft) == jan(18, 10)  # five business days before the effective date
        for _ in range(3):  # the service restarted three times at the same instant
            assistant.run_once(now=jan(18, 10))
        the_one(mail, SAM, "customer_intro_draft")

        reply(mail, draft, "send")
        sim.run_until(jan(18, 11))
        intro = the_one(mail, PAT, "customer_intro")
        assert intro["Message-ID"] == the_one(mail, JO, "customer_intro")["Message-ID"]
        assert_in_the_name_of(intro, "Sam Okafor", SAM)
        assert intro["Cc"] == "Rita Patel <rita@example.com>"
        assert sent_at(intro) == jan(18, 10, 30)  # the first pass after Sam's answer
        words = text(intro)
        assert words.startswith("Hi Pat and Jo,")
        assert "I am moving to our enterprise team." in words  # the reason, in Sam's own voice
        assert "Monday 25 January 2027" in words and INTRO[:40] in words
        assert "is on its way" in text(the_one(mail, SAM, "approval_done"))

        # The day after the introduction: the joint-call nudge, and the meeting draft.
        sim.run_until(jan(19, 10))
        nudge = the_one(mail, SAM, "joint_call_nudge")
        assert sent_at(nudge) == jan(19, 9, 30) and RITA in str(nudge["To"])
        meeting_draft = the_one(mail, SAM, "transition_meeting_invite_draft")

        # Sam approves at eight in the evening: the customer gets it next morning at nine.
        sim.run_until(jan(19, 20))
        reply(mail, meeting_draft, "Send")
        sim.run_until(jan(20, 8, 30))
        assert "transition_meeting_invite" not in steps_in(mail, PAT)
        sim.run_until(jan(20, 9))
        meeting = the_one(mail, PAT, "transition_meeting_invite")
        assert sent_at(meeting) == jan(20, 9)
        assert_in_the_name_of(meeting, "Sam Okafor", SAM)
        event = invite_of(meeting).walk("VEVENT")[0]
        assert event.decoded("dtstart") == jan(25, 10)  # on the effective date

        sim.run_until(jan(25, 14))
        notes_prompt = the_one(mail, RITA, "call_notes_prompt")
        assert sent_at(notes_prompt) == jan(25, 14)
        reply(mail, notes_prompt, NOTES)

        sim.run_until(jan(26, 10))
        assert sent_at(the_one(mail, DANA, "update_systems_reminder")) == jan(26, 9, 30)
        recap_draft = the_one(mail, RITA, "customer_recap_draft")
        assert "Berlin kickoff plan by 5 February" in text(recap_draft)

        # Rita answers the draft with her own version: the customer receives her words.
        reply(mail, recap_draft, RITAS_RECAP)
        sim.run_until(jan(26, 10, 30))
        recap = the_one(mail, JO, "customer_recap")
        assert_in_the_name_of(recap, "Rita Patel", RITA)
        assert recap["Subject"] == "Acme Corp: recap of our transition meeting"
        # Her words, her paragraphs (the lines her mail client wrapped flow again).
        assert text(recap).split() == RITAS_RECAP.split()
        assert "\n\nLooking forward to working together,\nRita" in text(recap)
        assert "your version of" in text(the_one(mail, RITA, "approval_done"))

        sim.run_until(datetime(2027, 2, 8, 10, tzinfo=UTC))
        assert sent_at(the_one(mail, RITA, "debrief_questionnaire")).date() == date(2027, 2, 8)

        # Sixty days after the effective date, Dana gets the check-in draft and stays silent.
        sim.run_until(datetime(2027, 3, 26, 8, tzinfo=UTC), every=timedelta(hours=4))
        sim.run_until(datetime(2027, 3, 26, 10, tzinfo=UTC))
        checkin_draft = the_one(mail, DANA, "manager_checkin_draft")
        assert sent_at(checkin_draft) == datetime(2027, 3, 26, 10, tzinfo=UTC)
        sim.run_until(datetime(2027, 3, 31, 9, 30, tzinfo=UTC))
        assert "manager_checkin" not in steps_in(mail, PAT), "three business days of silence"
        sim.run_until(datetime(2027, 3, 31, 10, tzinfo=UTC))
        checkin = the_one(mail, PAT, "manager_checkin")
        assert_in_the_name_of(checkin, "Dana Reyes", DANA)
        assert sent_at(checkin) == datetime(2027, 3, 31, 10, tzinfo=UTC)
        told = text(the_one(mail, DANA, "manager_checkin_silence"))
        assert "as the playbook says, it went out as written" in told
        sim.run_until(datetime(2027, 4, 9, 10, tzinfo=UTC), every=timedelta(hours=6))
    finally:
        sim.close()

    for customer in (PAT, JO):
        received = inbox(mail, customer)
        assert [step_of(m) for m in received] == [
            "customer_intro", "transition_meeting_invite", "customer_recap", "manager_checkin"]
        for msg in received:
            assert_business_hours(msg)
    assert steps_in(mail, SAM).count("questionnaire_reminder_1") == 1
    ids = [parse(envelope.data)["Message-ID"] for envelope in mail.accepted]
    assert len(ids) == len(set(ids)), "no email is ever sent twice"


# -- the hard playbook: a firm last day, a service that was down, a skipped draft ------------

HARD_REQUEST = """Account: Acme Corp
Outgoing CSM: Sam Okafor <sam@example.com>
Incoming CSM: Rita Patel <rita@example.com>
Customer contacts: Pat Lee <pat@acme.com>
Type: hard
Last day: 2027-01-22
Effective date: 2027-01-25
Reason: Sam is leaving the company
"""


def test_a_hard_transition_catches_up_once_after_downtime_and_respects_the_last_day(
        mail, tmp_path):
    assistant = Assistant(tmp_path, mail)
    request(mail, HARD_REQUEST)
    sim = SimulatedTime(assistant, jan(11, 8))
    try:
        sim.at(jan(11, 8))  # Monday
        the_one(mail, SAM, "questionnaire")
        sim.run_until(jan(12, 9))
        # The service is down from Tuesday morning until Friday 08:00. The first reminder (due
        # Wednesday 09:30) goes out once when it is back; the second waits its own business day.
        sim.skip_to(jan(15, 8))
        sim.at(jan(15, 8))
        first = the_one(mail, SAM, "questionnaire_reminder_1")
        assert sent_at(first) == jan(15, 8)
        assert "questionnaire_reminder_2" not in steps_in(mail, SAM)
        assert steps_in(mail, RITA).count("intro_text_reminder") == 1, "one reminder, not a burst"
        for _ in range(3):
            assistant.run_once(now=jan(15, 8))
        sim.run_until(jan(18, 9, 30))
        second = the_one(mail, SAM, "questionnaire_reminder_2")
        assert sent_at(second) == jan(18, 9, 30)  # Friday + 1 business day = Monday
        assert str(second["Subject"]) == "Re: TR-0001 handoff questions for Acme Corp"
        assert second["In-Reply-To"] == first["Message-ID"], "it follows the first reminder"
        assert "still not complete" in text(second)
        reply(mail, second, ALL_ANSWERS)
        sim.run_until(jan(18, 12))
        assert "questionnaire_escalation" not in steps_in(mail, DANA)

        # Three business days before the last day, without Rita's words: Sam approves it
        # only after a reply that is not a clear answer is sent back to him.
        sim.run_until(jan(19, 10))
        draft = the_one(mail, SAM, "customer_intro_draft")
        assert sent_at(draft) == jan(19, 10)
        reply(mail, draft, "Looks good to me!")
        sim.run_until(jan(19, 11))
        assert inbox(mail, PAT) == [], "a remark about the draft never reaches the customer"
        unsure = [m for m in inbox(mail, SAM) if step_of(m) == "approval_done"]
        assert "not sure" in text(unsure[0])
        reply(mail, draft, "send")
        sim.run_until(jan(19, 11, 30))
        intro = the_one(mail, PAT, "customer_intro")
        assert_in_the_name_of(intro, "Sam Okafor", SAM)
        words = text(intro)
        assert words.startswith("Hi Pat,")
        assert "Friday 22 January 2027" in words, "a hard transition names the last day"
        assert "leaving" not in words, "the reason is only shared with `Share reason: yes`"

        nudge = the_one(mail, RITA, "new_csm_call_nudge")
        assert nudge["Cc"] == MANAGER
        sim.run_until(jan(20, 10))
        meeting_draft = the_one(mail, RITA, "transition_meeting_invite_draft")
        reply(mail, meeting_draft, "skip")
        sim.run_until(jan(26, 10, 30))
        assert "transition_meeting_invite" not in steps_in(mail, PAT), "Rita skipped it"
        assert "will not be sent" in text([m for m in inbox(mail, RITA)
                                           if step_of(m) == "approval_done"][-1])
        assert sent_at(the_one(mail, RITA, "call_notes_prompt")) == jan(25, 14)
    finally:
        sim.close()
    assert steps_in(mail, PAT) == ["customer_intro"]


# -- the abrupt playbook: the manager tells the customer at once ------------------------------

ABRUPT_REQUEST = """Account: Acme Corp
Outgoing CSM: Sam Okafor <sam@example.com>
Incoming CSM: Rita Patel <rita@example.com>
Customer contacts: Pat Lee <pat@acme.com>, Jo Park <jo@acme.com>
Type: abrupt
Reason: Sam has left the company
Share reason: no
"""


def test_an_abrupt_transition_introduces_the_new_csm_at_once_even_when_the_manager_is_silent(
        mail, tmp_path):
    assistant = Assistant(tmp_path, mail)
    request(mail, ABRUPT_REQUEST)
    sim = SimulatedTime(assistant, jan(11, 7))
    try:
        sim.at(jan(11, 7))  # Monday, before business hours
        assert inbox(mail, PAT) == []
        sim.run_until(jan(11, 9))
        draft = the_one(mail, DANA, "customer_intro_draft")
        assert sent_at(draft) == jan(11, 9), "customer mail waits for business hours"
        assert "within 1 business day" in text(draft)

        # Dana never answers: one business day later it goes out as written, in her name.
        sim.run_until(jan(12, 8, 30))
        assert inbox(mail, PAT) == []
        sim.run_until(jan(12, 9))
        intro = the_one(mail, PAT, "customer_intro")
        assert sent_at(intro) == jan(12, 9)
        assert_in_the_name_of(intro, "Dana Reyes", DANA)
        assert intro["Cc"] == "Rita Patel <rita@example.com>"
        words = text(intro)
        assert "escalat" in words and DANA in words, "the manager stays on as escalation contact"
        assert "left the company" not in words, "the reason stays internal"
        assert "as the playbook says" in text(the_one(mail, DANA, "customer_intro_silence"))

        nudge = the_one(mail, RITA, "new_csm_call_nudge")
        assert sent_at(nudge) == jan(12, 9)
        meeting_draft = the_one(mail, RITA, "transition_meeting_invite_draft")
        reply(mail, meeting_draft, "send")
        sim.run_until(jan(12, 10))
        meeting = the_one(mail, JO, "transition_meeting_invite")
        assert_in_the_name_of(meeting, "Rita Patel", RITA)
        assert "As I take over your account" in text(meeting)
        start = invite_of(meeting).walk("VEVENT")[0].decoded("dtstart")
        assert start == jan(13, 10), "never a meeting on the day of its invitation"
        sim.run_until(jan(13, 16))
        assert sent_at(the_one(mail, RITA, "call_notes_prompt")) == jan(13, 16)
    finally:
        sim.close()


def test_an_out_of_office_reply_moves_the_reminder_past_the_return_date(mail, tmp_path):
    assistant = Assistant(tmp_path, mail)
    request(mail, SOFT_REQUEST)
    sim = SimulatedTime(assistant, jan(4, 8))
    try:
        sim.at(jan(4, 8))
        questionnaire = the_one(mail, SAM, "questionnaire")
        vacation = (f"From: Sam Okafor <{SAM}>\r\nTo: {questionnaire['Reply-To']}\r\n"
                    f"Subject: Out of office: {questionnaire['Subject']}\r\n"
                    f"Message-ID: <oof-sam-1@example.com>\r\n"
                    f"In-Reply-To: {questionnaire['Message-ID']}\r\n"
                    "Auto-Submitted: auto-replied\r\n\r\n"
                    "I am out of the office until 8 January 2027, with limited access to "
                    "email.\r\n")
        mail.send(vacation.encode(), mail_from="", rcpt_to=[str(questionnaire["Reply-To"])])
        sim.run_until(jan(11, 10))
        reminder = the_one(mail, SAM, "questionnaire_reminder_1")
        # Back on Friday the 8th: the reminder waits for the next business day after that.
        assert sent_at(reminder) == jan(11, 9)
        assert len(inbox(mail, SAM)) == 2, "the auto-reply itself got no answer"
    finally:
        sim.close()


# -- time: clocks that change, weekends and holidays -------------------------------------------

BERLIN_REQUEST = SOFT_REQUEST.replace("2027-01-25", "2027-03-29").replace(
    "Renewal date: 2027-06-30\n", "")


def test_a_step_across_the_spring_clock_change_keeps_its_local_time(mail, tmp_path):
    assistant = Assistant(tmp_path, mail, extra_env={"MAILER_TIMEZONE": "Europe/Berlin"})
    request(mail, BERLIN_REQUEST)
    start = datetime(2027, 3, 15, 9, tzinfo=BERLIN)  # CET, UTC+1
    assistant.run_once(now=start)
    prompt = the_one(mail, RITA, "intro_text_prompt")
    reply(mail, the_one(mail, SAM, "questionnaire"), ALL_ANSWERS)
    reply(mail, prompt, INTRO)
    assistant.run_once(now=start + timedelta(hours=1))

    # The knowledge-transfer invitation: a 14:00 Berlin meeting, with its zone in the .ics.
    assistant.run_once(now=datetime(2027, 3, 18, 10, tzinfo=BERLIN))
    kt = the_one(mail, RITA, "kt_meeting_invite")
    calendar = invite_of(kt)
    assert str(calendar["method"]) == "REQUEST"
    event = calendar.walk("VEVENT")[0]
    assert str(event["organizer"]) == f"mailto:{ADDRESS}", "the assistant, as in From"
    assert {str(a) for a in event["attendee"]} == {f"mailto:{SAM}", f"mailto:{RITA}"}
    assert event["dtstart"].params["TZID"] == "Europe/Berlin"
    assert event.decoded("dtstart") == datetime(2027, 3, 22, 14, tzinfo=BERLIN)
    assert event.decoded("dtend") == datetime(2027, 3, 22, 14, 45, tzinfo=BERLIN)
    assert calendar.walk("VTIMEZONE"), "calendar apps need the zone's definition"

    # The call-notes prompt at 14:00 on Monday 29 March, the day after the clocks go forward:
    # that is 12:00 UTC now, not the 13:00 UTC it would be in winter.
    assistant.run_once(now=datetime(2027, 3, 29, 11, 59, tzinfo=UTC))
    assert "call_notes_prompt" not in steps_in(mail, RITA)
    assistant.run_once(now=datetime(2027, 3, 29, 12, 0, tzinfo=UTC))
    notes_prompt = the_one(mail, RITA, "call_notes_prompt")
    assert sent_at(notes_prompt).astimezone(BERLIN).hour == 14


def test_reminders_skip_weekends_and_the_teams_holidays(mail, tmp_path):
    assistant = Assistant(tmp_path, mail, extra_env={"MAILER_HOLIDAYS": "2027-01-06"})
    request(mail, SOFT_REQUEST)
    sim = SimulatedTime(assistant, jan(4, 8))
    try:
        sim.at(jan(4, 8))
        sim.run_until(jan(7, 9))
        assert "questionnaire_reminder_1" not in steps_in(mail, SAM), "Wednesday is a holiday"
        sim.run_until(jan(11, 10))
        first = the_one(mail, SAM, "questionnaire_reminder_1")
        assert sent_at(first) == jan(7, 9, 30)  # Tuesday, holiday Wednesday, Thursday
        second = the_one(mail, SAM, "questionnaire_reminder_2")
        assert sent_at(second) == jan(11, 9, 30)  # Friday and the weekend are skipped
    finally:
        sim.close()


# -- the demo ----------------------------------------------------------------------------------


def test_the_demo_tells_a_whole_transition_and_leaves_every_email_and_the_workbook(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "mailer", "demo", "--dir", str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    story = done.stdout
    for moment in ("emails a transition request", "Sam reads the draft and replies `send`",
                   "This is what Pat and Jo read", "Rita rewrites the recap",
                   "never answers the draft", "on_silence: send", "Where to look"):
        assert moment in story, story
    assert "Traceback" not in story + done.stderr and " ERROR " not in done.stderr
    emails = sorted((tmp_path / "outbox").rglob("*.eml"))
    names = " ".join(p.name for p in emails)
    for step in ("questionnaire", "customer_intro", "transition_meeting_invite",
                 "customer_recap", "debrief_questionnaire", "manager_checkin"):
        assert f"-{step}.eml" in names, names
    assert list((tmp_path / "var" / "workbooks").rglob("*.xlsx"))
    assert str(Path(tmp_path / "outbox")) in story
    # The date moves: the meeting moves with it, for every attendee, and Dana hears who knew.
    assert "`set effective date: 2027-01-27`" in story
    assert "the updated invitation: the same meeting" in story
    [update] = [p for p in emails if p.name.endswith("-transition_meeting_invite_request.eml")]
    calendar = invite_of(email.message_from_bytes(update.read_bytes(), policy=policy.default))
    event = calendar.walk("VEVENT")[0]
    assert int(event["sequence"]) == 1
    assert event.decoded("dtstart") == datetime(2027, 1, 27, 10, tzinfo=UTC)
    flowing = " ".join(story.replace("|", " ").split())
    assert "The customer was already sent the old effective date" in flowing
    # Rita's debrief is kept in the latest workbook, as her receipt promises.
    [latest] = [p for p in (tmp_path / "var" / "workbooks").rglob("*.xlsx")
                if not re.search(r" v\d+\.xlsx$", p.name)]
    debrief = openpyxl.load_workbook(latest)["Debrief"]
    assert debrief["B2"].value == DEBRIEF
