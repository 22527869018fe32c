"""A CS ops person edits inbox_rules.yaml, playbooks and templates: mistakes are named by file,
line and fix; operators configure the servers by environment variables."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mailer.config.inbox_rules import load_rules
from mailer.config.settings import SHIPPED_DEFAULTS, load_settings
from mailer.errors import ConfigError, ConfigErrors

ROOT = Path(__file__).resolve().parents[1]


def _rules(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inbox_rules.yaml"
    path.write_text(text)
    return path


def test_the_shipped_rules_load_and_allow_the_example_domain():
    rules = load_rules(SHIPPED_DEFAULTS / "inbox_rules.yaml")
    assert rules.may_request("dana@example.com")
    assert not rules.may_request("mallory@evil.test")


def test_a_misspelled_setting_names_its_line_and_the_fix(tmp_path):
    path = _rules(tmp_path, "requesters:\n  domains: [example.com]\nfolderz:\n  processed: Done\n")
    with pytest.raises(ConfigErrors) as caught:
        load_rules(path)
    assert str(caught.value) == (f"{path}:3: unknown setting 'folderz' "
                                 "(fix: did you mean 'folders'?)")


def test_a_bad_value_names_its_line(tmp_path):
    path = _rules(tmp_path, "requesters:\n  addresses:\n    - dana.example.com\n")
    with pytest.raises(ConfigErrors) as caught:
        load_rules(path)
    assert f"{path}:2:" in str(caught.value) and "not an email address" in str(caught.value)


def test_broken_yaml_names_the_line(tmp_path):
    path = _rules(tmp_path, "requesters:\n  domains: [example.com\nlimits: {}\n")
    with pytest.raises(ConfigErrors) as caught:
        load_rules(path)
    assert [(error.line, error.problem) for error in caught.value.errors] == [
        (3, "a list in [ ] is not closed, or its items are not separated by commas")]


def test_server_urls_and_secrets_come_from_the_environment(tmp_path):
    settings = load_settings({
        "MAILER_IMAP_URL": "imaps://transitions%40example.com@imap.example.com/INBOX",
        "MAILER_SMTP_URL": "smtp://transitions%40example.com@smtp.example.com:587",
        "MAILER_IMAP_PASSWORD": "s3cret", "MAILER_TIMEZONE": "Europe/Berlin",
        "MAILER_HOLIDAYS": "2026-12-24, 2026-12-25"}, cwd=tmp_path)
    assert settings.imap is not None and settings.imap.implicit_tls
    assert (settings.imap.host, settings.imap.port) == ("imap.example.com", 993)
    assert settings.imap.username == "transitions@example.com"
    assert settings.smtp is not None and settings.smtp.port == 587
    assert "s3cret" not in settings.imap.redacted()
    assert len(settings.holidays) == 2
    assert settings.data_dir == tmp_path / "var"


@pytest.mark.parametrize(("variable", "value", "words"), [
    ("MAILER_IMAP_URL", "imap://user:pw@host/INBOX", "contains a password"),
    ("MAILER_SMTP_URL", "http://host", "unknown scheme"),
    ("MAILER_TIMEZONE", "Mars/Olympus", "unknown time zone"),
    ("MAILER_ADDRESS", "transitions", "not a plain address"),
    ("MAILER_HOLIDAYS", "24/12/2026", "is not a date"),
])
def test_a_wrong_setting_is_explained(tmp_path, variable, value, words):
    with pytest.raises(ConfigError, match=words):
        load_settings({variable: value}, cwd=tmp_path)


def test_a_dotenv_file_is_read_and_the_environment_wins(tmp_path):
    (tmp_path / ".env").write_text("MAILER_ADDRESS=help@example.org\nMAILER_TIMEZONE=UTC\n")
    assert load_settings({}, cwd=tmp_path).address == "help@example.org"
    assert load_settings({"MAILER_ADDRESS": "x@example.net"}, cwd=tmp_path).address == \
        "x@example.net"


def test_mailer_check_reports_every_problem_with_file_and_line(tmp_path):
    shutil.copytree(SHIPPED_DEFAULTS / "playbooks", tmp_path / "playbooks")
    shutil.copytree(SHIPPED_DEFAULTS / "templates", tmp_path / "templates")
    soft = tmp_path / "playbooks" / "soft.yaml"
    soft.write_text(soft.read_text().replace("template: questionnaire_reminder",
                                             "tempate: questionnaire_reminder", 1))
    (tmp_path / "templates" / "status.md.j2").write_text("subject: x\n---\n{% if %}\n")
    _rules(tmp_path, "requesters:\n  domains: [example.com]\n")
    done = subprocess.run([sys.executable, "-m", "mailer", "check"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                               "PYTHONPATH": os.environ["PYTHONPATH"]})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "soft.yaml:" in done.stdout and "did you mean 'template'?" in done.stdout
    assert "status.md.j2:3:" in done.stdout
    assert "2 problem(s) found" in done.stdout
