"""The one ledgered path for messages the bot owes someone: none lost, none doubled.

Each message has a key (for example `checkin:12:U123:3`). Its row goes pending → sending →
sent, and the key rides in the message's metadata. A row found in "sending" (the process died
mid-post, the connection dropped after Slack stored the message, a timeout) is resolved by
reading the conversation's history for that key before anything is sent again. Slack errors
that mean "this will never work" (a deactivated account, a channel the bot left) mark the row
failed so the caller can tell a facilitator; what cannot be resolved is left "unknown" and
reported to the operator, never guessed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError
from sqlmodel import Session, select

from storage.models import Delivery, Person

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger("plcbot.delivery")

EVENT_TYPE = "plcbot_delivery"
PERMANENT_ERRORS = frozenset(
    {
        "account_inactive",
        "channel_not_found",
        "cannot_dm_bot",
        "invalid_blocks",
        "is_archived",
        "msg_too_long",
        "no_text",
        "not_in_channel",
        "restricted_action",
        "user_disabled",
        "user_not_found",
        "user_not_visible",
    }
)
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

    @property
    def sent(self) -> bool:
        return self.state == "sent"


def _load(session: Session, key: str) -> Delivery | None:
    return session.exec(select(Delivery).where(Delivery.key == key)).first()


def _update(services: Services, key: str, **values: Any) -> None:
    with services.db.session() as session:
        row = _load(session, key)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = services.clock.now()
        session.add(row)


def _dm_channel(services: Services, recipient: str) -> str | None:
    """The D… id for a user (cached on the person), or the channel id itself."""
    if not recipient.startswith(("U", "W")):
        return recipient
    with services.db.read() as session:
        person = session.exec(select(Person).where(Person.slack_user_id == recipient)).first()
        if person is not None and person.dm_channel_id:
            return person.dm_channel_id
    response = services.slack.conversations_open(users=recipient)
    channel_id: str = response["channel"]["id"]
    remember_dm_channel(services, recipient, channel_id)
    return channel_id


def remember_dm_channel(services: Services, user_id: str, channel_id: str) -> None:
    if not channel_id.startswith("D"):
        return
    with services.db.session() as session:
        person = session.exec(select(Person).where(Person.slack_user_id == user_id)).first()
        if person is not None and person.dm_channel_id != channel_id:
            person.dm_channel_id = channel_id
            session.add(person)


HISTORY_PAGES = 5


def find_in_history(services: Services, channel_id: str, key: str) -> dict[str, Any] | None:
    """Look for the message carrying `key` in its metadata among the newest messages.

    A row is in doubt for minutes, not months, so the newest 1,000 messages of the conversation
    hold it if Slack stored it. No `oldest` bound: it would compare our clock with Slack's.
    """
    cursor: str | None = None
    for _ in range(HISTORY_PAGES):
        response = services.slack.conversations_history(
            channel=channel_id, include_all_metadata=True, limit=200, cursor=cursor
        )
        messages: list[dict[str, Any]] = response.get("messages", [])
        for found in messages:
            meta = found.get("metadata") or {}
            if meta.get("event_type") == EVENT_TYPE and (meta.get("event_payload") or {}).get("key") == key:
                return dict(found)
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if not response.get("has_more") or not cursor:
            return None
    return None


def _claim(services: Services, *, key: str, kind: str, recipient: str, job_id: int | None) -> tuple[str, Delivery]:
    """Create or read the row and decide what to do: 'done', 'resolve', 'send' or 'busy'."""
    now = services.clock.now()
    with services.db.session() as session:
        row = _load(session, key)
        if row is None:
            row = Delivery(key=key, kind=kind, recipient=recipient, job_id=job_id, created_at=now, updated_at=now)
            session.add(row)
            session.flush()
        if row.state in ("sent", "failed"):
            return "done", row
        if row.state == "sending" and now - row.updated_at < IN_FLIGHT:
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
    text: str,
    blocks: list[dict[str, Any]] | None = None,
    thread_ts: str | None = None,
    job_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> Outcome:
    """Send the message owed under `key` unless it was already sent; safe to call again."""
    decision, row = _claim(services, key=key, kind=kind, recipient=recipient, job_id=job_id)
    if decision == "done":
        return Outcome(key, row.state, row.ts, row.channel_id, row.error, already=row.state == "sent")
    if decision == "busy":
        return Outcome(key, "in_flight")
    if decision == "resolve":
        found = _resolve(services, row)
        if found is not None:
            return found
    return _post(services, row, text=text, blocks=blocks, thread_ts=thread_ts, payload=payload)


def _resolve(services: Services, row: Delivery) -> Outcome | None:
    """Settle a row left in doubt: sent if the history has it; None means safe to send."""
    try:
        channel_id = row.channel_id or _dm_channel(services, row.recipient)
        assert channel_id is not None
        message: dict[str, Any] | None = find_in_history(services, channel_id, row.key)
    except SlackApiError as exc:
        error = str(exc.response.get("error", "unknown_error"))
        if error in PERMANENT_ERRORS:
            _update(services, row.key, state="failed", error=error)
            return Outcome(row.key, "failed", error=error)
        return _unknown(services, row, error)
    except Exception as exc:  # network trouble: we still do not know
        return _unknown(services, row, type(exc).__name__)
    if message is None:
        return None
    _update(services, row.key, state="sent", ts=message.get("ts"), channel_id=channel_id, error=None)
    log.info("Delivery %s was already in the conversation; not sent again", row.key)
    return Outcome(row.key, "sent", message.get("ts"), channel_id, already=True)


def _unknown(services: Services, row: Delivery, error: str) -> Outcome:
    _update(services, row.key, state="unknown", error=f"unresolved: {error}"[:200])
    log.error(
        "Delivery %s could not be checked against Slack (%s); left for `plcbot jobs run` to retry",
        row.key, error,
    )
    return Outcome(row.key, "unknown", error=error)


def _post(
    services: Services,
    row: Delivery,
    *,
    text: str,
    blocks: list[dict[str, Any]] | None,
    thread_ts: str | None,
    payload: dict[str, Any] | None,
) -> Outcome:
    metadata = {"event_type": EVENT_TYPE, "event_payload": {"key": row.key, **(payload or {})}}
    try:
        response = services.slack_send.chat_postMessage(
            channel=row.channel_id or row.recipient,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            metadata=metadata,
            unfurl_links=False,
            unfurl_media=False,
        )
    except SlackApiError as exc:
        error = str(exc.response.get("error", "unknown_error"))
        if exc.response.status_code == 429 or error == "ratelimited":
            _update(services, row.key, state="pending", error="ratelimited")
            return Outcome(row.key, "pending", error="ratelimited")
        if error in PERMANENT_ERRORS or exc.response.status_code < 500:
            _update(services, row.key, state="failed", error=error)
            log.warning("Delivery %s to %s failed: %s", row.key, row.recipient, error)
            return Outcome(row.key, "failed", error=error)
        return _after_doubt(services, row, error)
    except Exception as exc:  # dropped connection, timeout: Slack may have stored it
        return _after_doubt(services, row, type(exc).__name__)
    channel_id = response.get("channel")
    if row.recipient.startswith(("U", "W")) and channel_id:
        remember_dm_channel(services, row.recipient, channel_id)
    _update(services, row.key, state="sent", ts=response.get("ts"), channel_id=channel_id, error=None)
    return Outcome(row.key, "sent", response.get("ts"), channel_id)


def _after_doubt(services: Services, row: Delivery, error: str) -> Outcome:
    log.warning("Delivery %s in doubt after %s; checking the conversation", row.key, error)
    found = _resolve(services, row)
    if found is not None:
        return found
    # Not in the history yet. A slow post can still be stored after the client gave up on it,
    # so the row stays "sending": the next attempt after IN_FLIGHT looks in the history again
    # before posting (marking it "pending" here sent a late-landing post twice).
    _update(services, row.key, state="sending", error=error[:200])
    return Outcome(row.key, "pending", error=error)


def outcome_of(services: Services, key: str) -> Outcome | None:
    with services.db.read() as session:
        row = _load(session, key)
        if row is None:
            return None
        return Outcome(key, row.state, row.ts, row.channel_id, row.error)
