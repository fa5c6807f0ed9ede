"""Commands typed to the bot on Teams: `@plcbot agenda` in a channel, `agenda` or `plc agenda` in a chat.

The subcommands, their arguments and their help are Slack's `/plc` ones: the help is built from
the very router Slack's features register into (`slack_router`), and each subcommand calls the
same core action (`handlers.core`) with the same argument parsing (`storage.rules.dates`). The
ones not on Teams yet answer so, honestly, with the list of what is.
"""

from __future__ import annotations

import html
import importlib
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from bot.teams import card_kit as ck
from bot.teams import cards
from bot.teams.app import Who, card_message, raw, remember_person, remember_place
from handlers.core import agenda as core_agenda
from handlers.core import checkins as core_checkins
from handlers.errors import OUR_FAULT, UserError
from storage import meetings as meeting_store
from storage.identities import team_for_place
from storage.models import Person, Team
from storage.models.identities import TEAMS
from storage.people import load_actor, team_for_channel
from storage.rules.agenda import RuleError
from storage.rules.dates import parse_date
from storage.rules.roles import Actor, Forbidden, Role

if TYPE_CHECKING:
    from bot.services import Services
    from bot.teams.app import TeamsFront
    from handlers.router import Router

log = logging.getLogger("plcbot.teams")

# In the order the Teams front gained them; the rest of Slack's `/plc` is "coming to Teams soon".
ON_TEAMS = ("help", "agenda", "away", "back")
_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)


class _Registrar:
    """Stands in for the Bolt app while Slack's features register: every listener decorator
    (`app.action(...)`, `app.view(...)`, `app.event(...)`…) takes its listener and drops it.
    What is kept is `wiring.router`: the `/plc` subcommands with their usage, summary and roles."""

    def __getattr__(self, name: str) -> Any:
        def factory(*args: Any, **kwargs: Any) -> Any:
            return lambda listener=None: listener

        return factory


@lru_cache(maxsize=1)
def slack_router() -> Router:
    """Slack's `/plc` router, registered from the same feature modules (no Bolt app, no token)."""
    from handlers.wiring import FEATURES, Wiring

    wiring = Wiring()
    for name in FEATURES:
        importlib.import_module(name).register(_Registrar(), None, wiring)
    return wiring.router


def command_text(activity: dict[str, Any]) -> str:
    """The command typed: the bot's @mention removed (by the activity's mention entities, then any
    `<at>…</at>` left), HTML entities decoded, and a leading `plc` or `/plc` dropped."""
    text = str(activity.get("text") or "")
    bot_id = (activity.get("recipient") or {}).get("id")
    for entity in activity.get("entities") or []:
        if entity.get("type") == "mention" and (entity.get("mentioned") or {}).get("id") == bot_id:
            mention = str(entity.get("text") or "")
            if mention:
                text = text.replace(mention, " ")
    text = _MENTION.sub(" ", text)
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    text = " ".join(text.split())
    word, _, rest = text.partition(" ")
    if word.lower() in ("plc", "/plc"):
        text = rest
    return text.strip()


def split_command(text: str) -> tuple[str, str]:
    text = (text or "").strip()
    if not text:
        return "help", ""
    word, _, rest = text.partition(" ")
    return word.lower(), rest.strip()


def teams_words(text: str) -> str:
    """Slack's wording of a command, as typed on Teams."""
    return text.replace("`/plc ", "`@plcbot ").replace("/plc ", "@plcbot ")


@dataclass
class Request:
    """One command typed on Teams: who, where, what, and their PLC roles."""

    who: Who
    person: Person
    actor: Actor
    team: Team | None
    word: str
    args: str

    @property
    def role(self) -> Role | None:
        if self.team is not None:
            return self.actor.role_in(team_id=self.team.id, school_id=self.team.school_id)
        return self.actor.highest

    def require_team(self) -> Team:
        if self.team is None:
            where = ("This chat is not a PLC team's place yet." if self.who.conversation_type != "personal"
                     else "Use this command in your team's channel: @plcbot " + self.word + ".")
            raise UserError(f"{where} A facilitator sets the team up with @plcbot setup in the team's channel.")
        return self.team


Reply = tuple[str, dict[str, Any] | None]  # (text, card or None)


def load_request(services: Services, who: Who, word: str, args: str) -> Request:
    person = remember_person(services, who)
    remember_place(services, who)
    with services.db.read() as session:
        actor = load_actor(session, person.slack_user_id, admins=services.settings.admins)
        team = None
        if who.conversation_type != "personal":
            team = team_for_place(session, TEAMS, who.tenant, who.conversation_id) \
                or team_for_channel(session, who.conversation_id)
        if team is not None:
            session.expunge(team)
    return Request(who, person, actor, team, word, args)


# ------------------------------------------------------------------------------ subcommands
def help_reply(request: Request, router: Router, *, unknown: str | None = None) -> Reply:
    lines = router.help_lines(request.role)
    body: list[dict[str, Any]] = []
    summary = ""
    if unknown is not None:
        shown = ck.md(ck.clip(unknown, 40))
        note = f"🤔 **{shown}** is not a plcbot command."
        suggestions = router.suggest(unknown)
        if suggestions:
            note += " Did you mean " + " or ".join(f"**{ck.md(s)}**" for s in suggestions) + "?"
        body.append(ck.text(note))
        summary = f"{unknown[:40]} is not a plcbot command. "
    body.append(ck.heading("What you can do with plcbot"))
    body.append(ck.subtle("In a channel type **@plcbot** and the command; in our chat just the command "
                          "(**plc** before it works too)."))
    rows = [(ck.md(line.usage.removeprefix("/plc ")), ck.md(line.summary)) for line in lines]
    for start in range(0, len(rows), 40):
        body.append(ck.facts(rows[start:start + 40]))
    names = sorted({line.usage.split(" ")[1] for line in lines if line.usage.startswith("/plc ")})
    later = [n for n in names if n not in ON_TEAMS]
    if later:
        body.append(ck.subtle("On Teams now: " + ", ".join(n for n in names if n in ON_TEAMS)
                              + ". Coming to Teams soon (use Slack for now): " + ", ".join(later) + "."))
    body.append(ck.subtle("Your dashboard: type **home** in our chat."))
    return summary + "plcbot commands: " + ", ".join(names), ck.card(body)


def agenda_reply(services: Services, request: Request) -> Reply:
    team = request.require_team()
    assert team.id is not None
    words = request.args.split()
    now = services.clock.now()
    if words and words[0].lower() == "template":
        try:
            with services.db.session() as session:
                shown = core_agenda.fill_from_template(session, request.actor, team_id=team.id,
                                                       name=" ".join(words[1:]), now=now)
        except RuleError as exc:
            raise UserError(str(exc)) from None
    elif words:
        raise UserError(f"I don't know agenda {words[0][:30]}. Use @plcbot agenda, or @plcbot agenda template NAME.")
    else:
        with services.db.session() as session:
            shown = core_agenda.post_agenda(session, request.actor, team_id=team.id, now=now)
    with services.db.read() as session:
        snap = meeting_store.agenda_snapshot(session, meeting_id=shown.meeting_id, now=now)
        names = _names(session)
    text, card = cards.agenda(snap, names)
    if not shown.post:
        card["body"].insert(0, ck.subtle("A preview: your facilitator posts the agenda."))
    return text, card


def _names(session: Any) -> Any:
    from sqlmodel import select

    known = {p.slack_user_id: p.name for p in session.exec(select(Person)).all() if p.name}
    return lambda pid: known.get(pid, pid)


def away_reply(services: Services, request: Request) -> Reply:
    person = request.person
    fallback_tz = request.team.timezone if request.team else None
    with services.db.read() as session:
        fresh = core_checkins.find_person(session, person.slack_user_id)
    today = core_checkins.person_today(services, fresh, fallback_tz)
    args = request.args.strip()
    if not args:
        from storage.rules import cycles as rules

        if fresh and rules.is_away(fresh.away_from, fresh.away_until, today) and fresh.away_until:
            return f"🌴 You're away through {fresh.away_until:%a %b %-d}. Type back to end it.", None
        return ("Use away until DATE (like until Friday or until 2026-12-18): no check-ins or reminders "
                "through that day."), None
    word, _, rest = args.partition(" ")
    if word.lower() != "until" or not rest.strip():
        raise UserError("Use away until DATE, like away until Friday.")
    try:
        until = parse_date(rest, today=today)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    core_checkins.away(services, request.actor, until=until, fallback_tz=fallback_tz)
    return (f"🌴 You're away through {until:%a %b %-d}: no check-ins or reminders until then, and team "
            "summaries count you as away. Type back to end it early."), None


def back_reply(services: Services, request: Request) -> Reply:
    core_checkins.back(services, request.actor)
    return "👋 Welcome back! Your check-ins resume with the next round.", None


def run_command(services: Services, who: Who, text: str) -> Reply:
    """Synchronous (in the front's thread pool): the answer to one typed command."""
    router = slack_router()
    word, args = split_command(text)
    try:
        request = load_request(services, who, word, args)
        sub = router.find(word)
        if sub is None:
            return help_reply(request, router, unknown=word)
        name = sub.name
        if name == "help":
            return help_reply(request, router)
        if name == "agenda":
            return agenda_reply(services, request)
        if name == "away":
            return away_reply(services, request)
        if name == "back":
            return back_reply(services, request)
        return (f"**{name}** is coming to Teams soon: use /plc {name} in Slack for now. On Teams today: "
                + ", ".join(ON_TEAMS) + "."), None
    except Forbidden as exc:
        return teams_words(f"⛔ {exc}"), None
    except UserError as exc:
        return teams_words(str(exc)), None
    except Exception:
        log.exception("Failed to handle the Teams command %s", word)
        return OUR_FAULT, None


async def handle(front: TeamsFront, ctx: Any) -> None:
    """A message to the bot: run the command in the pool, answer in the same conversation."""
    activity = raw(ctx.activity)
    if activity.get("value") is not None and not activity.get("text"):
        return  # a classic Action.Submit: the cards the bot sends use Action.Execute (invokes)
    who = Who.of(activity, front.settings.teams_tenant_id or "")
    if not who.user_id:
        return
    text, card = await front.run_sync(run_command, front.services, who, command_text(activity))
    await ctx.send(card_message(text, card) if card is not None else text)
