"""A whole story on the real servers (`every_mail`: two transitions, a fixed request, a book of
business, approvals, commands, a digest, a bounce), read afterwards by two attackers: one who
copied the assistant's database file, and a customer who reads every header of the mail they
got, looking for the transition behind it.

Each attack fails, and the path it tried still works for its owner: every reply address people
received still answers for them, and every thread still resolves through the outbound table.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import stat
from contextlib import closing
from email.message import EmailMessage
from pathlib import Path

import pytest
from every_mail import EveryMail, message_id, parse, tell_the_story

from mailer.state.store import Store
from mailer.state.tokens import resolve_token

TOKEN_ADDRESS = re.compile(r"transitions\+([a-z2-7]{26})@", re.IGNORECASE)
OPAQUE_ID = re.compile(r"^<[0-9a-f]{32}@example\.com>$")
TRANSITION_ID = re.compile(r"TR[-_ ]?\d{1,8}", re.IGNORECASE)
CUSTOMERS = ("pat@acme.test", "jo@acme.test", "hank@globex.test", "bill@initech.test",
             "gavin@hooli.test")


class Story:
    def __init__(self, home: Path, every: EveryMail, received: dict[str, list[bytes]]) -> None:
        self.home = home
        self.every = every
        self.received = received  # every mailbox's raw messages, customers' included

    @property
    def database(self) -> Path:
        return self.home / "var" / "mailer.sqlite3"

    def tokens(self) -> dict[str, set[str]]:
        """Every reply token anyone received -> the mailboxes it reached."""
        found: dict[str, set[str]] = {}
        for box, raws in self.received.items():
            for raw in raws:
                reply_to = str(parse(raw)["Reply-To"] or "")
                for token in TOKEN_ADDRESS.findall(reply_to):
                    found.setdefault(token.lower(), set()).add(box)
        return found


@pytest.fixture(scope="module")
def story(mail_servers, tmp_path_factory) -> Story:  # noqa: ANN001 - the MailServers fixture
    mail_servers.reset()
    home = tmp_path_factory.mktemp("whole-story")
    every = tell_the_story(mail_servers, home)
    boxes = {*every.mailboxes, *CUSTOMERS}
    return Story(home, every, {box: mail_servers.messages(box) for box in boxes})


def test_a_copied_database_file_holds_no_live_reply_token(story: Story) -> None:
    tokens = story.tokens()
    assert len(tokens) >= 50, "the story hands out reply addresses to every kind of person"
    files = [story.database, *story.database.parent.glob("mailer.sqlite3-*")]
    contents = b"".join(path.read_bytes() for path in files)
    for token in tokens:
        assert token.encode() not in contents and token.upper().encode() not in contents, \
            "a reply token is readable in the database file"
    # Its owner's path still works: every address resolves, by its hash, to the one person
    # it was sent to (the story itself answered through fresh receipt tokens all along).
    store = Store(story.database)
    try:
        for token, mailboxes in tokens.items():
            found = resolve_token(store, token)
            assert found is not None and {found.person_email} == mailboxes, (mailboxes, found)
        assert store.one("SELECT COUNT(*) AS n FROM tokens")["n"] >= len(tokens)
    finally:
        store.close()


def test_sent_mail_kept_in_the_database_no_longer_carries_its_reply_address(
        story: Story) -> None:
    with closing(sqlite3.connect(story.database)) as db:
        rows = db.execute("SELECT status, raw FROM outbound").fetchall()
    sent = [bytes(raw) for status, raw in rows if status != "queued"]
    assert len(sent) >= 40
    for raw in sent:
        assert not TOKEN_ADDRESS.search(raw.decode("utf-8", "replace"))
    assert any(b"transitions+redacted@example.com" in raw for raw in sent)


def test_the_outbox_and_its_copies_are_for_the_owner_only(story: Story) -> None:
    outbox = story.home / "outbox"
    files = list(outbox.rglob("*.eml"))
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for folder in (outbox, outbox / "sent", outbox / "failed"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def _headers(msg: EmailMessage) -> list[tuple[str, str]]:
    """Every header of every part: what a customer's mail client can show or store."""
    return [(name, str(value)) for part in msg.walk() for name, value in part.items()]


def test_no_header_of_any_customer_mail_names_the_transition(story: Story) -> None:
    customer_mail = [parse(raw) for box in CUSTOMERS for raw in story.received[box]]
    assert len(customer_mail) >= 6, "intro, meeting, recap and check-in reach the customers"
    kinds = {record["kind"] for record in story.every.records.values()}
    for msg in customer_mail:
        for name, value in _headers(msg):
            assert not TRANSITION_ID.search(value), f"{name}: {value}"
            for kind in kinds:  # `customer_intro`, `customer-intro`: what the mail is
                assert kind.replace("_", "-") not in value.lower() or name.lower() in (
                    "subject", "content-disposition", "content-type"), f"{name}: {value}"
        assert OPAQUE_ID.match(message_id(msg)), message_id(msg)
        for ref in [*str(msg["References"] or "").split(), str(msg["In-Reply-To"] or "")]:
            assert not ref or OPAQUE_ID.match(ref), ref
        for part in msg.walk():  # a calendar invitation's UID is a header of sorts too
            if part.get_content_type() == "text/calendar":
                assert not TRANSITION_ID.search(part.get_content())


def test_every_message_id_is_opaque_and_threads_still_resolve(story: Story) -> None:
    """Internal mail too: a Message-ID tells nothing, and what it stands for is looked up."""
    records = story.every.records
    assert len(records) >= 60
    assert all(OPAQUE_ID.match(mid) for mid in records)
    ours = 0
    for box in story.every.mailboxes.values():
        for msg in box.messages:
            if message_id(msg) not in box.sent:
                continue
            for ref in [str(msg["In-Reply-To"] or ""), *str(msg["References"] or "").split()]:
                if ref.endswith("@example.com>"):
                    assert ref in records, f"{ref} is not in the outbound table"
                    ours += 1
    assert ours >= 20, "people's replies point at our mail, and each one is found"


def test_the_demo_customers_mail_names_no_transition_either(tmp_path: Path) -> None:
    """The demo's soft transition, as `mailer demo` leaves it: every mail a customer would
    get, each header of each part, and the invitation's UID."""
    from mailer.demo import run_demo

    ours = logging.getLogger("mailer")
    level = ours.level
    try:
        assert run_demo(tmp_path / "demo", out=lambda _line: None) == 0
    finally:
        ours.setLevel(level)  # the demo quiets our loggers for its narration
    outbox = tmp_path / "demo" / "outbox"
    mails = [parse(path.read_bytes()) for path in sorted(outbox.rglob("*.eml"))]
    customer_mail = [m for m in mails if any(
        a.addr_spec.endswith("@acme.com") for a in m["To"].addresses)]
    assert len(customer_mail) >= 4  # intro, meeting, recap, check-in
    for msg in customer_mail:
        for name, value in _headers(msg):
            assert not TRANSITION_ID.search(value), f"{name}: {value}"
        assert OPAQUE_ID.match(message_id(msg))
        for part in msg.walk():
            if part.get_content_type() == "text/calendar":
                assert not TRANSITION_ID.search(part.get_content())
