"""The outgoing CSM answers the handoff questionnaire however their mail client lets them."""

from __future__ import annotations

import email
import json
from datetime import date
from email import policy
from pathlib import Path

import pytest

from mailer.handoff.issues import parse_issues
from mailer.handoff.model import IssueItem, IssueStatus
from mailer.handoff.questionnaire import (
    DEFAULT_REQUIRED,
    SECTIONS,
    merge_answers,
    missing_sections,
    questionnaire_markdown,
)
from mailer.handoff.questionnaire_reply import parse_answers
from mailer.handoff.renewal import renewal_date_from

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
QUESTIONNAIRE = questionnaire_markdown("Acme Corp")


def gmail_quote(text: str) -> str:
    """How Gmail and Thunderbird quote plain text: "> " per line, ">" for blank lines."""
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


def bodies(raw: bytes) -> tuple[str, str]:
    """The text and HTML parts of a message, the way the parsing layer hands them over."""
    message = email.message_from_bytes(raw, policy=policy.default)
    text_part = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    return (
        text_part.get_content() if text_part else "",
        html_part.get_content() if html_part else "",
    )


# --- the questionnaire we send --------------------------------------------------------------


def test_the_questionnaire_has_the_twelve_sections_of_a_handoff_in_order() -> None:
    assert [s.number for s in SECTIONS] == list(range(1, 13))
    assert [s.key for s in SECTIONS] == [
        "contacts", "sentiment", "fit", "red_flags", "successes", "goals",
        "projects", "contract", "renewal_risk", "communication", "events", "documents",
    ]  # fmt: skip
    assert DEFAULT_REQUIRED == (1, 2, 4, 6, 8, 9)
    assert all(s.questions and s.example and s.prompt for s in SECTIONS)


def test_each_section_is_a_heading_a_reply_can_quote_back() -> None:
    for section in SECTIONS:
        assert f"\n## {section.number}. {section.title}\n" in QUESTIONNAIRE
    assert "Acme Corp" in QUESTIONNAIRE
    assert "Name, Title, email, role - notes" in QUESTIONNAIRE
    assert "champion" in QUESTIONNAIRE and "executive sponsor" in QUESTIONNAIRE
    assert QUESTIONNAIRE.count("Your answer:") == 12
    assert "attached form" in QUESTIONNAIRE


def test_a_playbook_can_mark_other_sections_as_required() -> None:
    body = questionnaire_markdown("Acme Corp", required=[1, 12])
    contacts = body.split("## 1. Contacts")[1].split("## 2.")[0]
    sentiment = body.split("## 2. Sentiment")[1].split("## 3.")[0]
    documents = body.split("## 12. Documents")[1]
    assert "(required)" in contacts and "(required)" in documents
    assert "(required)" not in sentiment


def test_the_unanswered_questionnaire_quoted_back_answers_nothing() -> None:
    reply = parse_answers(
        "Will do this tomorrow.\n\nOn Fri, 20 Nov 2026 at 10:02, Transitions "
        "<transitions@example.com> wrote:\n" + gmail_quote(QUESTIONNAIRE)
    )
    assert reply.sections == {}
    assert reply.unplaced_text == "Will do this tomorrow."


# --- top-posted replies ---------------------------------------------------------------------

GMAIL_TOP_POSTED = (
    b"From: Pat Lee <pat@vendor.example>\r\n"
    b"To: transitions+tok123@example.com\r\n"
    b"Subject: Re: TR-0042 handoff questions for Acme Corp\r\n"
    b"Content-Type: text/plain; charset=UTF-8\r\n"
    b"\r\n"
    b"Hi! First batch below, the rest on Monday.\r\n"
    b"\r\n"
    b"1. Contacts\r\n"
    b"Dana Fox, VP Operations, dana@acme.example, champion - loves dashboards\r\n"
    b"Sam Roe, CFO, sam@acme.example, exec sponsor\r\n"
    b"\r\n"
    b"**2. Sentiment**\r\n"
    b"Positive, they just expanded seats.\r\n"
    b"\r\n"
    b"4) Billing dispute in March (resolved)\r\n"
    b"\r\n"
    b"Goals:\r\n"
    b"Roll out to EMEA by Q2.\r\n"
    b"\r\n"
    b"Section 8\r\n"
    b"Renewal: 2027-03-31, two-year term\r\n"
    b"\r\n"
    b"#9 none\r\n"
    b"\r\n"
    b"Thanks,\r\n"
    b"Pat\r\n"
    b"\r\n"
    b"On Fri, Nov 20, 2026 at 10:02 AM Transitions <transitions@example.com>\r\n"
    b"wrote:\r\n" + gmail_quote(QUESTIONNAIRE).replace("\n", "\r\n").encode() + b"\r\n"
)


def test_gmail_top_posted_answers_under_loosely_written_headings() -> None:
    text, html = bodies(GMAIL_TOP_POSTED)
    reply = parse_answers(text, html=html)
    assert reply.sections == {
        1: "Dana Fox, VP Operations, dana@acme.example, champion - loves dashboards\n"
        "Sam Roe, CFO, sam@acme.example, exec sponsor",
        2: "Positive, they just expanded seats.",
        4: "Billing dispute in March (resolved)",
        6: "Roll out to EMEA by Q2.",
        8: "Renewal: 2027-03-31, two-year term",
        9: "none",
    }
    assert reply.unplaced_text == "Hi! First batch below, the rest on Monday."


@pytest.mark.parametrize(
    "heading",
    [
        "4.",
        "4)",
        "#4",
        "Section 4",
        "4. Red flags",
        "**4. Red flags**",
        "Red flags:",
        "RED FLAGS AND ISSUES",
        "Issues",
        "## 4. Red flags and issues",
        "4 - Red flags and issues:",
    ],
)
def test_every_way_of_writing_a_heading_names_the_section(heading: str) -> None:
    reply = parse_answers(f"{heading}\nSSO login still fails for the EU team\n")
    assert reply.sections == {4: "SSO login still fails for the EU team"}


def test_a_numbered_list_inside_an_answer_is_not_taken_for_headings() -> None:
    reply = parse_answers(
        "4. Red flags\n"
        "1. Invoice dispute (resolved)\n"
        "2. SSO bug, still open\n"
        "3. Slow exports\n"
        "5. Successes\n"
        "Cut close time in half\n"
    )
    assert (
        reply.sections[4]
        == "1. Invoice dispute (resolved)\n2. SSO bug, still open\n3. Slow exports"
    )
    assert reply.sections[5] == "Cut close time in half"


def test_answers_written_as_a_plain_numbered_list_land_in_their_sections() -> None:
    reply = parse_answers("1. Dana Fox, VP Ops, dana@acme.example\n2. Happy\n3. Great fit\n")
    assert reply.sections == {1: "Dana Fox, VP Ops, dana@acme.example", 2: "Happy", 3: "Great fit"}


def test_an_issues_line_inside_the_red_flags_answer_stays_in_the_answer() -> None:
    reply = parse_answers("Red flags:\nIssues: the SSO bug\nRisk: none so far\n")
    assert reply.sections == {4: "Issues: the SSO bug\nRisk: none so far"}


def test_copied_questions_and_placeholders_are_not_part_of_the_answer() -> None:
    section = QUESTIONNAIRE.split("## 4. Red flags and issues")[1].split("## 5.")[0]
    reply = parse_answers(
        "## 4. Red flags and issues" + section.replace("Your answer:", "Your answer: SSO bug")
    )
    assert reply.sections == {4: "SSO bug"}


def test_a_question_copied_with_the_answer_on_the_same_line_keeps_only_the_answer() -> None:
    reply = parse_answers(
        "9. Renewal risk\n- Are they talking to a competitor? Yes, Globex demoed last week\n"
    )
    assert reply.sections == {9: "Yes, Globex demoed last week"}


def test_an_empty_heading_is_not_an_answer_but_none_and_a_dash_are() -> None:
    reply = parse_answers("3. Customer fit\n\n5. Successes\nnone\n\n7.\n-\n\n11. n/a\n")
    assert reply.sections == {5: "none", 7: "-", 11: "n/a"}


def test_iphone_reply_drops_the_signature_from_the_last_answer() -> None:
    reply = parse_answers(
        "6. Goals\nGrow usage in the Berlin office\n\nSent from my iPhone\n\n"
        "On 20 Nov 2026, at 10:02, Transitions <transitions@example.com> wrote:\n\n"
        + gmail_quote(QUESTIONNAIRE)
    )
    assert reply.sections == {6: "Grow usage in the Berlin office"}


@pytest.mark.parametrize(
    "signature",
    ["-- \nPat Lee\nSenior CSM", "Get Outlook for iOS", "Sent from my iPad", "Best regards,\nPat"],
)
def test_signatures_are_not_part_of_the_last_answer(signature: str) -> None:
    reply = parse_answers(f"10. Communication\nEmail, monthly call\n\n{signature}\n")
    assert reply.sections == {10: "Email, monthly call"}


def test_german_reply_stops_at_the_am_schrieb_line() -> None:
    reply = parse_answers(
        "2. Stimmung: sehr zufrieden\n\n"
        "Am 20.11.2026 um 10:02 schrieb Transitions <transitions@example.com>:\n"
        + gmail_quote(QUESTIONNAIRE)
    )
    # "Stimmung" is the section's title in German: a heading word, not part of the answer.
    assert reply.sections == {2: "sehr zufrieden"}


def test_french_reply_stops_at_the_a_ecrit_line() -> None:
    reply = parse_answers(
        "Sentiment : très positif\n\n"
        "Le ven. 20 nov. 2026 à 10:02, Transitions <transitions@example.com> a écrit :\n"
        + gmail_quote(QUESTIONNAIRE)
    )
    assert reply.sections == {2: "très positif"}


def test_outlook_plain_text_with_an_unmarked_original_below_the_answers() -> None:
    text = (
        "8. Contract\r\nRenews on March 31, 2027\r\n\r\n"
        "________________________________\r\n"
        "From: Transitions <transitions@example.com>\r\n"
        "Sent: Friday, November 20, 2026 10:02 AM\r\n"
        "To: Pat Lee <pat@vendor.example>\r\n"
        "Subject: TR-0042 handoff questions for Acme Corp\r\n\r\n"
        + QUESTIONNAIRE.replace("\n", "\r\n")
    )
    assert parse_answers(text).sections == {8: "Renews on March 31, 2027"}


def test_original_message_separator_ends_the_new_text() -> None:
    reply = parse_answers(
        "12. Documents\nhttps://drive.example.com/acme\n\n-----Original Message-----\n"
        "From: Transitions\nSent: Friday\n\n## 11. Significant events\nold text\n"
    )
    assert reply.sections == {12: "https://drive.example.com/acme"}


# --- inline answers in the quoted questionnaire ---------------------------------------------


def inline_reply(answers: dict[str, str]) -> str:
    """Type answers under quoted headings, the way people answer inline in Thunderbird."""
    quoted = gmail_quote(QUESTIONNAIRE)
    for heading, answer in answers.items():
        quoted = quoted.replace(f"> {heading}\n", f"> {heading}\n{answer}\n", 1)
    return (
        "Answers inline, see below.\n\n"
        "On Fri, Nov 20, 2026 at 10:02 AM Transitions <transitions@example.com> wrote:\n"
        + quoted
        + "\n\n-- \nPat Lee\nSenior CSM\n"
    )


def test_inline_answers_typed_under_quoted_headings_are_kept() -> None:
    reply = parse_answers(
        inline_reply(
            {
                "## 4. Red flags and issues": "SSO bug, still open\nInvoice dispute (resolved)",
                "## 8. Contract": "\nRenewal: 2027-03-31\n",
                "## 12. Documents": "All in the Acme Drive folder",
            }
        )
    )
    assert reply.sections == {
        4: "SSO bug, still open\nInvoice dispute (resolved)",
        8: "Renewal: 2027-03-31",
        12: "All in the Acme Drive folder",
    }
    assert reply.unplaced_text == "Answers inline, see below."


def test_inline_answer_between_quoted_questions_and_after_the_placeholder() -> None:
    quoted = gmail_quote(QUESTIONNAIRE).replace(
        "> - Which were resolved, and how?\n",
        "> - Which were resolved, and how?\nThe invoice dispute, with a credit note.\n",
    )
    quoted = quoted.replace("> Your answer:\n", "> Your answer:\nAlso the SSO bug.\n", 4)
    reply = parse_answers("On Fri, Pat wrote:\n" + quoted)
    assert reply.sections[4] == "The invoice dispute, with a credit note.\nAlso the SSO bug."
    assert set(reply.sections) == {1, 2, 3, 4}


def test_quoted_text_that_is_not_our_questionnaire_does_not_open_a_section() -> None:
    reply = parse_answers("> Links:\n> [1] https://example.com\n\nThanks for the links.\n")
    assert reply.sections == {}
    assert reply.unplaced_text == "Thanks for the links."


APPLE_MAIL = (
    b"From: Pat Lee <pat@vendor.example>\r\n"
    b"Subject: Re: TR-0042 handoff questions for Acme Corp\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n"
    b'<html><body style="overflow-wrap: break-word;">'
    b'<div>Answered two below.</div><div><br><blockquote type="cite">'
    b"<div>On 20. Nov 2026, at 10:02, Transitions &lt;transitions@example.com&gt; wrote:</div>"
    b"<br><div><h2>5. Successes</h2><ul><li>What results can the new CSM mention on the first "
    b"call?</li></ul><p>Your answer:</p></div></blockquote>"
    b"<div>Close time cut from 9 to 4 days.</div>"
    b'<blockquote type="cite"><h2>6. Goals</h2><ul><li>What are their top goals this year?'
    b"</li></ul><p>Your answer:</p></blockquote><div>Expand to EMEA.</div>"
    b'<blockquote type="cite"><h2>7. Current projects</h2><p>Your answer:</p>'
    b"<p>End of the questionnaire. Thank you for taking the time!</p></blockquote>"
    b"<div><br></div><div>Pat</div></div></body></html>\r\n"
)


def test_apple_mail_html_only_inline_answers_between_blockquotes() -> None:
    text, html = bodies(APPLE_MAIL)
    reply = parse_answers(text, html=html)
    assert reply.sections == {5: "Close time cut from 9 to 4 days.", 6: "Expand to EMEA."}
    assert "Answered two below." in reply.unplaced_text


OUTLOOK_HTML = (
    b"From: Pat Lee <pat@vendor.example>\r\n"
    b"Subject: RE: TR-0042 handoff questions for Acme Corp\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b'<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>'
    b'<body><div style="font-family: Calibri"><b>4. Red flags</b></div>'
    b'<div style="font-family: Calibri">SSO bug still open &#8211; ENG-512</div>'
    b"<div>&nbsp;</div><div>9. Renewal risk: medium, the new CFO reviews all tools</div>"
    b'<div id="appendonsend"></div><hr style="display:inline-block;width:98%">'
    b'<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri"><b>From:</b> Transitions '
    b"&lt;transitions@example.com&gt;<br><b>Sent:</b> Friday, November 20, 2026 10:02 AM<br>"
    b"<b>To:</b> Pat Lee &lt;pat@vendor.example&gt;<br><b>Subject:</b> TR-0042 handoff "
    b"questions</font><div>&nbsp;</div></div>"
    b"<div><h1>Handoff questionnaire for Acme Corp</h1><h2>4. Red flags and issues</h2>"
    b"<ul><li>Which issues are still open, and who is working on them?</li></ul>"
    b"<p>Your answer:</p><h2>9. Renewal risk</h2><p>Your answer:</p>"
    b"<p>End of the questionnaire. Thank you for taking the time!</p>"
    b"<p>Kind regards, the Transitions assistant</p></div></body></html>\r\n"
)


def test_outlook_html_only_reply_ignores_the_quoted_original() -> None:
    text, html = bodies(OUTLOOK_HTML)
    reply = parse_answers(text, html=html)
    assert reply.sections == {
        4: "SSO bug still open – ENG-512",
        9: "medium, the new CFO reviews all tools",
    }


def test_outlook_html_inline_answers_in_the_unmarked_original_are_kept() -> None:
    text, html = bodies(OUTLOOK_HTML)
    html = (
        html.replace("<b>4. Red flags</b>", "See my answers inline.")
        .replace("SSO bug still open &#8211; ENG-512", "")
        .replace("9. Renewal risk: medium, the new CFO reviews all tools", "Pat")
    )
    html = html.replace(
        "<h2>9. Renewal risk</h2><p>Your answer:</p>",
        '<h2>9. Renewal risk</h2><p>Your answer:</p><p style="color:blue">Low, they love us</p>',
    )
    reply = parse_answers("", html=html)
    assert reply.sections == {9: "Low, they love us"}


def test_gmail_html_reply_reads_the_gmail_quote_as_quoted() -> None:
    html = (
        '<div dir="ltr"><div>6. Goals: automate renewals reporting</div></div><br>'
        '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Fri, Nov 20, 2026 at '
        "10:02 AM Transitions &lt;transitions@example.com&gt; wrote:<br></div>"
        '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex">'
        "<h2>6. Goals</h2><p>Your answer:</p><h2>7. Current projects</h2><p>Your answer:</p>"
        "</blockquote></div>"
    )
    assert parse_answers("", html=html).sections == {6: "automate renewals reporting"}


def test_the_text_part_wins_unless_the_html_part_holds_more_answers() -> None:
    text = "6. Goals\nGrow EMEA\n"
    html = "<p>6. Goals</p><p>Grow EMEA</p><p>7. Current projects</p><p>SSO rollout</p>"
    assert parse_answers(text, html=html).sections == {6: "Grow EMEA", 7: "SSO rollout"}
    assert parse_answers(text, html="<p>6. Goals</p><p>Grow EMEA!</p>").sections == {6: "Grow EMEA"}


# --- several replies ------------------------------------------------------------------------


def test_two_partial_replies_merge_with_replace_and_also_extend() -> None:
    first = parse_answers("2. Sentiment\nNeutral\n\n4. Red flags\nSSO bug open\n").sections
    merged, changes = merge_answers({}, first)
    assert changes == {2: "new", 4: "new"}

    second = parse_answers(
        "2. Sentiment\nPositive after the QBR\n\n4. Red flags\nAlso: exports are slow\n\n"
        "6. Goals\nEMEA rollout\n"
    ).sections
    merged, changes = merge_answers(merged, second)
    assert merged == {
        2: "Positive after the QBR",
        4: "SSO bug open\n\nexports are slow",  # the marker says how to file, it is not content
        6: "EMEA rollout",
    }
    assert changes == {2: "replaced", 4: "extended", 6: "new"}


@pytest.mark.parametrize("marker", ["Also:", "Addition:", "+", "In addition,", "also -"])
def test_every_extend_marker_adds_instead_of_replacing(marker: str) -> None:
    merged, changes = merge_answers({4: "SSO bug"}, {4: f"{marker} slow exports"})
    assert merged[4] == "SSO bug\n\nslow exports"
    assert changes == {4: "extended"}


def test_missing_sections_lists_required_sections_not_yet_answered() -> None:
    missing = missing_sections([1, 2, 9], DEFAULT_REQUIRED)
    assert [s.key for s in missing] == ["red_flags", "goals", "contract"]
    assert missing_sections(range(1, 13), DEFAULT_REQUIRED) == []


# --- issues and the renewal date ------------------------------------------------------------


def test_red_flags_answer_becomes_issues_with_status_and_notes() -> None:
    issues = parse_issues(
        "- SSO login failures - engineering ticket ENG-512\n"
        "- Invoice dispute (resolved): credit note issued in March\n"
        "- [resolved] Slow exports\n"
        "- Onboarding delays, status: closed\n"
        "- Data residency question, not resolved yet\n"
        "  - legal is looking at it\n"
    )
    assert issues == [
        IssueItem("SSO login failures", IssueStatus.OPEN, "engineering ticket ENG-512"),
        IssueItem("Invoice dispute", IssueStatus.RESOLVED, "credit note issued in March"),
        IssueItem("Slow exports", IssueStatus.RESOLVED, ""),
        IssueItem("Onboarding delays", IssueStatus.RESOLVED, ""),
        IssueItem(
            "Data residency question, not resolved yet", IssueStatus.OPEN, "legal is looking at it"
        ),
    ]


def test_issues_one_per_paragraph_or_per_line_and_none_means_no_issues() -> None:
    paragraphs = parse_issues("Billing dispute, fixed in May.\n\nThe API rate limit\nhurts them.")
    assert [(i.text, i.status) for i in paragraphs] == [
        ("Billing dispute, fixed in May", IssueStatus.RESOLVED),
        ("The API rate limit hurts them", IssueStatus.OPEN),
    ]
    lines = parse_issues("1. Slow exports - done\n2) Missing SAML")
    assert [(i.text, i.status, i.notes) for i in lines] == [
        ("Slow exports", IssueStatus.RESOLVED, ""),
        ("Missing SAML", IssueStatus.OPEN, ""),
    ]
    assert parse_issues("none") == [] and parse_issues("  ") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Renewal: 2027-03-31, 2-year term", date(2027, 3, 31)),
        ("2 year term.\nIt renews on March 31, 2027 with a 5% cap.", date(2027, 3, 31)),
        ("Renews 31 March 2027", date(2027, 3, 31)),
        ("Renewal date 31.03.2027", date(2027, 3, 31)),
        ("renewal 03/31/2027", date(2027, 3, 31)),
        ("Contract expires on Jan 15", date(2027, 1, 15)),
        ("Renews on 1 December", date(2026, 12, 1)),
        ("Signed 2025-01-01, no renewal talk yet", None),
        ("Three-year deal with a 10% discount", None),
    ],
)
def test_renewal_date_read_from_the_contract_answer(text: str, expected: date | None) -> None:
    assert renewal_date_from(text, today=date(2026, 11, 20)) == expected


# --- real-world replies from other projects' test suites ------------------------------------


def test_ordinary_replies_from_the_corpora_never_invent_answers() -> None:
    """Generic replies (no questionnaire headings) must yield no sections, only new text."""
    if not CORPORA.is_dir():
        pytest.skip(f"shared reply corpora not found at {CORPORA}")
    checked = 0
    for expected_file in sorted(CORPORA.glob("*/expected.json")):
        if expected_file.parent.name not in {"email_reply_parser", "talon", "quotequail"}:
            continue
        for relative, expected in json.loads(expected_file.read_text("utf-8")).items():
            if expected["input"] != "text" or "reply" not in expected:
                continue
            raw = (expected_file.parent / relative).read_bytes().decode("utf-8", "replace")
            reply = parse_answers(raw)
            assert reply.sections == {}, relative
            assert expected["reply"].split("\n")[0].strip() in reply.unplaced_text, relative
            checked += 1
    assert checked > 10


# --- issue 10: signatures, heading variants and label lines as people really write them ------


@pytest.mark.parametrize("signature", [
    "Viele Grüße\nSam\n\nSam Jones\nKundenbetreuer\nExample GmbH\nTel. +49 30 1234 5678",
    "Cordialement,\nSam Jones\nResponsable Succès Client | +33 6 12 34 56 78",
    "Saludos,\nSam",
    "Met vriendelijke groet,\n\nSam Jones\nAccountmanager Benelux\nwww.example.com",
    "Sam Jones\nCustomer Success Manager\nExample Inc.\n+1 555 010 0199\n\nThis email and any "
    "attachments are confidential and intended solely for the addressee.",
    "Samuel Jones, MBA\nSenior CSM | EMEA",
    "Have a good weekend!\n- Sam",
])
def test_a_signature_without_dashes_is_no_part_of_the_last_answer(signature: str) -> None:
    reply = parse_answers(f"9. Renewal risk\nLow, as long as the export bug is fixed.\n\n"
                          f"{signature}\n", signer="Sam Jones")
    assert reply.sections == {9: "Low, as long as the export bug is fixed."}


@pytest.mark.parametrize("heading", [
    "4. Red flags (correction)", "4. Red flags - update", "4. Red flags and issues (Korrektur)",
    "Warnsignale und Probleme:", "4. Signaux d'alerte", "Señales de alerta y problemas",
    "4. Rode vlaggen en problemen", "4 - Red flags and issues", "#4", "Section 4",
])
def test_heading_variants_name_the_section_and_never_become_the_answer(heading: str) -> None:
    reply = parse_answers(f"Here are my answers:\n{heading}\nSSO login still fails (open)\n")
    assert reply.sections == {4: "SSO login still fails (open)"}


def test_a_label_line_naming_another_section_stays_in_the_answer_it_is_written_in() -> None:
    reply = parse_answers("12. Documents\nDrive: https://drive.example.com/acme\n"
                          "Contract: https://docs.example.com/acme.pdf\n\n"
                          "Renewal risk: see the contract\n")
    assert reply.sections == {12: "Drive: https://drive.example.com/acme\n"
                                  "Contract: https://docs.example.com/acme.pdf\n\n"
                                  "Renewal risk: see the contract"}


def test_outlook_renderings_of_addresses_and_links_are_cleaned_in_answers() -> None:
    reply = parse_answers("1. Contacts\nPat Lee, CFO, pat@acme.com<mailto:pat@acme.com>, "
                          "champion\n\n12. Documents\nhttps://drive.example.com/a<https://drive."
                          "example.com/a>\nDeck<https://docs.example.com/deck>\n")
    assert reply.sections == {1: "Pat Lee, CFO, pat@acme.com, champion",
                              12: "https://drive.example.com/a\n"
                                  "Deck <https://docs.example.com/deck>"}


@pytest.mark.parametrize(("word", "status"), [
    ("resolved", IssueStatus.RESOLVED), ("done", IssueStatus.RESOLVED),
    ("gelöst", IssueStatus.RESOLVED), ("erledigt", IssueStatus.RESOLVED),
    ("résolu", IssueStatus.RESOLVED), ("réglé", IssueStatus.RESOLVED),
    ("resuelto", IssueStatus.RESOLVED), ("opgelost", IssueStatus.RESOLVED),
    ("offen", IssueStatus.OPEN), ("en cours", IssueStatus.OPEN), ("pendiente", IssueStatus.OPEN),
    ("nicht gelöst", IssueStatus.OPEN), ("niet opgelost", IssueStatus.OPEN),
])
def test_issue_status_words_in_the_readers_languages(word: str, status: IssueStatus) -> None:
    [issue] = parse_issues(f"- Slow CSV exports ({word})")
    assert (issue.text, issue.status) == ("Slow CSV exports", status)


def _every_pattern_stripped(line: str) -> str:
    """The question prefix as trying every question's pattern in turn strips it."""
    from mailer.handoff.questionnaire_reply import _PLACEHOLDER_PREFIX, _QUESTION_PREFIXES

    placeholder = _PLACEHOLDER_PREFIX.match(line)
    if placeholder:
        return line[placeholder.end():]
    for prefix in _QUESTION_PREFIXES:
        match = prefix.pattern.match(line)
        if match and line[match.end():].strip():
            return line[match.end():]
    return line


def test_a_copied_question_is_found_by_its_first_word_as_by_trying_every_question() -> None:
    """The reader looks only at the questions starting with a line's first word; over
    generated lines (questions copied in any case, cut short, run into a longer word, with
    letters outside ASCII that equal ASCII ones when case is ignored) it strips exactly
    what trying every question strips."""
    import random

    from mailer.handoff.questionnaire_reply import (
        _PHRASES,
        _phrases_at_start,
        _strip_question_prefix,
    )

    rng = random.Random(15)
    questions = [q for s in SECTIONS for q in s.questions]
    tails = ("", " Pat would", "?  yes", ": none", "ever after", "\u212aelvin", " \u017fo")
    leads = ("", "- ", "> ", "**", "1. ", "  ", "\u2022 ")
    for _ in range(6000):
        question = rng.choice(questions)
        words = question.split()
        cut = " ".join(words[:rng.randint(1, len(words))])
        title = rng.choice(SECTIONS).title
        text = rng.choice((cut, cut.upper(), cut.lower(), cut.replace("k", "\u212a"),
                           cut.replace("s", "\u017f"), rng.choice(questions), title,
                           title.lower()[:rng.randint(2, len(title))]))
        line = rng.choice(leads) + text + rng.choice(tails)
        assert _strip_question_prefix(line) == _every_pattern_stripped(line), line
        lowered = line.lower()
        assert _phrases_at_start(lowered) == [p for p in _PHRASES
                                              if lowered.startswith(p[0])], line
