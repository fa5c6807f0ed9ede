"""A Microsoft Teams stand-in on loopback for tests and ``plcbot demo --teams``.

``TeamsDouble`` plays Bot Framework's identity provider (OpenID metadata, signing keys, token
endpoint), the Bot Connector (``/v3/conversations``) and OneDrive's upload URLs for file consent;
``TeamsUser`` plays a person sending the bot signed activities.
"""

from .limits import MESSAGE_MAX_BYTES, SlidingWindows, activity_problems
from .server import Call, TeamsDouble
from .user import Reply, TeamsUser

__all__ = [
    "MESSAGE_MAX_BYTES",
    "Call",
    "Reply",
    "SlidingWindows",
    "TeamsDouble",
    "TeamsUser",
    "activity_problems",
]
