"""Agendas and meetings through the Slack double: templates, items from members and the shortcut,
re-posting without a copy, overruns, automatic posting, cancelling, the wrap-up and its log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from bot.slack_double import limits
from storage.models import ActionItem, AgendaItem, Attendance, Meeting, ScheduledJob, Team
from tests.seed import seed_team, slack_of

THURSDAY_MEETING = datetime(2026, 12, 3, 20, 30, tzinfo=UTC)  # Thu Dec 3, 3:30 PM in New York


def _modal(bot, user_id, callback_id):
    return bot.double.wait_for(
        lambda: next((v for v in reversed(bot.double.open_views(user_id)) if v["callback_id"] == callback_id), None)
    )


def _last_response(bot) -> str:
    bot.wait_idle()
    return json.dumps(bot.double.responses()[-1]) if bot.double.responses() else ""


def _agendas(bot, channel):
    return [m for m in bot.double.messages(channel)
            if m.get("bot_id") and not m.get("thread_ts") and "Agenda" in json.dumps(m.get("blocks"))]


def _command(bot, user, text, channel):
    bot.user(user).command(text, channel=channel)
    bot.wait_idle()


def _items(bot):
    with bot.db.read() as session:
        return session.exec(select(AgendaItem).order_by(AgendaItem.position)).all()


def test_agenda_from_a_template_is_updated_not_posted_twice(bot):
    team = seed_team(bot)
    _command(bot, "UFAC", "agenda template data meeting", team.channel)
    agendas = _agendas(bot, team.channel)
    assert len(agendas) == 1
    text = json.dumps(agendas[0]["blocks"])
    for expected in ("Thu Dec 3, 3:30 PM EST", "Just the facts", "Celebrate strengths", "Data meeting template",
                     "Our norms", "Cycle goal", "Add an item", "Edit agenda"):
        assert expected in text, expected
    assert "Give feedback" not in text and "Wrap up" not in text  # the meeting has not started
    assert "Posted the agenda" in _last_response(bot)

    _command(bot, "UFAC", "agenda", team.channel)
    assert len(_agendas(bot, team.channel)) == 1
    assert bot.double.calls_to("chat.update")
    reply = _last_response(bot)
    assert "already posted" in reply and "slack.com/archives/CGRADE3" in reply
    with bot.db.read() as session:
        meeting = session.exec(select(Meeting)).first()
        assert meeting.agenda_ts == agendas[0]["ts"] and meeting.template == "data"

    # Without a name the template follows the cycle's phase (no cycle: kickoff); member items stay.
    _command(bot, "UFAC", "agenda template", team.channel)
    assert [i.title for i in _items(bot)][0] == "Review our norms"
    _command(bot, "UFAC", "agenda template gossip", team.channel)
    assert "no agenda template called" in _last_response(bot)


def test_members_add_items_and_see_the_agenda_but_cannot_post_or_edit(bot):
    team = seed_team(bot)
    _command(bot, "UFAC", "agenda", team.channel)
    agenda = _agendas(bot, team.channel)[0]
    assert len(_items(bot)) == 5  # an empty agenda is filled from the cycle's template (kickoff)

    bot.user("UT1").click(agenda, "agenda_add_item")
    bot.wait_idle()
    view = _modal(bot, "UT1", "agenda_item_add")
    bad = bot.user("UT1").submit(view, {"title": {"value": "Reading data"}, "minutes": {"value": "500"}})
    assert "between 1 and 120" in bad.json["errors"]["minutes"]
    bad = bot.user("UT1").submit(view, {"title": {"value": "Reading data"}, "link": {"value": "javascript:x"}})
    assert "http" in bad.json["errors"]["link"]
    assert len(_items(bot)) == 5
    ok = bot.user("UT1").submit(view, {"title": {"value": "Reading data"}, "minutes": {"value": "10"},
                                       "owner": {"value": "UT1"}, "link": {"value": "https://docs.example/reading"}})
    assert not (ok.json or {}).get("errors")
    bot.wait_idle()
    item = _items(bot)[-1]
    assert (item.title, item.minutes, slack_of(bot.db, item.owner_id), slack_of(bot.db, item.added_by_id)) == (
        "Reading data", 10, "UT1", "UT1")
    updated = next(m for m in bot.double.messages(team.channel) if m["ts"] == agenda["ts"])
    assert "Reading data" in json.dumps(updated["blocks"]) and "https://docs.example/reading" in json.dumps(updated)

    bot.user("UT2").click(updated, "agenda_edit")
    assert "Only this team's facilitators" in _last_response(bot)
    _command(bot, "UT2", "agenda", team.channel)
    assert "is posted" in _last_response(bot)
    assert len(_agendas(bot, team.channel)) == 1


def test_facilitator_edits_items_and_roles(bot):
    team = seed_team(bot)
    _command(bot, "UFAC", "agenda template reflection", team.channel)
    agenda = _agendas(bot, team.channel)[0]
    bot.user("UFAC").click(agenda, "agenda_edit")
    bot.wait_idle()
    view = _modal(bot, "UFAC", "agenda_edit")
    first, second = _items(bot)[:2]
    bad = bot.user("UFAC").submit(view, {f"m{first.id}": {"value": "0"}})
    assert "between 1 and 120" in bad.json["errors"][f"m{first.id}"]
    bot.user("UFAC").submit(view, {
        f"t{first.id}": {"value": "Did we reach 80%?"}, f"m{first.id}": {"value": "12"},
        f"o{first.id}": {"value": "UT2"}, f"t{second.id}": {"value": ""},
        "timekeeper": {"value": "UT1"}, "notetaker": {"value": "UT3"},
    })
    bot.wait_idle()
    titles = [i.title for i in _items(bot)]
    assert titles[0] == "Did we reach 80%?" and second.title not in titles
    text = json.dumps(next(m for m in bot.double.messages(team.channel) if m["ts"] == agenda["ts"])["blocks"])
    assert "Timekeeper <@UT1>" in text and "Note-taker <@UT3>" in text and "<@UT2>" in text


def test_shortcut_adds_a_linked_item_once_and_cannot_ping(bot):
    team = seed_team(bot)
    message = bot.double.add_message(team.channel, user="UT2", text="<!channel> can we talk about <@UT1> & fractions?")
    bot.user("UT3").shortcut("add_to_agenda", message, channel=team.channel)
    bot.wait_idle()
    assert "Added" in _last_response(bot)
    bot.user("UT3").shortcut("add_to_agenda", message, channel=team.channel)
    assert "already on the agenda" in _last_response(bot)
    shortcut_items = [i for i in _items(bot) if i.source == "shortcut"]
    assert len(shortcut_items) == 1
    item = shortcut_items[0]
    assert item.title == "@channel can we talk about @Teacher UT1 & fractions?"
    assert item.link.startswith("https://") and item.link.endswith(message["ts"].replace(".", ""))

    _command(bot, "UFAC", "agenda", team.channel)
    raw = json.dumps(_agendas(bot, team.channel)[0])
    assert "<!channel>" not in raw and "fractions" in raw and "&amp; fractions" in raw

    bot.double.add_channel("COTHER", name="other", members=["UT3"])
    elsewhere = bot.double.add_message("COTHER", user="UT3", text="hello")
    bot.user("UT3").shortcut("add_to_agenda", elsewhere, channel="COTHER")
    assert "team's channel" in _last_response(bot)


def test_an_overrunning_agenda_warns(bot):
    team = seed_team(bot)
    _command(bot, "UFAC", "agenda template data", team.channel)  # 45 of 45 minutes
    assert "more than the" not in json.dumps(_agendas(bot, team.channel)[0]["blocks"])
    message = bot.double.add_message(team.channel, user="UT1", text="Extra topic")
    bot.user("UT1").shortcut("add_to_agenda", message, channel=team.channel)
    bot.wait_idle()
    text = json.dumps(_agendas(bot, team.channel)[0]["blocks"])
    assert "The items add up to 50 minutes, 5 more than the 45-minute meeting" in text


def test_an_agenda_too_long_for_one_message_stays_within_slacks_limits(bot):
    team = seed_team(bot)
    _command(bot, "UFAC", "agenda template data", team.channel)
    with bot.db.session() as session:
        meeting = session.exec(select(Meeting)).first()
        for n in range(34):
            session.add(AgendaItem(meeting_id=meeting.id, position=10 + n, title=f"{n} " + "&<>" * 49, minutes=3,
                                   owner="UT1", link="https://docs.example/" + "x" * 450, outcome="o" * 200))
    _command(bot, "UFAC", "agenda", team.channel)
    agenda = _agendas(bot, team.channel)[0]
    assert limits.problems(agenda["blocks"], surface="message") == []
    assert len(agenda["blocks"]) <= 50
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in agenda["blocks"])
    assert "33 " in json.dumps(agenda["blocks"])  # split over sections, not cut


def test_agenda_is_posted_automatically_once_within_school_hours(bot):
    team = seed_team(bot)
    with bot.db.session() as session:
        row = session.get(Team, team.team_id)
        row.agenda_lead_hours = 14  # 3:30 PM minus 14 h is 1:30 AM: too early for school
    bot.tick()
    with bot.db.read() as session:
        job = session.exec(select(ScheduledJob).where(ScheduledJob.kind == "agenda_post")).first()
    assert job.due_at == datetime(2026, 12, 3, 12, 0, tzinfo=UTC)  # 7:00 AM, when school opens
    bot.clock.set(job.due_at - timedelta(minutes=1))
    bot.tick()
    assert _agendas(bot, team.channel) == []
    bot.clock.set(job.due_at)
    bot.tick()
    bot.tick()
    agendas = _agendas(bot, team.channel)
    assert len(agendas) == 1
    assert len([i for i in _items(bot)]) == 5  # filled from the template before posting
    # A facilitator's /plc agenda now updates it.
    _command(bot, "UFAC", "agenda", team.channel)
    assert len(_agendas(bot, team.channel)) == 1

    # At the start the agenda gains the feedback and wrap-up buttons.
    bot.clock.set(THURSDAY_MEETING)
    bot.tick()
    text = json.dumps(next(m for m in bot.double.messages(team.channel) if m["ts"] == agendas[0]["ts"])["blocks"])
    assert "feedback_open" in text and "agenda_wrapup" in text


def test_meetings_added_and_cancelled_move_and_drop_their_posts(bot):
    team = seed_team(bot)
    _command(bot, "UT1", "meeting cancel", team.channel)
    assert "Only this team's facilitators" in _last_response(bot)
    _command(bot, "UFAC", "meeting cancel someday", team.channel)
    assert "couldn't read" in _last_response(bot)
    for bad, why in (("meeting add", "date and a time"), ("meeting add Dec 10 25:00", "is not a time"),
                     ("meeting add someday 15:00", "couldn't read"), ("meeting add Nov 2 2026 15:00", "has passed"),
                     ("meeting add Dec 10 15:00 500", "between 10 and 240")):
        _command(bot, "UFAC", bad, team.channel)
        assert why in _last_response(bot), bad
    with bot.db.read() as session:
        assert session.exec(select(Meeting).where(Meeting.source == "one_off")).all() == []

    _command(bot, "UFAC", "meeting add Dec 8 3:45 pm 60", team.channel)
    assert "Added a 60-minute meeting on Tue Dec 8, 3:45 PM EST" in _last_response(bot)
    _command(bot, "UFAC", "meeting add Dec 8 15:45", team.channel)
    assert "already a meeting" in _last_response(bot)
    bot.tick()
    with bot.db.read() as session:
        jobs = {j.dedupe_key: j for j in session.exec(select(ScheduledJob)).all()}
        thursday = session.exec(select(Meeting).where(Meeting.starts_at == THURSDAY_MEETING)).one()
    assert f"agenda_post:{thursday.id}" in jobs

    _command(bot, "UFAC", "meeting cancel thursday", team.channel)
    assert "Cancelled the meeting on Thu Dec 3" in _last_response(bot)
    bot.clock.set(THURSDAY_MEETING - timedelta(hours=23))
    bot.tick()
    assert _agendas(bot, team.channel) == []
    with bot.db.read() as session:
        job = session.exec(select(ScheduledJob).where(ScheduledJob.dedupe_key == f"agenda_post:{thursday.id}")).one()
        assert job.state == "skipped"
        assert session.get(Meeting, thursday.id).status == "cancelled"  # the planner does not bring it back
    _command(bot, "UFAC", "meeting list", team.channel)
    listing = _last_response(bot)
    assert "Tue Dec 8, 3:45 PM" in listing and "Thu Dec 3" not in listing


def test_wrap_up_records_attendance_and_posts_the_log_in_the_thread(bot):
    team = seed_team(bot)
    _command(bot, "UFAC", "agenda template data", team.channel)
    _command(bot, "UFAC", "wrapup", team.channel)
    assert "once a meeting has started" in _last_response(bot)

    bot.clock.set(THURSDAY_MEETING + timedelta(minutes=40))
    bot.tick()
    agenda = next(m for m in bot.double.messages(team.channel) if m["ts"] == _agendas(bot, team.channel)[0]["ts"])
    bot.user("UT1").click(agenda, "agenda_wrapup")
    assert "Only this team's facilitators" in _last_response(bot)
    bot.user("UFAC").click(agenda, "agenda_wrapup")
    bot.wait_idle()
    view = _modal(bot, "UFAC", "meeting_wrapup")
    present = next(b for b in view["blocks"] if b["block_id"] == "present")
    assert set(present["element"]["initial_users"]) == {"UFAC", "UT1", "UT2", "UT3"}
    first = _items(bot)[1]
    values = {
        "present": {"value": ["UFAC", "UT1", "UT2"]},
        f"n{first.id}": {"value": "Fractions: 62% <!here> proficient"},
        "decisions": {"value": "Reteach unit fractions"},
        "a1_owner": {"value": "UT2"}, "a1_text": {"value": "Draft the exit ticket"}, "a1_due": {"value": "2026-12-07"},
        "a2_text": {"value": "No owner here"},
    }
    bad = bot.user("UFAC").submit(view, values)
    assert "Choose who owns" in bad.json["errors"]["a2_owner"]
    values.pop("a2_text")
    bot.user("UFAC").submit(view, values)
    bot.user("UFAC").submit(view, values)  # a double submit: one log, one action item
    bot.wait_idle()

    thread = bot.double.thread(team.channel, agenda["ts"])
    logs = [m for m in thread if "Meeting log" in json.dumps(m.get("blocks"))]
    assert len(logs) == 1 and logs[0]["thread_ts"] == agenda["ts"]
    log_text = json.dumps(logs[0]["blocks"])
    for expected in ("3 of 4", "Absent: <@UT3>", "Reteach unit fractions", "Draft the exit ticket", "Mon Dec 7",
                     "&lt;!here&gt;"):
        assert expected in log_text, expected
    assert "<!here>" not in log_text
    with bot.db.read() as session:
        meeting = session.exec(select(Meeting).where(Meeting.starts_at == THURSDAY_MEETING)).one()
        assert meeting.status == "held" and meeting.held_at is not None
        attendance = session.exec(select(Attendance)).all()
        assert sorted(a.present for a in attendance) == [False, True, True, True]
        assert len(session.exec(select(ActionItem)).all()) == 1
    dm = bot.double.messages("UT2")
    assert len(dm) == 1 and "Draft the exit ticket" in json.dumps(dm[0]["blocks"])
    final = json.dumps(next(m for m in bot.double.messages(team.channel) if m["ts"] == agenda["ts"])["blocks"])
    assert "Held" in final and "agenda_wrapup" not in final and "feedback_open" in final


def test_a_deleted_agenda_is_posted_again(bot):
    team = seed_team(bot)
    _command(bot, "UFAC", "agenda", team.channel)
    first = _agendas(bot, team.channel)[0]
    bot.services.slack.chat_delete(channel=team.channel, ts=first["ts"])
    _command(bot, "UFAC", "agenda", team.channel)
    agendas = _agendas(bot, team.channel)
    assert len(agendas) == 1 and agendas[0]["ts"] != first["ts"]
    assert "Posted the agenda" in _last_response(bot)
    with bot.db.read() as session:
        assert session.exec(select(Meeting).where(Meeting.starts_at == THURSDAY_MEETING)).one().agenda_ts \
            == agendas[0]["ts"]


# ----------------------------------------------------------------------------- review: forgery, idempotency, dates
def test_members_and_outsiders_replaying_facilitator_modals_change_nothing(bot):
    """Role checks hold on view submissions: a member (or an outsider) submitting a facilitator's
    agenda editor, wrap-up or an add-item modal is refused, and nothing is stored."""
    team = seed_team(bot)
    bot.double.add_user("UOUT", name="outsider")
    _command(bot, "UFAC", "agenda template data", team.channel)
    agenda = _agendas(bot, team.channel)[0]
    before = [(i.id, i.title, i.minutes) for i in _items(bot)]

    bot.user("UFAC").click(agenda, "agenda_edit")
    bot.wait_idle()
    editor = _modal(bot, "UFAC", "agenda_edit")
    first = _items(bot)[0]
    forged = bot.user("UT1").submit(editor, {f"t{first.id}": {"value": ""}, "timekeeper": {"value": "UT1"}})
    assert "Only this team's facilitators" in forged.json["errors"]["timekeeper"]
    assert [(i.id, i.title, i.minutes) for i in _items(bot)] == before

    bot.user("UT1").click(agenda, "agenda_add_item")
    bot.wait_idle()
    add = _modal(bot, "UT1", "agenda_item_add")
    forged = bot.user("UOUT").submit(add, {"title": {"value": "Outsider topic"}})
    assert "members of this team" in forged.json["errors"]["title"]
    assert [(i.id, i.title, i.minutes) for i in _items(bot)] == before

    bot.clock.set(THURSDAY_MEETING + timedelta(minutes=5))
    bot.tick()
    bot.user("UFAC").command("wrapup", channel=team.channel)
    bot.wait_idle()
    wrapup = _modal(bot, "UFAC", "meeting_wrapup")
    forged = bot.user("UT1").submit(wrapup, {"present": {"value": ["UT1"]}})
    assert "Only this team's facilitators" in forged.json["errors"]["present"]
    with bot.db.read() as session:
        meeting = session.exec(select(Meeting).where(Meeting.starts_at == THURSDAY_MEETING)).one()
        assert meeting.status == "scheduled" and session.exec(select(Attendance)).all() == []
    assert not [m for m in bot.double.messages(team.channel) if "Meeting log" in json.dumps(m.get("blocks"))]


def test_a_double_submitted_item_is_added_once(bot):
    team = seed_team(bot)
    _command(bot, "UFAC", "agenda template data", team.channel)
    agenda = _agendas(bot, team.channel)[0]
    bot.user("UT1").click(agenda, "agenda_add_item")
    bot.wait_idle()
    view = _modal(bot, "UT1", "agenda_item_add")
    for _ in range(2):  # a double click on "Add", or Slack retrying the submission
        reply = bot.user("UT1").submit(view, {"title": {"value": "Exit ticket results"}})
        assert not (reply.json or {}).get("errors")
    bot.wait_idle()
    assert [i.title for i in _items(bot)].count("Exit ticket results") == 1
    # A second modal is a second item: only the same modal is deduplicated.
    bot.user("UT1").click(agenda, "agenda_add_item")
    bot.wait_idle()
    again = bot.double.wait_for(lambda: next((v for v in reversed(bot.double.open_views("UT1"))
                                              if v["callback_id"] == "agenda_item_add" and v["id"] != view["id"]),
                                             None))
    bot.user("UT1").submit(again, {"title": {"value": "Exit ticket results"}})
    bot.wait_idle()
    assert [i.title for i in _items(bot)].count("Exit ticket results") == 2


def test_wrap_up_refuses_a_submission_before_the_start_and_bad_action_rows(bot):
    from bot.render.agenda import wrapup_modal

    team = seed_team(bot)
    bot.double.add_user("UOUT", name="outsider")
    with bot.db.session() as session:  # a Person who is not in the team
        from storage.models import Person
        session.add(Person(handle="UOUT", name="Outsider"))
    _command(bot, "UFAC", "agenda", team.channel)
    with bot.db.read() as session:
        meeting = session.exec(select(Meeting).where(Meeting.starts_at == THURSDAY_MEETING)).one()
    # A wrap-up modal submitted before the meeting (built by hand: the bot will not open one yet).
    early = {**wrapup_modal(meeting_id=meeting.id, when="Thu", members=["UFAC"], items=[]), "id": "VEARLY"}
    reply = bot.user("UFAC").submit(early, {"present": {"value": ["UFAC"]}})
    assert "once the meeting has started" in reply.json["errors"]["present"]

    bot.clock.set(THURSDAY_MEETING + timedelta(minutes=40))
    bot.tick()
    bot.user("UFAC").command("wrapup", channel=team.channel)
    bot.wait_idle()
    view = _modal(bot, "UFAC", "meeting_wrapup")
    base = {"present": {"value": ["UFAC", "UT1"]}, "a1_owner": {"value": "UT2"}, "a1_text": {"value": "Score it"}}
    reply = bot.user("UFAC").submit(view, {**base, "a1_due": {"value": "2026-12-01"}})
    assert "has passed" in reply.json["errors"]["a1_due"]
    reply = bot.user("UFAC").submit(view, {**base, "a1_due": {"value": "12/07/2026"}})
    assert "calendar" in reply.json["errors"]["a1_due"]
    reply = bot.user("UFAC").submit(view, {**base, "a1_owner": {"value": "UOUT"}})
    assert "not a member of this team" in reply.json["errors"]["a1_owner"]
    with bot.db.read() as session:
        assert session.get(Meeting, meeting.id).status == "scheduled"
        assert session.exec(select(Attendance)).all() == [] and session.exec(select(ActionItem)).all() == []
    reply = bot.user("UFAC").submit(view, {**base, "a1_due": {"value": "2026-12-07"}})
    assert not (reply.json or {}).get("errors")
    bot.wait_idle()
    with bot.db.read() as session:
        assert session.get(Meeting, meeting.id).status == "held"
        [action] = session.exec(select(ActionItem)).all()
        assert (action.text, str(action.due_date)) == ("Score it", "2026-12-07")


def test_a_cancelled_meeting_added_again_gets_its_automatic_post_back(bot):
    team = seed_team(bot)
    bot.tick()
    _command(bot, "UFAC", "meeting cancel thursday", team.channel)
    bot.tick()
    _command(bot, "UFAC", "meeting add Dec 3 15:30", team.channel)
    assert "Added a 45-minute meeting" in _last_response(bot)
    bot.tick()
    with bot.db.read() as session:
        meeting = session.exec(select(Meeting).where(Meeting.starts_at == THURSDAY_MEETING)).one()
        job = session.exec(select(ScheduledJob).where(ScheduledJob.dedupe_key == f"agenda_post:{meeting.id}")).one()
    assert meeting.status == "scheduled" and job.state == "pending"
    bot.clock.set(job.due_at)
    bot.tick()
    bot.tick()
    assert len(_agendas(bot, team.channel)) == 1


def test_a_schedule_moved_and_moved_back_keeps_its_meetings(bot):
    team = seed_team(bot)
    bot.tick()
    with bot.db.session() as session:
        session.get(Team, team.team_id).meeting_time = "16:00"
    bot.tick()
    with bot.db.session() as session:
        session.get(Team, team.team_id).meeting_time = "15:30"
    bot.tick()
    with bot.db.read() as session:
        thursday = session.exec(select(Meeting).where(Meeting.starts_at == THURSDAY_MEETING)).one()
        later = session.exec(select(Meeting).where(Meeting.starts_at == THURSDAY_MEETING + timedelta(minutes=30))).one()
        job = session.exec(select(ScheduledJob).where(ScheduledJob.dedupe_key == f"agenda_post:{thursday.id}")).one()
    assert (thursday.status, later.status) == ("scheduled", "cancelled")
    assert job.state == "pending"
    # A meeting a facilitator cancelled stays cancelled whatever the schedule does.
    _command(bot, "UFAC", "meeting cancel thursday", team.channel)
    bot.tick()
    with bot.db.read() as session:
        assert session.get(Meeting, thursday.id).status == "cancelled"


def test_the_planners_read_in_bulk_however_many_teams(bot):
    """The planners run on every tick: their steady-state query count must not grow with teams."""
    from sqlalchemy import event

    from scheduling import feedback as feedback_jobs
    from scheduling import meetings as meeting_jobs

    def statements_per_tick() -> int:
        count = 0

        def on_execute(*_args):
            nonlocal count
            count += 1

        event.listen(bot.db.engine, "before_cursor_execute", on_execute)
        try:  # only this feature's planners: the other features' are theirs to measure
            meeting_jobs.plan(bot.services, bot.clock.now())
            feedback_jobs.plan(bot.services, bot.clock.now())
        finally:
            event.remove(bot.db.engine, "before_cursor_execute", on_execute)
        return count

    first = seed_team(bot)
    _command(bot, "UFAC", "action <@UT1|ut1> Bring samples by Dec 8", first.channel)
    bot.clock.set(THURSDAY_MEETING + timedelta(hours=2))  # a meeting behind, for the feedback planner
    bot.tick()
    one_team = statements_per_tick()
    for n in range(6):
        team = seed_team(bot, team=f"Grade {n + 4}", channel=f"CG{n}", school_id=first.school_id,
                         facilitators=(f"UF{n}",), members=(f"UM{n}",), principals=())
        _command(bot, f"UF{n}", f"action <@UM{n}|m> Bring samples by Dec 8", team.channel)
        _command(bot, f"UF{n}", "meeting add Dec 8 15:30", team.channel)
    bot.tick()
    seven_teams = statements_per_tick()
    with bot.db.read() as session:  # the planners did plan for every team
        assert len(session.exec(select(ScheduledJob).where(ScheduledJob.kind == "action_reminder")).all()) == 7
    assert seven_teams <= one_team + 3, (one_team, seven_teams)


# ---------------------------------------------------------------------------- school breaks
def _said(bot) -> str:
    """The last reply, as the person reads it (not JSON-escaped)."""
    bot.wait_idle()
    return json.dumps(bot.double.responses()[-1], ensure_ascii=False) if bot.double.responses() else ""


def _bot_posts(bot, channel):
    return [m for m in bot.double.messages(channel) if m.get("bot_id")]


def _meeting_at(bot, starts_at):
    with bot.db.read() as session:
        return session.exec(select(Meeting).where(Meeting.starts_at == starts_at)).one()


def _job(bot, key):
    with bot.db.read() as session:
        return session.exec(select(ScheduledJob).where(ScheduledJob.dedupe_key == key)).one()


def test_a_break_skips_the_meetings_planned_in_it_and_removing_it_brings_them_back(bot, monkeypatch, capsys):
    import argparse

    import bot.cli.jobs as jobs_cli
    from storage.models import SchoolBreak

    team = seed_team(bot)
    bot.tick()  # Thursday's meeting is planned, its agenda post pending
    thursday = _meeting_at(bot, THURSDAY_MEETING)
    assert _job(bot, f"agenda_post:{thursday.id}").state == "pending"

    _command(bot, "UPRIN", "break add 2026-12-03 2026-12-04 Snow days", team.channel)
    assert "scheduled meetings on those days are skipped" in _said(bot)
    skipped = _meeting_at(bot, THURSDAY_MEETING)
    assert (skipped.status, skipped.title) == ("cancelled", "break: Snow days")
    _command(bot, "UFAC", "meeting list", team.channel)
    assert "Thu Dec 3, 3:30 PM EST · skipped: Snow days" in _said(bot)
    _command(bot, "UFAC", "meeting cancel Dec 3", team.channel)
    assert "skipped for the school break (Snow days)" in _said(bot)
    bot.tick()
    job = _job(bot, f"agenda_post:{thursday.id}")
    assert (job.state, job.last_error) == ("skipped", "break: Snow days")
    # `plcbot jobs` lists the post that will not happen, and why.
    monkeypatch.setattr(jobs_cli, "services_from", lambda _args: bot.services)
    assert jobs_cli.list_jobs(argparse.Namespace(all=False)) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.lstrip().startswith(f"{job.id} "))
    assert "agenda post" in line and line.endswith("skipped: Snow days")

    # The break is removed: the meeting is back, with its automatic post.
    with bot.db.read() as session:
        break_id = session.exec(select(SchoolBreak)).one().id
    _command(bot, "UPRIN", f"break remove {break_id}", team.channel)
    assert "check-ins and meetings again" in _said(bot)
    assert _meeting_at(bot, THURSDAY_MEETING).status == "scheduled"
    bot.tick()
    assert _job(bot, f"agenda_post:{thursday.id}").state == "pending"
    _command(bot, "UFAC", "meeting list", team.channel)
    listing = _said(bot)
    assert "Thu Dec 3, 3:30 PM EST · 45 min" in listing and "skipped" not in listing

    # Added again: across the meeting's whole day, nothing of it is posted.
    _command(bot, "UPRIN", "break add 2026-12-03 2026-12-04 Snow days", team.channel)
    for moment in (datetime(2026, 12, 2, 20, 30), datetime(2026, 12, 3, 12, 0), datetime(2026, 12, 3, 20, 30),
                   datetime(2026, 12, 3, 21, 15), datetime(2026, 12, 3, 22, 0), datetime(2026, 12, 4, 13, 0)):
        bot.clock.set(moment.replace(tzinfo=UTC))
        bot.tick()
        bot.tick()
    assert _bot_posts(bot, team.channel) == []  # no agenda, no "How was today's meeting?"
    with bot.db.read() as session:
        kinds = {(j.kind, j.state) for j in session.exec(select(ScheduledJob).where(ScheduledJob.ref_id == thursday.id))
                 if j.kind in ("agenda_post", "meeting_start", "feedback_prompt")}
    assert ("agenda_post", "skipped") in kinds and not {k for k, state in kinds if state in ("pending", "done")}
    assert _meeting_at(bot, THURSDAY_MEETING).status == "cancelled"
    # The next week's meeting, after the break, is held as usual.
    assert _meeting_at(bot, THURSDAY_MEETING + timedelta(days=7)).status == "scheduled"


def test_a_break_added_before_the_meetings_are_planned_shows_them_skipped_on_home(bot):
    team = seed_team(bot)
    _command(bot, "UPRIN", "break add 2026-12-07 2026-12-11 Winter break", team.channel)
    bot.clock.set(datetime(2026, 12, 9, 14, 0, tzinfo=UTC))  # Wednesday in the break: the next weeks are planned
    bot.tick()
    week = _meeting_at(bot, THURSDAY_MEETING + timedelta(days=7))
    assert (week.status, week.title) == ("cancelled", "break: Winter break")
    bot.user("UFAC").open_home()
    home = bot.double.wait_for(lambda: bot.double.home_view("UFAC"))
    text = json.dumps(home["blocks"], ensure_ascii=False)
    assert "Thu Dec 10, 3:30 PM · skipped: Winter break" in text
    assert "Next meeting *Thu Dec 17, 3:30 PM*" in text


def test_a_meeting_added_by_hand_on_a_break_day_is_held(bot):
    team = seed_team(bot)
    _command(bot, "UPRIN", "break add 2026-12-07 2026-12-11 Winter break", team.channel)
    _command(bot, "UFAC", "meeting add Dec 8 15:45", team.channel)
    assert "Added a 45-minute meeting on Tue Dec 8, 3:45 PM EST" in _said(bot)
    bot.clock.set(datetime(2026, 12, 4, 14, 0, tzinfo=UTC))
    bot.tick()
    # The schedule's Thursday in the break is skipped; a facilitator brings it back by hand too.
    assert _meeting_at(bot, THURSDAY_MEETING + timedelta(days=7)).status == "cancelled"
    _command(bot, "UFAC", "meeting add Dec 10 15:30", team.channel)
    assert "Added a 45-minute meeting on Thu Dec 10" in _said(bot)
    bot.tick()
    tuesday = _meeting_at(bot, datetime(2026, 12, 8, 20, 45, tzinfo=UTC))
    thursday = _meeting_at(bot, THURSDAY_MEETING + timedelta(days=7))
    assert (tuesday.status, thursday.status, thursday.source) == ("scheduled", "scheduled", "one_off")
    _command(bot, "UFAC", "meeting list", team.channel)
    listing = _said(bot)
    assert "Tue Dec 8, 3:45 PM EST · 45 min · one-off" in listing and "skipped" not in listing
    # Held: its agenda is posted and, at its end, the feedback prompt.
    job = _job(bot, f"agenda_post:{tuesday.id}")
    assert job.state == "pending"
    bot.clock.set(job.due_at)
    bot.tick()
    bot.tick()
    assert len(_agendas(bot, team.channel)) == 1
    bot.clock.set(datetime(2026, 12, 8, 21, 35, tzinfo=UTC))
    bot.tick()
    bot.tick()
    assert any("How was" in m.get("text", "") for m in _bot_posts(bot, team.channel))
