"""`privacy export` on Teams: the caller's own workbook, through Teams' file consent card.

The same action as Slack's `/plc privacy export` (`handlers.core.privacy.check_export`, then
`send_export`): anyone may ask, for themselves only, audited once per request, the message and
the file each sent once through the ledger (keyed by the request's activity id). Teams lets a
bot send a file only in the personal chat, and only once the person accepts it: the transport
offers it with a file consent card whose context names the ledger key
(`scheduling.keys.privacy_export_file`); on accept, `bot.teams.invokes` checks the key is the
clicker's own, builds the same workbook (`bot.render.personal_workbook`) from the clicker's own
data and uploads it. Asked in a channel, the bot says to ask in the chat with it.
"""

from __future__ import annotations

import io
from typing import IO, TYPE_CHECKING, Any, cast

from bot.render.personal_workbook import ANONYMOUS_NOTE, workbook_name, write_personal_workbook
from bot.teams import card_kit as ck
from handlers.core import privacy as core
from storage.personal_data import PersonalData

if TYPE_CHECKING:
    from bot.services import Services
    from bot.teams.commands import Reply, Request
    from storage.rules.roles import Actor

FILE_PREFIX = "privacy-export-file:"  # scheduling.keys.privacy_export_file(user, request)
IN_CHANNEL = ("Your data is yours alone, so I send it only in our chat: open a chat with plcbot and type "
              "privacy export there.")
ASK_AGAIN = "To get it later, type **privacy export** to me in this chat."


def export_message(data: PersonalData) -> tuple[str, dict[str, Any]]:
    """The message before the file card: what is in the workbook, and why anonymous feedback is not."""
    counts = [(label, str(data.count(sheet))) for sheet, label in (
        ("Check-ins", "Check-ins"), ("Named feedback", "Named feedback answers"),
        ("Support requests", "Support requests"), ("Action items", "Action items"),
        ("Norm commitments", "Norm commitments"), ("Meetings attended", "Meetings"))]
    teams = ", ".join(ck.md(t) for t in data.team_names) or "none"
    words = "Here is everything the PLC bot stores about you."
    body = [ck.heading("🗂️ " + words), ck.facts([("Teams", ck.clip(teams, 600)), *counts]),
            ck.text("The workbook below has one sheet per kind of record; times are in the time zone of the team "
                    "or school they belong to. Accept the file card to download it."),
            ck.subtle("🔒 " + ck.md(ANONYMOUS_NOTE))]
    return words, ck.card(body)


# The core's format is typed for Slack's block list; the ledger hands the card to the Teams transport as is.
TEAMS_FORMAT = core.ExportFormat(message=cast(Any, export_message), workbook=write_personal_workbook,
                                 filename=workbook_name)


def export_reply(services: Services, request: Request, activity: dict[str, Any]) -> Reply:
    """`privacy export`: in our chat, the message and the file consent card; in a channel, where to ask."""
    if request.who.conversation_type != "personal":
        return IN_CHANNEL, None
    with services.db.read() as session:
        core.check_export(session, actor=request.actor)
    request_id = str(activity.get("id") or services.clock.now().strftime("%Y%m%d%H%M%S"))[:64]
    sent = core.send_export(services, actor=request.actor, request_id=request_id, fmt=TEAMS_FORMAT)
    if sent.state == "retry":
        return "⚠️ Teams is slow right now and the workbook has not been offered yet; type privacy export again in a " \
               "minute.", None
    if sent.state == "failed":
        return "⚠️ I couldn't reach our chat, so the workbook was not offered. Type privacy export again.", None
    words = "📨 Your workbook is offered above: accept the file card to download it. Only you get it."
    return words, ck.card([ck.text(words)])


# ------------------------------------------------------------------------------ the consent answer
def own_key(key: str, actor: Actor) -> bool:
    """The consent's ledger key is this person's own export (`privacy-export-file:{user}:{request}`)."""
    mine = FILE_PREFIX + actor.handle + ":"
    return key.startswith(mine) and 0 < len(key) - len(mine) <= 64


def workbook(services: Services, actor: Actor) -> tuple[bytes, str]:
    """The caller's own workbook, built now from their own records only; and its file name."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from handlers.errors import UserError
    from storage import personal_data

    now = services.clock.now()
    with services.db.read() as session:
        person = personal_data.find_person(session, actor.handle)
        if person is None:
            raise UserError(core.UNKNOWN)
        data = personal_data.collect(session, person, now=now)
        name, tz = person.name or actor.handle, person.tz
    buffer: IO[bytes] = io.BytesIO()
    write_personal_workbook(data, buffer)
    try:
        zone = ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return cast(io.BytesIO, buffer).getvalue(), workbook_name(name, now.astimezone(zone).strftime("%Y-%m-%d %H%M"))
