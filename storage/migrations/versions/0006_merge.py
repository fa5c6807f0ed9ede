"""Merge the feature branches (meetings, feedback, cycles) into one head.

They were written in parallel on top of 0001; from here on every migration has one parent.

Revision ID: 0006
Revises: 0003, 0004, 0005
"""

from collections.abc import Sequence

revision: str = "0006"
down_revision: str | Sequence[str] | None = ("0003", "0004", "0005")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
