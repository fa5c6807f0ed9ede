"""A minimal RFC 6455 websocket server playing Slack's Socket Mode side.

Just enough for slack_sdk's builtin ``SocketModeClient`` (which connects without TLS to any
port other than 443): the upgrade handshake, unmasked text frames from the server, masked
frames from the client, ping/pong (the client drops a connection whose pongs stop), close.
Slack's protocol on top: a ``hello`` message on connect, envelopes out, acks back carrying
the same ``envelope_id`` within 3 seconds.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
ENVELOPE_TYPES = ("slash_commands", "interactive", "events_api")


def accept_key(client_key: str) -> str:
    """The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key."""
    digest = hashlib.sha1((client_key.strip() + WS_GUID).encode("ascii"), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def encode_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """One final, unmasked frame (servers never mask)."""
    head = bytes([0x80 | opcode])
    size = len(payload)
    if size <= 125:
        head += bytes([size])
    elif size <= 0xFFFF:
        head += bytes([126]) + struct.pack("!H", size)
    else:
        head += bytes([127]) + struct.pack("!Q", size)
    return head + payload


class Readable(Protocol):
    """What reading frames needs of a connection's input: a binary stream's `read` (an HTTP
    handler's `rfile`, a BytesIO), which gives fewer bytes than asked once the peer is gone, and
    None on a non-blocking stream with nothing to read."""

    def read(self, size: int, /) -> bytes | None: ...


def _read_exact(rfile: Readable, size: int) -> bytes | None:
    data = rfile.read(size) if size else b""
    if data is None or len(data) < size:
        return None
    return data


def read_frame(rfile: Readable) -> tuple[int, bool, bytes] | None:
    """Read one frame: (opcode, fin, unmasked payload), or None when the peer is gone."""
    head = _read_exact(rfile, 2)
    if head is None:
        return None
    fin, opcode = bool(head[0] & 0x80), head[0] & 0x0F
    masked, size = bool(head[1] & 0x80), head[1] & 0x7F
    if size == 126:
        ext = _read_exact(rfile, 2)
        if ext is None:
            return None
        size = struct.unpack("!H", ext)[0]
    elif size == 127:
        ext = _read_exact(rfile, 8)
        if ext is None:
            return None
        size = struct.unpack("!Q", ext)[0]
    mask = _read_exact(rfile, 4) if masked else b""
    payload = _read_exact(rfile, size)
    if mask is None or payload is None:
        return None
    if masked:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return opcode, fin, payload


class SocketSession:
    """One connected websocket client; the HTTP handler thread runs its read loop."""

    def __init__(self, sock: socket.socket, rfile: Readable, on_text: Callable[[str], None]) -> None:
        self.sock = sock
        self.rfile = rfile
        self.on_text = on_text
        self.id = uuid.uuid4().hex
        self.active = True
        self._send_lock = threading.Lock()

    def send(self, payload: bytes, opcode: int = OP_TEXT) -> None:
        with self._send_lock:
            self.sock.sendall(encode_frame(payload, opcode))

    def send_json(self, message: dict) -> None:
        self.send(json.dumps(message).encode("utf-8"))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame (best effort) and drop the socket."""
        if not self.active:
            return
        self.active = False
        with contextlib.suppress(OSError):
            self.send(struct.pack("!H", code) + reason.encode("utf-8"), OP_CLOSE)
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def run(self) -> None:
        """Read frames until the client closes or the socket dies."""
        fragments: list[bytes] = []
        try:
            while self.active:
                frame = read_frame(self.rfile)
                if frame is None:
                    break
                opcode, fin, payload = frame
                if opcode == OP_PING:
                    self.send(payload, OP_PONG)
                elif opcode == OP_CLOSE:
                    self.close(1000)
                    break
                elif opcode in (OP_TEXT, OP_CONT):
                    fragments.append(payload)
                    if fin:
                        text = b"".join(fragments).decode("utf-8", errors="replace")
                        fragments = []
                        self.on_text(text)
        except OSError:
            pass
        finally:
            self.active = False


class SocketHub:
    """The double's Socket Mode endpoint: issues URLs, tracks sessions, waits for acks."""

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self._cond = threading.Condition()
        self._tickets: set[str] = set()
        self._sessions: list[SocketSession] = []
        self._acks: dict[str, dict | None] = {}
        self._waiting: set[str] = set()
        self.envelopes: list[dict] = []

    def new_ticket(self) -> str:
        ticket = uuid.uuid4().hex
        with self._cond:
            self._tickets.add(ticket)
        return ticket

    def valid_ticket(self, ticket: str) -> bool:
        with self._cond:
            return ticket in self._tickets

    def serve(self, sock: socket.socket, rfile: Readable, client_key: str) -> None:
        """Finish the upgrade on an HTTP connection and run the session until it ends."""
        sock.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\n"
                "Upgrade: websocket\r\n"
                "Connection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept_key(client_key)}\r\n\r\n"
            ).encode("ascii")
        )
        session = SocketSession(sock, rfile, self._on_text)
        with self._cond:
            self._sessions.append(session)
            count = sum(1 for s in self._sessions if s.active)
            self._cond.notify_all()
        session.send_json(
            {
                "type": "hello",
                "num_connections": count,
                "debug_info": {
                    "host": "slack-double",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.app_id},
            }
        )
        session.run()
        with self._cond:
            self._cond.notify_all()

    def _on_text(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        if not envelope_id:
            return
        with self._cond:
            if envelope_id in self._waiting:
                self._acks[envelope_id] = message.get("payload")
                self._cond.notify_all()

    def _active(self) -> SocketSession | None:
        live = [s for s in self._sessions if s.active]
        return live[-1] if live else None

    def connected(self, timeout: float = 5.0) -> bool:
        """Wait until a client is connected; False if none came within timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._active() is not None, timeout)

    def send(
        self,
        envelope_type: str,
        payload: dict,
        *,
        timeout: float = 3.0,
        retry_attempt: int = 0,
        retry_reason: str = "",
        accepts_response_payload: bool | None = None,
    ) -> dict:
        """Deliver an envelope to the newest live session and wait for its ack's payload."""
        if envelope_type not in ENVELOPE_TYPES:
            raise ValueError(f"envelope_type must be one of {ENVELOPE_TYPES}")
        if accepts_response_payload is None:
            accepts_response_payload = envelope_type != "events_api"
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }
        deadline = time.monotonic() + timeout
        with self._cond:
            if not self._cond.wait_for(lambda: self._active() is not None, timeout):
                raise TimeoutError("no Socket Mode client is connected to the double")
            session = self._active()
            self._waiting.add(envelope_id)
            self.envelopes.append(envelope)
        assert session is not None
        try:
            session.send_json(envelope)
            with self._cond:
                remaining = max(0.0, deadline - time.monotonic())
                if not self._cond.wait_for(lambda: envelope_id in self._acks, remaining):
                    raise TimeoutError(
                        f"no ack for {envelope_type} envelope {envelope_id} within {timeout} s"
                    )
                ack = self._acks.pop(envelope_id)
        finally:
            with self._cond:
                self._waiting.discard(envelope_id)
        return ack if isinstance(ack, dict) else ({"text": ack} if isinstance(ack, str) else {})

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask clients to reconnect the way Slack does: a disconnect message, then close."""
        with self._cond:
            sessions = [s for s in self._sessions if s.active]
        for session in sessions:
            with contextlib.suppress(OSError):
                session.send_json(
                    {"type": "disconnect", "reason": reason, "debug_info": {"host": "slack-double"}}
                )
            session.close(1000, reason)

    def close_all(self) -> None:
        with self._cond:
            sessions = list(self._sessions)
        for session in sessions:
            session.close(1001, "going away")
