"""Teams, schools and roles through the real endpoint and the Slack double: setup, edits, refusals,
channel membership, and the data-access helpers other features use."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import event
from sqlmodel import select

from bot.render import teams as render
from handlers import teams as h
from storage import teams as store
from storage.models import AuditEntry, Membership, Person, School, SchoolLeader, Team
from storage.rules import roles
from storage.teams import audit_actor
from tests.seed import seed_team


def _setup_modal(bot, user_id):
    return bot.double.wait_for(
        lambda: next((v for v in bot.double.open_views(user_id) if v.get("callback_id") == h.SETUP_CALLBACK), None)
    )


def _last_text(bot) -> str:
    bot.wait_idle()
    return json.dumps(bot.double.responses()[-1]) if bot.double.responses() else ""


def _values(**over):
    values = {
        h.B_NAME: {h.V: "Grade 3 Math"},
        h.B_FACILITATORS: {h.V: ["UFAC"]},
        h.B_MEMBERS: {h.V: ["UT1", "UT2"]},
        h.B_DAYS: {h.V: ["thu"]},
        h.B_TIME: {h.V: "15:30"},
        h.B_LENGTH: {h.V: "45"},
        h.B_TZ: {h.V: "America/Chicago"},
    }
    values.update(over)
    return values


def _school(bot, *, name="Lincoln Elementary", principals=("UPRIN",), self_service=False) -> int:
    for uid in ("UPRIN", "UFAC", "UT1", "UT2", "UT3"):
        bot.double.add_user(uid, name=uid.lower(), real_name=f"Person {uid}", email=f"{uid.lower()}@s.example")
    with bot.db.session() as session:
        school = School(name=name, timezone="America/New_York", self_service=self_service)
        session.add(school)
        session.flush()
        for uid in principals:
            person = Person(handle=uid, name=f"Person {uid}")
            session.add(person)
            session.flush()
            session.add(SchoolLeader(school_id=school.id, person_id=person.id))
        return school.id


def _counts(bot) -> tuple[int, int, int, int]:
    with bot.db.read() as session:
        return (len(session.exec(select(Team)).all()), len(session.exec(select(Membership)).all()),
                len(session.exec(select(SchoolLeader)).all()), len(session.exec(select(School)).all()))


# ---------------------------------------------------------------------- /plc setup


def test_principal_sets_up_a_team_from_the_channel(bot):
    school_id = _school(bot)
    bot.double.add_user("UOTHERBOT", name="otherbot", is_bot=True)
    bot.double.add_channel("CG3", name="grade-3-math", members=["UFAC", "UT1", "UT2", "UOTHERBOT"])
    bot.user("UPRIN").command("setup", channel="CG3")
    view = _setup_modal(bot, "UPRIN")
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    # Members default to the channel's people, bots left out; the name comes from the channel.
    assert blocks[h.B_MEMBERS]["element"]["initial_users"] == ["UFAC", "UT1", "UT2"]
    assert blocks[h.B_NAME]["element"]["initial_value"] == "Grade 3 Math"
    assert "UPRIN" in json.dumps(view)  # principals are shown, not edited
    reply = bot.user("UPRIN").submit(view, {**_values(), h.B_SCHOOL: {h.V: str(school_id)}})
    assert reply.status == 200 and not (reply.json or {}).get("errors")
    bot.wait_idle()
    with bot.db.read() as session:
        team = session.exec(select(Team)).one()
        assert (team.channel_id, team.name, team.meeting_weekdays, team.meeting_time, team.timezone) == (
            "CG3", "Grade 3 Math", "thu", "15:30", "America/Chicago")
        assert [p.handle for p in store.facilitators(session, team_id=team.id)] == ["UFAC"]
        assert sorted(p.handle for p in store.active_members(session, team_id=team.id)) == [
            "UFAC", "UT1", "UT2"]
        # The principal is not a member: they get no check-ins.
        assert "UPRIN" not in [p.handle for p in store.active_members(session, team_id=team.id)]
        actions = [a.action for a in session.exec(select(AuditEntry)).all()]
        assert "team.create" in actions and actions.count("member.add") == 2 and "facilitator.add" in actions
    dm = bot.double.messages("UPRIN")  # the principal is not in the channel: told by DM
    assert "is set up" in dm[-1]["text"]


def test_setup_shows_inline_errors_and_stores_nothing(bot):
    school_id = _school(bot)
    with bot.db.session() as session:
        session.add(Team(school_id=school_id, name="Grade 4", channel_id="CG4", timezone="America/New_York"))
    bot.double.add_channel("CG3", name="grade-3", members=["UFAC"])
    bot.user("UPRIN").command("setup", channel="CG3")
    view = _setup_modal(bot, "UPRIN")
    bad = _values(**{h.B_FACILITATORS: {h.V: []}, h.B_LENGTH: {h.V: "0"}, h.B_TZ: {h.V: "Mars/Olympus"}})
    reply = bot.user("UPRIN").submit(view, {**bad, h.B_SCHOOL: {h.V: str(school_id)}})
    errors = reply.json["errors"]
    assert set(errors) == {h.B_FACILITATORS, h.B_LENGTH, h.B_TZ}
    assert "positive" in errors[h.B_LENGTH] and "Mars/Olympus" in errors[h.B_TZ]
    reply = bot.user("UPRIN").submit(view, {**_values(**{h.B_NAME: {h.V: "grade  4"}}),
                                            h.B_SCHOOL: {h.V: str(school_id)}})
    assert "already a team" in reply.json["errors"][h.B_NAME]
    bot.wait_idle()
    assert _counts(bot)[:2] == (1, 0)


def test_setup_without_the_bot_in_the_channel_says_how_to_invite_it(bot):
    _school(bot)
    bot.double.add_channel("CPRIV", name="secret", members=["UPRIN"], is_private=True, bot_is_member=False)
    bot.double.add_channel("CPUB", name="open", members=["UPRIN"], bot_is_member=False)
    for channel in ("CPRIV", "CPUB"):
        bot.user("UPRIN").command("setup", channel=channel)
        assert "/invite @plcbot" in _last_text(bot)
    assert _counts(bot)[:2] == (0, 0)


def test_edit_opens_prefilled_and_removes_a_member_keeping_history(bot):
    team = seed_team(bot)
    bot.user("UFAC").command("setup", channel=team.channel)
    view = _setup_modal(bot, "UFAC")
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks[h.B_NAME]["element"]["initial_value"] == "Grade 3"
    assert sorted(blocks[h.B_MEMBERS]["element"]["initial_users"]) == ["UFAC", "UT1", "UT2", "UT3"]
    assert h.B_SCHOOL not in blocks  # a team does not move school from its setup
    values = _values(**{h.B_NAME: {h.V: "Grade 3 Team"}, h.B_MEMBERS: {h.V: ["UFAC", "UT1", "UT2"]},
                        h.B_TZ: {h.V: "America/New_York"}})
    assert bot.user("UFAC").submit(view, values).status == 200
    bot.wait_idle()
    with bot.db.read() as session:
        assert session.get(Team, team.team_id).name == "Grade 3 Team"
        ut3 = session.exec(select(Membership).where(Membership.person_id == team.person_ids["UT3"])).one()
        assert ut3.active is False and ut3.left_at is not None
    # The same submission again (a double click) changes nothing more.
    with bot.db.read() as session:
        before = len(session.exec(select(AuditEntry)).all())
    bot.user("UFAC").submit(view, values)
    bot.wait_idle()
    with bot.db.read() as session:
        assert len(session.exec(select(AuditEntry)).all()) == before


def test_member_cannot_open_or_submit_the_setup(bot):
    team = seed_team(bot)
    bot.user("UT1").command("setup", channel=team.channel)
    text = _last_text(bot)
    assert "Only this team" in text and "facilitators" in text
    assert not [v for v in bot.double.open_views("UT1") if v.get("callback_id") == h.SETUP_CALLBACK]
    # A forged submission (the facilitator's modal, sent as the member) is refused too.
    bot.user("UFAC").command("setup", channel=team.channel)
    view = _setup_modal(bot, "UFAC")
    reply = bot.user("UT1").submit(view, _values(**{h.B_NAME: {h.V: "Hijacked"}, h.B_FACILITATORS: {h.V: ["UT1"]}}))
    assert "Only" in json.dumps(reply.json["errors"])
    bot.wait_idle()
    with bot.db.read() as session:
        assert session.get(Team, team.team_id).name == "Grade 3"
        assert store.member_roles(session, team_id=team.team_id)["UT1"] == "member"


def test_self_service_school_lets_a_teacher_create_only_the_first_team(bot):
    school_id = _school(bot, principals=(), self_service=True)
    bot.double.add_channel("CG3", name="grade-3", members=["UT1", "UT2"])
    bot.double.add_channel("CG5", name="grade-5", members=["UT3"])
    bot.user("UT1").command("setup", channel="CG3")
    view = _setup_modal(bot, "UT1")
    bot.user("UT1").submit(view, {**_values(**{h.B_FACILITATORS: {h.V: ["UT2"]}}), h.B_SCHOOL: {h.V: str(school_id)}})
    bot.wait_idle()
    with bot.db.read() as session:
        team = session.exec(select(Team)).one()
        assert store.member_roles(session, team_id=team.id)["UT1"] == "facilitator"  # the creator leads
    bot.user("UT3").command("setup", channel="CG5")
    assert "Only the school" in _last_text(bot)
    assert _counts(bot)[0] == 1


# ---------------------------------------------------------------------- /plc team and /plc school


def test_team_shows_members_facilitators_principals_and_schedule(bot):
    team = seed_team(bot)
    bot.user("UT1").command("team", channel=team.channel)
    text = _last_text(bot)
    assert "<@UFAC>" in text and "<@UT3>" in text and "<@UPRIN>" in text
    assert "Thursdays at 15:30 for 45 minutes" in text and "America/New_York" in text


def test_facilitator_cannot_name_another_teams_facilitator(bot):
    a = seed_team(bot)
    b = seed_team(bot, team="Grade 5", channel="CGRADE5", facilitators=("UFAC5",), members=("UT5",),
                  principals=(), school_id=a.school_id)
    bot.user("UFAC").command("team facilitator add <@UT5|ut5>", channel=b.channel)
    assert "Only the school" in _last_text(bot)
    # In their own team a facilitator may name a co-facilitator (the same role, not a higher one).
    bot.user("UFAC").command("team facilitator add <@UT1|ut1>", channel=a.channel)
    assert "now facilitating" in _last_text(bot)
    with bot.db.read() as session:
        assert store.member_roles(session, team_id=b.team_id) == {"UFAC5": "facilitator", "UT5": "member"}
        assert store.member_roles(session, team_id=a.team_id)["UT1"] == "facilitator"


def test_member_cannot_add_or_remove_team_members(bot):
    team = seed_team(bot)
    bot.double.add_user("UNEW", name="new")
    for text in ("team add <@UNEW|new>", "team remove <@UT2|ut2>", "team archive"):
        bot.user("UT1").command(text, channel=team.channel)
        assert "Only" in _last_text(bot)
    with bot.db.read() as session:
        assert len(store.active_members(session, team_id=team.team_id)) == 4
        assert session.get(Team, team.team_id).archived_at is None


def test_last_facilitator_cannot_be_removed(bot):
    team = seed_team(bot)
    bot.user("UFAC").command("team facilitator remove <@UFAC|fac>", channel=team.channel)
    assert "at least one facilitator" in _last_text(bot)


def test_facilitator_cannot_name_a_principal_and_admin_can(bot):
    team = seed_team(bot)
    bot.user("UFAC").command("school principal add <@UT1|ut1>", channel=team.channel)
    assert "plcbot admin" in _last_text(bot)
    bot.user("UPRIN").command("school principal add <@UT1|ut1>", channel=team.channel)
    assert "plcbot admin" in _last_text(bot)  # a principal names no principals either
    assert _counts(bot)[2] == 1
    bot.double.add_user("UADMIN", name="admin")
    bot.user("UADMIN").command("school principal add <@UT1|ut1>", channel=team.channel)
    assert "now a principal" in _last_text(bot)
    with bot.db.read() as session:
        assert [p.handle for p in store.principals(session, school_id=team.school_id)] == ["UPRIN", "UT1"]
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "principal.add")).one()
        assert audit_actor(session, entry) == "UADMIN"
    bot.user("UADMIN").command("school principal remove <@UT1|ut1>", channel=team.channel)
    assert "no longer a principal" in _last_text(bot)
    assert _counts(bot)[2] == 1


def test_only_an_admin_creates_a_school(bot):
    bot.double.add_user("UT1", name="t1")
    bot.double.add_user("UADMIN", name="admin")
    bot.user("UT1").command("school create Lincoln Elementary America/Chicago", channel="UT1")
    assert "plcbot admin" in _last_text(bot)
    assert _counts(bot)[3] == 0
    bot.user("UADMIN").command("school create Lincoln Elementary Mars/Base", channel="UADMIN")
    assert "not a time zone" in _last_text(bot)
    bot.user("UADMIN").command("school create Lincoln Elementary America/Chicago", channel="UADMIN")
    assert "is created" in _last_text(bot)
    bot.user("UADMIN").command("school create lincoln  elementary", channel="UADMIN")
    assert "already exists" in _last_text(bot)
    with bot.db.read() as session:
        school = session.exec(select(School)).one()
        assert (school.name, school.timezone) == ("Lincoln Elementary", "America/Chicago")


def test_principal_edits_school_settings_and_a_member_cannot(bot):
    team = seed_team(bot)
    bot.user("UT1").command("school", channel=team.channel)
    assert "Only the school" in _last_text(bot)
    bot.user("UPRIN").command("school", channel=team.channel)
    body = _last_text(bot)
    assert "Lincoln Elementary" in body and "<@UPRIN>" in body
    bot.user("UPRIN").command("school edit", channel=team.channel)
    view = bot.double.wait_for(lambda: next(
        (v for v in bot.double.open_views("UPRIN") if v.get("callback_id") == h.SCHOOL_CALLBACK), None))
    reply = bot.user("UPRIN").submit(view, {h.S_TZ: {h.V: "Nowhere/Land"}, h.S_HOURS: {h.V: "sometimes"}})
    assert set(reply.json["errors"]) == {h.S_TZ, h.S_HOURS}
    reply = bot.user("UT1").submit(view, {h.S_TZ: {h.V: "America/Denver"}})
    assert "Only" in json.dumps(reply.json["errors"])
    reply = bot.user("UPRIN").submit(view, {h.S_TZ: {h.V: "America/Denver"}, h.S_SELF: {h.V: ["self"]},
                                            h.S_DIGEST_DAY: {h.V: "4"}, h.S_DIGEST_TIME: {h.V: "08:30"}})
    assert reply.status == 200 and not (reply.json or {}).get("errors")
    bot.wait_idle()  # the modal closes at the ack; the save comes after it
    with bot.db.read() as session:
        school = session.get(School, team.school_id)
        assert (school.timezone, school.self_service, school.digest_weekday, school.digest_time) == (
            "America/Denver", True, 4, "08:30")
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "school.update")).one()
        assert audit_actor(session, entry) == "UPRIN"


# ---------------------------------------------------------------------- channel membership


def test_joining_the_channel_offers_facilitators_a_one_click_add(bot):
    team = seed_team(bot)
    bot.double.add_user("UNEW", name="nia", real_name="Nia New")
    event = {"type": "member_joined_channel", "user": "UNEW", "channel": team.channel, "channel_type": "C",
             "event_ts": "1700000000.000100"}
    bot.user("UNEW").event(event)
    bot.user("UNEW").event(event, retry_num=1, retry_reason="http_timeout")  # Slack's retry
    bot.wait_idle()
    prompts = [m for m in bot.double.messages("UFAC") if "joined" in m["text"]]
    assert len(prompts) == 1 and not bot.double.messages("UT1")
    # A member who forwards the button cannot use it.
    bot.user("UT1").click(prompts[0], h.ADD_MEMBER_ACTION)
    bot.wait_idle()
    assert "Only this team" in json.dumps(bot.double.responses()[-1])
    bot.user("UFAC").click(prompts[0], h.ADD_MEMBER_ACTION)
    bot.wait_idle()
    with bot.db.read() as session:
        assert store.member_roles(session, team_id=team.team_id)["UNEW"] == "member"
        assert session.exec(select(Person).where(Person.handle == "UNEW")).one().name == "Nia New"
    assert "added to the team" in bot.double.messages("UFAC")[-1]["text"]


def test_bots_and_members_joining_prompt_nobody(bot):
    team = seed_team(bot)
    bot.double.add_user("UBOT2", name="bot2", is_bot=True)
    for uid in ("UBOT2", "UT1"):
        bot.user(uid).event({"type": "member_joined_channel", "user": uid, "channel": team.channel})
    bot.wait_idle()
    assert bot.double.messages("UFAC") == []


def test_leaving_or_deactivation_stops_prompts_but_keeps_history(bot):
    team = seed_team(bot)
    bot.user("UT1").event({"type": "member_left_channel", "user": "UT1", "channel": team.channel})
    bot.user("UT2").event({"type": "user_change", "user": {"id": "UT2", "deleted": True, "name": "ut2"}})
    bot.wait_idle()
    with bot.db.read() as session:
        active = sorted(p.handle for p in store.active_members(session, team_id=team.team_id))
        assert active == ["UFAC", "UT3"]
        assert len(session.exec(select(Membership).where(Membership.team_id == team.team_id)).all()) == 4
        assert session.get(Person, team.person_ids["UT2"]).active is False
        assert store.teams_of(session, person_id=team.person_ids["UT1"]) == []
        assert [t.id for t in store.teams_of(session, person_id=team.person_ids["UT3"])] == [team.team_id]
    bot.user("UT2").event({"type": "user_change", "user": {"id": "UT2", "deleted": False, "name": "ut2"}})
    bot.wait_idle()
    with bot.db.read() as session:
        assert session.get(Person, team.person_ids["UT2"]).active is True


# ---------------------------------------------------------------------- rules


def test_role_rules_never_give_a_role_above_ones_own():
    fac = roles.Actor("UF", facilitator_of=frozenset({1}), member_of=frozenset({1}))
    principal = roles.Actor("UP", principal_of=frozenset({10}))
    assert roles.may_grant(fac, roles.Role.FACILITATOR, team_id=1, school_id=10)
    assert not roles.may_grant(fac, roles.Role.FACILITATOR, team_id=2, school_id=10)
    assert not roles.may_grant(fac, roles.Role.PRINCIPAL, school_id=10)
    assert roles.may_grant(principal, roles.Role.FACILITATOR, team_id=2, school_id=10)
    assert not roles.may_grant(principal, roles.Role.PRINCIPAL, school_id=10)
    assert roles.may_create_team(roles.Actor("UX"), school_id=10, self_service=True, school_has_teams=False)
    assert not roles.may_create_team(roles.Actor("UX"), school_id=10, self_service=True, school_has_teams=True)


def test_setup_form_reader_and_schedule_text():
    form, errors = h.read_setup({h.B_NAME: {h.V: {"value": "  Grade  3 "}},
                                 h.B_FACILITATORS: {h.V: {"selected_users": ["U1", "U1"]}},
                                 h.B_DAYS: {h.V: {"selected_options": [{"value": "thu"}, {"value": "mon"}]}},
                                 h.B_LENGTH: {h.V: {"value": "50"}}, h.B_TZ: {h.V: {"value": "Europe/Paris"}}})
    assert errors == {} and form.name == "Grade 3" and form.weekdays == "mon,thu" and form.facilitators == ["U1"]
    assert h.schedule_text("mon,thu", "15:30", 50, "Europe/Paris") == (
        "Mondays and Thursdays at 15:30 for 50 minutes (Europe/Paris)")
    _, errors = h.read_setup({h.B_LENGTH: {h.V: {"value": "-5"}}, h.B_TZ: {h.V: {"value": ""}}})
    assert set(errors) == {h.B_NAME, h.B_FACILITATORS, h.B_LENGTH, h.B_TZ}


# ---------------------------------------------------------------------- review fixes


@contextmanager
def _write_lock_held(bot, seconds: float):
    """Another process holds SQLite's write lock for `seconds` (as a busy scheduler or CLI might)."""
    path = bot.db_url.removeprefix("sqlite:///")
    locked, release = threading.Event(), threading.Event()

    def other_writer() -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(seconds)
        conn.execute("COMMIT")
        conn.close()

    holder = threading.Thread(target=other_writer)
    holder.start()
    assert locked.wait(5)
    try:
        yield
    finally:
        release.set()
        holder.join(10)


def _can_write_now(bot) -> bool:
    """Whether another process could take the write lock right now (nobody holds it)."""
    conn = sqlite3.connect(bot.db_url.removeprefix("sqlite:///"), isolation_level=None, timeout=0.2)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def test_school_settings_are_acknowledged_before_anything_is_written(bot):
    team = seed_team(bot)
    bot.user("UPRIN").command("school edit", channel=team.channel)
    view = bot.double.wait_for(lambda: next(
        (v for v in bot.double.open_views("UPRIN") if v.get("callback_id") == h.SCHOOL_CALLBACK), None))
    values = {h.S_TZ: {h.V: "America/Denver"}, h.S_DIGEST_DAY: {h.V: "2"}, h.S_DIGEST_TIME: {h.V: "08:00"}}
    with _write_lock_held(bot, 3.5):
        reply = bot.user("UPRIN").submit(view, values)
        assert reply.status == 200 and reply.elapsed < 2.5, reply.elapsed  # not held up by the lock
        assert not (reply.json or {}).get("errors")
    bot.wait_idle()
    with bot.db.read() as session:
        school = session.get(School, team.school_id)
        assert (school.timezone, school.digest_weekday, school.digest_time) == ("America/Denver", 2, "08:00")


def test_school_settings_refuse_forged_or_stale_forms(bot):
    team = seed_team(bot)
    other = seed_team(bot, school="Jefferson High", team="Biology", channel="CBIO", facilitators=("UBF",),
                      members=(), principals=("UJP",))
    bot.user("UPRIN").command("school edit", channel=team.channel)
    view = bot.double.wait_for(lambda: next(
        (v for v in bot.double.open_views("UPRIN") if v.get("callback_id") == h.SCHOOL_CALLBACK), None))
    good = {h.S_TZ: {h.V: "America/Denver"}}
    # Lincoln's principal sends the form with Jefferson's id in its metadata.
    forged = {**view, "private_metadata": json.dumps({"s": other.school_id})}
    assert "Only" in json.dumps(bot.user("UPRIN").submit(forged, good).json["errors"])
    # An admin's form for a school that is gone (or metadata that was tampered with).
    for meta in ("{}", json.dumps({"s": 999}), "not json", json.dumps({"s": True})):
        reply = bot.user("UADMIN").submit({**view, "private_metadata": meta}, good)
        assert "no longer exists" in json.dumps(reply.json["errors"]), meta
    bot.wait_idle()
    with bot.db.read() as session:
        assert session.get(School, other.school_id).timezone == "America/New_York"
        assert session.get(School, team.school_id).timezone == "America/New_York"


def test_school_form_reader_checks_day_and_time():
    values, errors = h.read_school({h.S_TZ: {h.V: {"value": "Europe/Paris"}},
                                    h.S_DIGEST_DAY: {h.V: {"selected_option": {"value": "9"}}},
                                    h.S_DIGEST_TIME: {h.V: {"selected_time": "31:99"}},
                                    h.S_HOURS: {h.V: {"value": "whenever"}}})
    assert set(errors) == {h.S_DIGEST_DAY, h.S_DIGEST_TIME, h.S_HOURS}
    values, errors = h.read_school({h.S_TZ: {h.V: {"value": "Europe/Paris"}},
                                    h.S_DIGEST_DAY: {h.V: {"selected_option": {"value": "6"}}},
                                    h.S_DIGEST_TIME: {h.V: {"selected_time": "8:05"}}})
    assert errors == {} and values["digest_weekday"] == 6 and values["digest_time"] == "08:05"


def test_setup_asks_slack_before_the_write_transaction_opens(bot):
    school_id = _school(bot)
    bot.double.add_channel("CG3", name="grade-3", members=["UFAC"])
    bot.user("UPRIN").command("setup", channel="CG3")
    view = _setup_modal(bot, "UPRIN")
    bot.double.add_user("UNEW1", name="new1")
    bot.double.slow("users.info", 1.5, times=1)  # Slack is slow to say who UNEW1 is
    reply = bot.user("UPRIN").submit(view, {**_values(**{h.B_MEMBERS: {h.V: ["UT1", "UNEW1"]}}),
                                            h.B_SCHOOL: {h.V: str(school_id)}})
    assert reply.status == 200 and reply.elapsed < 1.0
    time.sleep(0.5)
    assert _can_write_now(bot)  # the bot waits on Slack without holding the database's write lock
    bot.wait_idle()
    bot.double.reset_faults()
    with bot.db.read() as session:
        team = session.exec(select(Team)).one()
        assert sorted(store.member_roles(session, team_id=team.id)) == ["UFAC", "UNEW1", "UT1"]


def test_setup_refuses_a_channel_the_bot_left_after_the_modal_opened(bot):
    school_id = _school(bot)
    bot.double.add_channel("CG3", name="grade-3", members=["UFAC"])
    bot.user("UPRIN").command("setup", channel="CG3")
    view = _setup_modal(bot, "UPRIN")
    bot.double.remove_bot_from("CG3")
    bot.user("UPRIN").submit(view, {**_values(), h.B_SCHOOL: {h.V: str(school_id)}})
    bot.wait_idle()
    assert "/invite @plcbot" in bot.double.messages("UPRIN")[-1]["text"]
    assert _counts(bot)[:2] == (0, 0)


def test_setup_prefills_a_principal_as_no_facilitator_but_a_self_service_creator_as_one(bot):
    _school(bot)
    bot.double.add_channel("CG3", name="grade-3", members=["UFAC", "UT1"])
    bot.user("UPRIN").command("setup", channel="CG3")
    blocks = {b.get("block_id"): b for b in _setup_modal(bot, "UPRIN")["blocks"]}
    assert blocks[h.B_FACILITATORS]["element"]["initial_users"] == []  # principals get no check-ins unless chosen


def test_double_submit_of_a_self_service_setup_keeps_its_creator_leading(bot):
    school_id = _school(bot, principals=(), self_service=True)
    bot.double.add_channel("CG3", name="grade-3", members=["UT1", "UT2"])
    bot.user("UT1").command("setup", channel="CG3")
    view = _setup_modal(bot, "UT1")
    assert {b.get("block_id"): b for b in view["blocks"]}[h.B_FACILITATORS]["element"]["initial_users"] == ["UT1"]
    values = {**_values(**{h.B_FACILITATORS: {h.V: ["UT2"]}}), h.B_SCHOOL: {h.V: str(school_id)}}
    bot.user("UT1").submit(view, values)
    bot.wait_idle()
    bot.user("UT1").submit(view, values)  # the same modal again, after the first landed
    bot.wait_idle()
    with bot.db.read() as session:
        team = session.exec(select(Team)).one()
        assert store.member_roles(session, team_id=team.id) == {"UT1": "facilitator", "UT2": "facilitator"}


def test_adding_a_facilitator_as_a_member_never_demotes_them(bot):
    team = seed_team(bot)
    bot.user("UPRIN").command("team add <@UFAC|fac>", channel=team.channel)
    assert "Nothing to change" in _last_text(bot)
    # The join prompt's button, clicked for someone who became the facilitator meanwhile.
    text, blocks = render.join_prompt(type("T", (), {"id": team.team_id, "channel_id": team.channel,
                                                     "name": "Grade 3"})(), "UFAC")
    bot.user("UFAC").click({"ts": "1.0", "channel": "UFAC", "text": text, "blocks": blocks}, h.ADD_MEMBER_ACTION)
    bot.wait_idle()
    with bot.db.read() as session:
        assert store.member_roles(session, team_id=team.team_id)["UFAC"] == "facilitator"


def test_removing_the_last_facilitator_is_refused_every_way(bot):
    team = seed_team(bot)
    for text in ("team remove <@UFAC|fac>", "team facilitator remove <@UFAC|fac>"):
        bot.user("UPRIN").command(text, channel=team.channel)
        assert "at least one facilitator" in _last_text(bot), text
    bot.user("UPRIN").command("team facilitator add <@UT1|t1>", channel=team.channel)
    bot.user("UPRIN").command("team remove <@UFAC|fac>", channel=team.channel)  # now there is another
    assert "removed from the team" in _last_text(bot)
    with bot.db.read() as session:
        assert {u: r for u, r in store.member_roles(session, team_id=team.team_id).items()
                if r == "facilitator"} == {"UT1": "facilitator"}


def test_membership_changes_refresh_the_home_tabs_of_the_people_concerned(bot):
    team = seed_team(bot)
    bot.double.add_user("UNEW", name="new")
    bot.user("UFAC").command("team add <@UNEW|new>", channel=team.channel)
    bot.wait_idle()
    assert bot.double.home_view("UNEW") is not None
    bot.user("UFAC").command("team remove <@UT2|t2>", channel=team.channel)
    bot.wait_idle()
    assert bot.double.home_view("UT2") is not None
    assert bot.double.home_view("UT3") is None  # untouched people are not republished
    bot.user("UFAC").command("setup", channel=team.channel)
    view = _setup_modal(bot, "UFAC")
    bot.user("UFAC").submit(view, _values(**{h.B_MEMBERS: {h.V: ["UFAC", "UT1"]}, h.B_TZ: {h.V: "America/New_York"},
                                             h.B_NAME: {h.V: "Grade 3"}}))
    bot.wait_idle()
    assert bot.double.home_view("UT3") is not None  # removed by the setup form
    bot.user("UT1").event({"type": "member_left_channel", "user": "UT1", "channel": team.channel})
    bot.wait_idle()
    assert bot.double.home_view("UT1") is not None


def test_events_about_strangers_never_wait_for_the_write_lock(bot):
    team = seed_team(bot)
    with _write_lock_held(bot, 4):
        started = time.monotonic()
        bot.user("USTRANGER").event({"type": "user_change", "user": {"id": "USTRANGER", "deleted": False}})
        bot.user("UT1").event({"type": "user_change", "user": {"id": "UT1", "deleted": False, "real_name": "T"}})
        bot.user("UT1").event({"type": "member_left_channel", "user": "UT1", "channel": "CRANDOM"})
        bot.wait_idle(timeout=3)
        assert time.monotonic() - started < 3
    with bot.db.read() as session:
        assert len(store.active_members(session, team_id=team.team_id)) == 4


def test_member_sync_takes_a_fixed_number_of_queries(bot):
    team = seed_team(bot)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    with bot.db.session() as session:
        people = {f"UM{i:03d}": Person(handle=f"UM{i:03d}", name=f"m{i}") for i in range(60)}
        session.add_all(people.values())
        session.flush()
        people.update({p.handle: p for p in session.exec(select(Person)).all()})
        first = {f"UM{i:03d}": "member" for i in range(30)} | {"UFAC": "facilitator"}
        store.replace_members(session, team_id=team.team_id, roles=first, people=people, actor="t", now=now)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # noqa: ANN001, ANN002
        statements.append(statement)

    event.listen(bot.db.engine, "before_cursor_execute", count)
    try:
        with bot.db.session() as session:
            people = {p.handle: p for p in session.exec(select(Person)).all()}
            statements.clear()
            roles = {f"UM{i:03d}": "member" for i in range(30, 60)} | {"UFAC": "facilitator"}
            changes = store.replace_members(session, team_id=team.team_id, roles=roles, people=people,
                                            actor="t", now=now)
            selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    finally:
        event.remove(bot.db.engine, "before_cursor_execute", count)
    assert len(changes.added) == 30 and len(changes.removed) == 30
    assert len(selects) <= 2, selects


def test_role_rules_never_grant_above_the_granters_own_role():
    team, school = 1, 10
    actors = {
        roles.Role.MEMBER: roles.Actor("UM", member_of=frozenset({team})),
        roles.Role.FACILITATOR: roles.Actor("UF", facilitator_of=frozenset({team}), member_of=frozenset({team})),
        roles.Role.PRINCIPAL: roles.Actor("UP", principal_of=frozenset({school})),
        roles.Role.ADMIN: roles.Actor("UA", is_admin=True),
    }
    for own, actor in actors.items():
        for role in roles.Role:
            if roles.may_grant(actor, role, team_id=team, school_id=school):
                assert roles.RANK[role] <= roles.RANK[own], (own, role)
    # A facilitator elsewhere, or someone with no role here, grants nothing here.
    elsewhere = roles.Actor("UX", facilitator_of=frozenset({2}), member_of=frozenset({2}))
    assert not any(roles.may_grant(elsewhere, r, team_id=team, school_id=school) for r in roles.Role)
    assert roles.keeps_a_facilitator({"A": "facilitator", "B": "member"}, {"A": "member"}) is False
    assert roles.keeps_a_facilitator({"A": "facilitator", "B": "member"}, {"B": "facilitator", "A": None})
    assert roles.keeps_a_facilitator({"B": "member"}, {"B": None})  # none before: nothing taken away


def test_render_keeps_long_lists_within_slack_limits_and_escapes_names():
    many = [f"U{i:08d}" for i in range(400)]
    line = render.people_line(many)
    assert len(line) < 2900 and line.endswith("more") and line.count("<@") == line.count(">")

    class T:
        id, name, channel_id, timezone = 1, "<!channel> & co", "C1", "America/Chicago"
        meeting_weekdays, meeting_time, meeting_minutes = "mon,thu", "15:30", 45

    class S:
        id, name, timezone, self_service, digest_weekday, digest_time, school_hours = (
            3, "Lincoln <b>", "America/Chicago", False, 0, "07:00", None)

    blocks = render.team_blocks(team=T(), school_name="Lincoln <b>", facilitator_ids=many[:2], member_ids=many,
                                principal_ids=[], cycle=None)
    text = json.dumps(blocks)
    assert "Lincoln &lt;b&gt;" in text and "<!channel>" not in json.dumps(blocks[1:])
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    school = render.school_blocks(S(), many, [T()] * 300, can_edit=True, default_hours="Mon-Fri 07:00-18:00")
    assert all(len(b["text"]["text"]) <= 3000 for b in school if b["type"] == "section")
    assert "&lt;!channel&gt; &amp; co" in json.dumps(school)
    form, errors = render.read_setup({h.B_NAME: {h.V: {"value": "x" * 121}},
                                      h.B_FACILITATORS: {h.V: {"selected_users": ["UOK", "not-a-user"]}},
                                      h.B_TIME: {h.V: {"selected_time": "27:00"}},
                                      h.B_LENGTH: {h.V: {"value": "45"}}, h.B_TZ: {h.V: {"value": "UTC"}}})
    assert form is None and set(errors) == {h.B_NAME, h.B_TIME}
    assert render.join_value('{"t": true, "u": "U1"}') == (0, "")
    assert render.join_value('{"t": 4, "u": "U1"}') == (4, "U1")


def test_the_team_decides_in_setup_whether_principals_see_names(bot):
    """Off by default; a facilitator turns it on in the setup form, it is audited, the form reopens
    with it ticked, and a roster import leaves the team's choice alone."""
    team = seed_team(bot)
    bot.user("UFAC").command("setup", channel=team.channel)
    view = _setup_modal(bot, "UFAC")
    share = next(b for b in view["blocks"] if b.get("block_id") == h.B_SHARE)
    assert "initial_options" not in share["element"]  # off until the team chooses
    values = _values(**{h.B_MEMBERS: {h.V: ["UFAC", "UT1", "UT2", "UT3"]}, h.B_NAME: {h.V: "Grade 3"},
                        h.B_TZ: {h.V: "America/New_York"}, h.B_SHARE: {h.V: [h.SHARE_NAMES]}})
    reply = bot.user("UFAC").submit(view, values)
    assert reply.status == 200 and not (reply.json or {}).get("errors")
    bot.wait_idle()
    with bot.db.read() as session:
        assert session.get(Team, team.team_id).share_names_with_principal is True
        updates = [a.detail for a in session.exec(select(AuditEntry).where(AuditEntry.action == "team.update"))]
        assert any("share_names_with_principal: False → True" in d for d in updates)
    bot.user("UFAC").command("setup", channel=team.channel)
    reopened = bot.double.wait_for(lambda: next(
        (v for v in bot.double.open_views("UFAC") if v.get("callback_id") == h.SETUP_CALLBACK
         and v["id"] != view["id"]), None))
    share = next(b for b in reopened["blocks"] if b.get("block_id") == h.B_SHARE)
    assert [o["value"] for o in share["element"]["initial_options"]] == [h.SHARE_NAMES]
    with bot.db.session() as session:  # as a roster import does: no say on name sharing
        t = session.get(Team, team.team_id)
        store.save_team(session, team=t, school_id=t.school_id, channel_id=t.channel_id, name=t.name,
                        timezone=t.timezone, schedule=store.Schedule("mon", "15:00", 45), actor="cli:x",
                        now=bot.clock.now())
    with bot.db.read() as session:
        assert session.get(Team, team.team_id).share_names_with_principal is True
