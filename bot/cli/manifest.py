"""`plcbot manifest [--http URL]`: print the Slack app manifest (no tokens needed)."""

from __future__ import annotations

import argparse
from urllib.parse import urlsplit

from bot import manifest
from bot.cli.common import CliError

EXAMPLE = "https://plcbot.example.org"


def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("manifest", help="print the Slack app manifest (Socket Mode, or --http URL)")
    p.add_argument("--http", metavar="URL", help=f"public https URL of this bot, for HTTP mode, e.g. {EXAMPLE}")
    p.set_defaults(func=run)


def check_http_url(raw: str) -> str:
    """The bot's public address as Slack will be given it, or a one-line CliError naming --http."""
    if not raw.startswith("https://"):
        raise CliError(f"--http: Slack only sends requests to https:// URLs, e.g. {EXAMPLE}")
    if any(c.isspace() or not c.isprintable() for c in raw):
        raise CliError(f"--http {raw!r}: a URL has no spaces; give the bot's public address, e.g. {EXAMPLE}")
    parts = urlsplit(raw)
    try:
        port = parts.port  # ValueError for a port that is not a number in range
    except ValueError:
        port = 0
    if port == 0 or parts.netloc.endswith(":"):
        raise CliError(f"--http {raw!r}: the port is not a number from 1 to 65535.")
    if "@" in parts.netloc:
        raise CliError(f"--http {raw!r}: give the address without a user name or password, e.g. {EXAMPLE}")
    host = parts.hostname or ""
    if not host or host.startswith((".", "-")) or ".." in host:
        raise CliError(f"--http {raw!r}: no host name; give the bot's public address, e.g. {EXAMPLE}")
    if parts.query or parts.fragment or "?" in raw or "#" in raw:
        raise CliError(f"--http {raw!r}: give the address without ?… or #…; Slack posts to "
                       "<URL>/slack/events.")
    return raw


def run(args: argparse.Namespace) -> int:
    url = check_http_url(args.http) if args.http is not None else None
    print(manifest.render(url), end="")
    return 0
