"""Environment variables (and a `.env` file) into one frozen Settings value."""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dotenv import dotenv_values

from mailer.errors import ConfigError, ConfigErrors

T = TypeVar("T")

# The configuration shipped inside the package: used when neither a MAILER_* path nor a file of
# the same name in the working directory says otherwise, so a plain install runs from any folder.
SHIPPED_DEFAULTS = Path(__file__).resolve().parents[1] / "defaults"


@dataclass(frozen=True)
class ServerURL:
    """A parsed `imap://`, `imaps://`, `smtp://` or `smtps://` URL."""

    scheme: str
    host: str
    port: int
    username: str
    path: str  # IMAP mailbox, e.g. "INBOX"
    implicit_tls: bool
    starttls: str  # "auto" (when offered), "off"

    def redacted(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"{self.scheme}://{user}{self.host}:{self.port}/{self.path}".rstrip("/")


_DEFAULT_PORTS = {"imap": 143, "imaps": 993, "smtp": 587, "smtps": 465}
# Microsoft 365 takes at most 3 SMTP connections at once from one mailbox, Gmail about 10.
MAX_SMTP_CONNECTIONS = 10


def parse_server_url(value: str, *, variable: str) -> ServerURL:
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ConfigError(variable, None, f"unknown scheme '{parts.scheme}'",
                          "use imap://, imaps://, smtp:// or smtps://")
    if not parts.hostname:
        raise ConfigError(variable, None, "has no host name", f"e.g. {scheme}://user@host:port")
    if parts.password:
        raise ConfigError(variable, None, "contains a password",
                          "put secrets in MAILER_IMAP_PASSWORD / MAILER_SMTP_PASSWORD instead")
    query = {k.lower(): v[-1].lower() for k, v in parse_qs(parts.query).items()}
    return ServerURL(
        scheme=scheme,
        host=parts.hostname,
        port=parts.port or _DEFAULT_PORTS[scheme],
        username=unquote(parts.username or ""),
        path=unquote(parts.path.lstrip("/")) or ("INBOX" if scheme.startswith("imap") else ""),
        implicit_tls=scheme.endswith("s"),
        starttls="off" if query.get("tls") in {"off", "no", "false", "0"} else "auto",
    )


@dataclass(frozen=True)
class Settings:
    address: str
    data_dir: Path
    outbox_dir: Path
    rules_path: Path
    playbooks_dir: Path
    templates_dir: Path
    timezone: ZoneInfo
    imap: ServerURL | None
    smtp: ServerURL | None
    imap_password: str | None
    smtp_password: str | None
    oauth2_token_command: str | None
    holidays: frozenset[date] = frozenset()
    business_hours: tuple[time, time] = (time(9), time(17))
    watchdog_minutes: int = 15
    smtp_connections: int = 3  # mail with no recipient in common goes out this many at once
    # The leads' weekly digest: who gets it, and on which weekday (0 = Monday) at what time.
    digest_recipients: tuple[str, ...] = ()
    digest_day: int = 0
    digest_time: time = time(8)
    company: str = ""  # the team's company as customers know it; "" means from the address

    @property
    def company_name(self) -> str:
        """'Example' for transitions@example.com, unless MAILER_COMPANY names it."""
        if self.company:
            return self.company
        labels = self.address_domain.split(".")
        core = labels[-2] if len(labels) >= 2 else labels[0]
        return core[:1].upper() + core[1:]

    @property
    def database_path(self) -> Path:
        return self.data_dir / "mailer.sqlite3"

    @property
    def maildir_path(self) -> Path:
        return self.data_dir / "maildir"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def workbooks_dir(self) -> Path:
        return self.data_dir / "workbooks"

    @property
    def address_local(self) -> str:
        return self.address.split("@", 1)[0]

    @property
    def address_domain(self) -> str:
        return self.address.split("@", 1)[1]


def load_settings(environ: Mapping[str, str] | None = None, *, cwd: Path | None = None) -> Settings:
    """Read settings from the environment, with a `.env` in the working directory underneath."""
    here = cwd or Path.cwd()
    values: dict[str, str] = {}
    dotenv = here / ".env"
    if dotenv.is_file():
        values.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    values.update(os.environ if environ is None else environ)

    def path(name: str, default: str) -> Path:
        raw = Path(values.get(name) or default).expanduser()
        return raw if raw.is_absolute() else here / raw

    rules_path, playbooks_dir, templates_dir = configuration_paths(values, here)
    # Every wrong variable is reported at once, not one per attempt.
    problems: list[ConfigError] = []

    def read(parse: Callable[[], T], fallback: T) -> T:
        try:
            return parse()
        except ConfigError as exc:
            problems.append(exc)
            return fallback

    imap_url = values.get("MAILER_IMAP_URL")
    smtp_url = values.get("MAILER_SMTP_URL")
    settings = Settings(
        address=read(lambda: _address(values.get("MAILER_ADDRESS", "")),
                     "transitions@localhost"),
        data_dir=path("MAILER_DATA_DIR", "var"),
        outbox_dir=path("MAILER_OUTBOX", "outbox"),
        rules_path=rules_path,
        playbooks_dir=playbooks_dir,
        templates_dir=templates_dir,
        timezone=read(lambda: _timezone(values.get("MAILER_TIMEZONE", "")), ZoneInfo("UTC")),
        imap=read(lambda: parse_server_url(imap_url, variable="MAILER_IMAP_URL")
                  if imap_url else None, None),
        smtp=read(lambda: parse_server_url(smtp_url, variable="MAILER_SMTP_URL")
                  if smtp_url else None, None),
        imap_password=values.get("MAILER_IMAP_PASSWORD"),
        smtp_password=values.get("MAILER_SMTP_PASSWORD"),
        oauth2_token_command=values.get("MAILER_OAUTH2_TOKEN_COMMAND") or None,
        holidays=read(lambda: _holidays(values.get("MAILER_HOLIDAYS", "")), frozenset()),
        business_hours=read(lambda: _business_hours(values.get("MAILER_BUSINESS_HOURS", "")),
                            (time(9), time(17))),
        watchdog_minutes=read(lambda: _whole_number(
            "MAILER_WATCHDOG_MINUTES", values.get("MAILER_WATCHDOG_MINUTES", "15")), 15),
        smtp_connections=read(lambda: _connections(values.get("MAILER_SMTP_CONNECTIONS", "")),
                              3),
        digest_recipients=read(lambda: _digest_recipients(
            values.get("MAILER_DIGEST_RECIPIENTS", "")), ()),
        digest_day=read(lambda: _digest_day(values.get("MAILER_DIGEST_DAY", "")), 0),
        digest_time=read(lambda: _digest_time(values.get("MAILER_DIGEST_TIME", "")), time(8)),
        company=" ".join(values.get("MAILER_COMPANY", "").split()),
    )
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ConfigErrors(problems)
    return settings


def _address(text: str) -> str:
    address = (text or "transitions@localhost").strip().lower()
    if address.count("@") != 1 or "+" in address.split("@")[0]:
        raise ConfigError("MAILER_ADDRESS", None, f"'{address}' is not a plain address",
                          "use e.g. transitions@example.com (no +tag)")
    return address


def _timezone(text: str) -> ZoneInfo:
    name = text.strip() or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        close = difflib.get_close_matches(name, sorted(available_timezones()), n=1,
                                          cutoff=0.6)
        fix = (f"did you mean {close[0]}?" if close
               else "use an IANA name such as Europe/Berlin or America/New_York")
        raise ConfigError("MAILER_TIMEZONE", None, f"unknown time zone '{name}'", fix) from exc


_CONFIGURATION = (("MAILER_RULES", "inbox_rules.yaml"), ("MAILER_PLAYBOOKS", "playbooks"),
                  ("MAILER_TEMPLATES", "templates"))


def configuration_paths(values: Mapping[str, str], here: Path) -> tuple[Path, Path, Path]:
    """The rules file, playbooks folder and templates folder in use, each chosen on its own:
    the MAILER_* variable when set, else the working directory's, else the shipped one."""
    chosen: list[Path] = []
    for variable, name in _CONFIGURATION:
        if values.get(variable):
            raw = Path(values[variable]).expanduser()
            chosen.append(raw if raw.is_absolute() else here / raw)
        elif (here / name).exists():
            chosen.append(here / name)
        else:
            chosen.append(SHIPPED_DEFAULTS / name)
    rules, playbooks, templates = chosen
    return rules, playbooks, templates


def _whole_number(variable: str, text: str) -> int:
    try:
        value = int(text.strip() or "0")
    except ValueError as exc:
        raise ConfigError(variable, None, f"'{text}' is not a whole number",
                          "write a number of minutes, or 0 to turn it off") from exc
    if value < 0:
        raise ConfigError(variable, None, "cannot be negative", "write 0 to turn it off")
    return value


def _connections(text: str) -> int:
    if not text.strip():
        return 3
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_SMTP_CONNECTIONS:
        raise ConfigError("MAILER_SMTP_CONNECTIONS", None, f"'{text}' is not a number from 1 to "
                          f"{MAX_SMTP_CONNECTIONS}", "write how many SMTP connections the "
                          "server allows at once (1 sends one mail at a time; 3 by default)")
    return int(text)


def _holidays(text: str) -> frozenset[date]:
    days: set[date] = set()
    for item in (part.strip() for part in text.replace(";", ",").split(",")):
        if not item:
            continue
        try:
            days.add(date.fromisoformat(item))
        except ValueError as exc:
            raise ConfigError("MAILER_HOLIDAYS", None, f"'{item}' is not a date",
                              "list dates as YYYY-MM-DD, separated by commas") from exc
    return frozenset(days)


def _business_hours(text: str) -> tuple[time, time]:
    if not text.strip():
        return (time(9), time(17))
    try:
        start, end = (time.fromisoformat(part.strip()) for part in text.split("-", 1))
    except ValueError as exc:
        raise ConfigError("MAILER_BUSINESS_HOURS", None, f"'{text}' is not a range of hours",
                          "write it as 09:00-17:00") from exc
    if start >= end:
        raise ConfigError("MAILER_BUSINESS_HOURS", None, "the day ends before it starts",
                          "write it as 09:00-17:00")
    return (start, end)


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _digest_recipients(text: str) -> tuple[str, ...]:
    addresses = [part.strip().lower() for part in text.replace(";", ",").split(",")]
    for address in addresses:
        if address and (address.count("@") != 1 or " " in address):
            raise ConfigError("MAILER_DIGEST_RECIPIENTS", None, f"'{address}' is not an address",
                              "list plain addresses separated by commas, e.g. "
                              "lead@example.com,ops@example.com")
    return tuple(dict.fromkeys(a for a in addresses if a))


def _digest_day(text: str) -> int:
    wanted = text.strip().lower()
    if not wanted:
        return 0
    for number, name in enumerate(_WEEKDAYS):
        if len(wanted) >= 3 and name.startswith(wanted):
            return number
    raise ConfigError("MAILER_DIGEST_DAY", None, f"'{text}' is not a day of the week",
                      "write a weekday such as monday (the default) or tue")


def _digest_time(text: str) -> time:
    if not text.strip():
        return time(8)
    try:
        return time.fromisoformat(text.strip())
    except ValueError as exc:
        raise ConfigError("MAILER_DIGEST_TIME", None, f"'{text}' is not a time of day",
                          "write it as 08:00 (the team's time zone)") from exc
