"""Team actions: saving a team's set-up, and changing its members and facilitators.

Each takes who (an `Actor`, loaded inside the caller's transaction), where (a team, or the chat
place a new team is bound to) and plain data, checks the role, writes and returns what changed.
What only a chat platform knows (who is in a channel, a person's name and time zone, whether the
bot is in the channel) is asked by the front beforehand, never while the write lock is held, and
comes in as plain data: `Profile` rows for the people not stored yet, and the ids left out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from handlers.core import ActionResult, Notice
from handlers.errors import UserError
from scheduling import keys
from storage import teams as store
from storage.identities import Place
from storage.models import Person, Team
from storage.people import ensure_people, team_for_channel
from storage.rules.agenda import RuleError
from storage.rules.roles import (
    WHO,
    Action,
    Actor,
    Role,
    allowed,
    keeps_a_facilitator,
    may_create_team,
    may_grant,
    require,
    require_grant,
)
from storage.views.team_actions import MembersChanged, SetupSaved, ShareNamesChanged

Profile = tuple[str, str, str | None, str | None]  # (person id, name, email, time zone), as ensure_people takes

LAST_FACILITATOR = "A team needs at least one facilitator; name another one before removing this one."
# The fields of the set-up form a refusal is shown on (`RuleError.field`); each front maps them.
F_NAME, F_SCHOOL, F_FACILITATORS = "name", "school", "facilitators"


class SetupStale(UserError):
    """The write found the team or the actor's role changed since the form was checked."""


@dataclass(frozen=True)
class TeamSetup:
    """The set-up form's answers, already read by the front."""

    place: str  # the id of the chat place the team is bound to (a Slack channel, a Teams channel)
    name: str
    school_id: int | None
    members: list[str]
    facilitators: list[str]
    weekdays: str
    time: str | None
    minutes: int
    timezone: str
    share_names: bool = False
    creating: bool = False  # the form was opened to create the team (a double submit finds it made)
    where: Place | None = None  # the place in full, when it is not a Slack channel (Teams: tenant, service URL)


@dataclass(frozen=True)
class SetupResult(ActionResult):
    view: SetupSaved | None = None


@dataclass(frozen=True)
class MembersResult(ActionResult):
    view: MembersChanged = field(default_factory=lambda: MembersChanged("member", False, ()))


def stored_people(session: Session, ids: list[str], fresh: Sequence[Profile], *, now: datetime) -> dict[str, Person]:
    """Person rows for `ids` inside the write: the ones looked up are created, the rest read."""
    people = ensure_people(session, fresh, now=now)
    rest = [uid for uid in ids if uid not in people]
    if rest:
        people.update({p.handle: p for p in session.exec(
            select(Person).where(col(Person.handle).in_(rest))).all()})
    return {uid: people[uid] for uid in ids if uid in people}


# ---------------------------------------------------------------------- set-up


def check_setup(session: Session, actor: Actor, setup: TeamSetup) -> None:
    """Read-only: may `actor` save this set-up? Raises `RuleError` with the field to show it on."""
    team = team_for_channel(session, setup.place)
    if team is not None:
        assert team.id is not None
        if not allowed(actor, Action.EDIT_TEAM, team_id=team.id, school_id=team.school_id):
            raise RuleError(f"Only {WHO[Role.FACILITATOR]} can change this team.", field=F_NAME)
        current = {u for u, r in store.member_roles(session, team_id=team.id).items() if r == "facilitator"}
        if set(setup.facilitators) != current and not may_grant(actor, Role.FACILITATOR, team_id=team.id,
                                                                  school_id=team.school_id):
            raise RuleError(f"Only {WHO[Role.FACILITATOR]} can change who facilitates.", field=F_FACILITATORS)
        school_id = team.school_id
    else:
        school = store.school_by_id(session, school_id=setup.school_id) if setup.school_id else None
        if school is None or school.id is None:
            raise RuleError("Choose the team's school.", field=F_SCHOOL)
        school_id = school.id
        if not may_create_team(actor, school_id=school.id, self_service=school.self_service,
                               school_has_teams=store.team_count(session, school_id=school.id) > 0):
            raise RuleError(f"Only {WHO[Role.PRINCIPAL]} can create a team in {school.name[:60]}.", field=F_SCHOOL)
    clash = store.team_by_name(session, school_id=school_id, name=setup.name,
                               exclude_team_id=team.id if team else None)
    if clash is not None:
        raise RuleError(f"{clash.name[:60]} is already a team in this school; choose another name.", field=F_NAME)


def setup_people(actor: Actor, setup: TeamSetup) -> tuple[list[str], list[str]]:
    """The facilitators and everyone the set-up names (the front looks up the ones not stored).

    A teacher creating a self-service school's first team leads it.
    """
    facilitators = list(setup.facilitators)
    if setup.creating and not allowed(actor, Action.CREATE_TEAM, school_id=setup.school_id) \
            and actor.handle not in facilitators:
        facilitators.append(actor.handle)
    return facilitators, list(dict.fromkeys([*facilitators, *setup.members]))


def write_setup(session: Session, actor: Actor, setup: TeamSetup, *, fresh: Sequence[Profile],
                skipped: Sequence[str], now: datetime) -> SetupResult:
    """Create or update the team and make its members exactly the ones named, in one transaction.

    Checks again on what is stored now: a double submit finds the team it made and edits it (to
    the same values), and a role taken meanwhile is refused (`SetupStale`).
    """
    try:
        check_setup(session, actor, setup)
    except RuleError:
        raise SetupStale("Nothing was saved: the team or your role changed while the form was open. "
                         "Run `/plc setup` again.") from None
    team = team_for_channel(session, setup.place)
    facilitators, everyone = setup_people(actor, setup)
    people = stored_people(session, everyone, fresh, now=now)
    roles = {uid: ("facilitator" if uid in facilitators else "member") for uid in everyone if uid in people}
    if not any(r == "facilitator" for r in roles.values()):
        raise UserError("Nothing was saved: none of the facilitators chosen is a person I can find in Slack.")
    school_id = team.school_id if team is not None else setup.school_id
    assert school_id is not None
    team, changed = store.save_team(
        session, team=team, school_id=school_id, channel_id=setup.place, name=setup.name,
        timezone=setup.timezone, schedule=store.Schedule(setup.weekdays, setup.time, setup.minutes),
        actor=actor.handle, now=now, share_names=setup.share_names, place=setup.where)
    assert team.id is not None
    changes = store.replace_members(session, team_id=team.id, roles=roles, people=people,
                                    actor=actor.handle, now=now)
    school = store.school_by_id(session, school_id=school_id)
    shared = bool(team.share_names_with_principal)
    share_changed = any(c.startswith("share_names_with_principal:") for c in changed) or (
        changed == ["created"] and shared)
    notices: tuple[Notice, ...] = ()
    if share_changed:  # teachers must know who reads their answers by name; the key names the change
        stamp = now.strftime("%Y%m%dT%H%M%S.%f")
        notices = (Notice(view=ShareNamesChanged(actor=actor.handle, team_name=team.name, shared=shared),
                          team_id=team.id, key=keys.team_share_names(team.id, shared, stamp)),)
    verb = "is set up" if changed == ["created"] else ("is updated" if changed or changes else "is unchanged")
    view = SetupSaved(team_name=team.name, verb=verb, school_name=school.name if school else None,
                      weekdays=team.meeting_weekdays, time=team.meeting_time, minutes=team.meeting_minutes,
                      timezone=team.timezone, added=tuple(changes.added), removed=tuple(changes.removed),
                      skipped=tuple(skipped))
    return SetupResult(reply=f"{team.name} {verb}.", changed=tuple(changed), notices=notices,
                       refresh_homes=(*changes.added, *changes.removed, *changes.role_changed), view=view)


# ---------------------------------------------------------------------- members


def require_change_members(actor: Actor, team: Team, role: str) -> None:
    """Raise `Forbidden` unless `actor` may change `role`s of `team` (facilitators: may grant it)."""
    assert team.id is not None
    if role == "facilitator":
        require_grant(actor, Role.FACILITATOR, team_id=team.id, school_id=team.school_id)
    else:
        require(actor, Action.EDIT_TEAM, team_id=team.id, school_id=team.school_id)


def change_members(session: Session, actor: Actor, *, team_id: int, people_ids: list[str], role: str,
                   remove: bool, fresh: Sequence[Profile] = (), skipped: Sequence[str] = (),
                   now: datetime) -> MembersResult:
    """Add or remove members (`role` "member") or facilitators ("facilitator").

    Adding someone as a member never demotes a facilitator, a facilitator stepping down stays a
    member, and no change leaves a team that has a facilitator without one (`UserError`).
    `fresh` are the profiles of people to add who are not stored yet; `skipped` the ids the
    front could not find (bots, deactivated accounts).
    """
    team = store.team_by_id(session, team_id=team_id)
    if team is None or team.archived_at is not None:
        raise UserError("That team no longer exists.")
    require_change_members(actor, team, role)
    current = store.member_roles(session, team_id=team_id)
    people = stored_people(session, people_ids, fresh, now=now)
    wanted: dict[str, str | None] = {}
    for uid in people:
        if remove:  # a facilitator stepping down stays a member; a member removed leaves
            wanted[uid] = "member" if role == "facilitator" and uid in current else None
        elif role == "member" and current.get(uid) == "facilitator":
            wanted[uid] = "facilitator"  # already in the team, and leading it
        else:
            wanted[uid] = role
    if not keeps_a_facilitator(current, wanted):
        raise UserError(LAST_FACILITATOR)
    done = []
    for uid, new_role in wanted.items():
        outcome = store.set_membership(session, team_id=team_id, person=people[uid], role=new_role,
                                       actor=actor.handle, now=now)
        if outcome != "unchanged":
            done.append(uid)
    left_out = [uid for uid in people_ids if uid not in people] if remove else list(skipped)
    what = {("member", False): "added to the team", ("member", True): "removed from the team",
            ("facilitator", False): "now facilitating", ("facilitator", True): "no longer facilitating"}
    reply = f"{len(done)} {what[(role, remove)]}." if done else "Nothing to change: they already were."
    return MembersResult(reply=reply, changed=tuple(f"{uid}: {wanted[uid] or 'left'}" for uid in done),
                         refresh_homes=tuple(done),
                         view=MembersChanged(role=role, remove=remove, done=tuple(done), skipped=tuple(left_out)))


# ---------------------------------------------------------------------- the `team` command


@dataclass(frozen=True)
class TeamAsked:
    """What `team …` asks: "show", "archive", or "add" / "remove" `role`s; `rest` names the people
    (each front reads its own mentions from it)."""

    op: str
    role: str = "member"
    rest: str = ""

    def nobody(self, code: Callable[[str], str]) -> UserError:
        """The refusal when no person is named."""
        role = "facilitator " if self.role == "facilitator" else ""
        return UserError(f"Mention the people to {self.op}, like {code(f'team {role}{self.op} @name')}.")


def team_command(args: str, *, code: Callable[[str], str]) -> TeamAsked:
    """`team` (show it), `team add | remove @person …`, `team facilitator add | remove @person …` and
    `team archive`: one reading of the words for every front. `code` words a command the way the
    front shows one (Slack: `/plc …` in code; Teams: plain words)."""
    word, _, rest = args.strip().partition(" ")
    word = word.lower()
    if word in ("", "show"):
        return TeamAsked("show")
    if word == "archive":
        return TeamAsked("archive")
    role = "member"
    if word in ("facilitator", "facilitators"):
        role = "facilitator"
        word, _, rest = rest.strip().partition(" ")
        word = word.lower()
    if word not in ("add", "remove"):
        raise UserError(f"Use {code('team')}, {code('team add @person')}, {code('team remove @person')}, "
                        f"{code('team facilitator add @person')} or {code('team archive')}.")
    return TeamAsked(word, role, rest.strip())


def archive_team(session: Session, actor: Actor, *, team_id: int, now: datetime) -> ActionResult:
    """Archive the team (principals and admins): its history is kept, nothing more is sent for it."""
    team = store.team_by_id(session, team_id=team_id)
    if team is None or team.archived_at is not None:
        raise UserError("That team no longer exists.")
    require(actor, Action.ARCHIVE_TEAM, team_id=team_id, school_id=team.school_id)
    members = tuple(store.member_roles(session, team_id=team_id))
    store.archive_team(session, team_id=team_id, actor=actor.handle, now=now)
    return ActionResult(reply=f"{team.name} is archived. Its history is kept; nothing more will be sent for it.",
                        changed=("archived",), refresh_homes=members)
