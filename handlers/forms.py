"""Modal submits: check read-only, acknowledge, then write once.

Slack wants a modal's answer (the `ack`) within 3 seconds, and a refusal can only be shown on the
form in that answer. A write transaction waits for SQLite's write lock, and under load that wait
could pass the deadline. So `submit` runs a form in three steps:

1. `check(session)` in a read-only transaction (`services.db.read()`, which never takes the write
   lock). Everything the form can be refused for is found here: it raises `RuleError` (shown on its
   `field`, or the default block), `UserError` or `Forbidden` (shown on the default block), or
   `Invalid` (several fields at once). Otherwise it returns plain data for the write.
2. `ack()`: Slack closes the modal. Nothing before this point needs the write lock.
3. `write(session, checked)` in ONE write transaction. It checks the role again (`require_again`)
   because it may have changed since the read. Anything it raises can no longer be shown on the
   form, so `failed(checked, exc)` tells the user some other way (an ephemeral note, a DM) and
   logs what needs logging.

A handler then reads: parse the form (plain errors are acknowledged inline before any database
work) → check → write → tell (with what `submit` returned).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from slack_bolt import Ack
from sqlmodel import Session

from handlers.errors import OUR_FAULT, Invalid, UserError
from storage.people import load_actor
from storage.rules.agenda import RuleError
from storage.rules.roles import Action, Actor, Forbidden, require

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger("plcbot.forms")

C = TypeVar("C")
W = TypeVar("W")


def submit(ack: Ack, services: Services, *, field: str, check: Callable[[Session], C],
           write: Callable[[Session, C], W], failed: Callable[[C, Exception], None],
           unexpected: str = "Failed to check a submitted form") -> tuple[C, W] | None:
    """Check read-only (refusals go back inline on the form), `ack()`, then write in one transaction.

    `field` is the block id a refusal without a field of its own is shown on. Any other error the
    check raises (a bug, a database that went away) is logged with `unexpected` and the form shows
    `OUR_FAULT` on `field`: the person gets an answer they can act on, never Slack's generic error.
    Returns `(checked, written)`, or None when the form was refused or the write failed (`failed`
    has been called then).
    """
    try:
        with services.db.read() as session:
            checked = check(session)
    except Invalid as exc:
        ack(response_action="errors", errors=exc.errors)
        return None
    except RuleError as exc:
        ack(response_action="errors", errors={exc.field or field: str(exc)})
        return None
    except (UserError, Forbidden) as exc:
        ack(response_action="errors", errors={field: str(exc)})
        return None
    except Exception:
        log.exception(unexpected)
        ack(response_action="errors", errors={field: OUR_FAULT})
        return None
    ack()
    try:
        with services.db.session() as session:
            written = write(session, checked)
    except Exception as exc:
        failed(checked, exc)
        return None
    return checked, written


def require_again(session: Session, services: Services, user_id: str, action: Action, *,
                  team_id: int | None = None, school_id: int | None = None) -> Actor:
    """Inside the write: the role, loaded afresh, must still allow `action` (raises `Forbidden`)."""
    actor = load_actor(session, user_id, admins=services.settings.admins)
    require(actor, action, team_id=team_id, school_id=school_id)
    return actor
