"""Attacks on sender authentication: a stranger tries to pass as Dana, the manager.

The assistant runs with `authentication.require_pass: true` and trusts `mx.example.com`.
Every forged message below is real bytes as an attacker would send them; each is refused
without an answer (the real Dana must not get backscatter), and beside each attack the same
path is taken by the real Dana, whose mail our border server vouched for, and it works.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from attacks import (
    DANA,
    STRICT_RULES,
    Desk,
    border,
    each,
    letter,
    passed,
    started,
)
from letters import REQUEST

from mailer.mail.authentication import aligned, verdict
from mailer.mail.parsing import parse_message

TRUSTED = ["mx.example.com"]
INITECH = REQUEST.replace("Acme Corp", "Initech")


def vouched(raw: bytes) -> bool:
    return verdict(parse_message(raw), trusted_ids=TRUSTED).passed


def forged(top: str, *, sender: str = DANA, extra: str = "") -> bytes:
    return letter(sender=sender, subject="New handover", body=INITECH, top=top, extra=extra)


def ar(result: str, *, server: str = "mx.example.com") -> str:
    return f"Authentication-Results: {server}; {result}\r\n"


# Each attack: the headers the servers and the attacker put on top, and what the real Dana's
# mail on the same path looks like (it must pass).
ATTACKS = {
    "no-result-at-all": (border(), passed()),
    "pass-from-an-untrusted-server": (border() + ar("dmarc=pass header.from=example.com",
                                                     server="mx.evil.test"), passed()),
    "look-alike-server-name": (border() + ar("dmarc=pass header.from=example.com",
                                              server="mx.example.com.evil.test"), passed()),
    "dmarc-pass-for-the-attackers-domain": (
        border() + ar("dmarc=pass header.from=evil.test"),
        border() + ar("dmarc=pass header.from=example.com")),
    "dkim-pass-for-a-suffix-look-alike": (
        border() + ar("dkim=pass header.d=example.com.evil.example; dmarc=fail "
                      "header.from=example.com"),
        border() + ar("dkim=pass header.d=mail.example.com; dmarc=fail header.from=example.com")),
    "dkim-pass-for-another-domain": (
        border() + ar("dkim=pass header.d=evil.test"),
        border() + ar("dkim=pass header.d=example.com")),
    "dkim-identity-of-another-domain": (
        border() + ar("dkim=pass header.i=@evil.test"),
        border() + ar("dkim=pass header.i=@news.example.com")),
    "spf-pass-for-the-attackers-envelope": (
        border() + ar("spf=pass smtp.mailfrom=eve@evil.test"),
        border() + ar("spf=pass smtp.mailfrom=bounces@mail.example.com")),
    "dkim-fail-and-dmarc-none": (
        border() + ar("dkim=fail header.d=example.com; spf=softfail "
                      "smtp.mailfrom=example.com; dmarc=none header.from=example.com"),
        passed()),
    "our-id-written-by-the-sender-below-a-received-from-outside": (
        border() + "Received: from laptop by mail.evil.test with ESMTPA; Mon, 2 Nov 2026 "
        "09:59:00 +0000\r\n" + ar("dmarc=pass header.from=example.com"),
        border() + ar("dmarc=pass header.from=example.com")),
    "a-second-result-below-our-own-failing-one": (
        border() + ar("dmarc=fail header.from=example.com")
        + ar("dmarc=pass header.from=example.com"),
        border() + ar("dmarc=pass header.from=example.com")
        + ar("dmarc=fail header.from=example.com")),
    "our-id-with-no-received-from-our-server": (
        ar("dmarc=pass header.from=example.com"),
        ar("dmarc=pass header.from=example.com") + border()),
    "our-id-below-a-received-written-by-another-host": (
        border(by="relay.evil.test") + ar("dmarc=pass header.from=example.com"),
        border() + ar("dmarc=pass header.from=example.com")),
    "unparseable-result-header": (
        border() + ar("dmarc=pass; ;; header.from=example.com ((("),
        border() + ar("dmarc=pass header.from=example.com")),
}


@each(ATTACKS)
def test_a_forged_sender_is_not_vouched_for_and_the_real_one_is(case: tuple[str, str]) -> None:
    attack, genuine = case
    assert not vouched(forged(attack))
    assert vouched(forged(genuine))


AMBIGUOUS = {
    "two-from-headers": ("From: Dana Manager <dana@example.com>\r\n", DANA),
    "two-mailboxes-in-one-from": ("", "Dana Manager <dana@example.com>, Eve <eve@evil.test>"),
    "encoded-word-as-the-address": ("", "=?utf-8?q?dana=40example.com?="),
    "encoded-word-inside-the-brackets": ("", "Dana <=?utf-8?q?dana=40example.com?=>"),
    "encoded-local-part": ("", "Dana <=?utf-8?q?dana?=@example.com>"),
}


@each(AMBIGUOUS)
def test_a_from_naming_several_senders_is_refused_with_the_reason(tmp_path: Path,
                                                                   case: tuple[str, str]) -> None:
    extra, sender = case
    desk = Desk(tmp_path)
    try:
        raw = letter(sender=sender, subject="Handover", body=INITECH, extra=extra,
                     top=passed())
        assert desk.attempt(raw) == []
        outcome, reason = desk.last_inbound()
        assert outcome == "rejected" and reason.startswith("ambiguous sender: ")
        # The same request with one plain From starts a transition.
        sent = desk.run(letter(sender=DANA, subject="Handover", body=INITECH, top=passed()))
        assert desk.last_inbound()[0] == "processed"
        assert {m["kind"] for m in sent} >= {"request_accepted", "questionnaire"}
    finally:
        desk.close()


def test_relaxed_alignment_uses_the_public_suffix_list() -> None:
    assert aligned("mail.example.com", "example.com")
    assert aligned("eu.mail.example.co.uk", "example.co.uk")
    assert not aligned("example.com.evil.example", "example.com")
    assert not aligned("example.co.uk", "other.co.uk")  # co.uk is a public suffix
    assert not aligned("evil.github.io", "dana.github.io")  # so is github.io (private section)
    assert not aligned("", "example.com")


@pytest.fixture
def strict(tmp_path: Path) -> Desk:
    desk = started(tmp_path, rules=STRICT_RULES, top=passed())
    yield desk
    desk.close()


def test_a_forged_cancel_changes_nothing_and_the_vouched_one_cancels(strict: Desk) -> None:
    attack = letter(sender=DANA, subject="[TR-0001] cancel", body="cancel\n",
                    top=border() + ar("dmarc=pass header.from=evil.test"))
    assert strict.attempt(attack) == []
    assert strict.last_inbound()[0] == "rejected"
    assert strict.transition()["status"] == "active"
    strict.run(letter(sender=DANA, subject="[TR-0001] cancel", body="cancel\n", top=passed()))
    assert strict.transition()["status"] == "cancelled"


def test_gmail_and_postfix_orders_of_our_servers_headers_both_count() -> None:
    gmail = border(by="mx.example.com") + "Received-SPF: pass\r\n" + ar(
        "dkim=pass header.i=@example.com; spf=pass smtp.mailfrom=dana@example.com; "
        "dmarc=pass (p=NONE) header.from=example.com")
    postfix = ar("dmarc=pass header.from=example.com") + border(by="mx.example.com")
    lmtp = "Received: from mx.example.com by imap.example.com (Dovecot) with LMTP\r\n"
    for top in (gmail, postfix, lmtp + gmail, lmtp + postfix):
        assert vouched(forged(top)), top
