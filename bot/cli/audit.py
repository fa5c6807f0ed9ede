"""`plcbot audit`: the audit log, for a district's privacy officer.

    plcbot audit
    plcbot audit --since 2026-11-01 --school "Lincoln Elementary"
    plcbot audit --user U0123ABCD --limit 50

One line per entry, oldest first, times in UTC: when, school ("district" for district-wide
entries), who acted (a Slack id with the person's name, or "cli:<login>"), the action, what
it was done to, and the detail. `--user` finds the entries where the person acted or was
acted on. `--limit N` keeps the newest N (still oldest first). Entries are streamed from
the database, so a log of millions of rows prints without loading it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import UTC, date, datetime

from bot.cli.common import CliError, find_school, services_from
from storage import audit_log
from storage.audit_log import AuditRow

SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,31}$")
CLI_ACTOR = re.compile(r"^cli:\S{1,60}$")
HEADER = f"{'TIME (UTC)':<20}  {'SCHOOL':<24}  {'ACTOR':<32}  {'ACTION':<20}  {'TARGET':<28}  DETAIL"


def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("audit", help="the audit log: who changed roles, teams, norms, settings; exports, erasures")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="only entries from this day on (00:00 UTC)")
    p.add_argument("--user", metavar="SLACK_ID",
                   help="only entries where this person acted or was acted on (or cli:<login>)")
    p.add_argument("--school", metavar="NAME", help="only this school's entries (case and spacing ignored)")
    p.add_argument("--limit", metavar="N", help="only the newest N entries (still printed oldest first)")
    p.set_defaults(func=list_entries)


def _check(args: argparse.Namespace) -> tuple[datetime | None, str | None, int | None]:
    """Bad input is refused before the database is opened, each naming its argument."""
    since = None
    if args.since is not None:
        try:
            day = date.fromisoformat(args.since.strip())
        except ValueError:
            raise CliError(f"--since {args.since!r} is not a date; use YYYY-MM-DD, like 2026-11-01.") from None
        since = datetime(day.year, day.month, day.day, tzinfo=UTC)
    user = None
    if args.user is not None:
        user = args.user.strip()
        if SLACK_ID.match(user.upper()):
            user = user.upper()
        elif not CLI_ACTOR.match(user):
            raise CliError(f"--user {args.user!r} is not a Slack user id (like U0123ABCD) or cli:<login>.")
    limit = None
    if args.limit is not None:
        try:
            limit = int(args.limit)
        except ValueError:
            limit = 0
        if limit < 1:
            raise CliError(f"--limit {args.limit!r} must be a whole number of entries, 1 or more.")
    return since, user, limit


def _one_line(text: str | None, width: int | None = None) -> str:
    """Whatever a field holds (names were typed by people), on one line and at most `width` wide.

    Control characters go too: a team named with an escape sequence must not repaint or
    retitle the officer's terminal, or hide the lines around it.
    """
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in (text or "")).split())
    if width is not None and len(flat) > width:
        flat = flat[: width - 1] + "…"
    return flat


def format_row(row: AuditRow, team_names: dict[int, str]) -> str:
    at = row.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    actor = row.actor if not row.actor_name else f"{row.actor} ({row.actor_name})"
    target = row.target
    kind, _, ref = target.partition(":")
    if kind == "team" and ref.isdigit() and int(ref) in team_names:
        target = f"{target} ({team_names[int(ref)]})"
    return (f"{at:<20}  {_one_line(row.school or 'district', 24):<24}  {_one_line(actor, 32):<32}  "
            f"{_one_line(row.action, 20):<20}  {_one_line(target, 28):<28}  {_one_line(row.detail)}")


def list_entries(args: argparse.Namespace) -> int:
    since, user, limit = _check(args)
    services = services_from(args)
    count = 0
    with services.db.read() as session:
        school_ids = None
        if args.school is not None:  # `--school ""` is refused, never read as every school
            school_ids = frozenset({find_school(session, args.school).id or 0})
        teams = audit_log.team_names(session, school_ids=school_ids)
        try:
            for row in audit_log.entries(session, since=since, school_ids=school_ids, user=user, limit=limit):
                if count == 0:
                    print(HEADER)
                print(format_row(row, teams))
                count += 1
            sys.stdout.flush()
        except BrokenPipeError:  # `plcbot audit | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    if count == 0:
        print("No audit entries match" + _filters(args) + ".")
    else:
        print(f"{count} entr{'y' if count == 1 else 'ies'}" + _filters(args) + ".", file=sys.stderr)
    return 0


def _filters(args: argparse.Namespace) -> str:
    parts = [f"{flag} {value}" for flag, value in (("--since", args.since), ("--user", args.user),
                                                    ("--school", args.school), ("--limit", args.limit)) if value]
    return f" ({', '.join(parts)})" if parts else ""
