"""The real test servers behave like the mail system the assistant will live in."""

from __future__ import annotations

import asyncio
import time

import aiosmtplib
import pytest
from mailservers import MailServers

ASSISTANT = "transitions@example.com"

DANAS_REQUEST = (
    b"From: Dana Whitfield <dana@example.com>\r\n"
    b"To: Transitions <transitions+abc@example.com>\r\n"
    b"Subject: Hand-over for Acme Corp\r\n"
    b"Message-ID: <handover-acme-1@example.com>\r\n"
    b"Date: Fri, 15 Jan 2027 09:00:00 +0000\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Account: Acme Corp\r\n"
    b"Outgoing CSM: Pat Lee <pat@acme.com>\r\n"
    b"Incoming CSM: Sam Ortiz <sam@example.com>\r\n"
    b"Customer contacts: J\xc3\xbcrgen M\xc3\xbcller <jurgen@acme.com>\r\n"
    b"\r\n"
    b"Thanks! -- Dana\r\n"
)


def _headers(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


async def _send_with_aiosmtplib(mail: MailServers, recipient: str) -> None:
    await aiosmtplib.send(
        DANAS_REQUEST,
        sender="dana@example.com",
        recipients=[recipient],
        hostname=mail.smtp_host,
        port=mail.smtp_port,
        use_tls=False,
        start_tls=False,
        timeout=10,
    )


def test_mail_to_a_token_address_reaches_the_assistants_inbox_intact(mail: MailServers) -> None:
    mail.send(DANAS_REQUEST, mail_from="dana@example.com", rcpt_to=["transitions+abc@example.com"])

    [stored] = mail.wait_for_messages(ASSISTANT, 1)

    assert stored.endswith(DANAS_REQUEST)  # Dovecot only prepends its trace headers
    assert b"Delivered-To: transitions+abc@example.com\r\n" in _headers(stored)
    [envelope] = mail.accepted
    assert envelope.mail_from == "dana@example.com"
    assert envelope.rcpt_tos == ("transitions+abc@example.com",)
    assert envelope.data == DANAS_REQUEST


def test_idle_is_woken_by_a_new_delivery_within_two_seconds(mail: MailServers) -> None:
    with mail.imap(ASSISTANT) as watcher:
        watcher.select_folder("INBOX")
        watcher.idle()
        mail.send(DANAS_REQUEST, mail_from="dana@example.com", rcpt_to=[ASSISTANT])
        sent_at = time.monotonic()
        noticed: list[object] = []
        while time.monotonic() - sent_at < 2 and not any(b"EXISTS" in r for r in noticed):
            noticed += watcher.idle_check(timeout=0.2)
        watcher.idle_done()

    assert (1, b"EXISTS") in noticed


def test_planted_mail_and_folders_survive_a_dovecot_restart(mail: MailServers) -> None:
    mail.append(ASSISTANT, DANAS_REQUEST, folder="Processed/2027")
    port_before = mail.imap_port

    with mail.imap(ASSISTANT) as old_session:
        old_session.select_folder("INBOX")
        mail.restart_dovecot()

    assert mail.imap_port == port_before
    assert mail.folders(ASSISTANT) == ["INBOX", "Processed", "Processed/2027"]
    assert mail.messages(ASSISTANT, folder="Processed/2027") == [DANAS_REQUEST]


@pytest.mark.parametrize("code", [421, 451])
def test_a_temporary_failure_is_returned_once_then_mail_flows(mail: MailServers, code: int) -> None:
    mail.fail_next_messages(code)

    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        asyncio.run(_send_with_aiosmtplib(mail, ASSISTANT))
    asyncio.run(_send_with_aiosmtplib(mail, ASSISTANT))

    assert refused.value.code == code
    assert len(mail.wait_for_messages(ASSISTANT, 1)) == 1
    assert len(mail.accepted) == 1


def test_a_rejected_recipient_gets_a_permanent_550(mail: MailServers) -> None:
    mail.fail_recipient("Pat@Acme.com", 550, "5.1.1 No such mailbox here")

    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        asyncio.run(_send_with_aiosmtplib(mail, "pat@acme.com"))

    [rejection] = refused.value.recipients
    assert (rejection.code, rejection.message) == (550, "5.1.1 No such mailbox here")
    assert mail.messages("pat@acme.com") == []
    assert mail.accepted == []


def test_the_relay_refuses_connections_while_it_is_down(mail: MailServers) -> None:
    with mail.smtp_refusing_connections(), pytest.raises(ConnectionRefusedError):
        mail.send(DANAS_REQUEST, mail_from="dana@example.com", rcpt_to=[ASSISTANT])

    mail.send(DANAS_REQUEST, mail_from="dana@example.com", rcpt_to=[ASSISTANT])
    assert len(mail.wait_for_messages(ASSISTANT, 1)) == 1


def test_wipe_empties_every_mailbox_and_folder(mail: MailServers) -> None:
    mail.append("pat@acme.com", DANAS_REQUEST, folder="Archive")
    mail.send(DANAS_REQUEST, mail_from="dana@example.com", rcpt_to=[ASSISTANT])
    mail.wait_for_messages(ASSISTANT, 1)

    mail.wipe()

    assert mail.folders("pat@acme.com") == ["INBOX"]
    assert mail.messages(ASSISTANT) == []
    assert mail.accepted == []


def test_stop_leaves_no_dovecot_process_behind(mail_servers: MailServers) -> None:
    servers = MailServers(dovecot_binary=mail_servers.dovecot.binary)
    servers.start()
    try:
        with servers.imap(ASSISTANT) as idling:
            idling.select_folder("INBOX")
            idling.idle()  # an open session means an imap process that must not leak
            started = servers.dovecot_pids()
            names_while_running = {_command_name(pid) for pid in started}
            servers.stop()
    finally:
        servers.stop()

    assert "imap" in names_while_running
    assert [pid for pid in started if _is_running(pid)] == []
    assert not servers.root.exists()


def _command_name(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as comm:
        return comm.read().strip()


def _is_running(pid: int) -> bool:
    """True for a live process; a zombie awaiting its reaper no longer runs anything."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
