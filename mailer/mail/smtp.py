"""Drain the outbox through SMTP with aiosmtplib, reusing one connection.

4xx answers and connection trouble are retried with backoff; a 5xx is permanent: the mail
moves to `outbox/failed/` with the reason and the caller tells the manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import aiosmtplib

from mailer.config.settings import ServerURL, Settings
from mailer.mail.oauth2 import OAuth2Error, sign_in_with_token_async
from mailer.mail.outbox import Outbox, QueuedMail
from mailer.state.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class DeliveryFailure:
    mail: QueuedMail
    reason: str
    refused: tuple[str, ...]  # the recipients refused permanently
    partial: bool = False  # the others got it


class SmtpSender:
    """Up to `connections` SMTP connections, kept open across drains, opened as mail needs
    them and reopened when they drop. A mail server's round trips (its own delivery to the
    mailbox after each DATA) dominate the sending; mail with no recipient in common goes over
    several connections at once (`send_in_order`)."""

    def __init__(self, url: ServerURL, *, password: str | None,
                 oauth2_command: str | None = None, timeout: float = 30,
                 connections: int = 1) -> None:
        self.url = url
        self.password = password
        self.oauth2_command = oauth2_command
        self.timeout = timeout
        self.connections = max(1, connections)
        self._loop = asyncio.new_event_loop()
        self._idle: list[aiosmtplib.SMTP] = []  # connected, signed in, not sending
        self._signing_in = asyncio.Lock()
        self._token: str | None = None  # the OAuth2 access token that last signed in

    def close(self) -> None:
        for client in self._idle:
            if client.is_connected:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    self._loop.run_until_complete(client.quit())
        self._idle = []
        self._loop.close()

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.url.host, port=self.url.port, timeout=self.timeout,
            use_tls=self.url.implicit_tls,
            start_tls=False if self.url.starttls == "off" or self.url.implicit_tls else None)
        await client.connect()
        try:
            if self.oauth2_command and self.url.username:
                async with self._signing_in:  # the first connection gets the token for all
                    await self._sign_in_with_token(client, self.oauth2_command)
            elif self.url.username and self.password:
                await client.login(self.url.username, self.password)
        except BaseException:
            client.close()
            raise
        return client

    async def _sign_in_with_token(self, client: aiosmtplib.SMTP, command: str) -> None:
        """XOAUTH2 with the token the last connection signed in with, else (or when it is
        refused) with one from the command."""
        async def sign_in(token: str) -> object:
            answer = await client.auth_xoauth2(self.url.username, token)
            self._token = token
            return answer

        if self._token is not None:
            try:
                await sign_in(self._token)
                return
            except aiosmtplib.SMTPAuthenticationError:
                self._token = None  # it expired: the command gives a fresh one
        await sign_in_with_token_async(
            command, sign_in, refused=(aiosmtplib.SMTPAuthenticationError,),
            server=f"SMTP {self.url.redacted()}", user=self.url.username)

    async def _take(self) -> aiosmtplib.SMTP:
        while self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client
        return await self._connect()

    async def send_async(self, envelope_from: str, recipients: tuple[str, ...],
                         raw: bytes) -> dict[str, str]:
        """Send one message on a free connection; returns recipients refused (address ->
        reply). A connection that fails in any way but a refusal of this mail is closed, not
        used again."""
        client = await self._take()
        try:
            try:
                refused = await _transfer(client, envelope_from, recipients, raw)
            except aiosmtplib.SMTPServerDisconnected:  # it timed out while idle: once more
                client.close()
                client = await self._connect()
                refused = await _transfer(client, envelope_from, recipients, raw)
        except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPResponseException) as exc:
            if _connection_still_good(exc):
                self._idle.append(client)
            else:
                client.close()
            raise
        except BaseException:
            client.close()
            raise
        self._idle.append(client)
        return refused

    def sign_in(self) -> None:
        """Connect and sign in now (for `mailer check`); raises what a send would."""
        self._idle.append(self._loop.run_until_complete(self._connect()))

    def send(self, envelope_from: str, recipients: tuple[str, ...], raw: bytes) -> dict[str, str]:
        return self._loop.run_until_complete(self.send_async(envelope_from, recipients, raw))

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run sending work on this sender's event loop (from the thread that owns it)."""
        return self._loop.run_until_complete(work)


async def _transfer(client: aiosmtplib.SMTP, envelope_from: str, recipients: Sequence[str],
                    raw: bytes) -> dict[str, str]:
    """One mail over one connection, as aiosmtplib's `sendmail` sends it (MAIL with SIZE
    where offered, RCPT for each recipient, DATA unless all were refused, RSET after a
    refusal); returns the recipients refused (address -> reply). `sendmail` rewrote the
    line ends of the whole mail only to count its size, before DATA rewrites them again,
    and checked every address before MAIL and RCPT check each again: a sixth of the CPU of
    sending a mail (about 500 us for 17 KB). The size is counted instead."""
    if client.is_ehlo_or_helo_needed:
        await _greet(client)
    options = [f"SIZE={transmitted_size(raw)}"] if client.supports_extension("size") else []
    refused: list[aiosmtplib.SMTPRecipientRefused] = []
    try:
        await client.mail(envelope_from, options=options)
        for address in recipients:
            try:
                await client.rcpt(address)
            except aiosmtplib.SMTPRecipientRefused as exc:
                refused.append(exc)
        if len(refused) == len(recipients):
            raise aiosmtplib.SMTPRecipientsRefused(refused)
        await client.data(raw)
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        # The connection is used again: nothing of this mail may stay open on it.
        with contextlib.suppress(ConnectionError, aiosmtplib.SMTPResponseException):
            await client.rset()
        raise
    return {exc.recipient: f"{exc.code} {exc.message}" for exc in refused}


async def _greet(client: aiosmtplib.SMTP) -> None:
    """EHLO, and HELO from a server that does not know it: what extensions it offers (SIZE)
    is known before the first MAIL."""
    try:
        await client.ehlo()
    except aiosmtplib.SMTPHeloError:
        if not client.is_connected:
            raise
        await client.helo()


def transmitted_size(raw: bytes) -> int:
    """The mail's size as DATA transmits it (RFC 1870): each line end a CRLF, and a CRLF at
    the end. Counted, not rewritten: a mail's CRLF, bare LF and bare CR each count two."""
    crlf = raw.count(b"\r\n")
    size = len(raw) + (raw.count(b"\n") - crlf) + (raw.count(b"\r") - crlf)
    return size if raw.endswith((b"\n", b"\r")) else size + 2


def _connection_still_good(exc: Exception) -> bool:
    """A refusal of this mail leaves the connection usable; a 421 (closing), a failed
    sign-in or anything else does not."""
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return False
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code != 421
    return True


def sender_for(settings: Settings) -> SmtpSender | None:
    """The SMTP connection the settings describe (None without an SMTP server)."""
    if settings.smtp is None:
        return None
    return SmtpSender(settings.smtp, password=settings.smtp_password,
                      oauth2_command=settings.oauth2_token_command,
                      connections=settings.smtp_connections)


@dataclass
class DrainResult:
    sent: int = 0
    failures: list[DeliveryFailure] = field(default_factory=list)


def drain(store: Store, outbox: Outbox, sender: SmtpSender, *, now: Callable[[], datetime],
          limit: int = 500, unrecorded: list[QueuedMail] | None = None) -> DrainResult:
    """Send what is due; returns how many went and the permanent failures to report.

    Sent mail is set aside in `sent/` at once and its rows are marked sent at the end. With
    `unrecorded`, that waits for no one: if another connection is writing, the mails join
    `unrecorded` and the next drain tries again (the caller marks what is left, waiting, when
    it is done), so sending never stands still behind the handling of a message."""
    result = DrainResult()
    accepted: list[QueuedMail] = []  # set aside in sent/, their rows recorded at the end
    waiting = unrecorded if unrecorded is not None else []

    async def deliver(mail: QueuedMail) -> bool:
        """One mail; False when the server is unwell and sending should pause."""
        outcome = await _deliver_one(store, outbox, sender, mail, now)
        if isinstance(outcome, DeliveryFailure):
            result.failures.append(outcome)
        if outcome is SENT or (isinstance(outcome, DeliveryFailure) and outcome.partial):
            accepted.append(mail)
            result.sent += 1
        return outcome != DEFERRED

    try:
        due = outbox.ready(store, now(), limit=limit,
                           set_aside={mail.row_id for mail in waiting})
        sender.run(send_in_order(due, deliver, width=sender.connections))
    finally:
        waiting.extend(accepted)
        if outbox.record_sent(store, waiting, now(), wait=unrecorded is None):
            waiting.clear()
    return result


async def send_in_order(mails: Sequence[QueuedMail],
                        deliver: Callable[[QueuedMail], Awaitable[bool]], *,
                        width: int) -> None:
    """Deliver up to `width` mails at a time, never two with a recipient in common at once,
    each person's in the order written: a mail starts once every earlier one to any of its
    recipients is delivered. Mail to other people does not queue behind it: while a manager's
    answers about a book of 300 accounts go to her one after another, the questionnaires to
    the 300 outgoing CSMs go past them on the other connections. Once a delivery answers
    False (deferred: keep order per recipient, try again later), no more start; those under
    way finish."""
    waiting = [(mail, frozenset(address.lower() for address in mail.recipients))
               for mail in mails]
    under_way: dict[asyncio.Task[bool], frozenset[str]] = {}
    going = True

    async def settle_one() -> None:
        nonlocal going
        finished, _ = await asyncio.wait(under_way, return_when=asyncio.FIRST_COMPLETED)
        for task in finished:
            del under_way[task]
            going = task.result() and going

    try:
        while going and waiting:
            while len(under_way) < width and (chosen := _first_free(waiting, under_way)) >= 0:
                mail, people = waiting.pop(chosen)
                under_way[asyncio.ensure_future(deliver(mail))] = people
            await settle_one()
        while under_way:
            await settle_one()
    finally:
        if under_way:  # an error in one delivery: the others still finish and are recorded
            await asyncio.wait(under_way)


def _first_free(waiting: Sequence[tuple[QueuedMail, frozenset[str]]],
                under_way: dict[asyncio.Task[bool], frozenset[str]]) -> int:
    """The index of the first waiting mail none of whose recipients has a mail under way or
    an earlier one waiting; -1 when there is none. With nothing under way it is the first."""
    taken: set[str] = set().union(*under_way.values())
    for index, (_, people) in enumerate(waiting):
        if not people & taken:
            return index
        taken |= people
    return -1


SENT, DEFERRED = "sent", "deferred"


async def _deliver_one(store: Store, outbox: Outbox, sender: SmtpSender, mail: QueuedMail,
                       now: Callable[[], datetime]) -> DeliveryFailure | str:
    try:
        refused = await sender.send_async(mail.envelope_from, mail.recipients,
                                          mail.path.read_bytes())
    except (aiosmtplib.SMTPAuthenticationError, OAuth2Error) as exc:
        # Signing in failed: nothing is wrong with this mail, so it waits (a 535 here is not
        # a refusal of the mail) and the operator reads why, in one line.
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
        reason = f"{exc.code} {exc.message}"
        if 500 <= exc.code < 600:
            outbox.mark_failed(store, mail, reason, now())
            return DeliveryFailure(mail, reason, mail.recipients)
        return _retry_or_fail(store, outbox, mail, reason, now)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
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
