"""Teams, schools and who holds which role in them: typed data access for every feature.

Other features read teams through the queries at the top (`active_members`, `facilitators`,
`principals`, `teams_of`); the changes below them record an `AuditEntry` for every role
change, because a district's privacy officer must be able to say who gave whom which role.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from storage.clock import session_now
from storage.identities import Place, set_place
from storage.models import AuditEntry, Membership, Person, School, SchoolLeader, Team
from storage.people import person_ref
from storage.rules.roles import Actor, may_create_team


def active_members(session: Session, *, team_id: int) -> list[Person]:
    """Everyone who should hear from the team: active membership (member or facilitator), active person."""
    query = (
        select(Person)
        .join(Membership, col(Membership.person_id) == Person.id)
        .where(Membership.team_id == team_id, col(Membership.active).is_(True), col(Person.active).is_(True))
        .order_by(col(Person.name), col(Person.id))
    )
    return list(session.exec(query).all())


def facilitators(session: Session, *, team_id: int) -> list[Person]:
    """The team's active facilitators (active people only)."""
    query = (
        select(Person)
        .join(Membership, col(Membership.person_id) == Person.id)
        .where(Membership.team_id == team_id, Membership.role == "facilitator",
               col(Membership.active).is_(True), col(Person.active).is_(True))
        .order_by(col(Person.name), col(Person.id))
    )
    return list(session.exec(query).all())


def principals(session: Session, *, school_id: int) -> list[Person]:
    """The school's leaders (principals, coaches) who are still active."""
    query = (
        select(Person)
        .join(SchoolLeader, col(SchoolLeader.person_id) == Person.id)
        .where(SchoolLeader.school_id == school_id, col(Person.active).is_(True))
        .order_by(col(Person.name), col(Person.id))
    )
    return list(session.exec(query).all())


def teams_of(session: Session, *, person_id: int) -> list[Team]:
    """The unarchived teams a person is an active member (or facilitator) of."""
    query = (
        select(Team)
        .join(Membership, col(Membership.team_id) == Team.id)
        .where(Membership.person_id == person_id, col(Membership.active).is_(True),
               col(Team.archived_at).is_(None))
        .order_by(col(Team.name), col(Team.id))
    )
    return list(session.exec(query).all())


# ---------------------------------------------------------------------- reading


def team_by_id(session: Session, *, team_id: int) -> Team | None:
    return session.get(Team, team_id)


def school_by_id(session: Session, *, school_id: int) -> School | None:
    return session.get(School, school_id)


def school_by_name(session: Session, *, name: str) -> School | None:
    """A school by name, ignoring case and extra spaces (how people type it)."""
    key = canonical(name)
    for school in session.exec(select(School)).all():
        if canonical(school.name) == key:
            return school
    return None


def all_schools(session: Session) -> list[School]:
    return list(session.exec(select(School).order_by(col(School.name))).all())


def team_by_name(session: Session, *, school_id: int, name: str,
                 exclude_team_id: int | None = None) -> Team | None:
    """A team of the school with this name (ignoring case; archived ones too, as the name stays taken)."""
    key = canonical(name)
    query = select(Team).where(Team.school_id == school_id)
    for team in session.exec(query).all():
        if team.id != exclude_team_id and canonical(team.name) == key:
            return team
    return None


def team_count(session: Session, *, school_id: int) -> int:
    return int(session.exec(select(func.count(col(Team.id))).where(Team.school_id == school_id)).one())


def member_roles(session: Session, *, team_id: int) -> dict[str, str]:
    """Slack user id -> role ("member" | "facilitator") of the team's active memberships."""
    rows = session.exec(
        select(Person.handle, Membership.role)
        .join(Membership, col(Membership.person_id) == Person.id)
        .where(Membership.team_id == team_id, col(Membership.active).is_(True))
    ).all()
    return {uid: role for uid, role in rows}


def leader_ids(session: Session, *, school_id: int) -> list[str]:
    """Slack user ids of the school's leaders, active or not (for showing and editing)."""
    return list(session.exec(
        select(Person.handle)
        .join(SchoolLeader, col(SchoolLeader.person_id) == Person.id)
        .where(SchoolLeader.school_id == school_id)
        .order_by(col(Person.name))
    ).all())


def schools_for_new_team(session: Session, actor: Actor) -> list[School]:
    """The schools where `actor` may create a team (see `roles.may_create_team`)."""
    counts = dict(session.exec(
        select(Team.school_id, func.count(col(Team.id))).group_by(col(Team.school_id))
    ).all())
    return [
        s for s in all_schools(session)
        if s.id is not None and may_create_team(actor, school_id=s.id, self_service=s.self_service,
                                                school_has_teams=counts.get(s.id, 0) > 0)
    ]


# ---------------------------------------------------------------------- changing


def canonical(name: str) -> str:
    """The form names are compared in: case and runs of spaces do not make a different team."""
    return " ".join((name or "").split()).casefold()


def audit(session: Session, *, actor: str, action: str, target: str, detail: str = "",
          at: datetime | None = None, school_id: int | None = None) -> None:
    """Record a change or export for the privacy officer.

    `actor` is who did it as the core names people (their handle: a Slack or Teams id), stored
    as their person row; or what did it when no person did ("cli:<login>", "plcbot",
    "retention"), stored as the entry's label.

    The entry's school comes from `school_id`, or else from a "school:N" or "team:N" target,
    so a principal's view of the log (`/plc audit`) holds their school's part and no more.
    Never pass the content of an answer as `detail`. `at` is the caller's `now`; left out, the
    session stamps the entry with its Database's clock (the injected one, like every stored time).
    """
    if school_id is None:
        school_id = _school_of_target(session, target)
    actor_id = actor_person(session, actor)
    entry = AuditEntry(actor_id=actor_id, actor_label="" if actor_id is not None else actor[:255],
                       action=action[:64], target=target[:200], detail=detail, school_id=school_id)
    if at is not None:
        entry.at = at
    session.add(entry)


def is_label(actor: str) -> bool:
    """True for who-did-it values that are no person: "cli:<login>", "plcbot", "retention"."""
    return not actor or actor.startswith("cli:") or (actor.isalpha() and actor.islower())


def actor_person(session: Session, actor: str) -> int | None:
    """The person row an actor's handle names (made for a Slack user not stored yet), or None
    for a label. Looked up once per session: a roster sync audits every seat."""
    if is_label(actor):
        return None
    cache: dict[str, int | None] = session.info.setdefault("plcbot.actor_people", {})
    if actor not in cache:
        cache[actor] = person_ref(session, actor)
    return cache[actor]


def audit_actor(session: Session, entry: AuditEntry) -> str:
    """Who made an entry, as the log shows it: the person's handle, or the label."""
    if entry.actor_id is None:
        return entry.actor_label
    person = session.get(Person, entry.actor_id)
    return person.handle if person is not None else entry.actor_label


def _person_detail(session: Session, person_id: int) -> str:
    """"person:N U123": the row id and the Slack id, so `plcbot audit --user U123` finds it."""
    person = session.get(Person, person_id)
    return f"person:{person_id} {person.handle}" if person is not None else f"person:{person_id}"


def _school_of_target(session: Session, target: str) -> int | None:
    kind, _, ref = target.partition(":")
    if not ref.isdigit():
        return None
    if kind == "school":
        return int(ref)
    if kind == "team":
        # Cached for the session: a sync of a big team audits every member of one team.
        cache: dict[int, int | None] = session.info.setdefault("audit_team_school", {})
        team_id = int(ref)
        if team_id not in cache:
            with session.no_autoflush:
                cache[team_id] = session.exec(select(Team.school_id).where(Team.id == team_id)).first()
        return cache[team_id]
    return None


def create_school(session: Session, *, name: str, timezone: str, actor: str, now: datetime,
                  self_service: bool = False) -> School:
    """`now` (the injected clock's) is when the school exists from: its digest plans no week before it."""
    school = School(name=" ".join(name.split()), timezone=timezone, self_service=self_service, created_at=now)
    session.add(school)
    session.flush()
    audit(session, actor=actor, action="school.create", target=f"school:{school.id}",
          detail=f"{school.name} ({timezone})", at=now)
    return school


SCHOOL_FIELDS = ("timezone", "self_service", "digest_weekday", "digest_time", "school_hours")


def update_school(session: Session, *, school_id: int, actor: str, now: datetime, **values: Any) -> list[str]:
    """Change school settings; returns "field: old → new" lines (empty when nothing changed)."""
    school = session.get(School, school_id)
    if school is None:
        raise LookupError(f"no school {school_id}")
    changed = []
    for name, value in values.items():
        if name not in SCHOOL_FIELDS:
            raise ValueError(f"not a school setting: {name}")
        if getattr(school, name) != value:
            changed.append(f"{name}: {getattr(school, name)} → {value}")
            setattr(school, name, value)
    if changed:
        session.add(school)
        audit(session, actor=actor, action="school.update", target=f"school:{school_id}",
              detail="; ".join(changed), at=now)
    return changed


def add_leader(session: Session, *, school_id: int, person_id: int, actor: str, now: datetime,
               title: str = "principal") -> bool:
    """Name a principal/leader; False when they already were one."""
    found = session.exec(select(SchoolLeader).where(
        SchoolLeader.school_id == school_id, SchoolLeader.person_id == person_id)).first()
    if found is not None:
        return False
    session.add(SchoolLeader(school_id=school_id, person_id=person_id, title=title, created_at=now))
    audit(session, actor=actor, action="principal.add", target=f"school:{school_id}",
          detail=_person_detail(session, person_id), at=now)
    return True


def remove_leader(session: Session, *, school_id: int, person_id: int, actor: str, now: datetime) -> bool:
    """Remove a principal/leader (the audit log keeps that they were one); False if they were not."""
    found = session.exec(select(SchoolLeader).where(
        SchoolLeader.school_id == school_id, SchoolLeader.person_id == person_id)).first()
    if found is None:
        return False
    session.delete(found)
    audit(session, actor=actor, action="principal.remove", target=f"school:{school_id}",
          detail=_person_detail(session, person_id), at=now)
    return True


@dataclass(frozen=True)
class Schedule:
    """A team's meeting schedule as stored: "mon,thu", "15:30" (local), minutes."""

    weekdays: str = ""
    time: str | None = None
    minutes: int = 45


def save_team(session: Session, *, team: Team | None, school_id: int, channel_id: str, name: str,
              timezone: str, schedule: Schedule, actor: str, now: datetime,
              share_names: bool | None = None, place: Place | None = None) -> tuple[Team, list[str]]:
    """Create the team (team=None) or update it; returns it with the changes made, audited.

    `share_names` None leaves the team's choice as it is (a roster import does not make it).
    `place` is where the team meets on its platform; a Slack channel (`channel_id`) when not given.
    """
    where = place or Place.slack(channel_id)
    wanted: dict[str, Any] = {
        "name": " ".join(name.split()),
        "channel_id": channel_id,
        "timezone": timezone,
        "meeting_weekdays": schedule.weekdays,
        "meeting_time": schedule.time,
        "meeting_minutes": schedule.minutes,
    }
    if share_names is not None:
        wanted["share_names_with_principal"] = share_names
    if team is None:
        team = Team(school_id=school_id, **wanted, created_at=now)
        session.add(team)
        session.flush()
        set_place(session, team, where, now=now, new=True)
        audit(session, actor=actor, action="team.create", target=f"team:{team.id}",
              detail=f"{team.name} in school:{school_id}, channel {channel_id}", at=now)
        return team, ["created"]
    changed = []
    for field_name, value in wanted.items():
        if getattr(team, field_name) != value:
            changed.append(f"{field_name}: {getattr(team, field_name)} → {value}")
            setattr(team, field_name, value)
    if changed:
        session.add(team)
        session.flush()
    if changed or place is not None:  # a Teams set-up also refreshes its service URL
        set_place(session, team, where, now=now)
    if changed:
        audit(session, actor=actor, action="team.update", target=f"team:{team.id}", detail="; ".join(changed),
              at=now)
    return team, changed


def archive_team(session: Session, *, team_id: int, actor: str, now: datetime) -> bool:
    team = session.get(Team, team_id)
    if team is None or team.archived_at is not None:
        return False
    team.archived_at = now
    session.add(team)
    audit(session, actor=actor, action="team.archive", target=f"team:{team_id}", detail=team.name, at=now)
    return True


@dataclass
class MemberChanges:
    """What a membership change did, by Slack user id; used for the confirmation message."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    role_changed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.role_changed)


def membership_change(current: tuple[bool, str] | None, role: str | None) -> tuple[str, str | None]:
    """What making someone `role` (None: leaving) does to a membership that is `current`
    ((active, role), or None for no row): the outcome and the audit action, if any.

    The one rule both a single change (`set_membership`) and a roster import use.
    """
    if role is None:
        if current is None or not current[0]:
            return "unchanged", None
        return "removed", f"{current[1]}.remove"
    if current is None:
        return "added", f"{role}.add"
    active, old = current
    if not active:
        return "reactivated", f"{role}.add"
    if old != role:
        return "role", f"{role}.add" if role == "facilitator" else "facilitator.remove"
    return "unchanged", None


def set_membership(session: Session, *, team_id: int, person: Person, role: str | None, actor: str,
                   now: datetime, changes: MemberChanges | None = None,
                   known: dict[tuple[int, int], Membership] | None = None) -> str:
    """Make `person` an active `role` of the team, or inactive (role=None). Idempotent.

    Returns "added", "reactivated", "role", "removed" or "unchanged". Inactive rows are kept
    (with `left_at`) so a teacher's past answers still belong to the team they gave them in.
    `known` (every membership row of the teams concerned, by (team_id, person_id)) saves a
    query per person on big imports.
    """
    assert person.id is not None
    if known is not None:
        row = known.get((team_id, person.id))
    else:
        row = session.exec(select(Membership).where(
            Membership.team_id == team_id, Membership.person_id == person.id)).first()
    uid = person.handle
    outcome, action = membership_change((row.active, row.role) if row is not None else None, role)
    if outcome == "unchanged":
        return outcome
    detail = f"person:{person.id} {uid}"
    if outcome == "removed":
        assert row is not None
        row.active, row.left_at = False, now
    elif outcome == "added":
        row = Membership(team_id=team_id, person_id=person.id, role=role or "member", joined_at=now)
        if known is not None:
            known[(team_id, person.id)] = row
    elif outcome == "reactivated":
        assert row is not None and role is not None
        row.active, row.left_at, row.role, row.joined_at = True, None, role, now
    else:
        assert row is not None and role is not None
        detail += f" ({row.role} → {role})"
        row.role = role
    session.add(row)
    assert action is not None
    audit(session, actor=actor, action=action, target=f"team:{team_id}", detail=detail, at=now)
    if changes is not None:
        {"removed": changes.removed, "role": changes.role_changed}.get(outcome, changes.added).append(uid)
    return outcome


def replace_members(session: Session, *, team_id: int, roles: dict[str, str], people: dict[str, Person],
                    actor: str, now: datetime) -> MemberChanges:
    """Make the team's active members exactly `roles` (Slack id -> role); others become inactive.

    Three queries whatever the team's size: its membership rows (past ones too) with their
    people, then the writes in one flush.
    """
    changes = MemberChanges()
    rows = session.exec(
        select(Membership, Person).join(Person, col(Person.id) == Membership.person_id)
        .where(Membership.team_id == team_id)
    ).all()
    known = {(team_id, m.person_id): m for m, _ in rows}
    with session.no_autoflush:
        for uid, role in roles.items():
            set_membership(session, team_id=team_id, person=people[uid], role=role, actor=actor, now=now,
                           changes=changes, known=known)
        for membership, person in rows:
            if membership.active and person.handle not in roles:
                set_membership(session, team_id=team_id, person=person, role=None, actor=actor, now=now,
                               changes=changes, known=known)
    session.flush()
    return changes


def leave_team(session: Session, *, team_id: int, handle: str, actor: str, now: datetime) -> bool:
    """Someone left the team's channel: their membership goes inactive, their history stays."""
    person = session.exec(select(Person).where(Person.handle == handle)).first()
    if person is None:
        return False
    outcome = set_membership(session, team_id=team_id, person=person, role=None, actor=actor, now=now)
    return outcome == "removed"


def set_person_active(session: Session, *, handle: str, active: bool, actor: str,
                      now: datetime | None = None) -> bool:
    """Slack deactivated (or restored) an account: prompts stop (or resume); nothing is deleted.

    `deactivated_at` starts the PLCBOT_FORGET_DEACTIVATED_DAYS clock; a restored account stops it.
    """
    person = session.exec(select(Person).where(Person.handle == handle)).first()
    if person is None or person.active == active:
        return False
    now = now or session_now(session)
    person.active = active
    person.deactivated_at = None if active else now
    session.add(person)
    audit(session, actor=actor, action="person.activate" if active else "person.deactivate",
          target=f"person:{person.id}", detail=handle, at=now)
    return True
