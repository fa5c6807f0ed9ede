"""The weekly digest as scheduled work: planned per (school, ISO week), sent once to each principal.

For each principal the summary goes through the delivery ledger (`digest:{school}:{week}:{user}`),
then the workbook is uploaded into the same DM through the transport (Slack: `files_upload_v2`,
which needs the DM's `D…` id). An upload is not idempotent either, so it has a ledger row of
its own (`digest-file:…`, a `Delivery` row of kind `digest-file`) under the same claim as
messages: pending → sending → sent. When an upload ends in doubt (a dropped connection, a
crash) the transport looks for the file in the DM before uploading again. A failed upload is
retried a few times, then the principal is told and the job is marked failed so `plcbot jobs`
shows it: never lost silently.

A digest missed while the bot was down is still sent when it comes back within the following
week; after that week it is stale and skipped.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from scheduling import delivery, keys
from scheduling.delivery import Outcome, deliver
from scheduling.transport import Transport, TransportError
from storage import digest as data
from storage import jobs
from storage.models import Delivery, ScheduledJob, School
from storage.rules import digest as rules
from storage.rules.digest import IsoWeek
from storage.teams import principals
from storage.views import View
from storage.views.digest import DigestSummary, UploadFailed
from storage.workbooks import digest as wbk

if TYPE_CHECKING:
    from scheduling.registry import Registry
    from scheduling.services import Services

log = logging.getLogger("plcbot.digest")

KIND = "digest"
FILE_KIND = "digest-file"
MAX_UPLOAD_ATTEMPTS = 4
RETRY_AFTER = timedelta(minutes=5)
IN_FLIGHT = timedelta(seconds=120)


class DigestNotDelivered(Exception):
    """Some principal did not get the workbook after every retry; recorded on the job row."""


# ------------------------------------------------------------------------------------ workbooks
def workbook_name(school: str, week: IsoWeek, suffix: str = "") -> str:
    """'PLC digest - Lincoln Elementary - 2026-W47.xlsx': readable, and safe as a file name."""
    safe = re.sub(r"[^\w .,&()'-]+", " ", school).strip() or "school"
    return f"PLC digest - {safe[:60]} - {week.label}{suffix}.xlsx"


def write_week_workbook(session: Any, digests: Sequence[data.SchoolDigest], target: str | Path | IO[bytes], *,
                        min_group_size: int, team_ids: Sequence[int] | None = None,
                        on_row: Callable[[], None] | None = None) -> int:
    """One week's workbook for one or more schools' digests; returns the rows written."""
    week = digests[0].week
    zone = digests[0].school.timezone if len(digests) == 1 else "UTC"
    scope = data.Scope(tuple(d.school for d in digests), week.monday, week.sunday,
                       tuple(team_ids) if team_ids is not None else None,
                       since=tuple((d.school.id, d.since) for d in digests if d.since is not None))
    book = wbk.DigestWorkbook(zone)
    has_data = any(d.has_data for d in digests)
    names = ", ".join(d.school.name for d in digests[:3]) + (" and others" if len(digests) > 3 else "")
    rows = [wbk.summary_row(d.school.name, t) for d in digests for t in d.teams] if has_data else []
    empty = (f"No PLC activity was recorded at {names} in week {week.label} ({week.span()}): "
             "no meetings, check-ins or feedback.") if not has_data else "No PLC teams yet."
    # A chart per team suits one school's workbook; a district's has the figures without them.
    charts = digests[0].charts if len(digests) == 1 else []
    book.summary(rows, charts, empty=empty)
    _detail_sheets(book, session, scope, min_group_size=min_group_size, on_row=on_row, period="this week",
                   rounds=[r for d in digests for r in d.rounds])
    book.save(target)
    return book.rows_written


def write_range_workbook(session: Any, scope: data.Scope, target: str | Path | IO[bytes], *, min_group_size: int,
                         on_row: Callable[[], None] | None = None) -> int:
    """The district's record for a range of days (a school year), every sheet streamed."""
    rounds = data.round_facts(session, scope)  # read once: the Summary and the Cycles sheet both need them
    figures = data.range_figures(session, scope, min_group_size=min_group_size, rounds=rounds)
    book = wbk.DigestWorkbook(scope.schools[0].timezone if len(scope.schools) == 1 else "UTC")
    rows = [wbk.summary_row(school.name, fig) for school, fig in figures if not fig.quiet]
    book.summary(rows, [], empty=f"No PLC activity was recorded from {scope.first} to {scope.last}.")
    _detail_sheets(book, session, scope, min_group_size=min_group_size, on_row=on_row,
                   period=f"from {scope.first} to {scope.last}", rounds=rounds)
    book.save(target)
    return book.rows_written


def _detail_sheets(book: wbk.DigestWorkbook, session: Any, scope: data.Scope, *, min_group_size: int,
                   on_row: Callable[[], None] | None, period: str,
                   rounds: list[rules.RoundFact] | None = None) -> None:
    book.sheet("Check-ins", wbk.CHECKINS, data.checkin_rows(session, scope), on_row=on_row,
               empty=f"No check-ins {period}.")
    book.sheet("Support requests", wbk.SUPPORT, data.support_rows(session, scope), on_row=on_row,
               empty="No support requests waiting or made.")
    book.sheet("Feedback", wbk.FEEDBACK, data.feedback_rows(session, scope, min_group_size=min_group_size),
               on_row=on_row, empty=f"No meeting feedback {period}.")
    book.sheet("Meetings and agendas", wbk.MEETINGS, data.meeting_rows(session, scope), on_row=on_row,
               empty=f"No meetings {period}.")
    book.sheet("Action items", wbk.ACTIONS, data.action_rows(session, scope), on_row=on_row,
               empty="No open or recent action items.")
    book.sheet("Cycles and goals", wbk.CYCLES, data.cycle_rows(session, scope, rounds), on_row=on_row,
               empty=f"No learning cycle ran {period}.")


# ------------------------------------------------------------------------------- the upload ledger
def upload_once(services: Services, *, key: str, user_id: str, channel_id: str | None, content: bytes,
                filename: str, title: str, comment: str, job_id: int | None = None,
                max_attempts: int = MAX_UPLOAD_ATTEMPTS) -> str:
    """Upload the workbook into the DM once: 'sent', 'retry' (try again later) or 'failed'.

    The same ledger claim as a message (`delivery.claim`), with a row of kind `digest-file`."""
    decision, row = delivery.claim(services, key=key, kind=FILE_KIND, recipient=user_id, job_id=job_id,
                                   in_flight=IN_FLIGHT)
    if decision == "done":
        return row.state
    if decision == "busy":
        return "retry"
    transport = services.transports.for_recipient(user_id)
    try:
        dm = transport.conversation(user_id, channel_id or row.channel_id)
        if decision == "resolve":
            found = transport.find_file(user_id, filename, conversation=dm)
            if found is not None:
                delivery.update(services, key, state="sent", channel_id=found.conversation, ts=found.id,
                                error=None)
                log.info("Workbook %s was already in the DM; not uploaded again", key)
                return "sent"
        # A transport that offers the file for the person to accept (Teams' file consent card)
        # names this ledger row in the offer, so the acceptance can find and settle it.
        shared = transport.upload(user_id, content, filename=filename, title=title, comment=comment,
                                  conversation=dm, key=key)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded and retried or reported
        return _upload_failed(services, transport, key=key, user_id=user_id, row=row, filename=filename, exc=exc,
                              channel_id=channel_id or row.channel_id, max_attempts=max_attempts)
    delivery.update(services, key, state="sent", channel_id=shared.conversation, ts=shared.id, error=None)
    return "sent"


def _upload_failed(services: Services, transport: Transport, *, key: str, user_id: str, row: Delivery,
                   filename: str, exc: Exception, channel_id: str | None, max_attempts: int) -> str:
    error = exc.code if isinstance(exc, TransportError) else type(exc).__name__
    try:  # it may have landed before the connection dropped
        found = transport.find_file(user_id, filename, conversation=channel_id)
        if found is not None:
            delivery.update(services, key, state="sent", channel_id=found.conversation, error=None)
            return "sent"
    except Exception:  # noqa: BLE001 - cannot look: try again later, as in doubt
        log.warning("Could not check the DM for %s", key)
    if (isinstance(exc, TransportError) and exc.permanent) or row.attempts >= max_attempts:
        delivery.update(services, key, state="failed", error=error[:200])
        log.error("Workbook %s could not be uploaded after %d tries: %s", key, row.attempts, error)
        return "failed"
    delivery.update(services, key, state="pending", error=error[:200])
    log.warning("Workbook %s upload failed (%s); will retry", key, error)
    return "retry"


# -------------------------------------------------------------------------------- sending
@dataclass
class SendResult:
    sent: list[str]
    retry: list[str]
    unreachable: list[str]
    upload_failed: list[str]


def send_digest(services: Services, *, recipients: Sequence[str], key: Callable[[str], str],
                file_key: Callable[[str], str], content: bytes, filename: str, title: str, school: str,
                week: IsoWeek, view: View | None = None, text: str = "",
                blocks: list[dict[str, Any]] | None = None, job_id: int | None = None) -> SendResult:
    """The summary (`view`, or Block Kit as `text` and `blocks` from a handler that still builds
    it), then the workbook, to each recipient; each step once, whatever happens."""
    result = SendResult([], [], [], [])
    for uid in recipients:
        out: Outcome = deliver(services, key=key(uid), kind=KIND, recipient=uid, view=view, text=text,
                               blocks=blocks, job_id=job_id)
        if out.state == "failed":
            result.unreachable.append(uid)
            continue
        if not out.sent:
            result.retry.append(uid)
            continue
        state = upload_once(services, key=file_key(uid), user_id=uid, channel_id=out.channel_id, content=content,
                            filename=filename, title=title, comment=f"The detail for week {week.label}.",
                            job_id=job_id)
        if state == "sent":
            result.sent.append(uid)
        elif state == "retry":
            result.retry.append(uid)
        else:
            result.upload_failed.append(uid)
            deliver(services, key=keys.digest_file_failed(file_key(uid)), kind=KIND, recipient=uid,
                    view=UploadFailed(school=school, week=week), job_id=job_id)
    return result


def run(job: ScheduledJob, services: Services) -> str | None:
    """Send one school's digest for one week to each of its principals."""
    week = rules.parse_week(json.loads(job.payload or "{}").get("week", ""))
    assert job.school_id is not None and job.id is not None
    minimum = services.settings.min_group_size
    with services.db.read() as session:
        digest = data.build_digests(session, week, school_ids=[job.school_id], min_group_size=minimum).get(
            job.school_id)
        if digest is None:
            return "the school no longer exists"
        recipients = [p.handle for p in principals(session, school_id=job.school_id)]
        if not recipients:
            return "no principal to send to"
        buffer = io.BytesIO()
        write_week_workbook(session, [digest], buffer, min_group_size=minimum)
    summary = DigestSummary(school=digest.school.name, week=week, teams=tuple(digest.teams),
                            has_data=digest.has_data)
    school_id, label = job.school_id, week.label
    result = send_digest(
        services, recipients=recipients, key=lambda u: keys.digest(school_id, label, u),
        file_key=lambda u: keys.digest_file(school_id, label, u), view=summary, content=buffer.getvalue(),
        filename=workbook_name(digest.school.name, week), title=f"PLC digest, {digest.school.name}, {week.label}",
        school=digest.school.name, week=week, job_id=job.id,
    )
    if result.retry:
        jobs.release(services.db, job.id, due_at=services.clock.now() + RETRY_AFTER,
                     error=f"waiting to retry for {', '.join(result.retry)}")
        return None
    if result.upload_failed:
        raise DigestNotDelivered(f"workbook not attached for {', '.join(result.upload_failed)} after retries; "
                                 "they were told")
    note = f"sent to {len(result.sent)}"
    if result.unreachable:
        note += f"; unreachable: {', '.join(result.unreachable)}"
    return note


def is_stale(job: ScheduledJob, now: datetime) -> bool:
    """Missed digests are still worth sending until the week after the digest's week ends."""
    stale_after = json.loads(job.payload or "{}").get("stale_after")
    return bool(stale_after) and now >= datetime.fromisoformat(stale_after)


def plan(services: Services, now: datetime) -> None:
    """Make sure each school has its row for last week's digest (if still owed) and this week's."""
    with services.db.session() as session:
        wanted: dict[str, tuple[School, IsoWeek, datetime]] = {}
        for school in session.exec(select(School)).all():
            try:
                this_week = IsoWeek.of(now.astimezone(ZoneInfo(school.timezone)).date())
                for week in (this_week.shift(-1), this_week):
                    due = rules.digest_due(week, weekday=school.digest_weekday, at=school.digest_time,
                                           tz=school.timezone)
                    if due < school.created_at:  # set up after that digest's time: nothing was owed
                        continue
                    wanted[keys.digest_job(school.id, week.label)] = (school, week, due)
            except (ValueError, KeyError) as exc:
                log.error("School %s has a digest time that cannot be planned: %s", school.id, exc)
        if not wanted:
            return
        existing = {
            key: (state, due, attempts) for key, state, due, attempts in session.execute(
                select(ScheduledJob.dedupe_key, ScheduledJob.state, ScheduledJob.due_at, ScheduledJob.attempts)
                .where(col(ScheduledJob.dedupe_key).in_(list(wanted)))
            )
        }
        for key, (school, week, due) in wanted.items():
            known = existing.get(key)
            # A row that ran (and gave itself back to retry later) keeps its own due time;
            # one not yet run follows a change of the school's digest day or time.
            if known is not None and (known[0] != "pending" or known[1] == due or known[2] > 0):
                continue
            stale = rules.digest_stale_after(week, school.timezone)
            jobs.schedule(session, kind=KIND, dedupe_key=key, due_at=due, school_id=school.id,
                          payload={"week": week.label, "stale_after": stale.isoformat()})


def register(registry: Registry) -> None:
    registry.kind(KIND, run, label="digest", is_stale=is_stale)
    registry.planner("digest", plan)
