"""A team's norms, their history and who committed to them.

Every change writes a revision with the whole list, so the history says who changed what and
when, and an audit entry (who, which version, "added 1, removed 2"); commitments are to one
revision, so after a change everyone is asked again.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from storage.models import Membership, Norm, NormCommitment, NormRevision, Person
from storage.people import person_ref
from storage.rules.agenda import norms_change_summary
from storage.teams import audit


def current_norms(session: Session, *, team_id: int) -> list[str]:
    rows = session.exec(select(Norm).where(Norm.team_id == team_id).order_by(col(Norm.position))).all()
    return [r.text for r in rows]


def current_version(session: Session, *, team_id: int) -> int:
    """0 while the team has never written norms."""
    row = session.exec(
        select(NormRevision.version).where(NormRevision.team_id == team_id)
        .order_by(col(NormRevision.version).desc())
    ).first()
    return int(row or 0)


def save_norms(session: Session, *, team_id: int, norms: list[str], by: str, now: datetime) -> NormRevision | None:
    """Replace the team's norms; None when nothing changed (a double submit stores one revision)."""
    old = current_norms(session, team_id=team_id)
    if old == norms:
        return None
    version = current_version(session, team_id=team_id) + 1
    revision = NormRevision(
        team_id=team_id, version=version, norms=json.dumps(norms),
        summary=norms_change_summary(old, norms), changed_by_id=person_ref(session, by, now=now), changed_at=now,
    )
    session.add(revision)
    session.flush()  # the unique (team, version) refuses a concurrent second revision here
    # Who changed the norms and how much, never the norms' words (the revision keeps those).
    audit(session, actor=by, action="norms.edit", target=f"team:{team_id}",
          detail=f"version {version}: {revision.summary}", at=now)
    session.exec(delete(Norm).where(col(Norm.team_id) == team_id))  # type: ignore[call-overload]
    session.flush()
    for position, text in enumerate(norms, start=1):
        session.add(Norm(team_id=team_id, position=position, text=text, version=version, updated_at=now))
    return revision


def history(session: Session, *, team_id: int, limit: int = 10) -> list[NormRevision]:
    return list(session.exec(
        select(NormRevision).where(NormRevision.team_id == team_id)
        .order_by(col(NormRevision.version).desc()).limit(limit)
    ).all())


def commit(session: Session, *, team_id: int, person_id: int, version: int, now: datetime) -> bool:
    """Record a commitment; False when it was already recorded (a double click)."""
    exists = session.exec(select(NormCommitment).where(
        NormCommitment.team_id == team_id, NormCommitment.person_id == person_id,
        NormCommitment.version == version,
    )).first()
    if exists is not None:
        return False
    try:
        with session.begin_nested():
            session.add(NormCommitment(team_id=team_id, person_id=person_id, version=version, committed_at=now))
    except IntegrityError:
        return False
    return True


def commitment_status(session: Session, *, team_id: int, version: int) -> tuple[list[str], list[str]]:
    """(committed, not yet) Slack ids among the team's active members, for the current version."""
    members = session.exec(
        select(Person.id, Person.handle)
        .join(Membership, col(Membership.person_id) == Person.id)
        .where(Membership.team_id == team_id, col(Membership.active).is_(True), col(Person.active).is_(True))
        .order_by(col(Person.name))
    ).all()
    committed_ids = set(session.exec(
        select(NormCommitment.person_id).where(
            NormCommitment.team_id == team_id, NormCommitment.version == version)
    ).all())
    done = [uid for pid, uid in members if pid in committed_ids]
    pending = [uid for pid, uid in members if pid not in committed_ids]
    return done, pending
