"""The one retry policy: what is transient, how long to wait, and when to give up.

Transient: 429; 403 with reason rateLimitExceeded/userRateLimitExceeded; 408 and 5xx;
connection errors, resets and timeouts; Google's token endpoint failing. Everything else
(400, 401 after a refresh, other 403s, 404, a revoked grant, a refused OAuth client) is
final. The server's `Retry-After` header or its "Retry after <RFC 3339 time>" text
sets the least wait; otherwise exponential backoff with full jitter. A wait that would
outlive the run's budget is refused (BudgetExhausted) instead of taken.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

import httplib2
from google.auth.exceptions import TransportError
from googleapiclient.errors import HttpError

from app.deadline import Deadline
from app.gmail.errors import GrantRevoked, OAuthClientRejected, TokenEndpointFailed
from app.logs import log_event

RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
TRANSIENT_STATUSES = {408, 429, 500, 502, 503, 504}
_RETRY_AFTER_TEXT = re.compile(r"Retry after (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)")


@dataclass(frozen=True)
class Verdict:
    transient: bool
    rate_limited: bool = False
    retry_after: float | None = None  # seconds the server asked for, if it did
    reason: str = ""
    systemic: bool = False  # Google's outage or Jessie's configuration, not this account's doing
    concurrent: bool = False  # "Too many concurrent requests for user": fewer parts at once, not fewer units


def _reasons(content: bytes) -> set[str]:
    try:
        errors = json.loads(content.decode("utf-8"))["error"].get("errors", [])
        return {str(item.get("reason", "")) for item in errors if isinstance(item, dict)}
    except (ValueError, KeyError, TypeError, AttributeError):
        return set()


def retry_after_seconds(header: str | None, message: str, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP date) or Gmail's message text."""
    if header:
        header = header.strip()
        if header.isdigit():
            return float(header)
        try:
            return max(0.0, parsedate_to_datetime(header).timestamp() - now)
        except (TypeError, ValueError):
            pass
    match = _RETRY_AFTER_TEXT.search(message or "")
    if match:
        return max(0.0, datetime.fromisoformat(match.group(1)).timestamp() - now)
    return None


def classify(error: BaseException, now: float | None = None) -> Verdict:
    now = time.time() if now is None else now
    if isinstance(error, HttpError):
        status = error.status_code
        reasons = _reasons(error.content or b"")
        wait = retry_after_seconds(error.resp.get("retry-after"), error.reason or "", now)
        label = f"HTTP {status} {', '.join(sorted(reasons)) or error.resp.reason}"
        if status == 429 or (status == 403 and reasons & RATE_REASONS):
            concurrent = "concurrent" in (error.reason or "").lower()
            return Verdict(True, True, wait, label, concurrent=concurrent)
        if status in TRANSIENT_STATUSES:
            return Verdict(True, False, wait, label)
        return Verdict(False, reason=label)
    if isinstance(error, TokenEndpointFailed):
        return Verdict(True, reason=str(error), systemic=True)
    if isinstance(error, OAuthClientRejected):
        return Verdict(False, reason=str(error), systemic=True)
    if isinstance(error, GrantRevoked):
        return Verdict(False, reason=str(error))
    if isinstance(error, TransportError | TimeoutError | socket.timeout | ConnectionError):
        return Verdict(True, reason=type(error).__name__)
    if isinstance(error, http.client.HTTPException | httplib2.HttpLib2Error | OSError):
        return Verdict(True, reason=type(error).__name__)
    return Verdict(False, reason=type(error).__name__)


class RetriesExhausted(Exception):
    def __init__(self, verdict: Verdict, attempts: int) -> None:
        super().__init__(f"gave up after {attempts} attempts: {verdict.reason}")
        self.verdict = verdict


@dataclass
class RetryPolicy:
    deadline: Deadline
    base_s: float = 0.5
    cap_s: float = 32.0
    max_attempts: int = 8
    rng: random.Random | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic  # the deadline's clock, for waits scheduled ahead

    def delay(self, attempt: int, verdict: Verdict) -> float:
        """Full-jitter exponential backoff, never shorter than what the server asked."""
        rng = self.rng or random
        backoff = rng.uniform(0, min(self.cap_s, self.base_s * 2 ** (attempt - 1)))
        return max(backoff, verdict.retry_after or 0.0)

    def schedule(self, attempt: int, verdict: Verdict, failures: int | None = None) -> float:
        """The wait before retry number `attempt`; raises if retrying is not worth it. With
        `failures` (a batch part's transient errors that were not rate limits), only those
        count towards giving up: a rate limit is the quota speaking, retried while the budget
        lasts, so a part that meets many of them among a few 5xx is not lost for the run."""
        counted = attempt if failures is None else failures
        if counted >= self.max_attempts:
            raise RetriesExhausted(verdict, attempt)
        return self.delay(attempt, verdict)

    def wait(self, attempt: int, verdict: Verdict) -> None:
        """Sleep before retry number `attempt`, or raise if retrying is not worth it."""
        delay = self.schedule(attempt, verdict)
        self.retrying(attempt, verdict, delay)
        self.deadline.sleep(delay, f"retry after {verdict.reason}", self.sleep)

    def retrying(self, attempt: int, verdict: Verdict, delay_s: float) -> None:
        """Every retry is logged with why and how long it waits: a slow run explains itself."""
        log_event("gmail.retry", attempt=attempt, reason=verdict.reason, delay_s=round(delay_s, 3))
