"""A person's own data as a workbook (`/plc privacy export`, `plcbot privacy export`), and the
message that comes with it.

The sheets follow `storage.personal_data.SHEETS`; cells go through the digest workbook's
writer (`bot.render.workbook.DigestWorkbook`), so text stays text (a note starting with "="
is never a formula), control characters are cleaned, headers are frozen and filtered, and
dates are real dates. Anonymous feedback is not in it, and the first sheet says why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from bot.render.blocks import section
from bot.render.mrkdwn import clip, escape
from bot.render.workbook import Column, DigestWorkbook
from bot.render.workbook import cols as _cols
from storage.rules.cycles import PROGRESS_LABELS

if TYPE_CHECKING:
    from storage.personal_data import PersonalData

ANONYMOUS_NOTE = (
    "Anonymous feedback is not in this workbook. An anonymous answer is stored without your name; "
    "while its feedback window is open only a one-way keyed code lets you change it, and when the "
    "window closes that code is deleted. By design the bot then cannot tell which anonymous answers "
    "are yours, so it cannot hand them over."
)


# "Stored" holds text and, for "Known to the bot since" and "Exported at", real dates.
ABOUT = (Column("About you", 26), Column("Stored", 60, "datetime", wrap=True))
COLUMNS: dict[str, tuple[Column, ...]] = {
    "Teams and roles": _cols(("School", 24, "text"), ("Team", 22, "text"), ("Role", 14, "text"),
                             ("Current", 9, "text"), ("Since", 17, "datetime"), ("Until", 17, "datetime")),
    "Check-ins": _cols(("School", 24, "text"), ("Team", 22, "text"), ("Cycle", 24, "text"), ("Cycle week", 8, "int"),
                       ("Check-in day", 12, "date"), ("Status", 10, "text"), ("Progress", 14, "text"),
                       ("Data point", 10, "num"), ("Unit", 8, "text"), ("Evidence", 50, "long"),
                       ("Support wanted", 50, "long"), ("Answered at", 17, "datetime")),
    "Support requests": _cols(("School", 24, "text"), ("Team", 22, "text"), ("Cycle", 24, "text"),
                              ("Cycle week", 8, "int"), ("State", 14, "text"), ("Asked at", 17, "datetime"),
                              ("Followed up by", 22, "text"), ("Resolved at", 17, "datetime"),
                              ("What would help", 50, "long")),
    "Named feedback": _cols(("School", 24, "text"), ("Team", 22, "text"), ("Meeting", 17, "datetime"),
                            ("Answered on", 12, "date"), ("Useful (1-5)", 10, "int"), ("Learned (1-5)", 10, "int"),
                            ("Norms & support (1-5)", 12, "int"), ("What I will try", 40, "long"),
                            ("Student evidence", 40, "long"), ("Next focus", 34, "long")),
    "Action items": _cols(("School", 24, "text"), ("Team", 22, "text"), ("Action item", 50, "long"),
                          ("Your part", 22, "text"), ("Owner", 22, "text"), ("Due", 12, "date"),
                          ("Status", 9, "text"), ("Created", 17, "datetime"), ("Done", 17, "datetime")),
    "Norm commitments": _cols(("School", 24, "text"), ("Team", 22, "text"), ("Norms version", 10, "int"),
                              ("Committed at", 17, "datetime")),
    "Meetings attended": _cols(("School", 24, "text"), ("Team", 22, "text"), ("Meeting", 17, "datetime"),
                               ("Title", 30, "text"), ("Recorded as", 12, "text")),
    "Agenda items": _cols(("School", 24, "text"), ("Team", 22, "text"), ("Meeting", 17, "datetime"),
                          ("Title", 40, "text"), ("Minutes", 8, "int"), ("Your part", 18, "text")),
    "Other records": _cols(("Record", 44, "text"), ("When", 17, "datetime"), ("Detail", 40, "text")),
}
EMPTY = {
    "Teams and roles": "You are in no team and lead no school.",
    "Check-ins": "No check-ins were sent to you.",
    "Support requests": "You have not asked for support.",
    "Named feedback": "No feedback with your name. (Anonymous feedback is never listed: see the first sheet.)",
    "Action items": "No action items owned, created or closed by you.",
    "Norm commitments": "You have not committed to a team's norms.",
    "Meetings attended": "No attendance was recorded for you.",
    "Agenda items": "No agenda items owned or added by you.",
    "Other records": "Nothing else.",
}


def write_personal_workbook(data: PersonalData, target: str | Path | IO[bytes]) -> int:
    """The workbook: 'About you' (profile and the note on anonymous feedback), then one sheet per
    kind of record. Returns the rows written."""
    book = DigestWorkbook("UTC")  # every time is already local (see PersonalData)
    about: list[tuple[Any, ...]] = [(label, _shown(value)) for label, value in data.profile]  # dates stay dates
    about.append(("Anonymous feedback", ANONYMOUS_NOTE))
    book.sheet("About you", ABOUT, about, top=True)  # the label beside the top of the long note
    for name, columns in COLUMNS.items():
        book.sheet(name, columns, _in_words(name, columns, data.sheets.get(name, [])), empty=EMPTY[name])
    book.save(target)
    return book.rows_written


# The stored codes in words, as the digest's workbook and the check-in DM say them: a teacher
# reads "Stuck, I'd like support" and "following up", not "stuck" and "following_up".
CHECKIN_STATUS = {"sent": "not answered", "pending": "not answered", "away": "away", "failed": "not delivered"}
SUPPORT_STATE = {"open": "waiting", "following_up": "following up", "resolved": "resolved"}
WORDS: dict[tuple[str, str], dict[str, str]] = {
    ("Check-ins", "Progress"): PROGRESS_LABELS,
    ("Support requests", "State"): SUPPORT_STATE,
}


# The bot's messages to a person, counted by the ledger's kind (`scheduling.delivery.deliver(kind=…)`
# in scheduling/ and handlers/), in a teacher's words. Kinds sent only to channels are here too:
# a person's Slack id can be a recipient only of DMs, but a kind may move.
MESSAGE_KINDS = {
    "checkin": "check-ins",
    "checkin_reminder": "check-in reminders",
    "checkin_summary": "check-in summaries for the facilitator",
    "checkin_failures": "notices of check-ins that could not be delivered",
    "support": "support requests to follow up",
    "cycle_reflection": "cycle reflection prompts",
    "cycle_started": "cycle start announcements",
    "cycle_closed": "cycle end announcements",
    "cycle_note": "notes about changes to a cycle",
    "feedback_prompt": "meeting feedback prompts",
    "agenda": "meeting agendas",
    "action_item": "action item reminders",
    "meeting_log": "meeting logs",
    "norms": "team norms",
    "norms_post": "team norms posted on request",
    "dm_reply": "answers to your own clicks and forms",
    "command_reply": "answers to commands you typed to the bot",
    "command_interrupted": "notes that an answer to a command you typed was interrupted or did not reach you",
    "team_join": "notices that someone joined a team's channel",
    "team_share_names": "notices about sharing names with the principal",
    "digest": "weekly digests",
    "digest-file": "weekly digest workbooks",
    "privacy_export": "copies of your data",
}
MESSAGES_PREFIX = "messages the bot sent you: "

# Changes recorded in the audit log (`storage.teams.audit(action=…)` and the CLI's), in words.
AUDIT_ACTIONS = {
    "school.create": "school created",
    "school.update": "school settings changed",
    "principal.add": "principal named",
    "principal.remove": "principal removed",
    "team.create": "team set up",
    "team.update": "team changed (members, facilitators, schedule or name sharing)",
    "team.archive": "team archived",
    "member.add": "added to a team",
    "member.remove": "removed from a team",
    "facilitator.add": "made a team's facilitator",
    "facilitator.remove": "no longer a team's facilitator",
    "person.activate": "account marked active again",
    "person.deactivate": "account marked deactivated",
    "norms.edit": "norms edited",
    "cycle.start": "learning cycle started",
    "cycle.edit": "learning cycle changed",
    "cycle.pause": "learning cycle paused",
    "cycle.resume": "learning cycle resumed",
    "cycle.end": "learning cycle ended",
    "break.add": "school break added",
    "break.remove": "school break removed",
    "digest on demand": "digest asked for",
    "digest export": "digest workbook exported",
    "roster.import": "roster imported",
    "roster.export": "roster exported",
    "privacy.export": "copy of personal data exported",
    "privacy.forget": "a person's data erased",
    "privacy.purge": "old records purged",
    "year.close": "school year closed",
}
AUDIT_PREFIX = "audit log: "


def audit_action_words(action: str) -> str:
    """'team set up' for 'team.create'; an action not listed yet still reads as words."""
    return AUDIT_ACTIONS.get(action) or re.sub(r"[._\-]+", " ", action).strip()


def message_kind_words(kind: str) -> str:
    """'action item reminders' for 'action_item'; a kind not listed yet still reads as words."""
    return MESSAGE_KINDS.get(kind) or re.sub(r"[_\-]+", " ", kind).strip() + " messages"


def _in_words(sheet: str, columns: tuple[Column, ...], rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows with the stored codes of `WORDS`, a check-in's status and a message's kind in words."""
    titles = [c.title for c in columns]
    swaps = {titles.index(col): words for (name, col), words in WORDS.items() if name == sheet and col in titles}
    status = titles.index("Status") if sheet == "Check-ins" and "Progress" in titles else None
    progress = titles.index("Progress") if status is not None else None
    out_rows = []
    for row in rows:
        out = list(row)
        if status is not None and progress is not None:
            out[status] = "answered" if row[progress] else CHECKIN_STATUS.get(str(row[status]), row[status])
        for i, words in swaps.items():
            out[i] = words.get(str(out[i]), out[i]) if out[i] else out[i]
        if sheet == "Other records" and isinstance(out[0], str) and out[0].startswith(MESSAGES_PREFIX):
            out[0] = MESSAGES_PREFIX + message_kind_words(out[0][len(MESSAGES_PREFIX):])
        elif sheet == "Other records" and isinstance(out[0], str) and out[0].startswith(AUDIT_PREFIX):
            action, _, by = out[0][len(AUDIT_PREFIX):].rpartition(" (by ")
            out[0] = f"a change in the audit log: {audit_action_words(action)} (by {by}" if by else out[0]
        out_rows.append(tuple(out))
    return out_rows


def _shown(value: object) -> object:
    """A profile value as the 'Stored' column takes it: dates as dates (a date cell), the rest as text."""
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        return value
    return str(value)


def workbook_name(name: str, stamp: str) -> str:
    """'My PLC data - Maria Lopez - 2026-11-30 0915.xlsx': readable and safe as a file name."""
    safe = re.sub(r"[^\w .,&()'-]+", " ", name).strip() or "me"
    return f"My PLC data - {safe[:60]} - {stamp}.xlsx"


def export_message(data: PersonalData) -> tuple[str, list[dict[str, Any]]]:
    """The DM that carries the workbook: what is in it, and why anonymous feedback is not."""
    counts = [f"{label}: {data.count(s)}" for s, label in (
        ("Check-ins", "check-ins"), ("Named feedback", "named feedback answers"),
        ("Support requests", "support requests"), ("Action items", "action items"),
        ("Norm commitments", "norm commitments"), ("Meetings attended", "meetings"))]
    teams = ", ".join(escape(t) for t in data.team_names) or "none"
    led = sorted({str(r[0]) for r in data.sheets.get("Teams and roles", [])
                  if len(r) > 3 and r[2] == "principal" and r[3] == "yes" and r[0]})
    schools = f" · Principal of: {clip(', '.join(escape(n) for n in led), 300)}" if led else ""
    text = "Here is everything the PLC bot stores about you."
    body = (f":card_index_dividers: *{text}*\nTeams: {clip(teams, 600)}{schools}\n" + ", ".join(counts) + ".\n"
            "The workbook below has one sheet per kind of record; times are in the time zone of the team or "
            "school they belong to.\n"
            f":lock: {ANONYMOUS_NOTE}")
    return text, [section(body)]
