"""A crashed round can be rerun at once (issue 23, item 2).

Claims are short leases renewed by a heartbeat while the work runs, and they name the process
holding them ("host:pid:proc:role"). A claim whose process is gone on this host is taken over
at once; one from another host only when its lease runs out; one held by a live process is
refused with who holds it and until when.

The slow tests kill real processes with SIGKILL half-way through a check-in round to 40
teachers, `plcbot jobs run ID` and the scheduler inside `plcbot run` (Socket Mode), and start
them again straight away, well inside the dead process's lease: the new process takes the round
over at once and sends every check-in not yet sent. The few posts in flight at the kill are
settled from the conversation's history once the ledger's in-flight window (90 s) has passed
(the test moves the shared clock), so each teacher ends with one check-in DM and one sent
ledger row. The processes run the shipped command line on a clock the test shares with them
(tests/scripts/plcbot_at.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.cli import main as cli_main
from bot.services import build_services
from bot.settings import from_env
from scheduling import runner
from scheduling.clock import FakeClock, SystemClock
from scheduling.registry import Registry
from storage import jobs, migrate
from storage.db import Database
from storage.models import Checkin, Delivery, ScheduledJob
from tests.cycle_helpers import at, checkin_dms, jobs_of, make_cycle
from tests.harness import SIGNING_SECRET, handles
from tests.scripts.plcbot_at import read_clock, write_clock
from tests.seed import seed_team
from tests.test_checkins import THURSDAY_2PM

ROOT = Path(__file__).resolve().parent.parent
PLCBOT_AT = Path(__file__).resolve().parent / "scripts" / "plcbot_at.py"
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
TEACHERS = tuple(f"UT{i:02d}" for i in range(40))


def _services(url: str, clock: FakeClock):
    db = Database(url)
    migrate.upgrade(db)
    settings = from_env({"DATABASE_URL": url, "SLACK_API_URL": "http://127.0.0.1:9/api/"})
    return build_services(settings, db=db, clock=clock)


def _add(services, key: str, due: datetime = NOW) -> int:
    with services.db.session() as session:
        job = jobs.schedule(session, kind="work", dedupe_key=key, due_at=due)
        session.flush()
        assert job.id is not None
        return job.id


def _claim_of_a_process_that_ended(role: str = "scheduler") -> str:
    """The claim a process of this host signed, after that process has exited."""
    script = f"from storage import jobs; print(jobs.this_process({role!r}))"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    return out.stdout.strip()


def _hold(services, job_id: int, claimed_by: str, until: datetime) -> None:
    with services.db.session() as session:
        job = session.get(ScheduledJob, job_id)
        assert job is not None
        job.state, job.claimed_by, job.lease_until = "running", claimed_by, until
        session.add(job)


# ---------------------------------------------------------------------------- claims
def test_a_claim_names_its_process_and_a_dead_process_loses_it_at_once(any_db_url):
    services = _services(any_db_url, FakeClock(NOW))
    dead = _claim_of_a_process_that_ended()
    holder = jobs.holder_of(dead)
    assert holder is not None and holder.role == "scheduler" and holder.pid > 0
    assert jobs.holder_gone(dead)
    me = runner.worker_name()
    assert jobs.holder_of(me).pid == os.getpid() and not jobs.holder_gone(me)

    held_by_dead, held_by_me, elsewhere, unnamed = (_add(services, k) for k in ("a", "b", "c", "d"))
    lease = NOW + timedelta(minutes=2)
    _hold(services, held_by_dead, dead, lease)
    _hold(services, held_by_me, me, lease)
    other_host = f"another-host:{holder.pid}:{holder.proc}:scheduler"  # cannot be checked from here
    _hold(services, elsewhere, other_host, lease)
    _hold(services, unnamed, "w1", lease)

    # The same instant: only the dead process's work is free, and it is taken by one worker.
    taken = jobs.claim_due(services.db, now=NOW, worker="alive")
    assert [j.id for j in taken] == [held_by_dead]
    assert taken[0].claimed_by == "alive" and taken[0].lease_until == NOW + jobs.LEASE
    assert jobs.claim_due(services.db, now=NOW, worker="another") == []
    assert jobs.claim_due(services.db, now=NOW, worker="another", job_id=held_by_me) == []
    # The others are free once their leases run out (minutes, not half an hour), as is the one
    # taken over, never renewed since.
    later = jobs.claim_due(services.db, now=lease + timedelta(seconds=1), worker="alive")
    assert {j.id for j in later} == {held_by_dead, held_by_me, elsewhere, unnamed}


def test_a_pid_reused_by_a_later_process_does_not_hold_the_claim():
    me = jobs.holder_of(runner.worker_name())
    assert me is not None and me.proc  # this test machine has /proc
    namespace = me.proc.split(".")[0]
    reused = f"{me.host}:{os.getpid()}:{namespace}.1:scheduler"  # this pid, started at another time
    assert jobs.holder_gone(reused)
    other_namespace = f"{me.host}:{os.getpid() + 999_999}:1.1:scheduler"  # another container's pid
    assert not jobs.holder_gone(other_namespace)


def test_the_heartbeat_keeps_a_long_job_claimed_while_the_clock_runs_past_its_lease(db_url, monkeypatch):
    monkeypatch.setattr(runner, "RENEW_EVERY", 0.02)
    clock = FakeClock(NOW)
    services = _services(db_url, clock)
    _add(services, "long", NOW)
    _add(services, "next", NOW)  # claimed in the same batch, waiting its turn
    stolen: list[list[ScheduledJob]] = []
    lapsed: list[datetime] = []

    def long_job(job, services):  # noqa: ANN001
        if job.dedupe_key != "long":
            return "short"
        for _ in range(8):  # eight minutes of the clock, four leases
            clock.advance(timedelta(minutes=1))
            time.sleep(0.1)
            with services.db.read() as session:
                rows = session.exec(select(ScheduledJob)).all()
            lapsed.extend(r.lease_until for r in rows if r.state == "running" and r.lease_until <= clock.now())
            stolen.append(jobs.claim_due(services.db, now=clock.now(), worker="thief"))
        return "long"

    registry = Registry()
    registry.kind("work", long_job, label="work")
    result = runner.tick(services, registry, worker=runner.worker_name())
    assert result.ran == 2
    assert lapsed == [] and all(s == [] for s in stolen)
    with services.db.read() as session:
        rows = session.exec(select(ScheduledJob)).all()
    assert {(r.state, r.attempts, r.lease_until) for r in rows} == {("done", 1, None)}


def test_jobs_run_on_work_held_by_a_live_process_says_which_and_until_when(db_url, tmp_path, monkeypatch, capsys):
    now = SystemClock().now()
    services = _services(db_url, FakeClock(now))
    job_id = _add(services, "held", now)
    until = now + timedelta(minutes=2)
    _hold(services, job_id, f"web-7:{os.getpid()}:{jobs.holder_of(runner.worker_name()).proc}:scheduler", until)
    monkeypatch.chdir(tmp_path)
    for name, value in {"DATABASE_URL": db_url, "SLACK_BOT_TOKEN": "xoxb-unused",
                        "SLACK_API_URL": "http://127.0.0.1:9/api/"}.items():
        monkeypatch.setenv(name, value)
    assert cli_main(["jobs", "run", str(job_id)]) == 2
    err = capsys.readouterr().err
    assert f"job {job_id} is being run by process {os.getpid()} on host web-7 until {until:%H:%M:%S} UTC" in err
    assert "try again then" in err
    assert cli_main(["jobs"]) == 0
    assert f"running (process {os.getpid()} on host web-7)" in capsys.readouterr().out


# ---------------------------------------------------------------------------- real processes
class Plcbot:
    """`plcbot …` in real processes against the harness's database and Slack double, on a clock
    shared through a file (starting at the round's due time) that the test can move."""

    def __init__(self, bot, tmp_path: Path) -> None:  # noqa: ANN001
        self.bot, self.cwd = bot, tmp_path
        self.clock_file = tmp_path / "clock"
        write_clock(self.clock_file, THURSDAY_2PM)

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        full = {"PATH": os.environ["PATH"], "HOME": str(self.cwd), "PYTHONPATH": str(ROOT),
                "PLCBOT_TEST_CLOCK": str(self.clock_file), "DATABASE_URL": self.bot.db_url,
                "SLACK_BOT_TOKEN": self.bot.double.bot_token, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": self.bot.double.url, **env}
        return subprocess.Popen([sys.executable, str(PLCBOT_AT), *args], cwd=self.cwd, env=full,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def now(self) -> datetime:
        return read_clock(self.clock_file)

    def advance(self, delta: timedelta) -> None:
        write_clock(self.clock_file, self.now() + delta)


def _round_due(bot) -> tuple[ScheduledJob, list[str]]:  # noqa: ANN001
    """A team of 40 teachers whose check-in round is due now; the round and who should get it."""
    team = seed_team(bot, members=TEACHERS)
    make_cycle(bot, team.team_id)
    bot.tick()  # plans the rows at the harness's start, before the round is due
    at(bot, THURSDAY_2PM)
    [job] = [j for j in jobs_of(bot, "checkin_round") if j.due_at == THURSDAY_2PM]
    return job, list(team.everyone)


def _posts(bot) -> int:  # noqa: ANN001
    return len(bot.double.calls_to("chat.postMessage"))


def _kill_mid_round(bot, proc: subprocess.Popen[str], job_id: int, everyone: list[str]) -> set[str]:  # noqa: ANN001
    """SIGKILL `proc` once a dozen check-ins are out, after checking that it holds the round
    under a short lease; returns the ledger keys it left in flight."""
    try:
        deadline = time.monotonic() + 30
        while _posts(bot) < 12 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        with bot.db.read() as session:
            job = session.get(ScheduledJob, job_id)
        holder = jobs.holder_of(job.claimed_by)
        assert job.state == "running" and holder is not None and holder.pid == proc.pid, job.claimed_by
        assert job.lease_until <= THURSDAY_2PM + timedelta(minutes=3)  # a short lease
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.3)  # posts already in the double's hands land
    got = sum(1 for u in everyone if checkin_dms(bot, u))
    assert 0 < got < len(everyone), "the kill must land mid-round"
    with bot.db.read() as session:
        job = session.get(ScheduledJob, job_id)
        in_flight = {d.key for d in session.exec(select(Delivery).where(Delivery.state == "sending")).all()}
    assert job.state == "running" and job.lease_until > THURSDAY_2PM  # the dead process's claim stands
    assert in_flight  # posts were in the dead process's hands
    return in_flight


def _all_but_in_flight_sent(bot, everyone: list[str], in_flight: set[str]) -> None:  # noqa: ANN001
    """Straight after the takeover: every check-in not in flight at the kill is out, once."""
    with bot.db.read() as session:
        rows = session.exec(select(Delivery).where(Delivery.kind == "checkin")).all()
    assert {r.key for r in rows if r.state != "sent"} <= in_flight
    assert all(len(checkin_dms(bot, u)) <= 1 for u in everyone)
    missing = [u for u in everyone if not checkin_dms(bot, u)]
    assert len(missing) <= len(in_flight), (missing, in_flight)


def _each_teacher_has_one_checkin(bot, job_id: int, everyone: list[str]) -> None:  # noqa: ANN001
    with bot.db.read() as session:
        job = session.get(ScheduledJob, job_id)
        rows = session.exec(select(Delivery).where(Delivery.kind == "checkin")).all()
        sent = session.exec(select(Checkin)).all()
        owners = handles(session)
    assert job.state == "done", job.last_error
    for user in everyone:
        assert len(checkin_dms(bot, user)) == 1, user
    assert Counter(r.state for r in rows) == {"sent": len(everyone)}
    assert len({r.key for r in rows}) == len(everyone)
    by_user = {u: checkin_dms(bot, u)[0]["ts"] for u in everyone}
    assert {c.status for c in sent} == {"sent"} and all(c.ts == by_user[owners[c.person_id]] for c in sent)


def _state(bot, job_id: int) -> str:  # noqa: ANN001
    with bot.db.read() as session:
        job = session.get(ScheduledJob, job_id)
    return job.state if job else "?"


@pytest.mark.slow
def test_jobs_run_killed_mid_round_is_rerun_at_once(bot, tmp_path):
    job, everyone = _round_due(bot)
    plcbot = Plcbot(bot, tmp_path)
    bot.double.slow("chat.postMessage", 0.2)
    in_flight = _kill_mid_round(bot, plcbot.start("jobs", "run", str(job.id)), job.id, everyone)

    started = time.monotonic()
    again = plcbot.start("jobs", "run", str(job.id))
    out, _ = again.communicate(timeout=60)
    assert again.returncode == 0, out[-3000:]
    assert "its process has ended" in out  # taken over from the dead process, not after its lease
    assert "is being run by" not in out
    assert time.monotonic() - started < 20
    _all_but_in_flight_sent(bot, everyone, in_flight)
    # The round gave itself back for what was in flight; run it again once the window has passed.
    assert f"Job {job.id} (checkin_round): pending" in out
    plcbot.advance(timedelta(minutes=2))
    last = plcbot.start("jobs", "run", str(job.id))
    out, _ = last.communicate(timeout=60)
    assert last.returncode == 0, out[-3000:]
    assert f"Job {job.id} (checkin_round): done" in out
    _each_teacher_has_one_checkin(bot, job.id, everyone)


@pytest.mark.slow
def test_the_scheduler_in_plcbot_run_killed_mid_round_finishes_it_when_started_again(bot, tmp_path):
    job, everyone = _round_due(bot)
    plcbot = Plcbot(bot, tmp_path)
    bot.double.slow("chat.postMessage", 0.2)
    socket_mode = {"SLACK_APP_TOKEN": bot.double.app_token, "PLCBOT_HEALTH_PORT": "0",
                   "PLCBOT_SCHEDULER_INTERVAL": "0.2"}
    in_flight = _kill_mid_round(bot, plcbot.start("run", **socket_mode), job.id, everyone)

    again = plcbot.start("run", **socket_mode)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(again.stdout or []), daemon=True)
    reader.start()
    try:
        # Taken over at once: everything not in flight at the kill goes out within seconds.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and again.poll() is None:
            if _state(bot, job.id) in ("done", "pending") and "its process has ended" in "".join(output):
                break
            time.sleep(0.05)
        assert _state(bot, job.id) in ("done", "pending"), "".join(output)[-3000:]
        _all_but_in_flight_sent(bot, everyone, in_flight)
        # The round retries what was in flight once the ledger's window has passed.
        plcbot.advance(timedelta(minutes=2))
        deadline = time.monotonic() + 30
        while _state(bot, job.id) != "done" and time.monotonic() < deadline and again.poll() is None:
            time.sleep(0.05)
        assert _state(bot, job.id) == "done", "".join(output)[-3000:]
    finally:
        again.send_signal(signal.SIGTERM)
        try:
            again.wait(timeout=40)
        except subprocess.TimeoutExpired:
            again.kill()
            again.wait()
        reader.join(5)
    assert "its process has ended" in "".join(output)
    _each_teacher_has_one_checkin(bot, job.id, everyone)
