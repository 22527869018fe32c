"""`mailer status`: an operator looks at every transition and its next step, and at one
transition's plan and timeline, on the embedded default (no mail server)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

from assistant import ADDRESS, Assistant
from letters import REQUEST, plain

NOW = "2026-12-01T10:00:00+00:00"  # a Tuesday, in business hours


def mailer(assistant: Assistant, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "mailer", *args], cwd=assistant.home,
                          env={**os.environ, **assistant.env}, capture_output=True, text=True,
                          check=True, timeout=120)
    return done.stdout


def started(tmp_path, accounts: list[str]) -> Assistant:
    """Dana asks for each account to move; one `mailer run --once` handles the requests."""
    assistant = Assistant(tmp_path / "assistant")
    for n, account in enumerate(accounts):
        letter = tmp_path / f"request-{n}.eml"
        letter.write_bytes(plain(sender="Dana Whitfield <dana@example.com>", to=ADDRESS,
                                 subject=f"Handover {account}",
                                 body=REQUEST.replace("Acme Corp", account)))
        mailer(assistant, "deliver", str(letter))
    mailer(assistant, "run", "--once", "--now", NOW)
    return assistant


def test_the_overview_lists_every_transition_with_its_next_step(tmp_path):
    assistant = started(tmp_path, ["Acme Corp", "Globex"])
    lines = mailer(assistant, "status").splitlines()
    acme, globex = lines[0], lines[1]
    assert acme.startswith("TR-0001  Acme Corp") and globex.startswith("TR-0002  Globex")
    for line in (acme, globex):
        assert "active" in line and "soft" in line and "Sam Jones -> Rita Patel" in line
        assert "next: First reminder to finish the handoff questionnaire (Thu 03 Dec 2026" \
            in line, line
    assert lines[2].startswith("outbox: ") and "waiting" in lines[2]
    assert lines[3] == "storage: OK"


def test_a_transition_the_scheduler_has_not_planned_yet_is_planned_on_the_spot(tmp_path):
    assistant = started(tmp_path, ["Acme Corp"])
    planned = mailer(assistant, "status").splitlines()[0]
    # An event marks a transition for the scheduler's next pass, which has not run yet.
    with sqlite3.connect(assistant.home / "var" / "mailer.sqlite3") as db:
        db.execute("UPDATE transitions SET next_due_at=NULL, next_step=''")
    fresh = mailer(assistant, "status").splitlines()[0]
    assert "next: First reminder to finish the handoff questionnaire (Thu 03 Dec 2026" in fresh
    assert fresh.split("next:")[0] == planned.split("next:")[0]


def test_one_transition_shows_its_plan_and_its_timeline(tmp_path):
    assistant = started(tmp_path, ["Acme Corp"])
    shown = mailer(assistant, "status", "TR-0001")
    assert shown.startswith("TR-0001: Acme Corp (soft, active), playbook soft")
    plan = shown.split("Plan:")[1].split("Timeline:")[0]
    assert "First reminder to finish the handoff questionnaire" in plan
    timeline = shown.split("Timeline:")[1]
    assert "<- dana@example.com: Handover Acme Corp" in timeline
    assert "-> sam@example.com" in timeline


def test_closed_transitions_say_so_and_an_empty_store_says_there_is_nothing(tmp_path):
    assert mailer(Assistant(tmp_path / "empty"), "status").startswith("No transitions yet.")
    assistant = started(tmp_path, ["Acme Corp"])
    with sqlite3.connect(assistant.home / "var" / "mailer.sqlite3") as db:
        db.execute("UPDATE transitions SET status='cancelled'")
    assert "cancelled" in mailer(assistant, "status").splitlines()[0]
    assert "next: nothing (the transition is closed)" in mailer(assistant, "status")
