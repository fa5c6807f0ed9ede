"""PLACEHOLDER: `plcbot audit` (a helper replaces this module)."""

from __future__ import annotations

import argparse


def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    pass
