"""Shared helpers for the cycle and check-in tests: start a cycle, find check-in DMs, move time."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlmodel import select

from scheduling import registry
from storage import cycles as cycle_store
from storage.models import Checkin, Cycle, Delivery, ScheduledJob
from storage.rules.cycles import CycleValues
from tests.harness import BotHarness


def only_checkins(bot: BotHarness) -> BotHarness:
    """Ticks run the check-in planner and kinds alone.

    These tests jump the clock across weeks, which makes every feature's weekly work due
    (digest workbooks, agenda posts…): over half of their time went there, and each feature
    tests its own. `test_a_whole_four_week_cycle` keeps every feature, so one scenario still
    shows the others never get in the way of check-ins.
    """
    bot.runtime.registry = registry.load(["scheduling.checkins"])
    return bot


GOOD_FORM = {
    "title": {"title": "Fractions on a number line"},
    "goal": {"goal": "80% of students place fractions correctly by March"},
    "strategy": {"strategy": "Daily number-line warm-ups"},
    "metric_name": {"metric_name": "Exit ticket score 3+"},
    "metric_unit": {"metric_unit": "%"},
    "baseline": {"baseline": "55"},
    "target": {"target": "80"},
    "start_date": {"start_date": "2026-11-30"},
    "weeks": {"weeks": "4"},
    "checkin_weekday": {"checkin_weekday": "3"},
    "checkin_time": {"checkin_time": "14:00"},
    "reminder_hours": {"reminder_hours": "24"},
}


def make_cycle(bot: BotHarness, team_id: int, *, start: date = date(2026, 11, 30), weeks: int = 4,
               weekday: int = 3, at: str = "14:00", reminder_hours: int = 24, by: str = "UFAC") -> int:
    values = CycleValues("Fractions", "Students <b>place</b> fractions", "Number-line warm-ups",
                         "Exit ticket", "%", 55.0, 80.0, start, weeks, weekday, at, reminder_hours)
    with bot.db.session() as session:
        cycle = cycle_store.start_cycle(session, team_id=team_id, values=values, created_by=by,
                                        now=bot.clock.now())
        return cycle.id or 0


def checkin_dms(bot: BotHarness, user_id: str, *, prefix: str = "checkin:") -> list[dict[str, Any]]:
    """The messages in a teacher's DM whose ledger key starts with `prefix`."""
    out = []
    for message in bot.double.messages(user_id):
        key = ((message.get("metadata") or {}).get("event_payload") or {}).get("key", "")
        if key.startswith(prefix):
            out.append(message)
    return out


def jobs_of(bot: BotHarness, kind: str) -> list[ScheduledJob]:
    with bot.db.read() as session:
        return list(session.exec(select(ScheduledJob).where(ScheduledJob.kind == kind)
                                 .order_by(ScheduledJob.due_at)).all())


def checkins(bot: BotHarness, week: int | None = None) -> list[Checkin]:
    with bot.db.read() as session:
        query = select(Checkin)
        if week is not None:
            query = query.where(Checkin.week == week)
        return list(session.exec(query.order_by(Checkin.id)).all())


def deliveries(bot: BotHarness, prefix: str) -> list[Delivery]:
    with bot.db.read() as session:
        return [d for d in session.exec(select(Delivery)).all() if d.key.startswith(prefix)]


def cycle_row(bot: BotHarness, cycle_id: int) -> Cycle:
    with bot.db.read() as session:
        row = session.get(Cycle, cycle_id)
        assert row is not None
        return row


def at(bot: BotHarness, when: datetime) -> None:
    bot.clock.set(when)


@contextmanager
def write_lock_held(bot: BotHarness, *, at_most: float = 4.0) -> Iterator[None]:
    """Another process holds SQLite's write lock (BEGIN IMMEDIATE) until the block ends, or at
    most `at_most` seconds: a form acknowledged only after its write would answer late."""
    path = bot.db_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    conn.execute("BEGIN IMMEDIATE")
    guard = threading.Lock()
    held = [True]

    def release() -> None:
        with guard:
            if held[0]:
                conn.execute("ROLLBACK")
                held[0] = False

    timer = threading.Timer(at_most, release)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        release()
        conn.close()
