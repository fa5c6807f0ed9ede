"""Small Block Kit constructors that respect Slack's limits (see FIELD-NOTES.md)."""

from __future__ import annotations

from typing import Any

from bot.render.mrkdwn import clip

Block = dict[str, Any]

SECTION_TEXT_MAX = 3000
HEADER_MAX = 150
BUTTON_TEXT_MAX = 75
MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
MODAL_TITLE_MAX = 24
OPTION_TEXT_MAX = 75


def plain(text: str, limit: int = SECTION_TEXT_MAX) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit) or " ", "emoji": True}


def md(text: str, limit: int = SECTION_TEXT_MAX) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text, limit) or " "}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, HEADER_MAX)}


def section(text: str, *, accessory: dict[str, Any] | None = None, block_id: str | None = None) -> Block:
    block: Block = {"type": "section", "text": md(text)}
    if accessory is not None:
        block["accessory"] = accessory
    if block_id is not None:
        block["block_id"] = block_id
    return block


def fields(items: list[str]) -> Block:
    return {"type": "section", "fields": [md(item, 2000) for item in items[:10]]}


def context(text: str) -> Block:
    return {"type": "context", "elements": [md(text)]}


def divider() -> Block:
    return {"type": "divider"}


def button(
    text: str, action_id: str, *, value: str | None = None, style: str | None = None,
    url: str | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "button", "text": plain(text, BUTTON_TEXT_MAX), "action_id": action_id}
    if value is not None:
        element["value"] = value[:2000]
    if style in ("primary", "danger"):
        element["style"] = style
    if url is not None:
        element["url"] = url
    return element


def actions(*elements: dict[str, Any], block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements)[:25]}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def option(text: str, value: str) -> dict[str, Any]:
    return {"text": plain(text, OPTION_TEXT_MAX), "value": value[:150]}


def fit(blocks: list[Block], limit: int, *, more: str = "… and {n} more") -> list[Block]:
    """Keep a list of blocks within `limit`, replacing the overflow with one context line."""
    if len(blocks) <= limit:
        return blocks
    kept = blocks[: limit - 1]
    return [*kept, context(more.format(n=len(blocks) - len(kept)))]


def modal(
    *, title: str, blocks: list[Block], callback_id: str, submit: str | None = "Save",
    close: str = "Cancel", private_metadata: str = "", external_id: str | None = None,
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, MODAL_TITLE_MAX),
        "close": plain(close, MODAL_TITLE_MAX),
        "blocks": fit(blocks, VIEW_BLOCKS_MAX),
        "private_metadata": private_metadata[:3000],
    }
    if submit:
        view["submit"] = plain(submit, MODAL_TITLE_MAX)
    if external_id:
        view["external_id"] = external_id
    return view


def loading_modal(title: str, callback_id: str = "plc_loading") -> dict[str, Any]:
    """Opened at once so the 3-second trigger_id is used; filled later by views.update."""
    return modal(title=title, blocks=[section(":hourglass_flowing_sand: Loading…")],
                 callback_id=callback_id, submit=None, close="Close")
