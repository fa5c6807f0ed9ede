"""Every ledger key and scheduled-job key, built in one place.

A key is the identity of something owed: a `Delivery` row's key is the message (or file) owed
to someone, a `ScheduledJob` row's `dedupe_key` is the work owed. The ledger sends a message
once per key and the scheduler runs a job once per key, and the key also rides in the sent
message's metadata, where a message left in doubt is looked for. So these are stable strings,
stored in databases that outlive any release: change a format and every message and job
already recorded under the old one looks new (sent twice, run twice), and a message in doubt
is no longer found. The formats below must stay exactly as they are; a new kind of message or
job gets a new function here, never a tweaked old one.

Plain functions of plain values (ids, weeks, Slack user ids as `user`), importable from
anywhere: they import nothing of ours.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime

# ------------------------------------------------------------------ messages: check-ins and cycles


def checkin(cycle_id: int | None, user: str, week: int) -> str:
    """A teacher's weekly check-in DM."""
    return f"checkin:{cycle_id}:{user}:{week}"


def checkin_reminder(cycle_id: int | None, user: str, week: int) -> str:
    """The one reminder of a check-in not answered."""
    return f"checkin-reminder:{cycle_id}:{user}:{week}"


def checkin_failures(cycle_id: int | None, week: int, facilitator: str, failed: int) -> str:
    """A facilitator told that `failed` teachers could not be reached this week."""
    return f"checkin-failures:{cycle_id}:{week}:{facilitator}:{failed}"


def checkin_summary(cycle_id: int | None, week: int) -> str:
    """The week's summary in the team's channel when the round closes."""
    return f"checkin-summary:{cycle_id}:{week}"


def support_prefix(request_id: int | None) -> str:
    """What every `support(request_id, …)` key starts with (the DMs of one request)."""
    return f"support:{request_id}:"


def support(request_id: int | None, facilitator: str) -> str:
    """A support request DMed to one facilitator."""
    return f"{support_prefix(request_id)}{facilitator}"


def cycle_reflection(cycle_id: int | None) -> str:
    """The reflection form in the team's channel (end of cycle, or ended early)."""
    return f"cycle-reflection:{cycle_id}"


def cycle_started(cycle_id: int | None) -> str:
    return f"cycle-started:{cycle_id}"


def cycle_closed(cycle_id: int | None) -> str:
    """The saved reflection posted in the team's channel."""
    return f"cycle-closed:{cycle_id}"


def cycle_note(change: str, cycle_id: int | None, at: str) -> str:
    """A note in the channel about a change (`change` is paused, resumed or edited) made at `at`."""
    return f"cycle-{change}:{cycle_id}:{at}"


# ------------------------------------------------------------------ messages: meetings, teams, norms


def agenda(meeting_id: int | None, gone_ts: str | None = None) -> str:
    """The posted agenda; `gone_ts` when the one posted at that ts was deleted and it is posted anew."""
    return f"agenda:{meeting_id}" if gone_ts is None else f"agenda:{meeting_id}:{gone_ts}"


def meeting_log(meeting_id: int | None) -> str:
    """The wrap-up's log, in the agenda's thread."""
    return f"meeting_log:{meeting_id}"


def action_assigned(action_id: int | None) -> str:
    return f"action_assigned:{action_id}"


def action_reminder(action_id: int | None, due: date | None) -> str:
    """The owner's reminder before `due`: both the job's dedupe key and the DM's ledger key."""
    return f"action_reminder:{action_id}:{due}"


def feedback_prompt(meeting_id: int | None) -> str:
    """"How was today's meeting?": both the job's dedupe key and the post's ledger key."""
    return f"feedback_prompt:{meeting_id}"


def norms(team_id: int | None, version: int) -> str:
    """A new version of the team's norms posted in its channel."""
    return f"norms:{team_id}:v{version}"


def norms_post(team_id: int | None, request_id: str) -> str:
    """The norms posted in the team's channel on request (`/plc norms`): one post per request,
    `request_id` being the slash command's trigger id (unique per invocation)."""
    return f"norms-post:{team_id}:{request_id}"[:200]


def team_share_names(team_id: int | None, shared: bool, stamp: str) -> str:
    return f"team-share-names:{team_id}:{'on' if shared else 'off'}:{stamp}"


def team_join(team_id: int | None, user: str, lead: str, stamp: str) -> str:
    """A lead asked whether someone who joined the channel belongs on the team (at most 200 characters)."""
    return f"team_join:{team_id}:{user}:{lead}:{stamp}"[:200]


# ------------------------------------------------------------------ messages: answers to what people typed


def command_reply(conversation: str, message_id: str) -> str:
    """The answer to one command typed to the bot (Teams): one per incoming message, however often
    the platform delivers it. Both ids are the platform's (long on Teams), hence hashed."""
    digest = hashlib.sha256(f"{conversation}\n{message_id}".encode()).hexdigest()[:40]
    return f"command-reply:{digest}"


def dm_reply(user: str, request_id: str) -> str:
    """The answer to someone's own click or form, DMed because no ephemeral reply can reach them
    (a button in the Home tab, a form whose channel they are not in): one per interaction,
    `request_id` being its trigger id or the modal's view id."""
    return f"dm-reply:{user}:{request_id}"[:200]


def command_interrupted(reply_key: str) -> str:
    """The one note that the answer owed under `reply_key` (a `command_reply` key) was interrupted:
    the process died before the command had run, so the person is told once to check and ask again."""
    return f"command-interrupted:{reply_key.partition(':')[2]}"


# ------------------------------------------------------------------ messages and files: digest, privacy


def digest(school_id: int | None, week: str, user: str) -> str:
    """The weekly digest's message to one principal (`week` as `2026-W48`)."""
    return f"digest:{school_id}:{week}:{user}"


def digest_file(school_id: int | None, week: str, user: str) -> str:
    """The weekly digest's workbook uploaded to one principal."""
    return f"digest-file:{school_id}:{week}:{user}"


def digest_now(school_id: int | None, week: str, user: str, request_id: str) -> str:
    """The digest asked for with `/plc digest`."""
    return f"digest-now:{school_id}:{week}:{user}:{request_id}"


def digest_file_now(school_id: int | None, week: str, user: str, request_id: str) -> str:
    return f"digest-file-now:{school_id}:{week}:{user}:{request_id}"


def digest_file_failed(file_key: str) -> str:
    """The note that the workbook under `file_key` could not be attached."""
    return f"digest-file-failed:{file_key}"


def privacy_export(user: str, request_id: str) -> str:
    return f"privacy-export:{user}:{request_id}"


def privacy_export_file(user: str, request_id: str) -> str:
    return f"privacy-export-file:{user}:{request_id}"


# ------------------------------------------------------------------ scheduled jobs (dedupe keys)


def checkin_round_job(cycle_id: int | None, week: int) -> str:
    return f"checkin_round:{cycle_id}:{week}"


def checkin_reminder_job(cycle_id: int | None, week: int) -> str:
    return f"checkin_reminder:{cycle_id}:{week}"


def checkin_close_job(cycle_id: int | None, week: int) -> str:
    return f"checkin_close:{cycle_id}:{week}"


def cycle_reflection_job(cycle_id: int | None) -> str:
    return f"cycle_reflection:{cycle_id}"


def agenda_post_job(meeting_id: int | None) -> str:
    return f"agenda_post:{meeting_id}"


def meeting_start_job(meeting_id: int | None) -> str:
    return f"meeting_start:{meeting_id}"


def feedback_prompt_job(meeting_id: int | None) -> str:
    return feedback_prompt(meeting_id)


def feedback_close_job(meeting_id: int | None) -> str:
    return f"feedback_close:{meeting_id}"


def sweep_again(job_key: str) -> str:
    """The follow-up sweep of a feedback window close."""
    return f"{job_key}:again"


def digest_job(school_id: int | None, week: str) -> str:
    """One school's digest for one ISO week (`2026-W48`)."""
    return f"digest:{school_id}:{week}"


def retention_job(day: date) -> str:
    return f"retention:{day.isoformat()}"


def command_reply_sweep_job(minute: datetime) -> str:
    """A sweep of answers to typed commands left owed (`scheduling.command_replies`), at most one a
    minute (`minute` in UTC)."""
    return f"command_reply_sweep:{minute:%Y-%m-%dT%H:%M}"
