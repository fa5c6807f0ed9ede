"""Shared pieces of the command line: settings, services and progress output."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from bot import logs
from bot.services import Services, build_services
from bot.settings import Settings, load
from storage import migrate
from storage.db import Database


class CliError(Exception):
    """A problem the operator can fix; printed as one line."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def settings_from(args: argparse.Namespace) -> Settings:
    settings = load(getattr(args, "env_file", ".env"))
    logs.configure(settings.log_level if settings.log_level != "INFO" else "WARNING",
                   [settings.bot_token, settings.signing_secret, settings.app_token, settings.secret_key])
    return settings


def open_database(settings: Settings, *, upgrade: bool = True) -> Database:
    db = Database(settings.database_url)
    try:
        if upgrade:
            migrate.upgrade(db)
        else:
            db.ping()
    except Exception as exc:
        raise CliError(f"DATABASE_URL: cannot open the database ({type(exc).__name__}: "
                       f"{str(exc).splitlines()[0][:200]}).") from None
    return db


def services_from(args: argparse.Namespace) -> Services:
    settings = settings_from(args)
    return build_services(settings, db=open_database(settings))


class Progress:
    """A one-line progress bar on a terminal; silent when output is not a terminal."""

    def __init__(self, total: int, label: str, stream: TextIO = sys.stderr) -> None:
        self.total, self.label, self.stream = max(total, 1), label, stream
        self.done = 0
        self.enabled = stream.isatty()

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.enabled and (self.done == self.total or self.done % max(1, self.total // 100) == 0):
            width = 30
            filled = int(width * self.done / self.total)
            self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
