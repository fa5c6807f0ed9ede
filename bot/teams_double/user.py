"""Simulated people: activities shaped as Teams sends them to a bot's ``/api/messages``, signed.

Each activity carries ``serviceUrl`` = the double's URL, ``channelId`` "msteams", ``from`` (29:… id
and Entra object id), ``recipient`` (the bot, 28:<client id>), ``conversation`` (id, type, tenant)
and ``channelData.tenant``; the request carries ``Authorization: Bearer`` a JWT from the double's
identity provider, so the bot's real token validation runs.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from .server import TeamsDouble

HTTP_TIMEOUT = 10.0
INVOKE_DEADLINE = 5.0  # Teams shows an error (and retries twice) when an invoke takes longer
_DEFAULT = object()


@dataclass
class Reply:
    """What the bot answered: HTTP status, raw body, parsed JSON (if any), headers, seconds taken."""

    status: int
    body: str
    json: Any
    headers: dict
    elapsed: float = field(default=0.0)
    activity: dict = field(default_factory=dict)


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _iter_actions(node: Any) -> list[dict]:
    """Every action (Action.Execute, Action.Submit…) anywhere in a card."""
    found: list[dict] = []
    if isinstance(node, dict):
        if isinstance(node.get("type"), str) and node["type"].startswith("Action."):
            found.append(node)
        for value in node.values():
            found += _iter_actions(value)
    elif isinstance(node, list):
        for value in node:
            found += _iter_actions(value)
    return found


class TeamsUser:
    """One person in the double's tenant, typing and clicking in Teams."""

    def __init__(self, double: TeamsDouble, member: str, *, bot_url: str, locale: str = "en-US",
                 timezone: str = "America/New_York") -> None:
        if not bot_url.startswith(("http://", "https://")):
            raise ValueError(f"bot_url must be http(s), not {bot_url!r}")
        self.double = double
        self.member = double.user(member)
        self.bot_url, self.locale, self.timezone = bot_url, locale, timezone

    @property
    def id(self) -> str:
        return str(self.member["id"])

    @property
    def personal_conversation(self) -> str:
        return self.double.personal_conversation(self.id)

    # ------------------------------------------------------------------ activity shapes
    def _from(self) -> dict:
        return {"id": self.id, "name": self.member["name"], "aadObjectId": self.member["aadObjectId"]}

    def _recipient(self) -> dict:
        return {"id": self.double.bot_id, "name": self.double.bot_name}

    def _base(self, kind: str, conversation: dict, channel_data: dict) -> dict:
        now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        return {
            "type": kind,
            "id": str(int(time.time() * 1000)) + uuid.uuid4().hex[:4],
            "timestamp": now + ".000Z",
            "localTimestamp": now + ".000-05:00",
            "channelId": "msteams",
            "serviceUrl": self.double.service_url,
            "from": self._from(),
            "conversation": conversation,
            "recipient": self._recipient(),
            "entities": [{"type": "clientInfo", "locale": self.locale, "country": self.locale[-2:],
                          "platform": "Web", "timezone": self.timezone}],
            "channelData": channel_data,
            "locale": self.locale,
            "localTimezone": self.timezone,
        }

    def _tenant(self) -> dict:
        return {"id": self.double.tenant_id}

    def personal(self, kind: str = "message") -> dict:
        """An activity of ``kind`` in this person's 1:1 chat with the bot."""
        cid = self.personal_conversation
        return self._base(
            kind,
            {"conversationType": "personal", "tenantId": self.double.tenant_id, "id": cid},
            {"tenant": self._tenant()},
        )

    def in_channel(self, kind: str, team_id: str, channel_id: str | None = None, *, thread: str | None = None) -> dict:
        """An activity of ``kind`` in a team channel (General when channel_id is None), maybe in a thread."""
        team = self.double.team(team_id)
        channel = channel_id or team_id
        cid = f"{channel};messageid={thread}" if thread else channel
        self.double.note_conversation(cid, kind="channel", team_id=team_id)
        channel_data = {
            "teamsChannelId": channel,
            "teamsTeamId": team_id,
            "channel": {"id": channel, "name": team["channels"].get(channel, "General")},
            "team": {"id": team_id, "name": team["name"], "aadGroupId": team["aadGroupId"]},
            "tenant": self._tenant(),
        }
        conversation = {"isGroup": True, "conversationType": "channel", "tenantId": self.double.tenant_id, "id": cid}
        return self._base(kind, conversation, channel_data)

    def in_group_chat(self, kind: str, chat_id: str) -> dict:
        self.double.note_conversation(chat_id, kind="groupChat")
        conversation = {"isGroup": True, "conversationType": "groupChat", "tenantId": self.double.tenant_id,
                        "id": chat_id}
        return self._base(kind, conversation, {"tenant": self._tenant()})

    # ------------------------------------------------------------------ transport
    def send(self, activity: dict, *, token: Any = _DEFAULT, headers: dict | None = None) -> Reply:
        """POST an activity to the bot, signed by the double (``token=None`` sends no Authorization)."""
        if token is _DEFAULT:
            token = self.double.sign_for_bot(service_url=activity.get("serviceUrl"))
        body = json.dumps(activity).encode("utf-8")
        all_headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Microsoft-SkypeBotApi"}
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        request = urllib.request.Request(self.bot_url, data=body, headers=all_headers, method="POST")  # noqa: S310
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310 - http(s) checked
                status, raw, got = response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            status, raw, got = exc.code, exc.read(), dict(exc.headers)
        text = raw.decode("utf-8", errors="replace")
        return Reply(status, text, _maybe_json(text), got, time.monotonic() - started, activity)

    # ------------------------------------------------------------------ messages
    def say(self, text: str, **send: Any) -> Reply:
        """Type a message in the 1:1 chat with the bot."""
        activity = self.personal("message")
        activity.update({"text": text, "textFormat": "plain"})
        return self.send(activity, **send)

    def say_in_channel(
        self, text: str, team_id: str, channel_id: str | None = None, *, mention: bool = True,
        thread: str | None = None, **send: Any,
    ) -> Reply:
        """Post in a team channel; with ``mention`` the text starts with ``<at>plcbot</at>`` and the
        activity carries the mention entity, as Teams sends it."""
        activity = self.in_channel("message", team_id, channel_id, thread=thread)
        at = f"<at>{self.double.bot_name}</at>"
        activity.update({"text": f"{at} {text}" if mention else text, "textFormat": "plain"})
        if mention:
            activity["entities"].append({"type": "mention", "text": at, "mentioned": self._recipient()})
        return self.send(activity, **send)

    def say_in_group_chat(self, text: str, chat_id: str, *, mention: bool = True, **send: Any) -> Reply:
        activity = self.in_group_chat("message", chat_id)
        at = f"<at>{self.double.bot_name}</at>"
        activity.update({"text": f"{at} {text}" if mention else text, "textFormat": "plain"})
        if mention:
            activity["entities"].append({"type": "mention", "text": at, "mentioned": self._recipient()})
        return self.send(activity, **send)

    # ------------------------------------------------------------------ installs
    def install_in_team(self, team_id: str, **send: Any) -> Reply:
        """Add the app to a team: conversationUpdate with the bot in membersAdded, in General."""
        activity = self.in_channel("conversationUpdate", team_id)
        activity["membersAdded"] = [{"id": self.double.bot_id}]
        activity["channelData"]["eventType"] = "teamMemberAdded"
        for key in ("teamsChannelId", "channel"):
            activity["channelData"].pop(key, None)
        return self.send(activity, **send)

    def install_personal(self, **send: Any) -> Reply:
        """Add the app for oneself: conversationUpdate in the 1:1 chat."""
        activity = self.personal("conversationUpdate")
        activity["membersAdded"] = [{"id": self.double.bot_id}]
        return self.send(activity, **send)

    def install_in_group_chat(self, chat_id: str, **send: Any) -> Reply:
        activity = self.in_group_chat("conversationUpdate", chat_id)
        activity["membersAdded"] = [{"id": self.double.bot_id}]
        return self.send(activity, **send)

    # ------------------------------------------------------------------ invokes
    def _invoke(self, name: str, value: dict, where: dict | None, reply_to: str | None, send: dict) -> Reply:
        activity = copy_of(where) if where is not None else self.personal("invoke")
        activity.update({"type": "invoke", "name": name, "value": value})
        if reply_to:
            activity["replyToId"] = reply_to
        return self.send(activity, **send)

    def _where(self, conversation: str | None, team_id: str | None) -> dict | None:
        if team_id:
            channel = conversation.split(";", 1)[0] if conversation else None
            thread = conversation.split(";messageid=", 1)[1] if conversation and ";messageid=" in conversation else None
            return self.in_channel("invoke", team_id, channel, thread=thread)
        if conversation and conversation != self.personal_conversation:
            return self.in_group_chat("invoke", conversation)
        return None

    def execute(
        self, verb: str, data: dict | None = None, *, reply_to: str | None = None,
        conversation: str | None = None, team_id: str | None = None, **send: Any,
    ) -> Reply:
        """An ``Action.Execute`` click: invoke ``adaptiveCard/action`` with the verb and data."""
        value = {"action": {"type": "Action.Execute", "verb": verb, "data": dict(data or {})}, "trigger": "manual"}
        return self._invoke("adaptiveCard/action", value, self._where(conversation, team_id), reply_to, send)

    def click(self, activity: dict, title_or_verb: str, *, inputs: dict | None = None, **send: Any) -> Reply:
        """Click the Action.Execute titled (or with the verb) ``title_or_verb`` on a stored activity's card.

        ``inputs`` are the card's input values; Teams merges them into the action's data.
        """
        actions = [a for a in _iter_actions(activity.get("attachments") or [])
                   if a.get("type") == "Action.Execute" and title_or_verb in (a.get("title"), a.get("verb"))]
        if not actions:
            found = [(a.get("title"), a.get("verb")) for a in _iter_actions(activity.get("attachments") or [])]
            raise LookupError(f"no Action.Execute {title_or_verb!r} on the card; it has {found}")
        action = actions[0]
        data = {**(action.get("data") or {}), **(inputs or {})}
        cid = str(activity.get("conversationId") or "")
        team_id = None
        if cid and not cid.startswith("a:"):
            conv = next((c for c in self.double.conversations() if c["id"] == cid), None)
            team_id = conv["team_id"] if conv else None
        return self.execute(str(action.get("verb") or ""), data, reply_to=activity.get("id"),
                            conversation=cid or None, team_id=team_id, **send)

    def task_fetch(self, data: dict | None = None, *, conversation: str | None = None, team_id: str | None = None,
                   reply_to: str | None = None, **send: Any) -> Reply:
        """Open a dialog: invoke ``task/fetch`` with the button's data."""
        value = {"data": {"type": "task/fetch", **(data or {})}, "context": {"theme": "default"}}
        return self._invoke("task/fetch", value, self._where(conversation, team_id), reply_to, send)

    def task_submit(self, data: dict | None = None, *, conversation: str | None = None, team_id: str | None = None,
                    reply_to: str | None = None, **send: Any) -> Reply:
        """Submit a dialog: invoke ``task/submit`` with the form's values (merged with its data)."""
        value = {"data": dict(data or {}), "context": {"theme": "default"}}
        return self._invoke("task/submit", value, self._where(conversation, team_id), reply_to, send)

    def file_consent(self, consent: dict | str, action: str = "accept", **send: Any) -> Reply:
        """Accept or decline a file consent card: invoke ``fileConsent/invoke`` with the upload info."""
        value = self.double.consent_answer(consent, action)
        unique_id = consent if isinstance(consent, str) else consent["uniqueId"]
        offer = next(c for c in self.double.file_consents() if c["uniqueId"] == unique_id)
        return self._invoke("fileConsent/invoke", value, None, offer["activityId"], send)


def copy_of(activity: dict) -> dict:
    return json.loads(json.dumps(activity))
