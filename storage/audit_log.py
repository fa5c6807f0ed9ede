"""Reading the audit log: filtered by day, person and school, streamed, in a fixed number of queries.

The log can hold millions of rows (a roster sync audits every seat), so entries are read in
batches from one query and handed out one by one; nothing here loads the whole table. The
person filter matches who acted and who was acted on: the actor, or the person's Slack id or
`person:N` row in the target or detail. SQL narrows with LIKE; an exact word match in Python
then drops near misses (U12 is not U1), which is why a limit is applied here, not in SQL.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import func, or_, select
from sqlalchemy.sql import Select
from sqlmodel import Session, col

from storage.models import AuditEntry, Person, School, Team

BATCH = 500  # rows fetched per round trip while streaming


@dataclass(frozen=True)
class AuditRow:
    """One entry as shown: the school's and the actor's names joined in (None when unknown)."""

    id: int
    at: datetime
    school_id: int | None
    school: str | None
    actor: str
    actor_name: str | None
    action: str
    target: str
    detail: str


@dataclass(frozen=True)
class UserMatch:
    """Who `--user` asks about: their Slack id (or "cli:<login>") and their person row's id."""

    user: str
    person_id: int | None = None

    def matches(self, row: AuditRow) -> bool:
        if row.actor == self.user:
            return True
        text = f"{row.target} {row.detail}"
        if _word(self.user).search(text):
            return True
        return self.person_id is not None and _person(self.person_id).search(text) is not None


@lru_cache(maxsize=64)
def _word(token: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w]){re.escape(token)}(?![\w])")


@lru_cache(maxsize=64)
def _person(person_id: int) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w])person:{person_id}(?![\d])")


def _like(token: str) -> str:
    """A LIKE pattern for `token` anywhere, with LIKE's wildcards escaped (cli logins may hold _)."""
    return "%" + token.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def user_match(session: Session, *, user: str) -> UserMatch:
    """Resolve a Slack id to its person row (one query), so `person:N` mentions match too."""
    if user.startswith("cli:"):
        return UserMatch(user=user)
    person_id = session.execute(
        select(col(Person.id)).where(col(Person.handle) == user)).scalar_one_or_none()
    return UserMatch(user=user, person_id=person_id)


def _statement(*, since: datetime | None, school_ids: frozenset[int] | None, who: UserMatch | None,
               newest_first: bool) -> Select:
    query = (
        select(col(AuditEntry.id), col(AuditEntry.at), col(AuditEntry.school_id), col(School.name),
               func.coalesce(col(Person.handle), col(AuditEntry.actor_label)), col(Person.name),
               col(AuditEntry.action), col(AuditEntry.target), col(AuditEntry.detail))
        .outerjoin(School, col(School.id) == col(AuditEntry.school_id))
        .outerjoin(Person, col(Person.id) == col(AuditEntry.actor_id))
    )
    if since is not None:
        query = query.where(col(AuditEntry.at) >= since)
    if school_ids is not None:
        query = query.where(col(AuditEntry.school_id).in_(sorted(school_ids)))
    if who is not None:
        wanted = [col(AuditEntry.actor_id) == who.person_id if who.person_id is not None
                  else col(AuditEntry.actor_label) == who.user,
                  col(AuditEntry.target).like(_like(who.user), escape="\\"),
                  col(AuditEntry.detail).like(_like(who.user), escape="\\")]
        if who.person_id is not None:
            mention = _like(f"person:{who.person_id}")
            wanted += [col(AuditEntry.target).like(mention, escape="\\"),
                       col(AuditEntry.detail).like(mention, escape="\\")]
        query = query.where(or_(*wanted))
    order = (col(AuditEntry.at).desc(), col(AuditEntry.id).desc()) if newest_first else (
        col(AuditEntry.at), col(AuditEntry.id))
    return query.order_by(*order)


def _stream(session: Session, query: Select, who: UserMatch | None) -> Iterator[AuditRow]:
    result = session.execute(query.execution_options(yield_per=BATCH))
    for values in result:
        row = AuditRow(*values)
        if who is None or who.matches(row):
            yield row


def entries(session: Session, *, since: datetime | None = None, school_ids: frozenset[int] | None = None,
            user: str | None = None, limit: int | None = None, newest_first: bool = False) -> Iterator[AuditRow]:
    """The entries that match, oldest first (or newest first), streamed.

    Args:
        since: only entries at or after this moment (aware).
        school_ids: only these schools' entries; None: every entry, district-wide ones too.
        user: a Slack id or "cli:<login>" that acted or was acted on.
        limit: at most this many, the newest ones (still in the order asked for).
    """
    who = user_match(session, user=user) if user else None
    if limit is None:
        yield from _stream(session, _statement(since=since, school_ids=school_ids, who=who,
                                               newest_first=newest_first), who)
        return
    newest: deque[AuditRow] = deque()
    for row in _stream(session, _statement(since=since, school_ids=school_ids, who=who, newest_first=True), who):
        newest.append(row)
        if len(newest) >= limit:
            break
    if newest_first:
        yield from newest
    else:
        yield from reversed(newest)


def team_names(session: Session, *, school_ids: frozenset[int] | None = None,
               team_ids: set[int] | None = None) -> dict[int, str]:
    """Team id -> name (archived teams too), to show "team:N" targets by name; one query.

    Give `team_ids` (those of a page of entries) or `school_ids` (None with neither: every team).
    """
    query = select(col(Team.id), col(Team.name))
    if team_ids is not None:
        query = query.where(col(Team.id).in_(sorted(team_ids)))
    if school_ids is not None:
        query = query.where(col(Team.school_id).in_(sorted(school_ids)))
    return {int(team_id): name for team_id, name in session.execute(query)}


def team_ids_in(rows: list[AuditRow]) -> set[int]:
    """The teams named by "team:N" targets in these entries."""
    out = set()
    for row in rows:
        kind, _, ref = row.target.partition(":")
        if kind == "team" and ref.isdigit():
            out.add(int(ref))
    return out


def school_names(session: Session, *, school_ids: frozenset[int]) -> list[str]:
    """The schools' names, in name order (for saying whose log is shown); one query."""
    return list(session.execute(select(col(School.name)).where(col(School.id).in_(sorted(school_ids)))
                                .order_by(col(School.name))).scalars())


def school_zones(session: Session, *, school_ids: set[int]) -> dict[int, str]:
    """School id -> its time zone (to show an entry's time as the school reads it); one query."""
    if not school_ids:
        return {}
    return {int(school_id): zone for school_id, zone in session.execute(
        select(col(School.id), col(School.timezone)).where(col(School.id).in_(sorted(school_ids))))}
