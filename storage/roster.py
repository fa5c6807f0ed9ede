"""Roster files and the database: read a spreadsheet, snapshot what is stored, apply a plan, export.

The rules that decide what a file means live in `storage.rules.roster`; this module only moves
data between files, plain values and tables. `apply_plan` runs inside the caller's transaction,
so an import is all or nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy import bindparam, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from storage import linking
from storage import teams as team_store
from storage.identities import add_slack_identities
from storage.models import AuditEntry, Membership, Person, School, SchoolLeader, Team
from storage.rules.roster import (
    HEADERS,
    Existing,
    Plan,
    RowError,
    Seat,
    SlackPerson,
    TeamState,
    canonical,
    check_headers,
    normalise_header,
)


class RosterFileError(Exception):
    """The file cannot be read at all; `errors` says where and why."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("; ".join(str(e) for e in errors[:5]))
        self.errors = errors


@dataclass
class RosterFile:
    headers: list[str]
    rows: list[tuple[int, dict[str, object]]]  # (spreadsheet row number, header -> cell)


def read_roster(path: Path) -> RosterFile:
    """Read a .xlsx (openpyxl, read-only) or .csv (UTF-8) roster; empty rows are skipped."""
    suffix = path.suffix.casefold()
    raw_rows: Iterator[Sequence[object]]
    if suffix == ".xlsx":
        raw_rows = _xlsx_rows(path)
    elif suffix == ".csv":
        raw_rows = _csv_rows(path)
    else:
        raise RosterFileError([RowError(0, f"{path.name}: use a .xlsx or .csv file")])
    try:
        header_cells = next(raw_rows)
    except StopIteration:
        raise RosterFileError([RowError(1, "the file is empty; it needs a header row")]) from None
    headers = [normalise_header(c) for c in header_cells]
    problems = check_headers(headers)
    if problems:
        raise RosterFileError(problems)
    rows = []
    for number, cells in enumerate(raw_rows, start=2):
        if all(c is None or str(c).strip() == "" for c in cells):
            continue
        rows.append((number, {h: v for h, v in zip(headers, cells, strict=False) if h}))
    return RosterFile(headers, rows)


def _xlsx_rows(path: Path) -> Iterator[tuple[object, ...]]:
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise RosterFileError([RowError(0, f"{path.name} is not a readable .xlsx workbook "
                                           f"({type(exc).__name__})")]) from None
    try:
        yield from workbook.worksheets[0].iter_rows(values_only=True)
    finally:
        workbook.close()


def _csv_rows(path: Path) -> Iterator[list[str]]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        errors = []
        for number, line in enumerate(data.split(b"\n"), start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                errors.append(RowError(number, f"not UTF-8 text (byte 0x{line[exc.start]:02X}); save the "
                                               "file as 'CSV UTF-8' and import it again"))
        raise RosterFileError(errors) from None
    yield from csv.reader(io.StringIO(text, newline=""))


def directory_person(user: Mapping[str, object]) -> SlackPerson:
    """A users.list member as plain data."""
    profile = user.get("profile") or {}
    assert isinstance(profile, dict)
    name = str(user.get("real_name") or profile.get("real_name") or user.get("name") or user.get("id"))
    return SlackPerson(
        id=str(user["id"]), name=name,
        email=str(profile.get("email") or "") or None, tz=str(user.get("tz") or "") or None,
        deleted=bool(user.get("deleted")),
        is_bot=bool(user.get("is_bot")) or user.get("id") == "USLACKBOT",
    )


def snapshot(session: Session, directory: Mapping[str, SlackPerson] | None = None,
             ) -> tuple[Existing, dict[str, str], dict[tuple[str, str], str]]:
    """What is stored now, in plain data, plus display names of schools and teams (few queries).

    With the Slack `directory`, a person known on Teams first whose e-mail is a Slack user's
    (`storage.linking.slack_links`, one query) is shown under that Slack id, as `apply_plan` will
    attach it: their seats are theirs already, never added again (nor removed by --sync)."""
    schools = {s.id: s for s in session.exec(select(School)).all()}
    school_key = {sid: canonical(s.name) for sid, s in schools.items()}
    every_team = session.exec(select(Team)).all()
    teams = {t.id: t for t in every_team if t.archived_at is None}
    existing = Existing(
        schools={canonical(s.name): (s.name, s.timezone) for s in schools.values()},
        teams={
            (school_key[t.school_id], canonical(t.name)): TeamState(
                school_key[t.school_id], t.name, t.channel_id, t.timezone, t.meeting_weekdays,
                t.meeting_time, t.meeting_minutes)
            for t in teams.values()
        },
        archived={(school_key[t.school_id], canonical(t.name)): t.channel_id
                  for t in every_team if t.archived_at is not None},
    )
    rows = session.exec(
        select(Membership.team_id, Person.handle, Membership.role)
        .join(Person, col(Person.id) == Membership.person_id)
        .where(col(Membership.active).is_(True))
    ).all()
    renamed: dict[str, str] = {}
    if directory:  # read only: `apply_plan` makes the same links in its write
        renamed = {person.handle: uid for uid, person in linking.slack_links(
            session, [(uid, p.email) for uid, p in directory.items()]).items()}
    for team_id, uid, role in rows:
        uid = renamed.get(uid, uid)
        team = teams.get(team_id)
        if team is not None:
            existing.members[(school_key[team.school_id], canonical(team.name), uid)] = role
    for school_id, uid in session.exec(
        select(SchoolLeader.school_id, Person.handle)
        .join(Person, col(Person.id) == SchoolLeader.person_id)
    ).all():
        existing.leaders.add((school_key[school_id], renamed.get(uid, uid)))
    existing.linked = {uid: handle for handle, uid in renamed.items()}
    if directory is not None:  # people Slack's roster cannot see (known only on Teams), one query
        for handle, name, email in linking.known_elsewhere(session):
            if handle in renamed:
                continue  # their e-mail is a Slack user's: shown under that Slack id above
            existing.elsewhere[handle] = name
            if email:
                existing.elsewhere_by_email[email] = handle
    school_names = {key: name for key, (name, _) in existing.schools.items()}
    team_names = {key: t.name for key, t in existing.teams.items()}
    return existing, school_names, team_names


def apply_plan(session: Session, plan: Plan, people: Mapping[str, SlackPerson], *, actor: str,
               now: datetime, progress: object = None) -> None:
    """Write a checked plan in the caller's transaction; every role change is audited.

    Thousands of seats are written as a few bulk statements (people, memberships, audit
    entries), not one ORM object and one query per row: building SQLModel objects one by one
    was most of a 4,000-person import's time. Each seat follows the same rule as a single
    change, `storage.teams.membership_change`.
    """
    if not plan.ok:
        raise ValueError("a plan with bad rows is never applied")
    person_ids = _people_ids(session, [people[uid] for uid in sorted(plan.people | {s.user_id for s in plan.removed})
                                       if uid in people], now=now, actor=actor)
    # People the file named by e-mail who are known only on Teams: stored already, by their name.
    person_ids.update(_stored_ids(session, sorted({s.user_id for s in [*plan.added, *plan.role_changes,
                                                                        *plan.removed]} - set(person_ids))))
    schools = {canonical(s.name): s for s in session.exec(select(School)).all()}
    for skey, (name, tz) in plan.new_schools.items():
        schools[skey] = team_store.create_school(session, name=name, timezone=tz, actor=actor, now=now)
    for skey, tz in plan.school_changes.items():
        school = schools[skey]
        assert school.id is not None
        team_store.update_school(session, school_id=school.id, actor=actor, now=now, timezone=tz)
    teams: dict[tuple[str, str], Team] = {}
    school_key = {s.id: k for k, s in schools.items()}
    for team in session.exec(select(Team).where(col(Team.archived_at).is_(None))).all():
        teams[(school_key[team.school_id], canonical(team.name))] = team
    for spec in [*plan.new_teams, *plan.changed_teams]:
        key = (spec.school, canonical(spec.name))
        school_id = schools[spec.school].id
        assert school_id is not None
        teams[key], _ = team_store.save_team(
            session, team=teams.get(key), school_id=school_id, channel_id=spec.channel_id, name=spec.name,
            timezone=spec.timezone, schedule=team_store.Schedule(spec.weekdays, spec.time, spec.minutes),
            actor=actor, now=now)
    team_ids = {key: t.id for key, t in teams.items() if t.id is not None}
    known: dict[tuple[int, int], tuple[int, bool, str, datetime | None]] = {}
    ids = list(team_ids.values())
    for start in range(0, len(ids), 500):
        for row_id, team_id, person_id, active, role, joined in session.execute(
                sa_select(col(Membership.id), col(Membership.team_id), col(Membership.person_id),
                       col(Membership.active), col(Membership.role), col(Membership.joined_at))
                .where(col(Membership.team_id).in_(ids[start:start + 500]))).all():
            known[(team_id, person_id)] = (int(row_id), active, role, joined)
    inserts: list[dict[str, object]] = []
    updates: list[dict[str, object]] = []
    audits: list[dict[str, object]] = []
    actor_id = team_store.actor_person(session, actor)  # the audit's "who": a person, or "cli:<login>"
    seats: list[tuple[Seat, str | None]] = [(seat, seat.role) for seat in [*plan.added, *plan.role_changes]]
    seats += [(seat, None) for seat in plan.removed]
    for seat, role in seats:
        person_id = person_ids[seat.user_id]
        if seat.team is None:  # a principal: a handful per school, the ORM path is fine
            school_id = schools[seat.school].id
            assert school_id is not None
            if role is None:
                team_store.remove_leader(session, school_id=school_id, person_id=person_id, actor=actor, now=now)
            else:
                team_store.add_leader(session, school_id=school_id, person_id=person_id, actor=actor, now=now)
            continue
        team_id = team_ids[(seat.school, seat.team)]
        row = known.get((team_id, person_id))
        outcome, action = team_store.membership_change((row[1], row[2]) if row else None, role)
        if outcome == "unchanged" or action is None:
            continue
        detail = f"person:{person_id} {seat.user_id}"
        if outcome == "added":
            inserts.append({"team_id": team_id, "person_id": person_id, "role": role, "active": True,
                            "joined_at": now, "left_at": None})
            known[(team_id, person_id)] = (0, True, str(role), now)
        elif outcome == "removed":
            assert row is not None
            updates.append({"row_id": row[0], "active": False, "left_at": now, "role": row[2], "joined_at": row[3]})
        elif outcome == "reactivated":
            assert row is not None
            updates.append({"row_id": row[0], "active": True, "left_at": None, "role": role, "joined_at": now})
        else:
            assert row is not None
            detail += f" ({row[2]} → {role})"
            updates.append({"row_id": row[0], "active": True, "left_at": None, "role": role, "joined_at": row[3]})
        audits.append({"at": now, "actor_id": actor_id, "actor_label": "" if actor_id is not None else actor[:255],
                       "action": action[:64], "target": f"team:{team_id}", "detail": detail,
                       "school_id": schools[seat.school].id})
        if progress is not None and role is not None:
            progress.advance()  # type: ignore[attr-defined]
    session.flush()
    if inserts:
        session.execute(insert(Membership), inserts)
    if updates:  # one statement, executed for every row (executemany)
        table = Membership.__table__  # type: ignore[attr-defined]
        session.connection().execute(
            update(table).where(table.c.id == bindparam("row_id"))
            .values(active=bindparam("active"), left_at=bindparam("left_at"), role=bindparam("role"),
                    joined_at=bindparam("joined_at")),
            updates)
    if audits:
        session.execute(insert(AuditEntry), audits)


def _stored_ids(session: Session, handles: list[str]) -> dict[str, int]:
    """Person ids of people stored already, by the name the core knows them by (500 to a query)."""
    found: dict[str, int] = {}
    for start in range(0, len(handles), 500):
        for pid, handle in session.execute(sa_select(col(Person.id), col(Person.handle))
                                           .where(col(Person.handle).in_(handles[start:start + 500]))).all():
            found[str(handle)] = int(pid)
    return found


def _people_ids(session: Session, people: list[SlackPerson], *, now: datetime, actor: str) -> dict[str, int]:
    """Person ids for these Slack users: new people inserted in one statement (and their Slack
    identities in one more), known people's
    name, e-mail and time zone refreshed (Slack is the truth for those). Nobody is re-activated
    here: only Slack's `user_change` says an account is back."""
    wanted = {p.id: p for p in people}
    found: dict[str, tuple[int, str, str | None, str | None]] = {}
    ids = list(wanted)
    for start in range(0, len(ids), 500):  # well inside every database's limit on bound parameters
        for pid, uid, name, email, tz in session.execute(
                sa_select(col(Person.id), col(Person.handle), col(Person.name), col(Person.email),
                       col(Person.tz))
                .where(col(Person.handle).in_(ids[start:start + 500]))).all():
            found[uid] = (int(pid), name, email, tz)
    # A teacher known on Teams first, with the same e-mail: that person, known by this Slack id from now on.
    linked = linking.slack_links(session, [(uid, p.email) for uid, p in wanted.items() if uid not in found])
    linking.attach_slack(session, linked, now=now, actor=actor)
    for uid, person in linked.items():
        found[uid] = (int(person.id or 0), person.name, person.email, person.tz)
    new = [{"handle": uid, "name": p.name[:200], "email": p.email, "tz": p.tz, "active": True,
            "created_at": now} for uid, p in wanted.items() if uid not in found]
    refreshed = []
    for uid, (pid, name, email, tz) in found.items():
        p = wanted[uid]
        fresh_values = (p.name[:200] or name, p.email or email, p.tz or tz)
        if fresh_values != (name, email, tz):
            refreshed.append({"row_id": pid, "name": fresh_values[0], "email": fresh_values[1], "tz": fresh_values[2]})
    if refreshed:
        table = Person.__table__  # type: ignore[attr-defined]
        session.connection().execute(
            update(table).where(table.c.id == bindparam("row_id"))
            .values(name=bindparam("name"), email=bindparam("email"), tz=bindparam("tz")),
            refreshed)
    if new:
        session.execute(insert(Person), new)
        fresh = [row["handle"] for row in new]
        made: list[tuple[int, str, str | None]] = []
        for start in range(0, len(fresh), 500):
            for pid, uid in session.exec(select(col(Person.id), col(Person.handle))
                                         .where(col(Person.handle).in_(fresh[start:start + 500]))).all():
                found[uid] = (int(pid or 0), "", None, None)
                made.append((int(pid or 0), uid, None))
        add_slack_identities(session, made, now=now)  # in the same transaction: all or nothing
    return {uid: row[0] for uid, row in found.items()}


# ---------------------------------------------------------------------- export


def export_rows(session: Session) -> list[list[object]]:
    """The roster as rows in the import format: principals first, then every active team seat.

    People whose Slack account is deactivated are left out: an import refuses their rows, so
    exporting them would break export → import (their history stays in the database).
    """
    schools = {s.id: s for s in session.exec(select(School).order_by(col(School.name))).all()}
    out: list[list[object]] = []
    leaders = session.exec(
        select(SchoolLeader.school_id, Person)
        .join(Person, col(Person.id) == SchoolLeader.person_id)
        .where(col(Person.active).is_(True))
        .order_by(col(SchoolLeader.school_id), col(Person.name))
    ).all()
    for school_id, person in leaders:
        school = schools[school_id]
        out.append([school.name, "", "", person.email or "", person.handle, "principal", "", "", "",
                    school.timezone])
    seats = session.exec(
        select(Team, Person, Membership.role)
        .join(Membership, col(Membership.team_id) == Team.id)
        .join(Person, col(Person.id) == Membership.person_id)
        .where(col(Membership.active).is_(True), col(Person.active).is_(True), col(Team.archived_at).is_(None))
        .order_by(col(Team.school_id), col(Team.name), col(Membership.role).desc(), col(Person.name))
    ).all()
    for team, person, role in seats:
        out.append([schools[team.school_id].name, team.name, team.channel_id, person.email or "",
                    person.handle, role, team.meeting_weekdays, team.meeting_time or "",
                    team.meeting_minutes, team.timezone])
    return out


def write_xlsx(path: Path, rows: list[list[object]]) -> None:
    """Write-only workbook; text cells are forced to strings so "=…" never becomes a formula."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Roster")
    sheet.freeze_panes = "A2"
    sheet.append(list(HEADERS))
    for row in rows:
        cells = []
        for value in row:
            if isinstance(value, str):
                cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
                cell.data_type = "s"
                cells.append(cell)
            else:
                cells.append(value)
        sheet.append(cells)
    workbook.save(path)

