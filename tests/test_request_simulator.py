"""Requests nobody wrote to fit the reader: every client, label and layout a manager uses.

Each seed is one manager's request from Thunderbird or Apple Mail (format=flowed, so the
customer contacts line arrives soft-wrapped over several lines), Gmail, Outlook (whose text
part renders each address as `x<mailto:x>`) or HTML only; with labels or their aliases,
bullets, bold labels, a table or a contacts list under its heading; with a greeting and a
signature. The property: the request read is exactly the request written.
"""

from __future__ import annotations

import pytest
from request_simulator import REQUEST_CLIENTS, STYLES, TODAY, simulate_request

from mailer.handoff.request import parse_request
from mailer.mail.parsing import parse_message
from mailer.mail.reply_text import request_bodies

SAMPLE = range(0, 250)
ALL = range(0, 2500)


def check(seeds: range) -> None:
    failures = []
    for seed in seeds:
        case = simulate_request(seed)
        msg = parse_message(case.raw)
        text, html = request_bodies(msg)  # as the request flow reads it
        parsed = parse_request(text, html=html, today=TODAY)
        if parsed.request != case.request:
            failures.append(f"{case.describe()}: read {parsed.request} "
                            f"(problems {[p.message for p in parsed.problems]}), "
                            f"written {case.request}")
    assert not failures, f"{len(failures)} of {len(seeds)} misread:\n" + "\n".join(failures[:4])


@pytest.mark.parametrize("start", range(SAMPLE.start, SAMPLE.stop, 125))
def test_a_sample_of_simulated_requests_reads_exactly_as_written(start: int) -> None:
    check(range(start, start + 125))


@pytest.mark.generated_full
@pytest.mark.parametrize("start", range(ALL.start, ALL.stop, 500))
def test_every_simulated_request_reads_exactly_as_written(start: int) -> None:
    check(range(start, start + 500))


def test_the_request_simulator_covers_every_client_and_style() -> None:
    cases = [simulate_request(seed) for seed in SAMPLE]
    assert {(c.client, c.style) for c in cases} == {(a, b) for a in REQUEST_CLIENTS
                                                     for b in STYLES}
    wrapped = [c for c in cases if c.client in ("thunderbird", "apple_mail")
               and c.style != "contacts_list" and len(c.request.customer_contacts) >= 3]
    assert wrapped and all(b" \r\n" in c.raw for c in wrapped)  # soft line breaks
