"""Google's OpenID Connect, as outside clients meet it (developers.google.com/identity/openid-connect).

- When the granted scopes include `openid`, the token endpoint's answer carries an `id_token`:
  a JWT signed RS256 with a key the JWKS document (`/oauth2/v3/certs`) and the PEM certificates
  (`/oauth2/v1/certs`, which google-auth's verifier reads) publish, with `iss`
  `https://accounts.google.com`, `aud` and `azp` the client, `sub` the account's stable id,
  `email` and `email_verified` when the `email` scope was granted, `at_hash`, `iat` and `exp`
  an hour later. Refreshing a token granted `openid` returns a new one.
- The userinfo endpoints answer a bearer token: `oauth2/v2/userinfo` (id, email,
  verified_email, picture) and OpenID's (`/v1/userinfo` and `oauth2/v3/userinfo`: sub, email,
  email_verified, picture); `email` only with the email scope.
- The discovery document (`/.well-known/openid-configuration`) names these endpoints.
The short scope names Google accepts (`email`, `profile`) are granted as their full URLs.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

ISSUER = "https://accounts.google.com"
ID_TOKEN_LIFETIME_S = 3600
EMAIL_SCOPE = "https://www.googleapis.com/auth/userinfo.email"
PROFILE_SCOPE = "https://www.googleapis.com/auth/userinfo.profile"
SHORT_SCOPES = {"email": EMAIL_SCOPE, "profile": PROFILE_SCOPE}


def granted_scope(requested: str) -> str:
    """The scope string as Google grants it: short names as their full URLs."""
    return " ".join(SHORT_SCOPES.get(scope, scope) for scope in requested.split())


def subject(email: str) -> str:
    """A stable numeric account id, as Google's `sub` is (21 digits)."""
    return str(int.from_bytes(hashlib.sha256(email.encode()).digest()[:9], "big")).rjust(21, "1")[:21]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class IdTokens:
    """The sandbox's signing key (one per sandbox), its published forms, and the id_tokens it signs."""

    def __init__(self, pem: bytes | None = None) -> None:
        if pem is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        self._pem = pem
        loaded = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(loaded, rsa.RSAPrivateKey)
        self._key = loaded
        self._numbers = loaded.public_key().public_numbers()
        self.kid = hashlib.sha1(self._numbers.n.to_bytes(256, "big"), usedforsecurity=False).hexdigest()
        self._signer = crypt.RSASigner.from_string(pem, key_id=self.kid)  # type: ignore[no-untyped-call]

    def __reduce__(self) -> tuple[type[IdTokens], tuple[bytes]]:
        """Pickled as its key (a test-mode Preview stores the sandbox's state as a snapshot, and
        every instance must sign with the one key the JWKS publishes)."""
        return (IdTokens, (self._pem,))

    def issue(self, email: str, client_id: str, scope: str, access_token: str, now: float) -> str:
        digest = hashlib.sha256(access_token.encode()).digest()
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "azp": client_id,
            "aud": client_id,
            "sub": subject(email),
            "at_hash": _b64(digest[:16]),
            "iat": int(now),
            "exp": int(now) + ID_TOKEN_LIFETIME_S,
        }
        if EMAIL_SCOPE in scope.split():
            claims |= {"email": email, "email_verified": True}
        token: bytes = jwt.encode(self._signer, claims)  # type: ignore[no-untyped-call]
        return token.decode()

    def jwks(self) -> dict[str, Any]:
        numbers = self._numbers
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "alg": "RS256",
                    "use": "sig",
                    "kid": self.kid,
                    "n": _b64(numbers.n.to_bytes(256, "big")),
                    "e": _b64(numbers.e.to_bytes(3, "big")),
                }
            ]
        }

    def pem_certificates(self) -> dict[str, str]:
        """`oauth2/v1/certs`: key id → a self-signed X.509 certificate of the public key."""
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sandbox.accounts.google.invalid")])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(int(self.kid[:16], 16))
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=14))
            .sign(self._key, hashes.SHA256())
        )
        return {self.kid: certificate.public_bytes(serialization.Encoding.PEM).decode()}


def userinfo_v2(email: str, scope: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"id": subject(email), "picture": ""}
    if EMAIL_SCOPE in scope.split():
        answer |= {"email": email, "verified_email": True}
    return answer


def userinfo_openid(email: str, scope: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"sub": subject(email), "picture": ""}
    if EMAIL_SCOPE in scope.split():
        answer |= {"email": email, "email_verified": True}
    return answer


def discovery(base: str) -> dict[str, Any]:
    return {
        "issuer": ISSUER,
        "authorization_endpoint": f"{base}/o/oauth2/v2/auth",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/v1/userinfo",
        "revocation_endpoint": f"{base}/revoke",
        "jwks_uri": f"{base}/oauth2/v3/certs",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["aud", "email", "email_verified", "exp", "iat", "iss", "sub", "at_hash", "azp"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
    }
