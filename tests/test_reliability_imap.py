"""Issue 6: Dovecot restarting, connections dropping mid-fetch and a recreated mailbox
(new UIDVALIDITY) lose no message and handle none twice."""

from __future__ import annotations

import logging
import time

from assistant import ADDRESS, Assistant, parse, wait_until
from letters import REQUEST, plain

from mailer.app import PassReport
from mailer.mail.sources import ImapSource


def _request(n: int) -> bytes:
    return plain(sender=f"m{n}@example.com", to=ADDRESS, subject=f"Transition {n}",
                 body=REQUEST.replace("Acme Corp", f"Account {n}"),
                 message_id=f"<request-{n}@example.com>")


def _answered(mail, managers: range) -> list[int]:
    return [len({parse(raw)["Message-ID"] for raw in mail.messages(f"m{n}@example.com")})
            for n in managers]


def test_dovecot_restarted_repeatedly_while_idling_and_fetching(mail, tmp_path):
    assistant = Assistant(tmp_path, mail, extra_env={"MAILER_WATCHDOG_MINUTES": "0"})
    assistant.start()
    total = 0
    try:
        wait_until(lambda: "IMAP connected" in assistant.log_text(), timeout=15)
        for round_ in range(5):
            with mail.imap(ADDRESS) as imap:
                for n in range(total, total + 6):
                    imap.append("INBOX", _request(n))
            total += 6
            time.sleep(0.2 * round_)  # sometimes mid-fetch, sometimes while idling
            mail.restart_dovecot()
        wait_until(lambda: all(_answered(mail, range(total))), timeout=60, interval=0.5)
        time.sleep(1.0)
    finally:
        assistant.stop()
    assert _answered(mail, range(total)) == [1] * total
    assert assistant.log_text().count("reconnecting") >= 1


def test_a_recreated_mailbox_with_a_new_uidvalidity_misses_nothing_and_repeats_nothing(
        mail, tmp_path, caplog):
    assistant = Assistant(tmp_path, mail)
    with mail.imap(ADDRESS) as imap:
        imap.append("INBOX", _request(0))
        imap.append("INBOX", _request(1))
    assistant.run_once()
    assert _answered(mail, range(2)) == [1, 1]
    with mail.imap(ADDRESS) as imap:
        old = imap.select_folder("INBOX")[b"UIDVALIDITY"]
    # The mailbox is recreated behind our back: Dovecot forgets its UIDs.
    mail.stop_dovecot()
    maildir = mail.dovecot.mail_root / ADDRESS / "Maildir"
    for uid_list in maildir.rglob("dovecot-uidlist"):
        uid_list.unlink()
    for index in maildir.rglob("dovecot.index*"):
        index.unlink()
    mail.start_dovecot()
    with mail.imap(ADDRESS) as imap:
        time.sleep(1.1)  # UIDVALIDITY is a timestamp: make sure it moves
        imap.append("INBOX", _request(1))  # a handled message comes back
        imap.append("INBOX", _request(2))
        imap.append("INBOX", _request(3))
        assert imap.select_folder("INBOX")[b"UIDVALIDITY"] != old
    with caplog.at_level(logging.WARNING):
        report = assistant.run_once()
    assert report.outcomes == {"duplicate": 1, "processed": 2}
    assert _answered(mail, range(4)) == [1, 1, 1, 1]
    assert "UIDVALIDITY" in caplog.text


def test_a_connection_dropped_mid_fetch_is_resumed_without_loss(mail, tmp_path):
    assistant = Assistant(tmp_path, mail, extra_env={"MAILER_WATCHDOG_MINUTES": "0"})
    with mail.imap(ADDRESS) as imap:
        for n in range(40):
            imap.append("INBOX", _request(n))
    assistant.start()
    try:
        wait_until(lambda: any(_answered(mail, range(40))), timeout=20, interval=0.05)
        mail.dovecot.end_imap_sessions()  # the server drops every IMAP connection
        wait_until(lambda: all(_answered(mail, range(40))), timeout=60, interval=0.5)
        time.sleep(1.0)
    finally:
        assistant.stop()
    assert _answered(mail, range(40)) == [1] * 40


def test_a_connection_that_stays_open_keeps_nothing_for_the_mail_it_filed(mail, tmp_path):
    """imaplib keeps every response nobody asked for: an EXPUNGE for each message moved out of
    the inbox, EXISTS after each NOOP. A service connected for weeks would hold one for every
    message it ever filed."""
    assistant = Assistant(tmp_path, mail, extra_env={"MAILER_WATCHDOG_MINUTES": "0"})
    with mail.imap(ADDRESS) as imap:
        for n in range(10):
            imap.append("INBOX", _request(n))
    service = assistant.service()
    try:
        assert isinstance(service.source, ImapSource)
        report = PassReport()
        service.handle_inbox(report)
        assert report.outcomes == {"processed": 10}
        assert service.source.client is not None
        kept = service.source.client._imap.untagged_responses
        assert kept == {}, kept
        assert not service.source.wait(0.2)  # NOOP, then IDLE, as between passes
        assert service.source.client._imap.untagged_responses == {}
        with mail.imap(ADDRESS) as imap:
            assert imap.select_folder("INBOX")[b"EXISTS"] == 0  # all were filed
    finally:
        service.close()
