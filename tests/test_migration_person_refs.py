"""Migration 0009 turns the attribution columns (who owns or did something) from Slack user ids into
person ids: a known id names its person, an erased person's token names their tombstone, "" names
nobody, and any other value (the command line's "cli:<login>", a user never stored) becomes NULL,
counted in the migration's log; on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import date, datetime

import sqlalchemy as sa
from alembic import command

from storage import migrate
from storage.db import Database

T = datetime(2026, 9, 1, 12, 0)  # naive UTC, as stored
TOKEN = "forgotten-0a1b2c3d4e5f"
# (id, slack_user_id, name, forgotten_at)
PEOPLE = [(1, "UFAC", "Fay", None), (2, "UT1", "Tom", None), (3, TOKEN, "a former member", T)]


def _at_0008(url: str) -> Database:
    db = Database(url)
    with db.engine.connect() as conn:
        cfg = migrate.alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0008")
        conn.commit()
    q = sa.text
    with db.engine.begin() as conn:
        conn.execute(q("INSERT INTO school (id, name, timezone, self_service, digest_weekday, digest_time,"
                       " created_at) VALUES (7, 'Lincoln', 'America/Chicago', false, 0, '07:00', :t)"), {"t": T})
        conn.execute(q(
            "INSERT INTO team (id, school_id, name, channel_id, timezone, meeting_weekdays, meeting_minutes,"
            " share_names_with_principal, agenda_lead_hours, feedback_window_days, created_at)"
            " VALUES (10, 7, 'Grade 3', 'CG3', 'America/Chicago', '', 45, false, 24, 7, :t)"), {"t": T})
        for pid, uid, name, forgotten in PEOPLE:
            conn.execute(q("INSERT INTO person (id, slack_user_id, name, active, forgotten_at, created_at)"
                           " VALUES (:i, :u, :n, true, :f, :t)"),
                         {"i": pid, "u": uid, "n": name, "f": forgotten, "t": T})
        conn.execute(q("INSERT INTO meeting (id, team_id, starts_at, minutes, source, status, title, created_at)"
                       " VALUES (20, 10, :t, 45, 'schedule', 'held', '', :t)"), {"t": T})
        for iid, owner, added_by in ((30, "UT1", "UFAC"), (31, TOKEN, "plcbot"), (32, None, ""), (33, "UGONE", "UT1")):
            conn.execute(q("INSERT INTO agendaitem (id, meeting_id, position, title, minutes, owner, outcome, source,"
                           " added_by, notes, created_at) VALUES (:i, 20, :i, 'x', 5, :o, '', 'member', :a, '', :t)"),
                         {"i": iid, "o": owner, "a": added_by, "t": T})
        conn.execute(q("INSERT INTO meetingrecord (id, meeting_id, timekeeper, notetaker, decisions, wrapped_up_by)"
                       " VALUES (40, 20, :k, NULL, '', 'UFAC')"), {"k": TOKEN})
        conn.execute(q("INSERT INTO schoolbreak (id, school_id, starts_on, ends_on, label, created_by, created_at)"
                       " VALUES (50, 7, :s, :e, 'Winter', 'cli:root', :t)"),
                     {"s": date(2026, 12, 21), "e": date(2027, 1, 1), "t": T})
        if db.engine.dialect.name == "postgresql":  # the explicit ids above did not move the sequences
            for table in ("person", "team", "school", "meeting", "agendaitem", "meetingrecord", "schoolbreak"):
                conn.execute(q(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT max(id) FROM {table}))"))
    return db


def test_attribution_columns_become_person_ids_and_unknown_values_are_logged(any_db_url, caplog):
    db = _at_0008(any_db_url)
    with caplog.at_level(logging.WARNING, logger="alembic.runtime.migration"):
        migrate.upgrade(db, backup=False)
    assert set(migrate.current_revisions(db)) == set(migrate.head_revisions())
    with db.engine.connect() as conn:
        items = conn.execute(sa.text("SELECT id, owner_id, added_by_id FROM agendaitem ORDER BY id")).all()
        record = conn.execute(sa.text("SELECT timekeeper_id, notetaker_id, wrapped_up_by_id FROM meetingrecord")).one()
        created_by = conn.execute(sa.text("SELECT created_by_id FROM schoolbreak")).scalar_one()
        columns = {c["name"] for c in sa.inspect(conn).get_columns("agendaitem")}
    # UT1 -> 2, UFAC -> 1, the token -> the tombstone (3); "plcbot", "UGONE" and "cli:root" name nobody.
    assert [tuple(r) for r in items] == [(30, 2, 1), (31, 3, None), (32, None, None), (33, None, 2)]
    assert tuple(record) == (3, None, 1)
    assert created_by is None
    assert {"owner", "added_by"}.isdisjoint(columns) and {"owner_id", "added_by_id"} <= columns
    logged = [r.getMessage() for r in caplog.records if "named no person" in r.getMessage()]
    assert sorted(logged) == ["0009: agendaitem.added_by: 1 value(s) named no person and became NULL",
                              "0009: agendaitem.owner: 1 value(s) named no person and became NULL",
                              "0009: schoolbreak.created_by: 1 value(s) named no person and became NULL"], logged
    db.dispose()
