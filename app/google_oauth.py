"""Google's OAuth 2.0 authorization-code flow with PKCE, as a web server app does it.

`gmail.readonly` with offline access and `prompt=consent`, so Google issues a refresh
token even to a user who connected before. Endpoints come from settings, so the same
code talks to Google or to the sandbox.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httplib2

from app.config import Settings
from app.google_http import google_http

TransportError = httplib2.HttpLib2Error  # what a failed call to Google raises besides OSError
GMAIL_READONLY = "https://www.googleapis.com/auth/gmail.readonly"


class OAuthFailure(Exception):
    """Google refused: the message is Google's error code and description, never a token."""


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(64)
        digest = hashlib.sha256(verifier.encode()).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).decode().rstrip("="))


def authorization_url(settings: Settings, redirect_uri: str, state: str, pkce: Pkce) -> str:
    query = {
        "client_id": settings.require("google_client_id"),
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": GMAIL_READONLY,
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "state": state,
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
    }
    return f"{settings.google_auth_uri}?{urlencode(query)}"


def _post_form(settings: Settings, uri: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    http = google_http(settings)
    response, content = http.request(
        uri, "POST", body=urlencode(form), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    try:
        body = json.loads(content or b"{}")
    except json.JSONDecodeError:
        body = {}
    return int(response.status), body if isinstance(body, dict) else {}


def exchange_code(settings: Settings, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
    status, body = _post_form(
        settings,
        settings.google_token_uri,
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": redirect_uri,
            "client_id": settings.require("google_client_id"),
            "client_secret": settings.require("google_client_secret"),
        },
    )
    if status != 200 or "access_token" not in body:
        raise OAuthFailure(f"{body.get('error', status)}: {body.get('error_description', 'no description')}")
    return body


def revoke(settings: Settings, token: str) -> bool:
    """Revoke at Google; False when Google says the token was already invalid."""
    status, _ = _post_form(settings, settings.google_revoke_uri, {"token": token})
    return status == 200


def gmail_address(settings: Settings, access_token: str) -> str:
    """The mailbox the token opens: Gmail's own profile, so no identity scope is needed."""
    http = google_http(settings)
    response, content = http.request(
        settings.gmail_api_endpoint + "gmail/v1/users/me/profile",
        headers={"Authorization": f"Bearer {access_token}"},
    )
    if response.status != 200:
        raise OAuthFailure(f"Gmail profile answered HTTP {response.status}")
    return str(json.loads(content)["emailAddress"]).lower()
