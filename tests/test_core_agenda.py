"""The agenda and action-item actions as plain functions: no Slack app, no Slack double, no client.

A front calls these with who (an `Actor` loaded in its transaction), where (a team, a meeting or
an item id) and plain inputs (people as person ids); here the test is that front, including the
check-then-write order of the forms. Runs on SQLite, and again on PostgreSQL when
PLCBOT_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from handlers.core import action_items as action_actions
from handlers.core import agenda as agenda_actions
from handlers.core.meetings import FormErrors
from handlers.errors import UserError
from scheduling import keys
from storage import migrate
from storage.clock import FakeClock
from storage.db import Database
from storage.models import ActionItem, AgendaItem, Meeting, Membership, Person, School, Team
from storage.people import load_actor
from storage.rules.agenda import RuleError
from storage.rules.roles import Actor, Forbidden
from storage.views.agenda_actions import AgendaDue
from storage.views.meeting_actions import ActionAssigned
from tests.seed import slack_of

START = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
ADMINS = ("UADMIN",)


@dataclass
class World:
    db: Database
    team_id: int
    meeting_id: int

    def actor(self, user_id: str) -> Actor:
        with self.db.read() as session:
            return load_actor(session, user_id, admins=ADMINS)

    def items(self) -> list[AgendaItem]:
        with self.db.read() as session:
            return list(session.exec(select(AgendaItem).where(AgendaItem.meeting_id == self.meeting_id)).all())

    def rows(self, model: Any) -> list[Any]:
        with self.db.read() as session:
            return list(session.exec(select(model)).all())


@pytest.fixture
def world(any_db_url: str) -> Iterator[World]:
    """A school, a team with a facilitator (UFAC) and two teachers, a meeting on Thursday, and an
    outsider (UOUT) who belongs to no team."""
    db = Database(any_db_url, clock=FakeClock(START))
    migrate.upgrade(db, backup=False)
    with db.session() as session:
        school = School(name="Lincoln", timezone="America/New_York")
        session.add(school)
        session.flush()
        team = Team(school_id=school.id, name="Grade 3", channel_id="CG3", timezone="America/New_York")
        session.add(team)
        session.flush()
        for uid, role in (("UFAC", "facilitator"), ("UT1", "member"), ("UT2", "member"), ("UOUT", None)):
            person = Person(handle=uid, name=f"Teacher {uid}", tz="America/New_York")
            session.add(person)
            session.flush()
            if role:
                session.add(Membership(team_id=team.id, person_id=person.id, role=role))
        meeting = Meeting(team_id=team.id, starts_at=START + timedelta(days=3, hours=5), minutes=45,
                          source="one_off", created_at=START)
        session.add(meeting)
        session.flush()
        assert team.id is not None and meeting.id is not None
        ids = (team.id, meeting.id)
    try:
        yield World(db, *ids)
    finally:
        db.engine.dispose()


def add_item(world: World, user_id: str, item: agenda_actions.NewItem,
             form_id: str | None = "V1") -> agenda_actions.ItemAdded:
    """What a front does with the "Add an item" form: check read-only, then write in one transaction."""
    with world.db.read() as session:
        checked = agenda_actions.check_add_item(session, load_actor(session, user_id, admins=ADMINS),
                                                meeting_id=world.meeting_id, item=item)
    with world.db.session() as session:
        return agenda_actions.write_add_item(session, load_actor(session, user_id, admins=ADMINS), checked,
                                             form_id=form_id, now=START)


def test_a_member_adds_an_item_once_and_edits_their_own(world: World) -> None:
    item = agenda_actions.NewItem(title="  Exit   ticket data ", minutes=10, owner="UT1",
                                  link="https://docs.example/x", outcome="pick a focus")
    added = add_item(world, "UT1", item)
    assert added.created and added.refresh_agenda and added.meeting_id == world.meeting_id
    assert added.title == "Exit ticket data" and added.when.startswith("Thu Dec 3")
    again = add_item(world, "UT1", item)  # a double submit of the same form adds nothing
    assert not again.created and again.item_id == added.item_id and not again.refresh_agenda
    (row,) = world.items()
    assert (row.title, row.minutes, slack_of(world.db, row.owner_id), slack_of(world.db, row.added_by_id),
            row.source) == ("Exit ticket data", 10, "UT1", "UT1", "member")

    with world.db.session() as session:
        edited = agenda_actions.edit_item(session, world.actor("UT1"), item_id=added.item_id,
                                          change=agenda_actions.NewItem("Exit tickets: week 2", 15, "UT2"))
    assert edited.refresh_agenda and edited.changed == (f"agenda item:{added.item_id} edited",)
    (row,) = world.items()
    assert (row.title, row.minutes, slack_of(world.db, row.owner_id), row.link, row.outcome) == (
        "Exit tickets: week 2", 15, "UT2", None, "")

    # Another member may not change it; a facilitator may; a bad value is refused on its field.
    with world.db.session() as session, pytest.raises(UserError, match="Only the person who added"):
        agenda_actions.edit_item(session, world.actor("UT2"), item_id=added.item_id,
                                 change=agenda_actions.NewItem("Mine now", 5, "UT2"))
    with world.db.session() as session, pytest.raises(RuleError) as refused:
        agenda_actions.edit_item(session, world.actor("UFAC"), item_id=added.item_id,
                                 change=agenda_actions.NewItem("Too long", 500, None))
    assert refused.value.field == "minutes"
    with world.db.session() as session:
        agenda_actions.edit_item(session, world.actor("UFAC"), item_id=added.item_id,
                                 change=agenda_actions.NewItem("Exit tickets", 15, "UT2"))
    assert world.items()[0].title == "Exit tickets"


def test_the_item_form_refuses_on_its_field_and_outsiders(world: World) -> None:
    with pytest.raises(RuleError) as bad:
        add_item(world, "UT1", agenda_actions.NewItem("", 5, None))
    assert bad.value.field == "title"
    with pytest.raises(RuleError) as bad:
        add_item(world, "UT1", agenda_actions.NewItem("Data", 5, None, link="ftp://x"))
    assert bad.value.field == "link"
    with pytest.raises(Forbidden):
        add_item(world, "UOUT", agenda_actions.NewItem("Data", 5, None))
    with world.db.read() as session, pytest.raises(RuleError, match="no longer exists"):
        agenda_actions.check_add_item(session, world.actor("UT1"), meeting_id=999, item=agenda_actions.NewItem(
            "Data", 5, None))
    with world.db.read() as session:
        opened = agenda_actions.open_add_item(session, world.actor("UT2"), meeting_id=world.meeting_id)
    assert opened.owner == "UT2" and opened.meeting_id == world.meeting_id
    assert world.items() == []


def test_the_agenda_editor_and_templates_are_the_facilitators(world: World) -> None:
    added = add_item(world, "UT1", agenda_actions.NewItem("Data", 5, "UT1"))
    edit = agenda_actions.AgendaEdit([agenda_actions.ItemChange(added.item_id, "Data dive", 20, "UT2")],
                                     timekeeper="UT2", notetaker="UT1")
    # The roles table: editing the agenda (its items, their order and times) needs a facilitator.
    with world.db.read() as session:
        with pytest.raises(Forbidden, match="facilitators"):
            agenda_actions.open_agenda_editor(session, world.actor("UT1"), meeting_id=world.meeting_id)
        with pytest.raises(Forbidden):
            agenda_actions.check_agenda_edit(session, world.actor("UT1"), meeting_id=world.meeting_id, edit=edit)
    with world.db.session() as session, pytest.raises(Forbidden):
        agenda_actions.fill_from_template(session, world.actor("UT1"), team_id=world.team_id, name="data", now=START)

    with world.db.read() as session:
        editor = agenda_actions.open_agenda_editor(session, world.actor("UFAC"), meeting_id=world.meeting_id)
        assert [i.title for i in editor.items] == ["Data"]
        with pytest.raises(FormErrors) as errors:  # every field's problem at once, in the editor's fields
            agenda_actions.check_agenda_edit(session, world.actor("UFAC"), meeting_id=world.meeting_id,
                                             edit=agenda_actions.AgendaEdit([
                                                 agenda_actions.ItemChange(added.item_id, "Data", None, None,
                                                                           unreadable="Give a whole number."),
                                                 agenda_actions.ItemChange(7, "x" * 200, 5, None)], None, None))
        found = errors.value.errors
        assert set(found) == {f"m{added.item_id}", "t7"} and found[f"m{added.item_id}"] == "Give a whole number."
        assert found["t7"].startswith("Keep the title under")
        checked = agenda_actions.check_agenda_edit(session, world.actor("UFAC"), meeting_id=world.meeting_id,
                                                   edit=edit)
    with world.db.session() as session:
        saved = agenda_actions.write_agenda_edit(session, world.actor("UFAC"), checked)
    assert saved.refresh_agenda
    (row,) = world.items()
    assert (row.title, row.minutes, slack_of(world.db, row.owner_id)) == ("Data dive", 20, "UT2")

    with world.db.session() as session:
        filled = agenda_actions.fill_from_template(session, world.actor("UFAC"), team_id=world.team_id,
                                                   name="data", now=START)
    assert filled.post and filled.template_label and filled.meeting_id == world.meeting_id
    titles = [i.title for i in sorted(world.items(), key=lambda i: i.position)]
    assert len(titles) > 1 and titles[-1] == "Data dive"  # the template's items first, people's after
    with world.db.session() as session, pytest.raises(RuleError):
        agenda_actions.fill_from_template(session, world.actor("UFAC"), team_id=world.team_id, name="nope",
                                          now=START)


def test_posting_the_agenda_says_what_the_place_is_owed(world: World) -> None:
    with world.db.session() as session:
        shown = agenda_actions.post_agenda(session, world.actor("UFAC"), team_id=world.team_id, now=START)
    assert shown.post and not shown.update and shown.meeting_id == world.meeting_id
    (notice,) = shown.notices
    assert notice.view == AgendaDue(world.meeting_id, update=False) and notice.team_id == world.team_id
    assert notice.key == keys.agenda(world.meeting_id)

    with world.db.session() as session:  # once posted, it is an update in place
        meeting = session.get(Meeting, world.meeting_id)
        assert meeting is not None
        meeting.agenda_channel_id, meeting.agenda_ts = "CG3", "1700000000.000100"
        session.add(meeting)
    with world.db.session() as session:
        again = agenda_actions.post_agenda(session, world.actor("UFAC"), team_id=world.team_id, now=START)
    assert again.update and again.notices[0].view == AgendaDue(world.meeting_id, update=True)

    with world.db.session() as session:  # a member looks, and posts nothing
        member = agenda_actions.post_agenda(session, world.actor("UT1"), team_id=world.team_id, now=START)
    assert not member.post and not member.notices
    assert (member.posted_place, member.posted_message) == ("CG3", "1700000000.000100")
    with world.db.session() as session, pytest.raises(Forbidden):
        agenda_actions.post_agenda(session, world.actor("UOUT"), team_id=world.team_id, now=START)


def test_a_message_goes_on_the_agenda_once(world: World) -> None:
    for _ in range(2):
        with world.db.session() as session:
            added = agenda_actions.add_linked_item(session, world.actor("UT2"), team_id=world.team_id,
                                                   title="Look at this", link="https://x.example/p1",
                                                   source_key="msg:CG3:1.2", now=START)
    assert not added.created
    (row,) = world.items()
    assert (row.title, row.minutes, slack_of(world.db, row.owner_id), row.source) == (
        "Look at this", 5, "UT2", "shortcut")


def test_an_action_item_notice_is_keyed_once_and_done_twice_is_one_effect(world: World) -> None:
    with world.db.session() as session:
        added = action_actions.add_action_item(session, world.actor("UFAC"), team_id=world.team_id, owner="UT1",
                                               text="Share the exit tickets", due=date(2026, 12, 4), now=START)
    (notice,) = added.notices
    assert notice.view == ActionAssigned(added.action_id, "UFAC") and notice.person == "UT1"
    assert notice.key == keys.action_assigned(added.action_id)
    assert added.agenda_meeting_id == world.meeting_id  # open items carry over onto its agenda

    with world.db.session() as session, pytest.raises(RuleError, match="not a member"):
        action_actions.add_action_item(session, world.actor("UFAC"), team_id=world.team_id, owner="UOUT",
                                       text="Anything", due=None, now=START)
    with world.db.session() as session, pytest.raises(RuleError, match="has passed"):
        action_actions.add_action_item(session, world.actor("UFAC"), team_id=world.team_id, owner="UT1",
                                       text="Late", due=date(2026, 11, 27), now=START)
    with world.db.session() as session, pytest.raises(Forbidden):
        action_actions.add_action_item(session, world.actor("UOUT"), team_id=world.team_id, owner="UT1",
                                       text="Anything", due=None, now=START)

    # Someone who neither owns it nor facilitates may not close it.
    with world.db.session() as session, pytest.raises(UserError, match="Only the owner"):
        action_actions.mark_done(session, world.actor("UT2"), action_id=added.action_id, now=START)
    results = []
    for _ in range(2):
        with world.db.session() as session:
            results.append(action_actions.mark_done(session, world.actor("UT1"), action_id=added.action_id,
                                                    now=START + timedelta(hours=1)))
    first, second = results
    assert first.closed and first.changed and first.agenda_meeting_id == world.meeting_id
    assert not second.closed and not second.changed and second.agenda_meeting_id is None
    (row,) = world.rows(ActionItem)
    assert (row.status, slack_of(world.db, row.done_by_id)) == ("done", "UT1")
    assert row.done_at is not None and row.done_at.replace(tzinfo=UTC) == START + timedelta(hours=1)
    with world.db.session() as session, pytest.raises(UserError, match="no longer exists"):
        action_actions.mark_done(session, world.actor("UT1"), action_id=999, now=START)
