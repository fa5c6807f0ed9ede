"""`plcbot …` as a real process, on a clock the test shares with it and can move.

The command line is the shipped one (`bot.cli.main`); only the clock is replaced, the way the
harness replaces it with a `FakeClock`, so work due at the test's time is due in this process
whatever the date on the machine. PLCBOT_TEST_CLOCK names a file holding "ISO-INSTANT
MONOTONIC": now is that instant plus the (system-wide) monotonic seconds since. Every process
reads the file, so several processes agree on the time, it runs at real speed (leases and
their heartbeat behave as in production), and the test moves it by rewriting the file.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from scheduling.clock import SystemClock


def write_clock(path: Path, instant: datetime) -> None:
    """Set the shared clock to `instant` now (atomically: readers never see half a file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{instant.isoformat()} {time.monotonic()}")
    tmp.replace(path)


def read_clock(path: Path) -> datetime:
    instant, since = path.read_text().split()
    return datetime.fromisoformat(instant) + timedelta(seconds=time.monotonic() - float(since))


if __name__ == "__main__":
    clock_file = Path(os.environ["PLCBOT_TEST_CLOCK"])
    SystemClock.now = lambda self: read_clock(clock_file)  # type: ignore[method-assign]
    from bot.cli import main

    sys.exit(main(sys.argv[1:]))
