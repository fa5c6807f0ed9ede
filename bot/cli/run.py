"""`plcbot run` (the bot) and `plcbot scheduler` (scheduled work only, for split deployments)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from dotenv import dotenv_values
from slack_sdk.errors import SlackApiError

from bot import logs
from bot.cli.common import CliError, open_database
from bot.services import build_services
from bot.settings import Settings, load
from scheduling import registry as scheduling_registry
from scheduling.scheduler import build_scheduler

log = logging.getLogger("plcbot")


def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run the bot: Slack (Socket Mode if SLACK_APP_TOKEN is set, else HTTP) "
                       "and/or Teams (when TEAMS_CLIENT_ID is set)")
    p.add_argument("--no-scheduler", action="store_true",
                   help="serve Slack only; run `plcbot scheduler` in one other process")
    p.set_defaults(func=run)
    s = sub.add_parser("scheduler", help="run scheduled work only (check-ins, reminders, digests)")
    s.set_defaults(func=scheduler)


def _startup(args: argparse.Namespace) -> Settings:
    settings = load(args.env_file)
    settings.require_fronts()
    if settings.teams_enabled:
        # Imported after the settings were read (the SDK's import copies .env into os.environ).
        from bot.teams.app import refuse_unauthenticated_switch

        env_file = Path(args.env_file) if args.env_file else None
        refuse_unauthenticated_switch(dotenv_values(env_file) if env_file and env_file.is_file() else {})
    logs.configure(settings.log_level, logs.secrets_of(settings))
    db = open_database(settings)
    if not settings.slack_enabled:
        db.dispose()
        log.info("Slack is off (no SLACK_BOT_TOKEN); serving Microsoft Teams only")
        return settings
    services = build_services(settings, db=db)
    try:
        who = services.slack.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error", "error")
        raise CliError(f"SLACK_BOT_TOKEN: Slack refused the token ({error}). Copy the Bot User OAuth "
                       "Token again from your app's OAuth & Permissions page.") from None
    except Exception as exc:
        raise CliError(f"SLACK_API_URL: cannot reach Slack at {settings.slack_api_url} "
                       f"({type(exc).__name__}). Check the network or the URL.") from None
    finally:
        db.dispose()
    log.info("Signed in to Slack as %s in %s", who.get("user", "?"), who.get("team", "?"))
    return settings


def run(args: argparse.Namespace) -> int:
    settings = _startup(args)
    if not settings.slack_enabled:
        from bot.teams.server import serve_teams

        serve_teams(settings, with_scheduler=not args.no_scheduler)
        return 0
    if settings.socket_mode:
        from bot.socket_runner import serve_socket

        beside = None
        if settings.teams_enabled:  # beside Slack, in a thread of this process (which never forks)
            from bot.teams.server import TeamsServer

            teams = TeamsServer(settings)
            teams.start_thread()
            beside = teams.stop_and_close
        serve_socket(settings, with_scheduler=not args.no_scheduler, beside=beside)
    elif settings.teams_enabled:
        from bot.supervisor import serve_both_http

        return serve_both_http(settings, with_scheduler=not args.no_scheduler)
    else:
        from bot.server import serve_http

        serve_http(settings, with_scheduler=not args.no_scheduler)
    return 0


def scheduler(args: argparse.Namespace) -> int:
    settings = _startup(args)
    services = build_services(settings)
    sched = build_scheduler(services, scheduling_registry.load())
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    sched.start()
    log.info("Scheduler running; stop with Ctrl-C")
    stop.wait()
    sched.shutdown(wait=True)
    services.db.dispose()
    return 0
