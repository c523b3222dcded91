"""Secrets at rest and at the door: refresh-token encryption, the cron bearer check, signed cookies.

Refresh tokens are encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`).
`JESSIE_ENCRYPTION_KEY` holds one or more comma-separated keys: the first encrypts, all
decrypt (MultiFernet), so a key is rotated by putting a new one first, re-encrypting
with `jessie accounts rotate-keys`, then dropping the old one.
"""

from __future__ import annotations

import hashlib
import hmac

from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.config import MissingSetting, Settings


class WrongEncryptionKey(Exception):
    """No configured key decrypts a stored token (the message says what to do)."""


class TokenCipher:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise MissingSetting("JESSIE_ENCRYPTION_KEY holds no key")
        from cryptography.fernet import Fernet, MultiFernet  # only where tokens are handled (cold starts)

        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except ValueError:
            raise MissingSetting("JESSIE_ENCRYPTION_KEY: each key must be 32 url-safe base64-encoded bytes") from None

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenCipher:
        return cls(settings.encryption_keys())

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise WrongEncryptionKey(
                "JESSIE_ENCRYPTION_KEY does not decrypt this stored refresh token: it was encrypted with "
                "another key. Put that key after the current one (comma-separated) and run "
                "`jessie accounts rotate-keys`, or reconnect the account"
            ) from None

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt with the first key."""
        self.decrypt(ciphertext)  # a token no key opens says so in words
        return self._fernet.rotate(ciphertext.encode()).decode()


def bearer_matches(authorization: str | None, secret: str) -> bool:
    """`Authorization: Bearer <secret>`, compared in constant time."""
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return False
    return hmac.compare_digest(presented.strip().encode(), secret.encode())


def drain_signature_matches(body: bytes, signature: str | None, secret: str) -> bool:
    """Vercel's `x-vercel-signature`: the hex HMAC-SHA1 of the raw body with the drain's
    secret, compared in constant time."""
    expected = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return hmac.compare_digest(expected.encode(), (signature or "").strip().lower().encode())


# ---- signed cookies: the session and the OAuth round trip ---------------------------------

SESSION_COOKIE = "jessie_session"
OAUTH_COOKIE = "jessie_oauth"
OAUTH_MAX_AGE_S = 600


def _serializer(settings: Settings, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.require("session_secret"), salt=f"jessie.{purpose}")


def sign(settings: Settings, purpose: str, payload: dict[str, str]) -> str:
    return _serializer(settings, purpose).dumps(payload)


def unsign(settings: Settings, purpose: str, value: str | None, max_age_s: int) -> dict[str, str] | None:
    """The payload if the cookie is ours, of this purpose, and young enough; else None."""
    if not value:
        return None
    try:
        payload = _serializer(settings, purpose).loads(value, max_age=max_age_s)
    except BadSignature:
        return None
    return payload if isinstance(payload, dict) else None
