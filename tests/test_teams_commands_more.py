"""The `/plc` subcommands Teams gained last, through the real front: signed activities from the Teams
double to `POST /api/messages`, on the test clock (`harness.START`, injected into the services).

`team add | remove @person` (people are the message's @mentions; someone not known yet gets a
person and a Teams identity), `norms edit` (a dialog: a bad value back on the form, nothing stored)
and `norms history`, `break` (list, add, remove; principals only) and `agenda template NAME`.
Every card is checked against the Adaptive Card 1.5 schema and Teams' 28 KB limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.teams import dialogs
from bot.teams import setup as team_setup
from bot.teams.commands import slack_router
from bot.teams_double import TeamsDouble, TeamsUser
from scheduling import keys
from scheduling.clock import FakeClock
from storage import teams as team_store
from storage.models import (
    AgendaItem,
    AuditEntry,
    Membership,
    NormRevision,
    Person,
    PersonIdentity,
    School,
    SchoolBreak,
    Team,
)
from storage.models.work import Delivery
from tests.harness import START
from tests.test_teams_commands import Replies, dialog_card, inputs, words
from tests.test_teams_front import Bot

pytestmark = pytest.mark.real_clock  # the double signs tokens with the machine's clock; the bot reads the test clock
ZONE = "America/New_York"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Bot, TeamsDouble]]:
    """The Teams double, and the Teams front with its services on the test clock (`harness.START`)."""
    with TeamsDouble() as double:
        front = Bot(double, tmp_path, clock=FakeClock(START))
        try:
            yield front, double
        finally:
            front.stop()


class Team3:
    """A set-up team: Fay facilitates, Ana is a member; Ben and Cal are in the Teams team, not the PLC."""

    def __init__(self, bot: Bot, double: TeamsDouble) -> None:
        self.replies = Replies(double)
        self.fay, self.ana, self.ben, self.cal = (double.add_user(n) for n in (
            "Fay Facilitator", "Ana Teacher", "Ben Newcomer", "Cal Visitor"))
        people = [u["id"] for u in (self.fay, self.ana, self.ben, self.cal)]
        self.channel = double.add_team("Grade 3 Math", people)["id"]
        with bot.services.db.session() as session:
            session.add(School(name="Lincoln Elementary", timezone=ZONE, self_service=True))
        self.fay_user, self.ana_user, self.ben_user = (TeamsUser(double, u["id"], bot_url=bot.url)
                                                       for u in (self.fay, self.ana, self.ben))
        assert self.fay_user.say_in_channel("setup", self.channel).status == 200
        _, card = self.replies.next(self.channel)
        assert card is not None
        form = dialog_card(self.fay_user.task_fetch({"dialog_id": team_setup.DIALOG}, team_id=self.channel))
        school = inputs(form)["school"]["choices"][0]["value"]
        done = dialog_card(self.fay_user.task_submit({
            "action": team_setup.SUBMIT, "name": "Grade 3 Math", "school": school, "facilitators": self.fay["id"],
            "members": self.ana["id"], "days": "tue,thu", "time": "15:30", "minutes": "45", "timezone": ZONE,
            "share_names": "false"}, team_id=self.channel))
        assert "is set up" in words(done)
        self.replies.next(self.channel)  # the set-up card posted in the channel
        with bot.services.db.read() as session:
            [team] = session.exec(select(Team)).all()
            self.team_id, self.school_id = team.id, team.school_id

    def say(self, user: TeamsUser, text: str) -> tuple[str, dict[str, Any] | None]:
        assert user.say_in_channel(text, self.channel).status == 200
        return self.replies.next(self.channel)


def mentions_in_channel(user: TeamsUser, double: TeamsDouble, channel: str, command: str,
                        people: list[dict[str, Any]], after: str = "") -> Any:
    """`@plcbot COMMAND @a @b … AFTER` in the channel, each mention with its entity, as Teams sends them."""
    activity = user.in_channel("message", channel)
    bot_at = f"<at>{double.bot_name}</at>"
    ats = [f"<at>{p['name']}</at>" for p in people]
    activity.update({"text": " ".join([bot_at, command, *ats, after]).strip(), "textFormat": "plain"})
    activity["entities"] += [{"type": "mention", "text": bot_at,
                              "mentioned": {"id": double.bot_id, "name": double.bot_name}}]
    activity["entities"] += [{"type": "mention", "text": at, "mentioned": {"id": p["id"], "name": p["name"]}}
                             for at, p in zip(ats, people, strict=True)]
    return user.send(activity)


def roles(bot: Bot, team_id: int) -> dict[str, tuple[str, bool]]:
    with bot.services.db.read() as session:
        return {p.handle: (m.role, m.active) for m, p in session.exec(
            select(Membership, Person).where(Membership.person_id == Person.id, Membership.team_id == team_id)).all()}


def test_team_add_and_remove_by_mention(world: tuple[Bot, TeamsDouble]) -> None:
    bot, double = world
    t = Team3(bot, double)
    assert t.ben["id"] not in roles(bot, t.team_id)
    with bot.services.db.read() as session:  # Ben has never written to the bot: no person yet
        assert session.exec(select(Person).where(Person.handle == t.ben["id"])).first() is None

    # ---- a member may not change the team: refused, and nobody is stored
    assert mentions_in_channel(t.ana_user, double, t.channel, "team add", [t.ben]).status == 200
    text, card = t.replies.next(t.channel)
    assert text.startswith("⛔") and card is None
    with bot.services.db.read() as session:
        assert session.exec(select(Person).where(Person.handle == t.ben["id"])).first() is None

    # ---- the facilitator adds two people by @mention; one unknown so far gets a person and a Teams identity
    assert mentions_in_channel(t.fay_user, double, t.channel, "team add", [t.ben, t.cal]).status == 200
    text, card = t.replies.next(t.channel)
    assert card is not None and "Ben Newcomer" in words(card) and "added to the team" in words(card), text
    assert roles(bot, t.team_id) == {t.fay["id"]: ("facilitator", True), t.ana["id"]: ("member", True),
                                     t.ben["id"]: ("member", True), t.cal["id"]: ("member", True)}
    with bot.services.db.read() as session:
        ben = session.exec(select(Person).where(Person.handle == t.ben["id"])).one()
        assert ben.name == "Ben Newcomer"
        # His Teams id, and the Entra object id his member profile gave (asked for: a mention has no e-mail).
        found = session.exec(select(PersonIdentity).where(PersonIdentity.person_id == ben.id)).all()
        [identity] = [i for i in found if i.external_id == t.ben["id"]]
        assert (identity.platform, identity.workspace, identity.external_id, identity.service_url) == (
            "teams", double.tenant_id, t.ben["id"], double.service_url)
        assert {i.external_id for i in found} - {t.ben["id"]} <= {str(t.ben.get("aadObjectId", "")).lower()}
    # the same again changes nothing; and the new member now sees the team's norms (a member's command)
    assert mentions_in_channel(t.fay_user, double, t.channel, "team add", [t.ben]).status == 200
    text, card = t.replies.next(t.channel)
    assert card is not None and "Nothing to change" in words(card)
    text, card = t.say(t.ben_user, "norms")
    assert card is not None and "Norms of Grade 3 Math" in words(card)

    # ---- the last facilitator cannot step down; a member is removed (history kept, membership inactive)
    assert mentions_in_channel(t.fay_user, double, t.channel, "team facilitator remove", [t.fay]).status == 200
    text, _ = t.replies.next(t.channel)
    assert "at least one facilitator" in text
    assert mentions_in_channel(t.fay_user, double, t.channel, "team remove", [t.cal]).status == 200
    text, card = t.replies.next(t.channel)
    assert card is not None and "Cal Visitor" in words(card) and "removed from the team" in words(card)
    assert roles(bot, t.team_id)[t.cal["id"]] == ("member", False)
    assert mentions_in_channel(t.ana_user, double, t.channel, "team remove", [t.ben]).status == 200  # a member
    text, _ = t.replies.next(t.channel)
    assert text.startswith("⛔") and roles(bot, t.team_id)[t.ben["id"]] == ("member", True)

    # ---- facilitator add names a co-facilitator; no mention at all is explained
    assert mentions_in_channel(t.fay_user, double, t.channel, "team facilitator add", [t.ana]).status == 200
    text, card = t.replies.next(t.channel)
    assert card is not None and "now facilitating" in words(card)
    assert roles(bot, t.team_id)[t.ana["id"]] == ("facilitator", True)
    text, _ = t.say(t.fay_user, "team add")
    assert "Mention the people to add" in text and "@plcbot team add @name" in text
    text, _ = t.say(t.fay_user, "team juggle")
    assert "@plcbot team add @person" in text and "/plc" not in text


def test_norms_edit_through_the_dialog_then_history(world: tuple[Bot, TeamsDouble]) -> None:
    bot, double = world
    t = Team3(bot, double)
    # ---- a member may not edit
    text, card = t.say(t.ana_user, "norms edit")
    assert text.startswith("⛔") and card is None
    forged = t.ana_user.task_fetch({"dialog_id": dialogs.NORMS_DIALOG, "team_id": t.team_id}, team_id=t.channel)
    assert forged.status == 200 and forged.json["task"]["type"] == "message"

    # ---- the facilitator's button opens the dialog, prefilled (empty: no norms yet)
    text, card = t.say(t.fay_user, "norms edit")
    assert card is not None
    [button] = card["actions"]
    data = {k: v for k, v in button["data"].items() if k != "msteams"}
    form = dialog_card(t.fay_user.task_fetch(data, team_id=t.channel))
    assert inputs(form)["norms"].get("value", "") == ""

    # ---- a bad value: back on the form with the error under it, what was typed kept, nothing stored
    too_long = "Start on time\n" + "x" * 300
    [save] = form["actions"]
    again = dialog_card(t.fay_user.task_submit({**save["data"], "norms": too_long}, team_id=t.channel))
    assert "Nothing was saved" in words(again) and "Norm 2 is 300 characters" in words(again)
    assert inputs(again)["norms"]["value"] == too_long
    too_many = "\n".join(f"Norm number {i}" for i in range(13))
    again = dialog_card(t.fay_user.task_submit({**save["data"], "norms": too_many}, team_id=t.channel))
    assert "at most 12" in words(again)
    with bot.services.db.read() as session:
        assert session.exec(select(NormRevision)).all() == []

    # ---- a good value: version 1, posted in the channel with the commit button; history lists it
    good = "- Start on time\n- Assume good intent\n* Data, not blame"
    t.replies.skip(t.channel)
    done = dialog_card(t.fay_user.task_submit({**save["data"], "norms": good}, team_id=t.channel))
    assert "version 1" in words(done)
    text, card = t.replies.next(t.channel)
    assert card is not None and "Assume good intent" in words(card) and "Version 1" in words(card)
    assert card["actions"][0]["data"]["msteams"]["text"] == "norms commit 1"
    # the core's NormsChanged view, rendered by Teams' renderer and sent once through the ledger
    assert "**Fay Facilitator** updated the norms" in words(card) and "0 of 2 committed" in words(card)
    with bot.services.db.read() as session:
        [sent] = session.exec(select(Delivery).where(Delivery.key == keys.norms(t.team_id, 1))).all()
    assert (sent.state, sent.kind, sent.place) == ("sent", "normschanged", t.channel)
    # a second submit of the same norms stores and posts nothing more
    done = dialog_card(t.fay_user.task_submit({**save["data"], "norms": good}, team_id=t.channel))
    assert "unchanged" in words(done)
    # edited again: version 2, and the dialog opens prefilled with the current norms
    form = dialog_card(t.fay_user.task_fetch(data, team_id=t.channel))
    assert inputs(form)["norms"]["value"] == "Start on time\nAssume good intent\nData, not blame"
    done = dialog_card(t.fay_user.task_submit({**save["data"], "norms": "Start on time\nEnd on time"},
                                              team_id=t.channel))
    assert "version 2" in words(done)
    t.replies.next(t.channel)
    with bot.services.db.read() as session:
        assert sorted(r.version for r in session.exec(select(NormRevision)).all()) == [1, 2]

    text, card = t.say(t.ana_user, "norms history")
    assert card is not None and "Changes to the norms" in words(card)
    history = words(card)
    assert history.index("v2") < history.index("v1") and "Fay Facilitator" in history
    assert f"{START:%b} {START.day}" in history  # the test clock's day, in the team's time zone

    # someone outside the team is refused the history
    outsider = TeamsUser(double, t.cal["id"], bot_url=bot.url)
    text, card = t.say(outsider, "norms history")
    assert "Only members of this team" in text and card is None


def test_break_list_add_remove_and_audit_for_principals(world: tuple[Bot, TeamsDouble]) -> None:
    bot, double = world
    t = Team3(bot, double)
    text, card = t.say(t.ana_user, "break")
    assert "No school breaks are set" in text and "@plcbot break add" in text and card is None
    # a facilitator may not add one
    text, _ = t.say(t.fay_user, "break add 2026-12-21 2027-01-01 Winter break")
    assert text.startswith("⛔")
    # a principal may (a Teams person named principal of the school)
    pat = double.add_user("Pat Principal")
    pat_user = TeamsUser(double, pat["id"], bot_url=bot.url)
    assert pat_user.say("help").status == 200  # the bot knows Pat from now on
    t.replies.next(pat_user.personal_conversation)
    with bot.services.db.session() as session:
        person = session.exec(select(Person).where(Person.handle == pat["id"])).one()
        assert person.id is not None and t.school_id is not None
        team_store.add_leader(session, school_id=t.school_id, person_id=person.id, actor="test", now=START)
    text, _ = t.say(pat_user, "break add 2026-12-21")
    assert "Give the first and last day as dates" in text and "/plc" not in text
    text, card = t.say(pat_user, "break add 2026-12-21 2027-01-01 Winter <b>break</b>")
    assert text.startswith("🌴 Added a break Mon Dec 21") and card is not None
    text, card = t.say(pat_user, "break add 2026-12-21 2027-01-01 Winter break")
    assert "Already there" in text
    text, card = t.say(t.ana_user, "break list")
    assert card is not None and "Dec 21, 2026" in words(card) and "Jan 1, 2027" in words(card)
    assert "<b>" not in words(card)  # what a principal typed is shown inert
    with bot.services.db.read() as session:
        [row] = session.exec(select(SchoolBreak)).all()
    text, _ = t.say(t.fay_user, f"break remove {row.id}")
    assert text.startswith("⛔")
    text, _ = t.say(pat_user, f"break remove {row.id}")
    assert "Removed that break" in text
    text, _ = t.say(pat_user, f"break remove {row.id}")
    assert "no such break" in text
    with bot.services.db.read() as session:
        assert session.exec(select(SchoolBreak)).all() == []

    # ---- audit: the principal sees the school's part of the log (the breaks among it); a member is refused
    text, card = t.say(pat_user, "audit")
    assert card is not None and "break.add" in words(card) and "break.remove" in words(card)
    assert "Lincoln Elementary" in words(card) and "Pat Principal" in words(card)
    # times as the school reads them, its zone named (never UTC): moved to a zone far from UTC to tell
    with bot.services.db.session() as session:
        school = session.get(School, t.school_id)
        assert school is not None
        school.timezone = "Asia/Kolkata"
        session.add(school)
    with bot.services.db.read() as session:
        added = session.exec(select(AuditEntry).where(AuditEntry.action == "break.add")).one()
    at = (added.at if added.at.tzinfo else added.at.replace(tzinfo=UTC)).astimezone(ZoneInfo("Asia/Kolkata"))
    text, card = t.say(pat_user, "audit")
    assert card is not None and f"{at:%Y-%m-%d %H:%M} IST" in words(card), words(card)
    assert "Times in Asia/Kolkata (the school's time zone)" in words(card) and "UTC" not in words(card)
    # `since DAY` starts at midnight of that day in the school's zone (Kolkata, UTC+5:30), not UTC's:
    # an entry half an hour after the local midnight is in, one half an hour before it is not
    day = bot.services.clock.now().astimezone(ZoneInfo("Asia/Kolkata")).date() - timedelta(days=2)
    midnight = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo("Asia/Kolkata")).astimezone(UTC)
    with bot.services.db.session() as session:
        for action, at in (("zone.before", midnight - timedelta(minutes=30)),
                           ("zone.after", midnight + timedelta(minutes=30))):
            team_store.audit(session, actor=pat["id"], action=action, target=f"school:{t.school_id}", at=at)
    text, card = t.say(pat_user, f"audit since {day.isoformat()}")
    assert card is not None and "zone.after" in words(card) and "zone.before" not in words(card), words(card)
    assert "(Asia/Kolkata)" in words(card)
    text, card = t.say(pat_user, "audit since yesterday_*")
    assert "is not a day" in text and "@plcbot audit [since YYYY-MM-DD]" in text and "_*" not in text
    text, card = t.say(pat_user, f"audit since {START.year + 1}-01-01")
    assert card is not None and "No entries" in words(card)
    text, card = t.say(t.ana_user, "audit")
    assert text.startswith("⛔") and card is None


def test_agenda_template_and_help_lists_only_working_commands(world: tuple[Bot, TeamsDouble]) -> None:
    bot, double = world
    t = Team3(bot, double)
    text, card = t.say(t.fay_user, "agenda template data")
    assert card is not None and "Just the facts" in words(card), words(card)[:500]
    with bot.services.db.read() as session:
        titles = [i.title for i in session.exec(select(AgendaItem)).all()]
    assert any("facts" in title.lower() for title in titles)
    text, card = t.say(t.fay_user, "agenda template gossip_*x*")
    assert "no agenda template called" in text and "*x*" not in text
    text, _ = t.say(t.fay_user, "agenda frobnicate")
    assert "I don't know agenda frobnicate" in text and "@plcbot agenda template NAME" in text
    text, card = t.say(t.ana_user, "agenda template data")  # a member may not fill it
    assert text.startswith("⛔")

    # every command help lists for a facilitator is served on Teams, except the other worker's three
    from bot.teams import commands

    names = {line.usage.split(" ")[1] for line in slack_router().help_lines(None)} | set(slack_router().subcommands)
    missing = names - set(commands.ON_TEAMS) - {"school", "wrapup"}
    assert missing == set(), missing
    text, card = t.say(t.fay_user, "help")
    assert card is not None
    soon = words(card).split("Coming to Teams soon")[-1] if "Coming to Teams soon" in words(card) else ""
    assert all(name not in soon for name in ("break", "audit", "team", "norms", "agenda"))


def test_team_add_by_mention_of_a_teacher_known_on_slack_is_that_person_not_a_second_one(
        world: tuple[Bot, TeamsDouble]) -> None:
    """Dee is known on Slack only (UDEE, her e-mail). `team add @Dee` on Teams: a mention carries no
    e-mail, so the bot asks Teams for her member profile first; her Teams account is attached to her
    person (one person, both accounts), who joins the team. `action @Dee …` then names the same person."""
    from storage.identities import add_slack_identities, identities_of

    bot, double = world
    t = Team3(bot, double)
    with bot.services.db.session() as session:
        dee = Person(handle="UDEE", name="Dee Slack", email="dee@school.example", created_at=START)
        session.add(dee)
        session.flush()
        dee_id = dee.id or 0
        add_slack_identities(session, [(dee_id, "UDEE", None)], now=START)
    dee_teams = double.add_user("Dee Teams", email="DEE@School.example")
    double.set_team_members(t.channel, [t.fay["id"], t.ana["id"], t.ben["id"], t.cal["id"], dee_teams["id"]])
    with bot.services.db.read() as session:
        people_before = len(session.exec(select(Person)).all())

    assert mentions_in_channel(t.fay_user, double, t.channel, "team add", [dee_teams]).status == 200
    t.replies.next(t.channel)
    assert roles(bot, t.team_id)["UDEE"] == ("member", True)
    assert dee_teams["id"] not in roles(bot, t.team_id)
    with bot.services.db.read() as session:
        assert len(session.exec(select(Person)).all()) == people_before
        assert {(i.platform, i.external_id) for i in identities_of(session, dee_id)} >= {
            ("slack", "UDEE"), ("teams", dee_teams["id"])}

    assert mentions_in_channel(t.fay_user, double, t.channel, "action", [dee_teams], "send the rubric").status == 200
    text, _ = t.replies.next(t.channel)
    assert "Action item for Dee" in text
    from storage.models.meetings import ActionItem

    with bot.services.db.read() as session:
        assert len(session.exec(select(Person)).all()) == people_before
        assert [a.owner_id for a in session.exec(select(ActionItem)).all()] == [dee_id]
