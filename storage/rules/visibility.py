"""Who sees what: every kind of thing plcbot stores about a person, and who can see each.

The one table behind `/plc privacy`, README's "Privacy: who sees what" and the checks that
decide whether a name is shown (feedback results, the digest's SQL, support requests). Where a
role rule exists, a place is described by the `Action` (or lowest `Role`) of
`storage/rules/roles.py` that guards it, so a change to `NEEDS` changes this table, the page
and the README test together, and a check that strays from it fails the contract tests in
`tests/test_privacy_page.py`.

Plain data in, plain data out: no Slack, no SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

from storage.rules.roles import NEEDS, RANK, WHO, Action, Actor, Forbidden, Role, allowed


class Viewer(StrEnum):
    """Who, seen from the person the data is about."""

    YOU = "you"
    TEAM = "your team"
    FACILITATORS = "your team's facilitators"
    PRINCIPALS = "your school's principals"
    ADMINS = "plcbot admins"


VIEWERS: tuple[Viewer, ...] = tuple(Viewer)

# The role each audience holds in the person's team or school (roles.py's ladder).
VIEWER_ROLE: dict[Viewer, Role] = {
    Viewer.TEAM: Role.MEMBER,
    Viewer.FACILITATORS: Role.FACILITATOR,
    Viewer.PRINCIPALS: Role.PRINCIPAL,
    Viewer.ADMINS: Role.ADMIN,
}


class Names(Enum):
    """Whether a place shows whose a record is."""

    SHOWN = "shown"  # with the person's name
    OWN_FACILITATORS = "own facilitators"  # the team's own facilitators; others only if the team shares names
    IF_SHARED = "if shared"  # only if the team shares names with its principal (Team.share_names_with_principal)
    NEVER = "never"  # nobody can tell whose it is
    FIGURES = "figures"  # not the record at all: counts, rates, averages of the team


class Sight(Enum):
    """What one audience sees of one kind of record, best first."""

    NAMED = ("with your name", "named")
    IF_SHARED = ("with your name only if your team shares names with its principal", "named if shared")
    UNNAMED = ("without your name", "without name")
    WINDOW = ("yours to see and change while the feedback window is open; then nobody can tell it is yours",
              "until the window closes")
    FIGURES = ("only as team figures (counts, response rates, averages)", "team figures")
    NONE = ("nothing", "—")

    def __init__(self, sentence: str, short: str) -> None:
        self.sentence = sentence
        self.short = short


ORDER: tuple[Sight, ...] = tuple(Sight)


@dataclass(frozen=True)
class Place:
    """Where a record is shown, and who may look there.

    `rule` is the server-side check (an `Action` of roles.py: `NEEDS[action]` and above; or a
    lowest `Role`); `to` narrows a place that is sent to someone (your own DMs, a DM to the
    team's facilitators) to exactly those audiences.
    """

    key: str
    label: str
    rule: Action | Role | None = None
    to: tuple[Viewer, ...] = ()

    @property
    def lowest(self) -> Role | None:
        if isinstance(self.rule, Action):
            return NEEDS[self.rule]
        return self.rule

    def reaches(self, viewer: Viewer) -> bool:
        """Whether `viewer` sees what this place shows."""
        if self.to:
            return viewer in self.to
        lowest = self.lowest
        if lowest is None or viewer is Viewer.YOU:
            return False
        return RANK[VIEWER_ROLE[viewer]] >= RANK[lowest]

    def allows(self, actor: Actor, *, team_id: int | None = None, school_id: int | None = None) -> bool:
        """The server's check for someone asking to look here (roles.py decides)."""
        if isinstance(self.rule, Action):
            return allowed(actor, self.rule, team_id=team_id, school_id=school_id)
        if isinstance(self.rule, Role):
            role = actor.role_in(team_id=team_id, school_id=school_id)
            return role is not None and RANK[role] >= RANK[self.rule]
        return False

    def require(self, actor: Actor, *, team_id: int | None = None, school_id: int | None = None) -> None:
        """Raise `Forbidden` (which says who can) unless `actor` may look here."""
        if self.allows(actor, team_id=team_id, school_id=school_id):
            return
        if isinstance(self.rule, Action):
            raise Forbidden(self.rule, NEEDS[self.rule])
        raise NotShown(self, self.lowest or Role.ADMIN)


class NotShown(Forbidden):
    """A refusal for a place guarded by a role rather than an action; says who can look."""

    def __init__(self, place: Place, needed: Role) -> None:
        Exception.__init__(self, f"Only {WHO[needed]} can see {place.label}.")
        self.action = Action.VIEW_RESULTS  # the closest action, for code that reads it
        self.needed = needed


def _audit_rule() -> Action | Role:
    """`/plc audit` is guarded by VIEW_AUDIT where roles.py has it (principals and admins)."""
    return getattr(Action, "VIEW_AUDIT", Role.PRINCIPAL)


# ------------------------------------------------------------------------------------ the places
MINE = Place("mine", "the person's own direct messages, Home tab, forms and `/plc privacy export`",
             to=(Viewer.YOU,))
TEAM_CHANNEL = Place("team_channel", "posts in the team's channel: the check-in summary, the norms, "
                     "agendas, the wrap-up log", rule=Role.MEMBER)
TEAM_VIEW = Place("team_view", "`/plc team` in the team's channel", rule=Role.MEMBER)
ACTIONS_LIST = Place("actions", "`/plc actions` and the agenda", rule=Role.MEMBER)
SUPPORT_MESSAGE = Place("support_message", "a direct message to the team's facilitators when the week's "
                        "check-in closes, and their Home tab until it is resolved",
                        rule=Action.FOLLOW_UP_SUPPORT, to=(Viewer.FACILITATORS,))
FEEDBACK_RESULTS = Place("feedback_results", "`/plc feedback results`", rule=Action.VIEW_RESULTS)
NORMS_WHO = Place("norms_who", "`/plc norms who`", rule=Action.EDIT_NORMS)
DIGEST = Place("digest", "the digest and its workbook (`/plc digest`; a facilitator gets their team's part)",
               rule=Action.VIEW_DIGEST)
AUDIT_LOG = Place("audit", "the audit log (`/plc audit` for a school's principals, `plcbot audit`)",
                  rule=_audit_rule())
SERVER = Place("server", "the server's command line (`plcbot privacy export`, `plcbot roster export`)",
               rule=Role.ADMIN)

PLACES: tuple[Place, ...] = (MINE, TEAM_CHANNEL, TEAM_VIEW, ACTIONS_LIST, SUPPORT_MESSAGE, FEEDBACK_RESULTS,
                             NORMS_WHO, DIGEST, AUDIT_LOG, SERVER)


class Retention(Enum):
    """How long a kind of record is kept. Every kind goes when the person is forgotten."""

    YEARS = "retention"  # PLCBOT_RETENTION_YEARS school years after the year it belongs to, then deleted
    WHILE_KEPT = "kept"  # until the person is forgotten (erasure, or a long-deactivated account)
    LEDGER = "ledger"  # the bot's own bookkeeping: deleted with the records it served, by the same purge


@dataclass(frozen=True)
class Shown:
    """A kind of record shown at a place; `how` says what of it appears there, when not all of it."""

    place: Place
    names: Names
    how: str = ""

    @property
    def label(self) -> str:
        return self.how or self.place.label


@dataclass(frozen=True)
class Kind:
    """One kind of record about a person."""

    key: str
    label: str
    what: str
    shown: tuple[Shown, ...]
    retention: Retention
    note: str = ""


def _s(place: Place, names: Names, how: str = "") -> Shown:
    return Shown(place, names, how)


# The support request's DM to the team's facilitators (bot/render/cycles.support_message) shows
# that week's answer and notes next to the teacher's name: the one place a check-in answer is
# named to a facilitator whatever the team's "share names" choice. Said on both kinds.
SUPPORT_CARRIES_ANSWER = ("A week you ask for support, your team's facilitators get that week's answer and "
                          "notes with your name, in the support request's message.")


PROFILE = Kind(
    "profile", "Profile",
    "name, email, Slack id and time zone, away dates, whether the Slack account is active, and each chat "
    "account (Slack or Teams) with the chat the bot reaches you in",
    (_s(MINE, Names.SHOWN), _s(SERVER, Names.SHOWN)),
    Retention.WHILE_KEPT,
)
MEMBERSHIPS = Kind(
    "memberships", "Team memberships and roles",
    "teams, the role in each (member, facilitator, principal), when they joined and left",
    (_s(MINE, Names.SHOWN), _s(TEAM_VIEW, Names.SHOWN), _s(SERVER, Names.SHOWN)),
    Retention.WHILE_KEPT,
)
CHECKINS = Kind(
    "checkins", "Check-in answers",
    "how each cycle week went, the data point and notes, or being away that week",
    (_s(MINE, Names.SHOWN), _s(TEAM_CHANNEL, Names.FIGURES, "the weekly check-in summary in the team's channel"),
     _s(DIGEST, Names.IF_SHARED), _s(SERVER, Names.SHOWN)),
    Retention.YEARS,
    note=SUPPORT_CARRIES_ANSWER,
)
SUPPORT = Kind(
    "support", "Support requests",
    "the support asked for in a check-in, its state and who followed it up",
    (_s(MINE, Names.SHOWN), _s(TEAM_CHANNEL, Names.FIGURES, "how many asked, in the weekly check-in summary"),
     _s(SUPPORT_MESSAGE, Names.SHOWN),
     _s(DIGEST, Names.SHOWN), _s(SERVER, Names.SHOWN)),
    Retention.YEARS,
    note="You asked for help, so the request carries your name; the message to your team's facilitators "
         "also shows that week's check-in answer and notes.",
)
NAMED_FEEDBACK = Kind(
    "named_feedback", "Meeting feedback (named)",
    "ratings and comments on a meeting, and the topic asked for next",
    (_s(MINE, Names.SHOWN), _s(TEAM_CHANNEL, Names.NEVER, "topics asked for, on the next agenda"),
     _s(FEEDBACK_RESULTS, Names.OWN_FACILITATORS),
     _s(DIGEST, Names.IF_SHARED), _s(SERVER, Names.SHOWN)),
    Retention.YEARS,
    note="Averages appear only from PLCBOT_MIN_GROUP_SIZE answers up; topics asked for go on the next "
         "agenda without names.",
)
ANONYMOUS_FEEDBACK = Kind(
    "anonymous_feedback", "Meeting feedback (anonymous)",
    "the same answers given anonymously: stored with no user id",
    (_s(MINE, Names.NEVER, "the feedback form"), _s(TEAM_CHANNEL, Names.NEVER, "topics asked for, on the next agenda"),
     _s(FEEDBACK_RESULTS, Names.NEVER),
     _s(DIGEST, Names.NEVER)),
    Retention.YEARS,
    note="While the feedback window is open a keyed one-way link lets you change your answer; it is "
         "deleted when the window closes, and then nobody, you included, can tell which answer was "
         "yours, so it is not in your export.",
)
ACTION_ITEMS = Kind(
    "action_items", "Action items",
    "action items owned or assigned: what, when due, done or not",
    (_s(MINE, Names.SHOWN), _s(ACTIONS_LIST, Names.SHOWN), _s(DIGEST, Names.SHOWN), _s(SERVER, Names.SHOWN)),
    Retention.YEARS,
)
NORM_COMMITMENTS = Kind(
    "norm_commitments", "Norm commitments",
    "which version of the team's norms was committed to, and when",
    (_s(MINE, Names.SHOWN), _s(TEAM_CHANNEL, Names.FIGURES, "how many have committed, under the norms in the channel"),
     _s(NORMS_WHO, Names.SHOWN), _s(SERVER, Names.SHOWN)),
    Retention.WHILE_KEPT,
)
MEETING_LOGS = Kind(
    "meeting_logs", "Meeting attendance and wrap-up logs",
    "who attended, meeting roles (timekeeper, note-taker), agenda items added or owned",
    (_s(MINE, Names.SHOWN), _s(TEAM_CHANNEL, Names.SHOWN, "the agenda and the wrap-up log in the team's channel"),
     _s(DIGEST, Names.FIGURES), _s(SERVER, Names.SHOWN)),
    Retention.YEARS,
)
AUDIT_ENTRIES = Kind(
    "audit", "Audit entries",
    "changes made by or about the person (roles, memberships, norms, settings), exports, erasures; "
    "never what anyone answered",
    (_s(AUDIT_LOG, Names.SHOWN),),
    Retention.WHILE_KEPT,
    note="After an erasure one entry records that it happened.",
)
DELIVERIES = Kind(
    "deliveries", "The bot's delivery ledger",
    "which messages the bot sent the person and when (so nothing is sent twice); a Teams answer's text only "
    "while owed, 7 days at most",
    (_s(SERVER, Names.SHOWN),),
    Retention.LEDGER,
)

KINDS: tuple[Kind, ...] = (PROFILE, MEMBERSHIPS, CHECKINS, SUPPORT, NAMED_FEEDBACK, ANONYMOUS_FEEDBACK,
                           ACTION_ITEMS, NORM_COMMITMENTS, MEETING_LOGS, AUDIT_ENTRIES, DELIVERIES)


# ------------------------------------------------------------------------------------ the rules
def sight_at(shown: Shown, viewer: Viewer) -> Sight:
    """What `viewer` sees of a record at one place."""
    if not shown.place.reaches(viewer):
        return Sight.NONE
    if shown.names is Names.FIGURES:
        return Sight.FIGURES
    if shown.names is Names.NEVER:
        return Sight.WINDOW if viewer is Viewer.YOU else Sight.UNNAMED
    if shown.names is Names.SHOWN or viewer is Viewer.YOU:
        return Sight.NAMED
    if shown.names is Names.OWN_FACILITATORS and viewer is Viewer.FACILITATORS:
        return Sight.NAMED
    return Sight.IF_SHARED


def sight(kind: Kind, viewer: Viewer) -> Sight:
    """The most `viewer` sees of `kind` anywhere."""
    return min((sight_at(s, viewer) for s in kind.shown), key=ORDER.index, default=Sight.NONE)


def shown_for(kind: Kind, viewer: Viewer) -> list[Shown]:
    """Where `viewer` sees the most of `kind`."""
    best = sight(kind, viewer)
    if best is Sight.NONE:
        return []
    return [s for s in kind.shown if sight_at(s, viewer) is best]


def names_at(kind: Kind, place: Place) -> Names:
    """The names rule of `kind` at `place` (NEVER where the kind is not shown there)."""
    for s in kind.shown:
        if s.place is place:
            return s.names
    return Names.NEVER


def shows_name(kind: Kind, place: Place, actor: Actor, *, team_id: int, shares_names: bool) -> bool:
    """Whether `actor`, allowed to look at `place`, sees whose each record of `kind` is there.

    `shares_names` is the team's `share_names_with_principal`. The team's own facilitators
    count as facilitators there even when they hold a higher role elsewhere.
    """
    rule = names_at(kind, place)
    if rule is Names.SHOWN:
        return True
    if rule is Names.IF_SHARED:
        return shares_names
    if rule is Names.OWN_FACILITATORS:
        return team_id in actor.facilitator_of or shares_names
    return False


def resolve(seen: Sight, shares_names: bool) -> Sight:
    """A team's setting known, "named if shared" becomes named or unnamed."""
    if seen is Sight.IF_SHARED:
        return Sight.NAMED if shares_names else Sight.UNNAMED
    return seen


def retention_text(retention: Retention, *, years: int | None = None, forget_days: int | None = None) -> str:
    """How long, in words; with the settings' values when known, else their names and defaults."""
    y = f"{years} school year{'s' if years != 1 else ''}" if years is not None else \
        "`PLCBOT_RETENTION_YEARS` school years (default 3)"
    if retention is Retention.YEARS:
        return f"deleted {y} after the school year it belongs to"
    if retention is Retention.LEDGER:
        return f"deleted after {y}, with the records it served"
    if forget_days is None:
        after = "`PLCBOT_FORGET_DEACTIVATED_DAYS` days (default 365) after the Slack account is deactivated"
    elif forget_days == 0:
        after = ""
    else:
        after = f"{forget_days} days after the Slack account is deactivated"
    return "kept until erased (on request" + (f", or {after}" if after else "") + ")"


NOTES: tuple[str, ...] = (
    "Posts in a team's channel are seen by whoever is in the channel: principals and admins too, when "
    "they have joined it.",
    "Averages and distributions are shown only from `PLCBOT_MIN_GROUP_SIZE` answers up (never fewer than 3).",
    "Principals see names next to check-in answers and named feedback only if the team chose to share "
    "them with its principal.",
    "A person's own messages in Slack are Slack's: the workspace's admins keep or delete them, not plcbot.",
)
