"""The manifest: valid by Slack's own schema, and each scope it asks for explained in README."""

from __future__ import annotations

from pathlib import Path

from bot import manifest

ROOT = Path(__file__).resolve().parents[1]


def test_readme_explains_every_scope_the_manifest_asks_for():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert manifest.readme_with_scopes(readme) == readme, "README's scopes table is stale: run `python -m bot.manifest`"
    asked = manifest.build()["oauth_config"]["scopes"]["bot"]
    table = readme.split(manifest.README_START, 1)[1].split(manifest.README_END, 1)[0]
    for scope in asked:
        assert f"| `{scope}` |" in table, f"README does not say why the bot needs {scope}"


def test_history_scopes_say_what_is_read_and_what_never_is():
    for scope in ("im:history", "channels:history", "groups:history"):
        assert scope in manifest.BOT_SCOPES
    for scope in ("im:history", "channels:history"):
        why = manifest.BOT_SCOPES[scope]
        assert "never" in why and "key" in why


def test_both_manifests_are_valid_against_slacks_own_schema():
    import json

    from jsonschema import Draft7Validator

    schema = json.loads((ROOT / "tests/schemas/slack/manifest.schema.1.0.0.json").read_text(encoding="utf-8"))
    for built in (manifest.build(), manifest.build("https://plc.example.org")):
        errors = [f"{list(e.path)}: {e.message}" for e in Draft7Validator(schema).iter_errors(built)]
        assert errors == []
    # The validator does catch a broken manifest (so the check above means something).
    broken = manifest.build()
    broken["features"]["slash_commands"][0]["command"] = "plc"
    assert list(Draft7Validator(schema).iter_errors(broken))
