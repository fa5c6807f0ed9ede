"""Columns that hold a chat platform's ids are wide enough for Microsoft Teams' ids.

Slack's ids are short (`U0123ABCD`, `C0123ABCD`, `1712345678.000100`), and these columns were
VARCHAR(32) or (64). Teams' are not: a user id (`29:1a2b…`) and a 1:1 conversation id (`a:1Xy…`)
run to about 90 characters, a channel id (`19:…@thread.tacv2`) to about 50. PostgreSQL refuses a
longer value, so a Teams person or team could not be stored there. They become VARCHAR(255),
like the identity tables' ids; nothing else changes, so no value moves.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WIDE = 255
# table -> [(column, old length, nullable)]
WIDENED: dict[str, list[tuple[str, int, bool]]] = {
    "person": [("slack_user_id", 32, False), ("dm_channel_id", 32, True)],
    "team": [("channel_id", 32, False)],
    "checkin": [("user_id", 32, False), ("channel_id", 32, True), ("ts", 32, True)],
    "meeting": [("agenda_channel_id", 32, True), ("agenda_ts", 32, True)],
    "delivery": [("recipient", 32, False), ("channel_id", 32, True), ("ts", 32, True)],
    "auditentry": [("actor", 64, False)],
    "schoolyear": [("closed_by", 64, False)],
}


def upgrade() -> None:
    for table, columns in WIDENED.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, old, nullable in columns:
                batch_op.alter_column(column, existing_type=sa.String(length=old), type_=sa.String(length=WIDE),
                                      existing_nullable=nullable)


def downgrade() -> None:
    # Only safe while no longer id is stored; a Teams district cannot go back below 0010.
    for table, columns in WIDENED.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, old, nullable in columns:
                batch_op.alter_column(column, existing_type=sa.String(length=WIDE), type_=sa.String(length=old),
                                      existing_nullable=nullable)
