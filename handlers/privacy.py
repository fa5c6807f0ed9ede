"""`/plc privacy`: what plcbot keeps about the caller and who sees each kind, ephemerally.

The page is generated from `storage/rules/visibility.py`, the same table README carries and
the feedback results, support requests and the digest consult, and it is personalised: the
caller's teams and whether each shares names with its principal resolve "named if shared",
and a facilitator, principal or admin is told what their role lets them see of others.
`/plc privacy export` sends the caller all of it as a workbook (handlers/privacy_export.py).
The page's facts come from `handlers.core.privacy.privacy_page`; this module renders them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.render import privacy as render
from handlers.core import privacy as core
from handlers.errors import UserError
from handlers.router import CommandRequest

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring


def caller_facts(request: CommandRequest, services: Services) -> render.Caller:
    """The page's facts for the caller (`handlers.core.privacy.privacy_page`), as the renderer takes them."""
    settings = services.settings
    with services.db.read() as session:
        page = core.privacy_page(session, actor=request.actor, retention_years=settings.retention_years,
                                 forget_days=settings.forget_deactivated_days,
                                 min_group_size=settings.min_group_size)
    return page


def run_privacy(request: CommandRequest, services: Services) -> None:
    """Show the caller what is kept about them and who sees it; `export` sends it to them."""
    word = request.args.strip().lower()
    if word == "export":
        from handlers.privacy_export import run_export

        run_export(request, services)
        return
    if word:
        raise UserError(render.USAGE)
    text, blocks = render.page(caller_facts(request, services))
    request.reply(text, blocks=blocks)


def register(app: Any, services: Services, wiring: Wiring) -> None:
    wiring.router.add("privacy", run_privacy, usage="/plc privacy [export]",
                      summary="what plcbot keeps about you and who sees it; `export` sends you all of it")
