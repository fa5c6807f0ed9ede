"""Which school year a school is in: its newest `SchoolYear` row, or the default start day."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session, col, select

from storage.models import SchoolYear
from storage.rules.school_year import YearSpan, default_start


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
        row = newest.get(school_id)
        if row is None:
            out[school_id] = YearSpan(default_start(day, default))
        elif row.closed_at is None:
            out[school_id] = YearSpan(row.starts_on)
        elif row.ends_on is not None and day > row.ends_on:
            out[school_id] = YearSpan(max(default_start(day, default), row.ends_on + timedelta(days=1)))
        else:
            out[school_id] = YearSpan(row.starts_on, row.ends_on)
    return out


def current_year(session: Session, *, school_id: int, today: date, default: tuple[int, int]) -> YearSpan:
    return current_years(session, today={school_id: today}, default=default)[school_id]
