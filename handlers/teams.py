"""Teams and schools in Slack: `/plc setup`, `/plc team`, `/plc school`, and channel membership.

A facilitator sets a team up in its channel with one modal; principals and admins keep the
school's settings and leaders. Every change is checked on the server against
`storage.rules.roles` (a refusal says who can), stored in one transaction and audited. When
someone joins a team's channel the facilitators get a one-click "Add to team"; someone who
leaves, or whose account Slack deactivates, stops getting prompts while their history stays.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, Respond
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.render import blocks as bk
from bot.render.mrkdwn import escape, user
from handlers.errors import OUR_FAULT, UserError
from handlers.router import CommandRequest
from scheduling.delivery import deliver
from scheduling.hours import parse_school_hours
from storage import teams as store
from storage.models import Cycle, Person, School, Team
from storage.people import ensure_people, load_actor, person_by_slack_id, team_for_channel
from storage.rules.roles import (
    WHO,
    Action,
    Actor,
    Forbidden,
    Role,
    allowed,
    may_create_team,
    require,
    require_grant,
)
from storage.rules.roster import WEEKDAYS, check_timezone, parse_minutes

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring

log = logging.getLogger("plcbot.teams")

SETUP_CALLBACK = "plc_setup"
SCHOOL_CALLBACK = "plc_school_edit"
ADD_MEMBER_ACTION = "plc_team_add_member"
DISMISS_ACTION = "plc_team_join_dismiss"
EDIT_SCHOOL_ACTION = "plc_school_edit_open"
V = "value"  # the action_id of every input element: block ids tell the fields apart

B_NAME, B_SCHOOL, B_MEMBERS, B_FACILITATORS = "team_name", "team_school", "team_members", "team_facilitators"
B_DAYS, B_TIME, B_LENGTH, B_TZ = "team_days", "team_time", "team_length", "team_tz"
S_TZ, S_SELF, S_DIGEST_DAY, S_DIGEST_TIME, S_HOURS = "school_tz", "school_self", "digest_day", "digest_time", "hours"
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
NOT_IN_CHANNEL = (":wave: I'm not in this channel yet, so I can't set a team up here. "
                  "Invite me with `/invite @plcbot`, then run `/plc setup` again.")
MAX_CHANNEL_MEMBERS = 200  # the members select starts with at most this many people


# ---------------------------------------------------------------------- pure builders


def schedule_text(weekdays: str, time: str | None, minutes: int, timezone: str) -> str:
    """"Thursdays at 15:30 for 45 minutes (America/New_York)", or what is missing."""
    days = [DAY_NAMES[WEEKDAYS.index(d)] + "s" for d in weekdays.split(",") if d in WEEKDAYS]
    if not days:
        return f"no regular meeting day yet ({escape(timezone)})"
    when = ", ".join(days[:-1]) + (" and " if len(days) > 1 else "") + days[-1]
    at = f" at {time}" if time else ""
    return f"{when}{at} for {minutes} minutes ({escape(timezone)})"


def people_line(user_ids: list[str], empty: str = "nobody yet") -> str:
    return ", ".join(user(u) for u in user_ids) if user_ids else empty


def team_blocks(*, team: Team, school: School, facilitator_ids: list[str], member_ids: list[str],
                principal_ids: list[str], cycle: Cycle | None) -> list[dict[str, Any]]:
    """What `/plc team` shows: who is in the team, who leads it, when it meets."""
    out = [
        bk.header(f"{team.name}"),
        bk.section(f"*School:* {escape(school.name)}\n*Meets:* "
                   + schedule_text(team.meeting_weekdays, team.meeting_time, team.meeting_minutes, team.timezone)),
        bk.section(f"*Facilitators:* {people_line(facilitator_ids)}"),
        bk.section(f"*Members ({len(member_ids)}):* {people_line(member_ids)}"),
        bk.section(f"*Principals:* {people_line(principal_ids, 'none named')}"),
    ]
    if cycle is not None:
        out.append(bk.section(f"*Current cycle:* {escape(cycle.title)}\n_{escape(cycle.goal)}_"))
    else:
        out.append(bk.context("No learning cycle is running yet."))
    return out


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False,
           hint: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "input", "block_id": block_id, "label": bk.plain(label, 2000),
                             "element": {**element, "action_id": V}, "optional": optional}
    if hint:
        block["hint"] = bk.plain(hint, 2000)
    return block


def _text_input(initial: str | None, *, max_length: int = 120, placeholder: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "max_length": max_length}
    if initial:
        element["initial_value"] = initial[:max_length]
    if placeholder:
        element["placeholder"] = bk.plain(placeholder, 150)
    return element


@dataclass
class SetupDefaults:
    """What the setup modal opens with (the team's values when it exists)."""

    channel_id: str
    team_id: int | None
    name: str
    schools: list[tuple[int, str]]  # schools the user may put the team in
    school_id: int | None
    members: list[str]
    facilitators: list[str]
    weekdays: str = ""
    time: str | None = None
    minutes: int = 45
    timezone: str = "America/New_York"
    principals: list[str] = field(default_factory=list)


def setup_modal(d: SetupDefaults) -> dict[str, Any]:
    """The team setup modal (create or edit); pure."""
    blocks: list[dict[str, Any]] = [_input(B_NAME, "Team name", _text_input(d.name, placeholder="Grade 3 Math"))]
    if d.team_id is None:
        options = [bk.option(name, str(sid)) for sid, name in d.schools[:100]]
        element: dict[str, Any] = {"type": "static_select", "options": options}
        chosen = next((o for o in options if o["value"] == str(d.school_id)), options[0] if options else None)
        if chosen is not None:
            element["initial_option"] = chosen
        blocks.append(_input(B_SCHOOL, "School", element))
    else:
        school = next((name for sid, name in d.schools if sid == d.school_id), "")
        blocks.append(bk.context(f"School: *{escape(school)}*"))
    blocks += [
        _input(B_MEMBERS, "Members", {"type": "multi_users_select", "initial_users": d.members[:100]},
               optional=True, hint="Teachers in the team; they get the check-ins. Facilitators are members too."),
        _input(B_FACILITATORS, "Facilitators", {"type": "multi_users_select",
                                                "initial_users": d.facilitators[:100]},
               hint="They run the team: members, norms, agendas, cycles."),
    ]
    day_options = [bk.option(DAY_NAMES[i], WEEKDAYS[i]) for i in range(7)]
    days: dict[str, Any] = {"type": "multi_static_select", "options": day_options}
    initial_days = [o for o in day_options if o["value"] in d.weekdays.split(",")]
    if initial_days:
        days["initial_options"] = initial_days
    blocks.append(_input(B_DAYS, "Meeting day(s)", days, optional=True))
    timepicker: dict[str, Any] = {"type": "timepicker"}
    if d.time:
        timepicker["initial_time"] = d.time
    blocks.append(_input(B_TIME, "Start time", timepicker, optional=True))
    blocks.append(_input(B_LENGTH, "Length (minutes)",
                         {"type": "number_input", "is_decimal_allowed": False, "initial_value": str(d.minutes)}))
    blocks.append(_input(B_TZ, "Time zone", _text_input(d.timezone, max_length=64),
                         hint="An IANA name such as America/Chicago."))
    blocks.append(bk.context(f"Principals: {people_line(d.principals, 'none named yet')} "
                             "(named by a plcbot admin; principals are not members unless added)."))
    meta = json.dumps({"c": d.channel_id, "t": d.team_id})
    return bk.modal(title="PLC team setup", blocks=blocks, callback_id=SETUP_CALLBACK,
                    submit="Save", private_metadata=meta)


def notice_modal(title: str, text: str) -> dict[str, Any]:
    return bk.modal(title=title, blocks=[bk.section(text)], callback_id="plc_notice", submit=None, close="Close")


@dataclass
class SetupForm:
    name: str
    school_id: int | None
    members: list[str]
    facilitators: list[str]
    weekdays: str
    time: str | None
    minutes: int
    timezone: str


def read_setup(values: dict[str, dict[str, dict[str, Any]]]) -> tuple[SetupForm | None, dict[str, str]]:
    """Parse the submitted setup modal; returns the form, or the inline errors by block id."""
    def get(block: str) -> dict[str, Any]:
        return (values.get(block) or {}).get(V) or {}

    errors: dict[str, str] = {}
    name = " ".join(str(get(B_NAME).get("value") or "").split())
    if not name:
        errors[B_NAME] = "Give the team a name."
    school_raw = (get(B_SCHOOL).get("selected_option") or {}).get("value")
    school_id = int(school_raw) if school_raw and str(school_raw).isdigit() else None
    facilitators = list(dict.fromkeys(get(B_FACILITATORS).get("selected_users") or []))
    if not facilitators:
        errors[B_FACILITATORS] = "A team needs at least one facilitator."
    members = list(dict.fromkeys(get(B_MEMBERS).get("selected_users") or []))
    days = [o.get("value") for o in get(B_DAYS).get("selected_options") or []]
    weekdays = ",".join(d for d in WEEKDAYS if d in days)
    time = get(B_TIME).get("selected_time") or None
    minutes = 0
    raw_length = str(get(B_LENGTH).get("value") or "").strip()
    try:
        minutes = parse_minutes(raw_length)
    except ValueError:
        errors[B_LENGTH] = "Give the length as a positive whole number of minutes, such as 45."
    timezone = str(get(B_TZ).get("value") or "").strip()
    try:
        check_timezone(timezone)
    except ValueError:
        errors[B_TZ] = f"'{timezone[:64]}' is not a time zone I know; use a name like America/Chicago."
    if errors:
        return None, errors
    return SetupForm(name, school_id, members, facilitators, weekdays, time, minutes, timezone), {}


def school_blocks(school: School, leader_ids: list[str], teams: list[Team], *, can_edit: bool,
                  default_hours: str) -> list[dict[str, Any]]:
    """What `/plc school` shows a principal or admin."""
    digest = f"{DAY_NAMES[school.digest_weekday % 7]}s at {school.digest_time}"
    out = [
        bk.header(school.name),
        bk.section(f"*Time zone:* {escape(school.timezone)}\n*Weekly digest:* {digest}\n"
                   f"*School hours:* {escape(school.school_hours or default_hours + ' (the default)')}\n"
                   f"*Self-service:* {'anyone may set up the first team' if school.self_service else 'off'}"),
        bk.section(f"*Principals and leaders:* {people_line(leader_ids, 'none named')}"),
        bk.section("*Teams:* " + (", ".join(f"{escape(t.name)} ({'<#' + t.channel_id + '>'})" for t in teams)
                                  or "none yet")),
    ]
    if can_edit:
        out.append(bk.actions(bk.button("Edit settings", EDIT_SCHOOL_ACTION, value=str(school.id))))
    out.append(bk.context("Admins: `/plc school principal add @person` · `/plc school principal remove @person`"))
    return out


def school_modal(school: School) -> dict[str, Any]:
    self_option = bk.option("Anyone may set up this school's first team", "self")
    checkbox: dict[str, Any] = {"type": "checkboxes", "options": [self_option]}
    if school.self_service:
        checkbox["initial_options"] = [self_option]
    day_options = [bk.option(DAY_NAMES[i], str(i)) for i in range(7)]
    blocks = [
        _input(S_TZ, "Time zone", _text_input(school.timezone, max_length=64)),
        _input(S_SELF, "Self-service", checkbox, optional=True),
        _input(S_DIGEST_DAY, "Digest day", {"type": "static_select", "options": day_options,
                                            "initial_option": day_options[school.digest_weekday % 7]}),
        _input(S_DIGEST_TIME, "Digest time", {"type": "timepicker", "initial_time": school.digest_time}),
        _input(S_HOURS, "School hours", _text_input(school.school_hours, max_length=64,
                                                    placeholder="Mon-Fri 07:00-18:00"),
               optional=True, hint="Leave empty for the district default. Nothing is sent outside these hours."),
    ]
    return bk.modal(title="School settings", blocks=blocks, callback_id=SCHOOL_CALLBACK,
                    private_metadata=json.dumps({"s": school.id}))


def read_school(values: dict[str, dict[str, dict[str, Any]]]) -> tuple[dict[str, Any], dict[str, str]]:
    def get(block: str) -> dict[str, Any]:
        return (values.get(block) or {}).get(V) or {}

    errors: dict[str, str] = {}
    tz = str(get(S_TZ).get("value") or "").strip()
    try:
        check_timezone(tz)
    except ValueError:
        errors[S_TZ] = f"'{tz[:64]}' is not a time zone I know; use a name like America/Chicago."
    hours = str(get(S_HOURS).get("value") or "").strip() or None
    if hours:
        try:
            parse_school_hours(hours)
        except ValueError as exc:
            errors[S_HOURS] = str(exc)[:150]
    day = (get(S_DIGEST_DAY).get("selected_option") or {}).get("value") or "0"
    values_out = {
        "timezone": tz,
        "self_service": any(o.get("value") == "self" for o in get(S_SELF).get("selected_options") or []),
        "digest_weekday": int(day) if str(day).isdigit() else 0,
        "digest_time": get(S_DIGEST_TIME).get("selected_time") or "07:00",
        "school_hours": hours,
    }
    return values_out, errors


def mentions(text: str) -> list[str]:
    """Slack user ids mentioned in command text (`<@U123|name>`), in order, without repeats."""
    return list(dict.fromkeys(_MENTION.findall(text or "")))


# ---------------------------------------------------------------------- Slack look-ups


def slack_people(services: Services, session: Session, user_ids: list[str]) -> tuple[dict[str, Person], list[str]]:
    """Person rows for these Slack users (users.info only for people not stored yet); bots left out."""
    known = {p.slack_user_id: p for p in session.exec(
        select(Person).where(col(Person.slack_user_id).in_(user_ids))).all()} if user_ids else {}
    fresh, skipped = [], []
    for uid in user_ids:
        if uid in known:
            continue
        try:
            info = services.slack.users_info(user=uid)["user"]
        except SlackApiError:
            skipped.append(uid)
            continue
        if info.get("is_bot") or info.get("deleted") or uid == "USLACKBOT":
            skipped.append(uid)
            continue
        profile = info.get("profile") or {}
        fresh.append((uid, str(info.get("real_name") or profile.get("real_name") or info.get("name") or uid),
                      profile.get("email") or None, info.get("tz") or None))
    known.update(ensure_people(session, fresh))
    return {uid: p for uid, p in known.items() if uid in user_ids}, skipped


def channel_humans(services: Services, channel_id: str) -> list[str]:
    """The channel's members who are people (conversations.members, then users.info for unknown ids)."""
    ids: list[str] = []
    cursor = None
    while len(ids) < MAX_CHANNEL_MEMBERS:
        response = services.slack.conversations_members(channel=channel_id, limit=200, cursor=cursor)
        ids += response.get("members") or []
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            break
    with services.db.read() as session:
        known = set(session.exec(select(Person.slack_user_id).where(col(Person.slack_user_id).in_(ids))).all())
    humans = []
    for uid in ids[:MAX_CHANNEL_MEMBERS]:
        if uid in known:
            humans.append(uid)
            continue
        try:
            info = services.slack.users_info(user=uid)["user"]
        except SlackApiError:
            continue
        if not info.get("is_bot") and not info.get("deleted") and uid != "USLACKBOT":
            humans.append(uid)
    return humans


def user_timezone(services: Services, user_id: str) -> str:
    with services.db.read() as session:
        person = person_by_slack_id(session, user_id)
        if person is not None and person.tz:
            return person.tz
    try:
        tz = services.slack.users_info(user=user_id)["user"].get("tz")
        return str(check_timezone(tz)) if tz else services.settings.timezone
    except (SlackApiError, ValueError):
        return services.settings.timezone


# ---------------------------------------------------------------------- /plc setup


def run_setup(request: CommandRequest, services: Services) -> None:
    """Open the team setup modal: create the channel's team, or edit it."""
    if request.channel_id.startswith("D"):
        raise UserError("Run `/plc setup` in your team's channel, not in a direct message.")
    team = request.team
    if team is not None:
        require(request.actor, Action.EDIT_TEAM, team_id=team.id, school_id=team.school_id)
        schools: list[tuple[int, str]] = []
    else:
        with services.db.read() as session:
            schools = [(s.id, s.name) for s in store.schools_for_new_team(session, request.actor) if s.id]
            any_school = bool(store.all_schools(session))
        if not schools:
            if not any_school:
                raise UserError("No school is set up yet. A plcbot admin creates one first with "
                                "`/plc school create School Name America/Chicago`.")
            raise UserError(f":no_entry: Only {WHO[Role.PRINCIPAL]} can create a team here. Ask your "
                            "principal, or ask them to turn on self-service for your school (`/plc school`).")
    opened = request.client.views_open(trigger_id=request.trigger_id, view=bk.loading_modal("PLC team setup"))
    view_id = opened["view"]["id"]
    try:
        info = services.slack.conversations_info(channel=request.channel_id)["channel"]
        in_channel = bool(info.get("is_member"))
    except SlackApiError as exc:
        if exc.response.get("error") not in ("channel_not_found", "not_in_channel"):
            raise
        in_channel = False
    if not in_channel:
        services.slack.views_update(view_id=view_id, view=notice_modal("PLC team setup", NOT_IN_CHANNEL))
        request.reply(NOT_IN_CHANNEL)
        return
    services.slack.views_update(view_id=view_id, view=setup_modal(_defaults(request, services, team, schools)))


def _defaults(request: CommandRequest, services: Services, team: Team | None,
              schools: list[tuple[int, str]]) -> SetupDefaults:
    if team is not None:
        assert team.id is not None
        with services.db.read() as session:
            roles = store.member_roles(session, team_id=team.id)
            school = store.school_by_id(session, school_id=team.school_id)
            principal_ids = [p.slack_user_id for p in store.principals(session, school_id=team.school_id)]
        return SetupDefaults(
            channel_id=team.channel_id, team_id=team.id, name=team.name,
            schools=[(team.school_id, school.name if school else "")], school_id=team.school_id,
            members=[u for u, r in roles.items()], facilitators=[u for u, r in roles.items() if r == "facilitator"],
            weekdays=team.meeting_weekdays, time=team.meeting_time, minutes=team.meeting_minutes,
            timezone=team.timezone, principals=principal_ids)
    channel_name = str(request.body.get("channel_name") or "")
    name = "" if channel_name in ("privategroup", "directmessage") else channel_name.replace("-", " ").title()
    with services.db.read() as session:
        principal_ids = [p.slack_user_id for p in store.principals(session, school_id=schools[0][0])]
    return SetupDefaults(
        channel_id=request.channel_id, team_id=None, name=name, schools=schools, school_id=schools[0][0],
        members=channel_humans(services, request.channel_id), facilitators=[request.user_id],
        timezone=user_timezone(services, request.user_id), principals=principal_ids)


def on_setup_submit(services: Services, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    """Check the setup modal (inline errors), then create or update the team in one transaction."""
    user_id = body["user"]["id"]
    form, errors = read_setup(view["state"]["values"])
    meta = json.loads(view.get("private_metadata") or "{}")
    channel_id = str(meta.get("c") or "")
    if form is None:
        ack(response_action="errors", errors=errors)
        return
    with services.db.read() as session:
        actor = load_actor(session, user_id, admins=services.settings.admins)
        team = team_for_channel(session, channel_id)
        problem = _check_setup(session, actor, team, form)
    if problem:
        ack(response_action="errors", errors=problem)
        return
    ack()
    try:
        text = _save_setup(services, actor, channel_id, form)
    except (Forbidden, UserError) as exc:
        text = f":no_entry: {exc}" if isinstance(exc, Forbidden) else str(exc)
    except IntegrityError:
        text = (f":warning: Another change to this team landed at the same moment, or the name "
                f"*{escape(form.name)}* was just taken. Nothing was saved; run `/plc setup` again.")
    except Exception:
        log.exception("Failed to save the team setup")
        text = OUR_FAULT
    _tell(services, channel_id, user_id, text)


def _check_setup(session: Session, actor: Actor, team: Team | None, form: SetupForm) -> dict[str, str]:
    """Role and name checks, as inline errors (empty: fine)."""
    if team is not None:
        assert team.id is not None
        if not allowed(actor, Action.EDIT_TEAM, team_id=team.id, school_id=team.school_id):
            return {B_NAME: f"Only {WHO[Role.FACILITATOR]} can change this team."}
        current = {u for u, r in store.member_roles(session, team_id=team.id).items() if r == "facilitator"}
        if set(form.facilitators) != current and not _may_name_facilitators(actor, team):
            return {B_FACILITATORS: f"Only {WHO[Role.FACILITATOR]} can change who facilitates."}
        school_id = team.school_id
    else:
        school = store.school_by_id(session, school_id=form.school_id) if form.school_id else None
        if school is None or school.id is None:
            return {B_SCHOOL: "Choose the team's school."}
        school_id = school.id
        if not may_create_team(actor, school_id=school.id, self_service=school.self_service,
                               school_has_teams=store.team_count(session, school_id=school.id) > 0):
            return {B_SCHOOL: f"Only {WHO[Role.PRINCIPAL]} can create a team in {school.name[:60]}."}
    clash = store.team_by_name(session, school_id=school_id, name=form.name,
                               exclude_team_id=team.id if team else None)
    if clash is not None:
        return {B_NAME: f"{clash.name[:60]} is already a team in this school; choose another name."}
    return {}


def _may_name_facilitators(actor: Actor, team: Team) -> bool:
    try:
        require_grant(actor, Role.FACILITATOR, team_id=team.id, school_id=team.school_id)
    except Forbidden:
        return False
    return True


def _save_setup(services: Services, actor: Actor, channel_id: str, form: SetupForm) -> str:
    now = services.clock.now()
    with services.db.session() as session:
        team = team_for_channel(session, channel_id)  # again, inside the write: a double submit edits
        if _check_setup(session, actor, team, form):
            raise UserError(":no_entry: Nothing was saved: the team changed while the form was open. "
                            "Run `/plc setup` again.")
        creating = team is None
        facilitators = list(form.facilitators)
        if creating and not allowed(actor, Action.CREATE_TEAM, school_id=form.school_id) \
                and actor.user_id not in facilitators:
            facilitators.append(actor.user_id)  # self-service: the creator leads the team
        everyone = list(dict.fromkeys([*facilitators, *form.members]))
        people, skipped = slack_people(services, session, everyone)
        roles = {uid: ("facilitator" if uid in facilitators else "member") for uid in everyone if uid in people}
        if not any(r == "facilitator" for r in roles.values()):
            raise UserError("Nothing was saved: none of the facilitators chosen is a person I can find in Slack.")
        school_id = team.school_id if team is not None else form.school_id
        assert school_id is not None
        team, changed = store.save_team(
            session, team=team, school_id=school_id, channel_id=channel_id, name=form.name,
            timezone=form.timezone, schedule=store.Schedule(form.weekdays, form.time, form.minutes),
            actor=actor.user_id)
        assert team.id is not None
        changes = store.replace_members(session, team_id=team.id, roles=roles, people=people,
                                        actor=actor.user_id, now=now)
        school = store.school_by_id(session, school_id=school_id)
    verb = "is set up" if creating else ("is updated" if changed or changes else "is unchanged")
    lines = [f":white_check_mark: *{escape(team.name)}* {verb}"
             + (f" in {escape(school.name)}" if school else "") + ".",
             "Meets " + schedule_text(team.meeting_weekdays, team.meeting_time, team.meeting_minutes, team.timezone)]
    if changes.added:
        lines.append(f"Added: {people_line(changes.added)}")
    if changes.removed:
        lines.append(f"No longer in the team: {people_line(changes.removed)} (their history stays)")
    if skipped:
        lines.append(f"Left out (bots or accounts I can't see): {people_line(skipped)}")
    return "\n".join(lines)


def _tell(services: Services, channel_id: str, user_id: str, text: str) -> None:
    """An ephemeral note in the channel, or a DM when the person is not in it."""
    try:
        services.slack.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
    except SlackApiError:
        try:
            services.slack.chat_postMessage(channel=user_id, text=text)
        except SlackApiError:
            log.warning("Could not tell %s about their change", user_id)


# ---------------------------------------------------------------------- /plc team


def run_team(request: CommandRequest, services: Services) -> None:
    """`/plc team` shows the team; `add`, `remove`, `facilitator add|remove`, `archive` change it."""
    team = request.require_team()
    assert team.id is not None
    word, _, rest = request.args.partition(" ")
    word = word.lower()
    if word in ("", "show"):
        request.reply(f"{team.name}", blocks=_team_view(services, team))
        return
    if word == "archive":
        require(request.actor, Action.ARCHIVE_TEAM, team_id=team.id, school_id=team.school_id)
        with services.db.session() as session:
            store.archive_team(session, team_id=team.id, actor=request.user_id, now=services.clock.now())
        request.reply(f":file_cabinet: *{escape(team.name)}* is archived. Its history is kept; nothing more "
                      "will be sent for it.")
        return
    role = "member"
    if word in ("facilitator", "facilitators"):
        role = "facilitator"
        word, _, rest = rest.partition(" ")
        word = word.lower()
    if word not in ("add", "remove"):
        raise UserError("Use `/plc team`, `/plc team add @person`, `/plc team remove @person`, "
                        "`/plc team facilitator add @person` or `/plc team archive`.")
    targets = mentions(rest)
    if not targets:
        raise UserError(f"Mention the people to {word}, like `/plc team {word} @name`.")
    if role == "facilitator":
        require_grant(request.actor, Role.FACILITATOR, team_id=team.id, school_id=team.school_id)
    else:
        require(request.actor, Action.EDIT_TEAM, team_id=team.id, school_id=team.school_id)
    request.reply(_change_members(services, request.actor, team, targets, role, remove=word == "remove"))


def _change_members(services: Services, actor: Actor, team: Team, targets: list[str], role: str, *,
                    remove: bool) -> str:
    assert team.id is not None
    now = services.clock.now()
    with services.db.session() as session:
        current = store.member_roles(session, team_id=team.id)
        leads = {u for u, r in current.items() if r == "facilitator"}
        if remove and leads & set(targets) and not leads - set(targets):
            raise UserError("A team needs at least one facilitator; name another one before removing this one.")
        people, skipped = slack_people(services, session, targets)
        done = []
        for uid, person in people.items():
            new_role: str | None = role
            if remove:  # a facilitator stepping down stays a member; a member removed leaves
                new_role = "member" if role == "facilitator" and uid in current else None
            outcome = store.set_membership(session, team_id=team.id, person=person, role=new_role,
                                           actor=actor.user_id, now=now)
            if outcome != "unchanged":
                done.append(uid)
    what = {("member", False): "added to the team", ("member", True): "removed from the team",
            ("facilitator", False): "now facilitating", ("facilitator", True): "no longer facilitating"}
    text = (f":white_check_mark: {people_line(done)} {what[(role, remove)]}." if done
            else "Nothing to change: they already were.")
    if skipped:
        text += f"\nLeft out (bots or accounts I can't see): {people_line(skipped)}"
    return text


def _team_view(services: Services, team: Team) -> list[dict[str, Any]]:
    assert team.id is not None
    with services.db.read() as session:
        school = store.school_by_id(session, school_id=team.school_id)
        members = store.active_members(session, team_id=team.id)
        facilitator_ids = [p.slack_user_id for p in store.facilitators(session, team_id=team.id)]
        principal_ids = [p.slack_user_id for p in store.principals(session, school_id=team.school_id)]
        cycle = session.exec(select(Cycle).where(Cycle.team_id == team.id, Cycle.status != "ended")
                             .order_by(col(Cycle.start_date).desc())).first()
    assert school is not None
    return bk.fit(team_blocks(team=team, school=school, facilitator_ids=facilitator_ids,
                              member_ids=[p.slack_user_id for p in members], principal_ids=principal_ids,
                              cycle=cycle), bk.MESSAGE_BLOCKS_MAX)


# ---------------------------------------------------------------------- /plc school


def run_school(request: CommandRequest, services: Services) -> None:
    """`/plc school` shows and edits the school; admins `create` schools and name `principal`s."""
    word, _, rest = request.args.partition(" ")
    word = word.lower()
    if word == "create":
        _create_school(request, services, rest)
        return
    if word in ("principal", "principals", "leader"):
        action, _, rest = rest.partition(" ")
        if action.lower() not in ("add", "remove"):
            raise UserError("Use `/plc school principal add @person` or `/plc school principal remove @person`.")
        _name_principals(request, services, rest, remove=action.lower() == "remove")
        return
    school = _which_school(request, services, rest if word not in ("", "edit", "show") else "")
    assert school.id is not None
    require(request.actor, Action.EDIT_SCHOOL, school_id=school.id)
    if word == "edit":
        request.client.views_open(trigger_id=request.trigger_id, view=school_modal(school))
        return
    with services.db.read() as session:
        leader_ids = store.leader_ids(session, school_id=school.id)
        teams = list(session.exec(select(Team).where(Team.school_id == school.id, col(Team.archived_at).is_(None))
                                  .order_by(col(Team.name))).all())
    request.reply(school.name, blocks=school_blocks(school, leader_ids, teams, can_edit=True,
                                                     default_hours=services.settings.school_hours))


def _which_school(request: CommandRequest, services: Services, name: str) -> School:
    """The school a command means: named, the channel's team's, or the only one the caller leads."""
    with services.db.read() as session:
        if name.strip():
            school = store.school_by_name(session, name=name)
            if school is None:
                raise UserError(f"There is no school called *{escape(name.strip()[:80])}*.")
            return school
        if request.team is not None:
            found = store.school_by_id(session, school_id=request.team.school_id)
            assert found is not None
            return found
        led = [s for s in store.all_schools(session) if s.id in request.actor.principal_of]
        if len(led) == 1:
            return led[0]
        everything = store.all_schools(session)
        if len(everything) == 1 and request.actor.is_admin:
            return everything[0]
    if not everything:
        raise UserError("No school is set up yet. An admin creates one with "
                        "`/plc school create School Name America/Chicago`.")
    raise UserError("Which school? Run this in one of its teams' channels, or add its name: "
                    "`/plc school principal add @person in School Name`, `/plc school School Name`.")


def _create_school(request: CommandRequest, services: Services, rest: str) -> None:
    require(request.actor, Action.CREATE_SCHOOL)
    words = rest.split()
    timezone = services.settings.timezone
    if words and "/" in words[-1]:
        try:
            timezone = check_timezone(words[-1])
        except ValueError as exc:
            raise UserError(f"{escape(str(exc))}. Nothing was created.") from None
        words = words[:-1]
    name = " ".join(words)
    if not name:
        raise UserError("Give the school's name and time zone: "
                        "`/plc school create Lincoln Elementary America/Chicago`.")
    if len(name) > 200:
        raise UserError("That name is too long (200 characters at most).")
    with services.db.session() as session:
        if store.school_by_name(session, name=name) is not None:
            raise UserError(f"*{escape(name)}* already exists; nothing was created.")
        store.create_school(session, name=name, timezone=timezone, actor=request.user_id)
    request.reply(f":school: *{escape(name)}* is created ({escape(timezone)}). Name its principals with "
                  f"`/plc school principal add @person in {escape(name)}`.")


def _name_principals(request: CommandRequest, services: Services, rest: str, *, remove: bool) -> None:
    targets = mentions(rest)
    school_name = rest.split(" in ", 1)[1] if " in " in rest else ""
    # The check comes before anything else is looked at: refusals must not depend on the input.
    require(request.actor, Action.NAME_PRINCIPAL)
    if not targets:
        raise UserError("Mention the people, like `/plc school principal add @name`.")
    school = _which_school(request, services, school_name)
    assert school.id is not None
    require_grant(request.actor, Role.PRINCIPAL, school_id=school.id)
    changed = []
    with services.db.session() as session:
        people, skipped = slack_people(services, session, targets)
        for uid, person in people.items():
            assert person.id is not None
            if remove:
                did = store.remove_leader(session, school_id=school.id, person_id=person.id, actor=request.user_id)
            else:
                did = store.add_leader(session, school_id=school.id, person_id=person.id, actor=request.user_id)
            if did:
                changed.append(uid)
    verb = "no longer a principal of" if remove else "now a principal of"
    text = (f":white_check_mark: {people_line(changed)} {'are' if len(changed) > 1 else 'is'} {verb} "
            f"*{escape(school.name)}*." if changed else "Nothing to change: they already were.")
    if skipped:
        text += f"\nLeft out (bots or accounts I can't see): {people_line(skipped)}"
    request.reply(text)


def on_school_edit_open(services: Services, ack: Ack, body: dict[str, Any], client: Any, respond: Respond) -> None:
    """The "Edit settings" button under `/plc school`."""
    ack()
    user_id = body["user"]["id"]
    raw = str(body["actions"][0].get("value") or "")
    school_id = int(raw) if raw.isdigit() and len(raw) < 10 else 0
    with services.db.read() as session:
        actor = load_actor(session, user_id, admins=services.settings.admins)
        school = store.school_by_id(session, school_id=school_id)
    if school is None:
        respond(text="That school no longer exists.", response_type="ephemeral", replace_original=False)
        return
    try:
        require(actor, Action.EDIT_SCHOOL, school_id=school_id)
    except Forbidden as exc:
        respond(text=f":no_entry: {exc}", response_type="ephemeral", replace_original=False)
        return
    client.views_open(trigger_id=body["trigger_id"], view=school_modal(school))


def on_school_submit(services: Services, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    """Check and save the school settings modal."""
    user_id = body["user"]["id"]
    values, errors = read_school(view["state"]["values"])
    if errors:
        ack(response_action="errors", errors=errors)
        return
    school_id = int(json.loads(view.get("private_metadata") or "{}").get("s") or 0)
    with services.db.session() as session:
        actor = load_actor(session, user_id, admins=services.settings.admins)
        if not allowed(actor, Action.EDIT_SCHOOL, school_id=school_id):
            ack(response_action="errors", errors={S_TZ: f"Only {WHO[Role.PRINCIPAL]} can change these settings."})
            return
        store.update_school(session, school_id=school_id, actor=user_id, **values)
    ack()


# ---------------------------------------------------------------------- channel membership


def join_prompt(team: Team, user_id: str) -> tuple[str, list[dict[str, Any]]]:
    """The DM a facilitator gets when someone joins the team's channel; pure."""
    text = f"{user(user_id)} joined <#{team.channel_id}>. Add them to {escape(team.name)}?"
    value = json.dumps({"t": team.id, "u": user_id})
    return text, [
        bk.section(text + "\nMembers get the team's check-ins and meeting prompts."),
        bk.actions(bk.button("Add to team", ADD_MEMBER_ACTION, value=value, style="primary"),
                   bk.button("Not now", DISMISS_ACTION, value=value)),
    ]


def on_member_joined(services: Services, event: dict[str, Any]) -> None:
    """Someone joined a team's channel: offer each facilitator a one-click "Add to team"."""
    user_id, channel_id = event.get("user", ""), event.get("channel", "")
    with services.db.read() as session:
        team = team_for_channel(session, channel_id)
        if team is None or team.id is None:
            return
        if user_id in store.member_roles(session, team_id=team.id):
            return
        leads = [p.slack_user_id for p in store.facilitators(session, team_id=team.id)] or \
            [p.slack_user_id for p in store.principals(session, school_id=team.school_id)]
    try:
        info = services.slack.users_info(user=user_id)["user"]
    except SlackApiError:
        return
    if info.get("is_bot") or info.get("deleted"):
        return
    text, blocks = join_prompt(team, user_id)
    stamp = event.get("event_ts") or ""
    for lead in leads:
        deliver(services, key=f"team_join:{team.id}:{user_id}:{lead}:{stamp}"[:200], kind="team_join",
                recipient=lead, text=text, blocks=blocks)


def on_add_member(services: Services, ack: Ack, body: dict[str, Any], respond: Respond) -> None:
    """The "Add to team" button: the clicker must be allowed to change the team."""
    ack()
    team_id, target = _join_value(str(body["actions"][0].get("value") or ""))
    clicker = body["user"]["id"]
    with services.db.read() as session:
        actor = load_actor(session, clicker, admins=services.settings.admins)
        team = store.team_by_id(session, team_id=team_id) if team_id else None
    if team is None or team.archived_at is not None or not target:
        respond(text="That button is out of date: the team no longer exists.", response_type="ephemeral",
                replace_original=False)
        return
    try:
        require(actor, Action.EDIT_TEAM, team_id=team.id, school_id=team.school_id)
    except Forbidden as exc:
        respond(text=f":no_entry: {exc}", response_type="ephemeral", replace_original=False)
        return
    try:
        text = _change_members(services, actor, team, [target], "member", remove=False)
    except Exception:
        log.exception("Failed to add a member from the join prompt")
        respond(text=OUR_FAULT, response_type="ephemeral", replace_original=False)
        return
    if text.startswith("Nothing"):
        text = f"{user(target)} is already in {escape(team.name)}."
    respond(text=text, replace_original=True)


def _join_value(raw: str) -> tuple[int, str]:
    """(team id, user id) from an "Add to team" button, or (0, "") for anything else."""
    try:
        data = json.loads(raw)
    except ValueError:
        return 0, ""
    if not isinstance(data, dict):
        return 0, ""
    team_id, target = data.get("t"), str(data.get("u") or "")
    if not isinstance(team_id, int) or not re.fullmatch(r"[UW][A-Z0-9]+", target):
        return 0, ""
    return team_id, target


def on_dismiss(ack: Ack, respond: Respond) -> None:
    ack()
    respond(text="OK, not added. They can be added any time with `/plc team add @name`.", replace_original=True)


def on_member_left(services: Services, event: dict[str, Any]) -> None:
    """Someone left a team's channel: membership inactive, history kept."""
    user_id, channel_id = event.get("user", ""), event.get("channel", "")
    with services.db.session() as session:
        team = team_for_channel(session, channel_id)
        if team is None or team.id is None:
            return
        store.leave_team(session, team_id=team.id, slack_user_id=user_id, actor="slack:member_left_channel",
                         now=services.clock.now())


def on_user_change(services: Services, event: dict[str, Any]) -> None:
    """Slack deactivated (or restored) an account: prompts stop (or resume); nothing is deleted."""
    info = event.get("user") or {}
    uid = str(info.get("id") or "")
    if not uid:
        return
    with services.db.session() as session:
        if person_by_slack_id(session, uid) is None:
            return
        store.set_person_active(session, slack_user_id=uid, active=not info.get("deleted"),
                                actor="slack:user_change")


# ---------------------------------------------------------------------- wiring


def register(app: App, services: Services, wiring: Wiring) -> None:
    wiring.router.add("setup", run_setup, summary="set up this channel's PLC team, or change it",
                      usage="/plc setup")
    wiring.router.add("team", run_team, summary="who is in this team, and when it meets", usage="/plc team")
    wiring.router.detail("team", "/plc team add | remove @person", "change the team's members",
                         needs=Role.FACILITATOR)
    wiring.router.detail("team", "/plc team facilitator add | remove @person", "name or remove a facilitator",
                         needs=Role.FACILITATOR)
    wiring.router.detail("team", "/plc team archive", "archive this team", needs=Role.PRINCIPAL)
    wiring.router.add("school", run_school, summary="the school's settings and principals",
                      usage="/plc school [edit | principal add @person]", needs=Role.PRINCIPAL)

    def setup_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        on_setup_submit(services, ack, body, view)

    def school_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        on_school_submit(services, ack, body, view)

    def school_edit(ack: Ack, body: dict[str, Any], client: Any, respond: Respond) -> None:
        on_school_edit_open(services, ack, body, client, respond)

    def add_member(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        on_add_member(services, ack, body, respond)

    def _event(fn: Any) -> Any:
        def listener(event: dict[str, Any]) -> None:
            try:
                fn(services, event)
            except Exception:
                log.exception("Failed to handle %s", event.get("type"))
        return listener

    app.view(SETUP_CALLBACK)(setup_submit)
    app.view(SCHOOL_CALLBACK)(school_submit)
    app.action(EDIT_SCHOOL_ACTION)(school_edit)
    app.action(ADD_MEMBER_ACTION)(add_member)
    app.action(DISMISS_ACTION)(on_dismiss)
    app.event("member_joined_channel")(_event(on_member_joined))
    app.event("member_left_channel")(_event(on_member_left))
    app.event("user_change")(_event(on_user_change))
