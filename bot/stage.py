"""The whole bot on 127.0.0.1 against the Slack double, with a fake clock.

Requests reach the bot the way Slack sends them: signed HTTP POSTs to /slack/events, served by
a threaded WSGI server around the same WSGI app `plcbot run` serves under gunicorn. The test
harness (`tests/harness.BotHarness`) and `plcbot demo` both drive the bot through a `Stage`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from socketserver import ThreadingMixIn
from typing import Any, Self
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bot.runtime import Runtime
from bot.services import Services, build_services
from bot.settings import Settings, from_env
from bot.slack_double import SlackDouble, SlackUser
from scheduling import runner
from scheduling.clock import FakeClock
from storage import migrate
from storage.db import Database


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class Stage:
    """The real `Runtime` served on loopback, its Slack a `SlackDouble`, its time a `FakeClock`.

    `start()` starts the double, builds the settings (the double's URL and token, `signing_secret`,
    `database_url`, then `env` on top), migrates the database, builds the services and the runtime
    and serves them; `stop()` undoes it all, and is safe after a failed or missing `start()`.
    """

    settings: Settings
    services: Services
    runtime: Runtime
    server: WSGIServer
    thread: threading.Thread
    url: str

    def __init__(self, *, database_url: str, clock: FakeClock, signing_secret: str,
                 env: Mapping[str, str] | None = None, worker: str = "stage", thread_name: str | None = None) -> None:
        self.database_url = database_url
        self.clock = clock
        self.signing_secret = signing_secret
        self.env = dict(env or {})
        self.worker = worker  # the name tick() runs the scheduler under
        self.thread_name = thread_name
        self.double = SlackDouble()

    def start(self) -> Self:
        self.double.start()
        self.settings = from_env({
            "SLACK_BOT_TOKEN": self.double.bot_token,
            "SLACK_SIGNING_SECRET": self.signing_secret,
            "SLACK_API_URL": self.double.url,
            "DATABASE_URL": self.database_url,
            **self.env,
        })
        db = Database(self.settings.database_url)
        migrate.upgrade(db)
        self.services = build_services(self.settings, db=db, clock=self.clock)
        self.runtime = Runtime(self.settings, services=self.services)
        self.server = make_server("127.0.0.1", 0, self.runtime.wsgi(), server_class=_Server, handler_class=_Quiet)
        # A short poll: shutdown() waits for the loop to notice (0.5 s by default).
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True, name=self.thread_name)
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
        """A person sending the bot signed requests, the way Slack would."""
        return SlackUser(self.double, user_id, bot_url=self.url, signing_secret=self.signing_secret)

    def tick(self) -> runner.TickResult:
        """One scheduler tick at the fake clock's time, in this thread."""
        return runner.tick(self.services, self.runtime.registry, worker=self.worker)
