"""Action items: `/plc action @owner what by DATE`, `/plc actions`, the "Done" button, the Home list."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App, Respond
from sqlmodel import select

from bot.render import agenda as render
from bot.render.mrkdwn import escape
from bot.slack_text import parse_action
from handlers.agenda import button_id
from handlers.core import action_items as core
from handlers.errors import OUR_FAULT, UserError
from handlers.home import publish_home
from handlers.router import CommandRequest
from scheduling import keys
from scheduling.meetings import refresh_agenda, send_action_dm
from storage import actions as store
from storage import meetings as meeting_store
from storage.models import Person
from storage.people import load_actor
from storage.rules.agenda import ActionView, RuleError, carry_over, day_label
from storage.rules.roles import Action, Actor, Forbidden, require
from storage.views.meeting_actions import ActionAssigned

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring

log = logging.getLogger("plcbot.actions")


def notify_owner(services: Services, action_id: int, *, assigned_by: str) -> None:
    """DM the owner of a new action item (once: the ledger key is the item)."""
    with services.db.read() as session:
        ctx = store.load(session, action_id=action_id)
    if ctx is None:
        return
    view = ActionView(action_id, ctx.owner.handle, ctx.item.text, ctx.item.due_date, ctx.item.status,
                      ctx.team.name)
    text, blocks = render.action_assigned_dm(view, assigned_by=assigned_by)
    send_action_dm(services, view, key=keys.action_assigned(action_id), text=text, blocks=blocks)


def refresh_posted_agenda(services: Services, meeting_id: int | None) -> None:
    """Open action items carry over onto the next agenda: keep a posted one current."""
    if meeting_id is not None:
        refresh_agenda(services, meeting_id)


def on_action(request: CommandRequest, services: Services) -> None:
    """Assign an action item to a team member, who gets a direct message."""
    team = request.require_team()
    assert team.id is not None
    require(request.actor, Action.ASSIGN_ACTION, team_id=team.id, school_id=team.school_id)
    now = services.clock.now()
    today = now.astimezone(ZoneInfo(team.timezone)).date()
    try:
        wanted = parse_action(request.args, today=today)
        with services.db.session() as session:
            added = core.add_action_item(session, request.actor, team_id=team.id, owner=wanted.owner,
                                         text=wanted.text, due=wanted.due, now=now)
    except RuleError as exc:
        raise UserError(escape(str(exc))) from None
    due = f", due {day_label(added.due)}" if added.due else ""
    request.reply(f":pushpin: Action item for <@{added.owner}>{due}: {escape(added.text)}. "
                  "I've sent them a direct message.")
    for notice in added.notices:
        if isinstance(notice.view, ActionAssigned):
            notify_owner(services, notice.view.action_id, assigned_by=notice.view.assigned_by)
    refresh_posted_agenda(services, added.agenda_meeting_id)


def on_actions(request: CommandRequest, services: Services) -> None:
    """The team's open action items (in a team channel), or your own anywhere else."""
    if request.team is None:
        with services.db.read() as session:
            person = session.exec(select(Person).where(Person.handle == request.user_id)).first()
            mine = meeting_store.action_views(session, owner_id=person.id) if person and person.id else []
        text, blocks = render.actions_list(carry_over(mine, now=services.clock.now()), team_name="You")
        request.reply(text, blocks=blocks)
        return
    team = request.team
    assert team.id is not None
    if request.actor.role_in(team_id=team.id, school_id=team.school_id) is None:
        raise UserError("Only members of this team (and its school's leaders) can see its action items.")
    today = services.clock.now().astimezone(ZoneInfo(team.timezone)).date()
    with services.db.read() as session:
        views = meeting_store.action_views(session, team_id=team.id)
    text, blocks = render.actions_list(carry_over(views, today=today), team_name=team.name)
    request.reply(text, blocks=blocks)


def register(app: App, services: Services, wiring: Wiring) -> None:
    wiring.router.add("action", on_action, summary="assign an action item to a team member",
                      usage="/plc action @owner what by DATE")
    wiring.router.add("actions", on_actions, summary="open action items", usage="/plc actions")

    def home_section(services_: Services, actor: Actor) -> list[dict[str, Any]]:
        with services_.db.read() as session:
            person = session.exec(select(Person).where(Person.handle == actor.handle)).first()
            mine = meeting_store.action_views(session, owner_id=person.id) if person and person.id else []
        return render.home_actions_section(carry_over(mine, now=services_.clock.now()))

    wiring.home.add("actions", home_section)

    def on_done(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        """Close an action item (its owner or a facilitator); a second click changes nothing."""
        ack()
        user_id = body["user"]["id"]
        try:
            action_id = button_id(body)
            now = services.clock.now()
            with services.db.session() as session:
                done = core.mark_done(session, load_actor(session, user_id, admins=services.settings.admins),
                                      action_id=action_id, now=now)
            view = ActionView(action_id, done.owner, done.text, done.due, "done", done.team_name)
            container = body.get("container") or {}
            if container.get("type") == "view":  # the Home tab
                publish_home(services, wiring.home, user_id)
            elif container.get("is_ephemeral"):  # a `/plc actions` list: show what is left
                with services.db.read() as session:
                    left = meeting_store.action_views(session, team_id=done.team_id)
                text, blocks = render.actions_list(carry_over(left, now=now), team_name=done.team_name)
                respond(text=text, blocks=blocks, replace_original=True)
            else:
                text, blocks = render.action_done_blocks(view, by=user_id)
                respond(text=text, blocks=blocks, replace_original=True)
            if done.closed:
                refresh_posted_agenda(services, done.agenda_meeting_id)
        except UserError as exc:
            respond(text=str(exc), response_type="ephemeral", replace_original=False)
        except Forbidden as exc:
            respond(text=str(exc), response_type="ephemeral", replace_original=False)
        except Exception:
            log.exception("Failed to close an action item")
            respond(text=OUR_FAULT, response_type="ephemeral", replace_original=False)

    app.action("action_done")(on_done)
