"""messages.get in batches: adaptive size, bounded memory, failed parts retried on their own.

google-api-python-client's `BatchHttpRequest.execute()` never retries a part (except
after a 401), so this module does: transient parts go back to the front of the queue,
the batch shrinks when Gmail says "too many concurrent requests" or rate-limits, and
grows back after clean batches, never above 50 (Gmail's advice). `format=raw` batches
are also bounded by the messages' size class (`sizes.py`): large messages come alone.
Results are yielded one HTTP batch at a time so the caller can commit each batch in one
transaction.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from app.deadline import MIN_CALL_SECONDS
from app.gmail.client import GmailSession
from app.gmail.retry import Verdict, classify
from app.gmail.sizes import CENSUS_MIN_IDS, IN_FLIGHT, MAX_BATCH, MAX_MESSAGE_BYTES, SizeCensus, pack


class Outcome(Enum):
    FETCHED = "fetched"
    GONE = "gone"  # 404: deleted since it was listed
    REFUSED = "refused"  # a final error for now (e.g. 400 failedPrecondition): worth a later try


@dataclass(frozen=True)
class Fetched:
    gmail_id: str
    outcome: Outcome
    message: dict[str, Any] | None = None
    reason: str | None = None  # why Gmail refused it


class BatchFetcher:
    def __init__(self, session: GmailSession, max_size: int = MAX_BATCH) -> None:
        self.session = session
        self.census = SizeCensus(session)
        self.max_size = min(max_size, MAX_BATCH)
        self.size = self.max_size

    def fetch(self, ids: list[str], fmt: str) -> Iterator[list[Fetched]]:
        unique = list(dict.fromkeys(ids))
        if fmt != "raw":  # labels only: every answer is small
            yield from self._fetch(unique, fmt, {})
            return
        sizes = self.census.sizes(unique) if len(unique) >= CENSUS_MIN_IDS else self._probe(unique)
        yield from self._fetch(sorted(unique, key=lambda gmail_id: sizes[gmail_id]), fmt, sizes)

    def _probe(self, ids: list[str]) -> dict[str, int]:
        """Exact sizes from one cheap `format=minimal` batch (what fails here is fetched alone)."""
        sizes = dict.fromkeys(ids, MAX_MESSAGE_BYTES)
        for results in self._fetch(ids, "minimal", {}, fields="id,sizeEstimate"):
            for item in results:
                if item.message is not None:
                    sizes[item.gmail_id] = int(item.message.get("sizeEstimate", MAX_MESSAGE_BYTES))
        return sizes

    def _fetch(
        self, ids: list[str], fmt: str, sizes: dict[str, int], fields: str | None = None
    ) -> Iterator[list[Fetched]]:
        """Batches of `ids`, packed by `sizes` (none given: the answers are small)."""
        queue: deque[tuple[str, int]] = deque((gmail_id, 0) for gmail_id in ids)
        while queue:
            deadline = self.session.deadline
            deadline.ensure(MIN_CALL_SECONDS, "fetching messages")
            waiting = [gmail_id for gmail_id, _ in queue]
            count = pack(waiting, sizes, self.size) if sizes else min(self.size, len(queue))
            chunk = [queue.popleft() for _ in range(count)]
            weight = sum(sizes.get(gmail_id, 0) for gmail_id, _ in chunk)
            with IN_FLIGHT.holding(weight, deadline):
                done, again = self._send(chunk, fmt, fields)
                if done:
                    yield done
            if not again:
                self.size = min(self.max_size, self.size + max(1, self.size // 4))
                continue
            verdicts = [verdict for _, _, verdict in again]
            if any(verdict.rate_limited for verdict in verdicts):
                self.size = max(1, self.size // 2)
            attempt = max(attempts for _, attempts, _ in again) + 1
            slowest = max(verdicts, key=lambda verdict: verdict.retry_after or 0.0)
            self.session.retry.wait(attempt, slowest)
            self.session.meter.retries += len(again)
            queue.extendleft((gmail_id, attempt) for gmail_id, _, _ in reversed(again))

    def _send(
        self, chunk: list[tuple[str, int]], fmt: str, fields: str | None
    ) -> tuple[list[Fetched], list[tuple[str, int, Verdict]]]:
        responses: dict[str, tuple[Any, HttpError | None]] = {}

        def collect(request_id: str, response: Any, error: HttpError | None) -> None:
            responses[request_id] = (response, error)

        batch = BatchHttpRequest(callback=collect, batch_uri=self.session.batch_uri)
        for gmail_id, _ in chunk:
            batch.add(
                self.session.messages.get(userId="me", id=gmail_id, format=fmt, fields=fields), request_id=gmail_id
            )
        try:
            batch.execute(http=self.session.http)
        except Exception as failure:  # the whole HTTP request failed: every part is retried
            verdict = classify(failure)
            if not verdict.transient:
                raise
            return [], [(gmail_id, attempts, verdict) for gmail_id, attempts in chunk]
        done: list[Fetched] = []
        again: list[tuple[str, int, Verdict]] = []
        for gmail_id, attempts in chunk:
            response, error = responses.get(gmail_id, (None, None))
            if error is None and response is not None:
                done.append(Fetched(gmail_id, Outcome.FETCHED, response))
                continue
            if error is not None and error.status_code == 404:
                done.append(Fetched(gmail_id, Outcome.GONE))
                continue
            verdict = classify(error) if error is not None else Verdict(True, reason="part missing from response")
            if verdict.transient:
                again.append((gmail_id, attempts, verdict))
            else:
                done.append(Fetched(gmail_id, Outcome.REFUSED, reason=verdict.reason))
        return done, again
