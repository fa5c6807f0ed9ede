"""The delivery ledger's transport for Slack: every Web API call the ledger and the digest
upload make, and what Slack's errors mean for them.

- A person is reached in their DM. `chat.postMessage(channel=USER_ID)` delivers there and
  answers with the DM's `D…` id, which is kept on the person (`Person.dm_channel_id`) and their
  Slack identity (`PersonIdentity.conversation_id`);
  `conversations.open` finds it when a method needs the DM itself (history, files).
- The ledger key rides in the message's metadata (`EVENT_TYPE`); a message in doubt is found
  by reading the conversation's newest messages with their metadata (`conversations.history`,
  needs `im:history` for DMs). A file is found there by its name.
- Reads and updates use `services.slack` (retries rate limits, server errors and dropped
  connections); posts and uploads use `services.slack_send`, which retries only 429s: a post
  retried after a dropped connection can land twice (see `bot.services`). Both are read at
  each call, so a client swapped on the services (tests with short timeouts) is used at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError
from sqlmodel import select

from bot import slack_views
from scheduling.transport import Rendered, Sent, TransportError
from storage.identities import set_slack_conversation
from storage.models import Person

if TYPE_CHECKING:
    from bot.services import Services

EVENT_TYPE = "plcbot_delivery"
# Slack errors that mean "this will never work" for that recipient or message.
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
GONE = frozenset({"message_not_found", "cant_update_message"})  # the message to update was deleted
# A message in doubt is minutes old, not months: the newest 1,000 messages of the conversation
# hold it if Slack stored it. No `oldest` bound: it would compare our clock with Slack's.
HISTORY_PAGES = 5


def _is_user(recipient: str) -> bool:
    return recipient.startswith(("U", "W"))


def translate(exc: SlackApiError, *, refused_is_permanent: bool = False) -> TransportError:
    """What a Slack error answer means for the ledger.

    `refused_is_permanent` for a post: Slack answered with an error other than a 429 or a 5xx,
    so it did not store the message and would refuse the same post again."""
    error = str(exc.response.get("error", "unknown_error"))
    status = exc.response.status_code
    if status == 429 or error == "ratelimited":
        headers = exc.response.headers or {}
        retry_after = headers.get("Retry-After", headers.get("retry-after"))
        try:
            seconds = float(retry_after) if retry_after is not None else None
        except (TypeError, ValueError):
            seconds = None
        return TransportError(error, rate_limited=True, retry_after=seconds)
    permanent = error in PERMANENT_ERRORS or (refused_is_permanent and status < 500)
    return TransportError(error, permanent=permanent, gone=error in GONE)


class SlackTransport:
    """`scheduling.transport.Transport` for Slack, over the services' Web API clients."""

    platform = "slack"

    def __init__(self, services: Services) -> None:
        self.services = services

    def render(self, view: object) -> Rendered:
        """A view model as Block Kit (`bot.slack_views`)."""
        return slack_views.render(view)

    # ------------------------------------------------------------------ conversations
    def conversation(self, recipient: str, known: str | None = None) -> str:
        """The DM's `D…` id for a user (cached on the person), or the channel id itself."""
        if known and (known.startswith("D") or not _is_user(recipient)):
            return known
        if not _is_user(recipient):
            return recipient
        with self.services.db.read() as session:
            person = session.exec(select(Person).where(Person.handle == recipient)).first()
            if person is not None and person.dm_channel_id:
                return person.dm_channel_id
        try:
            response = self.services.slack.conversations_open(users=recipient)
        except SlackApiError as exc:
            raise translate(exc) from exc
        channel_id: str = response["channel"]["id"]
        self.remember(recipient, channel_id)
        return channel_id

    def remember(self, user_id: str, channel_id: str) -> None:
        """Keep a person's DM id, so the next history read or upload needs no `conversations.open`."""
        if not channel_id.startswith("D"):
            return
        with self.services.db.session() as session:
            person = session.exec(select(Person).where(Person.handle == user_id)).first()
            if person is not None and person.dm_channel_id != channel_id:
                person.dm_channel_id = channel_id
                session.add(person)
                # The person's Slack identity holds the same DM (how the bot reaches them there).
                set_slack_conversation(session, person, now=self.services.clock.now())

    # ------------------------------------------------------------------ messages
    def send(self, recipient: str, message: Rendered, *, key: str, conversation: str | None = None,
             thread: str | None = None, data: Mapping[str, Any] | None = None) -> Sent:
        metadata = {"event_type": EVENT_TYPE, "event_payload": {"key": key, **(data or {})}}
        try:
            response = self.services.slack_send.chat_postMessage(
                channel=conversation or recipient,
                text=message.text,
                blocks=message.body,
                thread_ts=thread,
                metadata=metadata,
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as exc:
            raise translate(exc, refused_is_permanent=True) from exc
        channel_id = response.get("channel")
        if _is_user(recipient) and channel_id:
            self.remember(recipient, channel_id)
        return Sent(channel_id, response.get("ts"))

    def update(self, conversation: str, message_id: str, message: Rendered) -> None:
        try:
            self.services.slack.chat_update(channel=conversation, ts=message_id, text=message.text,
                                            blocks=message.body)
        except SlackApiError as exc:
            raise translate(exc) from exc

    def find(self, recipient: str, key: str, *, conversation: str | None = None) -> Sent | None:
        """The message carrying `key` in its metadata among the conversation's newest messages."""
        channel_id = self.conversation(recipient, conversation)

        def carries_key(found: dict[str, Any]) -> Sent | None:
            meta = found.get("metadata") or {}
            if meta.get("event_type") == EVENT_TYPE and (meta.get("event_payload") or {}).get("key") == key:
                return Sent(channel_id, found.get("ts"))
            return None

        return self._search(channel_id, carries_key, include_all_metadata=True)

    # ------------------------------------------------------------------ files
    def upload(self, recipient: str, content: bytes, *, filename: str, title: str, comment: str,
               conversation: str | None = None, key: str | None = None) -> Sent:
        dm = self.conversation(recipient, conversation)
        try:
            response = self.services.slack_send.files_upload_v2(
                channel=dm, file=content, filename=filename, title=title, initial_comment=comment,
                request_file_info=False,
            )
        except SlackApiError as exc:
            raise translate(exc) from exc
        shared = (response.get("files") or [{}])[0]
        return Sent(dm, str(shared.get("id") or ""))

    def find_file(self, recipient: str, filename: str, *, conversation: str | None = None) -> Sent | None:
        """The file named `filename` among the DM's newest messages, if it was shared there."""
        dm = self.conversation(recipient, conversation)

        def named(message: dict[str, Any]) -> Sent | None:
            for shared in message.get("files") or []:
                if shared.get("name") == filename or shared.get("title") == filename:
                    return Sent(dm, str(shared.get("id") or ""))
            return None

        return self._search(dm, named)

    def _search(self, channel_id: str, match: Callable[[dict[str, Any]], Sent | None],
                **history: Any) -> Sent | None:
        cursor: str | None = None
        for _ in range(HISTORY_PAGES):
            try:
                response = self.services.slack.conversations_history(channel=channel_id, limit=200, cursor=cursor,
                                                                     **history)
            except SlackApiError as exc:
                raise translate(exc) from exc
            messages: list[dict[str, Any]] = response.get("messages", [])
            for message in messages:
                found = match(message)
                if found is not None:
                    return found
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not response.get("has_more") or not cursor:
                return None
        return None
