"""Google's error envelope and the HTTP response type every sandbox handler returns.

Gmail answers errors as ``{"error": {"code", "message", "errors": [{"message", "domain",
"reason"}], "status"}}``; google-api-python-client reads ``error.message`` and
``error.errors[].reason`` from it, so the sandbox reproduces that shape exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
}

JSON_TYPE = "application/json; charset=UTF-8"


@dataclass
class ApiResponse:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def reason(self) -> str:
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return "Unknown"

    @classmethod
    def json(cls, status: int, payload: object, headers: list[tuple[str, str]] | None = None) -> ApiResponse:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(status, body, [("Content-Type", JSON_TYPE), *(headers or [])])


class GoogleApiError(Exception):
    """Raised inside handlers; becomes Google's error JSON."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str,
        domain: str = "global",
        headers: list[tuple[str, str]] | None = None,
        status: str | None = None,
        **extra: str,
    ) -> None:
        super().__init__(message)
        self.status = status or _STATUS_NAMES.get(code, "UNKNOWN")
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.headers = headers or []
        self.extra = extra

    def response(self) -> ApiResponse:
        detail = {"message": self.message, "domain": self.domain, "reason": self.reason, **self.extra}
        payload = {
            "error": {
                "code": self.code,
                "message": self.message,
                "errors": [detail],
                "status": self.status,
            }
        }
        return ApiResponse.json(self.code, payload, self.headers)


def unauthenticated() -> GoogleApiError:
    return GoogleApiError(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
        "or other valid authentication credential. "
        "See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        "authError",
        headers=[("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/", error="invalid_token"')],
        location="Authorization",
        locationType="header",
    )


def not_found() -> GoogleApiError:
    return GoogleApiError(404, "Requested entity was not found.", "notFound")


def invalid_argument(message: str) -> GoogleApiError:
    return GoogleApiError(400, message, "invalidArgument")


def failed_precondition(message: str = "Precondition check failed.") -> GoogleApiError:
    """400 failedPrecondition: a mailbox without Gmail, or (now and then) a message Gmail
    serves on a later try."""
    return GoogleApiError(400, message, "failedPrecondition", status="FAILED_PRECONDITION")


def forbidden(message: str) -> GoogleApiError:
    return GoogleApiError(403, message, "forbidden")


def backend_error(code: int) -> GoogleApiError:
    messages = {
        500: "Internal error encountered.",
        502: "Bad Gateway",
        503: "The service is currently unavailable.",
    }
    return GoogleApiError(code, messages[code], "backendError")


def too_many_concurrent() -> GoogleApiError:
    message = "Too many concurrent requests for user"
    return GoogleApiError(429, message, "rateLimitExceeded", headers=[("Retry-After", "1")])


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def user_rate_limited(retry_after_s: float, now_wall: float, style: int) -> GoogleApiError:
    """Gmail's three ways of saying "slow down" (they all reach real clients).

    style 0: 403 userRateLimitExceeded with "Retry after <RFC 3339>" in the message only;
    style 1: 403 rateLimitExceeded with the same text;
    style 2: 429 "Resource has been exhausted" with a Retry-After header.
    """
    seconds = max(1, int(retry_after_s + 0.999))
    if style == 2:
        return GoogleApiError(
            429,
            "Resource has been exhausted (e.g. check quota).",
            "rateLimitExceeded",
            headers=[("Retry-After", str(seconds))],
        )
    until = datetime.fromtimestamp(now_wall, UTC) + timedelta(seconds=retry_after_s)
    message = f"User-rate limit exceeded.  Retry after {rfc3339(until)}"
    reason = "userRateLimitExceeded" if style == 0 else "rateLimitExceeded"
    return GoogleApiError(403, message, reason, domain="usageLimits")


def project_rate_limited(retry_after_s: float, style: int) -> GoogleApiError:
    """The project's per-minute limit, shared by all its users (reason rateLimitExceeded).

    style 0/1: 403 "Rate Limit Exceeded"; style 2: 429 in Cloud Quotas' words, with the
    seconds until the next minute in Retry-After.
    """
    if style == 2:
        seconds = max(1, int(retry_after_s + 0.999))
        message = (
            "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service "
            "'gmail.googleapis.com' for consumer 'project_number:0'."
        )
        return GoogleApiError(429, message, "rateLimitExceeded", headers=[("Retry-After", str(seconds))])
    return GoogleApiError(403, "Rate Limit Exceeded", "rateLimitExceeded", domain="usageLimits")
