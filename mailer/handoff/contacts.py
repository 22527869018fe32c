"""Customer contacts out of the free text the outgoing CSM writes in section 1.

People paste contacts in every shape: comma lists, `Name <email>`, tables copied from a CRM,
bullets with sub-bullets. The reader is lenient and never drops a line that names a person,
even without an email, because a missing contact is worse for the new CSM than a rough one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailer.handoff.model import Contact, ContactRole
from mailer.handoff.signatures import without_link_renderings

# An address is looked for from the start of a run of its characters only (the look-behind):
# a long word is not scanned again from each of its letters.
_EMAIL = re.compile(r"(?:mailto:|(?<![\w.+'-]))([\w.+'-]+@[\w-]+(?:\.[\w-]+)+)", re.I)
_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\((?:mailto:)?[^)]*\)")
_BULLET = re.compile(r"^(\s*)(?:[-*+•·▪◦o]|\d{1,2}[.)])\s+")

# Longest phrases first so "executive sponsor" wins over "sponsor", "end user" over "user".
_ROLE_PHRASES: tuple[tuple[str, ContactRole], ...] = (
    (
        r"point of contact|main contact|primary contact|day[- ]to[- ]day(?: contact)?|"
        r"\bpoc\b|\bspoc\b",
        ContactRole.POINT_OF_CONTACT,
    ),
    (
        r"executive sponsor|exec(?:\.|utive)? sponsor|\bexec\b|\bsponsor\b",
        ContactRole.EXECUTIVE_SPONSOR,
    ),
    (r"\bchampions?\b|\badvocate\b|\binternal champion\b", ContactRole.CHAMPION),
    (
        r"decision[- ]maker|\bDM\b|economic buyer|signs (?:the )?contracts?|\bsigner\b|"
        r"signatory|budget holder",
        ContactRole.DECISION_MAKER,
    ),
    (r"\b(?:end|power|key|super|main|daily|primary)[- ]users?\b|^users?$", ContactRole.USER),
)
_ROLE_PATTERNS = tuple((re.compile(p, re.I), role) for p, role in _ROLE_PHRASES)
# Case matters for the short forms: "dm" or "poc" in lower case is rarely meant as a role.
_CASE_SENSITIVE = {"DM"}

_DEPARTED = re.compile(
    r"left the (?:company|business|org\w*|team)|\b(?:has|have|already|recently|just)\s+left\b|"
    r"\bleft\s+(?:in|last|at the end|recently|acme|for)\b|\(left\)|\bno longer\s+"
    r"(?:at|with|there|works|working|employed)|\bdeparted\b|(?:^|[\s(,;])ex-\w|"
    r"\bnot (?:there|at the company) any ?more\b|\bretired\b|\bmoved on\b",
    re.I,
)
_NAME_WORD = re.compile(r"^(?:[A-ZÀ-ÖØ-Þ][\w'’.-]*|van|von|de|der|den|da|di|du|del|la|le|bin|al)$")
_TITLE_WORDS = re.compile(
    r"\b(?:vp|svp|evp|avp|cto|ceo|cfo|coo|cio|ciso|cmo|cro|head|director|manager|lead|chief|"
    r"president|owner|founder|admin|administrator|analyst|engineer|architect|officer|"
    r"specialist|coordinator|consultant|partner|principal|controller|buyer|it|ops|hr)\b",
    re.I,
)
_TABLE_HEADERS = {
    "name": ("name", "full name", "contact", "contact name", "person"),
    "title": ("title", "job title", "position", "job", "function"),
    "email": ("email", "e-mail", "mail", "email address", "address"),
    "role": ("role", "account role", "role on account", "type"),
    "still_there": ("still there", "still at the company", "active", "at company", "status"),
    "notes": ("notes", "note", "comments", "comment", "remarks", "details"),
}
_LABELS = {label: column for column, labels in _TABLE_HEADERS.items() for label in labels}
_NOTHING = re.compile(r"^(?:none|n/?a|-+|nothing|tbd|no contacts?)[\s.!]*$", re.I)
_SEPARATORS = re.compile(r"\s*(?:,|;|\|)\s*|\t+|\s+[-–—]{1,2}\s+|\s*[–—]\s*")


def role_from_text(text: str) -> ContactRole:
    """The first account role named in `text`, or OTHER."""
    best: tuple[int, ContactRole] | None = None
    for pattern, role in _ROLE_PATTERNS:
        for match in pattern.finditer(text):
            if (
                match.group(0).upper() in _CASE_SENSITIVE
                and match.group(0) != match.group(0).upper()
            ):
                continue
            if best is None or match.start() < best[0]:
                best = (match.start(), role)
            break
    return best[1] if best else ContactRole.OTHER


def departed_from_text(text: str) -> bool:
    """Does `text` say the person is no longer at the customer?"""
    return bool(_DEPARTED.search(text))


def still_there_from_cell(text: str) -> bool:
    """A Yes/No cell, leniently: "no", "left", "false" mean they are gone."""
    value = text.strip().lower()
    if value in {"no", "n", "false", "0", "nein", "non", "left", "gone", "departed"}:
        return False
    return not departed_from_text(value)


@dataclass
class _Draft:
    """A contact being assembled from one line and its continuation lines."""

    name: str = ""
    title: str = ""
    email: str = ""
    role: ContactRole = ContactRole.OTHER
    still_there: bool = True
    notes: list[str] = field(default_factory=list)
    indent: int = 0

    def build(self) -> Contact:
        return Contact(
            name=self.name,
            title=self.title,
            email=self.email,
            role=self.role,
            still_there=self.still_there,
            notes="; ".join(n for n in self.notes if n),
        )


def parse_contacts(text: str) -> list[Contact]:
    """One contact per line (or per bullet with sub-bullets, or per table row)."""
    text = without_link_renderings(text)  # Outlook's "pat@acme.com<mailto:pat@acme.com>"
    lines = [_clean_line(line) for line in text.replace("\r\n", "\n").split("\n")]
    lines = [line for line in lines if line.strip() and not _is_rule(line)]
    if not lines:
        return []
    columns = _table_columns(lines[0])
    if columns is not None:
        return [c for c in (_from_row(line, columns) for line in lines[1:]) if c is not None]
    return [draft.build() for draft in _drafts(lines)]


def _clean_line(line: str) -> str:
    line = _MARKDOWN_LINK.sub(r"\1", line).replace("**", "").replace("__", "")
    return line.rstrip().strip("|").rstrip() if line.strip().startswith("|") else line.rstrip()


def _is_rule(line: str) -> bool:
    """Markdown table separators and decorative rules."""
    return bool(re.fullmatch(r"[\s|:+=_-]+", line))


def _cells(line: str) -> list[str]:
    if "\t" in line:
        return [cell.strip() for cell in line.split("\t")]
    return [cell.strip() for cell in line.split("|")]


def _table_columns(line: str) -> dict[int, str] | None:
    """Column positions when the first line is a header row like `Name | Email | Role`."""
    if "|" not in line and "\t" not in line:
        return None
    columns: dict[int, str] = {}
    for position, cell in enumerate(_cells(line)):
        column = _LABELS.get(cell.lower().strip(" *:"))
        if column is not None:
            columns[position] = column
    return columns if "name" in columns.values() and len(columns) >= 2 else None


def _from_row(line: str, columns: dict[int, str]) -> Contact | None:
    values = {columns[i]: cell for i, cell in enumerate(_cells(line)) if i in columns and cell}
    if not values.get("name") and not values.get("email"):
        return None
    email_match = _EMAIL.search(values.get("email", ""))
    notes = values.get("notes", "")
    still_there = still_there_from_cell(values.get("still_there", "")) and not departed_from_text(
        notes
    )
    return Contact(
        name=values.get("name", ""),
        title=values.get("title", ""),
        email=email_match.group(1).lower() if email_match else "",
        role=role_from_text(values.get("role", "")),
        still_there=still_there,
        notes=notes,
    )


def _drafts(lines: list[str]) -> list[_Draft]:
    drafts: list[_Draft] = []
    for line in lines:
        bullet = _BULLET.match(line)
        indent = len(bullet.group(1)) if bullet else len(line) - len(line.lstrip())
        body = line[bullet.end() :] if bullet else line.strip()
        if _NOTHING.match(body):
            continue
        label = _label_of(body)
        current = drafts[-1] if drafts else None
        if label is not None and label[0] != "name" and current is not None:
            _apply_label(current, *label)
        elif label is not None and label[0] == "name":
            drafts.append(_Draft(name=label[1], indent=indent))
        elif current is not None and _continues(current, body, indent):
            _apply_fragment(current, body)
        else:
            draft = _draft_from_line(body)
            if draft is not None:
                draft.indent = indent
                drafts.append(draft)
    return drafts


def _label_of(body: str) -> tuple[str, str] | None:
    """`Email: pat@acme.com` style lines of a contact written as a small form."""
    match = re.match(r"^([A-Za-z][A-Za-z -]{1,25}?)\s*:\s*(.+)$", body)
    if not match:
        return None
    column = _LABELS.get(match.group(1).strip().lower())
    return (column, match.group(2).strip()) if column else None


def _apply_label(draft: _Draft, column: str, value: str) -> None:
    if column == "title":
        draft.title = value
    elif column == "email":
        email = _EMAIL.search(value)
        draft.email = email.group(1).lower() if email else draft.email
    elif column == "role":
        draft.role = role_from_text(value)
    elif column == "still_there":
        draft.still_there = still_there_from_cell(value)
    else:
        draft.notes.append(value)
        draft.still_there = draft.still_there and not departed_from_text(value)


def _continues(draft: _Draft, body: str, indent: int) -> bool:
    """Is this line more about the contact above (a sub-bullet, a lone email, a role)?"""
    if indent > draft.indent:
        return True
    if _EMAIL.match(body.strip()) and not draft.email:
        return True
    if len(body.split()) >= 5 and body.rstrip().endswith((".", "!", "?")):
        return False  # a sentence of its own, e.g. "The rest are in Salesforce."
    return not _looks_like_name(_first_field(body)) and not _EMAIL.search(body)


def _apply_fragment(draft: _Draft, body: str) -> None:
    email = _EMAIL.search(body)
    if email and not draft.email:
        draft.email = email.group(1).lower()
        body = (body[: email.start()] + body[email.end() :]).strip(" ,;<>()")
    if draft.role == ContactRole.OTHER:
        draft.role = role_from_text(body)
    if departed_from_text(body):
        draft.still_there = False
    for part in _text_fields(body):
        if _is_role_only(part.text):
            continue
        if not draft.title and not draft.notes and _looks_like_title(part.text):
            draft.title = part.text
        else:
            draft.notes.append(part.text)


def _first_field(body: str) -> str:
    without_email = _EMAIL.sub(" , ", body)
    return _SEPARATORS.split(re.sub(r"[(<].*", "", without_email).strip(), maxsplit=1)[0]


def _looks_like_name(text: str) -> bool:
    words = text.strip().split()
    if not 1 <= len(words) <= 5 or any(ch.isdigit() for ch in text):
        return False
    if role_from_text(text) != ContactRole.OTHER and len(words) <= 3:
        return False
    capitalised = [w for w in words if _NAME_WORD.match(w)]
    return len(capitalised) == len(words) and _NAME_WORD.match(words[0]) is not None


def _looks_like_title(text: str) -> bool:
    words = text.split()
    if not 1 <= len(words) <= 7 or text.endswith((".", "!", "?")):
        return False
    return bool(_TITLE_WORDS.search(text)) or text[:1].isupper()


def _is_role_only(text: str) -> bool:
    """A field that only names the account role, like "champion" or "exec sponsor"."""
    remainder = text
    for pattern, _ in _ROLE_PATTERNS:
        remainder = pattern.sub(" ", remainder)
    return not re.sub(
        r"\b(?:and|&|the|our|also|main|role|is)\b|[\s,;/&+()-]", "", remainder, flags=re.I
    )


@dataclass(frozen=True)
class _Field:
    text: str
    kind: str  # "text" | "email" | "paren"


def _fields(body: str) -> list[_Field]:
    """Split a contact line into fields, keeping emails and (parenthesised) parts apart."""
    fields: list[_Field] = []
    pattern = re.compile(
        r"<\s*(?:mailto:)?[^<>@\s]+@[^<>\s]+\s*>|\(([^()]*)\)|" + _EMAIL.pattern, re.I
    )
    position = 0
    for match in pattern.finditer(body):
        fields += _text_fields(body[position : match.start()])
        email = _EMAIL.search(match.group(0))
        if email and "@" in match.group(0) and not match.group(0).startswith("("):
            fields.append(_Field(email.group(1).lower(), "email"))
        elif match.group(0).startswith("("):
            inner = match.group(1) or ""
            inner_email = _EMAIL.search(inner)
            if inner_email and inner.strip() == inner_email.group(0):
                fields.append(_Field(inner_email.group(1).lower(), "email"))
            elif inner.strip():
                fields.append(_Field(inner.strip(), "paren"))
        position = match.end()
    fields += _text_fields(body[position:])
    return fields


def _text_fields(text: str) -> list[_Field]:
    return [_Field(part.strip(), "text") for part in _SEPARATORS.split(text) if part.strip()]


def _role_of(body: str, fields: list[_Field]) -> ContactRole:
    """The role named in the line; a bare "user" counts only as a field of its own."""
    role = role_from_text(body)
    for item in fields:
        if role != ContactRole.OTHER:
            break
        role = role_from_text(item.text)
    return role


_FIELD_SEPARATOR = re.compile(r"\s*[,;|]\s*|\t+|\s+[-–—]{1,2}\s+|\s*[–—]\s*")
_NOTES_DASH = re.compile(r"\s+[-–—]{1,2}\s+|\s*[–—]\s*")
_BRACKETED_ADDRESS = re.compile(
    r"[<(\[]?\s*(?:mailto:|(?<![\w.+'-]))([\w.+'-]+@[\w-]+(?:\.[\w-]+)+)\s*[>)\]]?",
    re.IGNORECASE
)


def _draft_from_line(body: str) -> _Draft | None:
    """A contact line, read around its address when it has one: the name and title before
    it, the role and the notes after it. Notes are kept exactly as typed."""
    address = _BRACKETED_ADDRESS.search(body)
    if address is not None and body[: address.start()].strip(" ,;|\t-–—"):
        return _draft_around_address(body, address)
    return _draft_from_fields(body)


def _draft_around_address(body: str, address: re.Match[str]) -> _Draft | None:
    before = body[: address.start()].rstrip(" ,;|\t-–—:")
    after = body[address.end() :].lstrip(" ,;|\t-–—:")
    pieces = _FIELD_SEPARATOR.split(before, maxsplit=1)
    name, title = pieces[0].strip(), (pieces[1].strip() if len(pieces) > 1 else "")
    draft = _Draft(email=address.group(1).lower(), still_there=not departed_from_text(body))
    paren = re.match(r"^(.*?)\s*\(([^()]*)\)\s*$", name)
    if paren and paren.group(1).strip():
        name, inside = paren.group(1).strip(), paren.group(2).strip()
        if departed_from_text(f"({inside})") or _is_role_only(inside):
            title = title or ""
        elif not title:
            title = inside
    if len(name.split()) > 5 or name.endswith((".", "!", "?", ":")):
        return None  # a sentence that mentions an address, not a contact
    draft.name = name
    roles: list[str] = []
    if title and _is_role_only(title.strip("()")):
        roles.append(title)
        title = ""
    draft.title = title[1:-1].strip() if title.startswith("(") and title.endswith(")") else title
    notes_at = _notes_start(after, roles)
    notes = after[notes_at:].strip()
    role_words = " ".join(roles)
    draft.role = role_from_text(role_words) if role_words else ContactRole.OTHER
    if draft.role == ContactRole.OTHER:
        draft.role = _role_of(after, _text_fields(after)) if after else role_from_text(before)
    draft.notes = [notes] if notes else []
    return draft


def _notes_start(after: str, roles: list[str]) -> int:
    """Where the notes begin after the address: past the fields that only name a role, and
    past the dash that people put between the role and their notes."""
    position = 0
    while position < len(after):
        separator = _FIELD_SEPARATOR.search(after, position)
        end = separator.start() if separator else len(after)
        field_text = after[position:end].strip().strip("()")
        if not field_text or not _is_role_only(field_text):
            return position
        roles.append(field_text)
        if separator is None:
            return len(after)
        position = separator.end()
    return position


def _draft_from_fields(body: str) -> _Draft | None:
    fields = _fields(body)
    if not fields:
        return None
    draft = _Draft(role=_role_of(body, fields), still_there=not departed_from_text(body))
    rest = list(fields)
    if rest[0].kind == "email":
        draft.email = rest.pop(0).text
    elif _looks_like_name(rest[0].text) or (
        len(rest) > 1 and len(rest[0].text.split()) <= 4 and not _is_role_only(rest[0].text)
    ):
        draft.name = rest.pop(0).text
    else:
        return None  # prose, e.g. "All contacts are in Salesforce."
    role_seen = False
    for item in rest:
        if item.kind == "email":
            draft.email = draft.email or item.text
        elif _is_role_only(item.text):
            role_seen = True
        elif (
            not draft.title
            and not role_seen
            and not draft.notes
            and (item.kind == "paren" or _looks_like_title(item.text))
            and not departed_from_text(item.text)
        ):
            draft.title = item.text
        else:
            draft.notes.append(item.text)
    if draft.notes:
        # The notes as typed, from their first word to the end of the line.
        start = body.find(draft.notes[0])
        draft.notes = [body[start:].strip() if start >= 0 else ", ".join(draft.notes)]
    return draft


def merge_contacts(earlier: list[Contact], later: list[Contact]) -> list[Contact]:
    """Contacts from a later answer laid over the earlier ones.

    A person is the same when the name or the address matches (a correction gives a new
    address, or a new title under the same address). What the later line gives replaces what
    was known; what it leaves out is kept. Anyone new is added once, at the end.
    """
    merged = list(earlier)
    for contact in later:
        index = _same_person(merged, contact)
        if index is None:
            merged.append(contact)
            continue
        known = merged[index]
        merged[index] = Contact(
            name=contact.name or known.name,
            title=contact.title or known.title,
            email=contact.email or known.email,
            role=contact.role if contact.role is not ContactRole.OTHER else known.role,
            still_there=contact.still_there,
            notes=contact.notes or known.notes,
        )
    return merged


def _same_person(contacts: list[Contact], contact: Contact) -> int | None:
    name = _name_key(contact.name)
    for index, known in enumerate(contacts):
        if contact.email and known.email == contact.email:
            return index
        if name and _name_key(known.name) == name:
            return index
    return None


def _name_key(name: str) -> str:
    return " ".join(name.lower().split())


def contacts_as_text(contacts: list[Contact]) -> str:
    """The form's contact rows as the lines someone would have typed, for the Answers sheet."""
    lines = []
    for c in contacts:
        line = ", ".join(part for part in (c.name, c.title, c.email) if part)
        if c.role is not ContactRole.OTHER:
            line += f", {c.role.value}"
        notes = [n for n in (c.notes, "" if c.still_there else "left the company") if n]
        lines.append(f"{line} - {'; '.join(notes)}" if notes else line)
    return "\n".join(lines)
