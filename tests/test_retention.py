"""Retention: the daily purge on an injected clock, `plcbot privacy purge`, and forgetting
accounts deactivated long ago.

The harness's clock stands on Monday 2026-11-30 (08:00 in New York): the school year began on
2026-08-01 (PLCBOT_SCHOOL_YEAR_START's default), so with 3 years kept the cutoff is 2023-08-01.
Each test seeds one team with a full set of records in four school years: 2022-23 (four years
ago: past retention), 2023-24 (the oldest year kept), 2025-26 (last year) and 2026-27 (this
year), then looks at which years are left in every table the purge touches.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from bot.cli import main as cli_main
from bot.settings import SettingError, from_env
from scheduling import registry as registry_mod
from storage import jobs
from storage import retention as store
from storage.models import (
    ActionItem,
    AgendaItem,
    Attendance,
    AuditEntry,
    Checkin,
    CheckinRound,
    Cycle,
    CycleReflection,
    Delivery,
    Feedback,
    Meeting,
    MeetingRecord,
    Person,
    ScheduledJob,
    SchoolYear,
    SupportRequest,
)
from tests.harness import BotHarness, addressed
from tests.seed import Seeded, seed_team

# A Thursday in November of each school year, and the year it belongs to.
DAYS = {2022: date(2022, 11, 10), 2023: date(2023, 11, 9), 2025: date(2025, 11, 13), 2026: date(2026, 11, 12)}
PURGED_TABLES = (SupportRequest, Checkin, CheckinRound, Feedback, MeetingRecord, Attendance, AgendaItem,
                 ActionItem, Delivery, ScheduledJob)


def _utc(day: date, hour: int = 20) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def seed_year(bot: BotHarness, team: Seeded, year: int, *, day: date | None = None) -> None:
    """One school year's records for the team: a cycle week of check-ins (one stuck, with a
    support request), a held meeting with its wrap-up, attendance, agenda and action items,
    named and anonymous feedback, the reflection, and the ledger rows the bot kept."""
    day = day or DAYS[year]
    ids = team.person_ids
    at = _utc(day)
    fid = (day.toordinal() * 100 + team.team_id) * 10  # feedback ids are random in the bot; unique here
    with bot.db.session() as s:
        cycle = Cycle(team_id=team.team_id, title=f"Cycle {year}", goal="Fluency", metric_name="wpm", baseline=60,
                      target=90, start_date=day - timedelta(days=14), weeks=4, status="ended",
                      created_by_id=ids["UFAC"], created_at=at, ended_at=at + timedelta(days=30))
        meeting = Meeting(team_id=team.team_id, starts_at=at, status="held", held_at=at + timedelta(hours=1),
                          title="Data meeting")
        s.add_all([cycle, meeting])
        s.flush()
        rnd = CheckinRound(cycle_id=cycle.id, team_id=team.team_id, week=3, local_day=day, state="closed")
        s.add(rnd)
        s.flush()
        stuck = Checkin(round_id=rnd.id, cycle_id=cycle.id, person_id=ids["UT2"], week=3,
                        status="sent", progress="stuck", support="help with grouping", answered_at=at, created_at=at)
        s.add_all([stuck,
                   Checkin(round_id=rnd.id, cycle_id=cycle.id, person_id=ids["UT1"], week=3,
                           status="sent", progress="on_track", value=70.0, answered_at=at, created_at=at),
                   Checkin(round_id=rnd.id, cycle_id=cycle.id, person_id=ids["UFAC"], week=3,
                           status="sent", created_at=at)])
        s.flush()
        s.add(SupportRequest(checkin_id=stuck.id, team_id=team.team_id, cycle_id=cycle.id, person_id=ids["UT2"],
                             created_at=at, updated_at=at))
        s.add(CycleReflection(cycle_id=cycle.id, target_reached="partly", learned="warm-ups help",
                              submitted_by_id=ids["UFAC"], submitted_at=at, summary='{"weeks": []}', created_at=at))
        s.add(MeetingRecord(meeting_id=meeting.id, timekeeper_id=ids["UT1"], decisions="regroup on Friday",
                            wrapped_up_by_id=ids["UFAC"], wrapped_up_at=at))
        s.add_all([Attendance(meeting_id=meeting.id, person_id=ids[u], present=u != "UT3")
                   for u in ("UFAC", "UT1", "UT3")])
        s.add(AgendaItem(meeting_id=meeting.id, position=1, title="Fluency data", owner_id=ids["UT1"],
                         notes="UT1 shared", added_by_id=ids["UFAC"], created_at=at))
        s.add(ActionItem(team_id=team.team_id, meeting_id=meeting.id, owner_id=ids["UT1"], text="bring samples",
                         status="done", created_at=at, done_at=at))
        s.add(ActionItem(team_id=team.team_id, owner_id=ids["UT2"], text="share the rubric", created_at=at))
        s.add_all([Feedback(id=fid + 1, meeting_id=meeting.id, team_id=team.team_id, person_id=ids["UT1"],
                            answered_on=day, useful=4, learned=4, norms=5, will_try="exit tickets"),
                   Feedback(id=fid + 2, meeting_id=meeting.id, team_id=team.team_id, anonymous=True,
                            answered_on=day, useful=2, learned=3, norms=3, will_try="anonymous idea")])
        job = ScheduledJob(kind="checkin_round", dedupe_key=f"checkin_round:{cycle.id}:3", team_id=team.team_id,
                           ref_id=cycle.id, due_at=at, state="done", finished_at=at, created_at=at)
        s.add(job)
        s.flush()
        s.add(Delivery(key=f"checkin:{rnd.id}:UT1", kind="checkin", **addressed(s, "UT1"), state="sent", job_id=job.id,
                       created_at=at, updated_at=at))
        s.add(Delivery(key=f"action:{team.team_id}:{day}:UT2", kind="action", **addressed(s, "UT2"), state="sent",
                       created_at=at, updated_at=at))


def seed_four_years(bot: BotHarness) -> Seeded:
    team = seed_team(bot)
    for year in DAYS:
        seed_year(bot, team, year)
    return team


def years_left(bot: BotHarness) -> dict[str, set[int]]:
    """Which seeded school years each kind of record is still held for."""
    def years(rows: list) -> set[int]:  # noqa: ANN001
        return {r.year for r in rows}

    with bot.db.read() as s:
        meeting_year = {m.id: m.starts_at.year for m in s.exec(select(Meeting)).all()}
        round_year = {r.id: r.local_day.year for r in s.exec(select(CheckinRound)).all()}
        checkin_year = {c.id: round_year[c.round_id] for c in s.exec(select(Checkin)).all()}
        return {
            "check-ins": set(checkin_year.values()),
            "check-in rounds": set(round_year.values()),
            "support requests": {checkin_year[r.checkin_id] for r in s.exec(select(SupportRequest)).all()},
            "feedback answers": years(s.exec(select(Feedback.answered_on)).all()),
            "meeting wrap-ups": {meeting_year[r.meeting_id] for r in s.exec(select(MeetingRecord)).all()},
            "attendance rows": {meeting_year[r.meeting_id] for r in s.exec(select(Attendance)).all()},
            "agenda items": {meeting_year[r.meeting_id] for r in s.exec(select(AgendaItem)).all()},
            "action items": years(s.exec(select(ActionItem.created_at)).all()),
            "meetings": set(meeting_year.values()),
            "cycles": years(s.exec(select(Cycle.start_date)).all()),
            "cycle authors": {c.start_date.year for c in s.exec(select(Cycle)).all() if c.created_by_id},
            "reflections": {c.start_date.year for c, r in s.exec(select(Cycle, CycleReflection).where(
                CycleReflection.cycle_id == Cycle.id)).all()},
            "reflection authors": {c.start_date.year for c, r in s.exec(select(Cycle, CycleReflection).where(
                CycleReflection.cycle_id == Cycle.id)).all() if r.submitted_by_id},
            "deliveries": years(s.exec(select(Delivery.created_at)).all()),
            "finished jobs": years(s.exec(select(ScheduledJob.created_at).where(
                col(ScheduledJob.state).in_(store.FINISHED), ScheduledJob.kind != "retention")).all()),
        }


def table_counts(bot: BotHarness) -> dict[str, int]:
    with bot.db.read() as s:
        return {m.__name__: s.exec(select(func.count()).select_from(m)).one() for m in
                (*PURGED_TABLES, Meeting, Cycle, CycleReflection, AuditEntry, Person)}


def purges(bot: BotHarness, *, ledger: bool = False) -> list[AuditEntry]:
    """The audit log's purge entries: the schools' (target "school:N"), or the ledger's."""
    with bot.db.read() as s:
        rows = s.exec(select(AuditEntry).where(AuditEntry.action == "privacy.purge")
                      .order_by(col(AuditEntry.id))).all()
    return [e for e in rows if (e.target == "ledger") == ledger]


def jobs_of(bot: BotHarness, kind: str) -> list[ScheduledJob]:
    with bot.db.read() as s:
        return list(s.exec(select(ScheduledJob).where(ScheduledJob.kind == kind).order_by(ScheduledJob.due_at)).all())


def retention_only(bot: BotHarness) -> BotHarness:
    """Ticks run the retention planner and job alone (the weekly work of other features, made
    due by the clock, is theirs to test; one scenario below keeps every feature)."""
    bot.runtime.registry = registry_mod.load(["scheduling.retention"])
    return bot


ALL_YEARS = {2022, 2023, 2025, 2026}
KEPT = {2023, 2025, 2026}
KINDS = ("check-ins", "check-in rounds", "support requests", "feedback answers", "meeting wrap-ups",
         "attendance rows", "agenda items", "action items", "cycle authors", "reflection authors", "deliveries",
         "finished jobs")


# ------------------------------------------------------------------------------ the daily job
def test_the_daily_job_deletes_only_what_is_past_the_cutoff_and_twice_changes_nothing(bot):
    seed_four_years(bot)
    assert all(years_left(bot)[k] == ALL_YEARS for k in KINDS)

    result = bot.tick()  # every feature's planners and kinds, as `plcbot run` ticks them

    assert result.failed == 0
    left = years_left(bot)
    for kind in KINDS:
        assert left[kind] == KEPT, kind
    # What stays, by design: meetings (a date and a status), cycles and their reflections.
    assert left["meetings"] == ALL_YEARS and left["cycles"] == ALL_YEARS and left["reflections"] == ALL_YEARS
    [job] = jobs_of(bot, "retention")
    assert job.dedupe_key == "retention:2026-11-30" and job.state == "done"
    assert job.due_at == datetime(2026, 11, 30, 8, 30, tzinfo=UTC)  # 03:30 in New York
    assert job.last_error == "purged 19 records (Lincoln Elementary 16; ledger 3); forgot 0 deactivated accounts"
    [entry] = purges(bot)
    assert entry.actor_label == "retention" and entry.school_id is not None
    assert entry.detail.startswith("before 2023-08-01: ")
    assert "check-ins 3" in entry.detail and "feedback answers 2" in entry.detail
    assert "regroup" not in entry.detail and "UT1" not in entry.detail  # counts, never contents or ids
    ledger = purges(bot, ledger=True)
    assert len(ledger) == 1 and "deliveries 2" in ledger[0].detail and "finished jobs 1" in ledger[0].detail

    before = table_counts(bot)
    bot.tick()  # the same day: the row is done, nothing runs again
    bot.clock.advance(timedelta(days=1))
    retention_only(bot).tick()  # the next day's run finds nothing more
    after = table_counts(bot)
    assert {k: v for k, v in after.items() if k not in ("ScheduledJob", "Delivery", "AuditEntry")} == \
        {k: v for k, v in before.items() if k not in ("ScheduledJob", "Delivery", "AuditEntry")}
    assert years_left(bot) == left
    assert [j.state for j in jobs_of(bot, "retention")] == ["done", "done"]
    assert jobs_of(bot, "retention")[1].last_error == "purged 0 records; forgot 0 deactivated accounts"
    assert len(purges(bot)) == 1  # nothing deleted: no second audit entry


def test_retention_years_moves_the_cutoff(db_url):
    bot = BotHarness(db_url, env={"PLCBOT_RETENTION_YEARS": "1"}).start()
    try:
        seed_four_years(bot)
        retention_only(bot).tick()
        left = years_left(bot)
        for kind in KINDS:
            assert left[kind] == {2025, 2026}, kind  # cutoff 2025-08-01: last year and this one
        assert "before 2025-08-01" in purges(bot)[0].detail
    finally:
        bot.stop()


def test_the_cutoff_is_the_first_day_of_the_oldest_year_kept(bot):
    team = seed_team(bot)
    seed_year(bot, team, 2022, day=date(2023, 7, 31))  # the last day of 2022-23: past retention
    seed_year(bot, team, 2023, day=date(2023, 8, 1))  # the first day of 2023-24: kept
    retention_only(bot).tick()
    with bot.db.read() as s:
        assert {r.local_day for r in s.exec(select(CheckinRound)).all()} == {date(2023, 8, 1)}
        assert {f.answered_on for f in s.exec(select(Feedback)).all()} == {date(2023, 8, 1)}
        # The meeting of 2023-07-31 20:00 UTC is 16:00 that day in New York: its log went.
        assert {m.starts_at.date() for m, _ in s.exec(select(Meeting, MeetingRecord).where(
            MeetingRecord.meeting_id == Meeting.id)).all()} == {date(2023, 8, 1)}


def test_each_school_has_its_own_cutoff_from_its_own_year(bot):
    """A school whose year (recorded by `plcbot year close`) began on 24 August keeps from
    2023-08-24; the other school, on the default year, from 2023-08-01."""
    lincoln = seed_team(bot)
    roosevelt = seed_team(bot, school="Roosevelt High", team="Math", channel="CMATH", facilitators=("UFAC",),
                          members=("UT1", "UT2", "UT3"), principals=())
    between = date(2023, 8, 20)  # its cycle began on 6 August
    seed_year(bot, lincoln, 2023, day=between)
    seed_year(bot, roosevelt, 2023, day=between)
    with bot.db.session() as s:
        s.add(SchoolYear(school_id=roosevelt.school_id, label="2025-26", starts_on=date(2025, 8, 25),
                         ends_on=date(2026, 8, 23), closed_at=datetime(2026, 8, 23, tzinfo=UTC)))
        s.add(SchoolYear(school_id=roosevelt.school_id, label="2026-27", starts_on=date(2026, 8, 24)))
    retention_only(bot).tick()
    with bot.db.read() as s:
        left = {r.team_id for r in s.exec(select(CheckinRound)).all()}
        feedback = {f.team_id for f in s.exec(select(Feedback)).all()}
    assert left == {lincoln.team_id} and feedback == {lincoln.team_id}
    [entry] = purges(bot)
    assert entry.school_id == roosevelt.school_id and entry.detail.startswith("before 2023-08-24: ")


def test_a_missed_day_is_skipped_and_only_todays_run_happens(bot):
    retention_only(bot)
    with bot.db.session() as s:
        jobs.schedule(s, kind="retention", dedupe_key="retention:2026-11-27",
                      due_at=datetime(2026, 11, 27, 8, 30, tzinfo=UTC), payload={"tz": "America/New_York"})
    result = bot.tick()
    assert result.skipped == 1 and result.ran == 1
    assert [(j.dedupe_key, j.state) for j in jobs_of(bot, "retention")] == [
        ("retention:2026-11-27", "skipped"), ("retention:2026-11-30", "done")]
    # Before 03:30 the day's row waits; once planned it is never planned twice.
    bot.clock.set(datetime(2026, 12, 1, 7, 0, tzinfo=UTC))  # 02:00 in New York
    assert bot.tick().ran == 0
    assert [j.state for j in jobs_of(bot, "retention")][-1] == "pending"
    bot.clock.set(datetime(2026, 12, 1, 8, 31, tzinfo=UTC))
    assert bot.tick().ran == 1 and len(jobs_of(bot, "retention")) == 3


def test_open_work_and_its_deliveries_are_never_purged(bot):
    """A row still running (or pending) and what it already sent stay, however old."""
    team = seed_team(bot)
    old = _utc(DAYS[2022])
    with bot.db.session() as s:
        job = ScheduledJob(kind="digest", dedupe_key="digest:1:2022-W45", school_id=team.school_id, due_at=old,
                           state="running", lease_until=bot.clock.now() + timedelta(minutes=5), created_at=old)
        s.add(job)
        s.flush()
        s.add(Delivery(key="digest:1:2022-W45:UPRIN", kind="digest", **addressed(s, "UPRIN"), state="sent",
                       job_id=job.id, created_at=old, updated_at=old))
    retention_only(bot).tick()
    with bot.db.read() as s:
        assert s.exec(select(ScheduledJob).where(ScheduledJob.kind == "digest")).one().state == "running"
        assert len(s.exec(select(Delivery)).all()) == 1


# ------------------------------------------------------------------------------ PostgreSQL too
def test_the_purge_on_every_database(any_db_url):
    bot = BotHarness(any_db_url).start()
    try:
        seed_four_years(bot)
        before = table_counts(bot)
        with bot.db.read() as s:
            [cut] = store.cutoffs(s, now=bot.clock.now(), retention_years=3, year_start=(8, 1))
            dry = store.purge_school(s, cut, apply=False, actor="test", now=bot.clock.now())
        assert table_counts(bot) == before
        retention_only(bot).tick()
        left = years_left(bot)
        for kind in KINDS:
            assert left[kind] == KEPT, kind
        [entry] = purges(bot)
        assert entry.detail == f"before 2023-08-01: {store._detail(dry.counts)}"  # the dry run's figures
        bot.clock.advance(timedelta(days=1))
        counts = table_counts(bot)
        bot.tick()
        assert {k: v for k, v in table_counts(bot).items() if k not in ("ScheduledJob",)} == \
            {k: v for k, v in counts.items() if k not in ("ScheduledJob",)}
    finally:
        bot.stop()


# ------------------------------------------------------------------------------ the command line
def _cli(bot: BotHarness, tmp_path: Path, monkeypatch, capsys, *args: str) -> tuple[int, str, str]:  # noqa: ANN001
    """`plcbot …` in this process against the harness's database, on the harness's clock."""
    from bot.cli import retention as cli_retention

    env = tmp_path / "cli.env"
    env.write_text(f"DATABASE_URL={bot.db_url}\nSLACK_SIGNING_SECRET=test-signing-secret-0123456789\n")
    real = cli_retention.services_from
    monkeypatch.setattr(cli_retention, "services_from",
                        lambda a: dataclasses.replace(real(a), clock=bot.clock))
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
    for name in ("DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "PLCBOT_RETENTION_YEARS",
                 "PLCBOT_FORGET_DEACTIVATED_DAYS", "PLCBOT_SCHOOL_YEAR_START", "PLCBOT_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)


def test_cli_dry_run_shows_counts_per_school_and_changes_nothing_then_apply_does_it(
        bot, tmp_path, monkeypatch, capsys, isolated_env):
    seed_four_years(bot)
    before = table_counts(bot)
    status, out, err = _cli(bot, tmp_path, monkeypatch, capsys, "privacy", "purge")
    assert status == 0, err
    assert table_counts(bot) == before and purges(bot) == []
    assert "Lincoln Elementary (school year 2026-27, from 2026-08-01): records dated before 2023-08-01" in out
    assert ("would delete: support requests 1, check-ins 3, check-in rounds 1, feedback answers 2, meeting wrap-ups 1, "
            "attendance rows 3, agenda items 1, action items 2; would empty: cycle author ids 2") in out
    assert "would delete: deliveries 2, finished jobs 1" in out
    assert out.rstrip().endswith("dry run: nothing changed, run with --apply")
    assert "UT1" not in out and "regroup" not in out

    status, out, err = _cli(bot, tmp_path, monkeypatch, capsys, "privacy", "purge", "--apply")
    assert status == 0, err
    assert "  deleted: support requests 1, check-ins 3" in out and "dry run" not in out
    assert "Done: 19 records deleted or emptied" in out
    left = years_left(bot)
    assert all(left[k] == KEPT for k in KINDS)
    [entry] = purges(bot)
    assert entry.actor_label.startswith("cli:")

    status, out, _ = _cli(bot, tmp_path, monkeypatch, capsys, "privacy", "purge")
    assert status == 0 and "nothing is past retention" in out and "nothing to delete" in out
    # Applied again: it says nothing went, not that an audit entry records it (none is written).
    status, out, _ = _cli(bot, tmp_path, monkeypatch, capsys, "privacy", "purge", "--apply")
    assert status == 0 and out.rstrip().endswith("Done: nothing was past retention.") and len(purges(bot)) == 1


def test_cli_bad_setting_is_one_line_naming_it(bot, tmp_path, monkeypatch, capsys, isolated_env):
    monkeypatch.setenv("PLCBOT_RETENTION_YEARS", "three")
    status, out, err = _cli(bot, tmp_path, monkeypatch, capsys, "privacy", "purge")
    assert status == 2 and out == ""
    assert err.strip() == "plcbot: setting PLCBOT_RETENTION_YEARS: must be a whole number, got 'three'."


def test_cli_with_no_schools_says_so(bot, tmp_path, monkeypatch, capsys, isolated_env):
    status, out, _ = _cli(bot, tmp_path, monkeypatch, capsys, "privacy", "purge")
    assert status == 0 and "No schools yet." in out and "dry run: nothing changed" in out


# ------------------------------------------------------------------------------ the settings
@pytest.mark.parametrize(("name", "value", "message"), [
    ("PLCBOT_RETENTION_YEARS", "0", "must be between 1 and 50, got 0."),
    ("PLCBOT_RETENTION_YEARS", "3 years", "must be a whole number, got '3 years'."),
    ("PLCBOT_RETENTION_YEARS", "-2", "must be between 1 and 50, got -2."),
    ("PLCBOT_FORGET_DEACTIVATED_DAYS", "-1", "must be between 0 and 36500, got -1."),
    ("PLCBOT_FORGET_DEACTIVATED_DAYS", "1y", "must be a whole number, got '1y'."),
    ("PLCBOT_SCHOOL_YEAR_START", "13-01", "'13-01' is not a day of the year"),
    ("PLCBOT_SCHOOL_YEAR_START", "02-29", "'02-29' is not a day of the year (and 02-29 is not allowed)."),
    ("PLCBOT_SCHOOL_YEAR_START", "August 1", "must be a month and day as MM-DD, like 08-01, got 'August 1'."),
])
def test_bad_retention_settings_name_their_variable(name, value, message):
    with pytest.raises(SettingError) as caught:
        from_env({name: value})
    assert caught.value.name == name and str(caught.value).startswith(f"{name}: ")
    assert message in str(caught.value)


def test_good_retention_settings_are_read():
    s = from_env({"PLCBOT_RETENTION_YEARS": "5", "PLCBOT_FORGET_DEACTIVATED_DAYS": "0",
                  "PLCBOT_SCHOOL_YEAR_START": "9-1"})
    assert (s.retention_years, s.forget_deactivated_days, s.school_year_start) == (5, 0, (9, 1))


# ------------------------------------------------------------------------------ deactivated accounts
def _deactivate(bot: BotHarness, uid: str, *, days_ago: int) -> None:
    """Slack deactivates the account (a signed `user_change` event), `days_ago` days before now."""
    bot.user(uid).event({"type": "user_change", "user": {"id": uid, "deleted": True, "name": uid.lower()}})
    bot.wait_idle()
    with bot.db.session() as s:
        person = s.exec(select(Person).where(Person.handle == uid)).one()
        assert person.active is False and person.deactivated_at == bot.clock.now()  # the bot's clock
        # Slack told us `days_ago` days ago: move the stamp rather than replay the days in between.
        person.deactivated_at = bot.clock.now() - timedelta(days=days_ago)
        s.add(person)


def _person(bot: BotHarness, person_id: int) -> Person:
    with bot.db.read() as s:
        return s.get(Person, person_id)


def test_accounts_deactivated_long_ago_are_forgotten_by_the_daily_job_recent_ones_are_not(any_db_url):
    bot = BotHarness(any_db_url).start()
    try:
        _forgetting_scenario(bot)
    finally:
        bot.stop()


def _forgetting_scenario(bot: BotHarness) -> None:
    team = seed_team(bot)
    seed_year(bot, team, 2026)
    _deactivate(bot, "UT2", days_ago=400)  # past PLCBOT_FORGET_DEACTIVATED_DAYS (365)
    _deactivate(bot, "UT3", days_ago=30)
    with bot.db.read() as s:
        answered = s.exec(select(func.count()).select_from(Checkin).where(col(Checkin.answered_at).is_not(None))).one()

    retention_only(bot).tick()

    gone, kept = _person(bot, team.person_ids["UT2"]), _person(bot, team.person_ids["UT3"])
    assert gone.forgotten_at == bot.clock.now() and gone.handle.startswith("forgotten-")
    assert "UT2" not in gone.name and gone.email is None
    assert kept.forgotten_at is None and kept.handle == "UT3"
    with bot.db.read() as s:
        # The team's figures stay: the forgotten teacher's answers still count, without a name.
        assert s.exec(select(func.count()).select_from(Checkin).where(
            col(Checkin.answered_at).is_not(None))).one() == answered
        forgets = s.exec(select(AuditEntry).where(AuditEntry.action == "privacy.forget")).all()
        assert [e.actor_label for e in forgets] == ["retention"]
    [job] = jobs_of(bot, "retention")
    assert job.state == "done" and "forgot 1 deactivated accounts" in job.last_error and "UT2" not in job.last_error
    if bot.db_url.startswith("sqlite"):
        # The job cleaned the old row versions too: on disk, the id is in the one audit entry only.
        path = bot.db_url.removeprefix("sqlite:///")
        wal = Path(path + "-wal").read_bytes() if Path(path + "-wal").exists() else b""
        assert Path(path).read_bytes().count(b"UT2") == 1 and b"UT2" not in wal

    bot.clock.advance(timedelta(days=1))
    bot.tick()  # nobody is forgotten twice; the recent one still waits
    with bot.db.read() as s:
        assert len(s.exec(select(AuditEntry).where(AuditEntry.action == "privacy.forget")).all()) == 1
    assert _person(bot, team.person_ids["UT3"]).forgotten_at is None
    bot.clock.advance(timedelta(days=340))  # 371 days after UT3's deactivation
    bot.tick()
    assert _person(bot, team.person_ids["UT3"]).forgotten_at is not None


def test_a_restored_account_is_not_forgotten(bot):
    team = seed_team(bot)
    _deactivate(bot, "UT2", days_ago=400)
    bot.user("UT2").event({"type": "user_change", "user": {"id": "UT2", "deleted": False, "name": "ut2"}})
    bot.wait_idle()
    retention_only(bot).tick()
    person = _person(bot, team.person_ids["UT2"])
    assert person.active and person.deactivated_at is None and person.forgotten_at is None


def test_forget_days_zero_never_forgets(db_url):
    bot = BotHarness(db_url, env={"PLCBOT_FORGET_DEACTIVATED_DAYS": "0"}).start()
    try:
        team = seed_team(bot)
        _deactivate(bot, "UT2", days_ago=4000)
        retention_only(bot).tick()
        assert _person(bot, team.person_ids["UT2"]).forgotten_at is None
    finally:
        bot.stop()


def test_cli_counts_who_would_be_forgotten_without_naming_them(bot, tmp_path, monkeypatch, capsys, isolated_env):
    team = seed_team(bot)
    _deactivate(bot, "UT2", days_ago=400)
    _deactivate(bot, "UT3", days_ago=30)
    status, out, _ = _cli(bot, tmp_path, monkeypatch, capsys, "privacy", "purge")
    assert status == 0
    assert ("Deactivated accounts (deactivated more than 365 days ago, before 2025-11-30; "
            "PLCBOT_FORGET_DEACTIVATED_DAYS): 1 would be forgotten") in out
    assert "UT2" not in out and "UT3" not in out
    assert _person(bot, team.person_ids["UT2"]).forgotten_at is None  # a dry run

    status, out, _ = _cli(bot, tmp_path, monkeypatch, capsys, "privacy", "purge", "--apply")
    assert status == 0 and "1 forgotten" in out and "UT2" not in out
    assert _person(bot, team.person_ids["UT2"]).forgotten_at is not None
    with bot.db.read() as s:
        [entry] = s.exec(select(AuditEntry).where(AuditEntry.action == "privacy.forget")).all()
    assert entry.actor_label.startswith("cli:")


def test_one_failed_erasure_stops_neither_the_purge_nor_the_others(bot, monkeypatch, caplog):
    """The erasure of one person fails (the database refuses mid-way): that person's transaction
    rolls back whole, the others are forgotten, the purge stands, the job row shows the failure
    (without the id) and the next day's run forgets that person too."""
    import storage.erasure as erasure

    team = seed_four_years(bot)
    for uid in ("UT1", "UT2"):
        _deactivate(bot, uid, days_ago=400)
    real = erasure.forget_person

    def flaky(session, slack_user_id, **kwargs):  # noqa: ANN001, ANN003, ANN202
        report = real(session, slack_user_id, **kwargs)
        if slack_user_id == "UT1":
            raise RuntimeError("connection lost")  # after its statements ran: all of them must roll back
        return report

    monkeypatch.setattr(erasure, "forget_person", flaky)
    retention_only(bot).tick()
    assert _person(bot, team.person_ids["UT1"]).handle == "UT1"  # rolled back whole
    assert _person(bot, team.person_ids["UT1"]).forgotten_at is None
    assert _person(bot, team.person_ids["UT2"]).forgotten_at is not None
    assert all(years_left(bot)[k] == KEPT for k in KINDS)
    [job] = jobs_of(bot, "retention")
    assert job.state == "failed" and "forgot 1 deactivated accounts, 1 failed" in job.last_error
    assert "UT1" not in job.last_error and "UT1" not in caplog.text

    monkeypatch.setattr(erasure, "forget_person", real)
    bot.clock.advance(timedelta(days=1))
    bot.tick()
    assert _person(bot, team.person_ids["UT1"]).forgotten_at is not None


def test_bench_smoke_run_stays_runnable():
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, str(root / "bench" / "retention_bench.py"), "--schools", "2", "--teams",
                             "2", "--teachers", "3", "--weeks", "3"], capture_output=True, text=True, timeout=120,
                            cwd=root)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "rows deleted" in result.stdout and "next day's run" in result.stdout
    assert " 0 rows deleted" in result.stdout.splitlines()[-1]


def test_a_purge_that_fails_half_way_leaves_the_school_untouched(bot):
    """The database fails on the sixth statement of the school's purge (check-ins, rounds and
    feedback already deleted inside the transaction): all of it rolls back, the job row says it
    failed, and the next day's run does the whole purge."""
    from sqlalchemy import event

    seed_four_years(bot)
    before = table_counts(bot)

    def fail_on_attendance(conn, cursor, statement, *args):  # noqa: ANN001, ANN002, ANN202
        if statement.lstrip().upper().startswith("DELETE FROM ATTENDANCE"):
            raise RuntimeError("disk I/O error")

    event.listen(bot.db.engine, "before_cursor_execute", fail_on_attendance)
    try:
        retention_only(bot).tick()
    finally:
        event.remove(bot.db.engine, "before_cursor_execute", fail_on_attendance)
    after = table_counts(bot)
    assert {k: v for k, v in after.items() if k != "ScheduledJob"} == \
        {k: v for k, v in before.items() if k != "ScheduledJob"}
    assert all(years_left(bot)[k] == ALL_YEARS for k in KINDS) and purges(bot) == []
    [job] = jobs_of(bot, "retention")
    assert job.state == "failed" and "disk I/O error" in job.last_error

    bot.clock.advance(timedelta(days=1))
    bot.tick()
    assert all(years_left(bot)[k] == KEPT for k in KINDS) and len(purges(bot)) == 1


KILL_MID_PURGE = """
import os, signal, sys
import storage.retention as r
from bot.cli import main

real, schools = r._run, []

def dying(session, steps, kinds, *, apply):
    counts = real(session, steps, kinds, apply=apply)
    if apply and kinds == r.SCHOOL_KINDS:
        schools.append(counts)
        if len(schools) == 2:  # the second school's deletes are all sent, its commit is not
            session.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    return counts

r._run = dying
sys.exit(main(["--env-file", "/dev/null", "privacy", "purge", "--apply"]))
"""


def test_a_process_killed_mid_purge_leaves_each_school_purged_or_untouched(tmp_path):
    """`kill -9` (the OOM killer, a power cut) after the second school's deletes were sent and
    before its commit: the first school is purged with its audit entry, the second is whole,
    and the next run purges it. No `finally` or rollback runs in a killed process: only the
    transaction per school keeps this true."""
    import importlib.util

    from sqlalchemy import text

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("retention_bench", root / "bench" / "retention_bench.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    url = f"sqlite:///{tmp_path / 'district.db'}"
    bench.build(url, schools=3, teams=1, teachers=2, weeks=2)
    from storage.db import Database

    db = Database(url)
    per_school = text("""SELECT t.school_id, (SELECT count(*) FROM checkin c JOIN checkinround r ON c.round_id = r.id
                                             WHERE r.team_id = t.id),
                                            (SELECT count(*) FROM feedback f WHERE f.team_id = t.id),
                                            (SELECT count(*) FROM attendance a JOIN meeting m ON a.meeting_id = m.id
                                             WHERE m.team_id = t.id)
                         FROM team t ORDER BY t.school_id""")

    def counts() -> dict[int, tuple[int, ...]]:
        with db.engine.connect() as conn:
            return {row[0]: tuple(row[1:]) for row in conn.execute(per_school)}

    def purged_schools() -> list[int]:
        with db.read() as session:
            return sorted(e.school_id or 0 for e in session.exec(
                select(AuditEntry).where(AuditEntry.action == "privacy.purge", col(AuditEntry.school_id).is_not(None))))

    before = counts()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLCBOT_", "SLACK_"))}
    env["DATABASE_URL"] = url
    killed = subprocess.run([sys.executable, "-c", KILL_MID_PURGE], env=env, cwd=root, capture_output=True,
                            text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr[-2000:]
    after = counts()
    first, second, third = sorted(before)
    assert after[first] < before[first] and purged_schools() == [first]  # committed before the kill
    assert after[second] == before[second] and after[third] == before[third]  # sent, never committed

    again = subprocess.run([sys.executable, "-c", "import sys; from bot.cli import main; "
                            "sys.exit(main(['--env-file', '/dev/null', 'privacy', 'purge', '--apply']))"],
                           env=env, cwd=root, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    assert counts() == dict.fromkeys(before, after[first]) and purged_schools() == [first, second, third]
