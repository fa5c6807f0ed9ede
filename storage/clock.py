"""The clock every rule, job and stored time reads, injected so tests move time instead of sleeping.

It lives in storage because stored times come from it too: a `Database` is opened with (or bound
at assembly to) the services' clock, and stamps a new row's own times (`created_at`, `changed_at`,
…) with it when the row joins a session (see `stamp_new_row`). One clock for the rows and for the
rules that compare with them: a school made under the test's or the demo's clock is compared with
that clock, never with the machine's. `scheduling.clock` re-exports these for the rest of the bot.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from storage.models.base import STAMP

# Where a session keeps the clock of the Database that opened it.
SESSION_CLOCK = "plcbot_clock"


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The machine's clock: what production runs on, and nothing else reads the machine's time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that stands still until told to move (tests, and the demo's accelerated time)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> datetime:
        with self._lock:
            self._now = when.astimezone(UTC)
            return self._now


class NoClock(RuntimeError):
    """A row needed a time and its session has no clock: the code would have had to guess one."""


def session_clock(session: Session) -> Clock:
    """The clock of the Database that opened `session`; `NoClock` when it was opened without one."""
    clock = session.info.get(SESSION_CLOCK)
    if clock is None:
        raise NoClock("this session has no clock: open the Database with one (Database(url, clock=…), "
                      "or through bot.services.build_services), or give the time explicitly")
    return clock  # type: ignore[no-any-return]


def session_now(session: Session) -> datetime:
    """`now` for storage functions called without one: the injected clock, through the session."""
    return session_clock(session).now()


def stamp_new_row(session: Session, instance: Any) -> None:
    """Fill the unset stamp columns of a row that has just been added to `session`.

    Registered on every Session (storage/db.py) for the transient → pending step, so the time is
    there as soon as `session.add` returns. Times given explicitly are kept. A session without a
    clock raises `NoClock` rather than fall back to the machine's time: that fallback is how a
    test clock and the real one got mixed.
    """
    mapper = sa_inspect(instance).mapper
    unset = [c.key for c in mapper.columns if c.info.get(STAMP) and getattr(instance, c.key, None) is None]
    if not unset:
        return
    try:
        now = session_now(session)
    except NoClock as exc:
        raise NoClock(f"{type(instance).__name__}.{unset[0]} was not given and {exc}") from None
    for key in unset:
        setattr(instance, key, now)
