"""The App Home tab: each person's PLC dashboard.

Features add sections (functions that return blocks for one person); this module puts them
together within the Home view's 100-block limit, and publishes on `app_home_opened` and
whenever a feature asks for a refresh after a change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slack_bolt import App

from bot.render import blocks as bk
from storage.people import load_actor
from storage.rules.roles import Actor

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring

log = logging.getLogger("plcbot.home")

Section = Callable[["Services", Actor], list[dict[str, Any]]]


@dataclass
class HomeBoard:
    sections: list[tuple[str, Section]] = field(default_factory=list)

    def add(self, name: str, section: Section) -> None:
        self.sections.append((name, section))

    def build(self, services: Services, actor: Actor, *, notice: str | None = None) -> dict[str, Any]:
        """The Home view: every section in turn, or the welcome; `notice` is a line on top
        saying what a Home button just did (the tab has no other place to answer)."""
        blocks: list[dict[str, Any]] = []
        for name, section in self.sections:
            try:
                blocks.extend(section(services, actor))
            except Exception:
                log.exception("Home section %s failed", name)
        if not blocks:
            blocks = welcome_blocks(actor)
        if notice:
            blocks = [bk.section(notice), bk.divider(), *blocks]
        return {"type": "home", "blocks": bk.fit(blocks, bk.VIEW_BLOCKS_MAX)}


def welcome_blocks(actor: Actor) -> list[dict[str, Any]]:
    """Pure builder: what someone in no team sees, and how to start."""
    out = [
        bk.header("Welcome to plcbot"),
        bk.section(
            "plcbot runs your Professional Learning Community in Slack: the team's norms and "
            "agendas, learning cycles with a measurable goal, one-click weekly check-ins, "
            "meeting feedback and a weekly digest for your principal."
        ),
    ]
    if actor.highest is None:
        out.append(
            bk.section(
                "*You are not in a PLC team yet.*\n"
                "• Facilitator? Invite me to your team's channel and type `/plc setup` there.\n"
                "• Teacher? Your facilitator adds you; your check-ins will arrive here.\n"
                "• Type `/plc help` anywhere to see what you can do."
            )
        )
    return out


def publish_home(services: Services, board: HomeBoard, user_id: str, *, notice: str | None = None) -> None:
    """Build and publish one person's Home tab (also called after changes that affect it)."""
    with services.db.read() as session:
        actor = load_actor(session, user_id, admins=services.settings.admins)
    view = board.build(services, actor, notice=notice)
    services.slack.views_publish(user_id=user_id, view=view)


def register(app: App, services: Services, wiring: Wiring) -> None:
    def on_home_opened(event: dict[str, Any]) -> None:
        """Publish the dashboard when someone opens the Home tab."""
        if event.get("tab", "home") != "home":
            return
        try:
            publish_home(services, wiring.home, event["user"])
        except Exception:
            log.exception("Failed to publish the Home tab")

    app.event("app_home_opened")(on_home_opened)
