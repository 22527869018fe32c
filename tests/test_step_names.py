"""Issue 12: a command names a step the way a manager would: its title as the plan shows it,
a distinctive part of it, or its name; an unknown step gets the closest ones as suggestions."""

from __future__ import annotations

import random

import pytest

from mailer.config.playbooks import load_playbooks
from mailer.config.settings import SHIPPED_DEFAULTS
from mailer.handoff.step_names import find_step, step_name

PLAYBOOKS = load_playbooks(SHIPPED_DEFAULTS / "playbooks")


@pytest.mark.parametrize("playbook", sorted(PLAYBOOKS))
def test_every_step_is_found_by_its_title_and_by_its_name(playbook: str) -> None:
    steps = PLAYBOOKS[playbook].steps
    rng = random.Random(playbook)
    for step in steps:
        for written in (step.title, step.title.upper(), f"“{step.title}.”", step.id,
                        step_name(step), step_name(step).title(), f"  {step.id}  "):
            assert find_step(steps, written).step == step, (written, step.id)
        # The title as copied out of a mail, with a word's case or the spacing changed.
        words = step.title.split()
        words[rng.randrange(len(words))] = words[0].swapcase()
        assert find_step(steps, " ".join(step.title.split())).step == step


@pytest.mark.parametrize(("written", "meant"), [
    ("joint calls", "joint_call_nudge"),
    ("knowledge-transfer call", "kt_meeting_invite"),
    ("recap", "customer_recap"),
    ("checks in with the customer", "manager_checkin"),
    ("the crm", "update_systems_reminder"),
    ("debrief", "debrief_questionnaire"),
])
def test_a_distinctive_part_of_the_title_is_enough(written: str, meant: str) -> None:
    steps = PLAYBOOKS["soft"].steps
    assert find_step(steps, written).step == PLAYBOOKS["soft"].step(meant)


def test_a_part_that_fits_several_steps_asks_which_one() -> None:
    steps = PLAYBOOKS["soft"].steps
    match = find_step(steps, "reminder")
    assert match.step is None
    assert {s.id for s in match.closest} <= {s.id for s in steps if "reminder" in s.id}
    assert len(match.closest) >= 2


@pytest.mark.parametrize(("written", "closest"), [
    ("custmer intro", "customer_intro"),
    ("customer introduction", "customer_intro"),
    ("recpa", "customer_recap"),
    ("manager check-in", "manager_checkin"),
])
def test_an_unknown_step_gets_the_closest_as_suggestions(written: str, closest: str) -> None:
    match = find_step(PLAYBOOKS["soft"].steps, written)
    if match.step is not None:
        assert match.step.id == closest
    else:
        assert match.closest and match.closest[0].id == closest, [s.id for s in match.closest]
