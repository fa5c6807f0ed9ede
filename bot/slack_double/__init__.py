"""A Slack stand-in on loopback for tests and ``plcbot demo``.

``SlackDouble`` plays the Web API (plus response URLs, file uploads and Socket Mode);
``SlackUser`` plays a person sending the bot signed requests.
"""

from .limits import message_problems, problems, view_problems
from .server import Call, SlackDouble
from .user import Reply, SlackUser, sign

__all__ = [
    "Call",
    "Reply",
    "SlackDouble",
    "SlackUser",
    "message_problems",
    "problems",
    "sign",
    "view_problems",
]
