"""Evaluate the formulas of an .xlsx workbook in pure Python (runs inside the sandbox).

openpyxl stores formulas as text and computes nothing. `evaluate(path)` parses every formula with
openpyxl's tokenizer and computes it: arithmetic, comparison and `&`, cell and range references
(other sheets, `$` anchors, defined names), and the common functions (`FUNCTIONS`). Errors come
out as Excel's tokens (#DIV/0!, #VALUE!, #REF!, #NAME?, #N/A); a cycle is reported as #CIRCULAR!.
"""

import math
import re

from openpyxl.formula.tokenizer import Token, Tokenizer
from openpyxl.utils.cell import get_column_letter, range_boundaries


class XLError(str):
    """An Excel error value such as '#DIV/0!'."""


DIV0, VALUE, REF, NAME, NA, NUM, CIRC = (XLError(e) for e in ("#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#N/A",
                                                                  "#NUM!", "#CIRCULAR!"))
_ERRORS = {e: e for e in (DIV0, VALUE, REF, NAME, NA, NUM, CIRC, XLError("#NULL!"))}


class _Fail(Exception):
    def __init__(self, error):
        self.error = error


class Range:
    """A rectangle of values (rows of columns)."""

    def __init__(self, rows):
        self.rows = rows

    def values(self):
        return [v for row in self.rows for v in row]


def _num(value):
    if isinstance(value, XLError):
        raise _Fail(value)
    if isinstance(value, Range):
        if len(value.rows) == 1 and len(value.rows[0]) == 1:
            return _num(value.rows[0][0])
        raise _Fail(VALUE)
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    try:
        return float(str(value).strip().rstrip("%")) / (100 if str(value).strip().endswith("%") else 1)
    except ValueError:
        raise _Fail(VALUE) from None


def _text(value):
    if isinstance(value, XLError):
        raise _Fail(value)
    if isinstance(value, Range):
        return _text(_scalar(value))
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _scalar(value):
    if isinstance(value, Range):
        if len(value.rows) == 1 and len(value.rows[0]) == 1:
            return value.rows[0][0]
        raise _Fail(VALUE)
    return value


def _bool(value):
    value = _scalar(value)
    if isinstance(value, str) and not isinstance(value, XLError):
        if value.upper() in ("TRUE", "FALSE"):
            return value.upper() == "TRUE"
        raise _Fail(VALUE)
    return bool(_num(value))


def _numbers(args):
    """Numbers from arguments the way SUM sees them: ranges skip text and blanks."""
    out = []
    for arg in args:
        if isinstance(arg, Range):
            for v in arg.values():
                if isinstance(v, XLError):
                    raise _Fail(v)
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    out.append(v)
        else:
            out.append(_num(arg))
    return out


def _criterion(criterion):
    text = _text(criterion) if not isinstance(criterion, (int, float)) else None
    if text is None:
        return lambda v: not isinstance(v, bool) and isinstance(v, (int, float)) and v == criterion
    match = re.match(r"^(<=|>=|<>|=|<|>)?(.*)$", text, re.S)
    op, operand = match.group(1) or "=", match.group(2)
    try:
        number = float(operand)
    except ValueError:
        number = None
    if number is not None:
        compare = {"=": lambda a: a == number, "<>": lambda a: a != number, "<": lambda a: a < number,
                   ">": lambda a: a > number, "<=": lambda a: a <= number, ">=": lambda a: a >= number}[op]

        def test(v):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                return op == "<>"
            return compare(v)
        return test
    pattern = re.compile("^" + re.escape(operand).replace(r"\*", ".*").replace(r"\?", ".") + "$", re.I | re.S)
    if op == "=":
        return lambda v: bool(pattern.match(_text(v)))
    if op == "<>":
        return lambda v: not pattern.match(_text(v))
    return lambda v: isinstance(v, str) and {"<": v < operand, ">": v > operand, "<=": v <= operand,
                                               ">=": v >= operand}[op]


def _if(ev, args):
    cond = _bool(ev(args[0]))
    if cond:
        return ev(args[1]) if len(args) > 1 else True
    return ev(args[2]) if len(args) > 2 else False


def _iferror(ev, args):
    try:
        value = _scalar(ev(args[0]))
    except _Fail:
        return ev(args[1])
    return ev(args[1]) if isinstance(value, XLError) else value


def _and(ev, args):
    return all(_bool(v) for a in args for v in (ev(a).values() if isinstance(ev(a), Range) else [ev(a)]))


def _or(ev, args):
    return any(_bool(v) for a in args for v in (ev(a).values() if isinstance(ev(a), Range) else [ev(a)]))


def _round(value, digits=0, mode=None):
    x, d = _num(value), int(_num(digits))
    factor = 10 ** d
    if mode == "up":
        return math.copysign(math.ceil(abs(x) * factor - 1e-9) / factor, x)
    if mode == "down":
        return math.copysign(math.floor(abs(x) * factor + 1e-9) / factor, x)
    return math.copysign(math.floor(abs(x) * factor + 0.5) / factor, x)


def _lookup_index(key, values, mode):
    key = _scalar(key)
    if mode == 0:
        for i, v in enumerate(values):
            if (isinstance(key, str) and isinstance(v, str) and key.lower() == v.lower()) or v == key:
                return i
        raise _Fail(NA)
    best = None
    for i, v in enumerate(values):
        if v is None or isinstance(v, str) != isinstance(key, str):
            continue
        if v <= key:
            best = i
        else:
            break
    if best is None:
        raise _Fail(NA)
    return best


def _vlookup(key, table, column, approximate=True):
    column = int(_num(column))
    if not isinstance(table, Range) or not 1 <= column <= len(table.rows[0]):
        raise _Fail(REF)
    row = _lookup_index(key, [r[0] for r in table.rows], 1 if _bool(approximate) else 0)
    return table.rows[row][column - 1]


def _match(key, values, mode=1):
    if not isinstance(values, Range):
        raise _Fail(NA)
    return _lookup_index(key, values.values(), int(_num(mode))) + 1


def _index(table, row, column=None):
    if not isinstance(table, Range):
        raise _Fail(REF)
    r = int(_num(row))
    c = int(_num(column)) if column is not None else 1
    if len(table.rows) == 1 and column is None:
        r, c = 1, r
    if not (1 <= r <= len(table.rows) and 1 <= c <= len(table.rows[0])):
        raise _Fail(REF)
    return table.rows[r - 1][c - 1]


def _divide(a, b):
    b = _num(b)
    if b == 0:
        raise _Fail(DIV0)
    return _num(a) / b


def _average(*args):
    values = _numbers(args)
    if not values:
        raise _Fail(DIV0)
    return sum(values) / len(values)


def _sumif(values, criterion, sum_range=None):
    test = _criterion(_scalar(criterion))
    cells = values.values() if isinstance(values, Range) else [values]
    targets = sum_range.values() if isinstance(sum_range, Range) else cells
    return sum(t for v, t in zip(cells, targets) if test(v) and isinstance(t, (int, float)) and not isinstance(t, bool))


def _countif(values, criterion):
    test = _criterion(_scalar(criterion))
    return sum(1 for v in (values.values() if isinstance(values, Range) else [values]) if test(v))


def _averageif(values, criterion, avg_range=None):
    test = _criterion(_scalar(criterion))
    cells = values.values()
    targets = avg_range.values() if isinstance(avg_range, Range) else cells
    chosen = [t for v, t in zip(cells, targets) if test(v) and isinstance(t, (int, float)) and not isinstance(t, bool)]
    if not chosen:
        raise _Fail(DIV0)
    return sum(chosen) / len(chosen)


def _sumproduct(*ranges):
    columns = [r.values() if isinstance(r, Range) else [r] for r in ranges]
    if len({len(c) for c in columns}) != 1:
        raise _Fail(VALUE)
    total = 0
    for items in zip(*columns):
        product = 1
        for v in items:
            product *= v if isinstance(v, (int, float)) and not isinstance(v, bool) else 0
        total += product
    return total


def _mod(a, b):
    b = _num(b)
    if b == 0:
        raise _Fail(DIV0)
    return _num(a) % b


def _sqrt(value):
    x = _num(value)
    if x < 0:
        raise _Fail(NUM)
    return math.sqrt(x)


def _count(*args):
    return sum(1 for a in args for v in (a.values() if isinstance(a, Range) else [a])
               if isinstance(v, (int, float)) and not isinstance(v, bool))


def _counta(*args):
    return sum(1 for a in args for v in (a.values() if isinstance(a, Range) else [a]) if v not in (None, ""))


def _product(*args):
    return math.prod(_numbers(args))


def _is(test):
    def check(value):
        try:
            return test(_scalar(value))
        except _Fail as e:
            return test(e.error)
    return check


# name -> function of evaluated arguments; LAZY ones get (evaluate, raw argument nodes).
FUNCTIONS = {
    "SUM": lambda *a: sum(_numbers(a)), "AVERAGE": _average, "MIN": lambda *a: min(_numbers(a), default=0),
    "MAX": lambda *a: max(_numbers(a), default=0), "COUNT": _count, "COUNTA": _counta,
    "COUNTBLANK": lambda r: sum(1 for v in r.values() if v in (None, "")), "PRODUCT": _product,
    "ROUND": _round, "ROUNDUP": lambda v, d=0: _round(v, d, "up"), "ROUNDDOWN": lambda v, d=0: _round(v, d, "down"),
    "INT": lambda v: math.floor(_num(v)), "ABS": lambda v: abs(_num(v)), "MOD": _mod,
    "POWER": lambda a, b: _num(a) ** _num(b), "SQRT": _sqrt, "NOT": lambda v: not _bool(v),
    "CONCAT": lambda *a: "".join(_text(v) for x in a for v in (x.values() if isinstance(x, Range) else [x])),
    "CONCATENATE": lambda *a: "".join(_text(v) for v in a), "LEN": lambda v: len(_text(v)),
    "UPPER": lambda v: _text(v).upper(), "LOWER": lambda v: _text(v).lower(),
    "TRIM": lambda v: " ".join(_text(v).split()), "LEFT": lambda v, n=1: _text(v)[:int(_num(n))],
    "RIGHT": lambda v, n=1: _text(v)[-int(_num(n)):] if int(_num(n)) else "",
    "MID": lambda v, s, n: _text(v)[int(_num(s)) - 1:int(_num(s)) - 1 + int(_num(n))],
    "SUMIF": _sumif, "COUNTIF": _countif, "AVERAGEIF": _averageif, "SUMPRODUCT": _sumproduct,
    "VLOOKUP": _vlookup, "MATCH": _match, "INDEX": _index,
    "ISBLANK": _is(lambda v: v is None), "ISNUMBER": _is(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
    "ISTEXT": _is(lambda v: isinstance(v, str) and not isinstance(v, XLError)), "ISERROR": _is(lambda v: isinstance(v, XLError)),
}
LAZY = {"IF": _if, "IFERROR": _iferror, "AND": _and, "OR": _or}


class _Parser:
    """Tokens of one formula -> a small tree: ('num'|'str'|'bool'|'err'|'ref', v), ('fn', name, args),
    ('op', op, a, b), ('neg', a), ('pct', a)."""

    def __init__(self, formula):
        self.tokens = [t for t in Tokenizer(formula).items if t.type != Token.WSPACE]
        self.i = 0

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self):
        token = self.peek()
        self.i += 1
        return token

    def parse(self):
        node = self.binary(0)
        if self.peek() is not None:
            raise _Fail(VALUE)
        return node

    LEVELS = (("=", "<>", "<", ">", "<=", ">="), ("&",), ("+", "-"), ("*", "/"), ("^",))

    def binary(self, level):
        if level == len(self.LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while (t := self.peek()) is not None and t.type == Token.OP_IN and t.value in self.LEVELS[level]:
            self.take()
            node = ("op", t.value, node, self.binary(level + 1))
        return node

    def unary(self):
        t = self.peek()
        if t is not None and t.type == Token.OP_PRE:
            self.take()
            inner = self.unary()
            return ("neg", inner) if t.value == "-" else inner
        node = self.primary()
        while (t := self.peek()) is not None and t.type == Token.OP_POST:
            self.take()
            node = ("pct", node)
        return node

    def primary(self):
        t = self.take()
        if t is None:
            raise _Fail(VALUE)
        if t.type == Token.OPERAND:
            if t.subtype == Token.NUMBER:
                return ("num", float(t.value) if any(c in t.value for c in ".eE") else int(t.value))
            if t.subtype == Token.TEXT:
                return ("str", t.value[1:-1].replace('""', '"'))
            if t.subtype == Token.LOGICAL:
                return ("bool", t.value.upper() == "TRUE")
            if t.subtype == Token.ERROR:
                return ("err", _ERRORS.get(t.value, XLError(t.value)))
            return ("ref", t.value)
        if t.type == Token.FUNC and t.subtype == Token.OPEN:
            name, args = t.value[:-1].upper().removeprefix("_XLFN."), []
            if self.peek() is not None and self.peek().type == Token.FUNC and self.peek().subtype == Token.CLOSE:
                self.take()
                return ("fn", name, args)
            while True:
                if self.peek() is not None and self.peek().type == Token.SEP:
                    args.append(("str", None))  # an empty argument
                else:
                    args.append(self.binary(0))
                t = self.take()
                if t is None:
                    raise _Fail(VALUE)
                if t.type == Token.FUNC and t.subtype == Token.CLOSE:
                    return ("fn", name, args)
                if t.type != Token.SEP:
                    raise _Fail(VALUE)
        if t.type == Token.PAREN and t.subtype == Token.OPEN:
            node = self.binary(0)
            closing = self.take()
            if closing is None or closing.type != Token.PAREN:
                raise _Fail(VALUE)
            return node
        raise _Fail(VALUE)


class Workbook:
    """Formula values of an openpyxl workbook (loaded with formulas, not data_only)."""

    def __init__(self, wb, max_cells=2_000_000):
        self.wb = wb
        self.max_cells = max_cells
        self.values = {}
        self.active = set()
        self.unknown = set()

    def cell(self, sheet, ref):
        key = (sheet, ref)
        if key in self.values:
            return self.values[key]
        if key in self.active:
            return CIRC
        if sheet not in self.wb.sheetnames:
            return REF
        raw = self.wb[sheet][ref].value
        if isinstance(raw, str) and raw.startswith("="):
            self.active.add(key)
            try:
                value = self.formula(sheet, raw)
            finally:
                self.active.discard(key)
        else:
            value = raw
        self.values[key] = value
        return value

    def formula(self, sheet, text):
        try:
            tree = _Parser(text).parse()
            value = _scalar(self.eval(tree, sheet))
        except _Fail as e:
            return e.error
        except (ValueError, TypeError, OverflowError, ZeroDivisionError, IndexError):
            return VALUE
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            return NUM
        return value

    def ref(self, sheet, text):
        if "!" in text:
            sheet, text = text.rsplit("!", 1)
            sheet = sheet.strip("'").replace("''", "'")
        if sheet not in self.wb.sheetnames:
            raise _Fail(REF)
        if ":" not in text and not re.match(r"^\$?[A-Za-z]{1,3}\$?\d+$", text):
            defined = self.wb.defined_names.get(text)
            if defined is None:
                raise _Fail(NAME)
            destinations = list(defined.destinations)
            if len(destinations) != 1:
                raise _Fail(REF)
            return self.ref(*destinations[0])
        text = text.replace("$", "")
        ws = self.wb[sheet]
        try:
            min_col, min_row, max_col, max_row = range_boundaries(text)
        except ValueError:
            raise _Fail(REF) from None
        min_row, max_row = min_row or 1, max_row or ws.max_row
        min_col, max_col = min_col or 1, max_col or ws.max_column
        if ":" not in text:
            return self.cell(sheet, text.upper())
        if (max_row - min_row + 1) * (max_col - min_col + 1) > self.max_cells:
            raise _Fail(REF)
        return Range([[self.cell(sheet, f"{get_column_letter(c)}{r}") for c in range(min_col, max_col + 1)]
                      for r in range(min_row, max_row + 1)])

    def eval(self, node, sheet):
        kind = node[0]
        if kind in ("num", "str", "bool"):
            return node[1]
        if kind == "err":
            raise _Fail(node[1])
        if kind == "ref":
            return self.ref(sheet, node[1])
        if kind == "neg":
            return -_num(self.eval(node[1], sheet))
        if kind == "pct":
            return _num(self.eval(node[1], sheet)) / 100
        if kind == "fn":
            name, args = node[1], node[2]
            if name in LAZY:
                return LAZY[name](lambda n: self.eval(n, sheet), args)
            fn = FUNCTIONS.get(name)
            if fn is None:
                self.unknown.add(name)
                raise _Fail(NAME)
            values = [self.eval(a, sheet) for a in args]
            for v in values:
                if isinstance(v, XLError):
                    raise _Fail(v)
            return fn(*values)
        op, a, b = node[1], self.eval(node[2], sheet), self.eval(node[3], sheet)
        if op == "&":
            return _text(a) + _text(b)
        if op in ("+", "-", "*", "/", "^"):
            x, y = _num(a), _num(b)
            if op == "/":
                return _divide(x, y)
            return {"+": x + y, "-": x - y, "*": x * y, "^": x ** y if (x or y > 0) else 0}[op]
        a, b = _scalar(a), _scalar(b)
        for v in (a, b):
            if isinstance(v, XLError):
                raise _Fail(v)
        if isinstance(a, str) and isinstance(b, str):
            a, b = a.lower(), b.lower()
        elif isinstance(a, str) != isinstance(b, str):
            a, b = (0, 1) if isinstance(b, str) else (1, 0)  # Excel: text sorts after numbers
        a = 0 if a is None else a
        b = 0 if b is None else b
        return {"=": a == b, "<>": a != b, "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]


def evaluate(path_or_workbook):
    """{ok, formulas, errors, breakdown: {token: {count, cells}}, computed: {'Sheet!A1': value},
    unsupported: [function names]} for every formula of the workbook."""
    from openpyxl import load_workbook

    wb = load_workbook(path_or_workbook) if isinstance(path_or_workbook, str) else path_or_workbook
    book = Workbook(wb)
    computed, breakdown = {}, {}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    value = book.cell(ws.title, cell.coordinate)
                    where = f"{ws.title}!{cell.coordinate}"
                    computed[where] = value
                    if isinstance(value, XLError):
                        entry = breakdown.setdefault(str(value), {"count": 0, "cells": []})
                        entry["count"] += 1
                        entry["cells"].append(where)
    errors = sum(e["count"] for e in breakdown.values())
    return {"ok": errors == 0, "formulas": len(computed), "errors": errors, "breakdown": breakdown,
            "computed": {k: (str(v) if isinstance(v, XLError) else v) for k, v in computed.items()},
            "unsupported": sorted(book.unknown)}
