"""Mail about several transitions at once (a book of business): one reply token stands for the
whole group, and each member's history records the mail it shared."""

from __future__ import annotations

from datetime import datetime

from mailer.flows.runtime import Runtime
from mailer.handoff.model import Person
from mailer.handoff.transitions import Transition
from mailer.state.token_secrecy import token_hash
from mailer.state.tokens import ReplyToken, issue_token
from mailer.state.transition_records import load_transition

# The conversation of a combined questionnaire, which the grouped reminders continue; it is
# filed under the first transition of the group, as the mail itself is.
BOOK_QUESTIONNAIRE_THREAD = "book_questionnaire"


def group_token(rt: Runtime, transitions: list[Transition], person: Person, purpose: str, *,
                now: datetime) -> str:
    """One reply token for a mail about several transitions; it remembers which ones."""
    token = issue_token(rt.store, transition_id=transitions[0].id, person_email=person.email,
                        purpose=purpose, now=now, random_bytes=rt.random_bytes)
    for t in transitions:
        rt.store.run("INSERT OR IGNORE INTO token_groups(token_hash, transition_id) VALUES(?,?)",
                     token_hash(token), t.id)
    return token


def companions(rt: Runtime, transitions: list[Transition]) -> list[str]:
    """Every transition that shared a grouped mail with one of these: a grouped reminder
    continues the conversation of a combined form sent for a larger group."""
    marks = ",".join("?" * len(transitions))
    return [row["transition_id"] for row in rt.store.all(
        "SELECT DISTINCT transition_id FROM token_groups WHERE token_hash IN (SELECT token_hash "
        "FROM "
        f"token_groups WHERE transition_id IN ({marks})) ORDER BY transition_id",
        *[t.id for t in transitions])]


def note_shared_mail(rt: Runtime, transitions: list[Transition], person: Person, *,
                     subject: str, kind: str, now: datetime) -> None:
    """The history of every transition but the first (which the mail itself is filed under)
    records that it went out in a shared mail."""
    for t in transitions[1:]:
        rt.store.add_history(t.id, at=now, direction="out", sender=rt.address,
                             recipients=[person.email], subject=subject,
                             note=f"{kind} (shared with {transitions[0].id})")


def group_of(rt: Runtime, token: ReplyToken) -> list[Transition]:
    """The open transitions a grouped mail's token stands for, in transition order."""
    rows = rt.store.all("SELECT transition_id FROM token_groups WHERE token_hash=? "
                        "ORDER BY transition_id", token.family)
    found = [load_transition(rt.store, row["transition_id"]) for row in rows]
    return [t for t in found if t is not None and t.is_open]
