"""Settings, and the command line as an operator meets it: clear one-line errors, no secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from bot import manifest
from bot.cli import main
from bot.settings import SettingError, from_env

ROOT = Path(__file__).resolve().parents[1]
SECRET = "xoxb-0000-SUPERSECRET-token"


def _plcbot(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": os.environ["PATH"], "HOME": str(cwd), **env}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=clean, capture_output=True,
                          text=True, timeout=60, check=False)


def test_defaults_need_nothing():
    settings = from_env({})
    assert settings.database_url == "sqlite:///plcbot.db"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert not settings.socket_mode


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"SLACK_BOT_TOKEN": "xoxp-user-token"}, "SLACK_BOT_TOKEN"),
        ({"SLACK_APP_TOKEN": "xoxb-wrong"}, "SLACK_APP_TOKEN"),
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"PLCBOT_TIMEZONE": "Mars/Olympus"}, "PLCBOT_TIMEZONE"),
        ({"PLCBOT_ADMINS": "alice,U123ABC"}, "PLCBOT_ADMINS"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"SLACK_API_URL": "ftp://slack"}, "SLACK_API_URL"),
        ({"PLCBOT_SCHOOL_HOURS": "Fri-Mon 07:00-18:00"}, "PLCBOT_SCHOOL_HOURS"),
        ({"PLCBOT_SCHOOL_HOURS": "Mon-Fri 18:00-07:00"}, "PLCBOT_SCHOOL_HOURS"),
        ({"PLCBOT_MIN_GROUP_SIZE": "2"}, "PLCBOT_MIN_GROUP_SIZE"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ],
)
def test_each_bad_setting_is_named(env, name):
    with pytest.raises(SettingError) as err:
        from_env(env)
    assert err.value.name == name
    assert str(err.value).startswith(name)


def test_secrets_are_masked_in_repr():
    settings = from_env({"SLACK_BOT_TOKEN": SECRET, "SLACK_SIGNING_SECRET": "sign-me-0123456789"})
    assert SECRET not in repr(settings) and "sign-me" not in str(settings)


def test_run_without_tokens_says_what_to_do(tmp_path):
    result = _plcbot(["run"], {}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "SLACK_BOT_TOKEN" in lines[0]
    assert "Traceback" not in result.stderr


def test_run_with_a_malformed_setting_from_dotenv(tmp_path):
    (tmp_path / ".env").write_text(f"SLACK_BOT_TOKEN={SECRET}\nSLACK_SIGNING_SECRET=abc\nPORT=abc\n")
    result = _plcbot(["run"], {}, tmp_path)
    assert result.returncode == 2
    assert "PORT" in result.stderr and "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_wrong_kind_of_token_is_not_echoed(tmp_path):
    result = _plcbot(["run"], {"SLACK_BOT_TOKEN": "xoxp-PASTED-USER-TOKEN"}, tmp_path)
    assert result.returncode == 2
    assert "PASTED" not in result.stderr


def test_refused_token_is_reported_without_the_token(tmp_path):
    from bot.slack_double import SlackDouble

    with SlackDouble() as double:
        env = {"SLACK_BOT_TOKEN": SECRET, "SLACK_SIGNING_SECRET": "s3cret-signing-value",
               "SLACK_API_URL": double.url, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
        result = _plcbot(["run"], env, tmp_path)
    assert result.returncode == 2
    assert "invalid_auth" in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_commands_that_need_no_slack_run_without_tokens(tmp_path, capsys):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'plc.db'}"}
    assert _plcbot(["manifest"], env, tmp_path).returncode == 0
    up = _plcbot(["db", "upgrade"], env, tmp_path)
    assert up.returncode == 0, up.stderr
    assert "Upgraded the schema" in up.stdout
    again = _plcbot(["db", "upgrade"], env, tmp_path)
    assert "up to date" in again.stdout
    jobs = _plcbot(["jobs"], env, tmp_path)
    assert jobs.returncode == 0 and "No scheduled work" in jobs.stdout


def test_manifest_matches_the_committed_copy():
    committed = (ROOT / "manifest.json").read_text()
    assert committed == manifest.render(), "run `plcbot manifest > manifest.json` and commit it"


def test_manifest_modes(capsys):
    assert main(["manifest"]) == 0
    socket = json.loads(capsys.readouterr().out)
    assert socket["settings"]["socket_mode_enabled"] is True
    assert socket["features"]["slash_commands"][0]["command"] == "/plc"
    assert main(["manifest", "--http", "https://plc.example.org"]) == 0
    http = json.loads(capsys.readouterr().out)
    assert http["settings"]["socket_mode_enabled"] is False
    assert http["settings"]["event_subscriptions"]["request_url"] == "https://plc.example.org/slack/events"
    assert main(["manifest", "--http", "http://insecure"]) == 2


def test_backup_while_a_reader_holds_a_transaction(tmp_path, capsys):
    from storage import migrate
    from storage.clock import FakeClock
    from storage.db import Database
    from storage.models import School
    from tests.harness import START

    url = f"sqlite:///{tmp_path / 'plc.db'}"
    db = Database(url, clock=FakeClock(START))
    migrate.upgrade(db)
    with db.session() as session:
        session.add(School(name="Lincoln", timezone="America/Chicago"))
    # While a connection holds a read transaction open, the backup still succeeds.
    import sqlite3

    reader = sqlite3.connect(str(tmp_path / "plc.db"), isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT * FROM school").fetchall()
    target = tmp_path / "copy.db"
    os.environ["DATABASE_URL"] = url
    try:
        assert main(["db", "backup", str(target)]) == 0
        assert main(["db", "backup", str(target)]) == 2  # never overwrites
    finally:
        del os.environ["DATABASE_URL"]
        reader.close()
    copy = Database(f"sqlite:///{target}")
    with copy.read() as session:
        assert [s.name for s in session.exec(select(School)).all()] == ["Lincoln"]


def test_a_command_line_run_prints_only_its_own_lines(tmp_path):
    """No library chatter on stderr: the schema upgrade a command does first is silent there,
    while `plcbot run` (at INFO) still logs it."""
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'plcbot.db'}"}
    first = _plcbot(["audit"], env, tmp_path)  # creates the schema
    again = _plcbot(["audit"], env, tmp_path)
    assert first.returncode == again.returncode == 0
    assert first.stderr == again.stderr == ""
    assert "No audit entries match" in again.stdout
