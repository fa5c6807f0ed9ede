"""The audit log: what the flows that change roles, teams, norms, settings and cycles record
(and never the answers typed meanwhile), `plcbot audit` and its filters, and `/plc audit` for
principals and admins through the Slack double."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.cli import main as cli_main
from bot.render.audit import LINE_MAX, audit_message
from bot.render.cycles import CYCLE_MODAL, DETAILS_MODAL
from bot.slack_double import limits
from handlers import teams as h
from storage import audit_log
from storage import teams as team_store
from storage.audit_log import AuditRow
from storage.models import AuditEntry, Checkin, Feedback, Meeting, Person
from storage.rules import roles
from tests.cycle_helpers import GOOD_FORM, checkin_dms, only_checkins
from tests.harness import START, BotHarness, checkin_of
from tests.seed import seed_team

EVIDENCE = "Kept-private exit ticket notes 7731"
WILL_TRY = "Kept-private feedback plan 4419"
MEETING_AT = datetime(2026, 12, 1, 20, 30, tzinfo=UTC)  # Tuesday 3:30 PM New York
THURSDAY_2PM = datetime(2026, 12, 3, 19, 0, tzinfo=UTC)


@pytest.fixture
def abot(any_db_url) -> Iterator[BotHarness]:  # noqa: ANN001
    """The whole bot on SQLite (and PostgreSQL when configured), ticking check-ins only."""
    harness = BotHarness(any_db_url)
    try:
        yield only_checkins(harness.start())
    finally:
        harness.stop()


@pytest.fixture
def keep_logging():
    """The CLI configures the root logger for a process of its own: give pytest its logging back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _entries(bot) -> list[audit_log.AuditRow]:
    """The log as `plcbot audit` reads it: who acted is their handle, or the label ("cli:…")."""
    with bot.db.read() as session:
        return list(audit_log.entries(session))


def _new(bot, since: int) -> list[tuple[str, str, int | None]]:
    """(actor, action, school id) of the entries written after the first `since`."""
    return [(e.actor, e.action, e.school_id) for e in _entries(bot)[since:]]


def _modal(bot, user_id: str, callback_id: str) -> dict:
    return bot.double.wait_for(lambda: next(
        (v for v in reversed(bot.double.open_views(user_id)) if v.get("callback_id") == callback_id), None))


def _reply(bot, n_before: int) -> str:
    bot.wait_idle()
    bot.double.wait_for(lambda: len(bot.double.responses()) > n_before)
    return json.dumps(bot.double.responses()[-1])


def _command(bot, user_id: str, text: str, channel: str) -> str:
    before = len(bot.double.responses())
    bot.user(user_id).command(text, channel=channel)
    return _reply(bot, before)


def _two_schools(bot):
    a = seed_team(bot, meeting_weekdays="")
    b = seed_team(bot, school="Roosevelt Middle", team="Science 7", channel="CSCI7", facilitators=("UFACB",),
                  members=("UTB1", "UTB2"), principals=("UPRINB",), meeting_weekdays="")
    bot.double.add_user("UADMIN", name="admin", real_name="District Admin")
    return a, b


# ---------------------------------------------------------------------- every change leaves its entry


def test_each_change_is_recorded_with_its_school_and_no_answer_is(abot):
    bot = abot
    a, b = _two_schools(bot)
    assert _entries(bot) == []  # seeding writes rows directly: nothing audited yet
    fac, prin = "UFAC", "UPRIN"

    # Roles: the principal makes UT1 a facilitator.
    assert "now facilitating" in _command(bot, prin, "team facilitator add <@UT1|ut1>", a.channel)
    # Membership: UT3 leaves the team's channel; UNEW joins it and a facilitator adds them.
    bot.user("UT3").event({"type": "member_left_channel", "user": "UT3", "channel": a.channel})
    bot.double.add_user("UNEW", name="nia", real_name="Nia New")
    bot.user("UNEW").event({"type": "member_joined_channel", "user": "UNEW", "channel": a.channel})
    bot.wait_idle()
    [prompt] = [m for m in bot.double.messages(fac) if "joined" in m["text"]]
    bot.user(fac).click(prompt, h.ADD_MEMBER_ACTION)
    bot.wait_idle()
    # Slack deactivates UT2's account: recorded, district-wide (a person, not one school's).
    bot.user("UT2").event({"type": "user_change", "user": {"id": "UT2", "deleted": True, "name": "ut2"}})
    bot.wait_idle()
    assert _new(bot, 0) == [(prin, "facilitator.add", a.school_id),
                            ("slack:member_left_channel", "member.remove", a.school_id),
                            (fac, "member.add", a.school_id),
                            ("slack:user_change", "person.deactivate", None)]
    bot.user("UT2").event({"type": "user_change", "user": {"id": "UT2", "deleted": False, "name": "ut2"}})
    bot.wait_idle()
    assert _new(bot, 4) == [("slack:user_change", "person.activate", None)]
    seen = 5

    # Norms, edited in the modal: who and how much, never the norms' words.
    bot.user(fac).command("norms edit", channel=a.channel)
    bot.user(fac).submit(_modal(bot, fac, "norms_edit"), {"norms": {"text": "Start on time\nBe present"}})
    bot.wait_idle()
    [norms] = _entries(bot)[seen:]
    assert (norms.actor, norms.action, norms.school_id, norms.target) == (fac, "norms.edit", a.school_id,
                                                                          f"team:{a.team_id}")
    assert norms.detail == "version 1: added 2" and "present" not in norms.detail
    seen += 1

    # School settings (the principal's modal) and team settings (the facilitator's setup modal).
    bot.user(prin).command("school edit", channel=a.channel)
    reply = bot.user(prin).submit(_modal(bot, prin, h.SCHOOL_CALLBACK), {h.S_TZ: {h.V: "America/Chicago"}})
    assert not (reply.json or {}).get("errors")
    bot.user(fac).command("setup", channel=a.channel)
    setup = {h.B_NAME: {h.V: "Grade 3 Team"}, h.B_FACILITATORS: {h.V: ["UFAC", "UT1"]},
             h.B_MEMBERS: {h.V: ["UT2", "UNEW"]}, h.B_DAYS: {h.V: []}, h.B_TIME: {h.V: "15:30"},
             h.B_LENGTH: {h.V: "45"}, h.B_TZ: {h.V: "America/New_York"}}
    reply = bot.user(fac).submit(_modal(bot, fac, h.SETUP_CALLBACK), setup)
    assert not (reply.json or {}).get("errors")
    bot.wait_idle()
    assert _new(bot, seen) == [(prin, "school.update", a.school_id), (fac, "team.update", a.school_id)]
    updates = _entries(bot)[seen:]
    assert "America/New_York → America/Chicago" in updates[0].detail
    assert "Grade 3 → Grade 3 Team" in updates[1].detail
    seen += 2

    # A cycle: started in the form, paused, resumed; the goal's words stay out of the log.
    bot.user(fac).command("cycle start", channel=a.channel)
    form = _modal(bot, fac, CYCLE_MODAL)
    assert not (bot.user(fac).submit(form, GOOD_FORM).json or {}).get("errors")
    bot.wait_idle()
    _command(bot, fac, "cycle pause", a.channel)
    _command(bot, fac, "cycle resume", a.channel)
    bot.user(fac).command("cycle edit", channel=a.channel)
    edit = _modal(bot, fac, CYCLE_MODAL)
    edited = {**GOOD_FORM, "weeks": {"weeks": "6"}, "goal": {"goal": "Kept-private new goal wording"}}
    for _ in range(2):  # a double submit records one edit
        assert not (bot.user(fac).submit(edit, edited).json or {}).get("errors")
        bot.wait_idle()
    assert _new(bot, seen) == [(fac, "cycle.start", a.school_id), (fac, "cycle.pause", a.school_id),
                               (fac, "cycle.resume", a.school_id), (fac, "cycle.edit", a.school_id)]
    assert "4 weeks from 2026-11-30" in _entries(bot)[seen].detail
    assert _entries(bot)[seen + 3].detail.endswith("goal changed; weeks: 4 → 6")
    seen += 4

    # Answers: feedback after a meeting, a check-in with evidence. Neither is audited.
    with bot.db.session() as session:
        session.add(Meeting(team_id=a.team_id, starts_at=MEETING_AT, source="one_off"))
    bot.clock.set(MEETING_AT + timedelta(minutes=50))
    bot.user("UT2").command("feedback", channel=a.channel)
    feedback_form = _modal(bot, "UT2", "feedback_submit")
    reply = bot.user("UT2").submit(feedback_form, {
        "useful": {"value": "4"}, "learned": {"value": "5"}, "norms": {"value": "3"},
        "will_try": {"value": WILL_TRY}, "evidence": {"value": "Samples"}, "next_focus": {"value": "Grouping"}})
    assert not (reply.json or {}).get("errors")
    bot.clock.set(THURSDAY_2PM)
    bot.tick()
    [dm] = checkin_dms(bot, "UT2")
    bot.user("UT2").click(dm, "checkin_details")
    details = _modal(bot, "UT2", DETAILS_MODAL)
    reply = bot.user("UT2").submit(details, {"progress": {"progress": "on_track"}, "value": {"value": "70"},
                                             "evidence": {"evidence": EVIDENCE}})
    assert not (reply.json or {}).get("errors")
    bot.wait_idle()
    with bot.db.read() as session:
        assert session.exec(select(Feedback)).one().will_try == WILL_TRY
        assert session.exec(select(Checkin).where(checkin_of("UT2"))).one().evidence == EVIDENCE
    assert _new(bot, seen) == []

    # Ending the cycle, an export (the digest on demand) and a school break.
    _command(bot, fac, "cycle end", a.channel)
    _command(bot, prin, "digest", a.channel)
    _command(bot, prin, "break add 2026-12-21 2027-01-01 Winter break", a.channel)
    assert _new(bot, seen) == [(fac, "cycle.end", a.school_id), (prin, "digest on demand", a.school_id),
                               (prin, "break.add", a.school_id)]

    everything = json.dumps([(e.actor, e.action, e.target, e.detail) for e in _entries(bot)])
    for typed in (EVIDENCE, WILL_TRY, "Samples", "Grouping", "Start on time", "Be present", "Kept-private",
                  "Fractions on a number line", "80% of students"):
        assert typed not in everything
    # Nothing of school A reached school B's part of the log.
    assert {e.school_id for e in _entries(bot)} == {a.school_id, None}


def test_principal_changes_and_cli_breaks_name_the_person_and_the_school(bot, tmp_path, capsys, keep_logging):
    a, _ = _two_schools(bot)
    _command(bot, "UADMIN", "school principal add <@UT2|ut2>", a.channel)
    _command(bot, "UADMIN", "school principal remove <@UT2|ut2>", a.channel)
    status, _, err = _cli(bot, tmp_path, capsys, "calendar", "add-break", "--school", "lincoln elementary",
                          "2026-12-21", "2027-01-01", "--label", "Winter break")
    assert status == 0, err
    status, _, err = _cli(bot, tmp_path, capsys, "calendar", "remove-break", "--school", "Lincoln Elementary", "1")
    assert status == 0, err
    entries = _entries(bot)
    assert [(e.action, e.school_id) for e in entries] == [
        ("principal.add", a.school_id), ("principal.remove", a.school_id),
        ("break.add", a.school_id), ("break.remove", a.school_id)]
    assert entries[0].detail == f"person:{a.person_ids['UT2']} UT2"
    assert entries[2].actor.startswith("cli:") and "2026-12-21..2027-01-01 Winter break" in entries[2].detail


# ---------------------------------------------------------------------- plcbot audit


def _cli(bot, tmp_path, capsys, *args: str) -> tuple[int, str, str]:  # noqa: ANN001
    env = tmp_path / "cli.env"
    env.write_text(f"DATABASE_URL={bot.db_url}\n")
    status = cli_main(["--env-file", str(env), *args])
    out = capsys.readouterr()
    return status, out.out, out.err


def _log(bot, when: datetime, actor: str, action: str, target: str, detail: str = "") -> None:
    with bot.db.session() as session:
        team_store.audit(session, actor=actor, action=action, target=target, detail=detail, at=when)


def _history(bot):
    """Entries over a week in two schools, plus a district-wide one, written out of order."""
    a, b = _two_schools(bot)
    day = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    ut1 = a.person_ids["UT1"]
    _log(bot, day + timedelta(days=3), "UFAC", "member.add", f"team:{a.team_id}", f"person:{ut1} UT1")
    _log(bot, day, "UADMIN", "principal.add", f"school:{a.school_id}", f"person:{ut1}")  # an old-style detail
    _log(bot, day + timedelta(days=1), "UPRINB", "school.update", f"school:{b.school_id}", "timezone: a → b")
    _log(bot, day + timedelta(days=2), "cli:ops", "roster.export", "roster.xlsx", "12 rows")
    _log(bot, day + timedelta(days=4), "UT12", "norms.edit", f"team:{a.team_id}", "version 2: added 1")
    _log(bot, day + timedelta(days=5), "UFACB", "member.add", f"team:{b.team_id}",
         f"person:{b.person_ids['UTB1']} UTB1")
    return a, b


def _columns(line: str) -> list[str]:
    """time, school, actor, action, target, detail: columns are two or more spaces apart."""
    return re.split(r"\s{2,}", line.rstrip())


def _lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if not line.startswith("TIME (UTC)")]


def test_cli_lists_oldest_first_and_filters(any_db_url, tmp_path, capsys, keep_logging):
    harness = BotHarness(any_db_url)
    bot = harness.start()
    try:
        a, b = _history(bot)
        status, out, err = _cli(bot, tmp_path, capsys, "audit")
        assert status == 0 and "6 entries" in err
        lines = _lines(out)
        actions = [_columns(line)[3] for line in lines]
        assert actions == ["principal.add", "school.update", "roster.export", "member.add", "norms.edit",
                           "member.add"]
        assert lines[0].startswith("2026-11-02 15:00:00Z") and "UADMIN" in lines[0]
        assert "district" in lines[2] and "Roosevelt Middle" in lines[1]
        assert f"team:{a.team_id} (Grade 3)" in lines[3] and "UFAC (Teacher UFAC)" in lines[3]

        # --user: who acted or was acted on; "person:N" alone counts; UT12 is not UT1.
        status, out, _ = _cli(bot, tmp_path, capsys, "audit", "--user", "ut1")
        assert status == 0
        found = _lines(out)
        assert len(found) == 2 and "principal.add" in found[0] and "member.add" in found[1]
        status, out, _ = _cli(bot, tmp_path, capsys, "audit", "--user", "cli:ops")
        assert [("roster.export" in line) for line in _lines(out)] == [True]

        # --school, --since and --limit (the newest N, still oldest first).
        status, out, _ = _cli(bot, tmp_path, capsys, "audit", "--school", "roosevelt  middle")
        assert len(_lines(out)) == 2 and all("Roosevelt Middle" in line for line in _lines(out))
        status, out, _ = _cli(bot, tmp_path, capsys, "audit", "--since", "2026-11-05")
        assert [line[:10] for line in _lines(out)] == ["2026-11-05", "2026-11-06", "2026-11-07"]
        status, out, _ = _cli(bot, tmp_path, capsys, "audit", "--limit", "2", "--school", "Lincoln Elementary")
        assert [line[:10] for line in _lines(out)] == ["2026-11-05", "2026-11-06"]
        status, out, _ = _cli(bot, tmp_path, capsys, "audit", "--user", "UNOBODY", "--since", "2026-11-01")
        assert status == 0 and out.strip() == "No audit entries match (--since 2026-11-01, --user UNOBODY)."
    finally:
        harness.stop()


@pytest.mark.parametrize("args, message", [
    (["--since", "2026-13-01"], "--since '2026-13-01' is not a date"),
    (["--user", "not an id"], "--user 'not an id' is not a Slack user id"),
    (["--school", "Nowhere High"], "--school: no school named 'Nowhere High'"),
    (["--limit", "0"], "--limit '0' must be a whole number"),
    (["--limit", "ten"], "--limit 'ten' must be a whole number"),
])
def test_cli_bad_input_is_one_line_naming_the_argument(bot, tmp_path, capsys, keep_logging, args, message):
    _history(bot)
    before = len(_entries(bot))
    status, out, err = _cli(bot, tmp_path, capsys, "audit", *args)
    assert status == 2 and out == ""
    last = [line for line in err.splitlines() if "alembic" not in line]  # the test process logs migrations
    assert len(last) == 1 and last[0].startswith("plcbot: ") and message in last[0]
    assert len(_entries(bot)) == before


def test_cli_streams_a_big_log_in_a_fixed_number_of_queries(bot, tmp_path, capsys, keep_logging):
    """3,000 entries: the same few statements as for three (no query per row)."""
    from sqlalchemy import event, insert

    a, _ = _two_schools(bot)
    with bot.db.session() as session:
        fac = session.exec(select(Person.id).where(Person.handle == "UFAC")).one()
        session.execute(insert(AuditEntry), [
            {"at": START + timedelta(seconds=i), "actor_id": fac, "action": "member.add",
             "target": f"team:{a.team_id}", "detail": f"person:{i} U{i:05d}", "school_id": a.school_id}
            for i in range(3000)])
    from storage import audit_log

    statements: list[str] = []

    def count(*args) -> None:  # noqa: ANN002
        statements.append(args[2])

    event.listen(bot.db.engine, "before_cursor_execute", count)
    try:
        with bot.db.read() as session:
            rows = audit_log.entries(session, user="UFAC", school_ids=frozenset({a.school_id}))
            assert sum(1 for _ in rows) == 3000
    finally:
        event.remove(bot.db.engine, "before_cursor_execute", count)
    assert len([s for s in statements if "auditentry" in s.lower()]) == 1
    assert len(statements) <= 3  # the person lookup, the entries (and SQLite's BEGIN)


# ---------------------------------------------------------------------- /plc audit in Slack


def test_principals_see_their_school_admins_all_members_are_refused(bot):
    a, b = _history(bot)
    with bot.db.session() as session:  # a team name someone typed, shown escaped
        team_store.audit(session, actor="UFAC", action="team.update", target=f"team:{a.team_id}",
                         detail="name: Grade 3 → <!channel> & co", at=START)
    text = _command(bot, "UPRIN", "audit", a.channel)
    assert "Lincoln Elementary" in text and "Roosevelt" not in text and "roster.export" not in text
    assert "<@UFAC>" in text and "<@UT1>" in text and "<@UADMIN>" in text  # mentions, shown as names
    assert "&lt;!channel&gt; &amp; co" in text and "<!channel>" not in text
    assert "<!date^" in text  # times in each reader's own zone
    text = _command(bot, "UPRINB", "audit", b.channel)
    assert "Roosevelt Middle" in text and "school.update" in text and "norms.edit" not in text
    # An admin sees the whole district outside a team channel, the school inside one.
    text = _command(bot, "UADMIN", "audit", "UADMIN")
    assert all(word in text for word in ("roster.export", "norms.edit", "school.update", "the whole district"))
    text = _command(bot, "UADMIN", "audit", b.channel)
    assert "school.update" in text and "norms.edit" not in text
    # Anyone else is refused, and told who can.
    for who in ("UT1", "UFAC"):
        text = _command(bot, who, "audit", a.channel)
        assert "Only the school's principals (or a plcbot admin) can see the audit log." in text
        assert "member.add" not in text
    # A start day filters; a bad one is explained.
    text = _command(bot, "UPRIN", "audit since 2026-11-06", a.channel)
    assert "norms.edit" in text and "principal.add" not in text
    assert "is not a day" in _command(bot, "UPRIN", "audit since yesterday", a.channel)
    # Help lists it for principals only.
    assert "/plc audit" in _command(bot, "UPRIN", "help", a.channel)
    assert "/plc audit" not in _command(bot, "UT1", "help", a.channel)


def test_since_a_day_starts_at_midnight_in_the_schools_zone_or_the_callers(bot):
    """Kiritimati is UTC+14: its midnight is 10:00 UTC the day before, so reading the day as UTC's
    would drop an entry made just after the school's midnight. Outside a team's channel an admin's
    district-wide page reads the day in the admin's own zone (their Slack profile's)."""
    from zoneinfo import ZoneInfo

    from handlers.core import audit as core_audit

    far = "Pacific/Kiritimati"
    a = seed_team(bot, timezone=far, meeting_weekdays="")
    bot.double.add_user("UADMIN", name="admin", real_name="District Admin", tz="America/Los_Angeles")
    day = bot.clock.now().astimezone(ZoneInfo(far)).date() - timedelta(days=3)
    midnight = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(far)).astimezone(UTC)
    assert midnight.date() < day  # the school's day starts the day before in UTC
    with bot.db.session() as session:
        for action, at in (("zone.before", midnight - timedelta(minutes=30)),
                           ("zone.after", midnight + timedelta(minutes=30))):
            team_store.audit(session, actor="UFAC", action=action, target=f"team:{a.team_id}", at=at)
    text = _command(bot, "UPRIN", f"audit since {day.isoformat()}", a.channel)
    assert "zone.after" in text and "zone.before" not in text, text
    assert f"since {day.isoformat()} ({far})" in text and "(UTC)" not in text
    # The admin in the team's channel: the school's zone too.
    text = _command(bot, "UADMIN", f"audit since {day.isoformat()}", a.channel)
    assert "zone.after" in text and "zone.before" not in text
    # The admin's district-wide page: midnight in the admin's own zone, Los Angeles (UTC-8/-7), after both.
    with bot.db.session() as session:
        admin = session.exec(select(Person).where(Person.handle == "UADMIN")).first()
        if admin is None:
            admin = Person(handle="UADMIN", name="District Admin", created_at=bot.clock.now())
        admin.tz = "America/Los_Angeles"
        session.add(admin)
    text = _command(bot, "UADMIN", f"audit since {day.isoformat()}", "UADMIN")
    assert "zone.after" not in text and "zone.before" not in text and "(America/Los_Angeles)" in text, text
    # The rule on its own.
    assert core_audit.start_of(day, far) == midnight
    assert core_audit.start_of(day, "Not/AZone") == datetime(day.year, day.month, day.day, tzinfo=UTC)
    # Help says what the day means.
    assert "midnight in the school" in _command(bot, "UPRIN", "help", a.channel)


def test_slack_shows_the_newest_thirty_within_block_kit_limits(bot):
    a, _ = _two_schools(bot)
    with bot.db.session() as session:
        for i in range(45):
            team_store.audit(session, actor="UFAC", action="member.add", target=f"team:{a.team_id}",
                             detail=f"person:{i} U{i:04d} " + "x" * 400, at=START + timedelta(minutes=i))
    before = len(bot.double.responses())
    bot.user("UPRIN").command("audit", channel=a.channel)
    bot.wait_idle()
    reply = bot.double.wait_for(lambda: bot.double.responses()[before:])[-1]
    assert reply["response_type"] == "ephemeral"
    assert limits.problems(reply["blocks"], surface="message") == []
    text = json.dumps(reply["blocks"])
    assert "<@U0044>" in text and "<@U0015>" in text and "<@U0014>" not in text  # newest 30
    assert text.index("U0044") < text.index("U0015")  # newest first
    assert "Older entries are not shown" in text


def test_audit_scope_is_decided_by_the_role_rules():
    principal = roles.Actor("UP", principal_of=frozenset({1, 2}))
    assert roles.audit_scope(principal) == frozenset({1, 2})
    assert roles.audit_scope(principal, channel_school_id=2) == frozenset({2})
    assert roles.audit_scope(principal, channel_school_id=3) == frozenset({1, 2})
    admin = roles.Actor("UA", is_admin=True)
    assert roles.audit_scope(admin) is None and roles.audit_scope(admin, channel_school_id=3) == frozenset({3})
    with pytest.raises(roles.Forbidden, match="principals"):
        roles.audit_scope(roles.Actor("UF", facilitator_of=frozenset({9}), member_of=frozenset({9})))
    assert roles.NEEDS[roles.Action.VIEW_AUDIT] is roles.Role.PRINCIPAL


def test_person_ids_in_old_entries_still_match_their_slack_id(bot):
    a, _ = _history(bot)
    with bot.db.read() as session:
        from storage import audit_log
        person = session.exec(select(Person).where(Person.handle == "UT1")).one()
        rows = list(audit_log.entries(session, user="UT1"))
    assert person.id == a.person_ids["UT1"]
    assert [r.action for r in rows] == ["principal.add", "member.add"]


def test_lines_stay_short_escape_typed_text_and_never_cut_a_mention():
    at = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
    long_name = "<b>" + "Grade 3 " * 40
    rows = [AuditRow(i, at, 1, "Lincoln & Co", "UFAC", None, "member.add", "team:1",
                     "x" * (200 + i) + f" person:{i} U{i:08d}") for i in range(40)]
    rows.append(AuditRow(99, at, None, None, "slack:user_change", None, "person.deactivate", "person:4", "UT3"))
    text, blocks = audit_message(rows, scope="Lincoln & Co", since=None, shown=41, more=True,
                                 team_names={1: long_name}, show_school=True)
    assert limits.problems(blocks, surface="message") == []
    lines = [line for b in blocks if b["type"] == "section" for line in b["text"]["text"].split("\n")]
    assert len(lines) == 41 and all(len(line) <= LINE_MAX for line in lines)
    assert all(line.count("<") == line.count(">") for line in lines)  # no half token
    assert "&lt;b&gt;Grade 3" in lines[0] and "<b>" not in json.dumps(blocks)
    assert "(Lincoln &amp; Co)" in lines[0] and lines[-1].endswith("— <@UT3>")
    assert "district-wide" in lines[-1]
    empty_text, empty = audit_message([], scope="Lincoln & Co", since=datetime(2026, 11, 1).date(), shown=30,
                                      more=False, team_names={}, show_school=False)
    assert empty_text == "No audit entries for Lincoln &amp; Co since 2026-11-01 (UTC)." and len(empty) == 1
