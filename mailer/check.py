"""`mailer check`: validate every editable file and try the connections."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TypeVar

import jinja2
from jinja2 import meta, nodes

from mailer.config.inbox_rules import InboxRules, load_rules
from mailer.config.playbooks import load_playbooks, unknown_templates
from mailer.config.settings import SHIPPED_DEFAULTS, Settings
from mailer.errors import ConfigError, ConfigErrors
from mailer.handoff.playbooks import Playbook
from mailer.mail.render import TEMPLATE_SUFFIX, Renderer
from mailer.mail.smtp import SmtpSender
from mailer.mail.sources import CONNECTION_ERRORS, ImapSource
from mailer.state.store import Store

Loaded = TypeVar("Loaded")

# Templates the code itself sends, besides those the playbooks name.
BUILT_IN_TEMPLATES = (
    "request_accepted", "request_problems", "questionnaire", "incoming_notice", "rejection",
    "delivery_failed", "questionnaire_receipt", "text_receipt", "note_receipt",
    "workbook_ready", "approval_request", "approval_done", "approval_closed", "edited_message",
    "command_unknown", "command_result", "status", "canary", "transition_problem",
    "workbook_confirm",
    # books of business and the leads' digest
    "book_answer", "book_incoming_notice", "combined_questionnaire", "grouped_reminder",
    "grouped_intro_prompt", "book_receipt", "book_text_receipt", "digest",
)


@dataclass(frozen=True)
class CheckedConfiguration:
    """What checking the editable files found, and the rules and playbooks it loaded (None
    where they have problems), so that the service does not read and validate them twice."""

    problems: list[ConfigError]
    rules: InboxRules | None = None
    playbooks: dict[str, Playbook] | None = None


def check_configuration(settings: Settings) -> list[ConfigError]:
    """Every problem in the rules, the playbooks and the templates, all files together."""
    return checked_configuration(settings).problems


def checked_configuration(settings: Settings) -> CheckedConfiguration:
    rules, problems = _loaded(lambda: load_rules(settings.rules_path))
    playbooks, playbook_problems = _loaded(lambda: load_playbooks(settings.playbooks_dir))
    problems += playbook_problems
    return CheckedConfiguration(_template_and_file_problems(settings, problems), rules,
                                playbooks)


def _template_and_file_problems(settings: Settings,
                                problems: list[ConfigError]) -> list[ConfigError]:
    folder = settings.templates_dir
    if not folder.is_dir():
        problems.append(ConfigError(folder, None, "is not a folder of templates",
                                    "set MAILER_TEMPLATES to your templates folder, or unset it "
                                    "to use the shipped ones"))
        return _unique(problems)
    renderer = Renderer(folder)
    available = set(renderer.names())
    if settings.playbooks_dir.is_dir():
        # Read from each file as written, so a playbook with other mistakes is checked too.
        for path in sorted(settings.playbooks_dir.glob("*.yaml")):
            problems += unknown_templates(path, available)
    for name in sorted({*available, *BUILT_IN_TEMPLATES}):
        if name not in available:
            shipped = SHIPPED_DEFAULTS / "templates" / f"{name}{TEMPLATE_SUFFIX}"
            problems.append(ConfigError(folder / f"{name}{TEMPLATE_SUFFIX}", None,
                                        "is missing: the assistant sends this mail itself",
                                        f"copy it from {shipped}"))
            continue
        problems += _template_problems(renderer, name)
        if not folder.samefile(SHIPPED_DEFAULTS / "templates"):
            problems += unknown_placeholders(folder / f"{name}{TEMPLATE_SUFFIX}")
    return _unique(problems)


def _template_problems(renderer: Renderer, name: str) -> list[ConfigError]:
    try:
        renderer.check(name)
    except ConfigError as exc:
        cause = exc.__cause__
        if isinstance(cause, jinja2.TemplateSyntaxError):
            return [template_syntax_problem(Path(exc.path), cause)]
        return [exc]
    return []


_TAGS = ("if", "elif", "else", "endif", "for", "endfor", "set", "raw", "endraw", "with",
         "endwith", "filter", "endfilter", "macro", "endmacro")


def template_syntax_problem(path: Path, exc: jinja2.TemplateSyntaxError) -> ConfigError:
    """Jinja's complaint about a template, in the words of someone editing an email."""
    message = exc.message or ""
    try:
        source = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        source = []
    line = exc.lineno
    unclosed = re.search(r"innermost block that needs to be closed is '(\w+)'", message)
    unknown = re.search(r"Encountered unknown tag '(\w+)'", message)
    extra_word = re.search(r"expected token 'end of print statement', got '([^']*)'", message)
    if "got 'end of statement block'" in message:
        return ConfigError(path, line, "a {% %} tag is missing what it should test",
                           "write e.g. {% if customer_contacts %} ... {% endif %}")
    if "got 'end of print statement'" in message:
        return ConfigError(path, line, "an empty {{ }} placeholder",
                           "put a name inside, e.g. {{ account }}, or remove it")
    if unclosed:
        tag = unclosed.group(1)
        opened = [number for number, text in enumerate(source, 1)
                  if re.search(rf"{{%-?\s*{tag}\b", text)]
        return ConfigError(path, opened[-1] if opened else line,
                           f"this {{% {tag} %}} is never closed",
                           f"add {{% end{tag} %}} where its part of the email ends")
    opened = [number for number, text in enumerate(source[:line], 1)
              if text.count("{{") > text.count("}}")]
    if "'end of print statement'" in message and opened:
        return ConfigError(path, opened[-1], "a {{ placeholder is never closed",
                           "close it with }} on the same line")
    if extra_word:
        return ConfigError(path, line, f"a placeholder holds more than one word (at "
                           f"'{extra_word.group(1)}')", "a name has no spaces, like "
                           "{{ account }} or {{ incoming.display }}")
    if unknown and unknown.group(1).startswith("end"):
        opening = unknown.group(1).removeprefix("end")
        return ConfigError(path, line, f"{{% {unknown.group(1)} %}} closes a {{% {opening} %}} "
                           "that was never opened", f"remove it, or add the {{% {opening} ... %}} "
                           "it belongs to")
    if unknown:
        close = difflib.get_close_matches(unknown.group(1), _TAGS, n=1, cutoff=0.6)
        return ConfigError(path, line, f"{{% {unknown.group(1)} %}} is not a tag templates know",
                           f"did you mean {{% {close[0]} %}}?" if close
                           else "use if, elif, else, endif, for or endfor")
    return ConfigError(path, line, "a {{ }} or {% %} tag on this line is not written right",
                       "compare it with the same template in the shipped defaults")


def _loaded(load: Callable[[], Loaded]) -> tuple[Loaded | None, list[ConfigError]]:
    try:
        return load(), []
    except ConfigError as exc:
        return None, [exc]
    except ConfigErrors as exc:
        return None, list(exc.errors)


def _unique(problems: list[ConfigError]) -> list[ConfigError]:
    """Each problem once (a broken layout would otherwise be reported for every template)."""
    return list({str(problem): problem for problem in problems}.values())


@cache
def _shipped_names() -> tuple[frozenset[str], frozenset[str]]:
    """Every value and filter the shipped templates use: what the assistant provides."""
    values: set[str] = set(jinja2.Environment().globals)
    filters: set[str] = set(jinja2.Environment().filters)
    for path in (SHIPPED_DEFAULTS / "templates").glob("*.j2"):
        found_values, found_filters = _names_used(path.read_text(encoding="utf-8"))
        values |= found_values
        filters |= found_filters
    return frozenset(values), frozenset(filters)


class _AnyName(dict[str, object]):
    """Filters and tests by any name, so a template can be read for the names it uses
    before anyone asks whether they exist."""

    def __contains__(self, name: object) -> bool:
        return True

    def get(self, name: str, default: object = None) -> object:
        return super().get(name) or _any_filter


def _any_filter(value: object, *args: object, **kwargs: object) -> object:
    return value


_READER = jinja2.Environment()
_READER.filters = _AnyName(_READER.filters)  # type: ignore[assignment]
_READER.tests = _AnyName(_READER.tests)  # type: ignore[assignment]


@lru_cache(maxsize=256)
def _names_used(source: str) -> tuple[frozenset[str], frozenset[str]]:
    try:
        tree = _READER.parse(source)
    except jinja2.TemplateSyntaxError:
        return frozenset(), frozenset()  # reported by the syntax check
    return (frozenset(meta.find_undeclared_variables(tree)),
            frozenset(node.name for node in tree.find_all(nodes.Filter)))


def unknown_placeholders(path: Path) -> list[ConfigError]:
    """A {{ name }} or | filter the assistant does not provide would stop the mail at the
    moment it is sent; find it now. Judged against what the shipped templates use."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    known_values, known_filters = _shipped_names()
    values, filters = _names_used(source)
    shipped = SHIPPED_DEFAULTS / "templates" / path.name
    own = sorted(_names_used(shipped.read_text(encoding="utf-8"))[0]) if shipped.is_file() \
        else []
    problems = []
    for name in sorted(values - known_values):
        close = difflib.get_close_matches(name, own or sorted(known_values), n=1, cutoff=0.5)
        problems.append(ConfigError(
            path, _first_line(source, rf"[{{%][^}}%]*\b{re.escape(name)}\b"),
            f"'{name}' is not a value the assistant fills in",
            f"did you mean '{close[0]}'?" if close else
            f"the shipped {path.name} uses: {', '.join(own)}" if own else
            "use a name the shipped templates use"))
    for name in sorted(filters - known_filters):
        close = difflib.get_close_matches(name, sorted(known_filters), n=1, cutoff=0.6)
        problems.append(ConfigError(
            path, _first_line(source, rf"\|\s*{re.escape(name)}\b"),
            f"there is no '| {name}' filter",
            f"did you mean '| {close[0]}'?" if close else "remove it"))
    return problems


def _first_line(source: str, pattern: str) -> int | None:
    return next((number for number, text in enumerate(source.splitlines(), 1)
                 if re.search(pattern, text)), None)


def check_connections(settings: Settings) -> list[str]:
    """Log in to IMAP and SMTP; returns human-readable failures."""
    failures: list[str] = []
    if settings.imap is not None:
        source = ImapSource(settings.imap, password=settings.imap_password,
                            store=Store(settings.database_path),
                            oauth2_command=settings.oauth2_token_command, timeout=15)
        try:
            source.connect()
        except (*CONNECTION_ERRORS, Exception) as exc:  # noqa: BLE001 - reported to the user
            failures.append(f"IMAP {settings.imap.redacted()}: {exc}")
        finally:
            source.close()
    if settings.smtp is not None:
        sender = SmtpSender(settings.smtp, password=settings.smtp_password,
                            oauth2_command=settings.oauth2_token_command, timeout=15)
        try:
            sender.sign_in()
        except Exception as exc:  # noqa: BLE001 - reported to the user
            failures.append(f"SMTP {settings.smtp.redacted()}: {exc}")
        finally:
            sender.close()
    return failures


def run_check(settings: Settings) -> int:
    problems = check_configuration(settings)
    for problem in problems:
        print(problem.seen_from(Path.cwd()))
    failures = check_connections(settings)
    for failure in failures:
        print(failure)
    for what, path in (("rules:    ", settings.rules_path),
                       ("playbooks:", settings.playbooks_dir),
                       ("templates:", settings.templates_dir)):
        print(f"{what} {_where(path)}")
    if not settings.imap:
        print(f"inbox: embedded maildir at {settings.maildir_path} (MAILER_IMAP_URL not set)")
    if not settings.smtp:
        print(f"sending: off, mail waits in {settings.outbox_dir} (MAILER_SMTP_URL not set)")
    return report_count(len(problems) + len(failures))


def report_count(count: int) -> int:
    if count:
        print(f"{count} problem(s) found")
        return 1
    print("configuration OK")
    return 0


def _where(path: Path) -> str:
    if path.is_relative_to(SHIPPED_DEFAULTS):
        return f"shipped with mailer ({path})"
    return f"./{path.relative_to(Path.cwd())}" if path.is_relative_to(Path.cwd()) else str(path)
