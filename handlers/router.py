"""`/plc`: one slash command, many subcommands, each owned by a feature module.

The listener acknowledges at once (Slack allows 3 seconds), then finds the subcommand and
runs it. Refusals and bad input come back as ephemeral replies; anything unexpected is
logged with its traceback and the user gets a short apology, never a stack trace.
"""

from __future__ import annotations

import difflib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from slack_bolt import Ack, App, Respond

from handlers.errors import OUR_FAULT, UserError
from storage.models import Team
from storage.people import load_actor, team_for_channel
from storage.rules.roles import RANK, Actor, Forbidden, Role

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger("plcbot.router")


class Responder(Protocol):
    """Where a command's answer goes: Bolt's `respond`, or a stand-in that captures it (a
    subcommand run from a Home button, `handlers.home_sections.Captured`)."""

    def __call__(self, *, text: str, blocks: list[dict[str, Any]] | None, response_type: str,
                 replace_original: bool) -> object: ...


@dataclass
class CommandRequest:
    """One `/plc …` call, with who made it and which team's channel it came from."""

    user_id: str
    channel_id: str
    subcommand: str
    args: str
    trigger_id: str
    actor: Actor
    team: Team | None
    respond: Responder
    client: Any
    body: dict[str, Any]

    def reply(self, text: str, *, blocks: list[dict[str, Any]] | None = None) -> None:
        """An ephemeral answer only the caller sees."""
        self.respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    def require_team(self) -> Team:
        if self.team is None:
            raise UserError(
                "This channel is not a PLC team's channel yet. Run `/plc setup` here to set the team up, "
                "or use the command in your team's channel."
            )
        return self.team

    @property
    def role(self) -> Role | None:
        if self.team is not None:
            return self.actor.role_in(team_id=self.team.id, school_id=self.team.school_id)
        return self.actor.highest


Run = Callable[[CommandRequest, "Services"], None]


@dataclass(frozen=True)
class Subcommand:
    name: str
    run: Run
    summary: str
    usage: str = ""
    needs: Role | None = None  # the lowest role that sees it in help; None: everyone


@dataclass(frozen=True)
class HelpLine:
    usage: str
    summary: str
    needs: Role | None = None


@dataclass
class Router:
    subcommands: dict[str, Subcommand] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    details: dict[str, list[HelpLine]] = field(default_factory=dict)

    def add(self, name: str, run: Run, *, summary: str, usage: str = "", needs: Role | None = None,
            aliases: tuple[str, ...] = ()) -> None:
        self.subcommands[name] = Subcommand(name, run, summary, usage or f"/plc {name}", needs)
        for alias in aliases:
            self.aliases[alias] = name

    def detail(self, name: str, usage: str, summary: str, *, needs: Role | None = None) -> None:
        """A further help line under a subcommand, shown only to `needs` and above."""
        self.details.setdefault(name, []).append(HelpLine(usage, summary, needs))

    def help_lines(self, role: Role | None) -> list[HelpLine]:
        """What `/plc help` shows this role: each visible subcommand and its visible details."""
        rank = RANK[role] if role else 0
        lines: list[HelpLine] = []
        for sub in sorted(self.visible_to(role), key=lambda s: s.name):
            lines.append(HelpLine(sub.usage, sub.summary, sub.needs))
            lines.extend(d for d in self.details.get(sub.name, []) if d.needs is None or RANK[d.needs] <= rank)
        return lines

    def find(self, word: str) -> Subcommand | None:
        word = word.lower()
        return self.subcommands.get(self.aliases.get(word, word))

    def suggest(self, word: str) -> list[str]:
        names = list(self.subcommands) + list(self.aliases)
        return difflib.get_close_matches(word.lower(), names, n=3, cutoff=0.5)

    def visible_to(self, role: Role | None) -> list[Subcommand]:
        rank = RANK[role] if role else 0
        return [s for s in self.subcommands.values() if s.needs is None or RANK[s.needs] <= rank]


def split_command(text: str) -> tuple[str, str]:
    text = (text or "").strip()
    if not text:
        return "help", ""
    word, _, rest = text.partition(" ")
    return word.lower(), rest.strip()


def register(app: App, services: Services, router: Router) -> None:
    def on_plc(ack: Ack, body: dict[str, Any], respond: Respond, client: Any) -> None:
        """Route `/plc …` to its subcommand."""
        ack()
        started = time.monotonic()
        user_id, channel_id = body["user_id"], body.get("channel_id", "")
        word, args = split_command(body.get("text", ""))
        try:
            with services.db.read() as session:
                actor = load_actor(session, user_id, admins=services.settings.admins)
                team = team_for_channel(session, channel_id)
            request = CommandRequest(user_id, channel_id, word, args, body.get("trigger_id", ""),
                                     actor, team, respond, client, body)
            sub = router.find(word)
            if sub is None:
                help_sub = router.find("help")
                request.args = f"__unknown__ {word}"
                if help_sub is not None:
                    help_sub.run(request, services)
                return
            sub.run(request, services)
        except Forbidden as exc:
            respond(text=f":no_entry: {exc}", response_type="ephemeral")
        except UserError as exc:
            respond(text=str(exc), response_type="ephemeral")
        except Exception:
            log.exception("Failed to handle /plc %s", word)
            respond(text=OUR_FAULT, response_type="ephemeral")
        finally:
            log.info("/plc %s handled in %.0f ms", word, (time.monotonic() - started) * 1000)

    app.command("/plc")(on_plc)
