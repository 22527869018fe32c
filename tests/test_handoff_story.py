"""Issue 3's stories: the outgoing CSM's replies become the Excel handoff workbook.

Every story runs through the real test mail servers: the manager's request starts a
transition, Sam (the outgoing CSM) answers the questionnaire from his mail client, the
assistant runs, and the mailboxes of Sam, Rita (incoming) and Dana (manager) show the result.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from assistant import ADDRESS, Assistant, parse, text_of, wait_until
from letters import REQUEST, plain
from openpyxl.workbook.workbook import Workbook
from replies import (
    Original,
    apple_mail_reply,
    french_reply,
    german_reply,
    gmail_reply,
    inline_answers,
    iphone_reply,
    out_of_office,
    outlook_html_reply,
    thunderbird_reply,
    with_form,
)

MANAGER = "Dana Manager <dana@example.com>"
SAM, RITA, DANA = "sam@example.com", "rita@example.com", "dana@example.com"
# A Monday morning, so the playbook's business days are easy to follow.
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
WORKBOOK_NAME = "Acme Corp handoff TR-0001.xlsx"

CONTACTS = (
    "Pat Lee, VP Operations, pat@acme.com, champion - loves dashboards\n"
    "Jo Park, CFO, jo@acme.com, executive sponsor - wants ROI numbers before renewal\n"
    "Max Gruber, IT lead, max@acme.com, point of contact - left the company in October"
)
SENTIMENT = "Positive overall; the ops team is happy, finance is still sceptical."
RED_FLAGS = (
    "- SSO login failures for the EU team - open, ticket ENG-512\n"
    "- Invoice dispute over Q2 overage (resolved)\n"
    "- Slow CSV exports: still open, engineering says January"
)
GOALS = "Roll out to the EMEA team by Q2; automate renewal reporting."
CONTRACT = "Renewal: 2027-03-31, 2-year term, 10% discount capped at 5% uplift."
FORMULA_LIKE = '=HYPERLINK("https://evil.example","2x seats") is what their VP typed'
RENEWAL_RISK = "Medium: the new CFO reviews every tool; Globex demoed to them in October."

TOP_POSTED = f"""Hi,

Here you go, the essentials first.

1. Contacts
{CONTACTS}

2. Sentiment
{SENTIMENT}

4. Red flags
{RED_FLAGS}

6. Goals
{GOALS}

8. Contract
{CONTRACT}

9. Renewal risk
{RENEWAL_RISK}

Thanks,
Sam"""


class Story:
    """One transition on the real servers, with the assistant's clock under the test's control."""

    def __init__(self, mail: object, home: object) -> None:
        self.mail = mail
        self.assistant = Assistant(home, mail)  # type: ignore[arg-type]
        self.now = START

    def run(self, *, at: datetime | None = None) -> None:
        self.now = at or self.now + timedelta(minutes=5)
        self.assistant.run_once(now=self.now)

    def start(self) -> Original:
        self.mail.send(plain(sender=MANAGER, to=ADDRESS, subject="Transition: Acme Corp",
                             body=REQUEST), mail_from=DANA, rcpt_to=[ADDRESS])
        self.run(at=START)
        [questionnaire] = self.mail.wait_for_messages(SAM, 1)
        self.questionnaire = Original.of(questionnaire)
        return self.questionnaire

    def reply(self, raw: bytes, *, sender: str = SAM) -> None:
        self.mail.send(raw, mail_from=sender, rcpt_to=[self.questionnaire.reply_to])
        self.run()

    def receipts(self) -> list[bytes]:
        return [m for m in self.mail.messages(SAM)
                if self.assistant.kind_of(m) == "questionnaire_receipt"]

    def last_receipt(self) -> str:
        receipts = self.receipts()
        assert receipts, "Sam got no receipt"
        return body_of(receipts[-1])

    def workbook_mails(self, user: str = RITA) -> list[bytes]:
        return [m for m in self.mail.messages(user)
                if any(p.get_filename() == WORKBOOK_NAME for p in parse(m).iter_attachments())]

    def manager_thread(self) -> Original:
        started = next(m for m in self.mail.messages(DANA)
                       if self.assistant.kind_of(m) == "request_accepted")
        return Original.of(started)


def sections_received(receipt: str) -> int:
    """How many sections a receipt lists under "Sections received"."""
    listed = receipt.replace("\r\n", "\n").split("Sections received\n\n", 1)[1]
    return len(re.findall(r"^- \d+\. ", listed.split("\n\n", 1)[0], flags=re.MULTILINE))


def body_of(raw: bytes) -> str:
    """The text part as the reader sees it (line endings normalised)."""
    return text_of(raw).replace("\r\n", "\n")


def attached_workbook(raw: bytes) -> Workbook:
    part = next(p for p in parse(raw).iter_attachments() if p.get_filename() == WORKBOOK_NAME)
    return openpyxl.load_workbook(io.BytesIO(part.get_content()))


def rows(book: Workbook, sheet: str) -> list[tuple[object, ...]]:
    """The data rows of a sheet, without the header and the empty spare rows."""
    return [r for r in book[sheet].iter_rows(min_row=2, values_only=True) if any(r)]


def answers_by_section(book: Workbook) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for section, _title, _part, text, _at in rows(book, "Answers"):
        found.setdefault(int(section), []).append(str(text))  # type: ignore[arg-type]
    return found


def opens_in_libreoffice(raw: bytes, folder: Path) -> None:
    """The attached workbook converts to PDF in LibreOffice, which refuses damaged files."""
    office = shutil.which("libreoffice") or shutil.which("soffice")
    if office is None:
        return  # tests/test_workbook.py says so with a skip; the story itself still counts
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / WORKBOOK_NAME
    part = next(p for p in parse(raw).iter_attachments() if p.get_filename() == WORKBOOK_NAME)
    source.write_bytes(part.get_content())
    done = subprocess.run([office, f"-env:UserInstallation=file://{folder / 'profile'}",
                           "--headless", "--convert-to", "pdf", "--outdir", str(folder),
                           str(source)], capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert source.with_suffix(".pdf").read_bytes().startswith(b"%PDF")


def ask_for_the_workbook(story: Story) -> None:
    """Dana replies `send workbook` in the thread of her request's answer."""
    manager = story.manager_thread()
    story.mail.send(thunderbird_reply(manager, "send workbook\n\n{quote}\n", sender=MANAGER),
                    mail_from=DANA, rcpt_to=[manager.reply_to])
    story.run()


@pytest.fixture
def story(mail, tmp_path) -> Story:  # noqa: ANN001 - pytest fixtures
    return Story(mail, tmp_path)


# --- 1. top-posted answers, Gmail -----------------------------------------------------------


def test_top_posted_gmail_answers_become_the_workbook(story: Story) -> None:
    questionnaire = story.start()
    assert questionnaire.reply_to.startswith("transitions+")

    story.reply(gmail_reply(questionnaire, TOP_POSTED))

    receipt = story.last_receipt()
    for heading in ("1. Contacts", "2. Sentiment", "4. Red flags and issues", "6. Goals",
                    "8. Contract", "9. Renewal risk"):
        assert heading in receipt, receipt
    assert ("- Name: Pat Lee; Title: VP Operations; Email: pat@acme.com; Role: champion; "
            "Still at Acme Corp: yes") in receipt
    assert ("- Name: Max Gruber; Title: IT lead; Email: max@acme.com; Role: point of contact; "
            "Still at Acme Corp: no, left") in receipt
    assert "SSO login failures for the EU team: open" in receipt
    assert "Invoice dispute over Q2 overage: resolved" in receipt
    assert "Wednesday 31 March 2027" in receipt
    assert "on its way to Rita Patel and Dana Manager" in receipt

    [to_rita] = story.workbook_mails(RITA)
    [to_dana] = story.workbook_mails(DANA)
    assert parse(to_rita)["Message-ID"] == parse(to_dana)["Message-ID"], "one mail, Dana in Cc"
    assert parse(to_rita)["Subject"] == "TR-0001 handoff workbook for Acme Corp"
    body = body_of(to_rita)
    assert "Renewal: Wednesday 31 March 2027" in body
    assert "Renewal: Medium: the new CFO reviews every tool" in body  # top risk
    assert "Open issue: SSO login failures for the EU team" in body
    assert "Jo Park, CFO, jo@acme.com (executive sponsor)" in body
    assert "Pat Lee, VP Operations, pat@acme.com (champion)" in body
    assert "Max Gruber" not in body, "someone who left is not a key contact"

    book = attached_workbook(to_rita)
    assert rows(book, "Contacts") == [
        ("Pat Lee", "VP Operations", "pat@acme.com", "champion", "Yes", "loves dashboards"),
        ("Jo Park", "CFO", "jo@acme.com", "executive sponsor", "Yes",
         "wants ROI numbers before renewal"),
        ("Max Gruber", "IT lead", "max@acme.com", "point of contact", "No",
         "left the company in October"),
    ]
    assert rows(book, "Issues") == [
        ("SSO login failures for the EU team", "open", "ticket ENG-512"),
        ("Invoice dispute over Q2 overage", "resolved", None),
        ("Slow CSV exports", "open", "engineering says January"),
    ]
    assert answers_by_section(book) == {1: [CONTACTS], 2: [SENTIMENT], 4: [RED_FLAGS],
                                        6: [GOALS], 8: [CONTRACT], 9: [RENEWAL_RISK]}
    overview = {r[0]: r[1] for r in rows(book, "Overview")}
    assert overview["Renewal date"] == datetime(2027, 3, 31)
    assert overview["Customer sentiment"] == SENTIMENT


# --- 2. inline answers typed into the quoted questionnaire ----------------------------------


def test_answers_typed_inline_under_the_quoted_headings_are_kept(story: Story) -> None:
    questionnaire = story.start()
    body = "Answers inline below, Sam\n\n{quote}\n"
    quoted = inline_answers(questionnaire, {
        "1. Contacts": CONTACTS,
        "2. Sentiment": SENTIMENT,
        "4. Red flags and issues": RED_FLAGS,
        "6. Goals": GOALS,
        "8. Contract": CONTRACT,
        "9. Renewal risk": RENEWAL_RISK,
    })
    line = "On 23/11/2026 09:00, Transitions assistant wrote:"
    story.reply(thunderbird_reply(questionnaire, body.replace("{quote}", f"{line}\n{quoted}")))

    receipt = story.last_receipt()
    assert sections_received(receipt) == 6, receipt
    assert parse(story.receipts()[-1])["Subject"] == "Re: " + questionnaire.subject
    assert "Still needed" not in receipt
    [workbook] = story.workbook_mails(RITA)
    answers = answers_by_section(attached_workbook(workbook))
    assert answers == {1: [CONTACTS], 2: [SENTIMENT], 4: [RED_FLAGS], 6: [GOALS],
                       8: [CONTRACT], 9: [RENEWAL_RISK]}


# --- 3. several replies, any order; replace and extend; version 2 ---------------------------


def test_several_partial_replies_merge_and_a_late_answer_makes_version_two(story: Story) -> None:
    questionnaire = story.start()

    story.reply(gmail_reply(questionnaire, f"9. Renewal risk\n{RENEWAL_RISK}\n\n"
                                           f"4. Red flags\n{RED_FLAGS}"))
    first = story.last_receipt()
    assert "9. Renewal risk" in first and "4. Red flags and issues" in first
    still_needed = first.split("Still needed")[1]
    for required in ("1. Contacts", "2. Sentiment", "6. Goals", "8. Contract"):
        assert f"- {required} (required)" in still_needed, first
    for optional in ("3. Customer fit", "5. Successes", "12. Documents"):
        assert f"- {optional}\n" in still_needed, first
    # What was understood, so a misreading shows at once.
    assert '- 9. Renewal risk (new): "Medium: the new CFO reviews every tool; Globex' in first
    assert story.workbook_mails(RITA) == []

    story.reply(gmail_reply(questionnaire, f"Contacts:\n{CONTACTS}\n\n2. Sentiment\nNeutral."))
    story.reply(gmail_reply(questionnaire,
                            "2. Sentiment\n" + SENTIMENT + "\n\n"
                            "4. Red flags\nAlso: the Okta migration may break SSO again.\n\n"
                            f"6. Goals\n{GOALS}\n\n8. Contract\n{CONTRACT}"))
    third = story.last_receipt()
    assert f'2. Sentiment (replaces your earlier answer): "{SENTIMENT}"' in third, third
    assert ('4. Red flags and issues (added to your earlier answer): "the Okta migration may '
            'break SSO again."') in third
    assert f'6. Goals (new): "{GOALS}"' in third
    assert "on its way to Rita Patel and Dana Manager" in third

    [v1] = story.workbook_mails(RITA)
    book = attached_workbook(v1)
    issues = rows(book, "Issues")
    assert ("the Okta migration may break SSO again", "open", None) in issues, issues
    overview = {r[0]: r[1] for r in rows(book, "Overview")}
    assert overview["Customer sentiment"] == SENTIMENT  # the replacement won
    answers = answers_by_section(book)
    assert answers[2] == ["Neutral.", SENTIMENT], "every answer is kept as written"

    story.reply(gmail_reply(questionnaire, "5. Successes\nCut month-end close from 9 to 4 "
                                           "days (Q3 review)."))
    later = story.last_receipt()
    assert "updated workbook" in later
    mails = story.workbook_mails(RITA)
    assert len(mails) == 2
    assert parse(mails[1])["Subject"] == "Re: TR-0001 handoff workbook for Acme Corp", \
        "a new version continues the conversation of the first"
    assert "Here is version 2 of the handoff workbook" in body_of(mails[1])
    assert "What changed since the last version: 5. Successes (first answer)." in body_of(
        mails[1])
    v2 = attached_workbook(mails[1])
    versions = [r for r in v2["Versions"].iter_rows(values_only=True) if r[1] in (1, 2)]
    assert [v[1] for v in versions] == [1, 2]
    assert "Successes" in str(versions[1][2])
    wins = {r[0]: r[1] for r in rows(v2, "Wins & Goals")}
    assert wins["Successes"] == "Cut month-end close from 9 to 4 days (Q3 review)."
    history = rows(v2, "History")
    assert sum(1 for r in history if r[1] == "Received" and r[2] == SAM) == 4
    assert "transitions+" not in str(history), "reply tokens never travel in the workbook"
    opens_in_libreoffice(mails[1], story.assistant.home / "office")


def test_a_thank_you_to_a_receipt_changes_no_answer(story: Story) -> None:
    """The receipt quotes section headings too; a comment under them is not an answer."""
    story.start()
    story.reply(gmail_reply(story.questionnaire, f"2. Sentiment\n{SENTIMENT}"))
    receipt = Original.of(story.receipts()[-1])

    story.reply(outlook_html_reply(receipt, "Thanks, the rest follows tomorrow."))
    story.reply(thunderbird_reply(receipt, "{quote}\n\nGreat, thanks!\n"))

    for answer in story.receipts()[1:]:
        assert "I could not find an answer under any of the numbered headings" in \
            body_of(answer), body_of(answer)
        assert "- 2. Sentiment" not in body_of(answer).split("Still needed")[1]
    ask_for_the_workbook(story)
    book = attached_workbook(story.workbook_mails(DANA)[-1])
    assert answers_by_section(book) == {2: [SENTIMENT]}


# --- 4. every mail client -------------------------------------------------------------------

ALL_REQUIRED = {1: CONTACTS, 2: SENTIMENT, 4: RED_FLAGS, 6: GOALS, 8: CONTRACT,
                9: RENEWAL_RISK}
TITLES = {1: "Contacts", 2: "Sentiment", 4: "Red flags and issues", 6: "Goals", 8: "Contract",
          9: "Renewal risk"}
ANSWERS_TEXT = "\n\n".join(f"{n}. {TITLES[n]}\n{text}" for n, text in ALL_REQUIRED.items())


def _squeezed(text: str) -> str:
    """Text with blank lines dropped: HTML paragraphs come back with a blank line each."""
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


CLIENTS: dict[str, Callable[[Original, str], bytes]] = {
    "outlook html only": outlook_html_reply,
    "apple mail": apple_mail_reply,
    "iphone": iphone_reply,
    "german thunderbird": german_reply,
    "french gmail": french_reply,
}


@pytest.mark.parametrize("client", CLIENTS)
def test_each_mail_client_reply_is_read_without_quote_or_signature(story: Story,
                                                                    client: str) -> None:
    questionnaire = story.start()
    story.reply(CLIENTS[client](questionnaire, f"Hi, all six below.\n\n{ANSWERS_TEXT}\n\nSam"))

    receipt = story.last_receipt()
    assert sections_received(receipt) == 6, receipt
    [workbook] = story.workbook_mails(RITA)
    answers = answers_by_section(attached_workbook(workbook))
    assert sorted(answers) == [1, 2, 4, 6, 8, 9]
    for number, expected in ALL_REQUIRED.items():
        [written] = answers[number]
        assert _squeezed(written) == _squeezed(expected), (client, number, written)
    everything = "\n".join(t for texts in answers.values() for t in texts)
    for leaked in ("Sent from my iPhone", "schrieb", "a écrit", "Example:", "Your answer",
                   "Transitions assistant", "Handoff questionnaire"):
        assert leaked not in everything, (client, leaked)


# --- 5. the attached form -------------------------------------------------------------------


def fill_form(form: bytes, answers: dict[int, str],
              contacts: Sequence[tuple[str, ...]] = ()) -> bytes:
    """Fill the form as a person does in Excel: type into the answer cells and contact rows."""
    book = openpyxl.load_workbook(io.BytesIO(form))
    sheet = book["Questionnaire"]
    header = [str(c.value or "") for c in sheet[1]]
    answer_column = header.index("Your answer") + 1
    for row in sheet.iter_rows(min_row=2):
        section = row[0].value
        if isinstance(section, int | float) and int(section) in answers:
            sheet.cell(row=row[0].row, column=answer_column, value=answers[int(section)])
    for offset, contact in enumerate(contacts, start=2):
        for column, value in enumerate(contact, start=1):
            book["Contacts"].cell(row=offset, column=column, value=value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


FORM_CONTACTS = [
    ("Pat Lee", "VP Operations", "pat@acme.com", "champion", "Yes", "loves dashboards"),
    ("Max Gruber", "IT lead", "max@acme.com", "point of contact", "No", "moved to Globex"),
]


def test_the_filled_form_sent_back_without_a_word_in_the_body(story: Story) -> None:
    questionnaire = story.start()
    filled = fill_form(questionnaire.form,
                       {2: SENTIMENT, 4: RED_FLAGS, 6: GOALS, 8: CONTRACT, 9: RENEWAL_RISK},
                       FORM_CONTACTS)
    story.reply(with_form(questionnaire, "", filled))

    receipt = story.last_receipt()
    assert "- 1. Contacts (new, from the attached form): \"Pat Lee, VP Operations" in receipt
    assert ("- Name: Max Gruber; Title: IT lead; Email: max@acme.com; Role: point of contact; "
            "Still at Acme Corp: no, left") in receipt
    assert "Still needed" not in receipt
    [workbook] = story.workbook_mails(RITA)
    book = attached_workbook(workbook)
    assert rows(book, "Contacts") == [
        ("Pat Lee", "VP Operations", "pat@acme.com", "champion", "Yes", "loves dashboards"),
        ("Max Gruber", "IT lead", "max@acme.com", "point of contact", "No", "moved to Globex"),
    ]
    answers = answers_by_section(book)
    assert answers[4] == [RED_FLAGS] and answers[9] == [RENEWAL_RISK]


def test_the_form_and_the_body_together_the_body_wins_where_both_answer(story: Story) -> None:
    questionnaire = story.start()
    filled = fill_form(questionnaire.form, {2: "Fine I guess", 6: GOALS, 8: CONTRACT},
                       FORM_CONTACTS)
    story.reply(with_form(questionnaire, f"2. Sentiment\n{SENTIMENT}\n\n4. Red flags\n"
                                         f"{RED_FLAGS}\n\nForm attached for the rest.", filled))
    receipt = story.last_receipt()
    assert f'- 2. Sentiment (new): "{SENTIMENT}"' in receipt, receipt
    assert f'- 6. Goals (new, from the attached form): "{GOALS}"' in receipt
    assert "- 9. Renewal risk" in receipt.split("Still needed")[1]


def test_a_garbage_spreadsheet_gets_a_clear_note_and_the_body_is_still_filed(
        story: Story) -> None:
    questionnaire = story.start()
    story.reply(with_form(questionnaire, f"2. Sentiment\n{SENTIMENT}", b"PK\x03\x04 not a zip",
                          filename="answers.xlsx"))
    receipt = story.last_receipt()
    assert "- 2. Sentiment (new)" in receipt
    assert "\nAbout the attached spreadsheet\n" in receipt
    assert "“answers.xlsx”: " in receipt and "not an Excel workbook" in receipt
    assert "Everything you wrote in the email itself has been filed" in receipt

    story.reply(with_form(questionnaire, "", b"\x00\x01garbage", filename="answers.xlsx"))
    receipt = story.last_receipt()
    assert "nothing has been filed yet" in receipt
    assert "Nothing is lost" in receipt


# --- 6. contacts written leniently ----------------------------------------------------------

CONTACT_STYLES = {
    "one per line": CONTACTS,
    "bullets": (
        "- Pat Lee (VP Operations) <pat@acme.com> - champion, loves dashboards\n"
        "- Jo Park, CFO, jo@acme.com: exec sponsor; wants ROI numbers before renewal\n"
        "- Max Gruber - IT lead - max@acme.com - main point of contact (left the company "
        "in October)"
    ),
    "pasted table": (
        "Name\tTitle\tEmail\tRole\tNotes\n"
        "Pat Lee\tVP Operations\tpat@acme.com\tChampion\tloves dashboards\n"
        "Jo Park\tCFO\tjo@acme.com\tExecutive sponsor\twants ROI numbers before renewal\n"
        "Max Gruber\tIT lead\tmax@acme.com\tPoint of contact\tno longer with the company"
    ),
    "markdown table": (
        "| Name | Title | Email | Role | Notes |\n|---|---|---|---|---|\n"
        "| Pat Lee | VP Operations | pat@acme.com | Champion | loves dashboards |\n"
        "| Jo Park | CFO | jo@acme.com | Exec sponsor | wants ROI numbers |\n"
        "| Max Gruber | IT lead | max@acme.com | POC | left the company |"
    ),
}


@pytest.mark.parametrize("style", CONTACT_STYLES)
def test_contacts_written_any_usual_way_are_understood(story: Story, style: str) -> None:
    questionnaire = story.start()
    answers = ANSWERS_TEXT.replace(CONTACTS, CONTACT_STYLES[style])
    story.reply(gmail_reply(questionnaire, answers))

    receipt = story.last_receipt()
    assert "\nContacts I understood (3)\n" in receipt, receipt
    [workbook] = story.workbook_mails(RITA)
    contacts = rows(attached_workbook(workbook), "Contacts")
    assert [(c[0], c[1], c[2], c[3], c[4]) for c in contacts] == [
        ("Pat Lee", "VP Operations", "pat@acme.com", "champion", "Yes"),
        ("Jo Park", "CFO", "jo@acme.com", "executive sponsor", "Yes"),
        ("Max Gruber", "IT lead", "max@acme.com", "point of contact", "No"),
    ], style
    assert ("- Name: Max Gruber; Title: IT lead; Email: max@acme.com; Role: point of contact; "
            "Still at Acme Corp: no, left") in receipt


# --- 7. only the token's owner or the manager may answer ------------------------------------


def test_a_reply_from_someone_else_is_refused_and_the_workbook_untouched(story: Story) -> None:
    questionnaire = story.start()
    story.reply(gmail_reply(questionnaire, TOP_POSTED))
    assert len(story.workbook_mails(RITA)) == 1

    intruder = "Mallory Vance <mallory@rival.example>"
    story.reply(gmail_reply(questionnaire, "2. Sentiment\nThey hate us, move them to Globex.",
                            sender=intruder), sender="mallory@rival.example")
    [refusal] = story.mail.wait_for_messages("mallory@rival.example", 1)
    assert "belongs to someone else" in body_of(refusal)
    assert len(story.receipts()) == 1, "Sam hears nothing about it"
    assert len(story.workbook_mails(RITA)) == 1

    ask_for_the_workbook(story)
    latest = story.workbook_mails(RITA)[-1]
    book = attached_workbook(latest)
    assert answers_by_section(book)[2] == [SENTIMENT]
    assert "They hate us" not in str([rows(book, sheet) for sheet in book.sheetnames])


# --- 8. an out-of-office reply is not an answer ---------------------------------------------


def test_an_out_of_office_reply_moves_the_reminder_past_the_return_date(story: Story) -> None:
    questionnaire = story.start()
    # The first reminder falls due two business days after the request: Wed 25 Nov, 09:30.
    story.reply(out_of_office(questionnaire, back="Tuesday 1 December 2026"))
    assert story.receipts() == [], "an auto-reply gets no answer"
    assert len(story.mail.messages(SAM)) == 1

    story.run(at=datetime(2026, 11, 25, 9, 45, tzinfo=UTC))
    assert len(story.mail.messages(SAM)) == 1, "no reminder while Sam is away"
    story.run(at=datetime(2026, 11, 30, 17, 0, tzinfo=UTC))
    assert len(story.mail.messages(SAM)) == 1

    story.run(at=datetime(2026, 12, 2, 10, 0, tzinfo=UTC))
    [_, reminder] = story.mail.wait_for_messages(SAM, 2)
    assert parse(reminder)["Subject"] == "Re: TR-0001 handoff questions for Acme Corp", \
        "the reminder continues the questionnaire's conversation"
    assert parse(reminder)["In-Reply-To"] == questionnaire.message_id
    for section in ("1. Contacts", "2. Sentiment", "9. Renewal risk"):
        assert section in body_of(reminder)

    with story.mail.imap(ADDRESS) as imap:
        imap.select_folder("Ignored")
        assert len(imap.search(["ALL"])) == 1

    ask_for_the_workbook(story)
    history = rows(attached_workbook(story.workbook_mails(DANA)[-1]), "History")
    assert [r[5] for r in history if r[2] == SAM] == ["out-of-office reply"]


# --- 9. the manager asks for the workbook early ---------------------------------------------


def test_send_workbook_before_the_answers_are_complete(story: Story) -> None:
    questionnaire = story.start()
    story.reply(gmail_reply(questionnaire, f"2. Sentiment\n{SENTIMENT}\n\n4. Red flags\n"
                                           f"{RED_FLAGS}\n\n6. Goals\n{FORMULA_LIKE}"))
    assert story.workbook_mails(RITA) == []

    ask_for_the_workbook(story)

    [to_rita] = story.workbook_mails(RITA)
    assert story.workbook_mails(DANA), "the manager gets it too"
    body = body_of(to_rita)
    assert "some required parts are still missing" in body, body
    assert "- 1. Contacts" in body and "- 2. Sentiment" not in body
    book = attached_workbook(to_rita)
    assert rows(book, "Issues")[0] == ("SSO login failures for the EU team", "open",
                                       "ticket ENG-512")
    overview = {r[0]: r[1] for r in rows(book, "Overview")}
    assert overview["Customer sentiment"] == SENTIMENT
    goals = next(row[1] for row in book["Wins & Goals"].iter_rows(min_row=2)
                 if row[0].value == "Goals")
    assert goals.value == FORMULA_LIKE, "text from email is kept exactly"
    assert goals.data_type == "s" and goals.quotePrefix, "and is never a formula"


# --- the running service answers within seconds ---------------------------------------------


def test_the_running_service_sends_the_receipt_within_seconds(mail, tmp_path) -> None:  # noqa: ANN001
    assistant = Assistant(tmp_path, mail)
    assistant.start()
    try:
        wait_until(lambda: "IMAP connected" in assistant.log_text(), timeout=15)
        time.sleep(0.3)  # the service is idling now
        mail.send(plain(sender=MANAGER, to=ADDRESS, subject="Transition: Acme Corp",
                        body=REQUEST), mail_from=DANA, rcpt_to=[ADDRESS])
        questionnaire = Original.of(mail.wait_for_messages(SAM, 1, timeout=20)[0])
        sent_at = time.monotonic()
        mail.send(iphone_reply(questionnaire, ANSWERS_TEXT), mail_from=SAM,
                  rcpt_to=[questionnaire.reply_to])
        try:
            receipt = mail.wait_for_messages(SAM, 2, timeout=10)[1]
        except AssertionError as exc:
            raise AssertionError(assistant.log_text()) from exc
        latency = time.monotonic() - sent_at
        workbook = wait_until(lambda: [m for m in mail.messages(RITA)
                                       if assistant.kind_of(m) == "workbook"])
    except AssertionError as missing:
        raise AssertionError(f"{missing}\nservice log:\n{assistant.log_text()[-4000:]}") from None
    finally:
        assert assistant.stop() == 0, assistant.log_text()
    print(f"questionnaire reply to receipt: {latency * 1000:.0f} ms")
    assert latency < 5
    assert sections_received(body_of(receipt)) == 6
    assert attached_workbook(workbook[0])["Contacts"]["A2"].value == "Pat Lee"
