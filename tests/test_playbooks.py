"""Playbooks: CS ops edit them, `mailer check` explains mistakes, the scheduler dates them."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailer.config.playbooks import load_playbooks, missing_templates
from mailer.config.settings import SHIPPED_DEFAULTS
from mailer.errors import ConfigError, ConfigErrors
from mailer.handoff.business_time import BusinessCalendar
from mailer.handoff.playbooks import Playbook, UnknownPlaybook, choose_playbook, template_names
from mailer.handoff.scheduling import (
    Anchors,
    PlannedStep,
    StepState,
    due_steps,
    plan,
    postpone_for_out_of_office,
    silence_deadline,
    silence_outcome,
)

SHIPPED = SHIPPED_DEFAULTS / "playbooks"
BERLIN = ZoneInfo("Europe/Berlin")
TEAM = BusinessCalendar(BERLIN)
LEAD_TEMPLATES = {
    "questionnaire_reminder", "questionnaire_escalation", "intro_text_prompt",
    "kt_meeting_invite", "customer_intro", "joint_call_nudge", "new_csm_call_nudge",
    "transition_meeting_invite", "call_notes_prompt", "customer_recap",
    "update_systems_reminder", "debrief_questionnaire", "manager_checkin",
}


def berlin(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


@pytest.fixture(scope="module")
def shipped() -> dict[str, Playbook]:
    return load_playbooks(SHIPPED)


@pytest.fixture
def editable(tmp_path: Path) -> Path:
    """A copy of the shipped playbooks for a CS ops person to edit."""
    folder = tmp_path / "playbooks"
    shutil.copytree(SHIPPED, folder)
    return folder


def edit(path: Path, old: str, new: str, *, occurrence: int = 1) -> int:
    """Replace the n-th `old` with `new`; return the line number where the edit starts."""
    text = path.read_text(encoding="utf-8")
    start = -1
    for _ in range(occurrence):
        start = text.index(old, start + 1)
    path.write_text(text[:start] + new + text[start + len(old):], encoding="utf-8")
    return text.count("\n", 0, start) + 1


def problems(folder: Path) -> list[ConfigError]:
    with pytest.raises(ConfigErrors) as caught:
        load_playbooks(folder)
    return caught.value.errors


def the_problem(folder: Path) -> ConfigError:
    found = problems(folder)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def by_id(planned: list[PlannedStep]) -> dict[str, PlannedStep]:
    return {p.step.id: p for p in planned}


# --- The shipped playbooks ------------------------------------------------------------------


def test_every_shipped_playbook_loads_one_per_transition_type(
        shipped: dict[str, Playbook]) -> None:
    assert sorted(shipped) == ["abrupt", "hard", "soft"]
    assert {p.type for p in shipped.values()} == {"soft", "hard", "abrupt"}
    for playbook in shipped.values():
        assert playbook.required_sections == [1, 2, 4, 6, 8, 9]
        assert playbook.checkin_days == 60


def test_the_shipped_playbooks_use_exactly_the_agreed_templates(
        shipped: dict[str, Playbook]) -> None:
    assert template_names(shipped) == LEAD_TEMPLATES
    assert missing_templates(shipped, LEAD_TEMPLATES) == []


def test_every_playbook_covers_the_whole_hand_over(shipped: dict[str, Playbook]) -> None:
    everywhere = LEAD_TEMPLATES - {"joint_call_nudge", "new_csm_call_nudge"}
    for playbook in shipped.values():
        assert everywhere <= {step.template for step in playbook.steps}, playbook.name
        assert {"knowledge_transfer", "communicate", "cadence", "recap", "update_systems",
                "debrief", "checkin"} <= {step.phase for step in playbook.steps}


def test_the_customer_hears_from_the_right_person_for_each_type(
        shipped: dict[str, Playbook]) -> None:
    soft = shipped["soft"].step("customer_intro")
    assert (soft.sender, soft.anchor, soft.offset.amount) == ("outgoing", "effective_date", -5)
    assert soft.approval and soft.condition == "intro_text_received"
    assert soft.cc == ["incoming"]
    assert "joint_call_nudge" in {s.template for s in shipped["soft"].steps}

    hard = shipped["hard"].step("customer_intro")
    assert (hard.sender, hard.anchor) == ("outgoing", "last_day")
    assert shipped["hard"].step("new_csm_call_nudge").anchor == "step:customer_intro"

    abrupt = shipped["abrupt"].step("customer_intro")
    assert (abrupt.sender, abrupt.anchor, abrupt.offset.amount) == ("manager",
                                                                   "request_received", 0)
    assert (abrupt.on_silence, abrupt.silence_business_days) == ("send", 1)


def test_choosing_a_playbook_by_type_or_by_name(shipped: dict[str, Playbook]) -> None:
    assert choose_playbook(shipped, type="hard", name=None).name == "hard"
    assert choose_playbook(shipped, type="soft", name="abrupt").name == "abrupt"
    with pytest.raises(UnknownPlaybook, match="abrupt, hard, soft"):
        choose_playbook(shipped, type="soft", name="fast-track")


def test_check_reports_a_template_that_does_not_exist(shipped: dict[str, Playbook]) -> None:
    available = LEAD_TEMPLATES - {"customer_recap"}
    found = missing_templates({"soft": shipped["soft"]}, available)
    assert len(found) == 1
    text = (SHIPPED / "soft.yaml").read_text(encoding="utf-8").splitlines()
    assert found[0].path.endswith("soft.yaml")
    assert text[found[0].line - 1].strip() == "template: customer_recap"


# --- Mistakes a CS ops person makes while editing ------------------------------------------


def test_a_misspelt_setting_names_file_line_and_the_right_spelling(editable: Path) -> None:
    line = edit(editable / "soft.yaml", "    template: customer_intro",
                "    tempate: customer_intro")
    problem = the_problem(editable)
    assert problem.path.endswith("soft.yaml")
    assert problem.line == line
    assert "unknown setting 'tempate'" in str(problem)
    assert "did you mean 'template'?" in str(problem)


def test_an_offset_that_cannot_be_read(editable: Path) -> None:
    line = edit(editable / "hard.yaml", "offset: -3 business days", "offset: three days before")
    problem = the_problem(editable)
    assert str(problem).startswith(f"{editable / 'hard.yaml'}:{line}: step 'customer_intro'")
    assert "three days before" in problem.problem
    assert "'2 business days'" in problem.fix


def test_an_anchor_on_a_step_that_does_not_exist(editable: Path) -> None:
    line = edit(editable / "soft.yaml", "anchor: step:questionnaire_reminder_1",
                "anchor: step:questionaire_reminder_1")
    problem = the_problem(editable)
    assert problem.line == line
    assert "'questionaire_reminder_1' that does not exist" in problem.problem
    assert problem.fix == "did you mean 'questionnaire_reminder_1'?"


def test_a_reminder_that_follows_a_step_that_does_not_exist(editable: Path) -> None:
    line = edit(editable / "soft.yaml", "follows: intro_text_prompt",
                "follows: intro_prompt")
    problem = the_problem(editable)
    assert problem.line == line
    assert "'intro_prompt' that does not exist" in problem.problem
    assert problem.fix == "did you mean 'intro_text_prompt'?"


def test_reminders_continue_the_conversation_they_follow_up(
        shipped: dict[str, Playbook]) -> None:
    for playbook in shipped.values():
        steps = {step.id: step for step in playbook.steps}
        assert steps["questionnaire_reminder_2"].thread == "questionnaire"
        assert steps["questionnaire_escalation"].thread == "request"
        assert steps["call_notes_reminder"].thread == steps["call_notes_prompt"].thread
        assert steps["customer_intro"].thread == "step:customer_intro"


def test_an_anchor_that_is_not_a_known_date(editable: Path) -> None:
    line = edit(editable / "soft.yaml", "anchor: effective_date", "anchor: go_live")
    problem = the_problem(editable)
    assert problem.line == line
    assert "unknown anchor 'go_live'" in problem.problem
    assert "step:<id" in problem.fix


def test_steps_that_wait_for_each_other(editable: Path) -> None:
    # The first reminder now waits for the escalation, which waits for the second reminder,
    # which waits for the first: nothing in the loop could ever be sent.
    line = edit(editable / "abrupt.yaml", "anchor: request_received",
                "anchor: step:questionnaire_escalation")
    problem = the_problem(editable)
    assert problem.line == line
    assert problem.problem == (
        "steps wait for each other in a loop: 'questionnaire_reminder_1', which waits for "
        "'questionnaire_escalation', which waits for 'questionnaire_reminder_2', which waits "
        "for 'questionnaire_reminder_1'; none of them can go out")
    assert "request_received" in problem.fix


def test_two_steps_with_the_same_id(editable: Path) -> None:
    line = edit(editable / "hard.yaml", "id: call_notes_reminder", "id: call_notes_prompt")
    found = problems(editable)
    assert [(p.line, p.problem) for p in found] == [
        (line, "step id 'call_notes_prompt' is used twice"),
    ]


def test_a_condition_that_does_not_exist(editable: Path) -> None:
    line = edit(editable / "soft.yaml", "condition: workbook_sent", "condition: workbook_done")
    problem = the_problem(editable)
    assert problem.line == line
    assert "step 'kt_meeting_invite'" in problem.problem
    assert "answers_complete, answers_incomplete, intro_text_received" in problem.problem
    assert problem.fix == "did you mean 'workbook_sent'?"


def test_approval_without_saying_what_silence_means(editable: Path) -> None:
    path = editable / "soft.yaml"
    line = edit(path, "    on_silence: send\n    silence_business_days: 2\n", "")
    problem = the_problem(editable)
    text = path.read_text(encoding="utf-8").splitlines()
    assert text[problem.line - 1].strip() == "approval: true"
    assert problem.line == line - 1
    assert "on_silence: send" in problem.fix


def test_silence_rules_on_a_step_without_approval(editable: Path) -> None:
    line = edit(editable / "hard.yaml", "    template: update_systems_reminder\n",
                "    template: update_systems_reminder\n    on_silence: skip\n")
    problem = the_problem(editable)
    assert problem.line == line + 1
    assert "'on_silence' only applies to a step with approval" in problem.problem


def test_approval_of_a_mail_that_does_not_go_to_the_customer(editable: Path) -> None:
    line = edit(editable / "hard.yaml", "    template: debrief_questionnaire\n",
                "    template: debrief_questionnaire\n    approval: true\n")
    found = problems(editable)
    assert {p.line for p in found} == {line + 1}
    assert any("only applies to mail that goes to the customer" in p.problem for p in found)
    assert any("the assistant cannot" in p.problem for p in found)


def test_a_silence_of_zero_days_is_refused(editable: Path) -> None:
    line = edit(editable / "abrupt.yaml", "silence_business_days: 1", "silence_business_days: 0")
    problem = the_problem(editable)
    assert problem.line == line
    assert "from 1 to 20" in problem.fix


def test_a_check_in_outside_sixty_to_ninety_days(editable: Path) -> None:
    line = edit(editable / "hard.yaml", "checkin_days: 60", "checkin_days: 120")
    problem = the_problem(editable)
    assert problem.line == line
    assert problem.fix == "choose a number of days from 60 to 90"


def test_problems_in_several_files_are_reported_together(editable: Path) -> None:
    soft_line = edit(editable / "soft.yaml", "sender: outgoing", "sender: outgoing_csm")
    hard_line = edit(editable / "hard.yaml", "    kind: meeting\n", "    kind: call\n")
    found = problems(editable)
    assert sorted((Path(p.path).name, p.line) for p in found) == [
        ("hard.yaml", hard_line), ("soft.yaml", soft_line)]


def test_removing_the_only_playbook_of_a_type_is_reported(editable: Path) -> None:
    (editable / "abrupt.yaml").unlink()
    problem = the_problem(editable)
    assert "no playbook handles 'abrupt' transitions" in problem.problem


def test_an_unquoted_time_is_read_the_way_it_was_written(editable: Path) -> None:
    # YAML 1.1 turns an unquoted 10:00 into the number 600; the playbook still means 10:00.
    edit(editable / "soft.yaml", "    at: '10:00'\n    condition: intro_text_received",
         "    at: 10:00\n    condition: intro_text_received")
    assert load_playbooks(editable)["soft"].step("customer_intro").at == time(10)


# --- The dated plan --------------------------------------------------------------------------


def test_the_plan_for_a_soft_transition_requested_on_a_friday(
        shipped: dict[str, Playbook]) -> None:
    received = berlin(2027, 1, 15, 16, 0)  # a Friday afternoon
    planned = plan(shipped["soft"], Anchors(received), calendar=TEAM, states={},
                   conditions={})
    steps = by_id(planned)

    # The new CSM is asked for their introduction at once.
    assert steps["intro_text_prompt"].due_at == received
    # The first reminder waits two business days: Tuesday, not Sunday.
    assert steps["questionnaire_reminder_1"].due_at == berlin(2027, 1, 19, 9, 30)
    # The second one is counted from the first, so it is estimated, not yet dated.
    second = steps["questionnaire_reminder_2"]
    assert second.due_at is None
    assert second.expected_at == berlin(2027, 1, 21, 9, 30)
    assert "after 'First reminder" in second.blocked_reason
    # No effective date given: fifteen business days after the request, Friday 5 February.
    # The introduction goes five business days before it, once the new CSM's words are in.
    intro = steps["customer_intro"]
    assert intro.due_at == berlin(2027, 1, 29, 10, 0)
    assert intro.blocked_reason == "waits until the incoming CSM has sent their introduction"
    meeting = steps["transition_meeting_invite"]
    assert meeting.meeting_start == berlin(2027, 2, 5, 10, 0)
    assert steps["manager_checkin"].due_at == berlin(2027, 4, 6, 10, 0)  # 60 days on
    # The plan reads in date order, dated or estimated.
    moments = [p.due_at or p.expected_at for p in planned]
    assert all(m is not None for m in moments)
    assert moments == sorted(m for m in moments if m is not None)


def test_a_step_at_nine_stays_at_nine_across_the_clock_change(
        shipped: dict[str, Playbook]) -> None:
    # The Berlin clocks go forward on Sunday 28 March 2027, between these two steps.
    playbook = _one_playbook(shipped["soft"], [
        _step("before", anchor="effective_date", offset="-1 business days", at="09:00"),
        _step("after", anchor="effective_date", offset="0 days", at="09:00"),
        _step("saturday", anchor="request_received", offset="5 days"),
        _step("next_day", anchor="step:saturday", offset="1 day"),
    ])
    anchors = Anchors(berlin(2027, 3, 22, 9, 0), effective_date=date(2027, 3, 29))
    saturday = berlin(2027, 3, 27, 9, 0)
    states = {"saturday": StepState("sent", completed_at=saturday)}
    steps = by_id(plan(playbook, anchors, calendar=TEAM, states=states, conditions={}))
    before, after = steps["before"].due_at, steps["after"].due_at
    next_day = steps["next_day"].due_at
    assert before is not None and after is not None and next_day is not None
    assert (before.date(), before.hour) == (date(2027, 3, 26), 9)
    assert (after.date(), after.hour) == (date(2027, 3, 29), 9)
    assert before.astimezone(UTC).hour == 8 and after.astimezone(UTC).hour == 7
    # "One day after 09:00 on Saturday" is 09:00 on Sunday, though only 23 hours pass.
    assert next_day.hour == 9
    assert next_day.astimezone(UTC) - saturday.astimezone(UTC) == timedelta(hours=23)


def test_a_hard_transition_without_a_last_day_cannot_date_the_introduction(
        shipped: dict[str, Playbook]) -> None:
    steps = by_id(plan(shipped["hard"], Anchors(berlin(2027, 1, 15)), calendar=TEAM,
                       states={}, conditions={}))
    assert steps["customer_intro"].due_at is None
    assert "last day" in steps["customer_intro"].blocked_reason


def test_a_last_day_too_close_to_plan_backwards_is_pulled_to_the_request(
        shipped: dict[str, Playbook]) -> None:
    # Asked on Monday, the outgoing CSM leaves on Wednesday: three business days before the
    # last day has already passed, so the introduction goes as soon as it may.
    received = berlin(2027, 1, 18, 8, 0)
    anchors = Anchors(received, last_day=date(2027, 1, 20))
    steps = by_id(plan(shipped["hard"], anchors, calendar=TEAM, states={}, conditions={}))
    assert steps["customer_intro"].due_at == berlin(2027, 1, 18, 9, 0)


def test_without_an_effective_date_the_new_csm_takes_over_on_the_last_day_at_the_earliest(
        shipped: dict[str, Playbook]) -> None:
    # The hard playbook's default is five business days (Monday 25 January), but the outgoing
    # CSM stays until Friday 29 January.
    anchors = Anchors(berlin(2027, 1, 18, 8, 0), last_day=date(2027, 1, 29))
    steps = by_id(plan(shipped["hard"], anchors, calendar=TEAM, states={}, conditions={}))
    assert steps["call_notes_prompt"].due_at == berlin(2027, 1, 29, 14, 0)
    assert steps["customer_intro"].due_at == berlin(2027, 1, 26, 10, 0)


def test_a_finished_step_shows_when_it_went_out(shipped: dict[str, Playbook]) -> None:
    sent_at = berlin(2027, 1, 19, 9, 31)
    states = {"questionnaire_reminder_1": StepState("sent", completed_at=sent_at)}
    steps = by_id(plan(shipped["soft"], Anchors(berlin(2027, 1, 15, 16)), calendar=TEAM,
                       states=states, conditions={}))
    assert steps["questionnaire_reminder_1"].due_at == sent_at
    assert steps["questionnaire_reminder_2"].due_at == berlin(2027, 1, 21, 9, 30)


# --- What is due now -------------------------------------------------------------------------


def test_a_missed_window_sends_each_step_once(shipped: dict[str, Playbook]) -> None:
    # The service was down for a week. On restart the first reminder goes out once; the second
    # is counted from that moment, so the outgoing CSM does not get two at once.
    soft = shipped["soft"]
    anchors = Anchors(berlin(2027, 1, 15, 16))
    restart = berlin(2027, 1, 25, 11, 0)
    first = due_steps(soft, anchors, calendar=TEAM, states={}, conditions={}, now=restart)
    assert [p.step.id for p in first] == ["intro_text_prompt", "questionnaire_reminder_1"]

    states = {p.step.id: StepState("sent", completed_at=restart) for p in first}
    again = due_steps(soft, anchors, calendar=TEAM, states=states, conditions={}, now=restart)
    assert again == []
    later = due_steps(soft, anchors, calendar=TEAM, states=states, conditions={},
                      now=berlin(2027, 1, 27, 11, 0))
    assert [p.step.id for p in later] == ["questionnaire_reminder_2", "intro_text_reminder"]


def test_reminders_stop_once_the_answers_are_complete(shipped: dict[str, Playbook]) -> None:
    due = due_steps(shipped["soft"], Anchors(berlin(2027, 1, 15, 16)), calendar=TEAM,
                    states={}, conditions={"answers_complete": True},
                    now=berlin(2027, 1, 19, 10, 0))
    assert "questionnaire_reminder_1" not in {p.step.id for p in due}


def test_customer_mail_waits_for_business_hours(shipped: dict[str, Playbook]) -> None:
    # The abrupt introduction is due at once, but the request came in on Saturday evening.
    abrupt = shipped["abrupt"]
    anchors = Anchors(berlin(2027, 1, 16, 20, 0))
    saturday = due_steps(abrupt, anchors, calendar=TEAM, states={}, conditions={},
                         now=berlin(2027, 1, 16, 20, 5))
    assert "customer_intro" not in {p.step.id for p in saturday}
    assert "intro_text_prompt" in {p.step.id for p in saturday}  # internal mail goes now

    states = {p.step.id: StepState("sent", completed_at=p.due_at) for p in saturday}
    monday = due_steps(abrupt, anchors, calendar=TEAM, states=states, conditions={},
                       now=berlin(2027, 1, 18, 9, 0))
    assert [p.step.id for p in monday] == ["customer_intro"]
    assert monday[0].due_at == berlin(2027, 1, 18, 9, 0)


def test_a_step_waiting_for_approval_is_not_due_again(shipped: dict[str, Playbook]) -> None:
    states = {"customer_intro": StepState("awaiting_approval")}
    due = due_steps(shipped["abrupt"], Anchors(berlin(2027, 1, 18, 10)), calendar=TEAM,
                    states=states, conditions={}, now=berlin(2027, 1, 18, 10, 1))
    assert "customer_intro" not in {p.step.id for p in due}


def test_the_introduction_waits_for_the_new_csms_words(shipped: dict[str, Playbook]) -> None:
    soft = shipped["soft"]
    anchors = Anchors(berlin(2027, 1, 4, 10), effective_date=date(2027, 1, 25))
    states = _all_sent_but(soft, {"customer_intro"})
    now = berlin(2027, 1, 18, 10, 30)
    assert due_steps(soft, anchors, calendar=TEAM, states=states, conditions={},
                     now=now) == []
    due = due_steps(soft, anchors, calendar=TEAM, states=states,
                    conditions={"intro_text_received": True}, now=now)
    assert [p.step.id for p in due] == ["customer_intro"]


def test_an_out_of_office_postpones_the_reminder_past_the_return(
        shipped: dict[str, Playbook]) -> None:
    # The questionnaire went out on Friday; the outgoing CSM's auto-reply says they are back
    # on Wednesday. The reminder, due Tuesday, waits until Thursday morning.
    soft = shipped["soft"]
    anchors = Anchors(berlin(2027, 1, 15, 16))
    postponed = postpone_for_out_of_office(soft, {}, away="outgoing",
                                           back_on=date(2027, 1, 20), calendar=TEAM)
    assert set(postponed) == {"questionnaire_reminder_1", "questionnaire_reminder_2"}
    assert postponed["questionnaire_reminder_1"].not_before == berlin(2027, 1, 21, 9, 0)

    tuesday = due_steps(soft, anchors, calendar=TEAM, states=postponed, conditions={},
                        now=berlin(2027, 1, 19, 10, 0))
    assert "questionnaire_reminder_1" not in {p.step.id for p in tuesday}
    thursday = due_steps(soft, anchors, calendar=TEAM, states=postponed, conditions={},
                         now=berlin(2027, 1, 21, 9, 0))
    assert "questionnaire_reminder_1" in {p.step.id for p in thursday}


def test_a_late_meeting_invitation_does_not_invite_to_the_past(
        shipped: dict[str, Playbook]) -> None:
    # The workbook went out late, the day before the effective date was over: the invitation
    # still goes, and the call is set for the next business day at the planned hour.
    soft = shipped["soft"]
    anchors = Anchors(berlin(2027, 1, 4, 10), effective_date=date(2027, 1, 8))
    states = _all_sent_but(soft, {"kt_meeting_invite"})
    due = due_steps(soft, anchors, calendar=TEAM, states=states,
                    conditions={"workbook_sent": True}, now=berlin(2027, 1, 14, 16, 0))
    assert [p.step.id for p in due] == ["kt_meeting_invite"]
    assert due[0].meeting_start == berlin(2027, 1, 18, 14, 0)
    assert due[0].meeting_end == berlin(2027, 1, 18, 14, 45)


def test_what_a_silent_approver_means(shipped: dict[str, Playbook]) -> None:
    # The manager got the abrupt introduction's draft on Friday at 15:00 and said nothing.
    intro = shipped["abrupt"].step("customer_intro")
    drafted = berlin(2027, 1, 15, 15, 0)
    assert silence_deadline(intro, drafted_at=drafted, calendar=TEAM) == berlin(2027, 1, 18, 15)
    assert silence_outcome(intro, drafted_at=drafted, now=berlin(2027, 1, 18, 14, 59),
                           calendar=TEAM) is None
    assert silence_outcome(intro, drafted_at=drafted, now=berlin(2027, 1, 18, 15, 0),
                           calendar=TEAM) == "send"


# --- Small builders for playbooks written in the test ---------------------------------------


def _step(step_id: str, **settings: str) -> dict[str, object]:
    return {"id": step_id, "title": step_id.replace("_", " "), "phase": "communicate",
            "sender": "assistant", "to": ["manager"], "template": "update_systems_reminder",
            **settings}


def _one_playbook(base: Playbook, steps: list[dict[str, object]]) -> Playbook:
    return Playbook.model_validate({"name": "test", "type": base.type, "steps": steps})


def _all_sent_but(playbook: Playbook, pending: set[str]) -> dict[str, StepState]:
    done = datetime(2027, 1, 4, 10, tzinfo=UTC)
    return {step.id: StepState("sent", completed_at=done) for step in playbook.steps
            if step.id not in pending}
