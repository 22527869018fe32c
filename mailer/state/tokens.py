"""Reply tokens and our own Message-IDs.

A reply token is a 128-bit secret riding on the assistant's address
(`transitions+TOKEN@example.com`). It is bound to one person and one purpose, so a reply can
only do what its owner was asked to do. Tokens are redacted from logs.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from mailer.state.store import Store, iso

TokenSource = Callable[[int], bytes]
TOKEN_RE = re.compile(r"^[a-z2-7]{26}$")


def mint_token(random_bytes: TokenSource = secrets.token_bytes) -> str:
    """26 lower-case base32 characters: 128 bits, safe in a case-folding local part."""
    return base64.b32encode(random_bytes(16)).decode("ascii").rstrip("=").lower()


def token_address(address: str, token: str) -> str:
    local, domain = address.split("@", 1)
    return f"{local}+{token}@{domain}"


def token_in(addresses: Iterable[str], own_address: str) -> str | None:
    """Find our reply token among recipient addresses (Delivered-To first, then To, Cc)."""
    local, domain = own_address.lower().split("@", 1)
    prefix = f"{local}+"
    for address in addresses:
        address = address.lower().strip()
        if "@" not in address:
            continue
        their_local, their_domain = address.rsplit("@", 1)
        if their_domain == domain and their_local.startswith(prefix):
            candidate = their_local[len(prefix):]
            if TOKEN_RE.match(candidate):
                return candidate
    return None


def new_message_id(domain: str, tag: str, random_bytes: TokenSource = secrets.token_bytes) -> str:
    safe_tag = re.sub(r"[^A-Za-z0-9.-]", "-", tag)[:40]
    return f"<{safe_tag}.{random_bytes(9).hex()}@{domain}>"


_TOKEN_IN_TEXT = re.compile(r"\+[a-z2-7]{26}@", re.IGNORECASE)
# A token pasted on its own (a forwarded reply address, a subject): 26 letters and digits 2-7.
_BARE_TOKEN = re.compile(r"(?<![A-Za-z0-9])[a-z2-7]{26}(?![A-Za-z0-9])", re.IGNORECASE)


def redact(text: str) -> str:
    """Remove reply tokens from text meant for logs: in an address, or standing alone."""
    return _BARE_TOKEN.sub("[token]", _TOKEN_IN_TEXT.sub("+[token]@", text))


@dataclass(frozen=True)
class ReplyToken:
    token: str
    transition_id: str | None
    person_email: str
    purpose: str
    step_id: str
    revoked: bool


def issue_token(store: Store, *, transition_id: str | None, person_email: str, purpose: str,
                now: datetime, step_id: str = "",
                random_bytes: TokenSource = secrets.token_bytes) -> str:
    token = mint_token(random_bytes)
    store.run("INSERT INTO tokens(token, transition_id, person_email, purpose, step_id,"
              " created_at) VALUES(?,?,?,?,?,?)",
              token, transition_id, person_email.lower(), purpose, step_id, iso(now))
    return token


def resolve_token(store: Store, token: str) -> ReplyToken | None:
    row = store.one("SELECT * FROM tokens WHERE token=?", token)
    if row is None:
        return None
    return ReplyToken(token=row["token"], transition_id=row["transition_id"],
                      person_email=row["person_email"], purpose=row["purpose"],
                      step_id=row["step_id"], revoked=bool(row["revoked"]))


def record_use(store: Store, token: str) -> None:
    store.run("UPDATE tokens SET uses = uses + 1 WHERE token=?", token)


def revoke_tokens(store: Store, transition_id: str) -> None:
    store.run("UPDATE tokens SET revoked=1 WHERE transition_id=?", transition_id)


def revoke_person(store: Store, transition_id: str, email: str) -> None:
    """Someone was replaced on a transition: none of their reply addresses works for it any
    more, including mails that covered several accounts of a book."""
    email = email.lower()
    store.run("UPDATE tokens SET revoked=1 WHERE transition_id=? AND person_email=?",
              transition_id, email)
    store.run("DELETE FROM token_groups WHERE transition_id=? AND token IN "
              "(SELECT token FROM tokens WHERE person_email=?)", transition_id, email)
