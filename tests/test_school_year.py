"""Closing a school year: `plcbot year close` ends the open cycles with their summaries, writes
the year's workbook, records the year and starts the next, and next year's digest and Home tab
show none of last year's cycles, action items or support requests.

The bot runs against the Slack double on a real database (SQLite, and PostgreSQL for the core
scenario when PLCBOT_TEST_DATABASE_URL is set); check-ins go out from real scheduler ticks and
are answered with signed clicks. The CLI runs in-process (`bot.cli.main`) on the same database
with the harness's clock. The school year 2026-27 ends on Friday 2027-06-04 (New York, EDT).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlmodel import col, select

import bot.cli.year as year_cli
from bot.cli import main as cli_main
from scheduling import digest as sched_digest
from storage import actions as action_store
from storage import digest as data
from storage.home import dashboard
from storage.models import (
    AuditEntry,
    Checkin,
    CheckinRound,
    Cycle,
    CycleReflection,
    Feedback,
    Meeting,
    ScheduledJob,
    School,
    SchoolYear,
    SupportRequest,
)
from storage.people import load_actor
from storage.rules.digest import IsoWeek
from storage.rules.school_year import RecordedYear, YearSpan, plan_close
from storage.school_years import current_year, year_starts
from tests.cycle_helpers import checkin_dms, make_cycle, only_checkins
from tests.harness import BotHarness
from tests.seed import Seeded, seed_team

MONDAY = datetime(2027, 5, 31, 13, 0, tzinfo=UTC)
THURSDAY_2PM = datetime(2027, 6, 3, 18, 0, tzinfo=UTC)  # 14:00 in New York (EDT)
CLOSE_AT = datetime(2027, 6, 7, 14, 0, tzinfo=UTC)  # the Monday after the last day of school
NEXT_THURSDAY_2PM = datetime(2027, 6, 10, 18, 0, tzinfo=UTC)
LAST_DAY = "2027-06-04"


@pytest.fixture
def year_bot(any_db_url):  # noqa: ANN001
    harness = BotHarness(any_db_url, start=MONDAY)
    try:
        yield only_checkins(harness.start())
    finally:
        harness.stop()


@dataclasses.dataclass
class Year:
    a: Seeded
    b: Seeded
    cycles: list[int]


def seed_year(bot: BotHarness, *, school: str = "Lincoln Elementary", tz: str = "America/New_York",
              prefix: str = "") -> Year:
    """Two teams in their last cycle of the year, check-ins answered (one asking for support),
    action items open and done."""
    p = prefix
    a = seed_team(bot, school=school, team="Grade 3", channel=f"C{p}GRADE3", facilitators=(f"U{p}FAC",),
                  members=(f"U{p}T1", f"U{p}T2"), principals=(f"U{p}PRIN",), timezone=tz)
    b = seed_team(bot, school=school, team="Grade 5", channel=f"C{p}GRADE5", facilitators=(f"U{p}FAC5",),
                  members=(f"U{p}T4",), principals=(), school_id=a.school_id, timezone=tz)
    with bot.db.session() as s:
        row = s.get(School, a.school_id)
        row.created_at = datetime(2026, 7, 1, tzinfo=UTC)
        s.add(row)
    cycles = [make_cycle(bot, a.team_id, start=date(2027, 5, 31), weeks=6, by=f"U{p}FAC"),
              make_cycle(bot, b.team_id, start=date(2027, 5, 31), weeks=6, by=f"U{p}FAC5")]
    with bot.db.session() as s:
        action_store.add_action(s, team_id=a.team_id, owner=f"U{p}T1", text="Bring =SUM(A1) samples",
                                due=date(2027, 6, 18), created_by=f"U{p}FAC", now=MONDAY)
        done = action_store.add_action(s, team_id=b.team_id, owner=f"U{p}T4", text="Share the rubric",
                                       due=date(2027, 6, 2), created_by=f"U{p}FAC5", now=MONDAY)
        action_store.mark_done(s, action_id=done.id or 0, by=f"U{p}T4", now=MONDAY)
        meeting = Meeting(team_id=a.team_id, starts_at=datetime(2027, 6, 1, 19, 30, tzinfo=UTC), status="held")
        s.add(meeting)
        s.flush()
        for i, uid in enumerate((f"U{p}FAC", f"U{p}T1", f"U{p}T2")):
            s.add(Feedback(meeting_id=meeting.id, team_id=a.team_id, person_id=a.person_ids[uid] if i else None,
                           anonymous=not i, answered_on=date(2027, 6, 1), useful=4, learned=3 + i, norms=5))
    return Year(a, b, cycles)


def answer_week_one(bot: BotHarness, year: Year, prefix: str = "") -> None:
    bot.clock.set(THURSDAY_2PM)
    bot.tick()
    p = prefix
    for user, answer in ((f"U{p}T1", "checkin_on_track"), (f"U{p}T2", "checkin_stuck"),
                         (f"U{p}T4", "checkin_some_progress")):
        [dm] = checkin_dms(bot, user)
        bot.user(user).click(dm, answer)
    bot.wait_idle()
    with bot.db.read() as s:  # the window's close: summaries posted, the support request sent on
        closes = max(r.closes_at for r in s.exec(select(CheckinRound)).all() if r.closes_at)
    assert closes < CLOSE_AT
    bot.clock.set(closes)
    bot.tick()
    bot.wait_idle()


def run_cli(bot: BotHarness, tmp_path: Path, monkeypatch, capsys, *args: str) -> tuple[int, str, str]:  # noqa: ANN001
    """`plcbot ARGS` in-process on the harness's database, at the harness's time."""
    env = tmp_path / "cli.env"
    env.write_text(f"DATABASE_URL={bot.db_url}\n")
    real = year_cli.services_from
    monkeypatch.setattr(year_cli, "services_from", lambda a: dataclasses.replace(real(a), clock=bot.clock))
    for name in ("DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "PLCBOT_SCHOOL_YEAR_START"):
        monkeypatch.delenv(name, raising=False)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        status = cli_main(["--env-file", str(env), *args])
    finally:  # the CLI configures logging for a process of its own; give pytest its logging back
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    out = capsys.readouterr()
    return status, out.out, out.err


def _sheet(book: openpyxl.Workbook, name: str) -> list[tuple]:
    return [r for r in book[name].iter_rows(min_row=2, values_only=True) if any(v is not None for v in r)]


def _years(bot: BotHarness, school_id: int) -> list[SchoolYear]:
    with bot.db.read() as s:
        return list(s.exec(select(SchoolYear).where(SchoolYear.school_id == school_id)
                           .order_by(col(SchoolYear.starts_on))).all())


def _audits(bot: BotHarness) -> list[AuditEntry]:
    with bot.db.read() as s:
        return list(s.exec(select(AuditEntry).where(AuditEntry.action == "year.close")).all())


# ------------------------------------------------------------------------------------ the scenario
def test_closing_the_year_ends_cycles_writes_the_workbook_and_starts_a_clean_year(year_bot, tmp_path, monkeypatch,
                                                                                  capsys):
    bot = year_bot
    year = seed_year(bot)
    answer_week_one(bot, year)
    with bot.db.read() as s:
        assert s.exec(select(SupportRequest)).one().sent_at is not None
        asked = len(s.exec(select(Checkin)).all())
        before = _home_teams(s, "UFAC", bot.clock.now())
    assert before[0].support_open == 1 and before[0].feedback is not None and before[0].cycle is not None
    bot.clock.set(CLOSE_AT)
    out_dir = tmp_path / "years"
    out_dir.mkdir()

    status, stdout, err = run_cli(bot, tmp_path, monkeypatch, capsys, "year", "close", "--school",
                                  "lincoln   ELEMENTARY", "--on", LAST_DAY, "--out-dir", str(out_dir))

    assert status == 0, err
    assert "closed 2026-27 (2026-08-01 to 2027-06-04)" in stdout and "ended 2 open cycles" in stdout
    assert "2027-28 began 2027-06-05" in stdout
    path = out_dir / "PLC year - Lincoln Elementary - 2026-27.xlsx"
    assert str(path.resolve()) in stdout and path.exists()
    assert not list(out_dir.glob(".plcbot-*"))  # no temporary file left behind

    # The cycles ended as `/plc cycle end` ends them: the summary kept, later work cancelled.
    with bot.db.read() as s:
        cycles = s.exec(select(Cycle).where(col(Cycle.id).in_(year.cycles))).all()
        assert {c.status for c in cycles} == {"ended"} and all(c.ended_at == CLOSE_AT for c in cycles)
        summaries = {r.cycle_id: json.loads(r.summary) for r in s.exec(select(CycleReflection)).all()}
        pending = s.exec(select(ScheduledJob).where(ScheduledJob.state == "pending",
                                                    col(ScheduledJob.kind).in_(["checkin_round", "checkin_reminder",
                                                                                "cycle_reflection"]))).all()
        ended_audits = s.exec(select(AuditEntry).where(AuditEntry.action == "cycle.end")).all()
    assert set(summaries) == set(year.cycles)
    grade3 = summaries[year.cycles[0]]["weeks"][0]
    assert (grade3["week"], grade3["asked"], grade3["answered"]) == (1, 3, 2)
    assert pending == []
    assert all(e.actor_label.startswith("cli:") for e in ended_audits) and len(ended_audits) == 2

    # The workbook holds the year's record.
    book = openpyxl.load_workbook(path)
    assert len(_sheet(book, "Check-ins")) == asked
    assert {(r[1], r[11]) for r in _sheet(book, "Cycles and goals")} == {("Grade 3", "ended"), ("Grade 5", "ended")}
    [support] = _sheet(book, "Support requests")
    assert support[1] == "Grade 3" and support[5] == "waiting"
    assert len(_sheet(book, "Feedback")) == 3
    actions = _sheet(book, "Action items")
    assert sorted(r[2] for r in actions) == ["Bring =SUM(A1) samples", "Share the rubric"]
    assert book["Action items"]["C2"].data_type == "s" or book["Action items"]["C3"].data_type == "s"

    # The years recorded, and the audit.
    closed, current = _years(bot, year.a.school_id)
    assert (closed.label, closed.starts_on, closed.ends_on, closed.closed_at) == (
        "2026-27", date(2026, 8, 1), date(2027, 6, 4), CLOSE_AT)
    assert closed.closed_by_id is None and closed.closed_by_label.startswith("cli:")
    assert closed.workbook == str(path.resolve())
    assert (current.label, current.starts_on, current.ends_on, current.closed_at) == (
        "2027-28", date(2027, 6, 5), None, None)
    [entry] = _audits(bot)
    assert entry.target == f"school:{year.a.school_id}" and entry.school_id == year.a.school_id
    assert entry.actor_label.startswith("cli:") and "2026-27" in entry.detail and "2 cycles ended" in entry.detail
    with bot.db.read() as s:
        assert current_year(s, school_id=year.a.school_id, today=date(2027, 6, 7), default=(8, 1)) == YearSpan(
            date(2027, 6, 5))

    # The ended cycles' check-ins do not go out the next Thursday.
    bot.clock.set(NEXT_THURSDAY_2PM)
    bot.tick()
    bot.wait_idle()
    for user in ("UT1", "UT2", "UT4", "UFAC", "UFAC5"):
        assert len(checkin_dms(bot, user)) == 1, user

    # The last week of the old year still shows its cycles and the waiting request…
    with bot.db.read() as s:
        last_week = data.build_digests(s, IsoWeek.of(date(2027, 6, 4)), min_group_size=3)[year.a.school_id]
        first_week = data.build_digests(s, IsoWeek.of(date(2027, 6, 7)), min_group_size=3)[year.a.school_id]
        buffer = io.BytesIO()
        sched_digest.write_week_workbook(s, [first_week], buffer, min_group_size=3)
    figures = {t.team.name: t for t in last_week.teams}
    assert figures["Grade 3"].cycle is not None and figures["Grade 3"].waiting == ("Teacher UT2",)
    # …and the first week of the new one none of last year's cycles, action items or requests.
    assert first_week.since == date(2027, 6, 5)
    for team in first_week.teams:
        assert team.cycle is None and team.waiting == () and team.following_up == 0 and team.checkins.asked == 0
    assert first_week.rounds == [] and first_week.charts == []
    week_book = openpyxl.load_workbook(buffer)
    for sheet in ("Check-ins", "Support requests", "Action items", "Cycles and goals"):
        [(note, *_)] = _sheet(week_book, sheet)
        assert note.startswith("No "), (sheet, note)

    # The Home tab of the new year: no request waiting from last year, for facilitator or principal.
    with bot.db.read() as s:
        for user in ("UFAC", "UPRIN"):
            teams = _home_teams(s, user, bot.clock.now())
            assert teams and all(t.support_open == 0 and not t.support and t.cycle is None and t.feedback is None
                                 for t in teams), user


def _home_teams(session, user: str, now: datetime) -> list:  # noqa: ANN001
    board = dashboard(session, actor=load_actor(session, user, admins=set()), now=now, min_group_size=3)
    return board.my_teams + [t for school in board.schools for t in school.teams]


def test_a_second_close_changes_nothing(year_bot, tmp_path, monkeypatch, capsys):
    bot = year_bot
    year = seed_year(bot)
    bot.clock.set(CLOSE_AT)
    args = ("year", "close", "--school", "Lincoln Elementary", "--out-dir", str(tmp_path))
    assert run_cli(bot, tmp_path, monkeypatch, capsys, *args, "--on", LAST_DAY)[0] == 0
    path = tmp_path / "PLC year - Lincoln Elementary - 2026-27.xlsx"
    written = path.stat().st_mtime_ns
    before = [(y.id, y.label, y.starts_on, y.ends_on, y.closed_at) for y in _years(bot, year.a.school_id)]

    for extra in (("--on", LAST_DAY), ("--on", "2027-05-01"), ()):  # the same day, a day in it, the default
        status, stdout, err = run_cli(bot, tmp_path, monkeypatch, capsys, *args, *extra)
        assert status == 0, err
        assert "2026-27 (2026-08-01 to 2027-06-04) was already closed on 2027-06-07 by cli:" in stdout, stdout
        assert "nothing changed" in stdout

    assert [(y.id, y.label, y.starts_on, y.ends_on, y.closed_at) for y in _years(bot, year.a.school_id)] == before
    assert len(_audits(bot)) == 1 and path.stat().st_mtime_ns == written
    # A day before the recorded years is refused, naming the option.
    status, _, err = run_cli(bot, tmp_path, monkeypatch, capsys, *args, "--on", "2026-07-20")
    assert status == 2 and "--on 2026-07-20 is before the current school year began (2027-06-05)" in err


@pytest.mark.parametrize("args, message", [
    (["--school", "Nowhere High", "--on", LAST_DAY], "--school: no school named 'Nowhere High' (known: Lincoln"),
    (["--school", "Lincoln Elementary", "--on", "2027-13-01"], "--on '2027-13-01' is not a date"),
    (["--school", "Lincoln Elementary", "--on", "2027-06-08"], "--on 2027-06-08 is in the future (today is 2027-06-07"),
    (["--school", "Lincoln Elementary", "--on", "2026-06-30"], "--on 2026-06-30 is before the school was set up"),
    (["--school", "Lincoln Elementary", "--on", "2026-08-05"], "--on 2026-08-05: the school year it falls in began"),
    (["--school", "Lincoln Elementary", "--on", LAST_DAY, "--out-dir", "/nonexistent/years"],
     "--out-dir: the folder '/nonexistent/years' does not exist"),
])
def test_bad_input_is_refused_in_one_line_and_changes_nothing(bot, tmp_path, monkeypatch, capsys, args, message):
    bot.clock.set(MONDAY)
    year = seed_year(bot)
    bot.clock.set(CLOSE_AT)
    if "--out-dir" not in args:
        args = [*args, "--out-dir", str(tmp_path)]
    status, stdout, err = run_cli(bot, tmp_path, monkeypatch, capsys, "year", "close", *args)
    assert status == 2
    ours = [line for line in err.splitlines() if line.startswith("plcbot:")]
    assert len(ours) == 1 and message in ours[0], err
    assert "Traceback" not in err and stdout == ""
    assert _years(bot, year.a.school_id) == [] and _audits(bot) == []
    with bot.db.read() as s:
        assert {c.status for c in s.exec(select(Cycle)).all()} == {"active"}
    assert not list(tmp_path.glob("*.xlsx"))


def test_all_schools_one_failing_does_not_stop_the_others_and_a_rerun_finishes(bot, tmp_path, monkeypatch, capsys):
    bot.clock.set(MONDAY)
    lincoln = seed_year(bot)
    roosevelt = seed_year(bot, school="Roosevelt Middle", tz="America/Chicago", prefix="R")
    bot.clock.set(CLOSE_AT)
    real_write = year_cli._write

    def full_disk(session, scope, target, **kw):  # noqa: ANN001, ANN003
        if "Roosevelt" in target.name:
            raise OSError(28, "No space left on device")
        return real_write(session, scope, target, **kw)

    monkeypatch.setattr(year_cli, "_write", full_disk)
    status, stdout, err = run_cli(bot, tmp_path, monkeypatch, capsys, "year", "close", "--all", "--on", LAST_DAY,
                                  "--out-dir", str(tmp_path))
    assert status == 1
    assert "Lincoln Elementary: closed 2026-27" in stdout and "1 closed, 0 already closed, 1 failed." in stdout
    assert "Roosevelt Middle: failed: OSError: [Errno 28] No space left on device" in err
    assert "1 of 2 schools failed: Roosevelt Middle" in err and "Traceback" not in err
    assert [y.closed_at is not None for y in _years(bot, lincoln.a.school_id)] == [True, False]
    assert _years(bot, roosevelt.a.school_id) == []
    assert not list(tmp_path.glob(".plcbot-*"))

    monkeypatch.setattr(year_cli, "_write", real_write)
    status, stdout, err = run_cli(bot, tmp_path, monkeypatch, capsys, "year", "close", "--all", "--on", LAST_DAY,
                                  "--out-dir", str(tmp_path))
    assert status == 0, err
    assert "Lincoln Elementary: 2026-27 (2026-08-01 to 2027-06-04) was already closed" in stdout
    assert "Roosevelt Middle: closed 2026-27" in stdout and "1 closed, 1 already closed, 0 failed." in stdout
    assert [y.label for y in _years(bot, roosevelt.a.school_id)] == ["2026-27", "2027-28"]
    assert sorted(e.school_id for e in _audits(bot)) == sorted([lincoln.a.school_id, roosevelt.a.school_id])
    book = openpyxl.load_workbook(tmp_path / "PLC year - Roosevelt Middle - 2026-27.xlsx")
    assert {r[0] for r in _sheet(book, "Cycles and goals")} == {"Roosevelt Middle"}  # its own school only
    with bot.db.read() as s:
        assert {c.status for c in s.exec(select(Cycle)).all()} == {"ended"}

    status, stdout, _ = run_cli(bot, tmp_path, monkeypatch, capsys, "year", "list")
    assert status == 0 and stdout.count("(open)") == 2 and stdout.count("closed 2027-06-07 by cli:") == 2


def test_a_cycle_that_starts_after_the_last_day_runs_on_into_the_new_year(bot, tmp_path, monkeypatch, capsys):
    bot.clock.set(MONDAY)
    year = seed_year(bot)
    with bot.db.session() as s:  # Grade 5 ends its cycle and plans a summer one from June 7
        s.get(Cycle, year.cycles[1]).status = "ended"
    summer = make_cycle(bot, year.b.team_id, start=date(2027, 6, 7), weeks=4, by="UFAC5")
    bot.clock.set(CLOSE_AT)
    status, stdout, _ = run_cli(bot, tmp_path, monkeypatch, capsys, "year", "close", "--school",
                                "Lincoln Elementary", "--on", LAST_DAY, "--out-dir", str(tmp_path))
    assert status == 0 and "ended 1 open cycle (summaries kept)" in stdout
    with bot.db.read() as s:
        assert s.get(Cycle, summer).status == "active"
        digest = data.build_digests(s, IsoWeek.of(date(2027, 6, 7)), min_group_size=3)[year.a.school_id]
    assert {t.team.name: t.cycle is not None for t in digest.teams} == {"Grade 3": False, "Grade 5": True}


def test_the_next_year_closes_in_turn_without_last_years_leftovers(year_bot, tmp_path, monkeypatch, capsys):
    bot = year_bot
    year = seed_year(bot)
    answer_week_one(bot, year)  # leaves 2026-27 with an open action item and a waiting support request
    bot.clock.set(CLOSE_AT)
    args = ("year", "close", "--school", "Lincoln Elementary", "--out-dir", str(tmp_path))
    assert run_cli(bot, tmp_path, monkeypatch, capsys, *args, "--on", LAST_DAY)[0] == 0
    [_, opened] = _years(bot, year.a.school_id)
    with bot.db.session() as s:  # 2027-28: one new action item
        action_store.add_action(s, team_id=year.a.team_id, owner="UT2", text="Plan the fall unit",
                                due=date(2027, 9, 10), created_by="UFAC", now=datetime(2027, 9, 1, 14, tzinfo=UTC))

    bot.clock.set(datetime(2028, 6, 19, 14, 0, tzinfo=UTC))
    status, stdout, err = run_cli(bot, tmp_path, monkeypatch, capsys, *args)  # --on: yesterday, 2028-06-18
    assert status == 0, err
    assert "closed 2027-28 (2027-06-05 to 2028-06-18); ended 0 open cycles" in stdout
    first, second, third = _years(bot, year.a.school_id)
    assert (second.id, second.label, second.ends_on) == (opened.id, "2027-28", date(2028, 6, 18))
    assert second.closed_at is not None and (third.label, third.starts_on, third.closed_at) == (
        "2028-29", date(2028, 6, 19), None)
    book = openpyxl.load_workbook(tmp_path / "PLC year - Lincoln Elementary - 2027-28.xlsx")
    assert [r[2] for r in _sheet(book, "Action items")] == ["Plan the fall unit"]
    for sheet in ("Support requests", "Cycles and goals", "Check-ins"):
        [(note, *_)] = _sheet(book, sheet)
        assert note.startswith("No "), (sheet, note)


# ------------------------------------------------------------------------------------ the rules
def _closed(start: date, end: date) -> RecordedYear:
    return RecordedYear("x", start, end, True, "cli:admin", end, "/tmp/x.xlsx")


@pytest.mark.parametrize("on, today, years, action, expect", [
    (date(2027, 6, 18), date(2027, 6, 21), [], "close", YearSpan(date(2026, 8, 1), date(2027, 6, 18))),
    (date(2027, 8, 3), date(2027, 8, 4), [], "refuse", "only 3 days earlier; give the last day of the year to close "
                                                       "(e.g. --on 2027-07-31)"),
    (date(2027, 7, 30), date(2027, 8, 4), [], "close", YearSpan(date(2026, 8, 1), date(2027, 7, 30))),
    (date(2027, 6, 22), date(2027, 6, 21), [], "refuse", "in the future"),
    (date(2027, 6, 20), date(2027, 6, 21), [_closed(date(2026, 8, 1), date(2027, 6, 18)),
                                            RecordedYear("2027-28", date(2027, 6, 19), None, False)], "already", None),
    (date(2028, 6, 16), date(2028, 6, 17), [_closed(date(2026, 8, 1), date(2027, 6, 18)),
                                            RecordedYear("2027-28", date(2027, 6, 19), None, False)], "close",
     YearSpan(date(2027, 6, 19), date(2028, 6, 16))),
    (date(2026, 6, 1), date(2027, 6, 21), [_closed(date(2026, 8, 1), date(2027, 6, 18)),
                                           RecordedYear("2027-28", date(2027, 6, 19), None, False)], "refuse",
     "before the current school year began (2027-06-19)"),
])
def test_plan_close(on, today, years, action, expect):
    plan = plan_close(on=on, today=today, years=years, default=(8, 1))
    assert plan.action == action
    if action == "close":
        assert plan.closing == expect and plan.next_start == on + timedelta(days=1)
    elif action == "refuse":
        assert expect in plan.reason


def test_year_starts_bound_only_schools_that_closed_a_year(bot):
    bot.clock.set(MONDAY)
    a = seed_team(bot)
    b = seed_team(bot, school="Roosevelt Middle", team="Grade 5", channel="CG5", facilitators=("UF5",),
                  members=("UT5",), principals=())
    with bot.db.session() as s:
        s.add(SchoolYear(school_id=a.school_id, label="2026-27", starts_on=date(2026, 8, 1), ends_on=date(2027, 6, 4),
                         closed_at=CLOSE_AT, closed_by="cli:x"))
        s.add(SchoolYear(school_id=a.school_id, label="2027-28", starts_on=date(2027, 6, 5)))
    with bot.db.read() as s:
        assert year_starts(s, school_ids=[a.school_id, b.school_id], on=date(2027, 6, 7)) == {
            a.school_id: date(2027, 6, 5)}
        assert year_starts(s, school_ids=[a.school_id, b.school_id], on=date(2027, 5, 31)) == {}
        assert year_starts(s, school_ids=[a.school_id], on=date(2027, 6, 5)) == {a.school_id: date(2027, 6, 5)}
