"""Feedback rules and builders as plain functions: questions, validation, window, small groups."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.render import feedback as render
from bot.slack_double import limits
from storage.feedback import anonymous_link, legacy_link, link_key
from storage.rules import feedback as rules

T0 = datetime(2026, 12, 1, 20, 30, tzinfo=UTC)
GOOD = {"useful": "4", "learned": "5", "norms": "3", "will_try": "exit tickets", "evidence": "", "next_focus": ""}


def test_every_level_has_a_question_and_every_question_one_level():
    assert {q.level for q in rules.QUESTIONS} == set(rules.LEVELS)
    assert len(rules.QUESTIONS) <= 6  # few questions: seconds, not minutes
    assert all(q.hint == rules.NO_STUDENT_NAMES or q.hint.startswith(rules.NO_STUDENT_NAMES)
               for q in rules.TEXTS)


def test_validate_accepts_a_complete_answer_and_trims():
    answer, errors = rules.validate({**GOOD, "will_try": "  exit tickets \n"}, anonymous=True)
    assert errors == {}
    assert answer is not None
    assert answer.ratings == {"useful": 4, "learned": 5, "norms": 3}
    assert answer.texts["will_try"] == "exit tickets" and answer.anonymous


def test_validate_reports_missing_bad_and_too_long_answers_by_block():
    raw = {**GOOD, "useful": None, "learned": "7", "norms": "x", "next_focus": "y" * 301}
    answer, errors = rules.validate(raw, anonymous=False)
    assert answer is None
    assert set(errors) == {"useful", "learned", "norms", "next_focus"}
    assert "1 to 5" in errors["useful"] and "300" in errors["next_focus"] and "301" in errors["next_focus"]


def test_window_closes_at_next_meeting_or_after_the_team_setting():
    assert rules.window_closes(T0, None, 7) == T0 + timedelta(days=7)
    assert rules.window_closes(T0, T0 + timedelta(days=2), 7) == T0 + timedelta(days=2)
    assert rules.window_closes(T0, T0 + timedelta(days=9), 7) == T0 + timedelta(days=7)
    assert not rules.window_open(T0 - timedelta(seconds=1), T0, T0 + timedelta(days=7))
    assert rules.window_open(T0, T0, T0 + timedelta(days=7))
    assert not rules.window_open(T0 + timedelta(days=7), T0, T0 + timedelta(days=7))


def test_prompt_at_scheduled_end_or_earlier_wrap_up():
    assert rules.prompt_due(T0, 45, None) == T0 + timedelta(minutes=45)
    assert rules.prompt_due(T0, 45, T0 + timedelta(minutes=30)) == T0 + timedelta(minutes=30)
    assert rules.prompt_due(T0, 45, T0 + timedelta(hours=2)) == T0 + timedelta(minutes=45)
    assert rules.prompt_due(T0, 45, T0 - timedelta(hours=1)) == T0  # wrap-up typed early: not before start


def _stored(n: int, *, named: bool = False) -> list[rules.Stored]:
    return [
        rules.Stored({"useful": 1 + i % 5, "learned": 4, "norms": 2},
                     {"will_try": f"idea {i}", "evidence": "", "next_focus": f"topic {i}"},
                     f"U{i}" if named else None)
        for i in range(n)
    ]


def test_small_groups_get_no_figures_and_the_floor_is_three():
    two = rules.summarize(_stored(2), min_group_size=1, seed="m1")
    assert two.threshold == 3 and not two.figures_shown
    assert all(q.average is None and q.distribution == () for q in two.questions)
    assert all(lv.average is None and lv.answered is None for lv in two.levels)
    assert two.withheld == "fewer than 3 answers"
    assert len(two.comments) == 2  # comments still shown, without names
    five = rules.summarize(_stored(4), min_group_size=5, seed="m1")
    assert not five.figures_shown and five.withheld == "fewer than 5 answers"


def test_averages_per_question_and_per_level():
    summary = rules.summarize(_stored(5), min_group_size=3, seed="m1")
    assert summary.figures_shown
    useful = next(q for q in summary.questions if q.key == "useful")
    assert useful.average == 3.0 and useful.distribution == (1, 1, 1, 1, 1)
    levels = {lv.level: lv for lv in summary.levels}
    assert levels[rules.Level.REACTION].average == 3.0
    assert levels[rules.Level.LEARNING].average == 4.0
    assert levels[rules.Level.SUPPORT].average == 2.0
    assert levels[rules.Level.PRACTICE].answered == 5
    assert levels[rules.Level.OUTCOMES].answered == 0
    report = rules.strengths(summary)
    assert rules.Level.LEARNING in report.strong and rules.Level.SUPPORT in report.weak


def test_comment_order_does_not_follow_submission_time():
    items = [f"comment {i}" for i in range(12)]
    shuffled = rules.shuffle(items, seed="meeting:7", key=str)
    assert sorted(shuffled) == sorted(items)
    assert shuffled != items and shuffled != list(reversed(items))
    # Stable for a meeting (a reader sees the same order twice), independent of arrival order.
    assert rules.shuffle(list(reversed(items)), seed="meeting:7", key=str) == shuffled
    assert rules.shuffle(items, seed="meeting:8", key=str) != shuffled


def test_names_hidden_when_the_viewer_may_not_see_them():
    summary = rules.summarize(_stored(3, named=True), min_group_size=3, seed="s", show_names=False)
    assert all(c.name is None for c in summary.comments)


def test_modal_keeps_slack_limits_and_reminds_not_to_name_students():
    view = render.feedback_modal(meeting_id=5, meeting="Grade 3 (Tue Dec 1, 3:30 PM)", closes="Tue Dec 8",
                                 previous={**GOOD, "useful": 4, "anonymous": True, "will_try": "x" * 500})
    assert limits.view_problems(view) == []
    assert view["callback_id"].startswith("feedback")
    assert json.loads(view["private_metadata"]) == {"meeting_id": 5}
    text = json.dumps(view)
    assert text.count("don't name students") == len(rules.TEXTS)
    useful = next(b for b in view["blocks"] if b.get("block_id") == "useful")
    assert useful["element"]["initial_option"]["value"] == "4"
    anon = next(b for b in view["blocks"] if b.get("block_id") == "anonymous")
    assert anon["element"]["initial_options"][0]["value"] == "yes"


def test_prompt_and_results_escape_user_text():
    text, blocks = render.prompt_message(meeting_id=9, meeting="<!channel> & co", closes="Tue")
    assert "<!channel>" not in json.dumps(blocks) and "&lt;!channel&gt; &amp; co" in json.dumps(blocks)
    button = blocks[1]["elements"][0]
    assert button["action_id"] == "feedback_open" and button["value"] == "9"
    answers = [rules.Stored({"useful": 5, "learned": 5, "norms": 5},
                            {"will_try": "<@U999> <!here>", "evidence": "", "next_focus": "a & b"}, None)] * 3
    summary = rules.summarize(answers, min_group_size=3, seed="s")
    text, out = render.results_blocks(meeting="Tue", summary=summary)
    dumped = json.dumps(out)
    assert "<!here>" not in dumped and "&lt;!here&gt;" in dumped and "a &amp; b" in dumped
    assert limits.message_problems(text, out) == []


def test_results_stay_within_slack_limits_with_many_long_comments():
    answers = [rules.Stored({"useful": 3, "learned": 3, "norms": 3},
                            {"will_try": f"{i} " + "w" * 495, "evidence": "e" * 500, "next_focus": "t" * 300},
                            f"U{i}") for i in range(60)]
    text, out = render.results_blocks(meeting="Tue", summary=rules.summarize(answers, min_group_size=3, seed="s"))
    assert limits.message_problems(text, out) == []
    assert len(out) <= 50


def test_link_is_keyed_and_one_way():
    key = link_key("a-long-secret-key-1234", None)
    other = link_key(None, "signing-secret")
    a = anonymous_link(key, meeting_id=1, person_id=7)
    assert len(a) == 64
    assert a == anonymous_link(key, meeting_id=1, person_id=7)
    assert a != anonymous_link(key, meeting_id=2, person_id=7)
    assert a != anonymous_link(key, meeting_id=1, person_id=8)
    assert a != anonymous_link(other, meeting_id=1, person_id=7)
    # The pre-0011 form (from the Slack id) is another value, never equal to the new one.
    assert legacy_link(key, meeting_id=1, user_id="UT1") not in (a, anonymous_link(key, meeting_id=1, person_id=1))
    assert link_key(None, None) == link_key(None, None)  # the in-memory key is stable within a process
