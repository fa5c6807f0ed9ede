"""Fixtures: a fresh database per test (SQLite file, or a PostgreSQL schema), the Slack double,
and the whole bot served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import create_engine, text

from tests.harness import START, BotHarness

PG_URL = os.environ.get("PLCBOT_TEST_DATABASE_URL")


def _sqlite_url(tmp_path) -> str:  # noqa: ANN001
    return f"sqlite:///{tmp_path / 'plcbot.db'}"


# Where the machine's clock is during the tests: years from the test clock (`harness.START`), so
# any time taken from the machine instead of the injected clock (a model default, a
# `datetime.now()`) lands far from the test's time and fails a test at once, whatever today's date.
REAL_CLOCK_AT = datetime(2031, 7, 14, 9, 26, 53, tzinfo=UTC)
assert abs(REAL_CLOCK_AT - START).days > 365 * 3


@pytest.fixture(autouse=True)
def real_clock_elsewhere(request: pytest.FixtureRequest) -> Iterator[None]:
    """Move this process's real clock to REAL_CLOCK_AT for the test; mark `real_clock` to opt out.

    `tick=True`: real time still passes from there, so APScheduler, timeouts and Slack request
    signatures (signed and checked in this process) keep working. Processes a test starts, and
    the PostgreSQL server, keep the true time: nothing may read the database server's clock.
    """
    if request.node.get_closest_marker("real_clock"):
        yield
        return
    with time_machine.travel(REAL_CLOCK_AT, tick=True):
        yield


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL database of its own: a fresh schema, dropped afterwards."""
    if not PG_URL:
        pytest.skip("PLCBOT_TEST_DATABASE_URL is not set")
    base = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def db_url(tmp_path) -> str:  # noqa: ANN001
    return _sqlite_url(tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request, tmp_path) -> str:  # noqa: ANN001
    """Runs the test on SQLite, and again on PostgreSQL when PLCBOT_TEST_DATABASE_URL is set."""
    if request.param == "sqlite":
        return _sqlite_url(tmp_path)
    return request.getfixturevalue("pg_url")


@pytest.fixture
def bot(db_url) -> Iterator[BotHarness]:  # noqa: ANN001
    harness = BotHarness(db_url)
    try:
        yield harness.start()
    finally:
        harness.stop()


@pytest.fixture
def harness(any_db_url) -> Iterator[BotHarness]:  # noqa: ANN001
    """The bot on SQLite, and again on PostgreSQL when PLCBOT_TEST_DATABASE_URL is set."""
    bot = BotHarness(any_db_url)
    try:
        yield bot.start()
    finally:
        bot.stop()
