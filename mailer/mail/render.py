"""One template source gives both parts of an email.

A template is `templates/<name>.md.j2`: a `subject:` line, a `---` line, then a Markdown
body with Jinja2 placeholders. The text part is the rendered Markdown (it reads well as
plain text); the HTML part renders the same source with every value HTML-escaped, turns
the Markdown into HTML, wraps it in `_layout.html.j2` and inlines the CSS so Gmail, Outlook
and Apple Mail show it alike. Values are data: a `{{ ... }}` typed by a person is never
evaluated, and `<script>` arrives as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from html import escape as html_escape
from pathlib import Path
from typing import Any

import css_inline
import jinja2
import markdown

from mailer.errors import ConfigError

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
    if isinstance(value, ProductMarkdown):
        slots = {name: _stand_in(context, text) for name, text in value.values.items()}
        return jinja2.utils.markupsafe.Markup(value.fill(slots))
    if value is None or isinstance(value, bool | int | float):
        return value
    values.append(str(value))
    return jinja2.utils.markupsafe.Markup(_STAND_IN.format(len(values) - 1))


def _fill_stand_ins(html: str, values: list[str]) -> str:
    def escaped(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index >= len(values):
            return match.group(0)
        text = html_escape(values[index], quote=True)
        before = html[:match.start()]
        in_pre = before.rfind("<pre") > before.rfind("</pre>")
        return text if in_pre else text.replace("\n", "<br>\n")
    return _STAND_IN_RE.sub(escaped, html)


def _quote_lines_text(value: Any) -> str:
    """Each line of a person's text as a Markdown quote line (the text part)."""
    return str(value).replace("\n", "\n> ")


class Renderer:
    """Compiled templates, loaded once per process."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        loader = jinja2.FileSystemLoader(str(directory))
        common: dict[str, Any] = {"loader": loader, "undefined": jinja2.StrictUndefined,
                                  "keep_trailing_newline": True, "trim_blocks": True,
                                  "lstrip_blocks": True}
        self._text_env = jinja2.Environment(autoescape=False, **common)  # noqa: S701
        self._html_env = jinja2.Environment(autoescape=True, finalize=_stand_in, **common)
        self._layout_env = jinja2.Environment(autoescape=True, **common)
        for env in (self._text_env, self._html_env, self._layout_env):
            env.filters["date"] = _format_date
            env.filters["datetime"] = _format_datetime
        # `> {{ text|quote_lines }}`: quoted line by line in the text part; in HTML the value
        # keeps its line breaks inside the one quote.
        self._text_env.filters["quote_lines"] = _quote_lines_text
        self._html_env.filters["quote_lines"] = lambda value: value
        self._layout_env.filters["quote_lines"] = lambda value: value
        self._markdown = markdown.Markdown(extensions=["tables", "sane_lists", "nl2br"])
        self._compiled: dict[tuple[int, str], tuple[jinja2.Template, jinja2.Template]] = {}

    def names(self) -> list[str]:
        return sorted(p.name[: -len(TEMPLATE_SUFFIX)] for p in self.directory.glob(
            f"*{TEMPLATE_SUFFIX}") if not p.name.startswith("_"))

    def check(self, name: str) -> None:
        """Compile a template and its layout; raise ConfigError naming file and line."""
        for env, filename in ((self._text_env, name + TEMPLATE_SUFFIX),
                              (self._html_env, LAYOUT)):
            try:
                source = env.loader.get_source(env, filename)[0]  # type: ignore[union-attr]
                env.parse(source)
            except jinja2.TemplateNotFound as exc:
                raise ConfigError(self.directory / filename, None, "template not found",
                                  f"create {filename} in {self.directory}") from exc
            except jinja2.TemplateSyntaxError as exc:
                raise ConfigError(self.directory / filename, exc.lineno, exc.message or "",
                                  "check the {{ }} and {% %} tags on that line") from exc
        source = (self.directory / (name + TEMPLATE_SUFFIX)).read_text(encoding="utf-8")
        if not source.lower().startswith("subject:") or "\n---" not in source:
            raise ConfigError(self.directory / (name + TEMPLATE_SUFFIX), 1,
                              "a template starts with a 'subject:' line and a '---' line",
                              "add e.g. 'subject: Hello {{ account }}' and '---' on top")

    def _parts(self, env: jinja2.Environment, name: str) -> tuple[jinja2.Template, jinja2.Template]:
        """The subject line and the body, compiled separately so a block tag at the end of
        the subject can never swallow the separator line."""
        key = (id(env), name)
        if key not in self._compiled:
            source = env.loader.get_source(env, name + TEMPLATE_SUFFIX)[0]  # type: ignore[union-attr]
            head, _, body = source.partition("\n---\n")
            subject = head.split(":", 1)[1] if ":" in head else head
            self._compiled[key] = (env.from_string(subject), env.from_string(body))
        return self._compiled[key]

    def _to_html(self, source: str) -> str:
        """Markdown to HTML, one top-level block at a time, each block memoised.

        Converting Markdown is most of the cost of an email, and most blocks (the twelve
        questionnaire sections, the command lists) are the same in every message; only the
        blocks holding names and dates change."""
        return "\n".join(self._block_to_html(block) for block in _blocks(source))

    @lru_cache(maxsize=4096)  # noqa: B019 - one Renderer per process, kept for its life
    def _block_to_html(self, block: str) -> str:
        self._markdown.reset()
        return self._markdown.convert(block)

    def render(self, name: str, /, *, context: dict[str, Any]) -> RenderedEmail:
        text_subject, text_body = (t.render(context) for t in self._parts(self._text_env, name))
        _, html_body = self._parts(self._html_env, name)
        values: list[str] = []
        body_html = _fill_stand_ins(self._to_html(html_body.render(context | {_VALUES: values})),
                                    values)
        subject = " ".join(text_subject.split())
        page = self._layout_env.get_template(LAYOUT).render(
            {"subject": subject, "body": jinja2.utils.markupsafe.Markup(body_html),
             # Mail sent in a person's name (to customers) carries no assistant footer.
             "from_person": bool(context.get("from_person"))})
        return RenderedEmail(subject=subject, text=_tidy_text(text_body),
                             html=_inline_css(page))


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


def _tidy_text(body: str) -> str:
    lines = [line.rstrip() for line in body.strip("\n").splitlines()]
    tidy: list[str] = []
    for line in lines:
        if line == "" and tidy and tidy[-1] == "":
            continue
        tidy.append(line)
    return "\n".join(tidy) + "\n"


def _inline_css(page: str) -> str:
    return _INLINER.inline(page)


def _format_date(value: Any) -> str:
    if value is None or value == "":
        return "not set"
    return value.strftime("%a %d %b %Y")


def _format_datetime(value: Any) -> str:
    if value is None or value == "":
        return "not scheduled yet"
    return value.strftime("%a %d %b %Y, %H:%M %Z").strip()
