"""Machines get no answer, people always do: measured on mail nobody here wrote.

`../shared/corpora/peers/` holds fixtures of Discourse, Zammad and sisimai, each labelled
with its `nature` by the project it comes from: `human`, or a kind of machine mail
(`auto-generated`, `out-of-office`, `bounce`, `list`, `feedback-report`). A
`suppress-request` (a mail asking not to be auto-answered, possibly a person's) is counted
apart and may go either way. Skipped when the corpora are not beside the project.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailer.mail.automation import automation_reason
from mailer.mail.parsing import parse_message

PEERS = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "peers"
if not PEERS.is_dir():
    pytest.skip(f"the peers corpus is not at {PEERS}", allow_module_level=True)


def labelled() -> list[tuple[str, str, bytes]]:
    found = []
    for expected in sorted(PEERS.glob("*/expected.json")):
        for name, entry in json.loads(expected.read_text("utf-8")).items():
            if entry.get("input") == "message" and entry.get("nature"):
                found.append((f"{expected.parent.name}/{name}", entry["nature"],
                              (expected.parent / name).read_bytes()))
    return found


def test_no_machine_is_answered_and_no_person_is_ignored() -> None:
    answered_machines, ignored_people = [], []
    machines = people = 0
    for name, nature, raw in labelled():
        if nature == "suppress-request":
            continue
        reason = automation_reason(parse_message(raw), own_addresses=["transitions@example.com"])
        if nature == "human":
            people += 1
            if reason is not None:
                ignored_people.append(f"{name}: {reason}")
        else:
            machines += 1
            if reason is None:
                answered_machines.append(f"{name} ({nature})")
    print(f"\npeers: {machines - len(answered_machines)}/{machines} machine mails left "
          f"unanswered, {people - len(ignored_people)}/{people} people answered")
    assert machines >= 500 and people >= 35
    assert answered_machines == []
    assert ignored_people == []
