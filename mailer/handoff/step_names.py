"""Which playbook step a person means: its title as the plan shows it, a distinctive part of
that title, or its name (`customer intro`, `customer_intro`), written loosely."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from mailer.handoff.playbooks import StepSpec

_FILLER = {"the", "a", "an", "to", "of", "for", "step", "about"}
_PUNCTUATION = re.compile(r"[\"'“”‘’`.,;:!?()\[\]]")
SUGGESTIONS = 3
CLOSE_ENOUGH = 0.6  # difflib's ratio: a typo or two, not a different word


def _words(text: str) -> list[str]:
    return _PUNCTUATION.sub(" ", text.lower().replace("_", " ").replace("-", " ")).split()


def step_name(step: StepSpec) -> str:
    """The short name people can type: `customer intro`."""
    return step.id.replace("_", " ")


@dataclass(frozen=True)
class StepMatch:
    step: StepSpec | None  # the step meant, when exactly one fits
    closest: tuple[StepSpec, ...] = ()  # otherwise the nearest ones, best first


def find_step(steps: Sequence[StepSpec], name: str) -> StepMatch:
    wanted = " ".join(_words(name))
    if not wanted:
        return StepMatch(None, tuple(steps[:SUGGESTIONS]))
    for step in steps:
        if wanted in (" ".join(_words(step.id)), " ".join(_words(step.title))):
            return StepMatch(step)
    within = [s for s in steps if wanted in " ".join(_words(s.title))
              or wanted in " ".join(_words(s.id))]
    if len(within) == 1:
        return StepMatch(within[0])
    meaningful = [w for w in wanted.split() if w not in _FILLER] or wanted.split()
    covering = [s for s in steps
                if set(meaningful) <= set(_words(s.title)) | set(_words(s.id))]
    if len(covering) == 1:
        return StepMatch(covering[0])
    if within or covering:
        unique = {s.id: s for s in [*within, *covering]}
        return StepMatch(None, tuple(unique.values())[:SUGGESTIONS])
    return StepMatch(None, _closest(steps, wanted))


def _closest(steps: Sequence[StepSpec], wanted: str) -> tuple[StepSpec, ...]:
    """The steps whose name, title or one of its words is spelt most like what was typed."""
    def score(step: StepSpec) -> float:
        texts = [" ".join(_words(step.id)), " ".join(_words(step.title))]
        if " " not in wanted:
            texts += _words(step.id) + _words(step.title)
        return max(difflib.SequenceMatcher(None, wanted, text).ratio() for text in texts)
    ranked = sorted(steps, key=score, reverse=True)
    return tuple(s for s in ranked[:SUGGESTIONS] if score(s) >= CLOSE_ENOUGH)
