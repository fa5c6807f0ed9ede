"""The audit log for people in chat: `audit [since YYYY-MM-DD]`, the newest entries a caller may see.

`since DATE` starts at midnight of that day in the school's time zone when the page is one
school's (the place's school, or a principal's only school), else in the caller's own time zone
(known from Slack), else the bot's default (`since_zone`); each front says which zone it used.

Principals see their schools' part (only the place's school when asked in one of its teams' places);
admins see the whole log, or the place's school in a team's place. Anyone else is refused with who
can (`storage.rules.roles.audit_scope`). Each front only words the page (the full log, with filters,
is `plcbot audit` on the server).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session

from handlers.errors import UserError
from storage import audit_log
from storage.models import Person
from storage.rules.roles import Actor, audit_scope

USAGE = "audit [since YYYY-MM-DD]"
SHOWN = 30  # the newest 30 entries


@dataclass(frozen=True)
class AuditPage:
    rows: tuple[Any, ...]  # storage.audit_log's rows, newest first, at most SHOWN
    scope: str  # "the whole district", or the schools' names
    since: date | None
    more: bool  # older entries were left out
    team_names: Mapping[int, str]
    show_school: bool  # the page spans several schools: each line names its school
    zones: Mapping[int, str] = field(default_factory=dict)  # each school's time zone, by school id
    since_zone: str = "UTC"  # the zone `since`'s midnight was read in (`since_zone`)

    def zone(self, row: Any, *, fallback: str) -> ZoneInfo:
        """The time zone an entry is read in: its school's, else `fallback` (the team's, where the
        log was asked for in a team's place, or the bot's default) for district-wide entries."""
        name = self.zones.get(row.school_id) if row.school_id is not None else None
        try:
            return ZoneInfo(name or fallback)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    def local(self, row: Any, *, fallback: str) -> datetime:
        """When the entry happened, in its zone (`zone`); stored times are UTC."""
        at = row.at if row.at.tzinfo is not None else row.at.replace(tzinfo=UTC)
        return at.astimezone(self.zone(row, fallback=fallback))


def parse_since(text: str, *, code: Callable[[str], str], quote: Callable[[str], str]) -> date | None:
    """The day after `audit` ("since 2026-11-01", or the date alone); None for none. `code` words a
    command the way the front shows one, `quote` shows back what the person typed (made inert)."""
    words = (text or "").split()
    if words and words[0].lower() == "since":
        words = words[1:]
        if not words:
            raise UserError(f"Since when? Give a day like 2026-11-01: {code(USAGE)}.")
    if not words:
        return None
    if len(words) > 1:
        raise UserError(f"I only understand a start day here: {code(USAGE)}.")
    try:
        return date.fromisoformat(words[0])
    except ValueError:
        raise UserError(f"{quote(words[0][:40])} is not a day; use YYYY-MM-DD, like 2026-11-01: "
                        f"{code(USAGE)}.") from None


def _zone(name: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def since_zone(session: Session, actor: Actor, *, school_ids: frozenset[int] | None, default_zone: str) -> str:
    """The zone a typed start day is read in: the school's when the page is one school's, else the
    caller's own (their profile's), else `default_zone` (the bot's), else UTC."""
    candidates: list[str | None] = []
    if school_ids is not None and len(school_ids) == 1:
        candidates.append(audit_log.school_zones(session, school_ids=set(school_ids)).get(next(iter(school_ids))))
    if actor.person_id is not None:
        person = session.get(Person, actor.person_id)
        candidates.append(person.tz if person is not None else None)
    candidates.append(default_zone)
    return next((name for name in candidates if name and _zone(name) is not None), "UTC")


def start_of(day: date, zone: str) -> datetime:
    """Midnight at the start of `day` in `zone`, as an aware UTC time (the log's times are UTC)."""
    return datetime(day.year, day.month, day.day, tzinfo=_zone(zone) or UTC).astimezone(UTC)


def audit_page(session: Session, actor: Actor, *, channel_school_id: int | None, args: str,
               code: Callable[[str], str], quote: Callable[[str], str], default_zone: str = "UTC") -> AuditPage:
    """The newest entries of the part of the log `actor` may see (`Forbidden` says who can), from
    midnight of the typed start day in `since_zone`'s zone."""
    school_ids = audit_scope(actor, channel_school_id=channel_school_id)
    since = parse_since(args, code=code, quote=quote)
    zone = since_zone(session, actor, school_ids=school_ids, default_zone=default_zone)
    start = start_of(since, zone) if since else None
    rows = list(audit_log.entries(session, since=start, school_ids=school_ids, limit=SHOWN + 1, newest_first=True))
    teams = audit_log.team_names(session, team_ids=audit_log.team_ids_in(rows)) if rows else {}
    names = audit_log.school_names(session, school_ids=school_ids) if school_ids is not None else []
    scope = "the whole district" if school_ids is None else ", ".join(names) or "your school"
    shown = rows[:SHOWN]
    zones = audit_log.school_zones(session, school_ids={r.school_id for r in shown if r.school_id is not None})
    return AuditPage(rows=tuple(shown), scope=scope, since=since, more=len(rows) > SHOWN, team_names=teams,
                     show_school=school_ids is None or len(school_ids) > 1, zones=zones, since_zone=zone)
