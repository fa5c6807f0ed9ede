"""The `/plc privacy` page as plain data: who the caller is and how much is kept about them.

Built by `handlers.core.privacy` from the data and `storage/rules/visibility.py`; Slack renders
it with `bot.render.privacy.page`, Teams with `bot.teams.cards.privacy_page`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from storage.rules import visibility as v


@dataclass(frozen=True)
class PrivacyTeam:
    """One of the caller's teams, as the page needs it."""

    name: str
    role: str  # member | facilitator
    shares_names: bool


@dataclass(frozen=True)
class PrivacyPage:
    """What the page says about the person asking."""

    known: bool
    counts: dict[str, int] = field(default_factory=dict)  # kind key -> records naming the caller
    teams: tuple[PrivacyTeam, ...] = ()
    principal_of: tuple[str, ...] = ()  # school names
    is_admin: bool = False
    retention_years: int = 3
    forget_days: int = 365
    min_group: int = 3
    viewers: tuple[v.Viewer, ...] = ()  # the audiences the caller belongs to (as a viewer of others)


def viewers_of(*, facilitator: bool, principal: bool, admin: bool) -> tuple[v.Viewer, ...]:
    """The audiences someone belongs to, highest first."""
    out = []
    if admin:
        out.append(v.Viewer.ADMINS)
    if principal:
        out.append(v.Viewer.PRINCIPALS)
    if facilitator:
        out.append(v.Viewer.FACILITATORS)
    return tuple(out)
