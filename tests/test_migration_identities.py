"""Migration 0008 gives every person and team of an existing database its Slack identity and
place, record by record, and none to a person already forgotten; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import command

from storage import migrate
from storage.db import Database

T = datetime(2026, 9, 1, 12, 0)  # naive UTC, as stored
# (id, slack_user_id, name, DM channel, active, forgotten_at)
PEOPLE = [
    (1, "UFAC", "Fay", "DFAC", True, None),  # DM known
    (2, "UT1", "Tom", None, True, None),  # never written to: DM unknown
    (3, "UT2", "Tia", "DT2", False, None),  # deactivated in Slack: still a Slack account
    (4, "forgotten-0a1b2c3d4e5f", "a former member", None, False, datetime(2026, 10, 1)),  # erased
    (5, "W0GRID", "Gil", "DGRID", True, None),  # Enterprise Grid id
]
# (id, name, channel, archived_at)
TEAMS = [(10, "Grade 3", "CG3", None), (11, "Grade 5", "CG5", None), (12, "Old team", "COLD", datetime(2026, 6, 1))]


def _at_0007(url: str) -> Database:
    db = Database(url)
    with db.engine.connect() as conn:
        cfg = migrate.alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
        conn.commit()
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO school (id, name, timezone, self_service, digest_weekday, digest_time,"
                             " created_at) VALUES (7, 'Lincoln', 'America/Chicago', false, 0, '07:00', :t)"), {"t": T})
        for tid, name, channel, archived in TEAMS:
            conn.execute(sa.text(
                "INSERT INTO team (id, school_id, name, channel_id, timezone, meeting_weekdays, meeting_minutes,"
                " share_names_with_principal, agenda_lead_hours, feedback_window_days, archived_at, created_at)"
                " VALUES (:i, 7, :n, :c, 'America/Chicago', '', 45, false, 24, 7, :a, :t)"),
                {"i": tid, "n": name, "c": channel, "a": archived, "t": T})
        for pid, uid, name, dm, active, forgotten in PEOPLE:
            conn.execute(sa.text(
                "INSERT INTO person (id, slack_user_id, name, active, dm_channel_id, forgotten_at, created_at)"
                " VALUES (:i, :u, :n, :a, :d, :f, :t)"),
                {"i": pid, "u": uid, "n": name, "a": active, "d": dm, "f": forgotten, "t": T})
            if pid in (1, 2, 4):
                conn.execute(sa.text("INSERT INTO membership (team_id, person_id, role, active, joined_at)"
                                     " VALUES (10, :p, 'member', :a, :t)"), {"p": pid, "a": pid != 4, "t": T})
        if db.engine.dialect.name == "postgresql":  # the explicit ids above did not move the sequences
            for table in ("person", "team", "school"):
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                     f"(SELECT max(id) FROM {table}))"))
    return db


def test_every_person_gets_their_slack_identity_and_every_team_its_channel(any_db_url):
    db = _at_0007(any_db_url)
    migrate.upgrade(db, backup=False)
    assert migrate.current_revisions(db) == migrate.head_revisions()
    with db.engine.connect() as conn:
        idents = conn.execute(sa.text(
            "SELECT person_id, platform, workspace, external_id, conversation_id, service_url, created_at"
            " FROM personidentity ORDER BY person_id")).all()
        places = conn.execute(sa.text(
            "SELECT team_id, platform, workspace, place_id, kind, service_url FROM teamplace ORDER BY team_id")).all()
        people = {row[0]: row for row in conn.execute(sa.text(
            "SELECT id, handle, name, dm_channel_id, forgotten_at FROM person")).all()}

    by_person: dict[int, list[tuple]] = {}
    for row in idents:
        by_person.setdefault(row[0], []).append(tuple(row))
    for pid, uid, _name, dm, _active, forgotten in PEOPLE:
        if forgotten is not None:
            # An erased person stays erased: no identity, so nothing reaches or names them.
            assert pid not in by_person
            continue
        [(_, platform, workspace, external_id, conversation, service_url, created)] = by_person[pid]
        assert (platform, workspace, external_id, conversation, service_url) == ("slack", "", uid, dm, None)
        assert str(created).startswith("2026-09-01")  # the person's own first-seen time
    assert sorted(by_person) == [1, 2, 3, 5]
    assert [tuple(p) for p in places] == [(tid, "slack", "", channel, "channel", None)
                                          for tid, _name, channel, _archived in TEAMS]
    # Nothing else changed on the people themselves.
    assert {pid: (row[1], row[2], row[3]) for pid, row in people.items()} == {
        pid: (uid, name, dm) for pid, uid, name, dm, _a, _f in PEOPLE}
    assert people[4][4] is not None

    # The code paths now find them through the new tables.
    from storage import identities

    with db.read() as session:
        fay = identities.person_for_identity(session, "slack", "", "UFAC")
        assert fay is not None and fay.id == 1
        assert identities.person_for_identity(session, "slack", "", "forgotten-0a1b2c3d4e5f") is None
        assert [i.external_id for i in identities.identities_of(session, 5)] == ["W0GRID"]
        team = identities.team_for_place(session, "slack", "", "CG5")
        assert team is not None and team.id == 11
        place = identities.place_of(session, 12)
        assert place is not None and place.place_id == "COLD"
        assert identities.platform_of(session, "UT1") == "slack"
        assert identities.platform_of(session, "DT2") == "slack"  # a DM, as a reminder's recipient
        assert identities.platform_of(session, "CG3") == "slack"
        assert identities.platform_of(session, "forgotten-0a1b2c3d4e5f") is None
    db.dispose()


def test_the_migration_goes_down_and_up_again(any_db_url):
    db = _at_0007(any_db_url)
    migrate.upgrade(db, backup=False)
    with db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":  # as migrate.upgrade does: batch copies of parent tables,
            conn.rollback()  # and the pragma only works outside a transaction
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        cfg = migrate.alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007")
        conn.commit()
        assert "personidentity" not in sa.inspect(conn).get_table_names()
    migrate.upgrade(db, backup=False)
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM personidentity")).scalar_one() == 4
        assert conn.execute(sa.text("SELECT count(*) FROM teamplace")).scalar_one() == 3
    db.dispose()
