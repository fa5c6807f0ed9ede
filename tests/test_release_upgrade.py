"""A database filled by the 0007 release, upgraded to today's head, loses and re-attributes nothing.

`tests/fixtures/release_0007.json` is what the 0007 code wrote through its real flows (see
`tests/fixtures/make_release_0007.py`; it is never regenerated from later code). The test builds
a database at revision 0007 only, inserts those rows, upgrades to head with `migrate.upgrade` (as
`plcbot db upgrade` does), and compares record by record, on SQLite and on PostgreSQL:
1. every fixture row is still there, by primary key, with the same values, except the columns a
   migration converts, declared in `CONVERTED` (a Slack user id column becoming a person id is
   checked through the fixture's person table: pointing at another person is a re-attribution);
2. privacy holds: each person keeps their name and e-mail, the erased one stays a tombstone with
   their Slack id, DM channel, name and e-mail nowhere in any text column; anonymous answers
   outside their window have no link and no person; the one inside its window is found only
   through its keyed link (`storage.feedback.anonymous_link` under the install's key), never
   through a person column;
3. tables that exist only after 0007 (`personidentity`, `teamplace`) hold what the old columns
   said; that part is skipped while they do not exist.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command

from storage import migrate
from storage.db import Database
from storage.feedback import anonymous_link, legacy_link, link_key

FIXTURE = Path(__file__).parent / "fixtures" / "release_0007.json"
RELEASE = "0007"
# Who the fixture's people are (see make_release_0007.py): Maria (UT1) was erased at the end.
ERASED_SLACK_ID = "UT1"
ERASED_TRACES = ("UT1", "DT1", "ut1@school.example", "Teacher UT1")  # her id, DM channel, e-mail, name
ANONYMOUS_INSIDE = ("UT2", 2)  # (author, meeting id): the answer whose window is still open
ANONYMOUS_OUTSIDE = (("UT1", 3), ("UT3", 3))  # answers whose window closed: their links were emptied
# The install's secret the fixture was made with (tests/harness.py SIGNING_SECRET): the link key
# is derived from it and lives outside the database, as in a real install.
INSTALL_SECRET = "test-signing-secret-0123456789"


# ----------------------------------------------------------------------- what a migration converts
@dataclass(frozen=True)
class Fixture:
    tables: dict[str, list[dict[str, Any]]]

    def person_id_of(self, slack_user_id: str | None) -> int | None:
        """The person a Slack user id (or an erased person's `forgotten-…` token) named in 0007."""
        if slack_user_id is None:
            return None
        found = [p["id"] for p in self.tables["person"] if p["slack_user_id"] == slack_user_id]
        assert len(found) == 1, f"{slack_user_id!r} names no person in the 0007 data: say how it converts"
        return found[0]


@dataclass(frozen=True)
class Converted:
    """A 0007 column whose value a migration changes.

    `to`: the column of the same table that holds it at head (the same name, or a new one); None
    when it left the table (its content must then be checked elsewhere, as `person.slack_user_id`
    is through `personidentity` below). `expect(old value, fixture)` gives the value `to` must
    hold, e.g. `lambda old, f: f.person_id_of(old)` for a Slack user id becoming a person id.
    """

    to: str | None
    expect: Callable[[Any, Fixture], Any] = staticmethod(lambda old, fixture: old)  # type: ignore[assignment]
    # A second column the old value splits into (what is no person: a label, a place), and its value.
    rest: str | None = None
    rest_expect: Callable[[Any, Fixture], Any] = staticmethod(lambda old, fixture: None)  # type: ignore[assignment]


def _named(old: Any, fixture: Fixture) -> int | None:
    """A Slack user id (or token) becoming the id of the person it named; "" (nobody) becomes None."""
    return fixture.person_id_of(old or None)


# Every other column must keep its value.
CONVERTED: dict[tuple[str, str], Converted] = {
    # 0009: attribution columns (who owns or did something) name the person row.
    (table, old): Converted(new, _named) for table, old, new in (
        ("agendaitem", "owner", "owner_id"), ("agendaitem", "added_by", "added_by_id"),
        ("actionitem", "created_by", "created_by_id"), ("actionitem", "done_by", "done_by_id"),
        ("meetingrecord", "timekeeper", "timekeeper_id"), ("meetingrecord", "notetaker", "notetaker_id"),
        ("meetingrecord", "wrapped_up_by", "wrapped_up_by_id"), ("supportrequest", "follower", "follower_id"),
        ("cycle", "created_by", "created_by_id"), ("cyclereflection", "submitted_by", "submitted_by_id"),
        ("normrevision", "changed_by", "changed_by_id"), ("schoolbreak", "created_by", "created_by_id"),
    )
}
def _person_or_none(old: Any, fixture: Fixture) -> int | None:
    """A person's Slack id (or token) becoming their person id; anything else names no one."""
    known = {p["slack_user_id"] for p in fixture.tables["person"]}
    return fixture.person_id_of(old) if old in known else None


def _unless_person(empty: Any) -> Callable[[Any, Fixture], Any]:
    """What is left of a value that names no person (a label, a place); `empty` when it does."""
    return lambda old, fixture: empty if _person_or_none(old, fixture) is not None else old


# 0011: the ledger's recipient, the audit log's actor and a year's closer name the person row;
# a team's channel stays as the ledger row's place, "cli:<login>" as the label.
CONVERTED.update({
    ("delivery", "recipient"): Converted("person_id", _person_or_none, "place", _unless_person(None)),
    ("auditentry", "actor"): Converted("actor_id", _person_or_none, "actor_label", _unless_person("")),
    ("schoolyear", "closed_by"): Converted("closed_by_id", _person_or_none, "closed_by_label", _unless_person("")),
    # It repeated `checkin.person_id`, which is compared as it stands.
    ("checkin", "user_id"): Converted(None),
    # 0012: the person's own column is renamed, its values kept.
    ("person", "slack_user_id"): Converted("handle"),
})
# Fixture tables a migration may add rows to (every fixture row must still be there).
MAY_GROW: set[str] = set()


# ----------------------------------------------------------------------------------- helpers
def upgrade_to(db: Database, revision: str) -> None:
    """`alembic upgrade REVISION` on this database, the way storage.migrate runs Alembic."""
    with db.engine.connect() as conn:
        cfg = migrate.alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()


def as_stored(value: Any) -> Any:
    """A value read back, in the fixture's terms (naive UTC ISO times, ISO dates)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def from_fixture(column: sa.Column, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, sa.DateTime):
        return datetime.fromisoformat(value)
    if isinstance(column.type, sa.Date):
        return date.fromisoformat(value)
    return value


def reflect(db: Database) -> sa.MetaData:
    meta = sa.MetaData()
    meta.reflect(bind=db.engine)
    return meta


def load_release(db: Database, tables: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    """Insert the fixture into the 0007 schema; returns each table's primary-key columns."""
    meta = reflect(db)
    ours = {t for t in meta.tables if t != "alembic_version"}
    assert ours == set(tables), f"the fixture does not match the 0007 schema: {ours ^ set(tables)}"
    keys: dict[str, list[str]] = {}
    with db.engine.begin() as conn:
        for table in meta.sorted_tables:  # parents before children
            if table.name not in tables:
                continue
            keys[table.name] = [c.name for c in table.primary_key.columns]
            rows = tables[table.name]
            for row in rows:
                assert set(row) == set(table.columns.keys()), (table.name, set(row) ^ set(table.columns.keys()))
            if rows:
                conn.execute(table.insert(), [{k: from_fixture(table.c[k], v) for k, v in row.items()}
                                              for row in rows])
        if conn.dialect.name == "postgresql":  # explicit ids were inserted: move the sequences past them
            for table in meta.sorted_tables:
                for column in table.primary_key.columns:
                    seq = conn.execute(sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                                       {"t": table.name, "c": column.name}).scalar()
                    if seq:
                        conn.execute(sa.text(f'SELECT setval(:s, COALESCE((SELECT max("{column.name}") FROM '
                                             f'"{table.name}"), 1), (SELECT count(*) > 0 FROM "{table.name}"))'),
                                     {"s": seq})
    return keys


def rows_at_head(db: Database, meta: sa.MetaData, name: str) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(meta.tables[name])).mappings().all()]


def text_values(db: Database, meta: sa.MetaData) -> list[tuple[str, str, dict[str, Any], str]]:
    """(table, column, row, value) of every string value in every table the database has."""
    out = []
    with db.engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(sa.select(table)).mappings().all():
                for column, value in row.items():
                    if isinstance(value, str):
                        out.append((table.name, column, dict(row), value))
    return out


def whole(needle: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(needle)}(?![A-Za-z0-9])")


def person_columns(meta: sa.MetaData, table: str) -> list[str]:
    """The columns of `table` that point at a person (or at one of their identities)."""
    return [fk.parent.name for fk in meta.tables[table].foreign_keys
            if fk.column.table.name in {"person", "personidentity"}]


# -------------------------------------------------------------------------------------- the test
def test_a_release_0007_database_upgrades_to_head_with_every_record_kept(any_db_url):
    fixture = Fixture(json.loads(FIXTURE.read_text(encoding="utf-8")))
    db = Database(any_db_url)
    upgrade_to(db, RELEASE)
    assert migrate.current_revisions(db) == (RELEASE,)
    keys = load_release(db, fixture.tables)
    db.dispose()

    db = Database(any_db_url)
    migrate.upgrade(db, backup=False)
    assert set(migrate.current_revisions(db)) == set(migrate.head_revisions())
    head = reflect(db)

    # 1. Record by record: nothing lost, nothing changed but the declared conversions.
    problems: list[str] = []
    for name, rows in fixture.tables.items():
        if name not in head.tables:
            problems.append(f"table {name} is gone ({len(rows)} rows)")
            continue
        now = rows_at_head(db, head, name)
        by_key = {tuple(as_stored(r[k]) for k in keys[name]): r for r in now}
        if len(now) != len(rows) and name not in MAY_GROW:
            problems.append(f"{name}: {len(rows)} rows in 0007, {len(now)} at head")
        for old in rows:
            key = tuple(old[k] for k in keys[name])
            new = by_key.get(key)
            if new is None:
                problems.append(f"{name} {key}: row lost")
                continue
            for column, value in old.items():
                conversion = CONVERTED.get((name, column))
                target = column if conversion is None else conversion.to
                if target is None:
                    continue
                expected = value if conversion is None else conversion.expect(value, fixture)
                checks = [(target, expected)]
                if conversion is not None and conversion.rest is not None:
                    checks.append((conversion.rest, conversion.rest_expect(value, fixture)))
                for target, expected in checks:
                    if target not in new:
                        problems.append(f"{name}.{target} is gone (row {key}: {value!r})")
                    elif as_stored(new[target]) != expected:
                        problems.append(
                            f"{name} {key} {target}: {expected!r} in 0007, {as_stored(new[target])!r} at head")
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:40])

    # 2. Privacy after the move.
    people = {p["id"]: p for p in rows_at_head(db, head, "person")}
    [erased] = [p for p in fixture.tables["person"] if p["forgotten_at"] is not None]
    for old in fixture.tables["person"]:
        if old is not erased:
            assert (people[old["id"]]["name"], people[old["id"]]["email"]) == (old["name"], old["email"])
    tomb = people[erased["id"]]
    assert tomb["forgotten_at"] is not None and tomb["email"] is None and tomb["name"] == erased["name"]
    assert not any(tomb.get(c) for c in ("dm_channel_id", "tz", "email"))
    texts = text_values(db, head)
    traces = [(t, c, v) for t, c, row, v in texts for needle in ERASED_TRACES if whole(needle).search(v)
              # the erasure's own audit record names whom it erased, and ties them to nothing
              and not (t == "auditentry" and c == "target" and row["action"] == "privacy.forget")]
    assert traces == [], traces

    key = link_key(None, INSTALL_SECRET)
    feedback = {f["id"]: f for f in rows_at_head(db, head, "feedback")}
    linked_by_person = person_columns(head, "feedback")
    assert "person_id" in linked_by_person
    anonymous = [feedback[f["id"]] for f in fixture.tables["feedback"] if f["anonymous"]]
    assert len(anonymous) == 3
    # Written by the release, so in the pre-0011 form (from the Slack id), which the new code
    # still finds (`test_an_open_anonymous_answer_is_still_the_authors_after_the_upgrade`).
    inside = legacy_link(key, meeting_id=ANONYMOUS_INSIDE[1], user_id=ANONYMOUS_INSIDE[0])
    outside = [legacy_link(key, meeting_id=m, user_id=u) for u, m in ANONYMOUS_OUTSIDE]
    for row in anonymous:
        assert row["anonymous"] and all(row[c] is None for c in linked_by_person), row
    [open_one] = [r for r in anonymous if r["link"] is not None]
    assert open_one["link"] == inside and open_one["meeting_id"] == ANONYMOUS_INSIDE[1]
    assert [(t, c) for t, c, _, v in texts if inside in v] == [("feedback", "link")]
    assert not [(t, c) for t, c, _, v in texts for link in outside if link in v]

    # 3. Tables a later migration adds: checked once they exist.
    if "personidentity" in head.tables:
        identities = rows_at_head(db, head, "personidentity")
        slack = {}
        for row in identities:
            if row["platform"] == "slack":
                assert row["person_id"] not in slack, f"two Slack identities for person {row['person_id']}"
                slack[row["person_id"]] = (row["external_id"], row["conversation_id"])
        expected = {p["id"]: (p["slack_user_id"], p["dm_channel_id"]) for p in fixture.tables["person"]
                    if p is not erased}
        assert slack == expected
        assert not [r for r in identities if r["person_id"] == erased["id"]]
    if "teamplace" in head.tables:
        places: dict[int, list[str]] = {}
        for row in rows_at_head(db, head, "teamplace"):
            places.setdefault(row["team_id"], []).append(row["place_id"])
        assert places == {t["id"]: [t["channel_id"]] for t in fixture.tables["team"]}
    db.dispose()


def test_the_fixture_covers_every_table_and_the_privacy_cases():
    """The fixture itself: every 0007 table has rows, and the cases the upgrade test relies on."""
    tables = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert [t for t, rows in tables.items() if not rows] == []
    anonymous = [f for f in tables["feedback"] if f["anonymous"]]
    assert sorted(f["link"] is None for f in anonymous) == [False, True, True]
    assert [p["slack_user_id"].startswith("forgotten-") for p in tables["person"] if p["forgotten_at"]] == [True]
    assert any(y["closed_at"] for y in tables["schoolyear"]) and any(not m["active"] for m in tables["membership"])



def test_an_open_anonymous_answer_is_still_the_authors_after_the_upgrade(any_db_url):
    """The release wrote the open answer's link from the Slack id; the new code links by person
    row. Its author still finds it (through the link's old form), and changing it moves it to the
    new form: one answer, still with no person, never a second one."""
    from sqlmodel import select

    from storage.feedback import own_answer, save_answer
    from storage.models import Feedback, Meeting, Person
    from storage.rules.feedback import Answer

    fixture = Fixture(json.loads(FIXTURE.read_text(encoding="utf-8")))
    db = Database(any_db_url)
    upgrade_to(db, RELEASE)
    load_release(db, fixture.tables)
    db.dispose()
    db = Database(any_db_url)
    migrate.upgrade(db, backup=False)
    key = link_key(None, INSTALL_SECRET)
    author, meeting_id = ANONYMOUS_INSIDE
    with db.session() as session:
        person = session.exec(select(Person).where(Person.handle == author)).one()
        assert person.id is not None
        new = anonymous_link(key, meeting_id=meeting_id, person_id=person.id)
        old = legacy_link(key, meeting_id=meeting_id, user_id=author)
        assert own_answer(session, meeting_id=meeting_id, person_id=person.id, link=new) is None  # new form only
        found = own_answer(session, meeting_id=meeting_id, person_id=person.id, link=new, legacy=old)
        assert found is not None and found.anonymous and found.person_id is None
        meeting = session.get(Meeting, meeting_id)
        assert meeting is not None
        saved = save_answer(session, meeting=meeting, person_id=person.id, link=new, legacy=old,
                            today=date(2026, 12, 8),
                            answer=Answer({"useful": 4, "learned": 4, "norms": 5}, {}, anonymous=True))
        assert saved.id == found.id and saved.link == new and saved.person_id is None
    with db.read() as session:
        rows = session.exec(select(Feedback).where(Feedback.meeting_id == meeting_id, Feedback.anonymous)).all()
        assert [(r.id, r.link, r.person_id) for r in rows] == [(found.id, new, None)]
    db.dispose()
