"""Meeting feedback through the Slack double: the prompt, the modal, one answer per person,
anonymous answers that become unlinkable when the window closes, and small-group-safe results."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from handlers.feedback import link_key
from storage.feedback import anonymous_link, requested_topics
from storage.models import Delivery, Meeting
from storage.models.feedback import Feedback
from tests.seed import seed_team

# Tuesday Dec 1 2026, 3:30 PM in New York (school hours Mon-Fri 07:00-18:00 local).
MEETING_AT = datetime(2026, 12, 1, 20, 30, tzinfo=UTC)
FULL = {
    "useful": {"value": "4"},
    "learned": {"value": "5"},
    "norms": {"value": "3"},
    "will_try": {"value": "Exit tickets on fractions"},
    "evidence": {"value": "Six samples of the unit 4 task"},
    "next_focus": {"value": "Grouping for reteaching"},
}


def add_meeting(bot, team_id: int, starts_at: datetime = MEETING_AT, **fields) -> int:
    with bot.db.session() as session:
        fields.setdefault("source", "one_off")  # not from the schedule, which other planners tidy
        meeting = Meeting(team_id=team_id, starts_at=starts_at, **fields)
        session.add(meeting)
        session.flush()
        assert meeting.id is not None
        return meeting.id


def answers(bot, meeting_id: int) -> list[Feedback]:
    with bot.db.read() as session:
        return list(session.exec(select(Feedback).where(Feedback.meeting_id == meeting_id)).all())


def prompts(bot, channel: str) -> list[dict]:
    """The feedback prompts in a channel (agendas and other features post there too)."""
    return [m for m in bot.double.messages(channel) if "How was today's meeting?" in m.get("text", "")]


def open_via_command(bot, user_id: str, channel: str) -> dict:
    before = len(bot.double.open_views(user_id))
    bot.user(user_id).command("feedback", channel=channel)
    views = bot.double.open_views
    opened = bot.double.wait_for(lambda: len(views(user_id)) > before and views(user_id))
    return opened[-1]


def last_response(bot) -> dict:
    bot.wait_idle()
    return bot.double.wait_for(lambda: bot.double.responses())[-1]


def started(bot, team_id: int, *, after: timedelta = timedelta(minutes=50)) -> int:
    """A meeting that started `after` ago, with the clock moved there."""
    meeting_id = add_meeting(bot, team_id)
    bot.clock.set(MEETING_AT + after)
    return meeting_id


def test_prompt_is_posted_once_at_the_scheduled_end_and_opens_the_form(bot):
    team = seed_team(bot, meeting_weekdays="")  # meetings added by hand only
    meeting_id = add_meeting(bot, team.team_id, minutes=45)
    bot.clock.set(MEETING_AT + timedelta(minutes=44))
    bot.tick()
    assert prompts(bot, team.channel) == []
    bot.clock.set(MEETING_AT + timedelta(minutes=45))
    bot.tick()
    bot.tick()
    posts = prompts(bot, team.channel)
    assert len(posts) == 1
    assert "How was today's meeting?" in posts[0]["text"]
    with bot.db.read() as session:
        delivery = session.exec(select(Delivery).where(Delivery.key == f"feedback_prompt:{meeting_id}")).one()
        assert delivery.state == "sent"
    bot.user("UT1").click(posts[0], "feedback_open", channel=team.channel)
    view = bot.double.wait_for(lambda: bot.double.open_views("UT1"))[-1]
    assert view["callback_id"] == "feedback_submit"
    assert json.loads(view["private_metadata"]) == {"meeting_id": meeting_id}
    # Many more ticks later: still one prompt.
    bot.clock.advance(timedelta(hours=3))
    bot.tick()
    assert len(prompts(bot, team.channel)) == 1


def test_prompt_comes_at_an_earlier_wrap_up_and_waits_for_school_hours(bot):
    team = seed_team(bot, meeting_weekdays="")  # meetings added by hand only
    wrapped = add_meeting(bot, team.team_id, minutes=60, held_at=MEETING_AT + timedelta(minutes=20))
    # 5:30 PM local, 60 minutes: ends after school closes (6 PM) -> next morning 7 AM local.
    late = add_meeting(bot, team.team_id, starts_at=datetime(2026, 12, 2, 22, 30, tzinfo=UTC), minutes=60)
    bot.clock.set(MEETING_AT + timedelta(minutes=20))
    bot.tick()
    assert len(prompts(bot, team.channel)) == 1
    bot.clock.set(datetime(2026, 12, 2, 23, 45, tzinfo=UTC))  # 6:45 PM local
    bot.tick()
    assert len(prompts(bot, team.channel)) == 1
    bot.clock.set(datetime(2026, 12, 3, 12, 0, tzinfo=UTC))  # 7:00 AM local
    bot.tick()
    posts = prompts(bot, team.channel)
    assert len(posts) == 2
    values = [p["blocks"][1]["elements"][0]["value"] for p in posts]
    assert values == [str(wrapped), str(late)]


def test_cancelled_meeting_gets_no_prompt(bot):
    team = seed_team(bot, meeting_weekdays="")  # meetings added by hand only
    add_meeting(bot, team.team_id, status="cancelled")
    bot.clock.set(MEETING_AT + timedelta(hours=1))
    bot.tick()
    assert prompts(bot, team.channel) == []


def test_a_complete_answer_is_stored_once_with_the_day_only(bot):
    team = seed_team(bot, meeting_weekdays="")  # meetings added by hand only
    meeting_id = started(bot, team.team_id)
    view = open_via_command(bot, "UT1", team.channel)
    reply = bot.user("UT1").submit(view, FULL)
    assert reply.json["response_action"] == "update"
    assert "Thank you" in json.dumps(reply.json["view"])
    [row] = answers(bot, meeting_id)
    assert row.person_id == team.person_ids["UT1"] and row.link is None and not row.anonymous
    assert (row.useful, row.learned, row.norms) == (4, 5, 3)
    assert row.will_try == "Exit tickets on fractions"
    assert row.answered_on.isoformat() == "2026-12-01"
    with bot.db.read() as session:
        assert requested_topics(session, team_id=team.team_id) == ["Grouping for reteaching"]


def test_missing_and_over_long_answers_get_inline_errors_and_store_nothing(bot):
    team = seed_team(bot, meeting_weekdays="")  # meetings added by hand only
    meeting_id = started(bot, team.team_id)
    view = open_via_command(bot, "UT1", team.channel)
    missing = {k: v for k, v in FULL.items() if k != "useful"}
    reply = bot.user("UT1").submit(view, missing)
    assert reply.json["response_action"] == "errors"
    assert set(reply.json["errors"]) == {"useful"}
    too_long = {**FULL, "will_try": {"value": "x" * 501}}
    reply = bot.user("UT1").submit(view, too_long)
    assert reply.json["response_action"] == "errors"
    assert "500" in reply.json["errors"]["will_try"]
    assert answers(bot, meeting_id) == []
    assert bot.double.open_views("UT1")  # the form stays open for the fix


def test_reopening_shows_the_previous_answer_and_submitting_replaces_it(bot):
    team = seed_team(bot, meeting_weekdays="")  # meetings added by hand only
    meeting_id = started(bot, team.team_id)
    bot.user("UT1").submit(open_via_command(bot, "UT1", team.channel), FULL)
    again = open_via_command(bot, "UT1", team.channel)
    blocks = {b.get("block_id"): b for b in again["blocks"]}
    assert blocks["useful"]["element"]["initial_option"]["value"] == "4"
    assert blocks["will_try"]["element"]["initial_value"] == "Exit tickets on fractions"
    assert "replaces it" in json.dumps(again)
    # Only the changed answer is touched, as in Slack; the rest comes from the pre-filled form.
    bot.user("UT1").submit(again, {"useful": {"value": "2"}, "will_try": {"value": "Number talks"}})
    [row] = answers(bot, meeting_id)
    assert (row.useful, row.learned, row.will_try) == (2, 5, "Number talks")


def test_two_parallel_submissions_store_one_answer(bot):
    team = seed_team(bot, meeting_weekdays="")  # meetings added by hand only
    meeting_id = started(bot, team.team_id)
    for anonymous in (False, True):
        view = open_via_command(bot, "UT2", team.channel)
        values = {**FULL, "anonymous": {"value": ["yes"] if anonymous else []}}
        barrier = threading.Barrier(2)
        replies = []

        def go(values=values, view=view, barrier=barrier, replies=replies) -> None:
            barrier.wait()
            replies.append(bot.user("UT2").submit(view, values))

        threads = [threading.Thread(target=go) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [r.status for r in replies] == [200, 200]
        rows = answers(bot, meeting_id)
        assert len(rows) == 1 and rows[0].anonymous is anonymous


def test_anonymous_answer_changes_in_the_window_and_is_unlinkable_after(bot, caplog):
    caplog.set_level(logging.INFO)
    team = seed_team(bot, meeting_weekdays="")  # meetings added by hand only
    meeting_id = started(bot, team.team_id)
    person_id = team.person_ids["UT1"]
    secret = anonymous_link(link_key(bot.services), meeting_id=meeting_id, person_id=person_id)

    bot.tick()  # plans the prompt and the window's close
    view = open_via_command(bot, "UT1", team.channel)
    bot.user("UT1").submit(view, {**FULL, "anonymous": {"value": ["yes"]}})
    [row] = answers(bot, meeting_id)
    assert row.anonymous and row.person_id is None and row.link == secret
    assert row.answered_on.isoformat() == "2026-12-01"

    # Next day, still open: the form shows their anonymous answer, and a change replaces it.
    bot.clock.advance(timedelta(days=1))
    again = open_via_command(bot, "UT1", team.channel)
    blocks = {b.get("block_id"): b for b in again["blocks"]}
    assert blocks["anonymous"]["element"]["initial_options"][0]["value"] == "yes"
    assert blocks["norms"]["element"]["initial_option"]["value"] == "3"
    bot.user("UT1").submit(again, {"norms": {"value": "5"}, "next_focus": {"value": "Math talks"}})
    [row] = answers(bot, meeting_id)
    assert row.anonymous and row.norms == 5 and row.person_id is None
    assert row.answered_on.isoformat() == "2026-12-02"
    # Someone else's form does not show it.
    other = open_via_command(bot, "UT2", team.channel)
    assert "initial_option" not in json.dumps(other)

    # The window closes after 7 days; the close job deletes the link.
    bot.clock.set(MEETING_AT + timedelta(days=7, minutes=1))
    bot.tick()
    bot.clock.advance(timedelta(minutes=15))
    bot.tick()  # the follow-up sweep
    [row] = answers(bot, meeting_id)
    assert row.link is None and row.person_id is None and row.norms == 5

    # Nobody can show or change it any more.
    bot.user("UT1").command("feedback", channel=team.channel)
    assert "closed" in last_response(bot)["text"]

    # Search every text column of every table for the person, and for the keyed link.
    path = Path(bot.db.url.removeprefix("sqlite:///"))
    bot.runtime.shutdown()  # release every connection, so the file is complete on disk
    conn = sqlite3.connect(path)
    found = []
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    for table in tables:
        columns = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
        for _, column, kind, *_ in columns:
            for (value,) in conn.execute(f'SELECT "{column}" FROM "{table}"'):
                if isinstance(value, str) and ("UT1" in value or secret in value):
                    found.append((table, column, value))
    assert {table for table, _, _ in found} == {"person"}  # the roster itself, nothing else
    linked = conn.execute("SELECT count(*) FROM feedback WHERE person_id = ?", (person_id,)).fetchone()[0]
    assert linked == 0
    conn.close()
    raw = path.read_bytes() + (path.with_name(path.name + "-wal").read_bytes()
                               if path.with_name(path.name + "-wal").exists() else b"")
    assert secret.encode() not in raw

    lines = [r.getMessage() for r in caplog.records]
    assert any("feedback_submit" in line for line in lines)  # the log was captured
    assert not [line for line in lines if "UT1" in line or secret in line]


def test_two_answers_show_no_averages(bot):
    team = seed_team(bot, meeting_weekdays="")  # meetings added by hand only
    started(bot, team.team_id)
    bot.user("UT1").submit(open_via_command(bot, "UT1", team.channel), FULL)
    bot.user("UT2").submit(open_via_command(bot, "UT2", team.channel),
                           {**FULL, "anonymous": {"value": ["yes"]}, "will_try": {"value": "Think-pair-share"}})
    bot.user("UFAC").command("feedback results", channel=team.channel)
    body = last_response(bot)
    text = json.dumps(body["blocks"])
    assert body["response_type"] == "ephemeral"
    assert "2 answers" in text and "fewer than 3 answers" in text
    assert "/ 5" not in text
    assert "Think-pair-share" in text and "Exit tickets on fractions" in text
    bot.user("UFAC").command("feedback results 2026-12-01", channel=team.channel)
    assert "2 answers" in json.dumps(last_response(bot)["blocks"])
    bot.user("UFAC").command("feedback results someday", channel=team.channel)
    assert "couldn't read" in last_response(bot)["text"]
    bot.user("UFAC").command("feedback results 2026-12-02", channel=team.channel)
    assert "No meeting of this team took place on Wed Dec 2" in last_response(bot)["text"]


def test_results_for_a_facilitator_and_refused_to_a_teacher(bot):
    team = seed_team(bot, meeting_weekdays="")  # meetings added by hand only
    started(bot, team.team_id)
    bot.user("UT1").submit(open_via_command(bot, "UT1", team.channel), FULL)
    bot.user("UT2").submit(open_via_command(bot, "UT2", team.channel),
                           {**FULL, "useful": {"value": "2"}, "anonymous": {"value": ["yes"]},
                            "will_try": {"value": "<!channel> anonymous idea"}})
    bot.user("UT3").submit(open_via_command(bot, "UT3", team.channel),
                           {**FULL, "useful": {"value": "3"}, "next_focus": {"value": "Writing rubrics"}})

    bot.user("UT1").command("feedback results", channel=team.channel)
    refused = last_response(bot)
    assert "Only this team's facilitators" in refused["text"]

    bot.user("UFAC").command("feedback results", channel=team.channel)
    body = last_response(bot)
    text = json.dumps(body["blocks"], ensure_ascii=False)
    assert "3 answers" in text and "(1 anonymous)" in text
    assert "3.0 / 5" in text  # useful: 4, 2, 3
    assert "Reaction" in text and "Use of new practice" in text and "3 of 3 answered" in text
    assert "&lt;!channel&gt; anonymous idea" in text and "<!channel>" not in text
    lines = [line for block in body["blocks"] for line in block.get("text", {}).get("text", "").split("\n")]
    anonymous_line = next(line for line in lines if "anonymous idea" in line)
    assert "<@" not in anonymous_line
    assert "Exit tickets on fractions — <@UT1>" in text
    assert "Writing rubrics" in text and "Grouping for reteaching" in text

    # A principal sees the figures, but names only if the team opted in.
    bot.user("UPRIN").command("feedback results", channel=team.channel)
    assert "<@UT1>" not in json.dumps(last_response(bot)["blocks"])


def test_who_may_answer_and_when(bot):
    team = seed_team(bot, meeting_weekdays="")  # meetings added by hand only
    bot.double.add_user("UOUT", name="out")
    meeting_id = add_meeting(bot, team.team_id)
    bot.user("UT1").command("feedback", channel=team.channel)
    assert "No meeting of this team has started" in last_response(bot)["text"]

    bot.clock.set(MEETING_AT + timedelta(hours=1))
    bot.tick()
    prompt = prompts(bot, team.channel)[-1]
    bot.user("UOUT").click(prompt, "feedback_open", channel=team.channel)
    assert "Only members of this team" in last_response(bot)["text"]
    assert not bot.double.open_views("UOUT")

    bot.user("UT1").command("feedback now", channel=team.channel)
    assert "/plc feedback results" in last_response(bot)["text"]

    # The next meeting closes this window; the old button then says so.
    add_meeting(bot, team.team_id, starts_at=MEETING_AT + timedelta(days=2))
    bot.clock.set(MEETING_AT + timedelta(days=2, minutes=5))
    bot.user("UT1").click(prompt, "feedback_open", channel=team.channel)
    assert "closed" in last_response(bot)["text"]
    view = open_via_command(bot, "UT1", team.channel)  # the latest meeting now
    assert json.loads(view["private_metadata"])["meeting_id"] != meeting_id


def test_a_window_that_closes_while_the_form_is_open_saves_nothing(bot):
    team = seed_team(bot, meeting_weekdays="")  # meetings added by hand only
    meeting_id = started(bot, team.team_id)
    view = open_via_command(bot, "UT1", team.channel)
    bot.clock.advance(timedelta(days=8))
    reply = bot.user("UT1").submit(view, FULL)
    assert reply.json["response_action"] == "update"
    assert "not saved" in json.dumps(reply.json["view"])
    assert answers(bot, meeting_id) == []


def test_parallel_saves_keep_one_answer_on_every_database(any_db_url):
    """The storage upsert itself, on SQLite and PostgreSQL: racing saves meet the unique keys."""
    from datetime import date

    from storage import migrate
    from storage.clock import FakeClock
    from storage.db import Database
    from storage.feedback import save_answer
    from storage.models import Person, School, Team
    from storage.rules.feedback import Answer

    db = Database(any_db_url, clock=FakeClock(MEETING_AT - timedelta(days=1)))
    migrate.upgrade(db)
    with db.session() as session:
        school = School(name="S", timezone="America/New_York")
        session.add(school)
        session.flush()
        team = Team(school_id=school.id, name="T", channel_id="CT", timezone="America/New_York")
        person = Person(handle="UX")
        session.add_all([team, person])
        session.flush()
        meeting = Meeting(team_id=team.id, starts_at=MEETING_AT)
        session.add(meeting)
        session.flush()
        ids = (meeting.id, person.id)
    for anonymous in (False, True, False):
        answer = Answer({"useful": 3, "learned": 3, "norms": 3}, {"will_try": "x"}, anonymous)
        barrier = threading.Barrier(4)
        errors: list[BaseException] = []

        def go(answer=answer, barrier=barrier, errors=errors) -> None:
            try:
                barrier.wait()
                with db.session() as session:
                    m = session.get(Meeting, ids[0])
                    save_answer(session, meeting=m, person_id=ids[1], link="L" * 64, answer=answer,
                                today=date(2026, 12, 1))
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=go) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with db.read() as session:
            rows = session.exec(select(Feedback)).all()
            assert len(rows) == 1 and rows[0].anonymous is anonymous
            assert (rows[0].person_id is None) is anonymous
    db.dispose()


def test_an_outsider_submitting_a_members_form_stores_nothing(bot):
    """A view_submission can be replayed by anyone: membership is checked again on submit."""
    team = seed_team(bot, meeting_weekdays="")  # meetings added by hand only
    bot.double.add_user("UOUT", name="out")
    meeting_id = started(bot, team.team_id)
    view = open_via_command(bot, "UT1", team.channel)
    reply = bot.user("UOUT").submit(view, {**FULL, "anonymous": {"value": ["yes"]}})
    assert reply.json["response_action"] == "update" and "not saved" in json.dumps(reply.json["view"])
    assert answers(bot, meeting_id) == []


def test_the_prompt_escapes_the_meeting_title_in_its_notification_text():
    from bot.render.feedback import prompt_message

    text, blocks = prompt_message(meeting_id=1, meeting="<!channel> & co", closes="Tue")
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp; co" in text
    assert "<!channel>" not in json.dumps(blocks)
