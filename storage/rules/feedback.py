"""Meeting feedback rules: the questions, the window, validation and small-group-safe figures.

Plain data only, so a Microsoft Teams front can reuse every rule. The questions are few and
each maps to one of the five levels at which professional learning is evaluated (participants'
reactions, their learning, organisational support, their use of new practice, student
learning outcomes), so a digest can say which levels a team is strong or weak on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

T = TypeVar("T")

MIN_GROUP_FLOOR = 3  # below this, an average can give one person away
FEWER_THAN = "fewer than {n} answers"
RATING_MIN, RATING_MAX = 1, 5


class Level(StrEnum):
    REACTION = "reaction"
    LEARNING = "learning"
    SUPPORT = "organisational support"
    PRACTICE = "use of new practice"
    OUTCOMES = "student outcomes"


LEVELS: tuple[Level, ...] = tuple(Level)


@dataclass(frozen=True)
class Question:
    key: str  # also the modal's block id, and the column it is stored in
    label: str
    level: Level
    kind: str  # "rating" (1-5) | "text"
    required: bool
    max_length: int = 0  # texts only
    hint: str = ""
    placeholder: str = ""
    low: str = ""  # ratings: what 1 means
    high: str = ""  # ratings: what 5 means
    topic: bool = False  # answers are topic requests for the next agenda


NO_STUDENT_NAMES = "Please don't name students; describe them instead (e.g. \"two of my readers\")."

QUESTIONS: tuple[Question, ...] = (
    Question("useful", "How useful was today's meeting for your teaching?", Level.REACTION, "rating",
             required=True, low="not useful", high="very useful"),
    Question("learned", "I leave with an idea or skill I can use in class.", Level.LEARNING, "rating",
             required=True, low="not at all", high="fully agree"),
    Question("norms", "We kept our team norms and had the time and materials we needed.", Level.SUPPORT,
             "rating", required=True, low="not at all", high="fully agree"),
    Question("will_try", "What will you try before the next meeting?", Level.PRACTICE, "text",
             required=False, max_length=500, hint=NO_STUDENT_NAMES,
             placeholder="e.g. exit tickets on fractions in period 2"),
    Question("evidence", "What student evidence will you bring next time?", Level.OUTCOMES, "text",
             required=False, max_length=500, hint=NO_STUDENT_NAMES,
             placeholder="e.g. six samples of the unit 4 writing task"),
    Question("next_focus", "What should we focus on next time?", Level.LEARNING, "text",
             required=False, max_length=300, hint=NO_STUDENT_NAMES + " Your request goes on the next agenda.",
             placeholder="e.g. how we group students for reteaching", topic=True),
)
QUESTION = {q.key: q for q in QUESTIONS}
RATINGS = tuple(q for q in QUESTIONS if q.kind == "rating")
TEXTS = tuple(q for q in QUESTIONS if q.kind == "text")


@dataclass(frozen=True)
class Answer:
    """One person's answers, cleaned; texts are "" when left empty."""

    ratings: Mapping[str, int]
    texts: Mapping[str, str]
    anonymous: bool = False


def validate(raw: Mapping[str, str | None], *, anonymous: bool) -> tuple[Answer | None, dict[str, str]]:
    """Check a submitted form: (answer, {}) or (None, {question key: message shown inline})."""
    errors: dict[str, str] = {}
    ratings: dict[str, int] = {}
    texts: dict[str, str] = {}
    for q in QUESTIONS:
        value = (raw.get(q.key) or "").strip()
        if q.kind == "rating":
            if not value:
                errors[q.key] = "Please choose a number from 1 to 5."
                continue
            try:
                number = int(value)
            except ValueError:
                number = 0
            if not RATING_MIN <= number <= RATING_MAX:
                errors[q.key] = "Please choose a number from 1 to 5."
                continue
            ratings[q.key] = number
        else:
            if q.required and not value:
                errors[q.key] = "Please answer this one."
            elif len(value) > q.max_length:
                errors[q.key] = f"Please keep this under {q.max_length} characters (it has {len(value)})."
            else:
                texts[q.key] = value
    if errors:
        return None, errors
    return Answer(ratings, texts, anonymous), {}


# ---------------------------------------------------------------------------------- window


def window_closes(starts_at: datetime, next_start: datetime | None, days: int) -> datetime:
    """Feedback is open from the meeting's start until the next meeting starts or `days` pass."""
    limit = starts_at + timedelta(days=max(1, days))
    if next_start is not None and starts_at < next_start < limit:
        return next_start
    return limit


def window_open(now: datetime, starts_at: datetime, closes_at: datetime) -> bool:
    return starts_at <= now < closes_at


def prompt_due(starts_at: datetime, minutes: int, held_at: datetime | None) -> datetime:
    """When to ask "How was today's meeting?": its scheduled end, or its wrap-up if earlier."""
    end = starts_at + timedelta(minutes=max(0, minutes))
    if held_at is not None and held_at < end:
        return max(held_at, starts_at)
    return end


# ---------------------------------------------------------------------------------- results


def min_group(setting: int) -> int:
    """The smallest group whose figures may be shown: the setting, never below 3."""
    return max(MIN_GROUP_FLOOR, setting)


@dataclass(frozen=True)
class Stored:
    """One stored answer as the results need it; `name` is None for anonymous answers."""

    ratings: Mapping[str, int]
    texts: Mapping[str, str]
    name: str | None
    # Whether its author chose anonymity. None: taken from the name (no name, anonymous). A named
    # answer whose author was erased has no name but was not given anonymously.
    anonymous: bool | None = None


@dataclass(frozen=True)
class Comment:
    question: str
    text: str
    name: str | None  # None: anonymous, or names hidden from this viewer


@dataclass(frozen=True)
class QuestionFigures:
    key: str
    average: float | None
    distribution: tuple[int, ...]  # counts of 1..5; empty when hidden


@dataclass(frozen=True)
class LevelFigures:
    level: Level
    average: float | None  # mean of the level's ratings; None when it has none or is hidden
    answered: int | None  # how many wrote something at a text-only level; None when hidden


@dataclass(frozen=True)
class Summary:
    count: int
    anonymous: int
    threshold: int
    questions: tuple[QuestionFigures, ...] = ()
    levels: tuple[LevelFigures, ...] = ()
    comments: tuple[Comment, ...] = ()
    topics: tuple[str, ...] = ()

    @property
    def figures_shown(self) -> bool:
        return self.count >= self.threshold

    @property
    def withheld(self) -> str:
        return FEWER_THAN.format(n=self.threshold)


def summarize(
    answers: Sequence[Stored], *, min_group_size: int, seed: str, show_names: bool = True
) -> Summary:
    """Counts, averages per question and per level, comments and topic requests.

    Averages and distributions only when at least `min_group(min_group_size)` people answered.
    Comments come in an order keyed by `seed` and their text, never by when they were given.
    """
    threshold = min_group(min_group_size)
    count = len(answers)
    shown = count >= threshold
    questions: list[QuestionFigures] = []
    for q in RATINGS:
        values = [a.ratings[q.key] for a in answers if q.key in a.ratings]
        if shown and values:
            dist = tuple(values.count(n) for n in range(RATING_MIN, RATING_MAX + 1))
            questions.append(QuestionFigures(q.key, round(sum(values) / len(values), 2), dist))
        else:
            questions.append(QuestionFigures(q.key, None, ()))
    levels: list[LevelFigures] = []
    for level in LEVELS:
        rated = [v for a in answers for q in RATINGS if q.level is level and (v := a.ratings.get(q.key))]
        texts = [q for q in TEXTS if q.level is level and not q.topic]
        if not shown:
            levels.append(LevelFigures(level, None, None))
            continue
        average = round(sum(rated) / len(rated), 2) if rated else None
        answered = sum(1 for a in answers if any(a.texts.get(q.key) for q in texts)) if texts else None
        levels.append(LevelFigures(level, average, answered))
    comments = [
        Comment(q.key, a.texts[q.key], a.name if show_names else None)
        for a in answers for q in TEXTS if not q.topic and a.texts.get(q.key)
    ]
    topics = [a.texts[q.key] for a in answers for q in TEXTS if q.topic and a.texts.get(q.key)]
    return Summary(
        count=count,
        anonymous=sum(1 for a in answers if (a.name is None if a.anonymous is None else a.anonymous)),
        threshold=threshold,
        questions=tuple(questions),
        levels=tuple(levels),
        comments=tuple(shuffle(comments, seed=seed, key=lambda c: f"{c.question}\0{c.text}")),
        topics=tuple(shuffle(topics, seed=seed, key=str)),
    )


def shuffle(items: Iterable[T], *, seed: str, key: Callable[[T], str]) -> list[T]:
    """A stable order that looks random and ignores when items arrived.

    Sorting by a hash of (seed, content) rather than by arrival means a reader cannot tell the
    first answer from the last; the same seed gives the same order on every viewing.
    """
    def rank(item: T) -> str:
        return hashlib.sha256(f"{seed}\0{key(item)}".encode()).hexdigest()

    return sorted(items, key=rank)


def level_label(level: Level) -> str:
    return level.value[:1].upper() + level.value[1:]


@dataclass(frozen=True)
class LevelReport:
    """For digests: which levels a team is strong or weak on (averages of 1-5 ratings)."""

    strong: tuple[Level, ...] = field(default_factory=tuple)
    weak: tuple[Level, ...] = field(default_factory=tuple)


def strengths(summary: Summary, *, strong_at: float = 4.0, weak_below: float = 3.0) -> LevelReport:
    if not summary.figures_shown:
        return LevelReport()
    rated = [lf for lf in summary.levels if lf.average is not None]
    return LevelReport(
        strong=tuple(lf.level for lf in rated if lf.average is not None and lf.average >= strong_at),
        weak=tuple(lf.level for lf in rated if lf.average is not None and lf.average < weak_below),
    )
