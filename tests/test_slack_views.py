"""Every view model the core builds (`storage.views`) has a Slack renderer (`bot.slack_views`),
and what it renders is Block Kit that Slack accepts (checked with slack_sdk's own models)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from datetime import UTC, date, datetime

import pytest
from slack_sdk.models.blocks import Block

import storage.views
from bot import slack_views
from storage.rules import digest as digest_rules
from storage.rules.agenda import ActionView, AgendaSnapshot, CycleView, ItemView
from storage.rules.cycles import Break, DataPoint
from storage.rules.cycles import RoundSummary as RoundFigures
from storage.rules.digest import IsoWeek, MeetingFact, RoundFact, SupportFact, TeamFact
from storage.views import View
from storage.views.agenda import ActionReminder, AgendaPost
from storage.views.cycles import (
    CheckinCard,
    CycleStatus,
    DeliveryFailures,
    ReflectionPrompt,
    RoundSummary,
    RunningCycle,
    SupportCard,
    WeekRate,
    WeekRow,
)
from storage.views.digest import DigestSummary, UploadFailed
from storage.views.digest_actions import DigestPart
from storage.views.feedback import FeedbackPrompt
from storage.views.norms import NormsChanged

W47 = IsoWeek(2026, 47)
CARD = CheckinCard(checkin_id=3, team_name="Grade <3>", title="Fractions & co", goal="80% <b>", strategy="warm-ups",
                   metric_name="Score", metric_unit="%", week=2, weeks=6)
SUPPORT = SupportCard(request_id=4, teacher_id="UT1", teacher_name="Tess", team_name="G3", week=2, progress="stuck",
                      evidence="notes", support="a co-plan", state="open")
SNAP = AgendaSnapshot(meeting_id=7, team_name="Grade 3", when="Thu Dec 3, 3:30 PM EST", minutes=45,
                      status="scheduled", started=False, norms=["be kind"],
                      cycle=CycleView("Fractions", "80%", "Quiz", 40.0, 80.0, "%", 2, 6, "deliver/engage"),
                      items=[ItemView(1, "Data", 30, "U1", "https://a.example/x")],
                      open_actions=[ActionView(3, "U2", "Bring it", date(2026, 12, 1))], facilitators=["UFAC"])


def _figures() -> tuple[digest_rules.TeamFigures, ...]:
    busy = digest_rules.team_figures(
        TeamFact(1, "Grade 3", "C1", facilitators=("UFAC",)), week=W47,
        meetings=[MeetingFact(1, "held", True, 4, 1)], feedback=[],
        rounds=[RoundFact(1, 5, 4, date(2026, 11, 19), 10, 3)], cycles=[],
        support=[SupportFact(1, "Ana", "open")], min_group_size=3)
    quiet = digest_rules.team_figures(TeamFact(2, "Grade 4", "C2"), week=W47, meetings=[], feedback=[], rounds=[],
                                      cycles=[], support=[], min_group_size=3)
    return busy, quiet


RUNNING = RunningCycle(
    title="Fractions <1>", goal="Place *fractions*", strategy="Warm-ups", metric_name="Score", metric_unit="%",
    baseline=40, target=80, weeks=6, start_date=date(2026, 11, 30), week=3, phase="deliver/engage", started=True,
    paused=True, paused_until=date(2026, 12, 18),
    rows=(WeekRow(1, mean=50.0, reported=3, progress=0.25, answered=3, asked=4), WeekRow(2, skip_reason="paused"),
          WeekRow(3, answered=1, asked=4)),
    this_week=WeekRate(rate=0.25, answered=1, asked=4, away=1),
    breaks=(Break(date(2026, 12, 21), date(2027, 1, 1), "Winter <break>"),), checkin_day="Thursday",
    checkin_time="14:00")

# One or more of each view, in the states that change what Slack shows.
SAMPLES: list[View] = [
    CARD,
    CheckinCard(**{**CARD.__dict__, "reminder": True}),
    CheckinCard(**{**CARD.__dict__, "progress": "stuck", "value": 12.5, "evidence": "e", "support": "s",
                   "support_state": "open", "facilitators": ("Fay",)}),
    CheckinCard(**{**CARD.__dict__, "progress": "on_track", "closed": True}),
    RoundSummary(team_name="G3", title="Fractions", metric_name="Score", metric_unit="%", baseline=40, target=80,
                 summary=RoundFigures(week=2, asked=10, answered=7, away=1, unreachable=1,
                                      counts={"on_track": 4, "stuck": 3}, point=DataPoint(55.0, 5)),
                 weeks=6, support_count=2),
    RoundSummary(team_name="G3", title="Fractions", metric_name="Score", metric_unit="", baseline=1, target=2,
                 summary=RoundFigures(week=1, asked=0, answered=0, away=0, unreachable=0), weeks=6, support_count=0),
    DeliveryFailures(team_name="G3", week=2, failed=tuple((f"U{i}", "account_inactive") for i in range(45))),
    SUPPORT,
    SupportCard(**{**SUPPORT.__dict__, "state": "following_up", "follower": "UFAC"}),
    SupportCard(**{**SUPPORT.__dict__, "state": "resolved", "follower": "UFAC"}),
    ReflectionPrompt(cycle_id=5, title="Fractions", team_name="G3", weeks=6),
    CycleStatus(team_name="G<3>"),
    CycleStatus(team_name="G3", cycle=RUNNING),
    CycleStatus(team_name="G3", cycle=RunningCycle(**{**RUNNING.__dict__, "week": None, "phase": None, "started": False,
                                                      "paused": False, "rows": (), "this_week": None, "breaks": ()})),
    AgendaPost(SNAP),
    AgendaPost(AgendaSnapshot(**{**SNAP.__dict__, "started": True})),
    AgendaPost(AgendaSnapshot(**{**SNAP.__dict__, "status": "cancelled"})),
    ActionReminder(ActionView(3, "U2", "Bring <it>", date(2026, 12, 4), team_name="G3")),
    FeedbackPrompt(meeting_id=9, title="Data day", starts_at=datetime(2026, 12, 3, 20, 30, tzinfo=UTC),
                   closes_at=datetime(2026, 12, 8, 20, 30, tzinfo=UTC), timezone="America/New_York"),
    DigestSummary(school="Lincoln", week=W47, teams=_figures(), has_data=True),
    DigestSummary(school="Lincoln", week=W47, teams=_figures()[1:], has_data=False),
    DigestSummary(school="Lincoln", week=W47, teams=(), has_data=False),
    UploadFailed(school="Lincoln", week=W47),
    DigestPart(school_id=1, school="Lincoln", week=W47, so_far=True, team_part=True, teams=_figures()[:1],
               has_data=True),
    NormsChanged(team_id=1, team_name="Grade <3>", norms=("Start on time", "Assume *good* intent"), version=2,
                 changed_by="UFAC", changed_by_name="Fay", committed=0, members=4),
]


def view_types() -> set[type]:
    """Every view model defined in storage/views/*.py."""
    found: set[type] = set()
    for info in pkgutil.iter_modules(storage.views.__path__, "storage.views."):
        module = importlib.import_module(info.name)
        found |= {obj for _, obj in inspect.getmembers(module, inspect.isclass)
                  if issubclass(obj, View) and obj is not View and obj.__module__ == module.__name__}
    return found


def notice_view_types() -> dict[str, type]:
    """The view model of each `Notice(view=...)` of the core's actions (handlers/core): a class called
    there, or called in the same function into the variable passed (`view = NormsChanged(...)`)."""
    import ast

    import handlers.core

    def called(node: ast.AST) -> list[str]:
        if isinstance(node, ast.IfExp):
            return called(node.body) + called(node.orelse)
        return [node.func.id] if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else []

    found: dict[str, type] = {}
    for info in pkgutil.iter_modules(handlers.core.__path__, "handlers.core."):
        module = importlib.import_module(info.name)
        for fn in ast.walk(ast.parse(inspect.getsource(module))):
            if not isinstance(fn, ast.FunctionDef):
                continue
            assigned: dict[str, list[str]] = {}
            for node in ast.walk(fn):
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    assigned.setdefault(node.targets[0].id, []).extend(called(node.value))
            for node in ast.walk(fn):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Notice":
                    for kw in node.keywords:
                        if kw.arg != "view":
                            continue
                        names = assigned.get(kw.value.id, []) if isinstance(kw.value, ast.Name) else called(kw.value)
                        for name in names:
                            if inspect.isclass(getattr(module, name, None)):
                                found[f"{info.name}.{name}"] = getattr(module, name)
    return found


def test_every_notice_of_the_core_is_a_view_model_of_storage_views():
    """What an action owes others is a view model of storage/views, where the renderer tests of both
    fronts (here, and tests/test_teams_cards.py) find it: one defined elsewhere would go unchecked."""
    found = notice_view_types()
    assert found.get("handlers.core.norms.NormsChanged") is NormsChanged
    stray = sorted(name for name, t in found.items() if not t.__module__.startswith("storage.views."))
    assert not stray, f"move these view models into storage/views: {stray}"


def test_every_view_model_has_a_renderer_on_both_fronts():
    from bot import teams_views

    types = view_types()
    assert NormsChanged in types
    missing = sorted(f"{t.__name__} ({front})" for t in types for front, known in
                     (("Slack", slack_views.RENDERERS), ("Teams", teams_views.RENDERERS)) if t not in known)
    assert not missing, f"no renderer for {missing}"


def test_every_view_model_has_a_slack_renderer_and_a_sample_here():
    types = view_types()
    assert len(types) >= 10
    missing = sorted(t.__name__ for t in types - set(slack_views.RENDERERS))
    assert not missing, f"no Slack renderer in bot/slack_views.py for {missing}"
    untested = sorted(t.__name__ for t in types - {type(v) for v in SAMPLES})
    assert not untested, f"add a sample of {untested} to SAMPLES"


@pytest.mark.parametrize("view", SAMPLES, ids=lambda v: type(v).__name__)
def test_each_view_renders_block_kit_that_slack_accepts(view):
    rendered = slack_views.render(view)
    assert rendered.text and len(rendered.text) <= 3000
    if rendered.body is None:  # a message of text only
        return
    assert 0 < len(rendered.body) <= 50
    for raw in rendered.body:
        block = Block.parse(raw)
        assert block is not None, raw
        block.validate_json()  # raises SlackObjectFormationError when a limit is broken


def test_offers_become_the_same_buttons_as_before():
    _, blocks = slack_views.render(CARD).text, slack_views.render(CARD).body
    buttons = next(b for b in blocks if b["type"] == "actions")["elements"]
    assert [(b["action_id"], b["value"], b.get("style")) for b in buttons] == [
        ("checkin_on_track", "3", "primary"), ("checkin_some_progress", "3", None), ("checkin_stuck", "3", None),
        ("checkin_details", "3", None)]
    answered = slack_views.render(CheckinCard(**{**CARD.__dict__, "progress": "on_track"})).body
    assert [b["action_id"] for b in answered[-1]["elements"]] == ["checkin_change", "checkin_details"]


def test_a_view_without_a_renderer_is_refused():
    class Stray(View):
        pass

    with pytest.raises(TypeError, match="Stray"):
        slack_views.render(Stray())
