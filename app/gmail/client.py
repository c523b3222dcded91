"""One account's Gmail access: google-api-python-client + google-auth, paced and metered.

Endpoints come from settings, so the same code talks to Gmail or to the sandbox. Two
library facts shape this module: google-auth's `from_authorized_user_*` constructors
ignore the token URI they are given, so `Credentials` is built directly; and
`new_batch_http_request()` ignores the API endpoint, so batches get an explicit URI.
"""

from __future__ import annotations

from typing import Any, Self
from urllib.parse import urlsplit

import httplib2
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from app.config import Settings
from app.deadline import Deadline
from app.gmail.errors import HistoryExpired, PageTokenExpired, token_error
from app.gmail.mime import attachment_data, attachment_parts, decode_data
from app.gmail.quota import MinutePacer, Pacer, QuotaMeter, RatePacer, method_for, methods_in_batch
from app.gmail.retry import RetryPolicy, classify
from app.google_http import google_http

Json = dict[str, Any]
PAGE_SIZE = 500  # the most messages.list and history.list give in one page


class MeteredHttp(AuthorizedHttp):  # type: ignore[misc]
    """Every HTTP send to Gmail is paced and counted here, including resends after a 401.

    Token refreshes go through the inner transport, so OAuth calls are neither.
    """

    def __init__(
        self, credentials: Credentials, http: httplib2.Http, meter: QuotaMeter, pacer: Pacer, deadline: Deadline
    ) -> None:
        super().__init__(credentials, http=http)
        self.meter = meter
        self.pacer = pacer
        self.deadline = deadline

    def request(self, uri: str, method: str = "GET", body: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        try:
            return self._paced_request(uri, method, body, headers, **kwargs)
        except RefreshError as error:  # before the call, or after a 401 inside it
            raise token_error(error) from None

    def _paced_request(self, uri: str, method: str, body: Any, headers: Any, **kwargs: Any) -> Any:
        path = urlsplit(uri).path
        if path.startswith("/batch") or "/batch/" in path:
            text = body.decode() if isinstance(body, bytes) else str(body or "")
            methods = methods_in_batch(text)
        else:
            methods = [method_for(path)]
        if not self.credentials.valid:
            # Refresh first, so a refused token (invalid_grant) is not counted as a Gmail call.
            self.credentials.refresh(self._request)
        self.pacer.acquire(self.meter.model.units(methods), self.deadline)
        self.meter.record(methods)
        return super().request(uri, method, body=body, headers=headers, **kwargs)


def pacer_for(settings: Settings) -> Pacer:
    """The model's per-minute pacing, or a per-second rate when one is set."""
    if settings.quota_units_per_second is not None:
        return RatePacer(settings.quota_units_per_second)
    return MinutePacer(settings.quota_model.per_user_per_minute)


class GmailSession:
    """Not thread-safe (httplib2): one session per account sync, in one thread."""

    def __init__(
        self,
        settings: Settings,
        refresh_token: str,
        deadline: Deadline,
        meter: QuotaMeter | None = None,
    ) -> None:
        self.meter = meter or QuotaMeter(settings.quota_model)
        self.deadline = deadline
        self.credentials = Credentials(  # type: ignore[no-untyped-call]
            None,
            refresh_token=refresh_token,
            token_uri=settings.google_token_uri,
            client_id=settings.require("google_client_id"),
            client_secret=settings.require("google_client_secret"),
        )
        self.pacer = pacer_for(settings)
        transport = google_http(settings)
        self.http = MeteredHttp(self.credentials, transport, self.meter, self.pacer, deadline)
        self.endpoint = settings.gmail_api_endpoint
        self.batch_uri = self.endpoint + "batch/gmail/v1"
        service = build(
            "gmail",
            "v1",
            http=self.http,
            client_options={"api_endpoint": self.endpoint},
            static_discovery=True,
            cache_discovery=False,
        )
        # Resources are rebuilt on every `.users()` call, which costs more than the call
        # itself in a batch of 50: build them once.
        users = service.users()
        self.messages = users.messages()
        self._users = users
        self.threads = users.threads()
        self._history = users.history()
        self.retry = RetryPolicy(deadline, base_s=settings.retry_base_s)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        """Its connections closed when the sync is done, not whenever the collector gets to them
        (a Fluid instance serves many syncs)."""
        self.http.close()

    def execute(self, request: Any) -> Json:
        """One call, retried on transient failures under the one retry policy."""
        attempt = 0
        while True:
            try:
                result: Json = request.execute(http=self.http, num_retries=0)
                return result
            except Exception as error:
                verdict = classify(error)
                if not verdict.transient:
                    raise
                attempt += 1
                self.retry.wait(attempt, verdict)
                self.meter.retries += 1

    def profile(self) -> Json:
        return self.execute(self._users.getProfile(userId="me"))

    def labels(self) -> list[Json]:
        """The mailbox's labels: ids, names, types, colours (labels.list carries no counts)."""
        return list(self.execute(self._users.labels().list(userId="me")).get("labels", []))

    def list_page(self, page_token: str | None) -> Json:
        """One page of every message id, spam and trash included (PageTokenExpired if Gmail
        no longer knows `page_token`)."""
        request = self.messages.list(userId="me", maxResults=PAGE_SIZE, pageToken=page_token, includeSpamTrash=True)
        try:
            return self.execute(request)
        except HttpError as error:
            if error.status_code == 400 and page_token is not None:
                raise PageTokenExpired from error
            raise

    def list_ids(self, query: str | None = None, label_id: str | None = None) -> set[str]:
        """Every id a search (or a label) matches, spam and trash included (ids only: `fields`)."""
        ids: set[str] = set()
        token = None
        while True:
            page = self.execute(
                self.messages.list(
                    userId="me",
                    q=query,
                    labelIds=[label_id] if label_id else None,
                    maxResults=PAGE_SIZE,
                    pageToken=token,
                    includeSpamTrash=True,
                    fields="messages(id),nextPageToken",
                )
            )
            ids.update(item["id"] for item in page.get("messages", []))
            token = page.get("nextPageToken")
            if token is None:
                return ids

    def attachment(self, message_id: str, number: int) -> bytes:
        """The `number`th attachment's bytes (counted as attachment_parts counts them): the
        message is read again for its part, since Gmail's attachment ids change between requests.
        IndexError when the message no longer has it."""
        message = self.execute(self.messages.get(userId="me", id=message_id, format="full", fields="payload"))
        attachment_id, inline = attachment_data(attachment_parts(message.get("payload") or {})[number])
        if inline is not None:
            return inline
        found = self.execute(self.messages.attachments().get(userId="me", messageId=message_id, id=attachment_id))
        return decode_data(str(found.get("data") or ""))

    def history_page(self, start_history_id: int, page_token: str | None) -> Json:
        """One page of changes since `start_history_id` (HistoryExpired once Gmail dropped them)."""
        request = self._history.list(
            userId="me",
            startHistoryId=str(start_history_id),
            historyTypes=["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"],
            maxResults=PAGE_SIZE,
            pageToken=page_token,
        )
        try:
            return self.execute(request)
        except HttpError as error:
            if error.status_code == 404:
                raise HistoryExpired from error
            raise
