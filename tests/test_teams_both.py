"""Slack and Teams served by one bot from one database: a district on both fronts.

The real bot runs once with both fronts: the Slack `Runtime` (the harness's `Stage`, pointed at the
Slack double) and the Teams front (`TeamsServer`, pointed at the Teams double) share one set of
services, as `plcbot run` with both settings serves them, so the services' transports are both
platforms' and the scheduler is the one `plcbot run` starts. Time is the harness's `FakeClock`
(the check-in round is due at the clock's time whatever today's date is); the Teams double signs
with the machine's clock, hence `real_clock`.

One school, one team: two teachers on Slack, two on Teams, and one teacher known on both (linked:
one person with a Slack and a Teams identity). A check-in round through the real scheduler and
jobs: each gets exactly one check-in on their own platform, the linked one one (not two); answers
on each platform land on the same cycle and round; the digest's figures count both platforms.
Then the Teams set-up dialog: a roster member whose e-mail is a Slack teacher's joins as that
teacher, not as a second person. And `plcbot run` as a process with both settings serves both.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.teams import setup as team_setup
from bot.teams.transport import KEY_FIELD
from bot.teams_double import TeamsDouble, TeamsUser
from storage import digest as digest_store
from storage.identities import add_slack_identities
from storage.models import Checkin, Membership, Person, PersonIdentity, School, Team
from storage.models.identities import SLACK, TEAMS
from storage.rules.digest import IsoWeek
from tests.cycle_helpers import checkin_dms, make_cycle, only_checkins
from tests.harness import BotHarness, handles
from tests.seed import seed_team
from tests.test_teams_commands import Replies, dialog_card, inputs
from tests.test_teams_front import _env, _free_port, _wait_healthy

pytestmark = pytest.mark.real_clock  # the Teams double signs tokens with the machine's clock

THURSDAY_2PM = datetime.fromisoformat("2026-12-03T19:00:00+00:00")  # the cycle's first check-in, New York


class Both:
    """The Slack harness and the Teams front on the same services."""

    def __init__(self, double: TeamsDouble, tmp_path: Path) -> None:
        from bot.teams.server import TeamsServer

        port = _free_port()
        env = {k: v for k, v in _env(double, tmp_path, port).items() if k != "DATABASE_URL"}
        self.double = double
        self.slack = BotHarness(f"sqlite:///{tmp_path / 'both.db'}", env=env).start()
        self.teams = TeamsServer(self.slack.settings, self.slack.services)
        self.teams.start_thread()
        self.port = port
        self.url = f"http://127.0.0.1:{port}/api/messages"
        _wait_healthy(port)

    def stop(self) -> None:
        self.teams.stop()
        self.slack.stop()

    def teams_user(self, user_id: str) -> TeamsUser:
        return TeamsUser(self.double, user_id, bot_url=self.url)

    def checkin_cards(self, user_id: str) -> list[dict[str, Any]]:
        return [a for a in self.double.seen_by(user_id)
                if str(((a.get("channelData") or {}).get(KEY_FIELD) or {}).get("key", "")).startswith("checkin:")]


@pytest.fixture
def double() -> Iterator[TeamsDouble]:
    with TeamsDouble() as d:
        yield d


@pytest.fixture
def both(double: TeamsDouble, tmp_path: Path) -> Iterator[Both]:
    world = Both(double, tmp_path)
    try:
        yield world
    finally:
        world.stop()


def teams_identity(both: Both, person_id: int, member: dict[str, Any]) -> None:
    """A Teams identity with its conversation reference, as the front stores one from a 1:1 chat."""
    with both.slack.db.session() as session:
        session.add(PersonIdentity(person_id=person_id, platform=TEAMS, workspace=both.double.tenant_id.lower(),
                                   external_id=member["id"], service_url=both.double.service_url,
                                   conversation_id=both.double.personal_conversation(member["id"]),
                                   created_at=both.slack.clock.now()))


def test_one_round_reaches_each_teacher_once_on_their_platform_and_the_digest_counts_both(both: Both) -> None:
    bot, double = only_checkins(both.slack), both.double
    seeded = seed_team(bot, facilitators=("UFAC",), members=("US1", "US2", "ULINK"), principals=("UPRIN",))
    with bot.db.session() as session:  # Slack identities, as the Slack front makes them
        add_slack_identities(session, [(pid, uid, None) for uid, pid in seeded.person_ids.items()],
                             now=bot.clock.now())
    tina, theo, lin_on_teams = (double.add_user(n) for n in ("Tina Teams", "Theo Teams", "Lin Linked"))
    with bot.db.session() as session:
        for member in (tina, theo):  # known on Teams only, named in the core by their Teams id
            person = Person(handle=member["id"], name=member["name"], email=member["email"],
                            created_at=bot.clock.now())
            session.add(person)
            session.flush()
            assert person.id is not None
            session.add(Membership(team_id=seeded.team_id, person_id=person.id, role="member"))
            seeded.person_ids[member["id"]] = person.id
    for member in (tina, theo):
        teams_identity(both, seeded.person_ids[member["id"]], member)
    teams_identity(both, seeded.person_ids["ULINK"], lin_on_teams)  # the linked teacher: one person, both fronts
    cycle_id = make_cycle(bot, seeded.team_id)

    bot.clock.set(THURSDAY_2PM)
    for _ in range(6):  # the scheduler's ticks: plan, claim, run the round
        bot.tick()
        if len(checkin_dms(bot, "US1")) and len(both.checkin_cards(tina["id"])):
            break
    bot.clock.advance(timedelta(minutes=1))
    bot.tick()  # and once more: nothing is sent twice

    for uid in ("US1", "US2", "ULINK"):
        assert len(checkin_dms(bot, uid)) == 1, uid  # Slack, once
    for member in (tina, theo):
        assert len(both.checkin_cards(member["id"])) == 1, member["name"]  # Teams, once
    assert both.checkin_cards(lin_on_teams["id"]) == []  # the linked teacher: one check-in, not two
    with bot.db.read() as session:
        rows = session.exec(select(Checkin).where(Checkin.cycle_id == cycle_id)).all()
        owners = handles(session)
    asked = [owners[r.person_id] for r in rows]
    assert len(asked) == len(set(asked)) == len({r.person_id for r in rows})  # one check-in a person
    assert {"US1", "US2", "ULINK", tina["id"], theo["id"]} <= set(asked) and lin_on_teams["id"] not in asked
    assert len({r.round_id for r in rows}) == 1

    # Answers on each platform land on the same cycle and round.
    bot.user("US1").click(checkin_dms(bot, "US1")[0], "checkin_on_track")
    bot.user("ULINK").click(checkin_dms(bot, "ULINK")[0], "checkin_some_progress")
    bot.wait_idle()
    [card] = both.checkin_cards(tina["id"])
    reply = both.teams_user(tina["id"]).click(card, "On track")
    assert reply.status == 200, reply.body
    [card] = both.checkin_cards(theo["id"])
    assert both.teams_user(theo["id"]).click(card, "Stuck, I'd like support").status == 200
    with bot.db.read() as session:
        answered = {owners[r.person_id]: (r.progress, r.cycle_id, r.round_id) for r in session.exec(
            select(Checkin).where(Checkin.cycle_id == cycle_id)).all() if r.answered_at is not None}
    round_id = rows[0].round_id
    assert answered == {"US1": ("on_track", cycle_id, round_id), "ULINK": ("some_progress", cycle_id, round_id),
                        tina["id"]: ("on_track", cycle_id, round_id), theo["id"]: ("stuck", cycle_id, round_id)}

    # The digest's figures: one round, everyone asked once, four answers from both platforms.
    week = IsoWeek(*THURSDAY_2PM.isocalendar()[:2])
    with bot.db.read() as session:
        facts = [f for f in digest_store.round_facts(session, digest_store.week_scope(session, week))
                 if f.cycle_id == cycle_id]
    [fact] = facts
    assert (fact.asked, fact.answered) == (len(rows), 4)


def test_the_teams_set_up_makes_a_slack_teacher_with_the_same_email_a_member_not_a_second_person(
        both: Both) -> None:
    bot, double = both.slack, both.double
    seeded = seed_team(bot, facilitators=("UFAC",), members=("UMAY",), principals=("UPRIN",))
    with bot.db.session() as session:
        add_slack_identities(session, [(pid, uid, None) for uid, pid in seeded.person_ids.items()],
                             now=bot.clock.now())
        # A second school, self-service and with no team yet: a teacher may set up its first one on Teams.
        session.add(School(name="Roosevelt Middle", timezone="America/New_York", self_service=True))
    fay = double.add_user("Fay Facilitator")
    may = double.add_user("May Both", email="UMAY@School.Example")  # seed_team gave UMAY umay@school.example
    team = double.add_team("Grade 4 Science", [fay["id"], may["id"]])
    channel = team["id"]
    replies = Replies(double)
    fay_user = both.teams_user(fay["id"])
    assert fay_user.say_in_channel("setup", channel).status == 200
    _, card = replies.next(channel)
    assert card is not None
    [button] = card["actions"]
    form = dialog_card(fay_user.task_fetch({k: v for k, v in button["data"].items() if k != "msteams"},
                                           team_id=channel))
    school_id = inputs(form)["school"]["choices"][0]["value"]
    good = {"action": team_setup.SUBMIT, "name": "Grade 4 Science", "school": school_id,
            "facilitators": fay["id"], "members": may["id"], "days": "wed", "time": "15:30",
            "minutes": "45", "timezone": "America/New_York", "share_names": "false"}
    done = dialog_card(fay_user.task_submit(good, team_id=channel))
    assert "is set up" in str(done)
    text, _ = replies.next(channel)  # the confirmation in the channel
    assert "is set up" in text
    with bot.db.read() as session:
        mays = session.exec(select(Person).where(Person.email.ilike("umay@school.example"))).all()  # type: ignore[union-attr]
        assert [p.handle for p in mays] == ["UMAY"]  # one person
        ids = {(i.platform, i.external_id) for i in session.exec(
            select(PersonIdentity).where(PersonIdentity.person_id == mays[0].id)).all()}
        assert {(SLACK, "UMAY"), (TEAMS, may["id"])} <= ids
        new_team = session.exec(select(Team).where(Team.name == "Grade 4 Science")).one()
        roles = {p.handle: m.role for m, p in session.exec(
            select(Membership, Person).where(Membership.person_id == Person.id,
                                             Membership.team_id == new_team.id)).all()}
        assert roles == {fay["id"]: "facilitator", "UMAY": "member"}
    # The dialog opened again shows her chosen, by her Teams id.
    assert fay_user.say_in_channel("setup", channel).status == 200
    _, card = replies.next(channel)
    assert card is not None
    [button] = card["actions"]
    again = dialog_card(fay_user.task_fetch({k: v for k, v in button["data"].items() if k != "msteams"},
                                            team_id=channel))
    assert inputs(again)["members"].get("value") == may["id"]


# ------------------------------------------------------------------------------ plcbot run, both
@pytest.mark.slow
def _plcbot_run(double: TeamsDouble, slack: Any, tmp_path: Path, teams_port: int,
                slack_port: int, **more: str) -> tuple[subprocess.Popen[str], Path]:
    """`plcbot run` as a process with both fronts' settings (HTTP mode for Slack, two web workers,
    unless `more` says otherwise)."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PLCBOT_SCHEDULER_INTERVAL": "0.2",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           **_env(double, tmp_path, teams_port),
           "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": "s" * 32, "SLACK_API_URL": slack.url,
           "PORT": str(slack_port), "PLCBOT_HEALTH_PORT": "0", "PLCBOT_WEB_WORKERS": "2", **more}
    log = tmp_path / "run.log"  # a file, not a pipe: nothing the process leaves behind can hold it open
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--env-file", "/dev/null", "run"], cwd=tmp_path,
                            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # its own process group, as in a terminal
    return proc, log


def _wait_or_kill(proc: subprocess.Popen[str], timeout: float) -> None:
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()  # its return code, -9, then fails the test
        proc.wait()


def _refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("stop", ["SIGTERM to plcbot", "Ctrl-C in its terminal"])
def test_plcbot_run_with_slack_and_teams_settings_serves_both(double: TeamsDouble, tmp_path: Path,
                                                              stop: str) -> None:
    """Both fronts answer; a stop, sent while gunicorn may still be booting its second worker, stops
    every process cleanly (each worker's runtime and the Teams front log it) within gunicorn's grace
    period: SIGTERM to `plcbot run` alone (a service manager), or SIGINT to its whole process group (a
    terminal's Ctrl-C). While the Teams server ran in a thread of gunicorn's master, a worker forked
    at the wrong moment hung for ever and this was killed after 30 s."""
    from bot.slack_double import SlackDouble

    slack = SlackDouble().start()
    try:
        teams_port, slack_port = _free_port(), _free_port()
        proc, log = _plcbot_run(double, slack, tmp_path, teams_port, slack_port)
        try:
            teams_health = _wait_healthy(teams_port, timeout=40)
            assert teams_health["teams"] == "ok"
            slack_health = _wait_healthy(slack_port, timeout=40)
            assert "slack" in slack_health or slack_health.get("status") in ("ok", "degraded"), slack_health
        finally:
            if stop == "SIGTERM to plcbot":
                proc.send_signal(signal.SIGTERM)
            else:
                os.killpg(proc.pid, signal.SIGINT)
            _wait_or_kill(proc, timeout=30)
        out = log.read_text()
        assert proc.returncode == 0, out
        assert "Signed in to Slack" in out and "serving Teams" in out, out
        assert out.count("plcbot stopped cleanly") == 3, out  # two Slack web workers and the Teams front
        assert "Traceback" not in out, out
        assert _refused(teams_port) and _refused(slack_port)
    finally:
        slack.stop()


def test_plcbot_run_in_socket_mode_with_teams_serves_both_and_stops_teams_before_the_database(
        double: TeamsDouble, tmp_path: Path) -> None:
    """Socket Mode (no public URL for Slack) with Teams: one process, the Teams front in a thread. On
    SIGTERM the Teams front finishes and stops before the scheduler and the database close."""
    from bot.slack_double import SlackDouble

    slack = SlackDouble().start()
    try:
        teams_port, health_port = _free_port(), _free_port()
        proc, log = _plcbot_run(double, slack, tmp_path, teams_port, _free_port(),
                                SLACK_APP_TOKEN=slack.app_token, PLCBOT_HEALTH_PORT=str(health_port))
        try:
            assert slack.socket_connected(timeout=40)
            assert _wait_healthy(teams_port, timeout=40)["teams"] == "ok"
            assert _wait_healthy(health_port, timeout=40)["slack"] == "ok"
        finally:
            proc.send_signal(signal.SIGTERM)
            _wait_or_kill(proc, timeout=30)
        out = log.read_text()
        assert proc.returncode == 0, out
        assert "plcbot connected in Socket Mode" in out and "serving Teams" in out, out
        assert out.index("Teams front stopped") < out.index("plcbot stopped cleanly"), out
        assert "Traceback" not in out, out
        assert _refused(teams_port)
    finally:
        slack.stop()


def test_plcbot_run_stopped_while_its_fronts_are_starting_stops_cleanly(double: TeamsDouble, tmp_path: Path) -> None:
    """An operator who stops the bot right after starting it (a wrong setting seen in the first lines)
    gets a clean stop, exit 0, whatever each front was in the middle of starting."""
    from bot.slack_double import SlackDouble

    slack = SlackDouble().start()
    try:
        proc, log = _plcbot_run(double, slack, tmp_path, _free_port(), _free_port())
        try:
            deadline = time.monotonic() + 60
            while "Signed in to Slack" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.02)  # the fronts are started next
            time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            _wait_or_kill(proc, timeout=30)
        out = log.read_text()
        assert proc.returncode == 0, out
        assert "Traceback" not in out, out
    finally:
        slack.stop()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_fronts_stop_when_plcbot_run_itself_is_killed(double: TeamsDouble, tmp_path: Path) -> None:
    """`plcbot run` is SIGKILLed (the out-of-memory killer, `kill -9`). Its fronts run in process groups
    of their own, so nothing else tells them; they must still stop and free their ports rather than
    live on unsupervised, so that a restarted bot can listen again."""
    from bot.slack_double import SlackDouble

    slack = SlackDouble().start()
    try:
        teams_port, slack_port = _free_port(), _free_port()
        proc, log = _plcbot_run(double, slack, tmp_path, teams_port, slack_port)
        try:
            _wait_healthy(teams_port, timeout=40)
            _wait_healthy(slack_port, timeout=40)
        finally:
            proc.kill()
            proc.wait()
        deadline = time.monotonic() + 40
        while not (_refused(teams_port) and _refused(slack_port)) and time.monotonic() < deadline:
            time.sleep(0.2)
        out = log.read_text()
        assert _refused(teams_port) and _refused(slack_port), out
        deadline = time.monotonic() + 10  # the last lines are written just after the ports close
        while out.count("plcbot stopped cleanly") < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
            out = log.read_text()
        assert out.count("plcbot stopped cleanly") == 3, out
    finally:
        slack.stop()


def test_when_one_front_cannot_start_plcbot_run_stops_the_other_and_says_which(
        double: TeamsDouble, tmp_path: Path) -> None:
    """TEAMS_PORT is taken by another program: the Teams front cannot listen. The bot must not go on
    serving Slack alone, looking healthy while every Teams school is cut off: it stops the Slack front
    too and exits 1, and its log names the front and the port."""
    from bot.slack_double import SlackDouble

    slack = SlackDouble().start()
    squatter = socket.socket()
    try:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        teams_port, slack_port = int(squatter.getsockname()[1]), _free_port()
        proc, log = _plcbot_run(double, slack, tmp_path, teams_port, slack_port)
        _wait_or_kill(proc, timeout=60)
        out = log.read_text()
        assert proc.returncode == 1, out
        assert "The Teams front stopped by itself" in out, out
        assert f"The Teams front could not serve on 127.0.0.1:{teams_port} (HOST, TEAMS_PORT)" in out, out
        assert "Traceback" not in out, out
        assert _refused(slack_port)
    finally:
        squatter.close()
        slack.stop()


def test_a_slack_teacher_who_writes_to_the_bot_on_teams_first_stays_one_person(both: Both) -> None:
    """May is known on Slack (her e-mail too) and got her check-in there; before any Teams set-up or
    @mention she types `home` in her chat with the bot on Teams. Her Teams account is attached to her
    person (Teams' member profile asked once, for the e-mail), and her Teams dashboard shows her Slack
    history: her team, its cycle, the check-in waiting for her."""
    bot, double = only_checkins(both.slack), both.double
    seeded = seed_team(bot, facilitators=("UFAC",), members=("UMAY", "UT2"), principals=("UPRIN",))
    with bot.db.session() as session:
        add_slack_identities(session, [(pid, uid, None) for uid, pid in seeded.person_ids.items()],
                             now=bot.clock.now())
    make_cycle(bot, seeded.team_id)
    bot.clock.set(THURSDAY_2PM)
    for _ in range(6):
        bot.tick()
        if checkin_dms(bot, "UMAY"):
            break
    assert len(checkin_dms(bot, "UMAY")) == 1  # on Slack

    may = double.add_user("May Both", email="UMAY@School.Example")  # seed_team gave UMAY umay@school.example
    may_user = both.teams_user(may["id"])
    replies = Replies(double)
    assert may_user.say("home").status == 200
    _, card = replies.next(may_user.personal_conversation)
    assert card is not None
    shown = json.dumps(card)
    assert "Grade 3" in shown and "Fractions" in shown and "1 check-in(s) waiting for you" in shown, shown
    with bot.db.read() as session:
        mays = session.exec(select(Person).where(Person.email.ilike("umay@school.example"))).all()  # type: ignore[union-attr]
        assert [p.handle for p in mays] == ["UMAY"]  # one person, still named by her Slack id
        assert session.exec(select(Person).where(Person.handle == may["id"])).first() is None
        identities = {(i.platform, i.external_id): i for i in session.exec(
            select(PersonIdentity).where(PersonIdentity.person_id == mays[0].id)).all()}
    assert {(SLACK, "UMAY"), (TEAMS, may["id"]), (TEAMS, may["aadObjectId"].lower())} == set(identities)
    teams = identities[(TEAMS, may["id"])]
    assert (teams.conversation_id, teams.service_url) == (may_user.personal_conversation, double.service_url)
    profile_asks = [c for c in double.calls_to("members") if may["id"] in c.path]
    assert len(profile_asks) == 1

    # Known now: what she types next costs Teams no question, and her check-in is not sent again on Teams.
    assert may_user.say("help").status == 200
    replies.next(may_user.personal_conversation)
    assert [c for c in double.calls_to("members") if may["id"] in c.path] == profile_asks
    assert both.checkin_cards(may["id"]) == []


def test_a_teams_user_whose_email_names_nobody_known_is_a_person_of_their_own(both: Both) -> None:
    bot, double = both.slack, both.double
    seeded = seed_team(bot, facilitators=("UFAC",), members=("UMAY",), principals=("UPRIN",))
    with bot.db.session() as session:
        add_slack_identities(session, [(pid, uid, None) for uid, pid in seeded.person_ids.items()],
                             now=bot.clock.now())
        session.add(Person(handle="UTWIN", name="Twin", email="umay@school.example", created_at=bot.clock.now()))
    may = double.add_user("May Both", email="umay@school.example")  # two people have it: not settled by e-mail
    may_user = both.teams_user(may["id"])
    assert may_user.say("home").status == 200
    _, card = Replies(double).next(may_user.personal_conversation)
    assert card is not None and "not in a PLC team yet" in json.dumps(card)
    with bot.db.read() as session:
        made = session.exec(select(Person).where(Person.handle == may["id"])).one()
        assert made.email == "umay@school.example" and made.name == "May Both"
        assert {i.external_id for i in session.exec(
            select(PersonIdentity).where(PersonIdentity.person_id == made.id)).all()} == {
            may["id"], may["aadObjectId"].lower()}
