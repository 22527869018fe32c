"""One exception tree for the whole product.

Configuration errors always say which file, which line and what to change, because the
people who edit `inbox_rules.yaml` and `playbooks/` are CS operations staff, not developers.
"""

from __future__ import annotations

from pathlib import Path


class MailerError(Exception):
    """Base of every error the product raises on purpose."""


class ConfigError(MailerError):
    """A configuration file is wrong: names the file, the line and the fix."""

    def __init__(self, path: str | Path, line: int | None, problem: str, fix: str = "") -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        self.fix = fix
        where = f"{self.path}:{line}" if line else self.path
        text = f"{where}: {problem}"
        if fix:
            text += f" (fix: {fix})"
        super().__init__(text)

    def seen_from(self, folder: Path) -> str:
        """The message with the file named relative to `folder` when it lies inside, as
        people find it in their editor."""
        path = Path(self.path)
        if path.is_absolute() and path.is_relative_to(folder):
            return str(ConfigError(path.relative_to(folder), self.line, self.problem, self.fix))
        return str(self)


class ConfigErrors(MailerError):
    """Several configuration problems found in one pass, reported together."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class LimitReached(MailerError):
    """Doing what a message asks would go past a limit of `inbox_rules.yaml` (limits:).

    Nothing the message did is kept (its transaction is rolled back) and its sender is told
    `reason`, with `advice` on what to send instead; in the scheduler, the transition's
    manager is told."""

    def __init__(self, reason: str, advice: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.advice = advice


class MessageParseError(MailerError):
    """Raw bytes could not be turned into an InboundMessage; the message is quarantined."""
