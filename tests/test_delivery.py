"""The ledgered send path: a message owed is sent once, whatever fails in between."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import select

from bot.slack_transport import EVENT_TYPE
from scheduling.delivery import deliver
from storage.models import Delivery, Person


def _keyed(bot, user_id: str, key: str) -> list[dict]:
    return [
        m for m in bot.double.messages(user_id)
        if (m.get("metadata") or {}).get("event_payload", {}).get("key") == key
    ]


def _teacher(bot, user_id: str = "UT1", **kwargs) -> None:
    bot.double.add_user(user_id, name=user_id.lower(), **kwargs)
    with bot.db.session() as session:
        session.add(Person(handle=user_id, name=user_id))


def _row(bot, key: str) -> Delivery:
    with bot.db.read() as session:
        return session.exec(select(Delivery).where(Delivery.key == key)).one()


def test_sending_twice_sends_once_and_remembers_the_dm(bot):
    _teacher(bot)
    first = deliver(bot.services, key="k1", kind="test", recipient="UT1", text="hello")
    second = deliver(bot.services, key="k1", kind="test", recipient="UT1", text="hello")
    assert first.sent and second.sent and second.already
    assert len(_keyed(bot, "UT1", "k1")) == 1
    assert first.channel_id and first.channel_id.startswith("D")
    with bot.db.read() as session:
        person = session.exec(select(Person).where(Person.handle == "UT1")).one()
    assert person.dm_channel_id == first.channel_id


def test_connection_dropped_after_slack_stored_the_message(bot):
    _teacher(bot)
    bot.double.drop_after_accept("chat.postMessage", times=1)
    outcome = deliver(bot.services, key="k2", kind="test", recipient="UT1", text="hello")
    assert outcome.sent and outcome.already
    assert len(_keyed(bot, "UT1", "k2")) == 1
    assert _row(bot, "k2").state == "sent"


def test_a_row_left_sending_by_a_crash_is_resolved_from_history(bot):
    _teacher(bot)
    dm = bot.double.dm_channel_id("UT1")
    # The process died after Slack stored the post and before the row said "sent".
    bot.services.slack.chat_postMessage(
        channel="UT1", text="hello", metadata={"event_type": EVENT_TYPE, "event_payload": {"key": "k3"}}
    )
    old = bot.clock.now() - timedelta(minutes=10)
    with bot.db.session() as session:
        session.add(Delivery(key="k3", kind="test", channel_id=dm, state="sending",
                             created_at=old, updated_at=old))
    outcome = deliver(bot.services, key="k3", kind="test", recipient="UT1", text="hello")
    assert outcome.sent and outcome.already
    assert len(_keyed(bot, "UT1", "k3")) == 1


def test_a_row_left_sending_that_never_reached_slack_is_sent_once(bot):
    _teacher(bot)
    old = bot.clock.now() - timedelta(minutes=10)
    with bot.db.session() as session:
        session.add(Delivery(key="k4", kind="test", state="sending",
                             created_at=old, updated_at=old))
    outcome = deliver(bot.services, key="k4", kind="test", recipient="UT1", text="hello")
    assert outcome.sent and not outcome.already
    assert len(_keyed(bot, "UT1", "k4")) == 1


def test_a_send_in_another_workers_hands_is_left_alone(bot):
    _teacher(bot)
    now = bot.clock.now()
    with bot.db.session() as session:
        session.add(Delivery(key="k5", kind="test", state="sending",
                             created_at=now, updated_at=now))
    outcome = deliver(bot.services, key="k5", kind="test", recipient="UT1", text="hello")
    assert outcome.state == "in_flight"
    assert bot.double.calls_to("chat.postMessage") == []


def test_a_deactivated_teacher_is_recorded_as_failed_not_retried(bot):
    _teacher(bot, "UGONE", deleted=True)
    outcome = deliver(bot.services, key="k6", kind="test", recipient="UGONE", text="hello")
    assert outcome.state == "failed" and outcome.error == "account_inactive"
    again = deliver(bot.services, key="k6", kind="test", recipient="UGONE", text="hello")
    assert again.state == "failed"
    assert len(bot.double.calls_to("chat.postMessage")) == 1


def test_rate_limited_posts_wait_for_retry_after(bot):
    _teacher(bot)
    bot.double.rate_limit("chat.postMessage", retry_after=1, times=2)
    outcome = deliver(bot.services, key="k7", kind="test", recipient="UT1", text="hello")
    assert outcome.sent
    assert len(_keyed(bot, "UT1", "k7")) == 1


def test_doubt_that_cannot_be_resolved_is_reported_not_guessed(bot, caplog):
    _teacher(bot)
    bot.double.drop_after_accept("chat.postMessage", times=1)
    bot.double.server_error("conversations.history", times=None)
    with caplog.at_level(logging.ERROR, logger="plcbot.delivery"):
        outcome = deliver(bot.services, key="k8", kind="test", recipient="UT1", text="hello")
    assert outcome.state == "unknown"
    assert _row(bot, "k8").state == "unknown"
    assert any("could not be checked" in r.getMessage() for r in caplog.records)
    # Once Slack answers again, the next attempt finds the message instead of posting twice.
    bot.double.reset_faults()
    bot.clock.advance(timedelta(minutes=5))
    outcome = deliver(bot.services, key="k8", kind="test", recipient="UT1", text="hello")
    assert outcome.sent and outcome.already
    assert len(_keyed(bot, "UT1", "k8")) == 1


def test_a_worker_deciding_about_a_row_makes_the_other_wait_then_send_nothing(any_db_url):
    """Two workers owe the same message at once (the sweep of owed answers and a front, or two
    processes): the first holds the row while it decides; the second waits for it, sees the row
    in flight, and sends nothing. Without the row lock, PostgreSQL's second reader saw "pending"
    and sent again."""
    from scheduling.delivery import _load
    from tests.harness import BotHarness
    from tests.races import Hold, race

    bot = BotHarness(any_db_url).start()
    try:
        _teacher(bot)
        with bot.db.session() as session:
            session.add(Delivery(key="k9", kind="test", state="pending", created_at=bot.clock.now(),
                                 updated_at=bot.clock.now()))
        outcomes: list[object] = []

        def first(hold: Hold) -> None:  # what `claim` does, paused while it holds the row
            with bot.db.session() as session:
                row = _load(session, "k9", lock=True)
                assert row is not None and row.state == "pending"
                row.state, row.updated_at = "sending", bot.clock.now()
                session.add(row)
                session.flush()
                hold(session)

        def second() -> None:
            outcomes.append(deliver(bot.services, key="k9", kind="test", recipient="UT1", text="hello"))

        assert race(bot, first, second) == []
        [outcome] = outcomes
        assert outcome.state == "in_flight"  # type: ignore[attr-defined]
        assert _keyed(bot, "UT1", "k9") == []
    finally:
        bot.stop()
