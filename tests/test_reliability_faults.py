"""Issue 6's fault stories: the SMTP server misbehaves, Dovecot goes away, the disk fills up,
and the watchdog notices when mail stops flowing. Nothing is lost and nothing is sent twice."""

from __future__ import annotations

import logging
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest
from assistant import ADDRESS, Assistant, parse, text_of
from letters import REQUEST, plain

from mailer.app import PassReport
from mailer.errors import MailerError
from mailer.state.canary import watchdog_state

T0 = datetime(2027, 1, 4, 10, 0, tzinfo=UTC)  # a Monday, inside business hours


def _request(mail, manager: str = "dana@example.com", account: str = "Acme Corp") -> None:
    body = REQUEST.replace("Acme Corp", account).replace("15 Dec 2026", "15 Feb 2027")
    mail.append(ADDRESS, plain(sender=manager, to=ADDRESS, subject=f"Transition: {account}",
                               body=body))


def test_smtp_refusing_connections_then_recovering_delivers_everything_once_in_order(
        mail, tmp_path):
    assistant = Assistant(tmp_path, mail)
    for n in range(3):
        _request(mail, account=f"Account {n}")
    with mail.smtp_refusing_connections():
        report = assistant.run_once(now=T0)
        assert report.outcomes == {"processed": 3}
        assert report.mails_sent == 0
        assistant.run_once(now=T0 + timedelta(seconds=30))  # still down: retried, not lost
    assert mail.accepted == []
    assistant.run_once(now=T0 + timedelta(minutes=10))
    sam = [parse(raw)["Subject"] for raw in mail.wait_for_messages("sam@example.com", 3)]
    assert sam == [f"TR-000{n + 1} handoff questions for Account {n}" for n in range(3)]
    assert len(mail.messages("dana@example.com")) == 3
    outbox = tmp_path / "outbox"
    assert len(list((outbox / "sent").glob("*.eml"))) == 12
    assert list(outbox.glob("*.eml")) == []


@pytest.mark.parametrize("code", [421, 451])
def test_temporary_smtp_errors_are_retried_until_delivered(mail, tmp_path, code):
    assistant = Assistant(tmp_path, mail)
    _request(mail)
    mail.fail_next_messages(code, count=2)
    assistant.run_once(now=T0)
    for minutes in (1, 3, 10, 30):
        assistant.run_once(now=T0 + timedelta(minutes=minutes))
    subjects = [e.data for e in mail.accepted]
    assert len(subjects) == 4 == len(set(subjects)), "each mail delivered exactly once"
    assert len(mail.messages("sam@example.com")) == 1


def test_a_550_for_one_recipient_fails_that_mail_and_tells_the_manager_once(mail, tmp_path):
    assistant = Assistant(tmp_path, mail)
    mail.fail_recipient("rita@example.com", 550, "5.1.1 no such user")
    _request(mail)
    assistant.run_once(now=T0)
    for minutes in (5, 60):
        assistant.run_once(now=T0 + timedelta(minutes=minutes))
    dana = mail.messages("dana@example.com")
    notices = [raw for raw in dana if "could not be delivered" in text_of(raw)]
    assert len(notices) == 1
    assert "5.1.1 no such user" in text_of(notices[0])
    failed = sorted((tmp_path / "outbox" / "failed").glob("*.eml"))
    assert [f.name.split("-", 3)[-1] for f in failed] == ["incoming_notice.eml",
                                                          "intro_text_prompt.eml"]
    assert "550" in failed[0].with_suffix(".reason.txt").read_text()
    assert mail.messages("rita@example.com") == []
    assert len(mail.messages("sam@example.com")) == 1, "the others' mail still went out"


def test_a_read_only_data_directory_leaves_mail_on_the_server_and_says_why(
        mail, tmp_path, caplog):
    if os.geteuid() == 0:
        pytest.skip("root ignores read-only permissions; the full-disk test below covers it")
    assistant = Assistant(tmp_path, mail)
    assistant.run_once(now=T0)  # creates the data directory
    _request(mail)
    data = tmp_path / "var"
    modes = {p: p.stat().st_mode for p in [data, *data.rglob("*")]}
    for path in modes:
        path.chmod(stat.S_IREAD | stat.S_IEXEC if path.is_dir() else stat.S_IREAD)
    try:
        with pytest.raises(MailerError, match="cannot be written"):
            assistant.run_once(now=T0)
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
    with mail.imap(ADDRESS) as imap:
        imap.select_folder("INBOX")
        assert len(imap.search(["ALL"])) == 1, "the request waits on the server"
    assistant.run_once(now=T0)
    assert mail.wait_for_messages("dana@example.com", 1)


def test_a_full_disk_leaves_mail_on_the_server_and_nothing_half_written(mail, tmp_path,
                                                                          monkeypatch):
    assistant = Assistant(tmp_path, mail)
    _request(mail)
    import mailer.pipeline

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mailer.pipeline, "_archive", disk_full)
    with pytest.raises(MailerError, match="No space left on device"):
        assistant.run_once(now=T0)
    monkeypatch.undo()
    assert mail.accepted == []
    with mail.imap(ADDRESS) as imap:
        imap.select_folder("INBOX")
        assert len(imap.search(["ALL"])) == 1
    assistant.run_once(now=T0)
    assert len(mail.wait_for_messages("dana@example.com", 1)) == 1


def test_the_watchdog_canary_comes_back_and_an_overdue_one_raises_the_alarm(
        mail, tmp_path, caplog):
    assistant = Assistant(tmp_path, mail, extra_env={"MAILER_WATCHDOG_MINUTES": "10"})
    service = assistant.service(clock=lambda: T0)
    try:
        service.run_watchdog()  # sends the canary
        service.send_outbox(PassReport())
        mail.wait_for_messages(ADDRESS, 1)
        service.run_once()  # the canary comes back and is removed
        assert "OK" in watchdog_state(service.rt.store, T0, grace=timedelta(minutes=5)).describe(T0)
        with mail.imap(ADDRESS) as imap:
            imap.select_folder("INBOX")
            assert imap.search(["ALL"]) == []
        # Now mail to ourselves silently disappears: the next canary never returns.
        mail.fail_recipient(ADDRESS, 550)
        later = T0 + timedelta(minutes=11)
        service.rt.clock = lambda: later
        service.run_watchdog()
        service.run_once()
        service.rt.clock = lambda: later + timedelta(minutes=6)
        with caplog.at_level(logging.ERROR):
            service.run_watchdog()
        assert "WATCHDOG ALARM" in caplog.text
    finally:
        service.close()
