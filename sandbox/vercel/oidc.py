"""Vercel's OIDC tokens, as a function's invocation carries them: the platform sends one with
every request (the runtime hands it on as `x-vercel-oidc-token`, where the Vercel SDKs read it),
a JWT valid for an hour whose claims name the team, project, environment and deployment. Vercel
services (Queues among them) take it as the caller's identity. Here it is signed with a key of
the local Vercel's own; nothing outside it is meant to trust the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time

ISSUER = "https://oidc.vercel.com"
LIFETIME_S = 3600
_KEY = secrets.token_bytes(32)


def _part(value: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).rstrip(b"=").decode()


def token(team_slug: str, project: str, project_id: str, environment: str, deployment_id: str) -> str:
    now = int(time.time())
    claims = {
        "iss": f"{ISSUER}/{team_slug}",
        "sub": f"owner:{team_slug}:project:{project}:environment:{environment}",
        "aud": f"https://vercel.com/{team_slug}",
        "iat": now,
        "nbf": now,
        "exp": now + LIFETIME_S,
        "owner": team_slug,
        "project": project,
        "project_id": project_id,
        "environment": environment,
        "deployment_id": deployment_id,
    }
    signed = f"{_part({'alg': 'HS256', 'typ': 'JWT', 'kid': 'local-vercel'})}.{_part(claims)}"
    signature = hmac.new(_KEY, signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
