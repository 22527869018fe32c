"""Drain the outbox through SMTP with aiosmtplib, reusing one connection.

4xx answers and connection trouble are retried with backoff; a 5xx is permanent: the mail
moves to `outbox/failed/` with the reason and the caller tells the manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import aiosmtplib

from mailer.config.settings import ServerURL
from mailer.mail.oauth2 import OAuth2Error, sign_in_with_token_async
from mailer.mail.outbox import Outbox, QueuedMail
from mailer.state.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryFailure:
    mail: QueuedMail
    reason: str
    refused: tuple[str, ...]  # the recipients refused permanently
    partial: bool = False  # the others got it


class SmtpSender:
    """One SMTP connection, kept open across drains and reopened when it drops."""

    def __init__(self, url: ServerURL, *, password: str | None,
                 oauth2_command: str | None = None, timeout: float = 30) -> None:
        self.url = url
        self.password = password
        self.oauth2_command = oauth2_command
        self.timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._client: aiosmtplib.SMTP | None = None

    def close(self) -> None:
        if self._client is not None and self._client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                self._loop.run_until_complete(self._client.quit())
        self._client = None
        self._loop.close()

    async def _connect(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        client = aiosmtplib.SMTP(
            hostname=self.url.host, port=self.url.port, timeout=self.timeout,
            use_tls=self.url.implicit_tls,
            start_tls=False if self.url.starttls == "off" or self.url.implicit_tls else None)
        await client.connect()
        if self.oauth2_command and self.url.username:
            await sign_in_with_token_async(
                self.oauth2_command, lambda token: client.auth_xoauth2(self.url.username, token),
                refused=(aiosmtplib.SMTPAuthenticationError,),
                server=f"SMTP {self.url.redacted()}", user=self.url.username)
        elif self.url.username and self.password:
            await client.login(self.url.username, self.password)
        self._client = client
        return client

    async def _send(self, envelope_from: str, recipients: tuple[str, ...],
                    raw: bytes) -> dict[str, str]:
        """Send one message; returns recipients refused (address -> reply)."""
        client = await self._connect()
        try:
            refused, _ = await client.sendmail(envelope_from, list(recipients), raw)
        except aiosmtplib.SMTPServerDisconnected:
            self._client = None
            client = await self._connect()
            refused, _ = await client.sendmail(envelope_from, list(recipients), raw)
        return {address: f"{reply.code} {reply.message}" for address, reply in refused.items()}

    def sign_in(self) -> None:
        """Connect and sign in now (for `mailer check`); raises what a send would."""
        self._loop.run_until_complete(self._connect())

    def send(self, envelope_from: str, recipients: tuple[str, ...], raw: bytes) -> dict[str, str]:
        return self._loop.run_until_complete(self._send(envelope_from, recipients, raw))

    def drop_connection(self) -> None:
        self._client = None


@dataclass
class DrainResult:
    sent: int = 0
    failures: list[DeliveryFailure] = field(default_factory=list)


def drain(store: Store, outbox: Outbox, sender: SmtpSender, *, now: Callable[[], datetime],
          limit: int = 500) -> DrainResult:
    """Send what is due; returns how many went and the permanent failures to report."""
    result = DrainResult()
    accepted: list[QueuedMail] = []  # set aside in sent/, their rows recorded at the end
    try:
        for mail in outbox.ready(store, now(), limit=limit):
            outcome = _deliver_one(store, outbox, sender, mail, now)
            if outcome == DEFERRED:
                break  # the server is unwell: keep order per recipient, try again later
            if isinstance(outcome, DeliveryFailure):
                result.failures.append(outcome)
            if outcome is SENT or (isinstance(outcome, DeliveryFailure) and outcome.partial):
                accepted.append(mail)
                result.sent += 1
    finally:
        outbox.record_sent(store, accepted, now())
    return result


SENT, DEFERRED = "sent", "deferred"


def _deliver_one(store: Store, outbox: Outbox, sender: SmtpSender, mail: QueuedMail,
                 now: Callable[[], datetime]) -> DeliveryFailure | str:
    try:
        refused = sender.send(mail.envelope_from, mail.recipients, mail.path.read_bytes())
    except (aiosmtplib.SMTPAuthenticationError, OAuth2Error) as exc:
        # Signing in failed: nothing is wrong with this mail, so it waits (a 535 here is not
        # a refusal of the mail) and the operator reads why, in one line.
        sender.drop_connection()
        problem = str(exc) if isinstance(exc, OAuth2Error) else (
            f"SMTP {sender.url.redacted()} refused the sign-in ({exc.code} {exc.message}); "
            "check the user in MAILER_SMTP_URL and MAILER_SMTP_PASSWORD")
        log.warning("%s; the mail waits and is tried again", problem)
        return _retry_or_fail(store, outbox, mail, f"could not sign in: {problem}", now)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        reasons = {e.recipient: f"{e.code} {e.message}" for e in exc.recipients}
        if all(code.startswith("5") for code in reasons.values()):
            reason = "; ".join(f"{a}: {r}" for a, r in reasons.items())
            outbox.mark_failed(store, mail, reason, now())
            return DeliveryFailure(mail, reason, tuple(reasons))
        return _retry_or_fail(store, outbox, mail, "; ".join(reasons.values()), now)
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code == 421:  # the server is closing the connection
            sender.drop_connection()
        reason = f"{exc.code} {exc.message}"
        if 500 <= exc.code < 600:
            outbox.mark_failed(store, mail, reason, now())
            return DeliveryFailure(mail, reason, mail.recipients)
        return _retry_or_fail(store, outbox, mail, reason, now)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        sender.drop_connection()
        log.warning("SMTP unavailable (%s); will retry", exc.__class__.__name__)
        return _retry_or_fail(store, outbox, mail, f"connection problem: {exc}", now)
    outbox.set_aside_sent(mail)
    log.debug("sent %s mail of %s to %s", mail.kind, mail.transition_id or "no transition",
              ", ".join(mail.recipients))
    if refused:
        reason = "; ".join(f"{a}: {r}" for a, r in refused.items())
        return DeliveryFailure(mail, reason, tuple(refused), partial=True)
    return SENT


def _retry_or_fail(store: Store, outbox: Outbox, mail: QueuedMail, reason: str,
                   now: Callable[[], datetime]) -> DeliveryFailure | str:
    if outbox.mark_retry(store, mail, reason, now()):
        return DEFERRED
    outbox.mark_failed(store, mail, f"gave up after many tries: {reason}", now())
    return DeliveryFailure(mail, reason, mail.recipients)
