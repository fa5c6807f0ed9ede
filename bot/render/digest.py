"""The principal's digest as one screen of Block Kit: what needs them first, then a line per team.

Pure: plain figures in, blocks out. Everything users wrote (team, cycle and metric names,
teachers' names) is escaped; the message stays within Slack's 50 blocks and 3,000 characters
per section however many teams a school has, and points to the workbook for the detail.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.render import blocks as bk
from bot.render.mrkdwn import clip, escape, user
from storage.rules.digest import RATING_KEYS, RATING_LABELS, IsoWeek, TeamFigures
from storage.views.digest import DigestSummary, UploadFailed
from storage.views.digest_actions import DigestPart

MAX_TEAMS = 40  # one section each; header, call to action and footer take the rest of 50
MAX_NAMES = 5


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value)}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _change(value: float | None) -> str:
    if value is None:
        return ""
    points = round(value * 100)
    if points == 0:
        return ", same as last week"
    arrow = ":arrow_up_small:" if points > 0 else ":arrow_down_small:"
    return f", {arrow} {abs(points)} pts from last week"


def _names(names: Sequence[str]) -> str:
    shown = [escape(clip(n, 60)) for n in names[:MAX_NAMES]]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def meetings_line(fig: TeamFigures) -> str:
    m = fig.meetings
    if m.planned == 0 and m.cancelled == 0:
        return ":calendar: No meeting on the calendar"
    if not m.planned:
        parts = ["Meeting cancelled"]
    elif not m.held:
        parts = [f"No meeting wrapped up ({m.planned} planned)"]
    else:
        parts = [f"Met {m.held} of {m.planned}"]
    if m.attendance is not None:
        parts.append(f"{m.present}/{m.expected} present")
    if m.planned:
        parts.append("agenda posted" if m.with_agenda >= m.planned else "no agenda posted" if not m.with_agenda
                     else f"agenda posted for {m.with_agenda} of {m.planned}")
    if m.cancelled:
        parts.append(f"{m.cancelled} cancelled")
    return ":calendar: " + " · ".join(parts)


def feedback_line(fig: TeamFigures) -> str:
    f = fig.feedback
    if not f.answers:
        return ":speech_balloon: No meeting feedback"
    if not f.shown:
        return f":speech_balloon: Feedback: {f.withheld}, so no averages"
    figures = " · ".join(f"{RATING_LABELS[k]} {f.averages[k]:.1f}" for k in RATING_KEYS if k in f.averages)
    return f":speech_balloon: Feedback ({f.answers} answers, of 5): {figures}"


def checkins_line(fig: TeamFigures) -> str:
    c = fig.checkins
    if c.rate is None:
        return ":bar_chart: No check-in this week"
    return f":bar_chart: Check-ins {_pct(c.rate)} answered ({c.answered}/{c.asked}){_change(c.change)}"


def cycle_line(fig: TeamFigures) -> str:
    cyc = fig.cycle
    if cyc is None:
        return ":dart: No learning cycle running"
    unit = f" {escape(clip(cyc.unit, 20))}" if cyc.unit else ""
    head = f":dart: *{escape(clip(cyc.metric, 60))}*"
    goal = f"baseline {_num(cyc.baseline)} → target {_num(cyc.target)}{unit}"
    if cyc.latest is None:
        return f"{head}: no data point yet · {goal}"
    where = f" (week {cyc.latest_week})" if cyc.latest_week else ""
    progress = f" · {cyc.progress:.0%} of the way" if cyc.progress is not None else ""
    return f"{head}: {_num(round(cyc.latest, 1))}{unit}{where} · {goal}{progress}"


def support_line(fig: TeamFigures) -> str | None:
    if not fig.waiting and not fig.following_up:
        return None
    parts = []
    if fig.waiting:
        parts.append(f"*{len(fig.waiting)} waiting for a leader:* {_names(fig.waiting)}")
    if fig.following_up:
        parts.append(f"{fig.following_up} being followed up")
    return ":sos: Support requests: " + " · ".join(parts)


def team_text(fig: TeamFigures) -> str:
    facs = " ".join(user(u) for u in fig.team.facilitators[:3])
    head = f"*{escape(clip(fig.team.name, 80))}*" + (f"  ·  {facs}" if facs else "")
    head = (":warning: " if fig.attention else ":white_check_mark: ") + head
    lines = [head, meetings_line(fig), feedback_line(fig), checkins_line(fig), cycle_line(fig)]
    support = support_line(fig)
    if support:
        lines.append(support)
    return "\n".join(lines)


def call_to_action(teams: Sequence[TeamFigures]) -> str:
    """The first thing the principal reads: who needs them, and what to do.

    Team lines are added while they fit one section (escaped names can be five times their
    length), so the closing line about support requests is never the part Slack's limit cuts.
    """
    flagged = [t for t in teams if t.attention]
    if not flagged:
        return ":white_check_mark: *Nothing needs your action this week.* Every team is on track."
    waiting = sum(len(t.waiting) for t in teams)
    tail = [f"_{waiting} teacher{'s' if waiting != 1 else ''} asked for support: "
            "reply to them, or ask their facilitator to follow up._"] if waiting else []
    room = bk.SECTION_TEXT_MAX - sum(len(x) + 1 for x in tail) - 80  # 80: the "… and N more" line
    lines = ["*What needs you this week*"]
    used = len(lines[0])
    for t in flagged[:12]:
        who = (" Talk to " + ", ".join(user(u) for u in t.team.facilitators[:2]) + ".") if t.team.facilitators else ""
        line = f"• *{escape(clip(t.team.name, 60))}*: {escape(clip('; '.join(t.attention), 160))}.{who}"
        if used + len(line) + 1 > room:
            break
        lines.append(line)
        used += len(line) + 1
    left = len(flagged) - (len(lines) - 1)
    if left > 0:
        lines.append(f"• … and {left} more team{'s' if left != 1 else ''} (see the workbook's Summary sheet)")
    return "\n".join(lines + tail)


def digest_summary(view: DigestSummary) -> tuple[str, list[dict[str, Any]]]:
    return digest_message(school=view.school, week=view.week, teams=view.teams, has_data=view.has_data,
                          so_far=view.so_far, workbook_follows=view.workbook_follows)


def digest_part(view: DigestPart) -> tuple[str, list[dict[str, Any]]]:
    """A digest asked for on demand (one school, maybe only the caller's teams)."""
    return digest_message(school=view.school, week=view.week, teams=view.teams, has_data=view.has_data,
                          so_far=view.so_far, scope_note=view.scope_note)


def digest_message(
    *, school: str, week: IsoWeek, teams: Sequence[TeamFigures], has_data: bool, so_far: bool = False,
    scope_note: str = "", workbook_follows: bool = True,
) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, blocks) for one school's week."""
    when = f"week {week.week} ({week.span()})" + (", so far" if so_far else "")
    title = f"PLC digest · {clip(school, 80)} · week {week.week}"
    blocks: list[dict[str, Any]] = [bk.header(title), bk.context(f"{escape(when)}{scope_note}")]
    waiting = sum(len(t.waiting) for t in teams)
    if not teams:
        text = f"PLC digest for {school}, {when}: no PLC teams yet."
        blocks.append(bk.section("No PLC teams are set up at this school yet. A facilitator starts one with "
                                 "`/plc setup` in the team's channel."))
        return text, blocks
    if not has_data:
        text = f"PLC digest for {school}, {when}: no activity recorded."
        blocks.append(bk.section(
            f":zzz: *No PLC activity was recorded for {escape(when)}:* no meetings, check-ins or feedback "
            f"across {len(teams)} team{'s' if len(teams) != 1 else ''}. If teams met, ask their facilitators "
            "to wrap their meetings up in plcbot so they count."))
    else:
        blocks.append(bk.section(call_to_action(teams)))
        blocks.append(bk.divider())
        shown = teams[:MAX_TEAMS]
        blocks.extend(bk.section(team_text(t)) for t in shown)
        if len(teams) > len(shown):
            blocks.append(bk.context(f"… and {len(teams) - len(shown)} more teams in the workbook."))
        flagged = sum(1 for t in teams if t.attention)
        text = (f"PLC digest for {school}, {when}: {len(teams)} teams, {flagged} need attention"
                + (f", {waiting} support request{'s' if waiting != 1 else ''} waiting." if waiting else "."))
    footer = ("The workbook with every check-in, feedback answer, meeting and action item follows below."
              if workbook_follows else "")
    blocks.append(bk.context(
        (footer + " " if footer else "")
        + "Averages are shown only from 3 answers up; names appear only where a team chose to share them."
    ))
    return text, bk.fit(blocks, bk.MESSAGE_BLOCKS_MAX)


def upload_failed_message(*, school: str, week: IsoWeek) -> str:
    return (f":warning: I couldn't attach the workbook for {escape(school)}, week {week.label}, after several "
            "tries. The summary above is complete; type `/plc digest " + week.label + "` to try again, or ask "
            "your plcbot admin to run `plcbot digest export`.")


def upload_failed(view: UploadFailed) -> tuple[str, None]:
    """A message of text only: no blocks."""
    return upload_failed_message(school=view.school, week=view.week), None
