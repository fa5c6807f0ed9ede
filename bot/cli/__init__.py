"""`plcbot …`: the district admin's command line.

Each group of commands lives in its own module with `add(subparsers)`; a command function
takes the parsed arguments and returns an exit status. Problems the operator can fix are
raised as `CliError` or `SettingError` and printed as one line (exit status 2), never as a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from bot.cli.common import CliError
from bot.settings import SettingError

MODULES = [
    "bot.cli.run",
    "bot.cli.db",
    "bot.cli.manifest",
    "bot.cli.jobs",
    "bot.cli.roster",
    "bot.cli.calendar",
    "bot.cli.digest",
    "bot.cli.privacy",
    "bot.cli.year",
    "bot.cli.audit",
    "bot.cli.demo",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plcbot",
        description="plcbot: a Slack bot for teacher Professional Learning Communities.",
    )
    parser.add_argument("--env-file", default=".env", help="settings file to read (default: .env)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in MODULES:
        importlib.import_module(name).add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.func(args)
    except SettingError as exc:
        print(f"plcbot: setting {exc}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"plcbot: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
