"""What the norms actions tell the team (`handlers.core.norms`): the new version, posted in its place."""

from __future__ import annotations

from dataclasses import dataclass

from storage.views import View


@dataclass(frozen=True)
class NormsChanged(View):
    """For the team's place: a new version of its norms, for everyone to commit to again.

    `changed_by` is the person's id (a front that shows mentions uses it), `changed_by_name` how a
    front that shows names writes them; `committed` of `members` have committed to this version.
    With `changed_by` empty it is the norms as they stand, posted on request (`/plc norms`): the
    fronts render the same post without the "updated the norms" line.
    """

    team_id: int
    team_name: str
    norms: tuple[str, ...]
    version: int
    changed_by: str
    changed_by_name: str = ""
    committed: int = 0
    members: int = 0
