"""The local Vercel runs a function as Vercel does: built by the real CLI, uploaded with it,
assembled from the uploaded files alone, run on a bare Python by Vercel's own runtime, and
held to the platform's limits (maxDuration, body size, read-only filesystem, headers)."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from ci import plans
from ci import vercel as ci_vercel
from sandbox.vercel.server import LocalVercel
from tests.integration.vercel_helpers import Client, build_tiny, deploy, upload

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def vercel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalVercel]:
    with LocalVercel(tmp_path_factory.mktemp("vercel"), drain_retry_delays_s=(0.01, 0.02, 0.04)) as server:
        yield server


@pytest.fixture(scope="module")
def tiny(vercel: LocalVercel, tmp_path_factory: pytest.TempPathFactory) -> str:
    return deploy(vercel, build_tiny(tmp_path_factory.mktemp("tiny")))


@pytest.fixture
def client(vercel: LocalVercel) -> Client:
    return Client(vercel)


def test_the_function_runs_from_its_own_files_on_a_bare_python(tiny: str, client: Client) -> None:
    answer = client.get(tiny + "/hello")
    assert answer.status_code == 200, answer.text
    assert answer.json()["path"] == "/hello"  # the rewrite leaves the URL the client asked for
    assert answer.json()["env"] == "preview"
    # This test's own environment has pytest and requests; a function has only what it shipped.
    assert client.get(tiny + "/import", params={"name": "pytest"}).json() == {"result": "ModuleNotFoundError"}
    assert client.get(tiny + "/import", params={"name": "vercel_runtime"}).json() == {"result": "imported"}
    assert client.get(tiny + "/hello", bypass=False).status_code == 401  # Deployment Protection


def test_vercel_sets_the_forwarded_headers_whatever_the_client_sent(tiny: str, client: Client) -> None:
    spoofed = {
        "x-forwarded-for": "6.6.6.6",
        "x-real-ip": "6.6.6.6",
        "x-vercel-id": "forged",
        "x-forwarded-host": "evil",
    }
    answer = client.get(tiny + "/headers", headers=spoofed)
    seen = answer.json()
    assert (seen["x-forwarded-for"], seen["x-real-ip"]) == ("127.0.0.1", "127.0.0.1")
    assert seen["x-forwarded-host"] == tiny.removeprefix("https://")
    assert seen["x-forwarded-proto"] == "https"
    assert seen["x-vercel-id"].startswith("local1::") and seen["x-vercel-id"] == answer.headers["x-vercel-id"]
    assert not any(key.startswith("x-vercel-internal") for key in seen)


def test_a_body_over_4_5_mb_is_refused_before_the_function_runs(tiny: str, client: Client) -> None:
    before = len(client.logs(tiny))
    refused = client.post(tiny + "/echo", b"x" * 4_718_593)
    assert (refused.status_code, refused.headers["x-vercel-error"]) == (413, "FUNCTION_PAYLOAD_TOO_LARGE")
    accepted = client.post(tiny + "/echo", b"x" * 4_718_592)
    assert accepted.json()["body_bytes"] == 4_718_592
    assert len(client.logs(tiny)) == before


def test_an_invocation_past_max_duration_is_killed_with_a_504(tiny: str, client: Client) -> None:
    timed_out = client.get(tiny + "/sleep", params={"seconds": 60})
    assert (timed_out.status_code, timed_out.headers["x-vercel-error"]) == (504, "FUNCTION_INVOCATION_TIMEOUT")
    assert "504: GATEWAY_TIMEOUT" in timed_out.text
    lines = [e for e in client.logs(tiny) if e["requestId"] == timed_out.headers["x-vercel-id"]]
    assert [(e["message"], e["statusCode"], e["level"]) for e in lines] == [
        ("Vercel Runtime Timeout Error: Task timed out after 3 seconds", 504, "error")
    ]
    assert client.get(tiny + "/hello").status_code == 200  # a new instance serves the next request


def test_a_crash_mid_request_is_a_500_and_logged_with_status_minus_one(tiny: str, client: Client) -> None:
    crashed = client.get(tiny + "/crash")
    assert (crashed.status_code, crashed.headers["x-vercel-error"]) == (500, "FUNCTION_INVOCATION_FAILED")
    lines = [e for e in client.logs(tiny) if e["requestId"] == crashed.headers["x-vercel-id"]]
    assert {e["statusCode"] for e in lines} == {-1}
    assert "about to crash" in [e["message"] for e in lines]
    assert "Error: Runtime exited with error: exit status 3" in [e["message"] for e in lines]


def test_the_filesystem_is_read_only_outside_tmp(tiny: str, client: Client) -> None:
    assert client.get(tiny + "/write", params={"path": "api/new.txt"}).json() == {
        "result": "OSError: Read-only file system"
    }
    assert client.get(tiny + "/write", params={"path": "/tmp/jessie-scratch.txt"}).json() == {"result": "written"}


def test_output_becomes_log_lines_of_its_request(tiny: str, client: Client) -> None:
    printed = client.get(tiny + "/print")
    lines = [e for e in client.logs(tiny) if e["requestId"] == printed.headers["x-vercel-id"]]
    assert {(e["message"], e["level"]) for e in lines} >= {("to stdout", "info"), ("to stderr", "error")}
    assert all(e["source"] == "lambda" and e["statusCode"] == 200 for e in lines)
    # As Vercel's drains describe it: `path` the function behind the rewrite, `proxy` the request.
    assert {(e["path"], e["proxy"]["path"], e["proxy"]["method"], e["proxy"]["statusCode"]) for e in lines} == {
        ("/api/index", "/print", "GET", 200)
    }


def test_fluid_instances_take_concurrent_invocations_before_a_new_one_starts(
    vercel: LocalVercel, tiny: str, client: Client
) -> None:
    """Ten invocations held open at once: eight share one instance (its concurrency), two go to
    a second; none waits for another to finish."""
    concurrency = vercel.state.function_concurrency
    with ThreadPoolExecutor(concurrency + 2) as pool:
        answers = list(
            pool.map(lambda _: client.get(tiny + "/sleep", params={"seconds": 1}).json(), range(concurrency + 2))
        )
    assert sorted(Counter(answer["pid"] for answer in answers).values()) == [2, concurrency]


def test_concurrent_invocations_in_one_instance_keep_their_own_log_lines(tiny: str, client: Client) -> None:
    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(lambda _: client.get(tiny + "/print").headers["x-vercel-id"], range(4)))
    for request_id in ids:
        lines = [(e["message"], e["level"]) for e in client.logs(tiny) if e["requestId"] == request_id]
        assert sorted(lines) == [("to stderr", "error"), ("to stdout", "info")]


def test_without_fluid_each_instance_serves_one_invocation(tmp_path: Path) -> None:
    with LocalVercel(tmp_path / "vercel", function_concurrency=1) as classic:
        url = deploy(classic, build_tiny(tmp_path / "tiny"))
        one_at_a_time = Client(classic)
        with ThreadPoolExecutor(3) as pool:
            answers = list(
                pool.map(lambda _: one_at_a_time.get(url + "/sleep", params={"seconds": 1}).json(), range(3))
            )
    assert len({answer["pid"] for answer in answers}) == 3


def test_a_function_that_cannot_import_is_ready_and_answers_500(
    vercel: LocalVercel, client: Client, tmp_path: Path
) -> None:
    url = deploy(vercel, build_tiny(tmp_path, index_prefix="import not_shipped  # noqa\n"))
    deployment = vercel.state.find(url)
    assert deployment is not None and deployment.ready_state == "READY"
    failed = client.get(url + "/hello")
    assert (failed.status_code, failed.headers["x-vercel-error"]) == (500, "FUNCTION_INVOCATION_FAILED")
    messages = "\n".join(e["message"] for e in client.logs(url))
    assert "ModuleNotFoundError: No module named 'not_shipped'" in messages


def test_sources_missing_from_the_upload_fail_the_deployment_by_name(
    vercel: LocalVercel, client: Client, tmp_path: Path
) -> None:
    project = build_tiny(tmp_path, vercelignore=".venv\n")  # unanchored: drops the vendored runtime
    target = ci_vercel.VercelProject(vercel.state.token, vercel.state.team["id"], vercel.state.project_id, vercel.url)
    url = ci_vercel.parse_deployment_url(upload(vercel, project).stdout)
    with pytest.raises(ci_vercel.DeploymentFailed, match="is ERROR"):
        ci_vercel.wait_until_ready(target, url, poll_s=0.2)
    deployment = vercel.state.find(url)
    assert deployment is not None
    assert re.match(
        r"\d+ file\(s\) of the function are missing from the upload: _vendor/", deployment.error_message or ""
    )


def test_sensitive_variables_reach_functions_but_never_come_back_out(vercel: LocalVercel) -> None:
    requests.put(
        f"{vercel.url}/_sandbox/env",
        json={"production": {"SECRET_ONE": "s1", "PLAIN_ONE": {"value": "p1", "type": "plain"}}},
        timeout=10,
    )
    pulled = requests.get(
        f"{vercel.url}/v3/env/pull/{vercel.state.project_id}/production",
        headers={"Authorization": f"Bearer {vercel.state.token}"},
        timeout=10,
    ).json()["env"]
    assert (pulled["SECRET_ONE"], pulled["PLAIN_ONE"]) == ("", "p1")
    assert vercel.state.env_values("production")["SECRET_ONE"] == "s1"


def test_max_duration_comes_from_the_function_config(tiny: str, vercel: LocalVercel) -> None:
    deployment = vercel.state.find(tiny)
    assert deployment is not None
    assert vercel.runtime.pools[deployment.id]["/api/index"].max_duration_s == 3  # tiny_function/vercel.json


def test_hobby_refuses_an_hourly_cron_and_takes_the_plan_aware_build(vercel: LocalVercel, tmp_path: Path) -> None:
    requests.put(f"{vercel.url}/_sandbox/project", json={"plan": "hobby"}, timeout=10)
    try:
        refused = upload(vercel, build_tiny(tmp_path / "hourly", hourly_cron_on="pro"))
        assert refused.returncode != 0
        assert "Hobby accounts are limited to daily cron jobs. This cron expression (0 * * * *)" in refused.stderr
        url = deploy(vercel, build_tiny(tmp_path / "daily", hourly_cron_on="hobby"))
        deployment = vercel.state.find(url)
        assert deployment is not None and deployment.crons == [plans.cron_for("hobby")]
    finally:
        requests.put(f"{vercel.url}/_sandbox/project", json={"plan": "pro"}, timeout=10)


def test_a_rollback_stops_automatic_assignment_until_the_next_promote(vercel: LocalVercel, tmp_path: Path) -> None:
    project = build_tiny(tmp_path, production=True)
    target = ci_vercel.VercelProject(vercel.state.token, vercel.state.team["id"], vercel.state.project_id, vercel.url)
    first = deploy(vercel, project, "--prod")
    second = deploy(vercel, project, "--prod")

    def production() -> str:
        found = vercel.state.production()
        return "https://" + found.url if found else ""

    assert production() == second  # without --skip-domain, READY takes the domain
    skipped = deploy(vercel, project, "--prod", "--skip-domain")
    assert production() == second
    ci_vercel.rollback_to(target, first)
    assert (production(), vercel.state.auto_assign) == (first, False)
    third = deploy(vercel, project, "--prod")
    assert production() == first  # automatic assignment is off since the rollback
    with pytest.raises(ci_vercel.DeploymentFailed, match="rollback"):
        ci_vercel.rollback_to(target, skipped)  # it never served the domain
    ci_vercel.promote(target, third)
    assert (production(), vercel.state.auto_assign) == (third, True)


# ---- Log Drains ----------------------------------------------------------------------------


@dataclass
class Receiver:
    """A drain endpoint: answers the verification, then the statuses it is told to, in order."""

    url: str
    code: str
    statuses: list[int] = field(default_factory=list)
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def receiver(vercel: LocalVercel) -> Iterator[Receiver]:
    holder: list[Receiver] = []

    class Endpoint(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("x-vercel-verify", holder[0].code)
            self.end_headers()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            holder[0].posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(holder[0].statuses.pop(0) if holder[0].statuses else 200)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    holder.append(Receiver(f"http://127.0.0.1:{server.server_port}/drain", vercel.drains.verification_code))
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        for drain in list(vercel.drains.drains):
            vercel.drains.remove(drain)


def _add_drain(vercel: LocalVercel, receiver: Receiver, **delivery: Any) -> dict[str, Any]:
    body = {
        "name": "test",
        "projects": "all",
        "schemas": {"log": {"version": "v1"}},
        "delivery": {"type": "http", "endpoint": receiver.url, "encoding": "json", "headers": {}, **delivery},
    }
    headers = {"Authorization": f"Bearer {vercel.state.token}"}
    created = requests.post(f"{vercel.url}/v1/drains", json=body, headers=headers, timeout=30)
    assert created.status_code == 200, created.text
    drain: dict[str, Any] = created.json()
    return drain


def _flush(vercel: LocalVercel) -> None:
    requests.post(f"{vercel.url}/_sandbox/drains/flush", timeout=60).raise_for_status()


def test_a_drain_gets_signed_batches_in_its_encoding_and_a_refused_one_again(
    vercel: LocalVercel, tiny: str, client: Client, receiver: Receiver
) -> None:
    _add_drain(vercel, receiver, secret="s3cret-of-the-drain", headers={"x-team": "jessie"}, encoding="ndjson")
    receiver.statuses = [500]  # the first attempt is refused; Vercel tries again
    printed = client.get(tiny + "/print")
    _flush(vercel)
    (_, first), (headers, body) = receiver.posts
    assert first == body
    assert headers["x-vercel-signature"] == hmac.new(b"s3cret-of-the-drain", body, hashlib.sha1).hexdigest()
    assert (headers["x-team"], headers["content-type"]) == ("jessie", "application/x-ndjson")
    entries = [json.loads(line) for line in body.decode().splitlines()]
    assert [(e["message"], e["type"], e["requestId"]) for e in entries] == [
        ("to stdout", "stdout", printed.headers["x-vercel-id"]),
        ("to stderr", "stderr", printed.headers["x-vercel-id"]),
    ]
    assert set(entries[0]) >= {"id", "timestamp", "source", "projectId", "deploymentId", "host", "path", "statusCode"}


def test_a_drain_whose_endpoint_keeps_refusing_is_marked_errored(
    vercel: LocalVercel, tiny: str, client: Client, receiver: Receiver
) -> None:
    drain = _add_drain(vercel, receiver, compression="gzip")
    receiver.statuses = [503] * 10
    client.get(tiny + "/print")
    _flush(vercel)
    assert len(receiver.posts) == 4  # the first try and three retries, then the batch is dropped
    assert receiver.posts[0][0]["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(receiver.posts[0][1]))[0]["message"] == "to stdout"
    headers = {"Authorization": f"Bearer {vercel.state.token}"}
    shown = requests.get(f"{vercel.url}/v1/drains/{drain['id']}", headers=headers, timeout=10).json()
    assert shown["status"] == "errored" and shown["firstErrorTimestamp"] > 0


def test_a_drain_is_refused_for_an_endpoint_that_does_not_verify(vercel: LocalVercel, receiver: Receiver) -> None:
    receiver.code = "not-the-team-s-code"
    headers = {"Authorization": f"Bearer {vercel.state.token}"}
    body = {"name": "x", "projects": "all", "schemas": {"log": {"version": "v1"}}}
    body["delivery"] = {"type": "http", "endpoint": receiver.url, "encoding": "json", "headers": {}}
    refused = requests.post(f"{vercel.url}/v1/drains", json=body, headers=headers, timeout=30)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "endpoint_verification_failed"
    assert requests.get(f"{vercel.url}/v1/drains", headers=headers, timeout=10).json() == {"drains": []}


def test_an_alias_serves_the_deployment_it_names_until_it_moves_or_goes(
    vercel: LocalVercel, tiny: str, client: Client, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Vercel's alias API (assign, get, delete) and its routing by hostname: here names reach the
    deployments through the local Vercel's proxy, since no hostname resolves offline."""
    api = {"Authorization": f"Bearer {vercel.state.token}"}
    name = "jessie-pr-7.vercel.app"

    def by_name(path: str, **headers: str) -> requests.Response:
        fresh = requests.Session()  # a new connection each time: a name moves for new connections
        fresh.proxies, fresh.verify, fresh.trust_env = {"https": vercel.proxy_url}, str(vercel.ca), False
        return fresh.get(f"https://{name}{path}", headers=headers, timeout=60)

    first = vercel.state.find(tiny)
    assert first is not None
    assigned = requests.post(
        f"{vercel.url}/v2/deployments/{first.id}/aliases", json={"alias": name}, headers=api, timeout=30
    )
    assert assigned.status_code == 200 and assigned.json()["alias"] == name and "oldDeploymentId" not in assigned.json()
    bypass = {"x-vercel-protection-bypass": vercel.state.protection_bypass}
    served = by_name("/headers", **bypass)
    assert served.status_code == 200, served.text  # the certificate names *.vercel.app, as Vercel's does
    assert (served.json()["host"], served.json()["x-vercel-deployment-url"]) == (name, first.url)
    assert by_name("/headers").status_code == 401  # a Preview's alias is protected like the Preview
    second = vercel.state.find(deploy(vercel, build_tiny(tmp_path_factory.mktemp("second"))))
    assert second is not None
    moved = requests.post(
        f"{vercel.url}/v2/deployments/{second.url}/aliases", json={"alias": name}, headers=api, timeout=30
    )
    assert moved.json()["oldDeploymentId"] == first.id
    assert by_name("/headers", **bypass).json()["x-vercel-deployment-url"] == second.url
    assert client.get(f"https://{first.url}/headers", headers={"Host": name}).status_code == 404  # not there any more
    found = requests.get(f"{vercel.url}/v4/aliases/{name}", headers=api, timeout=30).json()
    assert (found["alias"], found["deploymentId"]) == (name, second.id)
    assert requests.delete(f"{vercel.url}/v2/aliases/{name}", headers=api, timeout=30).json() == {"status": "SUCCESS"}
    assert requests.delete(f"{vercel.url}/v2/aliases/{name}", headers=api, timeout=30).status_code == 404
    with pytest.raises(requests.exceptions.ProxyError):
        by_name("/headers", **bypass)
