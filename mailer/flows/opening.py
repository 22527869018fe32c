"""Opening a transition: what a single request and each row of a book share.

The transition is recorded with its pending steps, and the outgoing CSM's questionnaire mail
is built here; which mails go out around it is the caller's choice.
"""

from __future__ import annotations

from datetime import datetime

from mailer.flows.outgoing import Outgoing
from mailer.flows.runtime import Runtime
from mailer.flows.schedule import save_step_state
from mailer.handoff.model import InboundMessage, Person, RequestProblem, TransitionRequest
from mailer.handoff.playbooks import choose_playbook
from mailer.handoff.questionnaire import questionnaire_markdown
from mailer.handoff.questionnaire_form import build_form
from mailer.handoff.request import RequestParse
from mailer.handoff.request_fields import CUSTOMER_CONTACTS, INCOMING_CSM, OUTGOING_CSM, PLAYBOOK
from mailer.handoff.scheduling import StepState
from mailer.handoff.transitions import Transition, start_transition
from mailer.handoff.workbook_content import form_filename
from mailer.mail.compose import OutgoingAttachment
from mailer.mail.render import ProductMarkdown
from mailer.state.transition_records import save_transition

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def with_playbook_check(rt: Runtime, parsed: RequestParse) -> RequestParse:
    """The parse, with a problem added when it names a playbook that does not exist."""
    name = parsed.fields.get(PLAYBOOK, "").strip()
    if not name or name.lower() in rt.playbooks:
        return parsed
    problem = RequestProblem(field=PLAYBOOK, message=f"there is no playbook called '{name}'; "
                             f"the choices are {', '.join(sorted(rt.playbooks))}",
                             fix_line=f"Playbook: {sorted(rt.playbooks)[0]}")
    return RequestParse(request=None, fields=parsed.fields,
                        problems=(*parsed.problems, problem), unknown_lines=parsed.unknown_lines)


def checked_request(rt: Runtime, parsed: RequestParse) -> RequestParse:
    """The parse with the company's own rules applied: a playbook that exists, CSMs who are
    colleagues (`internal_domains`), and no more customer contacts than one mail should carry."""
    parsed = with_playbook_check(rt, parsed)
    request = parsed.request
    if request is None:
        return parsed
    problems = [*company_problems(rt, request.outgoing, request.incoming)]
    # Customer mail goes to all of them at once: more is a mistake (limits in inbox_rules).
    most = rt.rules.limits.max_customer_contacts
    if len(request.customer_contacts) > most:
        problems.append(RequestProblem(
            field=CUSTOMER_CONTACTS,
            message=f"{len(request.customer_contacts)} customer contacts are more than the "
                    f"{most} one transition can write to; name the people "
                    "who should hear about the change (the others can be listed in the "
                    "questionnaire)",
            fix_line=f"{CUSTOMER_CONTACTS}: Name <name@customer.com>, Name <name@customer.com>"))
    if not problems:
        return parsed
    return RequestParse(request=None, fields=parsed.fields,
                        problems=(*parsed.problems, *problems),
                        unknown_lines=parsed.unknown_lines)


def company_problems(rt: Runtime, outgoing: Person, incoming: Person) -> list[RequestProblem]:
    """CSMs must be colleagues: the questionnaire and the workbook hold the account's secrets."""
    domains = rt.rules.internal_domains
    if not domains:
        return []
    problems = []
    for label, person in ((OUTGOING_CSM, outgoing), (INCOMING_CSM, incoming)):
        if not rt.rules.is_internal(person.email):
            problems.append(RequestProblem(
                field=label,
                message=f"{person.email} is not an address of the company "
                        f"({', '.join(domains)}); the {label.lower()} gets the account's "
                        "handoff notes, so it must be a colleague's address",
                fix_line=f"{label}: Name <name@{domains[0]}>"))
    return problems


def open_transition(rt: Runtime, request: TransitionRequest, msg: InboundMessage, *,
                    now: datetime, note: str = "request") -> Transition:
    """Record a new transition with its pending steps; sends nothing (shared with books)."""
    playbook = choose_playbook(rt.playbooks, type=request.type.value, name=request.playbook)
    manager = Person(msg.from_name, msg.from_email)
    t = start_transition(request, seq=rt.store.next_transition_seq(), manager=manager,
                         playbook=playbook.name, received=now, thread_root=msg.message_id)
    save_transition(rt.store, t, now=now)
    for step in playbook.steps:
        save_step_state(rt.store, t.id, step.id, StepState())
    rt.store.add_history(t.id, at=now, direction="in", sender=msg.from_email,
                         recipients=list(msg.to), subject=msg.subject, note=note,
                         message_id=msg.message_id)
    return t


def questionnaire_mail(rt: Runtime, t: Transition, context: dict, token: str) -> Outgoing:
    playbook = rt.playbooks[t.playbook]
    form = rt.form_cache.get(t.id) or build_form(t.account, t.id)
    return Outgoing(
        template="questionnaire", to=[t.outgoing], kind="questionnaire",
        context=context | {"questionnaire": ProductMarkdown(questionnaire_markdown(
            "{account}", required=playbook.required_sections), {"account": t.account})},
        reply_token=token, auto_submitted="auto-generated", thread="questionnaire",
        attachments=[OutgoingAttachment(form_filename(t.account, t.id), XLSX, form)])
