"""The one place that knows which database is behind the bot.

SQLite gets WAL, a busy timeout and foreign keys on every connection, and write transactions
start with BEGIN IMMEDIATE: Python's sqlite3 otherwise begins DEFERRED, and two threads that
read then write deadlock on the lock upgrade ("database is locked" at once, busy timeout or
not). Read-only sessions keep DEFERRED so readers never queue behind a writer. Nothing outside
this module is SQLite-specific: the same code runs on PostgreSQL.

A Database carries the clock the bot runs on (the services' clock, bound at assembly), and its
sessions stamp new rows with it (`storage.clock.stamp_new_row`): no stored time comes from the
machine's clock or the database server's, so a test's or the demo's clock is the only time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, create_engine

from storage.clock import SESSION_CLOCK, Clock, stamp_new_row

_READ_ONLY = "plcbot_read_only"


def make_engine(url: str, *, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=20,
            max_overflow=40,
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, echo=echo, pool_size=10, max_overflow=30, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's begin event below.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = "DEFERRED" if conn.get_execution_options().get(_READ_ONLY) else "IMMEDIATE"
        conn.exec_driver_sql(f"BEGIN {mode}")


# Every session, whoever opened it: a row added to one without a clock fails (NoClock) instead of
# taking the machine's time.
event.listen(OrmSession, "transient_to_pending", stamp_new_row)


class Database:
    """Engine plus session factory; handed to handlers and jobs, never a live session.

    `clock` stamps the rows its sessions add. Without one (migrations, a test reading a file)
    rows that need a time fail; `bot.services.build_services` binds the services' clock.
    """

    def __init__(self, url: str, *, echo: bool = False, clock: Clock | None = None) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self._read_engine = self.engine.execution_options(**{_READ_ONLY: True})
        self.clock = clock

    def bind_clock(self, clock: Clock) -> None:
        """Stamp rows with `clock` from now on; refuses a second, different clock.

        Two runtimes (two harnesses, a harness and a CLI call) given one Database with different
        clocks would store times from both, silently: that is the mix this refuses.
        """
        if self.clock is not None and self.clock is not clock:
            raise ValueError(f"this Database already runs on {self.clock!r}; refusing a second clock {clock!r}")
        self.clock = clock

    def _session(self, engine: Engine) -> Session:
        session = Session(engine, expire_on_commit=False)
        if self.clock is not None:
            session.info[SESSION_CLOCK] = self.clock
        return session

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write transaction: committed when the block ends, rolled back on error."""
        with self._session(self.engine) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction that never takes SQLite's write lock."""
        with self._session(self._read_engine) as session:
            try:
                yield session
            finally:
                # close(), not rollback(): rollback would expire the objects read, and callers
                # use them after the block. Closing ends the transaction all the same.
                session.close()

    def ping(self) -> None:
        with self.read() as session:
            session.exec(text("SELECT 1"))  # type: ignore[call-overload]

    def dispose(self) -> None:
        self.engine.dispose()
