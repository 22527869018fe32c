"""Replies nobody wrote to fit the reader: the simulator's clients, languages and habits.

Each seed is one outgoing CSM answering the product's own questionnaire from one mail client
(Gmail, Outlook desktop, web and mobile, Apple Mail, iPhone, Thunderbird), in English, German,
French, Spanish or Dutch, top-posted, inline, mixed, over several replies, with a correction
or in HTML only, with or without a signature, sign-off and disclaimer, in one of a dozen
heading styles. The properties, for every seed:

- every section's answer reads back as written (whitespace aside);
- no quoted line, attribution, header, signature or heading word lands in an answer;
- the contacts and the issues come out as written, corrections laid over the first answer.

A sample of seeds runs by default; all of them run with `-m generated_full`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from reply_simulator import (
    CLIENTS,
    CLOSINGS,
    GET_OUTLOOK,
    HEADER_LABELS,
    HEADING_STYLES,
    LANGUAGES,
    LAYOUTS,
    SENT_FROM_IPHONE,
    TITLES,
    Case,
    questionnaire,
    simulate,
)

from mailer.handoff.contacts import merge_contacts, parse_contacts
from mailer.handoff.issues import parse_issues
from mailer.handoff.model import Contact, IssueItem
from mailer.handoff.questionnaire import SECTIONS, merge_answers, without_extend_marker
from mailer.mail.parsing import parse_message
from mailer.mail.reply_text import questionnaire_answers

SAMPLE_SEEDS = range(0, 210)  # every client and language, six times each
ALL_SEEDS = range(0, 2100)
CHUNK = 150


@dataclass
class Reading:
    answers: dict[int, str]
    contacts: list[Contact]
    issues: list[IssueItem]


def read(case: Case) -> Reading:
    """What the product makes of the case's replies, in the order they arrive."""
    merged: dict[int, str] = {}
    contacts: list[Contact] = []
    for reply in case.replies:
        sections = questionnaire_answers(parse_message(reply.raw)).sections
        if 1 in sections:
            contacts = merge_contacts(contacts, parse_contacts(without_extend_marker(sections[1])))
        merged, _ = merge_answers(merged, sections)
    return Reading(merged, contacts, parse_issues(merged.get(4, "")))


def squeezed(text: str) -> list[str]:
    """Lines with their whitespace normalised and blank lines left out."""
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def _never_an_answer() -> set[str]:
    """Lines that are never the person's answer: the questionnaire's own lines, quote
    attributions and header labels, closings, mobile footers and heading words."""
    lines = set()
    for line in questionnaire().text.splitlines():
        text = re.sub(r"^(?:#+|-)\s+", "", line).replace("**", "").replace("`", "").strip("_ ")
        if len(text) > 3:
            lines.add(" ".join(text.split()))
    for language in HEADER_LABELS:
        lines.update(c.rstrip(",!") for c in CLOSINGS[language])
        lines.update((SENT_FROM_IPHONE[language], GET_OUTLOOK[language]))
    for section in SECTIONS:
        lines.update((section.title, f"{section.number}. {section.title}"))
    for titles in TITLES.values():
        lines.update(titles)
    return lines


NEVER = _never_an_answer()


def problems(case: Case) -> list[str]:
    reading = read(case)
    found: list[str] = []
    if set(reading.answers) != set(case.expected):
        found.append(f"sections {sorted(reading.answers)}, written {sorted(case.expected)}")
    for number, written in case.expected.items():
        got = reading.answers.get(number, "")
        if squeezed(got) != squeezed(written):
            found.append(f"section {number}: read {got!r}, written {written!r}")
    signature = {" ".join(line.split()) for line in case.signature_lines if line.strip()}
    for number, text in reading.answers.items():
        wanted = set(squeezed(case.expected.get(number, "")))
        for line in squeezed(text):
            if line in wanted:
                continue
            if line in NEVER or line in signature or line.rstrip(",!") in NEVER:
                found.append(f"section {number}: {line!r} leaked into the answer")
            if any(label in line for label in ("wrote:", "schrieb", "a écrit", "escribió",
                                               "schreef", "mailto:", "<https")):
                found.append(f"section {number}: {line!r} is quote or link debris")
    if reading.contacts != case.contacts:
        found.append(f"contacts {reading.contacts}, written {case.contacts}")
    if reading.issues != case.issues:
        found.append(f"issues {reading.issues}, written {case.issues}")
    return found


def check(seeds: range) -> None:
    failures = {}
    for seed in seeds:
        case = simulate(seed)
        found = problems(case)
        if found:
            failures[case.describe()] = found
    shown = "\n".join(f"{name}:\n  " + "\n  ".join(found[:4])
                      for name, found in list(failures.items())[:5])
    assert not failures, f"{len(failures)} of {len(seeds)} cases misread, for example:\n{shown}"


@pytest.mark.parametrize("start", range(SAMPLE_SEEDS.start, SAMPLE_SEEDS.stop, 70))
def test_a_sample_of_simulated_replies_reads_as_written(start: int) -> None:
    check(range(start, start + 70))


@pytest.mark.generated_full
@pytest.mark.parametrize("start", range(ALL_SEEDS.start, ALL_SEEDS.stop, CHUNK))
def test_every_simulated_reply_reads_as_written(start: int) -> None:
    check(range(start, start + CHUNK))


@pytest.mark.generated_full
def test_the_simulator_covers_every_client_language_layout_and_heading_style() -> None:
    cases = [simulate(seed) for seed in ALL_SEEDS]
    assert len(cases) >= 2000

    assert {c.client for c in cases} == set(CLIENTS)
    assert {c.language for c in cases} == set(LANGUAGES)
    assert {c.layout for c in cases} == set(LAYOUTS)
    assert {c.heading_style for c in cases} == set(HEADING_STYLES)
    assert {(c.client, c.layout) for c in cases} == {(a, b) for a in CLIENTS for b in LAYOUTS}
    assert sum(1 for c in cases if c.signature_lines) > 1000
    assert sum(1 for c in cases if len(c.replies) > 1) > 500


def test_the_simulator_writes_what_each_client_really_sends() -> None:
    """Spot checks that the bytes carry each client's marks, so the properties mean something."""
    by_client = {}
    for seed in range(0, 70):
        case = simulate(seed)
        by_client.setdefault((case.client, case.layout), case.replies[0].raw)
    gmail = next(raw for (client, _), raw in by_client.items() if client == "gmail")
    assert b"gmail_quote" in gmail
    outlook = next(raw for (client, layout), raw in by_client.items()
                   if client == "outlook" and layout != "html_only")
    msg = parse_message(outlook)
    assert "WordSection1" in msg.html and "<mailto:" in msg.text
    apple = next(raw for (client, layout), raw in by_client.items()
                 if client == "apple_mail" and layout != "html_only")
    assert b"format=flowed" in apple and b"delsp=yes" in apple and b'type=3D"cite"' in apple
    thunderbird = next(raw for (client, layout), raw in by_client.items()
                       if client == "thunderbird" and layout != "html_only")
    assert b"format=flowed" in thunderbird
