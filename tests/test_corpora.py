"""Parsing, machine detection and reply extraction against ~440 real-world fixtures.

The corpora live beside the project (../shared/corpora), never inside it; a fresh clone
without them skips these tests. Shares are printed so `pytest -s` shows where we stand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from mailer.errors import MessageParseError
from mailer.handoff.model import InboundMessage
from mailer.mail.automation import automation_reason
from mailer.mail.parsing import parse_message
from mailer.mail.reply_text import new_text

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
if not CORPORA.is_dir():
    pytest.skip(
        f"the shared mail corpora are not at {CORPORA} (they live beside the project)",
        allow_module_level=True,
    )

OWN_ADDRESSES = ("transitions@example.com",)
MACHINE_KEYS = (
    "is_bounce",
    "is_auto_reply",
    "is_auto_generated",
    "is_feedback_report",
    "is_delivery_report",
    "is_read_receipt",
)


@dataclass(frozen=True)
class Fixture:
    name: str
    path: Path
    expected: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.expected["input"])


@cache
def fixtures() -> tuple[Fixture, ...]:
    found = []
    for expected_file in sorted(CORPORA.glob("*/expected.json")):
        entries = json.loads(expected_file.read_text("utf-8"))
        for relative, expected in entries.items():
            name = f"{expected_file.parent.name}/{relative}"
            found.append(Fixture(name, expected_file.parent / relative, expected))
    return tuple(found)


def messages() -> Iterator[tuple[Fixture, InboundMessage]]:
    for fixture in fixtures():
        if fixture.kind == "message":
            yield fixture, parse_message(fixture.path.read_bytes())


def normalised(text: str) -> str:
    """The corpus README's comparison: LF line ends, no trailing blanks, outer strip."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def report(title: str, hits: int, total: int) -> float:
    share = hits / total if total else 1.0
    print(f"\n{title}: {hits}/{total} = {share:.1%}")
    return share


def test_every_message_fixture_parses() -> None:
    failures = []
    count = 0
    for fixture in fixtures():
        if fixture.kind != "message":
            continue
        count += 1
        try:
            parse_message(fixture.path.read_bytes())
        except MessageParseError as error:
            failures.append(f"{fixture.name}: {error}")
    report("messages parsed", count - len(failures), count)
    assert count > 250
    assert failures == []


def test_every_machine_made_fixture_is_recognised_as_automatic() -> None:
    missed = []
    machines = 0
    for fixture, msg in messages():
        if not any(fixture.expected.get(key) for key in MACHINE_KEYS):
            continue
        machines += 1
        if automation_reason(msg, own_addresses=OWN_ADDRESSES) is None:
            missed.append(f"{fixture.name}: {msg.subject!r} from {msg.from_email}")
    report("machine-made mail recognised", machines - len(missed), machines)
    assert machines > 150
    assert missed == []


def test_people_replying_are_never_taken_for_machines() -> None:
    wrongly = []
    people = 0
    for fixture, msg in messages():
        is_machine = any(fixture.expected.get(key) for key in MACHINE_KEYS)
        if "reply" not in fixture.expected or is_machine:
            continue
        people += 1
        reason = automation_reason(msg, own_addresses=OWN_ADDRESSES)
        if reason is not None:
            wrongly.append(f"{fixture.name}: {reason}")
    report("human replies left alone", people - len(wrongly), people)
    assert people > 10
    assert wrongly == []


def _reply_of(fixture: Fixture) -> str:
    raw = fixture.path.read_bytes()
    if fixture.kind == "message":
        msg = parse_message(raw)
        return new_text(msg.text, html=msg.html)
    if fixture.kind == "html":
        return new_text("", html=raw.decode("utf-8", "replace"))
    return new_text(raw.decode("utf-8", "replace"))


def _same_reply(got: str, expected: dict[str, Any]) -> bool:
    mine, theirs = normalised(got), normalised(expected["reply"])
    if expected.get("reply_match") == "ws_insensitive":
        mine, theirs = re.sub(r"\s", "", mine), re.sub(r"\s", "", theirs)
    return mine == theirs


def test_reply_extraction_matches_the_corpus_for_text_and_html() -> None:
    totals: dict[str, list[int]] = {}
    for fixture in fixtures():
        if "reply" not in fixture.expected:
            continue
        tally = totals.setdefault(fixture.kind, [0, 0])
        tally[0] += _same_reply(_reply_of(fixture), fixture.expected)
        tally[1] += 1
    shares = {kind: report(f"reply extraction, {kind}", *tally) for kind, tally in totals.items()}
    assert totals["text"][1] > 100 and totals["html"][1] >= 20
    assert shares["text"] > 0.90
    assert shares["html"] > 0.90
    assert shares["message"] > 0.90


def test_partial_reply_checks_hold() -> None:
    hits = total = 0
    for fixture in fixtures():
        expected = fixture.expected
        checks = [(text, True) for text in expected.get("reply_contains", [])] + [
            (text, False) for text in expected.get("reply_excludes", [])
        ]
        if not checks and "reply_startswith" not in expected:
            continue
        reply = normalised(_reply_of(fixture))
        for text, wanted in checks:
            total += 1
            hits += (normalised(text) in reply) == wanted
        if "reply_startswith" in expected:
            total += 1
            hits += reply.startswith(normalised(expected["reply_startswith"]))
    assert report("partial reply checks", hits, total) > 0.85


def _attachments_match(msg: InboundMessage, expected: int | list[str]) -> bool:
    if isinstance(expected, int):
        return len(msg.attachments) == expected
    names = [attachment.filename for attachment in msg.attachments]
    # An empty expected name is an unnamed part, which we name attachment-N.bin.
    return len(names) == len(expected) and all(
        want in ("", got) for want, got in zip(expected, names, strict=True)
    )


def _parsing_checks(fixture: Fixture, msg: InboundMessage) -> Iterator[tuple[str, bool]]:
    expected = fixture.expected
    if "subject" in expected:
        yield "subject", normalised(msg.subject) == normalised(expected["subject"])
    if "from" in expected:
        name, address = expected["from"][0]
        yield "from", (msg.from_name, msg.from_email) == (name, address.lower())
    if "body_text" in expected:
        yield "body_text", normalised(msg.text) == normalised(expected["body_text"])
    if "attachments" in expected:
        yield "attachments", _attachments_match(msg, expected["attachments"])
    if "has_html" in expected:
        yield "has_html", bool(msg.html) == expected["has_html"]


def test_parsed_fields_match_the_corpus() -> None:
    per_field: dict[str, list[int]] = {}
    for fixture, msg in messages():
        for field, ok in _parsing_checks(fixture, msg):
            tally = per_field.setdefault(field, [0, 0])
            tally[0] += ok
            tally[1] += 1
    for field, (hits, total) in sorted(per_field.items()):
        report(f"parsing, {field}", hits, total)
    hits = sum(tally[0] for tally in per_field.values())
    total = sum(tally[1] for tally in per_field.values())
    assert report("parsing, all fields", hits, total) > 0.90
    assert per_field["subject"][0] == per_field["subject"][1]


# --- peers/: mail from other projects' test suites, held out while the reader was written ----

PEERS_REPLY_GOAL = 0.90


def _peer_cases() -> Iterator[tuple[str, Fixture, bytes]]:
    """(folder, fixture, raw bytes) of every peers/ case with an expected reply; an entry may
    name another file and a map of substitutions that turn it into the case."""
    for expected_file in sorted((CORPORA / "peers").glob("*/expected.json")):
        for key, expected in json.loads(expected_file.read_text("utf-8")).items():
            if "reply" not in expected:
                continue
            path = expected_file.parent / expected.get("file", key)
            raw = path.read_bytes()
            for old, new in (expected.get("substitute") or {}).items():
                raw = raw.replace(old.encode("utf-8"), new.encode("utf-8"))
            yield expected_file.parent.name, Fixture(key, path, expected), raw


def _reply_of_bytes(kind: str, raw: bytes) -> str:
    if kind == "message":
        msg = parse_message(raw)
        return new_text(msg.text, html=msg.html)
    if kind == "html":
        return new_text("", html=raw.decode("utf-8", "replace"))
    return new_text(raw.decode("utf-8", "replace"))


def test_reply_extraction_on_the_peers_corpus_stays_above_the_goal() -> None:
    if not (CORPORA / "peers").is_dir():
        pytest.skip("the peers/ corpus is not there")
    per_folder: dict[str, list[int]] = {}
    for folder, fixture, raw in _peer_cases():
        got = _reply_of_bytes(fixture.kind, raw)
        wanted = [fixture.expected["reply"], *fixture.expected.get("reply_alternatives", [])]
        tally = per_folder.setdefault(folder, [0, 0])
        tally[0] += any(_same_reply(got, {**fixture.expected, "reply": w}) for w in wanted)
        tally[1] += 1
    for folder, (hits, total) in sorted(per_folder.items()):
        report(f"peers/{folder} reply extraction", hits, total)
    hits = sum(tally[0] for tally in per_folder.values())
    total = sum(tally[1] for tally in per_folder.values())
    assert total >= 90
    assert report("peers reply extraction, all folders", hits, total) >= PEERS_REPLY_GOAL
