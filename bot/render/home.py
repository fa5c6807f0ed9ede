"""Pure builders for the Home tab dashboard: plain data in, blocks out.

A Home view holds at most 100 blocks, so every part has a budget: a few pending check-ins
with their buttons, a few teams in detail, a few schools; the rest is summarised as
"… and N more". Everything a person wrote (team names, goals, agenda titles) is escaped.
The check-in buttons reuse the check-in DM's action ids, so one click works the same from
either place.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.render import blocks as bk
from bot.render.cycles import ANSWER_ACTIONS, DETAILS_ACTION, number, pct
from bot.render.mrkdwn import channel, clip, escape, user

if TYPE_CHECKING:
    from storage.home import Dashboard, FeedbackGlance, PendingCheckin, SchoolGlance, TeamGlance

Block = dict[str, Any]

POST_AGENDA_ACTION = "home_post_agenda"
START_CYCLE_ACTION = "home_cycle_start"
VIEW_CYCLE_ACTION = "home_cycle_view"
SEND_CHECKIN_ACTION = "home_checkin_now"
DIGEST_NOW_ACTION = "home_digest_now"
CYCLE_VIEW_CALLBACK = "home_cycle_view"

PENDING_SHOWN = 3  # 2 blocks each
TEAMS_SHOWN = 5  # up to 5 blocks each
SCHOOLS_SHOWN = 4
TEAM_LINES_PER_SCHOOL = 25
QUESTION_LABELS = {"useful": "useful", "learned": "learned something", "norms": "norms and support"}
PHASES = ("plan", "deliver/engage", "reflect/adjust")


def when_label(at: datetime, tz: str) -> str:
    """`Thu Dec 3, 3:30 PM` in the team's time zone."""
    try:
        local = at.astimezone(ZoneInfo(tz))
    except Exception:
        local = at
    hour = local.strftime("%I").lstrip("0") or "12"
    return f"{local:%a %b} {local.day}, {hour}:{local:%M %p}"


def _phase(week: int, weeks: int) -> str:
    if week <= 1:
        return PHASES[0]
    return PHASES[2] if week >= weeks else PHASES[1]


def _more(shown: Sequence[Any], total: int, noun: str) -> str:
    left = total - len(shown)
    return f"… and {left} more {noun}" if left > 0 else ""


# ---------------------------------------------------------------------------- pending check-ins
def pending_blocks(pending: Sequence[PendingCheckin]) -> list[Block]:
    """Check-ins waiting for this person, with the same four buttons as the DM."""
    if not pending:
        return []
    out: list[Block] = [bk.header("Your check-in" + ("s" if len(pending) > 1 else ""))]
    for p in pending[:PENDING_SHOWN]:
        value = str(p.checkin_id)
        out.append(bk.section(
            f":memo: *{escape(p.team_name)}*: week {p.week} of {p.weeks} of *{escape(p.cycle_title)}*. "
            f"How is the focus strategy going this week?"))
        out.append(bk.actions(
            bk.button("On track", ANSWER_ACTIONS["on_track"], value=value, style="primary"),
            bk.button("Some progress", ANSWER_ACTIONS["some_progress"], value=value),
            bk.button("Stuck, I'd like support", ANSWER_ACTIONS["stuck"], value=value),
            bk.button("Add details", DETAILS_ACTION, value=value),
            block_id=f"home_checkin_{value}",
        ))
    more = _more(pending[:PENDING_SHOWN], len(pending), "check-ins: they are in your direct messages")
    out.append(bk.context(more or "One click is enough. Your team sees only its figures; "
                                  "`/plc privacy` says who sees what."))
    return out


# ---------------------------------------------------------------------------- teams
def _meeting_lines(t: TeamGlance) -> list[str]:
    m = t.next_meeting
    skipped = [f":palm_tree: {when_label(at, t.timezone)} · skipped: {escape(clip(why, 60))}"
               for at, why in t.skipped_meetings[:3]]
    if m is None:
        return [*skipped, ":calendar: No meeting scheduled."]
    title = f" · {escape(clip(m.title, 80))}" if m.title else ""
    posted = f", agenda posted in {channel(t.channel_id)}" if m.agenda_posted else ""
    lines = [*skipped,
             f":calendar: Next meeting *{when_label(m.starts_at, t.timezone)}* ({m.minutes} min){title}{posted}"]
    if m.items:
        shown = [f"{i}. {escape(clip(title_, 90))} ({minutes} min)" for i, (title_, minutes) in enumerate(m.items, 1)]
        more = _more(m.items, m.item_count, "items")
        lines.append("    " + " · ".join(shown) + (f" {more}" if more else ""))
    elif t.facilitates:
        lines.append("    No agenda yet: *Post the agenda* fills it from a template.")
    return lines


def _cycle_lines(t: TeamGlance) -> list[str]:
    c = t.cycle
    if c is None:
        return [":dart: No learning cycle running."]
    if c.week is None:
        when = f"starts {c.start_date:%a %b} {c.start_date.day}" if not c.started else "has run all its weeks"
        head = f":dart: *{escape(clip(c.title, 120))}* {when}"
    else:
        head = f":dart: *{escape(clip(c.title, 120))}*: week {c.week} of {c.weeks} ({_phase(c.week, c.weeks)})"
    if c.status == "paused":
        head += " · :double_vertical_bar: paused" + (f" through {c.paused_until:%b} {c.paused_until.day}"
                                                       if c.paused_until else "")
    goal = (f"    *Goal:* {escape(clip(c.goal, 400))}  ({escape(clip(c.metric_name, 60))}: "
            f"{number(c.baseline, c.metric_unit)} → {number(c.target, c.metric_unit)})")
    return [head, goal]


def _feedback_text(f: FeedbackGlance | None, tz: str) -> str:
    if f is None:
        return "*Latest feedback*\nNone yet."
    when = when_label(f.meeting_starts_at, tz).split(",")[0]
    if not f.shown:
        return (f"*Latest feedback* ({when})\n{f.count} answer{'s' if f.count != 1 else ''}: averages show "
                f"from {f.threshold} answers, so nobody can be singled out.")
    parts = [f"{QUESTION_LABELS.get(k, k)} {v:.1f}" for k, v in f.averages]
    return f"*Latest feedback* ({when}, {f.count} answers, out of 5)\n" + " · ".join(parts)


def _round_text(t: TeamGlance) -> str:
    r = t.round
    if r is None:
        if t.cycle is None:
            return "*Check-in*\nNo cycle running."
        return "*This week's check-in*\nNot sent yet."
    label = "This week's check-in" if r.this_week else f"Week {r.week}'s check-in"
    away = f", {r.away} away" if r.away else ""
    state = " (closed)" if r.state == "closed" else ""
    return f"*{label}*{state}\n{r.answered} of {r.asked} answered ({pct(r.rate)}){away}"


def _support_text(t: TeamGlance) -> str:
    if not t.support:
        return "*Support requests*\nNone open."
    shown = [f"{user(s.teacher_id)} (week {s.week}{', following up' if s.state == 'following_up' else ''})"
             for s in t.support[:5]]
    more = _more(t.support[:5], len(t.support), "")
    return f"*Support requests* ({len(t.support)} open)\n" + ", ".join(shown) + (f" {more}" if more else "")


def facilitator_blocks(t: TeamGlance) -> list[Block]:
    """What a facilitator sees of their team: figures and the three things to do from here."""
    out: list[Block] = [bk.fields([_round_text(t), _support_text(t), _feedback_text(t.feedback, t.timezone)])]
    value = str(t.team_id)
    buttons = []
    if t.next_meeting is not None:
        label = "Update the agenda" if t.next_meeting.agenda_posted else "Post the agenda"
        buttons.append(bk.button(label, POST_AGENDA_ACTION, value=value))
    if t.cycle is None:
        buttons.append(bk.button("Start a cycle", START_CYCLE_ACTION, value=value, style="primary"))
    else:
        buttons.append(bk.button("View the cycle", VIEW_CYCLE_ACTION, value=value))
        if t.cycle.week is not None and t.cycle.status == "active" and (t.round is None or not t.round.this_week):
            buttons.append(bk.button("Send this week's check-in now", SEND_CHECKIN_ACTION, value=value))
    out.append(bk.actions(*buttons, block_id=f"home_team_{value}"))
    return out


def team_blocks(t: TeamGlance) -> list[Block]:
    """One of my teams: the next meeting and its agenda, the cycle; facilitators get more."""
    role = "you facilitate" if t.facilitates else "member"
    head = f"*{escape(clip(t.name, 120))}* · {escape(clip(t.school_name, 80))} · {role} · {t.members} members"
    text = "\n".join([head, *_meeting_lines(t), *_cycle_lines(t)])
    if t.facilitates:
        return [bk.divider(), bk.section(text), *facilitator_blocks(t)]
    accessory = bk.button("View the cycle", VIEW_CYCLE_ACTION, value=str(t.team_id)) if t.cycle else None
    return [bk.divider(), bk.section(text, accessory=accessory)]


def teams_blocks(teams: Sequence[TeamGlance]) -> list[Block]:
    if not teams:
        return []
    out: list[Block] = [bk.header("Your teams")]
    for t in teams[:TEAMS_SHOWN]:
        out.extend(team_blocks(t))
    rest = teams[TEAMS_SHOWN:]
    if rest:
        names = ", ".join(escape(clip(t.name, 60)) for t in rest[:30])
        tail = _more(rest[:30], len(rest), "")
        out.append(bk.context(f"… and {len(rest)} more teams: {names}{' ' + tail if tail else ''}. "
                              "Use `/plc` in a team's channel for its details."))
    return out


# ---------------------------------------------------------------------------- principals
def _glance_line(t: TeamGlance) -> str:
    parts = [f"*{escape(clip(t.name, 80))}*", f"{t.members} members"]
    c = t.cycle
    if c is None:
        parts.append("no cycle")
    elif c.week is None:
        parts.append("cycle starts " + f"{c.start_date:%b} {c.start_date.day}" if not c.started
                     else "cycle's weeks are over: reflection due")
    else:
        parts.append(f"cycle week {c.week} of {c.weeks}" + (" (paused)" if c.status == "paused" else ""))
    if t.round is not None:
        parts.append(f"check-in {pct(t.round.rate)}" + ("" if t.round.this_week else f" (week {t.round.week})"))
    if t.support_open:
        parts.append(f":raising_hand: {t.support_open} support request{'s' if t.support_open > 1 else ''}")
    if t.next_meeting is not None:
        parts.append(f"meets {when_label(t.next_meeting.starts_at, t.timezone).split(',')[0]}")
    return "• " + " · ".join(parts)


def school_blocks(s: SchoolGlance) -> list[Block]:
    lines = [_glance_line(t) for t in s.teams[:TEAM_LINES_PER_SCHOOL]]
    more = _more(s.teams[:TEAM_LINES_PER_SCHOOL], len(s.teams), "teams: the digest has them all")
    if more:
        lines.append(more)
    if not lines:
        lines = ["No teams yet. Facilitators set one up with `/plc setup` in its channel."]
    head = f"*{escape(clip(s.name, 150))}* · {len(s.teams)} team{'s' if len(s.teams) != 1 else ''}"
    body = head + "\n" + "\n".join(lines)
    if len(body) > bk.SECTION_TEXT_MAX:  # many long names: keep whole lines, say how many are left
        kept: list[str] = []
        for line in lines:
            if len(head) + sum(len(x) + 1 for x in kept) + len(line) > bk.SECTION_TEXT_MAX - 80:
                break
            kept.append(line)
        body = head + "\n" + "\n".join(kept) + f"\n… and {len(lines) - len(kept)} more"
    return [bk.section(body)]


def schools_blocks(schools: Sequence[SchoolGlance]) -> list[Block]:
    if not schools:
        return []
    out: list[Block] = [bk.header("Your schools")]
    for s in schools[:SCHOOLS_SHOWN]:
        out.extend(school_blocks(s))
    if len(schools) > SCHOOLS_SHOWN:
        out.append(bk.context(f"… and {len(schools) - SCHOOLS_SHOWN} more schools: the digest covers them all."))
    out.append(bk.actions(bk.button("Send me the digest now", DIGEST_NOW_ACTION, value="now", style="primary"),
                          block_id="home_digest"))
    out.append(bk.context("Team-level figures only; names appear only on support requests a teacher chose to send. "
                          "The weekly digest with its workbook comes by direct message."))
    return out


# ---------------------------------------------------------------------------- the whole dashboard
def dashboard_blocks(d: Dashboard) -> list[Block]:
    """The dashboard part of a Home tab (the actions and away sections are added by their features)."""
    if d.empty:
        return []
    out: list[Block] = []
    out.extend(pending_blocks(d.pending))
    out.extend(teams_blocks(d.my_teams))
    out.extend(schools_blocks(d.schools))
    return out


def cycle_modal_view(title: str, blocks: list[Block]) -> dict[str, Any]:
    """The cycle's status (the `/plc cycle` blocks) in a read-only modal opened from Home."""
    return bk.modal(title=title, blocks=blocks, callback_id=CYCLE_VIEW_CALLBACK, submit=None, close="Close")
