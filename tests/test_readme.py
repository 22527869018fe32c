"""A newcomer follows the README: its commands are the ones that work, and every setting the
assistant reads is in its table."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from letters import plain

from mailer.cli import ENVIRONMENT

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README, flags=re.DOTALL)


def test_the_two_commands_come_first():
    blocks = shell_blocks()
    assert blocks[0].strip() == "./dev demo"
    assert blocks[1].strip() == "./dev test"


def test_the_way_to_read_an_eml_works_on_what_the_assistant_wrote(tmp_path):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
           "PYTHONPATH": os.environ["PYTHONPATH"]}
    (tmp_path / "request.eml").write_bytes(plain(
        sender="Dana Reyes <dana@example.com>", to="transitions@localhost",
        subject="Transition request: Acme Corp",
        body="Account: Acme Corp\nOutgoing CSM: Sam Okafor <sam@example.com>\n"
             "Incoming CSM: Rita Patel <rita@example.com>\nType: soft\n"
             "Customer contacts: Pat Lee <pat@acme.example>\n"))
    for command in (["deliver", "request.eml"], ["run", "--once"]):
        subprocess.run([sys.executable, "-m", "mailer", *command], cwd=tmp_path, env=env,
                       check=True, capture_output=True, timeout=120)
    (reader,) = [block for block in shell_blocks() if "message_from_binary_file" in block]
    shown_file = reader.split()[-1]
    assert shown_file.startswith("demo/outbox/")
    written = tmp_path / "outbox" / Path(shown_file).name
    assert written.exists(), sorted(p.name for p in (tmp_path / "outbox").iterdir())
    command = reader.replace("python3 ", f"{sys.executable} ", 1).replace(shown_file,
                                                                          str(written))
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60,
                          env=env)
    assert done.returncode == 0, done.stderr
    subject, body = done.stdout.split("\n", 1)
    assert subject == "Subject: Re: Transition request: Acme Corp"  # decoded, as sent
    assert "TR-0001" in body and "=\n" not in body and "=20" not in body  # decoded text
    assert "python -m email" not in README


def test_every_setting_is_in_the_table():
    table = {name for row in README.splitlines() if row.startswith("| `MAILER_")
             for name in re.findall(r"`(MAILER_[A-Z0-9_]+)`", row.split("|")[1])}
    assert table == set(ENVIRONMENT), set(ENVIRONMENT) ^ table
