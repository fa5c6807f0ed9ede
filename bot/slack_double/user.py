"""Simulated people: signed requests to the bot, shaped and signed exactly as Slack sends them.

Requests go through the bot's real HTTP endpoint (so signature checks, parsing and the 3-second
ack all run for real), or through the double's Socket Mode connection with ``via_socket=True``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from .server import SlackDouble

HTTP_TIMEOUT = 10.0
ACK_DEADLINE = 3.0  # Slack shows an error and ignores a later answer


@dataclass
class Reply:
    """What the bot answered: HTTP status, raw body, parsed JSON (if any), headers, seconds taken."""

    status: int
    body: str
    json: dict | None
    headers: dict
    elapsed: float = field(default=0.0)


def sign(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """Slack's request-signing headers for a raw body (v0 HMAC-SHA256)."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


def _iter_elements(blocks: list) -> Iterator[tuple[dict, dict]]:
    """(block, element) for every interactive element in a list of blocks."""
    for block in blocks or []:
        if not isinstance(block, dict):
            continue
        for element in block.get("elements") or []:
            if block.get("type") == "actions" and isinstance(element, dict):
                yield block, element
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                yield block, block[key]


def _options(element: dict) -> list[dict]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options") or []
    return options


def _option(element: dict, value: Any) -> dict:
    for option in _options(element):
        if option.get("value") == value:
            return option
    raise ValueError(f"no option with value {value!r} in {element.get('action_id')!r}")


def _element_state(element: dict, value: Any) -> dict:
    """The state.values entry (or action fields) Slack builds for an element given a simple value."""
    kind = element.get("type")
    if kind in ("static_select", "radio_buttons", "overflow", "external_select"):
        return {"type": kind, "selected_option": None if value is None else _option(element, value)}
    if kind in ("multi_static_select", "checkboxes"):
        return {"type": kind, "selected_options": [_option(element, v) for v in (value or [])]}
    if kind == "users_select":
        return {"type": kind, "selected_user": value}
    if kind == "multi_users_select":
        return {"type": kind, "selected_users": list(value or [])}
    if kind == "conversations_select":
        return {"type": kind, "selected_conversation": value}
    if kind == "multi_conversations_select":
        return {"type": kind, "selected_conversations": list(value or [])}
    if kind == "channels_select":
        return {"type": kind, "selected_channel": value}
    if kind == "datepicker":
        return {"type": kind, "selected_date": value}
    if kind == "timepicker":
        return {"type": kind, "selected_time": value}
    if kind == "number_input":
        return {"type": kind, "value": None if value is None else str(value)}
    return {"type": kind, "value": value}


class SlackUser:
    """One simulated person in the workspace, clicking and typing in Slack."""

    def __init__(
        self,
        double: SlackDouble,
        user_id: str,
        *,
        bot_url: str | None,
        signing_secret: str | None,
        via_socket: bool = False,
    ) -> None:
        if not via_socket and (not bot_url or not signing_secret):
            raise ValueError("HTTP mode needs bot_url and signing_secret (or use via_socket=True)")
        if bot_url and not bot_url.startswith(("http://", "https://")):
            raise ValueError(f"bot_url must be http(s), not {bot_url!r}")
        self.double, self.user_id = double, user_id
        self.bot_url, self.signing_secret, self.via_socket = bot_url, signing_secret, via_socket

    # ------------------------------------------------------------------ identity
    @property
    def name(self) -> str:
        with self.double._lock:
            user = self.double._users.get(self.user_id)
            return user["name"] if user else self.user_id.lower()

    def _user(self) -> dict:
        return {"id": self.user_id, "username": self.name, "name": self.name, "team_id": self.double.team_id}

    def _team(self) -> dict:
        return {"id": self.double.team_id, "domain": self.double.team_domain}

    def _channel_ref(self, channel_id: str) -> dict:
        return {"id": channel_id, "name": self._channel_name(channel_id)}

    def _channel_name(self, channel_id: str) -> str:
        with self.double._lock:
            channel = self.double._channels.get(channel_id)
            if channel is None or channel.get("is_im"):
                return "directmessage"
            return "privategroup" if channel.get("is_private") else channel["name"]

    def _resolve(self, channel: str) -> str:
        return self.double.dm_channel_id(channel) if channel[:1] in ("U", "W") else channel

    # ------------------------------------------------------------------ transport
    def _post(self, body: bytes, content_type: str, headers: dict | None = None) -> Reply:
        assert self.bot_url and self.signing_secret
        all_headers = {"Content-Type": content_type, **sign(body, self.signing_secret, int(time.time()))}
        all_headers.update(headers or {})
        request = urllib.request.Request(self.bot_url, data=body, headers=all_headers, method="POST")  # noqa: S310
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310 - http(s) checked
                status, raw, got = response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            status, raw, got = exc.code, exc.read(), dict(exc.headers)
        text = raw.decode("utf-8", errors="replace")
        return Reply(status, text, _maybe_json(text), got, time.monotonic() - started)

    def _socket(
        self,
        envelope_type: str,
        payload: dict,
        *,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> Reply:
        started = time.monotonic()
        ack = self.double.socket_send(
            envelope_type, payload, retry_attempt=retry_num or 0, retry_reason=retry_reason or ""
        )
        return Reply(200, json.dumps(ack), ack, {}, time.monotonic() - started)

    def _interactive(self, payload: dict) -> Reply:
        if self.via_socket:
            return self._socket("interactive", payload)
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self._post(body, "application/x-www-form-urlencoded")

    # ------------------------------------------------------------------ slash commands
    def command(
        self, text: str, *, channel: str, command: str = "/plc", headers: dict | None = None
    ) -> Reply:
        """Type a slash command in a channel (or a user id / D id for a DM)."""
        channel_id = self._resolve(channel)
        form = {
            "token": self.double.verification_token,
            "team_id": self.double.team_id,
            "team_domain": self.double.team_domain,
            "channel_id": channel_id,
            "channel_name": self._channel_name(channel_id),
            "user_id": self.user_id,
            "user_name": self.name,
            "command": command,
            "text": text,
            "api_app_id": self.double.app_id,
            "is_enterprise_install": "false",
            "response_url": self.double.response_url_for(self.user_id, channel_id),
            "trigger_id": self.double.new_trigger_id(self.user_id),
        }
        if self.via_socket:
            return self._socket("slash_commands", form)
        return self._post(urlencode(form).encode(), "application/x-www-form-urlencoded", headers)

    # ------------------------------------------------------------------ block actions
    def click(self, message: dict, action_id: str, *, value: Any = None, channel: str | None = None) -> Reply:
        """Click a button or choose in a select found in message["blocks"] (a message, home tab or modal)."""
        block, element = self._find(message, action_id)
        action = self._action(block, element, value)
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(),
            "api_app_id": self.double.app_id,
            "token": self.double.verification_token,
            "trigger_id": self.double.new_trigger_id(self.user_id),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "actions": [action],
        }
        if message.get("type") in ("modal", "home"):
            payload["container"] = {"type": "view", "view_id": message["id"]}
            payload["view"] = message
        else:
            self._message_context(payload, message, channel)
        return self._interactive(payload)

    def _message_context(self, payload: dict, message: dict, channel: str | None) -> None:
        channel_id = self._resolve(channel or message.get("channel") or "")
        if not channel_id:
            raise ValueError("the message has no channel; pass channel=")
        ephemeral = bool(message.get("is_ephemeral"))
        payload["container"] = {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": channel_id,
            "is_ephemeral": ephemeral,
        }
        payload["channel"] = self._channel_ref(channel_id)
        if not ephemeral:
            payload["message"] = {k: v for k, v in message.items() if k != "channel" and v is not None}
        payload["state"] = {"values": {}}
        payload["response_url"] = self.double.response_url_for(
            self.user_id, channel_id, message["ts"], ephemeral=ephemeral
        )

    @staticmethod
    def _find(message: dict, action_id: str) -> tuple[dict, dict]:
        for block, element in _iter_elements(message.get("blocks") or []):
            if element.get("action_id") == action_id:
                return block, element
        found = [e.get("action_id") for _, e in _iter_elements(message.get("blocks") or [])]
        raise LookupError(f"no element with action_id {action_id!r}; the message has {found}")

    @staticmethod
    def _action(block: dict, element: dict, value: Any) -> dict:
        kind = element.get("type")
        action: dict[str, Any] = {
            "type": kind,
            "action_id": element.get("action_id"),
            "block_id": block.get("block_id"),
            "action_ts": f"{time.time():.6f}",
        }
        if kind == "button":
            action.update(
                {"text": element.get("text"), "value": element.get("value") if value is None else value}
            )
            if element.get("style"):
                action["style"] = element["style"]
            return action
        if value is None and kind in ("static_select", "radio_buttons", "overflow"):
            raise ValueError(f"choosing in a {kind} needs value=")
        state = _element_state(element, value)
        action.update({k: v for k, v in state.items() if k != "type"})
        return action

    # ------------------------------------------------------------------ views
    def submit(self, view: dict, values: dict[str, dict[str, object]]) -> Reply:
        """Submit a modal with simple values {block_id: {action_id: value}}; applies the ack like Slack."""
        payload = {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(),
            "api_app_id": self.double.app_id,
            "token": self.double.verification_token,
            "trigger_id": self.double.new_trigger_id(self.user_id),
            "view": {**view, "state": {"values": self._state_values(view, values)}},
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        reply = self._interactive(payload)
        if reply.status == 200 and reply.elapsed <= ACK_DEADLINE:
            self.double._apply_submission_ack(view, reply.json)
        return reply

    @staticmethod
    def _state_values(view: dict, values: dict[str, dict[str, object]]) -> dict:
        """state.values as Slack builds it: every input block, with the given values filled in."""
        state: dict[str, dict] = {}
        known: dict[tuple[str, str], dict] = {}
        for block in view.get("blocks") or []:
            if (
                isinstance(block, dict)
                and block.get("type") == "input"
                and isinstance(block.get("element"), dict)
            ):
                element = block["element"]
                known[(block.get("block_id", ""), element.get("action_id", ""))] = element
        for (block_id, action_id), element in known.items():
            initial = element.get("initial_value")
            state.setdefault(block_id, {})[action_id] = _element_state(element, None) | (
                {"value": initial}
                if initial is not None and element.get("type") == "plain_text_input"
                else {}
            )
            # Like Slack, a choice the view pre-selected is submitted unless the person changes it.
            if element.get("initial_option") is not None:
                state[block_id][action_id]["selected_option"] = element["initial_option"]
            if element.get("initial_options") is not None:
                state[block_id][action_id]["selected_options"] = list(element["initial_options"])
        for block_id, actions in values.items():
            for action_id, value in actions.items():
                element = known.get((block_id, action_id))
                if element is None:
                    raise LookupError(
                        f"no input {block_id!r}/{action_id!r} in the view; it has {sorted(known)}"
                    )
                state[block_id][action_id] = _element_state(element, value)
        return state

    def close(self, view: dict) -> Reply | None:
        """Close a modal with its X; sends view_closed only when the view asked (notify_on_close)."""
        self.double._close_view(view["id"])
        if not view.get("notify_on_close"):
            return None
        payload = {
            "type": "view_closed",
            "team": self._team(),
            "user": self._user(),
            "api_app_id": self.double.app_id,
            "token": self.double.verification_token,
            "view": view,
            "is_cleared": False,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self._interactive(payload)

    # ------------------------------------------------------------------ shortcuts
    def shortcut(self, callback_id: str, message: dict, *, channel: str) -> Reply:
        """Run a message shortcut on a message."""
        channel_id = self._resolve(channel)
        payload = {
            "type": "message_action",
            "callback_id": callback_id,
            "trigger_id": self.double.new_trigger_id(self.user_id),
            "response_url": self.double.response_url_for(self.user_id, channel_id, message.get("ts")),
            "message_ts": message.get("ts"),
            "message": {k: v for k, v in message.items() if k != "channel" and v is not None},
            "channel": self._channel_ref(channel_id),
            "user": self._user(),
            "team": self._team(),
            "token": self.double.verification_token,
            "action_ts": f"{time.time():.6f}",
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self._interactive(payload)

    def global_shortcut(self, callback_id: str) -> Reply:
        payload = {
            "type": "shortcut",
            "callback_id": callback_id,
            "trigger_id": self.double.new_trigger_id(self.user_id),
            "user": self._user(),
            "team": self._team(),
            "token": self.double.verification_token,
            "action_ts": f"{time.time():.6f}",
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self._interactive(payload)

    # ------------------------------------------------------------------ events
    def event(
        self,
        event: dict,
        *,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        event_id: str | None = None,
    ) -> Reply:
        """Deliver an Events API event_callback (with Slack's retry headers when given)."""
        now = time.time()
        event = {"event_ts": f"{now:.6f}", **event}
        body = {
            "token": self.double.verification_token,
            "team_id": self.double.team_id,
            "api_app_id": self.double.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or "Ev" + uuid.uuid4().hex[:10].upper(),
            "event_time": int(now),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.double.team_id,
                    "user_id": self.double.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + uuid.uuid4().hex,
        }
        if self.via_socket:
            return self._socket("events_api", body, retry_num=retry_num, retry_reason=retry_reason)
        headers = {}
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
        if retry_reason is not None:
            headers["X-Slack-Retry-Reason"] = retry_reason
        return self._post(json.dumps(body).encode(), "application/json", headers)

    def open_home(self) -> Reply:
        """Open the app's Home tab (app_home_opened, tab "home")."""
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": self.user_id,
            "channel": self.double.dm_channel_id(self.user_id),
            "tab": "home",
        }
        home = self.double.home_view(self.user_id)
        if home is not None:
            event["view"] = home
        return self.event(event)

    def say(self, text: str, *, channel: str, thread_ts: str | None = None) -> Reply:
        """Write a message (stored in the double) and deliver its message event to the bot."""
        channel_id = self._resolve(channel)
        message = self.double.add_message(channel_id, user=self.user_id, text=text, thread_ts=thread_ts)
        event = {
            "type": "message",
            "channel": channel_id,
            "user": self.user_id,
            "text": text,
            "ts": message["ts"],
            "channel_type": "im" if channel_id.startswith("D") else "channel",
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        return self.event(event)


def _maybe_json(text: str) -> dict | None:
    try:
        loaded = json.loads(text)
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None
