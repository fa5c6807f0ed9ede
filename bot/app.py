"""The app factory: a Bolt `App` with our middleware and every feature registered."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.listener_matcher.builtins import BuiltinListenerMatcher
from slack_bolt.listener_matcher.listener_matcher import ListenerMatcher

from bot.services import Services
from handlers.wiring import Wiring, register_all

log = logging.getLogger("plcbot.requests")


def describe(body: dict[str, Any]) -> tuple[str, str]:
    """(kind, name) of a Slack request for the log line, never its contents."""
    if "command" in body:
        text = str(body.get("text", "")).split(" ", 1)[0]
        return "command", f"{body['command']} {text}".strip()
    kind = body.get("type", "unknown")
    if kind == "event_callback":
        return "event", str((body.get("event") or {}).get("type", "?"))
    if kind == "block_actions":
        names = [str(a.get("action_id")) for a in body.get("actions", [])]
        return "action", ",".join(names)
    if kind in ("view_submission", "view_closed"):
        return kind, str((body.get("view") or {}).get("callback_id", "?"))
    if kind in ("shortcut", "message_action"):
        return kind, str(body.get("callback_id", "?"))
    return str(kind), ""


def team_of(body: dict[str, Any]) -> str:
    team = body.get("team_id") or body.get("team") or ""
    if isinstance(team, dict):
        team = team.get("id", "")
    return str(team)


def log_request(req: BoltRequest, response: BoltResponse, started: float) -> None:
    """One INFO line per request: type, workspace, status, time to acknowledge. DEBUG adds the payload."""
    body = req.body if isinstance(req.body, dict) else {}
    kind, name = describe(body)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("payload %s", json.dumps(body)[:20000])
    # Feedback may be anonymous: its log line must not be pairable with a person.
    # Opening the form (button or `/plc feedback`) is left unnamed too, so a log reader cannot
    # pair "U… opened feedback" with the unnamed submission that follows it.
    anonymous = (kind in ("view_submission", "action") and name.startswith("feedback")) or (
        kind == "command" and name.startswith("/plc feedback")
    )
    log.info(
        "%s %s team=%s%s status=%s acked in %.0f ms",
        kind, name, team_of(body),
        "" if anonymous else f" user={req.context.user_id or '-'}",
        response.status, (time.monotonic() - started) * 1000,
    )


class PlcApp(App):
    """Bolt's App, timing each request from arrival to acknowledgement.

    Measured here rather than in a middleware: Bolt runs middleware before it hands the
    request to a listener, so a middleware never sees the wait for `ack()`.
    """

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        started = time.monotonic()
        response = super().dispatch(req)
        try:
            log_request(req, response, started)
        except Exception:  # a log line must never cost the person their answer
            log.exception("Failed to log a request")
        return response


class ListenerPool(ThreadPoolExecutor):
    """Bolt's listener pool, sized from PLCBOT_LISTENER_THREADS, that knows when it is idle."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="listener")
        self._busy = 0
        self._cond = threading.Condition()

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._cond:
            self._busy += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Future[Any]) -> None:
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._busy == 0, timeout)


def create_app(services: Services, *, socket_mode: bool = False,
               features: list[str] | None = None) -> tuple[App, Wiring, ListenerPool]:
    """Build the Bolt app. The caller owns the returned executor and shuts it down on exit."""
    settings = services.settings
    executor = ListenerPool(settings.listener_threads)
    app = PlcApp(
        signing_secret=settings.signing_secret or "socket-mode-needs-no-signing-secret",
        client=services.slack,
        token_verification_enabled=False,  # `plcbot run` calls auth.test itself, with a clear message
        request_verification_enabled=not socket_mode,
        process_before_response=False,
        listener_executor=executor,
        logger=logging.getLogger("plcbot.bolt"),
    )
    wiring = register_all(app, services, features)
    # Any other event (another app's bot posting, a manifest subscribed to more than the code
    # handles) is acknowledged and dropped: unacknowledged, Slack retries it, and in Socket
    # Mode Bolt sends no ack at all for an envelope no listener matched.
    app.event(re.compile(".*"))(_ignore_event)
    _keep_acks(app)
    _fast_matchers(app)
    return app, wiring, executor


class _BodyMatcher(ListenerMatcher):
    """Calls one of Bolt's built-in matchers with the payload directly.

    Bolt tries every listener's matchers on every request, before the acknowledgement, and
    for each call it builds the matcher's arguments by reflection (`build_required_kwargs`).
    With the ~50 listeners the features register that cost ~6 ms of CPU per request, most of
    the bot's time to ack (profiled with yappi). The built-in matchers only ever take `body`.
    """

    def __init__(self, func: Any) -> None:
        self.func = func

    def matches(self, req: BoltRequest, resp: BoltResponse) -> bool:
        return bool(self.func(body=req.body))


def _fast_matchers(app: App) -> None:
    for listener in getattr(app, "_listeners", []):
        listener.matchers = [
            _BodyMatcher(m.func)
            if type(m) is BuiltinListenerMatcher and list(m.arg_names) == ["body"]
            else m
            for m in listener.matchers
        ]


def _keep_acks(app: App) -> None:
    """Contain exceptions a listener raises after it has called ack().

    Bolt 1.30 (listener/thread_runner.py, run_ack_function_asynchronously) sets `ack.response`
    back to None when a listener raises after acking; if the request thread has not seen the
    ack yet (it polls every 10 ms), it waits out 3 seconds and answers 404, and Slack shows
    the person an error. Found by tests/test_fuzz.py (a button value that is not a number).
    Exceptions before the ack still reach Bolt, which answers 500 as before.
    """
    for listener in getattr(app, "_listeners", []):
        function = getattr(listener, "ack_function", None)
        if function is None or getattr(function, "_plcbot_kept", False):
            continue

        def kept(*args: Any, __function: Any = function, **kwargs: Any) -> Any:
            try:
                return __function(*args, **kwargs)
            except Exception:
                ack = kwargs.get("ack")
                if ack is None or getattr(ack, "response", None) is None:
                    raise
                log.exception("Listener %s failed after acknowledging",
                              getattr(__function, "__qualname__", "?"))
                return None

        kept._plcbot_kept = True  # type: ignore[attr-defined]
        listener.ack_function = kept


def _ignore_event() -> None:
    """Events API events no feature listens for: acknowledged (automatically), nothing done."""
