"""`/plc audit [since YYYY-MM-DD]`: the newest entries of the audit log, ephemerally; a start day
begins at its midnight in the school's time zone (the caller's own for a page of several schools:
`handlers.core.audit.since_zone`).

Principals see their schools' part (only the channel's school when asked in one of its teams'
channels); admins see the whole log, or the channel's school in a team's channel. Anyone else
is refused with who can, decided by `storage.rules.roles.audit_scope`. The full log, with
filters, is `plcbot audit` on the server.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from bot.render.audit import audit_message
from bot.render.mrkdwn import escape
from handlers.core import audit as core
from handlers.router import CommandRequest
from storage.rules.roles import Role

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring

USAGE = f"/plc {core.USAGE}"
SHOWN = core.SHOWN


def _code(words: str) -> str:
    return f"`/plc {words}`"


def _quote(typed: str) -> str:
    return "`" + escape(typed).replace("`", "'") + "`"  # echoed back: never a mention or a broken code span


def parse_since(text: str) -> date | None:
    """The day after `/plc audit` (`handlers.core.audit.parse_since`)."""
    return core.parse_since(text, code=_code, quote=_quote)


def run_audit(request: CommandRequest, services: Services) -> None:
    """Show the caller the newest entries of the part of the log they may see."""
    with services.db.read() as session:
        page = core.audit_page(session, request.actor, args=request.args, code=_code, quote=_quote,
                               channel_school_id=request.team.school_id if request.team is not None else None,
                               default_zone=services.settings.timezone)
    text, blocks = audit_message(list(page.rows), scope=page.scope, since=page.since, shown=SHOWN, more=page.more,
                                 team_names=page.team_names, show_school=page.show_school,
                                 since_zone=page.since_zone)
    request.reply(text, blocks=blocks)


def register(app: Any, services: Services, wiring: Wiring) -> None:
    wiring.router.add(
        "audit", run_audit, usage=USAGE, needs=Role.PRINCIPAL,
        summary="who changed roles, teams, norms and settings, and who exported what (your school's part); "
                "since a day means from its midnight in the school's time zone",
    )
