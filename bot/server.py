"""HTTP mode under gunicorn's threaded worker (Bolt's own `start` server is for development only).

Measured on a 2-core machine (FIELD-NOTES.md): gunicorn gthread with one worker and 16 threads
answered 50 concurrent clients at p99 51 ms. The Bolt app is built inside the worker, after
the fork, so its threads and database connections belong to the process that uses them.
"""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator
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
        self.worker: Any = None
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
            "post_fork": self._post_fork,
            "worker_int": _finish_despite_more_signals,
            "worker_exit": self._worker_exit,
        }
        for key, value in options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def _post_fork(self, server: Any, worker: Any) -> None:
        self.worker = worker  # in the worker process: `load` runs there next

    def load(self) -> Any:
        with _quit_after_boot(self.worker):
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


@contextlib.contextmanager
def _quit_after_boot(worker: Any) -> Iterator[None]:
    """While a worker builds its runtime, SIGINT and SIGQUIT only mark it as stopping. gunicorn's own
    handlers raise SystemExit wherever the main thread is: during the build that can be inside a
    garbage-collector callback (printed and swallowed, and the worker boots on) or between starting
    the scheduler and recording it. Marked instead, the worker finishes booting, its loop sees at
    once that it must stop, and it closes its runtime as after any stop."""
    if worker is None:
        yield
        return
    quits = (signal.SIGINT, signal.SIGQUIT)
    previous = {sig: signal.getsignal(sig) for sig in quits}

    def mark(_sig: int, _frame: object) -> None:
        worker.alive = False

    for sig in quits:
        signal.signal(sig, mark)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _finish_despite_more_signals(worker: Any) -> None:
    """A worker told to quit (SIGINT or SIGQUIT) ignores the signals that follow while it closes its
    runtime. A terminal's Ctrl-C reaches the worker and the master, which then sends SIGQUIT: without
    this, the second signal lands inside the first one's clean-up (stopping the scheduler, closing
    the database) and cuts it short. gunicorn's SIGKILL after `graceful_timeout` still ends a stuck one."""
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM):
        # A Python no-op, not SIG_IGN: a signal already caught but not yet handled would then raise
        # "Signal 3 ignored due to race condition" in whatever the worker runs next.
        signal.signal(sig, lambda _sig, _frame: None)


def serve_http(settings: Settings, *, with_scheduler: bool = True) -> None:
    _Server(settings, with_scheduler=with_scheduler).run()
