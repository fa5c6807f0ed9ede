"""Platform identities: people and teams are known per platform, the Slack ones stay in step
with the Slack columns, the export and the erasure cover them, and delivery reaches each
person on the platform of their identity."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from storage import identities
from storage import teams as team_store
from storage.db import Database
from storage.erasure import forget_person
from storage.models import Checkin, Delivery, Membership, Person, PersonIdentity, Team, TeamPlace
from storage.people import ensure_people, get_or_create_person
from storage.personal_data import collect
from tests.cycle_helpers import checkin_dms, make_cycle, only_checkins
from tests.seed import seed_team
from tests.test_roster import GOOD, run, write
from tests.test_roster import slack as slack  # noqa: F401 - the roster tests' Slack double, as a fixture
from tests.test_transport import MemoryTransport

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
THURSDAY_2PM = datetime(2026, 12, 3, 19, 0, tzinfo=UTC)  # 14:00 New York
TEAMS_ID = "29:1teams-teacher-aad"
TENANT = "tenant-1"
SERVICE_URL = "https://smba.example.test/amer/"
TEAMS_CHAT = "a:1on1-1teams-teacher-aad"  # the 1:1 chat MemoryTransport opens for TEAMS_ID


def _slack_identity(session, person_id: int) -> PersonIdentity:  # noqa: ANN001
    [identity] = [i for i in identities.identities_of(session, person_id) if i.platform == "slack"]
    return identity


def test_people_made_anywhere_get_their_slack_identity_in_the_same_transaction(db_url):
    db = Database(db_url)
    from storage import migrate

    migrate.upgrade(db)
    with db.session() as session:
        maria = get_or_create_person(session, "UMARIA", now=NOW, name="Maria")
        again = get_or_create_person(session, "UMARIA", now=NOW)
        made = ensure_people(session, [("UBOB", "Bob", None, None), ("UMARIA", "Maria L", None, None)], now=NOW)
        assert again.id == maria.id and made["UMARIA"].id == maria.id
    with db.read() as session:
        for uid in ("UMARIA", "UBOB"):
            person = session.exec(select(Person).where(Person.handle == uid)).one()
            assert person.id is not None
            ident = _slack_identity(session, person.id)
            assert (ident.workspace, ident.external_id, ident.conversation_id, ident.service_url) == ("", uid, None,
                                                                                                       None)
            found = identities.person_for_identity(session, "slack", "", uid)
            assert found is not None and found.id == person.id
        assert identities.person_for_identity(session, "teams", TENANT, "UMARIA") is None
        assert len(session.exec(select(PersonIdentity)).all()) == 2  # one each, not one per call
    db.dispose()


def test_a_team_has_its_channel_as_its_place_and_follows_a_new_channel(db_url):
    from storage import migrate

    db = Database(db_url)
    migrate.upgrade(db)
    schedule = team_store.Schedule("thu", "15:30", 45)
    with db.session() as session:
        school = team_store.create_school(session, name="Lincoln", timezone="America/Chicago", actor="cli:t", now=NOW)
        assert school.id is not None
        team, _ = team_store.save_team(session, team=None, school_id=school.id, channel_id="CG3", name="Grade 3",
                                       timezone="America/Chicago", schedule=schedule, actor="cli:t", now=NOW)
        team_id = team.id
        assert team_id is not None
    with db.read() as session:
        place = identities.place_of(session, team_id)
        assert place is not None and (place.platform, place.workspace, place.place_id, place.kind) == (
            "slack", "", "CG3", "channel")
        found = identities.team_for_place(session, "slack", "", "CG3")
        assert found is not None and found.id == team_id
    with db.session() as session:
        team = session.get(Team, team_id)
        team_store.save_team(session, team=team, school_id=school.id, channel_id="CG3NEW", name="Grade 3",
                             timezone="America/Chicago", schedule=schedule, actor="cli:t", now=NOW)
    with db.read() as session:
        [place] = session.exec(select(TeamPlace)).all()
        assert place.place_id == "CG3NEW" and identities.team_for_place(session, "slack", "", "CG3") is None
    db.dispose()


def test_a_roster_import_gives_every_new_person_a_slack_identity(slack, tmp_path, capsys):  # noqa: F811
    from tests.test_roster import db

    assert run(tmp_path, "import", write(tmp_path, GOOD), "--apply") == 0
    with db(tmp_path).read() as session:
        people = session.exec(select(Person)).all()
        pairs = {(i.person_id, i.external_id) for i in session.exec(select(PersonIdentity)).all()}
        assert pairs == {(p.id, p.handle) for p in people} and len(people) == 5
        places = {(p.team_id, p.place_id) for p in session.exec(select(TeamPlace)).all()}
        assert places == {(t.id, t.channel_id) for t in session.exec(select(Team)).all()}


def _teams_teacher(bot, team_id: int) -> int:  # noqa: ANN001
    """A teacher known on Teams only: the 1:1 conversation reference the Teams front stores."""
    with bot.db.session() as session:
        # `person.handle` is still the column every record names people by (issue 24,
        # item 1); a Teams person holds their Teams user id there until it goes.
        person = Person(handle=TEAMS_ID, name="Ms. Teams", tz="America/New_York")
        session.add(person)
        session.flush()
        assert person.id is not None
        session.add(Membership(team_id=team_id, person_id=person.id, role="member"))
        session.add(PersonIdentity(person_id=person.id, platform="teams", workspace=TENANT, external_id=TEAMS_ID,
                                   conversation_id=TEAMS_CHAT, service_url=SERVICE_URL))
        return person.id


def test_one_round_reaches_each_teacher_on_the_platform_where_they_are_known(bot):
    only_checkins(bot)
    teams = MemoryTransport()
    bot.services.transports.by_platform["teams"] = teams
    team = seed_team(bot, members=("UT1", "UT2"))
    teams_pid = _teams_teacher(bot, team.team_id)
    make_cycle(bot, team.team_id)
    bot.clock.set(THURSDAY_2PM)
    bot.tick()

    # Slack people through Slack, the Teams teacher through the Teams transport: one message each.
    assert [len(checkin_dms(bot, u)) for u in ("UFAC", "UT1", "UT2")] == [1, 1, 1]
    assert not any(TEAMS_ID in str(call) for call in bot.double.calls)
    with bot.db.read() as session:
        [mine] = session.exec(select(Checkin).where(Checkin.person_id == teams_pid)).all()
        rows = _by_recipient(session, "checkin")
    [activity] = teams.sent(rows[TEAMS_ID].key)
    assert activity.text and rows[TEAMS_ID].state == "sent" and mine.status == "sent"
    assert (rows[TEAMS_ID].channel_id, rows[TEAMS_ID].ts) == (TEAMS_CHAT, activity.id)
    assert rows["UT1"].state == "sent" and rows["UT1"].channel_id.startswith("D")
    assert teams.calls.count("send") == 1

    # The reminder goes to the conversation of the check-in, which routes the same way.
    bot.clock.set(datetime(2026, 12, 4, 19, 30, tzinfo=UTC))
    bot.tick()
    with bot.db.read() as session:
        reminders = _by_recipient(session, "checkin_reminder")
    assert TEAMS_ID in reminders and reminders[TEAMS_ID].state == "sent"
    assert teams.calls.count("send") == 2
    assert all(r.state == "sent" for r in reminders.values()) and len(reminders) == 4

    # Slack's remembered DM is on the person's Slack identity too (made here: seeded by hand).
    with bot.db.read() as session:
        ut1 = session.exec(select(Person).where(Person.handle == "UT1")).one()
        assert ut1.id is not None and ut1.dm_channel_id
        assert _slack_identity(session, ut1.id).conversation_id == ut1.dm_channel_id


def _by_recipient(session, kind: str) -> dict[str, Delivery]:  # noqa: ANN001
    """The ledger's rows of one kind by whom they went to (the ledger names the person by their row:
    shown by their handle), or the place for a team's channel."""
    handles = {p.id: p.handle for p in session.exec(select(Person)).all()}
    return {(handles[d.person_id] if d.person_id is not None else d.place or ""): d
            for d in session.exec(select(Delivery).where(Delivery.kind == kind)).all()}


def test_a_platform_this_process_does_not_serve_fails_that_row_only(bot):
    only_checkins(bot)
    team = seed_team(bot, members=("UT1",))
    _teams_teacher(bot, team.team_id)
    make_cycle(bot, team.team_id)
    bot.clock.set(THURSDAY_2PM)
    bot.tick()
    assert len(checkin_dms(bot, "UT1")) == 1
    with bot.db.read() as session:
        row = _by_recipient(session, "checkin")[TEAMS_ID]
    assert (row.state, row.error) == ("failed", "no_transport_for_teams")


def test_export_lists_identities_and_erasure_deletes_them_and_their_ids(db_url):
    from storage import migrate

    db = Database(db_url)
    migrate.upgrade(db)
    with db.session() as session:
        maria = get_or_create_person(session, "UMARIA", now=NOW, name="Maria")
        maria.dm_channel_id = "DMARIA"
        identities.set_slack_conversation(session, maria, now=NOW)
        assert maria.id is not None
        session.add(PersonIdentity(person_id=maria.id, platform="teams", workspace=TENANT, external_id=TEAMS_ID,
                                   conversation_id="a:1on1-maria", service_url=SERVICE_URL, created_at=NOW))
        session.add(Delivery(key=f"checkin:1:{TEAMS_ID}:1", kind="checkin", person_id=maria.id, state="pending",
                             created_at=NOW, updated_at=NOW))
        other = get_or_create_person(session, "UOTHER", now=NOW)
        pid, other_id = maria.id, other.id
    with db.read() as session:
        person = session.get(Person, pid)
        assert person is not None
        records = collect(session, person, now=NOW).sheets["Other records"]
    accounts = [r for r in records if str(r[0]).startswith("your chat account on ")]
    assert [(r[0], r[2]) for r in accounts] == [
        ("your chat account on Slack", "user id UMARIA; the bot's chat with you: DMARIA"),
        ("your chat account on Microsoft Teams",
         f"user id {TEAMS_ID}; tenant {TENANT}; the bot's chat with you: a:1on1-maria; via {SERVICE_URL}"),
    ]
    with db.session() as session:
        forget_person(session, "UMARIA", actor="cli:t", now=NOW, link_key=b"k" * 32, apply=True)
    with db.read() as session:
        assert identities.identities_of(session, pid) == []
        assert [i.external_id for i in session.exec(select(PersonIdentity)).all()] == ["UOTHER"]
        assert identities.identities_of(session, other_id or 0)[0].external_id == "UOTHER"
        [row] = session.exec(select(Delivery)).all()
        # Her Teams id is gone from the ledger too, and what was owed to her is never sent.
        assert TEAMS_ID not in row.key + (row.place or "") and row.state == "failed"
    db.dispose()
