"""Socket Mode: the default for a school. No public URL; Slack sends requests over a websocket.

A small health server listens on 127.0.0.1 (PLCBOT_HEALTH_PORT) for `GET /healthz`.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot import health
from bot.runtime import Runtime
from bot.settings import Settings

log = logging.getLogger("plcbot")


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def serve_socket(settings: Settings, *, with_scheduler: bool = True, stop: threading.Event | None = None,
                 beside: Callable[[], None] | None = None) -> None:
    """Until SIGTERM or SIGINT, or `stop`. `beside` stops what runs beside Slack in this process (the
    Teams front), after Slack's connection closes and before the scheduler and database do."""
    stop = stop or threading.Event()
    runtime = Runtime(settings, socket_mode=True)
    assert settings.app_token
    handler = SocketModeHandler(runtime.app, settings.app_token)
    runtime.slack_state = lambda: "ok" if handler.client.is_connected() else "disconnected"

    health_server = None
    if settings.health_port:
        health_server = make_server(
            "127.0.0.1", settings.health_port,
            health.wsgi_health(runtime.services, runtime.slack_state),
            server_class=_ThreadingWSGIServer, handler_class=_QuietHandler,
        )
        threading.Thread(target=health_server.serve_forever, name="health", daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())

    handler.connect()
    if with_scheduler:
        runtime.start_scheduler()
    log.info("plcbot connected in Socket Mode%s", f"; health on 127.0.0.1:{settings.health_port}"
             if settings.health_port else "")
    stop.wait()
    log.info("Shutting down")
    handler.close()
    if beside is not None:
        beside()
    if health_server is not None:
        health_server.shutdown()
    runtime.shutdown()
