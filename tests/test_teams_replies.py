"""Answers to commands typed on Teams, under Teams' limits: through the real front and the Teams double.

A typed command is acknowledged at once (200 before the command runs), and its answer goes out the
way the ledger's messages do (`bot.teams.replies`): paced under the conversation's limits, a 429
waiting its `Retry-After`, 412/502/504 retried, and never sent twice: not when Teams delivers the
same message again, and not when the send dropped or timed out after Teams stored it. The bot's
services run on the test clock (`harness.START`); the double signs with the machine's clock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlmodel import select

from bot.teams import replies
from bot.teams.app import Who
from bot.teams_double import TeamsDouble, TeamsUser
from scheduling import command_replies, delivery, keys, runner
from scheduling import registry as scheduling_registry
from scheduling.clock import FakeClock
from storage.models import AuditEntry, Delivery, PersonIdentity, ScheduledJob
from storage.rules import visibility
from tests.harness import START
from tests.test_teams_front import Bot

pytestmark = pytest.mark.real_clock  # the double signs tokens with the machine's clock; the bot reads the test clock


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Bot, TeamsDouble]]:
    with TeamsDouble() as double:
        front = Bot(double, tmp_path, clock=FakeClock(START))
        try:
            yield front, double
        finally:
            front.stop()


@pytest.fixture
def any_world(tmp_path: Path, any_db_url: str) -> Iterator[tuple[Bot, TeamsDouble]]:
    """`world` on SQLite, and again on PostgreSQL when PLCBOT_TEST_DATABASE_URL is set (the sweep's
    queries and conditional updates on both)."""
    with TeamsDouble() as double:
        front = Bot(double, tmp_path, clock=FakeClock(START), env={"DATABASE_URL": any_db_url})
        try:
            yield front, double
        finally:
            front.stop()


def person(bot: Bot, double: TeamsDouble, name: str = "Ana Teacher") -> TeamsUser:
    return TeamsUser(double, double.add_user(name)["id"], bot_url=bot.url)


def sends(double: TeamsDouble, conversation: str) -> list[Any]:
    return [c for c in double.calls_to("send") if conversation in c.path]


def answers(double: TeamsDouble, conversation: str) -> list[dict[str, Any]]:
    """What the conversation holds from the bot (stored by Teams, whatever the bot heard back)."""
    return double.activities(conversation)


def row(bot: Bot, conversation: str, activity: dict[str, Any]) -> Delivery:
    with bot.services.db.read() as session:
        found = session.exec(select(Delivery).where(
            Delivery.key == keys.command_reply(conversation, activity["id"]))).one()
        session.expunge(found)
        return found


def ledger(bot: Bot) -> dict[str, tuple[str, str | None, int, Any]]:
    """Every ledger row: its state, error, attempts and last touch."""
    with bot.services.db.read() as session:
        return {d.key: (d.state, d.error, d.attempts, d.updated_at) for d in session.exec(select(Delivery)).all()}


def settled(bot: Bot, conversation: str, activity: dict[str, Any], state: str, *,
            error: str | None = None) -> Delivery:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = row(bot, conversation, activity)
        if found.state == state and (error is None or found.error == error):
            return found
        time.sleep(0.05)
    raise AssertionError(f"the answer's row is {found.state} ({found.error}), not {state}")


def test_a_command_typed_during_a_429_storm_is_answered_once_after_it(world: tuple[Bot, TeamsDouble]) -> None:
    bot, double = world
    ana = person(bot, double)
    cid = ana.personal_conversation
    # More 429s than the transport's own retries (7 tries): the ledger keeps the answer pending and it
    # is tried again after what Teams asked to wait.
    double.rate_limit(times=12, retry_after=0.05, op="send")
    reply = ana.say("help")
    assert reply.status == 200 and reply.elapsed < 2.0, reply.body  # acknowledged, not failed with a 500

    [answer] = double.wait_for(lambda: answers(double, cid) or None, timeout=20)
    assert "plcbot commands" in answer["text"] and answer["attachments"][0]["content"]["type"] == "AdaptiveCard"
    assert [c.status for c in sends(double, cid)] == [429] * 12 + [201]  # after the storm, once
    done = settled(bot, cid, reply.activity, "sent")
    with bot.services.db.read() as session:  # the ledger names her by her person row
        [identity] = [i for i in session.exec(select(PersonIdentity)).all() if i.external_id == ana.id]
    assert done.person_id == identity.person_id and done.ts == answer["id"] and done.kind == replies.KIND
    time.sleep(0.3)
    assert len(answers(double, cid)) == 1


def test_the_same_message_delivered_again_is_answered_once(world: tuple[Bot, TeamsDouble]) -> None:
    bot, double = world
    ana = person(bot, double)
    cid = ana.personal_conversation
    activity = ana.personal("message")
    activity.update({"text": "help", "textFormat": "plain"})
    double.slow(0.5, op="send", times=1)  # the first answer is still on its way when Teams sends the message again
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(ana.send(activity).status)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200, 200, 200]
    double.wait_for(lambda: answers(double, cid) or None, timeout=10)
    assert ana.send(activity).status == 200  # and again, once answered
    done = settled(bot, cid, activity, "sent")
    time.sleep(0.5)
    assert len(answers(double, cid)) == len(sends(double, cid)) == 1 and done.attempts == 1


@pytest.mark.parametrize("fault", ["drop", "timeout"])
def test_an_answer_teams_stored_without_saying_so_is_never_posted_again(world: tuple[Bot, TeamsDouble],
                                                                        fault: str) -> None:
    bot, double = world
    ana = person(bot, double)
    cid = ana.personal_conversation
    if fault == "drop":
        double.drop_after_store(op="send")
    else:  # stored, then answered later than the bot waits
        transport: Any = bot.services.transports["teams"]
        transport.http = httpx.Client(timeout=0.5)
        double.slow(1.5, op="send", times=1, after_effect=True)
    reply = ana.say("help")
    assert reply.status == 200
    done = settled(bot, cid, reply.activity, "unknown")  # in doubt: for the operator, never resent
    assert len(answers(double, cid)) == 1
    assert ana.send(reply.activity).status == 200  # Teams delivers the message again: still one answer
    assert ana.say("help").status == 200  # a new message is answered as usual
    double.wait_for(lambda: len(answers(double, cid)) == 2 or None, timeout=10)
    time.sleep(0.5)
    assert len(answers(double, cid)) == 2 and row(bot, cid, reply.activity).attempts == done.attempts == 1


@pytest.mark.parametrize("status", [412, 502, 504])
def test_an_answer_refused_for_now_is_retried(world: tuple[Bot, TeamsDouble], status: int) -> None:
    bot, double = world
    ana = person(bot, double)
    cid = ana.personal_conversation
    double.server_error(status, times=2, op="send")
    reply = ana.say("help")
    assert reply.status == 200
    settled(bot, cid, reply.activity, "sent")
    assert [c.status for c in sends(double, cid)] == [status, status, 201]
    assert len(answers(double, cid)) == 1


def test_the_message_is_acknowledged_before_the_answer_is_sent(world: tuple[Bot, TeamsDouble]) -> None:
    bot, double = world
    ana = person(bot, double)
    cid = ana.personal_conversation
    double.slow(2.0, op="send", times=1)
    reply = ana.say("help")
    assert reply.status == 200 and reply.elapsed < 1.5
    assert answers(double, cid) == []
    double.wait_for(lambda: answers(double, cid) or None, timeout=10)
    settled(bot, cid, reply.activity, "sent")


def test_a_burst_of_commands_is_answered_within_the_conversations_limits(world: tuple[Bot, TeamsDouble]) -> None:
    """Twelve commands typed at once in a channel: twelve answers, paced (8 in 2 s), none refused."""
    bot, double = world
    ana = person(bot, double)
    team = double.add_team("Grade 3 Math", [ana.id])
    channel = team["id"]
    for _ in range(12):
        assert ana.say_in_channel("help", channel).status == 200
    double.wait_for(lambda: len(answers(double, channel)) >= 12 or None, timeout=30)
    time.sleep(0.3)
    assert len(answers(double, channel)) == 12
    assert {c.status for c in sends(double, channel)} == {201}  # the pacer kept under Teams' windows


# ------------------------------------------------------------------------------ what the sender could not finish
def sweep(bot: Bot) -> runner.TickResult:
    """One scheduler tick with only the sweep of owed answers registered (`scheduling.command_replies`)."""
    return runner.tick(bot.services, scheduling_registry.load(["scheduling.command_replies"]), worker="test:1")


def not_in_hand(key: str) -> bool | None:
    return True if not command_replies.in_hand(key) else None


def test_an_answer_still_rate_limited_after_patience_is_sent_once_by_the_sweep(
        world: tuple[Bot, TeamsDouble], monkeypatch: pytest.MonkeyPatch) -> None:
    bot, double = world
    monkeypatch.setattr(replies, "PATIENCE", 0.1)  # the front's patience runs out during the first try
    ana = person(bot, double)
    cid = ana.personal_conversation
    double.rate_limit(times=7, retry_after=0.05, op="send")  # the transport's seven tries, all refused
    reply = ana.say("help")
    assert reply.status == 200
    key = keys.command_reply(cid, reply.activity["id"])
    settled(bot, cid, reply.activity, "pending", error="ratelimited")
    double.wait_for(lambda: not_in_hand(key), timeout=20)  # the front has given up
    left = row(bot, cid, reply.activity)
    assert (left.state, left.error) == ("pending", "ratelimited") and answers(double, cid) == []
    owed = command_replies.Owed.decode(left.body)
    assert owed is not None and owed.answered and "plcbot commands" in (owed.text or "")  # kept with its row

    assert sweep(bot).ran == 0  # touched just now: maybe still someone's to send
    clock: FakeClock = bot.services.clock  # type: ignore[assignment]
    clock.advance(command_replies.RESEND_AFTER)
    assert sweep(bot).ran == 1
    [answer] = answers(double, cid)
    assert "plcbot commands" in answer["text"] and answer["attachments"][0]["content"]["type"] == "AdaptiveCard"
    assert [c.status for c in sends(double, cid)] == [429] * 7 + [201]
    done = row(bot, cid, reply.activity)
    assert done.state == "sent" and done.ts == answer["id"] and done.body is None  # no text lingers

    clock.advance(command_replies.RESEND_AFTER)
    assert sweep(bot).ran == 0 and len(answers(double, cid)) == 1  # nothing more, ever


def test_an_answer_whose_process_died_mid_command_is_owed_one_note(world: tuple[Bot, TeamsDouble]) -> None:
    """The process died after the message was acknowledged, before the command had run (the row owed,
    no answer kept; reserved here as `handle` reserves it, and never sent): after a while the person is
    told once, and the row is settled so they are never told twice."""
    bot, double = world
    ana = person(bot, double)
    cid = ana.personal_conversation
    first = ana.say("help")  # known to the bot (and answered)
    assert first.status == 200
    settled(bot, cid, first.activity, "sent")
    activity = ana.personal("message") | {"text": "agenda", "textFormat": "plain"}
    activity["localTimezone"] = "America/Chicago"
    owed = replies.incoming(activity, Who.of(activity, double.tenant_id))
    assert replies.reserve(bot.services, owed)

    clock: FakeClock = bot.services.clock  # type: ignore[assignment]
    clock.advance(command_replies.RESEND_AFTER)
    assert sweep(bot).ran == 0  # a command may still be running somewhere
    clock.advance(command_replies.INTERRUPTED_AFTER - command_replies.RESEND_AFTER)
    assert sweep(bot).ran == 1
    answered, note = answers(double, cid)
    at = START.astimezone(ZoneInfo("America/Chicago")).strftime("%H:%M")
    assert note["text"] == (f"I was interrupted while answering your message of {at}; it may not have been "
                            "done. Please check, and send it again if needed.")
    gone = row(bot, cid, activity)
    assert (gone.state, gone.error, gone.body) == ("failed", "interrupted", None)
    with bot.services.db.read() as session:
        told = session.exec(select(Delivery).where(Delivery.key == keys.command_interrupted(owed.key))).one()
    assert (told.state, told.kind, told.ts, told.body) == ("sent", command_replies.NOTE_KIND, note["id"], None)
    assert told.person_id == gone.person_id is not None

    clock.advance(command_replies.INTERRUPTED_AFTER * 4)
    assert sweep(bot).ran == 0 and len(answers(double, cid)) == 2  # told once
    before = ledger(bot)
    # Teams delivering that message again changes nothing: the 200 comes after the ledger was asked
    # (`reserve`, in the request), and nothing was owed anew, so nothing is or will be sent.
    assert ana.send(activity).status == 200
    clock.advance(command_replies.INTERRUPTED_AFTER * 4)
    assert sweep(bot).ran == 0
    assert ledger(bot) == before and len(sends(double, cid)) == len(answers(double, cid)) == 2


def test_an_answer_in_doubt_settled_not_arrived_is_resent_once(
        world: tuple[Bot, TeamsDouble], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    bot, double = world
    ana = person(bot, double)
    cid = ana.personal_conversation
    double.drop_after_store(op="send")  # the bot never hears whether Teams stored it
    reply = ana.say("help")
    assert reply.status == 200
    doubt = settled(bot, cid, reply.activity, "unknown")
    assert command_replies.Owed.decode(doubt.body) is not None  # in doubt, the answer is kept
    key = keys.command_reply(cid, reply.activity["id"])
    double.wait_for(lambda: not_in_hand(key), timeout=10)
    clock: FakeClock = bot.services.clock  # type: ignore[assignment]
    clock.advance(command_replies.RESEND_AFTER * 3)
    assert sweep(bot).ran == 0  # in doubt: never resent on a guess, however long
    assert [c.status for c in sends(double, cid)] == [0]

    # The operator asked Ana: it did not arrive (`plcbot jobs settle`, the shipped command line).
    out = plcbot_cli(bot, monkeypatch, capsys, tmp_path, "jobs", "settle", key, "--not-arrived")
    assert "sweep of owed answers sends it once" in out
    assert sweep(bot).ran == 1  # at once: nobody else is sending a row the operator settled
    assert [c.status for c in sends(double, cid)] == [0, 201]
    assert "plcbot commands" in sends(double, cid)[1].body["text"]
    done = row(bot, cid, reply.activity)
    assert (done.state, done.body, done.attempts, done.error) == ("sent", None, 2, None)
    clock.advance(command_replies.RESEND_AFTER * 3)
    assert sweep(bot).ran == 0 and len(sends(double, cid)) == 2


def plcbot_cli(bot: Bot, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], cwd: Path,
               *argv: str, status: int = 0) -> str:
    """`plcbot ARGV` in this process against the bot's database, on the bot's clock: what it printed
    (on stdout; on stderr too when it is expected to fail with `status`)."""
    import bot.cli.jobs as jobs_cli
    from bot.cli import main as cli_main
    from bot.cli.common import services_from

    def on_bot_clock(args: Any) -> Any:
        services = services_from(args)
        services.clock = bot.services.clock
        return services

    monkeypatch.setattr(jobs_cli, "services_from", on_bot_clock)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("DATABASE_URL", bot.settings.database_url)
    for name in ("TEAMS_CLIENT_ID", "TEAMS_CLIENT_SECRET", "TEAMS_TENANT_ID"):
        monkeypatch.setenv(name, str(getattr(bot.settings, name.lower())))
    capsys.readouterr()
    assert cli_main(["--env-file", "/dev/null", *argv]) == status
    printed = capsys.readouterr()
    return printed.out if status == 0 else printed.out + printed.err


@pytest.mark.slow
def test_a_front_killed_while_its_answer_waits_out_a_rate_limit_is_answered_once_by_another_process(
        tmp_path: Path) -> None:
    """Real processes: `plcbot run` (Teams, with its scheduler) acknowledges a command, Teams asks it to
    wait five minutes, and it is SIGKILLed while waiting. A `plcbot scheduler` started after the sweep's
    wait sends the kept answer, once, however often it ticks."""
    from bot.cli.common import open_database
    from bot.settings import from_env
    from tests.scripts.plcbot_at import read_clock, write_clock
    from tests.test_teams_front import _env, _free_port, _wait_healthy

    root = Path(__file__).resolve().parent.parent
    clock_file = tmp_path / "clock"
    write_clock(clock_file, START)
    with TeamsDouble() as double:
        port = _free_port()
        env = {**_env(double, tmp_path, port), "PLCBOT_SCHEDULER_INTERVAL": "0.5"}
        open_database(from_env(env)).dispose()  # migrated, as `Bot` does
        full = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(root),
                "PLCBOT_TEST_CLOCK": str(clock_file), **env}

        def plcbot(*args: str) -> subprocess.Popen[str]:
            return subprocess.Popen([sys.executable, str(root / "tests" / "scripts" / "plcbot_at.py"),
                                     "--env-file", "/dev/null", *args], cwd=tmp_path, env=full,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        db = open_database(from_env(env))
        front = plcbot("run")
        try:
            _wait_healthy(port)
            ana = TeamsUser(double, double.add_user("Ana Teacher")["id"], bot_url=f"http://127.0.0.1:{port}/api/messages")
            cid = ana.personal_conversation
            double.rate_limit(times=1, retry_after=300, op="send")  # longer than the transport sleeps through
            reply = ana.say("help")
            assert reply.status == 200
            key = keys.command_reply(cid, reply.activity["id"])

            def waiting() -> Delivery | None:
                with db.read() as session:
                    found = session.exec(select(Delivery).where(Delivery.key == key)).first()
                    owed = command_replies.Owed.decode(found.body) if found else None
                    ok = found is not None and found.error == "ratelimited" and owed is not None and owed.answered
                    return found if ok else None

            double.wait_for(waiting, timeout=30)
            # The shared clock jumps past the sweep's wait while the front still waits out the 429 (on
            # the machine's clock): its own scheduler now finds the row untouched for RESEND_AFTER and
            # would plan a sweep that sends it, but for the answer being in this process's hands.
            write_clock(clock_file, read_clock(clock_file) + command_replies.RESEND_AFTER)
            time.sleep(2.0)  # its scheduler ticks every 0.5 s
            with db.read() as session:
                planned = session.exec(select(ScheduledJob).where(ScheduledJob.kind == command_replies.JOB_KIND)).all()
            assert planned == [] and answers(double, cid) == [] and [c.status for c in sends(double, cid)] == [429]
            os.kill(front.pid, signal.SIGKILL)
            front.wait(timeout=10)
        finally:
            if front.poll() is None:
                front.kill()
                front.wait()

        scheduler = plcbot("scheduler")  # the row has been left alone past RESEND_AFTER: sent at once
        try:
            [answer] = double.wait_for(lambda: answers(double, cid) or None, timeout=60)
            time.sleep(2.0)  # several more ticks
        finally:
            scheduler.send_signal(signal.SIGTERM)
            out, _ = scheduler.communicate(timeout=30)
        assert "plcbot commands" in answer["text"], out[-2000:]
        assert [c.status for c in sends(double, cid)] == [429, 201] and len(answers(double, cid)) == 1
        with db.read() as session:
            done = session.exec(select(Delivery).where(Delivery.key == key)).one()
        assert (done.state, done.ts, done.body) == ("sent", answer["id"], None)
        db.dispose()


# ------------------------------------------------------------------------------ what the sweep must not do
def owe(bot: Bot, double: TeamsDouble, ana: TeamsUser, text: str = "agenda", *,
        tz: str = "America/Chicago") -> replies.Incoming:
    """A message acknowledged and owed its answer at the clock's time, as `handle` owes it, whose
    command never ran (its process died): the row keeps where the answer goes, and no answer."""
    activity = ana.personal("message") | {"text": text, "textFormat": "plain", "localTimezone": tz}
    owed = replies.incoming(activity, Who.of(activity, double.tenant_id))
    assert replies.reserve(bot.services, owed)
    return owed


def delivery_row(bot: Bot, key: str) -> Delivery | None:
    with bot.services.db.read() as session:
        found = session.exec(select(Delivery).where(Delivery.key == key)).first()
        if found is not None:
            session.expunge(found)
        return found


def test_only_a_recent_interrupted_command_is_told_and_the_note_names_its_day(
        any_world: tuple[Bot, TeamsDouble]) -> None:
    """A row owed before migration 0013 keeps nothing (no answer, nowhere stored to tell): closed
    silently however it is found. A command interrupted a week ago is no news: closed silently.
    One interrupted twenty minutes ago is told with its time, one from yesterday with its day."""
    bot, double = any_world
    ana = person(bot, double)
    cid = ana.personal_conversation
    first = ana.say("help")
    settled(bot, cid, first.activity, "sent")
    clock: FakeClock = bot.services.clock  # type: ignore[assignment]
    now = START + command_replies.TELL_WITHIN  # Mon Dec 7, 07:00 in Chicago
    with bot.services.db.session() as session:  # as the release before 0013 left it: no body at all
        person_id = session.exec(select(Delivery).where(Delivery.kind == replies.KIND)).one().person_id
        old_key = keys.command_reply(cid, "from-before-0013")
        session.add(Delivery(key=old_key, kind=replies.KIND, person_id=person_id, channel_id=cid, state="pending",
                             created_at=START - command_replies.TELL_WITHIN * 4,
                             updated_at=START - command_replies.TELL_WITHIN * 4))
    week_old = owe(bot, double, ana)  # Mon Nov 30, 07:00 Chicago: a week before the sweep
    clock.set(datetime(2026, 12, 6, 22, 5, tzinfo=UTC))
    yesterday = owe(bot, double, ana)  # Sun Dec 6, 16:05 Chicago
    clock.set(now - timedelta(minutes=20))
    recent = owe(bot, double, ana)  # Mon Dec 7, 06:40 Chicago
    clock.set(now)

    assert sweep(bot).ran == 1
    notes = [a["text"] for a in answers(double, cid)[1:]]
    assert sorted(notes) == sorted(command_replies.INTERRUPTED.format(at=at) for at in ("06:40", "Sun Dec 6, 16:05"))
    for key in (old_key, week_old.key):
        gone = delivery_row(bot, key)
        assert gone is not None and (gone.state, gone.error, gone.body) == ("failed", "expired", None)
        assert delivery_row(bot, keys.command_interrupted(key)) is None  # no note owed
    for owed in (yesterday, recent):
        told = delivery_row(bot, keys.command_interrupted(owed.key))
        assert told is not None and told.state == "sent"
        assert (delivery_row(bot, owed.key) or Delivery()).error == "interrupted"
    clock.advance(command_replies.TELL_WITHIN)
    assert sweep(bot).ran == 0 and len(sends(double, cid)) == 3


@contextmanager
def seen_from_another_process(key: str) -> Iterator[None]:
    """A sweep in another process knows nothing of this one's hands: `key` is out of them meanwhile."""
    was = command_replies.in_hand(key)
    with command_replies._in_hand_lock:
        command_replies._in_hand.discard(key)
    try:
        yield
    finally:
        if was:
            with command_replies._in_hand_lock:
                command_replies._in_hand.add(key)


def test_an_answer_queued_behind_others_is_sent_once_by_another_processs_sweep(
        tmp_path: Path) -> None:
    """The answers' pool is busy (here one thread, held by a slow send): the second command's answer
    waits its turn. It was kept with its row when its command ran, so another process's sweep sends
    it once it has waited past RESEND_AFTER (not a note that it was interrupted); the front, when its
    turn comes, finds it sent in the ledger and sends nothing."""
    with TeamsDouble() as double:
        bot = Bot(double, tmp_path, clock=FakeClock(START), env={"PLCBOT_LISTENER_THREADS": "1"})
        try:
            ana = person(bot, double)
            cid = ana.personal_conversation
            double.slow(5.0, op="send", times=1)  # the first answer holds the only sender for 5 s
            first, second = ana.say("help"), ana.say("help")
            assert first.status == second.status == 200
            key = keys.command_reply(cid, second.activity["id"])

            def queued() -> bool | None:
                owed = command_replies.Owed.decode(row(bot, cid, second.activity).body)
                return True if owed is not None and owed.answered else None

            double.wait_for(queued, timeout=10)  # kept by the command's thread, before its turn to be sent
            assert row(bot, cid, first.activity).state == "sending" and command_replies.in_hand(key)
            clock: FakeClock = bot.services.clock  # type: ignore[assignment]
            clock.advance(command_replies.INTERRUPTED_AFTER)  # past RESEND_AFTER too
            with seen_from_another_process(key):
                assert sweep(bot).ran == 1
            [answer] = answers(double, cid)  # the second's, sent by the sweep
            assert "plcbot commands" in answer["text"] and row(bot, cid, second.activity).ts == answer["id"]
            assert row(bot, cid, first.activity).state == "sending"  # the front had not got to it yet

            double.wait_for(lambda: not_in_hand(key), timeout=20)  # the front's turn came, and went
            settled(bot, cid, first.activity, "sent")
            done = row(bot, cid, second.activity)
            assert (done.state, done.attempts, done.body) == ("sent", 1, None)
            assert delivery_row(bot, keys.command_interrupted(key)) is None
            assert len(answers(double, cid)) == 2 and [c.status for c in sends(double, cid)] == [201, 201]
        finally:
            bot.stop()


def test_an_answer_in_hand_is_left_alone_however_the_clock_moves(any_world: tuple[Bot, TeamsDouble]) -> None:
    """Regression (4bbc23d): what this process is answering is neither resent nor told interrupted,
    whatever the injected clock says, and does not take the place of due rows in the sweep's batch."""
    bot, double = any_world
    ana = person(bot, double)
    cid = ana.personal_conversation
    first = ana.say("help")
    settled(bot, cid, first.activity, "sent")
    running = owe(bot, double, ana)  # its command still running here
    waiting = owe(bot, double, ana, "help")  # its answer kept, waiting here for its turn
    assert replies.keep(bot.services, waiting, "the answer", None)
    dead = owe(bot, double, ana)  # nobody's: its process died
    clock: FakeClock = bot.services.clock  # type: ignore[assignment]
    with command_replies.answering(running.key), command_replies.answering(waiting.key):
        clock.advance(command_replies.RESEND_AFTER + command_replies.INTERRUPTED_AFTER)
        assert [f.key for f in command_replies.due(bot.services, clock.now(), limit=1)] == [dead.key]
        assert sweep(bot).ran == 1
        clock.advance(command_replies.RESEND_AFTER + command_replies.INTERRUPTED_AFTER)
        assert sweep(bot).ran == 0
    for owed in (running, waiting):
        left = delivery_row(bot, owed.key)
        assert left is not None and (left.state, left.error) == ("pending", None)
    assert (delivery_row(bot, dead.key) or Delivery()).error == "interrupted"
    assert len(sends(double, cid)) == 2  # the first answer, and the note for the dead one


def test_an_answer_in_doubt_for_a_week_keeps_where_it_went_not_what_it_said(
        any_world: tuple[Bot, TeamsDouble], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    bot, double = any_world
    ana = person(bot, double)
    cid = ana.personal_conversation
    double.drop_after_store(op="send")
    reply = ana.say("help")
    doubt = settled(bot, cid, reply.activity, "unknown")
    key = keys.command_reply(cid, reply.activity["id"])
    double.wait_for(lambda: not_in_hand(key), timeout=10)
    clock: FakeClock = bot.services.clock  # type: ignore[assignment]
    clock.advance(command_replies.FORGET_AFTER - timedelta(minutes=1))
    assert sweep(bot).ran == 0 and row(bot, cid, reply.activity).body == doubt.body  # kept a week

    clock.advance(timedelta(minutes=2))
    assert sweep(bot).ran == 1
    forgot = row(bot, cid, reply.activity)
    owed = command_replies.Owed.decode(forgot.body)
    assert owed is not None and not owed.answered and owed.recipient == cid and "plcbot" not in (forgot.body or "")
    assert (forgot.state, forgot.error, forgot.updated_at) == ("unknown", doubt.error, doubt.updated_at)
    clock.advance(command_replies.FORGET_AFTER)
    assert sweep(bot).ran == 0
    assert f"while owed, {command_replies.FORGET_AFTER.days} days at most" in visibility.DELIVERIES.what  # as promised

    # Settled as not arrived now: no answer to send, so the person is told once it did not reach them.
    out = plcbot_cli(bot, monkeypatch, capsys, tmp_path, "jobs", "settle", key, "--not-arrived")
    assert "tells them once that the answer to their message did not reach them" in out
    assert sweep(bot).ran == 1
    local = START.astimezone(ZoneInfo(owed.tz or bot.settings.timezone))
    assert sends(double, cid)[-1].body["text"] == command_replies.NOT_ARRIVED.format(
        at=f"{local:%a %b} {local.day}, {local:%H:%M}")
    gone = row(bot, cid, reply.activity)
    assert (gone.state, gone.error, gone.body) == ("failed", command_replies.TOLD_NOT_ARRIVED, None)
    clock.advance(command_replies.RESEND_AFTER)
    assert sweep(bot).ran == 0 and [c.status for c in sends(double, cid)] == [0, 201]


def test_an_answer_still_being_sent_cannot_be_settled_not_arrived(
        world: tuple[Bot, TeamsDouble], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Its sender may still be retrying it for RESEND_AFTER: settled as not arrived, the sweep would
    send it at once beside it. The command line refuses, changes nothing, and the answer arrives once."""
    bot, double = world
    ana = person(bot, double)
    cid = ana.personal_conversation
    double.slow(6.0, op="send", times=1)
    reply = ana.say("help")
    key = keys.command_reply(cid, reply.activity["id"])
    sending = settled(bot, cid, reply.activity, "sending")
    clock: FakeClock = bot.services.clock  # type: ignore[assignment]
    clock.advance(delivery.IN_FLIGHT + timedelta(seconds=30))  # past a job's in-flight wait, not RESEND_AFTER

    out = plcbot_cli(bot, monkeypatch, capsys, tmp_path, "jobs", "settle", key, "--not-arrived", status=2)
    assert len(out.strip().splitlines()) == 1 and "sending" in out and "Nothing was changed" in out, out
    left = row(bot, cid, reply.activity)
    assert (left.state, left.error, left.updated_at, left.attempts) == (
        "sending", None, sending.updated_at, sending.attempts)
    with bot.services.db.read() as session:
        assert session.exec(select(AuditEntry).where(AuditEntry.action == "delivery.settle")).all() == []

    settled(bot, cid, reply.activity, "sent")
    clock.advance(command_replies.RESEND_AFTER)
    assert sweep(bot).ran == 0 and len(answers(double, cid)) == len(sends(double, cid)) == 1
