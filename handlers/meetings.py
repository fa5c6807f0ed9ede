"""`/plc meeting add|cancel|list` and the wrap-up (`/plc wrapup`, the agenda's "Wrap up" button)."""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App, Respond
from sqlmodel import Session

from bot.render import agenda as render
from bot.render.mrkdwn import escape
from handlers import forms
from handlers.actions import notify_owner
from handlers.agenda import button_id, meta_id
from handlers.core import meetings as core
from handlers.errors import OUR_FAULT, UserError
from handlers.router import CommandRequest
from scheduling import keys
from scheduling.delivery import deliver
from scheduling.meetings import refresh_agenda
from storage import meetings as store
from storage.models import Meeting, Team
from storage.people import load_actor
from storage.rules.agenda import (
    MEETING_USAGE,
    ItemView,
    RuleError,
    local_label,
    parse_meeting_add,
    parse_meeting_cancel,
)
from storage.rules.roles import Action, Forbidden, require
from storage.teams import active_members
from storage.views.meeting_actions import ActionAssigned, MeetingLogDue

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring

log = logging.getLogger("plcbot.meetings")
USAGE = (f"{MEETING_USAGE}; `/plc meeting cancel [DATE]` cancels the next meeting (or the one on that date); "
         "`/plc meeting list` shows what is coming.")


def on_meeting(request: CommandRequest, services: Services) -> None:
    """Add a one-off meeting, cancel one, or list the upcoming ones."""
    team = request.require_team()
    assert team.id is not None
    word, _, rest = request.args.partition(" ")
    word = word.lower()
    now = services.clock.now()
    zone = ZoneInfo(team.timezone)
    today = now.astimezone(zone).date()
    if word in ("", "list"):
        with services.db.session() as session:
            rows = core.upcoming_meetings(session, team=team, now=now)
        if not rows:
            request.reply(f"No meetings are planned. {USAGE}")
            return
        lines = [f"• {m.when} · {m.detail(escape)}" for m in rows]
        said = "; ".join(line.removeprefix("• ") for line in lines)
        request.reply(f"Upcoming meetings: {said}"[:2000],
                      blocks=render.chunk("*Upcoming meetings*", lines, max_blocks=3))
        return
    require(request.actor, Action.MANAGE_MEETINGS, team_id=team.id, school_id=team.school_id)
    if word == "add":
        try:
            wanted = parse_meeting_add(rest, today=today)
            with services.db.session() as session:
                added = core.add_meeting(session, request.actor, team_id=team.id, day=wanted.day, at=wanted.at,
                                         minutes=wanted.minutes, now=now)
        except RuleError as exc:
            raise UserError(escape(str(exc))) from None
        if added.refresh_agenda:  # a cancelled meeting came back: its agenda says so
            refresh_agenda(services, added.meeting_id)
        request.reply(f":calendar: {added.reply}")
        return
    if word == "cancel":
        try:
            day = parse_meeting_cancel(rest, today=today)
            with services.db.session() as session:
                cancelled = core.cancel_meeting(session, request.actor, team_id=team.id, day=day, now=now)
        except (RuleError, core.SkippedForBreak) as exc:  # a break's words are as the principal typed them
            raise UserError(escape(str(exc))) from None
        refresh_agenda(services, cancelled.meeting_id)
        request.reply(cancelled.reply)
        return
    raise UserError(f"I don't know `/plc meeting {word[:20]}`. {USAGE}")


def wrapup_view(services: Services, meeting: Meeting, team: Team) -> dict[str, Any]:
    assert meeting.id is not None and team.id is not None
    with services.db.read() as session:
        members = [p.handle for p in active_members(session, team_id=team.id)]
        rows = store.items(session, meeting_id=meeting.id)
    items = [ItemView(i.id or 0, i.title, i.minutes) for i in rows]
    return render.wrapup_modal(meeting_id=meeting.id, when=local_label(meeting.starts_at, team.timezone),
                               members=members, items=items)


def on_wrapup(request: CommandRequest, services: Services) -> None:
    """Open the wrap-up modal for the meeting that has started and is not wrapped up."""
    team = request.require_team()
    assert team.id is not None
    with services.db.read() as session:
        meeting = core.meeting_to_wrap_up(session, request.actor, team_id=team.id, now=services.clock.now())
    request.client.views_open(trigger_id=request.trigger_id, view=wrapup_view(services, meeting, team))


def read_wrapup(view: dict[str, Any], *, today: date | None = None
                ) -> tuple[list[str], dict[int, str], str, list[store.NewAction], dict[str, str]]:
    """The modal's values, and inline errors for action rows that are half filled or badly dated
    (the reading is the core's, `handlers.core.meetings.read_wrapup`, which Teams' dialog uses too).

    `today` is the team's local date: a due date before it is refused, as `/plc action` does.
    """
    form = _read(view, today=today)
    actions = [store.NewAction(a.owner, a.text, a.due, field=a.field) for a in form.actions]
    return form.present, form.notes, form.decisions, actions, form.errors


def _read(view: dict[str, Any], *, today: date | None = None) -> core.WrapupForm:
    values = view.get("state", {}).get("values", {})

    def get(block: str, key: str = "value") -> Any:
        return ((values.get(block) or {}).get("value") or {}).get(key)

    notes = {int(block[1:]): get(block) or "" for block in values if block.startswith("n") and block[1:].isdigit()}
    rows = [(f"a{k}", get(f"a{k}_owner", "selected_user"), get(f"a{k}_text") or "", get(f"a{k}_due", "selected_date"))
            for k in range(1, render.WRAPUP_ACTION_ROWS + 1)]
    return core.read_wrapup(present=list(get("present", "selected_users") or []), notes=notes,
                            decisions=get("decisions") or "", rows=rows, today=today)


def wrapup_form(view: dict[str, Any]) -> core.WrapupForm:
    """The wrap-up modal as the core's plain form (a past due date is the core's to refuse)."""
    return _read(view)


def register(app: App, services: Services, wiring: Wiring) -> None:
    wiring.router.add("meeting", on_meeting, summary="add, cancel or list meetings",
                      usage="/plc meeting add DATE TIME [minutes] | cancel [DATE] | list")
    wiring.router.add("wrapup", on_wrapup, summary="wrap up the meeting: attendance, notes, action items",
                      usage="/plc wrapup", aliases=("wrap-up",))

    def on_wrapup_click(ack: Ack, body: dict[str, Any], respond: Respond, client: Any) -> None:
        """The agenda's "Wrap up" button."""
        ack()
        user_id = body["user"]["id"]
        try:
            with services.db.read() as session:
                actor = load_actor(session, user_id, admins=services.settings.admins)
                meeting, team = core.open_wrapup(session, actor, meeting_id=button_id(body), now=services.clock.now())
            client.views_open(trigger_id=body["trigger_id"], view=wrapup_view(services, meeting, team))
        except (UserError, Forbidden) as exc:
            respond(text=str(exc), response_type="ephemeral", replace_original=False)
        except Exception:
            log.exception("Failed to open the wrap-up")
            respond(text=OUR_FAULT, response_type="ephemeral", replace_original=False)

    def on_wrapup_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Store attendance, notes and action items; post the log under the agenda; DM the owners."""
        user_id = body["user"]["id"]
        meeting_id = meta_id(view, "meeting_id")
        now = services.clock.now()

        def check(session: Session) -> core.WrapupChecked:
            actor = load_actor(session, user_id, admins=services.settings.admins)
            try:
                return core.check_wrapup(session, actor, meeting_id=meeting_id, form=wrapup_form(view), now=now)
            except core.FormErrors as exc:
                raise forms.Invalid(exc.errors) from None

        def write(session: Session, checked: core.WrapupChecked) -> core.WrapupResult:
            actor = load_actor(session, user_id, admins=services.settings.admins)
            return core.write_wrapup(session, actor, checked, now=now)

        def failed(checked: core.WrapupChecked, exc: Exception) -> None:
            refused = isinstance(exc, (RuleError, Forbidden))
            if not refused:
                log.exception("Failed to store the wrap-up of meeting %s", meeting_id, exc_info=exc)
            try:
                services.slack.chat_postEphemeral(channel=checked.place, user=user_id,
                                                  text=f"The wrap-up was not saved: {exc if refused else OUR_FAULT}")
            except Exception:
                log.exception("Failed to tell %s the wrap-up was not saved", user_id)

        saved = forms.submit(ack, services, field="present", check=check, write=write, failed=failed)
        if saved is None:
            return
        _, result = saved
        if result.created is None:  # wrapped up already (a double submit): one log, nothing more
            return
        try:
            for notice in result.notices:  # the log first, then each new owner
                if isinstance(notice.view, MeetingLogDue):
                    post_log(services, notice.view.meeting_id)
                elif isinstance(notice.view, ActionAssigned):
                    notify_owner(services, notice.view.action_id, assigned_by=notice.view.assigned_by)
            refresh_agenda(services, meeting_id)
        except Exception:
            log.exception("Failed to post the log of meeting %s", meeting_id)

    app.action("agenda_wrapup")(on_wrapup_click)
    app.view("meeting_wrapup")(on_wrapup_submit)


def post_log(services: Services, meeting_id: int) -> None:
    """The meeting log, in the thread under the agenda (or in the channel when none was posted)."""
    with services.db.read() as session:
        meeting = session.get(Meeting, meeting_id)
        assert meeting is not None
        team = session.get(Team, meeting.team_id)
        assert team is not None
        log_data = store.meeting_log(session, meeting_id=meeting_id)
    text, blocks = render.meeting_log_message(log_data)
    deliver(services, key=keys.meeting_log(meeting_id), kind="meeting_log",
            recipient=meeting.agenda_channel_id or team.channel_id, text=text, blocks=blocks,
            thread_ts=meeting.agenda_ts, payload={"meeting_id": meeting_id})
