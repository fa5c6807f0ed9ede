"""The cycle and check-in actions as plain functions: no Slack app, no Slack double, no client.

A front calls these with who (an `Actor` loaded from the database), where (an id) and plain
inputs; they check the role, write, and return what changed and what to tell whom. Runs on
SQLite, and again on PostgreSQL when PLCBOT_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import select

from bot.settings import from_env
from handlers.core import checkins as checkin_actions
from handlers.core import cycles as cycle_actions
from handlers.errors import UserError
from scheduling import keys
from scheduling import registry as scheduling_registry
from storage import checkins as checkin_store
from storage import cycles as cycle_store
from storage import migrate
from storage.clock import FakeClock
from storage.db import Database
from storage.models import (
    AuditEntry,
    Checkin,
    CheckinRound,
    Cycle,
    Membership,
    Person,
    ScheduledJob,
    School,
    SupportRequest,
    Team,
)
from storage.people import load_actor
from storage.rules.cycles import CycleInput
from storage.rules.roles import Actor, Forbidden
from storage.views.cycle_actions import CycleNote, CycleStarted, ReflectionPrompt, ReflectionSaved
from tests.seed import slack_of

START = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York, school open
FORM = CycleInput(title="Fractions", goal="80% place fractions correctly", strategy="Number-line warm-ups",
                  metric_name="Exit ticket", metric_unit="%", baseline="55", target="80",
                  start_date="2026-11-30", weeks="4", checkin_weekday="3", checkin_time="14:00",
                  reminder_hours="24")


@dataclass
class World:
    services: Any
    team_id: int
    school_id: int

    def actor(self, user_id: str) -> Actor:
        with self.services.db.read() as session:
            return load_actor(session, user_id, admins=self.services.settings.admins)

    def cycle(self) -> Cycle | None:
        with self.services.db.read() as session:
            return session.exec(select(Cycle).where(Cycle.team_id == self.team_id)).first()

    def count(self, model: Any) -> int:
        with self.services.db.read() as session:
            return len(session.exec(select(model)).all())


@pytest.fixture
def world(any_db_url: str) -> World:
    """A school, a team with a facilitator (UFAC) and two teachers, and the services an action
    needs: the database, a clock and settings. No Slack client at all."""
    clock = FakeClock(START)
    db = Database(any_db_url, clock=clock)
    migrate.upgrade(db)
    services = SimpleNamespace(db=db, clock=clock, settings=from_env({}))
    with db.session() as session:
        school = School(name="Lincoln", timezone="America/New_York")
        session.add(school)
        session.flush()
        team = Team(school_id=school.id, name="Grade 3", channel_id="CG3", timezone="America/New_York")
        session.add(team)
        session.flush()
        for uid, role in (("UFAC", "facilitator"), ("UT1", "member"), ("UT2", "member")):
            person = Person(handle=uid, name=f"Teacher {uid}", tz="America/New_York")
            session.add(person)
            session.flush()
            session.add(Membership(team_id=team.id, person_id=person.id, role=role))
        ids = (team.id or 0, school.id or 0)
    return World(services, *ids)


def test_a_facilitator_starts_pauses_resumes_and_ends_a_cycle(world: World) -> None:
    services, fac = world.services, world.actor("UFAC")

    started = cycle_actions.start(services, fac, team_id=world.team_id, raw=FORM)
    cycle = world.cycle()
    assert cycle is not None and cycle.status == "active" and cycle.weeks == 4
    (notice,) = started.notices
    assert isinstance(notice.view, CycleStarted) and notice.view.by == "UFAC" and not notice.view.edited
    assert notice.team_id == world.team_id and notice.key == keys.cycle_started(cycle.id)
    assert set(started.refresh_homes) == {"UFAC", "UT1", "UT2"}
    with services.db.read() as session:  # the planner made this week's round row
        kinds = {j.kind for j in session.exec(select(ScheduledJob)).all()}
    assert "checkin_round" in kinds

    paused = cycle_actions.pause(services, fac, team_id=world.team_id, until=date(2026, 12, 11))
    assert world.cycle().status == "paused"  # type: ignore[union-attr]
    assert world.cycle().paused_until == date(2026, 12, 11)  # type: ignore[union-attr]
    assert paused.notices[0].view == CycleNote("paused", "UFAC", date(2026, 12, 11))
    assert paused.notices[0].key and paused.notices[0].key.startswith(f"cycle-paused:{cycle.id}:")

    with pytest.raises(UserError, match="date has passed"):
        cycle_actions.pause(services, fac, team_id=world.team_id, until=date(2026, 11, 1))

    resumed = cycle_actions.resume(services, fac, team_id=world.team_id)
    assert world.cycle().status == "active"  # type: ignore[union-attr]
    assert resumed.notices[0].view == CycleNote("resumed", "UFAC")
    with pytest.raises(UserError, match="not paused"):
        cycle_actions.resume(services, fac, team_id=world.team_id)

    ended = cycle_actions.end(services, fac, team_id=world.team_id)
    assert world.cycle().status == "ended"  # type: ignore[union-attr]
    (prompt,) = ended.notices
    assert prompt.view == ReflectionPrompt(cycle.id or 0, "Fractions", "Grade 3", 4)
    assert prompt.key == keys.cycle_reflection(cycle.id)
    with services.db.read() as session:  # nothing more goes out for an ended cycle
        pending = session.exec(select(ScheduledJob).where(ScheduledJob.state == "pending",
                                                          ScheduledJob.kind == "checkin_round")).all()
    assert pending == []
    with pytest.raises(UserError, match="no running cycle"):
        cycle_actions.end(services, fac, team_id=world.team_id)

    answers, errors = cycle_actions.validate_reflection(target_reached="partly", final_value="72",
                                                        learned="Warm-ups help", next_steps="")
    assert errors == {} and answers is not None
    reflected = cycle_actions.reflect(services, fac, cycle_id=cycle.id or 0, answers=answers)
    view = reflected.notices[0].view
    assert isinstance(view, ReflectionSaved) and view.final == 72.0 and view.reached == "partly"
    assert reflected.notices[0].key == keys.cycle_closed(cycle.id)
    assert reflected.refresh_homes == ()  # the cycle had ended already: no dashboard changes


def test_a_member_is_refused_and_nothing_changes(world: World) -> None:
    services = world.services
    member = world.actor("UT1")
    with pytest.raises(Forbidden):
        cycle_actions.start(services, member, team_id=world.team_id, raw=FORM)
    assert world.cycle() is None

    cycle_actions.start(services, world.actor("UFAC"), team_id=world.team_id, raw=FORM)
    audits = world.count(AuditEntry)
    for act in (lambda: cycle_actions.pause(services, member, team_id=world.team_id, until=None),
                lambda: cycle_actions.end(services, member, team_id=world.team_id),
                lambda: checkin_actions.send_now(services, scheduling_registry.load(), member,
                                                 team_id=world.team_id)):
        with pytest.raises(Forbidden):
            act()
    cycle = world.cycle()
    assert cycle is not None and cycle.status == "active" and cycle.paused_until is None
    assert world.count(AuditEntry) == audits and world.count(CheckinRound) == 0


def _a_sent_checkin(world: World, user_id: str) -> int:
    """This week's round with a check-in for `user_id`, as the round job leaves it."""
    services = world.services
    cycle_actions.start(services, world.actor("UFAC"), team_id=world.team_id, raw=FORM)
    cycle = world.cycle()
    assert cycle is not None
    with services.db.session() as session:
        round_ = checkin_store.open_round(session, cycle=cycle, week=1, local_day=date(2026, 12, 2),
                                          now=START, closes_at=datetime(2026, 12, 3, 19, 0, tzinfo=UTC))
        person = session.exec(select(Person).where(Person.handle == user_id)).one()
        (checkin,) = checkin_store.ensure_checkins(session, round_=round_, asked=[person], away=[], now=START)
        return checkin.id or 0


def test_a_teacher_answers_twice_and_one_answer_is_stored(world: World) -> None:
    services = world.services
    checkin_id = _a_sent_checkin(world, "UT1")
    teacher = world.actor("UT1")

    first = checkin_actions.answer(services, teacher, checkin_id=checkin_id, progress="on_track")
    assert first.checkin_id == checkin_id and first.refresh_homes == ("UT1",)
    checkin_actions.answer(services, teacher, checkin_id=checkin_id, progress="stuck")
    with services.db.read() as session:
        rows = session.exec(select(Checkin)).all()
        requests = session.exec(select(SupportRequest)).all()
    assert len(rows) == 1 and rows[0].progress == "stuck"
    assert len(requests) == 1  # "stuck" asks the facilitators for support

    with pytest.raises(UserError, match="isn't yours"):
        checkin_actions.answer(services, world.actor("UT2"), checkin_id=checkin_id, progress="on_track")

    details, errors = checkin_actions.validate_details(progress="some_progress", value="not a number",
                                                       evidence=None, support=None)
    assert details is None and "value" in errors
    details, errors = checkin_actions.validate_details(progress="some_progress", value="12", evidence="notes",
                                                       support="")
    assert details is not None
    checkin_actions.add_details(services, teacher, checkin_id=checkin_id, details=details)
    with services.db.read() as session:
        row = session.get(Checkin, checkin_id)
        assert row is not None and row.progress == "some_progress" and row.value == 12.0
        # no longer stuck, and the facilitators were not told yet: the request is withdrawn
        assert checkin_store.support_for(session, checkin_id=checkin_id) is None

    # Support: a member may not move a request; the facilitator follows it up, then resolves it.
    checkin_actions.answer(services, teacher, checkin_id=checkin_id, progress="stuck")
    with services.db.read() as session:
        request = checkin_store.support_for(session, checkin_id=checkin_id)
    assert request is not None
    with pytest.raises(Forbidden):
        checkin_actions.follow_up(services, world.actor("UT2"), request_id=request.id or 0)
    moved = checkin_actions.follow_up(services, world.actor("UFAC"), request_id=request.id or 0)
    assert moved.checkin_id == checkin_id
    checkin_actions.resolve(services, world.actor("UFAC"), request_id=request.id or 0)
    with services.db.read() as session:
        done = session.get(SupportRequest, request.id)
    assert done is not None and done.state == "resolved" and slack_of(services.db, done.follower_id) == "UFAC"


def test_away_then_back(world: World) -> None:
    services, teacher = world.services, world.actor("UT1")
    with pytest.raises(UserError):  # a day that has passed
        checkin_actions.away(services, teacher, until=date(2026, 11, 20))
    result = checkin_actions.away(services, teacher, until=date(2026, 12, 11))
    assert result.until == date(2026, 12, 11) and result.refresh_homes == ("UT1",)

    def away_until() -> date | None:
        with services.db.read() as session:
            return session.exec(select(Person).where(Person.handle == "UT1")).one().away_until

    assert away_until() == date(2026, 12, 11)
    checkin_actions.back(services, teacher)
    assert away_until() is None
    with pytest.raises(UserError, match="not in a PLC team"):
        checkin_actions.back(services, Actor("USTRANGER"))


def test_send_now_during_a_break_is_refused_with_the_breaks_reason(world: World) -> None:
    services = world.services
    fac = world.actor("UFAC")
    cycle_actions.start(services, fac, team_id=world.team_id, raw=FORM)
    with services.db.session() as session:
        cycle_store.add_break(session, school_id=world.school_id, starts_on=date(2026, 11, 30),
                              ends_on=date(2026, 12, 4), label="Snow week", created_by="UPRIN", now=START)
    with pytest.raises(UserError) as refused:
        checkin_actions.send_now(services, scheduling_registry.load(), fac, team_id=world.team_id)
    assert str(refused.value) == "Today is in a school break (Snow week): no check-ins."
    assert world.count(CheckinRound) == 0 and world.count(Checkin) == 0

    cycle_actions.pause(services, fac, team_id=world.team_id, until=None)
    with pytest.raises(UserError, match="cycle is paused"):
        checkin_actions.send_now(services, scheduling_registry.load(), fac, team_id=world.team_id)
