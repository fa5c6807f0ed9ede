"""Slack over HTTP and Teams side by side: each front in a process of its own, watched by `plcbot run`.

Gunicorn forks its web workers from its master, at start and again whenever one dies. A process
that forks while another of its threads is busy gives the child copies of that thread's held locks,
and the child can wait on them for ever. That happened while the Teams server ran in a thread of
gunicorn's master: a worker forked while the Teams thread was fetching its token never finished a
scheduler tick and never stopped on SIGTERM. So the fronts never share a process: each starts fresh
(spawn, not fork), and this parent only starts them, passes SIGTERM and SIGINT on, and waits.

If one front stops by itself (its port taken, a crash), the other is stopped too and `plcbot run`
exits 1: a service manager then restarts the whole bot instead of leaving it half up, unnoticed.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Iterable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

from bot import logs
from bot.settings import Settings

log = logging.getLogger("plcbot")

# Gunicorn gives its workers 30 s to finish what they are doing; the fronts get a little more.
STOP_GRACE_SECONDS = 40.0


def _stop_when_the_supervisor_dies(supervisor: int) -> None:
    """Out of the terminal's process group, a front would outlive a supervisor that was killed
    (SIGKILL, the out-of-memory killer) and keep its port. On Linux the kernel sends it SIGTERM
    then (PR_SET_PDEATHSIG), and it stops as if the supervisor had asked. Elsewhere it does not."""
    if not sys.platform.startswith("linux"):
        return
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != supervisor:  # it died before the request was made
        raise SystemExit(0)


def _own_process_group() -> None:
    """Leave the terminal's process group, so that a Ctrl-C reaches only the supervisor, which then
    stops each front with one SIGTERM. Two signals (the terminal's SIGINT, then the supervisor's
    SIGTERM) could land the second in the middle of the first one's clean-up. SIGINT is blocked
    from before this process was started (`_started_with_sigint_blocked`) until now; one that came
    in that window is dropped here, since the supervisor got it too."""
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # drops a pending one; the fronts install their own
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _slack_front(settings: Settings, with_scheduler: bool, supervisor: int) -> None:
    _stop_when_the_supervisor_dies(supervisor)
    _own_process_group()
    from bot.server import serve_http

    logs.configure(settings.log_level, logs.secrets_of(settings))
    serve_http(settings, with_scheduler=with_scheduler)


def _teams_front(settings: Settings, supervisor: int) -> None:
    _stop_when_the_supervisor_dies(supervisor)
    _own_process_group()
    from bot.teams.server import serve_teams

    logs.configure(settings.log_level, logs.secrets_of(settings))
    serve_teams(settings, with_scheduler=False)  # the scheduler runs in the Slack front's workers


def serve_both_http(settings: Settings, *, with_scheduler: bool = True) -> int:
    """Run until SIGTERM, SIGINT or SIGHUP (0 when both fronts then stop cleanly), or until a front
    stops by itself (1)."""
    spawn = multiprocessing.get_context("spawn")
    fronts: dict[str, BaseProcess] = {
        "Slack": spawn.Process(target=_slack_front, args=(settings, with_scheduler, os.getpid()),
                               name="plcbot-slack"),
        "Teams": spawn.Process(target=_teams_front, args=(settings, os.getpid()), name="plcbot-teams"),
    }
    asked_to_stop: list[int] = []
    previous = {sig: signal.signal(sig, lambda sig, _frame: asked_to_stop.append(sig))
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}  # SIGHUP: its terminal closed
    try:
        _started_with_sigint_blocked(fronts.values())
        by_sentinel = {process.sentinel: name for name, process in fronts.items()}
        stopped_by_itself: str | None = None
        while not asked_to_stop and stopped_by_itself is None:
            ended = wait(list(by_sentinel), timeout=0.5)
            if ended:
                stopped_by_itself = by_sentinel[ended[0]]  # type: ignore[index]
        _stop(fronts)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stopped_by_itself is not None:
        log.error("The %s front stopped by itself (exit code %s), so plcbot stopped the other front too; "
                  "its log lines above say why", stopped_by_itself, fronts[stopped_by_itself].exitcode)
        return 1
    # -SIGTERM: the front was still starting (its own handlers not yet set), so it had nothing in hand.
    failed = {name: p.exitcode for name, p in fronts.items() if p.exitcode not in (0, -signal.SIGTERM)}
    if failed:
        log.error("Fronts that did not stop cleanly: %s", ", ".join(f"{n} (exit code {c})" for n, c in failed.items()))
        return 1
    return 0


def _started_with_sigint_blocked(processes: Iterable[BaseProcess]) -> None:
    """A spawned process inherits the signal mask, so until it has left the terminal's process group
    a Ctrl-C waits for it instead of raising KeyboardInterrupt in the middle of its start-up. Here it
    waits for the supervisor's handler, unblocked once the fronts have started."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        for process in processes:
            process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _stop(fronts: dict[str, BaseProcess]) -> None:
    """SIGTERM to each front still running, then wait for all; SIGKILL only after the grace period."""
    for process in fronts.values():
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for name, process in fronts.items():
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            log.error("The %s front did not stop within %.0f s; killing it", name, STOP_GRACE_SECONDS)
            process.kill()
            process.join()
