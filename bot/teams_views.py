"""Teams' renderer of the core's view models (`storage.views`): one Adaptive Card builder per view type.

`render(view)` gives `(text, card)`: the plain summary for notifications and the Adaptive Card 1.5
dict the Teams front sends as an `application/vnd.microsoft.card.adaptive` attachment. It mirrors
`bot.slack_views`; a view type without a renderer is a TypeError, and `tests/test_teams_cards.py`
fails for every `View` subclass (and every action result in `storage/views/`) missing here.

Views carry person ids; `names` (id → display name) lets the front show names. Cards show people
as bold text, never as mentions (see `bot.teams.cards`).

Two action results carry only an id, because what they announce is loaded first: the front renders
`MeetingLogDue` with `cards.meeting_log(store.meeting_log(...))` (`MeetingLog` is registered) and
`ActionAssigned` with `cards.action_assigned(action, assigned_by=…)`. `LOADED` names them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.teams import cards
from bot.teams.card_kit import Names, plain_names
from storage.rules.agenda import MeetingLog
from storage.views import cycle_actions
from storage.views.agenda import ActionReminder, AgendaPost
from storage.views.agenda_actions import AgendaDue
from storage.views.cycles import (
    CheckinCard,
    CycleStatus,
    DeliveryFailures,
    ReflectionPrompt,
    RoundSummary,
    SupportCard,
)
from storage.views.digest import DigestSummary, UploadFailed
from storage.views.digest_actions import DigestOutcome, DigestPart
from storage.views.feedback import FeedbackPrompt
from storage.views.feedback_actions import FeedbackForm, FeedbackResults, FeedbackSaved
from storage.views.meeting_actions import ActionAssigned, MeetingLogDue
from storage.views.norms import NormsChanged
from storage.views.privacy import PrivacyPage
from storage.views.team_actions import MembersChanged, SetupSaved, ShareNamesChanged

Card = dict[str, Any]
Renderer = Callable[..., tuple[str, Card]]

RENDERERS: dict[type, Renderer] = {
    # the messages the core sends (`View` subclasses)
    CheckinCard: cards.checkin,
    RoundSummary: cards.round_summary,
    DeliveryFailures: cards.delivery_failures,
    SupportCard: cards.support_request,
    ReflectionPrompt: cards.reflection_prompt,
    CycleStatus: cards.cycle_status,
    AgendaPost: cards.agenda_post,
    ActionReminder: cards.action_reminder,
    FeedbackPrompt: cards.feedback_prompt,
    DigestSummary: cards.digest_summary,
    UploadFailed: cards.upload_failed,
    NormsChanged: cards.norms_changed,
    # what the actions tell people (`storage/views/*_actions.py`, `privacy.py`)
    cycle_actions.CycleStarted: cards.cycle_started,
    cycle_actions.CycleNote: cards.cycle_note,
    cycle_actions.ReflectionPrompt: cards.reflection_prompt,
    cycle_actions.ReflectionSaved: cards.reflection_saved,
    SetupSaved: cards.setup_saved,
    ShareNamesChanged: cards.share_names_changed,
    MembersChanged: cards.members_changed,
    MeetingLog: cards.meeting_log,
    FeedbackForm: lambda view, names=plain_names: cards.feedback_form(view),
    FeedbackSaved: cards.feedback_saved,
    FeedbackResults: cards.feedback_results,
    PrivacyPage: cards.privacy_page,
    DigestPart: cards.digest_part,
    DigestOutcome: cards.digest_outcome,
}

# Results that name a record the front loads before rendering: the type it loads, rendered by cards.
LOADED: dict[type, str] = {
    MeetingLogDue: "cards.meeting_log(MeetingLog)",
    ActionAssigned: "cards.action_assigned(ActionView, assigned_by=...)",
    AgendaDue: "cards.agenda(AgendaPost of the meeting's snapshot)",
}


def render(view: object, *, names: Names = plain_names) -> tuple[str, Card]:
    """The (summary text, Adaptive Card) for `view`; TypeError for a type Teams has no renderer for."""
    renderer = RENDERERS.get(type(view))
    if renderer is None:
        raise TypeError(f"no Teams renderer for {type(view).__name__}")
    return renderer(view, names)


__all__ = ["LOADED", "RENDERERS", "render"]
