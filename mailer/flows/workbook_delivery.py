"""The handoff workbook: gather a transition's answers, build it, keep it, mail it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

from mailer.flows.outgoing import Outgoing, queue_outgoing, transition_context
from mailer.flows.runtime import Runtime
from mailer.flows.schedule import plan_rows, playbook_of
from mailer.handoff.contacts import contacts_as_text, merge_contacts, parse_contacts
from mailer.handoff.history_words import history_words
from mailer.handoff.issues import parse_issues
from mailer.handoff.model import Contact, SectionAnswer
from mailer.handoff.questionnaire import SECTIONS, missing_sections, without_extend_marker
from mailer.handoff.renewal import renewal_date_from
from mailer.handoff.transitions import Transition
from mailer.handoff.workbook_content import (
    HandoffData,
    HistoryRow,
    PlanRow,
    VersionRow,
    summarise,
    workbook_filename,
)
from mailer.mail.compose import OutgoingAttachment
from mailer.state.store import Store, from_iso, iso
from mailer.state.tokens import token_in
from mailer.state.transition_records import form_contacts, load_transition, save_transition

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CONTACTS_SECTION = 1
RED_FLAGS_SECTION = 4
CONTRACT_SECTION = 8


def current_answers(rt: Runtime, transition_id: str) -> dict[int, str]:
    return {row["section"]: row["text"] for row in rt.store.all(
        "SELECT section, text FROM current_answers WHERE transition_id=? ORDER BY section",
        transition_id)}


def contacts_of(rt: Runtime, t: Transition, answers: dict[int, str]) -> list[Contact]:
    """Contacts from the form's sheet first, then every Contacts answer in the order it came:
    a later line about the same person (by name or old address) corrects that person's row,
    a new person is added once."""
    found: list[Contact] = list(form_contacts(rt.store, t.id))
    written = [row["text"] for row in rt.store.all(
        "SELECT text FROM answers WHERE transition_id=? AND section=? ORDER BY id",
        t.id, CONTACTS_SECTION)]
    if not written and answers.get(CONTACTS_SECTION):
        written = [answers[CONTACTS_SECTION]]
    from_form = contacts_as_text(found) if found else None
    for text in written:
        if text == from_form:
            continue  # the form's own rows, written out for the Answers sheet
        found = merge_contacts(found, parse_contacts(without_extend_marker(text)))
    return found


def handoff_data(rt: Runtime, t: Transition, *, now: datetime,
                 versions: list[VersionRow]) -> HandoffData:
    answers = current_answers(rt, t.id)
    titles = {s.number: s.title for s in SECTIONS}
    zone = rt.settings.timezone
    step_titles = {s.id: s.title for s in playbook_of(rt, t).steps}

    def local(moment: datetime | None) -> datetime:
        """Every moment in the team's time zone, which the sheets' headers name."""
        moment = moment or now
        return moment.astimezone(zone) if moment.tzinfo else moment

    received = tuple(
        SectionAnswer(section=row["section"], text=row["text"],
                      received_at=local(from_iso(row["received_at"])),
                      message_id=row["message_id"])
        for row in rt.store.all("SELECT * FROM answers WHERE transition_id=? ORDER BY id", t.id))
    plan = tuple(PlanRow(step=r.title, owner=r.who.split(" to ")[0] if " to " in r.who
                         else "assistant", to=r.who,
                         due=local(r.meeting_at or r.due_at) if (r.meeting_at or r.due_at)
                         else None, status=r.state)
                 for r in plan_rows(rt, t))
    history = tuple(
        HistoryRow(at=local(from_iso(row["at"])), direction=row["direction"],
                   sender=row["sender"],
                   recipients=tuple(_shown(rt, a) for a in json.loads(row["recipients"])),
                   subject=row["subject"], note=history_words(row["note"], step_titles))
        for row in rt.store.all("SELECT * FROM history WHERE transition_id=? ORDER BY id", t.id))
    return HandoffData(
        transition_id=t.id, account=t.account, type=t.type.value, manager=t.manager,
        outgoing=t.outgoing, incoming=t.incoming, customer_contacts=t.customer_contacts,
        effective_date=t.effective_date, last_day=t.last_day,
        renewal_date=t.renewal_date or _renewal_from_answers(answers, now),
        reason=t.reason, share_reason=t.share_reason, answers=received,
        current_answers=answers, section_titles=titles,
        contacts=tuple(contacts_of(rt, t, answers)),
        issues=tuple(parse_issues(answers.get(RED_FLAGS_SECTION, ""))), plan=plan,
        history=history, versions=tuple(replace(v, at=local(v.at)) for v in versions),
        debrief=t.debrief_text, generated_at=local(now), zone=getattr(zone, "key", str(zone)))


def _shown(rt: Runtime, address: str) -> str:
    """Reply tokens are capabilities: the workbook travels, so it shows the plain address."""
    return rt.address if token_in([address], rt.address) else address


def _renewal_from_answers(answers: dict[int, str], now: datetime) -> date | None:
    return renewal_date_from(answers.get(CONTRACT_SECTION, ""), today=now.date())


def versions_of(rt: Runtime, transition_id: str) -> list[VersionRow]:
    return [VersionRow(version=row["version"], at=from_iso(row["at"]) or datetime.min,
                       summary=row["summary"])
            for row in rt.store.all("SELECT * FROM workbook_versions WHERE transition_id=? "
                                    "ORDER BY version", transition_id)]


def deliver_workbook(rt: Runtime, t: Transition, *, now: datetime, change_summary: str,
                     mail: bool = True) -> Transition:
    """Reserve the next version and record the job of building (and mailing) it, inside the
    caller's transaction. A worker process carries the job out (`run_workbook_job`) on the
    other core; the job row makes a crash neither lose nor repeat it. Each new version's mail
    continues the conversation of the first."""
    version = t.workbook_version + 1
    path = _latest_path(rt, t)
    rt.store.run("INSERT INTO workbook_versions(transition_id, version, at, summary, path) "
                 "VALUES(?,?,?,?,?)", t.id, version, iso(now), change_summary, str(path))
    updated = replace(t, workbook_version=version, workbook_path=str(path))
    save_transition(rt.store, updated, now=now)
    rt.store.run("INSERT INTO jobs(kind, transition_id, version, mail, created_at) "
                 "VALUES('workbook',?,?,?,?)", t.id, version, int(mail), iso(now))
    return updated


def waiting_jobs(store: Store) -> list[int]:
    """Recorded jobs whose mail is not queued yet, oldest first (after a crash too)."""
    return [row["id"] for row in store.all("SELECT id FROM jobs WHERE done_at IS NULL "
                                           "ORDER BY id")]


@dataclass(frozen=True)
class BuiltWorkbook:
    job_id: int
    transition: Transition  # as of the version built
    data: HandoffData
    payload: bytes
    path: Path
    mail: bool
    at: datetime  # when the event asked for it


def run_workbook_job(rt: Runtime, job_id: int) -> bool:
    """Build the workbook of a recorded job, keep the file, then queue its mail and mark the
    job done in one transaction. Safe to run again: a done job is skipped, and the file is
    rewritten in place. Returns True when this run queued the mail."""
    built = build_workbook_file(rt, job_id)
    return built is not None and queue_workbook_mail(rt, built)


def build_workbook_file(rt: Runtime, job_id: int) -> BuiltWorkbook | None:
    job = rt.store.one("SELECT * FROM jobs WHERE id=?", job_id)
    t = load_transition(rt.store, job["transition_id"]) if job else None
    if job is None or job["done_at"] or t is None:
        return None
    at = from_iso(job["created_at"]) or rt.clock()
    version = job["version"]
    t = replace(t, workbook_version=version)
    versions = [v for v in versions_of(rt, t.id) if v.version <= version]
    data = handoff_data(rt, t, now=at, versions=versions)
    # Imported here: workbooks are built by the workers, whose fork server has it loaded,
    # and the service, which only records the jobs, starts sooner without openpyxl.
    from mailer.handoff.workbook import build_workbook

    payload = build_workbook(data)
    path = _keep(rt, t, version, payload)
    return BuiltWorkbook(job_id=job_id, transition=replace(t, workbook_path=str(path)),
                         data=data, payload=payload, path=path, mail=bool(job["mail"]), at=at)


def queue_workbook_mail(rt: Runtime, built: BuiltWorkbook) -> bool:
    t, data, path = built.transition, built.data, built.path
    with rt.store.transaction():
        if rt.store.one("SELECT 1 FROM jobs WHERE id=? AND done_at IS NULL", built.job_id) \
                is None:
            return False  # another worker finished it first (a restart raced an orphan)
        if built.mail:
            summary = summarise(data)
            missing = missing_sections(data.current_answers,
                                       playbook_of(rt, t).required_sections)
            queue_outgoing(rt, Outgoing(
                template="workbook_ready", to=[t.incoming], cc=[t.manager], kind="workbook",
                context=transition_context(rt, t) | {
                    "version": t.workbook_version,
                    "change_summary": data.versions[-1].summary if data.versions else "",
                    "summary": summary,
                    "key_contacts": [_contact_line(c) for c in summary.key_contacts],
                    "missing": [f"{s.number}. {s.title}" for s in missing],
                    "filename": path.name},
                follows="workbook", auto_submitted="auto-generated",
                attachments=[OutgoingAttachment(path.name, XLSX, built.payload)]),
                transition_id=t.id, now=built.at)
        rt.store.run("UPDATE jobs SET done_at=? WHERE id=?", iso(built.at), built.job_id)
    return built.mail


def _contact_line(contact: Contact) -> str:
    parts = [contact.name, contact.title, contact.email]
    text = ", ".join(p for p in parts if p)
    return f"{text} ({contact.role.value})" if contact.role.value != "other" else text


def _latest_path(rt: Runtime, t: Transition) -> Path:
    return rt.settings.workbooks_dir / t.id / workbook_filename(t.account, t.id)


def _keep(rt: Runtime, t: Transition, version: int, payload: bytes) -> Path:
    """Keep the new version as the latest file, the one before it renamed `... vN.xlsx`.
    Built again after a crash, the same version simply replaces its own file."""
    latest = _latest_path(rt, t)
    folder = latest.parent
    folder.mkdir(parents=True, exist_ok=True)
    previous = folder / f"{latest.stem} v{version - 1}{latest.suffix}"
    if latest.exists() and version > 1 and not previous.exists():
        latest.replace(previous)
    temp = folder / f".{latest.name}.{os.getpid()}.tmp"
    temp.write_bytes(payload)
    temp.replace(latest)
    return latest
