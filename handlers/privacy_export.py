"""`/plc privacy export`: everything the bot stores about the caller, by DM, as a workbook.

Anyone may ask, anywhere, for themselves only. The reply comes at once ("sending it to your
DMs"); the workbook follows through the delivery ledger, keyed by the request's trigger id, so
a retried request sends one message and one file. Every export is audited (who asked, for
whom; never what it held). `/plc privacy` (handlers/privacy.py) routes `export` here. The action
is `handlers.core.privacy` (`check_export`, then `send_export`); this module renders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.render.personal_workbook import export_message, workbook_name, write_personal_workbook
from handlers.core import privacy as core
from handlers.core.privacy import ExportFormat

if TYPE_CHECKING:
    from bot.services import Services
    from handlers.router import CommandRequest

SLACK_FORMAT = ExportFormat(message=export_message, workbook=write_personal_workbook, filename=workbook_name)


def run_export(request: CommandRequest, services: Services) -> None:
    """Send the caller their own data by DM now."""
    with services.db.read() as session:
        core.check_export(session, actor=request.actor)
    request.reply(f":incoming_envelope: {core.ON_ITS_WAY}")
    request_id = request.trigger_id or services.clock.now().strftime("%Y%m%d%H%M%S")
    sent = core.send_export(services, actor=request.actor, request_id=request_id, fmt=SLACK_FORMAT)
    if sent.state == "retry":
        request.reply(":warning: Slack is slow right now and the workbook has not arrived yet; "
                      "run `/plc privacy export` again in a minute.")
    elif sent.state == "failed":
        request.reply(":warning: I couldn't reach your direct messages with the PLC bot, so the workbook "
                      "was not sent. Open a DM with the bot and try again.")
