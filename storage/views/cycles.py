"""What learning cycles and check-ins say: the check-in card (its reminder too), the round's
summary for the channel, the delivery-failures notice, the support request and the reflection prompt."""

from __future__ import annotations

from dataclasses import dataclass

from storage.rules.cycles import RoundSummary as RoundFigures
from storage.views import Offer, View

# What a check-in card offers (Offer.name), in the order a front shows them.
ANSWERS = ("on_track", "some_progress", "stuck")
DETAILS = "details"
CHANGE = "change"
FOLLOW_UP = "follow_up"
RESOLVE = "resolve"
REFLECT = "reflect"


def answer_offer(progress: str) -> str:
    """The name of the offer that answers the check-in with `progress`."""
    return f"answer_{progress}"


@dataclass(frozen=True)
class CheckinCard(View):
    """One teacher's check-in message: the question, or the answer given. With `reminder`, the
    one reminder of an unanswered check-in."""

    checkin_id: int
    team_name: str
    title: str
    goal: str
    strategy: str
    metric_name: str
    metric_unit: str
    week: int
    weeks: int
    progress: str | None = None
    value: float | None = None
    evidence: str | None = None
    support: str | None = None
    support_state: str | None = None  # open | following_up | resolved, once requested
    facilitators: tuple[str, ...] = ()  # names of who will see a support request
    closed: bool = False
    reminder: bool = False

    def answered(self, *, changing: bool = False) -> bool:
        """The card shows the answer given (not the question); `changing`: the person asked to change it."""
        return self.progress is not None and not changing

    def offered(self, *, changing: bool = False) -> tuple[Offer, ...]:
        """The question offers the answers and details; an answer, while open, a change and details."""
        value = str(self.checkin_id)
        if not self.answered(changing=changing):
            return (*(Offer(answer_offer(p), value, primary=p == "on_track") for p in ANSWERS),
                    Offer(DETAILS, value))
        if self.closed:
            return ()
        return (Offer(CHANGE, value), Offer(DETAILS, value))


@dataclass(frozen=True)
class RoundSummary(View):
    """The channel's summary when a week's check-in window closes: team figures, never a name."""

    team_name: str
    title: str
    metric_name: str
    metric_unit: str
    baseline: float
    target: float
    summary: RoundFigures
    weeks: int
    support_count: int


@dataclass(frozen=True)
class DeliveryFailures(View):
    """To a facilitator: whose check-in could not be delivered, and the platform's reason code."""

    team_name: str
    week: int
    failed: tuple[tuple[str, str], ...]  # (person, reason)


@dataclass(frozen=True)
class SupportCard(View):
    """A facilitator's copy of a teacher's support request, with its state."""

    request_id: int
    teacher_id: str
    teacher_name: str
    team_name: str
    week: int
    progress: str | None
    evidence: str | None
    support: str | None
    state: str  # open | following_up | resolved
    follower: str | None = None

    def offered(self) -> tuple[Offer, ...]:
        value = str(self.request_id)
        if self.state == "open":
            return (Offer(FOLLOW_UP, value, primary=True), Offer(RESOLVE, value))
        if self.state == "following_up":
            return (Offer(RESOLVE, value, primary=True),)
        return ()


@dataclass(frozen=True)
class ReflectionPrompt(View):
    """The team's channel, in the cycle's last week: time to reflect, and the form to do it."""

    cycle_id: int
    title: str
    team_name: str
    weeks: int

    def offered(self) -> tuple[Offer, ...]:
        return (Offer(REFLECT, str(self.cycle_id), primary=True),)
