"""`mailer demo`: a whole soft transition on the embedded default, with simulated time.

Everything runs for real (the maildir inbox, the pipeline, the playbook, the outbox and the
workbook); only the clock is simulated and the people's replies are scripted. Every email
is left as an `.eml` file in the demo's outbox.
"""

from __future__ import annotations

import email
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.utils import format_datetime, make_msgid
from pathlib import Path

import mailer
from mailer.app import Service, build_runtime
from mailer.settings import load_settings
from mailer.sources import MaildirSource

START = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)  # a Monday morning
DAYS = 95
ADDRESS = "transitions@example.com"
MANAGER = ("Dana Reyes", "dana@example.com")
OUTGOING = ("Sam Okafor", "sam@example.com")
INCOMING = ("Rita Patel", "rita@example.com")

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
DEBRIEF = ("The contacts list and the red flags were the most useful part. I had to find the "
           "Berlin contract terms myself; a link to the order form would have helped.")


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
    reply: Callable[[email.message.EmailMessage], str]
    narration: str


@dataclass
class Demo:
    directory: Path
    clock: SimulatedClock = field(default_factory=SimulatedClock)
    seen_outbound: int = 0
    pending: list[tuple[datetime, Reaction, email.message.EmailMessage]] = field(
        default_factory=list)

    def __post_init__(self) -> None:
        root = _config_root()
        env = {"MAILER_ADDRESS": ADDRESS, "MAILER_DATA_DIR": str(self.directory / "var"),
               "MAILER_OUTBOX": str(self.directory / "outbox"),
               "MAILER_RULES": str(root / "inbox_rules.yaml"),
               "MAILER_PLAYBOOKS": str(root / "playbooks"),
               "MAILER_TEMPLATES": str(root / "templates"), "MAILER_TIMEZONE": "UTC"}
        self.settings = load_settings(env, cwd=self.directory)
        self.rt = build_runtime(self.settings, clock=self.clock)
        self.inbox = MaildirSource(self.settings.maildir_path)
        self.service = Service(rt=self.rt, source=self.inbox, sender=None)

    def say(self, text: str) -> None:
        print(f"{self.clock.now:%a %d %b %H:%M}  {text}")

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
        for row in self.rt.store.all("SELECT id, kind, raw FROM outbound WHERE id > ? "
                                     "ORDER BY id", self.seen_outbound):
            self.seen_outbound = row["id"]
            msg = email.message_from_bytes(row["raw"], policy=policy.default)
            attached = [p.get_filename() for p in msg.iter_attachments()]
            extra = f"  [attached: {', '.join(attached)}]" if attached else ""
            self.say(f"  -> {msg['To']}: {msg['Subject']}{extra}")
            for reaction in REACTIONS:
                if reaction.kind == row["kind"]:
                    self.pending.append((self.clock.now + reaction.delay, reaction, msg))

    def react(self) -> None:
        due = [p for p in self.pending if p[0] <= self.clock.now]
        self.pending = [p for p in self.pending if p[0] > self.clock.now]
        for _, reaction, msg in due:
            self.say(reaction.narration)
            to_name, to_address = _first_recipient(msg)
            self.receive((to_name, to_address), str(msg["Reply-To"]), f"Re: {msg['Subject']}",
                         reaction.reply(msg), in_reply_to=str(msg["Message-ID"]))

    def play(self) -> None:
        self.say("Dana, the CS manager, emails the transition request.")
        self.receive(MANAGER, ADDRESS, "Transition: Acme Corp", REQUEST)
        end = START + timedelta(days=DAYS)
        while self.clock.now < end:
            self.react()
            self.run_pass()
            self.clock.now += timedelta(hours=1)

    def summary(self) -> None:
        counts = self.rt.outbox.counts(self.rt.store)
        workbooks = sorted(self.settings.workbooks_dir.rglob("*.xlsx"))
        print()
        print(f"Done: {counts.get('queued', 0)} emails written to "
              f"{self.settings.outbox_dir} (no SMTP server is configured, so they wait there).")
        for path in workbooks:
            print(f"Handoff workbook: {path}")
        print(f"Timeline: MAILER_DATA_DIR={self.settings.data_dir} mailer status TR-0001")
        print("Open any .eml file in a mail client to see the text and HTML parts.")


def _first_recipient(msg: email.message.EmailMessage) -> tuple[str, str]:
    address = msg["To"].addresses[0]
    return address.display_name, address.addr_spec


REACTIONS = (
    Reaction("questionnaire", timedelta(hours=5), lambda m: FIRST_ANSWERS,
             "Sam answers the first sections of the questionnaire, top-posted."),
    Reaction("questionnaire_reminder_1", timedelta(hours=3), lambda m: SECOND_ANSWERS,
             "Sam, reminded, sends the remaining sections."),
    Reaction("intro_text_prompt", timedelta(hours=4), lambda m: INTRO_TEXT,
             "Rita replies with a few lines introducing herself."),
    Reaction("customer_intro_draft", timedelta(hours=2), lambda m: "send",
             "Sam approves the customer introduction: 'send'."),
    Reaction("transition_meeting_invite_draft", timedelta(hours=1), lambda m: "send",
             "Sam approves the meeting invitation to the customer."),
    Reaction("call_notes_prompt", timedelta(hours=3), lambda m: CALL_NOTES,
             "Rita sends her notes from the transition meeting."),
    Reaction("customer_recap_draft", timedelta(hours=2), lambda m: "send",
             "Rita approves the recap that goes out in her name."),
    Reaction("debrief_questionnaire", timedelta(days=1), lambda m: DEBRIEF,
             "Rita answers the debrief questions."),
)


def _config_root() -> Path:
    """The editable configuration: the working directory's, else the one beside the code."""
    here = Path.cwd()
    if (here / "templates").is_dir() and (here / "playbooks").is_dir():
        return here
    return Path(mailer.__file__).resolve().parents[1]


def run_demo(directory: Path) -> int:
    directory = directory.resolve()
    if directory.exists():
        for sub in ("var", "outbox"):
            shutil.rmtree(directory / sub, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    print(f"A soft transition of Acme Corp, played with simulated time in {directory}\n")
    demo = Demo(directory)
    try:
        demo.play()
        demo.summary()
    finally:
        demo.service.close()
    sys.stdout.flush()
    return 0
