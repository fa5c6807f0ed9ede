"""Optional smoke test: the real Teams front driven by Microsoft 365 Agents Playground.

The playground (npm `@microsoft/m365agentsplayground`, pinned to PLAYGROUND_VERSION) is Microsoft's
local stand-in for the Teams client and the Bot Connector. It is not a dependency: install it once
into the repository's `.playground/` folder (ignored by git) and this test runs; without it, or
without Node.js, the test is skipped. The suite never downloads it.

    npm install --prefix .playground @microsoft/m365agentsplayground@0.2.28

How it is wired, and why:

- The playground sends activities **unsigned**: no `Authorization` header at all unless it is given
  a client id and secret, and then it asks login.microsoftonline.com for an Entra token (a network
  this suite does not reach, and a token whose issuer is not `https://api.botframework.com`, which
  the bot's validator requires). The bot never accepts unsigned requests (the Teams SDK's
  unauthenticated switch is refused by `plcbot run` and forced off by `TeamsFront`), and this test
  does not weaken that: an unsigned activity straight from the playground gets 401 (checked below).
- So the playground talks to the bot through a relay: the relay signs each activity the way the Bot
  Connector does, with the Teams double's key (the loopback issuer that `TEAMS_OPENID_METADATA_URL`
  names in every Teams test; its `serviceurl` claim is the activity's `serviceUrl`), forwards it to
  `POST /api/messages`, and hands back the bot's answer.
- The playground's connector address is the relay too (`--service-url`): what the bot sends to the
  connector is recorded on its way to the playground, which answers it. The double still issues
  the bot's own outgoing token (`TEAMS_LOGIN_URL`); the playground, given no credentials, does not
  check it.

The bot runs on the injected clock (`harness.START`); the double and the playground sign and stamp
with the machine's clock, hence `real_clock`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.teams_double import TeamsDouble
from scheduling.clock import FakeClock
from storage.models import Membership, Person, PersonIdentity, School, Team, TeamPlace
from tests.harness import START
from tests.test_teams_cards import problems, wrapped_size
from tests.test_teams_front import CARD, Bot, _free_port

pytestmark = [pytest.mark.real_clock, pytest.mark.slow]

PLAYGROUND_VERSION = "0.2.28"
REPO = Path(__file__).resolve().parents[1]
PLAYGROUND = REPO / ".playground" / "node_modules" / "@microsoft" / "m365agentsplayground"
INSTALL = f"npm install --prefix .playground @microsoft/m365agentsplayground@{PLAYGROUND_VERSION}"
ZONE = "America/New_York"


def _installed_version() -> str | None:
    try:
        return str(json.loads((PLAYGROUND / "package.json").read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return None


def _skip_reason() -> str | None:
    if shutil.which("node") is None:
        return "Node.js (node) is not installed: the Agents Playground needs it"
    version = _installed_version()
    if version is None or not (PLAYGROUND / "cli.js").is_file():
        return f"Microsoft 365 Agents Playground is not installed; to run this test: {INSTALL}"
    if version != PLAYGROUND_VERSION:
        return f"Agents Playground {version} found, this test is written for {PLAYGROUND_VERSION}: {INSTALL}"
    return None


# ------------------------------------------------------------------------------ the relay
@dataclass
class Sent:
    """One call the bot made to the (playground's) connector, and the playground's answer."""

    method: str
    path: str
    body: Any
    status: int
    answer: bytes


@dataclass
class Relay:
    """Between the playground and the bot: `/api/messages` signed and forwarded to the bot,
    `/_connector/…` recorded and forwarded to the playground."""

    double: TeamsDouble
    bot_url: str
    playground: str = ""  # http://127.0.0.1:PORT, once it is up
    port: int = 0
    to_bot: list[tuple[dict[str, Any], int]] = field(default_factory=list)  # (activity, the bot's status)
    to_connector: list[Sent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> ThreadingHTTPServer:
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:  # the playground checks the endpoint is up
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _answer(self, status: int, data: bytes, content_type: str | None) -> None:
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                self._forward("POST")

            def do_PUT(self) -> None:
                self._forward("PUT")

            def do_GET(self) -> None:
                self._forward("GET")

            def do_DELETE(self) -> None:
                self._forward("DELETE")

            def _forward(self, method: str) -> None:
                data = self._body() if method in ("POST", "PUT") else b""
                if self.path.startswith("/api/messages"):
                    activity = json.loads(data or b"{}")
                    # Signed as the Bot Connector signs: by the issuer the bot trusts, for this serviceUrl.
                    token = relay.double.sign_for_bot(service_url=str(activity.get("serviceUrl") or ""))
                    status, answer, kind = _http(method, relay.bot_url, data,
                                                 {"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
                    with relay.lock:
                        relay.to_bot.append((activity, status))
                    self._answer(status, answer, kind)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
                status, answer, kind = _http(method, relay.playground + self.path, data, headers)
                try:
                    body = json.loads(data) if data else None
                except ValueError:
                    body = data.decode(errors="replace")
                with relay.lock:
                    relay.to_connector.append(Sent(method, self.path, body, status, answer))
                self._answer(status, answer, kind)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(server.server_address[1])
        threading.Thread(target=server.serve_forever, name="playground-relay", daemon=True).start()
        return server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sent(self) -> list[Sent]:
        with self.lock:
            return list(self.to_connector)


def _http(method: str, url: str, data: bytes, headers: dict[str, str]) -> tuple[int, bytes, str | None]:
    request = urllib.request.Request(url, data=data if method in ("POST", "PUT") else None, headers=headers,
                                     method=method)
    try:
        with urllib.request.urlopen(request, timeout=15) as r:  # noqa: S310 - loopback only
            return r.status, r.read(), r.headers.get("Content-Type")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers.get("Content-Type")


def _json(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else b""
    status, answer, _ = _http(method, url, data, {"Content-Type": "application/json"})
    try:
        return status, json.loads(answer) if answer else None
    except ValueError:
        return status, answer.decode(errors="replace")


# ------------------------------------------------------------------------------ the playground
class Playground:
    """`agentsplayground start` headless on a free port, its endpoint and connector the relay."""

    def __init__(self, relay: Relay, workdir: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "playground.log"
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(workdir), "TEAMSAPPTESTER_BROWSER": "none"}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                ["node", str(PLAYGROUND / "cli.js"), "start", "-e", f"{relay.url}/api/messages", "-c", "msteams",
                 "-p", str(self.port), "--service-url", f"{relay.url}/_connector", "--disable-telemetry"],
                cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.config = self._wait_up()

    def _wait_up(self, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the playground exited ({self.proc.returncode}): {self.output()}")
            try:
                status, body = _json("GET", f"{self.url}/_internal/v1/config")
                if status == 200 and isinstance(body, dict):
                    return dict(body["config"])
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the playground did not come up on {self.port}: {self.output()}")

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]

    def say(self, conversation: str, text: str, *, mention_bot: bool = False) -> dict[str, Any]:
        """What the current user types, through the playground's conversation API."""
        body: dict[str, Any] = {"from": {"id": self.config["currentUser"]["id"]}, "text": text, "textFormat": "plain"}
        if mention_bot:
            at = f"<at>{self.config['bot']['name']}</at>"
            body["text"] = f"{at} {text}"
            body["mentions"] = [{"mentioned": {"id": self.config["bot"]["id"]}, "text": at}]
        status, answer = _json("POST", f"{self.url}/_conversation/v1/conversations/{conversation}/messages", body)
        assert status == 200, (status, answer)
        return dict(answer)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


# ------------------------------------------------------------------------------ fixtures
@dataclass
class World:
    bot: Bot
    double: TeamsDouble
    relay: Relay
    playground: Playground


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    reason = _skip_reason()
    if reason is not None:
        pytest.skip(reason)
    with TeamsDouble() as double:
        bot = Bot(double, tmp_path, clock=FakeClock(START))
        relay = Relay(double, bot.url)
        server = relay.start()
        playground = None
        try:
            work = tmp_path / "playground"
            work.mkdir()
            playground = Playground(relay, work)
            relay.playground = playground.url
            yield World(bot, double, relay, playground)
        finally:
            if playground is not None:
                playground.stop()
            server.shutdown()
            server.server_close()
            bot.stop()


def cards_into(world: World, conversation: str, *, after: int = 0, timeout: float = 15.0) -> list[dict[str, Any]]:
    """Wait for the bot's Adaptive Cards sent into `conversation` (through the relay, accepted by the
    playground), each checked against the Adaptive Card 1.5 schema and Teams' 28 KB limit."""

    def found() -> list[Sent] | None:
        calls = [s for s in world.relay.sent()[after:]
                 if s.method == "POST" and f"/v3/conversations/{conversation}" in s.path and isinstance(s.body, dict)
                 and any(a.get("contentType") == CARD for a in s.body.get("attachments") or [])]
        return calls or None

    deadline = time.monotonic() + timeout
    calls = found()
    while calls is None and time.monotonic() < deadline:
        time.sleep(0.05)
        calls = found()
    assert calls, (f"no card from the bot in {conversation}; the bot answered {[s for _, s in world.relay.to_bot]}; "
                   f"connector calls {[(s.method, s.path, s.status) for s in world.relay.sent()]}; "
                   f"playground: {world.playground.output()}")
    cards = []
    for call in calls:
        assert 200 <= call.status < 300, (call.status, call.answer[:500])  # the playground took it
        for att in call.body.get("attachments") or []:
            if att.get("contentType") == CARD:
                assert problems(att["content"]) == [], json.dumps(att["content"])[:2000]
                assert wrapped_size(att["content"], call.body.get("text") or "") <= 28_000
                cards.append(att["content"])
    return cards


def _seed_team_in_channel(world: World, channel: str, tenant: str) -> None:
    """A PLC team whose place is the playground's team channel, led by the playground's current user
    (the set-up dialog needs dialogs, which the playground does not support)."""
    me = world.playground.config["currentUser"]
    with world.bot.services.db.session() as session:
        school = School(name="Lincoln Elementary", timezone=ZONE, created_at=START)
        session.add(school)
        session.flush()
        team = Team(school_id=school.id, name="Grade 3 Math", channel_id=channel[:32], timezone=ZONE,
                    meeting_weekdays="mon,tue,wed,thu,fri", meeting_time="15:30", meeting_minutes=45,
                    created_at=START)
        session.add(team)
        person = Person(handle=me["id"], name=me["name"], tz=ZONE, created_at=START)
        session.add(person)
        session.flush()
        session.add(PersonIdentity(person_id=person.id, platform="teams", workspace=tenant, external_id=me["id"],
                                   created_at=START))
        session.add(TeamPlace(team_id=team.id, platform="teams", workspace=tenant, place_id=channel, kind="channel"))
        session.add(Membership(team_id=team.id, person_id=person.id, role="facilitator"))


def _wait(predicate: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


# ------------------------------------------------------------------------------ the test
def test_help_and_agenda_through_the_agents_playground(world: World) -> None:
    config = world.playground.config
    personal = config["personalChat"]["id"]
    tenant = str(config["tenantId"]).lower()
    [team] = config["teams"][:1]
    channel = team["id"]  # the team's General channel has the team's id, as in Teams

    _seed_team_in_channel(world, channel, tenant)

    # help in the personal chat: the command list as a card
    world.playground.say(personal, "help")
    [card] = cards_into(world, personal)
    text = json.dumps(card)
    assert "What you can do with plcbot" in text and "agenda" in text
    # the activity reached the bot signed (through the relay), and the bot answered it 200
    answered = _wait(lambda: list(world.relay.to_bot) or None)
    assert [status for _, status in answered] == [200]
    assert all(activity.get("serviceUrl") == f"{world.relay.url}/_connector" for activity, _ in world.relay.to_bot)

    # agenda in the team's channel, @mentioning the bot: the agenda card of the team seeded there
    before = len(world.relay.sent())
    world.playground.say(channel, "agenda", mention_bot=True)
    [card] = cards_into(world, channel, after=before)
    text = json.dumps(card)
    assert "Grade 3 Math" in text and "Agenda" in text
    assert "Mon Nov 30" in text  # today's meeting on the injected clock (harness.START), not the machine's
    assert [status for _, status in _wait(lambda: world.relay.to_bot[1:] or None)] == [200]

    # The playground's own, unsigned request is refused by the bot: the relay's signature is what let it in.
    activity, _ = world.relay.to_bot[0]
    status, _, _ = _http("POST", world.bot.url, json.dumps(activity).encode(), {"Content-Type": "application/json"})
    assert status == 401
