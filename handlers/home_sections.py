"""The Home tab dashboard: each person's teams, check-ins, meetings and cycles, by role.

The section reads everything in a fixed number of queries (`storage.home.dashboard`) and
renders it with `bot.render.home`. The buttons on it do what the `/plc` commands do, through
the same subcommand functions (found in the router, so each feature keeps its own rules and
role checks); their answer becomes a note on top of the refreshed tab, since a Home tab has
no channel to answer in. Two things have no command to reuse and live here:
"Send this week's check-in now" (runs the week's scheduled round at once) and the check-in
buttons when clicked on the Home tab (stored by the check-in feature, then the tab refreshed).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App

from bot.render import home as render
from bot.render.cycles import DETAILS_MODAL
from bot.render.mrkdwn import escape
from handlers import checkins as checkin_handlers
from handlers.errors import OUR_FAULT, UserError
from handlers.home import HomeBoard, publish_home
from handlers.router import CommandRequest
from scheduling import checkins as planner
from scheduling import keys, runner
from scheduling import registry as scheduling_registry
from storage import checkins as checkin_store
from storage import cycles as cycle_store
from storage import home as store
from storage import jobs
from storage.models import Team
from storage.people import load_actor
from storage.rules import cycles as rules
from storage.rules.roles import Action, Actor, Forbidden, require

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
    """Run this week's check-in round now (facilitators); the answer shown on the Home tab.

    The round is the same scheduled row the planner made for the week, so the usual send path
    runs (ledger, away teachers skipped, school hours respected) and the round still happens
    once: its later due time finds it done.
    """
    now = services.clock.now()
    with services.db.read() as session:
        team = session.get(Team, team_id)
        if team is None or team.archived_at is not None:
            raise UserError("That team no longer exists.")
        require(actor, Action.SEND_CHECKIN, team_id=team.id, school_id=team.school_id)
        cycle = cycle_store.active_cycle(session, team_id=team_id)
        breaks = cycle_store.break_rules(cycle_store.breaks(session, school_id=team.school_id))
    name = escape(team.name)
    if cycle is None or cycle.id is None:
        raise UserError(f"*{name}* has no learning cycle running, so there is no check-in to send. "
                        "Start one with *Start a cycle*.")
    if cycle.status == "paused":
        raise UserError(f"*{name}*'s cycle is paused, so no check-in goes out. Resume it with `/plc cycle resume`.")
    today = now.astimezone(ZoneInfo(team.timezone)).date()
    week = rules.cycle_week(cycle.start_date, cycle.weeks, today)
    if week is None:
        if today < cycle.start_date:
            raise UserError(f"The cycle starts on {cycle.start_date:%a %b} {cycle.start_date.day}; "
                            "its first check-in can go out from then.")
        raise UserError("The cycle has run all its weeks; there is no check-in left to send.")
    on_break = rules.break_on(breaks, today)
    if on_break is not None:
        raise UserError(f"Today is in a school break ({escape(on_break.label) or 'no label'}): no check-ins.")
    with services.db.read() as session:
        existing = checkin_store.get_round(session, cycle_id=cycle.id, week=week)
    if existing is not None:
        if existing.state == "skipped":
            raise UserError(f"Week {week}'s check-in was skipped ({escape(existing.skip_reason or 'paused')}).")
        return _sent_note(services, cycle.id, week, already=True)
    planner.plan_cycle(services, cycle.id, now=now)  # makes sure the week's row exists
    key = keys.checkin_round_job(cycle.id, week)
    with services.db.session() as session:
        job = jobs.schedule(session, kind="checkin_round", dedupe_key=key, due_at=now, team_id=team.id,
                            ref_id=cycle.id)
        job_id = job.id
    assert job_id is not None
    state = runner.run_now(services, registry, job_id)
    if state == "busy-or-finished":
        return f":hourglass_flowing_sand: Week {week}'s check-in for *{name}* is going out right now."
    if state == "pending":
        return (f":crescent_moon: School is closed right now, so week {week}'s check-in for *{name}* "
                "goes out when school opens.")
    if state != "done":
        raise RuntimeError(f"check-in round ended {state}")
    return _sent_note(services, cycle.id, week, already=False)


def _sent_note(services: Services, cycle_id: int, week: int, *, already: bool) -> str:
    with services.db.read() as session:
        round_ = checkin_store.get_round(session, cycle_id=cycle_id, week=week)
        checkins = checkin_store.round_checkins(session, round_id=round_.id or 0) if round_ else []
    summary = cycle_store.summarize(round_, checkins) if round_ else None
    if summary is None:
        return f"Week {week}'s check-in is on its way."
    away = f" ({summary.away} away, not asked)" if summary.away else ""
    if already:
        return (f"Week {week}'s check-in went out already: {summary.answered} of {summary.asked} "
                f"answered so far{away}.")
    return f":incoming_envelope: Sent week {week}'s check-in to {summary.asked} teacher(s){away}."


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
