"""Feedback data access: answers, the anonymous link, windows and what the agenda asks for."""

from __future__ import annotations

from sqlmodel import Session, col, select

from storage.models import Meeting
from storage.models.feedback import Feedback


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
        select(Feedback.next_focus).where(col(Feedback.meeting_id).in_(list(recent)), Feedback.next_focus != "")
    ).all()
    seen: dict[str, str] = {}
    for text in texts:
        cleaned = " ".join(text.split())
        if cleaned and cleaned.casefold() not in seen:
            seen[cleaned.casefold()] = cleaned
    return sorted(seen.values(), key=str.casefold)
