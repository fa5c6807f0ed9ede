"""People, schools, teams and who belongs where: the tables every feature stands on."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.base import stamp_field, utc_field


class Person(SQLModel, table=True):
    """A person the bot knows, on whichever chat platforms (`personidentity`). History stays when
    they leave or are deactivated."""

    id: int | None = Field(default=None, primary_key=True)
    # How the core and the fronts name this person in messages, mentions and ledger keys: the user
    # id of the platform they were first known on (Slack `U…`, Teams `29:…`), or an erased
    # person's `forgotten-…` token. Every record keys them by `id`, never by this.
    handle: str = Field(max_length=255, unique=True, index=True)
    name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=320, index=True)
    tz: str | None = Field(default=None, max_length=64)
    active: bool = True  # false once Slack says the account is deactivated
    away_from: date | None = None
    away_until: date | None = None
    dm_channel_id: str | None = Field(default=None, max_length=255)
    created_at: datetime = stamp_field()
    deactivated_at: datetime | None = utc_field(nullable=True)  # when Slack deactivated the account
    # Set by an erasure: the row then holds no name, email or chat id (handle becomes
    # "forgotten-…"), so the person's past answers still count in their team's figures.
    forgotten_at: datetime | None = utc_field(nullable=True)


class School(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    timezone: str = Field(max_length=64)
    self_service: bool = False  # anyone may create the school's first team
    digest_weekday: int = 0  # Monday
    digest_time: str = Field(default="07:00", max_length=5)
    school_hours: str | None = Field(default=None, max_length=64)  # None: PLCBOT_SCHOOL_HOURS
    created_at: datetime = stamp_field()


class SchoolLeader(SQLModel, table=True):
    """A principal or other leader of a school: sees its digest, names its facilitators."""

    __table_args__ = (UniqueConstraint("school_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    title: str = Field(default="principal", max_length=40)
    created_at: datetime = stamp_field()


class Team(SQLModel, table=True):
    """A PLC: one Slack channel, its members and its meeting schedule."""

    __table_args__ = (UniqueConstraint("school_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    name: str = Field(max_length=120)
    channel_id: str = Field(max_length=255, unique=True, index=True)
    timezone: str = Field(max_length=64)
    meeting_weekdays: str = Field(default="", max_length=40)  # "mon,thu"
    meeting_time: str | None = Field(default=None, max_length=5)  # "15:30", local
    meeting_minutes: int = 45
    school_hours: str | None = Field(default=None, max_length=64)  # per-team override
    share_names_with_principal: bool = False
    agenda_lead_hours: int = 24
    feedback_window_days: int = 7
    archived_at: datetime | None = utc_field(nullable=True)
    created_at: datetime = stamp_field()


class Membership(SQLModel, table=True):
    """A person in a team, as member or facilitator; inactive rows keep history."""

    __table_args__ = (UniqueConstraint("team_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    role: str = Field(default="member", max_length=20)  # member | facilitator
    active: bool = True
    joined_at: datetime = stamp_field()
    left_at: datetime | None = utc_field(nullable=True)


class AuditEntry(SQLModel, table=True):
    """Every change of roles, membership, norms or settings, every export and erasure.

    Never the content of an answer. `school_id` is the school the entry belongs to (None for
    district-wide ones), so principals can be shown their school's part.
    """

    # A school's newest entries (`/plc audit`) come from one index range.
    __table_args__ = (Index("ix_auditentry_school_id_at", "school_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = stamp_field(index=True)
    school_id: int | None = None
    # Who made the change (their person row); or, when no person did, what did: "cli:<login>"
    # at the command line, "plcbot" for scheduled work.
    actor_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    actor_label: str = Field(default="", max_length=255)
    action: str = Field(max_length=64)
    target: str = Field(default="", max_length=200)
    detail: str = Field(default="")


class SchoolYear(SQLModel, table=True):
    """One school year of a school. The open one (no `closed_at`) is the current year.

    A school without rows is in an implicit year starting on PLCBOT_SCHOOL_YEAR_START;
    `plcbot year close` writes the closed row and opens the next, so yearly figures never mix.
    """

    __table_args__ = (UniqueConstraint("school_id", "starts_on"),)

    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    label: str = Field(max_length=20)  # "2026-27"
    starts_on: date
    ends_on: date | None = None  # the last day, set when the year is closed
    closed_at: datetime | None = utc_field(nullable=True)
    closed_by_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    closed_by_label: str = Field(default="", max_length=255)  # "cli:<login>" when no person closed it
    workbook: str = Field(default="", max_length=500)  # where the year's workbook was written
