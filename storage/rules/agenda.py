"""What a meeting holds: norms' limits, agenda templates, time boxes, carry-over, schedules.

Plain functions over plain data (no Slack, no session) so a Microsoft Teams front can reuse
them. The snapshot dataclasses at the end are what the renderers draw an agenda or a log from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from storage.rules.dates import parse_date

# --------------------------------------------------------------------------------- norms
MAX_NORMS = 12
NORM_MAX_LEN = 240  # 12 norms of 240 still fit Slack's 3,000-character text input
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)])\s*")


class RuleError(ValueError):
    """Input that breaks a rule; `str()` is the message for the person who typed it, and
    `field` names the input it is about (a modal shows it there)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def clean_norms(text: str) -> list[str]:
    """One norm per line, bullets and numbers stripped, blanks and repeats dropped.

    Raises RuleError naming the first problem, so a modal can show it inline.
    """
    norms: list[str] = []
    seen: set[str] = set()
    for raw in (text or "").splitlines():
        line = " ".join(_BULLET.sub("", raw).split())
        if not line:
            continue
        if len(line) > NORM_MAX_LEN:
            raise RuleError(
                f"Norm {len(norms) + 1} is {len(line)} characters long; keep each norm under "
                f"{NORM_MAX_LEN} so it reads at a glance."
            )
        if line.casefold() in seen:
            continue
        seen.add(line.casefold())
        norms.append(line)
    if len(norms) > MAX_NORMS:
        raise RuleError(f"That is {len(norms)} norms; a team keeps at most {MAX_NORMS}, so people can remember them.")
    return norms


def norms_change_summary(old: list[str], new: list[str]) -> str:
    """A short account of a change ("added 1, removed 2, reordered") for the history."""
    added = [n for n in new if n not in old]
    removed = [n for n in old if n not in new]
    parts = []
    if added:
        parts.append(f"added {len(added)}")
    if removed:
        parts.append(f"removed {len(removed)}")
    if not parts and old != new:
        parts.append("reordered")
    return ", ".join(parts) or "no change"


# --------------------------------------------------------------------------------- templates
@dataclass(frozen=True)
class TemplateItem:
    title: str
    minutes: int
    outcome: str = ""


@dataclass(frozen=True)
class Template:
    name: str
    label: str
    items: tuple[TemplateItem, ...]

    @property
    def minutes(self) -> int:
        return sum(i.minutes for i in self.items)


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template("kickoff", "Cycle kickoff", (
            TemplateItem("Review our norms", 5, "Everyone recommits to the norms"),
            TemplateItem("Look at recent student data", 10, "Where our students are now"),
            TemplateItem("Choose the student learning goal and its metric", 15,
                         "A goal with a metric, baseline and target"),
            TemplateItem("Plan the baseline data", 10, "Who collects which baseline data, by when"),
            TemplateItem("Roles and next steps", 5, "Action items with owners and dates"),
        )),
        Template("data", "Data meeting", (
            TemplateItem("Pre-work check", 3, "Everyone has the data in front of them"),
            TemplateItem("Just the facts", 8, "Observations without interpretation"),
            TemplateItem("Celebrate strengths", 5, "What is working, and for whom"),
            TemplateItem("Interpret the data", 12, "Likely causes we can act on"),
            TemplateItem("Decide next steps", 12, "One strategy, owners and dates"),
            TemplateItem("Reflect on the process", 5, "How the protocol worked for us"),
        )),
        Template("student_work", "Looking at student work", (
            TemplateItem("Protocol and norms reminder", 3, "Roles and time limits agreed"),
            TemplateItem("Presenter shares the task and context", 5, "We know what students were asked"),
            TemplateItem("Describe the work: what do we see?", 10, "Observations without judgement"),
            TemplateItem("Interpret: what does it show about student thinking?", 12,
                         "Patterns and misconceptions"),
            TemplateItem("Implications for our teaching", 10, "What each of us will try"),
            TemplateItem("Reflect on the protocol", 5, "What to keep or change next time"),
        )),
        Template("coplanning", "Lesson or unit co-planning", (
            TemplateItem("Learning target and success criteria", 10, "A shared target students can see"),
            TemplateItem("Common assessment or evidence", 10, "How we will know they learned it"),
            TemplateItem("Plan the lesson or unit sequence", 15, "A sequence we all teach"),
            TemplateItem("Differentiation and supports", 5, "Supports for students who need them"),
            TemplateItem("Assign tasks", 5, "Owners and dates for each piece"),
        )),
        Template("reflection", "Cycle reflection", (
            TemplateItem("Did we reach the target?", 10, "Final result against baseline and target"),
            TemplateItem("Evidence: student data and work", 15, "What the evidence shows"),
            TemplateItem("What worked, what did not", 10, "Practices to keep and to drop"),
            TemplateItem("The next cycle", 10, "A focus and goal ideas for the next cycle"),
        )),
    )
}

_ALIASES = {
    "kickoff": "kickoff", "cyclekickoff": "kickoff", "kick": "kickoff", "start": "kickoff",
    "data": "data", "datameeting": "data",
    "studentwork": "student_work", "lookingatstudentwork": "student_work", "lasw": "student_work",
    "work": "student_work",
    "coplanning": "coplanning", "planning": "coplanning", "lessonplanning": "coplanning",
    "unitplanning": "coplanning", "lessonorunitcoplanning": "coplanning",
    "reflection": "reflection", "cyclereflection": "reflection", "reflect": "reflection",
}
TEMPLATE_CHOICES = "kickoff, data, student work, coplanning, reflection"


def find_template(name: str) -> Template:
    key = re.sub(r"[^a-z]", "", (name or "").lower())
    if key in _ALIASES:
        return TEMPLATES[_ALIASES[key]]
    raise RuleError(f"There is no agenda template called {name.strip()[:40]!r}. Choose one of: {TEMPLATE_CHOICES}.")


def default_template(phase: str | None, week: int | None) -> Template:
    """The template that suits where the cycle is: kickoff, then data and student work, then reflection."""
    if phase is None:
        return TEMPLATES["kickoff"]
    if phase.startswith("plan"):
        return TEMPLATES["kickoff"]
    if phase.startswith("reflect"):
        return TEMPLATES["reflection"]
    # During delivery alternate the two evidence protocols, so the team sees data and work.
    return TEMPLATES["data"] if (week or 0) % 2 == 0 else TEMPLATES["student_work"]


# --------------------------------------------------------------------------------- time boxes
MAX_ITEMS = 40
ITEM_TITLE_MAX = 150
ITEM_OUTCOME_MAX = 200
ITEM_MINUTES_MAX = 120
_URL = re.compile(r"^https?://[^\s<>|]+$")


def overrun(item_minutes: list[int], meeting_minutes: int) -> int:
    """Minutes by which the items exceed the meeting (0 when they fit)."""
    return max(0, sum(item_minutes) - meeting_minutes)


def check_item(title: str, minutes: int | None, link: str | None = None,
               outcome: str = "") -> tuple[str, int, str | None, str]:
    """Validate one agenda item; returns it cleaned or raises RuleError."""
    title = " ".join((title or "").split())
    if not title:
        raise RuleError("Give the item a title.", field="title")
    if len(title) > ITEM_TITLE_MAX:
        raise RuleError(f"Keep the title under {ITEM_TITLE_MAX} characters ({len(title)} now).", field="title")
    if minutes is None:
        minutes = 5
    if not 1 <= minutes <= ITEM_MINUTES_MAX:
        raise RuleError(f"Give between 1 and {ITEM_MINUTES_MAX} minutes.", field="minutes")
    link = (link or "").strip() or None
    if link is not None and (len(link) > 500 or not _URL.match(link)):
        raise RuleError("The link must be a web address starting with http:// or https://.", field="link")
    outcome = " ".join((outcome or "").split())
    if len(outcome) > ITEM_OUTCOME_MAX:
        raise RuleError(f"Keep the expected outcome under {ITEM_OUTCOME_MAX} characters.", field="outcome")
    return title, minutes, link, outcome


# --------------------------------------------------------------------------------- action items
ACTION_MAX = 300
ACTION_USAGE = ("`/plc action @owner what needs doing by DATE` "
                "(for example `/plc action @dana share the exit tickets by friday`)")


@dataclass(frozen=True)
class ActionRequest:
    owner: str  # a person id (today the Slack user id)
    text: str
    due: date | None


def action_request(owner: str, words: str, *, today: date) -> ActionRequest:
    """An action item for `owner` (a person id, read by the front from its own mention) from the
    words after it: `what needs doing [by DATE]`; the date is optional."""
    rest = (words or "").strip()
    due: date | None = None
    found = list(re.finditer(r"(?:^|\s)by\s+", rest, re.IGNORECASE))
    if found:
        head, tail = rest[:found[-1].start()], rest[found[-1].end():]
        try:
            due = parse_date(tail, today=today)
        except ValueError as exc:
            raise RuleError(f"{exc} Usage: {ACTION_USAGE}.") from None
        rest = head.strip()
    if not rest:
        raise RuleError(f"Say what needs doing. Usage: {ACTION_USAGE}.")
    if len(rest) > ACTION_MAX:
        raise RuleError(f"Keep the action item under {ACTION_MAX} characters ({len(rest)} now).")
    if due is not None and due < today:
        raise RuleError(f"{due:%b} {due.day} has passed; give a due date from today on.")
    return ActionRequest(owner, rest, due)


def reminder_day(due: date, school_days: frozenset[int]) -> date:
    """The school day before `due` (0 = Monday in `school_days`)."""
    day = due - timedelta(days=1)
    for _ in range(14):
        if day.weekday() in school_days:
            return day
        day -= timedelta(days=1)
    return due - timedelta(days=1)


def is_away(today: date, away_from: date | None, away_until: date | None) -> bool:
    if away_from is None and away_until is None:
        return False
    start = away_from or date.min
    end = away_until or date.max
    return start <= today <= end


# --------------------------------------------------------------------------------- meetings
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MEETING_MIN, MEETING_MAX = 10, 240
MEETING_USAGE = "`/plc meeting add DATE TIME [minutes]`, for example `/plc meeting add Dec 10 15:30 60`"
_TIME = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?$")


def parse_weekdays(spec: str) -> list[int]:
    out = []
    for part in (spec or "").lower().replace(" ", "").split(","):
        if part[:3] in WEEKDAYS:
            out.append(WEEKDAYS.index(part[:3]))
    return sorted(set(out))


def parse_time(text: str) -> time:
    m = _TIME.match((text or "").strip().lower())
    if not m:
        raise RuleError(f"I couldn't read {text.strip()[:20]!r} as a time; use 15:30 or 3:30pm.")
    hour, minute, half = int(m[1]), int(m[2] or 0), (m[3] or "").replace(".", "")
    if half:
        if not 1 <= hour <= 12:
            raise RuleError(f"{text.strip()!r} is not a time; use 15:30 or 3:30pm.")
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        raise RuleError(f"{text.strip()!r} is not a time; use 15:30 or 3:30pm.")
    return time(hour, minute)


@dataclass(frozen=True)
class MeetingRequest:
    day: date
    at: time
    minutes: int | None


def parse_meeting_add(text: str, *, today: date) -> MeetingRequest:
    """Read `DATE TIME [minutes]` (`Dec 10 15:30 60`, `friday 3:30 pm`, `2026-12-10 8am 30`)."""
    words = (text or "").split()
    if len(words) < 2:
        raise RuleError(f"Give a date and a time: {MEETING_USAGE}.")
    minutes: int | None = None
    if len(words) >= 3 and words[-1].isdigit() and not words[-2].isdigit():
        minutes = int(words.pop())
        if not MEETING_MIN <= minutes <= MEETING_MAX:
            raise RuleError(f"A meeting lasts between {MEETING_MIN} and {MEETING_MAX} minutes.")
    if words[-1].lower().strip(".") in ("am", "pm", "a.m", "p.m") and len(words) >= 3:
        words[-2:] = [words[-2] + words[-1]]
    if not re.search(r"\d:\d\d|[ap]\.?m\.?$", words[-1].lower()) or len(words) < 2:
        raise RuleError(f"Give a date and a time (like 15:30 or 3:30pm): {MEETING_USAGE}.")
    at = parse_time(words.pop())
    try:
        day = parse_date(" ".join(words), today=today)
    except ValueError as exc:
        raise RuleError(f"{exc} Usage: {MEETING_USAGE}.") from None
    return MeetingRequest(day, at, minutes)


def parse_meeting_cancel(text: str, *, today: date) -> date | None:
    """Read the optional `DATE` of `meeting cancel [DATE]`: None (the next meeting) when none is given."""
    if not (text or "").strip():
        return None
    try:
        return parse_date(text, today=today)
    except ValueError as exc:
        raise RuleError(str(exc)) from None


def schedule_starts(weekdays: str, at: str | None, tz: str, *, after: datetime, days: int) -> list[datetime]:
    """Start instants (aware UTC) of a weekly schedule in `tz`, from `after`'s local date for `days`."""
    if not at:
        return []
    try:
        clock = parse_time(at)
    except RuleError:
        return []
    wanted = set(parse_weekdays(weekdays))
    if not wanted:
        return []
    zone = ZoneInfo(tz)
    first = after.astimezone(zone).date()
    out = []
    for offset in range(days + 1):
        day = first + timedelta(days=offset)
        if day.weekday() in wanted:
            out.append(datetime.combine(day, clock, tzinfo=zone).astimezone(ZoneInfo("UTC")))
    return out


def local_label(when: datetime, tz: str, *, with_zone: bool = True) -> str:
    """"Thu Dec 3, 3:30 PM EST" in the team's time zone."""
    local = when.astimezone(ZoneInfo(tz))
    hour = local.hour % 12 or 12
    label = f"{local:%a %b} {local.day}, {hour}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"
    return f"{label} {local:%Z}" if with_zone else label


def day_label(day: date) -> str:
    return f"{day:%a %b} {day.day}"


# --------------------------------------------------------------------------------- snapshots
@dataclass(frozen=True)
class ItemView:
    id: int
    title: str
    minutes: int
    owner: str | None = None
    link: str | None = None
    outcome: str = ""
    notes: str = ""


@dataclass(frozen=True)
class ActionView:
    id: int
    owner: str  # Slack user id
    text: str
    due: date | None
    status: str = "open"
    team_name: str = ""
    overdue: bool = False
    timezone: str = ""  # the team's: "overdue" is judged on its local date


@dataclass(frozen=True)
class CycleView:
    title: str
    goal: str
    metric: str
    baseline: float
    target: float
    unit: str = ""
    week: int | None = None
    weeks: int = 0
    phase: str | None = None
    status: str = "active"


@dataclass(frozen=True)
class AgendaSnapshot:
    meeting_id: int
    team_name: str
    when: str  # already in the team's time zone
    minutes: int
    status: str  # scheduled | cancelled | held
    started: bool
    norms: list[str] = field(default_factory=list)
    cycle: CycleView | None = None
    items: list[ItemView] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)
    open_actions: list[ActionView] = field(default_factory=list)
    template_label: str | None = None
    facilitators: list[str] = field(default_factory=list)
    timekeeper: str | None = None
    notetaker: str | None = None

    @property
    def overrun(self) -> int:
        return overrun([i.minutes for i in self.items], self.minutes)


@dataclass(frozen=True)
class MeetingLog:
    team_name: str
    when: str
    present: list[str]
    absent: list[str]
    items: list[ItemView]
    decisions: str
    actions: list[ActionView]
    wrapped_up_by: str


def carry_over(actions: list[ActionView], *, today: date | None = None,
               now: datetime | None = None) -> list[ActionView]:
    """Open action items for the next agenda, overdue first, then by due date (undated last).

    Give `today` (one team's local date) or `now` (an aware instant): with `now` each item is
    judged on its own team's local date, so a list across teams is right in every time zone.
    """
    def local_today(a: ActionView) -> date:
        if today is not None:
            return today
        assert now is not None, "carry_over needs today or now"
        return now.astimezone(ZoneInfo(a.timezone or "UTC")).date()

    marked = [
        ActionView(a.id, a.owner, a.text, a.due, a.status, a.team_name,
                   a.due is not None and a.due < local_today(a), a.timezone)
        for a in actions if a.status == "open"
    ]
    return sorted(marked, key=lambda a: (not a.overdue, a.due or date.max, a.id))


def item_title(words: str) -> str:
    """An agenda title from words a front took out of a message (its markup already flattened)."""
    flat = " ".join((words or "").split())
    if not flat:
        return "A message from the channel"
    return flat if len(flat) <= ITEM_TITLE_MAX else flat[: ITEM_TITLE_MAX - 1].rstrip() + "…"


def fill_template_for(items_count: int, template: str | None) -> bool:
    """Whether a first post should fill the agenda from the cycle's template: only an empty one."""
    return items_count == 0 and template is None
