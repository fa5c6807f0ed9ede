"""Meeting actions: add a one-off meeting, cancel one, and the wrap-up (open, check, write).

Each takes who (an `Actor`, loaded inside the caller's transaction), where (a team or a meeting)
and plain data (dates already read from the person's words by the front), checks the role,
writes and returns what changed. The wrap-up backs a form, so it comes in halves the front wraps
in `handlers.forms.submit`: `check_wrapup` (read-only) and `write_wrapup` (one transaction).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers.core import ActionResult, Notice
from handlers.errors import UserError
from scheduling import keys
from storage import jobs
from storage import meetings as store
from storage.models import Meeting, Team
from storage.rules.agenda import ACTION_MAX, RuleError, local_label
from storage.rules.roles import Action, Actor, require
from storage.teams import active_members
from storage.views.meeting_actions import ActionAssigned, MeetingLogDue

NOT_STARTED = "The wrap-up opens once the meeting has started; nothing was saved."


@dataclass(frozen=True)
class MeetingResult(ActionResult):
    meeting_id: int = 0
    when: str = ""  # the meeting's local date and time, in words
    refresh_agenda: bool = False  # its agenda was posted: the front updates it
    agenda_posted: bool = False


@dataclass(frozen=True)
class UpcomingMeeting:
    """One line of `meeting list`: when, and how long it is or why a break skips it."""

    when: str  # local date and time, in words
    minutes: int
    one_off: bool
    skipped: str | None  # the break's label (as the principal typed it) when a break skips it

    def detail(self, escape: Callable[[str], str]) -> str:
        """`45 min · one-off`, or `skipped: LABEL` with the label escaped for the front's markup."""
        if self.skipped:
            return f"skipped: {escape(self.skipped)}"
        return f"{self.minutes} min" + (" · one-off" if self.one_off else "")


def upcoming_meetings(session: Session, *, team: Team, now: datetime, limit: int = 10) -> list[UpcomingMeeting]:
    """The team's next meetings, those a break skips included (planned ones are made first)."""
    assert team.id is not None
    store.ensure_upcoming(session, team=team, now=now)
    return [UpcomingMeeting(when=local_label(m.starts_at, team.timezone), minutes=m.minutes,
                            one_off=m.source == "one_off", skipped=store.skipped_for(m))
            for m in store.upcoming(session, team_id=team.id, now=now, limit=limit, skipped=True)]


class SkippedForBreak(UserError):
    """The meeting asked to be cancelled is not held anyway: a school break skips it."""

    def __init__(self, when: str, why: str) -> None:
        super().__init__(f"The meeting on {when} is not held anyway: it is skipped for the school break ({why}).")
        self.when, self.why = when, why


class FormErrors(Exception):
    """Inline errors for several fields of a form at once, `{field: message}` (the front shows them)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def _team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None or team.id is None:
        raise UserError("That team no longer exists.")
    return team


def add_meeting(session: Session, actor: Actor, *, team_id: int, day: date, at: time, minutes: int | None,
                now: datetime) -> MeetingResult:
    """Add a one-off meeting on `day` at `at` (the team's local time); a cancelled one comes back.

    Raises `RuleError` for a time passed, too far ahead, or taken.
    """
    team = _team(session, team_id)
    require(actor, Action.MANAGE_MEETINGS, team_id=team_id, school_id=team.school_id)
    starts_at = datetime.combine(day, at, tzinfo=ZoneInfo(team.timezone)).astimezone(ZoneInfo("UTC"))
    meeting = store.add_one_off(session, team=team, starts_at=starts_at, minutes=minutes or team.meeting_minutes,
                                now=now)
    assert meeting.id is not None
    when = local_label(meeting.starts_at, team.timezone)
    return MeetingResult(
        reply=f"Added a {meeting.minutes}-minute meeting on {when}. Its agenda will be posted "
              f"{team.agenda_lead_hours} hours before, within school hours.",
        changed=(f"meeting:{meeting.id} added",), meeting_id=meeting.id, when=when,
        refresh_agenda=bool(meeting.agenda_ts), agenda_posted=bool(meeting.agenda_ts))


def cancel_meeting(session: Session, actor: Actor, *, team_id: int, day: date | None,
                   now: datetime) -> MeetingResult:
    """Cancel the next meeting (or the one on `day`): its agenda post and start jobs are skipped.

    Raises `SkippedForBreak` when that day's meeting is skipped anyway, `UserError` when there is none.
    """
    team = _team(session, team_id)
    require(actor, Action.MANAGE_MEETINGS, team_id=team_id, school_id=team.school_id)
    zone = ZoneInfo(team.timezone)
    cancelled = store.find_to_cancel(session, team=team, day=day, now=now)
    if cancelled is None and day is not None:
        skipped = next((m for m in store.upcoming(session, team_id=team_id, now=now, limit=50, skipped=True)
                        if m.starts_at > now and m.starts_at.astimezone(zone).date() == day
                        and store.skipped_for(m)), None)
        if skipped is not None:
            raise SkippedForBreak(local_label(skipped.starts_at, team.timezone), store.skipped_for(skipped) or "")
    if cancelled is None:
        raise UserError("There is no upcoming meeting on that day." if day else "There is no upcoming meeting.")
    store.cancel(session, meeting=cancelled)
    assert cancelled.id is not None
    jobs.cancel(session, dedupe_key=keys.agenda_post_job(cancelled.id), reason="meeting cancelled")
    jobs.cancel(session, dedupe_key=keys.meeting_start_job(cancelled.id), reason="meeting cancelled")
    when = local_label(cancelled.starts_at, team.timezone)
    posted = bool(cancelled.agenda_ts)
    return MeetingResult(
        reply=f"Cancelled the meeting on {when}; " + (
            "the posted agenda now says so." if posted else "its agenda will not be posted."),
        changed=(f"meeting:{cancelled.id} cancelled",), meeting_id=cancelled.id, when=when,
        refresh_agenda=True, agenda_posted=posted)


# ---------------------------------------------------------------------- wrap-up


def meeting_to_wrap_up(session: Session, actor: Actor, *, team_id: int, now: datetime) -> Meeting:
    """The team's meeting waiting for a wrap-up (`/plc wrapup`)."""
    team = _team(session, team_id)
    require(actor, Action.MANAGE_MEETINGS, team_id=team_id, school_id=team.school_id)
    meeting = store.to_wrap_up(session, team_id=team_id, now=now)
    if meeting is None:
        raise UserError("No meeting is waiting for a wrap-up: the wrap-up opens once a meeting has started.")
    return meeting


def open_wrapup(session: Session, actor: Actor, *, meeting_id: int | None, now: datetime) -> tuple[Meeting, Team]:
    """May `actor` open this meeting's wrap-up now (the agenda's "Wrap up" button)?"""
    meeting = session.get(Meeting, meeting_id) if meeting_id else None
    team = session.get(Team, meeting.team_id) if meeting else None
    if meeting is None or team is None:
        raise UserError("That meeting no longer exists.")
    require(actor, Action.MANAGE_MEETINGS, team_id=team.id, school_id=team.school_id)
    if meeting.status == "held":
        raise UserError("This meeting has been wrapped up already; its log is in the thread.")
    if meeting.status != "scheduled" or meeting.starts_at > now:
        raise UserError("The wrap-up opens once the meeting has started.")
    return meeting, team


@dataclass(frozen=True)
class WrapupAction:
    owner: str  # a person id
    text: str
    due: date | None
    field: str = ""  # the form field a refusal of the owner is shown on
    due_field: str = ""  # and of the due date


@dataclass(frozen=True)
class WrapupForm:
    """The wrap-up form as plain data. `errors`: fields the front could not read, `{field: message}`."""

    present: list[str]
    notes: dict[int, str]
    decisions: str
    actions: list[WrapupAction]
    errors: dict[str, str] = field(default_factory=dict)


NOTES_MAX = 2000  # one agenda item's notes
DECISIONS_MAX = 3000


def read_wrapup(*, present: Sequence[str], notes: Mapping[int, str], decisions: str,
                rows: Sequence[tuple[str, str | None, str, str | None]], today: date | None = None) -> WrapupForm:
    """The wrap-up form as every front reads it: who attended, the notes per agenda item id, the
    decisions, and the action rows as typed, `(row name, owner id, what, due date as YYYY-MM-DD)`.

    A row left empty is skipped; a half-filled row, a text too long or a date that is no date is
    an error on its field (`{row}_owner`, `{row}_text`, `{row}_due`), as is a due date before
    `today` (the team's; `check_wrapup` checks that again). Notes and decisions are trimmed and cut.
    """
    kept = {item: text.strip()[:NOTES_MAX] for item, text in notes.items() if text and text.strip()}
    actions: list[WrapupAction] = []
    errors: dict[str, str] = {}
    for row, owner, raw_text, due in rows:
        text = " ".join((raw_text or "").split())
        if not owner and not text and not due:
            continue
        if not owner:
            errors[f"{row}_owner"] = "Choose who owns this action item."
        elif not text:
            errors[f"{row}_text"] = "Say what needs doing."
        elif len(text) > ACTION_MAX:
            errors[f"{row}_text"] = f"Keep it under {ACTION_MAX} characters."
        else:
            try:
                due_day = date.fromisoformat(str(due)) if due else None
            except ValueError:
                errors[f"{row}_due"] = "Pick the due date from the calendar."
                continue
            if due_day is not None and today is not None and due_day < today:
                errors[f"{row}_due"] = "That date has passed; give a due date from today on."
                continue
            actions.append(WrapupAction(owner, text, due_day, field=f"{row}_owner", due_field=f"{row}_due"))
    return WrapupForm(present=list(dict.fromkeys(p for p in present if p)), notes=kept,
                      decisions=(decisions or "").strip()[:DECISIONS_MAX], actions=actions, errors=errors)


@dataclass(frozen=True)
class WrapupChecked:
    meeting_id: int
    team_id: int
    school_id: int
    place: str  # the team's chat place (today its Slack channel)
    form: WrapupForm


@dataclass(frozen=True)
class WrapupResult(ActionResult):
    created: tuple[int, ...] | None = None  # the new action items; None: wrapped up already (a double submit)


def check_wrapup(session: Session, actor: Actor, *, meeting_id: int | None, form: WrapupForm,
                 now: datetime) -> WrapupChecked:
    """Read-only. Raises `UserError`, `Forbidden`, `FormErrors` (several fields) or `RuleError` (one)."""
    meeting = session.get(Meeting, meeting_id) if meeting_id else None
    team = session.get(Team, meeting.team_id) if meeting else None
    if meeting is None or team is None:
        raise UserError("That meeting no longer exists.")
    assert meeting.id is not None and team.id is not None
    require(actor, Action.MANAGE_MEETINGS, team_id=team.id, school_id=team.school_id)
    errors = dict(form.errors)
    today = now.astimezone(ZoneInfo(team.timezone)).date()
    for new in form.actions:  # a due date before the team's today is refused, as `/plc action` does
        if new.due is not None and new.due < today:
            errors[new.due_field] = "That date has passed; give a due date from today on."
    if errors:
        raise FormErrors(errors)
    if meeting.status == "scheduled" and meeting.starts_at > now:
        raise RuleError(NOT_STARTED)
    members = {p.handle for p in active_members(session, team_id=team.id)}
    for new in form.actions:
        if new.owner not in members:
            raise RuleError("That person is not a member of this team; action items go to team members.",
                            field=new.field or None)
    return WrapupChecked(meeting_id=meeting.id, team_id=team.id, school_id=team.school_id, place=team.channel_id,
                         form=form)


def write_wrapup(session: Session, actor: Actor, checked: WrapupChecked, *, now: datetime) -> WrapupResult:
    """Record the meeting as held, once: a second submit finds it held and changes nothing."""
    require(actor, Action.MANAGE_MEETINGS, team_id=checked.team_id, school_id=checked.school_id)
    form = checked.form
    created = store.wrap_up(session, meeting_id=checked.meeting_id, present=form.present, notes=form.notes,
                            decisions=form.decisions,
                            actions=[store.NewAction(a.owner, a.text, a.due, field=a.field) for a in form.actions],
                            by=actor.handle, now=now)
    if created is None:
        return WrapupResult(reply="This meeting has been wrapped up already.", created=None)
    ids = tuple(a.id for a in created if a.id is not None)
    notices = (Notice(view=MeetingLogDue(checked.meeting_id), team_id=checked.team_id,
                      key=keys.meeting_log(checked.meeting_id)),
               *(Notice(view=ActionAssigned(action_id, actor.handle), key=keys.action_assigned(action_id))
                 for action_id in ids))
    return WrapupResult(reply="The wrap-up is saved.", changed=(f"meeting:{checked.meeting_id} held",),
                        notices=notices, created=ids)
