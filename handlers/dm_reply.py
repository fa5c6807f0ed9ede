"""The answer to someone's own click or form, by DM, when no ephemeral reply can reach them.

A button in the Home tab or in a modal has no channel to answer in, and the answer to a form
submitted for a channel the person is not in cannot be ephemeral there: the DM is the only
place left. It goes through the delivery ledger (`scheduling.delivery.deliver`) keyed by the
interaction (`scheduling.keys.dm_reply`), so a connection dropped after Slack stored the DM
(which `services.slack` would retry) or the same interaction delivered twice leaves one DM.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scheduling import keys
from scheduling.delivery import deliver

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger("plcbot.dm_reply")
KIND = "dm_reply"


def interaction_id(body: dict[str, Any]) -> str:
    """What identifies one click or submission in Slack's payload: the modal's view id for a
    submission (a double submit of the same form is one answer), else the click's trigger id."""
    if body.get("type") == "view_submission":
        return str((body.get("view") or {}).get("id") or "")
    return str(body.get("trigger_id") or "")


def tell_by_dm(services: Services, user_id: str, request_id: str, text: str) -> bool:
    """DM `text` to `user_id` once for the interaction `request_id`; True when it is in their DMs.

    Never raises: the answer is a courtesy on top of what the click or form already did (or did
    not do), so a failure is logged for the operator and the listener goes on."""
    if not request_id:  # no id to key it by: a payload Slack never sends; one DM per second at most
        request_id = services.clock.now().strftime("at-%Y%m%dT%H%M%S")
    try:
        outcome = deliver(services, key=keys.dm_reply(user_id, request_id), kind=KIND, recipient=user_id,
                          text=text)
    except Exception:
        log.exception("Could not DM %s the answer to their request", user_id)
        return False
    if not outcome.sent and outcome.state != "in_flight":
        log.warning("Could not DM %s the answer to their request: %s (%s)", user_id, outcome.state, outcome.error)
    return outcome.sent
