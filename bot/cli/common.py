"""Shared pieces of the command line: settings, services and progress output."""

from __future__ import annotations

import argparse
import errno
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
                   logs.secrets_of(settings))
    return settings


def check_database_folder(url: str) -> Path | None:
    """A SQLite file's folder must exist, as for every file a command writes: a typo in
    DATABASE_URL is one line, never a new folder tree. Returns the SQLite file's path."""
    path = migrate.sqlite_path(Database(url))
    if path is not None:
        folder = path.parent
        if folder.exists() and not folder.is_dir():
            raise CliError(f"DATABASE_URL: {str(folder)!r} is a file, not a folder.")
        if not folder.is_dir():
            for parent in folder.parents:
                if parent.exists() and not parent.is_dir():
                    raise CliError(f"DATABASE_URL: {str(parent)!r} is a file, not a folder.")
            raise CliError(f"DATABASE_URL: the folder {str(folder)!r} does not exist; create it, or fix the URL.")
    return path


def open_database(settings: Settings, *, upgrade: bool = True) -> Database:
    check_database_folder(settings.database_url)
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


def add_force(parser: argparse.ArgumentParser, what: str = "the file") -> None:
    """`--force`, the one way to let a command replace a file that is already there."""
    parser.add_argument("--force", action="store_true",
                        help=f"replace {what} if it exists (without it, an existing file is never touched)")


def check_new_file(value: str | Path, *, flag: str, force: bool, suffix: str | None = None,
                   example: str = "export") -> Path:
    """Where a command writes a file, checked before the database is opened. The same rules for
    every command that writes one:

    - the folder must exist and be writable: it is never created;
    - a folder is never taken for the file;
    - a file that is already there is replaced only with `--force`.
    """
    text = str(value)
    if not text.strip():  # an unset shell variable: never "the current folder"
        raise CliError(f"{flag}: the file name is empty.")
    out = Path(text)
    if suffix is not None and out.suffix.lower() != suffix:
        raise CliError(f"{flag} {text!r} must be an {suffix} file name.")
    if out.is_dir():
        raise CliError(f"{flag} {text!r} is a folder; give a file name in it, like "
                       f"{str(out / (example + (suffix or '')))!r}.")
    check_folder(out.parent, flag=flag)
    if (out.exists() or out.is_symlink()) and not force:
        raise exists_error(out, flag=flag)
    return out


def check_out_file(value: str | Path, *, flag: str = "--out", force: bool = False) -> Path:
    """A workbook's path: `check_new_file` for an .xlsx name."""
    return check_new_file(value, flag=flag, force=force, suffix=".xlsx")


def exists_error(out: Path, *, flag: str) -> CliError:
    return CliError(f"{flag}: {str(out)!r} already exists; choose another name, or add --force to replace it.")


def check_folder(folder: Path, *, flag: str) -> Path:
    """A folder that exists, is a folder, and can be written into (or one line naming `flag`)."""
    if folder.exists() and not folder.is_dir():
        raise CliError(f"{flag}: {str(folder)!r} is a file, not a folder.")
    if not folder.is_dir():
        for parent in folder.parents:  # /etc/passwd/sub/x: name the file in the way
            if parent.exists() and not parent.is_dir():
                raise CliError(f"{flag}: {str(parent)!r} is a file, not a folder.")
        raise CliError(f"{flag}: the folder {str(folder)!r} does not exist.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CliError(f"{flag}: cannot write into the folder {str(folder)!r}.")
    return folder


def cannot_write(out: Path, exc: OSError, *, flag: str = "--out", nothing: str = "nothing was exported") -> CliError:
    """A full disk or a folder made read-only meanwhile, as one line (the caller removed its temporary file)."""
    return CliError(f"{flag}: cannot write {str(out)!r} ({exc.strerror or type(exc).__name__}); {nothing}.")


@contextmanager
def replaced_when_done(out: Path, *, force: bool) -> Iterator[str]:
    """A temporary file beside `out`, put in its place when the block succeeds and removed when it
    fails: a failure never leaves half a file under the real name. Without `force` a file that
    appeared at `out` meanwhile is kept (FileExistsError), never replaced."""
    fd, tmp_name = tempfile.mkstemp(prefix=".plcbot-", suffix=out.suffix, dir=out.parent)
    os.close(fd)
    try:
        yield tmp_name
        _put_in_place(Path(tmp_name), out, force=force)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _put_in_place(tmp: Path, out: Path, *, force: bool) -> None:
    if force:
        os.replace(tmp, out)
        return
    try:
        os.link(tmp, out)  # fails when `out` exists: nothing is replaced
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links
        if out.exists() or out.is_symlink():
            raise FileExistsError(errno.EEXIST, "File exists", str(out)) from None
        os.replace(tmp, out)
        return
    tmp.unlink()


@contextmanager
def export_file(out: Path, *, flag: str = "--out", force: bool,
                nothing: str = "nothing was exported") -> Iterator[str]:
    """`replaced_when_done` for a command's output file: a file that appeared meanwhile, a full
    disk or a folder made read-only meanwhile is one line, not a traceback."""
    try:
        with replaced_when_done(out, force=force) as tmp_name:
            yield tmp_name
    except FileExistsError:
        raise exists_error(out, flag=flag) from None
    except OSError as exc:
        raise cannot_write(out, exc, flag=flag, nothing=nothing) from None


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
