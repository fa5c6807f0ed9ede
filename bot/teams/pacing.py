"""Client-side pacing for the Bot Connector: stay under Teams' limits so a round rarely meets a 429.

Microsoft's limits for a bot (the rate-limiting page for bots): per conversation 7 messages a
second, 8 in 2 seconds, 60 in 30 seconds and 1,800 an hour; per app and tenant 50 requests a
second. `Pacer.acquire(conversation)` blocks the calling thread until one more request fits every
window of that conversation *and* the app's, then counts it in both, atomically, so the
scheduler's round threads share one budget. A request with no conversation (creating a 1:1 chat)
counts against the app only.

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
APP_WINDOWS: tuple[tuple[float, int], ...] = ((1.0, 50),)
MARGIN = 1.02
APP = "\0app"  # the app-wide key; conversation ids never start with NUL


class Pacer:
    """Sliding-window limits per conversation and for the whole app (thread-safe)."""

    def __init__(self, *, conversation_windows: Sequence[tuple[float, int]] = CONVERSATION_WINDOWS,
                 app_windows: Sequence[tuple[float, int]] = APP_WINDOWS, margin: float = MARGIN,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if margin <= 0:
            raise ValueError("margin must be positive")
        self.conversation_windows = tuple((seconds * margin, count) for seconds, count in conversation_windows)
        self.app_windows = tuple((seconds * margin, count) for seconds, count in app_windows)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}
        self._longest = max((s for s, _ in (*self.conversation_windows, *self.app_windows)), default=0.0)
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

    def reserve(self, conversation: str | None) -> float:
        """Count one request now and return 0.0 if it fits; else the seconds to wait (nothing counted)."""
        with self._lock:
            now = self._clock()
            wait = self._wait(APP, self.app_windows, now)
            base = conversation.split(";", 1)[0] if conversation else None
            if base is not None:
                wait = max(wait, self._wait(base, self.conversation_windows, now))
            if wait > 0.0:
                return wait
            self._seen.setdefault(APP, deque()).append(now)
            if base is not None:
                self._seen.setdefault(base, deque()).append(now)
            if now - self._pruned_at > self._longest:
                self._prune(now)
            return 0.0

    def acquire(self, conversation: str | None) -> float:
        """Block until one request to `conversation` (None: app-wide only) fits; the seconds waited."""
        waited = 0.0
        while True:
            wait = self.reserve(conversation)
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
