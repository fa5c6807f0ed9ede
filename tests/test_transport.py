"""The delivery ledger through a transport that is not Slack.

`MemoryTransport` has Teams' shapes (FIELD-NOTES, Microsoft Teams): people are `29:…` ids
reached in a 1:1 conversation (`a:…`), a sent message is an activity with an id of its own and
is updated by that id, a file goes to the personal chat. The Slack clients are replaced by
objects that fail on any use: nothing here touches Slack.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from bot.services import build_services
from bot.settings import from_env
from scheduling.clock import FakeClock
from scheduling.delivery import deliver
from scheduling.digest import upload_once
from scheduling.transport import Rendered, Sent, TransportError, Transports
from storage import migrate
from storage.db import Database
from storage.models import Delivery
from storage.views.feedback import FeedbackPrompt
from tests.harness import addressed, recipient_of

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
TEACHER = "29:1teacher-aad-object"


@dataclass
class Activity:
    id: str
    key: str | None
    text: str
    body: Any
    data: dict[str, Any]


@dataclass
class MemoryTransport:
    """A chat platform in memory. `faults` are used up one per call of the named method:
    'landed' stores and then drops the connection, 'refused' and 'limited' are error answers."""

    platform: str = "teams"
    service_url: str = "https://smba.example.test/amer/"
    tenant: str = "tenant-1"
    chats: dict[str, list[Activity]] = field(default_factory=dict)
    files: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)
    faults: dict[str, list[str]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    ids: Any = field(default_factory=lambda: itertools.count(1))

    def _fault(self, method: str) -> str | None:
        waiting = self.faults.get(method) or []
        return waiting.pop(0) if waiting else None

    def render(self, view: object) -> Rendered:
        """Its own "card": the view model itself as the body, its type's name as the text."""
        self.calls.append("render")
        return Rendered(type(view).__name__, view)

    def conversation(self, recipient: str, known: str | None = None) -> str:
        self.calls.append("conversation")
        return known or f"a:1on1-{recipient.split(':', 1)[1]}"

    def send(self, recipient: str, message: Rendered, *, key: str, conversation: str | None = None,
             thread: str | None = None, data: Mapping[str, Any] | None = None) -> Sent:
        self.calls.append("send")
        fault = self._fault("send")
        if fault == "refused":
            raise TransportError("ConversationBlockedByUser", permanent=True)
        if fault == "limited":
            raise TransportError("429", rate_limited=True, retry_after=1.0)
        chat = self.conversation(recipient, conversation)
        activity = Activity(f"1:{next(self.ids)}", key, message.text, message.body, dict(data or {}))
        self.chats.setdefault(chat, []).append(activity)
        if fault == "landed":
            raise ConnectionResetError("the connection dropped after the service stored it")
        return Sent(chat, activity.id)

    def update(self, conversation: str, message_id: str, message: Rendered) -> None:
        self.calls.append("update")
        for activity in self.chats.get(conversation, []):
            if activity.id == message_id:
                activity.text, activity.body = message.text, message.body
                return
        raise TransportError("ActivityNotFound", gone=True)

    def find(self, recipient: str, key: str, *, conversation: str | None = None) -> Sent | None:
        self.calls.append("find")
        chat = self.conversation(recipient, conversation)
        return next((Sent(chat, a.id) for a in self.chats.get(chat, []) if a.key == key), None)

    def upload(self, recipient: str, content: bytes, *, filename: str, title: str, comment: str,
               conversation: str | None = None, key: str | None = None) -> Sent:
        self.calls.append("upload")
        fault = self._fault("upload")
        if fault == "refused":
            raise TransportError("FileConsentDeclined", permanent=True)
        chat = self.conversation(recipient, conversation)
        self.files.setdefault(chat, []).append((filename, content))
        if fault == "landed":
            raise TimeoutError("no answer after the bytes were stored")
        return Sent(chat, f"file-{len(self.files[chat])}")

    def find_file(self, recipient: str, filename: str, *, conversation: str | None = None) -> Sent | None:
        self.calls.append("find_file")
        chat = self.conversation(recipient, conversation)
        names = [name for name, _ in self.files.get(chat, [])]
        return Sent(chat, f"file-{names.index(filename) + 1}") if filename in names else None

    def sent(self, key: str) -> list[Activity]:
        return [a for chat in self.chats.values() for a in chat if a.key == key]


class NoSlack:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Slack was used: {name}")


@pytest.fixture
def teams(any_db_url):  # noqa: ANN001, ANN201
    db = Database(any_db_url)
    migrate.upgrade(db)
    services = build_services(from_env({"DATABASE_URL": any_db_url, "SLACK_API_URL": "http://127.0.0.1:9/api/"}),
                              db=db, clock=FakeClock(NOW))
    transport = MemoryTransport()
    services.slack = services.slack_send = NoSlack()  # type: ignore[assignment]
    services.transports = Transports({"teams": transport}, default="teams")
    yield services, transport
    db.engine.dispose()


def _row(services, key: str) -> Delivery:  # noqa: ANN001
    with services.db.read() as session:
        return session.exec(select(Delivery).where(Delivery.key == key)).one()


def test_the_same_key_twice_sends_once_and_the_message_is_updated_by_its_id(teams):
    services, transport = teams
    first = deliver(services, key="checkin:1:29:1teacher:1", kind="checkin", recipient=TEACHER,
                    text="How is week 1 going?", blocks=[{"type": "AdaptiveCard", "body": []}],
                    payload={"checkin_id": 7})
    second = deliver(services, key="checkin:1:29:1teacher:1", kind="checkin", recipient=TEACHER, text="again")
    assert first.sent and second.sent and second.already and not first.already
    assert first.channel_id == "a:1on1-1teacher-aad-object" and first.ts == "1:1"
    assert (second.channel_id, second.ts) == (first.channel_id, first.ts)
    [activity] = transport.sent("checkin:1:29:1teacher:1")
    assert activity.body == [{"type": "AdaptiveCard", "body": []}] and activity.data == {"checkin_id": 7}
    assert transport.calls.count("send") == 1
    row = _row(services, "checkin:1:29:1teacher:1")
    with services.db.read() as session:
        assert (row.state, row.channel_id, row.ts, recipient_of(session, row)) == (
            "sent", first.channel_id, "1:1", TEACHER)
    # What the ledger kept is enough to update the message in place.
    transport.update(row.channel_id, row.ts, Rendered("Answered", None))
    assert activity.text == "Answered"


def test_a_view_model_is_rendered_by_the_recipients_transport(teams):
    services, transport = teams
    prompt = FeedbackPrompt(meeting_id=9, title="Data day", starts_at=NOW, closes_at=NOW + timedelta(days=5),
                            timezone="America/New_York")
    outcome = deliver(services, key="feedback:9", kind="feedback_prompt", recipient=TEACHER, view=prompt)
    assert outcome.sent
    [activity] = transport.sent("feedback:9")
    assert activity.text == "FeedbackPrompt" and activity.body is prompt  # no Slack renderer involved


def test_a_send_in_doubt_is_settled_by_find_and_not_sent_twice(teams):
    services, transport = teams
    transport.faults["send"] = ["landed"]
    outcome = deliver(services, key="k-doubt", kind="test", recipient=TEACHER, text="hello")
    assert outcome.sent and outcome.already
    again = deliver(services, key="k-doubt", kind="test", recipient=TEACHER, text="hello")
    assert again.sent and len(transport.sent("k-doubt")) == 1 and transport.calls.count("send") == 1


def test_a_row_left_sending_by_a_crash_is_found_not_resent(teams):
    services, transport = teams
    chat = transport.conversation(TEACHER)
    transport.chats[chat] = [Activity("1:99", "k-crash", "hello", None, {})]  # stored, then the process died
    old = NOW - timedelta(minutes=10)
    with services.db.session() as session:
        session.add(Delivery(key="k-crash", kind="test", **addressed(session, TEACHER), state="sending", created_at=old,
                             updated_at=old))
    outcome = deliver(services, key="k-crash", kind="test", recipient=TEACHER, text="hello")
    assert outcome.sent and outcome.already and outcome.ts == "1:99"
    assert "send" not in transport.calls and len(transport.sent("k-crash")) == 1


def test_a_permanent_error_marks_the_row_failed_and_a_rate_limit_waits(teams):
    services, transport = teams
    transport.faults["send"] = ["refused", "limited"]
    failed = deliver(services, key="k-refused", kind="test", recipient=TEACHER, text="hello")
    assert failed.state == "failed" and failed.error == "ConversationBlockedByUser"
    assert deliver(services, key="k-refused", kind="test", recipient=TEACHER, text="hello").state == "failed"
    assert _row(services, "k-refused").state == "failed" and transport.calls.count("send") == 1
    limited = deliver(services, key="k-limited", kind="test", recipient=TEACHER, text="hello")
    assert limited.state == "pending" and _row(services, "k-limited").state == "pending"
    assert deliver(services, key="k-limited", kind="test", recipient=TEACHER, text="hello").sent
    assert len(transport.sent("k-limited")) == 1


def test_a_file_is_uploaded_once_under_the_same_ledger(teams):
    services, transport = teams
    args = {"user_id": TEACHER, "channel_id": None, "content": b"PK..", "filename": "PLC digest.xlsx",
            "title": "PLC digest", "comment": "The detail."}
    assert upload_once(services, key="digest-file:1:2026-W49:29:1teacher", **args) == "sent"
    assert upload_once(services, key="digest-file:1:2026-W49:29:1teacher", **args) == "sent"
    assert transport.calls.count("upload") == 1
    row = _row(services, "digest-file:1:2026-W49:29:1teacher")
    assert (row.kind, row.state, row.channel_id, row.ts) == ("digest-file", "sent", "a:1on1-1teacher-aad-object",
                                                             "file-1")
    # Stored, then no answer: found in the chat, not uploaded again.
    transport.faults["upload"] = ["landed"]
    assert upload_once(services, key="k-file-doubt", **{**args, "filename": "b.xlsx"}) == "sent"
    assert upload_once(services, key="k-file-doubt", **{**args, "filename": "b.xlsx"}) == "sent"
    assert [n for n, _ in transport.files["a:1on1-1teacher-aad-object"]] == ["PLC digest.xlsx", "b.xlsx"]
    # Refused for good: failed at once, not retried.
    transport.faults["upload"] = ["refused"]
    assert upload_once(services, key="k-file-refused", **{**args, "filename": "c.xlsx"}) == "failed"
    assert upload_once(services, key="k-file-refused", **{**args, "filename": "c.xlsx"}) == "failed"
    assert _row(services, "k-file-refused").error == "FileConsentDeclined"
    assert transport.calls.count("upload") == 3
