"""`mailer status TR-0042`: one transition's dated plan and its timeline; and the next step of
a transition the scheduler has not planned yet, for the overview in `mailer.status`.

Both need the playbooks and the business calendar, so they live apart from the overview,
which must stay light.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

from mailer.config.settings import Settings
from mailer.flows.runtime import Runtime
from mailer.flows.schedule import plan_rows
from mailer.runtime import build_runtime
from mailer.state.transition_records import load_transition


def print_timeline(settings: Settings, transition_id: str) -> int:
    rt = build_runtime(settings)
    try:
        return _timeline(rt, transition_id)
    finally:
        rt.store.close()


class NextStepPlanner:
    """Plans transitions with no stored next step; the runtime is built on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._rt: Runtime | None = None

    def __call__(self, transition_id: str) -> str:
        if self._rt is None:
            self._rt = build_runtime(self.settings)
        t = load_transition(self._rt.store, transition_id)
        if t is None:
            return "unknown"
        rows = plan_rows(self._rt, t)
        pending = [r for r in rows if r.status in ("pending", "awaiting_approval")
                   and r.state != "not needed any more"]
        return f"{pending[0].title} ({pending[0].due})" if pending else "nothing left to send"

    def close(self) -> None:
        if self._rt is not None:
            self._rt.store.close()


def _timeline(rt: Runtime, transition_id: str) -> int:
    t = load_transition(rt.store, transition_id)
    if t is None:
        print(f"mailer status: there is no transition {transition_id} (`mailer status` lists "
              "them all)", file=sys.stderr)
        return 1
    print(f"{t.id}: {t.account} ({t.type.value}, {t.status}), playbook {t.playbook}")
    # The same words as the status mail and the workbook's Plan sheet.
    print(f"  manager {t.manager.formatted()}; outgoing {t.outgoing.formatted()}; "
          f"incoming {t.incoming.formatted()}")
    print("Plan:")
    try:
        for row in plan_rows(rt, t):
            print(f"  {row.due:<34} {row.title} ({row.who}): {row.state}")
    except Exception as exc:  # noqa: BLE001 - the timeline below is still worth showing
        print(f"  the plan cannot be worked out: {exc.__class__.__name__}: {exc}")
    print("Timeline:")
    for row in rt.store.all("SELECT * FROM history WHERE transition_id=? ORDER BY id", t.id):
        arrow = {"in": "<-", "out": "->"}.get(row["direction"], "..")
        who = row["sender"] if row["direction"] == "in" else ", ".join(
            json.loads(row["recipients"]))
        moment = datetime.fromisoformat(row["at"]).astimezone(rt.settings.timezone)
        print(f"  {moment:%a %d %b %Y %H:%M} {arrow} {who}: {row['subject']} ({row['note']})")
    return 0
