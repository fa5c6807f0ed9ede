"""Meeting feedback: `/plc feedback`, the "Give feedback" button, the modal and the results.

Anonymous answers must stay unlinkable, so nothing here logs a user id next to feedback, and
errors are logged by type and traceback only (SQL errors carry their parameters, which could
include an anonymous link). The request log line omits the user for `feedback*` callbacks.
"""

from __future__ import annotations

import json
import logging
import traceback
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App
from sqlmodel import select

from bot.render import feedback as render
from handlers.errors import OUR_FAULT, UserError
from handlers.router import CommandRequest
from storage import feedback as store
from storage.models import Meeting, Person, Team
from storage.people import load_actor
from storage.rules import feedback as rules
from storage.rules import visibility
from storage.rules.dates import parse_date
from storage.rules.roles import Actor, Role

if TYPE_CHECKING:
    from sqlmodel import Session

    from bot.services import Services
    from handlers import Wiring

log = logging.getLogger("plcbot.feedback")

NOT_A_MEMBER = "Only members of this team can give feedback on its meetings."
SAVE_FAILED = "Something went wrong on our side and your answer was not saved. Please send it again."
USAGE = "Use `/plc feedback` to give feedback, or `/plc feedback results [date]` (facilitators)."


def _log_failure(what: str, exc: BaseException) -> None:
    """Log a failure without the exception's message (it may hold SQL parameters)."""
    log.error("Failed to %s (%s)\n%s", what, type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)))


def link_key(services: Services) -> bytes:
    s = services.settings
    return store.link_key(s.secret_key, s.signing_secret, s.bot_token)


@dataclass(frozen=True)
class Form:
    """Everything needed to show or accept one person's feedback on one meeting."""

    meeting: Meeting
    team: Team
    person_id: int
    link: str
    closes_at: datetime

    @property
    def meeting_label(self) -> str:
        return render.meeting_label(self.meeting.title, self.meeting.starts_at, self.team.timezone)

    @property
    def closes_label(self) -> str:
        return render.day_label(self.closes_at, self.team.timezone)


def load_form(session: Session, services: Services, *, user_id: str, actor: Actor, meeting: Meeting | None,
              now: datetime) -> Form:
    """Check the person may answer now; raise UserError saying why not."""
    if meeting is None:
        raise UserError("No meeting of this team has started yet, so there is nothing to give feedback on.")
    team = session.get(Team, meeting.team_id)
    if team is None or team.archived_at is not None:
        raise UserError("This team is archived; its meetings no longer take feedback.")
    if team.id not in actor.member_of:
        raise UserError(NOT_A_MEMBER)
    label = render.meeting_label(meeting.title, meeting.starts_at, team.timezone)
    if meeting.status == "cancelled":
        raise UserError(f"The meeting of {label} was cancelled, so it takes no feedback.")
    if now < meeting.starts_at:
        raise UserError(f"Feedback on the meeting of {label} opens when it starts.")
    closes = store.window_closes(session, meeting, team)
    if now >= closes:
        raise UserError(
            f"The feedback window for the meeting of {label} closed on "
            f"{render.day_label(closes, team.timezone)}."
        )
    person = session.exec(select(Person).where(Person.slack_user_id == user_id)).first()
    if person is None or person.id is None:
        raise UserError(NOT_A_MEMBER)
    assert meeting.id is not None
    link = store.anonymous_link(link_key(services), meeting_id=meeting.id, user_id=user_id)
    return Form(meeting, team, person.id, link, closes)


def previous_values(answer: Any) -> dict[str, Any] | None:
    if answer is None:
        return None
    values: dict[str, Any] = {q.key: getattr(answer, q.key) for q in rules.QUESTIONS}
    values["anonymous"] = answer.anonymous
    return values


def build_modal(services: Services, *, user_id: str, meeting_id: int | None = None,
                team_id: int | None = None) -> dict[str, Any]:
    """The filled-in modal for this person, or UserError saying why they cannot answer."""
    now = services.clock.now()
    with services.db.read() as session:
        actor = load_actor(session, user_id, admins=services.settings.admins)
        if meeting_id is not None:
            meeting = session.get(Meeting, meeting_id)
            if meeting is None:
                raise UserError("That meeting no longer exists.")
        else:
            assert team_id is not None
            meeting = store.latest_started_meeting(session, team_id=team_id, now=now)
        form = load_form(session, services, user_id=user_id, actor=actor, meeting=meeting, now=now)
        assert form.meeting.id is not None
        previous = store.own_answer(session, meeting_id=form.meeting.id, person_id=form.person_id, link=form.link)
        return render.feedback_modal(meeting_id=form.meeting.id, meeting=form.meeting_label,
                                     closes=form.closes_label, previous=previous_values(previous))


# ---------------------------------------------------------------------------------- the form


def form_values(state: dict[str, Any]) -> tuple[dict[str, str | None], bool]:
    """(question key → raw value, anonymous?) from a view_submission's state.values."""
    values = state.get("values") or {}
    raw: dict[str, str | None] = {}
    for q in rules.QUESTIONS:
        entry = (values.get(q.key) or {}).get(render.VALUE) or {}
        if q.kind == "rating":
            option = entry.get("selected_option") or {}
            raw[q.key] = option.get("value")
        else:
            raw[q.key] = entry.get("value")
    chosen = ((values.get(render.ANONYMOUS_BLOCK) or {}).get(render.VALUE) or {}).get("selected_options") or []
    anonymous = any(o.get("value") == "yes" for o in chosen)
    return raw, anonymous


def _local_today(now: datetime, tz: str) -> Any:
    return now.astimezone(ZoneInfo(tz)).date()


def submit(services: Services, *, user_id: str, meeting_id: int, answer: rules.Answer) -> dict[str, Any]:
    """Store the answer (window and membership re-checked in the same transaction); the view to show."""
    now = services.clock.now()
    with services.db.session() as session:
        meeting = session.get(Meeting, meeting_id)
        actor = load_actor(session, user_id, admins=services.settings.admins)
        try:
            form = load_form(session, services, user_id=user_id, actor=actor, meeting=meeting, now=now)
        except UserError as exc:
            return render.notice_modal(f"{exc} Your answer was not saved.")
        store.save_answer(session, meeting=form.meeting, person_id=form.person_id, link=form.link,
                          answer=answer, today=_local_today(now, form.team.timezone))
        return render.thanks_modal(anonymous=answer.anonymous, closes=form.closes_label)


# ---------------------------------------------------------------------------------- results


def results(services: Services, request: CommandRequest, args: str) -> None:
    """`/plc feedback results [date]`: facilitators (and principals) only, ephemeral."""
    team = request.require_team()
    assert team.id is not None
    visibility.FEEDBACK_RESULTS.require(request.actor, team_id=team.id, school_id=team.school_id)
    now = services.clock.now()
    zone = ZoneInfo(team.timezone)
    with services.db.read() as session:
        if args:
            try:
                day = parse_date(args, today=now.astimezone(zone).date())
            except ValueError as exc:
                raise UserError(f"{exc} For example `/plc feedback results 2026-12-03`.") from None
            start = datetime.combine(day, time.min, tzinfo=zone)
            meeting = store.meeting_on(session, team_id=team.id, start=start, end=start + timedelta(days=1), now=now)
            if meeting is None:
                raise UserError(f"No meeting of this team took place on {day:%a %b} {day.day}.")
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
        min_group_size=services.settings.min_group_size,
        seed=f"meeting:{meeting.id}",
        show_names=visibility.shows_name(visibility.NAMED_FEEDBACK, visibility.FEEDBACK_RESULTS, request.actor,
                                         team_id=team.id, shares_names=team.share_names_with_principal),
    )
    text, blocks = render.results_blocks(
        meeting=render.meeting_label(meeting.title, meeting.starts_at, team.timezone), summary=summary
    )
    request.reply(text, blocks=blocks)


# ---------------------------------------------------------------------------------- wiring


def register(app: App, services: Services, wiring: Wiring) -> None:
    def run_feedback(request: CommandRequest, services: Services) -> None:
        """`/plc feedback`: open the form for the team's latest meeting; `results` for facilitators."""
        word, _, rest = request.args.partition(" ")
        if word.lower() == "results":
            results(services, request, rest.strip())
            return
        if word:
            raise UserError(USAGE)
        team = request.require_team()
        view = build_modal(services, user_id=request.user_id, team_id=team.id)
        request.client.views_open(trigger_id=request.trigger_id, view=view)

    def on_open(ack: Ack, body: dict[str, Any], client: Any, respond: Any) -> None:
        """The "Give feedback" button on the prompt and on agendas (value: the meeting id)."""
        ack()
        user_id = body["user"]["id"]
        try:
            try:
                meeting_id = int((body.get("actions") or [{}])[0].get("value", ""))
            except ValueError:
                raise UserError("That button no longer points to a meeting.") from None
            view = build_modal(services, user_id=user_id, meeting_id=meeting_id)
            client.views_open(trigger_id=body["trigger_id"], view=view)
        except UserError as exc:
            _tell(body, client, respond, user_id, str(exc))
        except Exception as exc:
            _log_failure("open the feedback form", exc)
            _tell(body, client, respond, user_id, OUR_FAULT)

    def on_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Validate inline, store one answer per person, then thank them."""
        user_id = body["user"]["id"]
        raw, anonymous = form_values(view.get("state") or {})
        answer, errors = rules.validate(raw, anonymous=anonymous)
        if answer is None:
            ack(response_action="errors", errors=errors)
            return
        try:
            meeting_id = int(json.loads(view.get("private_metadata") or "{}")["meeting_id"])
            result = submit(services, user_id=user_id, meeting_id=meeting_id, answer=answer)
        except Exception as exc:
            _log_failure("save feedback", exc)
            ack(response_action="errors", errors={rules.QUESTIONS[0].key: SAVE_FAILED})
            return
        ack(response_action="update", view=result)

    wiring.router.add(
        "feedback", run_feedback,
        summary="tell the team how the latest meeting went (anonymous if you like)",
        usage="/plc feedback",
    )
    wiring.router.detail("feedback", "/plc feedback results [DATE]",
                         "counts, averages and comments for a meeting", needs=Role.FACILITATOR)
    app.action(render.ACTION_OPEN)(on_open)
    app.view(render.CALLBACK_SUBMIT)(on_submit)


def _tell(body: dict[str, Any], client: Any, respond: Any, user_id: str, text: str) -> None:
    """An ephemeral note to the person who clicked, wherever the button was."""
    if body.get("response_url"):
        respond(text=text, response_type="ephemeral", replace_original=False)
        return
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    if channel:
        client.chat_postEphemeral(channel=channel, user=user_id, text=text)
    else:  # a button in the Home tab or a modal: a DM is the only place left
        client.chat_postMessage(channel=user_id, text=text)
