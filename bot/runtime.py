"""One running bot: services, the Bolt app, its listener pool and the scheduler, started and
stopped together so in-flight work finishes before the database closes."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier

from bot import health
from bot.app import create_app
from bot.services import Services, build_services
from bot.settings import Settings
from scheduling import registry as scheduling_registry
from scheduling.clock import Clock
from scheduling.scheduler import build_scheduler

log = logging.getLogger("plcbot")


def _refuse_unparseable(slack_wsgi: Callable[..., Any], signing_secret: str) -> Callable[..., Any]:
    """Answer a body Bolt cannot parse (JSON that is not JSON) with 401 or 400, not a 500.

    Bolt parses the body before it checks the signature, so without this anyone could make
    the bot log a traceback. Unsigned or wrongly signed: 401, like every forged request.
    """

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            return slack_wsgi(environ, start_response)
        except ValueError:  # raised while parsing, before any response was started
            try:
                signed = SignatureVerifier(signing_secret).is_valid(
                    body, environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""),
                    environ.get("HTTP_X_SLACK_SIGNATURE", ""))
            except ValueError:  # no timestamp, or not a number
                signed = False
            status = "400 Bad Request" if signed else "401 Unauthorized"
            start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(status)))])
            return [status.encode()]

    return app


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        socket_mode: bool = False,
        services: Services | None = None,
    ) -> None:
        self.settings = settings
        self.services = services or build_services(settings, clock=clock)
        self.app, self.wiring, self.executor = create_app(self.services, socket_mode=socket_mode)
        self.registry = scheduling_registry.load()
        self.scheduler: BackgroundScheduler | None = None
        self.slack_state: Callable[[], str] = lambda: "http"

    def start_scheduler(self) -> None:
        self.scheduler = build_scheduler(self.services, self.registry)
        self.scheduler.start()
        log.info("Scheduler started (tick every %ss)", self.settings.scheduler_interval)

    def wsgi(self) -> Callable[..., Any]:
        return health.combine(
            _refuse_unparseable(SlackRequestHandler(self.app), self.settings.signing_secret or ""),
            health.wsgi_health(self.services, lambda: self.slack_state()),
        )

    def shutdown(self) -> None:
        """Stop taking work, let what is running finish, then close the database."""
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=True)
            self.scheduler.plcbot_leadership.release()  # type: ignore[attr-defined]
        self.executor.shutdown(wait=True)
        self.services.db.dispose()
        log.info("plcbot stopped cleanly")
