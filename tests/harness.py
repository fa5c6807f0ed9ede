"""The whole bot on 127.0.0.1 against the Slack double, with an injected clock.

Requests reach the bot the way Slack sends them: signed HTTP POSTs to /slack/events, served by
a threaded WSGI server around the same WSGI app `plcbot run` serves under gunicorn (see
`bot.stage`, which `plcbot demo` drives too).
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.stage import Stage
from scheduling.clock import FakeClock

SIGNING_SECRET = "test-signing-secret-0123456789"
# A Monday morning in term time, New York.
START = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)


class BotHarness(Stage):
    def __init__(self, db_url: str, *, env: dict[str, str] | None = None, start: datetime = START) -> None:
        self.db_url = db_url
        self.extra_env = env or {}
        super().__init__(database_url=db_url, clock=FakeClock(start), signing_secret=SIGNING_SECRET,
                         env={"PLCBOT_ADMINS": "UADMIN", "PLCBOT_LISTENER_THREADS": "16", **self.extra_env},
                         worker="test")

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until the work listeners do after their ack has finished."""
        assert self.runtime.executor.wait_idle(timeout), "listeners still busy"
