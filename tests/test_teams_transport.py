"""The ledger's Teams transport over real HTTP against the Teams double: one card each, Teams'
limits and 429 storms, the in-doubt policy, unreachable people, the cached token, updates in
place and the file consent upload."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from microsoft_teams.api.auth.credentials import TokenProviderProtocol
from sqlmodel import select

from bench.teams_round import LocalDouble
from bench.teams_round import run_round as bench_round
from bot.services import Services, build_services
from bot.settings import from_env
from bot.teams.auth import BOT_SCOPE, BotTokenProvider
from bot.teams.pacing import Pacer
from bot.teams.transport import KEY_FIELD, NO_HISTORY, TeamsTransport, complete_upload, consent_pending
from bot.teams_double import TeamsDouble
from scheduling import delivery
from scheduling.clock import FakeClock
from scheduling.transport import Rendered, TransportError
from storage import migrate
from storage.db import Database
from storage.models import Delivery, Person, PersonIdentity

CLIENT_ID = "00000000-0000-4000-8000-00000000b075"
TENANT_ID = "11111111-1111-4111-8111-111111111111"
SECRET = "teams-double-secret"  # noqa: S105 - the double's fake secret
NOW = datetime(2026, 12, 3, 19, 0, tzinfo=UTC)


def card(text: str) -> dict[str, Any]:
    return {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": text, "wrap": True}]}


@dataclass
class World:
    double: TeamsDouble
    services: Services
    transport: TeamsTransport

    def teacher(self, n: int, *, chat: bool = True) -> str:
        """A Teams-only teacher: a person, their Teams identity (with the 1:1 chat unless `chat` is False)."""
        user_id = f"29:1test{n:05d}"
        self.double.add_user(f"Teacher {n}", user_id=user_id)
        cid = self.double.personal_conversation(user_id) if chat else None
        with self.services.db.session() as session:
            person = Person(handle=user_id, name=f"Teacher {n}")
            session.add(person)
            session.flush()
            session.add(PersonIdentity(person_id=person.id or 0, platform="teams", workspace=TENANT_ID,
                                       external_id=user_id, conversation_id=cid, service_url=self.double.service_url,
                                       created_at=NOW))
        return user_id

    def deliver(self, user_id: str, key: str | None = None, text: str = "Your check-in") -> delivery.Outcome:
        return delivery.deliver(self.services, key=key or f"checkin:1:{user_id}:1", kind="checkin",
                                recipient=user_id, text=text, blocks=card(text))  # type: ignore[arg-type]

    def keys_seen(self, user_id: str) -> list[str]:
        return [((a.get("channelData") or {}).get(KEY_FIELD) or {}).get("key") for a in self.double.seen_by(user_id)]

    def row(self, key: str) -> Delivery:
        with self.services.db.read() as session:
            found = session.exec(select(Delivery).where(Delivery.key == key)).one()
            session.expunge(found)
            return found


@pytest.fixture
def world(tmp_path) -> Iterator[World]:  # noqa: ANN001
    with TeamsDouble(client_id=CLIENT_ID, client_secret=SECRET, tenant_id=TENANT_ID) as double:
        settings = from_env({"TEAMS_CLIENT_ID": CLIENT_ID, "TEAMS_CLIENT_SECRET": SECRET, "TEAMS_TENANT_ID": TENANT_ID,
                             "TEAMS_LOGIN_URL": double.login_url, "DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}"})
        db = Database(settings.database_url)
        migrate.upgrade(db, backup=False)
        services = build_services(settings, db=db, clock=FakeClock(NOW))
        transport = TeamsTransport.from_settings(settings, db, timeout=3.0)
        services.transports.by_platform["teams"] = transport
        yield World(double, services, transport)


# ------------------------------------------------------------------------------ rounds
def test_a_round_through_the_scheduler_gives_each_of_many_teachers_one_card(tmp_path):  # noqa: ANN001
    # The benchmark's core at smoke size: the real check-in job, ledger and transport, Teams'
    # limits enforced by the double, a 429 and latency injected.
    double = LocalDouble()
    try:
        result = bench_round(double, teachers=50, threads=8, latency=0.01, extra_429s=2, server_errors=1,
                             workdir=tmp_path)
        assert double.double is not None
        cards = [a for a in double.double.seen_by("29:1bench000007")
                 if a["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"]
    finally:
        double.stop()
    assert (result.delivered, result.duplicates, result.lost) == (50, 0, 0), result.lines()
    assert result.states == {"sent": 50}
    assert result.token_requests == 1
    assert result.elapsed < 10, result.lines()
    [only] = cards
    assert only["channelData"][KEY_FIELD]["key"].startswith("checkin:")
    assert only["summary"]


def test_a_429_storm_during_a_round_still_delivers_every_card_once(world):
    teachers = [world.teacher(n) for n in range(24)]
    world.double.rate_limit(times=15, retry_after=0.05, op="send")
    outcomes: dict[str, str] = {}
    for _ in range(3):  # the ledger's later passes (the round's job released and run again)
        todo = [u for u in teachers if outcomes.get(u) != "sent"]
        with ThreadPoolExecutor(max_workers=6) as pool:
            for user_id, outcome in zip(todo, pool.map(world.deliver, todo), strict=True):
                outcomes[user_id] = outcome.state
    assert set(outcomes.values()) == {"sent"}
    assert all(world.keys_seen(u) == [f"checkin:1:{u}:1"] for u in teachers)
    limited = [c for c in world.double.calls_to("send") if c.status == 429]
    assert len(limited) == 15
    assert world.transport.retries.get("429", 0) >= 1


def test_the_pacer_keeps_one_chat_under_teams_limits(world):
    user_id = world.teacher(1)
    started = time.monotonic()
    for n in range(10):  # 7 a second, 8 in 2 s: the 9th waits for the 2-second window
        assert world.deliver(user_id, key=f"reminder:{n}:{user_id}").sent
    assert time.monotonic() - started >= 2.0
    assert [c.status for c in world.double.calls_to("send")] == [201] * 10


def test_a_stored_then_dropped_send_stays_in_doubt_is_not_resent_and_is_reported(world, caplog):
    user_id, other = world.teacher(1), world.teacher(2)
    key = f"checkin:1:{user_id}:1"
    world.double.drop_after_store(times=1, op="send")
    with caplog.at_level(logging.WARNING):
        first = world.deliver(user_id)
    # Teams stored it; the answer never came; Teams cannot be asked: the ledger records "unknown".
    assert first.state == "unknown"
    assert world.keys_seen(user_id) == [key]
    row = world.row(key)
    assert (row.state, row.error) == ("unknown", f"unresolved: {NO_HISTORY}")
    reported = [r for r in caplog.records if r.name == "plcbot.delivery" and r.levelno == logging.ERROR]
    assert any(key in r.getMessage() and "Teams" in r.getMessage() for r in reported)
    # A later pass (the job retried) looks again and still does not send it twice.
    again = world.deliver(user_id)
    assert again.state == "unknown"
    assert world.keys_seen(user_id) == [key]
    assert len(world.double.calls_to("send")) == 1
    # Everyone else is unaffected.
    assert world.deliver(other).sent and world.keys_seen(other) == [f"checkin:1:{other}:1"]


def test_an_answer_that_never_comes_is_in_doubt_too(world):
    user_id = world.teacher(1)
    world.transport.http.timeout = httpx.Timeout(0.3)
    world.double.slow(1.0, times=1, op="send", after_effect=True)  # stored, then answered too late
    assert world.deliver(user_id).state == "unknown"
    time.sleep(0.8)
    assert len(world.double.seen_by(user_id)) == 1
    assert world.deliver(user_id).state == "unknown"
    assert len(world.double.seen_by(user_id)) == 1


# ------------------------------------------------------------------------------ unreachable people
@pytest.mark.parametrize("code", ["ConversationBlockedByUser", "BotNotInConversationRoster", "NotFound"])
def test_an_unreachable_person_is_failed_once_and_the_others_get_theirs(world, code):
    teachers = [world.teacher(n) for n in range(5)]
    gone = teachers[2]
    world.double.unreachable(gone, code)
    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = dict(zip(teachers, pool.map(world.deliver, teachers), strict=True))
    assert (outcomes[gone].state, outcomes[gone].error) == ("failed", code)
    assert all(outcomes[u].sent and len(world.keys_seen(u)) == 1 for u in teachers if u != gone)
    refused = [c for c in world.double.calls_to("send") if c.status in (403, 404)]
    assert len(refused) == 1  # never retried
    assert world.deliver(gone).state == "failed"  # and a rerun leaves it failed
    assert len(world.double.calls_to("send")) == 5


def test_a_new_chat_is_created_once_and_its_id_stored_on_the_identity(world):
    user_id = world.teacher(1, chat=False)
    assert world.deliver(user_id, key="a").sent
    assert world.deliver(user_id, key="b").sent
    [created] = world.double.calls_to("create_conversation")
    assert created.status == 201 and created.body["members"] == [{"id": user_id}]
    assert created.body["tenantId"] == TENANT_ID and created.body["channelData"]["tenant"]["id"] == TENANT_ID
    with world.services.db.read() as session:
        identity = session.exec(select(PersonIdentity).where(PersonIdentity.external_id == user_id)).one()
    assert identity.conversation_id == world.double.personal_conversation(user_id)
    assert world.keys_seen(user_id) == ["a", "b"]


def test_a_person_who_removed_the_app_cannot_get_a_chat_and_is_failed(world):
    user_id = world.teacher(1, chat=False)
    world.double.unreachable(user_id, "BotNotInConversationRoster")
    outcome = world.deliver(user_id)
    assert (outcome.state, outcome.error) == ("failed", "BotNotInConversationRoster")


# ------------------------------------------------------------------------------ the token
def test_the_token_is_fetched_once_for_many_sends_and_again_after_expiry(world, caplog):
    teachers = [world.teacher(n) for n in range(20)]
    world.double.slow(0.2, times=1, op="token")  # many threads need it while the first fetch waits
    with caplog.at_level(logging.DEBUG), ThreadPoolExecutor(max_workers=8) as pool:
        assert all(o.sent for o in pool.map(world.deliver, teachers))
    assert world.double.token_requests == 1
    # Revoked early (the connector answers 401): one fresh token, and the send goes through.
    world.double.expire_tokens()
    assert world.deliver(teachers[0], key="after-401").sent
    assert world.double.token_requests == 2
    # Near its expiry it is fetched again before use.
    now = [0.0]
    tokens = BotTokenProvider(client_id=CLIENT_ID, client_secret=SECRET, tenant_id=TENANT_ID,
                              login_url=world.double.login_url, clock=lambda: now[0])
    first = tokens.token()
    now[0] = 3000.0
    assert tokens.token() == first
    now[0] = 3301.0  # within the last 300 s of its 3,600
    assert tokens.token() != first
    assert tokens.fetches == 2
    assert world.double.token_requests == 4
    # Neither the secret nor a token is ever logged or shown.
    text = caplog.text + repr(tokens) + repr(world.transport.tokens)
    assert SECRET not in text and first not in text


def test_the_provider_is_the_sdks_token_option_and_is_thread_safe(world):
    tokens = world.transport.tokens
    assert isinstance(tokens, TokenProviderProtocol)
    world.double.slow(0.3, times=1, op="token")
    barrier = threading.Barrier(12)

    def ask(_: int) -> str:
        barrier.wait()
        return tokens(BOT_SCOPE, None)

    with ThreadPoolExecutor(max_workers=12) as pool:
        got = set(pool.map(ask, range(12)))
    assert len(got) == 1 and world.double.token_requests == 1
    assert tokens.get_app_token(BOT_SCOPE, TENANT_ID) in got


def test_a_wrong_secret_keeps_rows_pending_and_names_only_the_error(world):
    user_id = world.teacher(1)
    world.transport.tokens = BotTokenProvider(client_id=CLIENT_ID, client_secret="wrong-secret-value",  # noqa: S106
                                              tenant_id=TENANT_ID, login_url=world.double.login_url)
    outcome = world.deliver(user_id)
    assert (outcome.state, outcome.error) == ("pending", "ratelimited")
    assert world.double.seen_by(user_id) == []


# ------------------------------------------------------------------------------ updates
def test_an_update_replaces_the_card_in_place(world):
    user_id = world.teacher(1)
    outcome = world.deliver(user_id, text="Check in: how did the week go?")
    assert outcome.channel_id and outcome.ts
    world.transport.update(outcome.channel_id, outcome.ts, Rendered("Thanks!", card("Thanks, recorded.")))
    [activity] = world.double.activities(outcome.channel_id)
    assert activity["id"] == outcome.ts
    assert activity["attachments"][0]["content"]["body"][0]["text"] == "Thanks, recorded."
    assert len(activity["versions"]) == 1
    with pytest.raises(TransportError) as gone:
        world.transport.update(outcome.channel_id, "999", Rendered("x", card("x")))
    assert gone.value.gone and not gone.value.permanent


def test_render_uses_the_teams_cards(world):
    from storage.rules.digest import parse_week
    from storage.views.digest import UploadFailed

    rendered = world.transport.render(UploadFailed(school="Lincoln", week=parse_week("2026-W48")))
    assert isinstance(rendered.body, dict) and rendered.body["type"] == "AdaptiveCard" and rendered.text


# ------------------------------------------------------------------------------ files
def test_a_file_consent_card_is_sent_and_complete_upload_stores_the_bytes(world):
    user_id = world.teacher(1)
    content = b"PK\x03\x04 workbook " * 5000
    sent = world.transport.upload(user_id, content, filename="digest-2026-W48.xlsx", title="PLC digest",
                                  comment="The detail for week 2026-W48.", key="digest-file:1:2026-W48:x")
    assert consent_pending(sent.id)
    [offer] = world.double.file_consents(user_id)
    assert (offer["name"], offer["sizeInBytes"]) == ("digest-2026-W48.xlsx", len(content))
    assert offer["acceptContext"]["key"] == "digest-file:1:2026-W48:x"
    assert offer["acceptContext"]["sha256"] == hashlib.sha256(content).hexdigest()
    # The person accepts: Teams sends fileConsent/invoke with the upload URL.
    value = world.double.consent_answer(offer, "accept")
    done = complete_upload(value["uploadInfo"], content, transport=world.transport,
                           conversation=sent.conversation or "", service_url=world.double.service_url)
    assert world.double.uploaded(offer["uniqueId"]) == content
    assert done.id == offer["uniqueId"] and not consent_pending(done.id)
    kinds = [a["attachments"][0]["contentType"] for a in world.double.seen_by(user_id)]
    assert kinds == ["application/vnd.microsoft.teams.card.file.consent",
                     "application/vnd.microsoft.teams.card.file.info"]
    [upload] = world.double.calls_to("upload")
    assert "Authorization" not in str(upload.body)
    with pytest.raises(TransportError) as doubt:
        world.transport.find_file(user_id, "digest-2026-W48.xlsx", conversation=sent.conversation)
    assert doubt.value.code == NO_HISTORY and not doubt.value.permanent


def test_pacer_counts_the_app_across_conversations():
    now = [0.0]
    pacer = Pacer(margin=1.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    for n in range(50):
        assert pacer.reserve(f"a:{n}") == 0.0
    assert pacer.reserve("a:other") == pytest.approx(1.0)
    for _ in range(7):
        assert pacer.reserve(None) == pytest.approx(1.0)
    now[0] = 1.0
    for _ in range(7):
        assert pacer.reserve("a:same") == 0.0
    assert pacer.reserve("a:same") == pytest.approx(1.0)  # 7 a second in one chat
    assert pacer.acquire("a:same") == pytest.approx(1.0)
    now[0] = 2.5
    assert pacer.reserve("a:same") > 0  # 8 in 2 s


def test_pacer_counts_member_reads_apart_from_messages():
    """Teams' table: "Get conversation members" has its own budget per conversation (14/s, 16 in 2 s, 120 in
    30 s), not the messages' (7/s, 8 in 2 s, 60 in 30 s); both count against the app's 50 a second."""
    now = [0.0]
    pacer = Pacer(margin=1.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    channel = "19:abc@thread.tacv2"
    for _ in range(7):
        assert pacer.reserve(channel) == 0.0
    assert pacer.reserve(channel) == pytest.approx(1.0)  # the channel's messages are at their limit
    for _ in range(14):
        assert pacer.reserve(f"{channel};messageid=1", read=True) == 0.0  # its roster reads are not held up
    assert pacer.reserve(channel, read=True) == pytest.approx(1.0)  # 14 reads a second
    assert pacer.reserve(channel) == pytest.approx(1.0)  # and the reads took no message's turn
    for n in range(29):
        assert pacer.reserve(f"a:{n}") == 0.0
    assert pacer.reserve("a:more", read=True) == pytest.approx(1.0)  # 7 + 14 + 29 = the app's 50 a second
