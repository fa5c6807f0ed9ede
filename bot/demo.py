"""`plcbot demo`: the real bot, a pretend school, four weeks in under a minute, no Slack needed.

What runs is what `plcbot run` runs: the same `Runtime` (Bolt app, every feature's handlers,
the scheduler's registry, storage, the delivery ledger), served over HTTP on 127.0.0.1 by a
threaded WSGI server. What is pretend: Slack (the `SlackDouble` from this package, started in
this process), the people (simulated with `SlackUser`, which sends the same signed requests
Slack sends), and time (a `FakeClock` moved forward, with one scheduler tick after each move
instead of waiting). The database is a fresh SQLite file. No token, no `.env`, no network.

The demo's calendar is its own: it starts the Monday after today and has a school break in its
span (the winter holidays when its weeks cross them, else a week off in its third week), so the
story always shows the scheduler skipping check-ins and meetings over a break.

Run again into the same folder (`--out DIR`), it replaces the files its earlier run wrote there,
listed in `plcbot-demo-files.txt`, and refuses to write over any other file.

The transcript is written from what the double recorded: who typed or clicked what, then
what the bot posted, sent or opened, in the words of the messages themselves.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import html
import json
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Self, TextIO
from zoneinfo import ZoneInfo

from bot.slack_double import SlackDouble
from bot.stage import Stage
from scheduling.clock import FakeClock
from storage import meetings as meeting_store
from storage.models import CheckinRound, Cycle, Meeting, ScheduledJob, Team
from storage.rules import cycles as cycle_rules

TZ = "America/New_York"
ZONE = ZoneInfo(TZ)
SCHOOL = "Maple Grove Elementary"
MAX_STEP = timedelta(days=4)  # besides each due job, the scheduler ticks at least this often
SCHOOL_WEEKS = 4  # the cycle's weeks of school; the demo's cycle also spans the break's weeks
DB_NAME = "plcbot-demo.db"
ROSTER_NAME = "grade4-roster.csv"
MANIFEST = "plcbot-demo-files.txt"


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str
    role: str  # what the transcript says after the name
    email: str = ""


ADMIN = Person("UDEMOADMIN", "Sam Ortiz", "district admin")
PRINCIPAL = Person("UOKAFOR", "Dr. Okafor", "principal")
RIVERA = Person("URIVERA", "Ms. Rivera", "facilitator")
CHEN = Person("UCHEN", "Mr. Chen", "teacher")
PATEL = Person("UPATEL", "Ms. Patel", "teacher")
BROOKS = Person("UBROOKS", "Mr. Brooks", "teacher")
NGUYEN = Person("UNGUYEN", "Ms. Nguyen", "teacher")
KIM = Person("UKIM", "Mr. Kim", "facilitator")
LOPEZ = Person("ULOPEZ", "Ms. Lopez", "teacher")
WRIGHT = Person("UWRIGHT", "Mr. Wright", "teacher")
ADAMS = Person("UADAMS", "Ms. Adams", "teacher")
NEWCOMER = Person("UJORDAN", "Jordan Lee", "new teacher, in no team")
GRADE3 = [CHEN, PATEL, BROOKS, NGUYEN]
GRADE4 = [LOPEZ, WRIGHT, ADAMS]
EVERYONE = [ADMIN, PRINCIPAL, RIVERA, *GRADE3, KIM, *GRADE4, NEWCOMER]
G3_CHANNEL, G3_NAME = "CG3MATH", "grade-3-math"
G4_CHANNEL, G4_NAME = "CG4ELA", "grade-4-ela"


# What a skipped step calls the buttons and forms it looked for: a teacher's words, not ids.
BUTTONS = {
    "norms_commit": "the norms' “I commit” button",
    "checkin_on_track": "the check-in's “On track” button",
    "checkin_some_progress": "the check-in's “Some progress” button",
    "checkin_stuck": "the check-in's “Stuck, I'd like support” button",
    "checkin_details": "the check-in's “Add details” button",
    "support_follow_up": "the support request's “I'll follow up” button",
    "feedback_open": "the meeting's “Give feedback” button",
    "cycle_reflect_open": "the “Fill in the reflection” button",
    "action_done": "the action item's “Done” button",
    "home_digest_now": "the “Send me the digest now” button",
}
FORMS = {
    "plc_setup": "the team setup form",
    "norms_edit": "the norms form",
    "cycle_modal": "the cycle form",
    "checkin_details": "the check-in details form",
    "feedback_submit": "the feedback form",
    "meeting_wrapup": "the wrap-up form",
    "cycle_reflection": "the reflection form",
}


class StepSkipped(Exception):
    """A step the demo could not play (a feature missing or answering differently); said in the transcript."""


class DemoFolderError(Exception):
    """The demo's folder holds a file the demo did not write where it would write; one line saying which."""


@dataclass
class DemoResult:
    workbook: Path | None
    database: Path
    transcript: list[str]
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    replaced: list[str] = field(default_factory=list)  # an earlier demo's files this run removed first


def today() -> date:
    """The real date (UTC), which the demo's calendar starts after."""
    return datetime.now(UTC).date()


def short_day(day: date) -> str:
    return f"{day:%a %b} {day.day}"


def first_monday_after(day: date) -> date:
    """The Monday after `day`: the demo's school year starts then, never in the past."""
    return day + timedelta(days=7 - day.weekday())


# ---------------------------------------------------------------------------- the demo's calendar
def winter_break(year: int) -> tuple[date, date]:
    """The winter holidays around Christmas of `year`, as schools take them: whole school weeks, from
    the Monday of Dec 24's week to the Friday of Jan 1's week (a weekend day moves to the nearest
    school week)."""
    eve, new_year = date(year, 12, 24), date(year + 1, 1, 1)
    start = eve - timedelta(days=eve.weekday()) if eve.weekday() < 5 else eve + timedelta(days=7 - eve.weekday())
    end = (new_year + timedelta(days=4 - new_year.weekday()) if new_year.weekday() < 5
           else new_year - timedelta(days=new_year.weekday() - 4))
    return start, end


def season_break(day: date) -> str:
    return {12: "Mid-winter break", 1: "Mid-winter break", 2: "Mid-winter break", 3: "Spring break",
            4: "Spring break", 5: "Spring break", 6: "Summer break", 7: "Summer break",
            8: "Summer break"}.get(day.month, "Fall break")


@dataclass(frozen=True)
class Calendar:
    """The demo school's weeks: the Monday of each week played, and the school break among them."""

    weeks: tuple[date, ...]
    break_start: date
    break_end: date
    break_label: str

    @property
    def monday(self) -> date:
        return self.weeks[0]

    def on_break(self, day: date) -> bool:
        return self.break_start <= day <= self.break_end

    def is_break_week(self, monday: date) -> bool:
        """No check-in that week: its check-in day (Tuesday) is in the break."""
        return self.on_break(monday + timedelta(days=1))


def demo_calendar(today: date) -> Calendar:
    """The demo's weeks from the Monday after `today`, with a school break in them whatever the date.

    When the demo's first four weeks cross the winter holidays, the break is the winter holidays
    (if they have already begun, the demo starts the Monday after them); otherwise it is the whole
    third week. The cycle runs four school weeks plus the break's weeks.
    """
    monday = first_monday_after(today)
    start, end, label = monday + timedelta(days=14), monday + timedelta(days=18), ""
    for _ in range(3):
        last = monday + timedelta(days=7 * SCHOOL_WEEKS - 1)
        crossing = [w for w in (winter_break(monday.year - 1), winter_break(monday.year))
                    if w[0] <= last and w[1] >= monday]
        if not crossing:
            start, end = monday + timedelta(days=14), monday + timedelta(days=18)
            label = season_break(start)
            break
        start, end = crossing[0]
        if start > monday:
            label = "Winter break"
            break
        monday = first_monday_after(end)  # the holidays have begun: school starts after them
    weeks: list[date] = []
    day, school = monday, 0
    while school < SCHOOL_WEEKS:
        weeks.append(day)
        if not start <= day + timedelta(days=1) <= end:
            school += 1
        day += timedelta(days=7)
    return Calendar(tuple(weeks), start, end, label)


# ---------------------------------------------------------------------------- the demo's own files
class DemoFiles:
    """The files the demo wrote in its folder, listed in `plcbot-demo-files.txt` beside them.

    A later run in the same folder removes exactly those first, so it starts fresh; it never
    removes or writes over a file that is not listed, nor a listed one changed since (the list
    keeps a checksum of each file but the database).
    """

    HEADER = "# plcbot demo wrote these files; the next `plcbot demo --out` into this folder replaces them."

    def __init__(self, folder: Path, manifest: str = MANIFEST) -> None:
        self.folder = folder
        self.path = folder / manifest
        self.listed: dict[str, str] = {}

    def _read(self) -> dict[str, str]:
        if not self.path.is_file():
            return {}
        lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        if not lines or lines[0] != self.HEADER:
            raise DemoFolderError(f"{self.path} exists and was not written by plcbot demo; "
                                  "choose another --out folder")
        found = {}
        for line in lines[1:]:
            digest, _, name = line.partition("  ")
            if name and name == Path(name).name and name not in (".", ".."):
                found[name] = digest
        return found

    @staticmethod
    def checksum(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    def start(self, names: list[str]) -> list[str]:
        """Remove the previous run's files, after checking that `names` (what this run writes) are
        free or its own; returns what was removed. Raises DemoFolderError, having removed nothing."""
        previous = self._read()
        for name, digest in previous.items():
            path = self.folder / name
            if digest != "-" and path.is_file() and self.checksum(path) != digest:
                raise DemoFolderError(f"{path} changed after plcbot demo wrote it; move it or choose "
                                      "another --out folder")
        for name in names:
            path = self.folder / name
            if (path.exists() or path.is_symlink()) and name not in previous:
                raise DemoFolderError(f"{path} exists and is not listed as the demo's own in {self.path.name}; "
                                      "move it or choose another --out folder")
        removed = []
        for name in previous:
            path = self.folder / name
            if path.is_file() and not path.is_symlink():
                path.unlink()
                removed.append(name)
        self.listed = {}
        self._write()
        return removed

    def claim(self, name: str, *, checksum: bool = True) -> None:
        """List a file as the demo's (with its checksum, unless it keeps changing, as the database)."""
        path = self.folder / name
        self.listed[name] = self.checksum(path) if checksum and path.is_file() else "-"
        self._write()

    def free_name(self, name: str) -> str:
        """`name`, or `name (2)`… when a file that is not the demo's has it."""
        stem, suffix, n = Path(name).stem, Path(name).suffix, 2
        while (self.folder / name).exists() and name not in self.listed:
            name, n = f"{stem} ({n}){suffix}", n + 1
        return name

    def _write(self) -> None:
        lines = [self.HEADER, *(f"{digest}  {name}" for name, digest in self.listed.items())]
        self.path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------- reading what Slack shows
def as_slack_shows(text: str, names: dict[str, str], channels: dict[str, str]) -> str:
    """Mentions and channels as the Slack client shows them: `<@U1|x>` as @Name, `<#C1>` as #channel.

    Ids of known people and channels standing bare in a line (a CLI's output) read the same way.
    """
    text = re.sub(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>", lambda m: "@" + names.get(m[1], m[1]), text or "")
    text = re.sub(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>",
                  lambda m: channels.get(m[1], "#" + (m[2] or m[1])), text)
    text = re.sub(r" \(([UW][A-Z0-9]+)\)", lambda m: "" if m[1] in names else m[0], text)
    return re.sub(r"\b[UWCG][A-Z0-9]{2,}\b",
                  lambda m: channels.get(m[0]) or ("@" + names[m[0]] if m[0] in names else m[0]), text)


def plain(text: str, names: dict[str, str], channels: dict[str, str], limit: int = 170) -> str:
    """Slack mrkdwn as one readable line: mentions as @names, links as labels, entities decoded."""
    text = as_slack_shows(text, names, channels)
    text = re.sub(r"<([^|>]+)\|([^>]+)>", r"\2", text)
    text = re.sub(r"<(https?://[^>]+)>", r"\1", text)
    text = html.unescape(text).replace("*", "")
    text = re.sub(r":[a-z0-9_+-]+:\s*", "", text)  # emoji codes read badly in a terminal
    text = " / ".join(part.strip() for part in text.splitlines() if part.strip())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def block_text(blocks: list[dict[str, Any]]) -> str:
    """The words of a message's or view's blocks, in order (headers, sections, fields, context)."""
    out: list[str] = []
    for block in blocks or []:
        kind = block.get("type")
        if kind in ("header", "section") and isinstance(block.get("text"), dict):
            out.append(block["text"].get("text", ""))
        if kind == "section":
            out.extend(f.get("text", "") for f in block.get("fields") or [])
        if kind == "context":
            out.extend(e.get("text", "") for e in block.get("elements") or [] if isinstance(e, dict))
    return "\n".join(out)


def buttons_of(blocks: list[dict[str, Any]]) -> list[str]:
    labels = []
    for block in blocks or []:
        elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
        if isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        labels += [e["text"]["text"] for e in elements if e.get("type") == "button"]
    return labels


def has_action(message: dict[str, Any], action_id: str) -> bool:
    for block in message.get("blocks") or []:
        elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
        if isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        if any(e.get("action_id") == action_id for e in elements):
            return True
    return False


def _fingerprint(message: dict[str, Any]) -> str:
    """A message's text followed by its blocks: what tells an edit (chat.update) apart."""
    text = message.get("text") or block_text(message.get("blocks") or [])
    return text + "\0" + json.dumps(message.get("blocks") or [], sort_keys=True)


# ---------------------------------------------------------------------------- the transcript
@dataclass
class _Seen:
    messages: dict[str, dict[str, str]]  # channel -> ts -> text
    ephemerals: int
    views: dict[str, str]  # open modal id -> hash
    homes: dict[str, str]
    files: int


class Transcript:
    """Lines of "who did what → what the bot did", from the double's records."""

    def __init__(self, double: SlackDouble, out: TextIO | None, clock: FakeClock) -> None:
        self.double, self.out, self.clock = double, out, clock
        self.lines: list[str] = []
        self.names = {p.user_id: p.name for p in EVERYONE}
        self.names["UPLCBOT"] = "plcbot"
        self.channels = {G3_CHANNEL: "#" + G3_NAME, G4_CHANNEL: "#" + G4_NAME}
        self.watched = [G3_CHANNEL, G4_CHANNEL] + ["D" + p.user_id[1:] for p in EVERYONE]

    def write(self, line: str = "") -> None:
        self.lines.append(line)
        if self.out is not None:
            print(line, file=self.out, flush=True)

    def when(self, at: datetime | None = None) -> str:
        local = (at or self.clock.now()).astimezone(ZONE)
        hour = local.strftime("%I").lstrip("0")
        return f"{local:%a %b} {local.day}, {hour}:{local:%M %p}"

    def heading(self, text: str) -> None:
        self.write()
        self.write(f"== {text} ==")

    def peek(self, channel: str) -> list[dict[str, Any]]:
        """The double's stored messages of a channel, shallow-copied under its lock.

        Its public `messages()` deep-copies every message, which is right for tests but costs
        most of the demo's time when called after every click and tick; the demo only reads.
        """
        with self.double._lock:
            return [dict(m) for m in self.double._messages.get(channel, [])]

    def homes(self) -> dict[str, str]:
        with self.double._lock:
            return {p.user_id: (self.double._home.get(p.user_id) or {}).get("hash", "") for p in EVERYONE}

    def seen(self) -> _Seen:
        messages = {c: {m["ts"]: _fingerprint(m) for m in self.peek(c)} for c in self.watched}
        with self.double._lock:
            ephemerals, files = len(self.double._ephemerals), len(self.double._files)
        views = {v["id"]: v.get("hash", "") for v in self.double.open_views()}
        return _Seen(messages, ephemerals, views, self.homes(), files)

    def where(self, channel: str) -> str:
        if channel.startswith("D"):
            return "a direct message to " + self.names.get("U" + channel[1:], channel)
        return self.channels.get(channel, channel)

    def text(self, raw: str) -> str:
        return plain(raw, self.names, self.channels)

    def report(self, before: _Seen, *, indent: str = "   → ", header: str | None = None) -> int:
        """Write what the bot did since `before` (under `header` if anything); returns how many lines."""
        found: list[str] = []
        dms: dict[str, list[str]] = {}
        for channel in self.watched:
            old = before.messages.get(channel, {})
            for message in self.peek(channel):
                if message.get("user") != self.double.bot_user_id and not message.get("bot_id"):
                    continue
                text = message.get("text") or block_text(message.get("blocks") or [])
                if message["ts"] not in old:
                    shown = self.text(text)
                    files = [f.get("name", "") for f in message.get("files") or []]
                    if files:
                        shown = (shown + " " if shown else "") + f"[file: {', '.join(files)}]"
                    if channel.startswith("D"):
                        dms.setdefault(shown, []).append(self.names.get("U" + channel[1:], channel))
                        continue
                    thread = " in the agenda's thread" if message.get("thread_ts") not in (None, message["ts"]) else ""
                    found.append(f"{indent}the bot posted in {self.where(channel)}{thread}: “{shown}”")
                elif old[message["ts"]] != _fingerprint(message):
                    words = block_text(message.get("blocks") or []) if old[message["ts"]].startswith(text) else text
                    found.append(f"{indent}the bot updated its message in {self.where(channel)}: “{self.text(words)}”")
        for shown, people in dms.items():
            who = ", ".join(people) if len(people) < 4 else f"{len(people)} people ({', '.join(people)})"
            found.append(f"{indent}the bot sent a direct message to {who}: “{shown}”")
        for e in self.double.ephemerals()[before.ephemerals:]:
            shown = self.text(e.get("text") or block_text(e.get("blocks") or []))
            found.append(f"{indent}only {self.names.get(e['user'], e['user'])} saw: “{shown}”")
        open_now = self.double.open_views()
        for view in open_now:
            title = (view.get("title") or {}).get("text", "")
            if view["id"] not in before.views:
                found.append(f"{indent}the bot opened the form “{title}”")
            elif view.get("hash") != before.views[view["id"]]:
                found.append(f"{indent}the form now says: “{self.text(block_text(view.get('blocks') or []))}”")
        closed = set(before.views) - {v["id"] for v in open_now}
        if closed and not found:
            found.append(f"{indent}the form closed: saved")
        now_homes = self.homes()
        for person in EVERYONE:
            if now_homes[person.user_id] == before.homes.get(person.user_id):
                continue
            home = self.double.home_view(person.user_id)
            if home:
                first = self.text(block_text(home.get("blocks") or [])[:300])
                found.append(f"{indent}{person.name}'s Home tab now shows: “{first}”")
        if found and header:
            self.write(header)
        for line in found:
            self.write(line)
        return len(found)


# ---------------------------------------------------------------------------- the running bot
class DemoStage(Stage):
    """The bot on its stage (`bot.stage`), with the demo school's people in the pretend Slack."""

    def __init__(self, db_path: Path, start: datetime) -> None:
        super().__init__(database_url=f"sqlite:///{db_path}", clock=FakeClock(start),
                         signing_secret=secrets.token_hex(16), env={
                             "PLCBOT_ADMINS": ADMIN.user_id,
                             "PLCBOT_TIMEZONE": TZ,
                             "PLCBOT_LISTENER_THREADS": "8",
                             "PLCBOT_SECRET_KEY": secrets.token_hex(16),
                         }, worker="demo", thread_name="demo-http")

    def start(self) -> Self:
        for p in EVERYONE:
            self.double.add_user(p.user_id, name=p.name.lower().replace(". ", "").replace(" ", ""),
                                 real_name=p.name, email=f"{p.user_id[1:].lower()}@maplegrove.example", tz=TZ)
        return super().start()

    def idle(self) -> None:
        if not self.runtime.executor.wait_idle(30):
            raise StepSkipped("the bot is still busy after 30 seconds")

    def next_due(self) -> datetime | None:
        from sqlmodel import col, select

        with self.services.db.read() as session:
            row = session.exec(select(ScheduledJob.due_at).where(ScheduledJob.state == "pending")
                               .order_by(col(ScheduledJob.due_at))).first()
        return row


# ---------------------------------------------------------------------------- the story
class Demo:
    """The story: a school, two teams, a four-week cycle, the principal's workbook."""

    def __init__(self, *, out: TextIO | None, workdir: Path, db_path: Path | None = None,
                 start_day: date | None = None, files: DemoFiles | None = None,
                 replaced: list[str] | None = None) -> None:
        self.workdir = workdir
        self.files = files or DemoFiles(workdir)
        self.replaced = replaced or []
        self.db_path = db_path or workdir / DB_NAME
        self.calendar = demo_calendar(start_day or today())
        self.monday = monday = self.calendar.monday
        start = datetime.combine(monday, datetime.min.time(), tzinfo=ZONE).replace(hour=7, minute=30)
        self.stage = DemoStage(self.db_path, start.astimezone(UTC))
        self.t = Transcript(self.stage.double, out, self.stage.clock)
        self.skipped: list[str] = []
        self.workbook: Path | None = None

    # ------------------------------------------------------------------ plumbing
    def local(self, day: date, hhmm: str) -> datetime:
        hour, minute = (int(x) for x in hhmm.split(":"))
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE).astimezone(UTC)

    def ticking(self, when: datetime, label: str) -> None:
        """Advance to `when`; what the scheduler does on the way is reported under the time."""
        clock = self.stage.clock
        for _ in range(2000):
            before = self.t.seen()
            self.stage.tick()
            self.stage.idle()
            self.t.report(before, header=f"{self.t.when()} · {label}:")
            now = clock.now()
            if now >= when:
                return
            due = self.stage.next_due()
            step = min(when, now + MAX_STEP)
            if due is not None and now < due < step:
                step = due
            clock.set(max(step, now + timedelta(seconds=1)))
        raise StepSkipped("time did not move on (a job kept giving itself back)")

    @contextmanager
    def act(self, person: Person, did: str) -> Iterator[None]:
        """One thing a person does: the line, the requests, then what the bot did in reply."""
        self.t.write(f"{self.t.when()} · {person.name} ({person.role}) {did}")
        before = self.t.seen()
        yield
        self.stage.idle()
        time.sleep(0.02)
        self.stage.idle()
        if self.t.report(before) == 0:
            self.t.write("   → (nothing visible)")

    def step(self, name: str, fn: Callable[[], None]) -> None:
        """Play one part of the story; a part that cannot be played is skipped, saying why."""
        try:
            fn()
        except StepSkipped as exc:
            self.skipped.append(f"{name}: {exc}")
            self.t.write(f"   (skipped “{name}”: {exc})")
        except Exception as exc:  # a feature not ready, or answering differently than the story expects
            why = f"the demo hit an unexpected error ({type(exc).__name__}: {str(exc)[:200]})"
            self.skipped.append(f"{name}: {why}")
            self.t.write(f"   (skipped “{name}”: {why})")

    def command(self, person: Person, text: str, channel: str) -> None:
        where = self.t.where(channel) if not channel.startswith("U") else "a direct message with plcbot"
        shown = as_slack_shows(text, self.t.names, self.t.channels)
        with self.act(person, f"typed `/plc {shown}` in {where}"):
            reply = self.stage.user(person.user_id).command(text, channel=channel)
            if reply.status != 200:
                raise StepSkipped(f"the bot answered HTTP {reply.status}")

    def wait_view(self, person: Person, callback_id: str) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            views = [v for v in self.stage.double.open_views(person.user_id) if v.get("callback_id") == callback_id]
            return views[-1] if views else None

        try:
            return self.stage.double.wait_for(found, timeout=10)
        except AssertionError:
            raise StepSkipped(f"{FORMS.get(callback_id, 'the form')} did not open for {person.name}") from None

    def submit(self, person: Person, view: dict[str, Any], values: dict[str, Any], did: str) -> None:
        """Fill a form ({block_id: value}; the element's action id is looked up) and submit it."""
        by_block = {b.get("block_id"): b["element"].get("action_id") for b in view.get("blocks") or []
                    if b.get("type") == "input" and isinstance(b.get("element"), dict)}
        filled = {}
        for block_id, value in values.items():
            if block_id not in by_block:
                form = FORMS.get(view.get("callback_id") or "", "the form")
                raise StepSkipped(f"{form} no longer asks for the {block_id.replace('_', ' ')}")
            filled[block_id] = {by_block[block_id]: value}
        with self.act(person, did):
            reply = self.stage.user(person.user_id).submit(view, filled)
            errors = (reply.json or {}).get("errors") if reply.json else None
            if errors:
                said = "; ".join(str(e) for e in errors.values()) if isinstance(errors, dict) else str(errors)
                raise StepSkipped(f"{FORMS.get(view.get('callback_id') or '', 'the form')} said: {said}")

    def latest(self, channel: str, action_id: str) -> dict[str, Any]:
        for message in reversed(self.stage.double.messages(channel)):
            if has_action(message, action_id):
                return message
        what = BUTTONS.get(action_id, "the button the story needs")
        raise StepSkipped(f"no message with {what} in {self.t.where(channel)}")

    def click(self, person: Person, message: dict[str, Any], action_id: str, did: str,
              channel: str | None = None) -> None:
        with self.act(person, did):
            try:
                self.stage.user(person.user_id).click(message, action_id, channel=channel)
            except LookupError:  # the button is not on that message (any more)
                raise StepSkipped(f"{BUTTONS.get(action_id, 'the button')} was not there for {person.name}") from None

    def open_home(self, person: Person) -> dict[str, Any]:
        with self.act(person, "opened the plcbot Home tab"):
            before = (self.stage.double.home_view(person.user_id) or {}).get("hash")
            self.stage.user(person.user_id).open_home()

            def published() -> dict[str, Any] | None:
                view = self.stage.double.home_view(person.user_id)
                return view if view and view.get("hash") != before else None

            try:
                return self.stage.double.wait_for(published)
            except AssertionError:
                raise StepSkipped("the Home tab was not published") from None

    def show_home(self, person: Person, home: dict[str, Any]) -> None:
        words = plain(block_text(home.get("blocks") or []), self.t.names, self.t.channels, limit=600)
        self.t.write(f"     {person.name}'s Home tab: {words}")
        labels = buttons_of(home.get("blocks") or [])
        if labels:
            self.t.write(f"     buttons: {', '.join(dict.fromkeys(labels))}")

    # ------------------------------------------------------------------ the story, part by part
    def run(self) -> DemoResult:
        started = time.monotonic()
        self.stage.start()
        try:
            c = self.calendar
            self.t.write("plcbot demo: the real bot (handlers, scheduler, storage, delivery) against a pretend Slack")
            self.t.write(f"on 127.0.0.1, with a fresh SQLite database at {self.db_path}"
                         + (" (the previous demo's files there were replaced)." if self.replaced else "."))
            self.t.write(f"Time runs fast: the demo school year starts {self.monday:%A %B} {self.monday.day}, "
                         f"{self.monday.year} ({TZ}); its calendar has a {c.break_label.lower()} "
                         f"from {short_day(c.break_start)} to {short_day(c.break_end)}.")
            self.step("set up the school", self.setup_school)
            self.step("set up Grade 3 Math with /plc setup", self.setup_team)
            self.step("import Grade 4 ELA from a roster file", self.import_roster)
            self.step(f"add the {c.break_label.lower()} to the school's calendar", self.add_break)
            self.step("edit and commit to the norms", self.norms)
            self.step("start the learning cycles", self.start_cycles)
            self.step("post an agenda from a template", self.agenda)
            school_week = 0
            for week, monday in enumerate(c.weeks, start=1):
                if c.is_break_week(monday):
                    self.step(f"week {week} ({c.break_label.lower()})",
                              functools.partial(self.break_week, week, monday))
                else:
                    school_week += 1
                    self.step(f"week {week}", functools.partial(self.week, school_week, week, monday))
            self.step("the reflection", self.reflection)
            self.step("Home tabs", self.homes)
            self.step("the principal's digest workbook", self.digest)
        finally:
            self.stage.stop()
            if self.db_path.parent == self.workdir:
                Path(f"{self.db_path}.migrate-lock").unlink(missing_ok=True)  # the migration's, over now
        return closing(self.t, workbook=self.workbook, db_path=self.db_path, skipped=self.skipped,
                       weeks=len(self.calendar.weeks), started=started, replaced=self.replaced)

    def setup_school(self) -> None:
        self.t.heading("Setting up")
        d = self.stage.double
        d.add_channel(G3_CHANNEL, name=G3_NAME, members=[RIVERA.user_id, *(p.user_id for p in GRADE3)])
        d.add_channel(G4_CHANNEL, name=G4_NAME, members=[KIM.user_id, *(p.user_id for p in GRADE4)])
        self.command(ADMIN, f"school create {SCHOOL} {TZ}", ADMIN.user_id)
        self.command(ADMIN, f"school principal add <@{PRINCIPAL.user_id}|okafor> in {SCHOOL}", ADMIN.user_id)

    def setup_team(self) -> None:
        self.command(PRINCIPAL, "setup", G3_CHANNEL)
        view = self.wait_view(PRINCIPAL, "plc_setup")
        self.submit(PRINCIPAL, view, {
            "team_name": "Grade 3 Math",
            "team_members": [p.user_id for p in GRADE3],
            "team_facilitators": [RIVERA.user_id],
            "team_days": ["thu"],
            "team_time": "15:30",
            "team_length": "45",
            "team_tz": TZ,
        }, "filled in the setup form (Grade 3 Math, Ms. Rivera facilitates, meets Thursdays 3:30 PM) and saved")

    def import_roster(self) -> None:
        from bot.cli.roster import fetch_directory
        from storage import roster as roster_store
        from storage.rules.roster import HEADERS, canonical, plan_import, summary

        path = self.workdir / ROSTER_NAME
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(HEADERS)
            for p, role in [(KIM, "facilitator"), *((p, "member") for p in GRADE4)]:
                email = f"{p.user_id[1:].lower()}@maplegrove.example"
                writer.writerow([SCHOOL, "Grade 4 ELA", "#" + G4_NAME, email, "", role, "wed", "15:00", "45", TZ])
        self.files.claim(ROSTER_NAME)
        self.t.write(f"{self.t.when()} · {ADMIN.name} ({ADMIN.role}) ran `plcbot roster import {path.name} --apply`")
        services = self.stage.services
        roster = roster_store.read_roster(path)
        directory = fetch_directory(services.slack, channels=True)
        with services.db.session() as session:
            existing, school_names, team_names = roster_store.snapshot(session, directory.people)
            plan = plan_import(roster.rows, directory, existing, default_timezone=TZ)
            if not plan.ok:
                raise StepSkipped("the roster had bad rows: " + "; ".join(str(e) for e in plan.errors[:3]))
            roster_store.apply_plan(session, plan, directory.people, actor="cli:demo", now=self.stage.clock.now())
        names = {uid: p.name for uid, p in directory.people.items()}
        teams = {**team_names, **{(t.school, canonical(t.name)): t.name for t in plan.new_teams}}
        schools = {**school_names, **{k: n for k, (n, _) in plan.new_schools.items()}}
        for line in summary(plan, names=names, teams=teams, schools=schools, limit=6):
            self.t.write(f"   → {as_slack_shows(line, self.t.names, self.t.channels)}")

    def add_break(self) -> None:
        c = self.calendar
        self.command(PRINCIPAL, f"break add {c.break_start} {c.break_end} {c.break_label}", G3_CHANNEL)

    def norms(self) -> None:
        self.t.heading("Norms")
        self.command(RIVERA, "norms edit", G3_CHANNEL)
        view = self.wait_view(RIVERA, "norms_edit")
        self.submit(RIVERA, view, {"norms": "Start and end on time\nAssume good intent\n"
                                            "Bring student work, not opinions\nEvery voice is heard"},
                    "wrote four norms and saved")
        message = self.latest(G3_CHANNEL, "norms_commit")
        for teacher in GRADE3:
            self.click(teacher, message, "norms_commit", "clicked “I commit to these norms”", channel=G3_CHANNEL)
            message = self.latest(G3_CHANNEL, "norms_commit")

    def start_cycles(self) -> None:
        self.t.heading("A learning cycle: four weeks of school")
        weeks = len(self.calendar.weeks)
        span = (f"{weeks} weeks: {SCHOOL_WEEKS} of school and {weeks - SCHOOL_WEEKS} of "
                f"{self.calendar.break_label.lower()}")
        for facilitator, channel, title, goal, metric, unit, baseline, target in [
            (RIVERA, G3_CHANNEL, "Fractions on a number line",
             "80% of students place fractions correctly on a number line by the end of the cycle",
             "Exit ticket score 3+", "%", "55", "80"),
            (KIM, G4_CHANNEL, "Citing text evidence",
             "Students cite two pieces of evidence in written responses", "Responses with 2+ citations", "%",
             "40", "70"),
        ]:
            self.command(facilitator, "cycle start", channel)
            view = self.wait_view(facilitator, "cycle_modal")
            self.submit(facilitator, view, {
                "title": title, "goal": goal, "strategy": "Daily warm-ups and a weekly exit ticket",
                "metric_name": metric, "metric_unit": unit, "baseline": baseline, "target": target,
                "start_date": self.monday.isoformat(), "weeks": str(weeks), "checkin_weekday": "1",
                "checkin_time": "14:00", "reminder_hours": "24",
            }, f"filled in the cycle form (“{title}”, {span}, check-ins Tuesdays 2 PM) and started it")

    def agenda(self) -> None:
        self.t.heading("Agendas")
        self.command(RIVERA, "agenda template data", G3_CHANNEL)

    def break_week(self, week: int, monday: date) -> None:
        """A week of the school break: the scheduler skips its check-ins and its meetings (no agenda, no
        feedback asked); nobody cancels anything by hand."""
        c = self.calendar
        self.t.heading(f"Week {week}: {c.break_label}")
        if monday <= c.break_start:  # the break's first week: the meetings list says what is skipped
            self.command(RIVERA, "meeting list", G3_CHANNEL)
        self.ticking(self.local(monday + timedelta(days=1), "14:05"), "the scheduler")
        with self.stage.services.db.read() as session:
            from sqlmodel import select

            rounds = session.exec(select(CheckinRound, Cycle).where(CheckinRound.cycle_id == Cycle.id,
                                                                     CheckinRound.week == week)).all()
            found = [(r.state, r.skip_reason or "", r.opened_at, cycle.title) for r, cycle in rounds]
        skipped = [f for f in found if f[0] == "skipped"]
        if not skipped or len(skipped) < len(found):
            raise StepSkipped(f"the scheduler did not skip week {week}'s check-ins over the break")
        titles = " and of ".join(f"“{title}”" for *_, title in skipped)
        reason = cycle_rules.break_label(skipped[0][1]) or c.break_label
        self.t.write(f"{self.t.when(skipped[0][2])} · the scheduler skipped this week's check-ins ({reason}): "
                     f"week {week} of {titles}; nobody was asked")
        week_end = self.local(monday + timedelta(days=7), "00:00")
        with self.stage.services.db.read() as session:
            from sqlmodel import col, select

            planned = session.exec(select(Meeting, Team).where(
                Meeting.team_id == Team.id, col(Meeting.starts_at) >= self.stage.clock.now(),
                col(Meeting.starts_at) < week_end).order_by(col(Meeting.starts_at))).all()
        for meeting, team in planned:
            if not c.on_break(meeting.starts_at.astimezone(ZONE).date()):
                continue
            self.ticking(meeting.starts_at + timedelta(minutes=meeting.minutes + 30), "the scheduler")
            with self.stage.services.db.read() as session:
                row = session.get(Meeting, meeting.id)
            why = meeting_store.skipped_for(row) if row is not None else None
            if row is None or why is None or row.agenda_ts:
                raise StepSkipped(f"the scheduler held {team.name}'s meeting on a day of the break")
            day = meeting.starts_at.astimezone(ZONE)
            self.t.write(f"{self.t.when(meeting.starts_at)} · the scheduler did not post the agenda for "
                         f"{day:%a %b} {day.day} in {self.t.where(team.channel_id)}: {why} (the meeting is "
                         "skipped, so nobody is asked for feedback either)")
        self.ticking(self.local(monday + timedelta(days=7), "07:05"), "the scheduler")

    def week(self, week: int, cycle_week: int, monday: date) -> None:
        """A school week (`week` of the story's four, `cycle_week` of the cycle's)."""
        tuesday = monday + timedelta(days=1)
        thursday = tuesday + timedelta(days=2)
        self.t.heading(f"Week {cycle_week}")
        self.ticking(self.local(tuesday, "14:05"), "the scheduler")
        answers = {1: [(CHEN, "on_track"), (PATEL, "details"), (BROOKS, "stuck"), (NGUYEN, "home")],
                   2: [(CHEN, "on_track"), (PATEL, "details"), (BROOKS, "some_progress"), (NGUYEN, "on_track")],
                   3: [(CHEN, "on_track"), (PATEL, "details"), (BROOKS, "on_track")],
                   4: [(CHEN, "on_track"), (PATEL, "details"), (BROOKS, "on_track"), (NGUYEN, "some_progress")]}
        values = {1: "62", 2: "68", 3: "74", 4: "79"}
        self.stage.clock.advance(timedelta(minutes=20))
        for teacher, how in answers[week]:
            self.answer(teacher, how, values[week], week)
        for i, teacher in enumerate(GRADE4):
            if week == 3 and i == 2:
                continue  # someone forgets: the reminder goes to them
            message = self._checkin_dm(teacher)
            self.click(teacher, message, "checkin_on_track" if i else "checkin_some_progress",
                       "clicked “On track”" if i else "clicked “Some progress”")
        self.ticking(self.local(thursday, "14:30"), "the scheduler")
        if week == 1:
            self.follow_up()
        self.ticking(self.local(thursday, "16:20"), "the scheduler")
        if week == 1:
            self.feedback()
            self.wrapup(thursday)
        if week == 2:
            self.done_from_home()
        self.ticking(self.local(monday + timedelta(days=7), "07:05"), "the scheduler")

    def _checkin_dm(self, teacher: Person) -> dict[str, Any]:
        return self.latest("D" + teacher.user_id[1:], "checkin_on_track")

    def answer(self, teacher: Person, how: str, value: str, week: int) -> None:
        if how == "home":
            home = self.open_home(teacher)
            self.click(teacher, home, "checkin_on_track", "clicked “On track” on the check-in shown in the Home tab")
            return
        message = self._checkin_dm(teacher)
        if how == "details":
            self.click(teacher, message, "checkin_details", "clicked “Add details” on the check-in")
            view = self.wait_view(teacher, "checkin_details")
            self.submit(teacher, view, {"progress": "some_progress" if week < 3 else "on_track", "value": value,
                                        "evidence": f"Exit tickets this week: {value}% scored 3 or more"},
                        f"added a data point ({value}%) and a note, and saved")
            return
        label = {"on_track": "On track", "some_progress": "Some progress", "stuck": "Stuck, I'd like support"}[how]
        self.click(teacher, message, f"checkin_{how}", f"clicked “{label}”")
        if how == "stuck":
            message = self._last_checkin_message(teacher)
            self.click(teacher, message, "checkin_details", "clicked “Add details” to say what would help")
            view = self.wait_view(teacher, "checkin_details")
            self.submit(teacher, view, {"progress": "stuck",
                                        "support": "Ideas for students who still count tick marks one by one"},
                        "wrote what support would help, and saved")

    def _last_checkin_message(self, teacher: Person) -> dict[str, Any]:
        return self.latest("D" + teacher.user_id[1:], "checkin_details")

    def follow_up(self) -> None:
        message = self.latest("D" + RIVERA.user_id[1:], "support_follow_up")
        self.click(RIVERA, message, "support_follow_up", "clicked “I'll follow up” on Mr. Brooks's support request")

    def feedback(self) -> None:
        prompt = self.latest(G3_CHANNEL, "feedback_open")
        ratings = {CHEN: ("5", "4", "5"), PATEL: ("4", "4", "4"), BROOKS: ("4", "3", "5"), NGUYEN: ("5", "5", "4")}
        for teacher, (useful, learned, norms) in ratings.items():
            self.click(teacher, prompt, "feedback_open", "clicked “Give feedback”", channel=G3_CHANNEL)
            view = self.wait_view(teacher, "feedback_submit")
            values: dict[str, Any] = {"useful": useful, "learned": learned, "norms": norms}
            anonymous = teacher is PATEL
            if anonymous:
                values["anonymous"] = ["yes"]
                values["next_focus"] = "How we group students for reteaching"
            self.submit(teacher, view, values,
                        "answered the three questions" + (" and ticked “Submit anonymously”" if anonymous else ""))

    def wrapup(self, thursday: date) -> None:
        self.command(RIVERA, "wrapup", G3_CHANNEL)
        view = self.wait_view(RIVERA, "meeting_wrapup")
        due = thursday + timedelta(days=6)
        self.submit(RIVERA, view, {
            "present": [RIVERA.user_id, CHEN.user_id, PATEL.user_id, NGUYEN.user_id],
            "decisions": "Move the number-line warm-up to the start of math block",
            "a1_owner": CHEN.user_id, "a1_text": "Bring six exit-ticket samples to the next meeting",
            "a1_due": due.isoformat(),
        }, "recorded attendance, a decision and an action item for Mr. Chen, and posted the log")

    def done_from_home(self) -> None:
        home = self.open_home(CHEN)
        self.click(CHEN, home, "action_done", "clicked “Done” on his action item in the Home tab")

    def reflection(self) -> None:
        self.t.heading("Reflection")
        message = self.latest(G3_CHANNEL, "cycle_reflect_open")
        self.click(RIVERA, message, "cycle_reflect_open", "clicked “Fill in the reflection”", channel=G3_CHANNEL)
        view = self.wait_view(RIVERA, "cycle_reflection")
        self.submit(RIVERA, view, {
            "target_reached": "partly", "final_value": "79",
            "learned": "Daily number-line warm-ups moved exit tickets from 55% to 79%",
            "next_steps": "Keep the warm-ups; next cycle on comparing fractions",
        }, "filled in the team's reflection (target partly reached, 79%) and saved")

    def homes(self) -> None:
        self.t.heading("Home tabs")
        for person in (CHEN, RIVERA, PRINCIPAL, NEWCOMER):
            home = self.open_home(person)
            self.show_home(person, home)

    def digest(self) -> None:
        self.t.heading("The principal's digest")
        home = self.stage.double.home_view(PRINCIPAL.user_id) or self.open_home(PRINCIPAL)
        before = len(self.stage.double.files)
        self.click(PRINCIPAL, home, "home_digest_now", "clicked “Send me the digest now” in the Home tab")
        files = self.stage.double.files
        weekly = [f for f in files if f.get("filename", "").endswith(".xlsx")]
        if not weekly:
            raise StepSkipped("no digest workbook reached the principal")
        # The last full week's digest (sent by the scheduler on Monday) covers the cycle's end;
        # the one just asked for covers this week so far. Keep the scheduled one.
        scheduled = [f for f in files[:before] if f.get("filename", "").endswith(".xlsx")]
        chosen = scheduled[-1] if scheduled else weekly[-1]
        name = self.files.free_name(chosen["filename"].replace("/", "-"))
        path = self.workdir / name
        path.write_bytes(chosen["content"])
        self.files.claim(name)
        self.workbook = path
        self.t.write(f"   → wrote the principal's digest workbook to {path}")


def closing(t: Any, *, workbook: Path | None, db_path: Path, skipped: list[str], weeks: int, started: float,
            replaced: list[str]) -> DemoResult:
    """The story's last lines, where its files are and what was skipped; the same for both fronts' demos."""
    t.heading("Done")
    if workbook is not None:
        t.write(f"The principal's digest workbook is at: {workbook}")
    t.write(f"The demo database is at: {db_path}")
    if skipped:
        t.write("Skipped: " + "; ".join(skipped))
    seconds = time.monotonic() - started
    t.write(f"Played {weeks} weeks in {seconds:.1f} seconds.")
    return DemoResult(workbook, db_path, t.lines, skipped, seconds, replaced)


def run_demo(*, out: TextIO | None, workdir: Path | None = None, db_path: Path | None = None,
             start_day: date | None = None) -> DemoResult:
    """Play the whole story; returns where the workbook and database are, and the transcript.

    Into a folder an earlier run wrote to, it first removes that run's files (`DemoFiles`);
    raises DemoFolderError, having changed nothing, when a file it would write is not its own.
    """
    folder = workdir or Path(tempfile.mkdtemp(prefix="plcbot-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    if db_path is not None and db_path.exists():
        raise FileExistsError(f"{db_path} exists; the demo needs a fresh database file")
    own_db = [DB_NAME + suffix for suffix in ("", "-wal", "-shm", "-journal", ".migrate-lock")]
    files = DemoFiles(folder)
    replaced = files.start([*(own_db if db_path is None else []), ROSTER_NAME])
    if db_path is None:
        for name in own_db:
            files.claim(name, checksum=False)
    return Demo(out=out, workdir=folder, db_path=db_path, start_day=start_day, files=files,
                replaced=replaced).run()


def as_json(result: DemoResult) -> str:
    return json.dumps({"workbook": str(result.workbook) if result.workbook else None,
                       "database": str(result.database), "skipped": result.skipped,
                       "seconds": round(result.seconds, 1)})
