"""Retention as scheduled work: one run a day, early in the morning, district time.

The planner keeps one row per day (`retention:2026-11-30`), due at 03:30 in PLCBOT_TIMEZONE:
it sends nothing, so school hours do not apply, and at that hour it competes with nobody for
the database. A day missed while the bot was down is skipped (the next day's run does the
same work); a run that fails is recorded on its row and the next day tries again.

The job and `plcbot privacy purge` call the same `purge`, so what the dry run shows is what
the night does. Forgetting is `storage.erasure.forget_person`, as `plcbot privacy forget` does it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, time
from functools import partial
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlmodel import SQLModel, select

from scheduling import keys
from storage import erasure, jobs
from storage import retention as store
from storage.feedback import install_link_key
from storage.models import ScheduledJob

if TYPE_CHECKING:
    from sqlmodel import Session

    from scheduling.registry import Registry
    from scheduling.services import Services

log = logging.getLogger("plcbot.retention")

KIND = "retention"
RUN_AT = time(3, 30)


def purge(services: Services, *, apply: bool, actor: str) -> store.PurgeReport:
    """Retention now: each school's records past its cutoff, the ledger, long-deactivated people."""
    s = services.settings
    report = store.run_purge(
        services.db, now=services.clock.now(), retention_years=s.retention_years, year_start=s.school_year_start,
        timezone=s.timezone, forget_days=s.forget_deactivated_days, apply=apply, actor=actor,
        forget=partial(_forget, services, actor) if apply else None, on_error=_log_failure,
    )
    if apply and (report.total or report.forget.forgotten):
        # Deleted and rewritten rows leave old versions (SQLite's -wal file, PostgreSQL's dead
        # tuples) until a checkpoint or VACUUM: clean them now, as `privacy forget` does.
        report.old_copies = erasure.scrub_after(services.db.engine, SQLModel.metadata.tables)
    return report


def _forget(services: Services, actor: str, session: Session, handle: str) -> Any:
    s = services.settings
    return erasure.forget_person(session, handle, actor=actor, now=services.clock.now(),
                         link_key=install_link_key(s), apply=True)


def _log_failure(who: str, exc: BaseException) -> None:
    # Never the user id: this log line outlives the erasure it reports on.
    log.error("Forgetting a deactivated account failed (%s): %s", who, type(exc).__name__)


def summary(report: store.PurgeReport) -> str:
    """One line of counts for the job's row and the log (no names, no user ids)."""
    parts = [f"{s.school.name} {s.total}" for s in report.schools if s.total]
    text = f"purged {report.total} records" + (f" ({', '.join(parts)}; ledger {report.ledger.total})"
                                               if report.total else "")
    text += f"; forgot {report.forget.forgotten} deactivated accounts"
    if report.forget.failed:
        text += f", {report.forget.failed} failed"
    return text[:500]


def run(job: ScheduledJob, services: Services) -> str | None:
    """The daily purge: delete what is past retention and forget long-deactivated accounts."""
    report = purge(services, apply=True, actor="retention")
    note = summary(report)
    log.info("Retention: %s", note)
    if report.forget.failed:
        raise RuntimeError(note)  # the row shows it failed; tomorrow's run tries those people again
    return note


def _day_of(job: ScheduledJob) -> str:
    return job.dedupe_key.partition(":")[2]


def is_stale(job: ScheduledJob, now: datetime) -> bool:
    """A day missed while the bot was down is not run late: the next day's run covers it."""
    tz = json.loads(job.payload or "{}").get("tz") or "UTC"
    return now.astimezone(ZoneInfo(tz)).date().isoformat() > _day_of(job)


def plan(services: Services, now: datetime) -> None:
    """Make sure today's row exists (district time zone): one row per day, whatever the process.

    A read first: the planner runs every tick, and a write transaction each time would queue
    behind real work on SQLite.
    """
    tz = services.settings.timezone
    day = now.astimezone(ZoneInfo(tz)).date()
    key = keys.retention_job(day)
    with services.db.read() as session:
        if session.exec(select(ScheduledJob.id).where(ScheduledJob.dedupe_key == key)).first() is not None:
            return
    due = datetime.combine(day, RUN_AT, tzinfo=ZoneInfo(tz))
    with services.db.session() as session:
        jobs.schedule(session, kind=KIND, dedupe_key=key, due_at=due,
                      payload={"tz": tz}, reschedule=False)


def register(registry: Registry) -> None:
    registry.kind(KIND, run, label="retention", is_stale=is_stale)
    registry.planner("retention", plan)
