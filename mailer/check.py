"""`mailer check`: validate every editable file and try the connections."""

from __future__ import annotations

from mailer.config.inbox_rules import load_rules
from mailer.config.playbooks import load_playbooks
from mailer.config.settings import Settings
from mailer.errors import ConfigError, ConfigErrors
from mailer.handoff.playbooks import template_names
from mailer.mail.render import Renderer
from mailer.mail.smtp import SmtpSender
from mailer.mail.sources import CONNECTION_ERRORS, ImapSource
from mailer.state.store import Store

# Templates the code itself sends, besides those the playbooks name.
BUILT_IN_TEMPLATES = (
    "request_accepted", "request_problems", "questionnaire", "incoming_notice", "rejection",
    "delivery_failed", "questionnaire_receipt", "text_receipt", "note_receipt",
    "workbook_ready", "approval_request", "approval_done", "approval_closed", "edited_message",
    "command_unknown", "command_result", "status", "canary", "transition_problem",
    "workbook_confirm",
    # books of business and the leads' digest
    "book_answer", "book_incoming_notice", "combined_questionnaire", "grouped_reminder",
    "grouped_intro_prompt", "book_receipt", "book_text_receipt", "digest",
)


def check_configuration(settings: Settings) -> list[ConfigError]:
    problems: list[ConfigError] = []
    for load in (lambda: load_rules(settings.rules_path),):
        try:
            load()
        except ConfigError as exc:
            problems.append(exc)
        except ConfigErrors as exc:
            problems.extend(exc.errors)
    playbooks = {}
    try:
        playbooks = load_playbooks(settings.playbooks_dir)
    except ConfigError as exc:
        problems.append(exc)
    except ConfigErrors as exc:
        problems.extend(exc.errors)
    renderer = Renderer(settings.templates_dir)
    for name in sorted({*BUILT_IN_TEMPLATES, *template_names(playbooks)}):
        try:
            renderer.check(name)
        except ConfigError as exc:
            problems.append(exc)
    return problems


def check_connections(settings: Settings) -> list[str]:
    """Log in to IMAP and SMTP; returns human-readable failures."""
    failures: list[str] = []
    if settings.imap is not None:
        source = ImapSource(settings.imap, password=settings.imap_password,
                            store=Store(settings.database_path),
                            oauth2_command=settings.oauth2_token_command, timeout=15)
        try:
            source.connect()
        except (*CONNECTION_ERRORS, Exception) as exc:  # noqa: BLE001 - reported to the user
            failures.append(f"IMAP {settings.imap.redacted()}: {exc}")
        finally:
            source.close()
    if settings.smtp is not None:
        sender = SmtpSender(settings.smtp, password=settings.smtp_password,
                            oauth2_command=settings.oauth2_token_command, timeout=15)
        try:
            sender._loop.run_until_complete(sender._connect())
        except Exception as exc:  # noqa: BLE001 - reported to the user
            failures.append(f"SMTP {settings.smtp.redacted()}: {exc}")
        finally:
            sender.close()
    return failures


def run_check(settings: Settings) -> int:
    problems = check_configuration(settings)
    for problem in problems:
        print(problem)
    failures = check_connections(settings)
    for failure in failures:
        print(failure)
    if not settings.imap:
        print(f"inbox: embedded maildir at {settings.maildir_path} (MAILER_IMAP_URL not set)")
    if not settings.smtp:
        print(f"sending: off, mail waits in {settings.outbox_dir} (MAILER_SMTP_URL not set)")
    if problems or failures:
        print(f"{len(problems) + len(failures)} problem(s) found")
        return 1
    print("configuration OK")
    return 0
