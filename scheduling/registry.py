"""Which kinds of scheduled work exist, and what plans them.

A feature adds a module to `scheduling/` that defines `register(registry)`, and lists it in
`FEATURE_MODULES`. A *kind* runs one claimed row; a *planner* looks at the data (active cycles,
team schedules) and makes sure the rows for upcoming work exist, so a change made by any
process takes effect at the next tick.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scheduling.services import Services
    from storage.models import ScheduledJob

FEATURE_MODULES: list[str] = [
    "scheduling.checkins",
    "scheduling.feedback",
    "scheduling.meetings",
    "scheduling.digest",
    "scheduling.retention",
    "scheduling.command_replies",
]

JobRun = Callable[["ScheduledJob", "Services"], "str | None"]
Planner = Callable[["Services", datetime], None]
IsStale = Callable[["ScheduledJob", datetime], bool]


def _never_stale(job: ScheduledJob, now: datetime) -> bool:
    return False


@dataclass(frozen=True)
class JobKind:
    name: str
    label: str  # what operators read in `plcbot jobs`, e.g. "check-in"
    run: JobRun
    # Work missed while the bot was down runs when it comes back only while still useful.
    is_stale: IsStale = _never_stale


@dataclass
class Registry:
    kinds: dict[str, JobKind] = field(default_factory=dict)
    planners: list[tuple[str, Planner]] = field(default_factory=list)

    def kind(self, name: str, run: JobRun, *, label: str, is_stale: IsStale = _never_stale) -> None:
        self.kinds[name] = JobKind(name, label, run, is_stale)

    def planner(self, name: str, plan: Planner) -> None:
        self.planners.append((name, plan))


def load(modules: list[str] | None = None) -> Registry:
    registry = Registry()
    for name in modules if modules is not None else FEATURE_MODULES:
        importlib.import_module(name).register(registry)
    return registry
