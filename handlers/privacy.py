"""PLACEHOLDER: `/plc privacy` (a helper replaces this module)."""

from __future__ import annotations

from typing import Any


def register(app: Any, services: Any, wiring: Any) -> None:
    pass
