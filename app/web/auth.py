"""Connect Gmail (OAuth authorization code + PKCE), disconnect, sign out.

The OAuth `state` is random, bound to this browser by a signed HttpOnly cookie that also
carries the PKCE verifier, and usable once: its hash is stored when the flow starts and
deleted when the callback consumes it, so a replayed or forged callback is refused.

Google accepts only registered, exactly matching callbacks, and a Preview's host changes
with every branch, so every deployment uses one registered callback (OAUTH_REDIRECT_URI,
by default the Production domain's). A deployment that is not that host puts its own
origin in the state; the callback there hands code and state back to it (only to origins
OAUTH_RELAY_ORIGINS allows), and that deployment finishes the flow against its cookie.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

import httplib2
from cryptography.fernet import InvalidToken
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from app import accounts
from app.config import Settings, origin_of
from app.google_oauth import OAuthFailure, Pkce, authorization_url, exchange_code, gmail_address, revoke
from app.logs import log_event
from app.security import (
    OAUTH_COOKIE,
    OAUTH_MAX_AGE_S,
    SESSION_COOKIE,
    SESSION_MAX_AGE_S,
    TokenCipher,
    sign,
    unsign,
)
from app.web.context import cookie_options, page, pool_of, settings_of, signed_in_email

router = APIRouter()
RELAY_MARK = "~"  # state = nonce~base64url(origin) when another deployment must finish the flow


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def _origin(request: Request, settings: Settings) -> str:
    """Where the browser is: the request's host if it is one of ours, else our first origin."""
    own = settings.own_origins or [origin_of(settings.redirect_uri)]
    host = request.headers.get("host", "")
    return next((origin for origin in own if urlsplit(origin).netloc == host), own[0])


def _pack_state(nonce: str, origin: str, settings: Settings) -> str:
    if origin == origin_of(settings.redirect_uri):
        return nonce
    return f"{nonce}{RELAY_MARK}{base64.urlsafe_b64encode(origin.encode()).decode().rstrip('=')}"


def _relay_target(state: str) -> str | None:
    """The origin a state asks the callback to hand back to, if any (None when unreadable)."""
    _, mark, packed = state.partition(RELAY_MARK)
    if not mark:
        return None
    try:
        return base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return ""


def _failure(request: Request, title: str, detail: str, status: int, end_flow: bool = True) -> Any:
    response = page(request, "message.html", status, title=title, detail=detail)
    if end_flow:
        response.delete_cookie(OAUTH_COOKIE, path="/")
    return response


@router.get("/auth/google")
def connect_gmail(request: Request) -> Response:
    settings = settings_of(request)
    state, pkce = _pack_state(secrets.token_urlsafe(32), _origin(request, settings), settings), Pkce.new()
    with pool_of(request).connection() as conn:
        conn.execute("delete from jessie.oauth_states where created_at < now() - interval '1 hour'")
        conn.execute("insert into jessie.oauth_states (state_hash) values (%s)", [_state_hash(state)])
    response = RedirectResponse(authorization_url(settings, settings.redirect_uri, state, pkce), 303)
    cookie = sign(settings, "oauth", {"state": state, "verifier": pkce.verifier})
    response.set_cookie(OAUTH_COOKIE, cookie, max_age=OAUTH_MAX_AGE_S, **cookie_options(settings))
    return response


@router.get("/auth/callback")
def oauth_callback(request: Request, state: str = "", code: str = "", error: str = "") -> Any:
    settings = settings_of(request)
    target = _relay_target(state)
    if target is not None and target not in settings.own_origins:
        if target and any(fnmatch.fnmatchcase(target, pattern) for pattern in settings.relay_patterns):
            return RedirectResponse(f"{target}/auth/callback?{request.url.query}", 303)
        return _failure(request, "This sign-in link is not valid", "Start again from “Connect Gmail”.", 400, False)
    if error:
        detail = "You denied Jessie access to Gmail; nothing was stored." if error == "access_denied" else error
        return _failure(request, "Gmail was not connected", detail, 400)
    flow = unsign(settings, "oauth", request.cookies.get(OAUTH_COOKIE), OAUTH_MAX_AGE_S)
    if flow is None or not state or not hmac.compare_digest(flow.get("state", ""), state):
        # A forged link must not end this browser's genuine flow, so its cookie stays.
        return _failure(request, "This sign-in link is not valid", "Start again from “Connect Gmail”.", 400, False)
    with pool_of(request).connection() as conn:
        consumed = conn.execute(
            """delete from jessie.oauth_states where state_hash = %s
               and created_at > now() - make_interval(secs => %s) returning 1""",
            [_state_hash(state), OAUTH_MAX_AGE_S],
        ).fetchone()
    if consumed is None:
        return _failure(request, "This sign-in link was already used", "Start again from “Connect Gmail”.", 400)
    try:
        tokens = exchange_code(settings, code, flow["verifier"], settings.redirect_uri)
        email = gmail_address(settings, tokens["access_token"])
    except OAuthFailure as failure:
        log_event("oauth.failed", error=str(failure))
        return _failure(request, "Google did not confirm the connection", str(failure), 502)
    if not tokens.get("refresh_token"):
        detail = (
            "Google returned no refresh token, so Jessie could not sync in the background. "
            "Remove Jessie's access in your Google Account permissions, then connect again."
        )
        return _failure(request, "Gmail was not connected", detail, 400)
    with pool_of(request).connection() as conn:
        accounts.connect_account(conn, TokenCipher.from_settings(settings), email, tokens["refresh_token"])
    log_event("account.connected", account=email)
    response = RedirectResponse("/inbox", 303)
    response.delete_cookie(OAUTH_COOKIE, path="/")
    _sign_in(response, settings, email)
    return response


def _sign_in(response: Response, settings: Settings, email: str) -> None:
    cookie = sign(settings, "session", {"email": email})
    response.set_cookie(SESSION_COOKIE, cookie, max_age=SESSION_MAX_AGE_S, **cookie_options(settings))


@router.post("/auth/disconnect")
def disconnect(request: Request) -> Any:
    """Revoke the token at Google and delete the account with all its mail."""
    settings = settings_of(request)
    email = signed_in_email(request)
    if email is None:
        return RedirectResponse("/", 303)
    with pool_of(request).connection() as conn:
        account = accounts.find_account(conn, email)
        if account is not None:
            try:
                revoke(settings, TokenCipher.from_settings(settings).decrypt(account["refresh_token_encrypted"]))
            except (OSError, ValueError, httplib2.HttpLib2Error, InvalidToken) as failure:  # the data still goes
                log_event("oauth.revoke_failed", account=email, error=type(failure).__name__)
            accounts.remove_account(conn, email)
    log_event("account.disconnected", account=email)
    detail = "Jessie's access was revoked and your synced mail deleted."
    response = page(request, "message.html", title="Gmail disconnected", detail=detail, email=None)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/auth/logout")
def logout() -> Response:
    response = RedirectResponse("/", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
