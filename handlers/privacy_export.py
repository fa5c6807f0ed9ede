"""`/plc privacy export`: everything the bot stores about the caller, by DM, as a workbook.

Anyone may ask, anywhere, for themselves only. The reply comes at once ("sending it to your
DMs"); the workbook follows through the delivery ledger, keyed by the request's trigger id, so
a retried request sends one message and one file. Every export is audited (who asked, for
whom; never what it held). `/plc privacy` (handlers/privacy.py) routes `export` here.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.render.personal_workbook import export_message, workbook_name, write_personal_workbook
from handlers.errors import UserError
from scheduling import keys
from scheduling.delivery import deliver
from scheduling.digest import upload_once
from storage import personal_data
from storage.models import Delivery
from storage.teams import audit

if TYPE_CHECKING:
    from bot.services import Services
    from handlers.router import CommandRequest

KIND = "privacy_export"
UNKNOWN = ("The PLC bot stores nothing about you: you are in no team, lead no school and have answered no "
           "check-in, so there is no workbook to send.")
# An admin (PLCBOT_ADMINS) needs no record to act, but what they change is audited under their id.
ADMIN_NOTE = " What you change as a plcbot admin is in the audit log under your Slack id: `plcbot audit --user {uid}`."


def run_export(request: CommandRequest, services: Services) -> None:
    """Send the caller their own data by DM now."""
    now = services.clock.now()
    uid = request.user_id
    with services.db.read() as session:
        person = personal_data.find_person(session, uid)
        if person is None:
            raise UserError(UNKNOWN + (ADMIN_NOTE.format(uid=uid) if request.actor.is_admin else ""))
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
    key = keys.privacy_export(uid, request_id)
    claim_request(services, key=key, user_id=uid, now=now)
    out = deliver(services, key=key, kind=KIND, recipient=uid, text=text, blocks=blocks)
    if out.state == "in_flight":  # Slack's retry while the first request is still sending: it reports
        return
    state = "failed" if out.state == "failed" else ("retry" if not out.sent else "")
    if out.sent:
        state = upload_once(services, key=keys.privacy_export_file(uid, request_id), user_id=uid,
                            channel_id=out.channel_id or dm, content=buffer.getvalue(),
                            filename=workbook_name(name, stamp), title="My PLC data",
                            comment="Everything the PLC bot stores about you.")
    if state == "retry":
        request.reply(":warning: Slack is slow right now and the workbook has not arrived yet; "
                      "run `/plc privacy export` again in a minute.")
    elif state == "failed":
        request.reply(":warning: I couldn't reach your direct messages with the PLC bot, so the workbook "
                      "was not sent. Open a DM with the bot and try again.")


def claim_request(services: Services, *, key: str, user_id: str, now: datetime) -> bool:
    """Audit the export once per request: its ledger row and its audit entry are written in one
    transaction, so a Slack retry of the same request (same trigger id), even one running while
    the first is still sending, or a DM found in the history after a dropped connection, adds no
    second entry and misses none. True for the call that wrote them."""
    try:
        with services.db.session() as session:
            if session.exec(select(Delivery.id).where(Delivery.key == key)).first() is not None:
                return False
            session.add(Delivery(key=key, kind=KIND, recipient=user_id, created_at=now, updated_at=now))
            audit(session, actor=user_id, action="privacy.export", target=user_id, detail="own data, by DM",
                  at=now)
    except IntegrityError:  # the same request, claimed a moment ago by its twin
        return False
    return True
