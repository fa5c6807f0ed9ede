"""Migration 0013: `delivery.body`, what an answer owed with no job behind it needs to be sent later
(`scheduling.command_replies`). Existing rows get none; downgrade drops the column and keeps the
rows. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from storage import migrate
from storage.db import Database
from tests.migrating import migrate_to

T = datetime(2026, 9, 1, 12, 0)  # naive UTC, as stored


def _columns(db: Database) -> set[str]:
    return {c["name"] for c in sa.inspect(db.engine).get_columns("delivery")}


def _rows(db: Database) -> list[tuple]:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text("SELECT key, state, place FROM delivery ORDER BY key"))]


def test_the_ledger_gains_a_body_for_owed_answers_and_loses_it_on_downgrade(any_db_url):
    db = Database(any_db_url)
    migrate_to(db, "0012")
    with db.engine.begin() as conn:
        for key, state in (("command-reply:abc", "pending"), ("agenda:3", "sent")):
            conn.execute(sa.text("INSERT INTO delivery (key, kind, place, state, attempts, created_at, updated_at)"
                                 " VALUES (:k, 'command_reply', '19:chat', :s, 0, :t, :t)"),
                         {"k": key, "s": state, "t": T})
    before = _rows(db)
    assert "body" not in _columns(db)

    migrate.upgrade(db, backup=False)
    assert set(migrate.current_revisions(db)) == set(migrate.head_revisions())
    assert "body" in _columns(db) and _rows(db) == before
    with db.engine.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM delivery WHERE body IS NOT NULL")).scalar_one() == 0
        long = '{"to":{"recipient":"19:chat"},"answer":{"text":"' + "x" * 30_000 + '"}}'  # a card-sized answer
        conn.execute(sa.text("UPDATE delivery SET body = :b WHERE key = 'command-reply:abc'"), {"b": long})
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT body FROM delivery WHERE key = 'command-reply:abc'")).scalar_one() == long

    migrate_to(db, "0012", down=True)
    assert "body" not in _columns(db) and _rows(db) == before
    migrate.upgrade(db, backup=False)  # and up again
    assert "body" in _columns(db) and _rows(db) == before
    db.dispose()
