"""Pure Block Kit builders and form readers for teams and schools: `/plc setup`, `/plc team`,
`/plc school`, the school settings modal and the "someone joined the channel" prompt.

Data in, dicts out: nothing here touches Slack or the database, so each builder is tested
directly. Every user-written name is escaped for mrkdwn, and long lists of people or teams are
cut at a whole item with "and N more" so a section never exceeds Slack's 3,000 characters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.render import blocks as bk
from bot.render.mrkdwn import clip, escape, user
from storage.rules.roster import WEEKDAYS, check_timezone, parse_minutes, parse_time

Blocks = list[dict[str, Any]]

SETUP_CALLBACK = "plc_setup"
SCHOOL_CALLBACK = "plc_school_edit"
ADD_MEMBER_ACTION = "plc_team_add_member"
DISMISS_ACTION = "plc_team_join_dismiss"
EDIT_SCHOOL_ACTION = "plc_school_edit_open"
V = "value"  # the action_id of every input element: block ids tell the fields apart

B_NAME, B_SCHOOL, B_MEMBERS, B_FACILITATORS = "team_name", "team_school", "team_members", "team_facilitators"
B_DAYS, B_TIME, B_LENGTH, B_TZ = "team_days", "team_time", "team_length", "team_tz"
B_SHARE = "team_share_names"  # checkbox: principals see names next to answers in the digest
SHARE_NAMES = "share"
OPTION_DESCRIPTION_MAX = 75  # Slack's limit for an option's description
SHARE_DESCRIPTION = "Principals see who gave each check-in answer and named feedback."
S_TZ, S_SELF, S_DIGEST_DAY, S_DIGEST_TIME, S_HOURS = "school_tz", "school_self", "digest_day", "digest_time", "hours"
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TEAM_NAME_MAX = 120  # Team.name
MODAL_USERS_MAX = 100  # what a multi-users select is pre-filled with
NOT_IN_CHANNEL = (":wave: I'm not in this channel yet, so I can't set a team up here. "
                  "Invite me with `/invite @plcbot`, then run `/plc setup` again.")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_USER_ID = re.compile(r"[UW][A-Z0-9]{1,30}")
LINE_MAX = 2800  # a list inside one section, leaving room for its label


class TeamLike(Protocol):
    id: int | None
    name: str
    channel_id: str
    timezone: str
    meeting_weekdays: str
    meeting_time: str | None
    meeting_minutes: int


class SchoolLike(Protocol):
    id: int | None
    name: str
    timezone: str
    self_service: bool
    digest_weekday: int
    digest_time: str
    school_hours: str | None


class CycleLike(Protocol):
    title: str
    goal: str


# ---------------------------------------------------------------------- text pieces


def joined(items: Sequence[str], *, empty: str, limit: int = LINE_MAX) -> str:
    """Items joined by commas, cut at a whole item with "and N more" past `limit` characters."""
    if not items:
        return empty
    out: list[str] = []
    size = 0
    for i, item in enumerate(items):
        if out and size + len(item) + 2 > limit - 20:
            return ", ".join(out) + f" and {len(items) - i} more"
        out.append(item)
        size += len(item) + 2
    return ", ".join(out)


def people_line(user_ids: Sequence[str], empty: str = "nobody yet") -> str:
    """Mentions of Slack users the bot knows, never cut in the middle of a mention."""
    return joined([user(u) for u in user_ids], empty=empty)


def schedule_text(weekdays: str, time: str | None, minutes: int, timezone: str) -> str:
    """"Thursdays at 15:30 for 45 minutes (America/New_York)", or what is missing."""
    days = [DAY_NAMES[WEEKDAYS.index(d)] + "s" for d in weekdays.split(",") if d in WEEKDAYS]
    if not days:
        return f"no regular meeting day yet ({escape(timezone)})"
    when = ", ".join(days[:-1]) + (" and " if len(days) > 1 else "") + days[-1]
    at = f" at {escape(time)}" if time else ""
    return f"{when}{at} for {minutes} minutes ({escape(timezone)})"


def mentions(text: str) -> list[str]:
    """Slack user ids mentioned in command text (`<@U123|name>`), in order, without repeats."""
    return list(dict.fromkeys(_MENTION.findall(text or "")))


# ---------------------------------------------------------------------- /plc team


def team_blocks(*, team: TeamLike, school_name: str, facilitator_ids: Sequence[str], member_ids: Sequence[str],
                principal_ids: Sequence[str], cycle: CycleLike | None) -> Blocks:
    """What `/plc team` shows: who is in the team, who leads it, when it meets."""
    out = [
        bk.header(team.name),
        bk.section(f"*School:* {escape(school_name)}\n*Meets:* "
                   + schedule_text(team.meeting_weekdays, team.meeting_time, team.meeting_minutes, team.timezone)),
        bk.section(f"*Facilitators:* {people_line(facilitator_ids)}"),
        bk.section(f"*Members ({len(member_ids)}):* {people_line(member_ids)}"),
        bk.section(f"*Principals:* {people_line(principal_ids, 'none named')}"),
    ]
    if cycle is not None:
        out.append(bk.section(f"*Current cycle:* {escape(cycle.title)}\n_{escape(cycle.goal)}_"))
    else:
        out.append(bk.context("No learning cycle is running yet."))
    return bk.fit(out, bk.MESSAGE_BLOCKS_MAX)


# ---------------------------------------------------------------------- the setup modal


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False,
           hint: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "input", "block_id": block_id, "label": bk.plain(label, 2000),
                             "element": {**element, "action_id": V}, "optional": optional}
    if hint:
        block["hint"] = bk.plain(hint, 2000)
    return block


def _text_input(initial: str | None, *, max_length: int = TEAM_NAME_MAX,
                placeholder: str | None = None) -> dict[str, Any]:
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
    share_names: bool = False


def setup_modal(d: SetupDefaults) -> dict[str, Any]:
    """The team setup modal (create or edit)."""
    blocks: Blocks = [_input(B_NAME, "Team name", _text_input(d.name, placeholder="Grade 3 Math"))]
    school_name = next((name for sid, name in d.schools if sid == d.school_id), "")
    if d.team_id is None:
        options = [bk.option(name, str(sid)) for sid, name in d.schools[:100]]
        element: dict[str, Any] = {"type": "static_select", "options": options}
        chosen = next((o for o in options if o["value"] == str(d.school_id)), options[0] if options else None)
        if chosen is not None:
            element["initial_option"] = chosen
        blocks.append(_input(B_SCHOOL, "School", element))
    else:
        blocks.append(bk.context(f"School: *{escape(school_name)}*"))
    blocks += [
        _input(B_MEMBERS, "Members", {"type": "multi_users_select", "initial_users": d.members[:MODAL_USERS_MAX]},
               optional=True, hint="Teachers in the team; they get the check-ins. Facilitators are members too."),
        _input(B_FACILITATORS, "Facilitators", {"type": "multi_users_select",
                                                "initial_users": d.facilitators[:MODAL_USERS_MAX]},
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
    share = bk.option("Share names with the school's principals", SHARE_NAMES)
    # Slack refuses a view whose option description is over 75 characters (views.open fails).
    share["description"] = bk.plain(SHARE_DESCRIPTION, OPTION_DESCRIPTION_MAX)
    checkbox: dict[str, Any] = {"type": "checkboxes", "options": [share]}
    if d.share_names:
        checkbox["initial_options"] = [share]
    blocks.append(_input(B_SHARE, "Names", checkbox, optional=True,
                         hint="A team decision: agree on it together, the team is told when it changes. Off: "
                              "principals see the team's figures only. Support requests always carry their "
                              "author's name; anonymous feedback is never named."))
    whose = f" of {escape(school_name)}" if school_name and (d.team_id is not None or len(d.schools) == 1) else ""
    blocks.append(bk.context(f"Principals{whose}: {people_line(d.principals, 'none named yet')} "
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
    share_names: bool = False

    @property
    def everyone(self) -> list[str]:
        return list(dict.fromkeys([*self.facilitators, *self.members]))


def _users(raw: Any) -> list[str]:
    """Selected user ids, without repeats; anything that is not a user id (a forged value) is dropped."""
    if not isinstance(raw, list):
        return []
    return list(dict.fromkeys(u for u in raw if isinstance(u, str) and _USER_ID.fullmatch(u)))


def read_setup(values: dict[str, dict[str, dict[str, Any]]]) -> tuple[SetupForm | None, dict[str, str]]:
    """Parse the submitted setup modal; returns the form, or the inline errors by block id."""
    def get(block: str) -> dict[str, Any]:
        return (values.get(block) or {}).get(V) or {}

    errors: dict[str, str] = {}
    name = " ".join(str(get(B_NAME).get("value") or "").split())
    if not name:
        errors[B_NAME] = "Give the team a name."
    elif len(name) > TEAM_NAME_MAX:
        errors[B_NAME] = f"Keep the name to {TEAM_NAME_MAX} characters."
    school_raw = str((get(B_SCHOOL).get("selected_option") or {}).get("value") or "")
    school_id = int(school_raw) if school_raw.isdigit() and len(school_raw) < 10 else None
    facilitators = _users(get(B_FACILITATORS).get("selected_users"))
    if not facilitators:
        errors[B_FACILITATORS] = "A team needs at least one facilitator."
    members = _users(get(B_MEMBERS).get("selected_users"))
    days = [o.get("value") for o in get(B_DAYS).get("selected_options") or [] if isinstance(o, dict)]
    weekdays = ",".join(d for d in WEEKDAYS if d in days)
    time = str(get(B_TIME).get("selected_time") or "").strip() or None
    if time is not None:
        try:
            time = parse_time(time)
        except ValueError:
            errors[B_TIME] = "Pick a start time such as 15:30."
    minutes = 0
    raw_length = str(get(B_LENGTH).get("value") or "").strip()
    try:
        minutes = parse_minutes(raw_length)
    except ValueError:
        errors[B_LENGTH] = "Give the length as a positive whole number of minutes, such as 45."
    timezone = str(get(B_TZ).get("value") or "").strip()
    try:
        check_timezone(timezone)
        if not timezone or len(timezone) > 64:
            raise ValueError(timezone)
    except ValueError:
        errors[B_TZ] = f"'{timezone[:64]}' is not a time zone I know; use a name like America/Chicago."
    ticked = get(B_SHARE).get("selected_options") or []
    share = any(isinstance(o, dict) and o.get("value") == SHARE_NAMES for o in ticked)
    if errors:
        return None, errors
    return SetupForm(name, school_id, members, facilitators, weekdays, time, minutes, timezone, share), {}


# ---------------------------------------------------------------------- /plc school


def school_blocks(school: SchoolLike, leader_ids: Sequence[str], teams: Sequence[TeamLike], *, can_edit: bool,
                  default_hours: str) -> Blocks:
    """What `/plc school` shows a principal or admin."""
    digest = f"{DAY_NAMES[school.digest_weekday % 7]}s at {escape(school.digest_time)}"
    team_items = [f"{escape(t.name)} (<#{t.channel_id}>)" for t in teams]
    out = [
        bk.header(school.name),
        bk.section(f"*Time zone:* {escape(school.timezone)}\n*Weekly digest:* {digest}\n"
                   f"*School hours:* {escape(school.school_hours or default_hours + ' (the default)')}\n"
                   f"*Self-service:* {'anyone may set up the first team' if school.self_service else 'off'}"),
        bk.section(f"*Principals and leaders:* {people_line(leader_ids, 'none named')}"),
        bk.section(f"*Teams ({len(team_items)}):* " + joined(team_items, empty="none yet")),
    ]
    if can_edit and school.id is not None:
        out.append(bk.actions(bk.button("Edit settings", EDIT_SCHOOL_ACTION, value=str(school.id))))
    out.append(bk.context("Admins: `/plc school principal add @person` · `/plc school principal remove @person`"))
    return out


def school_modal(school: SchoolLike) -> dict[str, Any]:
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


def school_id_of(view: dict[str, Any]) -> int:
    """The school a settings modal is for (0 when the metadata is missing or forged)."""
    try:
        raw = json.loads(view.get("private_metadata") or "{}").get("s")
    except (ValueError, AttributeError):
        return 0
    return raw if isinstance(raw, int) and not isinstance(raw, bool) and 0 < raw < 2**31 else 0


# The settings modal's blocks by the field each holds (`handlers.core.schools.SETTINGS_FIELDS`).
SCHOOL_BLOCKS = {"timezone": S_TZ, "self_service": S_SELF, "digest_weekday": S_DIGEST_DAY,
                 "digest_time": S_DIGEST_TIME, "school_hours": S_HOURS}


def school_typed(values: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """The school settings modal as typed, by field name; what it means (and what is wrong with it)
    is `handlers.core.schools.read_settings`, which Teams' dialog uses too."""
    def get(block: str) -> dict[str, Any]:
        found = (values.get(block) or {}).get(V)
        return found if isinstance(found, dict) else {}

    def text(value: Any) -> str:
        return value if isinstance(value, str) else ""

    return {
        "timezone": text(get(S_TZ).get("value")),
        "self_service": any(isinstance(o, dict) and o.get("value") == "self"
                            for o in get(S_SELF).get("selected_options") or []),
        "digest_weekday": text((get(S_DIGEST_DAY).get("selected_option") or {}).get("value")) or "0",
        "digest_time": text(get(S_DIGEST_TIME).get("selected_time")) or "07:00",
        "school_hours": text(get(S_HOURS).get("value")),
    }


# ---------------------------------------------------------------------- channel membership


def join_prompt(team: TeamLike, user_id: str) -> tuple[str, Blocks]:
    """The DM a facilitator gets when someone joins the team's channel."""
    text = f"{user(user_id)} joined <#{team.channel_id}>. Add them to {escape(team.name)}?"
    value = json.dumps({"t": team.id, "u": user_id})
    return text, [
        bk.section(text + "\nMembers get the team's check-ins and meeting prompts."),
        bk.actions(bk.button("Add to team", ADD_MEMBER_ACTION, value=value, style="primary"),
                   bk.button("Not now", DISMISS_ACTION, value=value)),
    ]


def join_value(raw: str) -> tuple[int, str]:
    """(team id, user id) from an "Add to team" button, or (0, "") for anything else."""
    try:
        data = json.loads(raw)
    except ValueError:
        return 0, ""
    if not isinstance(data, dict):
        return 0, ""
    team_id, target = data.get("t"), str(data.get("u") or "")
    if not isinstance(team_id, int) or isinstance(team_id, bool) or not 0 < team_id < 2**31 \
            or not _USER_ID.fullmatch(target):
        return 0, ""
    return team_id, target


def share_names_notice(*, actor: str, team_name: str, shared: bool) -> str:
    """The line the team's channel gets when its facilitator turns "Share names" on or off, so
    teachers always know who reads their answers by name (non-evaluative by default)."""
    team = f"*{escape(clip(team_name, 80))}*"
    if shared:
        return (f":eyes: {user(actor)} turned on *Share names with the school's principals* for {team}: "
                "principals now see who gave each check-in answer and named feedback. Anonymous feedback "
                "stays anonymous. `/plc privacy` shows who sees what.")
    return (f":lock: {user(actor)} turned off *Share names with the school's principals* for {team}: "
            "principals now see this team's check-in answers and feedback without names (a support request "
            "still carries its author's name). `/plc privacy` shows who sees what.")
