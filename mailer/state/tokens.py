"""Reply tokens and our own Message-IDs.

A reply token is a 128-bit secret riding on the assistant's address
(`transitions+TOKEN@example.com`). It is bound to one person and one purpose, so a reply can
only do what its owner was asked to do. The database keeps only each token's hash
(`token_secrecy`), and tokens are redacted from logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from mailer.state.store import Store, iso
from mailer.state.token_secrecy import redact, token_hash

__all__ = ["ReplyToken", "issue_token", "mint_token", "new_message_id", "opaque_name", "redact",
           "reissue_token", "resolve_token", "revoke_person", "revoke_token", "revoke_tokens",
           "token_address", "token_in"]

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


def new_message_id(domain: str, random_bytes: TokenSource = secrets.token_bytes) -> str:
    """An opaque Message-ID: random, naming neither the transition nor the kind of mail
    (customers see these). What a Message-ID stands for is looked up in the outbound table."""
    return f"<{random_bytes(16).hex()}@{domain}>"


def opaque_name(store: Store, text: str) -> str:
    """A stable name for `text` (a transition's meeting, say) that does not tell it: a keyed
    hash, so an outsider who knows transition ids are numbered cannot check a guess."""
    key = store.meta("opaque_name_key")
    if not key:
        key = secrets.token_hex(32)
        store.set_meta("opaque_name_key", key)
    return hmac.new(bytes.fromhex(key), text.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class ReplyToken:
    """A reply token as the database knows it: by its hash, never by its value.

    `family` is the hash of the first token of its conversation: answers to a reply carry a
    fresh token of the same family, which stands for the same thing."""

    token_hash: str
    family: str
    transition_id: str | None
    person_email: str
    purpose: str
    step_id: str
    revoked: bool


def issue_token(store: Store, *, transition_id: str | None, person_email: str, purpose: str,
                now: datetime, step_id: str = "", family: str = "",
                random_bytes: TokenSource = secrets.token_bytes) -> str:
    """A new reply token; returns its value, which goes into the Reply-To of the mail being
    written and is never stored."""
    token = mint_token(random_bytes)
    hashed = token_hash(token)
    store.run("INSERT INTO tokens(token_hash, family, transition_id, person_email, purpose,"
              " step_id, created_at) VALUES(?,?,?,?,?,?,?)",
              hashed, family or hashed, transition_id, person_email.lower(), purpose, step_id,
              iso(now))
    return token


def reissue_token(store: Store, token: ReplyToken, *, now: datetime,
                  random_bytes: TokenSource = secrets.token_bytes) -> str:
    """A fresh reply address that does what `token` does, for the answer to a reply that
    came through it (a receipt): the same person, purpose, step and family."""
    return issue_token(store, transition_id=token.transition_id,
                       person_email=token.person_email, purpose=token.purpose, now=now,
                       step_id=token.step_id, family=token.family, random_bytes=random_bytes)


def resolve_token(store: Store, token: str) -> ReplyToken | None:
    row = store.one("SELECT * FROM tokens WHERE token_hash=?", token_hash(token))
    if row is None:
        return None
    return ReplyToken(token_hash=row["token_hash"], family=row["family"] or row["token_hash"],
                      transition_id=row["transition_id"], person_email=row["person_email"],
                      purpose=row["purpose"], step_id=row["step_id"],
                      revoked=bool(row["revoked"]))


def record_use(store: Store, token: ReplyToken) -> None:
    store.run("UPDATE tokens SET uses = uses + 1 WHERE token_hash=?", token.token_hash)


def revoke_token(store: Store, token: ReplyToken) -> None:
    """A one-time token, used: its whole family stops working."""
    store.run("UPDATE tokens SET revoked=1 WHERE family=?", token.family)


def revoke_tokens(store: Store, transition_id: str) -> None:
    store.run("UPDATE tokens SET revoked=1 WHERE transition_id=?", transition_id)


def revoke_person(store: Store, transition_id: str, email: str) -> None:
    """Someone was replaced on a transition: none of their reply addresses works for it any
    more, including mails that covered several accounts of a book."""
    email = email.lower()
    store.run("UPDATE tokens SET revoked=1 WHERE transition_id=? AND person_email=?",
              transition_id, email)
    store.run("DELETE FROM token_groups WHERE transition_id=? AND token_hash IN "
              "(SELECT family FROM tokens WHERE person_email=?)", transition_id, email)
