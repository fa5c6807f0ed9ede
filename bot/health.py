"""`GET /healthz`: is the database reachable, are Slack and Teams up, when did the scheduler last run."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bot.services import Services
from storage import jobs


def report(services: Services, slack_state: Callable[[], str] | None,
           teams_state: Callable[[], str] | None = None) -> tuple[int, dict[str, Any]]:
    """The health body: database, each front that runs (Slack: "ok"/"http"; Teams: "ok" when the app
    started and its token endpoint answers), the scheduler's last tick. 503 when anything is wrong."""
    body: dict[str, Any] = {"status": "ok"}
    try:
        services.db.ping()
        body["database"] = "ok"
    except Exception as exc:
        body["database"] = f"error: {type(exc).__name__}"
        body["status"] = "error"
    if slack_state is not None:
        body["slack"] = slack_state()
        if body["slack"] not in ("ok", "http"):
            body["status"] = "error"
    if teams_state is not None:
        body["teams"] = teams_state()
        if body["teams"] != "ok":
            body["status"] = "error"
    try:
        beat = jobs.last_beat(services.db)
        body["scheduler_last_run"] = beat.at.isoformat() if beat else None
    except Exception:
        body["scheduler_last_run"] = None
    return (200 if body["status"] == "ok" else 503), body


def wsgi_health(services: Services, slack_state: Callable[[], str] | None,
                teams_state: Callable[[], str] | None = None) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        status, body = report(services, slack_state, teams_state)
        data = json.dumps(body).encode()
        start_response(
            f"{status} {'OK' if status == 200 else 'Service Unavailable'}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        )
        return [data]

    return app


def combine(slack_wsgi: Callable[..., Any], health_wsgi: Callable[..., Any]) -> Callable[..., Any]:
    """Route /healthz to the health check and everything else to Bolt's WSGI adapter."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == "/healthz" and environ.get("REQUEST_METHOD") == "GET":
            return health_wsgi(environ, start_response)
        return slack_wsgi(environ, start_response)

    return app
