"""Learning-cycle work as scheduled rows: the weekly check-in round, one reminder, the window's
close (summary to the channel, support requests to facilitators) and the end-of-cycle reflection.

Due times are computed per team: the check-in day and time in the team's `ZoneInfo`
(`datetime.combine`, so 14:00 stays 14:00 local across a daylight-saving change), then moved
into school hours (team override, else the school's, else PLCBOT_SCHOOL_HOURS).

Work missed while the bot was down (the `is_stale` rule of each kind):
- `checkin_round` ("check-in"): still runs the same school day it was due (local time, until
  school closes); after that it is skipped and logged. A check-in arriving days late would
  ask about the wrong week. `plcbot jobs run ID` forces it anyway.
- `checkin_reminder`: runs while the round's window is still open; skipped after it closes.
- `checkin_close`: never stale. The channel's summary and the support requests are still owed
  late; a support request must never be lost.
- `cycle_reflection`: never stale while the cycle is open (it checks at run time).
Whatever runs outside school hours (the bot came back at night) gives itself back to the next
opening instead of reaching anyone, and is judged stale or not again then.

A round sends several DMs at once (ROUND_THREADS) through the delivery ledger: each key is
`checkin:{cycle}:{user}:{week}`, so a rerun after a crash sends nothing twice. One unreachable
teacher is recorded as failed and the facilitators are told; deliveries left in doubt (pending,
unknown, in flight) release the job for another try instead of finishing it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from scheduling import delivery, keys
from scheduling.hours import SchoolHours, parse_school_hours
from storage import checkins as store
from storage import cycles as cycle_store
from storage import jobs
from storage.models import Checkin, CheckinRound, Cycle, Person, ScheduledJob, School, Team
from storage.people import slack_ids
from storage.rules import cycles as rules
from storage.views import cycles as views

if TYPE_CHECKING:
    from scheduling.registry import Registry
    from scheduling.services import Services

log = logging.getLogger("plcbot.checkins")

ROUND_THREADS = 8
RETRY_AFTER = timedelta(minutes=1)
MAX_ATTEMPTS = 30
KINDS = ("checkin_round", "checkin_reminder", "checkin_close", "cycle_reflection")


# ---------------------------------------------------------------------------- time
def hours_for(services: Services, team: Team, school: School | None = None) -> SchoolHours:
    spec = team.school_hours or (school.school_hours if school else None) or services.settings.school_hours
    try:
        return parse_school_hours(spec)
    except ValueError:
        log.warning("Team %s has unreadable school hours %r; using the default", team.id, spec)
        return parse_school_hours(services.settings.school_hours)


def rule_hours(hours: SchoolHours) -> rules.Hours:
    return rules.Hours(hours.weekdays, hours.opens, hours.closes)


def local_due(day: date, hhmm: str, tz: ZoneInfo, hours: SchoolHours) -> datetime:
    """`hhmm` on `day` in the team's zone, as UTC, moved into school hours when outside them."""
    local = datetime.combine(day, time.fromisoformat(hhmm.zfill(5)), tzinfo=tz)
    return hours.next_open(local.astimezone(UTC), tz)


def school_day_end(day: date, tz: ZoneInfo, hours: SchoolHours) -> datetime:
    return datetime.combine(day, hours.closes, tzinfo=tz).astimezone(UTC)


def _payload(job: ScheduledJob) -> dict[str, Any]:
    try:
        return json.loads(job.payload or "{}")
    except ValueError:
        return {}


def _stale_after(job: ScheduledJob, now: datetime) -> bool:
    limit = _payload(job).get("stale_after")
    return bool(limit) and now > datetime.fromisoformat(str(limit))


def _never(job: ScheduledJob, now: datetime) -> bool:
    return False


# ---------------------------------------------------------------------------- planning
# The planner runs on every tick (every 20 s), for every open cycle. It reads everything in a
# fixed number of queries whatever the number of teams, works out the rows each cycle needs in
# memory, and opens a write transaction only for a cycle whose rows differ: a quiet tick takes
# no write lock at all (on SQLite the one writer would otherwise queue every click behind it).
CHUNK = 500  # ids or keys per IN (...): well within SQLite's and PostgreSQL's parameter limits


@dataclass(frozen=True)
class Work:
    """One row a cycle needs: what, its dedupe key, when, and its payload."""

    kind: str
    key: str
    due: datetime
    team_id: int
    cycle_id: int
    payload: dict[str, Any]


@dataclass
class CyclePlan:
    """Everything one open cycle needs at `now`, computed without touching the database."""

    cycle_id: int
    resume: bool = False  # a pause that ran out
    end: bool = False  # two weeks past its last week
    work: list[Work] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)  # round keys past a shortened cycle's end
    closes: dict[int, datetime] = field(default_factory=dict)  # open round id -> when it closes

    def dedupe_keys(self) -> list[str]:
        return [w.key for w in self.work] + self.cancel


def _chunks(items: list[Any], size: int = CHUNK) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _round_work(cycle: Cycle, team: Team, week: int, tz: ZoneInfo, hours: SchoolHours) -> Work:
    day = rules.checkin_day(cycle.start_date, week, cycle.checkin_weekday)
    due = local_due(day, cycle.checkin_time, tz, hours)
    stale = school_day_end(due.astimezone(tz).date(), tz, hours)
    return Work("checkin_round", keys.checkin_round_job(cycle.id, week), due, team.id or 0, cycle.id or 0,
                {"cycle_id": cycle.id, "week": week, "stale_after": stale.isoformat()})


def _round_closes(cycle: Cycle, round_: CheckinRound, tz: ZoneInfo, hours: SchoolHours) -> datetime:
    return hours.next_open(round_.opened_at + rules.round_window(cycle.reminder_hours), tz)


def _followup_work(cycle: Cycle, team: Team, round_: CheckinRound, tz: ZoneInfo,
                   hours: SchoolHours) -> list[Work]:
    """The reminder and the close of an open round, from when it was actually sent."""
    closes = _round_closes(cycle, round_, tz, hours)
    remind = hours.next_open(round_.opened_at + timedelta(hours=cycle.reminder_hours), tz)
    base = {"cycle_id": cycle.id, "week": round_.week, "round_id": round_.id}
    out = []
    if remind < closes:
        out.append(Work("checkin_reminder", keys.checkin_reminder_job(cycle.id, round_.week), remind, team.id or 0,
                        cycle.id or 0, {**base, "stale_after": closes.isoformat()}))
    out.append(Work("checkin_close", keys.checkin_close_job(cycle.id, round_.week), closes, team.id or 0,
                    cycle.id or 0, base))
    return out


def desired(services: Services, cycle: Cycle, team: Team, school: School | None,
            open_rounds: list[CheckinRound], now: datetime) -> CyclePlan:
    """What an open cycle needs now: this week's and next week's rounds, the reflection, the
    reminder and close of its open rounds; or to resume (pause over) or end (long over)."""
    tz = ZoneInfo(team.timezone)
    hours = hours_for(services, team, school)
    today = now.astimezone(tz).date()
    out = CyclePlan(cycle.id or 0)
    out.resume = cycle.status == "paused" and cycle.paused_until is not None and cycle.paused_until < today
    if today > rules.end_date(cycle.start_date, cycle.weeks) + timedelta(days=14):
        out.end = True
        return out
    week = rules.cycle_week(cycle.start_date, cycle.weeks, today)
    first = 1 if today < cycle.start_date else week
    if first is not None:
        out.work.extend(_round_work(cycle, team, w, tz, hours) for w in range(first, min(first + 1, cycle.weeks) + 1))
    last_day = rules.checkin_day(cycle.start_date, cycle.weeks, cycle.checkin_weekday)
    reflect_at = hours.next_open(local_due(last_day, cycle.checkin_time, tz, hours) + timedelta(hours=1), tz)
    out.work.append(Work("cycle_reflection", keys.cycle_reflection_job(cycle.id), reflect_at, team.id or 0,
                         cycle.id or 0, {"cycle_id": cycle.id}))
    for round_ in open_rounds:
        out.work.extend(_followup_work(cycle, team, round_, tz, hours))
        out.closes[round_.id or 0] = _round_closes(cycle, round_, tz, hours)
    # An edit that shortened the cycle: weeks past the end no longer happen.
    out.cancel = [keys.checkin_round_job(cycle.id, w) for w in range(cycle.weeks + 1, rules.MAX_WEEKS + 1)]
    return out


def _needs(work: Work, job: ScheduledJob | None) -> bool:
    """`jobs.schedule` would write: no row yet, or a pending row due at another time."""
    return job is None or (job.state == "pending" and job.due_at != work.due)


def changed(plan_: CyclePlan, existing: dict[str, ScheduledJob], rounds: dict[int, CheckinRound]) -> bool:
    """Does the database differ from the plan (so a write transaction is worth opening)?"""
    if plan_.resume or plan_.end or any(_needs(w, existing.get(w.key)) for w in plan_.work):
        return True
    if any(k in existing and existing[k].state == "pending" for k in plan_.cancel):
        return True
    return any(rounds[rid].closes_at != closes for rid, closes in plan_.closes.items() if rid in rounds)


def _open_cycles_query(cycle_ids: list[int] | None) -> Any:
    query = (select(Cycle, Team, School)
             .join(Team, col(Team.id) == Cycle.team_id)
             .join(School, col(School.id) == Team.school_id, isouter=True)
             .where(col(Cycle.status).in_(cycle_store.OPEN)))
    if cycle_ids is not None:
        query = query.where(col(Cycle.id).in_(cycle_ids))
    return query.order_by(col(Cycle.id))


def _open_rounds(session: Session, cycle_ids: list[int]) -> list[CheckinRound]:
    out: list[CheckinRound] = []
    for chunk in _chunks(cycle_ids):
        out.extend(session.exec(select(CheckinRound).where(col(CheckinRound.cycle_id).in_(chunk),
                                                           CheckinRound.state == "open")).all())
    return out


def _jobs_by_key(session: Session, keys: list[str]) -> dict[str, ScheduledJob]:
    found: dict[str, ScheduledJob] = {}
    for chunk in _chunks(keys):
        for job in session.exec(select(ScheduledJob).where(col(ScheduledJob.dedupe_key).in_(chunk))).all():
            found[job.dedupe_key] = job
    return found


def plan(services: Services, now: datetime) -> None:
    """Make sure every open cycle has its rows: this week's and next week's rounds, the reminder
    and close of open rounds, the reflection; resume pauses that ran out; end cycles long over.

    Three reads in all (cycles with their teams and schools, open rounds, the rows those cycles
    need, by key); a write only for a cycle whose rows differ from what it needs.
    """
    plan_cycles(services, now=now)


def plan_cycle(services: Services, cycle_id: int, *, now: datetime | None = None) -> None:
    """Plan one cycle (also called right after a cycle is started, edited or resumed)."""
    plan_cycles(services, now=now or services.clock.now(), cycle_ids=[cycle_id])


def plan_cycles(services: Services, *, now: datetime, cycle_ids: list[int] | None = None) -> list[int]:
    """Plan the open cycles (all, or `cycle_ids`); returns the ids of the cycles it wrote for."""
    with services.db.read() as session:
        rows = list(session.exec(_open_cycles_query(cycle_ids)).all())
        if not rows:
            return []
        rounds = _open_rounds(session, [c.id for c, _, _ in rows if c.id is not None])
        by_cycle: dict[int, list[CheckinRound]] = {}
        for r in rounds:
            by_cycle.setdefault(r.cycle_id, []).append(r)
        plans: list[CyclePlan] = []
        for cycle, team, school in rows:
            try:
                plans.append(desired(services, cycle, team, school, by_cycle.get(cycle.id or 0, []), now))
            except Exception:
                log.exception("Planning cycle %s failed", cycle.id)
        existing = _jobs_by_key(session, [k for p in plans for k in p.dedupe_keys()])
    round_by_id = {r.id or 0: r for r in rounds}
    wrote = []
    for p in plans:
        if not changed(p, existing, round_by_id):
            continue
        try:
            _apply(services, p.cycle_id, now)
            wrote.append(p.cycle_id)
        except Exception:
            log.exception("Planning cycle %s failed", p.cycle_id)
    return wrote


def _apply(services: Services, cycle_id: int, now: datetime) -> None:
    """Bring one cycle's rows in line, planned again from fresh rows inside the write transaction
    (another process may have edited the cycle since the read)."""
    with services.db.session() as session:
        row = session.exec(_open_cycles_query([cycle_id])).first()
        if row is None:
            return
        cycle, team, school = row
        rounds = _open_rounds(session, [cycle_id])
        p = desired(services, cycle, team, school, rounds, now)
        if p.resume:
            cycle.status, cycle.paused_until = "active", None
            session.add(cycle)
            log.info("Cycle %s resumed after its pause", cycle_id)
        if p.end:
            cycle_store.end_cycle(session, cycle_id=cycle_id, now=now)
            _cancel_cycle_work(session, cycle_id)
            log.info("Cycle %s ended two weeks after its last week", cycle_id)
            return
        existing = _jobs_by_key(session, p.dedupe_keys())
        for w in p.work:
            if _needs(w, existing.get(w.key)):
                jobs.schedule(session, kind=w.kind, dedupe_key=w.key, due_at=w.due, team_id=w.team_id,
                              ref_id=w.cycle_id, payload=w.payload)
        for key in p.cancel:
            if key in existing and existing[key].state == "pending":
                jobs.cancel(session, dedupe_key=key, reason="cycle shortened")
        for round_ in rounds:
            closes = p.closes.get(round_.id or 0)
            if closes is not None and round_.closes_at != closes:
                round_.closes_at = closes
                session.add(round_)


def _plan_followups(session: Session, cycle: Cycle, team: Team, round_: CheckinRound, tz: ZoneInfo,
                    hours: SchoolHours) -> None:
    """The reminder and the close of a round just sent (from the round job, in its transaction)."""
    for w in _followup_work(cycle, team, round_, tz, hours):
        jobs.schedule(session, kind=w.kind, dedupe_key=w.key, due_at=w.due, team_id=w.team_id,
                      ref_id=w.cycle_id, payload=w.payload)
    closes = _round_closes(cycle, round_, tz, hours)
    if round_.closes_at != closes:
        round_.closes_at = closes
        session.add(round_)


def _cancel_cycle_work(session: Session, cycle_id: int) -> None:
    """An ended cycle sends no more check-ins, reminders or reflection prompts.

    Close jobs stay: the last round's summary and support requests are still owed.
    """
    for kind in ("checkin_round", "checkin_reminder", "cycle_reflection"):
        jobs.cancel(session, kind=kind, ref_id=cycle_id, reason="cycle ended")


def cancel_cycle_work(services: Services, cycle_id: int) -> None:
    with services.db.session() as session:
        _cancel_cycle_work(session, cycle_id)


# ---------------------------------------------------------------------------- shared pieces
class CycleContext:
    """What every kind needs about a cycle, read once."""

    def __init__(self, services: Services, cycle_id: int) -> None:
        with services.db.read() as session:
            self.cycle = session.get(Cycle, cycle_id)
            self.team = session.get(Team, self.cycle.team_id) if self.cycle else None
            self.school = session.get(School, self.team.school_id) if self.team else None
            self.breaks = cycle_store.break_rules(
                cycle_store.breaks(session, school_id=self.team.school_id)) if self.team else []
            self.facilitators = cycle_store.facilitators(session, team_id=self.team.id or 0) if self.team else []
        if self.team is not None:
            self.tz = ZoneInfo(self.team.timezone)
            self.hours = hours_for(services, self.team, self.school)

    def today(self, now: datetime) -> date:
        return now.astimezone(self.tz).date()

    def card(self, checkin: Checkin, *, support_state: str | None = None, closed: bool = False,
             reminder: bool = False) -> views.CheckinCard:
        c, t = self.cycle, self.team
        assert c is not None and t is not None
        return views.CheckinCard(
            checkin_id=checkin.id or 0, team_name=t.name, title=c.title, goal=c.goal, strategy=c.strategy,
            metric_name=c.metric_name, metric_unit=c.metric_unit, week=checkin.week, weeks=c.weeks,
            progress=checkin.progress, value=checkin.value, evidence=checkin.evidence, support=checkin.support,
            support_state=support_state, facilitators=tuple(p.name or p.handle for p in self.facilitators),
            closed=closed, reminder=reminder,
        )


def _hold_for_hours(services: Services, job: ScheduledJob, ctx: CycleContext, now: datetime) -> bool:
    """Outside school hours: give the job back for the next opening. True when held."""
    if ctx.hours.is_open(now.astimezone(ctx.tz)):
        return False
    opening = ctx.hours.next_open(now, ctx.tz)
    assert job.id is not None
    jobs.release(services.db, job.id, due_at=opening, error="held for school hours")
    log.info("Job %s held until school opens (%s)", job.id, opening.isoformat())
    return True


def send_all(services: Services, items: list[Any], send: Callable[[Any], str], *, job: ScheduledJob,
             threads: int = ROUND_THREADS) -> dict[str, int]:
    """Run `send` for every item on a small pool; count outcomes. (The runner's heartbeat keeps
    the job's claim alive however long this takes.)"""
    counts: dict[str, int] = {}

    def one(item: Any) -> str:
        try:
            return send(item)
        except Exception:  # one teacher's trouble never stops the rest
            log.exception("Sending to one recipient failed; the others continue")
            return "error"

    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="round") as pool:
        for state in pool.map(one, items):
            counts[state] = counts.get(state, 0) + 1
    return counts


def _release_or_fail(services: Services, job: ScheduledJob, ctx: CycleContext, left: int, what: str) -> str:
    assert job.id is not None
    message = f"{left} {what} not confirmed yet; retrying"
    if job.attempts >= MAX_ATTEMPTS:
        raise RuntimeError(f"{left} {what} could not be confirmed after {job.attempts} attempts; "
                           "see `plcbot jobs --all` and rerun with `plcbot jobs run ID`")
    now = services.clock.now()
    jobs.release(services.db, job.id, due_at=ctx.hours.next_open(now + RETRY_AFTER, ctx.tz), error=message)
    log.warning("Job %s: %s", job.id, message)
    return message


# ---------------------------------------------------------------------------- the round
def run_round(job: ScheduledJob, services: Services) -> str | None:
    """Send this week's check-in to every active member who is not away, each exactly once."""
    p = _payload(job)
    cycle_id, week = int(p["cycle_id"]), int(p["week"])
    ctx = CycleContext(services, cycle_id)
    if ctx.cycle is None or ctx.team is None or ctx.cycle.status == "ended":
        return "the cycle has ended"
    if ctx.team.archived_at is not None:
        return "the team is archived"
    now = services.clock.now()
    if _hold_for_hours(services, job, ctx, now):
        return None
    cycle, today = ctx.cycle, ctx.today(now)
    day = rules.checkin_day(cycle.start_date, week, cycle.checkin_weekday)
    with services.db.session() as session:
        existing = store.get_round(session, cycle_id=cycle_id, week=week)
        if existing is not None and existing.state == "skipped":
            return f"week {week} skipped ({existing.skip_reason})"
        members = cycle_store.team_members(session, team_id=ctx.team.id or 0)
        found = rules.recipients([m for _, m in members], day=today, breaks=ctx.breaks,
                                 status=cycle.status, paused_until=cycle.paused_until)
        if existing is None and found.skipped_reason:
            store.skip_round(session, cycle=cycle, week=week, local_day=day, reason=found.skipped_reason, now=now)
            log.info("Cycle %s week %s skipped: %s", cycle_id, week, found.skipped_reason)
            return f"week {week} skipped ({found.skipped_reason})"
        closes = ctx.hours.next_open(now + rules.round_window(cycle.reminder_hours), ctx.tz)
        round_ = store.open_round(session, cycle=cycle, week=week, local_day=day, now=now, closes_at=closes)
        if round_.state != "open":
            return f"week {week}'s round has closed"
        people = {p.handle: p for p, _ in members}
        store.ensure_checkins(session, round_=round_, asked=[people[u] for u in found.asked],
                              away=[people[u] for u in found.away], now=now)
        checkins = store.round_checkins(session, round_id=round_.id or 0)
        handles = slack_ids(session, [c.person_id for c in checkins])
        assert round_.id is not None
        round_id = round_.id
    todo = [c for c in checkins if c.status == "pending"]

    def send(checkin: Checkin) -> str:
        handle = handles[checkin.person_id]
        outcome = delivery.deliver(
            services, key=keys.checkin(cycle_id, handle, week), kind="checkin",
            recipient=handle, view=ctx.card(checkin), job_id=job.id,
            payload={"checkin_id": checkin.id},
        )
        if outcome.state in ("sent", "failed"):
            with services.db.session() as session:
                store.record_delivery(session, checkin_id=checkin.id or 0, state=outcome.state,
                                      channel_id=outcome.channel_id, ts=outcome.ts, error=outcome.error)
        return outcome.state

    counts = send_all(services, todo, send, job=job)
    with services.db.session() as session:
        sent_round = session.get(CheckinRound, round_id)
        assert sent_round is not None
        team = session.get(Team, ctx.team.id)
        assert team is not None
        _plan_followups(session, cycle, team, sent_round, ctx.tz, ctx.hours)
        checkins = store.round_checkins(session, round_id=round_id)
    failed = [(handles[c.person_id], c.error or "failed") for c in checkins if c.status == "failed"]
    if failed:
        _tell_facilitators_of_failures(services, ctx, week, failed, job)
    left = sum(n for state, n in counts.items() if state not in ("sent", "failed"))
    if left:
        return _release_or_fail(services, job, ctx, left, "check-in deliveries")
    sent = sum(1 for c in checkins if c.status == "sent")
    return f"week {week}: {sent} sent, {len(failed)} unreachable, " \
           f"{sum(1 for c in checkins if c.status == 'away')} away"


def _tell_facilitators_of_failures(services: Services, ctx: CycleContext, week: int,
                                   failed: list[tuple[str, str]], job: ScheduledJob) -> None:
    assert ctx.team is not None and ctx.cycle is not None
    view = views.DeliveryFailures(team_name=ctx.team.name, week=week, failed=tuple(failed))
    for fac in ctx.facilitators:
        if fac.handle in {u for u, _ in failed}:
            continue
        delivery.deliver(services, key=keys.checkin_failures(ctx.cycle.id, week, fac.handle, len(failed)),
                         kind="checkin_failures", recipient=fac.handle, view=view,
                         job_id=job.id)


# ---------------------------------------------------------------------------- the reminder
def run_reminder(job: ScheduledJob, services: Services) -> str | None:
    """One reminder to each teacher who has not answered, unless they are away now."""
    p = _payload(job)
    cycle_id, week = int(p["cycle_id"]), int(p["week"])
    ctx = CycleContext(services, cycle_id)
    if ctx.cycle is None or ctx.team is None or ctx.cycle.status == "ended":
        return "the cycle has ended"
    now = services.clock.now()
    if _hold_for_hours(services, job, ctx, now):
        return None
    today = ctx.today(now)
    with services.db.read() as session:
        round_ = store.get_round(session, cycle_id=cycle_id, week=week)
        if round_ is None or round_.state != "open":
            return "the round has closed"
        waiting = store.unanswered(session, round_id=round_.id or 0)
        people = session.exec(select(Person).where(col(Person.id).in_([c.person_id for c in waiting]))).all()
        away = {p.id for p in people if rules.is_away(p.away_from, p.away_until, today)}
        handles = {p.id: p.handle for p in people}
    if rules.is_paused(ctx.cycle.status, ctx.cycle.paused_until, today):
        return "the cycle is paused"
    todo = [c for c in waiting if c.person_id not in away and c.reminded_at is None]

    def send(checkin: Checkin) -> str:
        handle = handles[checkin.person_id]
        outcome = delivery.deliver(
            services, key=keys.checkin_reminder(cycle_id, handle, week), kind="checkin_reminder",
            recipient=checkin.channel_id or handle, view=ctx.card(checkin, reminder=True), job_id=job.id,
            payload={"checkin_id": checkin.id},
        )
        if outcome.state in ("sent", "failed"):
            with services.db.session() as session:
                store.mark_reminded(session, checkin_id=checkin.id or 0, now=services.clock.now())
        return outcome.state

    counts = send_all(services, todo, send, job=job)
    left = sum(n for state, n in counts.items() if state not in ("sent", "failed"))
    if left:
        return _release_or_fail(services, job, ctx, left, "reminders")
    return f"week {week}: {counts.get('sent', 0)} reminded"


# ---------------------------------------------------------------------------- the close
def run_close(job: ScheduledJob, services: Services) -> str | None:
    """Close the window: the summary to the channel, support requests to the facilitators."""
    p = _payload(job)
    cycle_id, week = int(p["cycle_id"]), int(p["week"])
    ctx = CycleContext(services, cycle_id)
    if ctx.cycle is None or ctx.team is None:
        return "no such cycle"
    now = services.clock.now()
    if _hold_for_hours(services, job, ctx, now):
        return None
    today = ctx.today(now)
    with services.db.session() as session:
        round_ = store.get_round(session, cycle_id=cycle_id, week=week)
        if round_ is None or round_.state == "skipped":
            return "nothing to close"
        store.close_round(session, round_id=round_.id or 0, now=now)
        checkins = store.round_checkins(session, round_id=round_.id or 0)
        ids = [c.person_id for c in checkins]
        persons = {p.id: p for p in session.exec(select(Person).where(col(Person.id).in_(ids))).all()}
        for c in checkins:  # gone away during the window: shown as away, not as a non-responder
            person = persons.get(c.person_id)
            if (c.status == "sent" and c.answered_at is None and person is not None
                    and rules.is_away(person.away_from, person.away_until, today)):
                c.status = "away"
                session.add(c)
        summary = cycle_store.summarize(round_, checkins)
        requests = store.unsent_support(session, cycle_id=cycle_id, week=week)
        followers = slack_ids(session, [r.follower_id for r, _ in requests])
    left = 0
    for request, checkin in requests:
        left += _send_support(services, ctx, request, checkin, persons.get(checkin.person_id), job,
                              follower=followers.get(request.follower_id or 0))
    cyc, t = ctx.cycle, ctx.team
    summary_view = views.RoundSummary(
        team_name=t.name, title=cyc.title, metric_name=cyc.metric_name, metric_unit=cyc.metric_unit,
        baseline=cyc.baseline, target=cyc.target, summary=summary, weeks=cyc.weeks, support_count=len(requests))
    outcome = delivery.deliver(services, key=keys.checkin_summary(cycle_id, week), kind="checkin_summary",
                               recipient=t.channel_id, view=summary_view, job_id=job.id)
    if outcome.state not in ("sent", "failed"):
        left += 1
    if left:
        return _release_or_fail(services, job, ctx, left, "summary or support messages")
    return f"week {week}: {summary.answered}/{summary.asked} answered, {len(requests)} support requests"


def _send_support(services: Services, ctx: CycleContext, request: Any, checkin: Checkin,
                  person: Person | None, job: ScheduledJob, *, follower: str | None) -> int:
    """DM each facilitator the request with the teacher's name; returns how many are in doubt."""
    assert ctx.team is not None
    handle = person.handle if person is not None else ""
    card = views.SupportCard(
        request_id=request.id, teacher_id=handle,
        teacher_name=(person.name if person and person.name else handle),
        team_name=ctx.team.name, week=checkin.week, progress=checkin.progress, evidence=checkin.evidence,
        support=checkin.support, state=request.state, follower=follower)
    left = 0
    targets = [f for f in ctx.facilitators if f.id != checkin.person_id] or ctx.facilitators
    for fac in targets:
        outcome = delivery.deliver(services, key=keys.support(request.id, fac.handle), kind="support",
                                   recipient=fac.handle, view=card, job_id=job.id,
                                   payload={"support_id": request.id})
        if outcome.state not in ("sent", "failed"):
            left += 1
    if not left:
        with services.db.session() as session:
            store.mark_support_sent(session, request_id=request.id, now=services.clock.now())
    return left


# ---------------------------------------------------------------------------- the reflection
def run_reflection(job: ScheduledJob, services: Services) -> str | None:
    """Last week of the cycle: the team's channel gets the reflection form."""
    cycle_id = int(_payload(job)["cycle_id"])
    ctx = CycleContext(services, cycle_id)
    if ctx.cycle is None or ctx.team is None or ctx.cycle.status == "ended":
        return "the cycle has ended"
    now = services.clock.now()
    if _hold_for_hours(services, job, ctx, now):
        return None
    prompt = views.ReflectionPrompt(cycle_id=cycle_id, title=ctx.cycle.title, team_name=ctx.team.name,
                                    weeks=ctx.cycle.weeks)
    outcome = delivery.deliver(services, key=keys.cycle_reflection(cycle_id), kind="cycle_reflection",
                               recipient=ctx.team.channel_id, view=prompt, job_id=job.id)
    if outcome.state not in ("sent", "failed"):
        return _release_or_fail(services, job, ctx, 1, "reflection prompt")
    return f"reflection prompt {outcome.state}"


def register(registry: Registry) -> None:
    registry.kind("checkin_round", run_round, label="check-in", is_stale=_stale_after)
    registry.kind("checkin_reminder", run_reminder, label="check-in reminder", is_stale=_stale_after)
    registry.kind("checkin_close", run_close, label="check-in close", is_stale=_never)
    registry.kind("cycle_reflection", run_reflection, label="cycle reflection", is_stale=_never)
    registry.planner("checkins", plan)
