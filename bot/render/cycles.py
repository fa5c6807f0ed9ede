"""Pure Block Kit builders for learning cycles and check-ins: plain data in, dicts out.

Everything a person wrote (goal, strategy, notes, support wanted, names) is escaped here.
Action ids name what a click does; button values carry only ids, never words.
"""

from __future__ import annotations

import json
from datetime import date, time
from typing import Any

from bot.render import blocks as bk
from bot.render.mrkdwn import FORGOTTEN_PREFIX, clip, escape, user
from storage.rules import cycles as rules
from storage.views import Offer
from storage.views import cycles as views
from storage.views.cycles import (
    CheckinCard,
    CycleLike,
    CycleStatus,
    DeliveryFailures,
    ReflectionPrompt,
    RoundSummary,
    SupportCard,
)

# CheckinCard, SupportCard and CycleLike moved to storage.views.cycles; imported here, they stay importable from here.

Blocks = list[dict[str, Any]]

CYCLE_MODAL = "cycle_modal"
DETAILS_MODAL = "checkin_details"
REFLECTION_MODAL = "cycle_reflection"
AWAY_MODAL = "away_modal"
ANSWER_ACTIONS = {"on_track": "checkin_on_track", "some_progress": "checkin_some_progress",
                  "stuck": "checkin_stuck"}
DETAILS_ACTION = "checkin_details"
CHANGE_ACTION = "checkin_change"
FOLLOW_UP_ACTION = "support_follow_up"
RESOLVE_ACTION = "support_resolve"
REFLECT_ACTION = "cycle_reflect_open"
BACK_ACTION = "away_back"
AWAY_ACTION = "away_open"
EMOJI = {"on_track": ":large_green_circle:", "some_progress": ":large_yellow_circle:", "stuck": ":sos:"}
SUPPORT_LABELS = {"open": "open: a facilitator will pick it up",
                  "following_up": "a facilitator is following up", "resolved": "resolved"}
# What each offer of a view (`storage.views.cycles`) is in Slack: the button's words and action id.
BUTTONS = {
    views.answer_offer("on_track"): ("On track", ANSWER_ACTIONS["on_track"]),
    views.answer_offer("some_progress"): ("Some progress", ANSWER_ACTIONS["some_progress"]),
    views.answer_offer("stuck"): ("Stuck, I'd like support", ANSWER_ACTIONS["stuck"]),
    views.DETAILS: ("Add details", DETAILS_ACTION),
    views.CHANGE: ("Change", CHANGE_ACTION),
    views.FOLLOW_UP: ("I'll follow up", FOLLOW_UP_ACTION),
    views.RESOLVE: ("Resolved", RESOLVE_ACTION),
    views.REFLECT: ("Fill in the reflection", REFLECT_ACTION),
}


def buttons(offers: tuple[Offer, ...], *, block_id: str) -> dict[str, Any]:
    """An actions block with one button per offer, the primary one styled so."""
    return bk.actions(*(bk.button(BUTTONS[o.name][0], BUTTONS[o.name][1], value=o.value,
                                  style="primary" if o.primary else None) for o in offers), block_id=block_id)


def number(value: float | None, unit: str = "") -> str:
    """12 rather than 12.0; one decimal otherwise; with the metric's unit."""
    if value is None:
        return "–"
    shown = f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
    unit = escape(unit)
    if unit in ("%", "percent"):
        return shown + "%"
    return f"{shown} {unit}".strip()


def pct(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.0f}%"


def _text_input(block_id: str, label: str, *, initial: str | None = None, multiline: bool = False,
                optional: bool = False, hint: str | None = None, max_length: int = 1000,
                placeholder: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": block_id, "multiline": multiline,
                               "max_length": max_length}
    if initial:
        element["initial_value"] = initial[:max_length]
    if placeholder:
        element["placeholder"] = bk.plain(placeholder, 150)
    block: dict[str, Any] = {"type": "input", "block_id": block_id, "label": bk.plain(label, 2000),
                             "element": element, "optional": optional}
    if hint:
        block["hint"] = bk.plain(hint, 2000)
    return block


def _select(block_id: str, label: str, options: list[tuple[str, str]], *, initial: str | None = None,
            radio: bool = False, optional: bool = False) -> dict[str, Any]:
    opts = [bk.option(text, value) for text, value in options]
    element: dict[str, Any] = {"type": "radio_buttons" if radio else "static_select",
                               "action_id": block_id, "options": opts}
    chosen = next((o for o in opts if o["value"] == initial), None)
    if chosen is not None:
        element["initial_option"] = chosen
    return {"type": "input", "block_id": block_id, "label": bk.plain(label, 2000), "element": element,
            "optional": optional}


# ---------------------------------------------------------------------------- the cycle form
def cycle_modal(*, team_name: str, hours: rules.Hours, today: date, cycle: CycleLike | None = None,
                private_metadata: str = "") -> dict[str, Any]:
    """`/plc cycle start` (cycle None) or `/plc cycle edit` (prefilled)."""
    c = cycle
    days = [(rules.WEEKDAYS[d], str(d)) for d in sorted(hours.weekdays)]
    start = (c.start_date if c else today).isoformat()
    at = c.checkin_time if c else max(hours.opens, min(time(14, 0), hours.closes)).strftime("%H:%M")
    blocks: Blocks = [
        bk.context(f"Team *{escape(team_name)}*. A cycle runs {rules.MIN_WEEKS}-{rules.MAX_WEEKS} weeks "
                   "toward one measurable student learning goal; everyone gets a one-click check-in weekly. "
                   "Please don't name students."),
        _text_input("title", "Title", initial=c.title if c else None, max_length=150,
                    placeholder="Fractions on a number line"),
        _text_input("goal", "Student learning goal", initial=c.goal if c else None, multiline=True,
                    placeholder="80% of our 3rd graders place fractions correctly on a number line by March"),
        _text_input("strategy", "Focus strategy", initial=c.strategy if c else None, multiline=True,
                    optional=True, placeholder="Daily number-line warm-ups"),
        _text_input("metric_name", "Metric", initial=c.metric_name if c else None, max_length=100,
                    placeholder="Students scoring 3+ on the exit ticket"),
        _text_input("metric_unit", "Unit", initial=c.metric_unit if c else None, max_length=30,
                    optional=True, placeholder="%"),
        _text_input("baseline", "Baseline", initial=number(c.baseline) if c else None, max_length=20,
                    hint="Where students are now, as a number."),
        _text_input("target", "Target", initial=number(c.target) if c else None, max_length=20,
                    hint="Where you aim to be at the end of the cycle."),
        {"type": "input", "block_id": "start_date", "label": bk.plain("Start date"),
         "element": {"type": "datepicker", "action_id": "start_date", "initial_date": start}},
        _text_input("weeks", f"Length in weeks ({rules.MIN_WEEKS}-{rules.MAX_WEEKS})",
                    initial=str(c.weeks if c else 6), max_length=3),
        _select("checkin_weekday", "Check-in day", days,
                initial=str(c.checkin_weekday) if c else str(min(3, max(hours.weekdays)))),
        {"type": "input", "block_id": "checkin_time", "label": bk.plain("Check-in time"),
         "hint": bk.plain(f"In the team's time zone, within school hours ({hours.opens:%H:%M}-"
                          f"{hours.closes:%H:%M})."),
         "element": {"type": "timepicker", "action_id": "checkin_time", "initial_time": at}},
        _text_input("reminder_hours", "Remind non-responders after (hours)",
                    initial=str(c.reminder_hours if c else 24), max_length=3,
                    hint="One reminder at most, and only within school hours."),
    ]
    return bk.modal(title="Edit the cycle" if c else "Start a cycle", blocks=blocks,
                    callback_id=CYCLE_MODAL, submit="Save" if c else "Start",
                    private_metadata=private_metadata)


def cycle_started_text(cycle: CycleLike, *, by: str, edited: bool = False) -> tuple[str, Blocks]:
    verb = "updated" if edited else "started"
    first = rules.checkin_day(cycle.start_date, 1, cycle.checkin_weekday)
    lines = [
        f":seedling: {user(by)} {verb} the learning cycle *{escape(cycle.title)}* "
        f"({cycle.weeks} weeks from {cycle.start_date:%a %b %-d}).",
        f"*Goal:* {escape(cycle.goal)}",
    ]
    if cycle.strategy:
        lines.append(f"*Focus strategy:* {escape(cycle.strategy)}")
    lines.append(f"*Metric:* {escape(cycle.metric_name)}: baseline {number(cycle.baseline, cycle.metric_unit)}"
                 f" → target {number(cycle.target, cycle.metric_unit)}")
    lines.append(f"Check-ins every {rules.WEEKDAYS[cycle.checkin_weekday]} at {cycle.checkin_time}, "
                 f"the first on {first:%a %b %-d}: one click, by direct message.")
    text = "\n".join(lines)
    return clip(text, 3000), [bk.section(text)]


# ---------------------------------------------------------------------------- /plc cycle
def cycle_status(view: CycleStatus) -> tuple[str, Blocks]:
    """Week N of M, the phase, the goal, the data points against baseline and target, the response rate."""
    c = view.cycle
    if c is None:
        text = (f"*{escape(view.team_name)}* has no learning cycle running. A facilitator can start one with "
                "`/plc cycle start`.")
        return text, [bk.section(text)]
    state = f" :double_vertical_bar: *Paused*{views.paused_words(c)}" if c.paused else ""
    out: Blocks = [bk.header(escape(views.status_head(c))),
                   bk.section(f"*Goal:* {escape(c.goal)}"
                              + (f"\n*Focus strategy:* {escape(c.strategy)}" if c.strategy else "") + state)]
    lines = [f"*{escape(c.metric_name)}*: baseline {number(c.baseline, c.metric_unit)} → "
             f"target {number(c.target, c.metric_unit)}"]
    lines += [f"Week {row.week}: " + views.week_words(row, number=lambda v: number(v, c.metric_unit), inert=escape)
              for row in c.rows]
    if not c.rows:
        lines.append("No check-ins yet.")
    out.append(bk.section("\n".join(lines)))
    if c.this_week is not None:
        out.append(bk.context(views.rate_words(c.this_week)))
    if c.breaks:
        out.append(bk.context(views.breaks_words(c.breaks, inert=escape)))
    out.append(bk.context(f"Check-ins {c.checkin_day}s at {c.checkin_time}; "
                          "facilitators: `/plc cycle edit`, `pause [until DATE]`, `resume`, `end`."))
    return escape(views.status_text(c)), bk.fit(out, bk.MESSAGE_BLOCKS_MAX)


# ---------------------------------------------------------------------------- the check-in DM
def reminder_text(card: CheckinCard) -> str:
    """What a reminder says first (and in the notification): that the check-in is still open."""
    return f"Reminder: your week {card.week} check-in for {card.title} is still open"


def _intro(card: CheckinCard) -> Blocks:
    head = (f"*{escape(card.team_name)}*: week {card.week} of {card.weeks} of "
            f"*{escape(card.title)}* ({rules.phase(card.week, card.weeks)})")
    if card.reminder:
        head = f":alarm_clock: *{escape(reminder_text(card))}.*\n{head}"
    body = f"*Goal:* {escape(card.goal)}"
    if card.strategy:
        body += f"\n*Focus strategy:* {escape(card.strategy)}"
    return [bk.section(head), bk.section(body)]


def checkin_message(card: CheckinCard, *, changing: bool = False) -> tuple[str, Blocks]:
    """The check-in DM: the question with four buttons, or the answer given with a way to change it."""
    value = str(card.checkin_id)
    out = _intro(card)
    if not card.answered(changing=changing):
        out.append(bk.section("How is the focus strategy going this week? One click is enough; "
                              "add a data point or notes if you like."))
        out.append(buttons(card.offered(changing=changing), block_id=f"checkin_{value}"))
        out.append(bk.context("Your team sees only its figures, never your answer by name. The digest for "
                              "your facilitators and principal names you only if your team chose to share "
                              "names; a support request always carries your name. `/plc privacy` says more."))
        text = (reminder_text(card) + "." if card.reminder
                else f"Week {card.week} check-in for {card.title}: how is it going?")
        return clip(text, 3000), out
    out.extend(answer_blocks(card))
    offers = card.offered(changing=changing)
    if offers:
        out.append(buttons(offers, block_id=f"checkin_{value}"))
    text = f"Week {card.week} check-in: {rules.PROGRESS_LABELS.get(card.progress or '', 'answered')}"
    return clip(text, 3000), out


def answer_blocks(card: CheckinCard) -> Blocks:
    label = rules.PROGRESS_LABELS.get(card.progress or "", "Answered")
    lines = [f"{EMOJI.get(card.progress or '', ':white_check_mark:')} *You answered: {escape(label)}*"]
    if card.value is not None:
        lines.append(f"*{escape(card.metric_name)}:* {number(card.value, card.metric_unit)}")
    if card.evidence:
        lines.append(f"*Evidence / notes:* {escape(clip(card.evidence, 800))}")
    if card.support:
        lines.append(f"*Support that would help:* {escape(clip(card.support, 800))}")
    out: Blocks = [bk.section("\n".join(lines))]
    if card.support_state:
        who = ", ".join(escape(n) for n in card.facilitators) or "your team's facilitators"
        out.append(bk.context(
            f":raising_hand: Support request {SUPPORT_LABELS.get(card.support_state, card.support_state)}. "
            f"{who} will see it with your name"
            + (" when this week's check-in closes." if card.support_state == "open" else ".")))
    if card.closed:
        out.append(bk.context("This week's check-in has closed."))
    return out


def details_modal(card: CheckinCard) -> dict[str, Any]:
    """"Add details": how it is going, a data point, evidence or notes, what support would help."""
    options = [(label, key) for key, label in rules.PROGRESS_LABELS.items()]
    blocks: Blocks = [
        bk.context(f"Week {card.week} of *{escape(card.title)}*. Please don't name students."),
        _select("progress", "How is it going?", options, initial=card.progress, radio=True),
        _text_input("value", f"Data point: {card.metric_name}"[:2000],
                    initial=None if card.value is None else number(card.value), optional=True,
                    max_length=20, hint=f"A number{(' in ' + card.metric_unit) if card.metric_unit else ''}; "
                    "the team's weekly point is the mean of what was reported."),
        _text_input("evidence", "Evidence or notes", initial=card.evidence, multiline=True, optional=True,
                    max_length=3000),
        _text_input("support", "What support would help?", initial=card.support, multiline=True,
                    optional=True, max_length=3000,
                    hint="Filled in, this becomes a support request your facilitators see with your name."),
    ]
    return bk.modal(title="Check-in details", blocks=blocks, callback_id=DETAILS_MODAL,
                    private_metadata=json.dumps({"checkin_id": card.checkin_id}))


# ---------------------------------------------------------------------------- the round's summary
def round_summary_message(*, team_name: str, title: str, metric_name: str, metric_unit: str,
                          baseline: float, target: float, summary: rules.RoundSummary,
                          weeks: int, support_count: int) -> tuple[str, Blocks]:
    return round_summary(RoundSummary(team_name=team_name, title=title, metric_name=metric_name,
                                      metric_unit=metric_unit, baseline=baseline, target=target, summary=summary,
                                      weeks=weeks, support_count=support_count))


def round_summary(view: RoundSummary) -> tuple[str, Blocks]:
    """The channel's summary when the window closes: rate, spread, data point; never a name."""
    s = view.summary
    team_name, title, metric_name, metric_unit = view.team_name, view.title, view.metric_name, view.metric_unit
    baseline, target, weeks, support_count = view.baseline, view.target, view.weeks, view.support_count
    counts = " · ".join(f"{EMOJI[p]} {rules.PROGRESS_LABELS[p].split(',')[0]}: {s.counts.get(p, 0)}"
                        for p in rules.PROGRESS)
    lines = [f"*Response rate:* {pct(s.rate)} ({s.answered} of {s.asked} answered)"
             + (f", {s.away} away" if s.away else "")
             + (f", {s.unreachable} couldn't be reached" if s.unreachable else ""),
             f"*Answers:* {counts}"]
    if s.point is not None:
        progress = rules.trend(baseline, target, s.point.mean)
        toward = f" ({progress * 100:.0f}% of the way from baseline to target)" if progress is not None else ""
        lines.append(f"*{escape(metric_name)}:* {number(s.point.mean, metric_unit)}, the mean of "
                     f"{s.point.count} reported{toward}. Baseline {number(baseline, metric_unit)}, "
                     f"target {number(target, metric_unit)}.")
    else:
        lines.append(f"*{escape(metric_name)}:* no data points reported this week.")
    if support_count:
        lines.append(f":raising_hand: {support_count} support request{'s' if support_count != 1 else ''} "
                     "went to the facilitators.")
    head = f"Week {s.week} of {weeks} check-in: {escape(title)}"
    text = f"{team_name}: week {s.week} check-in summary, {pct(s.rate)} answered"
    return clip(text, 3000), [bk.header(head), bk.section("\n".join(lines)),
                              bk.context("Team-level figures only: no names, no individual answers.")]


# ---------------------------------------------------------------------------- support requests
def support_message(card: SupportCard) -> tuple[str, Blocks]:
    """The facilitator's DM: who asked, what would help, and the state buttons.

    The teacher appears once, as a mention: Slack shows a mention as the person's name (so
    "name (mention)" read "Mr. Brooks (Mr. Brooks)"), and it links to them for the follow-up.
    The notification text, where mentions are not always resolved, carries the stored name.
    """
    lines = [f":raising_hand: {user(card.teacher_id)} asked for support "
             f"in week {card.week} of *{escape(card.team_name)}*'s cycle."]
    if card.progress:
        lines.append(f"*Answer:* {escape(rules.PROGRESS_LABELS.get(card.progress, card.progress))}")
    if card.support:
        lines.append(f"*What would help:* {escape(clip(card.support, 1500))}")
    if card.evidence:
        lines.append(f"*Notes:* {escape(clip(card.evidence, 1000))}")
    out: Blocks = [bk.section("\n".join(lines))]
    block_id = f"support_{card.request_id}"
    if card.state == "open":
        out.append(buttons(card.offered(), block_id=block_id))
    elif card.state == "following_up":
        out.append(bk.context(f":hourglass_flowing_sand: {user(card.follower or '')} is following up."))
        out.append(buttons(card.offered(), block_id=block_id))
    else:
        out.append(bk.context(":white_check_mark: Resolved"
                              + (f" by {user(card.follower)}." if card.follower else ".")))
    name = "A former member" if card.teacher_id.startswith(FORGOTTEN_PREFIX) else escape(card.teacher_name)
    text = f"{name} asked for support (week {card.week})"
    return clip(text, 3000), out


def failures_message(*, team_name: str, week: int, failed: list[tuple[str, str]]) -> tuple[str, Blocks]:
    return delivery_failures(DeliveryFailures(team_name=team_name, week=week, failed=tuple(failed)))


def delivery_failures(view: DeliveryFailures) -> tuple[str, Blocks]:
    """Tell facilitators whose check-in could not be delivered, and why."""
    team_name, week, failed = view.team_name, view.week, view.failed
    why = {"account_inactive": "account deactivated", "user_not_found": "not found in Slack",
           "user_disabled": "account disabled", "cannot_dm_bot": "a bot"}
    rows = [f"• {user(uid)}: {escape(why.get(err, err))}" for uid, err in failed[:40]]
    if len(failed) > 40:
        rows.append(f"… and {len(failed) - 40} more")
    text = (f":warning: I couldn't deliver week {week}'s check-in for *{escape(team_name)}* to "
            f"{len(failed)} {'person' if len(failed) == 1 else 'people'}:\n" + "\n".join(rows)
            + "\nEveryone else got theirs. Update the team's members if someone has left.")
    return clip(f"Week {week} check-in: {len(failed)} could not be delivered", 3000), [bk.section(text)]


# ---------------------------------------------------------------------------- end of cycle
def reflection_prompt(*, cycle_id: int, title: str, team_name: str, weeks: int) -> tuple[str, Blocks]:
    return reflection_message(ReflectionPrompt(cycle_id=cycle_id, title=title, team_name=team_name, weeks=weeks))


def reflection_message(view: ReflectionPrompt) -> tuple[str, Blocks]:
    text = (f":mirror: *{escape(view.team_name)}*: this is the last week of *{escape(view.title)}* "
            f"({view.weeks} weeks). "
            "Time to reflect together: did we reach the target, what is the final data point, "
            "what did we learn, what next? A facilitator records the team's answers here.")
    return (f"Time to reflect on {view.title}", [
        bk.section(text),
        buttons(view.offered(), block_id=f"reflect_{view.cycle_id}"),
    ])


def reflection_modal(*, cycle_id: int, title: str, metric_name: str, last_mean: float | None) -> dict[str, Any]:
    blocks: Blocks = [
        bk.context(f"*{escape(title)}*: saving this closes the cycle and keeps its summary."),
        _select("target_reached", "Did we reach the target?",
                [("Yes", "yes"), ("Partly", "partly"), ("Not yet", "no")], radio=True),
        _text_input("final_value", f"Final data point: {metric_name}"[:2000],
                    initial=None if last_mean is None else number(last_mean), optional=True, max_length=20),
        _text_input("learned", "What did we learn?", multiline=True, max_length=3000),
        _text_input("next_steps", "What next?", multiline=True, optional=True, max_length=3000),
    ]
    return bk.modal(title="Cycle reflection", blocks=blocks, callback_id=REFLECTION_MODAL, submit="Save",
                    private_metadata=json.dumps({"cycle_id": cycle_id}))


def reflection_saved(*, title: str, by: str, reached: str, final: float | None, unit: str,
                     learned: str, next_steps: str) -> tuple[str, Blocks]:
    word = {"yes": "reached", "partly": "partly reached", "no": "not reached yet"}.get(reached, reached)
    lines = [f":checkered_flag: {user(by)} closed the cycle *{escape(title)}*: target {word}"
             + (f", final point {number(final, unit)}." if final is not None else "."),
             f"*What we learned:* {escape(learned)}"]
    if next_steps:
        lines.append(f"*What next:* {escape(next_steps)}")
    return clip(f"Cycle closed: {title}", 3000), [bk.section(clip("\n".join(lines), 3000))]


# ---------------------------------------------------------------------------- away
def away_home(*, away_until: date | None, today: date) -> Blocks:
    """The Home tab's away line: "I'm back" while away, "I'll be away…" otherwise."""
    if away_until is not None and away_until >= today:
        return [bk.section(f":palm_tree: You're away through *{away_until:%a %b %-d}*: no check-ins or "
                           "reminders until then.",
                           accessory=bk.button("I'm back", BACK_ACTION, value="back"))]
    return [bk.section("Going to be out? Check-ins and reminders pause while you're away.",
                       accessory=bk.button("I'll be away…", AWAY_ACTION, value="away"))]


def away_modal(*, today: date) -> dict[str, Any]:
    return bk.modal(title="I'll be away", callback_id=AWAY_MODAL, submit="Save", blocks=[
        {"type": "input", "block_id": "until", "label": bk.plain("Last day away"),
         "element": {"type": "datepicker", "action_id": "until", "initial_date": today.isoformat()}},
    ])
