"""People's platform identities and teams' chat places: look-ups, and keeping the Slack ones in
step with `person.handle` / `person.dm_channel_id` and `team.channel_id`.

Every place that makes a person or changes their Slack id or DM channel (`storage.people`,
`storage.roster`, the Slack transport's remembered DM) calls `add_slack_identities` or
`set_slack_conversation` in the same transaction; `storage.teams.save_team` calls
`set_slack_place`. So the identity tables and the Slack columns never disagree, and the Teams
front adds its own identities beside them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CompoundSelect, bindparam, insert, union_all
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from storage.models import Person, PersonIdentity, Team, TeamPlace
from storage.models.identities import SLACK

# Today's installs serve one Slack workspace and never recorded its id.
SLACK_WORKSPACE = ""


# ------------------------------------------------------------------------------ look-ups
def person_for_identity(session: Session, platform: str, workspace: str, external_id: str) -> Person | None:
    """The person known on `platform` in `workspace` by `external_id`, if any."""
    return session.exec(
        select(Person).join(PersonIdentity, col(PersonIdentity.person_id) == Person.id)
        .where(PersonIdentity.platform == platform, PersonIdentity.workspace == workspace,
               PersonIdentity.external_id == external_id)
    ).first()


def identities_of(session: Session, person_id: int) -> list[PersonIdentity]:
    """Every platform identity of a person, oldest first."""
    return list(session.exec(
        select(PersonIdentity).where(PersonIdentity.person_id == person_id).order_by(col(PersonIdentity.id))
    ).all())


def team_for_place(session: Session, platform: str, workspace: str, place_id: str) -> Team | None:
    """The team that meets in this place (archived teams too: the caller decides)."""
    return session.exec(
        select(Team).join(TeamPlace, col(TeamPlace.team_id) == Team.id)
        .where(TeamPlace.platform == platform, TeamPlace.workspace == workspace, TeamPlace.place_id == place_id)
    ).first()


def place_of(session: Session, team_id: int, platform: str | None = None) -> TeamPlace | None:
    """The team's chat place (on `platform`, or its first one)."""
    query = select(TeamPlace).where(TeamPlace.team_id == team_id)
    if platform is not None:
        query = query.where(TeamPlace.platform == platform)
    return session.exec(query.order_by(col(TeamPlace.id))).first()


# Built once: the ledger asks it for every message it sends. A recipient is a person's id on
# their platform, the conversation the bot has with them there (a reminder goes to the DM of
# the check-in it follows), or a team's place; ids of different platforms never look alike,
# so the first row answers.
_PLATFORM_OF: CompoundSelect[Any] = union_all(
    sa_select(col(PersonIdentity.platform)).where(col(PersonIdentity.external_id) == bindparam("recipient")),
    sa_select(col(PersonIdentity.platform)).where(col(PersonIdentity.conversation_id) == bindparam("recipient")),
    sa_select(col(TeamPlace.platform)).where(col(TeamPlace.place_id) == bindparam("recipient")),
)


def platform_of(session: Session, recipient: str) -> str | None:
    """The platform on which `recipient` (a person's external id or conversation, or a place id)
    is known, in one query; None when no identity or place holds it."""
    row = session.connection().execute(_PLATFORM_OF, {"recipient": recipient}).first()
    return str(row[0]) if row is not None else None


_PERSON_OF: CompoundSelect[Any] = union_all(
    sa_select(col(Person.id)).where(col(Person.handle) == bindparam("recipient")),
    sa_select(col(PersonIdentity.person_id)).where(col(PersonIdentity.external_id) == bindparam("recipient")),
    sa_select(col(PersonIdentity.person_id)).where(col(PersonIdentity.conversation_id) == bindparam("recipient")),
)


def addressee(session: Session, recipient: str) -> tuple[int | None, str | None]:
    """Whom a message addressed to `recipient` goes to, as the ledger records it: (their person
    id, None) for a person's handle or their conversation with the bot, else (None, the place)
    for a team's channel or chat. One query."""
    row = session.connection().execute(_PERSON_OF, {"recipient": recipient}).first()
    return (int(row[0]), None) if row is not None else (None, recipient)


# ------------------------------------------------------------------------------ keeping in step
def add_slack_identities(session: Session, people: Iterable[tuple[int, str, str | None]], *,
                         now: datetime) -> None:
    """Slack identities for people just made: (person id, Slack user id, DM channel or None),
    in one insert. Forgotten people's tokens are never given one."""
    rows = [{"person_id": pid, "platform": SLACK, "workspace": SLACK_WORKSPACE, "external_id": uid,
             "conversation_id": dm, "service_url": None, "created_at": now}
            for pid, uid, dm in people if not uid.startswith("forgotten-")]
    for start in range(0, len(rows), 500):
        session.execute(insert(PersonIdentity), rows[start:start + 500])


def set_slack_conversation(session: Session, person: Person, *, now: datetime) -> None:
    """Bring the person's Slack identity in line with their row (Slack id and DM channel),
    making it if it is missing (a person made before identities, by hand or by a test)."""
    assert person.id is not None
    identity = session.exec(select(PersonIdentity).where(
        PersonIdentity.person_id == person.id, PersonIdentity.platform == SLACK,
        PersonIdentity.workspace == SLACK_WORKSPACE)).first()
    if person.forgotten_at is not None or person.handle.startswith("forgotten-"):
        if identity is not None:
            session.delete(identity)
        return
    if identity is None:
        session.add(PersonIdentity(person_id=person.id, platform=SLACK, workspace=SLACK_WORKSPACE,
                                   external_id=person.handle, conversation_id=person.dm_channel_id,
                                   created_at=now))
        return
    if (identity.external_id, identity.conversation_id) != (person.handle, person.dm_channel_id):
        identity.external_id, identity.conversation_id = person.handle, person.dm_channel_id
        session.add(identity)


@dataclass(frozen=True)
class Place:
    """Where a team meets, as plain data: a Slack channel, or a Teams channel or group chat
    (its tenant as `workspace`, and the service URL the bot posts to there)."""

    platform: str
    place_id: str
    workspace: str = SLACK_WORKSPACE
    kind: str = "channel"  # channel | group_chat
    service_url: str | None = None

    @classmethod
    def slack(cls, channel_id: str) -> Place:
        return cls(SLACK, channel_id)


def set_place(session: Session, team: Team, place: Place, *, now: datetime, new: bool = False) -> None:
    """The team's place on `place`'s platform and workspace is `place` (made if missing, moved if
    the team changed channel; a row another team held for that place is handed over, as a team
    set up again in its old channel takes it back). `new`: the team was just made, so nothing of
    its own is looked up (a roster import makes hundreds)."""
    assert team.id is not None
    mine = None if new else session.exec(select(TeamPlace).where(
        TeamPlace.team_id == team.id, TeamPlace.platform == place.platform,
        TeamPlace.workspace == place.workspace)).first()
    if mine is None and place.platform != SLACK:
        mine = session.exec(select(TeamPlace).where(
            TeamPlace.platform == place.platform, TeamPlace.workspace == place.workspace,
            TeamPlace.place_id == place.place_id)).first()
    if mine is None:
        session.add(TeamPlace(team_id=team.id, platform=place.platform, workspace=place.workspace,
                              place_id=place.place_id, kind=place.kind, service_url=place.service_url, created_at=now))
        return
    changed = (mine.team_id, mine.place_id, mine.kind, mine.service_url) != (
        team.id, place.place_id, place.kind, place.service_url or mine.service_url)
    if changed:
        mine.team_id, mine.place_id, mine.kind = team.id, place.place_id, place.kind
        mine.service_url = place.service_url or mine.service_url
        session.add(mine)
