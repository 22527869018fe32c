"""Signing in with XOAUTH2, the way into Microsoft 365 and the recommended way into Gmail.

The operator names a command (MAILER_OAUTH2_TOKEN_COMMAND) that prints a current access token,
typically by trading a stored refresh token for a fresh one. The token is never logged. When a
server refuses a token (it expired between printing and use, or the command handed out a cached
one), the command is run again and the sign-in tried once more; a second refusal is an error
that names the command, so the operator knows where to look.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shlex
import subprocess
from collections.abc import Awaitable, Callable
from typing import TypeVar

from mailer.errors import MailerError

log = logging.getLogger(__name__)
T = TypeVar("T")
VARIABLE = "MAILER_OAUTH2_TOKEN_COMMAND"


class OAuth2Error(MailerError):
    pass


def command_name(command: str) -> str:
    """The program the command runs, without its arguments (they may hold a client secret)."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    if not words:
        return f"{VARIABLE} (empty)"
    shown = [os.path.basename(words[0])]
    # `python3 /opt/mailer/token.py --secret ...`: the script says more than the interpreter.
    if _INTERPRETER.match(shown[0]) and len(words) > 1 and not words[1].startswith("-"):
        shown.append(os.path.basename(words[1]))
    return f"{VARIABLE} ({' '.join(shown)})"


_INTERPRETER = re.compile(r"^(python[\d.]*|sh|bash|dash|zsh|node|ruby|perl|php|uv|uvx)$")


def fetch_access_token(command: str, *, timeout: float = 30) -> str:
    """Run the token command and return the token it prints (its last line of output)."""
    name = command_name(command)
    try:
        done = subprocess.run(shlex.split(command), capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise OAuth2Error(f"{name} did not finish within {timeout:g} seconds") from exc
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise OAuth2Error(f"{name} could not be run: {reason}") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        detail = f": {said[-1][:200]}" if said else ""
        raise OAuth2Error(f"{name} failed with exit status {done.returncode}{detail}")
    if not lines or not lines[-1].strip():
        raise OAuth2Error(f"{name} printed nothing; it must print an access token")
    return lines[-1].strip()


def sign_in_with_token(command: str, sign_in: Callable[[str], T], *,
                       refused: tuple[type[BaseException], ...], server: str, user: str) -> T:
    """`sign_in(token)`, with one more token from the command when the first is refused."""
    try:
        return sign_in(fetch_access_token(command))
    except refused as first:
        log.info("%s refused the access token (%s); running %s again", server,
                 _reason(first), command_name(command))
    try:
        return sign_in(fetch_access_token(command))
    except refused as second:
        raise OAuth2Error(_refused_twice(command, server, user, second)) from second


async def sign_in_with_token_async(command: str, sign_in: Callable[[str], Awaitable[T]], *,
                                   refused: tuple[type[BaseException], ...], server: str,
                                   user: str) -> T:
    """The same for an asyncio client; the command runs in a thread."""
    try:
        return await sign_in(await asyncio.to_thread(fetch_access_token, command))
    except refused as first:
        log.info("%s refused the access token (%s); running %s again", server,
                 _reason(first), command_name(command))
    try:
        return await sign_in(await asyncio.to_thread(fetch_access_token, command))
    except refused as second:
        raise OAuth2Error(_refused_twice(command, server, user, second)) from second


def _reason(exc: BaseException) -> str:
    code, message = getattr(exc, "code", None), getattr(exc, "message", None)
    if code is not None and message:  # an SMTP reply
        return f"{code} {message}"
    return " ".join(str(exc).split()) or exc.__class__.__name__


def _refused_twice(command: str, server: str, user: str, exc: BaseException) -> str:
    return (f"{server} refused the access token from {command_name(command)} for {user}, also "
            f"after running it again ({_reason(exc)}); check that it prints a current token "
            "for that mailbox with the mail scope (Gmail: https://mail.google.com/; Microsoft "
            "365: IMAP.AccessAsUser.All and SMTP.Send)")
