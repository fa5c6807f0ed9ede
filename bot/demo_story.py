"""The demo's one story, told the same on every front: `plcbot demo` (Slack) and `plcbot demo --teams`.

A school, two PLC teams, a four-week learning cycle with a school break in its span, and the
principal's workbook: the scenes in order (`Story`), who does what in each and what the story
prints. How a person types a command, clicks a button, fills in a form or reads what the bot
showed is the front's: a `Front` (`bot.demo.SlackFront`, `bot.demo_teams.TeamsFront`) drives its
platform's double and reads its records. The story names places, buttons and forms in its own
words ("g3", "norms_commit", "cycle"), which each front maps to its platform's.

The demo's calendar is its own: it starts the Monday after today and has a school break in its
span (the winter holidays when its weeks cross them, else a week off in its third week), so the
story always shows the scheduler skipping check-ins and meetings over a break.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from storage import meetings as meeting_store
from storage.models import CheckinRound, Cycle, Meeting, ScheduledJob, Team
from storage.rules import cycles as cycle_rules

TZ = "America/New_York"
ZONE = ZoneInfo(TZ)
SCHOOL = "Maple Grove Elementary"
MAX_STEP = timedelta(days=4)  # besides each due job, the scheduler ticks at least this often
SCHOOL_WEEKS = 4  # the cycle's weeks of school; the demo's cycle also spans the break's weeks


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

    def __init__(self, folder: Path, manifest: str = "plcbot-demo-files.txt") -> None:
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



# ---------------------------------------------------------------------------- the story and its fronts
G3, G4 = "g3", "g4"  # the two teams' places; each front knows its channel or Teams channel
TEAM3, TEAM4 = "Grade 3 Math", "Grade 4 ELA"


class Transcript:
    """The story's lines: written as they come (to `out` too), each person's action under its time.
    Each front's transcript reads its double's records (`seen`, `report`) in its platform's words."""

    def __init__(self, out: TextIO | None, clock: Any) -> None:
        self.out, self.clock = out, clock
        self.lines: list[str] = []

    def words(self, text: str) -> str:
        """A line as the platform shows it (ids as names); as it is here."""
        return text

    def write(self, line: str = "") -> None:
        line = self.words(line)
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

    def seen(self) -> Any:
        raise NotImplementedError

    def report(self, before: Any, *, indent: str = "   → ", header: str | None = None) -> int:
        raise NotImplementedError

    @staticmethod
    def to_many(dms: dict[str, list[str]], said: str) -> list[str]:
        """One line per message sent to several people ({what they saw: who}), `said` naming how
        ("the bot sent a direct message to")."""
        lines = []
        for shown, people in dms.items():
            who = ", ".join(people) if len(people) < 4 else f"{len(people)} people ({', '.join(people)})"
            lines.append(f"{said} {who}: “{shown}”")
        return lines

    def emit(self, found: list[str], *, header: str | None) -> int:
        """Write what the bot did, under `header` if anything; returns how many lines."""
        if found and header:
            self.write(header)
        for line in found:
            self.write(line)
        return len(found)


@dataclass(frozen=True)
class TeamPlan:
    """A team as the story sets it up."""

    name: str
    place: str
    facilitator: Person
    members: tuple[Person, ...]
    days: str
    at: str
    said: str  # "meets Thursdays 3:30 PM"


TEAMS = (TeamPlan(TEAM3, G3, RIVERA, tuple(GRADE3), "thu", "15:30", "meets Thursdays 3:30 PM"),
         TeamPlan(TEAM4, G4, KIM, tuple(GRADE4), "wed", "15:00", "meets Wednesdays 3 PM"))


def first_morning(calendar: Calendar) -> datetime:
    """When the story begins: 7:30 on the Monday its school year starts, in the school's zone (as UTC)."""
    return datetime.combine(calendar.monday, datetime.min.time(), tzinfo=ZONE).replace(hour=7, minute=30)\
        .astimezone(UTC)


class Front:
    """What a front's driver gives the story: its double, its clock, and a person's hands on the
    platform. The plumbing shared by every front (moving time, a step's report, a skipped step)
    is here; the rest each front writes for its platform."""

    platform = ""  # "Slack", "Microsoft Teams"
    roster_import = False  # the second team comes from `plcbot roster import` (it asks Slack's directory)
    home_title = "Home"  # the heading over each person's own page of plcbot
    home_where = "plcbot's home"  # where a teacher sees her pending check-in besides the chat
    action_item_where = ""  # where the owner sees his action item with its "Done" button
    t: Transcript
    stage: Any
    calendar: Calendar
    files: DemoFiles
    workdir: Path
    db_path: Path

    # ------------------------------------------------------------------ what each front writes
    def start(self) -> None:
        self.stage.start()

    def stop(self) -> None:
        self.stage.stop()

    def banner(self) -> str: raise NotImplementedError
    def settle(self) -> None: raise NotImplementedError
    def join(self) -> None:
        """The people, channels or teams on the platform (and the bot in them), before anyone types."""
        raise NotImplementedError
    def command(self, person: Person, text: str, place: str, *, mentions: tuple[Person, ...] = ()) -> None:
        """`person` types the command `text` (with `mentions` as the platform writes @people) in `place`."""
        raise NotImplementedError
    def form_by_command(self, person: Person, text: str, place: str, form: str, values: dict[str, Any],
                        did: str) -> None:
        """A command whose answer is a form (`form`, the story's name for it), filled in and sent."""
        raise NotImplementedError
    def latest(self, place: str, button: str) -> Any:
        """The newest message in `place` (a team's, or a person's direct chat: `dm(person)`) with `button`."""
        raise NotImplementedError
    def dm(self, person: Person) -> str: raise NotImplementedError
    def click(self, person: Person, message: Any, button: str, did: str) -> None: raise NotImplementedError
    def form_by_button(self, person: Person, message: Any, button: str, form: str, values: dict[str, Any],
                       did: str) -> None:
        raise NotImplementedError
    def home(self, person: Person) -> Any:
        """The person's own page of plcbot (Slack's Home tab; Teams: `home` typed in the chat)."""
        raise NotImplementedError
    def show_home(self, person: Person, home: Any) -> None: raise NotImplementedError
    def checkin(self, person: Person) -> Any:
        """The newest check-in card in the person's direct chat with plcbot."""
        return self.latest(self.dm(person), "checkin_on_track")
    def action_item(self, person: Person) -> Any:
        """Where the person sees their action item with its "Done" button."""
        raise NotImplementedError
    def digest_workbook(self) -> tuple[str, bytes]:
        """The principal asks for, or accepts, the weekly digest: (file name, the workbook)."""
        raise NotImplementedError
    def each_person(self) -> None:
        """What each person's chat with plcbot and each team's channel hold at the end."""
        raise NotImplementedError
    def place_name(self, place: str) -> str: raise NotImplementedError
    def import_roster(self, plan: TeamPlan) -> None: raise NotImplementedError

    def tick(self) -> None:
        """One scheduler tick, and what it sends settled."""
        self.stage.tick()
        self.settle()

    def checkin_at_home(self, person: Person) -> Any:
        """The check-in as the person's own page of plcbot shows it, with its buttons."""
        return self.home(person)

    # ------------------------------------------------------------------ shared plumbing
    def local(self, day: date, hhmm: str) -> datetime:
        hour, minute = (int(x) for x in hhmm.split(":"))
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE).astimezone(UTC)

    def next_due(self) -> datetime | None:
        with self.stage.services.db.read() as session:
            return session.exec(select(ScheduledJob.due_at).where(ScheduledJob.state == "pending")
                                .order_by(col(ScheduledJob.due_at))).first()

    def ticking(self, when: datetime, label: str) -> None:
        """Advance to `when`; what the scheduler does on the way is reported under the time."""
        clock = self.stage.clock
        for _ in range(2000):
            before = self.t.seen()
            self.tick()
            self.t.report(before, header=f"{self.t.when()} · {label}:")
            now = clock.now()
            if now >= when:
                return
            due = self.next_due()
            step = min(when, now + MAX_STEP)
            if due is not None and now < due < step:
                step = due
            clock.set(max(step, now + timedelta(seconds=1)))
        raise StepSkipped("time did not move on (a job kept giving itself back)")

    @contextmanager
    def act(self, person: Person, did: str) -> Iterator[list[str]]:
        """One thing a person does: the line, the requests, then what they and others saw."""
        self.t.write(f"{self.t.when()} · {person.name} ({person.role}) {did}")
        before = self.t.seen()
        extra: list[str] = []  # what the person saw in place (an updated card, a dialog's answer)
        yield extra
        self.settle()
        for line in extra:
            self.t.write(line)
        if self.t.report(before) == 0 and not extra:
            self.t.write("   → (nothing visible)")


@dataclass
class Story:
    """The scenes in order; `front` plays them on its platform."""

    front: Front
    skipped: list[str] = field(default_factory=list)
    workbook: Path | None = None

    @property
    def t(self) -> Transcript:
        return self.front.t

    @property
    def calendar(self) -> Calendar:
        return self.front.calendar

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

    def run(self, *, replaced: list[str]) -> DemoResult:
        started = time.monotonic()
        f, c = self.front, self.calendar
        f.start()
        try:
            self.t.write(f.banner())
            self.t.write(f"on 127.0.0.1, with a fresh SQLite database at {f.db_path}"
                         + (" (the previous demo's files there were replaced)." if replaced else "."))
            self.t.write(f"Time runs fast: the demo school year starts {c.monday:%A %B} {c.monday.day}, "
                         f"{c.monday.year} ({TZ}); its calendar has a {c.break_label.lower()} "
                         f"from {short_day(c.break_start)} to {short_day(c.break_end)}.")
            self.step("set up the school", self.setup_school)
            self.step(f"set up {TEAM3} with the setup form", functools.partial(self.setup_team, TEAMS[0]))
            if f.roster_import:
                self.step(f"import {TEAM4} from a roster file", functools.partial(f.import_roster, TEAMS[1]))
            else:
                self.step(f"set up {TEAM4} with the setup form", functools.partial(self.setup_team, TEAMS[1]))
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
            self.step("home pages", self.homes)
            self.step("the principal's digest workbook", self.digest)
            self.step("what each person saw", self.each_person)
        finally:
            f.stop()
            if f.db_path.parent == f.workdir:
                Path(f"{f.db_path}.migrate-lock").unlink(missing_ok=True)  # the migration's, over now
        return closing(self.t, workbook=self.workbook, db_path=f.db_path, skipped=self.skipped, weeks=len(c.weeks),
                       started=started, replaced=replaced)

    # ------------------------------------------------------------------ the scenes
    def setup_school(self) -> None:
        self.t.heading("Setting up")
        f = self.front
        f.join()
        f.command(ADMIN, f"school create {SCHOOL} {TZ}", f.dm(ADMIN))
        f.command(ADMIN, "school principal add {0} in " + SCHOOL, f.dm(ADMIN), mentions=(PRINCIPAL,))

    def setup_team(self, plan: TeamPlan) -> None:
        self.front.form_by_command(PRINCIPAL, "setup", plan.place, "setup", {
            "name": plan.name, "members": list(plan.members), "facilitators": [plan.facilitator],
            "days": [plan.days], "time": plan.at, "minutes": "45", "timezone": TZ,
        }, f"filled in the setup form ({plan.name}, {plan.facilitator.name} facilitates, {plan.said}) and saved")

    def add_break(self) -> None:
        c = self.calendar
        self.front.command(PRINCIPAL, f"break add {c.break_start} {c.break_end} {c.break_label}", G3)

    def norms(self) -> None:
        self.t.heading("Norms")
        f = self.front
        f.form_by_command(RIVERA, "norms edit", G3, "norms", {
            "norms": "Start and end on time\nAssume good intent\nBring student work, not opinions\n"
                     "Every voice is heard"},
            "wrote four norms and saved")
        for teacher in GRADE3:
            f.click(teacher, f.latest(G3, "norms_commit"), "norms_commit", "clicked “I commit to these norms”")

    def start_cycles(self) -> None:
        self.t.heading("A learning cycle: four weeks of school")
        weeks = len(self.calendar.weeks)
        span = (f"{weeks} weeks: {SCHOOL_WEEKS} of school and {weeks - SCHOOL_WEEKS} of "
                f"{self.calendar.break_label.lower()}")
        for facilitator, place, title, goal, metric, baseline, target in [
            (RIVERA, G3, "Fractions on a number line",
             "80% of students place fractions correctly on a number line by the end of the cycle",
             "Exit ticket score 3+", "55", "80"),
            (KIM, G4, "Citing text evidence",
             "Students cite two pieces of evidence in written responses", "Responses with 2+ citations", "40", "70"),
        ]:
            self.front.form_by_command(facilitator, "cycle start", place, "cycle", {
                "title": title, "goal": goal, "strategy": "Daily warm-ups and a weekly exit ticket",
                "metric_name": metric, "metric_unit": "%", "baseline": baseline, "target": target,
                "start_date": self.calendar.monday.isoformat(), "weeks": str(weeks), "checkin_weekday": "1",
                "checkin_time": "14:00", "reminder_hours": "24",
            }, f"filled in the cycle form (“{title}”, {span}, check-ins Tuesdays 2 PM) and started it")

    def agenda(self) -> None:
        self.t.heading("Agendas")
        self.front.command(RIVERA, "agenda template data", G3)

    def break_week(self, week: int, monday: date) -> None:
        """A week of the school break: the scheduler skips its check-ins and its meetings (no agenda, no
        feedback asked); nobody cancels anything by hand."""
        f, c = self.front, self.calendar
        self.t.heading(f"Week {week}: {c.break_label}")
        if monday <= c.break_start:  # the break's first week: the meetings list says what is skipped
            f.command(RIVERA, "meeting list", G3)
        f.ticking(f.local(monday + timedelta(days=1), "14:05"), "the scheduler")
        services = f.stage.services
        with services.db.read() as session:
            rounds = session.exec(select(CheckinRound, Cycle).where(CheckinRound.cycle_id == Cycle.id,
                                                                     CheckinRound.week == week)).all()
            found = [(r.state, r.skip_reason or "", r.opened_at, cycle.title) for r, cycle in rounds]
        skipped = [x for x in found if x[0] == "skipped"]
        if not skipped or len(skipped) < len(found):
            raise StepSkipped(f"the scheduler did not skip week {week}'s check-ins over the break")
        titles = " and of ".join(f"“{title}”" for *_, title in skipped)
        reason = cycle_rules.break_label(skipped[0][1]) or c.break_label
        self.t.write(f"{self.t.when(skipped[0][2])} · the scheduler skipped this week's check-ins ({reason}): "
                     f"week {week} of {titles}; nobody was asked")
        week_end = f.local(monday + timedelta(days=7), "00:00")
        with services.db.read() as session:
            planned = session.exec(select(Meeting, Team).where(
                Meeting.team_id == Team.id, col(Meeting.starts_at) >= f.stage.clock.now(),
                col(Meeting.starts_at) < week_end).order_by(col(Meeting.starts_at))).all()
        for meeting, team in planned:
            if not c.on_break(meeting.starts_at.astimezone(ZONE).date()):
                continue
            f.ticking(meeting.starts_at + timedelta(minutes=meeting.minutes + 30), "the scheduler")
            with services.db.read() as session:
                row = session.get(Meeting, meeting.id)
            why = meeting_store.skipped_for(row) if row is not None else None
            if row is None or why is None or row.agenda_ts:
                raise StepSkipped(f"the scheduler held {team.name}'s meeting on a day of the break")
            day = meeting.starts_at.astimezone(ZONE)
            place = G3 if team.name == TEAM3 else G4
            self.t.write(f"{self.t.when(meeting.starts_at)} · the scheduler did not post the agenda for "
                         f"{day:%a %b} {day.day} in {f.place_name(place)}: {why} (the meeting is "
                         "skipped, so nobody is asked for feedback either)")
        f.ticking(f.local(monday + timedelta(days=7), "07:05"), "the scheduler")

    def week(self, week: int, cycle_week: int, monday: date) -> None:
        """A school week (`week` of the story's four, `cycle_week` of the cycle's)."""
        f = self.front
        tuesday = monday + timedelta(days=1)
        thursday = tuesday + timedelta(days=2)
        self.t.heading(f"Week {cycle_week}")
        f.ticking(f.local(tuesday, "14:05"), "the scheduler")
        answers = {1: [(CHEN, "on_track"), (PATEL, "details"), (BROOKS, "stuck"), (NGUYEN, "home")],
                   2: [(CHEN, "on_track"), (PATEL, "details"), (BROOKS, "some_progress"), (NGUYEN, "on_track")],
                   3: [(CHEN, "on_track"), (PATEL, "details"), (BROOKS, "on_track")],
                   4: [(CHEN, "on_track"), (PATEL, "details"), (BROOKS, "on_track"), (NGUYEN, "some_progress")]}
        values = {1: "62", 2: "68", 3: "74", 4: "79"}
        f.stage.clock.advance(timedelta(minutes=20))
        for teacher, how in answers[week]:
            self.answer(teacher, how, values[week], week)
        for i, teacher in enumerate(GRADE4):
            if week == 3 and i == 2:
                continue  # someone forgets: the reminder goes to them
            button = "checkin_on_track" if i else "checkin_some_progress"
            f.click(teacher, f.checkin(teacher), button, "clicked “On track”" if i else "clicked “Some progress”")
        f.ticking(f.local(thursday, "14:30"), "the scheduler")
        if week == 1:
            f.click(RIVERA, f.latest(f.dm(RIVERA), "support_follow_up"), "support_follow_up",
                    "clicked “I'll follow up” on Mr. Brooks's support request")
        f.ticking(f.local(thursday, "16:20"), "the scheduler")
        if week == 1:
            self.feedback()
            self.wrapup(thursday)
        if week == 2:
            f.click(CHEN, f.action_item(CHEN), "action_done",
                    f"clicked “Done” on his action item {f.action_item_where}")
        f.ticking(f.local(monday + timedelta(days=7), "07:05"), "the scheduler")

    def answer(self, teacher: Person, how: str, value: str, week: int) -> None:
        f = self.front
        if how == "home":
            f.click(teacher, f.checkin_at_home(teacher), "checkin_on_track",
                    f"clicked “On track” on the check-in shown in {f.home_where}")
            return
        if how == "details":
            f.form_by_button(teacher, f.checkin(teacher), "checkin_details", "checkin_details", {
                "progress": "some_progress" if week < 3 else "on_track", "value": value,
                "evidence": f"Exit tickets this week: {value}% scored 3 or more"},
                f"added a data point ({value}%) and a note, and saved")
            return
        label = {"on_track": "On track", "some_progress": "Some progress", "stuck": "Stuck, I'd like support"}[how]
        f.click(teacher, f.checkin(teacher), f"checkin_{how}", f"clicked “{label}”")
        if how == "stuck":
            f.form_by_button(teacher, f.latest(f.dm(teacher), "checkin_details"), "checkin_details",
                             "checkin_details", {"progress": "stuck",
                                                 "support": "Ideas for students who still count tick marks one by one"},
                             "wrote what support would help, and saved")

    def feedback(self) -> None:
        f = self.front
        prompt = f.latest(G3, "feedback_open")
        ratings = {CHEN: ("5", "4", "5"), PATEL: ("4", "4", "4"), BROOKS: ("4", "3", "5"), NGUYEN: ("5", "5", "4")}
        for teacher, (useful, learned, norms) in ratings.items():
            values: dict[str, Any] = {"useful": useful, "learned": learned, "norms": norms}
            anonymous = teacher is PATEL
            if anonymous:
                values["anonymous"] = True
                values["next_focus"] = "How we group students for reteaching"
            f.form_by_button(teacher, prompt, "feedback_open", "feedback", values,
                             "answered the three questions" + (" and ticked “Submit anonymously”" if anonymous else ""))

    def wrapup(self, thursday: date) -> None:
        due = thursday + timedelta(days=6)
        self.front.form_by_command(RIVERA, "wrapup", G3, "wrapup", {
            "present": [RIVERA, CHEN, PATEL, NGUYEN],
            "decisions": "Move the number-line warm-up to the start of math block",
            "a1_owner": CHEN, "a1_text": "Bring six exit-ticket samples to the next meeting",
            "a1_due": due.isoformat(),
        }, "recorded attendance, a decision and an action item for Mr. Chen, and posted the log")

    def reflection(self) -> None:
        self.t.heading("Reflection")
        f = self.front
        f.form_by_button(RIVERA, f.latest(G3, "cycle_reflect_open"), "cycle_reflect_open", "reflection", {
            "target_reached": "partly", "final_value": "79",
            "learned": "Daily number-line warm-ups moved exit tickets from 55% to 79%",
            "next_steps": "Keep the warm-ups; next cycle on comparing fractions",
        }, "filled in the team's reflection (target partly reached, 79%) and saved")

    def homes(self) -> None:
        self.t.heading(self.front.home_title)
        for person in (CHEN, RIVERA, PRINCIPAL, NEWCOMER):
            self.front.show_home(person, self.front.home(person))

    def digest(self) -> None:
        self.t.heading("The principal's digest")
        f = self.front
        name, content = f.digest_workbook()
        name = f.files.free_name(name.replace("/", "-"))
        path = f.workdir / name
        path.write_bytes(content)
        f.files.claim(name)
        self.workbook = path
        self.t.write(f"   → wrote the principal's digest workbook to {path}")

    def each_person(self) -> None:
        self.t.heading("What each person saw")
        self.front.each_person()

