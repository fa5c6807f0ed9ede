"""The digest on demand (`/plc digest [last | 2026-W47]`) as an action.

Principals get their schools' digests; a facilitator gets their own team's part only (the team
where they asked, or every team they facilitate when asked anywhere else). Everyone else is
refused, with who can. The week defaults to the current one so far; `last` or an ISO week such
as `2026-W47` asks for another. Each request is its own ledgered delivery keyed by the request's
id, so a retried request sends once; the summary and its workbook go through
`scheduling.digest.send_digest` (the ledger and the transport), never a platform call here.

Each part is a view model (`DigestPart`) that the caller's platform renders, as for every message.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from handlers.core import ActionResult
from handlers.errors import UserError
from scheduling import keys
from scheduling.digest import send_digest, workbook_name, write_week_workbook
from storage import digest as data
from storage.models import Team
from storage.rules import digest as rules
from storage.rules.digest import IsoWeek
from storage.rules.roles import Action, Actor, Forbidden, Role
from storage.teams import audit
from storage.views.digest_actions import DigestOutcome, DigestPart

if TYPE_CHECKING:
    from bot.services import Services

USAGE = "/plc digest [last | 2026-W47]"
NO_TEAM = "You don't facilitate any active team, so there is no digest to send."

@dataclass(frozen=True)
class Ask:
    """Which schools, and which of their teams (None: all), the caller may see."""

    school_ids: tuple[int, ...]
    team_ids: tuple[int, ...] | None


def what_may_see(session: Session, actor: Actor, team: Team | None) -> Ask:
    """Decide on the server what this person's digest covers; refuse with who can."""
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


@dataclass(frozen=True)
class DigestSent:
    """What the digest on demand did: each part and how its delivery went, and the plain result."""

    outcomes: tuple[DigestOutcome, ...]
    result: ActionResult


def _label(part: DigestPart) -> str:
    return f"{part.school}, week {part.week.label}{' so far' if part.so_far else ''}{part.scope_note}"


def digest_now(services: Services, *, actor: Actor, team_id: int | None, week_text: str,
               request_id: str) -> DigestSent:
    """Send the caller their digest (or their team's part of it) by direct message now, with its workbook.

    `team_id`: the team where they asked (None: anywhere else); `week_text`: what followed the
    command; `request_id`: the request's own id (a retried request reuses it and sends once)."""
    with services.db.read() as session:
        team = session.get(Team, team_id) if team_id is not None else None
        ask = what_may_see(session, actor, team)
    if not ask.school_ids:
        raise UserError(NO_TEAM)
    minimum = services.settings.min_group_size
    now = services.clock.now()
    outcomes: list[DigestOutcome] = []
    for school_id in ask.school_ids:
        with services.db.read() as session:
            info = data.schools(session, school_ids=[school_id])
            if not info:
                continue
            today_week = IsoWeek.of(now.astimezone(ZoneInfo(info[0].timezone)).date())
            week, so_far = parse_week_arg(week_text, today_week=today_week)
            digest = data.build_digests(session, week, school_ids=[school_id], min_group_size=minimum)[school_id]
            if ask.team_ids is not None:
                digest = digest.only(ask.team_ids)
            buffer = io.BytesIO()
            write_week_workbook(session, [digest], buffer, min_group_size=minimum,
                                team_ids=digest.team_ids if ask.team_ids is not None else None)
        part = DigestPart(school_id=school_id, school=digest.school.name, week=week, so_far=so_far,
                          team_part=ask.team_ids is not None, teams=tuple(digest.teams), has_data=digest.has_data)
        stamp = services.clock.now().astimezone(digest.school.zone).strftime("%Y-%m-%d %H%M")

        def key(u: str, s: int = school_id, w: str = week.label) -> str:
            return keys.digest_now(s, w, u, request_id)

        def file_key(u: str, s: int = school_id, w: str = week.label) -> str:
            return keys.digest_file_now(s, w, u, request_id)

        sent = send_digest(
            services, recipients=[actor.handle], key=key, file_key=file_key, view=part,
            content=buffer.getvalue(), filename=workbook_name(digest.school.name, week, f" (asked {stamp})"),
            title=f"PLC digest, {digest.school.name}, {week.label}", school=digest.school.name, week=week,
        )
        with services.db.session() as session:
            audit(session, actor=actor.handle, action="digest on demand", target=f"school:{school_id}",
                  detail=f"week {week.label}{part.scope_note}", at=now)
        state = "sent" if sent.sent else ("retry" if sent.retry else "failed")
        outcomes.append(DigestOutcome(part, state))
    lines = []
    if done := [_label(o.part) for o in outcomes if o.state == "sent"]:
        lines.append("Sent to your direct messages: " + "; ".join(done) + ".")
    lines += [f"{_label(o.part)}: " + ("not delivered yet; try again in a minute." if o.state == "retry" else
                                        "your direct messages could not be reached.")
              for o in outcomes if o.state != "sent"]
    changed = tuple(f"digest {o.part.week.label} of school {o.part.school_id}: {o.state}" for o in outcomes)
    return DigestSent(tuple(outcomes), ActionResult(reply="\n".join(lines) or "Nothing to send.", changed=changed))
