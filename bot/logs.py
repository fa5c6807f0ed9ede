"""Logging set up once, at start (never at import), with secrets scrubbed from every line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactSecrets(logging.Filter):
    """Replace any configured secret that slips into a log line (a token in an error, say)."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 8]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        cleaned = message
        for secret in self.secrets:
            cleaned = cleaned.replace(secret, "***")
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def secrets_of(settings: Any) -> list[str | None]:
    """Every secret setting, for `configure`'s scrubbing: Slack's tokens and signing secret, the
    bot's own key, and Teams' client secret."""
    return [settings.bot_token, settings.signing_secret, settings.app_token, settings.secret_key,
            settings.teams_client_secret]


def configure(level: str, secrets: Iterable[str | None] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactSecrets(list(secrets)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # slack_sdk logs whole request bodies at DEBUG; keep them at our level or quieter.
    for noisy in ("slack_sdk", "slack_bolt", "urllib3", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING)
                                          if level != "DEBUG" else logging.DEBUG)
    # The bot's log says when it upgrades the schema; a command line run at WARNING (every
    # `plcbot` command but `run` and `scheduler`) prints its own one line instead.
    logging.getLogger("alembic.runtime.migration").setLevel(
        logging.INFO if logging.getLevelName(level) <= logging.INFO else logging.WARNING)
