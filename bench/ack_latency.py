"""Ack latency, side by side: the real bot and a Bolt app that only acknowledges, same load.

Slack gives an app 3 seconds to answer a slash command, a click or a modal submission. This
benchmark starts the Slack double with a realistic Web API latency, runs `python -m bot run`
in HTTP mode (gunicorn gthread, as shipped) and, beside it, a minimal Bolt app served the same
way, then drives each in turn with the same mix of signed requests from concurrent clients:

    python bench/ack_latency.py                      # 50 clients, 15 s per app
    python bench/ack_latency.py --seconds 2 --clients 5 --json   # smoke size (the test suite)

It prints p50/p95/p99/max time-to-response and requests per second for both apps, and the
bot's figures divided by the minimal app's. The load runs in its own process (threads with
keep-alive connections), so the bot and the load generator do not share a GIL.

Request kinds that the current build does not handle (Bolt answers 404) are left out of the
mix and listed, so the figures always describe what exists.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SIGNING_SECRET = "bench-signing-secret-0123456789"  # noqa: S105 - a benchmark's own secret
TEAM_CHANNEL = "CBENCH"
FACILITATOR = "UBFAC"
TEACHERS = [f"UBT{i:03d}" for i in range(60)]
PRINCIPAL = "UBPRIN"


# ---------------------------------------------------------------------------- the request mix
@dataclass
class Kind:
    """One sort of request in the mix: a name, how it is sent, and bodies to rotate through."""

    name: str
    content_type: str
    bodies: list[bytes]


def _command(double: Any, user: str, text: str, channel: str = TEAM_CHANNEL) -> bytes:
    form = {
        "token": double.verification_token, "team_id": double.team_id, "team_domain": double.team_domain,
        "channel_id": channel, "channel_name": "bench", "user_id": user, "user_name": user.lower(),
        "command": "/plc", "text": text, "api_app_id": double.app_id, "is_enterprise_install": "false",
        "response_url": double.response_url_for(user, channel),
        # A trigger id expires in 3 s; the load reuses bodies, so a modal the command opens may
        # be refused by the double after the ack. The ack is what this benchmark measures.
        "trigger_id": double.new_trigger_id(user),
    }
    return urlencode(form).encode()


def _interactive(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def _block_action(double: Any, user: str, action_id: str, value: str, *, view: dict[str, Any] | None = None,
                  message_ts: str = "1700000000.000100", channel: str | None = None) -> bytes:
    payload: dict[str, Any] = {
        "type": "block_actions", "api_app_id": double.app_id, "token": double.verification_token,
        "trigger_id": double.new_trigger_id(user),
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": double.team_id},
        "team": {"id": double.team_id, "domain": double.team_domain},
        "enterprise": None, "is_enterprise_install": False,
        "actions": [{"type": "button", "action_id": action_id, "block_id": "bench", "value": value,
                     "text": {"type": "plain_text", "text": "x"}, "action_ts": f"{time.time():.6f}"}],
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id", "VBENCH")}
        payload["view"] = view
    else:
        channel = channel or double.dm_channel_id(user)
        payload["container"] = {"type": "message", "message_ts": message_ts, "channel_id": channel,
                                "is_ephemeral": False}
        payload["channel"] = {"id": channel, "name": "directmessage"}
        payload["message"] = {"type": "message", "ts": message_ts, "text": "", "blocks": []}
        payload["response_url"] = double.response_url_for(user, channel, message_ts)
        payload["state"] = {"values": {}}
    return _interactive(payload)


def _submission(double: Any, user: str, callback_id: str, values: dict[str, Any],
                private_metadata: str = "") -> bytes:
    payload = {
        "type": "view_submission", "api_app_id": double.app_id, "token": double.verification_token,
        "trigger_id": double.new_trigger_id(user),
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": double.team_id},
        "team": {"id": double.team_id, "domain": double.team_domain},
        "view": {"id": "VBENCH", "type": "modal", "callback_id": callback_id, "private_metadata": private_metadata,
                 "blocks": [], "state": {"values": values}, "hash": "1.x"},
        "response_urls": [], "is_enterprise_install": False, "enterprise": None,
    }
    return _interactive(payload)


def _home_opened(double: Any, user: str) -> bytes:
    now = time.time()
    body = {
        "token": double.verification_token, "team_id": double.team_id, "api_app_id": double.app_id,
        "type": "event_callback", "event_id": f"EvBENCH{user}", "event_time": int(now),
        "event": {"type": "app_home_opened", "user": user, "channel": double.dm_channel_id(user),
                  "tab": "home", "event_ts": f"{now:.6f}"},
        "authorizations": [{"team_id": double.team_id, "user_id": double.bot_user_id, "is_bot": True}],
    }
    return json.dumps(body).encode()


FORM = "application/x-www-form-urlencoded"


def build_mix(double: Any) -> list[Kind]:
    """Every request kind worth measuring; those the build does not handle are dropped later.

    Commands come from teachers and the facilitator in the team's channel; clicks and
    submissions use the action and callback ids the feature modules register.
    """
    users = [FACILITATOR, *TEACHERS[:20]]

    def commands(text: str, who: list[str] = users) -> list[bytes]:
        return [_command(double, u, text) for u in who]

    text_input = {"type": "plain_text_input", "value": "bench text"}
    kinds = [
        Kind("command: /plc help", FORM, commands("help")),
        Kind("command: /plc (typo)", FORM, commands("hlep")),
        Kind("command: /plc team", FORM, commands("team")),
        Kind("command: /plc norms", FORM, commands("norms")),
        Kind("command: /plc cycle", FORM, commands("cycle")),
        Kind("command: /plc actions", FORM, commands("actions")),
        Kind("command: /plc feedback results", FORM, commands("feedback results", [FACILITATOR])),
        Kind("event: app_home_opened", "application/json", [_home_opened(double, u) for u in users]),
        Kind("button: norms commit", FORM,
             [_block_action(double, u, "norms_commit", "1:1", channel=TEAM_CHANNEL) for u in users]),
        Kind("button: check-in on track", FORM,
             [_block_action(double, u, "checkin_on_track", "0") for u in users]),
        Kind("modal: feedback", FORM,
             [_submission(double, u, "feedback_submit", {"useful": {"useful": text_input}}) for u in users]),
        Kind("modal: norms edit", FORM,
             [_submission(double, FACILITATOR, "norms_edit", {"norms": {"norms": text_input}})]),
    ]
    return kinds


# ---------------------------------------------------------------------------- the load process
def _sign(body: bytes, timestamp: int) -> dict[str, str]:
    import hashlib
    import hmac

    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


def run_load(port: int, mix_file: str, seconds: float, clients: int, warmup: float,
             rate: float = 0.0) -> dict[str, Any]:
    """Drive 127.0.0.1:port with `clients` keep-alive connections; return raw figures.

    rate 0: closed loop, each client sends its next request as soon as the last is answered
    (finds the ceiling). rate R: the clients together offer R requests a second, each on its
    own schedule, the way people clicking do; a client that falls behind sends at once.
    """
    mix = [Kind(k["name"], k["content_type"], [b.encode("latin-1") for b in k["bodies"]])
           for k in json.loads(Path(mix_file).read_text())]
    start = time.monotonic()
    measure_from = start + warmup
    stop_at = measure_from + seconds
    lock = threading.Lock()
    samples: list[tuple[int, float]] = []  # (kind index, seconds)
    statuses: dict[str, int] = {}
    errors: list[str] = []

    def client(n: int) -> None:
        conn: http.client.HTTPConnection | None = None
        mine: list[tuple[int, float]] = []
        seen: dict[str, int] = {}
        i = n
        interval = clients / rate if rate > 0 else 0.0
        next_send = start + (n * interval / clients if interval else 0.0)
        while True:
            now = time.monotonic()
            if interval:
                if next_send > now:
                    time.sleep(next_send - now)
                    now = time.monotonic()
                next_send = max(next_send + interval, now)
            if now >= stop_at:
                break
            kind_index = i % len(mix)
            kind = mix[kind_index]
            body = kind.bodies[(i // len(mix)) % len(kind.bodies)]
            i += 1
            headers = {"Content-Type": kind.content_type, **_sign(body, int(time.time()))}
            began = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("POST", "/slack/events", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = str(response.status)
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception as exc:  # noqa: BLE001 - counted, never fatal
                status = type(exc).__name__
                if conn is not None:
                    conn.close()
                conn = None
            took = time.monotonic() - began
            if began >= measure_from:
                mine.append((kind_index, took))
                seen[status] = seen.get(status, 0) + 1
        if conn is not None:
            conn.close()
        with lock:
            samples.extend(mine)
            for key, count in seen.items():
                statuses[key] = statuses.get(key, 0) + count

    cpu_before = time.process_time()
    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + warmup + 30)
    elapsed = min(time.monotonic(), stop_at + 10) - measure_from
    return {
        "samples": samples,
        "kinds": [k.name for k in mix],
        "statuses": statuses,
        "errors": errors,
        "seconds": elapsed,
        "load_cpu": time.process_time() - cpu_before,
    }


# ---------------------------------------------------------------------------- the minimal app
def serve_minimal(port: int, threads: int, listener_threads: int, workers: int = 1) -> None:
    """A Bolt app that only acknowledges, served exactly as the bot is (gunicorn gthread)."""
    import re
    from concurrent.futures import ThreadPoolExecutor

    from gunicorn.app.base import BaseApplication
    from slack_bolt import App
    from slack_bolt.adapter.wsgi import SlackRequestHandler
    from slack_sdk import WebClient

    class Minimal(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in {"bind": f"127.0.0.1:{port}", "workers": workers, "worker_class": "gthread",
                               "threads": threads, "keepalive": 5, "timeout": 60, "accesslog": None,
                               "errorlog": "-", "loglevel": "warning", "control_socket_disable": True}.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            # Bolt asks auth.test once, on the first request: point it at the same double.
            client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
            app = App(signing_secret=SIGNING_SECRET, client=client, token_verification_enabled=False,
                      listener_executor=ThreadPoolExecutor(listener_threads))
            everything = re.compile(".*")

            def just_ack(ack: Any) -> None:
                ack()

            app.command(everything)(just_ack)
            app.action(everything)(just_ack)
            app.view(everything)(just_ack)
            app.event(everything)(just_ack)
            bolt = SlackRequestHandler(app)

            def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
                if environ.get("PATH_INFO") == "/healthz":
                    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
                    return [b"ok"]
                return bolt(environ, start_response)

            return wsgi

    Minimal().run()


# ---------------------------------------------------------------------------- orchestration
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the process on port {port} exited with {proc.returncode}")
        with contextlib.suppress(Exception), \
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:  # noqa: S310
            if r.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing healthy on port {port} after {timeout} s")


def seed(db_url: str, double: Any) -> None:
    """One school, one team with a facilitator and 60 teachers, a principal: in the double and the database."""
    from sqlmodel import select

    from storage import migrate
    from storage.clock import SystemClock
    from storage.db import Database
    from storage.models import Membership, Person, School, SchoolLeader, Team

    everyone = [FACILITATOR, *TEACHERS, PRINCIPAL]
    for user in everyone:
        double.add_user(user, name=user.lower(), real_name=f"Teacher {user}", email=f"{user.lower()}@bench.example")
    double.add_channel(TEAM_CHANNEL, name="grade-3", members=[FACILITATOR, *TEACHERS])
    db = Database(db_url, clock=SystemClock())  # the bot under test runs on the system clock too
    migrate.upgrade(db)
    with db.session() as session:
        school = School(name="Bench Elementary", timezone="America/New_York")
        session.add(school)
        session.flush()
        team = Team(school_id=school.id, name="Grade 3", channel_id=TEAM_CHANNEL, timezone="America/New_York",
                    meeting_weekdays="thu", meeting_time="15:30")
        session.add(team)
        session.flush()
        for user in everyone:
            session.add(Person(handle=user, name=f"Teacher {user}", email=f"{user.lower()}@bench.example"))
        session.flush()
        ids = {p.handle: p.id for p in session.exec(select(Person)).all()}
        session.add(Membership(team_id=team.id, person_id=ids[FACILITATOR], role="facilitator"))
        for user in TEACHERS:
            session.add(Membership(team_id=team.id, person_id=ids[user], role="member"))
        session.add(SchoolLeader(school_id=school.id, person_id=ids[PRINCIPAL]))
    db.dispose()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summarise(raw: dict[str, Any]) -> dict[str, Any]:
    times = [t for _, t in raw["samples"]]
    by_kind: dict[str, list[float]] = {}
    for index, took in raw["samples"]:
        by_kind.setdefault(raw["kinds"][index], []).append(took)
    ok = raw["statuses"].get("200", 0)
    return {
        "requests": len(times),
        "ok": ok,
        "statuses": raw["statuses"],
        "rps": len(times) / raw["seconds"] if raw["seconds"] > 0 else 0.0,
        "p50_ms": percentile(times, 50) * 1000,
        "p95_ms": percentile(times, 95) * 1000,
        "p99_ms": percentile(times, 99) * 1000,
        "max_ms": max(times) * 1000 if times else float("nan"),
        "over_3s": sum(1 for t in times if t > 3.0),
        "load_cpu_s": raw["load_cpu"],
        "by_kind_p99_ms": {k: percentile(v, 99) * 1000 for k, v in by_kind.items()},
    }


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by a process and its children (Linux /proc; 0 elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0.0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0.0
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ppid, utime, stime = int(fields[1]), int(fields[11]), int(fields[12])
        if int(entry) == pid or ppid == pid:
            total += (utime + stime) / tick
    return total


def load_in_subprocess(port: int, mix_file: Path, seconds: float, clients: int, warmup: float,
                       rate: float = 0.0) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603
        [sys.executable, __file__, "--load-port", str(port), "--mix-file", str(mix_file),
         "--seconds", str(seconds), "--clients", str(clients), "--warmup", str(warmup), "--rate", str(rate)],
        capture_output=True, check=True, timeout=seconds + warmup + 120,
    )
    return summarise(json.loads(out.stdout))


def subcommands(env: dict[str, str]) -> set[str]:
    """The `/plc` subcommands this build registers (an unknown word is answered by help)."""
    from bot.app import create_app
    from bot.services import build_services
    from bot.settings import from_env

    services = build_services(from_env(env))
    _app, wiring, executor = create_app(services)
    executor.shutdown()
    services.db.dispose()
    return set(wiring.router.subcommands)


def preflight(port: int, kinds: list[Kind], known: set[str]) -> tuple[list[Kind], list[str]]:
    """Keep the kinds the bot handles; a 404 from Bolt means no listener for it in this build."""
    kept, missing = [], []
    for kind in kinds:
        word = kind.name.removeprefix("command: /plc ").split(" ")[0]
        if kind.name.startswith("command: ") and "(" not in kind.name and word not in known:
            missing.append(f"{kind.name} (no such subcommand)")
            continue
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = kind.bodies[0]
        conn.request("POST", "/slack/events", body=body,
                     headers={"Content-Type": kind.content_type, **_sign(body, int(time.time()))})
        status = conn.getresponse().status
        conn.close()
        (kept if status == 200 else missing).append(kind if status == 200 else f"{kind.name} (HTTP {status})")
    return kept, missing  # type: ignore[return-value]


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def benchmark(seconds: float, clients: int, latency_ms: float, threads: int, warmup: float,
              rate: float, keep_log: str | None = None, web_workers: int = 2) -> dict[str, Any]:
    from bot.slack_double import SlackDouble

    result: dict[str, Any] = {"seconds": seconds, "clients": clients, "latency_ms": latency_ms,
                              "http_threads": threads, "cpus": os.cpu_count(), "web_workers": web_workers}
    with tempfile.TemporaryDirectory(prefix="plcbot-bench-") as tmp, SlackDouble(latency=latency_ms / 1000) as double:
        tmp_path = Path(tmp)
        db_url = f"sqlite:///{tmp_path / 'bench.db'}"
        seed(db_url, double)
        bot_port, minimal_port = free_port(), free_port()
        env = {
            "PATH": os.environ.get("PATH", ""), "HOME": tmp, "PYTHONPATH": str(ROOT),
            "SLACK_BOT_TOKEN": double.bot_token, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": double.url, "DATABASE_URL": db_url, "HOST": "127.0.0.1", "PORT": str(bot_port),
            "PLCBOT_WEB_WORKERS": str(web_workers), "PLCBOT_HTTP_THREADS": str(threads), "PLCBOT_ADMINS": "UBADMIN",
        }
        listener_threads = 32
        bot_log = open(tmp_path / "bot.log", "wb")  # noqa: SIM115 - closed below
        minimal_log = open(tmp_path / "minimal.log", "wb")  # noqa: SIM115
        procs = [
            subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=tmp, env=env,  # noqa: S603
                             stdout=bot_log, stderr=subprocess.STDOUT),
            subprocess.Popen([sys.executable, __file__, "--serve-minimal", str(minimal_port),  # noqa: S603
                              "--threads", str(threads), "--listener-threads", str(listener_threads),
                              "--web-workers", str(web_workers)],
                             cwd=tmp, env=env, stdout=minimal_log, stderr=subprocess.STDOUT),
        ]
        try:
            try:
                wait_healthy(bot_port, procs[0])
                wait_healthy(minimal_port, procs[1])
            except RuntimeError:
                for log_file in (bot_log, minimal_log):
                    log_file.flush()
                    sys.stderr.write(Path(log_file.name).read_text(errors="replace")[-4000:])
                raise
            kinds, missing = preflight(bot_port, build_mix(double), subcommands(env))
            result["mix"] = [k.name for k in kinds]
            result["not_in_this_build"] = missing
            mix_file = tmp_path / "mix.json"
            mix_file.write_text(json.dumps([{"name": k.name, "content_type": k.content_type,
                                             "bodies": [b.decode("latin-1") for b in k.bodies]} for k in kinds]))
            phases = [("saturation", 0.0)] + ([("paced", rate)] if rate > 0 else [])
            for phase, offered in phases:
                result[phase] = {"rate": offered}
                for name, port, proc in (("bot", bot_port, procs[0]), ("minimal", minimal_port, procs[1])):
                    cpu_before = tree_cpu(proc.pid)
                    figures = load_in_subprocess(port, mix_file, seconds, clients, warmup, offered)
                    cpu = tree_cpu(proc.pid) - cpu_before
                    # Warm-up requests count in the CPU but not in the requests: a small overstatement.
                    figures["server_cpu_ms_per_request"] = 1000 * cpu / max(1, figures["requests"])
                    result[phase][name] = figures
                bot, minimal = result[phase]["bot"], result[phase]["minimal"]
                result[phase]["ratio"] = {
                    key: (bot[key] / minimal[key]) if minimal[key] else float("nan")
                    for key in ("p50_ms", "p95_ms", "p99_ms", "rps")
                }
            errors = [c for c in double.calls if c.error and c.method not in ("views.open",)]
            result["web_api_calls"] = len(double.calls)
            result["web_api_errors"] = sorted({f"{c.method}: {c.error}" for c in errors})
        finally:
            for proc in procs:
                stop(proc)
            bot_log.close()
            minimal_log.close()
        bot_log_text = (tmp_path / "bot.log").read_text(errors="replace")
        result["bot_log_tracebacks"] = bot_log_text.count("Traceback")
        if keep_log:
            Path(keep_log).write_text(bot_log_text)
    return result


def report(result: dict[str, Any]) -> str:
    lines = [
        f"Ack latency: {result['clients']} clients, {result['seconds']:g} s per app, Slack double latency "
        f"{result['latency_ms']:g} ms, gunicorn gthread {result.get('web_workers', 1)} worker(s) x "
        f"{result['http_threads']} threads, "
        f"{result['cpus']} CPUs",
        "mix: " + ", ".join(result["mix"]),
    ]
    if result["not_in_this_build"]:
        lines.append("not in this build (left out): " + ", ".join(result["not_in_this_build"]))
    for phase in ("saturation", "paced"):
        if phase not in result:
            continue
        figures = result[phase]
        title = ("closed loop: each client sends again as soon as answered" if phase == "saturation"
                 else f"paced: the clients offer {figures['rate']:g} requests/s in all")
        lines.append(f"\n{title}")
        lines.append(f"{'app':<10}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
                     f"{'max ms':>9}{'>3 s':>6}{'cpu ms/req':>11}  statuses")
        for name in ("bot", "minimal"):
            r = figures[name]
            lines.append(f"{name:<10}{r['requests']:>9}{r['rps']:>9.0f}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}"
                         f"{r['p99_ms']:>9.1f}{r['max_ms']:>9.1f}{r['over_3s']:>6}"
                         f"{r['server_cpu_ms_per_request']:>11.2f}  {r['statuses']}")
        ratio = figures["ratio"]
        lines.append(f"{'bot/min':<10}{'':>9}{ratio['rps']:>9.2f}{ratio['p50_ms']:>9.2f}{ratio['p95_ms']:>9.2f}"
                     f"{ratio['p99_ms']:>9.2f}")
        lines.append("bot p99 by kind (ms): " + ", ".join(
            f"{k} {v:.0f}" for k, v in sorted(figures["bot"]["by_kind_p99_ms"].items())))
    lines.append(f"\nWeb API calls the bot made: {result['web_api_calls']}; errors: "
                 f"{result['web_api_errors'] or 'none'}; tracebacks in the bot's log: {result['bot_log_tracebacks']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per app (default 15)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--latency-ms", type=float, default=75.0, help="Slack double latency per Web API call")
    parser.add_argument("--threads", type=int, default=16, help="gunicorn threads for both apps (default 16)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before measuring")
    parser.add_argument("--rate", type=float, default=100.0,
                        help="also measure with the clients offering this many requests/s in all (0: skip)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--bot-log", help="keep the bot's log in this file")
    parser.add_argument("--web-workers", type=int, default=2,
                        help="gunicorn workers for both apps (default 2, as the bot ships)")
    # Internal: the load generator and the minimal app run as their own processes.
    parser.add_argument("--load-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mix-file", help=argparse.SUPPRESS)
    parser.add_argument("--serve-minimal", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--listener-threads", type=int, default=32, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve_minimal:
        serve_minimal(args.serve_minimal, args.threads, args.listener_threads, args.web_workers)
        return 0
    if args.load_port:
        raw = run_load(args.load_port, args.mix_file, args.seconds, args.clients, args.warmup, args.rate)
        json.dump(raw, sys.stdout)
        return 0
    result = benchmark(args.seconds, args.clients, args.latency_ms, args.threads, args.warmup, args.rate, args.bot_log,
                       args.web_workers)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
