"""A check-in round killed with SIGKILL mid-way in a real process, then rerun while the double
answers 429s and drops connections after storing posts: every teacher ends with exactly one
check-in DM, and the ledger one sent row each."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from storage.models import Checkin, Delivery, ScheduledJob
from tests.cycle_helpers import at, checkin_dms, jobs_of, make_cycle, only_checkins
from tests.harness import handles
from tests.seed import seed_team
from tests.test_checkins import THURSDAY_2PM


@pytest.fixture
def bot(bot):  # noqa: ANN001
    """The harness, ticking only the check-in feature (see `only_checkins`)."""
    return only_checkins(bot)


ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "scripts" / "checkin_round_worker.py"


def _posts(bot) -> int:
    return sum(1 for c in bot.double.calls if c.method == "chat.postMessage")


def test_round_killed_mid_way_and_rerun_under_429s_and_drops(bot):
    members = tuple(f"UT{i:02d}" for i in range(40))
    team = seed_team(bot, members=members)
    make_cycle(bot, team.team_id)
    bot.tick()
    at(bot, THURSDAY_2PM)

    bot.double.slow("chat.postMessage", 0.2)
    env = {**os.environ, "PLCBOT_WORKER_DB": bot.db_url, "PLCBOT_WORKER_SLACK": bot.double.url,
           "PLCBOT_WORKER_NOW": bot.clock.now().isoformat(), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(WORKER)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while _posts(bot) < 12 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.3)  # let the double finish the posts already in its hands
    delivered_before = sum(1 for u in team.everyone if checkin_dms(bot, u))
    assert 0 < delivered_before < len(team.everyone), "the kill must land mid-round"
    with bot.db.read() as session:
        states = Counter(d.state for d in session.exec(select(Delivery)).all())
        [job] = session.exec(select(ScheduledJob).where(ScheduledJob.kind == "checkin_round",
                                                        ScheduledJob.state == "running")).all()
    assert states["sending"] > 0  # posts in flight when the process died

    # The scheduler comes back once the dead worker's lease ran out; Slack now misbehaves.
    bot.double.reset_faults()
    bot.double.rate_limit("chat.postMessage", retry_after=1, times=3)
    bot.double.drop_after_accept("chat.postMessage", times=3)
    at(bot, bot.clock.now() + timedelta(minutes=11))
    for _ in range(5):
        bot.tick()
        if jobs_of(bot, "checkin_round")[0].state == "done":
            break
        at(bot, bot.clock.now() + timedelta(minutes=2))
    assert jobs_of(bot, "checkin_round")[0].state == "done"

    for user in team.everyone:
        assert len(checkin_dms(bot, user)) == 1, user
    drops = [c for c in bot.double.calls if c.error == "dropped_after_accept"]
    limited = [c for c in bot.double.calls if c.status == 429]
    assert len(drops) == 3 and len(limited) == 3
    with bot.db.read() as session:
        rows = session.exec(select(Delivery).where(Delivery.kind == "checkin")).all()
        sent_checkins = session.exec(select(Checkin)).all()
        owners = handles(session)
    assert len(rows) == len(team.everyone) and {r.state for r in rows} == {"sent"}
    assert {c.status for c in sent_checkins} == {"sent"}
    by_user = {u: checkin_dms(bot, u)[0]["ts"] for u in team.everyone}
    assert all(c.ts == by_user[owners[c.person_id]] for c in sent_checkins)


def test_a_round_left_in_doubt_releases_itself_then_resolves_without_doubling(bot):
    team = seed_team(bot)
    make_cycle(bot, team.team_id)
    bot.tick()
    at(bot, THURSDAY_2PM)
    bot.double.drop_after_accept("chat.postMessage", times=1)
    bot.double.fail("conversations.history", "internal_error", times=None)  # the history cannot be read
    bot.tick()
    job = jobs_of(bot, "checkin_round")[0]
    assert job.state == "pending" and "not confirmed" in (job.last_error or "")
    with bot.db.read() as session:
        states = Counter(d.state for d in session.exec(select(Delivery).where(Delivery.kind == "checkin")))
    assert states == {"sent": len(team.everyone) - 1, "unknown": 1}  # reported, never guessed
    bot.double.reset_faults()
    at(bot, bot.clock.now() + timedelta(minutes=2))
    bot.tick()
    assert jobs_of(bot, "checkin_round")[0].state == "done"
    assert [len(checkin_dms(bot, u)) for u in team.everyone] == [1] * len(team.everyone)
