"""A scheduler process for the fault tests: one tick against a SQLite file and a Slack double.

Environment: PLCBOT_WORKER_DB (database URL), PLCBOT_WORKER_SLACK (the double's Web API URL),
PLCBOT_WORKER_NOW (ISO time for the injected clock). The test kills it with SIGKILL mid-round.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime

from bot.services import build_services
from bot.settings import from_env
from scheduling import registry, runner
from scheduling.clock import FakeClock
from storage.db import Database


def main() -> int:
    settings = from_env({
        "SLACK_BOT_TOKEN": "xoxb-double",
        "SLACK_SIGNING_SECRET": "unused-in-the-worker",
        "SLACK_API_URL": os.environ["PLCBOT_WORKER_SLACK"],
        "DATABASE_URL": os.environ["PLCBOT_WORKER_DB"],
    })
    clock = FakeClock(datetime.fromisoformat(os.environ["PLCBOT_WORKER_NOW"]))
    services = build_services(settings, db=Database(settings.database_url), clock=clock)
    print("ready", flush=True)
    result = runner.tick(services, registry.load(), worker="doomed-worker")
    print(f"finished {result}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
