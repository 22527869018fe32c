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
