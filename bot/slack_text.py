"""What a person typed in Slack, read into plain data for the core: mentions become person ids,
message markup becomes words. Mentions are each front's own matter; `storage/rules` never sees them."""

from __future__ import annotations

import re
from datetime import date

from storage.rules.agenda import ACTION_USAGE, ActionRequest, RuleError, action_request, item_title

_LEADING_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>\s*")
_SLACK_MARKUP = re.compile(r"<([^<>]+)>")


def parse_action(text: str, *, today: date) -> ActionRequest:
    """Read `<@U123|name> what by DATE`; the date is optional, the owner is not."""
    raw = (text or "").strip()
    m = _LEADING_MENTION.match(raw)
    if not m:
        if raw.startswith("@"):
            raise RuleError(
                f"I couldn't tell who {raw.split()[0][:40]!r} is. Pick the person from Slack's @ list so "
                f"the name turns into a mention. Usage: {ACTION_USAGE}."
            )
        raise RuleError(f"Start with the owner's @mention. Usage: {ACTION_USAGE}.")
    return action_request(m[1], raw[m.end():], today=today)


def title_from_message(text: str, names: dict[str, str] | None = None) -> str:
    """An agenda title from a Slack message: mentions and links flattened to words, then shortened.

    Slack sends message text escaped (`&lt;`); it is unescaped here and escaped again on render,
    so a message reading `<!channel>` becomes the harmless words "@channel".
    """
    names = names or {}

    def flatten(m: re.Match[str]) -> str:
        target, _, label = m[1].partition("|")
        if target.startswith("@"):
            return "@" + (label or names.get(target[1:], "someone"))
        if target.startswith("#"):
            return "#" + (label or "channel")
        if target.startswith("!"):
            return "@" + (label or target[1:].split("^")[0])
        return label or target

    flat = " ".join(_SLACK_MARKUP.sub(flatten, text or "").split())
    flat = flat.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return item_title(flat)
