"""Answers to commands typed on Teams, under Teams' limits: through the real front and the Teams double.

A typed command is acknowledged at once (200 before the command runs), and its answer goes out the
way the ledger's messages do (`bot.teams.replies`): paced under the conversation's limits, a 429
waiting its `Retry-After`, 412/502/504 retried, and never sent twice: not when Teams delivers the
same message again, and not when the send dropped or timed out after Teams stored it. The bot's
services run on the test clock (`harness.START`); the double signs with the machine's clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from bot.teams import replies
from bot.teams_double import TeamsDouble, TeamsUser
from scheduling import keys
from scheduling.clock import FakeClock
from storage.models import Delivery, PersonIdentity
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


def settled(bot: Bot, conversation: str, activity: dict[str, Any], state: str) -> Delivery:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = row(bot, conversation, activity)
        if found.state == state:
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
