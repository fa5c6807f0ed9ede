"""The core's actions: what a person can do, as plain functions that every chat front calls.

An action takes who (an `Actor`), where (a team id, or none) and its inputs as plain data. It
checks the role on the server, writes, and returns an `ActionResult`: what changed and what to
tell whom. A front (Slack's Bolt listeners today, Teams' next) only translates its payload into
the call and renders the result its own way, so no PLC rule is written twice. Nothing here
imports a chat platform or its rendering: a contract in pyproject.toml says so and a test runs it.

Modal forms keep the order Slack's 3-second limit needs (`handlers.forms.submit`: check
read-only, acknowledge, then write): an action that backs a form offers its `check` and `write`
halves separately, and the front wraps them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Notice:
    """Something an action owes someone other than the actor: a person, or a team's place.

    `view` is a view model (`storage.views`) that each front renders natively, or plain text.
    `key` is the delivery ledger key (`scheduling.keys`) when it must arrive exactly once.
    """

    view: object
    person: str | None = None  # the person's id (today the Slack user id; see issue 24's identities)
    team_id: int | None = None  # the team's chat place
    key: str | None = None


@dataclass(frozen=True)
class ActionResult:
    """What an action did: the words for the actor, what changed, and whom else to tell."""

    reply: str = ""  # plain words for the actor; a front may add formatting, never meaning
    changed: tuple[str, ...] = ()  # what changed, in words (logs, tests, the audit's detail)
    notices: tuple[Notice, ...] = ()
    refresh_homes: tuple[str, ...] = field(default=())  # people whose dashboard shows what changed
