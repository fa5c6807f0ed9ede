"""Scheduled work and the delivery ledger: the bot's promises, kept as rows.

A scheduled job is something the bot will do at a time (a check-in round, a reminder, an
agenda post, a digest). A delivery is one message the bot owes one channel or person; its
unique key rides in the message metadata so that after a crash the DM history says whether
it was sent.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from storage.models.base import stamp_field, utc_field


class ScheduledJob(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40, index=True)
    # One row per piece of work, however many planners or processes try to add it.
    dedupe_key: str = Field(max_length=200, unique=True)
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    school_id: int | None = Field(default=None, foreign_key="school.id", index=True)
    ref_id: int | None = None  # the cycle, meeting, action item… the work is about
    payload: str = Field(default="{}")  # small JSON of plain values
    due_at: datetime = utc_field(index=True)
    state: str = Field(default="pending", max_length=16, index=True)  # pending|running|done|skipped|failed
    attempts: int = 0
    lease_until: datetime | None = utc_field(nullable=True)
    claimed_by: str | None = Field(default=None, max_length=120)
    last_error: str | None = None
    created_at: datetime = stamp_field()
    finished_at: datetime | None = utc_field(nullable=True)


class Delivery(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    kind: str = Field(max_length=40, index=True)
    # Who the message went to (their person row), or where, when it went to no one person (a
    # team's channel or chat: its platform id).
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    place: str | None = Field(default=None, max_length=255)
    channel_id: str | None = Field(default=None, max_length=255)  # where it landed (D… for DMs)
    state: str = Field(default="pending", max_length=16, index=True)  # pending|sending|sent|failed|unknown
    ts: str | None = Field(default=None, max_length=255)
    attempts: int = 0
    error: str | None = Field(default=None, max_length=200)
    job_id: int | None = Field(default=None, foreign_key="scheduledjob.id", index=True)
    created_at: datetime = stamp_field()
    updated_at: datetime = stamp_field()
    # What a message owed with no job to rebuild it (an answer to a command typed on Teams) needs
    # to be sent by another process later: small JSON (where it goes, and the rendered message once
    # there is one). Kept while the row is pending, sending or in doubt; emptied once it is sent or
    # failed (`scheduling.delivery.update`), so no message text lingers in the ledger.
    body: str | None = None


class Heartbeat(SQLModel, table=True):
    """When a process last did something (the scheduler's tick), for /healthz and `plcbot jobs`."""

    name: str = Field(primary_key=True, max_length=120)
    at: datetime = utc_field()
    detail: str = Field(default="")
