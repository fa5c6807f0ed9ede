"""People and the roles they hold, read in a fixed number of queries."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import CompoundSelect, bindparam, literal, union_all
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from storage import linking
from storage.clock import session_now
from storage.identities import add_slack_identities, addressee
from storage.models import Membership, Person, PersonIdentity, SchoolLeader, Team
from storage.models.identities import TEAMS
from storage.rules.roles import Actor

# A chat platform's user id (Slack's U012AB…): upper-case letters and digits, unlike "cli:<login>".
_USER_ID = re.compile(r"[A-Z][A-Z0-9]{1,63}")


def get_or_create_person(session: Session, handle: str, *, now: datetime, name: str = "",
                         email: str | None = None, tz: str | None = None) -> Person:
    person = session.exec(select(Person).where(Person.handle == handle)).first()
    if person is None and email:  # a teacher known on Teams first, by the same e-mail
        linked = linking.slack_links(session, [(handle, email)])
        linking.attach_slack(session, linked, now=now)
        person = linked.get(handle)
    if person is None:
        person = Person(handle=handle, name=name, email=email, tz=tz, created_at=now)
        session.add(person)
        session.flush()
        assert person.id is not None
        add_slack_identities(session, [(person.id, handle, None)], now=now)
    return person


# Built once: every Slack request loads its actor, and building and caching a fresh
# statement cost more CPU than running it (profiled; ~5 ms of the bot's time per request).
_ROLES: CompoundSelect[Any] = union_all(
    select(col(Person.id).label("ref"), literal("person").label("role"))
    .where(Person.handle == bindparam("uid")),
    select(col(SchoolLeader.school_id).label("ref"), literal("principal").label("role"))
    .join(Person, col(Person.id) == SchoolLeader.person_id)
    .where(Person.handle == bindparam("uid")),
    select(col(Membership.team_id).label("ref"), col(Membership.role).label("role"))
    .join(Person, col(Person.id) == Membership.person_id)
    .join(Team, col(Team.id) == Membership.team_id)
    .where(Person.handle == bindparam("uid"), col(Membership.active).is_(True),
           col(Team.archived_at).is_(None)),
)
_TEAM_FOR_CHANNEL = select(Team).where(Team.channel_id == bindparam("channel"), col(Team.archived_at).is_(None))


# A Teams person's identities and e-mail, for PLCBOT_ADMINS entries that are Entra object ids or e-mails.
_TEAMS_NAMES = (select(col(PersonIdentity.external_id), col(Person.email))
                .select_from(Person)
                .join(PersonIdentity, (col(PersonIdentity.person_id) == Person.id)
                      & (col(PersonIdentity.platform) == TEAMS), isouter=True)
                .where(Person.handle == bindparam("uid"), col(Person.forgotten_at).is_(None)))


def is_admin(session: Session, user_id: str, admins: Iterable[str]) -> bool:
    """Is this person a plcbot admin (PLCBOT_ADMINS)? By their Slack user id, or, for the entries
    that are Entra object ids or e-mail addresses (kept in lower case by `bot.settings`), by any of
    their Teams identities (`29:` id, Entra object id) or their e-mail. The second look costs one
    query and is made only when such entries are configured."""
    wanted = set(admins)
    if user_id in wanted:
        return True
    teams_entries = {a for a in wanted if "@" in a or "-" in a}
    if not teams_entries:
        return False
    for external, email in session.connection().execute(_TEAMS_NAMES, {"uid": user_id}).all():
        if (external and external.lower() in teams_entries) or (email and email.lower() in teams_entries):
            return True
    return False


def load_actor(session: Session, user_id: str, *, admins: Iterable[str]) -> Actor:
    """Everything one person is, in one query (two when PLCBOT_ADMINS names Teams users)."""
    rows = session.connection().execute(_ROLES, {"uid": user_id}).all()
    return Actor(
        handle=user_id,
        person_id=next((ref for ref, role in rows if role == "person"), None),
        is_admin=is_admin(session, user_id, admins),
        principal_of=frozenset(ref for ref, role in rows if role == "principal"),
        facilitator_of=frozenset(ref for ref, role in rows if role == "facilitator"),
        member_of=frozenset(ref for ref, role in rows if role in ("member", "facilitator")),
    )


def team_for_channel(session: Session, channel_id: str) -> Team | None:
    return session.exec(_TEAM_FOR_CHANNEL, params={"channel": channel_id}).first()


def ensure_people(
    session: Session, users: Iterable[tuple[str, str, str | None, str | None]], *, now: datetime
) -> dict[str, Person]:
    """Person rows for (handle, name, email, tz), made in one query plus one insert batch.

    A Slack user not stored yet whose e-mail names exactly one person not known on Slack (a
    teacher known on Teams first) is that person (`storage.linking.slack_links`: one query for all).

    Known people get a changed name, e-mail or time zone refreshed (Slack is the truth for
    those); nobody is re-activated here, because only Slack's `user_change` says an account is back.
    New people get their Slack identity (`storage.identities`) in one more insert.
    """
    wanted = {uid: (name, email, tz) for uid, name, email, tz in users}
    if not wanted:
        return {}
    found: dict[str, Person] = {}
    ids = list(wanted)
    for start in range(0, len(ids), 500):  # keep the IN list well inside every database's limit
        chunk = ids[start : start + 500]
        for person in session.exec(select(Person).where(col(Person.handle).in_(chunk))).all():
            found[person.handle] = person
    # Not stored by their Slack id, but one person already has their e-mail and no Slack account
    # (a teacher known on Teams first): that person, with this Slack id from now on.
    linked = linking.slack_links(session, [(uid, email) for uid, (_, email, _) in wanted.items() if uid not in found])
    linking.attach_slack(session, linked, now=now)
    found.update(linked)
    new: list[Person] = []
    for uid, (name, email, tz) in wanted.items():
        known = found.get(uid)
        if known is None:
            found[uid] = Person(handle=uid, name=name, email=email, tz=tz, created_at=now)
            session.add(found[uid])
            new.append(found[uid])
            continue
        person = known
        if name and person.name != name:
            person.name = name
        if email and person.email != email:
            person.email = email
        if tz and person.tz != tz:
            person.tz = tz
    session.flush()
    add_slack_identities(session, [(p.id, p.handle, None) for p in new if p.id is not None], now=now)
    return found


def hold_person(session: Session, person_id: int | None, handle: str | None) -> int | None:
    """The person a write on their behalf names, held until the transaction ends (PostgreSQL:
    FOR KEY SHARE; SQLite's BEGIN IMMEDIATE serialises writers already). A link of that person
    (`storage.linking.link_people`, which locks both rows FOR UPDATE) or an erasure then waits
    for this write, or this write waits for it. When the row is gone, merged into another person
    a moment ago, `handle` (the name the actor was loaded by) finds the merged person: their Teams
    id is one of its identities, or their Slack id its name. None: nobody (any more)."""
    if person_id is not None and _hold(session, person_id):
        return person_id
    if not handle:
        return None
    merged, _ = addressee(session, handle)
    return merged if merged is not None and merged != person_id and _hold(session, merged) else None


def _hold(session: Session, person_id: int) -> bool:
    return session.execute(sa_select(col(Person.id)).where(col(Person.id) == person_id)
                           .with_for_update(read=True, key_share=True)).first() is not None


def person_by_slack_id(session: Session, handle: str) -> Person | None:
    return session.exec(select(Person).where(Person.handle == handle)).first()


def person_ref(session: Session, user_id: str | None, *, now: datetime | None = None) -> int | None:
    """The person id that a Slack user id names, for an attribution column (who owns or did something).

    A Slack user the bot has not stored yet (a timekeeper picked from the whole workspace) gets a
    bare person row and their Slack identity, as `get_or_create_person` makes them. An erased
    person's `forgotten-…` token names their tombstone. Nothing, or a value that is no Slack user
    id ("cli:<login>"), names nobody: None.
    """
    if not user_id:
        return None
    person = person_by_slack_id(session, user_id)
    if person is None:
        if not _USER_ID.fullmatch(user_id):
            return None
        person = get_or_create_person(session, user_id, now=now or session_now(session))
    return person.id


def slack_ids(session: Session, person_ids: Iterable[int | None]) -> dict[int, str]:
    """person id -> the Slack user id shown for them (an erased person's is their token), in one query."""
    wanted = sorted({p for p in person_ids if p is not None})
    if not wanted:
        return {}
    return {pid: uid for pid, uid in session.exec(
        select(col(Person.id), col(Person.handle)).where(col(Person.id).in_(wanted))).all() if pid is not None}


def slack_id(session: Session, person_id: int | None) -> str | None:
    """The Slack user id shown for one person id (None for None)."""
    return slack_ids(session, [person_id]).get(person_id) if person_id is not None else None
