"""`/plc cycle` (status, start, edit, pause, resume, end), its modals, the reflection, and
`/plc break` (a school's breaks, for principals).

Every change checks the role on the server, from the database, at submit time too: a modal
opened by a facilitator who has since lost the role changes nothing.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App
from sqlmodel import Session

from bot.render import cycles as render
from bot.render.mrkdwn import escape
from handlers import forms
from handlers.errors import OUR_FAULT, UserError
from handlers.home import HomeBoard, publish_home
from handlers.router import CommandRequest
from scheduling import checkins as planner
from scheduling import delivery, keys
from scheduling.meetings import refresh_agenda
from storage import cycles as store
from storage import meetings as meeting_store
from storage.models import Cycle, Meeting, School, Team
from storage.people import load_actor
from storage.rules import cycles as rules
from storage.rules.dates import parse_date
from storage.rules.roles import Action, Forbidden, Role, require

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring

log = logging.getLogger("plcbot.cycles")

USAGE = ("/plc cycle [start | edit | pause [until DATE] | resume | end]")
BREAK_USAGE = "/plc break [add YYYY-MM-DD YYYY-MM-DD [label] | remove ID]"


def team_today(services: Services, team: Team) -> date:
    return services.clock.now().astimezone(ZoneInfo(team.timezone)).date()


REFLECTION_TEXT_MAX = 3000  # CycleReflection.learned / next_steps hold this much (PostgreSQL refuses more)
HOME_REFRESH_MAX = 60  # a team is a handful of people; a bound keeps one change from fanning out


def refresh_team_homes(services: Services, board: HomeBoard | None, team_id: int, actor_id: str) -> None:
    """The Home tab shows each team's cycle: republish it for whoever acted and the team's members."""
    if board is None:
        return
    try:
        with services.db.read() as session:
            members = [p.slack_user_id for p, m in store.team_members(session, team_id=team_id) if m.active]
    except Exception:
        log.exception("Failed to list team %s for a Home refresh", team_id)
        members = []
    for uid in list(dict.fromkeys([actor_id, *members]))[:HOME_REFRESH_MAX]:
        try:
            publish_home(services, board, uid)
        except Exception:
            log.exception("Failed to refresh the Home tab of %s after a cycle change", uid)


def _school(services: Services, team: Team) -> School | None:
    with services.db.read() as session:
        return session.get(School, team.school_id)


def form_values(view: dict[str, Any]) -> dict[str, str]:
    """A modal's state as {block_id: text}, whatever the input element."""
    out: dict[str, str] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        for element in actions.values():
            kind = element.get("type")
            if kind in ("static_select", "radio_buttons"):
                value = (element.get("selected_option") or {}).get("value")
            elif kind == "datepicker":
                value = element.get("selected_date")
            elif kind == "timepicker":
                value = element.get("selected_time")
            else:
                value = element.get("value")
            out[block_id] = value or ""
    return out


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# ---------------------------------------------------------------------------- /plc cycle
def run_cycle(request: CommandRequest, services: Services) -> None:
    """`/plc cycle …`: show the cycle, or change it (facilitators)."""
    team = request.require_team()
    word, _, rest = request.args.partition(" ")
    word = word.lower()
    if word in ("", "status", "show"):
        return show_status(request, services, team)
    require(request.actor, Action.MANAGE_CYCLE, team_id=team.id, school_id=team.school_id)
    if word == "start":
        return open_form(request, services, team, editing=False)
    if word == "edit":
        return open_form(request, services, team, editing=True)
    if word == "pause":
        return pause(request, services, team, rest.strip())
    if word == "resume":
        return resume(request, services, team)
    if word == "end":
        return end(request, services, team)
    raise UserError(f"I don't know `/plc cycle {word[:30]}`. Use `{USAGE}`.")


def show_status(request: CommandRequest, services: Services, team: Team) -> None:
    if request.role is None:
        raise UserError("Only members of this team can see its learning cycle.")
    today = team_today(services, team)
    with services.db.read() as session:
        cycle = store.active_cycle(session, team_id=team.id or 0)
        summary = store.cycle_summary(session, cycle=cycle) if cycle else None
        breaks = store.break_rules(store.breaks(session, school_id=team.school_id))
    week = rules.cycle_week(cycle.start_date, cycle.weeks, today) if cycle else None
    text, blocks = render.status_blocks(team_name=team.name, cycle=cycle, week=week, today=today,
                                        summary=summary, breaks=breaks)
    request.reply(text, blocks=blocks)


def open_form(request: CommandRequest, services: Services, team: Team, *, editing: bool) -> None:
    with services.db.read() as session:
        cycle = store.active_cycle(session, team_id=team.id or 0)
    if editing and cycle is None:
        raise UserError("There is no running cycle to edit. Start one with `/plc cycle start`.")
    if not editing and cycle is not None:
        raise UserError(f"This team already has a running cycle, “{escape(cycle.title)}”. Change it with "
                        "`/plc cycle edit`, or end it with `/plc cycle end` first.")
    hours = planner.rule_hours(planner.hours_for(services, team, _school(services, team)))
    meta = json.dumps({"team_id": team.id, "cycle_id": cycle.id if editing and cycle else None})
    view = render.cycle_modal(team_name=team.name, hours=hours, today=team_today(services, team),
                              cycle=cycle if editing else None, private_metadata=meta)
    request.client.views_open(trigger_id=request.trigger_id, view=view)


def _announce(services: Services, channel: str, text: str, *, change: str, cycle_id: int | None) -> None:
    """Tell the team's channel about a change, through the ledger (a dropped connection never doubles it)."""
    try:
        delivery.deliver(services, key=keys.cycle_note(change, cycle_id, services.clock.now().isoformat()),
                         kind="cycle_note", recipient=channel, text=text)
    except Exception:
        log.exception("Failed to tell the channel about a cycle change")


def pause(request: CommandRequest, services: Services, team: Team, rest: str) -> None:
    today = team_today(services, team)
    until: date | None = None
    if rest:
        words = rest.split(" ", 1)
        if words[0].lower() != "until" or len(words) < 2:
            raise UserError("Use `/plc cycle pause` or `/plc cycle pause until DATE` (like `until Jan 4`).")
        try:
            until = parse_date(words[1], today=today)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if until < today:
            raise UserError("That date has passed; give the last day of the pause.")
    with services.db.session() as session:
        cycle = _require_cycle(session, team)
        store.pause_cycle(session, cycle_id=cycle.id or 0, until=until, actor=request.user_id,
                          now=services.clock.now())
    how = f"through {until:%a %b %-d}" if until else "until a facilitator runs `/plc cycle resume`"
    request.reply(f":double_vertical_bar: Paused “{escape(cycle.title)}” {how}. No check-ins meanwhile.")
    _announce(services, team.channel_id, f":double_vertical_bar: <@{request.user_id}> paused the learning "
              f"cycle {how}: no check-ins meanwhile.", change="paused", cycle_id=cycle.id)


def resume(request: CommandRequest, services: Services, team: Team) -> None:
    with services.db.session() as session:
        cycle = _require_cycle(session, team)
        try:
            store.resume_cycle(session, cycle_id=cycle.id or 0, actor=request.user_id, now=services.clock.now())
        except store.CycleConflict as exc:
            raise UserError(str(exc)) from None
    planner.plan_cycle(services, cycle.id or 0)
    request.reply(f":arrow_forward: Resumed “{escape(cycle.title)}”. Check-ins continue on the usual day.")
    _announce(services, team.channel_id, f":arrow_forward: <@{request.user_id}> resumed the learning cycle.",
              change="resumed", cycle_id=cycle.id)


def end(request: CommandRequest, services: Services, team: Team) -> None:
    with services.db.session() as session:
        cycle = _require_cycle(session, team)
        store.end_cycle(session, cycle_id=cycle.id or 0, now=services.clock.now(), actor=request.user_id)
    planner.cancel_cycle_work(services, cycle.id or 0)
    request.reply(f":checkered_flag: Ended “{escape(cycle.title)}”; its summary is kept. "
                  "Start the next one with `/plc cycle start`.")
    text, blocks = render.reflection_prompt(cycle_id=cycle.id or 0, title=cycle.title, team_name=team.name,
                                            weeks=cycle.weeks)
    delivery.deliver(services, key=keys.cycle_reflection(cycle.id), kind="cycle_reflection",
                     recipient=team.channel_id, text=text, blocks=blocks)


def _require_cycle(session: Any, team: Team) -> Cycle:
    cycle = store.active_cycle(session, team_id=team.id or 0)
    if cycle is None:
        raise UserError("This team has no running cycle. Start one with `/plc cycle start`.")
    return cycle


# ---------------------------------------------------------------------------- the cycle modal
def _tell(services: Services, channel: str, user_id: str, text: str) -> None:
    """An ephemeral note after the modal has closed (a problem found once the write ran)."""
    try:
        services.slack.chat_postEphemeral(channel=channel, user=user_id, text=text)
    except Exception:
        log.exception("Failed to tell %s about a cycle change", user_id)


def on_cycle_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any], services: Services,
                    board: HomeBoard | None = None) -> None:
    """Validate the cycle form inline; start or update the cycle; plan its check-ins.

    Checked read-only and answered inline first, then the write (see `handlers.forms`), which
    checks the role and the one-open-cycle rule again inside its transaction.
    """
    user_id = body["user"]["id"]
    meta = _metadata(view)
    raw = form_values(view)

    def check(session: Session) -> tuple[Team, Cycle | None, rules.CycleValues]:
        team = session.get(Team, int(meta.get("team_id") or 0))
        actor = load_actor(session, user_id, admins=services.settings.admins)
        editing = session.get(Cycle, int(meta["cycle_id"])) if meta.get("cycle_id") else None
        running = store.active_cycle(session, team_id=team.id or 0) if team is not None else None
        if team is None or team.archived_at is not None:
            raise UserError("This team no longer exists.")
        require(actor, Action.MANAGE_CYCLE, team_id=team.id, school_id=team.school_id)
        if editing is not None and (editing.team_id != team.id or editing.status not in store.OPEN):
            raise UserError("That cycle has ended; start a new one with `/plc cycle start`.")
        if editing is None and running is not None:
            raise UserError(f"This team already has a running cycle, “{running.title[:80]}”. End it first.")
        hours = planner.rule_hours(planner.hours_for(services, team, session.get(School, team.school_id)))
        values, errors = rules.validate_cycle(
            rules.CycleInput(**{f: raw.get(f, "") for f in rules.CycleInput.__dataclass_fields__}),
            today=team_today(services, team), hours=hours,
            editing_start=editing.start_date if editing else None)
        if errors:
            raise forms.Invalid(errors)
        assert values is not None
        return team, editing, values

    def write(session: Session, checked: tuple[Team, Cycle | None, rules.CycleValues]) -> Cycle:
        team, editing, values = checked
        forms.require_again(session, services, user_id, Action.MANAGE_CYCLE, team_id=team.id,
                            school_id=team.school_id)
        if editing is not None:
            return store.update_cycle(session, cycle_id=editing.id or 0, values=values, actor=user_id,
                                      now=services.clock.now())
        return store.start_cycle(session, team_id=team.id or 0, values=values, created_by=user_id,
                                 now=services.clock.now())

    def failed(checked: tuple[Team, Cycle | None, rules.CycleValues], exc: Exception) -> None:
        channel = checked[0].channel_id
        if isinstance(exc, Forbidden):
            _tell(services, channel, user_id, f":no_entry: {exc}")
        elif isinstance(exc, store.CycleConflict):  # another submit (a double click, another facilitator) won
            _tell(services, channel, user_id, str(exc))
        else:
            log.exception("Failed to save a cycle", exc_info=exc)
            _tell(services, channel, user_id, OUR_FAULT)

    saved = forms.submit(ack, services, field="title", check=check, write=write, failed=failed,
                         unexpected="Failed to check a cycle form")
    if saved is None:
        return
    (team, editing, _), cycle = saved
    planner.plan_cycle(services, cycle.id or 0)
    text, blocks = render.cycle_started_text(cycle, by=user_id, edited=editing is not None)
    if editing is None:
        delivery.deliver(services, key=keys.cycle_started(cycle.id), kind="cycle_started",
                         recipient=team.channel_id, text=text, blocks=blocks)
    else:
        _announce(services, team.channel_id, text, change="edited", cycle_id=cycle.id)
    refresh_team_homes(services, board, team.id or 0, user_id)


# ---------------------------------------------------------------------------- the reflection
def on_reflect_open(ack: Ack, body: dict[str, Any], client: Any, respond: Any, services: Services) -> None:
    """"Fill in the reflection": facilitators record the team's answers."""
    ack()
    user_id = body["user"]["id"]
    try:
        cycle_id = int(body["actions"][0]["value"])
        with services.db.read() as session:
            cycle = session.get(Cycle, cycle_id)
            team = session.get(Team, cycle.team_id) if cycle else None
            actor = load_actor(session, user_id, admins=services.settings.admins)
            summary = store.cycle_summary(session, cycle=cycle) if cycle else None
        if cycle is None or team is None:
            raise UserError("That cycle no longer exists.")
        require(actor, Action.MANAGE_CYCLE, team_id=team.id, school_id=team.school_id)
        means = [w["mean"] for w in (summary or {}).get("weeks", []) if w["mean"] is not None]
        client.views_open(trigger_id=body["trigger_id"], view=render.reflection_modal(
            cycle_id=cycle_id, title=cycle.title, metric_name=cycle.metric_name,
            last_mean=means[-1] if means else None))
    except Forbidden as exc:
        respond(text=f":no_entry: {exc}", response_type="ephemeral", replace_original=False)
    except UserError as exc:
        respond(text=str(exc), response_type="ephemeral", replace_original=False)
    except Exception:
        log.exception("Failed to open the reflection")
        respond(text=OUR_FAULT, response_type="ephemeral", replace_original=False)


def on_reflection_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any], services: Services,
                         board: HomeBoard | None = None) -> None:
    """Store the reflection and close the cycle, keeping its summary."""
    user_id = body["user"]["id"]
    raw = form_values(view)
    errors: dict[str, str] = {}
    if raw.get("target_reached") not in ("yes", "partly", "no"):
        errors["target_reached"] = "Say whether the team reached the target."
    final = None
    if raw.get("final_value", "").strip():
        try:
            final = rules.parse_number(raw["final_value"])
        except ValueError:
            errors["final_value"] = "Give the final data point as a number, like 74."
    if not raw.get("learned", "").strip():
        errors["learned"] = "Write a line or two on what the team learned."
    for key in ("learned", "next_steps"):  # the modal's max_length; only a forged form sends more
        if len(raw.get(key, "").strip()) > REFLECTION_TEXT_MAX:
            errors[key] = f"Keep this under {REFLECTION_TEXT_MAX:,} characters."
    if errors:
        ack(response_action="errors", errors=errors)
        return
    now = services.clock.now()

    def check(session: Session) -> tuple[Team, Cycle]:
        cycle = session.get(Cycle, int(_metadata(view).get("cycle_id") or 0))
        team = session.get(Team, cycle.team_id) if cycle else None
        actor = load_actor(session, user_id, admins=services.settings.admins)
        if cycle is None or team is None:
            raise UserError("That cycle no longer exists.")
        require(actor, Action.MANAGE_CYCLE, team_id=team.id, school_id=team.school_id)
        return team, cycle

    def write(session: Session, checked: tuple[Team, Cycle]) -> bool:
        team, cycle = checked
        forms.require_again(session, services, user_id, Action.MANAGE_CYCLE, team_id=team.id,
                            school_id=team.school_id)
        store.save_reflection(session, cycle_id=cycle.id or 0, target_reached=raw["target_reached"],
                              final_value=final, learned=raw["learned"].strip(),
                              next_steps=raw.get("next_steps", "").strip(), user_id=user_id, now=now)
        fresh = session.get(Cycle, cycle.id)
        was_open = fresh is not None and fresh.status in store.OPEN
        if was_open:
            store.end_cycle(session, cycle_id=cycle.id or 0, now=now, actor=user_id)
        return was_open

    def failed(checked: tuple[Team, Cycle], exc: Exception) -> None:
        if isinstance(exc, Forbidden):
            _tell(services, checked[0].channel_id, user_id, f":no_entry: {exc}")
        else:
            log.exception("Failed to save a reflection", exc_info=exc)
            _tell(services, checked[0].channel_id, user_id, OUR_FAULT)

    saved = forms.submit(ack, services, field="target_reached", check=check, write=write, failed=failed,
                         unexpected="Failed to check a reflection")
    if saved is None:
        return
    (team, cycle), was_open = saved
    cycle_id = cycle.id or 0
    if was_open:
        planner.cancel_cycle_work(services, cycle_id)
    text, blocks = render.reflection_saved(title=cycle.title, by=user_id, reached=raw["target_reached"],
                                           final=final, unit=cycle.metric_unit, learned=raw["learned"].strip(),
                                           next_steps=raw.get("next_steps", "").strip())
    delivery.deliver(services, key=keys.cycle_closed(cycle_id), kind="cycle_closed", recipient=team.channel_id,
                     text=text, blocks=blocks)
    if was_open:
        refresh_team_homes(services, board, team.id or 0, user_id)


# ---------------------------------------------------------------------------- /plc break
def run_break(request: CommandRequest, services: Services) -> None:
    """`/plc break`: the school's breaks; principals add and remove them."""
    team = request.require_team()
    word, _, rest = request.args.partition(" ")
    word = word.lower()
    if word in ("", "list"):
        with services.db.read() as session:
            rows = store.breaks(session, school_id=team.school_id)
        if not rows:
            request.reply("No school breaks are set. Principals add them with "
                          "`/plc break add 2026-12-21 2027-01-01 Winter break`.")
            return
        lines = [f"`{b.id}` {b.starts_on:%a %b %-d, %Y} – {b.ends_on:%a %b %-d, %Y} {escape(b.label)}"
                 for b in rows]
        request.reply("*School breaks (no check-ins, no scheduled meetings):*\n" + "\n".join(lines))
        return
    require(request.actor, Action.EDIT_SCHOOL, team_id=team.id, school_id=team.school_id)
    today = team_today(services, team)
    if word == "add":
        parts = rest.split(" ", 2)
        try:
            start, finish = date.fromisoformat(parts[0]), date.fromisoformat(parts[1])
        except (ValueError, IndexError):
            raise UserError(f"Give the first and last day as dates: `{BREAK_USAGE}`.") from None
        problem = rules.validate_break(start, finish, today=today)
        if problem:
            raise UserError(problem)
        label = parts[2].strip() if len(parts) > 2 else ""
        now = services.clock.now()
        with services.db.session() as session:
            _, created = store.add_break(session, school_id=team.school_id, starts_on=start, ends_on=finish,
                                         label=label, created_by=request.user_id, now=now)
            skipped = meeting_store.apply_breaks(session, school_id=team.school_id, now=now)
        _refresh_posted(services, skipped)
        request.reply(f":palm_tree: {'Added' if created else 'Already there:'} a break "
                      f"{start:%a %b %-d} – {finish:%a %b %-d}: no check-ins for the school's teams, and their "
                      "scheduled meetings on those days are skipped (a meeting added by hand with "
                      "`/plc meeting add` is held).")
        return
    if word == "remove":
        try:
            break_id = int(rest.strip())
        except ValueError:
            raise UserError(f"Give the break's number from `/plc break`: `{BREAK_USAGE}`.") from None
        now = services.clock.now()
        with services.db.session() as session:
            removed = store.remove_break(session, school_id=team.school_id, break_id=break_id,
                                         actor=request.user_id, now=now)
            session.flush()
            back = meeting_store.apply_breaks(session, school_id=team.school_id, now=now) if removed else []
        _refresh_posted(services, back)
        request.reply("Removed that break: its days have check-ins and meetings again." if removed
                      else "There is no such break for this school.")
        return
    raise UserError(f"Use `{BREAK_USAGE}`.")


def _refresh_posted(services: Services, meetings: list[Meeting]) -> None:
    """An agenda already posted for a meeting a break now skips (or gives back) says so."""
    for meeting in meetings:
        if meeting.id is not None and meeting.agenda_ts:
            refresh_agenda(services, meeting.id)


def register(app: App, services: Services, wiring: Wiring) -> None:
    def cycle_command(request: CommandRequest, services_: Services) -> None:
        run_cycle(request, services_)
        if request.team is not None and request.args.split(" ", 1)[0].lower() in ("pause", "resume", "end"):
            refresh_team_homes(services_, wiring.home, request.team.id or 0, request.user_id)

    wiring.router.add("cycle", cycle_command, summary="the learning cycle: week, phase, goal and data so far",
                      usage="/plc cycle")
    wiring.router.detail("cycle", "/plc cycle start | edit", "start a 4-12 week cycle, or change it",
                         needs=Role.FACILITATOR)
    wiring.router.detail("cycle", "/plc cycle pause [until DATE] | resume | end", "pause, resume or end it",
                         needs=Role.FACILITATOR)
    wiring.router.add("break", run_break, summary="the school's breaks (no check-ins or scheduled meetings)",
                      usage="/plc break")
    wiring.router.detail("break", "/plc break add FROM TO [label] | remove ID", "add or remove a break",
                         needs=Role.PRINCIPAL)

    def cycle_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        on_cycle_submit(ack, body, view, services, wiring.home)

    def reflect_open(ack: Ack, body: dict[str, Any], client: Any, respond: Any) -> None:
        on_reflect_open(ack, body, client, respond, services)

    def reflection_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        on_reflection_submit(ack, body, view, services, wiring.home)

    app.view(render.CYCLE_MODAL)(cycle_submit)
    app.action(render.REFLECT_ACTION)(reflect_open)
    app.view(render.REFLECTION_MODAL)(reflection_submit)

