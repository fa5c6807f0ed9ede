"""The Home tab dashboard: what each role sees, the buttons on it, and its limits."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import event
from sqlmodel import select

from bot.render import home as render
from bot.slack_double import view_problems
from storage import home as store
from storage.models import ActionItem, Checkin, Feedback, Meeting, Membership, Person, SupportRequest, Team
from storage.people import load_actor
from tests.cycle_helpers import checkin_dms, make_cycle
from tests.harness import checkin_of, handles
from tests.seed import seed_team

# Thursday Dec 3, 2026, 14:00 New York: week 1's check-in time of the helper's cycle.
CHECKIN_TIME = datetime(2026, 12, 3, 19, 0, tzinfo=UTC)


def _home(bot, user_id: str) -> dict:
    """Open the Home tab as `user_id` and return the view the bot published."""
    before = (bot.double.home_view(user_id) or {}).get("hash")
    bot.user(user_id).open_home()
    return bot.double.wait_for(lambda: (v := bot.double.home_view(user_id)) and v.get("hash") != before and v)


def _text(view: dict) -> str:
    return json.dumps(view["blocks"])


def _action_ids(view: dict) -> list[str]:
    out = []
    for block in view["blocks"]:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            out.append(element["action_id"])
        if isinstance(block.get("accessory"), dict):
            out.append(block["accessory"].get("action_id"))
    return out


def _after_click(bot, user_id: str, view: dict, action_id: str, **kwargs) -> dict:
    before = bot.double.home_view(user_id)["hash"]
    bot.user(user_id).click(view, action_id, **kwargs)
    bot.wait_idle()
    return bot.double.wait_for(lambda: (v := bot.double.home_view(user_id)) and v["hash"] != before and v)


def _round_sent(bot, team) -> int:
    cycle_id = make_cycle(bot, team.team_id)
    bot.clock.set(CHECKIN_TIME)
    bot.tick()
    assert all(checkin_dms(bot, u) for u in team.everyone)
    return cycle_id


def test_someone_in_no_team_sees_how_to_start(bot):
    bot.double.add_user("UNEW", name="nia")
    view = _home(bot, "UNEW")
    assert "not in a PLC team yet" in _text(view) and "/plc setup" in _text(view)


def test_teacher_sees_teams_meeting_cycle_and_answers_the_check_in_from_home(bot):
    team = seed_team(bot)
    _round_sent(bot, team)
    teacher = team.members[0]
    view = _home(bot, teacher)
    text = _text(view)
    assert "Your teams" in text and "Grade 3" in text and "Lincoln Elementary" in text
    assert "Next meeting" in text  # the planner made the Thursday meetings
    assert "week 1 of 4" in text and "Goal:" in text
    assert "&lt;b&gt;place&lt;/b&gt;" in text and "<b>" not in text  # the goal is escaped
    assert "Your check-in" in text
    ids = _action_ids(view)
    assert {"checkin_on_track", "checkin_some_progress", "checkin_stuck", "checkin_details"} <= set(ids)
    assert "away_open" in ids  # the away feature's line is on the tab too
    assert "home_checkin_now" not in ids and "home_post_agenda" not in ids  # facilitator-only

    after = _after_click(bot, teacher, view, "checkin_on_track")
    with bot.db.read() as session:
        rows = session.exec(select(Checkin).where(checkin_of(teacher))).all()
    assert [r.progress for r in rows] == ["on_track"]
    assert "Saved" in _text(after) and "checkin_on_track" not in _action_ids(after)
    # The DM shows the answer too (the check-in feature updated it).
    dm = checkin_dms(bot, teacher)[0]
    assert "You answered" in json.dumps(bot.double.messages(teacher)[-1]["blocks"]) or dm


def test_details_from_home_store_a_data_point_and_refresh_the_tab(bot):
    team = seed_team(bot)
    _round_sent(bot, team)
    teacher = team.members[1]
    view = _home(bot, teacher)
    bot.user(teacher).click(view, "checkin_details")
    modal = bot.double.wait_for(lambda: bot.double.open_views(teacher))[-1]
    before = bot.double.home_view(teacher)["hash"]
    bot.user(teacher).submit(modal, {"progress": {"progress": "some_progress"}, "value": {"value": "62"}})
    bot.wait_idle()
    with bot.db.read() as session:
        row = session.exec(select(Checkin).where(checkin_of(teacher))).one()
    assert (row.progress, row.value) == ("some_progress", 62.0)
    refreshed = bot.double.wait_for(lambda: (v := bot.double.home_view(teacher)) and v["hash"] != before and v)
    assert "checkin_on_track" not in _action_ids(refreshed)


def test_facilitator_sees_rates_support_feedback_and_buttons(bot):
    team = seed_team(bot)
    cycle_id = _round_sent(bot, team)
    with bot.db.session() as session:
        checkins = session.exec(select(Checkin)).all()
        owners = handles(session)
        by_user = {owners[c.person_id]: c for c in checkins}
        stuck = by_user[team.members[0]]
        stuck.progress, stuck.answered_at = "stuck", bot.clock.now()
        by_user[team.members[1]].progress = "on_track"
        session.add(SupportRequest(checkin_id=stuck.id, team_id=team.team_id, cycle_id=cycle_id,
                                   person_id=stuck.person_id, sent_at=bot.clock.now()))
        meeting = session.exec(select(Meeting).where(Meeting.team_id == team.team_id)
                               .order_by(Meeting.starts_at)).first()
        for i, uid in enumerate(team.members):  # three answers: averages may show (minimum 3)
            session.add(Feedback(meeting_id=meeting.id, team_id=team.team_id, person_id=team.person_ids[uid],
                                 answered_on=date(2026, 12, 3), useful=4 + (i == 0), learned=3, norms=5))
    view = _home(bot, team.facilitators[0])
    text = _text(view)
    assert "you facilitate" in text
    assert "2 of 4 answered (50%)" in text
    assert "Support requests* (1 open)" in text and f"<@{team.members[0]}>" in text
    assert "useful 4.3" in text and "norms and support 5.0" in text
    ids = _action_ids(view)
    assert "home_post_agenda" in ids and "home_cycle_view" in ids
    assert "home_checkin_now" not in ids  # this week's went out already
    # A teacher never sees support names or feedback figures.
    teacher_text = _text(_home(bot, team.members[2]))
    assert "Support requests" not in teacher_text and "Latest feedback" not in teacher_text


def test_feedback_averages_stay_hidden_below_the_minimum_group(bot):
    team = seed_team(bot)
    with bot.db.session() as session:
        meeting = Meeting(team_id=team.team_id, starts_at=bot.clock.now() - timedelta(days=1), minutes=45)
        session.add(meeting)
        session.flush()
        for uid in team.members[:2]:
            session.add(Feedback(meeting_id=meeting.id, team_id=team.team_id, person_id=team.person_ids[uid],
                                 answered_on=date(2026, 11, 29), useful=1, learned=1, norms=1))
    text = _text(_home(bot, team.facilitators[0]))
    assert "2 answers: averages show from 3 answers" in text
    assert "useful 1.0" not in text


def test_facilitator_sends_this_weeks_check_in_from_home(bot):
    team = seed_team(bot)
    make_cycle(bot, team.team_id)
    bot.clock.set(datetime(2026, 12, 1, 15, 0, tzinfo=UTC))  # Tuesday 10:00: before Thursday's round
    bot.tick()
    assert not checkin_dms(bot, team.members[0])
    member_view = _home(bot, team.members[0])
    assert "home_checkin_now" not in _action_ids(member_view)
    fac = team.facilitators[0]
    view = _home(bot, fac)
    after = _after_click(bot, fac, view, "home_checkin_now")
    assert "Sent week 1's check-in to 4 teacher(s)" in _text(after)
    assert all(len(checkin_dms(bot, u)) == 1 for u in team.everyone)
    # Thursday's scheduled round finds it done: nobody gets a second one.
    bot.clock.set(CHECKIN_TIME)
    bot.tick()
    assert all(len(checkin_dms(bot, u)) == 1 for u in team.everyone)
    assert "home_checkin_now" not in _action_ids(_home(bot, fac))


def test_a_forged_send_now_from_a_member_changes_nothing(bot):
    team = seed_team(bot)
    make_cycle(bot, team.team_id)
    bot.clock.set(datetime(2026, 12, 1, 15, 0, tzinfo=UTC))
    fac_view = _home(bot, team.facilitators[0])
    member = team.members[0]
    _home(bot, member)
    forged = {**fac_view, "id": bot.double.home_view(member)["id"]}
    after = _after_click(bot, member, forged, "home_checkin_now")
    assert "Only this team's facilitators" in _text(after)
    assert not checkin_dms(bot, member)


def test_post_the_agenda_and_start_the_cycle_from_home(bot):
    team = seed_team(bot)
    bot.tick()  # the planner makes the team's meetings from its schedule
    fac = team.facilitators[0]
    view = _home(bot, fac)
    assert "Start a cycle" in _text(view) and "No agenda yet" in _text(view)
    after = _after_click(bot, fac, view, "home_post_agenda")
    assert "Posted the agenda" in _text(after)
    agenda = [m for m in bot.double.messages(team.channel) if "agenda" in m["text"].lower()]
    assert agenda
    bot.user(fac).click(after, "home_cycle_start")
    modal = bot.double.wait_for(lambda: bot.double.open_views(fac))[-1]
    assert modal["callback_id"] == "cycle_modal"


def test_view_the_cycle_opens_its_status(bot):
    team = seed_team(bot)
    _round_sent(bot, team)
    teacher = team.members[0]
    view = _home(bot, teacher)
    bot.user(teacher).click(view, "home_cycle_view")
    modal = bot.double.wait_for(lambda: bot.double.open_views(teacher))[-1]
    assert modal["callback_id"] == render.CYCLE_VIEW_CALLBACK
    assert "week 1 of 4" in json.dumps(modal["blocks"])


def test_action_item_done_from_home(bot):
    team = seed_team(bot)
    teacher = team.members[0]
    with bot.db.session() as session:
        session.add(ActionItem(team_id=team.team_id, owner_id=team.person_ids[teacher], text="Bring 6 samples"))
    view = _home(bot, teacher)
    assert "Bring 6 samples" in _text(view)
    after = _after_click(bot, teacher, view, "action_done")
    assert "Bring 6 samples" not in _text(after)


def test_principal_sees_each_team_at_a_glance_and_gets_the_digest(bot):
    first = seed_team(bot)
    seed_team(bot, team="Grade 4", channel="CGRADE4", facilitators=("UFAC4",), members=("UT41", "UT42", "UT43"),
              principals=(), school_id=first.school_id)
    _round_sent(bot, first)
    principal = first.principals[0]
    view = _home(bot, principal)
    text = _text(view)
    assert "Your schools" in text and "Lincoln Elementary" in text
    assert "*Grade 3*" in text and "*Grade 4*" in text and "cycle week 1 of 4" in text and "no cycle" in text
    assert "Your teams" not in text  # the principal is in no team
    after = _after_click(bot, principal, view, "home_digest_now")
    assert "Sent to your direct messages" in _text(after)
    files = bot.double.wait_for(lambda: bot.double.files)
    assert files[-1]["filename"].endswith(".xlsx")


def _many_teams(bot, n: int) -> str:
    """One coach in `n` teams with long names, each with a meeting and an agenda; returns the coach."""
    coach = "UCOACH"
    bot.double.add_user(coach, name="coach")
    first = seed_team(bot, facilitators=(coach,), members=("UA", "UB", "UC"), team="T" * 100 + " 0",
                      channel="CT0")
    with bot.db.session() as session:
        for i in range(1, n):
            team = Team(school_id=first.school_id, name="T" * 100 + f" {i}", channel_id=f"CT{i}",
                        timezone="America/New_York", meeting_weekdays="thu", meeting_time="15:30")
            session.add(team)
            session.flush()
            session.add(Membership(team_id=team.id, person_id=first.person_ids[coach], role="facilitator"))
    return coach


def test_a_coach_in_forty_teams_stays_within_the_home_limits(bot):
    coach = _many_teams(bot, 40)
    with bot.db.session() as session:  # the coach is also a principal of the school
        person = session.exec(select(Person).where(Person.handle == coach)).one()
        from storage.models import SchoolLeader
        school_id = session.exec(select(Team.school_id)).first()
        session.add(SchoolLeader(school_id=school_id, person_id=person.id))
    bot.tick()  # the planner makes every team's meetings
    view = _home(bot, coach)
    assert len(view["blocks"]) <= 100
    assert view_problems({"type": "home", "blocks": view["blocks"]}) == []
    text = _text(view)
    assert "and 35 more teams" in text
    school = next(b for b in view["blocks"] if "40 teams" in (b.get("text") or {}).get("text", ""))
    assert "\n… and " in school["text"]["text"]  # long names: whole lines kept, the rest counted


def test_dashboard_reads_in_a_fixed_number_of_queries(bot):
    coach = _many_teams(bot, 2)
    bot.tick()

    def count_for() -> int:
        statements: list[str] = []

        def seen(*args, **kwargs) -> None:  # noqa: ANN002, ANN003
            statements.append(args[2])

        event.listen(bot.db.engine, "before_cursor_execute", seen)
        try:
            with bot.db.read() as session:
                actor = load_actor(session, coach, admins=())
                data = store.dashboard(session, actor=actor, now=bot.clock.now(), min_group_size=3)
        finally:
            event.remove(bot.db.engine, "before_cursor_execute", seen)
        assert data.my_teams
        return len([s for s in statements if s.lstrip().upper().startswith("SELECT")])

    small = count_for()
    with bot.db.session() as session:
        person = session.exec(select(Person).where(Person.handle == coach)).one()
        school_id = session.exec(select(Team.school_id)).first()
        for i in range(10, 30):
            team = Team(school_id=school_id, name=f"Extra {i}", channel_id=f"CX{i}", timezone="America/New_York",
                        meeting_weekdays="thu", meeting_time="15:30")
            session.add(team)
            session.flush()
            session.add(Membership(team_id=team.id, person_id=person.id, role="facilitator"))
    bot.tick()
    assert count_for() == small


def test_builders_summarise_many_pending_check_ins_and_schools():
    now = datetime(2026, 12, 3, 19, 0, tzinfo=UTC)
    pending = [store.PendingCheckin(i, f"Team {i}", "Fractions", 1, 4, None) for i in range(1, 8)]
    blocks = render.pending_blocks(pending)
    assert sum(1 for b in blocks if b["type"] == "actions") == render.PENDING_SHOWN
    assert "and 4 more check-ins" in json.dumps(blocks)
    teams = [store.TeamGlance(i, f"<Team {i}>", f"C{i}", 1, "School", "America/New_York", None, members=5)
             for i in range(60)]
    schools = [store.SchoolGlance(s, f"School {s}", "America/New_York", teams) for s in range(6)]
    out = render.schools_blocks(schools)
    assert len(out) <= render.SCHOOLS_SHOWN + 4
    assert all(len(b["text"]["text"]) <= 3000 for b in out if b["type"] == "section")
    dumped = json.dumps(out)
    assert "and 35 more teams" in dumped and "and 2 more schools" in dumped
    assert "<Team" not in dumped and "&lt;Team 1&gt;" in dumped
    assert view_problems({"type": "home", "blocks": out}) == []
    assert now  # builders take no clock: labels come from the data


def test_dashboard_queries_run_on_every_database(any_db_url):
    from tests.harness import BotHarness

    bot = BotHarness(any_db_url).start()
    try:
        team = seed_team(bot)
        _round_sent(bot, team)
        with bot.db.session() as session:
            meeting = session.exec(select(Meeting).where(Meeting.team_id == team.team_id)).first()
            for uid in team.members:
                session.add(Feedback(meeting_id=meeting.id, team_id=team.team_id, person_id=team.person_ids[uid],
                                     answered_on=date(2026, 12, 3), useful=4, learned=4, norms=4))
        with bot.db.read() as session:
            for uid in (team.facilitators[0], team.principals[0]):
                actor = load_actor(session, uid, admins=())
                data = store.dashboard(session, actor=actor, now=bot.clock.now(), min_group_size=3)
                teams = data.my_teams or data.schools[0].teams
                assert teams[0].cycle is not None and teams[0].round is not None
                assert teams[0].round.asked == 4
        assert data.schools and not data.my_teams
    finally:
        bot.stop()
