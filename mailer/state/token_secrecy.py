"""How reply tokens stay secret once the mail that carries them has gone.

A reply token is a capability: whoever holds `transitions+TOKEN@...` may answer as its owner.
So the database keeps only its SHA-256 (a token is 128 random bits, so a plain hash cannot be
reversed by guessing), lookups go by that hash, and token addresses are removed from every
text the assistant keeps or logs: the history, the subjects it files, the copy of a mail once
it is sent.
"""

from __future__ import annotations

import hashlib
import re

# `+TOKEN@` in an address, and a token pasted on its own (a forwarded reply address, a
# subject): 26 characters of lower-case base32 (letters and the digits 2-7).
_TOKEN_IN_ADDRESS = re.compile(r"\+[a-z2-7]{26}@", re.IGNORECASE)
_BARE_TOKEN = re.compile(r"(?<![A-Za-z0-9])[a-z2-7]{26}(?![A-Za-z0-9])", re.IGNORECASE)
_TOKEN_IN_ADDRESS_BYTES = re.compile(rb"\+[a-z2-7]{26}@", re.IGNORECASE)
# A kept copy of a sent mail still parses, and says what was there.
REDACTED_IN_MAIL = b"+redacted@"


def token_hash(token: str) -> str:
    """What the database stores and looks up instead of the token itself."""
    return hashlib.sha256(token.strip().lower().encode("ascii", "replace")).hexdigest()


def redact(text: str) -> str:
    """Remove reply tokens from text meant for logs: in an address, or standing alone."""
    return _BARE_TOKEN.sub("[token]", _TOKEN_IN_ADDRESS.sub("+[token]@", text))


def redact_addresses(text: str) -> str:
    """Token addresses made the assistant's plain address in kept text (history, subjects),
    leaving people's words alone: only the `+TOKEN@` form is a reply address."""
    return _TOKEN_IN_ADDRESS.sub("@", text)


def redact_mail(raw: bytes) -> bytes:
    """A sent mail's kept copy without its reply address: `Reply-To:
    transitions+redacted@example.com` still says what it was, and no longer works."""
    return _TOKEN_IN_ADDRESS_BYTES.sub(REDACTED_IN_MAIL, bytes(raw))
