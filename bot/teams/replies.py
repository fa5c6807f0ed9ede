"""Answers to commands typed to the bot on Teams: acknowledged at once, answered once, through the ledger.

A message typed to the bot (`bot.teams.commands.handle`) is answered by a message into the same
conversation. That answer goes out the way the ledger's scheduled messages do, through the Teams
transport (`bot.teams.transport`): paced under the conversation's and the app's limits (the one
`Pacer` the scheduled sends share), a 429 waiting its `Retry-After` (else exponential backoff with
jitter), 412, 502 and 504 retried, a dropped connection or a timeout after Teams may have stored it
never sent again.

- **Acknowledged at once.** Teams sends a message activity again when it got no 200 for it, so the
  request is answered as soon as the answer is owed, before the command runs: the incoming
  activity's ledger row (`reserve`, key `scheduling.keys.command_reply`: its conversation and
  activity id) is made pending, then the command runs and its answer is sent in the background.
- **Once per message.** The same activity delivered again finds its row and is dropped: the
  command does not run twice and the person gets one answer, whether the first is still being
  worked on, was sent, or is in doubt.
- **Through storms.** A send still rate limited after the transport's retries leaves the row
  pending (`delivery.deliver`); `send` waits what Teams asked for (or backs off) and tries again,
  for up to `PATIENCE` seconds, so the answer arrives once, after the storm.
- **In doubt.** Teams keeps no history a bot can read: an answer whose send dropped or timed out
  is recorded "unknown" (listed by `plcbot jobs`), never resent: one answer too few, never two.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmodel import select

from bot.teams.card_kit import ADAPTIVE
from scheduling import delivery, keys
from scheduling.transport import Rendered
from storage.identities import addressee
from storage.models import Delivery
from storage.models.identities import TEAMS

if TYPE_CHECKING:
    from bot.services import Services
    from bot.teams.app import Who

log = logging.getLogger("plcbot.teams")

KIND = "command_reply"
PATIENCE = 600.0  # seconds an answer still rate limited keeps being tried (then it stays pending)
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
_rng = random.Random()  # noqa: S311 - jitter, not secrets


@dataclass(frozen=True)
class Incoming:
    """Where the answer to one incoming message goes, and the ledger key it is owed under."""

    key: str
    recipient: str  # the conversation (without ;messageid=): a person's chat, or a team's place
    conversation: str  # as the message came (a channel thread's ;messageid= kept): the answer goes there
    service_url: str
    personal: bool


def incoming(activity: dict[str, Any], who: Who) -> Incoming:
    """The answer owed for `activity`, keyed by its conversation and activity id (a message without
    an id, which Teams never sends, gets a key of its own: answered, but not recognised again)."""
    message_id = str(activity.get("id") or "") or "no-id-" + uuid.uuid4().hex
    full = str((activity.get("conversation") or {}).get("id") or "") or who.conversation_id
    return Incoming(key=keys.command_reply(who.conversation_id, message_id), recipient=who.conversation_id,
                    conversation=full, service_url=who.service_url, personal=who.conversation_type == "personal")


def reserve(services: Services, owed: Incoming) -> bool:
    """Take the answer's ledger row (pending); False when this message arrived before (answer nothing)."""
    return delivery.reserve(services, key=owed.key, kind=KIND, recipient=owed.recipient,
                            conversation=owed.conversation)


def message(text: str, card: dict[str, Any] | None) -> Rendered:
    """The answer as Teams shows a reply: its text, and its card when it has one."""
    activity: dict[str, Any] = {"type": "message", "text": text}
    if card is not None:
        activity["attachments"] = [{"contentType": ADAPTIVE, "content": card}]
    return Rendered(text, activity)


def _addressed(services: Services, owed: Incoming) -> None:
    """Someone writing to the bot for the first time has a person only once the command has run:
    their answer's row, made before, then names them (the ledger names people by their row)."""
    if not owed.personal:
        return
    with services.db.session() as session:
        row = session.exec(select(Delivery).where(Delivery.key == owed.key)).first()
        if row is None or row.person_id is not None:
            return
        person_id, _ = addressee(session, owed.recipient)
        if person_id is not None:
            row.person_id, row.place = person_id, None
            session.add(row)


def send(services: Services, owed: Incoming, text: str, card: dict[str, Any] | None, *,
         stopping: threading.Event | None = None, patience: float = PATIENCE,
         monotonic: Callable[[], float] = time.monotonic) -> delivery.Outcome:
    """Send the answer owed under `owed.key`, once (blocking: in a worker thread)."""
    transport: Any = services.transports[TEAMS]
    transport.remember_conversation(owed.conversation, owed.service_url)
    _addressed(services, owed)
    rendered = message(text, card)
    stopping = stopping or threading.Event()
    deadline = monotonic() + patience
    attempt = 0
    while True:
        outcome = delivery.deliver(services, key=owed.key, kind=KIND, recipient=owed.recipient, rendered=rendered,
                                   platform=TEAMS)
        if not (outcome.state == "pending" and outcome.error == "ratelimited"):
            if outcome.state != "sent":
                log.warning("The answer to a Teams command is %s (%s): %s", outcome.state, outcome.error, owed.key)
            return outcome
        wait = outcome.retry_after
        if wait is None:
            wait = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** attempt) * (0.5 + _rng.random() / 2)
        attempt += 1
        if monotonic() + wait > deadline:
            log.warning("The answer to a Teams command is still rate limited after %.0f s; left pending: %s",
                        patience, owed.key)
            return outcome
        if stopping.wait(wait):
            log.warning("Shutting down with the answer to a Teams command unsent (rate limited): %s", owed.key)
            return outcome
