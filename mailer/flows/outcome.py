"""What became of one inbound message."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    outcome: str  # processed | rejected | ignored | quarantined | duplicate | canary
    reason: str
    transition_id: str | None = None
    folder: str | None = None  # where to file it, when already decided (a message seen again)
