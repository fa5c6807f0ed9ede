"""`plcbot db upgrade|current|backup PATH`: the schema and consistent copies of the data."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.cli.common import (
    CliError,
    add_force,
    check_database_folder,
    check_new_file,
    export_file,
    open_database,
    settings_from,
)
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
    bk.add_argument("path", metavar="PATH", help="the copy's file name, in a folder that exists")
    add_force(bk, "PATH")
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


def _missing_sqlite_file(url: str) -> Path | None:
    """The SQLite file DATABASE_URL names when it is not there yet (opening it would create it)."""
    path = check_database_folder(url)
    return path if path is not None and not path.exists() else None


def current(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    heads = ",".join(migrate.head_revisions())
    missing = _missing_sqlite_file(settings.database_url)
    if missing is not None:  # looking must not create the file
        print(f"No database yet: {missing} does not exist; `plcbot db upgrade` would create it "
              f"at revision {heads}.")
        return 0
    db = open_database(settings, upgrade=False)
    now = migrate.current_revisions(db)
    if not now:
        print(f"The database is empty (no schema yet); `plcbot db upgrade` would create revision {heads}.")
    elif set(now) == set(migrate.head_revisions()):
        print(f"{','.join(now)} (up to date)")
    elif all(_known(rev) for rev in now):
        print(f"{','.join(now)} (behind: `plcbot db upgrade` would upgrade it to {heads})")
    else:
        print(f"{','.join(now)} (not a revision this version of plcbot knows; its newest is {heads}: "
              "the database was upgraded by a newer plcbot)")
    return 0


def _known(revision: str) -> bool:
    from alembic.script import ScriptDirectory

    try:
        return ScriptDirectory.from_config(migrate.alembic_config()).get_revision(revision) is not None
    except Exception:  # noqa: BLE001 - alembic raises several kinds for an unknown revision
        return False


def backup(args: argparse.Namespace) -> int:
    # Checked before the database is opened.
    target = check_new_file(args.path, flag="PATH", force=args.force, example="plcbot-backup.db")
    settings = settings_from(args)
    missing = _missing_sqlite_file(settings.database_url)
    if missing is not None:  # opening it would create an empty file, and back that up
        raise CliError(f"DATABASE_URL: the database file {missing} does not exist; nothing to back up.")
    db = open_database(settings, upgrade=False)
    try:
        with export_file(target, flag="PATH", force=args.force, nothing="no backup was written") as tmp_name:
            Path(tmp_name).unlink()  # the backup makes its own file under this unused name
            migrate.backup_to(db, Path(tmp_name))
    except migrate.BackupError as exc:
        raise CliError(f"backup: {exc}") from None
    print(f"Backed up the database to {target}")
    return 0
