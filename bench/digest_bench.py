"""The digest at district scale, side by side with a bare openpyxl dump of the same rows.

Builds a synthetic district in a SQLite file with bulk inserts (default: 50 schools, 400 teams,
4,000 teachers, a 36-week year: about 144,000 check-ins and 50,000 feedback answers), then
measures, each in a fresh process so peak memory is that phase's alone:

- one school's weekly digest (queries, the Block Kit message and the workbook),
- all fifty schools' weekly digests,
- the district's year export (`plcbot digest export --all --from … --to …`),
- a bare openpyxl write-only dump of the same rows read from the same database,

and prints seconds and peak memory (the process's maximum resident set, from getrusage) for
each, and the year export's time divided by the bare dump's.

    python bench/digest_bench.py                 # district size (a minute or two to build)
    python bench/digest_bench.py --schools 2 --teams-per-school 2 --weeks 6   # smoke size

Aims on a 2-core machine: fifty weekly digests within 10 s; the year export within 1.5 x the
bare dump; peak memory under 200 MB throughout. `--check` exits 1 when an aim is missed.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

YEAR_START = date(2026, 8, 24)  # a Monday
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
WORDS = ("fluency", "exit tickets", "small groups", "=SUM(A1:A3) check", "reteach", "-2 below target",
         "@home logs", "+1 strategy", "rubric", "number talks", "phonics", "writing samples")


def _maxrss_mb() -> float:
    """This process's peak resident memory. VmHWM starts afresh at exec; ru_maxrss would carry
    the peak of the parent that forked us (the builder holds the whole district in memory)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------------- the district
def build(db_url: str, *, schools: int, teams_per_school: int, teachers_per_team: int, weeks: int,
          seed: int = 7) -> dict[str, int]:
    """Create the schema and fill it with bulk inserts; returns row counts."""
    from sqlalchemy import insert

    from storage import migrate
    from storage.db import Database
    from storage.models import (
        ActionItem,
        AgendaItem,
        Attendance,
        Checkin,
        CheckinRound,
        Cycle,
        Feedback,
        Meeting,
        Membership,
        Person,
        School,
        SchoolLeader,
        SupportRequest,
        Team,
    )

    rng = random.Random(seed)
    db = Database(db_url)
    migrate.upgrade(db)
    counts: dict[str, int] = {}
    ids = {"person": 0, "team": 0, "meeting": 0, "cycle": 0, "round": 0, "checkin": 0}

    def nid(kind: str) -> int:
        ids[kind] += 1
        return ids[kind]

    created = datetime(2026, 8, 1, tzinfo=UTC)
    rows: dict[Any, list[dict[str, Any]]] = {m: [] for m in (
        School, Person, SchoolLeader, Team, Membership, Meeting, AgendaItem, Attendance, Feedback, ActionItem,
        Cycle, CheckinRound, Checkin, SupportRequest)}
    feedback_ids: set[int] = set()
    cycle_len = 9
    for s in range(1, schools + 1):
        tz = ZONES[s % len(ZONES)]
        zone = ZoneInfo(tz)
        rows[School].append(dict(id=s, name=f"School {s:03d}", timezone=tz, created_at=created))
        principal = nid("person")
        rows[Person].append(dict(id=principal, handle=f"UP{s:05d}", name=f"Principal {s}", created_at=created))
        rows[SchoolLeader].append(dict(school_id=s, person_id=principal, created_at=created))
        for t in range(teams_per_school):
            team = nid("team")
            share = t % 3 == 0
            rows[Team].append(dict(id=team, school_id=s, name=f"Team {t + 1}", channel_id=f"C{team:07d}",
                                   timezone=tz, share_names_with_principal=share, created_at=created))
            teachers = []
            for k in range(teachers_per_team):
                pid = nid("person")
                teachers.append(pid)
                rows[Person].append(dict(id=pid, handle=f"U{pid:07d}", name=f"Teacher {pid}",
                                         created_at=created))
                rows[Membership].append(dict(team_id=team, person_id=pid, role="facilitator" if k == 0 else "member",
                                             joined_at=created))
            cycle = None
            for w in range(weeks):
                monday = YEAR_START + timedelta(weeks=w)
                if w % cycle_len == 0:
                    cycle = nid("cycle")
                    base = rng.uniform(40, 60)
                    rows[Cycle].append(dict(
                        id=cycle, team_id=team, title=f"Cycle {w // cycle_len + 1}", goal="Raise fluency",
                        strategy="Repeated reading", metric_name="Words per minute", metric_unit="wpm",
                        baseline=base, target=base + 30, start_date=monday, weeks=cycle_len, checkin_weekday=3,
                        status="ended" if w + cycle_len <= weeks else "active", created_at=created,
                        ended_at=datetime.combine(monday + timedelta(weeks=cycle_len), dtime(0), tzinfo=UTC)
                        if w + cycle_len <= weeks else None))
                # The week's meeting, its agenda, attendance, feedback and action items.
                meeting = nid("meeting")
                starts = datetime.combine(monday + timedelta(days=1), dtime(15, 30), tzinfo=zone).astimezone(UTC)
                held = rng.random() < 0.9
                rows[Meeting].append(dict(id=meeting, team_id=team, starts_at=starts, status="held" if held else
                                          "scheduled", title="Data meeting", agenda_ts="1.1" if rng.random() < 0.85
                                          else None, held_at=starts + timedelta(minutes=45) if held else None,
                                          created_at=created))
                for pos in range(1, 4):
                    rows[AgendaItem].append(dict(meeting_id=meeting, position=pos, title=rng.choice(WORDS),
                                                 minutes=10, created_at=created))
                if held:
                    for pid in teachers:
                        rows[Attendance].append(dict(meeting_id=meeting, person_id=pid, present=rng.random() < 0.9))
                    for pid in rng.sample(teachers, min(len(teachers), rng.randint(2, 6))):
                        anonymous = rng.random() < 0.3
                        fid = rng.randrange(1, 2**31)
                        while fid in feedback_ids:
                            fid = rng.randrange(1, 2**31)
                        feedback_ids.add(fid)
                        rows[Feedback].append(dict(
                            id=fid, meeting_id=meeting, team_id=team, person_id=None if anonymous else pid,
                            anonymous=anonymous, answered_on=monday + timedelta(days=1), useful=rng.randint(1, 5),
                            learned=rng.randint(1, 5), norms=rng.randint(1, 5), will_try=rng.choice(WORDS),
                            evidence=rng.choice(WORDS) if rng.random() < 0.5 else "", next_focus=""))
                    for _ in range(2):
                        done = rng.random() < 0.7
                        rows[ActionItem].append(dict(
                            team_id=team, meeting_id=meeting, owner_id=rng.choice(teachers), text=rng.choice(WORDS),
                            due_date=monday + timedelta(days=8), status="done" if done else "open",
                            created_at=starts, done_at=starts + timedelta(days=3) if done else None))
                # The week's check-in round.
                rnd = nid("round")
                day = monday + timedelta(days=3)
                rows[CheckinRound].append(dict(id=rnd, cycle_id=cycle, team_id=team, week=w % cycle_len + 1,
                                               local_day=day, state="closed", opened_at=starts))
                for pid in teachers:
                    cid = nid("checkin")
                    answered = rng.random() < 0.85
                    progress = rng.choice(("on_track", "on_track", "some_progress", "stuck")) if answered else None
                    rows[Checkin].append(dict(
                        id=cid, round_id=rnd, cycle_id=cycle, person_id=pid,
                        week=w % cycle_len + 1, status="sent", progress=progress,
                        value=rng.uniform(40, 95) if answered and rng.random() < 0.6 else None,
                        evidence=rng.choice(WORDS) if answered and rng.random() < 0.4 else None,
                        support="Help with grouping" if progress == "stuck" and rng.random() < 0.3 else None,
                        answered_at=starts + timedelta(days=2) if answered else None, created_at=starts))
                    if progress == "stuck" and rng.random() < 0.3:
                        rows[SupportRequest].append(dict(
                            checkin_id=cid, team_id=team, cycle_id=cycle, person_id=pid,
                            state=rng.choice(("open", "following_up", "resolved")),
                            created_at=starts + timedelta(days=2), updated_at=starts + timedelta(days=2)))
    with db.session() as session:
        for model, batch in rows.items():
            for start in range(0, len(batch), 5000):
                session.execute(insert(model.__table__), batch[start:start + 5000])
            counts[model.__tablename__] = len(batch)
    db.dispose()
    return counts


# ------------------------------------------------------------------------------------ the phases
def phase(name: str, db_url: str, weeks: int, out_dir: Path) -> dict[str, Any]:
    """Run one measured phase in this (fresh) process."""
    from openpyxl import Workbook
    from sqlalchemy import text

    from bot.render.digest import digest_message
    from scheduling.digest import write_range_workbook, write_week_workbook
    from storage import digest as data
    from storage.db import Database
    from storage.rules.digest import IsoWeek

    db = Database(db_url)
    week = IsoWeek.of(YEAR_START + timedelta(weeks=min(weeks, 12) - 1))
    last = YEAR_START + timedelta(weeks=weeks) - timedelta(days=1)
    baseline = _maxrss_mb()
    cpu_started = time.process_time()
    started = time.perf_counter()
    rows = 0
    with db.read() as session:
        if name in ("one", "fifty"):
            ids = [1] if name == "one" else None
            for digest in data.build_digests(session, week, school_ids=ids, min_group_size=3).values():
                digest_message(school=digest.school.name, week=week, teams=digest.teams, has_data=digest.has_data)
                buffer = io.BytesIO()
                rows += write_week_workbook(session, [digest], buffer, min_group_size=3)
        elif name == "year":
            scope = data.range_scope(session, YEAR_START, last)
            rows = write_range_workbook(session, scope, out_dir / "year.xlsx", min_group_size=3)
        elif name == "bare":
            wb = Workbook(write_only=True)
            conn = session.connection()
            for table in ("checkin", "supportrequest", "feedback", "meeting", "actionitem", "cycle"):
                ws = wb.create_sheet(table)
                result = conn.execution_options(yield_per=2000).execute(text(f"SELECT * FROM {table}"))
                for row in result:
                    ws.append(list(row))
                    rows += 1
            wb.save(out_dir / "bare.xlsx")
        else:
            raise SystemExit(f"unknown phase {name}")
    seconds = time.perf_counter() - started
    return {"phase": name, "seconds": seconds, "cpu": time.process_time() - cpu_started, "peak_mb": _maxrss_mb(),
            "baseline_mb": baseline, "rows": rows}


def run_phase(name: str, db_url: str, weeks: int, out_dir: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--db-url", db_url, "--weeks", str(weeks),
         "--out-dir", str(out_dir)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--schools", type=int, default=50)
    p.add_argument("--teams-per-school", type=int, default=8)
    p.add_argument("--teachers-per-team", type=int, default=10)
    p.add_argument("--weeks", type=int, default=36)
    p.add_argument("--db", help="SQLite file to build (default: a temporary one); reused with --reuse")
    p.add_argument("--reuse", action="store_true", help="measure an existing --db without rebuilding it")
    p.add_argument("--check", action="store_true", help="exit 1 when an aim is missed")
    p.add_argument("--inline", action="store_true",
                   help="run every phase in this process (quick smoke runs; memory figures then mean little)")
    p.add_argument("--phase", help=argparse.SUPPRESS)
    p.add_argument("--db-url", help=argparse.SUPPRESS)
    p.add_argument("--out-dir", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.phase == "build":
        print(json.dumps(build(args.db_url, schools=args.schools, teams_per_school=args.teams_per_school,
                               teachers_per_team=args.teachers_per_team, weeks=args.weeks)))
        return 0
    if args.phase:
        print(json.dumps(phase(args.phase, args.db_url, args.weeks, Path(args.out_dir))))
        return 0

    tmp = tempfile.TemporaryDirectory(prefix="digest-bench-")
    out_dir = Path(tmp.name)
    db_path = Path(args.db) if args.db else out_dir / "district.db"
    db_url = f"sqlite:///{db_path}"
    if not args.reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        started = time.perf_counter()
        built = subprocess.run(  # in a process of its own: it holds the whole district in memory
            [sys.executable, __file__, "--phase", "build", "--db-url", db_url, "--weeks", str(args.weeks),
             "--schools", str(args.schools), "--teams-per-school", str(args.teams_per_school),
             "--teachers-per-team", str(args.teachers_per_team), "--out-dir", str(out_dir)],
            capture_output=True, text=True, check=False)
        if built.returncode != 0:
            raise SystemExit(f"building the district failed:\n{built.stderr[-3000:]}")
        counts = json.loads(built.stdout.strip().splitlines()[-1])
        print(f"built {args.schools} schools, {args.schools * args.teams_per_school} teams, "
              f"{args.schools * args.teams_per_school * args.teachers_per_team} teachers, {args.weeks} weeks: "
              f"{counts['checkin']:,} check-ins, {counts['feedback']:,} feedback answers, "
              f"{counts['meeting']:,} meetings, {counts['actionitem']:,} action items "
              f"in {time.perf_counter() - started:.1f} s")
    names = ("one", "fifty", "year", "bare")
    if args.inline:
        results = {name: phase(name, db_url, args.weeks, out_dir) for name in names}
    else:
        results = {name: run_phase(name, db_url, args.weeks, out_dir) for name in names}
    labels = {"one": "one school's weekly digest", "fifty": f"all {args.schools} schools' weekly digests",
              "year": "year export (whole district)", "bare": "bare openpyxl dump, same rows"}
    print(f"{'phase':<34}{'seconds':>9}{'cpu s':>9}{'peak MB':>9}{'base MB':>9}{'rows':>10}")
    for name, r in results.items():
        print(f"{labels[name]:<34}{r['seconds']:>9.2f}{r['cpu']:>9.2f}{r['peak_mb']:>9.0f}{r['baseline_mb']:>9.0f}"
              f"{r['rows']:>10,}")
    ratio = results["year"]["seconds"] / max(results["bare"]["seconds"], 1e-9)
    cpu_ratio = results["year"]["cpu"] / max(results["bare"]["cpu"], 1e-9)
    peak = max(r["peak_mb"] for r in results.values())
    print(f"ratio year export / bare dump: {ratio:.2f} (wall clock), {cpu_ratio:.2f} (CPU time; steadier on a "
          "busy machine)")
    aims = [
        (f"{labels['fifty']} <= 10 s", results["fifty"]["seconds"] <= 10, results["fifty"]["cpu"] <= 10),
        ("year export <= 1.5 x bare dump", ratio <= 1.5, cpu_ratio <= 1.5),
        ("peak memory < 200 MB", peak < 200, peak < 200),
    ]

    def verdict(wall: bool, cpu: bool) -> str:
        return "ok" if wall else ("MISSED on the wall clock, ok by CPU time (a busy machine?)" if cpu else "MISSED")

    print("aims: " + "; ".join(f"{label}: {verdict(wall, cpu)}" for label, wall, cpu in aims))
    tmp.cleanup()
    return 1 if args.check and not all(wall for _, wall, _ in aims) else 0


if __name__ == "__main__":
    sys.exit(main())
