"""The digest on demand as plain data: each school's part of what was asked, and how it went.

Built by `handlers.core.digest`; Slack renders a part with `bot.render.digest.digest_message`
and the reply from the outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.rules.digest import IsoWeek, TeamFigures
from storage.views import View

TEAM_PART = " (your team's part)"


@dataclass(frozen=True)
class DigestPart(View):
    """One school's digest for one week, as much of it as the caller may see: the message the
    digest on demand sends, rendered by the caller's platform (Slack's blocks, Teams' card)."""

    school_id: int
    school: str
    week: IsoWeek
    so_far: bool  # the current week, not over yet
    team_part: bool  # only the caller's own team(s), not the whole school
    teams: tuple[TeamFigures, ...]
    has_data: bool

    @property
    def scope_note(self) -> str:
        return TEAM_PART if self.team_part else ""


@dataclass(frozen=True)
class DigestOutcome:
    """How one part's delivery went: 'sent', 'retry' (the platform is slow; ask again) or 'failed'."""

    part: DigestPart
    state: str
