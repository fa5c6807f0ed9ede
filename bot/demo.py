"""`plcbot demo`: the real bot, a pretend school, four weeks in under a minute, no Slack needed.

What runs is what `plcbot run` runs: the same `Runtime` (Bolt app, every feature's handlers,
the scheduler's registry, storage, the delivery ledger), served over HTTP on 127.0.0.1 by a
threaded WSGI server. What is pretend: Slack (the `SlackDouble` from this package, started in
this process), the people (simulated with `SlackUser`, which sends the same signed requests
Slack sends), and time (a `FakeClock` moved forward, with one scheduler tick after each move
instead of waiting). The database is a fresh SQLite file. No token, no `.env`, no network.

The story is `bot.demo_story.Story`, the same on Teams (`plcbot demo --teams`); this module is its
Slack front (`SlackFront`): how a person types `/plc …`, clicks a Block Kit button, fills in a
modal, opens the Home tab, and how the transcript reads what the Slack double recorded: who typed
or clicked what, then what the bot posted, sent or opened, in the words of the messages themselves.

Run again into the same folder (`--out DIR`), it replaces the files its earlier run wrote there,
listed in `plcbot-demo-files.txt`, and refuses to write over any other file.
"""

from __future__ import annotations

import csv
import html
import json
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Self, TextIO

from bot.demo_story import (  # noqa: F401 - the story's people and calendar, as the tests and CLI know them
    ADAMS,
    ADMIN,
    BROOKS,
    CHEN,
    EVERYONE,
    GRADE3,
    GRADE4,
    KIM,
    LOPEZ,
    MAX_STEP,
    NEWCOMER,
    NGUYEN,
    PATEL,
    PRINCIPAL,
    RIVERA,
    SCHOOL,
    SCHOOL_WEEKS,
    TZ,
    WRIGHT,
    ZONE,
    Calendar,
    DemoFiles,
    DemoFolderError,
    DemoResult,
    Front,
    Person,
    StepSkipped,
    Story,
    TeamPlan,
    closing,
    demo_calendar,
    first_monday_after,
    first_morning,
    season_break,
    short_day,
    winter_break,
)
from bot.demo_story import Transcript as StoryTranscript
from bot.slack_double import SlackDouble
from bot.stage import Stage
from scheduling.clock import FakeClock

DB_NAME = "plcbot-demo.db"
ROSTER_NAME = "grade4-roster.csv"
MANIFEST = "plcbot-demo-files.txt"
G3_CHANNEL, G3_NAME = "CG3MATH", "grade-3-math"
G4_CHANNEL, G4_NAME = "CG4ELA", "grade-4-ela"
PLACES = {"g3": G3_CHANNEL, "g4": G4_CHANNEL}



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



def today() -> date:
    """The real date (UTC), which the demo's calendar starts after."""
    return datetime.now(UTC).date()



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


class Transcript(StoryTranscript):
    """Lines of "who did what → what the bot did", from the Slack double's records."""

    def __init__(self, double: SlackDouble, out: TextIO | None, clock: FakeClock) -> None:
        super().__init__(out, clock)
        self.double = double
        self.names = {p.user_id: p.name for p in EVERYONE}
        self.names["UPLCBOT"] = "plcbot"
        self.channels = {G3_CHANNEL: "#" + G3_NAME, G4_CHANNEL: "#" + G4_NAME}
        self.watched = [G3_CHANNEL, G4_CHANNEL] + ["D" + p.user_id[1:] for p in EVERYONE]

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
        found += self.to_many(dms, f"{indent}the bot sent a direct message to")
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
        return self.emit(found, header=header)


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



# ---------------------------------------------------------------------------- the story's Slack front
# The story's forms on Slack: (callback id, {the story's field: the modal's block id}).
SLACK_FORMS = {
    "setup": ("plc_setup", {"name": "team_name", "members": "team_members", "facilitators": "team_facilitators",
                            "days": "team_days", "time": "team_time", "minutes": "team_length",
                            "timezone": "team_tz"}),
    "norms": ("norms_edit", {}),
    "cycle": ("cycle_modal", {}),
    "checkin_details": ("checkin_details", {}),
    "feedback": ("feedback_submit", {}),
    "wrapup": ("meeting_wrapup", {}),
    "reflection": ("cycle_reflection", {}),
}
LABELS = {"checkin_details": "Add details", "feedback_open": "Give feedback",
          "cycle_reflect_open": "Fill in the reflection"}


class SlackFront(Front):
    """The story on Slack: `/plc` typed in a channel or a DM, Block Kit buttons, modals, the Home tab."""

    platform = "Slack"
    roster_import = True  # plcbot roster import reads Slack's directory
    home_title, home_where, action_item_where = "Home tabs", "the Home tab", "in the Home tab"

    t: Transcript
    stage: DemoStage

    def __init__(self, *, out: TextIO | None, workdir: Path, db_path: Path | None = None,
                 start_day: date | None = None, files: DemoFiles | None = None) -> None:
        self.workdir = workdir
        self.files = files or DemoFiles(workdir)
        self.db_path = db_path or workdir / DB_NAME
        self.calendar = demo_calendar(start_day or today())
        self.stage = DemoStage(self.db_path, first_morning(self.calendar))
        self.t = Transcript(self.stage.double, out, self.stage.clock)

    def banner(self) -> str:
        return "plcbot demo: the real bot (handlers, scheduler, storage, delivery) against a pretend Slack"

    def settle(self) -> None:
        self.stage.idle()
        time.sleep(0.02)  # a listener's follow-up work (a DM after the ack) is queued by then
        self.stage.idle()

    def place(self, place: str) -> str:
        return PLACES.get(place, place)

    def place_name(self, place: str) -> str:
        return self.t.where(self.place(place))

    def dm(self, person: Person) -> str:
        return "D" + person.user_id[1:]

    def join(self) -> None:
        d = self.stage.double
        d.add_channel(G3_CHANNEL, name=G3_NAME, members=[RIVERA.user_id, *(p.user_id for p in GRADE3)])
        d.add_channel(G4_CHANNEL, name=G4_NAME, members=[KIM.user_id, *(p.user_id for p in GRADE4)])

    # ------------------------------------------------------------------ hands on Slack
    def command(self, person: Person, text: str, place: str, *, mentions: tuple[Person, ...] = ()) -> None:
        channel = self.place(place)
        if channel == self.dm(person):
            channel = person.user_id  # a slash command in the DM with plcbot
        text = text.format(*(f"<@{p.user_id}|{p.name.split()[-1].lower()}>" for p in mentions))
        where = self.t.where(channel) if not channel.startswith("U") else "a direct message with plcbot"
        shown = as_slack_shows(text, self.t.names, self.t.channels)
        with self.act(person, f"typed `/plc {shown}` in {where}"):
            reply = self.stage.user(person.user_id).command(text, channel=channel)
            if reply.status != 200:
                raise StepSkipped(f"the bot answered HTTP {reply.status}")

    def form_by_command(self, person: Person, text: str, place: str, form: str, values: dict[str, Any],
                        did: str) -> None:
        self.command(person, text, place)
        self.fill(person, form, values, did)

    def form_by_button(self, person: Person, message: Any, button: str, form: str, values: dict[str, Any],
                       did: str) -> None:
        self.click(person, message, button, f"clicked “{LABELS.get(button, button)}”")
        self.fill(person, form, values, did)

    def fill(self, person: Person, form: str, values: dict[str, Any], did: str) -> None:
        callback_id, keys = SLACK_FORMS[form]
        view = self.wait_view(person, callback_id)
        self.submit(person, view, {keys.get(k, k): self.value(v) for k, v in values.items()}, did)

    @staticmethod
    def value(value: Any) -> Any:
        """The story's value as Slack's modal state holds it: people as user ids, a ticked box as ["yes"]."""
        if isinstance(value, Person):
            return value.user_id
        if isinstance(value, list):
            return [v.user_id if isinstance(v, Person) else v for v in value]
        if value is True:
            return ["yes"]
        return value

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

    def latest(self, place: str, button: str) -> dict[str, Any]:
        channel = self.place(place)
        for message in reversed(self.stage.double.messages(channel)):
            if has_action(message, button):
                return message
        what = BUTTONS.get(button, "the button the story needs")
        raise StepSkipped(f"no message with {what} in {self.t.where(channel)}")

    def click(self, person: Person, message: Any, button: str, did: str) -> None:
        channel = message.get("channel") if isinstance(message, dict) else None
        channel = channel if channel in (G3_CHANNEL, G4_CHANNEL) else None
        with self.act(person, did):
            try:
                self.stage.user(person.user_id).click(message, button, channel=channel)
            except LookupError:  # the button is not on that message (any more)
                raise StepSkipped(f"{BUTTONS.get(button, 'the button')} was not there for {person.name}") from None

    def home(self, person: Person) -> dict[str, Any]:
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

    def show_home(self, person: Person, home: Any) -> None:
        words = plain(block_text(home.get("blocks") or []), self.t.names, self.t.channels, limit=600)
        self.t.write(f"     {person.name}'s Home tab: {words}")
        labels = buttons_of(home.get("blocks") or [])
        if labels:
            self.t.write(f"     buttons: {', '.join(dict.fromkeys(labels))}")

    def action_item(self, person: Person) -> Any:
        return self.home(person)

    # ------------------------------------------------------------------ what only Slack's demo does
    def import_roster(self, plan: TeamPlan) -> None:
        """The district admin imports the second team from a roster file (`plcbot roster import`)."""
        from bot.cli.roster import fetch_directory
        from storage import roster as roster_store
        from storage.rules.roster import HEADERS, canonical, plan_import, summary

        path = self.workdir / ROSTER_NAME
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(HEADERS)
            for p, role in [(plan.facilitator, "facilitator"), *((p, "member") for p in plan.members)]:
                email = f"{p.user_id[1:].lower()}@maplegrove.example"
                writer.writerow([SCHOOL, plan.name, "#" + G4_NAME, email, "", role, plan.days, plan.at, "45", TZ])
        self.files.claim(ROSTER_NAME)
        self.t.write(f"{self.t.when()} · {ADMIN.name} ({ADMIN.role}) ran `plcbot roster import {path.name} --apply`")
        services = self.stage.services
        roster = roster_store.read_roster(path)
        directory = fetch_directory(services.slack, channels=True)
        with services.db.session() as session:
            existing, school_names, team_names = roster_store.snapshot(session, directory.people)
            found = plan_import(roster.rows, directory, existing, default_timezone=TZ)
            if not found.ok:
                raise StepSkipped("the roster had bad rows: " + "; ".join(str(e) for e in found.errors[:3]))
            roster_store.apply_plan(session, found, directory.people, actor="cli:demo", now=self.stage.clock.now())
        names = {uid: p.name for uid, p in directory.people.items()}
        teams = {**team_names, **{(t.school, canonical(t.name)): t.name for t in found.new_teams}}
        schools = {**school_names, **{k: n for k, (n, _) in found.new_schools.items()}}
        for line in summary(found, names=names, teams=teams, schools=schools, limit=6):
            self.t.write(f"   → {as_slack_shows(line, self.t.names, self.t.channels)}")

    def digest_workbook(self) -> tuple[str, bytes]:
        home = self.stage.double.home_view(PRINCIPAL.user_id) or self.home(PRINCIPAL)
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
        return str(chosen["filename"]), bytes(chosen["content"])

    def each_person(self) -> None:
        for channel in (G3_CHANNEL, G4_CHANNEL):
            posts = [m for m in self.t.peek(channel)
                     if m.get("bot_id") or m.get("user") == self.stage.double.bot_user_id]
            self.t.write(f"{self.t.where(channel)}: {len(posts)} posts from the bot")
        for person in EVERYONE:
            seen = [m for m in self.t.peek(self.dm(person))
                    if m.get("bot_id") or m.get("user") == self.stage.double.bot_user_id]
            if not seen:
                self.t.write(f"{person.name} ({person.role}): no direct message from the bot")
                continue
            kinds: dict[str, int] = {}
            for message in seen:
                first = self.t.text(message.get("text") or block_text(message.get("blocks") or []))
                first = re.sub(r"(Reminder: your )?[Ww]eek \d+ check-in.*", "check-in", first.split(" / ")[0])
                first = re.sub(r"^(PLC digest|The detail) for .*", r"\1", first)[:60]
                kinds[first] = kinds.get(first, 0) + 1
            what = "; ".join(f"{n}× {k}" if n > 1 else k for k, n in kinds.items())
            self.t.write(f"{person.name} ({person.role}): {len(seen)} direct messages from the bot: {what}")


Demo = SlackFront  # the name the tests and older callers know




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
    front = SlackFront(out=out, workdir=folder, db_path=db_path, start_day=start_day, files=files)
    return Story(front).run(replaced=replaced)


def as_json(result: DemoResult) -> str:
    return json.dumps({"workbook": str(result.workbook) if result.workbook else None,
                       "database": str(result.database), "skipped": result.skipped,
                       "seconds": round(result.seconds, 1)})
