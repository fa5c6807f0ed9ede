"""Pure builders for meeting feedback: the modal, the channel prompt and the results."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot.render import blocks as bk
from bot.render.mrkdwn import clip, escape, user
from storage.rules import feedback as rules
from storage.views.feedback import FeedbackPrompt
from storage.views.feedback_actions import day_label, meeting_label

CALLBACK_SUBMIT = "feedback_submit"  # the request log omits the user for callbacks named feedback*
ACTION_OPEN = "feedback_open"
VALUE = "value"  # the action id inside every input block; the block id is the question key
ANONYMOUS_BLOCK = "anonymous"
PROMPT_TEXT = "How was today's meeting?"


def _rating_options(q: rules.Question) -> list[dict[str, Any]]:
    names = {rules.RATING_MIN: q.low, rules.RATING_MAX: q.high}
    out = []
    for n in range(rules.RATING_MIN, rules.RATING_MAX + 1):
        label = f"{n} · {names[n]}" if names.get(n) else str(n)
        out.append(bk.option(label, str(n)))
    return out


def _input(q: rules.Question, previous: Mapping[str, Any] | None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "input", "block_id": q.key, "label": bk.plain(q.label, 2000),
                             "optional": not q.required}
    old = (previous or {}).get(q.key)
    if q.kind == "rating":
        options = _rating_options(q)
        element: dict[str, Any] = {"type": "radio_buttons", "action_id": VALUE, "options": options}
        chosen = [o for o in options if old and o["value"] == str(old)]
        if chosen:
            element["initial_option"] = chosen[0]
    else:
        element = {"type": "plain_text_input", "action_id": VALUE, "multiline": True,
                   "max_length": q.max_length}
        if q.placeholder:
            element["placeholder"] = bk.plain(q.placeholder, 150)
        if old:
            element["initial_value"] = str(old)[: q.max_length]
        if q.hint:
            block["hint"] = bk.plain(q.hint, 2000)
    block["element"] = element
    return block


def feedback_modal(
    *, meeting_id: int, meeting: str, closes: str, previous: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The feedback form; `previous` (question key → value, plus "anonymous") fills it again."""
    intro = f"Feedback on *{escape(meeting)}*. Takes under a minute. Open until {escape(closes)}."
    out: list[dict[str, Any]] = [bk.section(intro)]
    if previous:
        out.append(bk.context(":pencil2: This is the answer you gave; sending again replaces it."))
    out += [_input(q, previous) for q in rules.QUESTIONS]
    option = {
        "text": bk.plain("Submit anonymously"),
        "value": "yes",
        "description": bk.plain("Your name is not stored with this answer."),  # Slack: at most 75
    }
    element: dict[str, Any] = {"type": "checkboxes", "action_id": VALUE, "options": [option]}
    if previous and previous.get("anonymous"):
        element["initial_options"] = [option]
    out.append({"type": "input", "block_id": ANONYMOUS_BLOCK, "optional": True,
                "label": bk.plain("Anonymous?"), "element": element,
                "hint": bk.plain("You can change it until the window closes; after that nobody, "
                                 "the bot included, can tell it is yours.")})
    return bk.modal(title="Meeting feedback", blocks=out, callback_id=CALLBACK_SUBMIT, submit="Send",
                    close="Cancel", private_metadata=json.dumps({"meeting_id": meeting_id}))


def thanks_modal(*, anonymous: bool, closes: str) -> dict[str, Any]:
    how = "anonymously: your name is not stored with it" if anonymous else "with your name"
    text = (f":white_check_mark: Thank you! Your feedback is saved {how}.\n"
            f"You can change it until {escape(closes)} with `/plc feedback` or the button again.")
    return bk.modal(title="Meeting feedback", blocks=[bk.section(text)], callback_id="feedback_done",
                    submit=None, close="Close")


def notice_modal(text: str) -> dict[str, Any]:
    """A modal that only says something (the window closed while the form was open)."""
    return bk.modal(title="Meeting feedback", blocks=[bk.section(text)], callback_id="feedback_notice",
                    submit=None, close="Close")


def feedback_prompt(view: FeedbackPrompt) -> tuple[str, list[dict[str, Any]]]:
    """The prompt, its times shown in the team's zone."""
    return prompt_message(meeting_id=view.meeting_id, meeting=meeting_label(view.title, view.starts_at, view.timezone),
                          closes=day_label(view.closes_at, view.timezone))


def prompt_message(*, meeting_id: int, meeting: str, closes: str) -> tuple[str, list[dict[str, Any]]]:
    """The channel post at the end of a meeting, with the same button agendas carry."""
    out = [
        bk.section(f"*{PROMPT_TEXT}*\nTell the team how *{escape(meeting)}* went and what you need next."),
        bk.actions(bk.button("Give feedback", ACTION_OPEN, value=str(meeting_id), style="primary"),
                   block_id="feedback_prompt"),
        bk.context(f"Under a minute · you may answer anonymously · open until {escape(closes)}"),
    ]
    return f"{PROMPT_TEXT} Give feedback on {escape(meeting)}.", out


def _stars(average: float) -> str:
    return f"{average:.1f} / 5"


def _bullets(title: str, lines: list[str]) -> list[dict[str, Any]]:
    """A titled list split over sections so none passes Slack's 3,000 characters."""
    out: list[dict[str, Any]] = []
    chunk = [f"*{title}*"]
    for line in lines:
        line = clip(line, 900)
        if sum(len(x) + 1 for x in chunk) + len(line) > 2800:
            out.append(bk.section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    out.append(bk.section("\n".join(chunk)))
    return out


def results_blocks(*, meeting: str, summary: rules.Summary) -> tuple[str, list[dict[str, Any]]]:
    """What a facilitator sees: counts, figures (only for groups big enough), comments, topics."""
    anon = f" ({summary.anonymous} anonymous)" if summary.anonymous else ""
    noun = "answer" if summary.count == 1 else "answers"
    out: list[dict[str, Any]] = [
        bk.header(clip(f"Feedback: {meeting}", bk.HEADER_MAX)),
        bk.section(f"*{summary.count} {noun}*{anon}"),
    ]
    text = f"Feedback on {escape(meeting)}: {summary.count} {noun}"
    if summary.count == 0:
        out.append(bk.context("Nobody has answered yet."))
        return text, out
    if summary.figures_shown:
        lines = []
        for qf in summary.questions:
            if qf.average is None:
                continue
            dist = "  ".join(f"{n}: {c}" for n, c in zip(range(1, 6), qf.distribution, strict=True))
            lines.append(f"*{escape(rules.QUESTION[qf.key].label)}*\n{_stars(qf.average)}   ({dist})")
        out += [bk.section(line) for line in lines]
        levels = []
        for lf in summary.levels:
            if lf.average is not None:
                levels.append(f"*{rules.level_label(lf.level)}*\n{_stars(lf.average)}")
            elif lf.answered is not None:
                levels.append(f"*{rules.level_label(lf.level)}*\n{lf.answered} of {summary.count} answered")
        if levels:
            out.append(bk.section("*By evaluation level*"))
            out.append(bk.fields(levels))
    else:
        out.append(bk.section(
            f":lock: Averages are hidden: {summary.withheld}. They appear once "
            f"{summary.threshold} people have answered, so no one's rating can be singled out."
        ))
    for q in rules.TEXTS:
        if q.topic:
            continue
        lines = [
            f"• {escape(c.text)}" + (f" — {user(c.name)}" if c.name else "")
            for c in summary.comments if c.question == q.key
        ]
        if lines:
            out += _bullets(escape(q.label), lines)
    if summary.topics:
        out += _bullets("Asked for next time (goes on the next agenda)", [f"• {escape(t)}" for t in summary.topics])
    out.append(bk.context("Anonymous answers are shown without names, in no particular order."))
    return text, bk.fit(out, bk.MESSAGE_BLOCKS_MAX)
