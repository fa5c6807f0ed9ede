"""`plcbot roster import FILE [--apply] [--sync]` and `plcbot roster export FILE.xlsx`.

Import checks the file first, without Slack or a token: every row with a bad cell (an empty
school, an unknown role, a member without a team, something that is not an e-mail address or a
Slack id, a bad meeting day or time) is reported with its row number, and nothing else happens.
Then it asks Slack (one paged users.list for everyone's e-mail, one paged conversations.list for
channels), plans the whole file and reports every row Slack or the stored teams make bad. Only a
file without bad rows is applied, and then in one transaction: half a roster is never stored.

Export writes through a temporary file beside FILE.xlsx; a file already there is replaced only
with --force, and the folder must exist.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.cli.common import (
    CliError,
    Progress,
    add_force,
    check_out_file,
    cli_actor,
    export_file,
    services_from,
    settings_from,
)
from storage import roster as roster_store
from storage.rules.roster import Directory, Plan, SlackChannel, canonical, check_rows, plan_import, summary
from storage.teams import audit

PAGE = 200


def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("roster", help="import or export the PLC roster (schools, teams, people, roles)")
    rsub = p.add_subparsers(dest="roster_command", metavar="ACTION")
    rsub.required = True
    imp = rsub.add_parser("import", help="check a .xlsx/.csv roster and (with --apply) store it")
    imp.add_argument("file", type=Path, metavar="FILE", help="the roster, .xlsx or UTF-8 .csv")
    imp.add_argument("--apply", action="store_true", help="write the changes (default: a dry run)")
    imp.add_argument("--sync", action="store_true",
                     help="also remove people from the file's schools who are no longer listed")
    imp.add_argument("--verbose", "-v", action="store_true", help="list every change, not the first 20")
    imp.set_defaults(func=import_roster)
    exp = rsub.add_parser("export", help="write the roster to a .xlsx file in the import format")
    exp.add_argument("file", metavar="FILE.xlsx", help="where to write it (in a folder that exists)")
    add_force(exp, "FILE.xlsx")
    exp.set_defaults(func=export_roster)


def _paged(call: Any, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a cursor-paged Web API method (Slack: follow next_cursor until it is empty)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        response = call(limit=PAGE if key == "members" else 1000, cursor=cursor, **params)
        items.extend(response.get(key) or [])
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            return items


@contextmanager
def _quiet(names: tuple[str, ...] = ("slack_sdk", "plcbot.slack")) -> Iterator[None]:
    """The Slack client's own log lines about a failed call are kept off the terminal: the
    command says what went wrong in one line (LOG_LEVEL=DEBUG still shows them)."""
    loggers = [logging.getLogger(n) for n in names]
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        yield
        return
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, saved, strict=True):
            lg.setLevel(level)


def fetch_directory(slack: WebClient, *, channels: bool, api_url: str = "its API URL") -> Directory:
    """Everyone in the workspace, and (if the file names channels) every channel the bot can see."""
    try:
        with _quiet():
            users = _paged(slack.users_list, "members")
            found = (_paged(slack.conversations_list, "channels", types="public_channel,private_channel")
                     if channels else [])
    except SlackApiError as exc:
        error = exc.response.get("error", "unknown_error")
        hint = {"missing_scope": " (the app needs users:read, users:read.email and channels:read; "
                                 "reinstall it with `plcbot manifest`)",
                "invalid_auth": " (check SLACK_BOT_TOKEN)", "not_authed": " (set SLACK_BOT_TOKEN)"}
        raise CliError(f"Slack refused to list users/channels: {error}{hint.get(error, '')}") from None
    except OSError as exc:
        raise CliError(f"SLACK_API_URL: cannot reach Slack at {api_url} ({type(exc).__name__}); check the "
                       "network or the URL. Nothing was imported.") from None
    people = {str(u["id"]): roster_store.directory_person(u) for u in users}
    chans = {
        str(c["id"]): SlackChannel(str(c["id"]), str(c.get("name") or c["id"]), bool(c.get("is_member")),
                                   bool(c.get("is_archived")))
        for c in found
    }
    return Directory(people=people, channels=chans)


def import_roster(args: argparse.Namespace) -> int:
    path: Path = args.file
    if path.is_dir():
        raise CliError(f"FILE {str(path)!r} is a folder; give the roster's .xlsx or .csv file.")
    if not path.is_file():
        raise CliError(f"{path}: no such file")
    try:
        roster = roster_store.read_roster(path)
    except roster_store.RosterFileError as exc:
        for error in exc.errors:
            print(f"{path.name} {error}" if error.row else f"{error.reason}", file=sys.stderr)
        raise CliError(f"{path.name}: nothing was imported; fix the file and run the import again") from None
    # Each row on its own first: a bad cell needs neither Slack nor a token to be reported.
    bad_cells = check_rows(roster.rows)
    if bad_cells:
        for error in bad_cells:
            print(str(error), file=sys.stderr)
        raise CliError(f"{len({e.row for e in bad_cells})} bad row(s) in {path.name}: nothing was imported. "
                       "Fix them and run the import again.")
    if not settings_from(args).bot_token:
        raise CliError("SLACK_BOT_TOKEN is not set: the import looks people up in Slack by e-mail. Copy the "
                       "Bot User OAuth Token (xoxb-…) into .env or the environment; the file itself has no bad rows.")
    services = services_from(args)
    settings = services.settings
    # Slack first, outside any transaction: a slow users.list must not hold the database lock.
    directory = fetch_directory(services.slack, channels=any(r.get("channel") for _, r in roster.rows),
                                api_url=settings.slack_api_url)
    progress = Progress(len(roster.rows), "checking")
    session_of = services.db.session if args.apply else services.db.read
    with session_of() as session:
        existing, school_names, team_names = roster_store.snapshot(session, directory.people)
        plan = plan_import(roster.rows, directory, existing, default_timezone=services.settings.timezone,
                           sync=args.sync, progress=progress)
        progress.close()
        _report(plan, directory, school_names, team_names, verbose=args.verbose)
        if not plan.ok:
            raise CliError(f"{len({e.row for e in plan.errors})} bad row(s) in {path.name}: nothing was imported. "
                           "Fix them and run the import again.")
        if not args.apply:
            print("Dry run: nothing was changed. Run again with --apply to make these changes."
                  if plan.has_changes else "Dry run: the database already matches the file.")
            return 0
        if plan.has_changes:
            actor = cli_actor()
            writing = Progress(len(plan.added) + len(plan.role_changes), "importing")
            roster_store.apply_plan(session, plan, directory.people, actor=actor, now=services.clock.now(),
                                    progress=writing)
            writing.close()
            audit(session, actor=actor, action="roster.import", target=path.name[:200],
                  detail=f"{len(plan.added)} added, {len(plan.role_changes)} role changes, "
                         f"{len(plan.removed)} removed, {len(plan.new_teams)} new teams")
    print("Imported." if plan.has_changes else "Nothing to change.")
    return 0


def _report(plan: Plan, directory: Directory, school_names: dict[str, str],
            team_names: dict[tuple[str, str], str], *, verbose: bool) -> None:
    for error in plan.errors:
        print(str(error), file=sys.stderr)
    if not plan.ok:
        return
    names = {uid: p.name for uid, p in directory.people.items()}
    schools = {**school_names, **{k: n for k, (n, _) in plan.new_schools.items()}}
    teams = {**team_names, **{(t.school, canonical(t.name)): t.name for t in plan.new_teams}}
    for line in summary(plan, names=names, teams=teams, schools=schools, limit=10**9 if verbose else 20):
        print(line)


def export_roster(args: argparse.Namespace) -> int:
    path = check_out_file(args.file, flag="FILE.xlsx", force=args.force)  # before the database is opened
    services = services_from(args)
    with services.db.read() as session:
        rows = roster_store.export_rows(session)
    with export_file(path, flag="FILE.xlsx", force=args.force) as tmp_name:
        roster_store.write_xlsx(Path(tmp_name), rows)
    with services.db.session() as session:
        audit(session, actor=cli_actor(), action="roster.export", target=path.name[:200],
              detail=f"{len(rows)} rows")
    print(f"Wrote {len(rows)} rows to {path}")
    return 0
