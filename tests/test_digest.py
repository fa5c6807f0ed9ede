"""The weekly digest end to end: the Monday DM and its workbook, on demand, the CLI, the bench.

Everything runs against the Slack double over HTTP and a real SQLite file; time moves with
the harness's fake clock (START is Monday 2026-11-30, 08:00 in New York, so the week just
past is 2026-W48).
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlmodel import col, select

from bot.cli import main as cli_main
from storage.clock import FakeClock
from storage.db import Database
from storage.models import (
    ActionItem,
    AgendaItem,
    Attendance,
    AuditEntry,
    Checkin,
    CheckinRound,
    Cycle,
    Delivery,
    Feedback,
    Meeting,
    MeetingRecord,
    ScheduledJob,
    School,
    SupportRequest,
    Team,
)
from tests.harness import START
from tests.seed import seed_team

ROOT = Path(__file__).resolve().parents[1]
INJECTION = '=HYPERLINK("http://evil.example/x","click me")'


@dataclass
class Week:
    school_id: int
    teams: dict[str, int]
    people: dict[str, int]


def _at(day: date, hh: int, mm: int = 0) -> datetime:
    """A New York wall-clock time as aware UTC (EST in late November: UTC-5)."""
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=UTC) + timedelta(hours=5)


def seed_week(bot) -> Week:  # noqa: ANN001
    """Lincoln Elementary in 2026-W48 (Nov 23-29): three teams with what a digest must show.

    Grade 3 (names not shared): a held meeting with an agenda, 3 feedback answers (one
    anonymous, by UT3, with a formula injection), a cycle with data points in W47 and W48, a
    support request from UT2, action items. Grade 5 (names shared): a meeting not held, 3
    feedback answers of which UT5's is anonymous. Grade 4: 2 feedback answers (too few).
    """
    a = seed_team(bot, team="Grade 3", channel="CGRADE3", facilitators=("UFAC",), members=("UT1", "UT2", "UT3"),
                  principals=("UPRIN",))
    b = seed_team(bot, team="Grade 5", channel="CGRADE5", facilitators=("UFAC5",), members=("UT4", "UT5"),
                  principals=(), school_id=a.school_id)
    c = seed_team(bot, team="Grade 4", channel="CGRADE4", facilitators=("UFAC4",), members=("UT6", "UT7"),
                  principals=(), school_id=a.school_id)
    people = {**a.person_ids, **b.person_ids, **c.person_ids}
    tue, wed, thu = date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 26)
    with bot.db.session() as s:
        school = s.get(School, a.school_id)
        school.created_at = datetime(2026, 8, 1, tzinfo=UTC)
        s.add(school)
        s.get(Team, b.team_id).share_names_with_principal = True
        # Grade 3: held meeting, agenda posted, 3 of 4 present.
        m1 = Meeting(team_id=a.team_id, starts_at=_at(tue, 15, 30), status="held", title="Data meeting",
                     agenda_channel_id="CGRADE3", agenda_ts="1.1", held_at=_at(tue, 16, 15))
        m2 = Meeting(team_id=b.team_id, starts_at=_at(wed, 15, 30), status="scheduled")
        m3 = Meeting(team_id=c.team_id, starts_at=_at(thu, 8, 0), status="held", held_at=_at(thu, 9))
        s.add_all([m1, m2, m3])
        s.flush()
        s.add_all([
            AgendaItem(meeting_id=m1.id, position=1, title="=SUM(A1:A9) fluency data", minutes=10),
            AgendaItem(meeting_id=m1.id, position=2, title="Plan reteaching", minutes=15),
            MeetingRecord(meeting_id=m1.id, decisions="@group by skill; -regroup Friday"),
        ])
        for uid, here in (("UFAC", True), ("UT1", True), ("UT2", True), ("UT3", False)):
            s.add(Attendance(meeting_id=m1.id, person_id=people[uid], present=here))
        fb = [
            (m1, a.team_id, None, True, (4, 4, 5), INJECTION, "bell\x07 and \x1bescape", ""),
            (m1, a.team_id, people["UT1"], False, (5, 4, 4), "exit tickets", "", "grouping"),
            (m1, a.team_id, people["UT2"], False, (3, 4, 3), "+1 more try", "", ""),
            (m2, b.team_id, people["UT4"], False, (4, 4, 4), "shared-name idea", "", ""),
            (m2, b.team_id, None, True, (2, 2, 2), "anonymous grade 5 idea", "", ""),
            (m2, b.team_id, people["UFAC5"], False, (3, 3, 3), "", "", ""),
            (m3, c.team_id, people["UT6"], False, (1, 1, 1), "tiny group comment", "", ""),
            (m3, c.team_id, None, True, (2, 2, 2), "another tiny comment", "", ""),
        ]
        for i, (m, team_id, pid, anon, (u, le, no), try_, ev, nf) in enumerate(fb):
            s.add(Feedback(id=1000 + (i * 7919) % 997, meeting_id=m.id, team_id=team_id, person_id=pid,
                           anonymous=anon, answered_on=tue, useful=u, learned=le, norms=no, will_try=try_,
                           evidence=ev, next_focus=nf))
        cyc = Cycle(team_id=a.team_id, title="Fluency sprint", goal="80% of readers at 90 wpm",
                    metric_name="Words per minute", metric_unit="wpm", baseline=60, target=90,
                    start_date=date(2026, 11, 2), weeks=8)
        s.add(cyc)
        s.flush()
        r3 = CheckinRound(cycle_id=cyc.id, team_id=a.team_id, week=3, local_day=date(2026, 11, 19), state="closed")
        r4 = CheckinRound(cycle_id=cyc.id, team_id=a.team_id, week=4, local_day=thu, state="closed")
        s.add_all([r3, r4])
        s.flush()
        answers3 = {"UFAC": ("on_track", 65.0), "UT1": ("on_track", 67.0), "UT2": ("some_progress", None),
                    "UT3": ("on_track", None)}
        for uid, (prog, value) in answers3.items():
            s.add(Checkin(round_id=r3.id, cycle_id=cyc.id, person_id=people[uid], week=3, status="sent",
                          progress=prog, value=value, answered_at=_at(date(2026, 11, 19), 15)))
        stuck = Checkin(round_id=r4.id, cycle_id=cyc.id, person_id=people["UT2"], week=4,
                        status="sent", progress="stuck", value=70.0, evidence="-3 kids below 40 wpm",
                        support="=2+2 help with grouping", answered_at=_at(thu, 15))
        s.add(stuck)
        s.add(Checkin(round_id=r4.id, cycle_id=cyc.id, person_id=people["UT1"], week=4,
                      status="sent", progress="on_track", value=74.0, evidence="@home reading logs",
                      answered_at=_at(thu, 16)))
        s.add(Checkin(round_id=r4.id, cycle_id=cyc.id, person_id=people["UFAC"], week=4,
                      status="sent"))
        s.add(Checkin(round_id=r4.id, cycle_id=cyc.id, person_id=people["UT3"], week=4,
                      status="away"))
        s.flush()
        s.add(SupportRequest(checkin_id=stuck.id, team_id=a.team_id, cycle_id=cyc.id, person_id=people["UT2"],
                             created_at=_at(thu, 15), updated_at=_at(thu, 15)))
        s.add(ActionItem(team_id=a.team_id, meeting_id=m1.id, owner_id=people["UT1"], text="=1+1 bring samples",
                         due_date=date(2026, 11, 25), created_at=_at(tue, 16)))
        s.add(ActionItem(team_id=a.team_id, meeting_id=m1.id, owner_id=people["UFAC"], text="Share the rubric",
                         status="done", created_at=_at(tue, 16), done_at=_at(wed, 9)))
    teams = {"Grade 3": a.team_id, "Grade 5": b.team_id, "Grade 4": c.team_id}
    return Week(a.school_id, teams, people)


def _digest_dms(bot, user: str) -> list[dict]:  # noqa: ANN001
    channel = bot.double.dm_channel_id(user)
    return [m for m in bot.double.messages(channel) if (m.get("metadata") or {}).get("event_type")]


def _workbook(record: dict) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(record["content"]))


# ------------------------------------------------------------------------------------ the schedule
def test_monday_digest_reaches_each_principal_once_with_its_workbook(bot):
    week = seed_week(bot)
    bot.tick()
    dms = _digest_dms(bot, "UPRIN")
    assert len(dms) == 1
    text = json.dumps(dms[0]["blocks"])
    assert "Lincoln Elementary" in dms[0]["blocks"][0]["text"]["text"]
    assert "What needs you this week" in text
    assert "1 support request waiting for a leader" in text and "Teacher UT2" in text
    assert "67% answered (2/3)" in text  # W48: UT3 was away, so 2 of the 3 asked answered
    files = bot.double.files
    assert len(files) == 1
    assert files[0]["channel_id"] == bot.double.dm_channel_id("UPRIN")
    assert files[0]["filename"] == "PLC digest - Lincoln Elementary - 2026-W48.xlsx"
    book = _workbook(files[0])
    assert book.sheetnames[:4] == ["Summary", "Team figures", "Charts", "Check-ins"]
    # Nothing doubles on later ticks, nor when the planner runs again.
    bot.tick()
    bot.clock.advance(timedelta(hours=2))
    bot.tick()
    assert len(_digest_dms(bot, "UPRIN")) == 1
    assert len(bot.double.files) == 1
    with bot.db.read() as s:
        rows = s.exec(select(Delivery).where(col(Delivery.key).startswith("digest"))).all()
        assert {r.key for r in rows} == {f"digest:{week.school_id}:2026-W48:UPRIN",
                                        f"digest-file:{week.school_id}:2026-W48:UPRIN"}
        assert all(r.state == "sent" for r in rows)


def test_digest_waits_for_the_schools_time_and_follows_its_setting(bot):
    week = seed_week(bot)
    with bot.db.session() as s:
        school = s.get(School, week.school_id)
        school.digest_weekday, school.digest_time = 1, "09:30"  # Tuesdays 09:30
        s.add(school)
    bot.tick()
    assert _digest_dms(bot, "UPRIN") == []
    bot.clock.set(datetime(2026, 12, 1, 14, 29, tzinfo=UTC))  # Tue 09:29 New York
    bot.tick()
    assert _digest_dms(bot, "UPRIN") == []
    bot.clock.set(datetime(2026, 12, 1, 14, 31, tzinfo=UTC))
    bot.tick()
    assert len(_digest_dms(bot, "UPRIN")) == 1


def test_a_digest_missed_while_down_is_sent_later_that_week_not_after(bot):
    seed_week(bot)
    bot.clock.set(datetime(2026, 12, 3, 15, 0, tzinfo=UTC))  # Thursday: the bot was down since Sunday
    bot.tick()
    dms = _digest_dms(bot, "UPRIN")
    assert len(dms) == 1 and "week 48" in json.dumps(dms[0]["blocks"])
    # The W49 digest is due Mon Dec 7; the bot is down until Tuesday Dec 15: W49's is stale.
    bot.clock.set(datetime(2026, 12, 15, 15, 0, tzinfo=UTC))
    bot.tick()
    texts = json.dumps([m["blocks"] for m in _digest_dms(bot, "UPRIN")])
    assert "week 49" not in texts and "week 50" in texts
    with bot.db.read() as s:
        job = s.exec(select(ScheduledJob).where(ScheduledJob.dedupe_key.endswith("2026-W49"))).one()
        assert job.state == "skipped"


def test_a_failed_upload_is_retried_then_lands_once(bot):
    seed_week(bot)
    bot.double.fail("files.completeUploadExternal", "internal_error", times=1)
    bot.tick()
    assert len(_digest_dms(bot, "UPRIN")) == 1
    assert bot.double.files == []
    with bot.db.read() as s:
        job = s.exec(select(ScheduledJob).where(ScheduledJob.kind == "digest",
                                                ScheduledJob.dedupe_key.endswith("W48"))).one()
        assert job.state == "pending" and "retry" in (job.last_error or "")
    bot.clock.advance(timedelta(minutes=6))
    bot.tick()
    assert len(bot.double.files) == 1
    assert len(_digest_dms(bot, "UPRIN")) == 1  # the summary was not sent again


def test_an_upload_that_lands_but_loses_its_answer_is_not_uploaded_twice(bot):
    seed_week(bot)
    bot.double.drop_after_accept("files.completeUploadExternal", times=1)
    bot.tick()
    bot.clock.advance(timedelta(minutes=6))
    bot.tick()
    assert len(bot.double.files) == 1
    with bot.db.read() as s:
        row = s.exec(select(Delivery).where(col(Delivery.key).startswith("digest-file:"))).one()
        assert row.state == "sent"


def test_an_upload_that_keeps_failing_is_reported_never_lost(bot):
    seed_week(bot)
    bot.double.fail("files.completeUploadExternal", "internal_error", times=None)
    for _ in range(6):
        bot.tick()
        bot.clock.advance(timedelta(minutes=6))
    bot.double.reset_faults()
    dms = [m["text"] for m in bot.double.messages(bot.double.dm_channel_id("UPRIN"))]
    assert sum("couldn't attach the workbook" in t for t in dms) == 1
    with bot.db.read() as s:
        job = s.exec(select(ScheduledJob).where(ScheduledJob.kind == "digest",
                                                ScheduledJob.dedupe_key.endswith("W48"))).one()
        assert job.state == "failed" and "UPRIN" in (job.last_error or "")
    assert bot.double.files == []


# ------------------------------------------------------------------------------------ on demand
def test_principal_gets_the_digest_now_by_dm(bot):
    seed_week(bot)
    bot.user("UPRIN").command("digest last", channel="CGRADE3")
    reply = bot.double.wait_for(lambda: bot.double.responses())[-1]
    assert "Sent to your direct messages" in reply["text"]
    dms = _digest_dms(bot, "UPRIN")
    assert len(dms) == 1
    assert "Grade 5" in json.dumps(dms[0]["blocks"])
    files = bot.double.files
    assert len(files) == 1 and files[0]["channel_id"].startswith("D")
    with bot.db.read() as s:
        assert s.exec(select(AuditEntry).where(AuditEntry.action == "digest on demand")).first() is not None


def test_facilitator_gets_only_their_teams_part(bot):
    seed_week(bot)
    bot.user("UFAC5").command("digest 2026-W48", channel="CGRADE5")
    bot.double.wait_for(lambda: bot.double.responses())
    dms = _digest_dms(bot, "UFAC5")
    assert len(dms) == 1
    text = json.dumps(dms[0]["blocks"])
    assert "Grade 5" in text and "Grade 3" not in text and "Teacher UT2" not in text
    book = _workbook(bot.double.files[0])
    teams = {row[1] for row in book["Summary"].iter_rows(min_row=2, values_only=True)}
    assert teams == {"Grade 5"}
    every = " ".join(str(v) for ws in book for row in ws.iter_rows(values_only=True) for v in row if v)
    assert "Grade 3" not in every and "Grade 4" not in every


def test_facilitator_asking_in_another_teams_channel_gets_their_own_team_not_that_one(bot):
    seed_week(bot)
    bot.user("UFAC5").command("digest 2026-W48", channel="CGRADE3")
    reply = bot.double.wait_for(lambda: bot.double.responses())[-1]
    assert "Sent to your direct messages" in reply["text"], reply["text"]
    text = json.dumps(_digest_dms(bot, "UFAC5")[0]["blocks"])
    assert "Grade 5" in text and "Grade 3" not in text
    teams = {row[1] for row in _workbook(bot.double.files[0])["Summary"].iter_rows(min_row=2, values_only=True)}
    assert teams == {"Grade 5"}


def test_teachers_are_refused_with_who_can_and_nothing_is_sent(bot):
    seed_week(bot)
    bot.user("UT1").command("digest", channel="CGRADE3")
    reply = bot.double.wait_for(lambda: bot.double.responses())[-1]
    assert "facilitators" in reply["text"] and "principals" in reply["text"]
    assert _digest_dms(bot, "UT1") == [] and bot.double.files == []


def test_a_malformed_week_gets_a_clear_message(bot):
    seed_week(bot)
    bot.user("UPRIN").command("digest 2026-W60", channel="CGRADE3")
    reply = bot.double.wait_for(lambda: bot.double.responses())[-1]
    assert "W01 to W52" in reply["text"] and "/plc digest" in reply["text"]
    bot.user("UPRIN").command("digest 2031-W02", channel="CGRADE3")
    reply = bot.double.wait_for(lambda: len(bot.double.responses()) >= 2 and bot.double.responses())[-1]
    assert "hasn't started yet" in reply["text"]
    assert bot.double.files == []


# ------------------------------------------------------------------------------------ the CLI
def _cli(bot, tmp_path: Path, *args: str, capsys) -> tuple[int, str, str]:  # noqa: ANN001
    env = tmp_path / "cli.env"
    env.write_text(f"DATABASE_URL={bot.db_url}\n")
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        status = cli_main(["--env-file", str(env), *args])
    finally:  # the CLI configures logging for a process of its own; give pytest its logging back
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.fixture
def isolated_env(monkeypatch):
    for name in ("DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_cli_exports_a_school_week(bot, tmp_path, capsys, isolated_env):
    seed_week(bot)
    out = tmp_path / "lincoln.xlsx"
    status, stdout, _ = _cli(bot, tmp_path, "digest", "export", "--school", "lincoln  elementary", "--week",
                             "2026-W48", "--out", str(out), capsys=capsys)
    assert status == 0 and "Wrote" in stdout
    book = openpyxl.load_workbook(out)
    summary = {row[1]: row for row in book["Summary"].iter_rows(min_row=2, values_only=True)}
    assert set(summary) == {"Grade 3", "Grade 4", "Grade 5"}
    assert not list(tmp_path.glob(".plcbot-*"))  # no temporary file left behind
    with bot.db.read() as s:
        assert s.exec(select(AuditEntry).where(AuditEntry.action == "digest export")).first() is not None


@pytest.mark.parametrize("args, message", [
    (["--school", "Nowhere High", "--week", "2026-W48"], "no school named 'Nowhere High'"),
    (["--school", "Lincoln Elementary", "--week", "2026-48"], "is not a week"),
    (["--all", "--from", "2026-13-01", "--to", "2027-06-01"], "--from '2026-13-01' is not a date"),
    (["--all", "--from", "2027-06-01", "--to", "2026-08-01"], "is before --from"),
    (["--all"], "say which week"),
])
def test_cli_bad_input_is_one_line(bot, tmp_path, capsys, isolated_env, args, message):
    seed_week(bot)
    out = tmp_path / "x.xlsx"
    status, _, err = _cli(bot, tmp_path, "digest", "export", *args, "--out", str(out), capsys=capsys)
    assert status == 2
    ours = [line for line in err.splitlines() if line.startswith("plcbot:")]
    assert len(ours) == 1 and message in ours[0] and "Traceback" not in err
    assert not out.exists()


def test_cli_week_without_data_says_so(bot, tmp_path, capsys, isolated_env):
    seed_week(bot)
    out = tmp_path / "quiet.xlsx"
    status, stdout, _ = _cli(bot, tmp_path, "digest", "export", "--school", "Lincoln Elementary", "--week",
                             "2026-W30", "--out", str(out), capsys=capsys)
    assert status == 0 and "no PLC activity was recorded" in stdout
    book = openpyxl.load_workbook(out)
    assert "No PLC activity was recorded" in book["Summary"]["A2"].value
    assert book["Check-ins"]["A2"].value.startswith("No check-ins")


def test_cli_year_export_holds_every_record(bot, tmp_path, capsys, isolated_env):
    seed_week(bot)
    out = tmp_path / "year.xlsx"
    status, stdout, _ = _cli(bot, tmp_path, "digest", "export", "--all", "--from", "2026-08-24", "--to",
                             "2027-06-18", "--out", str(out), capsys=capsys)
    assert status == 0, stdout
    book = openpyxl.load_workbook(out, read_only=True)
    assert len(list(book["Check-ins"].iter_rows(min_row=2))) == 8
    assert len(list(book["Meetings and agendas"].iter_rows(min_row=2))) == 3
    # 6 answers to meetings with 3 or more, 1 row for the meeting with too few
    assert len(list(book["Feedback"].iter_rows(min_row=2))) == 7
    assert len(list(book["Action items"].iter_rows(min_row=2))) == 2


# ------------------------------------------------------------------------------------ the bench
def test_bench_smoke_run_stays_runnable(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "digest_bench.py"), "--schools", "2", "--teams-per-school", "2",
         "--teachers-per-team", "4", "--weeks", "6", "--db", str(tmp_path / "bench.db"), "--inline"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "year export" in result.stdout and "bare dump" in result.stdout and "ratio" in result.stdout


def test_the_year_export_streams_on_a_fresh_database(tmp_path):
    # The row iterators use yield_per; on an empty database they still yield a valid workbook.
    from scheduling.digest import write_range_workbook
    from storage import digest as data
    from storage import migrate

    db = Database(f"sqlite:///{tmp_path / 'empty.db'}", clock=FakeClock(START))
    migrate.upgrade(db)
    with db.session() as s:
        s.add(School(name="Empty School", timezone="America/Chicago"))
    with db.read() as s:
        scope = data.range_scope(s, date(2026, 8, 1), date(2027, 6, 30))
        rows = write_range_workbook(s, scope, tmp_path / "e.xlsx", min_group_size=3)
    assert rows == 0
    assert openpyxl.load_workbook(tmp_path / "e.xlsx")["Summary"]["A2"].value.startswith("No PLC activity")


# ------------------------------------------------------------------------------------ crashes
class _Crash(BaseException):
    """The process dies here: no `except Exception` on the way catches it, nothing is recorded."""


def test_a_crash_after_the_upload_landed_does_not_upload_again(bot, monkeypatch):
    seed_week(bot)
    transport = bot.services.transports["slack"]
    real_upload = transport.upload

    def crash_before_recording(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        real_upload(*args, **kwargs)
        raise _Crash

    monkeypatch.setattr(transport, "upload", crash_before_recording)
    with pytest.raises(_Crash):
        bot.tick()
    assert len(bot.double.files) == 1  # it landed; the ledger still says "sending"
    monkeypatch.setattr(transport, "upload", real_upload)
    bot.clock.advance(timedelta(minutes=11))  # the dead worker's lease runs out
    bot.tick()
    assert len(bot.double.files) == 1 and len(_digest_dms(bot, "UPRIN")) == 1
    with bot.db.read() as s:
        rows = s.exec(select(Delivery).where(col(Delivery.key).startswith("digest"))).all()
        assert {r.state for r in rows} == {"sent"}
        job = s.exec(select(ScheduledJob).where(ScheduledJob.kind == "digest",
                                                ScheduledJob.dedupe_key.endswith("W48"))).one()
        assert job.state == "done"


def test_a_crash_between_the_message_and_the_file_sends_the_file_once_and_the_message_not_again(bot, monkeypatch):
    import scheduling.digest as sched

    seed_week(bot)
    real_upload = sched.upload_once

    def crash(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise _Crash

    monkeypatch.setattr(sched, "upload_once", crash)
    with pytest.raises(_Crash):
        bot.tick()
    assert len(_digest_dms(bot, "UPRIN")) == 1 and bot.double.files == []
    monkeypatch.setattr(sched, "upload_once", real_upload)
    bot.clock.advance(timedelta(minutes=11))
    bot.tick()
    assert len(_digest_dms(bot, "UPRIN")) == 1 and len(bot.double.files) == 1
