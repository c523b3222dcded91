"""Google OAuth as the sandbox serves it: consent, code exchange with PKCE, refresh, revocation."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.oauth2.credentials import Credentials

from sandbox.gmail.oauth import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, READONLY_SCOPE
from tests.conftest import Sandbox, gmail_client

USER = "oauth@example.com"
REDIRECT = "http://localhost:3000/auth/callback"
VERIFIER = "v" * 64
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).decode().rstrip("=")


def _authorize(sandbox: Sandbox, decision: str = "allow", **overrides: str) -> dict[str, list[str]]:
    params = {
        "client_id": DEFAULT_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": READONLY_SCOPE,
        "state": "st-123",
        "access_type": "offline",
        "prompt": "consent",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        **overrides,
    }
    page = requests.get(f"{sandbox.url}/o/oauth2/v2/auth", params=params, timeout=10)
    assert page.status_code == 200
    assert USER in page.text
    assert 'value="allow"' in page.text
    assert 'value="deny"' in page.text
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    answer = requests.post(
        f"{sandbox.url}/o/oauth2/v2/auth",
        data={**form, "account": USER, "decision": decision},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query)


def _exchange(sandbox: Sandbox, code: str, verifier: str | None = VERIFIER) -> requests.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
    }
    if verifier:
        form["code_verifier"] = verifier
    return requests.post(f"{sandbox.url}/token", data=form, timeout=10)


@pytest.fixture
def account(sandbox: Sandbox) -> dict[str, str]:
    sandbox.admin("PUT", "/oauth", redirect_uris={DEFAULT_CLIENT_ID: [REDIRECT]})
    return sandbox.create_account(USER, messages=2)


def test_consent_then_code_exchange_with_pkce(sandbox: Sandbox, account: dict[str, str]) -> None:
    answer = _authorize(sandbox)
    assert answer["state"] == ["st-123"]
    tokens = _exchange(sandbox, answer["code"][0])
    assert tokens.status_code == 200
    body = tokens.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == READONLY_SCOPE
    assert body["refresh_token"].startswith("1//")
    assert body["access_token"].startswith("ya29.")
    profile = requests.get(
        f"{sandbox.url}/gmail/v1/users/me/profile",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        timeout=10,
    )
    assert profile.json()["emailAddress"] == USER
    replay = _exchange(sandbox, answer["code"][0])
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")


def test_pkce_is_enforced(sandbox: Sandbox, account: dict[str, str]) -> None:
    wrong = _exchange(sandbox, _authorize(sandbox)["code"][0], verifier="w" * 64)
    assert wrong.json() == {"error": "invalid_grant", "error_description": "Invalid code verifier."}
    missing = _exchange(sandbox, _authorize(sandbox)["code"][0], verifier=None)
    assert missing.json()["error_description"] == "Missing code verifier."


def test_pkce_verifiers_and_challenges_are_43_to_128_characters(sandbox: Sandbox, account: dict[str, str]) -> None:
    short = "s" * 42
    challenge = base64.urlsafe_b64encode(hashlib.sha256(short.encode()).digest()).decode().rstrip("=")
    code = _authorize(sandbox, code_challenge=challenge)["code"][0]
    assert _exchange(sandbox, code, verifier=short).json()["error_description"] == "Invalid code verifier."
    plain_too_short = requests.get(
        f"{sandbox.url}/o/oauth2/v2/auth",
        params={
            "client_id": DEFAULT_CLIENT_ID,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": READONLY_SCOPE,
            "code_challenge": short,
            "code_challenge_method": "plain",
        },
        timeout=10,
    )
    assert plain_too_short.status_code == 400


def test_only_registered_redirect_uris_are_accepted(sandbox: Sandbox, account: dict[str, str]) -> None:
    for unregistered in (REDIRECT + "/", "http://localhost:3001/auth/callback", "https://evil.example/cb"):
        page = requests.get(
            f"{sandbox.url}/o/oauth2/v2/auth",
            params={
                "client_id": DEFAULT_CLIENT_ID,
                "redirect_uri": unregistered,
                "response_type": "code",
                "scope": READONLY_SCOPE,
            },
            timeout=10,
        )
        assert page.status_code == 400
        assert "Error 400: redirect_uri_mismatch" in page.text  # on Google's page, never redirected
    insecure = requests.put(
        f"{sandbox.url}/_sandbox/oauth",
        json={"redirect_uris": {DEFAULT_CLIENT_ID: ["http://preview.example/cb"]}},
        timeout=10,
    )
    assert (insecure.status_code, "must use https://" in insecure.text) == (400, True)


def test_denied_consent_redirects_with_access_denied(sandbox: Sandbox, account: dict[str, str]) -> None:
    assert _authorize(sandbox, decision="deny") == {"error": ["access_denied"], "state": ["st-123"]}


def test_refresh_token_only_for_offline_access_and_first_or_forced_consent(
    sandbox: Sandbox, account: dict[str, str]
) -> None:
    online = _exchange(sandbox, _authorize(sandbox, access_type="online")["code"][0]).json()
    assert "refresh_token" not in online
    # The account was created with a grant already, so without prompt=consent no new one.
    again = _exchange(sandbox, _authorize(sandbox, prompt="select_account")["code"][0]).json()
    assert "refresh_token" not in again
    forced = _exchange(sandbox, _authorize(sandbox)["code"][0]).json()
    assert "refresh_token" in forced


def test_unknown_client_gets_googles_error_page(sandbox: Sandbox) -> None:
    page = requests.get(
        f"{sandbox.url}/o/oauth2/v2/auth",
        params={"client_id": "nobody", "redirect_uri": REDIRECT, "response_type": "code", "scope": READONLY_SCOPE},
        timeout=10,
    )
    assert page.status_code == 401
    assert "Error 401: invalid_client" in page.text
    wrong_secret = requests.post(
        f"{sandbox.url}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "x",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": "wrong",
        },
        timeout=10,
    )
    assert (wrong_secret.status_code, wrong_secret.json()["error"]) == (401, "invalid_client")


def _refresh(
    sandbox: Sandbox, token: str, client_id: str = DEFAULT_CLIENT_ID, secret: str = DEFAULT_CLIENT_SECRET
) -> None:
    credentials = Credentials(  # type: ignore[no-untyped-call]  # google-auth is untyped
        None, refresh_token=token, token_uri=f"{sandbox.url}/token", client_id=client_id, client_secret=secret
    )
    credentials.refresh(Request())  # type: ignore[no-untyped-call]


def test_the_token_endpoints_other_failures_reach_google_auth_as_google_sends_them(
    sandbox: Sandbox, account: dict[str, str]
) -> None:
    token = account["refresh_token"]
    sandbox.admin("PUT", "/oauth", token_outage=502)
    with pytest.raises(RefreshError) as outage:  # an HTML page: google-auth keeps only its text
        _refresh(sandbox, token)
    assert (outage.value.retryable, len(outage.value.args)) == (False, 1)
    assert "<b>502.</b>" in outage.value.args[0]
    sandbox.admin("PUT", "/oauth", token_outage=0)
    sandbox.admin("PUT", "/oauth", clients={"other-client": "other-secret"})
    with pytest.raises(RefreshError) as other_client:  # a token issued to another client
        _refresh(sandbox, token, "other-client", "other-secret")
    assert other_client.value.args[1]["error"] == "unauthorized_client"
    sandbox.admin("POST", f"/accounts/{USER}/require-reauth")
    with pytest.raises(RefreshError) as reauth:  # invalid_rapt: google-auth drops the body
        _refresh(sandbox, token)
    assert str(reauth.value).startswith("Reauthentication is needed")


def test_revoked_refresh_token_is_a_non_retryable_refresh_error(sandbox: Sandbox, account: dict[str, str]) -> None:
    client = gmail_client(sandbox, account["refresh_token"])
    client.service.users().getProfile(userId="me").execute()
    sandbox.admin("POST", f"/accounts/{USER}/revoke")
    credentials = Credentials(  # type: ignore[no-untyped-call]  # google-auth is untyped
        None,
        refresh_token=account["refresh_token"],
        token_uri=f"{sandbox.url}/token",
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
    )
    with pytest.raises(RefreshError) as refused:
        credentials.refresh(Request())  # type: ignore[no-untyped-call]
    assert "invalid_grant" in str(refused.value)
    assert refused.value.retryable is False
    # The access token issued before the revocation stops working too.
    old = requests.get(
        f"{sandbox.url}/gmail/v1/users/me/profile",
        headers={"Authorization": f"Bearer {client.credentials.token}"},
        timeout=10,
    )
    assert old.status_code == 401


def test_expired_access_token_gets_401_and_the_client_refreshes(sandbox: Sandbox, account: dict[str, str]) -> None:
    sandbox.admin("PUT", "/oauth", access_token_lifetime=60)
    client = gmail_client(sandbox, account["refresh_token"])
    client.service.users().getProfile(userId="me").execute()
    stale = client.credentials.token
    assert sandbox.stats(USER)["oauth_token_requests"] == 1
    sandbox.admin("POST", "/clock", advance_seconds=61)
    expired = requests.get(
        f"{sandbox.url}/gmail/v1/users/me/profile", headers={"Authorization": f"Bearer {stale}"}, timeout=10
    )
    assert expired.status_code == 401
    assert expired.json()["error"]["message"].startswith("Request had invalid authentication credentials")
    # google-auth still believes the token is fresh (its clock did not move); the 401 makes it refresh.
    profile = client.service.users().getProfile(userId="me").execute()
    assert profile["emailAddress"] == USER
    assert client.credentials.token != stale
    assert sandbox.stats(USER)["oauth_token_requests"] == 2


def test_revoke_endpoint(sandbox: Sandbox, account: dict[str, str]) -> None:
    revoked = requests.post(f"{sandbox.url}/revoke", data={"token": account["refresh_token"]}, timeout=10)
    assert revoked.status_code == 200
    again = requests.post(f"{sandbox.url}/revoke", data={"token": account["refresh_token"]}, timeout=10)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_token")


# ---- OpenID Connect: what outside clients (Got Your Back) call ---------------------------------


def test_openid_email_brings_an_id_token_google_auth_verifies_and_userinfo(
    sandbox: Sandbox, account: dict[str, str]
) -> None:
    from google.oauth2 import id_token

    answer = _authorize(sandbox, scope=f"openid email {READONLY_SCOPE}")
    assert answer["scope"] == [f"openid https://www.googleapis.com/auth/userinfo.email {READONLY_SCOPE}"]
    body = _exchange(sandbox, answer["code"][0]).json()
    discovery = requests.get(f"{sandbox.url}/.well-known/openid-configuration", timeout=10).json()
    assert discovery["issuer"] == "https://accounts.google.com"
    assert requests.get(discovery["jwks_uri"], timeout=10).json()["keys"][0]["alg"] == "RS256"
    claims = id_token.verify_token(
        body["id_token"], Request(), audience=DEFAULT_CLIENT_ID, certs_url=f"{sandbox.url}/oauth2/v1/certs"
    )
    assert (claims["email"], claims["email_verified"], claims["iss"]) == (USER, True, "https://accounts.google.com")
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    v2 = requests.get(f"{sandbox.url}/oauth2/v2/userinfo", headers=bearer, timeout=10).json()
    assert (v2["email"], v2["verified_email"], v2["id"]) == (USER, True, claims["sub"])
    openid = requests.get(discovery["userinfo_endpoint"], headers=bearer, timeout=10).json()
    assert (openid["sub"], openid["email"]) == (claims["sub"], USER)
    assert requests.get(f"{sandbox.url}/oauth2/v2/userinfo", timeout=10).status_code == 401
    # Refreshing offline brings a fresh id_token too (Got Your Back verifies one).
    credentials = Credentials(  # type: ignore[no-untyped-call]
        None,
        refresh_token=body["refresh_token"],
        token_uri=f"{sandbox.url}/token",
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
    )
    credentials.refresh(Request())  # type: ignore[no-untyped-call]
    refreshed = id_token.verify_token(
        credentials.id_token, Request(), audience=DEFAULT_CLIENT_ID, certs_url=f"{sandbox.url}/oauth2/v1/certs"
    )
    assert refreshed["email"] == USER


def test_without_openid_there_is_no_id_token_and_userinfo_has_no_email(
    sandbox: Sandbox, account: dict[str, str]
) -> None:
    body = _exchange(sandbox, _authorize(sandbox)["code"][0]).json()
    assert "id_token" not in body
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert "email" not in requests.get(f"{sandbox.url}/oauth2/v2/userinfo", headers=bearer, timeout=10).json()


def test_the_signing_key_survives_a_snapshot() -> None:
    """A test-mode Preview stores the sandbox's state as a pickled snapshot: every instance
    must sign with the key the JWKS it serves publishes."""
    import pickle

    from sandbox.gmail.oidc import IdTokens

    tokens = IdTokens()
    copy = pickle.loads(pickle.dumps(tokens))  # noqa: S301 -- our own object
    assert (copy.kid, copy.jwks()) == (tokens.kid, tokens.jwks())
    assert (
        copy.issue(USER, DEFAULT_CLIENT_ID, "openid", "ya29.x", 0).split(".")[0]
        == tokens.issue(USER, DEFAULT_CLIENT_ID, "openid", "ya29.x", 0).split(".")[0]
    )
