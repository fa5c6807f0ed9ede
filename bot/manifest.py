"""The Slack app manifest, built from what the code uses: paste it into api.slack.com/apps.

Each scope is listed with the call that needs it, so the list stays exactly what the code uses.
"""

from __future__ import annotations

import json
from typing import Any

# scope -> why the bot needs it
BOT_SCOPES: dict[str, str] = {
    "commands": "the /plc slash command and the message shortcut",
    "chat:write": "agendas, check-ins, summaries and digests (chat.postMessage, chat.update)",
    "im:write": "opening a teacher's or principal's direct message (conversations.open)",
    "im:history": "checking a DM for a message already sent after a crash (conversations.history)",
    "channels:history": "checking a team channel for an agenda already posted after a crash",
    "groups:history": "the same, for private team channels",
    "channels:read": "listing a team channel's members (conversations.members, conversations.info)",
    "groups:read": "the same, for private team channels",
    "users:read": "names and time zones of team members (users.info, users.list)",
    "users:read.email": "matching roster e-mail addresses to Slack users (users.list)",
    "files:write": "attaching the digest workbook (files.getUploadURLExternal, files.completeUploadExternal)",
}

BOT_EVENTS = [
    "app_home_opened",
    "member_joined_channel",
    "member_left_channel",
    "user_change",
]

SHORTCUTS = [
    {
        "name": "Add to PLC agenda",
        "type": "message",
        "callback_id": "add_to_agenda",
        "description": "Add this message to the next meeting's agenda",
    }
]


def build(http_url: str | None = None) -> dict[str, Any]:
    """Socket Mode manifest by default; with `http_url`, the HTTP-mode variant."""
    slash: dict[str, Any] = {
        "command": "/plc",
        "description": "Run your PLC: agenda, norms, cycle, check-ins, feedback",
        "usage_hint": "help | setup | agenda | norms | cycle | feedback | away",
        "should_escape": True,
    }
    settings: dict[str, Any] = {
        "event_subscriptions": {"bot_events": BOT_EVENTS},
        "interactivity": {"is_enabled": True},
        "org_deploy_enabled": False,
        "socket_mode_enabled": http_url is None,
        "token_rotation_enabled": False,
    }
    if http_url is not None:
        endpoint = http_url.rstrip("/")
        if not endpoint.endswith("/slack/events"):
            endpoint += "/slack/events"
        slash["url"] = endpoint
        settings["event_subscriptions"]["request_url"] = endpoint
        settings["interactivity"]["request_url"] = endpoint
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": "plcbot",
            "description": "Runs your school's Professional Learning Communities in Slack.",
            "background_color": "#2c4a6e",
            "long_description": (
                "plcbot keeps a PLC team's norms, posts meeting agendas with the cycle goal, runs "
                "4-12 week learning cycles with one-click weekly check-ins, collects meeting "
                "feedback (anonymous when asked) and sends principals a weekly digest with a "
                "spreadsheet. Check-ins and feedback are non-evaluative by default: principals "
                "see team-level figures, not individual answers, unless a team opts in."
            ),
        },
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": True,
            },
            "bot_user": {"display_name": "plcbot", "always_online": True},
            "shortcuts": SHORTCUTS,
            "slash_commands": [slash],
        },
        "oauth_config": {"scopes": {"bot": sorted(BOT_SCOPES)}},
        "settings": settings,
    }


def render(http_url: str | None = None) -> str:
    return json.dumps(build(http_url), indent=2) + "\n"
