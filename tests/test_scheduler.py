"""Scheduled work as rows: claimed once, run once, never the end of the scheduler."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from bot.services import build_services
from bot.settings import from_env
from scheduling import runner
from scheduling.clock import FakeClock
from scheduling.registry import Registry
from scheduling.scheduler import build_scheduler
from storage import jobs, migrate
from storage.db import Database
from storage.models import ScheduledJob

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def _services(url: str, clock: FakeClock, **env: str):
    db = Database(url)
    migrate.upgrade(db)
    settings = from_env({"DATABASE_URL": url, "SLACK_API_URL": "http://127.0.0.1:9/api/", **env})
    return build_services(settings, db=db, clock=clock)


def _registry(ran: list[int], lock: threading.Lock) -> Registry:
    registry = Registry()

    def work(job, services):  # noqa: ANN001
        with lock:
            ran.append(job.id)
        time.sleep(0.002)

    def boom(job, services):  # noqa: ANN001
        raise RuntimeError("the database went away")

    registry.kind("work", work, label="work")
    registry.kind("boom", boom, label="boom")
    registry.kind("old", work, label="old", is_stale=lambda job, now: now - job.due_at > timedelta(hours=1))
    return registry


def _add(services, kind: str, key: str, due: datetime) -> None:
    with services.db.session() as session:
        jobs.schedule(session, kind=kind, dedupe_key=key, due_at=due)


def test_due_work_runs_once_failures_and_stale_work_are_recorded(db_url):
    clock = FakeClock(NOW)
    services = _services(db_url, clock)
    ran: list[int] = []
    registry = _registry(ran, threading.Lock())
    _add(services, "work", "a", NOW - timedelta(minutes=1))
    _add(services, "boom", "b", NOW - timedelta(minutes=1))
    _add(services, "old", "c", NOW - timedelta(hours=5))
    _add(services, "work", "later", NOW + timedelta(hours=1))
    result = runner.tick(services, registry, worker="w1")
    assert (result.ran, result.failed, result.skipped) == (1, 1, 1)
    with services.db.read() as session:
        states = {j.dedupe_key: (j.state, j.last_error) for j in session.exec(select(ScheduledJob))}
    assert states["a"][0] == "done"
    assert states["b"][0] == "failed" and "database went away" in states["b"][1]
    assert states["c"] == ("skipped", "missed; no longer useful")
    assert states["later"][0] == "pending"
    assert runner.tick(services, registry, worker="w1").ran == 0  # nothing runs twice
    clock.advance(timedelta(hours=1))
    assert runner.tick(services, registry, worker="w1").ran == 1


def test_adding_the_same_work_twice_keeps_one_row_and_moves_it(db_url):
    services = _services(db_url, FakeClock(NOW))
    _add(services, "work", "same", NOW)
    _add(services, "work", "same", NOW + timedelta(hours=2))
    with services.db.read() as session:
        rows = session.exec(select(ScheduledJob)).all()
    assert len(rows) == 1 and rows[0].due_at == NOW + timedelta(hours=2)


def test_work_held_by_a_dead_process_is_claimed_again_after_its_lease(db_url):
    clock = FakeClock(NOW)
    services = _services(db_url, clock)
    _add(services, "work", "x", NOW)
    claimed = jobs.claim_due(services.db, now=NOW, worker="dead", lease=timedelta(minutes=10))
    assert len(claimed) == 1
    assert jobs.claim_due(services.db, now=NOW + timedelta(minutes=5), worker="alive") == []
    again = jobs.claim_due(services.db, now=NOW + timedelta(minutes=11), worker="alive")
    assert [j.dedupe_key for j in again] == ["x"]


def test_four_workers_never_run_the_same_row(any_db_url):
    clock = FakeClock(NOW)
    services = [_services(any_db_url, clock) for _ in range(4)]
    ran: list[int] = []
    lock = threading.Lock()
    registry = _registry(ran, lock)
    for i in range(60):
        _add(services[0], "work", f"job-{i}", NOW - timedelta(seconds=i))
    threads = [
        threading.Thread(target=runner.tick, args=(s, registry), kwargs={"worker": f"w{n}"})
        for n, s in enumerate(services)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = Counter(ran)
    assert len(counts) == 60 and max(counts.values()) == 1
    for s in services:
        s.db.dispose()


def test_the_real_apscheduler_drives_the_tick(db_url):
    clock = FakeClock(NOW)
    services = _services(db_url, clock, PLCBOT_SCHEDULER_INTERVAL="0.05")
    ran: list[int] = []
    registry = _registry(ran, threading.Lock())
    _add(services, "boom", "first-fails", NOW)
    scheduler = build_scheduler(services, registry)
    scheduler.start()
    try:
        _add(services, "work", "added-while-running", NOW)
        deadline = time.monotonic() + 5
        while not (ran and jobs.last_beat(services.db)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ran, "the scheduler never ran the due work"
        assert scheduler.running  # a failing job did not stop it
        assert jobs.last_beat(services.db) is not None  # the tick finished and said so
        assert [j.id for j in scheduler.get_jobs()] == ["plcbot-tick"]
    finally:
        scheduler.shutdown(wait=True)


def test_on_one_sqlite_file_only_one_process_ticks(db_url, tmp_path):
    """Two schedulers (two web workers, or `run` beside `scheduler`) share a file: one leads."""
    import subprocess
    import sys
    import textwrap

    from scheduling.leader import Leadership

    first = Leadership(Database(db_url))
    assert first.acquire()
    script = textwrap.dedent(f"""
        from scheduling.leader import Leadership
        from storage.db import Database
        print(Leadership(Database({db_url!r})).acquire())
    """)
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == "False"
    first.release()
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == "True"


def test_two_processes_beating_one_new_name_at_once_both_succeed(any_db_url):
    """A restart overlapping its predecessor (or twin schedulers) writes the same heartbeat name
    for the first time at once: on PostgreSQL both found no row; the tick must not fail on it."""
    import threading
    from datetime import UTC, datetime

    from storage.clock import FakeClock
    from storage.db import Database
    from storage.models import Heartbeat

    db = Database(any_db_url, clock=FakeClock(datetime(2026, 12, 7, tzinfo=UTC)))
    migrate.upgrade(db, backup=False)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def beat(i: int) -> None:
        try:
            start.wait()
            jobs.beat(db, "scheduler:twin", datetime(2026, 12, 7, 12, i, tzinfo=UTC), f"ran={i}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=beat, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.read() as session:
        assert len(session.exec(select(Heartbeat)).all()) == 1
    db.dispose()
