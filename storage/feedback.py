"""Feedback data access: answers, the anonymous link, windows and what the agenda asks for.

Anonymous answers store no person. While the window is open the author is found again only
through `link`, an HMAC-SHA256 of (meeting id, person id) under a key that lives outside
the database (PLCBOT_SECRET_KEY, see `link_key`); `close_windows` empties those links when the
window closes, on SQLite with `secure_delete` so the old bytes do not linger in free pages.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.models import Meeting, Person, Team
from storage.models.feedback import Feedback
from storage.rules import feedback as rules

_PROCESS_KEY = secrets.token_bytes(32)  # only when no secret is configured at all
_ID_SPACE = 2**31 - 1  # fits PostgreSQL's INTEGER


def link_key(secret_key: str | None, *fallbacks: str | None) -> bytes:
    """The key for anonymous links: never stored in the database or logged.

    PLCBOT_SECRET_KEY when set. Otherwise one derived from the first secret given (see
    `install_link_key`), which every process of one install shares and which is kept in `.env`, not in the
    database, so links survive a restart and agree across web workers. With no secret at all
    (never in a real install) a random key held in this process's memory: links die with it.
    """
    for secret in (secret_key, *fallbacks):
        if secret:
            return hmac.new(b"plcbot feedback link v1", secret.encode(), hashlib.sha256).digest()
    return _PROCESS_KEY


class LinkSecrets(Protocol):
    @property
    def secret_key(self) -> str | None: ...
    @property
    def signing_secret(self) -> str | None: ...
    @property
    def bot_token(self) -> str | None: ...
    @property
    def teams_client_secret(self) -> str | None: ...


def install_link_key(settings: LinkSecrets) -> bytes:
    """The install's link key, from its settings: PLCBOT_SECRET_KEY, else Slack's signing secret
    or bot token (in that order, as before Teams, so links made then still match), else the
    Teams client secret, so a Teams-only install's links also survive a restart."""
    return link_key(settings.secret_key, settings.signing_secret, settings.bot_token, settings.teams_client_secret)


def anonymous_link(key: bytes, *, meeting_id: int, person_id: int) -> str:
    """One-way, keyed: without the key nobody can tell whose answer this is. Keyed by the person
    row, so it is the same whichever chat platform they answer from."""
    return hmac.new(key, f"{meeting_id}:person:{person_id}".encode(), hashlib.sha256).hexdigest()


def legacy_link(key: bytes, *, meeting_id: int, user_id: str) -> str:
    """The link as written before migration 0011, from the Slack user id. An answer whose window
    was open across the upgrade still carries it; it is found by it and moved to the new form on
    its next save, and every window closes within days, emptying the link."""
    return hmac.new(key, f"{meeting_id}:{user_id}".encode(), hashlib.sha256).hexdigest()


def links_of(link: str, legacy: str | None) -> list[str]:
    return [link] if legacy is None else [link, legacy]


# ---------------------------------------------------------------------------------- meetings


def latest_started_meeting(session: Session, *, team_id: int, now: datetime) -> Meeting | None:
    return session.exec(
        select(Meeting)
        .where(Meeting.team_id == team_id, col(Meeting.status) != "cancelled", col(Meeting.starts_at) <= now)
        .order_by(col(Meeting.starts_at).desc())
    ).first()


def meeting_on(
    session: Session, *, team_id: int, start: datetime, end: datetime, now: datetime
) -> Meeting | None:
    """The last started meeting between `start` and `end` (a local day, in UTC)."""
    return session.exec(
        select(Meeting)
        .where(Meeting.team_id == team_id, col(Meeting.status) != "cancelled",
               col(Meeting.starts_at) >= start, col(Meeting.starts_at) < end, col(Meeting.starts_at) <= now)
        .order_by(col(Meeting.starts_at).desc())
    ).first()


def next_meeting_start(session: Session, meeting: Meeting) -> datetime | None:
    return session.exec(
        select(Meeting.starts_at)
        .where(Meeting.team_id == meeting.team_id, col(Meeting.status) != "cancelled",
               col(Meeting.starts_at) > meeting.starts_at)
        .order_by(col(Meeting.starts_at))
    ).first()


def next_starts(session: Session, meetings: Sequence[tuple[Meeting, Team]]) -> dict[int, datetime | None]:
    """Each meeting's following (not cancelled) meeting start, for many meetings in one query.

    Only a start before the window's day limit matters, so the query stops at the latest limit.
    """
    if not meetings:
        return {}
    team_ids = sorted({m.team_id for m, _ in meetings})
    lower = min(m.starts_at for m, _ in meetings)
    upper = max(m.starts_at + timedelta(days=max(1, t.feedback_window_days)) for m, t in meetings)
    starts: dict[int, list[datetime]] = {}
    for team_id, start in session.exec(
        select(Meeting.team_id, Meeting.starts_at)
        .where(col(Meeting.team_id).in_(team_ids), col(Meeting.status) != "cancelled",
               col(Meeting.starts_at) > lower, col(Meeting.starts_at) <= upper)
        .order_by(col(Meeting.starts_at))
    ).all():
        starts.setdefault(team_id, []).append(start)
    out: dict[int, datetime | None] = {}
    for m, _ in meetings:
        assert m.id is not None
        later = starts.get(m.team_id, [])
        i = bisect.bisect_right(later, m.starts_at)
        out[m.id] = later[i] if i < len(later) else None
    return out


def windows_close(session: Session, meetings: Sequence[tuple[Meeting, Team]]) -> dict[int, datetime]:
    """When each meeting's feedback window closes (one query for all of them)."""
    following = next_starts(session, meetings)
    return {m.id: rules.window_closes(m.starts_at, following[m.id], t.feedback_window_days)
            for m, t in meetings if m.id is not None}


def window_closes(session: Session, meeting: Meeting, team: Team) -> datetime:
    following = next_meeting_start(session, meeting)
    return rules.window_closes(meeting.starts_at, following, team.feedback_window_days)


def is_open(session: Session, meeting: Meeting, team: Team, now: datetime) -> bool:
    if meeting.status == "cancelled":
        return False
    return rules.window_open(now, meeting.starts_at, window_closes(session, meeting, team))


# ---------------------------------------------------------------------------------- answers


def own_answer(session: Session, *, meeting_id: int, person_id: int, link: str,
               legacy: str | None = None) -> Feedback | None:
    """The person's answer: theirs by name, or the anonymous one their link still finds."""
    named = session.exec(
        select(Feedback).where(Feedback.meeting_id == meeting_id, Feedback.person_id == person_id)
    ).first()
    if named is not None:
        return named
    return session.exec(select(Feedback).where(col(Feedback.link).in_(links_of(link, legacy)))).first()


def _fill(row: Feedback, answer: rules.Answer, today: date) -> None:
    for key, value in answer.ratings.items():
        setattr(row, key, value)
    for q in rules.TEXTS:
        setattr(row, q.key, answer.texts.get(q.key, ""))
    row.anonymous = answer.anonymous
    row.answered_on = today


def save_answer(
    session: Session, *, meeting: Meeting, person_id: int, link: str, answer: rules.Answer, today: date,
    legacy: str | None = None,
) -> Feedback:
    """Store or replace the person's one answer to this meeting; a double submit stores one.

    Named answers are keyed by (meeting, person); anonymous ones by the link and carry no
    person. Switching between the two replaces the other form. Concurrent submissions meet
    the unique keys: the loser re-reads and updates (SQLite's BEGIN IMMEDIATE also
    serialises them). Ids are random so insertion order says nothing about who came when.
    """
    assert meeting.id is not None
    use_secure_delete(session)
    for _ in range(6):
        if answer.anonymous:
            session.exec(delete(Feedback).where(  # type: ignore[call-overload]
                col(Feedback.meeting_id) == meeting.id, col(Feedback.person_id) == person_id))
            row = session.exec(select(Feedback).where(col(Feedback.link).in_(links_of(link, legacy)))).first()
            if row is not None:
                row.link = link
        else:
            session.exec(delete(Feedback).where(  # type: ignore[call-overload]
                col(Feedback.link).in_(links_of(link, legacy))))
            row = session.exec(
                select(Feedback).where(Feedback.meeting_id == meeting.id, Feedback.person_id == person_id)
            ).first()
        if row is not None:
            _fill(row, answer, today)
            session.add(row)
            session.flush()
            return row
        row = Feedback(
            id=secrets.randbelow(_ID_SPACE) + 1,
            meeting_id=meeting.id,
            team_id=meeting.team_id,
            person_id=None if answer.anonymous else person_id,
            link=link if answer.anonymous else None,
            answered_on=today,
            useful=0, learned=0, norms=0,
        )
        _fill(row, answer, today)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:  # the same person's other submission (or an id clash): try again
            continue
        return row
    raise RuntimeError("could not store the feedback answer")


def use_secure_delete(session: Session) -> None:
    """On SQLite, overwrite deleted or replaced bytes (old links) instead of leaving them in free pages."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("PRAGMA secure_delete=ON")


@dataclass(frozen=True)
class ResultRow:
    answer: Feedback
    user_id: str | None  # None for anonymous answers


def answers_for(session: Session, *, meeting_id: int) -> list[ResultRow]:
    rows = session.exec(
        select(Feedback, Person.handle)
        .join(Person, col(Person.id) == Feedback.person_id, isouter=True)
        .where(Feedback.meeting_id == meeting_id)
    ).all()
    return [ResultRow(answer, None if answer.anonymous else user_id) for answer, user_id in rows]


def to_stored(rows: Sequence[ResultRow]) -> list[rules.Stored]:
    return [
        rules.Stored(
            ratings={q.key: getattr(r.answer, q.key) for q in rules.RATINGS},
            texts={q.key: getattr(r.answer, q.key) for q in rules.TEXTS},
            name=r.user_id,
            anonymous=r.answer.anonymous,
        )
        for r in rows
    ]


def close_windows(session: Session, *, now: datetime, team_id: int | None = None) -> int:
    """Delete the anonymous links of every meeting whose window has closed; returns how many."""
    query = select(Meeting, Team).join(Team, col(Team.id) == Meeting.team_id).where(
        col(Meeting.id).in_(select(Feedback.meeting_id).where(col(Feedback.link).is_not(None)))
    )
    if team_id is not None:
        query = query.where(Meeting.team_id == team_id)
    rows = list(session.exec(query).all())
    closes = windows_close(session, rows)
    closed = [m.id for m, _ in rows if m.status == "cancelled" or closes[m.id] <= now]  # type: ignore[index]
    if not closed:
        return 0
    use_secure_delete(session)
    result = session.exec(  # type: ignore[call-overload]
        update(Feedback).where(col(Feedback.meeting_id).in_(closed), col(Feedback.link).is_not(None))
        .values(link=None)
    )
    return int(result.rowcount or 0)


def relink_anonymous(session: Session, *, key: bytes, keep: tuple[int, str], drop: tuple[int, str]) -> int:
    """When person `drop` is merged into `keep` (`plcbot people link`), let `keep` find the
    anonymous answers `drop`'s link finds, still inside their window: each is re-keyed to
    `keep`'s link, so the teacher can still change it. Returns how many (the caller says nothing
    of it: who answered anonymously is nobody's to learn, an admin's neither).

    A meeting `keep` already answered (named or anonymously) keeps both answers as they are: one
    teacher who answered from two accounts before they were linked. `drop`'s can no longer be
    changed, and goes with its window; no words are dropped and no answer is merged."""
    (keep_id, keep_handle), (drop_id, drop_handle) = keep, drop
    open_rows = session.exec(select(Feedback).where(col(Feedback.link).is_not(None))).all()
    if not open_rows:
        return 0
    by_link = {row.link: row for row in open_rows}
    meetings = {row.meeting_id for row in open_rows}
    named = set(session.exec(select(Feedback.meeting_id).where(
        col(Feedback.meeting_id).in_(meetings), Feedback.person_id == keep_id)).all())

    def found(meeting_id: int, person_id: int, handle: str) -> Feedback | None:
        for link in links_of(anonymous_link(key, meeting_id=meeting_id, person_id=person_id),
                             legacy_link(key, meeting_id=meeting_id, user_id=handle)):
            if link in by_link:
                return by_link[link]
        return None

    moved = 0
    for meeting_id in sorted(meetings):
        theirs = found(meeting_id, drop_id, drop_handle)
        if theirs is None or meeting_id in named or found(meeting_id, keep_id, keep_handle) is not None:
            continue
        theirs.link = anonymous_link(key, meeting_id=meeting_id, person_id=keep_id)
        session.add(theirs)
        moved += 1
    session.flush()
    return moved


def meetings_to_prompt(session: Session, *, since: datetime, until: datetime) -> list[tuple[Meeting, Team]]:
    """Meetings starting in [since, until) of active teams, for the prompt planner."""
    return list(session.exec(
        select(Meeting, Team).join(Team, col(Team.id) == Meeting.team_id)
        .where(col(Meeting.starts_at) >= since, col(Meeting.starts_at) < until,
               col(Meeting.status) != "cancelled", col(Team.archived_at).is_(None))
    ).all())


def requested_topics(session: Session, *, team_id: int, meetings: int = 1) -> list[str]:
    """Topics teachers asked for ("what should we focus on next time") for the next agenda.

    Reads the answers to the team's most recent `meetings` meetings that have feedback. The
    texts are raw (escape them before they go into mrkdwn), without names, de-duplicated
    case-insensitively and sorted alphabetically, so their order says nothing about who
    answered when.
    """
    recent = session.exec(
        select(Meeting.id)
        .join(Feedback, col(Feedback.meeting_id) == Meeting.id)
        .where(Meeting.team_id == team_id, col(Meeting.status) != "cancelled")
        .group_by(col(Meeting.id), col(Meeting.starts_at))
        .order_by(col(Meeting.starts_at).desc())
        .limit(max(1, meetings))
    ).all()
    if not recent:
        return []
    texts = session.exec(
        select(Feedback.next_focus)
        .where(col(Feedback.meeting_id).in_(list(recent)), col(Feedback.next_focus) != "")
    ).all()
    seen: dict[str, str] = {}
    for text in texts:
        cleaned = " ".join(text.split())
        if cleaned and cleaned.casefold() not in seen:
            seen[cleaned.casefold()] = cleaned
    return sorted(seen.values(), key=str.casefold)
