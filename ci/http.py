"""HTTP for the pipeline's REST calls: always a timeout, and retries that respect rate limits.

Retried: 5xx, 429, and a 403 that is a rate limit (GitHub answers its primary and its
secondary rate limits with 403 or 429: a `Retry-After` header, `x-ratelimit-remaining: 0`,
or a message about a rate limit; any other 403 is a refusal and final). The wait is the
server's `Retry-After` (seconds or HTTP date), else `X-RateLimit-Reset` (epoch seconds, as
GitHub and Vercel send it) when nothing remains, else for a rate limit at least a minute,
doubling (GitHub's advice), and for a 5xx a short exponential backoff. A wait longer than
`max_wait_s` is not taken: the call fails with the reason instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import requests

SERVER_ERRORS = {500, 502, 503, 504}
RATE_LIMIT_WAIT_S = 60.0  # GitHub: without a header saying otherwise, wait at least a minute


class ApiError(RuntimeError):
    """A call that failed for good; the message never contains a token."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _wait_from_headers(response: requests.Response, now: float) -> float | None:
    retry_after = response.headers.get("Retry-After")
    if retry_after:
        if retry_after.strip().isdigit():
            return float(retry_after)
        try:
            return max(0.0, parsedate_to_datetime(retry_after).timestamp() - now)
        except (TypeError, ValueError):
            pass
    reset = response.headers.get("X-RateLimit-Reset")
    if reset and reset.strip().isdigit() and response.headers.get("X-RateLimit-Remaining") == "0":
        return max(0.0, float(reset) - now)
    return None


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("message", "")) if isinstance(body, dict) else ""


def _rate_limited(response: requests.Response) -> bool:
    if response.status_code == 429:
        return True
    return response.status_code == 403 and (
        "Retry-After" in response.headers
        or response.headers.get("X-RateLimit-Remaining") == "0"
        or "rate limit" in _message(response).lower()
    )


class Api:
    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        *,
        timeout_s: float = 30.0,
        max_attempts: int = 5,
        max_wait_s: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers.update(headers)
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.max_wait_s = max_wait_s
        self._sleep = sleep
        self._clock = clock

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        where = f"{method} {url.split('?')[0]}"
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.session.request(method, url, timeout=self.timeout_s, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as error:
                if attempt == self.max_attempts:
                    raise ApiError(f"{where}: {type(error).__name__} after {attempt} attempts") from None
                self._sleep(min(self.max_wait_s, 2.0**attempt))
                continue
            rate_limited = _rate_limited(response)
            if not rate_limited and response.status_code not in SERVER_ERRORS:
                return response
            wait = _wait_from_headers(response, self._clock())
            if wait is None:
                wait = RATE_LIMIT_WAIT_S * 2.0 ** (attempt - 1) if rate_limited else min(60.0, 2.0**attempt)
            if attempt == self.max_attempts or wait > self.max_wait_s:
                raise ApiError(f"{where}: HTTP {response.status_code} after {attempt} attempts", response.status_code)
            self._sleep(wait)
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, expect: tuple[int, ...] = (200, 201), **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if response.status_code not in expect:
            detail = response.text[:300].replace("\n", " ")
            raise ApiError(
                f"{method} {path.split('?')[0]}: HTTP {response.status_code}: {detail}", response.status_code
            )
        return response.json() if response.content else {}
