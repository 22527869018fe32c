"""Each email's text part is read off its HTML one block at a time, and the blocks every mail
shares are converted once. Whatever a mail holds, that must give exactly the text the whole
page gives: checked on every email of the demo, and on values that try to break a block."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.config.settings import SHIPPED_DEFAULTS
from mailer.demo import run_demo
from mailer.mail.plain_text import html_to_text
from mailer.mail.render import HtmlFragment, RenderedEmail, Renderer


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


EVERY_PLACE = """subject: {{ a }}
---
Hello {{ a }}, and {{ b }}.

{{ b }}

## {{ a }} and more

- one {{ a }}
- two {{ b }} two

1. **{{ a }}** then {{ b }}

| Field | Value |
|---|---|
| {{ a }} | {{ b }} |

> {{ b }}

```
{{ a }}
  {{ b }}
```

Last line {{ a }}{{ b }}
"""

# What people type: words, spaces of every kind, markup, entities, line breaks, blank values.
TYPED = st.lists(st.sampled_from([
    *"ab Zé  \t\n\r<>&;#*_-|[]()!`'\"=:/.,09\u00a0\u2003\u200b\u2028\x0b",
    "\n\n", "zqv1vqz", "&amp;", "<p>", "</pre>", "http://x.test", "Grüße", "Sam Okafor"]),
    max_size=14).map("".join)


@pytest.fixture(scope="module")
def every_place(tmp_path_factory: pytest.TempPathFactory) -> Renderer:
    """A template with values in every kind of block: paragraph, heading, list, table, quote,
    copy block."""
    directory = tmp_path_factory.mktemp("templates")
    (directory / "_layout.html.j2").write_text(
        (SHIPPED_DEFAULTS / "templates" / "_layout.html.j2").read_text())
    (directory / "every_place.md.j2").write_text(EVERY_PLACE)
    return Renderer(directory)


@settings(max_examples=400, deadline=None)
@given(a=TYPED, b=TYPED)
def test_any_typed_values_in_any_block_read_as_the_whole_page(every_place: Renderer, a: str,
                                                             b: str) -> None:
    for _ in range(2):  # the second time the shared blocks come from memory
        mail = every_place.render("every_place", context={"a": a, "b": b})
        assert mail.text == html_to_text(mail.body_html)


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


@settings(max_examples=60, deadline=None)
@given(mails=st.lists(st.tuples(TYPED, TYPED), min_size=2, max_size=4))
def test_a_block_kept_from_one_mail_never_brings_its_values_into_the_next(
        every_place: Renderer, mails: list[tuple[str, str]]) -> None:
    """Blocks with values are kept by the values they hold; each mail in a row still comes
    out exactly as a renderer that never saw the others makes it."""
    for a, b in [*mails, *mails]:
        context = {"a": a, "b": b}
        fresh = Renderer(every_place.directory).render("every_place", context=context)
        assert every_place.render("every_place", context=context) == fresh


def test_a_drafts_html_and_the_same_characters_typed_by_a_person_stay_apart(
        every_place: Renderer) -> None:
    typed = "<b>Thanks</b>"
    as_text = every_place.render("every_place", context={"a": typed, "b": "x"})
    as_draft = every_place.render("every_place", context={"a": HtmlFragment(typed), "b": "x"})
    again = every_place.render("every_place", context={"a": typed, "b": "x"})
    assert "&lt;b&gt;Thanks&lt;/b&gt;" in as_text.body_html
    assert "<b>Thanks</b>" in as_draft.body_html
    assert again == as_text
