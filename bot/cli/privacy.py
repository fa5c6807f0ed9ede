"""`plcbot privacy …`: a person's data handed over or erased, and retention run now.

    plcbot privacy export U012ABCDEF --out maria.xlsx
    plcbot privacy forget U012ABCDEF            (dry run)   --apply to do it
    plcbot privacy purge                        (dry run)   --apply to do it

`export` writes the same workbook `/plc privacy export` sends by DM, to a temporary file beside
`--out` renamed when complete (a file already there is replaced only with --force). `forget`
erases a person (see `storage/erasure.py`) in one transaction. Both are audited with the actor "cli:<login>".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.cli import retention
from bot.cli.common import CliError, add_force, check_out_file, cli_actor, export_file, services_from
from bot.render.personal_workbook import write_personal_workbook
from storage import personal_data
from storage.erasure import ErasureError, forget_person, scrub_after
from storage.feedback import install_link_key
from storage.models import AuditEntry, Person
from storage.teams import audit


def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("privacy", help="a person's data: export it, forget them; run retention now")
    psub = p.add_subparsers(dest="privacy_command", metavar="ACTION")
    psub.required = True
    e = psub.add_parser("export", help="write everything stored about a person to a workbook (.xlsx)",
                        description="The same workbook `/plc privacy export` sends a person by DM.")
    e.add_argument("user_id", metavar="SLACK_USER_ID", help="the person's Slack user id, e.g. U012ABCDEF")
    e.add_argument("--out", required=True, metavar="FILE.xlsx",
                   help="where to write the workbook (in a folder that exists)")
    add_force(e, "FILE.xlsx")
    e.set_defaults(func=export)
    f = psub.add_parser("forget", help="erase a person: remove them from every team, anonymise what names them",
                        description="A dry run that changes nothing unless --apply; prints what changes, per table.")
    f.add_argument("user_id", metavar="SLACK_USER_ID", help="the person's Slack user id, e.g. U012ABCDEF")
    f.add_argument("--apply", action="store_true", help="do it (default: a dry run that changes nothing)")
    f.set_defaults(func=forget)
    retention.add_purge(psub)


def _user_id(raw: str) -> str:
    """The id as Slack writes it: spaces around it and lower case forgiven (Slack ids are upper case)."""
    uid = (raw or "").strip().upper()
    if not personal_data.valid_user_id(uid):
        raise CliError(f"SLACK_USER_ID {raw!r} is not a Slack user id (they look like U012ABCDEF; "
                       "find it in the person's Slack profile under ⋮ → Copy member ID).")
    return uid


def _looks_like_email(raw: str) -> bool:
    text = (raw or "").strip()
    return "@" in text and not text.startswith("<@") and " " not in text


def _email_hint(args: argparse.Namespace, raw: str, command: str) -> CliError:
    """A request by e-mail is how erasures arrive: name the Slack id the bot knows for it."""
    email = raw.strip()
    services = services_from(args)
    with services.db.read() as session:
        found = list(session.exec(select(Person.handle).where(
            func.lower(col(Person.email)) == email.lower(), col(Person.forgotten_at).is_(None))).all())
    if len(found) == 1:
        return CliError(f"SLACK_USER_ID {raw!r} is an e-mail address; the bot knows it as {found[0]}: "
                        f"run `plcbot privacy {command} {found[0]} …`.")
    if found:
        return CliError(f"SLACK_USER_ID {raw!r} is an e-mail address shared by {len(found)} people "
                        f"({', '.join(found[:5])}); give the Slack user id of the one you mean.")
    return CliError(f"SLACK_USER_ID {raw!r} is an e-mail address, and nobody with it is known to the bot; "
                    "give the person's Slack user id (like U012ABCDEF).")


def export(args: argparse.Namespace) -> int:
    out = check_out_file(args.out, force=args.force)  # bad input is refused before the database is opened
    if _looks_like_email(args.user_id):
        raise _email_hint(args, args.user_id, "export")
    uid = _user_id(args.user_id)
    replaced = out.exists()
    services = services_from(args)
    now = services.clock.now()
    with services.db.read() as session:
        person = personal_data.find_person(session, uid)
        if person is None:
            raise CliError(_unknown(session, uid))
        data = personal_data.collect(session, person, now=now)
    rows = _write(data, out, force=args.force)
    with services.db.session() as session:
        # Not the file's name: it is often the person's own ("maria-garcia.xlsx"), and this entry
        # stays after an erasure, tied to the tombstone that replaces their id.
        audit(session, actor=cli_actor(), action="privacy.export", target=uid,
              detail="workbook written by `plcbot privacy export`", at=now)
    print(f"Wrote {out}{' (replacing the file that was there)' if replaced else ''}: "
          f"everything stored about {uid}, {rows} rows "
          f"({', '.join(f'{s.lower()}: {data.count(s)}' for s in personal_data.SHEETS if data.count(s))}). "
          "Anonymous feedback is not in it: nothing links it to anyone."
          + ("" if data.team_names else f" {uid} is in no team now; what they gave in past teams is included."))
    sys.stdout.flush()
    return 0


def _write(data: personal_data.PersonalData, out: Path, *, force: bool) -> int:
    """The workbook, written beside `out` and renamed when complete."""
    with export_file(out, force=force) as tmp_name:
        return write_personal_workbook(data, tmp_name)


def forget(args: argparse.Namespace) -> int:
    if _looks_like_email(args.user_id):
        raise _email_hint(args, args.user_id, "forget")
    uid = _user_id(args.user_id)
    services = services_from(args)
    s = services.settings
    key = install_link_key(s)
    try:
        with services.db.session() as session:
            report = forget_person(session, uid, actor=cli_actor(), now=services.clock.now(),
                                   link_key=key, apply=args.apply)
    except ErasureError as exc:
        raise CliError(str(exc)) from None
    lines = report.lines()
    if report.applied:  # committed: now the old row versions can go too
        lines.insert(-1, scrub_after(services.db.engine, report.counts))
    print("\n".join(lines))
    sys.stdout.flush()
    return 0


def _unknown(session: Session, uid: str) -> str:
    entry = session.exec(
        select(AuditEntry).where(AuditEntry.action == "privacy.forget", AuditEntry.target == uid)
        .order_by(col(AuditEntry.at).desc())).first()
    if entry is not None:
        return f"{uid} was forgotten on {entry.at:%Y-%m-%d}; nothing is stored about them any more."
    return f"no person with Slack id {uid} is known to the bot; nothing to export."
