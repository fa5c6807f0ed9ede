"""A second chat front, for tests only, with Microsoft Teams' shapes (issue 24, item 8).

It proves the core's seams fit a platform that is not Slack:
- people are known by Teams identities: a `29:…` user id in a tenant, reached through a
  conversation reference (the 1:1 conversation `a:…` and the service URL to post to);
- the team meets in a Teams channel (`19:…@thread.tacv2`), its `TeamPlace`;
- a sent message is an activity with an id of its own, updated in place by that id;
- a button is an `Action.Submit` whose data (the core's `Offer` name and value) comes back in an
  invoke with the clicker's id, the conversation and the activity it was on;
- a form is a dialog (task module): the front asks the core for its content, submits the values,
  and shows errors back on the dialog.

Its renderer is its own (a small card: title, text, facts and buttons built from the view
model's fields and `Offer`s), not Block Kit. Nothing here imports Slack, Bolt, `bot.render` or
`bot.slack_*`: `tests/test_second_front.py` imports this module in a process where those are
blocked. Everything it does goes through the core's actions (`handlers.core`), the scheduled
jobs (`scheduling`) and the delivery ledger (`scheduling.delivery`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import select

from handlers.core import ActionResult, Notice
from handlers.core import checkins as core_checkins
from handlers.core import digest as core_digest
from handlers.core import feedback as core_feedback
from handlers.errors import UserError
from scheduling import delivery
from scheduling.checkins import CycleContext
from scheduling.transport import Rendered, Sent, TransportError
from storage import checkins as checkin_store
from storage import identities
from storage.models import Checkin, CheckinRound, PersonIdentity, TeamPlace
from storage.models.identities import TEAMS
from storage.people import load_actor
from storage.rules import feedback as feedback_rules
from storage.rules.roles import Actor
from storage.views import Offer
from storage.views import cycles as cycle_views
from storage.views.cycle_actions import CycleStarted
from storage.views.digest import DigestSummary, UploadFailed
from storage.views.digest_actions import DigestPart
from storage.views.feedback import FeedbackPrompt

PROGRESS_WORDS = {"on_track": "On track", "some_progress": "Some progress", "stuck": "Stuck"}
OFFER_WORDS = {
    **{cycle_views.answer_offer(p): w for p, w in PROGRESS_WORDS.items()},
    cycle_views.DETAILS: "Add details",
    cycle_views.CHANGE: "Change my answer",
    cycle_views.FOLLOW_UP: "I'll follow up",
    cycle_views.RESOLVE: "Resolved",
    cycle_views.REFLECT: "Fill in the reflection",
    "give_feedback": "Give feedback",
}


# ------------------------------------------------------------------------------ the renderer
def button(offer: Offer) -> dict[str, Any]:
    """An Action.Submit: the words are the front's, the data is the core's offer."""
    return {"type": "Action.Submit", "title": OFFER_WORDS.get(offer.name, offer.name),
            "style": "positive" if offer.primary else "default",
            "data": {"offer": offer.name, "value": offer.value}}


def card(view: object) -> dict[str, Any]:
    """The view model as this front shows it: a title, text, facts and buttons. TypeError for a
    view it has no renderer for (as a real front's renderer must)."""
    if isinstance(view, cycle_views.CheckinCard):
        if view.answered():
            text = f"Your answer: {PROGRESS_WORDS[view.progress or '']}"
            if view.value is not None:
                text += f" ({view.value:g}{view.metric_unit})"
        else:
            text = f"How is week {view.week} going on \u201c{view.goal}\u201d?"
        return {"title": f"{'Reminder: ' if view.reminder else ''}{view.team_name}: {view.title}, "
                         f"week {view.week} of {view.weeks}",
                "text": text, "facts": {"Strategy": view.strategy, "Measure": view.metric_name},
                "buttons": [button(o) for o in view.offered()]}
    if isinstance(view, cycle_views.RoundSummary):
        figures = view.summary
        return {"title": f"Week {figures.week} of {view.weeks}: {view.team_name}, {view.title}",
                "text": f"{figures.answered} of {figures.asked} answered",
                "facts": {"Support requests": str(view.support_count)}, "buttons": []}
    if isinstance(view, FeedbackPrompt):
        return {"title": "How was today's meeting?", "text": view.title,
                "facts": {"Answers until": view.closes_at.isoformat()},
                "buttons": [button(o) for o in view.offered()]}
    if isinstance(view, DigestSummary):
        return {"title": f"PLC digest, {view.school}, {view.week.label}",
                "text": "No PLC activity this week." if not view.has_data else
                        f"{len(view.teams)} team(s); the workbook follows.",
                "facts": {f.team.name: "" for f in view.teams}, "buttons": []}
    if isinstance(view, DigestPart):
        return digest_card(view)
    if isinstance(view, UploadFailed):
        return {"title": "The workbook could not be attached", "text": view.week.label, "facts": {}, "buttons": []}
    if isinstance(view, cycle_views.DeliveryFailures):
        return {"title": f"Not delivered: week {view.week}", "text": ", ".join(p for p, _ in view.failed),
                "facts": {}, "buttons": []}
    if isinstance(view, CycleStarted):
        return {"title": f"A new learning cycle: {view.cycle.title}", "text": view.cycle.goal,
                "facts": {"Weeks": str(view.cycle.weeks)}, "buttons": []}
    raise TypeError(f"the Teams test front has no renderer for {type(view).__name__}")


def digest_card(part: DigestPart) -> dict[str, Any]:
    return {"title": f"PLC digest, {part.school}, {part.week.label}{' so far' if part.so_far else ''}"
                     f"{part.scope_note}",
            "text": ", ".join(t.team.name for t in part.teams) or "No PLC teams yet.",
            "facts": {}, "buttons": []}


# ------------------------------------------------------------------------------ the transport
@dataclass
class Activity:
    """A message as Teams keeps it: an id of its own in a conversation."""

    id: str
    conversation: str
    service_url: str
    key: str
    text: str
    card: Any
    data: dict[str, Any]
    versions: int = 1  # 1 + how many times it was updated in place


@dataclass
class TeamsTransport:
    """The delivery ledger's view of Teams, in memory. A recipient is a `29:…` id, a 1:1
    conversation `a:…` (a reminder names the check-in's conversation) or a channel `19:…`;
    where to post comes from the conversation reference stored on the identity or place."""

    front: TeamsFront
    platform: str = TEAMS
    chats: dict[str, list[Activity]] = field(default_factory=dict)
    files: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    ids: Any = field(default_factory=lambda: itertools.count(1649887612801))

    def render(self, view: object) -> Rendered:
        shown = card(view)
        return Rendered(shown["title"], shown)

    def reference(self, recipient: str, known: str | None = None) -> tuple[str, str]:
        """(conversation id, service URL) for a recipient, from the stored conversation reference."""
        db = self.front.services.db
        with db.read() as session:
            ident = session.exec(select(PersonIdentity).where(
                PersonIdentity.platform == TEAMS,
                (PersonIdentity.external_id == recipient) | (PersonIdentity.conversation_id == recipient))).first()
            if ident is not None and ident.conversation_id and ident.service_url:
                return known or ident.conversation_id, ident.service_url
            place = session.exec(select(TeamPlace).where(TeamPlace.platform == TEAMS,
                                                         TeamPlace.place_id == recipient)).first()
            if place is not None and place.service_url:
                return known or place.place_id, place.service_url
        raise TransportError("NoConversationReference", permanent=True)

    def conversation(self, recipient: str, known: str | None = None) -> str:
        self.calls.append("conversation")
        return self.reference(recipient, known)[0]

    def send(self, recipient: str, message: Rendered, *, key: str, conversation: str | None = None,
             thread: str | None = None, data: Mapping[str, Any] | None = None) -> Sent:
        self.calls.append("send")
        chat, service_url = self.reference(recipient, conversation)
        activity = Activity(f"{next(self.ids)}|0000001", chat, service_url, key, message.text, message.body,
                            dict(data or {}))
        self.chats.setdefault(chat, []).append(activity)
        return Sent(chat, activity.id)

    def update(self, conversation: str, message_id: str, message: Rendered) -> None:
        """PUT {serviceUrl}/v3/conversations/{conversation}/activities/{message_id}."""
        self.calls.append("update")
        for activity in self.chats.get(conversation, []):
            if activity.id == message_id:
                activity.text, activity.card = message.text, message.body
                activity.versions += 1
                return
        raise TransportError("ActivityNotFound", gone=True)

    def find(self, recipient: str, key: str, *, conversation: str | None = None) -> Sent | None:
        self.calls.append("find")
        chat = self.conversation(recipient, conversation)
        return next((Sent(chat, a.id) for a in self.chats.get(chat, []) if a.key == key), None)

    def upload(self, recipient: str, content: bytes, *, filename: str, title: str, comment: str,
               conversation: str | None = None, key: str | None = None) -> Sent:
        """A file to a personal chat (Teams: a FileConsentCard, then the file; here at once)."""
        self.calls.append("upload")
        chat = self.conversation(recipient, conversation)
        self.files.setdefault(chat, []).append((filename, content))
        return Sent(chat, f"file-{len(self.files[chat])}")

    def find_file(self, recipient: str, filename: str, *, conversation: str | None = None) -> Sent | None:
        self.calls.append("find_file")
        chat = self.conversation(recipient, conversation)
        names = [n for n, _ in self.files.get(chat, [])]
        return Sent(chat, f"file-{names.index(filename) + 1}") if filename in names else None

    # what the tests read
    def activities(self, chat: str) -> list[Activity]:
        return list(self.chats.get(chat, []))

    def by_key(self, key: str) -> list[Activity]:
        return [a for chat in self.chats.values() for a in chat if a.key == key]


# ------------------------------------------------------------------------------ the front
@dataclass
class Invoke:
    """What Teams posts when a card's button is pressed (`Action.Submit`, an `invoke`/`message`
    activity): who (`from.id`, the tenant), where (the conversation), which activity, and the data."""

    user_id: str
    tenant: str
    conversation: str
    reply_to_id: str
    data: Mapping[str, Any]


@dataclass
class Dialog:
    """A dialog (task module) as this front shows it: its fields, their values and errors."""

    meeting_id: int
    title: str
    fields: list[dict[str, Any]]
    anonymous: bool = False
    errors: dict[str, str] = field(default_factory=dict)
    closed_with: str | None = None  # the words shown when it closed after a good submit


class TeamsFront:
    """Translates Teams' shapes into the core's actions and renders what they return."""

    def __init__(self, services: Any, *, tenant: str, link_key: bytes) -> None:
        self.services = services
        self.tenant = tenant
        self.link_key = link_key
        self.transport = TeamsTransport(self)
        self.replies: list[tuple[str, str]] = []  # (conversation, words) sent as plain replies

    # who: a Teams identity → the person → the core's Actor
    def actor(self, user_id: str, tenant: str | None = None) -> Actor:
        with self.services.db.read() as session:
            person = identities.person_for_identity(session, TEAMS, tenant or self.tenant, user_id)
            if person is None:
                raise UserError("I don't know you yet: ask your facilitator to add you to a PLC team.")
            # The core still names people by `person.handle` (issue 24, item 1 not done):
            # a Teams-only person carries their Teams id there.
            return load_actor(session, person.handle, admins=())

    # notices the actions owe others (to the team's Teams channel, through the ledger)
    def deliver_notices(self, result: ActionResult) -> list[delivery.Outcome]:
        out = []
        for notice in result.notices:
            out.append(self._deliver_notice(notice))
        return out

    def _deliver_notice(self, notice: Notice) -> delivery.Outcome:
        assert notice.key is not None
        if notice.team_id is not None:
            with self.services.db.read() as session:
                place = identities.place_of(session, notice.team_id, TEAMS)
                assert place is not None, "the team has no Teams place"
                recipient = place.place_id
        else:
            assert notice.person is not None
            recipient = notice.person
        return delivery.deliver(self.services, key=notice.key, kind="notice", recipient=recipient, view=notice.view)

    # buttons
    def on_invoke(self, invoke: Invoke) -> str:
        """A pressed button: the core's action named by the offer, then the card updated in place."""
        name, value = str(invoke.data.get("offer", "")), str(invoke.data.get("value", ""))
        try:
            actor = self.actor(invoke.user_id, invoke.tenant)
            if name.startswith("answer_") and name.removeprefix("answer_") in PROGRESS_WORDS:
                result = core_checkins.answer(self.services, actor, checkin_id=int(value),
                                              progress=name.removeprefix("answer_"))
                self.refresh_checkin(result.checkin_id, also=(invoke.conversation, invoke.reply_to_id))
                return result.reply
            if name == "give_feedback":
                raise AssertionError("a feedback button opens a dialog: use open_dialog")
            raise UserError("That button no longer does anything.")
        except UserError as exc:
            self.replies.append((invoke.conversation, str(exc)))
            return str(exc)

    def checkin_card(self, checkin_id: int) -> tuple[Checkin, cycle_views.CheckinCard] | None:
        """What a check-in's message shows now. (Slack's copy of this is `handlers.checkins.card_for`,
        in the Slack listener module: the core has no function for it, so this front rebuilds it
        from `CycleContext.card` and the stored rows.)"""
        with self.services.db.read() as session:
            checkin = session.get(Checkin, checkin_id)
            if checkin is None:
                return None
            round_ = session.get(CheckinRound, checkin.round_id)
            request = checkin_store.support_for(session, checkin_id=checkin_id)
        ctx = CycleContext(self.services, checkin.cycle_id)
        closed = (round_ is not None and round_.state == "closed") or (
            ctx.cycle is not None and ctx.cycle.status == "ended")
        return checkin, ctx.card(checkin, support_state=request.state if request else None, closed=closed)

    def refresh_checkin(self, checkin_id: int, *, also: tuple[str | None, str | None] = (None, None)) -> None:
        """Update the check-in's message in place by its activity id (kept on the check-in row by
        the round, from the ledger's outcome), and the one the click came from if another."""
        found = self.checkin_card(checkin_id)
        if found is None:
            return
        checkin, view = found
        message = self.transport.render(view)
        targets = {(checkin.channel_id, checkin.ts), also}
        for conversation, activity_id in targets:
            if conversation and activity_id:
                self.transport.update(conversation, activity_id, message)

    # dialogs
    def open_dialog(self, user_id: str, *, meeting_id: int) -> Dialog:
        """The feedback dialog's content, from the core (filled with the person's own answer)."""
        actor = self.actor(user_id)
        with self.services.db.read() as session:
            form = core_feedback.feedback_form(session, actor=actor, key=self.link_key,
                                               now=self.services.clock.now(), meeting_id=meeting_id)
        previous = dict(form.previous or {})
        fields = [{"id": q.key, "label": q.label, "kind": q.kind, "required": q.required,
                   "choices": ["1", "2", "3", "4", "5"] if q.kind == "rating" else None,
                   "value": None if previous.get(q.key) is None else str(previous[q.key])}
                  for q in feedback_rules.QUESTIONS]
        return Dialog(form.meeting_id, f"Feedback on {form.meeting} (until {form.closes})", fields,
                      anonymous=bool(previous.get("anonymous", False)))

    def submit_dialog(self, user_id: str, dialog: Dialog, values: Mapping[str, str | None], *,
                      anonymous: bool) -> Dialog:
        """A submitted dialog: errors shown back on it and nothing stored, or stored and closed."""
        answer, errors = feedback_rules.validate(values, anonymous=anonymous)
        if answer is None:
            return Dialog(dialog.meeting_id, dialog.title,
                          [{**f, "value": values.get(f["id"])} for f in dialog.fields], anonymous, errors)
        actor = self.actor(user_id)
        with self.services.db.session() as session:
            try:
                checked = core_feedback.check_feedback(session, actor=actor, meeting_id=dialog.meeting_id,
                                                       answer=answer, key=self.link_key,
                                                       now=self.services.clock.now())
            except UserError as exc:
                return Dialog(dialog.meeting_id, dialog.title, dialog.fields, anonymous, {"_": str(exc)})
            result = core_feedback.write_feedback(session, checked)
        return Dialog(dialog.meeting_id, dialog.title, dialog.fields, anonymous, closed_with=result.reply)

    # the digest on demand ("digest" typed in a chat with the bot)
    def on_digest(self, user_id: str, *, conversation: str, request_id: str, week_text: str = "",
                  team_id: int | None = None) -> core_digest.DigestSent:
        actor = self.actor(user_id)

        sent = core_digest.digest_now(self.services, actor=actor, team_id=team_id, week_text=week_text,
                                      request_id=request_id)
        self.replies.append((conversation, sent.result.reply))
        return sent


@dataclass
class FrontServices:
    """What the core is given by this front: settings, the database, the clock and the
    transports (`scheduling.services.Services`). `slack` and `slack_send` are there only to
    catch any code that still reaches for a Slack client: they raise and record the touch."""

    settings: Any
    db: Any
    clock: Any
    transports: Any
    slack: Any = None
    slack_send: Any = None
    started: datetime | None = None
