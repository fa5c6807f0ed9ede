"""A Microsoft Teams double serving real HTTP on loopback.

One server plays three Microsoft services, so the bot's Teams front can run over real HTTP with
no Microsoft service at all:

- the **identity provider**: OpenID metadata at ``/v1/.well-known/openidconfiguration`` with its
  own RSA signing key at ``/v1/.well-known/keys`` (what ``TEAMS_OPENID_METADATA_URL`` points at), a
  client-credentials token endpoint at ``/{tenant}/oauth2/v2.0/token`` (``TEAMS_LOGIN_URL`` is the
  base URL), and :meth:`TeamsDouble.sign_for_bot` to mint the JWTs Teams puts on the activities it
  sends to the bot;
- the **Bot Connector** under ``/v3/conversations``: create a 1:1 chat, send, reply, update and
  delete activities, read the roster paged; every call needs a token from the token endpoint, is
  recorded, and goes through Teams' limits and any injected fault;
- **OneDrive's upload session** for file consent: ``PUT /upload/{uniqueId}`` with ``Content-Range``.

Activities the bot sends are kept per conversation with every version, so tests read what each
person saw. The base URL (with a trailing slash, as Teams sends it) is the ``serviceUrl`` of the
activities the :class:`~bot.teams_double.user.TeamsUser` driver sends.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.double_server import LoopbackServer

from . import limits

T = TypeVar("T")

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
BOT_FRAMEWORK_SCOPE = "https://api.botframework.com/.default"
OPENID_PATH = "/v1/.well-known/openidconfiguration"
KEYS_PATH = "/v1/.well-known/keys"
CONNECTOR_OPS = ("create_conversation", "send", "update", "delete", "members")
UNREACHABLE_CODES = {
    "ConversationBlockedByUser": 403,
    "BotNotInConversationRoster": 403,
    "NotFound": 404,
}
_TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/token$")


@dataclass
class Call:
    """One request the double received, in arrival order.

    ``op`` is token, create_conversation, send, update, delete, members, upload, file or metadata;
    ``status`` is 0 when the connection was dropped without an answer.
    """

    op: str
    method: str
    path: str
    body: Any
    query: dict = field(default_factory=dict)
    status: int = 0
    at: float = field(default_factory=time.time)
    error: str | None = None


@dataclass
class _Fault:
    kind: str  # rate_limit | server_error | slow | drop
    times: int | None
    status: int = 500
    retry_after: float = 1.0
    seconds: float = 0.0
    after_effect: bool = False


@dataclass
class _Outcome:
    status: int
    body: dict | list | bytes | str | None
    headers: dict = field(default_factory=dict)
    drop: bool = False
    delay_after: float = 0.0


class _ConnectorError(Exception):
    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(code)
        self.status, self.code, self.message = status, code, message or code


def _error(status: int, code: str, message: str = "") -> _Outcome:
    return _Outcome(status, {"error": {"code": code, "message": message or code}})


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"


_KEYS: list[rsa.RSAPrivateKey] = []
_KEYS_LOCK = threading.Lock()


def _signing_keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """The published key and a foreign one, generated once per process (2048-bit RSA takes ~0.2 s).

    Each double still publishes its own kid, so a token minted by one double is refused by another.
    """
    with _KEYS_LOCK:
        while len(_KEYS) < 2:
            _KEYS.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        return _KEYS[0], _KEYS[1]


def _card_contents(activity: dict) -> list[dict]:
    return [
        a["content"]
        for a in activity.get("attachments") or []
        if isinstance(a, dict) and a.get("contentType") == limits.ADAPTIVE_CARD and isinstance(a.get("content"), dict)
    ]


class TeamsDouble:
    """Teams, as far as the bot can tell: identity provider, Bot Connector and upload URLs on 127.0.0.1."""

    def __init__(
        self,
        *,
        client_id: str = "00000000-0000-4000-8000-00000000b075",
        client_secret: str = "teams-double-secret",  # noqa: S107 - a fake secret for a fake Teams
        tenant_id: str = "11111111-1111-4111-8111-111111111111",
        bot_name: str = "plcbot",
        token_lifetime: int = 3600,
        latency: float = 0.0,
        enforce_limits: bool = True,
        time_scale: float = 1.0,
    ) -> None:
        self.client_id, self.client_secret, self.tenant_id = client_id, client_secret, tenant_id
        self.bot_name = bot_name
        self.bot_id = f"28:{client_id}"
        self.token_lifetime = token_lifetime
        self.latency = latency
        self.enforce_limits = enforce_limits
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self._last_ms = 0
        self.kid = "teams-double-" + uuid.uuid4().hex[:8]
        self._key, self._other_key = _signing_keys()
        self._calls: list[Call] = []
        self._issued: dict[str, float] = {}  # bearer token -> expiry (time.time())
        self._token_requests = 0
        self._users: dict[str, dict] = {}  # 29: id -> member
        self._teams: dict[str, dict] = {}  # team id -> {"id", "name", "aadGroupId", "channels", "members"}
        self._conversations: dict[str, dict] = {}
        self._personal: dict[str, str] = {}  # user 29: id -> personal conversation id
        self._unreachable: dict[str, tuple[int, str]] = {}  # user 29: id -> (status, code)
        self._consents: dict[str, dict] = {}  # uniqueId -> consent offer
        self._faults: dict[str, list[_Fault]] = {}
        self._conversation_limits = limits.SlidingWindows(limits.CONVERSATION_WINDOWS, scale=time_scale)
        self._member_limits = limits.SlidingWindows(limits.MEMBER_WINDOWS, scale=time_scale)
        self._app_limits = limits.SlidingWindows(limits.APP_WINDOWS, scale=time_scale)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> TeamsDouble:
        """Bind an ephemeral port on 127.0.0.1 and serve in a daemon thread."""
        if self._server is not None:
            return self
        server = LoopbackServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.double = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="teams-double", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    def __enter__(self) -> TeamsDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base(self) -> str:
        """http://127.0.0.1:PORT (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("TeamsDouble is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def service_url(self) -> str:
        """The activities' serviceUrl: the base URL with a trailing slash, as Teams sends it."""
        return self.base + "/"

    @property
    def openid_metadata_url(self) -> str:
        """What TEAMS_OPENID_METADATA_URL (the SDK cloud's openid_metadata_url) should be."""
        return self.base + OPENID_PATH

    @property
    def login_url(self) -> str:
        """What TEAMS_LOGIN_URL (the SDK cloud's login_endpoint) should be."""
        return self.base

    @property
    def token_url(self) -> str:
        return f"{self.base}/{self.tenant_id}/oauth2/v2.0/token"

    # ------------------------------------------------------------------ identity provider
    def openid_configuration(self) -> dict:
        return {
            "issuer": BOT_FRAMEWORK_ISSUER,
            "authorization_endpoint": f"{self.base}/v1/.well-known/authorize",
            "jwks_uri": self.base + KEYS_PATH,
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        }

    def jwks(self) -> dict:
        numbers = self._key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": "RS256",
                    "kid": self.kid,
                    "n": _b64url_uint(numbers.n),
                    "e": _b64url_uint(numbers.e),
                    "endorsements": ["msteams"],
                }
            ]
        }

    def sign_for_bot(
        self,
        *,
        audience: str | None = None,
        service_url: str | None = None,
        expired: bool = False,
        key: str = "own",
        issuer: str = BOT_FRAMEWORK_ISSUER,
        lifetime: int = 3600,
        extra_claims: dict | None = None,
    ) -> str:
        """A JWT like the one Teams puts on an activity it sends to the bot.

        ``audience`` defaults to the client id and ``service_url`` to :attr:`service_url`.
        ``expired`` puts ``exp`` ten minutes in the past (beyond the SDK's 5-minute leeway).
        ``key``: "own" (the published key), "other" (another RSA key under the published kid: a
        forgery), "unknown-kid" (another key and a kid the metadata does not list) or "none"
        (an unsigned token, alg none).
        """
        now = int(time.time())
        if expired:
            issued, expires = now - lifetime - 900, now - 600
        else:
            issued, expires = now - 5, now + lifetime
        claims: dict[str, Any] = {
            "serviceurl": self.service_url if service_url is None else service_url,
            "nbf": issued,
            "exp": expires,
            "iat": issued,
            "iss": issuer,
            "aud": self.client_id if audience is None else audience,
        }
        claims.update(extra_claims or {})
        if key == "own":
            return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})
        if key == "other":
            return jwt.encode(claims, self._other_key, algorithm="RS256", headers={"kid": self.kid})
        if key == "unknown-kid":
            return jwt.encode(claims, self._other_key, algorithm="RS256", headers={"kid": "not-" + self.kid})
        if key == "none":
            return jwt.encode(claims, "", algorithm="none")
        raise ValueError(f"key must be own, other, unknown-kid or none, not {key!r}")

    @property
    def token_requests(self) -> int:
        """How many client-credentials requests the token endpoint answered with a token."""
        with self._lock:
            return self._token_requests

    def expire_tokens(self) -> None:
        """Make every bearer token issued so far invalid (the connector answers 401)."""
        with self._lock:
            self._issued = dict.fromkeys(self._issued, 0.0)

    def _issue_token(self) -> dict:
        now = int(time.time())
        claims = {
            "aud": BOT_FRAMEWORK_ISSUER,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + self.token_lifetime,
            "appid": self.client_id,
            "tid": self.tenant_id,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})
        with self._lock:
            self._issued[token] = now + self.token_lifetime
            self._token_requests += 1
        return {"token_type": "Bearer", "expires_in": self.token_lifetime, "ext_expires_in": self.token_lifetime,
                "access_token": token}

    def _token_endpoint(self, tenant: str, form: dict) -> _Outcome:
        def aad(status: int, error: str, description: str) -> _Outcome:
            return _Outcome(status, {"error": error, "error_description": description, "error_codes": []})

        if tenant not in (self.tenant_id, "botframework.com"):
            return aad(400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return aad(400, "unsupported_grant_type", "AADSTS70003: The grant type is not supported.")
        if form.get("client_id") != self.client_id:
            return aad(400, "unauthorized_client", f"AADSTS700016: Application '{form.get('client_id')}' not found.")
        if form.get("client_secret") != self.client_secret:
            return aad(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        if form.get("scope") != BOT_FRAMEWORK_SCOPE:
            return aad(400, "invalid_scope", f"AADSTS70011: The provided scope '{form.get('scope')}' is not valid.")
        return _Outcome(200, self._issue_token())

    def _authorized(self, header: str | None) -> bool:
        if not header or not header.lower().startswith("bearer "):
            return False
        token = header[7:].strip()
        with self._lock:
            expiry = self._issued.get(token)
        return expiry is not None and expiry > time.time()

    # ------------------------------------------------------------------ directory: people and teams
    def add_user(
        self,
        name: str,
        *,
        email: str | None = None,
        user_id: str | None = None,
        aad_object_id: str | None = None,
        upn: str | None = None,
    ) -> dict:
        """A person in the tenant; returns the member as the roster shows it (id 29:…, aadObjectId…)."""
        slug = re.sub(r"[^a-z0-9]+", ".", name.lower()).strip(".") or "user"
        mail = email or f"{slug}@school.example"
        member: dict[str, Any] = {
            "id": user_id or f"29:1{uuid.uuid4().hex}",
            "name": name,
            "aadObjectId": aad_object_id or str(uuid.uuid4()),
            "email": mail,
            "userPrincipalName": upn or mail,
            "givenName": name.split()[0] if name.split() else name,
            "surname": name.split()[-1] if len(name.split()) > 1 else None,
            "tenantId": self.tenant_id,
            "userRole": "user",
        }
        with self._lock:
            self._users[member["id"]] = member
        return copy.deepcopy(member)

    def user(self, member: str) -> dict:
        """A person by 29: id or Entra object id."""
        with self._lock:
            return copy.deepcopy(self._user(member))

    def _user(self, member: str) -> dict:
        found = self._users.get(member)
        if found is None:
            found = next((u for u in self._users.values() if u["aadObjectId"] == member), None)
        if found is None:
            raise KeyError(f"no user {member!r} in the double; add_user() them first")
        return found

    def add_team(
        self, name: str, members: Iterable[str], *, team_id: str | None = None, channels: Iterable[str] = ()
    ) -> dict:
        """A team with the bot installed; its General channel's id is the team id, as in Teams."""
        tid = team_id or f"19:{uuid.uuid4().hex}@thread.tacv2"
        channel_names: dict[str, str] = {tid: "General"}
        for channel_name in channels:
            channel_names[f"19:{uuid.uuid4().hex}@thread.tacv2"] = channel_name
        team: dict[str, Any] = {
            "id": tid,
            "name": name,
            "aadGroupId": str(uuid.uuid4()),
            "members": [self._user(m)["id"] for m in members],
            "channels": channel_names,
        }
        with self._lock:
            self._teams[tid] = team
            for channel_id in team["channels"]:
                self._conversation(channel_id, kind="channel", team_id=tid)
        return copy.deepcopy(team)

    def team(self, team_id: str) -> dict:
        with self._lock:
            return copy.deepcopy(self._teams[team_id])

    def set_team_members(self, team_id: str, members: Iterable[str]) -> None:
        with self._lock:
            self._teams[team_id]["members"] = [self._user(m)["id"] for m in members]

    def personal_conversation(self, member: str) -> str:
        """The id (a:…) of the bot's 1:1 chat with a person; the same id every time."""
        with self._lock:
            user_id = self._user(member)["id"]
            cid = self._personal.get(user_id)
            if cid is None:
                cid = "a:1" + base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode().rstrip("=")
                self._personal[user_id] = cid
                self._conversation(cid, kind="personal", members=[user_id])
            return cid

    def _conversation(
        self, cid: str, *, kind: str, team_id: str | None = None, members: list[str] | None = None
    ) -> dict:
        conversation = self._conversations.get(cid)
        if conversation is None:
            conversation = {"id": cid, "type": kind, "team_id": team_id, "members": members or [], "activities": []}
            self._conversations[cid] = conversation
        return conversation

    def note_conversation(self, cid: str, *, kind: str, team_id: str | None = None) -> None:
        """Register a conversation a person is writing in (the user driver calls this)."""
        with self._lock:
            self._conversation(cid, kind=kind, team_id=team_id)

    def _roster(self, cid: str) -> list[dict]:
        conversation = self._conversations.get(cid) or self._conversations.get(cid.split(";", 1)[0])
        if conversation is None:
            raise _ConnectorError(404, "ConversationNotFound", "Conversation not found.")
        team_id = conversation["team_id"]
        ids = self._teams[team_id]["members"] if team_id else conversation["members"]
        return [self._users[i] for i in ids if i in self._users]

    # ------------------------------------------------------------------ reading the store
    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, op: str) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if c.op == op]

    def conversations(self) -> list[dict]:
        """Every conversation: {"id", "type", "team_id", "members"} (without activities)."""
        with self._lock:
            return [
                copy.deepcopy({k: v for k, v in c.items() if k != "activities"}) for c in self._conversations.values()
            ]

    def activities(self, conversation_id: str, *, include_deleted: bool = False) -> list[dict]:
        """The latest version of each activity the bot sent to a conversation, oldest first.

        A channel id includes the replies in its threads (``…;messageid=…``). Each activity carries
        ``id``, ``conversationId``, ``versions`` (earlier bodies, oldest first) and ``deleted``.
        """
        with self._lock:
            out = []
            for cid, conversation in self._conversations.items():
                if cid == conversation_id or cid.startswith(conversation_id + ";messageid="):
                    out += [a for a in conversation["activities"] if include_deleted or not a["deleted"]]
            out.sort(key=lambda a: a["seq"])
            return copy.deepcopy(out)

    def seen_by(self, member: str) -> list[dict]:
        """What a person sees in their 1:1 chat with the bot: latest versions, deletions gone."""
        with self._lock:
            user_id = self._user(member)["id"]
            cid = self._personal.get(user_id)
        return self.activities(cid) if cid else []

    def cards(self, conversation_id: str) -> list[dict]:
        """The Adaptive Cards (their content) now shown in a conversation, oldest first."""
        return [card for a in self.activities(conversation_id) for card in _card_contents(a)]

    def activity(self, conversation_id: str, activity_id: str) -> dict:
        with self._lock:
            return copy.deepcopy(self._find_activity(conversation_id, activity_id))

    def _find_activity(self, conversation_id: str, activity_id: str) -> dict:
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            raise _ConnectorError(404, "ConversationNotFound", "Conversation not found.")
        for stored in conversation["activities"]:
            if stored["id"] == activity_id and not stored["deleted"]:
                return stored
        raise _ConnectorError(404, "ActivityNotFoundInConversation", "The activity was not found.")

    def file_consents(self, member: str | None = None) -> list[dict]:
        """File consent cards the bot offered: {"uniqueId", "conversationId", "activityId", "name",
        "sizeInBytes", "description", "acceptContext", "declineContext", "answer", "uploaded"}."""
        with self._lock:
            cid = self._personal.get(self._user(member)["id"]) if member else None
            return copy.deepcopy([c for c in self._consents.values() if cid is None or c["conversationId"] == cid])

    def uploaded(self, unique_id: str) -> bytes | None:
        """The bytes uploaded for a consent (None until a complete upload)."""
        with self._lock:
            consent = self._consents.get(unique_id)
            return bytes(consent["data"]) if consent and consent["uploaded"] else None

    def consent_answer(self, consent: dict | str, action: str = "accept") -> dict:
        """The ``value`` of the fileConsent/invoke Teams sends when the person accepts or declines."""
        if action not in ("accept", "decline"):
            raise ValueError("action must be accept or decline")
        unique_id = consent if isinstance(consent, str) else consent["uniqueId"]
        with self._lock:
            offer = self._consents[unique_id]
            offer["answer"] = action
            value: dict[str, Any] = {
                "type": "fileUpload",
                "action": action,
                "context": copy.deepcopy(offer["acceptContext" if action == "accept" else "declineContext"]),
            }
            if action == "accept":
                value["uploadInfo"] = {
                    "contentUrl": f"{self.base}/files/{unique_id}/{quote(offer['name'])}",
                    "name": offer["name"],
                    "uploadUrl": f"{self.base}/upload/{unique_id}",
                    "uniqueId": unique_id,
                    "fileType": offer["name"].rsplit(".", 1)[-1] if "." in offer["name"] else "",
                }
        return value

    def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0, interval: float = 0.02) -> T:
        """Poll until predicate() is truthy and return that value; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            last = predicate()
            if last:
                return last
            if time.monotonic() >= deadline:
                break
            time.sleep(interval)
        recent = [f"{c.op} {c.method} {c.path} -> {c.status} {c.error or 'ok'}" for c in self.calls[-10:]]
        name = getattr(predicate, "__qualname__", repr(predicate))
        raise AssertionError(f"wait_for({name}) still falsy after {timeout} s (last value {last!r}); last: {recent}")

    # ------------------------------------------------------------------ faults and limits
    def _add_fault(self, op: str, fault: _Fault) -> None:
        if op not in (*CONNECTOR_OPS, "*", "token", "upload"):
            raise ValueError(f"op must be one of {CONNECTOR_OPS}, '*', 'token' or 'upload', not {op!r}")
        with self._lock:
            self._faults.setdefault(op, []).append(fault)

    def rate_limit(self, *, times: int | None = 1, retry_after: float = 1.0, op: str = "*") -> None:
        """A 429 storm: the next ``times`` calls (of ``op``; "*" is any connector call) get 429."""
        self._add_fault(op, _Fault("rate_limit", times, retry_after=retry_after))

    def server_error(self, status: int = 500, *, times: int | None = 1, op: str = "*") -> None:
        """5xx (or any status, e.g. 412) on the next ``times`` calls, with nothing stored."""
        self._add_fault(op, _Fault("server_error", times, status=status))

    def precondition_failed(self, *, times: int | None = 1, op: str = "*") -> None:
        """412, which Teams returns under contention and a bot should retry."""
        self.server_error(412, times=times, op=op)

    def slow(self, seconds: float, *, times: int | None = None, op: str = "*", after_effect: bool = False) -> None:
        """Answer ``seconds`` late; with ``after_effect`` the effect happens first, then the wait."""
        self._add_fault(op, _Fault("slow", times, seconds=seconds, after_effect=after_effect))

    def drop_after_store(self, *, times: int | None = 1, op: str = "send") -> None:
        """Do the call's effect (store the activity), then close the socket without answering."""
        self._add_fault(op, _Fault("drop", times))

    def unreachable(self, member: str, code: str = "BotNotInConversationRoster", *, status: int | None = None) -> None:
        """Creating a chat with, or sending to, this person fails (app uninstalled, user blocked or gone)."""
        with self._lock:
            user_id = self._user(member)["id"]
            self._unreachable[user_id] = (status or UNREACHABLE_CODES.get(code, 403), code)

    def reachable(self, member: str) -> None:
        with self._lock:
            self._unreachable.pop(self._user(member)["id"], None)

    def set_limits(self, *, enabled: bool = True, time_scale: float | None = None) -> None:
        """Switch Teams' rate limits on or off, or scale their windows (0.01: a second lasts 10 ms)."""
        with self._lock:
            self.enforce_limits = enabled
            if time_scale is not None:
                self._conversation_limits = limits.SlidingWindows(limits.CONVERSATION_WINDOWS, scale=time_scale)
                self._member_limits = limits.SlidingWindows(limits.MEMBER_WINDOWS, scale=time_scale)
                self._app_limits = limits.SlidingWindows(limits.APP_WINDOWS, scale=time_scale)

    def reset_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._unreachable.clear()
            self._conversation_limits.reset()
            self._member_limits.reset()
            self._app_limits.reset()

    def _take_faults(self, op: str) -> tuple[float, float, _Fault | None]:
        """Consume this call's faults: delay before, delay after the effect, first answer-changing fault."""
        before, after, chosen = 0.0, 0.0, None
        with self._lock:
            keys = [op, "*"] if op in CONNECTOR_OPS else [op]
            for key in keys:
                rules = self._faults.get(key, [])
                for fault in list(rules):
                    if fault.kind == "slow":
                        if fault.after_effect:
                            after += fault.seconds
                        else:
                            before += fault.seconds
                    elif chosen is None:
                        chosen = fault
                    else:
                        continue
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            rules.remove(fault)
        return before, after, chosen

    def _limit_wait(self, conversation_id: str | None, *, members: bool = False) -> float:
        """0.0 and the request counted, or the seconds until it would fit. A message counts against
        its conversation's message windows and the app's; a members read (`members`) against the
        conversation's members windows and the app's, never its messages'."""
        if not self.enforce_limits:
            return 0.0
        app_key = f"{self.client_id}:{self.tenant_id}"
        if conversation_id is None:
            return self._app_limits.wait_needed(app_key)
        base_id = conversation_id.split(";", 1)[0]
        windows = self._member_limits if members else self._conversation_limits
        wait_conv = windows.wait_needed(base_id, take=False)
        wait_app = self._app_limits.wait_needed(app_key, take=False)
        wait = max(wait_conv, wait_app)
        if wait == 0.0:
            windows.wait_needed(base_id)
            self._app_limits.wait_needed(app_key)
        return wait

    @staticmethod
    def _too_many(wait: float) -> _Outcome:
        headers = {"Retry-After": str(max(1, math.ceil(wait))), "retry-after-ms": str(max(1, math.ceil(wait * 1000)))}
        return _Outcome(429, {"error": {"code": "TooManyRequests", "message": "Too many requests."}}, headers)

    # ------------------------------------------------------------------ the Bot Connector
    def _connector(self, method: str, path: str, query: dict, body: Any, raw_size: int, auth: str | None) -> _Outcome:
        op, route = _route(method, path)
        if route is None:
            return _error(404, "NotFound", f"No route for {method} {path}")
        call = self._record(op, method, path, body, query)
        outcome = self._connector_answer(op, route, query, body, raw_size, auth)
        self._finish(call, outcome)
        return outcome

    def _connector_answer(
        self, op: str, route: dict, query: dict, body: Any, raw_size: int, auth: str | None
    ) -> _Outcome:
        if self.latency:
            time.sleep(self.latency)
        before, after, fault = self._take_faults(op)
        if before:
            time.sleep(before)
        if not self._authorized(auth):
            return _Outcome(401, {"message": "Authorization has been denied for this request."})
        if fault is not None and fault.kind == "rate_limit":
            return self._too_many(fault.retry_after)
        if fault is not None and fault.kind == "server_error":
            return _error(fault.status, "ServiceError", f"Injected {fault.status}.")
        limited_conversation = route.get("conversation") if op in ("send", "update", "delete", "members") else None
        with self._lock:
            wait = self._limit_wait(limited_conversation, members=op == "members")
            if wait:
                return self._too_many(wait)
            try:
                status, answer = _HANDLERS[op](self, route, query, body, raw_size)
            except _ConnectorError as exc:
                return _error(exc.status, exc.code, exc.message)
        return _Outcome(status, answer, drop=fault is not None and fault.kind == "drop", delay_after=after)

    def _record(self, op: str, method: str, path: str, body: Any, query: dict | None = None) -> Call:
        call = Call(op=op, method=method, path=path, body=copy.deepcopy(body), query=dict(query or {}))
        with self._lock:
            self._calls.append(call)
        return call

    def _finish(self, call: Call, outcome: _Outcome) -> None:
        with self._lock:
            call.status = 0 if outcome.drop else outcome.status
            body = outcome.body if isinstance(outcome.body, dict) else {}
            error = body.get("error")
            if outcome.drop:
                call.error = "dropped_after_store"
            elif isinstance(error, dict):
                call.error = error.get("code")
            elif isinstance(error, str):
                call.error = error
            elif outcome.status >= 400:
                call.error = str(outcome.status)

    def _next_activity_id(self) -> str:
        now_ms = int(time.time() * 1000)
        self._last_ms = max(now_ms, self._last_ms + 1)
        return str(self._last_ms)

    def _check_reachable(self, conversation: dict) -> None:
        if conversation["type"] != "personal":
            return
        for member in conversation["members"]:
            if member in self._unreachable:
                status, code = self._unreachable[member]
                raise _ConnectorError(status, code, f"The bot cannot reach {member}.")

    def _store(self, conversation_id: str, body: dict, raw_size: int, reply_to: str | None) -> dict:
        conversation = self._conversations.get(conversation_id)
        if conversation is None and ";messageid=" in conversation_id:
            root = self._conversations.get(conversation_id.split(";", 1)[0])
            if root is not None:
                conversation = self._conversation(conversation_id, kind=root["type"], team_id=root["team_id"])
        if conversation is None:
            raise _ConnectorError(404, "ConversationNotFound", "Conversation not found.")
        self._check_reachable(conversation)
        problems = limits.activity_problems(body, raw_size=raw_size)
        if problems:
            too_big = any("bytes, more than" in p for p in problems)
            raise _ConnectorError(413 if too_big else 400, "MessageSizeTooBig" if too_big else "BadArgument",
                                  "; ".join(problems))
        activity_id = self._next_activity_id()
        stored = copy.deepcopy(body)
        stored.update(
            {
                "id": activity_id,
                "conversationId": conversation_id,
                "timestamp": _now_iso(),
                "from": {"id": self.bot_id, "name": self.bot_name},
                "versions": [],
                "deleted": False,
                "seq": next(self._ids),
            }
        )
        if reply_to:
            stored["replyToId"] = reply_to
        conversation["activities"].append(stored)
        self._note_consents(conversation_id, stored)
        return stored

    def _note_consents(self, conversation_id: str, stored: dict) -> None:
        for attachment in stored.get("attachments") or []:
            if not isinstance(attachment, dict) or attachment.get("contentType") != limits.FILE_CONSENT:
                continue
            content = attachment.get("content") or {}
            unique_id = uuid.uuid4().hex
            self._consents[unique_id] = {
                "uniqueId": unique_id,
                "conversationId": conversation_id,
                "activityId": stored["id"],
                "name": attachment.get("name") or "",
                "sizeInBytes": content.get("sizeInBytes"),
                "description": content.get("description"),
                "acceptContext": content.get("acceptContext"),
                "declineContext": content.get("declineContext"),
                "answer": None,
                "uploaded": False,
                "data": bytearray(),
                "expected": None,
            }

    # ------------------------------------------------------------------ OneDrive upload session
    def _upload(self, unique_id: str, data: bytes, content_range: str | None) -> _Outcome:
        with self._lock:
            consent = self._consents.get(unique_id)
            if consent is None or consent["answer"] != "accept":
                return _error(404, "itemNotFound", "The upload session was not found.")
            if not content_range:
                return _Outcome(400, {"error": {"code": "invalidRequest", "message": "Content-Range is required."}})
            match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", content_range.strip())
            if match is None:
                return _Outcome(400, {"error": {"code": "invalidRange", "message": "Bad Content-Range."}})
            first, last, total_text = int(match[1]), int(match[2]), match[3]
            if last < first or last - first + 1 != len(data) or first != len(consent["data"]):
                return _Outcome(416, {"error": {"code": "invalidRange", "message": "Range does not fit the session."}})
            total = int(total_text) if total_text != "*" else None
            if total is not None and last >= total:
                return _Outcome(416, {"error": {"code": "invalidRange", "message": "Range beyond the total."}})
            consent["data"] += data
            consent["expected"] = total
            if total is not None and len(consent["data"]) == total:
                consent["uploaded"] = True
                return _Outcome(
                    201,
                    {
                        "id": unique_id,
                        "name": consent["name"],
                        "size": total,
                        "file": {},
                        "webUrl": f"{self.base}/files/{unique_id}/{quote(consent['name'])}",
                    },
                )
            return _Outcome(202, {"expirationDateTime": _now_iso(), "nextExpectedRanges": [f"{len(consent['data'])}-"]})


# ---------------------------------------------------------------------- connector routes and handlers
_CONVERSATIONS = "/v3/conversations"


def _route(method: str, path: str) -> tuple[str, dict | None]:
    """(op, parts) for a Bot Connector path, or ("", None) when none matches."""
    if not path.startswith(_CONVERSATIONS):
        return "", None
    rest = [unquote(p) for p in path[len(_CONVERSATIONS) :].split("/") if p]
    if not rest:
        return ("create_conversation", {}) if method == "POST" else ("", None)
    cid = rest[0]
    if len(rest) == 2 and rest[1] == "activities" and method == "POST":
        return "send", {"conversation": cid}
    if len(rest) == 3 and rest[1] == "activities":
        if method == "POST":
            return "send", {"conversation": cid, "reply_to": rest[2]}
        if method == "PUT":
            return "update", {"conversation": cid, "activity": rest[2]}
        if method == "DELETE":
            return "delete", {"conversation": cid, "activity": rest[2]}
    if method == "GET" and len(rest) == 2 and rest[1].lower() in ("pagedmembers", "members"):
        return "members", {"conversation": cid, "paged": rest[1].lower() == "pagedmembers"}
    if method == "GET" and len(rest) == 3 and rest[1].lower() == "members":
        return "members", {"conversation": cid, "member": rest[2]}
    return "", None


def _create_conversation(d: TeamsDouble, route: dict, query: dict, body: Any, raw_size: int) -> tuple[int, dict]:
    if not isinstance(body, dict):
        raise _ConnectorError(400, "BadArgument", "The body must be a JSON object.")
    members = body.get("members")
    channel = ((body.get("channelData") or {}).get("channel") or {}).get("id")
    if body.get("isGroup") and channel:
        return _create_channel_thread(d, str(channel), body)
    if not isinstance(members, list) or len(members) != 1 or not isinstance(members[0], dict):
        raise _ConnectorError(400, "BadArgument", "A 1:1 chat needs exactly one member.")
    if body.get("isGroup"):
        raise _ConnectorError(400, "BadArgument", "Bots cannot create group chats.")
    tenant = body.get("tenantId") or ((body.get("channelData") or {}).get("tenant") or {}).get("id")
    if tenant != d.tenant_id:
        raise _ConnectorError(403, "Forbidden", f"Tenant {tenant!r} is not the bot's tenant.")
    bot = body.get("bot")
    if isinstance(bot, dict) and bot.get("id") not in (None, d.bot_id, d.client_id):
        raise _ConnectorError(400, "BadArgument", "The bot account is not this bot.")
    try:
        user = d._user(str(members[0].get("id") or members[0].get("aadObjectId") or ""))
    except KeyError:
        raise _ConnectorError(404, "NotFound", "The member was not found in the tenant.") from None
    if user["id"] in d._unreachable:
        status, code = d._unreachable[user["id"]]
        raise _ConnectorError(status, code, "The bot cannot create a conversation with this user.")
    cid = d.personal_conversation(user["id"])
    answer: dict[str, Any] = {"id": cid}
    first = body.get("activity")
    if isinstance(first, dict):
        answer["activityId"] = d._store(cid, first, len(json.dumps(first).encode()), None)["id"]
    return 201, answer


def _create_channel_thread(d: TeamsDouble, channel: str, body: dict) -> tuple[int, dict]:
    """A new thread in a team channel (a proactive channel post): its first activity is required."""
    root = d._conversations.get(channel)
    if root is None or root["type"] != "channel":
        raise _ConnectorError(404, "ConversationNotFound", "The channel was not found (is the bot in the team?).")
    first = body.get("activity")
    if not isinstance(first, dict):
        raise _ConnectorError(400, "BadArgument", "A new channel thread needs its first activity.")
    stored = d._store(channel, first, len(json.dumps(first).encode()), None)
    return 201, {"id": f"{channel};messageid={stored['id']}", "activityId": stored["id"]}


def _send(d: TeamsDouble, route: dict, query: dict, body: Any, raw_size: int) -> tuple[int, dict]:
    if not isinstance(body, dict):
        raise _ConnectorError(400, "BadArgument", "The body must be a JSON object.")
    reply_to = route.get("reply_to") or body.get("replyToId")
    stored = d._store(route["conversation"], body, raw_size, reply_to)
    return 201, {"id": stored["id"]}


def _update(d: TeamsDouble, route: dict, query: dict, body: Any, raw_size: int) -> tuple[int, dict]:
    if not isinstance(body, dict):
        raise _ConnectorError(400, "BadArgument", "The body must be a JSON object.")
    stored = d._find_activity(route["conversation"], route["activity"])
    conversation = d._conversations[route["conversation"]]
    d._check_reachable(conversation)
    problems = limits.activity_problems(body, raw_size=raw_size)
    if problems:
        too_big = any("bytes, more than" in p for p in problems)
        raise _ConnectorError(413 if too_big else 400, "MessageSizeTooBig" if too_big else "BadArgument",
                              "; ".join(problems))
    keep = {k: stored[k] for k in ("id", "conversationId", "timestamp", "from", "seq", "deleted")}
    previous = {k: v for k, v in stored.items() if k not in ("versions", "seq", "deleted")}
    versions = [*stored["versions"], previous]
    stored.clear()
    stored.update(copy.deepcopy(body))
    stored.update(keep)
    stored["versions"] = versions
    stored["lastModified"] = _now_iso()
    return 200, {"id": route["activity"]}


def _delete(d: TeamsDouble, route: dict, query: dict, body: Any, raw_size: int) -> tuple[int, dict]:
    stored = d._find_activity(route["conversation"], route["activity"])
    stored["deleted"] = True
    return 200, {}


def _members(d: TeamsDouble, route: dict, query: dict, body: Any, raw_size: int) -> tuple[int, dict | list]:
    roster = d._roster(route["conversation"])
    public = [{k: v for k, v in m.items() if v is not None} for m in roster]
    if "member" in route:
        wanted = route["member"]
        for member in public:
            if wanted in (member["id"], member["aadObjectId"]):
                return 200, member
        raise _ConnectorError(404, "MemberNotFoundInConversation", "The member is not in the conversation.")
    if not route.get("paged"):
        return 200, public  # GET …/members answers a bare list
    try:
        size = int(query.get("pageSize") or 200)
        offset = int(base64.urlsafe_b64decode(query["continuationToken"]).decode()) if query.get(
            "continuationToken") else 0
    except (ValueError, TypeError) as exc:
        raise _ConnectorError(400, "BadArgument", "Bad pageSize or continuationToken.") from exc
    size = max(1, min(size, 500))  # Teams returns at most 500 a page (and at least 50 in practice)
    page = public[offset : offset + size]
    answer: dict[str, Any] = {"members": page}
    if offset + size < len(public):
        answer["continuationToken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
    return 200, answer


_HANDLERS: dict[str, Callable[[TeamsDouble, dict, dict, Any, int], tuple[int, Any]]] = {
    "create_conversation": _create_conversation,
    "send": _send,
    "update": _update,
    "delete": _delete,
    "members": _members,
}


# ---------------------------------------------------------------------- HTTP plumbing
class _Handler(BaseHTTPRequestHandler):
    """Routes the identity provider, /v3/conversations, /upload/<id> and /files/<id>."""

    protocol_version = "HTTP/1.1"
    server_version = "TeamsDouble/1.0"

    @property
    def double(self) -> TeamsDouble:
        return self.server.double  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by design
        pass

    def _path(self) -> tuple[str, dict]:
        parts = urlsplit(self.path)
        path = re.sub(r"/{2,}", "/", parts.path)  # serviceUrl ends in "/", some clients add another
        return path, dict(parse_qsl(parts.query, keep_blank_values=True))

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json(self, raw: bytes) -> Any:
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", errors="replace")

    def do_GET(self) -> None:  # noqa: N802
        path, query = self._path()
        double = self.double
        if path == OPENID_PATH:
            double._record("metadata", "GET", path, None)
            self._send(_Outcome(200, double.openid_configuration()))
        elif path == KEYS_PATH:
            double._record("metadata", "GET", path, None)
            self._send(_Outcome(200, double.jwks()))
        elif path.startswith("/files/"):
            unique_id = path.split("/")[2]
            data = double.uploaded(unique_id)
            double._record("file", "GET", path, None)
            self._send(_Outcome(200, data) if data is not None else _error(404, "itemNotFound"))
        else:
            self._connect("GET", path, query, b"")

    def do_POST(self) -> None:  # noqa: N802
        path, query = self._path()
        raw = self._body()
        match = _TOKEN_PATH.match(path)
        if match:
            form = dict(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True))
            shown = {k: ("***" if k == "client_secret" else v) for k, v in form.items()}
            call = self.double._record("token", "POST", path, shown)
            before, after, fault = self.double._take_faults("token")
            time.sleep(before)
            if fault is not None and fault.kind == "rate_limit":
                outcome = self.double._too_many(fault.retry_after)
            elif fault is not None and fault.kind == "server_error":
                outcome = _Outcome(fault.status, {"error": "temporarily_unavailable", "error_description": "Injected"})
            else:
                outcome = self.double._token_endpoint(match[1], form)
            self.double._finish(call, outcome)
            self._send(outcome)
        else:
            self._connect("POST", path, query, raw)

    def do_PUT(self) -> None:  # noqa: N802
        path, query = self._path()
        raw = self._body()
        if path.startswith("/upload/"):
            unique_id = path.split("/")[2]
            double = self.double
            content_range = self.headers.get("Content-Range")
            call = double._record("upload", "PUT", path, {"size": len(raw), "Content-Range": content_range})
            before, after, fault = double._take_faults("upload")
            time.sleep(before)
            if fault is not None and fault.kind == "rate_limit":
                outcome = double._too_many(fault.retry_after)
            elif fault is not None and fault.kind == "server_error":
                outcome = _error(fault.status, "serviceNotAvailable")
            else:
                outcome = double._upload(unique_id, raw, content_range)
                outcome.drop = fault is not None and fault.kind == "drop"
                outcome.delay_after = after
            double._finish(call, outcome)
            self._send(outcome)
        else:
            self._connect("PUT", path, query, raw)

    def do_DELETE(self) -> None:  # noqa: N802
        path, query = self._path()
        self._connect("DELETE", path, query, self._body())

    def _connect(self, method: str, path: str, query: dict, raw: bytes) -> None:
        body = self._json(raw)
        self._send(self.double._connector(method, path, query, body, len(raw), self.headers.get("Authorization")))

    def _send(self, outcome: _Outcome) -> None:
        if outcome.delay_after:
            time.sleep(outcome.delay_after)
        if outcome.drop:
            self.close_connection = True
            return
        if isinstance(outcome.body, (dict, list)):
            data, ctype = json.dumps(outcome.body).encode("utf-8"), "application/json; charset=utf-8"
        elif isinstance(outcome.body, bytes):
            data, ctype = outcome.body, "application/octet-stream"
        else:
            data, ctype = str(outcome.body or "").encode("utf-8"), "text/plain; charset=utf-8"
        try:
            self.send_response(outcome.status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for name, value in outcome.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (a timeout test); nothing to answer
