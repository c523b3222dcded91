"""The one place that says how to point Jessie (or any Google client) at a sandbox."""

from __future__ import annotations

from .oauth import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET


def environment_for(sandbox_url: str) -> dict[str, str]:
    """The environment variables (app/config.py reads them) that send Gmail and Google
    OAuth traffic to the sandbox at `sandbox_url`, with its own OAuth client."""
    base = sandbox_url.rstrip("/")
    return {
        "GMAIL_API_ENDPOINT": base + "/",
        "GOOGLE_AUTH_URI": base + "/o/oauth2/v2/auth",
        "GOOGLE_TOKEN_URI": base + "/token",
        "GOOGLE_REVOKE_URI": base + "/revoke",
        "GOOGLE_CLIENT_ID": DEFAULT_CLIENT_ID,
        "GOOGLE_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
    }
