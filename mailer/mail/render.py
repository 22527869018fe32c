"""One template source gives both parts of an email.

A template is `templates/<name>.md.j2`: a `subject:` line, a `---` line, then a Markdown
body with Jinja2 placeholders. The body is rendered with every value held aside, turned from
Markdown into HTML, and the values put back as escaped text; that HTML is wrapped in
`_layout.html.j2` with its CSS inlined, so Gmail, Outlook and Apple Mail show it alike. The
text part is read off the same HTML (`mail.plain_text`): clean text, no Markdown marks.
Values are data: a `{{ ... }}` typed by a person is never evaluated, `<script>` arrives as
text, and a person's hard-wrapped lines read as the paragraphs they wrote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache
from html import escape as html_escape
from pathlib import Path
from typing import Any

import css_inline
import jinja2
import markdown

from mailer.errors import ConfigError
from mailer.mail.plain_text import joined_text, text_blocks

TEMPLATE_SUFFIX = ".md.j2"
LAYOUT = "_layout.html.j2"

# One inliner for the process: Gmail and Outlook drop <style> blocks, so CSS must sit in
# style attributes. css_inline does this in well under a millisecond.
_INLINER = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str
    body_html: str = ""  # the body alone, without the layout: a draft shown inside another mail


class HtmlFragment(str):
    """HTML the product itself rendered (a draft's body), shown as it is inside another mail."""

    __slots__ = ()


@dataclass(frozen=True)
class ProductMarkdown:
    """Markdown the product wrote (headings, lists), with `{name}` slots for people's values.

    In the text part it reads as the filled-in Markdown; in the HTML part its structure is
    kept and each value is still inert text, like any other value."""

    source: str
    values: dict[str, str]

    def fill(self, values: dict[str, str]) -> str:
        return _SLOT.sub(lambda m: values.get(m.group(1), m.group(0)), self.source)

    def __str__(self) -> str:
        return self.fill(self.values)


_SLOT = re.compile(r"\{(\w+)\}")
# A value's stand-in while Markdown runs: letters and digits only, so no Markdown or HTML rule
# can touch it; the escaped value replaces it afterwards.
_STAND_IN = "zqv{}vqz"
_STAND_IN_RE = re.compile(r"zqv(\d+)vqz")
_VALUES = "__inert_values__"


@jinja2.pass_context
def _stand_in(context: jinja2.runtime.Context, value: Any) -> Any:
    """Every `{{ value }}` of the HTML part: a stand-in, filled with escaped text only after
    Markdown has run. Whatever a person typed (`[click](http://evil)`, `![x](...)`, `<b>`,
    `**`, `# `) can never become a link, an image or markup; a URL shows as itself."""
    values: list[str] | None = context.get(_VALUES)
    if values is None or isinstance(value, jinja2.utils.markupsafe.Markup):
        return value
    if isinstance(value, HtmlFragment):
        values.append(value)
        return jinja2.utils.markupsafe.Markup(_STAND_IN.format(len(values) - 1))
    if isinstance(value, ProductMarkdown):
        slots = {name: _stand_in(context, text) for name, text in value.values.items()}
        return jinja2.utils.markupsafe.Markup(value.fill(slots))
    if value is None or isinstance(value, bool | int | float):
        return value
    values.append(str(value))
    return jinja2.utils.markupsafe.Markup(_STAND_IN.format(len(values) - 1))


def _fill_stand_ins(html: str, values: list[str]) -> str:
    def whole_paragraph(match: re.Match[str]) -> str:
        """A value that is a paragraph of its own: its own paragraphs, or a draft's HTML."""
        index = int(match.group(1))
        if index >= len(values):
            return match.group(0)
        value = values[index]
        if isinstance(value, HtmlFragment):
            return str(value)
        return "\n".join(f"<p>{p}</p>" for p in _paragraphs_html(value)) or "<p></p>"

    def inline(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index >= len(values):
            return match.group(0)
        value = values[index]
        if isinstance(value, HtmlFragment):
            return str(value)
        at = match.start()
        if has_pre and html.rfind("<pre", 0, at) > html.rfind("</pre>", 0, at):
            return html_escape(value, quote=True)  # a block to copy keeps its lines
        return "<br>\n<br>\n".join(_paragraphs_html(value))

    html = _WHOLE_PARAGRAPH.sub(whole_paragraph, html)
    has_pre = "<pre" in html  # most blocks have no copy block to look back for
    return _STAND_IN_RE.sub(inline, html)


def _reads_as_typed(value: str) -> bool:
    """Does the text part show this value exactly as typed? A line of printable characters,
    single-spaced, not markup of our own: escaping it for the HTML and reading the HTML back
    give it unchanged, wherever it stands (a paragraph, a list, a table cell, a copy block)."""
    return (bool(value) and not isinstance(value, HtmlFragment) and value.isprintable()
            and value == " ".join(value.split()) and _STAND_IN_RE.search(value) is None)


_WHOLE_PARAGRAPH = re.compile(r"<p>zqv(\d+)vqz</p>")
_LIST_MARK = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s")
_LABEL = re.compile(r"^\s*[A-Z][\w' ]{0,30}:\s")  # "Type: soft": a line of its own
# A line this long, followed by more of the same paragraph, was broken by the writer's mail
# client at its wrap width (72 to 80 characters), not by the writer.
WRAPPED_LINE = 60
_WRAP_SLACK = 15


def _paragraphs_html(text: str) -> list[str]:
    """A person's text as HTML paragraphs: blank lines separate them; lines their mail client
    hard-wrapped are joined again, and lines they broke on purpose (a list, a signature,
    an address) keep their breaks. A value of one line is only escaped."""
    if "\n" not in text:
        return [html_escape(text, quote=True)]
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n")) if p.strip()]
    return ["<br>\n".join(html_escape(line, quote=True) for line in _unwrapped(p.split("\n")))
            for p in paragraphs]


def _unwrapped(lines: list[str]) -> list[str]:
    width = max(len(line.rstrip()) for line in lines)
    joined: list[str] = []
    carry = False
    for line in lines:
        text = line.rstrip()
        if carry and not _LIST_MARK.match(text) and not _LABEL.match(text):
            joined[-1] = f"{joined[-1]} {text.strip()}"
        else:
            joined.append(text)
        carry = (width >= WRAPPED_LINE and len(text) >= width - _WRAP_SLACK
                 and not text.endswith(":"))
    return joined


class Renderer:
    """Compiled templates, loaded once per process."""

    def __init__(self, directory: Path, *, timezone: tzinfo = UTC) -> None:
        self.directory = directory
        self.timezone = timezone
        loader = jinja2.FileSystemLoader(str(directory))
        common: dict[str, Any] = {"loader": loader, "undefined": jinja2.StrictUndefined,
                                  "keep_trailing_newline": True, "trim_blocks": True,
                                  "lstrip_blocks": True}
        self._text_env = jinja2.Environment(autoescape=False, **common)  # noqa: S701
        self._html_env = jinja2.Environment(autoescape=True, finalize=_stand_in, **common)
        # Loaded once, like the templates (`_body_template`): no look at the file's time on
        # every mail.
        self._layout_env = jinja2.Environment(autoescape=True, auto_reload=False, **common)
        for env in (self._text_env, self._html_env, self._layout_env):
            env.filters["date"] = self._format_date
            env.filters["datetime"] = self._format_datetime
            # `> {{ text|quote_lines }}`: the whole text in the one quote, paragraphs and all
            # (the text part is read off the HTML, so there is nothing to do per line).
            env.filters["quote_lines"] = lambda value: value
        # fenced_code: a ``` block is a block to copy (the complete request), not inline code.
        self._markdown = markdown.Markdown(extensions=["tables", "sane_lists", "nl2br",
                                                       "fenced_code"])
        self._subjects: dict[str, jinja2.Template] = {}
        self._bodies: dict[str, jinja2.Template] = {}
        self._layout_checked = False

    def names(self) -> list[str]:
        return sorted(p.name[: -len(TEMPLATE_SUFFIX)] for p in self.directory.glob(
            f"*{TEMPLATE_SUFFIX}") if not p.name.startswith("_"))

    def check(self, name: str) -> None:
        """Compile a template and its layout; raise ConfigError naming file and line. The
        layout is the same for every template: once it compiles, it is not parsed again."""
        steps = [(self._text_env, name + TEMPLATE_SUFFIX)]
        if not self._layout_checked:
            steps.append((self._html_env, LAYOUT))
        for env, filename in steps:
            try:
                source = env.loader.get_source(env, filename)[0]  # type: ignore[union-attr]
                env.parse(source)
            except jinja2.TemplateNotFound as exc:
                raise ConfigError(self.directory / filename, None, "template not found",
                                  f"create {filename} in {self.directory}") from exc
            except jinja2.TemplateSyntaxError as exc:
                raise ConfigError(self.directory / filename, exc.lineno, exc.message or "",
                                  "check the {{ }} and {% %} tags on that line") from exc
        self._layout_checked = True
        source = (self.directory / (name + TEMPLATE_SUFFIX)).read_text(encoding="utf-8")
        if not source.lower().startswith("subject:") or "\n---" not in source:
            raise ConfigError(self.directory / (name + TEMPLATE_SUFFIX), 1,
                              "a template starts with a 'subject:' line and a '---' line",
                              "add e.g. 'subject: Hello {{ account }}' and '---' on top")

    def _source_parts(self, name: str) -> tuple[str, str]:
        """A template's subject line and body, as written. They are compiled apart, so that
        a block tag at the end of the subject can never swallow the separator line."""
        env = self._text_env
        source = env.loader.get_source(env, name + TEMPLATE_SUFFIX)[0]  # type: ignore[union-attr]
        head, _, body = source.partition("\n---\n")
        return (head.split(":", 1)[1] if ":" in head else head), body

    def _subject_template(self, name: str) -> jinja2.Template:
        """The subject, as plain text. Each part is compiled only where it is used: the
        body compiled for plain text as well was a third of a mail's first rendering."""
        if name not in self._subjects:
            self._subjects[name] = self._text_env.from_string(self._source_parts(name)[0])
        return self._subjects[name]

    def _body_template(self, name: str) -> jinja2.Template:
        """The body, with HTML escaping and stand-ins for values (see `_body`)."""
        if name not in self._bodies:
            self._bodies[name] = self._html_env.from_string(self._source_parts(name)[1])
        return self._bodies[name]

    def _body(self, source: str, values: list[str]) -> tuple[str, str]:
        """The HTML body and its plain text, from Markdown with stand-ins for values.

        Markdown is converted one top-level block at a time, and the text read off each HTML
        block, both memoised: that is most of the cost of an email, and most blocks (the
        twelve questionnaire sections, the command lists) are the same in every message.
        Only blocks holding a person's values (names, dates) are new each time; they are
        filled and read, but not kept."""
        html_blocks: list[str] = []
        text_parts: list[str] = []
        for html, used, constant_text in self._converted(source):
            if not used:
                html_blocks.append(html)
                text_parts.extend(constant_text)
                continue
            filled = _fill_stand_ins(html, values)
            html_blocks.append(filled)
            if all(index < len(values) and _reads_as_typed(values[index]) for index in used):
                # A one-line value reads in the text exactly as typed, where its stand-in was.
                text_parts.extend(_STAND_IN_RE.sub(lambda m: values[int(m.group(1))], part)
                                  for part in constant_text)
            else:
                text_parts.extend(text_blocks(filled))
        return "\n".join(html_blocks), joined_text(text_parts)

    @lru_cache(maxsize=256)  # noqa: B019 - one Renderer per process, kept for its life
    def _converted(self, source: str) -> tuple[tuple[str, tuple[int, ...], tuple[str, ...]], ...]:
        """Each block of a template's Markdown, with its values still stand-ins: its HTML,
        the stand-ins it holds, and its text. With the values standing in, most mails of a
        template have the very same source, so this is done once for all of them."""
        converted = []
        for block in _blocks(source):
            html = self._block_to_html(block)
            used = tuple(int(index) for index in _STAND_IN_RE.findall(html))
            converted.append((html, used, self._constant_text_blocks(html)))
        return tuple(converted)

    @lru_cache(maxsize=4096)  # noqa: B019 - one Renderer per process, kept for its life
    def _block_to_html(self, block: str) -> str:
        self._markdown.reset()
        return self._markdown.convert(block)

    @lru_cache(maxsize=1024)  # noqa: B019 - one Renderer per process, kept for its life
    def _constant_text_blocks(self, html: str) -> tuple[str, ...]:
        return text_blocks(html)

    def render(self, name: str, /, *, context: dict[str, Any]) -> RenderedEmail:
        text_subject = self._subject_template(name).render(context)
        html_body = self._body_template(name)
        values: list[str] = []
        body_html, text = self._body(html_body.render(context | {_VALUES: values}), values)
        subject = " ".join(text_subject.split())
        page = self._layout_env.get_template(LAYOUT).render(
            {"subject": subject, "body": jinja2.utils.markupsafe.Markup(body_html),
             # Mail sent in a person's name (to customers) carries no assistant footer.
             "from_person": bool(context.get("from_person"))})
        return RenderedEmail(subject=subject, text=text,
                             html=_inline_css(page), body_html=body_html)

    def date_words(self, value: date | datetime) -> str:
        """A date as mails show it: 'Monday 25 January 2027'."""
        return self._format_date(value)

    def moment_words(self, value: datetime) -> str:
        """A moment as mails show it: 'Monday 25 January 2027, 11:00 CET'."""
        return self._format_datetime(value)

    def _format_date(self, value: Any) -> str:
        """'Monday 25 January 2027'; a moment is first put in the team's time zone."""
        if value is None or value == "":
            return "not set"
        if isinstance(value, datetime):
            value = value.astimezone(self.timezone) if value.tzinfo else value
        day: date = value
        return f"{day:%A} {day.day} {day:%B %Y}"

    def _format_datetime(self, value: Any) -> str:
        """'Monday 25 January 2027, 11:00 CET': the team's time zone, named."""
        if value is None or value == "":
            return "not scheduled yet"
        local: datetime = value.astimezone(self.timezone) if value.tzinfo else value
        return f"{self._format_date(local.date())}, {local:%H:%M} {zone_name(local)}".strip()


def zone_name(local: datetime) -> str:
    """The zone's abbreviation as people know it (CET, CEST, EST), or its UTC offset where
    the zone has none ('UTC-03')."""
    name = local.tzname() or ""
    return f"UTC{name}" if name[:1] in "+-" and name else name


def _blocks(source: str) -> list[str]:
    """Split Markdown at blank lines that separate top-level blocks. Lists, fenced code and
    indented continuations stay whole, so each block converts as it would in the page."""
    blocks: list[str] = []
    current: list[str] = []
    fenced = False
    lines = source.split("\n")
    for index, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if line.strip() or fenced or not current:
            current.append(line)
            continue
        following = next((ln for ln in lines[index + 1:] if ln.strip()), "")
        if _continues(current, following):
            current.append(line)
            continue
        blocks.append("\n".join(current))
        current = []
    if current:
        blocks.append("\n".join(current))
    return blocks


_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s")


def _continues(block: list[str], following: str) -> bool:
    """Does the next non-blank line belong to the same block (a loose list, an indent)?"""
    last_item = next((ln for ln in reversed(block) if ln.strip()), "")
    in_list = any(_LIST_ITEM.match(ln) for ln in block)
    return following.startswith((" ", "\t")) or (
        in_list and bool(_LIST_ITEM.match(following)) and bool(_LIST_ITEM.match(last_item)))


def _inline_css(page: str) -> str:
    return _INLINER.inline(page)
