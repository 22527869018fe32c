"""What to call a person: their name, or one made from their address when none was given.

Plain strings in and out, with nothing else imported, so `mailer status` can use it without
loading the domain's types.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[._\-+]+")


def name_to_show(name: str, email: str) -> str:
    """`name`, else the address's local part as words ("pat.lee" -> "Pat Lee")."""
    if name:
        return name
    local = email.split("@", 1)[0]
    parts = [p for p in _SEPARATORS.split(local) if p and not p.isdigit()]
    return " ".join(p.capitalize() for p in parts) or email
