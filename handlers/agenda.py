"""`/plc agenda`: post (or update) the next meeting's agenda, templates, adding and editing
items, and the "Add to PLC agenda" message shortcut."""

from __future__ import annotations

import hashlib
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
from handlers.errors import OUR_FAULT, UserError
from handlers.router import CommandRequest
from scheduling.meetings import Posted, publish_agenda, refresh_agenda
from storage import meetings as store
from storage.models import Meeting, Person, Team
from storage.people import load_actor, team_for_channel
from storage.rules.agenda import (
    TEMPLATE_CHOICES,
    ItemView,
    RuleError,
    check_item,
    find_template,
    local_label,
)
from storage.rules.roles import Action, Actor, Forbidden, Role, allowed, require

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring

log = logging.getLogger("plcbot.agenda")
USAGE = f"`/plc agenda` posts the next meeting's agenda; `/plc agenda template NAME` fills it ({TEMPLATE_CHOICES})."
NO_MEETING = ("This team has no upcoming meeting. Add one with `/plc meeting add DATE TIME [minutes]`, "
              "or set the team's meeting days and time.")


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
    words = request.args.split()
    now = services.clock.now()
    if words and words[0].lower() == "template":
        require(request.actor, Action.EDIT_AGENDA, team_id=team.id, school_id=team.school_id)
        name = " ".join(words[1:])
        try:
            template = find_template(name) if name else None
            with services.db.session() as session:
                meeting = store.next_meeting(session, team=team, now=now)
                if meeting is None:
                    raise UserError(NO_MEETING)
                template = template or store.template_for(session, team=team, now=now)
                store.apply_template(session, meeting=meeting, template=template, by=request.user_id, now=now)
        except RuleError as exc:
            raise UserError(escape(str(exc))) from None
        assert meeting.id is not None
        when = local_label(meeting.starts_at, team.timezone)
        request.reply(f"Filled the agenda for {when} from the *{template.label}* template.")
        post_for_request(request, services, meeting.id, when)
        return
    if words:
        raise UserError(f"I don't know `/plc agenda {escape(words[0][:30])}`. {USAGE}")
    may_post = allowed(request.actor, Action.POST_AGENDA, team_id=team.id, school_id=team.school_id)
    if not may_post and request.actor.role_in(team_id=team.id, school_id=team.school_id) is None:
        raise Forbidden(Action.ADD_AGENDA_ITEM, Role.MEMBER)
    with services.db.session() as session:
        meeting = store.next_meeting(session, team=team, now=now)
        if meeting is None:
            raise UserError(NO_MEETING)
    assert meeting.id is not None
    when = local_label(meeting.starts_at, team.timezone)
    if may_post:
        post_for_request(request, services, meeting.id, when)
        return
    # Members see where the agenda is, or a preview; posting it stays with the facilitators.
    if meeting.agenda_ts:
        url = permalink(services, meeting.agenda_channel_id, meeting.agenda_ts)
        request.reply(f"The agenda for {when} is posted: " + (f"<{url}|see it here>." if url else "see the channel."))
        return
    with services.db.read() as session:
        snap = store.agenda_snapshot(session, meeting_id=meeting.id, now=now)
    text, blocks = render.agenda_message(snap)
    request.reply(text, blocks=[render.bk.context("A preview: your facilitator posts the agenda.")] + blocks[:49])


def _meeting_and_actor(services: Services, meeting_id: int, user_id: str) -> tuple[Meeting, Team, Actor]:
    with services.db.read() as session:
        meeting = session.get(Meeting, meeting_id)
        team = session.get(Team, meeting.team_id) if meeting else None
        actor = load_actor(session, user_id, admins=services.settings.admins)
    if meeting is None or team is None:
        raise UserError("That meeting no longer exists.")
    return meeting, team, actor


def register(app: App, services: Services, wiring: Wiring) -> None:
    wiring.router.add("agenda", on_agenda, summary="the next meeting's agenda", usage="/plc agenda")
    wiring.router.detail("agenda", "/plc agenda template NAME",
                         "fill it from a template: kickoff, data, student work, co-planning, reflection",
                         needs=Role.FACILITATOR)

    def on_add_click(ack: Ack, body: dict[str, Any], respond: Respond, client: Any) -> None:
        """Open the "Add an item" modal for the meeting on the button."""
        ack()
        user_id = body["user"]["id"]
        try:
            meeting, team, actor = _meeting_and_actor(services, button_id(body), user_id)
            require(actor, Action.ADD_AGENDA_ITEM, team_id=team.id, school_id=team.school_id)
            if meeting.status != "scheduled":
                raise UserError(f"That meeting is {meeting.status}; add items to the next one with `/plc agenda`.")
            assert meeting.id is not None
            client.views_open(trigger_id=body["trigger_id"], view=render.add_item_modal(
                meeting_id=meeting.id, when=local_label(meeting.starts_at, team.timezone), owner=user_id))
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
        try:
            title, minutes, link, outcome = check_item(value(view, "title") or "", minutes, value(view, "link"),
                                                       value(view, "outcome") or "")
        except RuleError as exc:
            ack(response_action="errors", errors={exc.field or "title": str(exc)})
            return

        def check(session: Session) -> Team:
            return _checked_meeting(session, services, meeting_id, user_id, Action.ADD_AGENDA_ITEM)[1]

        def write(session: Session, team: Team) -> None:
            meeting, _ = _checked_meeting(session, services, meeting_id, user_id, Action.ADD_AGENDA_ITEM)
            # A double submit or a Slack retry sends the same modal with the same answers: it adds
            # one item. (Slack closes a modal once it is accepted, so a real second item comes
            # from a second modal.)
            owner = value(view, "owner", "selected_user")
            view_id = str(view.get("id") or "")[:40]
            digest = hashlib.sha256(json.dumps([title, minutes, owner, link, outcome]).encode()).hexdigest()[:32]
            store.add_item(session, meeting=meeting, title=title, minutes=minutes, owner=owner, link=link,
                           outcome=outcome, source="member", added_by=user_id, now=services.clock.now(),
                           source_key=f"view:{view_id}:{digest}" if view_id else None)

        failed = _after_ack_failure(services, user_id, "Your agenda item was not added",
                                    f"Failed to add an agenda item to meeting {meeting_id}")
        if forms.submit(ack, services, field="title", check=check, write=write, failed=failed) is not None:
            refresh_agenda(services, meeting_id)

    def on_edit_click(ack: Ack, body: dict[str, Any], respond: Respond, client: Any) -> None:
        """Open the agenda editor (facilitators)."""
        ack()
        user_id = body["user"]["id"]
        try:
            meeting, team, actor = _meeting_and_actor(services, button_id(body), user_id)
            require(actor, Action.EDIT_AGENDA, team_id=team.id, school_id=team.school_id)
            if meeting.status != "scheduled":
                raise UserError(f"That meeting is {meeting.status}; its agenda can no longer change.")
            assert meeting.id is not None
            with services.db.read() as session:
                rows = store.items(session, meeting_id=meeting.id)
                record = store.roles_of(session, meeting_id=meeting.id)
            items = [ItemView(i.id or 0, i.title, i.minutes, i.owner, i.link, i.outcome) for i in rows]
            client.views_open(trigger_id=body["trigger_id"], view=render.edit_agenda_modal(
                meeting_id=meeting.id, when=local_label(meeting.starts_at, team.timezone), items=items,
                timekeeper=record[0], notetaker=record[1]))
        except (UserError, Forbidden) as exc:
            respond(text=str(exc), response_type="ephemeral", replace_original=False)
        except Exception:
            log.exception("Failed to open the agenda editor")
            respond(text=OUR_FAULT, response_type="ephemeral", replace_original=False)

    def on_edit_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Save titles, minutes, owners and roles; an emptied title removes the item."""
        user_id = body["user"]["id"]
        meeting_id = meta_id(view, "meeting_id")
        try:
            listed = json.loads(view.get("private_metadata") or "{}").get("items", [])
        except (ValueError, AttributeError):
            listed = []
        edits, errors = [], {}
        for item_id in [i for i in listed if isinstance(i, int)] if isinstance(listed, list) else []:
            title = " ".join((value(view, f"t{item_id}") or "").split())
            raw = value(view, f"m{item_id}")
            owner = value(view, f"o{item_id}", "selected_user")
            if not title:
                edits.append(store.ItemEdit(item_id, "", 0, None))
                continue
            try:
                minutes = int(raw) if raw not in (None, "") else None
            except ValueError:
                errors[f"m{item_id}"] = "Give a whole number of minutes."
                continue
            try:
                title, minutes, _, _ = check_item(title, minutes)
            except RuleError as exc:
                errors[f"m{item_id}" if exc.field == "minutes" else f"t{item_id}"] = str(exc)
                continue
            edits.append(store.ItemEdit(item_id, title, minutes, owner))
        if errors:
            ack(response_action="errors", errors=errors)
            return

        def check(session: Session) -> Team:
            return _checked_meeting(session, services, meeting_id, user_id, Action.EDIT_AGENDA)[1]

        def write(session: Session, team: Team) -> None:
            meeting, _ = _checked_meeting(session, services, meeting_id, user_id, Action.EDIT_AGENDA)
            store.edit_agenda(session, meeting=meeting, edits=edits,
                              timekeeper=value(view, "timekeeper", "selected_user"),
                              notetaker=value(view, "notetaker", "selected_user"))

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
                actor = load_actor(session, user_id, admins=services.settings.admins)
                names = {p.slack_user_id: p.name for p in session.exec(select(Person).where(
                    col(Person.slack_user_id).in_(_mentioned(message.get("text") or ""))))}
            if team is None:
                raise UserError("Use “Add to PLC agenda” on a message in your PLC team's channel.")
            require(actor, Action.ADD_AGENDA_ITEM, team_id=team.id, school_id=team.school_id)
            link = permalink(services, channel, ts)
            title = title_from_message(message.get("text") or "", names)
            with services.db.session() as session:
                meeting = store.next_meeting(session, team=team, now=now)
                if meeting is None:
                    raise UserError(NO_MEETING)
                added = store.add_item(session, meeting=meeting, title=title, minutes=5, owner=user_id, link=link,
                                       outcome="", source="shortcut", added_by=user_id, now=now,
                                       source_key=f"msg:{channel}:{ts}")
            when = local_label(meeting.starts_at, team.timezone)
            if added.created:
                respond(text=f":spiral_note_pad: Added “{escape(title)}” to the agenda for {when} (5 minutes, "
                             "led by you; change it with *Edit agenda*).", response_type="ephemeral")
                assert meeting.id is not None
                refresh_agenda(services, meeting.id)
            else:
                respond(text=f"That message is already on the agenda for {when}.", response_type="ephemeral")
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


def _mentioned(text: str) -> list[str]:
    return re.findall(r"<@([UW][A-Z0-9]+)", text)


def _tell_after_ack(services: Services, channel_id: str, user_id: str, text: str) -> None:
    """The modal has closed: say what went wrong in an ephemeral message instead."""
    try:
        services.slack.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
    except Exception:
        log.exception("Failed to tell %s about an agenda item", user_id)


def _after_ack_failure(services: Services, user_id: str, refused: str,
                       problem: str) -> Callable[[Team, Exception], None]:
    """What an agenda form tells its author when the write fails after the modal has closed:
    a refusal (the role or the meeting changed) in their words, anything else logged and apologised for."""
    def failed(team: Team, exc: Exception) -> None:
        if isinstance(exc, (RuleError, Forbidden)):
            _tell_after_ack(services, team.channel_id, user_id, f"{refused}: {exc}")
        else:
            log.exception(problem, exc_info=exc)
            _tell_after_ack(services, team.channel_id, user_id, OUR_FAULT)
    return failed


def _checked_meeting(session: Any, services: Services, meeting_id: int | None, user_id: str,
                     action: Action) -> tuple[Meeting, Team]:
    """The meeting and its team, once `user_id` may take `action` on it (raises otherwise).

    Called twice by each agenda form: read-only before the acknowledgement, and again inside
    the write, because the role or the meeting may change in between.
    """
    meeting = session.get(Meeting, meeting_id) if meeting_id is not None else None
    team = session.get(Team, meeting.team_id) if meeting else None
    if meeting is None or team is None:
        raise RuleError("That meeting no longer exists.")
    actor = load_actor(session, user_id, admins=services.settings.admins)
    require(actor, action, team_id=team.id, school_id=team.school_id)
    return meeting, team
