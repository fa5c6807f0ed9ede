"""Registering every feature's Slack listeners on the Bolt app.

Add a feature by writing its module and listing it in `FEATURES`; it adds its `/plc`
subcommands to `wiring.router`, its Home tab sections to `wiring.home`, and its buttons,
modals and events to the Bolt app directly. Kept out of `handlers/__init__.py` so that
importing the core's actions (`handlers.core`) loads no Slack package.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from slack_bolt import App

from handlers import router as router_module
from handlers.home import HomeBoard
from handlers.router import Router

if TYPE_CHECKING:
    from bot.services import Services

FEATURES: list[str] = [
    "handlers.help",
    "handlers.home",
    "handlers.home_sections",
    "handlers.teams",
    "handlers.feedback",
    "handlers.norms",
    "handlers.agenda",
    "handlers.meetings",
    "handlers.actions",
    "handlers.cycles",
    "handlers.checkins",
    "handlers.away",
    "handlers.digest",
    "handlers.privacy",
    "handlers.audit",
]


@dataclass
class Wiring:
    router: Router = field(default_factory=Router)
    home: HomeBoard = field(default_factory=HomeBoard)


def register_all(app: App, services: Services, features: list[str] | None = None) -> Wiring:
    wiring = Wiring()
    for name in features if features is not None else FEATURES:
        importlib.import_module(name).register(app, services, wiring)
    router_module.register(app, services, wiring.router)
    return wiring
