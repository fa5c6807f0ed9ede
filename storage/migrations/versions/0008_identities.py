"""Platform identities: who a person is on each chat platform (`personidentity`) and where a
team meets there (`teamplace`), so a person can be reached on Slack or Teams.

Backfill: every person known today is a Slack user, so each gets one "slack" identity with
their Slack user id and DM channel, in the workspace "" (installs never recorded their Slack
team id); every team gets one "slack" place, its channel. People already forgotten get no
identity: their row is a tombstone (`forgotten_at` set, a `forgotten-…` token for an id), and
an identity would hand the token a way to be reached.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

import storage.models.base

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString
_UTC = storage.models.base.UTCDateTime
_CHUNK = 500


def upgrade() -> None:
    op.create_table(
        "personidentity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("platform", _S(length=16), nullable=False),
        sa.Column("workspace", _S(length=64), nullable=False),
        sa.Column("external_id", _S(length=255), nullable=False),
        sa.Column("conversation_id", _S(length=255), nullable=True),
        sa.Column("service_url", _S(length=500), nullable=True),
        sa.Column("created_at", _UTC(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_personidentity_person_id_person")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personidentity")),
        sa.UniqueConstraint("platform", "workspace", "external_id",
                            name=op.f("uq_personidentity_platform_workspace_external_id")),
    )
    with op.batch_alter_table("personidentity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_personidentity_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_personidentity_external_id"), ["external_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_personidentity_conversation_id"), ["conversation_id"], unique=False)
    op.create_table(
        "teamplace",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("platform", _S(length=16), nullable=False),
        sa.Column("workspace", _S(length=64), nullable=False),
        sa.Column("place_id", _S(length=255), nullable=False),
        sa.Column("kind", _S(length=16), nullable=False),
        sa.Column("service_url", _S(length=500), nullable=True),
        sa.Column("created_at", _UTC(), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name=op.f("fk_teamplace_team_id_team")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teamplace")),
        sa.UniqueConstraint("platform", "workspace", "place_id", name=op.f("uq_teamplace_platform_workspace_place_id")),
    )
    with op.batch_alter_table("teamplace", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_teamplace_team_id"), ["team_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_teamplace_place_id"), ["place_id"], unique=False)
    _backfill()


def _backfill() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)
    person = sa.table("person", sa.column("id", sa.Integer), sa.column("slack_user_id", sa.String),
                      sa.column("dm_channel_id", sa.String), sa.column("forgotten_at", _UTC()),
                      sa.column("created_at", _UTC()))
    team = sa.table("team", sa.column("id", sa.Integer), sa.column("channel_id", sa.String),
                    sa.column("created_at", _UTC()))
    identity = sa.table("personidentity", sa.column("person_id", sa.Integer), sa.column("platform", sa.String),
                        sa.column("workspace", sa.String), sa.column("external_id", sa.String),
                        sa.column("conversation_id", sa.String), sa.column("created_at", _UTC()))
    place = sa.table("teamplace", sa.column("team_id", sa.Integer), sa.column("platform", sa.String),
                     sa.column("workspace", sa.String), sa.column("place_id", sa.String),
                     sa.column("kind", sa.String), sa.column("created_at", _UTC()))
    people = bind.execute(
        sa.select(person.c.id, person.c.slack_user_id, person.c.dm_channel_id, person.c.created_at)
        .where(person.c.forgotten_at.is_(None), ~person.c.slack_user_id.like("forgotten-%"))
        .order_by(person.c.id)).all()
    rows = [{"person_id": pid, "platform": "slack", "workspace": "", "external_id": uid,
             "conversation_id": dm or None, "created_at": created or now}
            for pid, uid, dm, created in people]
    for start in range(0, len(rows), _CHUNK):
        bind.execute(sa.insert(identity), rows[start:start + _CHUNK])
    teams = bind.execute(sa.select(team.c.id, team.c.channel_id, team.c.created_at).order_by(team.c.id)).all()
    places = [{"team_id": tid, "platform": "slack", "workspace": "", "place_id": channel, "kind": "channel",
               "created_at": created or now} for tid, channel, created in teams]
    for start in range(0, len(places), _CHUNK):
        bind.execute(sa.insert(place), places[start:start + _CHUNK])


def downgrade() -> None:
    with op.batch_alter_table("teamplace", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_teamplace_place_id"))
        batch_op.drop_index(batch_op.f("ix_teamplace_team_id"))
    op.drop_table("teamplace")
    with op.batch_alter_table("personidentity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_personidentity_conversation_id"))
        batch_op.drop_index(batch_op.f("ix_personidentity_external_id"))
        batch_op.drop_index(batch_op.f("ix_personidentity_person_id"))
    op.drop_table("personidentity")
