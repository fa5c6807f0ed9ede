"""The Teams double answers over real HTTP the way Microsoft's services do, and the SDK trusts its tokens."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from microsoft_teams.api.auth.cloud_environment import PUBLIC
from microsoft_teams.apps.auth.token_validator import TokenValidator

from bot.teams_double import TeamsDouble, TeamsUser, activity_problems

CARD = "application/vnd.microsoft.card.adaptive"
CONSENT = "application/vnd.microsoft.teams.card.file.consent"


@pytest.fixture
def double() -> Iterator[TeamsDouble]:
    with TeamsDouble() as d:
        yield d


def http(method: str, url: str, body: Any = None, *, token: str | None = None, headers: dict | None = None,
         raw: bytes | None = None, timeout: float = 5.0) -> tuple[int, Any, dict]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=all_headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload, got = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        status, payload, got = exc.code, exc.read(), dict(exc.headers)
    try:
        return status, json.loads(payload) if payload else None, got
    except ValueError:
        return status, payload, got


def get_token(d: TeamsDouble, **overrides: str) -> tuple[int, dict]:
    form = {"grant_type": "client_credentials", "client_id": d.client_id, "client_secret": d.client_secret,
            "scope": "https://api.botframework.com/.default", **overrides}
    status, body, _ = http("POST", d.token_url, raw=urlencode(form).encode(),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    return status, body


def bearer(d: TeamsDouble) -> str:
    status, body = get_token(d)
    assert status == 200, body
    return body["access_token"]


def card(text: str, *actions: dict) -> dict:
    content = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": text}]}
    if actions:
        content["actions"] = list(actions)
    return {"type": "message", "attachments": [{"contentType": CARD, "content": content}]}


def create_chat(d: TeamsDouble, token: str, member: dict) -> tuple[int, Any]:
    body = {"bot": {"id": d.bot_id}, "members": [{"id": member["id"]}], "tenantId": d.tenant_id,
            "channelData": {"tenant": {"id": d.tenant_id}}, "isGroup": False}
    status, answer, _ = http("POST", d.service_url + "v3/conversations", body, token=token)
    return status, answer


def send(d: TeamsDouble, token: str, cid: str, activity: dict) -> tuple[int, Any, dict]:
    return http("POST", f"{d.service_url}v3/conversations/{cid}/activities", activity, token=token)


# ---------------------------------------------------------------------- identity provider
def validate(d: TeamsDouble, token: str, service_url: str | None = None) -> dict:
    cloud = dataclasses.replace(PUBLIC, openid_metadata_url=d.openid_metadata_url, login_endpoint=d.login_url)
    validator = TokenValidator.for_service(d.client_id, service_url=service_url or d.service_url, cloud=cloud)
    return asyncio.run(validator.validate_token(token))


def test_metadata_points_at_the_doubles_own_keys(double: TeamsDouble) -> None:
    status, meta, _ = http("GET", double.openid_metadata_url)
    assert status == 200 and meta["issuer"] == "https://api.botframework.com"
    assert meta["jwks_uri"] == double.openid_metadata_url.replace("/openidconfiguration", "/keys")
    status, keys, _ = http("GET", meta["jwks_uri"])
    assert [k["kid"] for k in keys["keys"]] == [double.kid] and keys["keys"][0]["kty"] == "RSA"


def test_the_sdk_validator_accepts_the_doubles_token(double: TeamsDouble) -> None:
    claims = validate(double, double.sign_for_bot())
    assert claims["aud"] == double.client_id and claims["serviceurl"] == double.service_url


@pytest.mark.parametrize(
    "kwargs",
    [
        {"key": "other"},
        {"expired": True},
        {"audience": "someone-else"},
        {"service_url": "https://smba.trafficmanager.net/evil/"},
        {"issuer": "https://sts.example.org"},
    ],
    ids=["other-key", "expired", "wrong-audience", "wrong-serviceurl", "wrong-issuer"],
)
def test_the_sdk_validator_refuses_bad_tokens(double: TeamsDouble, kwargs: dict) -> None:
    with pytest.raises(jwt.InvalidTokenError):
        validate(double, double.sign_for_bot(**kwargs))


@pytest.mark.parametrize("key", ["unknown-kid", "none"])
def test_the_sdk_validator_refuses_unsigned_and_unknown_keys(double: TeamsDouble, key: str) -> None:
    with pytest.raises(jwt.PyJWTError):
        validate(double, double.sign_for_bot(key=key))


def test_token_endpoint_checks_the_client_and_counts_requests(double: TeamsDouble) -> None:
    status, body = get_token(double)
    assert status == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert get_token(double, client_secret="wrong")[0] == 401
    assert get_token(double, scope="https://graph.microsoft.com/.default")[1]["error"] == "invalid_scope"
    assert get_token(double, client_id="nobody")[0] == 400
    assert double.token_requests == 1
    assert double.calls_to("token")[1].body["client_secret"] == "***"


# ---------------------------------------------------------------------- Bot Connector
def test_create_send_update_delete_round_trip(double: TeamsDouble) -> None:
    ann = double.add_user("Ann Teacher")
    token = bearer(double)
    status, answer = create_chat(double, token, ann)
    assert status == 201 and answer["id"].startswith("a:")
    assert create_chat(double, token, ann)[1]["id"] == answer["id"]  # same member, same chat
    cid = answer["id"]

    status, sent, _ = send(double, token, cid, card("Check-in", {"type": "Action.Execute", "title": "On track",
                                                                    "verb": "checkin", "data": {"s": "on"}}))
    assert status == 201
    status, _, _ = http("PUT", f"{double.base}/v3/conversations/{cid}/activities/{sent['id']}",
                        card("Thanks, recorded"), token=token)
    assert status == 200
    seen = double.seen_by(ann["id"])
    assert len(seen) == 1 and seen[0]["id"] == sent["id"]
    assert double.cards(cid)[0]["body"][0]["text"] == "Thanks, recorded"
    assert seen[0]["versions"][0]["attachments"][0]["content"]["body"][0]["text"] == "Check-in"

    status, reply, _ = http("POST", f"{double.base}/v3/conversations/{cid}/activities/{sent['id']}",
                            {"type": "message", "text": "a reply"}, token=token)
    assert status == 201 and double.activity(cid, reply["id"])["replyToId"] == sent["id"]
    assert http("DELETE", f"{double.base}/v3/conversations/{cid}/activities/{reply['id']}", token=token)[0] == 200
    assert [a["id"] for a in double.seen_by(ann["aadObjectId"])] == [sent["id"]]
    assert [c.op for c in double.calls] == ["token", "create_conversation", "create_conversation", "send",
                                            "update", "send", "delete"]


def test_every_connector_call_needs_a_live_token(double: TeamsDouble) -> None:
    ann = double.add_user("Ann")
    status, body = create_chat(double, "", ann)
    assert status == 401
    assert create_chat(double, double.sign_for_bot(), ann)[0] == 401  # an inbound token is not a bot token
    token = bearer(double)
    cid = create_chat(double, token, ann)[1]["id"]
    double.expire_tokens()
    assert send(double, token, cid, {"type": "message", "text": "hi"})[0] == 401
    assert double.activities(cid) == []
    assert send(double, bearer(double), cid, {"type": "message", "text": "hi"})[0] == 201


def test_unknown_conversation_bad_bodies_and_oversized_messages(double: TeamsDouble) -> None:
    token = bearer(double)
    assert send(double, token, "a:nope", {"type": "message", "text": "x"})[0] == 404
    cid = create_chat(double, token, double.add_user("Ann"))[1]["id"]
    assert send(double, token, cid, {"type": "message"})[0] == 400
    status, body, _ = send(double, token, cid, {"type": "message", "text": "x" * 30_000})
    assert status == 413 and body["error"]["code"] == "MessageSizeTooBig"
    assert activity_problems({"type": "message", "attachments": [{"contentType": CARD, "content": {}}]})


def test_channel_thread_and_replies_are_stored_under_the_channel(double: TeamsDouble) -> None:
    ann = double.add_user("Ann")
    team = double.add_team("Math PLC", [ann["id"]])
    token = bearer(double)
    body = {"isGroup": True, "channelData": {"channel": {"id": team["id"]}, "tenant": {"id": double.tenant_id}},
            "activity": card("Agenda")}
    status, thread, _ = http("POST", double.service_url + "v3/conversations", body, token=token)
    assert status == 201 and thread["id"] == f"{team['id']};messageid={thread['activityId']}"
    assert send(double, token, thread["id"], {"type": "message", "text": "in thread"})[0] == 201
    assert [a.get("text") for a in double.activities(team["id"])] == [None, "in thread"]


def test_paged_members_pages_the_roster(double: TeamsDouble) -> None:
    people = [double.add_user(f"Teacher {i}", email=f"t{i}@school.org") for i in range(5)]
    team = double.add_team("Math PLC", [p["id"] for p in people])
    token = bearer(double)
    seen, continuation, pages = [], None, 0
    while True:
        query = "pageSize=2" + (f"&continuationToken={urllib.parse.quote(continuation)}" if continuation else "")
        status, page, _ = http("GET", f"{double.base}/v3/conversations/{team['id']}/pagedMembers?{query}",
                               token=token)
        assert status == 200
        pages += 1
        seen += page["members"]
        continuation = page.get("continuationToken")
        if not continuation:
            break
    assert pages == 3 and [m["email"] for m in seen] == [f"t{i}@school.org" for i in range(5)]
    assert {"id", "aadObjectId", "name", "email", "userPrincipalName", "tenantId"} <= set(seen[0])
    status, one, _ = http("GET", f"{double.base}/v3/conversations/{team['id']}/members/{people[3]['id']}",
                          token=token)
    assert status == 200 and one["aadObjectId"] == people[3]["aadObjectId"]
    outsider = double.add_user("Outsider")
    assert http("GET", f"{double.base}/v3/conversations/{team['id']}/members/{outsider['id']}", token=token)[0] == 404


# ---------------------------------------------------------------------- limits and faults
def test_per_conversation_limit_answers_429_with_retry_after(double: TeamsDouble) -> None:
    token = bearer(double)
    cid = create_chat(double, token, double.add_user("Ann"))[1]["id"]
    statuses = [send(double, token, cid, {"type": "message", "text": str(i)})[0] for i in range(7)]
    assert statuses == [201] * 7
    status, body, headers = send(double, token, cid, {"type": "message", "text": "eighth"})
    assert status == 429 and int(headers["Retry-After"]) >= 1 and body["error"]["code"] == "TooManyRequests"
    assert len(double.activities(cid)) == 7


def test_limits_are_time_scalable_and_switchable(double: TeamsDouble) -> None:
    double.set_limits(time_scale=0.01)  # "7 a second" becomes "7 in 10 ms"
    token = bearer(double)
    cid = create_chat(double, token, double.add_user("Ann"))[1]["id"]
    for i in range(7):
        send(double, token, cid, {"type": "message", "text": str(i)})
    # 8 in 2 s (scaled: 20 ms) and 7 in 1 s both clear after a short pause
    time.sleep(0.05)
    assert send(double, token, cid, {"type": "message", "text": "later"})[0] == 201
    double.set_limits(enabled=False)
    assert all(send(double, token, cid, {"type": "message", "text": "x"})[0] == 201 for _ in range(20))


def test_per_app_limit_is_50_requests_a_second(double: TeamsDouble) -> None:
    token = bearer(double)
    people = [double.add_user(f"T{i}") for i in range(51)]
    statuses = [create_chat(double, token, p)[0] for p in people]
    assert statuses.count(201) == 50 and statuses[-1] == 429


def test_429_storm_then_recovery(double: TeamsDouble) -> None:
    token = bearer(double)
    cid = create_chat(double, token, double.add_user("Ann"))[1]["id"]
    double.rate_limit(times=3, retry_after=2)
    results = [send(double, token, cid, {"type": "message", "text": "x"}) for _ in range(4)]
    assert [r[0] for r in results] == [429, 429, 429, 201]
    assert results[0][2]["Retry-After"] == "2"
    assert len(double.activities(cid)) == 1


@pytest.mark.parametrize("status", [500, 502, 504, 412])
def test_server_errors_store_nothing(double: TeamsDouble, status: int) -> None:
    token = bearer(double)
    cid = create_chat(double, token, double.add_user("Ann"))[1]["id"]
    double.server_error(status, times=1, op="send")
    assert send(double, token, cid, {"type": "message", "text": "x"})[0] == status
    assert double.activities(cid) == []
    assert send(double, token, cid, {"type": "message", "text": "x"})[0] == 201


def test_store_then_drop_stores_exactly_once(double: TeamsDouble) -> None:
    token = bearer(double)
    cid = create_chat(double, token, double.add_user("Ann"))[1]["id"]
    double.drop_after_store()
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(
            urllib.request.Request(f"{double.base}/v3/conversations/{cid}/activities",
                                   data=json.dumps({"type": "message", "text": "once"}).encode(),
                                   headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                                   method="POST"),
            timeout=5,
        )
    assert [a["text"] for a in double.activities(cid)] == ["once"]
    assert double.calls_to("send")[-1].status == 0 and double.calls_to("send")[-1].error == "dropped_after_store"
    assert send(double, token, cid, {"type": "message", "text": "next"})[0] == 201  # the fault was used up


def test_slow_answers_and_slow_after_store(double: TeamsDouble) -> None:
    token = bearer(double)
    cid = create_chat(double, token, double.add_user("Ann"))[1]["id"]
    double.slow(0.3, times=1, op="send")
    started = time.monotonic()
    assert send(double, token, cid, {"type": "message", "text": "x"})[0] == 201
    assert time.monotonic() - started >= 0.3
    double.slow(1.0, times=1, op="send", after_effect=True)
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        http("POST", f"{double.base}/v3/conversations/{cid}/activities", {"type": "message", "text": "timed out"},
             token=token, timeout=0.2)
    assert [a["text"] for a in double.activities(cid)] == ["x", "timed out"]


def test_unreachable_member_fails_alone(double: TeamsDouble) -> None:
    ann, bob = double.add_user("Ann"), double.add_user("Bob")
    token = bearer(double)
    double.unreachable(ann["id"], "ConversationBlockedByUser")
    status, body = create_chat(double, token, ann)
    assert status == 403 and body["error"]["code"] == "ConversationBlockedByUser"
    assert create_chat(double, token, bob)[0] == 201
    double.reachable(ann["id"])
    cid = create_chat(double, token, ann)[1]["id"]
    double.unreachable(ann["aadObjectId"], "NotFound")
    assert send(double, token, cid, {"type": "message", "text": "x"})[0] == 404


# ---------------------------------------------------------------------- file consent
def offer_file(double: TeamsDouble, token: str, member: dict) -> tuple[str, dict]:
    cid = create_chat(double, token, member)[1]["id"]
    consent = {"type": "message", "attachments": [{
        "contentType": CONSENT, "name": "digest.xlsx",
        "content": {"description": "This week's digest", "sizeInBytes": 10,
                    "acceptContext": {"digest": 7}, "declineContext": {"digest": 7}}}]}
    assert send(double, token, cid, consent)[0] == 201
    return cid, double.file_consents(member["id"])[0]


def test_file_consent_accept_then_single_shot_upload(double: TeamsDouble) -> None:
    ann = double.add_user("Ann")
    _, offer = offer_file(double, bearer(double), ann)
    assert offer["name"] == "digest.xlsx" and offer["sizeInBytes"] == 10
    upload_url = f"{double.base}/upload/{offer['uniqueId']}"
    assert http("PUT", upload_url, raw=b"0123456789", headers={"Content-Range": "bytes 0-9/10"})[0] == 404
    value = double.consent_answer(offer, "accept")
    assert value["type"] == "fileUpload" and value["action"] == "accept" and value["context"] == {"digest": 7}
    info = value["uploadInfo"]
    assert info["uploadUrl"] == upload_url and info["fileType"] == "xlsx" and info["name"] == "digest.xlsx"
    assert http("PUT", info["uploadUrl"], raw=b"0123456789")[0] == 400  # OneDrive needs Content-Range
    status, item, _ = http("PUT", info["uploadUrl"], raw=b"0123456789", headers={"Content-Range": "bytes 0-9/10"})
    assert status == 201 and item["size"] == 10
    assert double.uploaded(offer["uniqueId"]) == b"0123456789"
    assert http("GET", info["contentUrl"])[1] == b"0123456789"


def test_file_consent_chunked_upload_and_decline(double: TeamsDouble) -> None:
    token = bearer(double)
    ann, bob = double.add_user("Ann"), double.add_user("Bob")
    _, offer = offer_file(double, token, ann)
    info = double.consent_answer(offer)["uploadInfo"]
    status, part, _ = http("PUT", info["uploadUrl"], raw=b"01234", headers={"Content-Range": "bytes 0-4/10"})
    assert status == 202 and part["nextExpectedRanges"] == ["5-"] and double.uploaded(offer["uniqueId"]) is None
    assert http("PUT", info["uploadUrl"], raw=b"56789", headers={"Content-Range": "bytes 5-9/10"})[0] == 201
    assert double.uploaded(offer["uniqueId"]) == b"0123456789"
    _, declined = offer_file(double, token, bob)
    value = double.consent_answer(declined, "decline")
    assert value["action"] == "decline" and "uploadInfo" not in value


# ---------------------------------------------------------------------- the user driver
class _Recorder(BaseHTTPRequestHandler):
    received: list[tuple[dict, str]]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((json.loads(raw), self.headers.get("Authorization", "")))  # type: ignore
        data = json.dumps({"status": 200, "body": {"ok": True}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fake_bot() -> Iterator[tuple[str, list]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/messages", server.received  # type: ignore
    server.shutdown()
    server.server_close()


def test_user_driver_sends_signed_teams_activities(double: TeamsDouble, fake_bot: tuple[str, list]) -> None:
    url, received = fake_bot
    ann = double.add_user("Ann Teacher")
    team = double.add_team("Math PLC", [ann["id"]])
    user = TeamsUser(double, ann["id"], bot_url=url)

    reply = user.say("agenda")
    assert reply.status == 200 and reply.json == {"status": 200, "body": {"ok": True}}
    user.say_in_channel("agenda", team["id"])
    user.install_in_team(team["id"])
    user.execute("checkin", {"action": "checkin", "status": "on_track"}, reply_to="123")
    user.task_fetch({"dialog": "add_item"}, team_id=team["id"])
    user.task_submit({"title": "Data talk"})

    personal, channel, install, click, fetch, submit = [a for a, _ in received]
    for activity, auth in received:
        assert activity["channelId"] == "msteams" and activity["serviceUrl"] == double.service_url
        assert activity["from"] == {"id": ann["id"], "name": "Ann Teacher", "aadObjectId": ann["aadObjectId"]}
        assert activity["recipient"]["id"] == f"28:{double.client_id}"
        assert activity["channelData"]["tenant"]["id"] == double.tenant_id
        assert activity["conversation"]["tenantId"] == double.tenant_id
        validate(double, auth.removeprefix("Bearer "), activity["serviceUrl"])  # the SDK would accept it
    assert personal["conversation"] == {"conversationType": "personal", "tenantId": double.tenant_id,
                                        "id": double.personal_conversation(ann["id"])}
    assert channel["text"] == "<at>plcbot</at> agenda" and channel["conversation"]["conversationType"] == "channel"
    mention = [e for e in channel["entities"] if e["type"] == "mention"][0]
    assert mention["mentioned"]["id"] == double.bot_id and mention["text"] == "<at>plcbot</at>"
    assert install["type"] == "conversationUpdate" and install["membersAdded"] == [{"id": double.bot_id}]
    assert install["channelData"]["team"]["id"] == team["id"]
    assert click["type"] == "invoke" and click["name"] == "adaptiveCard/action" and click["replyToId"] == "123"
    assert click["value"]["action"] == {"type": "Action.Execute", "verb": "checkin",
                                        "data": {"action": "checkin", "status": "on_track"}}
    assert fetch["name"] == "task/fetch" and fetch["value"]["data"]["dialog"] == "add_item"
    assert fetch["conversation"]["conversationType"] == "channel"
    assert submit["name"] == "task/submit" and submit["value"]["data"] == {"title": "Data talk"}


def test_user_driver_clicks_cards_and_answers_file_consent(double: TeamsDouble, fake_bot: tuple[str, list]) -> None:
    url, received = fake_bot
    ann = double.add_user("Ann")
    token = bearer(double)
    cid = create_chat(double, token, ann)[1]["id"]
    send(double, token, cid, card("How is it going?", {"type": "Action.Execute", "title": "On track",
                                                      "verb": "checkin", "data": {"action": "checkin"}}))
    user = TeamsUser(double, ann["id"], bot_url=url)
    user.click(double.seen_by(ann["id"])[0], "On track", inputs={"note": "fine"})
    _, offer = offer_file(double, token, ann)
    user.file_consent(offer, "accept")
    assert user.send(user.personal("message") | {"text": "unsigned"}, token=None).status == 200
    click, consent, unsigned = received
    assert click[0]["value"]["action"]["data"] == {"action": "checkin", "note": "fine"}
    assert click[0]["replyToId"] == double.seen_by(ann["id"])[0]["id"]
    assert consent[0]["name"] == "fileConsent/invoke" and consent[0]["replyToId"] == offer["activityId"]
    assert consent[0]["value"]["uploadInfo"]["uploadUrl"] == f"{double.base}/upload/{offer['uniqueId']}"
    assert unsigned[1] == ""


def test_the_sdks_own_api_client_round_trips_through_the_double(double: TeamsDouble) -> None:
    from microsoft_teams.api.activities.message.message import MessageActivityInput
    from microsoft_teams.api.clients.api_client import ApiClient
    from microsoft_teams.api.clients.conversation.params import CreateConversationParams
    from microsoft_teams.api.models import Account
    from microsoft_teams.common import ClientOptions

    ann = double.add_user("Ann", email="ann@school.org")
    team = double.add_team("Math PLC", [ann["id"]])
    token = bearer(double)

    async def run() -> tuple[str, Any, Any]:
        api = ApiClient(double.service_url, ClientOptions(token=token))
        conversations = api.conversations
        chat = await conversations.create(CreateConversationParams(
            members=[Account(id=ann["id"], name="Ann")], tenant_id=double.tenant_id,
            channel_data={"tenant": {"id": double.tenant_id}}))
        sent = await conversations.create_activity(chat.id, MessageActivityInput(text="hello"))
        await conversations.update_activity(chat.id, sent.id, MessageActivityInput(text="edited"))
        await conversations.reply_to_activity(chat.id, sent.id, MessageActivityInput(text="reply"))
        page = await conversations.get_paged_members(team["id"], page_size=1)
        member = await conversations.get_member_by_id(team["id"], ann["id"])
        return chat.id, page, member

    cid, page, member = asyncio.run(run())
    assert cid == double.personal_conversation(ann["id"])
    assert [(a["text"], len(a["versions"])) for a in double.seen_by(ann["id"])] == [("edited", 1), ("reply", 0)]
    assert page.members[0].email == "ann@school.org" and member.aad_object_id == ann["aadObjectId"]
    assert all(c.status in (200, 201) for c in double.calls)
