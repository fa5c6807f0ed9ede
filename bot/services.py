"""What handlers and jobs are given: settings, the database, the clock, Slack clients and the
delivery ledger's transports (`transports`: Slack's, `bot.slack_transport`, built on the clients).

Two Web API clients, on purpose. `slack` retries rate limits, server errors and dropped
connections, which is right for reads and idempotent calls. `slack_send` retries only 429s
(Slack did not act on a 429): a post retried after a dropped connection can land twice, so
posts go through the delivery ledger, which checks the channel history before sending again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.settings import Settings
from bot.slack_transport import SlackTransport
from scheduling.clock import Clock, SystemClock
from scheduling.transport import Transports
from storage.db import Database

log = logging.getLogger("plcbot")
api_log = logging.getLogger("plcbot.slack")


class LoggingWebClient(WebClient):
    """A WebClient that logs every failed Web API call with its method and error, not its contents."""

    def api_call(self, api_method: str, **kwargs: Any) -> Any:  # type: ignore[override]
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            api_log.warning("Slack API %s failed: %s (HTTP %s)", api_method,
                            exc.response.get("error", "?"), exc.response.status_code)
            raise
        except Exception as exc:
            api_log.warning("Slack API %s failed: %s", api_method, type(exc).__name__)
            raise


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    slack: WebClient
    slack_send: WebClient
    log: logging.Logger = field(default=log)
    transports: Transports = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Each recipient is reached on the platform of their identity (`storage.identities`),
        # Slack when none says otherwise; the transport reads the clients above at each call.
        by_platform: dict[str, Any] = {"slack": SlackTransport(self)}
        if self.settings.teams_enabled:  # a district on Teams: its people are reached there
            from bot.teams.transport import TeamsTransport

            by_platform["teams"] = TeamsTransport.from_settings(self.settings, self.db)
        self.transports = Transports(by_platform, default="slack", db=self.db)


def make_clients(settings: Settings, *, timeout: int = 15) -> tuple[WebClient, WebClient]:
    token = settings.bot_token or "xoxb-not-configured"
    reads = LoggingWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=timeout,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=5),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )
    sends = LoggingWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=timeout,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=8)],
    )
    return reads, sends


def build_services(settings: Settings, *, db: Database | None = None, clock: Clock | None = None) -> Services:
    """The services, their database bound to their clock: the time rules read and the time rows
    are stamped with are one clock (a `Database` given with another clock is refused)."""
    slack, slack_send = make_clients(settings)
    clock = clock or SystemClock()
    if db is None:
        db = Database(settings.database_url, clock=clock)
    else:
        db.bind_clock(clock)
    return Services(
        settings=settings,
        db=db,
        clock=clock,
        slack=slack,
        slack_send=slack_send,
    )
