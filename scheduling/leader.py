"""Which process ticks the scheduler when several share one SQLite file.

SQLite has no row locks, so on SQLite exactly one process plans and claims work: the one
holding an exclusive lock on a file beside the database. Every web worker may start a
scheduler; only the lock holder's ticks do anything, and when it dies the operating system
releases the lock and another process's next tick takes over. PostgreSQL needs no leader:
claims use FOR UPDATE SKIP LOCKED and planning is idempotent (unique dedupe keys).
"""

from __future__ import annotations

import fcntl
import threading
from typing import IO

from storage.db import Database
from storage.migrate import sqlite_path


class Leadership:
    def __init__(self, db: Database) -> None:
        path = sqlite_path(db)
        self._path = None if path is None else str(path) + ".scheduler-lock"
        self._handle: IO[str] | None = None
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        """True when this process may tick (it holds, or has just taken, the lock)."""
        if self._path is None:
            return True
        with self._lock:
            if self._handle is not None:
                return True
            handle = open(self._path, "a")  # noqa: SIM115 - held open for the process's life
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                return False
            self._handle = handle
            return True

    def release(self) -> None:
        with self._lock:
            if self._handle is not None:
                fcntl.flock(self._handle, fcntl.LOCK_UN)
                self._handle.close()
                self._handle = None
