"""Meeting feedback as actions: open the form, submit an answer, read the results.

Anonymous answers must stay unlinkable: the guarantees (one answer per person, changeable while
the window is open through a keyed link, unlinkable once it closes) live in `storage.feedback`
and are used here unchanged. Nothing here logs a user id next to feedback.

- `feedback_form(session, actor=…, key=…, now=…, meeting_id=…|team_id=…)`: the form to show
  (read-only), or `UserError` saying why the person cannot answer now.
- `check_feedback(session, …)` then `write_feedback(session, checked)`: store one answer. The
  check reads the window and membership; call both in the same write transaction, so they still
  hold when the answer is stored (the Slack front does: its modal answers with the thank-you
  view, so it cannot acknowledge before the write, unlike `forms.submit`).
- `feedback_results(session, actor=…, team=…, day=…, now=…, min_group_size=…)`: figures for the
  team's facilitators (and principals); never a name beside an anonymous answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers.core import ActionResult
from handlers.errors import UserError
from storage import feedback as store
from storage.identities import addressee
from storage.models import Meeting, Person, Team
from storage.people import hold_person
from storage.rules import feedback as rules
from storage.rules import visibility
from storage.rules.dates import parse_date
from storage.rules.roles import Actor
from storage.views.feedback_actions import (
    FeedbackForm,
    FeedbackResults,
    FeedbackSaved,
    day_label,
    meeting_label,
)

if TYPE_CHECKING:
    from scheduling.services import Services

NOT_A_MEMBER = "Only members of this team can give feedback on its meetings."
NOT_SAVED = " Your answer was not saved."


@dataclass(frozen=True)
class Open:
    """A meeting the person may answer now, and their anonymous link to it."""

    meeting: Meeting
    team: Team
    person_id: int
    link: str
    closes_at: datetime
    legacy: str | None = None  # the link's pre-0011 form (`storage.feedback.legacy_link`)

    @property
    def meeting_label(self) -> str:
        return meeting_label(self.meeting.title, self.meeting.starts_at, self.team.timezone)

    @property
    def closes_label(self) -> str:
        return day_label(self.closes_at, self.team.timezone)


def open_for(session: Session, *, actor: Actor, meeting: Meeting | None, key: bytes, now: datetime,
             hold: bool = False) -> Open:
    """Check the person may answer `meeting` now; raise `UserError` saying why not.

    `hold` (the write path): the person row is held until the transaction ends
    (`storage.people.hold_person`), so a `plcbot people link` of them landing at the same moment
    either waits for the answer and moves it with the rest, or goes first and the answer is then
    stored for the merged person, under the merged person's link."""
    if meeting is None:
        raise UserError("No meeting of this team has started yet, so there is nothing to give feedback on.")
    team = session.get(Team, meeting.team_id)
    if team is None or team.archived_at is not None:
        raise UserError("This team is archived; its meetings no longer take feedback.")
    if team.id not in actor.member_of:
        raise UserError(NOT_A_MEMBER)
    label = meeting_label(meeting.title, meeting.starts_at, team.timezone)
    if meeting.status == "cancelled":
        raise UserError(f"The meeting of {label} was cancelled, so it takes no feedback.")
    if now < meeting.starts_at:
        raise UserError(f"Feedback on the meeting of {label} opens when it starts.")
    closes = store.window_closes(session, meeting, team)
    if now >= closes:
        raise UserError(
            f"The feedback window for the meeting of {label} closed on {day_label(closes, team.timezone)}."
        )
    person = _person(session, actor, hold=hold)
    if person is None or person.id is None:
        raise UserError(NOT_A_MEMBER)
    assert meeting.id is not None
    link = store.anonymous_link(key, meeting_id=meeting.id, person_id=person.id)
    legacy = store.legacy_link(key, meeting_id=meeting.id, user_id=person.handle)
    return Open(meeting, team, person.id, link, closes, legacy)


def _person(session: Session, actor: Actor, *, hold: bool) -> Person | None:
    """The person answering: the actor's row, or, when a link merged it a moment ago, the person
    their handle now names (held, with `hold`)."""
    if hold:
        held = hold_person(session, actor.person_id, actor.handle)
        return session.get(Person, held) if held is not None else None
    person = session.get(Person, actor.person_id) if actor.person_id is not None else None
    if person is None:
        found, _ = addressee(session, actor.handle)
        person = session.get(Person, found) if found is not None else None
    return person


def previous_values(answer: Any) -> dict[str, Any] | None:
    if answer is None:
        return None
    values: dict[str, Any] = {q.key: getattr(answer, q.key) for q in rules.QUESTIONS}
    values["anonymous"] = answer.anonymous
    return values


def feedback_form(session: Session, *, actor: Actor, key: bytes, now: datetime, meeting_id: int | None = None,
                  team_id: int | None = None) -> FeedbackForm:
    """The form for this person, filled with their current answer; `UserError` if they cannot answer.

    `meeting_id` (a button on a prompt or an agenda), or `team_id` for the team's latest started meeting."""
    if meeting_id is not None:
        meeting = session.get(Meeting, meeting_id)
        if meeting is None:
            raise UserError("That meeting no longer exists.")
    else:
        assert team_id is not None
        meeting = store.latest_started_meeting(session, team_id=team_id, now=now)
    form = open_for(session, actor=actor, meeting=meeting, key=key, now=now)
    assert form.meeting.id is not None
    previous = store.own_answer(session, meeting_id=form.meeting.id, person_id=form.person_id, link=form.link,
                               legacy=form.legacy)
    return FeedbackForm(meeting_id=form.meeting.id, meeting=form.meeting_label, closes=form.closes_label,
                        previous=previous_values(previous))


# ---------------------------------------------------------------------------------- submit


@dataclass(frozen=True)
class Checked:
    """An answer that may be stored: the open meeting, the answer, and the person's local day."""

    open: Open
    answer: rules.Answer
    today: date

    @property
    def saved(self) -> FeedbackSaved:
        """What the person is told once it is stored."""
        return FeedbackSaved(anonymous=self.answer.anonymous, closes=self.open.closes_label)


def check_feedback(session: Session, *, actor: Actor, meeting_id: int, answer: rules.Answer, key: bytes,
                   now: datetime) -> Checked:
    """Whether this person may store `answer` for the meeting now (membership, window); `UserError` if not.

    The message says why, and that the answer was not saved."""
    meeting = session.get(Meeting, meeting_id)
    try:
        form = open_for(session, actor=actor, meeting=meeting, key=key, now=now, hold=True)
    except UserError as exc:
        raise UserError(f"{exc}{NOT_SAVED}") from None
    return Checked(form, answer, now.astimezone(ZoneInfo(form.team.timezone)).date())


def write_feedback(session: Session, checked: Checked) -> ActionResult:
    """Store (or replace) the person's one answer: named by person, or anonymous by link only."""
    form = checked.open
    store.save_answer(session, meeting=form.meeting, person_id=form.person_id, link=form.link, legacy=form.legacy,
                      answer=checked.answer, today=checked.today)
    saved = checked.saved
    how = "anonymously: your name is not stored with it" if saved.anonymous else "with your name"
    # No person in `changed`: it may be logged, and an anonymous answer must stay unlinkable.
    return ActionResult(
        reply=f"Thank you! Your feedback is saved {how}. You can change it until {saved.closes}.",
        changed=(f"feedback for meeting {form.meeting.id}",),
        notices=(),
    )


# ---------------------------------------------------------------------------------- results


def feedback_results(session: Session, *, actor: Actor, team: Team, day: str, now: datetime,
                     min_group_size: int) -> FeedbackResults:
    """A meeting's results for the team's facilitators (and principals): refused before anything is read.

    `day` is what followed `results` (empty: the latest started meeting)."""
    assert team.id is not None
    visibility.FEEDBACK_RESULTS.require(actor, team_id=team.id, school_id=team.school_id)
    zone = ZoneInfo(team.timezone)
    if day:
        try:
            when = parse_date(day, today=now.astimezone(zone).date())
        except ValueError as exc:
            raise UserError(f"{exc} For example `/plc feedback results 2026-12-03`.") from None
        start = datetime.combine(when, time.min, tzinfo=zone)
        meeting = store.meeting_on(session, team_id=team.id, start=start, end=start + timedelta(days=1), now=now)
        if meeting is None:
            raise UserError(f"No meeting of this team took place on {when:%a %b} {when.day}.")
    else:
        meeting = store.latest_started_meeting(session, team_id=team.id, now=now)
        if meeting is None:
            raise UserError("No meeting of this team has started yet, so there is no feedback to show.")
    assert meeting.id is not None
    rows = store.answers_for(session, meeting_id=meeting.id)
    # Names beside answers are for the team's own facilitators; leaders see them only if the team
    # opted in (storage/rules/visibility.py, the table `/plc privacy` and README show).
    summary = rules.summarize(
        store.to_stored(rows),
        min_group_size=min_group_size,
        seed=f"meeting:{meeting.id}",
        show_names=visibility.shows_name(visibility.NAMED_FEEDBACK, visibility.FEEDBACK_RESULTS, actor,
                                         team_id=team.id, shares_names=team.share_names_with_principal),
    )
    return FeedbackResults(meeting_id=meeting.id,
                           meeting=meeting_label(meeting.title, meeting.starts_at, team.timezone), summary=summary)


def link_key(services: Services) -> bytes:
    """The key that links an anonymous answer to its author while its window is open: one key for
    every front, so a teacher can change their anonymous answer from Slack or Teams alike."""
    s = services.settings
    return store.install_link_key(s)
