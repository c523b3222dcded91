"""`python -m ci.cron` reads the cron endpoint's answer through the endpoint's own model."""

from __future__ import annotations

import json

from app.statuses import RunStatus
from app.sync.triggers import CronAnswer, RunReport, SweepReport
from ci.cron import _summary


def test_the_answer_is_one_line_read_as_the_endpoints_model() -> None:
    run = RunReport(
        run_id=3,
        status=RunStatus.PARTIAL,
        accounts_ok=1,
        accounts_failed=1,
        accounts_incomplete=0,
        accounts_busy=0,
        accounts_held=0,
        messages_added=5,
        messages_updated=1,
        messages_deleted=0,
        quota_units=120,
        http_requests=4,
        duration_ms=900,
        error=None,
    )
    answer = CronAnswer(message="Email sync completed", run=run, sweep=SweepReport(id=2, begun=False, due=7))
    line = _summary(json.dumps(answer.json_body()))
    assert line == (
        "Email sync completed · sweep 2 (joined, 7 due) · run 3 partial: 1 ok, 1 failed, "
        "+5 ~1 -0 messages, 120 quota units, 900 ms"
    )


def test_a_refusal_names_its_error_and_anything_else_is_shown_as_it_came() -> None:
    refused = CronAnswer(message="No seat for another sync run", error="the live sync runs hold 60 connections")
    assert _summary(json.dumps(refused.json_body())) == (
        "No seat for another sync run · error: the live sync runs hold 60 connections"
    )
    assert _summary("<html>Bad gateway</html>") == "<html>Bad gateway</html>"
