"""The ledger, the audit log, the year's close and the check-ins name the person row, not a chat id.

After 0009 four columns still held a chat platform's user id as a string:
- `delivery.recipient`: who or where a message went. A person becomes `delivery.person_id`; a
  team's channel or chat (no person) becomes `delivery.place`. A Slack reminder was addressed to
  the person's DM channel (`D…`): that names the person too (their identity's conversation).
- `auditentry.actor`: who made a change. A person becomes `auditentry.actor_id`; what is no
  person ("cli:<login>" at the command line, "plcbot" for the scheduler) stays as
  `auditentry.actor_label`.
- `schoolyear.closed_by`: likewise `closed_by_id` / `closed_by_label`.
- `checkin.user_id` repeated `checkin.person_id` and is dropped.

Backfill: a value is looked up in `person.slack_user_id` (a Teams person's Teams id is held
there too, and an erased person's `forgotten-…` token is their tombstone's), then in the
identities' conversations. A Slack user id that names no stored person (an admin who acted but
was never a member) gets a bare person row and Slack identity, as `storage.people.person_ref`
makes one at run time, so no "who did it" is lost. Anything else is a label (audit, year close)
or a place (ledger).

`downgrade` writes the strings back from the person rows (or the label / place).

Revision ID: 0011
Revises: 0010
"""

import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,31}$")
WIDE = 255
# table -> (old string column, new person column, what is left when no person: (column, NOT NULL default))
SPLIT: dict[str, tuple[str, str, str]] = {
    "delivery": ("recipient", "person_id", "place"),
    "auditentry": ("actor", "actor_id", "actor_label"),
    "schoolyear": ("closed_by", "closed_by_id", "closed_by_label"),
}

person = sa.table("person", sa.column("id", sa.Integer), sa.column("slack_user_id", sa.String),
                  sa.column("name", sa.String), sa.column("active", sa.Boolean),
                  sa.column("dm_channel_id", sa.String), sa.column("created_at", sa.DateTime))
identity = sa.table("personidentity", sa.column("person_id", sa.Integer), sa.column("platform", sa.String),
                    sa.column("workspace", sa.String), sa.column("external_id", sa.String),
                    sa.column("conversation_id", sa.String), sa.column("created_at", sa.DateTime))


def upgrade() -> None:
    for table, (_, new, rest) in SPLIT.items():
        op.add_column(table, sa.Column(new, sa.Integer(), nullable=True))
        op.create_index(op.f(f"ix_{table}_{new}"), table, [new], unique=False)
        op.add_column(table, sa.Column(rest, sa.String(length=WIDE), nullable=True))
    _add_unstored_people()
    for table, (old, new, rest) in SPLIT.items():
        _backfill(table, old, new, rest)
    for table, (old, new, rest) in SPLIT.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_foreign_key(batch_op.f(f"fk_{table}_{new}_person"), "person", [new], ["id"])
            if table != "delivery":  # a label is "" when a person is named; a place is NULL then
                batch_op.alter_column(rest, existing_type=sa.String(length=WIDE), nullable=False,
                                      server_default="")
            batch_op.drop_column(old)
    with op.batch_alter_table("checkin", schema=None) as batch_op:
        batch_op.drop_column("user_id")


def _add_unstored_people() -> None:
    """A bare person (and Slack identity) for each Slack user id that acted but was never stored."""
    bind = op.get_bind()
    known = {v for (v,) in bind.execute(sa.select(person.c.slack_user_id))}
    seen: set[str] = set()
    for table, (old, _, _) in SPLIT.items():
        if table == "delivery":
            continue  # the ledger only ever addressed people the bot had stored
        t = sa.table(table, sa.column(old, sa.String))
        seen |= {v for (v,) in bind.execute(sa.select(t.c[old]).distinct()) if v and SLACK_USER_ID.match(v)}
    now = datetime.now(UTC).replace(tzinfo=None)
    for uid in sorted(seen - known):
        pid = bind.execute(sa.insert(person).values(slack_user_id=uid, name="", active=True, created_at=now)
                           .returning(person.c.id)).scalar_one()
        bind.execute(sa.insert(identity).values(person_id=pid, platform="slack", workspace="", external_id=uid,
                                                created_at=now))
    if seen - known:
        log.warning("0011: %d Slack user id(s) that acted but were never stored got a bare person row",
                    len(seen - known))


def _backfill(name: str, old: str, new: str, rest: str) -> None:
    bind = op.get_bind()
    t = sa.table(name, sa.column(old, sa.String), sa.column(new, sa.Integer), sa.column(rest, sa.String))
    by_id = sa.select(person.c.id).where(person.c.slack_user_id == t.c[old]).scalar_subquery()
    bind.execute(sa.update(t).where(t.c[old].is_not(None), t.c[old] != "").values({new: by_id}))
    if name == "delivery":  # a DM channel names its person
        by_dm = sa.select(sa.func.min(identity.c.person_id)).where(
            identity.c.conversation_id == t.c[old]).scalar_subquery()
        bind.execute(sa.update(t).where(t.c[new].is_(None)).values({new: by_dm}))
        by_dm_column = sa.select(sa.func.min(person.c.id)).where(person.c.dm_channel_id == t.c[old]).scalar_subquery()
        bind.execute(sa.update(t).where(t.c[new].is_(None)).values({new: by_dm_column}))
        bind.execute(sa.update(t).where(t.c[new].is_(None)).values({rest: t.c[old]}))
    else:
        bind.execute(sa.update(t).where(t.c[new].is_(None)).values({rest: sa.func.coalesce(t.c[old], "")}))
        bind.execute(sa.update(t).where(t.c[new].is_not(None)).values({rest: ""}))


def downgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("checkin", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.String(length=WIDE), nullable=True))
    checkin = sa.table("checkin", sa.column("person_id", sa.Integer), sa.column("user_id", sa.String))
    bind.execute(sa.update(checkin).values(user_id=sa.select(person.c.slack_user_id).where(
        person.c.id == checkin.c.person_id).scalar_subquery()))
    with op.batch_alter_table("checkin", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.String(length=WIDE), nullable=False)
    for name, (old, new, rest) in SPLIT.items():
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(sa.Column(old, sa.String(length=WIDE), nullable=True))
        t = sa.table(name, sa.column(old, sa.String), sa.column(new, sa.Integer), sa.column(rest, sa.String))
        named = sa.select(person.c.slack_user_id).where(person.c.id == t.c[new]).scalar_subquery()
        bind.execute(sa.update(t).values({old: sa.func.coalesce(named, t.c[rest], "")}))
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.alter_column(old, existing_type=sa.String(length=WIDE), nullable=False)
            batch_op.drop_constraint(batch_op.f(f"fk_{name}_{new}_person"), type_="foreignkey")
            batch_op.drop_index(batch_op.f(f"ix_{name}_{new}"))
            batch_op.drop_column(new)
            batch_op.drop_column(rest)
