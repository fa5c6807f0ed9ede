"""Privacy in Slack as its users meet it (reviewer R2 of issue 19): the "Share names with the
school's principals" checkbox of `/plc setup` as the team, the principal's digest and the audit
log see it; `/plc privacy export` when Slack retries or drops; `/plc audit` echoes; the page's
truth about what a support request carries.
"""

from __future__ import annotations

import io
import json
import threading
import time
from typing import Any

import openpyxl
from sqlmodel import select

import handlers.teams as h
from bot.render import teams as render_teams
from storage.models import AuditEntry, Delivery, Team
from storage.rules import visibility as v
from storage.teams import audit_actor
from tests.harness import BotHarness
from tests.seed import seed_team
from tests.test_digest import seed_week

SHARE_LINE = "Share names with the school's principals"


def ask(bot: BotHarness, user: str, text: str, channel: str = "CGRADE3") -> dict[str, Any]:
    before = len(bot.double.responses())
    bot.user(user).command(text, channel=channel)
    bot.wait_idle()
    return bot.double.wait_for(lambda: len(bot.double.responses()) > before and bot.double.responses())[before]


def _setup_view(bot: BotHarness, user: str, seen: set[str]) -> dict[str, Any]:
    bot.user(user).command("setup", channel="CGRADE3")
    view = bot.double.wait_for(lambda: next((x for x in bot.double.open_views(user)
                                             if x.get("callback_id") == h.SETUP_CALLBACK and x["id"] not in seen),
                                            None))
    seen.add(view["id"])
    return view


def _submit_share(bot: BotHarness, view: dict[str, Any], shared: bool) -> None:
    values = {h.B_NAME: {h.V: "Grade 3"}, h.B_FACILITATORS: {h.V: ["UFAC"]},
              h.B_MEMBERS: {h.V: ["UFAC", "UT1", "UT2", "UT3"]}, h.B_DAYS: {h.V: ["thu"]},
              h.B_TIME: {h.V: "15:30"}, h.B_LENGTH: {h.V: "45"}, h.B_TZ: {h.V: "America/New_York"},
              h.B_SHARE: {h.V: [h.SHARE_NAMES] if shared else []}}
    reply = bot.user("UFAC").submit(view, values)
    assert reply.status == 200 and not (reply.json or {}).get("errors"), reply.json
    bot.wait_idle()


def _digest_names(bot: BotHarness) -> set[str]:
    before = len(bot.double.files)
    assert "Sent to your direct messages" in ask(bot, "UPRIN", "digest 2026-W48")["text"]
    record = bot.double.wait_for(lambda: len(bot.double.files) > before and bot.double.files)[-1]
    book = openpyxl.load_workbook(io.BytesIO(record["content"]))
    rows = [r for r in book["Check-ins"].iter_rows(min_row=2, values_only=True) if r[1] == "Grade 3"]
    feedback = [r for r in book["Feedback"].iter_rows(min_row=2, values_only=True) if r[1] == "Grade 3"]
    assert rows and feedback
    return {r[5] for r in rows if r[5]} | {r[10] for r in feedback if r[10]}


def _notices(bot: BotHarness) -> list[str]:
    return [m.get("text", "") for m in bot.double.messages("CGRADE3") if SHARE_LINE in m.get("text", "")]


def test_the_share_names_checkbox_fits_slack_and_says_the_team_is_told():
    """Slack refuses a view whose option description is over 75 characters: /plc setup would not open."""
    defaults = render_teams.SetupDefaults(channel_id="CGRADE3", team_id=1, name="Grade 3", schools=[(1, "L")],
                                          school_id=1, members=["UT1"], facilitators=["UFAC"], share_names=True)
    view = render_teams.setup_modal(defaults)
    block = next(b for b in view["blocks"] if b.get("block_id") == h.B_SHARE)
    for option in block["element"]["options"]:
        assert len(option["description"]["text"]) <= 75, option["description"]["text"]
        assert len(option["text"]["text"]) <= 75
    assert "told" in block["hint"]["text"]


def test_turning_share_names_on_and_off_tells_the_team_once_and_the_digest_follows(bot):
    seed_week(bot)
    assert _digest_names(bot) == set()  # off by default: the principal sees figures only
    seen: set[str] = set()

    view = _setup_view(bot, "UFAC", seen)
    _submit_share(bot, view, True)
    [on] = _notices(bot)
    assert "turned on" in on and "<@UFAC>" in on and "/plc privacy" in on
    assert {"Teacher UT1", "Teacher UT2"} <= _digest_names(bot)
    # The same form again (a double submit) changes nothing and says nothing more.
    _submit_share(bot, view, True)
    assert len(_notices(bot)) == 1

    _submit_share(bot, _setup_view(bot, "UFAC", seen), False)
    notices = _notices(bot)
    assert len(notices) == 2 and "turned off" in notices[1] and "without names" in notices[1]
    assert _digest_names(bot) == set()
    with bot.db.read() as session:
        details = [e.detail for e in session.exec(select(AuditEntry).where(AuditEntry.action == "team.update"))]
        assert [d for d in details if "share_names_with_principal" in d] == [
            "share_names_with_principal: False → True", "share_names_with_principal: True → False"]
        assert session.exec(select(Team).where(Team.channel_id == "CGRADE3")).one().share_names_with_principal \
            is False
        kinds = [d.kind for d in session.exec(select(Delivery).where(Delivery.kind == "team_share_names"))]
        assert kinds == ["team_share_names"] * 2


# ------------------------------------------------------------------------------------ /plc privacy export
def _exports(bot: BotHarness) -> list[tuple[str, str]]:
    with bot.db.read() as session:
        return [(audit_actor(session, e), e.target) for e in session.exec(select(AuditEntry)
                                                          .where(AuditEntry.action == "privacy.export"))]


def _export_dms(bot: BotHarness, user: str) -> list[dict[str, Any]]:
    return [m for m in bot.double.messages(user) if "everything the PLC bot stores" in m.get("text", "")]


def test_a_retry_arriving_while_the_export_is_still_sending_is_quiet_and_audited_once(bot, monkeypatch):
    """Slack retries a slow request with the same trigger id while the first is still posting:
    one DM, one file, one audit entry, and no "Slack is slow, run it again" for a DM on its way."""
    seed_team(bot)
    monkeypatch.setattr(bot.double, "new_trigger_id", lambda user_id=None: "4242.1.slow")
    bot.double.slow("chat.postMessage", 1.5, times=1)
    first = threading.Thread(target=lambda: bot.user("UT1").command("privacy export", channel="CGRADE3"))
    first.start()
    bot.double.wait_for(lambda: bot.double.calls_to("chat.postMessage"))
    bot.user("UT1").command("privacy export", channel="CGRADE3",
                            headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    first.join()
    bot.wait_idle()
    bot.double.wait_for(lambda: bot.double.files)
    time.sleep(0.2)
    assert len(_export_dms(bot, "UT1")) == 1 and len(bot.double.files) == 1
    assert _exports(bot) == [("UT1", "UT1")]
    texts = [r.get("text", "") for r in bot.double.responses()]
    assert not any("Slack is slow" in t for t in texts), texts


def test_an_export_whose_dm_landed_before_the_connection_dropped_is_still_audited(bot):
    """The DM is found in the history after the drop (sent, not re-sent): it was an export all the same."""
    seed_team(bot)
    bot.double.drop_after_accept("chat.postMessage", times=1)
    bot.user("UT1").command("privacy export", channel="CGRADE3")
    bot.wait_idle()
    bot.double.wait_for(lambda: bot.double.files)
    assert len(_export_dms(bot, "UT1")) == 1 and len(bot.double.files) == 1
    assert _exports(bot) == [("UT1", "UT1")]


# ------------------------------------------------------------------------------------ /plc privacy is true
def test_the_page_says_a_support_request_shows_facilitators_that_weeks_answer_and_notes(bot):
    """The support DM carries the teacher's answer and notes by name, whatever the team shares;
    the page must not leave "check-in answers: without your name" as the whole story."""
    from datetime import UTC, datetime

    from tests.cycle_helpers import at, checkin_dms, make_cycle, only_checkins

    only_checkins(bot)
    team = seed_team(bot)
    make_cycle(bot, team.team_id)
    at(bot, datetime(2026, 12, 3, 19, 0, tzinfo=UTC))
    bot.tick()
    bot.user("UT1").click(checkin_dms(bot, "UT1")[0], "checkin_details")
    modal = bot.double.wait_for(lambda: next((x for x in bot.double.open_views("UT1")
                                              if x["callback_id"] == "checkin_details"), None))
    bot.user("UT1").submit(modal, {"progress": {"progress": "some_progress"}, "value": {"value": "12"},
                                   "evidence": {"evidence": "Exit tickets from room 12"},
                                   "support": {"support": "Ideas for small groups"}})
    bot.wait_idle()
    at(bot, datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    bot.tick()
    [dm] = checkin_dms(bot, "UFAC", prefix="support:")
    shown = json.dumps(dm["blocks"])
    assert "<@UT1>" in shown and "Exit tickets from room 12" in shown and "Some progress" in shown

    page = ask(bot, "UT1", "privacy")
    checkins = next(b["text"]["text"] for b in page["blocks"] if b.get("text", {}).get("text", "")
                    .startswith(f"*{v.CHECKINS.label}*"))
    assert "facilitators get that week's answer and notes with your name" in checkins
    support = next(b["text"]["text"] for b in page["blocks"] if b.get("text", {}).get("text", "")
                   .startswith(f"*{v.SUPPORT.label}*"))
    assert "also shows that week's check-in answer and notes" in support


def test_someone_forgotten_who_comes_back_is_told_nothing_is_kept_and_gets_only_what_is_new(bot, monkeypatch):
    from tests.privacy_seed import dump, run_cli

    seed_team(bot)
    assert "sending it to your DMs" in ask(bot, "UT1", "privacy export")["text"]
    bot.double.wait_for(lambda: bot.double.files)
    assert run_cli(bot, monkeypatch, "privacy", "forget", "UT1", "--apply") == 0
    before = dump(bot)
    page = ask(bot, "UT1", "privacy")
    assert "nothing stored about you" in json.dumps(page["blocks"])
    assert "stores nothing about you" in ask(bot, "UT1", "privacy export")["text"]
    assert dump(bot) == before and len(bot.double.files) == 1
    # Added to the team again: a new start, with nothing of before in the export.
    assert "<@UT1>" in ask(bot, "UFAC", "team add <@UT1|ut1>")["text"]
    assert "sending it to your DMs" in ask(bot, "UT1", "privacy export")["text"]
    record = bot.double.wait_for(lambda: len(bot.double.files) > 1 and bot.double.files)[-1]
    book = openpyxl.load_workbook(io.BytesIO(record["content"]))
    teams = list(book["Teams and roles"].iter_rows(min_row=2, values_only=True))
    assert [(r[1], r[2]) for r in teams] == [("Grade 3", "member")]
    others = [r[0] for r in book["Other records"].iter_rows(min_row=2, values_only=True)]
    assert not any("privacy.export" in str(r) for r in others), others  # the old export was forgotten


def test_the_page_says_each_thing_once_and_briefly():
    """Audiences that see the same in the same places share a line, and places are named briefly
    on the page (README spells them out): the page a teacher scrolls through was ~9,800 characters."""
    from bot.render import privacy as render

    caller = render.Caller(known=True, teams=(render.TeamInfo("Grade 3", "member", False),
                                              render.TeamInfo("Math", "facilitator", True)),
                           principal_of=("Lincoln",), is_admin=True,
                           viewers=render.viewers_of(facilitator=True, principal=True, admin=True))
    _, blocks = render.page(caller)
    texts = [(b.get("text") or {}).get("text", "") for b in blocks] + [
        e.get("text", "") for b in blocks for e in b.get("elements") or []]
    assert sum(len(t) for t in texts) <= 7500
    for kind in v.KINDS:
        bullets = [line.partition(":* ")[2] for line in render.kind_text(kind, caller).splitlines()
                   if line.startswith("• *")]
        assert len(bullets) == len(set(bullets)), (kind.key, bullets)
    memberships = render.kind_text(v.MEMBERSHIPS, caller)
    assert "• *Your team, your team's facilitators and your school's principals:* with your name — `/plc team`" \
        in memberships


def test_a_principal_s_export_names_the_school_they_lead(bot):
    seed_team(bot)
    assert "sending it to your DMs" in ask(bot, "UPRIN", "privacy export", channel="UPRIN")["text"]
    bot.double.wait_for(lambda: bot.double.files)
    [dm] = _export_dms(bot, "UPRIN")
    body = dm["blocks"][0]["text"]["text"]
    assert "Teams: none · Principal of: Lincoln Elementary" in body and "your team's time zone" not in body
    book = openpyxl.load_workbook(io.BytesIO(bot.double.files[0]["content"]))
    [role] = list(book["Teams and roles"].iter_rows(min_row=2, values_only=True))
    assert role[0] == "Lincoln Elementary" and role[2] == "principal" and role[3] == "yes"


def test_an_admin_with_no_record_is_not_told_they_hold_no_role(bot):
    seed_team(bot)
    text = ask(bot, "UADMIN", "privacy export", channel="UADMIN")["text"]
    assert "stores nothing about you" in text and "hold no role" not in text
    assert "plcbot audit --user UADMIN" in text
    assert bot.double.files == [] and _exports(bot) == []


# ------------------------------------------------------------------------------------ /plc audit
def test_audit_echoes_a_bad_day_escaped_and_writes_an_early_day_in_full(bot):
    seed_team(bot)
    bad = ask(bot, "UPRIN", "audit since <!channel>`x")["text"]
    assert "<!channel>" not in bad and "&lt;!channel&gt;'x" in bad and "is not a day" in bad
    early = ask(bot, "UPRIN", "audit since 0001-01-01")["text"]
    assert "since 0001-01-01 (America/New_York)" in early  # midnight in the school's zone
    assert ":no_entry:" in ask(bot, "UT1", "audit since <!channel>")["text"]  # refused before it is read
