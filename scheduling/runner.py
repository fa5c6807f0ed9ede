"""One tick of the scheduler: plan upcoming work, claim what is due, run it.

Whatever a job raises is caught, logged and recorded on its row: the scheduler never dies of
one bad job, and a failed row stays visible in `plcbot jobs`.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from scheduling.registry import Registry
from storage import jobs

if TYPE_CHECKING:
    from bot.services import Services
    from storage.models import ScheduledJob

log = logging.getLogger("plcbot.scheduler")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class TickResult:
    ran: int = 0
    failed: int = 0
    skipped: int = 0


def plan(services: Services, registry: Registry) -> None:
    now = services.clock.now()
    for name, planner in registry.planners:
        try:
            planner(services, now)
        except Exception:
            log.exception("Planner %s failed", name)


def run_job(services: Services, registry: Registry, job: ScheduledJob, *, force: bool = False) -> str:
    """Run one claimed job and record its outcome; returns the final state."""
    now = services.clock.now()
    kind = registry.kinds.get(job.kind)
    assert job.id is not None
    if kind is None:
        jobs.finish(services.db, job.id, state="failed", now=now, error=f"unknown kind {job.kind!r}")
        log.error("Job %s has unknown kind %s", job.id, job.kind)
        return "failed"
    if not force and kind.is_stale(job, now):
        jobs.finish(services.db, job.id, state="skipped", now=now, error="missed; no longer useful")
        log.warning("Skipped %s job %s due %s: missed while the bot was down", kind.label, job.id, job.due_at)
        return "skipped"
    started = services.clock.now()
    try:
        note = kind.run(job, services)
    except Exception as exc:
        log.exception("Job %s (%s) failed", job.id, kind.label)
        jobs.finish(services.db, job.id, state="failed", now=services.clock.now(), error=repr(exc)[:500])
        return "failed"
    with services.db.read() as session:
        fresh = session.get(type(job), job.id)
    if fresh is not None and fresh.state == "pending":  # the job gave itself back for later
        return "pending"
    jobs.finish(services.db, job.id, state="done", now=services.clock.now(), error=note)
    log.info("Ran %s job %s in %.2fs", kind.label, job.id, (services.clock.now() - started).total_seconds())
    return "done"


def tick(services: Services, registry: Registry, *, worker: str | None = None) -> TickResult:
    worker = worker or worker_name()
    result = TickResult()
    plan(services, registry)
    while True:
        claimed = jobs.claim_due(services.db, now=services.clock.now(), worker=worker, limit=10)
        if not claimed:
            break
        for job in claimed:
            state = run_job(services, registry, job)
            if state == "done":
                result.ran += 1
            elif state == "failed":
                result.failed += 1
            elif state == "skipped":
                result.skipped += 1
        if len(claimed) < 10:
            break
    jobs.beat(services.db, f"scheduler:{worker}", services.clock.now(), f"ran={result.ran}")
    return result


def run_now(services: Services, registry: Registry, job_id: int) -> str:
    """`plcbot jobs run ID`: run that work now, in this process, whatever its due time."""
    claimed = jobs.claim_due(
        services.db, now=services.clock.now(), worker=worker_name() + ":cli", job_id=job_id,
        lease=timedelta(minutes=30),
    )
    if not claimed:
        return "busy-or-finished"
    return run_job(services, registry, claimed[0], force=True)
