"""Cycle rules and check-in builders as plain functions: no Slack, no database."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.render import cycles as render
from bot.slack_double import message_problems, view_problems
from scheduling.checkins import local_due
from scheduling.hours import parse_school_hours
from storage.rules import cycles as rules
from storage.views.cycles import cycle_status

HOURS = rules.Hours(frozenset(range(5)), time(7), time(18))
TODAY = date(2026, 11, 30)


def _form(**over: str) -> rules.CycleInput:
    base = dict(title="Fractions", goal="Place fractions", strategy="", metric_name="Exit ticket",
                metric_unit="%", baseline="55", target="80", start_date="2026-11-30", weeks="6",
                checkin_weekday="3", checkin_time="14:00", reminder_hours="24")
    return rules.CycleInput(**{**base, **over})


def test_cycle_week_and_phase_keep_their_meaning():
    start = date(2026, 11, 30)
    assert rules.cycle_week(start, 4, date(2026, 11, 29)) is None
    assert [rules.cycle_week(start, 4, date(2026, 11, 30 + d) if d < 1 else date(2026, 12, d))
            for d in (0, 6, 7, 27, 28)] == [1, 1, 2, 4, None]
    assert [rules.phase(w, 4) for w in (1, 2, 3, 4)] == ["plan", "deliver/engage", "deliver/engage",
                                                          "reflect/adjust"]


def test_checkin_day_is_the_weekday_within_each_week():
    start = date(2026, 12, 2)  # a Wednesday
    assert rules.checkin_day(start, 1, 3) == date(2026, 12, 3)
    assert rules.checkin_day(start, 1, 1) == date(2026, 12, 8)  # Tuesday falls in the 7 days from Wed
    assert rules.checkin_day(start, 2, 3) == date(2026, 12, 10)


def test_recipients_skip_inactive_away_paused_and_breaks():
    day = date(2026, 12, 3)
    members = [rules.Member("U1"), rules.Member("U2", active=False),
               rules.Member("U3", away_from=date(2026, 12, 1), away_until=day),
               rules.Member("U4", away_until=date(2026, 12, 2)), rules.Member("U1")]
    found = rules.recipients(members, day=day)
    assert found.asked == ["U1", "U4"] and found.away == ["U3"] and found.skipped_reason is None
    assert rules.recipients(members, day=day, status="paused").skipped_reason == "paused"
    assert rules.recipients(members, day=day, status="paused", paused_until=date(2026, 12, 2)).asked
    winter = rules.Break(date(2026, 12, 1), date(2026, 12, 4), "Winter")
    assert rules.recipients(members, day=day, breaks=[winter]).skipped_reason == "break: Winter"
    assert rules.recipients(members, day=day, status="ended").asked == []


def test_week_point_is_the_mean_with_its_count_and_rates_handle_nobody():
    assert rules.week_point([60, None, 70.0]) == rules.DataPoint(65.0, 2)
    assert rules.week_point([None, float("nan")]) is None
    assert rules.response_rate(0, 0) is None
    assert rules.response_rate(3, 4) == 0.75


def test_round_summary_has_counts_and_no_names():
    answers = [rules.Answer("on_track", 60), rules.Answer("stuck"), rules.Answer(None, 80)]
    s = rules.summarize_round(2, answers, asked=4, away=1, unreachable=1)
    assert (s.answered, s.counts, s.point, s.rate) == (
        2, {"on_track": 1, "some_progress": 0, "stuck": 1}, rules.DataPoint(70.0, 2), 0.5)
    text, blocks = render.round_summary_message(team_name="G3", title="T", metric_name="Score", metric_unit="%",
                                                baseline=50, target=90, summary=s, weeks=6, support_count=1)
    shown = json.dumps(blocks)
    assert "50% (2 of 4 answered), 1 away, 1 couldn't be reached" in shown
    assert "70%, the mean of 2 reported (50% of the way from baseline to target)" in shown
    assert message_problems(text, blocks) == []


@pytest.mark.parametrize(("field", "value", "words"), [
    ("weeks", "3", "4 to 12"), ("weeks", "13", "4 to 12"), ("weeks", "six", "whole number"),
    ("target", "55", "differ"), ("baseline", "", "number"), ("start_date", "2026-02-30", "Pick"),
    ("start_date", "2026-11-01", "past"), ("checkin_time", "06:30", "outside school hours"),
    ("checkin_time", "18:00", "outside school hours"), ("checkin_weekday", "5", "not a school day"),
    ("reminder_hours", "0", "1 to 96"), ("title", "   ", "required"), ("goal", "x" * 1001, "under 1000"),
])
def test_validate_cycle_names_each_bad_field(field, value, words):
    values, errors = rules.validate_cycle(_form(**{field: value}), today=TODAY, hours=HOURS)
    assert values is None and words in errors[field]


def test_validate_cycle_accepts_good_values_and_a_past_start_when_editing():
    values, errors = rules.validate_cycle(_form(baseline="55,5", target="80%"), today=TODAY, hours=HOURS)
    assert errors == {} and values is not None
    assert (values.baseline, values.target, values.weeks, values.checkin_time) == (55.5, 80.0, 6, "14:00")
    _, errors = rules.validate_cycle(_form(start_date="2026-11-02"), today=TODAY, hours=HOURS,
                                     editing_start=date(2026, 11, 2))
    assert errors == {}


def test_breaks_and_away_dates_are_checked():
    assert "on or after" in rules.validate_break(date(2026, 12, 5), date(2026, 12, 1), today=TODAY)
    assert rules.validate_break(date(2026, 12, 21), date(2027, 1, 1), today=TODAY) is None
    assert "passed" in rules.validate_away(date(2026, 11, 1), today=TODAY)


def test_due_times_keep_local_time_across_daylight_saving():
    hours = parse_school_hours("Mon-Fri 07:00-18:00")
    ny = ZoneInfo("America/New_York")
    assert local_due(date(2026, 10, 29), "14:00", ny, hours) == datetime(2026, 10, 29, 18, tzinfo=UTC)
    assert local_due(date(2026, 11, 5), "14:00", ny, hours) == datetime(2026, 11, 5, 19, tzinfo=UTC)
    # Spring forward (Sun Mar 8 2026) in Europe too: Paris moves on Mar 29.
    paris = ZoneInfo("Europe/Paris")
    assert local_due(date(2026, 3, 26), "09:00", paris, hours) == datetime(2026, 3, 26, 8, tzinfo=UTC)
    assert local_due(date(2026, 4, 2), "09:00", paris, hours) == datetime(2026, 4, 2, 7, tzinfo=UTC)
    # A Saturday check-in waits for Monday's opening.
    assert local_due(date(2026, 12, 5), "10:00", ny, hours) == datetime(2026, 12, 7, 12, tzinfo=UTC)


def _card(**over) -> render.CheckinCard:
    base = dict(checkin_id=7, team_name="G3 <team>", title="Frac & tions", goal="<!channel> goal",
                strategy="S" * 5000, metric_name="Score", metric_unit="%", week=2, weeks=6)
    return render.CheckinCard(**{**base, **over})


def test_checkin_message_has_the_four_buttons_escapes_and_fits():
    text, blocks = render.checkin_message(_card())
    shown = json.dumps(blocks)
    labels = [e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert labels == ["On track", "Some progress", "Stuck, I'd like support", "Add details"]
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown and "Frac &amp; tions" in shown
    assert message_problems(text, blocks) == []


def test_answered_message_shows_the_answer_change_and_support_state():
    card = _card(progress="stuck", value=12.0, evidence="<b>", support="coaching", support_state="open",
                 facilitators=("Ana", "Ben"))
    text, blocks = render.checkin_message(card)
    shown = json.dumps(blocks)
    assert "You answered: Stuck" in shown and "12%" in shown and "Change" in shown
    assert "Ana, Ben will see it with your name" in shown and "&lt;b&gt;" in shown
    assert message_problems(text, blocks) == []
    _, closed = render.checkin_message(_card(progress="on_track", closed=True))
    assert "Change" not in json.dumps(closed)


def test_support_message_buttons_follow_the_state():
    card = render.SupportCard(request_id=3, teacher_id="UT1", teacher_name="Tess <x>", team_name="G3", week=2,
                              progress="stuck", evidence=None, support="help", state="open")
    text, blocks = render.support_message(card)
    ids = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert ids == ["support_follow_up", "support_resolve"]
    # The teacher once, as a mention (Slack shows it as their name), never "name (name)".
    shown = json.dumps(blocks)
    assert shown.count("<@UT1>") == 1 and "Tess" not in shown
    assert text.startswith("Tess &lt;x&gt; asked for support")
    _, blocks = render.support_message(render.SupportCard(**{**card.__dict__, "state": "following_up",
                                                             "follower": "UFAC"}))
    assert [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]] == ["support_resolve"]
    _, blocks = render.support_message(render.SupportCard(**{**card.__dict__, "state": "resolved"}))
    assert not [b for b in blocks if b["type"] == "actions"]


def test_modals_pass_slacks_limits():
    class C:
        title, goal, strategy = "T" * 150, "G" * 1000, "S" * 1000
        metric_name, metric_unit, baseline, target = "M" * 100, "U" * 30, 1.0, 2.0
        start_date, weeks, checkin_weekday, checkin_time, reminder_hours = TODAY, 6, 3, "14:00", 24
        status, paused_until = "active", None
    assert view_problems(render.cycle_modal(team_name="G3", hours=HOURS, today=TODAY)) == []
    assert view_problems(render.cycle_modal(team_name="G3", hours=HOURS, today=TODAY, cycle=C())) == []
    assert view_problems(render.details_modal(_card(evidence="e" * 3000, support="s" * 3000))) == []
    assert view_problems(render.reflection_modal(cycle_id=1, title="T", metric_name="M" * 100,
                                                 last_mean=3.5)) == []
    summary = {"weeks": [{"week": w, "state": "closed", "skip_reason": None, "asked": 5, "answered": 4,
                          "away": 1, "unreachable": 0, "counts": {}, "mean": 60.0 + w, "reported": 4}
                         for w in range(1, 13)]}
    text, blocks = render.cycle_status(cycle_status(team_name="G3", cycle=C(), weeks=summary["weeks"], today=TODAY,
                                                    breaks=[rules.Break(TODAY, TODAY, "<x>")]))
    assert message_problems(text, blocks) == [] and "&lt;x&gt;" in json.dumps(blocks)
    C.title = "Fractions <!channel>"  # the notification text is mrkdwn too: no ping from a title
    text, _ = render.cycle_status(cycle_status(team_name="G3", cycle=C(), weeks=[], today=TODAY, breaks=[]))
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text


def test_failures_message_lists_who_and_why():
    text, blocks = render.failures_message(team_name="G3", week=1,
                                           failed=[("UT2", "account_inactive")] + [(f"U{i}", "x") for i in range(50)])
    shown = json.dumps(blocks)
    assert "<@UT2>: account deactivated" in shown and "and 11 more" in shown
    assert message_problems(text, blocks) == []


@given(st.lists(st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e6)), max_size=40))
def test_week_point_is_within_the_reported_values(values):
    point = rules.week_point(values)
    found = [v for v in values if v is not None]
    if not found:
        assert point is None
    else:
        assert point is not None and point.count == len(found)
        assert min(found) - 1e-6 <= point.mean <= max(found) + 1e-6


@given(st.text(max_size=30))
def test_parse_number_never_returns_something_impossible(text):
    try:
        value = rules.parse_number(text)
    except ValueError:
        return
    assert abs(value) < rules.VALUE_LIMIT


# ---------------------------------------------------------------------------- the cycle's status (one builder)
def _status_cycle(**over):
    from storage.models import Cycle

    base = dict(id=1, team_id=1, title="Fractions", goal="Place fractions", strategy="", metric_name="Exit ticket",
                metric_unit="%", baseline=40.0, target=80.0, start_date=date(2026, 11, 30), weeks=6,
                checkin_weekday=3, checkin_time="14:00", status="active", paused_until=None)
    return Cycle(**{**base, **over})


def _week(n, **over):
    return {"week": n, "state": "closed", "skip_reason": None, "asked": 4, "answered": 3, "away": 0,
            "unreachable": 0, "counts": {}, "mean": None, "reported": 0, **over}


def test_status_of_a_paused_cycle_with_a_skipped_week_a_break_ahead_and_this_weeks_rate():
    from storage.views.cycles import WeekRate, WeekRow

    today = date(2026, 12, 16)  # a Wednesday in the cycle's third week
    cycle = _status_cycle(status="paused", paused_until=date(2026, 12, 18))
    weeks = [_week(1, mean=50.0, reported=3),
             _week(2, state="skipped", asked=0, answered=0),  # no reason stored: the pause skipped it
             _week(3, mean=60.0, reported=2, answered=3, asked=4, away=1)]
    breaks = [rules.Break(date(2026, 11, 23), date(2026, 11, 27), "Thanksgiving"),  # over: not shown
              rules.Break(date(2026, 12, 14), date(2026, 12, 16), "Teacher days"),  # ends today: shown
              rules.Break(date(2026, 12, 21), date(2027, 1, 1), "Winter break"),
              rules.Break(date(2027, 2, 15), date(2027, 2, 19), "Mid-winter"),
              rules.Break(date(2027, 4, 5), date(2027, 4, 9), "Spring break"),
              rules.Break(date(2027, 6, 1), date(2027, 6, 2), "Too far to show")]
    c = cycle_status(team_name="G3", cycle=cycle, weeks=weeks, breaks=breaks, today=today).cycle
    assert c is not None
    assert (c.week, c.phase, c.started) == (3, "deliver/engage", True)
    assert (c.paused, c.paused_until) == (True, date(2026, 12, 18))
    assert c.rows == (WeekRow(1, mean=50.0, reported=3, progress=0.25, answered=3, asked=4),
                      WeekRow(2, skip_reason="paused"),
                      WeekRow(3, mean=60.0, reported=2, progress=0.5, answered=3, asked=4))
    assert c.this_week == WeekRate(rate=0.75, answered=3, asked=4, away=1)
    assert [b.label for b in c.breaks] == ["Teacher days", "Winter break", "Mid-winter"]  # the next three
    assert (c.checkin_day, c.checkin_time) == ("Thursday", "14:00")


def test_status_before_after_and_without_a_cycle():

    assert cycle_status(team_name="G3", cycle=None, weeks=[], breaks=[], today=TODAY).cycle is None
    before = cycle_status(team_name="G3", cycle=_status_cycle(), weeks=[], breaks=[], today=date(2026, 11, 27)).cycle
    assert before is not None and (before.week, before.phase, before.started) == (None, None, False)
    # After its six weeks: no current week, so no "this week" even though week 6 has figures.
    after = cycle_status(team_name="G3", cycle=_status_cycle(), weeks=[_week(6, mean=70.0, reported=4)], breaks=[],
                         today=date(2027, 1, 11)).cycle
    assert after is not None and (after.week, after.started, after.this_week) == (None, True, None)
    # A skipped current week has no response rate; a week with nobody asked has none either (not 0%).
    skipped = cycle_status(team_name="G3", cycle=_status_cycle(), weeks=[_week(1, state="skipped",
                                                                               skip_reason="Winter break")],
                           breaks=[], today=date(2026, 12, 1)).cycle
    assert skipped is not None and skipped.this_week is None and skipped.rows[0].skip_reason == "Winter break"
    nobody = cycle_status(team_name="G3", cycle=_status_cycle(baseline=5.0, target=5.0),
                          weeks=[_week(1, asked=0, answered=0, mean=5.0, reported=1)], breaks=[],
                          today=date(2026, 12, 1)).cycle
    assert nobody is not None and nobody.this_week is not None and nobody.this_week.rate is None
    assert nobody.rows[0].progress is None  # baseline == target: no way to measure the way
