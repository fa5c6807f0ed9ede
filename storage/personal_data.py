"""The inventory of personal data: every table and column that names a person.

A person is named two ways: by their `person.id` (a foreign key such as `checkin.person_id` or
`agendaitem.owner_id`) or by their Slack user id held in a string column (`auditentry.actor`, …),
sometimes inside longer text (a ledger key `checkin:12:U012AB:3`, a mention `<@U012AB>`).
The export (`bot/render/personal_workbook.py`) and the erasure (`storage/erasure.py`) both
read this one list, so what is handed over and what is erased cannot disagree, and
`tests/test_erasure.py` checks it against the models' metadata: a new foreign key to
`person.id`, or a new column whose name says it holds a Slack user id, fails the test until it
is listed here.

What the erasure does with each kind (`treatment`), and why:
- ``keep``: the row stays and points at the tombstone, so the team's figures (response rates,
  averages, attendance, commitments) count it as before, without a name.
- ``unlink``: the row stays and its person becomes empty (named feedback becomes unattributed).
- ``deactivate``: the membership ends (inactive, `left_at` set) and its history stays.
- ``delete``: the row goes (school leadership: a forgotten person leads nothing).
- ``token`` (Slack id columns): the id is replaced by the tombstone's random `forgotten-…`
  token, so "who did it" reads "a former member" and ledger keys stay unique.
- ``null`` (DM channel columns): emptied.
Free text the person wrote about themselves (check-in evidence and support text, named
feedback) is deleted: ratings, progress and data points stay for the figures. Records they
wrote for the team (agenda items, action items, norms, decisions, reflections) stay with the
team: who added, owns or did them (`agendaitem.owner_id`, `normrevision.changed_by_id`, …) is a
``keep`` person key, so it names the tombstone, that is nobody. Anything else holding their id
inside longer text (ledger keys, job payloads, audit details, mentions in free text) is caught
by a sweep of every string column of every table (`text_columns`, `replace_id`).

The ledger's `delivery.body` holds an answer the bot still owes (its words, and where it goes)
only until it is sent or failed, and its words at most `command_replies.FORGET_AFTER` (7 days)
once it is in doubt. It is the bot's text, not theirs, so it is in no export sheet;
the erasure cancels what is still owed to the person and empties its body (`storage.erasure`),
and the sweep of string columns reaches their ids in anyone else's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Column, MetaData, String, Table, Text, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, col, select
from sqlmodel.sql.expression import Select

from storage.models import (
    ActionItem,
    AgendaItem,
    Attendance,
    AuditEntry,
    Checkin,
    CheckinRound,
    Cycle,
    Delivery,
    Feedback,
    Meeting,
    Membership,
    NormCommitment,
    Person,
    PersonIdentity,
    School,
    SchoolLeader,
    SupportRequest,
    Team,
)

# A Slack user id: U… or W… (Enterprise Grid), upper-case letters and digits.
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,31}$")
TOKEN_PREFIX = "forgotten-"  # noqa: S105 - a marker, not a secret
FORMER_MEMBER = "a former member"


@dataclass(frozen=True)
class PersonKey:
    """A column holding `person.id`."""

    table: str
    column: str
    treatment: str  # keep | unlink | deactivate | delete
    what: str  # what the row is, in the export's and the dry run's words
    sheet: str  # the export sheet that shows these rows


@dataclass(frozen=True)
class SlackIdColumn:
    """A string column holding one Slack user id (or a DM channel id) as its whole value."""

    table: str
    column: str
    treatment: str  # token | null
    what: str
    sheet: str


@dataclass(frozen=True)
class AuthoredText:
    """Free text a person wrote about themselves, on rows found through `owner` (a PersonKey)."""

    table: str
    column: str
    owner: str  # the column of `table` holding person.id
    blank: str | None  # what it becomes: None (NULL) or "" for NOT NULL columns


PERSON_KEYS: tuple[PersonKey, ...] = (
    PersonKey("membership", "person_id", "deactivate", "team membership and role", "Teams and roles"),
    PersonKey("schoolleader", "person_id", "delete", "school leadership (principal)", "Teams and roles"),
    PersonKey("checkin", "person_id", "keep", "check-in prompt and answer", "Check-ins"),
    PersonKey("supportrequest", "person_id", "keep", "support request", "Support requests"),
    PersonKey("feedback", "person_id", "unlink", "named meeting feedback", "Named feedback"),
    PersonKey("actionitem", "owner_id", "keep", "action item owned", "Action items"),
    PersonKey("normcommitment", "person_id", "keep", "norms commitment", "Norm commitments"),
    PersonKey("attendance", "person_id", "keep", "meeting attendance", "Meetings attended"),
    # Who owns or did something for their team: the row stays with the team and, pointing at
    # the tombstone, names nobody.
    PersonKey("actionitem", "created_by_id", "keep", "action item created", "Action items"),
    PersonKey("actionitem", "done_by_id", "keep", "action item marked done", "Action items"),
    PersonKey("agendaitem", "owner_id", "keep", "agenda item owned", "Agenda items"),
    PersonKey("agendaitem", "added_by_id", "keep", "agenda item added", "Agenda items"),
    PersonKey("supportrequest", "follower_id", "keep", "support request followed up", "Other records"),
    PersonKey("meetingrecord", "timekeeper_id", "keep", "meeting timekeeper", "Other records"),
    PersonKey("meetingrecord", "notetaker_id", "keep", "meeting note-taker", "Other records"),
    PersonKey("meetingrecord", "wrapped_up_by_id", "keep", "meeting wrapped up", "Other records"),
    PersonKey("cycle", "created_by_id", "keep", "learning cycle started", "Other records"),
    PersonKey("cyclereflection", "submitted_by_id", "keep", "cycle reflection submitted", "Other records"),
    PersonKey("normrevision", "changed_by_id", "keep", "norms edited", "Other records"),
    PersonKey("schoolbreak", "created_by_id", "keep", "school break added", "Other records"),
    PersonKey("schoolyear", "closed_by_id", "keep", "school year closed", "Other records"),
    # The ledger of messages the bot sent them, and the audit log's "who did it": history that
    # stays (the ledger keeps a round from sending twice), naming the tombstone, that is nobody.
    PersonKey("delivery", "person_id", "keep", "message sent by the bot", "Other records"),
    PersonKey("auditentry", "actor_id", "keep", "change recorded in the audit log", "Other records"),
    # Who they are on Slack or Teams and how the bot reaches them (DM channel, conversation
    # reference): nothing to count for a team, and a way to reach them, so it goes.
    PersonKey("personidentity", "person_id", "delete", "chat account (Slack or Teams) and how the bot reaches you",
              "Other records"),
)

# Every column that names a person is a person key now (migrations 0009 and 0011); a chat id
# survives only inside longer text (ledger keys, audit targets), which the sweep handles.
SLACK_ID_COLUMNS: tuple[SlackIdColumn, ...] = ()

# The person's direct-message channel with the bot (`person.dm_channel_id`) is held here too.
DM_CHANNEL_COLUMNS: tuple[SlackIdColumn, ...] = (
    SlackIdColumn("checkin", "channel_id", "null", "check-in message's DM", "Check-ins"),
    SlackIdColumn("delivery", "channel_id", "null", "message's DM", "Other records"),
)

AUTHORED_TEXT: tuple[AuthoredText, ...] = (
    AuthoredText("checkin", "evidence", "person_id", None),
    AuthoredText("checkin", "support", "person_id", None),
    AuthoredText("feedback", "will_try", "person_id", ""),
    AuthoredText("feedback", "evidence", "person_id", ""),
    AuthoredText("feedback", "next_focus", "person_id", ""),
)

# The person's own row: what the tombstone keeps (nothing that names them).
PROFILE_COLUMNS = ("handle", "name", "email", "tz", "dm_channel_id", "away_from", "away_until")

# Column names that, by this project's conventions, hold a Slack user id. The test that guards
# this inventory fails when a column so named is missing from SLACK_ID_COLUMNS.
SLACK_ID_NAMES = re.compile(r"(^|_)(user_id|owner|by|follower|recipient|actor|timekeeper|notetaker)$")
NOT_SLACK_IDS = frozenset({
    ("person", "handle"),  # the tombstone handles its own row
    ("scheduledjob", "claimed_by"),  # a worker process, not a person
})


def valid_user_id(user_id: str) -> bool:
    return bool(SLACK_USER_ID.match(user_id or ""))


def is_token(user_id: str | None) -> bool:
    """True for the `forgotten-…` token that replaced an erased person's Slack id."""
    return bool(user_id) and str(user_id).startswith(TOKEN_PREFIX)


def id_pattern(needle: str) -> re.Pattern[str]:
    """`needle` as a whole id: not inside a longer id (U012AB must not match U012ABC), and
    a mention's `|label` (`<@U012AB|maria>`, a display name) goes with it."""
    quoted = re.escape(needle)
    return re.compile(rf"<@{quoted}(?:\|[^>]*)?>|(?<![A-Za-z0-9]){quoted}(?![A-Za-z0-9])")


def name_pattern(name: str) -> re.Pattern[str]:
    """`@Name` as the bot itself writes a mention into stored text (the "Add to PLC agenda"
    shortcut turns `<@U012AB>` into `@` + the name it stores), not followed by more of a word.

    Only this form is matched: a bare name typed by a colleague cannot be told from someone
    else's, so it is left alone (the erasure's output says so)."""
    return re.compile(rf"@{re.escape(name)}(?![\w])")


def replace_id(text: str, patterns: list[tuple[re.Pattern[str], str]]) -> str:
    """Every whole occurrence of each needle replaced by its token (mentions stay mentions)."""
    for pattern, token in patterns:
        def swap(m: re.Match[str], t: str = token) -> str:
            return f"<@{t}>" if m.group(0).startswith("<@") else t
        text = pattern.sub(swap, text)
    return text


def text_columns(metadata: MetaData) -> list[tuple[Table, list[Column], list[Column]]]:
    """(table, primary-key columns, string columns) for every table that holds text.

    String primary keys are left out of the sweep (no table keys rows by a person's id).
    """
    out = []
    for table in metadata.sorted_tables:
        keys = list(table.primary_key.columns)
        cols = [c for c in table.columns if is_text(c) and not c.primary_key]
        if cols and keys:
            out.append((table, keys, cols))
    return out


def is_text(column: Column) -> bool:
    """A string column, whatever its declared type (SQLModel's AutoString is a TypeDecorator)."""
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    return isinstance(kind, (String, Text))


def column_limit(column: Column) -> int | None:
    length = getattr(column.type, "length", None)
    return int(length) if length else None


# ------------------------------------------------------------------------------- the export
@dataclass
class PersonalData:
    """Everything stored about one person, as plain rows for the export's sheets.

    Dates and times are already in the zone they belong to (the team's, the school's, the
    person's own) and carry no tzinfo: a workbook has no time zones.
    """

    profile: list[tuple[str, object]]
    sheets: dict[str, list[tuple[object, ...]]]
    team_names: list[str]

    def count(self, sheet: str) -> int:
        return len(self.sheets.get(sheet, []))


SHEETS: tuple[str, ...] = (
    "Teams and roles", "Check-ins", "Support requests", "Named feedback", "Action items",
    "Norm commitments", "Meetings attended", "Agenda items", "Other records",
)


def _local(value: datetime | None, tz: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        zone = ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return value.astimezone(zone).replace(tzinfo=None)


def find_person(session: Session, handle: str) -> Person | None:
    return session.exec(select(Person).where(Person.handle == handle)).first()


def collect(session: Session, person: Person, *, now: datetime) -> PersonalData:
    """Read everything the inventory lists about `person`: one query per sheet."""
    assert person.id is not None
    pid, uid = person.id, person.handle
    if person.forgotten_at is not None:
        status = f"forgotten on {person.forgotten_at:%Y-%m-%d}"
    elif not person.active:
        status = "deactivated in Slack" + (f" since {person.deactivated_at:%Y-%m-%d}" if person.deactivated_at else "")
    else:
        status = "active"
    profile: list[tuple[str, object]] = [
        ("Slack user id", uid), ("Name", person.name), ("E-mail", person.email or ""),
        ("Time zone", person.tz or ""), ("Account", status),
        ("Away", f"{person.away_from or ''} to {person.away_until}" if person.away_until else ""),
        ("Known to the bot since", _local(person.created_at, person.tz)),
        ("Exported at", _local(now, person.tz)),
    ]
    sheets: dict[str, list[tuple[object, ...]]] = {}

    rows: list[tuple[object, ...]] = []
    for m, team, school in session.exec(
        select(Membership, Team, School).join(Team, col(Team.id) == Membership.team_id)
        .join(School, col(School.id) == Team.school_id).where(Membership.person_id == pid)
        .order_by(col(School.name), col(Team.name))
    ).all():
        rows.append((school.name, team.name, m.role, "yes" if m.active else "no",
                     _local(m.joined_at, team.timezone), _local(m.left_at, team.timezone)))
    for leader, school in session.exec(
        select(SchoolLeader, School).join(School, col(School.id) == SchoolLeader.school_id)
        .where(SchoolLeader.person_id == pid).order_by(col(School.name))
    ).all():
        rows.append((school.name, "", leader.title, "yes", _local(leader.created_at, school.timezone), None))
    sheets["Teams and roles"] = rows
    team_names = sorted({str(r[1]) for r in rows if r[1] and r[3] == "yes"})

    # sqlmodel's select() is typed for up to four entities; for more it returns Select(*entities),
    # built here directly (here and below) and cast to the rows it yields.
    checkin_rows = session.exec(
        cast("Select[Checkin, CheckinRound, Cycle, Team, School]", Select(Checkin, CheckinRound, Cycle, Team, School))
        .join(CheckinRound, col(CheckinRound.id) == Checkin.round_id)
        .join(Cycle, col(Cycle.id) == Checkin.cycle_id).join(Team, col(Team.id) == Cycle.team_id)
        .join(School, col(School.id) == Team.school_id)
        .where(Checkin.person_id == pid).order_by(col(CheckinRound.local_day), col(Checkin.id))
    ).all()
    sheets["Check-ins"] = [
        (school.name, team.name, cycle.title, c.week, rnd.local_day, c.status, c.progress or "", c.value,
         cycle.metric_unit, c.evidence or "", c.support or "", _local(c.answered_at, team.timezone))
        for c, rnd, cycle, team, school in checkin_rows
    ]

    follower = aliased(Person)
    sheets["Support requests"] = [
        (school.name, team.name, cycle.title, c.week, sr.state, _local(sr.created_at, team.timezone),
         (fname or "") if fid else "", _local(sr.resolved_at, team.timezone), c.support or "")
        for sr, c, cycle, team, school, fname, fid in session.exec(
            cast("Select[SupportRequest, Checkin, Cycle, Team, School, str | None, int | None]",  # outer join
                 Select(SupportRequest, Checkin, Cycle, Team, School, col(follower.name), col(follower.id)))
            .join(Checkin, col(Checkin.id) == SupportRequest.checkin_id)
            .join(Cycle, col(Cycle.id) == SupportRequest.cycle_id).join(Team, col(Team.id) == SupportRequest.team_id)
            .join(School, col(School.id) == Team.school_id)
            .outerjoin(follower, col(follower.id) == SupportRequest.follower_id)
            .where(SupportRequest.person_id == pid).order_by(col(SupportRequest.created_at))
        ).all()
    ]

    sheets["Named feedback"] = [
        (school.name, team.name, _local(meeting.starts_at, team.timezone), f.answered_on, f.useful, f.learned,
         f.norms, f.will_try, f.evidence, f.next_focus)
        for f, meeting, team, school in session.exec(
            select(Feedback, Meeting, Team, School).join(Meeting, col(Meeting.id) == Feedback.meeting_id)
            .join(Team, col(Team.id) == Feedback.team_id).join(School, col(School.id) == Team.school_id)
            .where(Feedback.person_id == pid).order_by(col(Meeting.starts_at))
        ).all()
    ]

    owner = aliased(Person)
    actions: list[tuple[object, ...]] = []
    for item, team, school, owner_name in session.exec(
        select(ActionItem, Team, School, owner.name).join(Team, col(Team.id) == ActionItem.team_id)
        .join(School, col(School.id) == Team.school_id).join(owner, col(owner.id) == ActionItem.owner_id)
        .where(or_(col(ActionItem.owner_id) == pid, col(ActionItem.created_by_id) == pid,
                   col(ActionItem.done_by_id) == pid))
        .order_by(col(ActionItem.created_at))
    ).all():
        parts = [p for p, yes in (("owner", item.owner_id == pid), ("created it", item.created_by_id == pid),
                                  ("marked it done", item.done_by_id == pid)) if yes]
        actions.append((school.name, team.name, item.text, ", ".join(parts), owner_name, item.due_date,
                        item.status, _local(item.created_at, team.timezone), _local(item.done_at, team.timezone)))
    sheets["Action items"] = actions

    sheets["Norm commitments"] = [
        (school.name, team.name, nc.version, _local(nc.committed_at, team.timezone))
        for nc, team, school in session.exec(
            select(NormCommitment, Team, School).join(Team, col(Team.id) == NormCommitment.team_id)
            .join(School, col(School.id) == Team.school_id).where(NormCommitment.person_id == pid)
            .order_by(col(NormCommitment.committed_at))
        ).all()
    ]

    sheets["Meetings attended"] = [
        (school.name, team.name, _local(meeting.starts_at, team.timezone), meeting.title,
         "present" if a.present else "absent")
        for a, meeting, team, school in session.exec(
            select(Attendance, Meeting, Team, School).join(Meeting, col(Meeting.id) == Attendance.meeting_id)
            .join(Team, col(Team.id) == Meeting.team_id).join(School, col(School.id) == Team.school_id)
            .where(Attendance.person_id == pid).order_by(col(Meeting.starts_at))
        ).all()
    ]

    sheets["Agenda items"] = [
        (school.name, team.name, _local(meeting.starts_at, team.timezone), item.title, item.minutes,
         ", ".join(p for p, yes in (("owner", item.owner_id == pid), ("added it", item.added_by_id == pid)) if yes))
        for item, meeting, team, school in session.exec(
            select(AgendaItem, Meeting, Team, School).join(Meeting, col(Meeting.id) == AgendaItem.meeting_id)
            .join(Team, col(Team.id) == Meeting.team_id).join(School, col(School.id) == Team.school_id)
            .where(or_(col(AgendaItem.owner_id) == pid, col(AgendaItem.added_by_id) == pid))
            .order_by(col(Meeting.starts_at))
        ).all()
    ]

    sheets["Other records"] = _identities(session, pid, tz=person.tz) + _other_records(session, pid, uid, tz=person.tz)
    return PersonalData(profile, sheets, team_names)


PLATFORM_NAMES = {"slack": "Slack", "teams": "Microsoft Teams"}


def _identities(session: Session, pid: int, *, tz: str | None) -> list[tuple[object, ...]]:
    """Their chat accounts (`personidentity`): the id each platform knows them by, and where the
    bot writes to them."""
    out: list[tuple[object, ...]] = []
    for ident in session.exec(select(PersonIdentity).where(PersonIdentity.person_id == pid)
                              .order_by(col(PersonIdentity.id))).all():
        platform = PLATFORM_NAMES.get(ident.platform, ident.platform)
        detail = [f"user id {ident.external_id}"]
        if ident.workspace:
            detail.append(f"{'tenant' if ident.platform == 'teams' else 'workspace'} {ident.workspace}")
        if ident.conversation_id:
            detail.append(f"the bot's chat with you: {ident.conversation_id}")
        if ident.service_url:
            detail.append(f"via {ident.service_url}")
        out.append((f"your chat account on {platform}", _local(ident.created_at, tz), "; ".join(detail)))
    return out


def _other_records(session: Session, pid: int, uid: str, *, tz: str | None) -> list[tuple[object, ...]]:
    """The inventory's remaining columns: what they did for their teams (person ids, then Slack
    ids), the bot's messages to them (counted by kind), and audit entries made by or about them."""
    out: list[tuple[object, ...]] = []
    tables = {t.name: t for t in SQLModel.metadata.sorted_tables}
    stamp = {"supportrequest": "updated_at", "meetingrecord": "wrapped_up_at", "cycle": "created_at",
             "cyclereflection": "submitted_at", "normrevision": "changed_at", "schoolbreak": "created_at",
             "schoolyear": "closed_at"}
    refs: list[tuple[PersonKey | SlackIdColumn, object]] = [
        (key, pid) for key in PERSON_KEYS if key.sheet == "Other records" and key.table in stamp]
    for ref, value in refs:
        table = tables[ref.table]
        when = table.c[stamp[ref.table]]
        for (at,) in session.execute(sa_select(when).where(table.c[ref.column] == value).order_by(when)).all():
            out.append((ref.what, _local(at, tz), ""))
    for kind, n, last in session.execute(
        sa_select(col(Delivery.kind), func.count(), func.max(Delivery.created_at))
        .where(col(Delivery.person_id) == pid).group_by(col(Delivery.kind)).order_by(col(Delivery.kind))
    ).all():
        out.append((f"messages the bot sent you: {kind}", _local(last, tz), f"{n} in all (the latest date shown)"))
    about = or_(col(AuditEntry.actor_id) == pid, col(AuditEntry.target).contains(uid),
                col(AuditEntry.detail).contains(uid))
    whole = id_pattern(uid)
    # LIKE also matches a longer id (U012AB inside U012ABC): keep whole-id matches only.
    entries = [entry for entry in session.exec(select(AuditEntry).where(about).order_by(col(AuditEntry.at))).all()
               if entry.actor_id == pid or whole.search(f"{entry.target} {entry.detail}")]
    names = _target_names(session, [entry.target for entry in entries])
    for entry in entries:
        who = "you" if entry.actor_id == pid else "someone else"
        out.append((f"{AUDIT_PREFIX}{entry.action} (by {who})", _local(entry.at, tz),
                    names.get(entry.target, entry.target)))
    return out


AUDIT_PREFIX = "audit log: "


def _target_names(session: Session, targets: list[str]) -> dict[str, str]:
    """'team:5' -> 'the team Grade 3 Math': an audit entry's target as its owner reads it."""
    wanted: dict[str, set[int]] = {"team": set(), "school": set()}
    for target in targets:
        kind, _, number = target.partition(":")
        if kind in wanted and number.isdigit():
            wanted[kind].add(int(number))
    names: dict[str, str] = {}
    if wanted["team"]:
        for team_id, name in session.execute(
                sa_select(col(Team.id), col(Team.name)).where(col(Team.id).in_(wanted["team"]))).all():
            names[f"team:{team_id}"] = f"the team {name}"
    if wanted["school"]:
        for school_id, name in session.execute(
                sa_select(col(School.id), col(School.name)).where(col(School.id).in_(wanted["school"]))).all():
            names[f"school:{school_id}"] = f"the school {name}"
    return names
