#!/usr/bin/env python3
"""Print a fresh OAuth2 access token for the assistant's mailbox: MAILER_OAUTH2_TOKEN_COMMAND.

It trades the stored refresh token for an access token at the provider's token endpoint, each
time it runs (the assistant runs it when it signs in, and once more if a token is refused), and
keeps the new refresh token when the provider hands one out (Microsoft rotates them).
Python's standard library only. Set in the service's environment file:

  OAUTH2_PROVIDER            google or microsoft (sets the token endpoint and scopes)
  OAUTH2_TENANT              Microsoft only: the directory (tenant) id or domain
  OAUTH2_CLIENT_ID           the app registration's client id
  OAUTH2_CLIENT_SECRET       its client secret (leave empty for a public client)
  OAUTH2_REFRESH_TOKEN_FILE  a file holding the refresh token (kept up to date by this script)
  OAUTH2_TOKEN_URL           instead of OAUTH2_PROVIDER: any other token endpoint
  OAUTH2_SCOPE               to override the provider's scopes

See README.md, "Gmail and Microsoft 365 with OAuth2", for how to get the first refresh token.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

MICROSOFT_SCOPE = ("https://outlook.office.com/IMAP.AccessAsUser.All "
                   "https://outlook.office.com/SMTP.Send offline_access")


def token_endpoint(env: dict[str, str]) -> tuple[str, str]:
    """(token URL, scope) for the configured provider."""
    provider = env.get("OAUTH2_PROVIDER", "").strip().lower()
    if env.get("OAUTH2_TOKEN_URL"):
        return env["OAUTH2_TOKEN_URL"], env.get("OAUTH2_SCOPE", "")
    if provider == "google":
        return "https://oauth2.googleapis.com/token", env.get("OAUTH2_SCOPE", "")
    if provider == "microsoft":
        tenant = env.get("OAUTH2_TENANT") or "organizations"
        return (f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
                env.get("OAUTH2_SCOPE") or MICROSOFT_SCOPE)
    raise SystemExit("oauth2_token: set OAUTH2_PROVIDER to google or microsoft "
                     "(or OAUTH2_TOKEN_URL)")


def main() -> int:
    env = dict(os.environ)
    url, scope = token_endpoint(env)
    store = Path(env.get("OAUTH2_REFRESH_TOKEN_FILE") or "")
    if not env.get("OAUTH2_REFRESH_TOKEN_FILE") or not store.is_file():
        raise SystemExit("oauth2_token: OAUTH2_REFRESH_TOKEN_FILE must name the file that "
                         "holds the refresh token")
    form = {"grant_type": "refresh_token", "refresh_token": store.read_text().strip(),
            "client_id": env.get("OAUTH2_CLIENT_ID", "")}
    if env.get("OAUTH2_CLIENT_SECRET"):
        form["client_secret"] = env["OAUTH2_CLIENT_SECRET"]
    if scope:
        form["scope"] = scope
    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(),
                                     headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 - https
            answer = json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            said = json.load(exc)
        except ValueError:
            said = {}
        error = said.get("error", f"HTTP {exc.code}")
        detail = said.get("error_description", "").splitlines()[:1]
        raise SystemExit(f"oauth2_token: the token endpoint refused: {error}"
                         + (f": {detail[0]}" if detail else "")) from exc
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        raise SystemExit(f"oauth2_token: the token endpoint could not be reached: {exc}") from exc
    if answer.get("refresh_token"):  # a rotated refresh token replaces the old one
        fresh = store.with_name(store.name + ".new")
        fresh.write_text(answer["refresh_token"] + "\n")
        fresh.chmod(0o600)
        fresh.replace(store)
    token = answer.get("access_token")
    if not token:
        raise SystemExit("oauth2_token: the token endpoint answered without an access token")
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
