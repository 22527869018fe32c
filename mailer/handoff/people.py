"""People as managers write them in a request: `Name <email>`, `Name (email)`, a bare address,
and lists of them.
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

from mailer.handoff.model import Person
from mailer.handoff.request_fields import (
    COMPANY_PLACEHOLDER,
    CUSTOMER_PLACEHOLDER,
    FIELD_TEMPLATE,
)
from mailer.handoff.request_lines import (
    strip_bullet,
)

# Anything written like an address, including the slips people make ("name@example,com",
# "name@example"), so that each can be reported instead of being read as something else.
_EMAIL = re.compile(
    r"[A-Za-z0-9._%+-][A-Za-z0-9._%+'-]*@[A-Za-z0-9-]+"
    r"(?:\.[A-Za-z0-9-]+|,[A-Za-z]{2,6}(?![\w@.-]))*"
)
PLACEHOLDER_EMAILS = frozenset(
    {
        COMPANY_PLACEHOLDER,
        CUSTOMER_PLACEHOLDER,
        *(m.lower() for m in _EMAIL.findall(FIELD_TEMPLATE)),
    }
)


def emails_in(text: str) -> list[str]:
    """Distinct addresses in a piece of text, lower-cased, in order of appearance."""
    found: list[str] = []
    for match in _EMAIL.findall(text):
        address = match.lower()
        if address not in found:
            found.append(address)
    return found


def address_problem(address: str) -> str | None:
    """Why mail could not be sent to `address`, in plain words, or None when it is usable.

    The syntax is checked by email-validator (no DNS look-up). The names RFC 2606 keeps for
    testing (`.test`) are accepted, so demos and test suites can use them.
    """
    try:
        validate_email(address, check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        pass
    else:
        return None
    domain = address.rpartition("@")[2]
    if "," in domain:
        return "it has a comma where a dot belongs"
    if "." not in domain:
        return f"the part after the @ has no dot (like {domain or 'example'}.com)"
    if ".." in address:
        return "it has two dots in a row"
    return "it is not written like an email address"


def name_beside(text: str) -> str:
    """The name written around an address: `"Lee, Pat" <pat@acme.com>` -> `Lee, Pat`."""
    name = re.sub(r"mailto:", " ", text, flags=re.IGNORECASE)
    name = _EMAIL.sub(" ", name)
    name = re.sub(r"[<>()\[\]\"]", " ", name)
    return " ".join(name.split()).strip(" ,;:|/-–—'")


def parse_person(text: str) -> Person | None:
    """One person from `Name <email>`, `Name (email)`, `email (Name)` or a bare address."""
    addresses = emails_in(text)
    if len(addresses) != 1:
        return None
    return Person(name=name_beside(text), email=addresses[0])


def split_people(value: str) -> list[str]:
    """Entries of a people list split on commas, semicolons and line breaks.

    Separators inside quotes or brackets do not split. A comma-separated piece with no address
    joins the next one, so `Lee, Pat <pat@acme.com>` stays whole; semicolons and line breaks
    always separate, so a name missing its address is never glued to the next person.
    """
    entries: list[str] = []
    for group in _split_outside_quotes(value, ";\n"):
        pieces = [strip_bullet(piece).strip() for piece in _split_outside_quotes(group, ",")]
        entries.extend(_join_name_pieces([piece for piece in pieces if piece]))
    return entries


def _split_outside_quotes(value: str, separators: str) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    in_quotes = False
    depth = 0
    # A comma typed for a dot inside an address ("pat@acme,com") does not separate people.
    inside_address = {i for m in _EMAIL.finditer(value) for i in range(m.start(), m.end())}
    for position, char in enumerate(value):
        if position in inside_address:
            current.append(char)
            continue
        if char == '"':
            in_quotes = not in_quotes
        elif char in "<([" and not in_quotes:
            depth += 1
        elif char in ">)]" and not in_quotes:
            depth = max(0, depth - 1)
        if char in separators and not in_quotes and depth == 0:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return pieces


def _join_name_pieces(pieces: list[str]) -> list[str]:
    entries: list[str] = []
    pending: list[str] = []
    for piece in pieces:
        pending.append(piece)
        if emails_in(piece):
            entries.append(", ".join(pending))
            pending = []
    entries.extend(pending)  # pieces left with no address are reported as such
    return entries
