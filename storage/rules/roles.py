"""Who may do what. The one place roles are decided; every change checks here on the server.

admin ⊇ principal (of the school) ⊇ facilitator (of the team) ⊇ member (acts for themselves).
Nobody can give a role above their own: a facilitator names members, a principal names
facilitators, only an admin names principals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    MEMBER = "member"
    FACILITATOR = "facilitator"
    PRINCIPAL = "principal"
    ADMIN = "admin"


RANK = {Role.MEMBER: 1, Role.FACILITATOR: 2, Role.PRINCIPAL: 3, Role.ADMIN: 4}


class Action(StrEnum):
    CREATE_SCHOOL = "create a school"
    NAME_PRINCIPAL = "name or remove a school's principals"
    EDIT_SCHOOL = "change the school's settings"
    NAME_FACILITATOR = "name or remove a team's facilitators"
    CREATE_TEAM = "create a team"
    ARCHIVE_TEAM = "archive a team"
    EDIT_TEAM = "change the team and its members"
    EDIT_NORMS = "edit the team's norms"
    EDIT_AGENDA = "edit the agenda"
    POST_AGENDA = "post the agenda"
    MANAGE_MEETINGS = "add, cancel or wrap up meetings"
    MANAGE_CYCLE = "start, pause, edit or end the learning cycle"
    SEND_CHECKIN = "send this week's check-in"
    VIEW_RESULTS = "see feedback results and support requests"
    FOLLOW_UP_SUPPORT = "follow up support requests"
    VIEW_DIGEST = "get the digest"
    ADD_AGENDA_ITEM = "add an agenda item"
    ASSIGN_ACTION = "assign an action item"
    VIEW_AUDIT = "see the audit log"


# The lowest role that may take each action, and where that role must hold.
NEEDS: dict[Action, Role] = {
    Action.CREATE_SCHOOL: Role.ADMIN,
    Action.NAME_PRINCIPAL: Role.ADMIN,
    Action.EDIT_SCHOOL: Role.PRINCIPAL,
    Action.NAME_FACILITATOR: Role.PRINCIPAL,
    Action.CREATE_TEAM: Role.PRINCIPAL,
    Action.ARCHIVE_TEAM: Role.PRINCIPAL,
    Action.EDIT_TEAM: Role.FACILITATOR,
    Action.EDIT_NORMS: Role.FACILITATOR,
    Action.EDIT_AGENDA: Role.FACILITATOR,
    Action.POST_AGENDA: Role.FACILITATOR,
    Action.MANAGE_MEETINGS: Role.FACILITATOR,
    Action.MANAGE_CYCLE: Role.FACILITATOR,
    Action.SEND_CHECKIN: Role.FACILITATOR,
    Action.VIEW_RESULTS: Role.FACILITATOR,
    Action.FOLLOW_UP_SUPPORT: Role.FACILITATOR,
    Action.VIEW_DIGEST: Role.FACILITATOR,
    Action.ADD_AGENDA_ITEM: Role.MEMBER,
    Action.ASSIGN_ACTION: Role.MEMBER,
    Action.VIEW_AUDIT: Role.PRINCIPAL,
}

WHO = {
    Role.MEMBER: "members of this team",
    Role.FACILITATOR: "this team's facilitators (or the school's principals)",
    Role.PRINCIPAL: "the school's principals (or a plcbot admin)",
    Role.ADMIN: "a plcbot admin (named in PLCBOT_ADMINS)",
}


@dataclass(frozen=True)
class Actor:
    """What one person is, everywhere: loaded once per request.

    `person_id` is their row (None for someone the bot has not stored yet: an admin who is in no
    team); what they write is keyed by it. `handle` is how the core and the fronts name them in
    messages and mentions (`person.handle`: a Slack `U…` or a Teams `29:…`)."""

    handle: str
    person_id: int | None = None
    is_admin: bool = False
    principal_of: frozenset[int] = field(default_factory=frozenset)  # school ids
    facilitator_of: frozenset[int] = field(default_factory=frozenset)  # team ids
    member_of: frozenset[int] = field(default_factory=frozenset)  # team ids (facilitators too)

    def role_in(self, *, team_id: int | None = None, school_id: int | None = None) -> Role | None:
        """The highest role this person holds for a team (of `school_id`) or a school."""
        if self.is_admin:
            return Role.ADMIN
        if school_id is not None and school_id in self.principal_of:
            return Role.PRINCIPAL
        if team_id is not None and team_id in self.facilitator_of:
            return Role.FACILITATOR
        if team_id is not None and team_id in self.member_of:
            return Role.MEMBER
        return None

    @property
    def highest(self) -> Role | None:
        if self.is_admin:
            return Role.ADMIN
        if self.principal_of:
            return Role.PRINCIPAL
        if self.facilitator_of:
            return Role.FACILITATOR
        if self.member_of:
            return Role.MEMBER
        return None


class Forbidden(Exception):
    """Refusal with a message that says who can do it; shown to the user ephemerally."""

    def __init__(self, action: Action, needed: Role) -> None:
        super().__init__(f"Only {WHO[needed]} can {action.value}.")
        self.action = action
        self.needed = needed


def allowed(actor: Actor, action: Action, *, team_id: int | None = None, school_id: int | None = None) -> bool:
    role = actor.role_in(team_id=team_id, school_id=school_id)
    return role is not None and RANK[role] >= RANK[NEEDS[action]]


def require(actor: Actor, action: Action, *, team_id: int | None = None, school_id: int | None = None) -> None:
    if not allowed(actor, action, team_id=team_id, school_id=school_id):
        raise Forbidden(action, NEEDS[action])


def may_grant(actor: Actor, role: Role, *, team_id: int | None = None, school_id: int | None = None) -> bool:
    """Whether `actor` may give `role` to someone (themselves included) in that place.

    A facilitator may name a co-facilitator of their *own* team (the same role, not a higher
    one); naming a facilitator of any other team is for the school's principals. Whatever the
    table below says, nobody gives a role ranked above the one they hold in that place.
    """
    own = actor.role_in(team_id=team_id, school_id=school_id)
    if own is None or RANK[role] > RANK[own]:
        return False
    if role is Role.FACILITATOR and team_id is not None and team_id in actor.facilitator_of:
        return True
    action = {
        Role.MEMBER: Action.EDIT_TEAM,
        Role.FACILITATOR: Action.NAME_FACILITATOR,
        Role.PRINCIPAL: Action.NAME_PRINCIPAL,
        Role.ADMIN: None,
    }[role]
    return action is not None and allowed(actor, action, team_id=team_id, school_id=school_id)


def grant_action(role: Role) -> Action:
    """The action whose refusal explains why `role` may not be given (for `Forbidden`)."""
    return {
        Role.MEMBER: Action.EDIT_TEAM,
        Role.FACILITATOR: Action.NAME_FACILITATOR,
        Role.PRINCIPAL: Action.NAME_PRINCIPAL,
        Role.ADMIN: Action.NAME_PRINCIPAL,
    }[role]


def require_grant(actor: Actor, role: Role, *, team_id: int | None = None,
                  school_id: int | None = None) -> None:
    """Raise `Forbidden` unless `actor` may give `role` (or take it away) in that place."""
    if not may_grant(actor, role, team_id=team_id, school_id=school_id):
        action = grant_action(role)
        raise Forbidden(action, NEEDS[action] if role is not Role.ADMIN else Role.ADMIN)


def audit_scope(actor: Actor, *, channel_school_id: int | None = None) -> frozenset[int] | None:
    """The schools whose part of the audit log `actor` may read; None means all of it.

    Principals see their own schools (only the channel's school when asked in one of its
    teams' channels); admins see the whole log, or the channel's school when asked in a team's
    channel. Anyone else is refused, with who can.
    """
    if actor.is_admin:
        return None if channel_school_id is None else frozenset({channel_school_id})
    if channel_school_id is not None and channel_school_id in actor.principal_of:
        return frozenset({channel_school_id})
    if actor.principal_of:
        return actor.principal_of
    raise Forbidden(Action.VIEW_AUDIT, NEEDS[Action.VIEW_AUDIT])


def may_create_team(actor: Actor, *, school_id: int, self_service: bool, school_has_teams: bool) -> bool:
    """Principals (and admins) create teams; anyone may create a self-service school's first team."""
    if allowed(actor, Action.CREATE_TEAM, school_id=school_id):
        return True
    return self_service and not school_has_teams


def require_create_team(actor: Actor, *, school_id: int, self_service: bool, school_has_teams: bool) -> None:
    if not may_create_team(actor, school_id=school_id, self_service=self_service,
                           school_has_teams=school_has_teams):
        raise Forbidden(Action.CREATE_TEAM, NEEDS[Action.CREATE_TEAM])


def keeps_a_facilitator(current: dict[str, str], after: dict[str, str | None]) -> bool:
    """Whether a team that has a facilitator still has one after `after` (Slack id -> new role,
    None: leaves). A team with none already (its last one left the channel) is not blocked."""
    before = {uid for uid, role in current.items() if role == Role.FACILITATOR.value}
    if not before:
        return True
    final = {**current, **after}
    return any(role == Role.FACILITATOR.value for role in final.values())

