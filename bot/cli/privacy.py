"""`plcbot privacy …`: a person's data handed over or erased, and retention run now.

    plcbot privacy export U012ABCDEF --out maria.xlsx
    plcbot privacy forget U012ABCDEF            (dry run)   --apply to do it
    plcbot privacy purge                        (dry run)   --apply to do it

`export` writes the same workbook `/plc privacy export` sends by DM, to a temporary file beside
`--out` renamed when complete. `forget` erases a person (see `storage/erasure.py`) in one
transaction. Both are audited with the actor "cli:<login>".
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import tempfile
from pathlib import Path

from sqlmodel import Session, col, select

from bot.cli import retention
from bot.cli.common import CliError, services_from
from bot.render.personal_workbook import write_personal_workbook
from storage import personal_data
from storage.erasure import ErasureError, forget_person
from storage.feedback import link_key
from storage.models import AuditEntry
from storage.teams import audit


def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("privacy", help="a person's data: export it, forget them; run retention now")
    psub = p.add_subparsers(dest="privacy_command", metavar="ACTION")
    psub.required = True
    e = psub.add_parser("export", help="write everything stored about a person to a workbook (.xlsx)",
                        description="The same workbook `/plc privacy export` sends a person by DM.")
    e.add_argument("user_id", metavar="SLACK_USER_ID", help="the person's Slack user id, e.g. U012ABCDEF")
    e.add_argument("--out", required=True, metavar="FILE.xlsx", help="where to write the workbook")
    e.set_defaults(func=export)
    f = psub.add_parser("forget", help="erase a person: remove them from every team, anonymise what names them",
                        description="A dry run that changes nothing unless --apply; prints what changes, per table.")
    f.add_argument("user_id", metavar="SLACK_USER_ID", help="the person's Slack user id, e.g. U012ABCDEF")
    f.add_argument("--apply", action="store_true", help="do it (default: a dry run that changes nothing)")
    f.set_defaults(func=forget)
    retention.add_purge(psub)


def _user_id(raw: str) -> str:
    uid = (raw or "").strip()
    if not personal_data.valid_user_id(uid):
        raise CliError(f"SLACK_USER_ID {raw!r} is not a Slack user id (they look like U012ABCDEF; "
                       "find it in the person's Slack profile under ⋮ → Copy member ID).")
    return uid


def export(args: argparse.Namespace) -> int:
    uid = _user_id(args.user_id)
    out = Path(args.out)
    if out.suffix.lower() != ".xlsx":
        raise CliError(f"--out {args.out!r} must be an .xlsx file name.")
    if not out.parent.exists():
        raise CliError(f"--out: the folder {str(out.parent)!r} does not exist.")
    services = services_from(args)
    now = services.clock.now()
    with services.db.read() as session:
        person = personal_data.find_person(session, uid)
        if person is None:
            raise CliError(_unknown(session, uid))
        data = personal_data.collect(session, person, now=now)
    fd, tmp_name = tempfile.mkstemp(prefix=".plcbot-", suffix=".xlsx", dir=out.parent)
    os.close(fd)
    try:
        rows = write_personal_workbook(data, tmp_name)
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    with services.db.session() as session:
        audit(session, actor=f"cli:{_whoami()}", action="privacy.export", target=uid,
              detail=f"workbook -> {out.name}", at=now)
    print(f"Wrote {out}: everything stored about {uid}, {rows} rows "
          f"({', '.join(f'{data.count(s)} {s.lower()}' for s in personal_data.SHEETS if data.count(s))}). "
          "Anonymous feedback is not in it: nothing links it to anyone.")
    sys.stdout.flush()
    return 0


def forget(args: argparse.Namespace) -> int:
    uid = _user_id(args.user_id)
    services = services_from(args)
    s = services.settings
    key = link_key(s.secret_key, s.signing_secret, s.bot_token)
    try:
        with services.db.session() as session:
            report = forget_person(session, uid, actor=f"cli:{_whoami()}", now=services.clock.now(),
                                   link_key=key, apply=args.apply)
    except ErasureError as exc:
        raise CliError(str(exc)) from None
    print("\n".join(report.lines()))
    sys.stdout.flush()
    return 0


def _unknown(session: Session, uid: str) -> str:
    entry = session.exec(
        select(AuditEntry).where(AuditEntry.action == "privacy.forget", AuditEntry.target == uid)
        .order_by(col(AuditEntry.at).desc())).first()
    if entry is not None:
        return f"{uid} was forgotten on {entry.at:%Y-%m-%d}; nothing is stored about them any more."
    return f"no person with Slack id {uid} is known to the bot; nothing to export."


def _whoami() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"
