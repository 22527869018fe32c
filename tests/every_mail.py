"""Every kind of mail the product sends, produced once by a real story on the real servers.

Dana (a manager writing from Outlook) starts a soft transition for Acme Corp and a hard one
for Globex (after fixing a broken request), moves a small book of business, steers them with
commands, and asks for the digest; Sam, Olga and Carl answer questionnaires; Rita writes her
introduction, call notes and debrief and rewrites a draft; a stranger is refused; one customer
address bounces. The clock jumps from one moment of the plan to the next.

What comes out is kept twice: every mailbox as its owner's mail client sees it (what they
received, through IMAP, and what they sent, in the order it happened), for the threading test;
and every outbound message as the assistant recorded it, for the rendering test.
"""

from __future__ import annotations

import base64
import email
import itertools
import shutil
import sqlite3
import uuid
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

import icalendar
from assistant import ADDRESS, Assistant, SimulatedTime

from mailer.config.settings import SHIPPED_DEFAULTS
from mailer.flows.watchdog import send_canary_if_due

DANA = "Dana Reyes <dana@example.com>"
SAM = "Sam Okafor <sam@example.com>"
RITA = "Rita Patel <rita@example.com>"
OLGA = "Olga Berg <olga@example.com>"
LEE = "Lee Chan <lee@example.com>"
NINA = "Nina Roy <nina@example.com>"
CARL = "Carl Wu <carl@example.com>"
STRANGER = "Mallory <mallory@evil.test>"
LEAD = "lead@example.com"
BOUNCING = "gone@acme.test"
TIMEZONE = "Europe/Berlin"

ACME_REQUEST = """Hi,

please start the hand-over of Acme Corp.

Account: Acme Corp
Outgoing CSM: Sam Okafor <sam@example.com>
Incoming CSM: Rita Patel <rita@example.com>
Customer contacts: Pat Lee <pat@acme.test>, Jo Park <jo@acme.test>, Max Gruber <gone@acme.test>
Type: soft
Effective date: 2027-02-01
Renewal date: 2027-06-30
Reason: Sam is moving to our enterprise team
Share reason: yes
Meeting link: https://meet.example.com/sam-okafor

Thanks,
Dana
"""

INITRODE_REQUEST = """Account: Initrode
Outgoing CSM: Ivy Chen <ivy@example.com>
Incoming CSM: Lee Chan <lee@example.com>
Customer contacts: Bill Lumbergh <bill@initrode.test>
Type: soft
Effective date: 2027-03-15
"""

GLOBEX_BROKEN = """Account: Globex
Outgoing CSM: Olga Berg <olga@example.com>
Incoming CSM: Lee
Customer contacts: Hank Scorpio <hank@globex.test>
Type: gentle
"""

GLOBEX_FIX = """Incoming CSM: Lee Chan <lee@example.com>
Type: hard
Effective date: 2027-01-20
Last day: 2027-01-15
"""

FIRST_ANSWERS = """1. Contacts
Pat Lee, VP Operations, pat@acme.test, champion - loves dashboards
Jo Park, CFO, jo@acme.test, decision maker - signs the renewal

2. Sentiment
Positive overall; they renewed early last year.
"""

LAST_ANSWERS = """4. Red flags
- Export to their data warehouse is slow: still open, ticket 4411

6. Goals
Cut month-end reporting from five days to two.

8. Contract
Renewal: 2027-06-30, three-year term, 12% discount.

9. Renewal risk
Medium: a competitor demoed to their finance team.
"""

INTRO = ("I have spent six years helping operations teams get more out of their data.\n"
         "I look forward to helping Acme bring the Berlin office on board.")
NOTES = ("We reviewed the Berlin rollout and ticket 4411.\n"
         "Next steps I own: a Berlin kickoff plan by 5 February.")
RITAS_RECAP = """Hi Pat and Jo,

Thank you both for Monday, it was great to meet you properly. We went through the Berlin
rollout and the slow export (ticket 4411). I owe you a kickoff plan for Berlin by 5 February,
and a fix date for the ticket this week. You can always reach me at rita@example.com.

Looking forward to working together,
Rita"""
BOOK_CSV = (b"Account,Outgoing CSM,Incoming CSM,Customer contacts,Type,Effective date\r\n"
            b"Initech,Carl Wu <carl@example.com>,Rita Patel <rita@example.com>,"
            b"Bill Lumbergh <bill@initech.test>,soft,2027-03-01\r\n"
            b"Hooli,Carl Wu <carl@example.com>,Rita Patel <rita@example.com>,"
            b"Gavin Belson <gavin@hooli.test>,soft,2027-03-01\r\n")

_counter = itertools.count(1)


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of 2027 in UTC (Berlin is an hour ahead in winter)."""
    return datetime(2027, month, day, hour, minute, tzinfo=UTC)


def address_of(person: str) -> str:
    return parseaddr(person)[1].lower()


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def message_id(msg: EmailMessage) -> str:
    """The Message-ID as written between its angle brackets (long ones are folded)."""
    return str(msg["Message-ID"]).strip()


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    return part.get_content().replace("\r\n", "\n") if part is not None else ""


def outlook_thread_index(moment: datetime) -> str:
    """A conversation index as Outlook starts one: 0x01, five bytes of FILETIME, a GUID."""
    filetime = int((moment - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds() * 10_000_000)
    return base64.b64encode(b"\x01" + (filetime >> 24).to_bytes(5, "big")
                            + uuid.uuid4().bytes).decode()


@dataclass
class Mailbox:
    """One person's mail as their client sees it: received and sent, in the order it happened."""

    address: str
    messages: list[EmailMessage] = field(default_factory=list)
    sent: set[str] = field(default_factory=set)  # Message-IDs this person wrote


@dataclass
class Answer:
    """A person's mail and what the assistant answered to it."""

    question: EmailMessage
    answers: list[EmailMessage]


@dataclass
class EveryMail:
    mailboxes: dict[str, Mailbox]
    answered: list[Answer]
    unanswered: list[EmailMessage]  # mail no person wrote (a calendar's Accept): no answer
    records: dict[str, dict[str, str]]  # Message-ID -> kind, template, thread, transition_id
    outbound: list[tuple[dict[str, str], bytes]]  # every message the assistant queued
    database: Path  # the assistant's SQLite file, to read what it recorded
    environment: dict[str, str]  # the assistant's MAILER_* settings, to look at it afterwards

    def kind(self, msg: EmailMessage) -> str:
        return self.records.get(message_id(msg), {}).get("kind", "")


class Story:
    """The people, their mail clients and the assistant's clock."""

    def __init__(self, mail, home: Path) -> None:  # noqa: ANN001 - the MailServers fixture
        self.mail = mail
        playbooks = home / "playbooks"
        shutil.copytree(SHIPPED_DEFAULTS / "playbooks", playbooks)
        soft = playbooks / "soft.yaml"
        soft.write_text(soft.read_text().replace(
            "checkin_days: 60\n", "checkin_days: 60\nbook_questionnaire: combined\n"))
        self.assistant = Assistant(home, mail, extra_env={
            "MAILER_TIMEZONE": TIMEZONE, "MAILER_DIGEST_RECIPIENTS": LEAD,
            "MAILER_PLAYBOOKS": str(playbooks)})
        self.sim = SimulatedTime(self.assistant, at(1, 4, 7, 30))
        self.boxes: dict[str, Mailbox] = {}
        self.seen: dict[str, int] = {}
        self.answered: list[Answer] = []
        self.unanswered: list[EmailMessage] = []

    # -- the clock -------------------------------------------------------------------------

    def run(self, moment: datetime) -> None:
        """One pass at `moment` (the service was down since the last one), then the mail
        that arrived is read by its recipients."""
        self.sim.skip_to(max(moment, self.sim.now))
        self.sim.at(self.sim.now)
        self.collect()

    def collect(self) -> None:
        for address in list(self.boxes):
            self.fetch(address)

    def fetch(self, address: str) -> list[EmailMessage]:
        box = self.box(address)
        raws = self.mail.messages(address)
        new = [parse(raw) for raw in raws[self.seen.get(address, 0):]]
        self.seen[address] = len(raws)
        box.messages.extend(new)
        return new

    def box(self, address: str) -> Mailbox:
        if address not in self.boxes:
            self.boxes[address] = Mailbox(address)
            self.seen.setdefault(address, 0)
        return self.boxes[address]

    def watch(self, *people: str) -> None:
        for person in people:
            self.box(address_of(person))

    # -- what people do --------------------------------------------------------------------

    def write(self, sender: str, to: str, subject: str, body: str, *,
              parent: EmailMessage | None = None, outlook: bool = False,
              attachment: tuple[str, str, bytes] | None = None) -> EmailMessage:
        """A person's mail, sent through the relay; a reply when `parent` is given. The next
        pass answers it: whatever answer reaches the sender in that pass is remembered as the
        answer to this mail."""
        n = next(_counter)
        moment = self.sim.now
        headers = [("From", sender), ("To", to), ("Subject", subject),
                   ("Date", format_datetime(moment)),
                   ("Message-ID", make_msgid(f"p{n}", domain="clients.example"))]
        if parent is not None:
            references = [*str(parent.get("References", "")).split(), message_id(parent)]
            headers += [("In-Reply-To", message_id(parent)),
                        ("References", " ".join(references))]
        if outlook:
            headers += [("Thread-Topic", subject.removeprefix("RE: ")),
                        ("Thread-Index", outlook_thread_index(moment))]
        msg = EmailMessage()
        for name, value in headers:
            msg[name] = value
        msg.set_content(body)
        if attachment is not None:
            filename, mime, payload = attachment
            maintype, subtype = mime.split("/")
            msg.add_attachment(payload, maintype=maintype, subtype=subtype, filename=filename)
        raw = msg.as_bytes(policy=policy.SMTP)
        self.mail.send(raw, mail_from=address_of(sender), rcpt_to=[address_of(to)])
        box = self.box(address_of(sender))
        self.fetch(box.address)
        sent = parse(raw)
        box.messages.append(sent)
        box.sent.add(message_id(sent))
        before = len(box.messages)
        self.run(self.sim.now + timedelta(minutes=1))
        records = self.records()
        answers = [m for m in box.messages[before:]
                   if records.get(message_id(m), {}).get("kind") in ANSWER_KINDS]
        self.answered.append(Answer(sent, answers))
        return sent

    def accept(self, person: str, invite: EmailMessage) -> EmailMessage:
        """The attendee clicks Accept: their calendar app mails a METHOD:REPLY to the
        invitation's organizer, with `Accepted:` in the subject, as Gmail and Outlook do."""
        [part] = [p for p in invite.walk() if p.get_content_type() == "text/calendar"]
        event = icalendar.Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")[0]
        organizer = str(event["organizer"]).removeprefix("mailto:")
        reply = icalendar.Calendar()
        reply.add("prodid", "-//Google Inc//Google Calendar 70.9054//EN")
        reply.add("version", "2.0")
        reply.add("method", "REPLY")
        answer = icalendar.Event()
        for name in ("uid", "sequence", "dtstart", "dtend", "summary", "organizer"):
            answer[name] = event[name]
        attendee = icalendar.vCalAddress(f"mailto:{address_of(person)}")
        attendee.params["partstat"] = "ACCEPTED"
        answer.add("attendee", attendee, encode=0)
        answer.add("dtstamp", self.sim.now)
        reply.add_component(answer)
        msg = EmailMessage()
        msg["From"], msg["To"] = person, organizer
        msg["Subject"] = f"Accepted: {event['summary']}"
        msg["Date"] = format_datetime(self.sim.now)
        msg["Message-ID"] = make_msgid("rsvp", domain="clients.example")
        msg.set_content(f"{person} has accepted this invitation.")
        msg.add_alternative(reply.to_ical(), maintype="text", subtype="calendar",
                            params={"method": "REPLY"})
        raw = msg.as_bytes(policy=policy.SMTP)
        self.mail.send(raw, mail_from=address_of(person), rcpt_to=[organizer])
        box = self.box(address_of(person))
        self.fetch(box.address)
        sent = parse(raw)
        box.messages.append(sent)
        box.sent.add(message_id(sent))
        before = len(box.messages)
        self.run(self.sim.now + timedelta(minutes=1))
        assert len(box.messages) == before, "an Accept is never answered"
        self.unanswered.append(sent)
        return sent

    def reply(self, person: str, parent: EmailMessage, body: str, **kwargs) -> EmailMessage:
        """Answer a mail to its Reply-To, as a client does: `Re: <subject>`, quoting it."""
        to = str(parent["Reply-To"] or parent["From"])
        subject = str(parent["Subject"])
        subject = subject if subject.lower().startswith("re:") else f"Re: {subject}"
        quoted = "\n".join(f"> {line}" for line in text_of(parent).splitlines())
        return self.write(person, to, subject, f"{body}\n\n{parent['From']} wrote:\n{quoted}\n",
                          parent=parent, **kwargs)

    def latest(self, person: str, kind: str, transition: str = "") -> EmailMessage:
        records = self.records()
        found = [m for m in self.boxes[address_of(person)].messages
                 if records.get(message_id(m), {}).get("kind") == kind
                 and transition in records[message_id(m)]["transition_id"]]
        assert found, (f"{person} has no '{kind}' mail; the last one Dana got:\n"
                       + text_of(self.boxes[address_of(DANA)].messages[-1]))
        return found[-1]

    def thread_of(self, transition_id: str) -> EmailMessage:
        """The answer that started a transition: Dana's commands reply to it."""
        records = self.records()
        return next(m for m in self.boxes[address_of(DANA)].messages
                    if records.get(message_id(m), {}).get("kind") == "request_accepted"
                    and records[message_id(m)]["transition_id"] == transition_id)

    def break_transition(self, transition_id: str) -> None:
        """Its stored data goes bad, as if an older version had written a playbook that is
        gone: the scheduler sets it aside and tells its manager."""
        with closing(sqlite3.connect(self.assistant.settings.database_path)) as db, db:
            db.execute("UPDATE transitions SET playbook='retired', next_due_at=NULL WHERE id=?",
                       (transition_id,))

    def records(self) -> dict[str, dict[str, str]]:
        with closing(sqlite3.connect(self.assistant.settings.database_path)) as db:
            db.row_factory = sqlite3.Row
            return {row["message_id"]: {k: row[k] or "" for k in
                                        ("kind", "template", "thread", "transition_id")}
                    for row in db.execute("SELECT * FROM outbound")}

    def outbound(self) -> list[tuple[dict[str, str], bytes]]:
        with closing(sqlite3.connect(self.assistant.settings.database_path)) as db:
            db.row_factory = sqlite3.Row
            return [({k: row[k] or "" for k in ("kind", "template", "thread", "transition_id",
                                                "message_id")}, bytes(row["raw"]))
                    for row in db.execute("SELECT * FROM outbound ORDER BY id")]

    def close(self) -> None:
        self.sim.close()


# The mail that answers a person's mail (it must stay in their conversation).
ANSWER_KINDS = frozenset({
    "request_accepted", "request_problems", "rejection", "questionnaire_receipt",
    "intro_text_receipt", "call_notes_receipt", "debrief_receipt", "note_receipt",
    "command_result", "command_unknown", "status", "approval_done", "approval_closed",
    "book_answer", "digest"})


def tell_the_story(mail, home: Path) -> EveryMail:  # noqa: ANN001 - the MailServers fixture
    story = Story(mail, home)
    try:
        _play(story)
        return EveryMail(mailboxes=story.boxes, answered=story.answered,
                         unanswered=story.unanswered,
                         records=story.records(), outbound=story.outbound(),
                         database=story.assistant.settings.database_path,
                         environment=dict(story.assistant.env))
    finally:
        story.close()


def _play(s: Story) -> None:  # noqa: PLR0915 - one story, told in order
    s.watch(DANA, SAM, RITA, OLGA, LEE, NINA, CARL, "ivy@example.com", STRANGER, LEAD,
            "pat@acme.test", "jo@acme.test", "hank@globex.test", "bill@initech.test")
    s.mail.fail_recipient(BOUNCING, 550, "5.1.1 no such user")

    # Monday 4 January, 09:00 in Berlin: two requests from Dana (one broken), one stranger.
    s.sim.skip_to(at(1, 4, 8))
    s.write(DANA, ADDRESS, "Transition: Acme Corp", ACME_REQUEST, outlook=True)
    s.write(DANA, ADDRESS, "Globex handover", GLOBEX_BROKEN)
    s.write(STRANGER, ADDRESS, "Transition", ACME_REQUEST)

    # An hour later: the fix, Sam's first answers, Rita's question to her notice.
    problems = s.latest(DANA, "request_problems")
    s.reply(DANA, problems, GLOBEX_FIX)
    s.reply(SAM, s.latest(SAM, "questionnaire"), FIRST_ANSWERS)
    s.reply(RITA, s.latest(RITA, "incoming_notice"), "Thanks! Who do I ask about pricing?")

    # Wednesday: the first reminders; Friday: the second; Monday: the weekly digest.
    s.run(at(1, 6, 9))
    s.run(at(1, 8, 9))
    s.run(at(1, 11, 7, 15))

    # Tuesday 12 January: the escalation to Dana, who asks for the status, mistypes a
    # command, asks for the digest and for the workbook as it stands.
    s.run(at(1, 12, 9))
    accepted = s.thread_of("TR-0001")
    s.reply(DANA, accepted, "status")
    s.reply(DANA, accepted, "what is going on?")
    s.write(DANA, ADDRESS, "digest", "digest please\n\n-- \nDana")
    s.reply(DANA, accepted, "send workbook")

    # Sam finishes, Rita writes her introduction: the workbook's next version, the
    # knowledge-transfer call; Olga stays silent about her Globex draft.
    s.reply(SAM, s.latest(SAM, "questionnaire_reminder_2"), LAST_ANSWERS)
    s.reply(RITA, s.latest(RITA, "intro_text_reminder"), INTRO)
    s.run(at(1, 13, 10))

    # A small book of business for Carl's accounts.
    s.write(DANA, ADDRESS, "Carl's accounts", "Carl is moving on; his two accounts are "
            "attached.\n\nDana", attachment=("carl.csv", "text/csv", BOOK_CSV))
    s.reply(CARL, s.latest(CARL, "combined_questionnaire"),
            "TR-0003\n2. Sentiment\nWarm, they like us.")
    s.reply(RITA, s.latest(RITA, "grouped_intro_text_prompt"), "Hello from Rita.")
    s.run(at(1, 15, 9))  # Carl's grouped reminder

    # Initrode: Dana sends the workbook early, the knowledge-transfer call is booked, then
    # she cancels the hand-over before anything reached the customer.
    s.write(DANA, ADDRESS, "Transition: Initrode", INITRODE_REQUEST)
    initrode = s.thread_of("TR-0005")
    s.reply(DANA, initrode, "send workbook")
    s.run(at(1, 20, 9, 30))
    s.reply(DANA, initrode, "cancel")

    # Monday 25 January: the customer introduction, approved by Sam; commands in between.
    s.run(at(1, 25, 9))
    s.reply(SAM, s.latest(SAM, "customer_intro_draft"), "send")
    s.run(at(1, 26, 9, 30))
    s.run(at(1, 27, 10))  # Sam stayed silent: the meeting invitation goes out anyway
    accepted = s.thread_of("TR-0001")
    s.reply(DANA, accepted, "pause")
    s.reply(DANA, accepted, "resume")
    s.reply(DANA, accepted, "skip: joint call")
    s.reply(DANA, accepted, "send now: debrief")
    s.reply(RITA, s.latest(RITA, "debrief_questionnaire"), "The workbook was great.")

    # Pat accepts the meeting; Dana moves the effective date, and the meeting with it.
    s.accept("Pat Lee <pat@acme.test>", s.latest("pat@acme.test", "transition_meeting_invite"))
    s.reply(DANA, accepted, "set effective date: 2027-01-29")
    s.reply(DANA, accepted, "set meeting link: https://meet.example.com/rita-patel")

    # Globex: Lee's notes; Dana sends the workbook, hands the account to Nina, confirms.
    s.reply(LEE, s.latest(LEE, "call_notes_reminder"), NOTES)
    globex = s.thread_of("TR-0002")
    s.reply(DANA, globex, "send workbook")
    s.reply(DANA, globex, f"set incoming csm: {NINA}")
    s.reply(DANA, s.latest(DANA, "workbook_confirm"), "send")

    # The effective date: call notes, the recap Rita rewrites, the systems checklist.
    s.run(at(2, 1, 13, 30))
    s.run(at(2, 3, 9))
    s.reply(RITA, s.latest(RITA, "call_notes_reminder"), NOTES)
    s.run(at(2, 3, 10))
    s.reply(RITA, s.latest(RITA, "customer_recap_draft"), RITAS_RECAP)

    # Sixty days later: Dana's check-in draft; an unclear answer, then send: Acme is done.
    s.run(at(4, 2, 9))
    draft = s.latest(DANA, "manager_checkin_draft", "TR-0001")
    s.reply(DANA, draft, "hmm, maybe")
    s.reply(DANA, draft, "send")
    # Carl approves Initech's introduction, and approves it again: too late, it is gone.
    carl_draft = s.latest(CARL, "customer_intro_draft", "TR-0003")
    s.reply(CARL, carl_draft, "send")
    s.reply(CARL, carl_draft, "send")

    # Hooli's stored data goes bad: Dana hears about it once.
    s.break_transition("TR-0004")
    s.run(at(4, 2, 12))

    # The watchdog's canary, mail to the assistant itself.
    send_canary_if_due(s.sim.service.rt, s.sim.now, every=timedelta(minutes=15))
    s.run(at(4, 2, 11))

