"""Crashes and a busy database: a digest round killed with SIGKILL mid-way and finished by the
next scheduler, and the SQLite file held by another writer while the bot serves and a round
runs. Afterwards every principal and teacher holds exactly one message, nothing is lost.

(The check-in round killed with SIGKILL lives in tests/test_checkin_faults.py.)
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from storage.models import Checkin, Delivery, ScheduledJob, SupportRequest
from tests.cycle_helpers import checkin_dms, make_cycle
from tests.harness import checkin_of
from tests.seed import seed_team

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "scripts" / "checkin_round_worker.py"  # one tick, killable
MONDAY_DIGEST = datetime(2026, 12, 7, 12, 5, tzinfo=UTC)  # Monday 07:05 in New York
ROUND_DUE = datetime(2026, 12, 3, 19, 1, tzinfo=UTC)


def _keys(bot, user: str, prefix: str) -> list[str]:
    out = []
    for message in bot.double.messages(user):
        key = ((message.get("metadata") or {}).get("event_payload") or {}).get("key", "")
        if key.startswith(prefix):
            out.append(key)
    return out


def _files_in(bot, user: str) -> list[dict]:
    dm = bot.double.dm_channel_id(user)
    return [f for f in bot.double.files if dm in (f.get("channel_ids") or [])]


def test_digest_round_killed_mid_way_then_finished_once(bot):
    principals = tuple(f"UP{i:02d}" for i in range(24))
    seed_team(bot, principals=principals)
    bot.clock.set(MONDAY_DIGEST)
    bot.double.slow("chat.postMessage", 0.15)
    env = {**os.environ, "PLCBOT_WORKER_DB": bot.db_url, "PLCBOT_WORKER_SLACK": bot.double.url,
           "PLCBOT_WORKER_NOW": bot.clock.now().isoformat(), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(WORKER)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while (len(bot.double.calls_to("chat.postMessage")) < 6 and time.monotonic() < deadline
               and proc.poll() is None):
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.4)  # posts already in the double's hands land
    got = [p for p in principals if _keys(bot, p, "digest:")]
    assert 0 < len(got) < len(principals), "the kill must land mid-round"
    with bot.db.read() as session:
        [job] = session.exec(select(ScheduledJob).where(ScheduledJob.kind == "digest",
                                                        ScheduledJob.state == "running")).all()
    # ↑ held by the dead process until its lease runs out

    # The next scheduler takes the round over after the lease, while Slack drops a connection.
    bot.double.reset_faults()
    bot.double.drop_after_accept("chat.postMessage", times=2)
    for _ in range(6):
        bot.clock.advance(timedelta(minutes=11))
        bot.tick()
        with bot.db.read() as session:
            job = session.get(ScheduledJob, job.id)
        if job.state == "done":
            break
    assert job.state == "done", job.last_error
    for principal in principals:
        assert len(_keys(bot, principal, "digest:")) == 1, principal
        assert len(_files_in(bot, principal)) == 1, principal
    with bot.db.read() as session:
        states = Counter(d.state for d in session.exec(select(Delivery)).all() if d.kind.startswith("digest"))
    assert set(states) == {"sent"} and states["sent"] == 2 * len(principals)


def test_database_locked_by_another_writer_loses_and_doubles_nothing(bot):
    """Another process holds SQLite's write lock for a second while the bot serves and sends."""
    team = seed_team(bot)
    make_cycle(bot, team.team_id)
    bot.clock.set(ROUND_DUE)
    path = bot.db_url.removeprefix("sqlite:///")
    locked, release = threading.Event(), threading.Event()

    def other_writer() -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE person SET name = name")
        locked.set()
        release.wait(5)
        conn.execute("COMMIT")
        conn.close()

    holder = threading.Thread(target=other_writer)
    holder.start()
    assert locked.wait(5)
    ticker = threading.Thread(target=bot.tick)
    started = time.monotonic()
    ticker.start()
    # Teachers keep using the bot meanwhile: every request is acknowledged in time.
    replies = [bot.user(u).command("help", channel=team.channel) for u in ("UT1", "UT2")]
    replies.append(bot.user("UT3").open_home())
    assert all(r.status == 200 and r.elapsed < 3 for r in replies)
    time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    release.set()
    holder.join(10)
    ticker.join(30)
    bot.wait_idle()
    for user in team.everyone:
        assert len(checkin_dms(bot, user)) == 1, user

    # Answers clicked while the lock is held again are stored once, after it is released.
    locked.clear()
    release.clear()
    holder = threading.Thread(target=other_writer)
    holder.start()
    assert locked.wait(5)
    clicks = [bot.user("UT1").click(checkin_dms(bot, "UT1")[0], "checkin_stuck") for _ in range(2)]
    assert all(r.status == 200 and r.elapsed < 3 for r in clicks)
    time.sleep(1.0)
    release.set()
    holder.join(10)
    bot.wait_idle(timeout=40)
    with bot.db.read() as session:
        answer = session.exec(select(Checkin).where(checkin_of("UT1"))).one()
        requests = session.exec(select(SupportRequest)).all()
        rows = [d for d in session.exec(select(Delivery)).all() if d.key.startswith("checkin:")]
    assert answer.progress == "stuck" and len(requests) == 1
    assert {d.state for d in rows} == {"sent"} and len(rows) == len(team.everyone)
    assert json.dumps(bot.double.responses()).count("went wrong") == 0
