"""The `mailer` command: run, demo, status, check, deliver."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from mailer.config.settings import Settings, load_settings
from mailer.errors import ConfigError, ConfigErrors, MailerError


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an ISO date-time, e.g. 2027-01-15T09:00:00+00:00") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailer", description="An email-driven assistant for customer account transitions.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="watch the inbox, run due steps, send the outbox")
    run.add_argument("--once", action="store_true", help="handle what waits now, then exit")
    run.add_argument("--now", type=_instant, help="act as if it were this instant (with --once)")
    run.add_argument("--dry-run", action="store_true",
                     help="write to the outbox but send nothing")
    demo = commands.add_parser("demo", help="play a whole transition on the embedded default")
    demo.add_argument("--dir", type=Path, default=Path("demo"),
                      help="where the demo keeps its data and outbox (default: ./demo)")
    status = commands.add_parser("status", help="all transitions, or one transition's timeline")
    status.add_argument("transition", nargs="?", help="a transition id, e.g. TR-0042")
    commands.add_parser("check", help="validate the configuration and the connections")
    deliver = commands.add_parser(
        "deliver", help="put .eml files into the embedded maildir inbox (no IMAP configured)")
    deliver.add_argument("files", nargs="+", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # imapclient's DEBUG log carries whole messages, reply tokens included: never show it.
    logging.getLogger("imapclient").setLevel(logging.INFO)
    try:
        return _dispatch(args)
    except (ConfigError, ConfigErrors) as exc:
        print(f"Configuration problem:\n{exc}", file=sys.stderr)
        return 2
    except MailerError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from mailer.demo import run_demo

        return run_demo(args.dir)
    settings = load_settings()
    if args.command == "check":
        from mailer.check import run_check

        return run_check(settings)
    if args.command == "status":
        from mailer.status import print_status

        return print_status(settings, args.transition)
    if args.command == "deliver":
        from mailer.mail.sources import MaildirSource

        box = MaildirSource(settings.maildir_path)
        for path in args.files:
            box.deliver(path.read_bytes())
            print(f"delivered {path} into {settings.maildir_path}")
        return 0
    return _run(settings, once=args.once, now=args.now, dry_run=args.dry_run)


def _run(settings: Settings, *, once: bool, now: datetime | None, dry_run: bool) -> int:
    from mailer.app import Service, build_sender, build_source
    from mailer.mail.sources import CONNECTION_ERRORS
    from mailer.runtime import build_runtime

    if now is not None and not once:
        print("--now only makes sense with --once", file=sys.stderr)
        return 2
    from mailer.flows.runtime import system_clock

    rt = build_runtime(settings, clock=(lambda: now) if now else system_clock)
    service = Service(rt=rt, source=build_source(rt), sender=build_sender(settings),
                      dry_run=dry_run)
    try:
        if once:
            try:
                report = service.run_once()
            except CONNECTION_ERRORS as exc:
                print(f"Error: a mail server could not be used: {exc}", file=sys.stderr)
                return 1
            counts = rt.outbox.counts(rt.store)
            print(f"handled {len(report.handled)} message(s), ran {report.steps_sent} step(s), "
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
