"""The one ledgered path for messages the bot owes someone: none lost, none doubled.

Each message has a key (built in `scheduling.keys`, for example `checkin:12:U123:3`). Its row
goes pending → sending → sent, and the transport carries the key with the message. A row found
in "sending" (the process died mid-post, the connection dropped after the platform stored the
message, a timeout) is resolved by asking the transport to find the key in the conversation
before anything is sent again. Errors that mean "this will never work" (a deactivated account,
a channel the bot left) mark the row failed so the caller can tell a facilitator; what cannot be
resolved is left "unknown" and reported to the operator, never guessed.

The platform is the transport's business (`scheduling.transport`; Slack's is
`bot.slack_transport`): this module knows rows, keys and outcomes only. Files have the same
rows and the same claim (`claim`, `update`), see `scheduling.digest.upload_once`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import update as sa_update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from scheduling.transport import Rendered, Transport, TransportError
from storage.identities import addressee
from storage.models import Delivery

if TYPE_CHECKING:
    from scheduling.services import Services

log = logging.getLogger("plcbot.delivery")

# A "sending" row younger than this may still be in another worker's hands.
IN_FLIGHT = timedelta(seconds=90)


@dataclass(frozen=True)
class Outcome:
    key: str
    state: str  # sent | failed | unknown | pending | in_flight
    ts: str | None = None
    channel_id: str | None = None
    error: str | None = None
    already: bool = False  # it had been delivered before this call
    retry_after: float | None = None  # rate limited: the seconds the platform asked to wait, when it said

    @property
    def sent(self) -> bool:
        return self.state == "sent"


def _load(session: Session, key: str, *, lock: bool = False) -> Delivery | None:
    """The row under `key`; with `lock`, held until the transaction ends (PostgreSQL: FOR UPDATE;
    SQLite's BEGIN IMMEDIATE serialises writers already), so that of two workers deciding about
    the same row at once, the second decides on what the first wrote."""
    query = select(Delivery).where(Delivery.key == key)
    return session.exec(query.with_for_update() if lock else query).first()


# States after which a row owes nothing: its stored body (`Delivery.body`) goes with them.
FINISHED = ("sent", "failed")
# The error an operator's `settle --not-arrived` leaves on the row: pending again on their word,
# so whoever sends rows with a stored body (`scheduling.command_replies`) may send it at once.
NOT_ARRIVED = "not_arrived"


def update(services: Services, key: str, **values: Any) -> None:
    """Write what happened to the row under `key` (its state, where it went, the error). A row
    that ends sent or failed drops its stored body: no message text stays in the ledger."""
    with services.db.session() as session:
        row = _load(session, key)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
        if row.state in FINISHED:
            row.body = None
        row.updated_at = services.clock.now()
        session.add(row)


def reserve(services: Services, *, key: str, kind: str, recipient: str, conversation: str | None = None,
            body: str | None = None) -> bool:
    """Record the message owed under `key` as pending before it is written, so that a second arrival
    of what asks for it (a platform's retry of a message typed to the bot) finds it owed already:
    True when this call made the row, False when the key was known (nothing changed). `deliver`
    with the same key then sends it, once; `conversation`, when given, is where it goes; `body`,
    what another process needs to send it should this one not (see `Delivery.body`)."""
    now = services.clock.now()
    try:
        with services.db.session() as session:
            person_id, place = addressee(session, recipient)
            session.add(Delivery(key=key, kind=kind, person_id=person_id, place=place, channel_id=conversation,
                                 state="pending", body=body, created_at=now, updated_at=now))
    except IntegrityError:
        return False
    return True


def keep(services: Services, key: str, body: str) -> bool:
    """Store `body` on the row under `key` while it is still owed (pending); False when it is not
    (already sent, failed, in doubt or gone: nothing changed). The row counts as touched now."""
    with services.db.session() as session:
        result = session.exec(sa_update(Delivery).where(col(Delivery.key) == key, col(Delivery.state) == "pending")
                                 .values(body=body, updated_at=services.clock.now()))
        return bool(result.rowcount)


def swap(session: Session, key: str, *, was: str, seen: datetime, now: datetime, **values: Any) -> bool:
    """Move the row under `key` from state `was`, as last touched at `seen`, to `values`, in one
    conditional UPDATE: True for the one caller that did it, False when the row moved or was
    touched since (another process, or its own sender, got there first). How a row found by a
    sweep is taken without locks, the same on SQLite and PostgreSQL."""
    if values.get("state") in FINISHED:
        values["body"] = None
    result = session.exec(sa_update(Delivery).where(
        col(Delivery.key) == key, col(Delivery.state) == was, col(Delivery.updated_at) == seen,
    ).values(updated_at=now, **values))
    return bool(result.rowcount)


def send_taken(services: Services, *, key: str, recipient: str, rendered: Rendered, platform: str,
               seen: datetime) -> Outcome | None:
    """Send the pending row under `key` (last touched at `seen`) that a sweep found, once: it is
    taken pending → sending by `swap`, so of two processes that found it only one sends; None for
    the other, or when the row moved since it was found. What follows is `deliver`'s own path."""
    now = services.clock.now()
    with services.db.session() as session:
        taken = swap(session, key, was="pending", seen=seen, now=now, state="sending",
                     attempts=col(Delivery.attempts) + 1)
        row = _load(session, key) if taken else None
        if row is not None:
            session.expunge(row)
    if row is None:
        return None
    return _post(services, services.transports[platform], row, recipient, rendered, thread_ts=None, payload=None)


def claim(services: Services, *, key: str, kind: str, recipient: str, job_id: int | None,
          in_flight: timedelta = IN_FLIGHT) -> tuple[str, Delivery]:
    """Create or read the row and decide what to do: 'done', 'resolve', 'send' or 'busy'.

    'resolve': an earlier attempt is in doubt, look before sending; 'busy': a "sending" row
    younger than `in_flight` may still be in another worker's hands."""
    now = services.clock.now()
    with services.db.session() as session:
        row = _load(session, key, lock=True)
        if row is None:
            person_id, place = addressee(session, recipient)
            new = Delivery(key=key, kind=kind, person_id=person_id, place=place, job_id=job_id, created_at=now,
                           updated_at=now)
            try:
                with session.begin_nested():
                    session.add(new)
                row = new
            except IntegrityError:  # another worker made it a moment ago: decide on what it wrote
                row = _load(session, key, lock=True)
                assert row is not None
        if row.state in ("sent", "failed"):
            return "done", row
        if row.state == "sending" and now - row.updated_at < in_flight:
            return "busy", row
        decision = "resolve" if row.state in ("sending", "unknown") else "send"
        row.state = "sending"
        row.attempts += 1
        row.updated_at = now
        session.add(row)
        return decision, row


def deliver(
    services: Services,
    *,
    key: str,
    kind: str,
    recipient: str,
    view: object | None = None,
    text: str = "",
    blocks: list[dict[str, Any]] | None = None,
    thread_ts: str | None = None,
    job_id: int | None = None,
    payload: dict[str, Any] | None = None,
    rendered: Rendered | None = None,
    platform: str | None = None,
    in_flight: timedelta = IN_FLIGHT,
) -> Outcome:
    """Send the message owed under `key` unless it was already sent; safe to call again.

    The message is `view`, a view model (`storage.views`) that the recipient's transport
    renders for its platform; or, from code that still builds Slack's Block Kit itself, `text`
    and `blocks`; or a message a front `rendered` for its own platform. Any of them travels as one
    `Rendered` that only the transport reads. `platform` names the transport when the recipient
    may be known to no identity or place yet (a front's answer into the conversation it was asked in).
    `in_flight`: how long a "sending" row may still be in other hands (`claim`), for a sender that
    knows its messages are sent by slower hands than a job's."""
    transport = services.transports[platform] if platform else services.transports.for_recipient(recipient)
    if rendered is not None:
        message = rendered
    else:
        message = transport.render(view) if view is not None else Rendered(text, blocks)
    decision, row = claim(services, key=key, kind=kind, recipient=recipient, job_id=job_id, in_flight=in_flight)
    if decision == "done":
        return Outcome(key, row.state, row.ts, row.channel_id, row.error, already=row.state == "sent")
    if decision == "busy":
        return Outcome(key, "in_flight")
    if decision == "resolve":
        found = _resolve(services, transport, row, recipient)
        if found is not None:
            return found
    return _post(services, transport, row, recipient, message, thread_ts=thread_ts, payload=payload)


def _resolve(services: Services, transport: Transport, row: Delivery, recipient: str) -> Outcome | None:
    """Settle a row left in doubt: sent if the conversation has it; None means safe to send."""
    try:
        found = transport.find(recipient, row.key, conversation=row.channel_id)
    except TransportError as exc:
        if exc.permanent:
            update(services, row.key, state="failed", error=exc.code)
            return Outcome(row.key, "failed", error=exc.code)
        return _unknown(services, transport, row, exc.code)
    except Exception as exc:  # network trouble: we still do not know
        return _unknown(services, transport, row, type(exc).__name__)
    if found is None:
        return None
    update(services, row.key, state="sent", ts=found.id, channel_id=found.conversation, error=None)
    log.info("Delivery %s was already in the conversation; not sent again", row.key)
    return Outcome(row.key, "sent", found.id, found.conversation, already=True)


def _unknown(services: Services, transport: Transport, row: Delivery, error: str) -> Outcome:
    update(services, row.key, state="unknown", error=f"unresolved: {error}"[:200])
    log.error(
        "Delivery %s could not be checked against %s (%s); left for `plcbot jobs run` to retry",
        row.key, transport.platform.capitalize(), error,
    )
    return Outcome(row.key, "unknown", error=error)


def _post(
    services: Services,
    transport: Transport,
    row: Delivery,
    recipient: str,
    message: Rendered,
    *,
    thread_ts: str | None,
    payload: dict[str, Any] | None,
) -> Outcome:
    try:
        sent = transport.send(recipient, message, key=row.key, conversation=row.channel_id, thread=thread_ts,
                              data=payload)
    except TransportError as exc:
        if exc.rate_limited:
            update(services, row.key, state="pending", error="ratelimited")
            return Outcome(row.key, "pending", error="ratelimited", retry_after=exc.retry_after)
        if exc.permanent:
            update(services, row.key, state="failed", error=exc.code)
            log.warning("Delivery %s failed: %s", row.key, exc.code)
            return Outcome(row.key, "failed", error=exc.code)
        return _after_doubt(services, transport, row, recipient, exc.code)
    except Exception as exc:  # dropped connection, timeout: the platform may have stored it
        return _after_doubt(services, transport, row, recipient, type(exc).__name__)
    update(services, row.key, state="sent", ts=sent.id, channel_id=sent.conversation, error=None)
    return Outcome(row.key, "sent", sent.id, sent.conversation)


def _after_doubt(services: Services, transport: Transport, row: Delivery, recipient: str, error: str) -> Outcome:
    log.warning("Delivery %s in doubt after %s; checking the conversation", row.key, error)
    found = _resolve(services, transport, row, recipient)
    if found is not None:
        return found
    # Not in the conversation yet. A slow post can still be stored after the client gave up on
    # it, so the row stays "sending": the next attempt after IN_FLIGHT looks again before
    # posting (marking it "pending" here sent a late-landing post twice).
    update(services, row.key, state="sending", error=error[:200])
    return Outcome(row.key, "pending", error=error)


# ------------------------------------------------------------------------------ settling by hand
class SettleError(Exception):
    """A row that cannot be settled (no such key, or not in doubt); nothing was changed."""


SETTLED = {True: "sent", False: "pending"}


def settle(session: Session, key: str, *, arrived: bool, now: datetime,
           in_flight: timedelta = IN_FLIGHT) -> tuple[Delivery, str]:
    """What the operator learnt about a message in doubt (`plcbot jobs settle KEY`): it arrived
    (the row becomes "sent", so it is never sent again) or it did not ("pending", so the next
    run of its job sends it, once). Only a row in doubt may be settled: "unknown", or "sending"
    for longer than `in_flight` (a process that died mid-send). Returns the row, locked until
    the caller's transaction ends, and the state it was in. The caller commits and audits."""
    query = select(Delivery).where(Delivery.key == key).with_for_update()
    row = session.exec(query).first()
    if row is None:
        raise SettleError(f"no message with the key {key!r} in the delivery ledger; "
                          "`plcbot jobs` lists the messages in doubt with their keys.")
    before = row.state
    stuck = before == "sending" and now - row.updated_at >= in_flight
    if before != "unknown" and not stuck:
        why = {"sent": "it was delivered", "failed": "it could not be delivered and is never retried",
               "pending": "it has not been sent yet", "sending": "it is being sent right now"}.get(before, "")
        raise SettleError(f"the message {key!r} is {before}" + (f" ({why})" if why else "")
                          + "; only a message in doubt (unknown) can be settled. Nothing was changed.")
    row.state = SETTLED[arrived]
    row.error = None if arrived else NOT_ARRIVED
    if arrived:
        row.body = None
    row.updated_at = now
    session.add(row)
    session.flush()
    return row, before


def outcome_of(services: Services, key: str) -> Outcome | None:
    with services.db.read() as session:
        row = _load(session, key)
        if row is None:
            return None
        return Outcome(key, row.state, row.ts, row.channel_id, row.error)
