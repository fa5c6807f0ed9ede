"""Meetings and learning cycles: the two things most features hang from."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.base import stamp_field, utc_field


class Meeting(SQLModel, table=True):
    """One meeting of a team, from its schedule or added by hand."""

    __table_args__ = (UniqueConstraint("team_id", "starts_at"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    starts_at: datetime = utc_field(index=True)
    minutes: int = 45
    source: str = Field(default="schedule", max_length=16)  # schedule | one_off
    status: str = Field(default="scheduled", max_length=16)  # scheduled | cancelled | held
    title: str = Field(default="", max_length=150)
    template: str | None = Field(default=None, max_length=40)
    agenda_channel_id: str | None = Field(default=None, max_length=255)
    agenda_ts: str | None = Field(default=None, max_length=255)  # the posted agenda, updated in place
    held_at: datetime | None = utc_field(nullable=True)  # set by the wrap-up
    created_at: datetime = stamp_field()


class Cycle(SQLModel, table=True):
    """A 4-12 week learning cycle aimed at one measurable student learning goal."""

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    title: str = Field(max_length=150)
    goal: str = Field(max_length=1000)
    strategy: str = Field(default="", max_length=1000)
    metric_name: str = Field(max_length=100)
    metric_unit: str = Field(default="", max_length=30)
    baseline: float
    target: float
    start_date: date
    weeks: int
    checkin_weekday: int = 3  # 0 = Monday
    checkin_time: str = Field(default="14:00", max_length=5)  # local, HH:MM
    reminder_hours: int = 24
    status: str = Field(default="active", max_length=16, index=True)  # active | paused | ended
    paused_until: date | None = None
    created_by_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    created_at: datetime = stamp_field()
    ended_at: datetime | None = utc_field(nullable=True)
