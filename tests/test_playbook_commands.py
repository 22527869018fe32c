"""Issue 4's stories: the manager steers a running transition by email, on real mail servers.

Dana answers the assistant's first email with one command on the first line; the plan, what
goes out and when, follow. Nobody else may steer it.
"""

from __future__ import annotations

from datetime import timedelta

from assistant import ADDRESS, Assistant, SimulatedTime
from letters import plain
from test_playbook_story import (
    ALL_ANSWERS,
    DANA,
    INTRO,
    PAT,
    RITA,
    SAM,
    SOFT_REQUEST,
    inbox,
    jan,
    reply,
    request,
    sent_at,
    step_of,
    steps_in,
    text,
    the_one,
)

NINA = "nina@example.com"


def answers_to_dana(mail) -> list[str]:
    """The texts of the assistant's answers to Dana's commands, oldest first."""
    return [text(m) for m in inbox(mail, DANA)
            if step_of(m) in ("command_result", "status", "command_unknown")]


def command(mail, sim: SimulatedTime, words: str) -> str:
    """Dana replies to the transition's first email with `words`; returns the answer."""
    before = len(answers_to_dana(mail))
    reply(mail, the_one(mail, DANA, "request_accepted"), words)
    sim.at(sim.now + timedelta(minutes=1))
    answers = answers_to_dana(mail)
    assert len(answers) == before + 1, f"no answer to {words!r}: {steps_in(mail, DANA)}"
    return answers[-1]


def started(mail, tmp_path) -> SimulatedTime:
    start = jan(4, 8)
    request(mail, SOFT_REQUEST)
    sim = SimulatedTime(Assistant(tmp_path, mail), start)
    sim.at(start)
    return sim


def test_status_pause_and_resume(mail, tmp_path):
    sim = started(mail, tmp_path)
    try:
        status = command(mail, sim, "status")
        assert "It is running." in status and "No answers yet." in status
        assert "First reminder to finish the handoff questionnaire" in status
        assert "Wed 06 Jan 2027 09:30" in status

        paused = command(mail, sim, "Hi,\n\nPlease pause.\n\nDana")
        assert "paused" in paused and "“resume”" in paused
        sim.run_until(jan(8, 12))
        assert steps_in(mail, SAM) == ["questionnaire"], "nothing goes out while paused"
        assert "intro_text_reminder" not in steps_in(mail, RITA)

        resumed = command(mail, sim, "resume")
        assert "running again" in resumed
        sim.run_until(jan(8, 13))
        # What fell due during the pause goes out once, now; the second reminder keeps its pace.
        assert sent_at(the_one(mail, SAM, "questionnaire_reminder_1")).date() == jan(8, 0).date()
        assert "questionnaire_reminder_2" not in steps_in(mail, SAM)
        assert steps_in(mail, RITA).count("intro_text_reminder") == 1
    finally:
        sim.close()


def test_cancel_stops_everything_and_old_reply_addresses_stop_working(mail, tmp_path):
    sim = started(mail, tmp_path)
    try:
        cancelled = command(mail, sim, "cancel")
        assert "cancelled" in cancelled and "Nothing more will be sent" in cancelled
        counts = {who: len(inbox(mail, who)) for who in (SAM, RITA, DANA)}
        sim.run_until(jan(20, 12), every=timedelta(hours=2))
        assert {who: len(inbox(mail, who)) for who in (SAM, RITA, DANA)} == counts

        reply(mail, the_one(mail, SAM, "questionnaire"), ALL_ANSWERS)
        sim.at(sim.now + timedelta(minutes=30))
        refusal = inbox(mail, SAM)[-1]
        assert "closed" in text(refusal), "a token of a cancelled transition is refused"
        assert "workbook" not in steps_in(mail, RITA)
        assert inbox(mail, PAT) == []
    finally:
        sim.close()


def test_set_the_effective_date_reschedules_what_depends_on_it(mail, tmp_path):
    sim = started(mail, tmp_path)
    try:
        reply(mail, the_one(mail, SAM, "questionnaire"), ALL_ANSWERS)
        reply(mail, the_one(mail, RITA, "intro_text_prompt"), INTRO)
        sim.at(jan(4, 9))
        answer = command(mail, sim, "set effective date: 2027-02-01")
        assert "Effective date is now 2027-02-01" in answer
        assert "\nThe plan now\n" in answer
        # The introduction moves with it: five business days before 1 February.
        intro_line = next(line for line in answer.splitlines()
                          if "introduces the new CSM to the customer" in line)
        assert "Mon 25 Jan 2027 10:00" in intro_line
        assert "Ask the incoming CSM for a few lines" in answer and "sent" in answer

        sim.run_until(jan(18, 12), every=timedelta(hours=2))
        assert "customer_intro_draft" not in steps_in(mail, SAM), "no longer on the 18th"
        sim.run_until(jan(25, 10))
        draft = the_one(mail, SAM, "customer_intro_draft")
        assert sent_at(draft) == jan(25, 10)
        assert "Monday 1 February 2027" in text(draft)
        assert steps_in(mail, RITA).count("intro_text_prompt") == 1, "nothing sent twice"
    finally:
        sim.close()


def test_send_now_skip_and_send_workbook(mail, tmp_path):
    sim = started(mail, tmp_path)
    try:
        reply(mail, the_one(mail, SAM, "questionnaire"), "1. Contacts\nPat Lee, VP, pat@acme.com")
        sim.at(jan(4, 10))
        reply(mail, the_one(mail, DANA, "request_accepted"), "send workbook")
        sim.at(jan(4, 10, 30))
        workbook = the_one(mail, RITA, "workbook")  # the answer is the workbook itself
        assert workbook["Cc"] == "Dana Reyes <dana@example.com>"
        assert any(p.get_filename().endswith(".xlsx") for p in workbook.iter_attachments())

        skipped = command(mail, sim, "skip: joint call nudge")
        assert "will not be sent" in skipped
        # Dana does not wait for Rita's words: the introduction goes to Sam for approval now.
        sent = command(mail, sim, "send now: customer intro")
        assert "the draft went to Sam Okafor to approve" in sent
        draft = the_one(mail, SAM, "customer_intro_draft")
        reply(mail, draft, "send")
        sim.run_until(jan(20, 12))
        assert steps_in(mail, PAT)[:1] == ["customer_intro"]
        assert "joint_call_nudge" not in steps_in(mail, SAM) + steps_in(mail, RITA)
        again = command(mail, sim, "send now: customer intro")
        assert "already sent" in again
        assert steps_in(mail, PAT).count("customer_intro") == 1

        unknown = command(mail, sim, "send now: a fruit basket")
        assert "There is no step called 'a fruit basket'" in unknown
        assert "“customer intro”" in unknown
        typo = command(mail, sim, "skip: the recpa")
        assert "nothing was done. Did you mean: “customer recap”" in typo, typo
        by_title = command(mail, sim, "skip: Recap to the customer in the new CSM's name")
        assert "'Recap to the customer in the new CSM's name' will not be sent" in by_title
    finally:
        sim.close()


def test_an_unknown_command_gets_a_helpful_answer_and_strangers_cannot_steer(mail, tmp_path):
    sim = started(mail, tmp_path)
    try:
        puzzled = command(mail, sim, "Could we move faster on this one?")
        assert "could not find a command" in puzzled
        assert "- set <field>: <value>, for example" in puzzled
        assert "- customer intro: The outgoing CSM introduces" in puzzled

        # Sam, who is not the manager, tries to cancel with the id in the subject.
        mail.send(plain(sender="Sam Okafor <sam@example.com>", to=ADDRESS,
                        subject="[TR-0001] cancel", body="cancel\n"),
                  mail_from=SAM, rcpt_to=[ADDRESS])
        sim.at(sim.now + timedelta(minutes=30))
        refusal = inbox(mail, SAM)[-1]
        assert "only the manager" in text(refusal)
        status = command(mail, sim, "status")
        assert "It is running." in status
    finally:
        sim.close()


def test_a_new_incoming_csm_is_briefed_and_asked_for_their_own_introduction(mail, tmp_path):
    sim = started(mail, tmp_path)
    try:
        reply(mail, the_one(mail, RITA, "intro_text_prompt"), INTRO)
        reply(mail, the_one(mail, SAM, "questionnaire"), ALL_ANSWERS)
        sim.at(jan(4, 9))
        answer = command(mail, sim, "set incoming csm: Nina Berg <nina@example.com>")
        assert "Incoming CSM is now Nina Berg <nina@example.com>" in answer
        sim.at(jan(4, 9, 30))
        assert "taking over Acme Corp" in str(the_one(mail, NINA, "incoming_notice")["Subject"])
        prompt = the_one(mail, NINA, "intro_text_prompt")
        # The workbook already went to Rita: it reaches Nina only on Dana's own confirmation.
        assert "workbook" not in steps_in(mail, NINA)
        reply(mail, the_one(mail, DANA, "workbook_confirm"), "send")
        sim.at(jan(4, 9, 40))
        assert the_one(mail, NINA, "workbook")["Cc"] == "Dana Reyes <dana@example.com>"

        # Rita's old reply address no longer counts; Nina's words go into the introduction.
        reply(mail, the_one(mail, RITA, "intro_text_prompt"), "Actually, one more thing.")
        nina_words = "I have looked after logistics customers for eight years and enjoy it."
        reply(mail, prompt, nina_words)
        sim.run_until(jan(18, 10))
        draft = text(the_one(mail, SAM, "customer_intro_draft"))
        assert "Nina Berg" in draft and nina_words in draft
        assert INTRO not in draft and "Rita" not in draft
    finally:
        sim.close()
