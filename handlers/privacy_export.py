"""`/plc privacy export`: everything the bot stores about the caller, by DM, as a workbook.

Anyone may ask, anywhere, for themselves only. The reply comes at once ("sending it to your
DMs"); the workbook follows through the delivery ledger, keyed by the request's trigger id, so
a retried request sends one message and one file. Every export is audited (who asked, for
whom; never what it held). `/plc privacy` (handlers/privacy.py) routes `export` here.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.render.personal_workbook import export_message, workbook_name, write_personal_workbook
from handlers.errors import UserError
from scheduling.delivery import deliver
from scheduling.digest import upload_once
from storage import personal_data
from storage.teams import audit

if TYPE_CHECKING:
    from bot.services import Services
    from handlers.router import CommandRequest

KIND = "privacy_export"
UNKNOWN = ("The PLC bot stores nothing about you: you are in no team, have answered no check-in and "
           "hold no role, so there is no workbook to send.")


def run_export(request: CommandRequest, services: Services) -> None:
    """Send the caller their own data by DM now."""
    now = services.clock.now()
    uid = request.user_id
    with services.db.read() as session:
        person = personal_data.find_person(session, uid)
        if person is None:
            raise UserError(UNKNOWN)
    request.reply(":incoming_envelope: I'm sending it to your DMs: a workbook of everything the PLC bot "
                  "stores about you.")
    with services.db.read() as session:
        person = personal_data.find_person(session, uid)
        if person is None:  # forgotten between the two reads
            raise UserError(UNKNOWN)
        data = personal_data.collect(session, person, now=now)
        name, tz, dm = person.name or uid, person.tz, person.dm_channel_id
    buffer = io.BytesIO()
    write_personal_workbook(data, buffer)
    try:
        zone = ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    stamp = now.astimezone(zone).strftime("%Y-%m-%d %H%M")
    request_id = request.trigger_id or now.strftime("%Y%m%d%H%M%S")
    text, blocks = export_message(data)
    out = deliver(services, key=f"privacy-export:{uid}:{request_id}", kind=KIND, recipient=uid, text=text,
                  blocks=blocks)
    state = "failed" if out.state == "failed" else ("retry" if not out.sent else "")
    if out.sent:
        state = upload_once(services, key=f"privacy-export-file:{uid}:{request_id}", user_id=uid,
                            channel_id=out.channel_id or dm, content=buffer.getvalue(),
                            filename=workbook_name(name, stamp), title="My PLC data",
                            comment="Everything the PLC bot stores about you.")
    if not out.already:
        with services.db.session() as session:
            audit(session, actor=uid, action="privacy.export", target=uid, detail="own data, by DM", at=now)
    if state == "retry":
        request.reply(":warning: Slack is slow right now and the workbook has not arrived yet; "
                      "run `/plc privacy export` again in a minute.")
    elif state == "failed":
        request.reply(":warning: I couldn't reach your direct messages with the PLC bot, so the workbook "
                      "was not sent. Open a DM with the bot and try again.")
