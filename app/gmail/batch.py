"""Fetching messages at the least cost per stored message, in batches that recover from faults.

The plan: a wanted message is fetched by `messages.get`, unless its thread has so many wanted
messages that one `threads.get` costs less (under both quota models a thread costs two gets, so
from three on). Content comes as `format=full` (threads have no raw format, and Gmail's parsed
tree leaves attachment data out); label refreshes as `format=minimal`. A thread brings all its
messages: wanted ones missing from it (moved, or deleted since listed) are asked for one by one,
so a stale thread id never loses a message.

google-api-python-client's `BatchHttpRequest.execute()` never retries a part (except after a
401), so this module does, part by part: a transient failure puts the part back with its own
wait (the server's `Retry-After`, else backoff) while the other parts go on, so one slow part
never idles the account; nothing but Gmail's "too many concurrent requests" makes batches
smaller (`_adapt`), never above 50 (Gmail's advice); a batch refused whole for quota holds the
account's pacer until Gmail's time. Results are yielded one HTTP batch at
a time so the caller can commit each batch in one transaction.

Mail can be wanted in jobs (a full listing's pages): the next job is taken as soon as the parts
at hand cannot fill a batch, so a page's last parts, waiting out a `Retry-After`, ride along
with the next page's instead of idling the account; at most LOOKAHEAD jobs are open at once.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from app.deadline import MIN_CALL_SECONDS
from app.gmail.client import GmailSession
from app.gmail.quota import QuotaModel
from app.gmail.retry import RetriesExhausted, Verdict, classify
from app.gmail.sizes import CENSUS_MIN_IDS, IN_FLIGHT, MAX_BATCH, SMALL_BYTES, SizeCensus, pack

Format = Literal["full", "minimal"]
THREAD_GET = "gmail.users.threads.get"
PROBE_AFTER = 8  # clean batches in a row before trying a larger one
MESSAGE_GET = "gmail.users.messages.get"
LOOKAHEAD = 2  # jobs with parts still to fetch, at most


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

    @property
    def whole(self) -> bool:
        """Whether it settles a want for the message's content: fetched in full, gone or refused.
        A label-only answer (`format=minimal`, which a thread brings for all its messages) does not."""
        return self.message is None or "payload" in self.message


@dataclass(frozen=True)
class Wanted:
    gmail_id: str
    thread_id: str | None = None  # as messages.list or history gave it


@dataclass
class Job:
    """Mail wanted together: its content (`format=full`), or only its labels (`format=minimal`)."""

    full: list[Wanted] = field(default_factory=list)
    labels: list[Wanted] = field(default_factory=list)


@dataclass
class Call:
    """One batch part: a message, or a thread carrying `wanted` (and maybe more)."""

    thread: bool
    target: str  # the message's or the thread's id
    wanted: tuple[str, ...]
    weight: int  # bytes of mail its answer may bring, as far as known
    fmt: Format = "full"
    job: int = 0  # which of the fetch's jobs it serves
    attempts: int = 0
    failures: int = 0  # transient errors other than rate limits (retry.RetryPolicy.schedule)
    not_before: float = 0.0


def plan(
    wanted: list[Wanted], model: QuotaModel, sizes: dict[str, int], default: int, fmt: Format = "full"
) -> list[Call]:
    """The cheapest calls that bring every wanted message, in the order they were wanted; a
    message weighs its size's bound, `default` when none is known."""
    by_thread: dict[str, list[str]] = defaultdict(list)
    for item in wanted:
        if item.thread_id:
            by_thread[item.thread_id].append(item.gmail_id)
    calls: list[Call] = []
    planned: set[str] = set()
    for item in wanted:
        siblings = by_thread.get(item.thread_id or "", [])
        if item.thread_id and model.costs[THREAD_GET] < len(siblings) * model.costs[MESSAGE_GET]:
            if item.thread_id not in planned:
                planned.add(item.thread_id)
                weight = sum(sizes.get(gmail_id, default) for gmail_id in siblings)
                calls.append(Call(True, item.thread_id, tuple(siblings), weight, fmt))
        else:
            calls.append(Call(False, item.gmail_id, (item.gmail_id,), sizes.get(item.gmail_id, default), fmt))
    return calls


class BatchFetcher:
    def __init__(self, session: GmailSession, max_size: int = MAX_BATCH) -> None:
        self.session = session
        self.census = SizeCensus(session)
        self.max_size = min(max_size, MAX_BATCH)
        self.size = self.max_size
        self._clean_batches = 0  # in a row, at this size

    def fetch(self, wanted: list[Wanted], fmt: Format = "full") -> Iterator[list[Fetched]]:
        """Every wanted message, once, in batches; a thread's other messages come along."""
        job = Job(full=wanted) if fmt == "full" else Job(labels=wanted)
        yield from self.fetch_jobs([job])

    def fetch_jobs(self, jobs: Iterable[Job]) -> Iterator[list[Fetched]]:
        """Every job's wanted messages, in batches that may mix jobs; a job is taken from `jobs`
        only when the parts at hand cannot fill a batch (so a lazy iterable lists a page only
        when it is needed) and fewer than LOOKAHEAD jobs are open."""
        yield from self._run(iter(jobs))

    def _calls(self, job: Job, number: int) -> list[Call]:
        full = _unique(job.full)
        sizes = self.census.sizes([item.gmail_id for item in full]) if len(full) >= CENSUS_MIN_IDS else {}
        model = self.session.meter.model
        calls = plan(full, model, sizes, SMALL_BYTES)
        if sizes:  # small mail first: the batches fill up, the large messages come alone at the end
            calls.sort(key=lambda call: call.weight)
        calls += plan(_unique(job.labels), model, {}, 0, "minimal")  # labels only: every answer is small
        for call in calls:
            call.job = number
        return calls

    def _run(self, jobs: Iterator[Job]) -> Iterator[list[Fetched]]:
        queue: list[Call] = []
        open_calls: Counter[int] = Counter()  # each open job's calls not yet answered for good
        taken = 0
        # A thread of one job may bring what a later one wants: in full, or only its labels.
        arrived_whole: set[str] = set()
        arrived: set[str] = set()

        def satisfied(call: Call) -> bool:
            return (arrived_whole if call.fmt == "full" else arrived).issuperset(call.wanted)

        policy = self.session.retry
        sent = failed = 0  # parts sent and parts that failed, in this fetch
        while True:
            brought = [call for call in queue if satisfied(call)]
            if brought:  # another job's thread brought them meanwhile
                queue = [call for call in queue if not satisfied(call)]
                open_calls.subtract(call.job for call in brought)
            now = policy.clock()
            ready = [call for call in queue if call.not_before <= now]
            if len(ready) < self.size and len(+open_calls) < LOOKAHEAD:
                job = next(jobs, None)
                if job is not None:
                    calls = self._calls(job, taken)
                    open_calls[taken] = len(calls)
                    taken += 1
                    queue += calls
                    continue
            if not queue:
                return
            deadline = self.session.deadline
            deadline.ensure(MIN_CALL_SECONDS, "fetching messages")
            if not ready:
                soonest = min(call.not_before for call in queue)
                deadline.sleep(soonest - now, "waiting to retry refused parts", policy.sleep)
                continue
            chunk = ready[: pack([call.weight for call in ready], self.size)]
            chosen = {id(call) for call in chunk}
            queue = [call for call in queue if id(call) not in chosen]
            with IN_FLIGHT.holding(sum(call.weight for call in chunk), deadline):
                done, again, split, whole = self._send(chunk)
                arrived.update(item.gmail_id for item in done)
                arrived_whole.update(item.gmail_id for item in done if item.whole)
                if done:
                    yield done
            sent, failed = sent + len(chunk), failed + len(again)
            queue = split + queue
            open_calls.update(call.job for call in split)
            open_calls.subtract(call.job for call in chunk)
            open_calls.update(call.job for call, _ in again)
            self._adapt(len(chunk), sum(1 for _, verdict in again if verdict.concurrent), not again)
            if not again:
                continue
            # Every part of a batch refused for rate: the account's minute is spent (one part
            # refused alone says nothing of the others, and holds only itself, below).
            refused_all = len(chunk) > 1 and len(again) == len(chunk)
            if refused_all and all(v.rate_limited and not v.concurrent for _, v in again):
                waits = [verdict.retry_after for _, verdict in again if verdict.retry_after]
                if waits:  # the account's minute is spent, whatever the pacer counted
                    self.session.pacer.hold(min(waits))
            now = policy.clock()
            # Most parts sent so far went through: these failures are the parts' own (a flaky
            # backend, a rate limit on one call), not overload, so they go again in the next
            # batch after what the server asked for, without backoff: the account keeps its pace.
            # A batch whose HTTP request failed as a whole (Gmail unreachable) is never that.
            isolated = not whole and failed * 2 < sent
            retried, given_up = [], []
            for call, verdict in again:
                call.attempts += 1
                call.failures += 0 if verdict.rate_limited else 1
                try:
                    backoff = policy.schedule(call.attempts, verdict, call.failures)
                except RetriesExhausted as gave_up:
                    if not isolated:  # most of what was sent failed: Google's trouble, not the message's
                        raise
                    # One part that keeps failing while the rest go through: kept for a later run
                    # (jessie.message_retries), as a message Gmail refuses for now is.
                    given_up += [Fetched(gmail_id, Outcome.REFUSED, reason=str(gave_up)) for gmail_id in call.wanted]
                    open_calls[call.job] -= 1
                    continue
                delay = (verdict.retry_after or 0.0) if isolated else backoff
                policy.retrying(call.attempts, verdict, delay)
                call.not_before = now + delay
                self.session.meter.retries += 1
                retried.append(call)
            if given_up:
                yield given_up
            queue = retried + queue

    def _adapt(self, sent: int, crowded: int, clean: bool) -> None:
        """Batch size: what got through when Gmail said "too many concurrent requests" (the cap
        at that moment), and a quarter more after PROBE_AFTER clean batches (the cap moves with
        the user's other requests). Other failures leave it alone: they are not about size."""
        if crowded:
            self.size = max(1, sent - crowded)
            self._clean_batches = 0
        elif clean:
            self._clean_batches += 1
            if self._clean_batches >= PROBE_AFTER and self.size < self.max_size:
                self.size = min(self.max_size, self.size + max(1, self.size // 4))
                self._clean_batches = 0

    def _request(self, call: Call) -> Any:
        if call.thread:
            return self.session.threads.get(userId="me", id=call.target, format=call.fmt)
        return self.session.messages.get(userId="me", id=call.target, format=call.fmt)

    def _send(self, chunk: list[Call]) -> tuple[list[Fetched], list[tuple[Call, Verdict]], list[Call], bool]:
        """One HTTP batch: (results, calls to retry with why, wanted messages to ask for alone,
        whether the HTTP request itself failed)."""
        responses: dict[str, tuple[Any, HttpError | None]] = {}

        def collect(request_id: str, response: Any, error: HttpError | None) -> None:
            responses[request_id] = (response, error)

        batch = BatchHttpRequest(callback=collect, batch_uri=self.session.batch_uri)
        for index, call in enumerate(chunk):
            batch.add(self._request(call), request_id=str(index))
        try:
            batch.execute(http=self.session.http)
        except Exception as failure:  # the whole HTTP request failed: every part is retried
            verdict = classify(failure)
            if not verdict.transient:
                raise
            return [], [(call, verdict) for call in chunk], [], True
        done: list[Fetched] = []
        again: list[tuple[Call, Verdict]] = []
        alone: list[Call] = []
        for index, call in enumerate(chunk):
            response, error = responses.get(str(index), (None, None))
            if error is None and response is not None:
                if not call.thread:
                    done.append(Fetched(call.target, Outcome.FETCHED, response))
                    continue
                messages = [message for message in response.get("messages", []) if message.get("id")]
                done += [Fetched(message["id"], Outcome.FETCHED, message) for message in messages]
                arrived = {message["id"] for message in messages}
                alone += [_alone(gmail_id, call) for gmail_id in call.wanted if gmail_id not in arrived]
                continue
            if error is not None and error.status_code == 404:
                if call.thread:  # the thread is gone or renamed: each message answers for itself
                    alone += [_alone(gmail_id, call) for gmail_id in call.wanted]
                else:
                    done.append(Fetched(call.target, Outcome.GONE))
                continue
            verdict = classify(error) if error is not None else Verdict(True, reason="part missing from response")
            if verdict.transient:
                again.append((call, verdict))
            else:
                done += [Fetched(gmail_id, Outcome.REFUSED, reason=verdict.reason) for gmail_id in call.wanted]
        return done, again, alone, False


def _unique(wanted: list[Wanted]) -> list[Wanted]:
    """Each message once, as first wanted."""
    first: dict[str, Wanted] = {}
    for item in wanted:
        first.setdefault(item.gmail_id, item)
    return list(first.values())


def _alone(gmail_id: str, thread: Call) -> Call:
    """A wanted message its thread's answer left out, asked for by itself for the same job."""
    weight = SMALL_BYTES if thread.fmt == "full" else 0
    return Call(False, gmail_id, (gmail_id,), weight, thread.fmt, thread.job)
