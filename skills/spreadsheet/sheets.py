"""Build and read .xlsx workbooks in the sandbox (openpyxl): styled tables, formulas, charts,
bounded reads, and formula checks (`formulas_eval`)."""

import re
import zipfile

from formulas_eval import evaluate  # noqa: F401  (part of this module's API)

MAX_ROWS = 100_000
MAX_UNPACKED = 300 << 20
MAX_RATIO = 150
HEADER_FILL = "D9E1F2"
_CHARTS = {"bar": "BarChart", "column": "BarChart", "line": "LineChart", "pie": "PieChart", "scatter": "ScatterChart",
           "area": "AreaChart"}


def write_table(ws, rows, start="A1", header=True, number_formats=None, widths=True, freeze=True, autofilter=True):
    """Write `rows` (lists, or dicts keyed by the header) at `start`; bold filled header, number
    formats per column name or letter (e.g. {"Amount": "#,##0.00"}), fitted widths, frozen header.
    Values starting with '=' are formulas. Returns the table's range, e.g. 'A1:D9'."""
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.utils.cell import coordinate_from_string, column_index_from_string

    rows = list(rows)
    if rows and isinstance(rows[0], dict):
        columns = list(dict.fromkeys(k for r in rows for k in r))
        rows = [columns] + [[r.get(c) for c in columns] for r in rows]
    if not rows:
        raise ValueError("write_table needs at least one row")
    letters, first_row = coordinate_from_string(start)
    first_col = column_index_from_string(letters)
    for r, values in enumerate(rows):
        for c, value in enumerate(values):
            ws.cell(row=first_row + r, column=first_col + c, value=value)
    width = max(len(r) for r in rows)
    last = f"{get_column_letter(first_col + width - 1)}{first_row + len(rows) - 1}"
    if header:
        for c in range(width):
            cell = ws.cell(row=first_row, column=first_col + c)
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor=HEADER_FILL)
            cell.alignment = Alignment(horizontal="center")
        if freeze:
            ws.freeze_panes = ws.cell(row=first_row + 1, column=first_col)
        if autofilter:
            ws.auto_filter.ref = f"{start}:{last}"
    for key, fmt in (number_formats or {}).items():
        if header and key in rows[0]:
            col = first_col + list(rows[0]).index(key)
        else:
            col = column_index_from_string(key)
        for r in range(first_row + (1 if header else 0), first_row + len(rows)):
            ws.cell(row=r, column=col).number_format = fmt
    if widths:
        for c in range(width):
            longest = max(len(str(r[c])) if c < len(r) and r[c] is not None and not str(r[c]).startswith("=") else 8
                          for r in rows)
            ws.column_dimensions[get_column_letter(first_col + c)].width = min(60, max(8, longest + 2))
    return f"{start}:{last}"


def add_chart(ws, kind, data, categories=None, anchor="H2", title=None, y_title=None, x_title=None):
    """A native Excel chart ('bar', 'column', 'line', 'pie', 'scatter', 'area') of `data` (a range
    with its header row, e.g. 'B1:C9') against `categories` ('A2:A9'), placed at `anchor`."""
    from openpyxl import chart as charts
    from openpyxl.chart import Reference
    from openpyxl.utils.cell import range_boundaries

    if kind not in _CHARTS:
        raise ValueError(f"chart kind {kind!r} is not one of {', '.join(_CHARTS)}")
    chart = getattr(charts, _CHARTS[kind])()
    if kind == "bar":
        chart.type = "bar"
    min_col, min_row, max_col, max_row = range_boundaries(data)
    values = Reference(ws, min_col=min_col, min_row=min_row, max_col=max_col, max_row=max_row)
    chart.add_data(values, titles_from_data=True)
    if categories:
        c0, r0, c1, r1 = range_boundaries(categories)
        chart.set_categories(Reference(ws, min_col=c0, min_row=r0, max_col=c1, max_row=r1))
    if title:
        chart.title = title
    if y_title and hasattr(chart, "y_axis"):
        chart.y_axis.title = y_title
    if x_title and hasattr(chart, "x_axis"):
        chart.x_axis.title = x_title
    ws.add_chart(chart, anchor)
    return chart


def recalc_on_open(wb):
    """Ask Excel/LibreOffice to recompute every formula when the file is opened."""
    from openpyxl.workbook.properties import CalcProperties

    wb.calculation = wb.calculation or CalcProperties()
    wb.calculation.fullCalcOnLoad = True
    return wb


def check_archive(path):
    """Refuse an .xlsx that would unpack past MAX_UNPACKED bytes or at a zip bomb's ratio."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(f"{path} is not an .xlsx file (not a zip archive)") from None
    with archive:
        total = sum(m.file_size for m in archive.infolist())
        packed = sum(m.compress_size for m in archive.infolist()) or 1
    if total > MAX_UNPACKED or (total > (1 << 20) and total / packed > MAX_RATIO):
        raise ValueError(f"{path} would unpack to {total / 1e6:.0f} MB ({total / packed:.0f}x its size): "
                         "over the limits (a zip bomb?); refused")
    return total


def _dimensions(path):
    """{sheet file: rows} from each worksheet's <dimension ref> (read without loading the sheet)."""
    out = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                with archive.open(name) as f:
                    head = f.read(4096).decode("utf-8", "replace")
                match = re.search(r'<dimension ref="[A-Z]*\d*:?[A-Z]*(\d+)"', head)
                if match:
                    out[name] = int(match.group(1))
    return out


def read_sheet(path, sheet=None, max_rows=MAX_ROWS, values=True):
    """The rows of a sheet as lists (formulas' cached values when `values`); a workbook with more
    than `max_rows` rows in a sheet is refused before it is loaded. Use pandas for analysis:
    `pd.DataFrame(rows[1:], columns=rows[0])`."""
    from openpyxl import load_workbook

    check_archive(path)
    for part, rows in _dimensions(path).items():
        if rows > max_rows:
            raise ValueError(f"{path} has {rows:,} rows in {part.rsplit('/', 1)[-1]}, over max_rows={max_rows:,}; "
                             f"read part of it with read_sheet(path, max_rows=...) after narrowing it, or "
                             f"pandas.read_excel(path, nrows=...)")
    wb = load_workbook(path, read_only=True, data_only=values)
    try:
        ws = wb[sheet] if sheet else wb.worksheets[0]
        out = []
        for row in ws.iter_rows(values_only=True):
            if len(out) >= max_rows:
                raise ValueError(f"{path}: sheet {ws.title!r} has more than max_rows={max_rows:,} rows")
            out.append(list(row))
        return out
    finally:
        wb.close()


def describe(path):
    """{sheets: [{name, rows, columns, formulas, charts}]} for a workbook (bounded like read_sheet)."""
    from openpyxl import load_workbook

    check_archive(path)
    big = [f"{p} ({n:,} rows)" for p, n in _dimensions(path).items() if n > MAX_ROWS]
    if big:
        raise ValueError(f"{path} is too large to describe: {', '.join(big)}; use read_sheet with max_rows")
    wb = load_workbook(path)
    sheets = []
    for ws in wb.worksheets:
        formulas = sum(1 for row in ws.iter_rows() for c in row if isinstance(c.value, str) and c.value.startswith("="))
        sheets.append({"name": ws.title, "rows": ws.max_row, "columns": ws.max_column, "formulas": formulas,
                       "charts": len(ws._charts)})
    return {"sheets": sheets}
