"""One person on Slack and Teams: attaching a new platform identity to the person an e-mail names,
and merging two person rows that are the same teacher (`plcbot people link A B`).

A district that runs both fronts against one database expects one person per teacher: their
check-ins, roles and history in one place, reached on the platform where they are known.

- **By e-mail** (`person_for_email`): a platform identity that arrives with an e-mail (the Teams
  set-up roster gives one for each member) is attached to the existing person with that e-mail
  (case-insensitive) when exactly one person, not erased, has it and that person has no identity
  on that platform yet. Otherwise a new person is made, as before. The Slack side does the same in
  bulk (`slack_links`, then `attach_slack`: one query for all the e-mails, one insert for the
  identities), for the people `storage.people.ensure_people`, `get_or_create_person` and the roster
  import make: a teacher known on Teams first becomes known by their Slack id (`adopt_slack_id`,
  the rule `link_people` follows when only B is on Slack).
- **By hand** (`link_people`): B is merged into A. Every person column of the inventory
  (`storage.personal_data.PERSON_KEYS`, the single list of them) is re-pointed from B to A, B's
  identities move to A, and B's row goes. A row that would then exist twice (a unique key of its
  table holding the person) is resolved by the table's rule in `ON_CONFLICT`: the same team
  membership twice keeps one with the higher role; the same check-in week or meeting feedback
  twice refuses the whole link, naming it, and nothing changes. A table with no rule refuses too:
  nothing is ever dropped silently. B's anonymous feedback still inside its window carries no
  person; it is re-keyed to A's link (`storage.feedback.relink_anonymous`) so A can still change
  it, and the report never mentions it.

The core names a person by `person.handle` (a Teams person by their Teams id there): the
merged person keeps A's name, unless only B is known on Slack, in which case A takes B's Slack
id (Slack's front finds people by it). No other column holds that name as a copy (since
migration 0011 the ledger's recipient, the audit log's actor and a check-in's owner are person
keys too, so they follow B's rows to A with the rest of `PERSON_KEYS`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import MetaData, Table, UniqueConstraint, exists, func, update
from sqlalchemy import delete as sa_delete
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col, select

from storage.models import CheckinRound, Cycle, Meeting, Person, PersonIdentity, Team
from storage.models.identities import SLACK
from storage.personal_data import PERSON_KEYS, is_token, valid_user_id

ACTION = "people.link"

ROLE_RANK = {"member": 0, "facilitator": 1}

# What to do when B's row and A's row would collide on a unique key that holds the person:
# "keep" (A's row stays, B's goes), "membership" (one, with the higher role, active if either
# was), "attendance" (one, present if either was), "refuse" (nothing changes). Unlisted: refuse.
ON_CONFLICT: dict[str, str] = {
    "membership": "membership",
    "schoolleader": "keep",
    "normcommitment": "keep",
    "attendance": "attendance",
    "checkin": "refuse",
    "feedback": "refuse",
}


class LinkError(Exception):
    """Why two people cannot be linked, or a name that names nobody; nothing was changed."""


# ------------------------------------------------------------------------------ by e-mail
def person_for_email(session: Session, email: str | None, platform: str) -> Person | None:
    """The one person, not erased, with this e-mail (case-insensitive) and no identity on
    `platform` yet; None when nobody or several people have it, or when they are already known there."""
    wanted = (email or "").strip().lower()
    if "@" not in wanted:
        return None
    found = list(session.exec(select(Person).where(
        func.lower(col(Person.email)) == wanted, col(Person.forgotten_at).is_(None)).limit(2)).all())
    if len(found) != 1:
        return None
    person = found[0]
    if is_token(person.handle):
        return None
    known_there = session.exec(select(PersonIdentity.id).where(
        PersonIdentity.person_id == person.id, PersonIdentity.platform == platform)).first()
    return None if known_there is not None else person


def slack_links(session: Session, users: Iterable[tuple[str, str | None]]) -> dict[str, Person]:
    """Slack user id -> the person that Slack user already is, by e-mail, for Slack users not
    stored yet: the one person, not erased, with the same e-mail (case-insensitive) who is not
    known on Slack (a teacher known on Teams first). The same rule as `person_for_email`, in bulk:
    one query for all the e-mails (one more, for the few found, checks that no person is named by
    that Slack id already). A Slack id or e-mail that appears twice in `users` links nobody."""
    by_email: dict[str, list[str]] = {}
    for uid, email in users:
        wanted_email = (email or "").strip().lower()
        if "@" in wanted_email and uid:
            by_email.setdefault(wanted_email, []).append(uid)
    wanted = {e: uids[0] for e, uids in by_email.items() if len(set(uids)) == 1}
    if not wanted:
        return {}
    email_of = func.lower(col(Person.email))
    unique = (sa_select(email_of.label("email"))
              .where(col(Person.forgotten_at).is_(None), col(Person.email).is_not(None))
              .group_by(email_of).having(func.count() == 1).subquery())
    on_slack = exists().where(col(PersonIdentity.person_id) == col(Person.id), col(PersonIdentity.platform) == SLACK)
    query = (select(Person).join(unique, email_of == unique.c.email)
             .where(col(Person.forgotten_at).is_(None), ~on_slack))
    if len(wanted) <= 500:  # a set-up's few people: only theirs; a roster's thousands: filtered here
        query = query.where(email_of.in_(sorted(wanted)))
    found: dict[str, Person] = {}
    for person in session.exec(query).all():
        target = wanted.get((person.email or "").lower())
        if target is not None and not is_token(person.handle) and not valid_user_id(person.handle):
            found[target] = person
    if found:  # a Slack id some person is named by already: theirs to link by hand (`plcbot people link`)
        taken = set(session.exec(select(Person.handle).where(col(Person.handle).in_(sorted(found)))).all())
        found = {uid: p for uid, p in found.items() if uid not in taken}
    return found


def known_elsewhere(session: Session) -> list[tuple[str, str, str | None]]:
    """Everyone, not erased, who is not known on Slack (a teacher set up on Teams only): (their
    name as the core knows them, their display name, their e-mail lower-cased when no other person,
    not erased, has it: the e-mail rule of `person_for_email`, else None). One query, for the roster
    import: a Slack roster cannot see these people, but a file may name them by e-mail."""
    email_of = func.lower(col(Person.email))
    unique = (sa_select(email_of.label("email"))
              .where(col(Person.forgotten_at).is_(None), col(Person.email).is_not(None))
              .group_by(email_of).having(func.count() == 1).subquery())
    on_slack = exists().where(col(PersonIdentity.person_id) == col(Person.id), col(PersonIdentity.platform) == SLACK)
    rows = session.execute(
        sa_select(col(Person.handle), col(Person.name), unique.c.email)
        .outerjoin(unique, email_of == unique.c.email)
        .where(col(Person.forgotten_at).is_(None), ~on_slack)).all()
    return [(str(handle), str(name or handle), email) for handle, name, email in rows
            if not is_token(handle) and not valid_user_id(handle)]


def adopt_slack_id(person: Person, slack_id: str, *, dm: str | None) -> None:
    """The person is known to the core by their Slack id from now on (Slack's front finds people
    by it), with the DM the bot has with them there: what a link does when only the merged-in
    person was on Slack, and what attaching a Slack account to a Teams-first person does."""
    person.handle, person.dm_channel_id = slack_id, dm


def attach_slack(session: Session, links: Mapping[str, Person], *, now: datetime, actor: str = "plcbot") -> None:
    """Attach each Slack id to the person `slack_links` found for it: the person takes the Slack
    id as their name (`adopt_slack_id`) and gets a Slack identity (one insert for all); each link
    is audited (`people.link`). Their check-ins, roles and history stay theirs: nothing else moves."""
    from storage.identities import add_slack_identities
    from storage.teams import audit

    if not links:
        return
    before = {uid: person.handle for uid, person in links.items()}
    for uid, person in links.items():
        adopt_slack_id(person, uid, dm=None)
        session.add(person)
    session.flush()
    add_slack_identities(session, [(p.id, uid, None) for uid, p in links.items() if p.id is not None], now=now)
    for uid, person in links.items():
        audit(session, actor=actor, action=ACTION, target=uid,
              detail=f"by e-mail: Slack account {uid} attached to person:{person.id} {before[uid]}, "
                     "known on another platform first", at=now)


# ------------------------------------------------------------------------------ naming people
_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,31}$")


def find(session: Session, raw: str) -> Person:
    """The person a CLI argument names: a Slack user id, a Teams user id (29:…), an Entra object
    id, an e-mail address (exactly one person), or the id the bot shows for them."""
    text = (raw or "").strip()
    if not text:
        raise LinkError("an empty name names nobody; give a Slack user id, a Teams id or an e-mail address.")
    if len(text) > 320:
        raise LinkError("that name is too long to be a Slack id, a Teams id or an e-mail address.")
    candidates = [text, text.upper()] if _SLACK_ID.match(text.upper()) else [text]
    for value in candidates:
        person = session.exec(select(Person).where(Person.handle == value)).first()
        if person is not None:
            return person
        person = session.exec(select(Person).join(PersonIdentity, col(PersonIdentity.person_id) == Person.id)
                              .where(func.lower(col(PersonIdentity.external_id)) == value.lower())).first()
        if person is not None:
            return person
    if "@" in text and not text.startswith("<@"):
        people = list(session.exec(select(Person).where(
            func.lower(col(Person.email)) == text.lower(), col(Person.forgotten_at).is_(None))).all())
        if len(people) == 1:
            return people[0]
        if people:
            names = ", ".join(p.handle for p in people[:5])
            raise LinkError(f"{text} is the e-mail address of {len(people)} people ({names}); "
                            "name the one you mean by their Slack or Teams id.")
        raise LinkError(f"nobody with the e-mail address {text} is known to the bot.")
    raise LinkError(f"no person known as {text!r} (a Slack user id like U012ABCDEF, a Teams id like 29:1…, "
                    "an Entra object id or an e-mail address).")


def shown(person: Person) -> str:
    return f"{person.name} ({person.handle})" if person.name else person.handle


# ------------------------------------------------------------------------------ merging
@dataclass
class LinkReport:
    keep: str
    drop: str
    applied: bool
    moved: dict[str, int] = field(default_factory=dict)  # "table.column" -> rows re-pointed
    resolved: list[str] = field(default_factory=list)  # conflicts resolved, in words
    identities: list[str] = field(default_factory=list)  # "Slack U1", "Teams 29:…"
    renamed: str | None = None  # the merged person's new core name, when it changes

    def lines(self) -> list[str]:
        head = "Linked" if self.applied else "Dry run: would link"
        out = [f"{head} {self.drop} into {self.keep}."]
        if self.identities:
            out.append("  chat accounts moved: " + ", ".join(self.identities))
        for key, n in sorted(self.moved.items()):
            out.append(f"  {key}: {n} row{'s' if n != 1 else ''}")
        out += [f"  {line}" for line in self.resolved]
        if self.renamed:
            out.append(f"  known to the bot as {self.renamed} from now on (their Slack id)")
        out.append("Done: one person now." if self.applied else "Nothing was changed. Run again with --apply to do it.")
        return out


def _tables() -> dict[str, Table]:
    metadata: MetaData = SQLModel.metadata
    return {t.name: t for t in metadata.sorted_tables}


def _unique_with(table: Table, column: str) -> list[list[str]]:
    """The other columns of each unique key of `table` that holds `column`."""
    out = []
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            names = [c.name for c in constraint.columns]
            if column in names:
                out.append([n for n in names if n != column])
    return out


def _describe_clash(session: Session, table: str, a_row: dict[str, object]) -> str:
    """A clash in words an admin can find: the team, the cycle and week, the meeting."""
    if table == "checkin":
        row = session.exec(select(CheckinRound, Cycle, Team).join(Cycle, col(Cycle.id) == CheckinRound.cycle_id)
                           .join(Team, col(Team.id) == Cycle.team_id)
                           .where(CheckinRound.id == a_row["round_id"])).first()
        if row is not None:
            rnd, cycle, team = row
            return f"both have a check-in for {team.name}, cycle '{cycle.title}', week {rnd.week} ({rnd.local_day})"
    if table == "feedback":
        row2 = session.exec(select(Meeting, Team).join(Team, col(Team.id) == Meeting.team_id)
                            .where(Meeting.id == a_row["meeting_id"])).first()
        if row2 is not None:
            meeting, team = row2
            return f"both gave feedback on {team.name}'s meeting of {meeting.starts_at:%Y-%m-%d}"
    keys = ", ".join(f"{k} {v}" for k, v in a_row.items())
    return f"both have a {table} row for {keys}"


def link_people(session: Session, keep: Person, drop: Person, *, actor: str, now: datetime,
                apply: bool, link_key: bytes | None = None) -> LinkReport:
    """Merge `drop` into `keep` (see the module's docstring); the caller commits. A dry run
    (`apply=False`) reads only. Raises LinkError, changing nothing, when they cannot be linked.

    `link_key` is the install's anonymous-feedback key (`storage.feedback.install_link_key`):
    with it, `drop`'s anonymous answers still open are re-keyed so `keep` finds them
    (`storage.feedback.relink_anonymous`); the report says nothing of them."""
    from storage.feedback import relink_anonymous
    from storage.teams import audit

    assert keep.id is not None and drop.id is not None
    if apply and keep.id != drop.id:
        keep, drop = _lock_both(session, keep, drop)
    assert keep.id is not None and drop.id is not None
    if keep.id == drop.id:
        raise LinkError(f"{shown(keep)} and {drop.handle} are already the same person; nothing to link.")
    for p in (keep, drop):
        if p.forgotten_at is not None or is_token(p.handle):
            raise LinkError(f"{p.handle} was forgotten (erased); an erased person cannot be linked.")
    a_ids, b_ids = _identities(session, keep.id), _identities(session, drop.id)
    # Known on Slack: a Slack identity, or a Slack id as their name (people made before identities).
    a_slack = any(i.platform == SLACK for i in a_ids) or valid_user_id(keep.handle)
    b_slack = any(i.platform == SLACK for i in b_ids) or valid_user_id(drop.handle)
    if a_slack and b_slack:
        raise LinkError(f"{shown(keep)} and {shown(drop)} are two different Slack accounts; a person has one "
                        "Slack id. Nothing was changed.")
    report = LinkReport(keep=shown(keep), drop=shown(drop), applied=apply)
    report.identities = [f"{'Slack' if i.platform == SLACK else 'Teams'} {i.external_id}" for i in b_ids]
    tables = _tables()
    keep_id, drop_id = keep.id, drop.id

    # Conflicts first, all of them, so a refusal changes nothing.
    plans: list[tuple[str, str, str, list[tuple[dict[str, object], dict[str, object]]]]] = []
    refusals: list[str] = []
    for key in PERSON_KEYS:
        if key.table == "personidentity":
            continue
        table = tables[key.table]
        column = table.c[key.column]
        clashes: list[tuple[dict[str, object], dict[str, object]]] = []
        for others in _unique_with(table, key.column):
            a_rows = {tuple(r._mapping[o] for o in others): dict(r._mapping) for r in session.execute(
                sa_select(table).where(column == keep_id)).all()}
            for r in session.execute(sa_select(table).where(column == drop_id)).all():
                b_row = dict(r._mapping)
                a_row = a_rows.get(tuple(b_row[o] for o in others))
                if a_row is not None:
                    clashes.append((a_row, b_row))
                    if ON_CONFLICT.get(key.table, "refuse") == "refuse":
                        refusals.append(_describe_clash(session, key.table, {o: b_row[o] for o in others}))
        plans.append((key.table, key.column, ON_CONFLICT.get(key.table, "refuse"), clashes))
    if refusals:
        more = f" (and {len(refusals) - 3} more)" if len(refusals) > 3 else ""
        raise LinkError(f"cannot link {shown(drop)} into {shown(keep)}: " + "; ".join(refusals[:3]) + more
                        + ". Nothing was changed: erase or keep one of them by hand first.")

    for table_name, column_name, rule, clashes in plans:
        table = tables[table_name]
        column = table.c[column_name]
        pk = table.c["id"]
        for a_row, b_row in clashes:
            if rule == "membership":
                role = max((str(a_row["role"]), str(b_row["role"])), key=lambda r: ROLE_RANK.get(r, 0))
                active = bool(a_row["active"]) or bool(b_row["active"])
                report.resolved.append(f"team membership in {_team_name(session, a_row['team_id'])} held twice: "
                                       f"one kept, as {role}")
                if apply:
                    values: dict[str, object] = {"role": role, "active": active}
                    if active:
                        values["left_at"] = None
                    session.execute(update(table).where(pk == a_row["id"]).values(**values))
            elif rule == "attendance":
                report.resolved.append(f"attendance at meeting {a_row['meeting_id']} recorded twice: one kept")
                if apply and b_row["present"] and not a_row["present"]:
                    session.execute(update(table).where(pk == a_row["id"]).values(present=True))
            else:
                report.resolved.append(f"{table_name} row held twice: one kept")
            if apply:
                session.execute(sa_delete(table).where(pk == b_row["id"]))
        n = session.execute(sa_select(func.count()).select_from(table).where(column == drop_id)).scalar_one()
        n = int(n) if apply else int(n) - len(clashes)
        if n:
            report.moved[f"{table_name}.{column_name}"] = int(n)
            if apply:
                session.execute(update(table).where(column == drop_id).values({column_name: keep_id}))

    # The merged person's core name: A's, unless only B is known on Slack.
    new_name = drop.handle if (b_slack and not a_slack) else keep.handle
    if new_name != keep.handle:
        report.renamed = new_name

    if not apply:
        return report
    if link_key is not None:
        relink_anonymous(session, key=link_key, keep=(keep_id, keep.handle), drop=(drop_id, drop.handle))
    for identity in b_ids:
        identity.person_id = keep_id
        session.add(identity)
    session.flush()
    # Profile: what A lacks, B gives; the Slack side (id and DM) when A takes B's Slack id.
    drop_name, drop_dm, drop_email = drop.handle, drop.dm_channel_id, drop.email
    drop_tz, drop_pname = drop.tz, drop.name
    session.delete(drop)
    session.flush()
    if new_name != keep.handle:
        adopt_slack_id(keep, new_name, dm=drop_dm)
    keep.email = keep.email or drop_email
    keep.tz = keep.tz or drop_tz
    keep.name = keep.name or drop_pname
    session.add(keep)
    session.flush()
    audit(session, actor=actor, action=ACTION, target=keep.handle,
          detail=f"merged {drop_name} into {keep.handle}: "
                 + ", ".join(f"{k} {v}" for k, v in sorted(report.moved.items()))
                 + (f"; {len(report.resolved)} duplicate rows resolved" if report.resolved else ""), at=now)
    return report


def _lock_both(session: Session, keep: Person, drop: Person) -> tuple[Person, Person]:
    """Lock both person rows (PostgreSQL: FOR UPDATE; SQLite's BEGIN IMMEDIATE serialises writers
    already), the lower id first, so two links or a link and an erasure never deadlock; then read
    them again. A write that names either of them (a check-in answer holds its person with
    `storage.people.hold_person`) has then finished, and its rows are moved with the rest, or
    waits for this link and finds the merged person. A row changed meanwhile (merged by another
    link, erased) refuses the link, changing nothing."""
    assert keep.id is not None and drop.id is not None
    for person_id in sorted((keep.id, drop.id)):
        session.execute(sa_select(col(Person.id)).where(col(Person.id) == person_id).with_for_update())
    fresh: list[Person] = []
    for was in (keep, drop):
        now_is = session.exec(select(Person).where(Person.id == was.id)
                              .execution_options(populate_existing=True)).first()
        if now_is is None:
            raise LinkError(f"{was.handle} was merged into another person a moment ago, by another link; "
                            "nothing was changed. Run it again to see where they are now.")
        fresh.append(now_is)
    return fresh[0], fresh[1]


def _identities(session: Session, person_id: int) -> list[PersonIdentity]:
    return list(session.exec(select(PersonIdentity).where(PersonIdentity.person_id == person_id)
                             .order_by(col(PersonIdentity.id))).all())


def _team_name(session: Session, team_id: object) -> str:
    team = session.get(Team, team_id)
    return team.name if team is not None else f"team {team_id}"


