"""Action items through the Slack double: assigned, listed, reminded the school day before, closed."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from sqlmodel import select

from storage.models import ActionItem, Person, ScheduledJob
from tests.seed import seed_team, slack_of

THURSDAY_9AM = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)  # 9:00 AM in New York


def _last_response(bot) -> str:
    bot.wait_idle()
    return json.dumps(bot.double.responses()[-1]) if bot.double.responses() else ""


def _command(bot, user, text, channel):
    bot.user(user).command(text, channel=channel)
    bot.wait_idle()


def _actions(bot):
    with bot.db.read() as session:
        return session.exec(select(ActionItem)).all()


def test_action_assigned_reminded_once_and_closed(bot):
    team = seed_team(bot)
    _command(bot, "UT1", "action <@UT2|ut2> Share the exit tickets by friday", team.channel)
    assert "Action item for <@UT2>, due Fri Dec 4" in _last_response(bot)
    [item] = _actions(bot)
    assert (item.text, item.due_date, item.status, slack_of(bot.db, item.created_by_id)) == (
        "Share the exit tickets", date(2026, 12, 4), "open", "UT1")
    dms = bot.double.messages("UT2")
    assert len(dms) == 1 and "Share the exit tickets" in json.dumps(dms[0]["blocks"])

    bot.tick()
    with bot.db.read() as session:
        job = session.exec(select(ScheduledJob).where(ScheduledJob.kind == "action_reminder")).one()
    assert job.due_at == THURSDAY_9AM  # the school day before, in the morning
    bot.clock.set(THURSDAY_9AM)
    bot.tick()
    bot.tick()
    dms = bot.double.messages("UT2")
    assert len(dms) == 2 and "Reminder" in json.dumps(dms[1]["blocks"])

    # Only the owner (or a facilitator) closes it; a second click changes nothing.
    bot.user("UT3").click(dms[1], "action_done")
    assert "Only the owner" in _last_response(bot)
    assert _actions(bot)[0].status == "open"
    bot.user("UT2").click(dms[1], "action_done")
    bot.wait_idle()
    bot.user("UT2").click(dms[1], "action_done")
    bot.wait_idle()
    [item] = _actions(bot)
    assert item.status == "done" and slack_of(bot.db, item.done_by_id) == "UT2"
    closed = next(m for m in bot.double.messages("UT2") if m["ts"] == dms[1]["ts"])
    assert "Marked done" in json.dumps(closed["blocks"])


def test_bad_action_commands_change_nothing(bot):
    team = seed_team(bot)
    bot.double.add_user("UOUT", name="outsider")
    for text, why in (
        ("action share the tickets by friday", "Start with the owner"),
        ("action @dana share the tickets", "couldn't tell who"),
        ("action <@UT2|ut2> share the tickets by someday", "couldn't read 'someday'"),
        ("action <@UT2|ut2> share the tickets by 2026-02-30", "not a real date"),
        ("action <@UT2|ut2> by friday", "Say what needs doing"),
        ("action <@UOUT|outsider> share the tickets", "not a member of this team"),
        ("action <@UT2|ut2> " + "x" * 301, "under 300"),
    ):
        _command(bot, "UT1", text, team.channel)
        assert why in _last_response(bot), text
    assert _actions(bot) == []
    assert bot.double.messages("UT2") == []


def test_no_reminder_while_the_owner_is_away(bot):
    team = seed_team(bot)
    _command(bot, "UFAC", "action <@UT3|ut3> Bring the data by Dec 4", team.channel)
    with bot.db.session() as session:
        person = session.exec(select(Person).where(Person.handle == "UT3")).one()
        person.away_from, person.away_until = date(2026, 12, 2), date(2026, 12, 3)
    bot.tick()
    bot.clock.set(THURSDAY_9AM)
    bot.tick()
    assert len(bot.double.messages("UT3")) == 1  # the assignment only
    with bot.db.read() as session:
        job = session.exec(select(ScheduledJob).where(ScheduledJob.kind == "action_reminder")).one()
    assert job.state == "done" and job.last_error == "owner away"


def test_open_actions_are_listed_and_carried_onto_the_agenda(bot):
    team = seed_team(bot)
    _command(bot, "UFAC", "action <@UT1|ut1> <!channel> Collect the & quizzes by tomorrow", team.channel)
    _command(bot, "UFAC", "action <@UT2|ut2> Plan the unit", team.channel)
    _command(bot, "UT3", "actions", team.channel)
    listing = _last_response(bot)
    assert "Open action items" in listing and "Plan the unit" in listing and "&lt;!channel&gt;" in listing
    assert "<!channel>" not in listing

    _command(bot, "UFAC", "agenda", team.channel)
    agenda = [m for m in bot.double.messages(team.channel) if "Agenda" in json.dumps(m.get("blocks"))][0]
    text = json.dumps(agenda["blocks"])
    assert "Open action items" in text and "Collect the &amp; quizzes" in text and "Plan the unit" in text

    # Closing one from the /plc actions list updates the list and the posted agenda.
    ephemeral = {**bot.double.ephemerals(team.channel, "UT3")[-1]}
    action_id = str(next(a.id for a in _actions(bot) if a.text == "Plan the unit"))
    bot.user("UT2").click({**ephemeral, "channel": team.channel}, "action_done", value=action_id)
    bot.wait_idle()
    assert next(a for a in _actions(bot) if a.text == "Plan the unit").status == "done"
    agenda = next(m for m in bot.double.messages(team.channel) if m["ts"] == agenda["ts"])
    assert "Plan the unit" not in json.dumps(agenda["blocks"])


def test_home_tab_lists_my_action_items(bot):
    team = seed_team(bot)
    _command(bot, "UFAC", "action <@UT1|ut1> Score the writing samples by Dec 8", team.channel)
    bot.user("UT1").open_home()
    view = bot.double.wait_for(lambda: bot.double.home_view("UT1"))
    assert "Score the writing samples" in json.dumps(view) and "Tue Dec 8" in json.dumps(view)


def test_my_action_items_are_overdue_by_the_teams_date_not_utcs(bot):
    """At 10 PM in New York it is already tomorrow in UTC: an item due today is not overdue yet."""
    team = seed_team(bot)
    _command(bot, "UFAC", "action <@UT1|ut1> Score the writing samples by Dec 2", team.channel)
    bot.clock.set(datetime(2026, 12, 3, 3, 0, tzinfo=UTC))  # Wed Dec 2, 10 PM in New York
    bot.user("UT1").open_home()
    view = json.dumps(bot.double.wait_for(lambda: bot.double.home_view("UT1")))
    assert "Score the writing samples" in view and "overdue" not in view
    _command(bot, "UT1", "actions", "UT1")  # in a DM: my own items
    mine = _last_response(bot)
    assert "Score the writing samples" in mine and "overdue" not in mine

    bot.clock.set(datetime(2026, 12, 3, 14, 0, tzinfo=UTC))  # Thu Dec 3 in New York: now it is overdue
    _command(bot, "UT1", "actions", "UT1")
    assert "overdue" in _last_response(bot)
