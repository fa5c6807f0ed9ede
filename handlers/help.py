"""`/plc help`: the subcommands the caller's role may use, and "did you mean" for typos."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.render import blocks as bk
from bot.render.mrkdwn import clip, escape
from handlers.router import CommandRequest, Router, Subcommand

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring


def help_blocks(subcommands: list[Subcommand], *, unknown: str | None = None,
                suggestions: list[str] | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Pure builder: the help text and blocks."""
    lines = []
    if unknown is not None:
        shown = escape(clip(unknown, 40))
        lines.append(f":thinking_face: `/plc {shown}` is not a plcbot command.")
        if suggestions:
            lines.append("Did you mean " + " or ".join(f"`/plc {s}`" for s in suggestions) + "?")
    intro = "\n".join(lines)
    rows = [f"`{escape(s.usage)}`  {escape(s.summary)}" for s in sorted(subcommands, key=lambda s: s.name)]
    out: list[dict[str, Any]] = []
    if intro:
        out.append(bk.section(intro))
    out.append(bk.section("*What you can do with `/plc`*"))
    chunk: list[str] = []
    for row in rows:  # several sections, so a long list never passes 3,000 characters
        if sum(len(r) + 1 for r in chunk) + len(row) > 2800:
            out.append(bk.section("\n".join(chunk)))
            chunk = []
        chunk.append(row)
    if chunk:
        out.append(bk.section("\n".join(chunk)))
    out.append(bk.context("Your Home tab with plcbot shows your teams, check-ins and action items."))
    text = (intro + "\n" if intro else "") + "plcbot commands: " + ", ".join(s.name for s in subcommands)
    return text, bk.fit(out, bk.MESSAGE_BLOCKS_MAX)


def make_help(router: Router):  # noqa: ANN201
    def show_help(request: CommandRequest, services: Services) -> None:
        """Answer with the commands this person may use here."""
        unknown = None
        if request.args.startswith("__unknown__ "):
            unknown = request.args.split(" ", 1)[1]
        text, blocks = help_blocks(
            router.visible_to(request.role),
            unknown=unknown,
            suggestions=router.suggest(unknown) if unknown else None,
        )
        request.reply(text, blocks=blocks)

    return show_help


def register(app: Any, services: Services, wiring: Wiring) -> None:
    wiring.router.add("help", make_help(wiring.router), summary="this list", usage="/plc help")
