"""What the watchdog's canary records say: when the last canary left, when one came back.

Kept apart from `flows/watchdog.py` (which sends canaries and so needs the renderer) so that
`mailer status` can tell whether mail flows while loading nothing but the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from mailer.state.store import Store, from_iso

WATCHDOG_GRACE = timedelta(minutes=5)  # how long a canary may take to come back


@dataclass(frozen=True)
class WatchdogState:
    sent_at: datetime | None
    seen_at: datetime | None
    overdue: bool

    def describe(self, now: datetime) -> str:
        if self.sent_at is None:
            return "watchdog: no canary sent yet"
        if self.overdue:
            return (f"WATCHDOG ALARM: the canary sent {self.sent_at:%Y-%m-%d %H:%M} UTC has not "
                    "come back through IMAP; mail may not be flowing (check SMTP delivery "
                    "to the assistant's address and the IMAP connection)")
        if self.seen_at is None or self.seen_at < self.sent_at:
            return f"watchdog: canary sent {self.sent_at:%H:%M} UTC, waiting for it"
        return f"watchdog: OK, canary came back {self.seen_at:%Y-%m-%d %H:%M} UTC"


def watchdog_state(store: Store, now: datetime, *, grace: timedelta) -> WatchdogState:
    sent = from_iso(store.meta("canary_sent_at") or None)
    seen = from_iso(store.meta("canary_seen_at") or None)
    overdue = sent is not None and (seen is None or seen < sent) and now - sent > grace
    return WatchdogState(sent_at=sent, seen_at=seen, overdue=overdue)
