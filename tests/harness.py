"""The whole bot on 127.0.0.1 against the Slack double, with an injected clock.

Requests reach the bot the way Slack sends them: signed HTTP POSTs to /slack/events, served by
a threaded WSGI server around the same WSGI app `plcbot run` serves under gunicorn (see
`bot.stage`, which `plcbot demo` drives too).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Self

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from bot.stage import Stage
from scheduling.clock import FakeClock, SystemClock
from storage.identities import addressee
from storage.models import Checkin, Delivery, Person

SIGNING_SECRET = "test-signing-secret-0123456789"
# A Monday morning in term time, New York.
START = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)


_system_now = SystemClock.now
_cli_lock = threading.Lock()
_cli_clock: FakeClock | None = None


def _now_for_the_cli(self: SystemClock) -> datetime:
    clock = _cli_clock
    return clock.now() if clock is not None else _system_now(self)


class BotHarness(Stage):
    """The bot at `start`, on a FakeClock.

    While it runs, `plcbot …` commands a test runs in this process (`bot.cli.main`, whose services
    take the `SystemClock`) are at the harness's time too, the way an operator's command is at the
    bot's: `SystemClock.now` reads this harness's clock until `stop()` (tests/scripts/plcbot_at.py
    does the same for a command run as a real process). Two harnesses running at once would give
    the CLI two clocks, so the second one to start is refused.
    """

    def __init__(self, db_url: str, *, env: dict[str, str] | None = None, start: datetime = START) -> None:
        self.db_url = db_url
        self.extra_env = env or {}
        super().__init__(database_url=db_url, clock=FakeClock(start), signing_secret=SIGNING_SECRET,
                         env={"PLCBOT_ADMINS": "UADMIN", "PLCBOT_LISTENER_THREADS": "16", **self.extra_env},
                         worker="test")

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until the work listeners do after their ack has finished."""
        assert self.runtime.executor.wait_idle(timeout), "listeners still busy"

    def start(self) -> Self:
        global _cli_clock
        with _cli_lock:
            if _cli_clock is not None and _cli_clock is not self.clock:
                raise RuntimeError("another BotHarness is running: the CLI cannot be at two test clocks")
            _cli_clock = self.clock
            SystemClock.now = _now_for_the_cli  # type: ignore[method-assign]
        try:
            return super().start()
        except BaseException:
            self._release_cli_clock()
            raise

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self._release_cli_clock()

    def _release_cli_clock(self) -> None:
        global _cli_clock
        with _cli_lock:
            if _cli_clock is self.clock:
                _cli_clock = None
                SystemClock.now = _system_now  # type: ignore[method-assign]


def checkin_of(handle: str) -> ColumnElement[bool]:
    """A where-clause for the check-ins of the person known by `handle` (a Slack or Teams id):
    check-ins name their person row, not a chat id."""
    return col(Checkin.person_id) == select(Person.id).where(Person.handle == handle).scalar_subquery()


def handles(session: Session) -> dict[int, str]:
    """person id -> handle, to say whose each stored row is."""
    return {p.id or 0: p.handle for p in session.exec(select(Person)).all()}


def recipient_of(session: Session, row: Delivery) -> str:
    """Whom a ledger row went to, by handle (a person) or place id (a team's channel)."""
    if row.person_id is None:
        return row.place or ""
    person = session.get(Person, row.person_id)
    return person.handle if person is not None else ""


def addressed(session: Session, recipient: str) -> dict[str, object]:
    """A ledger row's recipient columns for a handle or place id, as the ledger itself fills them."""
    person_id, place = addressee(session, recipient)
    return {"person_id": person_id, "place": place}
