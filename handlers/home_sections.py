"""The Home tab dashboard: each person's teams, check-ins, meetings and cycles, by role.

The section reads everything in a fixed number of queries (`storage.home.dashboard`) and
renders it with `bot.render.home`. The buttons on it do what the `/plc` commands do, through
the same subcommand functions (found in the router, so each feature keeps its own rules and
role checks); their answer becomes a note on top of the refreshed tab, since a Home tab has
no channel to answer in. Two things have no command to reuse and are wired here:
"Send this week's check-in now" (the action `handlers.core.checkins.send_now` runs the week's
scheduled round at once; its note is worded here) and the check-in buttons when clicked on the
Home tab (stored by the check-in feature, then the tab refreshed).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.render import home as render
from bot.render.cycles import DETAILS_MODAL
from bot.render.mrkdwn import escape
from handlers import checkins as checkin_handlers
from handlers.core import checkins as checkin_actions
from handlers.errors import OUR_FAULT, UserError
from handlers.home import HomeBoard, publish_home
from handlers.router import CommandRequest
from scheduling import registry as scheduling_registry
from storage import home as store
from storage.models import Team
from storage.people import load_actor
from storage.rules.roles import Actor, Forbidden

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring
    from scheduling.registry import Registry

log = logging.getLogger("plcbot.home")

SAVED = {"checkin_on_track": "On track", "checkin_some_progress": "Some progress",
         "checkin_stuck": "Stuck, I'd like support"}


def dashboard_section(services: Services, actor: Actor) -> list[dict[str, Any]]:
    """The dashboard for this person's roles (empty for someone in no team: the welcome shows)."""
    with services.db.read() as session:
        data = store.dashboard(session, actor=actor, now=services.clock.now(),
                               min_group_size=services.settings.min_group_size)
    return render.dashboard_blocks(data)


# ---------------------------------------------------------------------------- commands from Home
class Captured:
    """Stands in for `respond` when a `/plc` subcommand runs from a Home button."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.blocks: list[dict[str, Any]] | None = None

    def __call__(self, text: str | None = None, blocks: list[dict[str, Any]] | None = None, **_: Any) -> None:
        if text:
            self.texts.append(text)
        if blocks:
            self.blocks = blocks

    @property
    def text(self) -> str:
        return "\n".join(self.texts)


def run_subcommand(services: Services, wiring: Wiring, body: dict[str, Any], client: Any, *, name: str,
                   args: str = "", team_id: int | None = None) -> Captured:
    """Run `/plc NAME ARGS` as the person who clicked, in their team's channel; capture the answer."""
    user_id = body["user"]["id"]
    captured = Captured()
    with services.db.read() as session:
        actor = load_actor(session, user_id, admins=services.settings.admins)
        team = session.get(Team, team_id) if team_id is not None else None
    if team_id is not None and (team is None or team.archived_at is not None):
        raise UserError("That team no longer exists.")
    sub = wiring.router.find(name)
    if sub is None:
        raise UserError(f"`/plc {name}` is not available on this server yet.")
    request = CommandRequest(user_id, team.channel_id if team else "", name, args, body.get("trigger_id", ""),
                             actor, team, captured, client, body)
    sub.run(request, services)
    return captured


def _notice_for(exc: Exception) -> str:
    if isinstance(exc, Forbidden):
        return f":no_entry: {exc}"
    if isinstance(exc, UserError):
        return str(exc)
    return OUR_FAULT


def _team_value(body: dict[str, Any]) -> int:
    value = str(body["actions"][0].get("value") or "")
    if not value.isdigit():
        raise UserError("That button no longer points to a team.")
    return int(value)


# ---------------------------------------------------------------------------- send the check-in now
def send_checkin_now(services: Services, registry: Registry, actor: Actor, team_id: int) -> str:
    """Run this week's check-in round now (`handlers.core.checkins.send_now`); the answer shown on
    the Home tab."""
    return sent_note(checkin_actions.send_now(services, registry, actor, team_id=team_id))


def sent_note(result: checkin_actions.SendNowResult) -> str:
    """What "send this week's check-in now" did, as the Home tab's note says it."""
    week, name = result.week, escape(result.team_name)
    away = f" ({result.away} away, not asked)" if result.away else ""
    if result.outcome == "sending":
        return f":hourglass_flowing_sand: Week {week}'s check-in for *{name}* is going out right now."
    if result.outcome == "held":
        return (f":crescent_moon: School is closed right now, so week {week}'s check-in for *{name}* "
                "goes out when school opens.")
    if result.outcome == "already":
        return (f"Week {week}'s check-in went out already: {result.answered} of {result.asked} "
                f"answered so far{away}.")
    if result.outcome == "sent":
        return f":incoming_envelope: Sent week {week}'s check-in to {result.asked} teacher(s){away}."
    return f"Week {week}'s check-in is on its way."


# ---------------------------------------------------------------------------- wiring
def register(app: App, services: Services, wiring: Wiring) -> None:
    board: HomeBoard = wiring.home
    registry = scheduling_registry.load()
    wiring.home.add("dashboard", dashboard_section)

    def refresh(user_id: str, notice: str | None = None) -> None:
        try:
            publish_home(services, board, user_id, notice=notice)
        except Exception:
            log.exception("Failed to refresh the Home tab")

    def on_command_button(name: str, args: str) -> Any:
        def listener(ack: Ack, body: dict[str, Any], client: Any) -> None:
            """A Home button that runs a `/plc` subcommand for the team on the button."""
            ack()
            user_id = body["user"]["id"]
            try:
                captured = run_subcommand(services, wiring, body, client, name=name, args=args,
                                          team_id=_team_value(body))
                notice = captured.text or None
            except Exception as exc:
                if not isinstance(exc, UserError | Forbidden):
                    log.exception("Failed to run /plc %s from the Home tab", name)
                notice = _notice_for(exc)
            refresh(user_id, notice)

        listener.__name__ = f"home_{name}_{args or 'show'}"
        return listener

    def on_view_cycle(ack: Ack, body: dict[str, Any], client: Any) -> None:
        """"View the cycle": `/plc cycle` in a modal (members and facilitators)."""
        ack()
        user_id = body["user"]["id"]
        try:
            captured = run_subcommand(services, wiring, body, client, name="cycle", team_id=_team_value(body))
            if captured.blocks:
                client.views_open(trigger_id=body["trigger_id"],
                                  view=render.cycle_modal_view("Learning cycle", captured.blocks))
                return
            notice = captured.text or None
        except Exception as exc:
            if not isinstance(exc, UserError | Forbidden):
                log.exception("Failed to show the cycle from the Home tab")
            notice = _notice_for(exc)
        refresh(user_id, notice)

    def on_send_checkin(ack: Ack, body: dict[str, Any]) -> None:
        """"Send this week's check-in now" (facilitators)."""
        ack()
        user_id = body["user"]["id"]
        try:
            with services.db.read() as session:
                actor = load_actor(session, user_id, admins=services.settings.admins)
            notice = send_checkin_now(services, registry, actor, _team_value(body))
        except Exception as exc:
            if not isinstance(exc, UserError | Forbidden):
                log.exception("Failed to send the check-in from the Home tab")
            notice = _notice_for(exc)
        refresh(user_id, notice)

    def on_digest_now(ack: Ack, body: dict[str, Any], client: Any) -> None:
        """"Send me the digest now" (principals; facilitators get their teams' part)."""
        ack()
        user_id = body["user"]["id"]
        try:
            captured = run_subcommand(services, wiring, body, client, name="digest")
            notice = captured.text or None
        except Exception as exc:
            if not isinstance(exc, UserError | Forbidden):
                log.exception("Failed to send the digest from the Home tab")
            notice = _notice_for(exc)
        refresh(user_id, notice)

    # ------------------------------------------------------------------ check-ins answered on Home
    def from_home(body: dict[str, Any]) -> bool:
        container = body.get("container") or {}
        return container.get("type") == "view" and (body.get("view") or {}).get("type") == "home"

    def details_from_home(body: dict[str, Any]) -> bool:
        try:
            meta = json.loads((body.get("view") or {}).get("private_metadata") or "{}")
        except ValueError:
            return False
        return isinstance(meta, dict) and bool(meta.get("checkin_id")) and not meta.get("ts")

    def on_home_answer(ack: Ack, body: dict[str, Any]) -> None:
        """A check-in button clicked on the Home tab: stored by the check-in feature, then the tab refreshed."""
        said = Captured()
        checkin_handlers.on_answer(ack, body, said, services)
        label = SAVED.get(body["actions"][0].get("action_id", ""), "your answer")
        refresh(body["user"]["id"], said.text or f":white_check_mark: Saved: *{label}*. You can change it or add "
                                                 "details from the check-in in your direct messages.")

    def on_home_details(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The details form opened from the Home tab: stored by the check-in feature, then the tab refreshed."""
        checkin_handlers.on_details_submit(ack, body, view, services)
        refresh(body["user"]["id"])

    app.action(checkin_handlers.ANSWER_PATTERN, matchers=[from_home])(on_home_answer)
    app.view(DETAILS_MODAL, matchers=[details_from_home])(on_home_details)
    app.action(render.POST_AGENDA_ACTION)(on_command_button("agenda", ""))
    app.action(render.START_CYCLE_ACTION)(on_command_button("cycle", "start"))
    app.action(render.VIEW_CYCLE_ACTION)(on_view_cycle)
    app.action(render.SEND_CHECKIN_ACTION)(on_send_checkin)
    app.action(render.DIGEST_NOW_ACTION)(on_digest_now)
