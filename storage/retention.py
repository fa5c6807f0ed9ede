"""Retention: what is past its keeping time, counted (a dry run) or deleted, school by school.

A record belongs to the school year it was made in and is kept through that year and
PLCBOT_RETENTION_YEARS more (`storage.rules.school_year.retention_cutoff`); each school's
cutoff comes from its own current year, on its own local date. Past the cutoff go:

- check-in answers: `Checkin` rows of rounds held before the cutoff, their `SupportRequest`,
  and the rounds themselves (left empty);
- meeting feedback: `Feedback` answered before the cutoff;
- meeting logs of meetings held before the cutoff: the wrap-up (`MeetingRecord`), `Attendance`,
  the agenda items (titles, owners, notes: people's words and ids; an item without them says
  nothing) and the action items (the log's third part, open or done);
- the ids of who started a cycle that began before the cutoff and who submitted its reflection
  (emptied, not deleted: the cycle is a record of the year it began in).

What stays, and why: `Meeting` rows (a date, a status, a title: how often a team met, with no
person in it); `Cycle` rows and their `CycleReflection` (the goal, the metric, the team's own
conclusion and the summary's figures, which are counts and averages without names): the
school's memory of what its teams tried. People, teams, memberships and norms are the
present, not records of a year. The audit log stays: it is the record that purges and
erasures happened, and holds no answers.

The bot's own ledger is shared by every school, so it is purged in one district step of its
own with the earliest of the schools' cutoffs: `Delivery` rows made before it (their keys and
recipients hold user ids) and finished `ScheduledJob` rows that no remaining delivery points to.

Every step is one set-based statement (`DELETE … WHERE … IN (SELECT …)`), the same on SQLite
and PostgreSQL, never one per row, and a dry run counts with the very conditions the deletes
use. Each school is one transaction: a crash leaves it purged or untouched, never half.
What the bot posted in Slack (agenda threads, DMs) is Slack's to keep or delete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, exists, func, or_, update
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from storage.models import (
    ActionItem,
    AgendaItem,
    Attendance,
    Checkin,
    CheckinRound,
    Cycle,
    CycleReflection,
    Delivery,
    Feedback,
    Meeting,
    MeetingRecord,
    Person,
    ScheduledJob,
    School,
    SupportRequest,
    Team,
)
from storage.rules.school_year import YearSpan, default_start, retention_cutoff
from storage.school_years import current_years
from storage.teams import audit

# What a school's purge counts, in the order it deletes (children before their parents).
SCHOOL_KINDS = (
    "support requests",
    "check-ins",
    "check-in rounds",
    "feedback answers",
    "meeting wrap-ups",
    "attendance rows",
    "agenda items",
    "action items",
    "cycle author ids",
)
EMPTIED_KINDS = frozenset({"cycle author ids"})  # rows kept, the user ids in them emptied
LEDGER_KINDS = ("deliveries", "finished jobs")
FINISHED = ("done", "skipped", "failed")


@dataclass(frozen=True)
class SchoolCutoff:
    """One school's cutoff: records dated before `cutoff` (its local day) are past retention."""

    school_id: int
    name: str
    timezone: str
    year: YearSpan
    cutoff: date

    @property
    def cutoff_at(self) -> datetime:
        """The cutoff day's first instant in the school's time zone, in UTC (for stored times)."""
        return midnight(self.cutoff, self.timezone)


@dataclass
class SchoolPurge:
    school: SchoolCutoff
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class LedgerPurge:
    cutoff_at: datetime
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class ForgetPlan:
    """Accounts deactivated before `before` and not yet forgotten (none when the setting is 0)."""

    days: int
    before: datetime | None
    due: list[str] = field(default_factory=list)  # Slack ids: never printed, logged or audited
    forgotten: int = 0
    failed: int = 0


@dataclass
class PurgeReport:
    applied: bool
    retention_years: int
    schools: list[SchoolPurge]
    ledger: LedgerPurge
    forget: ForgetPlan
    old_copies: str = ""  # what was done about deleted rows' old versions (erasure.scrub_after)

    @property
    def total(self) -> int:
        """Rows deleted or emptied (or, on a dry run, that would be), schools and ledger."""
        return sum(s.total for s in self.schools) + self.ledger.total


def midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


# ------------------------------------------------------------------------------------ cutoffs
def cutoffs(session: Session, *, now: datetime, retention_years: int, year_start: tuple[int, int],
            school_ids: list[int] | None = None) -> list[SchoolCutoff]:
    """Each school's cutoff from its current year on its local date (two queries in all)."""
    query = select(School).order_by(col(School.name))
    if school_ids is not None:
        query = query.where(col(School.id).in_(school_ids))
    schools = [s for s in session.exec(query).all() if s.id is not None]
    today = {s.id or 0: now.astimezone(ZoneInfo(s.timezone)).date() for s in schools}
    years = current_years(session, today=today, default=year_start) if schools else {}
    return [SchoolCutoff(s.id or 0, s.name, s.timezone, years[s.id or 0],
                         retention_cutoff(years[s.id or 0].starts_on, retention_years)) for s in schools]


def ledger_cutoff(schools: list[SchoolCutoff], *, now: datetime, retention_years: int,
                  year_start: tuple[int, int], timezone: str) -> datetime:
    """The shared ledger keeps rows as long as the school that keeps longest (earliest cutoff);
    with no school yet, the district's default year in PLCBOT_TIMEZONE."""
    if schools:
        return min(s.cutoff_at for s in schools)
    today = now.astimezone(ZoneInfo(timezone)).date()
    return midnight(retention_cutoff(default_start(today, year_start), retention_years), timezone)


# --------------------------------------------------------------------------- what each kind is
@dataclass(frozen=True)
class _Step:
    """One statement of a purge: rows of `model` matching `where`; deleted, or `clear` applied."""

    kind: str
    model: Any
    where: ColumnElement[bool]
    clear: dict[str, Any] | None = None


def _school_steps(cut: SchoolCutoff) -> list[_Step]:
    teams = select(Team.id).where(Team.school_id == cut.school_id)
    # Statements on a table never use a subquery on that same table: SQL would correlate it.
    round_is_old = and_(col(CheckinRound.team_id).in_(teams), col(CheckinRound.local_day) < cut.cutoff)
    old_rounds = select(CheckinRound.id).where(round_is_old)
    old_checkins = select(Checkin.id).where(col(Checkin.round_id).in_(old_rounds))
    old_meetings = select(Meeting.id).where(col(Meeting.team_id).in_(teams), col(Meeting.starts_at) < cut.cutoff_at)
    cycle_is_old = and_(col(Cycle.team_id).in_(teams), col(Cycle.start_date) < cut.cutoff)
    old_cycles = select(Cycle.id).where(cycle_is_old)
    return [
        _Step("support requests", SupportRequest, col(SupportRequest.checkin_id).in_(old_checkins)),
        _Step("check-ins", Checkin, col(Checkin.round_id).in_(old_rounds)),
        _Step("check-in rounds", CheckinRound, round_is_old),
        _Step("feedback answers", Feedback, and_(col(Feedback.team_id).in_(teams),
                                                 col(Feedback.answered_on) < cut.cutoff)),
        _Step("meeting wrap-ups", MeetingRecord, col(MeetingRecord.meeting_id).in_(old_meetings)),
        _Step("attendance rows", Attendance, col(Attendance.meeting_id).in_(old_meetings)),
        _Step("agenda items", AgendaItem, col(AgendaItem.meeting_id).in_(old_meetings)),
        _Step("action items", ActionItem, and_(
            col(ActionItem.team_id).in_(teams),
            or_(col(ActionItem.meeting_id).in_(old_meetings),
                and_(col(ActionItem.meeting_id).is_(None), col(ActionItem.created_at) < cut.cutoff_at)))),
        _Step("cycle author ids", Cycle, and_(cycle_is_old, col(Cycle.created_by_id).is_not(None)),
              clear={"created_by_id": None}),
        _Step("cycle author ids", CycleReflection, and_(col(CycleReflection.cycle_id).in_(old_cycles),
                                                        col(CycleReflection.submitted_by_id).is_not(None)),
              clear={"submitted_by_id": None}),
    ]


def _ledger_steps(cutoff_at: datetime) -> list[_Step]:
    other = aliased(ScheduledJob)  # not correlated with the job being deleted
    open_jobs = select(other.id).where(other.state.not_in(FINISHED))  # type: ignore[attr-defined]
    old_delivery = and_(col(Delivery.created_at) < cutoff_at,
                        or_(col(Delivery.job_id).is_(None), col(Delivery.job_id).not_in(open_jobs)))
    # A finished job goes once no delivery that stays points to it (the old ones go first).
    kept_delivery = exists().where(col(Delivery.job_id) == col(ScheduledJob.id), ~old_delivery)
    ended = func.coalesce(col(ScheduledJob.finished_at), col(ScheduledJob.due_at))
    return [
        _Step("deliveries", Delivery, old_delivery),
        _Step("finished jobs", ScheduledJob, and_(col(ScheduledJob.state).in_(FINISHED), ended < cutoff_at,
                                                  ~kept_delivery)),
    ]


def _run(session: Session, steps: list[_Step], kinds: tuple[str, ...], *, apply: bool) -> dict[str, int]:
    """Count (dry run) or execute the steps; one COUNT or one DELETE/UPDATE per step."""
    counts = dict.fromkeys(kinds, 0)
    for step in steps:
        if apply:
            if step.clear is None:
                stmt: Any = delete(step.model).where(step.where)
            else:
                stmt = update(step.model).where(step.where).values(**step.clear)
            result = session.execute(stmt.execution_options(synchronize_session=False))
            counts[step.kind] += int(result.rowcount or 0)  # type: ignore[attr-defined]
        else:
            counts[step.kind] += int(session.execute(
                select(func.count()).select_from(step.model).where(step.where)).scalar_one())
    return counts


def _detail(counts: dict[str, int]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in counts.items() if n) or "nothing"


def purge_school(session: Session, cut: SchoolCutoff, *, apply: bool, actor: str, now: datetime) -> SchoolPurge:
    """One school's records past its cutoff, counted or deleted (in the caller's transaction).

    When something was deleted an audit entry `privacy.purge` records the counts (never what
    the rows said), in the school's part of the log.
    """
    counts = _run(session, _school_steps(cut), SCHOOL_KINDS, apply=apply)
    result = SchoolPurge(cut, counts)
    if apply and result.total:
        audit(session, actor=actor, action="privacy.purge", target=f"school:{cut.school_id}",
              detail=f"before {cut.cutoff}: {_detail(counts)}", at=now, school_id=cut.school_id)
    return result


def purge_ledger(session: Session, cutoff_at: datetime, *, apply: bool, actor: str, now: datetime) -> LedgerPurge:
    """The bot's delivery ledger and finished scheduled work made before `cutoff_at`."""
    counts = _run(session, _ledger_steps(cutoff_at), LEDGER_KINDS, apply=apply)
    result = LedgerPurge(cutoff_at, counts)
    if apply and result.total:
        audit(session, actor=actor, action="privacy.purge", target="ledger",
              detail=f"before {cutoff_at:%Y-%m-%d %H:%M} UTC: {_detail(counts)}", at=now)
    return result


# ---------------------------------------------------------------------- deactivated accounts
def forget_plan(session: Session, *, now: datetime, days: int) -> ForgetPlan:
    """Who is due to be forgotten: deactivated more than `days` ago, not yet forgotten (0: nobody)."""
    if days <= 0:
        return ForgetPlan(days, None)
    before = now - timedelta(days=days)
    due = session.exec(
        select(Person.handle)
        .where(col(Person.active).is_(False), col(Person.deactivated_at).is_not(None),
               col(Person.deactivated_at) < before, col(Person.forgotten_at).is_(None))
        .order_by(col(Person.id))
    ).all()
    return ForgetPlan(days, before, list(due))


# ------------------------------------------------------------------------------------ the whole run
Forget = Callable[[Session, str], Any]


def run_purge(db: Any, *, now: datetime, retention_years: int, year_start: tuple[int, int], timezone: str,
              forget_days: int, apply: bool, actor: str, forget: Forget | None = None,
              on_error: Callable[[str, BaseException], None] | None = None) -> PurgeReport:
    """The whole retention run, as the daily job and `plcbot privacy purge` both do it.

    `db` is a `storage.db.Database`. One transaction per school, one for the ledger, one per
    forgotten person; a dry run only reads. `forget(session, handle)` erases one person
    (the caller binds `storage.erasure.forget_person` with its key); a person whose erasure
    fails is counted in `failed` and the run goes on (`on_error` is told, without the user id).
    """
    with db.read() as session:
        schools = cutoffs(session, now=now, retention_years=retention_years, year_start=year_start)
        plan = forget_plan(session, now=now, days=forget_days)
    ledger_at = ledger_cutoff(schools, now=now, retention_years=retention_years, year_start=year_start,
                              timezone=timezone)
    done: list[SchoolPurge] = []
    for cut in schools:
        if apply:
            with db.session() as session:
                done.append(purge_school(session, cut, apply=True, actor=actor, now=now))
        else:
            with db.read() as session:
                done.append(purge_school(session, cut, apply=False, actor=actor, now=now))
    if apply:
        with db.session() as session:
            ledger = purge_ledger(session, ledger_at, apply=True, actor=actor, now=now)
    else:
        with db.read() as session:
            ledger = purge_ledger(session, ledger_at, apply=False, actor=actor, now=now)
    if apply and forget is not None:
        for n, uid in enumerate(plan.due, start=1):
            try:
                with db.session() as session:
                    forget(session, uid)
                plan.forgotten += 1
            except Exception as exc:  # noqa: BLE001 - one person's failure never stops the others
                plan.failed += 1
                if on_error is not None:
                    on_error(f"person {n} of {len(plan.due)}", exc)
    return PurgeReport(apply, retention_years, done, ledger, plan)
