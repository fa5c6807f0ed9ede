"""`plcbot demo --teams`: the same four-week story as `plcbot demo`, played on Microsoft Teams.

What runs is what `plcbot run` serves for Teams: the Teams front (`bot.teams.server.TeamsServer`,
the SDK app under uvicorn on 127.0.0.1, every request's JWT validated), the scheduler's registry
ticked in this process, storage and the delivery ledger with the Teams transport. What is
pretend: Teams (the `TeamsDouble` from this package: Bot Connector, identity provider, file
upload), the people (`TeamsUser`, sending signed activities and invokes as Teams does), and time
(a `FakeClock` moved forward, one scheduler tick after each move). A fresh SQLite file; no
tenant, no token, no network.

The story is `bot.demo_story.Story`, the one `plcbot demo` plays on Slack: the same people, school
weeks and answers. This module is its Teams front (`TeamsFront`): how a person types a command to
@plcbot (school, setup, norms, cycle, break, wrapup…), clicks a card's button, fills in a dialog
and accepts a file, and how the transcript reads what the Teams double recorded.

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
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO

from bot import demo as slack_demo
from bot.demo_story import (
    ADMIN,
    GRADE3,
    GRADE4,
    KIM,
    NEWCOMER,
    PRINCIPAL,
    RIVERA,
    TZ,
    DemoFiles,
    DemoResult,
    Front,
    Person,
    StepSkipped,
    Story,
    demo_calendar,
    first_morning,
)
from bot.demo_story import Transcript as StoryTranscript
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
ADMIN_ENTRA_ID = "5a1e0000-0000-4000-8000-00000000ad01"  # the district admin's, named in PLCBOT_ADMINS
# The story's buttons on Teams: their titles (a title that starts so, for the check-in's "Stuck…").
TITLES = {
    "norms_commit": "I commit to these norms", "checkin_on_track": "On track", "checkin_some_progress": "Some progress",
    "checkin_stuck": "Stuck", "checkin_details": "Add details", "support_follow_up": "I'll follow up",
    "feedback_open": "Give feedback", "cycle_reflect_open": "Fill in the reflection", "action_done": "Mark done",
}
PLACES = {"g3": G3_TEAM, "g4": G4_TEAM}


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
        # The story plays weeks in seconds, so people who act seconds apart act milliseconds apart here:
        # Teams' rate-limit windows are shrunk as time is (the counts stay Microsoft's).
        self.double = TeamsDouble(time_scale=0.01)
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
        for p in EVERYONE:  # the tenant's people (the admin with the Entra id PLCBOT_ADMINS names)
            self.double.add_user(p.name, email=email_of(p), user_id=teams_id(p),
                                 aad_object_id=ADMIN_ENTRA_ID if p is ADMIN else None)
        port = _free_port()
        self.settings = from_env({
            "TEAMS_CLIENT_ID": self.double.client_id, "TEAMS_CLIENT_SECRET": self.double.client_secret,
            "TEAMS_TENANT_ID": self.double.tenant_id, "TEAMS_PORT": str(port), "HOST": "127.0.0.1",
            "TEAMS_OPENID_METADATA_URL": self.double.openid_metadata_url, "TEAMS_LOGIN_URL": self.double.login_url,
            "DATABASE_URL": f"sqlite:///{self.db_path}",
            "PLCBOT_TIMEZONE": TZ,
            "PLCBOT_ADMINS": ADMIN_ENTRA_ID,
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

    def answered(self, activity: dict[str, Any], timeout: float = 10.0) -> None:
        """Until the answer to a typed message has gone out: the front acknowledges the message first and
        answers it afterwards (`bot.teams.replies`), so the answer is awaited by its ledger row."""
        from sqlmodel import select

        from scheduling import keys
        from storage.models import Delivery

        conversation = str(activity["conversation"]["id"]).split(";messageid=", 1)[0]
        key = keys.command_reply(conversation, str(activity["id"]))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.services.db.read() as session:
                state = session.exec(select(Delivery.state).where(Delivery.key == key)).first()
            if state not in (None, "pending", "sending"):
                return
            time.sleep(0.02)

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


class Transcript(StoryTranscript):
    """Lines of "who did what → what the bot did", from the Teams double's records, as Teams shows them."""

    def __init__(self, double: TeamsDouble, out: TextIO | None, clock: FakeClock) -> None:
        super().__init__(out, clock)
        self.double = double
        self.names = {teams_id(p): p.name for p in EVERYONE}
        self.places = {G3_TEAM: f"{G3_NAME} › General", G4_TEAM: f"{G4_NAME} › General"}

    def words(self, text: str) -> str:
        """Ids as Teams shows them: people's and channels' names."""
        for cid, name in self.places.items():
            text = text.replace(cid, name)
        return re.sub(r"29:1[a-z0-9]+", lambda m: self.names.get(m[0], "someone"), text)

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
        found += self.to_many(dms, f"{indent}plcbot wrote in the chat with")
        return self.emit(found, header=header)


# ---------------------------------------------------------------------------- the story's Teams front
class TeamsFront(Front):
    """The story on Teams: commands typed to @plcbot in a channel or the chat, cards' buttons (in place,
    or opening a dialog), the file consent card, and each person's chat with the bot."""

    platform = "Microsoft Teams"
    home_title, home_where, action_item_where = "Home in each chat", "the chat with plcbot", "in his chat with plcbot"

    t: Transcript
    stage: TeamsStage

    def __init__(self, *, out: TextIO | None, workdir: Path, db_path: Path | None = None,
                 start_day: date | None = None, files: DemoFiles | None = None) -> None:
        self.workdir = workdir
        self.files = files or DemoFiles(workdir, MANIFEST)
        self.db_path = db_path or workdir / DB_NAME
        self.calendar = demo_calendar(start_day or slack_demo.today())
        self.stage = TeamsStage(self.db_path, first_morning(self.calendar))
        self.t = Transcript(self.stage.double, out, self.stage.clock)

    def banner(self) -> str:
        return ("plcbot demo --teams: the real bot (the Teams front, scheduler, storage, delivery) "
                "against a pretend Microsoft Teams")

    def settle(self) -> None:
        self.stage.settle()

    def tick(self) -> None:
        calls = len(self.stage.double.calls)
        self.stage.tick()
        if len(self.stage.double.calls) != calls:
            self.stage.settle()

    def place_name(self, place: str) -> str:
        return self.t.places[PLACES.get(place, place)]

    def dm(self, person: Person) -> str:
        return "dm:" + teams_id(person)

    def conversation(self, place: str) -> str:
        if place.startswith("dm:"):
            person = next(p for p in EVERYONE if teams_id(p) == place[3:])
            return self.chat(person)
        return PLACES.get(place, place)

    def chat(self, person: Person) -> str:
        with self.stage.double._lock:
            cid = self.stage.double._personal.get(teams_id(person))
        if cid is None:
            raise StepSkipped(f"plcbot never wrote to {person.name}")
        return cid

    def join(self) -> None:
        """The tenant's two teams; their facilitators add plcbot to them, the new teacher to her chat."""
        d = self.stage.double
        d.add_team(G3_NAME, [teams_id(p) for p in (PRINCIPAL, RIVERA, *GRADE3)], team_id=G3_TEAM)
        d.add_team(G4_NAME, [teams_id(p) for p in (PRINCIPAL, KIM, *GRADE4)], team_id=G4_TEAM)
        self.t.write(f"     The tenant's teams: {G3_NAME} (Ms. Rivera and four teachers) and {G4_NAME} "
                     "(Mr. Kim and three teachers); Dr. Okafor is in both.")
        for person, team in ((RIVERA, G3_TEAM), (KIM, G4_TEAM)):
            with self.act(person, f"added plcbot to the team {self.t.places[team].split(' › ')[0]}"):
                reply = self.stage.user(person).install_in_team(team)
                if reply.status != 200:
                    raise StepSkipped(f"the bot answered HTTP {reply.status} to the install")
                self.stage.double.wait_for(functools.partial(self._welcomed, team), timeout=10)
        with self.act(NEWCOMER, "added plcbot for herself, in a chat with it"):
            self.stage.user(NEWCOMER).install_personal()
            self.stage.double.wait_for(lambda: self.t.chats() or None, timeout=10)

    def _welcomed(self, team: str) -> object:
        return self.stage.double.activities(team) or None

    # ------------------------------------------------------------------ hands on Teams
    def command(self, person: Person, text: str, place: str, *, mentions: tuple[Person, ...] = ()) -> None:
        user = self.stage.user(person)
        ats = [f"<at>{p.name}</at>" for p in mentions]
        typed = text.format(*ats)
        shown = text.format(*(f"@{p.name}" for p in mentions))
        if place.startswith("dm:"):
            activity = user.personal("message")
            activity.update({"text": typed, "textFormat": "plain"})
            where = "the chat with plcbot"
            did = f"typed “{shown}” in {where}"
        else:
            team = PLACES.get(place, place)
            activity = user.in_channel("message", team)
            bot_at = f"<at>{self.stage.double.bot_name}</at>"
            activity.update({"text": f"{bot_at} {typed}", "textFormat": "plain"})
            activity["entities"].append({"type": "mention", "text": bot_at, "mentioned": {
                "id": self.stage.double.bot_id, "name": self.stage.double.bot_name}})
            did = f"typed “@plcbot {shown}” in {self.t.places[team]}"
        activity["entities"] += [{"type": "mention", "text": at, "mentioned": {"id": teams_id(p), "name": p.name}}
                                 for at, p in zip(ats, mentions, strict=True)]
        with self.act(person, did):
            reply = user.send(activity)
            if reply.status != 200:
                raise StepSkipped(f"the bot answered HTTP {reply.status}")
            self.stage.answered(activity)

    def form_by_command(self, person: Person, text: str, place: str, form: str, values: dict[str, Any],
                        did: str) -> None:
        """The command's answer is a card whose button opens the dialog (a typed message cannot open one)."""
        self.command(person, text, place)
        conversation = self.conversation(place)
        shown = self.stage.double.activities(conversation)
        card = shown[-1] if shown else {}
        button = next((a for a in self.actions(card) if (a.get("data") or {}).get("msteams") == {"type": "task/fetch"}),
                      None)
        if button is None:
            raise StepSkipped(f"“{text}” did not answer with a button opening {form} form")
        self.dialog(person, card, str(button.get("title")), values, did)

    def form_by_button(self, person: Person, message: Any, button: str, form: str, values: dict[str, Any],
                       did: str) -> None:
        self.dialog(person, message, self.title(message, button), values, did)

    def latest(self, place: str, button: str) -> dict[str, Any]:
        conversation = self.conversation(place)
        for activity in reversed(self.stage.double.activities(conversation)):
            if self.button(activity, self.title(activity, button)) is not None:
                return activity
        where = self.t.places.get(conversation) or f"{self.t.chats().get(conversation, 'a')}'s chat"
        raise StepSkipped(f"no card with the “{TITLES.get(button, button)}” button in {where}")

    def title(self, activity: dict[str, Any], button: str) -> str:
        """The title of the story's `button` on this card (the check-in's "Stuck…" in full)."""
        wanted = TITLES.get(button, button)
        return next((str(a["title"]) for a in self.actions(activity) if str(a.get("title", "")).startswith(wanted)),
                    wanted)

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

    def click(self, person: Person, message: Any, button: str, did: str) -> None:
        """An Action.Execute click (the card the bot answers replaces the clicked one for the clicker), or a
        messageBack one (Teams sends the button's words as a message, as if typed)."""
        title = self.title(message, button)
        found = self.button(message, title)
        if found is None:
            raise StepSkipped(f"the “{title}” button was not there for {person.name}")
        back = ((found.get("data") or {}).get("msteams") or {})
        with self.act(person, did) as seen:
            user = self.stage.user(person)
            if back.get("type") == "messageBack":
                cid = str(message.get("conversationId") or "")
                team = cid.split(";", 1)[0]
                activity = user.in_channel("message", team) if team in self.t.places else user.personal("message")
                activity.update({"text": back.get("text"), "value": found.get("data"), "textFormat": "plain"})
                reply = user.send(activity)
                if reply.status != 200:
                    raise StepSkipped(f"the bot answered HTTP {reply.status} to “{title}”")
                self.stage.answered(activity)
                return
            reply = user.click(message, title)
            body = reply.json or {}
            if reply.status != 200:
                raise StepSkipped(f"the bot answered HTTP {reply.status} to “{title}”")
            if body.get("type") == ADAPTIVE:
                seen.append(f"   → {person.name}'s card now shows: “{card_line(body['value'])}”")
            elif body.get("value"):
                seen.append(f"   → {person.name} saw: “{_clean(str(body['value']))}”")

    @staticmethod
    def value(value: Any) -> Any:
        """The story's value as a dialog submits it: people as Teams ids, several as one comma-joined
        string, a ticked toggle as "true"."""
        if isinstance(value, Person):
            return teams_id(value)
        if isinstance(value, list):
            return ",".join(teams_id(v) if isinstance(v, Person) else str(v) for v in value)
        if value is True:
            return "true"
        return value

    def dialog(self, person: Person, activity: dict[str, Any], title: str, values: dict[str, Any],
               did: str) -> None:
        """Open a dialog from a card's button (task/fetch), fill it in and send it (task/submit); what the
        dialog shows already (a prefilled value, a school to choose) is sent as shown."""
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
        shown: dict[str, Any] = {}

        def inputs(node: Any) -> None:
            if isinstance(node, dict):
                if str(node.get("type") or "").startswith("Input.") and node.get("id"):
                    choices = node.get("choices") or []
                    default = node.get("value")
                    if default is None and node.get("isRequired") and choices:
                        default = choices[0].get("value")
                    shown[node["id"]] = default
                for value in node.values():
                    inputs(value)
            elif isinstance(node, list):
                for value in node:
                    inputs(value)

        inputs(content)
        missing = [k for k in values if k not in shown]
        if missing:
            raise StepSkipped(f"the dialog “{form.get('title')}” no longer asks for {', '.join(missing)}")
        send = next((a for a in self.actions({"attachments": [{"content": content}]})
                     if a.get("type") == "Action.Submit"), None)
        if send is None:
            raise StepSkipped(f"the dialog “{form.get('title')}” has no button to send it")
        self.t.write(f"{self.t.when()} · {person.name} ({person.role}) clicked “{title}”")
        self.t.write(f"   → Teams opened the dialog “{form.get('title')}”: {card_line(content, 200)}")
        filled = {k: v for k, v in shown.items() if v is not None}
        filled.update({k: self.value(v) for k, v in values.items()})
        with self.act(person, did) as seen:
            reply = user.task_submit({**(send.get("data") or {}), **filled}, conversation=cid, team_id=team,
                                     reply_to=activity.get("id"))
            answer = ((reply.json or {}).get("task") or {})
            if answer.get("type") == "continue":
                said = card_line(answer["value"]["card"]["content"])
                if "⚠" in said or "Nothing was saved" in said:
                    raise StepSkipped(f"the dialog said: {said}")
                seen.append(f"   → the dialog now says: “{said}”")
            elif answer.get("value"):
                seen.append(f"   → the dialog says: “{_clean(str(answer['value']))}”")

    def home(self, person: Person) -> dict[str, Any]:
        """`home` typed in the person's chat with plcbot: the dashboard card."""
        user = self.stage.user(person)
        with self.act(person, "typed “home” in the chat with plcbot"):
            before = len(self.stage.double.activities(user.personal_conversation))
            reply = user.say("home")
            if reply.status != 200:
                raise StepSkipped(f"the bot answered HTTP {reply.status} to home")
            self.stage.double.wait_for(
                lambda: len(self.stage.double.activities(user.personal_conversation)) > before or None, timeout=10)
        return self.stage.double.activities(user.personal_conversation)[-1]

    def show_home(self, person: Person, home: Any) -> None:
        self.t.write(f"     {person.name}'s home: {activity_line(home)}")

    def checkin_at_home(self, person: Person) -> Any:
        return self.checkin(person)  # the dashboard card counts what waits; the answer is on the check-in

    def action_item(self, person: Person) -> Any:
        return self.latest(self.dm(person), "action_done")

    def digest_workbook(self) -> tuple[str, bytes]:
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
        return str(offer["name"]), content

    def each_person(self) -> None:
        """Each person's chat with plcbot and each team's channel, as Teams shows them now."""
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


TeamsDemo = TeamsFront  # the name older callers know


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
    front = TeamsFront(out=out, workdir=folder, db_path=db_path, start_day=start_day, files=files)
    return Story(front).run(replaced=replaced)
