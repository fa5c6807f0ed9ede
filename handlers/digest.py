"""`/plc digest`: the digest now, by direct message, with its workbook.

Principals get their schools' digests; a facilitator gets their own team's part only (the
channel's team, or every team they facilitate when asked anywhere else). Everyone
else is told who can. The week defaults to the current one so far; `last` or an ISO week
such as `2026-W47` asks for another. Each request is its own ledgered delivery, keyed by the
request's trigger id, so a retried request sends once.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from bot.render.digest import digest_message
from bot.render.mrkdwn import escape
from handlers.errors import UserError
from handlers.router import CommandRequest
from scheduling import keys
from scheduling.digest import send_digest, workbook_name, write_week_workbook
from storage import digest as data
from storage.models import Team
from storage.rules import digest as rules
from storage.rules.digest import IsoWeek
from storage.rules.roles import Action, Forbidden, Role
from storage.teams import audit

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring

USAGE = "/plc digest [last | 2026-W47]"


@dataclass(frozen=True)
class Ask:
    """Which schools, and which of their teams (None: all), the caller may see."""

    school_ids: tuple[int, ...]
    team_ids: tuple[int, ...] | None


def what_may_see(request: CommandRequest, services: Services) -> Ask:
    """Decide on the server what this person's digest covers; refuse with who can."""
    actor, team = request.actor, request.team
    if actor.principal_of:
        if team is not None and team.school_id in actor.principal_of:
            return Ask((team.school_id,), None)
        return Ask(tuple(sorted(actor.principal_of)), None)
    if actor.is_admin:
        if team is None:
            raise UserError("Run `/plc digest` in a team's channel to get that school's digest, or use "
                            "`plcbot digest export` on the server for any school.")
        return Ask((team.school_id,), None)
    if team is not None and team.id in actor.facilitator_of:
        return Ask((team.school_id,), (team.id,))
    if actor.facilitator_of:  # outside a team channel, or in another team's: every team they facilitate
        with services.db.read() as session:
            teams = session.exec(select(Team).where(col(Team.id).in_(sorted(actor.facilitator_of)),
                                                    col(Team.archived_at).is_(None))).all()
        return Ask(tuple(sorted({t.school_id for t in teams})), tuple(t.id for t in teams if t.id is not None))
    raise Forbidden(Action.VIEW_DIGEST, Role.FACILITATOR)


def parse_week_arg(text: str, *, today_week: IsoWeek) -> tuple[IsoWeek, bool]:
    """(week, so far?) from what followed `/plc digest`."""
    word = (text or "").strip().lower()
    if word in ("", "this", "now", "this week"):
        return today_week, True
    if word in ("last", "last week", "previous"):
        return today_week.shift(-1), False
    try:
        week = rules.parse_week(text)
    except rules.WeekError as exc:
        raise UserError(f"{exc} Usage: `{USAGE}`.") from None
    if week > today_week:
        raise UserError(f"Week {week.label} hasn't started yet. Usage: `{USAGE}`.")
    return week, week == today_week


def run_digest(request: CommandRequest, services: Services) -> None:
    """Send the caller their digest by DM now."""
    ask = what_may_see(request, services)
    if not ask.school_ids:
        raise UserError("You don't facilitate any active team, so there is no digest to send.")
    minimum = services.settings.min_group_size
    sent: list[str] = []
    problems: list[str] = []
    now = services.clock.now()
    request_id = request.trigger_id or now.strftime("%Y%m%d%H%M%S")
    for school_id in ask.school_ids:
        with services.db.read() as session:
            info = data.schools(session, school_ids=[school_id])
            if not info:
                continue
            today_week = IsoWeek.of(now.astimezone(ZoneInfo(info[0].timezone)).date())
            week, so_far = parse_week_arg(request.args, today_week=today_week)
            digest = data.build_digests(session, week, school_ids=[school_id], min_group_size=minimum)[school_id]
            if ask.team_ids is not None:
                digest = digest.only(ask.team_ids)
            buffer = io.BytesIO()
            write_week_workbook(session, [digest], buffer, min_group_size=minimum,
                                team_ids=digest.team_ids if ask.team_ids is not None else None)
        part = " (your team's part)" if ask.team_ids is not None else ""
        text, blocks = digest_message(school=digest.school.name, week=week, teams=digest.teams,
                                      has_data=digest.has_data, so_far=so_far, scope_note=part)
        stamp = services.clock.now().astimezone(digest.school.zone).strftime("%Y-%m-%d %H%M")

        def key(u: str, s: int = school_id, w: str = week.label) -> str:
            return keys.digest_now(s, w, u, request_id)

        def file_key(u: str, s: int = school_id, w: str = week.label) -> str:
            return keys.digest_file_now(s, w, u, request_id)

        result = send_digest(
            services, recipients=[request.user_id], key=key, file_key=file_key, text=text, blocks=blocks,
            content=buffer.getvalue(), filename=workbook_name(digest.school.name, week, f" (asked {stamp})"),
            title=f"PLC digest, {digest.school.name}, {week.label}", school=digest.school.name, week=week,
        )
        with services.db.session() as session:
            audit(session, actor=request.user_id, action="digest on demand", target=f"school:{school_id}",
                  detail=f"week {week.label}{part}", at=now)
        label = f"{escape(digest.school.name)}, week {week.label}{' so far' if so_far else ''}{part}"
        if result.sent:
            sent.append(label)
        elif result.retry:
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
