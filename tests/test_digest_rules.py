"""The digest's rules and its Block Kit, as plain functions: weeks, figures, privacy, limits."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from bot.render import blocks as bk
from bot.render.digest import digest_message, team_text
from storage.rules import digest as rules
from storage.rules.digest import (
    CycleFact,
    IsoWeek,
    MeetingFact,
    RatingTotals,
    RoundFact,
    SupportFact,
    TeamFact,
    WeekError,
)

W47 = IsoWeek(2026, 47)


# ------------------------------------------------------------------------------------ ISO weeks
@pytest.mark.parametrize("text, week", [
    ("2026-W47", IsoWeek(2026, 47)), ("2026w47", IsoWeek(2026, 47)), (" 2026-W01 ", IsoWeek(2026, 1)),
    ("2026-W53", IsoWeek(2026, 53)),  # 2026 starts on a Thursday: it has 53 ISO weeks
])
def test_parse_week_accepts_iso_weeks(text, week):
    assert rules.parse_week(text) == week


@pytest.mark.parametrize("text, message", [
    ("", "is not a week"), ("hello", "is not a week"), ("2026-47", "is not a week"),
    ("2026-W00", "W01 to W52 or W53"), ("2026-W54", "W01 to W52 or W53"), ("2027-W53", "only 52 ISO weeks"),
])
def test_parse_week_says_what_is_wrong(text, message):
    with pytest.raises(WeekError, match=message) as info:
        rules.parse_week(text)
    assert "2026-W47" in str(info.value) or "W0" in str(info.value) or "52" in str(info.value)


def test_week_label_span_and_shift():
    assert W47.label == "2026-W47" and W47.monday == date(2026, 11, 16) and W47.sunday == date(2026, 11, 22)
    assert W47.span() == "Nov 16-22, 2026"
    assert IsoWeek(2026, 49).span() == "Nov 30-Dec 6, 2026"
    assert IsoWeek(2026, 53).shift(1) == IsoWeek(2027, 1)
    assert IsoWeek.of(date(2027, 1, 1)) == IsoWeek(2026, 53)


def test_week_bounds_follow_the_schools_zone_across_daylight_saving():
    start, end = rules.week_bounds(IsoWeek(2026, 44), "America/New_York")  # DST ends Sun Nov 1
    assert start == datetime(2026, 10, 26, 4, 0, tzinfo=UTC)
    assert end == datetime(2026, 11, 2, 5, 0, tzinfo=UTC)


def test_digest_due_and_stale():
    due = rules.digest_due(W47, weekday=0, at="07:00", tz="America/Chicago")
    assert due == datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # Monday 07:00 CST
    assert rules.digest_stale_after(W47, "America/Chicago") == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    assert rules.week_just_past(datetime(2026, 11, 23, 13, 0, tzinfo=UTC), "America/Chicago") == W47
    with pytest.raises(ValueError):
        rules.digest_due(W47, weekday=0, at="7am", tz="UTC")


# ------------------------------------------------------------------------------------ figures
def test_feedback_averages_need_the_minimum_group():
    two = [RatingTotals(1, 10, 2, (9, 8, 7))]
    fig = rules.feedback_figures(two, min_group_size=3)
    assert not fig.shown and fig.withheld == "fewer than 3 answers" and fig.answers == 2
    three = [RatingTotals(1, 10, 3, (12, 9, 15))]
    fig = rules.feedback_figures(three, min_group_size=3)
    assert fig.averages == {"useful": 4.0, "learned": 3.0, "norms": 5.0}
    # The setting can raise the threshold but never lower it below 3.
    assert not rules.feedback_figures(three, min_group_size=5).shown
    assert rules.feedback_figures(three, min_group_size=1).shown


def test_feedback_averages_cannot_be_differenced_to_reveal_a_small_meeting():
    big = RatingTotals(1, 10, 4, (16, 16, 16))
    small = RatingTotals(1, 11, 1, (1, 1, 1))
    fig = rules.feedback_figures([big, small], min_group_size=3)
    # The lone answer is left out: the team figure equals the big meeting's.
    assert fig.answers == 5 and fig.counted == 4 and fig.averages["useful"] == 4.0
    # Two small meetings that together reach the threshold are shown only as a whole.
    fig = rules.feedback_figures([RatingTotals(1, 1, 2, (10, 10, 10)), RatingTotals(1, 2, 1, (2, 2, 2))],
                                 min_group_size=3)
    assert fig.counted == 3 and fig.averages["useful"] == 4.0


def test_checkin_rate_and_change_from_last_week():
    rounds = [
        RoundFact(1, 5, 3, date(2026, 11, 12), asked=10, answered=9),  # W46
        RoundFact(1, 5, 4, date(2026, 11, 19), asked=10, answered=6),  # W47
    ]
    fig = rules.checkin_figures(rounds, W47)
    assert fig.rate == 0.6 and fig.last_rate == 0.9 and round(fig.change, 2) == -0.3
    assert rules.checkin_figures([], W47).rate is None  # nobody asked is not 0%


def test_cycle_latest_point_against_baseline_and_target():
    cycle = CycleFact(1, 5, "Fluency", "wpm", "wpm", 60, 90, date(2026, 10, 26), 8, "active")
    rounds = [RoundFact(1, 5, 3, date(2026, 11, 12), 10, 9, 4, 66.0),
              RoundFact(1, 5, 4, date(2026, 11, 19), 10, 6, 0, None),
              RoundFact(1, 5, 5, date(2026, 11, 26), 10, 6, 3, 99.0)]  # after the week: ignored
    fig = rules.cycle_figures(cycle, rounds, W47)
    assert fig.latest == 66.0 and fig.latest_week == 3 and fig.week == 4
    assert round(fig.progress, 2) == 0.2


def test_attention_lists_what_needs_a_leader_first():
    team = TeamFact(1, "Grade 3", "C1", facilitators=("UFAC",))
    fig = rules.team_figures(
        team, week=W47,
        meetings=[MeetingFact(1, "scheduled", False)],
        feedback=[],
        rounds=[RoundFact(1, 5, 4, date(2026, 11, 19), 10, 3)],
        cycles=[CycleFact(1, 5, "C", "wpm", "", 60, 90, date(2026, 10, 26), 8, "active")],
        support=[SupportFact(1, "Ana", "open"), SupportFact(1, "Ben", "following_up"),
                 SupportFact(1, "Cy", "resolved")],
        min_group_size=3,
    )
    assert fig.waiting == ("Ana",) and fig.following_up == 1
    assert fig.attention[0] == "1 support request waiting for a leader"
    assert "no meeting wrapped up this week" in fig.attention
    assert "only 30% answered the check-in" in fig.attention


def _quiet(name: str, i: int) -> rules.TeamFigures:
    return rules.team_figures(TeamFact(i, name, f"C{i}"), week=W47, meetings=[], feedback=[], rounds=[], cycles=[],
                              support=[], min_group_size=3)


# ------------------------------------------------------------------------------------ the message
def test_message_escapes_user_text_and_names_support_requests():
    team = TeamFact(1, "<!channel> & team", "C1", facilitators=("UFAC",))
    fig = rules.team_figures(team, week=W47, meetings=[MeetingFact(1, "held", True, 4, 1)],
                             feedback=[RatingTotals(1, 9, 3, (12, 12, 12))], rounds=[],
                             cycles=[CycleFact(1, 5, "C", "<b>wpm</b>", "", 60, 90, date(2026, 11, 2), 8, "active")],
                             support=[SupportFact(1, "Dana <@U1>", "open")], min_group_size=3)
    text, blocks = digest_message(school="Lincoln", week=W47, teams=[fig], has_data=True)
    dumped = json.dumps(blocks)
    assert "<!channel>" not in dumped and "&lt;!channel&gt; &amp; team" in dumped
    assert "Dana &lt;@U1&gt;" in dumped and "&lt;b&gt;wpm&lt;/b&gt;" in dumped
    assert "<@UFAC>" in dumped  # the facilitator: a mention the bot made itself
    assert "1 support request waiting" in text
    assert "4/5 present" in team_text(fig) and "useful 4.0" in team_text(fig)


def test_message_stays_one_screen_within_limits_for_a_big_school():
    teams = [_quiet(f"Team {i} " + "x" * 200, i) for i in range(60)]
    teams[0] = rules.team_figures(teams[0].team, week=W47, meetings=[MeetingFact(0, "scheduled", False)],
                                  feedback=[], rounds=[], cycles=[], support=[], min_group_size=3)
    _, blocks = digest_message(school="Big School", week=W47, teams=teams, has_data=True)
    assert len(blocks) <= bk.MESSAGE_BLOCKS_MAX
    assert all(len(b.get("text", {}).get("text", "")) <= bk.SECTION_TEXT_MAX for b in blocks)
    assert len(blocks[0]["text"]["text"]) <= bk.HEADER_MAX
    assert "more teams in the workbook" in json.dumps(blocks)


def test_message_for_a_week_without_data_says_so():
    text, blocks = digest_message(school="Quiet", week=W47, teams=[_quiet("A", 1)], has_data=False)
    assert "no activity recorded" in text
    assert "No PLC activity was recorded" in json.dumps(blocks)


def test_message_when_all_is_well_says_nothing_needs_action():
    team = TeamFact(1, "Grade 3", "C1")
    fig = rules.team_figures(team, week=W47, meetings=[MeetingFact(1, "held", True, 5, 0)], feedback=[],
                             rounds=[RoundFact(1, 5, 2, date(2026, 11, 19), 5, 5)], cycles=[], support=[],
                             min_group_size=3)
    _, blocks = digest_message(school="S", week=W47, teams=[fig], has_data=True)
    assert "Nothing needs your action this week" in json.dumps(blocks)


def test_call_to_action_keeps_its_support_line_with_long_metric_names_on_every_team():
    teams = []
    for i in range(14):
        team = TeamFact(i, f"Team {i} " + "&" * 60, f"C{i}", facilitators=("UFAC1", "UFAC2"))
        teams.append(rules.team_figures(
            team, week=W47, meetings=[MeetingFact(i, "held", False, 3, 3), MeetingFact(i, "scheduled", False)],
            feedback=[], rounds=[RoundFact(i, 5, 4, date(2026, 11, 19), 10, 1)],
            cycles=[CycleFact(i, 5, "C", "<" * 100, "", 60, 90, date(2026, 10, 26), 8, "active")],
            support=[SupportFact(i, "Ana", "open")], min_group_size=3))
    cta = digest_message(school="S", week=W47, teams=teams, has_data=True)[1][2]["text"]["text"]
    assert len(cta) <= bk.SECTION_TEXT_MAX
    assert cta.endswith("ask their facilitator to follow up._")  # not clipped away
