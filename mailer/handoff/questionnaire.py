"""The data-dump questionnaire the outgoing CSM answers: its twelve sections, the mail's
Markdown, merging answers from several replies and what is still missing.

Reading a reply back is `mailer.handoff.questionnaire_reply`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    number: int
    key: str
    title: str
    prompt: str
    questions: tuple[str, ...]
    example: str
    required: bool
    aliases: tuple[str, ...] = ()  # other names people give the section when they reply


CONTACT_ROLES_HINT = "point of contact, executive sponsor, champion, decision maker, user"

SECTIONS: tuple[Section, ...] = (
    Section(
        1,
        "contacts",
        "Contacts",
        "One person per line: Name, Title, email, role - notes.",
        (
            f"Roles: {CONTACT_ROLES_HINT}.",
            "How do they like to work, and what do they care about?",
            "Who would act as a reference for us?",
            "Any personal details that build rapport?",
            "Has anyone left the company or changed roles?",
        ),
        "Pat Lee, VP Operations, pat@acme.com, champion - loves a short agenda",
        True,
        ("customer contacts", "key contacts", "people", "stakeholders"),
    ),
    Section(
        2,
        "sentiment",
        "Sentiment",
        "How does the customer feel about us right now, and why?",
        (
            "Happy, neutral or unhappy? What makes you say so?",
            "How healthy is the relationship with the main contacts?",
        ),
        "Positive overall; the ops team is happy, finance is still sceptical.",
        True,
        ("customer sentiment", "relationship health", "health"),
    ),
    Section(
        3,
        "fit",
        "Customer fit",
        "How well does this customer fit what our product does?",
        (
            "Which use cases fit us well, and which are a stretch?",
            "Anything they expect that we do not offer?",
        ),
        "Strong fit for reporting; their custom billing flow is a stretch.",
        False,
        ("fit", "product fit"),
    ),
    Section(
        4,
        "red_flags",
        "Red flags and issues",
        "Grievances, roadblocks and escalations, both open and resolved.",
        (
            "Which issues are still open, and who is working on them?",
            "Which were resolved, and how?",
            "Any escalations or product bugs the new CSM should know?",
        ),
        "SSO login failures - open, ticket ENG-512; invoice dispute (resolved)",
        True,
        ("red flags", "issues", "open issues", "risks and issues", "grievances", "escalations"),
    ),
    Section(
        5,
        "successes",
        "Successes",
        "Wins and measurable results from recent quarters.",
        (
            "What results can the new CSM mention on the first call?",
            "Any ROI numbers or outcomes the customer agreed with?",
        ),
        "Cut month-end close from 9 to 4 days (Q3 business review).",
        False,
        ("wins", "successes and wins", "results", "roi"),
    ),
    Section(
        6,
        "goals",
        "Goals",
        "What the customer is trying to achieve, and what they want next.",
        (
            "What are their top goals this year?",
            "What do they hope to do with us next?",
        ),
        "Roll out to the EMEA team by Q2; automate renewals reporting.",
        True,
        ("customer goals", "primary goals", "objectives"),
    ),
    Section(
        7,
        "projects",
        "Current projects",
        "Work in flight and recent product conversations.",
        (
            "What is in progress, who owns it, and by when?",
            "Which features did you discuss lately, and how did it go?",
        ),
        "Salesforce integration, go-live 15 March, owner: Sam (IT).",
        False,
        ("projects", "work in progress", "in-flight work"),
    ),
    Section(
        8,
        "contract",
        "Contract",
        "Renewal date, term and anything unusual in the paperwork.",
        (
            "When does it renew, and for how long is the term?",
            "Any discounts, caps or unusual clauses?",
            "Any open expansion or upsell opportunity?",
        ),
        "Renewal: 2027-03-31, 2-year term, 10% discount capped at 5% uplift.",
        True,
        ("contract details", "commercials", "contract and renewal"),
    ),
    Section(
        9,
        "renewal_risk",
        "Renewal risk",
        "Anything that worries you about the next renewal.",
        (
            "How likely are they to renew, and what could stop them?",
            "Are they talking to a competitor?",
        ),
        "Medium: new CFO is reviewing all tools; they had a demo from a rival.",
        True,
        ("renewal risks", "risk", "churn risk"),
    ),
    Section(
        10,
        "communication",
        "Communication",
        "How and how often they like to hear from us.",
        (
            "Preferred channel: email, phone, Slack, meetings?",
            "Meeting rhythm and their time zone?",
        ),
        "Email first; monthly call, first Tuesday, 9:00 Europe/Berlin.",
        False,
        ("communication preferences", "cadence", "communications"),
    ),
    Section(
        11,
        "events",
        "Significant events",
        "Anything else that changed or is about to change.",
        (
            "Acquisitions, re-orgs, layoffs, people on leave?",
            "New contacts who come from a competitor?",
            "Anything not covered above?",
        ),
        "Acquired by Globex in May; Pat is on leave in August.",
        False,
        ("events", "other events", "anything else", "other"),
    ),
    Section(
        12,
        "documents",
        "Documents",
        "Where the notes, contracts and decks live.",
        (
            "Links to account notes, the contract and recent decks?",
            "Any internal documents or channels the new CSM should join?",
        ),
        "Drive folder: https://drive.example.com/acme ; Slack #acme-account",
        False,
        ("documents and links", "docs", "links", "files"),
    ),
)

SECTION_BY_NUMBER: dict[int, Section] = {s.number: s for s in SECTIONS}
DEFAULT_REQUIRED: tuple[int, ...] = tuple(s.number for s in SECTIONS if s.required)

ANSWER_PLACEHOLDER = "Your answer:"
REQUIRED_MARK = "(required)"
END_MARKER = "End of the questionnaire. Thank you for taking the time!"
_TITLE_LINE = "# Handoff questionnaire for {account}"
INSTRUCTIONS = (
    "How to answer:",
    "",
    "- Reply above this message, writing each answer under its number, like `4. Red flags`.",
    "- Or type your answers straight under each heading in the quoted text below.",
    '- Several replies are fine. A new answer replaces the old one; start it with "Also:" to add.',
    "- Prefer a spreadsheet? Fill in the attached form and send it back.",
    "- Nothing to say for a section? Write none; sections marked (required) are needed.",
)


def questionnaire_markdown(account: str, *, required: Iterable[int] | None = None) -> str:
    """The questionnaire body, laid out so that a quoted reply keeps every heading intact."""
    needed = set(DEFAULT_REQUIRED if required is None else required)
    lines = [_TITLE_LINE.format(account=account), "", *INSTRUCTIONS, ""]
    for section in SECTIONS:
        lines += [f"## {section.number}. {section.title}", ""]
        if section.number in needed:
            lines += [f"_{REQUIRED_MARK}_", ""]
        lines += [section.prompt, ""]
        lines += [f"- {question}" for question in section.questions]
        lines += ["", f"Example: {section.example}", "", ANSWER_PLACEHOLDER, "", ""]
    lines.append(END_MARKER)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Merging replies, what is missing
# ---------------------------------------------------------------------------------------------

_EXTEND_MARKER = re.compile(
    r"^\s*(?:\+|(?:also|addition|additionally|in addition|adding|add|plus|update|ps)\b\s*[:,-]?)",
    re.I,
)


def merge_answers(
    previous: dict[int, str], new: dict[int, str]
) -> tuple[dict[int, str], dict[int, str]]:
    """A later answer replaces the earlier one unless it starts with "Also:" and friends."""
    merged = dict(previous)
    changes: dict[int, str] = {}
    for number, text in new.items():
        earlier = merged.get(number, "").strip()
        if not earlier:
            merged[number] = text
            changes[number] = "new"
        elif marker := _EXTEND_MARKER.match(text):
            # "Also:" says how to file the text; the merged answer reads on without it.
            addition = text[marker.end() :].strip() or text.strip()
            if addition not in earlier:
                merged[number] = f"{earlier}\n\n{addition}"
            changes[number] = "extended"
        else:
            merged[number] = text
            changes[number] = "replaced"
    return dict(sorted(merged.items())), changes


EXCERPT_LENGTH = 90


def excerpt(text: str, limit: int = EXCERPT_LENGTH) -> str:
    """The start of an answer on one line, for a receipt: enough to catch a misreading."""
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    joined = " / ".join(lines)
    if len(joined) <= limit:
        return joined
    cut = joined.rfind(" ", 0, limit - 1)
    return joined[: cut if cut > limit // 2 else limit - 1].rstrip(" /,;") + "…"


def without_extend_marker(text: str) -> str:
    """The answer without the "Also:" that asked for it to be added, not to replace."""
    marker = _EXTEND_MARKER.match(text)
    return text[marker.end() :].strip() if marker else text


def missing_sections(answered: Iterable[int], required: Iterable[int]) -> list[Section]:
    done = set(answered)
    return [SECTION_BY_NUMBER[n] for n in sorted(set(required)) if n not in done]
