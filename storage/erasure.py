"""Forgetting a person: every row that names them deleted or anonymised, in one transaction.

The person's own row becomes a tombstone (no e-mail, time zone or DM channel; its name is
"a former member", so every list, digest and workbook that shows names reads that without
knowing about erasure; its Slack id is replaced by a random `forgotten-…` token;
`forgotten_at` is set), so the check-ins they answered still count in their team's response
rates and averages. What happens to each table
is listed, and explained, in `storage.personal_data`. Every step is one set-based statement;
a last sweep over every string column of every table replaces any remaining occurrence of
their Slack id or DM channel id, or their ids on other platforms from their identities (which
are deleted), in ledger keys, audit details and mentions in text, so afterwards
their id is found in exactly one row: the audit entry "privacy.forget" recording that an
erasure happened (its detail holds counts only, never the token, so nothing ties the
tombstone back to the id).

A dry run (`apply=False`) runs exactly the same statements inside a savepoint and rolls it
back: what it reports is what `apply=True` would do.

Concurrency: the erasure locks the person's row first, so writes that reference it (answers,
feedback, attendance) finish before it or wait for it, and a second erasure of the same
person waits and is refused. One gap is left on PostgreSQL: a colleague's write that names
them only by Slack id, with no reference to their row (a mention typed into an agenda item
a moment before), committing while the erasure runs but after its sweep has read that table,
keeps the raw id. (Who owns or did something is a reference to their row, and waits.) After
the commit, a colleague who names them anew stores new data: an action item is refused (they
are in no team) but an agenda item's owner or a meeting role may be anyone in the workspace,
and naming them makes a new, bare person row for their Slack id. `scrub_after` removes the
old row versions once the erasure has committed (SQLite's WAL, PostgreSQL's dead tuples).
"""

from __future__ import annotations

import re
import secrets
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel, col
from sqlmodel import select as select_rows

from storage import personal_data as inv
from storage.feedback import anonymous_link, legacy_link, use_secure_delete
from storage.models import (
    AuditEntry,
    Checkin,
    CheckinRound,
    Delivery,
    Feedback,
    Person,
    PersonIdentity,
    ScheduledJob,
)
from storage.models.meetings import ActionItem
from storage.teams import audit, audit_actor

ACTION = "privacy.forget"
_CHUNK = 500  # IN lists stay well inside every database's limit


class ErasureError(Exception):
    """An erasure that cannot be done (unknown id, already forgotten); nothing was changed."""


@dataclass
class ErasureReport:
    """What an erasure changed (or, on a dry run, would change), per table."""

    handle: str
    applied: bool
    forgotten_at: datetime | None = None
    counts: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))

    def add(self, table: str, what: str, rows: int) -> None:
        if rows:
            self.counts[table][what] = self.counts[table].get(what, 0) + rows

    @property
    def total(self) -> int:
        return sum(n for per in self.counts.values() for n in per.values())

    def summary(self) -> str:
        """Counts only, for the audit entry: never text, never the token."""
        return "rows per table (changed, or kept for the figures): " + ", ".join(
            f"{table}: {sum(per.values())}" for table, per in sorted(self.counts.items()))

    def lines(self) -> list[str]:
        head = ("Forgot" if self.applied else "Dry run: forgetting") + f" {self.handle}" + (
            "" if self.applied else " would change")
        out = [head + ":"]
        for table, per in sorted(self.counts.items()):
            for i, (what, n) in enumerate(sorted(per.items())):
                out.append(f"  {table if i == 0 else '':<16}{n:>6}  {what}")
        out.append(f"  {'auditentry':<16}{1:>6}  entry recording the erasure (counts only)"
                   + ("" if self.applied else ", to be added"))
        out.append("Their name typed as plain words by colleagues (agenda items, notes, decisions, norms) cannot "
                   "be told from anyone else's and stays as written; mentions (@name) and their Slack id are replaced.")
        out.append("Their messages in Slack itself (DMs, channel posts) are not in this database: Slack's "
                   "workspace admins delete those.")
        if not self.applied:
            out.append("Nothing was changed. Run again with --apply to do it.")
        return out


def forget_person(session: Session, handle: str, *, actor: str, now: datetime, link_key: bytes,
                  apply: bool) -> ErasureReport:
    """Erase `handle` (see the module's docstring); the caller commits the session.

    Raises ErasureError, changing nothing, for a malformed or unknown id or a person already
    forgotten (the message says when).
    """
    uid = (handle or "").strip()
    if not inv.valid_user_id(uid):
        raise ErasureError(f"{handle!r} is not a Slack user id (they look like U012ABCDEF).")
    person = session.exec(select_rows(Person).where(Person.handle == uid)).first()
    if person is None:
        entry = session.exec(select_rows(AuditEntry).where(
            AuditEntry.action == ACTION, AuditEntry.target == uid).order_by(col(AuditEntry.at).desc())).first()
        if entry is not None:
            raise ErasureError(f"{uid} was already forgotten on {entry.at:%Y-%m-%d} (at {entry.at:%H:%M} UTC, "
                               f"by {audit_actor(session, entry)}); nothing changed.")
        raise ErasureError(f"no person with Slack id {uid} is known to the bot; nothing changed.")
    # Lock their row (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers), then look
    # again: a second erasure of the same person that waited here finds the first one's tombstone.
    # A write that references them (a check-in answer, feedback, attendance) holds a key share
    # on the row, so the erasure also waits for writes already under way, and new ones wait for
    # it, instead of landing between its steps where neither the steps nor the sweep see them.
    locked = session.execute(select(col(Person.handle), col(Person.forgotten_at))
                             .where(col(Person.id) == person.id).with_for_update()).one()
    if locked.forgotten_at is not None or locked.handle != uid:
        raise ErasureError(f"{uid} was forgotten a moment ago, by another erasure; nothing changed.")
    report = ErasureReport(uid, applied=apply, forgotten_at=now if apply else None)
    if apply:
        use_secure_delete(session)  # on SQLite, overwrite the old bytes instead of freeing them
        _erase(session, person, report, now=now, link_key=link_key)
        audit(session, actor=actor, action=ACTION, target=uid, detail=report.summary(), at=now)
        session.flush()
    else:
        savepoint = session.begin_nested()
        try:
            _erase(session, person, report, now=now, link_key=link_key)
        finally:
            savepoint.rollback()
    return report


def _erase(session: Session, person: Person, report: ErasureReport, *, now: datetime, link_key: bytes) -> None:
    assert person.id is not None
    pid, uid, dm = person.id, person.handle, person.dm_channel_id
    stored_name = (person.name or "").strip()
    token = inv.TOKEN_PREFIX + secrets.token_hex(6)
    run = session.exec  # for UPDATE/DELETE: the same call as execute, typed as the CursorResult (rowcount) it is

    tables = {t.name: t for t in SQLModel.metadata.sorted_tables}
    # Their ids on other platforms (a Teams user id, its 1:1 conversation) name them too: read
    # before the identities are deleted, then treated as their Slack id and DM are below.
    known_ids = {str(i) for row in session.execute(
        select(col(PersonIdentity.external_id), col(PersonIdentity.conversation_id))
        .where(col(PersonIdentity.person_id) == pid)).all() for i in row if i}
    other_ids = sorted(known_ids - {uid, dm or uid})

    # Not yet sent, never to be: prompts and reminders of open rounds (before their ids go).
    open_rounds = select(col(CheckinRound.id)).where(col(CheckinRound.state) == "open")
    r = run(update(Checkin).where(col(Checkin.person_id) == pid, col(Checkin.status) == "pending")
            .values(status="failed", error="forgotten"))
    report.add("checkin", "unsent prompts cancelled", r.rowcount)
    r = run(update(Checkin).where(col(Checkin.person_id) == pid, col(Checkin.answered_at).is_(None),
                                  col(Checkin.reminded_at).is_(None), col(Checkin.round_id).in_(open_rounds))
            .values(reminded_at=now))
    report.add("checkin", "reminders cancelled", r.rowcount)

    # Their own words (inventory: AUTHORED_TEXT) are deleted, before the rows lose their owner.
    by_table: dict[str, list[inv.AuthoredText]] = defaultdict(list)
    for text_ref in inv.AUTHORED_TEXT:
        by_table[text_ref.table].append(text_ref)
    for name, refs in by_table.items():
        table = tables[name]
        r = run(update(table).where(table.c[refs[0].owner] == pid).values({t.column: t.blank for t in refs}))
        report.add(name, f"their text deleted ({', '.join(t.column for t in refs)})", r.rowcount)

    # Rows holding their person id (inventory: PERSON_KEYS), each as its treatment says.
    for ref in inv.PERSON_KEYS:
        table = tables[ref.table]
        mine = table.c[ref.column] == pid
        if ref.treatment == "delete":
            r = run(delete(table).where(mine))
            report.add(ref.table, f"{ref.what}: deleted", r.rowcount)
        elif ref.treatment == "unlink":
            r = run(update(table).where(mine).values({ref.column: None}))
            report.add(ref.table, f"{ref.what}: unattributed", r.rowcount)
        elif ref.treatment == "deactivate":
            r = run(update(table).where(mine, table.c["active"].is_(True)).values(active=False, left_at=now))
            report.add(ref.table, f"{ref.what}: ended (inactive, history kept)", r.rowcount)
        else:  # keep: it now belongs to the tombstone and still counts for the team
            kept = session.execute(select(func.count()).select_from(table).where(mine)).scalar_one()
            report.add(ref.table, f"{ref.what}: kept for the team's figures, now a former member's", int(kept))
    report.add("feedback", "anonymous links cleared", _clear_links(session, pid, uid, link_key))

    # Work that would still reach them.
    owned = select(col(ActionItem.id)).where(col(ActionItem.owner_id) == pid)
    r = run(update(ScheduledJob).where(col(ScheduledJob.kind) == "action_reminder",
                                       col(ScheduledJob.state) == "pending", col(ScheduledJob.ref_id).in_(owned))
            .values(state="skipped", last_error="the owner was forgotten", finished_at=now))
    report.add("scheduledjob", "reminders cancelled", r.rowcount)
    r = run(update(Delivery).where(col(Delivery.person_id) == pid,
                                   col(Delivery.state).in_(["pending", "sending", "unknown"]))
            .values(state="failed", error="forgotten", body=None, updated_at=now))  # an owed answer's text goes too
    report.add("delivery", "unsent messages cancelled", r.rowcount)

    # Columns holding their Slack id (or DM channel) as the whole value.
    for id_ref in inv.SLACK_ID_COLUMNS:
        column = tables[id_ref.table].c[id_ref.column]
        r = run(update(tables[id_ref.table]).where(column == uid).values({id_ref.column: token}))
        report.add(id_ref.table, f"{id_ref.what}: id replaced", r.rowcount)
    if dm:
        for dm_ref in inv.DM_CHANNEL_COLUMNS:
            column = tables[dm_ref.table].c[dm_ref.column]
            r = run(update(tables[dm_ref.table]).where(column == dm).values({dm_ref.column: None}))
            report.add(dm_ref.table, "DM channel id removed", r.rowcount)

    # The tombstone (before the sweep, which then finds nothing of theirs in their own row).
    run(update(Person).where(col(Person.id) == pid).values(
        handle=token, name=inv.FORMER_MEMBER, email=None, tz=None, dm_channel_id=None, away_from=None,
        away_until=None, active=False, forgotten_at=now))
    report.add("person", "tombstone (name, e-mail, time zone, DM channel, Slack id removed)", 1)

    # The safety net: their id or DM channel anywhere else, inside longer text, and their stored
    # name where the bot wrote it as a mention ("@Maria Lopez", an agenda item from a message).
    needles = [(uid, inv.id_pattern(uid), token)] + ([(dm, inv.id_pattern(dm), token)] if dm else [])
    needles += [(other, inv.id_pattern(other), token) for other in other_ids]
    if stored_name and stored_name != inv.FORMER_MEMBER:
        needles.append(("@" + stored_name, inv.name_pattern(stored_name), "@" + inv.FORMER_MEMBER))
    for table_name, count in _sweep(session, needles).items():
        report.add(table_name, "other mentions replaced", count)

    session.expire_all()


def scrub_after(engine: Engine, tables: Iterable[str]) -> str:
    """After an applied erasure has committed: old copies of the rows it changed go too.

    An UPDATE leaves the row's old version behind: on SQLite in the write-ahead log (the
    `-wal` file, until a checkpoint copies its pages into the database file; secure_delete
    then has overwritten what was freed), on PostgreSQL as a dead tuple until VACUUM. Neither
    can run inside the erasure's transaction. On SQLite a TRUNCATE checkpoint (it waits, up to
    the busy timeout, for the bot's readers); on PostgreSQL a plain VACUUM of each table the
    erasure touched (autocommit), which prunes the dead versions from the table and its indexes
    without VACUUM FULL's lock against the running bot. The server's own WAL archive and
    backups keep their copies for their own retention. Returns one line for the operator;
    never raises for a busy database (the erasure itself is done).
    """
    names = sorted(set(tables) & set(SQLModel.metadata.tables))
    try:
        if engine.dialect.name == "sqlite":
            raw = engine.raw_connection()
            try:
                cur = raw.cursor()
                busy, _, _ = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                cur.close()
            finally:
                raw.close()
            if busy:
                return ("Old copies: the database was busy, so the write-ahead log (-wal file) still holds "
                        "old copies of the changed rows until the bot's next checkpoint.")
            return "Old copies: the write-ahead log was checkpointed and emptied."
        if engine.dialect.name == "postgresql":
            quote = engine.dialect.identifier_preparer.quote
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for name in names:
                    conn.exec_driver_sql(f"VACUUM {quote(name)}")
            return (f"Old copies: VACUUM ran on the {len(names)} tables changed, so old row versions are gone "
                    "from them (backups and the server's own logs keep theirs until they expire).")
    except DBAPIError as exc:
        return (f"Old copies: could not be cleaned now ({type(exc.orig).__name__}); "
                "they go at the next VACUUM or checkpoint.")
    return "Old copies: nothing to do for this database."


def _clear_links(session: Session, pid: int, uid: str, key: bytes) -> int:
    """Empty the anonymous-feedback links derived from them (windows still open), in either form."""
    meeting_ids = sorted({m for (m,) in session.execute(
        select(col(Feedback.meeting_id)).where(col(Feedback.link).is_not(None))).all()})
    links = [link for m in meeting_ids for link in (anonymous_link(key, meeting_id=m, person_id=pid),
                                                     legacy_link(key, meeting_id=m, user_id=uid))]
    cleared = 0
    for start in range(0, len(links), _CHUNK):
        r = session.exec(update(Feedback).where(col(Feedback.link).in_(links[start:start + _CHUNK]))
                            .values(link=None))
        cleared += r.rowcount
    return cleared


def _sweep(session: Session, needles: list[tuple[str, re.Pattern[str], str]]) -> dict[str, int]:
    """Replace whole occurrences of each needle (text, pattern, replacement) in every string
    column of every table.

    One SELECT per table finds the rows holding a needle's text (LIKE, escaped, which may
    over-match: the pattern decides), one executemany UPDATE writes the changed rows back.
    """
    patterns = [(pattern, replacement) for _, pattern, replacement in needles]
    changed: dict[str, int] = {}
    for table, keys, cols in inv.text_columns(SQLModel.metadata):
        where = or_(*[c.contains(n, autoescape=True) for c in cols for n, _, _ in needles])
        if table.name == AuditEntry.__tablename__:
            # An earlier erasure's own record keeps the id it erased (someone forgotten, back,
            # and forgotten again): it holds no token, so it ties nothing to either tombstone.
            where = and_(where, table.c["action"] != ACTION)
        rows = session.execute(select(*keys, *cols).where(where)).all()
        updates = []
        for row in rows:
            values = dict(row._mapping)
            new: dict[str, object] = {}
            for c in cols:
                old = values[c.name]
                if not isinstance(old, str):
                    continue
                text = inv.replace_id(old, patterns)
                limit = inv.column_limit(c)
                if limit is not None:
                    text = text[:limit]
                if text != old:
                    new[c.name] = text
            if new:
                updates.append(({k.name: values[k.name] for k in keys}, new))
        by_columns: dict[tuple[str, ...], list[dict[str, object]]] = defaultdict(list)
        for pk, new in updates:
            by_columns[tuple(sorted(new))].append({**{f"k_{k}": v for k, v in pk.items()},
                                                   **{f"v_{k}": v for k, v in new.items()}})
        for names, params in by_columns.items():
            stmt = update(table).where(and_(*[k == bindparam(f"k_{k.name}") for k in keys])).values(
                {n: bindparam(f"v_{n}") for n in names})
            session.execute(stmt, params)
        if updates:
            changed[table.name] = len(updates)
    return changed


