"""Who a person is on each chat platform, and where a team meets there.

A person has one row (`person`) whatever platform they use: their check-ins, feedback and
roles hang off `person.id`. How the bot knows them on a platform, and how it reaches them
there, is a `PersonIdentity`; a district on Slack and Teams at once has people with one of
each, and delivery (`scheduling.transport.Transports.for_recipient`) picks the platform from
the identity. A team's chat place (a Slack channel, a Teams channel or group chat) is its
`TeamPlace`. Both are additive to `person.handle` / `person.dm_channel_id` and
`team.channel_id`, which still hold the Slack side and are kept in step with them
(`storage.identities`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.base import stamp_field

SLACK = "slack"
TEAMS = "teams"


class PersonIdentity(SQLModel, table=True):
    """A person as one platform knows them, and how the bot reaches them there.

    `workspace` is the Slack team id or the Teams (Entra) tenant id; "" for the single Slack
    workspace of an install that never recorded it. `external_id` is the Slack user id, or the
    Teams user id (`29:…`) / Entra object id. An id is unique only within its platform and
    workspace, hence the unique key. How to reach them: on Slack the DM channel
    (`conversation_id`, a `D…` id); on Teams a conversation reference, which is the 1:1
    conversation id (`conversation_id`, `a:…`), the service URL the bot must post to
    (`service_url`, learnt from a validated incoming activity) and the tenant (`workspace`).
    Personal data: deleted when the person is forgotten (`storage.personal_data`).
    """

    __table_args__ = (UniqueConstraint("platform", "workspace", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    platform: str = Field(max_length=16)  # slack | teams
    workspace: str = Field(default="", max_length=64)
    # Indexed on its own too: the ledger knows a recipient only by this id (one lookup per send).
    external_id: str = Field(max_length=255, index=True)
    # Indexed: a reminder's ledger row names the conversation, not the person.
    conversation_id: str | None = Field(default=None, max_length=255, index=True)
    service_url: str | None = Field(default=None, max_length=500)
    created_at: datetime = stamp_field()


class TeamPlace(SQLModel, table=True):
    """Where a team meets on a platform: a Slack channel, or a Teams channel or group chat.

    `place_id` is the Slack channel id or the Teams conversation id (`19:…@thread.tacv2` for a
    channel, `19:…@thread.v2` for a group chat); `service_url` is where the bot posts to it on
    Teams. Agendas, announcements and summaries for the team go here.
    """

    __table_args__ = (UniqueConstraint("platform", "workspace", "place_id"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    platform: str = Field(max_length=16)  # slack | teams
    workspace: str = Field(default="", max_length=64)
    place_id: str = Field(max_length=255, index=True)
    kind: str = Field(default="channel", max_length=16)  # channel | group_chat
    service_url: str | None = Field(default=None, max_length=500)
    created_at: datetime = stamp_field()
