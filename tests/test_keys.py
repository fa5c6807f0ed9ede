"""Ledger and job keys are identities stored in databases: their formats never change."""

from __future__ import annotations

from datetime import UTC, date, datetime

from scheduling import keys


def test_every_key_format_is_the_one_existing_databases_hold():
    d = date(2026, 12, 3)
    assert keys.checkin(3, "UT1", 2) == "checkin:3:UT1:2"
    assert keys.checkin_reminder(3, "UT1", 2) == "checkin-reminder:3:UT1:2"
    assert keys.checkin_failures(3, 2, "UFAC", 4) == "checkin-failures:3:2:UFAC:4"
    assert keys.checkin_summary(3, 2) == "checkin-summary:3:2"
    assert keys.support(7, "UFAC") == "support:7:UFAC" and keys.support_prefix(7) == "support:7:"
    assert keys.cycle_reflection(3) == "cycle-reflection:3"
    assert keys.cycle_started(3) == "cycle-started:3"
    assert keys.cycle_closed(3) == "cycle-closed:3"
    assert keys.cycle_note("paused", 3, "2026-12-03T10:00:00+00:00") == "cycle-paused:3:2026-12-03T10:00:00+00:00"
    assert keys.agenda(5) == "agenda:5" and keys.agenda(5, gone_ts="17.01") == "agenda:5:17.01"
    assert keys.meeting_log(5) == "meeting_log:5"
    assert keys.action_assigned(9) == "action_assigned:9"
    assert keys.action_reminder(9, d) == "action_reminder:9:2026-12-03"
    assert keys.feedback_prompt(5) == "feedback_prompt:5" == keys.feedback_prompt_job(5)
    assert keys.norms(2, 4) == "norms:2:v4"
    assert keys.team_share_names(2, True, "s") == "team-share-names:2:on:s"
    assert keys.team_share_names(2, False, "s") == "team-share-names:2:off:s"
    assert keys.team_join(2, "UNEW", "ULEAD", "1.2") == "team_join:2:UNEW:ULEAD:1.2"
    assert len(keys.team_join(2, "U" * 300, "ULEAD", "1.2")) == 200
    assert keys.digest(1, "2026-W48", "UP") == "digest:1:2026-W48:UP"
    assert keys.digest_file(1, "2026-W48", "UP") == "digest-file:1:2026-W48:UP"
    assert keys.digest_now(1, "2026-W48", "UP", "t1") == "digest-now:1:2026-W48:UP:t1"
    assert keys.digest_file_now(1, "2026-W48", "UP", "t1") == "digest-file-now:1:2026-W48:UP:t1"
    assert keys.digest_file_failed("digest-file:1:2026-W48:UP") == "digest-file-failed:digest-file:1:2026-W48:UP"
    assert keys.privacy_export("U1", "t1") == "privacy-export:U1:t1"
    assert keys.privacy_export_file("U1", "t1") == "privacy-export-file:U1:t1"
    assert keys.checkin_round_job(3, 2) == "checkin_round:3:2"
    assert keys.checkin_reminder_job(3, 2) == "checkin_reminder:3:2"
    assert keys.checkin_close_job(3, 2) == "checkin_close:3:2"
    assert keys.cycle_reflection_job(3) == "cycle_reflection:3"
    assert keys.agenda_post_job(5) == "agenda_post:5"
    assert keys.meeting_start_job(5) == "meeting_start:5"
    assert keys.feedback_close_job(5) == "feedback_close:5"
    assert keys.sweep_again("feedback_close:5") == "feedback_close:5:again"
    assert keys.digest_job(1, "2026-W48") == "digest:1:2026-W48"
    assert keys.retention_job(d) == "retention:2026-12-03"
    assert keys.command_reply("a:1xyz", "1765000000000") == "command-reply:b35ba8047ce7f303397e88229b31182b4959d472"
    assert (keys.command_interrupted(keys.command_reply("a:1xyz", "1765000000000"))
            == "command-interrupted:b35ba8047ce7f303397e88229b31182b4959d472")
    at = datetime(2026, 12, 3, 14, 5, 59, tzinfo=UTC)
    assert keys.command_reply_sweep_job(at) == "command_reply_sweep:2026-12-03T14:05"


def test_the_keys_of_answers_given_once_per_request():
    """One norms post per `/plc norms`, one DM per interaction: keyed by the request's own id."""
    assert keys.norms_post(2, "13.17.ab") == "norms-post:2:13.17.ab"
    assert keys.dm_reply("UT1", "V123") == "dm-reply:UT1:V123"
    assert len(keys.norms_post(2, "t" * 300)) == 200 and len(keys.dm_reply("UT1", "v" * 300)) == 200
