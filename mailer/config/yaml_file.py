"""Load a YAML configuration file and validate it, with errors that name file, line and fix.

Validation is done by pydantic models; this module keeps a map from each YAML path
(e.g. ("steps", 3, "template")) to the line it was written on, so a validation error
can point the CS ops person at the exact line to change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from mailer.errors import ConfigError, ConfigErrors

ModelT = TypeVar("ModelT", bound=BaseModel)
# libyaml's loader is twenty times faster; the pure-Python one is the fallback.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
YamlPath = tuple[str | int, ...]


def load_yaml_with_lines(path: Path) -> tuple[Any, dict[YamlPath, int]]:
    """Parse YAML, returning the data and a map of each node's path to its 1-based line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, None, f"cannot be read ({exc.strerror})",
                          "check the path and the file's permissions") from exc
    try:
        node = yaml.compose(text, Loader=_LOADER)
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(path, line, f"is not valid YAML: {exc.problem}",
                          "check indentation, colons and quotes on that line") from exc
    lines: dict[YamlPath, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def _walk(node: yaml.Node, here: YamlPath, lines: dict[YamlPath, int]) -> None:
    lines[here] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[here + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, here + (key,), lines)
            lines[here + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, here + (index,), lines)


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
        raise ConfigErrors([_as_config_error(err, path, lines, fixes or {})
                            for err in exc.errors()]) from exc


def _as_config_error(err: Any, path: Path, lines: dict[YamlPath, int],
                     fixes: dict[str, str]) -> ConfigError:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    where = ".".join(str(p) for p in loc) or "top level"
    kind = err["type"]
    if kind == "extra_forbidden":
        problem = f"unknown setting '{loc[-1]}'"
        fix = fixes.get(str(loc[-1]), "remove it or correct its spelling")
    elif kind == "missing":
        problem = f"'{where}' is required but missing"
        fix = fixes.get(str(loc[-1]) if loc else "", f"add '{loc[-1]}:'" if loc else "")
    else:
        problem = f"{where}: {err['msg']}"
        fix = fixes.get(str(loc[-1]) if loc else "", "")
    return ConfigError(path, line_of(lines, loc), problem, fix)
