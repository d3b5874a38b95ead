"""Pre-flight check of the lab's three input files, before a run starts.

Why: the upstream loaders (mosaik-pypower, mosaik-householdsim, mosaik-csv)
fail on malformed data with tracebacks from deep inside (KeyError,
IndexError, pandas errors) or, worse, run happily with garbage: NaN power, a
PV series that silently repeats its last row, a house on a bus that does not
exist. These checks read each file the way its loader does, are at least as
strict, and raise one :class:`InputError` that names the file, the line (or
JSON path), what is wrong and what was expected.

    check_inputs(data_dir, grid_name, steps, start=...)   # all three files

``steps`` is the number of one-minute simulation steps (the demo day: 1440);
``start`` the simulation start (default: each series' own first timestamp).
The formats are described in ``data/README.md``.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import math
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from mosaik_components.mosaik_pypower import resource_db as rdb

from smartgrid_lab.datagen import GRID_FILE, HOUSEHOLDS_FILE, PV_FILE

__all__ = ["InputError", "check_grid", "check_households", "check_pv", "check_inputs"]

MINUTE = timedelta(minutes=1)
MAX_POWER_W = 1e9  # |P| above 1 GW is no house or rooftop PV (and overflows pandas' ints)
YEARS = (1900, 2200)  # inside pandas' datetime64[ns] range (1677-2262)
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}(:[0-9]{2})?")
NUMBER_RE = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
UINT_RE = re.compile(r"[0-9]+")
INT_KEY_RE = re.compile(r"-?[0-9]+")
MODEL_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class InputError(ValueError):
    """A malformed input file; ``str()`` is one paragraph a lab user can act on.

    It names the file, where in it (``line`` and/or a JSON path in ``at``),
    what is wrong (``problem``) and what was expected (``expected``).
    """

    def __init__(self, path, problem: str, expected: str = "", *,
                 line: int | None = None, at: str | None = None):
        self.path, self.problem, self.expected = str(path), problem, expected
        self.line, self.at = line, at
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.line and self.at:
            where = f"line {self.line} ({self.at})"
        else:
            where = f"line {self.line}" if self.line else self.at or ""
        text = f"{self.path}, {where}: {self.problem}" if where else f"{self.path}: {self.problem}"
        if self.expected:
            text += f"; expected {self.expected}"
        return " ".join(text.splitlines()) + "."

    def __reduce__(self):  # picklable despite the keyword-only arguments
        return _rebuild, (self.path, self.problem, self.expected, self.line, self.at)


def _rebuild(path, problem, expected, line, at) -> InputError:
    return InputError(path, problem, expected, line=line, at=at)


def _show(value, limit: int = 60) -> str:
    """*value* as found in the file, on one line: text quoted, JSON values as JSON."""
    text = value if isinstance(value, str) else json.dumps(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return repr(text) if isinstance(value, str) else text


def _some(names: Iterable[str], limit: int = 5) -> str:
    """A few of *names*, quoted, for 'expected one of ...'."""
    names = list(names)
    shown = ", ".join(_show(n, 30) for n in names[:limit])
    return shown + (f" … ({len(names)} in all)" if len(names) > limit else "")


def _read_lines(path: Path) -> list[str]:
    """The file's lines without line ends, split as Python's text mode does.

    (Both householdsim and mosaik-csv open files in text mode, so \\r\\n and
    \\r end lines too; nothing else does.)
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(path, f"cannot be read ({e.strerror or e})",
                         "a readable file") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(path, f"is not UTF-8 text (byte {e.start} is {data[e.start]:#04x})",
                         "UTF-8 text", line=data[:e.start].count(b"\n") + 1) from None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[-1] == "":
        lines.pop()  # the file ends with a line end
    return lines


def _parse_date(text: str, seconds: bool | None = None) -> datetime | None:
    """``YYYY-MM-DD HH:MM[:SS]`` as a datetime, or None if it is not one.

    *seconds*: True = seconds required, False = forbidden, None = either.
    Strict (ASCII digits, zero-padded, years 1900-2200) so that arrow and
    pandas parse every date this accepts to the same instant.
    """
    if not DATE_RE.fullmatch(text) or (seconds is not None and (len(text) == 19) != seconds):
        return None
    try:  # (faster than strptime, and the regex has fixed the layout)
        date = datetime(int(text[:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]),
                        int(text[14:16]), int(text[17:19] or 0))
    except ValueError:
        return None
    return date if YEARS[0] <= date.year <= YEARS[1] else None


def _parse_start(start) -> datetime | None:
    """The caller's simulation start (None, a datetime or a date string)."""
    if start is None or isinstance(start, datetime):
        return start
    date = _parse_date(str(start))
    if date is None:
        raise ValueError(f"start {start!r} is not a date 'YYYY-MM-DD HH:MM[:SS]'")
    return date


def _check_steps(steps) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive number of minutes, not {steps!r}")


def _number(text: str) -> float | None:
    """A plain decimal number (as pandas and float() both read it), else None."""
    return float(text) if NUMBER_RE.fullmatch(text) else None


# --- grid.json (mosaik-pypower) -----------------------------------------------------

# Plausible ranges: (low, high, low is allowed). Beyond them a file is wrong
# (or a unit slipped), and the power flow would divide by zero or overflow.
KV = (0, 1500, False)
LENGTH_KM = (0, 10_000, False)
R_X = (0, 1e6, True)
C_NF = (0, 1e6, True)
I_MAX = (0, 1e6, False)
S_MVA = (0, 1e4, False)
P_LOSS_KW = (0, 1e6, True)
U_K_PCT = (0, 100, False)
BASE_MVA = (0, 1e5, False)
TAP_RATIO = (0.5, 2.0, True)

LINE_FIELDS = (("R'", "Ohm/km", R_X), ("X'", "Ohm/km", R_X), ("C'", "nF/km", C_NF),
               ("I_max", "A", I_MAX))
TRAFO_FIELDS = (("S_r", "MVA", S_MVA), ("I_max_p", "A", I_MAX), ("I_max_s", "A", I_MAX),
                ("P_loss", "kW", P_LOSS_KW), ("R", "Ohm", R_X), ("X", "Ohm", R_X))


def _json_number(value) -> float | None:
    """*value* as a float if it is a JSON number (a bool is not), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf


class _Grid:
    """One pass over a parsed grid.json; :meth:`fail` names the line of a JSON path."""

    def __init__(self, path: Path, text: str, case, starts: dict[int, int]):
        self.path, self.text, self.case, self.starts = path, text, case, starts
        self.ids: dict[str, str] = {}  # element id -> JSON path, over all tables
        self.bus_kv: dict[str, float] = {}
        self.edges: list[tuple[str, str]] = []  # online trafos and branches

    def fail(self, at: str, problem: str, expected: str = ""):
        """Raise for the JSON path *at* (``bus[3]``, ``trafo_types["T"]``, ``bus``)."""
        raise InputError(self.path, problem, expected, line=self._line(at), at=at)

    def _line(self, at: str) -> int | None:
        """The line where the row or table *at* starts in the file, if known."""
        m = re.fullmatch(r'(\w+)(?:\[(\d+)\]|\[(".*")\])?', at)
        if not m or not isinstance(self.case, dict):
            return None
        key, index, name = m.groups()
        value = self.case.get(key)
        try:
            if index is not None:
                value = value[int(index)]
            elif name is not None:
                value = value[json.loads(name)]
        except (LookupError, TypeError, ValueError):
            value = None
        pos = self.starts.get(id(value)) if isinstance(value, list) else None
        if pos is None:  # not a list: the line of the table's key
            found = [m.start() for m in re.finditer(re.escape(json.dumps(key)) + r"\s*:",
                                                     self.text)]
            pos = found[0] if len(found) == 1 else None
        return None if pos is None else self.text.count("\n", 0, pos) + 1

    def number(self, value, at, name, unit, limits) -> float:
        low, high, low_ok = limits
        x = _json_number(value)
        if x is None:
            self.fail(at, f"{name} is {_show(value)}, not a number",
                      f"a number{' in ' + unit if unit else ''}")
        if not (math.isfinite(x) and (low <= x if low_ok else low < x) and x <= high):
            unit = f" {unit}" if unit else ""
            bound = f"{'≥' if low_ok else '>'} {low:g} and ≤ {high:g}{unit}"
            self.fail(at, f"{name} is {_show(value)}{unit}, which is not physically sensible",
                      f"a finite number {bound}")
        return x

    def row(self, table: str, i: int, row, fields: str):
        """Check row *i* of *table* has the *fields* and a new id; return its path and id."""
        names = fields.split(", ")
        at = f"{table}[{i}]"
        row_id = row[0] if isinstance(row, list) and row else None
        if not isinstance(row, list) or len(row) != len(names):
            self.fail(at, f"the row is {_show(row)}",
                      f"a list of {len(names)} fields [{fields}]")
        if not isinstance(row_id, str) or not row_id:
            self.fail(at, f"the id is {_show(row_id)}", "a non-empty string")
        if row_id == "grid":
            self.fail(at, "the id 'grid' is reserved",
                      "another id: mosaik-pypower names the grid entity itself '0-grid'")
        if row_id in self.ids:
            self.fail(at, f"id {_show(row_id)} is used twice (also by {self.ids[row_id]})",
                      "unique ids across bus, trafo and branch: mosaik-pypower names "
                      "one entity per id")
        self.ids[row_id] = at
        return at, row_id

    def endpoints(self, at, row_id, kind, fbus, tbus) -> None:
        for end, bus in (("from", fbus), ("to", tbus)):
            if not isinstance(bus, str) or bus not in self.bus_kv:
                self.fail(at, f"{kind} {_show(row_id)} has {end} bus {_show(bus)}, "
                          "which is not in the bus table",
                          f"the id of a bus: {_some(self.bus_kv)}")
        if fbus == tbus:
            self.fail(at, f"{kind} {_show(row_id)} connects bus {_show(fbus)} to itself",
                      "two different buses")

    def online(self, at, row_id, value) -> bool:
        if value not in (0, 1) or isinstance(value, float):
            self.fail(at, f"online is {_show(value)}", "1 (in service) or 0 (out of service)")
        return bool(value)

    def table(self, key: str, required: bool = True):
        if key not in self.case:
            if required:
                self.fail(key, f"the key {_show(key)} is missing",
                          "the keys 'bus', 'trafo' and 'branch' (mosaik-pypower's JSON format)")
            return None
        value = self.case[key]
        kind = list if key in ("bus", "trafo", "branch") else dict
        if not isinstance(value, kind):
            self.fail(key, f"{_show(key)} is {_show(value)}",
                      f"a JSON {'list of rows' if kind is list else 'object'}")
        return value

    def check(self) -> list[str]:
        case = self.case
        if not isinstance(case, dict):
            self.fail("top level", f"the file holds {_show(case)}",
                      "a JSON object with the keys 'bus', 'trafo' and 'branch'")
        buses, trafos, branches = self.table("bus"), self.table("trafo"), self.table("branch")
        old_format = "base_mva" in case  # mosaik-pypower switches format on this key
        self.check_buses(buses)
        if old_format:
            self.number(case["base_mva"], "base_mva", "base_mva", "MVA", BASE_MVA)
            self.check_old_rows(trafos, branches)
        else:
            ref_kv = buses[0][2]
            if rdb.base_mva.get(ref_kv) is None:
                self.fail("bus[0]", f"the REF bus is at {_show(ref_kv)} kV, for which "
                          "mosaik-pypower has no default base MVA (the file has no 'base_mva')",
                          f"a REF bus at {' or '.join(f'{kv} kV' for kv in rdb.base_mva)}")
            self.check_new_rows(trafos, branches)
        self.check_connected(buses)
        return [bus[0] for bus in buses if bus[1] == "PQ"]

    def check_buses(self, buses) -> None:
        if not buses:
            self.fail("bus", "the bus table is empty", "at least the REF bus")
        for i, row in enumerate(buses):
            at, bid = self.row("bus", i, row, "id, type, base_kV")
            if row[1] not in ("REF", "PQ"):
                self.fail(at, f"bus {_show(bid)} has type {_show(row[1])}",
                          "'REF' (the one slack bus) or 'PQ' (mosaik-pypower creates "
                          "generators only for the REF bus)")
            self.bus_kv[bid] = self.number(row[2], at, "base_kV", "kV", KV)
        refs = [i for i, row in enumerate(buses) if row[1] == "REF"]
        if len(refs) != 1:
            names = _some(buses[i][0] for i in refs) if refs else "none"
            self.fail("bus", f"{len(refs)} buses have type 'REF' ({names})",
                      "exactly one REF (slack) bus")
        if refs[0] != 0:
            self.fail(f"bus[{refs[0]}]", f"the REF bus {_show(buses[refs[0]][0])} is "
                      f"bus[{refs[0]}], not the first bus",
                      "the REF bus first in the bus table (mosaik-pypower asserts this)")

    def check_types(self, key, fields, builtin) -> dict:
        """Type table *key* of the file on top of resource_db's *builtin* types.

        Returns {type name: tap positions} (no taps for line types). Every
        entry is checked, used or not: mosaik-pypower converts them all.
        """
        known = dict(builtin)
        table = self.table(key, required=False) or {}
        names = ", ".join(n for n, _, _ in fields)
        n_fields = len(fields) + (key == "trafo_types")
        for name, params in table.items():
            at = f"{key}[{json.dumps(name)}]"
            if not isinstance(params, list) or len(params) != n_fields:
                self.fail(at, f"type {_show(name)} is {_show(params)}",
                          f"a list [{names}{', {tap: ratio}' if n_fields > len(fields) else ''}]")
            for value, (field, unit, limits) in zip(params, fields):
                self.number(value, at, field, unit, limits)
            r, x = params[-3:-1] if key == "trafo_types" else params[:2]
            if r == 0 and x == 0:
                self.fail(at, f"type {_show(name)} has R = X = 0 (a short circuit)",
                          "a non-zero impedance")
            taps = {}
            if key == "trafo_types":
                if not isinstance(params[-1], dict) or not params[-1]:
                    self.fail(at, f"the taps of type {_show(name)} are {_show(params[-1])}",
                              'an object {"tap position": ratio}, e.g. {"0": 1.0}')
                for pos, ratio in params[-1].items():
                    if not INT_KEY_RE.fullmatch(pos):
                        self.fail(at, f"tap position {_show(pos)} is not an integer",
                                  'integer tap positions, e.g. "-1", "0", "1"')
                    taps[int(pos)] = self.number(ratio, at, f"the ratio of tap {pos}", "",
                                                 TAP_RATIO)
            known[name] = taps
        return known

    def check_new_rows(self, trafos, branches) -> None:
        trafo_types = self.check_types("trafo_types", TRAFO_FIELDS,
                                       {n: t.taps for n, t in rdb.transformers.items()})
        line_types = self.check_types("branch_types", LINE_FIELDS, dict.fromkeys(rdb.lines, {}))
        for i, row in enumerate(trafos):
            at, tid = self.row("trafo", i, row, "id, from, to, type, online, tap")
            self.endpoints(at, tid, "trafo", row[1], row[2])
            ttype, tap = row[3], row[5]
            if not isinstance(ttype, str) or ttype not in trafo_types:
                self.fail(at, f"trafo {_show(tid)} has type {_show(ttype)}, which is neither "
                          "in the file's trafo_types nor in mosaik-pypower's resource_db",
                          f"one of {_some(trafo_types)}")
            if isinstance(tap, bool) or not isinstance(tap, int) or tap not in trafo_types[ttype]:
                self.fail(at, f"trafo {_show(tid)} has tap {_show(tap)}, which type "
                          f"{_show(ttype)} does not have",
                          f"one of its tap positions {sorted(trafo_types[ttype])}")
            if self.online(at, tid, row[4]):
                self.edges.append((row[1], row[2]))
        for i, row in enumerate(branches):
            at, bid = self.row("branch", i, row, "id, from, to, type, length_km, online")
            self.endpoints(at, bid, "branch", row[1], row[2])
            btype = row[3]
            if not isinstance(btype, str) or btype not in line_types:
                self.fail(at, f"branch {_show(bid)} has type {_show(btype)}, which is neither "
                          "in the file's branch_types nor in mosaik-pypower's resource_db",
                          f"one of {_some(line_types)}")
            self.number(row[4], at, "length", "km", LENGTH_KM)
            self.same_voltage(at, bid, row[1], row[2])
            if self.online(at, bid, row[5]):
                self.edges.append((row[1], row[2]))

    def check_old_rows(self, trafos, branches) -> None:
        """The old format (with base_mva): parameters inline, everything online."""
        for i, row in enumerate(trafos):
            at, tid = self.row("trafo", i, row, "id, from, to, S_r, U_k, P_k, I_max_p, I_max_s")
            self.endpoints(at, tid, "trafo", row[1], row[2])
            for value, (name, unit, limits) in zip(row[3:], (
                    ("S_r", "MVA", S_MVA), ("U_k", "%", U_K_PCT), ("P_k", "kW", P_LOSS_KW),
                    ("I_max_p", "A", I_MAX), ("I_max_s", "A", I_MAX))):
                self.number(value, at, name, unit, limits)
            self.edges.append((row[1], row[2]))
        for i, row in enumerate(branches):
            at, bid = self.row("branch", i, row, "id, from, to, length_km, R', X', C', I_max")
            self.endpoints(at, bid, "branch", row[1], row[2])
            self.number(row[3], at, "length", "km", LENGTH_KM)
            for value, (name, unit, limits) in zip(row[4:], LINE_FIELDS):
                self.number(value, at, name, unit, limits)
            if row[4] == 0 and row[5] == 0:
                self.fail(at, f"branch {_show(bid)} has R' = X' = 0 (a short circuit)",
                          "a non-zero impedance")
            self.same_voltage(at, bid, row[1], row[2])
            self.edges.append((row[1], row[2]))

    def same_voltage(self, at, bid, fbus, tbus) -> None:
        if self.bus_kv[fbus] != self.bus_kv[tbus]:
            self.fail(at, f"branch {_show(bid)} joins {_show(fbus)} ({self.bus_kv[fbus]:g} kV) "
                      f"and {_show(tbus)} ({self.bus_kv[tbus]:g} kV)",
                      "a branch between buses of the same base voltage "
                      "(a trafo joins different voltages)")

    def check_connected(self, buses) -> None:
        """Every bus must be reachable from the REF bus, or the power flow fails."""
        ref = buses[0][0]
        neighbours: dict[str, list[str]] = {bus: [] for bus in self.bus_kv}
        for a, b in self.edges:
            neighbours[a].append(b)
            neighbours[b].append(a)
        seen, todo = {ref}, [ref]
        while todo:
            for nxt in neighbours[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        islanded = [bus for bus in self.bus_kv if bus not in seen]
        if islanded:
            first = next(i for i, row in enumerate(buses) if row[0] == islanded[0])
            self.fail(f"bus[{first}]", f"{len(islanded)} of {len(buses)} buses are not "
                      f"connected to the REF bus {_show(ref)}: {_some(islanded)}",
                      "every bus reachable from the REF bus through online trafos and "
                      "branches (an island makes the power flow fail)")


def _parse_json(text: str):
    """Parse like ``json.loads``, and note where each list (table row) starts.

    The offsets, keyed by the list's id(), let an error name the row's line.
    (json's pure-Python scanner accepts exactly what its C scanner does.)
    """
    starts: dict[int, int] = {}

    def parse_array(s_and_end, scan_once):
        values, end = json.decoder.JSONArray(s_and_end, scan_once)
        starts[id(values)] = s_and_end[1] - 1
        return values, end

    decoder = json.JSONDecoder()
    decoder.parse_array = parse_array
    decoder.scan_once = json.scanner.py_make_scanner(decoder)
    return decoder.decode(text), starts


def check_grid(path) -> list[str]:
    """Check a grid file in mosaik-pypower's JSON format; return its PQ bus ids.

    The PQ buses are where loads and PV may connect (mosaik-pypower takes
    no inputs on the REF bus). Types and parameters are resolved as
    mosaik-pypower's ``JSON.branches`` does: the file's own ``trafo_types``
    and ``branch_types`` on top of ``resource_db``; with ``base_mva`` the
    file is in the old format (trafo/branch parameters inline).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(path, f"cannot be read ({e.strerror or e})", "a readable file") from None
    except UnicodeDecodeError as e:
        raise InputError(path, f"is not UTF-8 text (at byte {e.start})", "UTF-8 JSON") from None
    if text.startswith("\ufeff"):
        raise InputError(path, "starts with a byte-order mark (BOM), which JSON readers reject",
                         "UTF-8 without a BOM (re-save the file without it)", line=1)
    try:
        case, starts = _parse_json(text)
    except json.JSONDecodeError as e:
        raise InputError(path, f"is not valid JSON ({e.msg} at column {e.colno})",
                         "JSON in mosaik-pypower's format (see data/README.md)",
                         line=e.lineno) from None
    except (ValueError, RecursionError) as e:
        raise InputError(path, f"cannot be read as JSON ({type(e).__name__}: {e})",
                         "JSON in mosaik-pypower's format (see data/README.md)") from None
    return _Grid(path, text, case, starts).check()


# --- households.data (mosaik-householdsim) ---------------------------------------------

HOUSE_ATTRS = ("num_hh", "num_residents")
MAX_PROFILES = 10_000


def check_households(path, grid_name: str, grid_buses: Iterable[str], steps: int, *,
                     start=None) -> None:
    """Check a profile file in mosaik-householdsim's format.

    Sections ``# meta`` (one JSON line), ``# id_list`` (JSON, one bus id per
    house under *grid_name*, each in *grid_buses*), ``# attrs`` (num_hh and
    num_residents, one int per profile) and ``# profiles`` (a row per
    ``resolution`` minutes from start_date, one value in W per profile),
    enough rows for *steps* one-minute steps from *start*. householdsim reads
    profile rows lazily, so without this a bad row only fails mid-run.
    """
    _check_steps(steps)
    path, buses, start = Path(path), set(grid_buses), _parse_start(start)
    lines = _read_lines(path)

    def fail(line, problem, expected="", at=None):
        raise InputError(path, problem, expected, line=line, at=at)

    def header(i, name, before):
        if i >= len(lines):
            fail(None, f"the file ends before the {_show(name)} line (it has {len(lines)} "
                 "lines)", f"the sections '# meta', '# id_list', '# attrs', '# profiles' "
                 f"in this order, {before}")
        if lines[i] != name:
            fail(i + 1, f"the line is {_show(lines[i])}", f"{_show(name)} ({before})")

    header(0, "# meta", "the file's first line")
    if len(lines) < 2:
        fail(None, "the file ends after '# meta'", "one line of meta JSON after '# meta'")
    meta = _households_meta(path, lines[1])
    resolution, num_profiles = meta["resolution"], meta["num_profiles"]
    first_date = _parse_date(meta["start_date"])
    header(2, "# id_list", "the line after the meta JSON")

    try:
        attrs_at = lines.index("# attrs", 3)
    except ValueError:
        fail(None, "there is no '# attrs' line after '# id_list'",
             "the sections '# meta', '# id_list', '# attrs', '# profiles' in this order")
    _households_ids(path, lines, 3, attrs_at, grid_name, buses)

    try:
        profiles_at = lines.index("# profiles", attrs_at + 1)
    except ValueError:
        fail(None, "there is no '# profiles' line after '# attrs'",
             "the sections '# meta', '# id_list', '# attrs', '# profiles' in this order")
    seen = {}
    for i in range(attrs_at + 1, profiles_at):
        name, *values = [item.strip() for item in lines[i].split(",")]
        expected = (f"a row '{name},' + {num_profiles} positive integers "
                    "(one per profile)")
        if name not in HOUSE_ATTRS:
            fail(i + 1, f"unknown attribute row {_show(lines[i])}",
                 f"only the rows {' and '.join(HOUSE_ATTRS)}, each '<name>,' + "
                 f"{num_profiles} positive integers")
        if name in seen:
            fail(i + 1, f"{name} appears twice (also on line {seen[name]})", "it once")
        seen[name] = i + 1
        if len(values) != num_profiles:
            fail(i + 1, f"{name} has {len(values)} values, but num_profiles is {num_profiles}",
                 expected)
        for k, value in enumerate(values):
            if not UINT_RE.fullmatch(value) or int(value) < 1:
                fail(i + 1, f"{name} value {k + 1} is {_show(value)}", expected)
    for name in HOUSE_ATTRS:
        if name not in seen:
            fail(profiles_at + 1, f"the '# attrs' section has no {name} row",
                 f"a row '{name},' + {num_profiles} positive integers before '# profiles'")

    rows = lines[profiles_at + 1:]
    while rows and not rows[-1].strip():  # trailing blank lines: never read
        rows.pop()
    step = timedelta(minutes=resolution)
    expected_row = (f"'YYYY-MM-DD HH:MM,' + {num_profiles} numbers ≥ 0 in W, "
                    f"every {resolution} min from start_date {meta['start_date']}")
    for k, line in enumerate(rows):
        n = profiles_at + 2 + k
        date_text, *values = [item.strip() for item in line.split(",")]
        date = _parse_date(date_text)
        if date is None:
            fail(n, f"the date {_show(date_text)} is not a date 'YYYY-MM-DD HH:MM'"
                 f"{' (the line is empty)' if not line.strip() else ''}", expected_row)
        want = first_date + k * step
        if date != want:
            problem = (f"the date is {date_text}, but the row before is at "
                       f"{want - step:%Y-%m-%d %H:%M}" if k else
                       f"the first profile row is at {date_text}, not at start_date "
                       f"{meta['start_date']}")
            fail(n, problem, f"{want:%Y-%m-%d %H:%M} (consecutive rows every {resolution} min)")
        if len(values) != num_profiles:
            fail(n, f"the row has {len(values)} values, but num_profiles is {num_profiles}",
                 expected_row)
        for j, value in enumerate(values):
            x = _number(value)
            if x is None or not 0 <= x <= MAX_POWER_W:
                what = ("is empty" if not value else f"is {_show(value)}, not a number"
                        if x is None else f"is {_show(value)} W, not a finite power ≥ 0 W "
                        "(loads are positive in mosaik-pypower)")
                fail(n, f"the value of profile {j + 1} {what}",
                     f"a number 0 ≤ P ≤ {MAX_POWER_W:g} W")

    sim_start = start or first_date
    if sim_start < first_date:
        fail(2, f"the profiles start at {meta['start_date']}, after the simulation start "
             f"{sim_start:%Y-%m-%d %H:%M:%S}",
             "a start_date at or before the simulation start")
    offset = int((sim_start - first_date).total_seconds() // 60)
    needed = (offset + steps - 1) // resolution + 1
    if len(rows) < needed:
        last = f" ({rows[0].split(',')[0]} to {rows[-1].split(',')[0]})" if rows else ""
        fail(profiles_at + 1 + len(rows),
             f"the file has {len(rows)} profile rows{last}, too few for {steps} "
             f"one-minute steps from {sim_start:%Y-%m-%d %H:%M}",
             f"{needed} rows at {resolution}-min resolution "
             f"(up to {first_date + (needed - 1) * step:%Y-%m-%d %H:%M})", at="# profiles")


def _households_meta(path: Path, line: str) -> dict:
    """The meta JSON (line 2): what householdsim reads and what the lab assumes."""
    expected = ('one line of JSON like {"start_date": "2025-06-21 00:00", "resolution": 1, '
                '"unit": "W", "num_profiles": 10}')
    try:
        meta = json.loads(line)
    except (ValueError, RecursionError) as e:
        raise InputError(path, f"the meta line {_show(line)} is not valid JSON ({e})",
                         expected, line=2) from None
    if not isinstance(meta, dict):
        raise InputError(path, f"the meta line is {_show(line)}", expected, line=2)
    for key in ("start_date", "resolution", "unit", "num_profiles"):
        if key not in meta:
            raise InputError(path, f"the meta JSON has no {_show(key)}", expected, line=2)
    if not isinstance(meta["start_date"], str) or _parse_date(meta["start_date"]) is None:
        raise InputError(path, f"start_date is {_show(meta['start_date'])}",
                         "a date 'YYYY-MM-DD HH:MM' (years 1900-2200)", line=2)
    for key, high in (("resolution", 1440), ("num_profiles", MAX_PROFILES)):
        value = meta[key]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise InputError(path, f"{key} is {_show(value)}",
                             f"an integer from 1 to {high}", line=2)
    if meta["unit"] != "W":
        raise InputError(path, f"unit is {_show(meta['unit'])}",
                         "'W' (mosaik-pypower takes P in W)", line=2)
    return meta


def _households_ids(path: Path, lines: list[str], begin: int, end: int,
                    grid_name: str, buses: set[str]) -> None:
    """The id_list JSON (lines begin..end-1): one PQ bus id per house."""
    expected = f'JSON like {{"{grid_name}": ["node_a2", ...]}}: one bus id per house'
    text = "\n".join(lines[begin:end])
    try:
        id_lists = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(path, f"the id_list is not valid JSON ({e.msg} at column {e.colno})",
                         expected, line=begin + e.lineno) from None
    except (ValueError, RecursionError) as e:
        raise InputError(path, f"the id_list is not valid JSON ({e})", expected,
                         line=begin + 1) from None
    if not isinstance(id_lists, dict) or grid_name not in id_lists:
        found = _some(id_lists) if isinstance(id_lists, dict) else _show(id_lists)
        raise InputError(path, f"the id_list has no entry for grid {_show(grid_name)} "
                         f"(found {found or 'nothing'})", expected, line=begin + 1)
    nodes = id_lists[grid_name]
    if not isinstance(nodes, list):
        raise InputError(path, f"id_list[{grid_name!r}] is {_show(nodes)}", expected,
                         line=begin + 1)
    for i, node in enumerate(nodes):
        if not isinstance(node, str) or node not in buses:
            line = next((begin + 1 + k for k, text in enumerate(lines[begin:end])
                         if json.dumps(node) in text), begin + 1)
            raise InputError(path, f"house {i} is on node {_show(node)}, which is not a PQ "
                             "bus of the grid",
                             f"one of the grid's PQ buses: {_some(sorted(buses))}",
                             line=line, at=f"id_list[{grid_name!r}][{i}]")


# --- pv.csv (mosaik-csv) ------------------------------------------------------------------


def check_pv(path, steps: int, *, start=None, model: str | None = "PV") -> None:
    """Check a PV series in mosaik-csv's format.

    Line 1 the model name (*model*, the name the scenario creates entities
    with), line 2 the header ``Date,P``, then ``YYYY-MM-DD HH:MM:SS,P`` every
    minute with a finite P ≤ 0 W (feed-in is negative in mosaik-pypower),
    enough rows for *steps* one-minute steps from *start*. pandas would
    otherwise read a bad value as NaN or turn the column into strings, and
    mosaik-csv repeats the last row (or uses the last row from the start)
    when the series does not cover the run.
    """
    _check_steps(steps)
    path, start = Path(path), _parse_start(start)
    lines = _read_lines(path)

    def fail(line, problem, expected=""):
        raise InputError(path, problem, expected, line=line)

    row_form = "a row 'YYYY-MM-DD HH:MM:SS,P' with P in W (≤ 0: feed-in is negative)"
    name = lines[0] if lines else ""
    if not MODEL_RE.fullmatch(name) or (model is not None and name != model):
        what = (" (mosaik-csv takes a line with commas as the header and names the model "
                "'Data')" if "," in name else "")
        fail(1, f"the first line is {_show(name)}{what}",
             f"the model name{f' {model!r}' if model else ''} alone on line 1, "
             "then the header 'Date,P'")
    header = lines[1] if len(lines) > 1 else ""
    if header != "Date,P":
        fail(2, f"the header is {_show(header)}", "the header 'Date,P' on line 2")

    rows = lines[2:]
    while rows and rows[-1] == "":  # pandas skips trailing blank lines
        rows.pop()
    first = prev = None
    for k, line in enumerate(rows):
        n = k + 3
        if not line:
            fail(n, "the line is empty", row_form)
        if "," not in line:
            fail(n, f"the row {_show(line)} has no P value", row_form)
        date_text, p_text = line.split(",", 1)
        date = _parse_date(date_text, seconds=True)
        if date is None:
            fail(n, f"the date {_show(date_text)} is not a date 'YYYY-MM-DD HH:MM:SS' "
                 "(years 1900-2200)", row_form)
        if prev is not None and date != prev + MINUTE:
            how = "is not after" if date <= prev else "is more than a minute after"
            fail(n, f"the date {date_text} {how} the previous row's {prev:%Y-%m-%d %H:%M:%S}",
                 f"{prev + MINUTE:%Y-%m-%d %H:%M:%S} (one row per minute, strictly increasing)")
        first, prev = first or date, date
        p = _number(p_text)
        if p is None:
            fail(n, f"P is {_show(p_text)}" + (" (empty)" if not p_text else
                                                 ", not a number"),
                 f"a finite number, {row_form}")
        if not -MAX_POWER_W <= p <= 0:
            fail(n, f"P is {p_text} W" + (", not a finite power" if not math.isfinite(p)
                                          else ", positive (a load, not feed-in)"
                                          if p > 0 else ", implausibly large"),
                 f"-{MAX_POWER_W:g} W ≤ P ≤ 0 W (PV feed-in is negative in mosaik-pypower)")

    if first is None:
        fail(2, "the file has no data rows after the header", row_form)
    sim_start = start or first
    if sim_start < first:
        fail(3, f"the series starts at {first:%Y-%m-%d %H:%M:%S}, after the simulation "
             f"start {sim_start:%Y-%m-%d %H:%M:%S} (mosaik-csv would then use the last row)",
             "a first row at or before the simulation start")
    needed = int((sim_start - first).total_seconds() // 60) + steps
    if len(rows) < needed:
        fail(2 + len(rows), f"the file has {len(rows)} data rows ({first:%Y-%m-%d %H:%M:%S} to "
             f"{prev:%Y-%m-%d %H:%M:%S}), too few for {steps} one-minute steps from "
             f"{sim_start:%Y-%m-%d %H:%M:%S}",
             f"{needed} rows (up to {first + (needed - 1) * MINUTE:%Y-%m-%d %H:%M:%S})")


# --- All three -------------------------------------------------------------------------


def check_inputs(data_dir, grid_name: str, steps: int, *, start=None) -> None:
    """Check grid.json, households.data and pv.csv in *data_dir*; raise InputError.

    The houses must sit on PQ buses of this grid, and both series must cover
    *steps* one-minute steps from *start* (default: each series' own start).
    """
    data_dir = Path(data_dir)
    buses = check_grid(data_dir / GRID_FILE)
    check_households(data_dir / HOUSEHOLDS_FILE, grid_name, buses, steps, start=start)
    check_pv(data_dir / PV_FILE, steps, start=start)
