"""The audit log in Slack: the newest entries, one line each, for `/plc audit`.

Times use Slack's date formatting, so each reader sees them in their own time zone (the
fallback text is UTC). Actors and people acted on show as <@U…> mentions, which render as
names; everything else an entry holds (team and school names, break labels, file names) was
typed by someone and is escaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol

from bot.render import blocks as bk
from bot.render.mrkdwn import clip, escape, user

LINES_PER_SECTION = 10
LINE_MAX = 290  # ten lines stay inside a section's 3,000 characters
SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,31}$")
# "person:12 U0ABC" in a detail (a membership or principal change): shown as a mention.
PERSON_WITH_ID = re.compile(r"person:\d+ ([UW][A-Z0-9]{2,31})(?=[\s),;]|$)")
NAME_MAX = 80  # a team's or school's name in a line


class Entry(Protocol):
    """What a line needs of an entry (storage.audit_log.AuditRow, frozen: read-only here)."""

    @property
    def at(self) -> datetime: ...
    @property
    def school(self) -> str | None: ...
    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def detail(self) -> str: ...


def when(at: datetime) -> str:
    """A time every reader sees in their own zone; UTC where Slack cannot format it."""
    fallback = at.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{{date_short}} {{time}}|{fallback}>"


def who(actor: str) -> str:
    """A Slack id as a mention; "cli:<login>" or "slack:<event>" as (escaped) code.

    `user()` also knows an erased person's stand-in id, and says "a former member".
    """
    mention = user(actor)
    if SLACK_ID.match(actor) or not mention.startswith("<@"):
        return mention
    plain = escape(actor).replace("`", "'")
    return f"`{plain}`"


def what(target: str, *, school: str | None, team_names: Mapping[int, str]) -> str:
    """The thing changed, by name where the bot knows it ("team:3" -> "Grade 3")."""
    kind, _, ref = target.partition(":")
    if kind == "team" and ref.isdigit() and int(ref) in team_names:
        return clip(escape(team_names[int(ref)]), NAME_MAX)
    if kind == "school" and ref.isdigit() and school:
        return clip(escape(school), NAME_MAX)
    return clip(escape(target), NAME_MAX)


def detail_text(detail: str, limit: int = LINE_MAX) -> str:
    """The entry's detail, escaped and clipped, with Slack ids of people shown as mentions.

    Clipped before the mentions are made, so a cut never leaves half a `<@…>`; an id the cut
    shortened (followed by "…") is left as text.
    """
    flat = clip(escape(" ".join(detail.split())), max(limit, 1))
    if SLACK_ID.match(flat):  # a deactivation's detail is the person's id alone
        return user(flat)
    return PERSON_WITH_ID.sub(lambda m: user(m.group(1)), flat)


def entry_line(entry: Entry, *, team_names: Mapping[int, str], show_school: bool) -> str:
    parts = [when(entry.at), who(entry.actor), f"*{escape(entry.action)}*",
             what(entry.target, school=entry.school, team_names=team_names)]
    if show_school and not entry.target.startswith("school:"):
        parts.append(f"({clip(escape(entry.school or 'district-wide'), NAME_MAX)})")
    line = " · ".join(p for p in parts if p)
    if entry.detail:
        line += " — " + detail_text(entry.detail, LINE_MAX - len(line) - 3)
    return line


def audit_message(entries: Sequence[Entry], *, scope: str, since: date | None, shown: int, more: bool,
                  team_names: Mapping[int, str], show_school: bool,
                  since_zone: str = "UTC") -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, blocks) for the newest `shown` entries, newest first.

    `scope` names whose log it is ("Lincoln Elementary", "the whole district"); `more` says
    older entries exist beyond what is shown; `since` began at its midnight in `since_zone`.
    """
    span = f" since {since.isoformat()} ({escape(since_zone)})" if since else ""  # %Y prints year 1 as "1"
    title = f"Audit log: {scope}"
    if not entries:
        text = f"No audit entries for {escape(scope)}{span}."
        return text, [bk.section(text)]
    count = f"the newest {len(entries)}" if more else f"all {len(entries)}"
    note = (f"{count.capitalize()} entries{span}, newest first; times in your time zone. "
            "Who did what and when, never what anyone answered. "
            "`plcbot audit` on the server lists every entry.")
    blocks: list[dict[str, Any]] = [bk.header(title), bk.context(note)]
    lines = [entry_line(e, team_names=team_names, show_school=show_school) for e in entries[:shown]]
    for start in range(0, len(lines), LINES_PER_SECTION):
        blocks.append(bk.section("\n".join(lines[start:start + LINES_PER_SECTION])))
    if more:
        blocks.append(bk.context("Older entries are not shown: add `since YYYY-MM-DD` for a later start, "
                                 "or use `plcbot audit --since DATE` on the server."))
    return f"{title} ({count} entries{span})", bk.fit(blocks, bk.MESSAGE_BLOCKS_MAX)
