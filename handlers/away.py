"""`/plc away until DATE`, `/plc back`, and the same from the Home tab.

While someone is away they get no check-ins and no reminders, and summaries count them as
away rather than as not answering. A person acts only on themselves, so no role is needed
beyond being known to the bot.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App
from sqlmodel import select

from bot.render import cycles as render
from handlers.errors import UserError
from handlers.home import publish_home
from handlers.router import CommandRequest
from storage import cycles as store
from storage.models import Person
from storage.rules import cycles as rules
from storage.rules.dates import parse_date
from storage.rules.roles import Actor

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring

log = logging.getLogger("plcbot.away")

NOT_KNOWN = "You're not in a PLC team yet, so there are no check-ins to pause."


def person_today(services: Services, person: Person | None, fallback_tz: str | None = None) -> date:
    tz = (person.tz if person else None) or fallback_tz or services.settings.timezone
    try:
        zone = ZoneInfo(tz)
    except Exception:
        zone = ZoneInfo(services.settings.timezone)
    return services.clock.now().astimezone(zone).date()


def _person(services: Services, user_id: str) -> Person | None:
    with services.db.read() as session:
        return session.exec(select(Person).where(Person.slack_user_id == user_id)).first()


def set_away(services: Services, user_id: str, until: date | None, *, today: date) -> None:
    with services.db.session() as session:
        if store.set_away(session, user_id=user_id, from_day=today if until else None, until=until) is None:
            raise UserError(NOT_KNOWN)


def run_away(request: CommandRequest, services: Services) -> None:
    """`/plc away until DATE` (or `/plc away` to see it)."""
    person = _person(services, request.user_id)
    if person is None:
        raise UserError(NOT_KNOWN)
    today = person_today(services, person, request.team.timezone if request.team else None)
    args = request.args.strip()
    if not args:
        if rules.is_away(person.away_from, person.away_until, today) and person.away_until:
            request.reply(f":palm_tree: You're away through {person.away_until:%a %b %-d}. `/plc back` ends it.")
        else:
            request.reply("Use `/plc away until DATE` (like `until Friday` or `until 2026-12-18`): no check-ins "
                          "or reminders through that day.")
        return
    word, _, rest = args.partition(" ")
    if word.lower() != "until" or not rest.strip():
        raise UserError("Use `/plc away until DATE`, like `/plc away until Friday`.")
    try:
        until = parse_date(rest, today=today)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    problem = rules.validate_away(until, today=today)
    if problem:
        raise UserError(problem)
    set_away(services, request.user_id, until, today=today)
    request.reply(f":palm_tree: You're away through *{until:%a %b %-d}*: no check-ins or reminders until then, "
                  "and team summaries count you as away. `/plc back` ends it early.")


def run_back(request: CommandRequest, services: Services) -> None:
    """`/plc back`: end an away period now."""
    person = _person(services, request.user_id)
    if person is None:
        raise UserError(NOT_KNOWN)
    set_away(services, request.user_id, None, today=person_today(services, person))
    request.reply(":wave: Welcome back! Your check-ins resume with the next round.")


def home_section(services: Services, actor: Actor) -> list[dict[str, Any]]:
    """The Home tab's line: away until when, with "I'm back"; or "I'll be away…"."""
    if not actor.member_of:
        return []
    person = _person(services, actor.user_id)
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

    def on_back(ack: Ack, body: dict[str, Any]) -> None:
        """Home tab "I'm back"."""
        ack()
        user_id = body["user"]["id"]
        try:
            set_away(services, user_id, None, today=person_today(services, _person(services, user_id)))
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
        person = _person(services, user_id)
        today = person_today(services, person)
        try:
            until = date.fromisoformat(raw.get("selected_date") or "")
        except ValueError:
            ack(response_action="errors", errors={"until": "Pick the last day you'll be away."})
            return
        problem = NOT_KNOWN if person is None else rules.validate_away(until, today=today)
        if problem:
            ack(response_action="errors", errors={"until": problem})
            return
        ack()  # before the write: SQLite's write lock can be held past Slack's 3 s
        try:
            set_away(services, user_id, until, today=today)
        except Exception:
            log.exception("Failed to save an away period")
            return
        refresh_home(user_id)

    app.action(render.BACK_ACTION)(on_back)
    app.action(render.AWAY_ACTION)(on_open)
    app.view(render.AWAY_MODAL)(on_submit)
