"""The Teams front end to end: signed activities from the Teams double through `POST /api/messages`
to the bot's server on 127.0.0.1, and `plcbot run` with Teams only."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.cli.common import open_database
from bot.services import build_services
from bot.settings import from_env
from bot.teams_double import TeamsDouble, TeamsUser
from scheduling.clock import Clock, FakeClock
from storage.models import Delivery, Membership, Person, PersonIdentity, School, Team, TeamPlace
from tests.harness import START
from tests.test_teams_cards import problems, wrapped_size

pytestmark = pytest.mark.real_clock  # the double signs tokens with the machine's clock; the bot reads the test clock
CARD = "application/vnd.microsoft.card.adaptive"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(double: TeamsDouble, tmp_path: Path, port: int) -> dict[str, str]:
    return {"TEAMS_CLIENT_ID": double.client_id, "TEAMS_CLIENT_SECRET": double.client_secret,
            "TEAMS_TENANT_ID": double.tenant_id, "TEAMS_PORT": str(port), "HOST": "127.0.0.1",
            "TEAMS_OPENID_METADATA_URL": double.openid_metadata_url, "TEAMS_LOGIN_URL": double.login_url,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}"}


def _wait_healthy(port: int, timeout: float = 20.0) -> dict[str, Any]:
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:  # noqa: S310
                return dict(json.loads(r.read()))
        except Exception as exc:  # noqa: BLE001 - still starting
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"no answer on {port}: {last}")


class Bot:
    """The Teams front on 127.0.0.1, its services on `clock`: a test's injected clock (usually
    `FakeClock(harness.START)`), so what the bot stores and says does not depend on today's date.
    `env`: more settings (PLCBOT_ADMINS, …)."""

    def __init__(self, double: TeamsDouble, tmp_path: Path, *, clock: Clock,
                 env: dict[str, str] | None = None) -> None:
        from bot.teams.server import TeamsServer

        self.port = _free_port()
        self.settings = from_env({**_env(double, tmp_path, self.port), **(env or {})})
        open_database(self.settings).dispose()
        self.services = build_services(self.settings, clock=clock)
        self.server = TeamsServer(self.settings, self.services)
        self.server.start_thread()
        self.url = f"http://127.0.0.1:{self.port}/api/messages"
        _wait_healthy(self.port)

    def stop(self) -> None:
        self.server.stop()
        self.services.db.dispose()


@pytest.fixture
def double() -> Iterator[TeamsDouble]:
    with TeamsDouble() as d:
        yield d


@pytest.fixture
def bot(double: TeamsDouble, tmp_path: Path) -> Iterator[Bot]:
    b = Bot(double, tmp_path, clock=FakeClock(START))
    yield b
    b.stop()


def sent(double: TeamsDouble) -> list[Any]:
    return double.calls_to("send")


def cards_sent(double: TeamsDouble) -> list[dict[str, Any]]:
    """Every Adaptive Card the bot sent, each checked against the 1.5 schema and the 28 KB limit."""
    found = []
    for call in sent(double):
        for att in (call.body or {}).get("attachments") or []:
            if att.get("contentType") == CARD:
                assert problems(att["content"]) == []
                assert wrapped_size(att["content"], call.body.get("text") or "") <= 28_000
                found.append(att["content"])
    return found


def card_text(card: dict[str, Any]) -> str:
    return json.dumps(card)


def test_healthz_covers_teams(bot: Bot) -> None:
    health = _wait_healthy(bot.port)
    assert health["teams"] == "ok" and health["database"] == "ok" and health["status"] == "ok"


@pytest.mark.parametrize("bad", [
    {"key": "other"}, {"expired": True}, {"audience": "99999999-0000-4000-8000-000000000000"},
    {"service_url": "https://evil.example/"}, {"key": "none"}, None,
], ids=["forged", "expired", "wrong-audience", "wrong-serviceurl", "unsigned", "no-token"])
def test_bad_tokens_get_401_and_nothing_is_stored_or_sent(bot: Bot, double: TeamsDouble, bad: dict | None) -> None:
    ana = double.add_user("Ana Teacher")
    user = TeamsUser(double, ana["id"], bot_url=bot.url)
    token = None if bad is None else double.sign_for_bot(**bad)
    before = len(double.calls)
    for activity in (user.personal("conversationUpdate") | {"membersAdded": [{"id": double.bot_id}]},
                     user.personal("message") | {"text": "help"}):
        assert user.send(activity, token=token).status == 401
    assert sent(double) == []
    assert [c.op for c in double.calls[before:] if c.op != "metadata"] == []  # no token fetched, nothing sent
    with bot.services.db.read() as session:
        assert session.exec(select(Person)).all() == []
        assert session.exec(select(Delivery)).all() == []


def test_install_in_team_welcomes_once(bot: Bot, double: TeamsDouble) -> None:
    fay = double.add_user("Fay Facilitator")
    team = double.add_team("Grade 3", [fay["id"]])
    user = TeamsUser(double, fay["id"], bot_url=bot.url)
    assert user.install_in_team(team["id"]).status == 200
    double.wait_for(lambda: sent(double) or None)
    assert user.install_in_team(team["id"]).status == 200
    time.sleep(0.3)
    [card] = cards_sent(double)
    assert "@plcbot setup" in card_text(card)
    assert len(double.activities(team["id"])) == 1


def test_install_personal_stores_the_conversation_reference(bot: Bot, double: TeamsDouble) -> None:
    member = double.add_user("Pat Person")
    user = TeamsUser(double, member["id"], bot_url=bot.url)
    assert user.install_personal().status == 200
    double.wait_for(lambda: sent(double) or None)
    with bot.services.db.read() as session:
        identity = session.exec(select(PersonIdentity).where(PersonIdentity.platform == "teams",
                                                             PersonIdentity.external_id == member["id"])).one()
        # the Entra object id is kept too (as the set-up's roster keeps it): PLCBOT_ADMINS may name it
        aad = session.exec(select(PersonIdentity).where(PersonIdentity.external_id == member["aadObjectId"])).one()
    assert (identity.external_id, identity.workspace) == (member["id"], double.tenant_id)
    assert (aad.person_id, aad.workspace, aad.conversation_id) == (identity.person_id, double.tenant_id, None)
    assert identity.conversation_id == user.personal_conversation
    assert identity.service_url == double.service_url


def _help_names(card: dict[str, Any]) -> set[str]:
    return {f["title"].split(" ")[0] for block in card["body"] if block["type"] == "FactSet" for f in block["facts"]}


def test_help_in_channel_and_personal_lists_slacks_commands(bot: Bot, double: TeamsDouble) -> None:
    from bot.teams.commands import slack_router

    ana = double.add_user("Ana Teacher")
    team = double.add_team("Grade 3", [ana["id"]])
    user = TeamsUser(double, ana["id"], bot_url=bot.url)
    assert user.say_in_channel("help", team["id"]).status == 200
    assert user.say("plc help").status == 200
    double.wait_for(lambda: len(sent(double)) >= 2 or None)
    channel_card, personal_card = cards_sent(double)
    slack = {line.usage.split(" ")[1] for line in slack_router().help_lines(None)}
    assert _help_names(channel_card) == _help_names(personal_card) == slack
    assert "<at>" not in json.dumps(channel_card)


def _seed_team(bot: Bot, double: TeamsDouble, team: dict[str, Any], facilitator: dict[str, Any]) -> None:
    """The team set up directly in storage (the set-up dialog is another branch's)."""
    with bot.services.db.session() as session:
        school = School(name="Lincoln Elementary", timezone="America/New_York")
        session.add(school)
        session.flush()
        t = Team(school_id=school.id, name="Grade 3", channel_id=team["id"][:32], timezone="America/New_York",
                 meeting_weekdays="mon,tue,wed,thu,fri", meeting_time="15:30", meeting_minutes=45)
        session.add(t)
        person = Person(handle=facilitator["id"], name=facilitator["name"], tz="America/New_York")
        session.add(person)
        session.flush()
        session.add(PersonIdentity(person_id=person.id, platform="teams", workspace=double.tenant_id,
                                   external_id=facilitator["id"]))
        session.add(TeamPlace(team_id=t.id, platform="teams", workspace=double.tenant_id, place_id=team["id"],
                              kind="channel"))
        session.add(Membership(team_id=t.id, person_id=person.id, role="facilitator"))


def test_agenda_in_a_team_channel_posts_the_agenda_card(bot: Bot, double: TeamsDouble) -> None:
    fay = double.add_user("Fay Facilitator")
    team = double.add_team("Grade 3", [fay["id"]])
    _seed_team(bot, double, team, fay)
    user = TeamsUser(double, fay["id"], bot_url=bot.url)
    assert user.say_in_channel("agenda", team["id"]).status == 200
    double.wait_for(lambda: sent(double) or None)
    [card] = cards_sent(double)
    assert "Grade 3" in card_text(card) and "Agenda" in card_text(card)
    assert double.activities(team["id"])


def test_a_command_not_on_teams_yet_says_so(bot: Bot, double: TeamsDouble) -> None:
    ana = double.add_user("Ana Teacher")
    user = TeamsUser(double, ana["id"], bot_url=bot.url)
    from bot.teams.commands import ON_TEAMS, slack_router

    later = sorted({line.usage.split(" ")[1] for line in slack_router().help_lines(None)
                    if line.usage.startswith("/plc ")} - set(ON_TEAMS))
    if not later:
        pytest.skip("every Slack subcommand is on Teams")
    assert user.say(later[0]).status == 200
    double.wait_for(lambda: sent(double) or None)
    assert "coming to Teams soon" in (sent(double)[0].body.get("text") or "")


def _run(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    # This checkout first: the virtualenv's editable install may point at another one.
    full = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PLCBOT_SCHEDULER_INTERVAL": "0.2",
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]), **env}
    return subprocess.Popen([sys.executable, "-m", "bot", "--env-file", "/dev/null", "run"], cwd=tmp_path,
                            env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_plcbot_run_teams_only_starts_and_stops(double: TeamsDouble, tmp_path: Path) -> None:
    port = _free_port()
    proc = _run(tmp_path, _env(double, tmp_path, port))
    try:
        health = _wait_healthy(port)
        assert health["teams"] == "ok" and "slack" not in health
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert double.client_secret not in out


def test_plcbot_run_with_neither_front_exits_2_naming_the_setting(tmp_path: Path) -> None:
    proc = _run(tmp_path, {"DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}"})
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "SLACK_BOT_TOKEN" in out and "TEAMS_CLIENT_ID" in out
    assert len(out.strip().splitlines()) == 1


def test_plcbot_run_refuses_the_sdks_unauthenticated_switch(double: TeamsDouble, tmp_path: Path) -> None:
    env = _env(double, tmp_path, _free_port()) | {"DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS": "false"}
    proc = _run(tmp_path, env)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS" in out
