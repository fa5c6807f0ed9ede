"""Shared pieces of the command line: settings, services and progress output."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from sqlmodel import Session

from bot import logs
from bot.services import Services, build_services
from bot.settings import Settings, load
from storage import migrate
from storage.db import Database
from storage.models import School
from storage.teams import all_schools, school_by_name


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


def operator() -> str:
    """The login running the command: audit entries name it as the actor "cli:<login>"."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


def cli_actor() -> str:
    """The audit log's actor for whatever this command changes: "cli:<login>"."""
    return f"cli:{operator()}"


KNOWN_SHOWN = 8  # schools listed when a name is not found: enough to spot a typo, never a page


def find_school(session: Session, name: str, *, flag: str = "--school") -> School:
    """The school the operator named (case and spacing ignored), or a one-line CliError naming
    `flag` that lists the schools there are.

    A blank name is refused rather than read as "no filter": `--school ""` (an unset shell
    variable) must never turn into every school.
    """
    if not (name or "").strip():
        raise CliError(f"{flag}: the school's name is empty; give it as `plcbot year list` shows it.")
    school = school_by_name(session, name=name)
    if school is None or school.id is None:
        schools = all_schools(session)
        known = ", ".join(s.name for s in schools[:KNOWN_SHOWN]) or "none yet"
        if len(schools) > KNOWN_SHOWN:
            known += f", and {len(schools) - KNOWN_SHOWN} more"
        raise CliError(f"{flag}: no school named {name!r} (known: {known}).")
    return school


def check_out_file(value: str, *, flag: str = "--out") -> Path:
    """A workbook's path: an .xlsx name in a folder that exists and can be written.

    Checked before the database is opened, so a typo costs nothing; an existing file is
    replaced (the callers say so), a folder is never taken for a file.
    """
    out = Path(value)
    if out.suffix.lower() != ".xlsx":
        raise CliError(f"{flag} {value!r} must be an .xlsx file name.")
    if out.is_dir():
        raise CliError(f"{flag} {value!r} is a folder; give a file name in it, like {str(out / 'export.xlsx')!r}.")
    check_folder(out.parent, flag=flag)
    return out


def check_folder(folder: Path, *, flag: str) -> Path:
    """A folder that exists, is a folder, and can be written into (or one line naming `flag`)."""
    if folder.exists() and not folder.is_dir():
        raise CliError(f"{flag}: {str(folder)!r} is a file, not a folder.")
    if not folder.is_dir():
        raise CliError(f"{flag}: the folder {str(folder)!r} does not exist.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CliError(f"{flag}: cannot write into the folder {str(folder)!r}.")
    return folder


def cannot_write(out: Path, exc: OSError, *, flag: str = "--out") -> CliError:
    """A full disk or a folder made read-only meanwhile, as one line (the caller removed its temporary file)."""
    return CliError(f"{flag}: cannot write {str(out)!r} ({exc.strerror or type(exc).__name__}); "
                    "nothing was exported.")


@contextmanager
def replaced_when_done(out: Path) -> Iterator[str]:
    """A temporary file beside `out`, renamed over it when the block succeeds and removed when it
    fails: a failure never leaves half a workbook under the real name."""
    fd, tmp_name = tempfile.mkstemp(prefix=".plcbot-", suffix=out.suffix, dir=out.parent)
    os.close(fd)
    try:
        yield tmp_name
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


@contextmanager
def export_file(out: Path, *, flag: str = "--out") -> Iterator[str]:
    """`replaced_when_done` for an export: a full disk or a folder made read-only meanwhile is
    one line (`cannot_write`), not a traceback."""
    try:
        with replaced_when_done(out) as tmp_name:
            yield tmp_name
    except OSError as exc:
        raise cannot_write(out, exc, flag=flag) from None


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
