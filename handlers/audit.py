"""`/plc audit [since YYYY-MM-DD]`: the newest entries of the audit log, ephemerally.

Principals see their schools' part (only the channel's school when asked in one of its teams'
channels); admins see the whole log, or the channel's school in a team's channel. Anyone else
is refused with who can, decided by `storage.rules.roles.audit_scope`. The full log, with
filters, is `plcbot audit` on the server.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from bot.render.audit import audit_message
from bot.render.mrkdwn import escape
from handlers.errors import UserError
from handlers.router import CommandRequest
from storage import audit_log
from storage.rules.roles import Role, audit_scope

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring

USAGE = "/plc audit [since YYYY-MM-DD]"
SHOWN = 30  # 30 lines in 3 sections: well inside a message's 50 blocks and 3,000 characters each


def parse_since(text: str) -> date | None:
    """The day after `/plc audit` ("since 2026-11-01", or the date alone); None for none."""
    words = (text or "").split()
    if words and words[0].lower() == "since":
        words = words[1:]
        if not words:
            raise UserError(f"Since when? Give a day like 2026-11-01: `{USAGE}`.")
    if not words:
        return None
    if len(words) > 1:
        raise UserError(f"I only understand a start day here: `{USAGE}`.")
    try:
        return date.fromisoformat(words[0])
    except ValueError:
        shown = escape(words[0][:40]).replace("`", "'")  # echoed back: never a mention or a broken code span
        raise UserError(f"`{shown}` is not a day; use YYYY-MM-DD, like 2026-11-01: `{USAGE}`.") from None


def run_audit(request: CommandRequest, services: Services) -> None:
    """Show the caller the newest entries of the part of the log they may see."""
    channel_school = request.team.school_id if request.team is not None else None
    school_ids = audit_scope(request.actor, channel_school_id=channel_school)  # Forbidden says who can
    since = parse_since(request.args)
    start = datetime(since.year, since.month, since.day, tzinfo=UTC) if since else None
    with services.db.read() as session:
        rows = list(audit_log.entries(session, since=start, school_ids=school_ids, limit=SHOWN + 1,
                                      newest_first=True))
        teams = audit_log.team_names(session, team_ids=audit_log.team_ids_in(rows)) if rows else {}
        names = audit_log.school_names(session, school_ids=school_ids) if school_ids is not None else []
    scope = "the whole district" if school_ids is None else ", ".join(names) or "your school"
    text, blocks = audit_message(rows[:SHOWN], scope=scope, since=since, shown=SHOWN, more=len(rows) > SHOWN,
                                 team_names=teams, show_school=school_ids is None or len(school_ids) > 1)
    request.reply(text, blocks=blocks)


def register(app: Any, services: Services, wiring: Wiring) -> None:
    wiring.router.add(
        "audit", run_audit, usage=USAGE, needs=Role.PRINCIPAL,
        summary="who changed roles, teams, norms and settings, and who exported what (your school's part)",
    )
