"""Norms, agenda items, action items and what a wrap-up records about a meeting.

The `Meeting` and `Cycle` tables live in `plc.py`; these hang from them. Norms keep their
history as revisions (who changed what, when), and commitments are to one revision, so a
change to the norms asks everyone again.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.base import stamp_field, utc_field


class Norm(SQLModel, table=True):
    """One of a team's current norms, in order."""

    __table_args__ = (UniqueConstraint("team_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    position: int  # 1-based
    text: str = Field(max_length=300)
    version: int  # the revision that last set the team's norms
    updated_at: datetime = stamp_field()


class NormRevision(SQLModel, table=True):
    """The whole list of norms after one change, with who made it: the norms' history."""

    __table_args__ = (UniqueConstraint("team_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    version: int
    norms: str = Field(default="[]")  # JSON list of the norms' texts, in order
    summary: str = Field(default="", max_length=200)  # "added 1, removed 2"
    changed_by_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    changed_at: datetime = stamp_field()


class NormCommitment(SQLModel, table=True):
    """A member's "I commit to these norms", for one revision of them."""

    __table_args__ = (UniqueConstraint("team_id", "person_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    version: int
    committed_at: datetime = stamp_field()


class AgendaItem(SQLModel, table=True):
    """A time-boxed agenda item; `notes` holds what the wrap-up recorded for it."""

    __table_args__ = (UniqueConstraint("meeting_id", "source_key"),)

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    position: int
    title: str = Field(max_length=150)
    minutes: int = 5
    owner_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    link: str | None = Field(default=None, max_length=500)
    outcome: str = Field(default="", max_length=200)  # the expected outcome
    source: str = Field(default="member", max_length=16)  # template | member | shortcut
    # Makes a repeated add (a shortcut run twice on one message) store one item.
    source_key: str | None = Field(default=None, max_length=120)
    added_by_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    notes: str = Field(default="", max_length=2000)
    created_at: datetime = stamp_field()


class ActionItem(SQLModel, table=True):
    """A commitment with an owner and perhaps a due date, followed up until done."""

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    meeting_id: int | None = Field(default=None, foreign_key="meeting.id", index=True)
    owner_id: int = Field(foreign_key="person.id", index=True)
    text: str = Field(max_length=300)
    due_date: date | None = None
    status: str = Field(default="open", max_length=16, index=True)  # open | done
    created_by_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    created_at: datetime = stamp_field()
    done_at: datetime | None = utc_field(nullable=True)
    done_by_id: int | None = Field(default=None, foreign_key="person.id", index=True)


class Attendance(SQLModel, table=True):
    """Who was at a held meeting (and who was not): the digest counts it."""

    __table_args__ = (UniqueConstraint("meeting_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    present: bool = True


class MeetingRecord(SQLModel, table=True):
    """A meeting's roles and the wrap-up's decisions; one row per meeting, made on first use."""

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", unique=True)
    timekeeper_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    notetaker_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    decisions: str = Field(default="", max_length=3000)
    wrapped_up_by_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    wrapped_up_at: datetime | None = utc_field(nullable=True)
