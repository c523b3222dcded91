"""The Vercel REST endpoints that the pinned CLI (pull, deploy --prebuilt, inspect, promote,
rollback, crons run) and ci/vercel.py call (aliases too), with the shapes they read, and the Drains API
(`/v1/drains`, `/v1/verify-endpoint`); plus `/_sandbox/` admin routes for tests
(environment variables, the cron clock, delivering the drains now, what happened)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .cron import CronRunner, at_most_daily
from .drains import DrainError, Drains
from .runtime import Runtime
from .state import DEFAULT_ENV_TYPES, PLANS, TARGETS, Alias, Deployment, EnvVar, VercelState

Endpoint = Callable[[Request], Awaitable[Response]]
_ALIAS = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status)


def create_app(
    state: VercelState, runtime: Runtime, cron: CronRunner, drains: Drains, api_url: Callable[[], str]
) -> Starlette:
    def authorized(handler: Endpoint) -> Endpoint:
        async def check(request: Request) -> Response:
            presented = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(presented, state.token):
                return _error(403, "forbidden", "The request is missing an authentication token", invalidToken=True)
            team = request.query_params.get("teamId")
            if team is not None and team != state.team["id"]:
                return _error(403, "forbidden", "Not authorized")
            return await handler(request)

        return check

    def project_json() -> dict[str, Any]:
        production = state.production()
        crons = production.crons if production else []
        return {
            "id": state.project_id,
            "name": state.project_name,
            "accountId": state.team["id"],
            "framework": None,
            "nodeVersion": "20.x",
            "rootDirectory": None,
            "link": None,
            "env": [],
            "targets": {"production": production.to_json(state.team, state.aliases_of(production))}
            if production
            else {},
            "crons": {
                "definitions": [{**c, "host": state.alias_host} for c in crons],
                "disabledAt": state.crons_disabled or None,
                "enabledAt": 1,
            },
            "lastAliasRequest": state.last_alias_request,
            "latestDeployments": [],
        }

    def check_project(request: Request) -> JSONResponse | None:
        wanted = request.path_params.get("project")
        if wanted not in (state.project_id, state.project_name):
            return _error(404, "not_found", "Project not found")
        return None

    async def user(_request: Request) -> Response:
        return JSONResponse(
            {
                "user": {
                    "id": "usr_jessie",
                    "uid": "usr_jessie",
                    "username": "jessie",
                    "email": "ci@example.com",
                    "name": "Jessie CI",
                    "defaultTeamId": state.team["id"],
                    "version": "northstar",
                }
            }
        )

    async def team(request: Request) -> Response:
        if request.path_params["team"] != state.team["id"]:
            return _error(404, "not_found", "Team not found")
        return JSONResponse(state.team)

    async def project(request: Request) -> Response:
        return check_project(request) or JSONResponse(project_json())

    async def env_pull(request: Request) -> Response:
        if (missing := check_project(request)) is not None:
            return missing
        target = request.path_params["target"]
        if target not in TARGETS:
            return _error(400, "bad_request", f"Invalid target {target}")
        with state.lock:
            values = {key: variable.readable for key, variable in state.env[target].items()}
        return JSONResponse({"env": values, "buildEnv": values})

    async def env_list(request: Request) -> Response:
        if (missing := check_project(request)) is not None:
            return missing
        with state.lock:
            records = [
                {"id": f"env_{target}_{key}", "key": key, "type": variable.type, "target": [target]}
                for target in TARGETS
                for key, variable in state.env[target].items()
            ]
        return JSONResponse({"envs": records})

    async def upload(request: Request) -> Response:
        body = await request.body()
        digest = request.headers.get("x-now-digest", "")
        if hashlib.sha1(body, usedforsecurity=False).hexdigest() != digest:
            return _error(400, "invalid_digest", "The file's SHA-1 does not match x-now-digest")
        if str(len(body)) != request.headers.get("x-now-size", str(len(body))):
            return _error(400, "invalid_size", "The file's size does not match x-now-size")
        path = state.blobs / digest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        with state.lock:
            state.files[digest] = path
        return JSONResponse({})

    async def create(request: Request) -> Response:
        body = json.loads(await request.body())
        files = body.get("files") or []
        with state.lock:
            missing = sorted({f["sha"] for f in files if f.get("sha") not in state.files})
        if missing:
            return _error(400, "missing_files", "Missing files", missing=missing)
        if request.query_params.get("prebuilt") != "1":
            return _error(400, "bad_request", "This local Vercel only takes prebuilt deployments")
        if (refused := refuse_crons(files)) is not None:
            return refused
        deployment_id = state.new_id()
        port = runtime.reserve_port(deployment_id)
        deployment = Deployment(
            id=deployment_id,
            url=f"127.0.0.1:{port}",
            name=body.get("name", state.project_name),
            project_id=state.project_id,
            target=body.get("target") if body.get("target") == "production" else None,
            meta={k: str(v) for k, v in (body.get("meta") or {}).items()},
            env={k: str(v) for k, v in (body.get("env") or {}).items()},
            files=files,
            auto_assign_domains=body.get("autoAssignCustomDomains") is not False,
            created_at=state.now_ms(),
            inspector_url=f"{api_url()}/_sandbox/deployments/{deployment_id}",
        )
        with state.lock:
            state.deployments[deployment_id] = deployment
            answer = deployment.to_json(state.team, [])
        runtime.build_in_background(deployment)
        return JSONResponse(answer)

    def refuse_crons(files: list[dict[str, Any]]) -> JSONResponse | None:
        """Hobby refuses, at creation, a deployment whose crons run more than once a day."""
        if state.plan != "hobby":
            return None
        config = next((f for f in files if f.get("file") == ".vercel/output/config.json"), None)
        crons = json.loads(state.files[config["sha"]].read_bytes()).get("crons") or [] if config else []
        for cron in crons:
            if not at_most_daily(cron["schedule"]):
                message = (
                    f"Hobby accounts are limited to daily cron jobs. This cron expression ({cron['schedule']}) "
                    "would run more than once per day. Upgrade to pro to unlock all Cron Jobs features on Vercel."
                )
                return _error(400, "invalid_cron", message)
        return None

    async def get_deployment(request: Request) -> Response:
        with state.lock:
            deployment = state.find(request.path_params["id"])
            if deployment is None:
                return _error(404, "not_found", "Deployment not found")
            return JSONResponse(deployment.to_json(state.team, state.aliases_of(deployment)))

    async def builds(request: Request) -> Response:
        """Prebuilt deployments have no server-side builds to list (`vercel inspect` reads this)."""
        with state.lock:
            if state.find(request.path_params["id"]) is None:
                return _error(404, "not_found", "Deployment not found")
        return JSONResponse({"builds": []})

    async def list_deployments(request: Request) -> Response:
        query = request.query_params
        meta = {k.removeprefix("meta-"): v for k, v in query.items() if k.startswith("meta-")}
        with state.lock:
            found = [
                d.to_json(state.team, state.aliases_of(d))
                for d in sorted(state.deployments.values(), key=lambda d: d.created_at, reverse=True)
                if (query.get("projectId") in (None, d.project_id))
                and (query.get("target") is None or query["target"] == (d.target or "preview"))
                and (query.get("state") is None or d.ready_state in query["state"].split(","))
                and all(d.meta.get(k) == v for k, v in meta.items())
            ][: int(query.get("limit", 20))]
        return JSONResponse({"deployments": found, "pagination": {"count": len(found), "next": None, "prev": None}})

    def move_alias(kind: str) -> Endpoint:
        async def handler(request: Request) -> Response:
            if (missing := check_project(request)) is not None:
                return missing
            with state.lock:
                deployment = state.find(request.path_params["deployment"])
                if deployment is None or deployment.ready_state != "READY":
                    return _error(400, "invalid_deployment", "Only READY deployments can be promoted")
                if kind == "rollback" and not deployment.served_production:
                    message = "Only deployments that were aliased to a production domain can be rolled back to"
                    return _error(400, "invalid_deployment", message)
                state.assign_production(deployment)
                state.auto_assign = kind == "promote"  # a rollback stops automatic assignment
                state.last_alias_request = {
                    "jobStatus": "succeeded",
                    "requestedAt": state.now_ms(),
                    "toDeploymentId": deployment.id,
                    "type": kind,
                }
            return JSONResponse({}, 201)

        return handler

    # ---- aliases (the REST reference: assign, get, list a deployment's, delete) ---------------

    async def assign_alias(request: Request) -> Response:
        """A hostname moved to this deployment, taken from the deployment that had it."""
        body = json.loads(await request.body() or b"{}")
        host = str(body.get("alias") or "").strip().lower()
        if not _ALIAS.fullmatch(host):
            return _error(400, "invalid_alias", f"Invalid alias {host!r}: a hostname is required")
        with state.lock:
            deployment = state.find(request.path_params["id"])
            if deployment is None:
                return _error(404, "not_found", "Deployment not found")
            if host == state.alias_host:
                return _error(409, "alias_in_use", "The Production domain is moved by promote and rollback")
            previous = state.aliases.get(host)
            state.aliases[host] = Alias(secrets.token_hex(12), host, deployment.id, state.now_ms())
            answer = {"uid": state.aliases[host].uid, "alias": host, "created": state.aliases[host].created_at}
        if previous is not None and previous.deployment_id != deployment.id:
            answer["oldDeploymentId"] = previous.deployment_id
        return JSONResponse(answer)

    def _alias(key: str) -> Alias | None:
        return state.aliases.get(key.lower()) or next((a for a in state.aliases.values() if a.uid == key), None)

    async def get_alias(request: Request) -> Response:
        with state.lock:
            found = _alias(request.path_params["alias"])
            if found is None:
                return _error(404, "not_found", "The alias was not found")
            return JSONResponse(found.to_json())

    async def deployment_aliases(request: Request) -> Response:
        with state.lock:
            deployment = state.find(request.path_params["id"])
            if deployment is None:
                return _error(404, "not_found", "Deployment not found")
            found = [a.to_json() for a in state.aliases.values() if a.deployment_id == deployment.id]
        return JSONResponse({"aliases": found})

    async def delete_alias(request: Request) -> Response:
        with state.lock:
            found = _alias(request.path_params["alias"])
            if found is None:
                return _error(404, "not_found", "The alias was not found")
            del state.aliases[found.host]
        return JSONResponse({"status": "SUCCESS"})

    async def no_failed_aliases(_request: Request) -> Response:
        return JSONResponse({"aliases": [], "pagination": None})

    async def run_cron(request: Request) -> Response:
        if (missing := check_project(request)) is not None:
            return missing
        body = json.loads(await request.body() or b"{}")
        with state.lock:
            production = state.production()
            known = {c["path"] for c in production.crons} if production else set()
        if body.get("path") not in known:
            return _error(404, "not_found", f"No cron job {body.get('path')} on the Production deployment")
        return JSONResponse({"ok": True, "call": cron.call(body["path"], "crons run")})

    # ---- drains ------------------------------------------------------------------------------

    async def create_drain(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
            if not isinstance(body, dict):
                raise DrainError(400, "bad_request", "the body must be a JSON object")
            drain = await run_in_threadpool(drains.create, body)  # it calls the endpoint to verify it
        except json.JSONDecodeError:
            return _error(400, "bad_request", "the body is not JSON")
        except DrainError as error:
            return _error(error.status, error.code, str(error))
        return JSONResponse(drain.to_json())

    async def list_drains(_request: Request) -> Response:
        with state.lock:
            return JSONResponse({"drains": [drain.to_json() for drain in drains.drains.values()]})

    async def get_drain(request: Request) -> Response:
        with state.lock:
            drain = drains.drains.get(request.path_params["id"])
            return JSONResponse(drain.to_json()) if drain else _error(404, "not_found", "Drain not found")

    async def delete_drain(request: Request) -> Response:
        if not drains.remove(request.path_params["id"]):
            return _error(404, "not_found", "Drain not found")
        return Response(status_code=204)

    async def verify_endpoint_code(_request: Request) -> Response:
        return JSONResponse({"verificationCode": drains.verification_code})

    # ---- admin ------------------------------------------------------------------------------

    async def admin_flush_drains(_request: Request) -> Response:
        """Deliver now what Vercel would deliver within seconds (tests wait on this, not a clock):
        the lines of every invocation that has answered, once it has ended."""
        await run_in_threadpool(runtime.settle)
        return JSONResponse({"deliveries": await run_in_threadpool(drains.flush)})

    async def admin_env(request: Request) -> Response:
        """`{target: {KEY: "value" | {"value", "type"}}}`; the type defaults as Vercel's does."""
        body = json.loads(await request.body())
        with state.lock:
            for target, values in body.items():
                for key, given in values.items():
                    value, kind = (given["value"], given["type"]) if isinstance(given, dict) else (given, None)
                    state.env[target][key] = EnvVar(str(value), kind or DEFAULT_ENV_TYPES[target])
        return JSONResponse({"targets": {t: sorted(v) for t, v in state.env.items()}})

    async def admin_project(request: Request) -> Response:
        body = json.loads(await request.body())
        if body.get("plan") not in PLANS:
            return _error(400, "bad_request", f"plan must be one of {', '.join(PLANS)}")
        with state.lock:
            state.plan = body["plan"]
        return JSONResponse({"plan": state.plan})

    async def admin_logs(_request: Request) -> Response:
        with state.lock:
            return JSONResponse({"logs": list(state.logs)})

    async def admin_clock(request: Request) -> Response:
        body = json.loads(await request.body())
        return JSONResponse({"calls": cron.advance(float(body.get("advance_seconds", 0)))})

    async def admin_state(_request: Request) -> Response:
        with state.lock:
            production = state.production()
            return JSONResponse(
                {
                    "production": production.id if production else None,
                    "alias": f"https://{state.alias_host}",
                    "aliases": {host: alias.deployment_id for host, alias in state.aliases.items()},
                    "auto_assign": state.auto_assign,
                    "deployments": [d.to_json(state.team, state.aliases_of(d)) for d in state.deployments.values()],
                    "cron_calls": state.cron_calls,
                    "unhandled": state.unhandled,
                }
            )

    async def admin_deployment(request: Request) -> Response:
        with state.lock:
            deployment = state.find(request.path_params["id"])
            if deployment is None:
                return _error(404, "not_found", "Deployment not found")
            return JSONResponse({**deployment.to_json(state.team, state.aliases_of(deployment)), "log": deployment.log})

    async def unknown(request: Request) -> Response:
        """Calls this stand-in does not implement are recorded, so a gap is visible, not silent."""
        with state.lock:
            state.unhandled.append(f"{request.method} {request.url.path}")
        return _error(404, "not_found", f"The local Vercel does not implement {request.method} {request.url.path}")

    project_path = "/v9/projects/{project}"
    routes = [
        Route("/v2/user", authorized(user)),
        Route("/teams/{team}", authorized(team)),
        Route(project_path, authorized(project)),
        Route("/v3/env/pull/{project}/{target}", authorized(env_pull)),
        Route("/v3/env/pull/{project}/{target}/{branch}", authorized(env_pull)),
        Route("/v10/projects/{project}/env", authorized(env_list)),
        Route("/v2/files", authorized(upload), methods=["POST"]),
        Route("/v13/deployments", authorized(create), methods=["POST"]),
        Route("/v13/deployments/{id}", authorized(get_deployment)),
        Route("/v11/deployments/{id}/builds", authorized(builds)),
        Route("/v6/deployments", authorized(list_deployments)),
        Route(project_path + "/rollback/aliases", authorized(no_failed_aliases)),
        Route(project_path + "/rollback/{deployment}", authorized(move_alias("rollback")), methods=["POST"]),
        Route("/v9/projects/{project}/promote/aliases", authorized(no_failed_aliases)),
        Route("/v10/projects/{project}/promote/{deployment}", authorized(move_alias("promote")), methods=["POST"]),
        Route("/v1/projects/{project}/crons/run", authorized(run_cron), methods=["POST"]),
        Route("/v2/deployments/{id}/aliases", authorized(assign_alias), methods=["POST"]),
        Route("/v2/deployments/{id}/aliases", authorized(deployment_aliases)),
        Route("/v4/aliases/{alias}", authorized(get_alias)),
        Route("/v2/aliases/{alias}", authorized(delete_alias), methods=["DELETE"]),
        Route("/v1/drains", authorized(create_drain), methods=["POST"]),
        Route("/v1/drains", authorized(list_drains)),
        Route("/v1/drains/{id}", authorized(get_drain)),
        Route("/v1/drains/{id}", authorized(delete_drain), methods=["DELETE"]),
        Route("/v1/verify-endpoint", authorized(verify_endpoint_code)),
        Route("/_sandbox/drains/flush", admin_flush_drains, methods=["POST"]),
        Route("/_sandbox/env", admin_env, methods=["PUT"]),
        Route("/_sandbox/project", admin_project, methods=["PUT"]),
        Route("/_sandbox/logs", admin_logs),
        Route("/_sandbox/clock", admin_clock, methods=["POST"]),
        Route("/_sandbox/state", admin_state),
        Route("/_sandbox/deployments/{id}", admin_deployment),
        Route("/{path:path}", unknown, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]
    return Starlette(routes=routes)
