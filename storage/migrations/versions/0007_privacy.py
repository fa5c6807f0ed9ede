"""Privacy and the school year: when accounts were deactivated or forgotten, the audit
log's school, and school years.

Existing audit entries get their school from their target ("school:N", or the school of
"team:N"), so principals see their school's history from before this migration too.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

import storage.models.base

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString
_UTC = storage.models.base.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deactivated_at", _UTC(), nullable=True))
        batch_op.add_column(sa.Column("forgotten_at", _UTC(), nullable=True))
    with op.batch_alter_table("auditentry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("school_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_auditentry_school_id_at", ["school_id", "at"], unique=False)
    op.create_table(
        "schoolyear",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("label", _S(length=20), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("closed_at", _UTC(), nullable=True),
        sa.Column("closed_by", _S(length=64), nullable=False),
        sa.Column("workbook", _S(length=500), nullable=False),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"], name=op.f("fk_schoolyear_school_id_school")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schoolyear")),
        sa.UniqueConstraint("school_id", "starts_on", name=op.f("uq_schoolyear_school_id_starts_on")),
    )
    with op.batch_alter_table("schoolyear", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schoolyear_school_id"), ["school_id"], unique=False)

    audit = sa.table("auditentry", sa.column("id", sa.Integer), sa.column("target", sa.String),
                     sa.column("school_id", sa.Integer), sa.column("action", sa.String),
                     sa.column("at", _UTC()))
    _backfill_deactivated(audit)
    team = sa.table("team", sa.column("id", sa.Integer), sa.column("school_id", sa.Integer))
    bind = op.get_bind()
    rows = bind.execute(sa.select(audit.c.id, audit.c.target).where(
        sa.or_(audit.c.target.like("school:%"), audit.c.target.like("team:%")))).all()
    teams = dict(bind.execute(sa.select(team.c.id, team.c.school_id)).all())
    for entry_id, target in rows:
        kind, _, ref = target.partition(":")
        if not ref.isdigit():
            continue
        school_id = int(ref) if kind == "school" else teams.get(int(ref))
        if school_id is not None:
            bind.execute(sa.update(audit).where(audit.c.id == entry_id).values(school_id=school_id))


def _backfill_deactivated(audit: sa.TableClause) -> None:
    """People already inactive get the time of their last "person.deactivate" entry, or now:
    without a time, PLCBOT_FORGET_DEACTIVATED_DAYS could never apply to them."""
    person = sa.table("person", sa.column("id", sa.Integer), sa.column("active", sa.Boolean),
                      sa.column("deactivated_at", _UTC()))
    bind = op.get_bind()
    latest = dict(bind.execute(
        sa.select(audit.c.target, sa.func.max(audit.c.at))
        .where(audit.c.action == "person.deactivate").group_by(audit.c.target)).all())
    now = datetime.now(UTC)
    for (person_id,) in bind.execute(sa.select(person.c.id).where(person.c.active.is_(False))).all():
        when = latest.get(f"person:{person_id}") or now
        bind.execute(sa.update(person).where(person.c.id == person_id).values(deactivated_at=when))


def downgrade() -> None:
    with op.batch_alter_table("schoolyear", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schoolyear_school_id"))
    op.drop_table("schoolyear")
    with op.batch_alter_table("auditentry", schema=None) as batch_op:
        batch_op.drop_index("ix_auditentry_school_id_at")
        batch_op.drop_column("school_id")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("forgotten_at")
        batch_op.drop_column("deactivated_at")
