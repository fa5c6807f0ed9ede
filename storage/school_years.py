"""Which school year a school is in: its newest `SchoolYear` row, or the default start day;
and closing a year (`plcbot year close`): the closed row, the next open one, the audit entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import cast

from sqlalchemy import func
from sqlmodel import Session, col, select

from storage.models import Cycle, School, SchoolYear, Team
from storage.people import slack_ids
from storage.rules.school_year import (
    ClosePlan,
    RecordedYear,
    YearSpan,
    default_start,
    label_for,
    next_start,
    plan_close,
)
from storage.teams import actor_person, audit

OPEN_CYCLE = ("active", "paused")


def current_years(session: Session, *, today: dict[int, date], default: tuple[int, int]) -> dict[int, YearSpan]:
    """Each school's current year on its local `today` (school id -> date), in one query.

    The newest recorded year that has started wins; before a school's first `year close` the
    year runs from the default start day (PLCBOT_SCHOOL_YEAR_START). A closed year with no
    successor yet gives way to the default year that follows it.
    """
    rows = session.exec(
        select(SchoolYear).where(col(SchoolYear.school_id).in_(list(today)))
        .order_by(col(SchoolYear.school_id), col(SchoolYear.starts_on))
    ).all()
    newest: dict[int, SchoolYear] = {}
    for row in rows:
        if row.starts_on <= today[row.school_id]:
            newest[row.school_id] = row
    out: dict[int, YearSpan] = {}
    for school_id, day in today.items():
        year = newest.get(school_id)
        if year is None:
            out[school_id] = YearSpan(default_start(day, default))
        elif year.closed_at is None:
            out[school_id] = YearSpan(year.starts_on)
        elif year.ends_on is not None and day > year.ends_on:
            out[school_id] = YearSpan(max(default_start(day, default), year.ends_on + timedelta(days=1)))
        else:
            out[school_id] = YearSpan(year.starts_on, year.ends_on)
    return out


def current_year(session: Session, *, school_id: int, today: date, default: tuple[int, int]) -> YearSpan:
    return current_years(session, today={school_id: today}, default=default)[school_id]


# ------------------------------------------------------------------------------ digests' bounds
def year_starts(session: Session, *, school_ids: Iterable[int], on: date) -> dict[int, date]:
    """The first day of the school year `on` falls in, for each school that has closed a year
    before it (one query): the day after its newest closed year ending before `on`.

    Digests, the year export and the Home tab count carried-over things (open support requests,
    open action items, cycles) only from this day, so a new year never shows last year's. A
    school that has never closed a year has no bound: its figures are as they always were.
    """
    ids = list(school_ids)
    if not ids:
        return {}
    rows = session.exec(
        select(SchoolYear.school_id, func.max(SchoolYear.ends_on))
        .where(col(SchoolYear.school_id).in_(ids), col(SchoolYear.closed_at).is_not(None),
               col(SchoolYear.ends_on).is_not(None), col(SchoolYear.ends_on) < on)
        .group_by(col(SchoolYear.school_id))
    ).all()
    return {school_id: next_start(ends_on) for school_id, ends_on in rows if ends_on is not None}


# ------------------------------------------------------------------------------ closing a year
def recorded_years(session: Session, *, school_id: int) -> list[RecordedYear]:
    rows = session.exec(
        select(SchoolYear).where(SchoolYear.school_id == school_id).order_by(col(SchoolYear.starts_on))
    ).all()
    closers = slack_ids(session, [r.closed_by_id for r in rows])
    return [RecordedYear(r.label, r.starts_on, r.ends_on, r.closed_at is not None,
                         closers.get(r.closed_by_id or 0, r.closed_by_label),
                         r.closed_at.date() if r.closed_at else None, r.workbook) for r in rows]


def close_plan(session: Session, *, school: School, on: date, today: date, default: tuple[int, int]) -> ClosePlan:
    created = school.created_at.date() if school.created_at else None
    return plan_close(on=on, today=today, years=recorded_years(session, school_id=school.id or 0),
                      default=default, created_on=created)


def cycles_to_end(session: Session, *, school_id: int, last_day: date) -> list[int]:
    """The school's open (active or paused) cycles that began by the year's last day, archived
    teams' too. A cycle starting after it belongs to the next year and runs on."""
    # A stored row's primary key is never NULL (`id` is `int | None` only before an insert).
    return cast("list[int]", list(session.exec(
        select(col(Cycle.id)).join(Team, col(Team.id) == Cycle.team_id)
        .where(Team.school_id == school_id, col(Cycle.status).in_(OPEN_CYCLE), col(Cycle.start_date) <= last_day)
        .order_by(col(Cycle.id))
    ).all()))


def record_close(session: Session, *, school_id: int, on: date, today: date, default: tuple[int, int],
                 now: datetime, closed_by: str, workbook: str, detail: str = "",
                 ) -> tuple[ClosePlan, SchoolYear | None, SchoolYear | None]:
    """Record the closed year and open the next one, in the caller's transaction.

    The school row is locked and the plan made again from fresh rows first: of two closes run
    at once, the second finds the year closed and writes nothing. Returns the plan and, when it
    closed, the closed and the new open row.
    """
    school = session.exec(select(School).where(School.id == school_id).with_for_update()).one()
    plan = close_plan(session, school=school, on=on, today=today, default=default)
    if plan.action != "close" or plan.closing is None:
        return plan, None, None
    span = plan.closing
    row = session.exec(
        select(SchoolYear).where(SchoolYear.school_id == school_id, SchoolYear.starts_on == span.starts_on)
    ).first()
    if row is None:
        row = SchoolYear(school_id=school_id, label=span.label, starts_on=span.starts_on)
    row.label, row.ends_on, row.closed_at = span.label, span.ends_on, now
    row.closed_by_id = actor_person(session, closed_by)
    row.closed_by_label = "" if row.closed_by_id is not None else closed_by[:255]
    row.workbook = workbook[:500]
    session.add(row)
    following = next_start(on)
    upcoming = SchoolYear(school_id=school_id, label=label_for(following), starts_on=following)
    session.add(upcoming)
    session.flush()
    audit(session, actor=closed_by, action="year.close", target=f"school:{school_id}",
          detail=detail or f"{span.label} {span.starts_on}..{on}; next year from {following}", at=now,
          school_id=school_id)
    return plan, row, upcoming


def all_years(session: Session, *, school_ids: Iterable[int]) -> list[SchoolYear]:
    """The recorded years of these schools, oldest first (for `plcbot year list`)."""
    return list(session.exec(
        select(SchoolYear).where(col(SchoolYear.school_id).in_(list(school_ids)))
        .order_by(col(SchoolYear.school_id), col(SchoolYear.starts_on))
    ).all())
