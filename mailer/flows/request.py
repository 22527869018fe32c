"""A manager's request: answered with a started transition, or with what to fix.

A request with problems is kept (its fields stored under a reply token); the manager's
reply with the corrected lines is merged into it, so nothing they wrote is lost.
"""

from __future__ import annotations

import json
from datetime import datetime

from mailer.flows.opening import checked_request, open_transition, questionnaire_mail
from mailer.flows.outcome import Outcome
from mailer.flows.outgoing import Outgoing, person_view, queue_outgoing, transition_context
from mailer.flows.runtime import Runtime
from mailer.flows.schedule import plan_rows
from mailer.handoff.model import InboundMessage, Person, TransitionRequest
from mailer.handoff.request import RequestParse, parse_request, request_from_fields
from mailer.handoff.request_fields import FIELD_TEMPLATE
from mailer.handoff.request_lines import extract_fields, merge_fields
from mailer.handoff.transitions import Transition, request_rows
from mailer.mail.reply_text import new_text, request_bodies
from mailer.state.store import iso
from mailer.state.token_secrecy import token_hash
from mailer.state.tokens import ReplyToken, issue_token, reissue_token
from mailer.state.transition_records import load_transition


def handle_request(rt: Runtime, msg: InboundMessage, *, now: datetime) -> Outcome:
    today = now.astimezone(rt.settings.timezone).date()
    text, html = request_bodies(msg)
    parsed = checked_request(rt, parse_request(text, html=html, today=today))
    if parsed.request is None:
        _answer_problems(rt, msg, parsed, now=now, token=None)
        return Outcome("processed", f"request with {len(parsed.problems)} problem(s) answered")
    t = start(rt, parsed.request, msg, now=now)
    return Outcome("processed", f"started {t.id}", t.id)


def started_from(rt: Runtime, token: ReplyToken) -> Transition | None:
    """The transition a corrected request already started: later replies to the answer that
    listed the problems are the manager's commands on it."""
    pending = rt.store.one("SELECT transition_id FROM pending_requests WHERE token_hash=?",
                           token.family)
    if pending is None or not pending["transition_id"]:
        return None
    return load_transition(rt.store, pending["transition_id"])


def handle_request_fix(rt: Runtime, msg: InboundMessage, token: ReplyToken, *,
                       now: datetime) -> Outcome:
    pending = rt.store.one("SELECT * FROM pending_requests WHERE token_hash=?", token.family)
    if pending is None:
        return Outcome("rejected", "unknown request token")
    today = now.astimezone(rt.settings.timezone).date()
    fixes = extract_fields(new_text(msg.text, html=msg.html))
    fields = merge_fields(json.loads(pending["fields_json"]), fixes)
    parsed = checked_request(rt, request_from_fields(fields, today=today))
    if parsed.request is None:
        _answer_problems(rt, msg, parsed, now=now, token=token)
        return Outcome("processed", f"request still has {len(parsed.problems)} problem(s)")
    t = start(rt, parsed.request, msg, now=now)
    rt.store.run("UPDATE pending_requests SET transition_id=?, fields_json=? WHERE token_hash=?",
                 t.id, json.dumps(fields), token.family)
    return Outcome("processed", f"started {t.id} after corrections", t.id)


def _answer_problems(rt: Runtime, msg: InboundMessage, parsed: RequestParse, *,
                     now: datetime, token: ReplyToken | None) -> None:
    """The problems, with a reply address that finds this request again: the first answer's
    token names the pending request; each later answer gets a fresh one of its family."""
    if token is None:
        reply_token = issue_token(rt.store, transition_id=None, person_email=msg.from_email,
                                  purpose="request", now=now, random_bytes=rt.random_bytes)
        rt.store.run("INSERT INTO pending_requests(token_hash, manager_email, fields_json,"
                     " created_at) VALUES(?,?,?,?)", token_hash(reply_token), msg.from_email,
                     json.dumps(parsed.fields), iso(now))
    else:
        reply_token = reissue_token(rt.store, token, now=now, random_bytes=rt.random_bytes)
        rt.store.run("UPDATE pending_requests SET fields_json=? WHERE token_hash=?",
                     json.dumps(parsed.fields), token.family)
    manager = Person(msg.from_name, msg.from_email)
    queue_outgoing(rt, Outgoing(
        template="request_problems", to=[manager], kind="request_problems",
        context={"manager": person_view(manager), "problems": list(parsed.problems),
                 "known": [(k, v) for k, v in parsed.fields.items() if v],
                 "field_template": FIELD_TEMPLATE.strip()},
        reply_token=reply_token, answering=msg),
        transition_id=None, now=now)


def start(rt: Runtime, request: TransitionRequest, msg: InboundMessage, *,
          now: datetime) -> Transition:
    """Open a transition and send its first three emails."""
    t = open_transition(rt, request, msg, now=now)
    rows = plan_rows(rt, t)
    context = transition_context(rt, t) | {"plan": rows, "fields": request_rows(t)}
    tokens = {purpose: issue_token(rt.store, transition_id=t.id, person_email=person.email,
                                   purpose=purpose, now=now, random_bytes=rt.random_bytes)
              for purpose, person in (("manager", t.manager), ("questionnaire", t.outgoing),
                                      ("incoming", t.incoming))}
    queue_outgoing(rt, Outgoing(
        template="request_accepted", to=[t.manager], context=context, kind="request_accepted",
        reply_token=tokens["manager"], answering=msg, thread="request"),
        transition_id=t.id, now=now)
    queue_outgoing(rt, questionnaire_mail(rt, t, context, tokens["questionnaire"]),
                   transition_id=t.id, now=now)
    queue_outgoing(rt, Outgoing(
        template="incoming_notice", to=[t.incoming], cc=[], context=context,
        kind="incoming_notice", reply_token=tokens["incoming"],
        auto_submitted="auto-generated", thread="incoming"), transition_id=t.id, now=now)
    return t
