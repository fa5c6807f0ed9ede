"""`plcbot jobs` lists upcoming scheduled work; `plcbot jobs run ID` runs one now;
`plcbot jobs settle KEY --arrived | --not-arrived` records what the operator learnt about a
message in doubt (one the platform may have stored after the connection dropped)."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from bot.cli.common import CliError, cli_actor, services_from
from scheduling import command_replies, delivery, runner
from scheduling import registry as scheduling_registry
from storage import jobs
from storage.models import Delivery, Person, ScheduledJob, School, Team
from storage.rules import cycles as cycle_rules
from storage.teams import audit


def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("jobs", help="list upcoming scheduled work, or run one now")
    p.add_argument("--all", action="store_true", help="include finished, skipped and failed work")
    jsub = p.add_subparsers(dest="jobs_command", metavar="ACTION")
    p.set_defaults(func=list_jobs)
    r = jsub.add_parser("run", help="run that work now in this process (what was delivered is not resent)")
    r.add_argument("job_id", type=int)
    r.set_defaults(func=run_job)
    s = jsub.add_parser("settle", help="record whether a message in doubt arrived (see `plcbot jobs`)",
                        description="A message in doubt is never resent on a guess. Ask its recipient, then "
                                    "--arrived: it is never sent again; --not-arrived: the next run of its job "
                                    "sends it, once.")
    s.add_argument("key", metavar="KEY", help="the message's key, as `plcbot jobs` lists it under Messages in doubt")
    outcome = s.add_mutually_exclusive_group(required=True)
    outcome.add_argument("--arrived", dest="arrived", action="store_const", const=True,
                         help="it reached them: mark it sent")
    outcome.add_argument("--not-arrived", dest="arrived", action="store_const", const=False,
                         help="it did not: the next run of its job sends it once")
    s.set_defaults(func=settle)


def list_jobs(args: argparse.Namespace) -> int:
    services = services_from(args)
    registry = scheduling_registry.load()
    states = ("pending", "running", "done", "skipped", "failed") if args.all else jobs.OPEN_STATES
    with services.db.read() as session:
        rows = jobs.upcoming(session, states=states, limit=500)
        if not args.all:  # work that will not run when due says so: a meeting a school break skips
            rows = sorted([*rows, *session.exec(
                select(ScheduledJob).where(ScheduledJob.state == "skipped",
                                           col(ScheduledJob.due_at) >= services.clock.now())
                .order_by(col(ScheduledJob.due_at)).limit(100)).all()], key=lambda r: (r.due_at, r.id or 0))
        team_ids = {r.team_id for r in rows if r.team_id}
        school_ids = {r.school_id for r in rows if r.school_id}
        teams = {t.id: t for t in session.exec(select(Team).where(col(Team.id).in_(team_ids))).all()}
        schools = {s.id: s for s in session.exec(select(School).where(col(School.id).in_(school_ids))).all()}
    if not rows:
        print("No scheduled work.")
    else:
        print(f"{'ID':>6}  {'KIND':<18} {'TEAM / SCHOOL':<28} {'DUE (local time)':<24} STATE")
        for row in rows:
            print(_line(row, registry, teams, schools, services.settings.timezone))
    _print_in_doubt(services)
    return 0


IN_DOUBT_SHOWN = 50


def _print_in_doubt(services: Any) -> None:
    """Messages whose delivery could not be confirmed (a dropped connection on a platform with no
    history to read back, such as Teams): never resent on a guess, so the operator is told whom to
    ask. Names come from the person rows; the ledger key says which message it was."""
    with services.db.read() as session:
        doubtful = session.exec(select(Delivery).where(Delivery.state == "unknown")
                                .order_by(col(Delivery.updated_at)).limit(IN_DOUBT_SHOWN + 1)).all()
        if not doubtful:
            return
        names = {p.id: p.name or p.handle for p in session.exec(
            select(Person).where(col(Person.id).in_({d.person_id for d in doubtful if d.person_id})))}
    print(f"\nMessages in doubt: sent, but whether they arrived could not be confirmed; they are not "
          f"resent on a guess ({min(len(doubtful), IN_DOUBT_SHOWN)}{'+' if len(doubtful) > IN_DOUBT_SHOWN else ''}):")
    for row in doubtful[:IN_DOUBT_SHOWN]:
        who = names.get(row.person_id or 0) or row.place or "someone"
        print(f"  {row.kind:<18} to {who}  ({row.key}; {row.error or 'no answer'})")
    print("  Ask them whether it arrived, then `plcbot jobs settle KEY --arrived` (never sent again) or "
          "`--not-arrived` (sent once by the next run of its job; an answer to a command, by the next sweep of "
          "owed answers); until then nothing in doubt is resent.")


def settle(args: argparse.Namespace) -> int:
    key = (args.key or "").strip()
    if not key or len(key) > 200:
        raise CliError("KEY: give the message's key as `plcbot jobs` lists it under Messages in doubt "
                       f"({'empty' if not key else 'longer than any key'}).")
    services = services_from(args)
    now = services.clock.now()
    try:
        with services.db.session() as session:
            kind = session.exec(select(Delivery.kind).where(Delivery.key == key)).first()
            in_flight = delivery.IN_FLIGHT
            if kind in (command_replies.KIND, command_replies.NOTE_KIND) and not args.arrived:
                # Its sender may still be retrying it (for up to RESEND_AFTER): settled as not
                # arrived, the sweep sends it at once, and it would arrive twice.
                in_flight = command_replies.RESEND_AFTER
            row, before = delivery.settle(session, key, arrived=args.arrived, now=now, in_flight=in_flight)
            owed = command_replies.Owed.decode(row.body)
            person = session.get(Person, row.person_id) if row.person_id is not None else None
            to = f"person:{person.id} {person.handle}" if person is not None else (row.place or "?")
            who = (person.name or person.handle) if person is not None else (row.place or "someone")
            audit(session, actor=cli_actor(), action="delivery.settle", target=key[:200],
                  detail=f"{row.kind} to {to}: {before} → {row.state} "
                         f"({'arrived' if args.arrived else 'did not arrive'}, as the operator learnt)", at=now)
            job_id, kind = row.job_id, row.kind
    except delivery.SettleError as exc:
        raise CliError(str(exc)) from None
    finally:
        services.db.dispose()
    if args.arrived:
        print(f"Settled: the {kind} to {who} arrived; it is marked sent and never sent again.")
    elif kind in (command_replies.KIND, command_replies.NOTE_KIND):
        if owed is not None and owed.answered:
            then = "sends it once, with its kept answer"
        elif owed is not None and kind == command_replies.KIND:
            then = (f"tells them once that the answer to their message did not reach them (its words are kept "
                    f"for {command_replies.FORGET_AFTER.days} days in doubt, no longer)")
        else:
            then = "closes it: nothing was kept to send (tell them yourself if they still need it)"
        print(f"Settled: the {kind} to {who} did not arrive; it is pending again, and the scheduler's next sweep "
              f"of owed answers {then}.")
    else:
        run = f"`plcbot jobs run {job_id}`" if job_id is not None else "the work that owes it"
        print(f"Settled: the {kind} to {who} did not arrive; it is pending again, and the next run of its job "
              f"({run}, or the scheduler) sends it once.")
    return 0


def _line(row: ScheduledJob, registry: scheduling_registry.Registry, teams: dict, schools: dict,
          default_tz: str) -> str:
    kind = registry.kinds.get(row.kind)
    label = kind.label if kind else row.kind
    team = teams.get(row.team_id)
    school = schools.get(row.school_id)
    place = team.name if team else (school.name if school else "-")
    tz = team.timezone if team else (school.timezone if school else default_tz)
    due = row.due_at.astimezone(ZoneInfo(tz)).strftime("%a %Y-%m-%d %H:%M %Z")
    state = row.state + (f" ({row.last_error})" if row.last_error and row.state != "done" else "")
    on_break = cycle_rules.break_label(row.last_error) if row.state == "skipped" else None
    if on_break:
        state = f"skipped: {on_break}"
    if row.state == "running":
        state += f" ({holder_text(row.claimed_by)})"
    return f"{row.id:>6}  {label:<18} {place[:28]:<28} {due:<24} {state}"


def run_job(args: argparse.Namespace) -> int:
    services = services_from(args)
    registry = scheduling_registry.load()
    with services.db.read() as session:
        job = session.get(ScheduledJob, args.job_id)
    if job is None:
        raise CliError(f"no scheduled work with id {args.job_id}; `plcbot jobs --all` lists them.")
    state = runner.run_now(services, registry, args.job_id)
    if state == "busy-or-finished":
        with services.db.read() as session:
            job = session.get(ScheduledJob, args.job_id)
        raise CliError(busy_message(args.job_id, job, services.clock.now()))
    with services.db.read() as session:
        job = session.get(ScheduledJob, args.job_id)
    print(f"Job {args.job_id} ({job.kind if job else '?'}): {state}"
          + (f" - {job.last_error}" if job and job.last_error else ""))
    return 0 if state in ("done", "pending") else 1


def holder_text(claimed_by: str | None) -> str:
    """"process 4242 on host web-1" for a claim that names its process, else the claim as is."""
    holder = jobs.holder_of(claimed_by)
    if holder is None:
        return f"worker {claimed_by or '?'}"
    return f"process {holder.pid} on host {holder.host}"


def busy_message(job_id: int, job: ScheduledJob | None, now: datetime) -> str:
    """Why `jobs run` could not take the work: who holds it, and until when (its lease)."""
    if job is None:
        return f"no scheduled work with id {job_id}; `plcbot jobs --all` lists them."
    if job.state != "running" or job.lease_until is None:
        return f"job {job_id} changed while it was being claimed (now {job.state}); try again."
    until = job.lease_until
    when = until.strftime("%H:%M:%S UTC" if until.date() == now.date() else "%Y-%m-%d %H:%M:%S UTC")
    return (f"job {job_id} is being run by {holder_text(job.claimed_by)} until {when} "
            "(renewed while it runs); try again then.")
