"""`plcbot demo --teams`: the same four-week story as `plcbot demo`, played on Microsoft Teams.

What runs is what `plcbot run` serves for Teams: the Teams front (`bot.teams.server.TeamsServer`,
the SDK app under uvicorn on 127.0.0.1, every request's JWT validated), the scheduler's registry
ticked in this process, storage and the delivery ledger with the Teams transport. What is
pretend: Teams (the `TeamsDouble` from this package: Bot Connector, identity provider, file
upload), the people (`TeamsUser`, sending signed activities and invokes as Teams does), and time
(a `FakeClock` moved forward, one scheduler tick after each move). A fresh SQLite file; no
tenant, no token, no network.

The story, calendar and school break are the Slack demo's (`bot.demo`): the same people, the same
school weeks, the same answers. Where the Teams front has no way in yet (school and team set-up,
norms and the cycle form are typed on Slack today), the story says so and the step goes through
the same core action the Slack form saves through: nothing is stored behind the core's back.

Run again into the same folder (`--out DIR`), it replaces the files its earlier run wrote there,
listed in `plcbot-demo-teams-files.txt`, and refuses to write over any other file.

The transcript is written from what the double recorded, the way Teams shows it: people's and
channels' names, never ids; each card in words (its title, key facts, buttons).
"""

from __future__ import annotations

import functools
import json
import re
import secrets
import socket
import tempfile
import time
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from bot import demo as slack_demo
from bot.demo import (
    ADMIN,
    BROOKS,
    CHEN,
    GRADE3,
    GRADE4,
    KIM,
    MAX_STEP,
    NEWCOMER,
    NGUYEN,
    PATEL,
    PRINCIPAL,
    RIVERA,
    SCHOOL,
    SCHOOL_WEEKS,
    TZ,
    ZONE,
    DemoFiles,
    DemoResult,
    Person,
    StepSkipped,
    closing,
    demo_calendar,
    short_day,
)
from bot.teams_double import TeamsDouble, TeamsUser
from scheduling.clock import FakeClock

DB_NAME = "plcbot-demo-teams.db"
MANIFEST = "plcbot-demo-teams-files.txt"
EVERYONE = [ADMIN, PRINCIPAL, RIVERA, *GRADE3, KIM, *GRADE4, NEWCOMER]
G3_TEAM, G3_NAME = "19:grade3math@thread.tacv2", "Grade 3 Math"
G4_TEAM, G4_NAME = "19:grade4ela@thread.tacv2", "Grade 4 ELA"
ADAPTIVE = "application/vnd.microsoft.card.adaptive"
FILE_INFO = "application/vnd.microsoft.teams.card.file.info"
FILE_CONSENT = "application/vnd.microsoft.teams.card.file.consent"
NOT_ON_TEAMS = "typed on Slack today; the Teams form is coming"


def teams_id(person: Person) -> str:
    """The person's Teams user id (29:…) in the pretend tenant."""
    return "29:1" + person.user_id[1:].lower()


def email_of(person: Person) -> str:
    return f"{person.user_id[1:].lower()}@maplegrove.example"


# ---------------------------------------------------------------------------- cards in words
def _clean(text: str) -> str:
    text = re.sub(r"\*\*|__", "", text or "")
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
    return " / ".join(part.strip() for part in text.splitlines() if part.strip())


def card_parts(card: dict[str, Any]) -> tuple[list[str], list[str], list[str], list[str]]:
    """A card's words in order: (texts, facts "title: value", inputs' labels, buttons' titles)."""
    texts: list[str] = []
    facts: list[str] = []
    inputs: list[str] = []
    buttons: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        kind = str(node.get("type") or "")
        if kind == "TextBlock":
            texts.append(_clean(str(node.get("text") or "")))
        elif kind == "RichTextBlock":
            texts.append(_clean("".join(str(i.get("text") or "") for i in node.get("inlines") or []
                                        if isinstance(i, dict))))
        elif kind == "FactSet":
            facts.extend(_clean(f"{f.get('title', '')}: {f.get('value', '')}") for f in node.get("facts") or [])
        elif kind.startswith("Input."):
            inputs.append(_clean(str(node.get("label") or node.get("title") or node.get("id") or "")))
        elif kind.startswith("Action."):
            if node.get("title"):
                buttons.append(_clean(str(node["title"])))
            return
        for key in ("body", "items", "columns", "actions", "inlines"):
            if key in node and key != "inlines":
                walk(node[key])
        if isinstance(node.get("selectAction"), dict):
            pass  # a whole-card tap, not a button people see

    walk(card)
    return [t for t in texts if t], facts, inputs, buttons


def card_line(card: dict[str, Any], limit: int = 260) -> str:
    """One line for a card, as a teacher would read it: title and text, key facts, [buttons]."""
    texts, facts, _, buttons = card_parts(card)
    words = " / ".join(texts)
    if facts:
        words += (" · " if words else "") + "; ".join(facts[:6]) + (" …" if len(facts) > 6 else "")
    words = words if len(words) <= limit else words[: limit - 1].rstrip() + "…"
    if buttons:
        words += " [" + "] [".join(dict.fromkeys(buttons)) + "]"
    return words


def activity_line(activity: dict[str, Any]) -> str:
    """What a stored activity shows: its cards in words, a file card, a consent card, or its text."""
    shown: list[str] = []
    for att in activity.get("attachments") or []:
        kind = att.get("contentType")
        if kind == ADAPTIVE:
            shown.append(card_line(att.get("content") or {}))
        elif kind == FILE_INFO:
            shown.append(f"[file card: {att.get('name', '')}]")
        elif kind == FILE_CONSENT:
            content = att.get("content") or {}
            size = content.get("sizeInBytes") or 0
            shown.append(f"[file offered: {att.get('name', '')}, {size / 1024:.0f} KB — "
                         f"{content.get('description', '')}] [Allow] [Decline]")
    if not shown:
        shown.append(_clean(str(activity.get("text") or activity.get("summary") or "")))
    return " ".join(s for s in shown if s)


def check_in_weeks(activities: list[dict[str, Any]]) -> list[int]:
    """The week of each check-in card (not a reminder) among a person's chat activities."""
    weeks = []
    for activity in activities:
        for att in activity.get("attachments") or []:
            if att.get("contentType") != ADAPTIVE:
                continue
            texts = card_parts(att.get("content") or {})[0]
            found = next((re.match(r"Week (\d+) of \d+ check-in", t) for t in texts
                          if re.match(r"Week (\d+) of \d+ check-in", t)), None)
            if found and not any(t.startswith("⏰") or "Reminder" in t for t in texts):
                weeks.append(int(found[1]))
    return weeks


# ---------------------------------------------------------------------------- the running bot
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TeamsStage:
    """The Teams front on 127.0.0.1 against the `TeamsDouble`, its time a `FakeClock`, and the
    scheduler's registry ticked in this thread (`plcbot run` with Teams only, time played fast)."""

    def __init__(self, db_path: Path, start: datetime) -> None:
        self.db_path = db_path
        self.clock = FakeClock(start)
        self.double = TeamsDouble()
        self.server: Any = None

    def start(self) -> TeamsStage:
        warnings.filterwarnings("ignore", message=".*is in preview and may change")  # the SDK's notice
        from bot.services import build_services
        from bot.settings import from_env
        from bot.teams.server import TeamsServer
        from scheduling import registry
        from storage import migrate
        from storage.db import Database

        self.double.start()
        port = _free_port()
        self.settings = from_env({
            "TEAMS_CLIENT_ID": self.double.client_id, "TEAMS_CLIENT_SECRET": self.double.client_secret,
            "TEAMS_TENANT_ID": self.double.tenant_id, "TEAMS_PORT": str(port), "HOST": "127.0.0.1",
            "TEAMS_OPENID_METADATA_URL": self.double.openid_metadata_url, "TEAMS_LOGIN_URL": self.double.login_url,
            "DATABASE_URL": f"sqlite:///{self.db_path}",
            "PLCBOT_TIMEZONE": TZ,
            "PLCBOT_LISTENER_THREADS": "8",
            "PLCBOT_SECRET_KEY": secrets.token_hex(16),
            "LOG_LEVEL": "ERROR",
        })
        db = Database(self.settings.database_url)
        migrate.upgrade(db)
        self.services = build_services(self.settings, db=db, clock=self.clock)
        self.registry = registry.load()
        self.server = TeamsServer(self.settings, self.services)
        self.server.start_thread()
        self.url = f"http://127.0.0.1:{port}/api/messages"
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:  # noqa: S310
                    if json.loads(r.read()).get("teams") == "ok":
                        break
            except Exception:  # noqa: BLE001, S110 - still starting
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the Teams front did not start within 20 seconds")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if hasattr(self, "services"):
            self.services.db.dispose()
        self.double.stop()

    def user(self, person: Person) -> TeamsUser:
        return TeamsUser(self.double, teams_id(person), bot_url=self.url, timezone=TZ)

    def tick(self) -> None:
        from scheduling import runner

        runner.tick(self.services, self.registry, worker="demo-teams")

    def settle(self, quiet: float = 0.06, timeout: float = 10.0) -> None:
        """Until the double has seen no new call for `quiet` seconds (the front sends after answering)."""
        deadline = time.monotonic() + timeout
        count, since = len(self.double.calls), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.02)
            now = len(self.double.calls)
            if now != count:
                count, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return

    def next_due(self) -> datetime | None:
        from sqlmodel import col, select

        from storage.models import ScheduledJob

        with self.services.db.read() as session:
            return session.exec(select(ScheduledJob.due_at).where(ScheduledJob.state == "pending")
                                .order_by(col(ScheduledJob.due_at))).first()


# ---------------------------------------------------------------------------- the transcript
@dataclass
class _Seen:
    activities: dict[str, dict[str, str]]  # conversation -> activity id -> what it shows


class Transcript:
    """Lines of "who did what → what the bot did", from the double's records, as Teams shows them."""

    def __init__(self, double: TeamsDouble, out: TextIO | None, clock: FakeClock) -> None:
        self.double, self.out, self.clock = double, out, clock
        self.lines: list[str] = []
        self.names = {teams_id(p): p.name for p in EVERYONE}
        self.places = {G3_TEAM: f"{G3_NAME} › General", G4_TEAM: f"{G4_NAME} › General"}

    def write(self, line: str = "") -> None:
        line = self.words(line)
        self.lines.append(line)
        if self.out is not None:
            print(line, file=self.out, flush=True)

    def words(self, text: str) -> str:
        """Ids as Teams shows them: people's and channels' names."""
        for cid, name in self.places.items():
            text = text.replace(cid, name)
        return re.sub(r"29:1[a-z0-9]+", lambda m: self.names.get(m[0], "someone"), text)

    def when(self, at: datetime | None = None) -> str:
        local = (at or self.clock.now()).astimezone(ZONE)
        hour = local.strftime("%I").lstrip("0")
        return f"{local:%a %b} {local.day}, {hour}:{local:%M %p}"

    def heading(self, text: str) -> None:
        self.write()
        self.write(f"== {text} ==")

    def chats(self) -> dict[str, str]:
        """Each person's 1:1 chat with the bot that exists: conversation id -> the person's name."""
        with self.double._lock:
            return {cid: self.names[uid] for uid, cid in self.double._personal.items() if uid in self.names}

    def seen(self) -> _Seen:
        found: dict[str, dict[str, str]] = {}
        for cid in [*self.places, *self.chats()]:
            found[cid] = {a["id"]: json.dumps([a.get("attachments"), a.get("text")], sort_keys=True)
                          for a in self.double.activities(cid)}
        return _Seen(found)

    def report(self, before: _Seen, *, indent: str = "   → ", header: str | None = None) -> int:
        found: list[str] = []
        dms: dict[str, list[str]] = {}
        chats = self.chats()
        for cid in [*self.places, *chats]:
            old = before.activities.get(cid, {})
            for activity in self.double.activities(cid):
                shown = activity_line(activity)
                thread = ";messageid=" in str(activity.get("conversationId") or "")
                if activity["id"] not in old:
                    if cid in chats:
                        dms.setdefault(shown, []).append(chats[cid])
                    else:
                        found.append(f"{indent}plcbot posted in {self.places[cid]}"
                                     f"{' (a reply in a thread)' if thread else ''}: “{shown}”")
                elif old[activity["id"]] != json.dumps([activity.get("attachments"), activity.get("text")],
                                                       sort_keys=True):
                    where = f"{chats[cid]}'s chat" if cid in chats else self.places[cid]
                    found.append(f"{indent}plcbot updated its card in {where}: “{shown}”")
        for shown, people in dms.items():
            who = ", ".join(people) if len(people) < 4 else f"{len(people)} people ({', '.join(people)})"
            found.append(f"{indent}plcbot wrote in the chat with {who}: “{shown}”")
        if found and header:
            self.write(header)
        for line in found:
            self.write(line)
        return len(found)


# ---------------------------------------------------------------------------- the story
class TeamsDemo:
    """The Slack demo's story on Teams: a school, two teams, a four-week cycle, the principal's workbook."""

    def __init__(self, *, out: TextIO | None, workdir: Path, db_path: Path | None = None,
                 start_day: date | None = None, files: DemoFiles | None = None,
                 replaced: list[str] | None = None) -> None:
        self.workdir = workdir
        self.files = files or DemoFiles(workdir, MANIFEST)
        self.replaced = replaced or []
        self.db_path = db_path or workdir / DB_NAME
        self.calendar = demo_calendar(start_day or slack_demo.today())
        self.monday = self.calendar.monday
        start = datetime.combine(self.monday, datetime.min.time(), tzinfo=ZONE).replace(hour=7, minute=30)
        self.stage = TeamsStage(self.db_path, start.astimezone(UTC))
        self.t = Transcript(self.stage.double, out, self.stage.clock)
        self.skipped: list[str] = []
        self.workbook: Path | None = None
        self.team_ids: dict[str, int] = {}
        self.cycle_weeks: list[int] = []  # the cycle's weeks that were school weeks

    # ------------------------------------------------------------------ plumbing
    def local(self, day: date, hhmm: str) -> datetime:
        hour, minute = (int(x) for x in hhmm.split(":"))
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE).astimezone(UTC)

    def ticking(self, when: datetime, label: str) -> None:
        clock = self.stage.clock
        for _ in range(2000):
            before = self.t.seen()
            calls = len(self.stage.double.calls)
            self.stage.tick()
            if len(self.stage.double.calls) != calls:
                self.stage.settle()
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
    def act(self, person: Person, did: str) -> Iterator[list[str]]:
        """One thing a person does: the line, the requests, then what they and others saw."""
        self.t.write(f"{self.t.when()} · {person.name} ({person.role}) {did}")
        before = self.t.seen()
        extra: list[str] = []  # what the person saw in place (an updated card, a dialog)
        yield extra
        self.stage.settle()
        for line in extra:
            self.t.write(line)
        if self.t.report(before) == 0 and not extra:
            self.t.write("   → (nothing visible)")

    def step(self, name: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except StepSkipped as exc:
            self.skipped.append(f"{name}: {exc}")
            self.t.write(f"   (skipped “{name}”: {exc})")
        except Exception as exc:  # a feature not ready, or answering differently than the story expects
            why = f"the demo hit an unexpected error ({type(exc).__name__}: {str(exc)[:200]})"
            self.skipped.append(f"{name}: {why}")
            self.t.write(f"   (skipped “{name}”: {why})")

    def core_said(self, words: str) -> None:
        self.t.write(f"   → {words}")

    def deliver(self, notices: Any) -> None:
        """What a core action owes others, delivered as the Teams front delivers it after an invoke."""
        self.stage.server.front._deliver_notices(list(notices or ()))

    def actor(self, person: Person) -> Any:
        from storage.people import load_actor

        with self.stage.services.db.read() as session:
            return load_actor(session, teams_id(person), admins=self.stage.services.settings.admins)

    def say_in_channel(self, person: Person, text: str, team: str) -> None:
        with self.act(person, f"typed “@plcbot {text}” in {self.t.places[team]}"):
            reply = self.stage.user(person).say_in_channel(text, team)
            if reply.status != 200:
                raise StepSkipped(f"the bot answered HTTP {reply.status}")

    def latest(self, conversation: str, has: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        for activity in reversed(self.stage.double.activities(conversation)):
            if has(activity):
                return activity
        where = self.t.places.get(conversation) or f"{self.t.chats().get(conversation, 'a')}'s chat"
        raise StepSkipped(f"no card with {what} in {where}")

    def chat(self, person: Person) -> str:
        with self.stage.double._lock:
            cid = self.stage.double._personal.get(teams_id(person))
        if cid is None:
            raise StepSkipped(f"plcbot never wrote to {person.name}")
        return cid

    @staticmethod
    def actions(activity: dict[str, Any]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if str(node.get("type") or "").startswith("Action."):
                    found.append(node)
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(activity.get("attachments") or [])
        return found

    def button(self, activity: dict[str, Any], title: str) -> dict[str, Any] | None:
        return next((a for a in self.actions(activity) if a.get("title") == title), None)

    def with_button(self, title: str) -> Callable[[dict[str, Any]], bool]:
        return lambda activity: self.button(activity, title) is not None

    def click(self, person: Person, activity: dict[str, Any], title: str, did: str) -> None:
        """An Action.Execute click: the card the bot answers replaces the clicked one for the clicker."""
        if self.button(activity, title) is None:
            raise StepSkipped(f"the “{title}” button was not there for {person.name}")
        with self.act(person, did) as seen:
            reply = self.stage.user(person).click(activity, title)
            body = reply.json or {}
            if reply.status != 200:
                raise StepSkipped(f"the bot answered HTTP {reply.status} to “{title}”")
            if body.get("type") == ADAPTIVE:
                seen.append(f"   → {person.name}'s card now shows: “{card_line(body['value'])}”")
            elif body.get("value"):
                seen.append(f"   → {person.name} saw: “{_clean(str(body['value']))}”")

    def dialog(self, person: Person, activity: dict[str, Any], title: str, values: dict[str, Any],
               did: str) -> None:
        """Open a dialog from a card's button (task/fetch), fill it in and send it (task/submit)."""
        button = self.button(activity, title)
        if button is None:
            raise StepSkipped(f"the “{title}” button was not there for {person.name}")
        data = {k: v for k, v in (button.get("data") or {}).items() if k != "msteams"}
        cid = str(activity.get("conversationId") or "")
        team = cid.split(";", 1)[0] if cid.split(";", 1)[0] in self.t.places else None
        user = self.stage.user(person)
        fetched = user.task_fetch(data, conversation=cid, team_id=team, reply_to=activity.get("id"))
        task = ((fetched.json or {}).get("task") or {})
        if task.get("type") != "continue":
            raise StepSkipped(f"the dialog did not open for {person.name}: {task.get('value')}")
        form = task["value"]
        content = form["card"]["content"]
        asked = set()

        def inputs(node: Any) -> None:
            if isinstance(node, dict):
                if str(node.get("type") or "").startswith("Input.") and node.get("id"):
                    asked.add(node["id"])
                for value in node.values():
                    inputs(value)
            elif isinstance(node, list):
                for value in node:
                    inputs(value)

        inputs(content)
        missing = [k for k in values if k not in asked]
        if missing:
            raise StepSkipped(f"the dialog “{form.get('title')}” no longer asks for {', '.join(missing)}")
        send = next((a for a in self.actions({"attachments": [{"content": content}]})
                     if a.get("type") == "Action.Submit"), None)
        if send is None:
            raise StepSkipped(f"the dialog “{form.get('title')}” has no button to send it")
        self.t.write(f"{self.t.when()} · {person.name} ({person.role}) clicked “{title}”")
        self.t.write(f"   → Teams opened the dialog “{form.get('title')}”: {card_line(content, 200)}")
        with self.act(person, did) as seen:
            reply = user.task_submit({**(send.get("data") or {}), **values}, conversation=cid, team_id=team,
                                     reply_to=activity.get("id"))
            answer = ((reply.json or {}).get("task") or {})
            if answer.get("type") == "continue":
                shown = card_line(answer["value"]["card"]["content"])
                if "⚠" in shown or "error" in shown.lower() and answer["value"].get("title") == form.get("title"):
                    raise StepSkipped(f"the dialog said: {shown}")
                seen.append(f"   → the dialog now says: “{shown}”")
            elif answer.get("value"):
                seen.append(f"   → the dialog says: “{_clean(str(answer['value']))}”")

    # ------------------------------------------------------------------ the story, part by part
    def run(self) -> DemoResult:
        started = time.monotonic()
        self.stage.start()
        try:
            c = self.calendar
            self.t.write("plcbot demo --teams: the real bot (the Teams front, scheduler, storage, delivery) "
                         "against a pretend Microsoft Teams")
            self.t.write(f"on 127.0.0.1, with a fresh SQLite database at {self.db_path}"
                         + (" (the previous demo's files there were replaced)." if self.replaced else "."))
            self.t.write(f"Time runs fast: the demo school year starts {self.monday:%A %B} {self.monday.day}, "
                         f"{self.monday.year} ({TZ}); its calendar has a {c.break_label.lower()} "
                         f"from {short_day(c.break_start)} to {short_day(c.break_end)}.")
            self.step("set up the school", self.setup_school)
            self.step("install plcbot in the school's teams", self.install)
            self.step("set up the two teams", self.setup_teams)
            self.step("the norms", self.norms)
            self.step("start the learning cycles", self.start_cycles)
            self.step("post the agenda with @plcbot agenda", self.agenda)
            school_week = 0
            for week, monday in enumerate(c.weeks, start=1):
                if c.is_break_week(monday):
                    self.step(f"week {week} ({c.break_label.lower()})",
                              functools.partial(self.break_week, week, monday))
                else:
                    school_week += 1
                    self.cycle_weeks.append(week)
                    self.step(f"week {week}", functools.partial(self.week, school_week, week, monday))
            self.step("the reflection", self.reflection)
            self.step("the principal's digest workbook", self.digest)
            self.step("what each person saw", self.each_person)
        finally:
            self.stage.stop()
            if self.db_path.parent == self.workdir:
                Path(f"{self.db_path}.migrate-lock").unlink(missing_ok=True)
        return closing(self.t, workbook=self.workbook, db_path=self.db_path, skipped=self.skipped,
                       weeks=len(self.calendar.weeks), started=started, replaced=self.replaced)

    def setup_school(self) -> None:
        """The tenant's people and teams, the school, its principal and its break."""
        from sqlmodel import select

        from storage import cycles as cycle_store
        from storage import teams as team_store
        from storage.models import Person as PersonRow
        from storage.models import PersonIdentity
        from storage.models.identities import TEAMS

        self.t.heading("Setting up")
        d = self.stage.double
        for p in EVERYONE:
            d.add_user(p.name, email=email_of(p), user_id=teams_id(p))
        d.add_team(G3_NAME, [teams_id(p) for p in (PRINCIPAL, RIVERA, *GRADE3)], team_id=G3_TEAM)
        d.add_team(G4_NAME, [teams_id(p) for p in (PRINCIPAL, KIM, *GRADE4)], team_id=G4_TEAM)
        services, now = self.stage.services, self.stage.clock.now()
        # The people as the teams' rosters list them (Teams id, Entra id, e-mail), each reachable
        # through the tenant and the service URL the bot was installed with: what the set-up
        # dialog stores from the paged members API.
        with services.db.session() as session:
            for p in EVERYONE:
                member = d.user(teams_id(p))
                if session.exec(select(PersonRow).where(PersonRow.handle == member["id"])).first():
                    continue
                row = PersonRow(handle=member["id"], name=p.name, email=email_of(p), tz=TZ, created_at=now)
                session.add(row)
                session.flush()
                assert row.id is not None
                session.add(PersonIdentity(person_id=row.id, platform=TEAMS, workspace=d.tenant_id,
                                           external_id=member["id"], service_url=d.service_url, created_at=now))
            school = team_store.create_school(session, name=SCHOOL, timezone=TZ, actor="cli:demo", now=now)
            principal = session.exec(select(PersonRow).where(PersonRow.handle == teams_id(PRINCIPAL))).one()
            team_store.add_leader(session, school_id=school.id or 0, person_id=principal.id or 0,
                                  actor=teams_id(ADMIN), now=now)
            c = self.calendar
            cycle_store.add_break(session, school_id=school.id or 0, starts_on=c.break_start, ends_on=c.break_end,
                                  label=c.break_label, created_by="cli:demo", now=now)
            self.school_id = school.id or 0
        self.t.write(f"{self.t.when()} · {ADMIN.name} ({ADMIN.role}) created {SCHOOL} ({TZ}) and named "
                     f"{PRINCIPAL.name} its principal (school commands are {NOT_ON_TEAMS}; stored as "
                     "/plc school create and /plc school principal add store them)")
        self.t.write(f"{self.t.when()} · {ADMIN.name} ({ADMIN.role}) ran `plcbot calendar add-break --school "
                     f"\"{SCHOOL}\" {c.break_start} {c.break_end} --label \"{c.break_label}\"`")
        self.core_said(f"Added a break {short_day(c.break_start)} – {short_day(c.break_end)} ({c.break_label}): "
                       "no check-ins or meetings for the school's teams on those days")
        self.t.write(f"     The tenant's teams: {G3_NAME} (Ms. Rivera and four teachers) and {G4_NAME} "
                     "(Mr. Kim and three teachers); Dr. Okafor is in both.")

    def _welcomed(self, team: str) -> object:
        return self.stage.double.activities(team) or None

    def install(self) -> None:
        for person, team in ((RIVERA, G3_TEAM), (KIM, G4_TEAM)):
            with self.act(person, f"added plcbot to the team {self.t.places[team].split(' › ')[0]}"):
                reply = self.stage.user(person).install_in_team(team)
                if reply.status != 200:
                    raise StepSkipped(f"the bot answered HTTP {reply.status} to the install")
                self.stage.double.wait_for(functools.partial(self._welcomed, team), timeout=10)
        with self.act(NEWCOMER, "added plcbot for herself, in a chat with it"):
            self.stage.user(NEWCOMER).install_personal()
            self.stage.double.wait_for(lambda: self.t.chats() or None, timeout=10)

    def setup_teams(self) -> None:
        from sqlmodel import select

        from handlers.core import teams as core_teams
        from storage.models import TeamPlace
        from storage.models.identities import TEAMS

        services, d = self.stage.services, self.stage.double
        for name, place, facilitator, members, days, at, said in (
            (G3_NAME, G3_TEAM, RIVERA, GRADE3, "thu", "15:30", "meets Thursdays 3:30 PM"),
            (G4_NAME, G4_TEAM, KIM, GRADE4, "wed", "15:00", "meets Wednesdays 3 PM"),
        ):
            setup = core_teams.TeamSetup(place=place, name=name, school_id=self.school_id,
                                         members=[teams_id(p) for p in members],
                                         facilitators=[teams_id(facilitator)], weekdays=days, time=at, minutes=45,
                                         timezone=TZ, creating=True)
            self.t.write(f"{self.t.when()} · {PRINCIPAL.name} ({PRINCIPAL.role}) set up {name} in its channel "
                         f"({facilitator.name} facilitates, {len(members)} teachers from the team's members, {said}); "
                         "the set-up dialog is not in this build, so the demo saves it through the core's set-up "
                         "action, the one /plc setup saves through")
            actor = self.actor(PRINCIPAL)
            with services.db.read() as session:
                core_teams.check_setup(session, actor, setup)
            with services.db.session() as session:
                result = core_teams.write_setup(session, actor, setup, fresh=[], skipped=[],
                                                now=self.stage.clock.now())
                team = result.view
                # The team's place is its Teams channel (the core's set-up names a Slack channel today).
                row = session.exec(select(TeamPlace).where(TeamPlace.place_id == place)).one()
                row.platform, row.workspace, row.service_url = TEAMS, d.tenant_id, d.service_url
                session.add(row)
                found = session.exec(select(TeamPlace.team_id).where(TeamPlace.place_id == place)).one()
                self.team_ids[place] = found
            added = ", ".join(self.t.names.get(uid, uid) for uid in (team.added if team else ()))
            self.core_said(f"{result.reply} Members: {added}.")
        self.deliver(())

    def norms(self) -> None:
        from handlers.core import norms as core_norms
        from storage.models import Team

        self.t.heading("Norms")
        services = self.stage.services
        actor = self.actor(RIVERA)
        with services.db.session() as session:
            team = session.get(Team, self.team_ids[G3_TEAM])
            assert team is not None
            result = core_norms.write_norms(session, actor, team, norms=[
                "Start and end on time", "Assume good intent", "Bring student work, not opinions",
                "Every voice is heard"], now=self.stage.clock.now())
        self.t.write(f"{self.t.when()} · {RIVERA.name} ({RIVERA.role}) wrote the team's four norms (the norms form "
                     f"is {NOT_ON_TEAMS}; saved through the core's norms action)")
        self.core_said(result.reply + " The agenda card shows them.")

    def start_cycles(self) -> None:
        from handlers.core import cycles as core_cycles
        from storage.rules import cycles as rules

        self.t.heading("A learning cycle: four weeks of school")
        weeks = len(self.calendar.weeks)
        span = (f"{weeks} weeks: {SCHOOL_WEEKS} of school and {weeks - SCHOOL_WEEKS} of "
                f"{self.calendar.break_label.lower()}")
        for facilitator, place, title, goal, metric, baseline, target in [
            (RIVERA, G3_TEAM, "Fractions on a number line",
             "80% of students place fractions correctly on a number line by the end of the cycle",
             "Exit ticket score 3+", "55", "80"),
            (KIM, G4_TEAM, "Citing text evidence",
             "Students cite two pieces of evidence in written responses", "Responses with 2+ citations", "40", "70"),
        ]:
            raw = rules.CycleInput(title=title, goal=goal, strategy="Daily warm-ups and a weekly exit ticket",
                                   metric_name=metric, metric_unit="%", baseline=baseline, target=target,
                                   start_date=self.monday.isoformat(), weeks=str(weeks), checkin_weekday="1",
                                   checkin_time="14:00", reminder_hours="24")
            with self.act(facilitator, f"started the learning cycle “{title}” ({span}, check-ins Tuesdays 2 PM; "
                                       f"the cycle form is {NOT_ON_TEAMS}: the core's cycle action)"):
                result = core_cycles.start(self.stage.services, self.actor(facilitator),
                                           team_id=self.team_ids[place], raw=raw)
                self.deliver(result.notices)

    def agenda(self) -> None:
        self.t.heading("The agenda")
        self.say_in_channel(RIVERA, "agenda", G3_TEAM)

    def break_week(self, week: int, monday: date) -> None:
        """A week of the break: the scheduler skips its check-ins and meetings; nobody cancels anything."""
        from sqlmodel import col, select

        from storage import meetings as meeting_store
        from storage.models import CheckinRound, Cycle, Meeting, Team
        from storage.rules import cycles as cycle_rules

        c = self.calendar
        self.t.heading(f"Week {week}: {c.break_label}")
        self.ticking(self.local(monday + timedelta(days=1), "14:05"), "the scheduler")
        services = self.stage.services
        with services.db.read() as session:
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
        with services.db.read() as session:
            planned = session.exec(select(Meeting, Team).where(
                Meeting.team_id == Team.id, col(Meeting.starts_at) >= self.stage.clock.now(),
                col(Meeting.starts_at) < week_end).order_by(col(Meeting.starts_at))).all()
        for meeting, team in planned:
            if not c.on_break(meeting.starts_at.astimezone(ZONE).date()):
                continue
            self.ticking(meeting.starts_at + timedelta(minutes=meeting.minutes + 30), "the scheduler")
            with services.db.read() as session:
                row = session.get(Meeting, meeting.id)
            why = meeting_store.skipped_for(row) if row is not None else None
            if row is None or why is None or row.agenda_ts:
                raise StepSkipped(f"the scheduler held {team.name}'s meeting on a day of the break")
            day = meeting.starts_at.astimezone(ZONE)
            self.t.write(f"{self.t.when(meeting.starts_at)} · the scheduler did not post the agenda for "
                         f"{day:%a %b} {day.day} in {self.t.places.get(team.channel_id, team.name)}: {why} "
                         "(the meeting is skipped, so nobody is asked for feedback either)")
        self.ticking(self.local(monday + timedelta(days=7), "07:05"), "the scheduler")

    def week(self, week: int, cycle_week: int, monday: date) -> None:
        tuesday = monday + timedelta(days=1)
        thursday = tuesday + timedelta(days=2)
        self.t.heading(f"Week {cycle_week}")
        self.ticking(self.local(tuesday, "14:05"), "the scheduler")
        answers = {1: [(CHEN, "on_track"), (PATEL, "details"), (BROOKS, "stuck"), (NGUYEN, "on_track")],
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
            label = "On track" if i else "Some progress"
            self.click(teacher, self.checkin_card(teacher), label, f"clicked “{label}” on the check-in in her chat"
                       if teacher.name.startswith("Ms.") else f"clicked “{label}” on the check-in in his chat")
        self.ticking(self.local(thursday, "14:30"), "the scheduler")
        if week == 1:
            self.follow_up()
        self.ticking(self.local(thursday, "16:20"), "the scheduler")
        if week == 1:
            self.feedback()
        self.ticking(self.local(monday + timedelta(days=7), "07:05"), "the scheduler")

    def checkin_card(self, teacher: Person) -> dict[str, Any]:
        return self.latest(self.chat(teacher), self.with_button("On track"), "the check-in's “On track” button")

    def answer(self, teacher: Person, how: str, value: str, week: int) -> None:
        card = self.checkin_card(teacher)
        if how == "details":
            self.dialog(teacher, card, "Add details", {
                "progress": "some_progress" if week < 3 else "on_track", "value": value,
                "evidence": f"Exit tickets this week: {value}% scored 3 or more"},
                f"added a data point ({value}%) and a note in the dialog, and sent it")
            return
        label = {"on_track": "On track", "some_progress": "Some progress", "stuck": "Stuck"}[how]
        title = next((a["title"] for a in self.actions(card) if str(a.get("title", "")).startswith(label)), label)
        self.click(teacher, card, title, f"clicked “{title}”")
        if how == "stuck":
            card = self.latest(self.chat(teacher), self.with_button("Add details"), "the “Add details” button")
            self.dialog(teacher, card, "Add details", {
                "progress": "stuck", "support": "Ideas for students who still count tick marks one by one"},
                "wrote in the dialog what support would help, and sent it")

    def follow_up(self) -> None:
        card = self.latest(self.chat(RIVERA), self.with_button("I'll follow up"),
                           "the support request's “I'll follow up” button")
        self.click(RIVERA, card, "I'll follow up", "clicked “I'll follow up” on Mr. Brooks's support request "
                                                   "in her chat")

    def feedback(self) -> None:
        prompt = self.latest(G3_TEAM, self.with_button("Give feedback"), "the meeting's “Give feedback” button")
        ratings = {CHEN: ("5", "4", "5"), PATEL: ("4", "4", "4"), BROOKS: ("4", "3", "5"), NGUYEN: ("5", "5", "4")}
        for teacher, (useful, learned, norms) in ratings.items():
            values: dict[str, Any] = {"useful": useful, "learned": learned, "norms": norms}
            anonymous = teacher is PATEL
            if anonymous:
                values["anonymous"] = "true"
                values["next_focus"] = "How we group students for reteaching"
            self.dialog(teacher, prompt, "Give feedback", values,
                        "answered the three questions" + (" and ticked “Submit anonymously”" if anonymous else ""))

    def reflection(self) -> None:
        self.t.heading("Reflection")
        card = self.latest(G3_TEAM, self.with_button("Fill in the reflection"), "the “Fill in the reflection” button")
        self.dialog(RIVERA, card, "Fill in the reflection", {
            "target_reached": "partly", "final_value": "79",
            "learned": "Daily number-line warm-ups moved exit tickets from 55% to 79%",
            "next_steps": "Keep the warm-ups; next cycle on comparing fractions",
        }, "filled in the team's reflection (target partly reached, 79%) and sent it")

    def digest(self) -> None:
        self.t.heading("The principal's digest")
        d = self.stage.double
        offers = [o for o in d.file_consents(teams_id(PRINCIPAL)) if o["answer"] is None]
        if not offers:
            raise StepSkipped("no digest workbook was offered to the principal")
        offer = offers[-1]
        with self.act(PRINCIPAL, f"clicked “Allow” on the file card for {offer['name']} in her chat"):
            reply = self.stage.user(PRINCIPAL).file_consent(offer, "accept")
            if reply.status != 200:
                raise StepSkipped(f"the bot answered HTTP {reply.status} to the file consent ({reply.body[:160]})")
            d.wait_for(lambda: d.uploaded(offer["uniqueId"]), timeout=10)
        content = d.uploaded(offer["uniqueId"])
        if not content:
            raise StepSkipped("the workbook was not uploaded")
        name = self.files.free_name(offer["name"].replace("/", "-"))
        path = self.workdir / name
        path.write_bytes(content)
        self.files.claim(name)
        self.workbook = path
        self.t.write(f"   → wrote the workbook the principal received to {path}")

    def each_person(self) -> None:
        """Each person's chat with plcbot and each team's channel, as Teams shows them now."""
        self.t.heading("What each person saw")
        d = self.stage.double
        for team in (G3_TEAM, G4_TEAM):
            shown = d.activities(team)
            self.t.write(f"{self.t.places[team]}: {len(shown)} posts from plcbot")
        for person in EVERYONE:
            seen = d.seen_by(teams_id(person))
            if not seen:
                self.t.write(f"{person.name} ({person.role}): no chat with plcbot")
                continue
            weeks = check_in_weeks(seen)
            kinds: dict[str, int] = {}
            for activity in seen:
                line = activity_line(activity)
                first = line.split(" / ")[0].split(" · ")[0].split(" [")[0]
                first = re.sub(r"Week \d+ of \d+ check-in.*", "check-in", first)
                kinds[first[:60]] = kinds.get(first[:60], 0) + 1
            what = "; ".join(f"{n}× {k}" if n > 1 else k for k, n in kinds.items())
            extra = f" — check-ins for weeks {', '.join(map(str, weeks))}" if weeks else ""
            self.t.write(f"{person.name} ({person.role}): {len(seen)} in the chat with plcbot{extra}: {what}")


def run_demo_teams(*, out: TextIO | None, workdir: Path | None = None, db_path: Path | None = None,
                   start_day: date | None = None) -> DemoResult:
    """Play the story on Teams; returns where the workbook and database are, and the transcript.

    Into a folder an earlier run wrote to, it first removes that run's files (`DemoFiles`, with
    its own list); raises DemoFolderError, having changed nothing, when a file it would write is
    not its own.
    """
    folder = workdir or Path(tempfile.mkdtemp(prefix="plcbot-demo-teams-"))
    folder.mkdir(parents=True, exist_ok=True)
    if db_path is not None and db_path.exists():
        raise FileExistsError(f"{db_path} exists; the demo needs a fresh database file")
    own_db = [DB_NAME + suffix for suffix in ("", "-wal", "-shm", "-journal", ".migrate-lock")]
    files = DemoFiles(folder, MANIFEST)
    replaced = files.start(own_db if db_path is None else [])
    if db_path is None:
        for name in own_db:
            files.claim(name, checksum=False)
    return TeamsDemo(out=out, workdir=folder, db_path=db_path, start_day=start_day, files=files,
                     replaced=replaced).run()
