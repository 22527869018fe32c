"""The words customer mail is built from: greetings, the reason for the change, and telling a
rewritten draft from a remark about it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from mailer.flows.due_steps import customer_greeting, looks_like_an_edit, reason_sentence
from mailer.handoff.model import Person, TransitionType
from mailer.handoff.transitions import Transition

SAM = Person("Sam Okafor", "sam@example.com")
DANA = Person("Dana Reyes", "dana@example.com")
TRANSITION = Transition(
    id="TR-0001", seq=1, account="Acme Corp", manager=DANA, outgoing=SAM,
    incoming=Person("Rita Patel", "rita@example.com"),
    customer_contacts=(Person("Pat Lee", "pat@acme.com"),), type=TransitionType("soft"),
    effective_date=None, last_day=None, renewal_date=None,
    reason="Sam is moving to our enterprise team", share_reason=True, playbook="soft",
    notes="", status="active", thread_root="<r@example.com>",
    request_received=datetime(2027, 1, 4, 8, tzinfo=UTC))


def test_customers_are_greeted_by_first_name_or_as_a_group() -> None:
    pat, jo, kim = (Person(n, f"{n.split()[0].lower()}@acme.com")
                    for n in ("Pat Lee", "Jo Park", "Kim Ito"))
    assert customer_greeting((pat,)) == "Hi Pat,"
    assert customer_greeting((pat, jo)) == "Hi Pat and Jo,"
    assert customer_greeting((pat, jo, kim)) == "Hi all,"


@pytest.mark.parametrize(("reason", "said"), [
    ("Sam is moving to our enterprise team", "I am moving to our enterprise team."),
    ("Sam Okafor has been promoted to team lead.", "I have been promoted to team lead."),
    ("because Sam will be on parental leave", "I will be on parental leave."),
    ("a reorganisation of the accounts", "The reason for the change: a reorganisation of "
                                         "the accounts."),
])
def test_the_outgoing_csm_gives_the_reason_in_their_own_voice(reason: str, said: str) -> None:
    assert reason_sentence(replace(TRANSITION, reason=reason), speaker=SAM) == said


def test_the_manager_gives_the_reason_as_written() -> None:
    assert reason_sentence(TRANSITION, speaker=DANA) == "Sam is moving to our enterprise team."


def test_the_reason_stays_internal_unless_it_may_be_shared() -> None:
    assert reason_sentence(replace(TRANSITION, share_reason=False), speaker=SAM) == ""
    assert reason_sentence(replace(TRANSITION, reason=" "), speaker=DANA) == ""


DRAFT = " ".join(["word"] * 120)


@pytest.mark.parametrize("remark", ["Looks good to me!", "Yes please, go ahead and send it",
                                    "Can we wait until Monday?"])
def test_a_remark_about_a_draft_is_not_taken_for_a_new_version(remark: str) -> None:
    assert not looks_like_an_edit(remark, DRAFT)


def test_a_rewritten_email_is_taken_as_the_new_version() -> None:
    rewrite = ("Hi Pat, a quick note to say that Rita Patel takes over your account from "
               "Monday. She knows everything we worked on, and she will call you this week "
               "to introduce herself. Thank you for everything, Sam")
    assert looks_like_an_edit(rewrite, DRAFT)
