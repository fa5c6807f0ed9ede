"""The digest workbook: openpyxl in write-only (streaming) mode, so memory stays flat.

Three rules that bite (FIELD-NOTES, openpyxl 3.1.5):
- a string starting with `=` is written as a formula (and "#N/A" as an error), so such text
  goes in a `WriteOnlyCell` forced to `data_type = "s"`: a teacher's "=HYPERLINK(…)" stays
  text in Excel and LibreOffice. openpyxl types any other str as a string cell by itself
  (`Cell._bind_value`), so every text cell the workbook holds is a string, never a formula;
  "+", "-" and "@" need nothing more in .xlsx, where a cell's type is stored, not guessed;
- control characters that XML forbids raise `IllegalCharacterError` and kill a write-only
  sheet, so text is cleaned with openpyxl's own `ILLEGAL_CHARACTERS_RE` first;
- Excel has no time zones: datetimes arrive as the school's wall-clock time without tzinfo
  (an aware one is converted to the workbook's zone here, never written as is).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from copy import copy
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.chart import LineChart, Reference
from openpyxl.chart.series import SeriesLabel
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from storage.rules.digest import ChartSeries, TeamFigures

CELL_TEXT_MAX = 32767  # Excel's limit for one cell
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
PCT_FORMAT = "0%"
NUM_FORMAT = "0.0#"
_NUMBERS = frozenset({int, float})
_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="2C4A6E")


@dataclass(frozen=True)
class Column:
    title: str
    width: float
    kind: str = "text"  # text | int | num | pct | date | datetime


def _cols(*spec: tuple[str, float, str]) -> tuple[Column, ...]:
    return tuple(Column(t, w, k) for t, w, k in spec)


SUMMARY = _cols(
    ("School", 24, "text"), ("Team", 24, "text"), ("Meetings held", 10, "int"), ("Meetings planned", 10, "int"),
    ("Agenda posted", 10, "int"), ("Attendance", 11, "pct"), ("Feedback answers", 10, "int"),
    ("Useful (1-5)", 10, "num"), ("Learned (1-5)", 10, "num"), ("Norms & support (1-5)", 12, "num"),
    ("Feedback note", 22, "text"), ("Check-ins asked", 10, "int"), ("Answered", 10, "int"),
    ("Response rate", 10, "pct"), ("Change from last week", 12, "pct"), ("Cycle", 24, "text"),
    ("Metric", 20, "text"), ("Baseline", 10, "num"), ("Target", 10, "num"), ("Latest point", 10, "num"),
    ("Cycle week", 8, "int"), ("Progress to target", 11, "pct"), ("Support waiting", 10, "int"),
    ("Support being followed up", 12, "int"), ("Needs attention", 48, "text"),
)
CHECKINS = _cols(
    ("School", 24, "text"), ("Team", 22, "text"), ("Cycle", 24, "text"), ("Cycle week", 8, "int"),
    ("Check-in day", 12, "date"), ("Teacher (if the team shares names)", 24, "text"), ("Status", 12, "text"),
    ("Progress", 14, "text"), ("Data point", 10, "num"), ("Evidence", 50, "text"),
    ("Answered at (if the team shares names)", 17, "datetime"),
)
SUPPORT = _cols(
    ("School", 24, "text"), ("Team", 22, "text"), ("Teacher", 24, "text"), ("Cycle week", 8, "int"),
    ("Asked at", 17, "datetime"), ("State", 14, "text"), ("Followed up by", 22, "text"),
    ("What would help", 60, "text"),
)
FEEDBACK = _cols(
    ("School", 24, "text"), ("Team", 22, "text"), ("Meeting", 17, "datetime"), ("Answers to this meeting", 10, "int"),
    ("Useful (1-5)", 10, "int"), ("Learned (1-5)", 10, "int"), ("Norms & support (1-5)", 12, "int"),
    ("What I will try", 40, "text"), ("Student evidence", 40, "text"), ("Next focus", 34, "text"),
    ("Name (if not anonymous and the team shares names)", 24, "text"), ("Note", 22, "text"),
)
MEETINGS = _cols(
    ("School", 24, "text"), ("Team", 22, "text"), ("Date", 17, "datetime"), ("Title", 24, "text"),
    ("Status", 11, "text"), ("Agenda posted", 9, "text"), ("Agenda items", 8, "int"), ("Agenda", 50, "text"),
    ("Present", 8, "int"), ("Absent", 8, "int"), ("Attendance", 10, "pct"), ("Decisions", 50, "text"),
)
ACTIONS = _cols(
    ("School", 24, "text"), ("Team", 22, "text"), ("Action item", 50, "text"), ("Owner", 22, "text"),
    ("Due", 12, "date"), ("Status", 9, "text"), ("Overdue", 9, "text"), ("Created", 17, "datetime"),
    ("Done", 17, "datetime"),
)
CYCLES = _cols(
    ("School", 24, "text"), ("Team", 22, "text"), ("Cycle", 24, "text"), ("Goal", 50, "text"),
    ("Strategy", 40, "text"), ("Metric", 20, "text"), ("Unit", 10, "text"), ("Baseline", 10, "num"),
    ("Target", 10, "num"), ("Start", 12, "date"), ("Weeks", 7, "int"), ("Status", 9, "text"),
    ("Latest point", 10, "num"), ("Latest week", 8, "int"), ("Progress to target", 11, "pct"),
    ("Response rate", 10, "pct"),
)
CHART_DATA = _cols(("Team", 24, "text"), ("Line", 20, "text"), ("Cycle week", 8, "int"), ("Value", 10, "num"),
                   ("Target", 10, "num"))

# Sheet order after Summary, as the issue lists them (Support requests beside Check-ins).
SHEETS: tuple[tuple[str, tuple[Column, ...]], ...] = (
    ("Check-ins", CHECKINS),
    ("Support requests", SUPPORT),
    ("Feedback", FEEDBACK),
    ("Meetings and agendas", MEETINGS),
    ("Action items", ACTIONS),
    ("Cycles and goals", CYCLES),
)


def clean_text(value: object) -> str:
    """Text Excel can store: no XML-forbidden control characters, within the cell limit."""
    text = ILLEGAL_CHARACTERS_RE.sub("", str(value))
    return text[:CELL_TEXT_MAX]


def summary_row(school: str, fig: TeamFigures) -> tuple[Any, ...]:
    """One team's Summary row, in SUMMARY's column order."""
    m, f, c, cyc = fig.meetings, fig.feedback, fig.checkins, fig.cycle
    return (
        school, fig.team.name, m.held, m.planned, m.with_agenda, m.attendance, f.answers,
        f.averages.get("useful"), f.averages.get("learned"), f.averages.get("norms"),
        "" if f.shown or not f.answers else f.withheld,
        c.asked, c.answered, c.rate, c.change,
        cyc.title if cyc else "", cyc.metric if cyc else "", cyc.baseline if cyc else None,
        cyc.target if cyc else None, cyc.latest if cyc else None, cyc.week if cyc else None,
        cyc.progress if cyc else None, len(fig.waiting), fig.following_up, "; ".join(fig.attention),
    )


class DigestWorkbook:
    """Writes one workbook sheet by sheet, streaming each sheet's rows straight to disk."""

    def __init__(self, tz: str | ZoneInfo = "UTC") -> None:
        self.zone = ZoneInfo(tz) if isinstance(tz, str) else tz
        self.wb = Workbook(write_only=True)
        self.rows_written = 0
        self._header_style: Any = None

    # -------------------------------------------------------------------------- cells
    def _header(self, ws: WriteOnlyWorksheet, columns: Sequence[Column]) -> None:
        if self._header_style is None:  # register the style once per workbook, then copy its ids
            model = WriteOnlyCell(ws)
            model.font, model.fill = _HEADER_FONT, _HEADER_FILL
            model.alignment = Alignment(wrap_text=True, vertical="top")
            self._header_style = model._style
        cells = []
        for column in columns:
            cell = WriteOnlyCell(ws, value=clean_text(column.title))
            cell.data_type = "s"
            cell._style = copy(self._header_style)
            cells.append(cell)
        ws.append(cells)

    def _converters(self, ws: WriteOnlyWorksheet, columns: Sequence[Column]) -> list[Callable[[Any], Any]]:
        """One converter per column, each with its own reusable cell.

        openpyxl writes a cell the moment `append` reaches it, so a column can hand it the same
        cell object row after row: far cheaper than a new cell per value (the year's export
        writes over a million text cells), with the same result in the file.
        """
        return [self._converter(ws, column.kind) for column in columns]

    def _converter(self, ws: WriteOnlyWorksheet, kind: str) -> Callable[[Any], Any]:
        text_cell = WriteOnlyCell(ws)

        illegal = ILLEGAL_CHARACTERS_RE.search

        def text(value: Any) -> Any:
            # The year's export passes over a million values through here: the common case
            # (a clean str) costs one regex search and two comparisons.
            if value is None:
                return None
            if value.__class__ is not str:
                value = str(value)
            if not value:
                return None
            if len(value) > CELL_TEXT_MAX or illegal(value) is not None:
                value = clean_text(value)
                if not value:
                    return None
            first = value[0]
            if first != "=" and (first != "#" or value not in ERROR_CODES):
                # openpyxl types every other str as a string cell ("s") itself; handing it the
                # plain str skips a cell object and a caught exception per value.
                return value
            text_cell.value = value  # set, then force: "=…" or "#N/A" must stay text
            text_cell.data_type = "s"
            return text_cell

        if kind == "text":
            return text
        if kind in ("int", "num"):
            def number(value: Any) -> Any:
                if value is None or value.__class__ in _NUMBERS:  # not bool, not a str that looks numeric
                    return value
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    return value
                return text(value)
            return number

        fmt = {"pct": PCT_FORMAT, "date": DATE_FORMAT, "datetime": DATETIME_FORMAT}[kind]
        styled_cell = WriteOnlyCell(ws)
        styled_cell.number_format = fmt
        zone = self.zone

        def styled(value: Any) -> Any:
            if value is None:
                return None
            if isinstance(value, str):
                return text(value)
            if isinstance(value, datetime) and value.tzinfo is not None:
                value = value.astimezone(zone).replace(tzinfo=None)
            styled_cell.value = value
            return styled_cell
        return styled

    # -------------------------------------------------------------------------- sheets
    def sheet(self, title: str, columns: Sequence[Column], rows: Iterable[Sequence[Any]], *,
              empty: str | None = None, on_row: Callable[[], None] | None = None) -> WriteOnlyWorksheet:
        """Append a sheet: header frozen, filter on, widths set, then every row, streamed."""
        ws = self.wb.create_sheet(title=title[:31])
        ws.freeze_panes = "A2"
        for i, column in enumerate(columns, 1):
            ws.column_dimensions[get_column_letter(i)].width = column.width
        self._header(ws, columns)
        convert = self._converters(ws, columns)
        pairs = list(enumerate(convert))
        count = 0
        for row in rows:
            ws.append([fn(row[i]) for i, fn in pairs])
            count += 1
            if on_row is not None:
                on_row()
        if count == 0 and empty:
            note = WriteOnlyCell(ws, value=clean_text(empty))
            note.data_type = "s"
            ws.append([note])
        last = get_column_letter(len(columns))
        ws.auto_filter.ref = f"A1:{last}{max(1, count) + 1}"
        self.rows_written += count
        return ws

    def summary(self, rows: Sequence[Sequence[Any]], charts: Sequence[ChartSeries], *,
                title_note: str = "", empty: str | None = None) -> None:
        """The Summary sheet (one row per team) with a line chart per team, data on 'Chart data'."""
        ws = self.sheet("Summary", SUMMARY, rows, empty=empty)
        if not charts:
            return
        # Chart data is written as the last sheet; a chart only needs the sheet's name.
        placed_at = len(rows) + 3 + (1 if not rows and empty else 0)
        self._charts = (ws, charts, placed_at, title_note)

    def _write_charts(self) -> None:
        pending = getattr(self, "_charts", None)
        if not pending:
            return
        ws, charts, placed_at, note = pending
        data_rows: list[tuple[Any, ...]] = []
        spans: list[tuple[ChartSeries, int, int]] = []
        row = 2
        for series in charts:
            first = row
            for week, value in series.points:
                data_rows.append((series.team, series.label, week, value, series.target))
                row += 1
            spans.append((series, first, row - 1))
        data = self.sheet("Chart data", CHART_DATA, data_rows)
        for i, (series, first, last) in enumerate(spans):
            chart = LineChart()
            chart.title = f"{series.team}: {series.label}"[:80]
            chart.y_axis.title = "share answering" if series.is_rate else series.label[:40]
            chart.x_axis.title = "cycle week"
            chart.height, chart.width = 6.5, 12
            chart.add_data(Reference(data, min_col=4, min_row=first, max_row=last), titles_from_data=False)
            if series.target is not None:
                chart.add_data(Reference(data, min_col=5, min_row=first, max_row=last), titles_from_data=False)
            chart.set_categories(Reference(data, min_col=3, min_row=first, max_row=last))
            chart.series[0].tx = SeriesLabel(v=series.label[:60])
            if len(chart.series) > 1:
                chart.series[1].tx = SeriesLabel(v="target")
                chart.series[1].graphicalProperties.line.dashStyle = "dash"
            if series.is_rate:
                chart.y_axis.number_format = PCT_FORMAT
                chart.y_axis.scaling.min, chart.y_axis.scaling.max = 0, 1
            anchor_col = "A" if i % 2 == 0 else "H"
            ws.add_chart(chart, f"{anchor_col}{placed_at + (i // 2) * 14}")

    def save(self, target: str | Path | IO[bytes]) -> None:
        self._write_charts()
        self.wb.save(target)
