"""What learning cycles and check-ins say: the check-in card (its reminder too), the round's
summary for the channel, the delivery-failures notice, the support request, the reflection prompt,
and the cycle's status (`/plc cycle` on Slack, `cycle` on Teams)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from storage.rules import cycles as rules
from storage.rules.cycles import RoundSummary as RoundFigures
from storage.views import Offer, View

# What a check-in card offers (Offer.name), in the order a front shows them.
ANSWERS = ("on_track", "some_progress", "stuck")
DETAILS = "details"
CHANGE = "change"
FOLLOW_UP = "follow_up"
RESOLVE = "resolve"
REFLECT = "reflect"


def answer_offer(progress: str) -> str:
    """The name of the offer that answers the check-in with `progress`."""
    return f"answer_{progress}"


@dataclass(frozen=True)
class CheckinCard(View):
    """One teacher's check-in message: the question, or the answer given. With `reminder`, the
    one reminder of an unanswered check-in."""

    checkin_id: int
    team_name: str
    title: str
    goal: str
    strategy: str
    metric_name: str
    metric_unit: str
    week: int
    weeks: int
    progress: str | None = None
    value: float | None = None
    evidence: str | None = None
    support: str | None = None
    support_state: str | None = None  # open | following_up | resolved, once requested
    facilitators: tuple[str, ...] = ()  # names of who will see a support request
    closed: bool = False
    reminder: bool = False

    def answered(self, *, changing: bool = False) -> bool:
        """The card shows the answer given (not the question); `changing`: the person asked to change it."""
        return self.progress is not None and not changing

    def offered(self, *, changing: bool = False) -> tuple[Offer, ...]:
        """The question offers the answers and details; an answer, while open, a change and details."""
        value = str(self.checkin_id)
        if not self.answered(changing=changing):
            return (*(Offer(answer_offer(p), value, primary=p == "on_track") for p in ANSWERS),
                    Offer(DETAILS, value))
        if self.closed:
            return ()
        return (Offer(CHANGE, value), Offer(DETAILS, value))


@dataclass(frozen=True)
class RoundSummary(View):
    """The channel's summary when a week's check-in window closes: team figures, never a name."""

    team_name: str
    title: str
    metric_name: str
    metric_unit: str
    baseline: float
    target: float
    summary: RoundFigures
    weeks: int
    support_count: int


@dataclass(frozen=True)
class DeliveryFailures(View):
    """To a facilitator: whose check-in could not be delivered, and the platform's reason code."""

    team_name: str
    week: int
    failed: tuple[tuple[str, str], ...]  # (person, reason)


@dataclass(frozen=True)
class SupportCard(View):
    """A facilitator's copy of a teacher's support request, with its state."""

    request_id: int
    teacher_id: str
    teacher_name: str
    team_name: str
    week: int
    progress: str | None
    evidence: str | None
    support: str | None
    state: str  # open | following_up | resolved
    follower: str | None = None

    def offered(self) -> tuple[Offer, ...]:
        value = str(self.request_id)
        if self.state == "open":
            return (Offer(FOLLOW_UP, value, primary=True), Offer(RESOLVE, value))
        if self.state == "following_up":
            return (Offer(RESOLVE, value, primary=True),)
        return ()


@dataclass(frozen=True)
class ReflectionPrompt(View):
    """The team's channel, in the cycle's last week: time to reflect, and the form to do it."""

    cycle_id: int
    title: str
    team_name: str
    weeks: int

    def offered(self) -> tuple[Offer, ...]:
        return (Offer(REFLECT, str(self.cycle_id), primary=True),)


# ---------------------------------------------------------------------------- the cycle's status
UPCOMING_BREAKS = 3  # the status names this many school breaks ahead, the nearest first


class CycleLike(Protocol):
    """What the status (and Slack's cycle form) reads of a cycle: a `storage.models.Cycle`, or any
    object with these attributes."""

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
    status: str
    paused_until: date | None


@dataclass(frozen=True)
class WeekRow:
    """One week of the cycle as the status lists it: skipped, with why, or its figures."""

    week: int
    skip_reason: str | None = None  # set when the week was skipped ("paused" when none was stored)
    mean: float | None = None  # the team's data point: the mean of what was reported
    reported: int = 0
    progress: float | None = None  # of the way from baseline to target (`rules.trend`); None without a point
    answered: int = 0
    asked: int = 0


@dataclass(frozen=True)
class WeekRate:
    """This week's response rate: None when nobody was asked (not 0%)."""

    rate: float | None
    answered: int
    asked: int
    away: int


@dataclass(frozen=True)
class RunningCycle:
    """The team's running (or paused) cycle as its status shows it, everything already derived."""

    title: str
    goal: str
    strategy: str
    metric_name: str
    metric_unit: str
    baseline: float
    target: float
    weeks: int
    start_date: date
    week: int | None  # today's week of the cycle; None before it starts and after its last week
    phase: str | None  # of `week` (`rules.phase`)
    started: bool  # today is on or after the start date
    paused: bool
    paused_until: date | None  # the last day of the pause; None: until resumed
    rows: tuple[WeekRow, ...]  # the weeks with a check-in round so far, in order
    this_week: WeekRate | None  # the figures of today's week, once it has a round that ran
    breaks: tuple[rules.Break, ...]  # school breaks not over yet, the nearest `UPCOMING_BREAKS`
    checkin_day: str  # the weekday's name
    checkin_time: str  # HH:MM in the team's zone


@dataclass(frozen=True)
class CycleStatus(View):
    """Where the team's learning cycle is: `cycle` None when none is running."""

    team_name: str
    cycle: RunningCycle | None = None


def cycle_status(*, team_name: str, cycle: CycleLike | None, weeks: Sequence[Mapping[str, Any]],
                 breaks: Sequence[rules.Break], today: date) -> CycleStatus:
    """The status on plain data: the cycle, its weeks' figures (`storage.cycles.cycle_summary`'s
    "weeks"), the school's breaks and the team's today. Every front renders this one result, so the
    week, the phase, the trend and the rates are worked out here only."""
    if cycle is None:
        return CycleStatus(team_name=team_name)
    week = rules.cycle_week(cycle.start_date, cycle.weeks, today)
    rows = tuple(_week_row(w, cycle) for w in weeks)
    current = next((w for w in weeks if w["state"] != "skipped" and w["week"] == week), None)
    return CycleStatus(team_name=team_name, cycle=RunningCycle(
        title=cycle.title, goal=cycle.goal, strategy=cycle.strategy, metric_name=cycle.metric_name,
        metric_unit=cycle.metric_unit, baseline=cycle.baseline, target=cycle.target, weeks=cycle.weeks,
        start_date=cycle.start_date, week=week, phase=rules.phase(week, cycle.weeks) if week is not None else None,
        started=today >= cycle.start_date, paused=cycle.status == "paused", paused_until=cycle.paused_until,
        rows=rows, this_week=_rate(current) if current is not None else None,
        breaks=tuple(b for b in breaks if b.ends_on >= today)[:UPCOMING_BREAKS],
        checkin_day=rules.WEEKDAYS[cycle.checkin_weekday], checkin_time=cycle.checkin_time))


def _week_row(w: Mapping[str, Any], cycle: CycleLike) -> WeekRow:
    if w["state"] == "skipped":
        return WeekRow(week=w["week"], skip_reason=w["skip_reason"] or "paused")
    return WeekRow(week=w["week"], mean=w["mean"], reported=w["reported"],
                   progress=rules.trend(cycle.baseline, cycle.target, w["mean"]),
                   answered=w["answered"], asked=w["asked"])


def _rate(w: Mapping[str, Any]) -> WeekRate:
    return WeekRate(rules.response_rate(w["answered"], w["asked"]), w["answered"], w["asked"], w["away"])


# The status's words that are the same on every front: each front passes how it makes a person's
# words inert (`inert`: Slack's mrkdwn escape, Teams' `card_kit.md`) and writes a number (`number`,
# the metric's unit included), and lays the lines out its own way.
def status_head(c: RunningCycle) -> str:
    """The head line, like "Fractions: week 2 of 6 · deliver/engage"; before the start, the day it
    starts; after the last week, that it has run them all. The title as typed: the front makes it inert."""
    if c.week is not None:
        return f"{c.title}: week {c.week} of {c.weeks} · {c.phase}"
    return f"{c.title}: " + (f"starts {c.start_date:%a %b %-d}" if not c.started else "has run all its weeks")


def status_text(c: RunningCycle) -> str:
    """The plain summary a notification shows (the title as typed)."""
    return f"{c.title}: week {c.week or '-'} of {c.weeks}"


def paused_words(c: RunningCycle) -> str:
    """After "Paused": through which day, or until resumed."""
    return f" through {c.paused_until:%a %b %-d}" if c.paused_until else " until resumed"


def week_words(row: WeekRow, *, number: Callable[[float | None], str], inert: Callable[[str], str]) -> str:
    """A week's line after its "Week N": why it was skipped, or its point, trend and answers."""
    if row.skip_reason is not None:
        return f"skipped ({inert(row.skip_reason)})"
    point = f"{number(row.mean)} ({row.reported} reported)" if row.mean is not None else "no data point"
    toward = f", {row.progress * 100:.0f}% of the way to target" if row.progress is not None else ""
    return f"{point}{toward} · {row.answered}/{row.asked} answered"


def rate_words(rate: WeekRate) -> str:
    """This week's response rate, with how many answered of how many asked, and who is away."""
    shown = "–" if rate.rate is None else f"{rate.rate * 100:.0f}%"
    away = f", {rate.away} away" if rate.away else ""
    return f"This week's response rate: {shown} ({rate.answered} of {rate.asked}{away})."


def breaks_words(breaks: Sequence[rules.Break], *, inert: Callable[[str], str]) -> str:
    """The school breaks ahead, with their labels."""
    return "School breaks (no check-ins): " + "; ".join(
        f"{b.starts_on:%b %-d}-{b.ends_on:%b %-d} {inert(b.label)}".strip() for b in breaks)
