"""Alembic environment: run with a connection handed in by `storage.migrate`."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers every table)

config = context.config
target_metadata = SQLModel.metadata


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    # Only our tables: a shared PostgreSQL database may hold other applications' tables.
    if type_ == "table":
        return name in target_metadata.tables
    return True


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_name=_include_name,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("plcbot migrations run online only: use `plcbot db upgrade`.")
run_migrations_online()
