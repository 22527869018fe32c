"""Issue 6: `kill -9` at random moments while the service works through requests and
questionnaire replies. Every request is answered once, every questionnaire sent once, every
complete answer set gives one workbook mail; the outbox has no orphan and no duplicate."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from assistant import ADDRESS, Assistant, parse, text_of, wait_until
from letters import ANSWERS, REQUEST, plain

REQUESTS = int(os.environ.get("MAILER_CRASH_REQUESTS", "500"))
MIN_KILLS = int(os.environ.get("MAILER_CRASH_KILLS", "20"))

def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "var" / "mailer.sqlite3", timeout=30)


def _count(home: Path, sql: str) -> int:
    with _db(home) as db:
        return db.execute(sql).fetchone()[0]


def _kind(home: Path, message) -> str:  # noqa: ANN001 - an EmailMessage
    with _db(home) as db:
        row = db.execute("SELECT kind FROM outbound WHERE message_id=?",
                         (str(message["Message-ID"]).strip(),)).fetchone()
    return row[0] if row else ""


def _started(assistant: Assistant) -> int:
    """How many times the service has got as far as watching its inbox."""
    return assistant.log_text().count(" watching ")


def _work_until(assistant: Assistant, handled, done, rng: random.Random, kills: list[float],
                deadline: float) -> None:
    """Start the service and kill -9 it at a random moment, until `handled()`; then let it
    run undisturbed until `done()` and stop it as an operator would (SIGTERM).

    Half the kills land anywhere from the launch on (start-up included); the other half
    once the service is watching its inbox, so that a slow machine, where start-up alone
    outlasts most random moments, still makes progress."""
    while not handled():
        assert time.monotonic() < deadline, f"no progress; log:\n{assistant.log_text()[-3000:]}"
        starts = _started(assistant)
        assistant.start()
        if rng.random() < 0.5:
            time.sleep(rng.uniform(0.8, 2.5))
        else:
            wait_until(lambda n=starts: _started(assistant) > n, timeout=60)
            time.sleep(rng.uniform(0.0, 2.0))
        if handled():
            break
        assistant.stop(signal.SIGKILL)
        kills.append(time.monotonic())
    else:
        assistant.start()
    # What the last kill left (workbook jobs, mail waiting) is finished by a service that
    # is left alone: a stop leaves queued jobs for the next start, so it must run to the end.
    wait_until(done, timeout=max(1.0, deadline - time.monotonic()), interval=0.2)
    assistant.stop()


@pytest.mark.long
def test_killed_at_random_moments_the_service_loses_and_duplicates_nothing(mail, tmp_path):
    rng = random.Random(20261122)
    home = tmp_path / "assistant"
    assistant = Assistant(home, mail, extra_env={"MAILER_WATCHDOG_MINUTES": "0"})
    with mail.imap(ADDRESS) as imap:
        for n in range(REQUESTS):
            imap.append("INBOX", plain(sender=f"Manager {n} <m{n}@example.com>", to=ADDRESS,
                                       subject=f"Transition {n}",
                                       body=REQUEST.replace("Acme Corp", f"Account {n}"),
                                       message_id=f"<request-{n}@example.com>"))
    kills: list[float] = []
    deadline = time.monotonic() + 1200

    def requests_done() -> bool:
        return (home / "var" / "mailer.sqlite3").exists() and _count(
            home, "SELECT COUNT(*) FROM inbound") >= REQUESTS and _count(
            home, "SELECT COUNT(*) FROM outbound WHERE status='queued'") == 0

    _work_until(assistant, requests_done, requests_done, rng, kills, deadline)
    # Sam answers each questionnaire he received, at its reply address.
    received = [parse(raw) for raw in mail.messages("sam@example.com")]
    addresses = sorted({str(m["Reply-To"]) for m in received
                        if _kind(home, m) == "questionnaire"})
    assert len(addresses) == REQUESTS
    with mail.imap(ADDRESS) as imap:
        for n, address in enumerate(addresses):
            imap.append("INBOX", plain(sender="Sam Jones <sam@example.com>", to=address,
                                       subject="Re: handoff questions", body=ANSWERS,
                                       message_id=f"<reply-{n}@example.com>"))

    def replies_handled() -> bool:
        return _count(home, "SELECT COUNT(*) FROM inbound") >= 2 * REQUESTS

    def replies_done() -> bool:
        return replies_handled() and _count(
            home, "SELECT COUNT(*) FROM jobs WHERE done_at IS NULL") == 0 and _count(
            home, "SELECT COUNT(*) FROM outbound WHERE status='queued'") == 0

    _work_until(assistant, replies_handled, replies_done, rng, kills, deadline)
    while len(kills) < MIN_KILLS:  # idle kills: a crash with nothing to do must be harmless
        assistant.start()
        time.sleep(rng.uniform(0.5, 1.0))
        assistant.stop(signal.SIGKILL)
        kills.append(time.monotonic())

    with _db(home) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        outcomes = dict(db.execute("SELECT outcome, COUNT(*) FROM inbound GROUP BY outcome"))
        assert outcomes == {"processed": 2 * REQUESTS}, outcomes
        assert db.execute("SELECT COUNT(*) FROM transitions").fetchone()[0] == REQUESTS
        per_kind = db.execute(
            "SELECT kind, transition_id, COUNT(*) FROM outbound GROUP BY kind, transition_id "
            "HAVING COUNT(*) > 1 AND kind IN ('request_accepted', 'questionnaire', "
            "'incoming_notice', 'questionnaire_receipt', 'workbook')").fetchall()
        assert per_kind == [], "a mail was queued twice"
        workbooks = db.execute("SELECT COUNT(*) FROM outbound WHERE kind='workbook'").fetchone()
        assert workbooks[0] == REQUESTS
        sent = db.execute("SELECT COUNT(*) FROM outbound WHERE status='sent'").fetchone()[0]
        all_rows = db.execute("SELECT COUNT(*) FROM outbound").fetchone()[0]
    assert sent == all_rows
    outbox = home / "outbox"
    assert list(outbox.glob("*.eml")) == [] and list(outbox.glob(".*.tmp")) == []
    assert len(list((outbox / "sent").glob("*.eml"))) == sent

    deliveries = len(mail.accepted)
    distinct = len({e.data.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0]
                    for e in mail.accepted})
    assert distinct == sent, "every queued mail reached the SMTP server"
    sample = range(0, REQUESTS, 50)
    answers = {parse(raw)["Message-ID"] for n in sample
               for raw in mail.messages(f"m{n}@example.com") if "is under way as" in text_of(raw)}
    assert len(answers) == len(sample), "each sampled manager has exactly one answer"
    report = {"requests": REQUESTS, "replies": REQUESTS, "kills": len(kills),
              "mails_queued": all_rows, "smtp_deliveries": deliveries,
              "distinct_messages_delivered": distinct,
              "redelivered_after_kill": deliveries - distinct, "lost": all_rows - distinct}
    print(json.dumps(report))
    assert len(kills) >= MIN_KILLS
