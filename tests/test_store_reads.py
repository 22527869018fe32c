"""Work on one transition reads that transition's rows, never a whole table.

A team's database holds every transition it ever ran: a reply, a workbook or a closed
transition that read whole tables would slow down with each account the team moves. Every
statement run while a manager's request is answered, the outgoing CSM's answers are read, the
workbook is built and the transition is closed is checked with SQLite's own query planner:
a table with a row per transition is searched by an index, never scanned.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path

from assistant import ADDRESS, Assistant, parse
from letters import ANSWERS, REQUEST, plain

from mailer import pipeline
from mailer.flows.workbook_delivery import run_workbook_job, waiting_jobs
from mailer.runtime import build_runtime


def _tables_per_transition(db: sqlite3.Connection) -> set[str]:
    tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    return {table for table in tables
            if any(column[1] == "transition_id"
                   for column in db.execute(f"PRAGMA table_info({table})"))}


def _scans(database: Path, statements: list[str]) -> list[str]:
    """The statements that read a whole per-transition table, with the planner's words."""
    found = []
    with closing(sqlite3.connect(database)) as db:
        per_transition = _tables_per_transition(db)
        for sql in statements:
            if not re.match(r"\s*(SELECT|UPDATE|DELETE|INSERT|WITH)\b", sql, re.IGNORECASE):
                continue
            for *_, detail in db.execute(f"EXPLAIN QUERY PLAN {sql}"):
                scanned = re.match(r"SCAN (\w+)", detail)
                if scanned and scanned.group(1) in per_transition:
                    found.append(f"{detail}: {sql[:160]}")
    return found


def test_a_reply_its_workbook_and_the_close_read_only_that_transitions_rows(tmp_path):
    assistant = Assistant(tmp_path)
    rt = build_runtime(assistant.settings)
    statements: list[str] = []
    rt.store.db.set_trace_callback(statements.append)
    try:
        request = plain(sender="Dana Whitfield <dana@example.com>", to=ADDRESS,
                        subject="Handover Acme", body=REQUEST)
        assert pipeline.handle(rt, request, source_key="request").outcome == "processed"
        with closing(sqlite3.connect(rt.store.path)) as db:  # not one of the product's reads
            [(questionnaire,)] = db.execute("SELECT raw FROM outbound WHERE kind='questionnaire'")
        reply_to = str(parse(bytes(questionnaire))["Reply-To"])
        reply = plain(sender="Sam Jones <sam@example.com>", to=reply_to,
                      subject="Re: handoff questions", body=ANSWERS)
        assert pipeline.handle(rt, reply, source_key="reply").outcome == "processed"
        [job] = waiting_jobs(rt.store)
        run_workbook_job(rt, job)
        close = plain(sender="Dana Whitfield <dana@example.com>", to=ADDRESS,
                      subject="[TR-0001] cancel", body="cancel\n")
        pipeline.handle(rt, close, source_key="close")
        assert rt.store.one("SELECT status FROM transitions")["status"] != "active"
    finally:
        rt.store.db.set_trace_callback(None)
        rt.store.close()
    assert len(statements) > 50
    scans = _scans(rt.store.path, statements)
    assert scans == [], "\n".join(scans)
