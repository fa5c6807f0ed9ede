"""Two writers at the same moment, in a fixed order: the first holds its transaction open while
the second starts, and the second is seen waiting for it before the first lets go.

A race that only might happen proves nothing; this one happens every run. The first writer calls
`hold(session)` inside its transaction once it has written; the second runs in its own thread.
On PostgreSQL the wait is observed (`pg_blocking_pids`), so the order is certain whatever else
the server runs; on SQLite the second writer queues on the file's lock whenever it starts, so a
short pause is enough.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import text

from tests.harness import BotHarness

Hold = Callable[[Any], None]


def backend_pid(bot: BotHarness, session: Any) -> int | None:
    """The PostgreSQL server process of `session`'s connection (None on SQLite)."""
    return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one()) if bot.db.is_postgresql else None


def wait_until_blocked(bot: BotHarness, holder_pid: int | None) -> None:
    """Until a session waits for the one with this backend pid (SQLite: a short pause)."""
    if holder_pid is None:
        time.sleep(0.3)
        return
    deadline = time.monotonic() + 20
    with bot.db.engine.connect() as conn:
        while conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"),
                           {"pid": holder_pid}).scalar_one() == 0:
            assert time.monotonic() < deadline, "the second writer never waited for the first"
            time.sleep(0.02)


def race(bot: BotHarness, first: Callable[[Hold], None], second: Callable[[], None]) -> list[BaseException]:
    """Run `first` (which calls the `hold` it is given inside its open transaction), then `second`
    while `first` holds; `first` lets go once `second` waits. Returns what either raised."""
    holding, release = threading.Event(), threading.Event()
    holder: list[int | None] = []
    errors: list[BaseException] = []

    def hold(session: Any) -> None:
        holder.append(backend_pid(bot, session))
        holding.set()
        release.wait(20)

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - returned to the test, which asserts on it
                errors.append(exc)
                holding.set()
        return run

    one = threading.Thread(target=guarded(lambda: first(hold)))
    one.start()
    assert holding.wait(20), "the first writer never held"
    two = threading.Thread(target=guarded(second))
    two.start()
    if holder:
        wait_until_blocked(bot, holder[0])
    release.set()
    one.join(30)
    two.join(30)
    return errors
