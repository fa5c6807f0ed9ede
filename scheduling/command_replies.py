"""Answers to typed commands that their sender did not finish: sent later, or the person told once.

A command typed to the bot on Teams is acknowledged before it runs, its answer owed in the ledger
(`bot.teams.replies`). The process that ran it sends the answer, trying again through a rate-limit
storm for up to `PATIENCE` seconds. What that process cannot finish, nothing else could send,
because the answer lived only in its memory. So the owed row keeps what is needed to send it
(`Delivery.body`, an `Owed` as JSON): where it goes from the moment it is owed, and the rendered
answer as soon as the command has run (stored in the command's own thread, before the answer
waits its turn among the process's senders). This sweep (a scheduled job, planned when there is
work) then:

- **sends a pending answer that has no live sender**: one still rate limited after `PATIENCE`, one
  queued behind other answers in a process's pool for longer than `RESEND_AFTER`, one left by a
  process that shut down or died after the command ran, one the operator settled as not arrived
  (`plcbot jobs settle KEY --not-arrived`). "No live sender" is told two ways: the row was not
  touched for `RESEND_AFTER` (the sender's loop touches it at every try, never more than
  `PATIENCE` apart), and this process is not answering it (`answering`, for clocks that jump).
  A settled row needs neither: its sender gave up when it went in doubt. A sender that comes to
  a row the sweep took finds it sent or in flight in the ledger (`delivery.claim`, in flight for
  `RESEND_AFTER`) and sends nothing.
- **tells the person once** when a pending row has where it goes but no answer after
  `INTERRUPTED_AFTER`: the process died while the command ran, and whether it was done is not
  known. A short note ("your message of 16:05", or "of Fri Dec 4, 16:05" when it was not sent
  today, in the sender's time zone) goes through the ledger under `keys.command_interrupted`
  (stored with its body like an answer, so a crash while sending it is swept too) and the original
  row is marked failed ("interrupted") in the same transaction: never told twice. Only within
  `TELL_WITHIN` of the message: an older one is news of nothing the person remembers, and its
  row is closed silently ("expired"), as is a row that keeps nothing (owed before migration 0013).
- **forgets the words of an answer in doubt**: a row "unknown" for `FORGET_AFTER` keeps where it
  went, not what it said. Settled as not arrived after that, the person is told once that the
  answer to their message did not reach them.
- **reports a send cut off by a dying process**: a row "sending" for longer than any live send
  takes becomes "unknown" (Teams keeps no history to look in), listed by `plcbot jobs` for the
  operator, never resent on a guess (and settled as not arrived only once it is: a row still
  "sending" may be in its sender's hands for up to `RESEND_AFTER`).

Rows are taken with `delivery.swap` (a conditional UPDATE on their state and last touch): of two
processes that found the same row, one acts. Times are the injected clock's.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import update as sa_update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, or_, select

from scheduling import delivery, keys
from scheduling.transport import Rendered
from storage import jobs
from storage.models import Delivery
from storage.models.identities import TEAMS

if TYPE_CHECKING:
    from scheduling.registry import Registry
    from scheduling.services import Services
    from storage.models import ScheduledJob

log = logging.getLogger("plcbot.delivery")

KIND = "command_reply"  # the ledger kind of an answer to a typed command
NOTE_KIND = "command_interrupted"  # the ledger kind of the note that one was interrupted
JOB_KIND = "command_reply_sweep"
# Seconds the sender keeps trying an answer still rate limited (`bot.teams.replies.send`).
PATIENCE = 600.0
# An answer's sender touches its row at every try, never more than PATIENCE apart (and a send in
# the transport's hands takes at most its seven tries of a minute's wait at most): untouched for
# longer than this, nobody is sending it.
RESEND_AFTER = timedelta(seconds=PATIENCE) + timedelta(minutes=2)
# A row still without its answer this long after it was owed: the command's process died.
# Longer than any command takes (the slowest, a team's set-up, reads a paged roster).
INTERRUPTED_AFTER = timedelta(minutes=15)
# A command that never finished is told only this long after its message: later, the note would
# be news of something the person has long forgotten (or done again); the row is closed, silently.
TELL_WITHIN = timedelta(days=7)
# An answer in doubt ("unknown") keeps its words this long for the operator's `settle --not-arrived`;
# then only where it went stays (enough to tell the person it did not arrive), never what it said.
FORGET_AFTER = timedelta(days=7)
INTERRUPTED = ("I was interrupted while answering your message of {at}; it may not have been done. "
               "Please check, and send it again if needed.")
# The note for an answer the operator learnt never arrived, after its words were forgotten.
NOT_ARRIVED = "My answer to your message of {at} did not reach you. Please send it again if you still need it."
TOLD_NOT_ARRIVED = "told_not_arrived"  # the error of a row settled not arrived, its words forgotten: told
EXPIRED = "expired"  # the error of an owed row closed silently (nothing kept to send, or too old to tell)
BATCH = 200


# ------------------------------------------------------------------------------ what a row keeps
@dataclass(frozen=True)
class Owed:
    """What `Delivery.body` holds for an answer: where it goes (the conversation as the message
    came, the platform's service address, the sender's time zone) and, once the command has run,
    the answer as rendered for that platform."""

    recipient: str
    conversation: str | None = None
    service_url: str | None = None
    platform: str = TEAMS
    tz: str | None = None
    text: str | None = None
    message: Any = None  # `Rendered.body`: the platform's own form (Teams: the reply activity)

    @property
    def answered(self) -> bool:
        return self.text is not None

    @property
    def rendered(self) -> Rendered:
        assert self.text is not None, "no answer stored yet"
        return Rendered(self.text, self.message)

    def answer(self, rendered: Rendered) -> Owed:
        return replace(self, text=rendered.text, message=rendered.body)

    def forget(self) -> Owed:
        """Where it goes, without the answer's words."""
        return replace(self, text=None, message=None)

    def encode(self) -> str:
        to = {"recipient": self.recipient, "conversation": self.conversation, "service_url": self.service_url,
              "platform": self.platform, "tz": self.tz}
        out: dict[str, Any] = {"to": to}
        if self.answered:
            out["answer"] = {"text": self.text, "body": self.message}
        return json.dumps(out, separators=(",", ":"))

    @classmethod
    def decode(cls, body: str | None) -> Owed | None:
        """The stored body, or None when there is none (rows from before 0013) or it cannot be read."""
        if not body:
            return None
        try:
            data = json.loads(body)
            to, answer = data["to"], data.get("answer")
            owed = cls(recipient=str(to["recipient"]), conversation=to.get("conversation"),
                       service_url=to.get("service_url"), platform=to.get("platform") or TEAMS, tz=to.get("tz"))
        except (ValueError, KeyError, TypeError):
            return None
        return owed if not isinstance(answer, dict) else replace(owed, text=str(answer.get("text") or ""),
                                                                   message=answer.get("body"))


def keep_answer(services: Services, key: str, owed: Owed, rendered: Rendered) -> bool:
    """Store the answer on its owed row, before it is first sent: from now on another process can
    send it. False when the row is no longer pending (nothing stored)."""
    return delivery.keep(services, key, owed.answer(rendered).encode())


# ------------------------------------------------------------------------------ what is in hand here
_in_hand: set[str] = set()
_in_hand_lock = threading.Lock()


@contextmanager
def answering(key: str) -> Iterator[None]:
    """While the block runs, this process is answering `key`: the sweep leaves it alone, however
    the clock moves (the sender's own loop times its patience on the machine's clock)."""
    with _in_hand_lock:
        _in_hand.add(key)
    try:
        yield
    finally:
        with _in_hand_lock:
            _in_hand.discard(key)


def in_hand(key: str) -> bool:
    with _in_hand_lock:
        return key in _in_hand


def _all_in_hand() -> list[str]:
    with _in_hand_lock:
        return sorted(_in_hand)


# ------------------------------------------------------------------------------ the sweep
@runtime_checkable
class KnowsServiceUrls(Protocol):
    """A transport that must be told where a conversation is (Teams: the service URL an incoming
    activity came from), for a conversation no stored reference names."""

    def remember_conversation(self, conversation: str, service_url: str) -> None: ...


@dataclass(frozen=True)
class Found:
    """A row the sweep acts on: what to do, and the row as it was read (its last touch included)."""

    action: str  # resend | interrupted | expire | forget | stuck
    key: str
    kind: str
    person_id: int | None
    place: str | None
    channel_id: str | None
    created_at: datetime
    updated_at: datetime
    owed: Owed | None
    settled: bool = False  # the operator settled it as not arrived


@dataclass
class SweepReport:
    resent: int = 0
    interrupted: int = 0
    in_doubt: int = 0
    still_owed: int = 0  # taken but not sent (rate limited again, or taken by another process)
    expired: int = 0  # closed silently: nothing kept to send, or too old to tell
    forgotten: int = 0  # answers in doubt for FORGET_AFTER whose words were dropped

    def note(self) -> str:
        return (f"resent {self.resent}, told {self.interrupted} interrupted, {self.in_doubt} in doubt, "
                f"{self.still_owed} still owed, {self.expired} expired, {self.forgotten} forgotten")


def _action(row: Delivery, owed: Owed | None, now: datetime) -> str | None:
    if in_hand(row.key):
        return None
    if row.state == "unknown":
        return "forget" if owed is not None and owed.answered and now - row.updated_at >= FORGET_AFTER else None
    if row.state == "sending":
        return "stuck" if now - row.updated_at >= RESEND_AFTER else None
    settled = row.error == delivery.NOT_ARRIVED
    if owed is not None and owed.answered:
        return "resend" if settled or now - row.updated_at >= RESEND_AFTER else None
    if not settled and now - row.updated_at < INTERRUPTED_AFTER:
        return None  # its command may still be running somewhere
    if row.kind == KIND and owed is not None and (settled or now - row.created_at < TELL_WITHIN):
        return "interrupted"
    # Nothing kept to say or where (a row from before 0013), or too old to be news: closed, silently.
    return "expire"


def _with_answer() -> Any:
    """Rows whose body holds an answer (`Owed.encode` writes the key `"answer":` only then; inside
    a JSON string a quote is escaped, so no recipient or text can look like it)."""
    return col(Delivery.body).like('%"answer":%')


def due(services: Services, now: datetime, *, limit: int = BATCH) -> list[Found]:
    """The rows the sweep would act on now (a read; nothing is taken)."""
    oldest = now - min(RESEND_AFTER, INTERRUPTED_AFTER)
    left_alone = or_(col(Delivery.updated_at) <= oldest, col(Delivery.error) == delivery.NOT_ARRIVED)
    kinds = col(Delivery.kind).in_([KIND, NOTE_KIND])
    owed = select(Delivery).where(kinds, col(Delivery.state).in_(["pending", "sending"]), left_alone)
    doubtful = select(Delivery).where(kinds, col(Delivery.state) == "unknown",
                                      col(Delivery.updated_at) <= now - FORGET_AFTER, _with_answer())
    busy = _all_in_hand()  # left out in the query, not after it: they must not fill the batch
    found = []
    with services.db.read() as session:
        for query in (owed, doubtful):
            if busy:
                query = query.where(col(Delivery.key).not_in(busy))
            query = query.order_by(col(Delivery.updated_at), col(Delivery.id)).limit(limit)
            for row in session.exec(query).all():
                decoded = Owed.decode(row.body)
                action = _action(row, decoded, now)
                if action is not None:
                    found.append(Found(action, row.key, row.kind, row.person_id, row.place, row.channel_id,
                                       row.created_at, row.updated_at, decoded,
                                       settled=row.error == delivery.NOT_ARRIVED))
    return found


def sweep(services: Services) -> SweepReport:
    """Act on every row `due` finds now: resend, tell, close, forget or report (see the module's docstring)."""
    report = SweepReport()
    for found in due(services, services.clock.now()):
        try:
            if found.action == "stuck":
                report.in_doubt += _report_stuck(services, found)
            elif found.action == "expire":
                report.expired += _expire(services, found)
            elif found.action == "forget":
                report.forgotten += _forget(services, found)
            elif found.action == "resend":
                _count(report, _resend(services, found.key, found.owed, seen=found.updated_at))
            else:
                _count(report, _tell_interrupted(services, found), interrupted=True)
        except Exception:  # one row's trouble does not keep the others owed
            log.exception("Sweeping the owed answer %s failed", found.key)
            report.still_owed += 1
    return report


def _count(report: SweepReport, outcome: delivery.Outcome | None, *, interrupted: bool = False) -> None:
    if outcome is not None and outcome.sent:
        if interrupted:
            report.interrupted += 1
        else:
            report.resent += 1
    elif outcome is not None and outcome.state == "unknown":
        report.in_doubt += 1
    else:
        report.still_owed += 1


def _resend(services: Services, key: str, owed: Owed | None, *, seen: datetime) -> delivery.Outcome | None:
    """Send the stored answer once (None: another process took the row first)."""
    assert owed is not None and owed.answered
    transport = services.transports[owed.platform]
    if owed.service_url and isinstance(transport, KnowsServiceUrls):
        transport.remember_conversation(owed.conversation or owed.recipient, owed.service_url)
    outcome = delivery.send_taken(services, key=key, recipient=owed.recipient, rendered=owed.rendered,
                                  platform=owed.platform, seen=seen)
    if outcome is not None:
        log.info("Owed answer %s sent by the sweep: %s", key, outcome.state)
    return outcome


def _report_stuck(services: Services, found: Found) -> int:
    """A send its process never finished: in doubt (the platform may hold it), for the operator."""
    with services.db.session() as session:
        taken = delivery.swap(session, found.key, was="sending", seen=found.updated_at, now=services.clock.now(),
                              state="unknown", error="unresolved: the sending process ended")
    if taken:
        log.error("Delivery %s was being sent by a process that ended; in doubt, left for the operator "
                  "(`plcbot jobs`), not resent", found.key)
    return int(taken)


def _expire(services: Services, found: Found) -> int:
    """An owed row with nothing to send, or a command too long ago to tell of: failed ("expired"), no note."""
    with services.db.session() as session:
        taken = delivery.swap(session, found.key, was="pending", seen=found.updated_at, now=services.clock.now(),
                              state="failed", error=EXPIRED)
    if taken:
        too_old = found.kind == KIND and found.owed is not None
        why = "its message is too old to tell of" if too_old else "nothing was kept to send"
        log.info("The owed answer %s is closed without a note (%s)", found.key, why)
    return int(taken)


def _forget(services: Services, found: Found) -> int:
    """An answer in doubt for FORGET_AFTER: its words are dropped, where it went is kept (the row's
    state and last touch are left as they were: it is as much in doubt as before)."""
    assert found.owed is not None
    with services.db.session() as session:
        result = session.exec(sa_update(Delivery).where(
            col(Delivery.key) == found.key, col(Delivery.state) == "unknown",
            col(Delivery.updated_at) == found.updated_at,
        ).values(body=found.owed.forget().encode()))
        forgotten = bool(result.rowcount)
    if forgotten:
        log.info("The answer %s has been in doubt for %d days: its words are no longer kept", found.key,
                 FORGET_AFTER.days)
    return int(forgotten)


def _zone(*names: str | None) -> ZoneInfo:
    for name in names:
        try:
            return ZoneInfo(name or "")
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


def local_when(at: datetime, now: datetime, tz: str | None, default: str) -> str:
    """When a message was sent, in the recipient's time: "16:05" today, "Fri Dec 4, 16:05" another day."""
    zone = _zone(tz, default, "UTC")
    local = at.astimezone(zone)
    if local.date() == now.astimezone(zone).date():
        return f"{local:%H:%M}"
    return f"{local:%a %b} {local.day}, {local:%H:%M}"


def _tell_interrupted(services: Services, found: Found) -> delivery.Outcome | None:
    """The answer's process died before the command had run (or, settled by the operator, its
    answer did not arrive and its words are no longer kept): settle its row ("failed",
    "interrupted") and owe the person one note instead, in one transaction, then send the note."""
    assert found.owed is not None
    now = services.clock.now()
    conversation = found.owed.conversation or found.channel_id
    at = local_when(found.created_at, now, found.owed.tz, services.settings.timezone)
    words = (NOT_ARRIVED if found.settled else INTERRUPTED).format(at=at)
    note = found.owed.answer(Rendered(words, None))
    note_key = keys.command_interrupted(found.key)
    with services.db.session() as session:
        if not delivery.swap(session, found.key, was="pending", seen=found.updated_at, now=now,
                             state="failed", error=TOLD_NOT_ARRIVED if found.settled else "interrupted"):
            return None
        try:
            with session.begin_nested():
                session.add(Delivery(key=note_key, kind=NOTE_KIND, person_id=found.person_id, place=found.place,
                                     channel_id=conversation, state="pending", body=note.encode(),
                                     created_at=now, updated_at=now))
        except IntegrityError:  # owed already (it cannot be, the row was pending): not owed twice
            return None
    log.warning("The answer %s was %s; the person is told once (%s)", found.key,
                "settled as not arrived after its words were forgotten" if found.settled
                else "interrupted (its process ended before the command had run)", note_key)
    return _resend(services, note_key, note, seen=now)


# ------------------------------------------------------------------------------ scheduled work
def run(job: ScheduledJob, services: Services) -> str | None:
    report = sweep(services)
    log.info("Owed answers swept: %s", report.note())
    return report.note()


def plan(services: Services, now: datetime) -> None:
    """A sweep row when something is owed with nobody on it (a read first: this runs every tick,
    and nothing is owed nearly always); at most one a minute."""
    if not due(services, now):
        return
    minute = now.replace(second=0, microsecond=0)
    with services.db.session() as session:
        jobs.schedule(session, kind=JOB_KIND, dedupe_key=keys.command_reply_sweep_job(minute), due_at=now,
                      reschedule=False)


def register(registry: Registry) -> None:
    registry.kind(JOB_KIND, run, label="owed answers")
    registry.planner("command_replies", plan)
