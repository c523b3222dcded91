"""One account's sync: a full listing the first time (or after history expires), then history.

Invariants that make it safe to kill at any moment:
- each HTTP batch's messages are upserted, keyed by (account, gmail id), in one
  transaction, and the account's progress (page token, checkpoint) moves in the same
  transaction as the batch that completes it;
- a full sync stamps every message it sees with its generation, so a resumed listing
  skips what it already stored and a resync marks the unseen ones deleted;
- the history checkpoint moves only once its whole window is applied.
"""

from __future__ import annotations

import html
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.config import MissingSetting, Settings
from app.counters import Counters
from app.db.connection import Connection, Database
from app.deadline import MIN_CALL_SECONDS, BudgetExhausted, Deadline
from app.gmail.batch import BatchFetcher, Fetched, Job, Outcome, Wanted
from app.gmail.client import GmailSession
from app.gmail.errors import GrantRevoked, HistoryExpired, PageTokenExpired
from app.gmail.label_census import LabelCensus, census_units, fetch_units
from app.gmail.mime import clean, parse_message
from app.gmail.quota import QuotaMeter
from app.gmail.retry import RetriesExhausted, classify
from app.logs import log_event
from app.security import TokenCipher, WrongEncryptionKey
from app.statuses import AccountOutcome, SyncMode, SyncState
from app.sync import messages, runs
from app.sync.history import plan, replay

RETRY_BATCH = 500  # refused messages fetched again per account and run
LABELS_FRESH_FOR = timedelta(days=1)  # an idle account's label names and colours, re-read daily


@dataclass
class _Page:
    """A listed page of a full sync: where the listing goes on after it, and what it still waits for."""

    next_token: str | None
    known: dict[str, list[str]]  # stored labels of its messages that are only relabelled
    remaining: set[str]
    job: Job


@dataclass(kw_only=True)
class AccountResult(Counters):
    account_id: int
    email: str
    status: AccountOutcome = AccountOutcome.OK
    systemic: bool = False  # failed for a reason that is not this account's (outage, configuration)
    mode: SyncMode = SyncMode.INCREMENTAL
    refused: dict[str, str] = field(default_factory=dict)  # Gmail would not give these now: retried later
    duration_ms: int = 0
    error: str | None = None

    def record(self) -> dict[str, Any]:
        """The sync_run_accounts row."""
        error = self.error
        if self.refused:
            shown = "; ".join(f"{gmail_id}: {reason}" for gmail_id, reason in list(self.refused.items())[:5])
            note = f"Gmail refused {len(self.refused)} message(s) for now, kept to retry next run: {shown}"
            error = f"{error}; {note}" if error else note
        outcome = {"status": self.status, "mode": self.mode, "duration_ms": self.duration_ms, "error": error}
        return {"account_id": self.account_id, **self.counts(), **outcome}


def message_row(message: dict[str, Any], max_body_chars: int) -> messages.MessageRow:
    parsed = parse_message(message, max_body_chars)
    internal = message.get("internalDate")
    return messages.MessageRow(
        gmail_id=message["id"],
        thread_id=message.get("threadId", message["id"]),
        label_ids=list(message.get("labelIds", [])),
        internal_date=datetime.fromtimestamp(int(internal) / 1000, UTC) if internal else parsed.date,
        history_id=int(message["historyId"]) if message.get("historyId") else None,
        size_estimate=message.get("sizeEstimate"),
        subject=parsed.subject,
        sender=parsed.sender,
        recipients=parsed.recipients,
        snippet=clean(html.unescape(message.get("snippet", ""))),
        body_text=parsed.body_text,
        body_html=parsed.body_html,
        body_truncated=parsed.body_truncated,
        attachments=parsed.attachments,
        parse_error=parsed.parse_error,
    )


def describe(error: BaseException) -> str:
    """A failure in words fit for logs: no tokens, no message content."""
    if isinstance(error, GrantRevoked):
        return f"Google refused the refresh token ({error}): the account must be reconnected"
    if isinstance(error, RetriesExhausted | MissingSetting):  # a setting's name, never its value
        return str(error)
    return classify(error).reason or type(error).__name__


class AccountSync:
    def __init__(
        self,
        pool: Database,
        settings: Settings,
        account: runs.AccountRow,
        deadline: Deadline,
        cipher: TokenCipher,
        run_id: int,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.account = account
        self.deadline = deadline
        self.cipher = cipher
        self.run_id = run_id
        self.meter = QuotaMeter(settings.quota_model)
        self.result = AccountResult(account_id=account.id, email=account.email)
        self.labels_listed = False
        self._label_census: LabelCensus | None = None
        self._census_decided = False

    # ---- labels -------------------------------------------------------------------------

    def _labels_stale(self) -> bool:
        synced = self.account.labels_synced_at
        full = self.account.sync_state != SyncState.INCREMENTAL
        return full or synced is None or datetime.now(UTC) - synced > LABELS_FRESH_FOR

    def _changed(self) -> bool:
        result = self.result
        return bool(result.messages_added or result.messages_updated or result.messages_deleted)

    def _list_labels(self, session: GmailSession) -> None:
        self.deadline.ensure(MIN_CALL_SECONDS, "listing labels")
        labels = session.labels()
        with self.pool.connection() as conn:
            messages.store_label_list(conn, self.account.id, labels)
        self.labels_listed = True

    def _recount_labels(self) -> None:
        """The sidebar's counts follow what this run stored, even when its budget ran out."""
        try:
            with self.pool.connection() as conn:
                messages.recount_labels(conn, self.account.id)
        except Exception as error:  # the mail is stored; stale counts are not worth failing it for
            log_event(
                "sync.labels.recount_failed", logging.WARNING, account_id=self.account.id, error=type(error).__name__
            )

    def run(self) -> AccountResult:
        started = time.monotonic()
        try:
            token = self.cipher.decrypt(self.account.refresh_token_encrypted)
            with GmailSession(self.settings, token, self.deadline, self.meter) as session:
                self._sync(session)
        except BudgetExhausted as stop:
            self.result.status, self.result.error = (
                AccountOutcome.INCOMPLETE,
                f"budget spent, resumes next run ({stop})",
            )
        except GrantRevoked as error:
            self.result.status, self.result.error = AccountOutcome.NEEDS_REAUTH, describe(error)
        except WrongEncryptionKey as error:  # configuration: every account would fail alike
            self.result.status, self.result.error, self.result.systemic = AccountOutcome.FAILED, str(error), True
        except Exception as error:
            self.result.status, self.result.error = AccountOutcome.FAILED, describe(error)
            verdict = error.verdict if isinstance(error, RetriesExhausted) else classify(error)
            self.result.systemic = verdict.systemic
        if self._changed() or self.labels_listed:
            self._recount_labels()
        self.result.quota_units = self.meter.units
        self.result.requests = self.meter.requests
        self.result.http_requests = self.meter.http_requests
        self.result.retries = self.meter.retries
        self.result.duration_ms = round((time.monotonic() - started) * 1000)
        return self.result

    def _sync(self, session: GmailSession) -> None:
        fetcher = BatchFetcher(session, self.settings.batch_size)
        if self._labels_stale():
            self._list_labels(session)
        if self.account.sync_state != SyncState.INCREMENTAL:
            self.result.mode = SyncMode.RESYNC if self.account.full_sync_reconcile else SyncMode.FULL
            self._full_sync(session, fetcher)
        try:
            self._incremental(session, fetcher)
        except HistoryExpired:
            self.result.mode = SyncMode.RESYNC
            with self.pool.connection() as conn:
                messages.restart_full_sync(conn, self.account.id)
            self.account.sync_state = SyncState.NEW
            self._full_sync(session, fetcher)
            self._incremental(session, fetcher)
        self._retry_refused(fetcher)
        if self._changed() and not self.labels_listed:
            self._list_labels(session)  # a new label may have come with the changes

    # ---- full listing -------------------------------------------------------------------

    def _full_sync(self, session: GmailSession, fetcher: BatchFetcher) -> None:
        """List and store every message, page by page; a page's stragglers (parts waiting out a
        Retry-After) are fetched beside the next page's mail, and the listing's progress moves
        past a page only once it and every page before it are whole."""
        account = self.account
        if account.sync_state != SyncState.FULL:
            self.deadline.ensure(MIN_CALL_SECONDS, "starting a full sync")
            profile = session.profile()
            start = int(profile["historyId"])
            with self.pool.connection() as conn:
                messages.set_mailbox_total(conn, account.id, int(profile.get("messagesTotal", 0)))
                account.full_sync_generation, account.full_sync_reconcile = messages.begin_full_sync(
                    conn, account.id, start
                )
            account.sync_state, account.full_sync_history_id, account.full_sync_page_token = SyncState.FULL, start, None
        pages: deque[_Page] = deque()  # listed and not yet behind the stored page token, in order
        for results in fetcher.fetch_jobs(self._pages(session, pages)):
            known = {gmail_id: labels for page in pages for gmail_id, labels in page.known.items()}
            with self.pool.connection() as conn:
                self._save(conn, results, known)
                self._pages_done(conn, pages, results)
        if pages:
            raise RuntimeError(f"Gmail's answers left out {len(pages[0].remaining)} wanted message(s)")  # never seen
        account.sync_state, account.history_id = SyncState.INCREMENTAL, account.full_sync_history_id

    def _pages(self, session: GmailSession, pages: deque[_Page]) -> Iterator[Job]:
        """Each listed page's wanted mail, listed only when the fetcher asks for it."""
        token = self.account.full_sync_page_token
        while True:
            self.deadline.ensure(MIN_CALL_SECONDS, "listing messages")
            try:
                listing = session.list_page(token)
            except PageTokenExpired:
                token = None  # list again from the top; what this generation stored is skipped
                continue
            token = listing.get("nextPageToken")
            page = self._page(listing.get("messages", []), token, session)
            pages.append(page)
            if not page.remaining:  # nothing to fetch: the page is whole already
                with self.pool.connection() as conn:
                    self._pages_done(conn, pages, [])
            yield page.job
            if token is None:
                return

    def _page(self, listed: list[dict[str, str]], next_token: str | None, session: GmailSession) -> _Page:
        account = self.account
        threads = {item["id"]: item.get("threadId") for item in listed}
        ids = list(threads)
        with self.pool.connection() as conn:
            done = messages.seen_in_generation(conn, account.id, ids, account.full_sync_generation)
            known = messages.stored_labels(conn, account.id, [i for i in ids if i not in done])
        new_ids = [Wanted(i, threads[i]) for i in ids if i not in done and i not in known]
        old_ids = [i for i in ids if i not in done and i in known]
        page = _Page(next_token, known, {item.gmail_id for item in new_ids} | set(old_ids), Job(full=new_ids))
        census = self._census(session) if old_ids else None
        if census is None:
            page.job.labels = [Wanted(i, threads[i]) for i in old_ids]
        else:
            labels = census.labels(old_ids)
            relabelled = [Fetched(i, Outcome.FETCHED, {"id": i, "labelIds": labels[i]}) for i in old_ids]
            with self.pool.connection() as conn:
                self._save(conn, relabelled, known)
            page.remaining -= set(old_ids)
        return page

    def _pages_done(self, conn: Connection, pages: deque[_Page], results: list[Fetched]) -> None:
        """Pages whose wanted mail has all arrived, and every page before them, move the listing on.
        A page that wants a message whole is not served by its labels alone (another page's thread
        fetched for labels brings all of the thread)."""
        whole = {item.gmail_id for item in results if item.whole}
        labelled = {item.gmail_id for item in results}
        for page in pages:
            page.remaining -= whole | (labelled & page.known.keys())
        while pages and not pages[0].remaining:
            self._page_done(conn, pages.popleft().next_token)

    def _census(self, session: GmailSession) -> LabelCensus | None:
        """Whether stored messages learn their labels from a census of the labels (decided once
        per sync, on what each way would cost for the mail stored)."""
        if not self._census_decided:
            with self.pool.connection() as conn:
                totals = messages.label_totals(conn, self.account.id)
                sizes = messages.thread_sizes(conn, self.account.id)
            model = self.meter.model
            if census_units(totals, model) < fetch_units(sizes, model):
                self._label_census = LabelCensus(session, list(totals))
            self._census_decided = True
        return self._label_census

    def _commit(
        self,
        batches: Iterator[list[Fetched]],
        wanted: set[str],
        known: dict[str, list[str]],
        progress: Callable[[Connection, set[str]], None],
    ) -> None:
        """Each batch in its own transaction; the one that brings the last wanted message (or a
        lone one, when nothing was wanted) also moves the account's progress, given the ids fetched."""
        if not wanted:
            with self.pool.connection() as conn:
                progress(conn, set())
            return
        remaining, fetched = set(wanted), set()
        for results in batches:
            arrived = {item.gmail_id for item in results}
            remaining -= arrived
            fetched |= arrived
            with self.pool.connection() as conn:
                self._save(conn, results, known)
                if not remaining:
                    progress(conn, fetched)
                    return
        raise RuntimeError(f"Gmail's answers left out {len(remaining)} wanted message(s)")  # never seen

    def _page_done(self, conn: Connection, next_token: str | None) -> None:
        """The listing is stored up to `next_token` (and complete when there is none)."""
        account = self.account
        if next_token is not None:
            messages.set_page_token(conn, account.id, next_token)
            return
        assert account.full_sync_history_id is not None
        deleted = messages.finish_full_sync(
            conn, account.id, account.full_sync_generation, account.full_sync_reconcile, account.full_sync_history_id
        )
        self._stored(conn, deleted=deleted)

    # ---- history --------------------------------------------------------------------------

    def _incremental(self, session: GmailSession, fetcher: BatchFetcher) -> None:
        account = self.account
        assert account.history_id is not None
        records: list[dict[str, Any]] = []
        token = None
        while True:
            self.deadline.ensure(MIN_CALL_SECONDS, "reading history")
            page = session.history_page(account.history_id, token)
            records += page.get("history", [])
            latest = int(page["historyId"])
            token = page.get("nextPageToken")
            if token is None:
                break
        changes = plan(records)
        with self.pool.connection() as conn:
            stored = messages.stored_labels(conn, account.id, changes.to_fetch)
        to_fetch = [Wanted(i, changes.threads.get(i)) for i in changes.to_fetch if i not in stored]
        self._commit(
            fetcher.fetch(to_fetch, "full"),
            {item.gmail_id for item in to_fetch},
            {},
            lambda conn, fetched: self._apply_window(conn, changes.deleted, changes.label_ops, fetched, latest),
        )

    def _apply_window(
        self,
        conn: Connection,
        deleted: set[str],
        label_ops: dict[str, list[Any]],
        fetched: set[str],
        latest: int,
    ) -> None:
        account = self.account
        gone = messages.mark_deleted(conn, account.id, sorted(deleted))
        relabel = [gmail_id for gmail_id in label_ops if gmail_id not in fetched and gmail_id not in deleted]
        before = messages.stored_labels(conn, account.id, relabel)
        after = {gmail_id: replay(labels, label_ops[gmail_id]) for gmail_id, labels in before.items()}
        self._stored(conn, updated=messages.save_labels(conn, account.id, after, None, before), deleted=gone)
        if latest != account.history_id:
            messages.set_checkpoint(conn, account.id, latest)
            account.history_id = latest

    # ---- messages Gmail refused on earlier runs -------------------------------------------

    def _retry_refused(self, fetcher: BatchFetcher) -> None:
        """Fetch again what Gmail refused before (not what it refused in this very run)."""
        with self.pool.connection() as conn:
            ids = [i for i in messages.retry_ids(conn, self.account.id, RETRY_BATCH) if i not in self.result.refused]
        self._commit(fetcher.fetch([Wanted(i) for i in ids], "full"), set(ids), {}, lambda _conn, _fetched: None)

    # ---- writing --------------------------------------------------------------------------

    def _save(self, conn: Connection, results: list[Fetched], known: dict[str, list[str]]) -> None:
        rows, labels, refused = [], {}, {}
        for item in results:
            if item.outcome is Outcome.REFUSED:
                refused[item.gmail_id] = item.reason or "refused"
            if item.message is None:
                continue
            if "payload" in item.message:
                rows.append(message_row(item.message, self.settings.max_body_chars))
            elif item.gmail_id in known:  # a thread's other messages are relabelled on their own page
                labels[item.gmail_id] = list(item.message.get("labelIds", []))
        generation = self.account.full_sync_generation
        messages.keep_for_retry(conn, self.account.id, refused)
        messages.settle_retries(
            conn, self.account.id, [item.gmail_id for item in results if item.gmail_id not in refused]
        )
        self.result.refused.update(refused)
        added, updated = messages.save_messages(conn, self.account.id, rows, generation)
        updated += messages.save_labels(conn, self.account.id, labels, generation, known)
        self._stored(conn, added=added, updated=updated)

    def _stored(self, conn: Connection, added: int = 0, updated: int = 0, deleted: int = 0) -> None:
        """Count what this transaction stores, in the run's record too (a killed run still tells)."""
        self.result.messages_added += added
        self.result.messages_updated += updated
        self.result.messages_deleted += deleted
        if added or updated or deleted:
            runs.add_progress(conn, self.run_id, self.account.id, added, updated, deleted)
