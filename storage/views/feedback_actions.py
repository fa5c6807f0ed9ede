"""Meeting feedback as plain data for the fronts: the form to show and the results to read.

Built by `handlers.core.feedback`; Slack renders them with `bot.render.feedback`. The labels are
words, not markup: a front escapes them as its format needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from storage.rules import feedback as rules


def meeting_label(title: str, starts_at: datetime, tz: str) -> str:
    """`Thu Dec 3, 3:30 PM` in the team's zone, with the meeting's title when it has one.

    Words every front shows the same way, so they are built here once (Slack's renderer too)."""
    local = starts_at.astimezone(ZoneInfo(tz))
    when = f"{local:%a %b} {local.day}, {local:%I:%M %p}".replace(" 0", " ")
    return f"{title} ({when})" if title else when


def day_label(when: datetime, tz: str) -> str:
    """A moment in the team's zone, `Thu Dec 3, 3:30 PM`."""
    local = when.astimezone(ZoneInfo(tz))
    return f"{local:%a %b} {local.day}, {local:%I:%M %p}".replace(" 0", " ")


@dataclass(frozen=True)
class FeedbackForm:
    """The feedback form for one person and one meeting, filled with their answer if they gave one."""

    meeting_id: int
    meeting: str  # the meeting's label
    closes: str  # when the window closes, in words
    previous: Mapping[str, Any] | None  # question key -> value, and "anonymous"; None: no answer yet


@dataclass(frozen=True)
class FeedbackSaved:
    """What the person is told after their answer was stored."""

    anonymous: bool
    closes: str


@dataclass(frozen=True)
class FeedbackResults:
    """One meeting's results for its facilitators: figures, comments and topic requests.

    Names are those of named answers only, and only for a viewer allowed to see them; an
    anonymous answer never carries one (`storage.feedback.to_stored`)."""

    meeting_id: int
    meeting: str
    summary: rules.Summary
