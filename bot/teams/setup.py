"""Setting a PLC team up on Teams: `@plcbot setup` in the team's channel, then a dialog.

A message cannot open a dialog, so the command answers with a card whose "Set up this team"
button is a `task/fetch`. The dialog asks what Slack's set-up modal asks (team name, school,
facilitators, members, meeting days, time and length, time zone, sharing names with the
school's principals). Facilitators and members are chosen from the team's roster, read with the
bot's token from the Bot Connector's paged members API
(`GET {serviceUrl}/v3/conversations/{teamId}/pagedmembers`, page by page), which gives each
person's Teams id (29:…), Entra object id and e-mail.

On submit the values are read with the roster's plain parsing functions (`storage.rules.roster`),
checked by the core (`handlers.core.teams.check_setup`: who may create or change the team, the
school, a name already taken) and only then written (`write_setup`); a bad value comes back as
the same dialog with the error under its field, and nothing is stored. Every chosen person gets a
Teams identity (29: id, and a second one for the Entra object id, in the tenant, with the
service URL of this validated request) before the core makes them members, and the team gets
its Teams place (the channel's conversation id).

People: like `bot.teams.app.remember_person`, a Teams person is named in the core by their
Teams id in `person.handle` (issue 24's convention). Teams ids (29:1 + 32 hex = 36
characters) and channel ids (19:…@thread.tacv2, 48) are longer than that column and
`team.channel_id` (VARCHAR(32)): they are stored whole (SQLite does not enforce the length;
PostgreSQL would refuse them) rather than cut, since a cut id would not match the next request.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.teams import card_kit as ck
from bot.teams import cards, dialogs
from handlers.core import teams as core
from handlers.errors import UserError
from storage import teams as store
from storage.identities import Place, person_for_identity
from storage.linking import person_for_email
from storage.models import Person, PersonIdentity
from storage.models.identities import TEAMS
from storage.people import load_actor, team_for_channel
from storage.rules.agenda import RuleError
from storage.rules.roles import WHO, Action, Actor, Forbidden, Role, allowed, require
from storage.rules.roster import WEEKDAYS, check_timezone, parse_minutes, parse_time

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger("plcbot.teams.setup")

DIALOG = "team_setup"  # the button's dialog_id (task/fetch)
SUBMIT = "team_setup_submit"  # the dialog's submit action (task/submit)
TEAM_NAME_MAX = 120  # Team.name
MAX_ROSTER = 100  # people offered in the dialog (two multi-selects of them must fit Teams' 28 KB)
ROSTER_PAGE = 100
MAX_PAGES = 10
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# The core's field names for a refusal, as the dialog's input ids.
FIELDS = {core.F_NAME: "name", core.F_SCHOOL: "school", core.F_FACILITATORS: "facilitators"}
NOT_IN_TEAM = "Set a team up in one of its channels: type @plcbot setup in the team's channel."


@dataclass(frozen=True)
class Member:
    """One person of the team's roster, as the paged members API gives them."""

    id: str  # 29:…
    aad_object_id: str | None
    name: str
    email: str | None


@dataclass(frozen=True)
class Where:
    """The channel a set-up is for, from the validated activity."""

    tenant: str
    service_url: str
    conversation_id: str  # the channel, without ;messageid=
    team_id: str  # the Teams team (its General channel's id)
    user_id: str
    aad_object_id: str | None


def where_of(activity: Mapping[str, Any]) -> Where | None:
    """The team channel an activity came from, or None (a personal or group chat)."""
    conversation = activity.get("conversation") if isinstance(activity.get("conversation"), dict) else {}
    channel_data = activity.get("channelData") if isinstance(activity.get("channelData"), dict) else {}
    sender = activity.get("from") if isinstance(activity.get("from"), dict) else {}
    assert isinstance(conversation, dict) and isinstance(channel_data, dict) and isinstance(sender, dict)
    team = channel_data.get("team") if isinstance(channel_data.get("team"), dict) else {}
    assert isinstance(team, dict)
    team_id, cid = team.get("id"), conversation.get("id")
    if conversation.get("conversationType") != "channel" or not isinstance(team_id, str) or not isinstance(cid, str):
        return None
    tenant = conversation.get("tenantId") or (channel_data.get("tenant") or {}).get("id") or ""
    service_url, user_id, aad = activity.get("serviceUrl"), sender.get("id"), sender.get("aadObjectId")
    if not all(isinstance(v, str) and 0 < len(v) <= 500 for v in (team_id, cid, tenant, service_url, user_id)):
        return None
    return Where(tenant=str(tenant).lower(), service_url=str(service_url), conversation_id=cid.split(";messageid=")[0],
                 team_id=team_id, user_id=str(user_id), aad_object_id=aad if isinstance(aad, str) else None)


# ------------------------------------------------------------------------------ the roster
def read_roster(services: Services, where: Where) -> list[Member]:
    """The team's people, page by page, through the bot's token (the Teams transport's client:
    its token cache, retries and pacing). At most MAX_PAGES pages."""
    transport: Any = services.transports["teams"]
    base = where.service_url.rstrip("/") + "/v3/conversations/" + quote(where.team_id, safe=":@.") + "/pagedmembers"
    found: list[Member] = []
    token: str | None = None
    for _ in range(MAX_PAGES):
        url = f"{base}?pageSize={ROSTER_PAGE}" + (f"&continuationToken={quote(token, safe='')}" if token else "")
        answer = transport._request("GET", url, op="members", conversation=where.team_id, idempotent=True)
        for raw in answer.get("members") or []:
            if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"].startswith("29:"):
                continue  # bots (28:…) and anything unreadable
            email = raw.get("email") or raw.get("userPrincipalName")
            found.append(Member(id=raw["id"][:255], aad_object_id=(raw.get("aadObjectId") or None),
                                name=str(raw.get("name") or raw.get("givenName") or "Teams user")[:200],
                                email=str(email)[:320] if isinstance(email, str) and "@" in email else None))
        next_token = answer.get("continuationToken")
        if not isinstance(next_token, str) or not next_token:
            break
        token = next_token
    return found


def mentioned_members(services: Services, where: Where, people: list[tuple[str, str]]) -> list[Member]:
    """@mentioned people (Teams id, name) as roster members. A mention carries no e-mail, so for
    anyone the bot does not know by that Teams id, their member profile is asked for (the Bot
    Connector's `GET …/conversations/{team}/members/{user}`: e-mail and Entra object id), before
    any write: `known_person` then finds a teacher known on Slack by that e-mail, and `teams_people`
    attaches the Teams account to them instead of making a second person. Best effort: a profile
    Teams will not give (someone outside this team, a 1:1 chat) leaves the e-mail unknown."""
    with services.db.read() as session:
        known = {i for i, _ in people if person_for_identity(session, TEAMS, where.tenant, i) is not None}
    return [Member(i, None, n, None) if i in known else member_profile(services, where, i, n) for i, n in people]


def member_profile(services: Services, where: Where, user_id: str, name: str) -> Member:
    """One member's profile from the team's (or else this conversation's) members API."""
    conversation = where.team_id or where.conversation_id
    bare = Member(user_id, None, name, None)
    if not conversation or not where.service_url:
        return bare
    try:
        transport: Any = services.transports["teams"]
        url = (where.service_url.rstrip("/") + "/v3/conversations/" + quote(conversation, safe=":@.")
               + "/members/" + quote(user_id, safe=":@."))
        raw = transport._request("GET", url, op="members", conversation=conversation, idempotent=True)
    except Exception as exc:  # noqa: BLE001 - best effort, as the name alone still makes a person
        log.info("No member profile for a mentioned person (%s)", type(exc).__name__)
        return bare
    if not isinstance(raw, dict):
        return bare
    email = raw.get("email") or raw.get("userPrincipalName")
    aad = raw.get("aadObjectId")
    return Member(user_id, aad.lower()[:255] if isinstance(aad, str) and aad else None,
                  str(raw.get("name") or name)[:200],
                  str(email)[:320] if isinstance(email, str) and "@" in email else None)


# ------------------------------------------------------------------------------ the command
def command_card(services: Services, actor: Actor, activity: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """`@plcbot setup`: refused now if the person may not (as Slack's `/plc setup`), else the card
    whose button opens the dialog."""
    where = where_of(activity)
    if where is None:
        raise UserError(NOT_IN_TEAM)
    team, _ = _allowed_schools(services, actor, where)
    verb = "Change this team's set-up" if team is not None else "Set up this team"
    body = [ck.heading("PLC team set-up"),
            ck.text("Name the team, its school, facilitators and members (from this team's roster) and when "
                    "it meets." if team is None else f"Change **{ck.md(ck.clip(team.name, 100))}**: its name, "
                    "members, facilitators and schedule.")]
    button = {"type": "Action.Submit", "title": verb, "style": "positive",
              "data": {"msteams": {"type": "task/fetch"}, "dialog_id": DIALOG}}
    return verb + ": click the button to open the form.", ck.card(body, [button])


def _allowed_schools(services: Services, actor: Actor, where: Where) -> tuple[Any, list[tuple[int, str]]]:
    """The team already set up here (the actor may edit it) or the schools the actor may create
    it in; refused as Slack refuses `/plc setup`."""
    with services.db.read() as session:
        team = team_for_channel(session, where.conversation_id)
        if team is not None:
            require(actor, Action.EDIT_TEAM, team_id=team.id, school_id=team.school_id)
            session.expunge(team)
            return team, []
        schools = [(s.id, s.name) for s in store.schools_for_new_team(session, actor) if s.id]
        any_school = bool(schools) or bool(store.all_schools(session))
    if not schools:
        if not any_school:
            raise UserError("No school is set up yet. A plcbot admin creates one first (/plc school create in "
                            "Slack, or plcbot roster import).")
        raise UserError(f"⛔ Only {WHO[Role.PRINCIPAL]} can create a team here. Ask your principal, or ask them "
                        "to turn on self-service for your school.")
    return None, schools


# ------------------------------------------------------------------------------ the dialog
@dataclass
class Defaults:
    name: str = ""
    schools: tuple[tuple[int, str], ...] = ()
    school_id: int | None = None
    members: tuple[str, ...] = ()
    facilitators: tuple[str, ...] = ()
    weekdays: str = ""
    time: str | None = None
    minutes: int = 45
    timezone: str = "America/New_York"
    share_names: bool = False
    editing: bool = False


def form(d: Defaults, roster: list[Member]) -> dict[str, Any]:
    """The set-up dialog's card: as many of the roster's people (up to MAX_ROSTER) as fit Teams' limit."""
    shown = min(len(roster), MAX_ROSTER)
    while True:
        content = _form(d, roster, shown)
        if ck.size(ck.activity(content)) <= ck.MESSAGE_LIMIT - 1000 or shown <= 10:
            return content
        shown = shown * 9 // 10


def _form(d: Defaults, roster: list[Member], shown: int) -> dict[str, Any]:
    people = [{"title": ck.clip(m.name, 60), "value": m.id} for m in roster[:shown]]
    body: list[dict[str, Any]] = [
        ck.heading("Change this PLC team" if d.editing else "Set up this PLC team"),
        {"type": "Input.Text", "id": "name", "label": "Team name", "isRequired": True, "maxLength": TEAM_NAME_MAX,
         "value": d.name, "placeholder": "Grade 3 Math", "errorMessage": "Give the team a name."},
    ]
    if d.editing:
        body.append(ck.subtle("School: " + ck.md(next((n for i, n in d.schools if i == d.school_id), ""))))
    else:
        school: dict[str, Any] = {"type": "Input.ChoiceSet", "id": "school", "label": "School", "isRequired": True,
                                  "errorMessage": "Choose the team's school.",
                                  "choices": [{"title": ck.clip(n, 80), "value": str(i)} for i, n in d.schools]}
        if d.school_id is not None:
            school["value"] = str(d.school_id)
        body.append(school)
    for key, label, chosen in (("facilitators", "Facilitators", d.facilitators), ("members", "Members", d.members)):
        element: dict[str, Any] = {"type": "Input.ChoiceSet", "id": key, "label": label, "isMultiSelect": True,
                                   "choices": people}
        if key == "facilitators":
            element.update(isRequired=True, errorMessage="A team needs at least one facilitator.")
        picked = [p for p in chosen if any(c["value"] == p for c in people)]
        if picked:
            element["value"] = ",".join(picked)
        body.append(element)
    if len(roster) > shown:
        body.append(ck.subtle(f"The first {shown} of this team's {len(roster)} people are shown (a dialog holds "
                              "no more); add the others with @plcbot team add @person."))
    days: dict[str, Any] = {"type": "Input.ChoiceSet", "id": "days", "label": "Meeting days", "isMultiSelect": True,
                            "choices": [{"title": n, "value": w} for w, n in zip(WEEKDAYS, DAY_NAMES, strict=True)]}
    if d.weekdays:
        days["value"] = d.weekdays
    body.append(days)
    meeting_time: dict[str, Any] = {"type": "Input.Time", "id": "time", "label": "Start time",
                                    "errorMessage": "Pick a start time such as 15:30."}
    if d.time:
        meeting_time["value"] = d.time
    body.append(meeting_time)
    body.append({"type": "Input.Number", "id": "minutes", "label": "Length (minutes)", "min": 1, "max": 600,
                 "value": d.minutes, "errorMessage": "Give the length as a whole number of minutes, such as 45."})
    body.append({"type": "Input.Text", "id": "timezone", "label": "Time zone", "isRequired": True, "maxLength": 64,
                 "value": d.timezone, "placeholder": "America/Chicago",
                 "errorMessage": "Give a time zone such as America/Chicago."})
    body.append({"type": "Input.Toggle", "id": "share_names", "title": "Share names with the school's principals "
                 "(the digest shows who answered check-ins and who asked for support)",
                 "valueOn": "true", "valueOff": "false", "value": "true" if d.share_names else "false"})
    return ck.card(body, [ck.submit("Save", SUBMIT)])


def fetch(services: Services, activity: Mapping[str, Any], actor: Actor | None) -> tuple[str, dict[str, Any]]:
    """The dialog for the channel the button was clicked in (the team's values when it exists)."""
    where = where_of(activity)
    if where is None:
        raise UserError(NOT_IN_TEAM)
    if actor is None:
        raise UserError("Type @plcbot setup in this channel first.")
    team, schools = _allowed_schools(services, actor, where)
    roster = read_roster(services, where)
    if team is not None:
        with services.db.read() as session:
            roles = store.member_roles(session, team_id=team.id)
            school = store.school_by_id(session, school_id=team.school_id)
            # The core names people by `person.handle`; the dialog by roster (Teams) id.
            as_roster = {name: rid for rid, name in core_names(session, roster, where).items()}
        d = Defaults(name=team.name, schools=((team.school_id, school.name if school else ""),),
                     school_id=team.school_id,
                     members=tuple(as_roster.get(u, u) for u, r in roles.items() if r == "member"),
                     facilitators=tuple(as_roster.get(u, u) for u, r in roles.items() if r == "facilitator"),
                     weekdays=team.meeting_weekdays, time=team.meeting_time, minutes=team.meeting_minutes,
                     timezone=team.timezone, share_names=team.share_names_with_principal, editing=True)
    else:
        channel_data = activity.get("channelData") if isinstance(activity.get("channelData"), dict) else {}
        assert isinstance(channel_data, dict)
        team_name = (channel_data.get("team") or {}).get("name") if isinstance(channel_data.get("team"), dict) else ""
        with services.db.read() as session:
            me = next((rid for rid, name in core_names(session, roster, where).items() if name == actor.handle),
                      actor.handle)
        leads = () if allowed(actor, Action.CREATE_TEAM, school_id=schools[0][0]) else (me,)
        zone = activity.get("localTimezone")
        try:
            zone = check_timezone(zone) if isinstance(zone, str) and zone else services.settings.timezone
        except ValueError:
            zone = services.settings.timezone
        d = Defaults(name=str(team_name or "")[:TEAM_NAME_MAX], schools=tuple(schools), school_id=schools[0][0],
                     members=tuple(m.id for m in roster if m.id not in leads), facilitators=leads,
                     timezone=str(zone))
    return "PLC team set-up", form(d, roster)


# ------------------------------------------------------------------------------ submit
@dataclass(frozen=True)
class Typed:
    name: str
    school: str
    facilitators: str
    members: str
    days: str
    time: str
    minutes: str
    timezone: str
    share_names: str


def _ids(raw: str) -> list[str]:
    return list(dict.fromkeys(p.strip() for p in raw.split(",") if p.strip()))


def read_form(typed: Typed, roster: dict[str, Member], *,
              editing: bool) -> tuple[core.TeamSetup | None, dict[str, str]]:
    """The dialog's values as the core's `TeamSetup` (place filled in later), or the errors by input id.
    People must be on the team's roster: any other id (a forged value) is an error."""
    errors: dict[str, str] = {}
    name = " ".join(typed.name.split())
    if not name:
        errors["name"] = "Give the team a name."
    elif len(name) > TEAM_NAME_MAX:
        errors["name"] = f"Keep the name to {TEAM_NAME_MAX} characters."
    school_id = int(typed.school) if typed.school.isdigit() and len(typed.school) < 10 else None
    if not editing and school_id is None:
        errors["school"] = "Choose the team's school."
    facilitators, members = _ids(typed.facilitators), _ids(typed.members)
    if not facilitators:
        errors["facilitators"] = "A team needs at least one facilitator."
    for key, ids in (("facilitators", facilitators), ("members", members)):
        strangers = [i for i in ids if i not in roster]
        if strangers:
            errors[key] = "Choose people from this team's roster."
    days = set(_ids(typed.days))
    if days - set(WEEKDAYS):
        errors["days"] = "Choose days from the list."
    weekdays = ",".join(w for w in WEEKDAYS if w in days)
    at: str | None = None
    if typed.time.strip():
        try:
            at = parse_time(typed.time)
        except ValueError:
            errors["time"] = "Pick a start time such as 15:30."
    minutes = 0
    try:
        minutes = parse_minutes(typed.minutes.strip())
    except ValueError:
        errors["minutes"] = "Give the length as a positive whole number of minutes, such as 45."
    zone = typed.timezone.strip()
    try:
        if not zone or len(zone) > 64:
            raise ValueError(zone)
        check_timezone(zone)
    except ValueError:
        errors["timezone"] = f"'{zone[:64]}' is not a time zone I know; use a name like America/Chicago."
    if typed.share_names not in ("", "true", "false"):
        errors["share_names"] = "Turn sharing on or off."
    if errors:
        return None, errors
    return core.TeamSetup(place="", name=name, school_id=school_id, members=members, facilitators=facilitators,
                          weekdays=weekdays, time=at, minutes=minutes, timezone=zone,
                          share_names=typed.share_names == "true", creating=not editing), {}


@dataclass
class Saved:
    """What a saved set-up tells: the confirmation card, and the notices it owes others."""

    text: str
    card: dict[str, Any]
    notices: tuple[Any, ...]


class FormError(Exception):
    """The dialog again with these errors (input id → message; "" for the form)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def save(services: Services, activity: Mapping[str, Any], actor: Actor, typed: Typed) -> Saved:
    """Check, then write the set-up; `FormError` (nothing stored) for a value the form must show."""
    where = where_of(activity)
    if where is None:
        raise UserError(NOT_IN_TEAM)
    with services.db.read() as session:
        editing = team_for_channel(session, where.conversation_id) is not None
    roster = {m.id: m for m in read_roster(services, where)}
    setup, errors = read_form(typed, roster, editing=editing)
    if setup is None:
        raise FormError(errors)
    # Roster (Teams) ids become the names the core knows people by: a teacher already known on
    # Slack (by a linked identity, or the e-mail the roster gives) is that person, not a new one.
    with services.db.read() as session:
        names = core_names(session, list(roster.values()), where)
    setup = dataclasses.replace(setup, place=where.conversation_id,
                                members=[names.get(i, i) for i in setup.members],
                                facilitators=[names.get(i, i) for i in setup.facilitators],
                                where=Place(TEAMS, where.conversation_id, workspace=where.tenant, kind="channel",
                                            service_url=where.service_url))
    by_name = {names.get(m.id, m.id): m for m in roster.values()}
    try:
        with services.db.read() as session:
            core.check_setup(session, load_actor(session, actor.handle, admins=services.settings.admins), setup)
    except RuleError as exc:
        raise FormError({FIELDS.get(exc.field or "", ""): str(exc)}) from None
    _, everyone = core.setup_people(actor, setup)
    now = services.clock.now()
    try:
        with services.db.session() as session:
            fresh_actor = load_actor(session, actor.handle, admins=services.settings.admins)
            teams_people(session, [by_name[i] for i in everyone if i in by_name], where, now=now)
            result = core.write_setup(session, fresh_actor, setup, fresh=(), skipped=(), now=now)
            assert result.view is not None
            team = team_for_channel(session, where.conversation_id)
            assert team is not None and team.id is not None
    except IntegrityError:
        raise FormError({"name": f"Another change to this team landed at the same moment, or the name "
                                 f"{setup.name[:60]} was just taken. Nothing was saved."}) from None
    with services.db.read() as session:
        known = {p.handle: p.name for p in session.exec(select(Person).where(
            Person.handle.in_([*result.view.added, *result.view.removed]))).all()}  # type: ignore[attr-defined]
    text, content = cards.setup_saved(result.view, lambda pid: known.get(pid) or pid)
    content["body"].append(ck.subtle("Next: type **@plcbot cycle** to see the learning cycle, or **@plcbot norms** "
                                     "for the team's norms."))
    return Saved(text, content, tuple(result.notices))


def known_person(session: Session, member: Member, where: Where) -> Person | None:
    """The person a roster member already is: by their Teams identity (29: id or Entra object id),
    by the Teams id the core names them with, or else by their e-mail when it names exactly one
    person not yet known on Teams (a teacher known on Slack: `storage.linking.person_for_email`)."""
    person = person_for_identity(session, TEAMS, where.tenant, member.id)
    if person is None and member.aad_object_id:
        person = person_for_identity(session, TEAMS, where.tenant, member.aad_object_id)
    if person is None:
        person = session.exec(select(Person).where(Person.handle == member.id)).first()
    if person is None:
        person = person_for_email(session, member.email, TEAMS)
    return person


def core_names(session: Session, roster: list[Member], where: Where) -> dict[str, str]:
    """Roster id -> the name the core knows the person by (`person.handle`): their own
    Teams id for someone new, a Slack id for a teacher already known there. Reads only."""
    out: dict[str, str] = {}
    for member in roster:
        person = known_person(session, member, where)
        out[member.id] = person.handle if person is not None and person.forgotten_at is None else member.id
    return out


def teams_people(session: Session, chosen: list[Member], where: Where, *, now: Any) -> dict[str, Person]:
    """A person for each chosen roster member, found by their Teams identity (29: id or Entra
    object id) or made with one; their service URL is this request's. Named in the core by
    their Teams id (`person.handle`), as `remember_person` does."""
    out: dict[str, Person] = {}
    for member in chosen:
        person = known_person(session, member, where)
        if person is None:
            if len(member.id) > 32:
                log.debug("Teams id of %d characters stored in person.handle (VARCHAR(32))", len(member.id))
            person = Person(handle=member.id, name=member.name, email=member.email, created_at=now)
            session.add(person)
            session.flush()
        elif person.forgotten_at is None:
            if member.name and person.name != member.name:
                person.name = member.name
            if member.email and person.email != member.email:
                person.email = member.email
            session.add(person)
        assert person.id is not None
        for external in (member.id, member.aad_object_id):
            if not external:
                continue
            identity = session.exec(select(PersonIdentity).where(
                PersonIdentity.platform == TEAMS, PersonIdentity.workspace == where.tenant,
                PersonIdentity.external_id == external)).first()
            if identity is None:
                identity = PersonIdentity(person_id=person.id, platform=TEAMS, workspace=where.tenant,
                                          external_id=external, created_at=now)
            identity.service_url = where.service_url
            session.add(identity)
        session.flush()
        out[member.id] = person
    return out


# ------------------------------------------------------------------------------ invoke answers
def typed_of(data: Mapping[str, Any], field: Any) -> Typed:
    """The dialog's values, each typed and length-checked by the invokes' `field` (a BadRequest otherwise)."""
    return Typed(name=field(data, "name", 1000), school=field(data, "school", 20),
                 facilitators=field(data, "facilitators", 40_000), members=field(data, "members", 40_000),
                 days=field(data, "days", 100), time=field(data, "time", 20), minutes=field(data, "minutes", 20),
                 timezone=field(data, "timezone", 200), share_names=field(data, "share_names", 10))


def form_again(services: Services, activity: Mapping[str, Any], actor: Actor, typed: Typed,
               errors: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The dialog again, filled with what was typed, the errors under their fields."""
    title, content = fetch(services, activity, actor)
    filled = dialogs.with_errors(content, errors, {
        "name": typed.name, "school": typed.school, "time": typed.time, "minutes": typed.minutes,
        "timezone": typed.timezone, "share_names": typed.share_names})
    for element in filled["body"]:
        key = element.get("id")
        if element.get("type") == "Input.ChoiceSet" and element.get("isMultiSelect") and key in (
                "facilitators", "members", "days"):
            allowed_values = {c["value"] for c in element.get("choices") or []}
            picked = [v for v in _ids(getattr(typed, key)) if v in allowed_values]
            if picked:
                element["value"] = ",".join(picked)
            else:
                element.pop("value", None)
    return title, filled


def refusal(exc: Exception) -> str:
    return f"⛔ {exc}" if isinstance(exc, Forbidden | core.SetupStale) else str(exc)
