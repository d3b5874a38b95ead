"""grid.json, as mosaik-pypower reads it: tables, types, ratings, a connected grid."""

import json
import json.decoder
import json.scanner
import math
import re
from pathlib import Path

from mosaik_components.mosaik_pypower import resource_db as rdb

from smartgrid_lab.inputs.common import InputError, _show, _some

INT_KEY_RE = re.compile(r"-?[0-9]+")

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
