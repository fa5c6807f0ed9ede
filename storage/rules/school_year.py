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
