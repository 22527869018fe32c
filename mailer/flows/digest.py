"""Sending the leads' digest: every week at the configured time, or at once on request.

The weekly digest is recorded in the `digests` table in the same transaction that queues it,
so however many passes the service runs, each week's digest goes out once. A lead (any
address allowed to start transitions) can also write `digest` to the assistant and gets one
straight back; that one does not count as the week's.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from mailer.flows.outcome import Outcome
from mailer.flows.outgoing import Outgoing, person_view, queue_outgoing
from mailer.flows.problems import isolated
from mailer.flows.runtime import Runtime
from mailer.flows.schedule import (
    anchors_of,
    answered_sections,
    conditions_of,
    planned_steps,
    playbook_of,
)
from mailer.handoff.commands import DIGEST, parse_command
from mailer.handoff.digest import Digest, SentMail, TransitionFacts, build_digest
from mailer.handoff.model import InboundMessage, Person
from mailer.handoff.portfolio_workbook import build_portfolio, portfolio_filename
from mailer.handoff.questionnaire import missing_sections
from mailer.handoff.scheduling import effective_date
from mailer.handoff.transitions import Transition
from mailer.mail.compose import OutgoingAttachment
from mailer.mail.reply_text import new_text
from mailer.state.store import from_iso, iso
from mailer.state.transition_records import all_transitions

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LOOK_BACK = timedelta(days=7)
# A missed digest is caught up later in its week, once the service has sent one before.
FRESH_SETUP_GRACE = timedelta(days=1)


def digest_requested(msg: InboundMessage) -> bool:
    command = parse_command(new_text(msg.text, html=msg.html))
    return command is not None and command.verb == DIGEST


def gather_digest(rt: Runtime, now: datetime) -> Digest:
    # A transition whose data is broken is set aside (its manager told), not the digest.
    found = [isolated(rt, t.id, lambda t=t: _facts(rt, t), now=now, fallback=None)
             for t in all_transitions(rt.store)]
    facts = [f for f in found if f is not None]
    return build_digest(facts, _sent_since(rt, now - LOOK_BACK, now), now=now,
                        tz=rt.settings.timezone)


def _facts(rt: Runtime, t: Transition) -> TransitionFacts:
    playbook = playbook_of(rt, t)
    answered = answered_sections(rt.store, t.id)
    failed = rt.store.all("SELECT subject FROM outbound WHERE transition_id=? AND "
                          "status='failed' ORDER BY id", t.id)
    return TransitionFacts(
        transition=t, plan=tuple(planned_steps(rt, t)), conditions=conditions_of(rt, t),
        effective_date=effective_date(playbook, anchors_of(t), rt.calendar),
        answered_sections=len(answered),
        missing_required=tuple(s.title for s in missing_sections(
            answered, playbook.required_sections)),
        failed_deliveries=tuple(row["subject"] for row in failed),
        workbook_file=t.workbook_path.rsplit("/", 1)[-1] if t.workbook_path else "")


def _sent_since(rt: Runtime, start: datetime, end: datetime) -> list[SentMail]:
    rows = rt.store.all(
        "SELECT o.sent_at, o.transition_id, o.kind, o.subject, o.recipients_json, t.account "
        "FROM outbound o JOIN transitions t ON t.id = o.transition_id "
        "WHERE o.status='sent' AND o.sent_at >= ? AND o.sent_at < ? ORDER BY o.id",
        iso(start), iso(end))
    return [SentMail(at=from_iso(row["sent_at"]) or end, transition_id=row["transition_id"],
                     account=row["account"], kind=row["kind"], subject=row["subject"],
                     recipients=tuple(json.loads(row["recipients_json"]))) for row in rows]


def queue_digest(rt: Runtime, to: list[Person], *, now: datetime,
                 answering: InboundMessage | None = None,
                 auto_submitted: str = "auto-generated") -> None:
    digest = gather_digest(rt, now)
    queue_outgoing(rt, Outgoing(
        template="digest", to=to, kind="digest",
        context=_with_address(digest_context(digest), rt) | {
            "person": person_view(to[0]) if len(to) == 1 else None},
        answering=answering, auto_submitted=auto_submitted,
        attachments=[OutgoingAttachment(portfolio_filename(digest), XLSX,
                                        build_portfolio(digest))]),
        transition_id=None, now=now)


def digest_context(digest: Digest) -> dict[str, Any]:
    return {"digest": digest, "week_start": digest.week_start,
            "in_flight": len(digest.in_flight), "by_phase": digest.by_phase,
            "attention": digest.needs_attention, "sent": digest.sent_last_week,
            "sent_by_kind": [(kind.replace("_", " "), n) for kind, n in digest.sent_by_kind],
            "due": digest.due_this_week,
            "csms": [c for c in digest.csm_counts if c.handing_over or c.taking_over],
            "repeat_accounts": [a for a in digest.account_counts
                                if a.transitions_this_year >= 2],
            "filename": portfolio_filename(digest)}


def _with_address(context: dict[str, Any], rt: Runtime) -> dict[str, Any]:
    return context | {"digest_address": rt.address}


def send_digest_on_request(rt: Runtime, msg: InboundMessage, *, now: datetime) -> Outcome:
    lead = Person(msg.from_name, msg.from_email)
    queue_digest(rt, [lead], now=now, answering=msg, auto_submitted="auto-replied")
    return Outcome("processed", "digest sent on request")


def week_key(rt: Runtime, now: datetime) -> tuple[str, datetime]:
    """This week's label (`2027-W02`) and the moment its digest falls due."""
    settings = rt.settings
    local = now.astimezone(settings.timezone).date()
    monday = local - timedelta(days=local.weekday())
    year, week, _ = monday.isocalendar()
    due = rt.calendar.at_local(monday + timedelta(days=settings.digest_day),
                               settings.digest_time)
    return f"{year}-W{week:02d}", due


def send_weekly_digest(rt: Runtime, now: datetime) -> int:
    """Queue this week's digest once its moment has come; 1 when it was queued now."""
    recipients = rt.settings.digest_recipients
    if not recipients:
        return 0
    week, due = week_key(rt, now)
    if now < due:
        return 0
    if now - due >= FRESH_SETUP_GRACE and rt.store.one("SELECT 1 FROM digests") is None:
        return 0  # a fresh setup waits for its first digest morning instead of mid-week
    with rt.store.transaction():
        if rt.store.one("SELECT 1 FROM digests WHERE week=?", week) is not None:
            return 0
        # Many leads get it in several mails, each within limits.max_recipients_per_mail.
        most = rt.rules.limits.max_recipients_per_mail
        for start in range(0, len(recipients), most):
            queue_digest(rt, [Person("", email) for email in recipients[start:start + most]],
                         now=now)
        rt.store.run("INSERT INTO digests(week, sent_at, recipients) VALUES(?,?,?)",
                     week, iso(now), json.dumps(list(recipients)))
    return 1
