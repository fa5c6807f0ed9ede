"""Teams commands through the real front: signed activities from the Teams double to
`POST /api/messages`, the set-up dialog reading the team's roster, then the subcommands, on the
test clock (`harness.START`, a Monday morning in term time, injected into the services): what the
bot says (the cycle's week, the next meetings, the digest's week) is the same whatever today's date.

Every card the person saw is checked against the Adaptive Card 1.5 schema and Teams' 28 KB limit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.teams import setup as team_setup
from bot.teams_double import TeamsDouble, TeamsUser
from scheduling.clock import FakeClock
from storage.models import ActionItem, Cycle, Meeting, Membership, Person, PersonIdentity, School, Team, TeamPlace
from tests.harness import START
from tests.test_teams_cards import problems, wrapped_size
from tests.test_teams_front import CARD, Bot, sent

pytestmark = pytest.mark.real_clock  # the double signs tokens with the machine's clock; the bot reads the test clock
ZONE = "America/New_York"


@pytest.fixture
def double() -> Iterator[TeamsDouble]:
    with TeamsDouble() as d:
        yield d


@pytest.fixture
def bot(double: TeamsDouble, tmp_path: Path) -> Iterator[Bot]:
    b = Bot(double, tmp_path, clock=FakeClock(START))
    yield b
    b.stop()


def checked(content: dict[str, Any], text: str = "") -> dict[str, Any]:
    assert problems(content) == [], json.dumps(content)[:2000]
    assert wrapped_size(content, text) <= 28_000
    return content


class Replies:
    """What the bot sent into a conversation, message by message, in order."""

    def __init__(self, double: TeamsDouble) -> None:
        self.double = double
        self.read: dict[str, int] = {}

    def skip(self, conversation: str) -> None:
        """What was sent there so far is read (a notice before the reply waited for)."""
        self.read[conversation] = len([c for c in sent(self.double) if conversation in c.path])

    def next(self, conversation: str) -> tuple[str, dict[str, Any] | None]:
        """Wait for the bot's next message in `conversation`: (its text, its card checked, or None)."""
        seen = self.read.get(conversation, 0)

        def more() -> list[Any] | None:
            found = [c for c in sent(self.double) if conversation in c.path]
            return found if len(found) > seen else None

        body = self.double.wait_for(more, timeout=10)[seen].body or {}
        self.read[conversation] = seen + 1
        time.sleep(0.3)  # a person types slower than Teams' 8 messages in 2 s a conversation (the double enforces it)
        cards = [a["content"] for a in body.get("attachments") or [] if a.get("contentType") == CARD]
        card = checked(cards[0], body.get("text") or "") if cards else None
        return str(body.get("text") or ""), card


def dialog_card(reply: Any) -> dict[str, Any]:
    assert reply.status == 200, reply.text
    task = reply.json["task"]
    assert task["type"] == "continue", task
    return checked(task["value"]["card"]["content"])


def inputs(content: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in content["body"] if str(e.get("type", "")).startswith("Input.")}


def words(node: Any) -> str:
    return json.dumps(node, ensure_ascii=False)


def mention_in_channel(user: TeamsUser, double: TeamsDouble, team_id: str, command: str,
                       who: dict[str, Any], after: str) -> Any:
    """`@plcbot COMMAND @who AFTER` in the team's channel, with both mention entities as Teams sends them."""
    activity = user.in_channel("message", team_id)
    bot_at, person_at = f"<at>{double.bot_name}</at>", f"<at>{who['name']}</at>"
    activity.update({"text": f"{bot_at} {command} {person_at} {after}", "textFormat": "plain"})
    activity["entities"] += [
        {"type": "mention", "text": bot_at, "mentioned": {"id": double.bot_id, "name": double.bot_name}},
        {"type": "mention", "text": person_at, "mentioned": {"id": who["id"], "name": who["name"]}},
    ]
    return user.send(activity)


def test_setup_from_the_roster_then_cycle_norms_meetings_actions_and_home(bot: Bot, double: TeamsDouble,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(team_setup, "ROSTER_PAGE", 2)  # three people: the roster comes in two pages
    replies = Replies(double)
    fay = double.add_user("Fay Facilitator")
    ana = double.add_user("Ana Teacher")
    ben = double.add_user("Ben Teacher")
    team = double.add_team("Grade 3 Math", [fay["id"], ana["id"], ben["id"]])
    channel = team["id"]
    with bot.services.db.session() as session:  # a self-service school: a teacher may set up its first team
        session.add(School(name="Lincoln Elementary", timezone=ZONE, self_service=True))
    fay_user, ana_user = (TeamsUser(double, u["id"], bot_url=bot.url) for u in (fay, ana))

    # ---- set-up: the command's card, its button opens the dialog with the team's roster
    assert fay_user.say_in_channel("setup", channel).status == 200
    text, card = replies.next(channel)
    assert card is not None and "Set up this team" in words(card)
    [button] = card["actions"]
    assert button["data"]["msteams"] == {"type": "task/fetch"}
    pages_before = len(double.calls_to("members"))
    form = dialog_card(fay_user.task_fetch({k: v for k, v in button["data"].items() if k != "msteams"},
                                           team_id=channel))
    pages = double.calls_to("members")[pages_before:]
    assert [c.query.get("continuationToken") is not None for c in pages] == [False, True]  # page by page
    assert all(c.path.endswith("/pagedmembers") and c.status == 200 for c in pages)
    fields = inputs(form)
    roster = {c["title"]: c["value"] for c in fields["members"]["choices"]}
    assert roster == {"Fay Facilitator": fay["id"], "Ana Teacher": ana["id"], "Ben Teacher": ben["id"]}
    assert fields["name"]["value"] == "Grade 3 Math"
    assert fields["facilitators"]["value"] == fay["id"]  # a self-service school's first team: its creator leads
    school_id = fields["school"]["choices"][0]["value"]
    good = {"action": team_setup.SUBMIT, "name": "Grade 3 Math", "school": school_id,
            "facilitators": fay["id"], "members": f"{ana['id']},{ben['id']}", "days": "tue,thu", "time": "15:30",
            "minutes": "45", "timezone": ZONE, "share_names": "false"}

    # ---- a bad value: the same dialog with the error under the field, nothing stored
    again = dialog_card(fay_user.task_submit({**good, "timezone": "Mars/Olympus"}, team_id=channel))
    assert "Nothing was saved" in words(again) and "Mars/Olympus" in words(again)
    assert inputs(again)["members"]["value"] == f"{ana['id']},{ben['id']}"  # what was typed stays
    with bot.services.db.read() as session:
        assert session.exec(select(Team)).all() == []
        assert session.exec(select(Person).where(Person.handle == ana["id"])).first() is None

    # ---- a forged member (not in the roster) is refused the same way
    forged = dialog_card(fay_user.task_submit({**good, "members": "29:not-in-this-team"}, team_id=channel))
    assert "roster" in words(forged)

    # ---- the good one: stored, confirmed in the dialog and in the channel
    saved = fay_user.task_submit(good, team_id=channel)
    done = dialog_card(saved)
    assert "Grade 3 Math" in words(done) and "is set up" in words(done)
    text, card = replies.next(channel)
    assert "is set up" in text and card is not None and "Ana Teacher" in words(card)
    with bot.services.db.read() as session:
        [t] = session.exec(select(Team)).all()
        assert (t.name, t.meeting_weekdays, t.meeting_time, t.meeting_minutes, t.timezone) == (
            "Grade 3 Math", "tue,thu", "15:30", 45, ZONE)
        places = session.exec(select(TeamPlace).where(TeamPlace.team_id == t.id)).all()
        assert [(p.platform, p.workspace, p.place_id, p.service_url) for p in places] == [
            ("teams", double.tenant_id, channel, double.service_url)]
        roles = {p.handle: m.role for m, p in session.exec(
            select(Membership, Person).where(Membership.person_id == Person.id, Membership.team_id == t.id)).all()}
        assert roles == {fay["id"]: "facilitator", ana["id"]: "member", ben["id"]: "member"}
        anas = session.exec(select(Person).where(Person.handle == ana["id"])).one()
        assert anas.email == ana["email"] and anas.name == "Ana Teacher"
        ids = {(i.external_id, i.service_url) for i in session.exec(
            select(PersonIdentity).where(PersonIdentity.person_id == anas.id)).all()}
        assert ids == {(ana["id"], double.service_url), (ana["aadObjectId"], double.service_url)}

    # ---- cycle: none yet, then the status of a running one
    assert ana_user.say_in_channel("cycle", channel).status == 200
    text, card = replies.next(channel)
    assert "no learning cycle" in text
    # the way to start one is on Teams (no stale "the cycle form is in Slack for now")
    assert card is not None and "@plcbot cycle start" in words(card) and "Slack" not in words(card)
    # a facilitator starts one in the cycle dialog: a bad value first (back on the form, nothing stored)
    assert ana_user.say_in_channel("cycle start", channel).status == 200  # a member may not
    text, card = replies.next(channel)
    assert text.startswith("⛔") and card is None
    assert fay_user.say_in_channel("cycle start", channel).status == 200
    text, card = replies.next(channel)
    assert card is not None
    [button] = card["actions"]
    form = dialog_card(fay_user.task_fetch({k: v for k, v in button["data"].items() if k != "msteams"},
                                           team_id=channel))
    fields = inputs(form)
    answers = {key: str(element.get("value") or "") for key, element in fields.items()}
    answers.update(title="Fractions on a number line", goal="80% place fractions correctly",
                   metric_name="Exit ticket 3+", metric_unit="%", baseline="55", target="80")
    submit = {"action": "cycle_form_submit", "team_id": t.id, **answers}
    again = dialog_card(fay_user.task_submit({**submit, "baseline": "lots"}, team_id=channel))
    assert "Nothing was saved" in words(again) and inputs(again)["title"]["value"] == "Fractions on a number line"
    with bot.services.db.read() as session:
        assert session.exec(select(Cycle)).all() == []
    done = dialog_card(fay_user.task_submit(submit, team_id=channel))
    assert "Started" in words(done)
    double.wait_for(lambda: [c for c in double.cards(channel) if "Fractions" in words(c)] or None, timeout=10)
    replies.skip(channel)  # the team is told in its channel (through the ledger)
    assert ana_user.say_in_channel("cycle", channel).status == 200
    text, card = replies.next(channel)
    assert card is not None and "Fractions" in words(card) and "week 1 of 6" in words(card)
    assert ana_user.say_in_channel("cycle end", channel).status == 200  # a member may not
    text, _ = replies.next(channel)
    assert text.startswith("⛔")

    # ---- norms: shown with a commit button; the click comes back as "norms commit N"
    _write_norms(bot, fay["id"], t.id)
    assert ana_user.say_in_channel("norms", channel).status == 200
    text, card = replies.next(channel)
    assert card is not None and "Start on time" in words(card) and "0 of 3 committed" in words(card)
    commit = card["actions"][0]["data"]["msteams"]["text"]
    assert ana_user.say_in_channel(commit, channel, mention=False).status == 200
    text, card = replies.next(channel)
    assert "committed to the team's norms" in text

    # ---- meeting list: the schedule's next meetings
    assert ana_user.say_in_channel("meeting list", channel).status == 200
    text, card = replies.next(channel)
    assert card is not None and "Upcoming meetings" in words(card) and "45 min" in words(card)

    # ---- meeting cancel: facilitators only; a date it cannot read changes nothing; the next one, then back
    assert ana_user.say_in_channel("meeting cancel", channel).status == 200
    text, _ = replies.next(channel)
    assert text.startswith("⛔"), text
    assert fay_user.say_in_channel("meeting cancel someday", channel).status == 200
    text, _ = replies.next(channel)
    assert "couldn't read" in text, text
    with bot.services.db.read() as session:
        assert session.exec(select(Meeting).where(Meeting.status == "cancelled")).all() == []
    assert fay_user.say_in_channel("meeting cancel", channel).status == 200
    text, _ = replies.next(channel)
    assert text.startswith("Cancelled the meeting on"), text
    with bot.services.db.read() as session:
        [gone] = session.exec(select(Meeting).where(Meeting.status == "cancelled")).all()
    local = gone.starts_at.astimezone(ZoneInfo(ZONE))
    assert fay_user.say_in_channel(f"meeting add {local:%Y-%m-%d %H:%M}", channel).status == 200
    text, _ = replies.next(channel)
    assert "Added a 45-minute meeting" in text, text
    with bot.services.db.read() as session:
        assert session.exec(select(Meeting).where(Meeting.status == "cancelled")).all() == []

    # ---- action @someone: the owner is the mentioned person, told in their chat with the bot
    assert mention_in_channel(fay_user, double, channel, "action", ana, "share the fractions rubric").status == 200
    text, card = replies.next(channel)
    assert "Action item for Ana Teacher" in text and "share the fractions rubric" in text
    with bot.services.db.read() as session:
        [item] = session.exec(select(ActionItem)).all()
        owner = session.get(Person, item.owner_id)
        assert owner is not None and owner.handle == ana["id"] and item.text == "share the fractions rubric"
    told = double.wait_for(lambda: [a for a in double.seen_by(ana["id"]) if "fractions rubric" in words(a)] or None,
                           timeout=10)
    for activity in told:
        for att in activity.get("attachments") or []:
            checked(att["content"])

    # ---- home in the personal chat: Ana's dashboard
    replies.skip(ana_user.personal_conversation)
    assert ana_user.say("home").status == 200
    text, card = replies.next(ana_user.personal_conversation)
    assert card is not None and "Grade 3 Math" in words(card) and "Fractions" in words(card)

    # ---- actions in the personal chat: her own
    assert ana_user.say("actions").status == 200
    text, card = replies.next(ana_user.personal_conversation)
    assert card is not None and "fractions rubric" in words(card)

    # ---- privacy: her own page, in our chat
    assert ana_user.say("privacy").status == 200
    text, card = replies.next(ana_user.personal_conversation)
    assert card is not None and "Grade 3 Math" in words(card)

    # ---- feedback results: none started yet, said as a short text; a member may not see results
    assert fay_user.say_in_channel("feedback results", channel).status == 200
    text, card = replies.next(channel)
    assert card is None and "No meeting of this team has started yet" in text
    assert ana_user.say_in_channel("feedback results", channel).status == 200
    text, card = replies.next(channel)
    assert card is None and text.startswith("⛔")

    # ---- digest on demand: the facilitator's team part, in her chat with the bot, its workbook by file consent
    fay_chat = fay_user.personal_conversation
    replies.skip(fay_chat)
    assert fay_user.say_in_channel("digest", channel).status == 200
    text, card = replies.next(channel)
    assert "Sent to our chat" in text, text
    double.wait_for(lambda: double.file_consents(fay["id"]) or None, timeout=10)
    text, card = replies.next(fay_chat)
    assert card is not None and "Lincoln Elementary" in words(card)
    assert ana_user.say_in_channel("digest", channel).status == 200  # a member is told who can
    text, card = replies.next(channel)
    assert card is None and "facilitator" in text.lower()


def test_setup_outside_a_team_channel_and_without_a_school(bot: Bot, double: TeamsDouble) -> None:
    replies = Replies(double)
    fay = double.add_user("Fay Facilitator")
    team = double.add_team("Grade 4", [fay["id"]])
    user = TeamsUser(double, fay["id"], bot_url=bot.url)
    assert user.say("setup").status == 200
    text, _ = replies.next(user.personal_conversation)
    assert "team's channel" in text
    assert user.say_in_channel("setup", team["id"]).status == 200
    text, _ = replies.next(team["id"])
    assert "No school is set up yet" in text and "/plc" not in text.replace("/plc school create", "")
    # A forged fetch without a school is refused the same way, nothing stored.
    reply = user.task_fetch({"dialog_id": team_setup.DIALOG}, team_id=team["id"])
    assert reply.status == 200 and reply.json["task"]["type"] == "message"
    with bot.services.db.read() as session:
        assert session.exec(select(Team)).all() == []


def _write_norms(bot: Bot, facilitator: str, team_id: int | None) -> None:
    from handlers.core import norms as core_norms
    from storage.people import load_actor

    with bot.services.db.session() as session:
        actor = load_actor(session, facilitator, admins=())
        team = core_norms.check_norms(session, actor, team_id=team_id)
        core_norms.write_norms(session, actor, team, norms=["Start on time", "Assume good intent"],
                               now=bot.services.clock.now())


def test_setup_dialog_for_a_large_team_fits_teams_limit() -> None:
    """A team of 400: the dialog offers as many people as fit Teams' 28 KB (at most MAX_ROSTER) and says so."""
    roster = [team_setup.Member(id=f"29:1{i:032x}", aad_object_id=None, name=f"Teacher With A Long Name {i:03d}",
                                email=None) for i in range(400)]
    d = team_setup.Defaults(name="x" * 120, schools=tuple((i, f"School {i} " + "y" * 60) for i in range(1, 40)),
                            school_id=1, members=tuple(m.id for m in roster), facilitators=(roster[0].id,))
    content = checked(team_setup.form(d, roster))
    offered = len(inputs(content)["members"]["choices"])
    assert 50 <= offered <= team_setup.MAX_ROSTER
    assert f"The first {offered} of this team's 400 people" in words(content)


@pytest.mark.slow
def test_setup_answers_within_teams_deadline_right_after_a_burst_of_posts_to_the_channel(
        bot: Bot, double: TeamsDouble) -> None:
    """Teams counts a conversation's messages (8 in 2 s, 60 in 30 s, …) apart from reads of its members:
    a burst of posts to the channel must not hold up the set-up dialog's roster reads, so the dialog
    opens and saves within Teams' 5 seconds; what the save posts in the channel follows once the
    channel's message budget allows, through the paced transport: late, never lost, never a 429."""
    from scheduling.transport import Rendered

    fay, ana, ben = (double.add_user(n) for n in ("Fay Facilitator", "Ana Teacher", "Ben Teacher"))
    channel = double.add_team("Grade 3 Math", [fay["id"], ana["id"], ben["id"]])["id"]
    with bot.services.db.session() as session:
        session.add(School(name="Lincoln Elementary", timezone=ZONE, self_service=True))
    fay_user = TeamsUser(double, fay["id"], bot_url=bot.url)
    assert fay_user.say_in_channel("setup", channel).status == 200
    Replies(double).next(channel)
    form = dialog_card(fay_user.task_fetch({"dialog_id": team_setup.DIALOG}, team_id=channel))
    school = inputs(form)["school"]["choices"][0]["value"]
    good = {"action": team_setup.SUBMIT, "name": "Grade 3 Math", "school": school, "facilitators": fay["id"],
            "members": ana["id"], "days": "tue,thu", "time": "15:30", "minutes": "45", "timezone": ZONE,
            "share_names": "false"}
    assert "is set up" in words(dialog_card(fay_user.task_submit(good, team_id=channel)))
    double.wait_for(lambda: len(double.cards(channel)) >= 2 or None, timeout=10)  # the set-up card, after the answer
    time.sleep(2.1)  # the command's reply leaves Teams' 2-second window

    # ---- a burst: 58 posts to the channel as fast as Teams allows; with the command's reply and the
    # set-up card that is 60 in 30 s, Teams' most: the channel's message window is full for about 15 s
    transport = bot.services.transports["teams"]
    note = Rendered("Reminder", {"type": "AdaptiveCard", "version": "1.5",
                                 "body": [{"type": "TextBlock", "text": "Agenda items are due", "wrap": True}]})
    for n in range(58):
        transport.send(channel, note, key=f"burst:{n}")
    burst_done = time.monotonic()

    # ---- right then the facilitator adds Ben: the dialog opens and saves in time, each roster read at once
    started = time.monotonic()
    form = dialog_card(fay_user.task_fetch({"dialog_id": team_setup.DIALOG}, team_id=channel))
    fetched = time.monotonic() - started
    started = time.monotonic()
    done = dialog_card(fay_user.task_submit({**good, "members": f"{ana['id']},{ben['id']}"}, team_id=channel))
    submitted = time.monotonic() - started
    assert "Ben Teacher" in words(inputs(form)["members"]) and "is updated" in words(done)
    assert fetched < 5.0 and submitted < 5.0, (fetched, submitted)
    with bot.services.db.read() as session:
        members = session.exec(select(Person.handle).join(Membership, Membership.person_id == Person.id)).all()
    assert set(members) == {fay["id"], ana["id"], ben["id"]}

    # ---- the updated set-up card reaches the channel once its message window has room. The pacer cannot
    # count the command's reply (the SDK sends it), so Teams may answer one post 429: it is sent again
    # after Retry-After, never lost.
    double.wait_for(lambda: [c for c in double.cards(channel) if "Ben Teacher" in words(c)] or None, timeout=40)
    assert time.monotonic() - burst_done > 5.0  # it did wait for the channel's budget (the answer did not)
    refused = [c for c in double.calls if c.status == 429]
    assert len(refused) <= 1
    assert all(any(d.body == c.body and d.status == 201 for d in double.calls) for c in refused)
