"""Shared column types and the metadata naming convention.

Constraint names follow a convention so later migrations (batch mode on SQLite) can alter
them by name. Times are stored as naive UTC and come back aware, on both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime, stored without a zone so SQLite and PostgreSQL agree."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def utc_field(
    *, nullable: bool = False, index: bool = False, default: Any = ..., default_factory: Any = None
) -> Any:
    """A Field holding an aware UTC datetime."""
    kwargs: dict[str, Any] = {"sa_type": UTCDateTime, "nullable": nullable, "index": index}
    if default_factory is not None:
        kwargs["default_factory"] = default_factory
    elif default is not ...:
        kwargs["default"] = default
    elif nullable:
        kwargs["default"] = None
    return Field(**kwargs)


# Column.info flag of a time the row records about itself when it is made (see `stamp_field`).
STAMP = "plcbot_stamp"


def stamp_field(*, index: bool = False) -> Any:
    """A time the row records about itself when it is made: `created_at`, `changed_at`, …

    No default here on purpose: a default would read some clock, and every stored time must come
    from the injected one. The session stamps the row with its Database's clock when the row is
    added (`storage.clock.stamp_new_row`), unless the code gave the time explicitly.
    """
    return Field(default=None, sa_type=UTCDateTime, nullable=False, index=index,
                 sa_column_kwargs={"info": {STAMP: True}})
