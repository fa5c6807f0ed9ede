"""The digest workbook opened as a principal would: sheets, figures, types, dates, privacy, safety."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime

import openpyxl
import pytest
from openpyxl.utils import get_column_letter

from bot.render.workbook import SUMMARY, TEAM_FIGURES, DigestWorkbook, clean_text
from scheduling.digest import write_week_workbook
from storage import digest as data
from storage.rules.digest import ChartSeries, CheckinFigures, IsoWeek
from tests.test_digest import INJECTION, seed_week

W48 = IsoWeek(2026, 48)


@pytest.fixture
def book_bytes(bot) -> bytes:
    week = seed_week(bot)
    with bot.db.read() as session:
        digest = data.build_digests(session, W48, school_ids=[week.school_id], min_group_size=3)[week.school_id]
        buffer = io.BytesIO()
        write_week_workbook(session, [digest], buffer, min_group_size=3)
    return buffer.getvalue()


def _rows(ws) -> list[dict]:  # noqa: ANN001
    values = list(ws.iter_rows(values_only=True))
    header = values[0]
    return [dict(zip(header, row, strict=False)) for row in values[1:]]


def _all_text(book: openpyxl.Workbook) -> str:
    return "\n".join(str(v) for ws in book for row in ws.iter_rows(values_only=True) for v in row if v is not None)


DATA_SHEETS = ["Summary", "Team figures", "Check-ins", "Support requests", "Feedback", "Meetings and agendas",
               "Action items", "Cycles and goals", "Chart data"]


def test_sheets_in_order_with_frozen_header_filter_and_widths(book_bytes):
    book = openpyxl.load_workbook(io.BytesIO(book_bytes))
    assert book.sheetnames == ["Summary", "Team figures", "Charts", "Check-ins", "Support requests", "Feedback",
                               "Meetings and agendas", "Action items", "Cycles and goals", "Chart data"]
    for ws in book:
        assert ws.freeze_panes == "A2"
        assert ws["A1"].font.bold
    for name in DATA_SHEETS:
        ws = book[name]
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), name
        assert ws.column_dimensions["A"].width >= 14, name
    assert [c.value for c in book["Summary"][1]] == [c.title for c in SUMMARY]
    assert [c.value for c in book["Team figures"][1]] == [c.title for c in TEAM_FIGURES]


def test_every_sheet_prints_landscape_one_page_wide_with_its_header_on_each_page(book_bytes):
    book = openpyxl.load_workbook(io.BytesIO(book_bytes))
    for ws in book:
        setup = ws.page_setup
        assert setup.orientation == "landscape", ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title  # without it Excel ignores fitTo*
        assert (setup.fitToWidth, setup.fitToHeight) == (1, 0), ws.title  # as many pages tall as needed
        assert ws.print_title_rows == "$1:$1", ws.title
        # The header row's height is stored: LibreOffice does not grow a row for wrapped titles.
        titles = [str(c.value or "") for c in ws[1]]
        height = ws.row_dimensions[1].height
        assert height is not None and height >= 15, ws.title
        for i, (cell, title) in enumerate(zip(ws[1], titles, strict=True), 1):
            width = ws.column_dimensions[get_column_letter(i)].width
            if title and cell.alignment.wrap_text and width and len(title) > width:
                assert height >= 30, (ws.title, title)  # two lines at least
            if title and ws.title != "Charts":  # each word of a title fits its column: no "Attendanc|e"
                assert all(len(word) + 1 <= width for word in title.split()), (ws.title, title, width)


def test_the_summary_reads_on_one_landscape_page_one_row_per_team(book_bytes):
    book = openpyxl.load_workbook(io.BytesIO(book_bytes))
    ws = book["Summary"]
    header = [c.value for c in ws[1]]
    assert len(header) <= 12
    for needed in ("Team", "Response rate", "Change from last week", "Progress to target", "Support waiting",
                   "Meetings held", "Needs attention"):
        assert needed in header
    # At normal size: the columns fit the width of a landscape page (10 in: about 130 characters).
    assert sum(ws.column_dimensions[c.column_letter].width for c in ws[1]) <= 130
    rows = _rows(ws)
    assert sorted(r["Team"] for r in rows) == ["Grade 3", "Grade 4", "Grade 5"]
    # Each row is tall enough for its wrapped "Needs attention" lines.
    for i, row in enumerate(rows, 2):
        lines = (row["Needs attention"] or "").count("\n") + 1
        if lines > 1:
            assert ws.row_dimensions[i].height >= 15 * lines


def test_summary_has_one_row_per_team_with_numbers_as_numbers(book_bytes):
    book = openpyxl.load_workbook(io.BytesIO(book_bytes))
    rows = {r["Team"]: r for r in _rows(book["Summary"])}
    figures = {r["Team"]: r for r in _rows(book["Team figures"])}
    assert set(rows) == set(figures) == {"Grade 3", "Grade 4", "Grade 5"}
    g3, f3 = rows["Grade 3"], figures["Grade 3"]
    assert g3["Meetings held"] == 1 and isinstance(g3["Meetings held"], int)
    assert g3["Attendance"] == pytest.approx(0.75)
    assert f3["Useful (1-5)"] == 4.0 and f3["Feedback answers"] == 3
    assert f3["Check-ins asked"] == 3 and f3["Answered"] == 2
    assert g3["Response rate"] == round(2 / 3, 4)
    assert f3["Baseline"] == 60 and f3["Target"] == 90 and f3["Latest point"] == 72.0
    assert g3["Progress to target"] == pytest.approx(0.4)
    assert g3["Support waiting"] == 1
    assert "support request" in g3["Needs attention"]
    g4 = figures["Grade 4"]
    assert g4["Useful (1-5)"] is None and g4["Feedback note"] == "fewer than 3 answers"
    # Percentages carry a percent format, so Excel shows 75%, not 0.75.
    ws = book["Summary"]
    col = [c.value for c in ws[1]].index("Attendance") + 1
    assert ws.cell(row=2, column=col).number_format == "0%"


def test_change_from_last_week_is_stored_rounded_in_points(book_bytes):
    book = openpyxl.load_workbook(io.BytesIO(book_bytes))
    ws = book["Summary"]
    col = [c.value for c in ws[1]].index("Change from last week") + 1
    g3 = next(r for r in range(2, ws.max_row + 1) if ws.cell(row=r, column=2).value == "Grade 3")
    cell = ws.cell(row=g3, column=col)
    # 2 of 3 answered after 3 of 3: down 33 points, stored as -33 (not -0.33333333333333337)
    assert cell.value == -33 and isinstance(cell.value, int)
    assert "pts" in cell.number_format and cell.number_format.startswith("+0")
    changes = [ws.cell(row=r, column=col).value for r in range(2, ws.max_row + 1)]
    assert all(v is None or v == round(v) for v in changes)
    # The figure behind it is rounded too: 0.8 - 0.6 is 0.2, so a 20-point fall is flagged.
    assert CheckinFigures(5, 4, 5, 3).change == 0.2
    assert CheckinFigures(10, 5, 10, 7).change == -0.2


def test_summary_chart_plots_the_metric_by_cycle_week_against_its_target(book_bytes):
    book = openpyxl.load_workbook(io.BytesIO(book_bytes))
    data_rows = _rows(book["Chart data"])
    assert [(r["Team"], r["Cycle week"], r["Value"], r["Target"]) for r in data_rows] == [
        ("Grade 3", 3, 66.0, 90), ("Grade 3", 4, 72.0, 90)]
    with zipfile.ZipFile(io.BytesIO(book_bytes)) as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
        assert len(charts) == 1
        xml = z.read(charts[0]).decode()
    assert "<lineChart>" in xml and "'Chart data'!$D$2:$D$3" in xml and "'Chart data'!$E$2:$E$3" in xml
    # Straight lines between the points: openpyxl leaves <c:smooth> out, which readers take as smoothed.
    assert xml.count('<smooth val="0"') == 2 and '<smooth val="1"' not in xml
    [chart] = book["Charts"]._charts
    assert all(s.smooth is False for s in chart.series)


def _chart_book(tmp_path, teams: int) -> openpyxl.Workbook:  # noqa: ANN001
    book = DigestWorkbook("UTC")
    charts = [ChartSeries(f"Team {i}", "response rate", tuple((w, w / 10) for w in range(1, 7)), None, True)
              for i in range(teams)]
    book.summary([], charts, empty="No PLC teams yet.")
    book.save(tmp_path / "c.xlsx")
    return openpyxl.load_workbook(tmp_path / "c.xlsx")


@pytest.mark.parametrize("teams", [1, 4, 9])
def test_no_page_break_cuts_a_chart(tmp_path, teams):
    ws = _chart_book(tmp_path, teams)["Charts"]
    assert len(ws._charts) == teams
    breaks = sorted(b.id for b in ws.row_breaks.brk)  # a page ends after row `id`
    assert len(breaks) == (teams - 1) // 4
    # A landscape page holds about 7.3 in (Letter, less the margins and the repeated title row).
    usable_cm = (8.5 - 1.2) * 2.54 - 1.2
    for row_cm in (15 / 72 * 2.54, 0.45):  # Excel's 15 pt rows, LibreOffice's default 0.45 cm
        pages: dict[int, float] = {}
        for chart in ws._charts:
            top = chart.anchor._from.row + 1  # 1-based row of the chart's top edge
            height_cm = chart.anchor.ext.height / 360000
            bottom = top + height_cm / row_cm  # the row at its bottom edge
            assert not any(top <= b < bottom for b in breaks), (top, bottom, breaks)
            page = sum(1 for b in breaks if b < top)
            first_row = breaks[page - 1] + 1 if page else 2
            pages[page] = max(pages.get(page, 0.0), (bottom - first_row) * row_cm)
        assert all(extent <= usable_cm for extent in pages.values()), pages


def test_dates_are_real_excel_dates_in_the_schools_time_zone(book_bytes):
    book = openpyxl.load_workbook(io.BytesIO(book_bytes))
    meetings = {r["Team"]: r for r in _rows(book["Meetings and agendas"])}
    held = meetings["Grade 3"]["Date"]
    assert isinstance(held, datetime) and held.tzinfo is None
    assert held == datetime(2026, 11, 24, 15, 30)  # 15:30 in New York, not 20:30 UTC
    checkins = _rows(book["Check-ins"])
    assert all(isinstance(r["Check-in day"], datetime) for r in checkins)
    # Grade 3 does not share names with its principal: nor the minute anyone answered.
    assert [r["Answered at (if the team shares names)"] for r in checkins] == [None] * len(checkins)
    actions = _rows(book["Action items"])
    assert {a["Due"] for a in actions} >= {datetime(2026, 11, 25)}
    assert any(a["Overdue"] == "yes" for a in actions)


def test_formula_injection_reads_back_as_text_and_no_formula_is_stored(book_bytes):
    book = openpyxl.load_workbook(io.BytesIO(book_bytes))
    text_cells = [c for ws in book for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    for prefix in ("=", "+", "-", "@"):
        found = [c for c in text_cells if c.value.startswith(prefix)]
        assert found, f"no answer starting with {prefix!r} made it into the workbook"
        assert all(c.data_type == "s" for c in found)
    assert INJECTION in [c.value for c in text_cells]
    with zipfile.ZipFile(io.BytesIO(book_bytes)) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert not re.search(r"<(\w+:)?f[ >]", z.read(name).decode()), name


def test_control_characters_are_cleaned_not_a_crash(book_bytes):
    book = openpyxl.load_workbook(io.BytesIO(book_bytes))
    tries = [r["Student evidence"] for r in _rows(book["Feedback"]) if r["Student evidence"]]
    assert "bell and escape" in tries
    assert clean_text("a\x00b\x1fc\x0bd\te\n") == "abcd\te\n"


def test_anonymous_answers_carry_no_identity_and_small_groups_stay_hidden(book_bytes):
    book = openpyxl.load_workbook(io.BytesIO(book_bytes))
    everything = _all_text(book)
    # UT3 answered Grade 3's feedback anonymously and UT5 Grade 5's: neither name appears anywhere.
    assert "Teacher UT3" not in everything and "Teacher UT5" not in everything
    feedback = _rows(book["Feedback"])
    anonymous = [r for r in feedback if r["What I will try"] == "anonymous grade 5 idea"]
    assert len(anonymous) == 1 and anonymous[0]["Name (if not anonymous and the team shares names)"] is None
    # Grade 5 shares names: a named answer carries it. Grade 3 does not: no names at all.
    assert any(r["Name (if not anonymous and the team shares names)"] == "Teacher UT4" for r in feedback)
    assert not any(r["Name (if not anonymous and the team shares names)"] for r in feedback
                   if r["Team"] == "Grade 3")
    # Grade 4 had 2 answers: one row that says so, and none of their words or ratings.
    small = [r for r in feedback if r["Team"] == "Grade 4"]
    assert len(small) == 1 and small[0]["Note"] == "fewer than 3 answers" and small[0]["Useful (1-5)"] is None
    assert "tiny group comment" not in everything and "another tiny comment" not in everything


def test_checkin_notes_carry_names_only_where_shared_but_support_requests_do(book_bytes):
    book = openpyxl.load_workbook(io.BytesIO(book_bytes))
    checkins = _rows(book["Check-ins"])
    assert {r["Team"] for r in checkins} == {"Grade 3"}
    assert all(r["Teacher (if the team shares names)"] is None for r in checkins)
    assert "-3 kids below 40 wpm" in [r["Evidence"] for r in checkins]
    support = _rows(book["Support requests"])
    assert [(r["Teacher"], r["What would help"], r["State"]) for r in support] == [
        ("Teacher UT2", "=2+2 help with grouping", "waiting")]


def test_meetings_sheet_shows_agenda_attendance_and_decisions(book_bytes):
    book = openpyxl.load_workbook(io.BytesIO(book_bytes))
    meetings = {r["Team"]: r for r in _rows(book["Meetings and agendas"])}
    g3 = meetings["Grade 3"]
    assert g3["Agenda posted"] == "yes" and g3["Agenda items"] == 2
    assert g3["Agenda"].startswith("1. =SUM(A1:A9) fluency data (10 min)")
    assert (g3["Present"], g3["Absent"]) == (3, 1) and g3["Decisions"].startswith("@group")
    assert meetings["Grade 5"]["Status"] == "scheduled" and meetings["Grade 5"]["Present"] is None
    # The agenda's lines wrap within the column, in a row tall enough for them all.
    ws = book["Meetings and agendas"]
    col = [c.value for c in ws[1]].index("Agenda") + 1
    for r in range(2, ws.max_row + 1):
        cell = ws.cell(row=r, column=col)
        lines = (cell.value or "").count("\n") + 1
        if lines > 1:
            assert cell.alignment.wrap_text and ws.row_dimensions[r].height >= 15 * lines


def test_aware_datetimes_are_converted_and_write_only_mode_is_used(tmp_path):
    from datetime import UTC

    book = DigestWorkbook("America/Chicago")
    assert book.wb.write_only
    from bot.render.workbook import Column

    book.sheet("T", (Column("When", 17, "datetime"), Column("Day", 12, "date"), Column("Note", 20)),
               [(datetime(2026, 1, 5, 18, 0, tzinfo=UTC), date(2026, 1, 5), "\x01=cmd")])
    book.save(tmp_path / "t.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "t.xlsx")["T"]
    assert ws["A2"].value == datetime(2026, 1, 5, 12, 0) and ws["C2"].value == "=cmd"
    assert ws["C2"].data_type == "s"


def _week_book(bot, school_id: int) -> openpyxl.Workbook:  # noqa: ANN001
    with bot.db.read() as session:
        digest = data.build_digests(session, W48, school_ids=[school_id], min_group_size=3)[school_id]
        buffer = io.BytesIO()
        write_week_workbook(session, [digest], buffer, min_group_size=3)
    return openpyxl.load_workbook(buffer)


def test_checkin_answer_times_only_where_names_are_shared_in_the_schools_time(bot):
    from storage.models import Team

    week = seed_week(bot)
    with bot.db.session() as s:
        s.get(Team, week.teams["Grade 3"]).share_names_with_principal = True
    checkins = _rows(_week_book(bot, week.school_id)["Check-ins"])
    ut2 = [r for r in checkins if r["Teacher (if the team shares names)"] == "Teacher UT2"]
    # Answered 15:00 in New York (20:00 UTC): a real Excel date, on the school's clock.
    assert [r["Answered at (if the team shares names)"] for r in ut2] == [datetime(2026, 11, 26, 15, 0)]


@pytest.mark.parametrize("value, expected", [
    ("#N/A", "#N/A"), ("#hashtag", "#hashtag"), ("=1+1", "=1+1"), ("\x02=cmd", "=cmd"), ("007", "007"),
    ("\x01\x02", None), (42, "42"), ("x" * 40000, "x" * 32767), ("-1", "-1"), ("+1", "+1"), ("@x", "@x"),
])
def test_text_cells_stay_text_whatever_they_look_like(tmp_path, value, expected):
    from bot.render.workbook import Column

    book = DigestWorkbook("UTC")
    book.sheet("T", (Column("Note", 20), Column("N", 8, "int")), [(value, value)])
    book.save(tmp_path / "t.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "t.xlsx")["T"]
    assert ws["A2"].value == expected
    if expected is not None:
        assert ws["A2"].data_type == "s"
    # A number column keeps a number a number, and anything else as text, never a formula or an error.
    assert ws["B2"].value == (42 if value == 42 else expected)
    assert ws["B2"].data_type == ("n" if value == 42 else "s" if expected is not None else "n")
