"""Learning-cycle arithmetic: which week it is and which phase the team is in."""

from __future__ import annotations

from datetime import date

PHASES = ("plan", "deliver/engage", "reflect/adjust")


def cycle_week(start: date, weeks: int, today: date) -> int | None:
    """Week number (1-based) of `today` in a cycle starting on `start`; None outside the cycle."""
    if today < start:
        return None
    week = (today - start).days // 7 + 1
    return week if week <= weeks else None


def phase(week: int, weeks: int) -> str:
    """Plan in the first week, reflect/adjust in the last, deliver/engage in between."""
    if week <= 1:
        return PHASES[0]
    if week >= weeks:
        return PHASES[2]
    return PHASES[1]
