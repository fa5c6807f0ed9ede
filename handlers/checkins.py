"""Answering a check-in: the three one-click answers, "Change", the details modal, and the
facilitators' "I'll follow up" / "Resolved" on support requests.

A click is stored before anything else (the answer lives on the teacher's one check-in row,
so two clicks or a retried request store one answer), then the message is updated with
chat.update to show it. Only the teacher a check-in was sent to can answer it.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App
from sqlmodel import Session, col, select

from bot.render import cycles as render
from handlers import forms
from handlers.core import checkins as core
from handlers.core.checkins import card_for, support_card
from handlers.errors import OUR_FAULT, UserError
from handlers.home import publish_home
from scheduling import keys
from storage.models import Checkin, Delivery
from storage.people import load_actor
from storage.rules.roles import Actor, Forbidden

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring

log = logging.getLogger("plcbot.checkins")

ANSWER_PATTERN = re.compile(r"^checkin_(on_track|some_progress|stuck)$")


def _update(services: Services, channel: str | None, ts: str | None, card: render.CheckinCard,
            *, changing: bool = False) -> None:
    if not channel or not ts:
        return
    text, blocks = render.checkin_message(card, changing=changing)
    try:
        services.slack.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
    except Exception:
        log.exception("Failed to update a check-in message")


def refresh(services: Services, checkin_id: int, *, also: tuple[str | None, str | None] = (None, None),
            changing: bool = False) -> None:
    """Show the stored answer on the check-in DM (and on the reminder the click came from)."""
    found = card_for(services, checkin_id)
    if found is None:
        return
    checkin, card = found
    _update(services, checkin.channel_id, checkin.ts, card, changing=changing)
    if also[1] and also[1] != checkin.ts:
        _update(services, also[0], also[1], card, changing=changing)


def _ephemeral(respond: Any, text: str) -> None:
    try:
        respond(text=text, response_type="ephemeral", replace_original=False)
    except Exception:
        log.exception("Failed to answer ephemerally")


def _source(body: dict[str, Any]) -> tuple[str | None, str | None]:
    container = body.get("container") or {}
    return container.get("channel_id"), container.get("message_ts")


def _value(body: dict[str, Any]) -> int:
    """The check-in id a button carries (0 for anything forged)."""
    value = str(body["actions"][0].get("value") or "")
    return int(value) if value.isdigit() else 0


def on_answer(ack: Ack, body: dict[str, Any], respond: Any, services: Services) -> bool:
    """On track / Some progress / Stuck: store at once, then show it. True when stored."""
    ack()
    action = body["actions"][0]
    match = ANSWER_PATTERN.match(action.get("action_id", ""))
    checkin_id = 0
    try:
        checkin_id = int(action.get("value") or 0)
        assert match is not None
        core.answer(services, _actor(services, body), checkin_id=checkin_id, progress=match[1])
    except UserError as exc:
        _ephemeral(respond, str(exc))
        refresh(services, checkin_id, also=_source(body))
        return False
    except Exception:
        log.exception("Failed to store a check-in answer")
        _ephemeral(respond, "Something went wrong on our side and your answer was not saved. Please click again.")
        return False
    refresh(services, checkin_id, also=_source(body))
    return True


def _actor(services: Services, body: dict[str, Any]) -> Actor:
    with services.db.read() as session:
        return load_actor(session, body["user"]["id"], admins=services.settings.admins)


def on_change(ack: Ack, body: dict[str, Any], respond: Any, services: Services) -> None:
    """"Change": show the buttons again; the stored answer stays until a new click."""
    ack()
    found = card_for(services, _value(body))
    if found is None or found[0].person_id != _actor(services, body).person_id:
        _ephemeral(respond, "That check-in isn't yours, so nothing was changed.")
        return
    checkin, card = found
    if card.closed:
        _ephemeral(respond, f"Week {checkin.week}'s check-in has closed, so it can't be changed.")
    channel, ts = _source(body)
    _update(services, channel, ts, card, changing=not card.closed)


def on_details_open(ack: Ack, body: dict[str, Any], client: Any, respond: Any, services: Services) -> None:
    """"Add details": the modal with a data point, evidence or notes, and support wanted."""
    ack()
    found = card_for(services, _value(body))
    if found is None or found[0].person_id != _actor(services, body).person_id:
        _ephemeral(respond, "That check-in isn't yours.")
        return
    checkin, card = found
    if card.closed:
        _ephemeral(respond, f"Week {checkin.week}'s check-in has closed, so it can't be changed.")
        return
    view = render.details_modal(card)
    channel, ts = _source(body)
    view["private_metadata"] = json.dumps({"checkin_id": checkin.id, "channel": channel, "ts": ts})
    try:
        client.views_open(trigger_id=body["trigger_id"], view=view)
    except Exception:
        log.exception("Failed to open the check-in details")
        _ephemeral(respond, OUR_FAULT)


def on_details_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any], services: Services) -> bool:
    """Store the details (inline errors for a data point that is not a number). True when stored."""
    from handlers.cycles import form_values

    raw = form_values(view)
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
        checkin_id = int(meta["checkin_id"])
    except (ValueError, KeyError, TypeError):
        ack(response_action="errors", errors={"progress": OUR_FAULT})
        return False
    details, errors = core.validate_details(progress=raw.get("progress") or None, value=raw.get("value", ""),
                                            evidence=raw.get("evidence"), support=raw.get("support"))
    if details is None:
        ack(response_action="errors", errors=errors)
        return False
    user_id = body["user"]["id"]

    def check(session: Session) -> core.DetailsChecked:  # whose it is and whether it is still open
        actor = load_actor(session, user_id, admins=services.settings.admins)
        return core.check_details(session, actor, checkin_id=checkin_id, details=details)

    def write(session: Session, checked: core.DetailsChecked) -> core.CheckinResult:
        return core.write_details(session, services, checked)

    def failed(checked: core.DetailsChecked, exc: Exception) -> None:
        if isinstance(exc, UserError):  # closed between the check and the write
            _tell(services, checked.checkin, user_id, str(exc))
        else:
            log.exception("Failed to store check-in details", exc_info=exc)
            _tell(services, checked.checkin, user_id, "Something went wrong on our side and your details were "
                                                      "not saved. Please try again.")

    if forms.submit(ack, services, field="progress", check=check, write=write, failed=failed,
                    unexpected="Failed to check check-in details") is None:
        return False
    refresh(services, checkin_id, also=(meta.get("channel"), meta.get("ts")))
    return True


def _tell(services: Services, checkin: Checkin | None, user_id: str, text: str) -> None:
    """After the modal closed: an ephemeral note in the teacher's check-in DM."""
    try:
        services.slack.chat_postEphemeral(channel=(checkin.channel_id if checkin else None) or user_id,
                                          user=user_id, text=text)
    except Exception:
        log.exception("Failed to tell %s about their check-in", user_id)


# ---------------------------------------------------------------------------- support requests
def on_support(ack: Ack, body: dict[str, Any], respond: Any, services: Services) -> bool:
    """"I'll follow up" / "Resolved": facilitators (or the school's principals) only. True when moved."""
    ack()
    action = body["actions"][0]
    to = "following_up" if action["action_id"] == render.FOLLOW_UP_ACTION else "resolved"
    try:
        request_id = int(action.get("value") or 0)
        core.move_support(services, _actor(services, body), request_id=request_id, to=to)
    except Forbidden as exc:
        _ephemeral(respond, f":no_entry: {exc}")
        return False
    except UserError as exc:
        _ephemeral(respond, str(exc))
        return False
    except Exception:
        log.exception("Failed to update a support request")
        _ephemeral(respond, OUR_FAULT)
        return False
    found = support_card(services, request_id)
    if found is None:
        return True
    _, checkin, card = found
    text, blocks = render.support_message(card)
    with services.db.read() as session:
        sent = session.exec(select(Delivery).where(col(Delivery.key).startswith(keys.support_prefix(request_id)),
                                                   Delivery.state == "sent")).all()
    targets = {(d.channel_id, d.ts) for d in sent} | {_source(body)}
    for channel, ts in targets:
        if channel and ts:
            try:
                services.slack.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
            except Exception:
                log.exception("Failed to update a support request message")
    refresh(services, checkin.id or 0)  # the teacher sees the request's state
    return True


def _refresh_home(services: Services, wiring: Wiring, user_id: str) -> None:
    """The Home tab lists open check-ins and support requests: show the change there too."""
    try:
        publish_home(services, wiring.home, user_id)
    except Exception:
        log.exception("Failed to refresh the Home tab of %s", user_id)


def register(app: App, services: Services, wiring: Wiring) -> None:
    # Clicks and forms from the Home tab itself are handled (and the tab refreshed) by
    # handlers.home_sections; these come from the DMs.
    def answer(ack: Ack, body: dict[str, Any], respond: Any) -> None:
        if on_answer(ack, body, respond, services):
            _refresh_home(services, wiring, body["user"]["id"])

    def change(ack: Ack, body: dict[str, Any], respond: Any) -> None:
        on_change(ack, body, respond, services)

    def details_open(ack: Ack, body: dict[str, Any], client: Any, respond: Any) -> None:
        on_details_open(ack, body, client, respond, services)

    def details_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        if on_details_submit(ack, body, view, services):
            _refresh_home(services, wiring, body["user"]["id"])

    def support(ack: Ack, body: dict[str, Any], respond: Any) -> None:
        if on_support(ack, body, respond, services):
            _refresh_home(services, wiring, body["user"]["id"])

    app.action(ANSWER_PATTERN)(answer)
    app.action(render.CHANGE_ACTION)(change)
    app.action(render.DETAILS_ACTION)(details_open)
    app.view(render.DETAILS_MODAL)(details_submit)
    app.action(render.FOLLOW_UP_ACTION)(support)
    app.action(render.RESOLVE_ACTION)(support)
