"""One teacher on Slack and Teams is one person.

1. `plcbot people link A B` (in-process, on the harness's database): a dry run changes nothing;
   `--apply` re-points every person column of the inventory, moves B's chat accounts to A,
   keeps one membership with the higher role, writes an audit entry; a Teams-first A takes B's
   Slack id. Refusals (the same check-in week twice, an erased person, two Slack accounts, a
   name that names nobody, an e-mail shared by two people) are one line, exit 2, nothing changed.
2. By e-mail: `storage.linking.person_for_email` attaches only when exactly one person, not
   erased and not yet on that platform, has the address.
The Teams set-up dialog's use of it (a roster member with a Slack teacher's e-mail joins as that
teacher) is in `tests/test_teams_both.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlmodel import select

import bot.cli.people as people_cli
from storage import linking
from storage.identities import identities_of
from storage.models import AuditEntry, Checkin, CheckinRound, Membership, Person, PersonIdentity
from storage.models.identities import TEAMS
from tests.cycle_helpers import make_cycle
from tests.harness import BotHarness
from tests.privacy_seed import dump, run_cli
from tests.races import Hold, race
from tests.seed import seed_team

TENANT = "11111111-1111-4111-8111-111111111111"
ANA_TEAMS = "29:1ana-teams-id"


def teams_person(bot: BotHarness, user_id: str = ANA_TEAMS, *, email: str | None = "ana@school.example",
                 name: str = "Ana (Teams)") -> int:
    """A person known on Teams only, named in the core by their Teams id (as the Teams front makes them)."""
    with bot.db.session() as session:
        p = Person(handle=user_id, name=name, email=email, created_at=bot.clock.now())
        session.add(p)
        session.flush()
        assert p.id is not None
        session.add(PersonIdentity(person_id=p.id, platform=TEAMS, workspace=TENANT, external_id=user_id,
                                   conversation_id="a:1ana-chat", service_url="https://smba.example/amer/",
                                   created_at=bot.clock.now()))
        return p.id


def join(bot: BotHarness, team_id: int, person_id: int, role: str) -> None:
    with bot.db.session() as session:
        session.add(Membership(team_id=team_id, person_id=person_id, role=role))


def checkin_for(bot: BotHarness, cycle_id: int, team_id: int, person_id: int, user_id: str, week: int = 1) -> None:
    with bot.db.session() as session:
        rnd = session.exec(select(CheckinRound).where(CheckinRound.cycle_id == cycle_id,
                                                      CheckinRound.week == week)).first()
        if rnd is None:
            rnd = CheckinRound(cycle_id=cycle_id, team_id=team_id, week=week, local_day=date(2026, 12, 3))
            session.add(rnd)
            session.flush()
        assert rnd.id is not None
        session.add(Checkin(round_id=rnd.id, cycle_id=cycle_id, person_id=person_id, week=week,
                            status="sent"))


def cli(bot: BotHarness, monkeypatch, capsys, *argv: str) -> tuple[int, str, str]:  # noqa: ANN001
    from bot.cli.common import services_from

    def on_test_clock(args):  # noqa: ANN001, ANN202
        services = services_from(args)
        services.clock = bot.clock
        return services

    monkeypatch.setattr(people_cli, "services_from", on_test_clock)
    capsys.readouterr()
    status = run_cli(bot, monkeypatch, "people", "link", *argv)
    out = capsys.readouterr()
    return status, out.out, out.err


def person(bot: BotHarness, user_id: str) -> Person | None:
    with bot.db.read() as session:
        return session.exec(select(Person).where(Person.handle == user_id)).first()


# ------------------------------------------------------------------------------ link, applied
def test_link_dry_run_changes_nothing_then_apply_merges_into_one_person(bot, monkeypatch, capsys):
    seeded = seed_team(bot)  # UFAC facilitates, UT1..UT3 members
    ana_teams = teams_person(bot)
    join(bot, seeded.team_id, ana_teams, "facilitator")  # the same team, with the higher role on Teams
    cycle_id = make_cycle(bot, seeded.team_id)
    checkin_for(bot, cycle_id, seeded.team_id, ana_teams, ANA_TEAMS, week=2)  # answered on Teams
    checkin_for(bot, cycle_id, seeded.team_id, seeded.person_ids["UT1"], "UT1", week=1)  # answered on Slack
    before = dump(bot)

    status, out, err = cli(bot, monkeypatch, capsys, "UT1", ANA_TEAMS)
    assert (status, err) == (0, "")
    assert "Dry run" in out and "Nothing was changed" in out and "checkin.person_id: 1 row" in out
    assert "membership" in out and "as facilitator" in out
    assert dump(bot) == before

    status, out, err = cli(bot, monkeypatch, capsys, "ut1", ANA_TEAMS, "--apply")  # lower case forgiven
    assert (status, err) == (0, ""), err
    assert "Linked" in out
    assert person(bot, ANA_TEAMS) is None
    ut1 = person(bot, "UT1")
    assert ut1 is not None and ut1.id == seeded.person_ids["UT1"]
    with bot.db.read() as session:
        # B's Teams account is now A's (seed_team's people predate identities: no Slack row to expect).
        assert {(i.platform, i.external_id) for i in identities_of(session, ut1.id)} == {(TEAMS, ANA_TEAMS)}
        memberships = session.exec(select(Membership).where(Membership.team_id == seeded.team_id,
                                                            Membership.person_id == ut1.id)).all()
        assert [(m.role, m.active) for m in memberships] == [("facilitator", True)]
        checkins = session.exec(select(Checkin).where(Checkin.cycle_id == cycle_id)
                                .order_by(Checkin.week)).all()  # type: ignore[arg-type]
        assert [(c.week, c.person_id) for c in checkins] == [(1, ut1.id), (2, ut1.id)]
        [entry] = session.exec(select(AuditEntry).where(AuditEntry.action == linking.ACTION)).all()
        assert entry.actor_label.startswith("cli:") and entry.target == "UT1" and ANA_TEAMS in entry.detail

    # Linking again: they are one person now.
    status, out, err = cli(bot, monkeypatch, capsys, "UT1", ANA_TEAMS, "--apply")
    assert status == 2 and out == "" and len(err.strip().splitlines()) == 1 and "same person" in err


def test_a_teams_first_person_linked_to_their_slack_row_takes_the_slack_id(bot, monkeypatch, capsys):
    seeded = seed_team(bot)
    ana_teams = teams_person(bot)
    join(bot, seeded.team_id, ana_teams, "member")
    cycle_id = make_cycle(bot, seeded.team_id)
    checkin_for(bot, cycle_id, seeded.team_id, ana_teams, ANA_TEAMS, week=1)
    status, out, err = cli(bot, monkeypatch, capsys, ANA_TEAMS, "UT2", "--apply")
    assert (status, err) == (0, ""), err
    assert "UT2" in out
    merged = person(bot, "UT2")
    assert merged is not None and merged.id == ana_teams  # A's row, with B's Slack id
    with bot.db.read() as session:
        [c] = session.exec(select(Checkin).where(Checkin.cycle_id == cycle_id)).all()
        assert c.person_id == ana_teams  # the fronts compare this with the actor's person
        roles = session.exec(select(Membership).where(Membership.person_id == ana_teams)).all()
        assert [m.role for m in roles] == ["member"]


# ------------------------------------------------------------------------------ refusals
def test_the_same_checkin_week_twice_is_refused_naming_it_and_nothing_changes(bot, monkeypatch, capsys):
    seeded = seed_team(bot)
    ana_teams = teams_person(bot)
    join(bot, seeded.team_id, ana_teams, "member")
    cycle_id = make_cycle(bot, seeded.team_id)
    checkin_for(bot, cycle_id, seeded.team_id, ana_teams, ANA_TEAMS, week=1)
    checkin_for(bot, cycle_id, seeded.team_id, seeded.person_ids["UT1"], "UT1", week=1)
    before = dump(bot)
    status, out, err = cli(bot, monkeypatch, capsys, "UT1", ANA_TEAMS, "--apply")
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "Grade 3" in err and "week 1" in err and "Fractions" in err and "Nothing was changed" in err
    assert dump(bot) == before


@pytest.mark.parametrize("case", ["forgotten", "two_slack", "unknown", "shared_email", "empty"])
def test_refusals_are_one_line_exit_2_and_change_nothing(bot, monkeypatch, capsys, case):
    seed_team(bot)
    teams_person(bot)
    args = {"two_slack": ["UT1", "UT2"], "unknown": ["UT1", "29:1nobody"], "empty": ["UT1", " "],
            "shared_email": ["UT1", "shared@school.example"], "forgotten": ["UT1", "UT3"]}[case]
    if case == "forgotten":
        assert run_cli(bot, monkeypatch, "privacy", "forget", "UT3", "--apply") == 0
        with bot.db.read() as session:
            token = session.exec(select(Person.handle).where(Person.forgotten_at.is_not(None))).one()  # type: ignore[union-attr]
        args = ["UT1", token]
    if case == "shared_email":
        teams_person(bot, "29:1other", email="Shared@school.example")
        teams_person(bot, "29:1another", email="shared@School.example")
    before = dump(bot)
    status, out, err = cli(bot, monkeypatch, capsys, *args, "--apply")
    assert status == 2 and out == "", (out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert {"forgotten": "erased", "two_slack": "two different Slack accounts", "unknown": "no person known",
            "shared_email": "2 people", "empty": "names nobody"}[case] in err
    assert dump(bot) == before


def test_people_are_named_by_teams_id_entra_id_and_email(bot):
    seed_team(bot)
    ana = teams_person(bot)
    with bot.db.session() as session:
        session.add(PersonIdentity(person_id=ana, platform=TEAMS, workspace=TENANT,
                                   external_id="0a1b2c3d-aaaa-4bbb-8ccc-000000000001", created_at=bot.clock.now()))
    with bot.db.read() as session:
        assert linking.find(session, ANA_TEAMS).id == ana
        assert linking.find(session, "0A1B2C3D-AAAA-4BBB-8CCC-000000000001").id == ana
        assert linking.find(session, " ANA@School.example ").id == ana
        assert linking.find(session, "ut1").handle == "UT1"


# ------------------------------------------------------------------------------ by e-mail
def test_an_email_attaches_only_to_exactly_one_person_not_yet_on_that_platform(bot):
    seed_team(bot)  # UT1 is ut1@school.example, on Slack only
    teams_person(bot, "29:1bea", email="bea@school.example")
    with bot.db.read() as session:
        found = linking.person_for_email(session, "UT1@School.Example", TEAMS)
        assert found is not None and found.handle == "UT1"
        assert linking.person_for_email(session, "bea@school.example", TEAMS) is None  # already on Teams
        assert linking.person_for_email(session, "nobody@school.example", TEAMS) is None
        assert linking.person_for_email(session, None, TEAMS) is None
        assert linking.person_for_email(session, "not-an-address", TEAMS) is None
    teams_person(bot, "29:1ut1-twin", email="ut1@school.example")  # now two people have it
    with bot.db.read() as session:
        assert linking.person_for_email(session, "ut1@school.example", TEAMS) is None


# ------------------------------------------------------------------------------ by e-mail, from Slack
def test_a_teams_first_teacher_added_on_slack_is_the_same_person_with_both_accounts(bot):
    """Known on Teams first (a membership, an answered check-in); then a facilitator adds their
    Slack account with `/plc team add` in another team: the Slack profile's e-mail (any case) names
    that person, who takes the Slack id and keeps everything. Nobody else is touched."""
    seeded = seed_team(bot)
    other = seed_team(bot, team="Grade 4", channel="CGRADE4", facilitators=("UFAC4",), members=(), principals=(),
                      school_id=_school_of(bot, seeded.team_id))
    ana_teams = teams_person(bot)
    join(bot, seeded.team_id, ana_teams, "member")
    cycle_id = make_cycle(bot, seeded.team_id)
    checkin_for(bot, cycle_id, seeded.team_id, ana_teams, ANA_TEAMS, week=1)
    bot.double.add_user("UANA", name="ana", real_name="Ana Slack", email="ANA@School.example")
    with bot.db.read() as session:
        people_before = len(session.exec(select(Person)).all())

    bot.user("UFAC4").command("team add <@UANA|ana>", channel=other.channel)
    bot.wait_idle()

    with bot.db.read() as session:
        assert len(session.exec(select(Person)).all()) == people_before  # no second person
        ana = session.get(Person, ana_teams)
        assert ana is not None and ana.handle == "UANA" and ana.name == "Ana Slack"
        assert {(i.platform, i.external_id) for i in identities_of(session, ana_teams)} == {
            (TEAMS, ANA_TEAMS), ("slack", "UANA")}
        teams = {m.team_id: m.role for m in session.exec(select(Membership).where(
            Membership.person_id == ana_teams, Membership.active)).all()}
        assert teams == {seeded.team_id: "member", other.team_id: "member"}
        [c] = session.exec(select(Checkin).where(Checkin.cycle_id == cycle_id)).all()
        assert c.person_id == ana_teams
        [entry] = session.exec(select(AuditEntry).where(AuditEntry.action == linking.ACTION)).all()
        assert entry.target == "UANA" and ANA_TEAMS in entry.detail and "by e-mail" in entry.detail


def test_slack_links_need_exactly_one_person_with_that_email_who_is_not_on_slack(bot):
    seed_team(bot)  # UT1… are on Slack by their handle
    teams_person(bot, "29:1bea", email="bea@school.example")
    teams_person(bot, "29:1cy", email="cy@school.example")
    teams_person(bot, "29:1cy-twin", email="CY@school.example")
    with bot.db.read() as session:
        found = linking.slack_links(session, [("UBEA", " Bea@School.Example "), ("UCY", "cy@school.example"),
                                              ("UT9", "ut1@school.example"), ("UX", None), ("UY", "nope")])
        assert {uid: p.handle for uid, p in found.items()} == {"UBEA": "29:1bea"}
        # The same e-mail for two Slack users, or a Slack id that names someone already: nobody.
        assert linking.slack_links(session, [("UB1", "bea@school.example"), ("UB2", "bea@school.example")]) == {}
        assert linking.slack_links(session, [("UT1", "bea@school.example")]) == {}


def _school_of(bot: BotHarness, team_id: int) -> int:
    from storage.models import Team

    with bot.db.read() as session:
        team = session.get(Team, team_id)
        assert team is not None
        return team.school_id


# ------------------------------------------------------------------------------ a link and an answer at once
def ana_into_ut1(bot: BotHarness, *, link_key: bytes | None = None) -> Callable[..., None]:
    """`people link UT1 <Ana's Teams id> --apply` in one transaction, holding it open (`hold`) when first."""
    def link(hold: Hold | None = None) -> None:
        with bot.db.session() as session:
            keep, drop = linking.find(session, "UT1"), linking.find(session, ANA_TEAMS)
            linking.link_people(session, keep, drop, actor="cli:test", now=bot.clock.now(), apply=True,
                                link_key=link_key)
            if hold:
                hold(session)
    return link


@pytest.mark.parametrize("first", ["answer", "link"])
def test_a_checkin_answer_and_a_link_at_the_same_moment_lose_nothing(any_db_url, first):
    """Ana's Teams row is merged into her Slack row (UT1) while she answers her check-in "stuck" on
    Teams (an update of the check-in and a new support request naming her). Either order: the link
    locks both rows, so an answer under way finishes first and its rows move with the rest; an answer
    arriving during the link waits, then is stored for the merged person. Nothing is refused, lost,
    or left naming the row the link dropped."""
    from storage import checkins as checkin_store
    from storage.models import SupportRequest

    bot = BotHarness(any_db_url).start()
    try:
        seeded = seed_team(bot)
        ana = teams_person(bot)
        ut1 = seeded.person_ids["UT1"]
        join(bot, seeded.team_id, ana, "member")
        cycle_id = make_cycle(bot, seeded.team_id)
        checkin_for(bot, cycle_id, seeded.team_id, ana, ANA_TEAMS, week=1)
        with bot.db.read() as session:
            checkin_id = session.exec(select(Checkin.id).where(Checkin.person_id == ana)).one()

        def answer(hold: Hold | None = None) -> None:  # the actor was loaded before the link: her Teams row
            with bot.db.session() as session:
                checkin_store.record_answer(session, checkin_id=checkin_id or 0, person_id=ana, handle=ANA_TEAMS,
                                            change=checkin_store.Change(progress="stuck"), now=bot.clock.now())
                if hold:
                    hold(session)

        link = ana_into_ut1(bot)
        errors = race(bot, answer, link) if first == "answer" else race(bot, link, answer)
        assert errors == []
        with bot.db.read() as session:
            assert session.get(Person, ana) is None
            row = session.get(Checkin, checkin_id)
            assert row is not None and (row.person_id, row.progress) == (ut1, "stuck") and row.answered_at
            [support] = session.exec(select(SupportRequest)).all()
            assert support.person_id == ut1 and support.checkin_id == checkin_id
            assert {(i.platform, i.external_id) for i in identities_of(session, ut1)} >= {(TEAMS, ANA_TEAMS)}
    finally:
        bot.stop()


# ------------------------------------------------------------------------------ anonymous feedback
def test_an_anonymous_answer_given_on_teams_is_found_by_the_linked_person_and_stays_anonymous(
        bot, monkeypatch, capsys):
    """B answered a meeting's feedback anonymously on Teams; after `people link A B` A's form finds it
    and a change replaces it, still with no person; the link's report says nothing of it."""
    from storage.feedback import anonymous_link, install_link_key, save_answer
    from storage.models import Meeting
    from storage.rules.feedback import Answer
    from tests.test_feedback import FULL, answers, open_via_command, started

    seeded = seed_team(bot, meeting_weekdays="")
    ana_teams = teams_person(bot)
    join(bot, seeded.team_id, ana_teams, "member")
    meeting_id = started(bot, seeded.team_id)
    bot.tick()
    key = install_link_key(bot.services.settings)
    with bot.db.session() as session:  # what the Teams front stores for her
        save_answer(session, meeting=session.get(Meeting, meeting_id), person_id=ana_teams,
                    link=anonymous_link(key, meeting_id=meeting_id, person_id=ana_teams),
                    answer=Answer({"useful": 2, "learned": 2, "norms": 2}, {"will_try": "Number talks"}, True),
                    today=date(2026, 12, 1))

    status, out, err = cli(bot, monkeypatch, capsys, "UT1", ANA_TEAMS, "--apply")
    assert (status, err) == (0, ""), err
    assert "anonym" not in out.lower() and "feedback" not in out.lower()

    form = open_via_command(bot, "UT1", seeded.channel)  # on Slack now: her anonymous answer is hers
    blocks = {b.get("block_id"): b for b in form["blocks"]}
    assert blocks["anonymous"]["element"]["initial_options"][0]["value"] == "yes"
    assert blocks["useful"]["element"]["initial_option"]["value"] == "2"
    bot.user("UT1").submit(form, {**FULL, "anonymous": {"value": ["yes"]}})
    bot.wait_idle()
    [row] = answers(bot, meeting_id)
    assert row.anonymous and row.person_id is None and row.useful == 4
    assert row.link == anonymous_link(key, meeting_id=meeting_id, person_id=seeded.person_ids["UT1"])


def test_a_meeting_both_answered_keeps_both_answers_when_they_are_linked(bot, monkeypatch, capsys):
    """One teacher who answered from both accounts before the link: both answers stay, none merged."""
    from storage.feedback import anonymous_link, install_link_key, save_answer
    from storage.models import Meeting
    from storage.rules.feedback import Answer
    from tests.test_feedback import FULL, answers, open_via_command, started

    seeded = seed_team(bot, meeting_weekdays="")
    ana_teams = teams_person(bot)
    join(bot, seeded.team_id, ana_teams, "member")
    meeting_id = started(bot, seeded.team_id)
    bot.tick()
    bot.user("UT1").submit(open_via_command(bot, "UT1", seeded.channel), FULL)  # named, on Slack
    bot.wait_idle()
    key = install_link_key(bot.services.settings)
    theirs = anonymous_link(key, meeting_id=meeting_id, person_id=ana_teams)
    with bot.db.session() as session:
        save_answer(session, meeting=session.get(Meeting, meeting_id), person_id=ana_teams, link=theirs,
                    answer=Answer({"useful": 2, "learned": 2, "norms": 2}, {"will_try": "Number talks"}, True),
                    today=date(2026, 12, 1))
    status, _, err = cli(bot, monkeypatch, capsys, "UT1", ANA_TEAMS, "--apply")
    assert (status, err) == (0, ""), err
    rows = sorted(answers(bot, meeting_id), key=lambda r: r.anonymous)
    assert [(r.person_id, r.anonymous, r.link) for r in rows] == [
        (seeded.person_ids["UT1"], False, None), (None, True, theirs)]


@pytest.mark.parametrize("anonymous", [False, True])
@pytest.mark.parametrize("first", ["answer", "link"])
def test_a_feedback_answer_and_a_link_at_the_same_moment_lose_nothing(any_db_url, first, anonymous):
    """Ana answers a meeting's feedback on Teams (her actor loaded as her Teams row) while her Teams
    row is merged into her Slack row (UT1). Either order, the answer is stored once and is the merged
    person's: named, it names UT1; anonymous, UT1's link finds it. Nothing refused or lost."""
    from handlers.core import feedback as core_feedback
    from storage.feedback import anonymous_link
    from storage.models.feedback import Feedback
    from storage.people import load_actor
    from storage.rules.feedback import Answer
    from tests.test_feedback import add_meeting

    bot = BotHarness(any_db_url).start()
    try:
        seeded = seed_team(bot, meeting_weekdays="")
        ana = teams_person(bot)
        ut1 = seeded.person_ids["UT1"]
        join(bot, seeded.team_id, ana, "member")
        meeting_id = add_meeting(bot, seeded.team_id, starts_at=bot.clock.now())
        key = core_feedback.link_key(bot.services)
        with bot.db.read() as session:
            actor = load_actor(session, ANA_TEAMS, admins=())
        assert actor.person_id == ana
        answer = Answer({"useful": 4, "learned": 4, "norms": 4}, {"will_try": "Number talks"}, anonymous)
        def give(hold: Hold | None = None) -> None:
            with bot.db.session() as session:
                checked = core_feedback.check_feedback(session, actor=actor, meeting_id=meeting_id, answer=answer,
                                                       key=key, now=bot.clock.now())
                core_feedback.write_feedback(session, checked)
                if hold:
                    hold(session)

        link = ana_into_ut1(bot, link_key=key)
        errors = race(bot, give, link) if first == "answer" else race(bot, link, give)
        assert errors == []
        with bot.db.read() as session:
            assert session.get(Person, ana) is None
            [row] = session.exec(select(Feedback).where(Feedback.meeting_id == meeting_id)).all()
            if anonymous:
                assert row.person_id is None and row.link == anonymous_link(key, meeting_id=meeting_id, person_id=ut1)
            else:
                assert row.person_id == ut1 and row.link is None
    finally:
        bot.stop()


def test_a_wrap_up_naming_someone_by_the_account_a_link_merged_marks_the_merged_person_present(
        bot, monkeypatch, capsys):
    """The wrap-up form was opened before the link: it names Ana by her Teams id, which is now an
    identity of UT1. She is marked present as UT1, not dropped."""
    from datetime import timedelta

    from storage import meetings as meeting_store
    from storage.models import Attendance
    from tests.test_feedback import add_meeting

    seeded = seed_team(bot, meeting_weekdays="")
    ana = teams_person(bot)
    join(bot, seeded.team_id, ana, "member")
    meeting_id = add_meeting(bot, seeded.team_id, starts_at=bot.clock.now() - timedelta(minutes=50))
    status, _, err = cli(bot, monkeypatch, capsys, "UT1", ANA_TEAMS, "--apply")
    assert (status, err) == (0, ""), err
    with bot.db.session() as session:
        assert meeting_store.wrap_up(session, meeting_id=meeting_id, present=["UFAC", ANA_TEAMS], notes={},
                                     decisions="", actions=[], by="UFAC", now=bot.clock.now()) is not None
    with bot.db.read() as session:
        present = {a.person_id: a.present for a in session.exec(select(Attendance)).all()}
    assert present[seeded.person_ids["UT1"]] is True and present[seeded.person_ids["UFAC"]] is True
    assert present[seeded.person_ids["UT2"]] is False and ana not in present
