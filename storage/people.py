"""People and the roles they hold, read in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, col, select

from storage.models import Membership, Person, SchoolLeader, Team
from storage.rules.roles import Actor


def get_or_create_person(session: Session, slack_user_id: str, *, name: str = "", email: str | None = None,
                         tz: str | None = None) -> Person:
    person = session.exec(select(Person).where(Person.slack_user_id == slack_user_id)).first()
    if person is None:
        person = Person(slack_user_id=slack_user_id, name=name, email=email, tz=tz)
        session.add(person)
        session.flush()
    return person


def load_actor(session: Session, user_id: str, *, admins: Iterable[str]) -> Actor:
    principal_of = session.exec(
        select(SchoolLeader.school_id).join(Person, col(Person.id) == SchoolLeader.person_id)
        .where(Person.slack_user_id == user_id)
    ).all()
    rows = session.exec(
        select(Membership.team_id, Membership.role)
        .join(Person, col(Person.id) == Membership.person_id)
        .join(Team, col(Team.id) == Membership.team_id)
        .where(Person.slack_user_id == user_id, col(Membership.active).is_(True),
               col(Team.archived_at).is_(None))
    ).all()
    return Actor(
        user_id=user_id,
        is_admin=user_id in set(admins),
        principal_of=frozenset(principal_of),
        facilitator_of=frozenset(team for team, role in rows if role == "facilitator"),
        member_of=frozenset(team for team, _ in rows),
    )


def team_for_channel(session: Session, channel_id: str) -> Team | None:
    return session.exec(
        select(Team).where(Team.channel_id == channel_id, col(Team.archived_at).is_(None))
    ).first()
