"""Log Drains as Vercel runs them (custom HTTP drains: Pro and Enterprise plans).

- Configured through the REST API (`POST /v1/drains`: name, projects "all" | "some" with
  projectIds, schemas {"log": {"version": "v1"}}, delivery {type "http", endpoint, encoding
  "json" | "ndjson", compression "none" | "gzip", headers, secret}, optional filter and
  sampling). Before a drain is created its endpoint is verified: it must answer a GET with
  the team's code (`GET /v1/verify-endpoint` → verificationCode) in `x-vercel-verify`.
- Every runtime log entry (the drain schema: id, message, timestamp, type, source, projectId,
  deploymentId, host, path, proxy, requestId, statusCode, level, environment) goes to each drain
  whose projects, filter and sampling take it: POSTed in batches, a JSON array or NDJSON,
  signed (`x-vercel-signature`: hex HMAC-SHA1 of the body with the drain's secret), with the
  drain's own headers. A delivery the endpoint does not accept (no 2xx, no answer) is retried
  with backoff; after the last retry the batch is dropped and the drain is marked `errored`.
- Entries of the drain endpoint's own requests are delivered too, as on Vercel: an endpoint
  that logs on every delivery feeds itself.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import random
import secrets
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from .state import VercelState

BATCH_MAX_ENTRIES = 500
DELIVER_EVERY_S = 1.0
RETRY_DELAYS_S = (1.0, 2.0, 4.0)
DELIVERY_TIMEOUT_S = 30.0
ENCODINGS = {"json": "application/json", "ndjson": "application/x-ndjson"}


class DrainError(ValueError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


@dataclass
class Drain:
    id: str
    name: str
    owner_id: str
    project_ids: list[str] | None  # None: every project
    schemas: dict[str, Any]
    delivery: dict[str, Any]
    sampling: list[dict[str, Any]]
    filter: dict[str, Any] | None
    created_at: int
    status: str = "enabled"
    first_error_at: int | None = None
    delivered: int = 0  # entries of the log handed on so far (an index into state.logs)
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "ownerId": self.owner_id,
            "teamId": self.owner_id,
            "createdAt": self.created_at,
            "updatedAt": self.created_at,
            "projectIds": self.project_ids or [],
            "projectAccess": {"access": "some" if self.project_ids else "all", "managedBy": "drain"},
            "status": self.status,
            **({"firstErrorTimestamp": self.first_error_at} if self.first_error_at else {}),
            "schemas": self.schemas,
            "delivery": self.delivery,
            "sampling": self.sampling,
            **({"filterV2": self.filter} if self.filter else {}),
            "source": {"kind": "self-served"},
        }

    def takes(self, entry: dict[str, Any], rng: random.Random) -> bool:
        if self.project_ids is not None and entry.get("projectId") not in self.project_ids:
            return False
        basic = (self.filter or {}).get("filter") or {}
        sources = (basic.get("log") or {}).get("sources")
        environments = (basic.get("deployment") or {}).get("environments")
        if sources and entry.get("source") not in sources:
            return False
        if environments and entry.get("environment") not in environments:
            return False
        for rule in self.sampling:  # the first rule that matches decides
            if rule.get("env") not in (None, entry.get("environment")):
                continue
            if rule.get("requestPath") and not str(entry.get("path") or "").startswith(rule["requestPath"]):
                continue
            return rng.random() < float(rule.get("rate", 1))
        return True


def _validated(body: dict[str, Any]) -> dict[str, Any]:
    """The create body as Vercel checks it; a DrainError says what is wrong."""
    if not isinstance(body.get("name"), str) or not body["name"].strip():
        raise DrainError(400, "bad_request", "name is required")
    if body.get("projects") not in ("all", "some"):
        raise DrainError(400, "bad_request", 'projects must be "all" or "some"')
    if body["projects"] == "some" and not body.get("projectIds"):
        raise DrainError(400, "bad_request", 'projectIds are required when projects is "some"')
    if "log" not in (body.get("schemas") or {}):
        raise DrainError(400, "bad_request", "this local Vercel drains logs only: schemas.log is required")
    delivery = body.get("delivery") or {}
    if delivery.get("type") != "http":
        raise DrainError(400, "bad_request", 'delivery.type must be "http" here')
    if not str(delivery.get("endpoint", "")).startswith(("https://", "http://")):
        raise DrainError(400, "bad_request", "delivery.endpoint must be an http(s) URL")
    if delivery.get("encoding") not in ENCODINGS:
        raise DrainError(400, "bad_request", 'delivery.encoding must be "json" or "ndjson"')
    if delivery.get("compression", "none") not in ("none", "gzip"):
        raise DrainError(400, "bad_request", 'delivery.compression must be "none" or "gzip"')
    if not isinstance(delivery.get("headers"), dict):
        raise DrainError(400, "bad_request", "delivery.headers is required (an object, possibly empty)")
    return body


class Drains:
    def __init__(self, state: VercelState, ca_bundle: str, retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S) -> None:
        self.state = state
        self.verification_code = secrets.token_hex(20)
        self.retry_delays_s = retry_delays_s
        self.drains: dict[str, Drain] = {}
        trusted = ssl.create_default_context(cafile=ca_bundle)
        self._client = httpx.Client(verify=trusted, timeout=DELIVERY_TIMEOUT_S, follow_redirects=False)
        self._delivering = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._deliver_continuously, daemon=True, name="vercel-drains")
        self._rng = random.Random(0)

    # ---- the API ------------------------------------------------------------------------------

    def create(self, body: dict[str, Any]) -> Drain:
        body = _validated(body)
        self._verify(body["delivery"]["endpoint"])
        with self.state.lock:
            drain = Drain(
                id=f"drn_{secrets.token_hex(8)}",
                name=body["name"],
                owner_id=self.state.team["id"],
                project_ids=list(body["projectIds"]) if body["projects"] == "some" else None,
                schemas=body["schemas"],
                delivery=body["delivery"],
                sampling=list(body.get("sampling") or []),
                filter=body.get("filter"),
                created_at=self.state.now_ms(),
                delivered=len(self.state.logs),  # from now on
            )
            self.drains[drain.id] = drain
        return drain

    def _verify(self, endpoint: str) -> None:
        try:
            answer = self._client.get(endpoint)
        except httpx.HTTPError as error:
            raise DrainError(400, "endpoint_verification_failed", f"Could not reach {endpoint}: {error}") from None
        presented = answer.headers.get("x-vercel-verify", "")
        if not (answer.is_success and hmac.compare_digest(presented, self.verification_code)):
            raise DrainError(
                400,
                "endpoint_verification_failed",
                f"{endpoint} must answer with status 200 and the header x-vercel-verify set to the team's "
                f"verification code (it answered {answer.status_code}"
                + (", with another code)" if presented else ", without the header)"),
            )

    def remove(self, drain_id: str) -> bool:
        with self.state.lock:
            return self.drains.pop(drain_id, None) is not None

    # ---- delivery -----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._client.close()

    def _deliver_continuously(self) -> None:
        while not self._stop.wait(DELIVER_EVERY_S):
            self.flush()

    def flush(self) -> list[dict[str, Any]]:
        """Deliver every entry logged so far to every drain; one record per batch."""
        with self._delivering:
            with self.state.lock:
                logged = list(self.state.logs)
                pending = [(drain, logged[drain.delivered :]) for drain in self.drains.values()]
                for drain, _entries in pending:
                    drain.delivered = len(logged)
            report = []
            for drain, entries in pending:
                taken = [entry for entry in entries if drain.takes(entry, self._rng)]
                for start in range(0, len(taken), BATCH_MAX_ENTRIES):
                    report.append(self._deliver(drain, taken[start : start + BATCH_MAX_ENTRIES]))
            return report

    def _body(self, drain: Drain, entries: list[dict[str, Any]]) -> bytes:
        if drain.delivery["encoding"] == "json":
            body = json.dumps(entries).encode()
        else:
            body = "".join(json.dumps(entry) + "\n" for entry in entries).encode()
        return gzip.compress(body) if drain.delivery.get("compression") == "gzip" else body

    def _deliver(self, drain: Drain, entries: list[dict[str, Any]]) -> dict[str, Any]:
        body = self._body(drain, entries)
        headers = {**drain.delivery["headers"], "content-type": ENCODINGS[drain.delivery["encoding"]]}
        if drain.delivery.get("compression") == "gzip":
            headers["content-encoding"] = "gzip"
        if drain.delivery.get("secret"):
            signature = hmac.new(drain.delivery["secret"].encode(), body, hashlib.sha1).hexdigest()
            headers["x-vercel-signature"] = signature
        statuses: list[int | str] = []
        for delay in (0.0, *self.retry_delays_s):
            if self._stop.wait(delay):
                break
            try:
                status: int | str = self._client.post(
                    drain.delivery["endpoint"], content=body, headers=headers
                ).status_code
            except httpx.HTTPError as error:
                status = type(error).__name__
            statuses.append(status)
            if isinstance(status, int) and 200 <= status < 300:
                break
        delivered = isinstance(statuses[-1], int) and 200 <= statuses[-1] < 300 if statuses else False
        with self.state.lock:
            if not delivered:
                drain.status = "errored"
                drain.first_error_at = drain.first_error_at or self.state.now_ms()
            record = {"drain": drain.id, "entries": len(entries), "attempts": statuses, "delivered": delivered}
            drain.attempts.append(record)
        return record
