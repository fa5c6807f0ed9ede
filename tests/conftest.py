"""Fixtures: a fresh database per test (SQLite file, or a PostgreSQL schema), the Slack double,
and the whole bot served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.harness import BotHarness

PG_URL = os.environ.get("PLCBOT_TEST_DATABASE_URL")


def _sqlite_url(tmp_path) -> str:  # noqa: ANN001
    return f"sqlite:///{tmp_path / 'plcbot.db'}"


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
