"""One check-in round to thousands of teachers on Microsoft Teams, through the Teams double.

    python bench/teams_round.py [--teachers 2000] [--threads 8] [--extra-429s 40] [--latency 0.02]
    python bench/teams_round.py --teachers 50        # a smoke-size run, a few seconds

Every teacher is known on Teams only (a `PersonIdentity` with the 1:1 conversation reference:
conversation id, service URL, tenant, Teams user id; `--new-chats` leaves the conversation id
out so each chat is created first). The round runs exactly as the scheduler runs it: a real
SQLite file, the check-in job, the delivery ledger and `bot.teams.transport.TeamsTransport`
over real HTTP to the double in its own process (as Teams is), which enforces Teams' limits
(per conversation 7/s, 8 in 2 s, 60 in 30 s, 1,800 an hour; 50 requests/s for the app), answers
with `--latency`, and gets `--extra-429s` 429s and a few 502s injected at random moments of the
round. It prints the duration, messages per second against what the limits allow (aim: 90% or
more), the token requests (about 1), the duplicates and the lost messages (both must be 0).
Exit status 1 if either is not 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import col, select  # noqa: E402

from bot.services import build_services  # noqa: E402
from bot.settings import from_env  # noqa: E402
from bot.teams.transport import KEY_FIELD, TeamsTransport  # noqa: E402
from bot.teams_double import TeamsDouble  # noqa: E402
from scheduling import registry as scheduling_registry  # noqa: E402
from scheduling import runner  # noqa: E402
from scheduling.clock import FakeClock  # noqa: E402
from storage import cycles as cycle_store  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Delivery, Membership, Person, PersonIdentity, ScheduledJob, School, Team  # noqa: E402
from storage.rules.cycles import CycleValues  # noqa: E402

DUE = datetime(2026, 12, 3, 19, 0, tzinfo=UTC)  # Thursday 14:00 New York
APP_RATE = 50.0  # Teams: requests per second per app and tenant
CLIENT_ID = "00000000-0000-4000-8000-00000000b075"
TENANT_ID = "11111111-1111-4111-8111-111111111111"
SECRET = "teams-double-secret"  # noqa: S105 - the double's fake secret


# ------------------------------------------------------------------------------ the double
def start_double(users: list[str], *, latency: float, new_chats: bool) -> tuple[TeamsDouble, dict[str, str | None]]:
    double = TeamsDouble(client_id=CLIENT_ID, client_secret=SECRET, tenant_id=TENANT_ID, latency=latency).start()
    chats: dict[str, str | None] = {}
    for user_id in users:
        double.add_user(f"Teacher {user_id[-6:]}", user_id=user_id)
        chats[user_id] = None if new_chats else double.personal_conversation(user_id)
    return double, chats


def inject(double: TeamsDouble, *, extra_429s: int, server_errors: int, spread: float,
           seed: int = 7) -> threading.Thread:
    """429s (Retry-After 1 s) and 502s at random moments over `spread` seconds, one call each."""
    rng = random.Random(seed)  # noqa: S311
    faults = ["429"] * extra_429s + ["502"] * server_errors
    moments = sorted(rng.uniform(0.0, spread) for _ in faults)
    rng.shuffle(faults)

    def play() -> None:
        started = time.monotonic()
        for at, fault in zip(moments, faults, strict=True):
            time.sleep(max(0.0, started + at - time.monotonic()))
            if fault == "429":
                double.rate_limit(times=1, retry_after=1.0, op="send")
            else:
                double.server_error(502, times=1, op="send")

    thread = threading.Thread(target=play, name="fault-injector", daemon=True)
    thread.start()
    return thread


def report(double: TeamsDouble, users: list[str]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for user_id in users:
        counts[user_id] = sum(
            1 for a in double.seen_by(user_id)
            if str(((a.get("channelData") or {}).get(KEY_FIELD) or {}).get("key", "")).startswith("checkin:"))
    calls = double.calls
    sends = [c for c in calls if c.op == "send"]
    return {"counts": counts, "sends": len(sends), "limited": sum(1 for c in sends if c.status == 429),
            "created": sum(1 for c in calls if c.op == "create_conversation" and c.status == 201),
            "token_requests": double.token_requests}


class DoubleHandle(Protocol):
    def start(self, users: list[str], *, latency: float, new_chats: bool) -> dict[str, Any]: ...
    def inject(self, *, extra_429s: int, server_errors: int, spread: float) -> None: ...
    def report(self, users: list[str]) -> dict[str, Any]: ...
    def stop(self) -> None: ...


class LocalDouble:
    """The double in this process (tests)."""

    double: TeamsDouble | None = None

    def start(self, users: list[str], *, latency: float, new_chats: bool) -> dict[str, Any]:
        self.double, chats = start_double(users, latency=latency, new_chats=new_chats)
        return {"base": self.double.base, "chats": chats}

    def inject(self, *, extra_429s: int, server_errors: int, spread: float) -> None:
        assert self.double is not None
        inject(self.double, extra_429s=extra_429s, server_errors=server_errors, spread=spread)

    def report(self, users: list[str]) -> dict[str, Any]:
        assert self.double is not None
        return report(self.double, users)

    def stop(self) -> None:
        if self.double is not None:
            self.double.stop()


def serve_double() -> int:
    """Child mode: the double in its own process (as Teams is), driven by JSON lines on stdin."""
    local = LocalDouble()
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd.pop("op")
        if op == "start":
            reply: dict[str, Any] = local.start(cmd["users"], latency=cmd["latency"], new_chats=cmd["new_chats"])
        elif op == "inject":
            local.inject(**cmd)
            reply = {}
        else:
            reply = local.report(cmd["users"])
        print(json.dumps(reply), flush=True)
    local.stop()
    return 0


class RemoteDouble:
    """The parent's handle on the child process's double."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve-double"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def _ask(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return answer

    def start(self, users: list[str], *, latency: float, new_chats: bool) -> dict[str, Any]:
        return self._ask(op="start", users=users, latency=latency, new_chats=new_chats)

    def inject(self, *, extra_429s: int, server_errors: int, spread: float) -> None:
        self._ask(op="inject", extra_429s=extra_429s, server_errors=server_errors, spread=spread)

    def report(self, users: list[str]) -> dict[str, Any]:
        return self._ask(op="report", users=users)

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


# ------------------------------------------------------------------------------ the round
def seed(db: Database, users: list[str], chats: dict[str, str | None], service_url: str) -> None:
    with db.session() as session:
        school = School(name="Bench School", timezone="America/New_York")
        session.add(school)
        session.flush()
        team = Team(school_id=school.id or 0, name="Bench team", channel_id="19:bench@thread.tacv2",
                    timezone="America/New_York")
        session.add(team)
        session.flush()
        # `person.handle` still names people in every record (issue 24): a Teams-only
        # person holds their Teams user id there, and their identity says how to reach them.
        people = [Person(handle=u, name=f"Teacher {u[-6:]}") for u in users]
        session.add_all(people)
        session.flush()
        session.add_all([PersonIdentity(person_id=p.id or 0, platform="teams", workspace=TENANT_ID,
                                        external_id=p.handle, conversation_id=chats[p.handle],
                                        service_url=service_url, created_at=DUE - timedelta(days=7))
                         for p in people])
        session.add_all([Membership(team_id=team.id or 0, person_id=p.id or 0,
                                    role="facilitator" if i == 0 else "member") for i, p in enumerate(people)])
        session.flush()
        cycle_store.start_cycle(session, team_id=team.id or 0, now=DUE - timedelta(days=3), created_by=users[0],
                                values=CycleValues("Bench", "Goal", "", "Score", "%", 50, 80, date(2026, 11, 30),
                                                   6, 3, "14:00", 24))


@dataclass
class RoundResult:
    teachers: int
    elapsed: float
    ticks: int
    threads: int
    latency: float
    delivered: int
    duplicates: int
    lost: int
    token_requests: int
    sends: int
    limited: int
    created: int
    allowed: float
    states: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    paced: float = 0.0

    @property
    def rate(self) -> float:
        return self.delivered / self.elapsed if self.elapsed else 0.0

    @property
    def share(self) -> float:
        return self.rate / self.allowed if self.allowed else 0.0

    def lines(self) -> list[str]:
        ideal = self.teachers / self.allowed
        return [
            f"teachers            {self.teachers}",
            f"round duration      {self.elapsed:.1f} s in {self.ticks} tick(s) ({self.threads} threads, "
            f"{self.latency * 1000:.0f} ms latency)",
            f"messages per second {self.rate:.1f} (limits allow {self.allowed:.0f}/s: 50 requests/s per app and "
            f"tenant, 7/s per chat; {100 * self.share:.0f}% of it; the limits alone need {ideal:.1f} s)",
            f"token requests      {self.token_requests}",
            f"429 answers         {self.limited} of {self.sends} sends (retries: {self.retries or 'none'}; "
            f"paced {self.paced:.1f} thread-seconds)",
            f"chats created       {self.created}",
            f"ledger              {self.states}",
            f"duplicates          {self.duplicates}",
            f"lost                {self.lost}",
        ]


def run_round(double: DoubleHandle, *, teachers: int, threads: int = 8, latency: float = 0.02, extra_429s: int = 40,
              server_errors: int = 4, new_chats: bool = False, workdir: Path | None = None) -> RoundResult:
    """Seed `teachers` Teams-only teachers, run their check-in round through the scheduler's job,
    the ledger and `TeamsTransport` against `double`, and count what each teacher got."""
    import scheduling.checkins as checkins_module

    checkins_module.ROUND_THREADS = threads
    tmp = workdir or Path(tempfile.mkdtemp(prefix="plcbot-teams-bench-"))
    users = [f"29:1bench{i:06d}" for i in range(teachers)]
    started_double = double.start(users, latency=latency, new_chats=new_chats)
    base: str = started_double["base"]
    settings = from_env({"TEAMS_CLIENT_ID": CLIENT_ID, "TEAMS_CLIENT_SECRET": SECRET, "TEAMS_TENANT_ID": TENANT_ID,
                         "TEAMS_LOGIN_URL": base, "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}"})
    db = Database(settings.database_url)
    migrate.upgrade(db, backup=False)
    clock = FakeClock(DUE - timedelta(days=3))
    services = build_services(settings, db=db, clock=clock)
    transport = TeamsTransport.from_settings(settings, db)
    services.transports.by_platform["teams"] = transport
    registry = scheduling_registry.load(["scheduling.checkins"])
    seed(db, users, started_double["chats"], base + "/")
    runner.plan(services, registry)
    clock.set(DUE)
    requests_per_message = 2 if new_chats else 1
    allowed = min(APP_RATE / requests_per_message, 7.0 * teachers)
    double.inject(extra_429s=extra_429s, server_errors=server_errors, spread=0.8 * teachers / allowed)

    started = time.monotonic()
    ticks = 0
    while True:
        ticks += 1
        runner.tick(services, registry, worker="bench")
        with db.read() as session:
            job = session.exec(select(ScheduledJob).where(ScheduledJob.kind == "checkin_round")
                               .order_by(col(ScheduledJob.due_at))).first()
        if job is None or job.state != "pending" or ticks > 20:
            break
        clock.set(job.due_at)  # a released round: the next tick retries what is left
    elapsed = time.monotonic() - started

    got = double.report(users)
    per_user = Counter(got["counts"])
    with db.read() as session:
        states = Counter(d.state for d in session.exec(select(Delivery).where(Delivery.kind == "checkin")))
    return RoundResult(
        teachers=teachers, elapsed=elapsed, ticks=ticks, threads=threads, latency=latency,
        delivered=sum(per_user.values()), duplicates=sum(n - 1 for n in per_user.values() if n > 1),
        lost=sum(1 for u in users if per_user[u] == 0), token_requests=got["token_requests"], sends=got["sends"],
        limited=got["limited"], created=got["created"], allowed=allowed, states=dict(states),
        retries=dict(transport.retries), paced=transport.pacer.waited,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teachers", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8, help="the round's sending threads (ROUND_THREADS)")
    parser.add_argument("--extra-429s", type=int, default=None,
                        help="429s injected at random moments of the round (default: 1 per 50 teachers)")
    parser.add_argument("--server-errors", type=int, default=None,
                        help="502s injected at random moments (default: 1 per 500 teachers)")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds the double takes per call")
    parser.add_argument("--new-chats", action="store_true", help="no stored conversation ids: create each 1:1 chat")
    parser.add_argument("--serve-double", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_double:
        return serve_double()
    logging.basicConfig(level=logging.ERROR)
    extra = args.extra_429s if args.extra_429s is not None else args.teachers // 50
    errors = args.server_errors if args.server_errors is not None else args.teachers // 500
    double = RemoteDouble()
    try:
        result = run_round(double, teachers=args.teachers, threads=args.threads, latency=args.latency,
                           extra_429s=extra, server_errors=errors, new_chats=args.new_chats)
    finally:
        double.stop()
    print("\n".join(result.lines()))
    return 0 if result.duplicates == 0 and result.lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
