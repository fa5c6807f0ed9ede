"""One person's Home tab data, read in a fixed number of queries however many teams they are in.

Every query takes all the relevant teams at once (`IN (...)`, `GROUP BY team`), so a coach in
thirty teams or a principal of a large school costs the same ten queries as a teacher in
one team. The result is plain data; `bot.render.home` turns it into blocks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, false, func, or_, true
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from storage import meetings as meeting_store
from storage.models import (
    AgendaItem,
    Checkin,
    CheckinRound,
    Cycle,
    Feedback,
    Meeting,
    Membership,
    Person,
    School,
    SupportRequest,
    Team,
)
from storage.rules import cycles as cycle_rules
from storage.rules import feedback as feedback_rules
from storage.rules.roles import Actor
from storage.school_years import year_starts

OPEN_CYCLE = ("active", "paused")
OPEN_SUPPORT = ("open", "following_up")
AGENDA_ITEMS_SHOWN = 5


@dataclass(frozen=True)
class MeetingGlance:
    meeting_id: int
    starts_at: datetime
    minutes: int
    title: str
    agenda_posted: bool
    items: tuple[tuple[str, int], ...] = ()  # (title, minutes), the first few
    item_count: int = 0


@dataclass(frozen=True)
class CycleGlance:
    cycle_id: int
    title: str
    goal: str
    metric_name: str
    metric_unit: str
    baseline: float
    target: float
    start_date: date
    weeks: int
    status: str
    paused_until: date | None
    checkin_weekday: int
    checkin_time: str
    week: int | None  # this week's number; None before the start or after the last week
    started: bool = True


@dataclass(frozen=True)
class RoundGlance:
    """This week's check-in (or the latest one) without names: who was asked, who answered."""

    week: int
    state: str
    asked: int
    answered: int
    away: int
    this_week: bool

    @property
    def rate(self) -> float | None:
        return cycle_rules.response_rate(self.answered, self.asked)


@dataclass(frozen=True)
class SupportGlance:
    request_id: int
    teacher_id: str
    teacher_name: str
    week: int
    state: str


@dataclass(frozen=True)
class FeedbackGlance:
    """The latest meeting's feedback averages, or none when fewer answered than the group minimum."""

    meeting_starts_at: datetime
    count: int
    threshold: int
    averages: tuple[tuple[str, float], ...] = ()  # (question key, average), empty when withheld

    @property
    def shown(self) -> bool:
        return self.count >= self.threshold


@dataclass
class TeamGlance:
    team_id: int
    name: str
    channel_id: str
    school_id: int
    school_name: str
    timezone: str
    role: str | None  # facilitator | member | None (a principal's view of another team)
    members: int = 0
    next_meeting: MeetingGlance | None = None
    # The schedule's meetings before the next one that a school break skips: (start, "Winter break").
    skipped_meetings: list[tuple[datetime, str]] = field(default_factory=list)
    cycle: CycleGlance | None = None
    round: RoundGlance | None = None
    support_open: int = 0
    support: list[SupportGlance] = field(default_factory=list)  # facilitators only
    feedback: FeedbackGlance | None = None  # facilitators only

    @property
    def facilitates(self) -> bool:
        return self.role == "facilitator"


@dataclass(frozen=True)
class PendingCheckin:
    checkin_id: int
    team_name: str
    cycle_title: str
    week: int
    weeks: int
    closes_at: datetime | None


@dataclass(frozen=True)
class SchoolGlance:
    school_id: int
    name: str
    timezone: str
    teams: list[TeamGlance]


@dataclass
class Dashboard:
    user_id: str
    my_teams: list[TeamGlance] = field(default_factory=list)
    pending: list[PendingCheckin] = field(default_factory=list)
    schools: list[SchoolGlance] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.my_teams and not self.schools and not self.pending


def _today(now: datetime, tz: str) -> date:
    try:
        return now.astimezone(ZoneInfo(tz)).date()
    except Exception:
        return now.date()


def dashboard(session: Session, *, actor: Actor, now: datetime, min_group_size: int) -> Dashboard:
    """Everything one person's Home tab shows, for their teams and (principals) their schools' teams."""
    out = Dashboard(user_id=actor.handle)
    wanted = or_teams(actor)
    rows = session.exec(
        select(Team, School).join(School, col(School.id) == Team.school_id)
        .where(col(Team.archived_at).is_(None), wanted)
        .order_by(col(School.name), col(Team.name))
    ).all() if (actor.member_of or actor.principal_of) else []
    teams: dict[int, TeamGlance] = {}
    school_names: dict[int, tuple[str, str]] = {}
    for team, school in rows:
        assert team.id is not None and school.id is not None
        role = ("facilitator" if team.id in actor.facilitator_of
                else "member" if team.id in actor.member_of else None)
        teams[team.id] = TeamGlance(team.id, team.name, team.channel_id, school.id, school.name, team.timezone, role)
        school_names[school.id] = (school.name, school.timezone)
    out.pending = _pending(session, actor.person_id) if actor.person_id is not None else []
    if not teams:
        return out
    ids = list(teams)
    mine = [t for t in ids if teams[t].role is not None]
    led = [t for t in ids if teams[t].role == "facilitator" or teams[t].school_id in actor.principal_of]

    for team_id, count in session.exec(
        select(Membership.team_id, func.count()).where(col(Membership.team_id).in_(ids),
                                                       col(Membership.active).is_(True))
        .group_by(col(Membership.team_id))
    ).all():
        teams[team_id].members = int(count)

    _next_meetings(session, teams, ids, now, with_items=mine)
    _cycles(session, teams, ids, now)
    since = _year_starts(session, teams, now)
    _support(session, teams, led, actor, since)
    facilitated = [t for t in ids if teams[t].facilitates or teams[t].school_id in actor.principal_of]
    _feedback(session, teams, [t for t in facilitated if teams[t].role is not None], min_group_size, since)

    out.my_teams = sorted((teams[t] for t in mine), key=_team_order(now))
    by_school: dict[int, list[TeamGlance]] = defaultdict(list)
    for t in ids:
        if teams[t].school_id in actor.principal_of:
            by_school[teams[t].school_id].append(teams[t])
    out.schools = [SchoolGlance(sid, school_names[sid][0], school_names[sid][1],
                                sorted(by_school[sid], key=lambda g: g.name.casefold()))
                   for sid in sorted(by_school, key=lambda s: school_names[s][0].casefold())]
    return out


def or_teams(actor: Actor) -> ColumnElement[bool]:
    """The teams a person sees: theirs, and every team of the schools they lead."""
    parts: list[ColumnElement[bool]] = []
    if actor.member_of:
        parts.append(col(Team.id).in_(sorted(actor.member_of)))
    if actor.principal_of:
        parts.append(col(Team.school_id).in_(sorted(actor.principal_of)))
    return or_(*parts) if parts else false()


def _team_order(now: datetime) -> Callable[[TeamGlance], tuple[int, datetime, str]]:
    far = now + timedelta(days=3650)

    def key(t: TeamGlance) -> tuple[int, datetime, str]:
        # Teams they run first, then the soonest meeting, then by name.
        return (0 if t.facilitates else 1, t.next_meeting.starts_at if t.next_meeting else far, t.name.casefold())

    return key


def _pending(session: Session, person_id: int) -> list[PendingCheckin]:
    # sqlmodel's select() is typed for up to four entities; for more it returns Select(*entities),
    # built here directly (here and in _support) and cast to the rows it yields.
    rows = session.exec(
        cast("Select[int | None, int, datetime | None, str, int, str]",
             Select(col(Checkin.id), col(Checkin.week), col(CheckinRound.closes_at), col(Cycle.title),
                    col(Cycle.weeks), col(Team.name)))
        .join(CheckinRound, col(CheckinRound.id) == Checkin.round_id)
        .join(Cycle, col(Cycle.id) == Checkin.cycle_id)
        .join(Team, col(Team.id) == Cycle.team_id)
        .where(Checkin.person_id == person_id, Checkin.status == "sent", col(Checkin.progress).is_(None),
               CheckinRound.state == "open", col(Cycle.status).in_(OPEN_CYCLE), col(Team.archived_at).is_(None))
        .order_by(col(CheckinRound.closes_at), col(Checkin.id))
    ).all()
    return [PendingCheckin(cid or 0, team, title, week, weeks, closes)
            for cid, week, closes, title, weeks, team in rows]


def _next_meetings(session: Session, teams: dict[int, TeamGlance], ids: list[int], now: datetime,
                   *, with_items: list[int]) -> None:
    """The next meeting of each team (one under way counts), and the first agenda items of the person's own."""
    # One bounded read (the planner keeps a few weeks of meetings ahead): per team, the earliest
    # meeting that is not over yet wins, so a meeting under way counts as the next one.
    # A schedule's meeting a school break skips comes along, to be shown as skipped before the next one.
    rows = session.exec(
        select(Meeting).where(col(Meeting.team_id).in_(ids), col(Meeting.status).in_(["scheduled", "cancelled"]),
                              col(Meeting.starts_at) > now - timedelta(hours=6),
                              col(Meeting.starts_at) <= now + timedelta(days=60))
        .order_by(col(Meeting.team_id), col(Meeting.starts_at))
    ).all() if ids else []
    chosen: dict[int, Meeting] = {}
    for m in rows:
        if m.team_id in chosen or m.starts_at + timedelta(minutes=m.minutes) <= now:
            continue
        skipped = meeting_store.skipped_for(m)
        if skipped is not None:
            if m.starts_at > now:
                teams[m.team_id].skipped_meetings.append((m.starts_at, skipped))
            continue
        if m.status == "scheduled":
            chosen[m.team_id] = m
    meeting_ids = [m.id for t, m in chosen.items() if t in with_items and m.id is not None]
    items: dict[int, list[tuple[str, int]]] = defaultdict(list)
    if meeting_ids:
        for meeting_id, title, minutes in session.exec(
            select(AgendaItem.meeting_id, AgendaItem.title, AgendaItem.minutes)
            .where(col(AgendaItem.meeting_id).in_(meeting_ids))
            .order_by(col(AgendaItem.meeting_id), col(AgendaItem.position), col(AgendaItem.id))
        ).all():
            items[meeting_id].append((title, minutes))
    for team_id, m in chosen.items():
        found = items.get(m.id or 0, [])
        teams[team_id].next_meeting = MeetingGlance(
            m.id or 0, m.starts_at, m.minutes, m.title, bool(m.agenda_ts),
            tuple(found[:AGENDA_ITEMS_SHOWN]), len(found))


def _cycles(session: Session, teams: dict[int, TeamGlance], ids: list[int], now: datetime) -> None:
    """Each team's running cycle, and its check-in of this week (or the latest one), as counts."""
    cycles: dict[int, Cycle] = {}
    for c in session.exec(
        select(Cycle).where(col(Cycle.team_id).in_(ids), col(Cycle.status).in_(OPEN_CYCLE))
        .order_by(col(Cycle.id))
    ).all():
        cycles[c.team_id] = c  # the newest open one wins
    if not cycles:
        return
    by_cycle = {c.id: c for c in cycles.values()}
    weeks: dict[int, int | None] = {}
    for team_id, c in cycles.items():
        today = _today(now, teams[team_id].timezone)
        week = cycle_rules.cycle_week(c.start_date, c.weeks, today)
        weeks[c.id or 0] = week
        teams[team_id].cycle = CycleGlance(
            c.id or 0, c.title, c.goal, c.metric_name, c.metric_unit, c.baseline, c.target, c.start_date,
            c.weeks, c.status, c.paused_until, c.checkin_weekday, c.checkin_time, week, today >= c.start_date)
    rounds: dict[int, CheckinRound] = {}
    for r in session.exec(
        select(CheckinRound).where(col(CheckinRound.cycle_id).in_(list(by_cycle)), CheckinRound.state != "skipped")
        .order_by(col(CheckinRound.week))
    ).all():
        current = weeks.get(r.cycle_id)
        if current is not None and r.week > current:
            continue
        rounds[r.cycle_id] = r  # this week's round, else the latest before it
    if not rounds:
        return
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    answered_of: dict[int, int] = defaultdict(int)
    round_ids = [r.id for r in rounds.values() if r.id is not None]
    for round_id, status, answered, total in session.exec(
        select(Checkin.round_id, Checkin.status,
               func.count(Checkin.progress),  # type: ignore[arg-type]
               func.count())
        .where(col(Checkin.round_id).in_(round_ids))
        .group_by(col(Checkin.round_id), col(Checkin.status))
    ).all():
        counts[round_id][status] += int(total)
        if status in ("sent", "pending"):
            answered_of[round_id] += int(answered)
    for cycle_id, r in rounds.items():
        c = by_cycle[cycle_id]
        n = counts.get(r.id or 0, {})
        teams[c.team_id].round = RoundGlance(
            r.week, r.state, asked=n.get("sent", 0) + n.get("pending", 0), answered=answered_of.get(r.id or 0, 0),
            away=n.get("away", 0), this_week=r.week == weeks.get(cycle_id))


def _year_starts(session: Session, teams: dict[int, TeamGlance], now: datetime) -> dict[int, datetime]:
    """Per school that has closed a year: the current year's first local midnight (aware UTC).

    Open support requests and the latest feedback count from there, so a new school year's Home
    tab shows none of the last one's (one query, see `storage.school_years.year_starts`).
    """
    zones = {t.school_id: t.timezone for t in teams.values()}
    if not zones:
        return {}
    today = min(_today(now, tz) for tz in zones.values())
    out: dict[int, datetime] = {}
    for school_id, day in year_starts(session, school_ids=list(zones), on=today).items():
        try:
            out[school_id] = datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(zones[school_id]))
        except Exception:
            out[school_id] = datetime.combine(day, datetime.min.time(), tzinfo=now.tzinfo)
    return out


def _from_year_start(column: SQLColumnExpression[datetime], since: dict[int, datetime]) -> ColumnElement[bool]:
    """`column` (aware UTC) on or after its team's school year start (teams joined as `Team`)."""
    if not since:
        return true()
    return or_(col(Team.school_id).not_in(list(since)),
               *[and_(col(Team.school_id) == school_id, column >= start) for school_id, start in since.items()])


def _support(session: Session, teams: dict[int, TeamGlance], ids: list[int], actor: Actor,
             since: dict[int, datetime] | None = None) -> None:
    """Open support requests facilitators have been told of, made this school year; names only
    for the team's own facilitators."""
    if not ids:
        return
    rows = session.exec(
        cast("Select[int | None, int, str, int, str, str]",
             Select(col(SupportRequest.id), col(SupportRequest.team_id), col(SupportRequest.state), col(Checkin.week),
                    col(Person.handle), col(Person.name)))
        .join(Checkin, col(Checkin.id) == SupportRequest.checkin_id)
        .join(Person, col(Person.id) == SupportRequest.person_id)
        .join(Team, col(Team.id) == SupportRequest.team_id)
        .where(col(SupportRequest.team_id).in_(ids), col(SupportRequest.state).in_(OPEN_SUPPORT),
               col(SupportRequest.sent_at).is_not(None), _from_year_start(col(SupportRequest.created_at), since or {}))
        .order_by(col(SupportRequest.created_at))
    ).all()
    for request_id, team_id, state, week, user_id, name in rows:
        team = teams[team_id]
        team.support_open += 1
        if team.facilitates:
            team.support.append(SupportGlance(request_id or 0, user_id, name or user_id, week, state))


def _feedback(session: Session, teams: dict[int, TeamGlance], ids: list[int], min_group_size: int,
              since: dict[int, datetime] | None = None) -> None:
    """The latest meeting with feedback this school year, per team: averages only from the group minimum up."""
    if not ids:
        return
    latest = (
        select(Feedback.team_id, func.max(Meeting.starts_at).label("starts"))
        .join(Meeting, col(Meeting.id) == Feedback.meeting_id)
        .join(Team, col(Team.id) == Feedback.team_id)
        .where(col(Feedback.team_id).in_(ids), _from_year_start(col(Meeting.starts_at), since or {}))
        .group_by(col(Feedback.team_id))
        .subquery()
    )
    rows = session.exec(
        select(Feedback, Meeting.starts_at)
        .join(Meeting, col(Meeting.id) == Feedback.meeting_id)
        .join(latest, and_(latest.c.team_id == Feedback.team_id, latest.c.starts == Meeting.starts_at))
    ).all()
    grouped: dict[int, list[Feedback]] = defaultdict(list)
    when: dict[int, datetime] = {}
    for row, starts in rows:
        grouped[row.team_id].append(row)
        when[row.team_id] = starts
    for team_id, answers in grouped.items():
        stored = [feedback_rules.Stored(ratings={q.key: getattr(a, q.key) for q in feedback_rules.RATINGS},
                                        texts={}, name=None) for a in answers]
        summary = feedback_rules.summarize(stored, min_group_size=min_group_size, seed=f"home:{team_id}")
        averages = tuple((q.key, q.average) for q in summary.questions if q.average is not None)
        teams[team_id].feedback = FeedbackGlance(when[team_id], summary.count, summary.threshold,
                                                 averages if summary.figures_shown else ())
