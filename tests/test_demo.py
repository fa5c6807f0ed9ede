"""`plcbot demo` end to end: the whole product played through the real endpoint, as a scenario test."""

from __future__ import annotations

import io
from datetime import date

import openpyxl

from bot.cli import main
from bot.demo import first_monday_after, plain, run_demo


def test_the_demo_plays_every_step_and_writes_the_principals_workbook(tmp_path):
    out = io.StringIO()
    result = run_demo(out=out, workdir=tmp_path / "demo")
    transcript = out.getvalue()
    assert result.skipped == [], result.skipped
    assert result.seconds < 60
    steps = [
        "typed `/plc school create Maple Grove Elementary",  # an admin sets up the school
        "typed `/plc setup` in #grade-3-math",  # the first team: the setup modal
        "the bot opened the form “PLC team setup”",
        "ran `plcbot roster import grade4-roster.csv --apply`",  # the second team: the roster
        "Grade 4 ELA in Maple Grove Elementary",
        "the bot posted in #grade-3-math: “Our norms (4)",  # norms edited, then committed to
        "you have committed to the team's norms",
        "started the learning cycle Fractions on a number line",
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
        "week 4 check-in summary",
        "Cycle closed: Fractions on a number line",  # the reflection
        "Dr. Okafor's Home tab: Your schools",
        "Jordan Lee's Home tab: Welcome to plcbot",
        "PLC digest for Maple Grove Elementary",
        "The principal's digest workbook is at:",
    ]
    missing = [s for s in steps if s not in transcript]
    assert not missing, missing
    assert result.workbook is not None and result.workbook.is_file()
    assert str(result.workbook) in transcript
    book = openpyxl.load_workbook(result.workbook)
    assert {"Summary", "Check-ins", "Support requests", "Feedback", "Cycles and goals"} <= set(book.sheetnames)
    assert book["Check-ins"].max_row > 1
    # Anonymous stays anonymous in the workbook too.
    feedback = "\n".join(str(c.value) for row in book["Feedback"].iter_rows() for c in row if c.value)
    assert "Ms. Patel" not in feedback and "UPATEL" not in feedback


def test_demo_refuses_an_existing_database_file(tmp_path, capsys):
    db = tmp_path / "old.db"
    db.write_text("")
    assert main(["demo", "--db", str(db)]) == 2
    assert "exists" in capsys.readouterr().err


def test_transcript_helpers():
    assert first_monday_after(date(2026, 11, 29)) == date(2026, 11, 30)
    assert first_monday_after(date(2026, 11, 30)) == date(2026, 12, 7)
    line = plain("*Hi* <@U1>, see <#C1> &amp; <https://x.example|the agenda>\nnext", {"U1": "Ms. Rivera"},
                 {"C1": "#grade-3"})
    assert line == "Hi Ms. Rivera, see #grade-3 & the agenda / next"
