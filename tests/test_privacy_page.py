"""Who sees what: `/plc privacy`, README's table, and contract tests that walk every claim of
the table (storage/rules/visibility.py) against what the bot really shows.

The page and README come from the table; the expectations below come from the table too
(`sight_at`, `resolve`), by a different path than the checks in the code (`shows_name`, the
digest's SQL, `require`), so a check that strays from the table, or a table that strays from
the code, fails here. README's copy is compared with the generated one, so changing a rule in
roles.py or the table without regenerating README fails as well.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func
from sqlmodel import col, select

from bot.render import privacy as render
from bot.render.mrkdwn import escape
from storage import norms as norm_store
from storage.models import (
    ActionItem,
    Attendance,
    Checkin,
    Feedback,
    Membership,
    NormCommitment,
    Person,
    SupportRequest,
    Team,
)
from storage.rules import visibility as v
from storage.rules.roles import NEEDS, RANK, Action, Actor, Forbidden, Role
from tests.cycle_helpers import at, checkin_dms, make_cycle, only_checkins
from tests.harness import BotHarness
from tests.seed import seed_team
from tests.test_digest import seed_week

ROOT = Path(__file__).resolve().parents[1]
AS = {v.Viewer.TEAM: "UT1", v.Viewer.FACILITATORS: "UFAC", v.Viewer.PRINCIPALS: "UPRIN", v.Viewer.ADMINS: "UADMIN"}


def ask(bot: BotHarness, user: str, text: str, channel: str = "CGRADE3") -> dict[str, Any]:
    """Run `/plc <text>` and return the first reply that came back for it."""
    before = len(bot.double.responses())
    bot.user(user).command(text, channel=channel)
    bot.wait_idle()
    return bot.double.wait_for(lambda: len(bot.double.responses()) > before and bot.double.responses())[before]


def blocks_text(reply: dict[str, Any]) -> str:
    return json.dumps(reply.get("blocks") or [], ensure_ascii=False)


def refused(reply: dict[str, Any]) -> bool:
    text = reply.get("text", "")
    return ":no_entry:" in text or text.startswith("Only ")


def expect_named(kind: v.Kind, place: v.Place, viewer: v.Viewer, shares: bool) -> bool:
    """What the table promises: does `viewer` see whose a `kind` record is at `place`?"""
    shown = next(s for s in kind.shown if s.place is place)
    return v.resolve(v.sight_at(shown, viewer), shares) is v.Sight.NAMED


def set_share(bot: BotHarness, team_id: int, shares: bool) -> None:
    with bot.db.session() as session:
        team = session.get(Team, team_id)
        assert team is not None
        team.share_names_with_principal = shares
        session.add(team)


# ------------------------------------------------------------------------------------ the table itself
def test_readme_carries_the_generated_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert render.readme_section(readme) == render.markdown_table(), \
        "README's privacy table is stale: run `python -m bot.render.privacy --write-readme`"
    assert render.with_table(readme) == readme


def test_places_are_guarded_by_the_role_rules():
    """Each place's audience is what roles.py lets in; a place sent to someone is sent only to
    people the rule allows (a DM to facilitators is never wider than FOLLOW_UP_SUPPORT)."""
    for place in v.PLACES:
        if isinstance(place.rule, Action):
            assert place.lowest is NEEDS[place.rule]
        for viewer in place.to:
            if viewer is not v.Viewer.YOU:
                assert place.lowest is not None and RANK[v.VIEWER_ROLE[viewer]] >= RANK[place.lowest], place.key
        if not place.to:
            reach = [x for x in v.VIEWERS if place.reaches(x)]
            assert reach == [x for x in v.VIEWERS if x is not v.Viewer.YOU
                             and RANK[v.VIEWER_ROLE[x]] >= RANK[place.lowest or Role.ADMIN]]
    assert v.AUDIT_LOG.rule is Action.VIEW_AUDIT


def test_refusals_say_who_may_look():
    outsider = Actor("UX")
    member = Actor("UT1", member_of=frozenset({7}))
    assert v.ACTIONS_LIST.allows(member, team_id=7, school_id=1)
    with pytest.raises(Forbidden, match="Only members of this team can see `/plc actions`"):
        v.ACTIONS_LIST.require(outsider, team_id=7, school_id=1)
    with pytest.raises(Forbidden, match="Only this team's facilitators"):
        v.FEEDBACK_RESULTS.require(member, team_id=7, school_id=1)
    v.FEEDBACK_RESULTS.require(Actor("UP", principal_of=frozenset({1})), team_id=7, school_id=1)
    assert not v.MINE.allows(Actor("UADMIN", is_admin=True))


def test_the_products_promises_hold_in_the_table():
    """Non-evaluative by default (PRODUCT.md): pinned, so a table edited against them fails."""
    sight = v.sight
    for viewer in v.VIEWERS:
        if viewer is not v.Viewer.YOU:  # anonymous stays anonymous everywhere
            assert sight(v.ANONYMOUS_FEEDBACK, viewer) in (v.Sight.UNNAMED, v.Sight.NONE)
    assert sight(v.ANONYMOUS_FEEDBACK, v.Viewer.YOU) is v.Sight.WINDOW
    assert sight(v.CHECKINS, v.Viewer.TEAM) is v.Sight.FIGURES
    assert sight(v.CHECKINS, v.Viewer.PRINCIPALS) is v.Sight.IF_SHARED
    assert sight(v.NAMED_FEEDBACK, v.Viewer.PRINCIPALS) is v.Sight.IF_SHARED
    assert sight(v.NAMED_FEEDBACK, v.Viewer.FACILITATORS) is v.Sight.NAMED
    assert sight(v.SUPPORT, v.Viewer.FACILITATORS) is v.Sight.NAMED  # the teacher asked for help
    assert sight(v.SUPPORT, v.Viewer.TEAM) is v.Sight.FIGURES
    assert sight(v.DELIVERIES, v.Viewer.TEAM) is v.Sight.NONE
    assert {k.key for k in v.KINDS if k.retention is v.Retention.YEARS} == {
        "checkins", "support", "named_feedback", "anonymous_feedback", "action_items", "meeting_logs"}
    for kind in v.KINDS:
        if kind is not v.AUDIT_ENTRIES and kind is not v.DELIVERIES:
            assert sight(kind, v.Viewer.YOU) is not v.Sight.NONE, kind.key  # a person sees their own


def test_the_page_stays_within_slacks_limits_and_escapes_names():
    teams = tuple(render.TeamInfo(f"<!channel> Grade {i} " + "x" * 150, "member", i % 2 == 0) for i in range(30))
    caller = render.Caller(known=True, teams=teams, principal_of=("<b>School</b>",) * 12, is_admin=True,
                           viewers=render.viewers_of(facilitator=True, principal=True, admin=True))
    text, blocks = render.page(caller)
    assert len(blocks) <= 50 and text
    for block in blocks:
        for part in [block.get("text") or {}, *(block.get("elements") or [])]:
            assert len(part.get("text", "")) <= 3000
    dumped = json.dumps(blocks)
    assert "<!channel>" not in dumped and "&lt;!channel&gt;" in dumped and "<b>" not in dumped


# ------------------------------------------------------------------------------------ the page in Slack
def test_the_page_for_a_teacher_a_facilitator_and_a_principal(bot):
    team = seed_team(bot)
    other = seed_team(bot, team="Grade <5>", channel="CGRADE5", facilitators=("UFAC5",), members=("UT1",),
                      principals=(), school_id=team.school_id)
    set_share(bot, other.team_id, True)

    teacher = ask(bot, "UT1", "privacy")
    assert teacher["response_type"] == "ephemeral"
    body = blocks_text(teacher)
    for kind in v.KINDS:
        assert kind.label in body
    assert "a member of *Grade 3*, *Grade &lt;5&gt;*" in body
    # "named if shared" resolved for the teacher's own teams.
    assert "with your name in *Grade &lt;5&gt;*, without your name in *Grade 3*" in body
    assert "As a facilitator" not in body and "As a principal" not in body
    assert "/plc privacy export" in body and "deleted 3 school years after" in body.lower()
    # Generated from the table, not written by hand: the same blocks the builder makes.
    with bot.db.read() as session:
        assert session.exec(select(Person).where(Person.handle == "UT1")).first() is not None
    counts = {k.key: 0 for k in (v.CHECKINS, v.SUPPORT, v.NAMED_FEEDBACK, v.ACTION_ITEMS, v.NORM_COMMITMENTS,
                                 v.MEETING_LOGS)}
    expected = render.page(render.Caller(
        known=True, counts={**counts, v.MEMBERSHIPS.key: 2},
        teams=(render.TeamInfo("Grade 3", "member", False), render.TeamInfo("Grade <5>", "member", True)),
        retention_years=3, forget_days=365, min_group=3))
    assert teacher["blocks"] == expected[1]
    assert "*Team memberships and roles* (2 about you)" in body and "*Support requests* (none about you)" in body

    facilitator = blocks_text(ask(bot, "UFAC", "privacy"))
    assert "a facilitator of *Grade 3*" in facilitator and "*As a facilitator* you see others'" in facilitator
    assert "check-in answers: named if shared" in facilitator and "support requests: named" in facilitator
    assert "(your team does not share names with its principal)" in facilitator

    principal = blocks_text(ask(bot, "UPRIN", "privacy"))
    assert "a principal of *Lincoln Elementary*" in principal and "*As a principal*" in principal
    assert "audit entries: named" in principal

    admin = blocks_text(ask(bot, "UADMIN", "privacy", channel="CGRADE3"))
    assert "nothing stored about you yet" in admin and "*As a plcbot admin*" in admin

    # Help lists it for everyone; a bad word gets the usage and nothing else.
    assert "/plc privacy [export]" in blocks_text(ask(bot, "UT2", "help"))
    bad = ask(bot, "UT2", "privacy delete everything")
    assert bad["text"] == render.USAGE and not bad.get("blocks")


def test_the_page_counts_what_names_the_caller_and_finds_no_anonymous_answer(any_db_url):
    harness = BotHarness(any_db_url)
    bot = harness.start()
    try:
        seed_week(bot)  # UT3 answered anonymously; UT2 asked for support; UT1 owns an action item
        ut1 = blocks_text(ask(bot, "UT1", "privacy"))
        assert "*Check-in answers* (2 about you)" in ut1 and "*Meeting feedback (named)* (1 about you)" in ut1
        assert "*Action items* (1 about you)" in ut1 and "*Meeting attendance and wrap-up logs* (1 about you)" in ut1
        assert "*Support requests* (none about you)" in ut1
        assert "*Support requests* (1 about you)" in blocks_text(ask(bot, "UT2", "privacy"))
        ut3 = blocks_text(ask(bot, "UT3", "privacy"))
        assert "*Meeting feedback (named)* (none about you)" in ut3
        assert "*Meeting feedback (anonymous)* (none linked to you, by design)" in ut3
    finally:
        harness.stop()


def test_the_page_uses_the_settings_and_export_is_routed(db_url):
    harness = BotHarness(db_url, env={"PLCBOT_RETENTION_YEARS": "5", "PLCBOT_FORGET_DEACTIVATED_DAYS": "0",
                                      "PLCBOT_MIN_GROUP_SIZE": "4"})
    bot = harness.start()
    try:
        seed_team(bot)
        body = blocks_text(ask(bot, "UT1", "privacy", channel="UT1"))  # in a DM too
        assert "Deleted 5 school years after" in body and "Kept until erased (on request)." in body
        assert "only from 4 answers up" in body
        reply = ask(bot, "UT1", "privacy export")
        assert "sending it to your DMs" in reply["text"]
        bot.double.wait_for(lambda: bot.double.files)
        assert bot.double.files[0]["channel_id"].startswith("D")
    finally:
        harness.stop()


# ------------------------------------------------------------------------------------ contract: who may look
COMMANDS = {
    v.FEEDBACK_RESULTS: "feedback results",
    v.DIGEST: "digest 2026-W48",
    v.NORMS_WHO: "norms who",
    v.ACTIONS_LIST: "actions",
    v.AUDIT_LOG: "audit",
    v.TEAM_VIEW: "team",
}


def test_each_place_refuses_exactly_who_the_table_says(any_db_url):
    harness = BotHarness(any_db_url)
    bot = harness.start()
    try:
        seed_week(bot)
        for place, command in COMMANDS.items():
            for viewer, user in AS.items():
                reply = ask(bot, user, command)
                assert refused(reply) is not place.reaches(viewer), (place.key, viewer, reply.get("text"))
    finally:
        harness.stop()


# ------------------------------------------------------------------------------------ contract: names
def test_feedback_results_show_names_as_the_table_says(bot):
    week = seed_week(bot)  # Grade 3: UT1 and UT2 named, one anonymous answer
    grade3 = week.teams["Grade 3"]
    for shares in (False, True):
        set_share(bot, grade3, shares)
        for viewer in (v.Viewer.FACILITATORS, v.Viewer.PRINCIPALS, v.Viewer.ADMINS):
            text = blocks_text(ask(bot, AS[viewer], "feedback results 2026-11-24"))
            assert "3 answers" in text, text
            named = expect_named(v.NAMED_FEEDBACK, v.FEEDBACK_RESULTS, viewer, shares)
            assert ("<@UT1>" in text) is named, (viewer, shares)
            assert ("<@UT2>" in text) is named, (viewer, shares)
            # The anonymous answer's comment never carries a name, whoever looks.
            line = next(x for x in text.split("\\n") if "HYPERLINK" in x)
            assert "<@" not in line and not expect_named(v.ANONYMOUS_FEEDBACK, v.FEEDBACK_RESULTS, viewer, shares)


def _sheet(book: openpyxl.Workbook, title: str) -> list[tuple[Any, ...]]:
    return list(book[title].iter_rows(min_row=2, values_only=True))


def _digest_book(bot: BotHarness, user: str, channel: str = "CGRADE3") -> openpyxl.Workbook:
    before = len(bot.double.files)
    assert "Sent to your direct messages" in ask(bot, user, "digest 2026-W48", channel=channel)["text"]
    record = bot.double.wait_for(lambda: len(bot.double.files) > before and bot.double.files)[-1]
    return openpyxl.load_workbook(io.BytesIO(record["content"]))


def test_the_digest_workbook_names_people_as_the_table_says(any_db_url):
    harness = BotHarness(any_db_url)
    bot = harness.start()
    try:
        week = seed_week(bot)
        grade3 = week.teams["Grade 3"]
        for shares in (False, True):
            set_share(bot, grade3, shares)
            for viewer in (v.Viewer.FACILITATORS, v.Viewer.PRINCIPALS):
                book = _digest_book(bot, AS[viewer])
                rows = [r for r in _sheet(book, "Check-ins") if r[1] == "Grade 3"]
                assert rows
                named = {r[5] for r in rows if r[5]}
                if expect_named(v.CHECKINS, v.DIGEST, viewer, shares):
                    assert {"Teacher UT1", "Teacher UT2"} <= named
                    assert any(r[10] is not None for r in rows)  # the minute answered, with the name
                else:
                    assert named == set() and all(r[10] is None for r in rows)

                feedback = [r for r in _sheet(book, "Feedback") if r[1] == "Grade 3"]
                names = {r[10] for r in feedback if r[10]}
                want = {"Teacher UT1", "Teacher UT2"} if expect_named(v.NAMED_FEEDBACK, v.DIGEST, viewer,
                                                                      shares) else set()
                assert names == want, (viewer, shares)
                anonymous = next(r for r in feedback if "HYPERLINK" in str(r[7]))
                assert anonymous[10] in (None, "")
                assert not expect_named(v.ANONYMOUS_FEEDBACK, v.DIGEST, viewer, shares)

                support = [r for r in _sheet(book, "Support requests") if r[1] == "Grade 3"]
                assert bool(support) and all((r[2] == "Teacher UT2") is expect_named(v.SUPPORT, v.DIGEST, viewer,
                                                                                      shares) for r in support)
                actions = [r for r in _sheet(book, "Action items") if r[1] == "Grade 3"]
                assert actions and all(bool(r[3]) is expect_named(v.ACTION_ITEMS, v.DIGEST, viewer, shares)
                                       for r in actions)
                # Meeting logs reach the digest as figures only: no person's name on the sheet.
                assert v.sight_at(next(s for s in v.MEETING_LOGS.shown if s.place is v.DIGEST),
                                  viewer) is v.Sight.FIGURES
                meetings = " ".join(str(c) for r in _sheet(book, "Meetings and agendas") for c in r if c)
                assert "Teacher U" not in meetings and "UT1" not in meetings
    finally:
        harness.stop()


def test_support_request_reaches_facilitators_by_name_and_the_team_as_a_count(bot):
    only_checkins(bot)
    team = seed_team(bot)
    make_cycle(bot, team.team_id)
    at(bot, datetime(2026, 12, 3, 19, 0, tzinfo=UTC))  # Thursday 14:00 New York: the round
    bot.tick()
    [dm] = checkin_dms(bot, "UT1")
    bot.user("UT1").click(dm, "checkin_stuck")
    bot.wait_idle()
    at(bot, datetime(2026, 12, 7, 12, 0, tzinfo=UTC))  # the window has closed
    bot.tick()
    # Where the table sends a support request, it carries the name; nowhere else gets it.
    for viewer, user in AS.items():
        got = checkin_dms(bot, user, prefix="support:")
        if v.SUPPORT_MESSAGE.reaches(viewer):
            assert got and "<@UT1> asked for support" in blocks_text(got[0])
            assert v.sight_at(next(s for s in v.SUPPORT.shown if s.place is v.SUPPORT_MESSAGE),
                              viewer) is v.Sight.NAMED
        else:
            assert got == [], viewer
    summary = [m for m in bot.double.messages(team.channel) if "check-in summary" in m["text"]]
    assert summary and v.sight(v.CHECKINS, v.Viewer.TEAM) is v.Sight.FIGURES
    text = blocks_text(summary[0])
    assert "1 support request" in text and "UT1" not in text and "Teacher U" not in text
    # Moving it is for those its rule lets in: a member clicking is refused, a facilitator is not.
    [request] = checkin_dms(bot, "UFAC", prefix="support:")
    for viewer in (v.Viewer.TEAM, v.Viewer.FACILITATORS):
        before = len(bot.double.responses())
        bot.user(AS[viewer]).click(request, "support_follow_up", channel="UFAC")
        bot.wait_idle()
        replies = bot.double.responses()[before:]
        is_refused = any(":no_entry:" in r.get("text", "") for r in replies)
        assert is_refused is not v.SUPPORT_MESSAGE.allows(
            _actor(bot, AS[viewer]), team_id=team.team_id, school_id=team.school_id)
        assert is_refused is (RANK[v.VIEWER_ROLE[viewer]] < RANK[NEEDS[Action.FOLLOW_UP_SUPPORT]])


def _actor(bot: BotHarness, user: str):  # noqa: ANN202
    from storage.people import load_actor

    with bot.db.read() as session:
        return load_actor(session, user, admins=bot.settings.admins)


def test_commitments_members_and_action_items_are_named_where_the_table_says(bot):
    team = seed_team(bot)
    with bot.db.session() as session:
        norm_store.save_norms(session, team_id=team.team_id, norms=["Start on time"], by="UFAC", now=bot.clock.now())
        norm_store.commit(session, team_id=team.team_id, person_id=team.person_ids["UT2"], version=1,
                          now=bot.clock.now())
    assert "UT2" in ask(bot, "UFAC", "action <@UT2|ut2> bring samples by friday")["text"]
    for viewer, user in AS.items():
        who = ask(bot, user, "norms who")
        if v.NORMS_WHO.reaches(viewer):
            assert v.sight(v.NORM_COMMITMENTS, viewer) is v.Sight.NAMED
            assert "<@UT2>" in blocks_text(who) and "<@UT1>" in blocks_text(who)
        else:
            assert refused(who) and "<@UT2>" not in blocks_text(who)
        members = ask(bot, user, "team")
        assert ("<@UT2>" in blocks_text(members)) is (v.sight(v.MEMBERSHIPS, viewer) is v.Sight.NAMED)
        items = ask(bot, user, "actions")
        assert ("<@UT2>" in blocks_text(items)) is (v.sight(v.ACTION_ITEMS, viewer) is v.Sight.NAMED)
    # The team sees commitments only as a count, under the norms posted in the channel.
    bot.user("UT1").command("norms", channel=team.channel)  # posted in the channel, no reply
    bot.wait_idle()
    posted = bot.double.wait_for(lambda: [m for m in bot.double.messages(team.channel) if "Start on time"
                                          in json.dumps(m.get("blocks"))])
    text = blocks_text(posted[-1])
    assert "1 of 4 members have committed" in text and "<@UT2>" not in text
    assert v.sight(v.NORM_COMMITMENTS, v.Viewer.TEAM) is v.Sight.FIGURES


# ------------------------------------------------------------------------------------ contract: how long
KEPT_ROWS: dict[str, tuple[Any, Any]] = {  # the rows that hold each kind, naming someone or anonymous
    v.MEMBERSHIPS.key: (Membership, col(Membership.person_id).is_not(None)),
    v.CHECKINS.key: (Checkin, col(Checkin.person_id).is_not(None)),
    v.SUPPORT.key: (SupportRequest, col(SupportRequest.person_id).is_not(None)),
    v.NAMED_FEEDBACK.key: (Feedback, col(Feedback.person_id).is_not(None)),
    v.ANONYMOUS_FEEDBACK.key: (Feedback, col(Feedback.person_id).is_(None)),
    v.ACTION_ITEMS.key: (ActionItem, col(ActionItem.owner_id).is_not(None)),
    v.NORM_COMMITMENTS.key: (NormCommitment, col(NormCommitment.person_id).is_not(None)),
    v.MEETING_LOGS.key: (Attendance, col(Attendance.person_id).is_not(None)),
    v.PROFILE.key: (Person, col(Person.id).is_not(None)),
}


def test_the_retention_purge_deletes_what_the_table_says_and_keeps_the_rest(any_db_url):
    """Four school years on, `run_purge` (the daily job and `plcbot privacy purge`) has deleted
    every kind the table keeps for PLCBOT_RETENTION_YEARS, and nothing the table keeps longer."""
    from storage.retention import run_purge

    harness = BotHarness(any_db_url)
    bot = harness.start()
    try:
        week = seed_week(bot)
        with bot.db.session() as session:
            norm_store.save_norms(session, team_id=week.teams["Grade 3"], norms=["Listen"], by="UFAC",
                                  now=bot.clock.now())
            norm_store.commit(session, team_id=week.teams["Grade 3"], person_id=week.people["UT1"], version=1,
                              now=bot.clock.now())

        def counts() -> dict[str, int]:
            with bot.db.read() as session:
                return {key: session.exec(select(func.count()).select_from(model).where(cond)).one()
                        for key, (model, cond) in KEPT_ROWS.items()}

        before = counts()
        assert all(before.values()), before
        s = bot.settings
        run_purge(bot.db, now=datetime(2030, 9, 1, 12, tzinfo=UTC), retention_years=s.retention_years,
                  year_start=s.school_year_start, timezone=s.timezone, forget_days=0, apply=True, actor="test")
        after = counts()
        for kind in v.KINDS:
            if kind.key not in KEPT_ROWS:
                continue
            if kind.retention is v.Retention.YEARS:
                assert after[kind.key] == 0, (kind.key, after)
            else:
                assert after[kind.key] == before[kind.key], (kind.key, after)
    finally:
        harness.stop()


@pytest.mark.parametrize("kind", v.KINDS, ids=lambda k: k.key)
def test_every_kind_on_the_page_says_who_sees_it_from_the_table(kind):
    """Each line of the page is the table's sight for that audience, in words."""
    text = render.kind_text(kind, render.Caller(known=True))
    said = {}  # audience -> what its line says (audiences that see the same share a line)
    for line in text.splitlines():
        if line.startswith("• *") and ":* " in line:
            label, _, rest = line[3:].partition(":* ")
            for name in label.replace(" and ", ", ").split(", "):
                said[name.lower()] = rest
    for viewer in v.VIEWERS:
        seen = v.sight(kind, viewer)
        name = render.PAGE_VIEWERS[viewer].lower()
        assert (name in said) is (seen is not v.Sight.NONE), (viewer, text)
        if seen is not v.Sight.NONE:
            assert said[name].startswith(seen.sentence), (viewer, text)
    assert escape(kind.label) in text
