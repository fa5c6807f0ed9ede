"""`/plc digest`: the digest now, by direct message, with its workbook.

The action is `handlers.core.digest.digest_now`; this module only translates and renders.
Principals get their schools' digests; a facilitator gets their own team's part only (the
channel's team, or every team they facilitate when asked anywhere else). Everyone
else is told who can. The week defaults to the current one so far; `last` or an ISO week
such as `2026-W47` asks for another. Each request is its own ledgered delivery, keyed by the
request's trigger id, so a retried request sends once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.render.mrkdwn import escape
from handlers.core import digest as core
from handlers.core.digest import USAGE
from handlers.router import CommandRequest
from storage.rules.roles import Role

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring


def run_digest(request: CommandRequest, services: Services) -> None:
    """Send the caller their digest by DM now."""
    team_id = request.team.id if request.team is not None else None
    request_id = request.trigger_id or services.clock.now().strftime("%Y%m%d%H%M%S")
    done = core.digest_now(services, actor=request.actor, team_id=team_id, week_text=request.args,
                           request_id=request_id)
    sent: list[str] = []
    problems: list[str] = []
    for outcome in done.outcomes:
        part = outcome.part
        label = f"{escape(part.school)}, week {part.week.label}{' so far' if part.so_far else ''}{part.scope_note}"
        if outcome.state == "sent":
            sent.append(label)
        elif outcome.state == "retry":
            problems.append(f"{label}: Slack is slow right now; try again in a minute")
        else:
            problems.append(f"{label}: I couldn't reach your direct messages")
    lines = []
    if sent:
        lines.append(":incoming_envelope: Sent to your direct messages: " + "; ".join(sent) + ".")
    lines.extend(f":warning: {p}." for p in problems)
    request.reply("\n".join(lines) or "Nothing to send.")


def register(app: Any, services: Services, wiring: Wiring) -> None:
    wiring.router.add(
        "digest", run_digest, usage=USAGE, needs=Role.FACILITATOR,
        summary="the principal's digest now, by DM with its workbook (facilitators: your team's part)",
    )
