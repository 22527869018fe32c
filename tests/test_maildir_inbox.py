"""The embedded default's inbox (a local Maildir): mail that arrives while the service is
handling a batch is looked at as soon as the batch is done.

Dana's second request lands in the Maildir while the service is still busy with the first.
The service then waits for new mail; it must not take the request that is already there
for part of the inbox as it was, or Dana waits up to half a minute (the wait's timeout) for
an answer the service could give at once. Found by a flaky run of
test_reliability_workbook_jobs, where exactly that took 30 s.
"""

from __future__ import annotations

import threading

from letters import REQUEST, plain

from mailer.mail.sources import MaildirSource

FIRST = plain(sender="Dana Whitfield <dana@example.com>", to="transitions@example.com",
              subject="Handover Acme", body=REQUEST)
SECOND = plain(sender="Dana Whitfield <dana@example.com>", to="transitions@example.com",
               subject="Handover Globex", body=REQUEST.replace("Acme Corp", "Globex"))


def test_a_request_arriving_while_a_batch_is_handled_is_seen_without_waiting(tmp_path):
    inbox = MaildirSource(tmp_path / "inbox")
    inbox.deliver(FIRST)
    for message in inbox.fetch_new():
        inbox.deliver(SECOND)  # arrives while the first is being handled
        inbox.file(message, "Processed")
    assert inbox.wait(timeout=1) is True
    assert [m.raw for m in inbox.fetch_new()] == [SECOND]


def test_a_message_that_could_not_be_filed_does_not_keep_the_service_spinning(tmp_path):
    """A handled message whose move failed stays in the inbox (its outcome is recorded and it
    is recognised next time); it is not new mail, so the service still waits."""
    inbox = MaildirSource(tmp_path / "inbox")
    inbox.deliver(FIRST)
    assert len(list(inbox.fetch_new())) == 1  # handled, but not filed
    assert inbox.wait(timeout=0.3) is False


def test_mail_delivered_during_the_wait_ends_it(tmp_path):
    inbox = MaildirSource(tmp_path / "inbox")
    assert list(inbox.fetch_new()) == []
    timer = threading.Timer(0.2, inbox.deliver, args=(FIRST,))
    timer.start()
    try:
        assert inbox.wait(timeout=10) is True
    finally:
        timer.join()
