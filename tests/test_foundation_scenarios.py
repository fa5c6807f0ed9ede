"""Scenario tests through the real endpoint: help, typos, the Home tab, forged requests."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from sqlmodel import select

from bot.slack_double import sign
from storage.models import AuditEntry, Person
from tests.harness import SIGNING_SECRET


def _post_raw(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_help_lists_what_a_newcomer_may_use(bot):
    bot.double.add_user("UTEACH", name="tess")
    bot.double.add_channel("CPLC", name="grade-3", members=["UTEACH"])
    reply = bot.user("UTEACH").command("help", channel="CPLC")
    assert reply.status == 200
    response = bot.double.wait_for(lambda: bot.double.responses())
    body = response[-1]
    assert body["response_type"] == "ephemeral"
    assert "/plc help" in json.dumps(body["blocks"])


def test_unknown_subcommand_suggests_the_nearest(bot):
    bot.double.add_user("UTEACH", name="tess")
    bot.double.add_channel("CPLC", name="grade-3", members=["UTEACH"])
    bot.user("UTEACH").command("hlep", channel="CPLC")
    body = bot.double.wait_for(lambda: bot.double.responses())[-1]
    text = json.dumps(body["blocks"])
    assert "is not a plcbot command" in text
    assert "Did you mean" in text and "/plc help" in text


def test_user_text_in_unknown_subcommand_is_escaped(bot):
    bot.double.add_user("UTEACH", name="tess")
    bot.double.add_channel("CPLC", name="grade-3", members=["UTEACH"])
    bot.user("UTEACH").command("<!channel>", channel="CPLC")
    body = bot.double.wait_for(lambda: bot.double.responses())[-1]
    assert "<!channel>" not in json.dumps(body)
    assert "&lt;!channel&gt;" in json.dumps(body)


def test_home_tab_welcomes_someone_in_no_team(bot):
    bot.double.add_user("UNEW", name="nia")
    reply = bot.user("UNEW").open_home()
    assert reply.status == 200
    view = bot.double.wait_for(lambda: bot.double.home_view("UNEW"))
    text = json.dumps(view)
    assert "not in a PLC team yet" in text and "/plc setup" in text


def test_forged_requests_are_refused_and_change_nothing(bot):
    bot.double.add_user("UTEACH", name="tess")
    body = b"command=%2Fplc&text=help&user_id=UTEACH&channel_id=CPLC&team_id=T0PLC&trigger_id=1.2.3"
    now = int(time.time())
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    unsigned = _post_raw(bot.url, body, form)
    wrong = _post_raw(bot.url, body, {**form, **sign(body, "another-apps-secret", now)})
    stale = _post_raw(bot.url, body, {**form, **sign(body, SIGNING_SECRET, now - 6 * 60)})
    good = _post_raw(bot.url, body, {**form, **sign(body, SIGNING_SECRET, now)})
    assert (unsigned, wrong, stale) == (401, 401, 401)
    assert good == 200
    bot.wait_idle()
    # Only the genuine request produced a reply; nothing was stored for any of them.
    assert len(bot.double.responses()) <= 1
    with bot.db.read() as session:
        assert session.exec(select(Person)).all() == []
        assert session.exec(select(AuditEntry)).all() == []


def test_healthz_reports_database_and_scheduler(bot):
    url = bot.url.replace("/slack/events", "/healthz")
    bot.tick()
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.loads(response.read())
    assert body["database"] == "ok"
    assert body["scheduler_last_run"] is not None


def test_help_shows_each_role_what_it_may_do(bot):
    from tests.seed import seed_team

    team = seed_team(bot)

    def help_for(user_id: str) -> str:
        before = len(bot.double.responses())
        bot.user(user_id).command("help", channel=team.channel)
        return json.dumps(bot.double.wait_for(lambda: bot.double.responses()[before:])[0]["blocks"])

    teacher, facilitator, principal = (help_for(team.members[0]), help_for(team.facilitators[0]),
                                       help_for(team.principals[0]))
    assert "/plc cycle" in teacher and "/plc feedback" in teacher
    assert "/plc cycle start" not in teacher and "/plc norms edit" not in teacher
    assert "/plc digest" not in teacher and "/plc school" not in teacher
    assert "/plc cycle start" in facilitator and "/plc norms edit" in facilitator
    assert "/plc feedback results" in facilitator and "/plc school" not in facilitator
    assert "/plc school" in principal and "/plc break add" in principal
