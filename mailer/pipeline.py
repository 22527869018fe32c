"""One inbound message, top to bottom, in one transaction.

claim (source key, Message-ID) -> archive -> parse -> automation? -> rules -> correlate
(reply token, then our Message-IDs in In-Reply-To/References, then `[TR-0042]` in the
subject) -> act -> the outbound mail rows and the "done" mark commit together.

Only this module catches broadly: whatever goes wrong with one message is rolled back,
recorded, and the message is quarantined with the reason, so one bad email never stalls
the queue and nothing is half-written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email import policy
from email.parser import BytesHeaderParser
from email.utils import getaddresses

from mailer.config.inbox_rules import first_objection
from mailer.errors import LimitReached, MailerError, MessageParseError
from mailer.flows import (
    answer,
    book,
    book_answer,
    command,
    digest,
    due_steps,
    meetings,
    request,
)
from mailer.flows.outcome import Outcome
from mailer.flows.outgoing import Outgoing, queue_outgoing
from mailer.flows.runtime import Runtime
from mailer.flows.schedule import mark_for_visit
from mailer.flows.watchdog import CANARY_HEADER, is_our_canary
from mailer.handoff.commands import parse_command, subject_transition_id
from mailer.handoff.model import InboundMessage, Person
from mailer.handoff.transitions import Transition
from mailer.mail.authentication import Verdict, verdict
from mailer.mail.automation import automation_reason, is_out_of_office
from mailer.mail.parsing import parse_message
from mailer.mail.reply_text import new_text
from mailer.state.store import iso
from mailer.state.tokens import ReplyToken, record_use, redact, resolve_token, token_in
from mailer.state.transition_records import load_transition

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Correlation:
    """What an inbound message is about, as far as our own records tell."""

    token: ReplyToken | None = None
    transition: Transition | None = None
    via: str = ""  # "token" | "thread" | "subject" | ""
    thread_recipients: tuple[str, ...] = ()  # who our mail that this answers went to

    def owned_by(self, email: str) -> bool:
        """Did this sender reach the transition through their own token or a mail to them?
        A `[TR-0042]` in a subject anyone can type does not count."""
        if self.token is not None:
            return self.token.person_email == email
        return self.via == "thread" and email in self.thread_recipients


STORAGE_ERRORS = (OSError, sqlite3.OperationalError, sqlite3.DatabaseError)


class StorageUnavailable(MailerError):
    """The data directory is full or read-only: stop taking mail, lose nothing."""


def folder_for(rt: Runtime, outcome: Outcome) -> str:
    if outcome.folder is not None:
        return outcome.folder
    folders = rt.rules.folders
    return {"processed": folders.processed, "duplicate": folders.processed,
            "rejected": folders.rejected, "ignored": folders.ignored,
            "quarantined": folders.quarantine, "canary": ""}[outcome.outcome]


def handle(rt: Runtime, raw: bytes, *, source_key: str, full_size: int | None = None) -> Outcome:
    """Handle one message exactly once; safe to call again for the same source key.

    `full_size` is given when `raw` holds only the headers of a message too large to
    download (it stays on the server, and is refused from its headers)."""
    now = rt.clock()
    previous = rt.store.one("SELECT outcome, reason, transition_id, folder FROM inbound "
                            "WHERE source_key=?", source_key)
    if previous is not None:
        # Fetched again after a crash (the move to its folder was lost): it goes where it was
        # filed the first time, never a refused message into Processed.
        log.info("%s seen again (first handled as %s); filed into %s", redact(source_key),
                 previous["outcome"], previous["folder"] or "its folder")
        return Outcome("duplicate", f"already handled ({previous['outcome']})",
                       previous["transition_id"], folder=previous["folder"])
    msg: InboundMessage | None = None
    try:
        archive_path = _archive(rt, raw, now)
        try:
            with rt.store.transaction():
                first_mail = _next_outbound_id(rt)
                outcome, msg, scope = _decide_and_act(rt, raw, now, full_size=full_size)
                _within_mail_limit(rt, first_mail)
                if msg is not None and scope:
                    _note_automatic_answer(rt, msg, scope, first_mail, now)
                _record(rt, source_key, msg, outcome, archive_path, now)
        except LimitReached as exc:
            # Everything the message did is rolled back; its sender hears which limit.
            with rt.store.transaction():
                outcome, msg = _refuse_over_limit(rt, raw, full_size, exc, now)
                _record(rt, source_key, msg, outcome, archive_path, now)
    except STORAGE_ERRORS as exc:
        # Nothing was committed: the message stays on the server until storage is back.
        raise StorageUnavailable(f"the data directory cannot be written ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - the one place that catches broadly
        log.exception("message %s could not be handled; quarantined", redact(source_key))
        outcome = Outcome("quarantined", f"internal error: {exc.__class__.__name__}: {exc}")
        try:
            with rt.store.transaction():
                _record(rt, source_key, None, outcome, archive_path, now, raw=raw)
        except STORAGE_ERRORS as storage_exc:
            raise StorageUnavailable(
                f"the data directory cannot be written ({storage_exc})") from storage_exc
        _tell_sender_of_quarantine(rt, raw, now)
    _log_outcome(source_key, msg, raw, outcome)
    return outcome


def _next_outbound_id(rt: Runtime) -> int:
    row = rt.store.one("SELECT COALESCE(MAX(id), 0) + 1 AS n FROM outbound")
    return int(row["n"]) if row else 1


def _within_mail_limit(rt: Runtime, first_mail: int) -> None:
    """One inbound message may cause at most `limits.max_mails_per_message` emails."""
    most = rt.rules.limits.max_mails_per_message
    row = rt.store.one("SELECT COUNT(*) AS n FROM outbound WHERE id >= ?", first_mail)
    queued = int(row["n"]) if row else 0
    if queued > most:
        raise LimitReached(
            f"your message would have made the assistant send {queued} emails, more than the "
            f"{most} one message may cause, so nothing in it was done",
            advice="Please send it again in smaller parts (a book of business split into "
            "several files, for instance), or ask your operations team to raise "
            "limits.max_mails_per_message in inbox_rules.yaml.")


def _refuse_over_limit(rt: Runtime, raw: bytes, full_size: int | None, exc: LimitReached,
                       now: datetime) -> tuple[Outcome, InboundMessage]:
    """A message that went past a limit, after its work was rolled back: refused, and its
    sender told why (only people reach the flows that can hit a limit)."""
    msg = _parse_within_limit(rt, raw, full_size)
    log.warning("message from %s went past a limit: %s", msg.from_email, exc.reason)
    correlation = correlate(rt, msg)
    tid = correlation.transition.id if correlation.transition else None
    return reject(rt, msg, exc.reason, advice=exc.advice, now=now, transition_id=tid), msg


def _log_outcome(source_key: str, msg: InboundMessage | None, raw: bytes,
                 outcome: Outcome) -> None:
    """One line per message, saying what happened to whom: sender, subject, outcome,
    transition. Reply tokens are redacted, as a log is read by more people than the mail."""
    sender, subject = (msg.from_email, msg.subject) if msg else _sender_and_subject(raw)
    subject = redact(" ".join(subject.split()))
    shown = subject if len(subject) <= 100 else subject[:99] + "…"
    transition = f" {outcome.transition_id}" if outcome.transition_id else ""
    log.info("from %s %s: %s%s (%s)", sender or "(no sender)", json.dumps(shown,
             ensure_ascii=False), outcome.outcome, transition, redact(outcome.reason),
             extra={"sender": sender, "subject": subject, "outcome": outcome.outcome,
                    "transition": outcome.transition_id, "reason": redact(outcome.reason),
                    "source": redact(source_key)})


def _sender_and_subject(raw: bytes) -> tuple[str, str]:
    """From and Subject of a message that could not be parsed in full, as far as they go."""
    try:
        headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
        addresses = getaddresses([str(headers.get("from", ""))])
        return (addresses[0][1].lower() if addresses else "", str(headers.get("subject", "")))
    except Exception:  # noqa: BLE001 - only for the log line; the message is kept whole
        return ("", "")


def _tell_sender_of_quarantine(rt: Runtime, raw: bytes, now: datetime) -> None:
    """A person whose message broke something hears so (once a day); a machine never does."""
    try:
        msg = parse_message(raw)
        if automation_reason(msg, own_addresses=[rt.address]) is not None:
            return
        with rt.store.transaction():
            reject(rt, msg, "the assistant ran into a problem while reading your message",
                   advice="It has been set aside for a person to look at. You do not need "
                   "to send it again.", now=now)
    except Exception:  # noqa: BLE001 - the message is already safely quarantined
        log.exception("could not tell the sender of a quarantined message")


def _archive(rt: Runtime, raw: bytes, now: datetime) -> str:
    """Keep the original bytes before anything else happens, so nothing is ever lost."""
    digest = hashlib.sha256(raw).hexdigest()
    folder = rt.settings.archive_dir / now.strftime("%Y-%m")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest[:32]}.eml"
    if not path.exists():
        temp = path.with_name(f".{path.name}.tmp")
        temp.write_bytes(raw)
        temp.replace(path)
    return str(path)


def _record(rt: Runtime, source_key: str, msg: InboundMessage | None, outcome: Outcome,
            archive_path: str, now: datetime, raw: bytes = b"") -> None:
    message_id = msg.message_id if msg else _fallback_id(raw)
    rt.store.run("INSERT INTO inbound(source_key, message_id, sender, subject, received_at,"
                 " outcome, reason, folder, transition_id, archive_path)"
                 " VALUES(?,?,?,?,?,?,?,?,?,?)",
                 source_key, message_id, msg.from_email if msg else "",
                 msg.subject[:500] if msg else "", iso(now), outcome.outcome, outcome.reason,
                 folder_for(rt, outcome), outcome.transition_id, archive_path)
    if outcome.transition_id:
        mark_for_visit(rt.store, outcome.transition_id)


def _fallback_id(raw: bytes) -> str:
    return f"<{hashlib.sha256(raw).hexdigest()}@mailer.invalid>"


def _decide_and_act(rt: Runtime, raw: bytes, now: datetime, *, full_size: int | None = None,
                    ) -> tuple[Outcome, InboundMessage | None, str]:
    """What the message is and does; with the conversation it belongs to ('' for none), in
    which the answers it gets are counted."""
    try:
        msg = _parse_within_limit(rt, raw, full_size)
    except MessageParseError as exc:
        return Outcome("quarantined", f"not a readable email: {exc}"), None, ""
    canary = msg.header(CANARY_HEADER)
    if canary and msg.from_email == rt.address and is_our_canary(rt, canary):
        rt.store.set_meta("canary_seen_at", iso(now) or "")
        rt.store.set_meta("canary_seen_id", canary)
        return Outcome("canary", "the watchdog's canary came back"), msg, ""
    seen = rt.store.one("SELECT outcome FROM inbound WHERE message_id=? AND outcome != "
                        "'duplicate' LIMIT 1", msg.message_id)
    if seen is not None:
        return Outcome("duplicate", "same Message-ID handled before"), msg, ""
    if msg.from_problem:
        # Several possible senders: whichever we picked, the other one could be the forger.
        log.warning("refused a message whose sender is ambiguous: %s", msg.from_problem)
        return Outcome("rejected", f"ambiguous sender: {msg.from_problem}"), msg, ""
    correlation = correlate(rt, msg)
    if correlation.via:
        log.debug("%s is about %s (found by its %s)", redact(msg.message_id),
                  correlation.transition.id if correlation.transition else "no open transition",
                  {"token": "reply address", "thread": "thread headers",
                   "subject": "subject line"}[correlation.via])
    vouched = sender_verdict(rt, msg)
    machine = automation_reason(msg, own_addresses=[rt.address])
    if machine is not None:
        return _automated(rt, msg, correlation, machine, now, vouched=vouched.passed), msg, ""
    if not vouched.passed:
        # No answer: the From may be forged, and the real person should not get backscatter.
        log.info("sender authentication did not pass for %s: %s", msg.from_email,
                 vouched.reason)
        return Outcome("rejected", "sender authentication (DMARC/DKIM/SPF) did not pass: "
                       f"{vouched.reason}",
                       correlation.transition.id if correlation.transition else None), msg, ""
    # An attendee's Accept or Decline goes to the organizer, the assistant: recorded, never
    # answered (a calendar app wrote it), whoever the attendee is.
    calendar_answers = meetings.calendar_answers(rt, msg, now=now)
    if calendar_answers is not None:
        return Outcome("processed", f"calendar answer ({calendar_answers} recorded)",
                       correlation.transition.id if correlation.transition else None), msg, ""
    objection = first_objection(msg, rt.rules)
    if objection is not None:
        if objection.tell_sender:
            reject(rt, msg, objection.reason, advice=objection.advice, now=now)
        return Outcome(objection.outcome, objection.reason), msg, ""
    # Commands ("status", "send") are legitimately repeated word for word; never mute them.
    if parse_command(new_text(msg.text, html=msg.html)) is None and \
            _repeats_itself(rt, msg, correlation, now):
        return Outcome("ignored", "loop guard: the same text as an earlier message from this "
                       "sender today (an auto-responder?)",
                       correlation.transition.id if correlation.transition else None), msg, ""
    scope = conversation_scope(rt, msg, correlation)
    over = _answer_limit_reached(rt, msg, scope, now) if scope else ""
    if over:
        log.warning("%s is not answered: %s", msg.from_email, over)
        return Outcome("ignored", over, correlation.transition.id if correlation.transition
                       else None), msg, ""
    return route(rt, msg, correlation, now), msg, scope


def sender_verdict(rt: Runtime, msg: InboundMessage) -> Verdict:
    """Whether our own server vouched for the From domain; always yes when not required."""
    auth = rt.rules.authentication
    if not auth.require_pass:
        return Verdict(True, "authentication not required")
    return verdict(msg, trusted_ids=auth.trusted_servers, our_hosts=auth.border_hosts)


def _parse_within_limit(rt: Runtime, raw: bytes, full_size: int | None) -> InboundMessage:
    """The message, or for one over the size limit only its headers: enough to refuse it
    (and tell a person why) without decoding megabytes of body first. The sources read only
    the headers of such a message (`full_size`); one handed over whole is cut here."""
    if full_size is not None:
        return replace(parse_message(raw.rstrip(b"\r\n") + b"\r\n\r\n"), size=full_size)
    limit = rt.rules.limits.max_message_bytes
    if len(raw) <= limit:
        return parse_message(raw, max_text=rt.rules.limits.max_text_kb * 1024)
    end = min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0),
              default=min(len(raw), 256 * 1024))
    headers = parse_message(raw[:min(end, 256 * 1024)] + b"\r\n\r\n")
    return replace(headers, size=len(raw))


def _repeats_itself(rt: Runtime, msg: InboundMessage, c: Correlation,
                    now: datetime) -> bool:
    """A responder without any automation header sends the same words every time, while a
    person's reply quotes what it answers, which differs each time. The second identical text
    from one sender in a day, to the same thread (reply token or transition), is not
    answered, so such a responder cannot start a loop; the same answers sent for two
    different accounts are both read. The day's texts are kept as digests beside the day's
    refusals (same table, same life)."""
    if not msg.from_email:
        return False
    scope = c.token.family if c.token else (c.transition.id if c.transition else "new")
    digest = hashlib.sha256(" ".join(msg.text.split()).lower().encode()).hexdigest()
    return not rt.store.run("INSERT OR IGNORE INTO rejections(sender, reason, day) "
                            "VALUES(?,?,?)", msg.from_email, f"text sha256:{digest}:{scope}",
                            now.date().isoformat()).rowcount


def conversation_scope(rt: Runtime, msg: InboundMessage, c: Correlation) -> str:
    """The conversation a message belongs to, for counting the answers it gets: its reply
    token's family (receipts carry fresh tokens of one family), else its transition, else
    the first of our mails its References name; '' for a new conversation."""
    if c.token is not None:
        return f"token:{c.token.family}"
    if c.transition is not None:
        return f"transition:{c.transition.id}"
    for ref in [*msg.references, msg.in_reply_to]:
        if ref and rt.store.one("SELECT 1 FROM outbound WHERE message_id=?", ref):
            return f"mail:{ref}"
    return ""


def _answer_limit_reached(rt: Runtime, msg: InboundMessage, scope: str,
                          now: datetime) -> str:
    """Why this correspondent gets no more automatic answers in this conversation for now,
    or ''. Whatever the words: a help desk acknowledging each mail with a new ticket number
    is still a loop, and the texts of a loop differ."""
    limits = rt.rules.limits
    for most, span, words, setting in (
            (limits.max_answers_per_hour, timedelta(hours=1), "hour", "max_answers_per_hour"),
            (limits.max_answers_per_day, timedelta(days=1), "day", "max_answers_per_day")):
        row = rt.store.one("SELECT COUNT(*) AS n FROM auto_answers WHERE address=? AND scope=?"
                           " AND at > ?", msg.from_email, scope, iso(now - span))
        if row is not None and row["n"] >= most:
            return (f"answer limit: {row['n']} automatic answers to this address in this "
                    f"conversation in the last {words} (limits.{setting}); filed unanswered")
    return ""


def _note_automatic_answer(rt: Runtime, msg: InboundMessage, scope: str, first_mail: int,
                           now: datetime) -> None:
    """Count an answer when this message made the assistant write to its sender."""
    rows = rt.store.all("SELECT recipients_json FROM outbound WHERE id >= ?", first_mail)
    if not any(msg.from_email in json.loads(row["recipients_json"]) for row in rows):
        return
    rt.store.run("INSERT INTO auto_answers(address, scope, at) VALUES(?,?,?)",
                 msg.from_email, scope, iso(now))
    rt.store.run("DELETE FROM auto_answers WHERE at < ?", iso(now - timedelta(days=2)))


def correlate(rt: Runtime, msg: InboundMessage) -> Correlation:
    token_value = token_in([*msg.delivered_to, *msg.to, *msg.cc], rt.address)
    if token_value:
        token = resolve_token(rt.store, token_value)
        if token is not None:
            transition = load_transition(rt.store, token.transition_id) \
                if token.transition_id else None
            return Correlation(token=token, transition=transition, via="token")
    for ref in [msg.in_reply_to, *reversed(msg.references)]:
        if not ref:
            continue
        row = rt.store.one("SELECT transition_id, recipients_json FROM outbound "
                           "WHERE message_id=?", ref)
        if row is not None and row["transition_id"]:
            return Correlation(transition=load_transition(rt.store, row["transition_id"]),
                               via="thread",
                               thread_recipients=tuple(json.loads(row["recipients_json"])))
    tid = subject_transition_id(msg.subject)
    if tid:
        return Correlation(transition=load_transition(rt.store, tid), via="subject")
    return Correlation()


def _automated(rt: Runtime, msg: InboundMessage, correlation: Correlation, reason: str,
               now: datetime, *, vouched: bool) -> Outcome:
    """Never answer a machine; but an out-of-office from the outgoing CSM moves reminders."""
    t = correlation.transition
    # Only the away person's own notice moves their reminders: a stranger's mail dressed as
    # an out-of-office, or one tied to the transition only by a subject tag, moves nothing.
    if t is not None and vouched and correlation.owned_by(msg.from_email) \
            and is_out_of_office(msg):
        note = answer.note_out_of_office(rt, t, msg, now=now)
        return Outcome("ignored", f"{reason}; {note}", t.id)
    return Outcome("ignored", reason, t.id if t else None)


def route(rt: Runtime, msg: InboundMessage, c: Correlation, now: datetime) -> Outcome:
    if c.token is not None:
        return _route_token(rt, msg, c.token, c.transition, now)
    if c.transition is not None:
        if msg.from_email != c.transition.manager.email:
            return reject(rt, msg, NOT_YOURS, advice=NOT_YOURS_ADVICE, now=now,
                          transition_id=c.transition.id)
        return command.handle_command(rt, msg, c.transition, now=now)
    if c.via == "subject":
        # The same words as for a transition that exists: a refusal is no way to find out.
        return reject(rt, msg, NOT_YOURS, advice=NOT_YOURS_ADVICE, now=now)
    if not rt.rules.may_request(msg.from_email):
        return reject(rt, msg, "your address is not allowed to start account transitions",
                      advice="Ask your Customer Success operations team to add you to the "
                      "assistant's list of requesters.", now=now)
    if digest.digest_requested(msg):
        return digest.send_digest_on_request(rt, msg, now=now)
    attached_book = book.book_attachment(msg, max_rows=rt.rules.limits.max_book_rows)
    if attached_book is not None:
        return book.handle_book(rt, msg, attached_book, now=now)
    return request.handle_request(rt, msg, now=now)


def _route_token(rt: Runtime, msg: InboundMessage, token: ReplyToken,
                 t: Transition | None, now: datetime) -> Outcome:
    if token.revoked or (t is not None and not t.is_open and token.purpose != "manager"):
        return reject(rt, msg, "this transition is closed, so replies to it are no longer "
                      "read", advice="If something still needs doing, please write to the "
                      "manager directly.", now=now, transition_id=t.id if t else None)
    allowed = {token.person_email} | ({t.manager.email} if t else set())
    if msg.from_email not in allowed:
        return reject(rt, msg, "this reply address belongs to someone else",
                      advice="Please reply from the address the assistant wrote to.",
                      now=now, transition_id=t.id if t else None)
    record_use(rt.store, token)
    if token.purpose == "request":
        started = request.started_from(rt, token)
        if started is not None:  # replies to a fixed request's answer are commands
            return command.handle_command(rt, msg, started, now=now)
        return request.handle_request_fix(rt, msg, token, now=now)
    if t is None:
        return Outcome("rejected", "token without a transition")
    if token.purpose == command.CONFIRM_WORKBOOK:
        if msg.from_email != token.person_email:  # only the manager it was sent to
            return reject(rt, msg, "this reply address belongs to someone else",
                          advice="Please reply from the address the assistant wrote to.",
                          now=now, transition_id=t.id)
        return command.confirm_workbook(rt, msg, t, token, now=now)
    if token.purpose == "manager" or (
            msg.from_email == t.manager.email and token.purpose != "approval"
            and parse_command(new_text(msg.text, html=msg.html)) is not None):
        return command.handle_command(rt, msg, t, now=now)
    rt.store.add_history(t.id, at=now, direction="in", sender=msg.from_email,
                         recipients=list(msg.to), subject=msg.subject, note=token.purpose,
                         message_id=msg.message_id)
    if token.purpose.startswith("book_"):  # a mail that covered several accounts of a book
        return book_answer.handle_group_reply(rt, msg, t, token, now=now)
    if token.purpose == "approval":
        return due_steps.handle_approval(rt, msg, t, token, now=now)
    return answer.handle_reply(rt, msg, t, token, now=now)


NOT_YOURS = "only the manager who started a transition can change it"
NOT_YOURS_ADVICE = ("If you started it, check the TR number in the subject line. If you are "
                    "part of it, reply to the email the assistant sent you, from the same "
                    "address.")


def reject(rt: Runtime, msg: InboundMessage, reason: str, *, advice: str, now: datetime,
           transition_id: str | None = None) -> Outcome:
    """Refuse a person's message with a clear answer, at most once per sender, reason, day."""
    day = now.date().isoformat()
    inserted = rt.store.run("INSERT OR IGNORE INTO rejections(sender, reason, day) "
                            "VALUES(?,?,?)", msg.from_email, reason, day).rowcount
    if inserted and msg.from_email:
        queue_outgoing(rt, Outgoing(
            template="rejection", to=[Person(msg.from_name, msg.from_email)],
            # The sender's subject is not echoed: a refusal must not carry an attacker's words.
            context={"original_subject": "your message to the transitions assistant",
                     "reason": reason,
                     "advice": advice, "assistant": rt.address},
            kind="rejection", answering=msg, echo_subject=False),
            transition_id=None, now=now)
    return Outcome("rejected", reason, transition_id)
