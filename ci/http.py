"""HTTP for the pipeline's REST calls: always a timeout, and retries that respect rate limits.

429 and 5xx (and GitHub's 403 with `x-ratelimit-remaining: 0`) are retried. The wait is
the server's `Retry-After` (seconds or HTTP date) or `X-RateLimit-Reset` (epoch
seconds, as GitHub and Vercel send it), else exponential backoff; a wait longer than
`max_wait_s` is not taken: the call fails with the reason instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import requests

RETRY_STATUSES = {429, 500, 502, 503, 504}


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
    if reset and reset.strip().isdigit():
        return max(0.0, float(reset) - now)
    return None


def _rate_limited(response: requests.Response) -> bool:
    if response.status_code in RETRY_STATUSES:
        return True
    return response.status_code == 403 and response.headers.get("X-RateLimit-Remaining") == "0"


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
            if not _rate_limited(response):
                return response
            wait = _wait_from_headers(response, self._clock())
            wait = min(60.0, 2.0**attempt) if wait is None else wait
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
