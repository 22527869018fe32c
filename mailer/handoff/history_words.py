"""What each entry of a transition's history was, in plain words rather than code names:
`customer_intro_draft` reads "draft for approval: The outgoing CSM introduces ...", and
`request_accepted` "the answer to the request, with the plan"."""

from __future__ import annotations

import re
from collections.abc import Mapping

PLAIN: dict[str, str] = {
    "request": "the manager's request",
    "request_accepted": "the answer to the request, with the plan",
    "request_problems": "what the request still needed",
    "questionnaire": "the handoff questionnaire",
    "questionnaire_receipt": "receipt for questionnaire answers",
    "incoming_notice": "notice to the incoming CSM",
    "intro_text_receipt": "receipt for the introduction",
    "call_notes_receipt": "receipt for the call notes",
    "debrief_receipt": "receipt for the debrief",
    "note_receipt": "receipt for a note",
    "workbook": "the handoff workbook",
    "command": "a command from the manager",
    "command_result": "the answer to a command",
    "command_unknown": "the answer to a command that was not clear",
    "status": "the status, on request",
    "approval_done": "what became of a draft",
    "approval_closed": "a note that the draft was no longer waiting",
    "delivery_failed": "notice of an undelivered email",
    "workbook_confirm": "a question before the workbook goes to a new CSM",
    "transition_problem": "notice of a problem with this transition",
    "transition_cancelled": "notice that the hand-over is cancelled",
    "combined_questionnaire": "the handoff questionnaire, one form for several accounts",
}
_SUFFIXES = (("_draft", "draft for approval: {}"),
             ("_silence", "sent after no answer to the draft: {}"),
             ("_request", "updated meeting invitation: {}"),
             ("_cancel", "cancelled meeting invitation: {}"))
_CODE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def history_words(note: str, step_titles: Mapping[str, str]) -> str:
    """The note of a history entry in plain words; free text is kept as it was."""
    head, sep, rest = note.partition(" (")
    return _words(head, step_titles) + (sep + rest if sep else "")


def _words(kind: str, step_titles: Mapping[str, str]) -> str:
    if not _CODE_NAME.match(kind):
        return kind
    if kind in PLAIN:
        return PLAIN[kind]
    if kind in step_titles:
        return step_titles[kind]
    if kind.startswith("grouped_") and kind.removeprefix("grouped_") in step_titles:
        return f"{step_titles[kind.removeprefix('grouped_')]} (one mail for several accounts)"
    for suffix, words in _SUFFIXES:
        step = kind.removesuffix(suffix)
        if kind.endswith(suffix) and step in step_titles:
            return words.format(step_titles[step])
    return kind.replace("_", " ")
