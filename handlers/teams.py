"""Teams and schools in Slack: `/plc setup`, `/plc team`, `/plc school`, and channel membership.

A facilitator sets a team up in its channel with one modal; principals and admins keep the
school's settings and leaders. Every change is checked on the server against
`storage.rules.roles` (a refusal says who can), stored in one short transaction and audited.
Slack is asked first (who a user is, whether the bot is in the channel), never while the
database's write lock is held, and a modal is acknowledged before anything is written. When
someone joins a team's channel the facilitators get a one-click "Add to team"; someone who
leaves, or whose account Slack deactivates, stops getting prompts while their history stays.
Everyone whose membership changes gets their Home tab refreshed. The Block Kit lives in
`bot.render.teams`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, Respond
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.render import blocks as bk
from bot.render.mrkdwn import escape, user
from bot.render.teams import (  # noqa: F401  (the ids and builders are part of this feature's surface)
    ADD_MEMBER_ACTION,
    B_DAYS,
    B_FACILITATORS,
    B_LENGTH,
    B_MEMBERS,
    B_NAME,
    B_SCHOOL,
    B_SHARE,
    B_TIME,
    B_TZ,
    DISMISS_ACTION,
    EDIT_SCHOOL_ACTION,
    NOT_IN_CHANNEL,
    S_DIGEST_DAY,
    S_DIGEST_TIME,
    S_HOURS,
    S_SELF,
    S_TZ,
    SCHOOL_BLOCKS,
    SCHOOL_CALLBACK,
    SETUP_CALLBACK,
    SHARE_NAMES,
    SetupDefaults,
    SetupForm,
    V,
    join_prompt,
    join_value,
    mentions,
    notice_modal,
    people_line,
    read_setup,
    schedule_text,
    school_blocks,
    school_id_of,
    school_modal,
    school_typed,
    setup_modal,
    share_names_notice,
    team_blocks,
)
from handlers import forms
from handlers.core import schools as core_schools
from handlers.core import teams as core
from handlers.dm_reply import interaction_id, tell_by_dm
from handlers.errors import OUR_FAULT, Invalid, UserError
from handlers.home import HomeBoard, publish_home
from handlers.router import CommandRequest
from scheduling import keys
from scheduling.delivery import deliver
from storage import teams as store
from storage.models import Cycle, Person, School, Team
from storage.people import load_actor, person_by_slack_id, team_for_channel
from storage.rules.agenda import RuleError
from storage.rules.roles import (
    WHO,
    Action,
    Actor,
    Forbidden,
    Role,
    allowed,
    require,
)
from storage.rules.roster import check_timezone
from storage.views.team_actions import MembersChanged, ShareNamesChanged

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring

log = logging.getLogger("plcbot.teams")

MAX_CHANNEL_MEMBERS = 200  # the members select starts with at most this many people
HOME_REFRESH_MAX = 60  # Home tabs refreshed after one change (views.publish is Tier 4)
LAST_FACILITATOR = core.LAST_FACILITATOR

Profile = core.Profile  # (slack id, name, email, tz) for ensure_people


def school_input(values: dict[str, dict[str, dict[str, Any]]]) -> core_schools.SettingsInput:
    """The school settings modal as the core reads it (`handlers.core.schools.read_settings`)."""
    return core_schools.SettingsInput(**school_typed(values))


def school_errors(errors: dict[str, str]) -> dict[str, str]:
    """The core's errors (by field) on the modal's blocks."""
    return {SCHOOL_BLOCKS.get(name, S_TZ): message for name, message in errors.items()}


def read_school(values: dict[str, dict[str, dict[str, Any]]]) -> tuple[dict[str, Any], dict[str, str]]:
    """The school settings modal's values and inline errors, by block (the core's reading)."""
    found, errors = core_schools.read_settings(school_input(values))
    return found, school_errors(errors)


# ---------------------------------------------------------------------- Slack look-ups (no transaction open)


def lookup_people(services: Services, user_ids: list[str]) -> tuple[list[Profile], list[str]]:
    """Slack profiles of the users not stored yet, and the ids left out (bots, deactivated, unknown).

    Called before any write transaction opens: `users.info` may be slow or rate limited, and
    SQLite's write lock must not wait on Slack.
    """
    if not user_ids:
        return [], []
    with services.db.read() as session:
        known = set(session.exec(select(Person.handle).where(col(Person.handle).in_(user_ids))).all())
    fresh: list[Profile] = []
    skipped: list[str] = []
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
        fresh.append((uid, str(info.get("real_name") or profile.get("real_name") or info.get("name") or uid)[:200],
                      (profile.get("email") or None), info.get("tz") or None))
    return fresh, skipped


def stored_people(session: Session, user_ids: list[str], fresh: list[Profile], *,
                  now: datetime) -> dict[str, Person]:
    """Person rows for `user_ids` inside the write: the ones looked up are created, the rest read."""
    return core.stored_people(session, user_ids, fresh, now=now)


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
    ids = ids[:MAX_CHANNEL_MEMBERS]
    fresh, _ = lookup_people(services, ids)
    with services.db.read() as session:
        known = set(session.exec(select(Person.handle).where(col(Person.handle).in_(ids))).all())
    people = known | {uid for uid, *_ in fresh}
    return [uid for uid in ids if uid in people]


def bot_in_channel(services: Services, channel_id: str) -> bool:
    try:
        info = services.slack.conversations_info(channel=channel_id)["channel"]
    except SlackApiError as exc:
        if exc.response.get("error") not in ("channel_not_found", "not_in_channel"):
            raise
        return False
    return bool(info.get("is_member"))


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


def refresh_homes(services: Services, board: HomeBoard | None, user_ids: Iterable[str]) -> None:
    """Republish the Home tab of everyone a change touched (their teams or roles changed)."""
    if board is None:
        return
    for uid in list(dict.fromkeys(user_ids))[:HOME_REFRESH_MAX]:
        try:
            publish_home(services, board, uid)
        except Exception:
            log.exception("Failed to refresh a Home tab after a team change")


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
            any_school = bool(schools) or bool(store.all_schools(session))
        if not schools:
            if not any_school:
                raise UserError("No school is set up yet. A plcbot admin creates one first with "
                                "`/plc school create School Name America/Chicago`.")
            raise UserError(f":no_entry: Only {WHO[Role.PRINCIPAL]} can create a team here. Ask your "
                            "principal, or ask them to turn on self-service for your school (`/plc school`).")
    opened = request.client.views_open(trigger_id=request.trigger_id, view=bk.loading_modal("PLC team setup"))
    view_id = opened["view"]["id"]
    try:
        in_channel = bot_in_channel(services, request.channel_id)
        if not in_channel:
            services.slack.views_update(view_id=view_id, view=notice_modal("PLC team setup", NOT_IN_CHANNEL))
            request.reply(NOT_IN_CHANNEL)
            return
        services.slack.views_update(view_id=view_id, view=setup_modal(_defaults(request, services, team, schools)))
    except Exception:
        # The loading modal must not spin for ever: say what happened where the user is looking.
        log.exception("Failed to open the setup modal")
        services.slack.views_update(view_id=view_id, view=notice_modal("PLC team setup", OUR_FAULT))


def _defaults(request: CommandRequest, services: Services, team: Team | None,
              schools: list[tuple[int, str]]) -> SetupDefaults:
    if team is not None:
        assert team.id is not None
        with services.db.read() as session:
            roles = store.member_roles(session, team_id=team.id)
            school = store.school_by_id(session, school_id=team.school_id)
            principal_ids = [p.handle for p in store.principals(session, school_id=team.school_id)]
        return SetupDefaults(
            channel_id=team.channel_id, team_id=team.id, name=team.name,
            schools=[(team.school_id, school.name if school else "")], school_id=team.school_id,
            members=list(roles), facilitators=[u for u, r in roles.items() if r == "facilitator"],
            weekdays=team.meeting_weekdays, time=team.meeting_time, minutes=team.meeting_minutes,
            timezone=team.timezone, principals=principal_ids, share_names=team.share_names_with_principal)
    channel_name = str(request.body.get("channel_name") or "")
    name = "" if channel_name in ("privategroup", "directmessage") else channel_name.replace("-", " ").title()
    with services.db.read() as session:
        principal_ids = [p.handle for p in store.principals(session, school_id=schools[0][0])]
    # A principal who sets a team up is not made its facilitator (and so a member getting
    # check-ins) by default; a teacher creating a self-service school's first team leads it.
    leads = [] if allowed(request.actor, Action.CREATE_TEAM, school_id=schools[0][0]) else [request.user_id]
    return SetupDefaults(
        channel_id=request.channel_id, team_id=None, name=name, schools=schools, school_id=schools[0][0],
        members=channel_humans(services, request.channel_id), facilitators=leads,
        timezone=user_timezone(services, request.user_id), principals=principal_ids)


def on_setup_submit(services: Services, ack: Ack, body: dict[str, Any], view: dict[str, Any],
                    board: HomeBoard | None = None) -> None:
    """Check the setup modal (inline errors), acknowledge, then create or update the team."""
    user_id = body["user"]["id"]
    form, errors = read_setup(view["state"]["values"])
    if form is None:
        ack(response_action="errors", errors=errors)
        return
    channel_id, opened_to_create = _setup_meta(view)
    if not channel_id:
        ack(response_action="errors", errors={
            B_NAME: "This form is out of date; run `/plc setup` in the team's channel again."})
        return
    try:
        with services.db.read() as session:
            actor = load_actor(session, user_id, admins=services.settings.admins)
            team = team_for_channel(session, channel_id)
            setup = _setup_input(channel_id, form, creating=team is None or opened_to_create)
            core.check_setup(session, actor, setup)
    except RuleError as exc:
        ack(response_action="errors", errors={SETUP_FIELDS.get(exc.field or "", B_NAME): str(exc)})
        return
    ack()
    changed: list[str] = []
    try:
        text, changed = _save_setup(services, actor, setup)
    except (Forbidden, core.SetupStale, UserError) as exc:
        text = f":no_entry: {exc}" if isinstance(exc, (Forbidden, core.SetupStale)) else str(exc)
    except IntegrityError:
        text = (f":warning: Another change to this team landed at the same moment, or the name "
                f"*{escape(form.name)}* was just taken. Nothing was saved; run `/plc setup` again.")
    except Exception:
        log.exception("Failed to save the team setup")
        text = OUR_FAULT
    _tell(services, channel_id, user_id, text, request_id=interaction_id(body))
    refresh_homes(services, board, changed)


# The set-up form's fields a refusal is shown on, by the core's names for them.
SETUP_FIELDS = {core.F_NAME: B_NAME, core.F_SCHOOL: B_SCHOOL, core.F_FACILITATORS: B_FACILITATORS}


def _setup_input(channel_id: str, form: SetupForm, *, creating: bool) -> core.TeamSetup:
    return core.TeamSetup(place=channel_id, name=form.name, school_id=form.school_id, members=list(form.members),
                          facilitators=list(form.facilitators), weekdays=form.weekdays, time=form.time,
                          minutes=form.minutes, timezone=form.timezone, share_names=form.share_names,
                          creating=creating)


def _setup_meta(view: dict[str, Any]) -> tuple[str, bool]:
    """The channel a setup modal is for ("" when missing or forged), and whether it was opened to
    create the team (then a double submit that finds the team made keeps its creator leading it)."""
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return "", False
    if not isinstance(meta, dict):
        return "", False
    channel = str(meta.get("c") or "")
    channel = channel if channel[:1] in ("C", "G") and len(channel) <= 32 else ""
    return channel, meta.get("t") is None


def _save_setup(services: Services, actor: Actor, setup: core.TeamSetup) -> tuple[str, list[str]]:
    """Ask Slack what is needed, then save the set-up (the core action) in one short transaction.

    Returns the confirmation and the Slack ids whose membership changed (for their Home tabs).
    """
    if setup.creating and not bot_in_channel(services, setup.place):
        raise UserError(NOT_IN_CHANNEL)  # removed since the modal opened, or a forged channel
    _, everyone = core.setup_people(actor, setup)
    fresh, skipped = lookup_people(services, everyone)
    now = services.clock.now()
    with services.db.session() as session:
        actor = load_actor(session, actor.handle, admins=services.settings.admins)
        result = core.write_setup(session, actor, setup, fresh=fresh, skipped=skipped, now=now)
    for notice in result.notices:
        if isinstance(notice.view, ShareNamesChanged):
            _announce_share_names(services, notice, setup.place)
    saved = result.view
    assert saved is not None
    lines = [f":white_check_mark: *{escape(saved.team_name)}* {saved.verb}"
             + (f" in {escape(saved.school_name)}" if saved.school_name is not None else "") + ".",
             "Meets " + schedule_text(saved.weekdays, saved.time, saved.minutes, saved.timezone)]
    if saved.added:
        lines.append(f"Added: {people_line(saved.added)}")
    if saved.removed:
        lines.append(f"No longer in the team: {people_line(saved.removed)} (their history stays)")
    if saved.skipped:
        lines.append(f"Left out (bots or accounts I can't see): {people_line(saved.skipped)}")
    return "\n".join(lines), list(result.refresh_homes)


def _announce_share_names(services: Services, notice: core.Notice, channel_id: str) -> None:
    """One line in the team's channel when "Share names with the school's principals" changes:
    teachers must know who reads their answers by name. Ledgered: the change happens once (a
    double submit finds nothing to change), and the key names it, so it is posted once."""
    change = notice.view
    assert isinstance(change, ShareNamesChanged) and notice.key is not None
    text = share_names_notice(actor=change.actor, team_name=change.team_name, shared=change.shared)
    try:
        deliver(services, key=notice.key, kind="team_share_names", recipient=channel_id, text=text)
    except Exception:  # noqa: BLE001 - the setting is saved and audited; the note is best effort
        log.exception("Could not tell team %s that sharing names changed", notice.team_id)


def _tell(services: Services, channel_id: str, user_id: str, text: str, *, request_id: str) -> None:
    """How a submitted form went: an ephemeral note in the channel, or, when the person is not in it
    (or the form has no channel), a DM through the ledger, once per submission (`request_id`)."""
    if channel_id:
        try:
            services.slack.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
            return
        except SlackApiError:
            pass
    tell_by_dm(services, user_id, request_id, text)


# ---------------------------------------------------------------------- /plc team


def run_team(request: CommandRequest, services: Services, board: HomeBoard | None = None) -> None:
    """`/plc team` shows the team; `add`, `remove`, `facilitator add|remove`, `archive` change it."""
    team = request.require_team()
    assert team.id is not None
    asked = core.team_command(request.args, code=_code)
    if asked.op == "show":
        request.reply(escape(team.name), blocks=_team_view(services, team))
        return
    if asked.op == "archive":
        with services.db.session() as session:
            done = core.archive_team(session, request.actor, team_id=team.id, now=services.clock.now())
        request.reply(f":file_cabinet: *{escape(team.name)}* is archived. Its history is kept; nothing more "
                      "will be sent for it.")
        refresh_homes(services, board, done.refresh_homes)
        return
    targets = mentions(asked.rest)
    if not targets:
        raise asked.nobody(_code)
    core.require_change_members(request.actor, team, asked.role)  # before Slack is asked anything
    text, changed = change_members(services, request.actor, team, targets, asked.role, remove=asked.op == "remove")
    request.reply(text)
    refresh_homes(services, board, changed)


def _code(words: str) -> str:
    return f"`/plc {escape(words)}`"


def change_members(services: Services, actor: Actor, team: Team, targets: list[str], role: str, *,
                   remove: bool) -> tuple[str, list[str]]:
    """Add or remove members or facilitators (the core action); returns the reply and the Slack ids changed.

    Slack is asked about the people to add first, outside the write; the role is checked again inside it.
    """
    assert team.id is not None
    fresh, skipped = lookup_people(services, [] if remove else targets)
    with services.db.session() as session:
        actor = load_actor(session, actor.handle, admins=services.settings.admins)
        result = core.change_members(session, actor, team_id=team.id, people_ids=targets, role=role, remove=remove,
                                     fresh=fresh, skipped=skipped, now=services.clock.now())
    return members_text(result.view), list(result.view.done)


def members_text(change: MembersChanged) -> str:
    what = {("member", False): "added to the team", ("member", True): "removed from the team",
            ("facilitator", False): "now facilitating", ("facilitator", True): "no longer facilitating"}
    text = (f":white_check_mark: {people_line(change.done)} {what[(change.role, change.remove)]}." if change.done
            else "Nothing to change: they already were.")
    if change.skipped:
        text += (f"\nNot in the team: {people_line(change.skipped)}" if change.remove
                 else f"\nLeft out (bots or accounts I can't see): {people_line(change.skipped)}")
    return text


def _team_view(services: Services, team: Team) -> list[dict[str, Any]]:
    assert team.id is not None
    with services.db.read() as session:
        school = store.school_by_id(session, school_id=team.school_id)
        members = store.active_members(session, team_id=team.id)
        facilitator_ids = [p.handle for p in store.facilitators(session, team_id=team.id)]
        principal_ids = [p.handle for p in store.principals(session, school_id=team.school_id)]
        cycle = session.exec(select(Cycle).where(Cycle.team_id == team.id, Cycle.status != "ended")
                             .order_by(col(Cycle.start_date).desc())).first()
    return team_blocks(team=team, school_name=school.name if school else "", facilitator_ids=facilitator_ids,
                       member_ids=[p.handle for p in members], principal_ids=principal_ids, cycle=cycle)


# ---------------------------------------------------------------------- /plc school


def run_school(request: CommandRequest, services: Services, board: HomeBoard | None = None) -> None:
    """`/plc school` shows and edits the school; admins `create` schools and name `principal`s
    (what they mean: `handlers.core.schools`)."""
    word, _, rest = request.args.partition(" ")
    word = word.lower()
    if word == "create":
        _create_school(request, services, rest)
        return
    if word in ("principal", "principals", "leader"):
        _name_principals(request, services, rest, board=board)
        return
    what, name = core_schools.read_show(request.args)
    school = _which_school(request, services, name)
    assert school.id is not None
    require(request.actor, Action.EDIT_SCHOOL, school_id=school.id)
    if what == "edit":
        request.client.views_open(trigger_id=request.trigger_id, view=school_modal(school))
        return
    with services.db.read() as session:
        leader_ids = store.leader_ids(session, school_id=school.id)
        teams = list(session.exec(select(Team).where(Team.school_id == school.id, col(Team.archived_at).is_(None))
                                  .order_by(col(Team.name))).all())
    request.reply(escape(school.name), blocks=school_blocks(school, leader_ids, teams, can_edit=True,
                                                             default_hours=services.settings.school_hours))


def _shown(text: str) -> str:
    """A name someone typed, as Slack shows it: bold and escaped."""
    return f"*{escape(text)}*"


def _which_school(request: CommandRequest, services: Services, name: str) -> School:
    """The school a command means: named, the channel's team's, or the only one the caller leads."""
    with services.db.read() as session:
        return core_schools.school_meant(session, request.actor, name=name, show=_shown,
                                         team_school_id=request.team.school_id if request.team else None)


def _create_school(request: CommandRequest, services: Services, rest: str) -> None:
    require(request.actor, Action.CREATE_SCHOOL)
    new = core_schools.read_create(rest, default_timezone=services.settings.timezone, show=escape)
    made = core_schools.create(services, request.actor, new, show=_shown)
    request.reply(f":school: *{escape(made.name)}* is created ({escape(made.timezone)}). Name its principals with "
                  f"`/plc school principal add @person in {escape(made.name)}`.")


def _name_principals(request: CommandRequest, services: Services, args: str,
                     board: HomeBoard | None = None) -> None:
    remove, rest, school_name = core_schools.read_principals(args)
    targets = mentions(rest)
    core_schools.check_principals(request.actor, targets)
    with services.db.read() as session:
        school = core_schools.school_for_principals(
            session, request.actor, name=school_name, show=_shown,
            team_school_id=request.team.school_id if request.team else None)
    assert school.id is not None
    fresh, skipped = lookup_people(services, [] if remove else targets)
    with services.db.session() as session:
        now = services.clock.now()
        people = stored_people(session, targets, fresh, now=now)
        named = core_schools.name_principals(session, request.actor, school_id=school.id, people=people,
                                             remove=remove, now=now)
    changed = list(named.done)
    verb = "no longer a principal of" if remove else "now a principal of"
    text = (f":white_check_mark: {people_line(changed)} {'are' if len(changed) > 1 else 'is'} {verb} "
            f"*{escape(school.name)}*." if changed else named.reply)
    if skipped:
        text += f"\nLeft out (bots or accounts I can't see): {people_line(skipped)}"
    request.reply(text)
    refresh_homes(services, board, changed)


def on_school_edit_open(services: Services, ack: Ack, body: dict[str, Any], client: Any, respond: Respond) -> None:
    """The "Edit settings" button under `/plc school`."""
    ack()
    user_id = body["user"]["id"]
    raw = str(body["actions"][0].get("value") or "")
    school_id = int(raw) if raw.isdigit() and len(raw) < 10 else 0
    try:
        with services.db.read() as session:
            actor = load_actor(session, user_id, admins=services.settings.admins)
            school = core_schools.open_settings(session, actor, school_id=school_id)
    except UserError as exc:
        respond(text=f":no_entry: {escape(str(exc))}", response_type="ephemeral", replace_original=False)
        return
    client.views_open(trigger_id=body["trigger_id"], view=school_modal(school))


def on_school_submit(services: Services, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    """Check the school settings modal (`handlers.core.schools.check_settings`: the school, the role,
    then the values), acknowledge, then save (`write_settings`, the role checked again inside)."""
    user_id = body["user"]["id"]
    raw = school_input(view["state"]["values"])
    school_id = school_id_of(view)

    def check(session: Session) -> core_schools.SettingsChecked:
        actor = load_actor(session, user_id, admins=services.settings.admins)
        try:
            return core_schools.check_settings(session, actor, school_id=school_id, raw=raw)
        except Invalid as exc:
            raise Invalid(school_errors(exc.errors)) from None

    def write(session: Session, checked: core_schools.SettingsChecked) -> None:
        core_schools.write_settings(session, checked, admins=services.settings.admins, now=services.clock.now())

    def failed(_: core_schools.SettingsChecked, exc: Exception) -> None:
        if isinstance(exc, Forbidden | UserError):
            _tell(services, "", user_id, f":no_entry: {escape(str(exc))} Nothing was changed.",
                  request_id=interaction_id(body))
        else:
            log.exception("Failed to save the school settings", exc_info=exc)
            _tell(services, "", user_id, OUR_FAULT, request_id=interaction_id(body))

    forms.submit(ack, services, field=S_TZ, check=check, write=write, failed=failed)


# ---------------------------------------------------------------------- channel membership


def on_member_joined(services: Services, event: dict[str, Any]) -> None:
    """Someone joined a team's channel: offer each facilitator a one-click "Add to team"."""
    user_id, channel_id = event.get("user", ""), event.get("channel", "")
    with services.db.read() as session:
        team = team_for_channel(session, channel_id)
        if team is None or team.id is None:
            return
        if user_id in store.member_roles(session, team_id=team.id):
            return
        leads = [p.handle for p in store.facilitators(session, team_id=team.id)] or \
            [p.handle for p in store.principals(session, school_id=team.school_id)]
    try:
        info = services.slack.users_info(user=user_id)["user"]
    except SlackApiError:
        return
    if info.get("is_bot") or info.get("deleted"):
        return
    text, blocks = join_prompt(team, user_id)
    stamp = event.get("event_ts") or ""
    for lead in leads:
        deliver(services, key=keys.team_join(team.id, user_id, lead, stamp), kind="team_join",
                recipient=lead, text=text, blocks=blocks)


def on_add_member(services: Services, ack: Ack, body: dict[str, Any], respond: Respond,
                  board: HomeBoard | None = None) -> None:
    """The "Add to team" button: the clicker must be allowed to change the team."""
    ack()
    team_id, target = join_value(str(body["actions"][0].get("value") or ""))
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
        text, changed = change_members(services, actor, team, [target], "member", remove=False)
    except Forbidden as exc:
        respond(text=f":no_entry: {exc}", response_type="ephemeral", replace_original=False)
        return
    except UserError as exc:
        respond(text=str(exc), response_type="ephemeral", replace_original=False)
        return
    except Exception:
        log.exception("Failed to add a member from the join prompt")
        respond(text=OUR_FAULT, response_type="ephemeral", replace_original=False)
        return
    if not changed:
        text = f"{user(target)} is already in {escape(team.name)}."
    respond(text=text, replace_original=True)
    refresh_homes(services, board, changed)


def on_dismiss(ack: Ack, respond: Respond) -> None:
    ack()
    respond(text="OK, not added. They can be added any time with `/plc team add @name`.", replace_original=True)


def on_member_left(services: Services, event: dict[str, Any], board: HomeBoard | None = None) -> None:
    """Someone left a team's channel: membership inactive, history kept (read first: most channels
    are not teams, and a write transaction for each of them would queue behind real work)."""
    user_id, channel_id = event.get("user", ""), event.get("channel", "")
    with services.db.read() as session:
        team = team_for_channel(session, channel_id)
        if team is None or team.id is None or user_id not in store.member_roles(session, team_id=team.id):
            return
    with services.db.session() as session:
        left = store.leave_team(session, team_id=team.id, handle=user_id, actor="slack:member_left_channel",
                                now=services.clock.now())
    if left:
        refresh_homes(services, board, [user_id])


def on_user_change(services: Services, event: dict[str, Any]) -> None:
    """Slack deactivated (or restored) an account: prompts stop (or resume); nothing is deleted.

    Slack sends `user_change` for every profile edit in the workspace: only a real change of a
    person the bot knows opens a write transaction.
    """
    info = event.get("user") or {}
    uid = str(info.get("id") or "")
    if not uid:
        return
    active = not info.get("deleted")
    with services.db.read() as session:
        person = person_by_slack_id(session, uid)
        if person is None or person.active == active:
            return
    with services.db.session() as session:
        store.set_person_active(session, handle=uid, active=active, actor="slack:user_change",
                                now=services.clock.now())


# ---------------------------------------------------------------------- wiring


def register(app: App, services: Services, wiring: Wiring) -> None:
    board = wiring.home
    wiring.router.add("setup", run_setup, summary="set up this channel's PLC team, or change it",
                      usage="/plc setup")
    wiring.router.add("team", lambda request, svc: run_team(request, svc, board),
                      summary="who is in this team, and when it meets", usage="/plc team")
    wiring.router.detail("team", "/plc team add | remove @person", "change the team's members",
                         needs=Role.FACILITATOR)
    wiring.router.detail("team", "/plc team facilitator add | remove @person", "name or remove a facilitator",
                         needs=Role.FACILITATOR)
    wiring.router.detail("team", "/plc team archive", "archive this team", needs=Role.PRINCIPAL)
    wiring.router.add("school", lambda request, svc: run_school(request, svc, board),
                      summary="the school's settings and principals",
                      usage="/plc school [edit]", needs=Role.PRINCIPAL)
    wiring.router.detail("school", "/plc school principal add | remove @person [in School Name]",
                         "name or remove a school's principals", needs=Role.ADMIN)
    wiring.router.detail("school", "/plc school create School Name America/Chicago", "create a school",
                         needs=Role.ADMIN)

    def setup_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        on_setup_submit(services, ack, body, view, board)

    def school_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        on_school_submit(services, ack, body, view)

    def school_edit(ack: Ack, body: dict[str, Any], client: Any, respond: Respond) -> None:
        on_school_edit_open(services, ack, body, client, respond)

    def add_member(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        on_add_member(services, ack, body, respond, board)

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
    app.event("member_left_channel")(_event(lambda svc, event: on_member_left(svc, event, board)))
    app.event("user_change")(_event(on_user_change))
