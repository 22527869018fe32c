"""Where the words someone wrote end and their sign-off and signature begin.

Most signatures have no "-- " above them. They start with a closing ("Best regards,",
"Viele Grüße", "Cordialement", "Met vriendelijke groet"), with the sender's own name, or with
a mobile client's "Sent from my iPhone", and run on with a title, a company, phone numbers,
a web address and often a legal disclaimer. Nothing of that belongs in an answer, a contact
or an issue. The rules here are general: what a closing is in our users' languages, what a
signature line looks like, what a disclaimer says.
"""

from __future__ import annotations

import functools
import re
import unicodedata

# Closings people end a mail with, in the languages of our users.
CLOSINGS = (
    r"thanks|thank you|thanks again|many thanks|thanks a lot|thanks so much|thx|ty|cheers"
    r"|best|all the best|best regards|kind regards|warm regards|warmest regards|regards"
    r"|best wishes|sincerely|yours sincerely|yours truly|yours|respectfully|warmly|take care"
    r"|talk soon|speak soon|have a (?:nice|good|great|lovely) (?:day|weekend|one|evening)|br|kr"
    r"|rgds"
    r"|viele grüße|viele grüsse|beste grüße|beste grüsse|liebe grüße|liebe grüsse|lg|vg|mfg"
    r"|mit freundlichen grüßen|mit freundlichen grüssen|freundliche grüße|freundliche grüsse"
    r"|herzliche grüße|herzliche grüsse|schöne grüße|schöne grüsse|gruß|gruss|grüße|grüsse"
    r"|danke|vielen dank|danke schön|besten dank|schönen tag noch|schönes wochenende"
    r"|cordialement|bien cordialement|bien à vous|salutations|meilleures salutations"
    r"|sincères salutations|bonne journée|bonne soirée|bon week-end|merci|merci beaucoup"
    r"|amicalement|bises|à bientôt|belle journée"
    r"|saludos|saludos cordiales|un saludo|un cordial saludo|atentamente|cordialmente|gracias"
    r"|muchas gracias|abrazos|un abrazo|hasta pronto|buen día"
    r"|groeten|met vriendelijke groet|met vriendelijke groeten|vriendelijke groet"
    r"|hartelijke groet|hartelijke groeten|groetjes|mvg|bedankt|dank je|dank u|alvast bedankt"
    r"|fijne dag|fijn weekend"
    r"|cordiali saluti|distinti saluti|saluti|grazie|grazie mille|un saluto|buona giornata"
    r"|med venlig hilsen|venlig hilsen|mvh|hilsen|kh|kærlig hilsen|vänliga hälsningar"
    r"|med vänliga hälsningar|hälsningar|med vennlig hilsen|vennlig hilsen"
    r"|pozdrawiam|z poważaniem|s pozdravem|atenciosamente|obrigado|obrigada|abraços"
    r"|с уважением|спасибо|ystävällisin terveisin|terveisin"
)
CLOSING = re.compile(rf"^\s*(?:{CLOSINGS})\b[\s,.!:;\-–—]*$", re.IGNORECASE)
# "Sent from my iPhone" and the like, in our users' languages; a link may follow in <...>.
SENT_FROM = re.compile(
    r"^\s*(?:sent from|sent via|sent with|get outlook for|envoyé de|envoyé depuis"
    r"|envoyé avec|envoyé à partir de|obtenir outlook pour|von meinem|gesendet von"
    r"|outlook für \w+ beziehen|enviado desde|enviado do|enviado de|obtener outlook para"
    r"|inviato da|verzonden vanaf|verstuurd vanaf|outlook voor \w+ downloaden|sendt fra"
    r"|skickat från|wysłano z|odesláno z|отправлено с)\b[^\n]{0,80}$",
    re.IGNORECASE,
)
DELIMITER = re.compile(r"^(?:--|-- |__|—)\s*$")
_DISCLAIMER = re.compile(
    r"confidential|intended (?:solely |only )?for|privileged|disclaimer|if you (?:have )?received"
    r"|vertraulich|nicht der (?:richtige|beabsichtigte) (?:adressat|empfänger)|confidentiel"
    r"|destinataire|confidencial|destinatario|vertrouwelijk|geadresseerde|riservat",
    re.IGNORECASE,
)
_PHONE = re.compile(r"\+?\(?\d[\d ().\-/]{6,}\d")
_CONTACT_LABEL = re.compile(
    r"^\s*(?:t|tel|phone|mobile|mob|cell|m|f|fax|p|skype|e|email|e-mail|w|web|www)\b\s*[.:]?",
    re.IGNORECASE,
)
_WEB = re.compile(r"^\s*(?:https?://|www\.)\S+\s*$", re.IGNORECASE)
_LINK_RENDERING = re.compile(r"<(?:https?://|mailto:)[^<>\s]*>", re.IGNORECASE)
_SIGNATURE_LINE_LENGTH = 80
_SIGNATURE_LINES = 14


def is_closing(line: str) -> bool:
    return bool(CLOSING.match(line))


def is_sent_from(line: str) -> bool:
    return bool(SENT_FROM.match(_LINK_RENDERING.sub("", line)))


def signature_start(lines: list[str], *, signer: str = "") -> int | None:
    """Index of the first line of the sign-off and signature at the end of `lines`, or None.

    The first line that is written content never counts: "Thanks!" alone is the message.
    """
    content = [i for i, line in enumerate(lines) if line.strip()]
    if len(content) < 2:
        return None
    # Whether every written line after the n-th is a disclaimer or a long line, computed once
    # from the end: a long message is not re-read from each of its lines.
    only_disclaimers_after = [True] * len(content)
    for n in range(len(content) - 2, -1, -1):
        following = lines[content[n + 1]]
        only_disclaimers_after[n] = only_disclaimers_after[n + 1] and bool(
            _DISCLAIMER.search(following) or len(following) > _SIGNATURE_LINE_LENGTH)
    for n, index in enumerate(content[1:], start=1):
        line = lines[index].strip()
        if DELIMITER.match(lines[index]) or is_sent_from(line):
            return index
        # A signature is a short tail (_signature_like refuses a longer one).
        short_tail = len(content) - n - 1 <= _SIGNATURE_LINES
        rest = [lines[i] for i in content[n + 1:]] if short_tail else []
        if short_tail and is_closing(line) and _signature_like(rest):
            return index
        if short_tail and _is_signer(line, signer) and _signature_like(rest) and \
                _stands_apart(lines, index):
            return index
        if _DISCLAIMER.search(line) and _stands_apart(lines, index) and \
                only_disclaimers_after[n]:
            return index
    return None


def without_signature(lines: list[str], *, signer: str = "") -> list[str]:
    start = signature_start(lines, signer=signer)
    if start is None:
        return lines
    kept = lines[:start]
    while kept and not kept[-1].strip():
        kept.pop()
    return kept


def _stands_apart(lines: list[str], index: int) -> bool:
    """A signature starts a paragraph, or follows a closing."""
    above = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
    return not lines[index - 1].strip() or is_closing(above)


def _signature_like(rest: list[str]) -> bool:
    """Short lines of name, title, company, phone and links, and perhaps a disclaimer."""
    if len(rest) > _SIGNATURE_LINES:
        return False
    return all(
        len(line.strip()) <= _SIGNATURE_LINE_LENGTH or _DISCLAIMER.search(line)
        for line in rest
    )


# Everything but letters, digits and spaces: a word character that is not one (the
# underscore), or any other character but the space.
_NOT_ALNUM_OR_SPACE = re.compile(r"_|[^\w ]")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return _NOT_ALNUM_OR_SPACE.sub("", decomposed)


@functools.lru_cache(maxsize=256)
def _signer_names(signer: str) -> list[str]:
    return _fold(signer).split()


def _is_signer(line: str, signer: str) -> bool:
    """The sender's own name on a line of its own: "Sam Jones", "Samuel Jones, MBA", "- Sam"."""
    names = _signer_names(signer)
    words = _fold(line.split(",")[0].lstrip("-–— ")).split()
    if not names or not words or len(words) > 4:
        return False
    first, last = names[0], names[-1]
    same_first = words[0] == first or (len(first) >= 3 and words[0].startswith(first))
    return same_first and (len(names) == 1 or words[-1] == last or len(words) == 1)


def looks_like_signature_detail(line: str) -> bool:
    """A phone, a labelled contact detail or a bare web address."""
    return bool(_PHONE.search(line) or _CONTACT_LABEL.match(line) or _WEB.match(line))


# --- Outlook's plain-text rendering of links ----------------------------------------------

# Each pattern starts only where a run of its characters starts (the look-behind), so a long
# run of letters is not scanned again from each of its positions.
_RENDERED_MAILTO = re.compile(
    r"(?<![\w.+'-])(?P<label>[\w.+'-]+@[\w-]+(?:\.[\w-]+)+)<mailto:(?P<target>[^<>\s]+)>",
    re.IGNORECASE
)
_RENDERED_LINK = re.compile(r"(?<![^\s<>])(?P<run>[^\s<>]+)<(?P<target>https?://[^<>\s]*)>",
                            re.IGNORECASE)
_LINK_START = re.compile(r"https?://|www\.", re.IGNORECASE)
_LABELLED_LINK = re.compile(r"(?<=\S)<(?P<target>(?:https?://|mailto:)[^<>\s]+)>", re.IGNORECASE)


def without_link_renderings(text: str) -> str:
    """Outlook's text part shows every hyperlink as `label<target>`:
    `pat@acme.com<mailto:pat@acme.com>` and `https://x<https://x>` become the address and
    the link as typed; a link under other words keeps its target, set apart by a space."""
    if "<mailto:" in text.lower():
        text = _RENDERED_MAILTO.sub(_same_or_both, text)
    if "<http" in text.lower():
        text = _RENDERED_LINK.sub(_link_in_run, text)
    return _LABELLED_LINK.sub(
        lambda m: f" <{re.sub(r'^mailto:', '', m.group('target'), flags=re.IGNORECASE)}>", text
    )


def _link_in_run(match: re.Match[str]) -> str:
    """`label<target>` where the label is the run's part from its first `http`/`www.` on
    (`(https://x<https://x>` keeps its bracket)."""
    run = match.group("run")
    start = _LINK_START.search(run)
    if start is None or start.end() == len(run):
        return match.group(0)
    return run[:start.start()] + _same_or_both_of(run[start.start():], match.group("target"))


def _same_or_both(match: re.Match[str]) -> str:
    return _same_or_both_of(match.group("label"), match.group("target"))


def _same_or_both_of(label: str, target: str) -> str:
    bare = re.sub(r"^mailto:", "", target, flags=re.IGNORECASE).split("?", 1)[0]
    if bare.lower().rstrip("/") in (label.lower().rstrip("/"), f"http://{label.lower()}"):
        return label
    return f"{label} <{bare}>"
