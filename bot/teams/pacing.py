"""Client-side pacing for the Bot Connector: stay under Teams' limits so a round rarely meets a 429.

Microsoft's limits for a bot (the rate-limiting page for bots, "per bot per thread limit"): per
conversation 7 messages a second, 8 in 2 seconds, 60 in 30 seconds and 1,800 an hour; per app and
tenant 50 requests a second. `Pacer.acquire(conversation)` blocks the calling thread until one more
message fits every window of that conversation *and* the app's, then counts it in both,
atomically, so the scheduler's round threads share one budget. A request with no conversation
(creating a 1:1 chat) counts against the app only.

Reading a conversation's members (the roster the set-up dialog reads page by page, a member's
profile) is not a message: Microsoft's table gives "Get conversation members" its own budget per
conversation, twice the messages' (14 a second, 16 in 2 seconds, 120 in 30 seconds, 3,600 an
hour), beside the app's 50 a second. `acquire(conversation, read=True)` counts a read there and
against the app, never against the conversation's messages: a burst of posts to a channel does
not hold up the roster read of a set-up dialog that must answer within Teams' 5 seconds, and a
roster read does not use up a message's turn.

Sliding windows, not token buckets: they are what Teams counts, so a request the pacer lets
through is one Teams would accept. `margin` widens every window a little (1.02: 50 a second
becomes 50 in 1.02 s, about 49/s) so that requests bunched by network jitter on their way to
Teams mostly still fit its windows (the few that do not get a 429 and wait its `Retry-After`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

# (window in seconds, most requests allowed in it)
CONVERSATION_WINDOWS: tuple[tuple[float, int], ...] = ((1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))
# "Get conversation members": a budget of its own per conversation, not the messages'
READ_WINDOWS: tuple[tuple[float, int], ...] = ((1.0, 14), (2.0, 16), (30.0, 120), (3600.0, 3600))
APP_WINDOWS: tuple[tuple[float, int], ...] = ((1.0, 50),)
MARGIN = 1.02
APP = "\0app"  # the app-wide key; conversation ids never start with NUL
READS = "\0read:"  # prefix of a conversation's read key (its members), apart from its messages


class Pacer:
    """Sliding-window limits per conversation and for the whole app (thread-safe)."""

    def __init__(self, *, conversation_windows: Sequence[tuple[float, int]] = CONVERSATION_WINDOWS,
                 app_windows: Sequence[tuple[float, int]] = APP_WINDOWS,
                 read_windows: Sequence[tuple[float, int]] = READ_WINDOWS, margin: float = MARGIN,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if margin <= 0:
            raise ValueError("margin must be positive")
        self.conversation_windows = tuple((seconds * margin, count) for seconds, count in conversation_windows)
        self.app_windows = tuple((seconds * margin, count) for seconds, count in app_windows)
        self.read_windows = tuple((seconds * margin, count) for seconds, count in read_windows)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}
        self._longest = max((s for s, _ in (*self.conversation_windows, *self.app_windows, *self.read_windows)),
                            default=0.0)
        self._pruned_at = clock()
        self.waited = 0.0  # seconds threads spent waiting here (the benchmark reports it)

    def _wait(self, key: str, windows: Sequence[tuple[float, int]], now: float) -> float:
        seen = self._seen.get(key)
        if not seen:
            return 0.0
        horizon = now - max(s for s, _ in windows)
        while seen and seen[0] <= horizon:
            seen.popleft()
        wait = 0.0
        for span, count in windows:
            if len(seen) < count:
                continue
            # the count-th newest request: the window frees a slot when it leaves
            blocking = seen[len(seen) - count]
            if blocking > now - span:
                wait = max(wait, blocking + span - now)
        return wait

    def reserve(self, conversation: str | None, *, read: bool = False) -> float:
        """Count one request now and return 0.0 if it fits; else the seconds to wait (nothing counted).

        `read`: a read of the conversation's members, counted against its read budget and the
        app's, not against its messages."""
        with self._lock:
            now = self._clock()
            wait = self._wait(APP, self.app_windows, now)
            base = conversation.split(";", 1)[0] if conversation else None
            key = None if base is None else (READS + base if read else base)
            windows = self.read_windows if read else self.conversation_windows
            if key is not None:
                wait = max(wait, self._wait(key, windows, now))
            if wait > 0.0:
                return wait
            self._seen.setdefault(APP, deque()).append(now)
            if key is not None:
                self._seen.setdefault(key, deque()).append(now)
            if now - self._pruned_at > self._longest:
                self._prune(now)
            return 0.0

    def acquire(self, conversation: str | None, *, read: bool = False) -> float:
        """Block until one request to `conversation` (None: app-wide only) fits; the seconds waited.
        `read`: a members read (see `reserve`)."""
        waited = 0.0
        while True:
            wait = self.reserve(conversation, read=read)
            if wait <= 0.0:
                if waited:
                    with self._lock:
                        self.waited += waited
                return waited
            self._sleep(wait)
            waited += wait

    def _prune(self, now: float) -> None:
        """Forget conversations with nothing in their longest window (held: the lock)."""
        horizon = now - self._longest
        for key in [k for k, seen in self._seen.items() if not seen or seen[-1] <= horizon]:
            del self._seen[key]
        self._pruned_at = now
