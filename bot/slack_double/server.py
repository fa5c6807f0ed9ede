"""A Slack Web API double serving real HTTP on loopback.

It answers each Web API method the bot uses the way Slack does (shapes, errors, limits),
keeps a small workspace, records every call, and injects faults, so the bot's real
slack_sdk/Bolt code paths can be exercised without Slack. It also hosts response URLs,
file upload URLs and a Socket Mode websocket.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import itertools
import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP as HTTP_POLICY
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from bot.double_server import LoopbackServer

from . import limits
from .socket_mode import SocketHub

T = TypeVar("T")

# Parameters that slack_sdk sends JSON-encoded when it uses a form body.
_JSON_PARAMS = ("blocks", "attachments", "metadata", "view", "files", "user_auth_blocks")
_POST_METHODS = ("chat.postMessage", "chat.postEphemeral", "chat.update")
TRIGGER_TTL = 3.0
VIEW_STACK_MAX = 3


@dataclass
class Call:
    """One request the double received, in arrival order."""

    method: str
    params: dict
    status: int = 0
    at: float = field(default_factory=time.time)
    error: str | None = None


@dataclass
class _Fault:
    kind: str  # fail | server_error | rate_limit | slow | drop
    times: int | None
    error: str = "internal_error"
    status: int = 500
    retry_after: int = 1
    seconds: float = 0.0


@dataclass
class _Outcome:
    status: int
    body: dict | str
    headers: dict = field(default_factory=dict)
    drop: bool = False


class _ApiError(Exception):
    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []


class _Bucket:
    """A token bucket: rate tokens a second, at most capacity saved up."""

    def __init__(self, rate: float, capacity: int) -> None:
        self.rate, self.capacity = rate, float(capacity)
        self.tokens, self.updated = float(capacity), time.monotonic()

    def wait_needed(self) -> float:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1.0


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, (int, str)) and str(value).lower() in ("1", "true"))


def _ts_key(ts: Any) -> Decimal:
    try:
        return Decimal(str(ts))
    except Exception:
        return Decimal(0)


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"next:{offset}".encode()).decode()


def _decode_cursor(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(str(cursor).encode()).decode()
        prefix, offset = text.split(":", 1)
        if prefix != "next":
            raise ValueError(text)
        return int(offset)
    except Exception as exc:
        raise _ApiError("invalid_cursor") from exc


def _page(items: list, params: dict, *, default: int, maximum: int) -> tuple[list, str]:
    """Slice a list the way Slack's cursor paging does; returns (page, next_cursor)."""
    offset = _decode_cursor(params.get("cursor"))
    try:
        limit = int(params.get("limit") or 0)
    except ValueError as exc:
        raise _ApiError("invalid_limit") from exc
    size = min(limit if limit > 0 else default, maximum)
    page = items[offset : offset + size]
    next_cursor = _encode_cursor(offset + size) if offset + size < len(items) else ""
    return page, next_cursor


def _parse_json_params(params: dict) -> dict:
    for key in _JSON_PARAMS:
        value = params.get(key)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):
                params[key] = json.loads(value)
    return params


def _tz_fields(tz: str) -> dict:
    try:
        zone = ZoneInfo(tz)
        now = datetime.now(zone)
        utcoffset = now.utcoffset()
        offset = int(utcoffset.total_seconds()) if utcoffset else 0
        return {"tz": tz, "tz_label": now.tzname() or tz, "tz_offset": offset}
    except Exception:
        return {"tz": tz, "tz_label": tz, "tz_offset": 0}


class SlackDouble:
    """Slack, as far as the bot can tell: Web API on 127.0.0.1, workspace state, recording, faults."""

    def __init__(
        self,
        *,
        team_id: str = "T0PLC",
        bot_user_id: str = "UPLCBOT",
        bot_id: str = "BPLCBOT",
        bot_token: str = "xoxb-double",  # noqa: S107 - a fake token for a fake Slack
        app_token: str = "xapp-double",  # noqa: S107
        latency: float = 0.0,
        app_id: str = "A0PLC",
        team_domain: str = "plc-double",
    ) -> None:
        self.team_id, self.team_domain = team_id, team_domain
        self.bot_user_id, self.bot_id, self.app_id = bot_user_id, bot_id, app_id
        self.bot_token, self.app_token = bot_token, app_token
        self.verification_token = "verification-token-double"  # noqa: S105 - fake
        self.latency = latency
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self._last_us = 0
        self._calls: list[Call] = []
        self._users: dict[str, dict] = {}
        self._channels: dict[str, dict] = {}
        self._messages: dict[str, list[dict]] = {}
        self._ephemerals: list[dict] = []
        self._responses: list[dict] = []
        self._response_urls: dict[str, dict] = {}
        self._home: dict[str, dict] = {}
        self._views: dict[str, dict] = {}
        self._view_meta: dict[str, dict] = {}  # view id -> {"user", "closed", "seq"}
        self._triggers: dict[str, tuple[float, str | None]] = {}
        self._used_triggers: set[str] = set()
        self._uploads: dict[str, dict] = {}
        self._files: list[dict] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._post_limits: dict[str, Any] | None = None
        self._buckets: dict[str, _Bucket] = {}
        self.socket = SocketHub(app_id)
        self.add_user(bot_user_id, name="plcbot", real_name="PLC Bot", is_bot=True)
        self.add_user("USLACKBOT", name="slackbot", real_name="Slackbot")

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> SlackDouble:
        """Bind an ephemeral port on 127.0.0.1 and serve in a daemon thread."""
        if self._server is not None:
            return self
        server = LoopbackServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.double = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-double", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self.socket.close_all()
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    def __enter__(self) -> SlackDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base(self) -> str:
        """http://127.0.0.1:PORT (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("SlackDouble is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        """The Web API base URL to give WebClient(base_url=...)."""
        return self.base + "/api/"

    # ------------------------------------------------------------------ workspace state
    def add_user(
        self,
        user_id: str,
        *,
        name: str,
        real_name: str | None = None,
        email: str | None = None,
        tz: str = "America/New_York",
        is_bot: bool = False,
        deleted: bool = False,
        is_admin: bool = False,
    ) -> dict:
        real = real_name or name
        profile: dict[str, Any] = {
            "real_name": real,
            "real_name_normalized": real,
            "display_name": name,
            "display_name_normalized": name,
            "team": self.team_id,
        }
        if email:
            profile["email"] = email
        if is_bot:
            profile["bot_id"] = self.bot_id if user_id == self.bot_user_id else "B" + user_id[1:]
        user = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": deleted,
            "real_name": real,
            **_tz_fields(tz),
            "is_admin": is_admin,
            "is_owner": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(time.time()),
            "profile": profile,
        }
        with self._lock:
            self._users[user_id] = user
        return copy.deepcopy(user)

    def deactivate_user(self, user_id: str) -> None:
        with self._lock:
            self._user(user_id)["deleted"] = True

    def _user(self, user_id: str) -> dict:
        user = self._users.get(user_id)
        if user is None:
            raise KeyError(f"no user {user_id!r} in the double; add_user() it first")
        return user

    def add_channel(
        self,
        channel_id: str,
        *,
        name: str,
        members: Iterable[str] = (),
        is_private: bool = False,
        bot_is_member: bool = True,
    ) -> dict:
        channel = {
            "id": channel_id,
            "name": name,
            "is_channel": not is_private,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": is_private,
            "is_archived": False,
            "created": int(time.time()),
            "members": list(dict.fromkeys(members)),
            "bot_is_member": bot_is_member,
        }
        with self._lock:
            self._channels[channel_id] = channel
            self._messages.setdefault(channel_id, [])
        return copy.deepcopy(channel)

    def set_channel_members(self, channel_id: str, members: Iterable[str]) -> None:
        """Replace the human members (the bot's membership is bot_is_member)."""
        with self._lock:
            self._channel(channel_id)["members"] = list(dict.fromkeys(members))

    def remove_bot_from(self, channel_id: str) -> None:
        with self._lock:
            self._channel(channel_id)["bot_is_member"] = False

    def add_bot_to(self, channel_id: str) -> None:
        with self._lock:
            self._channel(channel_id)["bot_is_member"] = True

    def _channel(self, channel_id: str) -> dict:
        channel = self._channels.get(channel_id)
        if channel is None:
            raise KeyError(f"no channel {channel_id!r} in the double; add_channel() it first")
        return channel

    def dm_channel_id(self, user_id: str) -> str:
        """The DM channel id with a user ("D" + the id without its first letter), created on demand."""
        dm_id = "D" + user_id[1:]
        with self._lock:
            if dm_id not in self._channels:
                self._channels[dm_id] = {
                    "id": dm_id,
                    "is_im": True,
                    "is_channel": False,
                    "is_group": False,
                    "is_mpim": False,
                    "is_private": True,
                    "is_archived": False,
                    "user": user_id,
                    "created": int(time.time()),
                    "members": [user_id],
                    "bot_is_member": True,
                }
                self._messages.setdefault(dm_id, [])
        return dm_id

    def add_message(
        self, channel: str, *, user: str, text: str, blocks: list | None = None, thread_ts: str | None = None
    ) -> dict:
        """Seed a message written by a person (for history/replies scenarios)."""
        with self._lock:
            channel_id = self.dm_channel_id(channel) if channel[:1] in "UW" else self._channel(channel)["id"]
            message = self._store_message(
                channel_id, text=text, blocks=blocks or [], user=user, thread_ts=thread_ts
            )
            return copy.deepcopy(message)

    # ------------------------------------------------------------------ recording
    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(c.params) for c in self._calls if c.method == method]

    @staticmethod
    def _channel_key(channel: str) -> str:
        """A channel id, reading a user id as their DM's id (without creating the DM)."""
        return "D" + channel[1:] if channel[:1] in ("U", "W") else channel

    def messages(self, channel: str) -> list[dict]:
        """Messages now in a channel or DM (a user id means their DM), oldest first, replies included."""
        with self._lock:
            return copy.deepcopy(self._messages.get(self._channel_key(channel), []))

    def thread(self, channel: str, thread_ts: str) -> list[dict]:
        with self._lock:
            found = self._messages.get(self._channel_key(channel), [])
            return copy.deepcopy(
                [m for m in found if m["ts"] == thread_ts or m.get("thread_ts") == thread_ts]
            )

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[dict]:
        with self._lock:
            key = self._channel_key(channel) if channel else None
            return copy.deepcopy(
                [
                    e
                    for e in self._ephemerals
                    if (key is None or e["channel"] == key) and (user is None or e["user"] == user)
                ]
            )

    def responses(self) -> list[dict]:
        """Bodies the bot POSTed to response URLs, in order."""
        with self._lock:
            return copy.deepcopy([r["body"] for r in self._responses])

    def home_view(self, user_id: str) -> dict | None:
        with self._lock:
            return copy.deepcopy(self._home.get(user_id))

    def open_views(self, user_id: str | None = None) -> list[dict]:
        """Modals still open (opened, updated or pushed, not closed), oldest first."""
        with self._lock:
            return copy.deepcopy(
                [
                    self._views[v]
                    for v, meta in sorted(self._view_meta.items(), key=lambda kv: kv[1]["seq"])
                    if not meta["closed"]
                    and self._views[v]["type"] == "modal"
                    and (user_id is None or meta["user"] == user_id)
                ]
            )

    def view(self, view_id: str) -> dict:
        with self._lock:
            if view_id not in self._views:
                raise KeyError(f"no view {view_id!r}")
            return copy.deepcopy(self._views[view_id])

    @property
    def files(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._files)

    def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0, interval: float = 0.02) -> T:
        """Poll until predicate() is truthy and return that value (so never None); AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            last = predicate()
            if last:
                return last
            if time.monotonic() >= deadline:
                break
            time.sleep(interval)
        recent = [f"{c.method} -> {c.status} {c.error or 'ok'}" for c in self.calls[-10:]]
        name = getattr(predicate, "__qualname__", repr(predicate))
        raise AssertionError(
            f"wait_for({name}) still falsy after {timeout} s (last value {last!r}); last calls: {recent}"
        )

    # ------------------------------------------------------------------ faults
    def _add_fault(self, method: str, fault: _Fault) -> None:
        with self._lock:
            self._faults.setdefault(method, []).append(fault)

    def fail(self, method: str, error: str = "internal_error", *, times: int | None = 1) -> None:
        """Answer HTTP 200 {"ok": false, "error": error}."""
        self._add_fault(method, _Fault("fail", times, error=error))

    def server_error(self, method: str, status: int = 500, *, times: int | None = 1) -> None:
        self._add_fault(method, _Fault("server_error", times, status=status))

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int | None = 1) -> None:
        """Answer HTTP 429 with Retry-After, as Slack does when a method's tier is exceeded."""
        self._add_fault(method, _Fault("rate_limit", times, retry_after=retry_after))

    def slow(self, method: str, seconds: float, *, times: int | None = None) -> None:
        self._add_fault(method, _Fault("slow", times, seconds=seconds))

    def drop_after_accept(self, method: str, *, times: int | None = 1) -> None:
        """Do the method's effect, then close the connection without answering."""
        self._add_fault(method, _Fault("drop", times))

    def limit_posts(
        self,
        *,
        per_channel_per_second: float = 1.0,
        per_channel_burst: int = 3,
        workspace_per_second: float | None = None,
        workspace_burst: int = 20,
    ) -> None:
        """Token buckets on chat.postMessage/postEphemeral/update; over the limit answers 429."""
        with self._lock:
            self._post_limits = {
                "channel": (per_channel_per_second, per_channel_burst),
                "workspace": (workspace_per_second, workspace_burst) if workspace_per_second else None,
            }
            self._buckets = {}

    def reset_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._post_limits = None
            self._buckets = {}

    def _take_faults(self, method: str) -> tuple[float, _Fault | None]:
        """Consume this call's faults: total slowness, and the first response-changing fault."""
        delay, chosen = 0.0, None
        with self._lock:
            rules = self._faults.get(method, [])
            for fault in list(rules):
                if fault.kind == "slow":
                    delay += fault.seconds
                elif chosen is None:
                    chosen = fault
                else:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        rules.remove(fault)
        return delay, chosen

    def _post_limit_wait(self, method: str, params: dict) -> float:
        """Seconds until this post would be allowed (0 = allowed now, tokens taken)."""
        if self._post_limits is None or method not in _POST_METHODS:
            return 0.0
        channel = str(params.get("channel") or "")
        channel = self._channel_key(channel) if channel else channel
        rate, burst = self._post_limits["channel"]
        buckets = [self._buckets.setdefault("c:" + channel, _Bucket(rate, burst))]
        if self._post_limits["workspace"]:
            w_rate, w_burst = self._post_limits["workspace"]
            buckets.append(self._buckets.setdefault("workspace", _Bucket(w_rate, w_burst)))
        wait = max(b.wait_needed() for b in buckets)
        if wait == 0.0:
            for bucket in buckets:
                bucket.take()
        return wait

    # ------------------------------------------------------------------ triggers and response URLs
    def new_trigger_id(self, user_id: str | None = None) -> str:
        """A trigger id good for 3 seconds and one use, like the ones in Slack's payloads."""
        trigger = f"{next(self._ids)}.{int(time.time())}.{uuid.uuid4().hex[:24]}"
        with self._lock:
            self._triggers[trigger] = (time.monotonic() + TRIGGER_TTL, user_id)
        return trigger

    def _use_trigger(self, trigger_id: Any) -> str | None:
        """Check and consume a trigger id; returns the user it was issued for."""
        if not trigger_id:
            raise _ApiError("invalid_arguments", ["[ERROR] missing required field: trigger_id"])
        if trigger_id in self._used_triggers:
            raise _ApiError("trigger_exchanged")
        if trigger_id not in self._triggers:
            raise _ApiError("invalid_trigger_id")
        expires, user = self._triggers[trigger_id]
        if time.monotonic() > expires:
            raise _ApiError("expired_trigger_id")
        del self._triggers[trigger_id]
        self._used_triggers.add(trigger_id)
        return user

    def response_url_for(
        self, user_id: str, channel_id: str, message_ts: str | None = None, *, ephemeral: bool = False
    ) -> str:
        """A response URL on the double; replace/delete_original act on message_ts when given."""
        key = uuid.uuid4().hex
        with self._lock:
            self._response_urls[key] = {
                "user": user_id,
                "channel": self._channel_key(channel_id) if channel_id else channel_id,
                "message_ts": message_ts,
                "ephemeral": ephemeral,
            }
        return f"{self.base}/response/{key}"

    # ------------------------------------------------------------------ Socket Mode
    def socket_send(
        self,
        envelope_type: str,
        payload: dict,
        *,
        timeout: float = 3.0,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> dict:
        """Send an envelope to the connected Socket Mode client; returns its ack payload ({} if none)."""
        return self.socket.send(
            envelope_type, payload, timeout=timeout, retry_attempt=retry_attempt, retry_reason=retry_reason
        )

    def socket_connected(self, timeout: float = 5.0) -> bool:
        return self.socket.connected(timeout)

    def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's disconnect message and close, as Slack does every few hours."""
        self.socket.disconnect(reason)

    # ------------------------------------------------------------------ dispatch
    def _record(self, method: str, params: dict) -> Call:
        call = Call(method=method, params=copy.deepcopy(params))
        with self._lock:
            self._calls.append(call)
        return call

    def _finish(self, call: Call, outcome: _Outcome) -> None:
        with self._lock:
            call.status = 0 if outcome.drop else outcome.status
            body = outcome.body if isinstance(outcome.body, dict) else {}
            call.error = (
                "dropped_after_accept"
                if outcome.drop
                else (None if body.get("ok", True) else body.get("error"))
            )

    def _fault_outcome(self, fault: _Fault) -> _Outcome | None:
        if fault.kind == "fail":
            return _Outcome(200, {"ok": False, "error": fault.error})
        if fault.kind == "server_error":
            return _Outcome(fault.status, {"ok": False, "error": "internal_error"})
        if fault.kind == "rate_limit":
            return _Outcome(
                429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(fault.retry_after)}
            )
        return None

    def _check_token(self, method: str, token: str | None) -> None:
        wanted, other = (
            (self.app_token, self.bot_token)
            if method == "apps.connections.open"
            else (self.bot_token, self.app_token)
        )
        if not token:
            raise _ApiError("not_authed")
        if token == other:
            raise _ApiError("not_allowed_token_type")
        if token != wanted:
            raise _ApiError("invalid_auth")

    def _api(self, method: str, params: dict, token: str | None) -> _Outcome:
        """Answer one Web API call: latency, faults, auth, rate limits, then the method."""
        if self.latency:
            time.sleep(self.latency)
        delay, fault = self._take_faults(method)
        if delay:
            time.sleep(delay)
        handler = _METHODS.get(method)
        if handler is None:
            return _Outcome(200, {"ok": False, "error": "unknown_method"})
        try:
            self._check_token(method, token)
        except _ApiError as exc:
            return _Outcome(200, {"ok": False, "error": exc.error})
        if fault is not None and (out := self._fault_outcome(fault)) is not None:
            return out
        with self._lock:
            wait = self._post_limit_wait(method, params)
            if wait:
                retry = max(1, math.ceil(wait))
                return _Outcome(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry)})
            try:
                body = {"ok": True, **handler(self, params)}
            except _ApiError as exc:
                body = {"ok": False, "error": exc.error}
                if exc.messages:
                    body["response_metadata"] = {"messages": exc.messages}
        return _Outcome(200, body, drop=fault is not None and fault.kind == "drop")

    # ------------------------------------------------------------------ helpers used by methods
    def _next_ts(self) -> str:
        now_us = int(time.time() * 1_000_000)
        self._last_us = max(now_us, self._last_us + 1)
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    def _assign_ids(self, blocks: list) -> list:
        """Give blocks and elements the ids Slack generates when the app sent none."""
        blocks = copy.deepcopy(blocks or [])
        for block in blocks:
            if not isinstance(block, dict):
                continue
            block.setdefault("block_id", uuid.uuid4().hex[:5])
            elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
            elements += [block[k] for k in ("accessory", "element") if isinstance(block.get(k), dict)]
            for element in elements:
                if isinstance(element, dict) and element.get("type") not in (None, "image"):
                    element.setdefault("action_id", uuid.uuid4().hex[:5])
        return blocks

    def _conversation(self, channel_id: Any, *, to_post: bool = False, to_read: bool = False) -> dict:
        """Resolve a channel parameter (C/G/D id, or a user id meaning their DM), with Slack's errors."""
        channel_id = str(channel_id or "")
        if channel_id[:1] in ("U", "W"):
            user = self._users.get(channel_id)
            if user is None:
                raise _ApiError("channel_not_found")
            if user["deleted"] and to_post:
                raise _ApiError("account_inactive")
            return self._channels[self.dm_channel_id(channel_id)]
        channel = self._channels.get(channel_id)
        if channel is None:
            raise _ApiError("channel_not_found")
        if channel["is_im"]:
            user = self._users.get(channel["user"])
            if to_post and user is not None and user["deleted"]:
                raise _ApiError("account_inactive")
            return channel
        if not channel["bot_is_member"]:
            if channel["is_private"]:
                raise _ApiError("channel_not_found")
            if to_post or to_read:
                raise _ApiError("not_in_channel")
        if channel["is_archived"] and to_post:
            raise _ApiError("is_archived")
        return channel

    def _find_message(self, channel_id: str, ts: Any) -> dict:
        for message in self._messages.get(channel_id, []):
            if message["ts"] == ts:
                return message
        raise _ApiError("message_not_found")

    def _validate_message(self, params: dict, *, require_content: bool = True) -> None:
        text, blocks = params.get("text"), params.get("blocks")
        if isinstance(blocks, str):
            raise _ApiError("invalid_blocks_format")
        if require_content and not text and not blocks and not params.get("attachments"):
            raise _ApiError("no_text")
        if isinstance(text, str) and len(text) > limits.MESSAGE_TEXT_MAX:
            raise _ApiError("msg_too_long")
        found = limits.problems(blocks, surface="message")
        if found:
            raise _ApiError("invalid_blocks", [f"[ERROR] {p}" for p in found])

    def _metadata(self, value: Any) -> dict | None:
        if value in (None, ""):
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise _ApiError("invalid_metadata_format") from exc
        if not isinstance(value, dict) or not isinstance(value.get("event_type"), str):
            raise _ApiError("invalid_metadata_format")
        if not isinstance(value.get("event_payload", {}), dict):
            raise _ApiError("invalid_metadata_format")
        return value

    def _store_message(
        self,
        channel_id: str,
        *,
        text: Any,
        blocks: list,
        user: str | None = None,
        metadata: dict | None = None,
        thread_ts: Any = None,
        attachments: Any = None,
        files: list | None = None,
    ) -> dict:
        ts = self._next_ts()
        user = user or self.bot_user_id
        message: dict[str, Any] = {
            "type": "message",
            "ts": ts,
            "channel": channel_id,
            "user": user,
            "team": self.team_id,
            "text": text or "",
            "blocks": self._assign_ids(blocks),
            "metadata": metadata,
            "thread_ts": str(thread_ts) if thread_ts else None,
        }
        if user == self.bot_user_id:
            message.update(bot_id=self.bot_id, app_id=self.app_id)
        if attachments:
            message["attachments"] = attachments
        if files:
            message["files"] = files
        if message["thread_ts"]:
            self._note_reply(channel_id, message)
        self._messages.setdefault(channel_id, []).append(message)
        return message

    def _note_reply(self, channel_id: str, reply: dict) -> None:
        for parent in self._messages.get(channel_id, []):
            if parent["ts"] == reply["thread_ts"]:
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent["latest_reply"] = reply["ts"]
                users = parent.setdefault("reply_users", [])
                if reply["user"] not in users:
                    users.append(reply["user"])
                parent.setdefault("thread_ts", parent["ts"])

    def _public_message(self, message: dict, *, with_metadata: bool) -> dict:
        """A stored message as the Web API shows it (no channel key; metadata only on request)."""
        out = {k: copy.deepcopy(v) for k, v in message.items() if v is not None and k != "channel"}
        if not out.get("blocks"):
            out.pop("blocks", None)
        if not with_metadata:
            out.pop("metadata", None)
        return out

    def _check_view(self, view: Any) -> dict:
        if not isinstance(view, dict):
            raise _ApiError("invalid_arguments", ["[ERROR] missing required field: view"])
        found = limits.view_problems(view)
        if found:
            raise _ApiError("invalid_arguments", [f"[ERROR] {p}" for p in found])
        return view

    def _make_view(
        self, spec: dict, *, view_id: str | None = None, root: str | None = None, previous: str | None = None
    ) -> dict:
        view_id = view_id or self._new_id("V")
        view = {
            "id": view_id,
            "team_id": self.team_id,
            "type": spec["type"],
            "blocks": self._assign_ids(spec.get("blocks") or []),
            "private_metadata": spec.get("private_metadata", ""),
            "callback_id": spec.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
            "title": spec.get("title"),
            "submit": spec.get("submit"),
            "close": spec.get("close"),
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "external_id": spec.get("external_id", ""),
            "root_view_id": root or view_id,
            "previous_view_id": previous,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        return {k: v for k, v in view.items() if v is not None or k == "previous_view_id"}

    def _register_view(self, view: dict, user: str | None) -> None:
        self._views[view["id"]] = view
        self._view_meta[view["id"]] = {"user": user, "closed": False, "seq": next(self._ids)}

    def _open_stack(self, user: str | None) -> list[str]:
        return [
            v
            for v, m in sorted(self._view_meta.items(), key=lambda kv: kv[1]["seq"])
            if not m["closed"] and m["user"] == user and self._views[v]["type"] == "modal"
        ]

    # ------------------------------------------------------------------ used by SlackUser
    def _close_view(self, view_id: str, *, whole_stack: bool = False) -> None:
        with self._lock:
            meta = self._view_meta.get(view_id)
            if meta is None:
                return
            if whole_stack:
                root = self._views[view_id]["root_view_id"]
                for vid, m in self._view_meta.items():
                    if self._views[vid].get("root_view_id") == root:
                        m["closed"] = True
            meta["closed"] = True

    def _apply_submission_ack(self, view: dict, ack: dict | None) -> None:
        """Do to the open modal what Slack does with a view_submission acknowledgement."""
        ack = ack or {}
        action, spec = ack.get("response_action"), ack.get("view")
        view_id = view.get("id", "")
        with self._lock:
            if view_id not in self._views or action == "errors":
                return
            if action == "update" and isinstance(spec, dict):
                if not limits.view_problems(spec):
                    old = self._views[view_id]
                    new = self._make_view(
                        spec, view_id=view_id, root=old["root_view_id"], previous=old["previous_view_id"]
                    )
                    self._views[view_id] = new
                return
            if action == "push" and isinstance(spec, dict):
                if not limits.view_problems(spec):
                    old = self._views[view_id]
                    new = self._make_view(spec, root=old["root_view_id"], previous=view_id)
                    self._register_view(new, self._view_meta[view_id]["user"])
                return
        self._close_view(view_id, whole_stack=action == "clear")

    # ------------------------------------------------------------------ response URLs and uploads
    def _response_post(self, key: str, body: Any) -> _Outcome:
        with self._lock:
            target = self._response_urls.get(key)
            if target is None:
                return _Outcome(404, {"ok": False, "error": "no_such_url"})
            if not isinstance(body, dict):
                return _Outcome(400, {"ok": False, "error": "invalid_payload"})
            self._responses.append({"key": key, "body": copy.deepcopy(body), **target})
            try:
                self._apply_response(target, body)
            except _ApiError as exc:
                return _Outcome(200, {"ok": False, "error": exc.error})
        return _Outcome(200, {"ok": True})

    def _apply_response(self, target: dict, body: dict) -> None:
        if _truthy(body.get("delete_original")):
            self._delete_source(target)
            return
        self._validate_message(body, require_content=not _truthy(body.get("replace_original")))
        if _truthy(body.get("replace_original")) and target["message_ts"]:
            self._replace_source(target, body)
            return
        channel = target["channel"]
        if body.get("response_type") == "in_channel" and channel:
            self._store_message(
                channel,
                text=body.get("text"),
                blocks=body.get("blocks") or [],
                thread_ts=body.get("thread_ts"),
            )
        elif channel:
            self._store_ephemeral(channel, target["user"], body)

    def _source_list(self, target: dict) -> list[dict]:
        if target["ephemeral"]:
            return self._ephemerals
        return self._messages.get(target["channel"], [])

    def _delete_source(self, target: dict) -> None:
        items = self._source_list(target)
        items[:] = [m for m in items if m["ts"] != target["message_ts"]]

    def _replace_source(self, target: dict, body: dict) -> None:
        for message in self._source_list(target):
            if message["ts"] == target["message_ts"]:
                message["text"] = body.get("text") or ""
                message["blocks"] = self._assign_ids(body.get("blocks") or [])
                return

    def _store_ephemeral(self, channel: str, user: str, params: dict) -> dict:
        ephemeral = {
            "type": "message",
            "subtype": "ephemeral",
            "is_ephemeral": True,
            "ts": self._next_ts(),
            "channel": channel,
            "user": user,
            "text": params.get("text") or "",
            "blocks": self._assign_ids(params.get("blocks") or []),
            "thread_ts": params.get("thread_ts"),
            "bot_id": self.bot_id,
        }
        self._ephemerals.append(ephemeral)
        return ephemeral

    def _upload(self, file_id: str, data: bytes, content_type: str) -> _Outcome:
        with self._lock:
            pending = self._uploads.get(file_id)
            if pending is None:
                return _Outcome(404, "Not Found")
            pending["content"] = _extract_upload(data, content_type)
            return _Outcome(200, f"OK - {len(pending['content'])}")


def _extract_upload(data: bytes, content_type: str) -> bytes:
    """The file's bytes from a raw or multipart/form-data upload body."""
    if not content_type.lower().startswith("multipart/form-data"):
        return data
    raw = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + data
    message = BytesParser(policy=HTTP_POLICY).parsebytes(raw)
    parts = list(message.iter_parts()) if message.is_multipart() else []
    for part in parts:
        if part.get_filename() is not None:
            return _decoded(part)
    if not parts:
        return data
    return _decoded(parts[0])


def _decoded(part: Message) -> bytes:
    """A parsed part's decoded body. With decode=True get_payload gives a single part's bytes, or
    None for a multipart one (typeshed also allows a Message, which only set_payload could put
    there, never the parser)."""
    return cast("bytes | None", part.get_payload(decode=True)) or b""


# ---------------------------------------------------------------------- Web API methods
def _auth_test(d: SlackDouble, p: dict) -> dict:
    return {
        "url": f"https://{d.team_domain}.slack.com/",
        "team": "PLC Double",
        "user": "plcbot",
        "team_id": d.team_id,
        "user_id": d.bot_user_id,
        "bot_id": d.bot_id,
        "is_enterprise_install": False,
    }


def _chat_post_message(d: SlackDouble, p: dict) -> dict:
    channel = d._conversation(p.get("channel"), to_post=True)
    d._validate_message(p)
    metadata = d._metadata(p.get("metadata"))
    message = d._store_message(
        channel["id"],
        text=p.get("text"),
        blocks=p.get("blocks") or [],
        metadata=metadata,
        thread_ts=p.get("thread_ts"),
        attachments=p.get("attachments"),
    )
    return {
        "channel": channel["id"],
        "ts": message["ts"],
        "message": d._public_message(message, with_metadata=True),
    }


def _chat_update(d: SlackDouble, p: dict) -> dict:
    channel = d._conversation(p.get("channel"), to_post=True)
    message = d._find_message(channel["id"], p.get("ts"))
    if message.get("user") != d.bot_user_id:
        raise _ApiError("cant_update_message")
    d._validate_message(p, require_content=False)
    if "text" in p and p["text"] is not None:
        message["text"] = p["text"]
    if p.get("blocks") is not None:
        message["blocks"] = d._assign_ids(p["blocks"])
    if p.get("attachments") is not None:
        message["attachments"] = p["attachments"]
    if p.get("metadata") not in (None, ""):
        message["metadata"] = d._metadata(p["metadata"])
    message["edited"] = {"user": d.bot_user_id, "ts": d._next_ts()}
    return {
        "channel": channel["id"],
        "ts": message["ts"],
        "text": message["text"],
        "message": d._public_message(message, with_metadata=True),
    }


def _chat_delete(d: SlackDouble, p: dict) -> dict:
    channel = d._conversation(p.get("channel"), to_post=True)
    message = d._find_message(channel["id"], p.get("ts"))
    if message.get("user") != d.bot_user_id:
        raise _ApiError("cant_delete_message")
    d._messages[channel["id"]].remove(message)
    return {"channel": channel["id"], "ts": message["ts"]}


def _chat_post_ephemeral(d: SlackDouble, p: dict) -> dict:
    channel = d._conversation(p.get("channel"), to_post=True)
    user_id = str(p.get("user") or "")
    user = d._users.get(user_id)
    if user is None:
        raise _ApiError("user_not_found")
    if not channel["is_im"] and user_id not in channel["members"]:
        raise _ApiError("user_not_in_channel")
    d._validate_message(p)
    ephemeral = d._store_ephemeral(channel["id"], user_id, p)
    return {"message_ts": ephemeral["ts"]}


def _chat_get_permalink(d: SlackDouble, p: dict) -> dict:
    channel = d._conversation(p.get("channel"))
    message = d._find_message(channel["id"], p.get("message_ts"))
    link = f"https://{d.team_domain}.slack.com/archives/{channel['id']}/p{message['ts'].replace('.', '')}"
    return {"channel": channel["id"], "permalink": link}


def _conversations_open(d: SlackDouble, p: dict) -> dict:
    if p.get("channel"):
        channel = d._conversation(p["channel"])
        return {"channel": {"id": channel["id"]}}
    users = [u.strip() for u in str(p.get("users") or "").split(",") if u.strip()]
    if not users:
        raise _ApiError("users_list_not_supplied")
    if len(users) > 1:
        raise _ApiError("not_supported_by_double")
    user = d._users.get(users[0])
    if user is None:
        raise _ApiError("user_not_found")
    if user["deleted"]:
        raise _ApiError("account_inactive")
    existed = ("D" + users[0][1:]) in d._channels
    dm = d._channels[d.dm_channel_id(users[0])]
    if _truthy(p.get("return_im")):
        full = {k: v for k, v in dm.items() if k not in ("members", "bot_is_member")}
        full.update(is_user_deleted=user["deleted"], is_org_shared=False, priority=0)
        return {"no_op": existed, "already_open": existed, "channel": full}
    return {"no_op": existed, "already_open": existed, "channel": {"id": dm["id"]}}


def _channel_members(d: SlackDouble, channel: dict) -> list[str]:
    members = list(channel["members"])
    if channel["bot_is_member"] and d.bot_user_id not in members:
        members.append(d.bot_user_id)
    return members


def _conversations_members(d: SlackDouble, p: dict) -> dict:
    channel = d._conversation(p.get("channel"))
    page, cursor = _page(_channel_members(d, channel), p, default=100, maximum=1000)
    return {"members": page, "response_metadata": {"next_cursor": cursor}}


def _in_window(ts: str, p: dict) -> bool:
    """Whether ts lies between oldest and latest (both exclusive unless inclusive=true)."""
    key, inclusive = _ts_key(ts), _truthy(p.get("inclusive"))
    oldest, latest = p.get("oldest"), p.get("latest")
    after_oldest = (
        oldest in (None, "", "0") or key > _ts_key(oldest) or (inclusive and key == _ts_key(oldest))
    )
    before_latest = latest in (None, "") or key < _ts_key(latest) or (inclusive and key == _ts_key(latest))
    return bool(after_oldest and before_latest)


def _conversations_history(d: SlackDouble, p: dict) -> dict:
    channel = d._conversation(p.get("channel"), to_read=True)
    with_metadata = _truthy(p.get("include_all_metadata"))
    top = [
        m
        for m in d._messages.get(channel["id"], [])
        if (not m.get("thread_ts") or m["thread_ts"] == m["ts"]) and _in_window(m["ts"], p)
    ]
    top.sort(key=lambda m: _ts_key(m["ts"]), reverse=True)
    page, cursor = _page(top, p, default=100, maximum=999)
    return {
        "messages": [d._public_message(m, with_metadata=with_metadata) for m in page],
        "has_more": bool(cursor),
        "pin_count": 0,
        "response_metadata": {"next_cursor": cursor},
    }


def _conversations_replies(d: SlackDouble, p: dict) -> dict:
    channel = d._conversation(p.get("channel"), to_read=True)
    ts = p.get("ts")
    found = [m for m in d._messages.get(channel["id"], []) if m["ts"] == ts or m.get("thread_ts") == ts]
    if not any(m["ts"] == ts for m in found):
        raise _ApiError("thread_not_found")
    found = [m for m in found if m["ts"] == ts or _in_window(m["ts"], p)]
    found.sort(key=lambda m: _ts_key(m["ts"]))
    page, cursor = _page(found, p, default=1000, maximum=1000)
    with_metadata = _truthy(p.get("include_all_metadata"))
    return {
        "messages": [d._public_message(m, with_metadata=with_metadata) for m in page],
        "has_more": bool(cursor),
        "response_metadata": {"next_cursor": cursor},
    }


def _conversations_info(d: SlackDouble, p: dict) -> dict:
    channel = d._conversation(p.get("channel"))
    info = {k: v for k, v in channel.items() if k not in ("members", "bot_is_member")}
    info["is_member"] = channel["bot_is_member"]
    if _truthy(p.get("include_num_members")):
        info["num_members"] = len(_channel_members(d, channel))
    return {"channel": info}


def _conversations_list(d: SlackDouble, p: dict) -> dict:
    """Channels the bot can see: every public one, private ones only when it is a member."""
    types = {t.strip() for t in str(p.get("types") or "public_channel").split(",") if t.strip()}
    exclude_archived = _truthy(p.get("exclude_archived"))
    seen = []
    for channel in d._channels.values():
        if channel["is_im"] or channel["is_mpim"]:
            continue
        kind = "private_channel" if channel["is_private"] else "public_channel"
        if kind not in types or (channel["is_private"] and not channel["bot_is_member"]):
            continue
        if exclude_archived and channel["is_archived"]:
            continue
        info = {k: v for k, v in channel.items() if k not in ("members", "bot_is_member")}
        info["is_member"] = channel["bot_is_member"]
        info["num_members"] = len(_channel_members(d, channel))
        seen.append(info)
    page, cursor = _page(seen, p, default=100, maximum=1000)
    return {"channels": page, "response_metadata": {"next_cursor": cursor}}


def _users_info(d: SlackDouble, p: dict) -> dict:
    user = d._users.get(str(p.get("user") or ""))
    if user is None:
        raise _ApiError("user_not_found")
    return {"user": copy.deepcopy(user)}


def _users_list(d: SlackDouble, p: dict) -> dict:
    page, cursor = _page(list(d._users.values()), p, default=200, maximum=200)
    members = [copy.deepcopy(u) for u in page]  # copy the page only: a big workspace stays fast
    return {"members": members, "cache_ts": int(time.time()), "response_metadata": {"next_cursor": cursor}}


def _users_lookup_by_email(d: SlackDouble, p: dict) -> dict:
    email = str(p.get("email") or "").lower()
    for user in d._users.values():
        if email and str(user["profile"].get("email", "")).lower() == email:
            return {"user": copy.deepcopy(user)}
    raise _ApiError("users_not_found")


def _view_param(p: dict) -> Any:
    return p.get("view")


def _views_open(d: SlackDouble, p: dict) -> dict:
    user = d._use_trigger(p.get("trigger_id"))
    spec = d._check_view(_view_param(p))
    if spec["type"] != "modal":
        raise _ApiError("invalid_arguments", ["[ERROR] views.open needs a modal"])
    if spec.get("external_id") and any(
        v.get("external_id") == spec["external_id"] for v in d._views.values()
    ):
        raise _ApiError("duplicate_external_id")
    view = d._make_view(spec)
    d._register_view(view, user)
    return {"view": copy.deepcopy(view)}


def _find_view(d: SlackDouble, p: dict) -> dict:
    if p.get("view_id"):
        view = d._views.get(str(p["view_id"]))
    elif p.get("external_id"):
        view = next((v for v in d._views.values() if v.get("external_id") == p["external_id"]), None)
    else:
        raise _ApiError("invalid_arguments", ["[ERROR] view_id or external_id is required"])
    if view is None or d._view_meta[view["id"]]["closed"]:
        raise _ApiError("not_found")
    return view


def _views_update(d: SlackDouble, p: dict) -> dict:
    old = _find_view(d, p)
    if p.get("hash") and p["hash"] != old["hash"]:
        raise _ApiError("hash_conflict")
    spec = d._check_view(_view_param(p))
    new = d._make_view(spec, view_id=old["id"], root=old["root_view_id"], previous=old["previous_view_id"])
    d._views[old["id"]] = new
    return {"view": copy.deepcopy(new)}


def _views_push(d: SlackDouble, p: dict) -> dict:
    user = d._use_trigger(p.get("trigger_id"))
    spec = d._check_view(_view_param(p))
    stack = d._open_stack(user)
    if not stack:
        raise _ApiError("not_found")
    if len(stack) >= VIEW_STACK_MAX:
        raise _ApiError("push_limit_reached")
    top = d._views[stack[-1]]
    view = d._make_view(spec, root=top["root_view_id"], previous=top["id"])
    d._register_view(view, user)
    return {"view": copy.deepcopy(view)}


def _views_publish(d: SlackDouble, p: dict) -> dict:
    user_id = str(p.get("user_id") or "")
    if user_id not in d._users:
        raise _ApiError("user_not_found")
    spec = d._check_view(_view_param(p))
    if spec["type"] != "home":
        raise _ApiError("invalid_arguments", ["[ERROR] views.publish needs a home view"])
    old = d._home.get(user_id)
    if old and p.get("hash") and p["hash"] != old["hash"]:
        raise _ApiError("hash_conflict")
    view = d._make_view(spec, view_id=old["id"] if old else None)
    d._home[user_id] = view
    d._views[view["id"]] = view
    d._view_meta.setdefault(view["id"], {"user": user_id, "closed": False, "seq": next(d._ids)})
    return {"view": copy.deepcopy(view)}


def _files_get_upload_url(d: SlackDouble, p: dict) -> dict:
    if not p.get("filename") or not str(p.get("length") or "").isdigit():
        raise _ApiError("invalid_arguments", ["[ERROR] filename and length are required"])
    file_id = d._new_id("F")
    d._uploads[file_id] = {"filename": p["filename"], "length": int(p["length"]), "content": None}
    return {"upload_url": f"{d.base}/upload/{file_id}", "file_id": file_id}


def _files_complete_upload(d: SlackDouble, p: dict) -> dict:
    entries = p.get("files")
    if not isinstance(entries, list) or not entries:
        raise _ApiError("invalid_arguments", ["[ERROR] files must be a JSON array"])
    channel_ids = [c for c in str(p.get("channels") or "").split(",") if c] or (
        [p["channel_id"]] if p.get("channel_id") else []
    )
    channels = [d._conversation(c, to_post=True) for c in channel_ids if c[:1] not in ("U", "W")]
    if len(channels) != len(channel_ids):
        raise _ApiError("channel_not_found")
    done = []
    for entry in entries:
        pending = d._uploads.get(str(entry.get("id")))
        if pending is None or pending["content"] is None:
            raise _ApiError("file_not_found")
        done.append((entry, pending))
    shared = []
    for entry, pending in done:
        record = {
            "id": entry["id"],
            "title": entry.get("title") or pending["filename"],
            "name": pending["filename"],
            "filename": pending["filename"],
            "size": len(pending["content"]),
            "content": pending["content"],
            "channel_id": channels[0]["id"] if channels else None,
            "channel_ids": [c["id"] for c in channels],
            "initial_comment": p.get("initial_comment"),
            "thread_ts": p.get("thread_ts"),
        }
        d._files.append(record)
        del d._uploads[entry["id"]]
        shared.append({k: record[k] for k in ("id", "title", "name", "size")})
    for channel in channels:
        d._store_message(
            channel["id"],
            text=p.get("initial_comment") or "",
            blocks=[],
            thread_ts=p.get("thread_ts"),
            files=copy.deepcopy(shared),
        )
    return {"files": shared}


def _apps_connections_open(d: SlackDouble, p: dict) -> dict:
    ticket = d.socket.new_ticket()
    return {"url": f"ws://127.0.0.1:{d.base.rsplit(':', 1)[1]}/socket/?ticket={ticket}&app_id={d.app_id}"}


_METHODS: dict[str, Callable[[SlackDouble, dict], dict]] = {
    "auth.test": _auth_test,
    "chat.postMessage": _chat_post_message,
    "chat.update": _chat_update,
    "chat.delete": _chat_delete,
    "chat.postEphemeral": _chat_post_ephemeral,
    "chat.getPermalink": _chat_get_permalink,
    "conversations.open": _conversations_open,
    "conversations.members": _conversations_members,
    "conversations.history": _conversations_history,
    "conversations.replies": _conversations_replies,
    "conversations.info": _conversations_info,
    "conversations.list": _conversations_list,
    "users.info": _users_info,
    "users.list": _users_list,
    "users.lookupByEmail": _users_lookup_by_email,
    "views.open": _views_open,
    "views.update": _views_update,
    "views.push": _views_push,
    "views.publish": _views_publish,
    "files.getUploadURLExternal": _files_get_upload_url,
    "files.completeUploadExternal": _files_complete_upload,
    "apps.connections.open": _apps_connections_open,
}


# ---------------------------------------------------------------------- HTTP plumbing
class _Handler(BaseHTTPRequestHandler):
    """Routes /api/<method>, /upload/<file>, /response/<key> and /socket/ upgrades."""

    protocol_version = "HTTP/1.1"
    server_version = "SlackDouble/1.0"

    @property
    def double(self) -> SlackDouble:
        return self.server.double  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by design
        pass

    def do_GET(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        if path.startswith("/socket/") and self.headers.get("Upgrade", "").lower() == "websocket":
            self._socket()
        elif path.startswith("/api/"):
            self._api()
        else:
            self._send(_Outcome(404, "Not Found"))

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        if path.startswith("/api/"):
            self._api()
        elif path.startswith("/upload/"):
            self._upload(path.split("/", 2)[2])
        elif path.startswith("/response/"):
            self._response(path.split("/", 2)[2])
        else:
            self._send(_Outcome(404, "Not Found"))

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _params(self, raw: bytes) -> dict:
        params: dict[str, Any] = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        ctype = (self.headers.get("Content-Type") or "").lower()
        if raw and "application/json" in ctype:
            try:
                loaded = json.loads(raw)
            except ValueError:
                loaded = None
            if isinstance(loaded, dict):
                params.update(loaded)
        elif raw and "multipart/form-data" not in ctype:
            params.update(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True))
        return _parse_json_params(params)

    def _token(self, params: dict) -> str | None:
        auth = self.headers.get("Authorization") or ""
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        token = params.pop("token", None)
        return str(token) if token else None

    def _api(self) -> None:
        method = urlsplit(self.path).path[len("/api/") :]
        params = self._params(self._body())
        token = self._token(params)
        call = self.double._record(method, params)
        outcome = self.double._api(method, params, token)
        self.double._finish(call, outcome)
        self._send(outcome)

    def _upload(self, file_id: str) -> None:
        data = self._body()
        double = self.double
        call = double._record("upload", {"file_id": file_id, "size": len(data)})
        delay, fault = double._take_faults("upload")
        if delay:
            time.sleep(delay)
        outcome = (fault and double._fault_outcome(fault)) or double._upload(
            file_id, data, self.headers.get("Content-Type") or ""
        )
        outcome.drop = fault is not None and fault.kind == "drop"
        double._finish(call, outcome)
        self._send(outcome)

    def _response(self, key: str) -> None:
        raw = self._body()
        double = self.double
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        call = double._record("response_url", {"key": key, "body": body})
        delay, fault = double._take_faults("response_url")
        if delay:
            time.sleep(delay)
        outcome = (fault and double._fault_outcome(fault)) or double._response_post(key, body)
        outcome.drop = fault is not None and fault.kind == "drop"
        double._finish(call, outcome)
        self._send(outcome)

    def _socket(self) -> None:
        query = dict(parse_qsl(urlsplit(self.path).query))
        key = self.headers.get("Sec-WebSocket-Key")
        if not key or not self.double.socket.valid_ticket(query.get("ticket", "")):
            self._send(_Outcome(403, "Forbidden"))
            return
        self.close_connection = True
        self.double.socket.serve(self.connection, self.rfile, key)

    def _send(self, outcome: _Outcome) -> None:
        if outcome.drop:
            self.close_connection = True
            return
        if isinstance(outcome.body, dict):
            data, ctype = json.dumps(outcome.body).encode("utf-8"), "application/json; charset=utf-8"
        else:
            data, ctype = str(outcome.body).encode("utf-8"), "text/plain; charset=utf-8"
        self.send_response(outcome.status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in outcome.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
