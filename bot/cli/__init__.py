"""`plcbot …`: the district admin's command line.

Each group of commands lives in its own module with `add(subparsers)`; a command function
takes the parsed arguments and returns an exit status. Problems the operator can fix are
raised as `CliError` or `SettingError` and printed as one line (exit status 2), never as a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.cli.common import CliError
from bot.settings import SettingError

MODULES = [
    "bot.cli.run",
    "bot.cli.db",
    "bot.cli.manifest",
    "bot.cli.teams",
    "bot.cli.jobs",
    "bot.cli.roster",
    "bot.cli.calendar",
    "bot.cli.digest",
    "bot.cli.privacy",
    "bot.cli.people",
    "bot.cli.year",
    "bot.cli.audit",
    "bot.cli.demo",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plcbot",
        description="plcbot: a Slack bot for teacher Professional Learning Communities.",
    )
    parser.add_argument("--env-file", metavar="PATH",
                        help="settings file to read; it must exist (default: .env, when there is one; "
                             "/dev/null: none)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in MODULES:
        importlib.import_module(name).add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.env_file is None:
        args.env_file = ".env"  # the default may be absent; a file named on purpose may not
    elif not Path(args.env_file).exists() or Path(args.env_file).is_dir():
        problem = "is a folder, not a file" if Path(args.env_file).is_dir() else "no such file"
        print(f"plcbot: --env-file {args.env_file!r}: {problem}; nothing was done.", file=sys.stderr)
        return 2
    # A command points the root logger at this process's stderr; called in-process (tests, a
    # script), the caller's logging is put back afterwards.
    root, ours = logging.getLogger(), logging.getLogger("plcbot")
    handlers, level, our_level = root.handlers[:], root.level, ours.level
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
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        ours.setLevel(our_level)  # `demo` quiets the bot's own lines for its transcript
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
