"""`plcbot roster import|export` run for real: the CLI function, the Slack double over HTTP, a SQLite file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.cli import main
from bot.slack_double import SlackDouble
from storage import migrate
from storage import teams as store
from storage.db import Database
from storage.models import AuditEntry, Membership, School, SchoolLeader, Team
from storage.rules import roster as rules

HEADER = "school,team,channel,email,slack_user_id,role,meeting_day,meeting_time,meeting_minutes,timezone\n"
GOOD = HEADER + (
    "Lincoln Elementary,,,pat@lincoln.org,,Principal,,,,America/Chicago\n"
    "Lincoln Elementary,Grade 3,#grade-3,fay@lincoln.org,,Facilitator,Thu,15:30,45,America/Chicago\n"
    "Lincoln Elementary,Grade 3,#grade-3,tom@lincoln.org,,member,,,,\n"
    "Lincoln Elementary,Grade 3,,,UTIA,MEMBER,,,,\n"
    "Lincoln Elementary,Grade 5,CG5,ann@lincoln.org,,facilitator,Mon/Wed,3:00 pm,50,\n"
)


@pytest.fixture
def slack(monkeypatch, tmp_path):
    double = SlackDouble().start()
    for uid, name in [("UPAT", "pat"), ("UFAY", "fay"), ("UTOM", "tom"), ("UTIA", "tia"), ("UANN", "ann"),
                      ("UBEN", "ben")]:
        double.add_user(uid, name=name, real_name=name.title(), email=f"{name}@lincoln.org")
    double.add_user("UGONE", name="gone", email="gone@lincoln.org", deleted=True)
    double.add_channel("CG3", name="grade-3", members=["UFAY", "UTOM"])
    double.add_channel("CG5", name="grade-5", members=["UANN"])
    double.add_channel("CNOBOT", name="staff-room", members=["UTOM"], bot_is_member=False)
    double.add_channel("CSECRET", name="secret", members=["UTOM"], is_private=True, bot_is_member=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", double.bot_token)
    monkeypatch.setenv("SLACK_API_URL", double.url)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'plc.db'}")
    monkeypatch.setenv("PLCBOT_TIMEZONE", "America/New_York")
    yield double
    double.stop()


def run(tmp_path: Path, *args: str) -> int:
    return main(["--env-file", os.devnull, "roster", *args])


def write(tmp_path: Path, text: str, name: str = "roster.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def db(tmp_path: Path) -> Database:
    return Database(os.environ["DATABASE_URL"])


def stored(tmp_path: Path) -> tuple[int, int, int, int]:
    with db(tmp_path).read() as session:
        return (len(session.exec(select(School)).all()), len(session.exec(select(Team)).all()),
                len(session.exec(select(Membership).where(Membership.active)).all()),
                len(session.exec(select(SchoolLeader)).all()))


def test_dry_run_by_default_then_apply_then_reimport_changes_nothing(slack, tmp_path, capsys):
    path = write(tmp_path, GOOD)
    assert run(tmp_path, "import", path) == 0
    out = capsys.readouterr().out
    assert "New teams: 2" in out and "Added: 5" in out and "Dry run: nothing was changed" in out
    assert stored(tmp_path) == (0, 0, 0, 0)
    assert run(tmp_path, "import", path, "--apply") == 0
    assert "Imported." in capsys.readouterr().out
    assert stored(tmp_path) == (1, 2, 4, 1)
    with db(tmp_path).read() as session:
        school = session.exec(select(School)).one()
        assert school.timezone == "America/Chicago"
        g5 = session.exec(select(Team).where(Team.name == "Grade 5")).one()
        assert (g5.channel_id, g5.meeting_weekdays, g5.meeting_time, g5.meeting_minutes, g5.timezone) == (
            "CG5", "mon,wed", "15:00", 50, "America/Chicago")
        g3 = session.exec(select(Team).where(Team.name == "Grade 3")).one()
        assert store.member_roles(session, team_id=g3.id) == {"UFAY": "facilitator", "UTOM": "member",
                                                              "UTIA": "member"}
        entries = session.exec(select(AuditEntry)).all()
        actions = [a.action for a in entries]
        assert actions.count("member.add") == 2 and actions.count("facilitator.add") == 2
        # Who did it: the operator at the command line, on every entry (the bulk ones too).
        assert {(e.actor_id, e.actor_label.startswith("cli:")) for e in entries
                if e.action in ("member.add", "facilitator.add")} == {(None, True)}
        assert "principal.add" in actions and "roster.import" in actions
    assert run(tmp_path, "import", path, "--apply") == 0
    assert "Nothing to change." in capsys.readouterr().out
    # Emails were resolved with paged users.list calls only: never one lookup per person.
    methods = [c.method for c in slack.calls]
    assert "users.lookupByEmail" not in methods and methods.count("users.list") == 3


def test_every_bad_row_is_reported_and_nothing_is_applied(slack, tmp_path, capsys):
    """Rows bad on their own are reported first, without asking Slack; then, once the cells are
    right, every row Slack or the stored teams make bad."""
    slack_rows = (
        "Lincoln Elementary,Grade 3,#grade-3,nobody@lincoln.org,,member,,,,\n"  # row 7
        "Lincoln Elementary,Grade 3,#grade-3,tom@lincoln.org,,member,,,,\n"  # row 8 duplicate
        "Lincoln Elementary,Staff,#staff-room,ben@lincoln.org,,member,,,,\n"  # row 9 bot not in it
        "Lincoln Elementary,Secret,CSECRET,ben@lincoln.org,,member,,,,\n"  # row 10 invisible
        "Lincoln Elementary,Grade 4,,ben@lincoln.org,,member,,,,\n"  # row 11 new team, no channel
        "Lincoln Elementary,Grade 3,#grade-3,gone@lincoln.org,,member,,,,\n"  # row 12 deactivated
    )
    cell_rows = (
        "Lincoln Elementary,Grade 3,#grade-3,ben@lincoln.org,,coach,,,,\n"  # row 13
        "Lincoln Elementary,Grade 3,#grade-3,ben@lincoln.org,,member,Funday,25:00,-3,Mars/Base\n"  # row 14
        ",,,ben@lincoln.org,,member,,,,\n"  # row 15
        "Lincoln Elementary,Grade 3,grade-3,ben at lincoln.org,,member,,,,\n"  # row 16
    )
    assert run(tmp_path, "import", write(tmp_path, GOOD + slack_rows + cell_rows), "--apply") == 2
    err = capsys.readouterr().err
    for expected in ("row 13: unknown role 'coach'", "row 14: meeting_day 'funday' is not a weekday",
                     "row 14: meeting_time '25:00' is not a time", "row 14: meeting_minutes '-3'",
                     "row 14: timezone 'Mars/Base'", "row 15: school is empty", "row 15: team is empty",
                     "row 16: channel 'grade-3' is neither", "row 16: email 'ben at lincoln.org' is not an e-mail",
                     "plcbot: 4 bad row(s) in roster.csv"):
        assert expected in err, expected
    assert "row 7" not in err and "row 12" not in err
    assert slack.calls == []  # the file was refused before Slack was asked

    assert run(tmp_path, "import", write(tmp_path, GOOD + slack_rows), "--apply") == 2
    err = capsys.readouterr().err
    for expected in ("row 7: no Slack user with email nobody@lincoln.org",
                     "row 8: duplicate", "on row 4", "row 9: the bot is not in #staff-room",
                     "row 10: channel CSECRET is not visible", "row 11: team Grade 4 is new",
                     "row 12: gone's Slack account is deactivated", "6 bad row(s)"):
        assert expected in err, expected
    assert stored(tmp_path) == (0, 0, 0, 0)


def test_sync_removes_people_no_longer_listed_and_the_dry_run_shows_them(slack, tmp_path, capsys, any_db_url,
                                                                         monkeypatch):
    monkeypatch.setenv("DATABASE_URL", any_db_url)  # SQLite, and PostgreSQL when configured
    assert run(tmp_path, "import", write(tmp_path, GOOD), "--apply") == 0
    smaller = "\n".join(line for line in GOOD.splitlines() if "tom@" not in line and "pat@" not in line) + "\n"
    path = write(tmp_path, smaller, "smaller.csv")
    assert run(tmp_path, "import", path, "--apply") == 0  # without --sync, nobody is removed
    assert "Nothing to change." in capsys.readouterr().out
    assert stored(tmp_path) == (1, 2, 4, 1)
    assert run(tmp_path, "import", path, "--sync") == 0
    out = capsys.readouterr().out
    assert "Removed (no longer listed): 2" in out and "Tom (UTOM)" in out and "Pat (UPAT)" in out
    assert stored(tmp_path) == (1, 2, 4, 1)
    assert run(tmp_path, "import", path, "--sync", "--apply") == 0
    assert stored(tmp_path) == (1, 2, 3, 0)
    with db(tmp_path).read() as session:  # history stays: the membership is inactive, not deleted
        assert len(session.exec(select(Membership)).all()) == 4


def test_export_then_import_is_a_round_trip(slack, tmp_path, capsys):
    assert run(tmp_path, "import", write(tmp_path, GOOD), "--apply") == 0
    out_path = tmp_path / "export.xlsx"
    assert run(tmp_path, "export", str(out_path)) == 0
    rows = list(load_workbook(out_path, read_only=True).worksheets[0].iter_rows(values_only=True))
    assert rows[0] == rules.HEADERS and len(rows) == 6
    capsys.readouterr()
    assert run(tmp_path, "import", str(out_path)) == 0
    out = capsys.readouterr().out
    assert "No changes." in out and "already matches" in out
    with db(tmp_path).read() as session:
        assert session.exec(select(AuditEntry).where(AuditEntry.action == "roster.export")).one()


def test_xlsx_with_excel_cell_types_imports(slack, tmp_path, capsys):
    from datetime import time as dtime

    book = Workbook()
    sheet = book.active
    sheet.append(["School", "Team", "Channel", "E-mail", "Role", "Meeting Day", "Meeting Time", "Minutes"])
    sheet.append(["Lincoln Elementary", "Grade 3", "CG3", "FAY@lincoln.org", "facilitator", "Thursday",
                  dtime(15, 30), 45.0])
    sheet.append([None, None, None, None, None, None, None, None])
    sheet.append(["Lincoln Elementary", "Grade 3", "CG3", "tom@lincoln.org", "member", None, None, None])
    path = tmp_path / "roster.xlsx"
    book.save(path)
    assert run(tmp_path, "import", str(path), "--apply") == 0
    with db(tmp_path).read() as session:
        team = session.exec(select(Team)).one()
        assert (team.meeting_weekdays, team.meeting_time, team.meeting_minutes) == ("thu", "15:30", 45)
        assert store.member_roles(session, team_id=team.id) == {"UFAY": "facilitator", "UTOM": "member"}


def test_file_level_problems_are_one_clear_error(slack, tmp_path, capsys):
    latin = tmp_path / "latin.csv"
    latin.write_bytes((HEADER + "École Jaurès,Grade 3,CG3,fay@lincoln.org,,member,,,,\n").encode("latin-1"))
    assert run(tmp_path, "import", str(latin)) == 2
    err = capsys.readouterr().err
    assert "row 2: not UTF-8" in err and "CSV UTF-8" in err
    assert run(tmp_path, "import", write(tmp_path, "school,team,email\nX,Y,fay@lincoln.org\n")) == 2
    assert "missing column 'role'" in capsys.readouterr().err
    assert run(tmp_path, "import", str(tmp_path / "missing.csv")) == 2
    assert "no such file" in capsys.readouterr().err
    assert run(tmp_path, "export", str(tmp_path / "out.csv")) == 2
    assert ".xlsx" in capsys.readouterr().err
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert run(tmp_path, "import", str(bom)) == 0


def test_four_thousand_people_import_in_bulk(slack, tmp_path, capsys):
    lines = [HEADER]
    for t in range(200):
        slack.add_channel(f"CT{t:04d}", name=f"team-{t}")
    for i in range(4000):
        slack.add_user(f"UP{i:05d}", name=f"p{i}", email=f"p{i}@district.org")
        role = "facilitator" if i % 20 == 0 else "member"
        lines.append(f"School {(i // 20) % 4},Team {i // 20},CT{i // 20:04d},p{i}@district.org,,{role},Tue,15:00,45,\n")
    path = write(tmp_path, "".join(lines))
    # Bulk work, not a query per row: count the SQL statements (the time is bench/roster_import.py's),
    # of the import only: the database is brought to the schema's head first (the migrations'
    # statements are a fixed cost, the same for 4 people or 4,000).
    migrate.upgrade(db(tmp_path), backup=False)
    with count_statements() as statements:
        assert run(tmp_path, "import", path, "--apply") == 0
    assert stored(tmp_path)[2] == 4000
    assert statements[0] < 2000, statements[0]  # 4,000 people in 200 teams: a few per team, none per person
    with db(tmp_path).read() as session:
        audits = session.exec(select(AuditEntry.action)).all()
        assert audits.count("member.add") == 3800 and audits.count("facilitator.add") == 200
    calls = [c.method for c in slack.calls]
    assert calls.count("users.list") == 21 and "users.lookupByEmail" not in calls
    with count_statements() as statements:
        assert run(tmp_path, "import", path) == 0
    assert "already matches" in capsys.readouterr().out
    assert statements[0] < 100, statements[0]


@contextmanager
def count_statements() -> Iterator[list[int]]:
    """How many SQL statements every engine in this process runs inside the block."""
    counted = [0]

    def on_execute(*_args: object) -> None:
        counted[0] += 1

    event.listen(Engine, "before_cursor_execute", on_execute)
    try:
        yield counted
    finally:
        event.remove(Engine, "before_cursor_execute", on_execute)


def test_plan_rules_on_plain_data():
    directory = rules.Directory(
        people={"U1": rules.SlackPerson("U1", "Una", "una@x.org"), "U2": rules.SlackPerson("U2", "Bo", None)},
        channels={"C1": rules.SlackChannel("C1", "g3")},
    )
    existing = rules.Existing(
        schools={"lincoln": ("Lincoln", "America/Chicago")},
        teams={("lincoln", "g3"): rules.TeamState("lincoln", "G3", "C1", "America/Chicago", "thu", "15:30", 45)},
        members={("lincoln", "g3", "U1"): "member", ("lincoln", "g3", "U2"): "member"},
    )
    rows = [(2, {"school": "LINCOLN", "team": "g3", "email": "UNA@x.org", "role": "Facilitator"})]
    plan = rules.plan_import(rows, directory, existing, default_timezone="UTC", sync=True)
    assert plan.ok and [s.user_id for s in plan.role_changes] == ["U1"]
    assert [s.user_id for s in plan.removed] == ["U2"] and not plan.new_teams and not plan.changed_teams
    assert rules.parse_weekdays("Mon/thu and FRIDAY") == "mon,thu,fri"
    assert rules.parse_time("9") == "09:00" and rules.parse_time("12:15 am") == "00:15"


def test_an_import_never_leaves_a_team_without_a_facilitator(slack, tmp_path, capsys):
    assert run(tmp_path, "import", write(tmp_path, GOOD), "--apply") == 0
    capsys.readouterr()
    demoted = GOOD.replace("fay@lincoln.org,,Facilitator", "fay@lincoln.org,,member")
    assert run(tmp_path, "import", write(tmp_path, demoted, "demoted.csv"), "--apply") == 2
    assert "row 3: team Grade 3 would be left without a facilitator" in capsys.readouterr().err
    without_fay = "".join(line + "\n" for line in GOOD.splitlines() if "fay@" not in line)
    assert run(tmp_path, "import", write(tmp_path, without_fay, "nofay.csv")) == 0  # without --sync: kept
    capsys.readouterr()
    assert run(tmp_path, "import", write(tmp_path, without_fay, "nofay.csv"), "--sync", "--apply") == 2
    assert "would be left without a facilitator" in capsys.readouterr().err
    slack.add_channel("CG4", name="grade-4", members=["UBEN"])
    g4 = GOOD + "Lincoln Elementary,Grade 4,CG4,ben@lincoln.org,,member,,,,\n"
    assert run(tmp_path, "import", write(tmp_path, g4, "g4.csv")) == 2
    assert "row 7: team Grade 4 has no facilitator" in capsys.readouterr().err
    with db(tmp_path).read() as session:
        g3 = session.exec(select(Team).where(Team.name == "Grade 3")).one()
        assert store.member_roles(session, team_id=g3.id)["UFAY"] == "facilitator"
        assert len(session.exec(select(Team)).all()) == 2


def test_export_leaves_out_deactivated_people_so_it_imports_again(slack, tmp_path, capsys):
    assert run(tmp_path, "import", write(tmp_path, GOOD), "--apply") == 0
    slack.deactivate_user("UTOM")  # Slack deactivates Tom; its user_change made him inactive here
    with db(tmp_path).session() as session:
        store.set_person_active(session, handle="UTOM", active=False, actor="slack:user_change",
                                now=datetime.now(UTC))  # the CLI's clock: the machine's
    out_path = tmp_path / "export.xlsx"
    assert run(tmp_path, "export", str(out_path)) == 0
    rows = list(load_workbook(out_path, read_only=True).worksheets[0].iter_rows(values_only=True))
    assert "UTOM" not in {r[4] for r in rows} and len(rows) == 5
    capsys.readouterr()
    assert run(tmp_path, "import", str(out_path)) == 0
    assert "already matches" in capsys.readouterr().out
    assert run(tmp_path, "import", str(out_path), "--sync", "--apply") == 0  # his seat goes; his history stays
    with db(tmp_path).read() as session:
        g3 = session.exec(select(Team).where(Team.name == "Grade 3")).one()
        assert "UTOM" not in store.member_roles(session, team_id=g3.id)
        assert len(session.exec(select(Membership).where(Membership.team_id == g3.id)).all()) == 3


def test_reimport_reactivates_and_changes_roles_in_place(slack, tmp_path, capsys, any_db_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", any_db_url)  # the bulk writes on SQLite, and PostgreSQL when configured
    assert run(tmp_path, "import", write(tmp_path, GOOD), "--apply") == 0
    smaller = "".join(line + "\n" for line in GOOD.splitlines() if "tom@" not in line)
    assert run(tmp_path, "import", write(tmp_path, smaller, "smaller.csv"), "--sync", "--apply") == 0
    swapped = GOOD.replace(",UTIA,MEMBER", ",UTIA,facilitator").replace("fay@lincoln.org,,Facilitator",
                                                                        "fay@lincoln.org,,member")
    assert run(tmp_path, "import", write(tmp_path, swapped, "swapped.csv"), "--apply") == 0
    with db(tmp_path).read() as session:
        g3 = session.exec(select(Team).where(Team.name == "Grade 3")).one()
        assert store.member_roles(session, team_id=g3.id) == {"UFAY": "member", "UTOM": "member",
                                                              "UTIA": "facilitator"}
        rows = session.exec(select(Membership).where(Membership.team_id == g3.id)).all()
        assert len(rows) == 3 and all(r.left_at is None for r in rows)  # Tom's old row, back in use
        actions = [a.action for a in session.exec(select(AuditEntry).where(AuditEntry.target == f"team:{g3.id}"))]
        assert actions.count("member.remove") == 1 and actions.count("member.add") == 3
        assert actions.count("facilitator.add") == 2 and actions.count("facilitator.remove") == 1
    capsys.readouterr()
    assert run(tmp_path, "import", write(tmp_path, swapped, "swapped.csv"), "--apply") == 0
    assert "Nothing to change." in capsys.readouterr().out


def test_a_teacher_known_on_teams_first_is_imported_as_the_same_person(slack, tmp_path, capsys):
    """Ben was set up on Teams (his Teams id names him, with his e-mail, a Grade 3 seat and an answered
    check-in) before the district's Slack roster lists him: the import finds him by e-mail (any case),
    shows his seat as unchanged, and --apply --sync keeps one person with both accounts and his history."""
    from types import SimpleNamespace

    from scheduling.clock import FakeClock
    from storage.identities import identities_of
    from storage.models import Checkin, CheckinRound, Person, PersonIdentity
    from tests.cycle_helpers import make_cycle

    assert run(tmp_path, "import", write(tmp_path, GOOD), "--apply") == 0
    at = datetime(2026, 12, 1, 15, tzinfo=UTC)
    database = Database(os.environ["DATABASE_URL"], clock=FakeClock(at))
    with database.session() as session:
        grade3 = session.exec(select(Team).where(Team.name == "Grade 3")).one()
        ben = Person(handle="29:1ben-teams", name="Ben (Teams)", email="Ben@Lincoln.org", created_at=at)
        session.add(ben)
        session.flush()
        ben_id, team_id = ben.id or 0, grade3.id or 0
        session.add(PersonIdentity(person_id=ben_id, platform="teams", workspace="tenant", external_id=ben.handle,
                                   created_at=at))
        session.add(Membership(team_id=team_id, person_id=ben_id, role="member", joined_at=at))
    cycle_id = make_cycle(SimpleNamespace(db=database, clock=database.clock), team_id, by="UFAY")
    with database.session() as session:
        rnd = CheckinRound(cycle_id=cycle_id, team_id=team_id, week=1, local_day=at.date())
        session.add(rnd)
        session.flush()
        session.add(Checkin(round_id=rnd.id or 0, cycle_id=cycle_id, person_id=ben_id, week=1, status="sent",
                            progress="on_track", answered_at=at))
    with_ben = GOOD + "Lincoln Elementary,Grade 3,#grade-3,BEN@lincoln.org,,member,,,,\n"
    capsys.readouterr()

    assert run(tmp_path, "import", write(tmp_path, with_ben), "--sync") == 0
    out = capsys.readouterr().out
    assert "Same person, known on Teams first" in out and "Ben (UBEN) is 29:1ben-teams" in out
    assert "Added:" not in out and "Removed" not in out  # his seat is his already
    assert run(tmp_path, "import", write(tmp_path, with_ben), "--apply", "--sync") == 0
    with database.read() as session:
        [person] = session.exec(select(Person).where(Person.email.ilike("ben@lincoln.org"))).all()  # type: ignore[union-attr]
        assert (person.id, person.handle) == (ben_id, "UBEN")
        assert {(i.platform, i.external_id) for i in identities_of(session, ben_id)} == {
            ("teams", "29:1ben-teams"), ("slack", "UBEN")}
        assert [(m.team_id, m.role, m.active) for m in session.exec(
            select(Membership).where(Membership.person_id == ben_id)).all()] == [(team_id, "member", True)]
        [answer] = session.exec(select(Checkin).where(Checkin.cycle_id == cycle_id)).all()
        assert (answer.person_id, answer.progress) == (ben_id, "on_track")
        [linked] = session.exec(select(AuditEntry).where(AuditEntry.action == "people.link")).all()
        assert linked.target == "UBEN" and "29:1ben-teams" in linked.detail and linked.actor_label.startswith("cli:")
    # The next import is a no-op: he is stored under his Slack id now.
    capsys.readouterr()
    assert run(tmp_path, "import", write(tmp_path, with_ben), "--sync") == 0
    assert "the database already matches the file" in capsys.readouterr().out


def _teams_only(database: Database, team_name: str, *, handle: str, name: str, email: str | None,
                role: str = "member") -> int:
    """A teacher set up on Teams only: a person named by their Teams id, a Teams identity, a seat."""
    from storage.models import Person, PersonIdentity

    at = datetime(2026, 12, 1, 15, tzinfo=UTC)
    with database.session() as session:
        team = session.exec(select(Team).where(Team.name == team_name)).one()
        person = Person(handle=handle, name=name, email=email, created_at=at)
        session.add(person)
        session.flush()
        session.add(PersonIdentity(person_id=person.id or 0, platform="teams", workspace="tenant",
                                   external_id=handle, created_at=at))
        session.add(Membership(team_id=team.id or 0, person_id=person.id or 0, role=role, joined_at=at))
        return person.id or 0


def _seats(database: Database, person_id: int) -> list[tuple[str, str, bool]]:
    with database.read() as session:
        return sorted((t.name, m.role, m.active) for m, t in session.exec(
            select(Membership, Team).where(Membership.person_id == person_id, Membership.team_id == Team.id)).all())


def test_sync_keeps_teams_only_members_it_cannot_see_and_matches_those_the_file_names_by_email(
        slack, tmp_path, capsys):
    """Cam and Dee were set up on Teams only (no Slack account, so not in Slack's users.list).
    `--sync` with a file that does not name them keeps their seats, says so in the dry run, and
    never crashes; a file that names Dee by her e-mail matches her stored person (no second person,
    no "no Slack user" error): her seat is hers, a new one is added, and a seat the file no longer
    lists is removed like anyone's."""
    from storage.models import Person

    assert run(tmp_path, "import", write(tmp_path, GOOD), "--apply") == 0
    database = db(tmp_path)
    cam = _teams_only(database, "Grade 3", handle="29:1cam-teams", name="Cam Teams", email="cam@lincoln.org")
    dee = _teams_only(database, "Grade 3", handle="29:1dee-teams", name="Dee Teams", email="Dee@Lincoln.org")
    _teams_only_seat = _seats(database, dee)
    assert _teams_only_seat == [("Grade 3", "member", True)]
    capsys.readouterr()

    # ---- the file lists neither: they are kept, and the dry run says why
    assert run(tmp_path, "import", write(tmp_path, GOOD), "--sync") == 0
    out = capsys.readouterr().out
    assert "Kept: known only on Teams, not in this Slack roster: 2" in out, out
    assert "Cam Teams (29:1cam-teams) as member of Grade 3" in out and "Removed" not in out
    assert run(tmp_path, "import", write(tmp_path, GOOD), "--sync", "--apply") == 0
    assert _seats(database, cam) == [("Grade 3", "member", True)]
    assert _seats(database, dee) == [("Grade 3", "member", True)]

    # ---- Dee named by e-mail (another case), in Grade 5 and no longer in Grade 3
    with_dee = GOOD + "Lincoln Elementary,Grade 5,CG5,DEE@lincoln.org,,member,,,,\n"
    capsys.readouterr()
    assert run(tmp_path, "import", write(tmp_path, with_dee), "--sync") == 0
    out = capsys.readouterr().out
    assert "Dee Teams (29:1dee-teams) as member of Grade 5" in out and "no Slack user" not in out, out
    assert "Removed (no longer listed): 1" in out and "Kept: known only on Teams, not in this Slack roster: 1" in out
    with count_statements() as statements:
        assert run(tmp_path, "import", write(tmp_path, with_dee), "--sync", "--apply") == 0
    assert _seats(database, cam) == [("Grade 3", "member", True)]
    assert _seats(database, dee) == [("Grade 3", "member", False), ("Grade 5", "member", True)]
    with database.read() as session:
        assert len(session.exec(select(Person).where(Person.email.ilike("dee@lincoln.org"))).all()) == 1  # type: ignore[union-attr]
    assert statements[0] < 80, statements[0]  # bulk: not one query per row
    capsys.readouterr()
    assert run(tmp_path, "import", write(tmp_path, with_dee), "--sync") == 0
    assert "the database already matches the file" in capsys.readouterr().out
