"""Check-in rounds, each teacher's check-in and answer, and support requests.

Every write is idempotent on a unique key: a round per (cycle, week), a check-in per
(round, person), a support request per check-in. Two processes, two clicks or a Slack retry
end with one row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from storage.models import Checkin, CheckinRound, Cycle, Person, SupportRequest
from storage.people import hold_person, person_ref
from storage.rules import cycles as rules

T = TypeVar("T", bound=SQLModel)
SUPPORT_STATES = ("open", "following_up", "resolved")


class CheckinError(Exception):
    """A click or form that cannot apply (not yours, the round closed…); shown to the user."""


def _insert_or_get(session: Session, row: T, find: Callable[[], T | None]) -> tuple[T, bool]:
    existing = find()
    if existing is not None:
        return existing, False
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another process or thread added it first
        found = find()
        assert found is not None
        return found, False
    return row, True


def get_round(session: Session, *, cycle_id: int, week: int) -> CheckinRound | None:
    return session.exec(
        select(CheckinRound).where(CheckinRound.cycle_id == cycle_id, CheckinRound.week == week)
    ).first()


def open_round(session: Session, *, cycle: Cycle, week: int, local_day: date, now: datetime,
               closes_at: datetime) -> CheckinRound:
    """The week's round, created on the first run of its job and reused by every rerun."""
    row = CheckinRound(cycle_id=cycle.id or 0, team_id=cycle.team_id, week=week, local_day=local_day,
                       opened_at=now, closes_at=closes_at)
    found, _ = _insert_or_get(session, row, lambda: get_round(session, cycle_id=cycle.id or 0, week=week))
    return found


def skip_round(session: Session, *, cycle: Cycle, week: int, local_day: date, reason: str,
               now: datetime) -> CheckinRound:
    row = CheckinRound(cycle_id=cycle.id or 0, team_id=cycle.team_id, week=week, local_day=local_day,
                       opened_at=now, state="skipped", skip_reason=reason[:40], closed_at=now)
    found, _ = _insert_or_get(session, row, lambda: get_round(session, cycle_id=cycle.id or 0, week=week))
    return found


def ensure_checkins(session: Session, *, round_: CheckinRound, asked: list[Person],
                    away: list[Person], now: datetime) -> list[Checkin]:
    """One row per teacher asked (pending) or away (not asked, shown as away).

    Missing rows go in as one batch (a round may hold thousands); if another process added
    some meanwhile, the batch is rolled back to its savepoint and rows are added one by one.
    """
    existing = {c.person_id for c in session.exec(select(Checkin).where(Checkin.round_id == round_.id)).all()}
    wanted = [(p, "pending") for p in asked] + [(p, "away") for p in away]
    missing = [
        Checkin(round_id=round_.id or 0, cycle_id=round_.cycle_id, person_id=p.id or 0,
                week=round_.week, status=status, created_at=now)
        for p, status in wanted if p.id not in existing
    ]
    if missing:
        try:
            with session.begin_nested():
                session.add_all(missing)
        except IntegrityError:
            for row in missing:
                fresh = Checkin(**row.model_dump(exclude={"id"}))

                def find(r: Checkin = fresh) -> Checkin | None:
                    return session.exec(select(Checkin).where(Checkin.round_id == r.round_id,
                                                              Checkin.person_id == r.person_id)).first()

                _insert_or_get(session, fresh, find)
    return round_checkins(session, round_id=round_.id or 0)


def round_checkins(session: Session, *, round_id: int) -> list[Checkin]:
    return list(session.exec(select(Checkin).where(Checkin.round_id == round_id).order_by(col(Checkin.id))).all())


def record_delivery(session: Session, *, checkin_id: int, state: str, channel_id: str | None,
                    ts: str | None, error: str | None) -> Checkin | None:
    """Copy a delivery's outcome onto the check-in (sent: where it is; failed: why)."""
    row = session.get(Checkin, checkin_id)
    if row is None:
        return None
    if state == "sent":
        row.status, row.channel_id, row.ts, row.error = "sent", channel_id, ts, None
    elif state == "failed":
        row.status, row.error = "failed", (error or "failed")[:200]
    session.add(row)
    return row


@dataclass(frozen=True)
class Change:
    """What a click or the details form sets; None leaves a field as it is."""

    progress: str | None = None
    value: float | None = None
    evidence: str | None = None
    support: str | None = None
    details: bool = False  # from the form: empty fields clear what was there


def record_answer(session: Session, *, checkin_id: int, person_id: int | None, change: Change,
                  now: datetime, handle: str | None = None) -> tuple[Checkin, SupportRequest | None]:
    """Store a teacher's answer on their check-in (the same click twice stores it once).

    A support request exists while the answer is "stuck" or names a support; changing the
    answer before facilitators were told withdraws it.

    The person is held first (`storage.people.hold_person`): a link of them landing at the same
    moment either waits for this answer, then moves it with the rest, or goes first, and the
    answer is then stored for the merged person (found by `handle`, the name the actor was loaded
    by), never refused nor left naming the row the link dropped.
    """
    person_id = hold_person(session, person_id, handle)
    row = session.exec(select(Checkin).where(Checkin.id == checkin_id).with_for_update()).first()
    cycle = check_answerable(session, row, person_id=person_id)
    assert row is not None
    if change.progress is not None:
        if change.progress not in rules.PROGRESS:
            raise CheckinError("That answer isn't one of the choices.")
        row.progress = change.progress
    if change.details:
        row.value = change.value
        row.evidence = (change.evidence or "").strip()[:3000] or None
        row.support = (change.support or "").strip()[:3000] or None
    if row.answered_at is None or change.progress is not None or change.details:
        row.answered_at = now
    if row.status in ("pending", "failed"):
        row.status = "sent"  # they are answering it, so it reached them
    session.add(row)
    request = _sync_support(session, row, cycle, now)
    return row, request


def check_answerable(session: Session, row: Checkin | None, *, person_id: int | None) -> Cycle:
    """Raise CheckinError unless person `person_id` may answer this check-in now; returns its cycle.

    Read-only: handlers call it before they acknowledge a form, `record_answer` again inside
    its write transaction.
    """
    if row is None or person_id is None or row.person_id != person_id:
        raise CheckinError("That check-in isn't yours, so nothing was changed.")
    round_ = session.get(CheckinRound, row.round_id)
    cycle = session.get(Cycle, row.cycle_id)
    if cycle is None or cycle.status == "ended":
        raise CheckinError("That cycle has ended, so its check-ins are closed.")
    if round_ is not None and round_.state == "closed" and row.answered_at is None:
        raise CheckinError(f"Week {row.week}'s check-in has closed; your next one comes next week.")
    return cycle


def _sync_support(session: Session, row: Checkin, cycle: Cycle, now: datetime) -> SupportRequest | None:
    wants = row.progress == "stuck" or bool(row.support)
    existing = session.exec(select(SupportRequest).where(SupportRequest.checkin_id == row.id)).first()
    if not wants:
        if existing is not None and existing.sent_at is None:
            session.delete(existing)
            return None
        return existing
    if existing is not None:
        return existing
    request = SupportRequest(checkin_id=row.id or 0, team_id=cycle.team_id, cycle_id=cycle.id or 0,
                             person_id=row.person_id, created_at=now, updated_at=now)
    found, _ = _insert_or_get(session, request, lambda: session.exec(
        select(SupportRequest).where(SupportRequest.checkin_id == row.id)).first())
    return found


def support_for(session: Session, *, checkin_id: int) -> SupportRequest | None:
    return session.exec(select(SupportRequest).where(SupportRequest.checkin_id == checkin_id)).first()


def unsent_support(session: Session, *, cycle_id: int, week: int) -> list[tuple[SupportRequest, Checkin]]:
    rows = session.exec(
        select(SupportRequest, Checkin).join(Checkin, col(Checkin.id) == SupportRequest.checkin_id)
        .where(SupportRequest.cycle_id == cycle_id, Checkin.week == week)
        .order_by(col(SupportRequest.id))
    ).all()
    return [(s, c) for s, c in rows]


def mark_support_sent(session: Session, *, request_id: int, now: datetime) -> None:
    row = session.get(SupportRequest, request_id)
    if row is not None and row.sent_at is None:
        row.sent_at = now
        session.add(row)


def move_support(session: Session, *, request_id: int, to: str, user_id: str, now: datetime) -> SupportRequest:
    """open → following_up → resolved; "Resolved" straight from open is allowed, backwards is not."""
    if to not in SUPPORT_STATES:
        raise CheckinError("Unknown support state.")
    row = session.exec(select(SupportRequest).where(SupportRequest.id == request_id).with_for_update()).first()
    if row is None:
        raise CheckinError("That support request no longer exists (the teacher changed their answer).")
    if SUPPORT_STATES.index(to) < SUPPORT_STATES.index(row.state):
        return row  # a late click on an older message: keep the further state
    if to == "following_up" and row.follower_id is None:
        row.follower_id = person_ref(session, user_id, now=now)
    if to == "resolved" and row.resolved_at is None:
        row.resolved_at = now
        row.follower_id = row.follower_id or person_ref(session, user_id, now=now)
    row.state, row.updated_at = to, now
    session.add(row)
    return row


def unanswered(session: Session, *, round_id: int) -> list[Checkin]:
    return list(session.exec(
        select(Checkin).where(Checkin.round_id == round_id, Checkin.status == "sent",
                              col(Checkin.answered_at).is_(None))
        .order_by(col(Checkin.id))
    ).all())


def mark_reminded(session: Session, *, checkin_id: int, now: datetime) -> None:
    row = session.get(Checkin, checkin_id)
    if row is not None and row.reminded_at is None:
        row.reminded_at = now
        session.add(row)


def close_round(session: Session, *, round_id: int, now: datetime) -> CheckinRound | None:
    row = session.get(CheckinRound, round_id)
    if row is not None and row.state == "open":
        row.state, row.closed_at = "closed", now
        session.add(row)
    return row


def open_rounds(session: Session) -> list[CheckinRound]:
    return list(session.exec(select(CheckinRound).where(CheckinRound.state == "open")).all())
