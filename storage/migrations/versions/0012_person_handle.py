"""`person.slack_user_id` is `person.handle`: it names a person on any platform.

Since the Teams front, the column holds a Teams person's Teams id (`29:…`) as well as a Slack
person's Slack id, and an erased person's `forgotten-…` token: how the core and the fronts name
the person in messages, mentions and ledger keys. Every record keys people by `person.id` (0009,
0011); this only gives the column its true name. No value moves.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _rename("slack_user_id", "handle")


def downgrade() -> None:
    _rename("handle", "slack_user_id")


def _rename(old: str, new: str) -> None:
    # Three steps: SQLite's batch (a table copy) cannot rename a column an index it drops still names.
    op.drop_index(op.f(f"ix_person_{old}"), table_name="person")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.alter_column(old, new_column_name=new, existing_type=sa.String(length=255), existing_nullable=False)
    op.create_index(op.f(f"ix_person_{new}"), "person", [new], unique=True)
