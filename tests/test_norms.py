"""Norms through the Slack double: edited in the modal, posted, committed to, history, refusals."""

from __future__ import annotations

import json

from sqlmodel import select

from storage.models import Norm, NormCommitment, NormRevision
from storage.people import person_by_slack_id
from tests.seed import seed_team


def _modal(bot, user_id, callback_id):
    return bot.double.wait_for(
        lambda: next((v for v in reversed(bot.double.open_views(user_id)) if v["callback_id"] == callback_id), None)
    )


def _last_response(bot) -> str:
    bot.wait_idle()
    return json.dumps(bot.double.responses()[-1]) if bot.double.responses() else ""


def _edit(bot, user_id, channel, text):
    bot.user(user_id).command("norms edit", channel=channel)
    bot.wait_idle()
    view = _modal(bot, user_id, "norms_edit")
    reply = bot.user(user_id).submit(view, {"norms": {"text": text}})
    bot.wait_idle()
    return reply


def _bot_messages(bot, channel):
    return [m for m in bot.double.messages(channel) if m.get("bot_id")]


def test_norms_edited_posted_committed_and_asked_again(bot):
    team = seed_team(bot)
    fac, t1, t2 = "UFAC", "UT1", "UT2"
    reply = _edit(bot, fac, team.channel, "1. Start and end on time\n- Assume good intentions\n\nBe present")
    assert reply.status == 200 and not (reply.json or {}).get("errors")
    with bot.db.read() as session:
        norms = session.exec(select(Norm).order_by(Norm.position)).all()
        assert [n.text for n in norms] == ["Start and end on time", "Assume good intentions", "Be present"]
        revisions = session.exec(select(NormRevision)).all()
        assert [(r.version, r.changed_by_id) for r in revisions] == [(1, person_by_slack_id(session, fac).id)]
    # The change is announced in the channel with the commit button.
    announced = _bot_messages(bot, team.channel)
    assert len(announced) == 1 and "updated the norms" in json.dumps(announced[0]["blocks"])

    bot.user(t1).command("norms", channel=team.channel)
    bot.wait_idle()
    posted = _bot_messages(bot, team.channel)[-1]
    text = json.dumps(posted["blocks"])
    assert "1. Start and end on time" in text and "3. Be present" in text
    assert "0 of 4 members have committed" in text

    bot.user(t1).click(posted, "norms_commit")
    bot.user(t1).click(posted, "norms_commit")  # a double click stores one commitment
    bot.wait_idle()
    with bot.db.read() as session:
        assert len(session.exec(select(NormCommitment)).all()) == 1
    updated = next(m for m in bot.double.messages(team.channel) if m["ts"] == posted["ts"])
    assert "1 of 4 members have committed" in json.dumps(updated["blocks"])

    bot.user(fac).command("norms who", channel=team.channel)
    who = _last_response(bot)
    assert "Not yet committed to version 1" in who and "<@UT2>" in who and "<@UT1>" not in who.split("Committed:")[0]

    # A change asks again: the old button no longer counts.
    _edit(bot, fac, team.channel, "Start and end on time\nBe present\nShare the airtime")
    bot.user(t2).click(posted, "norms_commit")
    assert "have changed" in _last_response(bot)
    bot.user(fac).command("norms who", channel=team.channel)
    assert "version 2" in _last_response(bot) and "<@UT1>" in _last_response(bot)

    bot.user(t1).command("norms history", channel=team.channel)
    history = _last_response(bot)
    assert "v2" in history and "v1" in history and "added 1, removed 1" in history


def test_norms_editor_refuses_bad_input_and_changes_nothing(bot):
    team = seed_team(bot)
    too_many = "\n".join(f"Norm number {i}" for i in range(13))
    reply = _edit(bot, "UFAC", team.channel, too_many)
    assert "at most 12" in reply.json["errors"]["norms"]
    view = _modal(bot, "UFAC", "norms_edit")
    reply = bot.user("UFAC").submit(view, {"norms": {"text": "x" * 241}})
    assert "under 240" in reply.json["errors"]["norms"]
    with bot.db.read() as session:
        assert session.exec(select(NormRevision)).all() == []
    # Submitting the same norms twice stores one revision.
    _edit(bot, "UFAC", team.channel, "Be kind")
    _edit(bot, "UFAC", team.channel, "Be kind")
    with bot.db.read() as session:
        assert len(session.exec(select(NormRevision)).all()) == 1


def test_only_facilitators_edit_norms_even_with_a_forged_submission(bot):
    team = seed_team(bot)
    bot.user("UT1").command("norms edit", channel=team.channel)
    assert "Only this team's facilitators" in _last_response(bot)
    assert bot.double.open_views("UT1") == []
    # A member replays a facilitator's modal: the server still checks the role.
    bot.user("UFAC").command("norms edit", channel=team.channel)
    bot.wait_idle()
    view = _modal(bot, "UFAC", "norms_edit")
    reply = bot.user("UT1").submit(view, {"norms": {"text": "Members decide alone"}})
    assert "facilitators" in reply.json["errors"]["norms"]
    with bot.db.read() as session:
        assert session.exec(select(Norm)).all() == []


def test_a_norm_cannot_ping_the_channel(bot):
    team = seed_team(bot)
    _edit(bot, "UFAC", team.channel, "<!channel> listen & <@UT1> leads")
    bot.user("UT1").command("norms", channel=team.channel)
    bot.wait_idle()
    for message in _bot_messages(bot, team.channel):
        raw = json.dumps(message)
        assert "<!channel>" not in raw
        assert "&lt;!channel&gt; listen &amp; &lt;@UT1&gt; leads" in raw


def test_norms_outside_a_team_channel_say_how_to_start(bot):
    seed_team(bot)
    bot.double.add_channel("CRANDOM", name="random", members=["UT1"])
    bot.user("UT1").command("norms", channel="CRANDOM")
    assert "/plc setup" in _last_response(bot)


def test_a_forged_commit_click_cannot_rewrite_another_bot_message(bot):
    """The click's container names the message to refresh; a forged one pointing at another of
    the bot's messages (someone's DM) must not turn it into the norms."""
    team = seed_team(bot)
    _edit(bot, "UFAC", team.channel, "Be on time")
    posted = _bot_messages(bot, team.channel)[-1]
    bot.user("UFAC").command("action <@UT2|ut2> Bring the data", channel=team.channel)
    bot.wait_idle()
    [dm] = bot.double.messages("UT2")
    forged = {**posted, "ts": dm["ts"], "channel": dm["channel"]}
    bot.user("UT1").click(forged, "norms_commit")
    bot.wait_idle()
    with bot.db.read() as session:
        assert len(session.exec(select(NormCommitment)).all()) == 1  # the commitment itself is fine
    after = next(m for m in bot.double.messages("UT2") if m["ts"] == dm["ts"])
    assert "Our norms" not in json.dumps(after) and "Bring the data" in json.dumps(after)
    # The genuine message in the team's channel is refreshed as before.
    bot.user("UT3").click(posted, "norms_commit")
    bot.wait_idle()
    refreshed = next(m for m in bot.double.messages(team.channel) if m["ts"] == posted["ts"])
    assert "2 of 4 members have committed" in json.dumps(refreshed["blocks"])
