"""The whole bot on 127.0.0.1 against the Slack double, with an injected clock.

Requests reach the bot the way Slack sends them: signed HTTP POSTs to /slack/events, served by
a threaded WSGI server around the same WSGI app `plcbot run` serves under gunicorn.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bot.runtime import Runtime
from bot.services import build_services
from bot.settings import Settings, from_env
from bot.slack_double import SlackDouble, SlackUser
from scheduling import runner
from scheduling.clock import FakeClock
from storage import migrate
from storage.db import Database

SIGNING_SECRET = "test-signing-secret-0123456789"
# A Monday morning in term time, New York.
START = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class BotHarness:
    def __init__(self, db_url: str, *, env: dict[str, str] | None = None, start: datetime = START) -> None:
        self.db_url = db_url
        self.extra_env = env or {}
        self.clock = FakeClock(start)
        self.double = SlackDouble()

    def start(self) -> BotHarness:
        self.double.start()
        self.settings: Settings = from_env({
            "SLACK_BOT_TOKEN": self.double.bot_token,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": self.double.url,
            "DATABASE_URL": self.db_url,
            "PLCBOT_ADMINS": "UADMIN",
            "PLCBOT_LISTENER_THREADS": "16",
            **self.extra_env,
        })
        db = Database(self.settings.database_url)
        migrate.upgrade(db)
        self.services = build_services(self.settings, db=db, clock=self.clock)
        self.runtime = Runtime(self.settings, services=self.services)
        self.server = make_server("127.0.0.1", 0, self.runtime.wsgi(), server_class=_Server, handler_class=_Quiet)
        # A short poll: shutdown() waits for the loop to notice (0.5 s by default, in every test's teardown).
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slack/events"
        return self

    def stop(self) -> None:
        if hasattr(self, "server"):
            self.server.shutdown()
            self.server.server_close()
        if hasattr(self, "runtime"):
            self.runtime.shutdown()
        self.double.stop()

    @property
    def db(self) -> Database:
        return self.services.db

    def user(self, user_id: str) -> SlackUser:
        return SlackUser(self.double, user_id, bot_url=self.url, signing_secret=SIGNING_SECRET)

    def tick(self) -> runner.TickResult:
        """One scheduler tick at the fake clock's time, in this thread."""
        return runner.tick(self.services, self.runtime.registry, worker="test")

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until the work listeners do after their ack has finished."""
        assert self.runtime.executor.wait_idle(timeout), "listeners still busy"
