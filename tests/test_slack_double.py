"""The Slack double answers real slack_sdk/Bolt code the way Slack does."""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.slack_double import SlackDouble, SlackUser, problems, sign, view_problems
from bot.slack_double import server as double_server

SECRET = "test-signing-secret"


@pytest.fixture
def double() -> Iterator[SlackDouble]:
    with SlackDouble() as d:
        d.add_user("U1", name="ann", real_name="Ann Teacher", email="ann@school.org")
        d.add_user("U2", name="bob", email="bob@school.org")
        d.add_channel("C1", name="plc-math", members=["U1", "U2"])
        yield d


def client_for(d: SlackDouble, **kwargs) -> WebClient:
    return WebClient(base_url=d.url, token=d.bot_token, **kwargs)


def api_error(fn, *args, **kwargs) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        fn(*args, **kwargs)
    return info.value


# ---------------------------------------------------------------------- Web API shapes
def test_metadata_comes_back_only_with_include_all_metadata(double: SlackDouble) -> None:
    client = client_for(double)
    meta = {"event_type": "plc_checkin", "event_payload": {"key": "abc"}}
    sent = client.chat_postMessage(channel="C1", text="hello", metadata=meta)
    assert sent["message"]["metadata"] == meta

    plain = client.conversations_history(channel="C1")["messages"][0]
    assert plain["ts"] == sent["ts"] and "metadata" not in plain
    full = client.conversations_history(channel="C1", include_all_metadata=True)["messages"][0]
    assert full["metadata"] == meta
    assert double.messages("C1")[0]["metadata"] == meta


def test_dm_to_user_id_answers_with_d_id(double: SlackDouble) -> None:
    client = client_for(double)
    sent = client.chat_postMessage(channel="U1", text="hi")
    assert sent["channel"] == double.dm_channel_id("U1") and sent["channel"].startswith("D")
    assert client.conversations_open(users="U1")["channel"]["id"] == sent["channel"]
    assert [m["text"] for m in double.messages("U1")] == ["hi"]

    double.deactivate_user("U2")
    assert api_error(client.chat_postMessage, channel="U2", text="x").response["error"] == "account_inactive"
    assert api_error(client.conversations_open, users="U2").response["error"] == "account_inactive"
    assert api_error(client.users_info, user="U404").response["error"] == "user_not_found"
    assert api_error(client.users_lookupByEmail, email="no@x.org").response["error"] == "users_not_found"
    assert client.users_lookupByEmail(email="ann@school.org")["user"]["id"] == "U1"


def test_channel_errors_and_ts_order(double: SlackDouble) -> None:
    client = client_for(double)
    double.add_channel("C2", name="plc-sci", members=["U1"], bot_is_member=False)
    assert api_error(client.chat_postMessage, channel="C2", text="x").response["error"] == "not_in_channel"
    assert (
        api_error(client.chat_postMessage, channel="C404", text="x").response["error"] == "channel_not_found"
    )
    first = client.chat_postMessage(channel="C1", text="one")["ts"]
    second = client.chat_postMessage(channel="C1", text="two", thread_ts=first)["ts"]
    assert float(second) > float(first)
    assert [m["text"] for m in double.thread("C1", first)] == ["one", "two"]
    client.chat_update(channel="C1", ts=first, text="one!")
    client.chat_delete(channel="C1", ts=second)
    assert [m["text"] for m in double.messages("C1")] == ["one!"]


def test_users_list_pages_with_emails(double: SlackDouble) -> None:
    for i in range(450):
        double.add_user(f"UT{i:04d}", name=f"t{i}", email=f"t{i}@school.org")
    client = client_for(double)
    seen, cursor, pages = [], None, 0
    while True:
        page = client.users_list(limit=1000, cursor=cursor)
        assert len(page["members"]) <= 200
        seen += page["members"]
        pages += 1
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert pages == 3
    assert sum(1 for u in seen if u["profile"].get("email", "").endswith("@school.org")) == 452
    members = client.conversations_members(channel="C1", limit=2)
    assert members["members"] == ["U1", "U2"] and members["response_metadata"]["next_cursor"]


def test_auth_and_unknown_method(double: SlackDouble) -> None:
    bad = WebClient(base_url=double.url, token="xoxb-wrong")
    assert api_error(bad.auth_test).response["error"] == "invalid_auth"
    assert api_error(client_for(double).api_call, "chat.nope").response["error"] == "unknown_method"


# ---------------------------------------------------------------------- faults
def test_fail_and_server_error(double: SlackDouble) -> None:
    client = client_for(double)
    double.fail("chat.postMessage", "fatal_error")
    assert api_error(client.chat_postMessage, channel="C1", text="x").response["error"] == "fatal_error"
    double.server_error("users.info", 503)
    assert api_error(client.users_info, user="U1").response.status_code == 503
    client.chat_postMessage(channel="C1", text="ok now")
    assert [c.status for c in double.calls if c.method == "chat.postMessage"] == [200, 200]
    assert double.calls[-2].error == "internal_error"


def test_rate_limit_honoured_by_retry_handler(double: SlackDouble) -> None:
    double.rate_limit("chat.postMessage", retry_after=1)
    plain = api_error(client_for(double).chat_postMessage, channel="C1", text="x")
    assert plain.response.status_code == 429 and plain.response.headers["Retry-After"] == "1"

    double.rate_limit("chat.postMessage", retry_after=1)
    patient = client_for(double, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    started = time.monotonic()
    patient.chat_postMessage(channel="C1", text="after waiting")
    assert time.monotonic() - started >= 1.0
    assert [m["text"] for m in double.messages("C1")] == ["after waiting"]


def test_slow(double: SlackDouble) -> None:
    double.slow("auth.test", 0.3, times=1)
    started = time.monotonic()
    client_for(double).auth_test()
    assert time.monotonic() - started >= 0.3


def test_drop_after_accept_makes_sdk_retry_post_twice(double: SlackDouble) -> None:
    """The hazard: the default connection-error retry re-sends a post Slack already stored."""
    double.drop_after_accept("chat.postMessage")
    client_for(double).chat_postMessage(channel="U1", text="once, I hoped")
    assert [m["text"] for m in double.messages("U1")] == ["once, I hoped", "once, I hoped"]
    assert [c.error for c in double.calls if c.method == "chat.postMessage"] == ["dropped_after_accept", None]


def test_token_bucket_limits_posts(double: SlackDouble) -> None:
    double.add_channel("C2", name="other", members=["U1"])
    double.limit_posts(per_channel_per_second=1.0, per_channel_burst=3)
    client = client_for(double)
    for i in range(3):
        client.chat_postMessage(channel="C1", text=str(i))
    limited = api_error(client.chat_postMessage, channel="C1", text="4th")
    assert limited.response.status_code == 429 and int(limited.response.headers["Retry-After"]) >= 1
    client.chat_postMessage(channel="C2", text="another channel is fine")

    double.limit_posts(
        per_channel_per_second=10, per_channel_burst=10, workspace_per_second=0.5, workspace_burst=2
    )
    client.chat_postMessage(channel="C1", text="a")
    client.chat_postMessage(channel="C2", text="b")
    assert api_error(client.chat_postMessage, channel="U1", text="c").response.status_code == 429
    double.reset_faults()
    client.chat_postMessage(channel="U1", text="c")


# ---------------------------------------------------------------------- limits
def test_block_limits(double: SlackDouble) -> None:
    client = client_for(double)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"row {i}"}} for i in range(51)]
    error = api_error(client.chat_postMessage, channel="C1", text="t", blocks=blocks)
    assert error.response["error"] == "invalid_blocks"
    assert (
        api_error(client.chat_postMessage, channel="C1", text="x" * 40_001).response["error"]
        == "msg_too_long"
    )
    client.chat_postMessage(channel="C1", text="fits", blocks=blocks[:50])

    button = {"type": "button", "text": {"type": "plain_text", "text": "b" * 76}, "action_id": "a"}
    assert problems([{"type": "actions", "elements": [button]}], surface="message")
    assert problems(
        [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], surface="message"
    )
    assert problems([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}], surface="home")
    select = {
        "type": "static_select",
        "action_id": "s",
        "options": [{"text": {"type": "plain_text", "text": str(i)}, "value": str(i)} for i in range(101)],
    }
    assert problems(
        [{"type": "section", "text": {"type": "mrkdwn", "text": "s"}, "accessory": select}], surface="modal"
    )
    assert problems(blocks[:50], surface="message") == []
    option = {"text": {"type": "plain_text", "text": "Share"}, "value": "share",
              "description": {"type": "plain_text", "text": "d" * 76}}
    checkboxes = {"type": "input", "block_id": "c", "label": {"type": "plain_text", "text": "Names"},
                  "element": {"type": "checkboxes", "action_id": "v", "options": [option]}}
    assert problems([checkboxes], surface="modal")  # Slack caps option descriptions at 75
    option["description"]["text"] = "d" * 75
    assert problems([checkboxes], surface="modal") == []
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "t" * 25}, "blocks": []}
    assert view_problems(modal) and view_problems(
        {**modal, "title": {"type": "plain_text", "text": "ok"}, "private_metadata": "m" * 3001}
    )


# ---------------------------------------------------------------------- views
def _modal(title: str = "Check-in", **extra) -> dict:
    return {
        "type": "modal",
        "callback_id": "checkin",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Save"},
        "blocks": [
            {
                "type": "input",
                "block_id": "goal",
                "label": {"type": "plain_text", "text": "Goal"},
                "element": {"type": "plain_text_input", "action_id": "text"},
            },
        ],
        **extra,
    }


def test_views_triggers_hash_and_push(double: SlackDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    client = client_for(double)
    assert (
        api_error(client.views_open, trigger_id="nope", view=_modal()).response["error"]
        == "invalid_trigger_id"
    )
    monkeypatch.setattr(double_server, "TRIGGER_TTL", 0.05)
    stale = double.new_trigger_id("U1")
    time.sleep(0.1)
    assert (
        api_error(client.views_open, trigger_id=stale, view=_modal()).response["error"]
        == "expired_trigger_id"
    )
    monkeypatch.undo()

    trigger = double.new_trigger_id("U1")
    view = client.views_open(trigger_id=trigger, view=_modal())["view"]
    assert (
        api_error(client.views_open, trigger_id=trigger, view=_modal()).response["error"]
        == "trigger_exchanged"
    )
    assert double.open_views("U1")[0]["id"] == view["id"]
    error = api_error(client.views_update, view_id=view["id"], hash="stale", view=_modal("Again"))
    assert error.response["error"] == "hash_conflict"
    updated = client.views_update(view_id=view["id"], hash=view["hash"], view=_modal("Again"))["view"]
    assert updated["hash"] != view["hash"] and double.view(view["id"])["title"]["text"] == "Again"
    pushed = client.views_push(trigger_id=double.new_trigger_id("U1"), view=_modal("Step 2"))["view"]
    assert pushed["previous_view_id"] == view["id"] and len(double.open_views("U1")) == 2
    too_long = api_error(client.views_open, trigger_id=double.new_trigger_id("U1"), view=_modal("x" * 25))
    assert too_long.response["error"] == "invalid_arguments"

    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Home"}}]}
    client.views_publish(user_id="U1", view=home)
    assert double.home_view("U1")["blocks"][0]["text"]["text"] == "Home"


def test_files_upload_v2_end_to_end(double: SlackDouble) -> None:
    client = client_for(double)
    dm = client.conversations_open(users="U1")["channel"]["id"]
    result = client.files_upload_v2(
        channel=dm,
        content=b"col1,col2\n1,2\n",
        filename="digest.csv",
        title="Weekly digest",
        initial_comment="Here it is",
    )
    assert result["file"]["title"] == "Weekly digest"
    [stored] = double.files
    assert stored["content"] == b"col1,col2\n1,2\n" and stored["channel_id"] == dm
    assert double.messages(dm)[-1]["files"][0]["id"] == stored["id"]
    assert double.messages(dm)[-1]["text"] == "Here it is"
    error = api_error(client.files_upload_v2, channel="U1", content=b"x", filename="a.txt")
    assert error.response["error"] == "channel_not_found"


# ---------------------------------------------------------------------- Socket Mode
def test_socket_mode_client_receives_envelope_and_acks(double: SlackDouble) -> None:
    got: list[SocketModeRequest] = []

    def listener(client: SocketModeClient, req: SocketModeRequest) -> None:
        got.append(req)
        client.send_socket_mode_response(
            SocketModeResponse(envelope_id=req.envelope_id, payload={"text": "pong"})
        )

    sm = SocketModeClient(app_token=double.app_token, web_client=client_for(double))
    sm.socket_mode_request_listeners.append(listener)
    sm.connect()
    try:
        assert double.socket_connected(5)
        ack = double.socket_send("slash_commands", {"command": "/plc", "text": "ping"})
        assert ack == {"text": "pong"} and got[0].payload["text"] == "ping"
        assert double.socket_send("events_api", {"event": {"type": "x"}}, retry_attempt=1) == {"text": "pong"}
        assert got[1].retry_attempt == 1
    finally:
        sm.close()


# ---------------------------------------------------------------------- SlackUser against a Bolt app
class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _bolt_app(double: SlackDouble) -> App:
    app = App(token=double.bot_token, signing_secret=SECRET, client=client_for(double))

    @app.command("/plc")
    def plc(ack, command, client) -> None:
        ack(f"got {command['text']}")
        client.chat_postMessage(
            channel=command["user_id"],
            text="Pick one",
            blocks=[
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "done",
                            "value": "42",
                            "text": {"type": "plain_text", "text": "Done"},
                        }
                    ],
                }
            ],
        )

    @app.action("done")
    def done(ack, body, respond, client) -> None:
        ack()
        respond(replace_original=True, text=f"done {body['actions'][0]['value']}")
        client.views_open(trigger_id=body["trigger_id"], view=_modal())

    @app.view("checkin")
    def checkin(ack, view) -> None:
        goal = view["state"]["values"]["goal"]["text"]["value"]
        if not goal:
            ack(response_action="errors", errors={"goal": "Say something"})
        else:
            ack()

    @app.event("app_home_opened")
    def home(event, client) -> None:
        client.views_publish(
            user_id=event["user"],
            view={
                "type": "home",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Welcome"}}],
            },
        )

    return app


@pytest.fixture
def bolt_url(double: SlackDouble) -> Iterator[str]:
    server = make_server(
        "127.0.0.1",
        0,
        SlackRequestHandler(_bolt_app(double)),
        server_class=_ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/slack/events"
    server.shutdown()
    server.server_close()


def test_slack_user_command_click_submit(double: SlackDouble, bolt_url: str) -> None:
    ann = SlackUser(double, "U1", bot_url=bolt_url, signing_secret=SECRET)
    reply = ann.command("hello", channel="C1")
    assert reply.status == 200 and reply.body == "got hello" and reply.elapsed < 3

    message = double.wait_for(lambda: double.messages("U1"))[0]
    assert ann.click(message, "done").status == 200
    double.wait_for(lambda: double.messages("U1")[0]["text"] == "done 42")
    view = double.wait_for(lambda: double.open_views("U1"))[0]

    rejected = ann.submit(view, {"goal": {"text": ""}})
    assert rejected.json == {"response_action": "errors", "errors": {"goal": "Say something"}}
    assert double.open_views("U1")
    assert ann.submit(view, {"goal": {"text": "Read more"}}).status == 200
    assert double.open_views("U1") == []

    ann.open_home()
    assert double.wait_for(lambda: double.home_view("U1"))["blocks"][0]["text"]["text"] == "Welcome"


def test_forged_requests_are_refused(double: SlackDouble, bolt_url: str) -> None:
    body = b"command=%2Fplc&text=hi&user_id=U1"
    for headers in (sign(body, "wrong-secret", int(time.time())), sign(body, SECRET, int(time.time()) - 600)):
        request = urllib.request.Request(
            bolt_url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=5)
        assert info.value.code == 401


def test_slack_user_via_socket_mode(double: SlackDouble) -> None:
    handler = SocketModeHandler(_bolt_app(double), app_token=double.app_token)
    handler.connect()
    try:
        assert double.socket_connected(5)
        ann = SlackUser(double, "U1", bot_url=None, signing_secret=None, via_socket=True)
        assert ann.command("hi there", channel="C1").json == {"text": "got hi there"}
        message = double.wait_for(lambda: double.messages("U1"))[0]
        ann.click(message, "done")
        view = double.wait_for(lambda: double.open_views("U1"))[0]
        assert ann.submit(view, {"goal": {"text": ""}}).json["response_action"] == "errors"
    finally:
        handler.close()


def test_response_url_and_multipart_upload(double: SlackDouble) -> None:
    url = double.response_url_for("U1", "C1")
    body = json.dumps({"text": "only you", "response_type": "ephemeral"}).encode()
    urllib.request.urlopen(
        urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    )
    assert double.responses() == [{"text": "only you", "response_type": "ephemeral"}]
    assert double.ephemerals(user="U1")[0]["text"] == "only you"

    file_id = client_for(double).files_getUploadURLExternal(filename="a.txt", length=3)["file_id"]
    boundary = "XyZ"
    multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nabc\r\n--{boundary}--\r\n"
    ).encode()
    request = urllib.request.Request(
        f"{double.base}/upload/{file_id}",
        data=multipart,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert urllib.request.urlopen(request).status == 200
    client_for(double).files_completeUploadExternal(files=[{"id": file_id, "title": "A"}], channel_id="C1")
    assert double.files[0]["content"] == b"abc"
    assert io.BytesIO(double.files[0]["content"]).read() == b"abc"
