"""Seed a school and a team into the database and the Slack double, for scenario tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import select

from storage.models import Membership, Person, School, SchoolLeader, Team
from tests.harness import BotHarness


@dataclass
class Seeded:
    school_id: int
    team_id: int
    channel: str
    facilitators: list[str]
    members: list[str]  # teachers who are not facilitators
    principals: list[str]
    person_ids: dict[str, int] = field(default_factory=dict)

    @property
    def everyone(self) -> list[str]:
        return self.facilitators + self.members


def seed_team(
    bot: BotHarness,
    *,
    school: str = "Lincoln Elementary",
    team: str = "Grade 3",
    channel: str = "CGRADE3",
    facilitators: tuple[str, ...] = ("UFAC",),
    members: tuple[str, ...] = ("UT1", "UT2", "UT3"),
    principals: tuple[str, ...] = ("UPRIN",),
    timezone: str = "America/New_York",
    meeting_weekdays: str = "thu",
    meeting_time: str = "15:30",
    meeting_minutes: int = 45,
    school_id: int | None = None,
) -> Seeded:
    """Users and channel in the double; school, team, people and roles in the database."""
    everyone = [*facilitators, *members, *principals]
    for user_id in everyone:
        bot.double.add_user(user_id, name=user_id.lower(), real_name=f"Teacher {user_id}",
                                email=f"{user_id.lower()}@school.example", tz=timezone)
    bot.double.add_channel(channel, name=team.lower().replace(" ", "-"),
                           members=[*facilitators, *members])
    ids: dict[str, int] = {}
    with bot.db.session() as session:
        if school_id is None:
            s = School(name=school, timezone=timezone)
            session.add(s)
            session.flush()
            school_id = s.id
        t = Team(school_id=school_id, name=team, channel_id=channel, timezone=timezone,
                 meeting_weekdays=meeting_weekdays, meeting_time=meeting_time, meeting_minutes=meeting_minutes)
        session.add(t)
        session.flush()
        for user_id in everyone:
            person = session.exec(select(Person).where(Person.handle == user_id)).first()
            if person is None:
                person = Person(handle=user_id, name=f"Teacher {user_id}",
                                email=f"{user_id.lower()}@school.example", tz=timezone)
                session.add(person)
                session.flush()
            ids[user_id] = person.id
        for user_id in facilitators:
            session.add(Membership(team_id=t.id, person_id=ids[user_id], role="facilitator"))
        for user_id in members:
            session.add(Membership(team_id=t.id, person_id=ids[user_id], role="member"))
        for user_id in principals:
            session.add(SchoolLeader(school_id=school_id, person_id=ids[user_id]))
        team_id = t.id
    assert school_id is not None and team_id is not None
    return Seeded(school_id, team_id, channel, list(facilitators), list(members), list(principals), ids)


def slack_of(db: Any, person_id: int | None) -> str | None:
    """The Slack user id of the person an attribution column (`owner_id`, `done_by_id`, …) names."""
    from storage.people import slack_id

    with db.read() as session:
        return slack_id(session, person_id)
