"""`plcbot digest export`: a school's (or every school's) digest workbook, or a year's record.

    plcbot digest export --school "Lincoln Elementary" --week 2026-W47 --out lincoln.xlsx
    plcbot digest export --all --week 2026-W47 --out district-w47.xlsx
    plcbot digest export --all --from 2026-08-24 --to 2027-06-18 --out year.xlsx

The workbook is written to a temporary file beside `--out` and renamed when complete, so a
failure never leaves half a file under the real name. Every export is audited.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli.common import (
    CliError,
    Progress,
    add_force,
    check_out_file,
    cli_actor,
    export_file,
    find_school,
    services_from,
)
from scheduling.digest import write_range_workbook, write_week_workbook
from storage import digest as data
from storage.rules import digest as rules
from storage.teams import audit


def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("digest", help="the principal's digest workbook, for a week or a school year")
    dsub = p.add_subparsers(dest="digest_command", metavar="ACTION")
    dsub.required = True
    e = dsub.add_parser("export", help="write the digest workbook (.xlsx) for a week, or a year's record")
    which = e.add_mutually_exclusive_group(required=True)
    which.add_argument("--school", metavar="NAME", help="the school's name (case and spacing ignored)")
    which.add_argument("--all", action="store_true", help="every school, with a progress bar")
    e.add_argument("--week", metavar="YYYY-Www", help="an ISO week, e.g. 2026-W47")
    e.add_argument("--from", dest="first", metavar="DATE", help="first day of a range (YYYY-MM-DD), e.g. a school year")
    e.add_argument("--to", dest="last", metavar="DATE", help="last day of the range (YYYY-MM-DD)")
    e.add_argument("--out", required=True, metavar="FILE.xlsx",
                   help="where to write the workbook (in a folder that exists)")
    add_force(e, "FILE.xlsx")
    e.set_defaults(func=export)


def _check_args(args: argparse.Namespace) -> tuple[rules.IsoWeek | None, tuple | None, Path]:
    out = check_out_file(args.out, force=args.force)
    ranged = args.first is not None or args.last is not None
    if args.week and ranged:
        raise CliError("give either --week, or --from and --to, not both.")
    if not args.week and not ranged:
        raise CliError("say which week (--week 2026-W47) or which days (--from DATE --to DATE).")
    try:
        if args.week:
            try:
                return rules.parse_week(args.week), None, out
            except rules.WeekError as exc:  # name the option: "--week '2026-W99': …"
                raise CliError(str(exc) if str(exc).startswith("--week") else f"--week {exc}") from None
        if args.first is None or args.last is None:
            raise CliError("--from and --to go together: give both days of the range.")
        first = rules.parse_day(args.first, name="--from")
        last = rules.parse_day(args.last, name="--to")
    except rules.WeekError as exc:
        raise CliError(str(exc)) from None
    if last < first:
        raise CliError(f"--to {last} is before --from {first}.")
    if (last - first).days > 400:
        raise CliError("a range can cover at most about a school year (400 days).")
    return None, (first, last), out


def export(args: argparse.Namespace) -> int:
    week, days, out = _check_args(args)  # bad input is refused before the database is opened
    services = services_from(args)
    minimum = services.settings.min_group_size
    with services.db.read() as session:
        if args.school is not None:  # `--school ""` is refused, never read as every school
            school_ids: list[int] | None = [find_school(session, args.school).id or 0]
        else:
            school_ids = None
        if week is not None:
            scope = data.week_scope(session, week, school_ids=school_ids)
        else:
            assert days is not None
            scope = data.range_scope(session, days[0], days[1], school_ids=school_ids)
        if not scope.schools:
            raise CliError("there are no schools yet; nothing to export.")
        total = sum(data.counts(session, scope).values())
        progress = Progress(total, "Writing workbook") if args.all or days else None
        try:
            with export_file(out, force=args.force) as tmp_name:
                if week is not None:
                    digests = list(data.build_digests(session, week, school_ids=scope.school_ids,
                                                      min_group_size=minimum).values())
                    rows = write_week_workbook(session, digests, tmp_name, min_group_size=minimum,
                                               on_row=progress.advance if progress else None)
                    has_data = any(d.has_data for d in digests)
                else:
                    rows = write_range_workbook(session, scope, tmp_name, min_group_size=minimum,
                                                on_row=progress.advance if progress else None)
                    has_data = rows > 0
        finally:
            if progress:
                progress.close()
    what = f"week {week.label} ({week.span()})" if week else f"{days[0]} to {days[1]}"  # type: ignore[index]
    where = scope.schools[0].name if args.school is not None else f"{len(scope.schools)} schools"
    with services.db.session() as session:
        audit(session, actor=cli_actor(), action="digest export", target=where[:200],
              detail=f"{what} -> {out.name}", at=services.clock.now(),
              school_id=scope.schools[0].id if args.school is not None else None)  # --all: district-wide
    if has_data:
        print(f"Wrote {out}: {where}, {what}, {rows} rows.")
    else:
        print(f"Wrote {out}: no PLC activity was recorded at {where} for {what}; the workbook says so.")
    sys.stdout.flush()
    return 0
