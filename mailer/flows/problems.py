"""One transition's bad data never stops the others.

Whatever breaks while the scheduler works on one transition (a date past the calendar's end,
a playbook that lost a step, a row no code expected) is caught here: recorded on that
transition, logged, told to its manager once, and the pass goes on with the rest. The
transition is not visited again until something happens to it (a command, an answer) or the
hourly full pass tries it once more; a pass that succeeds clears the record.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from mailer.errors import LimitReached
from mailer.flows.outgoing import Outgoing, person_view, queue_outgoing
from mailer.flows.runtime import Runtime
from mailer.handoff.model import Person
from mailer.state.store import iso

log = logging.getLogger(__name__)

NOTHING_DUE = "9999-12-31T00:00:00+00:00"  # as stored by mailer.flows.schedule
# A full disk or a locked database is the whole service's trouble, not one transition's.
STORAGE_ERRORS = (OSError, sqlite3.OperationalError, sqlite3.DatabaseError)
T = TypeVar("T")


def isolated(rt: Runtime, transition_id: str, work: Callable[[], T], *, now: datetime,
             fallback: T) -> T:
    """Run one transition's work; on failure record it, tell the manager once, go on."""
    try:
        result = work()
    except STORAGE_ERRORS:
        raise
    except LimitReached as exc:  # a limit of inbox_rules.yaml, said in words
        log.warning("%s: set aside: %s", transition_id, exc.reason)
        record_problem(rt, transition_id, f"{exc.reason}. {exc.advice}", now=now)
        return fallback
    except Exception as exc:  # noqa: BLE001 - one transition must never stop the others
        log.exception("%s: the scheduler could not work on this transition; it is set aside",
                      transition_id)
        record_problem(rt, transition_id, f"{exc.__class__.__name__}: {exc}", now=now)
        return fallback
    if rt.store.one("SELECT 1 FROM transition_problems WHERE transition_id=?", transition_id):
        with rt.store.transaction():
            rt.store.run("DELETE FROM transition_problems WHERE transition_id=?", transition_id)
    return result


def record_problem(rt: Runtime, transition_id: str, problem: str, *, now: datetime) -> None:
    problem = " ".join(problem.split())[:300]
    with rt.store.transaction():
        rt.store.run("INSERT INTO transition_problems(transition_id, problem, first_at, last_at)"
                     " VALUES(?,?,?,?) ON CONFLICT(transition_id) DO UPDATE SET"
                     " problem=excluded.problem, last_at=excluded.last_at",
                     transition_id, problem, iso(now), iso(now))
        rt.store.run("UPDATE transitions SET next_due_at=?, next_step=? WHERE id=?",
                     NOTHING_DUE, f"stopped: {problem}", transition_id)
        told = rt.store.one("SELECT told FROM transition_problems WHERE transition_id=?",
                            transition_id)
        row = rt.store.one("SELECT account, manager_name, manager_email FROM transitions "
                           "WHERE id=?", transition_id)
        if row is None or (told and told["told"]):
            return
        manager = Person(row["manager_name"], row["manager_email"])
        try:
            queue_outgoing(rt, Outgoing(
                template="transition_problem", to=[manager], kind="transition_problem",
                context={"tid": transition_id, "account": row["account"],
                         "manager": person_view(manager), "problem": problem},
                auto_submitted="auto-generated", follows="request"),
                transition_id=transition_id, now=now)
        except STORAGE_ERRORS:
            raise
        except Exception:  # noqa: BLE001 - the record stands even if the mail cannot be made
            log.exception("%s: could not tell the manager about the problem", transition_id)
        rt.store.run("UPDATE transition_problems SET told=1 WHERE transition_id=?",
                     transition_id)


def problem_of(rt: Runtime, transition_id: str) -> str:
    row = rt.store.one("SELECT problem FROM transition_problems WHERE transition_id=?",
                       transition_id)
    return row["problem"] if row else ""
