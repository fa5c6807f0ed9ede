"""Pure builders for norms, agendas, meeting logs and action items: data in, Block Kit out.

Everything a person wrote is escaped. Long lists are split over several sections (each under
Slack's 3,000 characters) and cut with "… and N more" so a message never passes 50 blocks.
"""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

from bot.render import blocks as bk
from bot.render.mrkdwn import clip, escape, link, user
from storage.views import agenda as views
from storage.views.agenda import ActionReminder, AgendaPost
from storage.views.norms import NormsChanged

if TYPE_CHECKING:
    from storage.rules.agenda import ActionView, AgendaSnapshot, CycleView, ItemView, MeetingLog

Block = dict[str, Any]
SECTION_MAX = 2800  # leaves room for the "… and N more" line under Slack's 3,000
LINE_MAX = 2000
EDIT_ITEMS_MAX = 25  # 3 inputs each: 75 of a modal's 100 blocks
WRAPUP_ITEMS_MAX = 25
WRAPUP_ACTION_ROWS = 3


def chunk(heading: str, lines: list[str], *, max_blocks: int, noun: str = "more") -> list[Block]:
    """`heading` then `lines` in as few sections as fit, at most `max_blocks`, then "… and N more"."""
    out: list[Block] = []
    current = heading
    shown = 0
    for line in lines:
        line = clip(line, LINE_MAX)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > SECTION_MAX:
            if len(out) + 1 >= max_blocks:
                break
            out.append(bk.section(current))
            current = line
        else:
            current = candidate
        shown += 1
    rest = len(lines) - shown
    if rest:
        current = f"{current}\n_… and {rest} {noun}_"
    if current:
        out.append(bk.section(current))
    return out


def _num(value: float) -> str:
    return f"{value:g}"


def day(d: date) -> str:
    return f"{d:%a %b} {d.day}"


def _mention(uid: str | None) -> str:
    return user(uid) if uid else "_nobody yet_"


# --------------------------------------------------------------------------------- agenda
def cycle_text(cycle: CycleView | None) -> str:
    if cycle is None:
        return "*Cycle goal*\n_No learning cycle is running. A facilitator can start one with `/plc cycle`._"
    where = f"Week {cycle.week} of {cycle.weeks} · {cycle.phase}" if cycle.week else "outside the cycle's weeks"
    if cycle.status == "paused":
        where += " · paused"
    unit = escape(cycle.unit)
    return (
        f"*Cycle goal* · {where}\n{escape(cycle.goal)}\n"
        f"_{escape(cycle.metric)}:_ baseline {_num(cycle.baseline)}{unit} → target {_num(cycle.target)}{unit}"
    )


def item_line(position: int, item: ItemView) -> str:
    parts = [f"*{position}.* {escape(item.title)}", f"_{item.minutes} min_"]
    if item.owner:
        parts.append(user(item.owner))
    if item.link:
        parts.append(link(item.link, "link"))
    line = " · ".join(parts)
    if item.outcome:
        line += f"\n      _Outcome:_ {escape(item.outcome)}"
    return line


def action_line(action: ActionView, *, with_team: bool = False) -> str:
    due = ""
    if action.due is not None:
        due = f" · due {day(action.due)}" + (" *(overdue)*" if action.overdue else "")
    team = f" · {escape(action.team_name)}" if with_team and action.team_name else ""
    done = "~" if action.status == "done" else ""
    return f"• {user(action.owner)} {done}{escape(action.text)}{done}{due}{team}"


# What each offer of an agenda (`storage.views.agenda`) is in Slack: the button's words and action id.
AGENDA_BUTTONS = {
    views.ADD_ITEM: ("Add an item", "agenda_add_item"),
    views.EDIT: ("Edit agenda", "agenda_edit"),
    views.GIVE_FEEDBACK: ("Give feedback", "feedback_open"),
    views.WRAP_UP: ("Wrap up", "agenda_wrapup"),
}


def agenda_buttons(snap: AgendaSnapshot) -> Block | None:
    buttons = [bk.button(*AGENDA_BUTTONS[o.name], value=o.value, style="primary" if o.primary else None)
               for o in views.agenda_offers(snap)]
    return bk.actions(*buttons, block_id=f"agenda_{snap.meeting_id}") if buttons else None


def agenda_post(view: AgendaPost) -> tuple[str, list[Block]]:
    return agenda_message(view.agenda)


def agenda_message(snap: AgendaSnapshot) -> tuple[str, list[Block]]:
    """The agenda: when, roles, norms, the cycle goal, time-boxed items, requests, open actions."""
    title = f"Agenda · {snap.team_name} · {snap.when}"
    if snap.status == "cancelled":
        title = f"Cancelled · {snap.team_name} · {snap.when}"
    roles = [f"{snap.minutes} minutes"]
    if snap.template_label:
        roles.append(f"{escape(snap.template_label)} template")
    if snap.facilitators:
        roles.append("Facilitator " + ", ".join(user(u) for u in snap.facilitators[:5]))
    roles.append(f"Timekeeper {_mention(snap.timekeeper)}")
    roles.append(f"Note-taker {_mention(snap.notetaker)}")
    head: list[Block] = [bk.header(title), bk.context(" · ".join(roles))]
    if snap.status == "held":
        head.append(bk.context(":white_check_mark: Held. The meeting log is in the thread below."))
    if snap.status == "cancelled":
        head.append(bk.context(":no_entry_sign: This meeting was cancelled."))
    if snap.norms:
        head += chunk("*Our norms*", [f"{n}. {escape(t)}" for n, t in enumerate(snap.norms, 1)],
                      max_blocks=3, noun="more norms")
    else:
        head.append(bk.section("*Our norms*\n_No norms yet. A facilitator can write them with `/plc norms edit`._"))
    head.append(bk.section(cycle_text(snap.cycle)))
    head.append(bk.divider())

    tail: list[Block] = []
    if snap.overrun:
        total = sum(i.minutes for i in snap.items)
        tail.append(bk.section(
            f":warning: *The items add up to {total} minutes, {snap.overrun} more than the "
            f"{snap.minutes}-minute meeting.* Shorten an item or move one to the next meeting."
        ))
    if snap.requested:
        tail += chunk("*Requested by teachers*", [f"• {escape(t)}" for t in snap.requested],
                      max_blocks=2, noun="more requests")
    if snap.open_actions:
        tail += chunk("*Open action items*", [action_line(a) for a in snap.open_actions],
                      max_blocks=3, noun="more open action items")
    buttons = agenda_buttons(snap)
    if buttons is not None:
        tail.append(buttons)

    total = sum(i.minutes for i in snap.items)
    if snap.items:
        heading = f"*Items* · {total} of {snap.minutes} minutes"
        budget = bk.MESSAGE_BLOCKS_MAX - len(head) - len(tail)
        middle = chunk(heading, [item_line(n, i) for n, i in enumerate(snap.items, 1)],
                       max_blocks=max(1, budget), noun="more items")
    else:
        middle = [bk.section("*Items*\n_No items yet. Add one with the button below, or fill the agenda "
                             "from a template with `/plc agenda template NAME`._")]
    blocks = bk.fit(head + middle + tail, bk.MESSAGE_BLOCKS_MAX)
    text = f"{escape(title)}: {len(snap.items)} items, {total} of {snap.minutes} minutes"
    return text, blocks


# --------------------------------------------------------------------------------- norms
def norms_message(*, team_name: str, team_id: int, norms: list[str], version: int, committed: int, members: int,
                  changed_by: str | None = None) -> tuple[str, list[Block]]:
    """The numbered norms with the "I commit" button; after a change it says so and asks again."""
    blocks: list[Block] = [bk.header(f"Our norms · {team_name}")]
    if changed_by:
        blocks.append(bk.section(
            f":memo: {user(changed_by)} updated the norms. Please read them again and commit to this version."
        ))
    if not norms:
        blocks.append(bk.section("_This team has no norms yet. A facilitator can write them with `/plc norms edit`._"))
        return f"{escape(team_name)} has no norms yet", blocks
    blocks += chunk("", [f"{n}. {escape(t)}" for n, t in enumerate(norms, 1)], max_blocks=4, noun="more norms")
    blocks.append(bk.context(f"Version {version} · {committed} of {members} members have committed"))
    blocks.append(bk.actions(
        bk.button("I commit to these norms", "norms_commit", value=f"{team_id}:{version}", style="primary"),
        block_id="norms_commit",
    ))
    return f"Our norms ({len(norms)}): " + "; ".join(escape(clip(n, 80)) for n in norms[:3]), blocks


def norms_changed(view: NormsChanged) -> tuple[str, list[Block]]:
    """A new version of the norms, posted in the team's channel (`storage.views.norms.NormsChanged`)."""
    return norms_message(team_name=view.team_name, team_id=view.team_id, norms=list(view.norms),
                         version=view.version, committed=view.committed, members=view.members,
                         changed_by=view.changed_by)


def norms_history_blocks(revisions: list[tuple[int, str, str, str]]) -> list[Block]:
    """(version, when, who, summary) rows, newest first."""
    if not revisions:
        return [bk.section("The norms have never been edited.")]
    lines = [f"• *v{v}* · {when} · {user(who)} · {escape(summary)}" for v, when, who, summary in revisions]
    return chunk("*Changes to the norms*", lines, max_blocks=5, noun="older changes")


def norms_who_blocks(*, committed: list[str], pending: list[str], version: int) -> list[Block]:
    if not pending:
        return [bk.section(f":white_check_mark: Everyone has committed to version {version} of the norms.")]
    done = ", ".join(user(u) for u in committed) or "nobody yet"
    return chunk(f"*Not yet committed to version {version}* ({len(pending)})",
                 [", ".join(user(u) for u in pending), f"_Committed:_ {done}"], max_blocks=3)


def norms_edit_modal(*, team_id: int, norms: list[str], max_norms: int, max_len: int) -> dict[str, Any]:
    return bk.modal(
        title="Edit norms",
        callback_id="norms_edit",
        private_metadata=json.dumps({"team_id": team_id}),
        blocks=[
            bk.section("Norms are the team's own agreements. Write one per line, in the order you want them; "
                       "delete a line to remove a norm. Everyone is asked to commit again after a change."),
            {
                "type": "input", "block_id": "norms", "optional": True,
                "label": bk.plain("Our norms"),
                "hint": bk.plain(f"At most {max_norms} norms, each under {max_len} characters."),
                "element": {"type": "plain_text_input", "action_id": "text", "multiline": True,
                            "max_length": 3000, "initial_value": "\n".join(norms)[:3000]},
            },
        ],
    )


# --------------------------------------------------------------------------------- agenda modals
def _text_input(block_id: str, label: str, *, optional: bool = True, initial: str | None = None,
                multiline: bool = False, max_length: int = 150, hint: str | None = None) -> Block:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "multiline": multiline,
                               "max_length": max_length}
    if initial:
        element["initial_value"] = initial[:max_length]
    block: Block = {"type": "input", "block_id": block_id, "optional": optional,
                    "label": bk.plain(label, 2000), "element": element}
    if hint:
        block["hint"] = bk.plain(hint, 2000)
    return block


def _minutes_input(block_id: str, initial: int | None, label: str = "Minutes") -> Block:
    element: dict[str, Any] = {"type": "number_input", "action_id": "value", "is_decimal_allowed": False,
                               "min_value": "1", "max_value": "120"}
    if initial is not None:
        element["initial_value"] = str(initial)
    return {"type": "input", "block_id": block_id, "optional": True, "label": bk.plain(label), "element": element}


def _user_input(block_id: str, label: str, initial: str | None, *, optional: bool = True) -> Block:
    element: dict[str, Any] = {"type": "users_select", "action_id": "value"}
    if initial:
        element["initial_user"] = initial
    return {"type": "input", "block_id": block_id, "optional": optional, "label": bk.plain(label), "element": element}


def add_item_modal(*, meeting_id: int, when: str, owner: str) -> dict[str, Any]:
    return bk.modal(
        title="Add an agenda item",
        callback_id="agenda_item_add",
        submit="Add",
        private_metadata=json.dumps({"meeting_id": meeting_id}),
        blocks=[
            bk.context(f"For the meeting on {when}"),
            _text_input("title", "What to discuss", optional=False, max_length=150),
            _minutes_input("minutes", 5),
            _user_input("owner", "Who leads it", owner),
            {"type": "input", "block_id": "link", "optional": True, "label": bk.plain("Link (optional)"),
             "element": {"type": "url_text_input", "action_id": "value"}},
            _text_input("outcome", "Expected outcome (optional)", max_length=200,
                        hint="For example: a decision, a shared plan, feedback for a colleague."),
        ],
    )


def edit_agenda_modal(*, meeting_id: int, when: str, items: list[ItemView], timekeeper: str | None,
                      notetaker: str | None) -> dict[str, Any]:
    shown = items[:EDIT_ITEMS_MAX]
    blocks: list[Block] = [
        bk.context(f"The meeting on {when}. Clear an item's title to remove it."),
        _user_input("timekeeper", "Timekeeper", timekeeper),
        _user_input("notetaker", "Note-taker", notetaker),
    ]
    for n, item in enumerate(shown, 1):
        blocks.append(_text_input(f"t{item.id}", f"Item {n}", initial=item.title, max_length=150))
        blocks.append(_minutes_input(f"m{item.id}", item.minutes, f"Item {n}: minutes"))
        blocks.append(_user_input(f"o{item.id}", f"Item {n}: who leads it", item.owner))
    if len(items) > len(shown):
        blocks.append(bk.context(f"… and {len(items) - len(shown)} more items, unchanged here."))
    return bk.modal(
        title="Edit agenda", callback_id="agenda_edit", private_metadata=json.dumps(
            {"meeting_id": meeting_id, "items": [i.id for i in shown]}),
        blocks=blocks,
    )


def wrapup_modal(*, meeting_id: int, when: str, members: list[str], items: list[ItemView]) -> dict[str, Any]:
    shown = items[:WRAPUP_ITEMS_MAX]
    blocks: list[Block] = [
        bk.context(f"Wrapping up the meeting on {when}. The log goes in a thread under the agenda."),
        {"type": "input", "block_id": "present", "optional": True, "label": bk.plain("Who attended"),
         "element": {"type": "multi_users_select", "action_id": "value", "initial_users": members[:100]}},
    ]
    for n, item in enumerate(shown, 1):
        blocks.append(_text_input(f"n{item.id}", f"{n}. {item.title}: notes or decisions", multiline=True,
                                  max_length=2000))
    blocks.append(_text_input("decisions", "Other decisions", multiline=True, max_length=3000))
    blocks.append(bk.section("*New action items* (leave a row empty to skip it)"))
    for k in range(1, WRAPUP_ACTION_ROWS + 1):
        blocks.append(_user_input(f"a{k}_owner", f"Action {k}: owner", None))
        blocks.append(_text_input(f"a{k}_text", f"Action {k}: what", max_length=300))
        blocks.append({"type": "input", "block_id": f"a{k}_due", "optional": True,
                       "label": bk.plain(f"Action {k}: due"),
                       "element": {"type": "datepicker", "action_id": "value"}})
    return bk.modal(title="Wrap up", callback_id="meeting_wrapup", submit="Post the log",
                    private_metadata=json.dumps({"meeting_id": meeting_id}), blocks=blocks)


# --------------------------------------------------------------------------------- meeting log
def meeting_log_message(log: MeetingLog) -> tuple[str, list[Block]]:
    """Who attended, what was decided, the action items: the record a leader reads."""
    blocks: list[Block] = [
        bk.header(f"Meeting log · {log.team_name}"),
        bk.context(f"{log.when} · wrapped up by {user(log.wrapped_up_by)}" if log.wrapped_up_by else log.when),
    ]
    total = len(log.present) + len(log.absent)
    attendance = [f"Present: {', '.join(user(u) for u in log.present) or 'nobody recorded'}"]
    if log.absent:
        attendance.append(f"Absent: {', '.join(user(u) for u in log.absent)}")
    blocks += chunk(f"*Attendance* · {len(log.present)} of {total}", attendance, max_blocks=2)
    noted = [(n, i) for n, i in enumerate(log.items, 1) if i.notes.strip()]
    lines = [f"*{n}. {escape(i.title)}*\n{escape(i.notes.strip())}" for n, i in noted]
    if lines:
        blocks += chunk("*Notes*", lines, max_blocks=20, noun="more notes")
    if log.decisions.strip():
        blocks += chunk("*Decisions*", [escape(line) for line in log.decisions.strip().splitlines()],
                        max_blocks=5, noun="more lines")
    if log.actions:
        blocks += chunk("*Action items*", [action_line(a) for a in log.actions], max_blocks=10,
                        noun="more action items")
    else:
        blocks.append(bk.section("*Action items*\n_None were added._"))
    text = f"Meeting log · {escape(log.team_name)} · {log.when}: {len(log.present)} present"
    return text, bk.fit(blocks, bk.MESSAGE_BLOCKS_MAX)


# --------------------------------------------------------------------------------- action items
def _done_button(action_id: int) -> dict[str, Any]:
    return bk.button("Done", "action_done", value=str(action_id), style="primary")


def action_assigned_dm(action: ActionView, *, assigned_by: str) -> tuple[str, list[Block]]:
    due = f"\nDue {day(action.due)}" if action.due else ""
    body = (f":pushpin: {user(assigned_by)} gave you an action item in *{escape(action.team_name)}*:\n"
            f">{escape(action.text)}{due}")
    return (f"New action item: {escape(clip(action.text, 100))}",
            [bk.section(body, accessory=_done_button(action.id))])


def action_reminder(view: ActionReminder) -> tuple[str, list[Block]]:
    return action_reminder_dm(view.action)


def action_reminder_dm(action: ActionView) -> tuple[str, list[Block]]:
    due = day(action.due) if action.due else "soon"
    body = (f":alarm_clock: Reminder: this action item for *{escape(action.team_name)}* is due {due}:\n"
            f">{escape(action.text)}")
    return (f"Due {due}: {escape(clip(action.text, 100))}",
            [bk.section(body, accessory=_done_button(action.id))])


def action_done_blocks(action: ActionView, *, by: str) -> tuple[str, list[Block]]:
    return (f"Done: {escape(clip(action.text, 100))}",
            [bk.section(f":white_check_mark: ~{escape(action.text)}~\nMarked done by {user(by)}.")])


def actions_list(actions: list[ActionView], *, team_name: str) -> tuple[str, list[Block]]:
    """Open action items, each with its Done button (one block each, so cut at 45)."""
    if not actions:
        return "No open action items", [bk.section(f"*{escape(team_name)}* has no open action items. :tada:")]
    blocks: list[Block] = [bk.section(f"*Open action items · {escape(team_name)}* ({len(actions)})")]
    for a in actions[:45]:
        blocks.append(bk.section(action_line(a), accessory=_done_button(a.id)))
    if len(actions) > 45:
        blocks.append(bk.context(f"… and {len(actions) - 45} more"))
    return f"{len(actions)} open action items", blocks


def home_actions_section(actions: list[ActionView]) -> list[Block]:
    if not actions:
        return []
    blocks: list[Block] = [bk.header("Your action items")]
    for a in actions[:15]:
        blocks.append(bk.section(action_line(a, with_team=True), accessory=_done_button(a.id)))
    if len(actions) > 15:
        blocks.append(bk.context(f"… and {len(actions) - 15} more"))
    return blocks
