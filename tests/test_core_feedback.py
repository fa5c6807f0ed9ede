"""Feedback, the digest on demand and privacy as plain core actions: no Slack payload, no Slack
client, no Block Kit. The ledger sends through an in-memory transport."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import select

from bot.render import feedback as slack_feedback
from bot.services import Services, build_services
from bot.settings import from_env
from handlers.core import ActionResult
from handlers.core import digest as core_digest
from handlers.core import feedback as core_feedback
from handlers.core import privacy as core_privacy
from scheduling.clock import FakeClock
from scheduling.transport import Rendered, Sent, Transports
from storage import migrate
from storage.db import Database
from storage.feedback import link_key
from storage.models import Meeting, Membership, Person, School, SchoolLeader, Team
from storage.models.feedback import Feedback
from storage.people import load_actor
from storage.rules.feedback import Answer
from storage.rules.roles import Actor, Forbidden
from storage.rules.visibility import Viewer
from storage.views.digest_actions import DigestPart
from storage.views.feedback_actions import day_label, meeting_label

# Tuesday Dec 1 2026, 3:30 PM in New York.
MEETING_AT = datetime(2026, 12, 1, 20, 30, tzinfo=UTC)
KEY = link_key("a secret for the tests")


@dataclass
class MemoryTransport:
    """Just enough of a chat platform for the ledger: messages and files by conversation."""

    platform: str = "memory"
    chats: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # conversation -> (key, text)
    files: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)
    ids: Any = field(default_factory=lambda: itertools.count(1))

    def conversation(self, recipient: str, known: str | None = None) -> str:
        return known or f"dm-{recipient}"

    def render(self, view: object) -> Rendered:
        """The one view this front is sent here: a digest part, as one plain line."""
        assert isinstance(view, DigestPart), view
        return Rendered(plain_message(view)[0])

    def send(self, recipient: str, message: Rendered, *, key: str, conversation: str | None = None,
             thread: str | None = None, data: Mapping[str, Any] | None = None) -> Sent:
        chat = self.conversation(recipient, conversation)
        self.chats.setdefault(chat, []).append((key, message.text))
        return Sent(chat, f"m{next(self.ids)}")

    def update(self, conversation: str, message_id: str, message: Rendered) -> None:
        raise AssertionError("nothing here updates a message")

    def find(self, recipient: str, key: str, *, conversation: str | None = None) -> Sent | None:
        chat = self.conversation(recipient, conversation)
        return next((Sent(chat, "m") for k, _ in self.chats.get(chat, []) if k == key), None)

    def upload(self, recipient: str, content: bytes, *, filename: str, title: str, comment: str,
               conversation: str | None = None, key: str | None = None) -> Sent:
        chat = self.conversation(recipient, conversation)
        self.files.setdefault(chat, []).append((filename, content))
        return Sent(chat, f"f{next(self.ids)}")

    def find_file(self, recipient: str, filename: str, *, conversation: str | None = None) -> Sent | None:
        chat = self.conversation(recipient, conversation)
        return next((Sent(chat, "f") for name, _ in self.files.get(chat, []) if name == filename), None)


class NoSlack:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Slack was used: {name}")


@dataclass
class World:
    services: Services
    transport: MemoryTransport
    school_id: int
    math: int  # team ids
    science: int
    meeting_id: int

    def actor(self, user_id: str) -> Actor:
        with self.services.db.read() as session:
            return load_actor(session, user_id, admins=())


@pytest.fixture
def world(any_db_url: str) -> Iterator[World]:
    db = Database(any_db_url)
    migrate.upgrade(db)
    services = build_services(from_env({"DATABASE_URL": any_db_url, "SLACK_API_URL": "http://127.0.0.1:9/api/"}),
                              db=db, clock=FakeClock(MEETING_AT + timedelta(minutes=50)))
    transport = MemoryTransport()
    services.slack = services.slack_send = NoSlack()  # type: ignore[assignment]
    services.transports = Transports({"memory": transport}, default="memory")
    with db.session() as session:
        school = School(name="Lincoln Elementary", timezone="America/New_York")
        session.add(school)
        session.flush()
        assert school.id is not None
        teams = {}
        for name, channel in (("Grade 3 Math", "CMATH"), ("Grade 3 Science", "CSCI")):
            team = Team(school_id=school.id, name=name, channel_id=channel, timezone="America/New_York",
                        meeting_weekdays="", meeting_time="15:30", meeting_minutes=45)
            session.add(team)
            session.flush()
            teams[name] = team.id
        people = {}
        for uid in ("UFAC", "UT1", "UT2", "USCI", "UPRIN"):
            person = Person(handle=uid, name=f"Teacher {uid}", tz="America/New_York")
            session.add(person)
            session.flush()
            people[uid] = person.id
        math, science = teams["Grade 3 Math"], teams["Grade 3 Science"]
        session.add(Membership(team_id=math, person_id=people["UFAC"], role="facilitator"))
        session.add(Membership(team_id=math, person_id=people["UT1"], role="member"))
        session.add(Membership(team_id=math, person_id=people["UT2"], role="member"))
        session.add(Membership(team_id=science, person_id=people["USCI"], role="facilitator"))
        session.add(Membership(team_id=science, person_id=people["UT2"], role="member"))
        session.add(SchoolLeader(school_id=school.id, person_id=people["UPRIN"]))
        meeting = Meeting(team_id=math, starts_at=MEETING_AT, source="one_off")
        session.add(meeting)
        session.flush()
        assert meeting.id is not None and math is not None and science is not None
        ids = (school.id, math, science, meeting.id)
    yield World(services, transport, *ids)
    db.engine.dispose()


def answer(useful: int, *, anonymous: bool, will_try: str = "") -> Answer:
    return Answer({"useful": useful, "learned": 4, "norms": 3},
                  {"will_try": will_try, "evidence": "", "next_focus": ""}, anonymous)


def submit(world: World, user_id: str, given: Answer) -> ActionResult:
    """What a front does on a submitted form: check and write in one transaction."""
    actor = world.actor(user_id)
    with world.services.db.session() as session:
        checked = core_feedback.check_feedback(session, actor=actor, meeting_id=world.meeting_id, answer=given,
                                               key=KEY, now=world.services.clock.now())
        return core_feedback.write_feedback(session, checked)


def stored(world: World) -> list[Feedback]:
    with world.services.db.read() as session:
        return list(session.exec(select(Feedback).where(Feedback.meeting_id == world.meeting_id)).all())


def test_an_anonymous_answer_given_twice_in_the_window_is_one_answer_changed_and_carries_no_person(world):
    first = submit(world, "UT1", answer(2, anonymous=True, will_try="exit tickets"))
    assert "anonymously" in first.reply and "UT1" not in " ".join((first.reply, *first.changed))
    world.services.clock.set(MEETING_AT + timedelta(hours=3))  # type: ignore[attr-defined]
    submit(world, "UT1", answer(5, anonymous=True, will_try="number talks"))
    rows = stored(world)
    assert len(rows) == 1
    assert (rows[0].useful, rows[0].will_try, rows[0].anonymous, rows[0].person_id) == (5, "number talks", True,
                                                                                        None)
    assert rows[0].link  # the author finds it again while the window is open …
    with world.services.db.read() as session:
        form = core_feedback.feedback_form(session, actor=world.actor("UT1"), key=KEY,
                                           now=world.services.clock.now(), team_id=world.math)
    assert form.previous is not None and form.previous["useful"] == 5 and form.previous["anonymous"] is True
    assert form.meeting_id == world.meeting_id
    # … and someone else's form is empty.
    with world.services.db.read() as session:
        other = core_feedback.feedback_form(session, actor=world.actor("UT2"), key=KEY,
                                            now=world.services.clock.now(), meeting_id=world.meeting_id)
    assert other.previous is None


def test_a_closed_window_or_another_team_refuses_and_stores_nothing(world):
    from handlers.errors import UserError

    with pytest.raises(UserError, match="Only members of this team"):
        submit(world, "USCI", answer(3, anonymous=False))
    world.services.clock.set(MEETING_AT + timedelta(days=30))  # type: ignore[attr-defined]
    with pytest.raises(UserError, match=r"closed on .*Your answer was not saved\.$"):
        submit(world, "UT1", answer(3, anonymous=True))
    assert stored(world) == []


def test_a_member_asking_for_results_is_refused_before_anything_is_read(world):
    submit(world, "UT1", answer(4, anonymous=True, will_try="exit tickets"))
    statements: list[str] = []

    def record(conn, cursor, statement, *args):  # noqa: ANN001, ANN202
        statements.append(statement.lower())

    engine = world.services.db.engine
    actor = world.actor("UT2")
    with world.services.db.read() as session:
        team = session.get(Team, world.math)
        assert team is not None
        event.listen(engine, "before_cursor_execute", record)
        try:
            with pytest.raises(Forbidden, match="facilitators"):
                core_feedback.feedback_results(session, actor=actor, team=team, day="",
                                               now=world.services.clock.now(), min_group_size=3)
        finally:
            event.remove(engine, "before_cursor_execute", record)
    assert not [s for s in statements if "feedback" in s or "meeting" in s]


def test_a_facilitator_gets_figures_and_no_name_beside_an_anonymous_answer(world):
    submit(world, "UT1", answer(4, anonymous=True, will_try="exit tickets"))
    submit(world, "UT2", answer(2, anonymous=False, will_try="number talks"))
    submit(world, "UFAC", answer(3, anonymous=False))
    with world.services.db.read() as session:
        team = session.get(Team, world.math)
        assert team is not None
        shown = core_feedback.feedback_results(session, actor=world.actor("UFAC"), team=team, day="",
                                               now=world.services.clock.now(), min_group_size=3)
    summary = shown.summary
    assert (summary.count, summary.anonymous) == (3, 1)
    assert summary.questions[0].key == "useful" and summary.questions[0].average == 3.0
    names = {c.text: c.name for c in summary.comments}
    assert names == {"exit tickets": None, "number talks": "UT2"}
    assert shown.meeting == "Tue Dec 1, 3:30 PM"


def test_the_labels_read_in_the_teams_own_time_zone():
    from datetime import UTC, datetime

    at = datetime(2026, 12, 1, 20, 30, tzinfo=UTC)
    assert meeting_label("PLC", at, "America/New_York") == "PLC (Tue Dec 1, 3:30 PM)"
    assert meeting_label("", at, "America/New_York") == "Tue Dec 1, 3:30 PM"
    assert day_label(at, "Europe/Berlin") == "Tue Dec 1, 9:30 PM"
    assert slack_feedback.meeting_label is meeting_label  # one copy, which Slack's renderer uses


def plain_message(part: DigestPart) -> tuple[str, list[dict[str, Any]]]:
    names = ", ".join(t.team.name for t in part.teams)
    return f"{part.school} {part.week.label}{part.scope_note}: {names}", []


def test_a_facilitators_digest_on_demand_covers_only_their_team(world):
    done = core_digest.digest_now(world.services, actor=world.actor("UFAC"), team_id=None, week_text="",
                                  request_id="req-1")
    assert [o.state for o in done.outcomes] == ["sent"]
    part = done.outcomes[0].part
    assert part.team_part and [t.team.team_id for t in part.teams] == [world.math]
    assert done.result.reply.startswith("Sent to your direct messages: Lincoln Elementary, week 2026-W49 so far")
    (sent,) = world.transport.chats["dm-UFAC"]
    assert "Grade 3 Math" in sent[1] and "Science" not in sent[1] and "(your team's part)" in sent[1]
    assert len(world.transport.files["dm-UFAC"]) == 1
    # The same request again (a retry) sends nothing more.
    core_digest.digest_now(world.services, actor=world.actor("UFAC"), team_id=None, week_text="",
                           request_id="req-1")
    assert len(world.transport.chats["dm-UFAC"]) == 1 and len(world.transport.files["dm-UFAC"]) == 1
    # A principal gets the whole school; a member is refused with who can.
    whole = core_digest.digest_now(world.services, actor=world.actor("UPRIN"), team_id=None, week_text="last",
                                   request_id="req-2")
    assert {t.team.team_id for t in whole.outcomes[0].part.teams} == {world.math, world.science}
    assert not whole.outcomes[0].part.team_part and whole.outcomes[0].part.week.label == "2026-W48"
    with pytest.raises(Forbidden, match="facilitators"):
        core_digest.digest_now(world.services, actor=world.actor("UT1"), team_id=world.math, week_text="",
                               request_id="req-3")
    assert "dm-UT1" not in world.transport.chats


def test_the_privacy_page_lists_the_callers_teams_and_roles(world):
    with world.services.db.read() as session:
        page = core_privacy.privacy_page(session, actor=world.actor("UT2"), retention_years=3, forget_days=365,
                                         min_group_size=2)
        fac = core_privacy.privacy_page(session, actor=world.actor("UFAC"), retention_years=3, forget_days=365,
                                        min_group_size=5)
        nobody = core_privacy.privacy_page(session, actor=Actor("UNKNOWN"), retention_years=3, forget_days=365,
                                           min_group_size=3)
    assert page.known and [(t.name, t.role) for t in page.teams] == [("Grade 3 Math", "member"),
                                                                     ("Grade 3 Science", "member")]
    assert page.counts["memberships"] == 2 and page.min_group == 3 and page.viewers == ()
    assert [(t.name, t.role) for t in fac.teams] == [("Grade 3 Math", "facilitator")] and fac.min_group == 5
    assert fac.viewers == (Viewer.FACILITATORS,)
    assert not nobody.known and nobody.teams == ()


def test_the_export_is_sent_once_per_request_with_its_workbook(world):
    from handlers.errors import UserError

    fmt = core_privacy.ExportFormat(message=lambda data: ("Your PLC data", None),
                                    workbook=lambda data, target: target.write(b"xlsx"),
                                    filename=lambda name, stamp: f"{name} {stamp}.xlsx")
    actor = world.actor("UT1")
    with world.services.db.read() as session:
        core_privacy.check_export(session, actor=actor)
        with pytest.raises(UserError, match="stores nothing about you"):
            core_privacy.check_export(session, actor=Actor("UNKNOWN"))
    for _ in range(2):
        sent = core_privacy.send_export(world.services, actor=actor, request_id="r1", fmt=fmt)
        assert sent.state == "sent" and sent.result.reply == ""
    assert [t for _, t in world.transport.chats["dm-UT1"]] == ["Your PLC data"]
    assert world.transport.files["dm-UT1"] == [("Teacher UT1 2026-12-01 1620.xlsx", b"xlsx")]
