"""Meetings: made from the team's schedule, added or cancelled by hand, their agenda items,
the wrap-up record and the snapshots the agenda and the meeting log are drawn from."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage import norms as norms_store
from storage.identities import addressee
from storage.models import (
    ActionItem,
    AgendaItem,
    Attendance,
    Cycle,
    Meeting,
    MeetingRecord,
    Person,
    ScheduledJob,
    SchoolBreak,
    Team,
)
from storage.people import person_ref, slack_id, slack_ids
from storage.rules import cycles as cycle_rules
from storage.rules.agenda import (
    MAX_ITEMS,
    TEMPLATES,
    ActionView,
    AgendaSnapshot,
    CycleView,
    ItemView,
    MeetingLog,
    RuleError,
    Template,
    carry_over,
    default_template,
    fill_template_for,
    local_label,
    schedule_starts,
)
from storage.teams import active_members, facilitators

log = logging.getLogger("plcbot.meetings")

OPEN = "scheduled"


def local_today(team: Team, now: datetime) -> date:
    return now.astimezone(ZoneInfo(team.timezone)).date()


def horizon_days(team: Team) -> int:
    """How far ahead schedule meetings are made: enough to post each agenda on time."""
    return max(8, team.agenda_lead_hours // 24 + 2)


SCHEDULE_CHANGED = "Schedule changed"  # the title of a row the schedule dropped (not a person's cancel)
# A schedule's meeting on a day of a school break is not held: it is kept "cancelled" with the
# break's reason ("break: Winter break", `rules.cycles.break_reason`, as check-in rounds keep it)
# in its title, so listings can say "skipped: Winter break" and removing the break brings it back.


def skipped_for(meeting: Meeting) -> str | None:
    """The break a schedule's meeting is skipped for ("Winter break"), or None when it is not."""
    if meeting.status != "cancelled" or meeting.source != "schedule":
        return None
    return cycle_rules.break_label(meeting.title)


def school_breaks(session: Session, *, school_ids: list[int], today: date) -> dict[int, list[cycle_rules.Break]]:
    """The breaks of these schools not over before `today` (yesterday's, for other time zones), in one query."""
    found: dict[int, list[cycle_rules.Break]] = {i: [] for i in school_ids}
    if school_ids:
        for b in session.exec(select(SchoolBreak).where(col(SchoolBreak.school_id).in_(school_ids),
                                                        col(SchoolBreak.ends_on) >= today - timedelta(days=1))):
            found[b.school_id].append(cycle_rules.Break(b.starts_on, b.ends_on, b.label))
    return found


def schedule_window(team: Team, now: datetime) -> tuple[list[datetime], datetime]:
    """The schedule's starts ahead of `now`, and the end of the window they were computed for."""
    days = horizon_days(team)
    starts = [s for s in schedule_starts(team.meeting_weekdays, team.meeting_time, team.timezone,
                                         after=now, days=days) if s > now]
    zone = ZoneInfo(team.timezone)
    first = now.astimezone(zone).date()
    end = datetime.combine(first + timedelta(days=days + 1), datetime.min.time(), tzinfo=zone)
    return starts, end.astimezone(ZoneInfo("UTC"))


def ensure_upcoming(session: Session, *, team: Team, now: datetime,
                    existing_rows: list[Meeting] | None = None,
                    breaks: list[cycle_rules.Break] | None = None) -> list[Meeting]:
    """Make one row per scheduled occurrence ahead (team, starts_at), and cancel future rows the
    schedule no longer has (within the window it was computed for). A row a person cancelled stays
    cancelled: the unique key keeps it from coming back. A row the schedule dropped comes back when
    the schedule has it again. `existing_rows` (the team's rows from `now` to the window's end) lets
    the planner load every team's rows in one query.

    A schedule's meeting on a day of a school break is skipped (kept cancelled with the break's
    reason); when the break is removed, or no longer covers it, it is scheduled again. `breaks`
    (the school's) lets the planner load them once; by default they are read here. Meetings added
    by hand are never skipped: someone chose that day.
    """
    assert team.id is not None
    starts, window_end = schedule_window(team, now)
    wanted = set(starts)
    if existing_rows is None:
        existing_rows = list(session.exec(
            select(Meeting).where(Meeting.team_id == team.id, col(Meeting.starts_at) > now,
                                  col(Meeting.starts_at) < window_end)
        ).all())
    if breaks is None:
        breaks = school_breaks(session, school_ids=[team.school_id], today=local_today(team, now))[team.school_id]
    zone = ZoneInfo(team.timezone)
    existing = {m.starts_at: m for m in existing_rows if now < m.starts_at < window_end}
    created = []
    for start in starts:
        skip = cycle_rules.break_reason(breaks, start.astimezone(zone).date())
        if start in existing:
            row = existing[start]
            if row.source != "schedule":
                continue
            if row.status == OPEN and skip:
                row.status, row.title = "cancelled", skip  # its jobs are dropped by the planner
            elif row.status == "cancelled" and (row.title == SCHEDULE_CHANGED or skipped_for(row)):
                # the schedule has it again, or its break changed: held unless a break covers it
                row.status, row.title = ("cancelled", skip) if skip else (OPEN, "")
            else:
                continue
            session.add(row)
            continue
        meeting = Meeting(team_id=team.id, starts_at=start, minutes=team.meeting_minutes, source="schedule",
                          status="cancelled" if skip else OPEN, title=skip or "", created_at=now)
        try:
            with session.begin_nested():
                session.add(meeting)
        except IntegrityError:  # another process made it first
            continue
        created.append(meeting)
    for start, meeting in existing.items():
        if meeting.source != "schedule" or start in wanted:
            continue
        if meeting.status == OPEN:
            meeting.status = "cancelled"  # the schedule changed; its post is dropped by the planner
            meeting.title = meeting.title or SCHEDULE_CHANGED
            session.add(meeting)
        elif skipped_for(meeting):
            meeting.title = SCHEDULE_CHANGED  # no longer the schedule's, whatever the break does
            session.add(meeting)
    return created


def apply_breaks(session: Session, *, school_id: int, now: datetime) -> list[Meeting]:
    """After a break is added or removed: skip or bring back each team's planned meetings now
    (the planner would on its next tick). Returns the meetings whose status changed."""
    teams = session.exec(select(Team).where(Team.school_id == school_id, col(Team.archived_at).is_(None))).all()
    changed = []
    for team in teams:
        assert team.id is not None
        _, window_end = schedule_window(team, now)
        rows = list(session.exec(select(Meeting).where(Meeting.team_id == team.id, col(Meeting.starts_at) > now,
                                                       col(Meeting.starts_at) < window_end)).all())
        before = {m.id: m.status for m in rows}
        ensure_upcoming(session, team=team, now=now, existing_rows=rows)
        changed += [m for m in rows if before[m.id] != m.status]
    return changed


def upcoming(session: Session, *, team_id: int, now: datetime, limit: int = 10,
             skipped: bool = False) -> list[Meeting]:
    """Scheduled meetings not over yet, soonest first (one under way comes first); with `skipped`,
    also the schedule's meetings a school break skips (see `skipped_for`)."""
    wanted: ColumnElement[bool] = col(Meeting.status) == OPEN
    if skipped:
        wanted = or_(wanted, (col(Meeting.status) == "cancelled") & (col(Meeting.source) == "schedule")
                     & col(Meeting.title).startswith("break"))
    rows = session.exec(
        select(Meeting).where(Meeting.team_id == team_id, wanted, col(Meeting.starts_at) > now - timedelta(hours=6))
        .order_by(col(Meeting.starts_at))
    ).all()
    return [m for m in rows if m.starts_at + timedelta(minutes=m.minutes) > now
            and (m.status == OPEN or skipped_for(m))][:limit]


def next_meeting(session: Session, *, team: Team, now: datetime) -> Meeting | None:
    """The meeting `/plc agenda` is about: the one under way, else the next one."""
    assert team.id is not None
    ensure_upcoming(session, team=team, now=now)
    found = upcoming(session, team_id=team.id, now=now, limit=1)
    return found[0] if found else None


def to_wrap_up(session: Session, *, team_id: int, now: datetime) -> Meeting | None:
    """The most recent meeting that has started and is not wrapped up (within two weeks)."""
    return session.exec(
        select(Meeting).where(Meeting.team_id == team_id, Meeting.status == OPEN,
                              col(Meeting.starts_at) <= now, col(Meeting.starts_at) > now - timedelta(days=14))
        .order_by(col(Meeting.starts_at).desc())
    ).first()


def add_one_off(session: Session, *, team: Team, starts_at: datetime, minutes: int, now: datetime) -> Meeting:
    """Add a meeting by hand; a cancelled one at that time comes back. Raises RuleError on a clash."""
    assert team.id is not None
    if starts_at <= now:
        raise RuleError("That time has passed; give a meeting time in the future.")
    if starts_at > now + timedelta(days=366):
        raise RuleError("Plan meetings at most a year ahead.")
    existing = session.exec(select(Meeting).where(Meeting.team_id == team.id, Meeting.starts_at == starts_at)).first()
    if existing is not None:
        if existing.status == OPEN:
            raise RuleError(f"There is already a meeting on {local_label(starts_at, team.timezone)}.")
        if existing.status == "held":
            raise RuleError("That meeting has been held already.")
        existing.status, existing.minutes, existing.title = OPEN, minutes, ""
        existing.source = "one_off"  # added by hand: held whatever the schedule or a school break says
        session.add(existing)
        return existing
    meeting = Meeting(team_id=team.id, starts_at=starts_at, minutes=minutes, source="one_off", created_at=now)
    session.add(meeting)
    session.flush()
    return meeting


def find_to_cancel(session: Session, *, team: Team, day: date | None, now: datetime) -> Meeting | None:
    assert team.id is not None
    ensure_upcoming(session, team=team, now=now)
    candidates = [m for m in upcoming(session, team_id=team.id, now=now, limit=50) if m.starts_at > now]
    if day is None:
        return candidates[0] if candidates else None
    zone = ZoneInfo(team.timezone)
    return next((m for m in candidates if m.starts_at.astimezone(zone).date() == day), None)


def cancel(session: Session, *, meeting: Meeting) -> None:
    meeting.status = "cancelled"
    session.add(meeting)


# --------------------------------------------------------------------------------- items
def items(session: Session, *, meeting_id: int) -> list[AgendaItem]:
    return list(session.exec(
        select(AgendaItem).where(AgendaItem.meeting_id == meeting_id)
        .order_by(col(AgendaItem.position), col(AgendaItem.id))
    ).all())


@dataclass(frozen=True)
class Added:
    item: AgendaItem
    created: bool  # False: the same source was on the agenda already


def add_item(session: Session, *, meeting: Meeting, title: str, minutes: int, owner: str | None, link: str | None,
             outcome: str, source: str, added_by: str, now: datetime, source_key: str | None = None) -> Added:
    """Append an item; the same `source_key` (one Slack message) is stored once per meeting."""
    assert meeting.id is not None
    if meeting.status != OPEN:
        raise RuleError(f"That meeting is {meeting.status}; add the item to the next meeting instead.")
    if source_key is not None:
        found = session.exec(select(AgendaItem).where(
            AgendaItem.meeting_id == meeting.id, AgendaItem.source_key == source_key)).first()
        if found is not None:
            return Added(found, False)
    current = items(session, meeting_id=meeting.id)
    if len(current) >= MAX_ITEMS:
        raise RuleError(f"This agenda has {MAX_ITEMS} items already; that is more than one meeting can hold.")
    item = AgendaItem(meeting_id=meeting.id, position=(current[-1].position + 1) if current else 1, title=title,
                      minutes=minutes, owner_id=person_ref(session, owner, now=now), link=link, outcome=outcome,
                      source=source, source_key=source_key, added_by_id=person_ref(session, added_by, now=now),
                      created_at=now)
    try:
        with session.begin_nested():
            session.add(item)
    except IntegrityError:
        found = session.exec(select(AgendaItem).where(
            AgendaItem.meeting_id == meeting.id, AgendaItem.source_key == source_key)).one()
        return Added(found, False)
    return Added(item, True)


def apply_template(session: Session, *, meeting: Meeting, template: Template, by: str, now: datetime) -> None:
    """Put the template's items first; items people added stay, after them; earlier template items go."""
    assert meeting.id is not None
    if meeting.status != OPEN:
        raise RuleError(f"That meeting is {meeting.status}; its agenda can no longer change.")
    kept = []
    for item in items(session, meeting_id=meeting.id):
        if item.source == "template":
            session.delete(item)
        else:
            kept.append(item)
    session.flush()
    position = 1
    by_id = person_ref(session, by, now=now)
    for t in template.items:
        session.add(AgendaItem(meeting_id=meeting.id, position=position, title=t.title, minutes=t.minutes,
                               outcome=t.outcome, source="template", added_by_id=by_id, created_at=now))
        position += 1
    for item in kept:
        item.position = position
        position += 1
        session.add(item)
    meeting.template = template.name
    session.add(meeting)


def template_for(session: Session, *, team: Team, now: datetime) -> Template:
    """The template the cycle's phase calls for (kickoff when no cycle runs)."""
    assert team.id is not None
    view = cycle_view(current_cycle(session, team_id=team.id), local_today(team, now))
    return default_template(view.phase if view else None, view.week if view else None)


def fill_default(session: Session, *, meeting: Meeting, by: str, now: datetime) -> bool:
    """Fill an empty agenda from the cycle's template before it is first posted."""
    assert meeting.id is not None
    if meeting.status != OPEN or not fill_template_for(len(items(session, meeting_id=meeting.id)), meeting.template):
        return False
    team = session.get(Team, meeting.team_id)
    assert team is not None
    apply_template(session, meeting=meeting, template=template_for(session, team=team, now=now), by=by, now=now)
    return True


@dataclass(frozen=True)
class ItemEdit:
    item_id: int
    title: str  # "" removes the item
    minutes: int
    owner: str | None


def edit_agenda(session: Session, *, meeting: Meeting, edits: list[ItemEdit], timekeeper: str | None,
                notetaker: str | None, now: datetime | None = None) -> None:
    """Apply the edits; people (item owners, the roles) come as Slack user ids."""
    assert meeting.id is not None
    if meeting.status != OPEN:
        raise RuleError(f"That meeting is {meeting.status}; its agenda can no longer change.")
    by_id = {i.id: i for i in items(session, meeting_id=meeting.id)}
    for edit in edits:
        item = by_id.get(edit.item_id)
        if item is None:  # removed meanwhile by someone else
            continue
        if not edit.title:
            session.delete(item)
            continue
        item.title, item.minutes = edit.title, edit.minutes
        item.owner_id = person_ref(session, edit.owner, now=now)
        session.add(item)
    record = record_for(session, meeting_id=meeting.id)
    record.timekeeper_id = person_ref(session, timekeeper, now=now)
    record.notetaker_id = person_ref(session, notetaker, now=now)
    session.add(record)


def edit_item(session: Session, *, meeting: Meeting, item: AgendaItem, title: str, minutes: int, owner: str | None,
              link: str | None, outcome: str, now: datetime | None = None) -> None:
    """Change one item of a meeting not yet held or cancelled (values already checked)."""
    if meeting.status != OPEN:
        raise RuleError(f"That meeting is {meeting.status}; its agenda can no longer change.")
    item.title, item.minutes, item.link, item.outcome = title, minutes, link, outcome
    item.owner_id = person_ref(session, owner, now=now)
    session.add(item)


def roles_of(session: Session, *, meeting_id: int) -> tuple[str | None, str | None]:
    """(timekeeper, note-taker) of a meeting as Slack user ids, without creating its record."""
    record = session.exec(select(MeetingRecord).where(MeetingRecord.meeting_id == meeting_id)).first()
    if record is None:
        return (None, None)
    shown = slack_ids(session, [record.timekeeper_id, record.notetaker_id])
    return (shown.get(record.timekeeper_id or 0), shown.get(record.notetaker_id or 0))


def record_for(session: Session, *, meeting_id: int) -> MeetingRecord:
    record = session.exec(select(MeetingRecord).where(MeetingRecord.meeting_id == meeting_id)).first()
    if record is None:
        record = MeetingRecord(meeting_id=meeting_id)
        session.add(record)
        session.flush()
    return record


# --------------------------------------------------------------------------------- wrap-up
@dataclass(frozen=True)
class NewAction:
    owner: str  # Slack user id
    text: str
    due: date | None
    field: str = ""  # the modal block a refusal is shown on


def wrap_up(session: Session, *, meeting_id: int, present: list[str], notes: dict[int, str], decisions: str,
            actions: list[NewAction], by: str, now: datetime) -> list[ActionItem] | None:
    """Record the meeting as held, with attendance, notes and new action items, in one transaction.

    Returns None when it was wrapped up already (a double submit stores one record).
    """
    query = select(Meeting).where(Meeting.id == meeting_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    meeting = session.exec(query).one()
    if meeting.status != OPEN:
        return None
    if meeting.starts_at > now:  # a modal kept open, or a forged submission, before the meeting
        raise RuleError("The wrap-up opens once the meeting has started; nothing was saved.")
    members = active_members(session, team_id=meeting.team_id)
    people = {p.handle: p for p in members}
    for new in actions:  # checked before anything is written: a refused owner changes nothing
        if new.owner not in people:
            raise RuleError("That person is not a member of this team; action items go to team members.",
                            field=new.field or None)
    meeting.status, meeting.held_at = "held", now
    session.add(meeting)
    here = set(present)
    guests = sorted(here - set(people))  # marked present but not (or no longer) members: one query
    if guests:
        people.update((p.handle, p) for p in session.exec(
            select(Person).where(col(Person.handle).in_(guests))))
    for uid in sorted(here - set(people)):  # a name a link merged into another person a moment ago
        merged, _ = addressee(session, uid)
        if merged is not None and (person := session.get(Person, merged)) is not None:
            people.setdefault(person.handle, person)
            here.add(person.handle)
    for uid, person in people.items():
        assert person.id is not None
        session.add(Attendance(meeting_id=meeting_id, person_id=person.id, present=uid in here))
    for item in items(session, meeting_id=meeting_id):
        if item.id in notes:
            item.notes = notes[item.id]
            session.add(item)
    record = record_for(session, meeting_id=meeting_id)
    by_id = person_ref(session, by, now=now)
    record.decisions, record.wrapped_up_by_id, record.wrapped_up_at = decisions, by_id, now
    session.add(record)
    created = []
    for new in actions:
        owner = people[new.owner]
        assert owner.id is not None
        action = ActionItem(team_id=meeting.team_id, meeting_id=meeting_id, owner_id=owner.id, text=new.text,
                            due_date=new.due, created_by_id=by_id, created_at=now)
        session.add(action)
        created.append(action)
    session.flush()
    return created


# --------------------------------------------------------------------------------- planners
def jobs_by_key(session: Session, keys: list[str]) -> dict[str, ScheduledJob]:
    """The scheduled-work rows with these dedupe keys, in one query (planners run every tick)."""
    found: dict[str, ScheduledJob] = {}
    for start in range(0, len(keys), 500):  # keep IN lists short on every database
        batch = keys[start:start + 500]
        found.update((j.dedupe_key, j) for j in session.exec(
            select(ScheduledJob).where(col(ScheduledJob.dedupe_key).in_(batch))))
    return found


def needs_schedule(existing: ScheduledJob | None, due_at: datetime) -> bool:
    """Whether `jobs.schedule` would change anything: a missing row, or a pending one due at another time."""
    return existing is None or (existing.state == "pending" and existing.due_at != due_at)


# --------------------------------------------------------------------------------- snapshots
def current_cycle(session: Session, *, team_id: int) -> Cycle | None:
    return session.exec(
        select(Cycle).where(Cycle.team_id == team_id, col(Cycle.status).in_(["active", "paused"]))
        .order_by(col(Cycle.start_date).desc(), col(Cycle.id).desc())
    ).first()


def cycle_view(cycle: Cycle | None, today: date) -> CycleView | None:
    if cycle is None:
        return None
    week = cycle_rules.cycle_week(cycle.start_date, cycle.weeks, today)
    return CycleView(
        title=cycle.title, goal=cycle.goal, metric=cycle.metric_name, baseline=cycle.baseline,
        target=cycle.target, unit=cycle.metric_unit, week=week, weeks=cycle.weeks,
        phase=cycle_rules.phase(week, cycle.weeks) if week is not None else None, status=cycle.status,
    )


def requested(session: Session, *, team_id: int) -> list[str]:
    """Topics teachers asked for in meeting feedback (none while that feature is absent)."""
    try:
        from storage.feedback import requested_topics
    except ImportError:
        return []
    try:
        return list(requested_topics(session, team_id=team_id))
    except Exception:  # a fault there must not keep the agenda from being posted
        log.exception("Could not read requested topics for team %s", team_id)
        return []


def action_views(session: Session, *, team_id: int | None = None, owner_id: int | None = None,
                 status: str | None = "open", meeting_id: int | None = None) -> list[ActionView]:
    query = (select(ActionItem, Person.handle, Team.name, Team.timezone)
             .join(Person, col(Person.id) == ActionItem.owner_id)
             .join(Team, col(Team.id) == ActionItem.team_id))
    if team_id is not None:
        query = query.where(ActionItem.team_id == team_id)
    if owner_id is not None:
        query = query.where(ActionItem.owner_id == owner_id)
    if status is not None:
        query = query.where(ActionItem.status == status)
    if meeting_id is not None:
        query = query.where(ActionItem.meeting_id == meeting_id)
    rows = session.exec(query.order_by(col(ActionItem.due_date), col(ActionItem.id))).all()
    return [ActionView(a.id or 0, uid, a.text, a.due_date, a.status, name, timezone=tz) for a, uid, name, tz in rows]


def item_views(session: Session, *, meeting_id: int) -> list[ItemView]:
    """A meeting's items in order, each owner shown by their Slack user id."""
    rows = items(session, meeting_id=meeting_id)
    owners = slack_ids(session, [i.owner_id for i in rows])
    return [ItemView(i.id or 0, i.title, i.minutes, owners.get(i.owner_id or 0), i.link, i.outcome, i.notes)
            for i in rows]


def agenda_snapshot(session: Session, *, meeting_id: int, now: datetime) -> AgendaSnapshot:
    meeting = session.get(Meeting, meeting_id)
    assert meeting is not None
    team = session.get(Team, meeting.team_id)
    assert team is not None and team.id is not None
    today = local_today(team, now)
    record = session.exec(select(MeetingRecord).where(MeetingRecord.meeting_id == meeting_id)).first()
    template = TEMPLATES.get(meeting.template or "")
    return AgendaSnapshot(
        meeting_id=meeting_id,
        team_name=team.name,
        when=local_label(meeting.starts_at, team.timezone),
        minutes=meeting.minutes,
        status=meeting.status,
        started=meeting.starts_at <= now,
        norms=norms_store.current_norms(session, team_id=team.id),
        cycle=cycle_view(current_cycle(session, team_id=team.id), today),
        items=item_views(session, meeting_id=meeting_id),
        requested=requested(session, team_id=team.id) if meeting.status == OPEN else [],
        open_actions=carry_over(action_views(session, team_id=team.id), today=today),
        template_label=template.label if template else None,
        facilitators=[p.handle for p in facilitators(session, team_id=team.id)],
        timekeeper=slack_id(session, record.timekeeper_id) if record else None,
        notetaker=slack_id(session, record.notetaker_id) if record else None,
    )


def meeting_log(session: Session, *, meeting_id: int) -> MeetingLog:
    meeting = session.get(Meeting, meeting_id)
    assert meeting is not None
    team = session.get(Team, meeting.team_id)
    assert team is not None
    rows = session.exec(
        select(Person.handle, Attendance.present)
        .join(Person, col(Person.id) == Attendance.person_id)
        .where(Attendance.meeting_id == meeting_id).order_by(col(Person.name))
    ).all()
    record = session.exec(select(MeetingRecord).where(MeetingRecord.meeting_id == meeting_id)).first()
    return MeetingLog(
        team_name=team.name,
        when=local_label(meeting.starts_at, team.timezone),
        present=[uid for uid, here in rows if here],
        absent=[uid for uid, here in rows if not here],
        items=item_views(session, meeting_id=meeting_id),
        decisions=record.decisions if record else "",
        actions=action_views(session, meeting_id=meeting_id, status=None),
        wrapped_up_by=(slack_id(session, record.wrapped_up_by_id) or "") if record else "",
    )
