"""What the bot says, as plain data: one view model per thing shown (a check-in card, an agenda,
a digest summary, a support request, …).

The core builds these from the rules and the data; each chat front renders them natively (Slack:
Block Kit in `bot/render`; Teams: Adaptive Cards). They hold facts and the actions offered, never
markup, mentions or platform ids of buttons, so two fronts can each look their best.
"""

from __future__ import annotations

from dataclasses import dataclass


class View:
    """The base of every view model a front renders: each front keeps a renderer per subclass
    (Slack's in `bot.slack_views`), and a test fails when one has none."""

    __slots__ = ()


@dataclass(frozen=True)
class Offer:
    """An action a message offers, as the core names it: `name` says what it does
    ("answer_on_track", "follow_up", …), `value` the id it acts on. Each front picks its own
    words, button ids and look; `primary` marks the action a front may show first or emphasised."""

    name: str
    value: str
    primary: bool = False
