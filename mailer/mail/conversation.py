"""Conversations as mail clients see them.

Gmail joins a message to a conversation when its References or In-Reply-To name a message of
that conversation *and* its subject is the same once `Re:`/`Fwd:` are removed; Outlook groups
by that subject (and by the conversation GUID of `Thread-Index` when a message carries one);
Apple Mail follows References. So an answer keeps `Re: <their subject>`, links to their mail,
and extends their `Thread-Index` when they sent one.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime

_ALREADY_A_REPLY = re.compile(r"^re\s*:", re.IGNORECASE)
# Windows FILETIME counts 100 ns intervals from 1601-01-01.
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_HEADER_BYTES = 22
_CHILD_BYTES = 5


def reply_subject(subject: str) -> str:
    """`Re: <their subject>`, never `Re: Re: ...`; whitespace folded as clients show it."""
    core = " ".join(subject.split())
    if not core:
        return "Re:"
    return core if _ALREADY_A_REPLY.match(core) else f"Re: {core}"


def _filetime(moment: datetime) -> int:
    return int((moment - _FILETIME_EPOCH).total_seconds() * 10_000_000)


def thread_index_reply(parent: str, *, now: datetime, random_byte: int) -> str:
    """The `Thread-Index` of an answer to a message carrying `parent`: the same 22-byte header
    (whose GUID is Outlook's conversation) plus one 5-byte child block (MS-OXOMSG 2.2.1.3).
    '' when the parent's value is not a conversation index."""
    try:
        raw = base64.b64decode("".join(parent.split()), validate=True)
    except (binascii.Error, ValueError):
        return ""
    if len(raw) < _HEADER_BYTES or (len(raw) - _HEADER_BYTES) % _CHILD_BYTES or raw[0] != 1:
        return ""
    started = int.from_bytes(raw[1:6], "big") << 24
    delta = max(0, _filetime(now) - started)
    # Within about 1.7 years the delta is kept in finer steps, beyond it in coarser ones.
    code = ((delta >> 18) & 0x7FFFFFFF if delta >> 49 == 0
            else 0x80000000 | ((delta >> 23) & 0x7FFFFFFF))
    child = code.to_bytes(4, "big") + bytes([random_byte & 0xFF])
    return base64.b64encode(raw + child).decode("ascii")
