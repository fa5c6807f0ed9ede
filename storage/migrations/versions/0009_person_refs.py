"""Attribution columns name the person row, not a Slack user id.

Who owns or did something (an agenda item's owner and who added it, who created or closed an
action item, a meeting's timekeeper, note-taker and who wrapped it up, the facilitator who
follows up a support request, who started a cycle, submitted its reflection, edited the norms
or added a school break) was a Slack user id in a string; it becomes `<name>_id`, a foreign key
to `person.id`.

Backfill: each old value is looked up in `person.slack_user_id`. An erased person's old values
are their `forgotten-…` token, which is also their tombstone's `slack_user_id`: they map to the
tombstone, so the history still counts for the team and names nobody. An empty value was
"nobody" and becomes NULL. Any other value that names no person (a school break added from the
command line, "cli:<login>"; a Slack user the bot never stored) becomes NULL too: those are
counted per column and logged as a warning. Then the old string columns are dropped.

`downgrade` puts the Slack ids back (the tombstone's token for an erased person; NULL, or "" for
the columns that were NOT NULL, where nobody is named).

Revision ID: 0009
Revises: 0008
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

# table -> [(old Slack id column, new person id column, old column NOT NULL, old length)]
CONVERTED: dict[str, list[tuple[str, str, bool, int]]] = {
    "agendaitem": [("owner", "owner_id", False, 32), ("added_by", "added_by_id", True, 32)],
    "actionitem": [("created_by", "created_by_id", True, 32), ("done_by", "done_by_id", False, 32)],
    "meetingrecord": [("timekeeper", "timekeeper_id", False, 32), ("notetaker", "notetaker_id", False, 32),
                      ("wrapped_up_by", "wrapped_up_by_id", False, 32)],
    "supportrequest": [("follower", "follower_id", False, 32)],
    "cycle": [("created_by", "created_by_id", True, 32)],
    "cyclereflection": [("submitted_by", "submitted_by_id", False, 32)],
    "normrevision": [("changed_by", "changed_by_id", True, 32)],
    "schoolbreak": [("created_by", "created_by_id", True, 64)],
}


def upgrade() -> None:
    # Adding a nullable column and its index needs no table copy on SQLite either: plain ALTERs.
    # The foreign keys and the dropped columns then take one batch (one copy on SQLite) per table.
    for table, columns in CONVERTED.items():
        for _, new, _, _ in columns:
            op.add_column(table, sa.Column(new, sa.Integer(), nullable=True))
            op.create_index(op.f(f"ix_{table}_{new}"), table, [new], unique=False)
    unknown = _backfill()
    for (table, old), count in sorted(unknown.items()):
        log.warning("0009: %s.%s: %d value(s) named no person and became NULL", table, old, count)
    for table, columns in CONVERTED.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for old, new, _, _ in columns:
                batch_op.create_foreign_key(batch_op.f(f"fk_{table}_{new}_person"), "person", [new], ["id"])
                batch_op.drop_column(old)


def _backfill() -> dict[tuple[str, str], int]:
    """Set each new column from the old one; returns the non-empty values that named nobody."""
    bind = op.get_bind()
    person = sa.table("person", sa.column("id", sa.Integer), sa.column("slack_user_id", sa.String))
    unknown: dict[tuple[str, str], int] = {}
    for name, columns in CONVERTED.items():
        table = sa.table(name, *[sa.column(old, sa.String) for old, _, _, _ in columns],
                         *[sa.column(new, sa.Integer) for _, new, _, _ in columns])
        for old, new, _, _ in columns:
            named = sa.select(person.c.id).where(person.c.slack_user_id == table.c[old]).scalar_subquery()
            bind.execute(sa.update(table).where(table.c[old].is_not(None), table.c[old] != "")
                         .values({new: named}))
            count = bind.execute(sa.select(sa.func.count()).select_from(table).where(
                table.c[old].is_not(None), table.c[old] != "", table.c[new].is_(None))).scalar_one()
            if count:
                unknown[(name, old)] = int(count)
    return unknown


def downgrade() -> None:
    bind = op.get_bind()
    person = sa.table("person", sa.column("id", sa.Integer), sa.column("slack_user_id", sa.String))
    for name, columns in CONVERTED.items():
        with op.batch_alter_table(name, schema=None) as batch_op:
            for old, _, _, length in columns:
                batch_op.add_column(sa.Column(old, sa.String(length=length), nullable=True))
        table = sa.table(name, *[sa.column(old, sa.String) for old, _, _, _ in columns],
                         *[sa.column(new, sa.Integer) for _, new, _, _ in columns])
        for old, new, not_null, _ in columns:
            named = sa.select(person.c.slack_user_id).where(person.c.id == table.c[new]).scalar_subquery()
            bind.execute(sa.update(table).values({old: sa.func.coalesce(named, "") if not_null else named}))
        with op.batch_alter_table(name, schema=None) as batch_op:
            for old, new, not_null, length in columns:
                if not_null:
                    batch_op.alter_column(old, existing_type=sa.String(length=length), nullable=False)
                batch_op.drop_constraint(batch_op.f(f"fk_{name}_{new}_person"), type_="foreignkey")
                batch_op.drop_index(batch_op.f(f"ix_{name}_{new}"))
                batch_op.drop_column(new)
