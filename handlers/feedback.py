"""Meeting feedback: `/plc feedback`, the "Give feedback" button, the modal and the results.

Anonymous answers must stay unlinkable, so nothing here logs a user id next to feedback, and
errors are logged by type and traceback only (SQL errors carry their parameters, which could
include an anonymous link). The request log line omits the user for `feedback*` callbacks.
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.render import feedback as render
from handlers.core import feedback as core
from handlers.core.feedback import link_key
from handlers.dm_reply import interaction_id, tell_by_dm
from handlers.errors import OUR_FAULT, UserError
from handlers.router import CommandRequest
from storage.people import load_actor
from storage.rules import feedback as rules
from storage.rules.roles import Role

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring

log = logging.getLogger("plcbot.feedback")

SAVE_FAILED = "Something went wrong on our side and your answer was not saved. Please send it again."
USAGE = "Use `/plc feedback` to give feedback, or `/plc feedback results [date]` (facilitators)."


def _log_failure(what: str, exc: BaseException) -> None:
    """Log a failure without the exception's message (it may hold SQL parameters)."""
    log.error("Failed to %s (%s)\n%s", what, type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)))


def build_modal(services: Services, *, user_id: str, meeting_id: int | None = None,
                team_id: int | None = None) -> dict[str, Any]:
    """The filled-in modal for this person, or UserError saying why they cannot answer."""
    now = services.clock.now()
    with services.db.read() as session:
        actor = load_actor(session, user_id, admins=services.settings.admins)
        form = core.feedback_form(session, actor=actor, key=link_key(services), now=now, meeting_id=meeting_id,
                                  team_id=team_id)
    return render.feedback_modal(meeting_id=form.meeting_id, meeting=form.meeting, closes=form.closes,
                                 previous=form.previous)


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


def submit(services: Services, *, user_id: str, meeting_id: int, answer: rules.Answer) -> dict[str, Any]:
    """Store the answer (window and membership re-checked in the same transaction); the view to show."""
    now = services.clock.now()
    with services.db.session() as session:
        actor = load_actor(session, user_id, admins=services.settings.admins)
        try:
            checked = core.check_feedback(session, actor=actor, meeting_id=meeting_id, answer=answer,
                                          key=link_key(services), now=now)
        except UserError as exc:
            return render.notice_modal(str(exc))
        core.write_feedback(session, checked)
        return render.thanks_modal(anonymous=checked.saved.anonymous, closes=checked.saved.closes)


# ---------------------------------------------------------------------------------- results


def results(services: Services, request: CommandRequest, args: str) -> None:
    """`/plc feedback results [date]`: facilitators (and principals) only, ephemeral."""
    team = request.require_team()
    with services.db.read() as session:
        shown = core.feedback_results(session, actor=request.actor, team=team, day=args, now=services.clock.now(),
                                      min_group_size=services.settings.min_group_size)
    text, blocks = render.results_blocks(meeting=shown.meeting, summary=shown.summary)
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
            _tell(services, body, client, respond, user_id, str(exc))
        except Exception as exc:
            _log_failure("open the feedback form", exc)
            _tell(services, body, client, respond, user_id, OUR_FAULT)

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


def _tell(services: Services, body: dict[str, Any], client: Any, respond: Any, user_id: str, text: str) -> None:
    """An ephemeral note to the person who clicked, wherever the button was."""
    if body.get("response_url"):
        respond(text=text, response_type="ephemeral", replace_original=False)
        return
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    if channel:
        client.chat_postEphemeral(channel=channel, user=user_id, text=text)
    else:  # a button in the Home tab or a modal: a DM is the only place left, sent once per click
        tell_by_dm(services, user_id, interaction_id(body), text)
