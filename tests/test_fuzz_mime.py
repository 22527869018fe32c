"""Generated hostile MIME through the whole pipeline: nothing crashes, stalls or goes astray.

Hypothesis builds messages the way broken clients, spammers and attackers do: boundaries
that never appear or never close, charsets that lie, headers of hundreds of kilobytes,
multiparts nested hundreds deep, broken transfer encodings, control characters, truncation.
Each example is handled within a per-message time bound, recorded exactly once, and any
answer goes only to the human who wrote it. The run is deterministic (derandomize) and
bounded in count.
"""

from __future__ import annotations

import base64
import io
import itertools
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from assistant import Assistant, parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from letters import REQUEST

from mailer import pipeline
from mailer.errors import MessageParseError
from mailer.flows.runtime import Runtime
from mailer.mail.automation import automation_reason
from mailer.mail.parsing import parse_message

PER_MESSAGE_SECONDS = 5.0
EXAMPLES = 300
NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
SENDERS = (
    "Dana Manager <dana@example.com>",  # an allowed requester
    "Pat Lee <pat@acme.com>",  # a stranger
    "Mail Delivery System <MAILER-DAEMON@mx.acme.com>",  # a machine
    "=?utf-8?b?SsO2aG4=?= <john@acme.com>",
    '"Quote \\" Heavy" <q@acme.com>',
    "Big Bug bb@bug.com",
    "<>",
    "",
)
CHARSETS = ("utf-8", "iso-8859-1", "utf-16", "x-klingon", "utf-7", "iso-2022-jp", "", '"')
ENCODINGS = ("7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "binary", "bogus")
_keys = itertools.count(1)


@dataclass(frozen=True)
class Mutation:
    """One generated message and what was done to it, for a readable failure report."""

    raw: bytes
    recipe: str


def _header_block(sender: str, subject: str, extra: list[str]) -> str:
    lines = [f"From: {sender}", "To: transitions@example.com", f"Subject: {subject}",
             f"Message-ID: <fuzz-{next(_keys)}@fuzz.example>", "MIME-Version: 1.0", *extra]
    return "\r\n".join(lines)


def _leaf(body: bytes, charset: str, encoding: str, subtype: str = "plain") -> bytes:
    head = (f"Content-Type: text/{subtype}; charset={charset}\r\n"
            f"Content-Transfer-Encoding: {encoding}\r\n\r\n").encode()
    if encoding == "base64" and body[:1] != b"!":
        body = base64.encodebytes(body)
    return head + body


def _nested(depth: int, leaf: bytes, boundary: str, broken: str) -> bytes:
    """`depth` multiparts around one leaf; `broken` decides how the boundaries lie."""
    part = leaf
    for level in range(depth):
        declared = f"{boundary}{level}"
        used = declared if broken != "mismatch" else f"other{level}"
        closing = b"" if broken == "unclosed" else f"\r\n--{used}--\r\n".encode()
        part = (f"Content-Type: multipart/mixed; boundary=\"{declared}\"\r\n\r\n"
                f"--{used}\r\n").encode() + part + closing
    return part


@st.composite
def hostile_messages(draw: st.DrawFn) -> Mutation:
    sender = draw(st.sampled_from(SENDERS))
    charset = draw(st.sampled_from(CHARSETS))
    encoding = draw(st.sampled_from(ENCODINGS))
    text = draw(st.text(max_size=400))
    junk = draw(st.binary(max_size=200))
    body = text.encode("utf-8", "surrogatepass") + (junk if draw(st.booleans()) else b"")
    subject = draw(st.sampled_from((
        "Transition", "=?utf-8?q?broken", "=?x-klingon?b?////?=", "Re: [TR-0001] status",
        "A" * draw(st.integers(0, 200_000)), "\x00\x07\x1b[31m", "{{ 7*7 }} {% raw %}")))
    many_headers = [f"X-Junk-{n}: {'v' * 50}" for n in range(draw(st.integers(0, 5000)))]
    depth = draw(st.integers(0, 300))
    broken = draw(st.sampled_from(("none", "mismatch", "unclosed")))
    boundary = draw(st.sampled_from(("b", "=_part", "", " ", "--", "a" * 200)))
    subtype = draw(st.sampled_from(("plain", "html")))
    tree = _nested(depth, _leaf(body, charset, encoding, subtype), boundary, broken)
    raw = _header_block(sender, subject, many_headers).encode("utf-8", "surrogateescape")
    raw += b"\r\n" + tree
    cut = draw(st.sampled_from((None, 10, 100, len(raw) // 2)))
    if cut is not None:
        raw = raw[:cut]
    recipe = (f"sender={sender!r} charset={charset!r} encoding={encoding} depth={depth} "
              f"boundary={boundary!r}/{broken} headers={len(many_headers)} "
              f"subject={len(subject)} chars cut={cut} size={len(raw)}")
    return Mutation(raw=raw, recipe=recipe)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    service = Assistant(tmp_path_factory.mktemp("fuzz")).service(clock=lambda: NOW)
    try:
        yield service.rt
    finally:
        service.close()


def _last_outbound_id(rt: Runtime) -> int:
    return rt.store.one("SELECT COALESCE(MAX(id), 0) AS n FROM outbound")["n"]


def _sender_of(raw: bytes) -> tuple[str, bool]:
    """The parsed sender and whether a person (not a machine) wrote the message."""
    try:
        msg = parse_message(raw)
    except MessageParseError:
        return "", False
    return msg.from_email, automation_reason(msg, own_addresses=["transitions@example.com"]) \
        is None


@pytest.mark.long
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(mutation=hostile_messages())
def test_generated_hostile_mime_is_handled_once_in_bounded_time(runtime, mutation):
    key = f"fuzz:{next(_keys)}"
    before = _last_outbound_id(runtime)
    started = time.monotonic()
    outcome = pipeline.handle(runtime, mutation.raw, source_key=key)
    took = time.monotonic() - started
    assert took < PER_MESSAGE_SECONDS, f"{took:.1f} s for {mutation.recipe}"
    assert not outcome.reason.startswith("internal error"), (outcome, mutation.recipe)
    rows = runtime.store.all("SELECT outcome, reason FROM inbound WHERE source_key=?", key)
    assert len(rows) == 1 and rows[0]["reason"], mutation.recipe

    sender, human = _sender_of(mutation.raw)
    for row in runtime.store.all("SELECT raw FROM outbound WHERE id > ?", before):
        answer = parse(row["raw"])
        assert human, f"answered a machine: {mutation.recipe}"
        assert [a.addr_spec.lower() for a in answer["To"].addresses] == [sender]
        assert answer.get_body(("plain",)) is not None and answer.get_body(("html",))


def test_a_message_that_breaks_the_pipeline_is_quarantined_and_its_sender_told(
        tmp_path, monkeypatch):
    """Whatever a bug does with one message, it is filed with the reason and the person hears."""
    rt = Assistant(tmp_path).service(clock=lambda: NOW).rt

    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("simulated bug while reading the request")

    monkeypatch.setattr(pipeline.request, "handle_request", explode)
    raw = (b"From: Dana Manager <dana@example.com>\r\nTo: transitions@example.com\r\n"
           b"Subject: Transition\r\nMessage-ID: <boom-1@example.com>\r\n\r\nAccount: Acme\r\n")
    outcome = pipeline.handle(rt, raw, source_key="boom:1")
    assert outcome.outcome == "quarantined"
    assert "simulated bug" in outcome.reason
    row = rt.store.one("SELECT outcome, folder, reason, archive_path FROM inbound "
                       "WHERE source_key='boom:1'")
    assert (row["outcome"], row["folder"]) == ("quarantined", "Quarantine")
    assert Path(row["archive_path"]).read_bytes() == raw
    [told] = rt.store.all("SELECT raw FROM outbound")
    answer = parse(told["raw"])
    assert answer["To"].addresses[0].addr_spec == "dana@example.com"
    assert "simulated bug" not in told["raw"].decode(), "internals stay out of the mail"
    # A second broken message the same day: filed, but no second mail to the same person.
    pipeline.handle(rt, raw.replace(b"boom-1", b"boom-2"), source_key="boom:2")
    assert len(rt.store.all("SELECT id FROM outbound")) == 1


def test_a_machine_whose_message_breaks_the_pipeline_is_never_answered(tmp_path, monkeypatch):
    rt = Assistant(tmp_path).service(clock=lambda: NOW).rt

    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("simulated bug while correlating")

    monkeypatch.setattr(pipeline, "correlate", explode)
    raw = (b"From: MAILER-DAEMON@mx.acme.com\r\nTo: transitions@example.com\r\n"
           b"Subject: Undelivered Mail\r\nMessage-ID: <boom-3@example.com>\r\n\r\nsorry\r\n")
    assert pipeline.handle(rt, raw, source_key="boom:3").outcome == "quarantined"
    assert rt.store.all("SELECT id FROM outbound") == []


def test_a_message_that_is_not_email_is_quarantined_with_the_reason(tmp_path):
    rt = Assistant(tmp_path).service(clock=lambda: NOW).rt
    for n, raw in enumerate((b"", b"\x00\xff" * 1000, b"%PDF-1.4\n...", b"   \r\n\r\n")):
        outcome = pipeline.handle(rt, raw, source_key=f"garbage:{n}")
        assert outcome.outcome == "quarantined"
        assert outcome.reason.startswith("not a readable email")
    assert rt.store.all("SELECT id FROM outbound") == []


# -- attachments as a questionnaire reply -------------------------------------------------------


def _runtime_with_transition(home: Path) -> tuple[Runtime, str]:
    """A runtime with TR-0001 started; the questionnaire reply address of its outgoing CSM."""
    rt = Assistant(home).service(clock=lambda: NOW).rt
    request = (b"From: Dana Manager <dana@example.com>\r\nTo: transitions@example.com\r\n"
               b"Subject: Acme\r\nMessage-ID: <req-1@example.com>\r\n\r\n"
               + REQUEST.replace("\n", "\r\n").encode())
    assert pipeline.handle(rt, request, source_key="req:1").reason == "started TR-0001"
    # The reply address travels only in the questionnaire (the database keeps its hash).
    questionnaire = rt.store.one("SELECT raw FROM outbound WHERE kind='questionnaire'")["raw"]
    return rt, str(parse(bytes(questionnaire))["Reply-To"])


def _reply_with_attachment(address: str, name: str, payload: bytes, n: int) -> bytes:
    encoded = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    return (f"From: Sam Jones <sam@example.com>\r\nTo: {address}\r\nSubject: Re: questionnaire\r\n"
            f"Message-ID: <att-{n}@example.com>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            "## 2. Sentiment\r\nWarm and steady.\r\n--m\r\n"
            f"Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;"
            f" name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + encoded + b"\r\n--m--\r\n"


def _zip_bomb() -> bytes:
    """A workbook-shaped zip whose one sheet inflates to 256 MB of spaces (256 KB packed)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            block = b" " * (1 << 20)
            for _ in range(256):
                sheet.write(block)
    return buffer.getvalue()


@pytest.mark.parametrize("name, payload, bound", [
    pytest.param("bomb.xlsx", _zip_bomb, PER_MESSAGE_SECONDS, marks=pytest.mark.long),
    ("notazip.xlsx", lambda: b"this is not a zip at all\r\n" * 1000, PER_MESSAGE_SECONDS),
    ("truncated.xlsx", lambda: b"PK\x03\x04" + b"\x00" * 200, PER_MESSAGE_SECONDS),
], ids=["zip-bomb", "not-a-zip", "truncated-zip"])
def test_a_hostile_form_is_refused_with_a_note_and_the_written_answers_kept(
        tmp_path, name, payload, bound):
    rt, address = _runtime_with_transition(tmp_path)
    started = time.monotonic()
    outcome = pipeline.handle(rt, _reply_with_attachment(address, name, payload(), 1),
                              source_key="att:1")
    assert time.monotonic() - started < bound
    assert outcome.outcome == "processed", outcome
    assert rt.store.one("SELECT text FROM current_answers WHERE section=2")["text"] \
        == "Warm and steady."
    receipt = parse(rt.store.one("SELECT raw FROM outbound WHERE kind='questionnaire_receipt'")
                    ["raw"])
    assert "spreadsheet" in receipt.get_body(("plain",)).get_content().lower() or \
        "workbook" in receipt.get_body(("plain",)).get_content().lower()


@pytest.mark.long
def test_a_25_mb_attachment_is_refused_and_the_sender_told_within_the_bound(tmp_path):
    rt, address = _runtime_with_transition(tmp_path)
    huge = _reply_with_attachment(address, "big.xlsx", bytes(25 * 1024 * 1024), 2)
    before = rt.store.one("SELECT COUNT(*) AS n FROM outbound")["n"]
    started = time.monotonic()
    outcome = pipeline.handle(rt, huge, source_key="att:2")
    took = time.monotonic() - started
    assert took < 20, f"{took:.1f} s for a 34 MB message"
    assert outcome.outcome == "rejected" and "MB limit" in outcome.reason
    assert rt.store.one("SELECT COUNT(*) AS n FROM current_answers")["n"] == 0
    [told] = rt.store.all("SELECT raw, recipients_json FROM outbound WHERE id > ?", before)
    assert told["recipients_json"] == '["sam@example.com"]'
    assert len(told["raw"]) < 100_000, "the refusal does not carry the attachment back"
