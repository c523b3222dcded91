"""The Gmail API v1 methods, on the paths and with the parameters of Google's discovery document.

A call goes through `prepare` (route and authenticate) and then `execute` (count,
inject faults, charge quota, answer), so a direct request and a batch part are treated
exactly alike.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import errors
from .errors import ApiResponse, GoogleApiError
from .mailbox import HistoryExpired, HistoryRecord, Mailbox, StoredMessage, UnknownMessage
from .oauth import GMAIL_SCOPES
from .query import apply_fields, parse_fields, parse_query
from .state import AccountStats, SandboxState

Query = list[tuple[str, str]]
Handler = Callable[[Mailbox, dict[str, str], Query, SandboxState], dict[str, Any]]
_MESSAGE_ID = re.compile(r"^[0-9a-f]{1,16}$")


@dataclass
class ApiCall:
    method: str
    path: str
    query: Query
    headers: dict[str, str]  # lower-case names


@dataclass
class Prepared:
    call: ApiCall
    email: str
    method_id: str
    handler: Handler
    path_params: dict[str, str]


def below(root: str, path: str) -> str:
    """A path as the stand-in's own routes see it when it is served below `root` (a test-mode
    Preview mounts it under a path; clients send that prefix, in batch parts too)."""
    return path[len(root) :] if root and path.startswith(root + "/") else path


def _one(query: Query, name: str, default: str | None = None) -> str | None:
    for key, value in query:
        if key == name:
            return value
    return default


def _all(query: Query, name: str) -> list[str]:
    return [value for key, value in query if key == name]


def _int(query: Query, name: str, default: int, low: int, high: int) -> int:
    text = _one(query, name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise errors.invalid_argument(f"Invalid value at '{name}' (TYPE_UINT32), \"{text}\"") from None
    return max(low, min(high, value))


def _bool(query: Query, name: str) -> bool:
    return (_one(query, name) or "false").lower() == "true"


def _message_id(text: str) -> str:
    if not _MESSAGE_ID.match(text):
        raise errors.invalid_argument("Invalid id value")
    return text


def _token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _untoken(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise errors.invalid_argument("Invalid pageToken") from None


# ---- methods -------------------------------------------------------------------------


def get_profile(mailbox: Mailbox, _p: dict[str, str], _q: Query, _s: SandboxState) -> dict[str, Any]:
    return {
        "emailAddress": mailbox.email,
        "messagesTotal": len(mailbox.messages),
        "threadsTotal": mailbox.threads_total(),
        "historyId": str(mailbox.history_id),
    }


def list_labels(mailbox: Mailbox, _p: dict[str, str], _q: Query, _s: SandboxState) -> dict[str, Any]:
    return {"labels": [dict(label) for label in mailbox.labels.values()]}


def list_messages(mailbox: Mailbox, _p: dict[str, str], query: Query, state: SandboxState) -> dict[str, Any]:
    page_size = _int(query, "maxResults", 100, 1, 500)
    label_ids = _all(query, "labelIds")
    for label in label_ids:
        if label not in mailbox.labels:
            raise errors.invalid_argument(f"Invalid label: {label}")
    search = parse_query(_one(query, "q") or "", mailbox, int(state.clock.wall() * 1000))
    include_hidden = _bool(query, "includeSpamTrash") or search.touches_spam_trash
    include_hidden = include_hidden or any(label in ("SPAM", "TRASH") for label in label_ids)
    matches = [
        message
        for message in mailbox.messages.values()
        if all(label in message.label_ids for label in label_ids)
        and (include_hidden or not ("SPAM" in message.label_ids or "TRASH" in message.label_ids))
        and all(predicate(message) for predicate in search.predicates)
    ]
    matches.sort(key=lambda m: (m.internal_date, m.id), reverse=True)
    start = 0
    token = _one(query, "pageToken")
    if token:
        date_text, _, last_id = _untoken(token).partition(":")
        position = (int(date_text), last_id) if date_text.isdigit() else None
        if position is None:
            raise errors.invalid_argument("Invalid pageToken")
        start = next((i for i, m in enumerate(matches) if (m.internal_date, m.id) < position), len(matches))
    page = matches[start : start + page_size]
    response: dict[str, Any] = {"resultSizeEstimate": len(matches)}
    if page:
        response["messages"] = [{"id": m.id, "threadId": m.thread_id} for m in page]
    if start + page_size < len(matches):
        last = page[-1]
        response["nextPageToken"] = _token(f"{last.internal_date}:{last.id}")
    return response


def _format(query: Query, allowed: tuple[str, ...]) -> str:
    kind = _one(query, "format", "full") or "full"
    if kind not in allowed:
        raise errors.invalid_argument(
            f"Invalid value at 'format' (type.googleapis.com/google.apps.gmail.v1.Format), \"{kind}\""
        )
    return kind


def _message_json(message: StoredMessage, kind: str, query: Query) -> dict[str, Any]:
    response: dict[str, Any] = {"id": message.id, "threadId": message.thread_id}
    if message.label_ids:
        response["labelIds"] = list(message.label_ids)
    response |= {
        "snippet": message.view.snippet,
        "sizeEstimate": message.view.size,
        "historyId": str(message.history_id),
        "internalDate": str(message.internal_date),
    }
    if kind == "full":
        response["payload"] = message.view.payload()
    elif kind == "metadata":
        response["payload"] = message.view.metadata_payload(_all(query, "metadataHeaders") or None)
    elif kind == "raw":
        response["raw"] = message.view.raw_b64()
    return response


def get_message(mailbox: Mailbox, params: dict[str, str], query: Query, _s: SandboxState) -> dict[str, Any]:
    kind = _format(query, ("minimal", "full", "raw", "metadata"))
    return _message_json(mailbox.get(_message_id(params["id"])), kind, query)


def get_thread(mailbox: Mailbox, params: dict[str, str], query: Query, _s: SandboxState) -> dict[str, Any]:
    """A thread's messages, oldest first, spam and trash included; threads have no raw format."""
    kind = _format(query, ("full", "metadata", "minimal"))
    messages = mailbox.thread(_message_id(params["id"]))
    return {
        "id": params["id"],
        "historyId": str(max(message.history_id for message in messages)),
        "messages": [_message_json(message, kind, query) for message in messages],
    }


def get_attachment(mailbox: Mailbox, params: dict[str, str], _q: Query, _s: SandboxState) -> dict[str, Any]:
    message = mailbox.get(_message_id(params["messageId"]))
    data = message.view.attachment(params["id"])
    if data is None:
        raise errors.invalid_argument("Invalid attachment token")
    return {"size": len(data), "data": base64.urlsafe_b64encode(data).decode()}


def _history_json(record: HistoryRecord) -> dict[str, Any]:
    ref = {"id": record.message_id, "threadId": record.thread_id}
    full = {**ref, "labelIds": list(record.message_labels)}
    entry: dict[str, Any] = {"id": str(record.id), "messages": [ref]}
    if record.kind == "messageAdded":
        entry["messagesAdded"] = [{"message": full}]
    elif record.kind == "messageDeleted":
        entry["messagesDeleted"] = [{"message": full}]
    elif record.kind == "labelAdded":
        entry["labelsAdded"] = [{"message": full, "labelIds": list(record.label_ids)}]
    else:
        entry["labelsRemoved"] = [{"message": full, "labelIds": list(record.label_ids)}]
    return entry


def list_history(mailbox: Mailbox, _p: dict[str, str], query: Query, _s: SandboxState) -> dict[str, Any]:
    start_text = _one(query, "startHistoryId")
    if not start_text:
        raise errors.invalid_argument("Missing required field: startHistoryId")
    if not start_text.isdigit():
        raise errors.invalid_argument(f"Invalid value at 'start_history_id' (TYPE_UINT64), \"{start_text}\"")
    kinds = set(_all(query, "historyTypes"))
    unknown = kinds - {"messageAdded", "messageDeleted", "labelAdded", "labelRemoved"}
    if unknown:
        raise errors.invalid_argument(f"Invalid value at 'history_types', \"{sorted(unknown)[0]}\"")
    label = _one(query, "labelId")
    page_size = _int(query, "maxResults", 100, 1, 500)
    after = int(start_text)
    token = _one(query, "pageToken")
    if token:
        decoded = _untoken(token)
        if not decoded.isdigit():
            raise errors.invalid_argument("Invalid pageToken")
        after = max(after, int(decoded))
    try:
        records = mailbox.history_since(int(start_text))
    except HistoryExpired:
        raise errors.not_found() from None
    selected = [
        record
        for record in records
        if record.id > after
        and (not kinds or record.kind in kinds)
        and (label is None or label in record.message_labels or label in record.label_ids)
    ]
    page = selected[:page_size]
    response: dict[str, Any] = {"historyId": str(mailbox.history_id)}
    if page:
        response["history"] = [_history_json(record) for record in page]
    if len(selected) > page_size:
        response["nextPageToken"] = _token(str(page[-1].id))
    return response


_USER = r"^/gmail/v1/users/(?P<user>[^/]+)"
ROUTES: list[tuple[re.Pattern[str], str, Handler]] = [
    (re.compile(_USER + r"/profile$"), "gmail.users.getProfile", get_profile),
    (re.compile(_USER + r"/labels$"), "gmail.users.labels.list", list_labels),
    (re.compile(_USER + r"/messages$"), "gmail.users.messages.list", list_messages),
    (re.compile(_USER + r"/messages/(?P<id>[^/]+)$"), "gmail.users.messages.get", get_message),
    (
        re.compile(_USER + r"/messages/(?P<messageId>[^/]+)/attachments/(?P<id>[^/]+)$"),
        "gmail.users.messages.attachments.get",
        get_attachment,
    ),
    (re.compile(_USER + r"/history$"), "gmail.users.history.list", list_history),
    (re.compile(_USER + r"/threads/(?P<id>[^/]+)$"), "gmail.users.threads.get", get_thread),
]


def _bearer(call: ApiCall) -> str | None:
    header = call.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return _one(call.query, "access_token") or _one(call.query, "oauth_token")


def _route(call: ApiCall) -> tuple[str, Handler, re.Match[str]]:
    for pattern, method_id, handler in ROUTES:
        match = pattern.match(call.path)
        if match:
            return method_id, handler, match
    raise GoogleApiError(404, f"Method not found: {call.method} {call.path}", "notFound")


def prepare(state: SandboxState, call: ApiCall) -> Prepared:
    """Route and authenticate a call; raises GoogleApiError for what Gmail refuses up front."""
    state.gmail_requests += 1
    method_id, handler, match = _route(call)
    if call.method != "GET":
        raise GoogleApiError(405, "Method not allowed for this resource.", "methodNotAllowed")
    grant = state.oauth.authenticate(_bearer(call) or "")
    if grant is None:
        raise errors.unauthenticated()
    if not set(grant.scope.split()) & GMAIL_SCOPES:
        raise GoogleApiError(403, "Request had insufficient authentication scopes.", "insufficientPermissions")
    params = match.groupdict()
    user = params.pop("user")
    if user not in ("me", grant.email):
        raise errors.forbidden(f"Delegation denied for {grant.email}")
    if grant.email not in state.mailboxes:
        raise errors.failed_precondition("Mail service not enabled")
    return Prepared(call, grant.email, method_id, handler, params)


def _count(state: SandboxState, prepared: Prepared) -> AccountStats:
    """Every call that reaches a mailbox is counted and charged, whatever its answer."""
    stats = state.stats[prepared.email]
    stats.requests += 1
    stats.quota_units += state.quota.cost(prepared.method_id)
    stats.methods[prepared.method_id] += 1
    return stats


def reject(state: SandboxState, prepared: Prepared, error: GoogleApiError) -> ApiResponse:
    _count(state, prepared).rate_limited += 1
    return error.response()


def execute(state: SandboxState, prepared: Prepared) -> ApiResponse:
    stats = _count(state, prepared)
    cost = state.quota.cost(prepared.method_id)
    try:
        fault = state.faults.for_call()
        if fault == "error":
            stats.errors_injected += 1
            raise errors.backend_error(state.faults.error_status())
        if fault == "rate_limit":
            stats.errors_injected += 1
            raise errors.user_rate_limited(1.0, state.clock.wall(), state.faults.rate_limit_style())
        if fault == "precondition" and prepared.method_id in ("gmail.users.messages.get", "gmail.users.threads.get"):
            stats.errors_injected += 1
            raise errors.failed_precondition()
        refusal = state.quota.charge(prepared.email, cost, state.clock.monotonic(), state.clock.wall())
        if refusal is not None:
            stats.rate_limited += 1
            style = state.faults.rate_limit_style()
            if refusal.per_project:
                raise errors.project_rate_limited(refusal.wait_s, style)
            raise errors.user_rate_limited(refusal.wait_s, state.clock.wall(), style)
        mailbox = state.mailboxes[prepared.email]
        call = prepared.call
        result: object = prepared.handler(mailbox, prepared.path_params, call.query, state)
        fields = _one(call.query, "fields")
        if fields:
            result = apply_fields(result, parse_fields(fields))
        return ApiResponse.json(200, result)
    except UnknownMessage:
        return errors.not_found().response()
    except GoogleApiError as error:
        return error.response()


def handle(state: SandboxState, call: ApiCall) -> ApiResponse:
    try:
        prepared = prepare(state, call)
    except GoogleApiError as error:
        return error.response()
    return execute(state, prepared)
