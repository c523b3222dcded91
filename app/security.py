"""Secrets at rest and at the door: refresh-token encryption and the cron bearer check.

Refresh tokens are encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`).
`JESSIE_ENCRYPTION_KEY` holds one or more comma-separated keys: the first encrypts, all
decrypt (MultiFernet), so a key is rotated by putting a new one first, re-encrypting
with `jessie accounts rotate-keys`, then dropping the old one.
"""

from __future__ import annotations

import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.config import MissingSetting, Settings


class TokenCipher:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise MissingSetting("JESSIE_ENCRYPTION_KEY holds no key")
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
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise InvalidToken("no configured JESSIE_ENCRYPTION_KEY decrypts this token") from None

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt with the first key."""
        return self._fernet.rotate(ciphertext.encode()).decode()


def bearer_matches(authorization: str | None, secret: str) -> bool:
    """`Authorization: Bearer <secret>`, compared in constant time."""
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return False
    return hmac.compare_digest(presented.strip().encode(), secret.encode())
