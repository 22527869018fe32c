"""`mailer status`: every transition with its phase and next step, or one timeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from mailer.app import WATCHDOG_GRACE, build_runtime
from mailer.schedule import plan_rows
from mailer.settings import Settings
from mailer.transition_records import all_transitions, load_transition
from mailer.transitions import display_name
from mailer.watchdog import watchdog_state


def print_status(settings: Settings, transition_id: str | None) -> int:
    rt = build_runtime(settings)
    try:
        if transition_id:
            return _one(rt, transition_id)
        transitions = all_transitions(rt.store)
        if not transitions:
            print("No transitions yet.")
        for t in transitions:
            rows = [r for r in plan_rows(rt, t) if r.status in ("pending", "awaiting_approval")]
            upcoming = f"{rows[0].title} ({rows[0].due})" if rows else "nothing left to send"
            print(f"{t.id}  {t.account:<28.28} {t.status:<9} {t.type.value:<6} "
                  f"{display_name(t.outgoing)} -> {display_name(t.incoming)}  next: {upcoming}")
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


def _one(rt, transition_id: str) -> int:  # noqa: ANN001
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
