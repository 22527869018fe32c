"""The handoff workbook's shared parts write the very file openpyxl would.

Every sheet of a handoff workbook shares its settings (view, page setup, margins, header and
footer) with the other sheets built in the same process, and the parts every workbook has in
common are written from XML made once (`mailer.handoff.workbook._SheetDefaults`). That must
never change a byte the incoming CSM opens: over generated workbooks of every shape (no
contacts to hundreds, formula-looking text that needs a quote prefix, dates in other zones,
empty and enormous answers), each part of the file equals the part openpyxl's own steps write
for the same data, in the same order.
"""

from __future__ import annotations

import gc
import io
import random
import zipfile
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import Workbook
from openpyxl.cell import Cell
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.comments import Comment
from openpyxl.styles import Font

from mailer.handoff.model import Contact, ContactRole, IssueItem, IssueStatus, Person, SectionAnswer
from mailer.handoff.workbook import (
    _CellSheet,
    _ColumnWidths,
    _lay_out,
    _sheet_defaults,
    build_workbook,
)
from mailer.handoff.workbook_content import HandoffData, HistoryRow, PlanRow, VersionRow

SAMPLE = range(0, 24)
ALL = range(0, 300)
ZONES = ("UTC", "Europe/Lisbon", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Chatham")
WORDS = ("renewal", "Joaqu\u00edn", "QBR", "outage", "\u674e\u96f7", "dispatch", "\U0001f69a",
         "credit", "Z\u00fcrich", "sponsor", "invoice", "\u00e9quipe")
# Text a spreadsheet would read as a formula: each needs its cell's own quote-prefixed style.
RISKY = ("=SUM(A1:A9)", "+1 555 0100", "-10% discount", "@channel", "\tindented",
         '=HYPERLINK("http://evil.example")')


def _text(rng: random.Random, *, longest: int = 40) -> str:
    kind = rng.random()
    if kind < 0.1:
        return ""
    if kind < 0.25:
        return rng.choice(RISKY)
    if kind < 0.3:
        return "\n".join(" ".join(rng.choices(WORDS, k=12)) for _ in range(rng.randint(400, 500)))
    lines = [" ".join(rng.choices(WORDS, k=rng.randint(1, longest)))
             for _ in range(rng.randint(1, 4))]
    return "\n".join(lines)


def _moment(rng: random.Random) -> datetime:
    return datetime(2027, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 500_000))


def _person(rng: random.Random, n: int) -> Person:
    return Person(rng.choice(("", "Priya Natarajan", "Marco Rossi", "Zo\u00eb \u00c5ngstr\u00f6m")),
                  f"person{n}@ourco.example")


def generated_handoff(seed: int) -> HandoffData:
    rng = random.Random(seed)
    sections = rng.sample(range(1, 13), rng.randint(0, 12))
    answers = tuple(SectionAnswer(section, _text(rng), _moment(rng), f"<m{seed}.{section}@x>")
                    for section in sections for _ in range(rng.randint(1, 2)))
    return HandoffData(
        transition_id=f"TR-{seed:04d}",
        account=rng.choice(("Brightwave Log\u00edstica", "=cmd|' /C calc'!A0", "Acme",
                            "\u4e2d\u6587")),
        type=rng.choice(("soft", "hard", "abrupt", "unusual")),
        manager=_person(rng, 1), outgoing=_person(rng, 2), incoming=_person(rng, 3),
        customer_contacts=tuple(_person(rng, 10 + n) for n in range(rng.randint(0, 3))),
        effective_date=rng.choice((None, date(2027, 2, 1))),
        last_day=rng.choice((None, date(2027, 2, 12))),
        renewal_date=rng.choice((None, date(2027, 9, 30))),
        reason=_text(rng), share_reason=rng.random() < 0.5,
        answers=answers,
        current_answers={answer.section: answer.text for answer in answers},
        section_titles=rng.choice(({}, {2: "How the customer feels", 9: "Renewal risk"})),
        contacts=tuple(Contact(_text(rng, longest=3), _text(rng, longest=3),
                               f"c{n}@customer.example" if rng.random() < 0.8 else "",
                               rng.choice(list(ContactRole)), still_there=rng.random() < 0.8,
                               notes=_text(rng))
                       for n in range(rng.choice((0, 1, 3, 50, 300)))),
        issues=tuple(IssueItem(_text(rng), rng.choice(list(IssueStatus)), _text(rng))
                     for _ in range(rng.choice((0, 2, 30)))),
        plan=tuple(PlanRow(_text(rng, longest=5), "Helen Park", "customer",
                           rng.choice((None, _moment(rng))), rng.choice(("planned", "sent")))
                   for _ in range(rng.randint(0, 20))),
        history=tuple(HistoryRow(_moment(rng), rng.choice(("in", "out")), "a@ourco.example",
                                 ("b@ourco.example",), _text(rng, longest=8), _text(rng, longest=4))
                      for _ in range(rng.randint(0, 40))),
        versions=tuple(VersionRow(n, _moment(rng), _text(rng, longest=8))
                       for n in range(1, rng.randint(1, 4))),
        debrief=rng.choice(("", _text(rng))),
        generated_at=_moment(rng),
        zone=rng.choice(ZONES),
    )


def parts(xlsx: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(xlsx)) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def check(seeds: range) -> None:
    for seed in seeds:
        data = generated_handoff(seed)
        shared, own = parts(build_workbook(data)), parts(build_workbook(data, shared_parts=False))
        assert [name for name, _ in shared] == [name for name, _ in own], seed
        for (name, ours), (_, openpyxls) in zip(shared, own, strict=True):
            assert ours == openpyxls, f"seed {seed}: {name} differs"


def test_sample_of_generated_workbooks_match_openpyxls_own_file_part_for_part() -> None:
    check(SAMPLE)


@pytest.mark.generated_full
@pytest.mark.parametrize("start", range(ALL.start, ALL.stop, 100))
def test_every_generated_workbook_matches_openpyxls_own_file_part_for_part(start: int) -> None:
    check(range(start, start + 100))


def test_the_generator_reaches_quote_prefixes_big_sheets_and_every_zone() -> None:
    cases = [generated_handoff(seed) for seed in SAMPLE]
    texts = [a.text for case in cases for a in case.answers] + [
        c.notes for case in cases for c in case.contacts]
    assert any(text in RISKY for text in texts)
    assert any(len(case.contacts) >= 50 for case in cases)
    assert any(len(text) > 32_767 for text in texts)  # split over several cells
    assert {case.zone for case in cases} == set(ZONES)


def test_a_workbook_built_after_others_is_the_same_file_as_one_built_first() -> None:
    """The shared settings are never changed by a build: the thousandth workbook of a
    process is written exactly as the first would be."""
    data = generated_handoff(7)
    first = parts(build_workbook(data))
    for seed in range(8, 30):
        build_workbook(generated_handoff(seed))
    assert parts(build_workbook(data)) == first


def test_what_is_shared_keeps_no_built_workbook_alive() -> None:
    """A worker builds thousands of workbooks: the shared settings and the stylesheets kept
    by value must not hold on to any of them (or to their sheets' XML)."""

    def workbooks_alive() -> int:
        gc.collect()
        return sum(isinstance(thing, Workbook) for thing in gc.get_objects())

    build_workbook(generated_handoff(1))  # the shared settings exist from here on
    before = workbooks_alive()
    for seed in range(2, 22):
        build_workbook(generated_handoff(seed))
    assert workbooks_alive() == before


def _sheet_written(*, shared: bool) -> tuple[bytes, list[tuple[str, str]], list[str]]:
    """One sheet as written with the shared parts or by openpyxl's steps alone, with the
    comments and links it collected: cells of every kind a sheet can hold, most of which no
    handoff sheet has today."""
    wb = Workbook(write_only=True)
    if shared:
        ws = _CellSheet.with_defaults(wb, "Kinds", _sheet_defaults(1))
    else:
        ws = _CellSheet(parent=wb, title="Kinds")
        _lay_out(ws, 1)
    ws.column_dimensions = _ColumnWidths(ws, [12] * 10)
    wb._add_sheet(ws)
    styled = Cell(ws, 1, 1, "  spaced & <marked> \u00e9 \U0001f69a\r")
    styled.font = Font(bold=True)
    values = ["=SUM(B2:B3)", True, 3, 2.5, "#N/A", date(2027, 1, 2),
              datetime(2027, 1, 2, 9, 30), "", None]
    first = [styled, *(Cell(ws, 1, column, value) for column, value in enumerate(values, 2))]
    linked = Cell(ws, 2, 1, "the contract")
    linked.hyperlink = "https://example.com/contract"
    rich = Cell(ws, 2, 3, CellRichText("due ", TextBlock(InlineFont(b=True), "Friday")))
    noted = Cell(ws, 3, 2, "renewal")
    noted.comment = Comment("Ask about the discount", "Helen")
    ws.append(first)
    ws.append([linked, Cell(ws, 2, 2, 7), rich])
    ws.append([Cell(ws, 3, 1, "a note beside"), noted])
    ws.close()
    notes = [(note.ref, note.text) for note in ws._comments]
    return ws._writer.out.getvalue(), notes, [link.target for link in ws._hyperlinks]


def test_cells_of_every_kind_are_written_as_openpyxl_writes_them() -> None:
    """Text, numbers and dates are written by the workbook's own row writer; formulas,
    booleans, errors, rich text, links and rows with a comment are left to openpyxl's, in
    place."""
    shared, own = _sheet_written(shared=True), _sheet_written(shared=False)
    assert own[1] and own[2]  # the comment and the link were collected
    assert shared == own
