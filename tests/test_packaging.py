"""Someone installs the wheel (not the checkout) and runs `mailer` from an empty folder: the
shipped templates, playbooks and rules come with it, and their own files override them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer.config.settings import SHIPPED_DEFAULTS

REPOSITORY = Path(__file__).resolve().parents[1]
# The test session puts the checkout on PYTHONPATH (conftest.py): pip would see it as installed.
WITHOUT_CHECKOUT = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the sources, as `pip wheel .` builds it."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(REPOSITORY / "mailer", source / "mailer",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPOSITORY / name, source / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(work / "dist"), str(source)],
                          capture_output=True, text=True, timeout=300, env=WITHOUT_CHECKOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = (work / "dist").glob("*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed the ordinary way (not editable).

    The dependencies are borrowed from the test environment through a .pth line, so no
    package index is needed; the checkout itself is on no path."""
    venv = tmp_path_factory.mktemp("venv") / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = Path(subprocess.run([venv / "bin" / "python", "-c", where], capture_output=True,
                                  text=True, check=True).stdout.strip())
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                           "install", "--no-deps", "-q", str(wheel)],
                          capture_output=True, text=True, timeout=300, env=WITHOUT_CHECKOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    # Only now: pip must not see the checkout's editable install among the borrowed packages.
    (purelib / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def run(venv: Path, *args: str, cwd: Path,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed `mailer` command, with no trace of the checkout in the environment."""
    environment = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(cwd), **(env or {})}
    return subprocess.run([str(venv / "bin" / "mailer"), *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def empty_folder(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "somewhere"
    folder.mkdir()
    yield folder


def test_the_wheel_has_its_own_name_and_carries_every_default_file(wheel):
    assert wheel.name.startswith("handover_mailer-")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"mailer/defaults/{path.relative_to(SHIPPED_DEFAULTS)}"
               for path in SHIPPED_DEFAULTS.rglob("*") if path.is_file()
               and "__pycache__" not in path.parts}
    assert shipped, "the checkout has no shipped defaults"
    assert shipped <= names, sorted(shipped - names)
    assert "mailer/defaults/inbox_rules.yaml" in names
    assert not [name for name in names if name.startswith(("tests/", "benchmarks/"))]


def test_the_installed_command_runs_from_an_empty_folder(installed, empty_folder):
    located = subprocess.run([installed / "bin" / "python", "-c",
                              "import mailer; print(mailer.__file__)"], cwd=empty_folder,
                             capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert located.stdout.strip().startswith(str(installed)), located.stdout + located.stderr
    version = run(installed, "--version", cwd=empty_folder)
    assert version.returncode == 0 and version.stdout.startswith("mailer 0."), version.stderr

    checked = run(installed, "check", cwd=empty_folder)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "configuration OK" in checked.stdout

    demo = run(installed, "demo", cwd=empty_folder)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "Traceback" not in demo.stdout + demo.stderr
    outbox = sorted(p.name for p in (empty_folder / "demo" / "outbox").rglob("*.eml"))
    assert any(name.endswith("customer_intro.eml") for name in outbox), outbox
    assert list((empty_folder / "demo" / "var" / "workbooks").rglob("*.xlsx"))

    data = {"MAILER_DATA_DIR": str(empty_folder / "demo" / "var")}
    status = run(installed, "status", "TR-0001", cwd=empty_folder, env=data)
    assert status.returncode == 0 and "Acme Corp" in status.stdout, status.stderr


def test_files_in_the_working_directory_and_mailer_paths_override_the_shipped_ones(
        installed, empty_folder):
    templates = empty_folder / "templates"
    shutil.copytree(SHIPPED_DEFAULTS / "templates", templates)
    # The questionnaire starts a conversation, so its subject line is the template's own.
    questionnaire = templates / "questionnaire.md.j2"
    head, _, body = questionnaire.read_text().partition("\n---\n")
    questionnaire.write_text("subject: OUR OWN WORDING {{ tid }}\n---\n" + body)
    (empty_folder / "request.eml").write_bytes(
        b"From: Dana Reyes <dana@example.com>\r\nTo: transitions@localhost\r\n"
        b"Subject: Transition request: Acme Corp\r\nMessage-ID: <r1@example.com>\r\n"
        b"Date: Mon, 11 Jan 2027 09:00:00 +0000\r\n\r\n"
        b"Account: Acme Corp\r\nOutgoing CSM: Sam Okafor <sam@example.com>\r\n"
        b"Incoming CSM: Rita Patel <rita@example.com>\r\nType: soft\r\n"
        b"Customer contacts: Pat Lee <pat@acme.example>\r\n")
    assert run(installed, "deliver", "request.eml", cwd=empty_folder).returncode == 0
    handled = run(installed, "run", "--once", cwd=empty_folder)
    assert handled.returncode == 0, handled.stderr
    sent = next((empty_folder / "outbox").glob("*-questionnaire.eml")).read_text()
    assert "Subject: OUR OWN WORDING TR-0001" in sent

    # A mistake in the operator's own rules file: named, and the command fails.
    (empty_folder / "inbox_rules.yaml").write_text("requesters:\n  domain: [example.com]\n")
    checked = run(installed, "check", cwd=empty_folder)
    assert checked.returncode == 1
    assert "inbox_rules.yaml:2: unknown setting 'domain' (fix: did you mean 'domains'?)" in \
        checked.stdout.splitlines()
    # MAILER_RULES wins over the working directory's file.
    fixed = empty_folder / "elsewhere.yaml"
    fixed.write_text("requesters:\n  domains: [example.com]\n")
    assert run(installed, "check", cwd=empty_folder,
               env={"MAILER_RULES": str(fixed)}).returncode == 0


def test_a_command_that_fails_exits_non_zero(installed, empty_folder):
    done = run(installed, "check", cwd=empty_folder,
               env={"MAILER_PLAYBOOKS": str(empty_folder / "no-such-folder")})
    assert done.returncode == 1
    assert "no-such-folder: is not a folder of playbooks" in done.stdout
    demo = run(installed, "demo", cwd=empty_folder,
               env={"MAILER_TEMPLATES": str(empty_folder / "no-templates")})
    assert demo.returncode != 0
    assert "Traceback" not in demo.stderr


def test_the_checkout_runs_without_any_install_too(empty_folder):
    """`python -m mailer` from a checkout on PYTHONPATH finds the same shipped files."""
    done = subprocess.run([sys.executable, "-m", "mailer", "check"], cwd=empty_folder,
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPOSITORY),
                               "HOME": str(empty_folder)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(os.listdir(empty_folder)) <= {"var", "outbox"}  # it made no configuration
