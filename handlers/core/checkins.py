"""Check-in actions: a teacher's one-click answer and its details, away and back, a facilitator's
"send this week's check-in now", and following up or resolving a support request.

Each takes who (an `Actor`), where (a check-in, team or support request id) and plain inputs,
checks who may act (the check-in's own teacher; `Action.SEND_CHECKIN`; the support message's
visibility rule), writes, and returns an `ActionResult` whose extra fields carry the facts a front
words its answer from. Refusals raise `UserError` or `Forbidden`. The details and away forms
offer `check_*` (read-only, for `handlers.forms.submit`) and `write_*` halves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from handlers.core import ActionResult
from handlers.errors import UserError
from scheduling import checkins as planner
from scheduling import keys, runner
from storage import checkins as store
from storage import cycles as cycle_store
from storage import jobs
from storage.cycles import escape
from storage.models import Checkin, CheckinRound, Person, SupportRequest, Team
from storage.people import slack_id
from storage.rules import cycles as rules
from storage.rules import visibility
from storage.rules.dates import parse_date
from storage.rules.roles import Action, Actor, require
from storage.views.cycles import CheckinCard, SupportCard

if TYPE_CHECKING:
    from bot.services import Services
    from scheduling.registry import Registry

NOT_KNOWN = "You're not in a PLC team yet, so there are no check-ins to pause."


@dataclass(frozen=True)
class CheckinResult(ActionResult):
    """An answer stored (or a support request moved): the check-in whose card now shows it."""

    checkin_id: int = 0


# ---------------------------------------------------------------------------- answering
def answer(services: Services, actor: Actor, *, checkin_id: int, progress: str) -> CheckinResult:
    """The one-click answer ("on_track", "some_progress", "stuck"): stored on the teacher's one
    check-in row, so a second click or a retry changes the answer, never adds one."""
    try:
        with services.db.session() as session:
            store.record_answer(session, checkin_id=checkin_id, person_id=actor.person_id,
                                change=store.Change(progress=progress), now=services.clock.now(),
                                handle=actor.handle)
    except store.CheckinError as exc:
        raise UserError(str(exc)) from None
    return CheckinResult(reply="Saved your answer.", changed=(f"check-in {checkin_id}: {progress}",),
                         refresh_homes=(actor.handle,), checkin_id=checkin_id)


@dataclass(frozen=True)
class Details:
    """The details form, validated: how it is going, a data point, evidence and support wanted."""

    progress: str
    value: float | None
    evidence: str | None
    support: str | None


def validate_details(*, progress: str | None, value: str, evidence: str | None,
                     support: str | None) -> tuple[Details | None, dict[str, str]]:
    """The form as typed → (details, {}) or (None, {field: what to fix}). No database."""
    errors: dict[str, str] = {}
    if progress not in rules.PROGRESS:
        errors["progress"] = "Pick how it is going."
    number = None
    if value.strip():
        try:
            number = rules.parse_number(value)
        except ValueError:
            errors["value"] = "Give the data point as a number, like 12 or 72.5 (or leave it empty)."
    if errors or progress is None:
        return None, errors
    return Details(progress, number, evidence, support), {}


@dataclass(frozen=True)
class DetailsChecked:
    actor: Actor
    checkin: Checkin | None
    checkin_id: int
    details: Details


def check_details(session: Session, actor: Actor, *, checkin_id: int, details: Details) -> DetailsChecked:
    """Read-only: the check-in is the actor's and still open (raises UserError)."""
    row = session.get(Checkin, checkin_id)
    try:
        store.check_answerable(session, row, person_id=actor.person_id)
    except store.CheckinError as exc:
        raise UserError(str(exc)) from None
    return DetailsChecked(actor, row, checkin_id, details)


def write_details(session: Session, services: Services, checked: DetailsChecked) -> CheckinResult:
    """Store the details (raises UserError when the check-in closed since the check)."""
    d = checked.details
    try:
        store.record_answer(session, checkin_id=checked.checkin_id, person_id=checked.actor.person_id,
                            change=store.Change(progress=d.progress, value=d.value, evidence=d.evidence,
                                                support=d.support, details=True),
                            now=services.clock.now(), handle=checked.actor.handle)
    except store.CheckinError as exc:
        raise UserError(str(exc)) from None
    return CheckinResult(reply="Saved your details.", changed=(f"check-in {checked.checkin_id}: details",),
                         refresh_homes=(checked.actor.handle,), checkin_id=checked.checkin_id)


def add_details(services: Services, actor: Actor, *, checkin_id: int, details: Details) -> CheckinResult:
    """Store the details in one go (a front without Slack's 3-second form limit)."""
    with services.db.read() as session:
        checked = check_details(session, actor, checkin_id=checkin_id, details=details)
    with services.db.session() as session:
        return write_details(session, services, checked)


# ---------------------------------------------------------------------------- away and back
def find_person(session: Session, user_id: str) -> Person | None:
    return session.exec(select(Person).where(Person.handle == user_id)).first()


def person_today(services: Services, person: Person | None, fallback_tz: str | None = None) -> date:
    """Today where the person is (their time zone, else `fallback_tz`, else the server's)."""
    tz = (person.tz if person else None) or fallback_tz or services.settings.timezone
    try:
        zone = ZoneInfo(tz)
    except Exception:
        zone = ZoneInfo(services.settings.timezone)
    return services.clock.now().astimezone(zone).date()


@dataclass(frozen=True)
class AwayResult(ActionResult):
    until: date | None = None  # None: back


@dataclass(frozen=True)
class AwayChecked:
    actor: Actor
    until: date
    today: date


def check_away(session: Session, services: Services, actor: Actor, *, until: date,
               fallback_tz: str | None = None) -> AwayChecked:
    """Read-only: the person is known and `until` is a day they can be away through (raises UserError)."""
    person = find_person(session, actor.handle)
    if person is None:
        raise UserError(NOT_KNOWN)
    today = person_today(services, person, fallback_tz)
    problem = rules.validate_away(until, today=today)
    if problem:
        raise UserError(problem)
    return AwayChecked(actor, until, today)


def write_away(session: Session, checked: AwayChecked) -> AwayResult:
    """Away from today through `until`: no check-ins or reminders, counted as away in summaries."""
    if cycle_store.set_away(session, user_id=checked.actor.handle, from_day=checked.today,
                            until=checked.until) is None:
        raise UserError(NOT_KNOWN)
    return AwayResult(reply=f"You're away through {checked.until:%a %b %-d}.",
                      changed=(f"away through {checked.until}",), refresh_homes=(checked.actor.handle,),
                      until=checked.until)


def away(services: Services, actor: Actor, *, until: date, fallback_tz: str | None = None) -> AwayResult:
    """Be away through `until` (a person acts only on themselves: no role needed)."""
    with services.db.read() as session:
        checked = check_away(session, services, actor, until=until, fallback_tz=fallback_tz)
    with services.db.session() as session:
        return write_away(session, checked)


@dataclass(frozen=True)
class AwayAsked:
    """What `away …` typed to the bot asked for, read the same way on every front: `until` is the
    day the person is now away through, or None when they only asked (`away` alone); `current` is
    the absence in force today, if any."""

    until: date | None
    current: date | None


def away_command(services: Services, actor: Actor, *, args: str, fallback_tz: str | None,
                 code: Callable[[str], str]) -> AwayAsked:
    """`away` (what is in force) or `away until DATE` (be away through that day). `code` words a
    command the way the front shows one (Slack: `/plc away …` in code; Teams: plain words)."""
    with services.db.read() as session:
        person = find_person(session, actor.handle)
    if person is None:
        raise UserError(NOT_KNOWN)
    today = person_today(services, person, fallback_tz)
    args = args.strip()
    if not args:
        current = person.away_until if rules.is_away(person.away_from, person.away_until, today) else None
        return AwayAsked(until=None, current=current)
    word, _, rest = args.partition(" ")
    if word.lower() != "until" or not rest.strip():
        raise UserError(f"Use {code('away until DATE')}, like {code('away until Friday')}.")
    try:
        until = parse_date(rest, today=today)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    away(services, actor, until=until, fallback_tz=fallback_tz)
    return AwayAsked(until=until, current=until)


def back(services: Services, actor: Actor) -> AwayResult:
    """End an away period now; check-ins resume with the next round."""
    with services.db.session() as session:
        if cycle_store.set_away(session, user_id=actor.handle, from_day=None, until=None) is None:
            raise UserError(NOT_KNOWN)
    return AwayResult(reply="Welcome back! Your check-ins resume with the next round.", changed=("back",),
                      refresh_homes=(actor.handle,))


# ---------------------------------------------------------------------------- send now
@dataclass(frozen=True)
class SendNowResult(ActionResult):
    """What "send this week's check-in now" did.

    `outcome`: "sent" (just now), "already" (it went out before), "sending" (another process is
    sending it), "held" (school is closed: it goes out when school opens), "on_its_way" (sent,
    not yet counted). `asked`, `answered` and `away` count the round when there is one.
    """

    outcome: str = ""
    team_name: str = ""
    week: int = 0
    asked: int = 0
    answered: int = 0
    away: int = 0


def send_now(services: Services, registry: Registry, actor: Actor, *, team_id: int) -> SendNowResult:
    """Run this week's check-in round now (facilitators).

    Whether a round goes out today is the runner's own rule (`rules.recipients`: paused, ended,
    a school break), on the week `rules.cycle_week` gives; the round is the same scheduled row the
    planner made for the week, run by the runner, so the usual send path runs (ledger, away teachers
    skipped, school hours respected) and the round still happens once: its later due time finds it done.
    """
    now = services.clock.now()
    with services.db.read() as session:
        team = session.get(Team, team_id)
        if team is None or team.archived_at is not None:
            raise UserError("That team no longer exists.")
        require(actor, Action.SEND_CHECKIN, team_id=team.id, school_id=team.school_id)
        cycle = cycle_store.active_cycle(session, team_id=team_id)
        breaks = cycle_store.break_rules(cycle_store.breaks(session, school_id=team.school_id))
    name = escape(team.name)
    if cycle is None or cycle.id is None:
        raise UserError(f"{name} has no learning cycle running, so there is no check-in to send. "
                        "Start one with `/plc cycle start`.")
    today = now.astimezone(ZoneInfo(team.timezone)).date()
    resting = rules.recipients([], day=today, breaks=breaks, status=cycle.status,
                               paused_until=cycle.paused_until).skipped_reason
    if resting == "paused":
        raise UserError(f"{name}'s cycle is paused, so no check-in goes out. Resume it with `/plc cycle resume`.")
    week = rules.cycle_week(cycle.start_date, cycle.weeks, today)
    if week is None:
        if today < cycle.start_date:
            raise UserError(f"The cycle starts on {cycle.start_date:%a %b} {cycle.start_date.day}; "
                            "its first check-in can go out from then.")
        raise UserError("The cycle has run all its weeks; there is no check-in left to send.")
    if resting is not None:
        on_break = rules.break_on(breaks, today)
        label = escape(on_break.label) if on_break is not None else ""
        raise UserError(f"Today is in a school break ({label or 'no label'}): no check-ins.")
    with services.db.read() as session:
        existing = store.get_round(session, cycle_id=cycle.id, week=week)
    if existing is not None:
        if existing.state == "skipped":
            raise UserError(f"Week {week}'s check-in was skipped ({escape(existing.skip_reason or 'paused')}).")
        return _counted(services, cycle.id, week, team.name, already=True)
    planner.plan_cycle(services, cycle.id, now=now)  # makes sure the week's row exists
    with services.db.session() as session:
        job = jobs.schedule(session, kind="checkin_round", dedupe_key=keys.checkin_round_job(cycle.id, week),
                            due_at=now, team_id=team.id, ref_id=cycle.id)
        job_id = job.id
    assert job_id is not None
    state = runner.run_now(services, registry, job_id)
    if state == "busy-or-finished":
        return SendNowResult(reply=f"Week {week}'s check-in for {team.name} is going out right now.",
                             outcome="sending", team_name=team.name, week=week)
    if state == "pending":
        return SendNowResult(reply=f"School is closed right now, so week {week}'s check-in for {team.name} "
                                   "goes out when school opens.", outcome="held", team_name=team.name, week=week,
                             changed=(f"week {week}'s check-in held for school hours",))
    if state != "done":
        raise RuntimeError(f"check-in round ended {state}")
    return _counted(services, cycle.id, week, team.name, already=False)


def _counted(services: Services, cycle_id: int, week: int, team_name: str, *, already: bool) -> SendNowResult:
    with services.db.read() as session:
        round_ = store.get_round(session, cycle_id=cycle_id, week=week)
        checkins = store.round_checkins(session, round_id=round_.id or 0) if round_ else []
    summary = cycle_store.summarize(round_, checkins) if round_ else None
    if summary is None:
        return SendNowResult(reply=f"Week {week}'s check-in is on its way.", outcome="on_its_way",
                             team_name=team_name, week=week)
    away_words = f" ({summary.away} away, not asked)" if summary.away else ""
    if already:
        return SendNowResult(reply=f"Week {week}'s check-in went out already: {summary.answered} of "
                                   f"{summary.asked} answered so far{away_words}.", outcome="already",
                             team_name=team_name, week=week, asked=summary.asked, answered=summary.answered,
                             away=summary.away)
    return SendNowResult(reply=f"Sent week {week}'s check-in to {summary.asked} teacher(s){away_words}.",
                         outcome="sent", changed=(f"week {week}'s check-in sent",), team_name=team_name,
                         week=week, asked=summary.asked, answered=summary.answered, away=summary.away)


# ---------------------------------------------------------------------------- support requests
SUPPORT_MOVES = {"follow_up": "following_up", "resolve": "resolved"}


def move_support(services: Services, actor: Actor, *, request_id: int, to: str) -> CheckinResult:
    """"I'll follow up" (`to="following_up"`) or "Resolved" (`"resolved"`): only those who may see
    the request (the team's facilitators, the school's principals) may move it; never backwards."""
    try:
        with services.db.session() as session:
            request = session.get(SupportRequest, request_id)
            if request is None:
                raise store.CheckinError("That support request no longer exists.")
            team = session.get(Team, request.team_id)
            assert team is not None
            # The request names the teacher: only those the table lets see it may move it.
            visibility.SUPPORT_MESSAGE.require(actor, team_id=team.id, school_id=team.school_id)
            moved = store.move_support(session, request_id=request_id, to=to, user_id=actor.handle,
                                       now=services.clock.now())
            checkin_id = moved.checkin_id
    except store.CheckinError as exc:
        raise UserError(str(exc)) from None
    return CheckinResult(reply="Marked the support request " + ("resolved." if to == "resolved" else
                                                                "as followed up by you."),
                         changed=(f"support request {request_id}: {moved.state}",),
                         refresh_homes=(actor.handle,), checkin_id=checkin_id)


def follow_up(services: Services, actor: Actor, *, request_id: int) -> CheckinResult:
    return move_support(services, actor, request_id=request_id, to="following_up")


def resolve(services: Services, actor: Actor, *, request_id: int) -> CheckinResult:
    return move_support(services, actor, request_id=request_id, to="resolved")


def card_for(services: Services, checkin_id: int) -> tuple[Checkin, CheckinCard] | None:
    """The check-in and what its card should show now, on any front."""
    with services.db.read() as session:
        checkin = session.get(Checkin, checkin_id)
        if checkin is None:
            return None
        round_ = session.get(CheckinRound, checkin.round_id)
        request = store.support_for(session, checkin_id=checkin_id)
    ctx = planner.CycleContext(services, checkin.cycle_id)
    closed = (round_ is not None and round_.state == "closed") or (
        ctx.cycle is not None and ctx.cycle.status == "ended")
    return checkin, ctx.card(checkin, support_state=request.state if request else None, closed=closed)


def support_card(services: Services, request_id: int) -> tuple[SupportRequest, Checkin, SupportCard] | None:
    with services.db.read() as session:
        request = session.get(SupportRequest, request_id)
        if request is None:
            return None
        checkin = session.get(Checkin, request.checkin_id)
        person = session.get(Person, request.person_id)
        team = session.get(Team, request.team_id)
        follower = slack_id(session, request.follower_id)
    assert checkin is not None and team is not None
    card = SupportCard(
        request_id=request_id, teacher_id=person.handle if person else "",
        teacher_name=person.name if person and person.name else (person.handle if person else ""),
        team_name=team.name,
        week=checkin.week, progress=checkin.progress, evidence=checkin.evidence, support=checkin.support,
        state=request.state, follower=follower)
    return request, checkin, card
