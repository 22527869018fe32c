"""Read a manager's transition request from the body of an email.

Managers write `Field: value` lines however their mail client and habits shape them: bullets,
bold labels, Outlook tables, HTML-only mail, fixes quoted inline in a reply. The raw field values
are found first (`mailer.handoff.request_lines`), then validated here into a `TransitionRequest`
or a complete list of problems (`request_from_fields`). Keeping the two steps apart lets a
manager fix a request by replying with only the corrected lines: the caller stores the first
message's fields and merges the reply's over them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from mailer.handoff.dates import parse_date
from mailer.handoff.model import Person, RequestProblem, TransitionRequest, TransitionType
from mailer.handoff.people import (
    PLACEHOLDER_EMAILS,
    address_problem,
    emails_in,
    name_beside,
    parse_person,
    split_people,
)
from mailer.handoff.request_fields import (
    ACCOUNT,
    COMPANY_PLACEHOLDER,
    CUSTOMER_CONTACTS,
    CUSTOMER_PLACEHOLDER,
    DATE_PLACEHOLDER,
    EFFECTIVE_DATE,
    INCOMING_CSM,
    LAST_DAY,
    MEETING_LINK,
    NOTES,
    OUTGOING_CSM,
    PLAYBOOK,
    REASON,
    RENEWAL_DATE,
    SHARE_REASON,
    TYPE,
)
from mailer.handoff.request_lines import (
    read_field_lines,
)

_STALE_EFFECTIVE_DAYS = 7


@dataclass(frozen=True)
class RequestParse:
    """What came of reading a request: the request itself only when nothing is wrong."""

    request: TransitionRequest | None
    fields: dict[str, str] = field(default_factory=dict)
    problems: tuple[RequestProblem, ...] = ()
    unknown_lines: tuple[str, ...] = ()


@dataclass
class _Checker:
    """Validates raw fields one by one, collecting every problem instead of stopping."""

    fields: dict[str, str]
    today: date
    problems: list[RequestProblem] = field(default_factory=list)

    def raw(self, name: str) -> str:
        return self.fields.get(name, "").strip()

    def problem(self, name: str, message: str, fix_line: str) -> None:
        self.problems.append(RequestProblem(field=name, message=message, fix_line=fix_line))

    def account(self) -> str:
        account = self.raw(ACCOUNT)
        if not account:
            self.problem(
                ACCOUNT,
                "I could not find which customer account is moving.",
                f"{ACCOUNT}: Customer company name",
            )
        return account

    def csm(self, name: str, role_words: str) -> Person | None:
        raw = self.raw(name)
        fix_example = f"{name}: Name <{COMPANY_PLACEHOLDER}>"
        if not raw:
            self.problem(name, f"I need to know who the {role_words} is.", fix_example)
            return None
        person = parse_person(raw)
        addresses = emails_in(raw)
        if len(addresses) > 1:
            self.problem(
                name,
                f'"{raw}" holds {len(addresses)} addresses; the {role_words} is one person.',
                fix_example,
            )
        elif person is None:
            self.problem(
                name,
                f'"{raw}" has no email address, and I need one to write to the {role_words}.',
                f"{name}: {name_beside(raw) or 'Name'} <{COMPANY_PLACEHOLDER}>",
            )
        elif person.email in PLACEHOLDER_EMAILS:
            self.problem(
                name,
                f"{person.email} is the example address from the template, not a real one.",
                fix_example,
            )
            return None
        elif (why := address_problem(person.email)) is not None:
            self.problem(
                name,
                f"{person.email} is not a usable email address: {why}.",
                f"{name}: {person.name or 'Name'} <{COMPANY_PLACEHOLDER}>",
            )
            return None
        return person

    def contacts(self) -> tuple[Person, ...]:
        raw = self.raw(CUSTOMER_CONTACTS)
        if not raw:
            self.problem(
                CUSTOMER_CONTACTS,
                "Please name at least one person at the customer, so I know who to introduce "
                "the new CSM to.",
                f"{CUSTOMER_CONTACTS}: Name <{CUSTOMER_PLACEHOLDER}>",
            )
            return ()
        people: list[Person] = []
        unreadable: list[str] = []
        for entry in split_people(raw):
            person = parse_person(entry)
            if person is None or person.email in PLACEHOLDER_EMAILS:
                unreadable.append(entry)
            elif (why := address_problem(person.email)) is not None:
                self.problem(
                    CUSTOMER_CONTACTS,
                    f"{person.email} is not a usable email address: {why}.",
                    f"{CUSTOMER_CONTACTS}: {person.name or 'Name'} <{CUSTOMER_PLACEHOLDER}>",
                )
            elif person.email not in {known.email for known in people}:
                people.append(person)
        if unreadable:
            self._contacts_problem(people, unreadable)
        return tuple(people)

    def _contacts_problem(self, people: list[Person], unreadable: list[str]) -> None:
        listed = "; ".join(f'"{entry}"' for entry in unreadable)
        if any(set(emails_in(entry)) & PLACEHOLDER_EMAILS for entry in unreadable):
            listed += " (the example addresses from the template do not count)"
        fixed = [person.formatted() for person in people]
        fixed += [
            f"{name_beside(entry) or 'Name'} <{CUSTOMER_PLACEHOLDER}>" for entry in unreadable
        ]
        self.problem(
            CUSTOMER_CONTACTS,
            f"I could not find one real email address for {listed}. Each customer contact needs "
            "their own address; please send the whole list again.",
            f"{CUSTOMER_CONTACTS}: {', '.join(fixed)}",
        )

    def transition_type(self) -> TransitionType:
        raw = self.raw(TYPE)
        if not raw:
            return TransitionType.SOFT
        first_word = re.split(r"[\s,;:.()/-]+", raw.lower().strip(" *_"))[0]
        try:
            return TransitionType(first_word)
        except ValueError:
            self.problem(
                TYPE,
                f'"{raw}" is not a type I know. Choose soft (both CSMs overlap for a few '
                "weeks), hard (a firm last day for the outgoing CSM) or abrupt (the outgoing "
                "CSM has already left or leaves at very short notice).",
                f"{TYPE}: soft",
            )
            return TransitionType.SOFT

    def date_field(self, name: str) -> date | None:
        raw = self.raw(name)
        if not raw:
            return None
        parsed = parse_date(raw, today=self.today)
        if parsed.problem:
            self.problem(name, f"{name}: {parsed.problem}", f"{name}: {DATE_PLACEHOLDER}")
        value = parsed.value
        if value is not None and not (self.today - timedelta(days=MAX_YEARS_AWAY * 366)
                                      <= value <= self.today
                                      + timedelta(days=MAX_YEARS_AWAY * 366)):
            # A date decades away is a typo, and would push the schedule past the calendar.
            self.problem(name, f"{name}: {value.isoformat()} is more than {MAX_YEARS_AWAY} "
                         "years away; please check the year.", f"{name}: {DATE_PLACEHOLDER}")
            return None
        return value

    def effective_date(self) -> date | None:
        effective = self.date_field(EFFECTIVE_DATE)
        if effective is not None and effective < self.today - timedelta(_STALE_EFFECTIVE_DAYS):
            self.problem(
                EFFECTIVE_DATE,
                f"The effective date, {effective.isoformat()}, is more than a week in the past, "
                "so the plan would start overdue. Please give the date the handoff should "
                "really take effect.",
                f"{EFFECTIVE_DATE}: {DATE_PLACEHOLDER}",
            )
            return None
        return effective

    def share_reason(self) -> bool:
        raw = self.raw(SHARE_REASON)
        if not raw:
            return False
        answer = _YES_NO.get(re.split(r"[\s,;.!]+", raw.lower())[0])
        if answer is None:
            self.problem(
                SHARE_REASON,
                "Please answer yes or no for sharing the reason with the customer "
                f'(I read "{raw}").',
                f"{SHARE_REASON}: no",
            )
            return False
        return answer


_YES_NO = {
    "yes": True,
    "y": True,
    "true": True,
    "1": True,
    "no": False,
    "n": False,
    "false": False,
    "0": False,
}


MAX_YEARS_AWAY = 5  # dates read from mail further from today than this are not believed


def request_from_fields(fields: dict[str, str], *, today: date) -> RequestParse:
    """Validate raw fields into a request, reporting every problem found at once."""
    check = _Checker(fields=dict(fields), today=today)
    account = check.account()
    outgoing = check.csm(OUTGOING_CSM, "outgoing CSM")
    incoming = check.csm(INCOMING_CSM, "incoming CSM")
    if outgoing is not None and incoming is not None and outgoing.email == incoming.email:
        check.problem(
            INCOMING_CSM,
            f"{incoming.email} is both the outgoing and the incoming CSM; the account needs "
            "to move to someone else.",
            f"{INCOMING_CSM}: Name <{COMPANY_PLACEHOLDER}>",
        )
    contacts = check.contacts()
    transition_type = check.transition_type()
    effective = check.effective_date()
    last_day = check.date_field(LAST_DAY)
    if transition_type is TransitionType.HARD and not check.raw(LAST_DAY):
        check.problem(
            LAST_DAY,
            "A hard handoff needs the outgoing CSM's last day with the customer, so the plan "
            "can work back from it.",
            f"{LAST_DAY}: {DATE_PLACEHOLDER}",
        )
    renewal = check.date_field(RENEWAL_DATE)
    share_reason = check.share_reason()
    problems = tuple(check.problems)
    if problems or outgoing is None or incoming is None:
        return RequestParse(request=None, fields=check.fields, problems=problems)
    request = TransitionRequest(
        account=account,
        outgoing=outgoing,
        incoming=incoming,
        customer_contacts=contacts,
        type=transition_type,
        effective_date=effective,
        last_day=last_day,
        renewal_date=renewal,
        reason=check.raw(REASON),
        share_reason=share_reason,
        playbook=check.raw(PLAYBOOK) or None,
        notes=check.raw(NOTES),
        meeting_link=check.raw(MEETING_LINK),
    )
    return RequestParse(request=request, fields=check.fields)


def parse_request(text: str, *, html: str = "", today: date) -> RequestParse:
    """Read and validate a request from a message's text (or, failing that, its HTML) body."""
    fields, unknown = read_field_lines(text, html)
    parsed = request_from_fields(fields, today=today)
    return RequestParse(
        request=parsed.request,
        fields=parsed.fields,
        problems=parsed.problems,
        unknown_lines=unknown,
    )
