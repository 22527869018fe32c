"""Nothing leaks, nothing is misfiled: refusals that tell an attacker nothing, files only the
service's own user can read, a message seen twice filed where it went the first time."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from attacks import DANA, EVE, Desk, letter, parse, started, text_part

from mailer import pipeline


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    d = started(tmp_path)
    yield d
    d.close()


def test_a_refusal_does_not_tell_whether_a_transition_exists(desk: Desk) -> None:
    refusals = []
    for n, tid in enumerate(("TR-0001", "TR-0099")):
        subject = f"[{tid}] cancel <script>Click http://evil.test/{n}"
        sent = desk.attempt(letter(sender=EVE, subject=subject, body="cancel\n"))
        [refusal] = sent
        message = parse(refusal["raw"])
        assert "evil.test" not in str(message["Subject"]) and tid not in str(message["Subject"])
        refusals.append((str(message["Subject"]), text_part(refusal["raw"])))
        desk.store.run("DELETE FROM rejections")  # so the second one is answered too
    assert refusals[0] == refusals[1]
    # Dana's own command on TR-0001 is still obeyed.
    desk.run(letter(sender=DANA, subject="[TR-0001] pause", body="pause\n"))
    assert desk.transition()["status"] == "paused"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_archive_and_workbooks_are_for_the_owner_only(desk: Desk) -> None:
    settings = desk.assistant.settings
    from mailer.handoff.questionnaire import SECTIONS

    sam = desk.reply_address("sam@example.com", "questionnaire")
    body = "\n".join(f"{s.number}. {s.title}\n{s.example}\n" for s in SECTIONS)
    desk.run(letter(sender="Sam Jones <sam@example.com>", to=sam, subject="Re", body=body))
    assert desk.transition()["workbook_version"] == 1
    files = [settings.database_path, *settings.archive_dir.rglob("*.eml"),
             *settings.workbooks_dir.rglob("*.xlsx")]
    assert len(files) >= 3
    for path in files:
        assert mode(path) == 0o600, path
    for folder in (settings.data_dir, settings.archive_dir, settings.workbooks_dir,
                   *settings.workbooks_dir.iterdir()):
        assert mode(folder) == 0o700, folder


def test_a_message_seen_again_is_filed_where_it_went_first(desk: Desk, caplog) -> None:
    rt = desk.service.rt
    stranger = letter(sender=EVE, subject="Hello", body="Start a transition for me\n")
    first = pipeline.handle(rt, stranger, source_key="imap:INBOX:1:77")
    assert first.outcome == "rejected"
    with caplog.at_level("INFO"):
        again = pipeline.handle(rt, stranger, source_key="imap:INBOX:1:77")
    assert pipeline.folder_for(rt, again) == rt.rules.folders.rejected
    assert "seen again" in caplog.text
    # A request handled once and seen again goes back to Processed.
    ok = letter(sender=DANA, subject="[TR-0001] status", body="status\n")
    assert pipeline.handle(rt, ok, source_key="imap:INBOX:1:78").outcome == "processed"
    again = pipeline.handle(rt, ok, source_key="imap:INBOX:1:78")
    assert pipeline.folder_for(rt, again) == rt.rules.folders.processed


def test_a_book_with_a_header_and_no_rows_gets_an_answer(tmp_path: Path) -> None:
    from letters import gmail

    desk = Desk(tmp_path)
    try:
        for n, payload in enumerate((
                b"Account,Outgoing CSM,Incoming CSM,Customer contacts\n",
                b"Account,Outgoing CSM,Incoming CSM,Customer contacts\n,,,\n,,,\n")):
            raw = gmail(sender=DANA, to="transitions@example.com", subject="Book",
                        text=f"Book {n}",
                        html="<p>Book</p>", attachment=("book.csv", payload)).replace(
                b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                b"text/csv")
            sent = desk.run(raw)
            assert desk.last_inbound()[0] == "processed", desk.last_inbound()
            assert [m["kind"] for m in sent] == ["book_answer"]
            assert "no account in any row" in text_part(sent[0]["raw"])
            assert desk.transition() == {}
        good = b"Account,Outgoing CSM,Incoming CSM,Customer contacts\n" \
               b"Acme,sam@example.com,rita@example.com,pat@acme.com\n"
        raw = gmail(sender=DANA, to="transitions@example.com", subject="Book 2", text="Book",
                    html="<p>Book</p>", attachment=("book.csv", good)).replace(
            b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"text/csv")
        desk.run(raw)
        assert desk.transition()["account"] == "Acme"
    finally:
        desk.close()


# -- reply tokens: only their hashes are kept -------------------------------------------------

SAM = "Sam Jones <sam@example.com>"


def _all_answers() -> str:
    from mailer.handoff.questionnaire import SECTIONS

    return "\n".join(f"{s.number}. {s.title}\n{s.example}\n" for s in SECTIONS)


def test_a_receipt_carries_a_fresh_reply_address_and_both_keep_working(desk: Desk) -> None:
    """Receipts used to repeat the questionnaire's stored token; now nothing needs a token's
    value after its mail is written, so the database can keep its hash alone."""
    questionnaire = desk.reply_address("sam@example.com", "questionnaire")
    [receipt] = [m for m in desk.run(letter(sender=SAM, to=questionnaire, subject="Re: q",
                                            body="2. Sentiment\nHappy, renewing early.\n"))
                 if m["kind"] == "questionnaire_receipt"]
    fresh = str(parse(receipt["raw"])["Reply-To"])
    assert fresh != questionnaire and fresh.startswith("transitions+")
    # More answers, in reply to the receipt: read as questionnaire answers.
    desk.run(letter(sender=SAM, to=fresh, subject="Re: receipt", body=_all_answers()))
    assert desk.transition()["workbook_version"] == 1
    # The first address still works for a correction; Eve at either address gets nothing.
    sent = desk.run(letter(sender=SAM, to=questionnaire, subject="Re: q",
                           body="2. Sentiment\nVery happy.\n"))
    # (The receipt is queued with the reply; the new workbook version by the worker after it.)
    assert "questionnaire_receipt" in [m["kind"] for m in sent]
    for address in (questionnaire, fresh):
        sent = desk.attempt(letter(sender=EVE, to=address, subject="Re", body="9. Risk\nHigh"))
        assert all(m["to"] == ["eve@evil.test"] for m in sent)
    rows = desk.store.all("SELECT * FROM tokens")
    assert all(len(r["token_hash"]) == 64 for r in rows)
    assert not {questionnaire.split("+")[1].split("@")[0], fresh.split("+")[1].split("@")[0]} \
        & {str(value) for r in rows for value in tuple(r)}


def test_a_request_fixed_over_several_answers_keeps_its_fields(tmp_path: Path) -> None:
    """The pending request is found by its first token's family: each answer listing the
    problems carries a fresh address, and any of them completes the request."""
    from letters import REQUEST

    desk = Desk(tmp_path)
    try:
        broken = REQUEST.replace("Incoming CSM: Rita Patel <rita@example.com>\n", "")
        broken = broken.replace("Effective date:", "Type: gentle\nEffective date:")
        [first] = desk.run(letter(sender=DANA, subject="Acme", body=broken))
        assert first["kind"] == "request_problems"
        one = str(parse(first["raw"])["Reply-To"])
        [second] = desk.run(letter(sender=DANA, to=one, subject="Re", body="Type: soft\n"))
        assert second["kind"] == "request_problems"
        two = str(parse(second["raw"])["Reply-To"])
        assert two != one
        desk.run(letter(sender=DANA, to=two, subject="Re",
                        body="Incoming CSM: Rita Patel <rita@example.com>\n"))
        t = desk.transition()
        assert t["type"] == "soft" and t["incoming_email"] == "rita@example.com"
        # The first answer's address now steers the transition it became, for Dana only.
        desk.attempt(letter(sender=EVE, to=one, subject="Re", body="cancel\n"))
        desk.run(letter(sender=DANA, to=one, subject="Re", body="pause\n"))
        assert desk.transition()["status"] == "paused"
    finally:
        desk.close()


def _downgrade_to_plain_tokens(database: Path, plain: dict[str, str]) -> None:
    """The database as the assistant wrote it before tokens were hashed (schema 7): tokens
    in clear, sent mail and a history line still carrying their reply addresses. Built from
    the first seven migrations, with the rows of `database` copied in."""
    import os
    import sqlite3
    from contextlib import closing

    from mailer.state.store import MIGRATIONS

    old = database.with_name("schema7.sqlite3")
    with closing(sqlite3.connect(old)) as db:
        for script in MIGRATIONS[:7]:
            db.executescript(script)
        db.execute("ATTACH DATABASE ? AS new", (str(database),))
        tables = [row[0] for row in db.execute(
            "SELECT name FROM main.sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [row[1] for row in db.execute(f"PRAGMA main.table_info({table})")]
            now = {row[1] for row in db.execute(f"PRAGMA new.table_info({table})")}
            source = ["token_hash" if c == "token" and c not in now else c for c in columns]
            db.execute(f"INSERT INTO main.{table}({', '.join(columns)}) "
                       f"SELECT {', '.join(source)} FROM new.{table}")
        for hashed, token in plain.items():
            db.execute("UPDATE tokens SET token=? WHERE token=?", (token, hashed))
        db.execute("UPDATE outbound SET status='sent'")  # all of it went out
        address = f"transitions+{plain[next(iter(plain))]}@example.com"
        db.execute("INSERT INTO history(transition_id, at, direction, sender, recipients,"
                   " subject) VALUES('TR-0001', '2026-11-02T10:00:00+00:00', 'in',"
                   " 'sam@example.com', ?, 'Re: questions')", (f'["{address}"]',))
        db.execute("PRAGMA user_version=7")
        db.commit()
        db.execute("DETACH DATABASE new")
    for leftover in database.parent.glob("mailer.sqlite3-*"):
        leftover.unlink()
    os.replace(old, database)


def test_an_old_database_is_upgraded_and_its_reply_addresses_still_work(tmp_path: Path) -> None:
    from mailer.state.token_secrecy import token_hash

    desk = started(tmp_path)
    addresses = {kind: desk.reply_address(to, kind) for to, kind in (
        ("sam@example.com", "questionnaire"), ("dana@example.com", "request_accepted"))}
    tokens = {kind: a.split("+")[1].split("@")[0] for kind, a in addresses.items()}
    database = desk.assistant.settings.database_path
    desk.close()
    _downgrade_to_plain_tokens(database, {token_hash(t): t for t in tokens.values()})
    assert all(t.encode() in database.read_bytes() for t in tokens.values())

    desk = Desk(tmp_path)  # the new version starts on the old file
    try:
        assert desk.store.one("PRAGMA user_version")[0] >= 8
        raw = bytes(desk.store.one("SELECT raw FROM outbound WHERE kind='questionnaire'")["raw"])
        assert b"transitions+redacted@example.com" in raw
        history = " ".join(r["recipients"] for r in desk.store.all("SELECT * FROM history"))
        assert "transitions+" not in history and "transitions@example.com" in history
        desk.store.run("PRAGMA wal_checkpoint(TRUNCATE)")
        contents = b"".join(p.read_bytes() for p in database.parent.glob("mailer.sqlite3*"))
        for token in tokens.values():
            assert token.encode() not in contents, "a token survived the upgrade in clear"
        # The mail people already have still works: Sam answers, Dana steers.
        desk.run(letter(sender=SAM, to=addresses["questionnaire"], subject="Re",
                        body=_all_answers()))
        assert desk.transition()["workbook_version"] == 1
        desk.attempt(letter(sender=EVE, to=addresses["request_accepted"], subject="Re",
                            body="cancel\n"))
        desk.run(letter(sender=DANA, to=addresses["request_accepted"], subject="Re",
                        body="pause\n"))
        assert desk.transition()["status"] == "paused"
    finally:
        desk.close()


def test_an_address_read_from_a_copied_database_answers_for_nobody(desk: Desk) -> None:
    """Eve has the database file: hashes, and sent mail whose reply address is redacted."""
    row = desk.store.one("SELECT token_hash FROM tokens WHERE purpose='manager'")
    hashed = row["token_hash"]
    base32ish = hashed.translate(str.maketrans("0189", "abcd"))[:26]  # shaped like a token
    for local in (f"transitions+{hashed[:26]}", f"transitions+{base32ish}",
                  "transitions+redacted", f"transitions+{hashed}"):
        sent = desk.attempt(letter(sender=EVE, to=f"{local}@example.com", subject="Re: Acme",
                                   body="cancel\n"))
        assert all(m["to"] == ["eve@evil.test"] for m in sent)
        desk.store.run("DELETE FROM rejections")
    dana = desk.reply_address("dana@example.com", "request_accepted")
    desk.run(letter(sender=DANA, to=dana, subject="Re: Acme", body="pause\n"))
    assert desk.transition()["status"] == "paused"
