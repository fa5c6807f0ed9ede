"""Weekly check-ins of a learning cycle, support requests, school breaks and the cycle's reflection.

One `CheckinRound` per (cycle, week) records whether that week's round ran, was skipped (a
pause, a school break) and when its window closes. One `Checkin` per (round, teacher) holds
both the prompt's delivery state and the teacher's answer: the unique pair is what makes two
clicks, or a Slack retry, store one answer.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.base import stamp_field, utc_field


class CheckinRound(SQLModel, table=True):
    """One week's check-in of one cycle: open → closed, or skipped (paused, break)."""

    __table_args__ = (UniqueConstraint("cycle_id", "week"),)

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: int = Field(foreign_key="cycle.id", index=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    week: int
    local_day: date  # the check-in day in the team's time zone
    state: str = Field(default="open", max_length=16)  # open | closed | skipped
    skip_reason: str | None = Field(default=None, max_length=40)  # paused | break: <label>
    opened_at: datetime = stamp_field()
    closes_at: datetime | None = utc_field(nullable=True)
    closed_at: datetime | None = utc_field(nullable=True)


class Checkin(SQLModel, table=True):
    """One prompt to one teacher for one cycle week, and the answer they gave."""

    __table_args__ = (UniqueConstraint("round_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="checkinround.id", index=True)
    cycle_id: int = Field(foreign_key="cycle.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    week: int
    # pending (not yet delivered) | sent | failed (unreachable) | away (not asked)
    status: str = Field(default="pending", max_length=16)
    error: str | None = Field(default=None, max_length=200)
    channel_id: str | None = Field(default=None, max_length=255)
    ts: str | None = Field(default=None, max_length=255)
    progress: str | None = Field(default=None, max_length=16)  # on_track | some_progress | stuck
    value: float | None = None  # the teacher's data point, in the cycle's metric unit
    evidence: str | None = Field(default=None, max_length=3000)
    support: str | None = Field(default=None, max_length=3000)  # what support would help
    answered_at: datetime | None = utc_field(nullable=True)
    reminded_at: datetime | None = utc_field(nullable=True)
    created_at: datetime = stamp_field()


class SupportRequest(SQLModel, table=True):
    """A teacher asked for support in a check-in: open → following_up → resolved.

    The one place a teacher's name travels with an answer, because they chose it explicitly.
    """

    id: int | None = Field(default=None, primary_key=True)
    checkin_id: int = Field(foreign_key="checkin.id", unique=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    cycle_id: int = Field(foreign_key="cycle.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    state: str = Field(default="open", max_length=16, index=True)  # open | following_up | resolved
    follower_id: int | None = Field(default=None, foreign_key="person.id", index=True)  # the facilitator following up
    sent_at: datetime | None = utc_field(nullable=True)  # when facilitators were told
    created_at: datetime = stamp_field()
    updated_at: datetime = stamp_field()
    resolved_at: datetime | None = utc_field(nullable=True)


class SchoolBreak(SQLModel, table=True):
    """Days (inclusive) when a school has no check-ins: holidays, testing weeks."""

    __table_args__ = (UniqueConstraint("school_id", "starts_on", "ends_on"),)

    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    starts_on: date
    ends_on: date
    label: str = Field(default="", max_length=80)
    created_by_id: int | None = Field(default=None, foreign_key="person.id", index=True)  # None: the command line
    created_at: datetime = stamp_field()


class CycleReflection(SQLModel, table=True):
    """The end of a cycle: the team's reflection and the summary kept once it closes."""

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: int = Field(foreign_key="cycle.id", unique=True)
    target_reached: str | None = Field(default=None, max_length=8)  # yes | partly | no
    final_value: float | None = None
    learned: str | None = Field(default=None, max_length=3000)
    next_steps: str | None = Field(default=None, max_length=3000)
    submitted_by_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    submitted_at: datetime | None = utc_field(nullable=True)
    summary: str = Field(default="{}")  # JSON: the weekly points and response rates at close
    created_at: datetime = stamp_field()
