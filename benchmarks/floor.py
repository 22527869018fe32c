"""The floor: the same servers moving the same messages with no product logic.

Run as its own process (`python -m benchmarks.floor job.json`), like the product, so the two
are measured alike. In "backlog" mode it fetches every waiting message (in batches, as the
product does) and sends the prepared replies for each over one SMTP connection, then exits.
In "stream" mode it does the same but keeps looking for mail that arrives meanwhile, until it
has answered a given number of messages. In "idle" mode it waits in IMAP IDLE; each new
message is fetched raw and answered with one prepared reply, until SIGTERM.
"""

from __future__ import annotations

import json
import signal
import smtplib
import sys
import threading
import time
from pathlib import Path

from imapclient import IMAPClient

FLOOR_SENDER = "floor-bench@example.com"
FETCH_BATCH = 100
IDLE_SLICE_SECONDS = 0.5
POLL_SECONDS = 0.01


class PreparedReplies:
    """The product's own outgoing messages, replayed byte for byte."""

    def __init__(self, directory: Path) -> None:
        self.paths = sorted(directory.glob("*.eml"))
        if not self.paths:
            raise SystemExit(f"no prepared replies in {directory}")
        self.messages = [(path.read_bytes(), json.loads(path.with_suffix(".json").read_text()))
                         for path in self.paths]
        self.next = 0

    def send(self, smtp: smtplib.SMTP, count: int) -> None:
        for _ in range(count):
            raw, envelope = self.messages[self.next % len(self.messages)]
            self.next += 1
            smtp.sendmail(FLOOR_SENDER, envelope["to"], raw)


def _imap(job: dict) -> IMAPClient:
    client = IMAPClient(job["imap_host"], port=job["imap_port"], ssl=False, timeout=30)
    client.login(job["user"], job["password"])
    client.select_folder("INBOX")
    return client


def _fetch(client: IMAPClient, uids: list[int]) -> list[bytes]:
    raws: list[bytes] = []
    for start in range(0, len(uids), FETCH_BATCH):
        batch = uids[start:start + FETCH_BATCH]
        fetched = client.fetch(batch, ["BODY.PEEK[]"])
        raws.extend(fetched[uid][b"BODY[]"] for uid in batch if uid in fetched)
    return raws


def drain_backlog(job: dict) -> None:
    replies = PreparedReplies(Path(job["replies_dir"]))
    per_message: list[int] = job["per_message"]
    client = _imap(job)
    with smtplib.SMTP(job["smtp_host"], job["smtp_port"], timeout=30) as smtp:
        uids = sorted(client.search(["ALL"]))
        for start in range(0, len(uids), FETCH_BATCH):
            for offset, _raw in enumerate(_fetch(client, uids[start:start + FETCH_BATCH])):
                index = start + offset
                replies.send(smtp, per_message[index] if index < len(per_message) else 1)
    client.logout()


def drain_as_it_comes(job: dict) -> None:
    """Like `drain_backlog`, but looks again for mail that arrived meanwhile, until as many
    messages as `per_message` names have been answered."""
    replies = PreparedReplies(Path(job["replies_dir"]))
    per_message: list[int] = job["per_message"]
    client = _imap(job)
    seen: set[int] = set()
    index = 0
    with smtplib.SMTP(job["smtp_host"], job["smtp_port"], timeout=30) as smtp:
        while index < len(per_message):
            client.noop()
            uids = sorted(uid for uid in client.search(["ALL"]) if uid not in seen)
            if not uids:
                time.sleep(POLL_SECONDS)
                continue
            for start in range(0, len(uids), FETCH_BATCH):
                batch = uids[start:start + FETCH_BATCH]
                for _raw in _fetch(client, batch):
                    replies.send(smtp, per_message[index] if index < len(per_message) else 1)
                    index += 1
                seen.update(batch)
    client.logout()


def answer_while_idle(job: dict) -> None:
    replies = PreparedReplies(Path(job["replies_dir"]))
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    client = _imap(job)
    last = max(client.search(["ALL"]) or [0])
    print("floor idling", flush=True)
    with smtplib.SMTP(job["smtp_host"], job["smtp_port"], timeout=30) as smtp:
        while not stopping.is_set():
            client.idle()
            try:
                while not stopping.is_set():
                    responses = client.idle_check(timeout=IDLE_SLICE_SECONDS)
                    if any(isinstance(r, tuple) and len(r) > 1 and r[1] == b"EXISTS"
                           for r in responses):
                        break
            finally:
                client.idle_done()
            new = sorted(uid for uid in client.search(["UID", f"{last + 1}:*"]) if uid > last)
            for _raw in _fetch(client, new):
                replies.send(smtp, 1)
            last = max([last, *new])
    client.logout()


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    if job["mode"] == "backlog":
        drain_backlog(job)
    elif job["mode"] == "stream":
        drain_as_it_comes(job)
    else:
        answer_while_idle(job)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
