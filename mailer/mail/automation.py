"""Is this mail from a machine? Bounces, auto-replies, lists and our own mail coming back.

We never answer a machine (RFC 3834): a reply to an auto-responder or a bounce starts a
mail loop, and a reply to a list reaches strangers. Each check is a small named rule; the
first that fires gives the reason. `X-Auto-Response-Suppress` is deliberately ignored:
Outlook puts it on ordinary mail written by people.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from dateutil import parser as date_parser

from mailer.handoff.model import InboundMessage

_REPORT_TYPES = (
    "multipart/report",
    "message/delivery-status",
    "message/global-delivery-status",
    "message/disposition-notification",
    "message/feedback-report",
)
_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply", "auto-reply"})
_LIST_HEADERS = (
    "list-id",
    "list-post",
    "list-unsubscribe",
    "list-subscribe",
    "list-help",
    "list-owner",
    "mailing-list",  # ezmlm
    "x-mailing-list",
    "x-mlserver",  # fml
    "x-ml-name",
)
_MACHINE_LOCAL_PART = re.compile(
    r"^(?:mailer[-_.]?daemon|post[-_.]?master|mail[-_.]?delivery[-_.]?(?:system|subsystem)?"
    r"|(?:do[-_.]?)?not?[-_.]?reply|no[-_.]?replies|bounces?|auto[-_.]?(?:reply|responder))"
    r"(?:[-_+.].*)?$",
    re.IGNORECASE,
)

_DAEMON_LOCAL_PART = re.compile(r"^(?:mailer[-_.]?daemon|post[-_.]?master)$", re.IGNORECASE)

_BOUNCE_SUBJECT = re.compile(
    r"undeliver(?:ed|able)|returned mail|return(?:ed)? to sender|delivery status notification"
    r"|delivery (?:has )?fail|mail delivery (?:failed|failure|problem|system)|failure notice"
    r"|delivery failure|could not (?:be )?deliver|non[- ]?deliver|message not delivered"
    r"|warning: could not send|delayed mail|delivery (?:notification|report)"
    r"|unzustellbar|nicht zustellbar|non remis|non distribuable|no se puede entregar"
    r"|non recapitabile|onbestelbaar",
    re.IGNORECASE,
)

# Subjects auto-responders use, in the languages our customers write in.
_OUT_OF_OFFICE_SUBJECT = re.compile(
    r"out of (?:the )?office|out-of-office|\booo\b|automatic reply|auto[- ]?reply|autoreply"
    r"|^\s*auto(?:matic)?\s*(?:response)?\s*:|auto[- ]?response|on vacation|on holiday|on leave"
    r"|vacation (?:reply|response|message|notice)|away from (?:the office|my desk)"
    r"|abwesenheit|automatische antwort|automatische nachricht|nicht im b[üu]ro|au[sß]er haus"
    r"|r[ée]ponse automatique|absent du bureau|en cong[ée]s?"
    r"|fuera de la oficina|respuesta autom[áa]tica"
    r"|risposta automatica|fuori (?:sede|ufficio)"
    r"|afwezig|automatisch antwoord|niet aanwezig|buiten kantoor"
    r"|autosvar|fr[åa]nvarande|frav[æe]rende|automaattinen vastaus"
    # Words that are also ordinary nouns count only when they open the subject.
    r"|^\s*(?:absence|absent|ausente|assente|poissa|不在|부재)\b"
    r"|resposta autom[áa]tica|fora do escrit[óo]rio|ausente do escrit[óo]rio"
    r"|automatyczna odpowied[źz]|nieobecno[śs][ćc]|automatick[áa] odpov[ěe][ďd]"
    r"|автоответ|автоматический ответ|отсутств"
    r"|自動応答|自動返信|自动回复|自動回覆|자동 응답",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Context:
    message: InboundMessage
    own_addresses: tuple[str, ...]
    loop_header: str


@dataclass(frozen=True)
class _Rule:
    """One reason a message is machine-made, with the check that spots it."""

    name: str
    check: Callable[[_Context], str | None]


def automation_reason(
    msg: InboundMessage, *, own_addresses: Sequence[str], loop_header: str = "X-Mailer-Loop"
) -> str | None:
    """None when a person wrote this mail, else a short reason why we must not answer it."""
    context = _Context(msg, tuple(a.lower() for a in own_addresses), loop_header)
    for rule in _RULES:
        found = rule.check(context)
        if found:
            return f"{rule.name}: {found}"
    return None


def _our_loop_header(context: _Context) -> str | None:
    value = context.message.header(context.loop_header)
    return f"{context.loop_header} present" if value is not None else None


def _from_ourselves(context: _Context) -> str | None:
    sender = context.message.from_email
    if sender and any(_same_mailbox(sender, own) for own in context.own_addresses):
        return sender
    return None


def _same_mailbox(address: str, own: str) -> bool:
    """`transitions+abc@example.com` is a token address of `transitions@example.com`."""
    local, _, domain = address.rpartition("@")
    own_local, _, own_domain = own.rpartition("@")
    if domain != own_domain:
        return False
    return local == own_local or local.startswith(own_local + "+")


def _auto_submitted(context: _Context) -> str | None:
    value = context.message.header("auto-submitted")
    if value is None:
        return None
    keyword = value.split(";", 1)[0].strip().lower()
    return None if keyword == "no" else f"Auto-Submitted: {keyword or 'present'}"


def _null_return_path(context: _Context) -> str | None:
    return "null return path <>" if context.message.return_path == "" else None


def _report(context: _Context) -> str | None:
    msg = context.message
    if msg.content_type in _REPORT_TYPES:
        return msg.content_type
    for content_type in (*msg.part_types, *(a.content_type for a in msg.attachments)):
        if content_type in _REPORT_TYPES[1:]:
            return f"{content_type} part"
    return None


def _no_sender(context: _Context) -> str | None:
    """No From at all, or From: <>: only a machine sends mail that cannot be answered."""
    value = context.message.header("from")
    if value is not None:
        return "empty From" if value.strip() in ("", "<>") else None
    return None if context.message.from_email else "no From"


def _loop_headers(context: _Context) -> str | None:
    """X-Loop, whatever its value (help desks and list managers set it on what they send), and
    Exchange's out-of-office form: made by an inbox rule (X-MS-Exchange-Inbox-Rules-Loop) and
    asking for no answer at all. The rules marker alone is a person's mail forwarded by a rule."""
    msg = context.message
    if msg.header("x-loop") is not None:
        return "X-Loop present"
    if msg.header("x-ms-exchange-inbox-rules-loop") is not None and _suppresses_all(msg):
        return "Exchange inbox rule reply (X-MS-Exchange-Inbox-Rules-Loop)"
    return None


def _suppresses_all(msg: InboundMessage) -> bool:
    value = (msg.header("x-auto-response-suppress") or "").lower()
    return "all" in value or "oof" in value


# Subjects that only machines write, whatever the headers say.
_MACHINE_SUBJECT = re.compile(
    r"^\s*\[auto[- ]?generated\]|^\s*delivery status\b|complaint about message from"
    r"|^\s*(?:abuse|spam) (?:report|complaint)\b",
    re.IGNORECASE,
)


def _machine_subject(context: _Context) -> str | None:
    subject = context.message.subject
    return subject if _MACHINE_SUBJECT.search(subject) else None


def _precedence(context: _Context) -> str | None:
    value = (context.message.header("precedence") or "").strip().lower()
    return f"Precedence: {value}" if value in _BULK_PRECEDENCE else None


def _mailing_list(context: _Context) -> str | None:
    for name in _LIST_HEADERS:
        if context.message.header(name) is not None:
            return f"{name} present"
    return None


def _machine_sender(context: _Context) -> str | None:
    sender = context.message.from_email
    if _MACHINE_LOCAL_PART.match(sender.rpartition("@")[0] or "-"):
        return sender
    # Senders of one-to-one mail through a service often have a `bounces+...` return path,
    # so only the daemons themselves count there.
    envelope = context.message.return_path or ""
    if _DAEMON_LOCAL_PART.match(envelope.rpartition("@")[0] or "-"):
        return envelope
    return None


def _bounce_subject(context: _Context) -> str | None:
    subject = context.message.subject
    return subject if _BOUNCE_SUBJECT.search(subject) else None


def _out_of_office_subject(context: _Context) -> str | None:
    subject = context.message.subject
    return subject if _OUT_OF_OFFICE_SUBJECT.search(subject) else None


def _vendor_auto_reply_header(context: _Context) -> str | None:
    """Headers some responders add instead of Auto-Submitted (never X-Auto-Response-Suppress)."""
    msg = context.message
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder", "x-auto-reply"):
        if msg.header(name) is not None:
            return f"{name} present"
    if (msg.header("x-precedence") or "").strip().lower() in _BULK_PRECEDENCE:
        return "X-Precedence"
    if msg.header("x-failed-recipients") is not None:
        return "X-Failed-Recipients present"
    return None


_RULES: tuple[_Rule, ...] = (
    _Rule("loop", _our_loop_header),
    _Rule("own address", _from_ourselves),
    _Rule("auto-submitted", _auto_submitted),
    _Rule("null sender", _null_return_path),
    _Rule("no sender", _no_sender),
    _Rule("loop header", _loop_headers),
    _Rule("report", _report),
    _Rule("precedence", _precedence),
    _Rule("mailing list", _mailing_list),
    _Rule("machine sender", _machine_sender),
    _Rule("auto-reply header", _vendor_auto_reply_header),
    _Rule("bounce subject", _bounce_subject),
    _Rule("machine subject", _machine_subject),
    _Rule("out-of-office subject", _out_of_office_subject),
)


# -- out of office -------------------------------------------------------------------------


def is_out_of_office(msg: InboundMessage) -> bool:
    """An auto-reply saying someone is away, as opposed to a bounce or a list mail."""
    context = _Context(msg, (), "")
    if _report(context) or _bounce_subject(context) or _machine_sender(context):
        return False
    if _out_of_office_subject(context):
        return True
    # A personal responder (Sieve vacation, Exchange) that is not a bounce is an away notice.
    auto = (msg.header("auto-submitted") or "").strip().lower()
    # Exchange's out-of-office: made by an inbox rule, with its "suppress all" marker.
    exchange = msg.header("x-ms-exchange-inbox-rules-loop") is not None and _suppresses_all(msg)
    return auto.startswith("auto-replied") or exchange or \
        _vendor_auto_reply_header(context) is not None


# The phrase that introduces the day someone is back, per language.
_RETURN_CUE = re.compile(
    r"(?:back|return(?:ing)?|in the office|available(?: again)?)(?:\s+(?:on|by|from))?\b"
    r"|(?:away|out(?: of (?:the )?office)?|absent|off|on (?:vacation|holiday|leave))"
    r"\s+(?:until|till|through|to)"
    r"|\buntil\b|\btill\b"
    r"|(?:zurück|wieder (?:im büro|erreichbar|da))\s+(?:am|ab)|\bbis\s+(?:zum|einschließlich)?"
    r"|de retour (?:le|à partir du|au bureau le)|jusqu'?\s*(?:au|à)|\bretour le"
    r"|hasta el|de vuelta el|fino al|tot en met|terug op",
    re.IGNORECASE,
)
_DATE_AFTER_CUE = re.compile(r"[^\n;!?]{0,60}")
_MONTHS = {
    # German, French, Spanish, Italian, Dutch month names into English for dateutil.
    "januar": "january", "jänner": "january", "janvier": "january", "enero": "january",
    "gennaio": "january", "januari": "january", "februar": "february", "février": "february",
    "fevrier": "february", "febrero": "february", "febbraio": "february",
    "februari": "february", "märz": "march", "maerz": "march", "mars": "march",
    "marzo": "march", "maart": "march", "avril": "april", "abril": "april", "aprile": "april",
    "mai": "may", "mayo": "may", "maggio": "may", "mei": "may", "juni": "june",
    "juin": "june", "junio": "june", "giugno": "june", "juli": "july", "juillet": "july",
    "julio": "july", "luglio": "july", "august": "august", "août": "august", "aout": "august",
    "agosto": "august", "augustus": "august", "septembre": "september",
    "septiembre": "september", "settembre": "september", "oktober": "october",
    "octobre": "october", "octubre": "october", "ottobre": "october", "novembre": "november",
    "noviembre": "november", "dezember": "december", "décembre": "december",
    "decembre": "december", "diciembre": "december", "dicembre": "december",
}  # fmt: skip
_MONTH_WORD = re.compile(r"\b(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\b", re.I)
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})[./](\d{1,2})(?:[./](\d{2,4}))?\b")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MONTH_EN = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_WORDY_DATE = re.compile(
    rf"\b(?:\d{{1,2}}(?:st|nd|rd|th|er|\.|º)?\s+(?:of\s+|de\s+)?{_MONTH_EN}\.?(?:,?\s+\d{{4}})?"
    rf"|{_MONTH_EN}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?)\b",
    re.IGNORECASE,
)


def return_date(msg: InboundMessage, *, today: date) -> date | None:
    """The day an out-of-office sender says they are back, or None when they do not say."""
    for text in (msg.subject, msg.text):
        for cue in _RETURN_CUE.finditer(text):
            window = _DATE_AFTER_CUE.match(text, cue.end())
            found = _first_date(window.group(0) if window else "", today)
            if found is not None:
                return found
    return None


def _first_date(fragment: str, today: date) -> date | None:
    english = _MONTH_WORD.sub(lambda m: _MONTHS[m.group(1).lower()], fragment)
    candidates: list[tuple[int, date]] = []
    for match in _ISO_DATE.finditer(english):
        candidates.extend(_dated(match.start(), match.group(0), today, dayfirst=False))
    for match in _NUMERIC_DATE.finditer(english):
        candidates.extend(_dated(match.start(), match.group(0), today, dayfirst=True))
    for match in _WORDY_DATE.finditer(english):
        candidates.extend(_dated(match.start(), match.group(0), today, dayfirst=True))
    return min(candidates)[1] if candidates else None


def _dated(position: int, text: str, today: date, *, dayfirst: bool) -> list[tuple[int, date]]:
    default = date_parser.parse("2000-01-01").replace(year=today.year, month=today.month, day=1)
    try:
        parsed = date_parser.parse(text, dayfirst=dayfirst, default=default).date()
    except (ValueError, OverflowError):
        return []
    if not re.search(r"\d{4}", text) and parsed < today:
        # "back on 3 January" written in December means next year.
        parsed = parsed.replace(year=parsed.year + 1)
    return [(position, parsed)]
