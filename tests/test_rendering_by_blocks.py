"""Each email's text part is read off its HTML one block at a time, and the blocks every mail
shares are converted once. Whatever a mail holds, that must give exactly the text the whole
page gives: checked on every email of the demo, and on values that try to break a block."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.config.settings import SHIPPED_DEFAULTS
from mailer.demo import run_demo
from mailer.mail.plain_text import html_to_text
from mailer.mail.render import RenderedEmail, Renderer


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> list[RenderedEmail]:
    """Every email rendered while the test runs."""
    seen: list[RenderedEmail] = []
    render = Renderer.render

    def recording(self: Renderer, name: str, /, **kwargs: object) -> RenderedEmail:
        result = render(self, name, **kwargs)  # type: ignore[arg-type]
        seen.append(result)
        return result

    monkeypatch.setattr(Renderer, "render", recording)
    return seen


def test_every_email_of_the_demo_reads_as_its_whole_page(tmp_path: Path,
                                                         rendered: list[RenderedEmail]) -> None:
    assert run_demo(tmp_path / "demo", out=lambda _line: None) == 0
    assert len(rendered) > 20
    for mail in rendered:
        assert mail.text == html_to_text(mail.body_html), mail.subject


@pytest.mark.parametrize("value", [
    "one line", "two\nlines", "first paragraph\n\nsecond paragraph", "- a list\n- of two",
    "<p>not a tag</p> and </pre> and <pre>", "zqv0vqz", "ends with a colon:\n\n| a | b |",
    "a " * 80 + "\nwrapped " * 10,
])
def test_values_typed_by_people_read_as_the_whole_page(value: str) -> None:
    renderer = Renderer(SHIPPED_DEFAULTS / "templates")
    context = {"edited_subject": "Hello", "edited_text": value}
    for _ in range(2):  # the second time the shared blocks come from memory
        mail = renderer.render("edited_message", context=context)
        assert mail.text == html_to_text(mail.body_html)
        assert value.split()[0].strip("<>/p") in mail.text
