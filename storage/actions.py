"""Action items: assigned to a team member, reminded the school day before, closed with "Done"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.models import ActionItem, Membership, Person, Team
from storage.people import person_ref
from storage.rules.agenda import RuleError


def member_person(session: Session, *, team_id: int, handle: str) -> Person | None:
    """The person if they are an active member (or facilitator) of the team."""
    return session.exec(
        select(Person).join(Membership, col(Membership.person_id) == Person.id)
        .where(Membership.team_id == team_id, Person.handle == handle,
               col(Membership.active).is_(True))
    ).first()


def add_action(session: Session, *, team_id: int, owner: str, text: str, due: date | None, created_by: str,
               now: datetime, meeting_id: int | None = None) -> ActionItem:
    person = member_person(session, team_id=team_id, handle=owner)
    if person is None or person.id is None:
        raise RuleError("That person is not a member of this team; action items go to team members.")
    if not person.active:
        raise RuleError("That person's Slack account is deactivated; choose someone else.")
    item = ActionItem(team_id=team_id, meeting_id=meeting_id, owner_id=person.id, text=text, due_date=due,
                      created_by_id=person_ref(session, created_by, now=now), created_at=now)
    session.add(item)
    session.flush()
    return item


@dataclass(frozen=True)
class ActionContext:
    item: ActionItem
    owner: Person
    team: Team


def load(session: Session, *, action_id: int) -> ActionContext | None:
    row = session.exec(
        select(ActionItem, Person, Team)
        .join(Person, col(Person.id) == ActionItem.owner_id)
        .join(Team, col(Team.id) == ActionItem.team_id)
        .where(ActionItem.id == action_id)
    ).first()
    if row is None:
        return None
    item, owner, team = row
    return ActionContext(item, owner, team)


def mark_done(session: Session, *, action_id: int, by: str, now: datetime) -> bool:
    """Close an open item; False when it was closed already (a double click changes nothing)."""
    by_id = person_ref(session, by, now=now)
    result = session.exec(  # type: ignore[call-overload]
        update(ActionItem)
        .where(col(ActionItem.id) == action_id, col(ActionItem.status) == "open")
        .values(status="done", done_at=now, done_by_id=by_id)
    )
    return bool(result.rowcount)


def open_with_due(session: Session, *, from_day: date) -> list[ActionContext]:
    """Open items due on or after `from_day`, for the reminder planner."""
    rows = session.exec(
        select(ActionItem, Person, Team)
        .join(Person, col(Person.id) == ActionItem.owner_id)
        .join(Team, col(Team.id) == ActionItem.team_id)
        .where(ActionItem.status == "open", col(ActionItem.due_date).is_not(None),
               col(ActionItem.due_date) >= from_day, col(Team.archived_at).is_(None))
    ).all()
    return [ActionContext(i, p, t) for i, p, t in rows]
