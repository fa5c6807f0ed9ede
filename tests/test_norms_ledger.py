"""`/plc norms` posts through the delivery ledger: a connection dropped after Slack stored the post
settles as that one post (no apology, no second copy), a channel the bot is not in still gets the
clear "invite me" answer, and each new `/plc norms` is a post of its own."""

from __future__ import annotations

import json

from sqlmodel import select

from handlers.errors import OUR_FAULT
from handlers.norms import NOT_IN_CHANNEL
from storage import norms as store
from storage.models import Delivery
from tests.seed import seed_team


def _with_norms(bot):
    team = seed_team(bot)
    with bot.db.session() as session:
        store.save_norms(session, team_id=team.team_id, norms=["Start and end on time", "Be present"], by="UFAC",
                         now=bot.clock.now())
    return team


def _norms_posts(bot, channel):
    return [m for m in bot.double.messages(channel)
            if m.get("bot_id") and "norms_commit" in json.dumps(m.get("blocks") or [])]


def _texts(bot):
    return [r.get("text", "") for r in bot.double.responses()]


def test_a_norms_post_stored_before_the_connection_dropped_is_found_not_posted_again(bot):
    team = _with_norms(bot)
    bot.double.drop_after_accept("chat.postMessage", times=1)
    bot.user("UT1").command("norms", channel=team.channel)
    bot.wait_idle()

    [posted] = _norms_posts(bot, team.channel)
    shown = json.dumps(posted["blocks"])
    assert "1. Start and end on time" in shown and "2. Be present" in shown and "updated the norms" not in shown
    assert [c.error for c in bot.double.calls if c.method == "chat.postMessage"] == ["dropped_after_accept"]
    assert not any(OUR_FAULT in t or "did not confirm" in t for t in _texts(bot)), _texts(bot)
    with bot.db.read() as session:
        [row] = session.exec(select(Delivery).where(Delivery.kind == "norms_post")).all()
    assert row.state == "sent" and row.ts == posted["ts"] and row.channel_id == team.channel
    assert row.key.startswith(f"norms-post:{team.team_id}:")

    # The commit button on the settled post works as on any other.
    bot.user("UT1").click(posted, "norms_commit")
    bot.wait_idle()
    [updated] = _norms_posts(bot, team.channel)
    assert "1 of 4 members have committed" in json.dumps(updated["blocks"])


def test_norms_in_a_channel_the_bot_is_not_in_say_how_to_invite_it_and_post_nothing(bot):
    team = _with_norms(bot)
    bot.double.remove_bot_from(team.channel)
    bot.user("UT1").command("norms", channel=team.channel)
    bot.wait_idle()

    assert _texts(bot)[-1] == NOT_IN_CHANNEL
    assert NOT_IN_CHANNEL == "I can't post in this channel. Invite me with `/invite @plcbot` and try again."
    assert not [m for m in bot.double.messages(team.channel) if m.get("bot_id")]

    # Invited, the next `/plc norms` posts (a new request, a new key: the refused one stays refused).
    bot.double.add_bot_to(team.channel)
    bot.user("UT1").command("norms", channel=team.channel)
    bot.wait_idle()
    assert len(_norms_posts(bot, team.channel)) == 1
    with bot.db.read() as session:
        states = sorted((r.state, r.error) for r in session.exec(select(Delivery)
                                                                  .where(Delivery.kind == "norms_post")).all())
    assert states == [("failed", "not_in_channel"), ("sent", None)]


def test_each_norms_command_posts_the_norms_again(bot):
    team = _with_norms(bot)
    for _ in range(2):
        bot.user("UT2").command("norms", channel=team.channel)
        bot.wait_idle()
    assert len(_norms_posts(bot, team.channel)) == 2
    assert not _texts(bot)
