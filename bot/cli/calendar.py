"""`plcbot calendar`: a school's breaks, when none of its teams get check-ins.

    plcbot calendar add-break --school "Lincoln Elementary" 2026-12-21 2027-01-01 [--label "Winter break"]
    plcbot calendar list [--school NAME]
    plcbot calendar remove-break --school NAME ID

Safe while the bot runs: the scheduler reads breaks when each round falls due.
"""

from __future__ import annotations

import argparse
from datetime import date
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from bot.cli.common import CliError, cli_actor, find_school, services_from
from storage import cycles as store
from storage.models import SchoolBreak
from storage.rules import cycles as rules
from storage.teams import all_schools


def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("calendar", help="school breaks: no check-ins for the school's teams")
    csub = p.add_subparsers(dest="calendar_command", metavar="ACTION")
    csub.required = True
    a = csub.add_parser("add-break", help="add a break (first and last day, inclusive)")
    a.add_argument("--school", required=True, help="the school's name, as in plcbot")
    a.add_argument("starts_on", help="first day, YYYY-MM-DD")
    a.add_argument("ends_on", help="last day, YYYY-MM-DD")
    a.add_argument("--label", default="", help="what the break is, e.g. 'Winter break'")
    a.set_defaults(func=add_break)
    ls = csub.add_parser("list", help="list breaks")
    ls.add_argument("--school", help="only this school")
    ls.set_defaults(func=list_breaks)
    r = csub.add_parser("remove-break", help="remove a break by its id (from `plcbot calendar list`)")
    r.add_argument("--school", required=True)
    r.add_argument("break_id", type=int)
    r.set_defaults(func=remove_break)


def _day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise CliError(f"{what} {text!r} is not a date; use YYYY-MM-DD, like 2026-12-21.") from None


def add_break(args: argparse.Namespace) -> int:
    start, end = _day(args.starts_on, "FROM"), _day(args.ends_on, "TO")  # refused before the database opens
    if len(args.label) > 80:
        raise CliError("--label must be at most 80 characters.")
    services = services_from(args)
    with services.db.session() as session:
        school = find_school(session, args.school)
        today = services.clock.now().astimezone(ZoneInfo(school.timezone)).date()
        problem = rules.validate_break(start, end, today=today)
        if problem:
            raise CliError(problem)
        row, created = store.add_break(session, school_id=school.id or 0, starts_on=start, ends_on=end,
                                       label=args.label, created_by=cli_actor(),
                                       now=services.clock.now())
    verb = "Added" if created else "Already there:"
    print(f"{verb} break {row.id} for {school.name}: {start:%a %Y-%m-%d} to {end:%a %Y-%m-%d}"
          + (f" ({row.label})" if row.label else "") + ". No check-ins for its teams on those days.")
    return 0


def list_breaks(args: argparse.Namespace) -> int:
    services = services_from(args)
    with services.db.read() as session:
        schools = [find_school(session, args.school)] if args.school is not None else all_schools(session)
        by_id = {s.id: s for s in schools}
        found = session.exec(select(SchoolBreak).where(col(SchoolBreak.school_id).in_(list(by_id)))
                             .order_by(col(SchoolBreak.school_id), col(SchoolBreak.starts_on))).all()
        rows = [(by_id[b.school_id], b) for b in found]  # one query, not one per school
    if not rows:
        print("No school breaks.")
        return 0
    print(f"{'ID':>5}  {'SCHOOL':<30} {'FROM':<12} {'TO':<12} LABEL")
    for school, b in rows:
        print(f"{b.id:>5}  {school.name[:30]:<30} {b.starts_on.isoformat():<12} {b.ends_on.isoformat():<12} {b.label}")
    return 0


def remove_break(args: argparse.Namespace) -> int:
    services = services_from(args)
    with services.db.session() as session:
        school = find_school(session, args.school)
        if not store.remove_break(session, school_id=school.id or 0, break_id=args.break_id,
                                  actor=cli_actor(), now=services.clock.now()):
            raise CliError(f"{school.name} has no break {args.break_id}; `plcbot calendar list` shows them.")
    print(f"Removed break {args.break_id} from {school.name}.")
    return 0
