"""What the cycle and check-in actions tell others (`handlers.core.cycles`, `handlers.core.checkins`):
one view model per notice, which each chat front renders its own way.

They hold facts (who acted, which cycle, what changed), never markup or mentions. `by` is the
person's id as the actions receive it (today the Slack user id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from storage.models import Cycle


@dataclass(frozen=True)
class CycleStarted:
    """The team's place: a cycle was started (or, `edited`, changed): its goal, metric and schedule."""

    cycle: Cycle
    by: str
    edited: bool = False


@dataclass(frozen=True)
class CycleNote:
    """The team's place: a facilitator paused (`until` the last day, or until resumed) or resumed it."""

    change: str  # "paused" | "resumed"
    by: str
    until: date | None = None


@dataclass(frozen=True)
class ReflectionPrompt:
    """The team's place: the cycle ended; time to reflect (offers "Fill in the reflection")."""

    cycle_id: int
    title: str
    team_name: str
    weeks: int


@dataclass(frozen=True)
class ReflectionSaved:
    """The team's place: the reflection was recorded and the cycle closed."""

    title: str
    by: str
    reached: str  # "yes" | "partly" | "no"
    final: float | None
    unit: str
    learned: str
    next_steps: str
