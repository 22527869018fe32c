"""Issue 12: the views tell the truth, and the same truth.

After the story has run to its end, `mailer status`, the status mail, the plan, the digest and
the portfolio agree: a finished transition is completed and no longer in flight, a step made
unnecessary is "not needed", nothing dated in the past is still "planned", and a meeting shows
when it takes place.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from datetime import UTC, datetime

import openpyxl
from assistant import ROOT
from every_mail import EveryMail, parse, text_of

from mailer.config.settings import load_settings
from mailer.flows.digest import gather_digest
from mailer.flows.schedule import plan_rows
from mailer.runtime import build_runtime
from mailer.state.transition_records import load_transition

THE_END = datetime(2027, 4, 5, 8, 0, tzinfo=UTC)


def _status(every: EveryMail, *args: str) -> str:
    env = {**os.environ, **every.environment, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "mailer", "status", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_finished_transition_is_completed_everywhere(every_mail: EveryMail) -> None:
    overview = _status(every_mail)
    acme = next(line for line in overview.splitlines() if line.startswith("TR-0001"))
    assert "completed" in acme and "active" not in acme, acme
    initrode = next(line for line in overview.splitlines() if line.startswith("TR-0005"))
    assert "cancelled" in initrode
    rt = build_runtime(load_settings(every_mail.environment))
    try:
        digest = gather_digest(rt, THE_END)
        in_flight = {row.transition_id for row in digest.in_flight}
        assert "TR-0001" not in in_flight and "TR-0005" not in in_flight, in_flight
        assert "TR-0003" in in_flight, "Initech is still moving"
        acme_row = next(r for r in digest.rows if r.transition_id == "TR-0001")
        assert acme_row.status == "completed"
    finally:
        rt.store.close()


def test_the_plan_shows_meetings_not_invitations_and_nothing_past_as_planned(
        every_mail: EveryMail) -> None:
    rt = build_runtime(load_settings(every_mail.environment))
    try:
        t = load_transition(rt.store, "TR-0003")
        assert t is not None
        rows = plan_rows(rt, t, now=THE_END)
        for row in rows:
            if row.due_at is not None and row.due_at <= THE_END:
                assert row.state not in ("planned",), (row.title, row.due, row.state)
            assert not row.due.startswith("about") or row.status != "pending" or row.blocked, row
        acme = load_transition(rt.store, "TR-0001")
        assert acme is not None
        meeting = next(r for r in plan_rows(rt, acme) if r.step_id == "transition_meeting_invite")
        assert meeting.due == "Fri 29 Jan 2027 10:00 (the meeting)", meeting.due
    finally:
        rt.store.close()
    timeline = _status(every_mail, "TR-0001")
    assert "Fri 29 Jan 2027 10:00 (the meeting)" in timeline
    plan = timeline.split("Plan:\n", 1)[1].split("Timeline:", 1)[0]
    for line in plan.splitlines():  # the same words as the status mail and the Plan sheet
        assert line.rsplit(": ", 1)[1] in ("sent", "skipped", "not needed any more"), line


def test_the_status_mail_never_calls_a_past_step_planned(every_mail: EveryMail) -> None:
    [status] = [parse(raw) for record, raw in every_mail.outbound if record["kind"] == "status"]
    sent = datetime.strptime(str(status["Date"])[:25].strip(), "%a, %d %b %Y %H:%M:%S")
    plan = text_of(status).split("\nPlan\n", 1)[1].split("\nRecent activity\n", 1)[0]
    for line in plan.splitlines():
        found = re.match(r"- (\w{3} \d\d \w{3} \d{4} \d\d:\d\d)[^:]*: .*, (.+)$", line)
        if found and found[2] == "planned":
            when = datetime.strptime(found[1], "%a %d %b %Y %H:%M")
            assert when > sent.replace(hour=0, minute=0), line
    assert "about" not in plan.split("Transition meeting", 1)[0].rsplit("\n", 1)[-1]


def _attachment(msg, suffix: str) -> bytes:  # noqa: ANN001 - an EmailMessage
    return next(p.get_content() for p in msg.iter_attachments()
                if (p.get_filename() or "").endswith(suffix))


def test_the_handoff_workbook_reads_plainly_in_the_teams_zone(every_mail: EveryMail) -> None:
    [latest] = [parse(raw) for record, raw in every_mail.outbound
                if record["kind"] == "workbook" and record["transition_id"] == "TR-0001"][-1:]
    book = openpyxl.load_workbook(io.BytesIO(_attachment(latest, ".xlsx")))
    overview = {r[0].value: r[1].value for r in book["Overview"].iter_rows(min_row=3)}
    assert [k for k in overview if "sentiment" in str(k).lower()] == ["Customer sentiment"]
    assert "Jo Park" in overview["Key contacts"], "the decision maker is a key contact"
    history = book["History"]
    assert history["A1"].value == "When (Europe/Berlin)"
    notes = [row[5] for row in history.iter_rows(min_row=2, values_only=True) if row[5]]
    assert notes and not [n for n in notes if re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", n)], notes
    assert "the handoff questionnaire" in notes
    assert "Versions" in book.sheetnames
    assert [c.value for c in book["Versions"][1]][:3] == ["Saved (Europe/Berlin)", "Version",
                                                          "What changed"]
    first = next(history.iter_rows(min_row=2, values_only=True))
    assert first[0] == datetime(2027, 1, 4, 9, 1), "09:01 in Berlin, not 08:01 UTC"


def test_the_portfolio_prints_one_page_wide(every_mail: EveryMail) -> None:
    digest = next(parse(raw) for record, raw in every_mail.outbound if record["kind"] == "digest")
    book = openpyxl.load_workbook(io.BytesIO(_attachment(digest, ".xlsx")))
    for sheet in book.worksheets:
        assert sheet.page_setup.fitToWidth == 1 and sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet.page_setup.fitToHeight == 0 and sheet.page_setup.orientation == "landscape"
