"""`plcbot year`: close a school's year and start the next (and list the years recorded).

    plcbot year close --school "Lincoln Elementary" --on 2027-06-18 --out-dir /srv/plc/years
    plcbot year close --all
    plcbot year list [--school NAME]

For each school, `close`:
1. ends the teams' open (active or paused) cycles that began by the year's last day, the way
   `/plc cycle end` does: the summary (weekly points, response rates) is kept with the cycle's
   reflection, and its pending check-ins, reminders and reflection prompts are cancelled;
2. writes the year's workbook (the digest's year export, first to last day) to
   `--out-dir` through a temporary file renamed when complete, and prints its path (a workbook
   already there is replaced only with `--force`; without it the school is refused before step 1);
3. records the closed year (label, first and last day, when, by whom, the workbook) and opens
   the next one from the following day, with an audit entry "year.close" for the school.

Teams, members, norms and school settings carry over untouched. Nothing is posted in Slack.
The last day is `--on`, by default yesterday in the school's time zone (run it the day after
school ends, or give `--on` the last day). A year that is already closed is reported and left
alone, so running the command twice, or `--all` again after one school failed, is safe.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.cli.common import CliError, add_force, check_folder, cli_actor, find_school, replaced_when_done, services_from
from bot.services import Services
from scheduling import checkins as checkin_planner
from scheduling.digest import write_range_workbook
from storage import cycles as cycle_store
from storage import digest as data
from storage import school_years as years
from storage.models import School, SchoolYear
from storage.people import slack_ids
from storage.rules import digest as digest_rules
from storage.rules.school_year import ClosePlan
from storage.teams import all_schools


def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("year", help="close a school year (cycles ended, the year's workbook) and start the next")
    ysub = p.add_subparsers(dest="year_command", metavar="ACTION")
    ysub.required = True
    c = ysub.add_parser("close", help="end open cycles, write the year's workbook, start the next year")
    which = c.add_mutually_exclusive_group(required=True)
    which.add_argument("--school", metavar="NAME", help="the school's name (case and spacing ignored)")
    which.add_argument("--all", action="store_true", help="every school; one failing does not stop the others")
    c.add_argument("--on", metavar="YYYY-MM-DD",
                   help="the year's last day (default: yesterday in each school's time zone)")
    c.add_argument("--out-dir", default=".", metavar="DIR",
                   help="folder for the workbooks (must exist; default: the current folder)")
    add_force(c, "a school's workbook")
    c.set_defaults(func=close)
    ls = ysub.add_parser("list", help="the school years recorded, with their workbooks")
    ls.add_argument("--school", metavar="NAME", help="only this school")
    ls.set_defaults(func=list_years)


# ------------------------------------------------------------------------------------ close
@dataclass
class Outcome:
    school: str
    state: str  # closed | already | failed
    message: str


def close(args: argparse.Namespace) -> int:
    """Close one school's year (or every school's); exit 1 if any school failed."""
    on = _parse_on(args.on)
    out_dir = _check_out_dir(args.out_dir)  # bad input is refused before the database is opened
    services = services_from(args)
    actor = cli_actor()
    with services.db.read() as session:
        if args.school is not None:  # `--school ""` is refused, never read as --all
            targets = [find_school(session, args.school)]
        else:
            targets = all_schools(session)
            if not targets:
                raise CliError("--all: there are no schools yet; nothing to close.")
    outcomes: list[Outcome] = []
    for school in targets:
        try:
            outcomes.append(close_school(services, school, on=on, out_dir=out_dir, actor=actor,
                                         strict=args.school is not None, force=args.force))
        except CliError:
            raise  # one school named: its refusal is the command's (exit 2, nothing changed)
        except Exception as exc:  # noqa: BLE001 - with --all, one school's failure must not stop the rest
            # The traceback only at PLCBOT_LOG_LEVEL=DEBUG: the operator gets one line per school.
            services.log.debug("Closing the year of school %s failed", school.id, exc_info=True)
            first = str(exc).splitlines()[0][:200] if str(exc) else ""
            outcomes.append(Outcome(school.name, "failed", f"failed: {type(exc).__name__}{': ' if first else ''}"
                                                           f"{first}; its year was not recorded."))
        last = outcomes[-1]
        stream = sys.stderr if last.state == "failed" else sys.stdout
        print(f"{last.school}: {last.message}", file=stream)
        stream.flush()
    failed = [o for o in outcomes if o.state == "failed"]
    if len(outcomes) > 1:
        closed = sum(o.state == "closed" for o in outcomes)
        already = sum(o.state == "already" for o in outcomes)
        print(f"{closed} closed, {already} already closed, {len(failed)} failed.")
    if failed:
        print(f"plcbot: {len(failed)} of {len(outcomes)} schools failed: {', '.join(o.school for o in failed)}; "
              "fix the cause and run the command again (closed schools are left alone).", file=sys.stderr)
        return 1
    return 0


def close_school(services: Services, school: School, *, on: date | None, out_dir: Path, actor: str,
                 strict: bool = False, force: bool = False) -> Outcome:
    """Close one school's year; a refusal raises CliError when `strict`, else is a failed outcome."""
    school_id = school.id or 0
    today = services.clock.now().astimezone(ZoneInfo(school.timezone)).date()
    last_day = on or today - timedelta(days=1)
    default = services.settings.school_year_start
    with services.db.read() as session:
        plan = years.close_plan(session, school=school, on=last_day, today=today, default=default)
    if plan.action == "refuse":
        if strict:
            raise CliError(f"{school.name}: {plan.reason}; nothing changed.")
        return Outcome(school.name, "failed", f"refused: {plan.reason}; nothing changed.")
    if plan.action == "already" or plan.closing is None:
        return Outcome(school.name, "already", _already(plan))
    span = plan.closing
    target = (out_dir / workbook_name(school.name, span.label)).resolve()
    if (target.exists() or target.is_symlink()) and not force:  # before anything changes
        reason = (f"--out-dir: the workbook {str(target)!r} already exists; move it, choose another --out-dir, "
                  "or add --force to replace it; nothing changed.")
        if strict:
            raise CliError(f"{school.name}: {reason}")
        return Outcome(school.name, "failed", f"refused: {reason}")

    # 1. The year's open cycles end as with `/plc cycle end`: summary kept, pending work cancelled.
    now = services.clock.now()
    ended: list[int] = []
    with services.db.session() as session:
        for cycle_id in years.cycles_to_end(session, school_id=school_id, last_day=last_day):
            try:
                cycle_store.end_cycle(session, cycle_id=cycle_id, now=now, actor=actor)
            except cycle_store.CycleConflict:
                continue  # a facilitator ended it a moment ago (checked under its row lock, before any write)
            ended.append(cycle_id)
    for cycle_id in ended:
        checkin_planner.cancel_cycle_work(services, cycle_id)

    # 2. The year's workbook, complete under its real name or not at all.
    with services.db.read() as session:
        scope = data.range_scope(session, span.starts_on, last_day, school_ids=[school_id])
        rows = _write(session, scope, target, min_group_size=services.settings.min_group_size, force=force)

    # 3. The record, checked again under the school's lock (another close may have won).
    with services.db.session() as session:
        done, _closed, upcoming = years.record_close(
            session, school_id=school_id, on=last_day, today=today, default=default, now=services.clock.now(),
            closed_by=actor, workbook=str(target),
            detail=(f"{span.label} {span.starts_on}..{last_day}; {len(ended)} cycles ended; "
                    f"workbook {target.name}"))
        next_label = upcoming.label if upcoming is not None else ""
    if done.action == "refuse":  # the years changed under us (another close ran): say why, as a failure
        return Outcome(school.name, "failed", f"refused: {done.reason}; the workbook {target} was written, "
                                              "the year was not recorded.")
    if done.action != "close":
        return Outcome(school.name, "already", _already(done))
    cycles = f"ended {len(ended)} open cycle{'s' if len(ended) != 1 else ''} (summaries kept)"
    return Outcome(school.name, "closed",
                   f"closed {span.label} ({span.starts_on} to {last_day}); {cycles}; wrote {target} ({rows} rows); "
                   f"{next_label} began {last_day + timedelta(days=1)} with the same teams, members and norms.")


def _write(session: object, scope: data.Scope, target: Path, *, min_group_size: int, force: bool) -> int:
    with replaced_when_done(target, force=force) as tmp_name:
        return write_range_workbook(session, scope, tmp_name, min_group_size=min_group_size)


def _already(plan: ClosePlan) -> str:
    year = plan.closed
    if year is None:
        return "that year is already closed; nothing changed."
    when = f" on {year.closed_on}" if year.closed_on else ""
    who = f" by {year.closed_by}" if year.closed_by else ""
    book = f"; its workbook: {year.workbook}" if year.workbook else ""
    extra = f" ({plan.reason})" if plan.reason else ""
    return (f"{year.label} ({year.starts_on} to {year.ends_on}) was already closed{when}{who}{book}{extra}; "
            "nothing changed.")


def workbook_name(school: str, label: str) -> str:
    """'PLC year - Lincoln Elementary - 2026-27.xlsx': readable, and safe as a file name."""
    safe = re.sub(r"[^\w .,&()'-]+", " ", school).strip() or "school"
    return f"PLC year - {safe[:60]} - {label}.xlsx"


def _parse_on(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return digest_rules.parse_day(value, name="--on")
    except digest_rules.WeekError as exc:
        raise CliError(str(exc)) from None


def _check_out_dir(value: str) -> Path:
    if not value.strip():  # an unset shell variable: not "the current folder" by accident
        raise CliError("--out-dir: the folder's name is empty; give the folder, or leave --out-dir out "
                       "for the current one.")
    return check_folder(Path(value), flag="--out-dir")



# ------------------------------------------------------------------------------------ list
def list_years(args: argparse.Namespace) -> int:
    """Each school's recorded years: label, days, when and by whom closed, the workbook."""
    services = services_from(args)
    with services.db.read() as session:
        schools = [find_school(session, args.school)] if args.school is not None else all_schools(session)
        rows = years.all_years(session, school_ids=[s.id or 0 for s in schools])
        closers = slack_ids(session, [r.closed_by_id for r in rows])
    by_school: dict[int, list[SchoolYear]] = {}
    for row in rows:
        by_school.setdefault(row.school_id, []).append(row)
    for school in schools:
        mine = by_school.get(school.id or 0, [])
        if not mine:
            print(f"{school.name}: no year closed yet (years start on "
                  f"{services.settings.school_year_start[0]:02d}-{services.settings.school_year_start[1]:02d}).")
            continue
        for y in mine:
            if y.closed_at is None:
                print(f"{school.name}: {y.label} from {y.starts_on} (open)")
            else:
                print(f"{school.name}: {y.label} {y.starts_on} to {y.ends_on}, closed {y.closed_at:%Y-%m-%d} "
                      f"by {closers.get(y.closed_by_id or 0, y.closed_by_label)}; workbook {y.workbook or '(none)'}")
    return 0
