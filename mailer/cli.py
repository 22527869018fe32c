"""The `mailer` command: run, demo, status, check, deliver.

Ordinary mistakes (a missing file, a wrong setting, a server that cannot be reached, an
unknown transition id) end in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from dotenv import dotenv_values

from mailer.config.settings import Settings, load_settings
from mailer.errors import ConfigError, ConfigErrors, MailerError

DISTRIBUTION = "handover-mailer"

# What each environment variable means, for the "environment:" part of each command's help.
ENVIRONMENT = {
    "MAILER_ADDRESS": "the assistant's own address (default transitions@localhost)",
    "MAILER_IMAP_URL": "the inbox, imap://user@host:port/INBOX or imaps://... "
                       "(unset: the embedded maildir)",
    "MAILER_IMAP_PASSWORD": "the IMAP password (never logged)",
    "MAILER_SMTP_URL": "the outgoing server, smtp://user@host:587 or smtps://... "
                       "(unset: mail waits in the outbox)",
    "MAILER_SMTP_PASSWORD": "the SMTP password (never logged)",
    "MAILER_OAUTH2_TOKEN_COMMAND": "a command printing an OAuth2 access token; "
                                   "IMAP and SMTP then sign in with XOAUTH2",
    "MAILER_DATA_DIR": "the database, workbooks and archive (default ./var)",
    "MAILER_OUTBOX": "the outbound spool (default ./outbox)",
    "MAILER_RULES": "inbox_rules.yaml (default ./inbox_rules.yaml, else the shipped one)",
    "MAILER_PLAYBOOKS": "the playbooks folder (default ./playbooks, else the shipped one)",
    "MAILER_TEMPLATES": "the templates folder (default ./templates, else the shipped one)",
    "MAILER_TIMEZONE": "the team's time zone, e.g. Europe/Berlin (default UTC)",
    "MAILER_BUSINESS_HOURS": "when customer mail may leave (default 09:00-17:00)",
    "MAILER_HOLIDAYS": "dates with no business, e.g. 2026-12-24,2026-12-25",
    "MAILER_DIGEST_RECIPIENTS": "the leads who get the weekly digest",
    "MAILER_DIGEST_DAY": "the digest's weekday (default monday)",
    "MAILER_DIGEST_TIME": "the digest's time of day (default 08:00)",
    "MAILER_COMPANY": "your company's name in meeting titles (default: from MAILER_ADDRESS)",
    "MAILER_WATCHDOG_MINUTES": "how often a canary mail tests the round trip (default 15, "
                               "0 turns it off)",
    "MAILER_SMTP_CONNECTIONS": "how many mails may be sent at once (default 3, 1 for one at "
                               "a time)",
    "MAILER_LOG_FORMAT": "json for one JSON object per log line (default: plain text)",
}
_CONFIGURATION = ("MAILER_RULES", "MAILER_PLAYBOOKS", "MAILER_TEMPLATES")
_SERVERS = ("MAILER_IMAP_URL", "MAILER_IMAP_PASSWORD", "MAILER_SMTP_URL",
            "MAILER_SMTP_PASSWORD", "MAILER_SMTP_CONNECTIONS", "MAILER_OAUTH2_TOKEN_COMMAND")
_READS = {
    "run": tuple(ENVIRONMENT),
    "check": ("MAILER_ADDRESS", *_SERVERS, "MAILER_DATA_DIR", *_CONFIGURATION,
              "MAILER_TIMEZONE"),
    "status": ("MAILER_DATA_DIR", "MAILER_OUTBOX", *_CONFIGURATION, "MAILER_TIMEZONE",
               "MAILER_IMAP_URL", "MAILER_SMTP_URL", "MAILER_WATCHDOG_MINUTES"),
    "deliver": ("MAILER_DATA_DIR",),
    "demo": _CONFIGURATION,
}
# Names the product's own log lines carry as fields (see pipeline.handle): JSON output keeps them.
LOG_FIELDS = ("sender", "subject", "outcome", "transition", "reason", "source")


def version() -> str:
    # Imported here: importlib.metadata and the look-up cost 18 ms at every start otherwise.
    from importlib import metadata

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown (not installed: run it through ./dev or pip install)"


class _VersionAction(argparse.Action):
    """`--version`, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:  # noqa: A002
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0,
                         help=help or "show the program's version number and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        print(f"{parser.prog} {version()}")  # as argparse's own action: on stdout
        parser.exit()


def _environment_help(command: str) -> str:
    names = _READS[command]
    width = max(len(name) for name in names)
    lines = [f"  {name:<{width}}  {ENVIRONMENT[name]}" for name in names]
    return ("environment (also read from a .env file in the working directory):\n"
            + "\n".join(lines))


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an ISO date-time, e.g. 2027-01-15T09:00:00+00:00") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailer",
        description="An email-driven assistant that runs the hand-over of a customer account "
                    "from one CSM to another.",
        epilog="Run `mailer COMMAND --help` for a command's options and the environment "
               "variables it reads.")
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also show the assistant's own debug lines")
    # `-v` after the command works too; SUPPRESS keeps it from undoing a `-v` given before.
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="also show the assistant's own debug lines")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=summary, description=description, parents=[verbose],
            epilog=_environment_help(name), formatter_class=argparse.RawDescriptionHelpFormatter)

    run = command("run", "watch the inbox, run due steps, send the outbox",
                  "Run the service: read new mail (IMAP IDLE or the embedded maildir), run the "
                  "playbook steps that fall due and send the outbox, until stopped (SIGTERM).")
    run.add_argument("--once", action="store_true",
                     help="handle what waits now, run what is due, send, then exit")
    run.add_argument("--now", type=_instant, metavar="ISO-TIME",
                     help="with --once: act as if it were this instant, e.g. "
                          "2027-01-15T09:00:00+00:00")
    run.add_argument("--dry-run", action="store_true",
                     help="write mail to the outbox but send nothing")
    demo = command("demo", "play a whole transition on the embedded default",
                   "Play a whole soft transition with scripted replies and simulated time. "
                   "Nothing is sent: every email is written to DIR/outbox.")
    demo.add_argument("--dir", type=Path, default=Path("demo"),
                      help="where the demo keeps its data and outbox (default: ./demo)")
    status = command("status", "all transitions, or one transition's timeline",
                     "List every transition with its state and next step, or show one "
                     "transition's plan and timeline.")
    status.add_argument("transition", nargs="?", metavar="TR-ID",
                        help="a transition id, e.g. TR-0042")
    command("check", "validate the configuration and the connections",
            "Check inbox_rules.yaml, every playbook and every template together and report "
            "each problem as file:line: what is wrong (fix: ...); then sign in to the IMAP "
            "and SMTP servers when they are configured. Exits 1 when anything is wrong.")
    deliver = command("deliver", "put .eml files into the embedded maildir inbox",
                      "Put messages into the embedded maildir inbox, as a mail server would "
                      "(for trying the assistant without IMAP). `mailer run --once` then "
                      "handles them.")
    deliver.add_argument("files", nargs="+", type=Path, metavar="FILE.eml",
                         help="raw messages, as saved by a mail client")
    return parser


class JsonLines(logging.Formatter):
    """One JSON object per line, for log collectors; the message's fields kept as keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage()}
        entry.update({name: getattr(record, name) for name in LOG_FIELDS
                      if getattr(record, name, None) is not None})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(*, verbose: bool, log_format: str | None) -> None:
    """INFO from the assistant; its DEBUG lines with -v; only warnings from libraries, whose
    debug output is noise to an operator (and imapclient's carries whole messages)."""
    handler = logging.StreamHandler()
    if (log_format or "").strip().lower() == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("mailer").setLevel(logging.DEBUG if verbose else logging.INFO)


def _log_format() -> str | None:
    """MAILER_LOG_FORMAT from the environment, else from the .env file (as settings are)."""
    if "MAILER_LOG_FORMAT" in os.environ:
        return os.environ["MAILER_LOG_FORMAT"]
    dotenv = Path.cwd() / ".env"
    return dotenv_values(dotenv).get("MAILER_LOG_FORMAT") if dotenv.is_file() else None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(verbose=getattr(args, "verbose", False), log_format=_log_format())
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # a closed pipe shows here, while it can still be handled
        return code
    except (ConfigError, ConfigErrors) as exc:
        errors = exc.errors if isinstance(exc, ConfigErrors) else [exc]
        print("mailer: the configuration needs fixing first (`mailer check` lists it all):",
              file=sys.stderr)
        for error in errors:
            print(error.seen_from(Path.cwd()), file=sys.stderr)
        return 2
    except MailerError as exc:
        print(f"mailer: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `mailer status | head`: the reader has all it wanted. Send the rest nowhere, so the
        # interpreter's final flush cannot fail too, and exit as a program killed by SIGPIPE.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        return 130
    except (OSError, sqlite3.Error) as exc:
        # A folder that cannot be made or written, a database that cannot be opened: an
        # operator's mistake more often than the assistant's, so one line (details with -v).
        logging.getLogger(__name__).debug("details", exc_info=True)
        print(f"mailer: {_storage_problem(exc)}", file=sys.stderr)
        return 1


def _storage_problem(exc: OSError | sqlite3.Error) -> str:
    if isinstance(exc, OSError):
        if exc.filename:
            return f"cannot use {exc.filename}: {exc.strerror or exc}"
        return (f"the system refused what the assistant asked for: {exc.strerror or exc} "
                "(run it again with -v for the details)")
    return f"the database cannot be used: {exc} (check MAILER_DATA_DIR and its permissions)"


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from mailer.demo import run_demo

        return run_demo(args.dir)
    if args.command == "check":
        from mailer.check import report_count, run_check

        try:
            settings = load_settings()
        except (ConfigError, ConfigErrors) as exc:  # every wrong variable, in the same form
            errors = exc.errors if isinstance(exc, ConfigErrors) else [exc]
            for error in errors:
                print(error)
            return report_count(len(errors))
        return run_check(settings)
    settings = load_settings()
    if args.command == "status":
        return _status(settings, args.transition.upper() if args.transition else None)
    if args.command == "deliver":
        return _deliver(settings, args.files)
    return _run(settings, once=args.once, now=args.now, dry_run=args.dry_run)


def _deliver(settings: Settings, files: list[Path]) -> int:
    from mailer.mail.sources import MaildirSource

    # Read every file first: a typo in the third name should not leave two delivered.
    messages: list[tuple[Path, bytes]] = []
    for path in files:
        try:
            messages.append((path, path.read_bytes()))
        except OSError as exc:
            print(f"mailer deliver: cannot read {path}: {exc.strerror or exc}; nothing was "
                  "delivered", file=sys.stderr)
            return 1
    box = MaildirSource(settings.maildir_path)
    for path, raw in messages:
        box.deliver(raw)
        print(f"delivered {path} into {settings.maildir_path}")
    return 0


def _status(settings: Settings, transition_id: str | None) -> int:
    # The overview imports only the store: playbooks and templates (and the libraries behind
    # them) are loaded for one transition's timeline, or for a transition not yet planned.
    if transition_id:
        from mailer.timeline import print_timeline

        return print_timeline(settings, transition_id)
    from mailer.status import print_status

    planner = None

    def plan_next(unplanned_id: str) -> str:
        nonlocal planner
        if planner is None:
            from mailer.timeline import NextStepPlanner

            planner = NextStepPlanner(settings)
        return planner(unplanned_id)

    try:
        return print_status(settings, plan_next=plan_next)
    finally:
        if planner is not None:
            planner.close()


def _run(settings: Settings, *, once: bool, now: datetime | None, dry_run: bool) -> int:
    if now is not None and not once:
        print("mailer run: --now only makes sense with --once", file=sys.stderr)
        return 2
    # Start-up makes some ninety thousand objects that live as long as the process
    # (modules, templates, configuration); the cycle collector walked them again and again
    # while they were made, a tenth of the imports' time. It waits until they are made, and
    # then leaves them out of its walks for good (`gc.freeze`).
    gc.disable()
    try:
        from mailer.child_processes import start_child_process_server

        start_child_process_server()  # it imports the children's code while we import ours
        from mailer.app import Service, build_source
        from mailer.check import checked_configuration
        from mailer.courier_process import start_courier_process
        from mailer.flows.runtime import system_clock
        from mailer.mail.smtp import sender_for
        from mailer.mail.sources import CONNECTION_ERRORS
        from mailer.runtime import build_runtime

        # A broken template would otherwise only show when its mail is due, as a quarantined
        # message: refuse to start instead, with every problem named.
        checked = checked_configuration(settings)
        if checked.problems:
            raise ConfigErrors(checked.problems)
        rt = build_runtime(settings, clock=(lambda: now) if now else system_clock,
                           rules=checked.rules, playbooks=checked.playbooks)
        gc.freeze()
    finally:
        gc.enable()
    courier = start_courier_process(settings, send=not dry_run, fixed_now=now)
    service = Service(rt=rt, source=build_source(rt),
                      sender=sender_for(settings) if courier is None else None,
                      dry_run=dry_run, courier_process=courier)
    try:
        if once:
            try:
                report = service.run_once()
            except CONNECTION_ERRORS as exc:
                print(f"mailer run: {_server_problem(settings, exc)}", file=sys.stderr)
                return 1
            counts = rt.outbox.counts(rt.store)
            print(f"handled {report.handled} message(s), ran {report.steps_sent} step(s), "
                  f"sent {report.mails_sent} mail(s); outbox: {counts.get('queued', 0)} "
                  f"waiting, {counts.get('sent', 0)} sent, {counts.get('failed', 0)} failed")
            return 0
        logging.getLogger(__name__).info(
            "watching %s; outbox %s", settings.imap.redacted() if settings.imap
            else f"the embedded maildir {settings.maildir_path}", settings.outbox_dir)
        service.run_forever()
        return 0
    finally:
        service.close()


def _server_problem(settings: Settings, exc: BaseException) -> str:
    servers = " / ".join(url.redacted() for url in (settings.imap, settings.smtp) if url)
    detail = str(exc) or exc.__class__.__name__
    return f"a mail server could not be used ({servers}): {detail}"
