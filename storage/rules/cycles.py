"""Learning-cycle rules as plain functions: which week it is, who is asked, what a week adds up to.

No Slack and no session: the Slack handlers, the scheduler and a later Microsoft Teams front
all call these with plain values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, time, timedelta

PHASES = ("plan", "deliver/engage", "reflect/adjust")
MIN_WEEKS, MAX_WEEKS = 4, 12
PROGRESS = ("on_track", "some_progress", "stuck")
PROGRESS_LABELS = {
    "on_track": "On track",
    "some_progress": "Some progress",
    "stuck": "Stuck, I'd like support",
}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# How long the window of a round stays open after the check-in is sent, at least.
MIN_WINDOW = timedelta(hours=48)
MAX_WINDOW = timedelta(days=6)
VALUE_LIMIT = 1e9


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


def checkin_day(start: date, week: int, weekday: int) -> date:
    """The day of week `week`'s check-in: the first `weekday` on or after that week's first day."""
    first = start + timedelta(days=7 * (week - 1))
    return first + timedelta(days=(weekday - first.weekday()) % 7)


def end_date(start: date, weeks: int) -> date:
    """The cycle's last day."""
    return start + timedelta(days=7 * weeks - 1)


def round_window(reminder_hours: int) -> timedelta:
    """How long a round stays open: past the reminder by a day, between two and six days."""
    return min(MAX_WINDOW, max(MIN_WINDOW, timedelta(hours=reminder_hours + 24)))


# ---------------------------------------------------------------------------- who is asked
@dataclass(frozen=True)
class Break:
    starts_on: date
    ends_on: date
    label: str = ""

    def covers(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on


@dataclass(frozen=True)
class Member:
    user_id: str
    active: bool = True  # the membership and the Slack account
    away_from: date | None = None
    away_until: date | None = None


def is_away(away_from: date | None, away_until: date | None, day: date) -> bool:
    """Away through `away_until` (inclusive), from `away_from` (or from whenever they said so)."""
    if away_until is None:
        return False
    return (away_from is None or away_from <= day) and day <= away_until


def break_on(breaks: Iterable[Break], day: date) -> Break | None:
    """The school break `day` falls in, or None: the one rule for check-ins and meetings alike."""
    return next((b for b in breaks if b.covers(day)), None)


def break_reason(breaks: Iterable[Break], day: date) -> str | None:
    """Why nothing is held on `day` ("break: Winter break"), or None when it is a school day.

    Check-in rounds and scheduled meetings store this same reason when a break skips them.
    """
    found = break_on(breaks, day)
    return None if found is None else f"break: {found.label}".strip().rstrip(":")[:40]


def break_label(reason: str | None) -> str | None:
    """The break named in a reason `break_reason` made ("Winter break", or "school break" when it
    has no label); None for any other reason (paused, cancelled by a person, ...)."""
    if reason is None or not (reason == "break" or reason.startswith("break:")):
        return None
    return reason.removeprefix("break").lstrip(":").strip() or "school break"


def is_paused(status: str, paused_until: date | None, day: date) -> bool:
    """A paused cycle skips check-ins through `paused_until` (inclusive), or until resumed."""
    if status != "paused":
        return False
    return paused_until is None or day <= paused_until


@dataclass(frozen=True)
class Recipients:
    asked: list[str]
    away: list[str]
    skipped_reason: str | None = None  # the whole round is skipped: "paused" or "break: …"


def recipients(members: Sequence[Member], *, day: date, breaks: Iterable[Break] = (),
               status: str = "active", paused_until: date | None = None) -> Recipients:
    """Who gets `day`'s check-in: active members not away, unless the cycle or school rests."""
    if is_paused(status, paused_until, day):
        return Recipients([], [], "paused")
    if status == "ended":
        return Recipients([], [], "ended")
    reason = break_reason(breaks, day)
    if reason is not None:
        return Recipients([], [], reason)
    asked: list[str] = []
    away: list[str] = []
    seen: set[str] = set()
    for m in members:
        if not m.active or m.user_id in seen:
            continue
        seen.add(m.user_id)
        (away if is_away(m.away_from, m.away_until, day) else asked).append(m.user_id)
    return Recipients(asked, away)


# ---------------------------------------------------------------------------- what a week adds up to
@dataclass(frozen=True)
class DataPoint:
    mean: float
    count: int


def week_point(values: Iterable[float | None]) -> DataPoint | None:
    """The week's data point: the mean of the values reported, with how many reported."""
    found = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not found:
        return None
    return DataPoint(sum(found) / len(found), len(found))


def response_rate(answered: int, asked: int) -> float | None:
    """Share of those asked who answered; None when nobody was asked (not 0%)."""
    if asked <= 0:
        return None
    return min(1.0, answered / asked)


@dataclass(frozen=True)
class Answer:
    """One teacher's answer, without who gave it."""

    progress: str | None
    value: float | None = None


@dataclass(frozen=True)
class RoundSummary:
    week: int
    asked: int
    answered: int
    away: int
    unreachable: int
    counts: dict[str, int] = field(default_factory=dict)  # progress -> how many
    point: DataPoint | None = None

    @property
    def rate(self) -> float | None:
        return response_rate(self.answered, self.asked)


def summarize_round(week: int, answers: Sequence[Answer], *, asked: int, away: int = 0,
                    unreachable: int = 0) -> RoundSummary:
    """A round's summary with no names: response rate, spread of answers, the data point."""
    answered = [a for a in answers if a.progress in PROGRESS]
    counts = {p: sum(1 for a in answered if a.progress == p) for p in PROGRESS}
    return RoundSummary(
        week=week,
        asked=asked,
        answered=len(answered),
        away=away,
        unreachable=unreachable,
        counts=counts,
        point=week_point(a.value for a in answers),
    )


def trend(baseline: float, target: float, latest: float | None) -> float | None:
    """How far from baseline to target the latest point is (0 = baseline, 1 = target)."""
    if latest is None or target == baseline:
        return None
    return (latest - baseline) / (target - baseline)


# ---------------------------------------------------------------------------- validating a cycle
@dataclass(frozen=True)
class CycleInput:
    """What a facilitator typed into the cycle form, still as text where people type text."""

    title: str
    goal: str
    strategy: str
    metric_name: str
    metric_unit: str
    baseline: str
    target: str
    start_date: str  # ISO date from a date picker
    weeks: str
    checkin_weekday: str  # "0".."6"
    checkin_time: str  # "HH:MM" from a time picker
    reminder_hours: str


@dataclass(frozen=True)
class CycleValues:
    title: str
    goal: str
    strategy: str
    metric_name: str
    metric_unit: str
    baseline: float
    target: float
    start_date: date
    weeks: int
    checkin_weekday: int
    checkin_time: str
    reminder_hours: int


@dataclass(frozen=True)
class Hours:
    """School hours as plain values (the rules do not import the scheduler)."""

    weekdays: frozenset[int]
    opens: time
    closes: time


def parse_number(text: str) -> float:
    """A number as teachers type it: `12`, `12.5`, `12,5`, `85%`; ValueError otherwise."""
    raw = (text or "").strip().replace(" ", "").rstrip("%")
    if raw.count(",") == 1 and "." not in raw:
        raw = raw.replace(",", ".")
    value = float(raw)
    if not math.isfinite(value) or abs(value) >= VALUE_LIMIT:
        raise ValueError(text)
    return value


def validate_cycle(raw: CycleInput, *, today: date, hours: Hours,
                   editing_start: date | None = None) -> tuple[CycleValues | None, dict[str, str]]:
    """Check the cycle form; returns (values, {}) or (None, {field: message}) for inline errors.

    `editing_start` is the start of the cycle being edited: a start already in the past may stay.
    """
    errors: dict[str, str] = {}

    def text(name: str, value: str, limit: int, *, required: bool = True) -> str:
        value = (value or "").strip()
        if required and not value:
            errors[name] = "This is required."
        elif len(value) > limit:
            errors[name] = f"Keep it under {limit} characters."
        return value

    title = text("title", raw.title, 150)
    goal = text("goal", raw.goal, 1000)
    strategy = text("strategy", raw.strategy, 1000, required=False)
    metric_name = text("metric_name", raw.metric_name, 100)
    metric_unit = text("metric_unit", raw.metric_unit, 30, required=False)

    baseline = target = 0.0
    try:
        baseline = parse_number(raw.baseline)
    except ValueError:
        errors["baseline"] = "Give the baseline as a number, like 62 or 62.5."
    try:
        target = parse_number(raw.target)
    except ValueError:
        errors["target"] = "Give the target as a number, like 80."
    if "baseline" not in errors and "target" not in errors and baseline == target:
        errors["target"] = "The target must differ from the baseline: what change are you aiming for?"

    start = today
    try:
        start = date.fromisoformat((raw.start_date or "").strip())
    except ValueError:
        errors["start_date"] = "Pick a start date."
    else:
        if start < today and start != editing_start:
            errors["start_date"] = "The start date can't be in the past."
        elif start > today + timedelta(days=365):
            errors["start_date"] = "Start within the next year."

    weeks = 0
    try:
        weeks = int((raw.weeks or "").strip())
    except ValueError:
        errors["weeks"] = f"Give a whole number of weeks, {MIN_WEEKS} to {MAX_WEEKS}."
    else:
        if not MIN_WEEKS <= weeks <= MAX_WEEKS:
            errors["weeks"] = f"A cycle runs {MIN_WEEKS} to {MAX_WEEKS} weeks; {weeks} is outside that."

    weekday = -1
    try:
        weekday = int((raw.checkin_weekday or "").strip())
        if not 0 <= weekday <= 6:
            raise ValueError
    except ValueError:
        errors["checkin_weekday"] = "Pick the check-in day."
    else:
        if weekday not in hours.weekdays:
            errors["checkin_weekday"] = f"{WEEKDAYS[weekday]} is not a school day here."

    checkin_time = (raw.checkin_time or "").strip()
    try:
        at = time.fromisoformat(checkin_time.zfill(5))
    except ValueError:
        errors["checkin_time"] = "Pick the check-in time."
    else:
        checkin_time = at.strftime("%H:%M")
        if not hours.opens <= at < hours.closes:
            errors["checkin_time"] = (
                f"{checkin_time} is outside school hours ({hours.opens:%H:%M}-{hours.closes:%H:%M})."
            )

    reminder = 0
    try:
        reminder = int((raw.reminder_hours or "").strip())
    except ValueError:
        errors["reminder_hours"] = "Give the reminder delay in whole hours, 1 to 96."
    else:
        if not 1 <= reminder <= 96:
            errors["reminder_hours"] = "Remind after 1 to 96 hours."

    if errors:
        return None, errors
    return CycleValues(title, goal, strategy, metric_name, metric_unit, baseline, target, start,
                       weeks, weekday, checkin_time, reminder), {}


def validate_break(starts_on: date, ends_on: date, *, today: date) -> str | None:
    """A problem with a school break's dates, or None."""
    if ends_on < starts_on:
        return "The break must end on or after the day it starts."
    if (ends_on - starts_on).days > 120:
        return "A break can last at most 120 days."
    if ends_on < today:
        return "That break is already over."
    return None


def validate_away(until: date, *, today: date) -> str | None:
    if until < today:
        return "That date has passed; give the last day you'll be away."
    if (until - today).days > 366:
        return "You can be away for at most a year at a time."
    return None
