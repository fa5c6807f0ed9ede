"""`delivery.body`: what a message owed with no job behind it needs to be sent later.

An answer to a command typed on Teams is owed in the ledger before the command runs. Until now
the answer lived only in the memory of the process that ran the command: one still rate limited
after ten minutes, or whose process died, was never sent. The row now carries, as small JSON,
where the answer goes and (once the command has run) the answer as rendered, so the scheduler's
sweep (`scheduling.command_replies`) can send it, or tell the person it was interrupted. Empty
(NULL) on every other row and once a row is sent or failed. Existing rows get NULL.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    # What was still owed loses its stored answer: the sweep of an older release never reads it.
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("body")
