"""One check-in round to thousands of teachers through a rate-limiting Slack double.

    python bench/checkin_round.py [--teachers 2000] [--workspace-rate 50] [--threads 8]

The double answers chat.postMessage with a per-channel limit (1/s, burst 3) and a
workspace-wide one, injects extra 429s and network latency. The round runs exactly as the
scheduler runs it (a real SQLite file, the delivery ledger, slack_sdk's 429 handler). It prints
the round's duration, messages per second against what the limits allow, and the duplicates
and lost messages (both must be 0). Exit status 1 if either is not.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import select  # noqa: E402

from bot.services import build_services  # noqa: E402
from bot.settings import from_env  # noqa: E402
from bot.slack_double import SlackDouble  # noqa: E402
from scheduling import registry as scheduling_registry  # noqa: E402
from scheduling import runner  # noqa: E402
from scheduling.clock import FakeClock  # noqa: E402
from storage import cycles as cycle_store  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Delivery, Membership, Person, ScheduledJob, School, Team  # noqa: E402
from storage.rules.cycles import CycleValues  # noqa: E402

DUE = datetime(2026, 12, 3, 19, 0, tzinfo=UTC)  # Thursday 14:00 New York


def serve_double() -> int:
    """Child mode: the double in its own process (as Slack is), driven by JSON lines on stdin."""
    double: SlackDouble | None = None
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "start":
            double = SlackDouble(latency=cmd["latency"]).start()
            for user_id in cmd["users"]:
                double.add_user(user_id, name=user_id.lower(), real_name=f"Teacher {user_id}")
            double.add_channel("CBENCH", name="bench-team", members=cmd["users"])
            reply: dict = {"url": double.url}
        elif cmd["op"] == "limit":
            assert double is not None
            double.limit_posts(per_channel_per_second=1.0, per_channel_burst=3,
                               workspace_per_second=cmd["rate"], workspace_burst=cmd["burst"])
            if cmd["extra"]:
                double.rate_limit("chat.postMessage", retry_after=1, times=cmd["extra"])
            reply = {}
        else:  # report
            assert double is not None
            counts = {}
            for user_id in cmd["users"]:
                counts[user_id] = sum(
                    1 for m in double.messages(user_id)
                    if ((m.get("metadata") or {}).get("event_payload") or {}).get("key", "").startswith("checkin:"))
            posts = [c for c in double.calls if c.method == "chat.postMessage"]
            reply = {"counts": counts, "posts": len(posts), "limited": sum(1 for c in posts if c.status == 429)}
        print(json.dumps(reply), flush=True)
    return 0


class RemoteDouble:
    """The parent's handle on the child process's double."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve-double"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def ask(self, **cmd: object) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


def seed(db: Database, users: list[str]) -> None:
    with db.session() as session:
        school = School(name="Bench School", timezone="America/New_York")
        session.add(school)
        session.flush()
        team = Team(school_id=school.id or 0, name="Bench team", channel_id="CBENCH", timezone="America/New_York")
        session.add(team)
        session.flush()
        people = [Person(handle=u, name=f"Teacher {u}") for u in users]
        session.add_all(people)
        session.flush()
        session.add_all([Membership(team_id=team.id or 0, person_id=p.id or 0,
                                    role="facilitator" if i == 0 else "member") for i, p in enumerate(people)])
        session.flush()
        cycle_store.start_cycle(session, team_id=team.id or 0, now=DUE - timedelta(days=3), created_by="UB000000",
                                values=CycleValues("Bench", "Goal", "", "Score", "%", 50, 80, date(2026, 11, 30),
                                                   6, 3, "14:00", 24))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teachers", type=int, default=2000)
    parser.add_argument("--workspace-rate", type=float, default=50.0, help="posts per second, workspace-wide")
    parser.add_argument("--workspace-burst", type=int, default=50)
    parser.add_argument("--extra-429s", type=int, default=40, help="additional 429s injected at random times")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds the double takes per call")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--serve-double", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_double:
        return serve_double()
    logging.basicConfig(level=logging.ERROR)

    import scheduling.checkins as checkins_module

    checkins_module.ROUND_THREADS = args.threads
    tmp = Path(tempfile.mkdtemp(prefix="plcbot-bench-"))
    users = [f"UB{i:06d}" for i in range(args.teachers)]
    double = RemoteDouble()
    try:
        url = double.ask(op="start", users=users, latency=args.latency)["url"]
        settings = from_env({"SLACK_BOT_TOKEN": "xoxb-double", "SLACK_SIGNING_SECRET": "bench",
                             "SLACK_API_URL": url, "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}"})
        db = Database(settings.database_url)
        migrate.upgrade(db, backup=False)
        clock = FakeClock(DUE - timedelta(days=3))
        services = build_services(settings, db=db, clock=clock)
        registry = scheduling_registry.load(["scheduling.checkins"])
        seed(db, users)
        runner.plan(services, registry)
        clock.set(DUE)
        double.ask(op="limit", rate=args.workspace_rate, burst=args.workspace_burst, extra=args.extra_429s)

        started = time.monotonic()
        ticks = 0
        while True:
            ticks += 1
            runner.tick(services, registry, worker="bench")
            with db.read() as session:
                job = session.exec(select(ScheduledJob).where(ScheduledJob.kind == "checkin_round")
                                   .order_by(ScheduledJob.due_at)).first()
            if job is None or job.state != "pending" or ticks > 20:
                break
            clock.set(job.due_at)  # a released round: the next tick retries what is left
        elapsed = time.monotonic() - started

        report = double.ask(op="report", users=users)
        per_user = Counter(report["counts"])
        duplicates = sum(n - 1 for n in per_user.values() if n > 1)
        lost = sum(1 for u in users if per_user[u] == 0)
        with db.read() as session:
            states = Counter(d.state for d in session.exec(select(Delivery).where(Delivery.kind == "checkin")))
        delivered = sum(per_user.values())
        allowed = min(args.workspace_rate, float(args.teachers))
        ideal = max(0.0, (args.teachers - args.workspace_burst) / args.workspace_rate)
        rate = delivered / elapsed if elapsed else 0.0
        print(f"teachers            {args.teachers}")
        print(f"round duration      {elapsed:.1f} s in {ticks} tick(s) ({args.threads} threads, "
              f"{args.latency * 1000:.0f} ms latency)")
        print(f"messages per second {rate:.1f} (limits allow {allowed:.0f}/s workspace-wide and 1/s per DM: "
              f"{100 * rate / allowed:.0f}% of it; the limits alone need {ideal:.1f} s)")
        print(f"429 answers         {report['limited']} of {report['posts']} chat.postMessage calls")
        print(f"ledger              {dict(states)}")
        print(f"duplicates          {duplicates}")
        print(f"lost                {lost}")
        return 0 if duplicates == 0 and lost == 0 else 1
    finally:
        double.stop()


if __name__ == "__main__":
    sys.exit(main())
