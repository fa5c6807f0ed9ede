"""Commands typed to the bot on Teams: `@plcbot agenda` in a channel, `agenda` or `plc agenda` in a chat.

The subcommands, their arguments and their help are Slack's `/plc` ones: the help is built from
the very router Slack's features register into (`slack_router`), and each subcommand calls the
same core action (`handlers.core`) with the same argument parsing (`storage.rules.dates`). Every
`/plc` subcommand is on Teams today; one added to Slack before Teams (not in `MORE`) answers so,
honestly, with the list of what is.
"""

from __future__ import annotations

import html
import importlib
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from bot.teams import admin_commands, cards, dialogs, replies
from bot.teams import card_kit as ck
from bot.teams import wrapup as teams_wrapup
from bot.teams.app import Who, deliver_notices, raw, remember_person, remember_place
from handlers.core import agenda as core_agenda
from handlers.core import checkins as core_checkins
from handlers.errors import OUR_FAULT, UserError
from scheduling import command_replies
from storage import meetings as meeting_store
from storage.identities import person_for_identity, team_for_place
from storage.models import Person, Team
from storage.models.identities import TEAMS
from storage.people import load_actor, team_for_channel
from storage.rules.agenda import RuleError
from storage.rules.dates import parse_date
from storage.rules.roles import Action, Actor, Forbidden, Role, require

if TYPE_CHECKING:
    from bot.services import Services
    from bot.teams.app import TeamsFront
    from handlers.router import Router

log = logging.getLogger("plcbot.teams")

# In the order the Teams front gained them (all of Slack's `/plc` today); a Slack subcommand missing
# here would answer "coming to Teams soon".
ON_TEAMS = ("help", "agenda", "away", "back", "setup", "cycle", "norms", "meeting", "action", "actions", "team",
            "feedback", "digest", "privacy", "home", "break", "audit")
_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)


class _Registrar:
    """Stands in for the Bolt app while Slack's features register: every listener decorator
    (`app.action(...)`, `app.view(...)`, `app.event(...)`…) takes its listener and drops it.
    What is kept is `wiring.router`: the `/plc` subcommands with their usage, summary and roles."""

    def __getattr__(self, name: str) -> Any:
        def factory(*args: Any, **kwargs: Any) -> Any:
            return lambda listener=None: listener

        return factory


@lru_cache(maxsize=1)
def slack_router() -> Router:
    """Slack's `/plc` router, registered from the same feature modules (no Bolt app, no token)."""
    from handlers.wiring import FEATURES, Wiring

    wiring = Wiring()
    for name in FEATURES:
        importlib.import_module(name).register(_Registrar(), None, wiring)
    return wiring.router


def command_text(activity: dict[str, Any]) -> str:
    """The command typed: the bot's @mention removed (by the activity's mention entities, then any
    `<at>…</at>` left), HTML entities decoded, and a leading `plc` or `/plc` dropped."""
    text = str(activity.get("text") or "")
    bot_id = (activity.get("recipient") or {}).get("id")
    for entity in activity.get("entities") or []:
        if entity.get("type") == "mention" and (entity.get("mentioned") or {}).get("id") == bot_id:
            mention = str(entity.get("text") or "")
            if mention:
                text = text.replace(mention, " ")
    text = _MENTION.sub(" ", text)
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    text = " ".join(text.split())
    word, _, rest = text.partition(" ")
    if word.lower() in ("plc", "/plc"):
        text = rest
    return text.strip()


def split_command(text: str) -> tuple[str, str]:
    text = (text or "").strip()
    if not text:
        return "help", ""
    word, _, rest = text.partition(" ")
    return word.lower(), rest.strip()


def code(words: str) -> str:
    """A command as the Teams front words it in a reply (`handlers.core`'s `code`): plain words."""
    return "@plcbot " + words


def quote(typed: str) -> str:
    """What the person typed, shown back in a reply (`handlers.core`'s `quote`): made inert."""
    return ck.md(typed)


def teams_words(text: str) -> str:
    """Slack's wording of a command, as typed on Teams."""
    return text.replace("`/plc ", "`@plcbot ").replace("/plc ", "@plcbot ")


@dataclass
class Request:
    """One command typed on Teams: who, where, what, and their PLC roles."""

    who: Who
    person: Person
    actor: Actor
    team: Team | None
    word: str
    args: str

    @property
    def role(self) -> Role | None:
        if self.team is not None:
            return self.actor.role_in(team_id=self.team.id, school_id=self.team.school_id)
        return self.actor.highest

    def require_team(self) -> Team:
        if self.team is None:
            where = ("This chat is not a PLC team's place yet." if self.who.conversation_type != "personal"
                     else "Use this command in your team's channel: @plcbot " + self.word + ".")
            raise UserError(f"{where} A facilitator sets the team up with @plcbot setup in the team's channel.")
        return self.team


Reply = tuple[str, dict[str, Any] | None]  # (text, card or None)


def load_request(services: Services, who: Who, word: str, args: str) -> Request:
    person = remember_person(services, who)
    remember_place(services, who)
    with services.db.read() as session:
        actor = load_actor(session, person.handle, admins=services.settings.admins)
        team = None
        if who.conversation_type != "personal":
            team = team_for_place(session, TEAMS, who.tenant, who.conversation_id) \
                or team_for_channel(session, who.conversation_id)
        if team is not None:
            session.expunge(team)
    return Request(who, person, actor, team, word, args)


# ------------------------------------------------------------------------------ subcommands
def help_reply(request: Request, router: Router, *, unknown: str | None = None) -> Reply:
    lines = router.help_lines(request.role)
    body: list[dict[str, Any]] = []
    summary = ""
    if unknown is not None:
        shown = ck.md(ck.clip(unknown, 40))
        note = f"🤔 **{shown}** is not a plcbot command."
        suggestions = router.suggest(unknown)
        if suggestions:
            note += " Did you mean " + " or ".join(f"**{ck.md(s)}**" for s in suggestions) + "?"
        body.append(ck.text(note))
        summary = f"{unknown[:40]} is not a plcbot command. "
    body.append(ck.heading("What you can do with plcbot"))
    body.append(ck.subtle("In a channel type **@plcbot** and the command; in our chat just the command "
                          "(**plc** before it works too)."))
    rows = [(ck.md(line.usage.removeprefix("/plc ")), ck.md(line.summary)) for line in lines]
    for start in range(0, len(rows), 40):
        body.append(ck.facts(rows[start:start + 40]))
    names = sorted({line.usage.split(" ")[1] for line in lines if line.usage.startswith("/plc ")})
    later = [n for n in names if n not in ON_TEAMS]
    if later:
        body.append(ck.subtle("On Teams now: " + ", ".join(n for n in names if n in ON_TEAMS)
                              + ". Coming to Teams soon (use Slack for now): " + ", ".join(later) + "."))
    body.append(ck.subtle("Your dashboard: type **home** in our chat."))
    return summary + "plcbot commands: " + ", ".join(names), ck.card(body)


def agenda_reply(services: Services, request: Request) -> Reply:
    team = request.require_team()
    assert team.id is not None
    now = services.clock.now()
    try:
        with services.db.session() as session:
            shown = core_agenda.agenda_command(session, request.actor, team_id=team.id, args=request.args, now=now,
                                               code=code, quote=quote)
    except RuleError as exc:  # it quotes the template name typed
        raise UserError(ck.md(str(exc))) from None
    with services.db.read() as session:
        snap = meeting_store.agenda_snapshot(session, meeting_id=shown.meeting_id, now=now)
        names = _names(session)
    text, card = cards.agenda(snap, names)
    if not shown.post:
        card["body"].insert(0, ck.subtle("A preview: your facilitator posts the agenda."))
    return text, card


def _names(session: Any) -> Any:
    from sqlmodel import select

    known = {p.handle: p.name for p in session.exec(select(Person)).all() if p.name}
    return lambda pid: known.get(pid, pid)


def away_reply(services: Services, request: Request) -> Reply:
    asked = core_checkins.away_command(services, request.actor, args=request.args,
                                       fallback_tz=request.team.timezone if request.team else None,
                                       code=lambda words: words)
    if asked.until is None:
        if asked.current:
            return f"🌴 You're away through {asked.current:%a %b %-d}. Type back to end it.", None
        return ("Use away until DATE (like until Friday or until 2026-12-18): no check-ins or reminders "
                "through that day."), None
    return (f"🌴 You're away through {asked.until:%a %b %-d}: no check-ins or reminders until then, and team "
            "summaries count you as away. Type back to end it early."), None


def back_reply(services: Services, request: Request) -> Reply:
    core_checkins.back(services, request.actor)
    return "👋 Welcome back! Your check-ins resume with the next round.", None


def run_command(services: Services, who: Who, text: str, activity: dict[str, Any] | None = None) -> Reply:
    """Synchronous (in the front's thread pool): the answer to one typed command. `activity` (the
    validated message) gives the set-up its team and `action` its @mentioned owner."""
    router = slack_router()
    word, args = split_command(text)
    try:
        request = load_request(services, who, word, args)
        if word == "home":  # Slack's Home tab, which is no `/plc` subcommand there
            return home_reply(services, request, activity or {})
        sub = router.find(word)
        if sub is None:
            return help_reply(request, router, unknown=word)
        name = sub.name
        if name == "help":
            return help_reply(request, router)
        if name == "agenda":
            return agenda_reply(services, request)
        if name == "away":
            return away_reply(services, request)
        if name == "back":
            return back_reply(services, request)
        more = MORE.get(name)
        if more is not None:
            return more(services, request, activity or {})
        return (f"**{name}** is coming to Teams soon: use /plc {name} in Slack for now. On Teams today: "
                + ", ".join(ON_TEAMS) + "."), None
    except Forbidden as exc:
        return teams_words(f"⛔ {exc}"), None
    except RuleError as exc:
        return teams_words(str(exc)), None
    except UserError as exc:
        return teams_words(str(exc)), None
    except Exception:
        log.exception("Failed to handle the Teams command %s", word)
        return OUR_FAULT, None


async def handle(front: TeamsFront, ctx: Any) -> None:
    """A message to the bot: acknowledged at once, its answer owed in the ledger (`bot.teams.replies`);
    then the command runs in the pool and the answer goes to the same conversation, paced and retried
    as the ledger's messages are. The same message delivered again (Teams retries one it got no 200
    for) runs nothing and answers nothing."""
    activity = raw(ctx.activity)
    if activity.get("value") is not None and not activity.get("text"):
        return  # a classic Action.Submit: the cards the bot sends use Action.Execute (invokes)
    who = Who.of(activity, front.settings.teams_tenant_id or "")
    if not who.user_id:
        return
    owed = replies.incoming(activity, who)
    if not await front.run_sync(replies.reserve, front.services, owed):
        log.info("A Teams message arrived again: not run or answered a second time (%s)", owed.key)
        return
    front.spawn(_answer(front, who, activity, owed))


def _run_and_keep(services: Services, who: Who, activity: dict[str, Any],
                  owed: replies.Incoming) -> tuple[Reply, bool]:
    """The command's answer, stored on its row in the command's own thread (`replies.keep`): an
    answer then queued in the answers' pool, however long, is sendable by any process's sweep."""
    text, card = run_command(services, who, command_text(activity), activity)
    return (text, card), replies.keep(services, owed, text, card)


async def _answer(front: TeamsFront, who: Who, activity: dict[str, Any], owed: replies.Incoming) -> None:
    # In hand here until sent or given up: the scheduler's sweep of owed answers leaves it alone.
    with command_replies.answering(owed.key):
        try:
            (text, card), kept = await front.run_sync(_run_and_keep, front.services, who, activity, owed)
            await front.run_reply(replies.send, front.services, owed, text, card, stopping=front.stopping, kept=kept)
        except Exception:
            log.exception("Failed to answer a Teams command (%s)", owed.key)


# ------------------------------------------------------------------------------ set-up
def setup_reply(services: Services, request: Request, activity: dict[str, Any]) -> Reply:
    """`@plcbot setup` in a team channel: a card whose button opens the set-up dialog (a message
    cannot open a dialog; the button's task/fetch can)."""
    from bot.teams import setup

    if request.who.conversation_type != "channel":
        raise UserError("Run @plcbot setup in your team's channel, not in a chat.")
    return setup.command_card(services, request.actor, activity)


# ------------------------------------------------------------------------------ cycle
CYCLE_USAGE = "@plcbot cycle · @plcbot cycle pause [until DATE] · @plcbot cycle resume · @plcbot cycle end"


def cycle_reply(services: Services, request: Request, activity: dict[str, Any]) -> Reply:
    """`cycle`: the learning cycle's status; facilitators pause, resume or end it (the core's actions)."""
    from handlers.core import cycles as core_cycles

    team = request.require_team()
    assert team.id is not None
    word, _, rest = request.args.partition(" ")
    word = word.lower()
    if word in ("", "status", "show"):
        return cycle_status(services, request, team)
    require(request.actor, Action.MANAGE_CYCLE, team_id=team.id, school_id=team.school_id)
    if word in ("start", "edit"):
        return cycle_form_card(services, team, editing=word == "edit")
    if word == "pause":
        until = None
        if rest.strip():
            words = rest.strip().split(" ", 1)
            if words[0].lower() != "until" or len(words) < 2:
                raise UserError("Use @plcbot cycle pause or @plcbot cycle pause until DATE (like until Jan 4).")
            try:
                until = parse_date(words[1], today=core_cycles.team_today(services, team))
            except ValueError as exc:
                raise UserError(str(exc)) from None
        result = core_cycles.pause(services, request.actor, team_id=team.id, until=until)
        assert result.cycle is not None
        how = f"through {until:%a %b %-d}" if until else "until a facilitator types @plcbot cycle resume"
        words_said = f"⏸️ Paused “{result.cycle.title}” {how}. No check-ins meanwhile."
    elif word == "resume":
        result = core_cycles.resume(services, request.actor, team_id=team.id)
        assert result.cycle is not None
        words_said = f"▶️ Resumed “{result.cycle.title}”. Check-ins continue on the usual day."
    elif word == "end":
        result = core_cycles.end(services, request.actor, team_id=team.id)
        assert result.cycle is not None
        words_said = f"🏁 Ended “{result.cycle.title}”; its summary is kept."
    else:
        raise UserError(f"I don't know cycle {word[:30]}. Use {CYCLE_USAGE}.")
    deliver_notices(services, list(result.notices))
    return words_said, ck.card([ck.container([ck.text(ck.md(words_said))], style="good")])


def cycle_status(services: Services, request: Request, team: Team) -> Reply:
    """`cycle`: the core's status (members only), as an Adaptive Card."""
    from handlers.core import cycles as core_cycles

    return cards.cycle_status(core_cycles.status(services, request.actor, team=team))


# the cycle form: a dialog (bot.teams.invokes routes CYCLE_DIALOG / CYCLE_SUBMIT here) --------------
CYCLE_DIALOG = "cycle_form"
CYCLE_SUBMIT = "cycle_form_submit"
CYCLE_FIELDS = ("title", "goal", "strategy", "metric_name", "metric_unit", "baseline", "target", "start_date",
                "weeks", "checkin_weekday", "checkin_time", "reminder_hours")


def cycle_form_card(services: Services, team: Team, *, editing: bool) -> Reply:
    """`cycle start | edit`: refused now when there is nothing to edit (or one runs already), else the
    card whose button opens the cycle dialog."""
    from storage import cycles as cycle_store

    assert team.id is not None
    with services.db.read() as session:
        cycle = cycle_store.active_cycle(session, team_id=team.id)
    if editing and cycle is None:
        raise UserError("There is no running cycle to edit. Start one with @plcbot cycle start.")
    if not editing and cycle is not None:
        raise UserError(f"This team already has a running cycle, “{cycle.title}”. Change it with @plcbot cycle "
                        "edit, or end it with @plcbot cycle end first.")
    verb = "Edit the cycle" if editing else "Start a cycle"
    button = {"type": "Action.Submit", "title": verb, "style": "positive",
              "data": {"msteams": {"type": "task/fetch"}, "dialog_id": CYCLE_DIALOG, "team_id": team.id}}
    body = [ck.heading(verb), ck.text(f"Team **{ck.md(ck.clip(team.name, 100))}**: the goal, the metric, "
                                      "its baseline and target, and when the weekly check-in goes out.")]
    return f"{verb}: click the button to open the form.", ck.card(body, [button])


def cycle_form(services: Services, actor: Actor, team_id: int) -> tuple[str, dict[str, Any]]:
    """The cycle dialog, prefilled when a cycle runs (then it edits it); refused as `check_cycle` would."""
    from scheduling import checkins as planner
    from storage import cycles as cycle_store
    from storage.models import School
    from storage.rules import cycles as cycle_rules

    with services.db.read() as session:
        team = session.get(Team, team_id)
        if team is None or team.archived_at is not None:
            raise UserError("This team no longer exists.")
        require(actor, Action.MANAGE_CYCLE, team_id=team.id, school_id=team.school_id)
        c = cycle_store.active_cycle(session, team_id=team_id)
        hours = planner.rule_hours(planner.hours_for(services, team, session.get(School, team.school_id)))
        session.expunge(team)
        if c is not None:
            session.expunge(c)
    from datetime import time as clock_time

    from handlers.core import cycles as core_cycles

    today = core_cycles.team_today(services, team)
    at = c.checkin_time if c else max(hours.opens, min(clock_time(14, 0), hours.closes)).strftime("%H:%M")

    def line(key: str, label: str, value: str | None, *, limit: int, required: bool = True,
             multiline: bool = False, placeholder: str = "") -> dict[str, Any]:
        element: dict[str, Any] = {"type": "Input.Text", "id": key, "label": label, "maxLength": limit,
                                   "isRequired": required, "errorMessage": f"{label} (under {limit} characters)."}
        if value:
            element["value"] = value
        if multiline:
            element["isMultiline"] = True
        if placeholder:
            element["placeholder"] = placeholder
        return element

    days = [{"title": cycle_rules.WEEKDAYS[d], "value": str(d)} for d in sorted(hours.weekdays)]
    body: list[dict[str, Any]] = [
        ck.heading("Edit the cycle" if c else "Start a cycle"),
        ck.subtle(f"Team **{ck.md(ck.clip(team.name, 100))}**. A cycle runs {cycle_rules.MIN_WEEKS}-"
                  f"{cycle_rules.MAX_WEEKS} weeks toward one measurable student learning goal; everyone gets a "
                  "one-click check-in weekly. Please don't name students."),
        line("title", "Title", c.title if c else None, limit=150, placeholder="Fractions on a number line"),
        line("goal", "Student learning goal", c.goal if c else None, limit=1000, multiline=True),
        line("strategy", "Focus strategy", c.strategy if c else None, limit=1000, required=False, multiline=True),
        line("metric_name", "Metric", c.metric_name if c else None, limit=100, placeholder="Exit ticket score 3+"),
        line("metric_unit", "Unit", c.metric_unit if c else None, limit=30, required=False, placeholder="%"),
        line("baseline", "Baseline", cards.number(c.baseline) if c else None, limit=20),
        line("target", "Target", cards.number(c.target) if c else None, limit=20),
        {"type": "Input.Date", "id": "start_date", "label": "Start date", "isRequired": True,
         "value": (c.start_date if c else today).isoformat(), "errorMessage": "Pick the start date."},
        line("weeks", f"Length in weeks ({cycle_rules.MIN_WEEKS}-{cycle_rules.MAX_WEEKS})",
             str(c.weeks if c else 6), limit=3),
        {"type": "Input.ChoiceSet", "id": "checkin_weekday", "label": "Check-in day", "isRequired": True,
         "choices": days, "value": str(c.checkin_weekday) if c else str(min(3, max(hours.weekdays))),
         "errorMessage": "Choose the check-in day."},
        {"type": "Input.Time", "id": "checkin_time", "label": f"Check-in time (school hours {hours.opens:%H:%M}-"
                                                              f"{hours.closes:%H:%M})",
         "isRequired": True, "value": at, "errorMessage": "Pick the check-in time."},
        line("reminder_hours", "Remind non-responders after (hours)", str(c.reminder_hours if c else 24), limit=3),
    ]
    data: dict[str, Any] = {"team_id": team_id}
    if c is not None:
        data["cycle_id"] = c.id
    title = "Edit the cycle" if c else "Start a cycle"
    return title, ck.card(body, [ck.submit("Save" if c else "Start", CYCLE_SUBMIT, **data)])


def cycle_submit(services: Services, actor: Actor, team_id: int, cycle_id: int | None,
                 typed: dict[str, str]) -> tuple[str, dict[str, Any], tuple[Any, ...]]:
    """Check the typed form (`handlers.core.cycles.check_cycle`), then write it. Raises
    `handlers.errors.Invalid` (field → message) with nothing stored; returns the confirmation card
    and the notices the change owes the team."""
    from handlers.core import cycles as core_cycles
    from storage import cycles as cycle_store
    from storage.rules.cycles import CycleInput

    raw = CycleInput(**{k: typed.get(k, "") for k in CYCLE_FIELDS})
    with services.db.read() as session:
        checked = core_cycles.check_cycle(session, services, actor, team_id=team_id, cycle_id=cycle_id, raw=raw)
    with services.db.session() as session:
        try:
            cycle = core_cycles.write_cycle(session, services, checked)
        except cycle_store.CycleConflict as exc:
            raise UserError(str(exc)) from None
    result = core_cycles.cycle_saved(services, checked, cycle)
    words = result.reply
    return words, ck.card([ck.container([ck.text("✅ " + ck.md(words))], style="good"),
                           ck.subtle("Type **@plcbot cycle** to see its status.")]), tuple(result.notices)


# ------------------------------------------------------------------------------ school breaks
def break_reply(services: Services, request: Request, activity: dict[str, Any]) -> Reply:
    """`break`: the school's breaks; principals and admins `add FROM TO [label]` and `remove ID` them
    (`handlers.core.cycles.break_command`, as Slack's `/plc break`)."""
    from handlers.core import cycles as core_cycles

    team = request.require_team()
    done = core_cycles.break_command(services, request.actor, team=team, args=request.args, code=code)
    if done.done == "added":
        return f"🌴 {done.reply}", ck.card([ck.container([ck.text("🌴 " + ck.md(done.reply))], style="good")])
    if done.done != "listed" or not done.breaks:
        return done.reply, None
    rows = [(f"{b.id}", f"{b.starts_on:%a %b %-d, %Y} – {b.ends_on:%a %b %-d, %Y}"
             + (f" · {ck.md(ck.clip(b.label, 100))}" if b.label else "")) for b in done.breaks]
    body = [ck.heading("School breaks (no check-ins, no scheduled meetings)"),
            *ck.facts_fit(rows, ck.CARD_BUDGET, "breaks"),
            ck.subtle("Principals: **break add FROM TO [label]**, **break remove ID** (the number on the left).")]
    return f"School breaks: {len(done.breaks)}", ck.card(body)


# ------------------------------------------------------------------------------ audit
def audit_reply(services: Services, request: Request, activity: dict[str, Any]) -> Reply:
    """`audit [since YYYY-MM-DD]`: the newest entries of the log the caller may see (principals their
    schools', admins all: `handlers.core.audit.audit_page`, as Slack's `/plc audit`). Times in each
    entry's school's time zone (district-wide ones in the team's, or the bot's default), zone named;
    the start day from its midnight in the school's time zone (`handlers.core.audit.since_zone`)."""
    from handlers.core import audit as core_audit

    with services.db.read() as session:
        page = core_audit.audit_page(session, request.actor, args=request.args, code=code,
                                     quote=quote,
                                     channel_school_id=request.team.school_id if request.team is not None else None,
                                     default_zone=services.settings.timezone)
        names = _names(session)
    since = f" since {page.since:%b %-d, %Y} ({page.since_zone})" if page.since else ""
    title = f"Audit log: {page.scope}{since}"
    if not page.rows:
        return f"{title}: no entries.", ck.card([ck.heading(ck.md(ck.clip(title, 150))), ck.text("No entries.")])
    fallback = request.team.timezone if request.team is not None else services.settings.timezone
    rows = []
    for row in page.rows:
        kind, _, ref = row.target.partition(":")
        target = page.team_names.get(int(ref), row.target) if kind == "team" and ref.isdigit() else (
            row.school or row.target if kind == "school" else row.target)
        actor = ck.person(row.actor, names) if not row.actor.startswith(("cli:", "slack:")) else ck.md(row.actor)
        school = f" · {ck.md(ck.clip(row.school, 60))}" if page.show_school and row.school else ""
        rows.append((f"{page.local(row, fallback=fallback):%Y-%m-%d %H:%M %Z}", f"{actor} · {ck.md(row.action)} · "
                     f"{ck.md(ck.clip(target, 80))}{school}"
                     + (f" · {ck.md(ck.clip(' '.join(row.detail.split()), 200))}" if row.detail else "")))
    zones = {str(page.zone(row, fallback=fallback)) for row in page.rows}
    said = (f"Times in {ck.zone(zones.pop())}" + (" (the school's time zone)." if len(page.zones) == 1 else ".")
            if len(zones) == 1 else "Times in each school's own time zone.")
    body = [ck.heading(ck.md(ck.clip(title, 150))), ck.subtle(said), *ck.facts_fit(rows, ck.CARD_BUDGET, "entries")]
    if page.more:
        body.append(ck.subtle(f"The newest {core_audit.SHOWN} are shown; the full log is plcbot audit on the server."))
    return f"{title}: {len(page.rows)} entries", ck.card(body)


# ------------------------------------------------------------------------------ norms
NORMS_USAGE = ("@plcbot norms shows them · @plcbot norms commit · @plcbot norms edit · @plcbot norms who · "
               "@plcbot norms history")


def norms_reply(services: Services, request: Request, activity: dict[str, Any]) -> Reply:
    """`norms`: the team's norms with a commit button; `norms commit [VERSION]`; `norms who` (facilitators)."""
    from handlers.core import norms as core_norms
    from storage import norms as norm_store

    team = request.require_team()
    assert team.id is not None
    words = request.args.split()
    word = words[0].lower() if words else ""
    if word == "commit":
        with services.db.read() as session:
            current = norm_store.current_version(session, team_id=team.id)
        version = current
        if len(words) > 1:
            if not words[1].isdigit() or len(words[1]) > 6:
                raise UserError("Use @plcbot norms commit.")
            version = int(words[1])
        if current == 0:
            raise UserError("This team has no norms yet.")
        with services.db.session() as session:
            done = core_norms.commit_norms(session, request.actor, team_id=team.id, version=version,
                                           now=services.clock.now())
        return done.reply, ck.card([ck.container([ck.text("🤝 " + ck.md(done.reply))], style="good")])
    if word in ("who", "commitments"):
        with services.db.read() as session:
            who = core_norms.commitments(session, request.actor, team=team)
            names = _names(session)
        if who.version == 0:
            return "This team has no norms yet.", None
        body = [ck.heading(f"Commitments to version {who.version}"),
                ck.facts([("Committed", ck.people(who.committed, names, limit=30) if who.committed else "nobody yet"),
                          ("Not yet", ck.people(who.pending, names, limit=30) if who.pending else "nobody")])]
        return f"{len(who.pending)} not yet committed", ck.card(body)
    if word == "edit":
        require(request.actor, Action.EDIT_NORMS, team_id=team.id, school_id=team.school_id)
        button = {"type": "Action.Submit", "title": "Edit the norms", "style": "positive",
                  "data": {"msteams": {"type": "task/fetch"}, "dialog_id": dialogs.NORMS_DIALOG, "team_id": team.id}}
        body = [ck.heading("Edit the norms"),
                ck.text(f"Team **{ck.md(ck.clip(team.name, 100))}**: one norm a line. Everyone is asked to commit "
                        "again after a change.")]
        return "Edit the norms: click the button to open the form.", ck.card(body, [button])
    if word == "history":
        with services.db.read() as session:
            rows = core_norms.norms_history(session, request.actor, team=team)
            names = _names(session)
        return norms_history_card(rows, names)
    if word:
        raise UserError(f"I don't know norms {ck.md(word[:30])}. {NORMS_USAGE}")
    core_norms.require_member(request.actor, team)
    with services.db.read() as session:
        return cards.norms_changed(core_norms.norms_as_they_stand(session, team=team))


def norms_history_card(rows: list[tuple[int, str, str, str]], names: Any) -> Reply:
    """`norms history`: (version, day, who, the change) rows, newest first (`handlers.core.norms.norms_history`)."""
    if not rows:
        return "The norms have never been edited.", None
    lines = [f"**v{version}** · {ck.md(when)} · {ck.person(who, names)} · {ck.md(ck.clip(summary, 300))}"
             for version, when, who, summary in rows]
    body = [ck.heading("Changes to the norms"), ck.text(ck.lines_fit(lines, ck.CARD_BUDGET, "older changes"))]
    return f"Changes to the norms: {len(rows)}", ck.card(body)


def norms_form(services: Services, actor: Actor, team_id: int) -> tuple[str, dict[str, Any]]:
    """The norms dialog, prefilled with the current norms; refused as the core's `check_norms` refuses."""
    from handlers.core import norms as core_norms
    from storage import norms as norm_store

    with services.db.read() as session:
        team = core_norms.check_norms(session, actor, team_id=team_id)
        norms = norm_store.current_norms(session, team_id=team_id)
        name = team.name
    return dialogs.norms_form(team_id=team_id, team_name=name, norms=norms)


def norms_submit(services: Services, actor: Actor, team_id: int, typed: str) -> tuple[str, dict[str, Any]]:
    """Save the typed norms (`clean_norms`, then the core's check and write): a bad value raises
    `RuleError` with nothing stored; the new version (`NormsChanged`) is posted in the team's place
    through the ledger like every notice (its key, `scheduling.keys.norms`, makes a second submit
    post nothing more)."""
    from handlers.core import norms as core_norms
    from storage.people import load_actor
    from storage.rules.agenda import clean_norms

    norms = clean_norms(typed)
    with services.db.read() as session:
        core_norms.check_norms(session, load_actor(session, actor.handle, admins=services.settings.admins),
                               team_id=team_id)
    with services.db.session() as session:
        fresh = load_actor(session, actor.handle, admins=services.settings.admins)
        team = core_norms.check_norms(session, fresh, team_id=team_id)
        result = core_norms.write_norms(session, fresh, team, norms=norms, now=services.clock.now())
        session.expunge(team)
    deliver_notices(services, list(result.notices))  # none when nothing changed (a double submit)
    words = result.reply + (" Everyone is asked to commit to them again." if result.version else "")
    return words, ck.card([ck.container([ck.text("✅ " + ck.md(words))], style="good")])


# ------------------------------------------------------------------------------ meetings
MEETING_USAGE = ("@plcbot meeting list · @plcbot meeting add DATE TIME [MINUTES] · "
                 "@plcbot meeting cancel [DATE]")


def meeting_reply(services: Services, request: Request, activity: dict[str, Any]) -> Reply:
    """`meeting list | add DATE TIME [MINUTES] | cancel [DATE]`, with Slack's parsing and the core's actions."""
    from zoneinfo import ZoneInfo

    from handlers.core import meetings as core_meetings
    from storage.rules.agenda import parse_meeting_add, parse_meeting_cancel

    team = request.require_team()
    assert team.id is not None
    word, _, rest = request.args.partition(" ")
    word = word.lower()
    now = services.clock.now()
    today = now.astimezone(ZoneInfo(team.timezone)).date()
    if word in ("", "list"):
        with services.db.session() as session:
            pairs = [(ck.md(m.when), m.detail(ck.md))
                     for m in core_meetings.upcoming_meetings(session, team=team, now=now)]
        if not pairs:
            return f"No meetings are planned. {MEETING_USAGE}", None
        body = [ck.heading(f"Upcoming meetings of {ck.md(ck.clip(team.name, 100))}"), ck.facts(pairs)]
        return "Upcoming meetings: " + "; ".join(f"{a} · {b}" for a, b in pairs)[:500], ck.card(body)
    require(request.actor, Action.MANAGE_MEETINGS, team_id=team.id, school_id=team.school_id)
    if word == "add":
        wanted = parse_meeting_add(rest, today=today)
        with services.db.session() as session:
            added = core_meetings.add_meeting(session, request.actor, team_id=team.id, day=wanted.day,
                                              at=wanted.at, minutes=wanted.minutes, now=now)
        if added.refresh_agenda:
            _refresh_agenda(services, added.meeting_id)
        return f"📅 {added.reply}", None
    if word == "cancel":
        day = parse_meeting_cancel(rest, today=today)
        try:
            with services.db.session() as session:
                cancelled = core_meetings.cancel_meeting(session, request.actor, team_id=team.id, day=day, now=now)
        except core_meetings.SkippedForBreak as exc:  # its words name the break, as the principal typed it
            raise UserError(ck.md(str(exc))) from None
        _refresh_agenda(services, cancelled.meeting_id)
        return cancelled.reply, None
    raise UserError(f"I don't know meeting {word[:20]}. {MEETING_USAGE}")


def _refresh_agenda(services: Services, meeting_id: int | None) -> None:
    """A posted agenda follows the change (through the ledger and its platform's transport)."""
    if meeting_id is None:
        return
    from scheduling.meetings import refresh_agenda

    try:
        refresh_agenda(services, meeting_id)
    except Exception:
        log.exception("Failed to refresh a posted agenda after a Teams command")


# ------------------------------------------------------------------------------ action items
ACTION_USAGE = "@plcbot action @person what needs doing [by DATE]"


def mentioned_owner(activity: dict[str, Any], tenant: str) -> tuple[str, str] | None:
    """The first person @mentioned after the bot: (their Teams id, the rest of the text after the mention)."""
    text = str(activity.get("text") or "")
    bot_id = (activity.get("recipient") or {}).get("id")
    for entity in activity.get("entities") or []:
        if entity.get("type") != "mention":
            continue
        mentioned = entity.get("mentioned") or {}
        target, label = mentioned.get("id"), str(entity.get("text") or "")
        if not isinstance(target, str) or target == bot_id or not label or label not in text:
            continue
        rest = text.split(label, 1)[1]
        rest = html.unescape(re.sub(r"<[^>]+>", " ", _MENTION.sub(" ", rest)))
        return target[:255], " ".join(rest.split())
    return None


def action_reply(services: Services, request: Request, activity: dict[str, Any]) -> Reply:
    """`action @person what [by DATE]`: the owner is the @mentioned person (their Teams id → person),
    the rest parsed as Slack's `/plc action` (`storage.rules.agenda.action_request`)."""
    from zoneinfo import ZoneInfo

    from handlers.core import action_items as core_actions
    from storage.rules.agenda import action_request, day_label

    team = request.require_team()
    assert team.id is not None
    require(request.actor, Action.ASSIGN_ACTION, team_id=team.id, school_id=team.school_id)
    found = mentioned_owner(activity, request.who.tenant)
    if found is None:
        raise UserError(f"Start with the owner's @mention (pick them from Teams' @ list). Usage: {ACTION_USAGE}.")
    target, rest = found
    with services.db.read() as session:
        owner = person_for_identity(session, TEAMS, request.who.tenant, target)
    if owner is None:  # perhaps a teacher known on Slack: by the e-mail of their Teams profile
        owner = _known_by_email(services, request, target)
    if owner is None:
        raise UserError("That person is not in a PLC team here yet: a facilitator adds them with @plcbot setup.")
    now = services.clock.now()
    today = now.astimezone(ZoneInfo(team.timezone)).date()
    wanted = action_request(owner.handle, rest, today=today)
    with services.db.session() as session:
        added = core_actions.add_action_item(session, request.actor, team_id=team.id, owner=wanted.owner,
                                             text=wanted.text, due=wanted.due, now=now)
    due = f", due {day_label(added.due)}" if added.due else ""
    words = f"📌 Action item for {owner.name or 'them'}{due}: {added.text}. I've sent them a message."
    notify_owner(services, added.action_id, assigned_by=request.actor.handle)
    _refresh_agenda(services, added.agenda_meeting_id)
    return words, ck.card([ck.container([ck.text(ck.md(words))], style="good")])


def _known_by_email(services: Services, request: Request, target: str) -> Person | None:
    """A mentioned Teams user the bot knows by e-mail only (a teacher known on Slack): their Teams
    account is attached to that person (`bot.teams.setup.teams_people`); nobody new is made."""
    from bot.teams import setup

    who = request.who
    where = setup.Where(tenant=who.tenant, service_url=who.service_url, conversation_id=who.conversation_id,
                        team_id=who.team_id or "", user_id=who.user_id, aad_object_id=None)
    member = setup.member_profile(services, where, target, "Teams user")
    if member.email is None and member.aad_object_id is None:
        return None
    with services.db.session() as session:
        known = setup.known_person(session, member, where)
        if known is None or known.forgotten_at is not None:
            return None
        person = setup.teams_people(session, [member], where, now=services.clock.now())[member.id]
        session.expunge(person)
        return person


def notify_owner(services: Services, action_id: int | None, *, assigned_by: str) -> None:
    """The owner is told once (the ledger key is the item): a card on Teams, Slack's DM on Slack."""
    from scheduling import keys
    from scheduling.delivery import deliver
    from storage import actions as action_store
    from storage.rules.agenda import ActionView

    if action_id is None:
        return
    with services.db.read() as session:
        ctx = action_store.load(session, action_id=action_id)
        names = _names(session)
    if ctx is None:
        return
    owner = ctx.owner.handle
    try:
        if services.transports.platform_of(owner) != TEAMS:
            from handlers.actions import notify_owner as slack_notify

            slack_notify(services, action_id, assigned_by=assigned_by)
            return
        view = ActionView(action_id, owner, ctx.item.text, ctx.item.due_date, ctx.item.status, ctx.team.name)
        text, card = cards.action_assigned(view, assigned_by=assigned_by, names=names)
        deliver(services, key=keys.action_assigned(action_id), kind="action_item", recipient=owner, text=text,
                blocks=card, payload={"action_id": action_id})  # type: ignore[arg-type]
    except Exception:
        log.exception("Failed to tell an action item's owner")


def actions_reply(services: Services, request: Request, activity: dict[str, Any]) -> Reply:
    """`actions`: the team's open action items in its channel, or your own in our chat."""
    from storage.rules.agenda import carry_over

    now = services.clock.now()
    with services.db.read() as session:
        names = _names(session)
        if request.team is None:
            person = request.person
            views = carry_over(meeting_store.action_views(session, owner_id=person.id) if person.id else [], now=now)
            title, with_team = "Your open action items", True
        else:
            team = request.team
            assert team.id is not None
            if request.actor.role_in(team_id=team.id, school_id=team.school_id) is None:
                raise UserError("Only members of this team (and its school's leaders) can see its action items.")
            from zoneinfo import ZoneInfo

            today = now.astimezone(ZoneInfo(team.timezone)).date()
            views = carry_over(meeting_store.action_views(session, team_id=team.id), today=today)
            title, with_team = f"Open action items of {team.name}", False
    if not views:
        return f"{title}: none.", ck.card([ck.heading(ck.md(ck.clip(title, 150))), ck.text("Nothing open. 🎉")])
    lines = [cards._action_line(v, names, with_team=with_team) for v in views]
    body = [ck.heading(ck.md(ck.clip(title, 150))), ck.text(ck.lines_fit(lines, ck.CARD_BUDGET, "action items"))]
    return f"{title}: {len(views)}", ck.card(body)


# ------------------------------------------------------------------------------ team
def team_reply(services: Services, request: Request, activity: dict[str, Any]) -> Reply:
    """`team`: who is in the team and when it meets; `team [facilitator] add | remove @person …` and
    `team archive` change it (the core's reading of the words, `handlers.core.teams.team_command`)."""
    from handlers.core import teams as core_teams
    from storage import teams as team_store

    team = request.require_team()
    assert team.id is not None
    asked = core_teams.team_command(request.args, code=code)
    if asked.op == "archive":
        with services.db.session() as session:
            done = core_teams.archive_team(session, request.actor, team_id=team.id, now=services.clock.now())
        words = f"🗄️ {done.reply}"
        return words, ck.card([ck.container([ck.text("🗄️ " + ck.md(done.reply))], style="good")])
    if asked.op != "show":
        return change_members_reply(services, request, team, asked, activity)
    with services.db.read() as session:
        roles = team_store.member_roles(session, team_id=team.id)
        school = team_store.school_by_id(session, school_id=team.school_id)
        names = _names(session)
    leads = [u for u, r in roles.items() if r == "facilitator"]
    members = [u for u, r in roles.items() if r != "facilitator"]
    rows = [("School", ck.md(ck.clip(school.name, 100)) if school else "?"),
            ("Meets", cards._schedule(team.meeting_weekdays, team.meeting_time, team.meeting_minutes, team.timezone)),
            ("Facilitators", ck.people(leads, names, limit=30) if leads else "none"),
            (f"Members ({len(members)})", ck.people(members, names, limit=60) if members else "none")]
    return f"{team.name}: {len(roles)} people", ck.card([ck.heading(ck.md(ck.clip(team.name, 100))), ck.facts(rows)])


def change_members_reply(services: Services, request: Request, team: Team, asked: Any,
                         activity: dict[str, Any]) -> Reply:
    """`team [facilitator] add | remove @person …`: the people are the message's @mentions (their Teams
    ids → people; someone not known yet gets a person and a Teams identity as the set-up's roster does),
    changed by the core (`handlers.core.teams.change_members`: the roles, the last facilitator)."""
    from bot.teams import setup
    from handlers.core import teams as core_teams

    assert team.id is not None
    core_teams.require_change_members(request.actor, team, asked.role)  # before anyone is stored
    people = admin_commands.mentioned_people(activity)
    if not people:
        raise asked.nobody(code)
    remove = asked.op == "remove"
    users = [(i, n) for i, n in people if i.startswith("29:")]  # 28:… are bots
    skipped = [i for i, _ in people if not i.startswith("29:")]
    who = request.who
    where = setup.Where(tenant=who.tenant, service_url=who.service_url, conversation_id=who.conversation_id,
                        team_id=who.team_id or "", user_id=who.user_id, aad_object_id=None)
    now = services.clock.now()
    members = setup.mentioned_members(services, where, users)  # e-mails asked for before the write
    with services.db.session() as session:
        actor = load_actor(session, request.actor.handle, admins=services.settings.admins)
        ids: list[str] = []
        for member in members:
            # Known by this Teams id, else by e-mail (a teacher known on Slack): never a second person.
            person = setup.known_person(session, member, where)
            if not remove:
                person = setup.teams_people(session, [member], where, now=now)[member.id]
            ids.append(person.handle if person is not None and person.forgotten_at is None else member.id)
        result = core_teams.change_members(session, actor, team_id=team.id, people_ids=ids, role=asked.role,
                                           remove=remove, skipped=skipped, now=now)
    with services.db.read() as session:
        stored = _names(session)
    mentioned = dict(people)
    return cards.members_changed(result.view, lambda pid: mentioned.get(pid) or stored(pid))


# ------------------------------------------------------------------------------ home
def home_reply(services: Services, request: Request, activity: dict[str, Any]) -> Reply:
    """`home` in our chat: the per-role dashboard (`storage.home.dashboard`, what Slack's Home tab shows)."""
    from storage import home as home_store

    if request.who.conversation_type != "personal":
        return "Your dashboard is in our chat: open a chat with plcbot and type home.", None
    now = services.clock.now()
    with services.db.read() as session:
        board = home_store.dashboard(session, actor=request.actor, now=now,
                                     min_group_size=services.settings.min_group_size)
    return dashboard_card(board)


def _team_glance(glance: Any) -> list[dict[str, Any]]:
    from storage.rules.agenda import local_label

    rows: list[tuple[str, str]] = []
    role = {"facilitator": "You facilitate", "member": "You're a member"}.get(glance.role or "", "Your school's team")
    rows.append(("Role", role + f" · {glance.members} people"))
    if glance.next_meeting is not None:
        m = glance.next_meeting
        rows.append(("Next meeting", ck.md(local_label(m.starts_at, glance.timezone))
                     + f" · {m.minutes} min" + (f" · {m.item_count} items" if m.item_count else "")))
    if glance.cycle is not None:
        c = glance.cycle
        week = f"week {c.week} of {c.weeks}" if c.week else ("not started" if not c.started else "done")
        rows.append(("Cycle", f"{ck.md(ck.clip(c.title, 100))} · {week}" + (" · paused" if c.status == "paused"
                                                                            else "")))
    if glance.round is not None:
        r = glance.round
        rows.append(("Check-ins" + (" this week" if r.this_week else f" (week {r.week})"),
                     f"{r.answered} of {r.asked} answered" + (f", {r.away} away" if r.away else "")))
    if glance.facilitates and glance.support_open:
        rows.append(("Support requests", f"{glance.support_open} open"))
    if glance.feedback is not None:
        f = glance.feedback
        rows.append(("Last meeting's feedback", f"{f.count} answers" if f.shown
                     else f"withheld until {f.threshold} answer"))
    return [ck.text(f"**{ck.md(ck.clip(glance.name, 100))}** · {ck.md(ck.clip(glance.school_name, 100))}",
                    spacing="Medium"), ck.facts(rows)]


def dashboard_card(board: Any) -> Reply:
    """The dashboard as one card: pending check-ins, your teams, and a principal's schools."""
    body: list[dict[str, Any]] = [ck.heading("🏠 Your plcbot home")]
    if board.empty:
        body.append(ck.text("You're not in a PLC team yet. A facilitator adds you with **@plcbot setup** in the "
                            "team's channel."))
        return "Your plcbot home", ck.card(body)
    if board.pending:
        body.append(ck.container([ck.text(f"✍️ **{len(board.pending)} check-in(s) waiting for you**: "
                                          + "; ".join(f"{ck.md(ck.clip(p.cycle_title, 60))} week {p.week}"
                                                      for p in board.pending[:5]))], style="attention"))
    sections: list[dict[str, Any]] = []
    if board.my_teams:
        sections.append(ck.text("**Your teams**", size="Medium"))
        for glance in board.my_teams:
            sections += _team_glance(glance)
    for school in board.schools:
        sections.append(ck.text(f"**{ck.md(ck.clip(school.name, 100))}** ({len(school.teams)} teams)",
                                size="Medium"))
        for glance in school.teams:
            sections += _team_glance(glance)
    body += ck.fit(sections, ck.CARD_BUDGET, "teams")
    body.append(ck.subtle("Type **help** to see every command."))
    return "Your plcbot home", ck.card(body)


# ------------------------------------------------------------------------------ feedback, digest, privacy
FEEDBACK_USAGE = "@plcbot feedback (the form for the latest meeting) · @plcbot feedback results [DATE]"


def feedback_reply(services: Services, request: Request, activity: dict[str, Any]) -> Reply:
    """`feedback`: a button opening the feedback dialog for the team's latest meeting; `feedback results
    [DATE]` for the team's facilitators (and principals), through the core's visibility rules."""
    from handlers.core import feedback as core_feedback

    team = request.require_team()
    assert team.id is not None
    word, _, rest = request.args.partition(" ")
    now = services.clock.now()
    if word.lower() == "results":
        with services.db.read() as session:
            shown = core_feedback.feedback_results(session, actor=request.actor, team=team, day=rest.strip(), now=now,
                                                   min_group_size=services.settings.min_group_size)
            names = _names(session)
        return cards.feedback_results(shown, names)
    if word:
        raise UserError(FEEDBACK_USAGE)
    with services.db.read() as session:
        form = core_feedback.feedback_form(session, actor=request.actor, key=core_feedback.link_key(services), now=now,
                                           team_id=team.id)
    button = {"type": "Action.Submit", "title": "Give feedback", "style": "positive",
              "data": {"msteams": {"type": "task/fetch"}, "dialog_id": "meeting_feedback",
                       "meeting_id": form.meeting_id}}
    body = [ck.heading("Meeting feedback"), ck.text(f"For {ck.md(ck.clip(form.meeting, 200))}; open until "
                                                    f"{ck.md(ck.clip(form.closes, 100))}.")]
    return f"Feedback for {form.meeting}", ck.card(body, [button])


def digest_reply(services: Services, request: Request, activity: dict[str, Any]) -> Reply:
    """`digest [last | 2026-W47]`: the digest now in our chat, with its workbook offered by file consent
    (principals: their schools'; facilitators: their team's part), sent through the ledger and the
    Teams transport (`handlers.core.digest.digest_now`); each request sends once (its activity id)."""
    from handlers.core import digest as core_digest

    team_id = request.team.id if request.team is not None else None
    request_id = str(activity.get("id") or services.clock.now().strftime("%Y%m%d%H%M%S"))[:64]
    done = core_digest.digest_now(services, actor=request.actor, team_id=team_id, week_text=request.args,
                                  request_id=request_id)
    words = done.result.reply.replace("your direct messages", "our chat").replace("direct messages", "our chat")
    return words, ck.card([ck.text("📨 " + ck.md(words))])


def privacy_reply(services: Services, request: Request, activity: dict[str, Any]) -> Reply:
    """`privacy`: what plcbot keeps about you and who sees it (`handlers.core.privacy.privacy_page`)."""
    from handlers.core import privacy as core_privacy

    word = request.args.strip().lower()
    if word == "export":
        from bot.teams.privacy_export import export_reply

        return export_reply(services, request, activity)
    if word:
        raise UserError("Use @plcbot privacy (what is kept about you and who sees it).")
    settings = services.settings
    with services.db.read() as session:
        page = core_privacy.privacy_page(session, actor=request.actor, retention_years=settings.retention_years,
                                         forget_days=settings.forget_deactivated_days,
                                         min_group_size=settings.min_group_size)
        names = _names(session)
    return cards.privacy_page(page, names)


MORE: dict[str, Any] = {
    "feedback": feedback_reply, "digest": digest_reply, "privacy": privacy_reply,
    "setup": setup_reply, "cycle": cycle_reply, "norms": norms_reply, "meeting": meeting_reply,
    "action": action_reply, "actions": actions_reply, "team": team_reply, "home": home_reply,
    "break": break_reply, "audit": audit_reply,
    "school": admin_commands.school_reply, "wrapup": teams_wrapup.wrapup_reply,
}
# The commands bot.teams.admin_commands and bot.teams.wrapup add (kept here: small merges with MORE).
ON_TEAMS = (*ON_TEAMS, "school", "wrapup")  # type: ignore[assignment]
