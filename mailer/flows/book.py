"""A manager's book of business by email: every good row starts, every other row is explained.

One request carries a CSV or XLSX file, one account per row. Each row is validated on its own
(the email body's `Field: value` lines count as defaults for every row), the good ones start
as transitions right away, and the manager gets one answer listing every row. Resending the
corrected file only starts what is missing: a row whose account already has an open
transition from the same outgoing CSM is reported as already under way.

The people get one mail each rather than one per account where that is kinder: each incoming
CSM one notice listing their accounts, and the outgoing CSM either one questionnaire per
account or, when the playbook says `book_questionnaire: combined`, one form for them all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailer.flows.opening import XLSX, checked_request, open_transition, questionnaire_mail
from mailer.flows.outcome import Outcome
from mailer.flows.outgoing import Outgoing, person_view, queue_outgoing, transition_context
from mailer.flows.runtime import Runtime
from mailer.flows.schedule import plan_rows
from mailer.flows.shared_mail import BOOK_QUESTIONNAIRE_THREAD, group_token, note_shared_mail
from mailer.handoff.book import (
    BookError,
    BookTable,
    RowDecision,
    book_key,
    column_fix,
    decide_rows,
    is_our_form,
    is_spreadsheet,
    missing_key_columns,
    read_book,
)
from mailer.handoff.book_form import FormAccount, build_combined_form
from mailer.handoff.model import Attachment, InboundMessage, Person
from mailer.handoff.questionnaire import SECTIONS
from mailer.handoff.request_fields import ACCOUNT
from mailer.handoff.request_lines import extract_fields
from mailer.handoff.transitions import Transition, display_name, request_rows
from mailer.mail.compose import OutgoingAttachment
from mailer.mail.reply_text import new_text
from mailer.state.store import iso
from mailer.state.tokens import issue_token
from mailer.state.transition_records import open_transitions

STARTED, ALREADY_OPEN, SAME_AS_ROW, PROBLEMS = "started", "already_open", "same_as_row", "problems"
COMBINED = "combined"


@dataclass(frozen=True)
class AttachedBook:
    """A book of business attached to a request, read once: its table, or why it could not
    be read (the manager is told)."""

    attachment: Attachment
    table: BookTable | None
    problem: str = ""


def book_attachment(msg: InboundMessage, *, max_rows: int) -> AttachedBook | None:
    """The attached book of business, if this request is one.

    A request written in the body with some other spreadsheet attached stays a single request;
    a file with an Account column, or a file sent with no request in the body, is a book.
    """
    body = _body_fields(msg)
    for attachment in msg.attachments:
        if not is_spreadsheet(attachment) or is_our_form(attachment):
            continue
        try:
            table = read_book(attachment, max_rows=max_rows)
        except BookError as exc:
            if body.get(ACCOUNT):
                continue
            return AttachedBook(attachment, None, str(exc))
        if ACCOUNT in table.columns.values() or not body.get(ACCOUNT):
            return AttachedBook(attachment, table)
    return None


def _body_fields(msg: InboundMessage) -> dict[str, str]:
    # Only what the manager wrote now: the quoted answer of a reply must not become defaults.
    return extract_fields(new_text(msg.text, html=msg.html))


def handle_book(rt: Runtime, msg: InboundMessage, book: AttachedBook, *,
                now: datetime) -> Outcome:
    manager = Person(msg.from_name, msg.from_email)
    attachment, table = book.attachment, book.table
    if table is None:
        _answer(rt, msg, manager, BookAnswer(filename=attachment.filename,
                                             file_problem=book.problem), now=now)
        return Outcome("processed", f"book {attachment.filename}: could not be read")
    if not table.rows:
        _answer(rt, msg, manager, BookAnswer(filename=attachment.filename, file_problem=(
            "It has the column headers but no account in any row below them (blank rows "
            "do not count). Please fill in one row per account and send it again.")), now=now)
        return Outcome("processed", f"book {attachment.filename}: no rows")
    defaults = _body_fields(msg)
    decisions = decide_rows(table, defaults, today=now.astimezone(rt.settings.timezone).date(),
                            open_keys=_open_keys(rt),
                            check=lambda parsed: checked_request(rt, parsed))
    book_id = rt.store.run("INSERT INTO books(manager_email, message_id, filename, received_at)"
                           " VALUES(?,?,?,?)", msg.from_email, msg.message_id,
                           attachment.filename, iso(now)).lastrowid
    started: dict[int, Transition] = {}
    for decision in decisions:
        if _starts(decision) and decision.request is not None:
            started[decision.row.number] = open_transition(
                rt, decision.request, msg, now=now,
                note=f"book of business {attachment.filename}, row {decision.row.number}")
        t = started.get(decision.row.number)
        rt.store.run("INSERT INTO book_rows(book_id, row_number, account, outcome, transition_id)"
                     " VALUES(?,?,?,?,?)", book_id, decision.row.number, decision.account,
                     _outcome(decision), t.id if t else decision.already_open or None)
    transitions = list(started.values())
    send_questionnaires(rt, transitions, now=now)
    send_incoming_notices(rt, transitions, now=now)
    answer = BookAnswer(filename=attachment.filename, decisions=tuple(decisions),
                        started=started, table=table,
                        missing_columns=tuple(missing_key_columns(table, defaults)))
    _answer(rt, msg, manager, answer, now=now)
    return Outcome("processed", f"book {attachment.filename}: {len(transitions)} started, "
                   f"{answer.count(ALREADY_OPEN) + answer.count(SAME_AS_ROW)} already there, "
                   f"{answer.count(PROBLEMS)} with problems",
                   transitions[0].id if transitions else None)


def _starts(decision: RowDecision) -> bool:
    return decision.request is not None and not decision.already_open \
        and not decision.same_as_row


def _outcome(decision: RowDecision) -> str:
    if decision.request is None:
        return PROBLEMS
    if decision.already_open:
        return ALREADY_OPEN
    return SAME_AS_ROW if decision.same_as_row else STARTED


def _open_keys(rt: Runtime) -> dict[tuple[str, str], str]:
    return {book_key(t.account, t.outgoing.email): t.id for t in open_transitions(rt.store)}


# --- the mails to the people ----------------------------------------------------------------


def _grouped(transitions: Iterable[Transition], role: str) -> dict[str, list[Transition]]:
    groups: dict[str, list[Transition]] = {}
    for t in transitions:
        groups.setdefault(getattr(t, role).email, []).append(t)
    return groups


def send_questionnaires(rt: Runtime, transitions: list[Transition], *, now: datetime) -> None:
    for group in _grouped(transitions, "outgoing").values():
        combined = [t for t in group if rt.playbooks[t.playbook].book_questionnaire == COMBINED]
        separate = [t for t in group if t not in combined] + (combined if len(combined) < 2
                                                               else [])
        for t in separate:
            token = issue_token(rt.store, transition_id=t.id, person_email=t.outgoing.email,
                                purpose="questionnaire", now=now, random_bytes=rt.random_bytes)
            context = transition_context(rt, t) | {"plan": plan_rows(rt, t),
                                                   "fields": request_rows(t)}
            queue_outgoing(rt, questionnaire_mail(rt, t, context, token), transition_id=t.id,
                           now=now)
        if len(combined) >= 2:
            _send_combined_questionnaire(rt, combined, now=now)


def _send_combined_questionnaire(rt: Runtime, group: list[Transition], *, now: datetime) -> None:
    outgoing = group[0].outgoing
    token = group_token(rt, group, outgoing, "book_questionnaire", now=now)
    form = build_combined_form([
        FormAccount(transition_id=t.id, account=t.account, incoming=display_name(t.incoming),
                    required=tuple(rt.playbooks[t.playbook].required_sections))
        for t in group])
    required = sorted({n for t in group for n in rt.playbooks[t.playbook].required_sections})
    mail = Outgoing(
        template="combined_questionnaire", to=[outgoing], kind="combined_questionnaire",
        context={"person": person_view(outgoing), "accounts": [_account_view(t) for t in group],
                 "sections": _section_views(required), "manager": person_view(group[0].manager),
                 "assistant": rt.address},
        reply_token=token, auto_submitted="auto-generated", thread=BOOK_QUESTIONNAIRE_THREAD,
        attachments=[OutgoingAttachment(f"Handoff questions for {len(group)} accounts.xlsx",
                                        XLSX, form)])
    queue_outgoing(rt, mail, transition_id=group[0].id, now=now)
    note_shared_mail(rt, group, outgoing, subject="Handoff questions (combined form)",
                     kind="combined_questionnaire", now=now)


def _section_views(required: list[int]) -> list[dict[str, Any]]:
    return [{"number": s.number, "title": s.title, "required": s.number in required}
            for s in SECTIONS]


def _account_view(t: Transition) -> dict[str, Any]:
    return {"tid": t.id, "account": t.account, "outgoing": display_name(t.outgoing),
            "incoming": display_name(t.incoming), "manager": display_name(t.manager),
            "type": t.type.value, "effective_date": t.effective_date,
            "last_day": t.last_day, "renewal_date": t.renewal_date,
            "contacts": ", ".join(display_name(p) for p in t.customer_contacts)}


def send_incoming_notices(rt: Runtime, transitions: list[Transition], *,
                          now: datetime) -> None:
    """Each incoming CSM: one notice listing every account they take over from this book."""
    for group in _grouped(transitions, "incoming").values():
        incoming = group[0].incoming
        token = group_token(rt, group, incoming, "incoming", now=now)
        queue_outgoing(rt, Outgoing(
            template="book_incoming_notice", to=[incoming], kind="incoming_notice",
            context={"person": person_view(incoming), "manager": person_view(group[0].manager),
                     "accounts": [_account_view(t) for t in group], "assistant": rt.address},
            reply_token=token, auto_submitted="auto-generated"),
            transition_id=group[0].id, now=now)
        note_shared_mail(rt, group, incoming, subject="New accounts for you",
                         kind="incoming_notice", now=now)


# --- the answer to the manager ---------------------------------------------------------------


@dataclass(frozen=True)
class BookAnswer:
    filename: str
    decisions: tuple[RowDecision, ...] = ()
    started: dict[int, Transition] | None = None
    table: BookTable | None = None
    missing_columns: tuple[str, ...] = ()
    file_problem: str = ""

    def count(self, outcome: str) -> int:
        return sum(1 for d in self.decisions if _outcome(d) == outcome)

    def rows(self) -> list[dict[str, Any]]:
        started = self.started or {}
        return [_row_view(d, started) for d in self.decisions]


def _row_view(decision: RowDecision, started: dict[int, Transition]) -> dict[str, Any]:
    outcome = _outcome(decision)
    t = started.get(decision.row.number)
    view: dict[str, Any] = {"number": decision.row.number,
                            "account": decision.account or "(no account name)",
                            "outcome": outcome, "tid": t.id if t else decision.already_open,
                            "incoming": display_name(t.incoming) if t else "",
                            "same_as_row": decision.same_as_row, "problems": []}
    if outcome == SAME_AS_ROW:
        first = started.get(decision.same_as_row)
        view["tid"] = first.id if first else ""
    view["problems"] = [{"field": p.field, "message": p.message, "fix": column_fix(p)}
                        for p in decision.problems]
    return view


def _answer(rt: Runtime, msg: InboundMessage, manager: Person, answer: BookAnswer, *,
            now: datetime) -> None:
    table = answer.table
    # No reply token and no transition: a reply carrying the corrected file comes back in as a
    # new book, and the rows already started are recognised.
    queue_outgoing(rt, Outgoing(
        template="book_answer", to=[manager], kind="book_answer",
        context={"manager": person_view(manager), "filename": answer.filename,
                 "file_problem": answer.file_problem, "rows": answer.rows(),
                 "total": len(answer.decisions), "started": answer.count(STARTED),
                 "already": answer.count(ALREADY_OPEN), "same": answer.count(SAME_AS_ROW),
                 "problem_count": answer.count(PROBLEMS),
                 "missing_columns": list(answer.missing_columns),
                 "ignored_columns": list(table.ignored_columns) if table else [],
                 "assistant": rt.address},
        answering=msg), transition_id=None, now=now)
