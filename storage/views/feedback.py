"""What meeting feedback says: the prompt posted in the team's place when a meeting ends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.views import Offer, View

GIVE_FEEDBACK = "give_feedback"


@dataclass(frozen=True)
class FeedbackPrompt(View):
    """"How was today's meeting?": the meeting (title, start), until when answers are taken, and the
    team's time zone for showing those times."""

    meeting_id: int
    title: str
    starts_at: datetime  # aware
    closes_at: datetime  # aware
    timezone: str  # the team's, an IANA name

    def offered(self) -> tuple[Offer, ...]:
        return (Offer(GIVE_FEEDBACK, str(self.meeting_id), primary=True),)
