"""The fields of a transition request: their names, the other labels managers use for them,
and the template a manager can copy.
"""

from __future__ import annotations

import re

ACCOUNT = "Account"
OUTGOING_CSM = "Outgoing CSM"
INCOMING_CSM = "Incoming CSM"
CUSTOMER_CONTACTS = "Customer contacts"
TYPE = "Type"
EFFECTIVE_DATE = "Effective date"
LAST_DAY = "Last day"
RENEWAL_DATE = "Renewal date"
REASON = "Reason"
SHARE_REASON = "Share reason"
PLAYBOOK = "Playbook"
NOTES = "Notes"
MEETING_LINK = "Meeting link"

# Every canonical field with the other labels managers use for it (compared case-insensitively).
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    ACCOUNT: ("Customer account", "Company", "Account name", "Customer name"),
    OUTGOING_CSM: (
        "Current CSM",
        "From CSM",
        "Transitioning CSM",
        "tCSM",
        "Old CSM",
        "Previous CSM",
        "Outgoing",
    ),
    INCOMING_CSM: ("New CSM", "To CSM", "nCSM", "Receiving CSM", "Incoming"),
    CUSTOMER_CONTACTS: (
        "Customer contact",
        "Contacts",
        "Contact",
        "Customer",
        "Customer contact(s)",
    ),
    TYPE: ("Transition type", "Handoff type", "Hand-off type"),
    EFFECTIVE_DATE: ("Effective", "Handoff date", "Hand-off date", "Transition date", "Start date"),
    LAST_DAY: ("Outgoing last day", "Last working day", "Last day with customer"),
    RENEWAL_DATE: ("Renewal",),
    REASON: ("Why", "Reason for transition", "Reason for change"),
    SHARE_REASON: ("Share reason with customer", "Share the reason", "Share"),
    PLAYBOOK: (),
    NOTES: ("Note", "Comments"),
    MEETING_LINK: ("Video link", "Meeting location", "Meeting room", "Call link", "Zoom link",
                   "Teams link", "Meet link"),
}

FIELD_NAMES: tuple[str, ...] = tuple(FIELD_ALIASES)

FIELD_TEMPLATE = """\
Account: Acme Corp
Outgoing CSM: Jane Doe <jane.doe@yourcompany.com>
Incoming CSM: Sam Lee <sam.lee@yourcompany.com>
Customer contacts: Pat Kim <pat.kim@customer.com>, Alex Roe <alex.roe@customer.com>
Type: soft
Effective date: 2027-01-15
Last day: 2027-01-29
Renewal date: 2027-06-30
Reason: Jane is moving to our enterprise team
Share reason: yes
Playbook: soft
Notes: Pat prefers a short call on Tuesday mornings
Meeting link: https://meet.yourcompany.com/jane-doe
"""

COMPANY_PLACEHOLDER = "name@yourcompany.com"
CUSTOMER_PLACEHOLDER = "name@customer.com"
DATE_PLACEHOLDER = "YYYY-MM-DD"


def _normalise_label(label: str) -> str:
    without_notes = re.sub(r"\((?!s\))[^)]*\)", " ", label)  # "(comma separated)" is not the name
    return " ".join(re.sub(r"[*_`#]", " ", without_notes).split()).lower().rstrip(" :")


FIELD_SYNONYMS: dict[str, str] = {
    _normalise_label(alias): canonical
    for canonical, aliases in FIELD_ALIASES.items()
    for alias in (canonical, *aliases)
}


def canonical_field(label: str) -> str | None:
    """The canonical field a label names (`"nCSM"` -> `"Incoming CSM"`), or None."""
    return FIELD_SYNONYMS.get(_normalise_label(label))
