"""Teams' Bot Connector limits, as a sliding-window limiter and pure checks.

Numbers follow Microsoft's page on rate limiting for bots: per bot per conversation 7 messages
a second, 8 in 2 seconds, 60 in 30 seconds and 1,800 an hour; reading the conversation's members
("Get conversation members") has a budget of its own there, 14 a second, 16 in 2 seconds, 120 in
30 seconds and 3,600 an hour; per app per tenant 50 requests a second. A message (card
included) is at most about 28 KB. The double answers 429 with
``Retry-After`` when a window is full, so a bot that passes against the double keeps to the limits.

``scale`` shrinks every window (0.01 makes "7 a second" mean "7 in 10 ms") so tests can hit and
clear the limits in milliseconds; the counts stay Microsoft's.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

# (window in seconds, most requests allowed in it)
CONVERSATION_WINDOWS: tuple[tuple[float, int], ...] = ((1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))
MEMBER_WINDOWS: tuple[tuple[float, int], ...] = ((1.0, 14), (2.0, 16), (30.0, 120), (3600.0, 3600))
APP_WINDOWS: tuple[tuple[float, int], ...] = ((1.0, 50),)
MESSAGE_MAX_BYTES = 28 * 1024

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
FILE_CONSENT = "application/vnd.microsoft.teams.card.file.consent"
FILE_INFO = "application/vnd.microsoft.teams.card.file.info"


class SlidingWindows:
    """Counts accepted requests per key in several sliding windows at once (thread-safe)."""

    def __init__(
        self,
        windows: Sequence[tuple[float, int]],
        *,
        scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.windows = tuple(windows)
        self.scale = scale
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}
        self._longest = max((seconds for seconds, _ in self.windows), default=0.0)

    def wait_needed(self, key: str, *, take: bool = True) -> float:
        """Seconds until one more request under ``key`` fits every window; 0.0 means it fits now.

        With ``take`` (the default) a request that fits is counted.
        """
        with self._lock:
            now = self._clock()
            seen = self._seen.setdefault(key, deque())
            horizon = now - self._longest * self.scale
            while seen and seen[0] <= horizon:
                seen.popleft()
            wait = 0.0
            for seconds, count in self.windows:
                span = seconds * self.scale
                inside = [t for t in seen if t > now - span]
                if len(inside) >= count:
                    # the window frees a slot when its oldest counted request leaves it
                    oldest_blocking = inside[len(inside) - count]
                    wait = max(wait, oldest_blocking + span - now)
            if wait <= 0.0 and take:
                seen.append(now)
            return max(wait, 0.0)

    def count(self, key: str) -> int:
        with self._lock:
            return len(self._seen.get(key, ()))

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()


def activity_problems(activity: Any, *, raw_size: int | None = None) -> list[str]:
    """Reasons the Bot Connector would refuse an activity the bot sends (empty: it would take it)."""
    if not isinstance(activity, dict):
        return ["activity: not a JSON object"]
    out: list[str] = []
    size = raw_size if raw_size is not None else len(json.dumps(activity).encode("utf-8"))
    if size > MESSAGE_MAX_BYTES:
        out.append(f"activity: {size} bytes, more than {MESSAGE_MAX_BYTES}")
    kind = activity.get("type")
    if not isinstance(kind, str) or not kind:
        out.append("activity.type: missing")
    attachments = activity.get("attachments")
    if attachments is not None and not isinstance(attachments, list):
        out.append("activity.attachments: not a list")
        attachments = []
    if kind == "message" and not activity.get("text") and not attachments:
        out.append("activity: a message needs text or attachments")
    for i, attachment in enumerate(attachments or []):
        where = f"activity.attachments[{i}]"
        if not isinstance(attachment, dict) or not isinstance(attachment.get("contentType"), str):
            out.append(f"{where}: no contentType")
            continue
        content = attachment.get("content")
        if attachment["contentType"] == ADAPTIVE_CARD:
            if not isinstance(content, dict) or content.get("type") != "AdaptiveCard":
                out.append(f"{where}.content: not an AdaptiveCard object")
        elif attachment["contentType"] == FILE_CONSENT:
            if not isinstance(content, dict):
                out.append(f"{where}.content: missing")
                continue
            if not attachment.get("name"):
                out.append(f"{where}.name: a file consent card needs the file name")
            if not isinstance(content.get("sizeInBytes"), int):
                out.append(f"{where}.content.sizeInBytes: missing or not an integer")
    return out
