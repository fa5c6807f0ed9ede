"""The retention purge at district scale: a dry run, the purge, and the next day's run.

Builds a synthetic district in a throw-away SQLite file with bulk inserts (default: 20 schools,
8 teams each, 10 teachers a team, four school years of 36 weekly check-ins, meetings with their
logs and feedback: about 230,000 check-ins and as many deliveries), a quarter of it past
retention, then times

- `plcbot privacy purge` as a dry run (counts only),
- the purge itself (`--apply`: one transaction per school, then the ledger),
- the next day's run, which finds nothing,

and prints seconds, rows deleted and SQL statements sent (the same few per school whatever
the data's size: set-based, never one per row).

    python bench/retention_bench.py                    # district size (about half a minute)
    python bench/retention_bench.py --schools 2 --teams 2 --weeks 4   # smoke size
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)  # cutoff 2023-08-01 with 3 years kept
YEARS = (2022, 2023, 2024, 2025)  # school years' first calendar years; 2022-23 is past retention


def build(db_url: str, *, schools: int, teams: int, teachers: int, weeks: int) -> dict[str, int]:
    from sqlalchemy import insert

    from storage import migrate
    from storage.db import Database
    from storage.models import (
        ActionItem,
        Attendance,
        Checkin,
        CheckinRound,
        Cycle,
        Delivery,
        Feedback,
        Meeting,
        MeetingRecord,
        Membership,
        Person,
        ScheduledJob,
        School,
        Team,
    )

    db = Database(db_url)
    migrate.upgrade(db)
    rows: dict[str, list[dict[str, Any]]] = {}

    def add(model: Any, **values: Any) -> int:
        bucket = rows.setdefault(model.__name__, [])
        values.setdefault("id", len(bucket) + 1)
        bucket.append(values)
        return int(values["id"])

    made = NOW
    for s in range(schools):
        school_id = add(School, name=f"School {s}", timezone="America/New_York", created_at=made)
        for t in range(teams):
            team_id = add(Team, school_id=school_id, name=f"Team {t}", channel_id=f"C{s:03d}{t:03d}",
                          timezone="America/New_York", created_at=made)
            people = []
            for p in range(teachers):
                pid = add(Person, handle=f"U{s:03d}{t:03d}{p:03d}", name=f"Teacher {p}", created_at=made)
                add(Membership, team_id=team_id, person_id=pid, role="member", joined_at=made)
                people.append(pid)
            for year in YEARS:
                start = date(year, 9, 1)
                cycle_id = add(Cycle, team_id=team_id, title="Cycle", goal="Goal", metric_name="m", baseline=1,
                               target=2, start_date=start, weeks=12, status="ended", created_by_id=None,
                               created_at=made)
                for w in range(weeks):
                    day = start + timedelta(weeks=w)
                    at = datetime(day.year, day.month, day.day, 20, tzinfo=UTC)
                    round_id = add(CheckinRound, cycle_id=cycle_id, team_id=team_id, week=w + 1, local_day=day,
                                   state="closed", opened_at=at)
                    job_id = add(ScheduledJob, kind="checkin_round", dedupe_key=f"r:{round_id}", team_id=team_id,
                                 due_at=at, state="done", finished_at=at, attempts=1, payload="{}", created_at=at)
                    meeting_id = add(Meeting, team_id=team_id, starts_at=at, status="held", created_at=at)
                    add(MeetingRecord, meeting_id=meeting_id, decisions="decided")
                    add(ActionItem, team_id=team_id, meeting_id=meeting_id, owner_id=people[0], text="do it",
                        created_at=at)
                    for n, pid in enumerate(people):
                        uid = f"U{s:03d}{t:03d}{n:03d}"
                        add(Checkin, round_id=round_id, cycle_id=cycle_id, person_id=pid, week=w + 1,
                            status="sent", progress="on_track", answered_at=at, created_at=at)
                        add(Delivery, key=f"checkin:{round_id}:{uid}", kind="checkin", person_id=pid, state="sent",
                            job_id=job_id, attempts=1, created_at=at, updated_at=at)
                        add(Attendance, meeting_id=meeting_id, person_id=pid, present=True)
                        if n % 2 == 0:
                            add(Feedback, meeting_id=meeting_id, team_id=team_id, person_id=pid, answered_on=day,
                                useful=4, learned=4, norms=4)
    order = ("School", "Team", "Person", "Membership", "Cycle", "CheckinRound", "ScheduledJob", "Meeting",
             "MeetingRecord", "ActionItem", "Checkin", "Delivery", "Attendance", "Feedback")
    models = {m.__name__: m for m in (School, Team, Person, Membership, Cycle, CheckinRound, ScheduledJob, Meeting,
                                      MeetingRecord, ActionItem, Checkin, Delivery, Attendance, Feedback)}
    with db.session() as session:
        for name in order:
            for i in range(0, len(rows[name]), 5000):
                session.execute(insert(models[name]), rows[name][i:i + 5000])
    db.dispose()
    return {name: len(rows[name]) for name in order}


def measure(db_url: str) -> None:
    from sqlalchemy import event

    from bot.services import build_services
    from bot.settings import from_env
    from scheduling import retention
    from scheduling.clock import FakeClock
    from storage.db import Database

    db = Database(db_url)
    statements = [0]

    @event.listens_for(db.engine, "before_cursor_execute")
    def _count(*_: Any) -> None:
        statements[0] += 1

    clock = FakeClock(NOW)
    services = build_services(from_env({"DATABASE_URL": db_url}), db=db, clock=clock)
    for label, apply in (("dry run", False), ("purge (--apply)", True), ("next day's run", True)):
        statements[0] = 0
        started = time.perf_counter()
        report = retention.purge(services, apply=apply, actor="bench")
        took = time.perf_counter() - started
        rows = sum(s.total for s in report.schools) + report.ledger.total
        print(f"{label:<18} {took:7.2f} s  {rows:>9,} rows {'deleted' if apply else 'to delete'}  "
              f"{statements[0]:>4} SQL statements ({len(report.schools)} schools)")
        clock.advance(timedelta(days=1) if apply else timedelta(0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=20)
    parser.add_argument("--teams", type=int, default=8, help="teams per school")
    parser.add_argument("--teachers", type=int, default=10, help="teachers per team")
    parser.add_argument("--weeks", type=int, default=36, help="check-in weeks per school year")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        started = time.perf_counter()
        sizes = build(url, schools=args.schools, teams=args.teams, teachers=args.teachers, weeks=args.weeks)
        print(f"built in {time.perf_counter() - started:.1f} s: " + ", ".join(
            f"{n:,} {name}" for name, n in sizes.items() if name in ("Checkin", "Delivery", "Feedback", "Attendance")))
        measure(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
