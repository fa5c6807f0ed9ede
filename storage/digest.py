"""The digest's data: aggregate queries for every team of a school (or of all schools) at once.

Each figure and each workbook sheet is ONE query over the whole scope, never one per team or
per row: fifty schools' weekly digests are a dozen queries, not thousands. The sheet rows come
from iterators that stream (`yield_per`: server-side cursors on PostgreSQL), so a year's export
keeps memory flat. Times leave here as naive datetimes in each school's own time zone, ready
for Excel.

Privacy is applied in the SQL itself, so what must not be shown is never read: a check-in
note carries a name only when its team shares names with the principal, an anonymous feedback
answer has no person to join, and ratings and comments of a meeting with fewer answers than
the minimum group are not selected at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, and_, case, cast, func, literal, or_, true
from sqlalchemy import select as sa_select
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, col, select

from storage.models import (
    ActionItem,
    AgendaItem,
    Attendance,
    Checkin,
    CheckinRound,
    Cycle,
    Feedback,
    Meeting,
    MeetingRecord,
    Membership,
    Person,
    School,
    SupportRequest,
    Team,
)
from storage.rules import digest as rules
from storage.rules import visibility
from storage.rules.digest import IsoWeek
from storage.school_years import year_starts

YIELD_PER = 2000
PROGRESS_LABELS = {"on_track": "On track", "some_progress": "Some progress", "stuck": "Stuck"}
CHECKIN_STATUS = {"sent": "asked", "pending": "asked", "away": "away", "failed": "unreachable"}


@dataclass(frozen=True)
class SchoolInfo:
    id: int
    name: str
    timezone: str
    digest_weekday: int = 0
    digest_time: str = "07:00"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Scope:
    """Which schools, and which local days (inclusive), a digest or an export covers."""

    schools: tuple[SchoolInfo, ...]
    first: date
    last: date
    team_ids: tuple[int, ...] | None = None  # only these teams (a facilitator's own digest)
    # (school id, first day of its school year) for schools that have closed a year before
    # `first` (storage.school_years.year_starts): what is carried over (open support requests
    # and action items, cycles, their check-in weeks) counts only from that day.
    since: tuple[tuple[int, date], ...] = ()

    @property
    def school_ids(self) -> list[int]:
        return [s.id for s in self.schools]

    def year_bounds(self) -> list[tuple[list[int], date, datetime]]:
        """(school ids, first day of their year, its local midnight in UTC), grouped by day and zone."""
        groups: dict[tuple[date, str], list[int]] = {}
        by_id = self._by_id()
        for school_id, day in self.since:
            if school_id in by_id:
                groups.setdefault((day, by_id[school_id].timezone), []).append(school_id)
        return [(ids, day, rules.days_bounds(day, day, tz)[0]) for (day, tz), ids in sorted(groups.items())]

    def school(self, school_id: int) -> SchoolInfo:
        return self._by_id()[school_id]

    def _by_id(self) -> dict[int, SchoolInfo]:
        return {s.id: s for s in self.schools}

    def windows(self) -> list[tuple[list[int], datetime, datetime]]:
        """(school ids, UTC start, UTC end) per time zone: local midnight to local midnight."""
        zones: dict[str, list[int]] = {}
        for s in self.schools:
            zones.setdefault(s.timezone, []).append(s.id)
        return [(ids, *rules.days_bounds(self.first, self.last, tz)) for tz, ids in sorted(zones.items())]

    @property
    def earliest(self) -> datetime:
        return min(start for _, start, _ in self.windows())

    @property
    def latest(self) -> datetime:
        return max(end for _, _, end in self.windows())


def schools(session: Session, *, school_ids: Iterable[int] | None = None) -> list[SchoolInfo]:
    query = select(School).order_by(col(School.name))
    if school_ids is not None:
        query = query.where(col(School.id).in_(list(school_ids)))
    return [SchoolInfo(s.id or 0, s.name, s.timezone, s.digest_weekday, s.digest_time)
            for s in session.exec(query).all()]


def week_scope(session: Session, week: IsoWeek, *, school_ids: Iterable[int] | None = None) -> Scope:
    """A week's scope; its school year is the one its Monday falls in (the week a year ends on
    a Friday is still that year's)."""
    return _bounded(session, Scope(tuple(schools(session, school_ids=school_ids)), week.monday, week.sunday))


def range_scope(session: Session, first: date, last: date, *, school_ids: Iterable[int] | None = None) -> Scope:
    return _bounded(session, Scope(tuple(schools(session, school_ids=school_ids)), first, last))


def _bounded(session: Session, scope: Scope) -> Scope:
    starts = year_starts(session, school_ids=scope.school_ids, on=scope.first) if scope.schools else {}
    return replace(scope, since=tuple(sorted(starts.items())))


def _in_scope(scope: Scope, school_ids: list[int] | None = None) -> ColumnElement[bool]:
    """The team (joined as `Team`) belongs to the scope's schools, and teams if it names some."""
    clause: ColumnElement[bool] = col(Team.school_id).in_(scope.school_ids if school_ids is None else school_ids)
    if scope.team_ids is not None:
        clause = and_(clause, col(Team.id).in_(scope.team_ids))
    return clause


def _within(column: Any, scope: Scope) -> ColumnElement[bool]:
    """`column` (an aware UTC time) lies within the scope's days in its team's school's zone."""
    parts = [and_(_in_scope(scope, ids), column >= start, column < end) for ids, start, end in scope.windows()]
    return or_(*parts) if parts else literal(False)


def _since(column: Any, scope: Scope, *, utc: bool) -> ColumnElement[bool]:
    """`column` (a local date, or an aware UTC time if `utc`) is on or after the first day of its
    team's school year, for schools that have closed a year (others: always true)."""
    bounds = scope.year_bounds()
    if not bounds:
        return true()
    bounded = [i for ids, _, _ in bounds for i in ids]
    parts = [and_(col(Team.school_id).in_(ids), column >= (start if utc else day)) for ids, day, start in bounds]
    return or_(col(Team.school_id).not_in(bounded), *parts)


def _cycle_in_year(scope: Scope) -> ColumnElement[bool]:
    """A cycle belongs to the school year it started (or was set up) in; one still running shows
    whatever year it began in. `year close` ends the old year's, so none leaks into the next."""
    bounds = scope.year_bounds()
    if not bounds:
        return true()
    bounded = [i for ids, _, _ in bounds for i in ids]
    parts = [and_(col(Team.school_id).in_(ids),
                  or_(col(Cycle.start_date) >= day, col(Cycle.ended_at).is_(None), col(Cycle.created_at) >= start))
             for ids, day, start in bounds]
    return or_(col(Team.school_id).not_in(bounded), *parts)


def _local(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    """Excel has no time zones: the school's wall-clock time, without tzinfo."""
    if value is None:
        return None
    return value.astimezone(zone).replace(tzinfo=None, microsecond=0)


def _scrambled(column: Any) -> Any:
    """A fixed but meaningless order: rows must not come in the order people joined or answered,
    or a row's place could name its author where names are hidden."""
    # BIGINT: the product passes PostgreSQL's 32-bit INTEGER ("integer out of range").
    return (cast(column, BigInteger) * 2654435761) % 4294967291


def _stream(session: Session, query: Any) -> Iterator[Any]:
    yield from session.execute(query, execution_options={"yield_per": YIELD_PER})


# ------------------------------------------------------------------------------ the weekly figures
def team_facts(session: Session, scope: Scope, *, include_archived: bool = False) -> list[rules.TeamFact]:
    """The scope's teams with their facilitators: two queries whatever the number of teams."""
    query = (sa_select(col(Team.id), col(Team.name), col(Team.channel_id), col(Team.share_names_with_principal),
                       col(Team.school_id))
             .where(_in_scope(scope)).order_by(col(Team.name), col(Team.id)))
    if not include_archived:
        query = query.where(col(Team.archived_at).is_(None))
    rows = session.execute(query).all()
    facs: dict[int, list[str]] = {}
    fac_query = (
        select(Membership.team_id, Person.handle)
        .join(Person, col(Person.id) == Membership.person_id)
        .join(Team, col(Team.id) == Membership.team_id)
        .where(_in_scope(scope), Membership.role == "facilitator",
               col(Membership.active).is_(True), col(Person.active).is_(True))
        .order_by(col(Person.name))
    )
    for team_id, uid in session.execute(fac_query).all():
        facs.setdefault(team_id, []).append(uid)
    return [rules.TeamFact(tid, name, channel, bool(share), tuple(facs.get(tid, ())), school_id)
            for tid, name, channel, share, school_id in rows]


def _attendance(scope: Scope) -> Any:
    """Present/absent per meeting, counted only for the scope's meetings (not the whole table)."""
    return (
        select(
            Attendance.meeting_id.label("meeting_id"),  # type: ignore[attr-defined]
            func.sum(case((col(Attendance.present).is_(True), 1), else_=0)).label("present"),
            func.sum(case((col(Attendance.present).is_(True), 0), else_=1)).label("absent"),
        )
        .join(Meeting, col(Meeting.id) == Attendance.meeting_id)
        .join(Team, col(Team.id) == Meeting.team_id)
        .where(_within(col(Meeting.starts_at), scope))
        .group_by(col(Attendance.meeting_id))
        .subquery("att")
    )


def meeting_facts(session: Session, scope: Scope) -> list[rules.MeetingFact]:
    att = _attendance(scope)
    query = (
        sa_select(col(Meeting.team_id), col(Meeting.status), col(Meeting.agenda_ts).is_not(None),
                  func.coalesce(att.c.present, 0), func.coalesce(att.c.absent, 0))
        .join(Team, col(Team.id) == Meeting.team_id)
        .outerjoin(att, att.c.meeting_id == Meeting.id)
        .where(_within(col(Meeting.starts_at), scope))
    )
    return [rules.MeetingFact(t, s, bool(a), int(p or 0), int(b or 0)) for t, s, a, p, b in session.execute(query)]


def _feedback_counts(scope: Scope) -> Any:
    return (
        select(Feedback.meeting_id.label("meeting_id"), func.count().label("n"))  # type: ignore[attr-defined]
        .join(Meeting, col(Meeting.id) == Feedback.meeting_id)
        .join(Team, col(Team.id) == Meeting.team_id)
        .where(_within(col(Meeting.starts_at), scope))
        .group_by(col(Feedback.meeting_id))
        .subquery("fbn")
    )


def rating_totals(session: Session, scope: Scope) -> list[rules.RatingTotals]:
    """Per meeting: how many answered and the sums of the ratings; nobody's single answer."""
    query = (
        sa_select(col(Feedback.team_id), col(Feedback.meeting_id), func.count(),
                  func.sum(Feedback.useful), func.sum(Feedback.learned), func.sum(Feedback.norms))
        .join(Meeting, col(Meeting.id) == Feedback.meeting_id)
        .join(Team, col(Team.id) == Meeting.team_id)
        .where(_within(col(Meeting.starts_at), scope))
        .group_by(col(Feedback.team_id), col(Feedback.meeting_id))
    )
    return [rules.RatingTotals(t, m, int(n), (float(u or 0), float(le or 0), float(no or 0)))
            for t, m, n, u, le, no in session.execute(query)]


def round_facts(session: Session, scope: Scope, *, since: date | None = None) -> list[rules.RoundFact]:
    """Every check-in week of the cycles running in the scope, up to its last day.

    Rounds from `since` on (default: the cycles' starts) give last week's response rate and the
    chart's line by cycle week.
    """
    asked = col(Checkin.status).in_(rules.ASKED_STATES)
    answered = and_(asked, col(Checkin.progress).in_(rules.PROGRESS))
    has_value = and_(asked, col(Checkin.value).is_not(None))
    query = (
        sa_select(
            col(CheckinRound.team_id), col(CheckinRound.cycle_id), col(CheckinRound.week), col(CheckinRound.local_day),
            col(CheckinRound.state),
            func.sum(case((asked, 1), else_=0)),
            func.sum(case((answered, 1), else_=0)),
            func.sum(case((has_value, 1), else_=0)),
            func.avg(case((has_value, Checkin.value), else_=None)),
        )
        .join(Team, col(Team.id) == CheckinRound.team_id)
        .join(Cycle, col(Cycle.id) == CheckinRound.cycle_id)
        .outerjoin(Checkin, col(Checkin.round_id) == CheckinRound.id)
        .where(_in_scope(scope), col(CheckinRound.local_day) <= scope.last,
               col(Cycle.start_date) <= scope.last,
               or_(col(Cycle.ended_at).is_(None), col(Cycle.ended_at) >= scope.earliest - timedelta(days=7)),
               _cycle_in_year(scope), _since(col(CheckinRound.local_day), scope, utc=False))
        .group_by(col(CheckinRound.id), col(CheckinRound.team_id), col(CheckinRound.cycle_id),
                  col(CheckinRound.week), col(CheckinRound.local_day), col(CheckinRound.state))
    )
    if since is not None:
        query = query.where(col(CheckinRound.local_day) >= since)
    return [
        rules.RoundFact(t, c, w, d, int(a or 0), int(n or 0), int(v or 0), float(m) if m is not None else None, s)
        for t, c, w, d, s, a, n, v, m in session.execute(query)
    ]


def _cycles_query(scope: Scope) -> Any:
    return (
        select(Cycle)
        .join(Team, col(Team.id) == Cycle.team_id)
        .where(_in_scope(scope), col(Cycle.start_date) <= scope.last,
               or_(col(Cycle.ended_at).is_(None), col(Cycle.ended_at) >= scope.earliest), _cycle_in_year(scope))
    )


def cycle_facts(session: Session, scope: Scope) -> list[rules.CycleFact]:
    return [
        rules.CycleFact(c.team_id, c.id or 0, c.title, c.metric_name, c.metric_unit, c.baseline, c.target,
                        c.start_date, c.weeks, c.status)
        for c in session.exec(_cycles_query(scope)).all()
    ]


def support_facts(session: Session, scope: Scope) -> list[rules.SupportFact]:
    """Requests not yet resolved (and any made within the scope), with the teacher's name."""
    query = (
        sa_select(col(SupportRequest.team_id), col(Person.name), col(SupportRequest.state),
                  col(SupportRequest.created_at), col(Team.school_id))
        .join(Person, col(Person.id) == SupportRequest.person_id)
        .join(Team, col(Team.id) == SupportRequest.team_id)
        .where(_in_scope(scope), col(SupportRequest.created_at) < scope.latest,
               col(SupportRequest.state) != "resolved", _since(col(SupportRequest.created_at), scope, utc=True))
    )
    return [rules.SupportFact(t, name or "(no name)", state, created.astimezone(scope.school(sid).zone).date())
            for t, name, state, created, sid in session.execute(query)]


# ------------------------------------------------------------------------------------ sheet rows
def _may_name(kind: visibility.Kind) -> ColumnElement[bool]:
    """Whether the digest may print whose a row of `kind` is, as SQL: the digest's rule in
    storage/rules/visibility.py (the table `/plc privacy` and README show), whoever gets it."""
    rule = visibility.names_at(kind, visibility.DIGEST)
    if rule is visibility.Names.SHOWN:
        return true()
    if rule is visibility.Names.IF_SHARED:
        return col(Team.share_names_with_principal).is_(True)
    return literal(False)


def checkin_rows(session: Session, scope: Scope) -> Iterator[tuple[Any, ...]]:
    """Check-ins: School, Team, Cycle, Week, Day, Teacher, Status, Progress, Data point, Evidence, Answered.

    The teacher's name only where the team shares names with its principal (decided in SQL);
    so is the minute an answer came in, which could name its author as surely ("I answered
    right after lunch"), as the feedback rules keep only an answer's day for the same reason.
    """
    shared = _may_name(visibility.CHECKINS)
    name = case((shared, Person.name), else_=None)
    answered_at = case((shared, Checkin.answered_at), else_=None)
    query = (
        sa_select(col(School.name), col(Team.name), col(Cycle.title), col(CheckinRound.week),
                  col(CheckinRound.local_day), name, col(Checkin.status), col(Checkin.progress), col(Checkin.value),
                  col(Checkin.evidence), answered_at, col(School.id))
        .join(CheckinRound, col(CheckinRound.id) == Checkin.round_id)
        .join(Cycle, col(Cycle.id) == Checkin.cycle_id)
        .join(Team, col(Team.id) == CheckinRound.team_id)
        .join(School, col(School.id) == Team.school_id)
        .join(Person, col(Person.id) == Checkin.person_id)
        .where(_in_scope(scope), col(CheckinRound.local_day) >= scope.first,
               col(CheckinRound.local_day) <= scope.last)
        .order_by(col(School.name), col(Team.name), col(CheckinRound.local_day), col(Checkin.progress),
                  col(Checkin.value), _scrambled(col(Checkin.id)))
    )
    zones = {s.id: s.zone for s in scope.schools}
    for sn, tn, cyc, week, day, who, status, progress, value, evidence, answered_at, sid in _stream(session, query):
        answered = status in rules.ASKED_STATES and progress in rules.PROGRESS
        label = "answered" if answered else ("no answer" if status in rules.ASKED_STATES else
                                             CHECKIN_STATUS.get(status, status))
        yield (sn, tn, cyc, week, day, who or "", label, PROGRESS_LABELS.get(progress or "", ""),
               value, evidence or "", _local(answered_at, zones[sid]))


def support_rows(session: Session, scope: Scope) -> Iterator[tuple[Any, ...]]:
    """Support requests: School, Team, Teacher, Week, Asked, State, Followed up by, What would help."""
    follower = Person.__table__.alias("follower")  # type: ignore[attr-defined]
    query = (
        sa_select(col(School.name), col(Team.name), col(Person.name), col(Checkin.week),
                  col(SupportRequest.created_at), col(SupportRequest.state), follower.c.name,
                  follower.c.handle, col(Checkin.support), col(Checkin.progress), col(School.id))
        .join(Checkin, col(Checkin.id) == SupportRequest.checkin_id)
        .join(Person, col(Person.id) == SupportRequest.person_id)
        .join(Team, col(Team.id) == SupportRequest.team_id)
        .join(School, col(School.id) == Team.school_id)
        .outerjoin(follower, follower.c.id == SupportRequest.follower_id)
        .where(or_(
            and_(_in_scope(scope), col(SupportRequest.state) != "resolved",
                 col(SupportRequest.created_at) < scope.latest,
                 _since(col(SupportRequest.created_at), scope, utc=True)),
            _within(col(SupportRequest.created_at), scope),
        ))
        .order_by(col(School.name), col(Team.name), col(SupportRequest.created_at))
    )
    zones = {s.id: s.zone for s in scope.schools}
    states = {"open": "waiting", "following_up": "following up", "resolved": "resolved"}
    for sn, tn, who, week, created, state, fname, fuid, support, progress, sid in _stream(session, query):
        help_text = support or ("Marked the check-in 'stuck'" if progress == "stuck" else "")
        yield (sn, tn, who or "", week, _local(created, zones[sid]), states.get(state, state),
               fname or fuid or "", help_text)


def feedback_rows(session: Session, scope: Scope, *, min_group_size: int) -> Iterator[tuple[Any, ...]]:
    """Feedback: School, Team, Meeting, Answers, Useful, Learned, Norms, Will try, Evidence, Next focus, Name, Note.

    One row per answer, in random-id order (never the order given). Ratings and texts only
    for meetings with at least the minimum group of answers; a smaller meeting gives one row
    saying so. A name only for a non-anonymous answer of a team that shares names.
    """
    threshold = rules.min_group(min_group_size)
    counts = _feedback_counts(scope)
    shown = counts.c.n >= threshold

    def keep(column: Any) -> Any:
        return case((shown, column), else_=None)

    name = case((and_(shown, col(Feedback.anonymous).is_(False), _may_name(visibility.NAMED_FEEDBACK)),
                 Person.name), else_=None)
    query = (
        sa_select(col(School.name), col(Team.name), col(Meeting.starts_at), col(Meeting.id), counts.c.n,
                  keep(Feedback.useful), keep(Feedback.learned), keep(Feedback.norms),
                  keep(Feedback.will_try), keep(Feedback.evidence), keep(Feedback.next_focus), name, col(School.id))
        .join(counts, counts.c.meeting_id == Feedback.meeting_id)
        .join(Meeting, col(Meeting.id) == Feedback.meeting_id)
        .join(Team, col(Team.id) == Meeting.team_id)
        .join(School, col(School.id) == Team.school_id)
        .outerjoin(Person, col(Person.id) == Feedback.person_id)
        .order_by(col(School.name), col(Team.name), col(Meeting.starts_at), col(Meeting.id), col(Feedback.id))
    )
    zones = {s.id: s.zone for s in scope.schools}
    withheld = rules.FEWER_THAN.format(n=threshold)
    last_small: int | None = None
    for sn, tn, starts, mid, n, u, le, no, wt, ev, nf, who, sid in _stream(session, query):
        if n < threshold:
            if mid == last_small:
                continue
            last_small = mid
            yield (sn, tn, _local(starts, zones[sid]), n, None, None, None, "", "", "", "", withheld)
            continue
        yield (sn, tn, _local(starts, zones[sid]), n, u, le, no, wt or "", ev or "", nf or "", who or "", "")


def meeting_rows(session: Session, scope: Scope) -> Iterator[tuple[Any, ...]]:
    """Meetings and agendas: School, Team, Date, Title, Status, Agenda posted, Items, Agenda,
    Present, Absent, Attendance, Decisions.

    The agenda's items come from a second cursor in the same order, merged in step, so no
    meeting's items wait in memory for long.
    """
    att = _attendance(scope)
    order = (col(School.name), col(Team.name), col(Meeting.starts_at), col(Meeting.id))
    meetings = (
        sa_select(col(School.name), col(Team.name), col(Meeting.starts_at), col(Meeting.title), col(Meeting.template),
                  col(Meeting.status), col(Meeting.agenda_ts).is_not(None), func.coalesce(att.c.present, 0),
                  func.coalesce(att.c.absent, 0), col(MeetingRecord.decisions), col(Meeting.id), col(School.id))
        .join(Team, col(Team.id) == Meeting.team_id)
        .join(School, col(School.id) == Team.school_id)
        .outerjoin(att, att.c.meeting_id == Meeting.id)
        .outerjoin(MeetingRecord, col(MeetingRecord.meeting_id) == Meeting.id)
        .where(_within(col(Meeting.starts_at), scope))
        .order_by(*order)
    )
    items = (
        select(AgendaItem.meeting_id, AgendaItem.title, AgendaItem.minutes)
        .join(Meeting, col(Meeting.id) == AgendaItem.meeting_id)
        .join(Team, col(Team.id) == Meeting.team_id)
        .join(School, col(School.id) == Team.school_id)
        .where(_within(col(Meeting.starts_at), scope))
        .order_by(*order, col(AgendaItem.position), col(AgendaItem.id))
    )
    zones = {s.id: s.zone for s in scope.schools}
    item_iter = iter(list(session.execute(items)) if _needs_buffer(session) else _stream(session, items))
    pending = next(item_iter, None)
    for sn, tn, starts, title, template, status, posted, present, absent, decisions, mid, sid in _stream(
            session, meetings):
        lines: list[str] = []
        while pending is not None and pending[0] == mid:
            lines.append(f"{len(lines) + 1}. {pending[1]} ({pending[2]} min)")
            pending = next(item_iter, None)
        expected = int(present or 0) + int(absent or 0)
        yield (sn, tn, _local(starts, zones[sid]), title or (template or "").replace("_", " ").capitalize(),
               status, "yes" if posted else "no", len(lines), "\n".join(lines),
               int(present or 0) if status == "held" else None, int(absent or 0) if status == "held" else None,
               (int(present or 0) / expected) if status == "held" and expected else None, decisions or "")


def _needs_buffer(session: Session) -> bool:
    # Two server-side cursors at once are fine on both databases; kept as a switch for drivers
    # that allow only one open result per connection.
    return False


def action_rows(session: Session, scope: Scope) -> Iterator[tuple[Any, ...]]:
    """Action items: School, Team, Action item, Owner, Due, Status, Overdue, Created, Done.

    Those open at the scope's end, and those made or finished within it.
    """
    parts = [
        and_(_in_scope(scope, ids), col(ActionItem.created_at) < end,
             or_(col(ActionItem.status) == "open", col(ActionItem.done_at) >= start,
                 col(ActionItem.created_at) >= start),
             _since(col(ActionItem.created_at), scope, utc=True))
        for ids, start, end in scope.windows()
    ]
    query = (
        sa_select(col(School.name), col(Team.name), col(ActionItem.text), col(Person.name), col(ActionItem.due_date),
                  col(ActionItem.status), col(ActionItem.created_at), col(ActionItem.done_at), col(School.id))
        .join(Team, col(Team.id) == ActionItem.team_id)
        .join(School, col(School.id) == Team.school_id)
        .join(Person, col(Person.id) == ActionItem.owner_id)
        .where(or_(*parts) if parts else literal(False))
        .order_by(col(School.name), col(Team.name), col(ActionItem.created_at), col(ActionItem.id))
    )
    zones = {s.id: s.zone for s in scope.schools}
    for sn, tn, text, owner, due, status, created, done, sid in _stream(session, query):
        overdue = status == "open" and due is not None and due < scope.last
        yield (sn, tn, text, owner or "", due, status, "yes" if overdue else "no",
               _local(created, zones[sid]), _local(done, zones[sid]))


def cycle_rows(session: Session, scope: Scope, rounds: Iterable[rules.RoundFact] | None = None,
               ) -> Iterator[tuple[Any, ...]]:
    """Cycles and goals: School, Team, Cycle, Goal, Strategy, Metric, Unit, Baseline, Target,
    Start, Weeks, Status, Latest point, Latest week, Progress to target, Response rate."""
    if rounds is None:
        rounds = round_facts(session, scope)
    latest: dict[int, tuple[int, float]] = {}
    totals: dict[int, list[int]] = {}
    for r in rounds:
        t = totals.setdefault(r.cycle_id, [0, 0])
        t[0] += r.asked
        t[1] += r.answered
        if r.mean is not None and (r.cycle_id not in latest or r.week > latest[r.cycle_id][0]):
            latest[r.cycle_id] = (r.week, r.mean)
    query = (
        select(School.name, Team.name, Cycle)
        .join(Team, col(Team.id) == Cycle.team_id)
        .join(School, col(School.id) == Team.school_id)
        .where(_in_scope(scope), col(Cycle.start_date) <= scope.last,
               or_(col(Cycle.ended_at).is_(None), col(Cycle.ended_at) >= scope.earliest), _cycle_in_year(scope))
        .order_by(col(School.name), col(Team.name), col(Cycle.start_date))
    )
    for sn, tn, c in session.execute(query):
        week, point = latest.get(c.id, (None, None))
        progress = None
        if point is not None and c.target != c.baseline:
            progress = (point - c.baseline) / (c.target - c.baseline)
        asked, answered = totals.get(c.id, (0, 0))
        yield (sn, tn, c.title, c.goal, c.strategy, c.metric_name, c.metric_unit, c.baseline, c.target,
               c.start_date, c.weeks, c.status, point, week, progress, rules.rate(answered, asked))


def counts(session: Session, scope: Scope) -> dict[str, int]:
    """How many rows each big sheet will have (for a progress bar): one COUNT per sheet."""
    def one(query: Any) -> int:
        return int(session.execute(query).scalar() or 0)

    in_schools = _in_scope(scope)
    return {
        "checkins": one(select(func.count()).select_from(Checkin)
                        .join(CheckinRound, col(CheckinRound.id) == Checkin.round_id)
                        .join(Team, col(Team.id) == CheckinRound.team_id)
                        .where(in_schools, col(CheckinRound.local_day) >= scope.first,
                               col(CheckinRound.local_day) <= scope.last)),
        "feedback": one(select(func.count()).select_from(Feedback)
                        .join(Meeting, col(Meeting.id) == Feedback.meeting_id)
                        .join(Team, col(Team.id) == Meeting.team_id)
                        .where(_within(col(Meeting.starts_at), scope))),
        "meetings": one(select(func.count()).select_from(Meeting).join(Team, col(Team.id) == Meeting.team_id)
                        .where(_within(col(Meeting.starts_at), scope))),
        "actions": one(select(func.count()).select_from(ActionItem).join(Team, col(Team.id) == ActionItem.team_id)
                       .where(in_schools, col(ActionItem.created_at) < scope.latest,
                              _since(col(ActionItem.created_at), scope, utc=True))),
    }


# ------------------------------------------------------------------------------ putting it together
@dataclass
class SchoolDigest:
    """One school's week: the figures per team and the data the workbook's Summary charts."""

    school: SchoolInfo
    week: IsoWeek
    teams: list[rules.TeamFigures]
    charts: list[rules.ChartSeries]
    rounds: list[rules.RoundFact] = field(default_factory=list)  # kept for the Cycles sheet
    since: date | None = None  # first day of the school's year, if it has closed one (Scope.since)

    @property
    def has_data(self) -> bool:
        return any(not t.quiet for t in self.teams)

    @property
    def team_ids(self) -> list[int]:
        return [t.team.team_id for t in self.teams]

    def only(self, team_ids: Iterable[int]) -> SchoolDigest:
        keep = set(team_ids)
        names = {t.team.name for t in self.teams if t.team.team_id in keep}
        return SchoolDigest(self.school, self.week, [t for t in self.teams if t.team.team_id in keep],
                            [c for c in self.charts if c.team in names],
                            [r for r in self.rounds if r.team_id in keep], self.since)


def build_digests(session: Session, week: IsoWeek, *, school_ids: Iterable[int] | None = None,
                  min_group_size: int = rules.MIN_GROUP_FLOOR) -> dict[int, SchoolDigest]:
    """Every school's figures for one week, in a fixed number of queries for all of them."""
    scope = week_scope(session, week, school_ids=school_ids)
    if not scope.schools:
        return {}
    teams = team_facts(session, scope)
    meetings = rules.by_team(meeting_facts(session, scope))
    feedback = rules.by_team(rating_totals(session, scope))
    rounds = rules.by_team(round_facts(session, scope))
    cycles = rules.by_team(cycle_facts(session, scope))
    support = rules.by_team(support_facts(session, scope))
    since = dict(scope.since)
    out = {s.id: SchoolDigest(s, week, [], [], since=since.get(s.id)) for s in scope.schools}
    for team in teams:
        tid = team.team_id
        figures = rules.team_figures(
            team, week=week, meetings=meetings.get(tid, []), feedback=feedback.get(tid, []),
            rounds=rounds.get(tid, []), cycles=cycles.get(tid, []), support=support.get(tid, []),
            min_group_size=min_group_size,
        )
        digest = out[team.school_id]
        digest.teams.append(figures)
        digest.rounds.extend(rounds.get(tid, []))
        series = rules.chart_series(team, rules.current_cycle(cycles.get(tid, []), week), rounds.get(tid, []), week)
        if series is not None:
            digest.charts.append(series)
    return out


def range_figures(session: Session, scope: Scope, *, min_group_size: int = rules.MIN_GROUP_FLOOR,
                  rounds: list[rules.RoundFact] | None = None) -> list[tuple[SchoolInfo, rules.TeamFigures]]:
    """Per-team totals over a range of days (the year's Summary), in the same fixed set of queries.

    `rounds` (from `round_facts` over the same scope) saves reading them twice when the caller
    needs them too.
    """
    teams = team_facts(session, scope, include_archived=True)
    meetings = rules.by_team(meeting_facts(session, scope))
    feedback = rules.by_team(rating_totals(session, scope))
    team_rounds = rules.by_team(round_facts(session, scope) if rounds is None else rounds)
    cycles = rules.by_team(cycle_facts(session, scope))
    support = rules.by_team(support_facts(session, scope))
    end_week = IsoWeek.of(scope.last)
    out = []
    for team in teams:
        tid = team.team_id
        mine = team_rounds.get(tid, [])
        out.append((scope.school(team.school_id), rules.team_figures(
            team, week=end_week, meetings=meetings.get(tid, []), feedback=feedback.get(tid, []), rounds=mine,
            cycles=cycles.get(tid, []), support=support.get(tid, []), min_group_size=min_group_size,
            checkins=rules.range_checkins(mine, scope.first, scope.last),
        )))
    out.sort(key=lambda pair: (pair[0].name, pair[1].team.name))
    return out
