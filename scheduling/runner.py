"""One tick of the scheduler: plan upcoming work, claim what is due, run it.

Whatever a job raises is caught, logged and recorded on its row: the scheduler never dies of
one bad job, and a failed row stays visible in `plcbot jobs`.

Claims are short leases (`jobs.LEASE`, two minutes of the injected clock) that a heartbeat
thread renews while the work runs, so a long round never loses its claim while its process
lives, and work left by a process that died is taken over soon: at once on the same host (the
claim names the process, whose pid is gone), after the lease elsewhere.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scheduling.registry import Registry
from storage import jobs

if TYPE_CHECKING:
    from scheduling.services import Services
    from storage.models import ScheduledJob

log = logging.getLogger("plcbot.scheduler")


# How often the heartbeat renews the claims of the work in hand, in real seconds: well inside
# the lease, so a few missed renewals (a database busy for a while) still keep the claim.
RENEW_EVERY = 15.0


def worker_name(role: str = "scheduler") -> str:
    """This process, as it signs its claims: "host:pid:proc:role" (see `jobs.holder_of`)."""
    return jobs.this_process(role)


@contextmanager
def keep_leases(services: Services, job_ids: Sequence[int], *, worker: str,
                every: float | None = None) -> Iterator[None]:
    """While the block runs, renew the claims `worker` holds on `job_ids` to the clock's now
    plus `jobs.LEASE`, every `every` seconds, from a background thread that stops with it.

    The lease is measured on the injected clock, the renewal on real time: under a clock that
    stands still (tests, the demo) a renewal keeps the same expiry; a process that is alive
    keeps its claim whatever the clock does between renewals shorter than the lease.
    """
    stop = threading.Event()
    interval = RENEW_EVERY if every is None else every

    def renew() -> None:
        while not stop.wait(interval):
            try:
                until = services.clock.now() + jobs.LEASE
                if not jobs.extend_leases(services.db, job_ids, until=until, worker=worker):
                    return  # all finished, given back or (after a long stall) taken over
            except Exception:  # a busy database: the next renewal tries again
                log.warning("Renewing the claim on jobs %s failed", list(job_ids), exc_info=True)

    thread = threading.Thread(target=renew, name="lease-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


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
        # The whole batch is renewed, not only the job running: the rest wait their turn.
        with keep_leases(services, [j.id for j in claimed if j.id is not None], worker=worker):
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
    """`plcbot jobs run ID`: run that work now, in this process, whatever its due time.

    Returns "busy-or-finished" when another live process holds it (its row's `claimed_by` and
    `lease_until` say which and until when: `jobs.holder_of`)."""
    worker = worker_name("run-now")
    claimed = jobs.claim_due(services.db, now=services.clock.now(), worker=worker, job_id=job_id)
    if not claimed:
        return "busy-or-finished"
    with keep_leases(services, [job_id], worker=worker):
        return run_job(services, registry, claimed[0], force=True)
