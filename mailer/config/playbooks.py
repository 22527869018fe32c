"""Reading `playbooks/*.yaml`: every mistake reported with the file, the line and the fix.

CS operations staff edit these files, so all mistakes are reported in one pass, in their
words: the step's id rather than its index, the closest spelling of an unknown setting.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mailer.config.yaml_file import YamlPath, line_of, load_yaml_with_lines, validate
from mailer.errors import ConfigError, ConfigErrors
from mailer.handoff.model import TransitionType
from mailer.handoff.playbooks import (
    CHECKIN_OFFSET,
    CONDITIONS,
    MEETING_ANCHORS,
    MEETING_TITLE_PLACES,
    NAMED_ANCHORS,
    OPENING_THREADS,
    PHASES,
    Playbook,
    StepSpec,
)

_TOP_SETTINGS = tuple(Playbook.model_fields)
_STEP_SETTINGS = tuple(StepSpec.model_fields)
_FIXES: dict[str, str] = {
    "offset": "write it like '2 business days', '-3 business days', '1 day', '60 days' "
              f"or '{CHECKIN_OFFSET}'",
    "meeting_offset": "write it like '2 business days' or '0 days'",
    "anchor": f"use one of {', '.join(NAMED_ANCHORS)} or step:<id of another step>",
    "meeting_anchor": f"use one of {', '.join(MEETING_ANCHORS)}",
    "condition": f"use one of {', '.join(CONDITIONS)}, or remove the line",
    "stops_when": f"use one of {', '.join(CONDITIONS)}, or remove the line",
    "at": "write a local time in quotes, like at: '09:30'",
    "meeting_at": "write a local time in quotes, like meeting_at: '10:00'",
    "phase": f"use one of {', '.join(PHASES)}",
    "sender": "use one of assistant, manager, outgoing, incoming",
    "to": "list roles among manager, outgoing, incoming, customer, like to: [customer]",
    "cc": "list roles among manager, outgoing, incoming, customer, like cc: [incoming]",
    "type": "use soft, hard or abrupt",
    "checkin_days": "choose a number of days from 60 to 90",
    "book_questionnaire": "use separate (one questionnaire per account) or combined (one form "
                          "with a sheet per account)",
    "required_sections": "list questionnaire section numbers from 1 to 12, like [1, 2, 4]",
    "id": "use lower-case letters, digits and underscores, like customer_intro",
    "name": "use lower-case letters, digits and underscores, like soft",
    "template": "use the name of a file in templates/ without its extension, like customer_intro",
    "on_silence": "use send or skip",
    "silence_business_days": "choose a number of business days from 1 to 20",
    "kind": "use email or meeting",
    "duration_minutes": "choose a number of minutes from 5 to 480",
    "steps": "add at least one step under 'steps:'",
    "follows": f"use {' or '.join(OPENING_THREADS)}, or the id of an earlier step",
}


def load_playbooks(directory: Path) -> dict[str, Playbook]:
    """Every `*.yaml` playbook in `directory`, by name; all problems raised together."""
    if not directory.is_dir():
        raise ConfigErrors([ConfigError(directory, None, "is not a folder of playbooks",
                                        "set MAILER_PLAYBOOKS to the playbooks folder")])
    problems: list[ConfigError] = []
    playbooks: dict[str, Playbook] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            playbook = load_playbook(path)
        except ConfigError as exc:
            problems.append(exc)
            continue
        except ConfigErrors as exc:
            problems.extend(exc.errors)
            continue
        if playbook.name in playbooks:
            first = playbooks[playbook.name].source
            problems.append(ConfigError(
                path, line_of(playbook._lines, ("name",)),
                f"the name '{playbook.name}' is already used by {first}",
                "give each playbook its own name"))
            continue
        playbooks[playbook.name] = playbook
    problems.extend(_missing_types(directory, playbooks, failed=bool(problems)))
    if problems:
        raise ConfigErrors(problems)
    return playbooks


def load_playbook(path: Path) -> Playbook:
    """One playbook file, validated in full."""
    data, lines = load_yaml_with_lines(path)
    if not isinstance(data, dict):
        raise ConfigError(path, 1, "should be a set of settings (name:, type:, steps:)",
                          "start from one of the shipped playbooks, e.g. playbooks/soft.yaml")
    try:
        playbook = validate(Playbook, data, path, lines,
                            fixes={**_FIXES, **_spelling_fixes(data)})
    except ConfigErrors as exc:
        misspelt = _misspelt_settings(data)
        raise ConfigErrors([_name_the_step(error, data) for error in exc.errors
                            if _missing_setting(error) not in misspelt]) from exc
    problems = _step_problems(playbook, path, lines)
    if problems:
        raise ConfigErrors(problems)
    playbook._source = path
    playbook._lines = lines
    return playbook


def _name_the_step(error: ConfigError, data: dict[str, Any]) -> ConfigError:
    """Say "step 'customer_intro': offset" rather than "steps.6.offset"."""
    match = re.match(r"^'?steps\.(\d+)\.", error.problem)
    steps = data.get("steps")
    if match is None or not isinstance(steps, list) or int(match.group(1)) >= len(steps):
        return error
    step = steps[int(match.group(1))]
    step_id = step.get("id") if isinstance(step, dict) else None
    name = f"step '{step_id}'" if isinstance(step_id, str) else f"step {int(match.group(1)) + 1}"
    rest = error.problem[match.end():]
    problem = f"{name}: '{rest}" if error.problem.startswith("'") else f"{name}: {rest}"
    return ConfigError(error.path, error.line, problem, error.fix)


def _missing_setting(error: ConfigError) -> str | None:
    """'steps.6.template' for "'steps.6.template' is required but missing", else None."""
    match = re.match(r"'(.+)' is required but missing", error.problem)
    return match.group(1) if match else None


def _misspelt_settings(data: dict[str, Any]) -> set[str]:
    """Where a required setting is only missing because it was misspelt (e.g. 'tempate'):
    the unknown-setting error already says what to fix, so "missing" would be noise."""
    places: list[tuple[str, dict[Any, Any], tuple[str, ...]]] = [("", data, _TOP_SETTINGS)]
    steps = data.get("steps")
    if isinstance(steps, list):
        places += [(f"steps.{index}.", step, _STEP_SETTINGS)
                   for index, step in enumerate(steps) if isinstance(step, dict)]
    misspelt: set[str] = set()
    for prefix, settings, known in places:
        for key in settings:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            if key not in known and close and close[0] not in settings:
                misspelt.add(prefix + close[0])
    return misspelt


def _spelling_fixes(data: dict[str, Any]) -> dict[str, str]:
    """For each unknown setting, the known one it was most likely meant to be."""
    fixes: dict[str, str] = {}
    _suggest(data, _TOP_SETTINGS, fixes)
    for step in data.get("steps") or []:
        if isinstance(step, dict):
            _suggest(step, _STEP_SETTINGS, fixes)
    return fixes


def _suggest(settings: dict[Any, Any], known: tuple[str, ...], fixes: dict[str, str]) -> None:
    for key in settings:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        fixes[str(key)] = (f"did you mean '{close[0]}'?" if close
                           else f"remove it; the settings here are: {', '.join(known)}")


def _missing_types(directory: Path, playbooks: Mapping[str, Playbook], *,
                   failed: bool) -> list[ConfigError]:
    # A broken file already explains why its type is missing; do not say it twice.
    if failed:
        return []
    present = {playbook.type for playbook in playbooks.values()}
    return [ConfigError(directory, None, f"no playbook handles '{kind}' transitions",
                        f"add a playbook with 'type: {kind}' (copy one of the shipped ones)")
            for kind in TransitionType if kind not in present]


def _step_problems(playbook: Playbook, path: Path,
                   lines: dict[YamlPath, int]) -> list[ConfigError]:
    """Rules that span settings or steps, each pinned to the line to change."""
    problems: list[ConfigError] = []
    ids: set[str] = set()
    for index, step in enumerate(playbook.steps):
        def at(setting: str, index: int = index) -> int | None:
            return line_of(lines, ("steps", index, setting))

        if step.id in ids:
            problems.append(ConfigError(path, at("id"), f"step id '{step.id}' is used twice",
                                        "give each step its own id"))
        ids.add(step.id)
        problems.extend(ConfigError(path, at(setting), problem, fix)
                        for setting, problem, fix in _setting_conflicts(step))
    known = {step.id for step in playbook.steps}
    for index, step in enumerate(playbook.steps):
        follows = step.follows if step.follows not in OPENING_THREADS else None
        for setting, target in (("anchor", step.depends_on), ("on_no_answer", step.on_no_answer),
                                ("follows", follows)):
            if target is not None and target not in known:
                problems.append(ConfigError(
                    path, line_of(lines, ("steps", index, setting)),
                    f"step '{step.id}' refers to a step '{target}' that does not exist",
                    _closest_step_fix(target, known)))
    if len(ids) == len(playbook.steps):  # with a duplicate id, "which step waits" is ambiguous
        problems.extend(_cycles(playbook, path, lines))
    return problems


def _closest_step_fix(target: str, known: set[str]) -> str:
    close = difflib.get_close_matches(target, sorted(known), n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"use the id of a step in this file: {', '.join(sorted(known))}"


def _setting_conflicts(step: StepSpec) -> Iterable[tuple[str, str, str]]:
    """(setting, problem, fix) for settings that contradict each other within a step."""
    humans = "manager, outgoing or incoming"
    if step.customer_facing and step.sender == "assistant":
        yield ("sender", "mail to the customer must go out in a person's name",
               f"set sender to {humans}")
    if step.approval and not step.customer_facing:
        yield ("approval", "approval only applies to mail that goes to the customer",
               "remove 'approval: true', or add customer to 'to'")
    if step.approval and step.sender == "assistant":
        yield ("approval", "the sender approves the draft, and the assistant cannot",
               f"set sender to {humans}")
    if step.approval and (step.on_silence is None or step.silence_business_days is None):
        yield ("approval", "an approval step must say what happens when the sender stays silent",
               "add 'on_silence: send' (or skip) and 'silence_business_days: 2'")
    for setting in ("on_silence", "silence_business_days"):
        if getattr(step, setting) is not None and not step.approval:
            yield (setting, f"'{setting}' only applies to a step with approval",
                   "add 'approval: true' or remove this line")
    if step.kind == "meeting" and step.meeting_offset is None:
        yield ("kind", "a meeting step must say when the meeting takes place",
               "add 'meeting_offset:' (e.g. '2 business days'), and optionally "
               "'meeting_anchor:' and 'meeting_at:'")
    if step.meeting_title is not None:
        unknown = set(re.findall(r"\{(\w*)\}", step.meeting_title)) - set(MEETING_TITLE_PLACES)
        if unknown:
            yield ("meeting_title", f"'{{{sorted(unknown)[0]}}}' is not something a meeting "
                   "title can name", "use " + ", ".join(f"{{{p}}}" for p in MEETING_TITLE_PLACES))
    if step.kind == "email":
        for setting in ("duration_minutes", "meeting_anchor", "meeting_offset", "meeting_at",
                        "meeting_title", "meeting_location"):
            if getattr(step, setting) is not None:
                yield (setting, f"'{setting}' only applies to meeting steps",
                       "add 'kind: meeting' or remove this line")
    if step.meeting_offset is not None and step.meeting_offset.uses_checkin_days:
        yield ("meeting_offset", f"'{CHECKIN_OFFSET}' is only meant for a step's offset",
               "write a number of days, like '2 business days'")
    if step.condition is not None and step.condition == step.stops_when:
        yield ("stops_when", "the step would stop the moment it may go out",
               "use a different condition for 'stops_when', or remove one of them")


def _cycles(playbook: Playbook, path: Path, lines: dict[YamlPath, int]) -> list[ConfigError]:
    """Steps that, through their anchors, wait for each other and so could never go out."""
    index_of = {step.id: index for index, step in enumerate(playbook.steps)}
    waits_for = {step.id: step.depends_on for step in playbook.steps
                 if step.depends_on in index_of}
    reported: set[frozenset[str]] = set()
    problems: list[ConfigError] = []
    for start in waits_for:
        chain = [start]
        while (following := waits_for.get(chain[-1])) is not None and following not in chain:
            chain.append(following)
        if following is None:
            continue
        loop = chain[chain.index(following):]
        if frozenset(loop) in reported:
            continue
        reported.add(frozenset(loop))
        first = min(loop, key=index_of.__getitem__)
        rotated = loop[loop.index(first):] + loop[:loop.index(first)]
        if len(loop) == 1:
            problem = f"step '{first}' waits for itself, so it can never go out"
        else:
            shown = ", which waits for ".join(f"'{step_id}'" for step_id in [*rotated, first])
            problem = f"steps wait for each other in a loop: {shown}; none of them can go out"
        problems.append(ConfigError(
            path, line_of(lines, ("steps", index_of[first], "anchor")), problem,
            f"anchor '{first}' on {', '.join(NAMED_ANCHORS)} or an earlier step"))
    return problems


def missing_templates(playbooks: Mapping[str, Playbook],
                      available: Iterable[str]) -> list[ConfigError]:
    """A ConfigError, on the step's template line, for each template that does not exist."""
    have = sorted(set(available))
    return [_unknown_template(playbook.source or playbook.name,
                              line_of_step(playbook, step.id, "template"), step.id,
                              step.template, have)
            for playbook in playbooks.values() for step in playbook.steps
            if step.template not in have]


def unknown_templates(path: Path, available: Iterable[str]) -> list[ConfigError]:
    """The same, read from the file as written: a playbook with other mistakes (which stop it
    from loading) still has its template names checked in the same run."""
    try:
        data, lines = load_yaml_with_lines(path)
    except (ConfigError, ConfigErrors):
        return []  # the file cannot be read at all; that is reported on its own
    steps = data.get("steps") if isinstance(data, dict) else None
    have = sorted(set(available))
    problems = []
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        template = step.get("template") if isinstance(step, dict) else None
        if isinstance(template, str) and template not in have:
            step_id = step.get("id") if isinstance(step.get("id"), str) else f"{index + 1}"
            problems.append(_unknown_template(path, line_of(lines, ("steps", index, "template")),
                                              step_id, template, have))
    return problems


def _unknown_template(path: Path | str, line: int | None, step_id: str, template: str,
                      have: list[str]) -> ConfigError:
    close = difflib.get_close_matches(template, have, n=1, cutoff=0.6)
    fix = (f"did you mean '{close[0]}'?" if close
           else f"add a template named '{template}' to templates/, or use one that exists")
    return ConfigError(path, line, f"step '{step_id}' uses a template '{template}' that does "
                       "not exist", fix)


def line_of_step(playbook: Playbook, step_id: str, setting: str = "id") -> int | None:
    """The line a step's setting was written on, for messages that point into the file."""
    for index, spec in enumerate(playbook.steps):
        if spec.id == step_id:
            return line_of(playbook._lines, ("steps", index, setting))
    return None
