"""Starting the sweep's worker invocations: calls to this very deployment's worker endpoint.

A call only has to *start* an invocation. Vercel runs a function to its end even when the
caller hangs up (cancellation is opt-in, `supportsCancellation`, and Node.js-only), so each
call waits a few seconds for an answer and then lets go: a timeout after the request went out
is a started worker. A call that never got through is lost; the sweep goes on without it.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from app.config import Settings
from app.logs import log_event

WORKER_PATH = "/api/cron/sweep-worker"
HAND_OFF_S = 3.0  # long enough for a request to arrive, far shorter than the worker's run


def worker_url(settings: Settings, request_base_url: str) -> str:
    """This deployment's own URL (VERCEL_URL, so the workers run the same code as the cron), or
    where the cron request came in when not on Vercel."""
    base = f"https://{settings.vercel_url}" if settings.vercel_url else request_base_url.rstrip("/")
    return base + WORKER_PATH


def _start_one(url: str, headers: dict[str, str]) -> bool:
    request = urllib.request.Request(url, data=b"", headers=headers, method="POST")  # noqa: S310 -- our own https URL
    try:
        with urllib.request.urlopen(request, timeout=HAND_OFF_S) as answer:  # noqa: S310
            return bool(200 <= answer.status < 300)  # a worker that finished already
    except urllib.error.HTTPError as refused:
        log_event("sweep.worker_refused", logging.WARNING, status=refused.code)
        return False
    except TimeoutError:  # sent, and running: the answer will not be waited for
        return True
    except (urllib.error.URLError, OSError) as error:
        log_event("sweep.worker_lost", logging.WARNING, error=type(error).__name__)
        return False


def start_workers(settings: Settings, url: str, sweep_id: int, count: int) -> int:
    """Start `count` worker invocations of the sweep at once; how many got going."""
    if count <= 0:
        return 0
    headers = {"Authorization": f"Bearer {settings.require('cron_secret')}"}
    if settings.vercel_automation_bypass_secret is not None:  # deployment URLs are protected
        headers["x-vercel-protection-bypass"] = settings.vercel_automation_bypass_secret.get_secret_value()
    target = f"{url}?sweep={sweep_id}"
    with ThreadPoolExecutor(count, thread_name_prefix="fanout") as calls:
        started = sum(calls.map(lambda _: _start_one(target, headers), range(count)))
    log_event("sweep.workers_started", sweep_id=sweep_id, wanted=count, started=started)
    return started
