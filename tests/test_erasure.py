"""Forgetting a teacher (`plcbot privacy forget`): a dry run that changes nothing, the erasure in
one transaction, their id left in exactly one audit entry, the team's figures unchanged, a
second forget refused, and the bot still working for the team afterwards. On SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import ForeignKey, select
from sqlmodel import SQLModel

from storage import cycles as cycle_store
from storage import digest as digest_store
from storage import feedback as feedback_store
from storage import personal_data as inv
from storage.erasure import ErasureError, forget_person
from storage.models import (
    AuditEntry,
    Checkin,
    CheckinRound,
    Delivery,
    Feedback,
    MeetingRecord,
    Membership,
    Person,
    SchoolLeader,
)
from storage.rules import feedback as feedback_rules
from storage.rules.digest import IsoWeek
from tests.cycle_helpers import checkin_dms
from tests.harness import BotHarness
from tests.privacy_seed import EVIDENCE, SUPPORT, TEACHER, build_history, cli_errors, dump, occurrences, run_cli

WEEKS = (IsoWeek(2026, 49), IsoWeek(2026, 50))
NEXT_ROUND = datetime(2026, 12, 10, 19, 0, tzinfo=UTC)  # week 2's check-in, 2:00 PM New York


def figures(bot: BotHarness, history) -> dict:  # noqa: ANN001
    """What the team's figures are made of: the digest's per-team rows and workbook summary,
    each check-in round's summary, and the feedback results of both meetings."""
    out: dict = {}
    with bot.db.read() as session:
        for week in WEEKS:
            digest = digest_store.build_digests(session, week, school_ids=[history.grade3.school_id],
                                                min_group_size=3)[history.grade3.school_id]
            out[week.label] = [(t.team.name, t.meetings, t.feedback.answers, t.feedback.averages, t.checkins.asked,
                                t.checkins.answered, t.checkins.rate, t.cycle, len(t.waiting), t.following_up)
                               for t in digest.teams]
        for r in session.execute(select(CheckinRound)).scalars().all():
            rows = session.execute(select(Checkin).where(Checkin.round_id == r.id)).scalars().all()
            s = cycle_store.summarize(r, list(rows))
            out[f"round {r.week}"] = (s.asked, s.answered, s.away, s.unreachable, s.counts, s.point, s.rate)
        for meeting_id in (history.thursday_meeting, history.monday_meeting):
            stored = feedback_store.to_stored(feedback_store.answers_for(session, meeting_id=meeting_id))
            summary = feedback_rules.summarize(stored, min_group_size=3, seed="figures")
            # Counts, how many chose anonymity, and averages. The text-only levels count fewer
            # comments (her words are deleted): that is the erasure.
            out[f"feedback {meeting_id}"] = (summary.count, summary.anonymous, summary.questions,
                                             [(level.level, level.average) for level in summary.levels])
    return out


def test_the_inventory_names_every_column_that_can_hold_a_person():
    """A new foreign key to person.id, or a new column named like a Slack user id, must be listed."""
    listed_keys = {(k.table, k.column) for k in inv.PERSON_KEYS}
    listed_ids = {(c.table, c.column) for c in inv.SLACK_ID_COLUMNS}
    for table in SQLModel.metadata.sorted_tables:
        for column in table.columns:
            refs = {fk.target_fullname for fk in column.foreign_keys if isinstance(fk, ForeignKey)}
            if "person.id" in refs:
                assert (table.name, column.name) in listed_keys, f"{table.name}.{column.name} is not in PERSON_KEYS"
            if (inv.is_text(column) and inv.SLACK_ID_NAMES.search(column.name)
                    and (table.name, column.name) not in inv.NOT_SLACK_IDS):
                assert (table.name, column.name) in listed_ids, f"{table.name}.{column.name} is not in SLACK_ID_COLUMNS"
    for ref in (*inv.PERSON_KEYS, *inv.SLACK_ID_COLUMNS, *inv.DM_CHANNEL_COLUMNS):
        assert ref.column in SQLModel.metadata.tables[ref.table].c, ref
    for ref in inv.AUTHORED_TEXT:
        assert ref.column in SQLModel.metadata.tables[ref.table].c and (ref.table, ref.owner) in listed_keys


def test_the_sweep_reaches_every_text_column():
    swept = {(t.name, c.name) for t, _, cols in inv.text_columns(SQLModel.metadata) for c in cols}
    assert {("auditentry", "detail"), ("delivery", "key"), ("scheduledjob", "payload"), ("agendaitem", "title"),
            ("meetingrecord", "decisions"), ("normrevision", "norms")} <= swept
    assert inv.column_limit(SQLModel.metadata.tables["delivery"].c["key"]) == 200


def test_whole_ids_only_and_mentions_lose_their_label():
    from bot.render.mrkdwn import FORGOTTEN_PREFIX, user

    assert FORGOTTEN_PREFIX == inv.TOKEN_PREFIX and user(inv.TOKEN_PREFIX + "ab12") == "a former member"
    patterns = [(inv.id_pattern("U01AB"), "forgotten-x")]
    assert inv.replace_id("checkin:3:U01AB:2", patterns) == "checkin:3:forgotten-x:2"
    assert inv.replace_id("<@U01AB|maria> and <@U01ABC>", patterns) == "<@forgotten-x> and <@U01ABC>"
    assert inv.replace_id("XU01AB U01AB9", patterns) == "XU01AB U01AB9"


def test_forget_a_teacher_everywhere_with_the_figures_unchanged(harness, monkeypatch, capsys):
    bot = harness
    history = build_history(bot)
    with bot.db.read() as session:
        maria = session.execute(select(Person).where(Person.handle == TEACHER)).scalar_one()
        dm = maria.dm_channel_id
        mine = session.execute(select(Checkin).where(Checkin.person_id == maria.id)).scalars().one()
        assert (mine.evidence, mine.support) == (EVIDENCE, SUPPORT)
        links = session.execute(select(Feedback).where(Feedback.link.is_not(None))).scalars().all()
        assert len(links) == 2  # hers and UT3's, on the Monday meeting: its window is open
    assert dm and occurrences(bot, dm)
    before = figures(bot, history)
    rows_before = dump(bot)
    held = {(t, c) for t, c, _ in occurrences(bot, TEACHER)}
    assert {("person", "handle"), ("delivery", "key"),
            ("auditentry", "detail")} <= held, held

    # The dry run says what would change, per table, and changes nothing.
    assert run_cli(bot, monkeypatch, "privacy", "forget", TEACHER) == 0
    out = capsys.readouterr().out
    assert "Dry run" in out and "Nothing was changed" in out and "--apply" in out
    for table in ("membership", "checkin", "feedback", "person", "delivery", "auditentry"):
        assert re.search(rf"^\s+{table}\s+\d", out, re.M), table
    assert "Slack's workspace admins" in out
    assert dump(bot) == rows_before

    # The erasure.
    assert run_cli(bot, monkeypatch, "privacy", "forget", TEACHER, "--apply") == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Forgot {TEACHER}:") and "their text deleted (evidence, support)" in out
    assert "named meeting feedback: unattributed" in out and "team membership and role: ended" in out
    assert "Slack's workspace admins delete those" in out and "Dry run" not in out

    # Their id (and DM channel) is nowhere but in the one audit entry recording the erasure.
    found = occurrences(bot, TEACHER)
    assert [(t, c) for t, c, _ in found] == [("auditentry", "target")], found
    assert occurrences(bot, dm) == []
    with bot.db.read() as session:
        [entry] = session.execute(select(AuditEntry).where(AuditEntry.target == TEACHER)).scalars().all()
        assert entry.action == "privacy.forget" and entry.actor_label.startswith("cli:")
        assert "forgotten-" not in entry.detail and re.search(r"checkin: \d", entry.detail)
        tomb = session.get(Person, maria.id)
        assert tomb.handle.startswith("forgotten-") and tomb.forgotten_at is not None
        assert (tomb.name, tomb.email, tomb.tz, tomb.dm_channel_id, tomb.active) == (
            "a former member", None, None, None, False)
        assert not session.execute(select(Membership).where(Membership.person_id == maria.id,
                                                            Membership.active.is_(True))).all()
        assert len(session.execute(select(Membership).where(Membership.person_id == maria.id)).all()) == 2
        assert not session.execute(select(SchoolLeader).where(SchoolLeader.person_id == maria.id)).all()
        answer = session.get(Checkin, mine.id)
        assert (answer.progress, answer.value, answer.evidence, answer.support) == ("stuck", 61.0, None, None)
        assert not session.execute(select(Feedback).where(Feedback.person_id == maria.id)).all()
        assert len(session.execute(select(Feedback).where(Feedback.link.is_not(None))).all()) == 1  # UT3's stays
        decisions = session.execute(select(MeetingRecord.decisions)).scalar_one()
        assert re.fullmatch(r"Reteach fractions; <@forgotten-[0-9a-f]{12}> shares samples", decisions), decisions
        for named in session.execute(select(Feedback).where(Feedback.person_id.is_(None),
                                                            Feedback.anonymous.is_(False))).scalars():
            assert (named.will_try, named.evidence, named.next_focus) == ("", "", "")
    if bot.db.is_sqlite:  # the file itself, old pages included, once the WAL is checkpointed
        path = bot.db_url.removeprefix("sqlite:///")
        bot.db.engine.dispose()
        conn = sqlite3.connect(path, isolation_level=None)
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        conn.close()
        raw = b"".join(p.read_bytes() for p in (Path(path), Path(path + "-wal")) if p.exists())
        assert busy == 0 and raw.count(TEACHER.encode()) == 1, raw.count(TEACHER.encode())

    # The team's figures are the same, without her name.
    assert figures(bot, history) == before

    # A second forget is refused with the date, and changes nothing.
    rows_after = dump(bot)
    assert run_cli(bot, monkeypatch, "privacy", "forget", TEACHER, "--apply") == 2
    err = capsys.readouterr().err
    [line] = cli_errors(err)
    assert "already forgotten on 2026-12-07" in line
    assert dump(bot) == rows_after

    # The bot keeps working for the team, and never addresses her.
    calls_before = len(bot.double.calls)
    bot.user("UFAC").open_home()
    bot.wait_idle()
    home = json.dumps(bot.double.home_view("UFAC"))
    assert TEACHER not in home and "forgotten-" not in home
    assert "a former member (week 1, following up)" in home  # her support request, still the team's
    bot.user("UPRIN").command("digest last", channel=history.grade3.channel)
    bot.wait_idle()
    assert "Sent to your direct messages" in bot.double.responses()[-1]["text"]
    bot.clock.set(NEXT_ROUND)
    bot.tick()
    bot.tick()
    for user_id in ("UT2", "UT3", "UFAC"):
        assert len(checkin_dms(bot, user_id)) == 2  # week 1 and week 2
    assert len(checkin_dms(bot, TEACHER)) == 1  # week 1 only
    for call in bot.double.calls[calls_before:]:
        text_of = json.dumps(call.params)
        assert TEACHER not in text_of and dm not in text_of and "forgotten-" not in text_of, (call.method, text_of)
    assert [(t, c) for t, c, _ in occurrences(bot, TEACHER)] == [("auditentry", "target")]


def test_unknown_and_malformed_ids_get_one_line_and_change_nothing(bot, monkeypatch, capsys):
    build = dump(bot)
    assert run_cli(bot, monkeypatch, "privacy", "forget", "UNOBODY1", "--apply") == 2
    err = capsys.readouterr().err
    [line] = cli_errors(err)
    assert "no person with Slack id UNOBODY1" in line
    assert run_cli(bot, monkeypatch, "privacy", "forget", "maria@school.example") == 2
    [line] = cli_errors(capsys.readouterr().err)
    assert "SLACK_USER_ID" in line
    assert dump(bot) == build


def test_forget_person_is_the_same_call_for_the_retention_job(bot):
    """The entry point the deactivated-account purge calls: dry run, apply, refusal."""
    from tests.seed import seed_team

    team = seed_team(bot)
    now = bot.clock.now()
    key = b"k" * 32
    with bot.db.session() as session:
        report = forget_person(session, "UT2", actor="system:retention", now=now, link_key=key, apply=False)
    assert not report.applied and report.counts["membership"] and report.lines()[-1].startswith("Nothing")
    with bot.db.read() as session:
        assert session.execute(select(Person).where(Person.handle == "UT2")).scalar_one().name
    dry = report
    with bot.db.session() as session:
        report = forget_person(session, "UT2", actor="system:retention", now=now, link_key=key, apply=True)
    assert report.applied and report.total > 0 and report.counts == dry.counts  # the dry run told the truth
    with bot.db.session() as session, pytest.raises(ErasureError, match="already forgotten on 2026-11-30"):
        forget_person(session, "UT2", actor="system:retention", now=now, link_key=key, apply=True)
    with bot.db.session() as session, pytest.raises(ErasureError, match="known"):
        forget_person(session, "UNOBODY", actor="x", now=now, link_key=key, apply=True)
    assert team.person_ids["UT2"]
    assert [(t, c) for t, c, _ in occurrences(bot, "UT2")] == [("auditentry", "target")]


def test_an_answer_still_owed_to_a_forgotten_person_goes_with_its_text(bot):
    """An answer owed to them and kept for a later send (`delivery.body`, with the answer's words) is
    cancelled and emptied; one sent to someone else keeps nothing to empty."""
    from tests.seed import seed_team

    team = seed_team(bot)
    now = bot.clock.now()
    body = '{"to":{"recipient":"a:chat"},"answer":{"text":"Your agenda: Reading data with Maria"}}'
    with bot.db.session() as session:
        for key, pid, state in (("command-reply:1", team.person_ids["UT2"], "pending"),
                                ("command-reply:2", team.person_ids["UT2"], "unknown"),
                                ("command-reply:3", team.person_ids["UT1"], "pending")):
            session.add(Delivery(key=key, kind="command_reply", person_id=pid, state=state, body=body,
                                 created_at=now, updated_at=now))
    with bot.db.session() as session:
        forget_person(session, "UT2", actor="test", now=now, link_key=b"k" * 32, apply=True)
    with bot.db.read() as session:
        rows = {d.key: (d.state, d.body) for d in session.execute(select(Delivery)).scalars().all()
                if d.key.startswith("command-reply:")}
    assert rows == {"command-reply:1": ("failed", None), "command-reply:2": ("failed", None),
                    "command-reply:3": ("pending", body)}


def test_an_erasure_that_fails_half_way_changes_nothing(bot, monkeypatch):
    """One transaction: a failure in the last step (the sweep) leaves every earlier step undone."""
    import storage.erasure as erasure
    from tests.seed import seed_team

    seed_team(bot)
    before = dump(bot)

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("disk full")

    monkeypatch.setattr(erasure, "_sweep", broken)
    with pytest.raises(RuntimeError), bot.db.session() as session:
        forget_person(session, "UT1", actor="cli:me", now=bot.clock.now(), link_key=b"k" * 32, apply=True)
    assert dump(bot) == before
