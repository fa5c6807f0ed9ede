"""Meeting feedback: one answer per person per meeting, anonymous when the teacher asks.

An anonymous answer stores no person: `person_id` is empty and `link` holds at most a keyed
one-way hash of (meeting, user) so its author can change it while the feedback window is open;
the window's close job empties `link`, after which nothing ties the answer to anyone. The
stored time is the day only (`answered_on`), and ids are random, so neither a timestamp nor
the insertion order can be paired with request logs.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel


class Feedback(SQLModel, table=True):
    """One teacher's feedback on one meeting."""

    __table_args__ = (UniqueConstraint("meeting_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)  # random, see storage/feedback.py
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)  # None: anonymous
    link: str | None = Field(default=None, max_length=64, unique=True)  # HMAC hex while the window is open
    anonymous: bool = False
    answered_on: date  # the day only, never the second
    useful: int  # reaction, 1-5
    learned: int  # learning, 1-5
    norms: int  # organisational support, 1-5
    will_try: str = Field(default="", max_length=500)  # use of new practice
    evidence: str = Field(default="", max_length=500)  # student learning outcomes
    next_focus: str = Field(default="", max_length=300)  # topic request for the next agenda
