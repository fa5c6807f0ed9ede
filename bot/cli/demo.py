"""`plcbot demo`: see the whole bot work, on this machine, before creating a Slack app.

Needs no Slack workspace, no tokens, no `.env` and no network: the bot runs against the Slack
double that ships in the package, on a fresh SQLite file, with time played fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bot.cli.common import CliError, check_folder


def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="play a four-week PLC cycle against a pretend Slack (no tokens needed)")
    p.add_argument("--db", type=_path, metavar="PATH", help="the SQLite file to create (default: in --out)")
    p.add_argument("--out", type=_path, metavar="DIR",
                   help="folder for the database, the roster file and the workbook (default: a new temp folder); "
                        "run again, it replaces the files its earlier run wrote there")
    p.add_argument("--teams", action="store_true",
                   help="play the same cycle on a pretend Microsoft Teams (the Teams front) instead of Slack")
    p.add_argument("--verbose", "-v", action="store_true", help="also show the bot's own log lines")
    p.set_defaults(func=demo)


def demo(args: argparse.Namespace) -> int:
    from bot.demo import DemoFolderError, run_demo

    _check_folders(args)
    # The transcript is the demo's output; the bot's own log lines only when asked for.
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("plcbot").setLevel(logging.ERROR)
    try:
        if getattr(args, "teams", False):
            from bot.demo_teams import run_demo_teams

            result = run_demo_teams(out=sys.stdout, workdir=args.out, db_path=args.db)
        else:
            result = run_demo(out=sys.stdout, workdir=args.out, db_path=args.db)
    except DemoFolderError as exc:  # a file there is not the demo's own: nothing was changed
        raise CliError(f"--out {args.out}: {exc}") from None
    return 1 if result.skipped or result.workbook is None else 0


def _path(value: str) -> Path:
    """A path that is not empty: `--out ""` (an unset shell variable) is not the current folder."""
    if not value.strip():
        raise argparse.ArgumentTypeError("the name is empty")
    return Path(value)


def _check_folders(args: argparse.Namespace) -> None:
    """--db must be a new file in a folder that exists; --out a folder, made (one level only) inside
    a folder that exists. A bad path is one line naming the option, before anything starts."""
    if args.db is not None:
        if args.db.is_dir():
            raise CliError(f"--db {str(args.db)!r} is a folder; give a new file name in it, like "
                           f"{str(args.db / 'plcbot-demo.db')!r}.")
        if args.db.exists():
            raise CliError(f"--db {args.db}: the file exists; the demo needs a new database file")
        check_folder(args.db.parent, flag="--db")
    if args.out is None:
        return
    if args.out.exists() and not args.out.is_dir():
        raise CliError(f"--out: {str(args.out)!r} is a file, not a folder.")
    if not args.out.is_dir():
        check_folder(args.out.parent, flag="--out")
        try:
            args.out.mkdir()
        except OSError as exc:  # /proc/x: the parent looks writable but is not a real folder
            raise CliError(f"--out: cannot make the folder {str(args.out)!r} "
                           f"({exc.strerror or type(exc).__name__}).") from None
    check_folder(args.out, flag="--out")
