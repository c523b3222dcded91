"""Connect Gmail (OAuth authorization code + PKCE), disconnect, sign out.

The OAuth `state` is random and bound to this browser: it lives, with the PKCE verifier,
only in a signed HttpOnly cookie (ten minutes) that the callback consumes, so nothing is
stored per visit, a replayed callback finds no cookie, and a callback whose state does not
match this browser's flow is ignored without ending that flow.

Google accepts only registered, exactly matching callbacks, and a Preview's host changes
with every branch, so every deployment uses one registered callback (OAUTH_REDIRECT_URI,
by default the Production domain's). A deployment that is not that host puts its own
origin in the state; the callback there hands code and state back to it (only to origins
OAUTH_RELAY_ORIGINS allows, matched as a parsed origin: app/origins.py), and that deployment
finishes the flow against its cookie.

Signing in makes a server-side session (`app/data/sessions.py`); signing out ends it, and
disconnecting ends every session of that user.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from app.config import Settings, origin_of
from app.data import accounts, mailbox, sessions
from app.logs import log_event
from app.origins import relay_target
from app.security import OAUTH_COOKIE, OAUTH_MAX_AGE_S, SESSION_COOKIE, TokenCipher, WrongEncryptionKey, sign, unsign
from app.sync import triggers
from app.web.context import LazyPool, Pool, SameSiteForm, SettingsDep, SignedIn, cookie_options, page, session_cookie

router = APIRouter()
RELAY_MARK = "~"  # state = nonce~base64url(origin) when another deployment must finish the flow
START_AGAIN = "Start again from “Connect Gmail”."
# Google's `error` codes (OAuth 2.0 and Google's own), in our words; anything else is generic.
GOOGLE_ERRORS = {
    "access_denied": "You denied Jessie access to Gmail; nothing was stored.",
    "admin_policy_enforced": "Your Google Workspace administrator does not allow Jessie to read mail.",
    "disallowed_useragent": "Google does not allow signing in from this browser. Try another one.",
    "org_internal": "This Jessie is limited to the users of one Google Workspace organization.",
    "invalid_scope": "Google did not grant the access Jessie asked for.",
    "consent_required": "Google needs your consent before Jessie can read your mail.",
    "interaction_required": "Google needs you to confirm in the browser before Jessie can read your mail.",
    "server_error": "Google had a problem. Try again in a few minutes.",
    "temporarily_unavailable": "Google is busy. Try again in a few minutes.",
}
GENERIC_ERROR = "Google did not connect Gmail to Jessie. Try again; if it keeps failing, tell the administrator."


def _here(request: Request, settings: Settings) -> str | None:
    """This request's origin, if it is one of this deployment's: configured (its Vercel URLs), or
    a Preview origin the relay patterns name (an alias moved onto it after it was built)."""
    host = request.headers.get("host", "")
    own = next((origin for origin in settings.own_origins if urlsplit(origin).netloc == host), None)
    if own is not None:
        return own
    named = relay_target(f"{request.url.scheme}://{host}", settings.relay_patterns, development=settings.is_development)
    return str(named) if named is not None else None


def _origin(request: Request, settings: Settings) -> str:
    """Where the browser is: the request's origin if it is ours, else our first origin."""
    return _here(request, settings) or (settings.own_origins or [origin_of(settings.redirect_uri)])[0]


def _pack_state(nonce: str, origin: str, settings: Settings) -> str:
    if origin == origin_of(settings.redirect_uri):
        return nonce
    return f"{nonce}{RELAY_MARK}{base64.urlsafe_b64encode(origin.encode()).decode().rstrip('=')}"


def _relay_target(state: str) -> str | None:
    """The origin a state asks the callback to hand back to, if any ("" when unreadable)."""
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
def connect_gmail(request: Request, settings: SettingsDep) -> Response:
    from app import google_oauth  # Google's client loads only where Google is called (cold starts)

    state = _pack_state(secrets.token_urlsafe(32), _origin(request, settings), settings)
    pkce = google_oauth.Pkce.new()
    response = RedirectResponse(google_oauth.authorization_url(settings, settings.redirect_uri, state, pkce), 303)
    cookie = sign(settings, "oauth", {"state": state, "verifier": pkce.verifier})
    response.set_cookie(OAUTH_COOKIE, cookie, max_age=OAUTH_MAX_AGE_S, **cookie_options(settings))
    return response


@router.get("/auth/callback")
def oauth_callback(
    request: Request, settings: SettingsDep, pool: LazyPool, state: str = "", code: str = "", error: str = ""
) -> Any:
    target = _relay_target(state)
    if target is not None and target != _here(request, settings):
        # Before any cookie is read: the code goes only to one of our origins, or to an exact
        # origin a relay pattern allows; the flow is finished where it began (its cookie is there).
        own = target if target in settings.own_origins else None
        allowed = own or relay_target(target, settings.relay_patterns, development=settings.is_development)
        if allowed is not None:
            return RedirectResponse(f"{allowed}/auth/callback?{request.url.query}", 303)
        return _failure(request, "This sign-in link is not valid", START_AGAIN, 400, end_flow=False)
    flow = unsign(settings, "oauth", request.cookies.get(OAUTH_COOKIE), OAUTH_MAX_AGE_S)
    if flow is None or not state or not hmac.compare_digest(flow.get("state", ""), state):
        # Not this browser's flow (forged, replayed, or expired): it must not end a genuine one.
        return _failure(request, "This sign-in link is not valid", START_AGAIN, 400, end_flow=False)
    from app import google_oauth

    if error:
        log_event("oauth.refused", error=error[:64])
        return _failure(request, "Gmail was not connected", GOOGLE_ERRORS.get(error, GENERIC_ERROR), 400)
    try:
        tokens = google_oauth.exchange_code(settings, code, flow["verifier"], settings.redirect_uri)
        email = google_oauth.gmail_address(settings, tokens["access_token"])
    except google_oauth.OAuthFailure as failure:
        log_event("oauth.failed", error=str(failure))
        return _failure(request, "Google did not confirm the connection", GENERIC_ERROR, 502)
    if not tokens.get("refresh_token"):
        detail = (
            "Google returned no refresh token, so Jessie could not sync in the background. "
            "Remove Jessie's access in your Google Account permissions, then connect again."
        )
        return _failure(request, "Gmail was not connected", detail, 400)
    with pool().connection() as conn:
        reconnect = accounts.find_account(conn, email) is not None
        account_id = accounts.connect_account(conn, TokenCipher.from_settings(settings), email, tokens["refresh_token"])
        session_id = sessions.begin(conn, email, replacing=session_cookie(request, settings))
        first_sync = accounts.claim_connect_sync(conn, email, reconnect)
    log_event("account.connected", account=email, first_sync=first_sync)
    if first_sync:
        triggers.after_connect(settings, pool(), account_id)
    response = RedirectResponse("/inbox", 303)
    response.delete_cookie(OAUTH_COOKIE, path="/")
    cookie = sign(settings, "session", {"sid": session_id})
    response.set_cookie(SESSION_COOKIE, cookie, max_age=sessions.ABSOLUTE_S, **cookie_options(settings))
    return response


@router.get("/account/disconnect")
def confirm_disconnect(request: Request, pool: Pool, who: SignedIn) -> Any:
    """What disconnecting deletes, before anything is."""
    with pool.connection() as conn:
        account = accounts.find_account(conn, str(who.email))
        stored = mailbox.stored_count(conn, account.id) if account else 0
    if account is None:
        return RedirectResponse("/", 303)
    return page(request, "disconnect.html", account=account, stored=stored)


@router.post("/auth/disconnect")
def disconnect(request: Request, settings: SettingsDep, pool: Pool, who: SignedIn, _form: SameSiteForm) -> Any:
    """Revoke the token at Google, delete the account with all its mail, end every session."""
    from app import google_oauth

    email = str(who.email)
    with pool.connection() as conn:
        account = accounts.find_account(conn, email)
        if account is not None:
            try:
                token = TokenCipher.from_settings(settings).decrypt(account.refresh_token_encrypted)
                google_oauth.revoke(settings, token)
            except (OSError, ValueError, google_oauth.TransportError, WrongEncryptionKey) as failure:  # data still goes
                log_event("oauth.revoke_failed", account=email, error=type(failure).__name__)
            accounts.remove_account(conn, email)
        sessions.end_all(conn, email)
    log_event("account.disconnected", account=email)
    detail = "Jessie's access was revoked and your synced mail deleted."
    response = page(request, "message.html", title="Gmail disconnected", detail=detail, signed_out=True)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/auth/logout")
def logout(pool: LazyPool, who: SameSiteForm) -> Response:
    if who.session_id is not None:
        with pool().connection() as conn:
            sessions.end(conn, who.session_id)
    response = RedirectResponse("/?signed_out=true", 303)  # the home page says so
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
