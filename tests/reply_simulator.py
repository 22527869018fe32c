"""A seeded simulator of people answering the questionnaire from their mail clients.

`simulate(seed)` takes the product's own rendered questionnaire (text and HTML parts, as the
assistant sends it) and a set of answers drawn from the seed, and writes the reply or replies
the way one client family writes them, byte for byte: its MIME structure, its quoting, its
attribution or header block in the writer's language, its signature markup, its text
rendering of links. Alongside the raw messages it keeps what the person meant: the answer
text per section, the contacts and the issues, so a test can compare what the product read
with what was written.

Client quirks come from real mail (the corpora beside the project): Gmail's wrapped
attribution and `gmail_quote`/`gmail_signature`, Outlook's `WordSection1` HTML with the
From/Sent/To/Subject block and its `name@x.com<mailto:name@x.com>` plain-text rendering,
Outlook on the web's `divRplyFwdMsg` and `id="Signature"`, Outlook for iOS/Android's
"Get Outlook for iOS<https://aka.ms/...>", Apple Mail's format=flowed with DelSp=yes and
`blockquote type="cite"`, the iPhone's "Sent from my iPhone" above the quote, Thunderbird's
format=flowed with inline `>` quoting and its "-- " signature.
"""

from __future__ import annotations

import html as html_lib
import quopri
import random
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import cache
from pathlib import Path

from mailer.handoff.model import Contact, ContactRole, IssueItem, IssueStatus
from mailer.handoff.questionnaire import SECTIONS, questionnaire_markdown
from mailer.mail.render import Renderer

TEMPLATES = Path(__file__).resolve().parents[1] / "mailer" / "defaults" / "templates"
ASSISTANT = "Transitions assistant"
REPLY_TO = "transitions+k3y5ecret@example.com"
ACCOUNT = "Acme Corp"
SUBJECT = f"TR-0001 handoff questions for {ACCOUNT}"
QUESTIONNAIRE_ID = "<tr-0001.questionnaire@example.com>"
WRITER_NAME, WRITER_EMAIL = "Sam Jones", "sam@example.com"

CLIENTS = ("gmail", "outlook", "outlook_web", "outlook_mobile", "apple_mail", "iphone",
           "thunderbird")
LANGUAGES = ("en", "de", "fr", "es", "nl")
LAYOUTS = ("top", "inline", "mixed", "split", "correction", "html_only")
HEADING_STYLES = ("number_title", "number_title_colon", "paren", "section", "hash", "bold",
                  "dash", "title", "title_colon", "translated", "markdown", "qualified",
                  "number_only")


@dataclass(frozen=True)
class Questionnaire:
    """The questionnaire mail as the assistant sent it."""

    text: str
    html: str


@cache
def questionnaire() -> Questionnaire:
    person = {"name": "Sam Jones", "email": WRITER_EMAIL, "first_name": "Sam",
              "display": "Sam Jones"}
    incoming = {"name": "Rita Patel", "email": "rita@example.com", "first_name": "Rita",
                "display": "Rita Patel"}
    rendered = Renderer(TEMPLATES).render("questionnaire", context={
        "tid": "TR-0001", "account": ACCOUNT, "outgoing": person, "incoming": incoming,
        "effective_date": None, "questionnaire": questionnaire_markdown(ACCOUNT)})
    return Questionnaire(rendered.text, rendered.html)


# --- the writer's language ----------------------------------------------------------------

TITLES = {
    "de": ("Kontakte", "Stimmung", "Kundenpassung", "Warnsignale und Probleme", "Erfolge",
           "Ziele", "Laufende Projekte", "Vertrag", "Verlängerungsrisiko", "Kommunikation",
           "Wichtige Ereignisse", "Dokumente"),
    "fr": ("Contacts", "Ressenti", "Adéquation client", "Signaux d'alerte et problèmes",
           "Réussites", "Objectifs", "Projets en cours", "Contrat",
           "Risque de renouvellement", "Communication", "Événements importants",
           "Documents"),
    "es": ("Contactos", "Percepción", "Encaje del cliente", "Señales de alerta y problemas",
           "Éxitos", "Objetivos", "Proyectos actuales", "Contrato", "Riesgo de renovación",
           "Comunicación", "Eventos importantes", "Documentos"),
    "nl": ("Contactpersonen", "Stemming", "Klantfit", "Rode vlaggen en problemen", "Successen",
           "Doelen", "Lopende projecten", "Contract", "Verlengingsrisico", "Communicatie",
           "Belangrijke gebeurtenissen", "Documenten"),
}
QUALIFIERS = {"en": ("(correction)", "- update", "(updated)", "(continued)"),
              "de": ("(Korrektur)", "- Nachtrag", "(aktualisiert)"),
              "fr": ("(correction)", "- mise à jour", "(rectificatif)"),
              "es": ("(corrección)", "- actualización"),
              "nl": ("(correctie)", "- update", "(aanvulling)")}
GREETINGS = {"en": ("Hi,", "Hello Rita,", "Hi there,"), "de": ("Hallo,", "Hallo zusammen,"),
             "fr": ("Bonjour,", "Bonjour à tous,"), "es": ("Hola,", "Buenos días,"),
             "nl": ("Hoi,", "Hallo allemaal,")}
LEAD_INS = {"en": ("Here are my answers:", "The essentials first, more to follow:"),
            "de": ("Hier meine Antworten:", "Anbei das Wichtigste:"),
            "fr": ("Voici mes réponses :", "L'essentiel ci-dessous :"),
            "es": ("Aquí van mis respuestas:", "Lo más importante:"),
            "nl": ("Hierbij mijn antwoorden:", "Eerst het belangrijkste:")}
INLINE_NOTES = {"en": "Answers inline below.", "de": "Antworten stehen unten im Text.",
                "fr": "Réponses dans le texte ci-dessous.", "es": "Respuestas abajo, en el texto.",
                "nl": "Antwoorden staan hieronder in de tekst."}
CLOSINGS = {"en": ("Thanks,", "Best regards,", "Kind regards", "Cheers,", "Best,",
                   "Have a good weekend!"),
            "de": ("Viele Grüße", "Mit freundlichen Grüßen", "Beste Grüße,", "LG"),
            "fr": ("Cordialement,", "Bonne journée,", "Bien à vous,", "Merci !"),
            "es": ("Saludos,", "Un saludo,", "Atentamente,", "Gracias!"),
            "nl": ("Met vriendelijke groet,", "Groeten,", "Hartelijke groet,", "Bedankt!")}
JOB_TITLES = {"en": ("Customer Success Manager", "Senior CSM | EMEA", "Account Manager"),
              "de": ("Kundenbetreuer", "Senior Customer Success Manager DACH"),
              "fr": ("Responsable Succès Client", "Chargé de compte"),
              "es": ("Gerente de Éxito del Cliente", "Responsable de cuentas"),
              "nl": ("Klantsuccesmanager", "Accountmanager Benelux")}
COMPANIES = ("Example Inc.", "Example GmbH", "Example SAS | Paris", "Example B.V.")
PHONES = ("+1 555 010 0199", "Tel. +49 30 1234 5678", "M: +33 6 12 34 56 78",
          "Mobile: +34 612 345 678", "T +31 20 123 4567 | M +31 6 1234 5678")
DISCLAIMERS = {
    "en": "This email and any attachments are confidential and intended solely for the "
          "addressee. If you received it in error, please tell the sender and delete it.",
    "de": "Diese E-Mail enthält vertrauliche Informationen. Wenn Sie nicht der richtige "
          "Adressat sind, informieren Sie bitte sofort den Absender und löschen Sie diese Mail.",
    "fr": "Ce message et ses pièces jointes sont confidentiels et destinés exclusivement à "
          "leurs destinataires. Si vous l'avez reçu par erreur, merci de le détruire.",
    "es": "Este mensaje es confidencial y va dirigido exclusivamente a su destinatario. Si lo "
          "ha recibido por error, le rogamos que lo comunique al remitente y lo borre.",
    "nl": "Dit bericht is vertrouwelijk en uitsluitend bestemd voor de geadresseerde. Hebt u "
          "het per vergissing ontvangen, meld dit dan aan de afzender en verwijder het.",
}
SENT_FROM_IPHONE = {"en": "Sent from my iPhone", "de": "Von meinem iPhone gesendet",
                    "fr": "Envoyé de mon iPhone", "es": "Enviado desde mi iPhone",
                    "nl": "Verstuurd vanaf mijn iPhone"}
GET_OUTLOOK = {"en": "Get Outlook for iOS", "de": "Outlook für iOS beziehen",
               "fr": "Envoyé à partir de Outlook pour iOS", "es": "Obtener Outlook para iOS",
               "nl": "Outlook voor Android downloaden"}
HEADER_LABELS = {"en": ("From", "Sent", "To", "Subject"),
                 "de": ("Von", "Gesendet", "An", "Betreff"),
                 "fr": ("De", "Envoyé", "À", "Objet"),
                 "es": ("De", "Enviado el", "Para", "Asunto"),
                 "nl": ("Van", "Verzonden", "Aan", "Onderwerp")}
ALSO = {"en": "Also:", "de": "Also:", "fr": "Also:", "es": "Also:", "nl": "Also:"}
STATUS_WORDS = {
    "en": {IssueStatus.OPEN: ("open", "still open", "ongoing"),
           IssueStatus.RESOLVED: ("resolved", "fixed", "closed", "done")},
    "de": {IssueStatus.OPEN: ("offen", "noch offen"),
           IssueStatus.RESOLVED: ("gelöst", "erledigt", "behoben")},
    "fr": {IssueStatus.OPEN: ("ouvert", "en cours"),
           IssueStatus.RESOLVED: ("résolu", "réglé", "corrigé")},
    "es": {IssueStatus.OPEN: ("abierto", "pendiente"),
           IssueStatus.RESOLVED: ("resuelto", "solucionado", "cerrado")},
    "nl": {IssueStatus.OPEN: ("open", "loopt nog"),
           IssueStatus.RESOLVED: ("opgelost", "afgerond", "gesloten")},
}

# --- what people write ----------------------------------------------------------------------

FIRST = ("Pat", "Jo", "Max", "Ana", "Li", "Noor", "Tomás", "Chloé", "Jörg", "Priya", "Kwame",
         "Ines", "Marek", "Sofía", "Daan", "Émile", "Aoife", "Ravi")
LAST = ("Lee", "Park", "Gruber", "Souza", "Wei", "de Vries", "García", "Müller", "Dubois",
        "O'Neill", "van Dijk", "Nowak", "Rossi", "Okafor", "Lindqvist", "Ng")
TITLES_OF_CONTACTS = ("VP Operations", "CFO", "IT lead", "Head of Finance", "Director, RevOps",
                      "Procurement Manager", "COO", "Teamleiterin Controlling",
                      "Directeur financier", "Jefa de compras", "Hoofd IT")
ROLES = (("champion", ContactRole.CHAMPION), ("executive sponsor", ContactRole.EXECUTIVE_SPONSOR),
         ("point of contact", ContactRole.POINT_OF_CONTACT),
         ("decision maker", ContactRole.DECISION_MAKER), ("user", ContactRole.USER))
NOTES = ("loves dashboards; hates long decks", "reference for the case study | spoke at our "
         "summit", "met at the 2025 user day (Berlin) - keen cyclist", "prefers calls before "
         "10:00, never on Fridays", "new since May; reports to the COO", "signs the PO [not "
         "the contract]", "=2x seats per team is her rule of thumb", "+ owns the budget for "
         "tools", "very direct – wants numbers, not adjectives", "likes a short agenda")
LEFT_NOTES = ("left the company in October", "no longer at Acme, moved to Globex")

SENTENCES = {
    2: {"en": ("Positive overall; the ops team is happy, finance is still sceptical.",
               "Neutral since the price increase, warming up again after the QBR.",
               "=SUM(B2:B9) is how their finance team checks every invoice, and it adds up."),
        "de": ("Insgesamt positiv, das Ops-Team ist zufrieden.",
               "Eher neutral seit der Preiserhöhung; nach dem QBR wieder besser."),
        "fr": ("Plutôt positif ; l'équipe ops est contente, la finance reste prudente.",
               "Neutre depuis la hausse de prix, meilleur après la revue trimestrielle."),
        "es": ("Positivo en general; el equipo de operaciones está contento.",
               "Neutral desde la subida de precio, mejor tras la revisión trimestral."),
        "nl": ("Overwegend positief; het ops-team is tevreden, finance twijfelt nog.",
               "Neutraal sinds de prijsverhoging, na de QBR weer beter.")},
    3: {"en": ("Strong fit for reporting; their custom billing flow is a stretch.",),
        "de": ("Passt gut für das Reporting, die Sonderabrechnung ist ein Kraftakt.",),
        "fr": ("Très bon pour le reporting ; leur facturation sur mesure est un défi.",),
        "es": ("Encaja bien para informes; su facturación a medida cuesta más.",),
        "nl": ("Past goed voor rapportage; hun eigen facturatie is lastig.",)},
    5: {"en": ("Cut month-end close from 9 to 4 days (Q3 business review).",
               "+18% adoption since the EMEA rollout"),
        "de": ("Monatsabschluss von 9 auf 4 Tage verkürzt (QBR im dritten Quartal).",),
        "fr": ("Clôture mensuelle passée de 9 à 4 jours (revue du T3).",),
        "es": ("Cierre mensual de 9 a 4 días (revisión del tercer trimestre).",),
        "nl": ("Maandafsluiting van 9 naar 4 dagen (kwartaalreview Q3).",)},
    6: {"en": ("Roll out to the EMEA team by Q2; automate renewal reporting.",
               "Connect the data warehouse before the summer."),
        "de": ("Rollout für das EMEA-Team bis Q2; Verlängerungsberichte automatisieren.",),
        "fr": ("Déployer pour l'équipe EMEA d'ici le T2 ; automatiser les rapports.",),
        "es": ("Desplegar al equipo EMEA antes del T2; automatizar los informes.",),
        "nl": ("Uitrol naar het EMEA-team voor Q2; rapportage automatiseren.",)},
    7: {"en": ("Salesforce integration, go-live 15 March",
               "SSO migration with their IT, half done"),
        "de": ("Salesforce-Anbindung, Go-live am 15. März",),
        "fr": ("Intégration Salesforce, mise en service le 15 mars",),
        "es": ("Integración con Salesforce, puesta en marcha el 15 de marzo",),
        "nl": ("Salesforce-koppeling, livegang op 15 maart",)},
    8: {"en": ("2-year term, 10% discount capped at 5% uplift.",
               "Auto-renews unless cancelled 90 days ahead."),
        "de": ("Laufzeit 2 Jahre, 10 % Rabatt, Erhöhung höchstens 5 %.",),
        "fr": ("Durée de 2 ans, remise de 10 %, hausse plafonnée à 5 %.",),
        "es": ("Plazo de 2 años, 10 % de descuento, subida máxima del 5 %.",),
        "nl": ("Looptijd 2 jaar, 10% korting, verhoging maximaal 5%.",)},
    9: {"en": ("Medium: the new CFO reviews every tool; a rival demoed in October.",
               "Low, as long as the export bug is fixed."),
        "de": ("Mittel: Der neue CFO prüft alle Tools.",),
        "fr": ("Moyen : le nouveau DAF revoit tous les outils.",),
        "es": ("Medio: el nuevo director financiero revisa todas las herramientas.",),
        "nl": ("Gemiddeld: de nieuwe CFO bekijkt alle tools.",)},
    10: {"en": ("Email first; monthly call, first Tuesday, 9:00 Europe/Berlin.",
                "+49 30 1234 5678 is their support hotline, Slack for quick questions."),
         "de": ("Lieber E-Mail; monatlicher Call am ersten Dienstag, 9:00 Uhr.",),
         "fr": ("Email d'abord ; appel mensuel le premier mardi à 9h.",),
         "es": ("Correo primero; llamada mensual el primer martes a las 9:00.",),
         "nl": ("Liefst e-mail; maandelijks gesprek op de eerste dinsdag om 9:00.",)},
    11: {"en": ("Acquired by Globex in May; Pat is on leave in August.",),
         "de": ("Im Mai von Globex übernommen; Pat ist im August im Urlaub.",),
         "fr": ("Racheté par Globex en mai ; Pat est en congé en août.",),
         "es": ("Comprada por Globex en mayo; Pat está de vacaciones en agosto.",),
         "nl": ("In mei overgenomen door Globex; Pat is in augustus met verlof.",)},
}
ISSUES = {"en": ("SSO login failures for the EU team", "Invoice dispute over the Q2 overage",
                 "Slow CSV exports", "Missing audit log for admins"),
          "de": ("SSO-Anmeldung scheitert für das EU-Team", "Streit um die Q2-Rechnung",
                 "Langsame CSV-Exporte"),
          "fr": ("Échecs de connexion SSO pour l'équipe UE", "Litige sur la facture du T2",
                 "Exports CSV lents"),
          "es": ("Fallos de inicio de sesión SSO", "Disputa por la factura del T2",
                 "Exportaciones CSV lentas"),
          "nl": ("SSO-aanmelding mislukt voor het EU-team", "Discussie over de Q2-factuur",
                 "Trage CSV-exports")}
LABELS = {8: {"en": "Renewal", "de": "Verlängerung", "fr": "Renouvellement", "es": "Renovación",
              "nl": "Verlenging"},
          12: {"en": "Contract", "de": "Vertrag", "fr": "Contrat", "es": "Contrato",
               "nl": "Contract"}}


@dataclass(frozen=True)
class Signature:
    lines: tuple[str, ...]  # name, title, company, phone as the writer set them up
    disclaimer: str = ""
    dashes: bool = False  # "-- " above it (Thunderbird, Gmail's plain text)


@dataclass
class Writer:
    """The person answering and the habits they write with."""

    language: str
    heading_style: str
    closing: str | None
    signature: Signature | None
    greeting: str | None
    lead_in: str | None


@dataclass(frozen=True)
class Reply:
    raw: bytes
    answers: dict[int, str]  # what this reply says per section, as the person meant it


@dataclass
class Case:
    seed: int
    client: str
    language: str
    layout: str
    heading_style: str
    replies: list[Reply] = field(default_factory=list)
    expected: dict[int, str] = field(default_factory=dict)  # the merged answers
    contacts: list[Contact] = field(default_factory=list)  # the contacts sheet after merging
    issues: list[IssueItem] = field(default_factory=list)
    signature_lines: tuple[str, ...] = ()

    def describe(self) -> str:
        return (f"seed {self.seed}: {self.client}, {self.language}, {self.layout}, "
                f"headings {self.heading_style}")


# --- answers ---------------------------------------------------------------------------------


def _person(rng: random.Random, used: set[str]) -> tuple[str, str]:
    while True:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        if first not in used:
            used.add(first)
            local = re.sub(r"[^a-z]", "", _ascii(first).lower())
            surname = re.sub(r"[^a-z]", "", _ascii(last).lower())
            return f"{first} {last}", f"{local}.{surname}@acme.com"


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _contact_line(contact: Contact, role_word: str) -> str:
    line = f"{contact.name}, {contact.title}, {contact.email}, {role_word}"
    return f"{line} - {contact.notes}" if contact.notes else line


def _contacts(rng: random.Random) -> tuple[str, list[Contact]]:
    used: set[str] = set()
    lines, contacts = [], []
    for _ in range(rng.randint(1, 4)):
        name, email = _person(rng, used)
        word, role = rng.choice(ROLES)
        left = rng.random() < 0.15
        notes = rng.choice(LEFT_NOTES) if left else rng.choice(NOTES + ("",))
        contact = Contact(name=name, title=rng.choice(TITLES_OF_CONTACTS), email=email,
                          role=role, still_there=not left, notes=notes)
        lines.append(_contact_line(contact, word))
        contacts.append(contact)
    return "\n".join(lines), contacts


def _issues(rng: random.Random, language: str) -> tuple[str, list[IssueItem]]:
    lines, items = [], []
    for text in rng.sample(ISSUES[language], rng.randint(1, min(3, len(ISSUES[language])))):
        status = rng.choice((IssueStatus.OPEN, IssueStatus.RESOLVED))
        word = rng.choice(STATUS_WORDS[language][status])
        if rng.random() < 0.5:
            notes = f"ticket ENG-{rng.randint(100, 999)}"
            lines.append(f"- {text} - {word}, {notes}")
        else:
            notes = ""
            lines.append(f"- {text} ({word})")
        items.append(IssueItem(text=text, status=status, notes=notes))
    return "\n".join(lines), items


def _free_text(rng: random.Random, number: int, language: str) -> str:
    pool = SENTENCES[number][language]
    lines = rng.sample(pool, rng.randint(1, len(pool)))
    if number == 8:
        lines.insert(0, f"{LABELS[8][language]}: 2027-03-{rng.randint(10, 31)}")
    if number == 7 and rng.random() < 0.5:
        lines = [f"- {line}" for line in lines]
    return "\n".join(lines)


def _documents(rng: random.Random, language: str) -> str:
    lines = [f"Drive: https://drive.example.com/acme/{rng.randint(10, 99)}"]
    if rng.random() < 0.7:
        # A label line that names another section; it belongs to this answer.
        lines.append(f"{LABELS[12][language]}: https://docs.example.com/acme-contract.pdf")
    if rng.random() < 0.5:
        lines.append("Slack #acme-account; notes from jo.park@acme.com in the CRM")
    return "\n".join(lines)


def draw_answers(rng: random.Random, language: str) -> tuple[dict[int, str], list[Contact],
                                                              list[IssueItem]]:
    chosen = sorted({1, 2, 4, *rng.sample(range(1, 13), rng.randint(2, 9))})
    answers: dict[int, str] = {}
    contacts: list[Contact] = []
    issues: list[IssueItem] = []
    for number in chosen:
        if number == 1:
            answers[1], contacts = _contacts(rng)
        elif number == 4:
            answers[4], issues = _issues(rng, language)
        elif number == 12:
            answers[12] = _documents(rng, language)
        else:
            answers[number] = _free_text(rng, number, language)
    return answers, contacts, issues


# --- headings, sign-offs, signatures ---------------------------------------------------------


def heading(number: int, style: str, language: str, rng: random.Random) -> str:
    title = SECTIONS[number - 1].title
    local = TITLES[language][number - 1] if language in TITLES else title
    return {
        "number_title": f"{number}. {title}",
        "number_title_colon": f"{number}. {title}:",
        "paren": f"{number}) {title}",
        "section": f"Section {number}",
        "hash": f"#{number}",
        "bold": f"**{number}. {title}**",
        "dash": f"{number} - {title}",
        "title": title,
        "title_colon": f"{title}:",
        "translated": f"{number}. {local}" if rng.random() < 0.5 else f"{local}:",
        "markdown": f"## {number}. {title}",
        "qualified": f"{number}. {title} {rng.choice(QUALIFIERS[language])}",
        "number_only": f"{number}.",
    }[style]


def draw_writer(rng: random.Random, language: str, client: str) -> Writer:
    signature = None
    if rng.random() < 0.75:
        name = rng.choice((WRITER_NAME, "Sam Jones, MBA", "Samuel Jones"))
        lines = [name, rng.choice(JOB_TITLES[language])]
        if rng.random() < 0.7:
            lines.append(rng.choice(COMPANIES))
        if rng.random() < 0.7:
            lines.append(rng.choice(PHONES))
        if rng.random() < 0.3:
            lines.append("www.example.com")
        disclaimer = DISCLAIMERS[language] if rng.random() < 0.4 else ""
        dashes = client in ("thunderbird",) or (client == "gmail" and rng.random() < 0.5)
        signature = Signature(tuple(lines), disclaimer, dashes)
    closing = rng.choice(CLOSINGS[language]) if rng.random() < 0.8 else None
    return Writer(language=language, heading_style=rng.choice(HEADING_STYLES), closing=closing,
                  signature=signature,
                  greeting=rng.choice(GREETINGS[language]) if rng.random() < 0.6 else None,
                  lead_in=rng.choice(LEAD_INS[language]) if rng.random() < 0.5 else None)


def sign_off_lines(writer: Writer, rng: random.Random) -> list[str]:
    lines: list[str] = []
    if writer.closing:
        lines += [writer.closing, rng.choice(("Sam", "Sam Jones", "- Sam"))]
    if writer.signature is not None:
        if lines:
            lines.append("")
        if writer.signature.dashes:
            lines.append("-- ")
        lines += list(writer.signature.lines)
        if writer.signature.disclaimer:
            lines += ["", writer.signature.disclaimer]
    elif not writer.closing and rng.random() < 0.5:
        lines.append("Sam")
    return lines


def top_text(answers: dict[int, str], writer: Writer, rng: random.Random) -> str:
    """The new text of a top-posted reply: greeting, headings and answers (the sign-off
    is the client's to place: above the quote, or below inline answers)."""
    blocks: list[str] = []
    if writer.greeting:
        blocks.append(writer.greeting)
    lead = writer.lead_in
    for number, answer in answers.items():
        head = heading(number, writer.heading_style, writer.language, rng)
        block = f"{head}\n{answer}"
        if lead and not blocks[1:]:
            # The heading right after a line ending in ":" ("Here are my answers:").
            block = f"{lead}\n{block}"
            lead = None
        blocks.append(block)
    return "\n\n".join(blocks)


# --- quoting and attributions --------------------------------------------------------------

WHEN = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
_DAYS = {"de": "Mo.", "fr": "lun.", "es": "lun", "nl": "ma"}
_MONTHS = {"de": "Nov.", "fr": "nov.", "es": "nov", "nl": "nov."}


def attribution(client: str, language: str, *, wrapped: bool) -> str:
    """The line above the quote, in the writer's language, the way the client words it."""
    sender = f"{ASSISTANT} <{REPLY_TO}>"
    if client == "gmail":
        line = {
            "en": f"On Mon, Nov 23, 2026 at 9:00 AM {sender} wrote:",
            "de": f"Am Mo., 23. Nov. 2026 um 09:00 Uhr schrieb {sender}:",
            "fr": f"Le lun. 23 nov. 2026 à 09:00, {sender} a écrit :",
            "es": f"El lun, 23 nov 2026 a las 9:00, {ASSISTANT} (<{REPLY_TO}>) escribió:",
            "nl": f"Op ma 23 nov 2026 om 09:00 schreef {sender}:",
        }[language]
        if wrapped:  # Gmail's plain text wraps the attribution at about 78 characters
            cut = line.rfind(" ", 0, 76)
            line = f"{line[:cut]}\n{line[cut + 1:]}"
        return line
    if client == "thunderbird":
        return {"en": f"On 23/11/2026 09:00, {ASSISTANT} wrote:",
                "de": f"Am 23.11.26 um 09:00 schrieb {ASSISTANT}:",
                "fr": f"Le 23/11/2026 à 09:00, {ASSISTANT} a écrit :",
                "es": f"El 23/11/26 a las 9:00, {ASSISTANT} escribió:",
                "nl": f"Op 23-11-2026 om 09:00 schreef {ASSISTANT}:"}[language]
    # Apple Mail and the iPhone
    return {"en": f"On 23 Nov 2026, at 09:00, {sender} wrote:",
            "de": f"Am 23.11.2026 um 09:00 schrieb {sender}:",
            "fr": f"Le 23 nov. 2026 à 09:00, {sender} a écrit :",
            "es": f"El 23 nov 2026, a las 9:00, {sender} escribió:",
            "nl": f"Op 23 nov. 2026 om 09:00 heeft {sender} het volgende geschreven:"}[language]


def outlook_header(language: str, *, web: bool) -> str:
    """Outlook's block above the original it replies to."""
    from_, sent, to, subject = HEADER_LABELS[language]
    sender = f"{ASSISTANT} <{REPLY_TO}>" if web else f"{ASSISTANT} [mailto:{REPLY_TO}]"
    when = {"en": "Monday, November 23, 2026 9:00 AM", "de": "Montag, 23. November 2026 09:00",
            "fr": "lundi 23 novembre 2026 09:00", "es": "lunes, 23 de noviembre de 2026 9:00",
            "nl": "maandag 23 november 2026 09:00"}[language]
    return (f"{from_}: {sender}\n{sent}: {when}\n{to}: {WRITER_NAME} <{WRITER_EMAIL}>\n"
            f"{subject}: {SUBJECT}")


def quote_lines(text: str, marker: str = "> ") -> str:
    return "\n".join(f"{marker}{line}" if line.strip() else marker.rstrip()
                     for line in text.split("\n"))


_AUTOLINK = re.compile(r"(?<![<\w/.+-])(https?://[^\s<>]+|[\w.+-]+@[\w-]+\.[\w.-]*\w)")


def outlook_plain(text: str) -> str:
    """Outlook's text rendering of what was written in HTML: every address and link it
    turned into a hyperlink comes out as `x<mailto:x>` or `x<x>`."""
    def render(match: re.Match[str]) -> str:
        target = match.group(1)
        return f"{target}<{target}>" if target.startswith("http") else f"{target}<mailto:{target}>"
    return _AUTOLINK.sub(render, text)


def inline_text(original: str, answers: dict[int, str], *, marker: str = "> ") -> str:
    """The quoted questionnaire with answers typed under each quoted section heading."""
    out: list[str] = []
    for line in original.split("\n"):
        out.append(f"{marker}{line}" if line.strip() else marker.rstrip())
        match = re.match(r"^## (\d+)\. ", line)
        if match and int(match.group(1)) in answers:
            out += ["", answers[int(match.group(1))], ""]
    return "\n".join(out)


# --- format=flowed and MIME ----------------------------------------------------------------


def flow(text: str, *, delsp: bool, width: int = 72) -> str:
    """Encode text as format=flowed the way Thunderbird (DelSp=no) and Apple Mail (DelSp=yes)
    do: long lines cut with a trailing space, quote markers repeated, stuffing added."""
    out: list[str] = []
    for line in text.split("\n"):
        match = re.match(r"^((?:> ?)+)", line)
        depth = match.group(1).count(">") if match else 0
        content = line[match.end():] if match else line
        prefix = ">" * depth + " " if depth else ""
        if content == "-- ":
            out.append(content)
            continue
        if not depth and (content.startswith((" ", ">")) or content.startswith("From ")):
            content = " " + content
        content = content.rstrip(" ") if content.strip() else ""
        room = max(20, width - len(prefix))
        while len(content) > room:
            cut = content.rfind(" ", 0, room)
            if cut <= 0:
                # A long word (a link): cut inside it; only DelSp=yes can say so.
                if not delsp:
                    break
                out.append(prefix + content[:room] + " ")
                content = content[room:]
                continue
            out.append(prefix + content[: cut + 1] + (" " if delsp else ""))
            content = content[cut + 1 :]
        out.append(prefix + content)
    return "\n".join(out)


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def _qp(text: str) -> str:
    return quopri.encodestring(_crlf(text).encode("utf-8")).decode("ascii")


def _head(client: str, n: int, subject_prefix: str = "Re: ") -> str:
    date = format_datetime(WHEN + timedelta(hours=n))
    agent = {"gmail": "", "outlook": "X-Mailer: Microsoft Outlook 16.0\r\n",
             "outlook_web": "X-MS-Exchange-Organization-SCL: -1\r\n",
             "outlook_mobile": "X-Mailer: Outlook for iOS\r\n",
             "apple_mail": "X-Mailer: Apple Mail (2.3774.600.62)\r\n",
             "iphone": "X-Mailer: iPhone Mail (21E236)\r\n",
             "thunderbird": "User-Agent: Mozilla Thunderbird\r\n"}[client]
    return (f"From: {WRITER_NAME} <{WRITER_EMAIL}>\r\nTo: {REPLY_TO}\r\n"
            f"Subject: {subject_prefix}{SUBJECT}\r\nDate: {date}\r\n"
            f"Message-ID: <sim-{client}-{n}-{WHEN.timestamp():.0f}@example.com>\r\n"
            f"In-Reply-To: {QUESTIONNAIRE_ID}\r\nReferences: {QUESTIONNAIRE_ID}\r\n"
            f"{agent}MIME-Version: 1.0\r\n")


def _alternative(head: str, boundary: str, text: str | None, html: str | None,
                 text_type: str = "text/plain; charset=\"UTF-8\"") -> bytes:
    if text is None:
        assert html is not None
        return (head + "Content-Type: text/html; charset=\"UTF-8\"\r\n"
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + _qp(html)).encode()
    if html is None:
        return (head + f"Content-Type: {text_type}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                + _crlf(text)).encode("utf-8")
    return (head + f"Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n"
            f"--{boundary}\r\nContent-Type: {text_type}\r\n"
            f"Content-Transfer-Encoding: quoted-printable\r\n\r\n{_qp(text)}\r\n"
            f"--{boundary}\r\nContent-Type: text/html; charset=\"UTF-8\"\r\n"
            f"Content-Transfer-Encoding: quoted-printable\r\n\r\n{_qp(html)}\r\n"
            f"--{boundary}--\r\n").encode("ascii")


def _divs(text: str) -> str:
    """New text as web clients write it: a <div> a line, <div><br></div> for blank lines."""
    return "".join(f"<div>{_linked(line)}</div>" if line.strip() else "<div><br></div>"
                   for line in text.split("\n"))


def _paragraphs(text: str) -> str:
    """New text as Word writes it: one MsoNormal paragraph a line."""
    return "".join(f"<p class=MsoNormal>{_linked(line) or '<o:p>&nbsp;</o:p>'}</p>"
                   for line in text.split("\n"))


def _linked(line: str) -> str:
    """Escape a line; addresses and links become hyperlinks, as every client does when typed."""
    escaped = html_lib.escape(line, quote=False)

    def link(match: re.Match[str]) -> str:
        target = match.group(1)
        href = target if target.startswith("http") else f"mailto:{target}"
        return f"<a href=\"{href}\">{target}</a>"
    return _AUTOLINK.sub(link, escaped)


def _bold_headings(html: str) -> str:
    """Headings written as **x** are bold in the HTML part."""
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html)


def _signature_html(lines: list[str], client: str) -> str:
    body = "<br>".join(_linked(line) for line in lines)
    return {
        "gmail": f'<div><br></div>-- <br><div dir="ltr" class="gmail_signature" '
                 f'data-smartmail="gmail_signature"><div dir="ltr">{body}</div></div>',
        "outlook": '<p class=MsoNormal><a name="_MailAutoSig">'
                   + "</a></p><p class=MsoNormal>".join(_linked(line) for line in lines)
                   + "</p>",
        "outlook_web": f'<div id="Signature"><div>{body}</div></div>',
        "outlook_mobile": f'<div id="ms-outlook-mobile-signature">{body}</div>',
        "apple_mail": f"<div><br></div><div>{body}</div>",
        "iphone": f'<div id="AppleMailSignature" dir="ltr">{body}</div>',
        "thunderbird": f'<div class="moz-signature">-- <br>{body}</div>',
    }[client]


# --- one reply from each client -----------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """One reply before the client writes it out."""

    new_text: str  # above the quote (top-posted) or the note above inline answers
    sign_off: list[str]
    inline: dict[int, str]  # answers typed into the quoted questionnaire
    html_only: bool = False


def write(client: str, language: str, draft: Draft, n: int, rng: random.Random) -> bytes:
    return {"gmail": _gmail, "outlook": _outlook, "outlook_web": _outlook_web,
            "outlook_mobile": _outlook_mobile, "apple_mail": _apple_mail, "iphone": _iphone,
            "thunderbird": _thunderbird}[client](language, draft, n, rng)


def _text_with_sign_off(draft: Draft) -> str:
    parts = [p for p in (draft.new_text, "\n".join(draft.sign_off)) if p.strip()]
    return "\n\n".join(parts)


def _gmail(language: str, draft: Draft, n: int, rng: random.Random) -> bytes:
    q = questionnaire()
    sign_lines = draft.sign_off
    plain_new = _text_with_sign_off(draft)
    quoted = (inline_text(q.text, draft.inline) if draft.inline else quote_lines(q.text))
    plain = f"{plain_new}\n\n{attribution('gmail', language, wrapped=True)}\n\n{quoted}\n"
    # The HTML: the signature in its own container, the quote in gmail_quote.
    closing, signature = _split_signature(sign_lines)
    new_html = _bold_headings(_divs(_join(draft.new_text, closing)))
    if signature:
        new_html += _signature_html([s for s in signature if s != "-- "], "gmail")
    attr = html_lib.escape(attribution("gmail", language, wrapped=False))
    quote_html = _split_blockquote(q.html, draft.inline, 'class="gmail_quote" style="margin:0px '
                                   '0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);'
                                   'padding-left:1ex"')
    rich = (f'<div dir="ltr">{new_html}</div><br><div class="gmail_quote"><div dir="ltr" '
            f'class="gmail_attr">{attr}<br></div>{quote_html}</div>')
    head = _head("gmail", n)
    return _alternative(head, f"000000000000gm{n}", None if draft.html_only else plain, rich)


def _split_signature(lines: list[str]) -> tuple[list[str], list[str]]:
    """(closing lines, signature block): the block starts after the first blank line."""
    if "" in lines:
        cut = lines.index("")
        return lines[:cut], lines[cut + 1 :]
    if lines and (lines[0] == "-- " or lines[0] not in sum(CLOSINGS.values(), ())):
        return [], lines
    return lines, []


def _join(*parts: object) -> str:
    texts = ["\n".join(p) if isinstance(p, list) else str(p) for p in parts]
    return "\n\n".join(t for t in texts if t.strip())


_SECTION_H2 = re.compile(r"(<h2[^>]*>)(\d+)\. ")


def _split_blockquote(original_html: str, inline: dict[int, str], attrs: str) -> str:
    """The original in a blockquote; inline answers break it where they were typed, as Gmail,
    Apple Mail and Thunderbird do when someone types into the quote."""
    body = re.search(r"<body[^>]*>(.*)</body>", original_html, re.DOTALL)
    inner = body.group(1) if body else original_html
    if not inline:
        return f"<blockquote {attrs}>{inner}</blockquote>"
    pieces = re.split(r"(?=<h2)", inner)
    out = []
    for piece in pieces:
        out.append(f"<blockquote {attrs}>{piece}</blockquote>")
        match = re.match(r"<h2[^>]*>(\d+)\. ", piece)
        if match and int(match.group(1)) in inline:
            # typed after the heading's block: split the piece after its first closing tag
            head_end = piece.find("</h2>") + len("</h2>")
            out[-1] = f"<blockquote {attrs}>{piece[:head_end]}</blockquote>"
            out.append(f"<div>{_divs(inline[int(match.group(1))])}</div>")
            out.append(f"<blockquote {attrs}>{piece[head_end:]}</blockquote>")
    return "".join(out)


def _outlook_original_html(inline: dict[int, str]) -> str:
    """Outlook keeps the original unquoted; inline answers are paragraphs after the heading."""
    q = questionnaire()
    body = re.search(r"<body[^>]*>(.*)</body>", q.html, re.DOTALL)
    inner = body.group(1) if body else q.html
    for number, answer in inline.items():
        inner = re.sub(rf"(<h2[^>]*>{number}\. [^<]*</h2>)",
                       lambda m, a=answer: m.group(1) + "<p class=MsoNormal><span "
                       "style='color:#C00000'>" + _paragraphs(a) + "</span></p>", inner,
                       count=1)
    return inner


def _outlook_original_text(inline: dict[int, str]) -> str:
    """The original as Outlook's text part shows its HTML: unquoted, headings and emphasis
    plain, list items as "  *   ", links rendered `x<x>`."""
    out: list[str] = []
    for line in questionnaire().text.split("\n"):
        shown = re.sub(r"^#{1,6} ", "", line).replace("**", "").replace("`", "")
        shown = re.sub(r"^_(.*)_$", r"\1", re.sub(r"^- ", "  *   ", shown))
        out.append(outlook_plain(shown))
        match = re.match(r"^## (\d+)\. ", line)
        if match and int(match.group(1)) in inline:
            out += ["", outlook_plain(inline[int(match.group(1))]), ""]
    return "\n".join(out)


def _outlook(language: str, draft: Draft, n: int, rng: random.Random) -> bytes:
    closing, signature = _split_signature(draft.sign_off)
    header = outlook_header(language, web=False)
    plain = (f"{outlook_plain(_text_with_sign_off(draft))}\n\n{header}\n\n"
             f"{_outlook_original_text(draft.inline)}\n")
    labels = HEADER_LABELS[language]
    header_html = "<br>".join(f"<b>{html_lib.escape(label)}:</b> {html_lib.escape(value)}"
                              for label, value in zip(labels, [
                                  line.split(": ", 1)[1] for line in header.split("\n")],
                                  strict=True))
    rich = ("<html xmlns:o=\"urn:schemas-microsoft-com:office:office\"><head><style><!--\n"
            "p.MsoNormal {margin:0cm; font-size:11.0pt; font-family:\"Calibri\",sans-serif;}\n"
            "--></style></head><body lang=EN-US link=\"#0563C1\"><div class=WordSection1>"
            + _bold_headings(_paragraphs(_join(draft.new_text, closing)))
            + (_signature_html([s for s in signature if s != "-- "], "outlook")
               if signature else "")
            + "<p class=MsoNormal><o:p>&nbsp;</o:p></p><div style='border:none;border-top:solid "
            "#E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm'><p class=MsoNormal>" + header_html
            + "<o:p></o:p></p></div><p class=MsoNormal><o:p>&nbsp;</o:p></p>"
            + _outlook_original_html(draft.inline) + "</div></body></html>")
    return _alternative(_head("outlook", n, "RE: "), f"_000_DM6PR{n}_",
                        None if draft.html_only else plain, rich)


def _outlook_web(language: str, draft: Draft, n: int, rng: random.Random) -> bytes:
    closing, signature = _split_signature(draft.sign_off)
    header = outlook_header(language, web=True)
    plain = (f"{outlook_plain(_text_with_sign_off(draft))}\n\n"
             f"________________________________\n{header}\n\n"
             f"{_outlook_original_text(draft.inline)}\n")
    labels = HEADER_LABELS[language]
    values = [line.split(": ", 1)[1] for line in header.split("\n")]
    header_html = "<br>".join(f"<b>{html_lib.escape(a)}:</b> {html_lib.escape(b)}"
                              for a, b in zip(labels, values, strict=True))
    rich = ("<html><head></head><body dir=\"ltr\"><div style=\"font-family: Aptos, sans-serif;\">"
            + _bold_headings(_divs(_join(draft.new_text, closing))) + "</div>"
            + (_signature_html([s for s in signature if s != "-- "], "outlook_web")
               if signature else "")
            + "<hr style=\"display:inline-block;width:98%\" tabindex=\"-1\">"
            f"<div id=\"divRplyFwdMsg\" dir=\"ltr\"><font style=\"font-size:11pt\">"
            f"{header_html}</font><div>&nbsp;</div>"
            "</div>" + _outlook_original_html(draft.inline) + "</body></html>")
    return _alternative(_head("outlook_web", n, "RE: "), f"_000_AM0PR{n}_",
                        None if draft.html_only else plain, rich)


def _outlook_mobile(language: str, draft: Draft, n: int, rng: random.Random) -> bytes:
    closing, signature = _split_signature(draft.sign_off)
    footer = f"{GET_OUTLOOK[language]}<https://aka.ms/o0ukef>"
    header = outlook_header(language, web=True)
    plain = (f"{outlook_plain(_text_with_sign_off(draft))}\n\n{footer}\n"
             f"________________________________\n{header}\n\n"
             f"{_outlook_original_text(draft.inline)}\n")
    sig = [s for s in signature if s != "-- "]
    rich = ("<html><head></head><body><div dir=\"auto\">"
            + _bold_headings(_divs(_join(draft.new_text, closing))) + "</div>"
            + _signature_html([*sig, "", GET_OUTLOOK[language]] if sig
                              else [GET_OUTLOOK[language]], "outlook_mobile")
            + "<hr style=\"display:inline-block;width:98%\"><div id=\"divRplyFwdMsg\" dir=\"ltr\">"
            + "<br>".join(html_lib.escape(line) for line in header.split("\n"))
            + "</div>" + _outlook_original_html(draft.inline) + "</body></html>")
    return _alternative(_head("outlook_mobile", n, "RE: "), f"_000_mob{n}_",
                        None if draft.html_only else plain, rich)


def _apple_mail(language: str, draft: Draft, n: int, rng: random.Random) -> bytes:
    q = questionnaire()
    closing, signature = _split_signature(draft.sign_off)
    attr = attribution("apple_mail", language, wrapped=False)
    quoted = inline_text(q.text, draft.inline) if draft.inline else quote_lines(q.text)
    plain = f"{_text_with_sign_off(draft)}\n\n{attr}\n\n{quoted}\n"
    rich = ("<html><head><meta http-equiv=\"content-type\" content=\"text/html; charset=utf-8\">"
            "</head><body style=\"overflow-wrap: break-word; -webkit-nbsp-mode: space; "
            "line-break: after-white-space;\">"
            + _bold_headings(_divs(_join(draft.new_text, closing)))
            + (_signature_html([s for s in signature if s != "-- "], "apple_mail")
               if signature else "")
            + f"<div><br><div>{html_lib.escape(attr)}</div><br class=\"Apple-interchange-"
            "newline\">" + _split_blockquote(q.html, draft.inline, 'type="cite"')
            + "</div></body></html>")
    head = _head("apple_mail", n)
    if draft.html_only:
        return _alternative(head, "", None, rich)
    boundary = f"Apple-Mail=_{n:08X}-SIM"
    flowed = flow(plain, delsp=True)
    return (head + f"Content-Type: multipart/alternative;\r\n\tboundary=\"{boundary}\"\r\n\r\n"
            f"\r\n--{boundary}\r\nContent-Transfer-Encoding: quoted-printable\r\n"
            "Content-Type: text/plain;\r\n\tcharset=utf-8;\r\n\tdelsp=yes;\r\n\tformat=flowed"
            f"\r\n\r\n{_qp(flowed)}\r\n--{boundary}\r\nContent-Transfer-Encoding: "
            "quoted-printable\r\nContent-Type: text/html;\r\n\tcharset=utf-8\r\n\r\n"
            f"{_qp(rich)}\r\n--{boundary}--\r\n").encode("ascii")


def _iphone(language: str, draft: Draft, n: int, rng: random.Random) -> bytes:
    q = questionnaire()
    attr = attribution("iphone", language, wrapped=False)
    sent = SENT_FROM_IPHONE[language]
    quoted = inline_text(q.text, draft.inline) if draft.inline else quote_lines(q.text)
    # iOS puts the attribution inside the quote, with an empty quoted line below it.
    plain = f"{_text_with_sign_off(draft)}\n\n{sent}\n\n> {attr}\n>\n{quoted}\n"
    closing, signature = _split_signature(draft.sign_off)
    rich = ("<html><head></head><body dir=\"auto\">"
            + _bold_headings(_divs(_join(draft.new_text, closing)))
            + _signature_html([*[s for s in signature if s != "-- "], "", sent] if signature
                              else [sent], "iphone")
            + f"<div dir=\"ltr\"><br><blockquote type=\"cite\">{html_lib.escape(attr)}<br><br>"
            "</blockquote></div>" + _split_blockquote(q.html, draft.inline, 'type="cite"')
            + "</body></html>")
    head = _head("iphone", n)
    if draft.html_only:
        return _alternative(head, "", None, rich)
    return _alternative(head, f"Apple-Mail-{n:04X}", plain, rich,
                        text_type="text/plain; charset=utf-8")


def _thunderbird(language: str, draft: Draft, n: int, rng: random.Random) -> bytes:
    q = questionnaire()
    attr = attribution("thunderbird", language, wrapped=False)
    if draft.inline:
        body = (f"{draft.new_text}\n\n{attr}\n{inline_text(q.text, draft.inline)}\n\n"
                + "\n".join(draft.sign_off))
    else:
        body = f"{_text_with_sign_off(draft)}\n\n{attr}\n{quote_lines(q.text)}\n"
    head = _head("thunderbird", n)
    if draft.html_only:
        closing, signature = _split_signature(draft.sign_off)
        rich = ("<html><head><meta http-equiv=\"content-type\" content=\"text/html; "
                "charset=UTF-8\"></head><body><p>"
                + _bold_headings(_divs(_join(draft.new_text, closing))) + "</p>"
                + (_signature_html([s for s in signature if s != "-- "], "thunderbird")
                   if signature else "")
                + f"<div class=\"moz-cite-prefix\">{html_lib.escape(attr)}<br></div>"
                + _split_blockquote(q.html, draft.inline, 'type="cite"') + "</body></html>")
        return _alternative(head, "", None, rich)
    return (head + "Content-Type: text/plain; charset=UTF-8; format=flowed\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
            + _crlf(flow(body, delsp=False))).encode("utf-8")


# --- the whole case -----------------------------------------------------------------------


def simulate(seed: int) -> Case:
    """One seeded combination of client, language, layout, heading style and answers."""
    rng = random.Random(seed)
    client = CLIENTS[seed % len(CLIENTS)]
    language = LANGUAGES[(seed // len(CLIENTS)) % len(LANGUAGES)]
    layout = rng.choice(LAYOUTS)
    writer = draw_writer(rng, language, client)
    answers, contacts, issues = draw_answers(rng, language)
    case = Case(seed=seed, client=client, language=language, layout=layout,
                heading_style=writer.heading_style)
    if writer.signature is not None:
        case.signature_lines = (*writer.signature.lines, writer.signature.disclaimer)
    numbers = list(answers)
    if layout in ("top", "html_only"):
        _one_reply(case, writer, answers, rng, html_only=layout == "html_only")
    elif layout == "inline":
        _one_reply(case, writer, {}, rng, inline=answers)
    elif layout == "mixed":
        cut = max(1, len(numbers) // 2)
        top = {n: answers[n] for n in numbers[:cut]}
        rest = {n: answers[n] for n in numbers[cut:]}
        _one_reply(case, writer, top, rng, inline=rest)
    elif layout == "split":
        cut = max(1, len(numbers) // 2)
        _one_reply(case, writer, {n: answers[n] for n in numbers[:cut]}, rng)
        _one_reply(case, writer, {n: answers[n] for n in numbers[cut:]}, rng)
    else:  # correction
        _one_reply(case, writer, answers, rng)
        _correction(case, writer, answers, contacts, issues, rng)
        return case
    case.expected = dict(answers)
    case.contacts = contacts
    case.issues = issues
    return case


def _one_reply(case: Case, writer: Writer, top: dict[int, str], rng: random.Random, *,
               inline: dict[int, str] | None = None, html_only: bool = False) -> None:
    inline = inline or {}
    new = top_text(top, writer, rng) if top else INLINE_NOTES[writer.language]
    draft = Draft(new_text=new, sign_off=sign_off_lines(writer, rng), inline=inline,
                  html_only=html_only)
    raw = write(case.client, case.language, draft, len(case.replies) + 1, rng)
    case.replies.append(Reply(raw, {**top, **inline}))


def _correction(case: Case, writer: Writer, answers: dict[int, str], contacts: list[Contact],
                issues: list[IssueItem], rng: random.Random) -> None:
    """A second reply corrects one contact's address and title, adds a person, and replaces
    the red-flags answer; everything else stays as first written."""
    changed = contacts[0]
    corrected = replace(changed, email=changed.email.replace("@acme.com", "@acme-group.com"),
                        title="Chief Operating Officer")
    role_word = next(word for word, role in ROLES if role is corrected.role)
    used = {c.name.split(" ")[0] for c in contacts}
    name, email = _person(rng, used)
    added = Contact(name=name, title="Data Analyst", email=email, role=ContactRole.USER,
                    notes="joined in November")
    lines = [_contact_line(corrected, role_word), _contact_line(added, "user")]
    new_issues_text, new_issues = _issues(rng, case.language)
    correction = {1: "\n".join(lines), 4: new_issues_text}
    style = rng.choice(("qualified", writer.heading_style))
    new = top_text(correction, replace(writer, heading_style=style, lead_in=None), rng)
    draft = Draft(new_text=new, sign_off=sign_off_lines(writer, rng), inline={})
    raw = write(case.client, case.language, draft, len(case.replies) + 1, rng)
    case.replies.append(Reply(raw, correction))
    case.expected = {**answers, **correction}
    case.contacts = [corrected, *contacts[1:], added]
    case.issues = new_issues
