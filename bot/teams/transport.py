"""The delivery ledger's transport for Microsoft Teams: every Bot Connector call the ledger and the
digest make, paced under Teams' limits, and what Teams' answers mean for them.

Mirrors `bot.slack_transport` on the Bot Connector REST API, with a synchronous `httpx` client
(the ledger runs on the scheduler's threads, not in asyncio):

- **Where a person is.** A Teams identity (`PersonIdentity`, platform "teams") holds the
  conversation reference: the 1:1 conversation id (`a:…`), the service URL, the tenant
  (`workspace`) and the user's Teams or Entra id (`external_id`). `conversation` answers the
  stored id, or creates the 1:1 chat (`POST {serviceUrl}/v3/conversations` with the member, the
  tenant and channelData, the way Teams lets a bot installed in the person's team start a chat)
  and stores its id on the identity. A team's place (`TeamPlace`) is its own conversation.
- **Messages.** `send` posts `{serviceUrl}/v3/conversations/{id}/activities` with the rendered
  Adaptive Card as an `application/vnd.microsoft.card.adaptive` attachment (`bot.teams_views`),
  the notification text as the activity's `summary`, and the ledger key in
  `channelData.plcbotDelivery`. `update` is `PUT …/activities/{id}`.
- **In doubt (`find`).** Teams gives bots no conversation history (nothing like Slack's
  `conversations.history`; reading a chat back needs Microsoft Graph with resource-specific
  consent, which this bot does not ask for). So a send whose outcome is unknown (a dropped
  connection or a timeout after Teams may have stored it, a 500/503, a crash between the
  ledger's claim and its record) is *never* repeated blindly: `find` raises
  `TransportError("teams_no_history")`, neither permanent nor rate limited, and the ledger records
  the row "unknown" and reports it to the operator (its log, and the job's error after its
  retries). A person may then have one card too few, never one too many.
- **Limits.** Every Bot Connector request waits its turn in a `Pacer` shared by the round's
  threads: per conversation 7/s, 8 in 2 s, 60 in 30 s, 1,800 an hour; per app and tenant 50/s.
  Reading members (`op="members"`) is not a message: it counts against the app and the
  conversation's own read budget (14/s, 16 in 2 s, 120 in 30 s, 3,600 an hour), never its messages'.
  A 429 waits `Retry-After` (`retry-after-ms` when given), else exponential backoff with jitter;
  412, 502 and 504 are retried the same way (Microsoft's guidance for bots); a connection never
  made is retried too. After `max_retries`, a `TransportError(rate_limited=True)`: the ledger
  keeps the row pending and the job tries again later. A 401 fetches a fresh token once.
- **Unreachable people.** 403 and 404 (the app uninstalled, the user gone,
  `ConversationBlockedByUser`, `BotNotInConversationRoster`) and refused messages (400, 413) are
  permanent: the ledger marks that row failed and the round goes on.
- **Files.** Teams lets a bot send a file only in the personal chat, through the file consent
  card. `upload` sends that card (name, size, description; `acceptContext` carries the ledger key,
  the file name, size and SHA-256) and returns `Sent(conversation, "consent:<activity id>")`:
  the ledger's file row is "sent" (the offer is delivered, once), and `consent_pending(sent.id)`
  tells it apart from an uploaded file. When the person accepts, the `fileConsent/invoke`
  handler calls `complete_upload(upload_info, content)`, which PUTs the bytes to the upload URL
  (never with the bot's token) and sends the file info card. `find_file` cannot look either.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
from sqlmodel import select

from bot import teams_views
from bot.teams.auth import BOT_SCOPE, BotTokenProvider, TokenError
from bot.teams.pacing import Pacer
from scheduling.transport import Rendered, Sent, TransportError
from storage.models import PersonIdentity, TeamPlace
from storage.models.identities import TEAMS

if TYPE_CHECKING:
    from bot.settings import Settings
    from storage.db import Database

log = logging.getLogger("plcbot.teams.transport")

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
FILE_CONSENT = "application/vnd.microsoft.teams.card.file.consent"
FILE_INFO = "application/vnd.microsoft.teams.card.file.info"
KEY_FIELD = "plcbotDelivery"  # channelData.plcbotDelivery = {"key": ledger key, ...data}
CONSENT_PREFIX = "consent:"
NO_HISTORY = "teams_no_history"

RETRY_STATUSES = frozenset({412, 502, 504})  # Microsoft: retry these, and 429
UNREACHABLE_STATUSES = frozenset({403, 404})
REFUSED_STATUSES = frozenset({400, 413})
MAX_RETRIES = 6
BACKOFF_BASE = 0.5
BACKOFF_CAP = 20.0
MAX_WAIT = 60.0  # a Retry-After longer than this is handed back to the ledger instead of slept through
UPLOAD_CHUNK = 320 * 1024 * 12  # OneDrive upload sessions take multiples of 320 KiB


@dataclass(frozen=True)
class Reference:
    """How to reach a recipient: the conversation (None until a 1:1 chat is made), where to post,
    the tenant, and the user's id for creating the chat (None for a team's place)."""

    conversation_id: str | None
    service_url: str | None
    tenant_id: str
    user_id: str | None


_DIGEST_FILE_KEY = re.compile(r"^digest-file(?:-now)?:(\d+):(\d{4}-W\d{2}):")


def consent_pending(sent_id: str | None) -> bool:
    """True for the id `upload` returns: a file consent card offered, the file not uploaded yet."""
    return bool(sent_id) and str(sent_id).startswith(CONSENT_PREFIX)


def _info(upload_info: Any, *names: str) -> str:
    """A field of a fileConsent/invoke `uploadInfo`, as a dict (camelCase) or an SDK model (snake_case)."""
    for name in names:
        value = upload_info.get(name) if isinstance(upload_info, Mapping) else getattr(upload_info, name, None)
        if value:
            return str(value)
    raise ValueError(f"uploadInfo has no {names[0]}")


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"http_{response.status_code}"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("code"):
        return str(error["code"])
    if isinstance(error, str):
        return error
    return f"http_{response.status_code}"


def _retry_after(response: httpx.Response) -> float | None:
    """The wait a 429 asks for: `retry-after-ms` when given (finer), else `Retry-After` seconds."""
    for name, scale in (("retry-after-ms", 0.001), ("Retry-After", 1.0)):
        value = response.headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            continue
    return None


class TeamsTransport:
    """`scheduling.transport.Transport` for Microsoft Teams, over the Bot Connector REST API."""

    platform = "teams"

    def __init__(self, db: Database, *, tokens: BotTokenProvider, client_id: str, tenant_id: str,
                 http: httpx.Client | None = None, pacer: Pacer | None = None, timeout: float = 15.0,
                 max_retries: int = MAX_RETRIES, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None) -> None:
        self.db = db
        self.tokens = tokens
        self.client_id = client_id
        self.tenant_id = tenant_id
        self.http = http or httpx.Client(timeout=timeout, limits=httpx.Limits(max_connections=64,
                                                                              max_keepalive_connections=32))
        self.pacer = pacer or Pacer()
        self.max_retries = max_retries
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self._service_urls: dict[str, str] = {}  # conversation id -> service URL
        self._lock = threading.Lock()
        self.retries: dict[str, int] = {}  # why requests were retried (the benchmark prints it)

    @classmethod
    def from_settings(cls, settings: Settings, db: Database, **options: Any) -> TeamsTransport:
        """The transport for the bot registration in `settings` (TEAMS_CLIENT_ID, _SECRET, _TENANT_ID,
        TEAMS_LOGIN_URL), paced under TEAMS_APP_RATE requests a second."""
        assert settings.teams_client_id and settings.teams_tenant_id, "Teams is not configured"
        tokens = BotTokenProvider(client_id=settings.teams_client_id, client_secret=settings.teams_client_secret or "",
                                  tenant_id=settings.teams_tenant_id, login_url=settings.teams_login_url)
        options.setdefault("pacer", Pacer(app_windows=((1.0, settings.teams_app_rate),)))
        return cls(db, tokens=tokens, client_id=settings.teams_client_id, tenant_id=settings.teams_tenant_id,
                   **options)

    def render(self, view: object) -> Rendered:
        """A view model as an Adaptive Card (`bot.teams_views`): (summary text, card)."""
        text, card = teams_views.render(view)
        return Rendered(text, card)

    # ------------------------------------------------------------------ conversations
    def reference(self, recipient: str) -> Reference | None:
        """The stored reference for a person's Teams id, their 1:1 conversation id, or a team's place."""
        with self.db.read() as session:
            identity = session.exec(select(PersonIdentity).where(
                PersonIdentity.platform == TEAMS, PersonIdentity.external_id == recipient)).first()
            if identity is None:
                identity = session.exec(select(PersonIdentity).where(
                    PersonIdentity.platform == TEAMS, PersonIdentity.conversation_id == recipient)).first()
            if identity is not None:
                return Reference(identity.conversation_id, identity.service_url, identity.workspace or self.tenant_id,
                                 identity.external_id)
            place = session.exec(select(TeamPlace).where(TeamPlace.platform == TEAMS,
                                                         TeamPlace.place_id == recipient)).first()
            if place is not None:
                return Reference(place.place_id, place.service_url, place.workspace or self.tenant_id, None)
        return None

    def conversation(self, recipient: str, known: str | None = None) -> str:
        """The stored conversation id, or a new 1:1 chat (its id stored on the person's identity)."""
        if known and known in self._service_urls:
            return known
        ref = self.reference(recipient) or (self.reference(known) if known else None)
        if ref is None:
            raise TransportError("no_teams_identity", permanent=True)
        if not ref.service_url:
            raise TransportError("no_service_url", permanent=True)
        cid = known or ref.conversation_id
        if cid:
            self._remember(cid, ref.service_url)
            return cid
        assert ref.user_id is not None
        body = {
            "bot": {"id": f"28:{self.client_id}"},
            "members": [{"id": ref.user_id}],
            "isGroup": False,
            "tenantId": ref.tenant_id,
            "channelData": {"tenant": {"id": ref.tenant_id}},
        }
        # Creating a 1:1 chat is idempotent in Teams (the same chat comes back), so it is retried
        # after a dropped connection as well.
        answer = self._request("POST", self._url(ref.service_url), op="create_conversation", json=body,
                               conversation=None, idempotent=True)
        cid = str(answer.get("id") or "")
        if not cid:
            raise TransportError("no_conversation_id")
        self._remember(cid, ref.service_url)
        self._store_conversation(recipient, cid)
        return cid

    def _remember(self, conversation: str, service_url: str) -> None:
        with self._lock:
            self._service_urls[conversation] = service_url

    def remember_conversation(self, conversation: str, service_url: str) -> None:
        """Where a conversation is, from a validated incoming activity (its `serviceUrl`): the answer to
        a message typed there is sent there, with no stored reference (a channel with no PLC team yet)."""
        self._remember(conversation, service_url)

    def _store_conversation(self, recipient: str, conversation: str) -> None:
        with self.db.session() as session:
            for identity in session.exec(select(PersonIdentity).where(
                    PersonIdentity.platform == TEAMS, PersonIdentity.external_id == recipient)).all():
                if identity.conversation_id != conversation:
                    identity.conversation_id = conversation
                    session.add(identity)

    def _service_url(self, conversation: str) -> str:
        with self._lock:
            found = self._service_urls.get(conversation) or self._service_urls.get(conversation.split(";", 1)[0])
        if found:
            return found
        ref = self.reference(conversation) or self.reference(conversation.split(";", 1)[0])
        if ref is None or not ref.service_url:
            raise TransportError("no_service_url", permanent=True)
        self._remember(conversation, ref.service_url)
        return ref.service_url

    @staticmethod
    def _url(service_url: str, conversation: str | None = None, *rest: str) -> str:
        url = service_url.rstrip("/") + "/v3/conversations"
        if conversation is not None:
            url += "/" + quote(conversation, safe=":@;=")
        for part in rest:
            url += "/" + quote(part, safe=":@;=")
        return url

    # ------------------------------------------------------------------ messages
    @staticmethod
    def activity(message: Rendered, *, key: str | None = None, data: Mapping[str, Any] | None = None,
                 activity_id: str | None = None) -> dict[str, Any]:
        """The message activity for `message`: its card as an attachment, its text as the summary
        (a body that is not an Adaptive Card, such as Slack blocks, is left out: the text is sent).
        A body that is a message activity already (the front's answer to a typed command: its text
        and card, as Teams shows a reply) is sent as it is, with the key added."""
        body = message.body
        if isinstance(body, dict) and body.get("type") == "message":
            activity: dict[str, Any] = dict(body)
            if activity_id:
                activity["id"] = activity_id
            if key is not None:
                activity["channelData"] = {**(activity.get("channelData") or {}),
                                           KEY_FIELD: {"key": key, **(data or {})}}
            return activity
        activity = {"type": "message"}
        if activity_id:
            activity["id"] = activity_id
        if isinstance(body, dict) and body.get("type") == "AdaptiveCard":
            activity["attachments"] = [{"contentType": ADAPTIVE_CARD, "content": body}]
            if message.text:
                activity["summary"] = message.text
        else:
            activity["text"] = message.text
        if key is not None:
            activity["channelData"] = {KEY_FIELD: {"key": key, **(data or {})}}
        return activity

    def send(self, recipient: str, message: Rendered, *, key: str, conversation: str | None = None,
             thread: str | None = None, data: Mapping[str, Any] | None = None) -> Sent:
        cid = self.conversation(recipient, conversation)
        url = self._url(self._service_url(cid), cid, "activities", *([thread] if thread else []))
        answer = self._request("POST", url, op="send", json=self.activity(message, key=key, data=data),
                               conversation=cid)
        return Sent(cid, str(answer.get("id") or "") or None)

    def update(self, conversation: str, message_id: str, message: Rendered) -> None:
        url = self._url(self._service_url(conversation), conversation, "activities", message_id)
        self._request("PUT", url, op="update", json=self.activity(message, activity_id=message_id),
                      conversation=conversation, idempotent=True)

    def post(self, conversation: str, activity: Mapping[str, Any], *, service_url: str) -> Sent:
        """Post an activity as it is into `conversation` at `service_url` (what a Teams invoke owes
        its own conversation once answered: the set-up card in the channel, a file info card),
        paced and retried like every message."""
        self._remember(conversation, service_url)
        answer = self._request("POST", self._url(service_url, conversation, "activities"), op="send",
                               json=dict(activity), conversation=conversation)
        return Sent(conversation, str(answer.get("id") or "") or None)

    def put(self, conversation: str, activity_id: str, activity: Mapping[str, Any], *, service_url: str) -> None:
        """Replace a message of `conversation` with `activity` as it is (paced, retried: idempotent)."""
        self._remember(conversation, service_url)
        self._request("PUT", self._url(service_url, conversation, "activities", activity_id), op="update",
                      json={**activity, "id": activity_id}, conversation=conversation, idempotent=True)

    def find(self, recipient: str, key: str, *, conversation: str | None = None) -> Sent | None:
        """Teams keeps no history a bot can read: the row stays in doubt for the operator.

        Raises `TransportError("teams_no_history")` (neither permanent nor rate limited), which the
        ledger records as "unknown" and reports; it never answers None ("surely not sent"), which
        would make the ledger send again a message Teams may hold."""
        log.warning("Delivery %s to %s is in doubt and Teams cannot be asked whether it holds it; "
                    "left for the operator, not resent", key, recipient)
        raise TransportError(NO_HISTORY)

    # ------------------------------------------------------------------ files
    def upload(self, recipient: str, content: bytes, *, filename: str, title: str, comment: str,
               conversation: str | None = None, key: str | None = None) -> Sent:
        """Offer the file with a file consent card in the personal chat; `Sent.id` is
        "consent:<activity id>" (see `consent_pending`). The bytes go up in `complete_upload`."""
        cid = self.conversation(recipient, conversation)
        if cid.startswith("19:"):
            raise TransportError("files_only_in_personal_chat", permanent=True)
        context: dict[str, Any] = {"plcbot": "file", "key": key, "recipient": recipient, "filename": filename,
                                   "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
        # The fileConsent/invoke handler (`bot.teams.invokes.consent_offer`) needs the digest's school
        # and week beside its ledger key; both are in a digest file key (`scheduling.keys.digest_file`).
        digest = _DIGEST_FILE_KEY.match(key or "")
        if digest is not None:
            context.update(school_id=int(digest[1]), week=digest[2])
        activity: dict[str, Any] = {
            "type": "message",
            "summary": title,
            "attachments": [{
                "contentType": FILE_CONSENT,
                "name": filename,
                "content": {"description": comment or title, "sizeInBytes": len(content),
                            "acceptContext": context, "declineContext": context},
            }],
            "channelData": {KEY_FIELD: {"key": key or f"file:{filename}", "file": filename}},
        }
        answer = self._request("POST", self._url(self._service_url(cid), cid, "activities"), op="send",
                               json=activity, conversation=cid)
        return Sent(cid, CONSENT_PREFIX + str(answer.get("id") or ""))

    def find_file(self, recipient: str, filename: str, *, conversation: str | None = None) -> Sent | None:
        """As `find`: Teams cannot be asked which files a chat holds, so this stays in doubt."""
        log.warning("File %s for %s is in doubt and Teams cannot be asked whether it holds it", filename, recipient)
        raise TransportError(NO_HISTORY)

    def complete_upload(self, upload_info: Any, content: bytes, *, conversation: str,
                        service_url: str | None = None) -> Sent:
        """After the person accepted: PUT `content` to `uploadInfo.uploadUrl` in ranges, then send
        the file info card into `conversation`. `Sent.id` is the file's `uniqueId`."""
        upload_url = _info(upload_info, "uploadUrl", "upload_url")
        name = _info(upload_info, "name")
        unique_id = _info(upload_info, "uniqueId", "unique_id")
        content_url = _info(upload_info, "contentUrl", "content_url")
        try:
            file_type = _info(upload_info, "fileType", "file_type")
        except ValueError:
            file_type = name.rsplit(".", 1)[-1] if "." in name else ""
        total = len(content)
        start = 0
        while True:
            chunk = content[start:start + UPLOAD_CHUNK]
            last = start + len(chunk) - 1
            headers = {"Content-Range": f"bytes {start}-{last}/{total}", "Content-Type": "application/octet-stream"}
            # A pre-authenticated OneDrive URL: the bot's token is never sent there.
            self._request("PUT", upload_url, op="upload", content=chunk, headers=headers, conversation=None,
                          paced=False, authorized=False, idempotent=False)
            start += len(chunk)
            if start >= total:
                break
        if service_url:
            self._remember(conversation, service_url)
        card = {"type": "message", "attachments": [{
            "contentType": FILE_INFO, "contentUrl": content_url, "name": name,
            "content": {"uniqueId": unique_id, "fileType": file_type},
        }]}
        self._request("POST", self._url(self._service_url(conversation), conversation, "activities"), op="send",
                      json=card, conversation=conversation)
        return Sent(conversation, unique_id)

    # ------------------------------------------------------------------ HTTP
    def _backoff(self, attempt: int) -> float:
        return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** attempt) * (0.5 + self._rng.random() / 2)

    def _count(self, why: str) -> None:
        with self._lock:
            self.retries[why] = self.retries.get(why, 0) + 1

    def _request(self, method: str, url: str, *, op: str, conversation: str | None, json: Any = None,
                 content: bytes | None = None, headers: Mapping[str, str] | None = None, paced: bool = True,
                 authorized: bool = True, idempotent: bool = False) -> dict[str, Any]:
        """One Bot Connector call with pacing, the token, bounded retries and Teams' errors translated.

        A dropped connection or timeout after the request went out is raised as it is (the
        ledger's "in doubt") unless the call is `idempotent`; one that never connected is retried."""
        refreshed = False
        for attempt in range(self.max_retries + 1):
            final = attempt == self.max_retries
            if paced:
                # A members read (the set-up's roster, a member's profile) has its own budget, not the messages'.
                self.pacer.acquire(conversation, read=op == "members")
            all_headers = dict(headers or {})
            token = None
            if authorized:
                try:
                    token = self.tokens.token(BOT_SCOPE)
                except TokenError as exc:
                    raise TransportError(f"token_{exc.code}", rate_limited=True) from None
                all_headers["Authorization"] = f"Bearer {token}"
            try:
                response = self.http.request(method, url, json=json, content=content, headers=all_headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Never reached Teams: safe to try again.
                if final:
                    raise TransportError(f"connect_failed_{type(exc).__name__}", rate_limited=True) from None
                self._count("connect")
                self._sleep(self._backoff(attempt))
                continue
            except httpx.TransportError:
                if idempotent and not final:
                    self._count("dropped")
                    self._sleep(self._backoff(attempt))
                    continue
                raise  # it may have been stored: the ledger treats it as in doubt
            status = response.status_code
            if status < 300:
                try:
                    answer = response.json() if response.content else {}
                except ValueError:
                    answer = {}
                return answer if isinstance(answer, dict) else {}
            code = _error_code(response)
            if status == 401 and authorized and not refreshed and token is not None:
                self.tokens.invalidate(token)  # expired or revoked early: one fresh token, once
                refreshed = True
                continue
            if status == 429:
                wait = _retry_after(response)
                if final or (wait is not None and wait > MAX_WAIT):
                    raise TransportError(code, rate_limited=True, retry_after=wait)
                self._count("429")
                self._sleep(wait if wait is not None else self._backoff(attempt))
                continue
            if status in RETRY_STATUSES:
                if final:
                    # Microsoft's guidance treats these as "not done, try again": the ledger retries later.
                    raise TransportError(code, rate_limited=True)
                self._count(str(status))
                self._sleep(self._backoff(attempt))
                continue
            if status == 401:
                raise TransportError("unauthorized", rate_limited=True)
            if status in UNREACHABLE_STATUSES:
                gone = op == "update" and status == 404  # the card to replace was deleted
                raise TransportError(code, permanent=not gone, gone=gone)
            if status in REFUSED_STATUSES:
                raise TransportError(code, permanent=True)
            raise TransportError(code)  # a 500 or 503: Teams may have acted; in doubt
        raise TransportError("retries_exhausted", rate_limited=True)  # pragma: no cover - loop returns or raises


def complete_upload(upload_info: Any, content: bytes, *, transport: TeamsTransport, conversation: str,
                    service_url: str | None = None) -> Sent:
    """The `fileConsent/invoke` accept path: upload `content` and send the file info card
    (`TeamsTransport.complete_upload`)."""
    return transport.complete_upload(upload_info, content, conversation=conversation, service_url=service_url)
