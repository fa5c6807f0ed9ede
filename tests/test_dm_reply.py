"""Answers DMed to someone about their own click or form (no ephemeral reply can reach them) go
through the delivery ledger: a connection dropped after Slack stored the DM leaves one DM, found
by its key, where the retrying client used to post it again."""

from __future__ import annotations

from sqlmodel import select

from handlers import teams as h
from handlers.dm_reply import KIND
from storage.models import Delivery, Team
from tests.seed import seed_team
from tests.test_teams import _school, _setup_modal, _values


def _dm_replies(bot, user_id):
    return [m for m in bot.double.messages(user_id)
            if ((m.get("metadata") or {}).get("event_payload") or {}).get("key", "").startswith(f"dm-reply:{user_id}:")]


def _rows(bot):
    with bot.db.read() as session:
        return [(r.state, r.key) for r in session.exec(select(Delivery).where(Delivery.kind == KIND)).all()]


def test_a_setup_answer_dmed_before_the_connection_dropped_is_sent_once(bot):
    school_id = _school(bot)
    bot.double.add_channel("CG3", name="grade-3-math", members=["UFAC", "UT1", "UT2"])
    bot.user("UPRIN").command("setup", channel="CG3")
    view = _setup_modal(bot, "UPRIN")
    bot.double.drop_after_accept("chat.postMessage", times=1)
    bot.user("UPRIN").submit(view, {**_values(), h.B_SCHOOL: {h.V: str(school_id)}})
    bot.wait_idle()

    with bot.db.read() as session:
        assert session.exec(select(Team)).one().channel_id == "CG3"
    dropped = [c for c in bot.double.calls if c.method == "chat.postMessage"]
    assert [(c.params.get("channel"), c.error) for c in dropped] == [("UPRIN", "dropped_after_accept")]
    [dm] = _dm_replies(bot, "UPRIN")  # the principal is not in the channel: told by DM, once
    assert "is set up" in dm["text"]
    assert _rows(bot) == [("sent", f"dm-reply:UPRIN:{view['id']}")]


def test_a_feedback_button_outside_any_channel_answers_by_dm_once(bot):
    seed_team(bot)
    home = {"type": "home", "id": "VHOME1", "blocks": [
        {"type": "actions", "block_id": "fb", "elements": [
            {"type": "button", "action_id": "feedback_open", "value": "999999",
             "text": {"type": "plain_text", "text": "Give feedback"}}]}]}
    bot.double.drop_after_accept("chat.postMessage", times=1)
    bot.user("UT1").click(home, "feedback_open")
    bot.wait_idle()

    [dm] = _dm_replies(bot, "UT1")
    assert dm["text"] and [c.error for c in bot.double.calls if c.method == "chat.postMessage"] == [
        "dropped_after_accept"]
    [(state, key)] = _rows(bot)
    assert state == "sent" and key.startswith("dm-reply:UT1:")
