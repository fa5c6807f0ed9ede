"""What the weekly digest says in a principal's DM: the summary (the workbook follows as a file),
and the notice when the workbook could not be attached."""

from __future__ import annotations

from dataclasses import dataclass

from storage.rules.digest import IsoWeek, TeamFigures
from storage.views import View


@dataclass(frozen=True)
class DigestSummary(View):
    """One school's week: the teams' figures (those needing attention first), or that nothing happened."""

    school: str
    week: IsoWeek
    teams: tuple[TeamFigures, ...]
    has_data: bool
    so_far: bool = False  # the week is not over (a digest asked for on demand)
    workbook_follows: bool = True


@dataclass(frozen=True)
class UploadFailed(View):
    """The workbook could not be attached after every retry; the summary above still stands."""

    school: str
    week: IsoWeek
