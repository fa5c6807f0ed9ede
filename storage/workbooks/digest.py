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

Every sheet prints: landscape, one page wide (as many tall as it takes), the header row repeated
on each page, and a header row tall enough for its wrapped titles (LibreOffice does not grow a
row for wrapped text by itself). The Summary is the page a principal reads first, so it holds
one row per team and only the figures that say where a team needs support; the rest of each
team's figures are on "Team figures", and the charts on "Charts", placed so that no page break
cuts one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
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
from openpyxl.worksheet.pagebreak import Break
from openpyxl.worksheet.properties import PageSetupProperties

from storage.rules.digest import ChartSeries, TeamFigures

CELL_TEXT_MAX = 32767  # Excel's limit for one cell
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
PCT_FORMAT = "0%"
POINTS_FORMAT = '+0" pts";-0" pts";0" pts"'  # a change of a share, in percentage points
NUM_FORMAT = "0.0#"
LINE_HEIGHT = 15.0  # points per line of 11 pt text, as Excel draws it
ROW_PAD = 3.0
_NUMBERS = frozenset({int, float})
_HEADER_FONT = Font(name="Calibri", size=11, bold=True, color="FFFFFF")  # the body's font, not the reader's serif
_HEADER_FILL = PatternFill("solid", fgColor="2C4A6E")


@dataclass(frozen=True)
class Column:
    title: str
    width: float
    kind: str = "text"  # text | int | num | pct | points | date | datetime
    wrap: bool = False  # long text wrapped within the column; its rows are made tall enough


def cols(*spec: tuple[str, float, str]) -> tuple[Column, ...]:
    """Columns from (title, width, kind); kind "long" is text wrapped within its column."""
    return tuple(Column(t, w, "text", wrap=True) if k == "long" else Column(t, w, k) for t, w, k in spec)


# What a principal reads first: one row per team, the figures that say where a team needs support.
SUMMARY = (
    Column("School", 14, wrap=True), Column("Team", 15, wrap=True), Column("Response rate", 10, "pct"),
    Column("Change from last week", 10, "points"), Column("Progress to target", 10, "pct"),
    Column("Support waiting", 9, "int"), Column("Meetings held", 9, "int"), Column("Meetings planned", 9, "int"),
    Column("Attendance", 11, "pct"), Column("Needs attention", 33, "text", wrap=True),
)  # 130 characters wide: a landscape Letter or A4 page at 100%
# Every other figure of each team, on the "Team figures" sheet.
TEAM_FIGURES = (
    Column("School", 15, wrap=True), Column("Team", 16, wrap=True), Column("Agenda posted", 8, "int"),
    Column("Feedback answers", 9, "int"), Column("Useful (1-5)", 8, "num"), Column("Learned (1-5)", 9, "num"),
    Column("Norms & support (1-5)", 9, "num"), Column("Feedback note", 13, "text", wrap=True),
    Column("Check-ins asked", 10, "int"), Column("Answered", 10, "int"), Column("Cycle", 20, "text", wrap=True),
    Column("Metric", 16, "text", wrap=True), Column("Baseline", 9, "num"), Column("Target", 8, "num"),
    Column("Latest point", 8, "num"), Column("Cycle week", 7, "int"), Column("Support being followed up", 10, "int"),
)
CHECKINS = cols(
    ("School", 24, "text"), ("Team", 22, "text"), ("Cycle", 24, "text"), ("Cycle week", 8, "int"),
    ("Check-in day", 12, "date"), ("Teacher (if the team shares names)", 24, "text"), ("Status", 12, "text"),
    ("Progress", 14, "text"), ("Data point", 10, "num"), ("Evidence", 50, "long"),
    ("Answered at (if the team shares names)", 17, "datetime"),
)
SUPPORT = cols(
    ("School", 24, "text"), ("Team", 22, "text"), ("Teacher", 24, "text"), ("Cycle week", 8, "int"),
    ("Asked at", 17, "datetime"), ("State", 14, "text"), ("Followed up by", 22, "text"),
    ("What would help", 60, "long"),
)
FEEDBACK = cols(
    ("School", 24, "text"), ("Team", 22, "text"), ("Meeting", 17, "datetime"), ("Answers to this meeting", 10, "int"),
    ("Useful (1-5)", 10, "int"), ("Learned (1-5)", 10, "int"), ("Norms & support (1-5)", 12, "int"),
    ("What I will try", 40, "long"), ("Student evidence", 40, "long"), ("Next focus", 34, "long"),
    ("Name (if not anonymous and the team shares names)", 24, "text"), ("Note", 22, "text"),
)
MEETINGS = cols(
    ("School", 24, "text"), ("Team", 22, "text"), ("Date", 17, "datetime"), ("Title", 24, "text"),
    ("Status", 11, "text"), ("Agenda posted", 9, "text"), ("Agenda items", 8, "int"), ("Agenda", 50, "long"),
    ("Present", 8, "int"), ("Absent", 8, "int"), ("Attendance", 11, "pct"), ("Decisions", 50, "long"),
)
ACTIONS = cols(
    ("School", 24, "text"), ("Team", 22, "text"), ("Action item", 50, "long"), ("Owner", 22, "text"),
    ("Due", 12, "date"), ("Status", 9, "text"), ("Overdue", 9, "text"), ("Created", 17, "datetime"),
    ("Done", 17, "datetime"),
)
CYCLES = cols(
    ("School", 24, "text"), ("Team", 22, "text"), ("Cycle", 24, "text"), ("Goal", 50, "long"),
    ("Strategy", 40, "long"), ("Metric", 20, "text"), ("Unit", 10, "text"), ("Baseline", 10, "num"),
    ("Target", 10, "num"), ("Start", 12, "date"), ("Weeks", 7, "int"), ("Status", 9, "text"),
    ("Latest point", 10, "num"), ("Latest week", 8, "int"), ("Progress to target", 11, "pct"),
    ("Response rate", 10, "pct"),
)
CHART_DATA = cols(("Team", 24, "text"), ("Line", 20, "text"), ("Cycle week", 8, "int"), ("Value", 10, "num"),
                   ("Target", 10, "num"))
CHARTS_NOTE = ("Each team's current cycle by cycle week: its metric against the target, or the share answering "
               "the check-in when the team reported no data points. The figures are on the 'Chart data' sheet.")
CHART_ROWS = 16  # rows from one chart's top to the next one's (a chart is 6.5 cm: 13 to 15 rows)
CHARTS_PER_PAGE = 4  # two rows of two, then a page break, so that no chart is cut
CHARTS_LAST_COLUMN = "N"  # two charts side by side span A:N (default column widths)

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


def _share(value: float | None) -> float | None:
    """A share (0-1) rounded to what a percent cell can show: 0.2, not 0.2000000000000001."""
    return None if value is None else round(value, 4)


def summary_row(school: str, fig: TeamFigures) -> dict[str, Any]:
    """One team's figures by column title: the Summary and the Team figures sheets each take theirs."""
    m, f, c, cyc = fig.meetings, fig.feedback, fig.checkins, fig.cycle
    return {
        "School": school, "Team": fig.team.name,
        "Response rate": _share(c.rate),
        "Change from last week": None if c.change is None else round(c.change * 100),
        "Progress to target": _share(cyc.progress) if cyc else None,
        "Support waiting": len(fig.waiting), "Meetings held": m.held, "Meetings planned": m.planned,
        "Attendance": _share(m.attendance), "Needs attention": "\n".join(fig.attention),
        "Agenda posted": m.with_agenda, "Feedback answers": f.answers,
        "Useful (1-5)": f.averages.get("useful"), "Learned (1-5)": f.averages.get("learned"),
        "Norms & support (1-5)": f.averages.get("norms"),
        "Feedback note": "" if f.shown or not f.answers else f.withheld,
        "Check-ins asked": c.asked, "Answered": c.answered,
        "Cycle": cyc.title if cyc else "", "Metric": cyc.metric if cyc else "",
        "Baseline": cyc.baseline if cyc else None, "Target": cyc.target if cyc else None,
        "Latest point": cyc.latest if cyc else None, "Cycle week": cyc.week if cyc else None,
        "Support being followed up": fig.following_up,
    }


def line_chars(width: float) -> int:
    """Characters that fit on one line of a column `width` wide, with a margin for wider fonts."""
    return max(4, int(width) - 1)


def text_lines(text: object, width: float) -> int:
    """How many lines `text` takes wrapped in a column `width` characters wide (a generous guess:
    a row a little too tall reads fine, one too short hides a line)."""
    if text is None:
        return 1
    text = str(text)
    per_line = line_chars(width)
    if len(text) <= per_line and "\n" not in text:
        return 1
    lines = 0
    for paragraph in str(text).split("\n"):
        used = 0
        count = 1
        for word in paragraph.split():
            size = len(word)
            if used and used + 1 + size > per_line:
                count += 1
                used = 0
            if size > per_line:  # a word longer than the column breaks where it must
                count += (used + size - 1) // per_line
                used = (used + size) % per_line or per_line
            else:
                used += size + (1 if used else 0)
        lines += count
    return lines


def row_height(lines: int) -> float:
    return lines * LINE_HEIGHT + ROW_PAD


def print_setup(ws: WriteOnlyWorksheet, *, title_rows: str = "1:1", grid: bool = True) -> None:
    """Landscape, one page wide and as many tall as it takes, the header row on every page.

    Call before the first row is appended: write-only mode writes the sheet's properties then.
    """
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages tall as needed
    ws.print_title_rows = title_rows
    ws.print_options.gridLines = grid
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    ws.oddFooter.center.text = "&A, page &P of &N"


class DigestWorkbook:
    """Writes one workbook sheet by sheet, streaming each sheet's rows straight to disk."""

    def __init__(self, tz: str | ZoneInfo = "UTC") -> None:
        self.zone = ZoneInfo(tz) if isinstance(tz, str) else tz
        self.wb = Workbook(write_only=True)
        self.rows_written = 0
        self._header_style: Any = None
        self._charts: tuple[WriteOnlyWorksheet, Sequence[ChartSeries]] | None = None

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
        # Tall enough for the longest wrapped title: LibreOffice keeps a row's stored height.
        ws.row_dimensions[1].height = row_height(max(text_lines(c.title, c.width) for c in columns))
        ws.append(cells)

    def _converters(self, ws: WriteOnlyWorksheet, columns: Sequence[Column], *,
                    top: bool = False, lines: list[int] | None = None) -> list[Callable[[Any], Any]]:
        """One converter per column, each with its own reusable cell.

        openpyxl writes a cell the moment `append` reaches it, so a column can hand it the same
        cell object row after row: far cheaper than a new cell per value (the year's export
        writes over a million text cells), with the same result in the file. `top` aligns every
        cell to the top of its row. A wrapped column raises `lines[0]` to the lines its value
        takes, so that the row can be made that tall before it is written.
        """
        return [self._converter(ws, column, top=top, lines=lines) for column in columns]

    def _converter(self, ws: WriteOnlyWorksheet, column: Column, *, top: bool = False,
                   lines: list[int] | None = None) -> Callable[[Any], Any]:
        kind, wrap = column.kind, column.wrap
        row_lines = lines if lines is not None else [1]
        align = Alignment(vertical="top", wrap_text=wrap or None) if (top or wrap) else None
        plain_ok = not top  # a value without a style of its own may go out as it is
        per_line = line_chars(column.width)
        width = column.width

        def new_cell(fmt: str | None = None) -> WriteOnlyCell:
            cell = WriteOnlyCell(ws)
            if fmt is not None:
                cell.number_format = fmt
            if align is not None:
                cell.alignment = align
            return cell

        text_cell = new_cell()
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
            if wrap and (len(value) > per_line or "\n" in value):
                n = text_lines(value, width)
                if n > 1:
                    if n > row_lines[0]:
                        row_lines[0] = n
                    text_cell.value = value  # wrapped, and forced to text like any other
                    text_cell.data_type = "s"
                    return text_cell
            first = value[0]
            if plain_ok and first != "=" and (first != "#" or value not in ERROR_CODES):
                # openpyxl types every other str as a string cell ("s") itself; handing it the
                # plain str skips a cell object and a caught exception per value.
                return value
            text_cell.value = value  # set, then force: "=…" or "#N/A" must stay text
            text_cell.data_type = "s"
            return text_cell

        if kind == "text":
            return text
        if kind in ("int", "num"):
            number_cell = None if plain_ok else new_cell()

            def number(value: Any) -> Any:
                if value is None:
                    return None
                if value.__class__ in _NUMBERS or (isinstance(value, (int, float)) and not isinstance(value, bool)):
                    if number_cell is None:  # not bool, not a str that looks numeric
                        return value
                    number_cell.value = value
                    return number_cell
                return text(value)
            return number

        fmt = {"pct": PCT_FORMAT, "points": POINTS_FORMAT, "date": DATE_FORMAT, "datetime": DATETIME_FORMAT}[kind]
        styled_cell = new_cell(fmt)
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
              empty: str | None = None, on_row: Callable[[], None] | None = None,
              top: bool = False) -> WriteOnlyWorksheet:
        """Append a sheet: header frozen, filter on, widths set, ready to print, then every row,
        streamed. Each row is made tall enough for the text of its wrapped columns; `top` aligns
        every cell to the top of its row (a style on every cell: for short sheets)."""
        ws = self.wb.create_sheet(title=title[:31])
        ws.freeze_panes = "A2"
        print_setup(ws)
        for i, column in enumerate(columns, 1):
            ws.column_dimensions[get_column_letter(i)].width = column.width
        self._header(ws, columns)
        lines = [1]  # the current row's most wrapped lines, raised by the wrapped columns' converters
        convert = self._converters(ws, columns, top=top, lines=lines)
        pairs = list(enumerate(convert))
        count = 0
        heights = ws.row_dimensions
        for row in rows:
            values = [fn(row[i]) for i, fn in pairs]
            if lines[0] > 1:  # set before the row is written: write-only mode writes it at once
                heights[count + 2].height = row_height(lines[0])
                lines[0] = 1
            ws.append(values)
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

    def summary(self, rows: Sequence[Mapping[str, Any]], charts: Sequence[ChartSeries], *,
                title_note: str = "", empty: str | None = None) -> None:
        """The Summary sheet (one row per team, the figures that say where a team needs support),
        then 'Team figures' (every other figure of each team) and, when there are charts, a
        'Charts' sheet with a line chart per team (its data on 'Chart data', written last).

        `rows` are `summary_row` dicts; each sheet takes its columns from them by title.
        """
        for title, columns in (("Summary", SUMMARY), ("Team figures", TEAM_FIGURES)):
            self.sheet(title, columns, [tuple(r.get(c.title) for c in columns) for r in rows], empty=empty,
                       top=True)
        if not charts:
            return
        ws = self.wb.create_sheet(title="Charts")
        ws.freeze_panes = "A2"
        print_setup(ws, grid=False)
        ws.row_dimensions[1].height = row_height(2)
        note = WriteOnlyCell(ws, value=clean_text(title_note or CHARTS_NOTE))
        note.data_type = "s"
        note.font = Font(name="Calibri", size=11, bold=True)
        note.alignment = Alignment(wrap_text=True, vertical="top")
        ws.merged_cells.add(f"A1:{CHARTS_LAST_COLUMN}1")  # the note wraps across the charts' width
        ws.append([note])
        self._charts = (ws, charts)

    def _write_charts(self) -> None:
        """The charts, two by two, with a page break after every two rows of them: no chart is
        cut by a page, in Excel's 15 pt rows or LibreOffice's narrower default ones."""
        if not self._charts:
            return
        ws, charts = self._charts
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
        per_row = 2
        for i, (series, first, last) in enumerate(spans):
            chart = LineChart()
            chart.title = f"{series.team}: {series.label}"[:80]
            chart.y_axis.title = "share answering" if series.is_rate else series.label[:40]
            chart.x_axis.title = "cycle week"
            chart.height, chart.width = 6.5, 11.5
            chart.legend.position = "b"  # below the plot: the lines get the chart's width
            chart.add_data(Reference(data, min_col=4, min_row=first, max_row=last), titles_from_data=False)
            if series.target is not None:
                chart.add_data(Reference(data, min_col=5, min_row=first, max_row=last), titles_from_data=False)
            chart.set_categories(Reference(data, min_col=3, min_row=first, max_row=last))
            for line in chart.series:
                line.smooth = False  # straight lines between the points: no bumps the data lacks
            chart.series[0].tx = SeriesLabel(v=series.label[:60])
            chart.series[0].marker.symbol = "circle"
            if len(chart.series) > 1:
                chart.series[1].tx = SeriesLabel(v="target")
                chart.series[1].graphicalProperties.line.dashStyle = "dash"
                chart.series[1].marker.symbol = "none"
            if series.is_rate:
                chart.y_axis.number_format = PCT_FORMAT
                chart.y_axis.scaling.min, chart.y_axis.scaling.max = 0, 1
            chart_row = i // per_row
            top = 2 + chart_row * CHART_ROWS
            ws.add_chart(chart, f"{'A' if i % per_row == 0 else 'H'}{top}")
        rows_of_charts = math.ceil(len(spans) / per_row)
        per_page = CHARTS_PER_PAGE // per_row
        for page_end in range(per_page, rows_of_charts, per_page):
            ws.row_breaks.append(Break(id=1 + page_end * CHART_ROWS))
        ws.print_area = f"A1:{CHARTS_LAST_COLUMN}{1 + rows_of_charts * CHART_ROWS}"

    def save(self, target: str | Path | IO[bytes]) -> None:
        self._write_charts()
        self.wb.save(target)
