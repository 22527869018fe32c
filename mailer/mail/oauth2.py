"""XOAUTH2 access tokens from an operator-supplied command (Gmail, Microsoft 365)."""

from __future__ import annotations

import shlex
import subprocess

from mailer.errors import MailerError


class OAuth2Error(MailerError):
    pass


def fetch_access_token(command: str, *, timeout: float = 30) -> str:
    """Run MAILER_OAUTH2_TOKEN_COMMAND and return the token it prints (never logged)."""
    try:
        done = subprocess.run(shlex.split(command), capture_output=True, text=True,
                              timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OAuth2Error(f"MAILER_OAUTH2_TOKEN_COMMAND could not run: {exc}") from exc
    token = done.stdout.strip()
    if done.returncode != 0 or not token:
        raise OAuth2Error("MAILER_OAUTH2_TOKEN_COMMAND failed "
                          f"(exit {done.returncode}); it must print an access token")
    return token
