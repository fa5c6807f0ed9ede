"""Running one Alembic migration in a test, the way `storage.migrate` runs it."""

from __future__ import annotations

from alembic import command

from storage import migrate
from storage.db import Database


def migrate_to(db: Database, revision: str, *, down: bool = False) -> None:
    """Alembic to `revision`, with SQLite's foreign keys off as `storage.migrate` runs it (a batch
    copies a table that others reference)."""
    with db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":  # the pragma only works outside a transaction
            conn.rollback()
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        cfg = migrate.alembic_config()
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)
        conn.commit()
