"""Bad input, fuzzed (hypothesis): the slash command, the modals and every button, given text that
is empty, huge, full of control characters, right-to-left, emoji, mrkdwn and mention syntax,
spreadsheet formulas or SQL.

Whatever arrives, the bot acknowledges within Slack's 3 seconds, never sends Slack a request
Slack would reject for its size or shape, never pings a channel or a stranger, stores what was
accepted exactly as typed, and stores nothing of what was refused. One bot per test function
(started by the `bot` fixture); the examples run against it one after another.
"""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func
from sqlmodel import SQLModel, select

from bot.render import cycles as cycle_render
from handlers.errors import OUR_FAULT
from storage.models import Checkin, Cycle, Delivery, ScheduledJob
from tests.cycle_helpers import GOOD_FORM, checkin_dms, make_cycle
from tests.seed import seed_team

ROUND_DUE = __import__("datetime").datetime(2026, 12, 3, 19, 1, tzinfo=__import__("datetime").UTC)

NASTY = [
    "", " ", "\n\n", "<!channel>", "<!here|here>", "<!everyone>", "<!subteam^S0INJECT|@staff>",
    "<@UINJECT>", "<@UINJECT|boss>", "<#CINJECT|general>", "<https://evil.example|click me>",
    "*bold* _it_ ~strike~ `code` ```block``` > quote", "&amp; &lt; &gt; & < >",
    "=HYPERLINK(\"https://evil.example\",\"x\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
    "'; DROP TABLE person; --", "\" OR 1=1 --", "Robert'); DELETE FROM checkin;--",
    "\u202eevil\u202c", "مرحبا بالعالم", "שלום עולם", "👩‍🏫🎉🧮" * 5, "\u200b\u200d\ufeff",
    "\x00\x01\x07\x1b[31mred", "a\r\nb\tc\x0bd\x0ce", "\ud7ff\ue000\uffff", "null", "None", "0", "-1", "1e309",
    "x" * 151, "y" * 3001, "z" * 40_001,
]
TEXT = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=120),
    st.lists(st.sampled_from(NASTY[:30]), min_size=2, max_size=4).map(" ".join),
    st.builds(lambda piece, n: piece * n, st.sampled_from(NASTY[1:30]), st.integers(1, 400)),
)
FUZZ = settings(max_examples=30, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

REJECTED_FOR_SIZE = {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "invalid_arguments",
                     "invalid_payload", "no_text"}
PINGS = ("<!channel", "<!here", "<!everyone", "<!subteam", "<@UINJECT", "<#CINJECT")
SENDING = {"chat.postMessage", "chat.postEphemeral", "chat.update", "views.open", "views.update", "views.push",
           "views.publish", "response_url", "files.completeUploadExternal"}


class Watch:
    """What the bot sent Slack since the last look: checked after every example."""

    def __init__(self, bot, *, apologies_allowed: bool = False) -> None:
        self.bot, self.seen = bot, len(bot.double.calls)
        # A forged button value (only a forger can send one) may get the generic apology.
        self.apologies_allowed = apologies_allowed

    def check(self, label: str) -> None:
        self.bot.wait_idle(timeout=20)
        calls = self.bot.double.calls[self.seen:]
        self.seen += len(calls)
        for call in calls:
            if call.method not in SENDING:
                continue
            assert call.error not in REJECTED_FOR_SIZE, f"{label}: Slack would reject {call.method}: {call.error}"
            sent = json.dumps(call.params, ensure_ascii=False)
            for ping in PINGS:
                assert ping not in sent, f"{label}: {call.method} carries {ping!r} unescaped"
            if not self.apologies_allowed:
                assert OUR_FAULT[:40] not in sent, f"{label}: an unexpected error reached the user"


def _acked(reply, label: str) -> None:
    assert reply.status == 200, f"{label}: HTTP {reply.status} {reply.body[:200]}"
    assert reply.elapsed < 3, f"{label}: answered in {reply.elapsed:.2f} s"


def _counts(bot) -> dict[str, int]:
    with bot.db.read() as session:
        return {t.name: session.exec(select(func.count()).select_from(t)).one()
                for t in SQLModel.metadata.sorted_tables if t.name not in ("heartbeat", "alembic_version")}


def _same_text(stored: object, typed: str, *, one_line: bool = False) -> bool:
    """Stored as typed: surrounding whitespace may be trimmed and, in a one-line title, runs of
    spaces folded to one (agenda titles are); nothing else."""
    if stored in (typed, typed.strip()):
        return True
    return one_line and stored == " ".join(typed.split())


def _fits(view: dict, block_id: str, text: str) -> bool:
    """Whether Slack's client would let a person type `text` into that input (its max_length).

    Longer text can only come from a forged request; the bot may clip or refuse it, and the
    "stored as typed" property is checked only for what a person could have typed.
    """
    for block in view.get("blocks") or []:
        if block.get("block_id") == block_id:
            limit = (block.get("element") or {}).get("max_length") or 3000
            return len(text) <= limit
    return True


def _no_bolt_errors(caplog) -> None:
    bad = [r for r in caplog.records if r.name.startswith(("slack_bolt", "plcbot.bolt")) and r.levelno >= logging.ERROR]
    assert not bad, bad[0].getMessage()


# ---------------------------------------------------------------------------- the slash command
SUBCOMMANDS = ["", "help", "team", "norms", "norms edit", "agenda", "agenda template", "action", "actions",
               "meeting", "cycle", "cycle pause until", "away until", "feedback", "feedback results",
               "digest", "school", "setup", "wrapup"]


def test_slash_command_with_arbitrary_text(bot, caplog):
    team = seed_team(bot)
    watch = Watch(bot)
    users = ["UFAC", "UT1", "UPRIN"]

    @FUZZ
    @given(sub=st.sampled_from(SUBCOMMANDS), text=TEXT, who=st.sampled_from(users))
    def run(sub: str, text: str, who: str) -> None:
        reply = bot.user(who).command(f"{sub} {text}".strip() if sub else text, channel=team.channel)
        _acked(reply, f"/plc {sub} …")
        watch.check(f"/plc {sub} {text[:40]!r}")

    run()
    _no_bolt_errors(caplog)


# ---------------------------------------------------------------------------- modals
def _reset_cycles(bot) -> None:
    with bot.db.session() as session:
        session.exec(delete(ScheduledJob))  # type: ignore[call-overload]
        session.exec(delete(Cycle))  # type: ignore[call-overload]


def test_cycle_form_with_arbitrary_text(bot, caplog):
    team = seed_team(bot)
    bot.user("UFAC").command("cycle start", channel=team.channel)
    view = bot.double.wait_for(lambda: bot.double.open_views("UFAC"))[-1]
    watch = Watch(bot)

    @FUZZ
    @given(field=st.sampled_from(["title", "goal", "strategy", "metric_name", "metric_unit", "baseline",
                                  "target", "weeks", "reminder_hours"]), text=TEXT)
    def run(field: str, text: str) -> None:
        _reset_cycles(bot)
        before = _counts(bot)
        reply = bot.user("UFAC").submit(view, {**GOOD_FORM, field: {field: text}})
        _acked(reply, field)
        watch.check(f"cycle {field}={text[:40]!r}")
        errors = (reply.json or {}).get("errors") or {}
        with bot.db.read() as session:
            cycles = session.exec(select(Cycle)).all()
        if errors:
            assert set(errors) <= {b["block_id"] for b in view["blocks"]}, errors  # errors name real blocks
            assert _counts(bot) == before, f"refused {field}={text[:40]!r} yet something was stored"
            return
        assert len(cycles) == 1, "an accepted form stores exactly one cycle"
        if field not in ("baseline", "target", "weeks", "reminder_hours") and _fits(view, field, text):
            assert _same_text(getattr(cycles[0], field), text), (field, text[:60], getattr(cycles[0], field))

    run()
    _no_bolt_errors(caplog)


def test_checkin_details_with_arbitrary_text(bot, caplog):
    team = seed_team(bot)
    make_cycle(bot, team.team_id)
    bot.clock.set(ROUND_DUE)
    bot.tick()
    dm = checkin_dms(bot, "UT1")[0]
    bot.user("UT1").click(dm, cycle_render.DETAILS_ACTION)
    view = bot.double.wait_for(lambda: bot.double.open_views("UT1"))[-1]
    watch = Watch(bot)

    @FUZZ
    @given(field=st.sampled_from(["evidence", "support", "value"]), text=TEXT)
    def run(field: str, text: str) -> None:
        with bot.db.read() as session:
            old = session.exec(select(Checkin).where(Checkin.user_id == "UT1")).one()
        before = _counts(bot)
        reply = bot.user("UT1").submit(view, {"progress": {"progress": "some_progress"}, field: {field: text}})
        _acked(reply, field)
        watch.check(f"details {field}={text[:40]!r}")
        with bot.db.read() as session:
            new = session.exec(select(Checkin).where(Checkin.user_id == "UT1")).one()
        if (reply.json or {}).get("errors"):
            assert _counts(bot) == before
            assert (new.evidence, new.support, new.value) == (old.evidence, old.support, old.value)
            return
        if field != "value" and text.strip() and _fits(view, field, text):
            assert _same_text(getattr(new, field), text), (field, text[:60], getattr(new, field))

    run()
    _no_bolt_errors(caplog)


def test_agenda_item_with_arbitrary_text(bot, caplog):
    team = seed_team(bot)
    bot.user("UFAC").command("agenda", channel=team.channel)
    agenda = bot.double.wait_for(lambda: [m for m in bot.double.messages(team.channel)
                                          if "agenda_add_item" in json.dumps(m.get("blocks"))])[-1]
    bot.user("UT1").click(agenda, "agenda_add_item", channel=team.channel)
    view = bot.double.wait_for(lambda: bot.double.open_views("UT1"))[-1]
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b.get("type") == "input"}
    watch = Watch(bot)

    @FUZZ
    @given(field=st.sampled_from([k for k, e in inputs.items() if e.get("type") == "plain_text_input"]),
           text=TEXT)
    def run(field: str, text: str) -> None:
        from storage.models import AgendaItem

        before = _counts(bot)
        values = {"title": {"value": "Look at exit tickets"}, field: {inputs[field]["action_id"]: text}}
        reply = bot.user("UT1").submit(view, values)
        _acked(reply, field)
        watch.check(f"agenda item {field}={text[:40]!r}")
        if (reply.json or {}).get("errors"):
            assert _counts(bot) == before
            return
        with bot.db.read() as session:
            newest = session.exec(select(AgendaItem).order_by(AgendaItem.id.desc())).first()  # type: ignore[union-attr]
        assert newest is not None
        if field in ("title", "outcome") and text.strip() and _fits(view, field, text):
            assert _same_text(getattr(newest, field), text, one_line=True), (field, text[:60], getattr(newest, field))

    run()
    _no_bolt_errors(caplog)


# ---------------------------------------------------------------------------- buttons
ACTION_IDS = [
    "action_done", "agenda_add_item", "agenda_edit", "agenda_wrapup", "norms_commit",
    cycle_render.BACK_ACTION, cycle_render.AWAY_ACTION, cycle_render.CHANGE_ACTION, cycle_render.DETAILS_ACTION,
    cycle_render.FOLLOW_UP_ACTION, cycle_render.RESOLVE_ACTION, cycle_render.REFLECT_ACTION,
    *cycle_render.ANSWER_ACTIONS.values(),
]


def _more_action_ids() -> list[str]:
    """Action ids of features that may or may not be in this build (feedback, teams)."""
    found = []
    for module, names in (("bot.render.feedback", ("ACTION_OPEN",)),
                          ("handlers.teams", ("EDIT_SCHOOL_ACTION", "ADD_MEMBER_ACTION", "DISMISS_ACTION"))):
        try:
            loaded = __import__(module, fromlist=list(names))
        except ImportError:
            continue
        found += [getattr(loaded, n) for n in names if hasattr(loaded, n)]
    return found


@pytest.mark.parametrize("where", ["channel", "dm"])
def test_every_button_with_an_arbitrary_value(bot, caplog, where):
    team = seed_team(bot)
    make_cycle(bot, team.team_id)
    bot.clock.set(ROUND_DUE)
    bot.tick()
    watch = Watch(bot, apologies_allowed=True)
    action_ids = ACTION_IDS + _more_action_ids()

    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large])
    @given(action_id=st.sampled_from(action_ids), value=st.one_of(TEXT, st.integers(0, 50).map(str)),
           who=st.sampled_from(["UT1", "UFAC", "UOUTSIDER"]))
    def run(action_id: str, value: str, who: str) -> None:
        if who == "UOUTSIDER":
            bot.double.add_user("UOUTSIDER", name="outsider")
        channel = team.channel if where == "channel" else bot.double.dm_channel_id(who)
        message = {"ts": "1764790000.000100", "channel": channel, "text": "",
                   "blocks": [{"type": "actions", "block_id": "fuzz", "elements": [
                       {"type": "button", "action_id": action_id, "value": value[:2000] or "x",
                        "text": {"type": "plain_text", "text": "x"}}]}]}
        reply = bot.user(who).click(message, action_id, channel=channel)
        _acked(reply, action_id)
        watch.check(f"button {action_id}={value[:40]!r} by {who}")

    run()
    _no_bolt_errors(caplog)
    # Nobody's check-in was answered by someone else, whatever the value said.
    with bot.db.read() as session:
        for checkin in session.exec(select(Checkin)).all():
            assert checkin.answered_by in (None, checkin.user_id) if hasattr(checkin, "answered_by") else True
        assert session.exec(select(func.count()).select_from(Delivery)).one() >= len(team.everyone)
