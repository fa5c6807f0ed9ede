"""Migration 0011: the ledger's recipient, the audit log's actor and a year's closer become person
ids, with what is no person kept beside them (a team's channel as the ledger row's place,
"cli:<login>" or "plcbot" as the entry's label); a reminder addressed to a DM channel names its
person; a Slack user who acted but was never stored gets a bare person row, so no "who did it"
is lost; `checkin.user_id` goes. And back again with downgrade. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa

from storage import migrate
from storage.db import Database
from tests.migrating import migrate_to

T = datetime(2026, 9, 1, 12, 0)  # naive UTC, as stored
TOKEN = "forgotten-0a1b2c3d4e5f"
# (id, slack_user_id, name, dm channel, forgotten_at)
PEOPLE = [(1, "UFAC", "Fay", "DFAC", None), (2, "UT1", "Tom", None, None), (3, TOKEN, "a former member", None, T)]
# key -> recipient
DELIVERIES = {"checkin:1:UT1:1": "UT1", "agenda:20": "CG3", "reminder:1:UFAC:1": "DFAC", "checkin:1:gone:1": TOKEN}
# id -> actor
ACTORS = {60: "UFAC", 61: "cli:root", 62: "UNEVERSTORED", 63: "plcbot", 64: TOKEN}


def _at_0010(url: str) -> Database:
    db = Database(url)
    migrate_to(db, "0010")
    q = sa.text
    with db.engine.begin() as conn:
        conn.execute(q("INSERT INTO school (id, name, timezone, self_service, digest_weekday, digest_time,"
                       " created_at) VALUES (7, 'Lincoln', 'America/Chicago', false, 0, '07:00', :t)"), {"t": T})
        for pid, uid, name, dm, forgotten in PEOPLE:
            conn.execute(q("INSERT INTO person (id, slack_user_id, name, active, dm_channel_id, forgotten_at,"
                           " created_at) VALUES (:i, :u, :n, true, :d, :f, :t)"),
                         {"i": pid, "u": uid, "n": name, "d": dm, "f": forgotten, "t": T})
            if forgotten is None:
                conn.execute(q("INSERT INTO personidentity (person_id, platform, workspace, external_id,"
                               " conversation_id, created_at) VALUES (:i, 'slack', '', :u, :d, :t)"),
                             {"i": pid, "u": uid, "d": dm, "t": T})
        for n, (key, recipient) in enumerate(DELIVERIES.items()):
            conn.execute(q("INSERT INTO delivery (id, key, kind, recipient, state, attempts, created_at, updated_at)"
                           " VALUES (:i, :k, 'test', :r, 'sent', 1, :t, :t)"), {"i": n + 1, "k": key, "r": recipient,
                                                                                "t": T})
        for aid, actor in ACTORS.items():
            conn.execute(q("INSERT INTO auditentry (id, at, school_id, actor, action, target, detail)"
                           " VALUES (:i, :t, 7, :a, 'x', 'school:7', '')"), {"i": aid, "t": T, "a": actor})
        for yid, closed_by, closed in ((70, "cli:root", T), (71, "UFAC", T), (72, "", None)):
            conn.execute(q("INSERT INTO schoolyear (id, school_id, label, starts_on, closed_at, closed_by, workbook)"
                           " VALUES (:i, 7, :l, :s, :c, :b, '')"),
                         {"i": yid, "l": f"20{yid - 45}", "s": date(2000 + yid - 45, 8, 1), "c": closed,
                          "b": closed_by})
        if db.engine.dialect.name == "postgresql":  # the explicit ids above did not move the sequences
            for table in ("person", "school", "delivery", "auditentry", "schoolyear"):
                conn.execute(q(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT max(id) FROM {table}))"))
    return db


def test_ledger_audit_and_year_name_person_rows_and_keep_what_is_no_person(any_db_url):
    db = _at_0010(any_db_url)
    migrate.upgrade(db, backup=False)
    assert set(migrate.current_revisions(db)) == set(migrate.head_revisions())
    q = sa.text
    with db.engine.connect() as conn:
        ledger = {k: (p, place) for k, p, place in conn.execute(q("SELECT key, person_id, place FROM delivery"))}
        audit = {i: (p, label) for i, p, label in conn.execute(q("SELECT id, actor_id, actor_label FROM auditentry"))}
        years = {i: (p, label) for i, p, label in conn.execute(
            q("SELECT id, closed_by_id, closed_by_label FROM schoolyear"))}
        [(new_id,)] = conn.execute(q("SELECT id FROM person WHERE handle = 'UNEVERSTORED'")).all()
        identity = conn.execute(q("SELECT platform, external_id FROM personidentity WHERE person_id = :p"),
                                {"p": new_id}).all()
        columns = {t: {c["name"] for c in sa.inspect(conn).get_columns(t)}
                   for t in ("delivery", "auditentry", "schoolyear", "checkin")}
    # UT1 -> 2; the team's channel is a place; Fay's DM channel names Fay; a token names the tombstone.
    assert ledger == {"checkin:1:UT1:1": (2, None), "agenda:20": (None, "CG3"), "reminder:1:UFAC:1": (1, None),
                      "checkin:1:gone:1": (3, None)}
    assert audit == {60: (1, ""), 61: (None, "cli:root"), 62: (new_id, ""), 63: (None, "plcbot"), 64: (3, "")}
    assert [tuple(r) for r in identity] == [("slack", "UNEVERSTORED")]
    assert years == {70: (None, "cli:root"), 71: (1, ""), 72: (None, "")}
    assert "recipient" not in columns["delivery"] and "actor" not in columns["auditentry"]
    assert "closed_by" not in columns["schoolyear"] and "user_id" not in columns["checkin"]

    migrate_to(db, "0010", down=True)
    with db.engine.connect() as conn:
        back = dict(conn.execute(q("SELECT key, recipient FROM delivery")).all())
        actors = dict(conn.execute(q("SELECT id, actor FROM auditentry")).all())
        closers = dict(conn.execute(q("SELECT id, closed_by FROM schoolyear")).all())
    # Fay's reminder comes back addressed to Fay (the ledger never sends by this column).
    assert back == {**DELIVERIES, "reminder:1:UFAC:1": "UFAC"}
    assert actors == ACTORS and closers == {70: "cli:root", 71: "UFAC", 72: ""}
    db.dispose()
