"""A manager steers a running transition by replying with a word or a short line."""

from __future__ import annotations

import pytest

from mailer.handoff.commands import Command, parse_command, subject_transition_id


@pytest.mark.parametrize(
    ("reply", "verb"),
    [
        ("status", "status"),
        ("Status?", "status"),
        ("pause", "pause"),
        ("Please pause.", "pause"),
        ("pause this transition please", "pause"),
        ("resume", "resume"),
        ("Resume!", "resume"),
        ("cancel", "cancel"),
        ("Cancel the transition.", "cancel"),
        ("send workbook", "send workbook"),
        ("Please send the workbook", "send workbook"),
        ("digest", "digest"),
        ("DIGEST", "digest"),
    ],
)
def test_each_simple_command_is_understood_however_it_is_typed(reply: str, verb: str) -> None:
    assert parse_command(reply + "\n\nSent from my iPhone\n") == Command(verb)


@pytest.mark.parametrize(
    ("reply", "verb"),
    [("send", "send"), ("Send it", "send"), ("Approve", "send"), ("approved!", "send")]
    + [("skip", "skip"), ("Skip this one.", "skip")],
)
def test_a_draft_is_approved_or_skipped_with_one_word(reply: str, verb: str) -> None:
    assert parse_command(reply) == Command(verb)


def test_a_greeting_and_a_bullet_before_the_command_are_looked_past() -> None:
    reply = "Hi,\n\n  - please pause\n\nWe are waiting on legal.\n"

    assert parse_command(reply) == Command("pause")


def test_a_command_on_the_greeting_line_itself_is_found() -> None:
    assert parse_command("Hi Transitions, please resume!") == Command("resume")
    assert parse_command("Thanks!\nApprove") == Command("send")


def test_set_canonicalises_the_field_and_keeps_the_value_as_written() -> None:
    command = parse_command("set nCSM: Sam Lee <Sam.Lee@ourco.com>")

    assert command == Command("set", field="Incoming CSM", value="Sam Lee <Sam.Lee@ourco.com>")


@pytest.mark.parametrize(
    ("reply", "field", "value"),
    [
        ("Set effective date: 15 Jan 2027", "Effective date", "15 Jan 2027"),
        ("set Renewal = 2027-06-30", "Renewal date", "2027-06-30"),
        ("Please set the last day to 2027-01-29.", "Last day", "2027-01-29."),
        ("set notes: Olga is the champion.", "Notes", "Olga is the champion."),
        ("set last day to 2027-01-29", "Last day", "2027-01-29"),
        ("set notes to call Olga at 10:30", "Notes", "call Olga at 10:30"),
        ("set To CSM: kai@ourco.com", "Incoming CSM", "kai@ourco.com"),
        ("- set **Type**: hard", "Type", "hard"),
    ],
)
def test_set_accepts_a_colon_an_equals_sign_or_to(reply: str, field: str, value: str) -> None:
    command = parse_command(reply)

    assert command is not None
    assert (command.verb, command.field, command.value) == ("set", field, value)


def test_set_with_an_unknown_field_keeps_the_label_so_the_answer_can_name_it() -> None:
    assert parse_command("set region: EMEA") == Command("set", field="region", value="EMEA")


@pytest.mark.parametrize(
    ("reply", "command"),
    [
        ("send now: customer intro", Command("send now", step="customer intro")),
        ("Send now intro-email", Command("send now", step="intro-email")),
        ("skip: recap", Command("skip", step="recap")),
        ("Skip - leadership check-in", Command("skip", step="leadership check-in")),
    ],
)
def test_a_step_can_be_sent_now_or_skipped_by_name(reply: str, command: Command) -> None:
    assert parse_command(reply) == command


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "\n\n",
        "Looks good to me, thanks for setting it up.\nstatus",
        "Can we talk about the status tomorrow?",
        "> status",
        "skipped the call yesterday",
        "Hi,\n\nI have a question about Olga.",
    ],
)
def test_prose_is_never_taken_for_a_command(reply: str) -> None:
    assert parse_command(reply) is None


@pytest.mark.parametrize(
    ("subject", "transition_id"),
    [
        ("Re: [TR-0042] Fabrikam handoff: questionnaire", "TR-0042"),
        ("RE: FW: [ tr-0042 ] Fabrikam", "TR-0042"),
        ("status TR-0042", "TR-0042"),
        ("Fabrikam handoff TR-42", "TR-0042"),
        ("[TR-12345] Big book of business", "TR-12345"),
    ],
)
def test_the_transition_id_is_found_in_a_subject(subject: str, transition_id: str) -> None:
    assert subject_transition_id(subject) == transition_id


def test_a_bracketed_id_wins_over_a_bare_one_mentioned_in_the_subject() -> None:
    assert subject_transition_id("Same as TR-0007? [TR-0042]") == "TR-0042"


@pytest.mark.parametrize("subject", ["Fabrikam handoff", "STR-0042 parts list", "TR-"])
def test_a_subject_without_an_id_gives_none(subject: str) -> None:
    assert subject_transition_id(subject) is None
