"""Attacks on authority: strangers and colleagues try to steer a transition that is not theirs.

Dana manages TR-0001 (Acme: Sam hands over to Rita). Every path that changes state is tried
by someone who should not be able to take it: out-of-office notices, the watchdog's canary,
commands, answers, approvals, a change of CSM. Each attack fails; beside it, the person the
path belongs to takes it and it works.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from attacks import (
    DANA,
    EVE,
    NOW,
    SAM,
    Desk,
    letter,
    parse,
    started,
    text_part,
)
from letters import REQUEST

from mailer.flows.watchdog import CANARY_HEADER, send_canary_if_due
from mailer.state.tokens import TOKEN_RE


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    d = started(tmp_path)
    yield d
    d.close()


def held_steps(desk: Desk) -> dict[str, str]:
    return {r["step_id"]: r["not_before"] for r in desk.store.all(
        "SELECT step_id, not_before FROM steps WHERE transition_id='TR-0001' "
        "AND not_before IS NOT NULL")}


def out_of_office(*, sender: str, to: str, back: str, subject: str = "Automatic reply: "
                  "Handoff questions", in_reply_to: str | None = None) -> bytes:
    return letter(sender=sender, to=to, subject=subject, in_reply_to=in_reply_to,
                  extra="Auto-Submitted: auto-replied\r\n",
                  body=f"I am out of the office and will be back on {back}.\n")


def token_of(address: str) -> str:
    token = address.split("+", 1)[1].split("@", 1)[0]
    assert TOKEN_RE.match(token)
    return token


# --- out-of-office ----------------------------------------------------------------------------


def test_a_strangers_out_of_office_moves_no_reminders(desk: Desk) -> None:
    sam_address = desk.reply_address("sam@example.com", "questionnaire")
    for attack in (
        out_of_office(sender=EVE, to="transitions@example.com", back="1 February 2027",
                      subject="Out of office [TR-0001]"),
        # Forged as Sam but tied to the transition only by a subject tag anyone can type.
        out_of_office(sender=SAM, to="transitions@example.com", back="1 February 2027",
                      subject="Out of office [TR-0001]"),
        # Eve answering with Sam's own reply address (learnt from a forwarded mail).
        out_of_office(sender=EVE, to=sam_address, back="1 February 2027"),
    ):
        assert desk.attempt(attack) == []
        assert held_steps(desk) == {}
    # Sam's own responder, answering the questionnaire, holds his reminders.
    desk.run(out_of_office(sender=SAM, to=sam_address, back="Friday 13 November 2026"))
    assert held_steps(desk) and desk.last_inbound()[0] == "ignored"


@pytest.mark.parametrize("back", ["1 March 2099", "12 October 2026", "2028-06-01"],
                         ids=["decades-out", "before-today", "over-a-year-out"])
def test_an_out_of_office_date_past_the_bounds_is_not_believed(desk: Desk, back: str) -> None:
    sam_address = desk.reply_address("sam@example.com", "questionnaire")
    desk.run(out_of_office(sender=SAM, to=sam_address, back=back))
    assert held_steps(desk) == {}
    assert "not believed" in desk.last_inbound()[1]
    desk.run(out_of_office(sender=SAM, to=sam_address, back="20 November 2026"))
    assert held_steps(desk)


# --- the watchdog canary ----------------------------------------------------------------------


def test_a_forged_canary_does_not_silence_the_watchdog(desk: Desk) -> None:
    rt = desk.service.rt
    send_canary_if_due(rt, NOW, every=timedelta(minutes=15))
    [genuine] = desk.outbound_since(desk.last_outbound_id() - 1)
    value = str(parse(genuine["raw"])[CANARY_HEADER])
    sent_at = rt.store.meta("canary_sent_at")
    later = "2026-11-02T10:05:00+00:00"
    for forged in (sent_at, f"{sent_at}.{'0' * 64}", value.replace(sent_at, later)):
        desk.run(letter(sender="transitions@example.com", subject="Watchdog",
                        body="canary\n", extra=f"{CANARY_HEADER}: {forged}\r\n"))
        assert rt.store.meta("canary_seen_at") == ""
    desk.run(genuine["raw"])
    assert rt.store.meta("canary_seen_at") != ""


# --- internal_domains -------------------------------------------------------------------------


@pytest.mark.parametrize("field,outsider", [
    ("rita@example.com", "Eve <eve@evil.test>"),
    ("sam@example.com", "Sam Jones <sam.jones@gmail.com>"),
    ("rita@example.com", "Rita <rita@example.com.evil.test>"),
], ids=["incoming-outside", "outgoing-private-address", "look-alike-domain"])
def test_a_request_naming_an_outsider_as_csm_is_answered_with_why(tmp_path: Path, field: str,
                                                                   outsider: str) -> None:
    desk = Desk(tmp_path)
    try:
        body = REQUEST.replace(f"<{field}>", f"<{outsider.split('<')[1]}")
        sent = desk.run(letter(sender=DANA, subject="Handover", body=body))
        assert [m["kind"] for m in sent] == ["request_problems"]
        assert "is not an address of the company (example.com)" in text_part(sent[0]["raw"])
        assert desk.transition() == {}
        sent = desk.run(letter(sender=DANA, subject="Handover", body=REQUEST))
        assert desk.transition()["id"] == "TR-0001"
    finally:
        desk.close()


def book_csv(rows: list[str]) -> bytes:
    return ("Account,Outgoing CSM,Incoming CSM,Customer contacts\n" + "\n".join(rows)).encode()


def test_a_book_row_naming_an_outsider_is_refused_and_the_good_rows_start(tmp_path: Path) -> None:
    from letters import gmail

    desk = Desk(tmp_path)
    try:
        payload = book_csv(["Acme,sam@example.com,eve@evil.test,pat@acme.com",
                            "Globex,sam@example.com,rita@example.com,hank@globex.com"])
        raw = gmail(sender=DANA, to="transitions@example.com", subject="Book", text="Book.",
                    html="<p>Book.</p>", attachment=("book.csv", payload))
        raw = raw.replace(b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                          b"text/csv")
        sent = desk.run(raw)
        answer = next(m for m in sent if m["kind"] == "book_answer")
        assert "eve@evil.test is not an address of the company" in text_part(answer["raw"])
        accounts = [r["account"] for r in desk.store.all("SELECT account FROM transitions")]
        assert accounts == ["Globex"]
        assert not any("eve@evil.test" in m["to"] for m in sent)
    finally:
        desk.close()


def command(desk: Desk, text: str, *, sender: str = DANA) -> list[dict]:
    manager = desk.reply_address("dana@example.com", "request_accepted")
    return desk.run(letter(sender=sender, to=manager, subject="Re: TR-0001", body=text + "\n"))


def test_set_cannot_hand_the_account_to_an_outsider(desk: Desk) -> None:
    before = desk.transition()
    sent = command(desk, "set incoming csm: Eve <eve@evil.test>")
    assert [m["to"] for m in sent] == [["dana@example.com"]]
    assert "not an address of the company" in text_part(sent[0]["raw"])
    assert desk.transition()["incoming_email"] == before["incoming_email"]
    command(desk, "set incoming csm: Nina Berg <nina@example.com>")
    assert desk.transition()["incoming_email"] == "nina@example.com"


ANSWERS = "\n".join(f"## {n}. Section\nAnswer {n} in full.\n" for n in range(1, 13))


def answered(desk: Desk) -> None:
    """Sam answers every section, so the workbook goes to Rita and Dana."""
    sam = desk.reply_address("sam@example.com", "questionnaire")
    from mailer.handoff.questionnaire import SECTIONS

    body = "\n".join(f"{s.number}. {s.title}\n{s.example}\n" for s in SECTIONS)
    desk.run(letter(sender=SAM, to=sam, subject="Re: Handoff questions", body=body))
    assert desk.transition()["workbook_version"] == 1, desk.last_inbound()


def test_a_new_incoming_csm_gets_the_workbook_only_on_the_managers_confirmation(desk) -> None:
    answered(desk)
    rita_token = desk.reply_address("rita@example.com", "incoming_notice")
    sent = command(desk, "set incoming csm: Nina Berg <nina@example.com>")
    assert "workbook" not in {m["kind"] for m in sent}
    assert {m["kind"] for m in sent} >= {"workbook_confirm", "incoming_notice"}
    # Rita was replaced: her reply address no longer works for TR-0001.
    desk.run(letter(sender="Rita Patel <rita@example.com>", to=rita_token, subject="Re: hi",
                    body="Here is my intro text.\n"))
    assert desk.last_inbound()[0] == "rejected"
    confirm = desk.reply_address("dana@example.com", "workbook_confirm")
    # Anyone else answering the confirmation address is refused, and nothing goes out.
    assert [m["to"] for m in desk.attempt(letter(sender="Nina <nina@example.com>", to=confirm,
                                                 subject="Re", body="send\n"))] \
        == [["nina@example.com"]]
    sent = desk.run(letter(sender=DANA, to=confirm, subject="Re: confirm", body="send\n"))
    workbook = [m for m in sent if m["kind"] == "workbook"]
    assert len(workbook) == 1 and "nina@example.com" in workbook[0]["to"]
    # One time only: the same confirmation again sends nothing more.
    sent = desk.run(letter(sender=DANA, to=confirm, subject="Re: confirm", body="send\n"))
    assert "workbook" not in {m["kind"] for m in sent}


def test_a_replaced_outgoing_csm_can_no_longer_answer(desk: Desk) -> None:
    sam = desk.reply_address("sam@example.com", "questionnaire")
    sent = command(desk, "set outgoing csm: Max Roe <max@example.com>")
    assert any(m["kind"] == "questionnaire" and m["to"] == ["max@example.com"] for m in sent)
    desk.run(letter(sender=SAM, to=sam, subject="Re", body="## 2. Sentiment\nGood.\n"))
    assert desk.last_inbound()[0] == "rejected"
    assert desk.store.one("SELECT COUNT(*) AS n FROM answers")["n"] == 0
    max_address = desk.reply_address("max@example.com", "questionnaire")
    desk.run(letter(sender="Max Roe <max@example.com>", to=max_address, subject="Re",
                    body="## 2. Sentiment\nGood.\n"))
    assert desk.store.one("SELECT COUNT(*) AS n FROM answers")["n"] == 1


# --- commands, answers and approvals --------------------------------------------------------


def test_a_stranger_in_the_thread_cannot_command(desk: Desk) -> None:
    accepted = desk.message_id("dana@example.com", "request_accepted")
    for sender in (EVE, SAM, "Rita Patel <rita@example.com>"):
        sent = desk.attempt(letter(sender=sender, subject="Re: TR-0001", body="cancel\n",
                                   in_reply_to=accepted))
        assert all(m["kind"] == "rejection" for m in sent)
    desk.run(letter(sender=DANA, subject="Re: TR-0001", body="pause\n", in_reply_to=accepted))
    assert desk.transition()["status"] == "paused"


def test_a_request_with_dates_decades_away_is_answered_not_started(tmp_path: Path) -> None:
    desk = Desk(tmp_path)
    try:
        body = REQUEST.replace("15 Dec 2026", "15 Dec 9999").replace("2027-03-31", "2100-01-01")
        sent = desk.run(letter(sender=DANA, subject="Handover", body=body))
        assert [m["kind"] for m in sent] == ["request_problems"]
        assert "more than 5 years away" in text_part(sent[0]["raw"])
        assert desk.transition() == {}
    finally:
        desk.close()


# --- one transition's bad data ----------------------------------------------------------------


def test_one_transitions_bad_data_stops_nothing_else(tmp_path: Path, capsys) -> None:
    desk = started(tmp_path)
    try:
        desk.run(letter(sender=DANA, subject="Globex handover",
                        body=REQUEST.replace("Acme Corp", "Globex")
                        .replace("sam@example.com", "max@example.com")))
        # TR-0001's stored data goes bad (an older version wrote a playbook that is gone, and
        # a date the calendar cannot hold).
        with desk.store.transaction():
            desk.store.run("UPDATE transitions SET playbook='retired', next_due_at=NULL "
                           "WHERE id='TR-0001'")
            desk.store.run("UPDATE transitions SET last_day='9999-12-31', next_due_at=NULL "
                           "WHERE id='TR-0002'")
        later = NOW + timedelta(days=20)
        for hours in range(0, 5):
            desk.run(at=later + timedelta(hours=hours))
        problems = {r["transition_id"]: r["problem"] for r in desk.store.all(
            "SELECT * FROM transition_problems")}
        assert "TR-0001" in problems
        told = [json.loads(r["recipients_json"]) for r in desk.store.all(
            "SELECT recipients_json FROM outbound WHERE kind='transition_problem'")]
        assert told.count(["dana@example.com"]) == len(problems), "each manager told once"
        # `mailer status` still lists everything.
        from mailer.status import print_status
        from mailer.timeline import NextStepPlanner

        planner = NextStepPlanner(desk.assistant.settings)
        try:
            assert print_status(desk.assistant.settings, plan_next=planner) == 0
        finally:
            planner.close()
        out = capsys.readouterr().out
        assert "TR-0001" in out and "stopped" in out and "TR-0002" in out
    finally:
        desk.close()


def test_the_service_loop_survives_a_message_it_cannot_file(desk: Desk, monkeypatch) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("the maildir went away")

    monkeypatch.setattr(desk.service.source, "file", broken)
    desk.run(letter(sender=DANA, subject="[TR-0001] status", body="status\n"))
    assert desk.last_inbound()[0] == "processed"
