"""Nobody gets in: forged senders, borrowed tokens, dead tokens and `[TR-0001]` in a subject.

Each story runs on the real test servers. Two managers each run a transition; attackers try
to steer or answer the transition that is not theirs. Every attempt is refused, the state
in SQLite is exactly as before, and no mail goes to anyone but the refused sender.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from assistant import ADDRESS, Assistant, parse, text_of
from letters import REQUEST, plain
from mailservers import MailServers

NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
DANA = "Dana Manager <dana@example.com>"
LEE = "Lee Boss <lee@example.com>"
OTHER_REQUEST = (REQUEST.replace("Acme Corp", "Globex")
                 .replace("sam@example.com", "max@example.com").replace("Sam Jones", "Max Roe")
                 .replace("pat@acme.com", "hank@globex.com"))
ANSWERS = "## 2. Sentiment\nHappy customer.\n\n## 4. Red flags and issues\nNone open.\n"
STATE_TABLES = ("transitions", "steps", "answers", "current_answers", "pending_requests",
                "tokens")


def snapshot(assistant: Assistant) -> dict[str, list[str]]:
    """Every row of the tables that say what a transition is; `uses` counters aside."""
    service = assistant.service(clock=lambda: NOW)
    try:
        return {table: sorted(json.dumps({k: r[k] for k in r.keys() if k != "uses"},  # noqa: SIM118 - a Row iterates values
                                         sort_keys=True)
                              for r in service.rt.store.all(f"SELECT * FROM {table}"))
                for table in STATE_TABLES}
    finally:
        service.close()


def sent_by_assistant(mail: MailServers) -> list[tuple[str, ...]]:
    return [e.rcpt_tos for e in mail.accepted if e.mail_from.startswith("transitions")]


def deliver(mail: MailServers, raw: bytes, *, sender: str, to: str) -> None:
    mail.send(raw, mail_from=sender, rcpt_to=[to])


def reply_address(raw: bytes) -> str:
    address = str(parse(raw)["Reply-To"])
    assert re.fullmatch(r"transitions\+[a-z2-7]{26}@example\.com", address)
    return address


class TwoTransitions:
    """TR-0001 (Acme, manager Dana, outgoing Sam) and TR-0002 (Globex, Lee, outgoing Max)."""

    def __init__(self, mail: MailServers, home: Path, *, extra_env: dict[str, str] | None = None,
                 authenticated: str = "") -> None:
        self.mail = mail
        self.assistant = Assistant(home, mail, extra_env=extra_env)
        deliver(mail, plain(sender=DANA, to=ADDRESS, subject="Acme handover", body=REQUEST,
                            extra=authenticated.format(domain="example.com")),
                sender="dana@example.com", to=ADDRESS)
        deliver(mail, plain(sender=LEE, to=ADDRESS, subject="Globex handover",
                            body=OTHER_REQUEST, extra=authenticated.format(domain="example.com")),
                sender="lee@example.com", to=ADDRESS)
        self.run()
        self.dana_token = reply_address(mail.wait_for_messages("dana@example.com", 1)[0])
        self.sam_token = reply_address(mail.wait_for_messages("sam@example.com", 1)[0])
        self.max_token = reply_address(mail.wait_for_messages("max@example.com", 1)[0])
        self.mail.handler.accepted.clear()

    def run(self) -> None:
        self.assistant.run_once(now=NOW)

    def attempt(self, raw: bytes, *, sender: str, to: str = ADDRESS) -> list[tuple[str, ...]]:
        """Deliver one hostile message, run the assistant, return who it wrote to."""
        before = snapshot(self.assistant)
        self.mail.handler.accepted.clear()
        deliver(self.mail, raw, sender=sender, to=to)
        self.run()
        assert snapshot(self.assistant) == before, "a refused message changed the state"
        return sent_by_assistant(self.mail)

    def last_outcome(self) -> tuple[str, str]:
        service = self.assistant.service(clock=lambda: NOW)
        try:
            row = service.rt.store.one("SELECT outcome, reason FROM inbound ORDER BY id DESC")
            return row["outcome"], row["reason"]
        finally:
            service.close()


@pytest.fixture
def two(mail: MailServers, tmp_path: Path) -> TwoTransitions:
    return TwoTransitions(mail, tmp_path)


def test_an_outgoing_csm_cannot_answer_with_another_transitions_token(two, mail):
    # Max (TR-0002's outgoing CSM) replies to Sam's questionnaire address of TR-0001.
    raw = plain(sender="Max Roe <max@example.com>", to=two.sam_token,
                subject="Re: Handoff questionnaire", body=ANSWERS)
    assert two.attempt(raw, sender="max@example.com", to=two.sam_token) == \
        [("max@example.com",)]
    assert two.last_outcome() == ("rejected", "this reply address belongs to someone else")
    [refusal] = mail.wait_for_messages("max@example.com", 2)[1:]
    assert "belongs to someone else" in text_of(refusal)
    assert two.sam_token.split("+")[1].split("@")[0] not in refusal.decode()


def test_a_manager_cannot_cancel_another_managers_transition_with_its_token(two):
    raw = plain(sender=LEE, to=two.dana_token, subject="Re: TR-0001", body="cancel\n")
    assert two.attempt(raw, sender="lee@example.com", to=two.dana_token) == \
        [("lee@example.com",)]
    assert two.last_outcome()[0] == "rejected"


def test_a_subject_tag_does_not_let_another_sender_change_a_transition(two):
    for n, sender in enumerate((LEE, "Sam Jones <sam@example.com>", "Eve <eve@evil.test>")):
        address = sender.split("<")[1].rstrip(">")
        raw = plain(sender=sender, to=ADDRESS, subject=f"[TR-0001] please cancel ({n})",
                    body="cancel\n")
        assert two.attempt(raw, sender=address) == [(address,)]
        outcome, reason = two.last_outcome()
        assert outcome == "rejected" and "only the manager" in reason


def test_a_guessed_token_starts_nothing_and_changes_nothing(two):
    guessed = "transitions+" + "a" * 26 + "@example.com"
    raw = plain(sender="Eve <eve@evil.test>", to=guessed, subject="Re: questionnaire",
                body=ANSWERS + "\ncancel\n")
    assert two.attempt(raw, sender="eve@evil.test", to=guessed) == [("eve@evil.test",)]
    assert two.last_outcome()[0] == "rejected"


def test_tokens_are_dead_once_the_manager_cancels(two, mail):
    deliver(mail, plain(sender=DANA, to=two.dana_token, subject="Re: TR-0001", body="cancel\n"),
            sender="dana@example.com", to=two.dana_token)
    two.run()
    assert "cancelled" in text_of(mail.wait_for_messages("dana@example.com", 2)[-1])

    late = plain(sender="Sam Jones <sam@example.com>", to=two.sam_token,
                 subject="Re: Handoff questionnaire", body=ANSWERS)
    assert two.attempt(late, sender="sam@example.com", to=two.sam_token) == \
        [("sam@example.com",)]
    outcome, reason = two.last_outcome()
    assert outcome == "rejected" and "closed" in reason
    # Reused again by someone else: refused, and Sam is not written to a second time.
    again = plain(sender="Eve <eve@evil.test>", to=two.sam_token, subject="Re: Handoff",
                  body=ANSWERS)
    assert two.attempt(again, sender="eve@evil.test", to=two.sam_token) == \
        [("eve@evil.test",)]


RULES_REQUIRING_AUTH = """\
requesters:
  domains: [example.com]
internal_domains: [example.com]
authentication:
  require_pass: true
  trusted_servers: [mx.example.com]
"""


def auth_results(server: str, dmarc: str) -> str:
    """What the border server writes: its Received line, then its verdict."""
    return (f"Received: from mail.sender.example by {server} (Postfix) with ESMTPS id 1;\r\n"
            " Mon, 2 Nov 2026 09:59:00 +0000\r\n"
            f"Authentication-Results: {server}; spf=softfail smtp.mailfrom=example.com;\r\n"
            f" dkim=none; dmarc={dmarc} header.from={{domain}}\r\n")


@pytest.fixture
def strict(mail: MailServers, tmp_path: Path) -> TwoTransitions:
    rules = tmp_path / "inbox_rules.yaml"
    rules.write_text(RULES_REQUIRING_AUTH)
    return TwoTransitions(mail, tmp_path / "assistant", extra_env={"MAILER_RULES": str(rules)},
                          authenticated=auth_results("mx.example.com", "pass"))


@pytest.mark.parametrize("header", [
    "",  # no result at all
    auth_results("mx.example.com", "fail"),
    auth_results("mx.example.com", "none"),
    auth_results("evil.test", "pass"),  # anyone can write a header; only ours count
    "Authentication-Results: mx.example.com.evil.test; dmarc=pass\r\n",
], ids=["missing", "dmarc-fail", "dmarc-none", "untrusted-server", "lookalike-server"])
def test_a_forged_manager_is_refused_silently_when_authentication_is_required(strict, header):
    """The real Dana never hears of it (no backscatter); the forger gets nothing either."""
    extra = header.format(domain="example.com")
    forged_request = plain(sender=DANA, to=ADDRESS, subject="New handover",
                           body=OTHER_REQUEST.replace("Globex", "Initech"), extra=extra)
    assert strict.attempt(forged_request, sender="attacker@evil.test") == []
    forged_cancel = plain(sender=DANA, to=ADDRESS, subject="[TR-0001] cancel", body="cancel\n",
                          extra=extra)
    assert strict.attempt(forged_cancel, sender="attacker@evil.test") == []
    outcome, reason = strict.last_outcome()
    assert outcome == "rejected"
    assert reason.startswith("sender authentication (DMARC/DKIM/SPF) did not pass")


def test_a_manager_whose_server_says_pass_is_obeyed(strict, mail):
    """The same command with our server's passing result goes through: the rule is not a wall."""
    passed = auth_results("mx.example.com", "pass").format(domain="example.com")
    deliver(mail, plain(sender=DANA, to=ADDRESS, subject="[TR-0001] status", body="status\n",
                        extra=passed), sender="dana@example.com", to=ADDRESS)
    strict.run()
    assert strict.last_outcome()[0] == "processed"
    assert sent_by_assistant(mail) == [("dana@example.com",)]
