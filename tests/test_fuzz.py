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
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func
from sqlmodel import SQLModel, select

from bot.render import cycles as cycle_render
from handlers.errors import OUR_FAULT
from storage.models import Checkin, Cycle, Delivery, Meeting, ScheduledJob
from tests.cycle_helpers import GOOD_FORM, checkin_dms, make_cycle
from tests.harness import checkin_of, handles
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
            sent = json.dumps(_without_prefill(call.params), ensure_ascii=False)
            for ping in PINGS:
                assert ping not in sent, f"{label}: {call.method} carries {ping!r} unescaped"
            if not self.apologies_allowed:
                assert OUR_FAULT[:40] not in sent, f"{label}: an unexpected error reached the user"


def _without_prefill(params: object) -> object:
    """The request without text inputs' `initial_value`: a modal opened again shows what the person
    typed there, as plain text in their own input box, which never pings anyone."""
    if isinstance(params, dict):
        return {k: _without_prefill(v) for k, v in params.items()
                if not (k == "initial_value" and params.get("type") == "plain_text_input")}
    if isinstance(params, list):
        return [_without_prefill(v) for v in params]
    if isinstance(params, str) and params[:1] in "[{":
        try:  # the SDK sends a view as a JSON string
            return _without_prefill(json.loads(params))
        except ValueError:
            return params
    return params


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
               "digest", "school", "setup", "wrapup", "privacy", "privacy export", "audit", "audit since"]


def test_slash_command_with_arbitrary_text(bot, caplog):
    team = seed_team(bot)
    watch = Watch(bot)
    bot.double.add_user("USTRANGER", name="stranger", real_name="Stranger")
    users = ["UFAC", "UT1", "UPRIN", "UADMIN", "USTRANGER"]

    @FUZZ
    @given(sub=st.sampled_from(SUBCOMMANDS), text=TEXT, who=st.sampled_from(users))
    def run(sub: str, text: str, who: str) -> None:
        reply = bot.user(who).command(f"{sub} {text}".strip() if sub else text, channel=team.channel)
        _acked(reply, f"/plc {sub} …")
        watch.check(f"/plc {sub} {text[:40]!r}")

    run()
    _no_bolt_errors(caplog)


def test_privacy_and_audit_with_arbitrary_text_for_every_role(bot, caplog):
    """`/plc privacy …` and `/plc audit …` echo nothing unescaped and change nothing, whoever asks:
    a teacher, a facilitator, a principal, an admin, a stranger in no team; in the channel or a DM."""
    team = seed_team(bot)
    bot.double.add_user("USTRANGER", name="stranger", real_name="Stranger")
    watch = Watch(bot)
    before = _counts(bot)

    @FUZZ
    @given(sub=st.sampled_from(["privacy", "privacy export", "audit", "audit since"]), text=TEXT,
           who=st.sampled_from(["UT1", "UFAC", "UPRIN", "UADMIN", "USTRANGER"]), in_dm=st.booleans())
    @example(sub="audit since", text="<!channel>", who="UPRIN", in_dm=False)  # the day is echoed back
    @example(sub="audit", text="<@UINJECT|boss> `", who="UADMIN", in_dm=True)
    def run(sub: str, text: str, who: str, in_dm: bool) -> None:
        if not text.strip():
            text = "x"  # `/plc privacy export` alone sends a workbook: a change, not bad input
        reply = bot.user(who).command(f"{sub} {text}", channel=who if in_dm else team.channel)
        _acked(reply, f"/plc {sub} …")
        watch.check(f"/plc {sub} {text[:40]!r} as {who}")
        assert _counts(bot) == before, f"/plc {sub} {text[:40]!r} as {who} changed the database"

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
            old = session.exec(select(Checkin).where(checkin_of("UT1"))).one()
        before = _counts(bot)
        reply = bot.user("UT1").submit(view, {"progress": {"progress": "some_progress"}, field: {field: text}})
        _acked(reply, field)
        watch.check(f"details {field}={text[:40]!r}")
        with bot.db.read() as session:
            new = session.exec(select(Checkin).where(checkin_of("UT1"))).one()
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


# ---------------------------------------------------------------------------- the other modals
# Each example opens a fresh modal through the bot (Slack closes a modal once it is accepted), so
# the view submitted is the one the bot built, then types into one of its inputs.
FEW = settings(max_examples=20, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                      HealthCheck.data_too_large])


def _text_inputs(view: dict) -> dict[str, str]:
    """{block id: action id} of the view's free-text inputs."""
    return {b["block_id"]: b["element"]["action_id"] for b in view.get("blocks") or []
            if b.get("type") == "input" and (b.get("element") or {}).get("type") == "plain_text_input"}


def _open(bot, user_id: str, callback_id: str, how) -> dict:
    """Do `how()` (a command or a click) and return the modal with `callback_id` it opened."""
    before = {v["id"] for v in bot.double.open_views(user_id)}
    how()
    return bot.double.wait_for(lambda: next(
        (v for v in reversed(bot.double.open_views(user_id))
         if v["id"] not in before and v.get("callback_id") == callback_id), None))


def _no_apology(reply, label: str) -> None:
    """The acknowledgement itself (inline errors, an updated view) never carries the generic apology."""
    assert OUR_FAULT[:40] not in json.dumps(reply.json or {}, ensure_ascii=False), f"{label}: apology in the ack"


def _refused(reply) -> bool:
    return bool((reply.json or {}).get("errors"))


def _fits_column(model, field: str, stored: object) -> bool:
    """What was stored fits its column (PostgreSQL would refuse longer text, after the ack)."""
    limit = getattr(model.__table__.c[field].type, "length", None)
    return stored is None or limit is None or len(str(stored)) <= limit


def _with(valid: list[str]) -> st.SearchStrategy[str]:
    """Arbitrary text, plus values the field accepts, alone or wrapped in nasty text."""
    return st.one_of(TEXT, st.sampled_from(valid),
                     st.builds(lambda v, pad: f"{pad}{v}{pad}", st.sampled_from(valid),
                               st.sampled_from([" ", "\n", "\t", "  \u00a0"])))


def _finish(bot, user_id: str, view: dict, reply) -> None:
    """Close a modal left open by a refusal, as the person would (keeps the double's list short)."""
    if _refused(reply):
        bot.user(user_id).close(view)


def test_feedback_form_with_arbitrary_text(bot, caplog):
    from storage.models.feedback import Feedback

    team = seed_team(bot, meeting_weekdays="")
    with bot.db.session() as session:
        session.add(Meeting(team_id=team.team_id, starts_at=bot.clock.now() - timedelta(minutes=50),
                            minutes=45, source="one_off"))
    watch = Watch(bot)
    ratings = {"useful": {"value": "4"}, "learned": {"value": "5"}, "norms": {"value": "3"}}

    @FEW
    @given(field=st.sampled_from(["will_try", "evidence", "next_focus"]), text=TEXT, anonymous=st.booleans())
    def run(field: str, text: str, anonymous: bool) -> None:
        view = _open(bot, "UT1", "feedback_submit",
                     lambda: _acked(bot.user("UT1").command("feedback", channel=team.channel), "/plc feedback"))
        with bot.db.read() as session:
            old = [(r.will_try, r.evidence, r.next_focus, r.anonymous) for r in session.exec(select(Feedback))]
        before = _counts(bot)
        values = {**ratings, field: {"value": text}, "anonymous": {"value": ["yes"] if anonymous else []}}
        reply = bot.user("UT1").submit(view, values)
        _acked(reply, field)
        _no_apology(reply, field)
        watch.check(f"feedback {field}={text[:40]!r}")
        with bot.db.read() as session:
            rows = session.exec(select(Feedback)).all()
        if _refused(reply):
            assert set(reply.json["errors"]) <= {b["block_id"] for b in view["blocks"]}
            assert _counts(bot) == before
            assert [(r.will_try, r.evidence, r.next_focus, r.anonymous) for r in rows] == old
            _finish(bot, "UT1", view, reply)
            return
        assert len(rows) == 1, "one answer per person, whatever was typed"
        assert rows[0].anonymous == anonymous
        assert _fits_column(Feedback, field, getattr(rows[0], field))
        if _fits(view, field, text):
            assert _same_text(getattr(rows[0], field), text), (field, text[:60], getattr(rows[0], field))

    run()
    _no_bolt_errors(caplog)


def test_team_setup_with_arbitrary_text(bot, caplog):
    from bot.render import teams as teams_render
    from storage.models import Team

    team = seed_team(bot)
    watch = Watch(bot)
    good = {teams_render.B_NAME: {"value": "Grade 3"}, teams_render.B_FACILITATORS: {"value": ["UFAC"]},
            teams_render.B_MEMBERS: {"value": ["UFAC", "UT1", "UT2", "UT3"]}, teams_render.B_DAYS: {"value": ["thu"]},
            teams_render.B_TIME: {"value": "15:30"}, teams_render.B_LENGTH: {"value": "45"},
            teams_render.B_TZ: {"value": "America/New_York"}}
    fields = {teams_render.B_NAME: _with(["Grade 3 Math", "3rd grade · ELA", "Équipe 3"]),
              teams_render.B_TZ: _with(["America/Chicago", "Europe/Paris", "UTC", "America/New_York"]),
              teams_render.B_LENGTH: _with(["45", "60", "0", "-5", "999999", "4.5"])}  # forged: Slack sends numbers

    @FEW
    @given(data=st.data(), field=st.sampled_from(sorted(fields)))
    def run(data, field: str) -> None:
        text = data.draw(fields[field], label=field)
        view = _open(bot, "UFAC", teams_render.SETUP_CALLBACK,
                     lambda: _acked(bot.user("UFAC").command("setup", channel=team.channel), "/plc setup"))
        with bot.db.read() as session:
            old = session.get(Team, team.team_id).model_dump()
        before = _counts(bot)
        reply = bot.user("UFAC").submit(view, {**good, field: {"value": text}})
        _acked(reply, field)
        _no_apology(reply, field)
        watch.check(f"setup {field}={text[:40]!r}")
        with bot.db.read() as session:
            now = session.get(Team, team.team_id)
            teams = session.exec(select(func.count()).select_from(Team)).one()
        if _refused(reply):
            assert set(reply.json["errors"]) <= {b["block_id"] for b in view["blocks"]}
            assert _counts(bot) == before and now.model_dump() == old
            _finish(bot, "UFAC", view, reply)
            return
        assert teams == 1, "editing a team never makes another"
        assert _fits_column(Team, "name", now.name) and _fits_column(Team, "timezone", now.timezone)
        if field == teams_render.B_NAME and _fits(view, field, text):
            assert _same_text(now.name, text, one_line=True), (text[:60], now.name)
        if field == teams_render.B_TZ:
            assert now.timezone == text.strip(), (text[:60], now.timezone)

    run()
    _no_bolt_errors(caplog)


def test_school_settings_with_arbitrary_text(bot, caplog):
    from bot.render import teams as teams_render
    from storage.models import School

    team = seed_team(bot)
    watch = Watch(bot)
    fields = {teams_render.S_TZ: _with(["America/Denver", "Asia/Tokyo", "UTC"]),
              teams_render.S_HOURS: _with(["Mon-Fri 07:00-18:00", "Mon 08:00-15:00", "", "Tue-Thu 7:30-16:00"])}

    @FEW
    @given(data=st.data(), field=st.sampled_from(sorted(fields)))
    def run(data, field: str) -> None:
        text = data.draw(fields[field], label=field)
        view = _open(bot, "UPRIN", teams_render.SCHOOL_CALLBACK,
                     lambda: _acked(bot.user("UPRIN").command("school edit", channel=team.channel), "/plc school"))
        with bot.db.read() as session:
            old = session.get(School, team.school_id).model_dump()
        before = _counts(bot)
        values = {teams_render.S_TZ: {"value": "America/New_York"}, field: {"value": text}}
        reply = bot.user("UPRIN").submit(view, values)
        _acked(reply, field)
        _no_apology(reply, field)
        watch.check(f"school {field}={text[:40]!r}")
        with bot.db.read() as session:
            now = session.get(School, team.school_id)
        if _refused(reply):
            assert set(reply.json["errors"]) <= {b["block_id"] for b in view["blocks"]}
            assert _counts(bot) == before and now.model_dump() == old
            _finish(bot, "UPRIN", view, reply)
            return
        assert _fits_column(School, "timezone", now.timezone)
        assert _fits_column(School, "school_hours", now.school_hours)
        if field == teams_render.S_TZ:
            assert now.timezone == text.strip(), (text[:60], now.timezone)
        elif _fits(view, field, text):
            assert now.school_hours == (text.strip() or None), (text[:60], now.school_hours)

    run()
    _no_bolt_errors(caplog)


def test_norms_editor_with_arbitrary_text(bot, caplog):
    from storage.models import Norm
    from storage.rules.agenda import clean_norms

    team = seed_team(bot)
    watch = Watch(bot)
    lines = st.lists(st.one_of(TEXT, st.sampled_from(["Start on time", "- Assume good intent", "2. Phones away"])),
                     min_size=1, max_size=14).map("\n".join)

    @FEW
    @given(text=st.one_of(TEXT, lines))
    def run(text: str) -> None:
        view = _open(bot, "UFAC", "norms_edit",
                     lambda: _acked(bot.user("UFAC").command("norms edit", channel=team.channel), "/plc norms edit"))
        with bot.db.read() as session:
            old = [n.text for n in session.exec(select(Norm).order_by(Norm.position))]
        before = _counts(bot)
        reply = bot.user("UFAC").submit(view, {"norms": {"text": text}})
        _acked(reply, "norms")
        _no_apology(reply, "norms")
        watch.check(f"norms={text[:40]!r}")
        with bot.db.read() as session:
            stored = [n.text for n in session.exec(select(Norm).order_by(Norm.position))]
        if _refused(reply):
            assert set(reply.json["errors"]) <= {b["block_id"] for b in view["blocks"]}
            assert _counts(bot) == before and stored == old
            _finish(bot, "UFAC", view, reply)
            return
        assert all(_fits_column(Norm, "text", n) for n in stored)
        if _fits(view, "norms", text):
            # One norm a line, bullets and repeated spaces dropped; the words as typed.
            assert stored == clean_norms(text), (text[:80], stored[:3])
            folded = " ".join(text.split())
            assert all(n in folded for n in stored), (text[:80], stored[:3])

    run()
    _no_bolt_errors(caplog)


def test_away_picker_with_arbitrary_text(bot, caplog):
    from datetime import date

    from storage.models import Person

    seed_team(bot)
    watch = Watch(bot)
    home = {"ts": "1764790000.000200", "blocks": cycle_render.away_home(away_until=None, today=date(2026, 11, 30))}
    dates = st.dates(date(2026, 11, 1), date(2028, 1, 31)).map(date.isoformat)

    @FEW
    @given(text=st.one_of(TEXT, dates, dates.map(lambda d: d.replace("-", "")), dates.map(lambda d: f" {d}\n")))
    def run(text: str) -> None:
        view = _open(bot, "UT1", cycle_render.AWAY_MODAL,
                     lambda: _acked(bot.user("UT1").click(home, cycle_render.AWAY_ACTION,
                                                          channel=bot.double.dm_channel_id("UT1")), "away"))
        with bot.db.read() as session:
            old = session.exec(select(Person).where(Person.handle == "UT1")).one().model_dump()
        before = _counts(bot)
        reply = bot.user("UT1").submit(view, {"until": {"until": text}})  # a forged date picker value
        _acked(reply, "until")
        _no_apology(reply, "until")
        watch.check(f"away until={text[:40]!r}")
        with bot.db.read() as session:
            now = session.exec(select(Person).where(Person.handle == "UT1")).one()
        if _refused(reply):
            assert _counts(bot) == before and now.model_dump() == old
            _finish(bot, "UT1", view, reply)
            return
        assert now.away_until == date.fromisoformat(text), (text, now.away_until)

    run()
    _no_bolt_errors(caplog)
    with bot.db.session() as session:  # the others in the team were never touched
        assert all(p.away_until is None for p in session.exec(select(Person).where(Person.handle != "UT1")))


def test_wrapup_with_arbitrary_text(bot, caplog):
    from storage import meetings as meeting_store
    from storage.models import ActionItem, AgendaItem, MeetingRecord, Team

    team = seed_team(bot, meeting_weekdays="")
    watch = Watch(bot)
    made = [0]

    def fresh_meeting() -> int:
        """A meeting that started a little later than the last one, with two agenda items."""
        made[0] += 1
        now = bot.clock.now()
        with bot.db.session() as session:
            meeting = Meeting(team_id=team.team_id, starts_at=now - timedelta(hours=3) + timedelta(seconds=made[0]),
                              minutes=45, source="one_off")
            session.add(meeting)
            session.flush()
            for title in ("Exit tickets", "Next unit"):
                meeting_store.add_item(session, meeting=meeting, title=title, minutes=10, owner=None, link=None,
                                       outcome="", source="member", added_by="UFAC", now=now)
            assert meeting.id is not None
            return meeting.id

    @FEW
    @given(field=st.sampled_from(["note", "decisions", "a1_text", "a2_text"]), text=TEXT)
    def run(field: str, text: str) -> None:
        with bot.db.read() as session:
            team_row = session.get(Team, team.team_id)
            assert team_row is not None
            waiting = meeting_store.to_wrap_up(session, team_id=team.team_id, now=bot.clock.now())
        meeting_id = waiting.id if waiting is not None else fresh_meeting()
        view = _open(bot, "UFAC", "meeting_wrapup",
                     lambda: _acked(bot.user("UFAC").command("wrapup", channel=team.channel), "/plc wrapup"))
        assert json.loads(view["private_metadata"])["meeting_id"] == meeting_id
        block = next(b for b in _text_inputs(view) if b.startswith("n")) if field == "note" else field
        values: dict[str, dict[str, object]] = {"present": {"value": ["UFAC", "UT1"]}, block: {"value": text}}
        if field.startswith("a"):
            values[field.replace("text", "owner")] = {"value": "UT1"}
        before = _counts(bot)
        reply = bot.user("UFAC").submit(view, values)
        _acked(reply, field)
        _no_apology(reply, field)
        watch.check(f"wrap-up {field}={text[:40]!r}")
        with bot.db.read() as session:
            meeting = session.get(Meeting, meeting_id)
            items = session.exec(select(AgendaItem).where(AgendaItem.meeting_id == meeting_id)).all()
            record = session.exec(select(MeetingRecord).where(MeetingRecord.meeting_id == meeting_id)).first()
            actions = session.exec(select(ActionItem).where(ActionItem.meeting_id == meeting_id)).all()
        if _refused(reply):
            assert set(reply.json["errors"]) <= {b["block_id"] for b in view["blocks"]}
            assert _counts(bot) == before and meeting.status == "scheduled"
            _finish(bot, "UFAC", view, reply)
            return
        assert meeting.status == "held", "an accepted wrap-up holds the meeting"
        assert record is not None and _fits_column(MeetingRecord, "decisions", record.decisions)
        assert all(_fits_column(AgendaItem, "notes", i.notes) for i in items)
        assert all(_fits_column(ActionItem, "text", a.text) for a in actions)
        fits = _fits(view, block, text)
        if field == "note" and fits:
            noted = next(i for i in items if f"n{i.id}" == block)
            assert _same_text(noted.notes, text), (text[:60], noted.notes[:60])
        elif field == "decisions" and fits:
            assert _same_text(record.decisions, text), (text[:60], record.decisions[:60])
        elif field.startswith("a"):
            assert len(actions) == (1 if text.strip() else 0), (text[:60], actions)
            if actions and fits:
                assert _same_text(actions[0].text, text, one_line=True), (text[:60], actions[0].text[:60])

    run()
    _no_bolt_errors(caplog)


def test_agenda_editor_with_arbitrary_text(bot, caplog):
    from storage import meetings as meeting_store
    from storage.models import AgendaItem

    team = seed_team(bot)
    bot.user("UFAC").command("agenda", channel=team.channel)
    agenda = bot.double.wait_for(lambda: [m for m in bot.double.messages(team.channel)
                                          if "agenda_edit" in json.dumps(m.get("blocks"))])[-1]
    watch = Watch(bot)

    def items(meeting_id: int) -> list[tuple[int, str, int]]:
        with bot.db.read() as session:
            return [(i.id or 0, i.title, i.minutes) for i in session.exec(
                select(AgendaItem).where(AgendaItem.meeting_id == meeting_id).order_by(AgendaItem.id))]

    @FEW
    @given(which=st.integers(0, 1), kind=st.sampled_from(["t", "t", "m"]),
           text=st.one_of(TEXT, st.sampled_from(["10", "0", "121", "-3", "7.5", "1e3"])))
    def run(which: int, kind: str, text: str) -> None:
        view = _open(bot, "UFAC", "agenda_edit", lambda: _acked(bot.user("UFAC").click(
            agenda, "agenda_edit", channel=team.channel), "agenda_edit"))
        meeting_id = json.loads(view["private_metadata"])["meeting_id"]
        if len(json.loads(view["private_metadata"])["items"]) < 2:  # emptied titles removed them: add more
            with bot.db.session() as session:
                meeting = session.get(Meeting, meeting_id)
                for title in ("Look at student work", "Plan the reteach"):
                    meeting_store.add_item(session, meeting=meeting, title=title, minutes=10, owner=None,
                                           link=None, outcome="", source="member", added_by="UFAC",
                                           now=bot.clock.now())
            bot.user("UFAC").close(view)
            view = _open(bot, "UFAC", "agenda_edit", lambda: _acked(bot.user("UFAC").click(
                agenda, "agenda_edit", channel=team.channel), "agenda_edit"))
        item_id = json.loads(view["private_metadata"])["items"][which]
        block = f"{kind}{item_id}"
        old = items(meeting_id)
        before = _counts(bot)
        reply = bot.user("UFAC").submit(view, {block: {"value": text}})  # minutes: a forged number input
        _acked(reply, block)
        _no_apology(reply, block)
        watch.check(f"agenda edit {block}={text[:40]!r}")
        now = items(meeting_id)
        if _refused(reply):
            assert set(reply.json["errors"]) <= {b["block_id"] for b in view["blocks"]}
            assert _counts(bot) == before and now == old
            _finish(bot, "UFAC", view, reply)
            return
        edited = next((row for row in now if row[0] == item_id), None)
        if kind == "t" and not text.split():
            assert edited is None, "an emptied title removes the item"
            return
        assert edited is not None
        assert all(_fits_column(AgendaItem, "title", row[1]) for row in now)
        if kind == "t" and _fits(view, block, text):
            assert _same_text(edited[1], text, one_line=True), (text[:60], edited[1])

    run()
    _no_bolt_errors(caplog)


def test_cycle_reflection_with_arbitrary_text(bot, caplog):
    from storage.models import CycleReflection

    team = seed_team(bot)
    watch = Watch(bot)

    def open_cycle() -> int:
        with bot.db.read() as session:
            found = session.exec(select(Cycle).where(Cycle.team_id == team.team_id,
                                                     Cycle.status != "ended")).first()
        return found.id if found is not None and found.id else make_cycle(bot, team.team_id)

    @FEW
    @given(field=st.sampled_from(["learned", "next_steps", "final_value"]),
           text=st.one_of(TEXT, st.sampled_from(["72", "72.5%", "12,5", " 80 ", "nan", "inf", "1e308"])))
    def run(field: str, text: str) -> None:
        cycle_id = open_cycle()
        _, blocks = cycle_render.reflection_prompt(cycle_id=cycle_id, title="Fractions", team_name="Grade 3",
                                                   weeks=4)
        prompt = {"ts": "1764790000.000300", "channel": team.channel, "text": "", "blocks": blocks}
        view = _open(bot, "UFAC", cycle_render.REFLECTION_MODAL, lambda: _acked(bot.user("UFAC").click(
            prompt, cycle_render.REFLECT_ACTION, channel=team.channel), "reflect"))
        values = {"target_reached": {"target_reached": "partly"}, "learned": {"learned": "Warm-ups work"},
                  field: {field: text}}
        before = _counts(bot)
        reply = bot.user("UFAC").submit(view, values)
        _acked(reply, field)
        _no_apology(reply, field)
        watch.check(f"reflection {field}={text[:40]!r}")
        with bot.db.read() as session:
            cycle = session.get(Cycle, cycle_id)
            reflection = session.exec(select(CycleReflection).where(CycleReflection.cycle_id == cycle_id)).first()
        if _refused(reply):
            assert set(reply.json["errors"]) <= {b["block_id"] for b in view["blocks"]}
            assert _counts(bot) == before and cycle.status != "ended"
            _finish(bot, "UFAC", view, reply)
            return
        assert reflection is not None and cycle.status == "ended", "an accepted reflection closes the cycle"
        assert _fits_column(CycleReflection, "learned", reflection.learned)
        assert _fits_column(CycleReflection, "next_steps", reflection.next_steps)
        if field in ("learned", "next_steps") and _fits(view, field, text):
            assert _same_text(getattr(reflection, field) or "", text), (field, text[:60], getattr(reflection, field))

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
        owners = handles(session)
        answered = {owners[c.person_id] for c in session.exec(select(Checkin)).all() if c.answered_at is not None}
        assert answered <= {"UT1", "UFAC"}, answered  # only the clickers' own check-ins
        assert session.exec(select(func.count()).select_from(Delivery)).one() >= len(team.everyone)
