"""`plcbot demo` end to end: the whole product played through the real endpoint, as a scenario test."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import create_engine
from sqlmodel import Session, select

import bot.demo as demo_module
from bot.cli import main
from bot.demo import (
    EVERYONE,
    G3_CHANNEL,
    G4_CHANNEL,
    MANIFEST,
    RIVERA,
    SCHOOL_WEEKS,
    Demo,
    DemoFiles,
    DemoFolderError,
    StepSkipped,
    as_slack_shows,
    demo_calendar,
    first_monday_after,
    plain,
    winter_break,
)
from bot.render import cycles as render
from storage.models import Meeting

STEPS = [
    "typed `/plc school create Maple Grove Elementary",  # an admin sets up the school
    "typed `/plc school principal add @Dr. Okafor in Maple Grove Elementary`",  # as Slack shows a mention
    "typed `/plc setup` in #grade-3-math",  # the first team: the setup modal
    "the bot opened the form “PLC team setup”",
    "ran `plcbot roster import grade4-roster.csv --apply`",  # the second team: the roster
    "Grade 4 ELA in Maple Grove Elementary, channel #grade-4-ela",
    "Mr. Kim as facilitator of Grade 4 ELA",
    "typed `/plc break add 2026-12-21 2027-01-01 Winter break`",  # the school's calendar
    "Added a break Mon Dec 21 – Fri Jan 1",
    "the bot posted in #grade-3-math: “Our norms (4)",  # norms edited, then committed to
    "you have committed to the team's norms",
    "started the learning cycle Fractions on a number line",
    "6 weeks: 4 of school and 2 of winter break",
    "from the Data meeting template",  # an agenda from a template
    "Week 1 check-in for Fractions on a number line",  # delivered by the scheduler
    "clicked “On track” on the check-in shown in the Home tab",
    "added a data point (62%)",
    "Mr. Brooks asked for support (week 1)",  # a support request, followed up
    "clicked “I'll follow up”",
    "ticked “Submit anonymously”",  # meeting feedback, one anonymous
    "saved anonymously",
    "Meeting log · Grade 3 Math",  # the wrap-up with an action item
    "New action item: Bring six exit-ticket samples",
    "clicked “Done” on his action item in the Home tab",
    "== Week 3: Winter break ==",  # the break: the scheduler skips its meetings and check-ins
    "typed `/plc meeting list` in #grade-3-math",
    "Thu Dec 24, 3:30 PM EST · skipped: Winter break",
    "the scheduler did not post the agenda for Wed Dec 23 in #grade-4-ela: Winter break",
    "the scheduler did not post the agenda for Thu Dec 24 in #grade-3-math: Winter break",
    "the scheduler did not post the agenda for Thu Dec 31 in #grade-3-math: Winter break",
    "the scheduler skipped this week's check-ins (Winter break): week 4 of “Fractions on a number line”",
    "Reminder: your week 5 check-in for Citing text evidence is still open",  # Ms. Adams forgot
    "week 6 check-in summary",
    "Cycle closed: Fractions on a number line",  # the reflection
    "Dr. Okafor's Home tab: Your schools",
    "Jordan Lee's Home tab: Welcome to plcbot",
    "PLC digest for Maple Grove Elementary",
    "The principal's digest workbook is at:",
]


def _story(out: str) -> list[str]:
    """The transcript without what differs between two runs (the banner's note, the timing)."""
    return [re.sub(r" \(the previous demo's files there were replaced\)", "", line) for line in out.splitlines()
            if not line.startswith("Played ")]


def test_the_demo_plays_every_step_twice_into_one_folder(tmp_path, capsys, monkeypatch):
    """`plcbot demo --out DIR` twice: two complete runs (exit 0, nothing skipped), the same story;
    the second replaces the first one's files and leaves the user's own alone."""
    monkeypatch.setattr(demo_module, "today", lambda: date(2026, 12, 6))  # the calendar crosses the winter break
    folder = tmp_path / "demo"
    assert main(["demo", "--out", str(folder)]) == 0
    first = capsys.readouterr().out
    missing = [s for s in STEPS if s not in first]
    assert not missing, missing
    assert "skipped “" not in first and "Skipped:" not in first
    # The story reads as Slack shows it: names, never ids.
    assert "<@" not in first and "<#" not in first
    ids = {p.user_id for p in EVERYONE} | {G3_CHANNEL, G4_CHANNEL}
    assert not [w for w in re.findall(r"\b[UC][A-Z0-9]{2,}\b", first) if w in ids]
    # A reminder reads as a reminder, not as a second copy of the check-in.
    sent = re.findall(r"the bot sent a direct message to ([^:]+): “(.*)”", first)
    reminders = [(who, text) for who, text in sent if text.startswith("Reminder:")]
    assert any("Ms. Adams" in who.split(", ") and text == "Reminder: your week 5 check-in for Citing text evidence "
               "is still open." for who, text in reminders)
    checkins = {text for _, text in sent if "check-in for" in text and not text.startswith("Reminder:")}
    assert not {text for _, text in reminders} & checkins
    # No meeting is held, nor its agenda posted, on a day of the winter break.
    for day in ("Wed Dec 23", "Thu Dec 24", "Wed Dec 30", "Thu Dec 31"):
        assert f"Agenda · Grade 3 Math · {day}" not in first and f"Agenda · Grade 4 ELA · {day}" not in first
        assert f"feedback on {day}" not in first
    engine = create_engine(f"sqlite:///{folder / 'plcbot-demo.db'}")
    with Session(engine) as session:
        meetings = session.exec(select(Meeting)).all()
    engine.dispose()
    zone = ZoneInfo("America/New_York")
    on_break = [m for m in meetings if date(2026, 12, 21) <= m.starts_at.astimezone(zone).date() <= date(2027, 1, 1)]
    assert len(on_break) == 4 and {(m.status, m.title) for m in on_break} == {("cancelled", "break: Winter break")}
    assert "meeting cancel" not in first  # nobody cancels a meeting of the break by hand
    assert any(m.status != "cancelled" for m in meetings)
    # The workbook.
    workbook = Path(re.findall(r"The principal's digest workbook is at: (.*)", first)[0])
    assert workbook.is_file() and workbook.parent == folder
    book = openpyxl.load_workbook(workbook)
    assert {"Summary", "Check-ins", "Support requests", "Feedback", "Cycles and goals"} <= set(book.sheetnames)
    assert book["Check-ins"].max_row > 1
    # Anonymous stays anonymous in the workbook too.
    feedback = "\n".join(str(c.value) for row in book["Feedback"].iter_rows() for c in row if c.value)
    assert "Ms. Patel" not in feedback and "UPATEL" not in feedback

    (folder / "my notes.txt").write_text("mine")
    assert main(["demo", "--out", str(folder)]) == 0
    second = capsys.readouterr().out
    assert "(the previous demo's files there were replaced)" in second
    assert _story(second) == _story(first)
    assert (folder / "my notes.txt").read_text() == "mine"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["my notes.txt", MANIFEST, "grade4-roster.csv", "plcbot-demo.db", workbook.name])


def test_demo_refuses_a_folder_whose_files_are_not_its_own(tmp_path, capsys):
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "plcbot-demo.db").write_text("someone's database")
    assert main(["demo", "--out", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "plcbot-demo.db" in err and "another --out folder" in err
    assert (folder / "plcbot-demo.db").read_text() == "someone's database"
    assert not (folder / MANIFEST).exists()


def test_demo_files_replace_only_what_the_demo_wrote_unchanged(tmp_path):
    files = DemoFiles(tmp_path)
    assert files.start(["grade4-roster.csv"]) == []
    (tmp_path / "grade4-roster.csv").write_text("a,b\n")
    files.claim("grade4-roster.csv")
    files.claim("plcbot-demo.db", checksum=False)
    (tmp_path / "plcbot-demo.db").write_text("changes as it runs")
    with (tmp_path / MANIFEST).open("a") as f:
        f.write("-  ../outside.txt\n")  # never a path out of the folder
    (tmp_path.parent / "outside.txt").write_text("keep")
    assert sorted(DemoFiles(tmp_path).start(["grade4-roster.csv"])) == ["grade4-roster.csv", "plcbot-demo.db"]
    assert (tmp_path.parent / "outside.txt").exists()
    # A listed file changed since the demo wrote it is refused, and nothing is removed.
    files = DemoFiles(tmp_path)
    (tmp_path / "grade4-roster.csv").write_text("a,b\n")
    files.claim("grade4-roster.csv")
    (tmp_path / "grade4-roster.csv").write_text("my edits\n")
    with pytest.raises(DemoFolderError, match="changed after plcbot demo wrote it"):
        DemoFiles(tmp_path).start(["grade4-roster.csv"])
    assert (tmp_path / "grade4-roster.csv").read_text() == "my edits\n"
    # A list the demo did not write is not trusted.
    (tmp_path / MANIFEST).write_text("-  grade4-roster.csv\n")
    with pytest.raises(DemoFolderError, match="not written by plcbot demo"):
        DemoFiles(tmp_path).start([])


def test_a_step_the_demo_cannot_play_is_told_in_a_teachers_words(tmp_path):
    story = Demo(out=None, workdir=tmp_path, start_day=date(2026, 12, 6))  # not started: no message, no form
    with pytest.raises(StepSkipped) as found:
        story.latest(G3_CHANNEL, "norms_commit")
    assert str(found.value) == "no message with the norms' “I commit” button in #grade-3-math"
    with pytest.raises(StepSkipped) as found:
        story.submit(RIVERA, {"callback_id": "cycle_modal", "blocks": []}, {"metric_name": "Score"}, "saved")
    assert str(found.value) == "the cycle form no longer asks for the metric name"


def test_demo_refuses_an_existing_database_file(tmp_path, capsys):
    db = tmp_path / "old.db"
    db.write_text("")
    assert main(["demo", "--db", str(db)]) == 2
    assert "exists" in capsys.readouterr().err


def test_the_demo_calendar_always_has_a_break_and_four_school_weeks():
    c = demo_calendar(date(2026, 12, 6))  # the winter holidays: no meeting on Dec 24 or Dec 31
    assert (c.monday, c.break_start, c.break_end, c.break_label) == (
        date(2026, 12, 7), date(2026, 12, 21), date(2027, 1, 1), "Winter break")
    assert c.on_break(date(2026, 12, 24)) and c.on_break(date(2026, 12, 31)) and len(c.weeks) == 6
    spring = demo_calendar(date(2026, 3, 1))  # no holidays near: a week off in the third week
    assert (spring.break_start, spring.break_end, spring.break_label) == (
        date(2026, 3, 16), date(2026, 3, 20), "Spring break")
    during = demo_calendar(date(2026, 12, 26))  # the holidays have begun: school starts after them
    assert during.monday == date(2027, 1, 4)
    day = date(2026, 1, 1)
    while day < date(2029, 1, 1):
        c = demo_calendar(day)
        first = first_monday_after(day)
        assert c.monday >= first and c.monday.weekday() == 0
        assert c.break_start.weekday() == 0 and c.break_end.weekday() == 4
        school = [w for w in c.weeks if not c.is_break_week(w)]
        assert len(school) == SCHOOL_WEEKS and c.weeks[0] == school[0] and c.weeks[-1] == school[-1]
        assert c.weeks[0] < c.break_start <= c.break_end < c.weeks[-1]  # the break is inside the span
        assert len(c.weeks) <= 12
        start, end = winter_break(first.year - 1 if first.month == 1 else first.year)
        if first < start <= first + timedelta(days=7 * SCHOOL_WEEKS - 1):
            assert (c.break_start, c.break_end) == (start, end)
        day += timedelta(days=1)


def test_a_reminder_reads_as_a_reminder_with_the_same_buttons():
    card = render.CheckinCard(checkin_id=3, team_name="Grade 3 Math", title="Fractions", goal="g", strategy="s",
                              metric_name="Score", metric_unit="%", week=2, weeks=4)
    text, blocks = render.checkin_message(card)
    reminder_text, reminder_blocks = render.checkin_message(render.CheckinCard(**{**card.__dict__, "reminder": True}))
    assert text == "Week 2 check-in for Fractions: how is it going?"
    assert reminder_text == "Reminder: your week 2 check-in for Fractions is still open."
    assert "Reminder: your week 2 check-in for Fractions is still open" in reminder_blocks[0]["text"]["text"]

    def actions(found: list) -> list:
        return [e["action_id"] for b in found if b["type"] == "actions" for e in b["elements"]]

    assert actions(reminder_blocks) == actions(blocks) and len(actions(blocks)) == 4


def test_transcript_helpers():
    assert first_monday_after(date(2026, 11, 29)) == date(2026, 11, 30)
    assert first_monday_after(date(2026, 11, 30)) == date(2026, 12, 7)
    line = plain("*Hi* <@U1>, see <#C1> &amp; <https://x.example|the agenda>\nnext", {"U1": "Ms. Rivera"},
                 {"C1": "#grade-3"})
    assert line == "Hi @Ms. Rivera, see #grade-3 & the agenda / next"
    names, channels = {"UKIM": "Mr. Kim"}, {"CG4ELA": "#grade-4-ela"}
    assert as_slack_shows("principal add <@UKIM|kim> in <#CG4ELA|grade-4-ela>", names, channels) == (
        "principal add @Mr. Kim in #grade-4-ela")
    assert as_slack_shows("Mr. Kim (UKIM) of Grade 4 ELA, channel CG4ELA at 3 PM UTC", names, channels) == (
        "Mr. Kim of Grade 4 ELA, channel #grade-4-ela at 3 PM UTC")
