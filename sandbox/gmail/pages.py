"""The HTML a person (or Playwright) sees: Google's account chooser and consent screen."""

from __future__ import annotations

from html import escape

_STYLE = """
body{font-family:system-ui,sans-serif;background:#f1f3f4;margin:0}
main{max-width:460px;margin:48px auto;background:#fff;border:1px solid #dadce0;border-radius:8px;padding:32px}
h1{font-size:22px;font-weight:400}label{display:block;padding:10px;border-bottom:1px solid #eee;cursor:pointer}
.buttons{display:flex;gap:12px;justify-content:flex-end;margin-top:24px}
button{padding:8px 20px;border-radius:4px;border:1px solid #dadce0;background:#fff;font-size:14px;cursor:pointer}
button.allow{background:#1a73e8;color:#fff;border-color:#1a73e8}.scope{color:#5f6368;font-size:13px}
.sandbox{color:#b06000;font-size:12px}
"""

_SCOPE_NAMES = {
    "https://www.googleapis.com/auth/gmail.readonly": "View your email messages and settings",
    "https://www.googleapis.com/auth/gmail.modify": "Read, compose and send emails from your Gmail account",
    "https://mail.google.com/": "Read, compose, send and permanently delete all your email from Gmail",
}


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><main>{body}"
        '<p class="sandbox">Jessie Gmail sandbox: a local stand-in for accounts.google.com</p></main></body></html>'
    )


def consent_page(params: dict[str, str], accounts: list[str]) -> str:
    hint = params.get("login_hint", "")
    chosen = hint if hint in accounts else (accounts[0] if accounts else "")
    hidden = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">' for name, value in params.items()
    )
    choices = "".join(
        f'<label><input type="radio" name="account" value="{escape(email)}"'
        f"{' checked' if email == chosen else ''}> {escape(email)}</label>"
        for email in accounts
    )
    if not accounts:
        choices = "<p>No accounts exist in this sandbox yet.</p>"
    scopes = "".join(
        f'<li class="scope">{escape(_SCOPE_NAMES.get(scope, scope))}</li>' for scope in params.get("scope", "").split()
    )
    body = (
        "<h1>Choose an account</h1>"
        f"<p>to continue to <strong>{escape(params.get('client_id', ''))}</strong></p>"
        # Relative: the page is answered from wherever the stand-in is served (a test-mode Preview's path).
        f'<form method="post" action="auth">{hidden}<fieldset>'
        f"<legend>Accounts</legend>{choices}</fieldset>"
        f"<p>This app wants to:</p><ul>{scopes}</ul>"
        '<div class="buttons"><button type="submit" name="decision" value="deny">Deny</button>'
        '<button class="allow" type="submit" name="decision" value="allow">Allow</button></div></form>'
    )
    return _page("Sign in - Google Accounts", body)


def error_page(status: int, error: str, description: str) -> str:
    body = (
        "<h1>Access blocked: authorization error</h1>"
        f"<p><strong>Error {status}: {escape(error)}</strong></p><p>{escape(description)}</p>"
    )
    return _page("Error - Google Accounts", body)


def index_page(base_url: str) -> str:
    body = (
        "<h1>Gmail sandbox</h1>"
        "<p>Point a Gmail client here:</p><ul>"
        f"<li>GMAIL_API_ENDPOINT={escape(base_url)}/</li>"
        f"<li>GOOGLE_AUTH_URI={escape(base_url)}/o/oauth2/v2/auth</li>"
        f"<li>GOOGLE_TOKEN_URI={escape(base_url)}/token</li>"
        f"<li>GOOGLE_REVOKE_URI={escape(base_url)}/revoke</li></ul>"
        "<p>Admin API under <code>/_sandbox/</code>: accounts, messages, faults, quota, stats.</p>"
    )
    return _page("Gmail sandbox", body)


def google_error_page(status: int) -> str:
    """The bare HTML page Google's front end serves for a 5xx: no JSON for a client to read."""
    return (
        f'<!DOCTYPE html><html lang="en"><meta charset="utf-8"><title>Error {status} (Server Error)!!1</title>'
        f"<p><b>{status}.</b> That is an error.<p>The server encountered a temporary error and could not "
        "complete your request. Please try again in 30 seconds.</html>"
    )
