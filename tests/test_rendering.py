"""Issue 12: every kind of mail looks written, in both parts.

The HTML of every message the story produced (real bytes, as sent) is laid out by a real
headless Chromium at a desktop width and at a phone's 390 px: nothing may stick out of the
screen, and no Markdown mark may be visible. The text part must read as clean text.
Set MAILER_SCREENSHOTS=<folder> to keep a picture of each kind of mail at both widths
(MAILER_SCREENSHOT_KINDS=customer_intro,digest for only some).
"""

from __future__ import annotations

import html
import os
import random
import re
import textwrap
from email.message import EmailMessage
from pathlib import Path

import pytest
from chromium import Chromium, version
from every_mail import EveryMail, parse

from mailer.config.settings import SHIPPED_DEFAULTS
from mailer.handoff.request_lines import extract_fields
from mailer.mail.render import Renderer

WIDTHS = (1280, 390)
# What Markdown leaves behind when it is not turned into formatting.
MARKDOWN_LEFTOVERS = {
    "bold or italic marks": re.compile(r"\*\*|__|(?<![\w*])\*(?=\w)[^*\n]+(?<=\w)\*(?![\w*])"),
    "a heading mark": re.compile(r"^\s*#{1,6} ", re.MULTILINE),
    "a code fence": re.compile(r"```"),
    "a code mark": re.compile(r"`"),
    "a table row": re.compile(r"^\s*\|.*\|\s*$|\|\s*-{3,}", re.MULTILINE),
    "a link in brackets": re.compile(r"\]\("),
    "a quote mark": re.compile(r"^\s*> ", re.MULTILINE),
    "an escaped entity": re.compile(r"&(?:lt|gt|amp|quot|#\d+);"),
}


def _leftovers(text: str) -> list[str]:
    return [name for name, pattern in MARKDOWN_LEFTOVERS.items() if pattern.search(text)]


def _parts(raw: bytes) -> tuple[str, str]:
    msg: EmailMessage = parse(raw)
    text, markup = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and markup is not None, "every mail has both parts"
    return (text.get_content().replace("\r\n", "\n"),
            markup.get_content().replace("\r\n", "\n"))


def _mails(every_mail: EveryMail) -> dict[str, bytes]:
    """Every message the assistant queued, named by what it is."""
    return {f"{record['message_id'].strip('<>')[:30]} {record['kind']}": raw
            for record, raw in every_mail.outbound}


def test_the_story_produced_every_template(every_mail: EveryMail) -> None:
    used = {record["template"] for record, _ in every_mail.outbound}
    shipped = {path.name.removesuffix(".md.j2")
               for path in (SHIPPED_DEFAULTS / "templates").glob("*.md.j2")}
    assert shipped - used == set(), "kinds of mail the rendering tests never saw"


def test_the_text_part_is_clean_text(every_mail: EveryMail) -> None:
    for name, raw in _mails(every_mail).items():
        text, _ = _parts(raw)
        assert not _leftovers(text), f"{name}: {_leftovers(text)} in\n{text}"
        assert "zqv" not in text, f"{name}: a value's stand-in leaked"


def test_every_mail_fits_a_phone_and_shows_no_markdown(every_mail: EveryMail,
                                                       chromium: Chromium) -> None:
    pages = {name: _parts(raw)[1] for name, raw in _mails(every_mail).items()}
    measured = chromium.measure(pages, WIDTHS)
    assert len(measured) == len(pages) * len(WIDTHS)
    print(f"\n{version(chromium.binary)}: {len(pages)} mails at {WIDTHS} px")
    problems = []
    for page in measured:
        where = f"{page.name} at {page.width} px"
        assert page.client_width == page.width, where
        if page.scroll_width > page.client_width:
            problems.append(f"{where} scrolls sideways ({page.scroll_width} px)")
        if page.overflowing:
            problems.append(f"{where}: sticks out: {page.overflowing}")
        if _leftovers(page.text):
            problems.append(f"{where}: shows {_leftovers(page.text)}:\n{page.text}")
        if not page.text.strip():
            problems.append(f"{where} shows nothing")
    assert not problems, "\n".join(problems)


def test_screenshots_of_each_kind_of_mail(every_mail: EveryMail, chromium: Chromium) -> None:
    folder = os.environ.get("MAILER_SCREENSHOTS")
    if not folder:
        pytest.skip("set MAILER_SCREENSHOTS=<folder> to keep a picture of each kind of mail")
    Path(folder).mkdir(parents=True, exist_ok=True)
    only = set(filter(None, os.environ.get("MAILER_SCREENSHOT_KINDS", "").split(",")))
    seen: set[str] = set()
    for record, raw in every_mail.outbound:
        if record["kind"] in seen or (only and record["kind"] not in only):
            continue
        seen.add(record["kind"])
        for width in WIDTHS:
            target = Path(folder) / f"{record['kind']}-{width}.png"
            chromium.screenshot(_parts(raw)[1], target, width=width)
            assert target.stat().st_size > 0


# --- what each kind of mail must look like -----------------------------------------------------


def _first(every_mail: EveryMail, kind: str, transition: str = "") -> tuple[str, str, EmailMessage]:
    for record, raw in every_mail.outbound:
        if record["kind"] == kind and transition in record["transition_id"]:
            text, markup = _parts(raw)
            return text, markup, parse(raw)
    raise AssertionError(f"the story sent no '{kind}'")


def test_a_draft_to_approve_is_shown_as_a_quoted_block(every_mail: EveryMail) -> None:
    text, markup, _ = _first(every_mail, "customer_intro_draft", "TR-0001")
    quoted = markup.split("<blockquote", 1)[1].split("</blockquote>", 1)[0]
    assert "Hi Pat, Jo and Max," in quoted or "Hi all," in quoted, quoted
    assert quoted.count("<p") >= 5, "the draft keeps its paragraphs"
    assert "<pre" not in markup and "```" not in markup
    draft = text.split("Subject: Introducing Rita Patel", 1)[1]
    assert "\n    Hi all," in draft, "the text part indents the draft"
    assert "\n    Warm regards,\n    Sam Okafor" in draft


def test_the_complete_request_is_one_block_to_copy(every_mail: EveryMail) -> None:
    text, markup, _ = _first(every_mail, "request_problems")
    blocks = re.findall(r"<pre[^>]*>(.*?)</pre>", markup, flags=re.DOTALL)
    assert len(blocks) == 2, "the lines to fix, then a complete request"
    complete = html.unescape(re.sub(r"<[^>]+>", "", blocks[1]))
    assert "Outgoing CSM: Jane Doe <jane.doe@yourcompany.com>\n" in complete
    assert "&lt;" not in complete, "escaped once, never twice"
    assert len(complete.strip().splitlines()) >= 10, "one field a line"
    # Copied from the text part and sent back, the lines read as a whole request.
    copied = text.split("a complete request looks like this:", 1)[1]
    fields = extract_fields(textwrap.dedent(copied))
    assert fields["Account"] == "Acme Corp" and fields["Type"] == "soft"
    assert fields["Outgoing CSM"] == "Jane Doe <jane.doe@yourcompany.com>"


def test_hard_wrapped_lines_people_wrote_read_as_paragraphs(every_mail: EveryMail) -> None:
    _, markup, _ = _first(every_mail, "customer_recap", "TR-0001")
    body = re.sub(r"\s+", " ", markup)
    assert ("it was great to meet you properly. We went through the Berlin rollout and the "
            "slow export (ticket 4411).") in body, "Rita's hard-wrapped lines are one paragraph"
    assert re.search(r"Looking forward to working together,\s*<br[^>]*>\s*Rita", markup), \
        "her signature keeps its line break"


def test_customer_mail_names_the_time_zone_and_is_theirs(every_mail: EveryMail) -> None:
    text, _, meeting = _first(every_mail, "transition_meeting_invite", "TR-0001")
    assert "Monday 1 February 2027, 10:00 CET" in text, text
    assert meeting["Auto-Submitted"] == "auto-generated", "Sam stayed silent: it is automatic"
    _, _, intro = _first(every_mail, "customer_intro", "TR-0001")
    assert intro["Auto-Submitted"] is None, "Sam said send: it is his mail"
    assert intro["X-Auto-Response-Suppress"] is None
    _, _, recap = _first(every_mail, "customer_recap", "TR-0001")
    assert recap["Auto-Submitted"] is None, "Rita wrote it herself"


def test_no_mail_asks_for_a_reply_it_does_not_need(every_mail: EveryMail) -> None:
    for name, raw in _mails(every_mail).items():
        text, markup = _parts(raw)
        assert "Reply to this email to answer" not in text + markup, name
    text, _, _ = _first(every_mail, "update_systems_reminder")
    assert "No need to reply" in text


# --- people's own line breaks, generated -------------------------------------------------------

WORDS = tuple(re.findall(r"\S+", "the rollout went well and the team in Berlin wants dashboards "
                         "for every region before the renewal so we agreed a weekly call on "
                         "Tuesdays with their finance lead who signs off the budget"))


def _paragraph(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(25, 70))).capitalize() + "."


@pytest.mark.parametrize("seed", range(200))
def test_generated_hard_wrapped_notes_keep_paragraphs_and_deliberate_breaks(seed: int) -> None:
    """Notes as mail clients send them: paragraphs wrapped at 66 to 78 characters, a list,
    a short signature. Each paragraph becomes one paragraph; the list and the signature keep
    their lines."""
    rng = random.Random(seed)
    width = rng.randint(66, 78)
    paragraphs = [_paragraph(rng) for _ in range(rng.randint(1, 3))]
    items = [f"- {_paragraph(rng)[:rng.randint(20, 60)].rstrip()}"
             for _ in range(rng.randint(0, 3))]
    parts = [textwrap.fill(p, width) for p in paragraphs]
    if items:
        parts.append("\n".join(items))
    parts.append("Best,\nRita")
    notes = "\n\n".join(parts)
    rendered = RENDERER.render("customer_recap", context=RECAP_CONTEXT | {"call_notes": notes})
    html_paragraphs = [re.sub(r"\s+", " ", p) for p in re.findall(
        r"<p[^>]*>(.*?)</p>", rendered.body_html, flags=re.DOTALL)]
    for paragraph in paragraphs:
        assert paragraph in html_paragraphs, (width, notes)
    flat = rendered.body_html.replace("\n", "")
    for item in items:  # each item on a line of its own
        assert re.search(r"(<br>|<p>)" + re.escape(html.escape(item, quote=True)) + "(<br>|</p>)",
                         flat), item
    assert re.search(r"Best,<br>\s*Rita", rendered.body_html)
    for paragraph in paragraphs:
        assert paragraph in rendered.text.replace("\n", " "), "the text part too"


RENDERER = Renderer(SHIPPED_DEFAULTS / "templates")
RECAP_CONTEXT = {"greeting": "Hi Pat,", "incoming": {"email": "rita@example.com",
                                                     "name": "Rita Patel"},
                 "manager": {"display": "Dana Reyes", "email": "dana@example.com"},
                 "account": "Acme Corp", "reply_subject": ""}
