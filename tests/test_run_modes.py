"""`plcbot run` as a real process: HTTP mode under gunicorn and Socket Mode, each against the
Slack double, answering signed requests, reporting health and stopping cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.slack_double import SlackDouble, SlackUser

SIGNING = "run-mode-signing-secret-42"
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    full = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
            "PLCBOT_SCHEDULER_INTERVAL": "0.2", **env}
    return subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # its own process group, as in a terminal


def _health(port: int, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                body = json.loads(r.read())
                if body.get("scheduler_last_run"):
                    return body
        except Exception as exc:  # noqa: BLE001 - still starting
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"no healthy answer on {port}: {last}")


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=40)
    assert proc.returncode == 0, out
    return out


@pytest.mark.real_clock  # signs requests here for a bot in a real process, whose clock is not moved
def test_http_mode_serves_signed_requests_and_stops_cleanly(tmp_path):
    port = _free_port()
    with SlackDouble() as double:
        double.add_user("UTEACH", name="tess")
        double.add_channel("CPLC", name="grade-3", members=["UTEACH"])
        proc = _start(tmp_path, {"SLACK_BOT_TOKEN": double.bot_token, "SLACK_SIGNING_SECRET": SIGNING,
                                 "SLACK_API_URL": double.url, "HOST": "127.0.0.1", "PORT": str(port)})
        try:
            health = _health(port)
            assert health["database"] == "ok" and health["slack"] == "http"
            url = f"http://127.0.0.1:{port}/slack/events"
            reply = SlackUser(double, "UTEACH", bot_url=url, signing_secret=SIGNING).command("help", channel="CPLC")
            assert reply.status == 200 and reply.elapsed < 3
            double.wait_for(lambda: double.responses(), timeout=10)
            forged = SlackUser(double, "UTEACH", bot_url=url, signing_secret="not-the-secret").command(
                "help", channel="CPLC")
            assert forged.status == 401
        finally:
            out = _stop(proc)
    assert "stopped cleanly" in out
    assert SIGNING not in out and double.bot_token not in out
    assert "command /plc help" in out  # the request log line: type and name, no contents


@pytest.mark.real_clock
def test_http_mode_stops_cleanly_on_ctrl_c(tmp_path):
    """A terminal's Ctrl-C reaches gunicorn's master and both web workers; the master then sends each
    worker SIGQUIT too. Each worker must still finish closing its scheduler and database (both log
    "stopped cleanly") instead of being cut short by the second signal."""
    port = _free_port()
    with SlackDouble() as double:
        proc = _start(tmp_path, {"SLACK_BOT_TOKEN": double.bot_token, "SLACK_SIGNING_SECRET": SIGNING,
                                 "SLACK_API_URL": double.url, "HOST": "127.0.0.1", "PORT": str(port),
                                 "PLCBOT_WEB_WORKERS": "2"})
        try:
            _health(port)
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            out, _ = proc.communicate(timeout=40)
    assert proc.returncode == 0, out
    assert out.count("plcbot stopped cleanly") == 2, out
    assert "Traceback" not in out and "race condition" not in out, out


def test_socket_mode_connects_answers_and_stops_cleanly(tmp_path):
    health_port = _free_port()
    with SlackDouble() as double:
        double.add_user("UTEACH", name="tess")
        double.add_channel("CPLC", name="grade-3", members=["UTEACH"])
        proc = _start(tmp_path, {"SLACK_BOT_TOKEN": double.bot_token, "SLACK_APP_TOKEN": double.app_token,
                                 "SLACK_API_URL": double.url, "PLCBOT_HEALTH_PORT": str(health_port)})
        try:
            assert double.socket_connected(timeout=20), proc.stdout and "not connected"
            health = _health(health_port)
            assert health["slack"] == "ok"
            user = SlackUser(double, "UTEACH", bot_url=None, signing_secret=None, via_socket=True)
            user.command("help", channel="CPLC")
            double.wait_for(lambda: double.responses(), timeout=10)
            user.open_home()
            double.wait_for(lambda: double.home_view("UTEACH"), timeout=10)
        finally:
            out = _stop(proc)
    assert "stopped cleanly" in out
