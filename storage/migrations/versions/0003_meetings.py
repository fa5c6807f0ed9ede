"""Norms with their history and commitments, agenda items, action items, attendance and
each meeting's roles and wrap-up record.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

import storage.models.base

revision: str = '0003'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('norm',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', storage.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_norm_team_id_team')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_norm')),
    sa.UniqueConstraint('team_id', 'position', name=op.f('uq_norm_team_id_position'))
    )
    with op.batch_alter_table('norm', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_norm_team_id'), ['team_id'], unique=False)

    op.create_table('normcommitment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('committed_at', storage.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_normcommitment_person_id_person')),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_normcommitment_team_id_team')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_normcommitment')),
    sa.UniqueConstraint('team_id', 'person_id', 'version', name=op.f('uq_normcommitment_team_id_person_id_version'))
    )
    with op.batch_alter_table('normcommitment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_normcommitment_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_normcommitment_team_id'), ['team_id'], unique=False)

    op.create_table('normrevision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('norms', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('summary', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('changed_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('changed_at', storage.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_normrevision_team_id_team')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_normrevision')),
    sa.UniqueConstraint('team_id', 'version', name=op.f('uq_normrevision_team_id_version'))
    )
    with op.batch_alter_table('normrevision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_normrevision_team_id'), ['team_id'], unique=False)

    op.create_table('actionitem',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('created_at', storage.models.base.UTCDateTime(), nullable=False),
    sa.Column('done_at', storage.models.base.UTCDateTime(), nullable=True),
    sa.Column('done_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.ForeignKeyConstraint(['meeting_id'], ['meeting.id'], name=op.f('fk_actionitem_meeting_id_meeting')),
    sa.ForeignKeyConstraint(['owner_id'], ['person.id'], name=op.f('fk_actionitem_owner_id_person')),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_actionitem_team_id_team')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_actionitem'))
    )
    with op.batch_alter_table('actionitem', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_actionitem_meeting_id'), ['meeting_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_actionitem_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_actionitem_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_actionitem_team_id'), ['team_id'], unique=False)

    op.create_table('agendaitem',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=150), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('link', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('source_key', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('added_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('notes', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('created_at', storage.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['meeting.id'], name=op.f('fk_agendaitem_meeting_id_meeting')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agendaitem')),
    sa.UniqueConstraint('meeting_id', 'source_key', name=op.f('uq_agendaitem_meeting_id_source_key'))
    )
    with op.batch_alter_table('agendaitem', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agendaitem_meeting_id'), ['meeting_id'], unique=False)

    op.create_table('attendance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('present', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['meeting.id'], name=op.f('fk_attendance_meeting_id_meeting')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_attendance_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attendance')),
    sa.UniqueConstraint('meeting_id', 'person_id', name=op.f('uq_attendance_meeting_id_person_id'))
    )
    with op.batch_alter_table('attendance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attendance_meeting_id'), ['meeting_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attendance_person_id'), ['person_id'], unique=False)

    op.create_table('meetingrecord',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('timekeeper', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('notetaker', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('decisions', sqlmodel.sql.sqltypes.AutoString(length=3000), nullable=False),
    sa.Column('wrapped_up_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('wrapped_up_at', storage.models.base.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['meeting_id'], ['meeting.id'], name=op.f('fk_meetingrecord_meeting_id_meeting')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meetingrecord')),
    sa.UniqueConstraint('meeting_id', name=op.f('uq_meetingrecord_meeting_id'))
    )


def downgrade() -> None:
    # Indexes go with their tables.
    op.drop_table('meetingrecord')
    op.drop_table('attendance')
    op.drop_table('agendaitem')
    op.drop_table('actionitem')
    op.drop_table('normrevision')
    op.drop_table('normcommitment')
    op.drop_table('norm')
