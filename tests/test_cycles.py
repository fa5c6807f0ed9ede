"""Learning cycles through signed requests and the Slack double: the form, the status, pause,
resume, end, editing, a whole 4-week cycle with a paused week, breaks and daylight saving."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from bot.cli import main as cli_main
from scheduling import registry
from storage.models import Checkin, CheckinRound, Cycle, CycleReflection, SchoolBreak
from tests.cycle_helpers import (
    GOOD_FORM,
    at,
    checkin_dms,
    checkins,
    cycle_row,
    jobs_of,
    make_cycle,
    only_checkins,
    write_lock_held,
)
from tests.seed import seed_team


@pytest.fixture
def bot(bot):  # noqa: ANN001
    """The harness, ticking only the check-in feature (see `only_checkins`)."""
    return only_checkins(bot)


@pytest.fixture
def keep_logging():
    """The CLI configures the root logger onto pytest's captured stderr: put it back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _open_form(bot, team, user="UFAC", text="cycle start"):
    bot.user(user).command(text, channel=team.channel)
    return bot.double.wait_for(lambda: bot.double.open_views(user))[-1]


def _last_response(bot, n=1):
    return bot.double.wait_for(lambda: len(bot.double.responses()) >= n and bot.double.responses())[-1]


def _cycles(bot):
    with bot.db.read() as session:
        return list(session.exec(select(Cycle)).all())


def test_start_cycle_rejects_bad_values_inline_and_stores_nothing(bot):
    team = seed_team(bot)
    view = _open_form(bot, team)
    bad = {**GOOD_FORM, "weeks": {"weeks": "13"}, "target": {"target": "55"},
           "checkin_time": {"checkin_time": "19:30"}, "baseline": {"baseline": "lots"}}
    reply = bot.user("UFAC").submit(view, bad)
    errors = reply.json["errors"]
    assert reply.json["response_action"] == "errors"
    assert "4 to 12 weeks" in errors["weeks"]
    assert "outside school hours" in errors["checkin_time"]
    assert "number" in errors["baseline"]
    assert _cycles(bot) == []
    # Target equal to baseline is its own error.
    reply = bot.user("UFAC").submit(view, {**GOOD_FORM, "target": {"target": "55"}})
    assert "differ from the baseline" in reply.json["errors"]["target"]
    reply = bot.user("UFAC").submit(view, {**GOOD_FORM, "start_date": {"start_date": "2026-11-01"}})
    assert "past" in reply.json["errors"]["start_date"]
    assert _cycles(bot) == []


def test_start_cycle_with_good_values_announces_and_plans(bot):
    team = seed_team(bot)
    view = _open_form(bot, team)
    reply = bot.user("UFAC").submit(view, GOOD_FORM)
    assert reply.status == 200 and not (reply.json or {}).get("errors")
    bot.wait_idle()
    [cycle] = _cycles(bot)
    assert (cycle.weeks, cycle.baseline, cycle.target, cycle.checkin_weekday) == (4, 55.0, 80.0, 3)
    posts = [m for m in bot.double.messages(team.channel) if "started the learning cycle" in m["text"]]
    assert len(posts) == 1
    rounds = jobs_of(bot, "checkin_round")
    # Thursday 14:00 New York (EST) is 19:00 UTC.
    assert rounds[0].due_at == datetime(2026, 12, 3, 19, 0, tzinfo=UTC)
    # A second start is refused before any modal opens; a double submit stores one cycle.
    bot.user("UFAC").submit(view, GOOD_FORM)
    bot.user("UFAC").command("cycle start", channel=team.channel)
    assert "already has a running cycle" in _last_response(bot)["text"]
    assert len(_cycles(bot)) == 1


def test_members_cannot_start_or_change_a_cycle(bot):
    team = seed_team(bot)
    bot.user("UT1").command("cycle start", channel=team.channel)
    assert "Only this team's facilitators" in _last_response(bot)["text"]
    make_cycle(bot, team.team_id)
    for i, text in enumerate(["cycle pause", "cycle end", "cycle edit"], start=2):
        bot.user("UT1").command(text, channel=team.channel)
        assert ":no_entry:" in _last_response(bot, i)["text"]
    assert _cycles(bot)[0].status == "active"
    assert bot.double.open_views("UT1") == []


def test_a_form_opened_by_a_facilitator_who_lost_the_role_changes_nothing(bot):
    team = seed_team(bot)
    view = _open_form(bot, team)
    from storage.models import Membership
    with bot.db.session() as session:
        for m in session.exec(select(Membership).where(Membership.person_id == team.person_ids["UFAC"])).all():
            m.role = "member"
            session.add(m)
    reply = bot.user("UFAC").submit(view, GOOD_FORM)
    assert reply.json["response_action"] == "errors"
    assert _cycles(bot) == []


def test_status_shows_week_phase_goal_points_and_rate(bot):
    team = seed_team(bot)
    make_cycle(bot, team.team_id)
    at(bot, datetime(2026, 12, 3, 19, 0, tzinfo=UTC))
    bot.tick()
    for user, value in (("UT1", "60"), ("UT2", "70")):
        message = checkin_dms(bot, user)[0]
        bot.user(user).click(message, "checkin_details")
        modal = bot.double.wait_for(lambda u=user: bot.double.open_views(u))[-1]
        bot.user(user).submit(modal, {"progress": {"progress": "on_track"}, "value": {"value": value}})
    bot.wait_idle()
    bot.user("UT3").command("cycle", channel=team.channel)
    body = _last_response(bot)
    text = json.dumps(body["blocks"])
    assert "week 1 of 4" in text and "plan" in text
    assert "Students &lt;b&gt;place&lt;/b&gt; fractions" in text  # escaped user text
    assert "65% (2 reported)" in text  # the mean of 60 and 70, with how many reported
    assert "50% (2 of 4)" in text  # this week's response rate


def test_status_is_for_the_teams_members_only(bot):
    team = seed_team(bot)
    make_cycle(bot, team.team_id)
    bot.double.add_user("UOUT", name="out")
    bot.user("UOUT").command("cycle", channel=team.channel)
    assert "Only members of this team can see its learning cycle." in _last_response(bot)["text"]


def test_pause_until_date_skips_the_week_then_resumes_by_itself(bot):
    team = seed_team(bot)
    cycle_id = make_cycle(bot, team.team_id)
    bot.user("UFAC").command("cycle pause until 2026-12-11", channel=team.channel)
    assert "through Fri Dec 11" in _last_response(bot)["text"]
    assert cycle_row(bot, cycle_id).status == "paused"
    at(bot, datetime(2026, 12, 10, 19, 0, tzinfo=UTC))  # week 2's check-in, paused
    bot.tick()
    assert all(checkin_dms(bot, u) == [] for u in team.everyone)
    with bot.db.read() as session:
        rounds = {r.week: r for r in session.exec(select(CheckinRound)).all()}
    assert rounds[2].state == "skipped" and rounds[2].skip_reason == "paused"
    at(bot, datetime(2026, 12, 14, 13, 0, tzinfo=UTC))  # Monday after: the pause ran out
    bot.tick()
    assert cycle_row(bot, cycle_id).status == "active"


def test_bad_pause_date_is_refused_and_changes_nothing(bot):
    team = seed_team(bot)
    cycle_id = make_cycle(bot, team.team_id)
    bot.user("UFAC").command("cycle pause until someday", channel=team.channel)
    assert "couldn't read" in _last_response(bot)["text"]
    bot.user("UFAC").command("cycle pause until 2026-11-02", channel=team.channel)
    assert "passed" in _last_response(bot, 2)["text"]
    assert cycle_row(bot, cycle_id).status == "active"


def test_edit_reschedules_pending_rounds(bot):
    team = seed_team(bot)
    cycle_id = make_cycle(bot, team.team_id, weeks=6)
    bot.tick()
    view = _open_form(bot, team, text="cycle edit")
    assert view["blocks"][1]["element"]["initial_value"] == "Fractions"
    form = {**GOOD_FORM, "weeks": {"weeks": "4"}, "checkin_weekday": {"checkin_weekday": "1"},
            "checkin_time": {"checkin_time": "09:30"}}
    reply = bot.user("UFAC").submit(view, form)
    assert not (reply.json or {}).get("errors")
    bot.wait_idle()
    cycle = cycle_row(bot, cycle_id)
    assert (cycle.weeks, cycle.checkin_weekday, cycle.checkin_time) == (4, 1, "09:30")
    due = {j.dedupe_key: j.due_at for j in jobs_of(bot, "checkin_round") if j.state == "pending"}
    # Tuesday 09:30 EST = 14:30 UTC.
    assert due[f"checkin_round:{cycle_id}:1"] == datetime(2026, 12, 1, 14, 30, tzinfo=UTC)
    assert len(_cycles(bot)) == 1


def test_daylight_saving_week_keeps_local_time(bot):
    """US clocks fall back on Sun Nov 1 2026: 14:00 local is 18:00 UTC before, 19:00 UTC after."""
    at(bot, datetime(2026, 10, 26, 12, 0, tzinfo=UTC))
    team = seed_team(bot)
    make_cycle(bot, team.team_id, start=date(2026, 10, 26))
    bot.tick()
    due = sorted(j.due_at for j in jobs_of(bot, "checkin_round"))
    assert due[:2] == [datetime(2026, 10, 29, 18, 0, tzinfo=UTC), datetime(2026, 11, 5, 19, 0, tzinfo=UTC)]
    at(bot, datetime(2026, 10, 29, 18, 0, tzinfo=UTC))
    bot.tick()
    assert len(checkin_dms(bot, "UT1")) == 1
    at(bot, datetime(2026, 11, 5, 18, 30, tzinfo=UTC))  # 13:30 EST: not yet
    bot.tick()
    assert len(checkin_dms(bot, "UT1")) == 1
    at(bot, datetime(2026, 11, 5, 19, 0, tzinfo=UTC))
    bot.tick()
    assert len(checkin_dms(bot, "UT1")) == 2


def test_school_break_from_the_cli_skips_check_ins(bot, monkeypatch, capsys, keep_logging):
    team = seed_team(bot)
    make_cycle(bot, team.team_id)
    monkeypatch.setenv("DATABASE_URL", bot.db_url)
    monkeypatch.setenv("SLACK_API_URL", bot.double.url)
    args = ["--env-file", "/dev/null", "calendar", "add-break", "--school", "Lincoln Elementary",
            "2026-12-07", "2026-12-11", "--label", "Testing week"]
    assert cli_main(args) == 0
    assert "Added break" in capsys.readouterr().out
    assert cli_main(args) == 0  # the same break twice stores one
    assert cli_main(["--env-file", "/dev/null", "calendar", "add-break", "--school", "Nowhere High",
                     "2026-12-07", "2026-12-11"]) == 2
    assert cli_main(["--env-file", "/dev/null", "calendar", "add-break", "--school", "Lincoln Elementary",
                     "2026-12-11", "2026-12-07"]) == 2
    assert "end on or after" in capsys.readouterr().err
    with bot.db.read() as session:
        assert len(session.exec(select(SchoolBreak)).all()) == 1
    assert cli_main(["--env-file", "/dev/null", "calendar", "list"]) == 0
    assert "Testing week" in capsys.readouterr().out
    at(bot, datetime(2026, 12, 10, 19, 0, tzinfo=UTC))
    bot.tick()
    assert all(checkin_dms(bot, u) == [] for u in team.everyone)
    with bot.db.read() as session:
        [skipped] = session.exec(select(CheckinRound).where(CheckinRound.week == 2)).all()
    assert skipped.state == "skipped" and "Testing week" in (skipped.skip_reason or "")


def test_principal_adds_a_break_in_slack_a_facilitator_cannot(bot):
    team = seed_team(bot)
    bot.user("UFAC").command("break add 2026-12-21 2027-01-01 Winter", channel=team.channel)
    assert ":no_entry:" in _last_response(bot)["text"]
    bot.user("UPRIN").command("break add 2026-12-21 2027-01-01 Winter", channel=team.channel)
    assert "Added" in _last_response(bot, 2)["text"]
    bot.user("UT1").command("break", channel=team.channel)
    assert "Winter" in _last_response(bot, 3)["text"]


def test_a_whole_four_week_cycle(bot):
    """Kickoff, check-ins, answers, a reminder, a paused week, the summary, the reflection.

    With every feature's planners and kinds, as `plcbot run` has them: digests, agenda posts
    and feedback prompts fall due on the same days and never get in the way."""
    bot.runtime.registry = registry.load()
    team = seed_team(bot)
    view = _open_form(bot, team)
    bot.user("UFAC").submit(view, GOOD_FORM)
    bot.wait_idle()
    [cycle] = _cycles(bot)
    bot.tick()

    # Week 1, Thursday 14:00 local: everyone gets one check-in.
    at(bot, datetime(2026, 12, 3, 19, 0, tzinfo=UTC))
    bot.tick()
    assert [len(checkin_dms(bot, u)) for u in team.everyone] == [1, 1, 1, 1]
    bot.user("UT1").click(checkin_dms(bot, "UT1")[0], "checkin_on_track")
    bot.user("UT2").click(checkin_dms(bot, "UT2")[0], "checkin_stuck")
    bot.wait_idle()

    # Friday 14:00: one reminder, to those who have not answered.
    at(bot, datetime(2026, 12, 4, 19, 0, tzinfo=UTC))
    bot.tick()
    reminded = [u for u in team.everyone if checkin_dms(bot, u, prefix="checkin-reminder:")]
    assert reminded == ["UFAC", "UT3"]
    bot.tick()
    assert len(checkin_dms(bot, "UT3", prefix="checkin-reminder:")) == 1

    # The window closes Saturday: held to Monday 07:00 local, then the summary, no names.
    at(bot, datetime(2026, 12, 5, 19, 0, tzinfo=UTC))
    bot.tick()
    assert not [m for m in bot.double.messages(team.channel) if "check-in summary" in m["text"]]
    at(bot, datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    bot.tick()
    [summary] = [m for m in bot.double.messages(team.channel) if "check-in summary" in m["text"]]
    text = json.dumps(summary["blocks"])
    assert "50%" in text and "2 of 4" in text
    assert not any(u in text for u in ("UT1", "UT2", "UT3", "Teacher"))
    # UT2 asked for support: the facilitator got it with the name.
    [request] = checkin_dms(bot, "UFAC", prefix="support:")
    assert "Teacher UT2" in request["text"] and "<@UT2> asked for support" in json.dumps(request["blocks"])

    # Week 2 paused.
    bot.user("UFAC").command("cycle pause", channel=team.channel)
    bot.double.wait_for(lambda: bot.double.responses())
    at(bot, datetime(2026, 12, 10, 19, 0, tzinfo=UTC))
    bot.tick()
    assert len(checkin_dms(bot, "UT1")) == 1
    bot.user("UFAC").command("cycle resume", channel=team.channel)
    bot.double.wait_for(lambda: len(bot.double.responses()) >= 2)
    bot.wait_idle()

    # Weeks 3 and 4.
    for day in (17, 24):
        at(bot, datetime(2026, 12, day, 19, 0, tzinfo=UTC))
        bot.tick()
        at(bot, datetime(2026, 12, day, 20, 0, tzinfo=UTC))
        bot.tick()
    assert len(checkin_dms(bot, "UT1")) == 3

    # The reflection form in the last week closes the cycle and keeps its summary.
    prompt = [m for m in bot.double.messages(team.channel) if "Time to reflect" in m["text"]]
    assert len(prompt) == 1
    bot.user("UT1").click(prompt[0], "cycle_reflect_open")
    bot.wait_idle()
    assert bot.double.open_views("UT1") == []
    bot.user("UFAC").click(prompt[0], "cycle_reflect_open")
    modal = bot.double.wait_for(lambda: bot.double.open_views("UFAC"))[-1]
    reply = bot.user("UFAC").submit(modal, {"target_reached": {"target_reached": "partly"},
                                            "final_value": {"final_value": "72"},
                                            "learned": {"learned": "Warm-ups <work>"}})
    assert not (reply.json or {}).get("errors")
    bot.wait_idle()
    assert cycle_row(bot, cycle.id).status == "ended"
    with bot.db.read() as session:
        reflection = session.exec(select(CycleReflection)).one()
        rounds = session.exec(select(CheckinRound).order_by(CheckinRound.week)).all()
        answers = session.exec(select(Checkin)).all()
    kept = json.loads(reflection.summary)
    assert [w["week"] for w in kept["weeks"]] == [1, 2, 3, 4]
    assert kept["weeks"][1]["state"] == "skipped"
    assert reflection.final_value == 72.0 and reflection.target_reached == "partly"
    assert [r.state for r in rounds][1] == "skipped"
    assert len(answers) == 12  # 4 teachers × 3 weeks that ran: one check-in each
    closed = [m for m in bot.double.messages(team.channel) if "closed the cycle" in json.dumps(m["blocks"])]
    assert len(closed) == 1 and "&lt;work&gt;" in json.dumps(closed[0]["blocks"])
    # Nothing more is sent for an ended cycle.
    at(bot, datetime(2026, 12, 31, 19, 0, tzinfo=UTC))
    bot.tick()
    assert len(checkin_dms(bot, "UT1")) == 3


def test_end_keeps_the_summary_and_cancels_future_check_ins(bot):
    team = seed_team(bot)
    cycle_id = make_cycle(bot, team.team_id)
    bot.tick()
    bot.user("UFAC").command("cycle end", channel=team.channel)
    assert "Ended" in _last_response(bot)["text"]
    bot.wait_idle()
    assert cycle_row(bot, cycle_id).status == "ended"
    assert all(j.state == "skipped" for j in jobs_of(bot, "checkin_round"))
    at(bot, datetime(2026, 12, 3, 19, 0, tzinfo=UTC))
    bot.tick()
    assert checkin_dms(bot, "UT1") == []
    assert checkins(bot) == []
    at(bot, bot.clock.now() + timedelta(days=1))


class _Statements:
    """Counts the SQL statements the engine runs while active (reads and writes apart)."""

    def __init__(self, engine) -> None:
        self.engine, self.seen = engine, []

    def _on(self, conn, cursor, statement, params, context, executemany) -> None:  # noqa: ANN001
        words = statement.split()
        self.seen.append(" ".join(words[:2]).upper() if words[0].upper() == "BEGIN" else words[0].upper())

    def __enter__(self):
        from sqlalchemy import event
        event.listen(self.engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc) -> None:
        from sqlalchemy import event
        event.remove(self.engine, "before_cursor_execute", self._on)

    @property
    def writes(self) -> list[str]:
        return [s for s in self.seen if s in ("INSERT", "UPDATE", "DELETE")]

    @property
    def queries(self) -> int:
        return sum(1 for s in self.seen if s in ("SELECT", "INSERT", "UPDATE", "DELETE"))


def test_planner_reads_in_bulk_and_writes_only_what_changed(bot):
    """The check-in planner runs every tick (20 s): with nothing to change it writes nothing
    (no write transaction at all), and 20 teams cost the same statements as one."""
    from scheduling import checkins as planner

    first = seed_team(bot, members=("UT1",))
    make_cycle(bot, first.team_id)
    at(bot, datetime(2026, 12, 3, 19, 0, tzinfo=UTC))  # a round is open: reminders and closes are planned too
    bot.tick()
    with _Statements(bot.db.engine) as one:
        planner.plan(bot.services, bot.clock.now())
    assert one.writes == [] and "BEGIN IMMEDIATE" not in one.seen  # not even SQLite's write lock
    assert one.queries <= 4, one.seen

    for i in range(19):
        team = seed_team(bot, school_id=first.school_id, team=f"Team {i}", channel=f"CT{i:02d}",
                         facilitators=(f"UF{i:02d}",), members=(), principals=())
        make_cycle(bot, team.team_id, by=f"UF{i:02d}")
    planner.plan(bot.services, bot.clock.now())  # the new cycles' rows, once
    with _Statements(bot.db.engine) as twenty:
        planner.plan(bot.services, bot.clock.now())
    assert twenty.writes == [] and twenty.queries == one.queries, (one.seen, twenty.seen)

    # What did change is written, and only that: an edit moves this cycle's pending round and
    # its reflection (two rows), nothing else.
    with bot.db.session() as session:
        cycle = session.get(Cycle, 1)
        cycle.checkin_time = "15:00"
        session.add(cycle)
    with _Statements(bot.db.engine) as edited:
        planner.plan(bot.services, bot.clock.now())
    assert edited.writes == ["UPDATE", "UPDATE"], edited.seen
    due = {j.dedupe_key: j.due_at for j in jobs_of(bot, "checkin_round") + jobs_of(bot, "cycle_reflection")}
    assert due["checkin_round:1:2"] == datetime(2026, 12, 10, 20, 0, tzinfo=UTC)  # Thu 15:00 EST
    assert due["cycle_reflection:1"] == datetime(2026, 12, 24, 21, 0, tzinfo=UTC)  # an hour after week 4's
    assert due["checkin_round:2:2"] == datetime(2026, 12, 10, 19, 0, tzinfo=UTC)  # another team's: unmoved


def test_cycle_form_and_reflection_acknowledge_before_they_write(bot):
    """Validated read-only and acknowledged first, written after (the role checked again inside
    the write): another process holding SQLite's write lock never makes Slack wait past 3 s."""
    team = seed_team(bot)
    view = _open_form(bot, team)
    with write_lock_held(bot):
        reply = bot.user("UFAC").submit(view, GOOD_FORM)
        assert reply.status == 200 and not (reply.json or {}).get("errors")
        assert reply.elapsed < 2.0, reply.elapsed
        assert _cycles(bot) == []  # the write waits for the lock, after the ack
    bot.wait_idle()
    [cycle] = _cycles(bot)
    # The team sees the new cycle on their Home tabs without reopening them.
    assert "Fractions on a number line" in json.dumps(bot.double.home_view("UT1"))
    reply = bot.user("UFAC").submit(view, GOOD_FORM)  # the same form again: refused inline
    assert "already has a running cycle" in reply.json["errors"]["title"]
    assert len(_cycles(bot)) == 1

    at(bot, datetime(2026, 12, 24, 21, 0, tzinfo=UTC))  # the last week: the reflection prompt
    bot.tick()
    [prompt] = [m for m in bot.double.messages(team.channel) if "Time to reflect" in m["text"]]
    bot.user("UFAC").click(prompt, "cycle_reflect_open")
    modal = bot.double.wait_for(lambda: bot.double.open_views("UFAC"))[-1]
    answers = {"target_reached": {"target_reached": "yes"}, "learned": {"learned": "Warm-ups work"}}
    # A member replaying the facilitator's form is refused, and nothing is stored.
    reply = bot.user("UT1").submit(modal, answers)
    assert reply.json["response_action"] == "errors"
    assert cycle_row(bot, cycle.id).status == "active"
    with write_lock_held(bot):
        reply = bot.user("UFAC").submit(modal, answers)
        assert reply.status == 200 and not (reply.json or {}).get("errors")
        assert reply.elapsed < 2.0, reply.elapsed
        assert cycle_row(bot, cycle.id).status == "active"
    bot.wait_idle()
    assert cycle_row(bot, cycle.id).status == "ended"
    with bot.db.read() as session:
        assert session.exec(select(CycleReflection)).one().target_reached == "yes"
