"""The wired, transport-free parts one message or one scheduler pass needs.

Built once per process (`mailer.runtime.build_runtime`); the pipeline, the scheduler and the
flows take a Runtime and never import IMAP or SMTP code.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mailer.config.inbox_rules import InboxRules
from mailer.config.settings import Settings
from mailer.handoff.business_time import BusinessCalendar
from mailer.handoff.playbooks import Playbook
from mailer.mail.outbox import Outbox
from mailer.mail.render import Renderer
from mailer.state.store import Store


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    store: Store
    renderer: Renderer
    rules: InboxRules
    playbooks: dict[str, Playbook]
    calendar: BusinessCalendar
    outbox: Outbox
    clock: Callable[[], datetime] = system_clock
    random_bytes: Callable[[int], bytes] = secrets.token_bytes
    form_cache: dict[str, bytes] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return self.settings.address
