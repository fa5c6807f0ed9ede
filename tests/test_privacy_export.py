"""A teacher's own data: `/plc privacy export` over Slack (ack at once, one DM with the workbook
however often Slack retries, audited) and `plcbot privacy export` on the server, each workbook
read back sheet by sheet."""

from __future__ import annotations

import io
import json
import time
from datetime import date, datetime
from pathlib import Path

from openpyxl import load_workbook
from sqlmodel import select

from storage.models import AuditEntry, Delivery
from storage.teams import audit_actor
from tests.privacy_seed import EVIDENCE, SUPPORT, TEACHER, build_history, cli_errors, dump, run_cli

SHEETS = ["About you", "Teams and roles", "Check-ins", "Support requests", "Named feedback", "Action items",
          "Norm commitments", "Meetings attended", "Agenda items", "Other records"]


def _rows(ws) -> list[tuple]:  # noqa: ANN001
    return [tuple(r) for r in ws.iter_rows(min_row=2, values_only=True)]


def check_workbook(content: bytes) -> None:
    """Everything of Maria's two weeks, and nothing anonymous."""
    book = load_workbook(io.BytesIO(content))
    assert book.sheetnames == SHEETS
    for name in SHEETS:
        ws = book[name]
        assert ws.freeze_panes == "A2", name
        # Printable: landscape, one page wide, the header on every page.
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1, name
        assert ws.print_title_rows == "$1:$1", name
    about = dict(_rows(book["About you"]))
    assert about["Slack user id"] == TEACHER and about["Name"] == "Teacher UT1"
    assert about["E-mail"] == "ut1@school.example" and about["Time zone"] == "America/New_York"
    assert about["Account"] == "active"
    # A date cell with a date format, not the text "2026-11-30 09:00"
    ws = book["About you"]
    [since] = [r for r in ws.iter_rows(min_row=2) if r[0].value == "Known to the bot since"]
    assert isinstance(since[1].value, datetime) and since[1].is_date and since[1].number_format.startswith("yyyy-mm-dd")
    assert isinstance(about["Exported at"], datetime)
    assert "cannot tell which anonymous answers are yours" in about["Anonymous feedback"]

    teams = {(r[1], r[2], r[3]) for r in _rows(book["Teams and roles"])}
    assert teams == {("Grade 3", "member", "yes"), ("Math", "member", "yes")}
    math_since = next(r[4] for r in _rows(book["Teams and roles"]) if r[1] == "Math")
    assert isinstance(math_since, datetime) and math_since.date() == date(2026, 11, 30)

    [checkin] = _rows(book["Check-ins"])
    # The stored codes in words, as the digest and the check-in DM say them.
    assert checkin[:9] == ("Lincoln Elementary", "Grade 3", "Fractions", 1, datetime(2026, 12, 3), "answered",
                           "Stuck, I'd like support", 61, "%")
    assert (checkin[9], checkin[10]) == (EVIDENCE, SUPPORT)  # a leading "=" stays text
    ws = book["Check-ins"]
    assert ws.cell(row=2, column=10).data_type == "s"
    assert checkin[11].date() == date(2026, 12, 3) and checkin[11].hour == 14  # 2 PM in New York, not UTC

    [support] = _rows(book["Support requests"])
    assert support[4] == "following up" and support[6] == "Teacher UFAC" and support[8] == SUPPORT

    [named] = _rows(book["Named feedback"])
    assert named[2] == datetime(2026, 12, 3, 15, 30) and named[4:7] == (4, 5, 3)
    assert named[7] == "Number lines every morning"
    everything = json.dumps([_rows(book[n]) for n in SHEETS], default=str)
    assert "Anonymous idea" not in everything  # her anonymous answer is not hers to the bot

    actions = {r[2]: r[3] for r in _rows(book["Action items"])}
    assert actions == {"Share the exit tickets": "owner", "Bring the unit 4 data": "created it"}
    assert [r[2] for r in _rows(book["Norm commitments"])] == [1]
    [attended] = _rows(book["Meetings attended"])
    assert attended[2] == datetime(2026, 12, 3, 15, 30) and attended[4] == "present"
    records = [r[0] for r in _rows(book["Other records"])]
    assert "messages the bot sent you: check-ins" in records
    # Audit entries in words, their target by name: no "member.add", no "team:5".
    added = [r for r in _rows(book["Other records"]) if r[0].startswith("a change in the audit log: added to a team")]
    assert added and all(r[2].startswith("the team ") for r in added), added
    assert not any("." in r.split(": ", 1)[1].split(" (by")[0] for r in records if "audit log" in r), records


def test_a_teacher_gets_their_data_by_dm_once_however_often_slack_retries(bot, monkeypatch):
    history = build_history(bot)
    monkeypatch.setattr(bot.double, "new_trigger_id", lambda user_id=None: "1234.5678.retried")
    files_before, answered_before = len(bot.double.files), len(bot.double.responses())
    started = time.monotonic()
    reply = bot.user(TEACHER).command("privacy export", channel=history.math.channel)
    assert reply.status == 200 and time.monotonic() - started < 3
    bot.wait_idle()
    [ack] = bot.double.responses()[answered_before:]  # nothing but the acknowledgement: it went well
    assert "sending it to your DMs" in ack["text"]
    # Slack retries the same request (same trigger id): still one message, one file.
    bot.user(TEACHER).command("privacy export", channel=history.math.channel,
                              headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    bot.wait_idle()
    dms = [m for m in bot.double.messages(TEACHER) if "everything the PLC bot stores" in m.get("text", "")]
    assert len(dms) == 1
    text = json.dumps(dms[0]["blocks"])
    assert "Grade 3" in text and "Math" in text and "check-ins: 1" in text and "Anonymous feedback is not" in text
    files = bot.double.files[files_before:]
    assert len(files) == 1 and files[0]["name"].startswith("My PLC data - Teacher UT1 - 2026-12-07")
    assert files[0]["channel_id"] == bot.double.dm_channel_id(TEACHER)
    check_workbook(files[0]["content"])
    with bot.db.read() as session:
        entries = session.exec(select(AuditEntry).where(AuditEntry.action == "privacy.export")).all()
        assert [(audit_actor(session, e), e.target) for e in entries] == [(TEACHER, TEACHER)]
    assert SUPPORT not in entries[0].detail and "Fractions" not in entries[0].detail  # never the contents


def test_someone_the_bot_does_not_know_is_told_so_and_gets_nothing(bot):
    build_history(bot)
    bot.double.add_user("UNEW", name="new", real_name="New Teacher")
    before = dump(bot)
    bot.user("UNEW").command("privacy export", channel="CGRADE3")
    bot.wait_idle()
    assert "stores nothing about you" in bot.double.responses()[-1]["text"]
    assert bot.double.messages("UNEW") == [] and dump(bot) == before


def test_an_admin_exports_a_teacher_from_the_command_line(bot, monkeypatch, capsys, tmp_path):
    build_history(bot)
    tmp_path = tmp_path / "exports"  # the database lives in tmp_path itself
    tmp_path.mkdir()
    out = tmp_path / "maria.xlsx"
    assert run_cli(bot, monkeypatch, "privacy", "export", TEACHER, "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert f"Wrote {out}" in printed and "Anonymous feedback is not in it" in printed
    check_workbook(out.read_bytes())
    assert [p.name for p in tmp_path.iterdir()] == ["maria.xlsx"]  # no temporary file left
    with bot.db.read() as session:
        [entry] = session.exec(select(AuditEntry).where(AuditEntry.action == "privacy.export")).all()
    assert entry.actor_id is None and entry.actor_label.startswith("cli:") and entry.target == TEACHER

    before = dump(bot)
    for argv, says in (
        (["UNOBODY1", "--out", str(tmp_path / "x.xlsx")], "no person with Slack id UNOBODY1"),
        (["maria", "--out", str(tmp_path / "x.xlsx")], "SLACK_USER_ID 'maria' is not a Slack user id"),
        ([TEACHER, "--out", str(tmp_path / "x.csv")], "must be an .xlsx"),
        ([TEACHER, "--out", str(tmp_path / "missing" / "x.xlsx")], "does not exist"),
    ):
        assert run_cli(bot, monkeypatch, "privacy", "export", *argv) == 2, argv
        [line] = cli_errors(capsys.readouterr().err)
        assert says in line, line
    assert dump(bot) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["maria.xlsx"]
    assert Path(out).stat().st_size > 0


def test_every_kind_of_record_the_erasure_touches_has_a_sheet_in_the_export():
    """One inventory for both: what `forget` erases, the export hands over (storage/personal_data.py)."""
    from bot.render.personal_workbook import COLUMNS
    from storage import personal_data as inv

    assert list(COLUMNS) == list(inv.SHEETS) == SHEETS[1:]
    for ref in (*inv.PERSON_KEYS, *inv.SLACK_ID_COLUMNS, *inv.DM_CHANNEL_COLUMNS):
        assert ref.sheet in COLUMNS, ref


# Every kind of message the bot sends through its ledger (scheduling.delivery.deliver, kind=…).
MESSAGE_KINDS = ("checkin", "checkin_reminder", "checkin_summary", "checkin_failures", "support", "cycle_reflection",
                 "cycle_started", "cycle_closed", "cycle_note", "feedback_prompt", "agenda", "action_item",
                 "meeting_log", "norms", "team_join", "team_share_names", "digest", "digest-file", "privacy_export",
                 "command_reply", "command_interrupted")


def test_the_export_names_the_bots_messages_in_a_teachers_words(bot):
    from bot.render.personal_workbook import write_personal_workbook
    from storage import personal_data

    build_history(bot)
    now = bot.clock.now()
    with bot.db.session() as session:
        teacher = personal_data.find_person(session, TEACHER)
        assert teacher is not None
        for kind in (*MESSAGE_KINDS, "some_new_kind"):
            session.add(Delivery(key=f"test:{kind}", kind=kind, person_id=teacher.id, state="sent",
                                 created_at=now, updated_at=now))
    with bot.db.read() as session:
        person = personal_data.find_person(session, TEACHER)
        assert person is not None
        buffer = io.BytesIO()
        write_personal_workbook(personal_data.collect(session, person, now=now), buffer)
    records = [r[0] for r in _rows(load_workbook(buffer)["Other records"])]
    messages = [r for r in records if r.startswith("messages the bot sent you: ")]
    assert len(messages) == len(MESSAGE_KINDS) + 1
    words = {m.removeprefix("messages the bot sent you: ") for m in messages}
    assert {"check-ins", "action item reminders", "meeting feedback prompts", "weekly digests",
            "check-in reminders", "some new kind messages", "answers to commands you typed to the bot"} <= words
    for kind in MESSAGE_KINDS:
        assert kind not in words
    assert not any("_" in w or "-file" in w for w in words), words  # no internal names left
