"""The few Adaptive Card 1.5 pieces the Teams cards are built from, and the escaping of user text.

Pure: plain data in, dicts out; no Teams package is imported (the SDK's card models are not
needed to write JSON, and keeping them out keeps these builders cheap to test).

**User text.** Adaptive Cards render a Markdown subset in TextBlock and Fact values (bold, italic,
lists, links) and Teams turns `<at>…</at>` into mentions when the activity carries a matching
entity. Backslash escapes are not honoured the same way on every Teams client (Android and iOS
show the backslash: MicrosoftDocs/msteams-docs#5793), so `md()` replaces each markup character in
what people wrote with a look-alike that carries no meaning (`*` → `∗`, `_` → `ˍ`, `[` → `［`,
`<` → `‹`, a line-leading `#`, `-`, `+` or `1.` likewise). Words stay readable, nothing formats,
links or mentions. The bot emits no mention entities at all: people are plain bold names, so no
card can ping anyone, let alone everyone.

**Size.** Teams refuses a message over about 28 KB. Lists that grow with the data (agenda items,
teams in a digest, comments) are cut by `fit()` to a byte budget, measured on the serialised JSON,
with an "…and N more" line, like the Slack renderer's block limits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from storage.views import Offer

Element = dict[str, Any]
Names = Callable[[str], str]  # a person id -> the name to show (the Teams front passes its own)

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
MESSAGE_LIMIT = 28_000  # bytes of the whole activity: Teams' "about 28 KB", with room to spare
CARD_BUDGET = 24_000  # what a card's own lists may use; the rest is fixed text and the activity
FORGOTTEN_PREFIX = "forgotten-"  # storage.personal_data.TOKEN_PREFIX: an erased person's stand-in id
ADAPTIVE = "application/vnd.microsoft.card.adaptive"

_INLINE = str.maketrans({
    "*": "\u2217",  # ∗ asterisk operator
    "_": "\u02cd",  # ˍ modifier letter low macron
    "[": "\uff3b", "]": "\uff3d",  # ［ ］
    "`": "\u02cb",  # ˋ
    "<": "\u2039", ">": "\u203a",  # ‹ ›
    "\\": "\uff3c",  # ＼
    "~": "\u223c",  # ∼
})
_LINE_START = re.compile(r"^(\s*)(#|-|\+|\d+[.)])", re.MULTILINE)
_LEADING = {"#": "\uff03", "-": "\u2010", "+": "\uff0b"}
_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")


def _lead(match: re.Match[str]) -> str:
    space, mark = match.group(1), match.group(2)
    if mark in _LEADING:
        return space + _LEADING[mark]
    return space + mark[:-1] + ("\u2024" if mark.endswith(".") else "\uff09")  # 1․ or 1）


def md(text: str | None) -> str:
    """User text made inert for a TextBlock or Fact: no bold, links, lists, headings, HTML or mentions."""
    out = (text or "").translate(_INLINE)
    out = _ENTITY.sub("\uff06", out)
    return _LINE_START.sub(_lead, out)


def zone(name: str) -> str:
    """A time zone's name as people read it (`America/New York`): its `_` would otherwise show as `ˍ`."""
    return md(name.replace("_", " "))


def clip(text: str, limit: int, *, suffix: str = "…") -> str:
    return text if len(text) <= limit else text[: max(0, limit - len(suffix))].rstrip() + suffix


def plain_names(person_id: str) -> str:
    """The default resolver: the id itself (the Teams front passes one that gives display names)."""
    return person_id


def person(person_id: str | None, names: Names, *, nobody: str = "nobody yet") -> str:
    """A person as bold text (never a mention); an erased person reads "a former member"."""
    if not person_id:
        return f"_{nobody}_"
    if person_id.startswith(FORGOTTEN_PREFIX):
        return "a former member"
    return f"**{md(clip(names(person_id), 80))}**"


def people(ids: Sequence[str], names: Names, *, limit: int = 8) -> str:
    shown = [person(p, names) for p in ids[:limit]]
    if len(ids) > limit:
        shown.append(f"{len(ids) - limit} more")
    return ", ".join(shown) if shown else "nobody"


def safe_url(url: str | None) -> str | None:
    """An http(s) URL fit for a Markdown link target, or None (anything else is not linked)."""
    if not url:
        return None
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return quote(url, safe=":/?#=&%+@,;!$'*.-~")


# ------------------------------------------------------------------------------------- elements
def card(body: list[Element], actions: Iterable[Element] = ()) -> Element:
    out: Element = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "body": body}
    acts = list(actions)
    if acts:
        out["actions"] = acts
    return out


def text(value: str, **options: Any) -> Element:
    """A TextBlock that wraps; `value` must already be escaped where people wrote it."""
    return {"type": "TextBlock", "text": value, "wrap": True, **options}


def heading(value: str, **options: Any) -> Element:
    return text(value, style="heading", size="Medium", weight="Bolder", **options)


def subtle(value: str, **options: Any) -> Element:
    return text(value, isSubtle=True, size="Small", **options)


def facts(pairs: Iterable[tuple[str, str]], **options: Any) -> Element:
    return {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in pairs], **options}


def container(items: list[Element], style: str | None = None, **options: Any) -> Element:
    out: Element = {"type": "Container", "items": items, **options}
    if style:
        out["style"] = style
    return out


def columns(*cols: tuple[list[Element], str], **options: Any) -> Element:
    """A ColumnSet: each column its items and width ("auto", "stretch" or a weight)."""
    return {"type": "ColumnSet", "columns": [{"type": "Column", "width": w, "items": items} for items, w in cols],
            **options}


def _ids(value: str, id_key: str | None) -> dict[str, Any]:
    if id_key is None:
        return {}
    return {id_key: int(value) if value.isdigit() else value}


def execute(title: str, offer: Offer, *, id_key: str | None = None) -> Element:
    """A button that acts in place: `Action.Execute`, verb and `data["action"]` = the offer's name
    (the SDK routes `on_card_action_execute(name)` on `data["action"]`), its value and id."""
    action: Element = {"type": "Action.Execute", "title": title, "verb": offer.name,
                       "data": {"action": offer.name, "value": offer.value, **_ids(offer.value, id_key)}}
    if offer.primary:
        action["style"] = "positive"
    return action


def open_dialog(title: str, offer: Offer, dialog: str, *, id_key: str | None = None) -> Element:
    """A button that opens a form as a Teams dialog: `Action.Submit` with `msteams.type = task/fetch`.

    Teams opens a dialog only from a `task/fetch` invoke; an `Action.Execute` click is an
    `adaptiveCard/action` invoke whose answer can replace the card or say something, never open
    a dialog. The SDK routes `on_dialog_open(dialog_id)` on `data["dialog_id"]` (its own
    `OpenDialogData` builds the same payload); `action` and the id say which offer and record.
    """
    action: Element = {"type": "Action.Submit", "title": title,
                       "data": {"msteams": {"type": "task/fetch"}, "dialog_id": dialog, "action": offer.name,
                                "value": offer.value, **_ids(offer.value, id_key)}}
    if offer.primary:
        action["style"] = "positive"
    return action


def submit(title: str, action: str, **data: Any) -> Element:
    """A dialog's submit button: `Action.Submit` (inside a dialog it sends `task/submit`, which the
    SDK routes `on_dialog_submit(action)` on `data["action"]`)."""
    return {"type": "Action.Submit", "title": title, "style": "positive", "data": {"action": action, **data}}


# ------------------------------------------------------------------------------------- size
def size(element: Any) -> int:
    """Bytes of `element` as JSON, non-ASCII escaped (the largest a client can send it as)."""
    return len(json.dumps(element).encode("utf-8"))


def activity(card_content: Element, text_value: str = "") -> Element:
    """The message a card travels in: what Teams' 28 KB limit applies to."""
    out: Element = {"type": "message", "attachments": [{"contentType": ADAPTIVE, "content": card_content}]}
    if text_value:
        out["summary"] = text_value
    return out


def fit(elements: Sequence[Element], budget: int, noun: str) -> list[Element]:
    """As many of `elements` as fit in `budget` bytes (at least one), then "…and N more `noun`"."""
    out: list[Element] = []
    used = 0
    for element in elements:
        cost = size(element) + 2
        if out and used + cost > budget:
            break
        out.append(element)
        used += cost
    left = len(elements) - len(out)
    if left:
        out.append(subtle(f"…and {left} more {noun}"))
    return out


def lines_fit(lines: Sequence[str], budget: int, noun: str, *, sep: str = "\n") -> str:
    """Lines joined while they fit `budget` bytes, then "…and N more `noun`"."""
    out: list[str] = []
    used = 0
    for line in lines:
        cost = size(line) + 2
        if out and used + cost > budget:
            break
        out.append(line)
        used += cost
    left = len(lines) - len(out)
    if left:
        out.append(f"…and {left} more {noun}")
    return sep.join(out)


def facts_fit(pairs: Sequence[tuple[str, str]], budget: int, noun: str, *, shown: int | None = None) -> list[Element]:
    """A FactSet of the `pairs` that fit `budget` bytes (at most `shown`), then "…and N more `noun`"."""
    kept: list[tuple[str, str]] = []
    used = 0
    for pair in pairs[:shown]:
        cost = size({"title": pair[0], "value": pair[1]}) + 2
        if kept and used + cost > budget:
            break
        kept.append(pair)
        used += cost
    out = [facts(kept)]
    left = len(pairs) - len(kept)
    if left:
        out.append(subtle(f"…and {left} more {noun}"))
    return out
