"""Answers to commands typed to the bot on Teams: acknowledged at once, answered once, never lost.

A message typed to the bot (`bot.teams.commands.handle`) is answered by a message into the same
conversation. That answer goes out the way the ledger's scheduled messages do, through the Teams
transport (`bot.teams.transport`): paced under the conversation's and the app's limits (the one
`Pacer` the scheduled sends share), a 429 waiting its `Retry-After` (else exponential backoff with
jitter), 412, 502 and 504 retried, a dropped connection or a timeout after Teams may have stored it
never sent again.

- **Acknowledged at once.** Teams sends a message activity again when it got no 200 for it, so the
  request is answered as soon as the answer is owed, before the command runs: the incoming
  activity's ledger row (`reserve`, key `scheduling.keys.command_reply`: its conversation and
  activity id) is made pending, with where the answer goes kept on it (`Delivery.body`, a
  `scheduling.command_replies.Owed`), then the command runs and its answer is sent in the background.
- **Once per message.** The same activity delivered again finds its row and is dropped: the
  command does not run twice and the person gets one answer, whether the first is still being
  worked on, was sent, or is in doubt.
- **Kept until sent.** The answer, once rendered, is stored on its row in the command's own
  thread, right after the command has run (`keep`), before it waits its turn in the answers'
  pool, and emptied from it once sent or failed. So whatever this process cannot finish, or
  takes too long to start, the scheduler's sweep (`scheduling.command_replies`) can, from any
  process; this process's `send` then finds it sent (or in flight) in the ledger and sends nothing.
- **Through storms.** A send still rate limited after the transport's retries leaves the row
  pending (`delivery.deliver`); `send` waits what Teams asked for (or backs off) and tries again,
  for up to `PATIENCE` seconds. After that, or after a shutdown, the sweep sends it once the row
  has been left alone for `command_replies.RESEND_AFTER`: the answer arrives once, after the storm.
- **A process that died.** Killed after the command ran: the stored answer is sent by the sweep.
  Killed while the command ran (no answer stored): after `command_replies.INTERRUPTED_AFTER` the
  person is told once that their message of HH:MM (of another day: "Fri Dec 4, 16:05") was
  interrupted and may not have been done, and the row is marked failed ("interrupted"); a week
  later it is closed silently instead. Killed mid-send: the row is reported in doubt.
- **In doubt.** Teams keeps no history a bot can read: an answer whose send dropped or timed out
  is recorded "unknown" (listed by `plcbot jobs`), never resent on a guess: one answer too few,
  never two. The row keeps its answer for `command_replies.FORGET_AFTER` (7 days): once the
  operator has asked, `plcbot jobs settle KEY --not-arrived` makes the sweep send it, once (after
  that, tell the person it did not reach them); `--arrived` marks it sent and empties it.
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
from scheduling import command_replies, delivery, keys
from scheduling.transport import Rendered
from storage.identities import addressee
from storage.models import Delivery
from storage.models.identities import TEAMS

if TYPE_CHECKING:
    from bot.services import Services
    from bot.teams.app import Who

log = logging.getLogger("plcbot.teams")

KIND = command_replies.KIND
PATIENCE = command_replies.PATIENCE  # seconds an answer still rate limited is tried here (then the sweep's)
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
    tz: str | None = None  # the sender's time zone, as Teams gave it (what an apology's HH:MM is in)

    def owed(self) -> command_replies.Owed:
        """Where the answer goes, as its ledger row keeps it for a sweep in any process."""
        return command_replies.Owed(recipient=self.recipient, conversation=self.conversation,
                                    service_url=self.service_url, platform=TEAMS, tz=self.tz)


def incoming(activity: dict[str, Any], who: Who) -> Incoming:
    """The answer owed for `activity`, keyed by its conversation and activity id (a message without
    an id, which Teams never sends, gets a key of its own: answered, but not recognised again)."""
    message_id = str(activity.get("id") or "") or "no-id-" + uuid.uuid4().hex
    full = str((activity.get("conversation") or {}).get("id") or "") or who.conversation_id
    return Incoming(key=keys.command_reply(who.conversation_id, message_id), recipient=who.conversation_id,
                    conversation=full, service_url=who.service_url, personal=who.conversation_type == "personal",
                    tz=who.tz)


def reserve(services: Services, owed: Incoming) -> bool:
    """Take the answer's ledger row (pending); False when this message arrived before (answer nothing)."""
    return delivery.reserve(services, key=owed.key, kind=KIND, recipient=owed.recipient,
                            conversation=owed.conversation, body=owed.owed().encode())


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


def _keep(services: Services, owed: Incoming, rendered: Rendered) -> bool:
    """Store the answer on its row, so that any process can send it should this one not; True when
    it is stored. Not stored is logged: a database too busy to store it does not stop this process
    sending it now, and a row no longer pending (sent, closed or in doubt meanwhile) is the
    ledger's to settle (`delivery.deliver` sends nothing it has seen sent or in flight)."""
    try:
        if command_replies.keep_answer(services, owed.key, owed.owed(), rendered):
            return True
    except Exception:
        log.warning("Could not keep the answer to a Teams command with its row; sending it all the same: %s",
                    owed.key, exc_info=True)
        return False
    found = delivery.outcome_of(services, owed.key)
    log.warning("The answer to a Teams command was not kept: its row is no longer owed (%s%s): %s",
                found.state if found else "gone", f", {found.error}" if found and found.error else "", owed.key)
    return False


def keep(services: Services, owed: Incoming, text: str, card: dict[str, Any] | None) -> bool:
    """Right after the command has run, in its thread: name the person on the row and store the
    answer on it, before it waits its turn in the answers' pool, so that an answer queued behind
    others (a 429 storm holds every sender) is sendable by the sweep of any process. True when stored."""
    _addressed(services, owed)
    return _keep(services, owed, message(text, card))


def send(services: Services, owed: Incoming, text: str, card: dict[str, Any] | None, *,
         stopping: threading.Event | None = None, patience: float | None = None,
         monotonic: Callable[[], float] = time.monotonic, kept: bool = False) -> delivery.Outcome:
    """Send the answer owed under `owed.key`, once (blocking: in a worker thread), trying through a
    rate-limit storm for `patience` seconds (`PATIENCE`, read at call time); what is left is swept.
    `kept`: `keep` stored it already (else it is stored here first). A row another process's sweep
    sent, or is sending, meanwhile is found so in the ledger: nothing is sent twice."""
    patience = PATIENCE if patience is None else patience
    transport: Any = services.transports[TEAMS]
    transport.remember_conversation(owed.conversation, owed.service_url)
    rendered = message(text, card)
    if not kept:
        _addressed(services, owed)
        _keep(services, owed, rendered)
    stopping = stopping or threading.Event()
    deadline = monotonic() + patience
    attempt = 0
    while True:
        # A sweep's send (another process's) stays "sending" while its transport retries: in flight
        # for as long as the sweep itself gives it (`RESEND_AFTER`), not a job's 90 seconds.
        outcome = delivery.deliver(services, key=owed.key, kind=KIND, recipient=owed.recipient, rendered=rendered,
                                   platform=TEAMS, in_flight=command_replies.RESEND_AFTER)
        if not (outcome.state == "pending" and outcome.error == "ratelimited"):
            if outcome.state != "sent":
                log.warning("The answer to a Teams command is %s (%s): %s", outcome.state, outcome.error, owed.key)
            return outcome
        wait = outcome.retry_after
        if wait is None:
            wait = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** attempt) * (0.5 + _rng.random() / 2)
        attempt += 1
        if monotonic() + wait > deadline:
            log.warning("The answer to a Teams command is still rate limited after %.0f s; left pending for "
                        "the sweep of owed answers: %s", patience, owed.key)
            return outcome
        if stopping.wait(wait):
            log.warning("Shutting down with the answer to a Teams command unsent (rate limited; the sweep of "
                        "owed answers sends it): %s", owed.key)
            return outcome
