"""Serving the Teams front: the SDK's FastAPI app under uvicorn (one worker) on TEAMS_PORT.

`POST /api/messages` (JWT-validated by the SDK before anything is read) and `GET /healthz`.
Teams only: uvicorn runs in the main thread and stops on SIGTERM/SIGINT. Beside Slack: it runs in
a thread of the Slack process in Socket Mode (which never forks), or in a process of its own beside
gunicorn's in HTTP mode (`bot.supervisor` says why); the scheduler stays with Slack's runtime.
One worker: the SDK keeps per-process state (its validator's key cache), and the core's actions
run in the front's thread pool, not in more processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

import uvicorn

from bot.services import Services, build_services
from bot.settings import Settings
from bot.teams.app import TeamsFront

log = logging.getLogger("plcbot")


class _Server(uvicorn.Server):
    """uvicorn without its own signal capture: it re-raises SIGTERM after shutting down, which would
    kill the process before the scheduler and the database are closed. `TeamsServer.run` handles them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class TeamsServer:
    def __init__(self, settings: Settings, services: Services | None = None) -> None:
        self.settings = settings
        self.services = services or build_services(settings)
        self.front = TeamsFront(settings, self.services)
        config = uvicorn.Config(self.front.fastapi, host=settings.host, port=settings.teams_port, workers=1,
                                log_level=settings.log_level.lower(), access_log=False, lifespan="on",
                                server_header=False)
        self.server = _Server(config)
        self.thread: threading.Thread | None = None

    async def serve(self) -> None:
        await self.front.initialize()
        log.info("plcbot serving Teams on %s:%s (POST /api/messages, GET /healthz)",
                 self.settings.host, self.settings.teams_port)
        await self.server.serve()

    def run(self) -> None:
        """Until SIGTERM or SIGINT (in the main thread), or `stop()`."""
        asyncio.run(self._run())

    async def _run(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._stop_on_signals(asyncio.get_running_loop())
        await self.serve()

    def _stop_on_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        """The first SIGTERM or SIGINT stops the server; later ones are ignored, also after the loop
        has closed, while the caller closes the scheduler and the database. (A terminal's Ctrl-C
        reaches every process of `plcbot run` and the supervisor then sends SIGTERM: the loop's own
        handlers are gone by then, and the default one would kill this process mid-cleanup.)"""
        stopping = threading.Event()

        def on_signal(_sig: int, _frame: object) -> None:
            if not stopping.is_set() and not loop.is_closed():
                stopping.set()
                loop.call_soon_threadsafe(self.stop_soon)

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, on_signal)

    def stop_soon(self) -> None:
        log.info("Shutting down")
        self.front.stop()
        self.server.should_exit = True

    def start_thread(self) -> threading.Thread:
        self.thread = threading.Thread(target=self.run, name="teams", daemon=True)
        self.thread.start()
        return self.thread

    def stop(self) -> None:
        self.front.stop()
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)

    def stop_and_close(self) -> None:
        """Beside Slack in Socket Mode: finish the requests in hand, then close this front's database pool."""
        self.stop()
        self.services.db.dispose()
        log.info("Teams front stopped")


def serve_teams(settings: Settings, *, with_scheduler: bool = True) -> None:
    """Teams only: the front and (unless told not to) the scheduler, in this process."""
    from scheduling import registry as scheduling_registry
    from scheduling.scheduler import build_scheduler

    services = build_services(settings)
    teams = TeamsServer(settings, services)
    scheduler = None
    if with_scheduler:
        scheduler = build_scheduler(services, scheduling_registry.load())
        scheduler.start()
        log.info("Scheduler started (tick every %ss)", settings.scheduler_interval)
    try:
        teams.run()
    finally:
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=True)
            leadership = getattr(scheduler, "plcbot_leadership", None)
            if leadership is not None:
                leadership.release()
        services.db.dispose()
        if teams.server.started:
            log.info("plcbot stopped cleanly")
        else:  # uvicorn has logged why (most often: the port is taken)
            log.error("The Teams front could not serve on %s:%s (HOST, TEAMS_PORT); see the line above",
                      settings.host, settings.teams_port)


__all__ = ["TeamsServer", "serve_teams"]
