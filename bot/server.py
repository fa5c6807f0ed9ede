"""HTTP mode under gunicorn's threaded worker (Bolt's own `start` server is for development only).

Measured on a 2-core machine (FIELD-NOTES.md): gunicorn gthread with one worker and 16 threads
answered 50 concurrent clients at p99 51 ms. The Bolt app is built inside the worker, after
the fork, so its threads and database connections belong to the process that uses them.
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.app.base import BaseApplication

from bot import logs
from bot.runtime import Runtime
from bot.settings import Settings

log = logging.getLogger("plcbot")


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, *, with_scheduler: bool) -> None:
        self.settings = settings
        self.with_scheduler = with_scheduler
        self.runtime: Runtime | None = None
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        options: dict[str, Any] = {
            "bind": f"{s.host}:{s.port}",
            "workers": s.web_workers,
            "worker_class": "gthread",
            "threads": s.http_threads,
            "graceful_timeout": 30,
            "timeout": 60,
            "keepalive": 5,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": s.log_level.lower(),
            "proc_name": "plcbot",
            "control_socket_disable": True,
            "worker_exit": self._worker_exit,
        }
        for key, value in options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Any:
        logs.configure(self.settings.log_level, logs.secrets_of(self.settings))
        self.runtime = Runtime(self.settings)
        if self.with_scheduler:
            self.runtime.start_scheduler()
        log.info("plcbot serving HTTP on %s:%s (POST /slack/events, GET /healthz)",
                 self.settings.host, self.settings.port)
        return self.runtime.wsgi()

    def _worker_exit(self, server: Any, worker: Any) -> None:
        if self.runtime is not None:
            self.runtime.shutdown()


def serve_http(settings: Settings, *, with_scheduler: bool = True) -> None:
    _Server(settings, with_scheduler=with_scheduler).run()
