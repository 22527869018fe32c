"""What one hostile message can cost, at most, under the shipped limits (issue 11).

Each case runs in a fresh process: an assistant on its embedded maildir with one transition
started, then one message delivered and handled (pipeline, filing, the outbox spool). The
figures are its wall time and how far the process's peak resident memory grew past what the
set-up had already used.

    python -m benchmarks.hostile              # every case, at the sizes the limits allow
    python -m benchmarks.hostile --quick      # small sizes: checks that it all works
    python -m benchmarks.hostile --only book-at-the-row-limit
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MB = 1024 * 1024
NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
ADDRESS = "transitions@example.com"
DANA = "Dana Manager <dana@example.com>"
SAM = "Sam Jones <sam@example.com>"
RULES = "requesters:\n  domains: [example.com]\ninternal_domains: [example.com]\n"
REQUEST = """Account: Acme Corp
Outgoing CSM: Sam Jones <sam@example.com>
Incoming CSM: Rita Patel <rita@example.com>
Customer contacts: Pat Lee <pat@acme.com>, Jo Park <jo@acme.com>
Type: soft
Effective date: 15 Dec 2026
"""
LINE = "They renewed early and like the reporting; the Berlin team is next in line.\n"


@dataclass(frozen=True)
class Case:
    title: str
    build: Callable[[str, float], bytes | None]  # (Sam's reply address, scale) -> message
    prepare: Callable[[Path, float], None] | None = None  # for a message written straight
    # into the maildir (a file no server would hand over whole)


def _mail(sender: str, to: str, subject: str, body: bytes, *,
          content_type: str = "text/plain; charset=utf-8", extra: str = "") -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <hostile-{time.time_ns()}@example.com>\r\n{extra}"
            f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n").encode() + body


def _with_file(sender: str, to: str, name: str, payload: bytes, content_type: str,
               text: str = "2. Sentiment\r\nWarm.") -> bytes:
    encoded = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    return _mail(sender, to, "Re: questions", (
        f"--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n--m\r\n"
        f"Content-Type: {content_type}; name=\"{name}\"\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n").encode() + encoded + b"\r\n--m--\r\n",
        content_type="multipart/mixed; boundary=m")


def _text(to: str, scale: float, size: float) -> bytes:
    return _mail(SAM, to, "Re", ("2. Sentiment\n" + LINE * int(size * scale * MB / len(LINE)))
                 .replace("\n", "\r\n").encode())


def _html(to: str, scale: float, size: float) -> bytes:
    paragraphs = int(size * scale * MB / (len(LINE) + 7))
    return _mail(SAM, to, "Re", ("<p>2. Sentiment</p>" + f"<p>{LINE}</p>" * paragraphs).encode(),
                 content_type="text/html; charset=utf-8")


def _attachment(to: str, scale: float) -> bytes:
    return _with_file(SAM, to, "deck.pdf", b"%PDF" + bytes(int(17.5 * scale * MB)),
                      "application/pdf")


def _parts(to: str, scale: float) -> bytes:
    part = b"--m\r\nContent-Type: text/plain\r\n\r\n" + b"y" * 2000 + b"\r\n"
    return _mail(SAM, to, "Re", part * int(11_000 * scale) + b"--m--\r\n",
                 content_type="multipart/mixed; boundary=m")


def _nested(to: str, scale: float) -> bytes:
    depth = max(3, int(300 * scale))
    body = b"".join(f"--b{n}\r\nContent-Type: multipart/mixed; boundary=b{n + 1}\r\n\r\n"
                    .encode() for n in range(depth))
    body += b"--b%d\r\nContent-Type: text/plain\r\n\r\n2. Sentiment\r\nWarm.\r\n" % depth
    body += b"".join(f"--b{n}--\r\n".encode() for n in range(depth, -1, -1))
    return _mail(SAM, to, "Re", body, content_type="multipart/mixed; boundary=b0")


def _headers(to: str, scale: float) -> bytes:
    extra = "".join(f"X-Noise-{n}: {'v' * 60}\r\n" for n in range(int(5000 * scale)))
    return _mail(SAM, to, "Re", b"2. Sentiment\r\nWarm.", extra=extra)


def _subject(to: str, scale: float) -> bytes:
    return _mail(SAM, to, "Re: " + "word " * int(40_000 * scale), b"2. Sentiment\r\nWarm.")


def _form(to: str, rows: int, cells: int, length: int) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Questionnaire")
    sheet.append(["Section", "Topic", "Questions to consider", "Your answer"])
    for n in range(rows):
        sheet.append([n % 12 + 1, "", "", *(f"answer {n}-{c} " + "z" * length
                                            for c in range(cells))])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _with_file(SAM, to, "form.xlsx", buffer.getvalue(),
                      "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def _form_at_caps(to: str, scale: float) -> bytes:
    """The most a form may hold: 999 rows, 500 KB of answers."""
    return _form(to, max(13, int(999 * scale)), 1, 490)


def _form_past_caps(to: str, scale: float) -> bytes:
    """999 rows of 27 cells of 500 characters: 13 MB of text."""
    return _form(to, max(13, int(999 * scale)), 27, 500)


def _book(to: str, scale: float) -> bytes:
    """A book at the row limit: 250 accounts, each a transition with its mails."""
    rows = "".join(f"Account {n},sam@example.com,csm{n}@example.com,pat{n}@acme.com\r\n"
                   for n in range(max(2, int(250 * scale))))
    return _with_file(DANA, ADDRESS, "book.csv", (
        "Account,Outgoing CSM,Incoming CSM,Customer contacts\r\n" + rows).encode(), "text/csv",
        text="Dana's book")


def _blank_book(to: str, scale: float) -> bytes:
    return _with_file(DANA, ADDRESS, "book.csv", (
        "Account,Outgoing CSM,Incoming CSM,Customer contacts\r\n"
        + "\r\n" * int(8_000_000 * scale)).encode(), "text/csv", text="Dana's other book")


def _sparse_file(maildir: Path, scale: float) -> None:
    path = maildir / "new" / "1700000000.huge.host"
    with open(path, "wb") as file:
        file.write(f"From: {SAM}\r\nTo: {ADDRESS}\r\nSubject: Re\r\n"
                   "Message-ID: <huge@example.com>\r\n\r\n".encode())
        file.truncate(int(400 * scale * MB))


CASES: dict[str, Case] = {
    "over-the-size-limit": Case("over the size limit: a 400 MB file in the maildir",
                                lambda to, s: None, _sparse_file),
    "attachment-under-the-limit": Case("a 17.5 MB attachment (24 MB on the wire)",
                                       _attachment),
    "text-under-the-size-limit": Case("24 MB of plain text", lambda to, s: _text(to, s, 24)),
    "html-under-the-size-limit": Case("24 MB of HTML", lambda to, s: _html(to, s, 24)),
    "most-text-read": Case("500 KB of plain text (the most that is read)",
                           lambda to, s: _text(to, s, 0.49)),
    "most-html-read": Case("500 KB of HTML, no plain part", lambda to, s: _html(to, s, 0.49)),
    "many-parts": Case("11,000 MIME parts", _parts),
    "nested-300": Case("MIME nested 300 deep", _nested),
    "5000-headers": Case("5,000 header lines", _headers),
    "200kb-subject": Case("a 200 KB subject", _subject),
    "form-at-its-caps": Case("a form at its caps (999 rows, 500 KB of answers)",
                             _form_at_caps),
    "form-past-its-caps": Case("a form of 27,000 cells of 500 characters", _form_past_caps),
    "book-at-the-row-limit": Case("a book at the row limit (250 accounts started)", _book),
    "book-of-blank-rows": Case("a book of 8 million blank rows", _blank_book),
}


# --- one case, in its own process ------------------------------------------------------------


def _service(home: Path):  # noqa: ANN202 - mailer.app.Service
    from mailer.app import Service, build_source
    from mailer.config.settings import SHIPPED_DEFAULTS, load_settings
    from mailer.mail.smtp import sender_for
    from mailer.runtime import build_runtime

    (home / "inbox_rules.yaml").write_text(RULES)
    env = {"MAILER_ADDRESS": ADDRESS, "MAILER_DATA_DIR": str(home / "var"),
           "MAILER_OUTBOX": str(home / "outbox"), "MAILER_RULES": str(home / "inbox_rules.yaml"),
           "MAILER_PLAYBOOKS": str(SHIPPED_DEFAULTS / "playbooks"),
           "MAILER_TEMPLATES": str(SHIPPED_DEFAULTS / "templates"), "MAILER_TIMEZONE": "UTC"}
    rt = build_runtime(load_settings(env, cwd=home), clock=lambda: NOW)
    return Service(rt=rt, source=build_source(rt), sender=sender_for(rt.settings))


def measure_one(name: str, home: Path, scale: float) -> dict[str, object]:
    from mailer.app import PassReport

    case = CASES[name]
    service = _service(home)
    service.source.deliver(_mail(DANA, ADDRESS, "Acme", REQUEST.replace("\n", "\r\n").encode()))
    service.run_once()
    row = service.rt.store.one("SELECT raw FROM outbound WHERE kind='questionnaire'")
    reply_to = str(message_from_bytes(bytes(row["raw"]), policy=policy.default)["Reply-To"])
    raw = case.build(reply_to, scale)
    if raw is not None:
        service.source.deliver(raw)
        size = len(raw)
    else:
        assert case.prepare is not None
        case.prepare(service.source.path, scale)
        size = sum(p.stat().st_size for p in (service.source.path / "new").iterdir())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    report = PassReport()
    service.handle_inbox(report)
    service.send_outbox(report)
    seconds = time.monotonic() - started
    grew = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    outcome = service.rt.store.one("SELECT outcome, reason FROM inbound ORDER BY id DESC "
                                   "LIMIT 1") if report.handled else None
    service.close()
    return {"case": name, "title": case.title, "bytes": size, "seconds": round(seconds, 2),
            "memory_mb": round(grew, 1),
            "outcome": f"{outcome['outcome']}: {outcome['reason']}" if outcome else "not handled"}


def measure(names: list[str], scale: float) -> list[dict[str, object]]:
    rows = []
    for name in names:
        with tempfile.TemporaryDirectory(prefix="mailer-hostile-") as home:
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.hostile", "--case", name, "--home", home,
                 "--scale", str(scale)], capture_output=True, text=True, timeout=1800,
                cwd=Path(__file__).resolve().parents[1], env={**os.environ})
            if done.returncode != 0:
                raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return rows


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| message | on the wire | time | memory beyond the set-up | outcome |",
             "|---|---|---|---|---|"]
    for row in rows:
        size = int(row["bytes"])  # type: ignore[call-overload]
        shown = f"{size / MB:.1f} MB" if size >= MB else f"{size / 1024:.0f} KB"
        lines.append(f"| {row['title']} | {shown} | {row['seconds']} s | "
                     f"{row['memory_mb']} MB | {row['outcome']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hostile",
                                     description="What one hostile message costs.")
    parser.add_argument("--quick", action="store_true", help="small sizes; figures mean little")
    parser.add_argument("--only", action="append", choices=sorted(CASES), metavar="NAME")
    parser.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:  # the child process
        print(json.dumps(measure_one(args.case, args.home, args.scale)))
        return 0
    rows = measure(args.only or list(CASES), 0.01 if args.quick else 1.0)
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
