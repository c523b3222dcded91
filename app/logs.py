"""One JSON object per line on stderr: what Vercel's Log Drains ship and what people grep.

Callers pass counts, ids, statuses and the account's email; never tokens, other
addresses or message content (`describe()` in the engine words errors accordingly).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_logger = logging.getLogger("jessie")


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = record.msg if isinstance(record.msg, dict) else {"message": record.getMessage()}
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        return json.dumps({"ts": stamp, "level": record.levelname.lower(), **payload}, default=str)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is now (test capture swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _handler() -> logging.Handler:
    if not _logger.handlers:
        handler = _CurrentStderr()
        handler.setFormatter(_JsonLines())
        _logger.addHandler(handler)
        _logger.setLevel(logging.INFO)
        _logger.propagate = False
    return _logger.handlers[0]


def log_event(event: str, level: int = logging.INFO, **fields: object) -> None:
    _handler()
    _logger.log(level, {"event": event, **fields})
