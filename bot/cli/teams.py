"""`plcbot teams package`: write the Teams app package (manifest.json and two icons, zipped)."""

from __future__ import annotations

import argparse
from importlib import metadata
from pathlib import Path

from bot.cli.common import CliError, add_force, check_new_file, export_file, settings_from
from bot.teams import manifest

DEFAULT_OUT = "plcbot-teams.zip"


def default_version() -> str:
    """plcbot's own version: a new release gives a package Teams accepts as an update."""
    try:
        version = metadata.version("plcbot")
    except metadata.PackageNotFoundError:
        return "1.0.0"
    return version if manifest.SEMVER.match(version) else "1.0.0"


def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("teams", help="Microsoft Teams: the app package to upload")
    teams_sub = p.add_subparsers(dest="teams_command", metavar="COMMAND")
    teams_sub.required = True
    pkg = teams_sub.add_parser(
        "package", help="write the Teams app package (needs TEAMS_CLIENT_ID and TEAMS_PUBLIC_URL)",
        description="Write the zip to upload in Teams: manifest.json, color.png (192x192) and outline.png "
                    "(32x32). Needs TEAMS_CLIENT_ID and TEAMS_PUBLIC_URL; no secret, no database.")
    pkg.add_argument("--out", metavar="FILE.zip", default=DEFAULT_OUT,
                     help=f"where to write it, in a folder that exists (default {DEFAULT_OUT})")
    pkg.add_argument("--version", metavar="X.Y.Z", dest="app_version",
                     help="the app's version in the manifest (default: plcbot's version); raise it "
                          "when you upload a changed package over an earlier one")
    add_force(pkg, "the package")
    pkg.set_defaults(func=run_package)


def run_package(args: argparse.Namespace) -> int:
    version = args.app_version if args.app_version is not None else default_version()
    if not manifest.SEMVER.match(version):
        raise CliError(f"--version {version[:40]!r}: give three numbers, MAJOR.MINOR.PATCH, like 1.0.1.")
    out = check_new_file(args.out, flag="--out", force=args.force, suffix=".zip", example="plcbot-teams")
    settings = settings_from(args)
    settings.require_teams_package()
    data = manifest.package(settings, version=version)
    with export_file(out, force=args.force, nothing="no package was written") as tmp_name:
        Path(tmp_name).write_bytes(data)
    app_id = manifest.app_id(settings.teams_client_id or "")
    print(f"Wrote {out} (app {app_id}, version {version}, bot {settings.teams_client_id}). Upload it in "
          "Teams admin center > Teams apps > Manage apps > Upload new app, or in Teams > Apps > "
          "Manage your apps > Upload an app; then add it to a team and type @plcbot setup in its channel.")
    return 0
