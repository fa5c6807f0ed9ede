"""`/plc away until DATE`, `/plc back`, and the same from the Home tab.

While someone is away they get no check-ins and no reminders, and summaries count them as
away rather than as not answering. A person acts only on themselves, so no role is needed
beyond being known to the bot.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App
from sqlmodel import Session

from bot.render import cycles as render
from handlers import forms
from handlers.core import checkins as core
from handlers.errors import UserError
from handlers.home import publish_home
from handlers.router import CommandRequest
from storage.models import Person
from storage.people import load_actor
from storage.rules import cycles as rules
from storage.rules.roles import Actor

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring

log = logging.getLogger("plcbot.away")

NOT_KNOWN = core.NOT_KNOWN
person_today = core.person_today


def _person(services: Services, user_id: str) -> Person | None:
    with services.db.read() as session:
        return core.find_person(session, user_id)


def run_away(request: CommandRequest, services: Services) -> None:
    """`/plc away until DATE` (or `/plc away` to see it)."""
    asked = core.away_command(services, request.actor, args=request.args,
                              fallback_tz=request.team.timezone if request.team else None,
                              code=lambda words: f"`/plc {words}`")
    if asked.until is None:
        if asked.current:
            request.reply(f":palm_tree: You're away through {asked.current:%a %b %-d}. `/plc back` ends it.")
        else:
            request.reply("Use `/plc away until DATE` (like `until Friday` or `until 2026-12-18`): no check-ins "
                          "or reminders through that day.")
        return
    request.reply(f":palm_tree: You're away through *{asked.until:%a %b %-d}*: no check-ins or reminders until "
                  "then, and team summaries count you as away. `/plc back` ends it early.")


def run_back(request: CommandRequest, services: Services) -> None:
    """`/plc back`: end an away period now."""
    core.back(services, request.actor)
    request.reply(":wave: Welcome back! Your check-ins resume with the next round.")


def home_section(services: Services, actor: Actor) -> list[dict[str, Any]]:
    """The Home tab's line: away until when, with "I'm back"; or "I'll be away…"."""
    if not actor.member_of:
        return []
    person = _person(services, actor.handle)
    today = person_today(services, person)
    until = person.away_until if person and rules.is_away(person.away_from, person.away_until, today) else None
    return render.away_home(away_until=until, today=today)


def register(app: App, services: Services, wiring: Wiring) -> None:
    def refresh_home(user_id: str) -> None:
        """The Home tab shows "I'm back" or "I'll be away…": keep it in step with a change."""
        try:
            publish_home(services, wiring.home, user_id)
        except Exception:
            log.exception("Failed to refresh the Home tab")

    def away_command(request: CommandRequest, services_: Services) -> None:
        run_away(request, services_)
        if request.args.strip():
            refresh_home(request.user_id)

    def back_command(request: CommandRequest, services_: Services) -> None:
        run_back(request, services_)
        refresh_home(request.user_id)

    wiring.router.add("away", away_command, summary="pause your check-ins and reminders while you're away",
                      usage="/plc away until DATE")
    wiring.router.add("back", back_command, summary="end your away time now", usage="/plc back")
    wiring.home.add("away", home_section)

    def actor_of(user_id: str) -> Actor:
        with services.db.read() as session:
            return load_actor(session, user_id, admins=services.settings.admins)

    def on_back(ack: Ack, body: dict[str, Any]) -> None:
        """Home tab "I'm back"."""
        ack()
        user_id = body["user"]["id"]
        try:
            core.back(services, actor_of(user_id))
        except UserError:
            return  # not in any team: the button is not shown to them
        except Exception:
            log.exception("Failed to end an away period")
            return
        refresh_home(user_id)

    def on_open(ack: Ack, body: dict[str, Any], client: Any) -> None:
        """Home tab "I'll be away…": a date picker."""
        ack()
        today = person_today(services, _person(services, body["user"]["id"]))
        client.views_open(trigger_id=body["trigger_id"], view=render.away_modal(today=today))

    def on_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Save the last day away (inline error for a past date; checked read-only, acked, then saved)."""
        user_id = body["user"]["id"]
        raw = (view.get("state") or {}).get("values", {}).get("until", {}).get("until", {})
        try:
            until = date.fromisoformat(raw.get("selected_date") or "")
        except ValueError:
            ack(response_action="errors", errors={"until": "Pick the last day you'll be away."})
            return

        def check(session: Session) -> core.AwayChecked:
            actor = load_actor(session, user_id, admins=services.settings.admins)
            return core.check_away(session, services, actor, until=until)

        def failed(checked: core.AwayChecked, exc: Exception) -> None:
            log.exception("Failed to save an away period", exc_info=exc)

        # Checked read-only, acknowledged, then written: SQLite's write lock can be held past Slack's 3 s.
        if forms.submit(ack, services, field="until", check=check, write=core.write_away, failed=failed,
                        unexpected="Failed to check an away period") is None:
            return
        refresh_home(user_id)

    app.action(render.BACK_ACTION)(on_back)
    app.action(render.AWAY_ACTION)(on_open)
    app.view(render.AWAY_MODAL)(on_submit)
