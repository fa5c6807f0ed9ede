"""Teams: `school` (admins create schools and name principals by @mention), PLCBOT_ADMINS naming
Teams users, the wrap-up dialog, and `privacy export` through the file consent card. Every
scenario drives the real front with signed activities from the Teams double; every card the
person saw is checked against the Adaptive Card 1.5 schema. The bot runs on the test clock
(`harness.START`), whatever today's date."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlmodel import select

from bot.settings import SettingError, from_env
from bot.teams import setup as team_setup
from bot.teams import wrapup as teams_wrapup
from bot.teams_double import TeamsDouble, TeamsUser
from scheduling.clock import FakeClock
from storage.models import (
    ActionItem,
    Attendance,
    AuditEntry,
    Delivery,
    Meeting,
    Person,
    PersonIdentity,
    School,
    SchoolLeader,
    Team,
)
from storage.teams import audit_actor
from tests.harness import START
from tests.test_settings_and_cli import _plcbot
from tests.test_teams_commands import Replies, checked, dialog_card, inputs, words
from tests.test_teams_front import Bot

pytestmark = pytest.mark.real_clock  # the double signs tokens with the machine's clock; the bot reads the test clock
ZONE = "America/New_York"
ADMIN_GUID = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"  # as the Entra admin center shows it
ADMIN_MAIL = "Ada.Admin@District.example"


class AdminBot(Bot):
    """The Teams front with PLCBOT_ADMINS set, on the test clock."""

    def __init__(self, double: TeamsDouble, tmp_path: Path, admins: str) -> None:
        super().__init__(double, tmp_path, clock=FakeClock(START), env={"PLCBOT_ADMINS": admins})


@pytest.fixture
def double() -> Iterator[TeamsDouble]:
    with TeamsDouble() as d:
        yield d


def mention_in_chat(user: TeamsUser, text: str, *people: dict[str, Any]) -> Any:
    """`TEXT` typed in the 1:1 chat with the people @mentioned after it, as Teams sends mentions."""
    activity = user.personal("message")
    ats = " ".join(f"<at>{p['name']}</at>" for p in people)
    command, _, after = text.partition("{people}")
    activity.update({"text": f"{command}{ats}{after}", "textFormat": "plain"})
    activity.setdefault("entities", [])
    activity["entities"] += [{"type": "mention", "text": f"<at>{p['name']}</at>",
                              "mentioned": {"id": p["id"], "name": p["name"]}} for p in people]
    return user.send(activity)


def counts(bot: Bot) -> tuple[int, int, int]:
    with bot.services.db.read() as session:
        return (len(session.exec(select(School)).all()), len(session.exec(select(SchoolLeader)).all()),
                len(session.exec(select(Person)).all()))


# ------------------------------------------------------------------------------ school, admins
@pytest.mark.parametrize("form", ["entra-object-id", "e-mail"])
def test_a_teams_only_admin_creates_a_school_and_names_a_principal_by_mention(double: TeamsDouble, tmp_path: Path,
                                                                               form: str) -> None:
    ada = double.add_user("Ada Admin", aad_object_id=ADMIN_GUID.lower(), email=ADMIN_MAIL.lower())
    tina = double.add_user("Tina Teacher")
    pat = double.add_user("Pat Principal")
    bot = AdminBot(double, tmp_path, f"U012ABCDEF, {ADMIN_GUID if form == 'entra-object-id' else ADMIN_MAIL}")
    try:
        replies = Replies(double)
        ada_user, tina_user = (TeamsUser(double, u["id"], bot_url=bot.url) for u in (ada, tina))

        # ---- a teacher is refused, and nothing changes
        assert tina_user.say("school create Lincoln Elementary America/Chicago").status == 200
        text, _ = replies.next(tina_user.personal_conversation)
        assert text.startswith("⛔") and "plcbot admin" in text
        before = counts(bot)
        assert before[0] == 0
        assert mention_in_chat(tina_user, "school principal add {people} in Lincoln Elementary", pat).status == 200
        text, _ = replies.next(tina_user.personal_conversation)
        assert text.startswith("⛔")
        assert counts(bot) == before

        # ---- the admin creates the school
        assert ada_user.say("school create Lincoln Elementary America/Chicago").status == 200
        text, card = replies.next(ada_user.personal_conversation)
        assert "is created" in text and card is not None and "@plcbot school principal add" in words(card)
        assert ada_user.say("school create lincoln  elementary").status == 200
        text, _ = replies.next(ada_user.personal_conversation)
        assert "already exists" in text
        with bot.services.db.read() as session:
            [school] = session.exec(select(School)).all()
            assert (school.name, school.timezone) == ("Lincoln Elementary", "America/Chicago")

        # ---- and names a principal by @mention: someone the bot did not know yet
        assert mention_in_chat(ada_user, "school principal add {people} in Lincoln Elementary", pat).status == 200
        text, card = replies.next(ada_user.personal_conversation)
        assert "now a principal of" in text and "Pat Principal" in text, text
        with bot.services.db.read() as session:
            person = session.exec(select(Person).where(Person.handle == pat["id"])).one()
            assert person.name == "Pat Principal"
            assert [i.external_id for i in session.exec(select(PersonIdentity).where(
                PersonIdentity.person_id == person.id)).all()] == [pat["id"]]
            [leader] = session.exec(select(SchoolLeader)).all()
            assert (leader.school_id, leader.person_id) == (school.id, person.id)
            audit = session.exec(select(AuditEntry).where(AuditEntry.action == "principal.add")).one()
            assert audit_actor(session, audit) == ada["id"]
        # named again: nothing to change
        assert mention_in_chat(ada_user, "school principal add {people}", pat).status == 200
        text, _ = replies.next(ada_user.personal_conversation)
        assert "Nothing to change" in text

        # ---- the principal sees the school; the teacher does not
        pat_user = TeamsUser(double, pat["id"], bot_url=bot.url)
        assert pat_user.say("school").status == 200
        text, card = replies.next(pat_user.personal_conversation)
        assert card is not None and "Lincoln Elementary" in words(card) and "Pat Principal" in words(card)
        assert tina_user.say("school Lincoln Elementary").status == 200
        text, _ = replies.next(tina_user.personal_conversation)
        assert text.startswith("⛔")

        # ---- removing
        assert mention_in_chat(ada_user, "school principal remove {people}", pat).status == 200
        text, _ = replies.next(ada_user.personal_conversation)
        assert "no longer a principal" in text
        assert counts(bot)[1] == 0

        # ---- help lists school, and nothing is left "coming to Teams soon"
        assert ada_user.say("help").status == 200
        _, card = replies.next(ada_user.personal_conversation)
        assert card is not None
        assert "school create" in words(card) and "Coming to Teams soon" not in words(card)
    finally:
        bot.stop()


def test_admin_entries_take_teams_forms_and_a_bad_one_is_one_line_naming_it(tmp_path: Path) -> None:
    settings = from_env({"PLCBOT_ADMINS": f"U012ABCDEF,{ADMIN_GUID}, {ADMIN_MAIL} "})
    assert settings.admins == frozenset({"U012ABCDEF", ADMIN_GUID.lower(), ADMIN_MAIL.lower()})
    for bad in ("ada", "U012ABCDEF,not-a-guid", "ada@", "3f2504e0-4f89-11d3-9a0c"):
        with pytest.raises(SettingError) as err:
            from_env({"PLCBOT_ADMINS": bad})
        assert err.value.name == "PLCBOT_ADMINS" and str(err.value).startswith("PLCBOT_ADMINS")
        assert "\n" not in str(err.value)
    here = str(Path(__file__).resolve().parents[1])  # this checkout's bot, whatever is installed
    result = _plcbot(["run"], {"PLCBOT_ADMINS": "U012ABCDEF,Ada Admin", "PYTHONPATH": here}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "PLCBOT_ADMINS" in lines[0] and "Entra object id" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------------------ wrap-up
def _team(bot: Bot, double: TeamsDouble) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], str, int]:
    """A team set up through the set-up dialog: Fay facilitates, Ana and Ben are members."""
    fay, ana, ben = (double.add_user(n) for n in ("Fay Facilitator", "Ana Teacher", "Ben Teacher"))
    team = double.add_team("Grade 3 Math", [fay["id"], ana["id"], ben["id"]])
    with bot.services.db.session() as session:
        session.add(School(name="Lincoln Elementary", timezone=ZONE, self_service=True))
    fay_user = TeamsUser(double, fay["id"], bot_url=bot.url)
    told = Replies(double)
    assert fay_user.say_in_channel("setup", team["id"]).status == 200
    told.next(team["id"])
    fields = inputs(dialog_card(fay_user.task_fetch({"dialog_id": team_setup.DIALOG}, team_id=team["id"])))
    good = {"action": team_setup.SUBMIT, "name": "Grade 3 Math", "school": fields["school"]["choices"][0]["value"],
            "facilitators": fay["id"], "members": f"{ana['id']},{ben['id']}", "days": "tue", "time": "15:30",
            "minutes": "45", "timezone": ZONE, "share_names": "false"}
    done = dialog_card(fay_user.task_submit(good, team_id=team["id"]))
    assert "(America/New York)" in words(done), words(done)  # a zone's `_` is a space, not a look-alike `ˍ`
    text, _ = told.next(team["id"])  # the channel is told through the ledger, after the dialog closes
    assert text == "Grade 3 Math is set up.", text
    with bot.services.db.session() as session:
        t = session.exec(select(Team)).one()
        assert t.id is not None
        meeting = Meeting(team_id=t.id, starts_at=bot.services.clock.now() - timedelta(minutes=50), minutes=45,
                          source="one_off")
        session.add(meeting)
        session.flush()
        assert meeting.id is not None
        return fay, ana, ben, team["id"], meeting.id


def test_wrapup_dialog_bad_then_good_and_a_doubled_submit_stores_once(double: TeamsDouble, tmp_path: Path) -> None:
    bot = Bot(double, tmp_path, clock=FakeClock(START))
    try:
        fay, ana, ben, channel, meeting_id = _team(bot, double)
        replies = Replies(double)
        replies.skip(channel)
        fay_user, ana_user = (TeamsUser(double, u["id"], bot_url=bot.url) for u in (fay, ana))

        # ---- a member may not; the facilitator gets the button
        assert ana_user.say_in_channel("wrapup", channel).status == 200
        text, card = replies.next(channel)
        assert text.startswith("⛔") and card is None
        assert dialog_card_or_message(ana_user.task_fetch({"dialog_id": teams_wrapup.DIALOG,
                                                           "meeting_id": meeting_id}, team_id=channel)) == "message"
        assert fay_user.say_in_channel("wrapup", channel).status == 200
        text, card = replies.next(channel)
        assert card is not None
        [button] = card["actions"]
        form = dialog_card(fay_user.task_fetch({k: v for k, v in button["data"].items() if k != "msteams"},
                                               team_id=channel))
        fields = inputs(form)
        people = {c["title"]: c["value"] for c in fields["present"]["choices"]}
        assert set(people) == {"Fay Facilitator", "Ana Teacher", "Ben Teacher"}
        today = bot.services.clock.now().date()
        good = {"action": teams_wrapup.SUBMIT, "meeting_id": meeting_id,
                "present": f"{fay['id']},{ana['id']}", "decisions": "We reteach fractions on Tuesday.",
                "a1_owner": ana["id"], "a1_text": "Bring three student work samples",
                "a1_due": (today + timedelta(days=7)).isoformat(), "a2_owner": "", "a2_text": "", "a2_due": "",
                "a3_owner": "", "a3_text": "", "a3_due": ""}

        # ---- bad values: back on the form, nothing stored
        bad = {**good, "a1_due": (today - timedelta(days=30)).isoformat(), "a2_text": "Nobody owns this"}
        again = dialog_card(fay_user.task_submit(bad, team_id=channel))
        assert "Nothing was saved" in words(again)
        assert "That date has passed" in words(again) or "Choose who owns" in words(again)
        shown = inputs(again)
        assert shown["present"]["value"] == f"{fay['id']},{ana['id']}"
        assert shown["decisions"]["value"] == "We reteach fractions on Tuesday."
        with bot.services.db.read() as session:
            assert session.get(Meeting, meeting_id).status == "scheduled"
            assert session.exec(select(ActionItem)).all() == []
            assert session.exec(select(Attendance)).all() == []

        # ---- the good one, submitted twice: stored once, one log, one card to the owner
        done = dialog_card(fay_user.task_submit(good, team_id=channel))
        assert "wrap-up is saved" in words(done)
        twice = dialog_card(fay_user.task_submit(good, team_id=channel))
        assert "wrapped up already" in words(twice)
        double.wait_for(lambda: [c for c in double.cards(channel) if "Meeting log" in words(c)] or None, timeout=10)
        ana_chat = double.personal_conversation(ana["id"])
        double.wait_for(lambda: [c for c in double.cards(ana_chat) if "student work samples" in words(c)] or None,
                        timeout=10)
        with bot.services.db.read() as session:
            assert session.get(Meeting, meeting_id).status == "held"
            [item] = session.exec(select(ActionItem)).all()
            assert item.text == "Bring three student work samples"
            present = {p.handle: a.present for a, p in session.exec(
                select(Attendance, Person).where(Attendance.person_id == Person.id)).all()}
            assert present == {fay["id"]: True, ana["id"]: True, ben["id"]: False}
            assert len(session.exec(select(Delivery).where(Delivery.kind == "meeting_log")).all()) == 1
        logs = [c for c in double.cards(channel) if "Meeting log" in words(c)]
        assert len(logs) == 1 and "Ana Teacher" in words(logs[0]) and "reteach fractions" in words(logs[0])
        for content in logs:
            checked(content)
        assert len([c for c in double.cards(ana_chat) if "student work samples" in words(c)]) == 1
    finally:
        bot.stop()


def dialog_card_or_message(reply: Any) -> str:
    assert reply.status == 200, reply.text
    return str(reply.json["task"]["type"])


# ------------------------------------------------------------------------------ privacy export
def test_privacy_export_through_file_consent_has_only_the_callers_data(double: TeamsDouble, tmp_path: Path) -> None:
    bot = Bot(double, tmp_path, clock=FakeClock(START))
    try:
        fay, ana, ben, channel, meeting_id = _team(bot, double)
        replies = Replies(double)
        replies.skip(channel)
        ana_user = TeamsUser(double, ana["id"], bot_url=bot.url)
        with bot.services.db.session() as session:  # an action item for Ben, one for Ana
            t = session.exec(select(Team)).one()
            for who, what in ((ana, "Ana's own task"), (ben, "Ben's private task")):
                person = session.exec(select(Person).where(Person.handle == who["id"])).one()
                session.add(ActionItem(team_id=t.id, meeting_id=meeting_id, owner_id=person.id, text=what,
                                       created_at=bot.services.clock.now()))

        # ---- in the channel: ask in our chat; nothing offered
        assert ana_user.say_in_channel("privacy export", channel).status == 200
        text, _ = replies.next(channel)
        assert "our chat" in text
        assert double.file_consents(ana["id"]) == []

        # ---- in the chat: the message, then the file consent card; accept uploads her workbook
        assert ana_user.say("privacy export").status == 200
        [offer] = double.wait_for(lambda: double.file_consents(ana["id"]) or None, timeout=10)
        assert offer["name"].startswith("My PLC data - Ana Teacher")
        accepted = ana_user.file_consent(offer, "accept")
        assert accepted.status == 200
        content = double.wait_for(lambda: double.uploaded(offer["uniqueId"]), timeout=10)
        book = openpyxl.load_workbook(io.BytesIO(content))
        cells = " ".join(str(c.value) for ws in book.worksheets for row in ws.iter_rows() for c in row
                         if c.value is not None)
        assert "Ana's own task" in cells and "Ana Teacher" in cells
        assert "Ben's private task" not in cells and "Ben Teacher" not in cells and "Fay Facilitator" not in cells
        chat = ana_user.personal_conversation
        for content_card in double.cards(chat):
            checked(content_card)
        with bot.services.db.read() as session:
            audit = session.exec(select(AuditEntry).where(AuditEntry.action == "privacy.export")).one()
            assert audit_actor(session, audit) == ana["id"]

        # ---- Ben cannot take Ana's offer
        ben_user = TeamsUser(double, ben["id"], bot_url=bot.url)
        assert ben_user.say("privacy export").status == 200
        [ben_offer] = double.wait_for(lambda: double.file_consents(ben["id"]) or None, timeout=10)
        forged = dict(double.consent_answer(ben_offer, "accept"))
        forged["context"] = offer["acceptContext"]  # Ana's key, from Ben
        activity = ben_user.personal("invoke")
        activity.update({"name": "fileConsent/invoke", "value": forged})
        assert ben_user.send(activity).status == 200
        assert double.uploaded(ben_offer["uniqueId"]) is None

        # ---- declining says how to ask again
        assert ben_user.file_consent(ben_offer, "decline").status == 200
        double.wait_for(lambda: [c for c in double.cards(ben_user.personal_conversation)
                                 if "privacy export" in words(c) and "declined" in words(c)] or None, timeout=10)
        assert double.uploaded(ben_offer["uniqueId"]) is None
    finally:
        bot.stop()


# ------------------------------------------------------------------------------ school edit
def _school_row(bot: Bot, name: str) -> School:
    with bot.services.db.read() as session:
        return session.exec(select(School).where(School.name == name)).one()


def _school_updates(bot: Bot) -> list[AuditEntry]:
    with bot.services.db.read() as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == "school.update")).all())


def test_school_edit_dialog_for_its_principals_and_admins_bad_values_back_on_the_form_doubled_stores_once(
        double: TeamsDouble, tmp_path: Path) -> None:
    from bot.teams import dialogs

    ada = double.add_user("Ada Admin", aad_object_id=ADMIN_GUID.lower(), email=ADMIN_MAIL.lower())
    pat, jo = double.add_user("Pat Principal"), double.add_user("Jo Principal")
    bot = AdminBot(double, tmp_path, ADMIN_GUID)
    try:
        replies = Replies(double)
        ada_user, pat_user, jo_user = (TeamsUser(double, u["id"], bot_url=bot.url) for u in (ada, pat, jo))
        for school, zone, who in (("Lincoln Elementary", "America/Chicago", pat),
                                  ("Jefferson High", "America/Denver", jo)):
            assert ada_user.say(f"school create {school} {zone}").status == 200
            replies.next(ada_user.personal_conversation)
            assert mention_in_chat(ada_user, "school principal add {people} in " + school, who).status == 200
            text, _ = replies.next(ada_user.personal_conversation)
            assert "now a principal of" in text
        lincoln, jefferson = _school_row(bot, "Lincoln Elementary"), _school_row(bot, "Jefferson High")
        before = lincoln.model_dump()

        # ---- `school edit`: a card whose button opens the dialog, prefilled with what is stored
        assert pat_user.say("school edit Lincoln Elementary").status == 200
        text, card = replies.next(pat_user.personal_conversation)
        assert "coming to Teams" not in text and card is not None
        [button] = card["actions"]
        data = {k: v for k, v in button["data"].items() if k != "msteams"}
        assert data == {"dialog_id": dialogs.SCHOOL_DIALOG, "school_id": lincoln.id}
        form = dialog_card(pat_user.task_fetch(data))
        fields = inputs(form)
        assert set(fields) == {"timezone", "self_service", "digest_weekday", "digest_time", "school_hours"}
        assert (fields["timezone"]["value"], fields["digest_weekday"]["value"], fields["digest_time"]["value"],
                fields["self_service"]["value"]) == ("America/Chicago", "0", "07:00", "false")

        # ---- another school's principal: refused when it opens and when it is sent; nothing stored
        assert dialog_card_or_message(jo_user.task_fetch(data)) == "message"
        assert "Only the school's principals" in jo_user.task_fetch(data).json["task"]["value"]
        good = {"action": dialogs.SCHOOL_SUBMIT, "school_id": lincoln.id, "timezone": "Asia/Tokyo",
                "self_service": "true", "digest_weekday": "4", "digest_time": "08:30",
                "school_hours": "Mon-Fri 07:30-16:00"}
        refused = jo_user.task_submit(good)
        assert dialog_card_or_message(refused) == "message" and "Only" in refused.json["task"]["value"]
        assert jo_user.say("school edit Lincoln Elementary").status == 200
        text, _ = replies.next(jo_user.personal_conversation)
        assert text.startswith("⛔")
        assert _school_row(bot, "Lincoln Elementary").model_dump() == before and _school_updates(bot) == []

        # ---- bad values: back on the form under their fields, what was typed kept, nothing stored
        bad = {**good, "timezone": "Nowhere/Land", "school_hours": "sometimes", "digest_time": "31:99",
               "digest_weekday": "9"}
        again = dialog_card(pat_user.task_submit(bad))
        shown = words(again)
        assert "Nothing was saved" in shown and "not a time zone I know" in shown
        assert "school-hours range" in shown and "Pick a time such as 07:00" in shown and "Pick a day" in shown
        kept = inputs(again)
        assert kept["timezone"]["value"] == "Nowhere/Land" and kept["school_hours"]["value"] == "sometimes"
        assert kept["self_service"]["value"] == "true"
        assert _school_row(bot, "Lincoln Elementary").model_dump() == before and _school_updates(bot) == []

        # ---- the good one, sent twice: stored once, audited once, by Pat
        saved = dialog_card(pat_user.task_submit(good))
        assert "Saved the settings of Lincoln Elementary" in words(saved)
        twice = dialog_card(pat_user.task_submit(good))
        assert "Nothing to change" in words(twice)
        school = _school_row(bot, "Lincoln Elementary")
        assert (school.timezone, school.self_service, school.digest_weekday, school.digest_time,
                school.school_hours) == ("Asia/Tokyo", True, 4, "08:30", "Mon-Fri 07:30-16:00")
        [entry] = _school_updates(bot)
        with bot.services.db.read() as session:
            assert audit_actor(session, entry) == pat["id"]
        assert _school_row(bot, "Jefferson High").model_dump() == jefferson.model_dump()

        # ---- an admin (named by Entra object id) may change any school's settings
        admin_data = {"dialog_id": dialogs.SCHOOL_DIALOG, "school_id": jefferson.id}
        assert inputs(dialog_card(ada_user.task_fetch(admin_data)))["timezone"]["value"] == "America/Denver"
        dialog_card(ada_user.task_submit({**good, "school_id": jefferson.id, "timezone": "Europe/Paris"}))
        assert _school_row(bot, "Jefferson High").timezone == "Europe/Paris"

        # ---- a principal no longer: the open dialog's submit is refused on the server
        assert mention_in_chat(ada_user, "school principal remove {people} in Lincoln Elementary", pat).status == 200
        replies.next(ada_user.personal_conversation)
        late = pat_user.task_submit({**good, "timezone": "America/Chicago"})
        assert dialog_card_or_message(late) == "message"
        assert _school_row(bot, "Lincoln Elementary").timezone == "Asia/Tokyo"
        assert len(_school_updates(bot)) == 2  # Pat's, then the admin's for Jefferson
    finally:
        bot.stop()
