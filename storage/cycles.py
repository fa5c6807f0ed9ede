"""Learning cycles, school breaks and reflections: keyword-only data access over a Session."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.models import (
    Checkin,
    CheckinRound,
    Cycle,
    CycleReflection,
    Membership,
    Person,
    School,
    SchoolBreak,
    Team,
)
from storage.people import person_ref
from storage.rules import cycles as rules
from storage.teams import audit


def escape(text: str) -> str:
    """Messages here reach Slack mrkdwn: a title someone typed must not ping or link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

OPEN = ("active", "paused")


class CycleConflict(Exception):
    """The change does not fit the cycle's state; `str()` is shown to the user."""


def active_cycle(session: Session, *, team_id: int) -> Cycle | None:
    """The team's running cycle (active or paused), if any."""
    return session.exec(
        select(Cycle).where(Cycle.team_id == team_id, col(Cycle.status).in_(OPEN))
        .order_by(col(Cycle.id).desc())
    ).first()


def latest_cycle(session: Session, *, team_id: int) -> Cycle | None:
    return session.exec(select(Cycle).where(Cycle.team_id == team_id).order_by(col(Cycle.id).desc())).first()


def open_cycles(session: Session) -> list[Cycle]:
    return list(session.exec(select(Cycle).where(col(Cycle.status).in_(OPEN))).all())


_FIELDS = ("title", "goal", "strategy", "metric_name", "metric_unit", "baseline", "target",
           "start_date", "weeks", "checkin_weekday", "checkin_time", "reminder_hours")
# The team's own words: the audit log says they changed, not what they now say.
_WORDS = frozenset({"title", "goal", "strategy", "metric_name", "metric_unit"})


def _apply(cycle: Cycle, values: rules.CycleValues) -> None:
    for name in _FIELDS:
        setattr(cycle, name, getattr(values, name))


def _changes(cycle: Cycle, values: rules.CycleValues) -> list[str]:
    """What an edit changes, for the audit log: "weeks: 4 → 6", "goal changed"."""
    out = []
    for name in _FIELDS:
        old, new = getattr(cycle, name), getattr(values, name)
        if old != new:
            out.append(f"{name} changed" if name in _WORDS else f"{name}: {old} → {new}")
    return out


def start_cycle(session: Session, *, team_id: int, values: rules.CycleValues, created_by: str,
                now: datetime) -> Cycle:
    """Start the team's cycle. One open cycle per team: the team row is locked while checking."""
    session.exec(select(Team).where(Team.id == team_id).with_for_update()).one()
    existing = active_cycle(session, team_id=team_id)
    if existing is not None:
        raise CycleConflict(
            f"This team already has a running cycle, “{escape(existing.title)}”. "
            "End it with `/plc cycle end` before starting another, or change it with `/plc cycle edit`."
        )
    cycle = Cycle(team_id=team_id, created_by_id=person_ref(session, created_by, now=now), created_at=now,
                  status="active",
                  title=values.title, goal=values.goal, metric_name=values.metric_name,
                  baseline=values.baseline, target=values.target, start_date=values.start_date,
                  weeks=values.weeks)
    _apply(cycle, values)
    session.add(cycle)
    session.flush()
    audit(session, actor=created_by, action="cycle.start", target=f"team:{team_id}",
          detail=f"cycle:{cycle.id}, {cycle.weeks} weeks from {cycle.start_date}", at=now)
    return cycle


def update_cycle(session: Session, *, cycle_id: int, values: rules.CycleValues, actor: str,
                 now: datetime) -> Cycle:
    cycle = _open(session, cycle_id)
    changed = _changes(cycle, values)
    _apply(cycle, values)
    session.add(cycle)
    if changed:
        audit(session, actor=actor, action="cycle.edit", target=f"team:{cycle.team_id}",
              detail=f"cycle:{cycle_id}: " + "; ".join(changed), at=now)
    return cycle


def _open(session: Session, cycle_id: int) -> Cycle:
    cycle = session.exec(select(Cycle).where(Cycle.id == cycle_id).with_for_update()).first()
    if cycle is None or cycle.status not in OPEN:
        raise CycleConflict("That cycle has ended; start a new one with `/plc cycle start`.")
    return cycle


def pause_cycle(session: Session, *, cycle_id: int, until: date | None, actor: str, now: datetime) -> Cycle:
    cycle = _open(session, cycle_id)
    cycle.status, cycle.paused_until = "paused", until
    session.add(cycle)
    audit(session, actor=actor, action="cycle.pause", target=f"team:{cycle.team_id}",
          detail=f"cycle:{cycle_id} " + (f"through {until}" if until else "until resumed"), at=now)
    return cycle


def resume_cycle(session: Session, *, cycle_id: int, actor: str, now: datetime) -> Cycle:
    cycle = _open(session, cycle_id)
    if cycle.status != "paused":
        raise CycleConflict("The cycle is not paused.")
    cycle.status, cycle.paused_until = "active", None
    session.add(cycle)
    audit(session, actor=actor, action="cycle.resume", target=f"team:{cycle.team_id}",
          detail=f"cycle:{cycle_id}", at=now)
    return cycle


def end_cycle(session: Session, *, cycle_id: int, now: datetime, actor: str = "plcbot") -> Cycle:
    """Close the cycle and keep its summary (weekly points and response rates) with the reflection.

    `actor` is who ended it; "plcbot" when the cycle ran its course (the scheduler ends it).
    """
    cycle = _open(session, cycle_id)
    cycle.status, cycle.ended_at, cycle.paused_until = "ended", now, None
    session.add(cycle)
    audit(session, actor=actor, action="cycle.end", target=f"team:{cycle.team_id}",
          detail=f"cycle:{cycle_id}", at=now)
    reflection = reflection_row(session, cycle_id=cycle_id, now=now)
    reflection.summary = json.dumps(cycle_summary(session, cycle=cycle), sort_keys=True)
    session.add(reflection)
    return cycle


def reflection_row(session: Session, *, cycle_id: int, now: datetime) -> CycleReflection:
    row = session.exec(select(CycleReflection).where(CycleReflection.cycle_id == cycle_id)).first()
    if row is not None:
        return row
    row = CycleReflection(cycle_id=cycle_id, created_at=now)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return session.exec(select(CycleReflection).where(CycleReflection.cycle_id == cycle_id)).one()
    return row


def save_reflection(session: Session, *, cycle_id: int, target_reached: str, final_value: float | None,
                    learned: str, next_steps: str, user_id: str, now: datetime) -> CycleReflection:
    """Store the team's reflection (the last one wins: a double submit stores one)."""
    row = reflection_row(session, cycle_id=cycle_id, now=now)
    row.target_reached, row.final_value = target_reached, final_value
    row.learned, row.next_steps = learned or None, next_steps or None
    row.submitted_by_id, row.submitted_at = person_ref(session, user_id, now=now), now
    session.add(row)
    return row


# ---------------------------------------------------------------------------- what a cycle shows
def week_rows(session: Session, *, cycle_id: int) -> list[tuple[CheckinRound, list[Checkin]]]:
    rounds = list(session.exec(
        select(CheckinRound).where(CheckinRound.cycle_id == cycle_id).order_by(col(CheckinRound.week))
    ).all())
    ids = [r.id for r in rounds]
    by_round: dict[int, list[Checkin]] = {i: [] for i in ids if i is not None}
    if ids:
        for checkin in session.exec(select(Checkin).where(col(Checkin.round_id).in_(ids))).all():
            by_round[checkin.round_id].append(checkin)
    return [(r, by_round.get(r.id or 0, [])) for r in rounds]


def summarize(round_: CheckinRound, checkins: list[Checkin]) -> rules.RoundSummary:
    asked = [c for c in checkins if c.status in ("sent", "pending")]
    return rules.summarize_round(
        round_.week,
        [rules.Answer(c.progress, c.value) for c in asked],
        asked=len(asked),
        away=sum(1 for c in checkins if c.status == "away"),
        unreachable=sum(1 for c in checkins if c.status == "failed"),
    )


def cycle_summary(session: Session, *, cycle: Cycle) -> dict[str, Any]:
    """Plain data for `/plc cycle`, the reflection and the kept summary."""
    weeks = []
    for round_, checkins in week_rows(session, cycle_id=cycle.id or 0):
        s = summarize(round_, checkins)
        weeks.append({
            "week": round_.week,
            "state": round_.state,
            "skip_reason": round_.skip_reason,
            "asked": s.asked,
            "answered": s.answered,
            "away": s.away,
            "unreachable": s.unreachable,
            "counts": s.counts,
            "mean": s.point.mean if s.point else None,
            "reported": s.point.count if s.point else 0,
        })
    return {"baseline": cycle.baseline, "target": cycle.target, "weeks": weeks}


# ---------------------------------------------------------------------------- people
def team_members(session: Session, *, team_id: int) -> list[tuple[Person, rules.Member]]:
    """Everyone in the team (facilitators too: they teach), as rule inputs with their person."""
    rows = session.exec(
        select(Person, Membership)
        .join(Membership, col(Membership.person_id) == Person.id)
        .where(Membership.team_id == team_id)
        .order_by(col(Person.id))
    ).all()
    return [
        (p, rules.Member(p.handle, active=bool(m.active and p.active),
                         away_from=p.away_from, away_until=p.away_until))
        for p, m in rows
    ]


def facilitators(session: Session, *, team_id: int) -> list[Person]:
    return list(session.exec(
        select(Person).join(Membership, col(Membership.person_id) == Person.id)
        .where(Membership.team_id == team_id, Membership.role == "facilitator",
               col(Membership.active).is_(True), col(Person.active).is_(True))
        .order_by(col(Person.id))
    ).all())


def set_away(session: Session, *, user_id: str, from_day: date | None, until: date | None) -> Person | None:
    person = session.exec(select(Person).where(Person.handle == user_id)).first()
    if person is None:
        return None
    person.away_from, person.away_until = from_day, until
    session.add(person)
    return person


# ---------------------------------------------------------------------------- school breaks
def find_school(session: Session, *, name: str) -> School | None:
    wanted = name.strip().lower()
    for school in session.exec(select(School)).all():
        if school.name.lower() == wanted:
            return school
    return None


def breaks(session: Session, *, school_id: int) -> list[SchoolBreak]:
    return list(session.exec(
        select(SchoolBreak).where(SchoolBreak.school_id == school_id).order_by(col(SchoolBreak.starts_on))
    ).all())


def break_rules(rows: list[SchoolBreak]) -> list[rules.Break]:
    return [rules.Break(b.starts_on, b.ends_on, b.label) for b in rows]


def add_break(session: Session, *, school_id: int, starts_on: date, ends_on: date, label: str,
              created_by: str, now: datetime) -> tuple[SchoolBreak, bool]:
    """Add a break (the same dates twice store one); returns (row, created)."""
    query = select(SchoolBreak).where(SchoolBreak.school_id == school_id, SchoolBreak.starts_on == starts_on,
                                      SchoolBreak.ends_on == ends_on)
    existing = session.exec(query).first()
    if existing is not None:
        return existing, False
    row = SchoolBreak(school_id=school_id, starts_on=starts_on, ends_on=ends_on, label=label.strip()[:80],
                      created_by_id=person_ref(session, created_by, now=now), created_at=now)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return session.exec(query).one(), False
    audit(session, actor=created_by, action="break.add", target=f"school:{school_id}",
          detail=f"break:{row.id} {starts_on}..{ends_on} {row.label}".strip(), at=now)
    return row, True


def remove_break(session: Session, *, school_id: int, break_id: int, actor: str, now: datetime) -> bool:
    row = session.get(SchoolBreak, break_id)
    if row is None or row.school_id != school_id:
        return False
    session.delete(row)
    audit(session, actor=actor, action="break.remove", target=f"school:{school_id}",
          detail=f"break:{break_id} {row.starts_on}..{row.ends_on} {row.label}".strip(), at=now)
    return True
