"""Meeting work the bot owes: agendas posted before meetings, refreshed when they start, and
action-item reminders the school day before they are due.

Agenda posts and reminders go through the delivery ledger, so a restart or a second process
never posts an agenda twice; the meeting keeps the posted message's channel and ts, and every
later change updates that message in place through the transport.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from scheduling import keys
from scheduling.delivery import deliver
from scheduling.hours import SchoolHours, parse_school_hours
from scheduling.transport import TransportError
from storage import actions as action_store
from storage import jobs
from storage import meetings as meeting_store
from storage.models import Meeting, ScheduledJob, School, Team
from storage.rules import cycles as cycle_rules
from storage.rules.agenda import ActionView, is_away, reminder_day
from storage.views.agenda import ActionReminder, AgendaPost

if TYPE_CHECKING:
    from scheduling.registry import Registry
    from scheduling.services import Services

log = logging.getLogger("plcbot.meetings")

AGENDA_POST = "agenda_post"
MEETING_START = "meeting_start"
ACTION_REMINDER = "action_reminder"
REMIND_AT = time(9, 0)  # local; moved into school hours when they open later


def school_hours(services: Services, team: Team, school: School | None) -> SchoolHours:
    """The team's own hours, else the school's, else PLCBOT_SCHOOL_HOURS."""
    for spec in (team.school_hours, school.school_hours if school else None):
        if spec:
            try:
                return parse_school_hours(spec)
            except ValueError:
                log.warning("Team %s has unreadable school hours %r; using the default", team.id, spec)
    return parse_school_hours(services.settings.school_hours)


def agenda_post_time(starts_at: datetime, lead_hours: int, hours: SchoolHours, tz: str,
                     now: datetime) -> datetime | None:
    """When to post: `lead_hours` before the start, moved into school hours and still before the start.

    A time at night moves to the next morning if that is before the meeting; otherwise back to
    the last school hour before it. None when the meeting has started.
    """
    if starts_at <= now:
        return None
    due = max(starts_at - timedelta(hours=lead_hours), now)
    forward = hours.next_open(due, tz)
    if forward < starts_at:
        return forward
    zone = ZoneInfo(tz)
    local = due.astimezone(zone)
    for back in range(0, 15):  # the latest school moment before `due`
        d = (local - timedelta(days=back)).date()
        if d.weekday() not in hours.weekdays:
            continue
        opening = datetime.combine(d, hours.opens, tzinfo=zone)
        closing = datetime.combine(d, hours.closes, tzinfo=zone) - timedelta(minutes=30)
        candidate = min(closing, local) if back == 0 else closing
        if candidate >= opening and candidate.astimezone(ZoneInfo("UTC")) >= now:
            return candidate.astimezone(ZoneInfo("UTC"))
    return due  # no school hour fits: post on time rather than after the meeting


# --------------------------------------------------------------------------------- posting
@dataclass(frozen=True)
class Posted:
    channel_id: str | None
    ts: str | None
    updated: bool  # True: an agenda already in the channel was updated in place
    state: str


def publish_agenda(services: Services, meeting_id: int, *, job_id: int | None = None) -> Posted:
    """Post the meeting's agenda once; later calls update the posted message instead."""
    now = services.clock.now()
    with services.db.session() as session:
        meeting = session.get(Meeting, meeting_id)
        assert meeting is not None
        if not meeting.agenda_ts:
            meeting_store.fill_default(session, meeting=meeting, by="plcbot", now=now)
    with services.db.read() as session:
        meeting = session.get(Meeting, meeting_id)
        assert meeting is not None
        team = session.get(Team, meeting.team_id)
        assert team is not None
        snap = meeting_store.agenda_snapshot(session, meeting_id=meeting_id, now=now)
    view = AgendaPost(snap)
    key = keys.agenda(meeting_id)
    transport = services.transports.for_recipient(team.channel_id)
    if meeting.agenda_ts and meeting.agenda_channel_id:
        try:
            transport.update(meeting.agenda_channel_id, meeting.agenda_ts, transport.render(view))
            return Posted(meeting.agenda_channel_id, meeting.agenda_ts, True, "sent")
        except TransportError as exc:
            if not exc.gone:
                raise
        # Someone deleted the posted agenda: forget it and post a fresh one under a new key.
        log.warning("The posted agenda of meeting %s is gone; posting it again", meeting_id)
        key = keys.agenda(meeting_id, gone_ts=meeting.agenda_ts)
        with services.db.session() as session:
            row = session.get(Meeting, meeting_id)
            assert row is not None
            row.agenda_channel_id = row.agenda_ts = None
            session.add(row)
    outcome = deliver(services, key=key, kind="agenda", recipient=team.channel_id, view=view, job_id=job_id,
                      payload={"meeting_id": meeting_id})
    if outcome.sent and outcome.ts:
        with services.db.session() as session:
            row = session.get(Meeting, meeting_id)
            assert row is not None
            if not row.agenda_ts:
                row.agenda_channel_id, row.agenda_ts = outcome.channel_id or team.channel_id, outcome.ts
                session.add(row)
        if outcome.already:  # posted before (another call, a crash): bring it up to date
            try:
                transport.update(outcome.channel_id or team.channel_id, outcome.ts, transport.render(view))
            except TransportError as exc:
                log.warning("Could not update agenda %s: %s", meeting_id, exc.code)
        return Posted(outcome.channel_id or team.channel_id, outcome.ts, outcome.already, "sent")
    return Posted(None, None, False, outcome.state)


def refresh_agenda(services: Services, meeting_id: int) -> None:
    """Update the posted agenda after a change; nothing to do when it was not posted yet."""
    with services.db.read() as session:
        meeting = session.get(Meeting, meeting_id)
    if meeting is None or not meeting.agenda_ts or not meeting.agenda_channel_id:
        return
    try:
        publish_agenda(services, meeting_id)
    except TransportError as exc:
        log.warning("Could not refresh agenda %s: %s", meeting_id, exc.code)


def send_action_dm(services: Services, view: ActionView, *, key: str, message: object | None = None,
                   text: str = "", blocks: list | None = None) -> str:
    """DM an action item's owner: `message` is a view model (`storage.views.agenda`), or Block Kit as
    `text` and `blocks` from a handler that still builds it."""
    outcome = deliver(services, key=key, kind="action_item", recipient=view.owner, view=message, text=text,
                      blocks=blocks, payload={"action_id": view.id})
    return outcome.state


# --------------------------------------------------------------------------------- planner
REVIVABLE = "meeting cancelled"  # a post dropped because its meeting was cancelled; back if it is


def plan(services: Services, now: datetime) -> None:
    """Make upcoming meetings from schedules, and keep each agenda post and reminder row in step.

    It runs on every tick, so it reads in bulk: every team's meetings in one query and every
    job row it may touch in another; it writes only what changed.
    """
    with services.db.session() as session:
        teams = session.exec(select(Team).where(col(Team.archived_at).is_(None))).all()
        schools = {s.id: s for s in session.exec(select(School)).all()}
        if teams:
            _plan_meetings(session, services, list(teams), schools, now)
        _plan_reminders(session, services, schools, now)


def _plan_meetings(session: Session, services: Services, teams: list[Team], schools: dict[int | None, School],
                   now: datetime) -> None:
    since = now - timedelta(hours=6)
    until = now + timedelta(days=max(meeting_store.horizon_days(t) for t in teams) + 2)
    by_team: dict[int, list[Meeting]] = {}
    for m in session.exec(select(Meeting).where(
            col(Meeting.team_id).in_([t.id for t in teams]), col(Meeting.starts_at) > since,
            col(Meeting.starts_at) <= until)).all():
        by_team.setdefault(m.team_id, []).append(m)
    breaks = meeting_store.school_breaks(session, school_ids=sorted({t.school_id for t in teams}),
                                         today=now.date())
    work: list[tuple[Meeting, Team, SchoolHours]] = []
    for team in teams:
        assert team.id is not None
        rows = by_team.get(team.id, [])
        rows += meeting_store.ensure_upcoming(session, team=team, now=now, existing_rows=rows,
                                              breaks=breaks[team.school_id])
        hours = school_hours(services, team, schools.get(team.school_id))
        limit = now + timedelta(days=meeting_store.horizon_days(team) + 1)
        work += [(m, team, hours) for m in rows if m.starts_at <= limit]
    session.flush()
    job_keys = [k for m, _, _ in work for k in (keys.agenda_post_job(m.id), keys.meeting_start_job(m.id))]
    existing = meeting_store.jobs_by_key(session, job_keys)
    for meeting, team, hours in work:
        _plan_meeting(session, meeting, team, hours, now, existing)


def _want(session: Session, existing: dict[str, ScheduledJob], *, kind: str, key: str, due: datetime,
          team: Team, ref_id: int | None) -> None:
    """Schedule `key` at `due` unless its row already says so; bring back a post its meeting's cancel
    (or a school break, since removed) dropped."""
    job = existing.get(key)
    if job is not None and job.state == "skipped" and (job.last_error == REVIVABLE
                                                       or cycle_rules.break_label(job.last_error)):
        job.state, job.due_at, job.last_error, job.finished_at = "pending", due, None, None
        session.add(job)
        return
    if meeting_store.needs_schedule(job, due):
        jobs.schedule(session, kind=kind, dedupe_key=key, due_at=due, team_id=team.id, school_id=team.school_id,
                      ref_id=ref_id)


def _plan_meeting(session: Session, meeting: Meeting, team: Team, hours: SchoolHours, now: datetime,
                  existing: dict[str, ScheduledJob]) -> None:
    post_key, start_key = keys.agenda_post_job(meeting.id), keys.meeting_start_job(meeting.id)
    if meeting_store.skipped_for(meeting):
        _skip_for_break(session, meeting, team, hours, now, existing)
        return
    if meeting.status != "scheduled":
        for key in (post_key, start_key):
            job = existing.get(key)
            if job is not None and job.state == "pending":
                reason = REVIVABLE if meeting.status == "cancelled" else f"meeting {meeting.status}"
                jobs.cancel(session, dedupe_key=key, reason=reason)
        return
    if not meeting.agenda_ts:
        due = agenda_post_time(meeting.starts_at, team.agenda_lead_hours, hours, team.timezone, now)
        if due is not None:
            _want(session, existing, kind=AGENDA_POST, key=post_key, due=due, team=team, ref_id=meeting.id)
    if meeting.starts_at + timedelta(minutes=meeting.minutes) > now:
        _want(session, existing, kind=MEETING_START, key=start_key, due=meeting.starts_at, team=team,
              ref_id=meeting.id)


def _skip_for_break(session: Session, meeting: Meeting, team: Team, hours: SchoolHours, now: datetime,
                    existing: dict[str, ScheduledJob]) -> None:
    """A meeting a school break skips: its agenda post is kept as skipped work with the break as
    the reason (so `plcbot jobs` shows it), and nothing of it runs."""
    reason = meeting.title  # "break: Winter break"
    post_key, start_key = keys.agenda_post_job(meeting.id), keys.meeting_start_job(meeting.id)
    job = existing.get(start_key)
    if job is not None and job.state == "pending":
        jobs.cancel(session, dedupe_key=start_key, reason=reason)
    job = existing.get(post_key)
    if job is None:
        due = agenda_post_time(meeting.starts_at, team.agenda_lead_hours, hours, team.timezone, now)
        if due is None or meeting.agenda_ts:
            return
        job = jobs.schedule(session, kind=AGENDA_POST, dedupe_key=post_key, due_at=due, team_id=team.id,
                            school_id=team.school_id, ref_id=meeting.id)
        existing[post_key] = job
    if job.state == "pending":
        jobs.cancel(session, dedupe_key=post_key, reason=reason)
    elif job.state == "skipped" and job.last_error != reason:  # cancelled by hand before, or another break
        job.last_error = reason
        session.add(job)


def _plan_reminders(session: Session, services: Services, schools: dict[int | None, School], now: datetime) -> None:
    earliest = (now - timedelta(days=1)).date()
    wanted: list[tuple[str, datetime, Team, int | None]] = []
    for ctx in action_store.open_with_due(session, from_day=earliest):
        team, item = ctx.team, ctx.item
        assert item.due_date is not None
        hours = school_hours(services, team, schools.get(team.school_id))
        zone = ZoneInfo(team.timezone)
        day = reminder_day(item.due_date, hours.weekdays)
        when = hours.next_open(datetime.combine(day, REMIND_AT, tzinfo=zone), team.timezone)
        if when.astimezone(zone).date() >= item.due_date:
            continue  # no school hour left before it is due
        if when <= item.created_at + timedelta(hours=2):
            continue  # assigned that close to the reminder: the assignment message is reminder enough
        wanted.append((keys.action_reminder(item.id, item.due_date), when, team, item.id))
    existing = meeting_store.jobs_by_key(session, [key for key, _, _, _ in wanted])
    for key, when, team, item_id in wanted:
        if meeting_store.needs_schedule(existing.get(key), when):
            jobs.schedule(session, kind=ACTION_REMINDER, dedupe_key=key, due_at=when, team_id=team.id,
                          school_id=team.school_id, ref_id=item_id)


# --------------------------------------------------------------------------------- kinds
def run_agenda_post(job: ScheduledJob, services: Services) -> str | None:
    """Post the agenda of one meeting (once), unless it was cancelled or posted meanwhile."""
    assert job.ref_id is not None
    with services.db.read() as session:
        meeting = session.get(Meeting, job.ref_id)
    if meeting is None or meeting.status != "scheduled":
        return "meeting no longer scheduled"
    if meeting.agenda_ts:
        return "already posted"
    if meeting.starts_at + timedelta(minutes=meeting.minutes) <= services.clock.now():
        return "meeting over before the agenda could be posted"
    posted = publish_agenda(services, job.ref_id, job_id=job.id)
    if posted.state == "pending":  # rate limited or in doubt: try again shortly
        jobs.release(services.db, job.id or 0, due_at=services.clock.now() + timedelta(minutes=2),
                     error="agenda post pending")
    return None if posted.state == "sent" else f"agenda {posted.state}"


def run_meeting_start(job: ScheduledJob, services: Services) -> str | None:
    """At the start, update the posted agenda so it shows "Give feedback" and "Wrap up"."""
    assert job.ref_id is not None
    refresh_agenda(services, job.ref_id)
    return None


def run_action_reminder(job: ScheduledJob, services: Services) -> str | None:
    """DM the owner the school day before an open item is due, unless they are away."""
    assert job.ref_id is not None
    now = services.clock.now()
    with services.db.read() as session:
        ctx = action_store.load(session, action_id=job.ref_id)
    if ctx is None or ctx.item.status != "open":
        return "closed already"
    if not ctx.owner.active:
        return "owner deactivated"
    today = now.astimezone(ZoneInfo(ctx.team.timezone)).date()
    if is_away(today, ctx.owner.away_from, ctx.owner.away_until):
        return "owner away"
    view = ActionView(ctx.item.id or 0, ctx.owner.handle, ctx.item.text, ctx.item.due_date, "open",
                      ctx.team.name)
    state = send_action_dm(services, view, key=keys.action_reminder(view.id, ctx.item.due_date),
                           message=ActionReminder(view))
    return None if state == "sent" else f"reminder {state}"


def _agenda_stale(job: ScheduledJob, now: datetime) -> bool:
    return now - job.due_at > timedelta(days=2)  # run_agenda_post also refuses meetings that are over


def _reminder_stale(job: ScheduledJob, now: datetime) -> bool:
    return now - job.due_at > timedelta(hours=20)


def register(registry: Registry) -> None:
    registry.kind(AGENDA_POST, run_agenda_post, label="agenda post", is_stale=_agenda_stale)
    registry.kind(MEETING_START, run_meeting_start, label="meeting start", is_stale=_reminder_stale)
    registry.kind(ACTION_REMINDER, run_action_reminder, label="action reminder", is_stale=_reminder_stale)
    registry.planner("meetings", plan)
