"""A messy real-client reply makes a workbook as clean as a tidy one (issue 10).

Sam answers the same questionnaire twice, on the real servers, in two separate transitions:
once tidily (plain text, numbered headings, nothing else), once the way his Outlook really
sends it: in German, with translated and qualified headings, a closing, his signature with a
phone number and a legal disclaimer, Outlook's `name@x.com<mailto:name@x.com>` text
rendering and its unquoted original below a Von/Gesendet/An/Betreff block; then a correction
from his iPhone. Rita opens both workbooks: every sheet she reads holds the same cells.
"""

from __future__ import annotations

import random

from replies import Original, thunderbird_reply
from reply_simulator import (
    QUESTIONNAIRE_ID,
    REPLY_TO,
    Draft,
    Signature,
    Writer,
    sign_off_lines,
    top_text,
    write,
)
from test_handoff_story import RITA, Story, attached_workbook, rows

CONTACTS = (
    "Pat Lee, VP Operations, pat@acme.com, champion - loves dashboards; hates long decks\n"
    "Jo Park, CFO, jo@acme.com, executive sponsor - met at the 2025 user day (Berlin) - "
    "keen cyclist\n"
    "Max Gruber, IT lead, max@acme.com, point of contact - left the company in October"
)
ANSWERS = {
    1: CONTACTS,
    2: "=SUM(B2:B9) is how their finance team checks every invoice, and it adds up.\n"
       "Positive overall; the ops team is happy.",
    4: "- SSO login failures for the EU team - open, ticket ENG-512\n"
       "- Invoice dispute over the Q2 overage (resolved)",
    6: "Roll out to the EMEA team by Q2; automate renewal reporting.",
    8: "Renewal: 2027-03-31\n2-year term, 10% discount capped at 5% uplift.",
    9: "Medium: the new CFO reviews every tool.",
    12: "Drive: https://drive.example.com/acme\nContract: https://docs.example.com/acme.pdf",
}
CORRECTION = {1: "Jo Park, Chief Financial Officer, jo.park@acme-group.com, executive sponsor"
                 "\nAna Souza, Data Analyst, ana@acme.com, user - joined in November"}
TITLES = {1: "Contacts", 2: "Sentiment", 4: "Red flags and issues", 6: "Goals", 8: "Contract",
          9: "Renewal risk", 12: "Documents"}
# The sheets Rita reads; History and the version log differ by nature (other mails, times).
COMPARED = ("Contacts", "Issues", "Wins & Goals", "Contract", "Debrief")
OVERVIEW_SKIPPED = ("Workbook made at (UTC)",)


def tidy(answers: dict[int, str]) -> str:
    return "\n\n".join(f"{n}. {TITLES[n]}\n{text}" for n, text in answers.items())


def messy(questionnaire: Original, answers: dict[int, str], *, client: str, style: str,
          n: int) -> bytes:
    """The simulator's client bytes, addressed to this transition's real reply address."""
    rng = random.Random(n)
    writer = Writer(language="de", heading_style=style, closing="Viele Grüße",
                    signature=Signature(("Sam Jones", "Senior Customer Success Manager DACH",
                                         "Example GmbH", "Tel. +49 30 1234 5678"),
                                        disclaimer=(
                                            "Diese E-Mail enthält vertrauliche Informationen. "
                                            "Wenn Sie nicht der richtige Adressat sind, "
                                            "informieren Sie bitte sofort den Absender.")),
                    greeting="Hallo Rita,", lead_in="Hier meine Antworten:")
    new = top_text(answers, writer, rng)
    raw = write(client, "de", Draft(new_text=new, sign_off=sign_off_lines(writer, rng),
                                    inline={}), n, rng)
    head, _, body = raw.partition(b"\r\n\r\n")
    head = head.replace(REPLY_TO.encode(), questionnaire.reply_to.encode())
    head = head.replace(QUESTIONNAIRE_ID.encode(), questionnaire.message_id.encode())
    return head + b"\r\n\r\n" + body


def workbook_cells(story: Story) -> dict[str, list[tuple[object, ...]]]:
    """Every sheet Rita reads, cell by cell, from the latest workbook she got."""
    book = attached_workbook(story.workbook_mails(RITA)[-1])
    cells = {sheet: rows(book, sheet) for sheet in COMPARED}
    cells["Overview"] = [r for r in rows(book, "Overview") if r[0] not in OVERVIEW_SKIPPED]
    cells["Answers"] = [(r[0], r[1], r[3]) for r in rows(book, "Answers")]  # not the times
    for row in book["Contacts"].iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type in ("s", "n"), cell  # text from email is never a formula
    return cells


def test_a_messy_outlook_reply_and_an_iphone_correction_make_the_same_workbook(mail, tmp_path):
    neat = Story(mail, tmp_path / "tidy")
    questionnaire = neat.start()
    neat.reply(thunderbird_reply(questionnaire, tidy(ANSWERS)))
    neat.reply(thunderbird_reply(questionnaire, tidy(CORRECTION)))
    expected = workbook_cells(neat)

    mail.reset()
    real = Story(mail, tmp_path / "messy")
    questionnaire = real.start()
    real.reply(messy(questionnaire, ANSWERS, client="outlook", style="translated", n=1))
    real.reply(messy(questionnaire, CORRECTION, client="iphone", style="qualified", n=2))
    got = workbook_cells(real)

    assert len(real.workbook_mails(RITA)) == len(neat.workbook_mails(RITA)) == 2
    for sheet, cells in expected.items():
        assert got[sheet] == cells, sheet
    # What Rita reads: Jo's row corrected in place, Ana added once, nothing of the signature.
    contacts = got["Contacts"]
    assert [c[0] for c in contacts] == ["Pat Lee", "Jo Park", "Max Gruber", "Ana Souza"]
    assert contacts[1][1:3] == ("Chief Financial Officer", "jo.park@acme-group.com")
    assert contacts[0][5] == "loves dashboards; hates long decks"
    everything = str(got)
    for leaked in ("Viele Grüße", "Example GmbH", "+49 30", "vertrauliche", "Von:", "mailto:",
                   "Kontakte", "Korrektur", "Hier meine Antworten", "Sent from"):
        assert leaked not in everything, leaked
