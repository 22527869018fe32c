"""The mail the benchmarks move: managers' requests, complete questionnaire replies, and the
everyday noise of a busy inbox (auto-replies, strangers). Written here, as clients send it."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.parser import BytesHeaderParser
from email.utils import format_datetime

from benchmarks.harness import ADDRESS, MANAGER

MANAGER_NAME = "Dana Manager"
STRANGERS = 5  # a stranger is refused once a day, so a handful of them send the noise


def outgoing_address(n: int) -> str:
    return f"out{n}@example.com"


def incoming_address(n: int) -> str:
    return f"in{n}@example.com"


def _headers(*, sender: str, to: str, subject: str, message_id: str, extra: str = "") -> str:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Date: {format_datetime(datetime.now(UTC))}\r\nMessage-ID: {message_id}\r\n"
            f"{extra}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n")


def _body(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


def request(n: int, *, tag: str = "b") -> bytes:
    """Manager Dana asks for account `n` to move from out<n> to in<n>."""
    kind = ("soft", "hard", "abrupt")[n % 3]
    last_day = "Last day: 2027-03-12\n" if kind == "hard" else ""
    body = (f"Hi,\n\nPlease start this handover.\n\nAccount: Bench Account {n}\n"
            f"Outgoing CSM: Olive Out{n} <{outgoing_address(n)}>\n"
            f"Incoming CSM: Ivan In{n} <{incoming_address(n)}>\n"
            f"Customer contacts: Pat Lee <pat{n}@customer{n}.example>, "
            f"Jo Park <jo{n}@customer{n}.example>\n"
            f"Type: {kind}\nEffective date: 2027-03-15\n{last_day}"
            "Renewal date: 2027-09-30\nReason: rebalancing the book of business\n\n"
            "Thanks,\nDana\n")
    head = _headers(sender=f"{MANAGER_NAME} <{MANAGER}>", to=ADDRESS,
                    subject=f"Transition: Bench Account {n}",
                    message_id=f"<req-{tag}-{n}@mail.example.com>")
    return head.encode() + _body(body)


COMPLETE_ANSWERS = {
    1: "Pat Lee, CTO, pat@customer.example, champion - prefers short written updates\n"
       "Jo Park, VP Operations, jo@customer.example, executive sponsor - quarterly reviews\n"
       "Sam Reed, Analyst, sam@customer.example, user - power user of the exports",
    2: "Positive overall. They renewed early last year and answer quickly.",
    3: "Good fit for dispatch planning; invoicing is a stretch for them.",
    4: "- Open: route exports time out for large fleets (ticket 981)\n"
       "- Resolved: the Q3 outage was credited in October",
    5: "Cut planning time by 30% in the last two quarters.",
    6: "Roll out to the second region before the summer.",
    7: "A pilot of the new mobile app with 20 drivers.",
    8: "Renewal on 2027-09-30, two-year term, 10% discount that ends at renewal.",
    9: "Medium: a competitor pitched their COO in November.",
    10: "Monthly call on the first Tuesday, email in between; Central European Time.",
    11: "They acquired a small courier company in January.",
    12: "Notes and contracts are in the shared drive under Customers/Bench.",
}


def questionnaire_reply(n: int, *, reply_to: str, in_reply_to: str, titles: dict[int, str],
                        tag: str = "b") -> bytes:
    """Olive answers every section of the questionnaire in one top-posted reply."""
    sections = "\n\n".join(f"## {number}. {titles[number]}\n{text}"
                           for number, text in COMPLETE_ANSWERS.items())
    body = f"Hi, here is everything for the handover.\n\n{sections}\n\nOlive\n"
    extra = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n"
    head = _headers(sender=f"Olive Out{n} <{outgoing_address(n)}>", to=reply_to,
                    subject=f"Re: Handoff questions for Bench Account {n}",
                    message_id=f"<answers-{tag}-{n}@mail.example.com>", extra=extra)
    return head.encode() + _body(body)


def auto_reply(n: int) -> bytes:
    head = _headers(sender=f"Pat Lee <pat{n}@customer.example>", to=ADDRESS,
                    subject="Automatic reply: Transition", message_id=f"<oof-{n}@customer.example>",
                    extra="Auto-Submitted: auto-replied\r\n")
    return head.encode() + _body("I am out of the office until Monday and will reply then.\n")


def stranger(n: int) -> bytes:
    who = n % STRANGERS
    head = _headers(sender=f"Stranger {who} <stranger{who}@elsewhere.example>", to=ADDRESS,
                    subject="Please move our account",
                    message_id=f"<stranger-{n}@elsewhere.example>")
    return head.encode() + _body("Account: Somebody Else\nOutgoing CSM: nobody@example.com\n")


def mixed_backlog(count: int, *, requests_every: int) -> list[bytes]:
    """A weekend's inbox: a request every `requests_every` messages, the rest auto-replies and
    strangers' mail in turn."""
    backlog = []
    for n in range(count):
        if n % requests_every == 0:
            backlog.append(request(n, tag=f"mix{count}"))
        elif n % 2:
            backlog.append(auto_reply(n))
        else:
            backlog.append(stranger(n))
    return backlog


def header(raw: bytes, name: str) -> str:
    message = BytesHeaderParser(policy=policy.default).parsebytes(raw)
    return str(message.get(name, ""))
