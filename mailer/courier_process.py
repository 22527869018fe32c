"""The courier in a process of its own, so that SMTP runs on the second core.

As a thread, the courier shared the interpreter lock with the service's handling of the next
message: each server reply woke it, and it then waited for the lock while the service
rendered, so in a backlog it sent about half as fast as the same client alone (16 to 19 mails
a second against 36), and most of the mail left only after the last message was handled.

The process is the same courier (`mailer.mail.courier.send_round`) on its own SQLite
connection, SMTP connection and clock. The service pokes it with numbered pokes over a pipe;
it answers with what each batch sent or could not send, and with the number of the last poke
a finished round served, so `flush` waits exactly as it does for the thread. Nothing about
exactly-once changes: rows are committed before the process reads them, a mail is marked sent
only after the server's 250, and the process dies with the service (`die_with_service`), so
after a `kill -9` no orphan sends a mail the restarted service sends again.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from mailer.child_processes import LogSetup, child_process_context, die_with_service
from mailer.config.settings import Settings
from mailer.mail.courier import IDLE_LOOK_SECONDS, CourierNews, Round, send_round
from mailer.mail.outbox import Outbox
from mailer.mail.smtp import sender_for
from mailer.state.store import Store

log = logging.getLogger(__name__)

STOP = None  # what the service sends to end the process
RESTARTS_PER_FLUSH = 3


@dataclass(frozen=True)
class CourierRecipe:
    """All the process needs to become the courier (pickled across to it)."""

    settings: Settings
    send: bool  # False for a dry run: the spool is written, nothing is sent
    fixed_now: datetime | None  # `mailer run --once --now`
    parent_pid: int
    logs: LogSetup


class CourierProcess(CourierNews):
    """The service's side: starts the process, numbers the pokes, reads the news."""

    def __init__(self, settings: Settings, *, send: bool = True,
                 fixed_now: datetime | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.send = send
        self.fixed_now = fixed_now
        self._context = child_process_context()
        self._process: BaseProcess | None = None
        self._pipe: Connection | None = None
        self._pipe_lock = threading.Lock()  # pokes come from the workbook workers' thread too
        self._gone = threading.Event()  # set when the current process's pipe closes

    def start(self) -> None:
        """Start the process if it is not running. Only from the main thread, so that two
        threads never start one each."""
        if self._running() or threading.current_thread() is not threading.main_thread():
            return
        if self._process is not None:
            log.error("the courier process stopped (exit code %s); starting it again",
                      self._process.exitcode)
            self._end_process(wait=False)  # dead, or its pipe is: nothing to wait for
        ours, theirs = self._context.Pipe()
        recipe = CourierRecipe(self.settings, self.send, self.fixed_now, os.getpid(),
                               LogSetup.of_this_process())
        process = self._context.Process(target=courier_main, args=(recipe, theirs),
                                        name="mailer-courier", daemon=True)
        process.start()
        theirs.close()
        # Each process has its own `gone`: the reader of a dead one's pipe may run only
        # after its successor started (on a busy machine a thread runs late), and must not
        # mark the successor dead.
        gone = threading.Event()
        self._process, self._pipe, self._gone = process, ours, gone
        threading.Thread(target=self._read_news, args=(ours, gone), name="courier-news",
                         daemon=True).start()
        with self._lock:
            asked = self._asked
        self._send(asked)  # a restarted courier serves every poke its predecessor left

    def poke(self) -> int:
        """Committed mail is waiting: spool and send it soon. Returns the poke's number."""
        self.start()
        asked = self._number_poke()
        self._send(asked)
        return asked

    def flush(self, timeout: float = 600) -> None:
        """Poke, then wait until everything that can go now has gone (or failed for now); a
        process that died meanwhile is started again and waited for."""
        for _ in range(RESTARTS_PER_FLUSH):
            asked = self.poke()
            self._wait_served(asked, self._gone.is_set, timeout)
            if self._running():
                return

    def close(self) -> None:
        self._send(STOP)
        self._end_process()

    # -- inside ------------------------------------------------------------------------------

    def _running(self) -> bool:
        return self._process is not None and not self._gone.is_set() and \
            self._process.is_alive()

    def _send(self, message: int | None) -> None:
        with self._pipe_lock:
            if self._pipe is None:
                return
            with contextlib.suppress(OSError, ValueError):  # gone: the news reader saw it
                self._pipe.send(message)

    def _end_process(self, *, wait: bool = True) -> None:
        """`wait`: the process was asked to stop and may finish its round first."""
        process, pipe = self._process, self._pipe
        self._process = None
        if process is not None:
            if wait:
                process.join(timeout=60)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        with self._pipe_lock:
            self._pipe = None
            if pipe is not None:
                pipe.close()

    def _read_news(self, pipe: Connection, gone: threading.Event) -> None:
        while True:
            try:
                kind, value = pipe.recv()
            except (EOFError, OSError, ValueError):
                gone.set()
                self._serve(0)  # wakes a flush waiting on a process that is gone
                return
            if kind == "told":
                self._tell(value)
            else:
                self._serve(value)


def start_courier_process(settings: Settings, *, send: bool,
                          fixed_now: datetime | None) -> CourierProcess | None:
    """The courier's process, started; None where no process can be started (the service
    then keeps the courier as a thread of its own)."""
    courier = CourierProcess(settings, send=send, fixed_now=fixed_now)
    try:
        courier.start()
    except OSError as exc:
        log.warning("the courier cannot have a process of its own (%s); it runs as a thread "
                    "of the service", exc)
        return None
    return courier


# --------------------------------------------------------------------------------------------
# The process


class _Pokes:
    """The courier's end of the pipe: the highest poke number seen, and whether to stop."""

    def __init__(self, pipe: Connection) -> None:
        self.pipe = pipe
        self.highest = 0
        self.served = 0
        self.stop = False

    def wait(self, timeout: float) -> int:
        """Until a poke not yet served arrives, or `timeout` passes (retries fall due with
        time); returns the poke number the coming round serves."""
        if self.highest <= self.served:
            self.pipe.poll(timeout)
        self.read()
        return self.highest

    def read(self) -> bool:
        """Take every message waiting; True once asked to stop (or the service is gone)."""
        try:
            while not self.stop and self.pipe.poll(0):
                message = self.pipe.recv()
                if message is STOP:
                    self.stop = True
                else:
                    self.highest = max(self.highest, message)
        except (EOFError, OSError):
            self.stop = True
        return self.stop


def courier_main(recipe: CourierRecipe, pipe: Connection) -> None:
    if not die_with_service(recipe.parent_pid):
        return
    recipe.logs.apply()
    settings = recipe.settings
    store = Store(settings.database_path)
    outbox = Outbox(settings.outbox_dir)
    sender = sender_for(settings)
    now: Callable[[], datetime] = (lambda: recipe.fixed_now) if recipe.fixed_now else \
        (lambda: datetime.now(UTC))

    def tell(done: Round) -> None:
        pipe.send(("told", done))

    pokes = _Pokes(pipe)
    gc.freeze()  # what the courier keeps for its life stays out of the collector's walks
    try:
        while True:
            serving = pokes.wait(IDLE_LOOK_SECONDS)
            if pokes.stop:
                break
            send_round(store, outbox, sender if recipe.send else None, now=now,
                       stopping=pokes.read, tell=tell)
            pokes.served = serving
            pipe.send(("served", serving))
    except (BrokenPipeError, EOFError):
        pass  # the service is gone
    finally:
        if sender is not None:
            sender.close()
        store.close()
