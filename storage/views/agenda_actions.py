"""What the agenda and action-item actions owe others, as plain data each front renders.

People are named by their ids (today the Slack user id); a front turns them into its own mentions.
A new action item's owner is owed `storage.views.meeting_actions.ActionAssigned`, as after a wrap-up.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AgendaDue:
    """The team's place is owed the meeting's agenda: posted once, or updated in place when `update`."""

    meeting_id: int
    update: bool = False
