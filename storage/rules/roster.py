"""Roster rules: spreadsheet rows in, a plan of what would change out. Pure: no Slack, no session.

A district keeps its PLC roster in a spreadsheet, one row per person and team. These functions
read those rows against what Slack knows (users, channels) and what the bot already stores, and
say row by row what is wrong, or what an import would create, change, leave alone and (with
sync) remove. Nothing here writes anything, so a dry run and the real run plan the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

HEADERS = ("school", "team", "channel", "email", "slack_user_id", "role",
           "meeting_day", "meeting_time", "meeting_minutes", "timezone")
ROLES = {"member": "member", "teacher": "member", "facilitator": "facilitator",
         "principal": "principal", "leader": "principal"}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]+$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
_EMAIL = re.compile(r"^[^@\s<>(),;:\"]+@[^@\s<>(),;:\"]+\.[^@\s<>(),;:\".]+$")
DEFAULT_MINUTES = 45


# ---------------------------------------------------------------------- what Slack and the bot know


@dataclass(frozen=True)
class SlackPerson:
    id: str
    name: str
    email: str | None = None
    tz: str | None = None
    deleted: bool = False
    is_bot: bool = False


@dataclass(frozen=True)
class SlackChannel:
    id: str
    name: str
    is_member: bool = True  # the bot is in it
    is_archived: bool = False


@dataclass
class Directory:
    """Everyone and every channel Slack showed the bot (one paged users.list, one conversations.list)."""

    people: dict[str, SlackPerson] = field(default_factory=dict)
    channels: dict[str, SlackChannel] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_email = {p.email.casefold(): p for p in self.people.values() if p.email}
        self.channel_by_name = {c.name.casefold(): c for c in self.channels.values()}


@dataclass(frozen=True)
class TeamState:
    school: str  # canonical school key
    name: str
    channel_id: str
    timezone: str
    weekdays: str
    time: str | None
    minutes: int


@dataclass
class Existing:
    """What the bot stores now, keyed by canonical names and Slack ids."""

    schools: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (name, timezone)
    teams: dict[tuple[str, str], TeamState] = field(default_factory=dict)  # (school, team) keys
    members: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (school, team, uid) -> role
    leaders: set[tuple[str, str]] = field(default_factory=set)  # (school, uid)
    archived: dict[tuple[str, str], str] = field(default_factory=dict)  # archived team key -> channel
    # Slack id -> the name (Teams id) of the person known elsewhere first whom that Slack user's
    # e-mail names: their seats above are under the Slack id already, as the import will link them.
    linked: dict[str, str] = field(default_factory=dict)
    # People the Slack roster cannot see (known only on Teams): their name as the core knows them
    # (their Teams id) -> display name; and e-mail (lower case) -> that name, for an e-mail no other
    # person has (`storage.linking.known_elsewhere`), so a file may name them by it.
    elsewhere: dict[str, str] = field(default_factory=dict)
    elsewhere_by_email: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.team_of_channel = {t.channel_id: key for key, t in self.teams.items()}


def canonical(name: str) -> str:
    return " ".join((name or "").split()).casefold()


# ---------------------------------------------------------------------- rows


@dataclass(frozen=True)
class RowError:
    row: int  # as the spreadsheet numbers it: the header is row 1
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


@dataclass(frozen=True)
class Entry:
    """One good row: a person's role in a team (or, for a principal, in a school)."""

    row: int
    school: str  # as written (first spelling wins for a new school)
    team: str | None
    channel_id: str | None
    user_id: str
    role: str  # member | facilitator | principal
    weekdays: str | None = None
    time: str | None = None
    minutes: int | None = None
    timezone: str | None = None

    @cached_property
    def school_key(self) -> str:
        return canonical(self.school)

    @cached_property
    def team_key(self) -> tuple[str, str] | None:
        return (self.school_key, canonical(self.team)) if self.team else None


def normalise_header(cell: object) -> str:
    text = str(cell or "").strip().casefold()
    text = re.sub(r"[\s\-]+", "_", text)
    return {"slack_id": "slack_user_id", "user_id": "slack_user_id", "e_mail": "email",
            "time_zone": "timezone", "tz": "timezone", "day": "meeting_day", "meeting_days": "meeting_day",
            "minutes": "meeting_minutes", "length": "meeting_minutes"}.get(text, text)


def check_headers(headers: Iterable[str]) -> list[RowError]:
    have = set(headers)
    missing = [h for h in ("school", "role") if h not in have]
    if "email" not in have and "slack_user_id" not in have:
        missing.append("email (or slack_user_id)")
    return [RowError(1, f"missing column '{m}'; the header row needs school, team, channel, "
                        "email or slack_user_id, and role") for m in missing]


def cell_text(value: object) -> str:
    """A cell as text: spreadsheets give numbers, times and None as well as strings."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%H:%M") if value.date() == datetime(1899, 12, 30).date() else value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return " ".join(str(value).split())


def parse_weekdays(text: str) -> str:
    """"Monday/Thu", "mon, thu" → "mon,thu" (week order); ValueError on a word that is not a day."""
    days = set()
    for word in re.split(r"[\s,;/&+]+|\band\b", text.casefold()):
        word = word.strip(".")
        if not word:
            continue
        for i, name in enumerate(_WEEKDAY_NAMES):
            if len(word) >= 2 and name.startswith(word) or word == name[:3]:
                days.add(i)
                break
        else:
            raise ValueError(f"'{word}' is not a weekday (use names like mon, thu or Monday)")
    return ",".join(WEEKDAYS[i] for i in sorted(days))


def parse_time(text: str) -> str:
    """"15:30", "3:30 pm", "9" → "HH:MM"; ValueError otherwise."""
    raw = text.strip().casefold().replace(".", "")
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?(?::\d{2})?\s*(am|pm)?", raw)
    if not m:
        raise ValueError(f"'{text}' is not a time (use 24-hour HH:MM such as 15:30)")
    hour, minute, half = int(m[1]), int(m[2] or 0), m[3]
    if half:
        if not 1 <= hour <= 12:
            raise ValueError(f"'{text}' is not a time")
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        raise ValueError(f"'{text}' is not a time of day")
    return f"{hour:02d}:{minute:02d}"


def parse_minutes(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"meeting_minutes '{text}' is not a number of minutes") from None
    if not value.is_integer() or not 1 <= value <= 600:
        raise ValueError(f"meeting_minutes '{text}' must be a whole number of minutes between 1 and 600")
    return int(value)


def check_timezone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{text}' is not a time zone (use a name like America/Chicago)") from None
    return text


@dataclass
class Cells:
    """One row's cells checked on their own, before Slack is asked: what can be wrong with a row
    without knowing the workspace (an empty school, an unknown role, a member without a team, an
    e-mail or id that cannot be one, a bad meeting day/time/length/time zone)."""

    school: str
    role: str | None
    team: str | None
    channel: str  # the cell as written: an id (C…/G…) or a #name, checked against Slack later
    user_id: str  # the slack_user_id cell
    email: str
    schedule: dict[str, object]
    problems: list[str]


def read_cells(row: Mapping[str, object]) -> Cells:
    """Check a row's cells without Slack; `problems` names the column of each one."""
    get = {k: cell_text(v) for k, v in row.items()}
    problems: list[str] = []
    school = get.get("school", "")
    if not school:
        problems.append("school is empty")
    raw_role = get.get("role", "")
    role = ROLES.get(raw_role.casefold())
    if role is None:
        problems.append(f"unknown role '{raw_role}' (use member, facilitator or principal)"
                        if raw_role else "role is empty (use member, facilitator or principal)")
    team = get.get("team", "") or None
    channel = get.get("channel", "")
    if role in ("member", "facilitator") and not team:
        problems.append(f"team is empty (every {role} row names a team)")
    if role != "principal" and channel and not (channel.startswith("#") and len(channel) > 1
                                                or _CHANNEL_ID.match(channel)):
        problems.append(f"channel '{channel}' is neither a channel id (C…) nor a #name")
    user_id, email = get.get("slack_user_id", ""), get.get("email", "")
    if user_id and not _USER_ID.match(user_id):
        problems.append(f"slack_user_id '{user_id}' is not a Slack user id (like U012ABCDEF)")
    if email and not _EMAIL.match(email):
        problems.append(f"email '{email}' is not an e-mail address (like name@school.org)")
    if not user_id and not email:
        problems.append("email and slack_user_id are both empty")
    schedule: dict[str, object] = {}
    for key, parse in (("meeting_day", parse_weekdays), ("meeting_time", parse_time),
                       ("meeting_minutes", parse_minutes), ("timezone", check_timezone)):
        if get.get(key):
            try:
                schedule[key] = parse(get[key])  # type: ignore[operator]
            except ValueError as exc:
                problems.append(str(exc) if str(exc).startswith(key) else f"{key} {exc}")
    return Cells(school, role, team, channel, user_id, email, schedule, problems)


def check_rows(rows: Iterable[tuple[int, Mapping[str, object]]]) -> list[RowError]:
    """Every problem a file's rows have on their own, row by row; checked before Slack is asked,
    so a bad file is reported without a network or a token."""
    return [RowError(number, problem) for number, row in rows for problem in read_cells(row).problems]


def read_row(number: int, row: Mapping[str, object], directory: Directory,
             elsewhere_by_email: Mapping[str, str] | None = None) -> Entry | list[RowError]:
    """Check one row on its own (its cells, its person, its channel); list the problems found.
    An e-mail Slack does not know may name a person known only on Teams (`elsewhere_by_email`)."""
    cells = read_cells(row)
    problems = list(cells.problems)
    role, team, schedule = cells.role, cells.team, cells.schedule
    channel_id: str | None = None
    if role != "principal" and cells.channel and not any(p.startswith("channel ") for p in problems):
        channel_id, problem = _channel(cells.channel, directory)
        if problem:
            problems.append(problem)
    user_id: str | None = None
    if not any(p.startswith(("slack_user_id ", "email ")) for p in problems):
        user_id, problem = _person(cells.user_id, cells.email, directory, elsewhere_by_email or {})
        if problem:
            problems.append(problem)
    if problems:
        return [RowError(number, p) for p in problems]
    assert role is not None and user_id is not None
    if role == "principal":
        team, channel_id = None, None
    return Entry(number, cells.school, team, channel_id, user_id, role,
                 weekdays=schedule.get("meeting_day"), time=schedule.get("meeting_time"),  # type: ignore[arg-type]
                 minutes=schedule.get("meeting_minutes"), timezone=schedule.get("timezone"))  # type: ignore[arg-type]


def _channel(cell: str, directory: Directory) -> tuple[str | None, str | None]:
    if cell.startswith("#"):
        found = directory.channel_by_name.get(cell[1:].casefold())
        if found is None:
            return None, (f"channel {cell} is not visible to the bot (a private channel it is not in, "
                          "or a name that does not exist)")
    elif _CHANNEL_ID.match(cell):
        found = directory.channels.get(cell)
        if found is None:
            return None, f"channel {cell} is not visible to the bot (deleted, or private without the bot)"
    else:
        return None, f"channel '{cell}' is neither a channel id (C…) nor a #name"
    if found.is_archived:
        return None, f"channel #{found.name} is archived"
    if not found.is_member:
        return None, f"the bot is not in #{found.name}; invite it there with /invite @plcbot"
    return found.id, None


def _person(user_cell: str, email_cell: str, directory: Directory,
            elsewhere_by_email: Mapping[str, str]) -> tuple[str | None, str | None]:
    if user_cell:
        if not _USER_ID.match(user_cell):
            return None, f"slack_user_id '{user_cell}' is not a Slack user id (like U012ABCDEF)"
        person = directory.people.get(user_cell)
        if person is None:
            return None, f"no Slack user with id {user_cell}"
    elif email_cell:
        person = directory.by_email.get(email_cell.casefold())
        if person is None:
            known = elsewhere_by_email.get(email_cell.strip().lower())
            if known is not None:  # a teacher known only on Teams: that person, never a second one
                return known, None
            return None, f"no Slack user with email {email_cell}"
    else:
        return None, "email and slack_user_id are both empty"
    if person.is_bot:
        return None, f"{person.name or person.id} is a bot, not a person"
    if person.deleted:
        return None, f"{person.name or person.id}'s Slack account is deactivated"
    return person.id, None


# ---------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class TeamPlan:
    school: str  # canonical key
    name: str
    channel_id: str
    timezone: str
    weekdays: str
    time: str | None
    minutes: int
    changes: tuple[str, ...] = ()  # for a changed team: "field: old → new"


@dataclass(frozen=True)
class Seat:
    """A person's role in a team (team set) or school leadership (team None)."""

    school: str  # canonical key
    team: str | None  # canonical key
    user_id: str
    role: str
    old_role: str | None = None


@dataclass
class Plan:
    errors: list[RowError] = field(default_factory=list)
    new_schools: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (name, timezone)
    school_changes: dict[str, str] = field(default_factory=dict)  # key -> new timezone
    new_teams: list[TeamPlan] = field(default_factory=list)
    changed_teams: list[TeamPlan] = field(default_factory=list)
    added: list[Seat] = field(default_factory=list)  # new or returning members and principals
    role_changes: list[Seat] = field(default_factory=list)
    unchanged: list[Seat] = field(default_factory=list)
    removed: list[Seat] = field(default_factory=list)  # only with sync
    # Only with sync: seats the file does not list of people this Slack roster cannot see (known only
    # on Teams, and not named by e-mail): never removed, since the file could not have listed them.
    kept: list[Seat] = field(default_factory=list)
    elsewhere: dict[str, str] = field(default_factory=dict)  # Teams-only people the plan names -> display name
    people: set[str] = field(default_factory=set)  # Slack ids the file names
    linked: dict[str, str] = field(default_factory=dict)  # Slack id -> the Teams-first person it joins

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def has_changes(self) -> bool:
        return bool(self.new_schools or self.school_changes or self.new_teams or self.changed_teams
                     or self.added or self.role_changes or self.removed or self.linked)


def plan_import(rows: Iterable[tuple[int, Mapping[str, object]]], directory: Directory, existing: Existing,
                *, default_timezone: str, sync: bool = False,
                progress: object = None) -> Plan:
    """Check every row and plan the import; `plan.errors` lists every bad row, all at once."""
    plan = Plan()
    entries: list[Entry] = []
    for number, row in rows:
        result = read_row(number, row, directory, existing.elsewhere_by_email)
        if isinstance(result, list):
            plan.errors.extend(result)
        else:
            entries.append(result)
        if progress is not None:
            progress.advance()  # type: ignore[attr-defined]
    entries = _drop_duplicates(entries, plan)
    _plan_schools(entries, existing, plan, default_timezone)
    teams = _plan_teams(entries, existing, plan)
    _plan_seats(entries, existing, plan, teams, sync, visible=directory.people)
    named = plan.people | {s.user_id for s in plan.removed}
    plan.linked = {uid: handle for uid, handle in existing.linked.items() if uid in named}
    plan.elsewhere = {uid: name for uid, name in existing.elsewhere.items()
                      if uid in named or uid in {s.user_id for s in plan.kept}}
    plan.errors.sort(key=lambda e: e.row)
    return plan


def _drop_duplicates(entries: list[Entry], plan: Plan) -> list[Entry]:
    seen: dict[tuple[str, str | None, str], Entry] = {}
    kept = []
    for entry in entries:
        key = (entry.school_key, entry.team_key[1] if entry.team_key else None, entry.user_id)
        first = seen.get(key)
        if first is not None:
            where = f"team {entry.team}" if entry.team else f"school {entry.school}"
            same = "" if first.role == entry.role else f" (there as {first.role})"
            plan.errors.append(RowError(entry.row, f"duplicate: this person is already listed for {where} "
                                                   f"on row {first.row}{same}"))
            continue
        seen[key] = entry
        kept.append(entry)
        plan.people.add(entry.user_id)
    return kept


def _plan_teams(entries: list[Entry], existing: Existing, plan: Plan) -> dict[tuple[str, str], TeamPlan]:
    """One settled TeamPlan per team named in the file; conflicting rows are errors."""
    settled: dict[tuple[str, str], dict[str, tuple[object, int]]] = {}
    names: dict[tuple[str, str], str] = {}
    first_rows: dict[tuple[str, str], int] = {}
    channel_owner: dict[str, tuple[tuple[str, str], int]] = {}
    for entry in entries:
        key = entry.team_key
        if key is None:
            continue
        names.setdefault(key, entry.team or "")
        first_rows.setdefault(key, entry.row)
        values = settled.setdefault(key, {})
        for attr, label in (("channel_id", "channel"), ("weekdays", "meeting_day"), ("time", "meeting_time"),
                            ("minutes", "meeting_minutes"), ("timezone", "timezone")):
            value = getattr(entry, attr)
            if value is None:
                continue
            if attr in values and values[attr][0] != value:
                old, row = values[attr]
                plan.errors.append(RowError(entry.row, f"{label} '{value}' differs from '{old}' on row {row} "
                                                       f"for the same team {entry.team}"))
                continue
            values.setdefault(attr, (value, entry.row))
        if entry.channel_id:
            owner = channel_owner.setdefault(entry.channel_id, (key, entry.row))
            if owner[0] != key:
                plan.errors.append(RowError(entry.row, f"channel {entry.channel_id} is already used by team "
                                                       f"{names[owner[0]]} on row {owner[1]}"))
    out: dict[tuple[str, str], TeamPlan] = {}
    for key, values in settled.items():
        first_row = first_rows[key]
        current = existing.teams.get(key)
        channel = values.get("channel_id", (None, 0))[0]
        if current is None and key in existing.archived:
            plan.errors.append(RowError(first_row, f"team {names[key]} was archived; a principal must "
                                                   "restore it, or give the new team another name"))
            continue
        if current is None and channel is None:
            plan.errors.append(RowError(first_row, f"team {names[key]} is new: give its channel "
                                                   "(an id like C012AB3CD or #name)"))
            continue
        if channel is not None:
            if str(channel) in existing.archived.values():
                plan.errors.append(RowError(values["channel_id"][1],
                                            f"channel {channel} belongs to an archived team"))
                continue
            holder = existing.team_of_channel.get(str(channel))
            if holder is not None and holder != key:
                held = existing.teams[holder]
                plan.errors.append(RowError(values["channel_id"][1],
                                            f"channel {channel} already belongs to team {held.name}"))
                continue
        school = plan.new_schools.get(key[0]) or existing.schools[key[0]]
        base_tz = plan.school_changes.get(key[0]) or school[1]
        if current is None:
            team = TeamPlan(key[0], names[key], str(channel),
                            str(values.get("timezone", (base_tz, 0))[0]),
                            str(values.get("weekdays", ("", 0))[0]),
                            values.get("time", (None, 0))[0],  # type: ignore[arg-type]
                            int(values.get("minutes", (DEFAULT_MINUTES, 0))[0]))  # type: ignore[call-overload]
            plan.new_teams.append(team)
        else:
            wanted = {
                "channel_id": values.get("channel_id", (current.channel_id, 0))[0],
                "timezone": values.get("timezone", (current.timezone, 0))[0],
                "weekdays": values.get("weekdays", (current.weekdays, 0))[0],
                "time": values.get("time", (current.time, 0))[0],
                "minutes": values.get("minutes", (current.minutes, 0))[0],
            }
            changes = tuple(f"{k}: {getattr(current, k)} → {v}" for k, v in wanted.items()
                            if getattr(current, k) != v)
            team = TeamPlan(key[0], current.name, str(wanted["channel_id"]), str(wanted["timezone"]),
                            str(wanted["weekdays"]), wanted["time"], int(wanted["minutes"]),  # type: ignore[arg-type, call-overload]
                            changes)
            if changes:
                plan.changed_teams.append(team)
        out[key] = team
    return out


def _plan_schools(entries: list[Entry], existing: Existing, plan: Plan, default_timezone: str) -> None:
    """New schools take the principal row's time zone, else their first team's, else the default."""
    for entry in entries:
        key = entry.school_key
        known = existing.schools.get(key)
        if known is None:
            name, tz = plan.new_schools.get(key, (entry.school, ""))
            if entry.timezone and (entry.role == "principal" or not tz):
                tz = entry.timezone
            plan.new_schools[key] = (name, tz)
        elif entry.role == "principal" and entry.timezone and entry.timezone != known[1]:
            plan.school_changes[key] = entry.timezone
    for key, (name, tz) in plan.new_schools.items():
        plan.new_schools[key] = (name, tz or default_timezone)


def _plan_seats(entries: list[Entry], existing: Existing, plan: Plan,
                teams: dict[tuple[str, str], TeamPlan], sync: bool, visible: Mapping[str, object]) -> None:
    listed_members: set[tuple[str, str, str]] = set()
    listed_leaders: set[tuple[str, str]] = set()
    for entry in entries:
        if entry.role == "principal":
            listed_leaders.add((entry.school_key, entry.user_id))
            seat = Seat(entry.school_key, None, entry.user_id, "principal")
            known = (entry.school_key, entry.user_id) in existing.leaders
            (plan.unchanged if known else plan.added).append(seat)
            continue
        key = entry.team_key
        assert key is not None
        if key not in teams:
            continue  # the team itself is in error; already reported
        listed_members.add((*key, entry.user_id))
        old = existing.members.get((*key, entry.user_id))
        seat = Seat(key[0], key[1], entry.user_id, entry.role, old)
        if old is None:
            plan.added.append(seat)
        elif old != entry.role:
            plan.role_changes.append(seat)
        else:
            plan.unchanged.append(seat)
    if sync:
        # Someone the Slack roster cannot see (known only on Teams) could not be listed: kept,
        # unless the file names them (by e-mail) somewhere, which makes it their whole roster.
        def unlisted(seat: Seat) -> None:
            unseen = seat.user_id not in visible and seat.user_id not in plan.people
            (plan.kept if unseen else plan.removed).append(seat)

        schools = {e.school_key for e in entries}
        for (school, team, uid), role in sorted(existing.members.items()):
            if school in schools and (school, team, uid) not in listed_members:
                unlisted(Seat(school, team, uid, role))
        for school, uid in sorted(existing.leaders):
            if school in schools and (school, uid) not in listed_leaders:
                unlisted(Seat(school, None, uid, "principal"))
    _check_facilitators(entries, existing, plan, teams)


def _check_facilitators(entries: list[Entry], existing: Existing, plan: Plan,
                        teams: dict[tuple[str, str], TeamPlan]) -> None:
    """A new team needs a facilitator, and an import never takes a team's last one away
    (a role changed to member, or --sync removing them): the same rule as `/plc setup`."""
    first_row: dict[tuple[str, str], int] = {}
    for entry in entries:
        if entry.team_key is not None:
            first_row.setdefault(entry.team_key, entry.row)
    leads: dict[tuple[str, str], set[str]] = {}
    for (school, team, uid), role in existing.members.items():
        if role == "facilitator":
            leads.setdefault((school, team), set()).add(uid)
    after = {key: set(leads.get(key, ())) for key in teams}
    changes: list[tuple[Seat, str | None]] = [(s, s.role) for s in [*plan.added, *plan.role_changes]]
    changes += [(s, None) for s in plan.removed]
    for seat, new_role in changes:
        if seat.team is None or (seat.school, seat.team) not in after:
            continue
        final = after[(seat.school, seat.team)]
        if new_role == "facilitator":
            final.add(seat.user_id)
        else:
            final.discard(seat.user_id)
    for key, final in after.items():
        if final or (key in existing.teams and not leads.get(key)):
            continue  # has one, or had none before this file (nothing taken away)
        name = teams[key].name
        reason = (f"team {name} has no facilitator: give at least one of its rows the role facilitator"
                  if key not in existing.teams else
                  f"team {name} would be left without a facilitator: keep one, or name another in the file")
        plan.errors.append(RowError(first_row.get(key, 1), reason))


def summary(plan: Plan, *, names: Mapping[str, str], teams: Mapping[tuple[str, str], str],
            schools: Mapping[str, str], limit: int = 20) -> list[str]:
    """Lines a person reads: what would be created, changed, left alone and removed."""
    def who(uid: str) -> str:
        return f"{names.get(uid) or plan.elsewhere.get(uid) or uid} ({uid})"

    def where(seat: Seat) -> str:
        school = schools.get(seat.school, seat.school)
        if seat.team is None:
            return school
        return f"{teams.get((seat.school, seat.team), seat.team)} ({school})"

    lines: list[str] = []

    def block(title: str, items: list[str]) -> None:
        if not items:
            return
        lines.append(f"{title}: {len(items)}")
        lines.extend(f"  {item}" for item in items[:limit])
        if len(items) > limit:
            lines.append(f"  … and {len(items) - limit} more")

    block("New schools", [f"{n} ({tz})" for n, tz in plan.new_schools.values()])
    block("School time zones changed",
          [f"{schools.get(k, k)}: {tz}" for k, tz in plan.school_changes.items()])
    block("New teams", [f"{t.name} in {schools.get(t.school, t.school)}, channel {t.channel_id}"
                        for t in plan.new_teams])
    block("Changed teams", [f"{t.name}: {'; '.join(t.changes)}" for t in plan.changed_teams])
    block("Added", [f"{who(s.user_id)} as {s.role} of {where(s)}" for s in plan.added])
    block("Role changed", [f"{who(s.user_id)} in {where(s)}: {s.old_role} → {s.role}"
                           for s in plan.role_changes])
    block("Removed (no longer listed)", [f"{who(s.user_id)} as {s.role} of {where(s)}" for s in plan.removed])
    block("Kept: known only on Teams, not in this Slack roster",
          [f"{who(s.user_id)} as {s.role} of {where(s)}" for s in plan.kept if s.user_id in plan.elsewhere])
    block("Kept: not in this Slack roster (Slack's user list did not show them)",
          [f"{who(s.user_id)} as {s.role} of {where(s)}" for s in plan.kept if s.user_id not in plan.elsewhere])
    block("Same person, known on Teams first (linked by e-mail; their history stays theirs)",
          [f"{who(uid)} is {handle}" for uid, handle in sorted(plan.linked.items())])
    lines.append(f"Unchanged: {len(plan.unchanged)}")
    if not plan.has_changes:
        lines.append("No changes.")
    return lines
