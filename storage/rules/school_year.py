"""School years as dates: which year a day belongs to, its label, and the retention cutoff.

A school year starts on a month and day (PLCBOT_SCHOOL_YEAR_START, 08-01 by default) until
`plcbot year close` records real start days for a school; both cases come down to a start
date here, so retention and the year's figures agree on where a year begins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class YearSpan:
    """One school year: `starts_on` inclusive; `ends_on` None while the year is open."""

    starts_on: date
    ends_on: date | None = None

    @property
    def label(self) -> str:
        return label_for(self.starts_on)

    def contains(self, day: date) -> bool:
        return day >= self.starts_on and (self.ends_on is None or day <= self.ends_on)


def label_for(starts_on: date) -> str:
    """"2026-27" for a year starting in 2026 (a calendar-year school gives "2027" alone)."""
    if (starts_on.month, starts_on.day) == (1, 1):
        return str(starts_on.year)
    return f"{starts_on.year}-{(starts_on.year + 1) % 100:02d}"


def default_start(day: date, start: tuple[int, int]) -> date:
    """The first day of the default school year that `day` falls in."""
    month, dom = start
    this_year = date(day.year, month, dom)
    return this_year if day >= this_year else date(day.year - 1, month, dom)


def years_back(day: date, years: int) -> date:
    """The same day `years` calendar years earlier (28 February for a 29 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def retention_cutoff(current_start: date, retention_years: int) -> date:
    """Records dated before this day are past retention.

    A record belongs to the school year it was made in; it is kept through that year and
    `retention_years` more, and deleted once the next one starts. With 3 years and a current
    year that started 2026-08-01, the cutoff is 2023-08-01: 2022-23's answers go, 2023-24's stay.
    """
    return years_back(current_start, retention_years)


def next_start(ends_on: date) -> date:
    return ends_on + timedelta(days=1)


# ------------------------------------------------------------------------------ closing a year
MIN_YEAR_DAYS = 180
"""A year shorter than this is not closed: closes come once a year, so a second close within
months of the last one is a re-run (or a wrong `--on`), and must change nothing."""


@dataclass(frozen=True)
class RecordedYear:
    """A school's `SchoolYear` row as plain data (what `plan_close` decides from)."""

    label: str
    starts_on: date
    ends_on: date | None
    closed: bool
    closed_by: str = ""
    closed_on: date | None = None
    workbook: str = ""


@dataclass(frozen=True)
class ClosePlan:
    """What `plcbot year close` will do for one school.

    `action` is "close" (close `closing`, the next year starts the day after), "already" (the
    year containing the day is closed: change nothing) or "refuse" (`reason` names the problem).
    """

    action: str
    reason: str = ""
    closing: YearSpan | None = None
    closed: RecordedYear | None = None  # for "already": the year that was closed before

    @property
    def next_start(self) -> date | None:
        return next_start(self.closing.ends_on) if self.closing and self.closing.ends_on else None


def plan_close(*, on: date, today: date, years: list[RecordedYear], default: tuple[int, int],
               created_on: date | None = None) -> ClosePlan:
    """Which year closing on `on` (its last day) means, or why it is already closed or refused.

    The year closed is the one `on` falls in: the school's open recorded year, else the default
    year around `on` (so an admin who forgot to close in June can still close it in August with
    `--on` the last day of school). `today` is the school's local date.
    """
    if on > today:
        return ClosePlan("refuse", f"--on {on} is in the future (today is {today} there); give the year's last day")
    rows = sorted(years, key=lambda y: y.starts_on)
    for row in rows:
        if row.closed and row.ends_on is not None and row.starts_on <= on <= row.ends_on:
            return ClosePlan("already", closed=row)
    latest = rows[-1] if rows else None
    if latest is not None and on < latest.starts_on:
        return ClosePlan("refuse", f"--on {on} is before the current school year began ({latest.starts_on})")
    if created_on is not None and on < created_on:
        return ClosePlan("refuse", f"--on {on} is before the school was set up ({created_on})")
    if latest is None:
        start = default_start(on, default)
    elif not latest.closed:
        start = latest.starts_on
    else:  # closed with no successor recorded (not written by `year close`, which records both)
        start = max(default_start(on, default), next_start(latest.ends_on or on))
    days = (on - start).days + 1
    if days < MIN_YEAR_DAYS:
        before = [y for y in rows if y.closed and y.ends_on is not None and y.ends_on < on]
        if before:
            return ClosePlan("already", closed=before[-1],
                             reason=f"the current year began on {start}, only {days} days before {on}")
        return ClosePlan("refuse", f"--on {on}: the school year it falls in began on {start}, only {days} "
                                   f"days earlier; give the last day of the year to close "
                                   f"(e.g. --on {start - timedelta(days=1)})")
    return ClosePlan("close", closing=YearSpan(start, on))
