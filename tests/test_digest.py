"""Issue 5's digest: a lead sees every transition in flight, what is stuck and what is due.

The first test builds a portfolio with a transition in every phase of the soft playbook (plus
a paused, a finished and a stuck one) and checks the digest and its workbook cell by cell. The
others send the digest through the real mail servers: weekly, once, and on request.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from assistant import ADDRESS, Assistant, parse, text_of
from letters import plain
from openpyxl import load_workbook

from mailer.flows.digest import gather_digest
from mailer.flows.request import open_transition
from mailer.flows.runtime import Runtime
from mailer.flows.schedule import save_step_state
from mailer.handoff.model import InboundMessage, Person, TransitionRequest
from mailer.handoff.playbooks import PHASES
from mailer.handoff.portfolio_workbook import build_portfolio
from mailer.handoff.scheduling import StepState
from mailer.handoff.transitions import COMPLETED, PAUSED
from mailer.runtime import build_runtime
from mailer.state.store import iso
from mailer.state.transition_records import load_transition, save_transition

MONDAY_8 = datetime(2027, 1, 11, 8, 0, tzinfo=UTC)
DANA = Person("Dana Manager", "dana@example.com")
SAM, KIM = Person("Sam Jones", "sam@example.com"), Person("Kim Ode", "kim@example.com")
RITA, LEE = Person("Rita Patel", "rita@example.com"), Person("Lee Wong", "lee@example.com")
ALL_ANSWERS = {1: "Pat Lee, CTO, pat@x.test, champion", 2: "Good", 4: "None", 6: "Grow",
               8: "Renews 2027-06-30", 9: "Low"}


def request_mail(account: str) -> InboundMessage:
    return InboundMessage(message_id=f"<{account.lower()}@example.com>",
                          subject=f"Transition {account}", from_name=DANA.name,
                          from_email=DANA.email, to=(ADDRESS,))


def start(rt: Runtime, account: str, outgoing: Person, incoming: Person, *, received: datetime,
          effective: date | None, done_before: str | None = None,
          answers: dict[int, str] | None = None, intro: str = "") -> str:
    """A transition whose steps in phases before `done_before` (all, with "all") went out."""
    request = TransitionRequest(account=account, outgoing=outgoing, incoming=incoming,
                                customer_contacts=(Person("Pat", f"pat@{account.lower()}.test"),),
                                effective_date=effective, renewal_date=date(2027, 6, 30))
    with rt.store.transaction():
        t = open_transition(rt, request, request_mail(account), now=received)
        limit = len(PHASES) if done_before == "all" else \
            PHASES.index(done_before) if done_before else 0
        for step in rt.playbooks[t.playbook].steps:
            if PHASES.index(step.phase) < limit:
                save_step_state(rt.store, t.id, step.id,
                                StepState(status="sent", completed_at=received))
        for number, text in (answers or {}).items():
            rt.store.run("INSERT INTO current_answers(transition_id, section, text) "
                         "VALUES(?,?,?)", t.id, number, text)
    if intro:
        update(rt, t.id, intro_text=intro)
    return t.id


def outbound(rt: Runtime, tid: str, kind: str, subject: str, *, status: str,
             at: datetime, to: str) -> None:
    with rt.store.transaction():
        rt.store.run("INSERT INTO outbound(message_id, transition_id, kind, envelope_from,"
                     " recipients_json, subject, raw, status, created_at, sent_at)"
                     " VALUES(?,?,?,?,?,?,?,?,?,?)", f"<{tid}.{kind}.{at.timestamp()}@t>", tid,
                     kind, "transitions+bounce@example.com", json.dumps([to]), subject, b"",
                     status, iso(at), iso(at))


def update(rt: Runtime, tid: str, **changes: object) -> None:
    t = load_transition(rt.store, tid)
    with rt.store.transaction():
        save_transition(rt.store, replace(t, **changes), now=MONDAY_8)


def portfolio(rt: Runtime) -> None:
    """Twelve transitions: one per phase of the soft playbook, and the awkward cases."""
    week_ago = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    yesterday = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
    future = date(2027, 1, 20)
    start(rt, "Initech", SAM, RITA, received=MONDAY_8 - timedelta(hours=1), effective=future)
    globex = start(rt, "Globex", SAM, LEE, received=week_ago, effective=None, intro="Hello!")
    for step, at in (("intro_text_prompt", week_ago),
                     ("questionnaire_reminder_1", datetime(2027, 1, 6, 9, 30, tzinfo=UTC)),
                     ("questionnaire_reminder_2", datetime(2027, 1, 8, 9, 30, tzinfo=UTC))):
        with rt.store.transaction():
            save_step_state(rt.store, globex, step, StepState(status="sent", completed_at=at))
    outbound(rt, globex, "questionnaire", "TR-0002 handoff questions for Globex",
             status="failed", at=week_ago, to=SAM.email)
    start(rt, "Umbrella", KIM, RITA, received=week_ago, effective=date(2027, 1, 13),
          done_before="communicate", answers=ALL_ANSWERS)
    for account, phase in (("Hooli", "cadence"), ("Stark", "recap"),
                           ("Wayne", "update_systems"), ("Acme", "debrief"),
                           ("Soylent", "checkin")):
        start(rt, account, KIM, LEE, received=yesterday, effective=future, done_before=phase,
              answers=ALL_ANSWERS, intro="Hello!")
    tyrell = start(rt, "Tyrell", SAM, RITA, received=yesterday, effective=future,
                   done_before="all", answers=ALL_ANSWERS, intro="Hello!")
    update(rt, tyrell, workbook_version=1,
           workbook_path=str(rt.settings.workbooks_dir / tyrell / "Tyrell handoff TR-0009.xlsx"))
    paused = start(rt, "Cyberdyne", SAM, LEE, received=MONDAY_8 - timedelta(hours=2),
                   effective=future)
    update(rt, paused, status=PAUSED)
    earlier = start(rt, "initech ", KIM, SAM, received=datetime(2027, 1, 2, 9, tzinfo=UTC),
                    effective=date(2027, 1, 5), done_before="all")
    update(rt, earlier, status=COMPLETED)
    outbound(rt, "TR-0001", "questionnaire", "TR-0001 handoff questions for Initech",
             status="sent", at=MONDAY_8 - timedelta(hours=1), to=SAM.email)
    outbound(rt, "TR-0003", "workbook", "TR-0003 handoff workbook for Umbrella",
             status="sent", at=datetime(2027, 1, 8, 15, tzinfo=UTC), to=RITA.email)
    outbound(rt, "TR-0003", "questionnaire", "TR-0003 handoff questions for Umbrella",
             status="sent", at=datetime(2027, 1, 4, 7, 59, tzinfo=UTC), to=KIM.email)


def sheet_rows(payload: bytes, title: str) -> list[tuple]:
    sheet = load_workbook(io.BytesIO(payload))[title]
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]


def d(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute)  # how Excel hands dates and times back


FUTURE, RENEWAL = d(2027, 1, 20), d(2027, 6, 30)
NEXT_INTRO = "Ask the incoming CSM for a few lines introducing themself"
KT_CALL = "Knowledge-transfer call between the two CSMs"
INTRO = "The outgoing CSM introduces the new CSM to the customer"
COMMON = ("Dana Manager", "soft", "soft")
EXPECTED_TRANSITIONS = [
    ("Urgency", "Transition", "Account", "Status", "Phase", "Next step", "Next step due",
     "Risk flags", "Outgoing CSM", "Incoming CSM", "Manager", "Type", "Playbook", "Requested",
     "Effective date", "Last day", "Renewal date", "Handoff workbook",
     "Account transitions this year"),
    (86, "TR-0002", "Globex", "active", "Knowledge transfer", KT_CALL, d(2027, 1, 7, 10),
     "1 email could not be delivered; overdue: Knowledge-transfer call between the two CSMs "
     "(due 2027-01-07); no questionnaire answers after 6 days", "Sam Jones", "Lee Wong",
     *COMMON, d(2027, 1, 4), d(2027, 1, 25), None, RENEWAL, "not sent yet", 1),
    (71, "TR-0003", "Umbrella", "active", "Customer introduction", NEXT_INTRO, d(2027, 1, 4, 9),
     f"overdue: {NEXT_INTRO} (due 2027-01-04); overdue: {INTRO} (due 2027-01-06); customer "
     "not introduced yet, effective in 2 days", "Kim Ode", "Rita Patel", *COMMON,
     d(2027, 1, 4), d(2027, 1, 13), None, RENEWAL, "not sent yet", 1),
    (6, "TR-0001", "Initech", "active", "Knowledge transfer", NEXT_INTRO, d(2027, 1, 11, 7),
     "2 CSM changes for this account this year", "Sam Jones", "Rita Patel", *COMMON,
     d(2027, 1, 11), FUTURE, None, RENEWAL, "not sent yet", 2),
    (4, "TR-0010", "Cyberdyne", "paused", "Knowledge transfer", NEXT_INTRO, d(2027, 1, 11, 6),
     "paused", "Sam Jones", "Lee Wong", *COMMON, d(2027, 1, 11), FUTURE, None, RENEWAL,
     "not sent yet", 1),
    (1, "TR-0004", "Hooli", "active", "Cadence and joint calls",
     "Suggest the CSMs book joint calls with the customer", d(2027, 1, 11, 9, 30), None,
     "Kim Ode", "Lee Wong", *COMMON, d(2027, 1, 10), FUTURE, None, RENEWAL, "not sent yet", 1),
    (1, "TR-0005", "Stark", "active", "Recap", "Ask the incoming CSM for call notes and next "
     "steps", d(2027, 1, 20, 14), None, "Kim Ode", "Lee Wong", *COMMON, d(2027, 1, 10), FUTURE,
     None, RENEWAL, "not sent yet", 1),
    (1, "TR-0006", "Wayne", "active", "Update systems",
     "Remind the manager to update the CRM and account team", d(2027, 1, 21, 9, 30), None,
     "Kim Ode", "Lee Wong", *COMMON, d(2027, 1, 10), FUTURE, None, RENEWAL, "not sent yet", 1),
    (1, "TR-0007", "Acme", "active", "Debrief", "Ask the incoming CSM how the hand-over went",
     d(2027, 2, 3, 10), None, "Kim Ode", "Lee Wong", *COMMON, d(2027, 1, 10), FUTURE, None,
     RENEWAL, "not sent yet", 1),
    (1, "TR-0008", "Soylent", "active", "Leadership check-in",
     "The manager checks in with the customer", d(2027, 3, 22, 9), None, "Kim Ode",
     "Lee Wong", *COMMON, d(2027, 1, 10), FUTURE, None, RENEWAL, "not sent yet", 1),
    (1, "TR-0009", "Tyrell", "active", "Complete", "nothing left to send", None, None,
     "Sam Jones", "Rita Patel", *COMMON, d(2027, 1, 10), FUTURE, None, RENEWAL,
     "Tyrell handoff TR-0009.xlsx", 1),
    (0, "TR-0011", "initech ", "completed", "Completed", "nothing left to send", None, None,
     "Kim Ode", "Sam Jones", *COMMON, d(2027, 1, 2), d(2027, 1, 5), None, RENEWAL,
     "not sent yet", 2),
]


def test_the_portfolio_workbook_shows_every_transition_cell_by_cell(tmp_path):
    rt = build_runtime(Assistant(tmp_path).settings, clock=lambda: MONDAY_8)
    try:
        portfolio(rt)
        digest = gather_digest(rt, MONDAY_8)
        payload = build_portfolio(digest)
    finally:
        rt.store.close()

    transitions = sheet_rows(payload, "Transitions")
    assert len(transitions) == len(EXPECTED_TRANSITIONS)
    for actual, expected in zip(transitions, EXPECTED_TRANSITIONS, strict=True):
        for column, (cell, wanted) in enumerate(zip(actual, expected, strict=True)):
            assert cell == wanted, (expected[1], EXPECTED_TRANSITIONS[0][column], cell)

    assert sheet_rows(payload, "CSMs") == [
        ("CSM", "Email", "Handing over now", "Taking over now", "Handed over this year",
         "Taken over this year"),
        ("Lee Wong", "lee@example.com", 0, 7, 0, 7),
        ("Kim Ode", "kim@example.com", 6, 0, 7, 0),
        ("Sam Jones", "sam@example.com", 4, 0, 4, 1),
        ("Rita Patel", "rita@example.com", 0, 3, 0, 3)]
    accounts = sheet_rows(payload, "Accounts")
    assert accounts[:3] == [("Account", "Transitions this year", "Transition ids"),
                            ("Initech", 2, "TR-0001, TR-0011"), ("Acme", 1, "TR-0007")]
    assert len(accounts) == 1 + 10  # one row per account; Initech's two transitions share one
    assert sheet_rows(payload, "Sent last week") == [
        ("Sent at", "Transition", "Account", "What", "Subject", "To"),
        (d(2027, 1, 8, 15), "TR-0003", "Umbrella", "workbook",
         "TR-0003 handoff workbook for Umbrella", "rita@example.com"),
        (d(2027, 1, 11, 7), "TR-0001", "Initech", "questionnaire",
         "TR-0001 handoff questions for Initech", "sam@example.com")]
    due = sheet_rows(payload, "Due this week")
    assert due[1] == (d(2027, 1, 11, 9, 30), "TR-0004", "Hooli",
                      "Suggest the CSMs book joint calls with the customer",
                      "Kim Ode, Lee Wong", None)
    assert (d(2027, 1, 13, 10), "TR-0001", "Initech", INTRO, "the customer",
            "waits until the incoming CSM has sent their introduction") in due
    assert all(d(2027, 1, 11, 8) <= row[0] < d(2027, 1, 18) for row in due[1:])
    assert not any(row[1] in ("TR-0010", "TR-0009", "TR-0011") for row in due[1:]), \
        "paused and finished transitions have nothing due"

    book = load_workbook(io.BytesIO(payload))
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref.startswith("A1:")
    assert book["Transitions"].auto_filter.ref == "A1:S12"

    phases = {label: [r.transition_id for r in rows] for label, rows in digest.by_phase}
    assert phases == {"Knowledge transfer": ["TR-0001", "TR-0002", "TR-0010"],
                      "Customer introduction": ["TR-0003"],
                      "Cadence and joint calls": ["TR-0004"], "Recap": ["TR-0005"],
                      "Update systems": ["TR-0006"], "Debrief": ["TR-0007"],
                      "Leadership check-in": ["TR-0008"], "Complete": ["TR-0009"]}
    assert list(phases) == ["Knowledge transfer", "Customer introduction",
                            "Cadence and joint calls", "Recap", "Update systems", "Debrief",
                            "Leadership check-in", "Complete"]


# --- through the real mail servers -----------------------------------------------------------

LEADS = {"MAILER_DIGEST_RECIPIENTS": "lead@example.com, ops@example.com",
         "MAILER_DIGEST_DAY": "monday", "MAILER_DIGEST_TIME": "08:00"}
ACME_REQUEST = """Hi,

Account: Acme Corp
Outgoing CSM: Sam Jones <sam@example.com>
Incoming CSM: Rita Patel <rita@example.com>
Customer contacts: Pat Lee <pat@acme.test>
Effective date: 2027-02-01

Thanks, Dana
"""


def digests(mail, person: str) -> list[bytes]:
    return [e.data for e in mail.accepted if person in e.rcpt_tos
            and "Here is where every account transition stands" in text_of(e.data)]


def test_the_weekly_digest_reaches_the_leads_once_each_monday_morning(mail, tmp_path):
    assistant = Assistant(tmp_path, mail, extra_env=LEADS)
    mail.send(plain(sender="Dana Manager <dana@example.com>", to=ADDRESS, subject="Acme",
                    body=ACME_REQUEST), mail_from="dana@example.com", rcpt_to=[ADDRESS])
    assistant.run_once(now=datetime(2027, 1, 10, 12, 0, tzinfo=UTC))  # Sunday
    assistant.run_once(now=datetime(2027, 1, 11, 7, 59, tzinfo=UTC))
    assert digests(mail, "lead@example.com") == []

    for moment in (MONDAY_8 + timedelta(minutes=5), MONDAY_8 + timedelta(hours=3),
                   datetime(2027, 1, 13, 9, 0, tzinfo=UTC)):
        assistant.run_once(now=moment)
    [digest] = digests(mail, "lead@example.com")
    assert digests(mail, "ops@example.com") == [digest], "one mail to all the leads"
    message = parse(digest)
    assert message["Subject"] == "Transitions digest for the week of Monday 11 January 2027"
    assert message["Auto-Submitted"] == "auto-generated"
    body = text_of(digest).replace("\r\n", "\n")
    assert "1 is in flight" in body
    assert "- Knowledge transfer (1): TR-0001 Acme Corp" in body
    assert "- CSM: Sam Jones; Handing over: 1; Taking over: 0" in body
    assert "- CSM: Rita Patel; Handing over: 0; Taking over: 1" in body
    assert ("4 emails went out: 1 incoming notice, 1 intro text prompt, 1 questionnaire, "
            "1 request accepted.") in body
    assert ("- Tuesday 12 January 2027, 09:30 UTC: TR-0001 Acme Corp, First reminder to finish "
            "the handoff questionnaire (to Sam Jones)") in body
    assert "Nothing is overdue or stuck." in body
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "Transitions portfolio 2027-01-11.xlsx"
    rows = sheet_rows(attachment.get_content(), "Transitions")
    assert [row[1:4] for row in rows[1:]] == [("TR-0001", "Acme Corp", "active")]
    assert len(mail.messages("lead@example.com")) == 1

    assistant.run_once(now=datetime(2027, 1, 18, 8, 0, tzinfo=UTC))  # the next Monday
    assert len(digests(mail, "lead@example.com")) == 2


def test_a_lead_writes_digest_and_gets_it_at_once(mail, tmp_path):
    assistant = Assistant(tmp_path, mail)
    mail.send(plain(sender="Dana Manager <dana@example.com>", to=ADDRESS, subject="Acme",
                    body=ACME_REQUEST), mail_from="dana@example.com", rcpt_to=[ADDRESS])
    assistant.run_once(now=MONDAY_8)
    mail.send(plain(sender="Dana Manager <dana@example.com>", to=ADDRESS, subject="digest",
                    body="Digest please\n\n-- \nDana"), mail_from="dana@example.com",
              rcpt_to=[ADDRESS])
    mail.send(plain(sender="Mallory <mallory@evil.test>", to=ADDRESS, subject="digest",
                    body="digest"), mail_from="mallory@evil.test", rcpt_to=[ADDRESS])
    assistant.run_once(now=datetime(2027, 1, 13, 15, 0, tzinfo=UTC))

    [answer] = digests(mail, "dana@example.com")
    message = parse(answer)
    assert message["In-Reply-To"] and message["Auto-Submitted"] == "auto-replied"
    assert message["Subject"] == "Re: digest", "the answer stays in the lead's thread"
    assert "Hi Dana," in text_of(answer)
    assert "customer not introduced" not in text_of(answer)
    [attachment] = list(message.iter_attachments())
    assert sheet_rows(attachment.get_content(), "Transitions")[1][1] == "TR-0001"
    [refusal] = [e.data for e in mail.accepted if "mallory@evil.test" in e.rcpt_tos]
    assert "not allowed" in text_of(refusal)


@pytest.mark.parametrize("day, problem", [("funday", "MAILER_DIGEST_DAY"),
                                          ("monday", None)])
def test_a_wrong_digest_day_is_named_with_its_fix(tmp_path, day, problem):
    from mailer.config.settings import load_settings
    from mailer.errors import ConfigError

    if problem is None:
        assert load_settings({"MAILER_DIGEST_DAY": day}, cwd=tmp_path).digest_day == 0
        return
    with pytest.raises(ConfigError) as caught:
        load_settings({"MAILER_DIGEST_DAY": day}, cwd=tmp_path)
    assert problem in str(caught.value) and "monday" in str(caught.value)
