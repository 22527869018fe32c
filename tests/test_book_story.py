"""Issue 5's stories: a whole book of business moves with one email, on real mail servers."""

from __future__ import annotations

import base64
import io
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

from assistant import ADDRESS, Assistant, parse, text_of
from openpyxl import Workbook, load_workbook

from mailer.config.settings import SHIPPED_DEFAULTS
from mailer.state.store import Store

MANAGER = "Dana Manager <dana@example.com>"
SAM = "sam@example.com"
NEW_CSMS = (("Rita Patel", "rita@example.com"), ("Lee Wong", "lee@example.com"),
            ("Max Berg", "max@example.com"))
MONDAY = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)
WEDNESDAY_AFTER_REMINDERS = datetime(2027, 1, 13, 9, 31, tzinfo=UTC)
HEADER = ["Company", "tCSM", "nCSM", "Customer contact", "Type", "Handoff date", "Last day",
          "Renewal"]
# Rows (as the spreadsheet numbers them) that are wrong in the first file, and how.
BROKEN = {6: ("nCSM", "Rita"), 12: ("Customer contact", ""), 18: ("Type", "gentle"),
          24: ("Type", "hard"), 30: ("Handoff date", "someday soon")}
REPEATED_ROW, REPEATS = 36, 3  # row 36 names the same account as row 3, in other casing


def book(*, corrected: bool) -> list[list[str]]:
    rows = [HEADER]
    for number in range(2, 42):
        name, email = NEW_CSMS[number % 3]
        account = f"Account {number:02d} Ltd"
        if number == REPEATED_ROW:
            account = f"ACCOUNT {REPEATS:02d}  ltd"
        row = {"Company": account, "tCSM": f"Sam Jones <{SAM}>", "nCSM": f"{name} <{email}>",
               "Customer contact": f"Pat {number} <pat{number}@customer{number}.test>",
               "Type": "soft", "Handoff date": "2027-02-01", "Last day": "",
               "Renewal": "2027-06-30"}
        if not corrected and number in BROKEN:
            column, value = BROKEN[number]
            row[column] = value
        if corrected and number == 24:
            row["Last day"] = "2027-01-29"
        rows.append([row[column] for column in HEADER])
    return rows


def csv_bytes(rows: list[list[str]]) -> bytes:
    # Excel's "CSV UTF-8": a byte-order mark, CRLF lines, quotes where a comma appears.
    lines = [",".join(f'"{cell}"' if "," in cell or '"' in cell else cell for cell in row)
             for row in rows]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def with_attachment(*, sender: str, to: str, subject: str, body: str, filename: str,
                    content_type: str, payload: bytes, in_reply_to: str | None = None,
                    message_id: str) -> bytes:
    """An Outlook-style multipart/mixed mail with one attachment."""
    threading = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" \
        if in_reply_to else ""
    encoded = base64.encodebytes(payload).decode().replace("\n", "\r\n")
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Date: Mon, 11 Jan 2027 08:55:00 +0000\r\nMessage-ID: {message_id}\r\n{threading}"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"_004_book\"\r\n\r\n"
            "--_004_book\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\n\r\n"
            f"{body.replace(chr(10), chr(13) + chr(10))}\r\n\r\n--_004_book\r\n"
            f"Content-Type: {content_type}; name=\"{filename}\"\r\n"
            f"Content-Disposition: attachment; filename=\"{filename}\"\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--_004_book--\r\n").encode()


def from_assistant(mail, person: str) -> list[bytes]:
    """What the assistant delivered to one person, in order, as the relay accepted it."""
    return [envelope.data for envelope in mail.accepted
            if person in envelope.rcpt_tos and envelope.mail_from.startswith("transitions+")]


def subjects(mail, person: str) -> list[str]:
    return [parse(raw)["Subject"] for raw in from_assistant(mail, person)]


def test_a_forty_row_book_starts_every_good_row_and_a_corrected_file_adds_only_the_rest(
        mail, tmp_path):
    assistant = Assistant(tmp_path, mail)
    mail.send(with_attachment(
        sender=MANAGER, to=ADDRESS, subject="Sam's book of business",
        body="Hi,\n\nSam is leaving us; here are all his accounts.\n\nThanks,\nDana",
        filename="sam book.csv", content_type="text/csv", payload=csv_bytes(book(corrected=False)),
        message_id="<book-1@example.com>"), mail_from="dana@example.com", rcpt_to=[ADDRESS])
    assistant.run_once(now=MONDAY)

    [answer] = mail.wait_for_messages("dana@example.com", 1)
    assert parse(answer)["Subject"] == "Re: Sam's book of business", "it stays in the thread"
    assert not re.search(r"TR-\d", parse(answer)["Subject"]), "replies must come back as books"
    body = text_of(answer).replace("\r\n", "\n")
    assert "all 40 rows" in body and "- 34 started just now" in body
    table = body.split("\nEvery row\n", 1)[1]
    for number in range(2, 42):  # every row is accounted for, in order
        assert f"\n- Row: {number}; " in table, number
    started = re.findall(r"- Row: (\d+); Account: [^;]+; Result: started as (TR-\d{4}) ", table)
    assert len(started) == 34 and len({tid for _, tid in started}) == 34
    assert "- Row: 36; Account: ACCOUNT 03 ltd; Result: same account and outgoing CSM as row 3" \
        in table
    fixes = body.split("\nRows to correct\n", 1)[1].split("\nEvery row\n", 1)[0]
    assert "Row 6: Account 06 Ltd" in fixes
    assert "In the Incoming CSM column, write: Rita <name@yourcompany.com>" in fixes
    assert "Row 12: Account 12 Ltd" in fixes and "Customer contacts" in fixes
    assert "Row 18: Account 18 Ltd" in fixes and '"gentle" is not a type' in fixes
    assert "Row 24: Account 24 Ltd" in fixes and "hard handoff needs" in fixes
    assert "Row 30: Account 30 Ltd" in fixes and "Effective date" in fixes

    # One questionnaire per account to Sam; one notice and one introduction prompt per new CSM.
    assert len(subjects(mail, SAM)) == 34
    assert all("handoff questions for Account" in s for s in subjects(mail, SAM))
    for _name, email in NEW_CSMS:
        mine = [n for n, _ in started if NEW_CSMS[int(n) % 3][1] == email]
        notice, prompt = subjects(mail, email)
        assert notice == f"You are taking over {len(mine)} accounts"
        assert prompt == f"A few words to introduce yourself to {len(mine)} new customers"
        notice_text = text_of(from_assistant(mail, email)[0])
        assert all(f"Account {int(n):02d} Ltd" in notice_text for n in mine)
    assert len(mail.messages("rita@example.com")) == 2  # delivered into the real mailbox

    # The manager fixes the five rows and sends the whole file back as a reply.
    mail.send(with_attachment(
        sender=MANAGER, to=ADDRESS, subject="Re: Sam's book of business",
        body="Fixed, thanks!\n\n> " + body.replace("\n", "\n> "),
        filename="sam book v2.csv", content_type="text/csv",
        payload=csv_bytes(book(corrected=True)), in_reply_to=parse(answer)["Message-ID"],
        message_id="<book-2@example.com>"), mail_from="dana@example.com", rcpt_to=[ADDRESS])
    before = {email: len(subjects(mail, email)) for _, email in NEW_CSMS}
    assistant.run_once(now=MONDAY.replace(hour=10))

    second = text_of(mail.wait_for_messages("dana@example.com", 2)[1])
    assert parse(mail.messages("dana@example.com")[1])["Subject"] == "Re: Sam's book of business"
    assert "- 5 started just now" in second and "- 35 already under way" in second
    newly = re.findall(r"- Row: (\d+); Account: [^;]+; Result: started as (TR-\d{4}) ", second)
    assert sorted(int(n) for n, _ in newly) == sorted(BROKEN)
    assert {tid for _, tid in newly}.isdisjoint({tid for _, tid in started})
    assert "- Row: 36; Account: ACCOUNT 03 ltd; Result: already under way as" in second
    assert len(subjects(mail, SAM)) == 34 + 5
    for _name, email in NEW_CSMS:
        fixed_rows = [n for n in BROKEN if NEW_CSMS[n % 3][1] == email]
        expected = 2 if fixed_rows else 0  # a notice, and an introduction prompt
        assert len(subjects(mail, email)) - before[email] == expected, email

    store = Store(Path(assistant.settings.database_path))
    try:
        rows = store.all("SELECT lower(account) AS a, outgoing_email, count(*) AS n "
                         "FROM transitions GROUP BY 1, 2")
    finally:
        store.close()
    assert len(rows) == 39 and all(row["n"] == 1 for row in rows)
    assert not from_assistant(mail, "pat3@customer3.test"), "no customer hears anything yet"


# --- the combined form --------------------------------------------------------------------


def combined_playbooks(tmp_path: Path) -> Path:
    folder = tmp_path / "playbooks"
    shutil.copytree(SHIPPED_DEFAULTS / "playbooks", folder)
    soft = folder / "soft.yaml"
    soft.write_text(soft.read_text().replace("checkin_days: 60\n",
                                             "checkin_days: 60\nbook_questionnaire: combined\n"))
    return folder


def xlsx_book() -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Customer name", "New CSM", "Contact 1", "Contact 2", "Effective"])
    sheet.append(["Initech", "Rita Patel <rita@example.com>", "Bill L <bill@initech.test>",
                  "Milton W <milton@initech.test>", datetime(2027, 2, 1)])
    sheet.append(["Umbrella", "Rita Patel <rita@example.com>", "Alice <alice@umbrella.test>",
                  None, datetime(2027, 2, 3)])
    sheet.append(["Hooli", "lee@example.com", "Gavin <gavin@hooli.test>", None,
                  datetime(2027, 2, 5)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ANSWERS = {1: "Bill Lumbergh, VP, bill@initech.test, executive sponsor", 2: "Happy overall",
           4: "- TPS report exports are slow (open)", 6: "Automate reporting",
           8: "Renewal 2027-06-30, 3 year term", 9: "Low risk"}


def test_the_combined_form_and_grouped_reminders_spare_the_outgoing_csm(mail, tmp_path):
    assistant = Assistant(tmp_path, mail,
                          extra_env={"MAILER_PLAYBOOKS": str(combined_playbooks(tmp_path))})
    mail.send(with_attachment(
        sender=MANAGER, to=ADDRESS, subject="Three accounts for Rita and Lee",
        body="Outgoing CSM: Sam Jones <sam@example.com>\nType: soft\n",
        filename="book.xlsx", content_type=XLSX, payload=xlsx_book(),
        message_id="<book-x@example.com>"), mail_from="dana@example.com", rcpt_to=[ADDRESS])
    assistant.run_once(now=MONDAY)

    assert subjects(mail, "dana@example.com")[0] == "Re: Three accounts for Rita and Lee"
    assert "- 3 started just now" in text_of(from_assistant(mail, "dana@example.com")[0])
    [combined] = from_assistant(mail, SAM)
    assert parse(combined)["Subject"] == "Handoff questions for your 3 accounts"
    [form] = [p for p in parse(combined).iter_attachments()]
    workbook = load_workbook(io.BytesIO(form.get_content()))
    visible = [s.title for s in workbook.worksheets if s.sheet_state == "visible"]
    assert visible == ["TR-0001 Initech", "TR-0002 Umbrella", "TR-0003 Hooli"]
    assert subjects(mail, "rita@example.com") == [
        "You are taking over 2 accounts", "A few words to introduce yourself to 2 new customers"]
    assert subjects(mail, "lee@example.com") == [
        "You are taking over Hooli", "TR-0003 a few words to introduce yourself to Hooli"]

    # Sam fills in Initech's sheet and sends the form back.
    sheet = workbook["TR-0001 Initech"]
    for row in sheet.iter_rows(min_row=2, max_row=13):
        if row[0].value in ANSWERS:
            row[3].value = ANSWERS[row[0].value]
    filled = io.BytesIO()
    workbook.save(filled)
    mail.send(with_attachment(
        sender="Sam Jones <sam@example.com>", to=parse(combined)["Reply-To"],
        subject="Re: Handoff questions for your 3 accounts", body="Initech is done.",
        filename=form.get_filename(), content_type=XLSX, payload=filled.getvalue(),
        in_reply_to=parse(combined)["Message-ID"], message_id="<sam-1@example.com>"),
        mail_from=SAM, rcpt_to=[parse(combined)["Reply-To"]])
    assistant.run_once(now=MONDAY.replace(hour=11))
    receipt = text_of(from_assistant(mail, SAM)[1])
    initech = receipt.split("TR-0001 Initech")[1].split("Still waiting")[0]
    assert "2. Sentiment (new): \"Happy overall\"" in initech, "each section with its words"
    assert "All the required answers are in" in initech
    assert "Welcome whenever you have a moment: 3. Customer fit" in initech
    assert "Still waiting for answers: TR-0002 Umbrella, TR-0003 Hooli." in receipt
    assert "sat under no account" not in receipt, "a note above the answers is fine"
    assert any("handoff workbook for Initech" in s for s in subjects(mail, "rita@example.com"))

    # Two business days later: one reminder for the two open accounts, not two reminders.
    assistant.run_once(now=WEDNESDAY_AFTER_REMINDERS)
    assert subjects(mail, SAM)[2:] == ["Re: Handoff questions for your 3 accounts"], \
        "the grouped reminder continues the combined questionnaire's conversation"
    reminder = from_assistant(mail, SAM)[2]
    assert "TR-0002 Umbrella (goes to" in text_of(reminder) and "Initech" not in text_of(reminder)
    assert subjects(mail, "rita@example.com")[-1] == \
        "Re: A few words to introduce yourself to 2 new customers"

    # Sam answers Hooli by email, under its transition number.
    mail.send(with_attachment(
        sender="Sam Jones <sam@example.com>", to=parse(reminder)["Reply-To"],
        subject="Re: Reminder", body="TR-0003\n2. Sentiment\nWarm, they like us\n\n"
        "9. Renewal risk\nA competitor is courting them",
        filename="notes.txt", content_type="text/plain", payload=b"see email",
        in_reply_to=parse(reminder)["Message-ID"], message_id="<sam-2@example.com>"),
        mail_from=SAM, rcpt_to=[parse(reminder)["Reply-To"]])
    # Rita writes her introduction once, for both of her accounts.
    [prompt] = [raw for raw in from_assistant(mail, "rita@example.com")
                if "introduce yourself to 2" in parse(raw)["Subject"]][:1]
    mail.send(with_attachment(
        sender="Rita Patel <rita@example.com>", to=parse(prompt)["Reply-To"],
        subject="Re: intro", body="I have run analytics rollouts for ten years.",
        filename="x.txt", content_type="text/plain", payload=b"-",
        in_reply_to=parse(prompt)["Message-ID"], message_id="<rita-1@example.com>"),
        mail_from="rita@example.com", rcpt_to=[parse(prompt)["Reply-To"]])
    assistant.run_once(now=WEDNESDAY_AFTER_REMINDERS.replace(hour=11))
    hooli = text_of(from_assistant(mail, SAM)[3])
    hooli = hooli.split("TR-0003 Hooli")[1]
    assert "2. Sentiment (new): \"Warm, they like us\"" in hooli
    assert "9. Renewal risk (new): \"A competitor is courting them\"" in hooli
    still_needed = hooli.split("Still needed:")[1].split("Still waiting")[0]
    assert "1. Contacts (required)" in still_needed
    assert "3. Customer fit," in still_needed and "3. Customer fit (required)" not in \
        still_needed, "the optional sections are listed unmarked"
    thanks = text_of(from_assistant(mail, "rita@example.com")[-1])
    assert "introduction emails to Initech and Umbrella." in thanks
