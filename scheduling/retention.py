"""PLACEHOLDER: the daily retention job (a helper replaces this module)."""

from __future__ import annotations

from typing import Any


def register(registry: Any) -> None:
    pass
