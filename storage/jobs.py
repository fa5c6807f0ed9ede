"""Scheduled work as rows: add it once, move it, claim it safely, finish it."""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import false, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.db import Database
from storage.models import Heartbeat, ScheduledJob

OPEN_STATES = ("pending", "running")
# A claim lasts this long past the clock's `now` and is renewed while the work runs (the runner's
# heartbeat renews it every few seconds), so a process that died stops holding its work soon.
LEASE = timedelta(minutes=2)
log = logging.getLogger("plcbot.scheduler")


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
              lease: timedelta = LEASE, job_id: int | None = None) -> list[ScheduledJob]:
    """Take due work for this worker. Two workers never hold the same row.

    PostgreSQL: FOR UPDATE SKIP LOCKED. SQLite: the write transaction is BEGIN IMMEDIATE, so
    claims from several processes queue on the database lock. A claim is a lease, renewed while
    its work runs: work held by a process that died is claimed again once the lease runs out,
    and at once when that process ran on this host (its pid is gone; see `holder_gone`).
    """
    with db.session() as session:
        gone = _gone_claims(session, job_id)
        # `plcbot jobs run ID` may also rerun finished work (a round that failed): the ledger
        # keeps what was already delivered from being sent again.
        claimable = ("pending",) if job_id is None else ("pending", "done", "failed", "skipped")
        running = col(ScheduledJob.state) == "running"
        query = select(ScheduledJob).where(
            or_(
                col(ScheduledJob.state).in_(claimable),
                running & (col(ScheduledJob.lease_until) < now),
                running & col(ScheduledJob.claimed_by).in_(gone) if gone else false(),
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
            if job.state == "running":
                log.warning("Job %s taken over from %s (%s)", job.id, job.claimed_by,
                            "its process has ended" if job.claimed_by in gone else "its lease ran out")
            job.state = "running"
            job.attempts += 1
            job.claimed_by = worker
            job.lease_until = now + lease
            session.add(job)
        return jobs


def _gone_claims(session: Session, job_id: int | None) -> list[str]:
    """The `claimed_by` of running work held by processes of this host that have ended."""
    query = select(ScheduledJob.claimed_by).where(
        col(ScheduledJob.state) == "running",
        col(ScheduledJob.claimed_by).startswith(f"{_host()}:", autoescape=True),
    ).distinct()
    if job_id is not None:
        query = query.where(col(ScheduledJob.id) == job_id)
    return [c for c in session.exec(query).all() if c is not None and holder_gone(c)]


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
    return extend_leases(db, [job_id], until=until, worker=worker) == 1


def extend_leases(db: Database, job_ids: Sequence[int], *, until: datetime, worker: str | None = None) -> int:
    """Renew the claims on `job_ids` still running (and held by `worker`); returns how many."""
    if not job_ids:
        return 0
    stmt = update(ScheduledJob).where(col(ScheduledJob.id).in_(list(job_ids)),
                                      col(ScheduledJob.state) == "running")
    if worker is not None:
        stmt = stmt.where(col(ScheduledJob.claimed_by) == worker)
    with db.session() as session:
        result = session.exec(stmt.values(lease_until=until))  # type: ignore[call-overload]
        return int(result.rowcount or 0)


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
    """Record that `name` ran at `at`. Two processes of one name (a restart overlapping its
    predecessor, a test's twin schedulers) may both find no row on PostgreSQL: the second insert
    then updates the row the first wrote, instead of failing the tick."""
    with db.session() as session:
        row = session.get(Heartbeat, name)
        if row is None:
            try:
                with session.begin_nested():
                    session.add(Heartbeat(name=name, at=at, detail=detail))
                return
            except IntegrityError:
                row = session.get(Heartbeat, name)
                assert row is not None
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


# ---------------------------------------------------------------------------- who holds a claim
# `claimed_by` names the process holding the work: "host:pid:proc:role", e.g.
# "web-1:4242:4026531836.81234:scheduler". `proc` is the process's pid namespace and start time
# (from /proc), so neither a pid reused by a later process nor the same pid in another container
# that shares the host name is taken for the claimant. A claim whose process has ended on this
# host is free at once; a claim from another host cannot be checked from here and is free only
# when its lease runs out. Any other string (a test's "w1") is a claim without a process.
_HOST_CHARS = 40


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    proc: str  # "" where /proc is not available
    role: str


def _host() -> str:
    return (socket.gethostname() or "localhost").replace(":", "-")[:_HOST_CHARS]


def _proc_token(pid: int) -> str | None:
    """"<pid namespace>.<start time>" of a live process; "" without /proc; None if it has ended."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            return None  # no such process
        return "" if _pid_alive(pid) else None
    except OSError:
        return ""
    fields = stat[stat.rfind(")") + 2:].split()  # after "pid (command name) "
    if not fields or fields[0] in ("Z", "X", "x"):  # a zombie has ended, whether reaped or not
        return None
    try:
        namespace = os.readlink("/proc/self/ns/pid" if pid == os.getpid() else f"/proc/{pid}/ns/pid")
    except OSError:
        namespace = os.readlink("/proc/self/ns/pid") if os.path.exists("/proc/self/ns/pid") else ""
    return f"{namespace.strip('pid:[]')}.{fields[19]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def this_process(role: str) -> str:
    """The `claimed_by` (and heartbeat name) of this process doing `role` work."""
    pid = os.getpid()
    return f"{_host()}:{pid}:{_proc_token(pid) or ''}:{role}"


def holder_of(claimed_by: str | None) -> Holder | None:
    """The process named by a claim, or None when the claim does not name one."""
    parts = (claimed_by or "").split(":", 3)
    if len(parts) != 4 or not parts[1].isdigit():
        return None
    return Holder(parts[0], int(parts[1]), parts[2], parts[3])


def holder_gone(claimed_by: str | None) -> bool:
    """True when the claim's process is known to have ended: it ran on this host, in this pid
    namespace, and its pid is no longer alive (or now belongs to a process started later)."""
    holder = holder_of(claimed_by)
    if holder is None or holder.host != _host():
        return False
    mine = _proc_token(os.getpid()) or ""
    if holder.proc.split(".")[0] != mine.split(".")[0]:
        return False  # another pid namespace (a container sharing the host name): cannot tell
    now = _proc_token(holder.pid)
    if now is None:
        return True
    return bool(holder.proc) and bool(now) and now != holder.proc
