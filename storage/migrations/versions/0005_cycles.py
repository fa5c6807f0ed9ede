"""Learning cycles: check-in rounds, check-ins, support requests, school breaks, reflections.

Revision ID: 0005
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

import storage.models.base

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString
_UTC = storage.models.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "checkinround",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.Integer(), nullable=False),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.Column("state", _S(length=16), nullable=False),
        sa.Column("skip_reason", _S(length=40), nullable=True),
        sa.Column("opened_at", _UTC(), nullable=False),
        sa.Column("closes_at", _UTC(), nullable=True),
        sa.Column("closed_at", _UTC(), nullable=True),
        sa.ForeignKeyConstraint(["cycle_id"], ["cycle.id"], name=op.f("fk_checkinround_cycle_id_cycle")),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name=op.f("fk_checkinround_team_id_team")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkinround")),
        sa.UniqueConstraint("cycle_id", "week", name=op.f("uq_checkinround_cycle_id_week")),
    )
    with op.batch_alter_table("checkinround", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkinround_cycle_id"), ["cycle_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_checkinround_team_id"), ["team_id"], unique=False)

    op.create_table(
        "checkin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("user_id", _S(length=32), nullable=False),
        sa.Column("week", sa.Integer(), nullable=False),
        sa.Column("status", _S(length=16), nullable=False),
        sa.Column("error", _S(length=200), nullable=True),
        sa.Column("channel_id", _S(length=32), nullable=True),
        sa.Column("ts", _S(length=32), nullable=True),
        sa.Column("progress", _S(length=16), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("evidence", _S(length=3000), nullable=True),
        sa.Column("support", _S(length=3000), nullable=True),
        sa.Column("answered_at", _UTC(), nullable=True),
        sa.Column("reminded_at", _UTC(), nullable=True),
        sa.Column("created_at", _UTC(), nullable=False),
        sa.ForeignKeyConstraint(["cycle_id"], ["cycle.id"], name=op.f("fk_checkin_cycle_id_cycle")),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_checkin_person_id_person")),
        sa.ForeignKeyConstraint(["round_id"], ["checkinround.id"], name=op.f("fk_checkin_round_id_checkinround")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin")),
        sa.UniqueConstraint("round_id", "person_id", name=op.f("uq_checkin_round_id_person_id")),
    )
    with op.batch_alter_table("checkin", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkin_cycle_id"), ["cycle_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_checkin_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_checkin_round_id"), ["round_id"], unique=False)

    op.create_table(
        "supportrequest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checkin_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("state", _S(length=16), nullable=False),
        sa.Column("follower", _S(length=32), nullable=True),
        sa.Column("sent_at", _UTC(), nullable=True),
        sa.Column("created_at", _UTC(), nullable=False),
        sa.Column("updated_at", _UTC(), nullable=False),
        sa.Column("resolved_at", _UTC(), nullable=True),
        sa.ForeignKeyConstraint(["checkin_id"], ["checkin.id"], name=op.f("fk_supportrequest_checkin_id_checkin")),
        sa.ForeignKeyConstraint(["cycle_id"], ["cycle.id"], name=op.f("fk_supportrequest_cycle_id_cycle")),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_supportrequest_person_id_person")),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name=op.f("fk_supportrequest_team_id_team")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supportrequest")),
        sa.UniqueConstraint("checkin_id", name=op.f("uq_supportrequest_checkin_id")),
    )
    with op.batch_alter_table("supportrequest", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_supportrequest_cycle_id"), ["cycle_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_supportrequest_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_supportrequest_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_supportrequest_team_id"), ["team_id"], unique=False)

    op.create_table(
        "schoolbreak",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("label", _S(length=80), nullable=False),
        sa.Column("created_by", _S(length=64), nullable=False),
        sa.Column("created_at", _UTC(), nullable=False),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"], name=op.f("fk_schoolbreak_school_id_school")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schoolbreak")),
        sa.UniqueConstraint(
            "school_id", "starts_on", "ends_on", name=op.f("uq_schoolbreak_school_id_starts_on_ends_on")
        ),
    )
    with op.batch_alter_table("schoolbreak", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schoolbreak_school_id"), ["school_id"], unique=False)

    op.create_table(
        "cyclereflection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("target_reached", _S(length=8), nullable=True),
        sa.Column("final_value", sa.Float(), nullable=True),
        sa.Column("learned", _S(length=3000), nullable=True),
        sa.Column("next_steps", _S(length=3000), nullable=True),
        sa.Column("submitted_by", _S(length=32), nullable=True),
        sa.Column("submitted_at", _UTC(), nullable=True),
        sa.Column("summary", _S(), nullable=False),
        sa.Column("created_at", _UTC(), nullable=False),
        sa.ForeignKeyConstraint(["cycle_id"], ["cycle.id"], name=op.f("fk_cyclereflection_cycle_id_cycle")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cyclereflection")),
        sa.UniqueConstraint("cycle_id", name=op.f("uq_cyclereflection_cycle_id")),
    )


def downgrade() -> None:
    op.drop_table("cyclereflection")
    with op.batch_alter_table("schoolbreak", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schoolbreak_school_id"))
    op.drop_table("schoolbreak")
    with op.batch_alter_table("supportrequest", schema=None) as batch_op:
        for name in ("ix_supportrequest_team_id", "ix_supportrequest_state",
                     "ix_supportrequest_person_id", "ix_supportrequest_cycle_id"):
            batch_op.drop_index(batch_op.f(name))
    op.drop_table("supportrequest")
    with op.batch_alter_table("checkin", schema=None) as batch_op:
        for name in ("ix_checkin_round_id", "ix_checkin_person_id", "ix_checkin_cycle_id"):
            batch_op.drop_index(batch_op.f(name))
    op.drop_table("checkin")
    with op.batch_alter_table("checkinround", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkinround_team_id"))
        batch_op.drop_index(batch_op.f("ix_checkinround_cycle_id"))
    op.drop_table("checkinround")
