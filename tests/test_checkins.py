"""Check-ins through signed requests and the Slack double: clicks, the details modal, support
requests, reminders in school hours, away teachers, unreachable teachers, missed rounds,
`plcbot jobs`, and two schedulers on PostgreSQL."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from bot.cli import main as cli_main
from scheduling import runner
from storage.models import Checkin, Delivery, ScheduledJob, SupportRequest
from tests.cycle_helpers import (
    at,
    checkin_dms,
    checkins,
    deliveries,
    jobs_of,
    make_cycle,
    only_checkins,
    write_lock_held,
)
from tests.harness import BotHarness, checkin_of, handles
from tests.seed import seed_team, slack_of


@pytest.fixture
def bot(bot):  # noqa: ANN001
    """The harness, ticking only the check-in feature (see `only_checkins`)."""
    return only_checkins(bot)

THURSDAY_2PM = datetime(2026, 12, 3, 19, 0, tzinfo=UTC)  # 14:00 New York


def _round(bot, team=None, **cycle):
    team = team or seed_team(bot)
    cycle_id = make_cycle(bot, team.team_id, **cycle)
    at(bot, THURSDAY_2PM)
    bot.tick()
    return team, cycle_id


def _dm(bot, user):
    [message] = checkin_dms(bot, user)
    return message


def _text(message):
    return json.dumps(message["blocks"])


def _mine(bot, user):
    with bot.db.read() as session:
        owners = handles(session)
    return next(c for c in checkins(bot) if owners[c.person_id] == user)


def test_a_click_stores_the_answer_and_shows_it_with_a_way_to_change(bot):
    _round(bot)
    bot.user("UT1").open_home()
    bot.wait_idle()
    assert "Your check-in" in json.dumps(bot.double.home_view("UT1"))  # waiting for an answer
    bot.user("UT1").click(_dm(bot, "UT1"), "checkin_some_progress")
    bot.wait_idle()
    # Answered from the DM: the Home tab is republished without it.
    assert "Your check-in" not in json.dumps(bot.double.home_view("UT1"))
    message = _dm(bot, "UT1")
    assert "You answered: Some progress" in _text(message) and "checkin_change" in _text(message)
    assert _mine(bot, "UT1").progress == "some_progress"
    bot.user("UT1").click(message, "checkin_change")
    bot.wait_idle()
    message = _dm(bot, "UT1")
    assert "checkin_on_track" in _text(message)
    assert _mine(bot, "UT1").progress == "some_progress"  # nothing changes until a new click
    bot.user("UT1").click(message, "checkin_on_track")
    bot.wait_idle()
    assert _mine(bot, "UT1").progress == "on_track"
    assert "You answered: On track" in _text(_dm(bot, "UT1"))


def test_two_clicks_at_once_or_a_retry_store_one_answer(bot):
    _round(bot)
    message = _dm(bot, "UT1")
    threads = [threading.Thread(target=bot.user("UT1").click, args=(message, "checkin_stuck")) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bot.wait_idle()
    with bot.db.read() as session:
        rows = session.exec(select(Checkin).where(checkin_of("UT1"))).all()
        requests = session.exec(select(SupportRequest)).all()
    assert len(rows) == 1 and rows[0].progress == "stuck"
    assert len(requests) == 1


def test_nobody_can_answer_someone_elses_check_in(bot):
    _round(bot)
    bot.user("UT2").click(_dm(bot, "UT1"), "checkin_on_track", channel="UT1")
    bot.wait_idle()
    assert _mine(bot, "UT1").progress is None
    assert "isn't yours" in bot.double.responses()[-1]["text"]


def test_details_modal_checks_the_number_inline_and_stores_details(bot):
    _round(bot)
    bot.user("UT1").click(_dm(bot, "UT1"), "checkin_details")
    modal = bot.double.wait_for(lambda: bot.double.open_views("UT1"))[-1]
    reply = bot.user("UT1").submit(modal, {"progress": {"progress": "on_track"}, "value": {"value": "about ten"}})
    assert "number" in reply.json["errors"]["value"]
    assert _mine(bot, "UT1").answered_at is None
    reply = bot.user("UT1").submit(modal, {"progress": {"progress": "on_track"}, "value": {"value": "72,5"},
                                           "evidence": {"evidence": "Exit tickets <!channel>"}})
    assert not (reply.json or {}).get("errors")
    bot.wait_idle()
    mine = _mine(bot, "UT1")
    assert (mine.progress, mine.value, mine.evidence) == ("on_track", 72.5, "Exit tickets <!channel>")
    text = _text(_dm(bot, "UT1"))
    assert "72.5%" in text and "&lt;!channel&gt;" in text and "<!channel>" not in text


def test_support_request_goes_to_facilitators_at_close_and_follows_its_states(bot):
    team, _ = _round(bot)
    bot.user("UT3").click(_dm(bot, "UT3"), "checkin_stuck")
    bot.wait_idle()
    assert "Teacher UFAC will see it with your name" in _text(_dm(bot, "UT3"))
    # Changing the answer before the close withdraws it; asking again brings it back.
    bot.user("UT3").click(_dm(bot, "UT3"), "checkin_change")
    bot.wait_idle()
    bot.user("UT3").click(_dm(bot, "UT3"), "checkin_on_track")
    bot.wait_idle()
    with bot.db.read() as session:
        assert session.exec(select(SupportRequest)).all() == []
    bot.user("UT3").click(_dm(bot, "UT3"), "checkin_change")
    bot.wait_idle()
    bot.user("UT3").click(_dm(bot, "UT3"), "checkin_details")
    modal = bot.double.wait_for(lambda: bot.double.open_views("UT3"))[-1]
    bot.user("UT3").submit(modal, {"progress": {"progress": "stuck"},
                                   "support": {"support": "Help with <small groups>"}})
    bot.wait_idle()
    assert checkin_dms(bot, "UFAC", prefix="support:") == []
    at(bot, datetime(2026, 12, 7, 12, 0, tzinfo=UTC))  # the window closed over the weekend
    bot.tick()
    [request] = checkin_dms(bot, "UFAC", prefix="support:")
    assert "<@UT3> asked for support" in _text(request) and "&lt;small groups&gt;" in _text(request)
    assert "Teacher UT3" in request["text"]  # the name in the notification
    summary = [m for m in bot.double.messages(team.channel) if "check-in summary" in m["text"]]
    assert "1 support request" in _text(summary[0]) and "UT3" not in _text(summary[0])
    # A member cannot move it; the facilitator can.
    bot.user("UT1").click(request, "support_follow_up", channel="UFAC")
    bot.wait_idle()
    assert ":no_entry:" in bot.double.responses()[-1]["text"]
    bot.user("UFAC").open_home()
    bot.wait_idle()
    assert "week 1)" in json.dumps(bot.double.home_view("UFAC"))  # open, on the facilitator's Home
    bot.user("UFAC").click(request, "support_follow_up")
    bot.wait_idle()
    with bot.db.read() as session:
        row = session.exec(select(SupportRequest)).one()
    assert (row.state, slack_of(bot.db, row.follower_id)) == ("following_up", "UFAC")
    assert "week 1, following up" in json.dumps(bot.double.home_view("UFAC"))  # refreshed by the click
    assert "following up" in _text(_dm(bot, "UT3"))
    request = checkin_dms(bot, "UFAC", prefix="support:")[0]
    bot.user("UFAC").click(request, "support_resolve")
    bot.wait_idle()
    assert "resolved" in _text(_dm(bot, "UT3"))
    assert "None open" in json.dumps(bot.double.home_view("UFAC"))
    assert "Resolved" in _text(checkin_dms(bot, "UFAC", prefix="support:")[0])
    # Closed: answered check-ins show no buttons, and a late click changes nothing.
    assert "checkin_change" not in _text(_dm(bot, "UT3"))
    bot.user("UT1").click(_dm(bot, "UT1"), "checkin_on_track")
    bot.wait_idle()
    assert "has closed" in bot.double.responses()[-1]["text"]
    assert _mine(bot, "UT1").progress is None


def test_a_reminder_due_at_night_waits_for_the_morning(bot):
    team = seed_team(bot)
    make_cycle(bot, team.team_id, at="17:00", reminder_hours=4)
    at(bot, datetime(2026, 12, 3, 22, 0, tzinfo=UTC))  # Thursday 17:00 local
    bot.tick()
    [reminder] = jobs_of(bot, "checkin_reminder")
    assert reminder.due_at == datetime(2026, 12, 4, 12, 0, tzinfo=UTC)  # Friday 07:00 local, not 21:00
    at(bot, datetime(2026, 12, 4, 2, 0, tzinfo=UTC))  # 21:00 local
    bot.tick()
    assert checkin_dms(bot, "UT1", prefix="checkin-reminder:") == []
    at(bot, datetime(2026, 12, 4, 12, 0, tzinfo=UTC))
    bot.tick()
    assert len(checkin_dms(bot, "UT1", prefix="checkin-reminder:")) == 1


def test_work_claimed_at_night_is_held_not_sent(bot):
    """A reminder the bot only gets to at 20:00 (it was down) waits for 07:00."""
    team = seed_team(bot)
    make_cycle(bot, team.team_id)
    at(bot, THURSDAY_2PM)
    bot.tick()
    at(bot, datetime(2026, 12, 5, 1, 0, tzinfo=UTC))  # Friday 20:00 local; the reminder was due at 14:00
    bot.tick()
    assert checkin_dms(bot, "UT1", prefix="checkin-reminder:") == []
    [reminder] = jobs_of(bot, "checkin_reminder")
    assert reminder.state == "pending" and reminder.due_at == datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_away_teacher_is_skipped_and_counted_as_away_then_back(bot):
    team = seed_team(bot)
    make_cycle(bot, team.team_id)
    bot.user("UT2").command("away until 2026-12-04", channel=team.channel)
    reply = bot.double.wait_for(lambda: bot.double.responses())[-1]
    assert "away through *Fri Dec 4*" in reply["text"]
    # The command refreshes the Home tab too: it now offers "I'm back".
    home = bot.double.wait_for(lambda: bot.double.home_view("UT2"))
    assert "away_back" in json.dumps(home) and "Fri Dec 4" in json.dumps(home)
    bot.wait_idle()
    at(bot, THURSDAY_2PM)
    bot.tick()
    assert checkin_dms(bot, "UT2") == []
    assert _mine(bot, "UT2").status == "away"
    at(bot, datetime(2026, 12, 4, 19, 0, tzinfo=UTC))
    bot.tick()
    assert checkin_dms(bot, "UT2", prefix="checkin-reminder:") == []
    at(bot, datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    bot.tick()
    summary = [m for m in bot.double.messages(team.channel) if "check-in summary" in m["text"]][0]
    assert "1 away" in _text(summary) and "of 3 answered" in _text(summary)
    # Home tab: "I'll be away…" when not away; week 2 reaches them again.
    bot.user("UT2").open_home()
    bot.wait_idle()
    assert "away_open" in json.dumps(bot.double.home_view("UT2"))
    at(bot, datetime(2026, 12, 10, 19, 0, tzinfo=UTC))
    bot.tick()
    assert len(checkin_dms(bot, "UT2")) == 1


def test_away_from_the_home_tab_and_back(bot):
    team = seed_team(bot)
    make_cycle(bot, team.team_id)
    bot.user("UT1").open_home()
    home = bot.double.wait_for(lambda: bot.double.home_view("UT1"))
    bot.user("UT1").click(home, "away_open")
    modal = bot.double.wait_for(lambda: bot.double.open_views("UT1"))[-1]
    reply = bot.user("UT1").submit(modal, {"until": {"until": "2026-11-01"}})
    assert "passed" in reply.json["errors"]["until"]
    bot.user("UT1").submit(modal, {"until": {"until": "2026-12-18"}})
    bot.wait_idle()
    home = bot.double.wait_for(lambda: "away_back" in json.dumps(bot.double.home_view("UT1")) and
                               bot.double.home_view("UT1"))
    assert "Fri Dec 18" in json.dumps(home)
    at(bot, THURSDAY_2PM)
    bot.tick()
    assert checkin_dms(bot, "UT1") == []
    bot.user("UT1").click(home, "away_back")
    bot.wait_idle()
    bot.user("UT1").command("back", channel=team.channel)
    bot.double.wait_for(lambda: any("Welcome back" in r.get("text", "") for r in bot.double.responses()))
    at(bot, datetime(2026, 12, 10, 19, 0, tzinfo=UTC))
    bot.tick()
    assert len(checkin_dms(bot, "UT1")) == 1


def test_one_unreachable_teacher_never_stops_the_rest_and_facilitators_are_told(bot):
    team = seed_team(bot, members=("UT1", "UT2", "UT3", "UT4"))
    bot.double.deactivate_user("UT2")
    make_cycle(bot, team.team_id)
    at(bot, THURSDAY_2PM)
    bot.tick()
    assert [len(checkin_dms(bot, u)) for u in ("UFAC", "UT1", "UT3", "UT4")] == [1, 1, 1, 1]
    assert _mine(bot, "UT2").status == "failed" and _mine(bot, "UT2").error == "account_inactive"
    [warning] = checkin_dms(bot, "UFAC", prefix="checkin-failures:")
    assert "account deactivated" in _text(warning) and "<@UT2>" in _text(warning)
    [job] = jobs_of(bot, "checkin_round")[:1]
    assert job.state == "done"


def test_a_round_missed_while_down_runs_the_same_school_day_else_is_skipped(bot):
    team = seed_team(bot)
    make_cycle(bot, team.team_id)
    bot.tick()
    at(bot, datetime(2026, 12, 3, 21, 30, tzinfo=UTC))  # back at 16:30 local the same day
    bot.tick()
    assert len(checkin_dms(bot, "UT1")) == 1
    at(bot, datetime(2026, 12, 11, 13, 0, tzinfo=UTC))  # week 2 (Thu 10th) missed; back on Friday
    bot.tick()
    assert len(checkin_dms(bot, "UT1")) == 1
    week2 = [j for j in jobs_of(bot, "checkin_round") if j.dedupe_key.endswith(":2")][0]
    assert week2.state == "skipped" and "missed" in (week2.last_error or "")


def test_jobs_cli_lists_check_ins_and_reruns_a_failed_round_without_resending(bot, monkeypatch, capsys):
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        team = seed_team(bot)
        make_cycle(bot, team.team_id)
        bot.tick()
        monkeypatch.setenv("DATABASE_URL", bot.db_url)
        monkeypatch.setenv("SLACK_API_URL", bot.double.url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", bot.double.bot_token)
        import bot.cli.jobs as jobs_cli

        real = jobs_cli.services_from

        def with_test_clock(args):  # the operator's process, on the test's clock
            services = real(args)
            services.clock = bot.clock
            return services

        monkeypatch.setattr(jobs_cli, "services_from", with_test_clock)
        assert cli_main(["--env-file", "/dev/null", "jobs"]) == 0
        out = capsys.readouterr().out
        line = next(x for x in out.splitlines() if "check-in " in x)
        assert "Grade 3" in line and "Thu 2026-12-03 14:00 EST" in line
        at(bot, THURSDAY_2PM)
        bot.tick()
        job = jobs_of(bot, "checkin_round")[0]
        with bot.db.session() as session:  # pretend it failed half-way
            row = session.get(ScheduledJob, job.id)
            row.state, row.last_error = "failed", "boom"
            session.add(row)
        assert cli_main(["--env-file", "/dev/null", "jobs", "run", str(job.id)]) == 0
        assert "done" in capsys.readouterr().out
        assert [len(checkin_dms(bot, u)) for u in team.everyone] == [1, 1, 1, 1]
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_two_schedulers_on_postgresql_send_each_teacher_one_check_in(pg_url):
    bot = BotHarness(pg_url).start()
    try:
        members = tuple(f"UT{i:02d}" for i in range(24))
        team = seed_team(bot, members=members)
        make_cycle(bot, team.team_id)
        bot.tick()
        at(bot, THURSDAY_2PM)
        bot.double.slow("chat.postMessage", 0.02)
        errors: list[BaseException] = []

        def tick(name: str) -> None:
            try:
                for _ in range(3):
                    runner.tick(bot.services, bot.runtime.registry, worker=name)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=tick, args=(f"worker-{i}",)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        counts = Counter(len(checkin_dms(bot, u)) for u in team.everyone)
        assert counts == {1: len(team.everyone)}
        rows = deliveries(bot, "checkin:")
        assert len(rows) == len(team.everyone) and {d.state for d in rows} == {"sent"}
        with bot.db.read() as session:
            assert len(session.exec(select(Checkin)).all()) == len(team.everyone)
            assert len(session.exec(select(Delivery)).all()) == len({d.key for d in session.exec(select(Delivery))})
    finally:
        bot.stop()


def test_impossible_numbers_are_refused_inline(bot):
    _round(bot)
    bot.user("UT1").click(_dm(bot, "UT1"), "checkin_details")
    modal = bot.double.wait_for(lambda: bot.double.open_views("UT1"))[-1]
    for value in ("1e400", "nan", "-inf", "12 apples"):
        reply = bot.user("UT1").submit(modal, {"progress": {"progress": "on_track"}, "value": {"value": value}})
        assert "number" in reply.json["errors"]["value"], value
    assert _mine(bot, "UT1").answered_at is None


def test_details_are_acknowledged_before_they_are_written(bot):
    """Checked read-only and acknowledged first: another process holding SQLite's write lock
    never makes Slack wait past 3 s; the details are stored once the lock is free."""
    _round(bot)
    bot.user("UT1").click(_dm(bot, "UT1"), "checkin_details")
    modal = bot.double.wait_for(lambda: bot.double.open_views("UT1"))[-1]
    with write_lock_held(bot):
        reply = bot.user("UT1").submit(modal, {"progress": {"progress": "some_progress"}, "value": {"value": "61"}})
        assert reply.status == 200 and not (reply.json or {}).get("errors")
        assert reply.elapsed < 2.0, reply.elapsed
        assert _mine(bot, "UT1").answered_at is None  # not yet: the write waits for the lock
    bot.wait_idle()
    mine = _mine(bot, "UT1")
    assert (mine.progress, mine.value) == ("some_progress", 61.0)
    assert "You answered: Some progress" in _text(_dm(bot, "UT1"))
    # Someone else's check-in is refused inline, before anything is written.
    reply = bot.user("UT2").submit(modal, {"progress": {"progress": "stuck"}})
    assert "isn't yours" in reply.json["errors"]["progress"]
    assert _mine(bot, "UT1").progress == "some_progress"
    with bot.db.read() as session:
        assert session.exec(select(SupportRequest)).all() == []
