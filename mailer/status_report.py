"""`mailer status`: every transition with its phase and next step, or one timeline."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

from mailer.runtime import Runtime, build_runtime
from mailer.schedule import NOTHING_DUE, plan_rows
from mailer.settings import Settings
from mailer.transition_records import load_transition, transition_from_row
from mailer.transitions import Transition, display_name
from mailer.watchdog import WATCHDOG_GRACE, watchdog_state


def print_status(settings: Settings, transition_id: str | None) -> int:
    rt = build_runtime(settings)
    try:
        if transition_id:
            return _one(rt, transition_id)
        rows = rt.store.all("SELECT * FROM transitions ORDER BY seq")
        if not rows:
            print("No transitions yet.")
        for row in rows:
            t = transition_from_row(row)
            print(f"{t.id}  {t.account:<28.28} {t.status:<9} {t.type.value:<6} "
                  f"{display_name(t.outgoing)} -> {display_name(t.incoming)}  "
                  f"next: {_upcoming(rt, t, row)}")
        counts = rt.outbox.counts(rt.store)
        print(f"outbox: {counts.get('queued', 0)} waiting, {counts.get('sent', 0)} sent, "
              f"{counts.get('failed', 0)} failed")
        print(storage_health(settings))
        if settings.imap and settings.smtp and settings.watchdog_minutes:
            now = datetime.now(UTC)
            print(watchdog_state(rt, now, grace=WATCHDOG_GRACE).describe(now))
        return 0
    finally:
        rt.store.close()


def _upcoming(rt: Runtime, t: Transition, row: sqlite3.Row) -> str:
    """The next step, from what the scheduler stored; planned afresh only when unknown."""
    if not t.is_open:
        return "nothing (the transition is closed)"
    stored = row["next_due_at"]
    if stored == NOTHING_DUE:
        return row["next_step"] or "nothing scheduled"
    if stored:
        moment = datetime.fromisoformat(stored).astimezone(rt.settings.timezone)
        return f"{row['next_step']} ({moment:%a %d %b %Y %H:%M})"
    pending = [r for r in plan_rows(rt, t) if r.status in ("pending", "awaiting_approval")]
    return f"{pending[0].title} ({pending[0].due})" if pending else "nothing left to send"


def storage_health(settings: Settings) -> str:
    """Can the service still write? A full or read-only disk stops it taking mail."""
    for folder in (settings.data_dir, settings.outbox_dir):
        probe = folder / ".mailer-write-check"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            return f"STORAGE PROBLEM: {folder} cannot be written ({exc.strerror}); " \
                   "the service leaves new mail on the server until this is fixed"
    return "storage: OK"


def _one(rt: Runtime, transition_id: str) -> int:
    t = load_transition(rt.store, transition_id)
    if t is None:
        print(f"No transition {transition_id}.")
        return 1
    print(f"{t.id}: {t.account} ({t.type.value}, {t.status}), playbook {t.playbook}")
    print(f"  manager {t.manager.formatted()}; outgoing {t.outgoing.formatted()}; "
          f"incoming {t.incoming.formatted()}")
    print("Plan:")
    for row in plan_rows(rt, t):
        print(f"  [{row.status:<17}] {row.due:<24} {row.title} ({row.who})")
    print("Timeline:")
    for row in rt.store.all("SELECT * FROM history WHERE transition_id=? ORDER BY id", t.id):
        arrow = {"in": "<-", "out": "->"}.get(row["direction"], "..")
        who = row["sender"] if row["direction"] == "in" else ", ".join(
            json.loads(row["recipients"]))
        print(f"  {row['at']} {arrow} {who}: {row['subject']} ({row['note']})")
    return 0
