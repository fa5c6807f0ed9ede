"""One clock: every time the bot stores or compares comes from the injected clock.

The suite moves the machine's clock years from the test clock (`conftest.real_clock_elsewhere`),
so a time read from the machine (a model default, a `datetime.now()`) lands far from the test's
time. These tests pin that down: a school set up under the test clock gets its digests on that
clock, rows cannot be stamped by a database without a clock, and one database, like one process's
CLI, cannot be given two clocks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import SQLModel, col, select

from bot.services import build_services
from bot.settings import from_env
from storage.clock import FakeClock, NoClock, SystemClock
from storage.db import Database
from storage.models import AuditEntry, Delivery, Person, ScheduledJob, School, SchoolLeader
from tests.conftest import REAL_CLOCK_AT
from tests.harness import START, BotHarness

NEXT_MONDAY_DIGEST = datetime(2026, 12, 7, 12, 1, tzinfo=UTC)  # 07:01 in New York: W49's digest


def _far_from(a: datetime, b: datetime) -> bool:
    return abs(a - b) > timedelta(days=365)


def test_the_suite_runs_the_machines_clock_years_from_the_test_clock(bot, tmp_path):
    assert _far_from(datetime.now(UTC), bot.clock.now())
    assert abs(datetime.now(UTC) - REAL_CLOCK_AT) < timedelta(hours=1)  # and it still ticks from there
    stamp = tmp_path / "now"
    stamp.touch()  # the file system keeps the true time
    assert _far_from(datetime.fromtimestamp(stamp.stat().st_mtime, UTC), datetime.now(UTC))


@pytest.mark.real_clock
def test_the_system_clock_is_the_machines_aware_utc_time(tmp_path):
    stamp = tmp_path / "now"
    stamp.touch()
    now = SystemClock().now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert abs(now - datetime.fromtimestamp(stamp.stat().st_mtime, UTC)) < timedelta(minutes=1)


def test_a_school_set_up_under_the_test_clock_gets_the_next_digest_on_that_clock(bot):
    """The digest planner compares the school's creation with the clock: both must be the test's.

    With `created_at` from the machine, the school was made in 2031 and no digest of 2026 was
    ever owed (or, with the machine behind, digests for weeks before the school existed).
    """
    bot.double.add_user("UPRIN", name="uprin", real_name="Dr. Prin", tz="America/New_York")
    bot.user("UADMIN").command("school create Lincoln Elementary America/New_York", channel="CADMIN")
    bot.wait_idle()
    bot.user("UADMIN").command("school principal add <@UPRIN|uprin> in Lincoln Elementary", channel="CADMIN")
    bot.wait_idle()
    with bot.db.read() as session:
        school = session.exec(select(School)).one()
        assert school.created_at == START
        person = session.exec(select(Person).where(Person.handle == "UPRIN")).one()
        assert person.created_at == START
        assert session.exec(select(SchoolLeader)).one().created_at == START
        assert {e.at for e in session.exec(select(AuditEntry)).all()} == {START}
    bot.tick()
    with bot.db.read() as session:
        # W48's digest was due at 07:00 this Monday, before the school existed: not owed. W49's is.
        jobs = session.exec(select(ScheduledJob).where(ScheduledJob.kind == "digest")).all()
        assert [(j.dedupe_key, j.due_at, j.created_at) for j in jobs] == [
            (f"digest:{school.id}:2026-W49", NEXT_MONDAY_DIGEST - timedelta(minutes=1), START)]
    bot.clock.set(NEXT_MONDAY_DIGEST)
    bot.tick()
    with bot.db.read() as session:
        job = session.exec(select(ScheduledJob).where(ScheduledJob.dedupe_key == f"digest:{school.id}:2026-W49")).one()
        assert job.state == "done" and job.finished_at == NEXT_MONDAY_DIGEST
        sent = session.exec(select(Delivery).where(col(Delivery.key).startswith("digest:"))).all()
        assert [(d.key, d.state, d.created_at) for d in sent] == [
            (f"digest:{school.id}:2026-W49:UPRIN", "sent", NEXT_MONDAY_DIGEST)]
    dms = bot.double.messages(bot.double.dm_channel_id("UPRIN"))
    assert [m["metadata"]["event_payload"]["key"] for m in dms if m.get("metadata")] == [
        f"digest:{school.id}:2026-W49:UPRIN"]


def test_rows_added_where_the_clock_is_unknown_are_refused(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'no-clock.db'}")
    SQLModel.metadata.create_all(db.engine)
    with pytest.raises(NoClock, match=r"School\.created_at was not given"), db.session() as session:
        session.add(School(name="Lincoln", timezone="America/Chicago"))
    with db.session() as session:  # a time given explicitly needs no clock
        session.add(School(name="Lincoln", timezone="America/Chicago", created_at=START))
    with db.read() as session:
        assert session.exec(select(School)).one().created_at == START
    db.dispose()


def test_a_database_stamps_rows_with_its_clock_and_takes_no_second_one(tmp_path):
    clock = FakeClock(START)
    url = f"sqlite:///{tmp_path / 'one-clock.db'}"
    db = Database(url)
    SQLModel.metadata.create_all(db.engine)
    services = build_services(from_env({"DATABASE_URL": url}), db=db, clock=clock)
    assert services.db.clock is clock
    build_services(from_env({"DATABASE_URL": url}), db=db, clock=clock)  # the same clock again is fine
    with pytest.raises(ValueError, match="second clock"):
        build_services(from_env({"DATABASE_URL": url}), db=db, clock=FakeClock(START + timedelta(days=1)))
    clock.advance(timedelta(hours=1))
    with db.session() as session:
        school = School(name="Lincoln", timezone="America/Chicago")
        session.add(school)
        assert school.created_at == START + timedelta(hours=1)  # stamped as it joins the session
    db.dispose()


def test_two_harnesses_cannot_run_at_once(bot, tmp_path):
    """The in-process CLI reads the running harness's clock; a second one would make it ambiguous."""
    other = BotHarness(f"sqlite:///{tmp_path / 'other.db'}", start=START + timedelta(days=30))
    with pytest.raises(RuntimeError, match="another BotHarness"):
        other.start()
    other.stop()
    assert SystemClock().now() == bot.clock.now()  # still the first harness's time
