"""Google OAuth 2.0 as the sandbox speaks it: consent page, token endpoint, revocation.

Behaviour that clients depend on and that is reproduced here:
- ``POST /token`` answers ``invalid_grant`` (HTTP 400) for a revoked or unknown refresh
  token, which google-auth turns into a non-retryable ``RefreshError``;
- a refresh token is issued only with ``access_type=offline``, and only on the first
  consent unless ``prompt=consent`` asks again;
- PKCE (S256 or plain) is verified when the authorization request carried a challenge,
  and verifiers and challenges are 43 to 128 characters (RFC 7636);
- a redirect URI must be registered for the client and match exactly; registered URIs
  are HTTPS unless they point at localhost (Google's rules for web clients);
- revoking an access token also revokes the refresh token it came from;
- with `openid` granted, the token answers carry a signed `id_token` (sandbox/gmail/oidc.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from .clock import Clock
from .oidc import IdTokens, granted_scope

GMAIL_SCOPES = {
    "https://www.googleapis.com/auth/gmail.readonly",
    "https://www.googleapis.com/auth/gmail.modify",
    "https://mail.google.com/",
}
READONLY_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
DEFAULT_CLIENT_ID = "sandbox-client.apps.googleusercontent.com"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 -- the sandbox's own, public by design
CODE_LIFETIME_S = 600
PKCE_LENGTHS = range(43, 129)
DEVELOPMENT_CALLBACKS = ("http://localhost:3000/auth/callback", "http://127.0.0.1:3000/auth/callback")
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]"}


@dataclass
class _Refresh:
    email: str
    client_id: str
    scope: str
    revoked: bool = False
    reauth_required: bool = False  # a Workspace policy asks the user to sign in again


@dataclass
class _Access:
    email: str
    scope: str
    expires_at: float
    refresh: str | None


@dataclass
class _Code:
    email: str
    client_id: str
    redirect_uri: str
    scope: str
    challenge: str | None
    method: str
    offline: bool
    force_consent: bool
    expires_at: float
    used: bool = False


@dataclass
class OAuthError(Exception):
    status: int
    error: str
    description: str
    extra: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description, **self.extra}


@dataclass
class OAuthServer:
    clock: Clock
    access_token_lifetime: int = 3599
    clients: dict[str, str] = field(default_factory=lambda: {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET})
    token_outage: int = 0  # an HTTP status: the token endpoint answers Google's HTML error page
    # client → registered callbacks; the sandbox's own client comes registered for Jessie's
    # development callback (`nox -s dev`), as a project's client would be.
    redirect_uris: dict[str, set[str]] = field(default_factory=lambda: {DEFAULT_CLIENT_ID: set(DEVELOPMENT_CALLBACKS)})
    token_requests: dict[str, int] = field(default_factory=dict)
    _refresh: dict[str, _Refresh] = field(default_factory=dict)
    _access: dict[str, _Access] = field(default_factory=dict)
    _codes: dict[str, _Code] = field(default_factory=dict)
    _consented: set[tuple[str, str]] = field(default_factory=set)
    id_tokens: IdTokens = field(default_factory=IdTokens)

    # ---- tokens ---------------------------------------------------------------------

    def issue_refresh_token(self, email: str, client_id: str = DEFAULT_CLIENT_ID, scope: str = READONLY_SCOPE) -> str:
        token = "1//sandbox-" + secrets.token_urlsafe(32)
        self._refresh[token] = _Refresh(email, client_id, scope)
        self._consented.add((email, client_id))
        return token

    def _issue_access_token(self, email: str, scope: str, refresh: str | None) -> dict[str, object]:
        token = "ya29.sandbox-" + secrets.token_urlsafe(40)
        self._access[token] = _Access(email, scope, self.clock.wall() + self.access_token_lifetime, refresh)
        return {
            "access_token": token,
            "expires_in": self.access_token_lifetime,
            "scope": scope,
            "token_type": "Bearer",
        }

    def authenticate(self, access_token: str) -> _Access | None:
        grant = self._access.get(access_token)
        if grant is None or grant.expires_at <= self.clock.wall():
            return None
        if grant.refresh is not None and self._refresh[grant.refresh].revoked:
            return None
        return grant

    def revoke_account(self, email: str) -> int:
        revoked = 0
        for grant in self._refresh.values():
            if grant.email == email and not grant.revoked:
                grant.revoked = True
                revoked += 1
        for token, access in list(self._access.items()):
            if access.email == email:
                del self._access[token]
        return revoked

    def require_reauth(self, email: str) -> int:
        grants = [grant for grant in self._refresh.values() if grant.email == email and not grant.revoked]
        for grant in grants:
            grant.reauth_required = True
        return len(grants)

    def revoke(self, token: str) -> None:
        if token in self._refresh and not self._refresh[token].revoked:
            self._refresh[token].revoked = True
            return
        access = self._access.pop(token, None)
        if access is None:
            raise OAuthError(400, "invalid_token", "Token expired or revoked")
        if access.refresh is not None:
            self._refresh[access.refresh].revoked = True

    def grants(self) -> dict[str, object]:
        """What outlives a restart: the refresh tokens issued and who consented to which client
        (access tokens and codes are short-lived, and a client refreshes or asks again)."""
        return {
            "refresh": {token: asdict(grant) for token, grant in self._refresh.items()},
            "consented": sorted([email, client] for email, client in self._consented),
        }

    def restore_grants(self, saved: dict[str, Any]) -> None:
        self._refresh.update({token: _Refresh(**grant) for token, grant in saved["refresh"].items()})
        self._consented.update((email, client) for email, client in saved["consented"])

    # ---- the token endpoint ---------------------------------------------------------

    def _client(self, form: dict[str, str], authorization: str | None) -> str:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:]).decode()
                client_id, _, secret = decoded.partition(":")
            except (ValueError, UnicodeDecodeError):
                raise OAuthError(401, "invalid_client", "Unauthorized") from None
        if not client_id or client_id not in self.clients:
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
        if not secret or not hmac.compare_digest(secret, self.clients[client_id]):
            raise OAuthError(401, "invalid_client", "Unauthorized")
        return client_id

    def token(self, form: dict[str, str], authorization: str | None) -> dict[str, object]:
        client_id = self._client(form, authorization)
        grant_type = form.get("grant_type", "")
        if grant_type == "refresh_token":
            grant = self._refresh.get(form.get("refresh_token", ""))
            if grant is None or grant.revoked:
                raise OAuthError(400, "invalid_grant", "Token has been expired or revoked.")
            if grant.client_id != client_id:  # another client's token
                raise OAuthError(401, "unauthorized_client", "Unauthorized")
            if grant.reauth_required:
                raise OAuthError(
                    400,
                    "invalid_grant",
                    "reauth related error (invalid_rapt)",
                    {"error_uri": "https://support.google.com/a/answer/9368756", "error_subtype": "invalid_rapt"},
                )
            self.token_requests[grant.email] = self.token_requests.get(grant.email, 0) + 1
            return self._with_id_token(
                self._issue_access_token(grant.email, grant.scope, form["refresh_token"]), grant.email, client_id
            )
        if grant_type == "authorization_code":
            return self._exchange_code(form, client_id)
        raise OAuthError(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def _exchange_code(self, form: dict[str, str], client_id: str) -> dict[str, object]:
        code = self._codes.get(form.get("code", ""))
        if code is None or code.used or code.expires_at <= self.clock.wall() or code.client_id != client_id:
            raise OAuthError(400, "invalid_grant", "Bad Request")
        if form.get("redirect_uri") != code.redirect_uri:
            raise OAuthError(400, "redirect_uri_mismatch", "Bad Request")
        if code.challenge is not None:
            verifier = form.get("code_verifier")
            if not verifier:
                raise OAuthError(400, "invalid_grant", "Missing code verifier.")
            if len(verifier) not in PKCE_LENGTHS:
                raise OAuthError(400, "invalid_grant", "Invalid code verifier.")
            if not hmac.compare_digest(pkce_challenge(verifier, code.method), code.challenge):
                raise OAuthError(400, "invalid_grant", "Invalid code verifier.")
        code.used = True
        self.token_requests[code.email] = self.token_requests.get(code.email, 0) + 1
        refresh = None
        if code.offline and (code.force_consent or (code.email, client_id) not in self._consented):
            refresh = self.issue_refresh_token(code.email, client_id, code.scope)
        self._consented.add((code.email, client_id))
        response = self._issue_access_token(code.email, code.scope, refresh)
        if refresh is not None:
            response["refresh_token"] = refresh
        return self._with_id_token(response, code.email, client_id)

    def _with_id_token(self, response: dict[str, object], email: str, client_id: str) -> dict[str, object]:
        scope = str(response["scope"])
        if "openid" in scope.split():
            response["id_token"] = self.id_tokens.issue(
                email, client_id, scope, str(response["access_token"]), self.clock.wall()
            )
        return response

    # ---- the authorization endpoint -------------------------------------------------

    def register_redirect_uri(self, client_id: str, uri: str) -> None:
        """What the Cloud Console accepts: HTTPS, or HTTP on localhost only."""
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
            raise ValueError(f"Invalid redirect URI: {uri}")
        if parts.scheme == "http" and parts.netloc.rsplit(":", 1)[0] not in LOOPBACK_HOSTS:
            raise ValueError(f"Invalid redirect URI: {uri}: must use https:// as the scheme")
        self.redirect_uris.setdefault(client_id, set()).add(uri)

    def check_authorization_request(self, params: dict[str, str]) -> None:
        """Errors Google shows on its own page instead of redirecting back."""
        client_id = params.get("client_id", "")
        if client_id not in self.clients:
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://", "https://")):
            raise OAuthError(400, "invalid_request", "Missing required parameter: redirect_uri")
        if redirect_uri not in self.redirect_uris.get(client_id, set()):
            raise OAuthError(
                400,
                "redirect_uri_mismatch",
                f"You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy. "
                f"If you're the app developer, register the redirect URI in the Google Cloud Console. "
                f"Request details: redirect_uri={redirect_uri}",
            )
        challenge = params.get("code_challenge")
        if challenge is not None and len(challenge) not in PKCE_LENGTHS:
            raise OAuthError(400, "invalid_request", "Invalid code_challenge length.")
        if not params.get("scope"):
            raise OAuthError(400, "invalid_request", "Missing required parameter: scope")
        if params.get("code_challenge") and params.get("code_challenge_method", "plain") not in ("S256", "plain"):
            raise OAuthError(400, "invalid_request", "Invalid code_challenge_method")

    def decide(self, params: dict[str, str], email: str | None, allow: bool) -> str:
        """The URL the browser is sent back to after the user's choice."""
        self.check_authorization_request(params)
        redirect_uri = params["redirect_uri"]
        answer: dict[str, str]
        if params.get("response_type") != "code":
            answer = {"error": "unsupported_response_type"}
        elif not allow or not email:
            answer = {"error": "access_denied"}
        else:
            code = "4/sandbox-" + secrets.token_urlsafe(24)
            self._codes[code] = _Code(
                email=email,
                client_id=params["client_id"],
                redirect_uri=redirect_uri,
                scope=granted_scope(params["scope"]),
                challenge=params.get("code_challenge") or None,
                method=params.get("code_challenge_method", "plain"),
                offline=params.get("access_type") == "offline",
                force_consent="consent" in params.get("prompt", "").split(),
                expires_at=self.clock.wall() + CODE_LIFETIME_S,
            )
            answer = {"code": code, "scope": granted_scope(params["scope"]), "authuser": "0", "prompt": "consent"}
        if params.get("state"):
            answer["state"] = params["state"]
        return redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(answer)


def pkce_challenge(verifier: str, method: str) -> str:
    if method == "plain":
        return verifier
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
