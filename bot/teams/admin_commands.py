"""`school` typed to the bot on Teams: Slack's `/plc school` with the same words, roles and meaning.

- `school [School Name]`: the school's settings, principals and teams (its principals and admins);
- `school edit [School Name]`: a card whose button opens the settings dialog (Slack's settings
  modal's fields), read, checked and saved by `handlers.core.schools` (`open_settings`,
  `check_settings`, `write_settings`) as Slack's modal is; its principals and admins only, checked
  when the dialog opens and again when it is saved (`bot.teams.invokes`: `school_edit`);
- `school create School Name America/Chicago` (plcbot admins);
- `school principal add | remove @person … [in School Name]` (plcbot admins): the people are the
  ones @mentioned in the message (Teams' mention entities); someone the bot does not know yet
  gets a person row and a Teams identity, as the set-up's roster makes them
  (`bot.teams.setup.teams_people`).

What they mean (the reading of the words, which school, the role checks, the writes) is
`handlers.core.schools`, which Slack's `/plc school` calls too.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from bot.teams import card_kit as ck
from handlers.core import schools as core
from storage import teams as store
from storage.models import Team
from storage.rules.roles import Action, require

if TYPE_CHECKING:
    from bot.services import Services
    from bot.teams.commands import Reply, Request
    from storage.rules.roles import Actor

MAX_MENTIONS = 20
_AT = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)


def shown(value: str) -> str:
    """A name someone typed, as a card shows it: bold, markdown characters escaped."""
    return f"**{ck.md(ck.clip(value, 100))}**"


def done(words: str) -> Reply:
    return words, ck.card([ck.container([ck.text(words)], style="good")])


def mentioned_people(activity: dict[str, Any]) -> list[tuple[str, str]]:
    """Everyone @mentioned in the message but the bot, in order, without repeats: (Teams id, name)."""
    bot_id = (activity.get("recipient") or {}).get("id")
    found: dict[str, str] = {}
    for entity in activity.get("entities") or []:
        if not isinstance(entity, dict) or entity.get("type") != "mention":
            continue
        mentioned = entity.get("mentioned") or {}
        target = mentioned.get("id") if isinstance(mentioned, dict) else None
        if not isinstance(target, str) or not target or target == bot_id or len(target) > 255:
            continue
        label = html.unescape(_AT.sub(lambda m: m.group(0)[4:-5], str(entity.get("text") or "")))
        name = str(mentioned.get("name") or label or "Teams user")[:200]
        found.setdefault(target, name)
    return list(found.items())[:MAX_MENTIONS]


def school_reply(services: Services, request: Request, activity: dict[str, Any]) -> Reply:
    """`school …` (see the module's docstring)."""
    word, _, rest = request.args.partition(" ")
    word = word.lower()
    if word == "create":
        return create(services, request, rest)
    if word in ("principal", "principals", "leader"):
        return principals(services, request, rest, activity)
    what, name = core.read_show(request.args)
    team_school = request.team.school_id if request.team is not None else None
    with services.db.read() as session:
        school = core.school_meant(session, request.actor, name=name, team_school_id=team_school, show=shown)
    assert school.id is not None
    require(request.actor, Action.EDIT_SCHOOL, school_id=school.id)
    if what == "edit":
        return edit_button(school)
    return school_card(services, school)


# ------------------------------------------------------------------------------ school edit (a dialog)
def edit_button(school: Any) -> Reply:
    """`school edit`: a card whose button opens the settings dialog (a typed message cannot open a
    dialog; a button's task/fetch can). Who may is checked again when it opens and when it is saved."""
    from bot.teams.dialogs import SCHOOL_DIALOG

    button = {"type": "Action.Submit", "title": "Edit the settings", "style": "positive",
              "data": {"msteams": {"type": "task/fetch"}, "dialog_id": SCHOOL_DIALOG, "school_id": school.id}}
    body = [ck.heading(f"Settings of {ck.md(ck.clip(school.name, 100))}"),
            ck.text("Time zone, self-service, the digest's day and time, and school hours.")]
    return "Edit the school's settings: click the button to open the form.", ck.card(body, [button])


def settings_form(services: Services, actor: Actor, school_id: int) -> tuple[str, dict[str, Any]]:
    """The settings dialog for a school `actor` may change (`handlers.core.schools.open_settings`
    refuses anyone else, and a school that is gone)."""
    from bot.teams.dialogs import school_form

    with services.db.read() as session:
        school = core.open_settings(session, actor, school_id=school_id)
    return school_form(school, default_hours=services.settings.school_hours)


SETTINGS_TYPED = {"timezone": 200, "self_service": 10, "digest_weekday": 10, "digest_time": 20, "school_hours": 200}


def settings_submit(services: Services, actor: Actor, school_id: int, typed: dict[str, str]) -> Reply:
    """Check (`core.check_settings`: the school, the role, then the values; `Invalid` by field, nothing
    stored) and save (`core.write_settings`: only what differs, audited; the same form twice stores once)."""
    raw = core.SettingsInput(timezone=typed.get("timezone", ""), self_service=typed.get("self_service") == "true",
                             digest_weekday=typed.get("digest_weekday", ""), digest_time=typed.get("digest_time", ""),
                             school_hours=typed.get("school_hours", ""))
    with services.db.read() as session:
        checked = core.check_settings(session, actor, school_id=school_id, raw=raw)
    with services.db.session() as session:
        saved = core.write_settings(session, checked, admins=services.settings.admins, now=services.clock.now())
    return done(f"✅ {ck.md(saved.reply)}")


def school_card(services: Services, school: Any) -> Reply:
    from bot.teams.commands import _names
    from storage.rules.cycles import WEEKDAYS

    with services.db.read() as session:
        leaders = store.leader_ids(session, school_id=school.id)
        teams = list(session.exec(select(Team.name).where(Team.school_id == school.id, col(Team.archived_at).is_(None))
                                  .order_by(col(Team.name))).all())
        names = _names(session)
    rows = [("Time zone", ck.zone(school.timezone)),
            ("School hours", ck.md(school.school_hours or services.settings.school_hours)),
            ("Digest", f"{WEEKDAYS[school.digest_weekday]}s at {ck.md(school.digest_time)}"),
            ("Self-service", "teachers may set up the first team" if school.self_service else "off"),
            ("Principals", ck.people(leaders, names, limit=20) if leaders else "none yet"),
            (f"Teams ({len(teams)})", ck.clip(", ".join(ck.md(t) for t in teams), 1500) if teams else "none yet")]
    body = [ck.heading(ck.md(ck.clip(school.name, 150))), ck.facts(rows),
            ck.subtle("Admins name principals with **@plcbot school principal add @person**.")]
    return f"{school.name}: {len(teams)} teams", ck.card(body)


def create(services: Services, request: Request, rest: str) -> Reply:
    require(request.actor, Action.CREATE_SCHOOL)
    new = core.read_create(rest, default_timezone=services.settings.timezone, show=ck.md)
    made = core.create(services, request.actor, new, show=shown)
    return done(f"🏫 {shown(made.name)} is created ({ck.zone(made.timezone)}). Name its principals with "
                f"**@plcbot school principal add @person in {ck.md(ck.clip(made.name, 100))}**.")


def principals(services: Services, request: Request, args: str, activity: dict[str, Any]) -> Reply:
    """`principal add | remove @person … [in School Name]`: the people are the message's @mentions."""
    from bot.teams.setup import Where, known_person, mentioned_members, teams_people

    remove, rest, school_name = core.read_principals(args)
    people = mentioned_people(activity)
    core.check_principals(request.actor, [target for target, _ in people])
    team_school = request.team.school_id if request.team is not None else None
    with services.db.read() as session:
        school = core.school_for_principals(session, request.actor, name=school_name, team_school_id=team_school,
                                            show=shown)
    assert school.id is not None
    who = request.who
    where = Where(tenant=who.tenant, service_url=who.service_url, conversation_id=who.conversation_id,
                  team_id=who.team_id or "", user_id=who.user_id, aad_object_id=who.aad_object_id)
    now = services.clock.now()
    members = mentioned_members(services, where, people)  # e-mails asked for before the write
    with services.db.session() as session:
        if remove:  # removing names nobody new: only people the bot knows (by Teams id or e-mail)
            found = {m.id: known_person(session, m, where) for m in members}
            rows = {target: person for target, person in found.items() if person is not None}
        else:  # known by Teams id, else by e-mail (a teacher known on Slack): never a second person
            rows = teams_people(session, members, where, now=now)
        by_core_id = {person.handle: person for person in rows.values()}
        named = core.name_principals(session, request.actor, school_id=school.id, people=by_core_id,
                                     remove=remove, now=now)
    if not named.done:
        return named.reply, None
    labels = dict(people)
    who_changed = [labels.get(t, "") for t, p in rows.items() if p.handle in named.done]
    listed = ", ".join(f"**{ck.md(ck.clip(n or 'Teams user', 80))}**" for n in who_changed)
    verb = "no longer a principal of" if remove else "now a principal of"
    plural = "are" if len(who_changed) > 1 else "is"
    return done(f"✅ {listed} {plural} {verb} {shown(named.school_name)}.")


def register(more: dict[str, Any]) -> None:
    """The commands this module adds to the Teams front (`bot.teams.commands.MORE`)."""
    more["school"] = school_reply
