"""Teams invokes (`bot.teams.invokes.handle`): card clicks, dialogs and file consent, against a real
SQLite database, with activities built by the Teams double's `TeamsUser` exactly as Teams sends
them. Every card answered is validated against Microsoft's Adaptive Card 1.5 schema."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema.exceptions import best_match
from sqlmodel import select

from bot.services import Services, build_services
from bot.settings import from_env
from bot.teams import cards, dialogs, invokes
from bot.teams import setup as team_setup
from bot.teams.card_kit import ADAPTIVE
from bot.teams.pacing import Pacer
from bot.teams_double import TeamsDouble
from bot.teams_double.user import INVOKE_DEADLINE, TeamsUser
from scheduling import keys
from scheduling.clock import FakeClock
from storage import actions as action_store
from storage import checkins as checkin_store
from storage import cycles as cycle_store
from storage import migrate
from storage.db import Database
from storage.models import (
    ActionItem,
    AgendaItem,
    Checkin,
    Cycle,
    CycleReflection,
    Delivery,
    Meeting,
    Membership,
    Person,
    PersonIdentity,
    School,
    SchoolLeader,
    SupportRequest,
    Team,
)
from storage.models.feedback import Feedback
from storage.models.identities import TEAMS
from storage.people import slack_id
from storage.rules.cycles import CycleValues
from tests.harness import addressed, checkin_of, handles
from tests.test_teams_cards import VALIDATOR

NOW = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)  # Thursday Dec 3, 3 PM in New York: week 1's check-in day
MEETING_AT = NOW - timedelta(minutes=40)
PEOPLE = ("UT1", "UT2", "UFAC", "UPRIN")


class Capture(TeamsUser):
    """The double's person, whose clicks are returned as the activity instead of being POSTed."""

    def send(self, activity: dict, **send: Any) -> Any:  # type: ignore[override]
        return activity


@dataclass
class World:
    services: Services
    double: TeamsDouble
    users: dict[str, Capture]
    school_id: int
    team_id: int
    cycle_id: int
    meeting_id: int
    checkins: dict[str, int]

    def stranger(self) -> Capture:
        self.double.add_user("Sam Stranger", user_id="29:stranger")
        return Capture(self.double, "29:stranger", bot_url="http://127.0.0.1:9/api/messages")


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    double = TeamsDouble(enforce_limits=False).start()
    db = Database(db_url)
    migrate.upgrade(db)
    services = build_services(from_env({"DATABASE_URL": db_url, "SLACK_API_URL": "http://127.0.0.1:9/api/",
                                        "PLCBOT_SECRET_KEY": "a secret for the invoke tests"}),
                              db=db, clock=FakeClock(NOW))
    users: dict[str, Capture] = {}
    with db.session() as session:
        school = School(name="Lincoln Elementary", timezone="America/New_York")
        session.add(school)
        session.flush()
        assert school.id is not None
        team = Team(school_id=school.id, name="Grade 3 Math", channel_id="CMATH", timezone="America/New_York",
                    meeting_weekdays="", meeting_time="15:30", meeting_minutes=45)
        session.add(team)
        session.flush()
        assert team.id is not None
        people: dict[str, Person] = {}
        for uid in PEOPLE:
            person = Person(handle=uid, name=f"Teacher {uid}", tz="America/New_York", created_at=NOW)
            session.add(person)
            session.flush()
            assert person.id is not None
            people[uid] = person
            member = double.add_user(f"Teacher {uid}", user_id=f"29:{uid.lower()}")
            session.add(PersonIdentity(person_id=person.id, platform=TEAMS, workspace=double.tenant_id,
                                       external_id=member["id"], created_at=NOW))
            users[uid] = Capture(double, member["id"], bot_url="http://127.0.0.1:9/api/messages")
        for uid, role in (("UT1", "member"), ("UT2", "member"), ("UFAC", "facilitator")):
            session.add(Membership(team_id=team.id, person_id=people[uid].id or 0, role=role))
        session.add(SchoolLeader(school_id=school.id, person_id=people["UPRIN"].id or 0))
        meeting = Meeting(team_id=team.id, starts_at=MEETING_AT, source="one_off")
        session.add(meeting)
        session.flush()
        values = CycleValues("Fractions", "Students place fractions", "Number-line warm-ups", "Exit ticket", "%",
                             55.0, 80.0, date(2026, 11, 30), 4, 3, "14:00", 24)
        cycle = cycle_store.start_cycle(session, team_id=team.id, values=values, created_by="UFAC", now=NOW)
        round_ = checkin_store.open_round(session, cycle=cycle, week=1, local_day=date(2026, 12, 3), now=NOW,
                                          closes_at=NOW + timedelta(days=3))
        rows = checkin_store.ensure_checkins(session, round_=round_, asked=[people["UT1"], people["UT2"]],
                                             away=[], now=NOW)
        ids = (school.id, team.id, cycle.id or 0, meeting.id or 0)
        owners = handles(session)
        checkins = {owners[row.person_id]: row.id or 0 for row in rows}
    yield World(services, double, users, *ids, checkins)
    db.engine.dispose()
    double.stop()


# ------------------------------------------------------------------------------ helpers
def cards_in(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Adaptive Card in an answer: the card, the dialog, the messages to send or update."""
    found = []
    body = answer.get("body") or {}
    if body.get("type") == ADAPTIVE:
        found.append(body["value"])
    task = body.get("task") or {}
    if task.get("type") == "continue":
        found.append(task["value"]["card"]["content"])
    for activity in [*answer.get("send", ()), *(u["activity"] for u in answer.get("update", ()))]:
        found += [a["content"] for a in activity.get("attachments", []) if a.get("contentType") == ADAPTIVE]
    return found


def valid(answer: dict[str, Any]) -> dict[str, Any]:
    for content in cards_in(answer):
        error = best_match(VALIDATOR.iter_errors(content))
        assert error is None, f"{error.message} at {list(error.absolute_path)}"
        assert len(json.dumps(content).encode()) < 28_000
    json.dumps({k: v for k, v in answer.items() if k != "notices"})  # JSON-ready, every part
    return answer


def handle(world: World, activity: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    answer = invokes.handle(world.services, activity)
    assert time.monotonic() - started < INVOKE_DEADLINE  # Teams retries an invoke unanswered in 5 s
    return valid(answer)


def card_text(answer: dict[str, Any]) -> str:
    return json.dumps(cards_in(answer), ensure_ascii=False)


def message(answer: dict[str, Any]) -> str:
    body = answer["body"]
    if "task" in body:
        assert body["task"]["type"] == "message"
        return str(body["task"]["value"])
    assert body["type"] == invokes.MESSAGE, body
    return str(body["value"])


def checkin(world: World, uid: str) -> Checkin:
    with world.services.db.read() as session:
        row = session.get(Checkin, world.checkins[uid])
        assert row is not None
        return row


def support(world: World) -> list[SupportRequest]:
    with world.services.db.read() as session:
        return list(session.exec(select(SupportRequest)).all())


def answer_click(progress: str, checkin_id: int) -> dict[str, Any]:
    name = f"answer_{progress}"
    return {"action": name, "value": str(checkin_id), "checkin_id": checkin_id}


# ------------------------------------------------------------------------------ Action.Execute
def test_a_click_answers_and_the_card_updates_for_the_clicker(world):
    click = world.users["UT1"].execute("answer_some_progress", answer_click("some_progress", world.checkins["UT1"]))
    answer = handle(world, click)
    assert answer["status"] == 200 and answer["body"]["statusCode"] == 200
    assert "You answered: **Some progress" in card_text(answer)
    assert checkin(world, "UT1").progress == "some_progress"
    change = world.users["UT1"].execute("change", {"action": "change", "value": "1",
                                                   "checkin_id": world.checkins["UT1"]})
    assert "How is the focus strategy going" in card_text(handle(world, change))
    assert checkin(world, "UT1").progress == "some_progress"  # changing shows the question, stores nothing


def test_the_same_click_three_times_at_once_stores_one_answer(world):
    click = world.users["UT1"].execute("answer_stuck", answer_click("stuck", world.checkins["UT1"]))
    answers: list[dict[str, Any]] = []
    barrier = threading.Barrier(3)

    def run() -> None:
        barrier.wait()
        answers.append(invokes.handle(world.services, json.loads(json.dumps(click))))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(answers) == 3
    for answer in answers:
        valid(answer)
        assert "You answered: **Stuck" in card_text(answer)
    with world.services.db.read() as session:
        rows = session.exec(select(Checkin).where(checkin_of("UT1"))).all()
    assert [r.progress for r in rows] == ["stuck"]
    assert len(support(world)) == 1  # one support request, not three


def test_someone_else_or_a_stranger_clicking_is_refused_and_nothing_is_stored(world):
    data = answer_click("on_track", world.checkins["UT1"])
    refused = handle(world, world.users["UT2"].execute("answer_on_track", data))
    assert "isn't yours" in message(refused)
    assert "I don't know you" in message(handle(world, world.stranger().execute("answer_on_track", data)))
    assert checkin(world, "UT1").progress is None


def test_follow_up_and_resolve_are_for_facilitators_and_a_double_click_moves_once(world):
    handle(world, world.users["UT1"].execute("answer_stuck", answer_click("stuck", world.checkins["UT1"])))
    [request] = support(world)
    data = {"action": "follow_up", "value": str(request.id), "request_id": request.id}
    assert "no_entry" not in message(handle(world, world.users["UT2"].execute("follow_up", data)))
    assert support(world)[0].state == "open"  # a member may not move it
    for _ in range(2):
        answer = handle(world, world.users["UFAC"].execute("follow_up", data))
        assert "is following up" in card_text(answer)
    with world.services.db.read() as session:
        follower = slack_id(session, support(world)[0].follower_id)
    assert (support(world)[0].state, follower) == ("following_up", "UFAC")
    resolved = handle(world, world.users["UFAC"].execute("resolve", {**data, "action": "resolve"}))
    assert "Resolved" in card_text(resolved) and support(world)[0].state == "resolved"
    # a late "follow up" click on an older card never moves it backwards
    handle(world, world.users["UFAC"].execute("follow_up", data))
    assert support(world)[0].state == "resolved"


def test_mark_done_by_its_owner_once_and_not_by_another_member(world):
    with world.services.db.session() as session:
        item = action_store.add_action(session, team_id=world.team_id, owner="UT1", text="Bring exit tickets",
                                       due=None, created_by="UFAC", now=NOW)
        action_id = item.id
    data = {"action": "done", "value": str(action_id), "action_id": action_id}
    assert "owner" in message(handle(world, world.users["UT2"].execute("done", data)))
    assert "Done**" in card_text(handle(world, world.users["UT1"].execute("done", data)))
    assert "Done already" in card_text(handle(world, world.users["UT1"].execute("done", data)))
    with world.services.db.read() as session:
        assert session.get(ActionItem, action_id).status == "done"


@pytest.mark.parametrize("data", [
    {"action": "nope", "checkin_id": 1},
    {"action": "answer_on_track"},
    {"action": "answer_on_track", "checkin_id": "1; DROP TABLE checkin"},
    {"action": "answer_on_track", "checkin_id": True},
    {"action": "answer_on_track", "checkin_id": -4},
    {"action": "answer_on_track", "checkin_id": 2**40},
    {"action": ["answer_on_track"], "checkin_id": 1},
    {"action": "x" * 10_000, "checkin_id": 1},
    {"action": "details", "checkin_id": 1},  # a dialog's offer: never an Execute
])
def test_data_no_card_of_ours_sends_is_a_400_and_nothing_is_stored(world, data):
    answer = handle(world, world.users["UT1"].execute("answer_on_track", data))
    assert answer["status"] == 400
    assert answer["body"]["statusCode"] == 400 and answer["body"]["type"] == invokes.ERROR
    assert checkin(world, "UT1").progress is None


def test_unknown_invokes_and_shapes_are_400s_never_tracebacks(world):
    user = world.users["UT1"]
    base = user.personal("invoke")
    for broken in ({**base, "name": "composeExtension/query", "value": {}},
                   {**base, "name": "adaptiveCard/action", "value": None},
                   {**base, "name": "adaptiveCard/action", "value": {"action": "nope"}},
                   {**base, "name": "task/fetch", "value": {"data": []}},
                   {**base, "name": "task/fetch", "value": {"data": {"dialog_id": "agenda_edit", "meeting_id": 1}}},
                   {**base, "name": "task/submit", "value": {"data": {"action": "drop_tables"}}},
                   {**base, "name": "fileConsent/invoke", "value": {"action": "accept", "context": "x"}},
                   {**base, "name": None}):
        assert invokes.handle(world.services, broken)["status"] == 400


# ------------------------------------------------------------------------------ dialogs
def test_details_dialog_a_bad_value_shows_the_error_on_the_form_then_a_good_one_saves(world):
    cid = world.checkins["UT1"]
    opened = handle(world, world.users["UT1"].task_fetch({"dialog_id": "checkin_details", "action": "details",
                                                          "value": str(cid), "checkin_id": cid}))
    assert opened["body"]["task"]["type"] == "continue" and "Check-in details" in card_text(opened)
    form = {"action": cards.DETAILS_SUBMIT, "checkin_id": cid, "progress": "some_progress",
            "value": "twelve", "evidence": "Exit tickets", "support": ""}
    again = handle(world, world.users["UT1"].task_submit(form))
    assert again["body"]["task"]["type"] == "continue"
    assert "Give the data point as a number" in card_text(again) and "Nothing was saved" in card_text(again)
    assert "Exit tickets" in card_text(again)  # what was typed stays on the form
    row = checkin(world, "UT1")
    assert (row.progress, row.value, row.evidence) == (None, None, None)
    saved = handle(world, world.users["UT1"].task_submit({**form, "value": "12.5"}))
    assert "Saved your details" in card_text(saved)
    row = checkin(world, "UT1")
    assert (row.progress, row.value, row.evidence) == ("some_progress", 12.5, "Exit tickets")
    # another teacher may neither open nor submit it
    assert "isn't yours" in message(handle(world, world.users["UT2"].task_fetch(
        {"dialog_id": "checkin_details", "checkin_id": cid})))
    refused = handle(world, world.users["UT2"].task_submit({**form, "value": "99"}))
    assert "isn't yours" in (message(refused) if refused["body"]["task"]["type"] == "message"
                             else card_text(refused))
    assert checkin(world, "UT1").value == 12.5


def test_feedback_dialog_a_missing_rating_then_anonymous_feedback_is_stored_unlinkable(world):
    opened = handle(world, world.users["UT1"].task_fetch({"dialog_id": "meeting_feedback",
                                                          "action": "give_feedback", "meeting_id": world.meeting_id}))
    assert "Submit anonymously" in card_text(opened)
    form = {"action": cards.FEEDBACK_SUBMIT, "meeting_id": world.meeting_id, "useful": "4", "learned": "",
            "norms": "5", "will_try": "number talks", cards.ANONYMOUS_INPUT: "yes"}
    again = handle(world, world.users["UT1"].task_submit(form))
    assert "Please choose a number from 1 to 5" in card_text(again)
    with world.services.db.read() as session:
        assert session.exec(select(Feedback)).all() == []
    saved = handle(world, world.users["UT1"].task_submit({**form, "learned": "3"}))
    assert "anonymously" in card_text(saved)
    handle(world, world.users["UT1"].task_submit({**form, "learned": "2"}))  # sent again: replaces it
    with world.services.db.read() as session:
        rows = session.exec(select(Feedback)).all()
    assert [(r.person_id, r.anonymous, r.learned) for r in rows] == [(None, True, 2)]
    named = handle(world, world.users["UT2"].task_submit({**form, "learned": "3", cards.ANONYMOUS_INPUT: "no"}))
    assert "with your name" in card_text(named)
    outsider = handle(world, world.users["UPRIN"].task_submit({**form, "learned": "3"}))
    assert "Only members" in message(outsider)
    with world.services.db.read() as session:
        assert len(session.exec(select(Feedback)).all()) == 2


def test_reflection_dialog_is_for_facilitators_and_closes_the_cycle(world):
    fetch = {"dialog_id": "cycle_reflection", "action": "reflect", "cycle_id": world.cycle_id}
    assert message(handle(world, world.users["UT1"].task_fetch(fetch)))  # a member: refused
    assert "Did the team reach the target" in card_text(handle(world, world.users["UFAC"].task_fetch(fetch)))
    form = {"action": dialogs.REFLECTION_SUBMIT, "cycle_id": world.cycle_id, "target_reached": "maybe",
            "final_value": "74", "learned": "", "next_steps": ""}
    again = handle(world, world.users["UFAC"].task_submit(form))
    assert "Say whether the team reached" in card_text(again)
    with world.services.db.read() as session:
        assert session.exec(select(CycleReflection)).all() == []
    done = handle(world, world.users["UFAC"].task_submit({**form, "target_reached": "partly",
                                                          "learned": "Warm-ups help"}))
    assert "Saved the reflection" in card_text(done)
    assert [type(n.view).__name__ for n in done["notices"]] == ["ReflectionSaved"]
    with world.services.db.read() as session:
        assert session.get(Cycle, world.cycle_id).status == "ended"


def test_add_an_agenda_item_bad_minutes_then_good_and_a_resent_form_adds_one_item(world):
    fetch = {"dialog_id": "agenda_add_item", "action": "add_item", "meeting_id": world.meeting_id}
    assert "Add an agenda item" in card_text(handle(world, world.users["UT2"].task_fetch(fetch)))
    form = {"action": dialogs.ADD_ITEM_SUBMIT, "meeting_id": world.meeting_id, "title": "Exit ticket data",
            "minutes": "ten", "link": "", "outcome": ""}
    again = handle(world, world.users["UT2"].task_submit(form, reply_to="card-1"))
    assert "whole number" in card_text(again) and "Exit ticket data" in card_text(again)
    again = handle(world, world.users["UT2"].task_submit({**form, "minutes": "500"}, reply_to="card-1"))
    assert "Give between 1 and" in card_text(again)
    again = handle(world, world.users["UT2"].task_submit({**form, "minutes": "10", "link": "javascript:x"},
                                                         reply_to="card-1"))
    assert "web address" in card_text(again)
    with world.services.db.read() as session:
        assert session.exec(select(AgendaItem)).all() == []
    good = world.users["UT2"].task_submit({**form, "minutes": "10"}, reply_to="card-1")
    assert "Added" in card_text(handle(world, good))
    assert "already" in card_text(handle(world, good))  # Teams retried it
    with world.services.db.read() as session:
        assert [(i.title, i.minutes) for i in session.exec(select(AgendaItem)).all()] == [("Exit ticket data", 10)]
    assert "I don't know you" in message(handle(world, world.stranger().task_fetch(fetch)))


# ------------------------------------------------------------------------------ file consent
def _offer_consent(world: World, uid: str, key: str) -> dict[str, Any]:
    """The transport's part, done by hand: a consent card in the person's chat, its context the contract's."""
    d = world.double
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": d.client_id,
                                   "client_secret": d.client_secret,
                                   "scope": "https://api.botframework.com/.default"}).encode()
    with urllib.request.urlopen(urllib.request.Request(d.token_url, data=form), timeout=5) as r:  # noqa: S310
        token = json.loads(r.read())["access_token"]
    context = {"key": key, "school_id": world.school_id, "week": "2026-W49"}
    activity = {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.teams.card.file.consent", "name": "plc-digest.xlsx",
        "content": {"description": "The week's detail", "sizeInBytes": 20_000, "acceptContext": context,
                    "declineContext": context}}]}
    cid = world.users[uid].personal_conversation
    request = urllib.request.Request(f"{d.base}/v3/conversations/{urllib.parse.quote(cid)}/activities",
                                     data=json.dumps(activity).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5):  # noqa: S310
        pass
    with world.services.db.session() as session:
        session.add(Delivery(key=key, kind="digest-file", **addressed(session, uid), state="sending", created_at=NOW,
                             updated_at=NOW))
    return d.file_consents()[-1]


def _row(world: World, key: str) -> Delivery:
    with world.services.db.read() as session:
        row = session.exec(select(Delivery).where(Delivery.key == key)).first()
        assert row is not None
        return row


def test_accepting_the_file_consent_uploads_the_workbook_once_and_marks_the_ledger_row_sent(world):
    key = keys.digest_file(world.school_id, "2026-W49", "UPRIN")
    offer = _offer_consent(world, "UPRIN", key)
    accept = world.users["UPRIN"].file_consent(offer, "accept")
    answer = handle(world, accept)
    assert answer["status"] == 200 and answer["body"] is None
    uploaded = world.double.uploaded(offer["uniqueId"])
    assert uploaded is not None and uploaded[:2] == b"PK"  # an xlsx is a zip
    [file_card] = answer["send"]
    assert file_card["attachments"][0]["contentType"] == invokes.FILE_INFO
    assert file_card["attachments"][0]["content"]["uniqueId"] == offer["uniqueId"]
    assert _row(world, key).state == "sent"
    again = handle(world, accept)  # Teams retried: nothing uploaded twice
    assert "send" not in again and len(world.double.calls_to("upload")) == 1


def test_declining_says_how_to_ask_again_and_another_persons_key_uploads_nothing(world):
    key = keys.digest_file(world.school_id, "2026-W49", "UPRIN")
    offer = _offer_consent(world, "UPRIN", key)
    declined = handle(world, world.users["UPRIN"].file_consent(offer, "decline"))
    assert "digest 2026-W49" in card_text(declined)
    assert declined["update"][0]["activity_id"] == offer["activityId"]
    assert (_row(world, key).state, _row(world, key).error) == ("failed", "declined")
    theirs = keys.digest_file(world.school_id, "2026-W49", "UPRIN") + "x"
    other = _offer_consent(world, "UT1", theirs)
    stolen = handle(world, world.users["UT1"].file_consent(other, "accept"))
    assert stolen == {"status": 200, "body": None}
    assert world.double.uploaded(other["uniqueId"]) is None and world.double.calls_to("upload") == []
    # their own key, but a teacher is not the school's principal: the school-wide workbook is not theirs
    own = _offer_consent(world, "UT1", keys.digest_file_now(world.school_id, "2026-W49", "UT1", "r1"))
    assert handle(world, world.users["UT1"].file_consent(own, "accept")) == {"status": 200, "body": None}
    assert world.double.calls_to("upload") == []


# ------------------------------------------------------------------------------ fuzz
NASTY = ["", " ", "<at>everyone</at>", "**b**", "'; DROP TABLE checkin; --", "\u202eevil", "\x00\x1b[31m",
         "x" * 3001, "y" * 40_001, "1e309", "NaN", "-1", "0", "12", "on_track", "yes", "2026-W49"]
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63), st.floats(allow_nan=True),
                   st.sampled_from(NASTY), st.text(max_size=50))
VALUE = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                         max_size=3), max_leaves=6)
NAMES = [*invokes.ACTIONS, *invokes.DIALOGS, *invokes.SUBMITS, "nope"]
ID_KEYS = ["checkin_id", "request_id", "action_id", "meeting_id", "cycle_id", "school_id"]
FIELDS = ["progress", "value", "evidence", "support", "useful", "learned", "norms", "will_try", "next_focus",
          cards.ANONYMOUS_INPUT, "target_reached", "final_value", "next_steps", "key", "week"]
RANDOM = st.fixed_dictionaries({}, optional={
    "action": st.one_of(st.sampled_from(NAMES), SCALAR),
    "dialog_id": st.one_of(st.sampled_from(NAMES), SCALAR),
    **{k: st.one_of(st.integers(-3, 6), st.sampled_from(["1", "2", "01", " 1", "1.0"]), SCALAR) for k in ID_KEYS},
    **{k: st.one_of(st.sampled_from(NASTY), SCALAR, VALUE) for k in FIELDS},
})
# What our cards send, with some fields replaced by anything: reaches the checks behind the parsing.
TARGETS = [({"action": name}, kind) for name in invokes.ACTIONS for kind in ("execute",)] + \
    [({"dialog_id": name}, "fetch") for name in invokes.DIALOGS] + \
    [({"action": name}, "submit") for name in invokes.SUBMITS] + [({}, "consent")]


@st.composite
def invoke_data(draw: Any) -> tuple[str, dict[str, Any]]:
    if draw(st.integers(0, 4)) == 0:
        return draw(st.sampled_from(["execute", "fetch", "submit", "consent"])), draw(RANDOM)
    base, kind = draw(st.sampled_from(TARGETS))
    ids = {k: draw(st.integers(1, 3)) for k in ID_KEYS}
    typed = {k: draw(st.sampled_from(["", "3", "on_track", "yes", "partly", "12.5", "Warm-ups help"]))
             for k in FIELDS}
    noise = draw(RANDOM)
    for key in list(noise):  # keep what names the target, mostly
        if key in base and draw(st.integers(0, 3)):
            noise.pop(key)
    return kind, {**ids, **typed, "week": "2026-W49", **base, **noise}


FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def snapshot(world: World) -> tuple:
    with world.services.db.read() as session:
        return (
            [(c.progress, c.value, c.evidence, c.support) for c in session.exec(select(Checkin)).all()],
            [(s.state, s.follower_id) for s in session.exec(select(SupportRequest)).all()],
            [(f.useful, f.learned, f.anonymous) for f in session.exec(select(Feedback)).all()],
            [(a.status,) for a in session.exec(select(ActionItem)).all()],
            [(c.status,) for c in session.exec(select(Cycle)).all()],
            len(session.exec(select(CycleReflection)).all()),
            len(session.exec(select(AgendaItem)).all()),
            [(d.state, d.error) for d in session.exec(select(Delivery)).all()],
        )


def refused(answer: dict[str, Any]) -> bool:
    body = answer.get("body") or {}
    task = body.get("task") or {}
    return (answer["status"] != 200 or body.get("type") == invokes.MESSAGE or task.get("type") == "message"
            or "Nothing was saved" in card_text(answer))


@FUZZ
@given(target=invoke_data(), who=st.sampled_from(PEOPLE), junk=VALUE)
def test_fuzz_every_action_and_dialog_no_exception_escapes_and_refusals_store_nothing(world, target, who, junk):
    kind, data = target
    user = world.users[who]
    if kind == "execute":
        activity = user.execute(str(data.get("action"))[:40], data)
    elif kind == "fetch":
        activity = user.task_fetch(data)
    elif kind == "submit":
        activity = user.task_submit(data)
    else:
        activity = user.personal("invoke")
        activity.update({"name": "fileConsent/invoke", "value": {
            "type": "fileUpload", "action": data.get("action", "accept"), "context": data,
            "uploadInfo": junk if isinstance(junk, dict) else {"uploadUrl": "file:///etc/passwd"}}})
    before = snapshot(world)
    answer = handle(world, activity)
    assert answer["status"] in (200, 400)
    event(f"{kind}: {answer['status']} {'refused' if refused(answer) else 'done'}")
    if refused(answer):
        assert snapshot(world) == before
    assert world.double.calls_to("upload") == []


# ------------------------------------------------------------------------------ fuzz: set-up and cycle dialogs
@dataclass
class FormWorld:
    """`world` with the Teams transport (the set-up dialog reads the roster through it): the team set
    up in a Teams channel whose roster is UT1, UT2, UFAC and UPRIN; a second Teams team not set up,
    whose roster holds someone else; a second PLC team ("Science", UT2 facilitates) with no cycle."""

    world: World
    services: Services
    channel: str  # Grade 3 Math's channel
    new_channel: str  # a channel with no PLC team yet
    outsider: str  # on the other team's roster only
    science_id: int


@pytest.fixture
def form_world(world: World) -> Iterator[FormWorld]:
    double = world.double
    services = build_services(from_env({
        "DATABASE_URL": str(world.services.db.engine.url), "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "PLCBOT_SECRET_KEY": "a secret for the invoke tests", "TEAMS_CLIENT_ID": double.client_id,
        "TEAMS_CLIENT_SECRET": double.client_secret, "TEAMS_TENANT_ID": double.tenant_id,
        "TEAMS_OPENID_METADATA_URL": double.openid_metadata_url, "TEAMS_LOGIN_URL": double.login_url}),
        db=world.services.db, clock=world.services.clock)
    # Hundreds of roster reads of one team in a minute: not what this test is about, so unpaced
    # (the pacer counts a roster read against the team conversation's budget).
    services.transports["teams"].pacer = Pacer(conversation_windows=((1.0, 10**6),), app_windows=((1.0, 10**6),))
    team = double.add_team("Grade 3 Math", [u.id for u in world.users.values()])
    outsider = double.add_user("Olga Outsider")
    other = double.add_team("Other team", [world.users["UPRIN"].id, outsider["id"]])
    with services.db.session() as session:
        math = session.get(Team, world.team_id)
        assert math is not None
        math.channel_id = team["id"]
        session.add(math)
        science = Team(school_id=world.school_id, name="Science", channel_id="CSCI", timezone="America/New_York",
                       meeting_weekdays="", meeting_time="15:30", meeting_minutes=45)
        session.add(science)
        session.flush()
        assert science.id is not None
        ut2 = session.exec(select(Person).where(Person.handle == "UT2")).one()
        session.add(Membership(team_id=science.id, person_id=ut2.id or 0, role="facilitator"))
        science_id = science.id
    yield FormWorld(world, services, team["id"], other["id"], outsider["id"], science_id)


def form_snapshot(services: Services) -> tuple:
    with services.db.read() as session:
        return (
            [(t.id, t.name, t.channel_id, t.meeting_weekdays, t.meeting_time, t.meeting_minutes, t.timezone,
              t.share_names_with_principal) for t in session.exec(select(Team).order_by(Team.id)).all()],
            sorted((m.team_id, m.person_id, m.role, m.active) for m in session.exec(select(Membership)).all()),
            [(c.id, c.team_id, c.title, c.goal, c.status, c.weeks, c.target) for c in
             session.exec(select(Cycle).order_by(Cycle.id)).all()],
            len(session.exec(select(Person)).all()),
            len(session.exec(select(PersonIdentity)).all()),
        )


HOSTILE = st.one_of(SCALAR, VALUE, st.sampled_from(NASTY), st.text(min_size=0, max_size=300))


@st.composite
def setup_data(draw: Any, fw: FormWorld) -> tuple[str, dict[str, Any]]:
    """A set-up dialog's submit as Teams sends it, fields replaced, dropped or forged."""
    ids = [u.id for u in fw.world.users.values()]
    people = st.lists(st.sampled_from([*ids, fw.outsider, "29:forged", "UT1", ""]), max_size=4).map(",".join)
    good = {"action": team_setup.SUBMIT, "name": "Grade 3 Math", "school": str(fw.world.school_id),
            "facilitators": fw.world.users["UFAC"].id, "members": f"{ids[0]},{ids[1]}", "days": "tue,thu",
            "time": "15:30", "minutes": "45", "timezone": "America/New_York", "share_names": "false"}
    data: dict[str, Any] = dict(good)
    for key in draw(st.lists(st.sampled_from([k for k in good if k != "action"]), max_size=4, unique=True)):
        choice = draw(st.integers(0, 3))
        if choice == 0:
            data.pop(key)
        elif choice == 1:
            data[key] = draw(HOSTILE)
        elif choice == 2 and key in ("facilitators", "members"):
            data[key] = draw(people)
        elif choice == 3 and key == "school":
            data[key] = draw(st.sampled_from(["999", "0", "-1", "1" * 30, str(fw.world.school_id)]))
    channel = draw(st.sampled_from([fw.channel, fw.new_channel]))
    return channel, data


@st.composite
def cycle_data(draw: Any, fw: FormWorld) -> dict[str, Any]:
    """A cycle dialog's submit: for this team, another team, no team; a good form made hostile."""
    good = {"title": "Fractions II", "goal": "85% place fractions", "strategy": "Warm-ups", "metric_name": "Exit",
            "metric_unit": "%", "baseline": "55", "target": "85", "start_date": "2026-11-30", "weeks": "4",
            "checkin_weekday": "3", "checkin_time": "14:00", "reminder_hours": "24"}
    data: dict[str, Any] = {"action": "cycle_form_submit", **good}
    team, cycle = draw(st.sampled_from([
        (fw.world.team_id, fw.world.cycle_id), (fw.world.team_id, fw.world.cycle_id), (fw.world.team_id, None),
        (fw.science_id, None), (fw.science_id, fw.world.cycle_id), (999, None), (None, None), ("1", None),
        ("x", None), (-1, None), (fw.world.team_id, 999), (fw.world.team_id, "1"), (fw.world.team_id, [1])]))
    if team is not None:
        data["team_id"] = team
    if cycle is not None:
        data["cycle_id"] = cycle
    if draw(st.booleans()):  # an edit that changes something, so a stored edit shows
        data["title"] = draw(st.sampled_from(["Fractions II", "Fractions III", "Decimals"]))
    for key in draw(st.lists(st.sampled_from(list(good)), max_size=4, unique=True)):
        if draw(st.booleans()):
            data.pop(key)
        else:
            data[key] = draw(HOSTILE)
    return data


def form_refused(answer: dict[str, Any]) -> bool:
    return refused(answer) or "task" in (answer.get("body") or {}) and any(
        "errorMessage" in json.dumps(c) and "⚠" in json.dumps(c, ensure_ascii=False) for c in cards_in(answer))


@FUZZ
@given(data=st.data(), who=st.sampled_from(PEOPLE))
def test_fuzz_the_set_up_and_cycle_dialogs_hostile_data_is_a_form_error_or_refusal_never_a_500(
        form_world, data, who):
    fw = form_world
    services, user = fw.services, fw.world.users[who]
    if data.draw(st.booleans(), label="setup"):
        channel, values = data.draw(setup_data(fw), label="setup data")
        activity = user.task_submit(values, team_id=channel)
        target_team: int | None = fw.world.team_id if channel == fw.channel else None
    else:
        values = data.draw(cycle_data(fw), label="cycle data")
        activity = user.task_submit(values, team_id=fw.channel)
        target_team = values.get("team_id") if isinstance(values.get("team_id"), int) else None
    before = form_snapshot(services)
    started = time.monotonic()
    answer = valid(invokes.handle(services, activity))
    assert time.monotonic() - started < INVOKE_DEADLINE
    assert answer["status"] in (200, 400), answer  # never a 500
    assert "Traceback" not in json.dumps(answer, default=str)
    after = form_snapshot(services)
    event(f"{values['action']}: {answer['status']} {'stored' if after != before else 'nothing stored'}")
    if after == before:
        return
    # Something was stored: only by someone allowed to, and only valid values.
    assert answer["status"] == 200 and not refused(answer)
    if values["action"] == team_setup.SUBMIT:
        assert who in (("UFAC", "UPRIN") if target_team is not None else ("UPRIN",)), (who, values)
        teams, memberships = after[0], after[1]
        for _, name, *_rest in teams:
            assert name and name == " ".join(name.split()) and len(name) <= team_setup.TEAM_NAME_MAX
        roster = {u.id for u in fw.world.users.values()} | {"UT1", "UT2", "UFAC", "UPRIN"}
        with services.db.read() as session:
            named = {p.id: p.handle for p in session.exec(select(Person)).all()}
        assert all(named[pid] in roster for _, pid, _, active in memberships if active), memberships
        assert fw.outsider not in named.values()  # someone from another team's roster was never added
    else:
        assert target_team is not None
        allowed_by = {fw.world.team_id: ("UFAC", "UPRIN"), fw.science_id: ("UT2", "UPRIN")}
        assert who in allowed_by.get(target_team, ()), (who, values)
        for _, team_id, title, goal, _status, weeks, _target in after[2]:
            assert title and goal and 1 <= weeks <= 52
