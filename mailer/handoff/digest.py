"""The leads' digest: every transition's phase, what is stuck, what went out, what is due.

Pure: the caller gathers one `TransitionFacts` per transition and the mail sent lately, and
passes "now" and the team's time zone; `build_digest` returns every figure the digest mail and
the portfolio workbook show. Nothing here reads the clock or the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from mailer.handoff.model import Person
from mailer.handoff.playbooks import PHASES
from mailer.handoff.scheduling import PlannedStep, condition_holds
from mailer.handoff.transitions import ACTIVE, CANCELLED, PAUSED, Transition, display_name

PHASE_LABELS: dict[str, str] = {
    "assign": "Assign",
    "knowledge_transfer": "Knowledge transfer",
    "research": "Research",
    "communicate": "Customer introduction",
    "cadence": "Cadence and joint calls",
    "recap": "Recap",
    "update_systems": "Update systems",
    "debrief": "Debrief",
    "checkin": "Leadership check-in",
}
COMPLETE = "complete"
OPEN_STATUSES = ("pending", "awaiting_approval")
QUESTIONNAIRE_REMINDER = "questionnaire_reminder"
CUSTOMER_INTRO = "customer_intro"
# How long silence may last before it is worth a lead's attention.
NO_ANSWER_DAYS = 2
INTRO_WARNING_DAYS = 5
OVERDUE_GRACE = timedelta(days=1)


@dataclass(frozen=True)
class TransitionFacts:
    """What the store knows about one transition, gathered by the caller."""

    transition: Transition
    plan: tuple[PlannedStep, ...]
    conditions: Mapping[str, bool]
    effective_date: date | None  # the request's, else the playbook's default
    answered_sections: int = 0
    missing_required: tuple[str, ...] = ()
    failed_deliveries: tuple[str, ...] = ()  # subjects of mail that could not be delivered
    workbook_file: str = ""  # the handoff workbook's file name, "" before the first version


@dataclass(frozen=True)
class SentMail:
    at: datetime
    transition_id: str
    account: str
    kind: str
    subject: str
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class DueItem:
    due_at: datetime
    transition_id: str
    account: str
    step: str
    who: str
    note: str  # why it may not go out on time, "" when nothing holds it


@dataclass(frozen=True)
class PortfolioRow:
    transition_id: str
    account: str
    status: str
    phase: str  # a label from PHASE_LABELS, or "Complete", "Cancelled"...
    outgoing: str
    incoming: str
    manager: str
    type: str
    playbook: str
    requested: date
    effective_date: date | None
    last_day: date | None
    renewal_date: date | None
    next_step: str
    next_due: datetime | None
    risk_flags: tuple[str, ...]
    workbook_file: str
    urgency: int
    account_transitions_this_year: int

    @property
    def in_flight(self) -> bool:
        return self.status in (ACTIVE, PAUSED)


@dataclass(frozen=True)
class CsmCount:
    name: str
    email: str
    handing_over: int  # open transitions where they are the outgoing CSM
    taking_over: int  # open transitions where they are the incoming CSM
    handed_over_this_year: int
    taken_over_this_year: int


@dataclass(frozen=True)
class AccountCount:
    account: str
    transitions_this_year: int
    transition_ids: tuple[str, ...]


@dataclass(frozen=True)
class Digest:
    generated_at: datetime  # in the team's time zone
    week_start: date
    rows: tuple[PortfolioRow, ...]  # every transition, most urgent first
    by_phase: tuple[tuple[str, tuple[PortfolioRow, ...]], ...]  # in-flight ones, phase order
    sent_last_week: tuple[SentMail, ...]
    due_this_week: tuple[DueItem, ...]
    csm_counts: tuple[CsmCount, ...]
    account_counts: tuple[AccountCount, ...]
    sent_by_kind: tuple[tuple[str, int], ...] = field(default=())

    @property
    def in_flight(self) -> tuple[PortfolioRow, ...]:
        return tuple(row for row in self.rows if row.in_flight)

    @property
    def needs_attention(self) -> tuple[PortfolioRow, ...]:
        return tuple(row for row in self.rows if row.in_flight and row.risk_flags)


def account_key(account: str) -> str:
    return " ".join(account.casefold().split())


def current_phase(facts: TransitionFacts) -> str:
    """The earliest phase that still has work to do; `complete` when none has."""
    t = facts.transition
    if not t.is_open:
        return t.status
    open_steps = _open_steps(facts)
    if not open_steps:
        return COMPLETE
    return min(open_steps, key=lambda p: PHASES.index(p.step.phase)).step.phase


def phase_label(phase: str) -> str:
    return PHASE_LABELS.get(phase, phase.replace("_", " ").capitalize())


def _open_steps(facts: TransitionFacts) -> list[PlannedStep]:
    """Steps still to happen: pending or awaiting approval, and not made unnecessary."""
    return [p for p in facts.plan if p.status in OPEN_STATUSES
            and not (p.step.stops_when and condition_holds(p.step.stops_when, facts.conditions))]


def next_step(facts: TransitionFacts) -> PlannedStep | None:
    if not facts.transition.is_open:
        return None
    dated = [(p.due_at or p.expected_at, index, p) for index, p in enumerate(_open_steps(facts))]
    known = [item for item in dated if item[0] is not None]
    if known:
        return min(known, key=lambda item: (item[0], item[1]))[2]
    return dated[0][2] if dated else None


def risk_flags(facts: TransitionFacts, *, now: datetime, today: date,
               account_count: int) -> tuple[str, ...]:
    """Plain-words reasons a lead should look at this transition, most serious first."""
    t = facts.transition
    if not t.is_open:
        return ()
    flags: list[str] = []
    if facts.failed_deliveries:
        count = len(facts.failed_deliveries)
        flags.append(f"{count} email{'s' if count > 1 else ''} could not be delivered")
    flags.extend(_overdue(facts, now))
    flags.extend(_intro_flag(facts, today))
    flags.extend(_answers_flag(facts, now))
    if t.status == PAUSED:
        flags.append("paused")
    if account_count >= 2:
        flags.append(f"{account_count} CSM changes for this account this year")
    return tuple(flags)


def _overdue(facts: TransitionFacts, now: datetime) -> list[str]:
    return [f"overdue: {p.step.title} (due {p.due_at.date().isoformat()})"
            for p in _open_steps(facts)
            if p.due_at is not None and p.due_at < now - OVERDUE_GRACE]


def _intro_flag(facts: TransitionFacts, today: date) -> list[str]:
    intro = [p for p in facts.plan if p.step.template == CUSTOMER_INTRO]
    if not intro or any(p.status == "sent" for p in intro) or facts.effective_date is None:
        return []
    if all(p.status in ("skipped", "cancelled") for p in intro):
        return []
    days = (facts.effective_date - today).days
    if days < 0:
        return [f"customer not introduced yet, effective {-days} day{'s' if days < -1 else ''}"
                " ago"]
    if days <= INTRO_WARNING_DAYS:
        return [f"customer not introduced yet, effective in {days} day{'s' if days != 1 else ''}"]
    return []


def _answers_flag(facts: TransitionFacts, now: datetime) -> list[str]:
    if not facts.missing_required:
        return []
    age = (now - facts.transition.request_received).days
    if facts.answered_sections == 0 and age >= NO_ANSWER_DAYS:
        return [f"no questionnaire answers after {age} days"]
    reminded = any(p.step.template == QUESTIONNAIRE_REMINDER and p.status == "sent"
                   for p in facts.plan)
    if reminded and facts.answered_sections:
        return [f"questionnaire incomplete after reminders ({len(facts.missing_required)}"
                " required sections missing)"]
    return []


def urgency(flags: Sequence[str], status: str) -> int:
    """A score to sort by: failed mail and overdue steps first, churn risk last."""
    if status not in (ACTIVE, PAUSED):
        return 0
    weights = (("could not be delivered", 50), ("overdue", 20), ("not introduced", 30),
               ("no questionnaire answers", 15), ("questionnaire incomplete", 10),
               ("paused", 3), ("CSM changes", 5))
    return 1 + sum(weight for flag in flags for word, weight in weights if word in flag)


def build_digest(facts: Iterable[TransitionFacts], sent: Iterable[SentMail], *, now: datetime,
                 tz: ZoneInfo) -> Digest:
    local = now.astimezone(tz)
    today = local.date()
    week_start = today - timedelta(days=today.weekday())
    week_end = datetime.combine(week_start + timedelta(days=7), datetime.min.time(), tz)
    every = list(facts)
    this_year = [f for f in every if f.transition.request_received.astimezone(tz).year
                 == today.year and f.transition.status != CANCELLED]
    accounts = _account_counts(this_year)
    counts = {account_key(a.account): a.transitions_this_year for a in accounts}
    rows = sorted((_row(f, now=now, today=today, tz=tz,
                        account_count=counts.get(account_key(f.transition.account), 0))
                   for f in every), key=_urgency_order)
    in_flight = [row for row in rows if row.in_flight]
    sent_list = tuple(sorted(sent, key=lambda m: m.at))
    return Digest(
        generated_at=local, week_start=week_start, rows=tuple(rows),
        by_phase=_by_phase(in_flight),
        sent_last_week=sent_list,
        due_this_week=tuple(_due_items(every, now=now, until=week_end, tz=tz)),
        csm_counts=tuple(_csm_counts(every, this_year)), account_counts=tuple(accounts),
        sent_by_kind=tuple(_count_kinds(sent_list)))


def _row(facts: TransitionFacts, *, now: datetime, today: date, tz: ZoneInfo,
         account_count: int) -> PortfolioRow:
    t = facts.transition
    upcoming = next_step(facts)
    flags = risk_flags(facts, now=now, today=today, account_count=account_count)
    due = (upcoming.due_at or upcoming.expected_at) if upcoming else None
    return PortfolioRow(
        transition_id=t.id, account=t.account, status=t.status,
        phase=phase_label(current_phase(facts)), outgoing=display_name(t.outgoing),
        incoming=display_name(t.incoming), manager=display_name(t.manager), type=t.type.value,
        playbook=t.playbook, requested=t.request_received.astimezone(tz).date(),
        effective_date=facts.effective_date, last_day=t.last_day, renewal_date=t.renewal_date,
        next_step=upcoming.step.title if upcoming else "nothing left to send",
        next_due=due.astimezone(tz) if due else None, risk_flags=flags,
        workbook_file=facts.workbook_file, urgency=urgency(flags, t.status),
        account_transitions_this_year=account_count)


def _urgency_order(row: PortfolioRow) -> tuple[int, int, datetime, str]:
    far = datetime.max.replace(tzinfo=None)
    due = row.next_due.replace(tzinfo=None) if row.next_due else far
    return (0 if row.in_flight else 1, -row.urgency, due, row.transition_id)


def _by_phase(rows: list[PortfolioRow]) -> tuple[tuple[str, tuple[PortfolioRow, ...]], ...]:
    order = [phase_label(p) for p in (*PHASES, COMPLETE)]
    groups: dict[str, list[PortfolioRow]] = {}
    for row in rows:
        groups.setdefault(row.phase, []).append(row)
    return tuple((label, tuple(sorted(groups[label], key=lambda r: r.transition_id)))
                 for label in sorted(groups, key=lambda g: order.index(g) if g in order
                                     else len(order)))


def _due_items(facts: Iterable[TransitionFacts], *, now: datetime, until: datetime,
               tz: ZoneInfo) -> list[DueItem]:
    items: list[DueItem] = []
    for f in facts:
        if f.transition.status != ACTIVE:
            continue
        for planned in _open_steps(f):
            moment = planned.due_at or planned.expected_at
            if moment is None or not now <= moment < until:
                continue
            items.append(DueItem(due_at=moment.astimezone(tz), transition_id=f.transition.id,
                                 account=f.transition.account, step=planned.step.title,
                                 who=_who(f.transition, planned),
                                 note=planned.blocked_reason))
    return sorted(items, key=lambda i: (i.due_at, i.transition_id))


def _who(t: Transition, planned: PlannedStep) -> str:
    names = {"manager": display_name(t.manager), "outgoing": display_name(t.outgoing),
             "incoming": display_name(t.incoming), "customer": "the customer"}
    return ", ".join(names.get(role, role) for role in planned.step.to)


def _csm_counts(every: list[TransitionFacts], this_year: list[TransitionFacts]) -> list[CsmCount]:
    names: dict[str, str] = {}
    tally: dict[tuple[str, str], int] = {}

    def bump(person: Person, key: str) -> None:
        names.setdefault(person.email, display_name(person))
        tally[(person.email, key)] = tally.get((person.email, key), 0) + 1

    for f in every:
        if f.transition.is_open:
            bump(f.transition.outgoing, "handing_over")
            bump(f.transition.incoming, "taking_over")
    for f in this_year:
        bump(f.transition.outgoing, "handed_over_this_year")
        bump(f.transition.incoming, "taken_over_this_year")
    result = [CsmCount(name=name, email=email,
                       handing_over=tally.get((email, "handing_over"), 0),
                       taking_over=tally.get((email, "taking_over"), 0),
                       handed_over_this_year=tally.get((email, "handed_over_this_year"), 0),
                       taken_over_this_year=tally.get((email, "taken_over_this_year"), 0))
              for email, name in names.items()]
    return sorted(result, key=lambda c: (-(c.handing_over + c.taking_over), c.name.casefold()))


def _account_counts(this_year: list[TransitionFacts]) -> list[AccountCount]:
    groups: dict[str, list[Transition]] = {}
    for f in this_year:
        groups.setdefault(account_key(f.transition.account), []).append(f.transition)
    counts = [AccountCount(account=items[0].account, transitions_this_year=len(items),
                           transition_ids=tuple(t.id for t in items))
              for items in groups.values()]
    return sorted(counts, key=lambda a: (-a.transitions_this_year, a.account.casefold()))


def _count_kinds(sent: Sequence[SentMail]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for mail in sent:
        counts[mail.kind] = counts.get(mail.kind, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))
