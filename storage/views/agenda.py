"""What meetings say: the agenda post (kept up to date in place) and the action-item reminder.

The agenda's facts are `storage.rules.agenda.AgendaSnapshot` (built by
`storage.meetings.agenda_snapshot`); `AgendaPost` is that snapshot as a message to a team's place."""

from __future__ import annotations

from dataclasses import dataclass

from storage.rules.agenda import ActionView, AgendaSnapshot
from storage.views import Offer, View

ADD_ITEM = "add_item"
EDIT = "edit"
GIVE_FEEDBACK = "give_feedback"
WRAP_UP = "wrap_up"
DONE = "done"


def agenda_offers(snap: AgendaSnapshot) -> tuple[Offer, ...]:
    """Before the meeting: add an item, edit; once it has started: feedback, and wrap-up while not held."""
    value = str(snap.meeting_id)
    out: list[Offer] = []
    if snap.status == "scheduled":
        out += [Offer(ADD_ITEM, value), Offer(EDIT, value)]
    if snap.started and snap.status != "cancelled":
        out.append(Offer(GIVE_FEEDBACK, value, primary=True))
    if snap.started and snap.status == "scheduled":
        out.append(Offer(WRAP_UP, value))
    return tuple(out)


@dataclass(frozen=True)
class AgendaPost(View):
    """A meeting's agenda in the team's place: posted once, then updated in place."""

    agenda: AgendaSnapshot

    def offered(self) -> tuple[Offer, ...]:
        return agenda_offers(self.agenda)


@dataclass(frozen=True)
class ActionReminder(View):
    """To an action item's owner, the school day before it is due."""

    action: ActionView

    def offered(self) -> tuple[Offer, ...]:
        return (Offer(DONE, str(self.action.id), primary=True),)
