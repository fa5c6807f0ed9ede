"""Logs say what happened without what people wrote, and never show a secret."""

from __future__ import annotations

import logging

from bot.logs import RedactSecrets


def test_info_logs_name_the_request_not_its_contents(bot, caplog):
    bot.double.add_user("UTEACH", name="tess")
    bot.double.add_channel("CPLC", name="grade-3", members=["UTEACH"])
    with caplog.at_level(logging.INFO):
        bot.user("UTEACH").command("xyzzy my private words", channel="CPLC")
        bot.double.wait_for(lambda: bot.double.responses())
        bot.wait_idle()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("plcbot")]
    request_lines = [line for line in lines if line.startswith("command /plc")]
    assert request_lines and "team=T0PLC" in request_lines[0] and "acked in" in request_lines[0]
    assert not any("private words" in line for line in lines)


def test_debug_logs_the_raw_payload(bot, caplog):
    bot.double.add_user("UTEACH", name="tess")
    with caplog.at_level(logging.DEBUG, logger="plcbot.requests"):
        bot.user("UTEACH").command("help me please", channel="CPLC")
        bot.wait_idle()
    assert any("help me please" in r.getMessage() for r in caplog.records)


def test_secrets_are_scrubbed_from_any_log_line():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "token %s refused", ("xoxb-123-SECRET",), None)
    RedactSecrets(["xoxb-123-SECRET"]).filter(record)
    assert record.getMessage() == "token *** refused"


def test_web_api_errors_are_logged_with_their_method(bot, caplog):
    import pytest
    from slack_sdk.errors import SlackApiError

    with caplog.at_level(logging.WARNING, logger="plcbot.slack"), pytest.raises(SlackApiError):
        bot.services.slack.users_info(user="UNOBODY")
    assert any("users.info failed: user_not_found" in r.getMessage() for r in caplog.records)
