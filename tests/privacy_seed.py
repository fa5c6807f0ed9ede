"""A teacher's full history, built through the real user flows, for the export and erasure tests.

Maria (UT1) teaches in two teams (Grade 3 and Math) of Lincoln Elementary. Over the first two
weeks of a learning cycle she commits to Grade 3's norms, owns an action item a facilitator
gave her and gives one to a colleague, answers her check-in through the details modal with a
data point, evidence and a support request (which the facilitator follows up), attends the
Thursday meeting (the wrap-up records it) and gives named feedback on it, then gives anonymous
feedback on a one-off meeting the next Monday. Her colleagues answer too, so the team's
figures (response rates, feedback averages over at least three answers) are not empty. The
clock ends on Monday Dec 7 2026, 4:30 PM in New York, with the anonymous answer's window open.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import MetaData
from sqlalchemy import select as select_table
from sqlmodel import SQLModel, select

from bot.cli import main as cli_main
from storage.models import Meeting
from tests.cycle_helpers import checkin_dms, make_cycle
from tests.harness import SIGNING_SECRET, BotHarness
from tests.seed import Seeded, seed_team

TEACHER = "UT1"
THURSDAY_CHECKIN = datetime(2026, 12, 3, 19, 0, tzinfo=UTC)  # 2:00 PM New York
THURSDAY_MEETING = datetime(2026, 12, 3, 20, 30, tzinfo=UTC)  # 3:30 PM New York
MONDAY_MORNING = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)  # 8:00 AM: the check-in window has closed
MONDAY_MEETING = datetime(2026, 12, 7, 20, 30, tzinfo=UTC)
EVIDENCE = "=HYPERLINK(\"http://x\") 12 of 20 exit tickets <!channel>"
SUPPORT = "Help with small groups for <fractions>"
NAMED = {"useful": {"value": "4"}, "learned": {"value": "5"}, "norms": {"value": "3"},
         "will_try": {"value": "Number lines every morning"}, "evidence": {"value": "Unit 4 samples"},
         "next_focus": {"value": "Reteaching groups"}}


@dataclass
class History:
    grade3: Seeded
    math: Seeded
    cycle_id: int
    thursday_meeting: int
    monday_meeting: int


def _views(bot: BotHarness, user_id: str, callback_id: str) -> dict:
    return bot.double.wait_for(lambda: next(
        (v for v in reversed(bot.double.open_views(user_id)) if v["callback_id"] == callback_id), None))


def _command(bot: BotHarness, user_id: str, text: str, channel: str) -> None:
    reply = bot.user(user_id).command(text, channel=channel)
    assert reply.status == 200
    bot.wait_idle()


def _feedback(bot: BotHarness, user_id: str, channel: str, values: dict) -> None:
    before = len(bot.double.open_views(user_id))
    bot.user(user_id).command("feedback", channel=channel)
    view = bot.double.wait_for(lambda: len(bot.double.open_views(user_id)) > before
                               and bot.double.open_views(user_id))[-1]
    reply = bot.user(user_id).submit(view, values)
    assert reply.status == 200 and not (reply.json or {}).get("errors"), reply.json
    bot.wait_idle()


def _meeting_at(bot: BotHarness, team_id: int, starts_at: datetime) -> int:
    with bot.db.read() as session:
        meeting = session.exec(select(Meeting).where(Meeting.team_id == team_id,
                                                     Meeting.starts_at == starts_at)).one()
        assert meeting.id is not None
        return meeting.id


def build_history(bot: BotHarness) -> History:
    """Walk Maria's two weeks through signed requests to the bot; returns what was made."""
    grade3 = seed_team(bot)  # UFAC facilitates UT1, UT2, UT3; UPRIN is the principal
    math = seed_team(bot, team="Math", channel="CMATH", facilitators=("UFAC2",), members=("UT4",),
                     principals=(), school_id=grade3.school_id, meeting_weekdays="")
    ch = grade3.channel
    bot.double.set_channel_members(math.channel, ["UFAC2", "UT4", TEACHER])
    _command(bot, "UFAC2", f"team add <@{TEACHER}|ut1>", math.channel)  # audited, with her id

    # Norms: the facilitator writes them, Maria commits.
    bot.user("UFAC").command("norms edit", channel=ch)
    bot.user("UFAC").submit(_views(bot, "UFAC", "norms_edit"), {"norms": {"text": "Start on time\nAssume good intent"}})
    bot.wait_idle()
    _command(bot, TEACHER, "norms", ch)
    posted = [m for m in bot.double.messages(ch) if "norms_commit" in json.dumps(m.get("blocks"))][-1]
    bot.user(TEACHER).click(posted, "norms_commit")
    bot.wait_idle()

    # Action items: one given to her, one she gives.
    _command(bot, "UFAC", f"action <@{TEACHER}|ut1> Share the exit tickets by friday", ch)
    _command(bot, TEACHER, "action <@UT2|ut2> Bring the unit 4 data by Dec 10", ch)
    _command(bot, "UFAC", "agenda template data", ch)

    # Week 1 check-in: details with a data point, evidence and a support request.
    cycle_id = make_cycle(bot, grade3.team_id)
    bot.clock.set(THURSDAY_CHECKIN)
    bot.tick()
    bot.user(TEACHER).click(checkin_dms(bot, TEACHER)[0], "checkin_details")
    modal = _views(bot, TEACHER, "checkin_details")
    reply = bot.user(TEACHER).submit(modal, {"progress": {"progress": "stuck"}, "value": {"value": "61"},
                                             "evidence": {"evidence": EVIDENCE}, "support": {"support": SUPPORT}})
    assert not (reply.json or {}).get("errors"), reply.json
    for user_id, answer in (("UT2", "checkin_on_track"), ("UT3", "checkin_some_progress"),
                            ("UFAC", "checkin_on_track")):
        bot.user(user_id).click(checkin_dms(bot, user_id)[0], answer)
    bot.wait_idle()

    # The Thursday meeting: wrapped up with her present, then named feedback from three.
    bot.clock.set(THURSDAY_MEETING + timedelta(minutes=40))
    bot.tick()
    thursday = _meeting_at(bot, grade3.team_id, THURSDAY_MEETING)
    bot.user("UFAC").command("wrapup", channel=ch)
    wrapup = _views(bot, "UFAC", "meeting_wrapup")
    bot.user("UFAC").submit(wrapup, {"present": {"value": ["UFAC", TEACHER, "UT2"]},
                                     "decisions": {"value": f"Reteach fractions; <@{TEACHER}|ut1> shares samples"}})
    bot.wait_idle()
    _feedback(bot, TEACHER, ch, NAMED)
    _feedback(bot, "UT2", ch, {**NAMED, "useful": {"value": "2"}})
    _feedback(bot, "UT3", ch, {**NAMED, "learned": {"value": "3"}})

    # Monday: the window closed over the weekend, the support request reached the facilitator.
    bot.clock.set(MONDAY_MORNING)
    bot.tick()
    bot.tick()
    [request] = checkin_dms(bot, "UFAC", prefix="support:")
    bot.user("UFAC").click(request, "support_follow_up")
    bot.wait_idle()

    # A one-off meeting that afternoon: anonymous feedback from her, named from the others.
    _command(bot, "UFAC", "meeting add Dec 7 3:30 pm 45", ch)
    monday = _meeting_at(bot, grade3.team_id, MONDAY_MEETING)
    bot.clock.set(MONDAY_MEETING + timedelta(minutes=50))
    bot.tick()
    _feedback(bot, TEACHER, ch, {**NAMED, "useful": {"value": "5"}, "anonymous": {"value": ["yes"]},
                                 "will_try": {"value": "Anonymous idea"}})
    _feedback(bot, "UT2", ch, {**NAMED, "useful": {"value": "3"}})
    _feedback(bot, "UT3", ch, {**NAMED, "anonymous": {"value": ["yes"]}})
    return History(grade3, math, cycle_id, thursday, monday)


# ------------------------------------------------------------------ shared by the privacy tests
def run_cli(bot: BotHarness, monkeypatch, *argv: str) -> int:  # noqa: ANN001
    """`plcbot …` as the operator runs it, against the bot's database, on the test's clock."""
    monkeypatch.setenv("DATABASE_URL", bot.db_url)
    monkeypatch.setenv("SLACK_API_URL", bot.double.url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", bot.double.bot_token)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)  # the same install: the same link key
    import bot.cli.privacy as privacy_cli
    from bot.cli.common import services_from

    def on_test_clock(args):  # noqa: ANN001, ANN202
        services = services_from(args)
        services.clock = bot.clock
        return services

    monkeypatch.setattr(privacy_cli, "services_from", on_test_clock)
    # The CLI points the root logger at this test's captured stderr, which pytest closes after
    # the test: put the handlers back, or a later test's log line is a "Logging error" traceback.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return cli_main(["--env-file", "/dev/null", *argv])
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def cli_errors(err: str) -> list[str]:
    """The CLI's own lines on stderr (the migration's log lines may come first)."""
    return [line for line in err.splitlines() if line.startswith("plcbot:")]


def dump(bot: BotHarness) -> dict[str, list[tuple]]:
    """Every row of every table, in key order."""
    out = {}
    with bot.db.read() as session:
        for table in SQLModel.metadata.sorted_tables:
            keys = list(table.primary_key.columns)
            out[table.name] = [tuple(r) for r in session.execute(select_table(table).order_by(*keys)).all()]
    return out


def occurrences(bot: BotHarness, needle: str) -> list[tuple[str, str, object]]:
    """(table, column, first column's value) of every value holding `needle`, in every column of
    every table the database itself has (reflected, so a table no model declares is searched too)."""
    found = []
    reflected = MetaData()
    reflected.reflect(bind=bot.db.engine)
    assert "person" in reflected.tables and "alembic_version" in reflected.tables
    with bot.db.read() as session:
        for table in reflected.sorted_tables:
            for row in session.execute(select_table(table)).all():
                for column, value in zip(table.columns, row, strict=True):
                    if value is not None and needle in str(value):
                        found.append((table.name, column.name, row[0]))
    return found
