"""Scheduled work as rows: add it once, move it, claim it safely, finish it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.db import Database
from storage.models import Heartbeat, ScheduledJob

OPEN_STATES = ("pending", "running")


def schedule(
    session: Session,
    *,
    kind: str,
    dedupe_key: str,
    due_at: datetime,
    team_id: int | None = None,
    school_id: int | None = None,
    ref_id: int | None = None,
    payload: dict[str, Any] | None = None,
    reschedule: bool = True,
) -> ScheduledJob:
    """Add the work unless a row with `dedupe_key` exists; move a pending one to `due_at`."""
    existing = session.exec(select(ScheduledJob).where(ScheduledJob.dedupe_key == dedupe_key)).first()
    if existing is None:
        job = ScheduledJob(
            kind=kind,
            dedupe_key=dedupe_key,
            due_at=due_at,
            team_id=team_id,
            school_id=school_id,
            ref_id=ref_id,
            payload=json.dumps(payload or {}, sort_keys=True),
        )
        try:
            with session.begin_nested():
                session.add(job)
        except IntegrityError:  # another process added it first
            return session.exec(select(ScheduledJob).where(ScheduledJob.dedupe_key == dedupe_key)).one()
        return job
    if reschedule and existing.state == "pending" and existing.due_at != due_at:
        existing.due_at = due_at
        if payload is not None:
            existing.payload = json.dumps(payload, sort_keys=True)
        session.add(existing)
    return existing


def cancel(session: Session, *, dedupe_key: str | None = None, kind: str | None = None,
           ref_id: int | None = None, reason: str = "cancelled") -> int:
    """Mark pending work skipped (kept, so `plcbot jobs` can say why it did not run)."""
    stmt = update(ScheduledJob).where(col(ScheduledJob.state) == "pending")
    if dedupe_key is not None:
        stmt = stmt.where(col(ScheduledJob.dedupe_key) == dedupe_key)
    if kind is not None:
        stmt = stmt.where(col(ScheduledJob.kind) == kind)
    if ref_id is not None:
        stmt = stmt.where(col(ScheduledJob.ref_id) == ref_id)
    result = session.exec(stmt.values(state="skipped", last_error=reason))  # type: ignore[call-overload]
    return int(result.rowcount or 0)


def claim_due(db: Database, *, now: datetime, worker: str, limit: int = 20,
              lease: timedelta = timedelta(minutes=10), job_id: int | None = None) -> list[ScheduledJob]:
    """Take due work for this worker. Two workers never hold the same row.

    PostgreSQL: FOR UPDATE SKIP LOCKED. SQLite: the write transaction is BEGIN IMMEDIATE, so
    claims from several processes queue on the database lock. A claim is a lease: work held
    by a process that died is claimed again once the lease runs out.
    """
    with db.session() as session:
        # `plcbot jobs run ID` may also rerun finished work (a round that failed): the ledger
        # keeps what was already delivered from being sent again.
        claimable = ("pending",) if job_id is None else ("pending", "done", "failed", "skipped")
        query = select(ScheduledJob).where(
            or_(
                col(ScheduledJob.state).in_(claimable),
                (col(ScheduledJob.state) == "running") & (col(ScheduledJob.lease_until) < now),
            )
        )
        if job_id is None:
            query = query.where(col(ScheduledJob.due_at) <= now).order_by(col(ScheduledJob.due_at))
        else:
            query = query.where(col(ScheduledJob.id) == job_id)
        query = query.limit(limit)
        if db.is_postgresql:
            query = query.with_for_update(skip_locked=True)
        jobs = list(session.exec(query).all())
        for job in jobs:
            job.state = "running"
            job.attempts += 1
            job.claimed_by = worker
            job.lease_until = now + lease
            session.add(job)
        return jobs


def finish(db: Database, job_id: int, *, state: str, now: datetime, error: str | None = None) -> None:
    with db.session() as session:
        job = session.get(ScheduledJob, job_id)
        if job is None:
            return
        job.state = state
        job.finished_at = now
        job.lease_until = None
        job.last_error = error
        session.add(job)


def extend_lease(db: Database, job_id: int, *, until: datetime, worker: str | None = None) -> bool:
    """Keep a long job (a round to thousands) claimed; False if another worker has taken it."""
    with db.session() as session:
        job = session.get(ScheduledJob, job_id)
        if job is None or job.state != "running" or (worker is not None and job.claimed_by != worker):
            return False
        job.lease_until = until
        session.add(job)
        return True


def release(db: Database, job_id: int, *, due_at: datetime, error: str | None = None) -> None:
    """Give work back to the queue to try again at `due_at` (a round left unfinished)."""
    with db.session() as session:
        job = session.get(ScheduledJob, job_id)
        if job is None:
            return
        job.state = "pending"
        job.due_at = due_at
        job.lease_until = None
        job.last_error = error
        session.add(job)


def upcoming(session: Session, *, states: Sequence[str] = OPEN_STATES, limit: int = 200) -> list[ScheduledJob]:
    query = (
        select(ScheduledJob)
        .where(col(ScheduledJob.state).in_(list(states)))
        .order_by(col(ScheduledJob.due_at))
        .limit(limit)
    )
    return list(session.exec(query).all())


def beat(db: Database, name: str, at: datetime, detail: str = "") -> None:
    with db.session() as session:
        row = session.get(Heartbeat, name)
        if row is None:
            row = Heartbeat(name=name, at=at, detail=detail)
        else:
            row.at, row.detail = at, detail
        session.add(row)


def last_beat(db: Database, prefix: str = "scheduler") -> Heartbeat | None:
    with db.read() as session:
        query = (
            select(Heartbeat)
            .where(col(Heartbeat.name).startswith(prefix))
            .order_by(col(Heartbeat.at).desc())
        )
        return session.exec(query).first()
