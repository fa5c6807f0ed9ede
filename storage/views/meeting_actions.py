"""What the meeting actions (add, cancel, wrap-up) owe others, as plain data each front renders."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MeetingLogDue:
    """A meeting was wrapped up: its log goes under the agenda (or into the team's place)."""

    meeting_id: int


@dataclass(frozen=True)
class ActionAssigned:
    """A new action item: its owner is told, once."""

    action_id: int
    assigned_by: str
