"""Did our own mail server vouch for the sender? Authentication-Results read as RFC 8601 says.

`From` is whatever the sender typed. What can be trusted is the verdict our own border server
wrote after checking DMARC, DKIM and SPF, and only that verdict: anyone can put an
`Authentication-Results` header naming our server into the mail they send. So:

- Only headers above the first `Received` that came from outside count. Our servers write
  their `Received` lines (and their results) on top of what the sender sent; the first
  `Received` below ours that another host wrote is where the sender's own headers begin
  (RFC 8601 section 5). A header claiming our authserv-id lower down is the sender's.
- Of those, only the topmost header from a trusted authserv-id is read: a well-behaved border
  server writes its own on top (and removes look-alikes), so anything below it is not its word.
- A result counts only for the domain in `From` (RFC 7489 identifier alignment): DMARC when
  its `header.from` is that domain; DKIM when its `header.d` is that domain or shares its
  organisational domain; SPF likewise for the MAIL FROM domain. The organisational domain comes
  from the Public Suffix List bundled with `publicsuffixlist` (no network at run time), so
  `example.com.evil.example` never passes for `example.com`.

The header itself is parsed with `authres`, the maintained RFC 8601 parser.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import authres
from publicsuffixlist import PublicSuffixList

from mailer.handoff.model import InboundMessage

_RECEIVED_BY = re.compile(r"\bby\s+\[?([A-Za-z0-9.:_-]+)", re.IGNORECASE)
_COMMENT = re.compile(r"\([^()]*\)")


@dataclass(frozen=True)
class Verdict:
    """Whether the sender's domain was vouched for, and in words why (for the log)."""

    passed: bool
    reason: str


@functools.cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the list shipped inside the package: no download


def organisational_domain(domain: str) -> str:
    """`mail.example.co.uk` -> `example.co.uk`; a name the list does not know stays as it is."""
    domain = domain.strip().strip(".").lower()
    return _suffixes().privatesuffix(domain) or domain


def aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment (RFC 7489 3.1): the same organisational domain, never a suffix match."""
    domain, from_domain = domain.strip(".").lower(), from_domain.strip(".").lower()
    if not domain or not from_domain:
        return False
    return domain == from_domain or organisational_domain(domain) == organisational_domain(
        from_domain)


def _domain_of(value: str) -> str:
    """`user@example.com`, `@example.com` or `example.com` -> `example.com`."""
    return value.strip().strip("<>").rpartition("@")[2].strip().lower()


def received_by(value: str) -> str:
    """The host that wrote a `Received` header (`... by mx.example.com with ESMTP ...`)."""
    match = _RECEIVED_BY.search(_COMMENT.sub(" ", value))
    return match.group(1).lower().rstrip(".") if match else ""


def our_results(headers: Sequence[tuple[str, str]], *, trusted_ids: Iterable[str],
                our_hosts: Iterable[str]) -> tuple[authres.AuthenticationResultsHeader | None,
                                                   str]:
    """The topmost Authentication-Results our own server wrote, or None and why not.

    `headers` are (lower-cased name, value) in the order they appear, newest first.
    """
    trusted = {t.lower() for t in trusted_ids}
    hosts = {h.lower().rstrip(".") for h in our_hosts}
    seen_ours = False
    for name, value in headers:
        if name == "received":
            if received_by(value) in hosts:
                seen_ours = True
            elif seen_ours:
                return None, ("no Authentication-Results from a trusted server above the first "
                              "Received from outside")
            continue
        if name != "authentication-results":
            continue
        try:
            parsed = authres.AuthenticationResultsHeader.parse_value(value)
        except (authres.AuthResError, ValueError, IndexError, TypeError):
            continue  # unreadable: it cannot be our server's
        if str(parsed.authserv_id or "").lower() not in trusted:
            continue
        # Above every Received of ours only our own later hops write, unless no Received
        # names our servers at all: then nothing marks the border and nothing is believed.
        if not seen_ours and not any(n == "received" and received_by(v) in hosts
                                     for n, v in headers):
            return None, ("no Received header written by a trusted server, so the border "
                          "between our headers and the sender's is unknown")
        return parsed, ""
    return None, "no Authentication-Results from a trusted server"


def _property(result: authres.AuthenticationResult, ptype: str, name: str) -> str:
    for prop in result.properties:
        if str(prop.type).lower() == ptype and str(prop.name).lower() == name:
            return str(prop.value or "")
    return ""


def verdict(msg: InboundMessage, *, trusted_ids: Sequence[str],
            our_hosts: Sequence[str] = ()) -> Verdict:
    """Did one of our trusted servers say the `From` domain passed DMARC or aligned DKIM/SPF?"""
    from_domain = _domain_of(msg.from_email)
    if not from_domain:
        return Verdict(False, "no From address")
    header, why = our_results(msg.headers, trusted_ids=trusted_ids,
                              our_hosts=[*trusted_ids, *our_hosts])
    if header is None:
        return Verdict(False, why)
    for result in header.results:
        if str(result.result).lower() != "pass":
            continue
        method = str(result.method).lower()
        if method == "dmarc" and _domain_of(_property(result, "header", "from")) == from_domain:
            return Verdict(True, f"dmarc=pass for {from_domain}")
        if method == "dkim":
            signer = _property(result, "header", "d") or _domain_of(
                _property(result, "header", "i"))
            if aligned(signer, from_domain):
                return Verdict(True, f"dkim=pass for {signer}, aligned with {from_domain}")
        if method == "spf":
            envelope = _domain_of(_property(result, "smtp", "mailfrom"))
            if aligned(envelope, from_domain):
                return Verdict(True, f"spf=pass for {envelope}, aligned with {from_domain}")
    return Verdict(False, f"no passing DMARC, or DKIM/SPF aligned with {from_domain}")
