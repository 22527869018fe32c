"""Every real-world fixture in ../shared/corpora goes through the whole pipeline.

Bounces, auto-replies, HTML-only mail, broken MIME and odd charsets, as they arrive from
the wild: each one is handled within a few seconds, gets exactly one outcome, never an
internal error, and any answer goes only to the person who wrote (never to a machine).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from assistant import Assistant, parse

from mailer import pipeline
from mailer.flows.runtime import Runtime
from mailer.mail.automation import automation_reason
from mailer.mail.parsing import parse_message

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
if not CORPORA.is_dir():
    pytest.skip(
        f"the shared mail corpora are not at {CORPORA} (they live beside the project)",
        allow_module_level=True,
    )

PER_MESSAGE_SECONDS = 5.0
NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
OUTCOMES = {"processed", "rejected", "ignored", "quarantined", "duplicate"}


def corpus_messages() -> Iterator[tuple[str, bytes]]:
    """(name, raw bytes) for every fixture; bare text and HTML bodies get a person's headers."""
    for expected in sorted(CORPORA.glob("*/expected.json")):
        for rel, entry in json.loads(expected.read_text("utf-8")).items():
            raw = (expected.parent / rel).read_bytes()
            if entry["input"] != "message":
                subtype = b"html" if entry["input"] == "html" else b"plain"
                raw = (b"From: Pat Lee <pat@acme.com>\r\nTo: transitions@example.com\r\n"
                       b"Subject: Re: the handover\r\nMessage-ID: <" + rel.encode() +
                       b"@fixture>\r\nContent-Type: text/" + subtype +
                       b"; charset=utf-8\r\n\r\n" + raw)
            yield f"{expected.parent.name}/{rel}", raw


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    service = Assistant(tmp_path_factory.mktemp("corpora")).service(clock=lambda: NOW)
    try:
        yield service.rt
    finally:
        service.close()


def test_every_corpus_message_is_handled_once_quickly_and_never_crashes(runtime, capsys):
    fixtures = list(corpus_messages())
    outcomes: Counter[str] = Counter()
    slowest = 0.0
    internal_errors = []
    for name, raw in fixtures:
        started = time.monotonic()
        outcome = pipeline.handle(runtime, raw, source_key=f"corpus:{name}")
        took = time.monotonic() - started
        slowest = max(slowest, took)
        assert took < PER_MESSAGE_SECONDS, f"{name} took {took:.1f} s"
        assert outcome.outcome in OUTCOMES, (name, outcome)
        assert outcome.reason, f"{name}: an outcome always says why"
        outcomes[outcome.outcome] += 1
        if outcome.reason.startswith("internal error"):
            internal_errors.append((name, outcome.reason))
    assert internal_errors == []

    # Nothing lost, nothing doubled: one inbound row per fixture, each with its archive copy.
    rows = runtime.store.all("SELECT source_key, outcome, archive_path FROM inbound")
    assert len(rows) == len(fixtures) == len({r["source_key"] for r in rows})
    assert all(Path(r["archive_path"]).is_file() for r in rows)
    with capsys.disabled():
        print(f"\ncorpora: {len(fixtures)} messages, {dict(outcomes)}, "
              f"slowest {slowest:.2f} s")


def test_answers_go_only_to_people_never_to_machines(runtime):
    """Each queued answer is addressed to the human sender of the message it answers."""
    for name, raw in corpus_messages():
        pipeline.handle(runtime, raw, source_key=f"corpus:{name}")  # no-op when done above
    by_message_id = {}
    for name, raw in corpus_messages():
        msg = parse_message(raw)
        by_message_id.setdefault(msg.message_id, (name, msg))
    answered = runtime.store.all("SELECT raw FROM outbound")
    assert answered, "strangers among the fixtures are told why they were refused"
    for row in answered:
        mail = parse(row["raw"])
        name, original = by_message_id[str(mail["In-Reply-To"]).strip()]
        assert automation_reason(original, own_addresses=[runtime.address]) is None, name
        assert [a.addr_spec.lower() for a in mail["To"].addresses] == [original.from_email]


def test_handling_the_corpus_again_changes_nothing(runtime):
    before = runtime.store.one("SELECT COUNT(*) AS n FROM outbound")["n"]
    again = [pipeline.handle(runtime, raw, source_key=f"corpus:{name}").outcome
             for name, raw in corpus_messages()]
    assert set(again) == {"duplicate"}
    assert runtime.store.one("SELECT COUNT(*) AS n FROM outbound")["n"] == before
