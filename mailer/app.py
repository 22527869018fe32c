"""Wiring: settings into a Runtime, a mail source and an SMTP sender; the service loop."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from mailer import pipeline
from mailer.courier_process import CourierProcess
from mailer.flows.digest import send_weekly_digest
from mailer.flows.due_steps import run_due_steps, run_scheduler_slice
from mailer.flows.outcome import Outcome
from mailer.flows.outgoing import Outgoing, person_view, queue_outgoing
from mailer.flows.runtime import Runtime
from mailer.flows.watchdog import check_canary, send_canary_if_due
from mailer.flows.workbook_delivery import run_workbook_job
from mailer.mail.courier import Courier
from mailer.mail.smtp import DeliveryFailure, SmtpSender
from mailer.mail.sources import (
    CONNECTION_ERRORS,
    FetchedMessage,
    ImapSource,
    MaildirSource,
    MailSource,
)
from mailer.pipeline import STORAGE_ERRORS, StorageUnavailable
from mailer.state.canary import WATCHDOG_GRACE
from mailer.state.transition_records import load_transition
from mailer.worker import Workers

log = logging.getLogger(__name__)

STEP_INTERVAL_SECONDS = 30.0
COURIER_SWITCH_SECONDS = 0.001
STORAGE_RETRY_SECONDS = 30


def build_source(rt: Runtime) -> MailSource:
    s = rt.settings
    limit = rt.rules.limits.max_message_bytes
    if s.imap is None:
        return MaildirSource(s.maildir_path, max_message_bytes=limit)
    return ImapSource(s.imap, password=s.imap_password, store=rt.store,
                      oauth2_command=s.oauth2_token_command, max_message_bytes=limit)


@dataclass
class PassReport:
    """What one pass did. Handled messages are counted, not kept: a pass through a backlog
    of 10,000 messages held an Outcome for each until it ended (1.7 MB, growing with the
    backlog); each message's outcome and reason are in the `inbound` table."""

    handled: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # how many ended each way
    steps_sent: int = 0
    mails_sent: int = 0
    failures: list[DeliveryFailure] = field(default_factory=list)

    def count(self, outcome: Outcome) -> None:
        self.handled += 1
        self.outcomes[outcome.outcome] += 1


@dataclass
class Service:
    rt: Runtime
    source: MailSource
    sender: SmtpSender | None
    dry_run: bool = False
    stopping: threading.Event = field(default_factory=threading.Event)
    # The courier owns the outbox files and the SMTP connection. `mailer run` gives it a
    # process of its own (`start_courier_process`); without one it is a thread of this
    # process, on the runtime's clock (the tests' simulated clocks reach it there).
    courier_process: CourierProcess | None = None
    courier: Courier | CourierProcess = field(init=False)
    workers: Workers = field(init=False)
    _due_after: int = field(default=0, init=False)  # where the next slice goes on with due steps

    def __post_init__(self) -> None:
        if self.courier_process is not None:
            self.courier = self.courier_process
        else:
            # SMTP round trips run in the courier's thread, beside the handling of the next
            # message. Each server reply wakes the courier, which then waits for the
            # interpreter lock while this thread renders; Python's default 5 ms hand-over
            # would add that to every SMTP command (the convoy effect), so the lock changes
            # hands every millisecond.
            sys.setswitchinterval(min(sys.getswitchinterval(), COURIER_SWITCH_SECONDS))
            self.courier = Courier(self.rt.store.path, self.rt.outbox, self.sender,
                                   now=self.rt.clock, send=not self.dry_run)
        # Workbooks are built on the other core; their mail goes as soon as it is queued.
        self.workers = Workers(self.rt.settings, on_done=self.courier.poke,
                               inline=lambda job_id: run_workbook_job(self.rt, job_id))

    def close(self) -> None:
        self.source.close()
        self.workers.close()
        self.courier.close()
        self.rt.store.close()

    # -- one pass -----------------------------------------------------------------------

    @property
    def watchdog_on(self) -> bool:
        s = self.rt.settings
        return bool(s.imap and s.smtp and s.watchdog_minutes and not self.dry_run)

    def run_watchdog(self) -> None:
        if not self.watchdog_on:
            return
        every = timedelta(minutes=self.rt.settings.watchdog_minutes)
        now = self.rt.clock()
        check_canary(self.rt, now, grace=WATCHDOG_GRACE)
        send_canary_if_due(self.rt, now, every=every)

    def handle_inbox(self, report: PassReport) -> None:
        for fetched in self.source.fetch_new():
            outcome = pipeline.handle(self.rt, fetched.raw, source_key=fetched.source_key,
                                      full_size=fetched.full_size)
            report.count(outcome)
            self.file(fetched, outcome)
            self.workers.hand_out(self.rt.store)
            self.courier.poke()  # answered within seconds, even inside a backlog
            self.take_courier_news(report)
            if self.stopping.is_set():
                return

    def file(self, fetched: FetchedMessage, outcome: Outcome) -> None:
        """Move a handled message to its folder. Never raises for one message: the outcome is
        committed, so a message left behind is only seen again and recognised."""
        try:
            self.source.file(fetched, pipeline.folder_for(self.rt, outcome))
        except Exception:  # noqa: BLE001 - filing is best effort by design
            log.exception("could not file a handled message (%s); it stays in the inbox",
                          outcome.outcome)

    def send_outbox(self, report: PassReport, *, wait_for_workbooks: bool = True) -> None:
        """Build the workbooks asked for and spool and send everything that can go now, and
        wait until it has. The running service does not wait for the workbooks
        (`wait_for_workbooks=False`): their mail goes as each is built, and a request arriving
        behind hundreds of them is answered at once."""
        self.workers.hand_out(self.rt.store)
        if wait_for_workbooks:
            self.workers.wait()
        self.courier.flush()
        while self.take_courier_news(report):
            self.courier.flush()  # the managers' notices of failures go too

    def take_courier_news(self, report: PassReport) -> int:
        """What the courier sent and could not send since the last look; the failures are
        told to the managers (their notices are queued). Returns how many failures."""
        try:
            self.courier.raise_problem()
        except OSError as exc:
            raise StorageUnavailable(f"the outbox cannot be written ({exc})") from exc
        report.mails_sent += self.courier.take_sent()
        failures = self.courier.take_failures()
        for failure in failures:
            report.failures.append(failure)
            self.tell_manager(failure)
        if failures:
            self.courier.poke()
        return len(failures)

    def tell_manager(self, failure: DeliveryFailure) -> None:
        """A permanent failure is reported to the transition's manager, once."""
        mail = failure.mail
        if mail.kind == "delivery_failed" or not mail.transition_id:
            log.error("undeliverable %s mail: %s", mail.kind, failure.reason)
            return
        t = load_transition(self.rt.store, mail.transition_id)
        if t is None:
            return
        now = self.rt.clock()
        # One notice per transition and refused address, however many mails bounce off it.
        keys = [f"failure-notice:{t.id}:{address}" for address in failure.refused]
        if keys and all(self.rt.store.meta(key) for key in keys):
            log.info("%s: delivery to %s failed again; the manager was already told",
                     t.id, ", ".join(failure.refused))
            return
        with self.rt.store.transaction():
            for key in keys:
                self.rt.store.set_meta(key, mail.message_id)
            queue_outgoing(self.rt, Outgoing(
                template="delivery_failed", to=[t.manager], kind="delivery_failed",
                context={"tid": t.id, "account": t.account, "manager": person_view(t.manager),
                         "failed_subject": mail.subject,
                         "failed_recipients": ", ".join(failure.refused),
                         "reason": failure.reason}, follows="request"),
                transition_id=t.id, now=now)

    def run_steps(self, report: PassReport) -> None:
        try:
            report.steps_sent += run_due_steps(self.rt, self.rt.clock())
            report.steps_sent += send_weekly_digest(self.rt, self.rt.clock())
        except STORAGE_ERRORS as exc:
            raise StorageUnavailable(f"the data directory cannot be written ({exc})") from exc

    def run_step_slice(self, report: PassReport) -> bool:
        """One bounded slice of the scheduler's work; True while more is left (the hourly
        safety pass, or planning after a restart), so the loop checks the inbox between
        slices and a request arriving meanwhile is answered at once."""
        try:
            result = run_scheduler_slice(self.rt, self.rt.clock(), after_seq=self._due_after)
            self._due_after = result.after_seq
            report.steps_sent += result.done
            if not result.more:
                report.steps_sent += send_weekly_digest(self.rt, self.rt.clock())
        except STORAGE_ERRORS as exc:
            raise StorageUnavailable(f"the data directory cannot be written ({exc})") from exc
        return result.more

    def run_once(self) -> PassReport:
        report = PassReport()
        # What a stop left waiting (mail, workbook jobs) starts going while the inbox is read:
        # waiting for it here held the first message back until the courier process had
        # started and finished its first round. The courier still sends it first, in order.
        self.workers.hand_out(self.rt.store)
        self.courier.poke()
        self.handle_inbox(report)
        if report.handled:
            self.send_outbox(report)  # answers leave before the scheduler's work, as in run
        self.run_steps(report)
        self.send_outbox(report)
        return report

    # -- the service ----------------------------------------------------------------------

    def run_forever(self) -> None:
        self._install_signal_handlers()
        last_steps = 0.0
        more_steps = False
        while not self.stopping.is_set():
            try:
                report = PassReport()
                self.workers.hand_out(self.rt.store)  # jobs a crash left unfinished, too
                self.handle_inbox(report)
                if report.handled:  # answers leave before the scheduler's work
                    self.send_outbox(report, wait_for_workbooks=False)
                if more_steps or time.monotonic() - last_steps >= STEP_INTERVAL_SECONDS:
                    if not more_steps:
                        self.run_watchdog()
                    more_steps = self.run_step_slice(report)
                    last_steps = time.monotonic()
                self.courier.poke()
                self.take_courier_news(report)
                if not more_steps:
                    self.source.wait(STEP_INTERVAL_SECONDS, self.stopping)
            except StorageUnavailable as exc:
                log.error("%s: not taking new mail (it stays on the server) until this is "
                          "fixed; retrying in %d s", exc, STORAGE_RETRY_SECONDS)
                self.stopping.wait(STORAGE_RETRY_SECONDS)
            except CONNECTION_ERRORS as exc:
                self._reconnect_after(exc)
            except Exception:  # noqa: BLE001 - the service outlives any one bug
                log.exception("unexpected error in the service loop; carrying on in %d s",
                              STORAGE_RETRY_SECONDS)
                self.stopping.wait(STORAGE_RETRY_SECONDS)
        log.info("stopped")

    def _reconnect_after(self, exc: BaseException) -> None:
        log.warning("mail server connection lost (%s: %s); reconnecting",
                    exc.__class__.__name__, exc)
        if isinstance(self.source, ImapSource):
            self.source.disconnect()
            self.stopping.wait(self.source.reconnect_pause())
        else:
            self.stopping.wait(1.0)

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stopping.set())
