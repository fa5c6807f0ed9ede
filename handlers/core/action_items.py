"""Action-item actions: assign one to a team member, and mark one done.

Each takes who (an `Actor`, loaded inside the caller's transaction), where (a team or an item)
and plain data (the owner as a person id, read by the front from its own mention; the due date
already a date), checks the role, writes and returns what changed. A new item's owner is owed a
message, once (`Notice` keyed `scheduling.keys.action_assigned`); open items carry over onto the
next agenda, so the result names the meeting whose posted agenda the front brings up to date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers.core import ActionResult, Notice
from handlers.errors import UserError
from scheduling import keys
from storage import actions as store
from storage import meetings as meeting_store
from storage.models import Team
from storage.rules.agenda import ACTION_MAX, RuleError, day_label
from storage.rules.roles import Action, Actor, allowed, require
from storage.views.meeting_actions import ActionAssigned

NOT_YOURS = "Only the owner of this action item or a facilitator can close it."


@dataclass(frozen=True)
class ActionItemResult(ActionResult):
    action_id: int = 0
    team_id: int = 0
    team_name: str = ""
    owner: str = ""  # a person id
    text: str = ""
    due: date | None = None
    agenda_meeting_id: int | None = None  # the next meeting: its posted agenda lists open items


@dataclass(frozen=True)
class ActionDone(ActionItemResult):
    closed: bool = False  # False: it was done already (a double click changes nothing)


def _next_meeting_id(session: Session, team_id: int, now: datetime) -> int | None:
    upcoming = meeting_store.upcoming(session, team_id=team_id, now=now, limit=1)
    return upcoming[0].id if upcoming else None


def add_action_item(session: Session, actor: Actor, *, team_id: int, owner: str, text: str, due: date | None,
                    now: datetime) -> ActionItemResult:
    """Assign `text` to `owner` (a member of the team), due on `due` (the team's local date) or open-ended.

    Raises `RuleError` for an owner outside the team, empty or long words, or a date passed.
    """
    team = session.get(Team, team_id)
    if team is None or team.id is None:
        raise UserError("That team no longer exists.")
    require(actor, Action.ASSIGN_ACTION, team_id=team_id, school_id=team.school_id)
    text = (text or "").strip()
    if not text:
        raise RuleError("Say what needs doing.")
    if len(text) > ACTION_MAX:
        raise RuleError(f"Keep the action item under {ACTION_MAX} characters ({len(text)} now).")
    if due is not None and due < now.astimezone(ZoneInfo(team.timezone)).date():
        raise RuleError(f"{due:%b} {due.day} has passed; give a due date from today on.")
    item = store.add_action(session, team_id=team_id, owner=owner, text=text, due=due, created_by=actor.handle,
                            now=now)
    assert item.id is not None
    when = f", due {day_label(due)}" if due else ""
    return ActionItemResult(
        reply=f"Action item{when}: {text}. The owner is told.", changed=(f"action:{item.id} added",),
        notices=(Notice(view=ActionAssigned(item.id, actor.handle), person=owner,
                        key=keys.action_assigned(item.id)),),
        action_id=item.id, team_id=team_id, team_name=team.name, owner=owner, text=text, due=due,
        agenda_meeting_id=_next_meeting_id(session, team_id, now))


def may_close(actor: Actor, owner: str, team_id: int, school_id: int) -> bool:
    """An action item is closed by its owner or a facilitator."""
    return actor.handle == owner or allowed(actor, Action.EDIT_AGENDA, team_id=team_id, school_id=school_id)


def mark_done(session: Session, actor: Actor, *, action_id: int, now: datetime) -> ActionDone:
    """Close an action item (its owner or a facilitator); a second call finds it done and changes nothing."""
    ctx = store.load(session, action_id=action_id)
    if ctx is None:
        raise UserError("That action item no longer exists.")
    assert ctx.team.id is not None
    if not may_close(actor, ctx.owner.handle, ctx.team.id, ctx.team.school_id):
        raise UserError(NOT_YOURS)
    closed = store.mark_done(session, action_id=action_id, by=actor.handle, now=now)
    return ActionDone(
        reply="Marked done." if closed else "This action item was done already.",
        changed=(f"action:{action_id} done",) if closed else (),
        action_id=action_id, team_id=ctx.team.id, team_name=ctx.team.name, owner=ctx.owner.handle,
        text=ctx.item.text, due=ctx.item.due_date, closed=closed,
        agenda_meeting_id=_next_meeting_id(session, ctx.team.id, now) if closed else None)
