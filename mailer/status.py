"""`mailer status`: every transition with its phase and next step.

The overview reads what the scheduler stored beside each transition, so it loads neither the
playbooks nor the templates (nor the libraries behind them) and stays quick with thousands of
transitions. A transition the scheduler has not planned yet is planned afresh through
`plan_next`, which the command line wires to `mailer.timeline` only when one is met.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime

from mailer.config.settings import Settings
from mailer.handoff.names import name_to_show
from mailer.state.canary import WATCHDOG_GRACE, watchdog_state
from mailer.state.store import Store

NOTHING_DUE = "9999-12-31T00:00:00+00:00"  # as stored by mailer.flows.schedule
CLOSED = "nothing (the transition is closed)"
_COLUMNS = ("id, account, status, type, outgoing_name, outgoing_email, incoming_name, "
            "incoming_email, next_due_at, next_step")


def print_status(settings: Settings, *, plan_next: Callable[[str], str]) -> int:
    """Print the overview; `plan_next(transition_id)` words the next step of a transition
    the scheduler has not stored one for."""
    store = Store(settings.database_path)
    try:
        lines = overview_lines(settings, store, plan_next=plan_next)
        sys.stdout.write("\n".join(lines) + "\n")
        return 0
    finally:
        store.close()


def overview_lines(settings: Settings, store: Store, *,
                   plan_next: Callable[[str], str]) -> list[str]:
    moments: dict[str, str] = {}  # many transitions share a due moment: word each once
    lines = []
    for row in store.db.execute(f"SELECT {_COLUMNS} FROM transitions ORDER BY seq"):
        (tid, account, status, kind, out_name, out_email, in_name, in_email, due,
         step) = row
        try:
            upcoming = _upcoming(settings, tid, status, due, step, moments, plan_next)
        except Exception as exc:  # noqa: BLE001 - one bad row never hides the others
            upcoming = f"stopped: {exc.__class__.__name__}: {exc}"
        outgoing, incoming = name_to_show(out_name, out_email), name_to_show(in_name, in_email)
        lines.append(f"{tid}  {account:<28.28} {status:<9} {kind:<6} "
                     f"{outgoing} -> {incoming}  next: {upcoming}")
    if not lines:
        lines.append("No transitions yet.")
    counts = {r["status"]: r["n"] for r in store.all(
        "SELECT status, COUNT(*) AS n FROM outbound GROUP BY status")}
    lines.append(f"outbox: {counts.get('queued', 0)} waiting, {counts.get('sent', 0)} sent, "
                 f"{counts.get('failed', 0)} failed")
    lines.append(storage_health(settings))
    if settings.imap and settings.smtp and settings.watchdog_minutes:
        now = datetime.now(UTC)
        lines.append(watchdog_state(store, now, grace=WATCHDOG_GRACE).describe(now))
    return lines


def _upcoming(settings: Settings, tid: str, status: str, due: str | None, step: str,
              moments: dict[str, str], plan_next: Callable[[str], str]) -> str:
    """The next step, from what the scheduler stored; planned afresh only when unknown."""
    if status not in ("active", "paused"):
        return CLOSED
    if due == NOTHING_DUE:
        return step or "nothing scheduled"
    if not due:
        return plan_next(tid)
    when = moments.get(due)
    if when is None:
        local = datetime.fromisoformat(due).astimezone(settings.timezone)
        when = moments[due] = f"{local:%a %d %b %Y %H:%M}"
    return f"{step} ({when})"


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
