"""The learning cycle's actions: its status, start and edit (the cycle form), pause, resume, end,
and the reflection that closes it.

Each takes who (an `Actor`), where (a team or cycle id) and plain inputs, checks the role
(`Action.MANAGE_CYCLE`), writes, plans or cancels the cycle's scheduled work, and returns a
`CycleResult`: plain words for the actor, and notices for the team's place as view models
(`storage.views.cycle_actions`) with their ledger keys. The forms offer `check_*` (read-only, for
`handlers.forms.submit`) and `write_*` halves, and a `*_saved` step for what follows the write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers.core import ActionResult, Notice
from handlers.errors import Invalid, UserError
from scheduling import checkins as planner
from scheduling import keys
from storage import cycles as store
from storage import meetings as meeting_store
from storage.models import Cycle, School, SchoolBreak, Team
from storage.people import load_actor
from storage.rules import cycles as rules
from storage.rules.roles import Action, Actor, require
from storage.views.cycle_actions import CycleNote, CycleStarted, ReflectionPrompt, ReflectionSaved
from storage.views.cycles import CycleStatus, cycle_status

if TYPE_CHECKING:
    from bot.services import Services

REFLECTION_TEXT_MAX = 3000  # CycleReflection.learned / next_steps hold this much (PostgreSQL refuses more)
HOME_REFRESH_MAX = 60  # a team is a handful of people; a bound keeps one change from fanning out
REACHED = ("yes", "partly", "no")


@dataclass(frozen=True)
class CycleResult(ActionResult):
    """An action on a cycle: the cycle as it now stands, and its team (for the front's wording)."""

    cycle: Cycle | None = None
    team: Team | None = None


def team_today(services: Services, team: Team) -> date:
    return services.clock.now().astimezone(ZoneInfo(team.timezone)).date()


def team_homes(session: Session, team_id: int, actor_id: str) -> tuple[str, ...]:
    """Whose dashboard shows the team's cycle: whoever acted and the team's active members."""
    members = [p.handle for p, m in store.team_members(session, team_id=team_id) if m.active]
    return tuple(list(dict.fromkeys([actor_id, *members]))[:HOME_REFRESH_MAX])


def _team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None or team.archived_at is not None:
        raise UserError("This team no longer exists.")
    return team


def _running(session: Session, team: Team) -> Cycle:
    cycle = store.active_cycle(session, team_id=team.id or 0)
    if cycle is None:
        raise UserError("This team has no running cycle. Start one with `/plc cycle start`.")
    return cycle


def _note(services: Services, team: Team, cycle: Cycle, view: CycleNote | CycleStarted, change: str) -> Notice:
    """A change told in the team's place, once (a new key per change: the same change later is news)."""
    return Notice(view=view, team_id=team.id,
                  key=keys.cycle_note(change, cycle.id, services.clock.now().isoformat()))


# ---------------------------------------------------------------------------- status
def status(services: Services, actor: Actor, *, team: Team) -> CycleStatus:
    """Where the team's learning cycle is, for its members (and those above them: facilitators,
    principals, admins). Read-only; one view model that both fronts render, built on the team's
    today so the week is the team's week whatever the server's zone."""
    if actor.role_in(team_id=team.id, school_id=team.school_id) is None:
        raise UserError("Only members of this team can see its learning cycle.")
    with services.db.read() as session:
        cycle = store.active_cycle(session, team_id=team.id or 0)
        weeks = store.cycle_summary(session, cycle=cycle)["weeks"] if cycle else []
        breaks = store.break_rules(store.breaks(session, school_id=team.school_id))
        return cycle_status(team_name=team.name, cycle=cycle, weeks=weeks, breaks=breaks,
                            today=team_today(services, team))


# ---------------------------------------------------------------------------- pause, resume, end
def pause(services: Services, actor: Actor, *, team_id: int, until: date | None) -> CycleResult:
    """Pause the team's cycle through `until` (inclusive), or until resumed: no check-ins meanwhile."""
    with services.db.session() as session:
        team = _team(session, team_id)
        require(actor, Action.MANAGE_CYCLE, team_id=team.id, school_id=team.school_id)
        if until is not None and until < team_today(services, team):
            raise UserError("That date has passed; give the last day of the pause.")
        cycle = _running(session, team)
        store.pause_cycle(session, cycle_id=cycle.id or 0, until=until, actor=actor.handle,
                          now=services.clock.now())
        homes = team_homes(session, team_id, actor.handle)
    how = f"through {until:%a %b %-d}" if until else "until resumed"
    return CycleResult(reply=f"Paused “{cycle.title}” {how}. No check-ins meanwhile.",
                       changed=(f"cycle {cycle.id} paused {how}",), cycle=cycle, team=team, refresh_homes=homes,
                       notices=(_note(services, team, cycle, CycleNote("paused", actor.handle, until), "paused"),))


def resume(services: Services, actor: Actor, *, team_id: int) -> CycleResult:
    """Resume a paused cycle; its check-ins are planned again from this week."""
    with services.db.session() as session:
        team = _team(session, team_id)
        require(actor, Action.MANAGE_CYCLE, team_id=team.id, school_id=team.school_id)
        cycle = _running(session, team)
        try:
            store.resume_cycle(session, cycle_id=cycle.id or 0, actor=actor.handle, now=services.clock.now())
        except store.CycleConflict as exc:
            raise UserError(str(exc)) from None
        homes = team_homes(session, team_id, actor.handle)
    planner.plan_cycle(services, cycle.id or 0)
    return CycleResult(reply=f"Resumed “{cycle.title}”. Check-ins continue on the usual day.",
                       changed=(f"cycle {cycle.id} resumed",), cycle=cycle, team=team, refresh_homes=homes,
                       notices=(_note(services, team, cycle, CycleNote("resumed", actor.handle), "resumed"),))


def end(services: Services, actor: Actor, *, team_id: int) -> CycleResult:
    """Close the team's cycle (its summary is kept), cancel what it still had planned, and ask the
    team to reflect."""
    with services.db.session() as session:
        team = _team(session, team_id)
        require(actor, Action.MANAGE_CYCLE, team_id=team.id, school_id=team.school_id)
        cycle = _running(session, team)
        store.end_cycle(session, cycle_id=cycle.id or 0, now=services.clock.now(), actor=actor.handle)
        homes = team_homes(session, team_id, actor.handle)
    planner.cancel_cycle_work(services, cycle.id or 0)
    prompt = ReflectionPrompt(cycle_id=cycle.id or 0, title=cycle.title, team_name=team.name, weeks=cycle.weeks)
    return CycleResult(reply=f"Ended “{cycle.title}”; its summary is kept. Start the next one when the team is ready.",
                       changed=(f"cycle {cycle.id} ended",), cycle=cycle, team=team, refresh_homes=homes,
                       notices=(Notice(view=prompt, team_id=team.id, key=keys.cycle_reflection(cycle.id)),))


# ---------------------------------------------------------------------------- the cycle form
@dataclass(frozen=True)
class CycleChecked:
    """A cycle form that passed its read-only check: what the write stores."""

    actor: Actor
    team: Team
    editing: Cycle | None
    values: rules.CycleValues


def check_cycle(session: Session, services: Services, actor: Actor, *, team_id: int, cycle_id: int | None,
                raw: rules.CycleInput) -> CycleChecked:
    """Start (`cycle_id` None) or edit a cycle: read-only; raises UserError, Forbidden or
    `handlers.errors.Invalid` (the form's fields)."""

    team = session.get(Team, team_id)
    editing = session.get(Cycle, cycle_id) if cycle_id else None
    running = store.active_cycle(session, team_id=team.id or 0) if team is not None else None
    if team is None or team.archived_at is not None:
        raise UserError("This team no longer exists.")
    require(actor, Action.MANAGE_CYCLE, team_id=team.id, school_id=team.school_id)
    if editing is not None and (editing.team_id != team.id or editing.status not in store.OPEN):
        raise UserError("That cycle has ended; start a new one with `/plc cycle start`.")
    if editing is None and running is not None:
        raise UserError(f"This team already has a running cycle, “{running.title[:80]}”. End it first.")
    hours = planner.rule_hours(planner.hours_for(services, team, session.get(School, team.school_id)))
    values, errors = rules.validate_cycle(raw, today=team_today(services, team), hours=hours,
                                          editing_start=editing.start_date if editing else None)
    if errors:
        raise Invalid(errors)
    assert values is not None
    return CycleChecked(actor, team, editing, values)


def _again(session: Session, services: Services, actor: Actor, team: Team) -> Actor:
    """Inside a write: the role, loaded afresh, must still allow managing the cycle."""
    fresh = load_actor(session, actor.handle, admins=services.settings.admins)
    require(fresh, Action.MANAGE_CYCLE, team_id=team.id, school_id=team.school_id)
    return fresh


def write_cycle(session: Session, services: Services, checked: CycleChecked) -> Cycle:
    """Store the checked form (raises Forbidden, or `storage.cycles.CycleConflict` when another
    submit won)."""
    team, editing, values = checked.team, checked.editing, checked.values
    who = _again(session, services, checked.actor, team).handle
    if editing is not None:
        return store.update_cycle(session, cycle_id=editing.id or 0, values=values, actor=who,
                                  now=services.clock.now())
    return store.start_cycle(session, team_id=team.id or 0, values=values, created_by=who,
                             now=services.clock.now())


def cycle_saved(services: Services, checked: CycleChecked, cycle: Cycle) -> CycleResult:
    """After the write: plan the cycle's check-ins; tell the team; refresh the team's dashboards."""
    planner.plan_cycle(services, cycle.id or 0)
    team, by, edited = checked.team, checked.actor.handle, checked.editing is not None
    view = CycleStarted(cycle, by, edited=edited)
    notice = (_note(services, team, cycle, view, "edited") if edited
              else Notice(view=view, team_id=team.id, key=keys.cycle_started(cycle.id)))
    with services.db.read() as session:
        homes = team_homes(session, team.id or 0, by)
    return CycleResult(reply=f"{'Updated' if edited else 'Started'} “{cycle.title}”.",
                       changed=(f"cycle {cycle.id} {'edited' if edited else 'started'}",), cycle=cycle,
                       team=team, notices=(notice,), refresh_homes=homes)


def start(services: Services, actor: Actor, *, team_id: int, raw: rules.CycleInput) -> CycleResult:
    """Start a cycle in one go (a front without Slack's 3-second form limit)."""
    return _save(services, actor, team_id=team_id, cycle_id=None, raw=raw)


def edit(services: Services, actor: Actor, *, team_id: int, cycle_id: int, raw: rules.CycleInput) -> CycleResult:
    """Change the running cycle in one go."""
    return _save(services, actor, team_id=team_id, cycle_id=cycle_id, raw=raw)


def _save(services: Services, actor: Actor, *, team_id: int, cycle_id: int | None,
          raw: rules.CycleInput) -> CycleResult:
    with services.db.read() as session:
        checked = check_cycle(session, services, actor, team_id=team_id, cycle_id=cycle_id, raw=raw)
    with services.db.session() as session:
        try:
            cycle = write_cycle(session, services, checked)
        except store.CycleConflict as exc:
            raise UserError(str(exc)) from None
    return cycle_saved(services, checked, cycle)


# ---------------------------------------------------------------------------- the reflection
@dataclass(frozen=True)
class ReflectionForm:
    """What the reflection form shows: the cycle, its metric, and the last week's mean."""

    cycle_id: int
    title: str
    metric_name: str
    last_mean: float | None


def reflection_form(services: Services, actor: Actor, *, cycle_id: int) -> ReflectionForm:
    """Open the reflection (facilitators): read-only; raises UserError or Forbidden."""
    with services.db.read() as session:
        cycle = session.get(Cycle, cycle_id)
        team = session.get(Team, cycle.team_id) if cycle else None
        summary = store.cycle_summary(session, cycle=cycle) if cycle else None
    if cycle is None or team is None:
        raise UserError("That cycle no longer exists.")
    require(actor, Action.MANAGE_CYCLE, team_id=team.id, school_id=team.school_id)
    means = [w["mean"] for w in (summary or {}).get("weeks", []) if w["mean"] is not None]
    return ReflectionForm(cycle_id, cycle.title, cycle.metric_name, means[-1] if means else None)


@dataclass(frozen=True)
class Reflection:
    """The team's answers, validated."""

    target_reached: str
    final_value: float | None
    learned: str
    next_steps: str


def validate_reflection(*, target_reached: str, final_value: str, learned: str,
                        next_steps: str) -> tuple[Reflection | None, dict[str, str]]:
    """The answers as typed → (the reflection, {}) or (None, {field: what to fix}). No database."""
    errors: dict[str, str] = {}
    if target_reached not in REACHED:
        errors["target_reached"] = "Say whether the team reached the target."
    final = None
    if final_value.strip():
        try:
            final = rules.parse_number(final_value)
        except ValueError:
            errors["final_value"] = "Give the final data point as a number, like 74."
    if not learned.strip():
        errors["learned"] = "Write a line or two on what the team learned."
    # The form's max_length; only a forged form sends more.
    for key, text in (("learned", learned), ("next_steps", next_steps)):
        if len(text.strip()) > REFLECTION_TEXT_MAX:
            errors[key] = f"Keep this under {REFLECTION_TEXT_MAX:,} characters."
    if errors:
        return None, errors
    return Reflection(target_reached, final, learned.strip(), next_steps.strip()), {}


@dataclass(frozen=True)
class ReflectionChecked:
    actor: Actor
    team: Team
    cycle: Cycle
    answers: Reflection


def check_reflection(session: Session, actor: Actor, *, cycle_id: int, answers: Reflection) -> ReflectionChecked:
    """Read-only: the cycle exists and `actor` may manage it (raises UserError or Forbidden)."""
    cycle = session.get(Cycle, cycle_id)
    team = session.get(Team, cycle.team_id) if cycle else None
    if cycle is None or team is None:
        raise UserError("That cycle no longer exists.")
    require(actor, Action.MANAGE_CYCLE, team_id=team.id, school_id=team.school_id)
    return ReflectionChecked(actor, team, cycle, answers)


def write_reflection(session: Session, services: Services, checked: ReflectionChecked) -> bool:
    """Store the reflection and close the cycle if it is still open; True when this closed it."""
    team, cycle, a = checked.team, checked.cycle, checked.answers
    who = _again(session, services, checked.actor, team).handle
    now = services.clock.now()
    store.save_reflection(session, cycle_id=cycle.id or 0, target_reached=a.target_reached,
                          final_value=a.final_value, learned=a.learned, next_steps=a.next_steps, user_id=who,
                          now=now)
    fresh = session.get(Cycle, cycle.id)
    was_open = fresh is not None and fresh.status in store.OPEN
    if was_open:
        store.end_cycle(session, cycle_id=cycle.id or 0, now=now, actor=who)
    return was_open


def reflection_saved(services: Services, checked: ReflectionChecked, was_open: bool) -> CycleResult:
    """After the write: a cycle this closed sends nothing more; the team sees the reflection."""
    team, cycle, a, by = checked.team, checked.cycle, checked.answers, checked.actor.handle
    homes: tuple[str, ...] = ()
    if was_open:
        planner.cancel_cycle_work(services, cycle.id or 0)
        with services.db.read() as session:
            homes = team_homes(session, team.id or 0, by)
    view = ReflectionSaved(title=cycle.title, by=by, reached=a.target_reached, final=a.final_value,
                           unit=cycle.metric_unit, learned=a.learned, next_steps=a.next_steps)
    return CycleResult(reply=f"Saved the reflection on “{cycle.title}”.", cycle=cycle, team=team,
                       changed=(f"cycle {cycle.id} reflection saved" + ("; cycle ended" if was_open else ""),),
                       notices=(Notice(view=view, team_id=team.id, key=keys.cycle_closed(cycle.id)),),
                       refresh_homes=homes)


def reflect(services: Services, actor: Actor, *, cycle_id: int, answers: Reflection) -> CycleResult:
    """Record the reflection in one go (a front without Slack's 3-second form limit)."""
    with services.db.read() as session:
        checked = check_reflection(session, actor, cycle_id=cycle_id, answers=answers)
    with services.db.session() as session:
        was_open = write_reflection(session, services, checked)
    return reflection_saved(services, checked, was_open)


# ---------------------------------------------------------------------------- school breaks
BREAK_USAGE = "break [add YYYY-MM-DD YYYY-MM-DD [label] | remove ID]"


@dataclass(frozen=True)
class BreakResult(ActionResult):
    """`break`: the school's breaks (`done` "listed"), or what adding or removing one did (`reply`)."""

    done: str = "listed"  # "listed", "added" (or found there already), "removed" (or none such)
    breaks: tuple[SchoolBreak, ...] = ()  # the school's breaks, earliest first (detached rows)


def break_command(services: Services, actor: Actor, *, team: Team, args: str,
                  code: Callable[[str], str]) -> BreakResult:
    """`break` (the school's breaks, for anyone in a team's place), `break add FROM TO [label]` and
    `break remove ID` (principals and admins). Adding or removing a break skips, or gives back, the
    scheduled meetings on its days; an agenda already posted for them says so. `code` words a command
    the way the front shows one (Slack: `/plc …` in code; Teams: plain words)."""
    from scheduling.meetings import refresh_agenda

    word, _, rest = args.strip().partition(" ")
    word = word.lower()
    if word in ("", "list"):
        with services.db.read() as session:
            rows = store.breaks(session, school_id=team.school_id)
            for row in rows:
                session.expunge(row)
        reply = "" if rows else ("No school breaks are set. Principals add them with "
                                 f"{code('break add 2026-12-21 2027-01-01 Winter break')}.")
        return BreakResult(reply=reply, breaks=tuple(rows))
    require(actor, Action.EDIT_SCHOOL, team_id=team.id, school_id=team.school_id)
    now = services.clock.now()
    if word == "add":
        parts = rest.split(" ", 2)
        try:
            start, finish = date.fromisoformat(parts[0]), date.fromisoformat(parts[1])
        except (ValueError, IndexError):
            raise UserError(f"Give the first and last day as dates: {code(BREAK_USAGE)}.") from None
        problem = rules.validate_break(start, finish, today=team_today(services, team))
        if problem:
            raise UserError(problem)
        label = parts[2].strip() if len(parts) > 2 else ""
        with services.db.session() as session:
            _, created = store.add_break(session, school_id=team.school_id, starts_on=start, ends_on=finish,
                                         label=label, created_by=actor.handle, now=now)
            changed = meeting_store.apply_breaks(session, school_id=team.school_id, now=now)
        reply = (f"{'Added' if created else 'Already there:'} a break {start:%a %b %-d} – {finish:%a %b %-d}: no "
                 "check-ins for the school's teams, and their scheduled meetings on those days are skipped (a "
                 f"meeting added by hand with {code('meeting add')} is held).")
        result = BreakResult(reply=reply, done="added", changed=(f"break {start}..{finish} added",) if created else ())
    elif word == "remove":
        try:
            break_id = int(rest.strip())
        except ValueError:
            raise UserError(f"Give the break's number from {code('break')}: {code(BREAK_USAGE)}.") from None
        with services.db.session() as session:
            removed = store.remove_break(session, school_id=team.school_id, break_id=break_id, actor=actor.handle,
                                         now=now)
            session.flush()
            changed = meeting_store.apply_breaks(session, school_id=team.school_id, now=now) if removed else []
        result = BreakResult(reply="Removed that break: its days have check-ins and meetings again." if removed
                             else "There is no such break for this school.", done="removed",
                             changed=(f"break {break_id} removed",) if removed else ())
    else:
        raise UserError(f"Use {code(BREAK_USAGE)}.")
    for meeting in changed:  # an agenda already posted for a meeting the break skips (or gives back) says so
        if meeting.id is not None and meeting.agenda_ts:
            refresh_agenda(services, meeting.id)
    return result
