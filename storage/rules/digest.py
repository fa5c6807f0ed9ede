"""What the principal's weekly digest counts, as plain functions over plain data.

The storage layer hands in per-team aggregates (counts and sums, never one teacher's rating);
these rules turn them into the figures a principal reads, decide what needs a leader's
action, and withhold any feedback average drawn from fewer answers than the minimum group.
No Slack and no session, so a Microsoft Teams front can reuse them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MIN_GROUP_FLOOR = 3  # the same floor the feedback rules use: below it an average gives people away
FEWER_THAN = "fewer than {n} answers"
RATING_KEYS = ("useful", "learned", "norms")
RATING_LABELS = {"useful": "useful", "learned": "learned", "norms": "norms & support"}
PROGRESS = ("on_track", "some_progress", "stuck")
ASKED_STATES = ("sent", "pending")  # a check-in that was (or is being) put to a teacher
LOW_RESPONSE = 0.5  # below this share answering, the team is flagged
RESPONSE_DROP = 0.2  # a fall of 20 points or more from last week is flagged
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_WEEK = re.compile(r"^\s*(\d{4})-?[Ww](\d{1,2})\s*$")


class WeekError(ValueError):
    """A week the user typed that is not an ISO week; `str()` says what to type instead."""


# ---------------------------------------------------------------------------------- ISO weeks
@dataclass(frozen=True, order=True)
class IsoWeek:
    """An ISO 8601 week (Monday to Sunday), the unit a digest covers."""

    year: int
    week: int

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 7)

    def shift(self, weeks: int) -> IsoWeek:
        return IsoWeek.of(self.monday + timedelta(weeks=weeks))

    @classmethod
    def of(cls, day: date) -> IsoWeek:
        year, week, _ = day.isocalendar()
        return cls(year, week)

    def span(self) -> str:
        """'Nov 16-22, 2026' or 'Nov 30-Dec 6, 2026', for people."""
        a, b = self.monday, self.sunday
        if a.month == b.month:
            return f"{a:%b} {a.day}-{b.day}, {b.year}"
        if a.year == b.year:
            return f"{a:%b} {a.day}-{b:%b} {b.day}, {b.year}"
        return f"{a:%b} {a.day}, {a.year}-{b:%b} {b.day}, {b.year}"

    def __str__(self) -> str:
        return self.label


def parse_week(text: str) -> IsoWeek:
    """Parse '2026-W47' (or '2026W47', '2026-w47'); raise WeekError saying what is wrong."""
    raw = (text or "").strip()
    m = _WEEK.match(raw)
    if not m:
        raise WeekError(f"{raw!r} is not a week; write it as an ISO week such as 2026-W47.")
    year, week = int(m[1]), int(m[2])
    if not 1 <= week <= 53:
        raise WeekError(f"{raw!r}: a year's weeks run from W01 to W52 or W53.")
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError:
        raise WeekError(f"{raw!r}: {year} has only 52 ISO weeks.") from None
    return IsoWeek(year, week)


def week_bounds(week: IsoWeek, tz: str | ZoneInfo) -> tuple[datetime, datetime]:
    """The week as aware UTC instants [local Monday 00:00, next local Monday 00:00)."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    start = datetime.combine(week.monday, time(0), tzinfo=zone)
    end = datetime.combine(week.monday + timedelta(days=7), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def days_bounds(first: date, last: date, tz: str | ZoneInfo) -> tuple[datetime, datetime]:
    """Local days first..last (inclusive) as aware UTC instants [start, end)."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    start = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def week_just_past(now: datetime, tz: str | ZoneInfo) -> IsoWeek:
    """The last full week before `now` in the school's time zone (what Monday's digest covers)."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    return IsoWeek.of(now.astimezone(zone).date()).shift(-1)


def digest_due(week: IsoWeek, *, weekday: int, at: str, tz: str | ZoneInfo) -> datetime:
    """When the digest of `week` is sent: `weekday` (0 = Monday) of the following week at `at` local."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    hh, mm = parse_time(at)
    day = week.monday + timedelta(days=7 + max(0, min(6, weekday)))
    return datetime.combine(day, time(hh, mm), tzinfo=zone).astimezone(UTC)


def digest_stale_after(week: IsoWeek, tz: str | ZoneInfo) -> datetime:
    """A digest missed while the bot was down is still sent until the week after `week` ends."""
    return week_bounds(week.shift(1), tz)[1]


def parse_time(text: str) -> tuple[int, int]:
    m = re.match(r"^\s*(\d{1,2}):(\d{2})\s*$", text or "")
    if not m or not (0 <= int(m[1]) <= 23 and 0 <= int(m[2]) <= 59):
        raise ValueError(f"{text!r} is not a time of day like 07:00.")
    return int(m[1]), int(m[2])


def parse_day(text: str, *, name: str) -> date:
    """A YYYY-MM-DD date for the command line, with a message naming the option."""
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        raise WeekError(f"{name} {text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-08-24.") from None


# ------------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class MeetingFact:
    """One meeting of the week, with its attendance counts (from the wrap-up)."""

    team_id: int
    status: str  # scheduled | cancelled | held
    agenda_posted: bool
    present: int = 0
    absent: int = 0


@dataclass(frozen=True)
class RatingTotals:
    """Feedback on one meeting: how many answered and the sum of each rating (no one's answer)."""

    team_id: int
    meeting_id: int
    answers: int
    sums: tuple[float, float, float]  # useful, learned, norms


@dataclass(frozen=True)
class RoundFact:
    """One check-in week of one cycle: who was asked, who answered, the data point."""

    team_id: int
    cycle_id: int
    week: int  # the cycle's week number
    local_day: date
    asked: int
    answered: int
    values: int = 0  # answers that carried a data point
    mean: float | None = None
    state: str = "open"


@dataclass(frozen=True)
class CycleFact:
    team_id: int
    cycle_id: int
    title: str
    metric: str
    unit: str
    baseline: float
    target: float
    start: date
    weeks: int
    status: str


@dataclass(frozen=True)
class SupportFact:
    team_id: int
    name: str  # the teacher asked for help, so their name travels with the request
    state: str  # open | following_up | resolved
    opened: date | None = None


@dataclass(frozen=True)
class TeamFact:
    team_id: int
    name: str
    channel_id: str
    share_names: bool = False
    facilitators: tuple[str, ...] = ()  # Slack user ids
    school_id: int = 0


# ------------------------------------------------------------------------------- figures
@dataclass(frozen=True)
class MeetingFigures:
    planned: int  # meetings in the week that were not cancelled
    held: int
    cancelled: int
    with_agenda: int  # held (or still planned) meetings whose agenda was posted
    present: int
    expected: int  # present + absent over held meetings

    @property
    def attendance(self) -> float | None:
        return self.present / self.expected if self.expected else None


@dataclass(frozen=True)
class FeedbackFigures:
    answers: int  # every answer to the week's meetings
    counted: int  # answers behind the averages (0 when withheld)
    averages: dict[str, float] = field(default_factory=dict)  # key -> mean, empty when withheld
    threshold: int = MIN_GROUP_FLOOR

    @property
    def shown(self) -> bool:
        return bool(self.averages)

    @property
    def withheld(self) -> str:
        return FEWER_THAN.format(n=self.threshold)


@dataclass(frozen=True)
class CheckinFigures:
    asked: int
    answered: int
    last_asked: int
    last_answered: int

    @property
    def rate(self) -> float | None:
        return rate(self.answered, self.asked)

    @property
    def last_rate(self) -> float | None:
        return rate(self.last_answered, self.last_asked)

    @property
    def change(self) -> float | None:
        """Change in response rate from last week, as a fraction (0.1 = 10 points), rounded to a
        hundredth of a point: 0.8 - 0.6 is 0.2 here, not 0.20000000000000007 (nor a fall of
        19.999… points that misses the 20-point flag)."""
        if self.rate is None or self.last_rate is None:
            return None
        return round(self.rate - self.last_rate, 4)


@dataclass(frozen=True)
class CycleFigures:
    title: str
    metric: str
    unit: str
    baseline: float
    target: float
    week: int | None  # the cycle week the digest's week falls in (None: outside it)
    weeks: int
    latest: float | None  # latest data point (mean of that week's values)
    latest_week: int | None
    status: str

    @property
    def progress(self) -> float | None:
        """0 at baseline, 1 at target; negative when moving away from the target."""
        if self.latest is None or self.target == self.baseline:
            return None
        return (self.latest - self.baseline) / (self.target - self.baseline)


@dataclass(frozen=True)
class TeamFigures:
    team: TeamFact
    meetings: MeetingFigures
    feedback: FeedbackFigures
    checkins: CheckinFigures
    cycle: CycleFigures | None
    waiting: tuple[str, ...]  # names of teachers whose support request nobody has picked up
    following_up: int
    attention: tuple[str, ...] = ()  # what needs a leader, most urgent first

    @property
    def quiet(self) -> bool:
        """Nothing at all happened for this team this week."""
        return (self.meetings.planned + self.meetings.cancelled == 0 and self.feedback.answers == 0
                and self.checkins.asked == 0 and not self.waiting)


def rate(answered: int, asked: int) -> float | None:
    """Share of those asked who answered; None when nobody was asked (not 0%)."""
    if asked <= 0:
        return None
    return min(1.0, answered / asked)


def min_group(setting: int) -> int:
    return max(MIN_GROUP_FLOOR, setting)


def meeting_figures(meetings: Iterable[MeetingFact]) -> MeetingFigures:
    rows = list(meetings)
    held = [m for m in rows if m.status == "held"]
    planned = [m for m in rows if m.status != "cancelled"]
    return MeetingFigures(
        planned=len(planned),
        held=len(held),
        cancelled=len(rows) - len(planned),
        with_agenda=sum(1 for m in planned if m.agenda_posted),
        present=sum(m.present for m in held),
        expected=sum(m.present + m.absent for m in held),
    )


def feedback_figures(per_meeting: Sequence[RatingTotals], *, min_group_size: int) -> FeedbackFigures:
    """The team's feedback averages, safe against small groups and differencing.

    A meeting with fewer answers than the threshold is left out of the team's averages when
    other meetings are shown and the left-out answers are fewer than the threshold: otherwise
    the team figure minus the shown meetings' figures would give the small group's average.
    """
    threshold = min_group(min_group_size)
    total = sum(m.answers for m in per_meeting)
    small = [m for m in per_meeting if m.answers < threshold]
    small_total = sum(m.answers for m in small)
    included = list(per_meeting)
    if small and len(small) < len(per_meeting) and small_total < threshold:
        included = [m for m in per_meeting if m.answers >= threshold]
    counted = sum(m.answers for m in included)
    if counted < threshold:
        return FeedbackFigures(total, 0, {}, threshold)
    averages = {
        key: round(sum(m.sums[i] for m in included) / counted, 2) for i, key in enumerate(RATING_KEYS)
    }
    return FeedbackFigures(total, counted, averages, threshold)


def meeting_feedback_shown(answers: int, *, min_group_size: int) -> bool:
    return answers >= min_group(min_group_size)


def checkin_figures(rounds: Iterable[RoundFact], week: IsoWeek) -> CheckinFigures:
    this = last = (0, 0)
    prev = week.shift(-1)
    for r in rounds:
        if week.monday <= r.local_day <= week.sunday:
            this = (this[0] + r.asked, this[1] + r.answered)
        elif prev.monday <= r.local_day <= prev.sunday:
            last = (last[0] + r.asked, last[1] + r.answered)
    return CheckinFigures(this[0], this[1], last[0], last[1])


def range_checkins(rounds: Iterable[RoundFact], first: date, last: date) -> CheckinFigures:
    """Check-in totals over a range of days (no week-on-week change)."""
    inside = [r for r in rounds if first <= r.local_day <= last]
    return CheckinFigures(sum(r.asked for r in inside), sum(r.answered for r in inside), 0, 0)


def current_cycle(cycles: Iterable[CycleFact], week: IsoWeek) -> CycleFact | None:
    """The team's cycle for the week: the latest started one that had begun by its Sunday."""
    started = [c for c in cycles if c.start <= week.sunday]
    if not started:
        return None
    return max(started, key=lambda c: (c.start, c.cycle_id))


def cycle_figures(cycle: CycleFact, rounds: Iterable[RoundFact], week: IsoWeek) -> CycleFigures:
    points = sorted((r for r in rounds if r.cycle_id == cycle.cycle_id and r.local_day <= week.sunday
                     and r.mean is not None), key=lambda r: r.week)
    latest = points[-1] if points else None
    days = (week.sunday - cycle.start).days
    current = days // 7 + 1 if days >= 0 else None
    if current is not None and current > cycle.weeks:
        current = None
    return CycleFigures(
        title=cycle.title, metric=cycle.metric, unit=cycle.unit, baseline=cycle.baseline, target=cycle.target,
        week=current, weeks=cycle.weeks, latest=latest.mean if latest else None,
        latest_week=latest.week if latest else None, status=cycle.status,
    )


def attention(fig: TeamFigures) -> tuple[str, ...]:
    """What a leader should act on for this team, most urgent first; empty when all is well."""
    out: list[str] = []
    if fig.waiting:
        n = len(fig.waiting)
        out.append(f"{n} support request{'s' if n != 1 else ''} waiting for a leader")
    m = fig.meetings
    if m.planned and not m.held:
        out.append("no meeting wrapped up this week")
    elif m.held and m.with_agenda < m.planned:
        out.append("met without a posted agenda")
    c = fig.checkins
    if c.rate is not None and c.rate < LOW_RESPONSE:
        out.append(f"only {c.rate:.0%} answered the check-in")
    elif c.change is not None and c.change <= -RESPONSE_DROP:
        out.append(f"check-in answers fell {abs(c.change) * 100:.0f} points")
    cyc = fig.cycle
    if cyc is not None and cyc.progress is not None and cyc.progress < 0:
        out.append(f"{cyc.metric} is below its baseline")
    return tuple(out)


def team_figures(
    team: TeamFact,
    *,
    week: IsoWeek,
    meetings: Iterable[MeetingFact],
    feedback: Sequence[RatingTotals],
    rounds: Sequence[RoundFact],
    cycles: Iterable[CycleFact],
    support: Iterable[SupportFact],
    min_group_size: int,
    checkins: CheckinFigures | None = None,
) -> TeamFigures:
    """Every figure the digest shows for one team, from that team's facts.

    `checkins` replaces the week's check-in figures (a year's export counts the whole range).
    """
    cycle = current_cycle(cycles, week)
    requests = list(support)
    fig = TeamFigures(
        team=team,
        meetings=meeting_figures(meetings),
        feedback=feedback_figures(feedback, min_group_size=min_group_size),
        checkins=checkins if checkins is not None else checkin_figures(rounds, week),
        cycle=cycle_figures(cycle, rounds, week) if cycle is not None else None,
        waiting=tuple(sorted(r.name for r in requests if r.state == "open")),
        following_up=sum(1 for r in requests if r.state == "following_up"),
    )
    return replace(fig, attention=attention(fig))


def by_team(items: Iterable[object]) -> dict[int, list]:  # type: ignore[type-arg]
    """Group facts by their `team_id`."""
    out: dict[int, list] = {}  # type: ignore[type-arg]
    for item in items:
        out.setdefault(item.team_id, []).append(item)  # type: ignore[attr-defined]
    return out


@dataclass(frozen=True)
class ChartSeries:
    """One team's line for the Summary chart: a value per cycle week, and the target to reach."""

    team: str
    label: str  # the metric's name, or "response rate"
    points: tuple[tuple[int, float | None], ...]  # (cycle week, value)
    target: float | None
    is_rate: bool


def chart_series(team: TeamFact, cycle: CycleFact | None, rounds: Sequence[RoundFact],
                 week: IsoWeek) -> ChartSeries | None:
    """The metric by cycle week when the team reported data points, else the response rate."""
    if cycle is None:
        return None
    mine = sorted((r for r in rounds if r.cycle_id == cycle.cycle_id and r.local_day <= week.sunday),
                  key=lambda r: r.week)
    if not mine:
        return None
    if any(r.mean is not None for r in mine):
        points = tuple((r.week, r.mean) for r in mine)
        return ChartSeries(team.name, cycle.metric, points, cycle.target, is_rate=False)
    points = tuple((r.week, rate(r.answered, r.asked)) for r in mine)
    return ChartSeries(team.name, "response rate", points, None, is_rate=True)
