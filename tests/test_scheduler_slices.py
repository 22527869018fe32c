"""The scheduler's stored next moments (its index): kept across restarts, planned afresh once
an hour and whenever the playbooks or the business calendar change, always a slice at a time,
so the service checks its inbox between slices. On the embedded default (no mail server)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from assistant import ADDRESS, Assistant
from letters import REQUEST, plain

from mailer.flows.due_steps import run_scheduler_slice
from mailer.flows.schedule import NOTHING_DUE
from mailer.mail.sources import MaildirSource
from mailer.runtime import build_runtime

NOW = datetime.fromisoformat("2026-12-01T10:00:00+00:00")  # a Tuesday, in business hours
ACCOUNTS = 5


def started(tmp_path, **env: str) -> Assistant:
    """Dana starts five transitions; one pass handles the requests and plans them."""
    assistant = Assistant(tmp_path / "assistant", extra_env=env)
    box = MaildirSource(assistant.settings.maildir_path)
    for n in range(ACCOUNTS):
        box.deliver(plain(sender="Dana Whitfield <dana@example.com>", to=ADDRESS,
                          subject=f"Handover {n}",
                          body=REQUEST.replace("Acme Corp", f"Account {n}")))
    assistant.run_once(now=NOW)
    return assistant


def index(assistant: Assistant) -> dict[str, str]:
    with sqlite3.connect(assistant.home / "var" / "mailer.sqlite3") as db:
        return dict(db.execute("SELECT id, next_due_at FROM transitions ORDER BY seq"))


def spoil(assistant: Assistant, **meta: str) -> None:
    """Every stored next moment wrong, as a bug could leave them; meta values set as given."""
    with sqlite3.connect(assistant.home / "var" / "mailer.sqlite3") as db:
        db.execute("UPDATE transitions SET next_due_at=?", (NOTHING_DUE,))
        for key, value in meta.items():
            db.execute("UPDATE meta SET value=? WHERE key=?", (value, key))


def slices(assistant: Assistant, now: datetime, *, limit: int, **env: str) -> list[bool]:
    """Restart (a new runtime) and run scheduler slices until none says more is left."""
    rt = build_runtime(assistant.settings if not env else Assistant(
        assistant.home, extra_env=env).settings, clock=lambda: now)
    try:
        mores = [run_scheduler_slice(rt, now, limit=limit).more]
        while mores[-1]:
            mores.append(run_scheduler_slice(rt, now, limit=limit).more)
        return mores
    finally:
        rt.store.close()


def test_a_restart_within_the_hour_reads_the_stored_moments_and_plans_nothing(tmp_path):
    assistant = started(tmp_path)
    good = index(assistant)
    spoil(assistant)
    assert slices(assistant, NOW + timedelta(minutes=20), limit=2) == [False]
    assert set(index(assistant).values()) == {NOTHING_DUE}, "nothing was planned again"
    assert set(good.values()) != {NOTHING_DUE}


def test_the_hourly_safety_pass_plans_every_transition_again_a_slice_at_a_time(tmp_path):
    assistant = started(tmp_path)
    good = index(assistant)
    spoil(assistant)
    later = NOW + timedelta(minutes=61)
    # Five transitions, two per slice: three slices plan them, a fourth finds the pass done.
    assert slices(assistant, later, limit=2) == [True, True, True, False]
    assert index(assistant) == good


def test_a_new_holiday_plans_every_transition_again_at_the_next_start(tmp_path):
    assistant = started(tmp_path)
    before = index(assistant)
    first_due = min(datetime.fromisoformat(v) for v in before.values() if v != NOTHING_DUE)
    holiday = first_due.date().isoformat()
    slices(assistant, NOW + timedelta(minutes=5), limit=50, MAILER_HOLIDAYS=holiday)
    after = index(assistant)
    assert after != before
    assert all(v == NOTHING_DUE or datetime.fromisoformat(v).date().isoformat() != holiday
               for v in after.values()), "nothing falls due on the new holiday"


def _book_moved(home, tmp_path) -> Assistant:  # noqa: ANN001 - a Path
    """Dana moves Sam's three accounts with one spreadsheet (combined questionnaire)."""
    from test_book_story import (
        MANAGER,
        MONDAY,
        XLSX,
        combined_playbooks,
        with_attachment,
        xlsx_book,
    )

    assistant = Assistant(home, extra_env={"MAILER_PLAYBOOKS": str(combined_playbooks(home))})
    MaildirSource(assistant.settings.maildir_path).deliver(with_attachment(
        sender=MANAGER, to=ADDRESS, subject="Three accounts for Rita and Lee",
        body="Outgoing CSM: Sam Jones <sam@example.com>\nType: soft\n",
        filename="book.xlsx", content_type=XLSX, payload=xlsx_book(),
        message_id="<book-x@example.com>"))
    assistant.run_once(now=MONDAY)
    return assistant


def _mails(assistant: Assistant) -> list[tuple[str, str, str]]:
    with sqlite3.connect(assistant.home / "var" / "mailer.sqlite3") as db:
        return sorted(db.execute("SELECT kind, COALESCE(transition_id, ''), recipients_json "
                                 "FROM outbound"))


def test_a_book_falling_due_at_once_goes_out_a_few_transitions_per_slice(tmp_path):
    """Two business days after Dana moved Sam's book, reminders fall due for every account at
    once. Carried out one transition per slice (the service checks its inbox between
    slices), the mails are exactly those of one unbounded pass: Sam still gets one grouped
    reminder for his open accounts, not one per slice."""
    from test_book_story import WEDNESDAY_AFTER_REMINDERS as later

    sliced, whole = _book_moved(tmp_path / "sliced", tmp_path), _book_moved(
        tmp_path / "whole", tmp_path)
    before = len(_mails(sliced))
    rt = build_runtime(sliced.settings, clock=lambda: later)
    results = []
    try:
        results.append(run_scheduler_slice(rt, later, due_limit=1))
        while results[-1].more:
            results.append(run_scheduler_slice(rt, later, due_limit=1,
                                               after_seq=results[-1].after_seq))
    finally:
        rt.store.close()
    rt = build_runtime(whole.settings, clock=lambda: later)
    unbounded = []
    try:
        unbounded.append(run_scheduler_slice(rt, later, due_limit=1000))
        while unbounded[-1].more:
            unbounded.append(run_scheduler_slice(rt, later, due_limit=1000))
    finally:
        rt.store.close()

    assert {r.after_seq for r in unbounded} == {0}, "three due transitions fit one slice"
    assert [r.after_seq for r in results if r.after_seq] == [1, 2], "one transition a slice"
    assert results[-1].after_seq == 0
    assert sum(r.done for r in results) == sum(r.done for r in unbounded) > 0
    assert _mails(sliced) == _mails(whole)
    reminders = [m for m in _mails(sliced)[before:] if m[0].startswith("grouped_")]
    assert [kind for kind, _, to in _mails(sliced) if "sam@example.com" in to
            and kind.startswith("grouped_questionnaire_reminder")] == [
        "grouped_questionnaire_reminder_1"], reminders
