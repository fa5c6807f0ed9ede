"""`plcbot privacy purge`: retention now. PLACEHOLDER (helper B replaces this module)."""

from __future__ import annotations

import argparse


def add_purge(psub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    pass
