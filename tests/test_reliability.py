"""Reliability through the real endpoint: forged requests, Slack's retries and double clicks,
Slack failing (5xx, timeouts, 429 storms, the four "this will never work" errors), Socket Mode
ignoring what is not for the bot, and a smoke run of the ack-latency benchmark.

Each test drives the bot the way Slack does (signed HTTP requests, or Socket Mode envelopes)
against the Slack double, and then looks at what the double received and what the database holds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy import func
from sqlmodel import select

from bot.settings import from_env
from bot.slack_double import SlackUser, sign
from storage.models import (
    AuditEntry,
    Checkin,
    Cycle,
    Delivery,
    Heartbeat,
    Membership,
    Person,
    ScheduledJob,
    School,
    SupportRequest,
    Team,
)
from tests.cycle_helpers import GOOD_FORM, checkin_dms, make_cycle
from tests.harness import SIGNING_SECRET, checkin_of, recipient_of
from tests.seed import seed_team

ROOT = Path(__file__).resolve().parent.parent
ROUND_DUE = datetime(2026, 12, 3, 19, 1, tzinfo=UTC)  # Thursday 14:01 in New York: week 1's round
FORM = "application/x-www-form-urlencoded"


# ---------------------------------------------------------------------------- helpers
def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _counts(bot) -> dict[str, int]:
    """Rows in the tables a request could change, to show that nothing changed."""
    with bot.db.read() as session:
        return {model.__name__: session.exec(select(func.count()).select_from(model)).one()
                for model in (Person, Team, Membership, Cycle, Checkin, SupportRequest, Delivery,
                              ScheduledJob, AuditEntry)}


def _round(bot):
    """A seeded team with a running cycle, its week-1 round sent: (team, cycle id)."""
    team = seed_team(bot)
    cycle_id = make_cycle(bot, team.team_id)
    bot.clock.set(ROUND_DUE)
    bot.tick()
    assert all(len(checkin_dms(bot, u)) == 1 for u in team.everyone)
    return team, cycle_id


def _checkin(bot, user_id: str) -> Checkin:
    with bot.db.read() as session:
        return session.exec(select(Checkin).where(checkin_of(user_id))).one()


def _parallel(*calls):
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [f.result() for f in [pool.submit(c) for c in calls]]


# ---------------------------------------------------------------------------- forged requests
def _forgeable_bodies(bot) -> dict[str, tuple[bytes, str]]:
    """One genuine-looking body per kind of request Slack sends (what an attacker would copy)."""
    d = bot.double
    command = urlencode({"command": "/plc", "text": "setup", "user_id": "UFAC", "channel_id": "CGRADE3",
                         "team_id": d.team_id, "trigger_id": d.new_trigger_id("UFAC"),
                         "response_url": d.response_url_for("UFAC", "CGRADE3")}).encode()
    click = urlencode({"payload": json.dumps({
        "type": "block_actions", "user": {"id": "UT1"}, "team": {"id": d.team_id}, "api_app_id": d.app_id,
        "trigger_id": d.new_trigger_id("UT1"), "container": {"type": "message", "message_ts": "1.2"},
        "actions": [{"type": "button", "action_id": "checkin_stuck", "block_id": "b", "value": "1",
                     "action_ts": "1.2"}]})}).encode()
    submit = urlencode({"payload": json.dumps({
        "type": "view_submission", "user": {"id": "UFAC"}, "team": {"id": d.team_id}, "api_app_id": d.app_id,
        "view": {"id": "V1", "callback_id": "cycle_modal", "private_metadata": "", "state": {"values": {}}}})}).encode()
    event = json.dumps({"type": "event_callback", "team_id": d.team_id, "api_app_id": d.app_id,
                        "event_id": "EvFORGED", "event": {"type": "app_home_opened", "user": "UT1",
                                                          "tab": "home", "event_ts": "1.2"}}).encode()
    return {"command": (command, FORM), "click": (click, FORM), "submission": (submit, FORM),
            "event": (event, "application/json")}


def test_forged_requests_get_401_and_change_nothing(bot):
    seed_team(bot)
    before, calls_before = _counts(bot), len(bot.double.calls)
    now = int(time.time())
    for name, (body, ctype) in _forgeable_bodies(bot).items():
        genuine = sign(body, SIGNING_SECRET, now)
        forged = {
            "unsigned": {},
            "no timestamp": {"X-Slack-Signature": genuine["X-Slack-Signature"]},
            "another app's secret": sign(body, "another-apps-signing-secret", now),
            # A request Slack really signed, captured and replayed just over 5 minutes later.
            "replayed after 5 minutes": sign(body, SIGNING_SECRET, now - 5 * 60 - 1),
            # Slack's window is 5 minutes either way; the margin keeps the test true on a slow
            # machine, where the loop reaches this request seconds after `now` was read.
            "signed in the future": sign(body, SIGNING_SECRET, now + 5 * 60 + 30),
            "body changed after signing": genuine,
            "garbage signature": {**genuine, "X-Slack-Signature": "v0=" + "0" * 64},
        }
        for how, headers in forged.items():
            sent = body.replace(b"UT1", b"UT2").replace(b"UFAC", b"UT2") if how == "body changed after signing" \
                else body
            assert how != "body changed after signing" or sent != body
            status = _post(bot.url, sent, {"Content-Type": ctype, **headers})
            assert status == 401, f"{name} {how}: {status}"
        # A body that is not even what it claims to be (broken JSON, bad UTF-8): refused, no traceback.
        for junk in (body[:-3], body + b"\xff\xfe"):
            assert _post(bot.url, junk, {"Content-Type": ctype}) == 401
    time.sleep(0.3)  # anything wrongly started would have called Slack by now
    bot.wait_idle()
    assert _counts(bot) == before
    assert len(bot.double.calls) == calls_before
    assert bot.double.responses() == [] and bot.double.open_views() == []


def test_a_genuine_request_inside_the_window_still_works(bot):
    """The check is not so strict that Slack's own requests fail: 4 minutes of clock skew is fine."""
    seed_team(bot)
    body, ctype = _forgeable_bodies(bot)["command"]
    status = _post(bot.url, body, {"Content-Type": ctype, **sign(body, SIGNING_SECRET, int(time.time()) - 240)})
    assert status == 200


# ---------------------------------------------------------------------------- retries and double clicks
def test_same_button_clicked_twice_at_once_stores_one_answer(bot):
    team, _ = _round(bot)
    dm = checkin_dms(bot, "UT1")[0]
    teacher = bot.user("UT1")
    replies = _parallel(*[lambda: teacher.click(dm, "checkin_stuck") for _ in range(4)])
    assert all(r.status == 200 and r.elapsed < 3 for r in replies)
    bot.wait_idle()
    teacher.click(dm, "checkin_stuck")  # and once more, later
    bot.wait_idle()
    answer = _checkin(bot, "UT1")
    assert answer.progress == "stuck"
    with bot.db.read() as session:
        requests = session.exec(select(SupportRequest)).all()
    assert len(requests) == 1
    assert len(checkin_dms(bot, "UT1")) == 1  # the check-in was updated, never re-sent


def test_modal_submitted_twice_in_parallel_stores_one_cycle(bot):
    team = seed_team(bot)
    bot.user("UFAC").command("cycle start", channel=team.channel)
    view = bot.double.wait_for(lambda: bot.double.open_views("UFAC"))[-1]
    fac = bot.user("UFAC")
    replies = _parallel(*[lambda: fac.submit(view, GOOD_FORM) for _ in range(3)])
    assert all(r.status == 200 and r.elapsed < 3 for r in replies)
    bot.wait_idle()
    with bot.db.read() as session:
        cycles = session.exec(select(Cycle)).all()
        rounds = session.exec(select(ScheduledJob).where(ScheduledJob.kind == "checkin_round")).all()
    assert len(cycles) == 1
    assert len(rounds) == len({r.dedupe_key for r in rounds})
    announcements = [m for m in bot.double.messages(team.channel) if "started the learning cycle" in m["text"]]
    assert len(announcements) == 1


def test_event_retried_by_slack_has_one_effect(bot):
    """member_joined_channel delivered, then retried (at once, while the first is in flight, and later)."""
    team = seed_team(bot)
    bot.double.add_user("UNEW", name="nell")
    bot.double.slow("users.info", 0.4, times=1)  # the first delivery is still working when the retry lands
    event = {"type": "member_joined_channel", "user": "UNEW", "channel": team.channel,
             "channel_type": "C", "team": bot.double.team_id, "event_ts": "1764512345.000100"}
    joiner = bot.user("UNEW")
    first, retry = _parallel(
        lambda: joiner.event(event, event_id="EvJOIN1"),
        lambda: (time.sleep(0.05), joiner.event(event, event_id="EvJOIN1", retry_num=1,
                                                 retry_reason="http_timeout"))[1],
    )
    later = joiner.event(event, event_id="EvJOIN1", retry_num=2, retry_reason="http_timeout")
    assert {first.status, retry.status, later.status} == {200}
    bot.wait_idle()
    prompts = [m for m in bot.double.messages("UFAC") if "UNEW" in json.dumps(m)]
    assert len(prompts) == 1


# ---------------------------------------------------------------------------- Slack failing
def _fast_clients(bot, timeout: int = 1) -> None:
    """Shorter client timeouts than production's 15 s, so a test can outwait them."""
    for name in ("slack", "slack_send"):
        old: WebClient = getattr(bot.services, name)
        setattr(bot.services, name, WebClient(token=old.token, base_url=old.base_url, timeout=timeout,
                                              retry_handlers=old.retry_handlers))


def _beats(bot) -> int:
    with bot.db.read() as session:
        return len(session.exec(select(Heartbeat)).all())


def _alive(bot, team) -> None:
    """The bot still answers a command within Slack's limit while Slack is failing."""
    reply = bot.user("UT3").command("help", channel=team.channel)
    assert reply.status == 200 and reply.elapsed < 3


@pytest.mark.parametrize("fault", ["5xx", "timeout", "429 storm"])
def test_slack_failing_during_a_round_loses_and_doubles_nothing(bot, fault):
    team = seed_team(bot)
    make_cycle(bot, team.team_id)
    _fast_clients(bot)
    bot.clock.set(ROUND_DUE)
    methods = ("chat.postMessage", "conversations.open", "conversations.history")  # a round's calls
    for method in methods:
        if fault == "5xx":
            bot.double.server_error(method, 503, times=None)
        elif fault == "timeout":
            bot.double.slow(method, 1.3, times=2)  # beyond the 1 s client timeout, then answers late
        else:
            bot.double.rate_limit(method, retry_after=1, times=None)
    if fault == "429 storm":
        # Keep the storm's retries short: the point is that nothing is lost, not the waiting.
        bot.services.slack_send.retry_handlers = [RateLimitErrorRetryHandler(max_retry_count=1)]
    started = time.monotonic()
    result = bot.tick()  # the scheduler tick returns: it never dies of Slack
    assert time.monotonic() - started < 60
    _alive(bot, team)
    assert _beats(bot) >= 1
    bot.double.reset_faults()
    # Slack recovers. Later ticks finish the round: everyone has exactly one check-in.
    for _ in range(4):
        bot.clock.advance(timedelta(minutes=5))
        time.sleep(0.05)
        bot.tick()
    bot.wait_idle()
    for user in team.everyone:
        assert len(checkin_dms(bot, user)) == 1, (fault, user, result)
    with bot.db.read() as session:
        states = {d.state for d in session.exec(select(Delivery)).all() if d.key.startswith("checkin:")}
    assert states == {"sent"}


def test_429_storm_on_every_method_the_bot_uses_keeps_it_serving(bot):
    team, _ = _round(bot)
    for method in ("chat.postMessage", "chat.postEphemeral", "chat.update", "views.open", "views.update",
                   "views.publish", "conversations.open", "conversations.history", "conversations.members",
                   "conversations.info", "users.info", "users.list", "response_url"):
        bot.double.rate_limit(method, retry_after=1, times=None)
    replies = [bot.user("UT1").command("help", channel=team.channel),
               bot.user("UT2").click(checkin_dms(bot, "UT2")[0], "checkin_on_track"),
               bot.user("UT3").open_home(),
               bot.user("UFAC").command("cycle", channel=team.channel)]
    assert all(r.status == 200 and r.elapsed < 3 for r in replies)
    # Stored while every Slack method still answers 429: the answer never waits on Slack. (Polled:
    # the click is stored just after its acknowledgement, by a listener thread.)
    assert bot.double.wait_for(lambda: _checkin(bot, "UT2").progress == "on_track" or None, timeout=10)
    started = time.monotonic()
    bot.clock.advance(timedelta(minutes=1))
    bot.tick()
    assert time.monotonic() - started < 60
    bot.double.reset_faults()
    bot.wait_idle(timeout=60)


def _fail_posts_to(monkeypatch, recipient: str, error: str) -> None:
    """The double answers `error` to every post to one person (their DM), and to nobody else."""
    from bot.slack_double import server

    real = server._METHODS["chat.postMessage"]

    def post(d, p):
        if str(p.get("channel")) in (recipient, "D" + recipient[1:]):
            raise server._ApiError(error)
        return real(d, p)

    monkeypatch.setitem(server._METHODS, "chat.postMessage", post)


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "user_not_found", "account_inactive"])
def test_permanent_errors_are_recorded_reported_and_never_retried(bot, monkeypatch, error):
    team = seed_team(bot)
    make_cycle(bot, team.team_id)
    bot.clock.set(ROUND_DUE)
    _fail_posts_to(monkeypatch, "UT2", error)
    bot.tick()
    with bot.db.read() as session:
        rows = {recipient_of(session, d): d for d in session.exec(select(Delivery)).all()
                if d.key.startswith("checkin:")}
    assert rows["UT2"].state == "failed" and rows["UT2"].error == error
    assert {rows[u].state for u in ("UFAC", "UT1", "UT3")} == {"sent"}
    assert _checkin(bot, "UT2").status == "failed"
    # The facilitator hears who could not be reached, once.
    told = [m for m in bot.double.messages("UFAC") if "checkin-failures" in json.dumps(m.get("metadata"))]
    assert len(told) == 1 and "UT2" in json.dumps(told[0])
    # Later ticks never try the unreachable teacher again, and the scheduler goes on.
    posts = len(bot.double.calls_to("chat.postMessage"))
    for _ in range(2):
        bot.clock.advance(timedelta(minutes=10))
        bot.tick()
    assert not [c for c in bot.double.calls_to("chat.postMessage")[posts:] if c.get("channel") in ("UT2", "DT2")]
    _alive(bot, team)


def test_bot_removed_from_the_team_channel_tells_the_facilitator(bot):
    team = seed_team(bot)
    bot.double.remove_bot_from(team.channel)
    before = _counts(bot)
    reply = bot.user("UFAC").command("agenda", channel=team.channel)
    assert reply.status == 200
    answer = bot.double.wait_for(lambda: bot.double.responses())[-1]
    assert "invite" in json.dumps(answer).lower()
    bot.wait_idle()
    after = _counts(bot)
    assert after["Delivery"] - before["Delivery"] <= 1  # at most the failed attempt's own record


def test_deactivated_and_unknown_users_get_handled_paths(bot):
    team = seed_team(bot)
    bot.double.deactivate_user("UT2")  # account_inactive on its DM
    with bot.db.session() as session:  # a person Slack no longer knows: user_not_found / channel_not_found
        session.add(Person(handle="UGHOST", name="Ghost"))
        session.flush()
        ghost = session.exec(select(Person).where(Person.handle == "UGHOST")).one()
        session.add(Membership(team_id=team.team_id, person_id=ghost.id, role="member"))
    make_cycle(bot, team.team_id)
    bot.clock.set(ROUND_DUE)
    bot.tick()
    with bot.db.read() as session:
        rows = {recipient_of(session, d): d for d in session.exec(select(Delivery)).all()
                if d.key.startswith("checkin:")}
    assert rows["UT2"].state == "failed" and rows["UT2"].error == "account_inactive"
    assert rows["UGHOST"].state == "failed" and rows["UGHOST"].error in ("user_not_found", "channel_not_found")
    assert {rows[u].state for u in ("UFAC", "UT1", "UT3")} == {"sent"}
    _alive(bot, team)


# ---------------------------------------------------------------------------- Socket Mode
@pytest.fixture
def socket_bot(db_url):
    """The bot in Socket Mode, in this process, against the double's websocket."""
    from bot.slack_double import SlackDouble
    from bot.socket_runner import serve_socket
    from storage import migrate
    from storage.db import Database

    double = SlackDouble().start()
    settings = from_env({"SLACK_BOT_TOKEN": double.bot_token, "SLACK_APP_TOKEN": double.app_token,
                         "SLACK_API_URL": double.url, "DATABASE_URL": db_url, "PLCBOT_HEALTH_PORT": "0"})
    db = Database(db_url)
    migrate.upgrade(db)
    db.dispose()
    stop = threading.Event()
    thread = threading.Thread(target=serve_socket, args=(settings,), kwargs={"with_scheduler": False, "stop": stop},
                              daemon=True)
    thread.start()
    assert double.socket_connected(timeout=20)
    try:
        yield double
    finally:
        stop.set()
        thread.join(timeout=30)
        double.stop()


def test_socket_mode_ignores_the_bots_own_events_and_other_apps_bots(socket_bot):
    double = socket_bot
    double.add_user("UT1", name="tess")
    double.add_user("UOTHERBOT", name="otherbot", is_bot=True)
    double.add_channel("CPLC", name="grade-3", members=["UT1"])

    def event(user: str, **extra) -> dict:
        return SlackUser(double, user, bot_url=None, signing_secret=None, via_socket=True).event(
            {"type": "app_home_opened", "user": user, "channel": "D" + user[1:], "tab": "home", **extra}).json

    # The bot's own events, and another app's bot joining and posting: acknowledged, no effect.
    event(double.bot_user_id)
    own = SlackUser(double, double.bot_user_id, bot_url=None, signing_secret=None, via_socket=True)
    other = SlackUser(double, "UOTHERBOT", bot_url=None, signing_secret=None, via_socket=True)
    for who in (own, other):
        ack = who.event({"type": "member_joined_channel", "user": who.user_id, "channel": "CPLC",
                         "channel_type": "C"})
        assert ack.status == 200
        who.event({"type": "message", "channel": "CPLC", "user": who.user_id,
                   "bot_id": double.bot_id if who is own else "BOTHER", "subtype": "bot_message",
                   "text": "<!channel> hi", "ts": "1764512345.000200"})
    # A person's event still works, so the silence above is not a dead connection.
    event("UT1")
    double.wait_for(lambda: double.home_view("UT1"), timeout=10)
    time.sleep(0.3)
    assert double.home_view(double.bot_user_id) is None
    assert double.calls_to("chat.postMessage") == []


# ---------------------------------------------------------------------------- the benchmark
@pytest.mark.slow
def test_ack_latency_benchmark_smoke():
    """The benchmark runs end to end at a smoke size, so it cannot rot."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ack_latency.py"), "--seconds", "1", "--clients", "5",
         "--rate", "20", "--warmup", "0.2", "--json"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    for phase in ("saturation", "paced"):
        for app in ("bot", "minimal"):
            figures = result[phase][app]
            assert figures["requests"] > 0 and figures["over_3s"] == 0
            assert set(figures["statuses"]) == {"200"}
    assert "command: /plc help" in result["mix"]
    assert result["web_api_errors"] == []


def test_a_post_that_lands_after_the_client_gave_up_is_not_sent_twice(bot):
    """Slack stores a slow post after slack_sdk's timeout and after the bot looked in the history."""
    team = seed_team(bot)
    with bot.db.session() as session:  # set up the week before, so this Monday's digest is owed too
        school = session.get(School, team.school_id)
        assert school is not None
        school.created_at = bot.clock.now() - timedelta(days=7)
    make_cycle(bot, team.team_id)
    _fast_clients(bot)
    bot.clock.set(ROUND_DUE)
    bot.double.slow("chat.postMessage", 1.6, times=None)  # each answers 0.6 s after the client gave up
    bot.tick()
    time.sleep(1.0)  # the late posts have landed by now
    bot.double.reset_faults()
    for _ in range(3):
        bot.clock.advance(timedelta(minutes=5))
        bot.tick()
    for user in [*team.everyone, *team.principals]:
        owed = [m for m in bot.double.messages(user) if (m.get("metadata") or {}).get("event_type")]
        keys = [m["metadata"]["event_payload"]["key"] for m in owed]
        assert len(keys) == len(set(keys)) and keys, (user, keys)
    assert all(len(checkin_dms(bot, u)) == 1 for u in team.everyone)
