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

from slack_bolt import Ack, App
from sqlmodel import Session

from bot.render import cycles as render
from bot.render.mrkdwn import escape
from handlers import forms
from handlers.core import ActionResult
from handlers.core import cycles as core
from handlers.errors import OUR_FAULT, UserError
from handlers.home import HomeBoard, publish_home
from handlers.router import CommandRequest
from scheduling import checkins as planner
from scheduling import delivery
from storage import cycles as store
from storage.models import Cycle, School, Team
from storage.people import load_actor
from storage.rules import cycles as rules
from storage.rules.dates import parse_date
from storage.rules.roles import Action, Forbidden, Role, require
from storage.views.cycle_actions import CycleNote, CycleStarted, ReflectionPrompt, ReflectionSaved

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring

log = logging.getLogger("plcbot.cycles")

USAGE = ("/plc cycle [start | edit | pause [until DATE] | resume | end]")


team_today = core.team_today


def refresh_team_homes(services: Services, board: HomeBoard | None, user_ids: tuple[str, ...]) -> None:
    """The Home tab shows each team's cycle: republish it for those an action names."""
    if board is None:
        return
    for uid in user_ids:
        try:
            publish_home(services, board, uid)
        except Exception:
            log.exception("Failed to refresh the Home tab of %s after a cycle change", uid)


def render_notice(view: object) -> tuple[str, str, list[dict[str, Any]] | None]:
    """A cycle notice as Slack shows it: (ledger kind, text, blocks)."""
    if isinstance(view, CycleStarted):
        text, blocks = render.cycle_started_text(view.cycle, by=view.by, edited=view.edited)
        return ("cycle_note", text, None) if view.edited else ("cycle_started", text, blocks)
    if isinstance(view, CycleNote):
        if view.change == "paused":
            how = f"through {view.until:%a %b %-d}" if view.until else "until a facilitator runs `/plc cycle resume`"
            return "cycle_note", (f":double_vertical_bar: <@{view.by}> paused the learning cycle {how}: "
                                  "no check-ins meanwhile."), None
        return "cycle_note", f":arrow_forward: <@{view.by}> resumed the learning cycle.", None
    if isinstance(view, ReflectionPrompt):
        text, blocks = render.reflection_prompt(cycle_id=view.cycle_id, title=view.title, team_name=view.team_name,
                                                weeks=view.weeks)
        return "cycle_reflection", text, blocks
    if isinstance(view, ReflectionSaved):
        text, blocks = render.reflection_saved(title=view.title, by=view.by, reached=view.reached, final=view.final,
                                               unit=view.unit, learned=view.learned, next_steps=view.next_steps)
        return "cycle_closed", text, blocks
    raise TypeError(f"no Slack rendering for {type(view).__name__}")


def deliver_notices(services: Services, result: ActionResult, team: Team) -> None:
    """Send what an action owes the team's channel through the ledger (a retry never doubles it).

    A note of a change is best effort (logged when it fails); the rest raise like any delivery.
    """
    for notice in result.notices:
        kind, text, blocks = render_notice(notice.view)
        assert notice.key is not None
        recipient = notice.person or team.channel_id
        if kind != "cycle_note":
            delivery.deliver(services, key=notice.key, kind=kind, recipient=recipient, text=text, blocks=blocks)
            continue
        try:
            delivery.deliver(services, key=notice.key, kind=kind, recipient=recipient, text=text, blocks=blocks)
        except Exception:
            log.exception("Failed to tell the channel about a cycle change")


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
def run_cycle(request: CommandRequest, services: Services) -> ActionResult | None:
    """`/plc cycle …`: show the cycle, or change it (facilitators). Returns what a change did."""
    team = request.require_team()
    word, _, rest = request.args.partition(" ")
    word = word.lower()
    if word in ("", "status", "show"):
        show_status(request, services, team)
        return None
    require(request.actor, Action.MANAGE_CYCLE, team_id=team.id, school_id=team.school_id)
    if word == "start":
        open_form(request, services, team, editing=False)
        return None
    if word == "edit":
        open_form(request, services, team, editing=True)
        return None
    if word == "pause":
        return pause(request, services, team, rest.strip())
    if word == "resume":
        return resume(request, services, team)
    if word == "end":
        return end(request, services, team)
    raise UserError(f"I don't know `/plc cycle {word[:30]}`. Use `{USAGE}`.")


def show_status(request: CommandRequest, services: Services, team: Team) -> None:
    """`/plc cycle`: the core's status (members only), in Block Kit, to the caller alone."""
    text, blocks = render.cycle_status(core.status(services, request.actor, team=team))
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


def pause(request: CommandRequest, services: Services, team: Team, rest: str) -> ActionResult:
    until: date | None = None
    if rest:
        words = rest.split(" ", 1)
        if words[0].lower() != "until" or len(words) < 2:
            raise UserError("Use `/plc cycle pause` or `/plc cycle pause until DATE` (like `until Jan 4`).")
        try:
            until = parse_date(words[1], today=team_today(services, team))
        except ValueError as exc:
            raise UserError(str(exc)) from None
    result = core.pause(services, request.actor, team_id=team.id or 0, until=until)
    assert result.cycle is not None
    how = f"through {until:%a %b %-d}" if until else "until a facilitator runs `/plc cycle resume`"
    request.reply(f":double_vertical_bar: Paused “{escape(result.cycle.title)}” {how}. No check-ins meanwhile.")
    deliver_notices(services, result, team)
    return result


def resume(request: CommandRequest, services: Services, team: Team) -> ActionResult:
    result = core.resume(services, request.actor, team_id=team.id or 0)
    assert result.cycle is not None
    request.reply(f":arrow_forward: Resumed “{escape(result.cycle.title)}”. Check-ins continue on the usual day.")
    deliver_notices(services, result, team)
    return result


def end(request: CommandRequest, services: Services, team: Team) -> ActionResult:
    result = core.end(services, request.actor, team_id=team.id or 0)
    assert result.cycle is not None
    request.reply(f":checkered_flag: Ended “{escape(result.cycle.title)}”; its summary is kept. "
                  "Start the next one with `/plc cycle start`.")
    deliver_notices(services, result, team)
    return result


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
    fields = rules.CycleInput(**{f: raw.get(f, "") for f in rules.CycleInput.__dataclass_fields__})

    def check(session: Session) -> core.CycleChecked:
        actor = load_actor(session, user_id, admins=services.settings.admins)
        return core.check_cycle(session, services, actor, team_id=int(meta.get("team_id") or 0),
                                cycle_id=int(meta["cycle_id"]) if meta.get("cycle_id") else None, raw=fields)

    def write(session: Session, checked: core.CycleChecked) -> Cycle:
        return core.write_cycle(session, services, checked)

    def failed(checked: core.CycleChecked, exc: Exception) -> None:
        channel = checked.team.channel_id
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
    checked, cycle = saved
    result = core.cycle_saved(services, checked, cycle)
    deliver_notices(services, result, checked.team)
    refresh_team_homes(services, board, result.refresh_homes)


# ---------------------------------------------------------------------------- the reflection
def on_reflect_open(ack: Ack, body: dict[str, Any], client: Any, respond: Any, services: Services) -> None:
    """"Fill in the reflection": facilitators record the team's answers."""
    ack()
    user_id = body["user"]["id"]
    try:
        cycle_id = int(body["actions"][0]["value"])
        with services.db.read() as session:
            actor = load_actor(session, user_id, admins=services.settings.admins)
        form = core.reflection_form(services, actor, cycle_id=cycle_id)
        client.views_open(trigger_id=body["trigger_id"], view=render.reflection_modal(
            cycle_id=form.cycle_id, title=form.title, metric_name=form.metric_name, last_mean=form.last_mean))
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
    answers, errors = core.validate_reflection(target_reached=raw.get("target_reached", ""),
                                               final_value=raw.get("final_value", ""),
                                               learned=raw.get("learned", ""), next_steps=raw.get("next_steps", ""))
    if answers is None:
        ack(response_action="errors", errors=errors)
        return

    def check(session: Session) -> core.ReflectionChecked:
        actor = load_actor(session, user_id, admins=services.settings.admins)
        return core.check_reflection(session, actor, cycle_id=int(_metadata(view).get("cycle_id") or 0),
                                     answers=answers)

    def write(session: Session, checked: core.ReflectionChecked) -> bool:
        return core.write_reflection(session, services, checked)

    def failed(checked: core.ReflectionChecked, exc: Exception) -> None:
        if isinstance(exc, Forbidden):
            _tell(services, checked.team.channel_id, user_id, f":no_entry: {exc}")
        else:
            log.exception("Failed to save a reflection", exc_info=exc)
            _tell(services, checked.team.channel_id, user_id, OUR_FAULT)

    saved = forms.submit(ack, services, field="target_reached", check=check, write=write, failed=failed,
                         unexpected="Failed to check a reflection")
    if saved is None:
        return
    checked, was_open = saved
    result = core.reflection_saved(services, checked, was_open)
    deliver_notices(services, result, checked.team)
    refresh_team_homes(services, board, result.refresh_homes)


# ---------------------------------------------------------------------------- /plc break
def run_break(request: CommandRequest, services: Services) -> None:
    """`/plc break`: the school's breaks; principals add and remove them (`handlers.core.cycles.break_command`)."""
    team = request.require_team()
    done = core.break_command(services, request.actor, team=team, args=request.args,
                              code=lambda words: f"`/plc {escape(words)}`")
    if done.done == "added":
        request.reply(f":palm_tree: {done.reply}")
        return
    if done.done != "listed" or not done.breaks:
        request.reply(done.reply)
        return
    lines = [f"`{b.id}` {b.starts_on:%a %b %-d, %Y} – {b.ends_on:%a %b %-d, %Y} {escape(b.label)}"
             for b in done.breaks]
    request.reply("*School breaks (no check-ins, no scheduled meetings):*\n" + "\n".join(lines))


def register(app: App, services: Services, wiring: Wiring) -> None:
    def cycle_command(request: CommandRequest, services_: Services) -> None:
        result = run_cycle(request, services_)
        if result is not None:
            refresh_team_homes(services_, wiring.home, result.refresh_homes)

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

