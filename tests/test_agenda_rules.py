"""Agenda, norms and action-item rules and builders, as plain functions."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from bot import slack_text
from bot.render import agenda as render
from bot.slack_double import limits
from scheduling.hours import parse_school_hours
from scheduling.meetings import agenda_post_time
from storage.rules import agenda as rules
from storage.rules.agenda import ActionView, AgendaSnapshot, CycleView, ItemView, MeetingLog, RuleError

MON = date(2026, 11, 30)
NY = "America/New_York"
HOURS = parse_school_hours("Mon-Fri 07:00-18:00")


def test_templates_match_the_field_and_fit_a_meeting():
    assert set(rules.TEMPLATES) == {"kickoff", "data", "student_work", "coplanning", "reflection"}
    data = rules.TEMPLATES["data"]
    titles = [i.title for i in data.items]
    assert titles[:3] == ["Pre-work check", "Just the facts", "Celebrate strengths"]
    assert data.items[1].minutes == 8 and data.items[2].minutes == 5
    assert all(t.minutes <= 45 for t in rules.TEMPLATES.values())
    for name, expected in (("Data Meeting", "data"), ("looking at student work", "student_work"),
                           ("co-planning", "coplanning"), ("cycle reflection", "reflection"), ("KICKOFF", "kickoff")):
        assert rules.find_template(name).name == expected
    with pytest.raises(RuleError, match="Choose one of"):
        rules.find_template("<!channel>")


@pytest.mark.parametrize(("phase", "week", "expected"), [
    (None, None, "kickoff"), ("plan", 1, "kickoff"), ("deliver/engage", 2, "data"),
    ("deliver/engage", 3, "student_work"), ("reflect/adjust", 6, "reflection"),
])
def test_default_template_follows_the_cycle_phase(phase, week, expected):
    assert rules.default_template(phase, week).name == expected


def test_overrun_and_item_checks():
    assert rules.overrun([10, 20, 15], 45) == 0
    assert rules.overrun([10, 20, 25], 45) == 10
    assert rules.check_item("  Look   at data ", None) == ("Look at data", 5, None, "")
    for args, field in ((("", 5), "title"), (("x" * 151, 5), "title"), (("ok", 0), "minutes"),
                        (("ok", 121), "minutes"), (("ok", 5, "ftp://x"), "link"),
                        (("ok", 5, "https://a.b/<!here>"), "link"), (("ok", 5, None, "o" * 201), "outcome")):
        with pytest.raises(RuleError) as err:
            rules.check_item(*args)
        assert err.value.field == field


def test_carry_over_puts_overdue_first():
    actions = [
        ActionView(1, "U1", "later", date(2026, 12, 10)),
        ActionView(2, "U2", "undated", None),
        ActionView(3, "U3", "late", date(2026, 11, 20)),
        ActionView(4, "U4", "closed", date(2026, 11, 1), status="done"),
    ]
    out = rules.carry_over(actions, today=MON)
    assert [a.id for a in out] == [3, 1, 2]
    assert [a.overdue for a in out] == [True, False, False]


def test_parse_action_reads_owner_text_and_date():
    got = slack_text.parse_action("<@UT2|dana> share the exit tickets by Friday", today=MON)
    assert got == rules.ActionRequest("UT2", "share the exit tickets", date(2026, 12, 4))
    assert slack_text.parse_action("<@UT2> read chapter 3", today=MON).due is None
    assert slack_text.parse_action("<@UT2> plan BY 2026-12-03", today=MON).due == date(2026, 12, 3)
    assert slack_text.parse_action("<@UT2> plan by tomorrow", today=MON).due == date(2026, 12, 1)
    for text, why in (("share it", "owner's @mention"), ("@dana share", "couldn't tell who"),
                      ("<@UT2> by friday", "what needs doing"), ("<@UT2> x by 2026-11-02", "has passed"),
                      ("<@UT2> x by soon", "couldn't read")):
        with pytest.raises(RuleError, match=why):
            slack_text.parse_action(text, today=MON)


def test_parse_meeting_add_forms():
    assert rules.parse_meeting_add("Dec 10 15:30 60", today=MON) == rules.MeetingRequest(
        date(2026, 12, 10), rules.time(15, 30), 60)
    assert rules.parse_meeting_add("friday 3:30 pm", today=MON).at == rules.time(15, 30)
    assert rules.parse_meeting_add("2026-12-10 8am 30", today=MON) == rules.MeetingRequest(
        date(2026, 12, 10), rules.time(8, 0), 30)
    assert rules.parse_meeting_add("tomorrow 12am", today=MON).at == rules.time(0, 0)
    for text, why in (("", "date and a time"), ("Dec 10", "date and a time"), ("Dec 10 13pm", "is not a time"),
                      ("Dec 10 15:30 5", "between 10 and 240"), ("blursday 15:30", "couldn't read")):
        with pytest.raises(RuleError, match=why):
            rules.parse_meeting_add(text, today=MON)


def test_schedule_starts_keep_local_time_across_daylight_saving():
    starts = rules.schedule_starts("thu", "15:30", NY, after=datetime(2026, 10, 26, 12, tzinfo=UTC), days=10)
    assert starts == [datetime(2026, 10, 29, 19, 30, tzinfo=UTC), datetime(2026, 11, 5, 20, 30, tzinfo=UTC)]
    assert rules.schedule_starts("", "15:30", NY, after=datetime(2026, 10, 26, tzinfo=UTC), days=8) == []
    assert rules.schedule_starts("mon,wed", None, NY, after=datetime(2026, 10, 26, tzinfo=UTC), days=8) == []


def test_clean_norms_and_their_change_summary():
    assert rules.clean_norms("1. Be on time\n- be on time\n\n•  Listen   fully\n2) Share") == [
        "Be on time", "Listen fully", "Share"]
    with pytest.raises(RuleError, match="at most 12"):
        rules.clean_norms("\n".join(f"n{i}" for i in range(13)))
    with pytest.raises(RuleError, match="Norm 2"):
        rules.clean_norms("ok\n" + "x" * 241)
    assert rules.norms_change_summary(["a", "b"], ["b", "c"]) == "added 1, removed 1"
    assert rules.norms_change_summary(["a", "b"], ["b", "a"]) == "reordered"


def test_title_from_message_flattens_markup():
    text = "<!channel> see <@U1> &amp; <https://x.example|the doc> in <#C1|plc> &lt;3"
    assert slack_text.title_from_message(text, {"U1": "Dana"}) == "@channel see @Dana & the doc in #plc <3"
    assert slack_text.title_from_message("", {}) == "A message from the channel"
    assert len(slack_text.title_from_message("word " * 100)) == rules.ITEM_TITLE_MAX


def test_reminder_day_and_away():
    assert rules.reminder_day(date(2026, 12, 7), HOURS.weekdays) == date(2026, 12, 4)  # Monday -> Friday
    assert rules.reminder_day(date(2026, 12, 4), HOURS.weekdays) == date(2026, 12, 3)
    assert rules.is_away(date(2026, 12, 3), date(2026, 12, 1), date(2026, 12, 3))
    assert not rules.is_away(date(2026, 12, 4), date(2026, 12, 1), date(2026, 12, 3))
    assert not rules.is_away(date(2026, 12, 4), None, None)


def test_agenda_post_time_stays_in_school_hours_and_before_the_meeting():
    now = datetime(2026, 11, 30, 13, tzinfo=UTC)
    thu = datetime(2026, 12, 3, 20, 30, tzinfo=UTC)  # Thu 3:30 PM
    assert agenda_post_time(thu, 24, HOURS, NY, now) == datetime(2026, 12, 2, 20, 30, tzinfo=UTC)
    assert agenda_post_time(thu, 14, HOURS, NY, now) == datetime(2026, 12, 3, 12, 0, tzinfo=UTC)  # 7 AM
    early = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)  # Thu 7:00 AM, agenda due 1:00 AM: post Wed 5:30 PM
    assert agenda_post_time(early, 6, HOURS, NY, now) == datetime(2026, 12, 2, 22, 30, tzinfo=UTC)
    assert agenda_post_time(thu, 24, HOURS, NY, thu) is None
    soon = datetime(2026, 11, 30, 15, tzinfo=UTC)  # within the lead time already: post now
    assert agenda_post_time(soon, 24, HOURS, NY, now) == now


def _snapshot(**over):
    base = dict(meeting_id=7, team_name="Grade <3>", when="Thu Dec 3, 3:30 PM EST", minutes=45, status="scheduled",
                started=False, norms=["<!channel> be kind & on time"],
                cycle=CycleView("Fractions", "80% <b>", "Quiz", 40.0, 80.0, "%", 2, 6, "deliver/engage"),
                items=[ItemView(1, "Data <@U9>", 30, "U1", "https://a.example/x", "Decide")],
                requested=["More <!here> time"], open_actions=[ActionView(3, "U2", "Bring <x>", date(2026, 12, 1))],
                facilitators=["UFAC"])
    base.update(over)
    return AgendaSnapshot(**base)


def test_agenda_message_escapes_everything_users_wrote():
    text, blocks = render.agenda_message(_snapshot())
    raw = json.dumps(blocks, ensure_ascii=False)
    for bad in ("<!channel>", "<!here>", "<@U9>", "<b>", "<x>"):
        assert bad not in raw
    assert "&lt;!channel&gt; be kind &amp; on time" in raw and "80% &lt;b&gt;" in raw
    assert "<@U1>" in raw and "<https://a.example/x|link>" in raw  # the bot's own mentions and links stay
    assert "Week 2 of 6 · deliver/engage" in raw and "baseline 40% → target 80%" in raw
    assert "Requested by teachers" in raw and "Open action items" in raw
    assert "feedback_open" not in raw and "Grade &lt;3&gt;" in text
    started = json.dumps(render.agenda_message(_snapshot(started=True))[1])
    assert '"feedback_open"' in started and '"value": "7"' in started and "agenda_wrapup" in started


def test_agenda_too_long_is_split_and_cut_within_limits():
    items = [ItemView(n, f"{n} " + "&" * 148, 2, "U1", "https://a.example/" + "y" * 400, "o" * 200)
             for n in range(200)]
    many_norms = [f"{n} " + "n" * 230 for n in range(12)]
    _, blocks = render.agenda_message(_snapshot(items=items, norms=many_norms,
                                                open_actions=[ActionView(i, "U2", "a" * 290, None) for i in range(60)]))
    assert len(blocks) <= 50
    assert limits.problems(blocks, surface="message") == []
    raw = json.dumps(blocks)
    assert "more items" in raw and "more open action items" in raw and "400 of 45 minutes" in raw
    assert "355 more than the 45-minute meeting" in raw
    assert blocks[-1]["type"] == "actions"  # the buttons survive the cut


def test_norms_message_and_meeting_log():
    _, blocks = render.norms_message(team_name="G3", team_id=4, norms=["<!everyone>"], version=2, committed=1,
                                     members=3)
    raw = json.dumps(blocks)
    assert "&lt;!everyone&gt;" in raw and '"value": "4:2"' in raw and "1 of 3 members" in raw
    log = MeetingLog("G3", "Thu Dec 3", ["U1", "U2"], ["U3"], [ItemView(1, "Data", 10, notes="62% <!here>")],
                     "Reteach\n<b>", [ActionView(5, "U2", "Draft", date(2026, 12, 7))], "UFAC")
    _, blocks = render.meeting_log_message(log)
    raw = json.dumps(blocks)
    assert "2 of 3" in raw and "Absent: <@U3>" in raw and "&lt;!here&gt;" in raw and "Mon Dec 7" in raw
    assert "<!here>" not in raw and limits.problems(blocks, surface="message") == []


def test_modals_fit_slack():
    items = [ItemView(n, "t" * 150, 5, "U1") for n in range(40)]
    for view in (render.edit_agenda_modal(meeting_id=1, when="x", items=items, timekeeper=None, notetaker="U1"),
                 render.wrapup_modal(meeting_id=1, when="x", members=["U1", "U2"], items=items),
                 render.add_item_modal(meeting_id=1, when="x", owner="U1"),
                 render.norms_edit_modal(team_id=1, norms=["a"] * 12, max_norms=12, max_len=240)):
        assert limits.view_problems(view) == [], view["callback_id"]


def test_rules_take_person_ids_and_words_never_mentions():
    """The Slack front reads its `<@U…>` mentions (bot.slack_text); the rule gets a person id."""
    assert rules.action_request("42", "share it by Friday", today=MON) == rules.ActionRequest(
        "42", "share it", date(2026, 12, 4))
    assert rules.item_title("  two   words ") == "two words"
    assert rules.item_title("") == "A message from the channel"
    assert not hasattr(rules, "parse_action") and not hasattr(rules, "title_from_message")
