"""The desk the attack suite works at: one assistant, real message bytes, what it did.

`Desk` runs the assistant in-process on its embedded maildir (no SMTP: mail stays in the
outbox, where every row can be read back). Attacks that need the wire (IMAP sizes, SMTP) use
the real servers from `mailservers.py` instead. Each attack asserts two things: the attack
failed, and the same path still works for the person it belongs to.
"""

from __future__ import annotations

import email
import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from pathlib import Path
from typing import Any

from assistant import ADDRESS, Assistant
from letters import REQUEST

from mailer.app import Service

NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
DANA = "Dana Manager <dana@example.com>"
SAM = "Sam Jones <sam@example.com>"
RITA = "Rita Patel <rita@example.com>"
EVE = "Eve Attacker <eve@evil.test>"
STATE_TABLES = ("transitions", "steps", "answers", "current_answers", "pending_requests",
                "tokens", "token_groups", "books", "book_rows")
_numbers = itertools.count(1)

RULES = """\
requesters:
  domains: [example.com]
internal_domains: [example.com]
"""
STRICT_RULES = RULES + """\
authentication:
  require_pass: true
  trusted_servers: [mx.example.com]
"""


def border(*, from_host: str = "mail.sender.example", by: str = "mx.example.com") -> str:
    """The Received line our border server writes when it takes a message in."""
    return (f"Received: from {from_host} ({from_host} [192.0.2.10])\r\n"
            f"\tby {by} (Postfix) with ESMTPS id 4Xy; Mon, 2 Nov 2026 09:59:58 +0000\r\n")


def passed(domain: str = "example.com", *, server: str = "mx.example.com") -> str:
    """Our border server's Received line and its verdict that the From domain passed DMARC."""
    return border(by=server) + (
        f"Authentication-Results: {server};\r\n\tdkim=pass header.d={domain} header.s=s1;\r\n"
        f"\tspf=pass smtp.mailfrom={domain};\r\n\tdmarc=pass (p=reject) header.from={domain}\r\n")


def letter(*, sender: str, to: str = ADDRESS, subject: str, body: str, top: str = "",
           extra: str = "", in_reply_to: str | None = None, message_id: str | None = None,
           content_type: str = "text/plain; charset=UTF-8") -> bytes:
    """A plain mail; `top` is what the servers wrote above the sender's headers."""
    n = next(_numbers)
    mid = message_id or f"<attack-{n}@mail.sender.example>"
    threading = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" \
        if in_reply_to else ""
    head = (f"{top}From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Date: Mon, 2 Nov 2026 09:59:00 +0000\r\nMessage-ID: {mid}\r\n{threading}{extra}"
            f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n")
    return head.encode() + body.replace("\n", "\r\n").encode("utf-8")


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


class Desk:
    """One assistant with its own rules; deliver raw mail, run a pass, look at the result."""

    def __init__(self, home: Path, *, rules: str = RULES, now: datetime = NOW,
                 extra_env: dict[str, str] | None = None) -> None:
        home.mkdir(parents=True, exist_ok=True)
        (home / "inbox_rules.yaml").write_text(rules)
        self.assistant = Assistant(home, extra_env={"MAILER_RULES": str(home / "inbox_rules.yaml"),
                                                    **(extra_env or {})})
        self.now = now
        self.service: Service = self.assistant.service(clock=lambda: self.now)

    @property
    def store(self):  # noqa: ANN201 - the Store
        return self.service.rt.store

    def close(self) -> None:
        self.service.close()

    def deliver(self, raw: bytes) -> None:
        self.service.source.deliver(raw)  # type: ignore[attr-defined]

    def run(self, raw: bytes | None = None, *, at: datetime | None = None) -> list[dict[str, Any]]:
        """Deliver `raw` (if given), run one pass; return the mails queued by that pass."""
        if at is not None:
            self.now = at
        before = self.last_outbound_id()
        if raw is not None:
            self.deliver(raw)
        self.service.run_once()
        return self.outbound_since(before)

    def last_outbound_id(self) -> int:
        row = self.store.one("SELECT COALESCE(MAX(id), 0) AS n FROM outbound")
        return int(row["n"])

    def outbound_since(self, after: int) -> list[dict[str, Any]]:
        return [{"id": r["id"], "kind": r["kind"], "to": json.loads(r["recipients_json"]),
                 "subject": r["subject"], "raw": bytes(r["raw"]),
                 "transition_id": r["transition_id"]}
                for r in self.store.all("SELECT * FROM outbound WHERE id > ? ORDER BY id", after)]

    def last_inbound(self) -> tuple[str, str]:
        row = self.store.one("SELECT outcome, reason FROM inbound ORDER BY id DESC LIMIT 1")
        return row["outcome"], row["reason"]

    def snapshot(self) -> dict[str, list[str]]:
        """Every row of the tables that say what a transition is (use counters aside)."""
        return {table: sorted(json.dumps({k: r[k] for k in r.keys() if k != "uses"},  # noqa: SIM118
                                         sort_keys=True, default=str)
                              for r in self.store.all(f"SELECT * FROM {table}"))
                for table in STATE_TABLES}

    def attempt(self, raw: bytes) -> list[dict[str, Any]]:
        """Deliver one hostile message; assert it changed nothing; return what was sent."""
        before = self.snapshot()
        sent = self.run(raw)
        assert self.snapshot() == before, "the attack changed the state"
        return sent

    def transition(self, tid: str = "TR-0001") -> dict[str, Any]:
        row = self.store.one("SELECT * FROM transitions WHERE id=?", tid)
        return dict(row) if row else {}

    def reply_address(self, to: str, kind: str) -> str:
        """The Reply-To (with its token) of the last mail of `kind` to `to`."""
        for row in reversed(self.store.all("SELECT * FROM outbound WHERE kind=? ORDER BY id",
                                           kind)):
            if to in json.loads(row["recipients_json"]):
                return str(parse(bytes(row["raw"]))["Reply-To"])
        raise AssertionError(f"no {kind} mail to {to}")

    def message_id(self, to: str, kind: str) -> str:
        for row in reversed(self.store.all("SELECT * FROM outbound WHERE kind=? ORDER BY id",
                                           kind)):
            if to in json.loads(row["recipients_json"]):
                return str(row["message_id"])
        raise AssertionError(f"no {kind} mail to {to}")


def started(home: Path, *, rules: str = RULES, top: str = "",
            request: str = REQUEST) -> Desk:
    """A desk where Dana has started TR-0001 (Acme: Sam hands over to Rita)."""
    desk = Desk(home, rules=rules)
    desk.run(letter(sender=DANA, subject="Acme handover", body=request, top=top))
    assert desk.transition()["id"] == "TR-0001", desk.last_inbound()
    return desk


def text_part(raw: bytes) -> str:
    part = parse(raw).get_body(("plain",))
    return part.get_content() if part is not None else ""


def html_part(raw: bytes) -> str:
    part = parse(raw).get_body(("html",))
    return part.get_content() if part is not None else ""


def each(cases: dict[str, Any]) -> Callable[[Callable[..., None]], Any]:
    """Parametrise over named cases, the names shown as test ids."""
    import pytest

    return pytest.mark.parametrize("case", list(cases.values()), ids=list(cases))
