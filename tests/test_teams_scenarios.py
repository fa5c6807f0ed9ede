"""The whole Teams path as scenarios (issue 25, "How it will be checked"): scheduled work through the
real scheduler, the delivery ledger and `TeamsTransport` over HTTP to the Teams double, and people
answering through the bot's `POST /api/messages` with activities the double signs.

People are Teams-only (a `PersonIdentity` with the conversation reference: 1:1 conversation id,
service URL, tenant, Teams user id), set up in storage as `bench/teams_round.py` does; the set-up
dialog is tested elsewhere.

1. A check-in round to 40 teachers: one card each in their 1:1 chat; each answers with
   `Action.Execute` and gets the card updated in place; a doubled click stores one answer.
2. The principal's digest: the summary card, then the file consent card; accept → the workbook
   is PUT to the double's upload URL and a file info card follows; decline → the card says how to
   ask again. The ledger's file row ends sent once.
3. A 429 storm during a round: every card delivered once and the round done.
4. A connection dropped after Teams stored a message: that row is "unknown", reported (the log
   names it, the round's job says what is not confirmed, `plcbot jobs` shows it), never resent;
   everyone else gets theirs.
5. SIGKILL mid-round (a real `plcbot jobs run` process) and an immediate rerun: nobody gets two
   cards, everyone not in flight at the kill gets exactly one, and the few in flight end
   "unknown" and reported: Teams has no history to check them against.
6. Forged, expired, wrong-audience tokens → 401: `tests/test_teams_front.py`
   (`test_bad_tokens_get_401_and_nothing_is_stored_or_sent`), not repeated here.

Every Adaptive Card the bot sends or answers with is checked against the 1.5 schema and the 28 KB
limit.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlmodel import col, select

from bench.teams_round import CLIENT_ID, DUE, SECRET, TENANT_ID
from bench.teams_round import seed as seed_round
from bot.services import Services, build_services
from bot.settings import Settings, from_env
from bot.teams.transport import ADAPTIVE_CARD, FILE_CONSENT, FILE_INFO, KEY_FIELD
from bot.teams_double import TeamsDouble, TeamsUser
from scheduling import keys, runner
from scheduling import registry as scheduling_registry
from scheduling.clock import FakeClock
from storage import jobs, migrate
from storage.db import Database
from storage.models import Checkin, Delivery, Person, PersonIdentity, ScheduledJob, School, SchoolLeader
from storage.rules.digest import IsoWeek
from tests.harness import checkin_of as checkin_where
from tests.scripts.plcbot_at import write_clock
from tests.test_teams_cards import problems, wrapped_size

pytestmark = pytest.mark.real_clock  # the double signs tokens with the machine's clock

ROOT = Path(__file__).resolve().parent.parent
PLCBOT_AT = ROOT / "tests" / "scripts" / "plcbot_at.py"
TEACHERS = 40
LIMIT = 28_000


# ------------------------------------------------------------------------------ the world
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(double: TeamsDouble, db_url: str, port: int) -> dict[str, str]:
    return {"TEAMS_CLIENT_ID": CLIENT_ID, "TEAMS_CLIENT_SECRET": SECRET, "TEAMS_TENANT_ID": TENANT_ID,
            "TEAMS_PORT": str(port), "HOST": "127.0.0.1", "TEAMS_OPENID_METADATA_URL": double.openid_metadata_url,
            "TEAMS_LOGIN_URL": double.login_url, "DATABASE_URL": db_url}


@dataclass
class World:
    double: TeamsDouble
    settings: Settings
    services: Services
    clock: FakeClock
    users: list[str]
    db_url: str
    server: Any = None

    @property
    def bot_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.teams_port}/api/messages"

    def start_front(self) -> None:
        from bot.teams.server import TeamsServer

        self.server = TeamsServer(self.settings, self.services)
        self.server.start_thread()
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(  # noqa: S310 - loopback
                        f"http://127.0.0.1:{self.settings.teams_port}/healthz", timeout=2):
                    return
            except Exception:  # noqa: BLE001 - still starting
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def person(self, user_id: str) -> TeamsUser:
        return TeamsUser(self.double, user_id, bot_url=self.bot_url)

    def tick(self, modules: tuple[str, ...] = ("scheduling.checkins",), *, passes: int = 6) -> ScheduledJob:
        """Run the check-in round as the scheduler does; a released round is run again at its due time."""
        registry = scheduling_registry.load(list(modules))
        for _ in range(passes):
            runner.tick(self.services, registry, worker="scenario")
            job = round_job(self)
            if job.state != "pending":
                return job
            self.clock.set(max(job.due_at, self.clock.now()))
        return round_job(self)

    def checkin_cards(self, user_id: str) -> list[dict[str, Any]]:
        return [a for a in self.double.seen_by(user_id)
                if str(((a.get("channelData") or {}).get(KEY_FIELD) or {}).get("key", "")).startswith("checkin:")]

    def rows(self, kind: str = "checkin") -> list[Delivery]:
        with self.services.db.read() as session:
            found = list(session.exec(select(Delivery).where(Delivery.kind == kind)).all())
            for row in found:
                session.expunge(row)
            return found


def round_job(world: World) -> ScheduledJob:
    with world.services.db.read() as session:
        job = session.exec(select(ScheduledJob).where(ScheduledJob.kind == "checkin_round")
                           .order_by(col(ScheduledJob.due_at))).first()
        assert job is not None
        session.expunge(job)
        return job


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with TeamsDouble(client_id=CLIENT_ID, client_secret=SECRET, tenant_id=TENANT_ID) as double:
        users = [f"29:1scen{i:05d}" for i in range(TEACHERS)]
        chats: dict[str, str | None] = {}
        for user_id in users:
            double.add_user(f"Teacher {user_id[-5:]}", user_id=user_id)
            chats[user_id] = double.personal_conversation(user_id)
        db_url = f"sqlite:///{tmp_path / 'scenarios.db'}"
        settings = from_env(env_for(double, db_url, _free_port()))
        db = Database(db_url)
        migrate.upgrade(db, backup=False)
        clock = FakeClock(DUE - timedelta(days=3))
        services = build_services(settings, db=db, clock=clock)
        seed_round(db, users, chats, double.service_url)
        runner.plan(services, scheduling_registry.load(["scheduling.checkins"]))
        clock.set(DUE)
        w = World(double, settings, services, clock, users, db_url)
        try:
            yield w
        finally:
            if w.server is not None:
                w.server.stop()
            db.dispose()


# ------------------------------------------------------------------------------ card checks
def every_card_sent(double: TeamsDouble) -> list[dict[str, Any]]:
    """Every Adaptive Card the bot posted or updated, each valid Adaptive Card 1.5 within 28 KB."""
    found = []
    for call in double.calls:
        if call.op not in ("send", "update") or not isinstance(call.body, dict):
            continue
        for att in call.body.get("attachments") or []:
            if att.get("contentType") == ADAPTIVE_CARD:
                assert problems(att["content"]) == [], (call.op, att["content"])
                assert wrapped_size(att["content"], call.body.get("summary") or "") <= LIMIT
                found.append(att["content"])
    return found


def valid_answer(reply: Any) -> dict[str, Any]:
    """The card an `Action.Execute` answered with (it replaces the clicked card for the clicker)."""
    assert reply.status == 200, reply.body
    body = reply.json
    assert body["statusCode"] == 200 and body["type"] == ADAPTIVE_CARD, body
    assert problems(body["value"]) == [] and wrapped_size(body["value"]) <= LIMIT
    return dict(body["value"])


def checkin_of(world: World, user_id: str) -> Checkin:
    with world.services.db.read() as session:
        row = session.exec(select(Checkin).where(checkin_where(user_id))).one()
        session.expunge(row)
        return row


# ------------------------------------------------------------------------------ 1. a round, answered
def test_a_round_to_forty_teachers_one_card_each_answered_in_place_and_a_doubled_click_stores_once(world):
    world.start_front()
    job = world.tick()
    assert job.state == "done", job.last_error
    for user_id in world.users:
        [card] = world.checkin_cards(user_id)
        assert card["conversationId"] == world.double.personal_conversation(user_id)
        assert card["channelData"][KEY_FIELD]["key"] == keys.checkin(job_id_cycle(world), user_id, 1)
    assert Counter(r.state for r in world.rows()) == {"sent": TEACHERS}
    assert len(every_card_sent(world.double)) == TEACHERS

    progress = ("On track", "Some progress", "Stuck, I'd like support")
    replies: dict[str, Any] = {}

    def answer(i_user: tuple[int, str]) -> None:
        i, user_id = i_user
        [card] = world.checkin_cards(user_id)
        replies[user_id] = world.person(user_id).click(card, progress[i % 3])

    threads = [threading.Thread(target=answer, args=((i, u),)) for i, u in enumerate(world.users[1:], 1)]
    # The first teacher's click arrives twice at once (Teams' client retry, a double click).
    [first_card] = world.checkin_cards(world.users[0])
    doubled: list[Any] = []
    threads += [threading.Thread(target=lambda: doubled.append(world.person(world.users[0]).click(
        first_card, "Some progress"))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    for i, user_id in enumerate(world.users[1:], 1):
        reply = replies[user_id]
        assert reply.elapsed < 5.0  # Teams' invoke deadline
        updated = json.dumps(valid_answer(reply), ensure_ascii=False)
        assert "You answered" in updated and "One click is enough" not in updated  # the answered card
        wanted = ("on_track", "some_progress", "stuck")[i % 3]
        assert checkin_of(world, user_id).progress == wanted
    assert len(doubled) == 2
    for reply in doubled:
        valid_answer(reply)
    first = checkin_of(world, world.users[0])
    assert (first.progress, first.answered_at is not None) == ("some_progress", True)
    with world.services.db.read() as session:
        answered = session.exec(select(Checkin).where(col(Checkin.answered_at).is_not(None))).all()
    assert len(answered) == TEACHERS  # one answer each, the doubled click included
    # Still one card per teacher: the answer replaced the card for the clicker, nothing was posted.
    assert all(len(world.checkin_cards(u)) == 1 for u in world.users)
    every_card_sent(world.double)


def job_id_cycle(world: World) -> int:
    return int(json.loads(round_job(world).payload or "{}")["cycle_id"])


# ------------------------------------------------------------------------------ 2. the digest
def add_principal(world: World, user_id: str, name: str) -> None:
    world.double.add_user(name, user_id=user_id)
    cid = world.double.personal_conversation(user_id)
    with world.services.db.session() as session:
        school = session.exec(select(School)).one()
        person = Person(handle=user_id, name=name, tz="America/New_York")
        session.add(person)
        session.flush()
        session.add(PersonIdentity(person_id=person.id or 0, platform="teams", workspace=TENANT_ID,
                                   external_id=user_id, conversation_id=cid, service_url=world.double.service_url,
                                   created_at=DUE - timedelta(days=7)))
        session.add(SchoolLeader(school_id=school.id or 0, person_id=person.id or 0))


def test_the_digest_summary_then_file_consent_accept_uploads_the_workbook_and_decline_says_how_to_ask_again(world):
    world.start_front()
    assert world.tick().state == "done"  # some check-ins for the workbook to hold
    accepter, decliner = "29:1principal-a", "29:1principal-d"
    add_principal(world, accepter, "Pat Principal")
    add_principal(world, decliner, "Dee Principal")
    week = IsoWeek.of(DUE.date())
    with world.services.db.session() as session:
        school = session.exec(select(School)).one()
        school_id = school.id or 0
        digest = jobs.schedule(session, kind="digest", dedupe_key=keys.digest_job(school_id, week.label),
                               due_at=DUE, school_id=school_id, payload={"week": week.label})
        session.flush()
        digest_id = digest.id or 0
    # The digest job as `plcbot jobs run ID` runs it (the planner would move it to the school's digest time).
    assert runner.run_now(world.services, scheduling_registry.load(["scheduling.digest"]), digest_id) == "done"
    with world.services.db.read() as session:
        digest_job = session.exec(select(ScheduledJob).where(ScheduledJob.kind == "digest")).one()
    assert digest_job.state == "done", digest_job.last_error

    for principal in (accepter, decliner):
        seen = world.double.seen_by(principal)
        kinds = [a["attachments"][0]["contentType"] for a in seen]
        assert kinds == [ADAPTIVE_CARD, FILE_CONSENT], kinds
        assert "Bench School" in json.dumps(seen[0]["attachments"][0]["content"])
    every_card_sent(world.double)

    # Accept: the bot PUTs the workbook to the upload URL and posts the file info card.
    [offer] = world.double.file_consents(accepter)
    reply = world.person(accepter).file_consent(offer, "accept")
    assert reply.status == 200, reply.body
    uploaded = world.double.wait_for(lambda: world.double.uploaded(offer["uniqueId"]))
    book = openpyxl.load_workbook(BytesIO(uploaded))
    assert book.sheetnames[0] == "Summary" and "Check-ins" in book.sheetnames
    assert "Bench team" in json.dumps([list(r) for r in book["Summary"].iter_rows(values_only=True)], default=str)
    world.double.wait_for(lambda: len(world.double.seen_by(accepter)) == 3)
    info = world.double.seen_by(accepter)[-1]["attachments"][0]
    assert info["contentType"] == FILE_INFO and info["content"]["uniqueId"] == offer["uniqueId"]
    # Teams retries the invoke: nothing is uploaded or posted twice.
    assert world.person(accepter).file_consent(offer, "accept").status == 200
    time.sleep(0.2)
    assert len(world.double.calls_to("upload")) == 1 and len(world.double.seen_by(accepter)) == 3
    file_row = keys.digest_file(school_id, week.label, accepter)
    [row] = [r for r in world.rows("digest-file") if r.key == file_row]
    assert (row.state, row.ts) == ("sent", offer["uniqueId"][:32])  # uploaded, no longer only offered
    [summary] = [r for r in world.rows("digest") if r.key == keys.digest(school_id, week.label, accepter)]
    assert summary.state == "sent"

    # Decline: the consent card is replaced by one saying how to ask again; nothing uploaded.
    [declined_offer] = world.double.file_consents(decliner)
    assert world.person(decliner).file_consent(declined_offer, "decline").status == 200
    consent_card = world.double.wait_for(lambda: next(
        (a for a in world.double.seen_by(decliner) if a["id"] == declined_offer["activityId"]
         and a["attachments"][0]["contentType"] == ADAPTIVE_CARD), None))
    assert f"digest {week.label}" in json.dumps(consent_card)
    assert world.double.uploaded(declined_offer["uniqueId"]) is None
    [gone] = [r for r in world.rows("digest-file") if r.key == keys.digest_file(school_id, week.label, decliner)]
    assert (gone.state, gone.error) == ("failed", "declined")
    every_card_sent(world.double)


# ------------------------------------------------------------------------------ 3. a 429 storm
def test_a_429_storm_during_a_round_delivers_every_card_once_and_the_round_finishes(world):
    world.double.rate_limit(times=30, retry_after=0.05, op="send")
    job = world.tick()
    assert job.state == "done", job.last_error
    assert all(len(world.checkin_cards(u)) == 1 for u in world.users)
    assert Counter(r.state for r in world.rows()) == {"sent": TEACHERS}
    assert sum(1 for c in world.double.calls_to("send") if c.status == 429) == 30
    every_card_sent(world.double)


# ------------------------------------------------------------------------------ 4. stored, then dropped
def test_a_send_stored_then_dropped_is_unknown_reported_and_never_resent(world, caplog, monkeypatch, capsys, tmp_path):
    world.double.drop_after_store(times=1, op="send")
    with caplog.at_level(logging.WARNING):
        job = world.tick(passes=1)
    [dropped] = [c for c in world.double.calls_to("send") if c.status == 0]
    cid = dropped.path.split("/")[3]
    [victim] = [u for u in world.users if world.double.personal_conversation(u) == cid]
    key = keys.checkin(job_id_cycle(world), victim, 1)
    # Teams holds it; the bot never got the answer and cannot ask Teams: in doubt, reported.
    assert len(world.checkin_cards(victim)) == 1
    rows = {r.key: r for r in world.rows()}
    assert (rows[key].state, rows[key].error) == ("unknown", "unresolved: teams_no_history")
    assert Counter(r.state for r in rows.values()) == {"sent": TEACHERS - 1, "unknown": 1}
    assert any(key in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    assert job.state == "pending" and "1 check-in deliveries not confirmed" in (job.last_error or "")
    # `plcbot jobs` shows the operator the round waiting on it.
    from bot.cli import main as cli_main

    monkeypatch.chdir(tmp_path)
    for name, value in env_for(world.double, world.db_url, 0).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TEAMS_PORT")
    assert cli_main(["jobs"]) == 0
    out = capsys.readouterr().out
    assert "not confirmed" in out
    # ... and which message is in doubt, to whom: the operator can ask that teacher.
    with world.services.db.read() as session:
        name = session.exec(select(Person).where(Person.handle == victim)).one().name
    [doubt] = [line for line in out.splitlines() if key in line]
    assert name and f"to {name}" in doubt and "Messages in doubt" in out
    # The round's later passes look again and never send it twice; the others are untouched.
    world.clock.advance(timedelta(minutes=5))
    world.tick(passes=3)
    assert len(world.checkin_cards(victim)) == 1
    assert all(len(world.checkin_cards(u)) == 1 for u in world.users)
    assert [c for c in world.double.calls_to("send") if c.body["channelData"][KEY_FIELD]["key"] == key] == [dropped]
    every_card_sent(world.double)


# ------------------------------------------------------------------------------ 5. SIGKILL and rerun
class Plcbot:
    """`plcbot …` in real processes on a clock the test shares with them (tests/scripts/plcbot_at.py)."""

    def __init__(self, world: World, tmp_path: Path) -> None:
        self.world, self.cwd = world, tmp_path
        self.clock_file = tmp_path / "clock"
        write_clock(self.clock_file, DUE)

    def start(self, *args: str) -> subprocess.Popen[str]:
        env = env_for(self.world.double, self.world.db_url, _free_port())
        env.pop("TEAMS_PORT")
        full = {"PATH": os.environ["PATH"], "HOME": str(self.cwd), "PYTHONPATH": str(ROOT),
                "PLCBOT_TEST_CLOCK": str(self.clock_file), **env}
        return subprocess.Popen([sys.executable, str(PLCBOT_AT), "--env-file", "/dev/null", *args], cwd=self.cwd,
                                env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def advance(self, delta: timedelta) -> None:
        from tests.scripts.plcbot_at import read_clock

        write_clock(self.clock_file, read_clock(self.clock_file) + delta)


def stored_checkins(world: World) -> int:
    return sum(len(world.checkin_cards(u)) for u in world.users)


@pytest.mark.slow
def test_a_round_killed_mid_way_and_rerun_at_once_sends_no_second_card(world, tmp_path):
    job = round_job(world)
    plcbot = Plcbot(world, tmp_path)
    world.double.slow(0.15, op="send")  # each card takes a while: the kill lands mid-round
    proc = plcbot.start("jobs", "run", str(job.id))
    try:
        deadline = time.monotonic() + 30
        while stored_checkins(world) < 12 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.5)  # requests already in the double's hands are stored (Teams got them)
    got = stored_checkins(world)
    assert 0 < got < TEACHERS, "the kill must land mid-round"
    in_flight = {r.key for r in world.rows() if r.state == "sending"}
    assert in_flight, "some sends were in the dead process's hands"

    # Rerun at once: taken over from the dead process; everything not in flight goes out.
    again = plcbot.start("jobs", "run", str(job.id))
    out, _ = again.communicate(timeout=60)
    assert again.returncode == 0, out[-3000:]
    assert "its process has ended" in out
    assert f"Job {job.id} (checkin_round): pending" in out  # it gave itself back for the in-flight ones
    rows = {r.key: r for r in world.rows()}
    assert {k for k, r in rows.items() if r.state != "sent"} == in_flight

    # After the ledger's in-flight window, the round looks at them again: Teams cannot be asked,
    # so they stay "unknown" and are reported, never sent a second time.
    plcbot.advance(timedelta(minutes=2))
    last = plcbot.start("jobs", "run", str(job.id))
    out, _ = last.communicate(timeout=60)
    assert last.returncode == 0, out[-3000:]
    assert f"Job {job.id} (checkin_round): pending" in out and "not confirmed" in out
    rows = {r.key: r for r in world.rows()}
    assert {k for k, r in rows.items() if r.state == "unknown"} == in_flight
    assert Counter(r.state for r in rows.values()) == {"sent": TEACHERS - len(in_flight), "unknown": len(in_flight)}
    for key in in_flight:
        assert key in out  # the log names each one for the operator
    cycle = job_id_cycle(world)
    for user_id in world.users:
        cards = world.checkin_cards(user_id)
        assert len(cards) <= 1, user_id  # nobody gets two
        if keys.checkin(cycle, user_id, 1) not in in_flight:
            assert len(cards) == 1, user_id  # everyone else gets exactly one
    every_card_sent(world.double)


# ------------------------------------------------------------------------------ 4b. the operator settles it
def test_a_message_in_doubt_is_settled_by_the_operator_not_arrived_sends_once_arrived_sends_nothing(
        world, monkeypatch, capsys, tmp_path):
    """`plcbot jobs settle KEY --not-arrived | --arrived` after a send stored then dropped: the
    footer says how; --not-arrived makes the next `plcbot jobs run ID` send it exactly once; --arrived
    (on a second message in doubt) marks it sent and no run sends it; anything not in doubt, or a key
    the ledger does not hold, is refused in one line with nothing changed; each settling is audited."""
    import bot.cli.jobs as jobs_cli
    from bot.cli import main as cli_main
    from bot.cli.common import services_from
    from storage.models import AuditEntry

    def on_world_clock(args):  # noqa: ANN001, ANN202 - the CLI on the scenario's clock (any real date)
        services = services_from(args)
        services.clock = world.clock
        return services

    monkeypatch.setattr(jobs_cli, "services_from", on_world_clock)
    monkeypatch.chdir(tmp_path)
    for name, value in env_for(world.double, world.db_url, 0).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TEAMS_PORT")

    def plcbot(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        status = cli_main(["--env-file", "/dev/null", *argv])
        out = capsys.readouterr()
        return status, out.out, out.err

    def sends_of(key: str) -> int:
        return sum(1 for c in world.double.calls_to("send") if c.body["channelData"][KEY_FIELD]["key"] == key)

    world.double.drop_after_store(times=2, op="send")
    job = world.tick(passes=1)
    dropped = [c for c in world.double.calls_to("send") if c.status == 0]
    assert len(dropped) == 2
    cycle_id = job_id_cycle(world)
    victims = [next(u for u in world.users if world.double.personal_conversation(u) == c.path.split("/")[3])
               for c in dropped]
    lost, arrived = (keys.checkin(cycle_id, v, 1) for v in victims)
    rows = {r.key: r for r in world.rows()}
    assert rows[lost].state == rows[arrived].state == "unknown"

    status, out, _ = plcbot("jobs")
    assert status == 0 and lost in out and arrived in out
    assert "plcbot jobs settle KEY --arrived" in out and "--not-arrived" in out

    # Refusals: one line, exit 2, nothing changed.
    [sent_key] = [k for k, r in rows.items() if r.state == "sent"][:1]
    status, _, err = plcbot("jobs", "settle", sent_key, "--arrived")
    assert status == 2 and len(err.strip().splitlines()) == 1 and "is sent" in err and "Nothing was changed" in err
    status, _, err = plcbot("jobs", "settle", "checkin:0:nobody:1", "--not-arrived")
    assert status == 2 and len(err.strip().splitlines()) == 1 and "no message with the key" in err
    status, _, err = plcbot("jobs", "settle", "  ", "--arrived")
    assert status == 2 and "KEY" in err
    with pytest.raises(SystemExit) as refused:  # one of the two is required, and never both
        cli_main(["jobs", "settle", lost])
    assert refused.value.code == 2
    with pytest.raises(SystemExit) as refused:
        cli_main(["jobs", "settle", lost, "--arrived", "--not-arrived"])
    assert refused.value.code == 2
    assert {r.key: r.state for r in world.rows()} == {k: r.state for k, r in rows.items()}

    # The operator learnt one did not arrive and the other did.
    status, out, err = plcbot("jobs", "settle", lost, "--not-arrived")
    assert (status, err) == (0, ""), err
    assert f"plcbot jobs run {job.id}" in out
    status, out, err = plcbot("jobs", "settle", arrived, "--arrived")
    assert (status, err) == (0, ""), err
    rows = {r.key: r for r in world.rows()}
    assert (rows[lost].state, rows[arrived].state) == ("pending", "sent")
    status, _, err = plcbot("jobs", "settle", arrived, "--not-arrived")  # settled already: not in doubt
    assert status == 2 and "is sent" in err

    # The next run of the round sends the lost one once, the arrived one never; reruns send nothing.
    for _ in range(2):
        status, out, err = plcbot("jobs", "run", str(job.id))
        assert status == 0, (out, err)
        assert sends_of(lost) == 2 and sends_of(arrived) == 1
    assert Counter(r.state for r in world.rows()) == {"sent": TEACHERS}
    assert round_job(world).state == "done"
    status, out, _ = plcbot("jobs")
    assert "Messages in doubt" not in out
    with world.services.db.read() as session:
        settled = session.exec(select(AuditEntry).where(AuditEntry.action == "delivery.settle")
                               .order_by(col(AuditEntry.id))).all()
        assert [(e.target, e.actor_label.startswith("cli:")) for e in settled] == [(lost, True), (arrived, True)]
        assert "unknown → pending" in settled[0].detail and "unknown → sent" in settled[1].detail
    every_card_sent(world.double)
