"""`plcbot demo --teams` end to end: the Slack demo's story on the Teams front, against the Teams double."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import openpyxl
import pytest

import bot.demo as demo_module
from bot.cli import main
from bot.demo_teams import (
    EVERYONE,
    GRADE3,
    GRADE4,
    MANIFEST,
    check_in_weeks,
    teams_id,
)

pytestmark = pytest.mark.real_clock  # the double signs the activities' tokens with the machine's clock


def test_the_teams_demo_plays_the_whole_story(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(demo_module, "today", lambda: date(2026, 12, 6))  # the calendar crosses the winter break
    seen: dict[str, list[int]] = {}
    import bot.demo_teams as teams_demo

    original = teams_demo.TeamsFront.each_person

    def keep(self):  # noqa: ANN001, ANN202 - what each person's chat holds, read before the double stops
        for person in EVERYONE:
            seen[person.name] = check_in_weeks(self.stage.double.seen_by(teams_id(person)))
        original(self)

    monkeypatch.setattr(teams_demo.TeamsFront, "each_person", keep)
    folder = tmp_path / "demo"
    assert main(["demo", "--teams", "--out", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "skipped “" not in out and "Skipped:" not in out
    for step in [
        "added plcbot to the team Grade 3 Math",
        "plcbot posted in Grade 3 Math › General: “👋 Hi, I'm plcbot",
        # every step through a Teams command or dialog, as a person on Teams does it
        "Sam Ortiz (district admin) typed “school create Maple Grove Elementary America/New_York” in the chat",
        "typed “school principal add @Dr. Okafor in Maple Grove Elementary”",
        "Dr. Okafor is now a principal of Maple Grove Elementary",
        "typed “@plcbot setup” in Grade 3 Math › General",
        "Teams opened the dialog “PLC team set-up”",
        "Grade 3 Math is set up.",
        "Grade 4 ELA is set up.",
        "typed “@plcbot break add 2026-12-21 2027-01-01 Winter break” in Grade 3 Math › General",
        "typed “@plcbot norms edit” in Grade 3 Math › General",
        "Norms of Grade 3 Math / 📝 Ms. Rivera updated the norms",
        "clicked “I commit to these norms”",
        "you have committed to the team's norms",
        "typed “@plcbot cycle start” in Grade 3 Math › General",
        "Learning cycle started: Fractions on a number line",
        "typed “@plcbot agenda template data” in Grade 3 Math › General",
        "clicked “Stuck, I'd like support”",
        "Mr. Brooks asked for support in week 1",
        "clicked “I'll follow up”",
        "Ms. Rivera is following up",
        "ticked “Submit anonymously”",
        "saved anonymously",
        "typed “@plcbot wrapup” in Grade 3 Math › General",
        "Meeting log · Grade 3 Math",
        "New action item",
        "clicked “Done” on his action item in his chat with plcbot",
        "Reminder: your week 5 check-in for Citing text evidence is still open",
        "typed “@plcbot meeting list” in Grade 3 Math › General",
        "the scheduler skipped this week's check-ins (Winter break)",
        "did not post the agenda for Thu Dec 24 in Grade 3 Math › General: Winter break",
        "Cycle closed: Fractions on a number line",
        "typed “home” in the chat with plcbot",
        "[file offered: PLC digest - Maple Grove Elementary",
        "clicked “Allow”",
        "[file card: PLC digest - Maple Grove Elementary",
        "== What each person saw ==",
    ]:
        assert step in out, step
    # Nothing goes around the Teams front any more, and the story never says Teams lacks a command.
    for stale in ("core action", "core's", "not in this build", "typed on Slack", "coming to Teams", "Slack for now"):
        assert stale not in out, stale
    # Names, never ids: no Teams user, conversation or channel id in the story.
    assert not re.findall(r"\b(?:29|28|19|a):[0-9A-Za-z_-]{3,}", out)
    assert "<at>" not in out
    # One check-in card a school week for every teacher (weeks 3 and 4 are the break).
    for person in [*GRADE3, *GRADE4]:
        assert seen[person.name] == [1, 2, 5, 6], (person.name, seen[person.name])
    # The principal's workbook, uploaded through the file consent, opens.
    workbook = Path(re.findall(r"The principal's digest workbook is at: (.*)", out)[0])
    assert workbook.is_file() and workbook.parent == folder
    book = openpyxl.load_workbook(workbook)
    assert "Check-ins" in book.sheetnames and book["Check-ins"].max_row > 1
    feedback = "\n".join(str(c.value) for row in book["Feedback"].iter_rows() for c in row if c.value)
    assert "Ms. Patel" not in feedback  # the anonymous answer stays anonymous
    assert sorted(p.name for p in folder.iterdir()) == sorted([MANIFEST, "plcbot-demo-teams.db", workbook.name])
    assert (folder / MANIFEST).read_text().count(workbook.name) == 1
