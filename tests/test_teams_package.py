"""The Teams app package and the Teams settings.

`plcbot teams package` is run as the operator runs it (`bot.cli.main`); the zip it writes is
opened, its manifest validated against Microsoft's published schema (tests/schemas/teams/) with
`jsonschema`, and its icons read back from their PNG bytes. The settings' checks are driven
through `from_env` and the `require_*` methods `plcbot run` and the package command call.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

from bot.cli import main as cli_main
from bot.settings import SettingError, from_env
from bot.teams import manifest as teams_manifest

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "tests/schemas/teams/MicrosoftTeams.schema.json").read_text(encoding="utf-8"))
CLIENT_ID = "1b2c3d4e-0000-4000-8000-00000000000a"
TENANT_ID = "11111111-2222-4333-8444-555555555555"
SECRET = "Q~teams-SUPERSECRET-value.0123456789abcd"
PUBLIC = "https://plc.example.org"
TEAMS_ENV = ("TEAMS_CLIENT_ID", "TEAMS_CLIENT_SECRET", "TEAMS_TENANT_ID", "TEAMS_PORT", "TEAMS_PUBLIC_URL",
             "TEAMS_PRIVACY_URL", "TEAMS_TERMS_URL", "TEAMS_OPENID_METADATA_URL", "TEAMS_LOGIN_URL")


# ---------------------------------------------------------------------------------- helpers
@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # noqa: ANN201
    """`plcbot ARGS` in-process in tmp_path, no settings file, the Teams settings given as `env`."""
    monkeypatch.chdir(tmp_path)
    for name in (*TEAMS_ENV, "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        for name in TEAMS_ENV:
            monkeypatch.delenv(name, raising=False)
        for name, value in (env if env is not None else {"TEAMS_CLIENT_ID": CLIENT_ID,
                                                          "TEAMS_PUBLIC_URL": PUBLIC}).items():
            monkeypatch.setenv(name, value)
        root = logging.getLogger()
        saved = root.handlers[:], root.level
        try:
            status = cli_main(["--env-file", "/dev/null", *args])
        finally:
            root.handlers[:] = saved[0]
            root.setLevel(saved[1])
        out = capsys.readouterr()
        return status, out.out, out.err

    return run


def one_line(status: int, out: str, err: str) -> str:
    assert status == 2, (status, out, err)
    assert "Traceback" not in err and out == "", (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    """Microsoft's schema, draft-04, format checking off; `const` is draft-06, so the version by hand."""
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in Draft4Validator(SCHEMA).iter_errors(manifest)]
    if manifest.get("manifestVersion") != "1.29":
        errors.append(f"manifestVersion: {manifest.get('manifestVersion')!r} is not '1.29'")
    return errors


def read_png(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, colour type, rows) of an 8-bit PNG, every chunk's CRC checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF, tag
        chunks.append((tag, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert depth == 8 and interlace == 0
    channels = {2: 3, 6: 4}[colour]
    raw = zlib.decompress(b"".join(body for tag, body in chunks if tag == b"IDAT"))
    stride = 1 + width * channels
    assert len(raw) == stride * height
    rows = []
    for y in range(height):
        assert raw[y * stride] == 0, "only filter type 0 is read here"
        rows.append(raw[y * stride + 1:(y + 1) * stride])
    return width, height, colour, rows


@pytest.fixture
def package(cli, tmp_path: Path) -> zipfile.ZipFile:
    status, out, err = cli("teams", "package", "--out", str(tmp_path / "plcbot-teams.zip"))
    assert status == 0, err
    assert "plcbot-teams.zip" in out and CLIENT_ID in out
    return zipfile.ZipFile(tmp_path / "plcbot-teams.zip")


# ------------------------------------------------------------------------------- the package
def test_the_package_holds_a_manifest_valid_against_microsofts_schema(package):
    assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]  # all at the top
    manifest = json.loads(package.read("manifest.json"))
    assert schema_errors(manifest) == []
    assert manifest["manifestVersion"] == "1.29"
    assert manifest["$schema"].endswith("/v1.29/MicrosoftTeams.schema.json")
    assert manifest["id"] == teams_manifest.app_id(CLIENT_ID) != CLIENT_ID
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    [bot] = manifest["bots"]
    assert bot["botId"] == CLIENT_ID
    assert sorted(bot["scopes"]) == ["groupChat", "personal", "team"]
    assert bot["supportsFiles"] is True and bot["isNotificationOnly"] is False
    assert sorted(s for lst in bot["commandLists"] for s in lst["scopes"]) == ["groupChat", "personal", "team"]
    assert manifest["validDomains"] == ["plc.example.org"]
    assert manifest["developer"]["privacyUrl"] == PUBLIC
    # No permission the bot does not use (see bot/teams/manifest.py's docstring).
    assert "authorization" not in manifest and "webApplicationInfo" not in manifest


def test_the_icons_are_the_sizes_and_kinds_teams_asks_for(package):
    width, height, colour, rows = read_png(package.read("color.png"))
    assert (width, height, colour) == (192, 192, 2)  # full colour, opaque
    assert len({row[i:i + 3] for row in rows for i in range(0, len(row), 3)}) > 2  # a mark, not a blank
    width, height, colour, rows = read_png(package.read("outline.png"))
    assert (width, height, colour) == (32, 32, 6)
    pixels = [row[i:i + 4] for row in rows for i in range(0, len(row), 4)]
    assert all(p[:3] == b"\xff\xff\xff" for p in pixels), "the outline icon is white on transparent only"
    alphas = [p[3] for p in pixels]
    assert alphas.count(0) > 300 and alphas.count(255) > 50  # mostly transparent, with a solid mark
    assert alphas[0] == alphas[31] == alphas[-1] == 0  # transparent corners


def test_the_same_settings_give_the_same_bytes_and_id(cli, tmp_path):
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    assert cli("teams", "package", "--out", str(first))[0] == 0
    assert cli("teams", "package", "--out", str(second))[0] == 0
    assert first.read_bytes() == second.read_bytes()
    other = json.loads(teams_manifest.render(from_env({"TEAMS_CLIENT_ID": TENANT_ID, "TEAMS_PUBLIC_URL": PUBLIC}),
                                             version="1.0.0"))
    assert other["id"] == teams_manifest.app_id(TENANT_ID) != teams_manifest.app_id(CLIENT_ID)


def test_settings_reach_the_manifest(cli, tmp_path):
    env = {"TEAMS_CLIENT_ID": CLIENT_ID.upper(), "TEAMS_PUBLIC_URL": "https://bots.district.k12.us:8443/plc/",
           "TEAMS_PRIVACY_URL": "https://district.k12.us/staff-privacy",
           "TEAMS_TERMS_URL": "https://district.k12.us/acceptable-use"}
    out = tmp_path / "p.zip"
    assert cli("teams", "package", "--out", str(out), "--version", "2.3.4", env=env)[0] == 0
    manifest = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    assert schema_errors(manifest) == []
    assert manifest["version"] == "2.3.4"
    assert manifest["bots"][0]["botId"] == CLIENT_ID  # Entra shows lower case; tokens carry it so
    assert manifest["validDomains"] == ["bots.district.k12.us"]
    assert manifest["developer"] == {"name": "plcbot", "websiteUrl": "https://bots.district.k12.us:8443/plc",
                                     "privacyUrl": "https://district.k12.us/staff-privacy",
                                     "termsOfUseUrl": "https://district.k12.us/acceptable-use"}


def _valid_manifest() -> dict[str, Any]:
    return teams_manifest.build(from_env({"TEAMS_CLIENT_ID": CLIENT_ID, "TEAMS_PUBLIC_URL": PUBLIC}),
                                version="1.0.0")


@pytest.mark.parametrize("break_it", [
    lambda m: m["bots"][0].__setitem__("botId", "plcbot"),
    lambda m: m.__setitem__("accentColor", "navy"),
    lambda m: m.pop("developer"),
    lambda m: m["developer"].__setitem__("privacyUrl", "plc.example.org/privacy"),
    lambda m: m["bots"][0].__setitem__("scopes", ["personal", "channel"]),
    lambda m: m["bots"][0].__setitem__("supportsFile", True),  # a misspelt key
    lambda m: m["name"].__setitem__("short", "plcbot, Professional Learning Communities"),
    lambda m: m["bots"][0]["commandLists"].append({"scopes": ["personal"], "commands": []}),
    lambda m: m.__setitem__("manifestVersion", "1.17"),
], ids=["botId", "accentColor", "developer", "privacyUrl", "scope", "misspelt", "short name", "4 lists",
        "version"])
def test_a_broken_manifest_fails_the_check(break_it):
    """The check means something: each of these mistakes is caught."""
    manifest = _valid_manifest()
    assert schema_errors(manifest) == []
    broken = copy.deepcopy(manifest)
    break_it(broken)
    assert schema_errors(broken) != []


def _router_subcommands() -> set[str]:
    """The real `/plc` subcommands, from registering every feature against a stand-in Bolt app."""
    from handlers.wiring import register_all

    class AnyApp:
        def __getattr__(self, name: str) -> Any:
            def register(*args: Any, **kwargs: Any) -> Any:
                if len(args) == 1 and callable(args[0]) and not kwargs:
                    return args[0]
                return lambda listener: listener

            return register

    return set(register_all(AnyApp(), None).router.subcommands)  # type: ignore[arg-type]


def test_the_command_lists_are_slacks_subcommands_within_teams_limits():
    lists = {"team": teams_manifest.TEAM_COMMANDS, "personal": teams_manifest.PERSONAL_COMMANDS}
    for scope, commands in lists.items():
        assert len(commands) <= teams_manifest.MAX_COMMANDS == 10, scope
        titles = [c.title for c in commands]
        assert len(titles) == len(set(titles)), scope
        for c in commands:
            assert len(c.title) <= 32 and len(c.description) <= 128, c
            assert c.title == c.title.strip().lower() and " " not in c.title, c
    subcommands = _router_subcommands()
    offered = {c.title for commands in lists.values() for c in commands}
    # Every title is something the bot answers (`home` is Teams' Home tab: the dashboard in the chat)...
    assert offered - subcommands == {"home"}
    # ...and every `/plc` subcommand is offered in one of the menus.
    assert subcommands - offered == set()
    manifest = _valid_manifest()
    by_scope = {lst["scopes"][0]: [c["title"] for c in lst["commands"]] for lst in manifest["bots"][0]["commandLists"]}
    assert by_scope["team"] == by_scope["groupChat"] == [c.title for c in teams_manifest.TEAM_COMMANDS]


# --------------------------------------------------------------------------------- the CLI
def test_without_teams_client_id_the_package_is_refused_naming_it(cli, tmp_path):
    line = one_line(*cli("teams", "package", "--out", str(tmp_path / "p.zip"), env={"TEAMS_PUBLIC_URL": PUBLIC}))
    assert "TEAMS_CLIENT_ID" in line and "is not set" in line
    line = one_line(*cli("teams", "package", "--out", str(tmp_path / "p.zip"), env={"TEAMS_CLIENT_ID": CLIENT_ID}))
    assert "TEAMS_PUBLIC_URL" in line
    assert list(tmp_path.iterdir()) == []


def test_a_malformed_client_id_is_refused_naming_it(cli, tmp_path):
    line = one_line(*cli("teams", "package", "--out", str(tmp_path / "p.zip"),
                         env={"TEAMS_CLIENT_ID": "plcbot", "TEAMS_PUBLIC_URL": PUBLIC}))
    assert line.startswith("plcbot: setting TEAMS_CLIENT_ID") and "GUID" in line
    assert list(tmp_path.iterdir()) == []


def test_the_folder_must_exist(cli, tmp_path):
    line = one_line(*cli("teams", "package", "--out", str(tmp_path / "nosuch" / "p.zip")))
    assert "--out" in line and "does not exist" in line
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_replaced_only_with_force(cli, tmp_path):
    out = tmp_path / "plcbot-teams.zip"
    out.write_bytes(b"keep me")
    line = one_line(*cli("teams", "package", "--out", str(out)))
    assert "--out" in line and "already exists" in line and "--force" in line
    assert out.read_bytes() == b"keep me"
    status, _, err = cli("teams", "package", "--out", str(out), "--force")
    assert status == 0, err
    assert zipfile.is_zipfile(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plcbot-teams.zip"]  # no temporary file left


@pytest.mark.parametrize(("args", "says"), [
    (["--out", "p.txt"], ".zip"),
    (["--out", ""], "empty"),
    (["--out", "."], ".zip"),
    (["--version", "1.0"], "--version"),
    (["--version", "01.2.3"], "--version"),
])
def test_bad_arguments_are_one_line(cli, tmp_path, args, says):
    line = one_line(*cli("teams", "package", *args))
    assert says in line
    assert list(tmp_path.iterdir()) == []


def test_a_folder_is_never_taken_for_the_file(cli, tmp_path):
    (tmp_path / "plcbot-teams.zip").mkdir()
    line = one_line(*cli("teams", "package", "--out", str(tmp_path / "plcbot-teams.zip")))
    assert "is a folder" in line
    assert [p.name for p in tmp_path.iterdir()] == ["plcbot-teams.zip"]


def test_the_default_name_in_the_current_folder(cli, tmp_path):
    assert cli("teams", "package")[0] == 0
    assert zipfile.is_zipfile(tmp_path / "plcbot-teams.zip")


@pytest.mark.parametrize("group", [["teams"], ["teams", "package"]])
def test_help_works(group, capsys):
    with pytest.raises(SystemExit) as done:
        cli_main([*group, "--help"])
    assert done.value.code == 0
    assert "usage: plcbot" in capsys.readouterr().out


def test_as_the_operator_types_it(tmp_path):
    """`python -m bot teams package` in a process of its own: refused with one line, then written."""
    clean = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}

    def plcbot(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot", "teams", "package", "--out", "plcbot-teams.zip"],
                              cwd=tmp_path, env={**clean, **env}, capture_output=True, text=True, timeout=60,
                              check=False, )

    refused = plcbot({"PYTHONPATH": str(ROOT)})
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [refused.stderr.strip()] and "TEAMS_CLIENT_ID" in refused.stderr
    (tmp_path / ".env").write_text(f"TEAMS_CLIENT_ID={CLIENT_ID}\nTEAMS_PUBLIC_URL={PUBLIC}\n"
                                   f"TEAMS_CLIENT_SECRET={SECRET}\nTEAMS_TENANT_ID={TENANT_ID}\n")
    written = plcbot({"PYTHONPATH": str(ROOT)})
    assert written.returncode == 0, written.stderr
    assert SECRET not in written.stdout + written.stderr
    assert SECRET.encode() not in (tmp_path / "plcbot-teams.zip").read_bytes()  # the secret stays out
    with zipfile.ZipFile(io.BytesIO((tmp_path / "plcbot-teams.zip").read_bytes())) as archive:
        assert schema_errors(json.loads(archive.read("manifest.json"))) == []


# ---------------------------------------------------------------------------- the settings
TEAMS_ON = {"TEAMS_CLIENT_ID": CLIENT_ID, "TEAMS_CLIENT_SECRET": SECRET, "TEAMS_TENANT_ID": TENANT_ID}


def test_teams_defaults():
    settings = from_env({})
    assert not settings.teams_enabled and settings.teams_port == 3978
    assert settings.teams_openid_metadata_url == "https://login.botframework.com/v1/.well-known/openidconfiguration"
    assert settings.teams_login_url == "https://login.microsoftonline.com"
    settings = from_env({**TEAMS_ON, "TEAMS_PORT": "4000", "TEAMS_LOGIN_URL": "http://127.0.0.1:5123/",
                         "TEAMS_OPENID_METADATA_URL": "http://localhost:5123/v1/.well-known/openidconfiguration"})
    assert settings.teams_enabled and settings.teams_port == 4000
    assert settings.teams_login_url == "http://127.0.0.1:5123"  # a loopback stand-in, for tests
    assert settings.teams_app_rate == 50


def test_the_app_rate_paces_the_transport(tmp_path):
    """TEAMS_APP_RATE lowers the per-app pace of every send to Teams (Microsoft's limit may say less)."""
    from bot.teams.transport import TeamsTransport
    from storage.db import Database

    db = Database(f"sqlite:///{tmp_path / 'rate.db'}")
    try:
        for env, rate in (({}, 50), ({"TEAMS_APP_RATE": "30"}, 30)):
            transport = TeamsTransport.from_settings(from_env({**TEAMS_ON, **env}), db)
            assert [count for _, count in transport.pacer.app_windows] == [rate]
    finally:
        db.dispose()


@pytest.mark.parametrize(("env", "name"), [
    ({"TEAMS_CLIENT_ID": "plcbot"}, "TEAMS_CLIENT_ID"),
    ({"TEAMS_CLIENT_ID": "1b2c3d4e-0000-4000-8000-00000000000"}, "TEAMS_CLIENT_ID"),
    ({"TEAMS_TENANT_ID": "common"}, "TEAMS_TENANT_ID"),
    ({"TEAMS_TENANT_ID": "contoso.onmicrosoft.com"}, "TEAMS_TENANT_ID"),
    ({"TEAMS_CLIENT_SECRET": TENANT_ID}, "TEAMS_CLIENT_SECRET"),  # the secret's ID, not its Value
    ({"TEAMS_PORT": "teams"}, "TEAMS_PORT"),
    ({"TEAMS_PORT": "0"}, "TEAMS_PORT"),
    ({"TEAMS_APP_RATE": "0"}, "TEAMS_APP_RATE"),
    ({"TEAMS_APP_RATE": "51"}, "TEAMS_APP_RATE"),  # above Microsoft's limit: 429s, not speed
    ({"TEAMS_APP_RATE": "fast"}, "TEAMS_APP_RATE"),
    ({"TEAMS_OPENID_METADATA_URL": "http://login.botframework.com/v1/x"}, "TEAMS_OPENID_METADATA_URL"),
    ({"TEAMS_OPENID_METADATA_URL": "login.botframework.com"}, "TEAMS_OPENID_METADATA_URL"),
    ({"TEAMS_LOGIN_URL": "https://"}, "TEAMS_LOGIN_URL"),
    ({"TEAMS_LOGIN_URL": "ftp://login.microsoftonline.com"}, "TEAMS_LOGIN_URL"),
    ({"TEAMS_LOGIN_URL": "https://login.microsoftonline.com:99999"}, "TEAMS_LOGIN_URL"),
    ({"TEAMS_PUBLIC_URL": "http://127.0.0.1:3978"}, "TEAMS_PUBLIC_URL"),  # Teams calls https only
    ({"TEAMS_PUBLIC_URL": "https://plc.example.org/api/messages"}, "TEAMS_PUBLIC_URL"),
    ({"TEAMS_PUBLIC_URL": "https://plc example.org"}, "TEAMS_PUBLIC_URL"),
    ({"TEAMS_PUBLIC_URL": "https://user:pw@plc.example.org"}, "TEAMS_PUBLIC_URL"),
    ({"TEAMS_PUBLIC_URL": "https://plc.example.org/?x=1"}, "TEAMS_PUBLIC_URL"),
    ({"TEAMS_PRIVACY_URL": "/privacy"}, "TEAMS_PRIVACY_URL"),
    ({"TEAMS_TERMS_URL": "http://district.k12.us/terms"}, "TEAMS_TERMS_URL"),
])
def test_each_bad_teams_setting_is_named(env, name):
    with pytest.raises(SettingError) as err:
        from_env(env)
    assert err.value.name == name
    assert str(err.value).startswith(name)
    assert "\n" not in str(err.value)


def test_the_secret_is_never_shown():
    settings = from_env(TEAMS_ON)
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    with pytest.raises(SettingError) as err:
        from_env({"TEAMS_CLIENT_SECRET": TENANT_ID})
    assert TENANT_ID not in str(err.value)


def test_teams_only_needs_no_slack_token_and_neither_is_refused():
    from_env(TEAMS_ON).require_fronts()  # a district on Teams only
    from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", **TEAMS_ON}).require_fronts()  # both
    from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}).require_fronts()  # Slack only
    with pytest.raises(SettingError) as err:
        from_env({}).require_fronts()
    assert err.value.name == "SLACK_BOT_TOKEN" and "TEAMS_CLIENT_ID" in str(err.value)


@pytest.mark.parametrize(("env", "name"), [
    ({"TEAMS_CLIENT_ID": CLIENT_ID, "TEAMS_TENANT_ID": TENANT_ID}, "TEAMS_CLIENT_SECRET"),
    ({"TEAMS_CLIENT_ID": CLIENT_ID, "TEAMS_CLIENT_SECRET": SECRET}, "TEAMS_TENANT_ID"),
    ({"TEAMS_CLIENT_SECRET": SECRET, "TEAMS_TENANT_ID": TENANT_ID, "SLACK_BOT_TOKEN": "xoxb-1",
      "SLACK_APP_TOKEN": "xapp-1"}, "TEAMS_CLIENT_ID"),  # half a Teams set-up is not silently ignored
    ({**TEAMS_ON, "SLACK_APP_TOKEN": "xapp-1"}, "SLACK_BOT_TOKEN"),  # nor half a Slack one
    ({**TEAMS_ON, "SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),  # Slack's own rule still holds
    ({**TEAMS_ON, "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "PORT": "3978"}, "TEAMS_PORT"),
    ({**TEAMS_ON, "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "TEAMS_PORT": "3001"}, "TEAMS_PORT"),
])
def test_what_run_needs_is_named(env, name):
    settings = from_env(env)
    with pytest.raises(SettingError) as err:
        settings.require_fronts()
    assert err.value.name == name
    assert SECRET not in str(err.value)
