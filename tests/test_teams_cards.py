"""Every view model the core builds has a Teams renderer (`bot.teams_views`), and every card it
renders is a valid Adaptive Card 1.5 (Microsoft's schema, with `jsonschema`), fits Teams' 28 KB
message limit, and shows what people wrote without Markdown, HTML or mentions."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import pkgutil
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft6Validator
from jsonschema.exceptions import best_match

import storage.views
from bot import teams_views
from bot.teams import card_kit, cards
from storage.models import Cycle
from storage.rules import digest as digest_rules
from storage.rules import feedback as feedback_rules
from storage.rules import visibility as vis
from storage.rules.agenda import ActionView, AgendaSnapshot, CycleView, ItemView, MeetingLog
from storage.rules.digest import MeetingFact, RoundFact, SupportFact, TeamFact
from storage.views import View, cycle_actions
from storage.views import cycles as cycle_views
from storage.views.agenda import ActionReminder, AgendaPost
from storage.views.cycles import CheckinCard, DeliveryFailures
from storage.views.digest import DigestSummary
from storage.views.digest_actions import DigestOutcome, DigestPart
from storage.views.feedback_actions import FeedbackForm, FeedbackResults, FeedbackSaved
from storage.views.privacy import PrivacyPage, PrivacyTeam, viewers_of
from storage.views.team_actions import MembersChanged, SetupSaved, ShareNamesChanged
from tests.test_slack_views import CARD, SAMPLES, SNAP, SUPPORT, W47, view_types

SCHEMA_PATH = Path(__file__).parent / "schemas" / "teams" / "adaptive-card-1.5.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
VALIDATOR = Draft6Validator(SCHEMA)  # the schema's "$schema" is draft-06
LIMIT = 28_000  # Teams: a message, card included, is at most about 28 KB

HOSTILE = ("**bold** _it_ [click](https://evil.example) <at>everyone</at> <b>x</b> `code` ~~s~~ &lt;at&gt; \\*\n"
           "# Heading\n- listed\n+ plus\n12. numbered\n> quoted")
NAMES = {"U1": "Ann", "U2": "Bob <at>Team</at>", "UFAC": "Fay *star*"}.get


def names(pid: str) -> str:
    return NAMES(pid) or pid


# ------------------------------------------------------------------------------ samples
def _team(n: int, name: str, *, attention: bool = True) -> digest_rules.TeamFigures:
    fig = digest_rules.team_figures(
        TeamFact(n, name, f"C{n}", facilitators=("UFAC", "U1")), week=W47,
        meetings=[MeetingFact(1, "held", True, 4, 1)], feedback=[],
        rounds=[RoundFact(1, 5, 4, date(2026, 11, 19), 10, 3)], cycles=[],
        support=[SupportFact(1, "Ana", "open")], min_group_size=3)
    return dataclasses.replace(fig, attention=("support waiting", "no agenda") if attention else ())


CYCLE = Cycle(id=5, team_id=1, title="Fractions", goal="80% place fractions", strategy="warm-ups", metric_name="Quiz",
              metric_unit="%", baseline=40, target=80, start_date=date(2026, 11, 2), weeks=6)
SUMMARY = feedback_rules.summarize(
    [feedback_rules.Stored({"useful": 4, "learned": 5, "norms": 3},
                           {"will_try": "exit tickets", "next_focus": "grouping"}, name=None if i % 2 else "U1")
     for i in range(4)],
    min_group_size=3, seed="s")
LOG = MeetingLog(team_name="Grade 3", when="Thu Dec 3, 3:30 PM EST", present=["U1", "U2"], absent=["U3"],
                 items=[ItemView(1, "Data", 30, "U1", notes="We looked at data")], decisions="Try exit tickets",
                 actions=[ActionView(3, "U2", "Bring it", date(2026, 12, 10), team_name="Grade 3")],
                 wrapped_up_by="UFAC")
PAGE = PrivacyPage(known=True, counts={k.key: 2 for k in vis.KINDS}, teams=(PrivacyTeam("G3", "facilitator", True),
                                                                           PrivacyTeam("G4", "member", False)),
                   principal_of=("Lincoln",), viewers=viewers_of(facilitator=True, principal=True, admin=False))
FORM = FeedbackForm(meeting_id=9, meeting="Data day (Thu Dec 3, 3:30 PM)", closes="Tue Dec 8, 3:30 PM", previous=None)
FORM_AGAIN = FeedbackForm(meeting_id=9, meeting="Data day", closes="Tue Dec 8",
                          previous={"useful": 4, "will_try": "x", "anonymous": True})
PART = DigestPart(school_id=1, school="Lincoln", week=W47, so_far=True, team_part=True, teams=(_team(1, "G3"),),
                  has_data=True)

# The action results of storage/views (not `View`s, but what the actions tell people), in their states.
ACTION_SAMPLES: list[Any] = [
    cycle_actions.CycleStarted(cycle=CYCLE, by="UFAC"),
    cycle_actions.CycleStarted(cycle=CYCLE, by="UFAC", edited=True),
    cycle_actions.CycleNote(change="paused", by="UFAC", until=date(2026, 12, 20)),
    cycle_actions.CycleNote(change="paused", by="UFAC"),
    cycle_actions.CycleNote(change="resumed", by="forgotten-abc"),
    cycle_actions.ReflectionPrompt(cycle_id=5, title="Fractions", team_name="G3", weeks=6),
    cycle_actions.ReflectionSaved(title="Fractions", by="UFAC", reached="partly", final=66.5, unit="%",
                                  learned="warm-ups help", next_steps="keep going"),
    SetupSaved(team_name="G3", verb="is set up", school_name="Lincoln", weekdays="Thursdays", time="15:30",
               minutes=45, timezone="America/New_York", added=("U1", "U2"), removed=("U3",), skipped=("B1",)),
    ShareNamesChanged(actor="UFAC", team_name="G3", shared=True),
    ShareNamesChanged(actor="UFAC", team_name="G3", shared=False),
    MembersChanged(role="facilitator", remove=False, done=("U1",), skipped=("B1",)),
    MembersChanged(role="member", remove=True, done=(), skipped=("U9",)),
    LOG,
    FORM,
    FORM_AGAIN,
    FeedbackSaved(anonymous=True, closes="Tue Dec 8"),
    FeedbackResults(meeting_id=9, meeting="Data day", summary=SUMMARY),
    FeedbackResults(meeting_id=9, meeting="Data day", summary=feedback_rules.summarize([], min_group_size=3, seed="s")),
    FeedbackResults(meeting_id=9, meeting="Data day", summary=feedback_rules.summarize([
        feedback_rules.Stored({"useful": 4, "learned": 5, "norms": 3}, {}, name="U1")], min_group_size=3, seed="s")),
    PAGE,
    PrivacyPage(known=False),
    PART,
    DigestOutcome(part=PART, state="sent"),
    DigestOutcome(part=PART, state="retry"),
    DigestOutcome(part=PART, state="failed"),
]


def _all_rendered() -> list[tuple[str, str, dict[str, Any]]]:
    """(label, text, card) for every sample of every view, and the cards rendered outside the registry."""
    out = []
    for view in [*SAMPLES, *ACTION_SAMPLES]:
        text, card = teams_views.render(view, names=names)
        out.append((type(view).__name__, text, card))
    extra = {
        "CheckinCard(changing)": cards.checkin(dataclasses.replace(CARD, progress="on_track"), changing=True),
        "checkin_details_form": cards.checkin_details_form(CARD),
        "checkin_details_form(filled)": cards.checkin_details_form(dataclasses.replace(
            CARD, progress="stuck", value=3.5, evidence="e", support="s")),
        "action_assigned": cards.action_assigned(ActionView(3, "U2", "Bring it", date(2026, 12, 4), team_name="G3"),
                                                 assigned_by="UFAC"),
    }
    out += [(label, text, card) for label, (text, card) in extra.items()]
    return out


RENDERED = _all_rendered()


def problems(card: dict[str, Any]) -> list[str]:
    """Why `card` is not a valid Adaptive Card 1.5 (empty when it is)."""
    found = []
    err = best_match(VALIDATOR.iter_errors(card))
    if err is not None:
        found.append(f"{'/'.join(map(str, err.absolute_path))}: {err.message}")
    if card.get("version") != "1.5":  # the schema takes any string as the version
        found.append(f"version {card.get('version')!r} is not 1.5")
    return found


def wrapped_size(card: dict[str, Any], text: str = "") -> int:
    return card_kit.size(card_kit.activity(card, text))


def strings(node: Any) -> list[str]:
    """Every string shown on a card (TextBlock text, fact titles and values, button titles…)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() if key not in ("data", "type", "verb", "id") for s in strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return []


def actions(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        own = [node] if str(node.get("type", "")).startswith("Action.") else []
        return own + [a for value in node.values() for a in actions(value)]
    if isinstance(node, list):
        return [a for item in node for a in actions(item)]
    return []


# ------------------------------------------------------------------------------ coverage
def test_every_view_model_has_a_teams_renderer():
    types = view_types()
    assert len(types) >= 10
    missing = sorted(t.__name__ for t in types - set(teams_views.RENDERERS))
    assert not missing, f"no Teams renderer in bot/teams_views.py for {missing}"


def test_every_action_result_in_storage_views_has_a_teams_renderer_and_a_sample():
    """The dataclasses of storage/views/*.py that are messages: each has a renderer (or is loaded
    first, `LOADED`), and a sample here."""
    parts = {storage.views.Offer, PrivacyTeam,  # pieces of other views, never shown alone
             cycle_views.RunningCycle, cycle_views.WeekRow, cycle_views.WeekRate}
    found: set[type] = set()
    for info in pkgutil.iter_modules(storage.views.__path__, "storage.views."):
        module = importlib.import_module(info.name)
        found |= {obj for _, obj in inspect.getmembers(module, inspect.isclass)
                  if dataclasses.is_dataclass(obj) and obj.__module__ == module.__name__}
    found -= parts
    missing = sorted(t.__name__ for t in found - set(teams_views.RENDERERS) - set(teams_views.LOADED))
    assert not missing, f"no Teams renderer for {missing}"
    sampled = {type(v) for v in [*SAMPLES, *ACTION_SAMPLES]}
    untested = sorted(t.__name__ for t in (found | set(teams_views.RENDERERS)) - set(teams_views.LOADED) - sampled)
    assert not untested, f"add a sample of {untested} to ACTION_SAMPLES"


def test_a_view_without_a_renderer_is_refused():
    class Stray(View):
        pass

    with pytest.raises(TypeError, match="Stray"):
        teams_views.render(Stray())


# ------------------------------------------------------------------------------ validity and size
@pytest.mark.parametrize(("label", "text", "card"), RENDERED, ids=[r[0] for r in RENDERED])
def test_each_card_is_a_valid_adaptive_card_within_teams_limit(label, text, card):
    assert problems(card) == []
    assert card["type"] == "AdaptiveCard" and card["$schema"] == card_kit.SCHEMA and card["body"]
    assert text and len(text) <= 1000 and "<" not in text
    assert wrapped_size(card, text) <= LIMIT
    for block in _blocks(card):
        if block.get("type") == "TextBlock":
            assert block.get("wrap") is True, block


def _blocks(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        return [node] + [b for value in node.values() for b in _blocks(value)]
    if isinstance(node, list):
        return [b for item in node for b in _blocks(item)]
    return []


def test_the_validator_catches_broken_cards():
    good = cards.checkin(CARD)[1]
    assert problems(good) == []
    misspelt = json.loads(json.dumps(good))
    misspelt["body"][0]["type"] = "TextBlok"
    assert problems(misspelt)
    unknown_property = json.loads(json.dumps(good))
    unknown_property["body"][0]["colour"] = "good"
    assert problems(unknown_property)
    bad_action = json.loads(json.dumps(good))
    bad_action["actions"][0]["type"] = "Action.Click"
    assert problems(bad_action)
    no_facts = json.loads(json.dumps(good))
    next(b for b in no_facts["body"] if b["type"] == "FactSet").pop("facts")
    assert problems(no_facts)
    numeric_version = {**good, "version": 1.5}
    assert problems(numeric_version)
    assert problems({**good, "version": "1.6"}) == ["version '1.6' is not 1.5"]  # our own check


# ------------------------------------------------------------------------------ buttons
def test_checkin_buttons_answer_in_place_and_details_opens_a_dialog():
    acts = cards.checkin(CARD)[1]["actions"]
    executes = [a for a in acts if a["type"] == "Action.Execute"]
    assert [(a["verb"], a["data"]) for a in executes] == [
        (f"answer_{p}", {"action": f"answer_{p}", "value": "3", "checkin_id": 3})
        for p in ("on_track", "some_progress", "stuck")]
    assert executes[0]["style"] == "positive" and "style" not in executes[1]
    (details,) = [a for a in acts if a["type"] == "Action.Submit"]
    assert details["title"] == "Add details"
    assert details["data"] == {"msteams": {"type": "task/fetch"}, "dialog_id": "checkin_details", "action": "details",
                               "value": "3", "checkin_id": 3}
    answered = cards.checkin(dataclasses.replace(CARD, progress="on_track"))[1]
    assert [a.get("verb") or a["data"]["dialog_id"] for a in answered["actions"]] == ["change", "checkin_details"]
    closed = cards.checkin(dataclasses.replace(CARD, progress="on_track", closed=True))[1]
    assert "actions" not in closed


def test_every_button_routes_on_data_action():
    for label, _, card in RENDERED:
        for act in actions(card):
            data = act["data"]
            assert isinstance(data.get("action"), str) and data["action"], label
            if act["type"] == "Action.Execute":
                assert act["verb"] == data["action"], label
            elif data.get("msteams", {}).get("type") == "messageBack":  # the click comes back as a typed command
                assert data["msteams"]["text"] and data["msteams"]["displayText"], label
            elif "msteams" in data:
                assert data["msteams"] == {"type": "task/fetch"} and data["dialog_id"], label


def test_the_answer_given_is_highlighted_in_its_colour():
    stuck = cards.checkin(dataclasses.replace(CARD, progress="stuck", value=12.5))[1]
    highlighted = [b for b in stuck["body"] if b["type"] == "Container" and b.get("style") == "attention"]
    assert highlighted and "You answered: **Stuck" in highlighted[0]["items"][0]["text"]
    changing = cards.checkin(dataclasses.replace(CARD, progress="on_track"), changing=True)[1]
    assert [a.get("verb") for a in changing["actions"]][:3] == ["answer_on_track", "answer_some_progress",
                                                                "answer_stuck"]
    assert any(b.get("style") == "good" and "Your answer now: **On track**" in json.dumps(b, ensure_ascii=False)
               for b in changing["body"])
    reminder = cards.checkin(dataclasses.replace(CARD, reminder=True))
    assert reminder[0].startswith("Reminder:") and reminder[1]["body"][0]["style"] == "warning"


def test_support_request_offers_follow_up_then_resolve():
    def verbs(card):
        return [a["verb"] for a in card.get("actions", [])]

    assert verbs(cards.support_request(SUPPORT)[1]) == ["follow_up", "resolve"]
    assert verbs(cards.support_request(dataclasses.replace(SUPPORT, state="following_up", follower="UFAC"))[1]) == [
        "resolve"]
    assert verbs(cards.support_request(dataclasses.replace(SUPPORT, state="resolved"))[1]) == []


def test_the_forms_have_required_inputs_with_error_messages():
    form = cards.checkin_details_form(CARD)[1]
    inputs = {b["id"]: b for b in form["body"] if b["type"].startswith("Input.")}
    assert set(inputs) == {"progress", "value", "evidence", "support"}
    assert inputs["progress"]["isRequired"] and inputs["progress"]["errorMessage"]
    assert all(i.get("errorMessage") for i in inputs.values())
    assert form["actions"] == [{"type": "Action.Submit", "title": "Save", "style": "positive",
                                "data": {"action": "checkin_details_submit", "checkin_id": 3}}]
    feedback = cards.feedback_form(FORM)[1]
    fields = {b["id"]: b for b in feedback["body"] if b["type"].startswith("Input.")}
    assert set(fields) == {q.key for q in feedback_rules.QUESTIONS} | {"anonymous"}
    assert all(fields[q.key]["isRequired"] for q in feedback_rules.RATINGS)
    assert fields["anonymous"]["type"] == "Input.Toggle" and fields["anonymous"]["value"] == "no"
    again = {b["id"]: b for b in cards.feedback_form(FORM_AGAIN)[1]["body"] if "id" in b}
    assert again["anonymous"]["value"] == "yes" and again["useful"]["value"] == "4"


# ------------------------------------------------------------------------------ user text
def test_md_neutralises_markdown_html_and_mentions():
    out = card_kit.md(HOSTILE)
    for raw in ("**", "_it_", "[click]", "](", "<at>", "<b>", "`", "~~", "&lt;", "\\*"):
        assert raw not in out, raw
    assert not re.search(r"^\s*(#|-|\+|>|\d+[.)])", out, re.MULTILINE), out
    assert "bold" in out and "everyone" in out and "Heading" in out and "12" in out  # the words stay
    assert card_kit.md("Fractions & co") == "Fractions & co"


def _hostile_views() -> list[Any]:
    h = HOSTILE
    card = dataclasses.replace(CARD, team_name=h, title=h, goal=h, strategy=h, metric_name=h, metric_unit=h,
                               progress="stuck", value=1.0, evidence=h, support=h, support_state="open",
                               facilitators=(h,))
    snap = AgendaSnapshot(**{**SNAP.__dict__, "team_name": h, "when": h, "norms": [h, h], "requested": [h],
                             "template_label": h,
                             "cycle": CycleView(h, h, h, 1.0, 2.0, h, 2, 6, "deliver/engage"),
                             "items": [ItemView(1, h, 30, "U2", "javascript:alert(1)", outcome=h)],
                             "open_actions": [ActionView(3, "U2", h, date(2026, 12, 1))]})
    results = FeedbackResults(meeting_id=9, meeting=h, summary=feedback_rules.summarize(
        [feedback_rules.Stored({"useful": 4, "learned": 5, "norms": 3}, {"will_try": h, "next_focus": h}, name="U2")
         for _ in range(3)], min_group_size=3, seed="s"))
    return [card, dataclasses.replace(SUPPORT, teacher_name=h, team_name=h, support=h, evidence=h),
            AgendaPost(snap), ActionReminder(ActionView(3, "U2", h, date(2026, 12, 4), team_name=h)),
            DigestSummary(school=h, week=W47, teams=(_team(1, h),), has_data=True),
            DeliveryFailures(team_name=h, week=2, failed=(("U2", h),)), results,
            SetupSaved(team_name=h, verb="is set up", school_name=h, weekdays="Thursdays", time="15:30", minutes=45,
                       timezone="UTC", added=("U2",)),
            cycle_actions.ReflectionSaved(title=h, by="U2", reached="yes", final=None, unit="", learned=h,
                                          next_steps=h)]


@pytest.mark.parametrize("view", _hostile_views(), ids=lambda v: type(v).__name__)
def test_user_text_comes_out_neutralised(view):
    text, card = teams_views.render(view, names=names)
    assert problems(card) == []
    shown = strings(card)
    blob = "\n".join(shown)
    for raw in ("_it_", "[click]", "](https://evil", "<at>", "<b>", "`", "~~", "&lt;", "javascript:"):
        assert raw not in blob, raw
    assert "**bold**" not in blob and "<" not in blob
    for s in shown:
        assert not re.search(r"^\s*(# Heading|- listed|\+ plus|12\. numbered|> quoted)", s, re.MULTILINE), s
    assert "<" not in text and "**bold**" not in text
    assert "mention" not in json.dumps(card) and "msteams\": {\"entities" not in json.dumps(card)


def test_names_are_bold_text_never_mentions():
    card = cards.support_request(dataclasses.replace(SUPPORT, state="following_up", follower="U2"), names)[1]
    blob = json.dumps(card, ensure_ascii=False)
    assert "**Bob ‹at›Team‹/at›**" in blob and "<at>" not in blob
    forgotten = cards.support_request(dataclasses.replace(SUPPORT, teacher_id="forgotten-x"), names)
    assert "a former member" in json.dumps(forgotten[1]) and "Tess" not in forgotten[0]


def test_a_link_is_kept_only_when_it_is_http():
    row = cards._item_row(1, ItemView(1, "Data", 30, "U1", "https://a.example/x (y)"), names)
    assert "[link](https://a.example/x%20%28y%29)" in json.dumps(row)
    assert "link" not in json.dumps(cards._item_row(1, ItemView(1, "Data", 30, None, "javascript:x"), names))


# ------------------------------------------------------------------------------ long content
LONG = "Ünïcødé * and <long> words " * 20  # 540 characters, many escaped, many non-ASCII


def test_an_agenda_with_many_long_items_still_fits_under_28_kb():
    snap = AgendaSnapshot(**{**SNAP.__dict__, "minutes": 60, "norms": [LONG] * 40, "requested": [LONG] * 60,
                             "items": [ItemView(i, LONG, 10, f"U{i}", "https://a.example/" + "x" * 200, outcome=LONG)
                                       for i in range(200)],
                             "open_actions": [ActionView(i, f"U{i}", LONG, date(2026, 12, 1), overdue=True)
                                              for i in range(100)]})
    text, card = teams_views.render(AgendaPost(snap))
    assert problems(card) == []
    assert wrapped_size(card, text) <= LIMIT
    blob = json.dumps(card, ensure_ascii=False)
    more = re.search(r"…and (\d+) more items", blob)
    assert more and 0 < int(more.group(1)) < 200
    assert "more norms" in blob and "more requests" in blob and "more open action items" in blob
    assert "⚠️ **The items add up to 2000 minutes, 1940 more than the 60-minute meeting.**" in blob
    assert "…and" not in json.dumps(teams_views.render(AgendaPost(SNAP))[1], ensure_ascii=False)


def test_other_long_lists_fit_too():
    big: list[Any] = [
        DigestSummary(school=LONG, week=W47, teams=tuple(_team(i, LONG) for i in range(300)), has_data=True),
        DeliveryFailures(team_name=LONG, week=2, failed=tuple((f"U{i}", LONG) for i in range(500))),
        FeedbackResults(meeting_id=9, meeting=LONG, summary=feedback_rules.summarize(
            [feedback_rules.Stored({"useful": 4, "learned": 5, "norms": 3}, {"will_try": LONG[:500],
                                                                            "evidence": LONG[:500],
                                                                            "next_focus": LONG[:300]}, name=f"U{i}")
             for i in range(200)], min_group_size=3, seed="s")),
        MeetingLog(team_name=LONG, when="Thu", present=[f"U{i}" for i in range(60)], absent=[],
                   items=[ItemView(i, LONG, 5, notes=LONG * 3) for i in range(50)], decisions="\n".join([LONG] * 80),
                   actions=[ActionView(i, f"U{i}", LONG, None) for i in range(80)], wrapped_up_by="U1"),
        SetupSaved(team_name=LONG, verb="is set up", school_name=LONG, weekdays="Thursdays", time="15:30", minutes=45,
                   timezone="UTC", added=tuple(f"U{i}" for i in range(200))),
        CheckinCard(**{**CARD.__dict__, "goal": LONG * 5, "strategy": LONG * 5, "progress": "stuck",
                       "evidence": LONG * 6, "support": LONG * 6, "support_state": "open",
                       "facilitators": (LONG,) * 10}),
    ]
    for view in big:
        text, card = teams_views.render(view, names=names)
        assert problems(card) == [], type(view).__name__
        assert wrapped_size(card, text) <= LIMIT, type(view).__name__
    digest = json.dumps(teams_views.render(big[0])[1], ensure_ascii=False)
    assert re.search(r"…and \d+ more teams in the workbook", digest)


def test_the_digest_is_one_screen_with_what_needs_attention_first():
    view = DigestSummary(school="Lincoln", week=W47, teams=(_team(1, "Grade 3"), _team(2, "Grade 4", attention=False)),
                         has_data=True)
    text, card = teams_views.render(view)
    kinds = [b["type"] for b in card["body"]]
    assert kinds[:3] == ["TextBlock", "TextBlock", "FactSet"]
    attention = card["body"][3]
    assert attention["style"] == "attention" and "Grade 3" in json.dumps(attention)
    assert "Grade 4" not in json.dumps(attention)
    assert text.startswith("PLC digest for Lincoln") and "1 need attention" in text
    overview = dict((f["title"], f["value"]) for f in card["body"][2]["facts"])
    assert overview["Teams"] == "2" and overview["Check-ins answered"].endswith("on average")
