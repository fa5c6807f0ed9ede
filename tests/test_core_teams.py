"""The team and meeting actions as plain functions: no Slack app, no double, no HTTP.

A front calls these with an `Actor` loaded in its transaction and plain data; here the test is
that front. They run on SQLite, and on PostgreSQL when PLCBOT_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, time, timedelta

import pytest
from sqlmodel import col, select

from handlers.core import meetings as meeting_actions
from handlers.core import teams as team_actions
from scheduling import keys
from scheduling.clock import FakeClock
from storage import jobs
from storage import teams as team_store
from storage.db import Database
from storage.migrate import upgrade
from storage.models import ActionItem, AuditEntry, Meeting, Membership, Person, ScheduledJob, School, Team
from storage.people import load_actor
from storage.rules.roles import Actor, Forbidden
from storage.views.meeting_actions import ActionAssigned, MeetingLogDue
from storage.views.team_actions import MembersChanged, ShareNamesChanged
from tests.harness import START

ADMINS = ("UADMIN",)
ZONE = "America/New_York"


@pytest.fixture
def db(any_db_url: str) -> Iterator[Database]:
    database = Database(any_db_url, clock=FakeClock(START))
    upgrade(database, backup=False)
    try:
        yield database
    finally:
        database.engine.dispose()


def actor(db: Database, user_id: str) -> Actor:
    with db.read() as session:
        return load_actor(session, user_id, admins=ADMINS)


def school(db: Database, *, self_service: bool = False) -> int:
    with db.session() as session:
        row = School(name="Lincoln Elementary", timezone=ZONE, self_service=self_service)
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def profile(uid: str) -> team_actions.Profile:
    return (uid, f"Teacher {uid}", f"{uid.lower()}@school.example", ZONE)


def setup_form(school_id: int, **changes: object) -> team_actions.TeamSetup:
    values: dict[str, object] = dict(place="CGRADE3", name="Grade 3", school_id=school_id, members=["UT1"],
                                     facilitators=[], weekdays="thu", time="15:30", minutes=45, timezone=ZONE)
    values.update(changes)
    return team_actions.TeamSetup(**values)  # type: ignore[arg-type]


def set_up(db: Database, user_id: str, form: team_actions.TeamSetup) -> team_actions.SetupResult:
    """What a front does: check read-only, then write in one transaction (the actor loaded there)."""
    with db.read() as session:
        team_actions.check_setup(session, load_actor(session, user_id, admins=ADMINS), form)
    _, everyone = team_actions.setup_people(actor(db, user_id), form)
    with db.session() as session:
        return team_actions.write_setup(session, load_actor(session, user_id, admins=ADMINS), form,
                                        fresh=[profile(uid) for uid in everyone], skipped=[], now=START)


def roles(db: Database, team_id: int) -> dict[str, str]:
    with db.read() as session:
        return team_store.member_roles(session, team_id=team_id)


def team_id_of(db: Database, place: str = "CGRADE3") -> int:
    with db.read() as session:
        team = session.exec(select(Team).where(Team.channel_id == place)).one()
        assert team.id is not None
        return team.id


def test_a_facilitator_sets_a_team_up_and_adds_a_member(db: Database) -> None:
    school_id = school(db, self_service=True)
    # A teacher creates a self-service school's first team: they lead it.
    created = set_up(db, "UFAC", setup_form(school_id, creating=True))
    assert created.view is not None and created.view.verb == "is set up"
    assert created.view.school_name == "Lincoln Elementary"
    assert set(created.view.added) == {"UFAC", "UT1"} and set(created.refresh_homes) == {"UFAC", "UT1"}
    team_id = team_id_of(db)
    assert roles(db, team_id) == {"UFAC": "facilitator", "UT1": "member"}
    # The facilitator edits the set-up: a new name and sharing names, which the team's place is told once.
    edited = set_up(db, "UFAC", setup_form(school_id, name="Grade Three", facilitators=["UFAC"],
                                           share_names=True))
    assert edited.view is not None and edited.view.verb == "is updated"
    [notice] = edited.notices
    assert notice.view == ShareNamesChanged(actor="UFAC", team_name="Grade Three", shared=True)
    assert notice.team_id == team_id and notice.key is not None and notice.key.startswith(
        keys.team_share_names(team_id, True, ""))
    # Then adds a member the database has not seen yet (the front looked the profile up).
    with db.session() as session:
        added = team_actions.change_members(session, load_actor(session, "UFAC", admins=ADMINS), team_id=team_id,
                                            people_ids=["UNEW"], role="member", remove=False,
                                            fresh=[profile("UNEW")], now=START)
    assert added.view == MembersChanged(role="member", remove=False, done=("UNEW",))
    assert added.refresh_homes == ("UNEW",)
    assert roles(db, team_id) == {"UFAC": "facilitator", "UT1": "member", "UNEW": "member"}
    with db.read() as session:
        assert session.exec(select(Person).where(Person.handle == "UNEW")).one().name == "Teacher UNEW"


def test_the_last_facilitator_cannot_step_down(db: Database) -> None:
    school_id = school(db)
    set_up(db, "UADMIN", setup_form(school_id, facilitators=["UFAC"], creating=True))
    team_id = team_id_of(db)
    with pytest.raises(team_actions.UserError, match="at least one facilitator"), db.session() as session:
        team_actions.change_members(session, load_actor(session, "UFAC", admins=ADMINS), team_id=team_id,
                                    people_ids=["UFAC"], role="facilitator", remove=True, now=START)
    assert roles(db, team_id)["UFAC"] == "facilitator"


def test_a_member_cannot_add_anyone_and_nothing_changes(db: Database) -> None:
    school_id = school(db)
    set_up(db, "UADMIN", setup_form(school_id, facilitators=["UFAC"], creating=True))
    team_id = team_id_of(db)
    before = roles(db, team_id)
    with db.read() as session:
        audits = len(session.exec(select(AuditEntry)).all())
    with pytest.raises(Forbidden, match="facilitators"), db.session() as session:
        team_actions.change_members(session, load_actor(session, "UT1", admins=ADMINS), team_id=team_id,
                                    people_ids=["UOUT"], role="member", remove=False, fresh=[profile("UOUT")],
                                    now=START)
    # Nor set the team up again, nor name a facilitator.
    with pytest.raises(team_actions.RuleError), db.read() as session:
        team_actions.check_setup(session, actor(db, "UT1"), setup_form(school_id, facilitators=["UFAC"]))
    with pytest.raises(Forbidden), db.session() as session:
        team_actions.change_members(session, load_actor(session, "UT1", admins=ADMINS), team_id=team_id,
                                    people_ids=["UT1"], role="facilitator", remove=False, now=START)
    assert roles(db, team_id) == before
    with db.read() as session:
        assert session.exec(select(Person).where(Person.handle == "UOUT")).first() is None
        assert len(session.exec(select(AuditEntry)).all()) == audits


def test_a_meeting_added_then_cancelled_skips_its_jobs(db: Database) -> None:
    school_id = school(db)
    set_up(db, "UADMIN", setup_form(school_id, facilitators=["UFAC"], creating=True))
    team_id = team_id_of(db)
    day = date(2026, 12, 8)  # a Tuesday: not the team's Thursday
    with db.session() as session:
        added = meeting_actions.add_meeting(session, load_actor(session, "UFAC", admins=ADMINS), team_id=team_id,
                                            day=day, at=time(15, 0), minutes=30, now=START)
    assert added.when and added.meeting_id and not added.refresh_agenda
    assert added.reply.startswith(f"Added a 30-minute meeting on {added.when}.")
    with db.session() as session:  # what the planner schedules for it
        meeting = session.get(Meeting, added.meeting_id)
        assert meeting is not None and meeting.source == "one_off"
        for key, kind in ((keys.agenda_post_job(meeting.id), "agenda_post"),
                          (keys.meeting_start_job(meeting.id), "meeting_start")):
            jobs.schedule(session, kind=kind, dedupe_key=key, due_at=meeting.starts_at - timedelta(hours=1),
                          team_id=team_id, ref_id=meeting.id)
    with pytest.raises(Forbidden), db.session() as session:  # a member may not
        meeting_actions.cancel_meeting(session, load_actor(session, "UT1", admins=ADMINS), team_id=team_id,
                                       day=day, now=START)
    with db.session() as session:
        cancelled = meeting_actions.cancel_meeting(session, load_actor(session, "UFAC", admins=ADMINS),
                                                   team_id=team_id, day=day, now=START)
    assert cancelled.meeting_id == added.meeting_id
    assert cancelled.reply == f"Cancelled the meeting on {added.when}; its agenda will not be posted."
    with db.read() as session:
        assert session.get(Meeting, added.meeting_id).status == "cancelled"  # type: ignore[union-attr]
        states = session.exec(select(ScheduledJob.state).where(col(ScheduledJob.ref_id) == added.meeting_id)).all()
    assert sorted(states) == ["skipped", "skipped"]
    with pytest.raises(meeting_actions.UserError, match="no upcoming meeting on that day"), \
            db.session() as session:
        meeting_actions.cancel_meeting(session, load_actor(session, "UFAC", admins=ADMINS), team_id=team_id,
                                       day=day, now=START)


def test_a_wrap_up_submitted_twice_is_saved_once(db: Database) -> None:
    school_id = school(db)
    set_up(db, "UADMIN", setup_form(school_id, facilitators=["UFAC"], members=["UT1", "UT2"], creating=True))
    team_id = team_id_of(db)
    with db.session() as session:
        meeting = Meeting(team_id=team_id, starts_at=START - timedelta(minutes=30), minutes=45, created_at=START)
        session.add(meeting)
        session.flush()
        meeting_id = meeting.id
    form = meeting_actions.WrapupForm(
        present=["UFAC", "UT1"], notes={}, decisions="Try the new rubric.",
        actions=[meeting_actions.WrapupAction("UT1", "Share the rubric", date(2026, 12, 4), field="a1_owner",
                                              due_field="a1_due")])
    with pytest.raises(meeting_actions.FormErrors) as refused, db.read() as session:  # a due date passed
        late = meeting_actions.WrapupAction("UT1", "Late", date(2026, 11, 1), field="a1_owner", due_field="a1_due")
        meeting_actions.check_wrapup(session, actor(db, "UFAC"), meeting_id=meeting_id,
                                     form=meeting_actions.WrapupForm([], {}, "", [late]), now=START)
    assert refused.value.errors == {"a1_due": "That date has passed; give a due date from today on."}
    results = []
    for _ in range(2):  # the same form, submitted twice
        with db.read() as session:
            checked = meeting_actions.check_wrapup(session, load_actor(session, "UFAC", admins=ADMINS),
                                                   meeting_id=meeting_id, form=form, now=START)
        with db.session() as session:
            results.append(meeting_actions.write_wrapup(session, load_actor(session, "UFAC", admins=ADMINS),
                                                        checked, now=START))
    first, second = results
    assert first.created is not None and len(first.created) == 1
    [action_id] = first.created
    assert [n.view for n in first.notices] == [MeetingLogDue(meeting_id), ActionAssigned(action_id, "UFAC")]
    assert [n.key for n in first.notices] == [keys.meeting_log(meeting_id), keys.action_assigned(action_id)]
    assert second.created is None and not second.notices
    with db.read() as session:
        assert session.get(Meeting, meeting_id).status == "held"  # type: ignore[union-attr]
        assert len(session.exec(select(ActionItem).where(ActionItem.meeting_id == meeting_id)).all()) == 1
        assert {m.person_id for m in session.exec(select(Membership)).all()}  # members untouched


def test_a_member_cannot_wrap_up(db: Database) -> None:
    school_id = school(db)
    set_up(db, "UADMIN", setup_form(school_id, facilitators=["UFAC"], creating=True))
    team_id = team_id_of(db)
    with db.session() as session:
        meeting = Meeting(team_id=team_id, starts_at=START - timedelta(minutes=30), minutes=45, created_at=START)
        session.add(meeting)
        session.flush()
        meeting_id = meeting.id
    with pytest.raises(Forbidden), db.read() as session:
        meeting_actions.check_wrapup(session, actor(db, "UT1"), meeting_id=meeting_id,
                                     form=meeting_actions.WrapupForm([], {}, "", []), now=START)


def test_norms_edited_once_and_committed_to_by_members_only(db: Database) -> None:
    from handlers.core import norms as norm_actions

    school_id = school(db)
    set_up(db, "UADMIN", setup_form(school_id, facilitators=["UFAC"], members=["UT1"], creating=True))
    team_id = team_id_of(db)
    with pytest.raises(Forbidden), db.read() as session:
        norm_actions.check_norms(session, actor(db, "UT1"), team_id=team_id)
    results = []
    for _ in range(2):  # a double submit stores one revision and posts it once
        with db.read() as session:
            team = norm_actions.check_norms(session, actor(db, "UFAC"), team_id=team_id)
        with db.session() as session:
            results.append(norm_actions.write_norms(session, load_actor(session, "UFAC", admins=ADMINS), team,
                                                    norms=["Start on time", "Assume good intent"], now=START))
    assert results[0].version == 1 and [n.key for n in results[0].notices] == [keys.norms(team_id, 1)]
    assert results[1].version is None and not results[1].notices
    with db.session() as session:
        first = norm_actions.commit_norms(session, load_actor(session, "UT1", admins=ADMINS), team_id=team_id,
                                          version=1, now=START)
        again = norm_actions.commit_norms(session, load_actor(session, "UT1", admins=ADMINS), team_id=team_id,
                                          version=1, now=START)
    assert first.added and not again.added
    for who, version, why in (("UOUT", 1, "Only members"), ("UT1", 0, "have changed")):
        with pytest.raises(norm_actions.UserError, match=why), db.session() as session:
            norm_actions.commit_norms(session, load_actor(session, who, admins=ADMINS), team_id=team_id,
                                      version=version, now=START)
