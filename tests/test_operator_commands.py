"""An operator runs the `mailer` commands: each says what it reads, what happened to whom, and
answers an ordinary mistake with one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from letters import plain
from mailservers import free_port

import mailer
from mailer.cli import ENVIRONMENT, build_parser

REQUEST = """Account: Acme Corp
Outgoing CSM: Sam Okafor <sam@example.com>
Incoming CSM: Rita Patel <rita@example.com>
Type: soft
Customer contacts: Pat Lee <pat@acme.example>
"""


def mailer_command(*args: str, cwd: Path, env: dict[str, str] | None = None,
                   stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`mailer ARGS` as an operator types it, in `cwd`, with only the given variables."""
    environment = {"PATH": os.environ["PATH"], "HOME": str(cwd),
                   "PYTHONPATH": os.environ["PYTHONPATH"], **(env or {})}
    return subprocess.run([sys.executable, "-m", "mailer", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=120, input=stdin)


def no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stdout + done.stderr, done.stderr


def test_version_comes_from_the_installed_distribution(tmp_path):
    done = mailer_command("--version", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.strip() == f"mailer {metadata.version('handover-mailer')}"
    assert metadata.version("handover-mailer") == mailer.__version__


@pytest.mark.parametrize("command", ["run", "demo", "status", "check", "deliver"])
def test_each_command_explains_its_options_and_the_variables_it_reads(tmp_path, command):
    done = mailer_command(command, "--help", cwd=tmp_path)
    assert done.returncode == 0
    assert "environment" in done.stdout and ".env" in done.stdout
    subparser = build_parser()._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    for action in subparser._actions:
        if action.help and action.help != "show this help message and exit":
            assert action.help.split("(")[0].strip()[:30] in " ".join(done.stdout.split())
    named = {name for name in ENVIRONMENT if name in done.stdout}
    assert named, done.stdout
    if command in {"run", "check"}:
        assert {"MAILER_IMAP_URL", "MAILER_SMTP_URL", "MAILER_OAUTH2_TOKEN_COMMAND"} <= named


def test_run_help_names_every_variable_the_settings_read(tmp_path):
    source = (Path(mailer.__file__).parent / "config" / "settings.py").read_text()
    read = set(re.findall(r"\b(MAILER_[A-Z0-9_]*[A-Z0-9])\b", source))
    assert {"MAILER_IMAP_URL", "MAILER_DIGEST_TIME"} <= read
    done = mailer_command("run", "--help", cwd=tmp_path)
    for name in read | set(ENVIRONMENT):
        assert name in ENVIRONMENT and name in done.stdout, f"{name} is not explained"


def test_delivering_a_missing_file_says_so_in_one_line_and_delivers_nothing(tmp_path):
    (tmp_path / "here.eml").write_bytes(plain(
        sender="dana@example.com", to="transitions@localhost", subject="Hello", body="hi"))
    done = mailer_command("deliver", "here.eml", "missing.eml", cwd=tmp_path)
    assert done.returncode == 1
    no_traceback(done)
    assert done.stderr.strip() == ("mailer deliver: cannot read missing.eml: No such file or "
                                   "directory; nothing was delivered")
    assert not list((tmp_path / "var" / "maildir" / "new").glob("*"))


def test_an_unknown_transition_id_is_one_line_and_exit_1(tmp_path):
    done = mailer_command("status", "TR-9999", cwd=tmp_path)
    assert done.returncode == 1
    no_traceback(done)
    assert done.stderr.strip() == ("mailer status: there is no transition TR-9999 "
                                   "(`mailer status` lists them all)")


def test_status_into_a_closed_pipe_ends_quietly(tmp_path):
    mailer_command("deliver", *_requests(tmp_path, 3), cwd=tmp_path)
    assert mailer_command("run", "--once", cwd=tmp_path).returncode == 0
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
           "PYTHONPATH": os.environ["PYTHONPATH"]}
    # `mailer status | head -0`: the reader is gone before the first line is written.
    reader, writer = os.pipe()
    status = subprocess.Popen([sys.executable, "-m", "mailer", "status"], cwd=tmp_path, env=env,
                              stdout=writer, stderr=subprocess.PIPE)
    os.close(writer)
    os.close(reader)
    _, errors = status.communicate(timeout=60)
    assert status.returncode == 141  # as a program killed by SIGPIPE: non-zero, no noise
    assert errors == b""


def test_an_unreachable_server_is_one_line_and_exit_1(tmp_path):
    port = free_port()  # nothing listens there
    env = {"MAILER_IMAP_URL": f"imap://transitions@127.0.0.1:{port}/INBOX?tls=off",
           "MAILER_IMAP_PASSWORD": "x"}
    done = mailer_command("run", "--once", cwd=tmp_path, env=env)
    assert done.returncode == 1
    no_traceback(done)
    assert done.stderr.strip().splitlines() == [
        f"mailer run: a mail server could not be used (imap://transitions@127.0.0.1:{port}"
        "/INBOX): [Errno 111] Connection refused"]
    checked = mailer_command("check", cwd=tmp_path, env=env)
    assert checked.returncode == 1
    no_traceback(checked)
    assert f"IMAP imap://transitions@127.0.0.1:{port}/INBOX: " in checked.stdout


def test_a_wrong_setting_is_one_block_and_exit_2(tmp_path):
    done = mailer_command("status", cwd=tmp_path, env={"MAILER_TIMEZONE": "Europe/Berln"})
    assert done.returncode == 2
    no_traceback(done)
    assert "MAILER_TIMEZONE: unknown time zone 'Europe/Berln'" in done.stderr


def test_now_without_once_is_refused(tmp_path):
    done = mailer_command("run", "--now", "2027-01-15T09:00:00+00:00", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "mailer run: --now only makes sense with --once"


def _requests(folder: Path, count: int) -> list[str]:
    names = []
    for number in range(count):
        name = f"request-{number}.eml"
        (folder / name).write_bytes(plain(
            sender="Dana Reyes <dana@example.com>", to="transitions@localhost",
            subject=f"Transition request: Account {number}",
            body=REQUEST.replace("Acme Corp", f"Account {number}")))
        names.append(name)
    return names


def test_the_log_says_what_happened_to_whom_without_tokens(tmp_path):
    mailer_command("deliver", *_requests(tmp_path, 1), cwd=tmp_path)
    token = "abcdefghijklmnopqrstuvwxyz"  # the shape of a reply token, pasted into a subject
    (tmp_path / "stranger.eml").write_bytes(plain(
        sender="Mallory <mallory@evil.test>", to="transitions@localhost",
        subject=f"Re: send it to transitions+{token}@localhost",
        body="Please start a transition."))
    mailer_command("deliver", "stranger.eml", cwd=tmp_path)
    done = mailer_command("run", "--once", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [line.split(" INFO ", 1)[1] for line in done.stderr.splitlines() if " INFO " in line]
    assert ('mailer.pipeline: from dana@example.com "Transition request: Account 0": '
            "processed TR-0001 (started TR-0001)") in lines
    assert ('mailer.pipeline: from mallory@evil.test "Re: send it to transitions+[token]'
            '@localhost": rejected (your address is not allowed to start account transitions)'
            ) in lines
    assert token not in done.stderr
    assert "DEBUG" not in done.stderr


def test_json_logs_are_one_object_per_line_with_the_fields(tmp_path):
    mailer_command("deliver", *_requests(tmp_path, 2), cwd=tmp_path)
    done = mailer_command("run", "--once", "-v", cwd=tmp_path, env={"MAILER_LOG_FORMAT": "json"})
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in done.stderr.splitlines()]
    handled = [e for e in entries if e.get("outcome")]
    assert [(e["sender"], e["subject"], e["outcome"], e["transition"]) for e in handled] == [
        ("dana@example.com", "Transition request: Account 0", "processed", "TR-0001"),
        ("dana@example.com", "Transition request: Account 1", "processed", "TR-0002")]
    assert {e["level"] for e in entries} == {"debug", "info"}
    assert all(e["logger"].startswith("mailer.") and e["time"] for e in entries)


@pytest.mark.usefixtures("mail")
def test_verbose_shows_the_assistants_debug_lines_and_not_the_libraries(tmp_path, mail):
    mail.send(plain(sender="Dana Reyes <dana@example.com>", to="transitions@example.com",
                    subject="Transition request: Acme Corp", body=REQUEST),
              mail_from="dana@example.com", rcpt_to=["transitions@example.com"])
    mail.wait_for_messages("transitions@example.com", 1)
    env = mail.mailer_environment("transitions@example.com")
    env["MAILER_SMTP_URL"] = mail.smtp_url()
    (tmp_path / "inbox_rules.yaml").write_text("requesters:\n  domains: [example.com]\n")
    done = mailer_command("-v", "run", "--once", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    loggers = {line.split()[3].rstrip(":") for line in done.stderr.splitlines()
               if len(line.split()) > 3}
    assert loggers, done.stderr
    assert all(name.startswith("mailer.") for name in loggers), loggers
    assert " DEBUG mailer.mail.sources: 1 message(s) waiting in INBOX" in done.stderr
    assert " DEBUG mailer.mail.smtp: sent request_accepted mail of TR-0001" in done.stderr
    assert "sam@example.com" in done.stderr and "secret" not in done.stderr
    quiet = mailer_command("run", "--once", cwd=tmp_path, env=env)
    assert "DEBUG" not in quiet.stderr


def test_a_data_folder_that_cannot_be_used_is_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("a file where the data folder should be")
    for command in (["status"], ["run", "--once"], ["deliver", "notes.txt"]):
        done = mailer_command(*command, cwd=tmp_path,
                              env={"MAILER_DATA_DIR": str(tmp_path / "notes.txt" / "var")})
        assert done.returncode == 1, command
        no_traceback(done)
        assert done.stderr.strip().splitlines()[-1] == (
            f"mailer: cannot use {tmp_path / 'notes.txt' / 'var'}: Not a directory")
    demo = mailer_command("demo", "--dir", "notes.txt/demo", cwd=tmp_path)
    assert demo.returncode == 1
    no_traceback(demo)
    assert demo.stderr.strip() == f"mailer: cannot use {tmp_path / 'notes.txt' / 'demo'}: " \
                                  "Not a directory"


def test_a_transition_id_may_be_typed_in_lower_case(tmp_path):
    mailer_command("deliver", *_requests(tmp_path, 1), cwd=tmp_path)
    assert mailer_command("run", "--once", cwd=tmp_path).returncode == 0
    done = mailer_command("status", "tr-0001", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "TR-0001" in done.stdout and "Account 0" in done.stdout


def test_the_log_format_can_come_from_the_env_file_like_every_setting(tmp_path):
    (tmp_path / ".env").write_text("MAILER_LOG_FORMAT=json\n")
    mailer_command("deliver", *_requests(tmp_path, 1), cwd=tmp_path)
    done = mailer_command("run", "--once", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(e["outcome"], e["transition"]) for e in entries if "outcome" in e] == [
        ("processed", "TR-0001")]


def test_a_refusal_without_a_file_name_is_still_one_line(monkeypatch, capsys, tmp_path):
    """E.g. no shared memory for the workbook worker (a container without /dev/shm)."""
    import mailer.cli

    def refused(args: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(mailer.cli, "_dispatch", refused)
    # In-process: leave the test session's logging as it is.
    monkeypatch.setattr(mailer.cli, "configure_logging", lambda **_: None)
    assert mailer.cli.main(["status"]) == 1
    assert capsys.readouterr().err == ("mailer: the system refused what the assistant asked "
                                       "for: Permission denied (run it again with -v for the "
                                       "details)\n")
