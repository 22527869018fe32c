"""Only what the person wrote in this reply: no quoted history, no signature."""

from __future__ import annotations

from mailer.mail.parsing import parse_message
from mailer.mail.reply_text import new_text

GMAIL = b"""\
From: Priya Raman <priya@northwind.example>
To: transitions+k3y@example.com
Subject: Re: Handoff TR-0042
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="g1"

--g1
Content-Type: text/plain; charset="UTF-8"

Renewal is on 1 March 2027.

Thanks,
Priya

On Mon, Jan 11, 2027 at 5:00 PM Transitions <transitions+k3y@example.com>
wrote:

> Could you confirm the renewal date for Acme?
>
> Thank you!

--g1
Content-Type: text/html; charset="UTF-8"

<div dir="ltr">Renewal is on 1 March 2027.<br><br>Thanks,<br>Priya</div><br>
<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, Jan 11, 2027 at 5:00 PM
Transitions wrote:<br></div><blockquote class="gmail_quote">Could you confirm?</blockquote></div>
--g1--
"""


def test_a_gmail_reply_keeps_the_answer_and_its_sign_off() -> None:
    msg = parse_message(GMAIL)

    assert new_text(msg.text, html=msg.html) == "Renewal is on 1 March 2027.\n\nThanks,\nPriya"


OUTLOOK_HTML_ONLY = b"""\
From: Marco Rossi <marco@contoso.example>
To: transitions@example.com
Subject: RE: Handoff TR-0042
MIME-Version: 1.0
Content-Type: text/html; charset="us-ascii"

<html><body><div class="WordSection1"><p class="MsoNormal">Marco here &#8211; the champion is
<b>Ana Lopez</b>.</p><p class="MsoNormal">&nbsp;</p></div>
<div id="appendonsend"></div><hr style="display:inline-block;width:98%">
<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri"><b>From:</b> Transitions
&lt;transitions@example.com&gt;<br><b>Sent:</b> Monday, January 11, 2027 5:00 PM<br>
<b>To:</b> Marco Rossi<br><b>Subject:</b> Handoff TR-0042</font></div>
<div><p>Who is the champion at Contoso?</p></div>
</body></html>
"""


def test_an_outlook_html_only_reply_is_cut_at_its_quote_container() -> None:
    msg = parse_message(OUTLOOK_HTML_ONLY)

    assert new_text(msg.text, html=msg.html) == "Marco here – the champion is Ana Lopez."


def test_an_apple_mail_reply_drops_the_cited_blockquote() -> None:
    html = (
        "<html><body>Sure, I will send the contract tomorrow.<div><br></div>"
        "<div><div>On 11 Jan 2027, at 17:00, Transitions &lt;transitions@example.com&gt; wrote:"
        '</div><br><blockquote type="cite"><div>Please send the contract.</div></blockquote>'
        "</div></body></html>"
    )

    assert new_text("", html=html) == "Sure, I will send the contract tomorrow."


def test_an_iphone_reply_loses_its_mobile_signature_and_the_quote() -> None:
    text = (
        "Yes, go ahead with the soft handoff.\n\n"
        "Sent from my iPhone\n\n"
        "> On Jan 11, 2027, at 17:00, Transitions <transitions@example.com> wrote:\n"
        ">\n> Shall we proceed?\n"
    )

    assert new_text(text) == "Yes, go ahead with the soft handoff."


def test_a_german_quote_header_is_recognised() -> None:
    text = (
        "Passt, der Termin steht.\n\n"
        "Am Mo., 11. Jan. 2027 um 17:00 Uhr schrieb Transitions <\n"
        "transitions@example.com>:\n\n"
        "> Passt Ihnen Donnerstag?\n"
    )

    assert new_text(text) == "Passt, der Termin steht."


def test_a_french_quote_header_is_recognised() -> None:
    text = (
        "C'est noté, merci.\n\n"
        "Le lun. 11 janv. 2027 à 17:00, Transitions <transitions@example.com> a écrit :\n\n"
        "> Pouvez-vous confirmer ?\n"
    )

    assert new_text(text) == "C'est noté, merci."


def test_outlook_header_blocks_and_original_message_lines_end_the_reply() -> None:
    block = (
        "Approved.\n\n"
        "________________________________\n"
        "From: Transitions <transitions@example.com>\n"
        "Sent: Monday, January 11, 2027 5:00 PM\n"
        "To: Lee Park <lee@example.com>\n"
        "Subject: Handoff TR-0042\n\n"
        "Please approve the plan.\n"
    )
    original = "Approved.\n\n-----Original Message-----\nFrom: Transitions\nPlease approve.\n"
    german = "Freigegeben.\n\nVon: Transitions\nGesendet: Montag\nAn: Lee\nBetreff: TR-0042\n\nx"

    assert new_text(block) == "Approved."
    assert new_text(original) == "Approved."
    assert new_text(german) == "Freigegeben."


def test_a_dash_dash_signature_is_removed() -> None:
    text = "The workbook looks right.\n\n-- \nLee Park\nHead of CS | +1 555 0100\n"

    assert new_text(text) == "The workbook looks right."


def test_answers_written_between_quoted_lines_keep_the_quotes() -> None:
    text = (
        "> 1. Who is the champion?\n"
        "Ana Lopez, VP Operations.\n\n"
        "> 2. Any open escalations?\n"
        "None right now.\n"
    )

    assert new_text(text) == text.strip()


def test_a_transition_request_is_never_mistaken_for_a_signature() -> None:
    text = (
        "Account: Acme Corp\n"
        "Outgoing CSM: Jo Kim <jo@example.com>\n"
        "Incoming CSM: Lee Park <lee@example.com>\n\n"
        "Customer contacts: Ana Lopez <ana@acme.example>\n"
        "Ben Ode <ben@acme.example>\n"
        "To: the whole team\n"
    )

    assert new_text(text) == text.strip()


def test_a_forward_with_nothing_written_above_has_no_new_text() -> None:
    text = "---------- Forwarded message ----------\nFrom: Ana <ana@acme.example>\n\nHello"

    assert new_text(text) == ""
