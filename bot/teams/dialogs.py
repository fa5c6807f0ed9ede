"""Dialog cards the invokes need beyond `bot.teams.cards`, and a form shown again with its errors.

Adaptive Cards show an input's `errorMessage` only for the client's own checks (required, length,
a number); a refusal from the server comes back as the same dialog, filled with what was typed,
with the message in red under the field it is about (or at the top when it is about the form).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from bot.teams.card_kit import Element, card, clip, container, heading, md, submit, subtle, text

REFLECTION_SUBMIT = "cycle_reflection_submit"
ADD_ITEM_SUBMIT = "agenda_add_item_submit"
NORMS_DIALOG = "norms_edit"
NORMS_SUBMIT = "norms_edit_submit"
SCHOOL_DIALOG = "school_edit"
SCHOOL_SUBMIT = "school_edit_submit"
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
REACHED_CHOICES = (("yes", "Yes, we reached it"), ("partly", "Partly"), ("no", "Not yet"))


def _error(message: str) -> Element:
    return text(md(clip(message, 500)), color="Attention", size="Small", spacing="None")


def _fill(element: Element, typed: str) -> None:
    kind = element.get("type")
    if kind == "Input.Number":
        try:
            element["value"] = float(typed)
        except ValueError:
            element.pop("value", None)
        return
    if kind == "Input.ChoiceSet":
        allowed = {c.get("value") for c in element.get("choices") or []}
        if typed in allowed:
            element["value"] = typed
        else:
            element.pop("value", None)
        return
    if kind == "Input.Toggle":
        element["value"] = typed if typed in (element.get("valueOn"), element.get("valueOff")) else \
            element.get("valueOff", "false")
        return
    limit = element.get("maxLength")
    element["value"] = typed[:limit] if isinstance(limit, int) else typed


def with_errors(form: Element, errors: Mapping[str, str], typed: Mapping[str, str]) -> Element:
    """`form` again: each input filled with what was typed, each error under its field (an error
    for a field the form does not have, or for "", at the top)."""
    out = copy.deepcopy(form)
    body: list[Element] = []
    placed: set[str] = set()
    for element in out.get("body") or []:
        body.append(element)
        key = element.get("id")
        if isinstance(key, str) and str(element.get("type", "")).startswith("Input."):
            if key in typed:
                _fill(element, typed[key])
            if key in errors:
                body.append(_error(errors[key]))
                placed.add(key)
    loose = [message for key, message in errors.items() if key not in placed]
    if loose:
        top = container([text("⚠️ **Nothing was saved.** " + md(clip(" ".join(loose), 800)))], style="attention")
        body.insert(1 if body else 0, top)
    elif errors:
        body.insert(1 if body else 0, container([text("⚠️ **Nothing was saved.** Please fix what is marked below.")],
                                                style="attention"))
    out["body"] = body
    return out


def reflection_form(form: Any) -> tuple[str, Element]:
    """The reflection dialog (`handlers.core.cycles.ReflectionForm`): reached?, the final data point,
    what the team learned, what next."""
    mean = f" (last week's mean: {form.last_mean:g})" if form.last_mean is not None else ""
    body: list[Element] = [
        heading(f"Reflection: {md(clip(form.title, 150))}"),
        subtle("The team's answers close the cycle; the team's place sees them."),
        {"type": "Input.ChoiceSet", "id": "target_reached", "label": "Did the team reach the target?",
         "style": "expanded", "isRequired": True, "errorMessage": "Say whether the team reached the target.",
         "choices": [{"title": t, "value": v} for v, t in REACHED_CHOICES]},
        {"type": "Input.Number", "id": "final_value", "label": f"Final data point: {clip(form.metric_name, 100)}"
                                                                f"{mean}",
         "errorMessage": "Give the final data point as a number, like 74."},
        {"type": "Input.Text", "id": "learned", "label": "What did the team learn?", "isMultiline": True,
         "isRequired": True, "maxLength": 3000, "errorMessage": "Write a line or two (under 3,000 characters)."},
        {"type": "Input.Text", "id": "next_steps", "label": "What next?", "isMultiline": True, "maxLength": 3000,
         "errorMessage": "Keep this under 3,000 characters."},
    ]
    return (f"Reflection: {clip(form.title, 40)}",
            card(body, [submit("Save and close the cycle", REFLECTION_SUBMIT, cycle_id=form.cycle_id)]))


def add_item_form(form: Any) -> tuple[str, Element]:
    """"Add an item" (`handlers.core.agenda.ItemAddForm`): title, minutes, a link, the expected outcome.
    The person who adds it leads it."""
    from storage.rules.agenda import ITEM_MINUTES_MAX, ITEM_OUTCOME_MAX, ITEM_TITLE_MAX

    body: list[Element] = [
        heading("Add an agenda item"),
        subtle(f"For the meeting of {md(clip(form.when, 100))}. You lead the item."),
        {"type": "Input.Text", "id": "title", "label": "Item", "isRequired": True, "maxLength": ITEM_TITLE_MAX,
         "errorMessage": f"Give the item a title (under {ITEM_TITLE_MAX} characters)."},
        {"type": "Input.Number", "id": "minutes", "label": "Minutes", "min": 1, "max": ITEM_MINUTES_MAX, "value": 5,
         "errorMessage": f"Give between 1 and {ITEM_MINUTES_MAX} minutes."},
        {"type": "Input.Text", "id": "link", "label": "Link (optional)", "style": "Url", "maxLength": 500,
         "errorMessage": "A web address starting with https://"},
        {"type": "Input.Text", "id": "outcome", "label": "Expected outcome (optional)", "isMultiline": True,
         "maxLength": ITEM_OUTCOME_MAX, "errorMessage": f"Keep it under {ITEM_OUTCOME_MAX} characters."},
    ]
    return "Add an agenda item", card(body, [submit("Add", ADD_ITEM_SUBMIT, meeting_id=form.meeting_id)])


def norms_form(*, team_id: int, team_name: str, norms: list[str]) -> tuple[str, Element]:
    """"Edit norms": one norm a line, prefilled with the current ones (as Slack's modal)."""
    from storage.rules.agenda import MAX_NORMS, NORM_MAX_LEN

    body: list[Element] = [
        heading(f"Norms of {md(clip(team_name, 100))}"),
        subtle("Norms are the team's own agreements. Write one per line, in the order you want them; delete a "
               "line to remove a norm. Everyone is asked to commit again after a change."),
        {"type": "Input.Text", "id": "norms", "label": "Our norms", "isMultiline": True, "maxLength": 3000,
         "value": "\n".join(norms)[:3000],
         "placeholder": f"At most {MAX_NORMS} norms, each under {NORM_MAX_LEN} characters.",
         "errorMessage": f"At most {MAX_NORMS} norms, each under {NORM_MAX_LEN} characters."},
    ]
    return "Edit norms", card(body, [submit("Save", NORMS_SUBMIT, team_id=team_id)])


def school_form(school: Any, *, default_hours: str) -> tuple[str, Element]:
    """"School settings": Slack's settings modal's fields (`bot.render.teams.school_modal`), ids named
    as the core names them (`handlers.core.schools.SETTINGS_FIELDS`), prefilled with what is stored."""
    body: list[Element] = [
        heading(f"Settings of {md(clip(school.name, 100))}"),
        {"type": "Input.Text", "id": "timezone", "label": "Time zone", "isRequired": True, "maxLength": 64,
         "value": clip(school.timezone, 64), "placeholder": "America/Chicago",
         "errorMessage": "Give a time zone such as America/Chicago."},
        {"type": "Input.Toggle", "id": "self_service", "title": "Anyone may set up this school's first team",
         "label": "Self-service", "valueOn": "true", "valueOff": "false",
         "value": "true" if school.self_service else "false"},
        {"type": "Input.ChoiceSet", "id": "digest_weekday", "label": "Digest day", "style": "compact",
         "isRequired": True, "errorMessage": "Pick a day of the week.",
         "choices": [{"title": name, "value": str(i)} for i, name in enumerate(DAY_NAMES)],
         "value": str(school.digest_weekday % 7)},
        {"type": "Input.Time", "id": "digest_time", "label": "Digest time", "isRequired": True,
         "value": school.digest_time, "errorMessage": "Pick a time such as 07:00."},
        {"type": "Input.Text", "id": "school_hours", "label": "School hours (optional)", "maxLength": 64,
         "value": school.school_hours or "", "placeholder": "Mon-Fri 07:00-18:00",
         "errorMessage": "Keep it under 64 characters, like Mon-Fri 07:00-18:00."},
        subtle(f"Leave the school hours empty for the district default ({md(clip(default_hours, 64))}). "
               "Nothing is sent outside these hours."),
    ]
    return "School settings", card(body, [submit("Save", SCHOOL_SUBMIT, school_id=school.id)])
