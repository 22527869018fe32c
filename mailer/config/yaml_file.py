"""Load a YAML configuration file and validate it, with errors that name file, line and fix.

The people who edit these files are CS operations staff, so every message is in our own words:
no parser or pydantic wording reaches them. Validation is done by pydantic models; this module
keeps a map from each YAML path (e.g. ("steps", 3, "template")) to the line it was written on,
and knows the model's whole tree of settings, so that a known setting written under the wrong
parent is called misplaced rather than misspelt. Nothing here knows a particular file: the
rules and the playbooks (and whatever settings are added to them) get the same help.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from mailer.errors import ConfigError, ConfigErrors

ModelT = TypeVar("ModelT", bound=BaseModel)
# libyaml's loader is twenty times faster; the pure-Python one is the fallback.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
YamlPath = tuple[str | int, ...]
ITEM = "[]"  # stands for "any item of this list" in a model's settings tree
_TAB = re.compile(r"^ *\t|(?::|^ *-)[ ]*\t")
TAB_FIX = "replace the tab with spaces: YAML only accepts spaces, two for each level"


def load_yaml_with_lines(path: Path) -> tuple[Any, dict[YamlPath, int]]:
    """Parse YAML, returning the data and a map of each node's path to its 1-based line.

    Raises ConfigErrors with every tab, duplicated setting and broken line found."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, None, f"cannot be read ({exc.strerror})",
                          "check the path and the file's permissions") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(path, None, "is not UTF-8 text",
                          "save it as UTF-8 (plain text) in your editor") from exc
    problems = [ConfigError(path, number, "this line has a tab where YAML needs spaces", TAB_FIX)
                for number, line in enumerate(text.splitlines(), 1) if _TAB.search(line)]
    try:
        node = yaml.compose(text, Loader=_LOADER)
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as exc:
        syntax = _syntax_problem(path, exc, text)
        if not any(p.line == syntax.line for p in problems):  # a tab explains it already
            problems.append(syntax)
        raise ConfigErrors(problems) from exc
    except yaml.YAMLError as exc:  # e.g. a byte YAML does not accept, without a position
        raise ConfigErrors([*problems, ConfigError(path, None, "cannot be read as YAML",
                                                   "save it as plain UTF-8 text")]) from exc
    lines: dict[YamlPath, int] = {}
    if node is not None:
        problems.extend(_walk(path, node, (), lines, text.splitlines()))
    if problems:
        raise ConfigErrors(problems)
    return data, lines


_LOOKS_LIKE_A_LINE_OF_ITS_OWN = re.compile(r"^\s*(- |[A-Za-z_][\w-]*:(\s|$))")


def _walk(path: Path, node: yaml.Node, here: YamlPath, lines: dict[YamlPath, int],
          source: list[str]) -> Iterator[ConfigError]:
    """Record each node's line; yield the mistakes YAML itself lets through silently."""
    lines[here] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                # YAML keeps the last one silently: the first block would simply vanish.
                yield ConfigError(path, line, f"'{key}' is written twice (also on line "
                                  f"{seen[key]}), so only one of them would count",
                                  f"merge the two into one '{key}:'")
            seen.setdefault(key, line)
            yield from _walk(path, value_node, here + (key,), lines, source)
            lines[here + (key,)] = line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _walk(path, item, here + (index,), lines, source)
    elif isinstance(node, yaml.ScalarNode) and not node.style:  # plain: no quotes, no | or >
        # A plain value may run over several lines, so "- b" indented under "- a" is read as
        # the one value "a - b", and "name: x" indented under a value joins that value.
        for number in range(node.start_mark.line + 1, node.end_mark.line + 1):
            if number < len(source) and _LOOKS_LIKE_A_LINE_OF_ITS_OWN.match(source[number]):
                yield ConfigError(path, number + 1, "this line is indented further than the "
                                  "line above, so YAML reads both as the one value "
                                  f"{_shown(node.value)}", "line it up with the items or "
                                  "settings it belongs with")
                break


# What the YAML parser says, in the words of someone who edits the file. The fix names what
# usually causes it in a hand-edited configuration file.
_SYNTAX: tuple[tuple[str, str, str], ...] = (
    ("character '\\t'", "this line has a tab where YAML needs spaces", TAB_FIX),
    ("mapping values are not allowed", "there is a ':' YAML did not expect here",
     "indent this line like the settings above it, or put a value that contains ': ' in "
     "quotes"),
    ("could not find expected ':'", "this line is not a 'name: value' setting",
     "add the ':' after the name, or put the line in quotes if it continues the value above"),
    ("expected ',' or ']'", "a list in [ ] is not closed, or its items are not separated "
     "by commas", "write it as [first, second] on one line"),
    ("expected ',' or '}'", "a group in { } is not closed, or its settings are not separated "
     "by commas", "write it as {name: value, other: value} on one line"),
    ("found unexpected end of stream", "a quote is opened but never closed",
     "close the quote on the same line"),
    ("expected alphabetic or numeric character", "a value starts with * or &, which YAML "
     "reserves", "put the value in quotes, e.g. \"*URGENT*\""),
    ("cannot start any token", "a value starts with a character YAML reserves (@ ` % or |)",
     "put the value in quotes, e.g. \"@example.com\""),
    ("<block end>, but found", "this line is indented differently from the lines at the same "
     "level above it", "line it up with the settings or items it belongs with"),
    ("did not find expected key", "this line is indented differently from the lines at the "
     "same level above it", "line it up with the settings or items it belongs with"),
    ("did not find expected '-'", "this line is indented like a list item but does not "
     "start with '- '", "start it with '- ', or line it up with the setting it belongs to"),
    ("unexpected end of stream", "a quote or bracket is opened but never closed",
     "close it on the same line"),
)


_INDENTATION_TROUBLE = ("mapping values are not allowed", "<block end>, but found",
                       "did not find expected key", "did not find expected '-'")


def _syntax_problem(path: Path, exc: yaml.MarkedYAMLError, text: str) -> ConfigError:
    problem = exc.problem or ""
    mark = exc.problem_mark
    line = mark.line + 1 if mark else None
    if line is not None and any(needle in problem for needle in _INDENTATION_TROUBLE):
        hint = _indentation_hint(path, text.splitlines(), line)
        if hint is not None:
            return hint
    for needle, words, fix in _SYNTAX:
        if needle in problem:
            if needle in ("found unexpected end of stream", "could not find expected ':'") \
                    and exc.context_mark is not None:
                line = exc.context_mark.line + 1  # where the quote or the line began
            return ConfigError(path, line, words, fix)
    return ConfigError(path, line, "this line cannot be read as YAML",
                       "compare it with the lines around it: indentation, ':' and quotes")


def _indentation_hint(path: Path, source: list[str], line: int) -> ConfigError | None:
    """Name the line whose indentation is off, and the indentation it needs, when the lines
    around the parser's complaint show it: a setting indented more, or less, than the ones
    beside it, or a value holding ': '."""
    # Only lines that are settings or list items set a level; comments and the continuation
    # lines of a long text do not.
    content = [(number, _indent(text), text.strip()) for number, text in
               enumerate(source[:line], 1) if _setting_name(text.strip()) is not None
               or text.strip().startswith("- ")]
    if len(content) < 2 or content[-1][0] != line:
        return None
    misplaced_item = _misplaced_item(path, content)
    if misplaced_item is not None:
        return misplaced_item
    (_, here, text), (before_number, before, before_text) = content[-1], content[-2]
    name = _setting_name(text)
    if name is None:
        return None
    levels = [_setting_indent(indent, body) for _, indent, body in content[:-1]]
    if here == levels[-1] and re.search(r":\s.*:(\s|$)", text):
        value = text.split(":", 1)[1].strip()
        return ConfigError(path, line, f"the value of '{name}' holds ': ', which YAML reads as "
                           "the start of another setting",
                           f"put the value in quotes: {name}: \"{value}\"")
    # A line that fell out of its block: less indented than the lines on both sides of it.
    if len(content) >= 3 and before < here and before < levels[-2] and _setting_name(
            before_text) is not None:
        wanted = levels[-2]
        return ConfigError(path, before_number, f"'{_setting_name(before_text)}' is indented "
                           f"by {before} space{'s' * (before != 1)}, but the settings around "
                           f"it by {wanted}", f"indent it by {wanted} spaces, like them")
    if here > levels[-1]:
        return ConfigError(path, line, f"'{name}' is indented further ({here} spaces) than "
                           f"the setting above it ({levels[-1]})",
                           f"indent it by {levels[-1]} spaces, like the line above, unless "
                           "the line above should hold it: then end that line with ':'")
    if here not in levels:
        return ConfigError(path, line, f"'{name}' is indented by {here} "
                           f"space{'s' * (here != 1)}, in line with none of the settings above "
                           "it", f"indent it by {levels[-1]} spaces, like the line above")
    return None


def _misplaced_item(path: Path, content: list[tuple[int, int, str]]) -> ConfigError | None:
    """A '- ' item among the last two lines that is not in line with the item before it."""
    items = [(index, indent) for index, (_, indent, body) in enumerate(content)
             if body.startswith("- ")]
    if len(items) < 2 or items[-1][0] < len(content) - 2:
        return None
    (last, indent), (previous, previous_indent) = items[-1], items[-2]
    between = [content[index][1] for index in range(previous + 1, last)]
    if indent == previous_indent or any(level < min(indent, previous_indent)
                                        for level in between):
        return None
    return ConfigError(path, content[last][0], f"this list item is indented by {indent} "
                       f"space{'s' * (indent != 1)}, but the item before it (line "
                       f"{content[previous][0]}) by {previous_indent}",
                       f"indent it by {previous_indent} spaces, like the items above it")


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _setting_indent(indent: int, body: str) -> int:
    """Where the settings of a line start: after the '- ' of a list item."""
    while body.startswith("- "):
        indent += 2
        body = body[2:].lstrip(" ")
    return indent


def _setting_name(body: str) -> str | None:
    match = re.match(r"^(?:- )*([A-Za-z_][\w-]*):", body)
    return match.group(1) if match else None


def line_of(lines: dict[YamlPath, int], loc: YamlPath) -> int | None:
    """The line of the deepest known ancestor of `loc`."""
    probe = tuple(loc)
    while probe:
        if probe in lines:
            return lines[probe]
        probe = probe[:-1]
    return lines.get(())


def validate(model: type[ModelT], data: Any, path: Path, lines: dict[YamlPath, int],
             *, fixes: dict[str, str] | None = None) -> ModelT:
    """Validate data against a pydantic model; raise ConfigErrors naming each line."""
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise ConfigErrors(explain(model, exc, data, path, lines, fixes or {})) from exc


# --------------------------------------------------------------------------------------------
# The model's tree of settings


def settings_tree(model: type[BaseModel]) -> dict[YamlPath, tuple[str, ...]]:
    """Every place a setting may be written, with the settings it holds:
    {(): ('requesters', 'limits', ...), ('limits',): ('max_message_mb',), ('steps', ITEM): ...}"""
    tree: dict[YamlPath, tuple[str, ...]] = {}

    def visit(current: type[BaseModel], here: YamlPath) -> None:
        if here in tree:
            return
        tree[here] = tuple(current.model_fields)
        for name, field in current.model_fields.items():
            for inner, depth in _models_in(field.annotation):
                visit(inner, here + (name,) + (ITEM,) * depth)

    visit(model, ())
    return tree


def _models_in(annotation: Any, depth: int = 0) -> Iterator[tuple[type[BaseModel], int]]:
    """The models an annotation holds, with how many lists deep: list[Step] -> (Step, 1)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, depth
        return
    origin = get_origin(annotation)
    nested = depth + 1 if origin in (list, tuple, set, frozenset) else depth
    if origin in (list, tuple, set, frozenset, Union, types.UnionType) or \
            (origin is not None and str(origin).endswith("Annotated")):
        for argument in get_args(annotation):
            yield from _models_in(argument, nested)


def _as_pattern(path: YamlPath) -> YamlPath:
    return tuple(ITEM if isinstance(part, int) else part for part in path)


def _parent_words(pattern: YamlPath) -> str:
    """How to say where a setting lives: "the top level", "'limits:'", "a step under
    'steps:'"."""
    if not pattern:
        return "the top level (no indentation)"
    if pattern[-1] == ITEM:
        named = [part for part in pattern if part != ITEM]
        return f"an item of '{named[-1]}:'" if named else "a list item"
    return f"'{pattern[-1]}:'"


# --------------------------------------------------------------------------------------------
# Validation errors in our own words


def explain(model: type[BaseModel], exc: ValidationError, data: Any, path: Path,
            lines: dict[YamlPath, int], fixes: dict[str, str]) -> list[ConfigError]:
    tree = settings_tree(model)
    errors = [(_data_path(err["loc"], data), err) for err in exc.errors()]
    misplaced = {loc: _home_of(loc, tree) for loc, err in errors
                 if err["type"] == "extra_forbidden"}
    explained: list[ConfigError] = []
    for loc, err in errors:
        if _empty_because_misplaced(loc, err, misplaced):
            continue  # "requesters: is empty" is the same mistake as the misplaced line
        explained.append(_explain_one(loc, err, data, tree, misplaced.get(loc), path, lines,
                                      fixes))
    return explained


def _data_path(loc: tuple[Any, ...], data: Any) -> YamlPath:
    """The error's location as keys and indexes of the YAML data, without pydantic's own
    markers (union members, validator names)."""
    here: Any = data
    kept: list[str | int] = []
    for part in loc:
        if (isinstance(here, dict) and part in here) or (
                isinstance(here, list) and isinstance(part, int) and 0 <= part < len(here)):
            kept.append(part)
            here = here[part]
        elif isinstance(part, str) and ("[" in part or "function-" in part or part in {
                "str", "int", "float", "bool", "list", "dict", "none", "literal"}):
            continue
        else:
            kept.append(part)  # a missing setting: the place it should be
            here = None
    return tuple(kept)


def _home_of(loc: YamlPath, tree: dict[YamlPath, tuple[str, ...]]) -> YamlPath | None:
    """Where an unknown setting would be known, when it is a setting of another parent."""
    key = loc[-1]
    here = _as_pattern(loc[:-1])
    homes = [parent for parent, names in tree.items() if key in names and parent != here]
    if not homes:
        return None
    # The nearest home: the one sharing the longest start with where it was written.
    return max(homes, key=lambda parent: (_shared(parent, here), -len(parent)))


def _shared(a: YamlPath, b: YamlPath) -> int:
    count = 0
    for left, right in zip(a, b, strict=False):
        if left != right:
            break
        count += 1
    return count


def _empty_because_misplaced(loc: YamlPath, err: Any,
                             misplaced: dict[YamlPath, YamlPath | None]) -> bool:
    if err.get("input", 0) is not None:
        return False
    return any(home is not None and _as_pattern(loc) == home[:len(loc)]
               for home in misplaced.values())


def _explain_one(loc: YamlPath, err: Any, data: Any, tree: dict[YamlPath, tuple[str, ...]],
                 home: YamlPath | None, path: Path, lines: dict[YamlPath, int],
                 fixes: dict[str, str]) -> ConfigError:
    key = str(loc[-1]) if loc else ""
    where = ".".join(str(part) for part in loc) or "the file"
    line = line_of(lines, loc)
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        problem, fix = _unknown_setting(loc, tree, home)
        return ConfigError(path, line, problem, fix)
    if kind == "missing":
        parent = _parent_words(_as_pattern(loc[:-1]))
        return ConfigError(path, line_of(lines, loc[:-1]),
                           f"'{where}' is required but missing (in {parent})",
                           fixes.get(key, f"add a line '{key}: ...' there"))
    problem, fix = _wrong_value(kind, err, value)
    # The file's own advice for a wrong value, unless the value is simply misspelt.
    if kind not in _STRUCTURE and not fix.startswith("did you mean"):
        fix = fixes.get(key) or fix
    return ConfigError(path, line, f"{where}: {problem}", fix)


# Errors about the shape of the file, where the generic fix is the right one.
_STRUCTURE = frozenset({"dict_type", "model_type", "model_attributes_type", "list_type"})


def _unknown_setting(loc: YamlPath, tree: dict[YamlPath, tuple[str, ...]],
                     home: YamlPath | None) -> tuple[str, str]:
    key = str(loc[-1])
    here = _as_pattern(loc[:-1])
    siblings = tree.get(here, ())
    if home is not None:
        home_words = _parent_words(home)
        written = f"under {_parent_words(here)}" if here else "at the top level"
        if not home:
            return (f"'{key}' belongs at the top level (no indentation), but it is written "
                    f"{written}", "remove the spaces in front of it")
        if home[:len(here)] == here and len(home) > len(here):
            how = f"indent it under {home_words}, like the settings beside it there"
        elif here[:len(home)] == home and len(here) > len(home):
            how = f"indent it less, in line with the other settings of {home_words}"
        else:
            how = f"move the line under {home_words}"
        return f"'{key}' belongs under {home_words}, but it is written {written}", how
    close = difflib.get_close_matches(key, siblings, n=1, cutoff=0.6)
    if close:
        return f"unknown setting '{key}'", f"did you mean '{close[0]}'?"
    elsewhere = {name: parent for parent, names in tree.items() for name in names}
    far = difflib.get_close_matches(key, list(elsewhere), n=1, cutoff=0.75)
    if far:
        return (f"unknown setting '{key}'",
                f"did you mean '{far[0]}'? It belongs under {_parent_words(elsewhere[far[0]])}")
    listed = ", ".join(siblings) if siblings else "none"
    return (f"unknown setting '{key}'",
            f"remove it; the settings of {_parent_words(here)} are: {listed}")


def _shown(value: Any) -> str:
    if value is None:
        return "nothing"
    text = str(value)
    return f"'{text if len(text) <= 60 else text[:57] + '...'}'"


def _choices(expected: str) -> list[str]:
    return re.findall(r"'([^']*)'", expected) or [part.strip() for part in re.split(
        r",| or ", expected) if part.strip()]


def _wrong_value(kind: str, err: Any, value: Any) -> tuple[str, str]:
    """(what is wrong, the fix) for a value of the wrong type or out of range."""
    ctx = err.get("ctx") or {}
    if kind in ("literal_error", "enum"):
        choices = _choices(str(ctx.get("expected", "")))
        close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.5)
        fix = f"did you mean '{close[0]}'?" if close else f"use one of: {', '.join(choices)}"
        return f"{_shown(value)} is not one of the choices ({', '.join(choices)})", fix
    if kind in ("bool_type", "bool_parsing"):
        return f"{_shown(value)} is not true or false", "write true or false"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{_shown(value)} is not a whole number", "write a whole number, e.g. 10"
    if kind in ("float_type", "float_parsing"):
        return f"{_shown(value)} is not a number", "write a number, e.g. 25"
    bounds = {"greater_than": ("more than", "gt"), "greater_than_equal": ("at least", "ge"),
              "less_than": ("less than", "lt"), "less_than_equal": ("at most", "le")}
    if kind in bounds:
        words, name = bounds[kind]
        limit = ctx.get(name)
        limit = f"{limit:g}" if isinstance(limit, float) else limit
        return f"{_shown(value)} is out of range: it must be {words} {limit}", \
            f"write a number {words} {limit}"
    if kind in ("too_short", "string_too_short"):
        if isinstance(value, str) or kind == "string_too_short":
            return "is empty", "write something after the ':'"
        return "has no items", f"list at least {ctx.get('min_length', 1)} item(s)"
    if kind == "too_long":
        return f"has too many items (at most {ctx.get('max_length')})", "remove some items"
    if kind == "list_type":
        return (f"should be a list, not {_shown(value)}",
                f"write it as [{value}] or with one '- item' per line" if isinstance(
                    value, str | int | float) else "write it as a list of '- item' lines")
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        if value is None:
            return "has nothing under it", "indent its settings under it, or remove the line"
        if isinstance(value, str) and re.search(r":\S", value):
            return (f"should hold settings, but holds the text {_shown(value)}",
                    "put a space after each ':'")
        return (f"should hold settings ('name: value' lines indented under it), not "
                f"{_shown(value)}", "indent its settings under it, one per line")
    if kind == "string_type":
        return f"{_shown(value)} should be text", f"put it in quotes: \"{value}\""
    if kind == "string_pattern_mismatch":
        return (f"{_shown(value)} may only hold lower-case letters, digits and underscores"
                if "a-z" in str(ctx.get("pattern", "")) else f"{_shown(value)} is not "
                "written the expected way", "e.g. customer_intro")
    if kind in ("time_parsing", "time_type"):
        return f"{_shown(value)} is not a time of day", "write it in quotes, like '09:30'"
    if kind in ("date_parsing", "date_type", "date_from_datetime_parsing"):
        return f"{_shown(value)} is not a date", "write it as YYYY-MM-DD"
    message = str(err.get("msg", ""))
    for jargon in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(jargon)
    message = message.replace("Input should be a valid ", "should be a ").replace(
        "Input should be ", "should be ")
    return message, "correct the value on that line"
