"""Wiring: settings into a Runtime (store, templates, rules, playbooks, calendar, outbox).

Kept apart from `app.py`, which adds the IMAP and SMTP clients, so `mailer status` and the
tests load only what they need.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime

from mailer.config.inbox_rules import InboxRules, load_rules
from mailer.config.playbooks import load_playbooks
from mailer.config.settings import Settings
from mailer.flows.runtime import Runtime, system_clock
from mailer.handoff.business_time import BusinessCalendar
from mailer.handoff.playbooks import Playbook
from mailer.mail.outbox import Outbox
from mailer.mail.render import Renderer
from mailer.state.store import Store


def build_runtime(settings: Settings, *, clock: Callable[[], datetime] = system_clock,
                  rules: InboxRules | None = None,
                  playbooks: dict[str, Playbook] | None = None) -> Runtime:
    """The runtime; `rules` and `playbooks` when they were just loaded (by the start-up
    check), else read from their files."""
    # The database, the archive of every message and the workbooks hold customers' contacts
    # and contract terms: everything this process creates is for its own user only.
    os.umask(0o077)
    start, end = settings.business_hours
    return Runtime(
        settings=settings, store=Store(settings.database_path),
        renderer=Renderer(settings.templates_dir, timezone=settings.timezone),
        rules=rules if rules is not None else load_rules(settings.rules_path),
        playbooks=playbooks if playbooks is not None else load_playbooks(settings.playbooks_dir),
        calendar=BusinessCalendar(tz=settings.timezone, holidays=settings.holidays,
                                  day_start=start, day_end=end),
        outbox=Outbox(settings.outbox_dir), clock=clock)
