"""Attacks through what people type: links, images and markup in HTML, forged headers.

A request (or a reply) carries Markdown and HTML an attacker hopes the assistant will turn
into a live link or an image in mail sent from the company's own address, or line breaks and
encoded words it hopes will end up as headers. Each value must show as the text it is; the
same mail with ordinary values reads as before.
"""

from __future__ import annotations

import html as html_lib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from attacks import DANA, Desk, each, html_part, letter, parse, text_part
from letters import REQUEST


class Tags(HTMLParser):
    """Every link and image in an HTML part, with where it points."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("a", "img", "script", "iframe", "form", "h1", "h2"):
            self.found.append((tag, values.get("href") or values.get("src") or ""))


def request_with(account: str = "Acme Corp", reason: str = "Sam is moving on",
                 notes: str = "") -> str:
    body = REQUEST.replace("Acme Corp", account).replace(
        "Reason: Sam is moving to the enterprise team", f"Reason: {reason}")
    return body + (f"\nNotes: {notes}\n" if notes else "")


HOSTILE = {
    "markdown-link": "[Verify your account](http://evil.test/login)",
    "markdown-image": "![logo](http://evil.test/pixel.png)",
    "reference-link": "[Pay here][1]\n\n[1]: http://evil.test/pay",
    "autolink": "<http://evil.test/login>",
    "raw-html-link": '<a href="http://evil.test/login">Your invoice</a>',
    "heading-and-emphasis": "# URGENT\n**wire the money**",
}


@each(HOSTILE)
def test_markdown_typed_by_a_person_never_becomes_a_link_image_or_markup(tmp_path: Path,
                                                                         case: str) -> None:
    desk = Desk(tmp_path)
    try:
        sent = desk.run(letter(sender=DANA, subject="Handover",
                               body=request_with(notes=case, reason=case)))
        assert desk.transition()["id"] == "TR-0001", desk.last_inbound()
        for mail in sent:
            html = html_part(mail["raw"])
            tags = Tags(html).found
            assert not any("evil.test" in target for _, target in tags), (mail["kind"], tags)
            assert "<h1>URGENT" not in html and "<strong>wire" not in html
        accepted = next(m for m in sent if m["kind"] == "request_accepted")
        visible = html_part(accepted["raw"])
        first_line = case.split("\n")[0]
        if "<" not in case:  # the request reader keeps HTML tags out of field values
            assert html_lib.escape(first_line) in visible
    finally:
        desk.close()


def test_a_url_a_person_wrote_shows_as_itself_and_the_products_own_markdown_still_renders(
        tmp_path: Path) -> None:
    desk = Desk(tmp_path)
    try:
        sent = desk.run(letter(sender=DANA, subject="Handover",
                               body=request_with(account="Acme [Corp](http://evil.test)",
                                                 notes="See https://wiki.example.com/acme")))
        questionnaire = next(m for m in sent if m["kind"] == "questionnaire")
        html = html_part(questionnaire["raw"])
        assert "https://wiki.example.com/acme" not in [t for _, t in Tags(html).found]
        assert "Acme [Corp](http://evil.test)" in html
        # The questionnaire's own headings and lists are still Markdown turned HTML.
        assert "<h2" in html and "<li" in html
        assert "Acme [Corp](http://evil.test)" in text_part(questionnaire["raw"])
    finally:
        desk.close()


FORGED_HEADERS = {
    "crlf-in-a-name": "Sam =?utf-8?q?Jones=0D=0ABcc=3A_eve=40evil.test?=",
    "encoded-word-name": "=?utf-8?b?RXZlIDxldmVAZXZpbC50ZXN0Pg==?=",
    "unicode-line-separator": "Sam\u2028Bcc: eve@evil.test",
}


@each(FORGED_HEADERS)
def test_names_from_a_body_never_forge_a_header(tmp_path: Path, case: str) -> None:
    desk = Desk(tmp_path)
    try:
        body = REQUEST.replace("Sam Jones <sam@example.com>", f"{case} <sam@example.com>")
        sent = desk.run(letter(sender=DANA, subject="Handover", body=body))
        assert sent, desk.last_inbound()
        for mail in sent:
            message = parse(mail["raw"])
            assert message["Bcc"] is None
            assert "bcc" not in {key.lower() for key in message.keys()}  # noqa: SIM118
            for name in ("To", "Cc", "From", "Subject"):
                value = str(message[name] or "")
                assert "\n" not in value and "<eve@evil.test>" not in value, value
            assert b"\nBcc:" not in mail["raw"] and b"=?utf-8?b?RXZl" not in mail["raw"]
            assert mail["to"] != ["eve@evil.test"] and "eve@evil.test" not in mail["to"]
    finally:
        desk.close()


@pytest.mark.parametrize("account", [
    "../../etc/passwd", "Acme\r\nContent-Type: text/html", "=?utf-8?q?evil?= Corp",
    ".bashrc", "Acme/..\\..\\win.ini",
])
def test_every_attachment_name_is_sanitised(tmp_path: Path, account: str) -> None:
    desk = Desk(tmp_path)
    try:
        body = REQUEST.replace("Acme Corp", account.replace("\r\n", " "))
        sent = desk.run(letter(sender=DANA, subject="Handover", body=body))
        names = [part.get_filename() for mail in sent
                 for part in parse(mail["raw"]).iter_attachments()]
        assert names, desk.last_inbound()
        for name in names:
            assert "/" not in name and "\\" not in name and not name.startswith(".")
            assert "=?" not in name and "\r" not in name and "\n" not in name
    finally:
        desk.close()
