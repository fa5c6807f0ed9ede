"""The APScheduler that drives the tick. Built by one factory; shut down on exit.

APScheduler holds no work of its own: one interval job claims due rows, so nothing is
pickled and any process can add or move work. misfire_grace_time is set on purpose (the
default of one second silently drops a tick delayed by a busy machine).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from scheduling import runner
from scheduling.leader import Leadership
from scheduling.registry import Registry

if TYPE_CHECKING:
    from scheduling.services import Services

log = logging.getLogger("plcbot.scheduler")
TICK_JOB_ID = "plcbot-tick"


def build_scheduler(services: Services, registry: Registry) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone="UTC",
    )
    worker = runner.worker_name()
    guard = threading.Lock()
    leadership = Leadership(services.db)

    def _tick() -> None:
        if not leadership.acquire():  # another process ticks this SQLite file
            return
        if not guard.acquire(blocking=False):
            return
        try:
            runner.tick(services, registry, worker=worker)
        except Exception:  # the scheduler must outlive any failure, the database's included
            log.exception("Scheduler tick failed")
        finally:
            guard.release()

    scheduler.add_job(
        _tick,
        "interval",
        seconds=services.settings.scheduler_interval,
        id=TICK_JOB_ID,
        replace_existing=True,
        next_run_time=datetime.now(UTC),  # APScheduler runs on real time; rows use the clock
    )
    scheduler.plcbot_leadership = leadership  # type: ignore[attr-defined]
    return scheduler
