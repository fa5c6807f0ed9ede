"""The schema that migrations build is the schema the models describe, on both databases."""

from __future__ import annotations

import threading

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
        session.add(School(name="Lincoln", timezone="America/Chicago"))
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
    assert migrate.head_revisions() == ("0007",)
