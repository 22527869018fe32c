"""The watchdog: a periodic canary mail sent to ourselves through SMTP must come back through
IMAP. Silent death is the top complaint about mailbox-watching tools, so when the canary does
not return the service says so loudly, in the log and in `mailer status`."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta

from mailer.flows.outgoing import Outgoing, queue_outgoing
from mailer.flows.runtime import Runtime
from mailer.handoff.model import Person
from mailer.state.canary import WatchdogState, watchdog_state
from mailer.state.store import from_iso, iso

log = logging.getLogger(__name__)

CANARY_HEADER = "X-Mailer-Canary"


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
    state = watchdog_state(rt.store, now, grace=grace)
    if state.overdue and rt.store.meta("canary_alarm_for") != iso(state.sent_at):
        log.error(state.describe(now))
        with rt.store.transaction():
            rt.store.set_meta("canary_alarm_for", iso(state.sent_at) or "")
    return state
