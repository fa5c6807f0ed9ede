"""The Slack app manifest, built from what the code uses: paste it into api.slack.com/apps.

Each scope is listed with the call that needs it, so the list stays exactly what the code uses.
"""

from __future__ import annotations

import json
from typing import Any

# scope -> why the bot needs it
BOT_SCOPES: dict[str, str] = {
    "commands": "the `/plc` slash command and the \"Add to PLC agenda\" message shortcut",
    "chat:write": "posting agendas, check-ins, reminders, summaries and digests, and updating them in place "
    "when someone answers (chat.postMessage, chat.update, chat.postEphemeral)",
    "im:write": "opening the direct message with a teacher, facilitator or principal (conversations.open)",
    "im:history": "after a crash or a dropped connection, finding out whether a check-in, reminder or digest "
    "already reached a person's DM with the bot, so it is neither lost nor sent twice "
    "(conversations.history). The bot reads only its own messages' hidden key (message metadata) and "
    "the names of files it uploaded; it never reads, stores or logs what anyone wrote there",
    "channels:history": "the same check for the team channel: whether an agenda, wrap-up or announcement "
    "was already posted. Only the bot's own messages' key is read; colleagues' messages are never read, "
    "stored or logged",
    "groups:history": "the same check, for teams whose channel is private",
    "channels:read": "listing a team channel's members and its name at set-up (conversations.members, "
    "conversations.info)",
    "groups:read": "the same, for private team channels",
    "users:read": "people's names and time zones, so messages arrive in school hours (users.info, users.list)",
    "users:read.email": "matching a roster import's e-mail addresses to Slack accounts (users.list)",
    "files:write": "attaching the principal's digest workbook and a person's privacy export to their DM "
    "(files.getUploadURLExternal, files.completeUploadExternal)",
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


README_START = "<!-- scopes-table:start -->"
README_END = "<!-- scopes-table:end -->"


def scopes_table() -> str:
    """README's table of scopes, made from BOT_SCOPES so the two cannot drift apart."""
    rows = ["| scope | why the bot asks for it |", "|---|---|"]
    rows += [f"| `{scope}` | {why} |" for scope, why in BOT_SCOPES.items()]
    return "\n".join(rows)


def readme_with_scopes(readme: str) -> str:
    """README's text with the table between its markers replaced by the current one."""
    head, _, rest = readme.partition(README_START)
    _, _, tail = rest.partition(README_END)
    return f"{head}{README_START}\n{scopes_table()}\n{README_END}{tail}"


if __name__ == "__main__":  # python -m bot.manifest: rewrite README's scopes table
    from pathlib import Path

    path = Path("README.md")
    path.write_text(readme_with_scopes(path.read_text(encoding="utf-8")), encoding="utf-8")
