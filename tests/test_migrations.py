"""The schema that migrations build is the schema the models describe, on both databases."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import inspect

from storage import migrate
from storage.db import Database


def test_models_and_migrations_agree(any_db_url):
    db = Database(any_db_url)
    result = migrate.upgrade(db)
    assert set(result.after) == set(migrate.head_revisions())
    assert migrate.drift(db) == []
    db.dispose()


def test_upgrade_from_two_processes_at_once_is_safe(db_url):
    errors: list[BaseException] = []

    def go() -> None:
        try:
            migrate.upgrade(Database(db_url))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db = Database(db_url)
    assert set(migrate.current_revisions(db)) == set(migrate.head_revisions())


def test_constraints_are_named_by_convention(db_url):
    db = Database(db_url)
    migrate.upgrade(db)
    inspector = inspect(db.engine)
    fks = inspector.get_foreign_keys("membership")
    assert {fk["name"] for fk in fks} == {"fk_membership_team_id_team", "fk_membership_person_id_person"}


def test_upgrading_a_file_with_data_backs_it_up_first(db_url, tmp_path):
    from alembic import command
    from sqlmodel import select

    from storage.models import School

    db = Database(db_url)
    with db.engine.connect() as conn:  # an older install: only the first revision
        cfg = migrate.alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.commit()
    with db.session() as session:
        session.add(School(name="Lincoln", timezone="America/Chicago", created_at=datetime(2026, 8, 3, tzinfo=UTC)))
    result = migrate.upgrade(db)
    assert result.changed and result.backup is not None and result.backup.exists()
    backup = Database(f"sqlite:///{result.backup}")
    assert migrate.current_revisions(backup) == ("0001",)
    with backup.read() as session:
        assert [s.name for s in session.exec(select(School)).all()] == ["Lincoln"]
    with db.read() as session:  # the data survived the upgrade too
        assert [s.name for s in session.exec(select(School)).all()] == ["Lincoln"]
    assert migrate.upgrade(db).backup is None  # nothing to do, no new copy


def test_there_is_one_head_for_the_next_migration_to_build_on():
    assert migrate.head_revisions() == ("0013",)


def test_the_privacy_migration_fills_in_what_older_rows_lacked(any_db_url):
    """Audit entries from before 0007 get their school; accounts already deactivated get a time,
    so the forget-after-deactivation rule can apply to them."""
    from datetime import UTC, datetime

    import sqlalchemy as sa
    from alembic import command

    db = Database(any_db_url)
    with db.engine.connect() as conn:
        cfg = migrate.alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006")
        conn.commit()
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO school (id, name, timezone, self_service, digest_weekday, digest_time,"
                             " created_at) VALUES (7, 'Lincoln', 'America/Chicago', false, 0, '07:00', :t)"),
                     {"t": datetime(2026, 1, 1)})
        conn.execute(sa.text("INSERT INTO team (id, school_id, name, channel_id, timezone, meeting_weekdays,"
                             " meeting_minutes, share_names_with_principal, agenda_lead_hours,"
                             " feedback_window_days, created_at) VALUES (3, 7, 'G3', 'C3', 'America/Chicago', '',"
                             " 45, false, 24, 7, :t)"), {"t": datetime(2026, 1, 1)})
        for pid, active in ((1, True), (2, False), (3, False)):
            conn.execute(sa.text("INSERT INTO person (id, slack_user_id, name, active, created_at)"
                                 " VALUES (:i, :u, '', :a, :t)"),
                         {"i": pid, "u": f"U{pid}", "a": active, "t": datetime(2026, 1, 1)})
        rows = [("team:3", "member.add", datetime(2026, 2, 1)), ("school:7", "school.update", datetime(2026, 2, 1)),
                ("person:2", "person.deactivate", datetime(2026, 3, 1)),
                ("person:2", "person.deactivate", datetime(2026, 4, 1)), ("roster.csv", "roster.export",
                                                                          datetime(2026, 2, 1))]
        for target, action, at in rows:
            conn.execute(sa.text("INSERT INTO auditentry (at, actor, action, target, detail)"
                                 " VALUES (:at, 'cli:x', :a, :t, '')"), {"at": at, "a": action, "t": target})
    before = datetime.now(UTC)
    migrate.upgrade(db)
    with db.engine.connect() as conn:
        schools = dict(conn.execute(sa.text("SELECT target, school_id FROM auditentry WHERE action <> "
                                            "'person.deactivate'")).all())
        deactivated = dict(conn.execute(sa.text("SELECT id, deactivated_at FROM person")).all())
    assert schools == {"team:3": 7, "school:7": 7, "roster.csv": None}
    assert deactivated[1] is None
    assert str(deactivated[2]).startswith("2026-04-01")  # the latest deactivation on record
    assert deactivated[3] is not None and str(deactivated[3]) >= before.replace(tzinfo=None).isoformat(" ")[:10]
    db.dispose()
