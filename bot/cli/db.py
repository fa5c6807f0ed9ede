"""`plcbot db upgrade|current|backup PATH`: the schema and consistent copies of the data."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.cli.common import CliError, open_database, settings_from
from storage import migrate


def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("db", help="database schema and backups")
    dbsub = p.add_subparsers(dest="db_command", metavar="ACTION")
    dbsub.required = True
    up = dbsub.add_parser("upgrade", help="create or upgrade the schema (backs up SQLite first)")
    up.set_defaults(func=upgrade)
    cur = dbsub.add_parser("current", help="show the schema revision")
    cur.set_defaults(func=current)
    bk = dbsub.add_parser("backup", help="write a consistent copy of the database, safe while the bot runs")
    bk.add_argument("path", type=Path)
    bk.set_defaults(func=backup)


def upgrade(args: argparse.Namespace) -> int:
    db = open_database(settings_from(args), upgrade=False)
    try:
        result = migrate.upgrade(db)
    except Exception as exc:
        raise CliError(f"upgrade failed, nothing was changed: {exc}", status=1) from None
    if result.backup:
        print(f"Backed up the database to {result.backup}")
    if result.changed:
        print(f"Upgraded the schema from {','.join(result.before) or 'empty'} to {','.join(result.after)}")
    else:
        print(f"The schema is up to date ({','.join(result.after)})")
    return 0


def current(args: argparse.Namespace) -> int:
    db = open_database(settings_from(args), upgrade=False)
    now, heads = migrate.current_revisions(db), migrate.head_revisions()
    state = "up to date" if set(now) == set(heads) else f"behind (newest: {','.join(heads)})"
    print(f"{','.join(now) or 'empty'} ({state})")
    return 0


def backup(args: argparse.Namespace) -> int:
    db = open_database(settings_from(args), upgrade=False)
    try:
        path = migrate.backup_to(db, args.path)
    except migrate.BackupError as exc:
        raise CliError(f"backup: {exc}") from None
    print(f"Backed up the database to {path}")
    return 0
