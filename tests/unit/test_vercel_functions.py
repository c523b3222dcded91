"""What Vercel's Python SDK gives an invocation, as Jessie uses it: the run's budget from the
runtime's deadline when it has one, and post-response work through `wait_until` when the runtime
tracks it (a background task otherwise). The runtime is stood in for by what it sets: the
`vercel_runtime.get_deadline` accessor and the SDK's wait_until context."""

from __future__ import annotations

import sys
import types
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from starlette.background import BackgroundTask
from vercel.cache.context import set_context

from app.config import Settings
from app.deadline import invocation_budget_s
from app.web.context import after_the_answer

SETTINGS = Settings.model_construct()  # maxDuration 300, a cron margin of 45 s


def _runtime(monkeypatch: pytest.MonkeyPatch, deadline: datetime | None) -> None:
    runtime = types.ModuleType("vercel_runtime")
    runtime.get_deadline = lambda: deadline  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vercel_runtime", runtime)


def test_without_a_runtime_deadline_the_budget_is_the_configured_one(monkeypatch: pytest.MonkeyPatch) -> None:
    _runtime(monkeypatch, None)
    assert invocation_budget_s(SETTINGS) == SETTINGS.run_budget_s == 255


def test_the_runtime_deadline_sets_the_budget_less_the_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    _runtime(monkeypatch, datetime.now(UTC) + timedelta(seconds=100))
    assert 54 < invocation_budget_s(SETTINGS) <= 55  # 100 s left, 45 s kept back
    _runtime(monkeypatch, datetime.now(UTC) + timedelta(seconds=10))
    assert invocation_budget_s(SETTINGS) == 0.0  # nothing worth starting


@pytest.fixture
def collected() -> Iterator[list[Awaitable[object]]]:
    handed: list[Awaitable[object]] = []
    set_context(wait_until=handed.append)
    yield handed
    set_context(wait_until=None)
    for awaitable in handed:
        awaitable.close()  # type: ignore[attr-defined]


def test_post_response_work_goes_to_wait_until_when_the_runtime_tracks_it(
    collected: list[Awaitable[object]],
) -> None:
    assert after_the_answer(print, "hello") is None
    assert len(collected) == 1


def test_elsewhere_it_is_a_background_task() -> None:
    task = after_the_answer(print, "hello")
    assert isinstance(task, BackgroundTask) and task.args == ("hello",)
