"""The watchdog: a periodic canary mail sent to ourselves through SMTP must come back through
IMAP. Silent death is the top complaint about mailbox-watching tools, so when the canary does
not return the service says so loudly, in the log and in `mailer status`."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailer.flows.outgoing import Outgoing, queue_outgoing
from mailer.flows.runtime import Runtime
from mailer.handoff.model import Person
from mailer.state.store import from_iso, iso

log = logging.getLogger(__name__)

CANARY_HEADER = "X-Mailer-Canary"
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


def watchdog_state(rt: Runtime, now: datetime, *, grace: timedelta) -> WatchdogState:
    sent = from_iso(rt.store.meta("canary_sent_at") or None)
    seen = from_iso(rt.store.meta("canary_seen_at") or None)
    overdue = sent is not None and (seen is None or seen < sent) and now - sent > grace
    return WatchdogState(sent_at=sent, seen_at=seen, overdue=overdue)


def _secret(rt: Runtime) -> bytes:
    """A key only this assistant knows, kept in its own database (made on first use)."""
    key = rt.store.meta("watchdog_secret")
    if not key:
        key = secrets.token_hex(32)
        with rt.store.transaction():
            rt.store.set_meta("watchdog_secret", key)
    return bytes.fromhex(key)


def canary_value(rt: Runtime, sent_at: str) -> str:
    """`<when sent>.<HMAC of it>`: anyone can copy the header's name, nobody can forge this."""
    mac = hmac.new(_secret(rt), sent_at.encode(), hashlib.sha256).hexdigest()
    return f"{sent_at}.{mac}"


def is_our_canary(rt: Runtime, value: str) -> bool:
    """The canary we sent last, carrying our own HMAC; anything else is ordinary mail."""
    sent_at, _, mac = value.strip().rpartition(".")
    expected = rt.store.meta("canary_sent_at")
    if not sent_at or sent_at != expected or not rt.store.meta("watchdog_secret"):
        return False
    return hmac.compare_digest(canary_value(rt, sent_at), f"{sent_at}.{mac}")


def send_canary_if_due(rt: Runtime, now: datetime, *, every: timedelta) -> bool:
    sent = from_iso(rt.store.meta("canary_sent_at") or None)
    if sent is not None and now - sent < every:
        return False
    value = canary_value(rt, iso(now) or "")
    with rt.store.transaction():
        queue_outgoing(rt, Outgoing(
            template="canary", to=[Person("", rt.address)], kind="canary",
            context={"sent_at": now}, auto_submitted="auto-generated",
            extra_headers=[(CANARY_HEADER, value)]), transition_id=None, now=now)
        rt.store.set_meta("canary_sent_at", iso(now) or "")
    return True


def check_canary(rt: Runtime, now: datetime, *, grace: timedelta) -> WatchdogState:
    """Log loudly, once per canary, when it is overdue."""
    state = watchdog_state(rt, now, grace=grace)
    if state.overdue and rt.store.meta("canary_alarm_for") != iso(state.sent_at):
        log.error(state.describe(now))
        with rt.store.transaction():
            rt.store.set_meta("canary_alarm_for", iso(state.sent_at) or "")
    return state
