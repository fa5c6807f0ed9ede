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
