"""Ordinary mail never turns into questionnaire answers.

The questionnaire reader keeps text typed inside quotes and reads loose numbered headings, so
it is generous by design. Run over every real-world fixture in ../shared/corpora (replies,
forwards, bounces, auto-replies, HTML-only mail), it must file nothing: none of those answer
our questions. tests/test_corpora.py covers reply extraction itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailer.errors import MessageParseError
from mailer.handoff.questionnaire_reply import parse_answers
from mailer.mail.parsing import parse_message

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"


def _bodies(path: Path, kind: str) -> tuple[str, str, str] | None:
    """(text, html, sender name) of a fixture, as the pipeline would hand them over."""
    raw = path.read_bytes()
    if kind == "text":
        return raw.decode("utf-8", "replace"), "", ""
    if kind == "html":
        return "", raw.decode("utf-8", "replace"), ""
    try:
        msg = parse_message(raw)
    except MessageParseError:
        return None  # the pipeline quarantines these; nothing to read
    return msg.text, msg.html, msg.from_name


def test_no_corpus_message_is_read_as_questionnaire_answers() -> None:
    if not CORPORA.is_dir():
        pytest.skip(f"the shared mail corpora are not at {CORPORA} (they live beside the project)")
    read = 0
    filed: list[str] = []
    for expected_file in sorted(CORPORA.glob("*/expected.json")):
        for relative, expected in json.loads(expected_file.read_text("utf-8")).items():
            bodies = _bodies(expected_file.parent / relative, expected["input"])
            if bodies is None:
                continue
            text, html, sender = bodies
            reply = parse_answers(text, html=html, signer=sender)
            read += 1
            if reply.sections:
                filed.append(f"{expected_file.parent.name}/{relative}: {sorted(reply.sections)}")
    print(f"questionnaire reader over the corpora: {read} messages, {len(filed)} filed answers")
    assert read > 400
    assert filed == []
