"""Issue 24, item 8: a test-only front with Teams' shapes drives the core with no Slack code.

`tests/second_front.py` is the front: people known only by Teams identities (`29:…` ids in a
tenant, 1:1 conversations `a:…` and a service URL), the team's place a `19:…@thread.tacv2`
channel, messages stored and updated by activity id, its own card renderer, buttons whose data
is the core's `Offer`, forms opened as dialogs. Through it, on SQLite and PostgreSQL:
1. the scheduled check-in round (runner + registry, a FakeClock) sends one card per teacher to
   their Teams conversation, and running it again sends nothing more (the ledger);
2. an answer button → `handlers.core.checkins.answer` → the card updated in place by its id;
   two clicks store one answer;
3. the feedback dialog: a bad value is shown back and nothing stored; an anonymous answer is
   stored with no person link;
4. the digest (on demand through `handlers.core.digest`, and the scheduled job) reaches the
   principal's Teams chat through the ledger, its workbook through the transport's upload.
The Slack clients raise (and record) if touched, no ledger row may fall back to Slack, and the
front module imports with Slack, Bolt, `bot.render` and `bot.slack_*` blocked.

One seam does not fit real Teams ids; see `test_real_length_teams_ids_fit_the_columns`.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.settings import from_env
from handlers.core import cycles as cycle_actions
from scheduling import keys, runner
from scheduling import registry as scheduling_registry
from scheduling.clock import FakeClock
from scheduling.transport import Transports
from storage import migrate
from storage.db import Database
from storage.feedback import link_key
from storage.models import (
    Checkin,
    Delivery,
    Meeting,
    Membership,
    Person,
    PersonIdentity,
    School,
    SchoolLeader,
    SupportRequest,
    Team,
    TeamPlace,
)
from storage.models.feedback import Feedback
from storage.rules.cycles import CycleInput
from tests.harness import checkin_of, handles
from tests.second_front import Dialog, FrontServices, Invoke, TeamsFront

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
THURSDAY_2PM = datetime(2026, 12, 3, 19, 0, tzinfo=UTC)  # the check-in: Thursday 14:00 New York
MEETING_AT = datetime(2026, 12, 3, 20, 30, tzinfo=UTC)  # Thursday 15:30 New York, 45 minutes
DIGEST_DUE = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # Monday 07:00 New York: week 2026-W49's digest
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SERVICE_URL = "https://smba.trafficmanager.net/amer/"
FORM = CycleInput(title="Fractions", goal="80% place fractions correctly", strategy="Number-line warm-ups",
                  metric_name="Exit ticket", metric_unit="%", baseline="55", target="80",
                  start_date="2026-11-30", weeks="4", checkin_weekday="3", checkin_time="14:00",
                  reminder_hours="24")


@dataclass(frozen=True)
class Ids:
    """The Teams ids of the people and the team's channel. The default ones are Teams-shaped and
    short; `test_real_length_teams_ids_fit_the_columns` uses real lengths."""

    fac: str = "29:1facilitator-aad"
    t1: str = "29:1teacher-one-aad"
    t2: str = "29:1teacher-two-aad"
    principal: str = "29:1principal-aad"
    channel: str = "19:g3math@thread.tacv2"

    def chat(self, user: str) -> str:
        """The bot's 1:1 conversation with a person (stored on their identity)."""
        return f"a:1{user.removeprefix('29:1')}"


class NoSlack:
    """A Slack client that records and refuses every use."""

    def __init__(self, touched: list[str]) -> None:
        self._touched = touched

    def __getattr__(self, name: str) -> Any:
        self._touched.append(name)
        raise AssertionError(f"Slack was used: {name}")


@dataclass
class World:
    front: TeamsFront
    services: FrontServices
    clock: FakeClock
    ids: Ids
    school_id: int
    team_id: int
    person: dict[str, int]  # Teams id -> person id
    slack_touched: list[str]

    @property
    def transport(self):  # noqa: ANN201
        return self.front.transport

    def tick(self, *modules: str) -> runner.TickResult:
        return runner.tick(self.services, scheduling_registry.load(list(modules)), worker="teams-test:1")

    def handle(self, person_id: int) -> str:
        with self.services.db.read() as session:
            return handles(session)[person_id]

    def rows(self, model: Any, *where: Any) -> list[Any]:
        with self.services.db.read() as session:
            return list(session.exec(select(model).where(*where)).all())


def build_world(url: str, ids: Ids) -> World:
    clock = FakeClock(START)
    db = Database(url, clock=clock)
    migrate.upgrade(db)
    touched: list[str] = []
    services = FrontServices(settings=from_env({"DATABASE_URL": url}), db=db, clock=clock, transports=None,
                             slack=NoSlack(touched), slack_send=NoSlack(touched))
    front = TeamsFront(services, tenant=TENANT, link_key=link_key("a secret for the tests"))
    # Only Teams is served: a recipient no Teams identity or place holds would go to the default
    # (Slack), which has no transport here, and its ledger row would fail visibly.
    services.transports = Transports({"teams": front.transport}, default="slack", db=db)
    with db.session() as session:
        school = School(name="Lincoln Elementary", timezone="America/New_York")
        session.add(school)
        session.flush()
        assert school.id is not None
        # `team.channel_id` is still the column scheduled work posts to (issue 24, item 1):
        # a Teams team holds its channel's conversation id there, as well as in its TeamPlace.
        team = Team(school_id=school.id, name="Grade 3 Math", channel_id=ids.channel, timezone="America/New_York",
                    meeting_weekdays="", meeting_time="15:30", meeting_minutes=45)
        session.add(team)
        session.flush()
        assert team.id is not None
        session.add(TeamPlace(team_id=team.id, platform="teams", workspace=TENANT, place_id=ids.channel,
                              kind="channel", service_url=SERVICE_URL))
        person = {}
        for uid, name in ((ids.fac, "Ms. Facilitator"), (ids.t1, "Mr. One"), (ids.t2, "Ms. Two"),
                          (ids.principal, "Dr. Principal")):
            # Known on Teams only: no Slack identity. `person.handle` still names people
            # everywhere (issue 24, item 1), so it holds the Teams id.
            row = Person(handle=uid, name=name, tz="America/New_York")
            session.add(row)
            session.flush()
            assert row.id is not None
            person[uid] = row.id
            session.add(PersonIdentity(person_id=row.id, platform="teams", workspace=TENANT, external_id=uid,
                                       conversation_id=ids.chat(uid), service_url=SERVICE_URL))
        session.add(Membership(team_id=team.id, person_id=person[ids.fac], role="facilitator"))
        session.add(Membership(team_id=team.id, person_id=person[ids.t1], role="member"))
        session.add(Membership(team_id=team.id, person_id=person[ids.t2], role="member"))
        session.add(SchoolLeader(school_id=school.id, person_id=person[ids.principal]))
        school_id, team_id = school.id, team.id
    return World(front, services, clock, ids, school_id, team_id, person, touched)


@pytest.fixture
def world(any_db_url: str) -> Iterator[World]:
    w = build_world(any_db_url, Ids())
    yield w
    # No Slack client was touched, and nothing the ledger holds went anywhere but Teams.
    assert w.slack_touched == []
    rows = w.rows(Delivery)
    assert [(r.key, r.state, r.error) for r in rows if r.state != "sent"] == []
    assert all(r.channel_id and r.channel_id.startswith(("a:", "19:")) for r in rows)
    w.services.db.dispose()


def start_cycle_and_run_round(w: World) -> int:
    """A facilitator starts a cycle (the core action, its notice to the team's channel), then
    the scheduler runs Thursday's round. Returns the cycle id."""
    # (type: the core actions annotate `services` as `bot.services.Services`, Slack's assembly,
    # not the `scheduling.services.Services` protocol; at run time this front's own fits.)
    started = cycle_actions.start(w.services, w.front.actor(w.ids.fac),  # type: ignore[arg-type]
                                  team_id=w.team_id, raw=FORM)
    [notice] = w.front.deliver_notices(started)
    assert notice.sent and notice.channel_id == w.ids.channel
    [announced] = w.transport.activities(w.ids.channel)
    assert announced.card["title"] == "A new learning cycle: Fractions" and announced.service_url == SERVICE_URL
    w.clock.set(THURSDAY_2PM)
    result = w.tick("scheduling.checkins")
    assert result.failed == 0 and result.ran >= 1
    [cycle_id] = {c.cycle_id for c in w.rows(Checkin)}
    return cycle_id


# ------------------------------------------------------------------------------ 1. the round
def test_the_scheduled_round_sends_one_card_per_teacher_to_their_teams_chat_and_once_only(world: World) -> None:
    w = world
    cycle_id = start_cycle_and_run_round(w)
    teachers = (w.ids.fac, w.ids.t1, w.ids.t2)
    checkins = {w.handle(c.person_id): c for c in w.rows(Checkin)}
    assert set(checkins) == set(teachers)
    for uid in teachers:
        [activity] = w.transport.activities(w.ids.chat(uid))
        checkin = checkins[uid]
        assert activity.key == keys.checkin(cycle_id, uid, 1) and activity.service_url == SERVICE_URL
        assert activity.data == {"checkin_id": checkin.id}
        assert activity.card["title"] == "Grade 3 Math: Fractions, week 1 of 4"
        assert "80% place fractions correctly" in activity.card["text"]
        # Buttons carry the core's offers as their data; the words are the front's.
        assert [b["data"] for b in activity.card["buttons"]] == [
            {"offer": name, "value": str(checkin.id)}
            for name in ("answer_on_track", "answer_some_progress", "answer_stuck", "details")]
        assert [b["title"] for b in activity.card["buttons"]][:3] == ["On track", "Some progress", "Stuck"]
        # Where the card is, as the check-in row keeps it: enough to update it by id later.
        assert (checkin.status, checkin.channel_id, checkin.ts) == ("sent", w.ids.chat(uid), activity.id)
    ledger = {w.handle(d.person_id): d for d in w.rows(Delivery, Delivery.kind == "checkin")}
    assert {u: (d.channel_id, d.ts) for u, d in ledger.items()} == {
        u: (w.ids.chat(u), checkins[u].ts) for u in teachers}
    sends = w.transport.calls.count("send")
    assert sends == 4  # the cycle's announcement and three cards

    # The scheduler again: the round is done, nothing more is sent.
    w.tick("scheduling.checkins")
    assert w.transport.calls.count("send") == sends

    # The round's job run again after a crash that lost what it had recorded (the check-ins
    # look unsent): the ledger knows each card went out, so nothing is sent twice.
    with w.services.db.session() as session:
        for row in session.exec(select(Checkin)).all():
            row.status, row.channel_id, row.ts = "pending", None, None
            session.add(row)
    [job] = [j for j in _jobs(w, "checkin_round") if j.state == "done"]
    registry = scheduling_registry.load(["scheduling.checkins"])
    registry.kinds["checkin_round"].run(job, w.services)
    assert w.transport.calls.count("send") == sends
    assert all(len(w.transport.activities(w.ids.chat(u))) == 1 for u in teachers)
    assert {(w.handle(c.person_id), c.status, c.ts) for c in w.rows(Checkin)} == {
        (u, "sent", checkins[u].ts) for u in teachers}


def _jobs(w: World, kind: str) -> list[Any]:
    from storage.models import ScheduledJob

    return w.rows(ScheduledJob, ScheduledJob.kind == kind)


# ------------------------------------------------------------------------------ 2. an answer
def test_an_answer_button_updates_the_card_in_place_and_two_clicks_store_one_answer(world: World) -> None:
    w = world
    start_cycle_and_run_round(w)
    chat = w.ids.chat(w.ids.t1)
    [activity] = w.transport.activities(chat)
    pressed = next(b["data"] for b in activity.card["buttons"] if b["data"]["offer"] == "answer_some_progress")
    click = Invoke(user_id=w.ids.t1, tenant=TENANT, conversation=chat, reply_to_id=activity.id, data=pressed)

    assert w.front.on_invoke(click) == "Saved your answer."
    [same] = w.transport.activities(chat)  # updated in place: the same activity, by its id
    assert same is activity and same.id == click.reply_to_id and same.versions == 2
    assert same.card["text"] == "Your answer: Some progress"
    assert [b["data"]["offer"] for b in same.card["buttons"]] == ["change", "details"]

    # The same click again (a double click, or Teams retrying the invoke): one answer.
    assert w.front.on_invoke(click) == "Saved your answer."
    [mine] = w.rows(Checkin, checkin_of(w.ids.t1))
    assert mine.progress == "some_progress" and mine.answered_at is not None
    assert len(w.rows(Checkin)) == 3 and w.rows(SupportRequest) == []
    assert len(w.transport.activities(chat)) == 1 and w.transport.calls.count("send") == 4

    # "Stuck" from the same card's data changes that one answer (and asks for support).
    stuck = {**pressed, "offer": "answer_stuck"}
    w.front.on_invoke(Invoke(w.ids.t1, TENANT, chat, activity.id, stuck))
    [mine] = w.rows(Checkin, checkin_of(w.ids.t1))
    assert mine.progress == "stuck" and len(w.rows(SupportRequest)) == 1
    assert activity.card["text"] == "Your answer: Stuck"

    # Someone else pressing data that names this check-in is refused, and nothing changes.
    refused = w.front.on_invoke(Invoke(w.ids.t2, TENANT, w.ids.chat(w.ids.t2), "forged", pressed))
    assert refused == "That check-in isn't yours, so nothing was changed."
    [mine] = w.rows(Checkin, checkin_of(w.ids.t1))
    assert mine.progress == "stuck" and activity.card["text"] == "Your answer: Stuck"
    # Someone no Teams identity names is not an actor at all.
    assert "don't know you" in w.front.on_invoke(Invoke("29:1stranger", TENANT, "a:1stranger", "x", pressed))
    others = [c for c in w.rows(Checkin) if w.handle(c.person_id) != w.ids.t1]
    assert all(c.progress is None for c in others)


# ------------------------------------------------------------------------------ 3. feedback
def test_the_feedback_dialog_shows_errors_back_and_stores_an_anonymous_answer_without_a_person(
        world: World) -> None:
    w = world
    with w.services.db.session() as session:
        meeting = Meeting(team_id=w.team_id, starts_at=MEETING_AT, source="one_off", title="Data day")
        session.add(meeting)
        session.flush()
        assert meeting.id is not None
        meeting_id = meeting.id
    # The scheduled prompt, through the ledger, to the team's Teams channel.
    w.clock.set(MEETING_AT + timedelta(minutes=50))
    assert w.tick("scheduling.feedback").failed == 0
    [prompt] = w.transport.by_key(keys.feedback_prompt(meeting_id))
    assert prompt.conversation == w.ids.channel and prompt.card["title"] == "How was today's meeting?"
    [give] = [b["data"] for b in prompt.card["buttons"]]
    assert give == {"offer": "give_feedback", "value": str(meeting_id)}

    # The button opens a dialog whose content comes from the core.
    dialog = w.front.open_dialog(w.ids.t1, meeting_id=int(give["value"]))
    assert dialog.title.startswith("Feedback on Data day (Thu Dec 3, 3:30 PM)")
    assert [f["id"] for f in dialog.fields][:3] == ["useful", "learned", "norms"]
    assert all(f["value"] is None for f in dialog.fields) and not dialog.anonymous

    # A bad value: the errors go back onto the dialog, nothing is stored.
    bad = w.front.submit_dialog(w.ids.t1, dialog, {"useful": "9", "learned": "", "norms": "3"}, anonymous=True)
    assert isinstance(bad, Dialog) and bad.closed_with is None
    assert set(bad.errors) == {"useful", "learned"} and bad.fields[0]["value"] == "9"
    assert w.rows(Feedback) == []

    # A good anonymous answer: stored with no person, only the author's keyed link.
    good = {"useful": "4", "learned": "5", "norms": "3", "will_try": "exit tickets", "evidence": "",
            "next_focus": ""}
    done = w.front.submit_dialog(w.ids.t1, dialog, good, anonymous=True)
    assert done.errors == {} and done.closed_with and "anonymously" in done.closed_with
    [row] = w.rows(Feedback)
    assert (row.meeting_id, row.person_id, row.anonymous, row.useful, row.will_try) == (
        meeting_id, None, True, 4, "exit tickets")
    assert row.link and w.ids.t1 not in str(row.link)
    # The author reopens the dialog: their answer, found by the link, not by their person.
    again = w.front.open_dialog(w.ids.t1, meeting_id=meeting_id)
    assert again.anonymous and next(f for f in again.fields if f["id"] == "useful")["value"] == "4"
    # A named answer from another teacher carries their person; nothing else was linked.
    w.front.submit_dialog(w.ids.t2, w.front.open_dialog(w.ids.t2, meeting_id=meeting_id), good, anonymous=False)
    assert sorted((r.person_id or 0, r.anonymous) for r in w.rows(Feedback)) == [
        (0, True), (w.person[w.ids.t2], False)]


# ------------------------------------------------------------------------------ 4. the digest
def test_the_digest_reaches_the_principals_teams_chat_with_its_workbook(world: World) -> None:
    w = world
    start_cycle_and_run_round(w)
    chat = w.ids.chat(w.ids.principal)

    # On demand: "digest" typed in the principal's chat with the bot.
    sent = w.front.on_digest(w.ids.principal, conversation=chat, request_id="1649887699999|0000001")
    assert [o.state for o in sent.outcomes] == ["sent"]
    assert sent.result.reply.startswith("Sent to your direct messages: Lincoln Elementary, week 2026-W49 so far")
    [summary] = w.transport.activities(chat)
    assert summary.key == keys.digest_now(w.school_id, "2026-W49", w.ids.principal, "1649887699999|0000001")
    # The on-demand digest is a view model (`DigestPart`) the principal's transport renders.
    shown = summary.card
    assert shown["title"] == summary.text == "PLC digest, Lincoln Elementary, 2026-W49 so far"
    assert "Grade 3 Math" in shown["text"] and summary.service_url == SERVICE_URL
    [(name, content)] = w.transport.files[chat]
    assert name.startswith("PLC digest - Lincoln Elementary - 2026-W49") and content[:2] == b"PK"
    # The same request again (Teams retrying it): nothing more.
    w.front.on_digest(w.ids.principal, conversation=chat, request_id="1649887699999|0000001")
    assert len(w.transport.activities(chat)) == 1 and len(w.transport.files[chat]) == 1

    # The week goes on: Friday's reminder goes to the conversation each check-in went to (the
    # ledger's recipient is the `a:…` id, which the identity's conversation reference holds) …
    w.clock.set(datetime(2026, 12, 4, 19, 30, tzinfo=UTC))
    assert w.tick("scheduling.checkins").failed == 0
    teacher = w.ids.chat(w.ids.t1)
    assert [a.card["title"] for a in w.transport.activities(teacher)] == [
        "Grade 3 Math: Fractions, week 1 of 4", "Reminder: Grade 3 Math: Fractions, week 1 of 4"]
    # … then Monday: the round's close posts its summary in the team's channel, and last
    # week's digest goes to the principal, rendered by this front's transport.
    w.clock.set(DIGEST_DUE + timedelta(minutes=5))
    result = w.tick("scheduling.checkins", "scheduling.digest")
    assert result.failed == 0 and [j.state for j in _jobs(w, "digest")].count("done") == 1
    [summary_post] = w.transport.by_key(keys.checkin_summary(_jobs(w, "checkin_close")[0].ref_id, 1))
    assert summary_post.conversation == w.ids.channel and summary_post.card["title"].startswith("Week 1")
    [weekly] = w.transport.by_key(keys.digest(w.school_id, "2026-W49", w.ids.principal))
    assert weekly.conversation == chat and weekly.card["title"] == "PLC digest, Lincoln Elementary, 2026-W49"
    assert [n for n, _ in w.transport.files[chat]] == [name, "PLC digest - Lincoln Elementary - 2026-W49.xlsx"]
    files = w.rows(Delivery, Delivery.kind == "digest-file")
    assert {(w.handle(f.person_id), f.state, f.channel_id) for f in files} == {(w.ids.principal, "sent", chat)}
    assert len(files) == 2
    w.tick("scheduling.checkins", "scheduling.digest")  # again: done, nothing more
    assert len(w.transport.activities(chat)) == 2 and w.transport.calls.count("upload") == 2


# ------------------------------------------------------------------------------ no Slack code
BLOCKED = ("slack_sdk", "slack_bolt", "bot.render", "bot.slack_")


def test_the_front_imports_nothing_from_slack_or_its_rendering() -> None:
    source = (ROOT / "tests" / "second_front.py").read_text()
    imported = [n.module or "" for n in ast.parse(source).body if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.parse(source).body if isinstance(n, ast.Import) for a in n.names]
    assert imported and not [m for m in imported if m.startswith(("slack", "bot"))]
    # And in a process where Slack, Bolt, bot.render and bot.slack_* cannot be imported at all,
    # the front, the core actions it calls and the scheduled work it runs all load.
    probe = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.startswith({BLOCKED!r}):
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
import tests.second_front
from scheduling import registry
registry.load(["scheduling.checkins", "scheduling.feedback", "scheduling.digest"])
print(sorted(m for m in sys.modules if m.startswith({BLOCKED!r})))
"""
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# ------------------------------------------------------------------------------ the seam that does not fit
REAL = Ids(
    # Shapes as Teams sends them: user ids of about 90 characters, channel ids of about 50,
    # 1:1 conversation ids of about 90 (Bot Framework reference examples).
    fac="29:1XJKJMvc5GBtc2JwZq0oj8tHZmzrQgFmB25ATiQWA85gQtHieVkKilBZ9XHoq9j7Zaqt7CZ-NJWi7me2kHTL3Bw",
    t1="29:1bT8Gx4kJ2mN5pQ7rS9tU0vW1xY2zA3bC4dE5fG6hH7iJ8kL9mN0oP1qR2sT3uV4wX5yZ6aB7cD8eF9gH0i",
    t2="29:1cU9Hy5lK3nO6qR8sT0uV1wX2yZ3aB4cD5eF6gH7iJ8kL9mN0oP1qR2sT3uV4wX5yZ6aB7cD8eF9gH0iJ1k",
    principal="29:1dV0Iz6mL4oP7rS9tU1vW2xY3zA4bC5dE6fG7hH8iJ9kL0mN1oP2qR3sT4uV5wX6yZ7aB8cD9eF0gH1iJ2kL",
    channel="19:96391bb270744e218c04dc8f571d3d8b@thread.tacv2",
)


def test_real_length_teams_ids_fit_the_columns(pg_url: str) -> None:
    """Teams' real ids (~90 characters for a user or a 1:1 chat, ~50 for a channel) fit every column
    that holds a platform id (migration 0010); PostgreSQL checks lengths, SQLite does not."""
    w = build_world(pg_url, REAL)
    try:
        start_cycle_and_run_round(w)
        assert {d.state for d in w.rows(Delivery)} == {"sent"}
    finally:
        w.services.db.dispose()
