"""`/plc help`: the subcommands the caller's role may use, and "did you mean" for typos."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.render import blocks as bk
from bot.render.mrkdwn import clip, escape
from handlers.router import CommandRequest, HelpLine, Router

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring


def help_blocks(lines: list[HelpLine], *, unknown: str | None = None,
                suggestions: list[str] | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Pure builder: the help text and blocks."""
    notes: list[str] = []
    if unknown is not None:
        shown = escape(clip(unknown, 40))
        notes.append(f":thinking_face: `/plc {shown}` is not a plcbot command.")
        if suggestions:
            notes.append("Did you mean " + " or ".join(f"`/plc {s}`" for s in suggestions) + "?")
    intro = "\n".join(notes)
    rows = [f"`{escape(line.usage)}`  {escape(line.summary)}" for line in lines]
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
    names = sorted({line.usage.split(" ")[1] for line in lines if line.usage.startswith("/plc ")})
    text = (intro + "\n" if intro else "") + "plcbot commands: " + ", ".join(names)
    return text, bk.fit(out, bk.MESSAGE_BLOCKS_MAX)


def make_help(router: Router):  # noqa: ANN201
    def show_help(request: CommandRequest, services: Services) -> None:
        """Answer with the commands this person may use here."""
        unknown = None
        if request.args.startswith("__unknown__ "):
            unknown = request.args.split(" ", 1)[1]
        text, blocks = help_blocks(
            router.help_lines(request.role),
            unknown=unknown,
            suggestions=router.suggest(unknown) if unknown else None,
        )
        request.reply(text, blocks=blocks)

    return show_help


def register(app: Any, services: Services, wiring: Wiring) -> None:
    wiring.router.add("help", make_help(wiring.router), summary="this list", usage="/plc help")
