"""Block Kit size limits that Slack enforces, as pure functions.

The double rejects what Slack rejects, so a test that passes against the double proves
the bot never sends a payload Slack would refuse. Tests can call these directly too.
Numbers follow Slack's Block Kit reference and slack_sdk's model validators.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100
MESSAGE_TEXT_MAX = 40_000
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
SECTION_FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
ACTIONS_ELEMENTS_MAX = 25
CONTEXT_ELEMENTS_MAX = 10
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
URL_MAX = 3000
SELECT_OPTIONS_MAX = 100
OPTION_TEXT_MAX = 75
OPTION_DESCRIPTION_MAX = 75  # Slack refuses longer option descriptions (seen with checkboxes)
OPTION_VALUE_MAX = 150
CHOICE_OPTIONS_MAX = 10  # checkboxes, radio_buttons
OVERFLOW_OPTIONS_MAX = 5
PLACEHOLDER_MAX = 150
INPUT_LABEL_MAX = 2000
INPUT_HINT_MAX = 2000
PLAIN_TEXT_INPUT_MAX_LENGTH = 3000
ID_MAX = 255
VIEW_TITLE_MAX = 24
VIEW_PRIVATE_METADATA_MAX = 3000

SURFACES = ("message", "modal", "home")
_SELECTS = {"static_select", "multi_static_select"}
_CHOICES = {"checkboxes", "radio_buttons"}


def _text_of(obj: Any) -> str | None:
    """The string inside a text object (or a bare string), None when absent."""
    if obj is None:
        return None
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        value = obj.get("text")
        return value if isinstance(value, str) else None
    return None


def _check_len(out: list[str], where: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        out.append(f"{where}: {len(value)} characters, more than {limit}")


def _check_options(out: list[str], where: str, options: Any) -> None:
    for i, option in enumerate(options or []):
        if not isinstance(option, dict):
            out.append(f"{where}.options[{i}]: not an object")
            continue
        _check_len(out, f"{where}.options[{i}].text", _text_of(option.get("text")), OPTION_TEXT_MAX)
        _check_len(out, f"{where}.options[{i}].value", option.get("value"), OPTION_VALUE_MAX)
        if "description" in option:
            _check_len(out, f"{where}.options[{i}].description", _text_of(option.get("description")),
                       OPTION_DESCRIPTION_MAX)


def element_problems(element: Any, where: str) -> list[str]:
    """Problems of one interactive element (button, select, input...)."""
    out: list[str] = []
    if not isinstance(element, dict) or "type" not in element:
        return [f"{where}: element without a type"]
    kind = element["type"]
    _check_len(out, f"{where}.action_id", element.get("action_id"), ID_MAX)
    _check_len(out, f"{where}.placeholder", _text_of(element.get("placeholder")), PLACEHOLDER_MAX)
    if kind == "button":
        text = _text_of(element.get("text"))
        if not text:
            out.append(f"{where}: button without text")
        _check_len(out, f"{where}.text", text, BUTTON_TEXT_MAX)
        _check_len(out, f"{where}.value", element.get("value"), BUTTON_VALUE_MAX)
        _check_len(out, f"{where}.url", element.get("url"), URL_MAX)
    elif kind in _SELECTS:
        options = element.get("options") or []
        groups = element.get("option_groups") or []
        if len(options) > SELECT_OPTIONS_MAX:
            out.append(f"{where}: {len(options)} options, more than {SELECT_OPTIONS_MAX}")
        if len(groups) > SELECT_OPTIONS_MAX:
            out.append(f"{where}: {len(groups)} option groups, more than {SELECT_OPTIONS_MAX}")
        _check_options(out, where, options)
        for g, group in enumerate(groups):
            _check_options(out, f"{where}.option_groups[{g}]", (group or {}).get("options"))
    elif kind in _CHOICES:
        options = element.get("options") or []
        if len(options) > CHOICE_OPTIONS_MAX:
            out.append(f"{where}: {len(options)} options, more than {CHOICE_OPTIONS_MAX}")
        _check_options(out, where, options)
    elif kind == "overflow":
        options = element.get("options") or []
        if len(options) > OVERFLOW_OPTIONS_MAX:
            out.append(f"{where}: {len(options)} options, more than {OVERFLOW_OPTIONS_MAX}")
        _check_options(out, where, options)
    elif kind == "plain_text_input":
        max_length = element.get("max_length")
        if isinstance(max_length, int) and max_length > PLAIN_TEXT_INPUT_MAX_LENGTH:
            out.append(f"{where}.max_length: {max_length}, more than {PLAIN_TEXT_INPUT_MAX_LENGTH}")
    return out


def _section_problems(block: dict, where: str) -> list[str]:
    out: list[str] = []
    text = _text_of(block.get("text"))
    fields = block.get("fields") or []
    if not text and not fields:
        out.append(f"{where}: section needs text or fields")
    _check_len(out, f"{where}.text", text, SECTION_TEXT_MAX)
    if len(fields) > SECTION_FIELDS_MAX:
        out.append(f"{where}: {len(fields)} fields, more than {SECTION_FIELDS_MAX}")
    for i, field in enumerate(fields):
        _check_len(out, f"{where}.fields[{i}]", _text_of(field), SECTION_FIELD_TEXT_MAX)
    if block.get("accessory") is not None:
        out += element_problems(block["accessory"], f"{where}.accessory")
    return out


def _header_problems(block: dict, where: str) -> list[str]:
    text = _text_of(block.get("text"))
    if not text:
        return [f"{where}: header without text"]
    out: list[str] = []
    _check_len(out, f"{where}.text", text, HEADER_TEXT_MAX)
    return out


def _actions_problems(block: dict, where: str) -> list[str]:
    elements = block.get("elements") or []
    out: list[str] = []
    if not elements:
        out.append(f"{where}: actions block without elements")
    if len(elements) > ACTIONS_ELEMENTS_MAX:
        out.append(f"{where}: {len(elements)} elements, more than {ACTIONS_ELEMENTS_MAX}")
    for i, element in enumerate(elements):
        out += element_problems(element, f"{where}.elements[{i}]")
    out += _duplicate_action_ids(elements, where)
    return out


def _context_problems(block: dict, where: str) -> list[str]:
    elements = block.get("elements") or []
    if len(elements) > CONTEXT_ELEMENTS_MAX:
        return [f"{where}: {len(elements)} elements, more than {CONTEXT_ELEMENTS_MAX}"]
    return []


def _input_problems(block: dict, where: str) -> list[str]:
    out: list[str] = []
    label = _text_of(block.get("label"))
    if not label:
        out.append(f"{where}: input without label")
    _check_len(out, f"{where}.label", label, INPUT_LABEL_MAX)
    _check_len(out, f"{where}.hint", _text_of(block.get("hint")), INPUT_HINT_MAX)
    if block.get("element") is None:
        out.append(f"{where}: input without element")
    else:
        out += element_problems(block["element"], f"{where}.element")
    return out


def _image_problems(block: dict, where: str) -> list[str]:
    out: list[str] = []
    _check_len(out, f"{where}.image_url", block.get("image_url"), URL_MAX)
    _check_len(out, f"{where}.alt_text", block.get("alt_text"), 2000)
    return out


_BLOCK_CHECKS = {
    "section": _section_problems,
    "header": _header_problems,
    "actions": _actions_problems,
    "context": _context_problems,
    "input": _input_problems,
    "image": _image_problems,
}


def _duplicate_action_ids(elements: Iterable[Any], where: str) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for element in elements:
        action_id = element.get("action_id") if isinstance(element, dict) else None
        if action_id is None:
            continue
        if action_id in seen:
            out.append(f"{where}: duplicate action_id {action_id!r}")
        seen.add(action_id)
    return out


def problems(blocks: Any, *, surface: str = "message") -> list[str]:
    """Every reason Slack would refuse these blocks on this surface ("message", "modal", "home").

    An empty list means Slack would accept them (as far as the double knows).
    """
    if surface not in SURFACES:
        raise ValueError(f"surface must be one of {SURFACES}, not {surface!r}")
    if blocks is None:
        return []
    if not isinstance(blocks, list):
        return ["blocks: not a list"]
    out: list[str] = []
    limit = MESSAGE_MAX_BLOCKS if surface == "message" else VIEW_MAX_BLOCKS
    if len(blocks) > limit:
        out.append(f"blocks: {len(blocks)} blocks, more than {limit} allowed in a {surface}")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"blocks[{i}]"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            out.append(f"{where}: block without a type")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            _check_len(out, f"{where}.block_id", block_id, ID_MAX)
            if block_id in block_ids:
                out.append(f"{where}: duplicate block_id {block_id!r}")
            block_ids.add(block_id)
        check = _BLOCK_CHECKS.get(block["type"])
        if check is not None:
            out += check(block, where)
    return out


def message_problems(text: Any, blocks: Any) -> list[str]:
    """Problems of a message body: its blocks, plus the 40,000-character text limit."""
    out = problems(blocks, surface="message")
    if isinstance(text, str) and len(text) > MESSAGE_TEXT_MAX:
        out.append(f"text: {len(text)} characters, more than {MESSAGE_TEXT_MAX}")
    return out


def view_problems(view: Any) -> list[str]:
    """Problems of a modal or Home tab view (Slack answers these with invalid_arguments)."""
    if not isinstance(view, dict):
        return ["view: not an object"]
    kind = view.get("type")
    if kind not in ("modal", "home"):
        return [f"view.type: must be modal or home, not {kind!r}"]
    out = problems(view.get("blocks") or [], surface=kind)
    _check_len(out, "view.private_metadata", view.get("private_metadata"), VIEW_PRIVATE_METADATA_MAX)
    _check_len(out, "view.callback_id", view.get("callback_id"), ID_MAX)
    _check_len(out, "view.external_id", view.get("external_id"), ID_MAX)
    if kind == "modal":
        title = _text_of(view.get("title"))
        if not title:
            out.append("view.title: a modal needs a title")
        for key in ("title", "submit", "close"):
            _check_len(out, f"view.{key}", _text_of(view.get(key)), VIEW_TITLE_MAX)
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or [])
        if has_input and not _text_of(view.get("submit")):
            out.append("view.submit: a modal with input blocks needs a submit button")
    return out
