"""`plcbot manifest [--http URL]`: print the Slack app manifest (no tokens needed)."""

from __future__ import annotations

import argparse

from bot import manifest
from bot.cli.common import CliError


def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("manifest", help="print the Slack app manifest (Socket Mode, or --http URL)")
    p.add_argument("--http", metavar="URL", help="public https URL of this bot, for HTTP mode")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.http is not None and not args.http.startswith("https://"):
        raise CliError("--http: Slack only sends requests to https:// URLs, e.g. https://plcbot.example.org")
    print(manifest.render(args.http), end="")
    return 0
