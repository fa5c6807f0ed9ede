"""`plcbot privacy purge`: retention now, the same run the daily job does.

    plcbot privacy purge            what would be deleted, per school, and who would be forgotten
    plcbot privacy purge --apply    do it, and print what was done

Counts only: never what a record said, and never who is forgotten (their user id printed here
would outlive the erasure in a terminal's scrollback or a cron mail).
"""

from __future__ import annotations

import argparse
import sys

from bot.cli.common import cli_actor, services_from
from scheduling import retention as job
from storage import retention as store


def add_purge(psub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = psub.add_parser(
        "purge", help="delete what is past retention (PLCBOT_RETENTION_YEARS) and forget long-deactivated accounts",
        description="Shows, per school, what is past retention and who is due to be forgotten; "
                    "a dry run unless --apply.")
    p.add_argument("--apply", action="store_true", help="delete and forget (default: a dry run that changes nothing)")
    p.set_defaults(func=purge)


def purge(args: argparse.Namespace) -> int:
    services = services_from(args)
    report = job.purge(services, apply=args.apply, actor=cli_actor())
    for line in describe(report):
        print(line)
    sys.stdout.flush()
    return 1 if report.forget.failed else 0


def describe(report: store.PurgeReport) -> list[str]:
    """The report as the lines an operator reads (pure: tested directly and through the CLI)."""
    verb = "deleted" if report.applied else "would delete"
    empty = "emptied" if report.applied else "would empty"
    lines = [f"Records are kept through their school year and {report.retention_years} more "
             "(PLCBOT_RETENTION_YEARS)."]
    if not report.schools:
        lines.append("No schools yet.")
    for purge in report.schools:
        cut = purge.school
        lines.append(f"{cut.name} (school year {cut.year.label}, from {cut.year.starts_on}): "
                     f"records dated before {cut.cutoff}")
        if not purge.total:
            lines.append("  nothing is past retention")
            continue
        gone = {k: n for k, n in purge.counts.items() if k not in store.EMPTIED_KINDS}
        emptied = {k: n for k, n in purge.counts.items() if k in store.EMPTIED_KINDS}
        lines.append("  " + "; ".join(f"{word}: {_counts(c)}" for word, c in ((verb, gone), (empty, emptied))
                                      if any(c.values())))
    ledger = report.ledger
    lines.append(f"The bot's delivery ledger (every school, made before {ledger.cutoff_at:%Y-%m-%d %H:%M} UTC): "
                 + (f"{verb}: {_counts(ledger.counts)}" if ledger.total else "nothing to delete"))
    lines.extend(_forget_lines(report))
    if report.old_copies:
        lines.append(report.old_copies)
    if report.applied and not report.total:  # no purge entry is written when nothing went
        lines.append("Done: nothing was past retention.")
    elif report.applied:
        lines.append(f"Done: {report.total} records deleted or emptied; each school's purge is in the audit "
                     "log (privacy.purge).")
    else:
        lines.append("dry run: nothing changed, run with --apply")
    return lines


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in counts.items() if n)


def _forget_lines(report: store.PurgeReport) -> list[str]:
    plan = report.forget
    if plan.days <= 0 or plan.before is None:
        return ["Deactivated accounts: never forgotten automatically (PLCBOT_FORGET_DEACTIVATED_DAYS=0)."]
    head = (f"Deactivated accounts (deactivated more than {plan.days} days ago, before "
            f"{plan.before:%Y-%m-%d}; PLCBOT_FORGET_DEACTIVATED_DAYS): ")
    if not plan.due:
        return [head + "nobody to forget"]
    if not report.applied:
        return [head + f"{len(plan.due)} would be forgotten (as `plcbot privacy forget --apply` does)"]
    line = head + f"{plan.forgotten} forgotten"
    if plan.failed:
        line += f", {plan.failed} could not be (see the log above; the next run tries again)"
    return [line]
