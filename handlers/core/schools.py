"""School actions: create a school (admins), name or remove its principals (admins), and change its
settings (its principals and admins).

What `/plc school create NAME TZ` and `/plc school principal add|remove @person [in School Name]`
mean, for every front: the reading of the typed words, which school is meant, the role checks
and the writes. A front only finds the people its mentions name (Slack's user ids, Teams'
mentions) and words the result; names a person typed come back through `show`, the front's way
of showing user text safely (Slack escapes mrkdwn, Teams Adaptive Card markdown).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from handlers.core import ActionResult
from handlers.errors import Invalid, UserError
from scheduling.hours import parse_school_hours
from storage import teams as store
from storage.models import Person, School
from storage.people import load_actor
from storage.rules.roles import WHO, Action, Actor, Role, allowed, require, require_grant
from storage.rules.roster import check_timezone, parse_time

if TYPE_CHECKING:
    from bot.services import Services

Show = Callable[[str], str]
CREATE_USAGE = "`/plc school create Lincoln Elementary America/Chicago`"
PRINCIPAL_USAGE = "Use `/plc school principal add @person` or `/plc school principal remove @person`."
NO_SCHOOL = "No school is set up yet. An admin creates one with `/plc school create School Name America/Chicago`."
WHICH = ("Which school? Run this in one of its teams' channels, or add its name: "
         "`/plc school principal add @person in School Name`, `/plc school School Name`.")
NAME_MAX = 200
_IN_SCHOOL = re.compile(r"(?:^|\s)in\s+(\S.*)$", re.DOTALL)


def _plain(value: str) -> str:
    return value


@dataclass(frozen=True)
class NewSchool:
    name: str
    timezone: str


@dataclass(frozen=True)
class SchoolCreated(ActionResult):
    school_id: int = 0
    name: str = ""
    timezone: str = ""


@dataclass(frozen=True)
class PrincipalsNamed(ActionResult):
    school_id: int = 0
    school_name: str = ""
    remove: bool = False
    done: tuple[str, ...] = ()  # the people (person ids as the core names them) whose role changed


def read_show(args: str) -> tuple[str, str]:
    """`[show | edit] [School Name]` → ("show" or "edit", the school's name or ""). A name typed
    alone is the whole text (`/plc school Lincoln Elementary`), not its words after the first."""
    word, _, rest = args.strip().partition(" ")
    if word.lower() in ("show", "edit"):
        return word.lower(), rest.strip()
    return "show", args.strip()


def read_create(words: str, *, default_timezone: str, show: Show = _plain) -> NewSchool:
    """`School Name [Area/City]`: the name, and the IANA time zone given last (else the default)."""
    parts = words.split()
    timezone = default_timezone
    if parts and "/" in parts[-1]:
        try:
            timezone = check_timezone(parts[-1])
        except ValueError as exc:
            raise UserError(f"{show(str(exc))}. Nothing was created.") from None
        parts = parts[:-1]
    name = " ".join(parts)
    if not name:
        raise UserError(f"Give the school's name and time zone: {CREATE_USAGE}.")
    if len(name) > NAME_MAX:
        raise UserError(f"That name is too long ({NAME_MAX} characters at most).")
    return NewSchool(name, timezone)


def check_create(session: Session, actor: Actor, new: NewSchool, *, show: Show = _plain) -> None:
    """Read-only: may `actor` create it, and is the name free (ignoring case and spaces)?"""
    require(actor, Action.CREATE_SCHOOL)
    if store.school_by_name(session, name=new.name) is not None:
        raise UserError(f"{show(new.name)} already exists; nothing was created.")


def create_school(session: Session, actor: Actor, new: NewSchool, *, now: datetime,
                  show: Show = _plain) -> SchoolCreated:
    """Create the school (checked again in this transaction). A twin created a moment ago by someone
    else makes the insert fail on the unique name: the caller's commit raises `IntegrityError`,
    which means "already exists" (`exists_error`)."""
    check_create(session, actor, new, show=show)
    school = store.create_school(session, name=new.name, timezone=new.timezone, actor=actor.handle, now=now)
    assert school.id is not None
    return SchoolCreated(reply=f"{school.name} is created ({new.timezone}).", changed=(f"school:{school.id} created",),
                         school_id=school.id, name=school.name, timezone=new.timezone)


def exists_error(new: NewSchool, *, show: Show = _plain) -> UserError:
    return UserError(f"{show(new.name)} already exists; nothing was created.")


def create(services: Services, actor: Actor, new: NewSchool, *, show: Show = _plain) -> SchoolCreated:
    """`school create`, for every front: check read-only, then create; a twin created a moment ago
    by someone else is refused as "already exists" (raises UserError or Forbidden)."""
    with services.db.read() as session:
        check_create(session, actor, new, show=show)
    try:
        with services.db.session() as session:
            return create_school(session, actor, new, now=services.clock.now(), show=show)
    except IntegrityError:  # the name is unique
        raise exists_error(new, show=show) from None


# ---------------------------------------------------------------------- principals


def read_principals(args: str) -> tuple[bool, str, str]:
    """`add|remove …mentions… [in School Name]` → (remove, the text with the mentions, the school's name or "")."""
    action, _, rest = args.strip().partition(" ")
    if action.lower() not in ("add", "remove"):
        raise UserError(PRINCIPAL_USAGE)
    found = _IN_SCHOOL.search(rest)
    return action.lower() == "remove", rest, (found.group(1).strip() if found else "")


def check_principals(actor: Actor, targets: Sequence[str]) -> None:
    """The role first: a refusal must not depend on what was typed. Then someone must be named."""
    require(actor, Action.NAME_PRINCIPAL)
    if not targets:
        raise UserError("Mention the people, like `/plc school principal add @name`.")


def school_meant(session: Session, actor: Actor, *, name: str, team_school_id: int | None,
                 show: Show = _plain) -> School:
    """The school a command means: named, the team's of the place it was typed in, or the only one
    the caller leads (or, for an admin, the only one there is)."""
    if name.strip():
        school = store.school_by_name(session, name=name)
        if school is None:
            raise UserError(f"There is no school called {show(name.strip()[:80])}.")
        return school
    if team_school_id is not None:
        found = store.school_by_id(session, school_id=team_school_id)
        if found is not None:
            return found
    everything = store.all_schools(session)
    led = [s for s in everything if s.id in actor.principal_of]
    if len(led) == 1:
        return led[0]
    if len(everything) == 1 and actor.is_admin:
        return everything[0]
    if not everything:
        raise UserError(NO_SCHOOL)
    raise UserError(WHICH)


def school_for_principals(session: Session, actor: Actor, *, name: str, team_school_id: int | None,
                          show: Show = _plain) -> School:
    """The school, once `actor` may grant its principal role (before any person is looked up)."""
    school = school_meant(session, actor, name=name, team_school_id=team_school_id, show=show)
    assert school.id is not None
    require_grant(actor, Role.PRINCIPAL, school_id=school.id)
    return school


def name_principals(session: Session, actor: Actor, *, school_id: int, people: Mapping[str, Person], remove: bool,
                    now: datetime) -> PrincipalsNamed:
    """Make (or stop making) each person a principal of the school, audited; people already so are skipped."""
    school = store.school_by_id(session, school_id=school_id)
    if school is None or school.id is None:
        raise UserError("That school no longer exists.")
    require(actor, Action.NAME_PRINCIPAL)
    require_grant(actor, Role.PRINCIPAL, school_id=school.id)
    done = []
    for uid, person in people.items():
        assert person.id is not None
        if remove:
            did = store.remove_leader(session, school_id=school.id, person_id=person.id, actor=actor.handle, now=now)
        else:
            did = store.add_leader(session, school_id=school.id, person_id=person.id, actor=actor.handle, now=now)
        if did:
            done.append(uid)
    verb = "no longer a principal of" if remove else "now a principal of"
    reply = (f"{len(done)} {verb} {school.name}." if done else "Nothing to change: they already were.")
    return PrincipalsNamed(reply=reply, changed=tuple(f"{uid}: {'-' if remove else '+'}principal" for uid in done),
                           refresh_homes=tuple(done), school_id=school.id, school_name=school.name, remove=remove,
                           done=tuple(done))


# ---------------------------------------------------------------------- settings (`school edit`)
# The fields of the settings form, as `storage.teams.update_school` names them; each front's form
# maps its own inputs to these names (Slack's block ids, Teams' input ids are these names).
SETTINGS_FIELDS = ("timezone", "self_service", "digest_weekday", "digest_time", "school_hours")
TIMEZONE_MAX = 64  # School.timezone
HOURS_MAX = 64  # School.school_hours
GONE = "This school no longer exists."
NOT_YOURS = f"Only {WHO[Role.PRINCIPAL]} can change these settings."


@dataclass(frozen=True)
class SettingsInput:
    """The settings form as typed (plain text; `self_service` a tick box)."""

    timezone: str = ""
    self_service: bool = False
    digest_weekday: str = "0"  # 0 = Monday … 6 = Sunday
    digest_time: str = "07:00"
    school_hours: str = ""  # empty: the district's default (PLCBOT_SCHOOL_HOURS)


@dataclass(frozen=True)
class SettingsChecked:
    """A settings form that passed its read-only check: what the write stores."""

    actor: Actor
    school_id: int
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SettingsSaved(ActionResult):
    school_id: int = 0
    school_name: str = ""


def read_settings(raw: SettingsInput) -> tuple[dict[str, Any], dict[str, str]]:
    """The form's values as `update_school` stores them, and an error per bad field (field → message)."""
    errors: dict[str, str] = {}
    tz = (raw.timezone or "").strip()
    try:
        if not tz or len(tz) > TIMEZONE_MAX:
            raise ValueError(tz)
        check_timezone(tz)
    except ValueError:
        errors["timezone"] = f"'{tz[:64]}' is not a time zone I know; use a name like America/Chicago."
    hours = (raw.school_hours or "").strip() or None
    if hours is not None:
        if len(hours) > HOURS_MAX:
            errors["school_hours"] = f"Keep the school hours under {HOURS_MAX} characters, like Mon-Fri 07:00-18:00."
        else:
            try:
                parse_school_hours(hours)
            except ValueError as exc:
                errors["school_hours"] = str(exc)[:150]
    day = (raw.digest_weekday or "0").strip()
    if not (day.isascii() and day.isdigit() and len(day) == 1 and int(day) < 7):
        errors["digest_weekday"] = "Pick a day of the week."
    digest_time = (raw.digest_time or "07:00").strip()
    try:
        digest_time = parse_time(digest_time[:20])
    except ValueError:
        errors["digest_time"] = "Pick a time such as 07:00."
    values = {"timezone": tz, "self_service": bool(raw.self_service),
              "digest_weekday": int(day) if "digest_weekday" not in errors else 0,
              "digest_time": digest_time, "school_hours": hours}
    return values, errors


def open_settings(session: Session, actor: Actor, *, school_id: int) -> School:
    """The school whose settings `actor` may change (its principals and admins); refused otherwise."""
    school = store.school_by_id(session, school_id=school_id) if school_id else None
    if school is None or school.id is None:
        raise UserError(GONE)
    if not allowed(actor, Action.EDIT_SCHOOL, school_id=school.id):
        raise UserError(NOT_YOURS)
    return school


def check_settings(session: Session, actor: Actor, *, school_id: int, raw: SettingsInput) -> SettingsChecked:
    """Read-only: the school, who may (before anything typed is judged), then the values.
    Raises `UserError` or `handlers.errors.Invalid` (field → message)."""
    open_settings(session, actor, school_id=school_id)
    values, errors = read_settings(raw)
    if errors:
        raise Invalid(errors)
    return SettingsChecked(actor, school_id, values)


def write_settings(session: Session, checked: SettingsChecked, *, admins: frozenset[str],
                   now: datetime) -> SettingsSaved:
    """Store the checked form in one transaction, the role loaded afresh (raises `Forbidden`). Only
    what differs is written and audited (`school.update`): the same form twice stores once."""
    fresh = load_actor(session, checked.actor.handle, admins=admins)
    if checked.actor.is_admin and not fresh.is_admin:  # PLCBOT_ADMINS, as the front read it (a Teams
        fresh = dataclasses.replace(fresh, is_admin=True)  # admin named by Entra id): not in the database
    require(fresh, Action.EDIT_SCHOOL, school_id=checked.school_id)
    school = store.school_by_id(session, school_id=checked.school_id)
    if school is None:
        raise UserError(GONE)
    changed = store.update_school(session, school_id=checked.school_id, actor=fresh.handle, now=now,
                                  **checked.values)
    reply = (f"Saved the settings of {school.name}." if changed
             else f"Nothing to change: {school.name}'s settings were already so.")
    return SettingsSaved(reply=reply, changed=tuple(changed), school_id=checked.school_id, school_name=school.name)
