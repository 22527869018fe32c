"""`mailer demo`: a whole soft transition on the embedded default, with simulated time.

Everything runs for real (the maildir inbox, the pipeline, the playbook, the outbox and the
workbook); only the clock is simulated and the people's replies are scripted. Every email
is left as an `.eml` file in the demo's outbox, and each one is narrated as it goes out.
"""

from __future__ import annotations

import email
import logging
import os
import shutil
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from mailer.app import Service
from mailer.config.settings import configuration_paths, load_settings
from mailer.mail.sources import MaildirSource
from mailer.runtime import build_runtime

START = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)  # a Monday morning
DAYS = 95
ADDRESS = "transitions@example.com"
MANAGER = ("Dana Reyes", "dana@example.com")
OUTGOING = ("Sam Okafor", "sam@example.com")
INCOMING = ("Rita Patel", "rita@example.com")
INDENT = " " * 18

REQUEST = """Hi,

Sam is moving to our enterprise team, so please hand Acme over to Rita.

Account: Acme Corp
Outgoing CSM: Sam Okafor <sam@example.com>
Incoming CSM: Rita Patel <rita@example.com>
Customer contacts: Pat Lee <pat@acme.com>, Jo Park <jo@acme.com>
Type: soft
Effective date: 2027-01-25
Renewal date: 2027-06-30
Reason: Sam is moving to our enterprise team
Share reason: yes

Thanks,
Dana
"""

FIRST_ANSWERS = """Here is a first batch, more tomorrow.

1. Contacts
Pat Lee, VP Operations, pat@acme.com, champion - loves dashboards, weekly 1:1 on Tuesdays
Jo Park, CFO, jo@acme.com, decision maker - signs the renewal, cares about cost per seat
Chris Moe, IT lead, chris@acme.com, user - left the company in November

2. Sentiment
Positive overall. They renewed early last year and Pat tells everyone about the reporting.

4. Red flags
- SSO outage in October - resolved, root cause shared with Jo
- Export to their data warehouse is slow: still open, ticket 4411
"""

SECOND_ANSWERS = """Sorry for the delay, here is the rest.

6. Goals
Cut month-end reporting from five days to two; roll out to the Berlin office in Q2.

8. Contract
Renewal: 2027-06-30. Three-year term, 12% discount, 150 seats, expansion to Berlin open.

9. Renewal risk
Medium: a competitor demoed to their finance team in December.

10. Communication
Email first, monthly call on the first Tuesday, Europe/Berlin time zone.
"""

INTRO_TEXT = ("I've spent six years helping operations teams get more out of their data, "
              "most recently with two logistics companies. I'm looking forward to helping "
              "Acme bring the Berlin office on board.")
CALL_NOTES = """We reviewed the Berlin rollout and the open export ticket.
Next steps I own: a Berlin kickoff plan by 5 February, and a fix date for ticket 4411.
We agreed a monthly call on the first Tuesday."""
EDITED_RECAP = """Hi Pat and Jo,

Thank you both for the time on Monday, it was great to meet you properly.

What we covered: the Berlin rollout, and the slow export to your data warehouse
(ticket 4411).

What happens next, and I own both:
- a kickoff plan for the Berlin office, in your inbox by 5 February;
- a fix date for ticket 4411, which I will chase with our engineers this week.

We will keep the monthly call on the first Tuesday. You can always reach me at
rita@example.com, and Dana Reyes (dana@example.com) remains available too.

Looking forward to working together,
Rita"""
DEBRIEF = ("The contacts list and the red flags were the most useful part. I had to find the "
           "Berlin contract terms myself; a link to the order form would have helped.")

# What each email is, in a few words, for the narration.
EXPLAINED: dict[str, str] = {
    "request_accepted": "the transition id, the fields understood and the dated plan",
    "questionnaire": "12 questions about the account, with a spreadsheet form attached",
    "incoming_notice": "what is coming their way, and when",
    "intro_text_prompt": "asks for a few sentences to introduce herself to the customer",
    "intro_text_receipt": "a receipt that quotes her text back",
    "questionnaire_receipt": "a receipt: sections received, sections still missing",
    "questionnaire_reminder_1": "a gentle reminder listing only the missing sections",
    "workbook": "the handoff workbook (.xlsx), copied to Dana",
    "kt_meeting_invite": "a calendar invitation for a knowledge-transfer call",
    "customer_intro_draft": "the customer introduction, as a draft for Sam to approve",
    "customer_intro": "the introduction, in Sam's name; replies go to Sam, not the assistant",
    "approval_done": "a confirmation of what happened to the draft",
    "joint_call_nudge": "a nudge to book joint calls while both CSMs are on the account",
    "transition_meeting_invite_draft": "the meeting invitation, as a draft for Sam",
    "transition_meeting_invite": "the invitation for the transition meeting on 25 Jan; "
                                 "Pat, Jo, Rita and Sam can accept it in their calendars",
    "transition_meeting_invite_request": "the updated invitation: the same meeting (same UID, "
                                         "next SEQUENCE), now on 27 Jan, for every attendee",
    "command_result": "the answer to Dana's command",
    "call_notes_prompt": "asks for notes and next steps from the transition meeting",
    "call_notes_receipt": "a receipt; the recap will be built from these notes",
    "update_systems_reminder": "a checklist: CRM owner, account team, stakeholders",
    "customer_recap_draft": "the recap built from her notes, as a draft for her to approve",
    "customer_recap": "the recap, in Rita's name, with her own wording",
    "debrief_questionnaire": "four questions on how the hand-over went",
    "debrief_receipt": "a receipt; the debrief is added to the workbook",
    "status": "the state of the transition, the plan and the recent activity",
    "manager_checkin_draft": "the 60-day check-in with the customer, as a draft for Dana",
    "manager_checkin_silence": "a note that the check-in went out without an answer",
    "manager_checkin": "the check-in, in Dana's name; replies go to Dana",
}
SHOW_IN_FULL = ("customer_intro",)
SHOW_FIRST_PARAGRAPHS = ("command_result",)  # what the command did, without the whole plan
# Where each part of the story begins: the first email of that kind opens it.
CHAPTERS: dict[str, str] = {
    "request_accepted": "1. The request, and the knowledge transfer from Sam to Rita",
    "customer_intro_draft": "2. Telling the customer, in Sam's name",
    "call_notes_prompt": "3. The transition meeting and the recap, in Rita's name",
    "debrief_questionnaire": "4. After the hand-over: the debrief and the manager's check-in",
}
FIRST_NAMES = {"manager": "Dana", "outgoing": "Sam", "incoming": "Rita"}


@dataclass
class SimulatedClock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Reaction:
    """A scripted person answering one kind of email, some hours after it arrives."""

    kind: str
    delay: timedelta
    reply: Callable[[EmailMessage], str]
    narration: str


@dataclass
class Demo:
    directory: Path
    out: Callable[[str], None] = print
    clock: SimulatedClock = field(default_factory=SimulatedClock)
    seen_outbound: int = 0
    last_stamp: str = ""
    pending: list[tuple[datetime, Reaction, EmailMessage]] = field(default_factory=list)
    threads: dict[str, EmailMessage] = field(default_factory=dict)
    chapters_told: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        # The operator's configuration when there is one (MAILER_* paths, or files in the
        # working directory), else the shipped defaults: the demo shows their own templates.
        rules, playbooks, templates = configuration_paths(os.environ, Path.cwd())
        env = {"MAILER_ADDRESS": ADDRESS, "MAILER_DATA_DIR": str(self.directory / "var"),
               "MAILER_OUTBOX": str(self.directory / "outbox"),
               "MAILER_RULES": str(rules), "MAILER_PLAYBOOKS": str(playbooks),
               "MAILER_TEMPLATES": str(templates), "MAILER_TIMEZONE": "UTC"}
        self.settings = load_settings(env, cwd=self.directory)
        self.rt = build_runtime(self.settings, clock=self.clock)
        self.inbox = MaildirSource(self.settings.maildir_path)
        self.service = Service(rt=self.rt, source=self.inbox, sender=None)

    # -- narration ---------------------------------------------------------------------------

    def say(self, text: str) -> None:
        stamp = f"{self.clock.now:%a %d %b %H:%M}"
        shown = stamp if stamp != self.last_stamp else ""
        self.last_stamp = stamp
        self.out(f"{shown:<{len(INDENT)}}{text}")

    def chapter(self, kind: str) -> None:
        title = CHAPTERS.get(kind)
        if title is not None and title not in self.chapters_told:
            self.chapters_told.add(title)
            self.out("")
            self.out(f"{title}")
            self.out("-" * len(title))
            self.last_stamp = ""

    def show_mail(self, kind: str, msg: EmailMessage) -> None:
        names = ", ".join(a.display_name or a.addr_spec for a in msg["To"].addresses)
        self.say(f"-> {names}: \"{str(msg['Subject']).strip()}\"")
        if kind in EXPLAINED:
            self.out(f"{INDENT}   ({EXPLAINED[kind]})")
        if kind in SHOW_FIRST_PARAGRAPHS:
            body = msg.get_body(("plain",))
            text = (body.get_content() if body is not None else "").replace("\r\n", "\n")
            said = (text.split("\n\n") + ["", ""])[1]
            for part in textwrap.wrap(said, 76):
                self.out(f"{INDENT}   | {part}")
        if kind in SHOW_IN_FULL:
            body = msg.get_body(("plain",))
            text = body.get_content() if body is not None else ""
            self.out(f"{INDENT}   This is what Pat and Jo read:")
            for line in text.strip().splitlines():
                quote = "> " if line.startswith("> ") else ""
                wrapped = textwrap.wrap(line, 76, subsequent_indent=quote) or [""]
                for part in wrapped:
                    self.out(f"{INDENT}   | {part}")

    # -- the simulation ----------------------------------------------------------------------

    def receive(self, sender: tuple[str, str], to: str, subject: str, body: str, *,
                in_reply_to: str | None = None) -> None:
        mid = make_msgid(domain=sender[1].split("@")[1])
        thread = f"In-Reply-To: {in_reply_to}\nReferences: {in_reply_to}\n" if in_reply_to else ""
        raw = (f"From: {sender[0]} <{sender[1]}>\nTo: {to}\nSubject: {subject}\n"
               f"Date: {format_datetime(self.clock.now)}\nMessage-ID: {mid}\n{thread}"
               "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n" + body)
        self.inbox.deliver(raw.encode("utf-8"))

    def run_pass(self) -> None:
        self.service.run_once()
        rows = self.rt.store.all("SELECT id, kind, raw FROM outbound WHERE id > ? ORDER BY id",
                                 self.seen_outbound)
        for row in rows:
            self.chapter(row["kind"])
            if row["kind"].endswith("_silence"):
                self.narrate_silence(row["kind"].removesuffix("_silence"))
        for row in rows:
            self.seen_outbound = row["id"]
            msg = email.message_from_bytes(row["raw"], policy=policy.default)
            kind = row["kind"]
            self.show_mail(kind, msg)  # type: ignore[arg-type]
            self.threads[kind] = msg  # type: ignore[assignment]
            for reaction in REACTIONS:
                if reaction.kind == kind:
                    self.pending.append((self.clock.now + reaction.delay, reaction, msg))

    def narrate_silence(self, step_id: str) -> None:
        step = self.rt.playbooks["soft"].step(step_id)
        who = FIRST_NAMES.get(step.sender, "Nobody")
        self.say(f"{who} is busy and never answers the draft: {step.silence_business_days} "
                 "business days pass.")
        self.out(f"{INDENT}The playbook says `on_silence: {step.on_silence}`, so it goes out "
                 "by itself, as written.")

    def react(self) -> None:
        due = [p for p in self.pending if p[0] <= self.clock.now]
        self.pending = [p for p in self.pending if p[0] > self.clock.now]
        for _, reaction, msg in due:
            self.say(reaction.narration)
            to_name, to_address = _first_recipient(msg)
            self.receive((to_name, to_address), str(msg["Reply-To"]),
                         _reply_subject(str(msg["Subject"])), reaction.reply(msg),
                         in_reply_to=str(msg["Message-ID"]))

    def manager_asks_for_status(self) -> None:
        accepted = self.threads.get("request_accepted")
        if accepted is None:
            return
        self.say("Dana wonders how it is going, and replies `status` to the first email.")
        self.receive(MANAGER, str(accepted["Reply-To"]), _reply_subject(str(accepted["Subject"])),
                     "status\n", in_reply_to=str(accepted["Message-ID"]))

    def manager_moves_the_date(self) -> None:
        accepted = self.threads.get("request_accepted")
        if accepted is None:
            return
        self.say("Pat asks for the meeting two days later; Dana replies to her first email:")
        self.out(f"{INDENT}`set effective date: 2027-01-27`. The plan moves, and the meeting too.")
        self.receive(MANAGER, str(accepted["Reply-To"]), _reply_subject(str(accepted["Subject"])),
                     "set effective date: 2027-01-27\n", in_reply_to=str(accepted["Message-ID"]))

    def play(self) -> None:
        self.chapter("request_accepted")
        self.say("Dana, the CS manager, emails a transition request to the assistant.")
        self.receive(MANAGER, ADDRESS, "Transition: Acme Corp", REQUEST)
        end = START + timedelta(days=DAYS)
        status_at = datetime(2027, 1, 13, 11, 0, tzinfo=UTC)
        move_at = datetime(2027, 1, 20, 15, 0, tzinfo=UTC)
        while self.clock.now < end:
            if self.clock.now == status_at:
                self.manager_asks_for_status()
            if self.clock.now == move_at:
                self.manager_moves_the_date()
            self.react()
            self.run_pass()
            self.clock.now += _tick(self.clock.now)

    def summary(self, seconds: float) -> None:
        outbox = self.settings.outbox_dir
        emails = sorted(outbox.rglob("*.eml"))
        workbooks = sorted(self.settings.workbooks_dir.rglob("*.xlsx"))
        intro = next((p for p in emails if p.name.endswith("-customer_intro.eml")), None)
        self.out("")
        self.out(f"That was {DAYS} days of a real hand-over in {seconds:.0f} seconds: "
                 f"{len(emails)} emails, each planned by playbooks/soft.yaml.")
        self.out("")
        self.out("Where to look:")
        self.out(f"  {outbox}/")
        self.out("      every email as an .eml file; open one in any mail client")
        if intro is not None:
            self.out(f"      e.g. {intro.name}: what the customer received")
        for path in workbooks[-1:]:
            self.out(f"  {path}")
            self.out("      the handoff workbook: overview, contacts, issues, plan, history")
        self.out(f"  MAILER_DATA_DIR={self.settings.data_dir} mailer status TR-0001")
        self.out("      the transition's plan and timeline")
        self.out("")
        self.out("No mail server was needed: the inbox was a local maildir and nothing was sent.")
        self.out("To run it for real, set MAILER_IMAP_URL and MAILER_SMTP_URL and start "
                 "`mailer run` (see README.md).")


def _tick(now: datetime) -> timedelta:
    """Half-hour steps in the working day, so 09:30 steps show at 09:30; longer at night."""
    if now.weekday() < 5 and 7 <= now.hour < 18:
        return timedelta(minutes=30)
    if now.minute or now.hour % 3:
        return timedelta(minutes=30) if now.minute else timedelta(hours=1)
    return timedelta(hours=3)


def _reply_subject(subject: str) -> str:
    """What a mail client writes when you hit Reply: one `Re:`, never two."""
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


def _first_recipient(msg: EmailMessage) -> tuple[str, str]:
    address = msg["To"].addresses[0]
    return address.display_name, address.addr_spec


REACTIONS = (
    Reaction("questionnaire", timedelta(hours=5), lambda m: FIRST_ANSWERS,
             "Sam answers the first sections, writing above the quoted questionnaire."),
    Reaction("questionnaire_reminder_1", timedelta(hours=3), lambda m: SECOND_ANSWERS,
             "Sam, reminded, sends the remaining sections."),
    Reaction("intro_text_prompt", timedelta(hours=4), lambda m: INTRO_TEXT,
             "Rita replies with three sentences about herself."),
    Reaction("customer_intro_draft", timedelta(hours=2), lambda m: "send",
             "Sam reads the draft and replies `send`."),
    Reaction("transition_meeting_invite_draft", timedelta(hours=1), lambda m: "send",
             "Sam approves the meeting invitation: `send`."),
    Reaction("call_notes_prompt", timedelta(hours=3), lambda m: CALL_NOTES,
             "After the meeting, Rita sends her notes and the next steps she owns."),
    Reaction("customer_recap_draft", timedelta(hours=2), lambda m: EDITED_RECAP,
             "Rita rewrites the recap in her own words and replies with her version."),
    Reaction("debrief_questionnaire", timedelta(days=1), lambda m: DEBRIEF,
             "Rita answers the debrief questions."),
)


def _introduction(directory: Path, out: Callable[[str], None]) -> None:
    out("mailer demo: the hand-over of a customer account, run entirely by email.")
    out("")
    out("Acme Corp moves from Sam Okafor (outgoing CSM) to Rita Patel (incoming CSM).")
    out("Dana Reyes is their manager; Pat Lee and Jo Park are the customer's contacts.")
    out("The people's replies are scripted and the clock is simulated; everything else is")
    out("the real assistant: its inbox, the soft playbook, the templates and the outbox.")
    out(f"Nothing is sent: every email is written to {directory / 'outbox'}.")


def run_demo(directory: Path, *, out: Callable[[str], None] = print) -> int:
    directory = directory.resolve()
    if directory.exists():
        for sub in ("var", "outbox"):
            shutil.rmtree(directory / sub, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    logging.getLogger("mailer").setLevel(logging.WARNING)  # the narration tells the story
    _introduction(directory, out)
    started = time.monotonic()
    demo = Demo(directory, out=out)
    try:
        demo.play()
        demo.summary(time.monotonic() - started)
    finally:
        demo.service.close()
    sys.stdout.flush()
    return 0
