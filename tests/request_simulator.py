"""A seeded simulator of managers writing transition requests from their mail clients.

`simulate_request(seed)` draws the fields of a request (account, CSMs, up to six customer
contacts, type, dates, reason, notes), writes them in one manager's habits (labels and their
aliases, bullets, bold labels, a table, a contacts list under its own heading, a greeting and
a signature) and sends them from one client: Thunderbird (format=flowed, soft-wrapped at 72),
Apple Mail (format=flowed, DelSp=yes), Gmail (text and HTML), Outlook (its text part renders
every address as `x<mailto:x>`) or HTML only. It keeps the request the manager meant.
"""

from __future__ import annotations

import html as html_lib
import random
from dataclasses import dataclass
from datetime import date, timedelta

from reply_simulator import FIRST, LAST, _alternative, _ascii, _divs, flow, outlook_plain

from mailer.handoff.model import Person, TransitionRequest, TransitionType

TODAY = date(2026, 11, 23)
REQUEST_CLIENTS = ("thunderbird", "apple_mail", "gmail", "outlook", "html_only")
STYLES = ("plain", "bullets", "bold", "table", "contacts_list")
ACCOUNTS = ("Acme Corp", "Globex GmbH", "Initech S.A.", "Umbrella B.V.", "Soylent & Co.",
            "Stark Industries, Inc.", "Wayne Enterprises (EMEA)")
LABELS = {
    "account": ("Account", "Customer account", "Company"),
    "outgoing": ("Outgoing CSM", "Current CSM", "From CSM", "tCSM"),
    "incoming": ("Incoming CSM", "New CSM", "To CSM", "nCSM"),
    "contacts": ("Customer contacts", "Contacts", "Customer contact(s)"),
    "type": ("Type", "Transition type"),
    "effective": ("Effective date", "Handoff date"),
    "last_day": ("Last day", "Outgoing last day"),
    "renewal": ("Renewal date", "Renewal"),
    "reason": ("Reason", "Why"),
    "notes": ("Notes",),
}
REASONS = ("Sam is moving to the enterprise team", "Parental leave from January",
           "Rebalancing the EMEA book after the reorg")
NOTES = ("Pat prefers a short call on Tuesday mornings",
         "Renewal talks start in February; loop in finance")


@dataclass(frozen=True)
class SimulatedRequest:
    seed: int
    client: str
    style: str
    raw: bytes
    request: TransitionRequest

    def describe(self) -> str:
        return f"seed {self.seed}: {self.client}, {self.style}"


def _people(rng: random.Random, count: int, domain: str) -> list[Person]:
    people: list[Person] = []
    while len(people) < count:
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        email = f"{_ascii(name).lower().replace(' ', '.').replace(chr(39), '')}@{domain}"
        if email not in {p.email for p in people}:
            people.append(Person(name, email))
    return people


def _written(person: Person, rng: random.Random) -> str:
    shape = rng.choice(("angle", "angle", "paren", "bare_name_first"))
    if shape == "paren":
        return f"{person.name} ({person.email})"
    return f"{person.name} <{person.email}>"


def _date(value: date, rng: random.Random) -> str:
    return value.isoformat() if rng.random() < 0.6 else value.strftime("%-d %B %Y")


def draw_request(rng: random.Random) -> TransitionRequest:
    kind = rng.choice(tuple(TransitionType))
    outgoing, incoming = _people(rng, 2, "example.com")
    effective = TODAY + timedelta(days=rng.randint(3, 40))
    return TransitionRequest(
        account=rng.choice(ACCOUNTS), outgoing=outgoing, incoming=incoming,
        customer_contacts=tuple(_people(rng, rng.randint(1, 6), "customer.example")),
        type=kind, effective_date=effective,
        last_day=effective + timedelta(days=14) if kind is TransitionType.HARD else None,
        renewal_date=TODAY + timedelta(days=rng.randint(60, 400)) if rng.random() < 0.6 else None,
        reason=rng.choice(REASONS) if rng.random() < 0.7 else "",
        notes=rng.choice(NOTES) if rng.random() < 0.4 else "",
    )


def _lines(request: TransitionRequest, style: str, rng: random.Random) -> list[tuple[str, str]]:
    """(label, value) pairs in the order the manager writes them."""
    def label(key: str) -> str:
        return rng.choice(LABELS[key])
    contacts = [_written(p, rng) for p in request.customer_contacts]
    joiner = rng.choice((", ", "; "))
    pairs = [(label("account"), request.account),
             (label("outgoing"), _written(request.outgoing, rng)),
             (label("incoming"), _written(request.incoming, rng)),
             (label("contacts"), joiner.join(contacts)),
             (label("type"), request.type.value)]
    if request.effective_date:
        pairs.append((label("effective"), _date(request.effective_date, rng)))
    if request.last_day:
        pairs.append((label("last_day"), _date(request.last_day, rng)))
    if request.renewal_date:
        pairs.append((label("renewal"), _date(request.renewal_date, rng)))
    if request.reason:
        pairs.append((label("reason"), request.reason))
    if request.notes:
        pairs.append((label("notes"), request.notes))
    rng.shuffle(pairs[1:])
    return pairs


def _text(pairs: list[tuple[str, str]], style: str) -> str:
    lines = []
    for name, value in pairs:
        if style == "contacts_list" and name in LABELS["contacts"]:
            people = value.replace("; ", ", ").split(", ")
            lines.append(f"{name}:")
            lines += [f"- {person}" for person in _regroup(people)]
            lines.append("")
        elif style == "bullets":
            lines.append(f"- {name}: {value}")
        elif style == "bold":
            lines.append(f"**{name}:** {value}")
        else:
            lines.append(f"{name}: {value}")
    return "\n".join(lines)


def _regroup(pieces: list[str]) -> list[str]:
    """Undo the split of `Name (email)` entries that never had a comma inside."""
    return [piece for piece in pieces if piece]


def _html(pairs: list[tuple[str, str]], style: str, greeting: str, closing: str) -> str:
    if style == "table":
        rows = "".join(f"<tr><td><b>{html_lib.escape(name)}</b></td>"
                       f"<td>{html_lib.escape(value)}</td></tr>" for name, value in pairs)
        body = f"<table border=\"1\">{rows}</table>"
    else:
        body = _divs(_text(pairs, style))
    return (f"<div dir=\"ltr\"><div>{html_lib.escape(greeting)}</div><div><br></div>{body}"
            f"<div><br></div>{_divs(closing)}</div>")


def simulate_request(seed: int) -> SimulatedRequest:
    rng = random.Random(seed)
    client = REQUEST_CLIENTS[seed % len(REQUEST_CLIENTS)]
    style = STYLES[(seed // len(REQUEST_CLIENTS)) % len(STYLES)]
    request = draw_request(rng)
    pairs = _lines(request, style, rng)
    greeting = rng.choice(("Hi,", "Hello team,", "Hi there,"))
    closing = rng.choice(("Thanks,\nDana", "Best regards,\n\nDana Manager\nHead of Customer "
                          "Success\n+1 555 010 0100", "Cheers\nDana"))
    text_style = "plain" if style == "table" else style
    text = f"{greeting}\n\n{_text(pairs, text_style)}\n\n{closing}\n"
    head = ("From: Dana Manager <dana@example.com>\r\nTo: transitions@example.com\r\n"
            f"Subject: Transition: {request.account}\r\nDate: Mon, 23 Nov 2026 09:00:00 +0000\r\n"
            f"Message-ID: <request-{seed}@example.com>\r\nMIME-Version: 1.0\r\n")
    if client in ("thunderbird", "apple_mail"):
        delsp = client == "apple_mail"
        params = "format=flowed" + ("; delsp=yes" if delsp else "")
        raw = (head + f"Content-Type: text/plain; charset=UTF-8; {params}\r\n"
               "Content-Transfer-Encoding: 8bit\r\n\r\n"
               + flow(text, delsp=delsp).replace("\n", "\r\n")).encode("utf-8")
    elif client == "outlook":
        raw = _alternative(head, f"_000_req{seed}_", outlook_plain(text),
                           _html(pairs, style, greeting, closing))
    elif client == "gmail":
        raw = _alternative(head, f"000000req{seed}", text, _html(pairs, style, greeting, closing))
    else:
        raw = _alternative(head, "", None, _html(pairs, style, greeting, closing))
    return SimulatedRequest(seed, client, style, raw, request)
