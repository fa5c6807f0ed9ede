"""`plcbot privacy …`: a person's data handed over or erased, and retention run now.

    plcbot privacy export U012ABCDEF --out maria.xlsx
    plcbot privacy forget U012ABCDEF            (dry run)   --apply to do it
    plcbot privacy purge                        (dry run)   --apply to do it
"""

from __future__ import annotations

import argparse

from bot.cli import retention


def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("privacy", help="a person's data: export it, forget them; run retention now")
    psub = p.add_subparsers(dest="privacy_command", metavar="ACTION")
    psub.required = True
    # PLACEHOLDER(helper A): `export` and `forget` are added here.
    retention.add_purge(psub)
