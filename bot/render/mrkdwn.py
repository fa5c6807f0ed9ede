"""Escaping user text for Slack mrkdwn.

Slack turns `<!channel>`, `<@U…>` and `<url|label>` into pings and links. In anything a user
wrote we escape exactly `&`, `<` and `>`, so a norm reading `<!channel>` pings nobody.
"""

from __future__ import annotations

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape(text: str | None) -> str:
    return (text or "").translate(_ESCAPES)


def clip(text: str, limit: int, *, suffix: str = "…") -> str:
    """Shorten to at most `limit` characters, never cutting an escape sequence in half."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(suffix))]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + suffix


FORGOTTEN_PREFIX = "forgotten-"  # storage.personal_data.TOKEN_PREFIX: an erased person's stand-in id


def user(user_id: str) -> str:
    """A mention of a Slack user id the bot itself knows (never user-typed text).

    An erased person's id was replaced by a `forgotten-…` token (`plcbot privacy forget`):
    they read as "a former member", never as a broken mention.
    """
    if user_id.startswith(FORGOTTEN_PREFIX):
        return "a former member"
    return f"<@{user_id}>"


def channel(channel_id: str) -> str:
    return f"<#{channel_id}>"


def link(url: str, label: str) -> str:
    """A link with an escaped label; `url` must come from Slack or the bot, not a user."""
    return f"<{url}|{escape(label).replace('|', '¦')}>"
