"""Privacy as actions: the page (what `/plc privacy` shows) and the export of one's own data.

- `privacy_page(session, actor=…, …)`: a plain-data page (`storage.views.privacy.PrivacyPage`)
  built from the data and `storage/rules/visibility.py`, personalised: the caller's teams, whether
  each shares names with its principal, and what their own role lets them see of others.
- `check_export(session, actor=…)` then `send_export(services, actor=…, request_id=…, fmt=…)`:
  anyone may ask, for themselves only. The check (read-only) refuses someone the bot knows nothing
  about; the front then says "on its way" and the send delivers the personal workbook once per
  request through the ledger (`scheduling.keys.privacy_export`), audited once per request (who
  asked, for whom; never what it held). A front passes how it renders the message and the workbook.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, literal, union_all
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from handlers.core import ActionResult
from handlers.errors import UserError
from scheduling import keys
from scheduling.delivery import deliver
from scheduling.digest import upload_once
from storage import personal_data
from storage.identities import addressee
from storage.models import (
    ActionItem,
    Attendance,
    Checkin,
    Delivery,
    Feedback,
    Membership,
    NormCommitment,
    Person,
    School,
    SupportRequest,
    Team,
)
from storage.personal_data import PersonalData
from storage.rules import visibility as v
from storage.rules.roles import Actor
from storage.teams import audit
from storage.views.privacy import PrivacyPage, PrivacyTeam, viewers_of

if TYPE_CHECKING:
    from bot.services import Services

# ------------------------------------------------------------------------------------ the page

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


def privacy_page(session: Session, *, actor: Actor, retention_years: int, forget_days: int,
                 min_group_size: int) -> PrivacyPage:
    """Who the caller is and how much is kept about them: four queries whatever they hold.

    Anyone may look, at their own page only, so there is no role to check."""
    person_id = session.exec(select(Person.id).where(Person.handle == actor.handle)).first()
    counts = counts_for(session, person_id) if person_id is not None else {}
    teams = session.exec(select(Team).where(col(Team.id).in_(sorted(actor.member_of)))
                         .order_by(col(Team.name))).all() if actor.member_of else []
    schools = session.exec(select(School.name).where(col(School.id).in_(sorted(actor.principal_of)))
                           .order_by(col(School.name))).all() if actor.principal_of else []
    return PrivacyPage(
        known=person_id is not None, counts=counts,
        teams=tuple(PrivacyTeam(t.name, "facilitator" if t.id in actor.facilitator_of else "member",
                                bool(t.share_names_with_principal)) for t in teams),
        principal_of=tuple(schools), is_admin=actor.is_admin,
        retention_years=retention_years, forget_days=forget_days, min_group=max(3, min_group_size),
        viewers=viewers_of(facilitator=bool(actor.facilitator_of), principal=bool(actor.principal_of),
                           admin=actor.is_admin),
    )


# ------------------------------------------------------------------------------------ the export

KIND = "privacy_export"
UNKNOWN = ("The PLC bot stores nothing about you: you are in no team, lead no school and have answered no "
           "check-in, so there is no workbook to send.")
# An admin (PLCBOT_ADMINS) needs no record to act, but what they change is audited under their id.
ADMIN_NOTE = " What you change as a plcbot admin is in the audit log under your Slack id: `plcbot audit --user {uid}`."
ON_ITS_WAY = "I'm sending it to your DMs: a workbook of everything the PLC bot stores about you."


@dataclass(frozen=True)
class ExportFormat:
    """How a front renders the export: its message, the workbook's bytes, and the file's name."""

    message: Callable[[PersonalData], tuple[str, list[dict[str, Any]] | None]]
    workbook: Callable[[PersonalData, IO[bytes]], object]
    filename: Callable[[str, str], str]  # (person's name, local time stamp) -> file name


@dataclass(frozen=True)
class ExportSent:
    """How the export went: 'sent', 'in_flight' (the same request is being sent; it reports),
    'retry' (not arrived yet; ask again in a minute) or 'failed' (their DMs could not be reached)."""

    state: str
    result: ActionResult


def check_export(session: Session, *, actor: Actor) -> None:
    """Read-only: refuse (`UserError`) when nothing is stored about the caller."""
    if personal_data.find_person(session, actor.handle) is None:
        uid = actor.handle
        raise UserError(UNKNOWN + (ADMIN_NOTE.format(uid=uid) if actor.is_admin else ""))


def send_export(services: Services, *, actor: Actor, request_id: str, fmt: ExportFormat) -> ExportSent:
    """Send the caller their own data by DM now: the message, then the workbook, each once per request."""
    now = services.clock.now()
    uid = actor.handle
    with services.db.read() as session:
        person = personal_data.find_person(session, uid)
        if person is None:  # forgotten since the check
            raise UserError(UNKNOWN)
        data = personal_data.collect(session, person, now=now)
        name, tz, dm = person.name or uid, person.tz, person.dm_channel_id
    buffer = io.BytesIO()
    fmt.workbook(data, buffer)
    try:
        zone = ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    stamp = now.astimezone(zone).strftime("%Y-%m-%d %H%M")
    text, blocks = fmt.message(data)
    key = keys.privacy_export(uid, request_id)
    claim_request(services, key=key, user_id=uid, now=now)
    out = deliver(services, key=key, kind=KIND, recipient=uid, text=text, blocks=blocks)
    if out.state == "in_flight":  # a retry while the first request is still sending: that one reports
        return ExportSent("in_flight", ActionResult())
    state = "failed" if out.state == "failed" else ("retry" if not out.sent else "")
    if out.sent:
        state = upload_once(services, key=keys.privacy_export_file(uid, request_id), user_id=uid,
                            channel_id=out.channel_id or dm, content=buffer.getvalue(),
                            filename=fmt.filename(name, stamp), title="My PLC data",
                            comment="Everything the PLC bot stores about you.")
    reply = {"retry": "The workbook has not arrived yet; ask for the export again in a minute.",
             "failed": "Your direct messages with the PLC bot could not be reached, so the workbook was not "
                       "sent. Open a direct message with the bot and try again."}.get(state, "")
    return ExportSent(state, ActionResult(reply=reply, changed=(f"privacy export: {state}",)))


def claim_request(services: Services, *, key: str, user_id: str, now: datetime) -> bool:
    """Audit the export once per request: its ledger row and its audit entry are written in one
    transaction, so a retry of the same request (same request id), even one running while the
    first is still sending, or a DM found in the history after a dropped connection, adds no
    second entry and misses none. True for the call that wrote them."""
    try:
        with services.db.session() as session:
            if session.exec(select(Delivery.id).where(Delivery.key == key)).first() is not None:
                return False
            person_id, place = addressee(session, user_id)
            session.add(Delivery(key=key, kind=KIND, person_id=person_id, place=place, created_at=now,
                                 updated_at=now))
            audit(session, actor=user_id, action="privacy.export", target=user_id, detail="own data, by DM",
                  at=now)
    except IntegrityError:  # the same request, claimed a moment ago by its twin
        return False
    return True
