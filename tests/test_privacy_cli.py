"""The privacy officer and the district admin at the command line: `plcbot privacy`, `year`,
`audit`, `digest export` and `calendar` given what people really type (an e-mail for an id,
lower case, an empty `--school` from an unset shell variable, a folder for a file, a full disk).
Each is refused in one line naming the argument, with nothing changed, or does the right thing.

The CLI runs in-process (`bot.cli.main`) on the harness's database; `dump` compares every row
of every table before and after.
"""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest
from sqlmodel import select

import bot.cli.privacy as privacy_cli
from bot.cli import common
from bot.cli import main as cli_main
from storage.models import AuditEntry, School, SchoolYear
from tests.harness import BotHarness
from tests.privacy_seed import TEACHER, build_history, cli_errors, dump, occurrences, run_cli
from tests.seed import seed_team


def plain_cli(bot: BotHarness, monkeypatch, capsys, *args: str) -> tuple[int, str, str]:  # noqa: ANN001
    """`plcbot ARGS` in-process on the harness's database (the system clock: these refuse first)."""
    monkeypatch.setenv("DATABASE_URL", bot.db_url)
    monkeypatch.setenv("SLACK_API_URL", bot.double.url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", bot.double.bot_token)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        status = cli_main(["--env-file", "/dev/null", *args])
    finally:  # the CLI configures logging for a process of its own; give pytest its logging back
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    out = capsys.readouterr()
    return status, out.out, out.err


# ------------------------------------------------------------------------- an empty --school
@pytest.mark.parametrize("args", [
    ["year", "close", "--school", "", "--on", "2026-11-27"],
    ["year", "close", "--school", "   "],
    ["year", "list", "--school", ""],
    ["audit", "--school", ""],
    ["digest", "export", "--school", "", "--week", "2026-W48", "--out", "OUT/d.xlsx"],
    ["calendar", "list", "--school", ""],
])
def test_an_empty_school_name_is_refused_never_read_as_every_school(bot, monkeypatch, capsys, tmp_path, args):
    """`--school "$SCHOOL"` with the variable unset used to close (list, export) every school."""
    seed_team(bot, school="Lincoln Elementary")
    seed_team(bot, school="Roosevelt Middle", team="Grade 7", channel="CG7", facilitators=("UF7",),
              members=("UM7",), principals=("UP7",))
    out_dir = tmp_path / "out"  # the database lives in tmp_path itself
    out_dir.mkdir()
    args = [a.replace("OUT", str(out_dir)) for a in args]
    if args[:2] == ["year", "close"]:
        args += ["--out-dir", str(out_dir)]
    before = dump(bot)
    status, out, err = plain_cli(bot, monkeypatch, capsys, *args)
    assert status == 2, (out, err)
    [line] = cli_errors(err)
    assert line.startswith("plcbot: --school: the school's name is empty"), line
    assert "Traceback" not in err and out == ""
    assert dump(bot) == before and list(out_dir.iterdir()) == []


def test_an_unknown_school_lists_the_known_ones_the_same_way_everywhere(bot, monkeypatch, capsys):
    for n in range(10):
        seed_team(bot, school=f"School {n:02d}", team="Grade 3", channel=f"CS{n}", facilitators=(f"UF{n}",),
                  members=(f"UM{n}",), principals=(f"UP{n}",))
    for args in (["year", "list"], ["audit"], ["calendar", "list"], ["calendar", "remove-break"]):
        extra = ["1"] if args[-1] == "remove-break" else []
        status, _, err = plain_cli(bot, monkeypatch, capsys, *args, "--school", "Nowhere High", *extra)
        assert status == 2, args
        [line] = cli_errors(err)
        assert line == ("plcbot: --school: no school named 'Nowhere High' (known: School 00, School 01, School 02, "
                        "School 03, School 04, School 05, School 06, School 07, and 2 more)."), (args, line)


def test_year_close_out_dir_that_is_a_file_or_empty_says_so(bot, monkeypatch, capsys, tmp_path):
    seed_team(bot)
    a_file = tmp_path / "years.xlsx"
    a_file.write_bytes(b"")
    status, _, err = plain_cli(bot, monkeypatch, capsys, "year", "close", "--all", "--out-dir", str(a_file))
    assert status == 2
    assert cli_errors(err) == [f"plcbot: --out-dir: {str(a_file)!r} is a file, not a folder."]
    status, _, err = plain_cli(bot, monkeypatch, capsys, "year", "close", "--all", "--out-dir", "")
    assert status == 2 and cli_errors(err)[0].startswith("plcbot: --out-dir: the folder's name is empty")
    with bot.db.read() as s:
        assert s.exec(select(SchoolYear)).all() == []


# ------------------------------------------------------------------------- privacy export --out
def test_export_out_that_is_a_folder_or_under_a_file_is_one_line(bot, monkeypatch, capsys, tmp_path):
    build_history(bot)
    folder = tmp_path / "exports"
    (folder / "maria.xlsx").mkdir(parents=True)
    (folder / "notes.txt").write_text("x")
    before = dump(bot)
    for out, says in (
        (folder / "maria.xlsx", f"--out {str(folder / 'maria.xlsx')!r} is a folder; give a file name in it"),
        (folder / "notes.txt" / "maria.xlsx", f"--out: {str(folder / 'notes.txt')!r} is a file, not a folder."),
    ):
        assert run_cli(bot, monkeypatch, "privacy", "export", TEACHER, "--out", str(out)) == 2, out
        err = capsys.readouterr().err
        [line] = cli_errors(err)
        assert says in line and "Traceback" not in err, line
    assert dump(bot) == before
    assert sorted(p.name for p in folder.iterdir()) == ["maria.xlsx", "notes.txt"]


def test_a_full_disk_while_writing_is_one_line_leaves_no_file_and_no_audit_entry(bot, monkeypatch, capsys, tmp_path):
    build_history(bot)
    folder = tmp_path / "exports"
    folder.mkdir()

    def disk_full(data, path):  # noqa: ANN001, ANN202
        Path(path).write_bytes(b"PK half a workbook")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(privacy_cli, "write_personal_workbook", disk_full)
    before = dump(bot)
    assert run_cli(bot, monkeypatch, "privacy", "export", TEACHER, "--out", str(folder / "maria.xlsx")) == 2
    err = capsys.readouterr().err
    assert cli_errors(err) == [f"plcbot: --out: cannot write {str(folder / 'maria.xlsx')!r} "
                               "(No space left on device); nothing was exported."]
    assert "Traceback" not in err
    assert list(folder.iterdir()) == [] and dump(bot) == before


def test_an_existing_file_is_replaced_only_with_force_and_that_is_said(bot, monkeypatch, capsys, tmp_path):
    build_history(bot)
    out = tmp_path / "exports" / "maria.xlsx"
    out.parent.mkdir()
    out.write_bytes(b"old")
    before = dump(bot)
    assert run_cli(bot, monkeypatch, "privacy", "export", TEACHER, "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert cli_errors(err) == [f"plcbot: --out: {str(out)!r} already exists; choose another name, "
                               "or add --force to replace it."]
    assert out.read_bytes() == b"old" and dump(bot) == before and list(out.parent.iterdir()) == [out]
    assert run_cli(bot, monkeypatch, "privacy", "export", TEACHER, "--out", str(out), "--force") == 0
    assert f"Wrote {out} (replacing the file that was there):" in capsys.readouterr().out
    assert out.read_bytes()[:2] == b"PK"


# ------------------------------------------------------------------------- which person
def test_a_lower_case_id_is_the_slack_id(bot, monkeypatch, capsys, tmp_path):
    build_history(bot)
    out = tmp_path / "exports" / "t.xlsx"
    out.parent.mkdir()
    assert run_cli(bot, monkeypatch, "privacy", "export", f" {TEACHER.lower()} ", "--out", str(out)) == 0
    assert f"everything stored about {TEACHER}," in capsys.readouterr().out
    with bot.db.read() as s:
        [entry] = s.exec(select(AuditEntry).where(AuditEntry.action == "privacy.export")).all()
    assert entry.target == TEACHER
    assert run_cli(bot, monkeypatch, "privacy", "forget", TEACHER.lower()) == 0
    assert f"Dry run: forgetting {TEACHER} would change" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["export", "forget"])
def test_an_email_instead_of_an_id_names_the_id_and_changes_nothing(bot, monkeypatch, capsys, tmp_path, command):
    """Erasure requests arrive by e-mail: the refusal tells the officer which id to give."""
    build_history(bot)
    out = ["--out", str(tmp_path / "x.xlsx")] if command == "export" else ["--apply"]
    before = dump(bot)
    assert run_cli(bot, monkeypatch, "privacy", command, "UT1@School.example", *out) == 2
    [line] = cli_errors(capsys.readouterr().err)
    assert line == (f"plcbot: SLACK_USER_ID 'UT1@School.example' is an e-mail address; the bot knows it as "
                    f"{TEACHER}: run `plcbot privacy {command} {TEACHER} …`.")
    assert run_cli(bot, monkeypatch, "privacy", command, "nobody@school.example", *out) == 2
    [line] = cli_errors(capsys.readouterr().err)
    assert "is an e-mail address, and nobody with it is known to the bot" in line
    assert dump(bot) == before and not (tmp_path / "x.xlsx").exists()


# ------------------------------------------------------------------------- the audit entry
def test_the_export_audit_entry_does_not_keep_the_file_name_after_an_erasure(bot, monkeypatch, capsys, tmp_path):
    """Operators name the file after the person; the export's entry outlives the erasure, tied
    to the tombstone, so it must not carry the name."""
    build_history(bot)
    out = tmp_path / "exports" / "maria-garcia-export.xlsx"
    out.parent.mkdir()
    assert run_cli(bot, monkeypatch, "privacy", "export", TEACHER, "--out", str(out)) == 0
    assert run_cli(bot, monkeypatch, "privacy", "forget", TEACHER, "--apply") == 0
    capsys.readouterr()
    assert occurrences(bot, "maria-garcia") == []
    with bot.db.read() as s:
        [entry] = s.exec(select(AuditEntry).where(AuditEntry.action == "privacy.export")).all()
    assert entry.detail == "workbook written by `plcbot privacy export`"
    assert entry.actor_label == common.cli_actor()


def test_one_login_helper_for_every_cli_audit_entry(monkeypatch):
    import getpass

    monkeypatch.setattr(getpass, "getuser", lambda: "dana")
    assert common.cli_actor() == "cli:dana"

    def no_login() -> str:
        raise KeyError("getpwuid(): uid not found")

    monkeypatch.setattr(getpass, "getuser", no_login)
    assert common.operator() == "unknown"
    for module in ("privacy", "retention", "year", "digest", "calendar", "roster", "audit"):
        source = Path(__file__).resolve().parent.parent.joinpath("bot", "cli", f"{module}.py").read_text()
        assert "getpass" not in source and "def _whoami" not in source and "def _operator" not in source, module


def test_find_school_ignores_case_and_spacing(bot):
    seed_team(bot, school="Lincoln Elementary")
    with bot.db.read() as s:
        assert common.find_school(s, "  lincoln   ELEMENTARY ").name == "Lincoln Elementary"
        with pytest.raises(common.CliError, match=r"^--name: no school named 'x' \(known: Lincoln Elementary\)\.$"):
            common.find_school(s, "x", flag="--name")
        assert len(s.exec(select(School)).all()) == 1


def test_digest_export_out_that_is_a_folder_or_a_full_disk_is_one_line(bot, monkeypatch, capsys, tmp_path):
    """The digest export shares the checks: it used to end in IsADirectoryError / NotADirectoryError."""
    import bot.cli.digest as digest_cli

    seed_team(bot)
    folder = tmp_path / "exports"
    (folder / "w48.xlsx").mkdir(parents=True)
    (folder / "notes.txt").write_text("x")
    week = ["digest", "export", "--school", "Lincoln Elementary", "--week", "2026-W48", "--out"]
    before = dump(bot)
    for out, says in (
        (folder / "w48.xlsx", f"plcbot: --out {str(folder / 'w48.xlsx')!r} is a folder; give a file name in it"),
        (folder / "notes.txt" / "w.xlsx", f"plcbot: --out: {str(folder / 'notes.txt')!r} is a file, not a folder."),
    ):
        status, out_text, err = plain_cli(bot, monkeypatch, capsys, *week, str(out))
        assert status == 2 and "Traceback" not in err and out_text == "", err
        [line] = cli_errors(err)
        assert line.startswith(says), line

    def disk_full(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(digest_cli, "write_week_workbook", disk_full)
    status, _, err = plain_cli(bot, monkeypatch, capsys, *week, str(folder / "w.xlsx"))
    assert status == 2
    assert cli_errors(err) == [f"plcbot: --out: cannot write {str(folder / 'w.xlsx')!r} (No space left on device); "
                               "nothing was exported."]
    assert dump(bot) == before
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "w48.xlsx"]


def test_audit_lines_carry_no_terminal_control_characters():
    """Names and details were typed by people; printed raw, an escape sequence in a team's name
    could clear the officer's screen or rewrite the lines above it."""
    from datetime import UTC, datetime

    from bot.cli.audit import format_row
    from storage.audit_log import AuditRow

    row = AuditRow(1, datetime(2026, 11, 30, 13, 0, tzinfo=UTC), 1, "Lincoln\x1b[2J", "UFAC", "Ma\x07ria",
                   "team.rename", "team:1", "from Grade 3\x1b]0;owned\x07 to\r\nGrade 4\u202e")
    line = format_row(row, {1: "Grade\x1b[31m 4"})
    assert all(ch.isprintable() for ch in line), repr(line)
    assert "Lincoln [2J" in line and "(Grade [31m 4)" in line and "to Grade 4" in line


def test_a_person_in_no_team_is_exported_and_forgotten_with_that_said(bot, monkeypatch, capsys, tmp_path):
    """Someone who left every team still has what they gave: the export says they are in no team
    and includes it; the erasure works the same; a made-up id is refused and changes nothing."""
    team = seed_team(bot)
    bot.user("UT3").event({"type": "member_left_channel", "user": "UT3", "channel": team.channel})
    bot.wait_idle()
    out = tmp_path / "ut3.xlsx"
    assert run_cli(bot, monkeypatch, "privacy", "export", "UT3", "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert "UT3 is in no team now; what they gave in past teams is included." in printed
    assert "teams and roles: 1" in printed and out.exists()
    before = dump(bot)
    assert run_cli(bot, monkeypatch, "privacy", "export", "UNOBODY1", "--out", str(tmp_path / "n.xlsx")) == 2
    assert run_cli(bot, monkeypatch, "privacy", "forget", "UNOBODY1", "--apply") == 2
    errors = cli_errors(capsys.readouterr().err)
    assert errors == ["plcbot: no person with Slack id UNOBODY1 is known to the bot; nothing to export.",
                      errors[1]] and "UNOBODY1" in errors[1]
    assert dump(bot) == before and not (tmp_path / "n.xlsx").exists()
    assert run_cli(bot, monkeypatch, "privacy", "forget", "UT3", "--apply") == 0
    assert "Forgot UT3" in capsys.readouterr().out
