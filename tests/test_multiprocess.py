"""Several processes against one PostgreSQL database: two schedulers race for a check-in round and
a digest round, two web processes (`python -m bot run` in HTTP mode) get the same click.

Each teacher gets one check-in and each principal one digest with one workbook; a click sent
to both processes is stored once. Skipped without PLCBOT_TEST_DATABASE_URL (the `pg_url`
fixture gives each test a private schema).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from storage.models import Checkin, Delivery, ScheduledJob
from tests.cycle_helpers import checkin_dms, make_cycle
from tests.harness import SIGNING_SECRET, BotHarness, checkin_of
from tests.seed import seed_team

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "scripts" / "checkin_round_worker.py"  # one scheduler tick
MONDAY = datetime(2026, 12, 7, 12, 5, tzinfo=UTC)  # Monday 07:05 New York: a check-in round and the digest
TEACHERS = tuple(f"UT{i:02d}" for i in range(28))
PRINCIPALS = tuple(f"UP{i:02d}" for i in range(8))


@pytest.fixture
def pg_bot(pg_url):
    harness = BotHarness(pg_url)
    try:
        yield harness.start()
    finally:
        harness.stop()


def _keys(bot, user: str, prefix: str) -> list[str]:
    return [k for m in bot.double.messages(user)
            if (k := ((m.get("metadata") or {}).get("event_payload") or {}).get("key", "")).startswith(prefix)]


def _schedulers(bot, n: int) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "PLCBOT_WORKER_DB": bot.db_url, "PLCBOT_WORKER_SLACK": bot.double.url,
           "PLCBOT_WORKER_NOW": bot.clock.now().isoformat(), "PYTHONPATH": str(ROOT)}
    return [subprocess.Popen([sys.executable, str(WORKER)], env=env, cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(n)]


def test_two_schedulers_send_each_round_to_each_person_once(pg_bot):
    bot = pg_bot
    # Twelve teams, so the due rounds outnumber one claim's batch and both schedulers get some.
    first = seed_team(bot, facilitators=("UFAC",), members=TEACHERS[:2], principals=PRINCIPALS)
    teams = [first] + [
        seed_team(bot, team=f"Team {n}", channel=f"CTEAM{n:02d}", facilitators=(TEACHERS[2 * n],),
                  members=(TEACHERS[2 * n + 1],), principals=(), school_id=first.school_id)
        for n in range(1, 12)
    ]
    for team in teams:
        make_cycle(bot, team.team_id, start=date(2026, 12, 7), weekday=0, at="07:00", by=team.facilitators[0])
    bot.clock.set(MONDAY)
    bot.double.slow("chat.postMessage", 0.02)  # long enough for the two to overlap
    procs = _schedulers(bot, 2)
    outs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err.decode()[-3000:]
    ran = [int(out.decode().split("ran=")[1].split(",")[0]) for out, _ in outs]
    assert all(ran) and sum(ran) >= len(teams), ran  # both schedulers ran rounds, none twice
    bot.double.reset_faults()
    for _ in range(3):  # whatever one of them gave back for later is finished here
        bot.clock.advance(timedelta(minutes=11))
        bot.tick()
    with bot.db.read() as session:
        jobs = session.exec(select(ScheduledJob).where(ScheduledJob.due_at <= MONDAY)).all()
        claimed_by = {j.claimed_by for j in jobs if j.kind in ("checkin_round", "digest") and j.state == "done"}
    for teacher in {u for team in teams for u in team.everyone}:
        assert len(_keys(bot, teacher, "checkin:")) == 1, teacher
    for principal in PRINCIPALS:
        digests = [(j.state, j.last_error) for j in jobs if j.kind == "digest"]
        assert len(_keys(bot, principal, "digest:")) == 1, (principal, digests)
        dm = bot.double.dm_channel_id(principal)
        assert sum(dm in (f.get("channel_ids") or []) for f in bot.double.files) == 1, principal
    with bot.db.read() as session:
        rows = session.exec(select(Delivery)).all()
    assert len(rows) == len({r.key for r in rows})
    assert claimed_by  # the work was done by the scheduler processes or the later ticks, once each


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _web(bot, tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
           "SLACK_BOT_TOKEN": bot.double.bot_token, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_API_URL": bot.double.url, "DATABASE_URL": bot.db_url, "HOST": "127.0.0.1", "PORT": str(port),
           "PLCBOT_WEB_WORKERS": "1", "PLCBOT_ADMINS": "UADMIN"}
    return subprocess.Popen([sys.executable, "-m", "bot", "run", "--no-scheduler"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the web process on {port} exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if json.loads(r.read()).get("database") == "ok":
                    return
        except Exception:  # noqa: BLE001 - still starting
            time.sleep(0.1)
    raise AssertionError(f"no healthy web process on {port}")


@pytest.mark.real_clock  # signs clicks here for web processes whose clock is not moved
def test_a_click_sent_to_both_web_processes_is_stored_once(pg_bot, tmp_path):
    bot = pg_bot
    team = seed_team(bot, members=("UT1", "UT2"))
    make_cycle(bot, team.team_id, start=date(2026, 11, 30), weekday=0, at="07:00")
    bot.clock.set(MONDAY)
    bot.tick()
    dm = checkin_dms(bot, "UT1")[0]
    ports = [_free_port(), _free_port()]
    webs = [_web(bot, tmp_path, port) for port in ports]
    try:
        for port, proc in zip(ports, webs, strict=True):
            _healthy(port, proc)
        from bot.slack_double import SlackUser

        teachers = [SlackUser(bot.double, "UT1", bot_url=f"http://127.0.0.1:{p}/slack/events",
                              signing_secret=SIGNING_SECRET) for p in ports]
        with ThreadPoolExecutor(4) as pool:
            replies = list(pool.map(lambda t: t.click(dm, "checkin_stuck"), teachers * 2))
        assert all(r.status == 200 and r.elapsed < 3 for r in replies)
        bot.double.wait_for(lambda: len(bot.double.calls_to("chat.update")) >= 4, timeout=15)
    finally:
        for proc in webs:
            proc.terminate()
        for proc in webs:
            proc.wait(timeout=40)
    from storage.models import SupportRequest

    with bot.db.read() as session:
        answers = session.exec(select(Checkin).where(checkin_of("UT1"))).all()
        requests = session.exec(select(SupportRequest)).all()
    assert [a.progress for a in answers] == ["stuck"]
    assert len(requests) == 1
    assert len(checkin_dms(bot, "UT1")) == 1
