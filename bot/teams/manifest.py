"""The Teams app package: `manifest.json` built from code, and the zip Teams uploads.

Like the Slack manifest (`bot/manifest.py`) it asks only for what the bot uses:

- one bot, in personal chats, team channels and group chats, that receives files (the digest
  workbook and a person's privacy export go through Teams' file consent card in the personal
  chat, which needs `supportsFiles`);
- its command lists, the same subcommands as Slack's `/plc`, typed to the bot;
- the bot's public host as its valid domain.

It declares no resource-specific consent permissions and no `webApplicationInfo`: the bot
hears what is typed to it (an @mention in a channel, anything in its chats) without them, and
a team's roster comes from the Bot Connector's paged members API, which needs none either.
There is no sign-in (SSO) or Microsoft Graph call for `webApplicationInfo` to serve. A design
that later reads chats back through Graph adds the permission here, with its reason.
"""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.settings import Settings
from bot.teams import icons

MANIFEST_VERSION = "1.29"
SCHEMA_URL = f"https://developer.microsoft.com/en-us/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
COLOR_ICON = "color.png"
OUTLINE_ICON = "outline.png"
SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
# Every app id this code derives lives under this namespace (a fixed, random GUID).
APP_ID_NAMESPACE = uuid.UUID("6f1d3c0e-5b7a-4c55-9a51-2f0d8e6b7c41")
# Teams' documented limits for a bot's command menu (the schema itself allows more).
MAX_COMMANDS = 10
MAX_TITLE = 32
MAX_DESCRIPTION = 128
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # every zip entry's date: the same settings give the same bytes


@dataclass(frozen=True)
class Command:
    title: str  # the word typed after @plcbot, as in `/plc <title>`
    description: str


# Typed in a team's channel (`@plcbot agenda`) or in a group chat: what a team does together.
TEAM_COMMANDS = [
    Command("setup", "Set this team's PLC up, or change it: name, school, members, facilitators, meeting schedule"),
    Command("agenda", "Post the next meeting's agenda: norms, cycle goal, time-boxed items with owners"),
    Command("norms", "Show the team's norms and commit to them (facilitators: norms edit, who, history)"),
    Command("cycle", "The learning cycle: week, phase, goal and data so far (facilitators: start, edit, pause, end)"),
    Command("meeting", "meeting add DATE TIME [minutes], meeting cancel [DATE], meeting list"),
    Command("wrapup", "Wrap up the meeting: attendance, notes and action items"),
    Command("action", "action @owner what by DATE: give a team member an action item"),
    Command("feedback", "Say how the latest meeting went, anonymously if you like (facilitators: feedback results)"),
    Command("team", "Who is in this team and when it meets (facilitators: team add or remove @person)"),
    Command("help", "What you can do here, for your role"),
]

# Typed in the chat with the bot: what concerns one person, or a principal's school.
PERSONAL_COMMANDS = [
    Command("home", "Your dashboard: your teams, this week's check-in and your action items"),
    Command("actions", "Your open action items"),
    Command("away", "away until DATE: pause your check-ins and reminders while you're away"),
    Command("back", "End your away time now"),
    Command("digest", "Principals and facilitators: the weekly digest now, with its workbook (digest last, 2026-W47)"),
    Command("privacy", "What plcbot keeps about you and who sees it; privacy export sends you all of it"),
    Command("school", "Principals: the school's settings and principals"),
    Command("break", "The school's breaks, when no check-ins are sent and scheduled meetings are skipped"),
    Command("audit", "Principals: who changed roles, teams, norms and settings, and who exported what"),
    Command("help", "What you can do here, for your role"),
]

DESCRIPTION_FULL = (
    "plcbot runs a school's teacher Professional Learning Communities in Microsoft Teams. A team "
    "keeps its norms and each member commits to them; the facilitator posts the meeting agenda "
    "with the norms and the cycle goal on top and time-boxed items below, and wraps the meeting "
    "up with attendance, notes and action items. Teams run 4-12 week learning cycles aimed at one "
    "measurable student learning goal; each cycle week, teachers answer a one-click check-in in "
    "their chat with the bot, add a data point or ask for support, and give meeting feedback, "
    "anonymously if they choose. Principals get a weekly summary per team with a workbook. "
    "Check-ins and feedback are non-evaluative by default: principals see team-level figures, "
    "and names next to individual answers only where a team chose to share them. Start by adding "
    "the app to a team and typing @plcbot setup in its channel."
)


def app_id(client_id: str) -> str:
    """The app's id in Teams: derived from the bot's client id, so every package made for one bot
    registration carries the same id (an upload replaces the app rather than adding a second)."""
    return str(uuid.uuid5(APP_ID_NAMESPACE, client_id.lower()))


def _command_list(scope: str, commands: list[Command]) -> dict[str, Any]:
    return {"scopes": [scope], "commands": [{"title": c.title, "description": c.description} for c in commands]}


def build(settings: Settings, *, version: str) -> dict[str, Any]:
    """manifest.json for this install. Needs `settings.require_teams_package()` to have passed."""
    if not settings.teams_client_id or not settings.teams_public_url:
        raise ValueError("the Teams app package needs TEAMS_CLIENT_ID and TEAMS_PUBLIC_URL")
    if not SEMVER.match(version):
        raise ValueError(f"version {version!r} is not MAJOR.MINOR.PATCH")
    client_id = settings.teams_client_id
    public = settings.teams_public_url
    host = urlsplit(public).hostname or ""
    return {
        "$schema": SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": version,
        "id": app_id(client_id),
        "developer": {
            "name": "plcbot",
            "websiteUrl": public,
            "privacyUrl": settings.teams_privacy_url or public,
            "termsOfUseUrl": settings.teams_terms_url or public,
        },
        "name": {"short": "plcbot", "full": "plcbot: Professional Learning Communities"},
        "description": {
            "short": "Your school's PLCs: norms, agendas, learning cycles, check-ins, feedback",
            "full": DESCRIPTION_FULL,
        },
        "icons": {"color": COLOR_ICON, "outline": OUTLINE_ICON},
        "accentColor": icons.accent_hex(),
        "bots": [
            {
                "botId": client_id,
                "scopes": ["personal", "team", "groupChat"],
                "supportsFiles": True,
                "isNotificationOnly": False,
                "commandLists": [
                    _command_list("team", TEAM_COMMANDS),
                    _command_list("groupChat", TEAM_COMMANDS),
                    _command_list("personal", PERSONAL_COMMANDS),
                ],
            }
        ],
        "defaultInstallScope": "team",  # a PLC lives in its team's channel: "Add to a team" first
        "defaultGroupCapability": {"team": "bot", "groupchat": "bot"},
        "validDomains": [host],
    }


def render(settings: Settings, *, version: str) -> str:
    return json.dumps(build(settings, version=version), indent=2, ensure_ascii=False) + "\n"


def package(settings: Settings, *, version: str) -> bytes:
    """The app package Teams uploads: manifest.json and the two icons at the zip's top level."""
    files = {
        "manifest.json": render(settings, version=version).encode("utf-8"),
        COLOR_ICON: icons.color_png(),
        OUTLINE_ICON: icons.outline_png(),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()
