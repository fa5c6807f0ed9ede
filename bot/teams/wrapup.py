"""The wrap-up on Teams: `@plcbot wrapup` (or the agenda card's "Wrap up") opens a dialog with
Slack's wrap-up modal's fields (who attended, notes per agenda item, other decisions, up to three
new action items with owner, what and due date).

The same core as Slack's: `handlers.core.meetings.meeting_to_wrap_up` / `open_wrapup` (who may,
when), `read_wrapup` (the form's reading: half-filled rows, lengths, dates), `check_wrapup`
(read-only; a refusal goes back on the form with nothing stored) and `write_wrapup` (one
transaction; a second submit finds the meeting held and stores nothing more). Once written, the
meeting log goes to the team's channel (under the posted agenda when there is one) and each new
action item's owner is told, each once through the delivery ledger.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bot.teams import card_kit as ck
from handlers.core import meetings as core
from handlers.errors import UserError
from storage import meetings as store
from storage.rules.agenda import ACTION_MAX, RuleError, local_label
from storage.teams import active_members

if TYPE_CHECKING:
    from bot.services import Services
    from bot.teams.commands import Reply, Request
    from storage.rules.roles import Actor

log = logging.getLogger("plcbot.teams")

DIALOG = "meeting_wrapup"  # the agenda card's "Wrap up" (`bot.teams.cards.BUTTONS`) opens it too
SUBMIT = "meeting_wrapup_submit"
ACTION_ROWS = 3  # as Slack's modal (`bot.render.agenda.WRAPUP_ACTION_ROWS`)
ITEMS_MAX = 25
MEMBERS_MAX = 60
BUDGET = 24_000  # bytes of card, inside Teams' 28 KB with the dialog's wrapping

Answer = dict[str, Any]
Field = Callable[..., str]


def wrapup_reply(services: Services, request: Request, activity: dict[str, Any]) -> Reply:
    """`wrapup` in the team's channel: refused now when nobody may or nothing waits, else a card
    whose button opens the dialog (a typed message cannot open a dialog; a button's task/fetch can)."""
    team = request.require_team()
    assert team.id is not None
    with services.db.read() as session:
        meeting = core.meeting_to_wrap_up(session, request.actor, team_id=team.id, now=services.clock.now())
    assert meeting.id is not None
    when = local_label(meeting.starts_at, team.timezone)
    button = {"type": "Action.Submit", "title": "Wrap up", "style": "positive",
              "data": {"msteams": {"type": "task/fetch"}, "dialog_id": DIALOG, "meeting_id": meeting.id}}
    body = [ck.heading("Wrap up the meeting"),
            ck.text(f"The meeting of {ck.md(when)}: who attended, notes, decisions and new action items. "
                    "The log goes to this channel.")]
    return f"Wrap up the meeting of {when}: click the button to open the form.", ck.card(body, [button])


# ------------------------------------------------------------------------------ the dialog
def form(services: Services, actor: Actor, meeting_id: int) -> tuple[str, dict[str, Any]]:
    """The wrap-up dialog for a meeting `actor` may wrap up now (`core.open_wrapup` refuses otherwise)."""
    from bot.teams.commands import _names

    with services.db.read() as session:
        meeting, team = core.open_wrapup(session, actor, meeting_id=meeting_id, now=services.clock.now())
        assert team.id is not None
        members = [p.handle for p in active_members(session, team_id=team.id)]
        items = [(i.id or 0, i.title) for i in store.items(session, meeting_id=meeting_id)][:ITEMS_MAX]
        names = _names(session)
    when = local_label(meeting.starts_at, team.timezone)
    shown = MEMBERS_MAX
    while True:
        content = _form(meeting_id, when, members[:shown], items, names, left_out=max(0, len(members) - shown))
        if ck.size(content) <= BUDGET or shown <= 5:
            return "Wrap up", content
        shown //= 2


def _form(meeting_id: int, when: str, members: list[str], items: list[tuple[int, str]], names: Any,
          *, left_out: int) -> dict[str, Any]:
    choices = [{"title": ck.clip(str(names(uid) or uid), 80), "value": uid} for uid in members]
    body: list[dict[str, Any]] = [
        ck.heading("Wrap up the meeting"),
        ck.subtle(f"The meeting of {ck.md(when)}. The log goes to the team's channel; each new action item's "
                  "owner is told. Please don't name students."),
        {"type": "Input.ChoiceSet", "id": "present", "label": "Who attended", "isMultiSelect": True,
         "choices": choices, "value": ",".join(members)},
    ]
    if left_out:
        body.append(ck.subtle(f"{left_out} more members are not listed (the form has to stay small)."))
    for n, (item_id, title) in enumerate(items, 1):
        body.append({"type": "Input.Text", "id": f"n{item_id}", "label": f"{n}. {ck.clip(title, 150)}: notes or "
                     "decisions", "isMultiline": True, "maxLength": core.NOTES_MAX,
                     "errorMessage": f"Keep the notes under {core.NOTES_MAX} characters."})
    body.append({"type": "Input.Text", "id": "decisions", "label": "Other decisions", "isMultiline": True,
                 "maxLength": core.DECISIONS_MAX,
                 "errorMessage": f"Keep the decisions under {core.DECISIONS_MAX} characters."})
    body.append(ck.text("**New action items** (leave a row empty to skip it)", separator=True))
    for k in range(1, ACTION_ROWS + 1):
        body += [
            {"type": "Input.ChoiceSet", "id": f"a{k}_owner", "label": f"Action {k}: owner", "style": "compact",
             "placeholder": "Choose the owner", "choices": choices},
            {"type": "Input.Text", "id": f"a{k}_text", "label": f"Action {k}: what", "maxLength": ACTION_MAX,
             "errorMessage": f"Keep it under {ACTION_MAX} characters."},
            {"type": "Input.Date", "id": f"a{k}_due", "label": f"Action {k}: due"},
        ]
    return ck.card(body, [ck.submit("Post the log", SUBMIT, meeting_id=meeting_id)])


def typed_of(data: Mapping[str, Any], field: Field) -> dict[str, str]:
    """The submitted fields as text (`field` refuses a wrong type or a length no card allows)."""
    typed = {"present": field(data, "present", 20_000), "decisions": field(data, "decisions", 2 * core.DECISIONS_MAX)}
    for key in data:
        if isinstance(key, str) and key.startswith("n") and key[1:].isdigit() and len(key) <= 12:
            typed[key] = field(data, key, 2 * core.NOTES_MAX)
    for k in range(1, ACTION_ROWS + 1):
        typed[f"a{k}_owner"] = field(data, f"a{k}_owner", 255)
        typed[f"a{k}_text"] = field(data, f"a{k}_text", 2 * ACTION_MAX)
        typed[f"a{k}_due"] = field(data, f"a{k}_due", 40)
    return typed


def read(typed: Mapping[str, str]) -> core.WrapupForm:
    """The dialog's answers as the core's form (the reading is the core's, as for Slack's modal)."""
    notes = {int(key[1:]): value for key, value in typed.items() if key.startswith("n") and key[1:].isdigit()}
    rows = [(f"a{k}", typed.get(f"a{k}_owner") or None, typed.get(f"a{k}_text") or "",
             typed.get(f"a{k}_due") or None) for k in range(1, ACTION_ROWS + 1)]
    present = [p.strip() for p in (typed.get("present") or "").split(",") if p.strip()]
    return core.read_wrapup(present=present, notes=notes, decisions=typed.get("decisions") or "", rows=rows)


def again(content: dict[str, Any], errors: Mapping[str, str], typed: Mapping[str, str]) -> dict[str, Any]:
    """The form again with what was typed and the errors (a multi-select keeps its choices)."""
    from bot.teams import dialogs

    shown = dialogs.with_errors(content, errors, {k: v for k, v in typed.items() if k != "present"})
    for element in shown["body"]:
        if element.get("id") == "present":
            allowed = {c["value"] for c in element.get("choices") or []}
            element["value"] = ",".join(p for p in (typed.get("present") or "").split(",") if p in allowed)
    return shown


def submit(services: Services, actor: Actor, meeting_id: int, typed: Mapping[str, str]
           ) -> tuple[str, dict[str, Any], Callable[[], None] | None]:
    """Check and store the wrap-up. Raises `handlers.core.meetings.FormErrors` (field → message) with
    nothing stored; returns the confirmation's title and card, and what to send once answered
    (None after a doubled submit: the first one sent it)."""
    form_read = read(typed)
    now = services.clock.now()
    with services.db.read() as session:
        try:
            checked = core.check_wrapup(session, actor, meeting_id=meeting_id, form=form_read, now=now)
        except RuleError as exc:
            raise core.FormErrors({exc.field or "": str(exc)}) from None
    with services.db.session() as session:
        result = core.write_wrapup(session, actor, checked, now=now)
    if result.created is None:
        words = "This meeting has been wrapped up already; its log is in the team's channel."
        return "Wrap up", ck.card([ck.container([ck.text(words)], style="emphasis")]), None
    count = len(result.created)
    words = ("✅ **The wrap-up is saved.** The log goes to the team's channel"
             + (f", and the owners of the {count} new action item{'s' if count != 1 else ''} are told." if count
                else "."))
    return "Wrap up", ck.card([ck.container([ck.text(words)], style="good")]), lambda: after(services, result)


def after(services: Services, result: core.WrapupResult) -> None:
    """What a saved wrap-up owes: the log in the team's channel, each owner told, the agenda updated.
    Each once (the ledger's keys), so running it again sends nothing twice."""
    from bot.teams.commands import _refresh_agenda, notify_owner
    from storage.views.meeting_actions import ActionAssigned, MeetingLogDue

    meeting_id = None
    for notice in result.notices:
        try:
            if isinstance(notice.view, MeetingLogDue):
                meeting_id = notice.view.meeting_id
                post_log(services, meeting_id)
            elif isinstance(notice.view, ActionAssigned):
                notify_owner(services, notice.view.action_id, assigned_by=notice.view.assigned_by)
        except Exception:
            log.exception("Failed to send what a Teams wrap-up owed")
    _refresh_agenda(services, meeting_id)


def post_log(services: Services, meeting_id: int) -> None:
    """The meeting log in the team's place: under the posted agenda when there is one."""
    from bot.teams import cards
    from bot.teams.app import place_of_team
    from bot.teams.commands import _names
    from scheduling import keys
    from scheduling.delivery import deliver
    from storage.models import Meeting

    with services.db.read() as session:
        meeting = session.get(Meeting, meeting_id)
        if meeting is None:
            return
        log_data = store.meeting_log(session, meeting_id=meeting_id)
        names = _names(session)
    place = meeting.agenda_channel_id or place_of_team(services, meeting.team_id)
    if place is None:
        raise UserError("The team has no place to post the log in.")
    text, content = cards.meeting_log(log_data, names)
    deliver(services, key=keys.meeting_log(meeting_id), kind="meeting_log", recipient=place, text=text,
            blocks=content, thread_ts=meeting.agenda_ts if meeting.agenda_channel_id else None,  # type: ignore[arg-type]
            payload={"meeting_id": meeting_id})
