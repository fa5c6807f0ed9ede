"""What the team actions (set-up, membership) tell people, as plain data each front renders.

People are named by their ids (today the Slack user id); a front turns them into its own mentions.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SetupSaved:
    """A team's set-up was saved: what the person who saved it is told."""

    team_name: str
    verb: str  # "is set up", "is updated" or "is unchanged"
    school_name: str | None
    weekdays: str
    time: str | None
    minutes: int
    timezone: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()  # no longer in the team (their history stays)
    skipped: tuple[str, ...] = ()  # left out: bots or accounts the platform does not show


@dataclass(frozen=True)
class ShareNamesChanged:
    """For the team's place: "Share names with the school's principals" was turned on or off."""

    actor: str
    team_name: str
    shared: bool


@dataclass(frozen=True)
class MembersChanged:
    """Members or facilitators were added or removed."""

    role: str  # "member" or "facilitator"
    remove: bool
    done: tuple[str, ...]  # the people whose membership changed
    skipped: tuple[str, ...] = ()  # not in the team (remove), or people the platform does not show (add)
