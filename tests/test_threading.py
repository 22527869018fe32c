"""Issue 12: every mail the product sends lands in the right conversation in Gmail, Outlook and
Apple Mail, as each client decides it, on the mail the real servers delivered.

- Gmail joins a message to a conversation when its References or In-Reply-To name a message of
  it AND its subject is the same once `Re:`/`Fwd:` prefixes are removed.
- Outlook groups by that normalised subject (its Thread-Topic when present), and keeps apart
  messages whose Thread-Index names different conversations.
- Apple Mail follows References and In-Reply-To, through messages it has never seen.

Each client's rule is written here from its documented behaviour, not from the product's code.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable
from email.message import EmailMessage

from every_mail import ANSWER_KINDS, EveryMail, message_id

# What each follow-up continues: the kind of mail whose conversation it must join.
FOLLOWS = {
    "questionnaire_reminder_1": ("questionnaire",),
    "questionnaire_reminder_2": ("questionnaire",),
    "questionnaire_escalation": ("request_accepted",),
    "intro_text_reminder": ("intro_text_prompt",),
    "call_notes_reminder": ("call_notes_prompt",),
    "update_systems_reminder": ("request_accepted",),
    "delivery_failed": ("request_accepted",),
    "workbook": ("workbook",),  # each new version continues the first
    "grouped_questionnaire_reminder_1": ("combined_questionnaire",),
    "grouped_questionnaire_reminder_2": ("combined_questionnaire",),
    "grouped_intro_text_reminder": ("grouped_intro_text_prompt",),
    "workbook_confirm": ("request_accepted",),
    "transition_problem": ("request_accepted",),
}
SILENCE = re.compile(r"^(?P<step>\w+)_silence$")  # "went out as nobody answered" -> its draft
# A meeting's updated invitation or its cancellation continues the first invitation's thread.
CHANGE = re.compile(r"^(?P<step>\w+)_(?:request|cancel)$")
# Mail that rightly starts a conversation of its own.
STARTS = {
    "questionnaire", "incoming_notice", "intro_text_prompt", "kt_meeting_invite",
    "customer_intro", "joint_call_nudge", "new_csm_call_nudge", "transition_meeting_invite",
    "call_notes_prompt", "customer_recap", "debrief_questionnaire", "manager_checkin",
    "combined_questionnaire", "grouped_intro_text_prompt", "canary", "transition_cancelled",
}
DRAFT = re.compile(r"^\w+_draft$")
_PREFIX = re.compile(r"^\s*((re|fwd?|aw|wg|sv|vs|antw|r)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def normalised(subject: str) -> str:
    return " ".join(_PREFIX.sub("", subject).split()).casefold()


def references(msg: EmailMessage) -> list[str]:
    found = re.findall(r"<[^<>\s]+>", f"{msg.get('In-Reply-To', '')} {msg.get('References', '')}")
    return list(dict.fromkeys(found))


def conversation_guid(msg: EmailMessage) -> bytes | None:
    value = msg.get("Thread-Index")
    if value is None:
        return None
    try:
        raw = base64.b64decode("".join(str(value).split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw[6:22] if len(raw) >= 22 else None


class Conversations:
    """Union-find over one mailbox's messages (and, for Apple Mail, ids it never saw)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def join(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)

    def same(self, a: str, b: str) -> bool:
        return self.find(a) == self.find(b)


def gmail(messages: list[EmailMessage]) -> Conversations:
    threads = Conversations()
    by_id = {message_id(m): m for m in messages}
    for msg in messages:
        mine = message_id(msg)
        threads.find(mine)
        for ref in references(msg):
            other = by_id.get(ref)
            if other is not None and normalised(str(other["Subject"])) == normalised(
                    str(msg["Subject"])):
                threads.join(mine, ref)
    return threads


def outlook(messages: list[EmailMessage]) -> Conversations:
    threads = Conversations()
    topic = {message_id(m): normalised(str(m.get("Thread-Topic") or m["Subject"]))
             for m in messages}
    for index, msg in enumerate(messages):
        mine = message_id(msg)
        threads.find(mine)
        for earlier in messages[:index]:
            theirs = message_id(earlier)
            guids = conversation_guid(msg), conversation_guid(earlier)
            if topic[mine] == topic[theirs] and (None in guids or guids[0] == guids[1]):
                threads.join(mine, theirs)
    return threads


def apple_mail(messages: list[EmailMessage]) -> Conversations:
    threads = Conversations()
    for msg in messages:
        mine = message_id(msg)
        threads.find(mine)
        for ref in references(msg):
            threads.join(mine, ref)
    return threads


CLIENTS: dict[str, Callable[[list[EmailMessage]], Conversations]] = {
    "Gmail": gmail, "Outlook": outlook, "Apple Mail": apple_mail}


def _expected_partners(every: EveryMail, mailbox: list[EmailMessage],
                       msg: EmailMessage) -> list[EmailMessage]:
    """The earlier mail of this mailbox that `msg` follows up, by what the mail is."""
    kind = every.kind(msg)
    silence, change = SILENCE.match(kind), CHANGE.match(kind)
    wanted = ((f"{silence['step']}_draft",) if silence else (change["step"],) if change
              else FOLLOWS.get(kind, ()))
    earlier = mailbox[:mailbox.index(msg)]
    same_transition = (lambda m: True) if kind.startswith("grouped_") else (
        lambda m: every.records[message_id(m)]["transition_id"]
        == every.records[message_id(msg)]["transition_id"])
    return [m for m in earlier if every.kind(m) in wanted and same_transition(m)]


def _outcomes(every: EveryMail) -> Iterable[tuple[str, str, str, bool]]:
    """(client, kind, what it must join, joined?) for every answer and follow-up."""
    for address, box in every.mailboxes.items():
        views = {name: rule(box.messages) for name, rule in CLIENTS.items()}
        for answer in every.answered:
            if str(answer.question["From"]).lower().find(address) < 0:
                continue
            for reply in answer.answers:
                for name, threads in views.items():
                    yield (name, every.kind(reply), "the mail it answers",
                           threads.same(message_id(reply),
                                        message_id(answer.question)))
        for msg in box.messages:
            for partner in _expected_partners(every, box.messages, msg):
                for name, threads in views.items():
                    yield (name, every.kind(msg), every.kind(partner),
                           threads.same(message_id(msg), message_id(partner)))


def test_every_answer_keeps_the_persons_subject_and_thread(every_mail: EveryMail) -> None:
    assert len(every_mail.answered) >= 20
    for answer in every_mail.answered:
        question = answer.question
        assert len(answer.answers) == 1, (
            f"'{question['Subject']}' from {question['From']} got "
            f"{[every_mail.kind(a) for a in answer.answers]}")
        [reply] = answer.answers
        theirs = " ".join(str(question["Subject"]).split())
        expected = theirs if theirs.lower().startswith("re:") else f"Re: {theirs}"
        if every_mail.kind(reply) == "rejection":  # a refusal never repeats a stranger's words
            expected = "Re: your message to the transitions assistant"
        assert str(reply["Subject"]) == expected, every_mail.kind(reply)
        assert str(reply["In-Reply-To"]).strip() == message_id(question)
        assert message_id(question) in str(reply["References"]).split()


def test_every_kind_of_mail_threads_in_gmail_outlook_and_apple_mail(
        every_mail: EveryMail) -> None:
    table: dict[tuple[str, str], set[bool]] = {}
    for client, kind, partner, joined in _outcomes(every_mail):
        if kind == "rejection" and client != "Apple Mail":
            continue  # linked to the stranger's mail, under a subject of its own (above)
        table.setdefault((kind, client), set()).add(joined)
        assert joined, f"{client}: '{kind}' does not join {partner}"
    kinds = {kind for kind, _ in table}
    for expected in ("request_accepted", "questionnaire_receipt", "status", "command_result",
                     "approval_done", "questionnaire_reminder_1", "questionnaire_reminder_2",
                     "questionnaire_escalation", "intro_text_reminder", "call_notes_reminder",
                     "update_systems_reminder", "delivery_failed", "workbook", "book_answer",
                     "grouped_questionnaire_reminder_1", "transition_meeting_invite_silence",
                     "rejection", "request_problems", "digest", "approval_closed"):
        assert expected in kinds, f"the story never checked '{expected}'"
    print("\nkind: Gmail / Outlook / Apple Mail")
    for kind in sorted(kinds):
        print(kind, *("yes" if table.get((kind, c)) == {True}
                      else "own subject" if kind == "rejection" else "NO" for c in CLIENTS))


def test_no_kind_of_mail_is_left_unclassified(every_mail: EveryMail) -> None:
    """A new kind of mail must say whether it answers, follows up or starts a conversation."""
    for record, _raw in every_mail.outbound:
        kind = record["kind"]
        assert (kind in ANSWER_KINDS or kind in FOLLOWS or kind in STARTS
                or SILENCE.match(kind) or DRAFT.match(kind) or CHANGE.match(kind)), \
            f"unclassified mail kind {kind}"


def test_an_outlook_conversation_keeps_its_thread_index(every_mail: EveryMail) -> None:
    dana = every_mail.mailboxes["dana@example.com"].messages
    request = next(m for m in dana if m["Thread-Index"] and "Acme" in str(m["Subject"]))
    [accepted] = [m for m in dana if every_mail.kind(m) == "request_accepted"
                  and str(m["In-Reply-To"]).strip() == message_id(request)]
    assert conversation_guid(accepted) == conversation_guid(request)
    later = [m for m in dana if every_mail.kind(m) in ("questionnaire_escalation",
                                                     "update_systems_reminder")
             and normalised(str(m["Subject"])) == "transition: acme corp"]
    assert later and all(conversation_guid(m) == conversation_guid(request) for m in later)

