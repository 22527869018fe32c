"""Limits on abuse: one message costs seconds and a few megabytes, whatever it holds.

An oversized message is never downloaded (IMAP sizes first, a `stat` of the maildir file);
attached forms and books are read as streams with caps; one inbound message cannot make the
assistant write more than a set number of mails or to more than a set number of people; and an
automatic answer loop with one correspondent stops whatever the text. Each cap answers the
person clearly, and each attack is paired with the same path working for its owner.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

from assistant import ADDRESS, Assistant
from attacks import DANA, RULES, Desk, letter, text_part
from letters import REQUEST

from mailer.mail.sources import ImapSource, MaildirSource

MB = 1024 * 1024
SMALL_LIMIT = RULES + "limits:\n  max_message_mb: 1\n"


def _big_request(n: int, size: int, *, account: str = "Acme Corp") -> bytes:
    """Dana's request with a `size`-byte attachment (a deck she forgot to leave out)."""
    body = REQUEST.replace("Acme Corp", account).replace("\n", "\r\n")
    filler = (b"QUJD" * 19 + b"\r\n") * (size // 78)
    return (f"From: {DANA}\r\nTo: {ADDRESS}\r\nSubject: Handover {account}\r\n"
            f"Message-ID: <big-{n}@example.com>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n").encode() + body.encode() + (
        b"\r\n--b\r\nContent-Type: application/pdf; name=deck.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n") + filler + b"--b--\r\n"


# -- 3. raw size before the message is fetched ---------------------------------------------------


def test_imap_reads_only_the_headers_of_a_message_over_the_limit(mail, tmp_path: Path) -> None:
    (tmp_path / "inbox_rules.yaml").write_text(SMALL_LIMIT)
    assistant = Assistant(tmp_path, mail, extra_env={
        "MAILER_RULES": str(tmp_path / "inbox_rules.yaml"), "MAILER_WATCHDOG_MINUTES": "0"})
    big = _big_request(1, 5 * MB)
    near = _big_request(2, int(0.9 * MB), account="Globex")  # just under the limit
    mail.append(ADDRESS, big)
    mail.append(ADDRESS, near)

    service = assistant.service()
    try:
        assert isinstance(service.source, ImapSource)
        fetched = {m.source_key: m for m in service.source.fetch_new()}
    finally:
        service.close()
    [over] = [m for m in fetched.values() if m.full_size is not None]
    [under] = [m for m in fetched.values() if m.full_size is None]
    assert over.full_size >= 5 * MB and len(over.raw) < 4096, "the body was never fetched"
    assert b"Message-ID: <big-1@example.com>" in over.raw and b"QUJD" not in over.raw
    assert len(under.raw) > 0.9 * MB and b"<big-2@example.com>" in under.raw

    report = assistant.run_once()
    outcomes = sorted((o.outcome, o.reason) for o in report.handled)
    assert outcomes[1][0] == "rejected" and "over the 1 MB limit" in outcomes[1][1], outcomes
    assert outcomes[0] == ("processed", "started TR-0001"), "the message under it is read"
    [refusal] = [m for m in mail.messages("dana@example.com") if b"over the" in m]
    assert "over the 1 MB limit" in text_part(refusal)
    # The message itself is kept whole on the server, with the rejected mail.
    with mail.imap(ADDRESS) as imap:
        imap.select_folder("Rejected", readonly=True)
        [(uid, data)] = imap.fetch(imap.search("ALL"), ["RFC822.SIZE"]).items()
        assert data[b"RFC822.SIZE"] == over.full_size
    archived = [p.stat().st_size for p in assistant.settings.archive_dir.rglob("*.eml")]
    assert sorted(archived)[0] < 4096 and len(archived) == 2


def _sparse_message(path: Path, head: bytes, size: int) -> None:
    """A message file of `size` bytes of which only the headers take room on disk: reading
    it whole would cost `size` bytes of memory."""
    with open(path, "wb") as file:
        file.write(head + b"\r\n")
        file.truncate(size)


def test_the_maildir_stats_a_message_before_reading_it(tmp_path: Path) -> None:
    desk = Desk(tmp_path, rules=SMALL_LIMIT)
    try:
        source = desk.service.source
        assert isinstance(source, MaildirSource)
        head = (f"From: {DANA}\r\nTo: {ADDRESS}\r\nSubject: Handover\r\n"
                "Message-ID: <sparse@example.com>\r\nContent-Type: text/plain").encode()
        name = "1700000000.sparse.host"
        _sparse_message(source.path / "new" / name, head, 400 * MB)
        inode = (source.path / "new" / name).stat().st_ino
        tracemalloc.start()
        started = time.monotonic()
        sent = desk.run()
        seconds = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert desk.last_inbound()[0] == "rejected"
        assert seconds < 2 and peak < 20 * MB, (seconds, peak)
        assert [m["kind"] for m in sent] == ["rejection"]
        assert "400.0 MB, over the 1 MB limit" in text_part(sent[0]["raw"])
        # Filed by a rename, never copied: the same file sits in the Rejected folder.
        [kept] = list((source.path / ".Rejected").rglob(name + "*"))
        assert kept.stat().st_ino == inode and kept.stat().st_size == 400 * MB
        # Dana's request of normal size is still read.
        desk.run(letter(sender=DANA, subject="Acme", body=REQUEST))
        assert desk.transition()["account"] == "Acme Corp"
    finally:
        desk.close()


def test_a_backlog_of_large_mail_is_fetched_in_bounded_portions(mail, tmp_path: Path) -> None:
    """Ten 5 MB messages under a 25 MB limit: never all of them in one FETCH."""
    assistant = Assistant(tmp_path, mail, extra_env={"MAILER_WATCHDOG_MINUTES": "0"})
    for n in range(10):
        mail.append(ADDRESS, _big_request(n, 5 * MB, account=f"Account {n}"))
    service = assistant.service()
    try:
        source = service.source
        assert isinstance(source, ImapSource) and source.max_message_bytes == 25 * MB
        seen: list[int] = []
        fetch = source.connect().fetch

        def counting_fetch(uids, items):  # noqa: ANN001, ANN202 - imapclient's signature
            if "BODY.PEEK[]" in items:
                seen.append(len(uids))
            return fetch(uids, items)

        source.client.fetch = counting_fetch  # type: ignore[method-assign, union-attr]
        assert len(list(source.fetch_new())) == 10
    finally:
        service.close()
    assert max(seen) <= 6 and sum(seen) == 10, seen
