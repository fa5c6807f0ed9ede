"""Who sees what, rendered: the `/plc privacy` page and README's table, both from
`storage/rules/visibility.py`, so the page, the README and the checks share one source.

Pure: plain data in, blocks or Markdown out. Team and school names are escaped.
Regenerate README's table with `python -m bot.render.privacy --write-readme`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.render import blocks as bk
from bot.render.mrkdwn import clip, escape
from storage.rules import visibility as v
from storage.rules.roles import Action, Role
from storage.views.privacy import PrivacyPage, PrivacyTeam, names_list, who_you_are

README_START = "<!-- privacy-table:start -->"
README_END = "<!-- privacy-table:end -->"

# Column headings in the README (third person) and lines of the page (second person).
README_VIEWERS = {
    v.Viewer.YOU: "the person",
    v.Viewer.TEAM: "their team",
    v.Viewer.FACILITATORS: "the team's facilitators",
    v.Viewer.PRINCIPALS: "the school's principals",
    v.Viewer.ADMINS: "plcbot admins",
}
PAGE_VIEWERS = {
    v.Viewer.YOU: "You",
    v.Viewer.TEAM: "Your team",
    v.Viewer.FACILITATORS: "Your team's facilitators",
    v.Viewer.PRINCIPALS: "Your school's principals",
    v.Viewer.ADMINS: "plcbot admins",
}
AS_ROLE = {
    v.Viewer.FACILITATORS: "a facilitator",
    v.Viewer.PRINCIPALS: "a principal",
    v.Viewer.ADMINS: "a plcbot admin",
}
# The page names each place briefly (README spells them out, with who may look there): the
# same place comes up for several audiences of most kinds, and the page should read on a screen.
PAGE_PLACES = {
    v.MINE.label: "your DMs, Home tab and export",
    v.TEAM_CHANNEL.label: "the team's channel",
    v.TEAM_VIEW.label: "`/plc team`",
    v.ACTIONS_LIST.label: "`/plc actions` and the agenda",
    v.SUPPORT_MESSAGE.label: "a DM to the facilitators",
    v.FEEDBACK_RESULTS.label: "`/plc feedback results`",
    v.NORMS_WHO.label: "`/plc norms who`",
    v.DIGEST.label: "the digest",
    v.AUDIT_LOG.label: "the audit log",
    v.SERVER.label: "the server's command line",
}
ROLE_WHO = {
    Role.MEMBER: "members of the team and above",
    Role.FACILITATOR: "the team's facilitators and above",
    Role.PRINCIPAL: "the school's principals and admins",
    Role.ADMIN: "plcbot admins",
}


# ------------------------------------------------------------------------------------ README
def _guard(place: v.Place) -> str:
    """Who may look at a place, in words, with the roles.py rule behind it."""
    if place.to:
        who = " and ".join(README_VIEWERS[x] for x in place.to)
    else:
        who = ROLE_WHO[place.lowest] if place.lowest else "nobody"
    if isinstance(place.rule, Action):
        return f"{who} (`{place.rule.name}`: {place.rule.value})"
    if isinstance(place.rule, Role) and not place.to:
        return f"{who} (role `{place.rule.value}`)"
    return who


def markdown_table() -> str:
    """README's "Privacy: who sees what": the table, where each thing is seen, and the notes."""
    heads = ["what plcbot stores about a person", *(README_VIEWERS[x] for x in v.VIEWERS), "kept"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for kind in v.KINDS:
        cells = [f"**{kind.label}**: {kind.what}"]
        cells += [v.sight(kind, x).short for x in v.VIEWERS]
        cells.append(v.retention_text(kind.retention))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", "Where each is seen, and who may look there (`storage/rules/roles.py`):", ""]
    used = [p for p in v.PLACES if any(s.place is p for k in v.KINDS for s in k.shown)]
    lines += [f"- {p.label}: {_guard(p)}" for p in used]
    lines += ["", "\"named if shared\": with the person's name only if their team shares names with its "
              "principal; \"team figures\": counts, response rates and averages, never one person's answer; "
              "\"until the window closes\": an anonymous answer is its author's to change while the feedback "
              "window is open, then nobody can tell whose it is."]
    lines += [""] + [f"- {note}" for note in v.NOTES]
    return "\n".join(lines) + "\n"


def readme_section(readme: str) -> str | None:
    """The text between README's markers (None when they are missing)."""
    start, end = readme.find(README_START), readme.find(README_END)
    if start == -1 or end == -1 or end < start:
        return None
    return readme[start + len(README_START):end].strip("\n") + "\n"


def with_table(readme: str) -> str:
    """README with the generated table between its markers."""
    start, end = readme.find(README_START), readme.find(README_END)
    if start == -1 or end == -1 or end < start:
        raise ValueError(f"README has no {README_START} … {README_END} markers")
    return readme[:start + len(README_START)] + "\n" + markdown_table() + readme[end:]


# ------------------------------------------------------------------------------------ the page
# The page's facts are the core's view model (`storage.views.privacy`); these names are the ones
# this renderer and its tests have always used.
Caller = PrivacyPage
TeamInfo = PrivacyTeam


def viewers_of(*, facilitator: bool, principal: bool, admin: bool) -> tuple[v.Viewer, ...]:
    """The audiences someone belongs to, highest first."""
    out = []
    if admin:
        out.append(v.Viewer.ADMINS)
    if principal:
        out.append(v.Viewer.PRINCIPALS)
    if facilitator:
        out.append(v.Viewer.FACILITATORS)
    return tuple(out)


def _strong(name: str) -> str:
    return f"*{escape(clip(name, 60))}*"


def _names(items: list[str]) -> str:
    return names_list(items, _strong)


def _who_you_are(caller: Caller) -> str:
    return who_you_are(caller, _strong)


def _sight_text(seen: v.Sight, caller: Caller) -> str:
    """A sight in words, "named if shared" resolved for the caller's own teams."""
    if seen is not v.Sight.IF_SHARED or not caller.teams:
        return seen.sentence
    named = [t.name for t in caller.teams if t.shares_names]
    unnamed = [t.name for t in caller.teams if not t.shares_names]
    if not named:
        return f"{v.Sight.UNNAMED.sentence} (your team does not share names with its principal)"
    if not unnamed:
        return f"{v.Sight.NAMED.sentence} (your team shares names with its principal)"
    return f"{v.Sight.NAMED.sentence} in {_names(named)}, {v.Sight.UNNAMED.sentence} in {_names(unnamed)}"


def _count(kind: v.Kind, caller: Caller) -> str:
    """How many records of this kind name the caller, where that is counted."""
    if not caller.known:
        return ""
    if kind is v.ANONYMOUS_FEEDBACK:
        return " (none linked to you, by design)"
    if kind.key not in caller.counts:
        return ""
    n = caller.counts[kind.key]
    return f" ({n} about you)" if n else " (none about you)"


def audiences(viewers: list[v.Viewer]) -> str:
    """"Your team, your team's facilitators and your school's principals"."""
    names = [PAGE_VIEWERS[x] if i == 0 else PAGE_VIEWERS[x][:1].lower() + PAGE_VIEWERS[x][1:]
             for i, x in enumerate(viewers)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def kind_text(kind: v.Kind, caller: Caller) -> str:
    """One kind of record: what it is, who sees it and where, how long it is kept."""
    lines = [f"*{kind.label}*{_count(kind, caller)}: {kind.what}."]
    # Audiences that see the same, in the same places, share a line: shorter, and easier to compare.
    said: dict[str, list[v.Viewer]] = {}
    for viewer in v.VIEWERS:
        seen = v.sight(kind, viewer)
        if seen is v.Sight.NONE:
            continue
        where = "; ".join(PAGE_PLACES.get(s.label, s.label) for s in v.shown_for(kind, viewer))
        said.setdefault(f"{_sight_text(seen, caller)} — {where}", []).append(viewer)
    lines += [f"• *{audiences(viewers)}:* {what}" for what, viewers in said.items()]
    if all(v.sight(kind, x) is v.Sight.NONE for x in v.VIEWERS if x is not v.Viewer.YOU):
        lines.append("• Nobody else.")
    if kind.note:
        lines.append(kind.note.replace("PLCBOT_MIN_GROUP_SIZE", str(caller.min_group)))
    kept = v.retention_text(kind.retention, years=caller.retention_years, forget_days=caller.forget_days)
    lines.append(f"_{kept[:1].upper()}{kept[1:]}._")
    return "\n".join(lines)


def others_text(caller: Caller) -> str | None:
    """What the caller's own roles let them see of other people."""
    if not caller.viewers:
        return None
    lines = []
    for viewer in caller.viewers:
        seen = [f"{kind.label.lower()}: {v.sight(kind, viewer).short}" for kind in v.KINDS
                if v.sight(kind, viewer) is not v.Sight.NONE]
        lines.append(f"*As {AS_ROLE[viewer]}* you see others' " + "; ".join(seen) + ".")
    lines.append("The same rules apply to what is kept about you.")
    return "\n".join(lines)


def page(caller: Caller) -> tuple[str, list[dict[str, Any]]]:
    """The `/plc privacy` page: text for notifications and the blocks."""
    out: list[dict[str, Any]] = [bk.header("What plcbot keeps about you, and who sees it"),
                                 bk.section(_who_you_are(caller))]
    out += [bk.section(kind_text(kind, caller)) for kind in v.KINDS]
    others = others_text(caller)
    if others:
        out.append(bk.section(others))
    notes = [n.replace("`PLCBOT_MIN_GROUP_SIZE` answers", f"{caller.min_group} answers") for n in v.NOTES]
    out.append(bk.context("\n".join(notes)))
    out.append(bk.section(":inbox_tray: Get everything stored about you as a workbook, in your direct messages: "
                          "`/plc privacy export`."))
    text = "What plcbot keeps about you, and who sees it. `/plc privacy export` sends you all of it."
    return text, bk.fit(out, bk.MESSAGE_BLOCKS_MAX)


USAGE = "Use `/plc privacy` to see what plcbot keeps about you and who sees it, or `/plc privacy export` " \
        "to get all of it as a workbook in your direct messages."


def main(argv: list[str] | None = None) -> int:
    """Print README's table, or write it between README's markers (`--write-readme`)."""
    parser = argparse.ArgumentParser(prog="python -m bot.render.privacy", description=main.__doc__)
    parser.add_argument("--write-readme", metavar="README", nargs="?", const="README.md", default=None)
    args = parser.parse_args(argv)
    if args.write_readme is None:
        sys.stdout.write(markdown_table())
        return 0
    path = Path(args.write_readme)
    path.write_text(with_table(path.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"Wrote the privacy table into {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
