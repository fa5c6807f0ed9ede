"""Norms actions: edit the team's norms (a form: check, then write) and commit to them.

Each takes who (an `Actor`, loaded inside the caller's transaction), the team and plain data
(the norms already cleaned by `storage.rules.agenda.clean_norms`), checks the role, writes and
returns what changed, with the notice the team's place is owed (ledger key `scheduling.keys.norms`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from handlers.core import ActionResult, Notice
from handlers.errors import UserError
from scheduling import keys
from storage import norms as store
from storage.models import Person, Team
from storage.people import slack_ids
from storage.rules.agenda import day_label
from storage.rules.roles import Action, Actor, require
from storage.views.norms import NormsChanged

NOT_A_MEMBER = "Only members of this team commit to its norms."
MEMBERS_SEE = "Only members of this team (and its school's leaders) can see its norms here."
STALE = ("These norms have changed since this message was posted. "
         "Run `/plc norms` to see the current ones and commit to them.")


@dataclass(frozen=True)
class NormsResult(ActionResult):
    version: int | None = None  # the new version; None: nothing changed (a double submit)


@dataclass(frozen=True)
class CommitResult(ActionResult):
    added: bool = False  # False: already committed (a double click)


def check_norms(session: Session, actor: Actor, *, team_id: int | None) -> Team:
    """Read-only: may `actor` edit this team's norms? Returns the team."""
    team = session.get(Team, team_id) if team_id else None
    if team is None or team.archived_at is not None:
        raise UserError("This team no longer exists.")
    require(actor, Action.EDIT_NORMS, team_id=team.id, school_id=team.school_id)
    return team


def write_norms(session: Session, actor: Actor, team: Team, *, norms: list[str], now: datetime) -> NormsResult:
    """Save the norms as a new revision (none when unchanged); everyone is asked to commit again."""
    assert team.id is not None
    require(actor, Action.EDIT_NORMS, team_id=team.id, school_id=team.school_id)
    revision = store.save_norms(session, team_id=team.id, norms=norms, by=actor.handle, now=now)
    if revision is None:
        return NormsResult(reply="The norms are unchanged.")
    done, pending = store.commitment_status(session, team_id=team.id, version=revision.version)
    by = session.exec(select(Person).where(Person.handle == actor.handle)).first()
    view = NormsChanged(team_id=team.id, team_name=team.name, norms=tuple(norms), version=revision.version,
                        changed_by=actor.handle, changed_by_name=(by.name if by is not None else "") or "",
                        committed=len(done), members=len(done) + len(pending))
    return NormsResult(reply=f"The norms are saved (version {revision.version}).",
                       changed=(f"norms v{revision.version}",), version=revision.version,
                       notices=(Notice(view=view, team_id=team.id, key=keys.norms(team.id, revision.version)),))


def commit_norms(session: Session, actor: Actor, *, team_id: int, version: int, now: datetime) -> CommitResult:
    """Record "I commit to these norms" for `version`; refused (`UserError`) to non-members and old versions."""
    team = session.get(Team, team_id)
    person = session.exec(select(Person).where(Person.handle == actor.handle)).first()
    if team is None or team_id not in actor.member_of or person is None or person.id is None:
        raise UserError(NOT_A_MEMBER)
    if version != store.current_version(session, team_id=team_id):
        raise UserError(STALE)
    added = store.commit(session, team_id=team_id, person_id=person.id, version=version, now=now)
    return CommitResult(reply="Thank you: you have committed to the team's norms." if added
                        else "You have already committed to these norms.",
                        changed=(f"committed to v{version}",) if added else (), added=added)


def require_member(actor: Actor, team: Team) -> None:
    """Raise `UserError` unless `actor` is in the team or leads its school (who may see its norms)."""
    if actor.role_in(team_id=team.id, school_id=team.school_id) is None:
        raise UserError(MEMBERS_SEE)


def norms_history(session: Session, actor: Actor, *, team: Team) -> list[tuple[int, str, str, str]]:
    """`norms history`: the latest changes, newest first, as (version, the day in the team's time
    zone, who changed them (person id), the change in words); for the team and its school's leaders."""
    assert team.id is not None
    require_member(actor, team)
    zone = ZoneInfo(team.timezone)
    revisions = store.history(session, team_id=team.id)
    who = slack_ids(session, [r.changed_by_id for r in revisions])
    return [(r.version, day_label(r.changed_at.astimezone(zone).date()), who.get(r.changed_by_id or 0, ""), r.summary)
            for r in revisions]


def norms_as_they_stand(session: Session, *, team: Team) -> NormsChanged:
    """The team's norms as they stand, with how many members have committed to this version: the
    same view model as a change's announcement, with nobody named as the changer, which both
    fronts render as the plain norms post with its commit button. (Who may see them is the
    caller's `require_member`; the refresh of a posted one after a commit needs no check.)"""
    assert team.id is not None
    norms = store.current_norms(session, team_id=team.id)
    version = store.current_version(session, team_id=team.id)
    done, pending = store.commitment_status(session, team_id=team.id, version=version)
    return NormsChanged(team_id=team.id, team_name=team.name, norms=tuple(norms), version=version, changed_by="",
                        committed=len(done), members=len(done) + len(pending))


@dataclass(frozen=True)
class Commitments:
    """`norms who`: who has committed to the current version and who not yet (person handles)."""

    version: int
    committed: list[str]
    pending: list[str]


def commitments(session: Session, actor: Actor, *, team: Team) -> Commitments:
    """`norms who`, for the team's facilitators (and its school's leaders)."""
    assert team.id is not None
    require(actor, Action.EDIT_NORMS, team_id=team.id, school_id=team.school_id)
    version = store.current_version(session, team_id=team.id)
    done, pending = store.commitment_status(session, team_id=team.id, version=version)
    return Commitments(version, list(done), list(pending))
