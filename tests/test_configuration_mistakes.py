"""A CS-ops person edits inbox_rules.yaml, a playbook or a template, makes one of the mistakes
people make in such files, and runs `mailer check`: each answer names the file and the line,
says what is wrong in plain words and how to fix it, with no parser or library wording."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mailer.check import check_configuration
from mailer.config.settings import SHIPPED_DEFAULTS, load_settings
from mailer.errors import ConfigError, ConfigErrors

JARGON = ("Input should", "Value error", "Field required", "Extra inputs", "type=", "pydantic",
          "mapping values", "scalar", "token", "Jinja", "block end", "end of stream", "dict",
          "instance of", "[type")


def check(folder: Path, env: dict[str, str] | None = None) -> list[str]:
    """What `mailer check` reports for the configuration in `folder`, as it prints it."""
    settings = load_settings(env or {}, cwd=folder)
    found = check_configuration(settings)
    for problem in found:
        assert not any(word in str(problem) for word in JARGON), problem
        assert problem.fix, f"no fix given: {problem}"
    return [problem.seen_from(folder) for problem in found]


def rules(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "inbox_rules.yaml").write_text(text)
    return check(tmp_path)


@pytest.fixture
def own_copy(tmp_path: Path) -> Path:
    """The operator's folder with their own copy of the playbooks and templates."""
    shutil.copytree(SHIPPED_DEFAULTS / "playbooks", tmp_path / "playbooks")
    shutil.copytree(SHIPPED_DEFAULTS / "templates", tmp_path / "templates")
    return tmp_path


def edit(path: Path, old: str, new: str) -> int:
    """Replace the first `old` with `new`; the line number where it was."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path.name}"
    at = text.index(old)
    path.write_text(text[:at] + new + text[at + len(old):], encoding="utf-8")
    return text[:at].count("\n") + 1


# --- inbox_rules.yaml ---------------------------------------------------------------------

RULE_MISTAKES = [
    pytest.param(
        "requesters:\n\tdomains: [example.com]\n",
        "inbox_rules.yaml:2: this line has a tab where YAML needs spaces (fix: replace the tab "
        "with spaces: YAML only accepts spaces, two for each level)", id="a tab"),
    pytest.param(
        "requesters:\n  domains: [example.com]\n  max_message_mb: 10\n",
        "inbox_rules.yaml:3: 'max_message_mb' belongs under 'limits:', but it is written under "
        "'requesters:' (fix: move the line under 'limits:')",
        id="a setting under the wrong parent"),
    pytest.param(
        "requesters:\ndomains: [example.com]\n",
        "inbox_rules.yaml:2: 'domains' belongs under 'requesters:', but it is written at the top "
        "level (fix: indent it under 'requesters:', like the settings beside it there)",
        id="a setting not indented"),
    pytest.param(
        "requesters:\n  domains: [example.com]\n  limits:\n    max_message_mb: 10\n",
        "inbox_rules.yaml:3: 'limits' belongs at the top level (no indentation), but it is "
        "written under 'requesters:' (fix: remove the spaces in front of it)",
        id="a section indented into another"),
    pytest.param(
        "authentication:\n  require_pass: true\n    trusted_servers: [mx.example.com]\n",
        "inbox_rules.yaml:3: 'trusted_servers' is indented further (4 spaces) than the setting "
        "above it (2) (fix: indent it by 2 spaces, like the line above, unless the line above "
        "should hold it: then end that line with ':')", id="indented one level too far"),
    pytest.param(
        "requesters:\n  domains: [example.com]\n addresses: [dana@example.com]\n",
        "inbox_rules.yaml:3: 'addresses' is indented by 1 space, in line with none of the "
        "settings above it (fix: indent it by 2 spaces, like the line above)",
        id="indented by one space"),
    pytest.param(
        "authentication:\n  require_pass: yes please\n",
        "inbox_rules.yaml:2: authentication.require_pass: 'yes please' is not true or false "
        "(fix: write true or false)", id="not true or false"),
    pytest.param(
        "limits:\n  max_message_mb: ten\n",
        "inbox_rules.yaml:2: limits.max_message_mb: 'ten' is not a number (fix: write a number "
        "of megabytes, e.g. 25)", id="a word for a number"),
    pytest.param(
        "limits:\n  max_message_mb: 0\n",
        "inbox_rules.yaml:2: limits.max_message_mb: '0' is out of range: it must be more than 0 "
        "(fix: write a number of megabytes, e.g. 25)", id="out of range"),
    pytest.param(
        "requesters:\n  addresses: dana@example.com\n",
        "inbox_rules.yaml:2: requesters.addresses: should be a list, not 'dana@example.com' "
        "(fix: write it as [dana@example.com] or with one '- item' per line)",
        id="one address instead of a list"),
    pytest.param(
        "requesters:\n  addresses: [dana.example.com]\n",
        "inbox_rules.yaml:2: requesters.addresses: 'dana.example.com' is not an email address "
        "(fix: write an address like dana@example.com)", id="not an address"),
    pytest.param(
        "requestors:\n  domains: [example.com]\n",
        "inbox_rules.yaml:1: unknown setting 'requestors' (fix: did you mean 'requesters'?)",
        id="misspelt"),
    pytest.param(
        "requesters:\n  max_mesage_mb: 3\n",
        "inbox_rules.yaml:2: unknown setting 'max_mesage_mb' (fix: did you mean "
        "'max_message_mb'? It belongs under 'limits:')", id="misspelt and misplaced"),
    pytest.param(
        "requesters:\n  domains:[example.com]\n",
        "inbox_rules.yaml:1: requesters: should hold settings, but holds the text "
        "'domains:[example.com]' (fix: put a space after each ':')", id="no space after colon"),
    pytest.param(
        "requesters:\n  domains: [example.com\nlimits: {}\n",
        "inbox_rules.yaml:3: a list in [ ] is not closed, or its items are not separated by "
        "commas (fix: write it as [first, second] on one line)", id="an unclosed bracket"),
    pytest.param(
        "ignore:\n  subject_contains: [\"URGENT]\nlimits: {}\n",
        "inbox_rules.yaml:2: a quote is opened but never closed (fix: close the quote on the "
        "same line)", id="an unclosed quote"),
    pytest.param(
        "ignore:\n  subject_contains: [*SPAM*]\n",
        "inbox_rules.yaml:2: a value starts with * or &, which YAML reserves (fix: put the "
        "value in quotes, e.g. \"*URGENT*\")", id="a star"),
    pytest.param(
        "ignore:\n  senders: @noreply.example.com\n",
        "inbox_rules.yaml:2: a value starts with a character YAML reserves (@ ` % or |) (fix: "
        "put the value in quotes, e.g. \"@example.com\")", id="an at sign"),
    pytest.param(
        "requesters:\n  domains: [example.com]\nrequesters:\n  addresses: [x@example.org]\n",
        "inbox_rules.yaml:3: 'requesters' is written twice (also on line 1), so only one of them "
        "would count (fix: merge the two into one 'requesters:')", id="a section twice"),
    pytest.param(
        "requesters:\n  domains:\n  - example.com\n    - example.org\n",
        "inbox_rules.yaml:4: this line is indented further than the line above, so YAML reads "
        "both as the one value 'example.com - example.org' (fix: line it up with the items or "
        "settings it belongs with)", id="a list item indented further"),
    pytest.param(
        "ignore:\n  senders: [robot@example.com]\n  subject_contains: Re: weekly report\n",
        "inbox_rules.yaml:3: the value of 'subject_contains' holds ': ', which YAML reads as the "
        "start of another setting (fix: put the value in quotes: subject_contains: \"Re: weekly "
        "report\")", id="a colon in a value"),
    pytest.param(
        "limits:\n",
        "inbox_rules.yaml:1: limits: has nothing under it (fix: indent its settings under it, "
        "or remove the line)", id="an empty section"),
]


@pytest.mark.parametrize(("text", "expected"), RULE_MISTAKES)
def test_a_mistake_in_the_inbox_rules_is_explained(tmp_path, text, expected):
    assert rules(tmp_path, text) == [expected]


# --- playbooks ----------------------------------------------------------------------------

PLAYBOOK_MISTAKES = [
    pytest.param("template: kt_meeting_invite", "template: kt_meting_invite",
                 "step 'kt_meeting_invite' uses a template 'kt_meting_invite' that does not "
                 "exist (fix: did you mean 'kt_meeting_invite'?)", id="an unknown template"),
    pytest.param("type: soft", "type: sofft",
                 "type: 'sofft' is not one of the choices (soft, hard, abrupt) (fix: did you "
                 "mean 'soft'?)", id="a wrong choice"),
    pytest.param("    sender: assistant", "    sender: customer",
                 "step 'questionnaire_reminder_1': sender: 'customer' is not one of the choices "
                 "(assistant, manager, outgoing, incoming) (fix: use one of assistant, manager, "
                 "outgoing, incoming)", id="a role that cannot send"),
    pytest.param("    template: questionnaire_reminder", "template: questionnaire_reminder",
                 "'template' is indented by 0 spaces, but the settings around it by 4 (fix: "
                 "indent it by 4 spaces, like them)", id="a step setting pushed to the margin"),
    pytest.param("    template: questionnaire_reminder", "  template: questionnaire_reminder",
                 "'template' is indented by 2 spaces, in line with none of the settings above "
                 "it (fix: indent it by 4 spaces, like the line above)",
                 id="a step setting indented by two"),
    pytest.param("  - id: questionnaire_reminder_2", "    - id: questionnaire_reminder_2",
                 "this list item is indented by 4 spaces, but the item before it (line 43) by 2 "
                 "(fix: indent it by 2 spaces, like the items above it)", id="a step indented"),
    pytest.param("    template: questionnaire_reminder", "    tempate: questionnaire_reminder",
                 "unknown setting 'tempate' (fix: did you mean 'template'?)", id="misspelt"),
    pytest.param("    title: First reminder", "    title: Reminder: first",
                 "the value of 'title' holds ': ', which YAML reads as the start of another "
                 "setting (fix: put the value in quotes: title: \"Reminder: first to finish the "
                 "handoff questionnaire\")", id="a colon in a title"),
    pytest.param("    postpone_on_out_of_office: true", "    postpone_on_out_of_office: maybe",
                 "step 'questionnaire_reminder_1': postpone_on_out_of_office: 'maybe' is not "
                 "true or false (fix: write true or false)", id="not true or false"),
    pytest.param("    offset: 2 business days", "    offset: 2 busines days",
                 "step 'questionnaire_reminder_1': offset: cannot read the offset '2 busines "
                 "days' (fix: write it like '2 business days', '-3 business days', '1 day', "
                 "'60 days' or 'checkin_days')", id="an offset misspelt"),
    pytest.param("type: soft", "type: soft\ntemplate: customer_intro",
                 "'template' belongs under an item of 'steps:', but it is written at the top "
                 "level (fix: indent it under an item of 'steps:', like the settings beside it "
                 "there)", id="a step setting at the top"),
]


@pytest.mark.parametrize(("old", "new", "expected"), PLAYBOOK_MISTAKES)
def test_a_mistake_in_a_playbook_is_explained(own_copy, old, new, expected):
    soft = own_copy / "playbooks" / "soft.yaml"
    line = edit(soft, old, new) + new.count("\n")  # the mistake is on the last line written
    assert check(own_copy) == [f"playbooks/soft.yaml:{line}: {expected}"]


def test_a_template_is_checked_even_in_a_playbook_with_other_mistakes(own_copy):
    soft = own_copy / "playbooks" / "soft.yaml"
    kind = edit(soft, "type: soft", "type: sofft")
    template = edit(soft, "template: kt_meeting_invite", "template: kt_meting_invite")
    assert check(own_copy) == [
        f"playbooks/soft.yaml:{kind}: type: 'sofft' is not one of the choices (soft, hard, "
        "abrupt) (fix: did you mean 'soft'?)",
        f"playbooks/soft.yaml:{template}: step 'kt_meeting_invite' uses a template "
        "'kt_meting_invite' that does not exist (fix: did you mean 'kt_meeting_invite'?)"]


# --- templates ----------------------------------------------------------------------------

TEMPLATE_MISTAKES = [
    pytest.param("{% if %}yes{% endif %}", 3, "a {% %} tag is missing what it should test (fix: "
                 "write e.g. {% if customer_contacts %} ... {% endif %})", id="an empty if"),
    pytest.param("Hello\n{% if account %}\nyes\n", 4, "this {% if %} is never closed (fix: add "
                 "{% endif %} where its part of the email ends)", id="an if never closed"),
    pytest.param("Hello {{ account\nmore text\n", 3, "a {{ placeholder is never closed (fix: "
                 "close it with }} on the same line)", id="a placeholder never closed"),
    pytest.param("{{ account name }}", 3, "a placeholder holds more than one word (at 'name') "
                 "(fix: a name has no spaces, like {{ account }} or {{ incoming.display }})",
                 id="two words in a placeholder"),
    pytest.param("{% iff account %}x{% endif %}", 3, "{% iff %} is not a tag templates know "
                 "(fix: did you mean {% if %}?)", id="a misspelt tag"),
    pytest.param("x{% endif %}", 3, "{% endif %} closes a {% if %} that was never opened (fix: "
                 "remove it, or add the {% if ... %} it belongs to)", id="an endif alone"),
    pytest.param("{{ acount }}", 3, "'acount' is not a value the assistant fills in (fix: did "
                 "you mean 'account'?)", id="a misspelt placeholder"),
    pytest.param("{{ effective_date | dat }}", 3, "there is no '| dat' filter (fix: did you "
                 "mean '| date'?)", id="a misspelt filter"),
]


@pytest.mark.parametrize(("body", "line", "expected"), TEMPLATE_MISTAKES)
def test_a_mistake_in_a_template_is_explained(own_copy, body, line, expected):
    (own_copy / "templates" / "status.md.j2").write_text(f"subject: Status\n---\n{body}\n")
    assert check(own_copy) == [f"templates/status.md.j2:{line}: {expected}"]


def test_a_placeholder_from_another_product_lists_what_this_template_offers(own_copy):
    accepted = own_copy / "templates" / "request_accepted.md.j2"
    edit(accepted, "{{ tid }}", "{{ ticket_number }}")
    (found,) = check(own_copy)
    assert found.startswith("templates/request_accepted.md.j2:1: 'ticket_number' is not a value "
                            "the assistant fills in (fix: the shipped request_accepted.md.j2 "
                            "uses: account, ")
    assert "tid" in found


def test_a_mistake_in_the_layout_is_named_once_beside_a_broken_template(own_copy):
    """The layout every mail shares is checked once, not once for each template, and a
    mistake in the first template checked does not hide one in the layout."""
    first = sorted((own_copy / "templates").glob("*.md.j2"))[0]
    first.write_text("subject: Hello\n---\n{% iff account %}x{% endif %}\n")
    layout = own_copy / "templates" / "_layout.html.j2"
    line = layout.read_text().count("\n") + 1
    layout.write_text(layout.read_text() + "{% if %}yes{% endif %}\n")
    assert check(own_copy) == [
        f"templates/{first.name}:3: {{% iff %}} is not a tag templates know (fix: did you "
        "mean {% if %}?)",
        f"templates/_layout.html.j2:{line}: a {{% %}} tag is missing what it should test (fix: "
        "write e.g. {% if customer_contacts %} ... {% endif %})"]


def test_a_template_without_its_subject_line(own_copy):
    (own_copy / "templates" / "status.md.j2").write_text("Hello {{ account }}\n")
    assert check(own_copy) == [
        "templates/status.md.j2:1: a template starts with a 'subject:' line and a '---' line "
        "(fix: add e.g. 'subject: Hello {{ account }}' and '---' on top)"]


def test_a_template_the_assistant_sends_itself_is_missing_from_their_folder(own_copy):
    (own_copy / "templates" / "canary.md.j2").unlink()
    assert check(own_copy) == [
        "templates/canary.md.j2: is missing: the assistant sends this mail itself (fix: copy it "
        f"from {SHIPPED_DEFAULTS / 'templates' / 'canary.md.j2'})"]


# --- the environment ----------------------------------------------------------------------

def test_every_wrong_variable_is_named_at_once(tmp_path):
    with pytest.raises(ConfigErrors) as caught:
        load_settings({"MAILER_TIMEZONE": "Europe/Berln", "MAILER_DIGEST_DAY": "funday",
                       "MAILER_IMAP_URL": "imap://dana:hunter2@mail.example.com/INBOX"},
                      cwd=tmp_path)
    assert [str(error) for error in caught.value.errors] == [
        "MAILER_TIMEZONE: unknown time zone 'Europe/Berln' (fix: did you mean Europe/Berlin?)",
        "MAILER_IMAP_URL: contains a password (fix: put secrets in MAILER_IMAP_PASSWORD / "
        "MAILER_SMTP_PASSWORD instead)",
        "MAILER_DIGEST_DAY: 'funday' is not a day of the week (fix: write a weekday such as "
        "monday (the default) or tue)"]
    assert "hunter2" not in str(caught.value)


def test_one_wrong_variable_is_a_single_error(tmp_path):
    with pytest.raises(ConfigError, match="MAILER_WATCHDOG_MINUTES: 'often' is not a whole"):
        load_settings({"MAILER_WATCHDOG_MINUTES": "often"}, cwd=tmp_path)


@pytest.mark.parametrize("value", ["0", "11", "three", "-2", "2.5"])
def test_a_number_of_smtp_connections_the_product_cannot_use_is_explained(tmp_path, value):
    with pytest.raises(ConfigError) as caught:
        load_settings({"MAILER_SMTP_CONNECTIONS": value}, cwd=tmp_path)
    assert str(caught.value) == (
        f"MAILER_SMTP_CONNECTIONS: '{value}' is not a number from 1 to 10 (fix: write how many "
        "SMTP connections the server allows at once (1 sends one mail at a time; 3 by default))")


def test_smtp_connections_default_to_three_and_take_any_number_up_to_ten(tmp_path):
    assert load_settings({}, cwd=tmp_path).smtp_connections == 3
    assert load_settings({"MAILER_SMTP_CONNECTIONS": " 10 "}, cwd=tmp_path).smtp_connections == 10


# --- all of it in one run -----------------------------------------------------------------

def test_mailer_check_reports_every_mistake_in_every_file_in_one_run(own_copy):
    (own_copy / "inbox_rules.yaml").write_text(
        "requesters:\n  domains: [example.com]\n  max_message_mb: 10\n"
        "authentication:\n  require_pass: yes please\n")
    soft = own_copy / "playbooks" / "soft.yaml"
    edit(soft, "template: kt_meeting_invite", "template: kt_meting_invite")
    edit(own_copy / "playbooks" / "hard.yaml", "type: hard", "type: harsh")
    (own_copy / "templates" / "status.md.j2").write_text("subject: x\n---\n{{ acount }}\n")
    (own_copy / "templates" / "digest.md.j2").write_text("subject: x\n---\n{% if %}\n")
    done = subprocess.run([sys.executable, "-m", "mailer", "check"], cwd=own_copy,
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(own_copy),
                               "PYTHONPATH": os.environ["PYTHONPATH"]})
    assert done.returncode == 1
    reported = [line.split(": ", 1)[0] for line in done.stdout.splitlines()
                if line.split(":", 1)[0].endswith((".yaml", ".j2"))]
    hard = _line_of(own_copy / "playbooks" / "hard.yaml", "type: harsh")
    assert reported == ["inbox_rules.yaml:3", "inbox_rules.yaml:5", f"playbooks/hard.yaml:{hard}",
                        f"playbooks/soft.yaml:{_line_of(soft, 'kt_meting_invite')}",
                        "templates/digest.md.j2:3", "templates/status.md.j2:3"], done.stdout
    assert "6 problem(s) found" in done.stdout
    assert "rules:     ./inbox_rules.yaml" in done.stdout
    assert "Traceback" not in done.stderr


def _line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1)
                if text in line)


def test_the_service_refuses_to_start_with_a_broken_template(own_copy):
    (own_copy / "templates" / "status.md.j2").write_text("subject: x\n---\n{% if %}\n")
    done = subprocess.run([sys.executable, "-m", "mailer", "run", "--once"], cwd=own_copy,
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(own_copy),
                               "PYTHONPATH": os.environ["PYTHONPATH"]})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "mailer: the configuration needs fixing first (`mailer check` lists it all):",
        "templates/status.md.j2:3: a {% %} tag is missing what it should test (fix: write e.g. "
        "{% if customer_contacts %} ... {% endif %})"]
