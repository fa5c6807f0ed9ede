"""Dates as people type them: `2026-12-03`, `Dec 3`, `3 December`, `friday`, `tomorrow`, `today`.

Always relative to a local `today` (the team's time zone); a date without a year means its next
occurrence. Anything else raises ValueError with a message that shows the accepted forms.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

FORMS = "a date like 2026-12-03, Dec 3, friday, today or tomorrow"
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def parse_date(text: str, *, today: date) -> date:
    raw = (text or "").strip().lower().rstrip(".")
    if not raw:
        raise ValueError(f"Give {FORMS}.")
    if raw == "today":
        return today
    if raw == "tomorrow":
        return today + timedelta(days=1)
    if raw.startswith("next "):
        raw = raw[5:]
        day = _weekday(raw)
        if day is not None:
            ahead = (day - today.weekday()) % 7 or 7
            return today + timedelta(days=ahead)
    day = _weekday(raw)
    if day is not None:
        ahead = (day - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead)
    if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", raw):
        try:
            y, mo, d = (int(p) for p in raw.split("-"))
            return date(y, mo, d)
        except ValueError:
            raise ValueError(f"{text.strip()!r} is not a real date; give {FORMS}.") from None
    month: int | None
    found = re.fullmatch(r"([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?", raw)
    if found:
        month, dnum, year = _month(found[1]), int(found[2]), found[3]
    else:
        found = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]+)\.?(?:,?\s+(\d{4}))?", raw)
        month, dnum, year = (_month(found[2]), int(found[1]), found[3]) if found else (None, 0, None)
    if month is not None:
        try:
            if year:
                return date(int(year), month, dnum)
            candidate = date(today.year, month, dnum)
            return candidate if candidate >= today else date(today.year + 1, month, dnum)
        except ValueError:
            raise ValueError(f"{text.strip()!r} is not a real date; give {FORMS}.") from None
    raise ValueError(f"I couldn't read {text.strip()[:40]!r} as a date; give {FORMS}.")


def _weekday(word: str) -> int | None:
    for i, name in enumerate(_WEEKDAYS):
        if word in (name, name[:3]) or (len(word) >= 3 and name.startswith(word)):
            return i
    return None


def _month(word: str) -> int | None:
    if len(word) < 3:
        return None
    for i, name in enumerate(_MONTHS):
        if word.startswith(name):
            return i + 1
    return None
