"""`mailer status`: every transition with its phase and next step, or one timeline."""

from __future__ import annotations

import json
import sqlite3
import sys
from datetime import UTC, datetime

from mailer.config.settings import Settings
from mailer.flows.runtime import Runtime
from mailer.flows.schedule import plan_rows
from mailer.flows.watchdog import WATCHDOG_GRACE, watchdog_state
from mailer.handoff.model import Person
from mailer.handoff.transitions import display_name
from mailer.runtime import build_runtime
from mailer.state.store import Store
from mailer.state.transition_records import load_transition, transition_from_row

NOTHING_DUE = "9999-12-31T00:00:00+00:00"  # as stored by mailer.flows.schedule


def print_status(settings: Settings, transition_id: str | None) -> int:
    if transition_id:
        rt = build_runtime(settings)
        try:
            return _one(rt, transition_id)
        finally:
            rt.store.close()
    # The overview reads what the scheduler stored, so it needs neither the playbooks nor
    # the templates: a runtime is built only for a transition not yet planned.
    store = Store(settings.database_path)
    planner: list[Runtime] = []
    try:
        rows = store.all("SELECT * FROM transitions ORDER BY seq")
        if not rows:
            print("No transitions yet.")
        for row in rows:
            outgoing = display_name(Person(row["outgoing_name"], row["outgoing_email"]))
            incoming = display_name(Person(row["incoming_name"], row["incoming_email"]))
            try:
                upcoming = _upcoming(settings, row, planner)
            except Exception as exc:  # noqa: BLE001 - one bad row never hides the others
                upcoming = f"stopped: {exc.__class__.__name__}: {exc}"
            print(f"{row['id']}  {row['account']:<28.28} {row['status']:<9} {row['type']:<6} "
                  f"{outgoing} -> {incoming}  next: {upcoming}")
        counts = {r["status"]: r["n"] for r in store.all(
            "SELECT status, COUNT(*) AS n FROM outbound GROUP BY status")}
        print(f"outbox: {counts.get('queued', 0)} waiting, {counts.get('sent', 0)} sent, "
              f"{counts.get('failed', 0)} failed")
        print(storage_health(settings))
        if settings.imap and settings.smtp and settings.watchdog_minutes:
            now = datetime.now(UTC)
            rt = planner[0] if planner else build_runtime(settings)
            print(watchdog_state(rt, now, grace=WATCHDOG_GRACE).describe(now))
        return 0
    finally:
        store.close()
        for rt in planner:
            rt.store.close()


def _upcoming(settings: Settings, row: sqlite3.Row, planner: list[Runtime]) -> str:
    """The next step, from what the scheduler stored; planned afresh only when unknown."""
    if row["status"] not in ("active", "paused"):
        return "nothing (the transition is closed)"
    stored = row["next_due_at"]
    if stored == NOTHING_DUE:
        return row["next_step"] or "nothing scheduled"
    if stored:
        moment = datetime.fromisoformat(stored).astimezone(settings.timezone)
        return f"{row['next_step']} ({moment:%a %d %b %Y %H:%M})"
    if not planner:
        planner.append(build_runtime(settings))
    rows = plan_rows(planner[0], transition_from_row(row))
    pending = [r for r in rows if r.status in ("pending", "awaiting_approval")]
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
        print(f"mailer status: there is no transition {transition_id} (`mailer status` lists "
              "them all)", file=sys.stderr)
        return 1
    print(f"{t.id}: {t.account} ({t.type.value}, {t.status}), playbook {t.playbook}")
    print(f"  manager {t.manager.formatted()}; outgoing {t.outgoing.formatted()}; "
          f"incoming {t.incoming.formatted()}")
    print("Plan:")
    try:
        for row in plan_rows(rt, t):
            print(f"  [{row.status:<17}] {row.due:<24} {row.title} ({row.who})")
    except Exception as exc:  # noqa: BLE001 - the timeline below is still worth showing
        print(f"  the plan cannot be worked out: {exc.__class__.__name__}: {exc}")
    print("Timeline:")
    for row in rt.store.all("SELECT * FROM history WHERE transition_id=? ORDER BY id", t.id):
        arrow = {"in": "<-", "out": "->"}.get(row["direction"], "..")
        who = row["sender"] if row["direction"] == "in" else ", ".join(
            json.loads(row["recipients"]))
        print(f"  {row['at']} {arrow} {who}: {row['subject']} ({row['note']})")
    return 0
