"""Microsoft Teams' renderer of the core's view models: one Adaptive Card 1.5 per view, in Teams' look.

Each function takes a view model (`storage.views…`) and returns `(text, card)`: `text` is the plain
summary a notification shows, `card` the Adaptive Card dict (send it as an
`application/vnd.microsoft.card.adaptive` attachment). `bot.teams_views.render` picks the function.

Design choices, once for every card:
- **Buttons that act** (answer a check-in, follow up, resolve, mark done, change an answer) are
  `Action.Execute`, `verb` = the offer's name and `data = {"action": name, "value": value, "<x>_id": id}`.
  The SDK routes `on_card_action_execute(name)` on `data["action"]`; the invoke's answer is the
  card rendered again, so it updates in place for the person who clicked.
- **Buttons that open a form** (check-in details, the reflection, add or edit an agenda item,
  feedback, the wrap-up) are `Action.Submit` with `data.msteams = {"type": "task/fetch"}` and
  `data["dialog_id"]` = the form: Teams opens a dialog only from a `task/fetch` invoke, and an
  `Action.Execute` click cannot answer with one (see `card_kit.open_dialog`). The forms' own
  bodies here (`checkin_details_form`, `feedback_form`) submit with `Action.Submit` for the same
  reason: inside a dialog it sends the `task/submit` the SDK routes `on_dialog_submit(action)`.
- **People** are plain bold names, never `<at>` mentions: a mention needs an entity on the
  activity beside the text, cards stay valid and self-contained without one, and nobody (let alone
  everyone) can be pinged by a card. Views carry person ids; pass `names=` (id → display name)
  to show names; erased people read "a former member".
- **Everything people wrote** goes through `card_kit.md` (no Markdown, HTML or mentions survive).
- **Size**: lists that grow are cut to a byte budget with "…and N more" (Teams' 28 KB limit).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from bot.teams.card_kit import (
    CARD_BUDGET,
    Element,
    Names,
    card,
    clip,
    columns,
    container,
    execute,
    facts,
    facts_fit,
    fit,
    heading,
    lines_fit,
    md,
    open_dialog,
    people,
    person,
    plain_names,
    safe_url,
    size,
    submit,
    subtle,
    text,
    zone,
)
from storage.rules import cycles as cycle_rules
from storage.rules import feedback as feedback_rules
from storage.rules import visibility as v
from storage.rules.agenda import ActionView, AgendaSnapshot, ItemView, MeetingLog
from storage.rules.digest import RATING_KEYS, RATING_LABELS, IsoWeek, TeamFigures
from storage.views import Offer, cycle_actions
from storage.views import agenda as agenda_views
from storage.views import cycles as cycle_views
from storage.views.agenda import ActionReminder, AgendaPost
from storage.views.cycle_actions import CycleNote, CycleStarted, ReflectionSaved
from storage.views.cycles import (
    CheckinCard,
    CycleStatus,
    DeliveryFailures,
    ReflectionPrompt,
    RoundSummary,
    SupportCard,
)
from storage.views.digest import DigestSummary, UploadFailed
from storage.views.digest_actions import DigestOutcome, DigestPart
from storage.views.feedback import FeedbackPrompt
from storage.views.feedback_actions import FeedbackForm, FeedbackResults, FeedbackSaved, day_label, meeting_label
from storage.views.norms import NormsChanged
from storage.views.privacy import PrivacyPage, who_you_are
from storage.views.team_actions import MembersChanged, SetupSaved, ShareNamesChanged

Rendered = tuple[str, Element]

# What each offer is on Teams: the button's words, and the dialog it opens (None: it acts in place).
BUTTONS: dict[str, tuple[str, str | None]] = {
    cycle_views.answer_offer("on_track"): ("On track", None),
    cycle_views.answer_offer("some_progress"): ("Some progress", None),
    cycle_views.answer_offer("stuck"): ("Stuck, I'd like support", None),
    cycle_views.DETAILS: ("Add details", "checkin_details"),
    cycle_views.CHANGE: ("Change my answer", None),
    cycle_views.FOLLOW_UP: ("I'll follow up", None),
    cycle_views.RESOLVE: ("Mark resolved", None),
    cycle_views.REFLECT: ("Fill in the reflection", "cycle_reflection"),
    agenda_views.ADD_ITEM: ("Add an item", "agenda_add_item"),
    agenda_views.EDIT: ("Edit agenda", "agenda_edit"),
    agenda_views.GIVE_FEEDBACK: ("Give feedback", "meeting_feedback"),
    agenda_views.WRAP_UP: ("Wrap up", "meeting_wrapup"),
    agenda_views.DONE: ("Mark done", None),
}
DETAILS_SUBMIT = "checkin_details_submit"
FEEDBACK_SUBMIT = "feedback_submit"
ANONYMOUS_INPUT = "anonymous"
PROGRESS_ICON = {"on_track": "🟢", "some_progress": "🟡", "stuck": "🆘"}
PROGRESS_STYLE = {"on_track": "good", "some_progress": "warning", "stuck": "attention"}
SUPPORT_LABELS = {"open": "open: a facilitator will pick it up", "following_up": "a facilitator is following up",
                  "resolved": "resolved"}
PRIVACY_NOTE = ("Your team sees only its figures, never your answer by name. The digest names you only if your "
                "team chose to share names; a support request always carries your name. Type privacy to me "
                "for more.")


def buttons(offers: tuple[Offer, ...], *, id_key: str) -> list[Element]:
    """One action per offer: `Action.Execute` in place, or `Action.Submit` opening the offer's dialog."""
    out = []
    for offer in offers:
        title, dialog = BUTTONS[offer.name]
        out.append(open_dialog(title, offer, dialog, id_key=id_key) if dialog
                   else execute(title, offer, id_key=id_key))
    return out


def number(value: float | None, unit: str = "") -> str:
    """12 rather than 12.0; one decimal otherwise; with the metric's unit (escaped)."""
    if value is None:
        return "–"
    shown = f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
    if unit in ("%", "percent"):
        return shown + "%"
    return f"{shown} {md(clip(unit, 30))}".strip()


def pct(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.0f}%"


def day(d: date) -> str:
    return f"{d:%a %b} {d.day}"


# ------------------------------------------------------------------------------ check-ins
def reminder_text(view: CheckinCard) -> str:
    return f"Reminder: your week {view.week} check-in for {view.title} is still open"


def checkin(view: CheckinCard, names: Names = plain_names, *, changing: bool = False) -> Rendered:
    """One teacher's check-in: the question with the three answers and "Add details", or the answer
    given, highlighted in its colour, with "Change my answer" while the check-in is open."""
    body: list[Element] = []
    if view.reminder:
        body.append(container([text(f"⏰ **{md(reminder_text(view))}.**")], style="warning"))
    body.append(heading(f"Week {view.week} of {view.weeks} check-in"))
    body.append(subtle(f"**{md(clip(view.team_name, 100))}** · {md(clip(view.title, 150))} · "
                       f"{cycle_rules.phase(view.week, view.weeks)}"))
    goal = [("Goal", md(clip(view.goal, 800)))]
    if view.strategy:
        goal.append(("Focus strategy", md(clip(view.strategy, 800))))
    body.append(facts(goal))
    offers = view.offered(changing=changing)
    if not view.answered(changing=changing):
        body.append(text("How is the focus strategy going this week? One click is enough; add a data point "
                         "or notes if you like.", weight="Bolder", spacing="Medium"))
        if view.progress:  # changing an answer: the one given stays in sight until another is clicked
            label = cycle_rules.PROGRESS_LABELS.get(view.progress, "Answered")
            body.append(container([text(f"{PROGRESS_ICON.get(view.progress, '✅')} Your answer now: **{md(label)}**")],
                                  style=PROGRESS_STYLE.get(view.progress, "emphasis")))
        body.append(subtle(PRIVACY_NOTE))
        summary = (reminder_text(view) + "." if view.reminder
                   else f"Week {view.week} check-in for {view.title}: how is it going?")
        return md(clip(summary, 300)), card(body, buttons(offers, id_key="checkin_id"))
    label = cycle_rules.PROGRESS_LABELS.get(view.progress or "", "Answered")
    answer: list[Element] = [text(f"{PROGRESS_ICON.get(view.progress or '', '✅')} You answered: **{md(label)}**",
                                  size="Medium")]
    shown = []
    if view.value is not None:
        shown.append((md(clip(view.metric_name, 100)), number(view.value, view.metric_unit)))
    if view.evidence:
        shown.append(("Evidence / notes", md(clip(view.evidence, 800))))
    if view.support:
        shown.append(("Support that would help", md(clip(view.support, 800))))
    if shown:
        answer.append(facts(shown))
    body.append(container(answer, style=PROGRESS_STYLE.get(view.progress or "", "emphasis"), spacing="Medium"))
    if view.support_state:
        who = ", ".join(f"**{md(clip(n, 80))}**" for n in view.facilitators[:5]) or "your team's facilitators"
        when = " when this week's check-in closes." if view.support_state == "open" else "."
        body.append(text(f"🙋 Support request {SUPPORT_LABELS.get(view.support_state, md(view.support_state))}. "
                         f"{who} will see it with your name{when}"))
    if view.closed:
        body.append(subtle("This week's check-in has closed."))
    summary = f"Week {view.week} check-in: {label}"
    return md(summary), card(body, buttons(offers, id_key="checkin_id"))


def checkin_details_form(view: CheckinCard) -> Rendered:
    """The "Add details" dialog's card: how it is going, a data point, evidence, support wanted."""
    unit = f" in {md(clip(view.metric_unit, 30))}" if view.metric_unit else ""
    progress: Element = {
        "type": "Input.ChoiceSet", "id": "progress", "label": "How is it going?", "style": "expanded",
        "isRequired": True, "errorMessage": "Choose how it is going.",
        "choices": [{"title": label, "value": key} for key, label in cycle_rules.PROGRESS_LABELS.items()]}
    if view.progress:
        progress["value"] = view.progress
    value: Element = {"type": "Input.Number", "id": "value", "label": f"Data point: {clip(view.metric_name, 100)}",
                      "placeholder": f"A number{unit}", "errorMessage": "Enter a number, like 12 or 12.5."}
    if view.value is not None:
        value["value"] = view.value
    evidence: Element = {"type": "Input.Text", "id": "evidence", "label": "Evidence or notes", "isMultiline": True,
                         "maxLength": 3000, "errorMessage": "Keep this under 3,000 characters."}
    support: Element = {"type": "Input.Text", "id": "support", "label": "What support would help?",
                        "isMultiline": True, "maxLength": 3000,
                        "placeholder": "Filled in, this becomes a support request your facilitators see "
                                       "with your name.",
                        "errorMessage": "Keep this under 3,000 characters."}
    if view.evidence:
        evidence["value"] = view.evidence[:3000]
    if view.support:
        support["value"] = view.support[:3000]
    body = [heading("Check-in details"),
            subtle(f"Week {view.week} of **{md(clip(view.title, 150))}**. Please don't name students."),
            progress, value, evidence, support]
    return (f"Week {view.week} check-in details",
            card(body, [submit("Save", DETAILS_SUBMIT, checkin_id=view.checkin_id)]))


def round_summary(view: RoundSummary, names: Names = plain_names) -> Rendered:
    """The channel's summary when the window closes: rate, spread of answers, the data point; no names."""
    s = view.summary
    spread = columns(*(([text(str(s.counts.get(p, 0)), size="ExtraLarge", weight="Bolder",
                              horizontalAlignment="Center"),
                         subtle(f"{PROGRESS_ICON[p]} {cycle_rules.PROGRESS_LABELS[p].split(',')[0]}",
                                horizontalAlignment="Center")], "stretch") for p in cycle_rules.PROGRESS),
                     spacing="Medium")
    rate = f"{pct(s.rate)} ({s.answered} of {s.asked} answered)"
    if s.away:
        rate += f", {s.away} away"
    if s.unreachable:
        rate += f", {s.unreachable} couldn't be reached"
    figures = [("Response rate", rate)]
    metric = md(clip(view.metric_name, 100))
    if s.point is not None:
        progress = cycle_rules.trend(view.baseline, view.target, s.point.mean)
        toward = f" ({progress * 100:.0f}% of the way to target)" if progress is not None else ""
        figures.append((metric, f"{number(s.point.mean, view.metric_unit)}, the mean of {s.point.count} "
                                f"reported{toward}"))
    else:
        figures.append((metric, "no data points reported this week"))
    figures.append(("Baseline → target", f"{number(view.baseline, view.metric_unit)} → "
                                         f"{number(view.target, view.metric_unit)}"))
    if view.support_count:
        figures.append(("Support requests", f"{view.support_count} went to the facilitators"))
    body = [heading(f"Week {s.week} of {view.weeks} check-in: {md(clip(view.title, 150))}"),
            subtle(f"**{md(clip(view.team_name, 100))}**"), spread, facts(figures, spacing="Medium"),
            subtle("Team-level figures only: no names, no individual answers.")]
    return md(f"{view.team_name}: week {s.week} check-in summary, {pct(s.rate)} answered"), card(body)


WHY = {"account_inactive": "account deactivated", "user_not_found": "not found", "user_disabled": "account disabled",
       "cannot_dm_bot": "a bot", "app_uninstalled": "the app was removed", "conversation_not_found": "chat not found"}


def delivery_failures(view: DeliveryFailures, names: Names = plain_names) -> Rendered:
    """To a facilitator: whose check-in could not be delivered, and why."""
    n = len(view.failed)
    rows = [(person(pid, names), md(clip(WHY.get(err, err), 100))) for pid, err in view.failed]
    listed = facts_fit(rows, CARD_BUDGET - 4_000, "people", shown=40)
    body = [container([text(f"⚠️ **I couldn't deliver week {view.week}'s check-in for "
                            f"{md(clip(view.team_name, 100))} to {n} {'person' if n == 1 else 'people'}.**")],
                      style="warning"),
            *listed,
            subtle("Everyone else got theirs. Update the team's members if someone has left.")]
    return f"Week {view.week} check-in: {n} could not be delivered", card(body)


def support_request(view: SupportCard, names: Names = plain_names) -> Rendered:
    """A facilitator's copy of a support request: who, what would help, its state; follow up / resolve."""
    forgotten = view.teacher_id.startswith("forgotten-")
    who = "a former member" if forgotten else f"**{md(clip(view.teacher_name, 80))}**"
    body: list[Element] = [heading("🙋 Support request"),
                           text(f"{who} asked for support in week {view.week} of "
                                f"**{md(clip(view.team_name, 100))}**'s cycle.")]
    shown = []
    if view.progress:
        shown.append(("Answer", md(cycle_rules.PROGRESS_LABELS.get(view.progress, view.progress))))
    if view.support:
        shown.append(("What would help", md(clip(view.support, 1500))))
    if view.evidence:
        shown.append(("Notes", md(clip(view.evidence, 1000))))
    if shown:
        body.append(facts(shown))
    if view.state == "following_up":
        body.append(container([text(f"⏳ {person(view.follower, names, nobody='a facilitator')} is following up.")],
                              style="emphasis"))
    elif view.state == "resolved":
        by = f" by {person(view.follower, names)}" if view.follower else ""
        body.append(container([text(f"✅ Resolved{by}.")], style="good"))
    name = "A former member" if forgotten else view.teacher_name
    return md(f"{name} asked for support (week {view.week})"), card(body, buttons(view.offered(), id_key="request_id"))


def reflection_prompt(view: ReflectionPrompt | cycle_actions.ReflectionPrompt, names: Names = plain_names) -> Rendered:
    """The team's place, in the cycle's last week: time to reflect, and the button to the form."""
    body = [heading(f"🪞 Time to reflect: {md(clip(view.title, 150))}"),
            subtle(f"**{md(clip(view.team_name, 100))}** · last week of {view.weeks}"),
            text("Did we reach the target, what is the final data point, what did we learn, what next? "
                 "A facilitator records the team's answers.")]
    offers = (Offer(cycle_views.REFLECT, str(view.cycle_id), primary=True),)
    return md(f"Time to reflect on {view.title}"), card(body, buttons(offers, id_key="cycle_id"))


# ------------------------------------------------------------------------------ the cycle's status
def cycle_status(view: CycleStatus, names: Names = plain_names) -> Rendered:
    """Week N of M, the phase, the goal, the data points against baseline and target, the response rate.

    The summary text goes through `md` like every Teams summary (a title's `<` or Markdown stays inert
    in the notification too)."""
    c = view.cycle
    if c is None:
        return md(f"{view.team_name} has no learning cycle running."), card([
            text(f"**{md(clip(view.team_name, 100))}** has no learning cycle running."),
            subtle("A facilitator starts one: **@plcbot cycle start** opens the cycle form.")])
    body: list[Element] = [heading(md(clip(cycle_views.status_head(c), 200))),
                           text("**Goal:** " + md(clip(c.goal, 1000)))]
    if c.strategy:
        body.append(text("**Focus strategy:** " + md(clip(c.strategy, 1000))))
    if c.paused:
        body.append(container([text("⏸️ **Paused**" + cycle_views.paused_words(c))], style="warning"))
    rows = [(md(clip(c.metric_name, 80)),
             f"baseline {number(c.baseline, c.metric_unit)} → target {number(c.target, c.metric_unit)}")]
    rows += [(f"Week {row.week}", cycle_views.week_words(row, number=lambda v: number(v, c.metric_unit), inert=md))
             for row in c.rows]
    body += facts_fit(rows, CARD_BUDGET // 2, "weeks")
    if not c.rows:
        body.append(subtle("No check-ins yet."))
    if c.this_week is not None:
        body.append(subtle(cycle_views.rate_words(c.this_week)))
    if c.breaks:
        body.append(subtle(cycle_views.breaks_words(c.breaks, inert=md)))
    body.append(subtle(f"Check-ins {c.checkin_day}s at {c.checkin_time}; "
                       "facilitators: **cycle pause [until DATE]**, **cycle resume**, **cycle end**."))
    return md(cycle_views.status_text(c)), card(body)


# ------------------------------------------------------------------------------ cycle notices
def cycle_started(view: CycleStarted, names: Names = plain_names) -> Rendered:
    c = view.cycle
    verb = "updated" if view.edited else "started"
    first = cycle_rules.checkin_day(c.start_date, 1, c.checkin_weekday)
    rows = [("Goal", md(clip(c.goal, 800)))]
    if c.strategy:
        rows.append(("Focus strategy", md(clip(c.strategy, 800))))
    rows += [(md(clip(c.metric_name, 100)), f"baseline {number(c.baseline, c.metric_unit)} → "
                                            f"target {number(c.target, c.metric_unit)}"),
             ("Length", f"{c.weeks} weeks from {day(c.start_date)}"),
             ("Check-ins", f"every {cycle_rules.WEEKDAYS[c.checkin_weekday]} at {c.checkin_time}, the first on "
                           f"{day(first)}: one click, in a chat with me")]
    body = [heading(f"🌱 Learning cycle {verb}: {md(clip(c.title, 150))}"),
            subtle(f"{verb.capitalize()} by {person(view.by, names)}"), facts(rows)]
    return md(f"Learning cycle {verb}: {c.title}"), card(body)


def cycle_note(view: CycleNote, names: Names = plain_names) -> Rendered:
    if view.change == "paused":
        how = f"through {day(view.until)}" if view.until else "until a facilitator resumes it"
        line = f"⏸️ {person(view.by, names)} paused the learning cycle {how}: no check-ins meanwhile."
        summary = "The learning cycle is paused"
    else:
        line = f"▶️ {person(view.by, names)} resumed the learning cycle."
        summary = "The learning cycle resumed"
    return summary, card([text(line)])


REACHED = {"yes": "reached", "partly": "partly reached", "no": "not reached yet"}


def reflection_saved(view: ReflectionSaved, names: Names = plain_names) -> Rendered:
    rows = [("Target", md(REACHED.get(view.reached, view.reached)))]
    if view.final is not None:
        rows.append(("Final data point", number(view.final, view.unit)))
    rows.append(("What we learned", md(clip(view.learned, 3000))))
    if view.next_steps:
        rows.append(("What next", md(clip(view.next_steps, 3000))))
    body = [heading(f"🏁 Cycle closed: {md(clip(view.title, 150))}"),
            subtle(f"Closed by {person(view.by, names)}"), facts(rows)]
    return md(f"Cycle closed: {view.title}"), card(body)


# ------------------------------------------------------------------------------ agenda
def _item_row(position: int, item: ItemView, names: Names) -> Element:
    title = md(clip(item.title, 300))
    url = safe_url(item.link)
    if url:
        title += f" · [link]({url})"
    main: list[Element] = [text(title)]
    if item.outcome:
        main.append(subtle(f"Outcome: {md(clip(item.outcome, 300))}"))
    return columns(([text(f"**{position}.**")], "auto"), (main, "stretch"),
                   ([text(f"{item.minutes} min", isSubtle=True)], "auto"),
                   ([text(person(item.owner, names, nobody='no owner'))], "auto"), spacing="Small")


def _action_line(action: ActionView, names: Names, *, with_team: bool = False) -> str:
    due = ""
    if action.due is not None:
        due = f" · due {day(action.due)}" + (" **(overdue)**" if action.overdue else "")
    team = f" · {md(clip(action.team_name, 100))}" if with_team and action.team_name else ""
    done = " (done)" if action.status == "done" else ""
    return f"- {person(action.owner, names)}: {md(clip(action.text, 400))}{done}{due}{team}"


def agenda(snap: AgendaSnapshot, names: Names = plain_names) -> Rendered:
    """The agenda: when and who, norms, the cycle goal with week and phase, timed items with owners,
    an overrun warning, teachers' requests, open action items; buttons by the meeting's state."""
    cancelled = snap.status == "cancelled"
    title = f"{'Cancelled' if cancelled else 'Agenda'} · {md(clip(snap.team_name, 100))}"
    body: list[Element] = [heading(title), subtle(md(snap.when))]
    roles = [("Length", f"{snap.minutes} minutes")]
    if snap.template_label:
        roles.append(("Template", md(clip(snap.template_label, 100))))
    if snap.facilitators:
        roles.append(("Facilitator", people(snap.facilitators, names, limit=5)))
    roles.append(("Timekeeper", person(snap.timekeeper, names)))
    roles.append(("Note-taker", person(snap.notetaker, names)))
    body.append(facts(roles))
    if snap.status == "held":
        body.append(container([text("✅ Held. The meeting log follows below.")], style="good"))
    if cancelled:
        body.append(container([text("🚫 This meeting was cancelled.")], style="attention"))
    if snap.norms:
        norms = lines_fit([f"{n}. {md(clip(t, 300))}" for n, t in enumerate(snap.norms, 1)], 2_500, "norms")
    else:
        norms = "_No norms yet. A facilitator can write them with: norms edit._"
    body.append(container([text("**Our norms**"), text(norms)], spacing="Medium"))
    cyc = snap.cycle
    if cyc is None:
        body.append(container([text("**Cycle goal**"),
                               text("_No learning cycle is running. A facilitator can start one with: cycle start._")],
                              style="emphasis"))
    else:
        where = f"Week {cyc.week} of {cyc.weeks} · {md(cyc.phase or '')}" if cyc.week else "outside the cycle's weeks"
        if cyc.status == "paused":
            where += " · paused"
        unit = md(clip(cyc.unit, 30))
        body.append(container([
            text(f"**Cycle goal** · {where}"), text(md(clip(cyc.goal, 800))),
            facts([(md(clip(cyc.metric, 100)), f"baseline {cyc.baseline:g}{unit} → target {cyc.target:g}{unit}")]),
        ], style="emphasis"))
    total = sum(i.minutes for i in snap.items)
    if snap.overrun:
        body.append(container([text(
            f"⚠️ **The items add up to {total} minutes, {snap.overrun} more than the {snap.minutes}-minute "
            "meeting.** Shorten an item or move one to the next meeting.")], style="attention"))
    body.append(text(f"**Items** · {total} of {snap.minutes} minutes", spacing="Medium", separator=True))
    if snap.items:
        body += fit([_item_row(n, i, names) for n, i in enumerate(snap.items, 1)], CARD_BUDGET - 9_000, "items")
    else:
        body.append(subtle("No items yet. Add one with the button below, or fill the agenda from a template."))
    if snap.requested:
        body.append(container([text("**Requested by teachers**"),
                               text(lines_fit([f"- {md(clip(t, 300))}" for t in snap.requested], 2_000,
                                              "requests"))]))
    if snap.open_actions:
        body.append(container([text("**Open action items**"),
                               text(lines_fit([_action_line(a, names) for a in snap.open_actions], 3_000,
                                              "open action items"))]))
    summary = f"Agenda · {snap.team_name} · {snap.when}: {len(snap.items)} items, {total} of {snap.minutes} minutes"
    if cancelled:
        summary = f"Cancelled · {snap.team_name} · {snap.when}"
    return md(summary), card(body, buttons(agenda_views.agenda_offers(snap), id_key="meeting_id"))


def agenda_post(view: AgendaPost, names: Names = plain_names) -> Rendered:
    return agenda(view.agenda, names)


def _done(action_id: int) -> list[Element]:
    return buttons((Offer(agenda_views.DONE, str(action_id), primary=True),), id_key="action_id")


def action_reminder(view: ActionReminder, names: Names = plain_names) -> Rendered:
    """To the owner, the school day before it is due: the item, when, and "Mark done"."""
    a = view.action
    due = day(a.due) if a.due else "soon"
    body = [container([text(f"⏰ **Reminder: an action item is due {due}**")], style="warning"),
            container([text(md(clip(a.text, 1500)))], style="emphasis"),
            facts([("Team", md(clip(a.team_name, 100)) or "–"), ("Due", due)])]
    return md(f"Due {due}: {clip(a.text, 100)}"), card(body, buttons(view.offered(), id_key="action_id"))


def action_assigned(action: ActionView, *, assigned_by: str, names: Names = plain_names) -> Rendered:
    """A new action item, to its owner (the front loads it for `meeting_actions.ActionAssigned`)."""
    rows = [("Team", md(clip(action.team_name, 100)) or "–"), ("Given by", person(assigned_by, names))]
    if action.due:
        rows.append(("Due", day(action.due)))
    body = [heading("📌 New action item"), container([text(md(clip(action.text, 1500)))], style="emphasis"),
            facts(rows)]
    return md(f"New action item: {clip(action.text, 100)}"), card(body, _done(action.id))


def meeting_log(log: MeetingLog, names: Names = plain_names) -> Rendered:
    """Who attended, the notes, what was decided, the action items (for `MeetingLogDue`, once loaded)."""
    total = len(log.present) + len(log.absent)
    body: list[Element] = [heading(f"Meeting log · {md(clip(log.team_name, 100))}"),
                           subtle(md(log.when) + (f" · wrapped up by {person(log.wrapped_up_by, names)}"
                                                  if log.wrapped_up_by else ""))]
    attendance = [("Present", people(log.present, names, limit=30) if log.present else "nobody recorded")]
    if log.absent:
        attendance.append(("Absent", people(log.absent, names, limit=30)))
    body += [text(f"**Attendance** · {len(log.present)} of {total}"), facts(attendance)]
    noted = [container([text(f"**{n}. {md(clip(i.title, 300))}**"), text(md(clip(i.notes.strip(), 1500)))])
             for n, i in enumerate(log.items, 1) if i.notes.strip()]
    if noted:
        body.append(text("**Notes**", separator=True))
        body += fit(noted, 9_000, "notes")
    if log.decisions.strip():
        body += [text("**Decisions**", separator=True),
                 text(lines_fit([md(clip(line, 500)) for line in log.decisions.strip().splitlines()], 4_000,
                                "lines"))]
    body.append(text("**Action items**", separator=True))
    body.append(text(lines_fit([_action_line(a, names) for a in log.actions], 5_000, "action items")
                     if log.actions else "_None were added._"))
    return md(f"Meeting log · {log.team_name} · {log.when}: {len(log.present)} present"), card(body)


# ------------------------------------------------------------------------------ feedback
PROMPT_TEXT = "How was today's meeting?"


def feedback_prompt(view: FeedbackPrompt, names: Names = plain_names) -> Rendered:
    """When a meeting ends: the meeting, until when answers are taken, and "Give feedback"."""
    meeting = meeting_label(view.title, view.starts_at, view.timezone)
    closes = day_label(view.closes_at, view.timezone)
    body = [heading(f"💬 {PROMPT_TEXT}"),
            text(f"Tell the team how **{md(clip(meeting, 200))}** went and what you need next."),
            facts([("Open until", md(closes)), ("Takes", "under a minute"), ("Anonymous", "you may choose")])]
    return (md(f"{PROMPT_TEXT} Give feedback on {meeting}."),
            card(body, buttons(view.offered(), id_key="meeting_id")))


def feedback_form(view: FeedbackForm) -> Rendered:
    """The feedback dialog's card: the three ratings, the texts and the anonymity choice, filled with
    the answer already given."""
    previous: Mapping[str, Any] = view.previous or {}
    body: list[Element] = [heading("Meeting feedback"),
                           text(f"Feedback on **{md(clip(view.meeting, 200))}**. Takes under a minute. "
                                f"Open until {md(view.closes)}.")]
    if view.previous:
        body.append(container([text("✏️ This is the answer you gave; sending again replaces it.")], style="emphasis"))
    for q in feedback_rules.QUESTIONS:
        old = previous.get(q.key)
        element: Element
        if q.kind == "rating":
            names_of = {feedback_rules.RATING_MIN: q.low, feedback_rules.RATING_MAX: q.high}
            element = {"type": "Input.ChoiceSet", "id": q.key, "label": q.label, "style": "expanded",
                       "isRequired": q.required, "errorMessage": "Please choose a number from 1 to 5.",
                       "choices": [{"title": f"{n} · {names_of[n]}" if names_of.get(n) else str(n), "value": str(n)}
                                   for n in range(feedback_rules.RATING_MIN, feedback_rules.RATING_MAX + 1)]}
        else:
            element = {"type": "Input.Text", "id": q.key, "label": q.label, "isMultiline": True,
                       "maxLength": q.max_length, "isRequired": q.required,
                       "errorMessage": f"Please keep this under {q.max_length} characters."}
            if q.placeholder:
                element["placeholder"] = q.placeholder
        if old:
            element["value"] = str(old)[: q.max_length or 10]
        body.append(element)
        if q.hint and q.kind != "rating":
            body.append(subtle(q.hint))
    body.append({"type": "Input.Toggle", "id": ANONYMOUS_INPUT, "title": "Submit anonymously",
                 "label": "Anonymous?", "valueOn": "yes", "valueOff": "no",
                 "value": "yes" if previous.get("anonymous") else "no"})
    body.append(subtle("Your name is not stored with an anonymous answer. You can change it until the window "
                       "closes; after that nobody, the bot included, can tell it is yours."))
    return (md(f"Feedback on {view.meeting}"),
            card(body, [submit("Send", FEEDBACK_SUBMIT, meeting_id=view.meeting_id)]))


def feedback_saved(view: FeedbackSaved, names: Names = plain_names) -> Rendered:
    how = "anonymously: your name is not stored with it" if view.anonymous else "with your name"
    body = [container([text(f"✅ **Thank you!** Your feedback is saved {how}.")], style="good"),
            subtle(f"You can change it until {md(view.closes)}: type feedback to me, or use the button again.")]
    return "Thank you! Your feedback is saved.", card(body)


def feedback_results(view: FeedbackResults, names: Names = plain_names) -> Rendered:
    """What facilitators see: counts, averages (only for groups big enough), comments, topics."""
    s = view.summary
    noun = "answer" if s.count == 1 else "answers"
    anon = f" ({s.anonymous} anonymous)" if s.anonymous else ""
    body: list[Element] = [heading(f"Feedback: {md(clip(view.meeting, 200))}"), text(f"**{s.count} {noun}**{anon}")]
    summary = md(f"Feedback on {view.meeting}: {s.count} {noun}")
    if s.count == 0:
        body.append(subtle("Nobody has answered yet."))
        return summary, card(body)
    if s.figures_shown:
        rows = []
        for qf in s.questions:
            if qf.average is None:
                continue
            dist = " ".join(f"{n}:{c}" for n, c in zip(range(1, 6), qf.distribution, strict=True))
            rows.append((feedback_rules.QUESTION[qf.key].label, f"{qf.average:.1f} / 5 ({dist})"))
        if rows:
            body.append(facts(rows))
        levels = []
        for lf in s.levels:
            if lf.average is not None:
                levels.append((feedback_rules.level_label(lf.level), f"{lf.average:.1f} / 5"))
            elif lf.answered is not None:
                levels.append((feedback_rules.level_label(lf.level), f"{lf.answered} of {s.count} answered"))
        if levels:
            body += [text("**By evaluation level**"), facts(levels)]
    else:
        body.append(container([text(f"🔒 Averages are hidden: {s.withheld}. They appear once {s.threshold} people "
                                    "have answered, so no one's rating can be singled out.")], style="emphasis"))
    for q in feedback_rules.TEXTS:
        if q.topic:
            continue
        lines = [f"- {md(clip(c.text, 500))}" + (f" — {person(c.name, names)}" if c.name else "")
                 for c in s.comments if c.question == q.key]
        if lines:
            body += [text(f"**{q.label}**", separator=True), text(lines_fit(lines, 6_000, "comments"))]
    if s.topics:
        body += [text("**Asked for next time** (goes on the next agenda)", separator=True),
                 text(lines_fit([f"- {md(clip(t, 300))}" for t in s.topics], 3_000, "topics"))]
    body.append(subtle("Anonymous answers are shown without names, in no particular order."))
    return summary, card(body)


# ------------------------------------------------------------------------------ digest
MAX_ATTENTION = 12


def _team_facts(fig: TeamFigures) -> list[tuple[str, str]]:
    m, f, c, cyc = fig.meetings, fig.feedback, fig.checkins, fig.cycle
    if m.planned == 0 and m.cancelled == 0:
        meetings = "none on the calendar"
    else:
        parts = (["cancelled"] if not m.planned else [f"none wrapped up ({m.planned} planned)"] if not m.held
                 else [f"met {m.held} of {m.planned}"])
        if m.attendance is not None:
            parts.append(f"{m.present}/{m.expected} present")
        if m.cancelled and m.planned:
            parts.append(f"{m.cancelled} cancelled")
        meetings = " · ".join(parts)
    if not f.answers:
        feedback = "none"
    elif not f.shown:
        feedback = f"{f.withheld}, so no averages"
    else:
        feedback = f"{f.answers} answers: " + " · ".join(
            f"{RATING_LABELS[k]} {f.averages[k]:.1f}" for k in RATING_KEYS if k in f.averages)
    if c.rate is None:
        checkins = "no check-in this week"
    else:
        checkins = f"{pct(c.rate)} answered ({c.answered}/{c.asked})"
        if c.change is not None:
            points = round(c.change * 100)
            checkins += ", same as last week" if points == 0 else f", {'▲' if points > 0 else '▼'} {abs(points)} pts"
    if cyc is None:
        cycle = "none running"
    else:
        unit = f" {md(clip(cyc.unit, 20))}" if cyc.unit else ""
        goal = f"baseline {cyc.baseline:g} → target {cyc.target:g}{unit}"
        if cyc.latest is None:
            cycle = f"{md(clip(cyc.metric, 60))}: no data point yet · {goal}"
        else:
            where = f" (week {cyc.latest_week})" if cyc.latest_week else ""
            progress = f" · {cyc.progress:.0%} of the way" if cyc.progress is not None else ""
            cycle = f"{md(clip(cyc.metric, 60))}: {round(cyc.latest, 1):g}{unit}{where} · {goal}{progress}"
    rows = [("Meetings", meetings), ("Feedback", feedback), ("Check-ins", checkins), ("Cycle", cycle)]
    if fig.waiting or fig.following_up:
        parts = []
        if fig.waiting:
            shown = ", ".join(f"**{md(clip(n, 60))}**" for n in fig.waiting[:5])
            more = f" and {len(fig.waiting) - 5} more" if len(fig.waiting) > 5 else ""
            parts.append(f"{len(fig.waiting)} waiting: {shown}{more}")
        if fig.following_up:
            parts.append(f"{fig.following_up} being followed up")
        rows.append(("Support", " · ".join(parts)))
    return rows


def _team_block(fig: TeamFigures, names: Names) -> Element:
    head = f"{'⚠️' if fig.attention else '✅'} **{md(clip(fig.team.name, 80))}**"
    if fig.team.facilitators:
        head += " · " + people(fig.team.facilitators, names, limit=3)
    return container([text(head), facts(_team_facts(fig))], separator=True, spacing="Medium")


def digest(*, school: str, week: IsoWeek, teams: tuple[TeamFigures, ...], has_data: bool, so_far: bool = False,
           scope_note: str = "", workbook_follows: bool = True, names: Names = plain_names) -> Rendered:
    """One school's week on one screen: what needs the principal, then a block per team."""
    when = f"week {week.week} ({week.span()})" + (", so far" if so_far else "")
    body: list[Element] = [heading(f"PLC digest · {md(clip(school, 80))} · week {week.week}"),
                           subtle(md(when + scope_note))]
    if not teams:
        body.append(text("No PLC teams are set up at this school yet. A facilitator starts one with: setup."))
        return md(f"PLC digest for {school}, {when}: no PLC teams yet."), card(body)
    if not has_data:
        body.append(container([text(
            f"💤 **No PLC activity was recorded for {md(when)}**: no meetings, check-ins or feedback across "
            f"{len(teams)} team{'s' if len(teams) != 1 else ''}. If teams met, ask their facilitators to wrap "
            "their meetings up in plcbot so they count.")], style="emphasis"))
        summary = f"PLC digest for {school}, {when}: no activity recorded."
    else:
        flagged = [t for t in teams if t.attention]
        waiting = sum(len(t.waiting) for t in teams)
        rates = [t.checkins.rate for t in teams if t.checkins.rate is not None]
        overview = [("Teams", str(len(teams))), ("Need attention", str(len(flagged)))]
        if rates:
            overview.append(("Check-ins answered", f"{pct(sum(rates) / len(rates))} on average"))
        if waiting:
            overview.append(("Support waiting", f"{waiting} teacher{'s' if waiting != 1 else ''}"))
        body.append(facts(overview))
        if flagged:
            lines = [f"- **{md(clip(t.team.name, 60))}**: {md(clip('; '.join(t.attention), 160))}"
                     for t in flagged[:MAX_ATTENTION]]
            if len(flagged) > MAX_ATTENTION:
                lines.append(f"- …and {len(flagged) - MAX_ATTENTION} more (see the workbook's Summary sheet)")
            items = [text("**What needs you this week**"), text("\n".join(lines))]
            if waiting:
                items.append(text(f"_{waiting} teacher{'s' if waiting != 1 else ''} asked for support: reply to "
                                  "them, or ask their facilitator to follow up._"))
            body.append(container(items, style="attention"))
        else:
            body.append(container([text("✅ **Nothing needs your action this week.** Every team is on track.")],
                                  style="good"))
        body += fit([_team_block(t, names) for t in teams], CARD_BUDGET - size(body) - 2_000, "teams in the workbook")
        summary = (f"PLC digest for {school}, {when}: {len(teams)} teams, {len(flagged)} need attention"
                   + (f", {waiting} support request{'s' if waiting != 1 else ''} waiting." if waiting else "."))
    footer = "The workbook with every check-in, feedback answer, meeting and action item follows. " \
        if workbook_follows else ""
    body.append(subtle(footer + "Averages are shown only from 3 answers up; names appear only where a team chose "
                                "to share them."))
    return md(summary), card(body)


def digest_summary(view: DigestSummary, names: Names = plain_names) -> Rendered:
    return digest(school=view.school, week=view.week, teams=view.teams, has_data=view.has_data, so_far=view.so_far,
                  workbook_follows=view.workbook_follows, names=names)


def digest_part(view: DigestPart, names: Names = plain_names) -> Rendered:
    """A digest asked for on demand (one school, maybe only the caller's teams)."""
    return digest(school=view.school, week=view.week, teams=view.teams, has_data=view.has_data, so_far=view.so_far,
                  scope_note=view.scope_note, names=names)


def digest_outcome(view: DigestOutcome, names: Names = plain_names) -> Rendered:
    school = md(clip(view.part.school, 80))
    line = {"sent": f"✅ The digest for **{school}**, week {view.part.week.label}, is in our chat.",
            "retry": f"⏳ Teams is slow right now: the digest for **{school}** did not go out. Ask again in a minute.",
            }.get(view.state, f"⚠️ I couldn't send the digest for **{school}**, week {view.part.week.label}.")
    style = {"sent": "good", "retry": "warning"}.get(view.state, "attention")
    return line.replace("**", ""), card([container([text(line)], style=style)])


def upload_failed(view: UploadFailed, names: Names = plain_names) -> Rendered:
    """The workbook could not be attached: the summary stands; how to ask again."""
    line = (f"⚠️ **I couldn't attach the workbook for {md(clip(view.school, 80))}, week {view.week.label}**, "
            "after several tries.")
    body = [container([text(line)], style="warning"),
            text(f"The summary above is complete. To try again, type **digest {view.week.label}** to me, or ask "
                 "your plcbot admin to run plcbot digest export.")]
    return md(f"I couldn't attach the workbook for {view.school}, week {view.week.label}."), card(body)


# ------------------------------------------------------------------------------ teams
def _schedule(weekdays: str, at: str | None, minutes: int, timezone: str) -> str:
    return f"{md(weekdays)}" + (f" at {md(at)}" if at else "") + f", {minutes} minutes ({zone(timezone)})"


def setup_saved(view: SetupSaved, names: Names = plain_names) -> Rendered:
    rows = []
    if view.school_name is not None:
        rows.append(("School", md(clip(view.school_name, 100))))
    rows.append(("Meets", _schedule(view.weekdays, view.time, view.minutes, view.timezone)))
    if view.added:
        rows.append(("Added", people(view.added, names, limit=20)))
    if view.removed:
        rows.append(("No longer in the team", people(view.removed, names, limit=20) + " (their history stays)"))
    if view.skipped:
        rows.append(("Left out", people(view.skipped, names, limit=20) + " (bots or accounts I can't see)"))
    body = [container([text(f"✅ **{md(clip(view.team_name, 100))}** {md(view.verb)}.")], style="good"), facts(rows)]
    return md(f"{view.team_name} {view.verb}."), card(body)


def share_names_changed(view: ShareNamesChanged, names: Names = plain_names) -> Rendered:
    team = md(clip(view.team_name, 100))
    if view.shared:
        line = (f"👁️ {person(view.actor, names)} turned on **Share names with the school's principals** for "
                f"**{team}**: the digest now shows who answered check-ins and who asked for support.")
    else:
        line = (f"🙈 {person(view.actor, names)} turned off **Share names with the school's principals** for "
                f"**{team}**: the digest shows team figures only.")
    return md(f"Sharing names with principals is {'on' if view.shared else 'off'} for {view.team_name}"), \
        card([container([text(line)], style="emphasis")])


MEMBER_CHANGES = {("member", False): "added to the team", ("member", True): "removed from the team",
                  ("facilitator", False): "now facilitating", ("facilitator", True): "no longer facilitating"}


def members_changed(view: MembersChanged, names: Names = plain_names) -> Rendered:
    what = MEMBER_CHANGES.get((view.role, view.remove), "changed")
    body: list[Element] = [text(f"✅ {people(view.done, names, limit=20)} {what}." if view.done
                                else "Nothing to change: they already were.")]
    if view.skipped:
        label = "Not in the team" if view.remove else "Left out (bots or accounts I can't see)"
        body.append(facts([(label, people(view.skipped, names, limit=20))]))
    return (f"{len(view.done)} {what}" if view.done else "Nothing to change"), card(body)


# ------------------------------------------------------------------------------ privacy
PAGE_VIEWERS = {v.Viewer.YOU: "You", v.Viewer.TEAM: "Your team", v.Viewer.FACILITATORS: "Your team's facilitators",
                v.Viewer.PRINCIPALS: "Your school's principals", v.Viewer.ADMINS: "plcbot admins"}
AS_ROLE = {v.Viewer.FACILITATORS: "a facilitator", v.Viewer.PRINCIPALS: "a principal",
           v.Viewer.ADMINS: "a plcbot admin"}


def _who(page: PrivacyPage) -> str:
    return who_you_are(page, lambda name: f"**{md(clip(name, 60))}**")


def _sight(seen: v.Sight, page: PrivacyPage) -> str:
    if seen is not v.Sight.IF_SHARED or not page.teams:
        return seen.sentence
    if not any(t.shares_names for t in page.teams):
        return f"{v.Sight.UNNAMED.sentence} (your team does not share names with its principal)"
    if all(t.shares_names for t in page.teams):
        return f"{v.Sight.NAMED.sentence} (your team shares names with its principal)"
    return f"{v.Sight.NAMED.sentence} where your team shares names, {v.Sight.UNNAMED.sentence} elsewhere"


def _kind(kind: v.Kind, page: PrivacyPage) -> Element:
    count = ""
    if page.known and kind is v.ANONYMOUS_FEEDBACK:
        count = " (none linked to you, by design)"
    elif page.known and kind.key in page.counts:
        n = page.counts[kind.key]
        count = f" ({n} about you)" if n else " (none about you)"
    rows = []
    for viewer in v.VIEWERS:
        seen = v.sight(kind, viewer)
        if seen is v.Sight.NONE:
            continue
        where = "; ".join(s.label for s in v.shown_for(kind, viewer))
        rows.append((PAGE_VIEWERS[viewer], f"{_sight(seen, page)} — {where}"))
    items: list[Element] = [text(f"**{kind.label}**{count}: {kind.what}."), facts(rows)]
    if kind.note:
        items.append(subtle(kind.note.replace("PLCBOT_MIN_GROUP_SIZE", str(page.min_group))))
    kept = v.retention_text(kind.retention, years=page.retention_years, forget_days=page.forget_days)
    items.append(subtle(f"{kept[:1].upper()}{kept[1:]}."))
    return container(items, separator=True, spacing="Medium")


def privacy_page(page: PrivacyPage, names: Names = plain_names) -> Rendered:
    """What plcbot keeps about the person asking and who sees it, from `storage/rules/visibility.py`."""
    body: list[Element] = [heading("What plcbot keeps about you, and who sees it"), text(_who(page))]
    body += [_kind(kind, page) for kind in v.KINDS]
    if page.viewers:
        lines = []
        for viewer in page.viewers:
            seen = [f"{kind.label.lower()}: {v.sight(kind, viewer).short}" for kind in v.KINDS
                    if v.sight(kind, viewer) is not v.Sight.NONE]
            lines.append(f"**As {AS_ROLE[viewer]}** you see others' " + "; ".join(seen) + ".")
        lines.append("The same rules apply to what is kept about you.")
        body.append(container([text("\n\n".join(lines))], style="emphasis"))
    notes = [n.replace("`PLCBOT_MIN_GROUP_SIZE` answers", f"{page.min_group} answers").replace("`", "")
             for n in v.NOTES]
    body.append(subtle("\n\n".join(notes)))
    body.append(text("📥 To get everything stored about you as a workbook in our chat, type **privacy export**."))
    return "What plcbot keeps about you, and who sees it. Type privacy export for all of it.", card(body)


# ------------------------------------------------------------------------------ norms
def norms(team_name: str, norms: list[str] | tuple[str, ...], version: int, committed: int, members: int,
          *, changed_by: str | None = None, names: Names = plain_names) -> Rendered:
    """The team's numbered norms with "I commit to these norms" (a messageBack: the click comes back
    as the typed command `norms commit N`, this version); after a change it says who changed them."""
    body: list[Element] = [heading(f"Norms of {md(clip(team_name, 100))}")]
    if changed_by:
        body.append(text(f"📝 {person(changed_by, names)} updated the norms. Please read them again and commit "
                         "to this version."))
    if not norms:
        body.append(text("This team has no norms yet. A facilitator writes them: **@plcbot norms edit**."))
        return md(f"{team_name} has no norms yet"), card(body)
    lines = [f"{i}. {md(clip(n, 500))}" for i, n in enumerate(norms, 1)]
    body.append(text(lines_fit(lines, CARD_BUDGET // 2, "norms")))
    body.append(subtle(f"Version {version} · {committed} of {members} committed."))
    button = {"type": "Action.Submit", "title": "I commit to these norms", "style": "positive",
              "data": {"action": "norms_commit",
                       "msteams": {"type": "messageBack", "text": f"norms commit {version}",
                                   "displayText": "I commit to these norms"}}}
    summary = f"Norms of {team_name}" if not changed_by else f"New norms for {team_name} (version {version})"
    return md(summary), card(body, [button])


def norms_changed(view: NormsChanged, names: Names = plain_names) -> Rendered:
    """A new version of the norms, posted in the team's place (`storage.views.norms.NormsChanged`)."""
    shown = view.changed_by_name or names(view.changed_by)
    return norms(view.team_name, view.norms, view.version, view.committed, view.members,
                 changed_by=view.changed_by, names=lambda pid: shown if pid == view.changed_by else names(pid))
