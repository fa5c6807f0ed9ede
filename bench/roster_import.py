"""Import a 4,000-person roster through the Slack double into a fresh SQLite file.

Prints the seconds taken by the dry run, the real import and a re-import, and the Web API calls
made (one paged users.list and one paged conversations.list, never one lookup per e-mail).
Run: `python bench/roster_import.py [PEOPLE]`.
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

from bot.cli import main
from bot.slack_double import SlackDouble

HEADER = "school,team,channel,email,slack_user_id,role,meeting_day,meeting_time,meeting_minutes,timezone\n"


def build(double: SlackDouble, folder: Path, people: int, team_size: int = 20) -> Path:
    lines = [HEADER]
    for t in range(people // team_size + 1):
        double.add_channel(f"CT{t:05d}", name=f"plc-team-{t}")
    for i in range(people):
        double.add_user(f"UP{i:06d}", name=f"p{i}", real_name=f"Teacher {i}", email=f"p{i}@district.org")
        team = i // team_size
        role = "facilitator" if i % team_size == 0 else "member"
        lines.append(f"School {team % 8},Team {team},CT{team:05d},p{i}@district.org,,{role},Tue,15:00,45,\n")
    for s in range(8):
        double.add_user(f"UPRIN{s}", name=f"principal{s}", email=f"principal{s}@district.org")
        lines.append(f"School {s},,,principal{s}@district.org,,principal,,,,America/Chicago\n")
    path = folder / "roster.csv"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def timed(label: str, argv: list[str]) -> float:
    started = time.monotonic()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(argv)
    elapsed = time.monotonic() - started
    last = out.getvalue().strip().splitlines()[-1:] or [""]
    print(f"{label:<12} {elapsed:6.2f} s  exit {status}  {last[0]}")
    return elapsed


def run(people: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, SlackDouble() as double:
        folder = Path(tmp)
        path = build(double, folder, people)
        os.environ.update(SLACK_BOT_TOKEN=double.bot_token, SLACK_API_URL=double.url,
                          DATABASE_URL=f"sqlite:///{folder / 'plc.db'}")
        base = ["--env-file", str(folder / "no.env"), "roster", "import", str(path)]
        print(f"{people} people in {people // 20 + 1} teams")
        timed("dry run", base)
        timed("apply", [*base, "--apply"])
        timed("re-import", [*base, "--apply"])
        calls = collections.Counter(c.method for c in double.calls)
        print("Web API calls:", dict(calls))


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 4000)
