"""School hours: when the bot may reach a person, in their team's time zone.

Nothing scheduled may reach a teacher at night or on a weekend; work that falls due outside
school hours waits for the next opening instead of being dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_SPEC = re.compile(
    r"^\s*(?P<d1>[a-z]{3})(?:\s*-\s*(?P<d2>[a-z]{3}))?\s+(?P<t1>\d{1,2}:\d{2})\s*-\s*(?P<t2>\d{1,2}:\d{2})\s*$"
)


@dataclass(frozen=True)
class SchoolHours:
    weekdays: frozenset[int]  # 0 = Monday
    opens: time
    closes: time

    def is_open(self, local: datetime) -> bool:
        return local.weekday() in self.weekdays and self.opens <= local.time() < self.closes

    def next_open(self, when: datetime, tz: ZoneInfo | str) -> datetime:
        """The first moment at or after `when` (aware) that falls within school hours.

        Returns an aware datetime in UTC. Computed in local wall-clock time, so a
        daylight-saving change moves the UTC instant, not the local opening hour.
        """
        zone = ZoneInfo(tz) if isinstance(tz, str) else tz
        local = when.astimezone(zone)
        for offset in range(0, 15):
            day = (local + timedelta(days=offset)).date()
            if day.weekday() not in self.weekdays:
                continue
            opening = datetime.combine(day, self.opens, tzinfo=zone)
            closing = datetime.combine(day, self.closes, tzinfo=zone)
            if offset == 0:
                if local < opening:
                    return opening.astimezone(ZoneInfo("UTC"))
                if local < closing:
                    return when.astimezone(ZoneInfo("UTC"))
                continue
            return opening.astimezone(ZoneInfo("UTC"))
        raise ValueError("school hours have no open day")

    def __str__(self) -> str:
        days = sorted(self.weekdays)
        label = ",".join(DAYS[d].title() for d in days)
        if days == list(range(days[0], days[-1] + 1)) and len(days) > 1:
            label = f"{DAYS[days[0]].title()}-{DAYS[days[-1]].title()}"
        return f"{label} {self.opens:%H:%M}-{self.closes:%H:%M}"


def parse_school_hours(spec: str) -> SchoolHours:
    """Parse 'Mon-Fri 07:00-18:00' (or 'Mon 08:00-15:00'); raise ValueError with a hint."""
    hint = "use the form 'Mon-Fri 07:00-18:00'"
    m = _SPEC.match(spec.lower())
    if not m:
        raise ValueError(f"{spec!r} is not a school-hours range; {hint}.")
    d1, d2 = m["d1"], m["d2"] or m["d1"]
    if d1 not in DAYS or d2 not in DAYS:
        raise ValueError(f"{spec!r} names an unknown weekday; {hint}.")
    start, end = DAYS.index(d1), DAYS.index(d2)
    if end < start:
        raise ValueError(f"{spec!r}: the days run backwards; {hint}.")
    try:
        opens = time.fromisoformat(m["t1"].zfill(5))
        closes = time.fromisoformat(m["t2"].zfill(5))
    except ValueError:
        raise ValueError(f"{spec!r} has an impossible time; {hint}.") from None
    if closes <= opens:
        raise ValueError(f"{spec!r}: school must close after it opens; {hint}.")
    return SchoolHours(frozenset(range(start, end + 1)), opens, closes)
