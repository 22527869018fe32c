"""Replies to the mails that cover several accounts of a book: answers and introductions.

A reply to the combined questionnaire (or to a grouped reminder) may carry the combined form,
single-account forms, or text with each account's transition number on a line of its own
above its numbered answers. Every account's answers are filed as a single reply would file
them, and the outgoing CSM gets one receipt for all of them. A reply to the grouped
introduction prompt gives the same introduction to every listed account.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Any

from mailer.flows.answer import file_answers
from mailer.flows.outcome import Outcome
from mailer.flows.outgoing import Outgoing, person_view, queue_outgoing
from mailer.flows.runtime import Runtime
from mailer.flows.schedule import playbook_of
from mailer.flows.shared_mail import group_of
from mailer.flows.workbook_delivery import current_answers, deliver_workbook
from mailer.handoff.book_form import CombinedFormError, read_combined_form
from mailer.handoff.model import InboundMessage, Person
from mailer.handoff.questionnaire import (
    SECTION_BY_NUMBER,
    SECTIONS,
    excerpt,
    missing_sections,
    without_extend_marker,
)
from mailer.handoff.questionnaire_form import FormError, read_form
from mailer.handoff.questionnaire_reply import parse_answers
from mailer.handoff.transitions import Transition, display_name
from mailer.mail.reply_text import new_text
from mailer.state.tokens import ReplyToken, reissue_token
from mailer.state.transition_records import save_transition

XLSX_NAMES = (".xlsx", ".xlsm")
_TRANSITION_ID = re.compile(r"\bTR-(\d{1,8})\b", re.IGNORECASE)
_HEADING_DEBRIS = re.compile(r"^[\s#*_>\[\](){}:.-]+|[\s#*_>\[\](){}:.-]+$")


def handle_group_reply(rt: Runtime, msg: InboundMessage, t: Transition, token: ReplyToken, *,
                       now: datetime) -> Outcome:
    group = group_of(rt, token) or [t]
    for member in group[1:]:
        rt.store.add_history(member.id, at=now, direction="in", sender=msg.from_email,
                             recipients=list(msg.to), subject=msg.subject,
                             note=f"{token.purpose} (shared reply)", message_id=msg.message_id)
    if token.purpose == "book_intro_text":
        return _introduction(rt, msg, group, token, now=now)
    return _answers(rt, msg, group, token, now=now)


# --- questionnaire answers for several accounts ---------------------------------------------


def _answers(rt: Runtime, msg: InboundMessage, group: list[Transition], token: ReplyToken, *,
             now: datetime) -> Outcome:
    by_id = {t.id: t for t in group}
    text_answers, unplaced = split_by_account(new_text(msg.text, html=msg.html), group)
    # A note above the headings ("Initech is done") is fine; answers under no account are not.
    unplaced_answers = bool(parse_answers(unplaced).sections)
    found: dict[str, dict[int, str]] = {tid: parse_answers(text).sections
                                        for tid, text in text_answers.items()}
    notes: list[str] = []
    for tid, sections in _form_answers(msg, by_id, notes).items():
        for number, text in sections.items():
            found.setdefault(tid, {}).setdefault(number, text)  # the email's words come first
    filed = [_file(rt, by_id[tid], sections, msg, now=now)
             for tid, sections in found.items() if sections]
    still_open = [f"{t.id} {t.account}" for t in group
                  if missing_sections(current_answers(rt, t.id).keys(),
                                      playbook_of(rt, t).required_sections)]
    person = Person(msg.from_name, msg.from_email)
    queue_outgoing(rt, Outgoing(
        template="book_receipt", to=[person], kind="questionnaire_receipt",
        context={"person": person_view(person), "filed": filed, "notes": notes,
                 "unplaced": unplaced_answers, "open_accounts": still_open,
                 "accounts": [{"tid": t.id, "account": t.account} for t in group]},
        reply_token=reissue_token(rt.store, token, now=now, random_bytes=rt.random_bytes),
        answering=msg),
        transition_id=group[0].id, now=now)
    return Outcome("processed", f"answers for {len(filed)} of {len(group)} accounts filed",
                   group[0].id)


def split_by_account(text: str, group: list[Transition]) -> tuple[dict[str, str], str]:
    """Text under each account's heading (a line naming its TR number or its account name);
    with a single account, everything is its. Also returns the text under no heading."""
    if len(group) == 1:
        return {group[0].id: text}, ""
    ids = {t.id for t in group}
    names = {" ".join(t.account.casefold().split()): t.id for t in group}
    blocks: dict[str, list[str]] = {}
    current: str | None = None
    unplaced: list[str] = []
    for line in text.splitlines():
        heading = _heading_of(line, ids, names)
        if heading is not None:
            current = heading
            blocks.setdefault(current, [])
            continue
        if current is None:
            unplaced.append(line)
        else:
            blocks[current].append(line)
    return {tid: "\n".join(lines) for tid, lines in blocks.items()}, "\n".join(unplaced)


def _heading_of(line: str, ids: set[str], names: dict[str, str]) -> str | None:
    bare = _HEADING_DEBRIS.sub("", line.strip())
    match = _TRANSITION_ID.search(bare)
    if match and len(bare) <= 80:
        tid = f"TR-{int(match.group(1)):04d}"
        if tid in ids:
            return tid
    return names.get(" ".join(bare.casefold().split()))


def _form_answers(msg: InboundMessage, by_id: dict[str, Transition],
                  notes: list[str]) -> dict[str, dict[int, str]]:
    found: dict[str, dict[int, str]] = {}
    for attachment in msg.attachments:
        if not attachment.filename.lower().endswith(XLSX_NAMES):
            continue
        try:
            per_account = read_combined_form(attachment.payload, by_id)
        except CombinedFormError as exc:
            notes.append(f"About {attachment.filename}: {exc} Your email text was still read.")
            continue
        if not per_account:
            per_account = _single_form(attachment.payload, by_id, attachment.filename, notes)
        for tid, sections in per_account.items():
            found.setdefault(tid, {}).update(sections)
    return found


def _single_form(payload: bytes, by_id: dict[str, Transition], filename: str,
                 notes: list[str]) -> dict[str, dict[int, str]]:
    """One account's own questionnaire form, sent back in the shared thread."""
    try:
        form = read_form(payload)
    except FormError as exc:
        notes.append(f"About {filename}: {exc}")
        return {}
    if form.transition_id and form.transition_id.upper() in by_id:
        return {form.transition_id.upper(): form.sections}
    return {}


def _file(rt: Runtime, t: Transition, sections: dict[int, str], msg: InboundMessage, *,
          now: datetime) -> dict[str, Any]:
    """File one account's answers the way a single questionnaire reply is filed, and send its
    handoff workbook once the needed answers are in. Returns what the receipt says of it: each
    section received with the start of its text and whether it was new, replaced or added to,
    and every section still unanswered, the required ones marked."""
    merged, changes, unchanged = file_answers(rt, t, sections, message_id=msg.message_id,
                                              now=now)
    required = set(playbook_of(rt, t).required_sections)
    missing = missing_sections(merged.keys(), required)
    workbook = bool(changes) and not missing
    if workbook:
        summary = ("first version: all required answers are in" if t.workbook_version == 0
                   else "updated: " + ", ".join(f"section {n}" for n in sorted(changes)))
        deliver_workbook(rt, t, now=now, change_summary=summary)
    return {"tid": t.id, "account": t.account, "incoming": display_name(t.incoming),
            "received": [{"number": n, "title": SECTION_BY_NUMBER[n].title, "how": how,
                          "excerpt": excerpt(without_extend_marker(sections.get(n, "")))}
                         for n, how in sorted(changes.items()) if n in SECTION_BY_NUMBER],
            "unchanged": [f"{n}. {SECTION_BY_NUMBER[n].title}" for n in unchanged
                          if n in SECTION_BY_NUMBER],
            "unanswered": [{"number": s.number, "title": s.title,
                            "required": s.number in required}
                           for s in SECTIONS if not merged.get(s.number, "").strip()],
            "missing": [f"{s.number}. {s.title}" for s in missing], "workbook": workbook}


# --- one introduction for several accounts --------------------------------------------------


def _introduction(rt: Runtime, msg: InboundMessage, group: list[Transition],
                  token: ReplyToken, *, now: datetime) -> Outcome:
    text = new_text(msg.text, html=msg.html).strip()
    if not text:
        return Outcome("processed", "empty introduction reply", group[0].id)
    for t in group:
        save_transition(rt.store, replace(t, intro_text=text), now=now)
    person = Person(msg.from_name, msg.from_email)
    queue_outgoing(rt, Outgoing(
        template="book_text_receipt", to=[person], kind="intro_text_receipt",
        context={"person": person_view(person), "text": text,
                 "accounts": [t.account for t in group]},
        reply_token=reissue_token(rt.store, token, now=now, random_bytes=rt.random_bytes),
        answering=msg),
        transition_id=group[0].id, now=now)
    return Outcome("processed", f"introduction received for {len(group)} accounts", group[0].id)
