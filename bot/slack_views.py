"""Slack's renderer of the core's view models (`storage.views`): one Block Kit builder per view type.

`render(view)` gives the `Rendered` message the Slack transport sends (fallback text and blocks).
A view type without a renderer here is an error, and `tests/test_slack_views.py` fails for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.render import agenda, cycles, digest, feedback
from scheduling.transport import Rendered
from storage.views import View
from storage.views.agenda import ActionReminder, AgendaPost
from storage.views.cycles import (
    CheckinCard,
    CycleStatus,
    DeliveryFailures,
    ReflectionPrompt,
    RoundSummary,
    SupportCard,
)
from storage.views.digest import DigestSummary, UploadFailed
from storage.views.digest_actions import DigestPart
from storage.views.feedback import FeedbackPrompt
from storage.views.norms import NormsChanged

Renderer = Callable[[Any], tuple[str, Any]]

RENDERERS: dict[type[View], Renderer] = {
    CheckinCard: cycles.checkin_message,
    RoundSummary: cycles.round_summary,
    DeliveryFailures: cycles.delivery_failures,
    SupportCard: cycles.support_message,
    ReflectionPrompt: cycles.reflection_message,
    CycleStatus: cycles.cycle_status,
    AgendaPost: agenda.agenda_post,
    ActionReminder: agenda.action_reminder,
    FeedbackPrompt: feedback.feedback_prompt,
    DigestSummary: digest.digest_summary,
    DigestPart: digest.digest_part,
    UploadFailed: digest.upload_failed,
    NormsChanged: agenda.norms_changed,
}


def render(view: object) -> Rendered:
    """The Block Kit message for `view`; TypeError for a type Slack has no renderer for."""
    renderer = RENDERERS.get(type(view))  # type: ignore[arg-type]
    if renderer is None:
        raise TypeError(f"no Slack renderer for {type(view).__name__}")
    text, blocks = renderer(view)
    return Rendered(text, blocks)
