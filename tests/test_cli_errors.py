"""The command line as a new operator meets it: every command that writes a file follows the same
rules (the folder must exist, an existing file is replaced only with --force), a bad path, URL,
settings file or roster row is one line naming it with exit status 2, and nothing is written.

Most cases run in-process (`bot.cli.main`) with the output captured; the ones the issue names
literally also run as the operator types them, `python -m bot …` in a process of its own.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import bot.cli.year as year_cli
from bot.cli import main as cli_main
from bot.cli.manifest import check_http_url
from storage import migrate
from storage.rules import roster as roster_rules

HEADER = "school,team,channel,email,slack_user_id,role\n"


# ---------------------------------------------------------------------------------- helpers
@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # noqa: ANN201
    """`plcbot ARGS` in-process, with no settings file, a SQLite file in tmp_path, no Slack tokens."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'plcbot.db'}")
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_API_URL", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str, env_file: str | None = "/dev/null") -> tuple[int, str, str]:
        root = logging.getLogger()
        saved = root.handlers[:], root.level
        try:
            status = cli_main([*(["--env-file", env_file] if env_file else []), *args])
        finally:  # the CLI configures logging for a process of its own; give pytest its logging back
            root.handlers[:] = saved[0]
            root.setLevel(saved[1])
        out = capsys.readouterr()
        return status, out.out, out.err

    return run


def one_line(status: int, out: str, err: str) -> str:
    """The refusal: exit 2, one line on stderr, nothing on stdout, no traceback."""
    assert status == 2, (status, out, err)
    assert "Traceback" not in err and out == "", (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("plcbot: "), lines[0]
    return lines[0]


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>")
            for p in sorted(folder.rglob("*"))}


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (a port taken and let go again)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/"


def upgraded(tmp_path: Path) -> Path:
    path = tmp_path / "plcbot.db"
    from storage.db import Database

    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    db.dispose()
    return path


# ------------------------------------------------------------- item 5: the three named tracebacks
def _plcbot(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "DATABASE_URL": f"sqlite:///{cwd / 'plcbot.db'}"}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.skipif(not Path("/etc/passwd").is_file() or not Path("/proc/self").exists(),
                    reason="needs /etc/passwd and /proc (Linux)")
@pytest.mark.parametrize(("args", "line"), [
    (["demo", "--out", "/etc/passwd/sub"], "plcbot: --out: '/etc/passwd' is a file, not a folder."),
    (["demo", "--out", "/proc/nonexistent"],
     "plcbot: --out: cannot make the folder '/proc/nonexistent' (No such file or directory)."),
    (["db", "backup", "/etc/passwd/x.db"], "plcbot: PATH: '/etc/passwd' is a file, not a folder."),
])
def test_the_named_paths_are_one_line_not_a_traceback(tmp_path, args, line):
    if args[0] == "db":  # a database to back up, so the path is what is refused
        upgraded(tmp_path)
    before = tree(tmp_path)
    result = _plcbot(args, tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [line], result.stderr
    assert result.stdout == "" and tree(tmp_path) == before


def test_demo_paths_in_a_temporary_folder(cli, tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    is_a_file = f"plcbot: --out: {str(a_file)!r} is a file, not a folder."
    assert one_line(*cli("demo", "--out", str(a_file / "sub"))) == is_a_file
    assert one_line(*cli("demo", "--out", str(a_file))) == is_a_file
    missing = tmp_path / "no" / "such"
    assert one_line(*cli("demo", "--out", str(missing / "demo"))) == (
        f"plcbot: --out: the folder {str(missing)!r} does not exist.")
    assert one_line(*cli("demo", "--db", str(missing / "x.db"))) == (
        f"plcbot: --db: the folder {str(missing)!r} does not exist.")
    assert one_line(*cli("demo", "--db", str(tmp_path))) == (
        f"plcbot: --db {str(tmp_path)!r} is a folder; give a new file name in it, like "
        f"{str(tmp_path / 'plcbot-demo.db')!r}.")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


# ------------------------------------------------------------------ item 6: a missing folder
def test_a_missing_folder_is_an_error_for_every_command_that_writes_a_file(cli, tmp_path):
    upgraded(tmp_path)
    missing = tmp_path / "typo"
    cases = [
        (("db", "backup", str(missing / "copy.db")), "PATH"),
        (("roster", "export", str(missing / "roster.xlsx")), "FILE.xlsx"),
        (("privacy", "export", "U012ABCDEF", "--out", str(missing / "p.xlsx")), "--out"),
        (("digest", "export", "--all", "--week", "2026-W47", "--out", str(missing / "d.xlsx")), "--out"),
        (("year", "close", "--all", "--out-dir", str(missing)), "--out-dir"),
    ]
    before = tree(tmp_path)
    for args, flag in cases:
        line = one_line(*cli(*args))
        assert line == f"plcbot: {flag}: the folder {str(missing)!r} does not exist.", (args, line)
        assert not missing.exists(), args
    assert tree(tmp_path) == before


def test_a_database_folder_that_does_not_exist_is_not_created(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'data' / 'plcbot.db'}")
    for args in (("jobs",), ("db", "upgrade"), ("db", "current"), ("audit",)):
        assert one_line(*cli(*args)) == (f"plcbot: DATABASE_URL: the folder {str(tmp_path / 'data')!r} does not "
                                         "exist; create it, or fix the URL."), args
    assert not (tmp_path / "data").exists()


# ------------------------------------------------------------ item 6: an existing file and --force
def test_an_existing_file_is_replaced_only_with_force(cli, tmp_path):
    upgraded(tmp_path)
    files = {name: tmp_path / name for name in ("copy.db", "roster.xlsx", "p.xlsx", "d.xlsx")}
    for path in files.values():
        path.write_bytes(b"keep me")
    cases = [
        ("copy.db", ("db", "backup", str(files["copy.db"])), "PATH"),
        ("roster.xlsx", ("roster", "export", str(files["roster.xlsx"])), "FILE.xlsx"),
        ("p.xlsx", ("privacy", "export", "U012ABCDEF", "--out", str(files["p.xlsx"])), "--out"),
        ("d.xlsx", ("digest", "export", "--all", "--week", "2026-W47", "--out", str(files["d.xlsx"])), "--out"),
    ]
    before = tree(tmp_path)
    for name, args, flag in cases:
        assert one_line(*cli(*args)) == (f"plcbot: {flag}: {str(files[name])!r} already exists; choose another "
                                         "name, or add --force to replace it."), args
    assert tree(tmp_path) == before  # no file touched, no temporary file left, the database unchanged

    status, out, err = cli("db", "backup", str(files["copy.db"]), "--force")
    assert status == 0, err
    assert f"Backed up the database to {files['copy.db']}" in out
    with sqlite3.connect(files["copy.db"]) as copy:
        assert copy.execute("SELECT version_num FROM alembic_version").fetchall()
    status, out, err = cli("roster", "export", str(files["roster.xlsx"]), "--force")
    assert status == 0, err
    assert files["roster.xlsx"].read_bytes()[:2] == b"PK"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".plcbot-")) == []


def test_a_year_workbook_already_there_stops_the_close_before_anything_changes(bot, cli, tmp_path, monkeypatch):
    from sqlmodel import select

    from storage.models import SchoolYear
    from tests.privacy_seed import dump
    from tests.seed import seed_team

    seed_team(bot)
    monkeypatch.setenv("DATABASE_URL", bot.db_url)
    real = year_cli.services_from
    monkeypatch.setattr(year_cli, "services_from", lambda a: dataclasses.replace(real(a), clock=bot.clock))
    bot.clock.set(datetime(2027, 6, 7, 14, 0, tzinfo=UTC))  # the Monday after school ended
    out_dir = tmp_path / "years"
    out_dir.mkdir()
    status, out, err = cli("year", "close", "--school", "Lincoln Elementary", "--out-dir", str(out_dir))
    assert status == 0, err
    [workbook] = list(out_dir.iterdir())
    with bot.db.session() as session:  # undo the close, keep its workbook: as if it had failed after step 2
        for year in session.exec(select(SchoolYear)).all():
            session.delete(year)
    workbook.write_bytes(b"last year's")
    before = dump(bot)
    line = one_line(*cli("year", "close", "--school", "Lincoln Elementary", "--out-dir", str(out_dir)))
    assert line == (f"plcbot: Lincoln Elementary: --out-dir: the workbook {str(workbook)!r} already exists; "
                    "move it, choose another --out-dir, or add --force to replace it; nothing changed.")
    assert dump(bot) == before and workbook.read_bytes() == b"last year's"
    status, out, err = cli("year", "close", "--all", "--out-dir", str(out_dir))
    assert status == 1 and "refused: --out-dir: the workbook" in err
    assert dump(bot) == before and workbook.read_bytes() == b"last year's"
    status, out, err = cli("year", "close", "--school", "Lincoln Elementary", "--out-dir", str(out_dir), "--force")
    assert status == 0, err
    assert workbook.read_bytes()[:2] == b"PK" and list(out_dir.iterdir()) == [workbook]


# ------------------------------------------------------------------------------ --env-file
def test_a_missing_env_file_is_named(cli, tmp_path, monkeypatch):
    line = one_line(*cli("db", "current", env_file=str(tmp_path / "prod.env")))
    assert line == f"plcbot: --env-file {str(tmp_path / 'prod.env')!r}: no such file; nothing was done."
    line = one_line(*cli("db", "current", env_file=str(tmp_path)))
    assert line == f"plcbot: --env-file {str(tmp_path)!r}: is a folder, not a file; nothing was done."
    assert list(tmp_path.iterdir()) == []
    monkeypatch.delenv("DATABASE_URL")  # the environment wins over the file
    env = tmp_path / "prod.env"
    env.write_text(f"DATABASE_URL=sqlite:///{tmp_path / 'from-env-file.db'}\n")
    status, out, _ = cli("db", "current", env_file=str(env))
    assert status == 0 and "from-env-file.db does not exist" in out
    status, out, _ = cli("db", "current", env_file=None)  # no option: a missing .env is fine
    assert status == 0


# ------------------------------------------------------------------------------- manifest --http
@pytest.mark.parametrize(("url", "says"), [
    ("https://", "no host name"),
    ("https:///slack/events", "no host name"),
    ("https://plc example.org", "a URL has no spaces"),
    (" https://plc.example.org", "Slack only sends requests to https://"),
    ("https://plc.example.org ", "a URL has no spaces"),
    ("https://plc.example.org:99999", "the port is not a number"),
    ("https://plc.example.org:", "the port is not a number"),
    ("https://plc.example.org/?x=1", "without ?… or #…"),
    ("https://admin:pw@plc.example.org", "without a user name or password"),
    ("http://plc.example.org", "Slack only sends requests to https://"),
])
def test_a_manifest_url_without_a_host_or_with_a_space_is_refused(cli, url, says):
    line = one_line(*cli("manifest", "--http", url))
    assert line.startswith("plcbot: --http") and says in line, line


def test_good_manifest_urls_still_work():
    for url in ("https://plc.example.org", "https://plc.example.org/", "https://10.0.0.5:8443/base",
                "https://plc.example.org/slack/events"):
        assert check_http_url(url) == url


# --------------------------------------------------------------------------------- db current
def test_db_current_on_a_new_database_says_what_upgrade_would_do(cli, tmp_path):
    head = ",".join(migrate.head_revisions())
    status, out, err = cli("db", "current")
    assert (status, err) == (0, "")
    assert out == (f"No database yet: {tmp_path / 'plcbot.db'} does not exist; `plcbot db upgrade` would "
                   f"create it at revision {head}.\n")
    assert not (tmp_path / "plcbot.db").exists()  # looking did not create it
    (tmp_path / "plcbot.db").write_bytes(b"")
    status, out, err = cli("db", "current")
    assert status == 0
    assert out == f"The database is empty (no schema yet); `plcbot db upgrade` would create revision {head}.\n"
    assert "behind" not in out
    upgraded(tmp_path)
    assert cli("db", "current")[1] == f"{head} (up to date)\n"


# ------------------------------------------------------------------- item 7: roster import first
def test_roster_rows_are_checked_before_slack_is_asked(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SLACK_API_URL", closed_port_url())
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-offline")
    roster = tmp_path / "roster.csv"
    roster.write_text(HEADER + (
        "Lincoln,Grade 3,#grade-3,fay@lincoln.org,,facilitator\n"  # row 2: fine
        "Lincoln,Grade 3,#grade-3,fay.lincoln.org,,member\n"  # row 3: bad e-mail
        "Lincoln,Grade 3,#grade-3,tom@lincoln.org,,coach\n"  # row 4: unknown role
        "Lincoln,,#grade-3,ann@lincoln.org,,member\n"  # row 5: no team
        "Lincoln,Grade 3,grade-3,,u12,member\n"  # row 6: channel and id that cannot be
    ), encoding="utf-8")
    status, out, err = cli("roster", "import", str(roster), "--apply")
    assert status == 2 and out == "" and "Traceback" not in err
    assert err.splitlines() == [
        "row 3: email 'fay.lincoln.org' is not an e-mail address (like name@school.org)",
        "row 4: unknown role 'coach' (use member, facilitator or principal)",
        "row 5: team is empty (every member row names a team)",
        "row 6: channel 'grade-3' is neither a channel id (C…) nor a #name",
        "row 6: slack_user_id 'u12' is not a Slack user id (like U012ABCDEF)",
        "plcbot: 4 bad row(s) in roster.csv: nothing was imported. Fix them and run the import again.",
    ]
    assert "reach Slack" not in err
    assert not (tmp_path / "plcbot.db").exists()  # refused before even the database was opened


def test_roster_import_names_a_missing_token_then_an_unreachable_slack(cli, tmp_path, monkeypatch):
    url = closed_port_url()
    monkeypatch.setenv("SLACK_API_URL", url)
    roster = tmp_path / "roster.csv"
    roster.write_text(HEADER + "Lincoln,Grade 3,#grade-3,fay@lincoln.org,,facilitator\n", encoding="utf-8")
    line = one_line(*cli("roster", "import", str(roster)))
    assert line.startswith("plcbot: SLACK_BOT_TOKEN is not set: the import looks people up in Slack by e-mail.")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-offline")
    line = one_line(*cli("roster", "import", str(roster)))
    assert line == (f"plcbot: SLACK_API_URL: cannot reach Slack at {url} (URLError); check the network or the "
                    "URL. Nothing was imported.")


def test_row_checks_on_plain_data():
    rows = [(2, {"school": "S", "team": "T", "channel": "C1", "email": "a@b.org", "role": "member"}),
            (3, {"school": "S", "role": "principal", "email": "p@b.org", "channel": "anything"}),
            (4, {"school": "S", "team": "T", "email": "a@b", "role": "member", "meeting_day": "Funday",
                 "meeting_time": "25:00", "timezone": "Mars/Base"})]
    assert [str(e) for e in roster_rules.check_rows(rows)] == [
        "row 4: email 'a@b' is not an e-mail address (like name@school.org)",
        "row 4: meeting_day 'funday' is not a weekday (use names like mon, thu or Monday)",
        "row 4: meeting_time '25:00' is not a time of day",
        "row 4: timezone 'Mars/Base' is not a time zone (use a name like America/Chicago)",
    ]


# ------------------------------------------------------------------------ every --help, bad args
GROUPS = [[], ["run"], ["scheduler"], ["manifest"], ["db"], ["db", "upgrade"], ["db", "current"], ["db", "backup"],
          ["jobs"], ["jobs", "run"], ["jobs", "settle"], ["roster"], ["roster", "import"], ["roster", "export"],
          ["calendar"],
          ["calendar", "add-break"], ["calendar", "list"], ["calendar", "remove-break"], ["digest"],
          ["digest", "export"], ["privacy"], ["privacy", "export"], ["privacy", "forget"], ["privacy", "purge"],
          ["year"], ["year", "close"], ["year", "list"], ["audit"], ["demo"]]


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: " ".join(g) or "plcbot")
def test_every_help_works(group, capsys):
    with pytest.raises(SystemExit) as done:
        cli_main([*group, "--help"])
    assert done.value.code == 0
    assert "usage: plcbot" in capsys.readouterr().out


@pytest.mark.parametrize("args", [
    ["db", "backup", ""], ["roster", "export", ""], ["privacy", "export", "U012ABCDEF", "--out", ""],
    ["digest", "export", "--all", "--week", "2026-W99", "--out", "x.xlsx"],
    ["digest", "export", "--all", "--week", "banana", "--out", "x.xlsx"],
    ["roster", "import", "."], ["roster", "import", "missing.csv"], ["demo", "--db", "."],
    ["year", "close", "--all", "--on", "yesterday"], ["audit", "--limit", "-3"],
])
def test_bad_arguments_are_one_line_naming_the_field(cli, tmp_path, args):
    line = one_line(*cli(*args))
    assert any(word in line for word in ("PATH", "FILE", "--out", "--week", "--db", "--on", "--limit",
                                         "missing.csv")), line
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["nosuch"], ["db"], ["jobs", "run", "abc"], ["jobs", "settle", "k"],
                                  ["jobs", "settle", "k", "--arrived", "--not-arrived"], ["demo", "--out", ""],
                                  ["privacy", "export"], ["year", "close"]])
def test_argparse_refusals_exit_2_without_a_traceback(args, capsys):
    with pytest.raises(SystemExit) as done:
        cli_main(args)
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error:" in err
