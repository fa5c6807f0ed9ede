"""How the ledger reaches people: one transport per chat platform, behind one interface.

The delivery ledger (`scheduling.delivery`) decides *whether* a message or file is owed and
records what happened; a transport only carries it. Each platform implements `Transport`
(Slack: `bot.slack_transport.SlackTransport`) and the ledger never sees a platform's client,
its error classes or its message format:

- a message is a view model (`storage.views`) that the transport renders natively (`render`),
  or an already `Rendered` one: the plain text every platform shows in notifications, and a
  body only the platform's own transport reads (Slack: Block Kit blocks);
- a sent message or file is a `Sent`: the conversation it is in and its id there (Slack: the
  channel or DM id and the message's ts or the file's id; Teams: a conversation id and an
  activity id);
- a platform's error becomes a `TransportError` that says what it means for the ledger
  (permanent, rate limited, gone). Anything else a transport raises means "in doubt": the
  platform may have acted, and the ledger looks (`find`, `find_file`) before trying again.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from storage.db import Database
from storage.identities import platform_of


@dataclass(frozen=True)
class Rendered:
    """A message ready for one platform: `text` for notifications and fallbacks, `body` for
    the platform's transport only (Slack: a list of Block Kit blocks). The ledger never looks inside."""

    text: str
    body: Any = None


@dataclass(frozen=True)
class Sent:
    """Where a sent message or uploaded file is: its conversation and its id there."""

    conversation: str | None
    id: str | None


class TransportError(Exception):
    """The platform answered and did not do it.

    `permanent`: it never will for this recipient and message (a deactivated account, a channel
    the bot left, a message the platform refuses): the ledger marks the row failed.
    `rate_limited`: not now; `retry_after` seconds when the platform said. `gone`: the message
    to update no longer exists. Neither permanent nor rate limited: the platform may have acted
    (a server error), so the ledger treats it as in doubt.
    """

    def __init__(self, code: str, *, permanent: bool = False, rate_limited: bool = False,
                 retry_after: float | None = None, gone: bool = False) -> None:
        super().__init__(code)
        self.code = code
        self.permanent = permanent
        self.rate_limited = rate_limited
        self.retry_after = retry_after
        self.gone = gone


class Transport(Protocol):
    """One chat platform, as the ledger uses it. `recipient` is the id the ledger row keeps
    (a person's or a channel's id on that platform); `conversation`, when given, is where an
    earlier call found or sent to them, so the transport need not look it up again."""

    platform: str

    def render(self, view: object) -> Rendered:
        """`view` (a `storage.views` view model) as this platform shows it; TypeError for a view
        the platform has no renderer for."""
        ...

    def conversation(self, recipient: str, known: str | None = None) -> str:
        """The conversation that reaches `recipient` (a person's direct messages, or the channel);
        the transport remembers it where it keeps people's addresses."""
        ...

    def send(self, recipient: str, message: Rendered, *, key: str, conversation: str | None = None,
             thread: str | None = None, data: Mapping[str, Any] | None = None) -> Sent:
        """Post `message` carrying its ledger `key` (and `data`) so that `find` can find it."""
        ...

    def update(self, conversation: str, message_id: str, message: Rendered) -> None:
        """Replace a sent message in place; `TransportError(gone=True)` when it no longer exists."""
        ...

    def find(self, recipient: str, key: str, *, conversation: str | None = None) -> Sent | None:
        """The message sent under `key`, if the platform holds it; None when it surely does not."""
        ...

    def upload(self, recipient: str, content: bytes, *, filename: str, title: str, comment: str,
               conversation: str | None = None) -> Sent:
        """Share a file with `recipient`; `Sent.id` is the file's id."""
        ...

    def find_file(self, recipient: str, filename: str, *, conversation: str | None = None) -> Sent | None:
        """The file named `filename` shared with `recipient`, if the platform holds it."""
        ...


class Transports:
    """The transports by platform, and which one reaches a recipient.

    A recipient is the id the ledger keeps: a person's id on their platform (their identity's
    `external_id`) or a team's place there. `for_recipient` looks it up (`storage.identities.
    platform_of`, one indexed query) and hands back that platform's transport; an id no identity
    or place holds goes to `default` (Slack, where everyone known before identities is). Which
    platform an id belongs to never changes (a Slack user id is never a Teams one), so found
    answers are kept: a round to thousands asks once per person, and a process once in all.
    A platform with no transport here (Teams people while only Slack runs) gets `Unreachable`,
    whose every call fails permanently: the ledger records the row failed, the others go on.
    """

    CACHE_LIMIT = 100_000

    def __init__(self, by_platform: Mapping[str, Transport], *, default: str, db: Database | None = None) -> None:
        self.by_platform = dict(by_platform)
        self.default = default
        self.db = db
        self._platforms: dict[str, str] = {}
        self._lock = threading.Lock()

    def __getitem__(self, platform: str) -> Transport:
        return self.by_platform[platform]

    def platform_of(self, recipient: str) -> str:
        """The platform `recipient` is known on, or the default."""
        found = self._platforms.get(recipient)
        if found is not None:
            return found
        if self.db is None:
            return self.default
        with self.db.read() as session:
            found = platform_of(session, recipient)
        if found is None:  # not kept: an identity or place for it may be added later
            return self.default
        with self._lock:
            if len(self._platforms) >= self.CACHE_LIMIT:
                self._platforms.clear()
            self._platforms[recipient] = found
        return found

    def for_recipient(self, recipient: str) -> Transport:
        platform = self.platform_of(recipient)
        transport = self.by_platform.get(platform)
        return transport if transport is not None else Unreachable(platform)


class Unreachable:
    """The transport of a platform this process does not serve: every call is refused for good."""

    def __init__(self, platform: str) -> None:
        self.platform = platform

    def _refuse(self) -> TransportError:
        return TransportError(f"no_transport_for_{self.platform}", permanent=True)

    def render(self, view: object) -> Rendered:
        """Nothing to render for a platform not served: the send that follows is refused and the
        ledger records why, for that row only."""
        return Rendered("")

    def conversation(self, recipient: str, known: str | None = None) -> str:
        raise self._refuse()

    def send(self, recipient: str, message: Rendered, *, key: str, conversation: str | None = None,
             thread: str | None = None, data: Mapping[str, Any] | None = None) -> Sent:
        raise self._refuse()

    def update(self, conversation: str, message_id: str, message: Rendered) -> None:
        raise self._refuse()

    def find(self, recipient: str, key: str, *, conversation: str | None = None) -> Sent | None:
        raise self._refuse()

    def upload(self, recipient: str, content: bytes, *, filename: str, title: str, comment: str,
               conversation: str | None = None) -> Sent:
        raise self._refuse()

    def find_file(self, recipient: str, filename: str, *, conversation: str | None = None) -> Sent | None:
        raise self._refuse()
