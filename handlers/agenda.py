"""`/plc agenda`: post (or update) the next meeting's agenda, templates, adding and editing
items, and the "Add to PLC agenda" message shortcut."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, Respond
from slack_sdk.errors import SlackApiError
from sqlmodel import Session, col, select

from bot.render import agenda as render
from bot.render.mrkdwn import escape
from bot.slack_text import title_from_message
from handlers import forms
from handlers.core import agenda as core
from handlers.core.meetings import FormErrors
from handlers.errors import OUR_FAULT, UserError
from handlers.router import CommandRequest
from scheduling.meetings import Posted, publish_agenda, refresh_agenda
from storage import meetings as store
from storage.models import Person
from storage.people import load_actor, team_for_channel
from storage.rules.agenda import RuleError, check_item
from storage.rules.roles import Action, Actor, Forbidden, Role, require

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring

log = logging.getLogger("plcbot.agenda")


def button_id(body: dict[str, Any]) -> int:
    """The id a button carries; a value no button of ours sends gets a plain answer, not a traceback."""
    raw = str((body.get("actions") or [{}])[0].get("value") or "")
    if not raw.isdigit() or len(raw) > 12:
        raise UserError("That button no longer works here; run the command again.")
    return int(raw)


def meta_id(view: dict[str, Any], key: str) -> int:
    """An id from a modal's private_metadata; 0 (no such row) when it is missing or not ours."""
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
        raw = meta.get(key, 0) if isinstance(meta, dict) else 0
        return raw if isinstance(raw, int) and 0 <= raw < 2**31 else 0
    except ValueError:
        return 0


def value(view: dict[str, Any], block_id: str, key: str = "value") -> Any:
    """A submitted value from a modal's state (None when the block or value is absent)."""
    return ((view.get("state", {}).get("values", {}).get(block_id) or {}).get("value") or {}).get(key)


def permalink(services: Services, channel: str | None, ts: str | None) -> str | None:
    if not channel or not ts:
        return None
    try:
        return str(services.slack.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
    except SlackApiError:
        return None


def where_it_is(services: Services, posted: Posted, when: str, *, updated: bool) -> str:
    url = permalink(services, posted.channel_id, posted.ts)
    place = f"<{url}|Here it is.>" if url else "It is in the channel."
    if updated:
        return f"The agenda for {when} was already posted, so I updated it rather than post a copy. {place}"
    return f":spiral_note_pad: Posted the agenda for {when}. {place}"


def post_for_request(request: CommandRequest, services: Services, meeting_id: int, when: str) -> None:
    posted = publish_agenda(services, meeting_id)
    if posted.state == "sent":
        request.reply(where_it_is(services, posted, when, updated=posted.updated))
    elif posted.state == "in_flight":
        request.reply("The agenda is being posted right now; it will appear in a moment.")
    elif posted.state == "failed":
        request.reply("I could not post in this channel. Invite me with `/invite @plcbot` and try again.")
    else:
        request.reply("Slack is busy; the agenda will be posted in a few minutes.")


def on_agenda(request: CommandRequest, services: Services) -> None:
    """Post or update the next meeting's agenda; `template NAME` fills it first."""
    team = request.require_team()
    assert team.id is not None
    now = services.clock.now()
    try:
        with services.db.session() as session:
            shown = core.agenda_command(session, request.actor, team_id=team.id, args=request.args, now=now,
                                        code=lambda words: f"`/plc {words}`",
                                        quote=lambda typed: "`" + escape(typed).replace("`", "'") + "`")
    except RuleError as exc:
        raise UserError(escape(str(exc))) from None
    if shown.template_label:
        request.reply(f"Filled the agenda for {shown.when} from the *{shown.template_label}* template.")
        post_for_request(request, services, shown.meeting_id, shown.when)
        return
    if shown.post:
        post_for_request(request, services, shown.meeting_id, shown.when)
        return
    # Members see where the agenda is, or a preview; posting it stays with the facilitators.
    if shown.posted_message:
        url = permalink(services, shown.posted_place, shown.posted_message)
        request.reply(f"The agenda for {shown.when} is posted: "
                      + (f"<{url}|see it here>." if url else "see the channel."))
        return
    with services.db.read() as session:
        snap = store.agenda_snapshot(session, meeting_id=shown.meeting_id, now=now)
    text, blocks = render.agenda_message(snap)
    request.reply(text, blocks=[render.bk.context("A preview: your facilitator posts the agenda.")] + blocks[:49])


def register(app: App, services: Services, wiring: Wiring) -> None:
    wiring.router.add("agenda", on_agenda, summary="the next meeting's agenda", usage="/plc agenda")
    wiring.router.detail("agenda", "/plc agenda template NAME",
                         "fill it from a template: kickoff, data, student work, co-planning, reflection",
                         needs=Role.FACILITATOR)

    def actor_of(session: Session, user_id: str) -> Actor:
        return load_actor(session, user_id, admins=services.settings.admins)

    def on_add_click(ack: Ack, body: dict[str, Any], respond: Respond, client: Any) -> None:
        """Open the "Add an item" modal for the meeting on the button."""
        ack()
        user_id = body["user"]["id"]
        try:
            meeting_id = button_id(body)
            with services.db.read() as session:
                opened = core.open_add_item(session, actor_of(session, user_id), meeting_id=meeting_id)
            client.views_open(trigger_id=body["trigger_id"], view=render.add_item_modal(
                meeting_id=opened.meeting_id, when=opened.when, owner=opened.owner))
        except (UserError, Forbidden) as exc:
            respond(text=str(exc), response_type="ephemeral", replace_original=False)
        except Exception:
            log.exception("Failed to open the add-item modal")
            respond(text=OUR_FAULT, response_type="ephemeral", replace_original=False)

    def on_add_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Add one item; problems come back inline on the field."""
        user_id = body["user"]["id"]
        meeting_id = meta_id(view, "meeting_id")
        raw_minutes = value(view, "minutes")
        try:
            minutes = int(raw_minutes) if raw_minutes not in (None, "") else None
        except ValueError:
            ack(response_action="errors", errors={"minutes": "Give a whole number of minutes."})
            return
        item = core.NewItem(title=value(view, "title") or "", minutes=minutes,
                            owner=value(view, "owner", "selected_user"), link=value(view, "link"),
                            outcome=value(view, "outcome") or "")
        try:  # the form's own mistakes go back inline before any database work
            check_item(item.title, item.minutes, item.link, item.outcome)
        except RuleError as exc:
            ack(response_action="errors", errors={exc.field or "title": str(exc)})
            return

        def check(session: Session) -> core.CheckedItem:
            return core.check_add_item(session, actor_of(session, user_id), meeting_id=meeting_id, item=item)

        def write(session: Session, checked: core.CheckedItem) -> core.ItemAdded:
            # A double submit or a Slack retry sends the same modal with the same answers: it adds
            # one item. (Slack closes a modal once it is accepted, so a real second item comes
            # from a second modal.)
            return core.write_add_item(session, actor_of(session, user_id), checked,
                                       form_id=str(view.get("id") or "") or None, now=services.clock.now())

        failed = _after_ack_failure(services, user_id, "Your agenda item was not added",
                                    f"Failed to add an agenda item to meeting {meeting_id}")
        if forms.submit(ack, services, field="title", check=check, write=write, failed=failed) is not None:
            refresh_agenda(services, meeting_id)

    def on_edit_click(ack: Ack, body: dict[str, Any], respond: Respond, client: Any) -> None:
        """Open the agenda editor (facilitators)."""
        ack()
        user_id = body["user"]["id"]
        try:
            meeting_id = button_id(body)
            with services.db.read() as session:
                editor = core.open_agenda_editor(session, actor_of(session, user_id), meeting_id=meeting_id)
            client.views_open(trigger_id=body["trigger_id"], view=render.edit_agenda_modal(
                meeting_id=editor.meeting_id, when=editor.when, items=editor.items,
                timekeeper=editor.timekeeper, notetaker=editor.notetaker))
        except (UserError, Forbidden) as exc:
            respond(text=str(exc), response_type="ephemeral", replace_original=False)
        except Exception:
            log.exception("Failed to open the agenda editor")
            respond(text=OUR_FAULT, response_type="ephemeral", replace_original=False)

    def on_edit_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Save titles, minutes, owners and roles; an emptied title removes the item."""
        user_id = body["user"]["id"]
        meeting_id = meta_id(view, "meeting_id")
        edit = edit_form(view)

        def check(session: Session) -> core.CheckedEdit:
            try:
                return core.check_agenda_edit(session, actor_of(session, user_id), meeting_id=meeting_id, edit=edit)
            except FormErrors as exc:
                raise forms.Invalid(exc.errors) from None

        def write(session: Session, checked: core.CheckedEdit) -> core.AgendaResult:
            return core.write_agenda_edit(session, actor_of(session, user_id), checked)

        failed = _after_ack_failure(services, user_id, "The agenda was not changed",
                                    f"Failed to edit the agenda of meeting {meeting_id}")
        if forms.submit(ack, services, field="timekeeper", check=check, write=write, failed=failed) is not None:
            refresh_agenda(services, meeting_id)

    def on_shortcut(ack: Ack, body: dict[str, Any], respond: Respond, client: Any) -> None:
        """"Add to PLC agenda" on a message: an item linking to it, on the team's next meeting."""
        ack()
        user_id = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id", "")
        message = body.get("message") or {}
        ts = body.get("message_ts") or message.get("ts")
        try:
            now = services.clock.now()
            with services.db.read() as session:
                team = team_for_channel(session, channel)
                actor = actor_of(session, user_id)
                names = {p.handle: p.name for p in session.exec(select(Person).where(
                    col(Person.handle).in_(_mentioned(message.get("text") or ""))))}
            if team is None or team.id is None:
                raise UserError("Use “Add to PLC agenda” on a message in your PLC team's channel.")
            # Refused before asking Slack for the link; the action checks again when it writes.
            require(actor, Action.ADD_AGENDA_ITEM, team_id=team.id, school_id=team.school_id)
            link = permalink(services, channel, ts)
            title = title_from_message(message.get("text") or "", names)
            with services.db.session() as session:
                added = core.add_linked_item(session, actor_of(session, user_id), team_id=team.id, title=title,
                                             link=link, source_key=f"msg:{channel}:{ts}", now=now)
            if added.created:
                respond(text=f":spiral_note_pad: Added “{escape(title)}” to the agenda for {added.when} (5 minutes, "
                             "led by you; change it with *Edit agenda*).", response_type="ephemeral")
                refresh_agenda(services, added.meeting_id)
            else:
                respond(text=f"That message is already on the agenda for {added.when}.", response_type="ephemeral")
        except RuleError as exc:
            respond(text=escape(str(exc)), response_type="ephemeral")
        except (UserError, Forbidden) as exc:
            respond(text=str(exc), response_type="ephemeral")
        except Exception:
            log.exception("Failed to add a message to the agenda")
            respond(text=OUR_FAULT, response_type="ephemeral")

    app.action("agenda_add_item")(on_add_click)
    app.view("agenda_item_add")(on_add_submit)
    app.action("agenda_edit")(on_edit_click)
    app.view("agenda_edit")(on_edit_submit)
    app.shortcut("add_to_agenda")(on_shortcut)


def edit_form(view: dict[str, Any]) -> core.AgendaEdit:
    """The agenda editor's values as the core's plain form: the items listed when it opened."""
    try:
        listed = json.loads(view.get("private_metadata") or "{}").get("items", [])
    except (ValueError, AttributeError):
        listed = []
    changes = []
    for item_id in [i for i in listed if isinstance(i, int)] if isinstance(listed, list) else []:
        raw = value(view, core.minutes_field(item_id))
        unreadable = ""
        try:
            minutes = int(raw) if raw not in (None, "") else None
        except ValueError:
            minutes, unreadable = None, "Give a whole number of minutes."
        changes.append(core.ItemChange(item_id, value(view, core.title_field(item_id)) or "", minutes,
                                       value(view, f"o{item_id}", "selected_user"), unreadable=unreadable))
    return core.AgendaEdit(changes, timekeeper=value(view, "timekeeper", "selected_user"),
                           notetaker=value(view, "notetaker", "selected_user"))


def _mentioned(text: str) -> list[str]:
    return re.findall(r"<@([UW][A-Z0-9]+)", text)


def _tell_after_ack(services: Services, channel_id: str, user_id: str, text: str) -> None:
    """The modal has closed: say what went wrong in an ephemeral message instead."""
    try:
        services.slack.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
    except Exception:
        log.exception("Failed to tell %s about an agenda item", user_id)


def _after_ack_failure(services: Services, user_id: str, refused: str,
                       problem: str) -> Callable[[core.CheckedItem | core.CheckedEdit, Exception], None]:
    """What an agenda form tells its author when the write fails after the modal has closed:
    a refusal (the role or the meeting changed) in their words, anything else logged and apologised for."""
    def failed(checked: core.CheckedItem | core.CheckedEdit, exc: Exception) -> None:
        if isinstance(exc, (RuleError, Forbidden)):
            _tell_after_ack(services, checked.target.place, user_id, f"{refused}: {exc}")
        else:
            log.exception(problem, exc_info=exc)
            _tell_after_ack(services, checked.target.place, user_id, OUR_FAULT)
    return failed
