"""`/plc privacy`: what plcbot keeps about the caller and who sees each kind, ephemerally.

The page is generated from `storage/rules/visibility.py`, the same table README carries and
the feedback results, support requests and the digest consult, and it is personalised: the
caller's teams and whether each shares names with its principal resolve "named if shared",
and a facilitator, principal or admin is told what their role lets them see of others.
`/plc privacy export` sends the caller all of it as a workbook (handlers/privacy_export.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, literal, union_all
from sqlmodel import Session, col, select

from bot.render import privacy as render
from handlers.errors import UserError
from handlers.router import CommandRequest
from storage.models import (
    ActionItem,
    Attendance,
    Checkin,
    Feedback,
    Membership,
    NormCommitment,
    Person,
    School,
    SupportRequest,
    Team,
)
from storage.rules import visibility as v

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring


# The rows that name a person, per kind of the table (anonymous feedback has none, by design).
COUNTED: dict[str, tuple[Any, Any]] = {
    v.MEMBERSHIPS.key: (Membership, col(Membership.person_id)),
    v.CHECKINS.key: (Checkin, col(Checkin.person_id)),
    v.SUPPORT.key: (SupportRequest, col(SupportRequest.person_id)),
    v.NAMED_FEEDBACK.key: (Feedback, col(Feedback.person_id)),
    v.ACTION_ITEMS.key: (ActionItem, col(ActionItem.owner_id)),
    v.NORM_COMMITMENTS.key: (NormCommitment, col(NormCommitment.person_id)),
    v.MEETING_LOGS.key: (Attendance, col(Attendance.person_id)),
}


def counts_for(session: Session, person_id: int) -> dict[str, int]:
    """How many records of each kind name this person: one query for all kinds."""
    extra = {v.CHECKINS.key: col(Checkin.answered_at).is_not(None)}  # answers, not prompts never answered
    parts = []
    for key, (model, column) in COUNTED.items():
        query = (select(literal(key).label("kind"), func.count().label("n"))
                 .select_from(model).where(column == person_id))
        if key in extra:
            query = query.where(extra[key])
        parts.append(query)
    return {str(kind): int(n) for kind, n in session.execute(union_all(*parts)).all()}


def caller_facts(request: CommandRequest, services: Services) -> render.Caller:
    """Who the caller is and how much is kept about them: four queries whatever they hold."""
    actor = request.actor
    settings = services.settings
    with services.db.read() as session:
        person_id = session.exec(select(Person.id).where(Person.slack_user_id == request.user_id)).first()
        known = person_id is not None
        counts = counts_for(session, person_id) if person_id is not None else {}
        teams = session.exec(select(Team).where(col(Team.id).in_(sorted(actor.member_of)))
                             .order_by(col(Team.name))).all() if actor.member_of else []
        schools = session.exec(select(School.name).where(col(School.id).in_(sorted(actor.principal_of)))
                               .order_by(col(School.name))).all() if actor.principal_of else []
    infos = tuple(render.TeamInfo(t.name, "facilitator" if t.id in actor.facilitator_of else "member",
                                  bool(t.share_names_with_principal)) for t in teams)
    return render.Caller(
        known=known, counts=counts, teams=infos, principal_of=tuple(schools), is_admin=actor.is_admin,
        retention_years=settings.retention_years, forget_days=settings.forget_deactivated_days,
        min_group=max(3, settings.min_group_size),
        viewers=render.viewers_of(facilitator=bool(actor.facilitator_of), principal=bool(actor.principal_of),
                                  admin=actor.is_admin),
    )


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
