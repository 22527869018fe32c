"""Only what the person wrote in this reply: no quoted history, no signature."""

from __future__ import annotations

import pytest

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


# --- attributions, separators and mobile footers other readers miss (issue 10) -------------

ANSWER = "The renewal moved to April; Jo confirmed it on the call."


@pytest.mark.parametrize("history", [
    # no colon at the end
    "On Tue, 3 Mar 2026 09:12:44 +0100 Ana Ruiz <ana@acme.example> wrote\n\n> Any news?",
    # a time written with a dot, and a quoted display name with a dash in it
    '14.03.2026, 18.30, "Ruiz - Ana" <ana@acme.example>:\n\nAny news?',
    # wrapped before the address
    "ti 3. maaliskuuta 2026 klo 18.30 Ana Ruiz\n<ana@acme.example> kirjoitti:\n\n> Any news?",
    "Il giovedì 5 marzo 2026, Ana Ruiz <ana@acme.example>\nha scritto:\n> Any news?",
    # Catalan, Polish, Chinese, Korean, Japanese
    "El 05/03/2026 10:15, Ana Ruiz <ana@acme.example> ha escrit:\n\n> Any news?",
    "W dniu 2026-03-05 10:15, ana@acme.example pisze:\n\n> Any news?",
    "在 2026年3月5日，上午10:15，Ana Ruiz <ana@acme.example> 写道：\n\n> Any news?",
    "2026. 3. 5. 오전 10:15 Ana Ruiz <ana@acme.example> 작성:\n\n> Any news?",
    "2026/03/05 10:15、Ana Ruiz <ana@acme.example> のメッセージ:\n\n> Any news?",
    # separators with a title in Danish, and Orange's French header block
    "-------- Oprindelig besked --------\nFra: Ana Ruiz <ana@acme.example>\n"
    "Dato: 05.03.2026 10.15 (GMT+01:00)\nTil: sam@example.com\nEmne: Any news?\n\nAny news?",
    "====\n\nMessage du : 05/03/2026 10:15\nDe : \"Ana Ruiz\" <ana@acme.example>\n"
    "A : sam@example.com\nSujet : Any news?\n\nAny news?",
    # a help desk's "reply above this line"
    "## Please type your reply above this line ##\n\nAny news?",
])
def test_the_history_below_an_answer_is_cut_whatever_marks_it(history: str) -> None:
    assert new_text(f"{ANSWER}\n\n{history}\n") == ANSWER


@pytest.mark.parametrize("footer", [
    "Envoyé à partir de Outlook pour iOS<https://aka.ms/o0ukef>",
    "Sent from TypeApp<http://www.typeapp.com/r?b=2621>",
    "Get Outlook for Android<https://aka.ms/ghei36>",
])
def test_a_mobile_footer_with_its_outlook_rendered_link_is_no_part_of_the_answer(
        footer: str) -> None:
    assert new_text(f"{ANSWER}\n\n{footer}\n") == ANSWER


def test_a_line_ending_in_wrote_inside_the_new_text_is_part_of_it() -> None:
    text = (f"{ANSWER}\n\nThe customer wrote:\nWe need the export fixed before renewal.\n\n"
            "On Thu, 5 Mar 2026 at 10:15, Ana Ruiz <ana@acme.example> wrote:\n> Any news?\n")
    assert new_text(text) == (f"{ANSWER}\n\nThe customer wrote:\n"
                              "We need the export fixed before renewal.")


def test_a_quoted_line_rewrapped_without_its_marker_stays_in_the_quote() -> None:
    text = (f"{ANSWER}\n\nOn Thu, 5 Mar 2026, Ana Ruiz <ana@acme.example>\nwrote:\n"
            "> Hello Sam, we looked at the numbers again and they still do not add u\n"
            "p for the second quarter.\n>\n> Ana\n\n-- \nAcme Corp, legal notice\n")
    assert new_text(text) == ANSWER


def test_inline_answers_below_an_attribution_keep_the_quotes_they_answer() -> None:
    text = ("On Thu, 5 Mar 2026, Ana Ruiz <ana@acme.example> wrote:\n\n> Is the export fixed?\n\n"
            "Yes, since Monday.\n\n> And the invoice?\n\nSent on Friday.\n")
    assert new_text(text) == ("> Is the export fixed?\n\nYes, since Monday.\n\n"
                              "> And the invoice?\n\nSent on Friday.")


def test_a_closing_above_a_name_and_title_is_a_signature_but_a_short_sign_off_stays() -> None:
    assert new_text(f"{ANSWER}\n\nBest regards,\n\nSam Jones\nCSM, Example Inc.\n") == ANSWER
    assert new_text(f"{ANSWER}\n\nThanks,\nSam\n") == f"{ANSWER}\n\nThanks,\nSam"


def test_an_html_reply_whose_cut_leaves_nothing_falls_back_to_its_text() -> None:
    html = ('<div><div name="messageReplySection"><p>The renewal moved to <b>April</b>.</p>'
            "</div></div>")
    assert new_text("", html=html) == "The renewal moved to April."


def test_gmail_and_outlook_signature_markup_is_cut_from_html_only_mail() -> None:
    gmail = ('<div dir="ltr">The renewal moved to April.</div><div class="gmail_signature" '
             'data-smartmail="gmail_signature">Sam Jones<br>CSM | +1 555 0100</div>')
    outlook = ('<div class="WordSection1"><p class="MsoNormal">The renewal moved to April.</p>'
               '<p class="MsoNormal"><a name="_MailAutoSig">Sam Jones</a></p>'
               '<p class="MsoNormal">Customer Success | +1 555 0100</p></div>')
    assert new_text("", html=gmail) == "The renewal moved to April."
    assert new_text("", html=outlook) == "The renewal moved to April."
