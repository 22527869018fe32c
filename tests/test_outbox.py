"""The outbox spool: mail is written from committed rows, sent in order per person, held
while its transition is paused and withdrawn when it is cancelled."""

from __future__ import annotations

import json
import random
import sqlite3
import tracemalloc
from datetime import UTC, datetime, timedelta

from assistant import Assistant

from mailer.flows.outgoing import Outgoing, queue_outgoing
from mailer.handoff.model import Person
from mailer.mail.smtp import drain, sender_for
from mailer.state.store import iso

NOW = datetime(2027, 1, 4, 10, 0, tzinfo=UTC)
PAT = Person("Pat Lee", "pat@acme.com")
MB = 1024 * 1024


def _runtime(tmp_path):
    service = Assistant(tmp_path).service(clock=lambda: NOW)
    rt = service.rt
    with rt.store.transaction():
        rt.store.run("INSERT INTO transitions(id, seq, account, manager_name, manager_email,"
                     " outgoing_name, outgoing_email, incoming_name, incoming_email,"
                     " contacts_json, type, playbook, request_received, created_at,"
                     " updated_at) VALUES('TR-0001', 1, 'Acme', 'Dana', 'dana@example.com',"
                     " 'Sam', 'sam@example.com', 'Rita', 'rita@example.com', '[]', 'soft',"
                     " 'soft', ?, ?, ?)", NOW.isoformat(), NOW.isoformat(), NOW.isoformat())
    return service, rt


def _queue(rt, *, holdable: bool, to: Person = PAT, at: datetime = NOW) -> None:
    with rt.store.transaction():
        queue_outgoing(rt, Outgoing(template="edited_message", to=[to], kind="customer_intro",
                                    context={"edited_subject": "Hello", "edited_text": "Hi"},
                                    holdable=holdable), transition_id="TR-0001", now=at)
    rt.outbox.spool(rt.store)


def _status(rt, status: str) -> None:
    with rt.store.transaction():
        rt.store.run("UPDATE transitions SET status=? WHERE id='TR-0001'", status)


def test_every_queued_row_becomes_an_eml_file_atomically(tmp_path):
    service, rt = _runtime(tmp_path)
    _queue(rt, holdable=False)
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1 and files[0].name == "000001-TR-0001-customer_intro.eml"
    assert list((tmp_path / "outbox").glob(".*")) == []
    files[0].unlink()  # a crash took the file: the committed row brings it back
    rt.outbox.spool(rt.store)
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    service.close()


def test_playbook_mail_waits_while_paused_and_is_withdrawn_when_cancelled(tmp_path):
    service, rt = _runtime(tmp_path)
    _queue(rt, holdable=True)
    _queue(rt, holdable=False, to=Person("Dana", "dana@example.com"))
    _status(rt, "paused")
    assert [m.recipients for m in rt.outbox.ready(rt.store, NOW)] == [("dana@example.com",)]
    _status(rt, "active")
    assert len(rt.outbox.ready(rt.store, NOW)) == 2
    _status(rt, "cancelled")
    assert [m.recipients for m in rt.outbox.ready(rt.store, NOW)] == [("dana@example.com",)]
    assert len(list((tmp_path / "outbox" / "cancelled").glob("*.eml"))) == 1
    assert rt.outbox.counts(rt.store) == {"cancelled": 1, "queued": 1}
    service.close()


def test_a_mail_waiting_for_a_retry_holds_back_later_mail_to_the_same_person(tmp_path):
    service, rt = _runtime(tmp_path)
    _queue(rt, holdable=False)
    _queue(rt, holdable=False)
    first = rt.outbox.ready(rt.store, NOW)[0]
    rt.outbox.mark_retry(rt.store, first, "451 try later", NOW)
    assert rt.outbox.ready(rt.store, NOW) == []
    later = rt.outbox.ready(rt.store, NOW + timedelta(minutes=5))
    assert [m.row_id for m in later] == [1, 2]
    service.close()


def test_a_file_left_behind_by_a_crash_after_sending_is_put_away(tmp_path):
    service, rt = _runtime(tmp_path)
    _queue(rt, holdable=False)
    [mail] = rt.outbox.ready(rt.store, NOW)
    with rt.store.transaction():  # the row says sent, then the process died before the move
        rt.store.run("UPDATE outbound SET status='sent' WHERE id=?", mail.row_id)
    (tmp_path / "outbox" / ".000009-TR-0001-x.eml.tmp").write_bytes(b"half")
    rt.outbox.spool(rt.store)
    assert list((tmp_path / "outbox").glob("*.eml")) == []
    assert list((tmp_path / "outbox").glob(".*")) == []
    assert [p.name for p in (tmp_path / "outbox" / "sent").glob("*.eml")] == [mail.path.name]
    service.close()


def test_a_mail_sent_just_before_a_crash_is_recorded_and_never_sent_again(tmp_path):
    """The server said 250 and the file moved to sent/, then the process died before the
    row was marked: the next start records it as sent instead of sending it again."""
    service, rt = _runtime(tmp_path)
    _queue(rt, holdable=False)
    _queue(rt, holdable=False, to=Person("Dana", "dana@example.com"))
    first, second = rt.outbox.ready(rt.store, NOW)
    rt.outbox.set_aside_sent(first)
    assert rt.outbox.counts(rt.store) == {"queued": 2}  # the crash came here
    rt.outbox.spool(rt.store)
    assert rt.outbox.counts(rt.store) == {"sent": 1, "queued": 1}
    assert [m.row_id for m in rt.outbox.ready(rt.store, NOW)] == [second.row_id]
    assert [p.name for p in (tmp_path / "outbox").glob("*.eml")] == [second.path.name]
    service.close()


def test_waiting_mail_is_read_one_mail_at_a_time(tmp_path):
    """The step mails of a pass are queued together, hundreds at once: writing their files and
    choosing the next few to send holds one mail in memory, never every waiting one."""
    service, rt = _runtime(tmp_path)
    for n in range(20):
        _queue(rt, holdable=False, to=Person(f"Person {n}", f"p{n}@acme.com"))
    with rt.store.transaction():  # each mail 1 MB long, as with an attachment
        for row in rt.store.all("SELECT id, raw FROM outbound"):
            rt.store.run("UPDATE outbound SET raw=? WHERE id=?",
                         bytes(row["raw"]) + b"\r\n" + b"x" * MB, row["id"])
    for spooled in (tmp_path / "outbox").glob("*.eml"):
        spooled.unlink()  # written again from the rows
    tracemalloc.start()
    try:
        written = rt.outbox.spool(rt.store)
        due = rt.outbox.ready(rt.store, NOW, limit=3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert written == 20 and [m.row_id for m in due] == [1, 2, 3]
    assert all(m.path.stat().st_size > MB for m in due)
    assert peak < 4 * MB, peak
    service.close()


def test_sending_goes_on_while_another_connection_writes_and_nothing_goes_twice(tmp_path, mail):
    """The service holds the database's write lock while it handles a message: the courier
    sends on, marks its sent mail once the lock is free, and never offers a mail twice."""
    service = Assistant(tmp_path, mail).service(clock=lambda: NOW)
    rt = service.rt
    for n in range(3):
        _queue(rt, holdable=False, to=Person(f"Person {n}", f"p{n}@acme.com"))
    sender = sender_for(rt.settings)
    assert sender is not None
    handling = sqlite3.connect(rt.store.path, isolation_level=None)
    handling.execute("BEGIN IMMEDIATE")  # the service, busy with the next message
    try:
        unrecorded: list = []
        first = drain(rt.store, rt.outbox, sender, now=lambda: NOW, unrecorded=unrecorded)
        assert first.sent == 3 and len(unrecorded) == 3  # sent, not waiting for the lock
        again = drain(rt.store, rt.outbox, sender, now=lambda: NOW, unrecorded=unrecorded)
        assert again.sent == 0 and len(mail.accepted) == 3
        assert rt.outbox.counts(rt.store) == {"queued": 3}
    finally:
        handling.execute("COMMIT")
        handling.close()
    drain(rt.store, rt.outbox, sender, now=lambda: NOW, unrecorded=unrecorded)
    assert unrecorded == [] and rt.outbox.counts(rt.store) == {"sent": 3}
    assert len(mail.accepted) == 3
    sender.close()
    service.close()


def test_answers_go_ahead_of_playbook_mail_yet_each_person_gets_their_mail_in_order(tmp_path):
    """Generated outboxes: playbook mail and answers to a few people, some waiting for a
    retry. Whatever is chosen to go, for every person it is their oldest waiting mail first;
    an answer goes ahead of earlier playbook mail whenever none of its people has older mail
    waiting; and with room for all, everything not held back goes."""
    people = [Person(name, f"{name.lower()}@example.com")
              for name in ("Dana", "Sam", "Rita", "Pat", "Jo")]
    service, rt = _runtime(tmp_path)
    try:
        for seed in range(40):
            rng = random.Random(seed)
            with rt.store.transaction():
                rt.store.run("DELETE FROM outbound")
            for _ in range(rng.randint(1, 7)):
                with rt.store.transaction():
                    queue_outgoing(rt, Outgoing(
                        template="edited_message", kind="customer_intro",
                        to=rng.sample(people, rng.randint(1, 2)), holdable=rng.random() < 0.6,
                        context={"edited_subject": "Hello", "edited_text": "Hi"}),
                        transition_id="TR-0001", now=NOW)
            for mail in rt.outbox.ready(rt.store, NOW):
                if rng.random() < 0.15:
                    rt.outbox.mark_retry(rt.store, mail, "451 try later", NOW)
            waiting = rt.store.all("SELECT id, holdable, recipients_json, next_attempt_at "
                                   "FROM outbound WHERE status='queued' ORDER BY id")
            retrying = {row["id"] for row in waiting if (row["next_attempt_at"] or "") > iso(NOW)}
            limit = rng.randint(1, 8)
            chosen = [m.row_id for m in rt.outbox.ready(rt.store, NOW, limit=limit)]
            _check_order(waiting, retrying, chosen, limit, seed)
    finally:
        service.close()


def _check_order(waiting, retrying: set[int], chosen: list[int], limit: int,  # noqa: ANN001
                 seed: int) -> None:
    to = {row["id"]: set(json.loads(row["recipients_json"])) for row in waiting}
    playbook = {row["id"] for row in waiting if row["holdable"]}
    ids = [row["id"] for row in waiting]
    held: set[int] = set()
    for i in ids:  # held: waiting for a retry, or behind such a mail to one of its people
        if i in retrying or any(to[i] & to[j] for j in held if j < i):
            held.add(i)
    assert not set(chosen) & held, seed
    assert len(chosen) == len(set(chosen)) <= limit, seed
    for position, i in enumerate(chosen):
        older = [j for j in ids if j < i and to[j] & to[i]]
        assert all(j in chosen[:position] for j in older), f"seed {seed}: {i} passed {older}"
    free = [i for i in ids if i not in held]
    if limit >= len(free):
        assert sorted(chosen) == free, seed
    answers_free = [i for i in free if i not in playbook
                    and not any(to[j] & to[i] for j in ids if j < i)]
    assert chosen[:len(answers_free)] == answers_free[:limit], seed
