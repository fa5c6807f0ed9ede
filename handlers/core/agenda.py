"""Agenda actions: post the next meeting's agenda, fill it from a template, add items (a form, a
message on the agenda), edit an item of one's own, and the facilitators' agenda editor (a form).

Each takes who (an `Actor`, loaded inside the caller's transaction), where (a team, a meeting or
an item) and plain data (people as person ids, never a platform's mentions), checks the role,
writes and returns what changed. Posting itself is the ledger's (`scheduling.meetings.publish_agenda`):
the action says which meeting's agenda the team's place is owed, and whether it is already there
(then the front updates it in place). The forms come in halves the front wraps in
`handlers.forms.submit`: `check_*` (read-only) and `write_*` (one transaction, the role checked again).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from handlers.core import ActionResult, Notice
from handlers.core.meetings import FormErrors
from handlers.errors import UserError
from scheduling import keys
from storage import meetings as store
from storage.models import AgendaItem, Meeting, Team
from storage.people import slack_id, slack_ids
from storage.rules.agenda import TEMPLATE_CHOICES, ItemView, RuleError, check_item, find_template, local_label
from storage.rules.roles import Action, Actor, Forbidden, Role, allowed, require
from storage.views.agenda_actions import AgendaDue

NO_MEETING = ("This team has no upcoming meeting. Add one with `/plc meeting add DATE TIME [minutes]`, "
              "or set the team's meeting days and time.")
GONE = "That meeting no longer exists."
NOT_YOURS = "Only the person who added this item or a facilitator can change it."


@dataclass(frozen=True)
class AgendaResult(ActionResult):
    meeting_id: int = 0
    when: str = ""  # the meeting's local date and time, in words
    refresh_agenda: bool = False  # the agenda changed: the front updates it where it is posted


@dataclass(frozen=True)
class AgendaPost(AgendaResult):
    """`/plc agenda`: what the team's place is owed, or what a member may see of it."""

    post: bool = False  # the actor may post it: the front posts it, or updates it in place
    update: bool = False  # it is posted already: an update in place, not a second post
    posted_place: str | None = None  # where it is posted (today the Slack channel and message ts)
    posted_message: str | None = None
    template_label: str = ""  # filled from this template (`/plc agenda template NAME`)


@dataclass(frozen=True)
class ItemAdded(AgendaResult):
    item_id: int = 0
    created: bool = False  # False: the same item was on the agenda already (a double submit, a second run)
    title: str = ""


@dataclass(frozen=True)
class AgendaTarget:
    """A meeting an agenda form may change, as the read-only check found it."""

    meeting_id: int
    team_id: int
    school_id: int
    place: str  # the team's chat place (today its Slack channel)
    when: str


@dataclass(frozen=True)
class NewItem:
    """An agenda item as the person gave it (the check cleans it with `check_item`)."""

    title: str
    minutes: int | None
    owner: str | None  # a person id
    link: str | None = None
    outcome: str = ""


@dataclass(frozen=True)
class ItemAddForm:
    """What the "Add an item" form needs to open."""

    meeting_id: int
    when: str
    owner: str  # the actor leads it unless they choose someone else


@dataclass(frozen=True)
class CheckedItem:
    target: AgendaTarget
    item: NewItem  # cleaned


@dataclass(frozen=True)
class ItemChange:
    """One row of the agenda editor. An empty title removes the item. `unreadable`: the front could
    not read the minutes (shown on the minutes field)."""

    item_id: int
    title: str
    minutes: int | None
    owner: str | None
    unreadable: str = ""


@dataclass(frozen=True)
class AgendaEdit:
    items: list[ItemChange]
    timekeeper: str | None
    notetaker: str | None


@dataclass(frozen=True)
class AgendaEditor:
    """What the agenda editor needs to open."""

    meeting_id: int
    when: str
    items: list[ItemView]
    timekeeper: str | None
    notetaker: str | None


@dataclass(frozen=True)
class CheckedEdit:
    target: AgendaTarget
    edits: list[store.ItemEdit] = field(default_factory=list)
    timekeeper: str | None = None
    notetaker: str | None = None


def title_field(item_id: int) -> str:
    """The editor's field for an item's title (the form's block id on every front)."""
    return f"t{item_id}"


def minutes_field(item_id: int) -> str:
    return f"m{item_id}"


def _team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None or team.id is None:
        raise UserError("That team no longer exists.")
    return team


def _meeting(session: Session, meeting_id: int | None, *, gone: type[Exception] = UserError) -> tuple[Meeting, Team]:
    meeting = session.get(Meeting, meeting_id) if meeting_id else None
    team = session.get(Team, meeting.team_id) if meeting else None
    if meeting is None or team is None or meeting.id is None or team.id is None:
        raise gone(GONE)
    return meeting, team


def _target(session: Session, actor: Actor, meeting_id: int | None, action: Action) -> tuple[Meeting, AgendaTarget]:
    """The meeting an agenda form changes, once `actor` may take `action` on it. A meeting gone is
    a `RuleError`: before the acknowledgement it is shown on the form, after it told as a refusal."""
    meeting, team = _meeting(session, meeting_id, gone=RuleError)
    assert meeting.id is not None and team.id is not None
    require(actor, action, team_id=team.id, school_id=team.school_id)
    return meeting, AgendaTarget(meeting.id, team.id, team.school_id, team.channel_id,
                                 local_label(meeting.starts_at, team.timezone))


def _posting(meeting: Meeting, team: Team, *, may_post: bool, reply: str = "", template_label: str = "",
             changed: tuple[str, ...] = ()) -> AgendaPost:
    assert meeting.id is not None and team.id is not None
    update = bool(meeting.agenda_ts)
    notices = (Notice(view=AgendaDue(meeting.id, update=update), team_id=team.id, key=keys.agenda(meeting.id)),) \
        if may_post else ()
    return AgendaPost(reply=reply, changed=changed, notices=notices, meeting_id=meeting.id,
                      when=local_label(meeting.starts_at, team.timezone), post=may_post, update=update,
                      posted_place=meeting.agenda_channel_id, posted_message=meeting.agenda_ts,
                      template_label=template_label)


def post_agenda(session: Session, actor: Actor, *, team_id: int, now: datetime) -> AgendaPost:
    """The next meeting's agenda: facilitators post it (or update the posted one); members may look.

    Raises `Forbidden` for someone outside the team, `UserError` when no meeting is coming.
    """
    team = _team(session, team_id)
    may_post = allowed(actor, Action.POST_AGENDA, team_id=team_id, school_id=team.school_id)
    if not may_post and actor.role_in(team_id=team_id, school_id=team.school_id) is None:
        raise Forbidden(Action.ADD_AGENDA_ITEM, Role.MEMBER)
    meeting = store.next_meeting(session, team=team, now=now)
    if meeting is None:
        raise UserError(NO_MEETING)
    return _posting(meeting, team, may_post=may_post)


def fill_from_template(session: Session, actor: Actor, *, team_id: int, name: str, now: datetime) -> AgendaPost:
    """Fill the next meeting's agenda from the template `name` (or the one the cycle's phase calls
    for when `name` is empty), then post it. Raises `RuleError` for a name no template has."""
    team = _team(session, team_id)
    require(actor, Action.EDIT_AGENDA, team_id=team_id, school_id=team.school_id)
    template = find_template(name) if name else None
    meeting = store.next_meeting(session, team=team, now=now)
    if meeting is None:
        raise UserError(NO_MEETING)
    template = template or store.template_for(session, team=team, now=now)
    store.apply_template(session, meeting=meeting, template=template, by=actor.handle, now=now)
    when = local_label(meeting.starts_at, team.timezone)
    return _posting(meeting, team, may_post=True, template_label=template.label,
                    reply=f"Filled the agenda for {when} from the {template.label} template.",
                    changed=(f"meeting:{meeting.id} agenda from template {template.name}",))


def agenda_command(session: Session, actor: Actor, *, team_id: int, args: str, now: datetime,
                   code: Callable[[str], str], quote: Callable[[str], str]) -> AgendaPost:
    """`agenda` (the next meeting's agenda: facilitators post it, members see it) or `agenda template
    [NAME]` (fill it from a template, then post it): one reading of the words for every front.
    `code` words a command the way the front shows one (Slack: `/plc …` in code; Teams: plain words),
    `quote` shows back what the person typed (made inert).
    Raises `RuleError` for a template name no template has, `UserError` for any other word."""
    words = args.split()
    if words and words[0].lower() == "template":
        return fill_from_template(session, actor, team_id=team_id, name=" ".join(words[1:]), now=now)
    if words:
        raise UserError(f"I don't know agenda {quote(words[0][:30])}. {code('agenda')} shows the next meeting's "
                        f"agenda; {code('agenda template NAME')} fills it from a template ({TEMPLATE_CHOICES}).")
    return post_agenda(session, actor, team_id=team_id, now=now)


# ---------------------------------------------------------------------- adding items


def open_add_item(session: Session, actor: Actor, *, meeting_id: int) -> ItemAddForm:
    """May `actor` add an item to this meeting (the agenda's "Add an item" button)?"""
    meeting, team = _meeting(session, meeting_id)
    assert meeting.id is not None
    require(actor, Action.ADD_AGENDA_ITEM, team_id=team.id, school_id=team.school_id)
    if meeting.status != "scheduled":
        raise UserError(f"That meeting is {meeting.status}; add items to the next one with `/plc agenda`.")
    return ItemAddForm(meeting.id, local_label(meeting.starts_at, team.timezone), owner=actor.handle)


def check_add_item(session: Session, actor: Actor, *, meeting_id: int | None, item: NewItem) -> CheckedItem:
    """Read-only. Raises `RuleError` (on its field: title, minutes, link, outcome) or `Forbidden`."""
    title, minutes, link, outcome = check_item(item.title, item.minutes, item.link, item.outcome)
    _, target = _target(session, actor, meeting_id, Action.ADD_AGENDA_ITEM)
    return CheckedItem(target, NewItem(title, minutes, item.owner, link, outcome))


def write_add_item(session: Session, actor: Actor, checked: CheckedItem, *, form_id: str | None,
                   now: datetime) -> ItemAdded:
    """Add the item. The same form (`form_id`: the front's id of this form) sent again with the same
    answers, by a double submit or a retry, adds one item."""
    meeting, target = _target(session, actor, checked.target.meeting_id, Action.ADD_AGENDA_ITEM)
    item = checked.item
    key = None
    if form_id:
        digest = hashlib.sha256(json.dumps([item.title, item.minutes, item.owner, item.link, item.outcome])
                                .encode()).hexdigest()[:32]
        key = f"view:{form_id[:40]}:{digest}"
    added = store.add_item(session, meeting=meeting, title=item.title, minutes=item.minutes or 5, owner=item.owner,
                           link=item.link, outcome=item.outcome, source="member", added_by=actor.handle, now=now,
                           source_key=key)
    return _added(added, target)


def add_linked_item(session: Session, actor: Actor, *, team_id: int, title: str, link: str | None,
                    source_key: str, now: datetime) -> ItemAdded:
    """Put a message on the next meeting's agenda (5 minutes, led by `actor`), once per message:
    `source_key` names the message (a second run finds it there, `created` False)."""
    team = _team(session, team_id)
    require(actor, Action.ADD_AGENDA_ITEM, team_id=team_id, school_id=team.school_id)
    meeting = store.next_meeting(session, team=team, now=now)
    if meeting is None:
        raise UserError(NO_MEETING)
    assert meeting.id is not None
    added = store.add_item(session, meeting=meeting, title=title, minutes=5, owner=actor.handle, link=link,
                           outcome="", source="shortcut", added_by=actor.handle, now=now, source_key=source_key)
    return _added(added, AgendaTarget(meeting.id, team_id, team.school_id, team.channel_id,
                                      local_label(meeting.starts_at, team.timezone)))


def _added(added: store.Added, target: AgendaTarget) -> ItemAdded:
    item = added.item
    assert item.id is not None
    if not added.created:
        return ItemAdded(reply=f"That item is already on the agenda for {target.when}.",
                         meeting_id=target.meeting_id, when=target.when, item_id=item.id, title=item.title)
    return ItemAdded(reply=f"Added “{item.title}” to the agenda for {target.when}.",
                     changed=(f"agenda item:{item.id} added",), meeting_id=target.meeting_id, when=target.when,
                     refresh_agenda=True, item_id=item.id, created=True, title=item.title)


# ---------------------------------------------------------------------- editing


def may_edit_item(session: Session, actor: Actor, item: AgendaItem, team: Team) -> bool:
    """The person who added an item (still a member) may change it; facilitators may change any."""
    if allowed(actor, Action.EDIT_AGENDA, team_id=team.id, school_id=team.school_id):
        return True
    return item.added_by_id is not None and slack_id(session, item.added_by_id) == actor.handle and \
        allowed(actor, Action.ADD_AGENDA_ITEM, team_id=team.id, school_id=team.school_id)


def edit_item(session: Session, actor: Actor, *, item_id: int, change: NewItem) -> AgendaResult:
    """Change one item's title, minutes, leader, link and outcome (its author, or a facilitator).

    Raises `RuleError` (on its field) for what `check_item` refuses, `UserError` otherwise.
    """
    item = session.get(AgendaItem, item_id)
    if item is None:
        raise UserError("That agenda item no longer exists.")
    meeting, team = _meeting(session, item.meeting_id)
    if not may_edit_item(session, actor, item, team):
        raise UserError(NOT_YOURS)
    title, minutes, link, outcome = check_item(change.title, change.minutes, change.link, change.outcome)
    store.edit_item(session, meeting=meeting, item=item, title=title, minutes=minutes, owner=change.owner,
                    link=link, outcome=outcome)
    return AgendaResult(reply=f"Changed “{title}” on the agenda.", changed=(f"agenda item:{item_id} edited",),
                        meeting_id=item.meeting_id, when=local_label(meeting.starts_at, team.timezone),
                        refresh_agenda=True)


def open_agenda_editor(session: Session, actor: Actor, *, meeting_id: int) -> AgendaEditor:
    """May `actor` open the agenda editor (the agenda's "Edit agenda" button, facilitators)?"""
    meeting, team = _meeting(session, meeting_id)
    assert meeting.id is not None
    require(actor, Action.EDIT_AGENDA, team_id=team.id, school_id=team.school_id)
    if meeting.status != "scheduled":
        raise UserError(f"That meeting is {meeting.status}; its agenda can no longer change.")
    rows = store.items(session, meeting_id=meeting.id)
    owners = slack_ids(session, [i.owner_id for i in rows])
    items = [ItemView(i.id or 0, i.title, i.minutes, owners.get(i.owner_id or 0), i.link, i.outcome) for i in rows]
    timekeeper, notetaker = store.roles_of(session, meeting_id=meeting.id)
    return AgendaEditor(meeting.id, local_label(meeting.starts_at, team.timezone), items, timekeeper, notetaker)


def check_agenda_edit(session: Session, actor: Actor, *, meeting_id: int | None, edit: AgendaEdit) -> CheckedEdit:
    """Read-only. Raises `FormErrors` (`title_field`/`minutes_field` of the items), `RuleError` or `Forbidden`."""
    edits, errors = [], {}
    for change in edit.items:
        title = " ".join((change.title or "").split())
        if not title:
            edits.append(store.ItemEdit(change.item_id, "", 0, None))
            continue
        if change.unreadable:
            errors[minutes_field(change.item_id)] = change.unreadable
            continue
        try:
            title, minutes, _, _ = check_item(title, change.minutes)
        except RuleError as exc:
            errors[minutes_field(change.item_id) if exc.field == "minutes" else title_field(change.item_id)] = str(exc)
            continue
        edits.append(store.ItemEdit(change.item_id, title, minutes, change.owner))
    if errors:
        raise FormErrors(errors)
    _, target = _target(session, actor, meeting_id, Action.EDIT_AGENDA)
    return CheckedEdit(target, edits, edit.timekeeper, edit.notetaker)


def write_agenda_edit(session: Session, actor: Actor, checked: CheckedEdit) -> AgendaResult:
    """Save titles, minutes, leaders and the meeting's roles; an emptied title removes the item."""
    meeting, target = _target(session, actor, checked.target.meeting_id, Action.EDIT_AGENDA)
    store.edit_agenda(session, meeting=meeting, edits=checked.edits, timekeeper=checked.timekeeper,
                      notetaker=checked.notetaker)
    return AgendaResult(reply=f"The agenda for {target.when} is saved.", changed=(f"meeting:{target.meeting_id} "
                        "agenda edited",), meeting_id=target.meeting_id, when=target.when, refresh_agenda=True)
