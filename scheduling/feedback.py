"""Feedback's scheduled work: the "How was today's meeting?" prompt and closing the window.

The planner keeps two rows per meeting: `feedback_prompt:{id}`, due at the meeting's scheduled
end (or its wrap-up, if earlier) moved into school hours, and `feedback_close:{id}`, due when
the window closes. Closing deletes the anonymous links of every closed window (a sweep, so a
link written by a submission racing the close is caught by the follow-up sweep minutes later).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import select

from scheduling import keys
from scheduling.delivery import deliver
from scheduling.hours import SchoolHours, parse_school_hours
from storage import feedback as store
from storage import jobs
from storage import meetings as meeting_store
from storage.models import Meeting, School, Team
from storage.rules import feedback as rules
from storage.views.feedback import FeedbackPrompt

if TYPE_CHECKING:
    from scheduling.registry import Registry
    from scheduling.services import Services
    from storage.models import ScheduledJob

log = logging.getLogger("plcbot.feedback")

PROMPT = "feedback_prompt"
CLOSE = "feedback_close"
LOOK_BACK = timedelta(days=60)  # windows are at most a few weeks; older meetings need nothing
LOOK_AHEAD = timedelta(days=2)
STALE_AFTER = timedelta(hours=12)  # a prompt for a meeting long over reads as noise
RESWEEP_AFTER = timedelta(minutes=10)
RETRY_AFTER = timedelta(minutes=1)


def hours_for(team: Team, school: School | None, default: str) -> SchoolHours:
    for spec in (team.school_hours, school.school_hours if school else None, default):
        if spec:
            try:
                return parse_school_hours(spec)
            except ValueError:
                continue
    return parse_school_hours(default)


def plan(services: Services, now: datetime) -> None:
    """Make sure every recent or coming meeting has its prompt and its window close.

    It runs on every tick: meetings, their windows and the job rows are read in three queries
    for all teams, and only missing or moved rows are written.
    """
    with services.db.session() as session:
        schools = {s.id: s for s in session.exec(select(School)).all()}
        meetings = store.meetings_to_prompt(session, since=now - LOOK_BACK, until=now + LOOK_AHEAD)
        closes_at = store.windows_close(session, meetings)
        existing = meeting_store.jobs_by_key(
            session, [k for m, _ in meetings for k in (keys.feedback_close_job(m.id), keys.feedback_prompt_job(m.id))])
        for meeting, team in meetings:
            assert meeting.id is not None
            closes = closes_at[meeting.id]
            key = keys.feedback_close_job(meeting.id)
            if meeting_store.needs_schedule(existing.get(key), closes):
                jobs.schedule(session, kind=CLOSE, dedupe_key=key, due_at=closes,
                              team_id=team.id, school_id=team.school_id, ref_id=meeting.id)
            raw = rules.prompt_due(meeting.starts_at, meeting.minutes, meeting.held_at)
            due = hours_for(team, schools.get(team.school_id), services.settings.school_hours).next_open(
                raw, team.timezone
            )
            if due >= closes or due < now - STALE_AFTER:
                continue  # too late to be useful: the window would be closed or long over
            key = keys.feedback_prompt_job(meeting.id)
            if meeting_store.needs_schedule(existing.get(key), due):
                jobs.schedule(session, kind=PROMPT, dedupe_key=key, due_at=due,
                              team_id=team.id, school_id=team.school_id, ref_id=meeting.id)


def prompt_is_stale(job: ScheduledJob, now: datetime) -> bool:
    return now - job.due_at > STALE_AFTER


def run_prompt(job: ScheduledJob, services: Services) -> str | None:
    """Post "How was today's meeting?" once in the team's channel."""
    now = services.clock.now()
    with services.db.read() as session:
        meeting = session.get(Meeting, job.ref_id) if job.ref_id else None
        team = session.get(Team, meeting.team_id) if meeting else None
        if meeting is None or team is None:
            return "meeting gone"
        if meeting.status == "cancelled":
            return "meeting cancelled"
        if team.archived_at is not None:
            return "team archived"
        closes = store.window_closes(session, meeting, team)
    if now >= closes:
        return "window already closed"
    assert meeting.id is not None and job.id is not None
    prompt = FeedbackPrompt(meeting_id=meeting.id, title=meeting.title, starts_at=meeting.starts_at, closes_at=closes,
                            timezone=team.timezone)
    outcome = deliver(services, key=keys.feedback_prompt(meeting.id), kind=PROMPT, recipient=team.channel_id,
                      view=prompt, job_id=job.id, payload={"meeting_id": meeting.id})
    if outcome.state in ("pending", "in_flight"):
        jobs.release(services.db, job.id, due_at=now + RETRY_AFTER, error=outcome.error or outcome.state)
        return None
    if outcome.state != "sent":
        log.warning("Feedback prompt for meeting %s not sent: %s", meeting.id, outcome.error or outcome.state)
        return f"not sent: {outcome.error or outcome.state}"
    return None


def run_close(job: ScheduledJob, services: Services) -> str | None:
    """Delete the anonymous links of closed windows; from now on those answers are nobody's."""
    now = services.clock.now()
    assert job.id is not None
    with services.db.session() as session:
        meeting = session.get(Meeting, job.ref_id) if job.ref_id else None
        team = session.get(Team, meeting.team_id) if meeting else None
        reopen: datetime | None = None
        if meeting is not None and team is not None and meeting.status != "cancelled":
            closes = store.window_closes(session, meeting, team)
            if closes > now:  # a later meeting was cancelled: the window is longer now
                reopen = closes
        removed = store.close_windows(session, now=now)
        if reopen is None and not job.dedupe_key.endswith(":again") and meeting is not None:
            # Sweep once more shortly after: catches a submission that raced this close.
            jobs.schedule(session, kind=CLOSE, dedupe_key=keys.sweep_again(job.dedupe_key),
                          due_at=now + RESWEEP_AFTER, team_id=job.team_id, school_id=job.school_id,
                          ref_id=job.ref_id)
    compact(services)
    if reopen is not None:
        jobs.release(services.db, job.id, due_at=reopen)
        return None
    return f"removed {removed} anonymous link(s)"


def compact(services: Services) -> None:
    """SQLite: fold the write-ahead log back into the file, so old pages holding links go."""
    if not services.db.is_sqlite:
        return
    raw = services.db.engine.raw_connection()
    try:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[attr-defined]
    except Exception as exc:  # another reader holds the log; the next close tries again
        log.warning("Could not checkpoint the SQLite log after closing feedback (%s)", type(exc).__name__)
    finally:
        raw.close()


def register(registry: Registry) -> None:
    registry.kind(PROMPT, run_prompt, label="feedback prompt", is_stale=prompt_is_stale)
    registry.kind(CLOSE, run_close, label="feedback window close")
    registry.planner("feedback", plan)
