"""The `/plc privacy` page as plain data: who the caller is and how much is kept about them.

Built by `handlers.core.privacy` from the data and `storage/rules/visibility.py`; Slack renders
it with `bot.render.privacy.page`, Teams with `bot.teams.cards.privacy_page`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def names_list(items: Sequence[str], strong: Callable[[str], str]) -> str:
    """The first eight names, each as the front shows a name (`strong`: escaped, clipped, bold),
    then "N more"."""
    shown = [strong(n) for n in items[:8]]
    if len(items) > 8:
        shown.append(f"{len(items) - 8} more")
    return ", ".join(shown)


def who_you_are(page: PrivacyPage, strong: Callable[[str], str]) -> str:
    """The page's opening words about the caller, the same on every front; only `strong` differs."""
    if not page.known:
        return ("plcbot has nothing stored about you yet: you are in no team. This is what it keeps once "
                "you are, and who sees it.")
    parts = []
    members = [t.name for t in page.teams if t.role != "facilitator"]
    facs = [t.name for t in page.teams if t.role == "facilitator"]
    if members:
        parts.append(f"a member of {names_list(members, strong)}")
    if facs:
        parts.append(f"a facilitator of {names_list(facs, strong)}")
    if page.principal_of:
        parts.append(f"a principal of {names_list(list(page.principal_of), strong)}")
    if page.is_admin:
        parts.append("a plcbot admin")
    lines = ["You are " + ("; ".join(parts) if parts else "in no team right now") + "."]
    shared = [t.name for t in page.teams if t.shares_names]
    unshared = [t.name for t in page.teams if not t.shares_names]
    if shared:
        lines.append(f"Names shared with the principal: {names_list(shared, strong)}.")
    if unshared:
        lines.append(f"Names not shared with the principal: {names_list(unshared, strong)}.")
    return " ".join(lines)
