"""Schema upgrades and backups, safe to run while the bot runs and from two processes at once."""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, make_url
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers every table)
from storage.db import Database

MIGRATIONS = Path(__file__).parent / "migrations"
_PG_LOCK_ID = 7_271_964_2  # any constant shared by every plcbot process


class BackupError(RuntimeError):
    """A backup could not be taken; the message says what to do."""


@dataclass(frozen=True)
class UpgradeResult:
    before: tuple[str, ...]
    after: tuple[str, ...]
    backup: Path | None

    @property
    def changed(self) -> bool:
        return set(self.before) != set(self.after)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revisions() -> tuple[str, ...]:
    return tuple(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def current_revisions(db: Database) -> tuple[str, ...]:
    with db.engine.connect() as conn:
        return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))


def sqlite_path(db: Database) -> Path | None:
    url = make_url(db.url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


@contextlib.contextmanager
def _migration_lock(db: Database) -> Iterator[None]:
    """One migrating process at a time; the others wait, then find nothing left to do."""
    path = sqlite_path(db)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(str(path) + ".migrate-lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    if db.is_postgresql:
        with db.engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({_PG_LOCK_ID})")
            conn.commit()
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_LOCK_ID})")
                conn.commit()
        return
    yield


def _has_tables(db: Database) -> bool:
    from sqlalchemy import inspect

    with db.engine.connect() as conn:
        return bool(inspect(conn).get_table_names())


def upgrade(db: Database, *, backup: bool = True) -> UpgradeResult:
    """Bring the schema to the newest revision; back up a SQLite file with data first."""
    with _migration_lock(db):
        before = current_revisions(db)
        heads = head_revisions()
        saved: Path | None = None
        if set(before) == set(heads):
            return UpgradeResult(before, before, None)
        path = sqlite_path(db)
        if backup and path is not None and path.exists() and _has_tables(db):
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            saved = path.with_name(f"{path.name}.before-upgrade-{stamp}.bak")
            backup_to(db, saved)
        with db.engine.connect() as conn:
            _run_upgrade(conn)
        return UpgradeResult(before, current_revisions(db), saved)


def _run_upgrade(conn: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    sqlite = conn.dialect.name == "sqlite"
    raw: Any = conn.connection.driver_connection if sqlite else None
    if sqlite:
        # Batch migrations copy and drop tables; with foreign keys on, a dropped parent
        # would cascade deletes into its children. The pragma only works outside a transaction.
        conn.rollback()
        raw.execute("PRAGMA foreign_keys=OFF")
    try:
        command.upgrade(cfg, "heads")
        conn.commit()
    finally:
        if sqlite:
            raw.execute("PRAGMA foreign_keys=ON")


def drift(db: Database) -> list[Any]:
    """Differences between the models and the migrated schema (empty when they agree)."""
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, type_, parent: type_ != "table"
                or name in SQLModel.metadata.tables,
            },
        )
        return list(compare_metadata(ctx, SQLModel.metadata))


def backup_to(db: Database, target: Path) -> Path:
    """A consistent copy taken while the bot runs (SQLite's online backup; pg_dump otherwise)."""
    target = Path(target)
    if target.exists():
        raise BackupError(f"{target} already exists; choose a new file name.")
    target.parent.mkdir(parents=True, exist_ok=True)
    path = sqlite_path(db)
    if path is not None:
        if not path.exists():
            raise BackupError(f"the database file {path} does not exist yet; run `plcbot db upgrade`.")
        source = sqlite3.connect(str(path), timeout=30)
        dest = sqlite3.connect(str(target))
        try:
            with dest:
                source.backup(dest)
        finally:
            dest.close()
            source.close()
        return target
    if db.is_postgresql:
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            raise BackupError("pg_dump is not installed; install the PostgreSQL client tools.")
        url = make_url(db.url).set(drivername="postgresql")
        result = subprocess.run(  # noqa: S603
            [pg_dump, "--format=custom", f"--file={target}", url.render_as_string(hide_password=False)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BackupError(f"pg_dump failed: {result.stderr.strip().splitlines()[-1:]}")
        return target
    raise BackupError("backups are supported for SQLite and PostgreSQL only.")
