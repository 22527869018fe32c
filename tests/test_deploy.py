"""An operator installs the assistant as a systemd service from deploy/: the unit is valid,
restarts on failure, runs as a user of its own with a state directory, and the example
environment file holds only settings the assistant knows."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values

from mailer.cli import ENVIRONMENT
from mailer.config.settings import load_settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
INSTALLED = "/opt/mailer/bin/mailer"  # where the unit expects the install (README)


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read(DEPLOY / "mailer.service")
    return parser


def test_the_unit_restarts_on_failure_as_its_own_user_with_a_state_directory():
    service = unit()["Service"]
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "2"  # a configuration mistake waits for you
    assert service.get("DynamicUser") == "yes" or service.get("User")
    assert service["StateDirectory"] == "mailer"
    assert service["WorkingDirectory"] == "%S/mailer"
    assert service["EnvironmentFile"] == "/etc/mailer/mailer.env"
    assert "MAILER_DATA_DIR=%S/mailer/var" in service["Environment"]
    assert service["ExecStart"] == f"{INSTALLED} run"
    assert unit()["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_accepts_the_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here (Debian: apt-get install systemd)")
    # The unit names the install of the README; here the command is the one under test.
    mailer = Path(sys.executable).with_name("mailer")
    assert mailer.exists(), "the test environment has no mailer command"
    text = (DEPLOY / "mailer.service").read_text().replace(INSTALLED, str(mailer))
    (tmp_path / "mailer.service").write_text(text)
    done = subprocess.run([analyze, "verify", str(tmp_path / "mailer.service")],
                          capture_output=True, text=True, timeout=60)
    if "Failed to" in done.stderr and "bus" in done.stderr.lower():
        pytest.skip(f"systemd-analyze cannot run here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr


def test_the_example_environment_names_only_known_settings_and_loads(tmp_path):
    example = (DEPLOY / "mailer.env.example").read_text()
    named = set(re.findall(r"^#?(MAILER_[A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert named, "the example sets nothing"
    assert named <= set(ENVIRONMENT), named - set(ENVIRONMENT)
    assert {"MAILER_ADDRESS", "MAILER_IMAP_URL", "MAILER_SMTP_URL"} <= named
    values = {key: value for key, value in dotenv_values(DEPLOY / "mailer.env.example").items()
              if value is not None}
    settings = load_settings(values, cwd=tmp_path)
    assert settings.imap is not None and settings.imap.implicit_tls
    assert settings.smtp is not None and settings.smtp.port == 587
    assert settings.address == "transitions@example.com"


def test_the_token_command_documents_every_variable_it_reads():
    script = (DEPLOY / "oauth2_token.py").read_text()
    read = set(re.findall(r"\"(OAUTH2_[A-Z_]+)\"", script))
    documented = set(re.findall(r"^  (OAUTH2_[A-Z_]+)", script, flags=re.MULTILINE))
    assert read and read <= documented, read - documented
    example = (DEPLOY / "mailer.env.example").read_text()
    assert "oauth2_token.py" in example
