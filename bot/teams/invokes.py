"""Teams invokes: card clicks (`adaptiveCard/action`), dialogs (`task/fetch`, `task/submit`) and the
digest workbook's file consent (`fileConsent/invoke`), as one synchronous function.

The contract (`bot/teams/app.py` calls it for every `invoke` activity, in a thread pool):

    handle(services, activity) -> dict

`activity` is the invoke as Teams sent it (a plain dict, its JWT already validated by the SDK).
The answer is a plain dict:

- `"status"`: the HTTP status of the invoke response (200, or 400 for a request this bot cannot
  read: an unknown invoke, action or dialog, a field of the wrong type or length);
- `"body"`: the invoke response body, JSON-ready (camelCase as Teams reads it), or None:
  `adaptiveCard/action` → `{"statusCode": 200, "type": "application/vnd.microsoft.card.adaptive",
  "value": card}` (the card replaces the clicked one for the clicker) or `{"statusCode": 200,
  "type": "application/vnd.microsoft.activity.message", "value": text}` (a refusal: shown to the
  clicker, nothing stored), or a 400 `application/vnd.microsoft.error`;
  `task/fetch` and `task/submit` → `{"task": {"type": "continue", "value": {"title", "card":
  attachment}}}` (the dialog, or the same dialog again with the errors on it and nothing stored,
  or a short confirmation card) or `{"task": {"type": "message", "value": text}}`;
  `fileConsent/invoke` → None (Teams wants a bare 200);
- optional `"send"`: activities (dicts) the app posts into the invoke's conversation after it has
  answered (the file info card once a workbook is uploaded);
- optional `"update"`: `[{"activity_id": id, "activity": activity}]`, messages of that conversation
  the app updates after answering (the file consent card once declined; the check-in card a
  details dialog was opened from);
- optional `"after"`: functions (no arguments) the app runs in its pool once the answer is decided,
  for what an action owes that is not one notice (the wrap-up's log and its owners' cards, each
  sent once through the ledger);
- optional `"notices"`: `handlers.core.Notice`s an action owes others; the app delivers them
  through the ledger off the request path (`scheduling.delivery.deliver` with the notice's key,
  so a retry never doubles one). Nothing here sends anything itself except the workbook's PUT.

Each invoke does its check, its one write and its render, nothing slow, so it answers within
Teams' 5 seconds (the client retries twice when it gets no answer). Every core action used here
is idempotent on its row (one answer per check-in, support moves forward only, an action item
done once, one feedback answer per person and meeting), so a retried or doubled click stores one
effect. Who clicked is the person behind the activity's Teams identity (`from.id`, else the
Entra object id, in the activity's tenant); the core checks what they may do. Everything in
`value` is input like any other: typed, length-checked, and refused with a 400, never a traceback.

File consent: the consent card the transport sends carries in `acceptContext` (and
`declineContext`) `{"key": ledger key of the upload row, "school_id": int, "week": "2026-W50"}`.
The key must be the clicking principal's own digest-file key for that school and week
(`scheduling.keys.digest_file` / `digest_file_now`); the workbook is regenerated from the digest
data for that school and week, PUT to the upload URL, and the ledger row marked sent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlmodel import Session, select

from bot.teams import cards, dialogs
from bot.teams import privacy_export as teams_privacy
from bot.teams import setup as team_setup
from bot.teams import wrapup as teams_wrapup
from bot.teams.card_kit import ADAPTIVE, card, clip, container, md, text
from bot.teams.transport import consent_pending
from handlers.core import Notice
from handlers.core import action_items as core_actions
from handlers.core import agenda as core_agenda
from handlers.core import checkins as core_checkins
from handlers.core import cycles as core_cycles
from handlers.core import feedback as core_feedback
from handlers.core import meetings as core_meetings
from handlers.errors import OUR_FAULT, UserError
from storage.identities import person_for_identity
from storage.models import Checkin, Delivery
from storage.models.identities import TEAMS
from storage.people import load_actor
from storage.rules import feedback as feedback_rules
from storage.rules.agenda import RuleError
from storage.rules.roles import Actor, Forbidden
from storage.views import agenda as agenda_views
from storage.views import cycles as cycle_views

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger("plcbot.teams.invokes")

Answer = dict[str, Any]
MESSAGE = "application/vnd.microsoft.activity.message"
ERROR = "application/vnd.microsoft.error"
FILE_INFO = "application/vnd.microsoft.teams.card.file.info"
MAX_ID = 2**31 - 1
MAX_WORD = 64  # an action name, dialog id, week label…
MAX_TEXT = 3000  # the longest free text any form takes
UPLOAD_TIMEOUT = 3.0  # seconds: the PUT must leave room in the 5-second invoke deadline
NOT_KNOWN = ("I don't know you yet: you're not in a PLC team here. Ask your team's facilitator to add you "
             "(@plcbot setup in the team).")
GONE = "That button is from an older card and no longer works. Type help to me to see what you can do."
WEEK = re.compile(r"^\d{4}-W\d{2}$")


class BadRequest(Exception):
    """The invoke's data is not what any card of this bot sends (wrong type, length, or name)."""


# ------------------------------------------------------------------------------ answers
def card_answer(content: dict[str, Any]) -> Answer:
    return {"status": 200, "body": {"statusCode": 200, "type": ADAPTIVE, "value": content}}


def message_answer(words: str) -> Answer:
    return {"status": 200, "body": {"statusCode": 200, "type": MESSAGE, "value": words}}


def bad_request(name: str, why: str) -> Answer:
    error = {"code": "BadRequest", "message": why}
    if name == "adaptiveCard/action":
        return {"status": 400, "body": {"statusCode": 400, "type": ERROR, "value": error}}
    if name.startswith("task/"):
        return {"status": 400, "body": {"task": {"type": "message", "value": GONE}}}
    return {"status": 400, "body": {"error": error}}


def dialog_answer(title: str, content: dict[str, Any], *, height: str = "large") -> Answer:
    value = {"title": clip(title, 60), "width": "medium", "height": height,
             "card": {"contentType": ADAPTIVE, "content": content}}
    return {"status": 200, "body": {"task": {"type": "continue", "value": value}}}


def dialog_message(words: str) -> Answer:
    return {"status": 200, "body": {"task": {"type": "message", "value": words}}}


def notice_card(words: str, style: str = "attention") -> dict[str, Any]:
    return card([container([text(md(words))], style=style)])


# ------------------------------------------------------------------------------ input checks
def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be an object")
    return value


def word(data: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_WORD:
        raise BadRequest(f"{key} must be a short string")
    return value


def ident(data: Mapping[str, Any], key: str) -> int:
    """A record id as cards carry it: a positive int (or its digits, as some clients send)."""
    value = data.get(key)
    if isinstance(value, bool):
        raise BadRequest(f"{key} must be an id")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        value = int(value)
    if not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise BadRequest(f"{key} must be an id")
    return value


def field(data: Mapping[str, Any], key: str, limit: int = MAX_TEXT) -> str:
    """A form field as typed: a string (numbers as Teams may send them become text); too long or any
    other type is refused. Absent is empty."""
    value = data.get(key)
    if value is None:
        return ""
    if isinstance(value, bool):
        raise BadRequest(f"{key} must be text")
    if isinstance(value, int | float):
        value = repr(value) if isinstance(value, float) else str(value)
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be text")
    if len(value) > limit:
        raise BadRequest(f"{key} is too long")
    return value


# ------------------------------------------------------------------------------ who
def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def tenant_of(activity: Mapping[str, Any]) -> str:
    conversation = _mapping(activity.get("conversation"))
    tenant = _mapping(_mapping(activity.get("channelData")).get("tenant"))
    found = tenant.get("id") or conversation.get("tenantId") or ""
    return found if isinstance(found, str) else ""


def actor_for(services: Services, activity: Mapping[str, Any]) -> Actor | None:
    """The person behind the invoke's Teams identity, with their roles; None if unknown or erased."""
    sender = activity.get("from")
    if not isinstance(sender, dict):
        return None
    tenant = tenant_of(activity)
    ids = [i for i in (sender.get("id"), sender.get("aadObjectId")) if isinstance(i, str) and 0 < len(i) <= 255]
    with services.db.read() as session:
        for external in ids:
            person = person_for_identity(session, TEAMS, tenant, external)
            if person is not None:
                if person.forgotten_at is not None:
                    return None
                actor = load_actor(session, person.handle, admins=services.settings.admins)
                aad = sender.get("aadObjectId")
                if not actor.is_admin and isinstance(aad, str) and aad.lower() in services.settings.admins:
                    actor = dataclasses.replace(actor, is_admin=True)  # PLCBOT_ADMINS names their Entra object id
                return actor
    return None


# ------------------------------------------------------------------------------ entry point
def handle(services: Services, activity: dict[str, Any]) -> Answer:
    """Answer one invoke activity (see the module's docstring for the answer's shape)."""
    raw_name = activity.get("name")
    name = raw_name if isinstance(raw_name, str) else ""
    handler = INVOKES.get(name)
    if handler is None:
        return bad_request(name, "unknown invoke")
    try:
        value = _dict(activity.get("value"), "value")
        return handler(services, activity, value)
    except BadRequest as exc:
        log.info("Refused a Teams %s invoke: %s", name, exc)
        return bad_request(name, str(exc))
    except Exception:
        log.exception("Failed to answer a Teams %s invoke", name)
        if name == "adaptiveCard/action":
            return message_answer(OUR_FAULT)
        if name.startswith("task/"):
            return dialog_message(OUR_FAULT)
        return {"status": 500, "body": None}


# ------------------------------------------------------------------------------ card actions
def on_action(services: Services, activity: dict[str, Any], value: dict[str, Any]) -> Answer:
    """An `Action.Execute` click: the action's data names what and which record."""
    action = _dict(value.get("action"), "value.action")
    data = _dict(action.get("data"), "value.action.data")
    name = word(data, "action")
    assert name is not None
    act = ACTIONS.get(name)
    if act is None:
        raise BadRequest("unknown action")
    target = act.parse(data)
    actor = actor_for(services, activity)
    if actor is None:
        return message_answer(NOT_KNOWN)
    try:
        return act.run(services, actor, target)
    except (UserError, Forbidden) as exc:
        return message_answer(str(exc))


@dataclass(frozen=True)
class Act:
    parse: Callable[[Mapping[str, Any]], Any]
    run: Callable[[Services, Actor, Any], Answer]


def checkin_card(services: Services, checkin_id: int, *, changing: bool = False) -> Answer:
    from handlers.core.checkins import card_for

    found = card_for(services, checkin_id)
    if found is None:
        return message_answer("That check-in no longer exists.")
    return card_answer(cards.checkin(found[1], changing=changing)[1])


def _answer(progress: str) -> Act:
    def run(services: Services, actor: Actor, checkin_id: int) -> Answer:
        core_checkins.answer(services, actor, checkin_id=checkin_id, progress=progress)
        return checkin_card(services, checkin_id)

    return Act(lambda data: ident(data, "checkin_id"), run)


def _change(services: Services, actor: Actor, checkin_id: int) -> Answer:
    """"Change my answer": the question again, for the check-in's own teacher; nothing stored."""
    with services.db.read() as session:
        row = session.get(Checkin, checkin_id)
    if row is None or row.person_id != actor.person_id:
        raise UserError("That check-in isn't yours, so nothing was changed.")
    return checkin_card(services, checkin_id, changing=True)


def _support(to: str) -> Act:
    def run(services: Services, actor: Actor, request_id: int) -> Answer:
        from handlers.core.checkins import support_card

        core_checkins.move_support(services, actor, request_id=request_id, to=to)
        found = support_card(services, request_id)
        if found is None:
            return message_answer("That support request no longer exists.")
        return card_answer(cards.support_request(found[2])[1])

    return Act(lambda data: ident(data, "request_id"), run)


def _done(services: Services, actor: Actor, action_id: int) -> Answer:
    with services.db.session() as session:
        done = core_actions.mark_done(session, actor, action_id=action_id, now=services.clock.now())
    words = "✅ **Done**: " if done.closed else "✅ **Done already**: "
    return card_answer(card([container([text(words + md(clip(done.text, 1500)))], style="good"),
                             text(f"Team: {md(clip(done.team_name, 100))}", isSubtle=True, size="Small")]))


ACTIONS: dict[str, Act] = {
    **{cycle_views.answer_offer(p): _answer(p) for p in cycle_views.ANSWERS},
    cycle_views.CHANGE: Act(lambda data: ident(data, "checkin_id"), _change),
    cycle_views.FOLLOW_UP: _support("following_up"),
    cycle_views.RESOLVE: _support("resolved"),
    agenda_views.DONE: Act(lambda data: ident(data, "action_id"), _done),
}


# ------------------------------------------------------------------------------ dialogs
@dataclass(frozen=True)
class Dialog:
    """A form: `fetch(services, actor, data)` → the dialog; `submit(services, actor, data)` → stored
    (a confirmation) or the same dialog with its errors; `id_key` names the record the form is for."""

    id_key: str
    fetch: Callable[[Services, Actor, int], Answer]
    submit: Callable[[Services, Actor, int, Mapping[str, Any], Mapping[str, Any]], Answer]


def on_fetch(services: Services, activity: dict[str, Any], value: dict[str, Any]) -> Answer:
    data = _dict(value.get("data"), "value.data")
    if data.get("dialog_id") == team_setup.DIALOG:
        return setup_fetch(services, activity)
    if data.get("dialog_id") == "cycle_form":
        return cycle_fetch(services, activity, data)
    dialog = DIALOGS.get(word(data, "dialog_id") or "")
    if dialog is None:
        raise BadRequest("unknown dialog")
    record = ident(data, dialog.id_key)
    actor = actor_for(services, activity)
    if actor is None:
        return dialog_message(NOT_KNOWN)
    try:
        return dialog.fetch(services, actor, record)
    except (UserError, Forbidden) as exc:
        return dialog_message(str(exc))


def on_submit(services: Services, activity: dict[str, Any], value: dict[str, Any]) -> Answer:
    data = _dict(value.get("data"), "value.data")
    if data.get("action") == team_setup.SUBMIT:
        return setup_submit(services, activity, data)
    if data.get("action") == "cycle_form_submit":
        return cycle_submit(services, activity, data)
    dialog = SUBMITS.get(word(data, "action") or "")
    if dialog is None:
        raise BadRequest("unknown form")
    record = ident(data, dialog.id_key)
    actor = actor_for(services, activity)
    if actor is None:
        return dialog_message(NOT_KNOWN)
    try:
        return dialog.submit(services, actor, record, data, activity)
    except (UserError, Forbidden) as exc:
        return dialog_message(str(exc))


# team set-up (bot.teams.setup) ---------------------------------------------------
def setup_fetch(services: Services, activity: dict[str, Any]) -> Answer:
    """"Set up this team": the set-up dialog with the team's roster (no record id: the channel is the key)."""
    actor = actor_for(services, activity)
    try:
        title, content = team_setup.fetch(services, activity, actor)
    except (UserError, Forbidden) as exc:
        return dialog_message(team_setup.refusal(exc))
    return dialog_answer(title, content)


def setup_submit(services: Services, activity: dict[str, Any], data: Mapping[str, Any]) -> Answer:
    """The set-up dialog's Save: checked by the core, a bad value back on the form with nothing
    stored; saved, a confirmation in the dialog and the same card posted in the channel."""
    typed = team_setup.typed_of(data, field)
    actor = actor_for(services, activity)
    if actor is None:
        return dialog_message(NOT_KNOWN)
    try:
        saved = team_setup.save(services, activity, actor, typed)
    except team_setup.FormError as exc:
        try:
            title, content = team_setup.form_again(services, activity, actor, typed, exc.errors)
        except (UserError, Forbidden) as again:
            return dialog_message(team_setup.refusal(again))
        return dialog_answer(title, content)
    except (UserError, Forbidden) as exc:
        return dialog_message(team_setup.refusal(exc))
    out = dialog_answer("PLC team set-up", saved.card, height="small")
    out["send"] = [{"type": "message", "text": saved.text,
                    "attachments": [{"contentType": ADAPTIVE, "content": saved.card}]}]
    out["notices"] = list(saved.notices)
    return out


# the cycle form (bot.teams.commands: `cycle start | edit`) ---------------------------
def cycle_fetch(services: Services, activity: dict[str, Any], data: Mapping[str, Any]) -> Answer:
    from bot.teams import commands

    team_id = ident(data, "team_id")
    actor = actor_for(services, activity)
    if actor is None:
        return dialog_message(NOT_KNOWN)
    try:
        title, content = commands.cycle_form(services, actor, team_id)
    except (UserError, Forbidden) as exc:
        return dialog_message(str(exc))
    return dialog_answer(title, content)


def cycle_submit(services: Services, activity: dict[str, Any], data: Mapping[str, Any]) -> Answer:
    """The cycle dialog's Start/Save: refused values back on the form, nothing stored."""
    from bot.teams import commands
    from handlers.errors import Invalid

    team_id = ident(data, "team_id")
    cycle_id = ident(data, "cycle_id") if data.get("cycle_id") is not None else None
    typed = {key: field(data, key, 1000 if key in ("goal", "strategy") else 200) for key in commands.CYCLE_FIELDS}
    actor = actor_for(services, activity)
    if actor is None:
        return dialog_message(NOT_KNOWN)
    try:
        words, content, notices = commands.cycle_submit(services, actor, team_id, cycle_id, typed)
    except Invalid as exc:
        try:
            title, form = commands.cycle_form(services, actor, team_id)
        except (UserError, Forbidden) as again:
            return dialog_message(str(again))
        return dialog_answer(title, dialogs.with_errors(form, exc.errors, typed))
    except (UserError, Forbidden, RuleError) as exc:
        return dialog_message(str(exc))
    out = dialog_answer("Cycle", content, height="small")
    out["notices"] = list(notices)
    return out


# check-in details ---------------------------------------------------------------
def _details_view(services: Services, actor: Actor, checkin_id: int) -> Any:
    from handlers.core.checkins import card_for

    found = card_for(services, checkin_id)
    if found is None or found[0].person_id != actor.person_id:
        raise UserError("That check-in isn't yours, so there is nothing to fill in.")
    return found[1]


def details_fetch(services: Services, actor: Actor, checkin_id: int) -> Answer:
    view = _details_view(services, actor, checkin_id)
    with services.db.read() as session:  # refused now (closed, not theirs) rather than after they typed
        core_checkins.check_details(session, actor, checkin_id=checkin_id,
                                    details=core_checkins.Details("on_track", None, None, None))
    title, content = cards.checkin_details_form(view)
    return dialog_answer(title, content)


def details_submit(services: Services, actor: Actor, checkin_id: int, data: Mapping[str, Any],
                   activity: Mapping[str, Any]) -> Answer:
    typed = {"progress": field(data, "progress", MAX_WORD), "value": field(data, "value", 100),
             "evidence": field(data, "evidence"), "support": field(data, "support")}
    details, errors = core_checkins.validate_details(progress=typed["progress"] or None, value=typed["value"],
                                                     evidence=typed["evidence"], support=typed["support"])

    def again(problems: dict[str, str]) -> Answer:
        view = _details_view(services, actor, checkin_id)
        title, content = cards.checkin_details_form(view)
        return dialog_answer(title, dialogs.with_errors(content, problems, typed))

    if details is None:
        return again(errors)
    try:
        with services.db.read() as session:
            checked = core_checkins.check_details(session, actor, checkin_id=checkin_id, details=details)
        with services.db.session() as session:
            core_checkins.write_details(session, services, checked)
    except UserError as exc:
        return again({"": str(exc)})
    answer = checkin_card(services, checkin_id)
    confirmation = card([container([text("✅ **Saved your details.** Your check-in shows them now.")],
                                   style="good")])
    out = dialog_answer("Check-in details", confirmation, height="small")
    with services.db.read() as session:
        row = session.get(Checkin, checkin_id)
    if row is not None and row.ts and answer["body"].get("type") == ADAPTIVE:
        out["update"] = [{"activity_id": row.ts, "conversation_id": row.channel_id,
                          "activity": {"type": "message", "attachments": [
                              {"contentType": ADAPTIVE, "content": answer["body"]["value"]}]}}]
    return out


# meeting feedback ---------------------------------------------------------------
def link_key(services: Services) -> bytes:
    from handlers.core.feedback import link_key as core_link_key  # one key for both fronts' anonymous links

    return core_link_key(services)


def feedback_fetch(services: Services, actor: Actor, meeting_id: int) -> Answer:
    with services.db.read() as session:
        form = core_feedback.feedback_form(session, actor=actor, key=link_key(services), now=services.clock.now(),
                                           meeting_id=meeting_id)
    title, content = cards.feedback_form(form)
    return dialog_answer(title, content)


def feedback_submit(services: Services, actor: Actor, meeting_id: int, data: Mapping[str, Any],
                    activity: Mapping[str, Any]) -> Answer:
    typed: dict[str, str] = {}
    for q in feedback_rules.QUESTIONS:
        typed[q.key] = field(data, q.key, MAX_TEXT if q.kind != "rating" else MAX_WORD)
    anonymous_raw = field(data, cards.ANONYMOUS_INPUT, MAX_WORD)
    if anonymous_raw not in ("", "yes", "no", "true", "false"):
        raise BadRequest("anonymous must be yes or no")
    anonymous = anonymous_raw in ("yes", "true")
    answer, errors = feedback_rules.validate({k: v for k, v in typed.items()}, anonymous=anonymous)

    def again(problems: dict[str, str]) -> Answer:
        with services.db.read() as session:
            form = core_feedback.feedback_form(session, actor=actor, key=link_key(services),
                                               now=services.clock.now(), meeting_id=meeting_id)
        title, content = cards.feedback_form(form)
        return dialog_answer(title, dialogs.with_errors(content, problems,
                                                        {**typed, cards.ANONYMOUS_INPUT: "yes" if anonymous
                                                         else "no"}))

    if answer is None:
        return again(errors)
    # One write transaction: the window and membership still hold when the answer is stored.
    with services.db.session() as session:
        checked = core_feedback.check_feedback(session, actor=actor, meeting_id=meeting_id, answer=answer,
                                               key=link_key(services), now=services.clock.now())
        core_feedback.write_feedback(session, checked)
        saved = checked.saved
    return dialog_answer("Meeting feedback", cards.feedback_saved(saved)[1], height="small")


# reflection ---------------------------------------------------------------------
def reflection_fetch(services: Services, actor: Actor, cycle_id: int) -> Answer:
    form = core_cycles.reflection_form(services, actor, cycle_id=cycle_id)
    title, content = dialogs.reflection_form(form)
    return dialog_answer(title, content)


def reflection_submit(services: Services, actor: Actor, cycle_id: int, data: Mapping[str, Any],
                      activity: Mapping[str, Any]) -> Answer:
    typed = {"target_reached": field(data, "target_reached", MAX_WORD), "final_value": field(data, "final_value", 100),
             "learned": field(data, "learned"), "next_steps": field(data, "next_steps")}
    answers, errors = core_cycles.validate_reflection(**typed)

    def again(problems: dict[str, str]) -> Answer:
        form = core_cycles.reflection_form(services, actor, cycle_id=cycle_id)
        title, content = dialogs.reflection_form(form)
        return dialog_answer(title, dialogs.with_errors(content, problems, typed))

    if answers is None:
        return again(errors)
    try:
        with services.db.read() as session:
            checked = core_cycles.check_reflection(session, actor, cycle_id=cycle_id, answers=answers)
        with services.db.session() as session:
            was_open = core_cycles.write_reflection(session, services, checked)
    except (UserError, RuleError) as exc:
        return again({"": str(exc)})
    result = core_cycles.reflection_saved(services, checked, was_open)
    out = dialog_answer("Reflection", notice_card(result.reply, "good"), height="small")
    out["notices"] = list(result.notices)
    return out


# an agenda item ------------------------------------------------------------------
def add_item_fetch(services: Services, actor: Actor, meeting_id: int) -> Answer:
    with services.db.read() as session:
        form = core_agenda.open_add_item(session, actor, meeting_id=meeting_id)
    title, content = dialogs.add_item_form(form)
    return dialog_answer(title, content, height="medium")


def add_item_submit(services: Services, actor: Actor, meeting_id: int, data: Mapping[str, Any],
                    activity: Mapping[str, Any]) -> Answer:
    typed = {"title": field(data, "title", 1000), "minutes": field(data, "minutes", 20),
             "link": field(data, "link", 1000), "outcome": field(data, "outcome", 1000)}

    def again(problems: dict[str, str]) -> Answer:
        with services.db.read() as session:
            form = core_agenda.open_add_item(session, actor, meeting_id=meeting_id)
        title, content = dialogs.add_item_form(form)
        return dialog_answer(title, dialogs.with_errors(content, problems, typed), height="medium")

    minutes: int | None = None
    raw = typed["minutes"].strip()
    if raw:
        try:
            number = float(raw)
        except ValueError:
            return again({"minutes": "Give the minutes as a whole number, like 10."})
        if not number.is_integer():
            return again({"minutes": "Give the minutes as a whole number, like 10."})
        minutes = int(number) if abs(number) < 10_000 else 10_000
    item = core_agenda.NewItem(typed["title"], minutes, actor.handle, typed["link"] or None, typed["outcome"])
    # The same answers sent again from the same card (a retry, a double click) add one item.
    reply_to = activity.get("replyToId")
    source = f"{meeting_id}:{actor.handle}:{reply_to if isinstance(reply_to, str) else ''}"
    form_id = "teams:" + hashlib.sha256(source.encode()).hexdigest()[:32]
    try:
        with services.db.read() as session:
            checked = core_agenda.check_add_item(session, actor, meeting_id=meeting_id, item=item)
        with services.db.session() as session:
            added = core_agenda.write_add_item(session, actor, checked, form_id=form_id, now=services.clock.now())
    except RuleError as exc:
        return again({exc.field or "": str(exc)})
    except UserError as exc:
        return again({"": str(exc)})
    words = (f"Added “{added.title}” to the agenda." if added.created
             else f"“{added.title}” was on the agenda already.")
    return dialog_answer("Agenda", notice_card(words, "good"), height="small")


# the norms (bot.teams.commands: `norms edit`) -----------------------------------------
def norms_fetch(services: Services, actor: Actor, team_id: int) -> Answer:
    from bot.teams import commands

    title, content = commands.norms_form(services, actor, team_id)
    return dialog_answer(title, content, height="medium")


def norms_submit(services: Services, actor: Actor, team_id: int, data: Mapping[str, Any],
                 activity: Mapping[str, Any]) -> Answer:
    """Save: a bad value (too many norms, one too long) back on the form, nothing stored."""
    from bot.teams import commands

    typed = {"norms": field(data, "norms", 4000)}
    try:
        words, content = commands.norms_submit(services, actor, team_id, typed["norms"])
    except RuleError as exc:
        title, form = commands.norms_form(services, actor, team_id)
        return dialog_answer(title, dialogs.with_errors(form, {"norms": str(exc)}, typed), height="medium")
    return dialog_answer("Norms", content, height="small")


# the school's settings (bot.teams.admin_commands: `school edit`) --------------------------
def school_fetch(services: Services, actor: Actor, school_id: int) -> Answer:
    from bot.teams import admin_commands

    title, content = admin_commands.settings_form(services, actor, school_id)
    return dialog_answer(title, content)


def school_submit(services: Services, actor: Actor, school_id: int, data: Mapping[str, Any],
                  activity: Mapping[str, Any]) -> Answer:
    """Save: a bad value back on the form under its field, nothing stored; a refusal (not the
    school's principal or an admin, the school gone) as a message."""
    from bot.teams import admin_commands
    from handlers.errors import Invalid

    typed = {key: field(data, key, limit) for key, limit in admin_commands.SETTINGS_TYPED.items()}
    try:
        words, content = admin_commands.settings_submit(services, actor, school_id, typed)
    except Invalid as exc:
        title, form = admin_commands.settings_form(services, actor, school_id)
        return dialog_answer(title, dialogs.with_errors(form, exc.errors, typed))
    assert content is not None
    return dialog_answer("School settings", content, height="small")


# the wrap-up (bot.teams.wrapup) ----------------------------------------------------
def wrapup_fetch(services: Services, actor: Actor, meeting_id: int) -> Answer:
    title, content = teams_wrapup.form(services, actor, meeting_id)
    return dialog_answer(title, content)


def wrapup_submit(services: Services, actor: Actor, meeting_id: int, data: Mapping[str, Any],
                  activity: Mapping[str, Any]) -> Answer:
    """Attendance, notes, decisions, action items: a bad value back on the form with nothing stored;
    saved once (a doubled submit finds the meeting held), then the log and the owners' cards."""
    typed = teams_wrapup.typed_of(data, field)
    try:
        title, content, then = teams_wrapup.submit(services, actor, meeting_id, typed)
    except core_meetings.FormErrors as exc:
        form_title, form = teams_wrapup.form(services, actor, meeting_id)
        return dialog_answer(form_title, teams_wrapup.again(form, exc.errors, typed))
    out = dialog_answer(title, content, height="small")
    if then is not None:
        out["after"] = [then]
    return out


DIALOGS: dict[str, Dialog] = {
    "checkin_details": Dialog("checkin_id", details_fetch, details_submit),
    "meeting_feedback": Dialog("meeting_id", feedback_fetch, feedback_submit),
    "cycle_reflection": Dialog("cycle_id", reflection_fetch, reflection_submit),
    "agenda_add_item": Dialog("meeting_id", add_item_fetch, add_item_submit),
    dialogs.NORMS_DIALOG: Dialog("team_id", norms_fetch, norms_submit),
    dialogs.SCHOOL_DIALOG: Dialog("school_id", school_fetch, school_submit),
    teams_wrapup.DIALOG: Dialog("meeting_id", wrapup_fetch, wrapup_submit),
}
SUBMITS: dict[str, Dialog] = {
    cards.DETAILS_SUBMIT: DIALOGS["checkin_details"],
    cards.FEEDBACK_SUBMIT: DIALOGS["meeting_feedback"],
    dialogs.REFLECTION_SUBMIT: DIALOGS["cycle_reflection"],
    dialogs.ADD_ITEM_SUBMIT: DIALOGS["agenda_add_item"],
    dialogs.NORMS_SUBMIT: DIALOGS[dialogs.NORMS_DIALOG],
    dialogs.SCHOOL_SUBMIT: DIALOGS[dialogs.SCHOOL_DIALOG],
    teams_wrapup.SUBMIT: DIALOGS[teams_wrapup.DIALOG],
}


# ------------------------------------------------------------------------------ file consent
@dataclass(frozen=True)
class Offer:
    key: str
    school_id: int
    week: str


FILE_KEY_PREFIXES = ("digest-file", "digest-file-now")


def consent_offer(context: Any) -> Offer:
    data = _dict(context, "value.context")
    key = data.get("key")
    if not isinstance(key, str) or not 0 < len(key) <= 255:
        raise BadRequest("context.key must be the ledger key")
    if "school_id" not in data and "week" not in data:
        # The transport's offer (`TeamsTransport.upload`) names only the ledger key:
        # "digest-file[-now]:{school}:{week}:{user}[:…]". `own_key` checks it against the sender.
        parts = key.split(":", 3)
        if len(parts) < 4 or parts[0] not in FILE_KEY_PREFIXES:
            raise BadRequest("context.key must be a workbook's ledger key")
        data = {"school_id": parts[1], "week": parts[2]}
    week = word(data, "week")
    assert week is not None
    if not WEEK.match(week):
        raise BadRequest("context.week must look like 2026-W50")
    return Offer(key, ident(data, "school_id"), week)


def own_key(offer: Offer, actor: Actor) -> bool:
    """The ledger key is this person's own workbook for that school and week."""
    from scheduling import keys

    return (offer.key == keys.digest_file(offer.school_id, offer.week, actor.handle)
            or offer.key.startswith(keys.digest_file_now(offer.school_id, offer.week, actor.handle, "")))


def on_file_consent(services: Services, activity: dict[str, Any], value: dict[str, Any]) -> Answer:
    choice = word(value, "action")
    if choice not in ("accept", "decline"):
        raise BadRequest("action must be accept or decline")
    context = value.get("context")
    if isinstance(context, dict) and str(context.get("key") or "").startswith(teams_privacy.FILE_PREFIX):
        return privacy_consent(services, activity, value, choice, context)
    offer = consent_offer(context)
    actor = actor_for(services, activity)
    if actor is None or not own_key(offer, actor):
        log.warning("A file consent answer for a workbook that is not the sender's was refused")
        return {"status": 200, "body": None}
    if choice == "accept" and not (actor.is_admin or offer.school_id in actor.principal_of):
        # The regenerated workbook is the whole school's: a facilitator's scoped on-demand workbook
        # is not rebuilt here (the transport must upload those bytes itself).
        log.warning("A file consent for a school-wide workbook from someone not its principal was refused")
        return {"status": 200, "body": None}
    reply_to = activity.get("replyToId") if isinstance(activity.get("replyToId"), str) else None
    if choice == "decline":
        return declined(services, offer, reply_to)
    info = _dict(value.get("uploadInfo"), "value.uploadInfo")
    upload_url = info.get("uploadUrl")
    if not isinstance(upload_url, str) or len(upload_url) > 2000 or not _upload_allowed(upload_url, activity):
        raise BadRequest("uploadInfo.uploadUrl must be an https URL")
    unique_id, name = field(info, "uniqueId", 255), field(info, "name", 255)
    content_url, file_type = field(info, "contentUrl", 2000), field(info, "fileType", 16)
    if not claim_upload(services, offer.key):
        return {"status": 200, "body": None}  # sent already, or another attempt is uploading it now
    try:
        content = workbook(services, offer)
        put_bytes(upload_url, content)
    except Exception as exc:  # noqa: BLE001 - recorded on the ledger row; the summary card stands
        log.warning("Uploading workbook %s failed: %s", offer.key, type(exc).__name__)
        mark(services, offer.key, state="pending", error=f"upload: {type(exc).__name__}")
        return {"status": 200, "body": None, "send": [_text_activity(
            "⚠️ I couldn't upload the workbook just now. Type **digest "
            f"{offer.week}** to me to get it offered again.")]}
    mark(services, offer.key, state="sent", ts=unique_id[:32] or None, error=None)
    file_card = {"type": "message", "attachments": [{
        "contentType": FILE_INFO, "contentUrl": content_url, "name": name,
        "content": {"uniqueId": unique_id, "fileType": file_type}}]}
    return {"status": 200, "body": None, "send": [file_card]}


def privacy_consent(services: Services, activity: dict[str, Any], value: dict[str, Any], choice: str,
                    context: dict[str, Any]) -> Answer:
    """The answer to a `privacy export` file card: only the clicker's own export key is honoured,
    and the workbook is built from the clicker's own records (`bot.teams.privacy_export`)."""
    key = context.get("key")
    if not isinstance(key, str) or len(key) > 255:
        raise BadRequest("context.key must be the ledger key")
    actor = actor_for(services, activity)
    if actor is None or not teams_privacy.own_key(key, actor):
        log.warning("A file consent answer for a privacy export that is not the sender's was refused")
        return {"status": 200, "body": None}
    reply_to = activity.get("replyToId") if isinstance(activity.get("replyToId"), str) else None
    if choice == "decline":
        mark(services, key, state="failed", error="declined")
        return _declined_answer("No workbook this time: you declined it. " + teams_privacy.ASK_AGAIN, reply_to)
    info = _dict(value.get("uploadInfo"), "value.uploadInfo")
    upload_url = info.get("uploadUrl")
    if not isinstance(upload_url, str) or len(upload_url) > 2000 or not _upload_allowed(upload_url, activity):
        raise BadRequest("uploadInfo.uploadUrl must be an https URL")
    unique_id, name = field(info, "uniqueId", 255), field(info, "name", 255)
    content_url, file_type = field(info, "contentUrl", 2000), field(info, "fileType", 16)
    if not claim_upload(services, key):
        return {"status": 200, "body": None}
    try:
        content, _ = teams_privacy.workbook(services, actor)
        put_bytes(upload_url, content)
    except Exception as exc:  # noqa: BLE001 - recorded on the ledger row
        log.warning("Uploading a privacy export failed: %s", type(exc).__name__)
        mark(services, key, state="pending", error=f"upload: {type(exc).__name__}")
        return {"status": 200, "body": None, "send": [_text_activity(
            "⚠️ I couldn't upload the workbook just now. Type **privacy export** to me to get it offered again.")]}
    mark(services, key, state="sent", ts=unique_id[:32] or None, error=None)
    file_card = {"type": "message", "attachments": [{
        "contentType": FILE_INFO, "contentUrl": content_url, "name": name,
        "content": {"uniqueId": unique_id, "fileType": file_type}}]}
    return {"status": 200, "body": None, "send": [file_card]}


def _declined_answer(words: str, reply_to: str | None) -> Answer:
    out: Answer = {"status": 200, "body": None}
    if reply_to:
        out["update"] = [{"activity_id": reply_to, "activity": {"type": "message", "attachments": [
            {"contentType": ADAPTIVE, "content": card([container([text(words)], style="emphasis")])}]}}]
    else:
        out["send"] = [_text_activity(words)]
    return out


def _text_activity(words: str) -> dict[str, Any]:
    return {"type": "message", "attachments": [{"contentType": ADAPTIVE, "content": notice_card(words, "warning")}]}


def _upload_allowed(url: str, activity: Mapping[str, Any]) -> bool:
    """https anywhere (OneDrive/SharePoint); plain http only to the host that sent the activity (the
    Teams double on loopback in tests), whose serviceUrl was validated with the request."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.netloc:
        return True
    service = activity.get("serviceUrl")
    if parts.scheme == "http" and isinstance(service, str):
        return urlsplit(service).netloc == parts.netloc and bool(parts.netloc)
    return False


def declined(services: Services, offer: Offer, reply_to: str | None) -> Answer:
    mark(services, offer.key, state="failed", error="declined")
    return _declined_answer(f"No workbook this time: you declined it. To get it later, type **digest {offer.week}** "
                            "to me in this chat.", reply_to)


def _row(session: Session, key: str) -> Delivery | None:
    return session.exec(select(Delivery).where(Delivery.key == key).with_for_update()).first()


UPLOADING = "uploading on consent"


def claim_upload(services: Services, key: str) -> bool:
    """Take the upload row for this attempt; False when it is sent or another attempt (a retried
    invoke) is uploading it now."""
    now = services.clock.now()
    with services.db.session() as session:
        row = _row(session, key)
        if row is None:
            return True  # a consent offered without a ledger row: upload, and note nothing
        if row.state == "sent" and not consent_pending(row.ts):
            return False  # uploaded (a row whose id is the consent card's is only offered)
        if row.state == "sending" and row.error == UPLOADING and (now - row.updated_at).total_seconds() < 30:
            return False
        row.state, row.error, row.updated_at = "sending", UPLOADING, now
        row.attempts += 1
        session.add(row)
    return True


def mark(services: Services, key: str, **values: Any) -> None:
    with services.db.session() as session:
        row = _row(session, key)
        if row is None:
            return
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = services.clock.now()
        session.add(row)


def workbook(services: Services, offer: Offer) -> bytes:
    """The week's workbook for the school, regenerated from the digest data."""
    from scheduling.digest import write_week_workbook
    from storage import digest as data
    from storage.rules import digest as digest_rules

    week = digest_rules.parse_week(offer.week)
    minimum = services.settings.min_group_size
    buffer = io.BytesIO()
    with services.db.read() as session:
        digest = data.build_digests(session, week, school_ids=[offer.school_id], min_group_size=minimum).get(
            offer.school_id)
        if digest is None:
            raise UserError("That school no longer exists.")
        write_week_workbook(session, [digest], buffer, min_group_size=minimum)
    return buffer.getvalue()


def put_bytes(url: str, content: bytes) -> None:
    """One PUT of the whole file to the upload session (Teams' consent upload URL)."""
    size = len(content)
    request = urllib.request.Request(url, data=content, method="PUT", headers={  # noqa: S310 - scheme checked
        "Content-Type": "application/octet-stream", "Content-Length": str(size),
        "Content-Range": f"bytes 0-{size - 1}/{size}"})
    with urllib.request.urlopen(request, timeout=UPLOAD_TIMEOUT) as response:  # noqa: S310
        if response.status not in (200, 201):
            raise urllib.error.HTTPError(url, response.status, "upload incomplete", response.headers, None)


INVOKES: dict[str, Callable[[Services, dict[str, Any], dict[str, Any]], Answer]] = {
    "adaptiveCard/action": on_action,
    "task/fetch": on_fetch,
    "task/submit": on_submit,
    "fileConsent/invoke": on_file_consent,
}

__all__ = ["Answer", "Notice", "handle"]
