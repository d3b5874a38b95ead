"""households.data, as mosaik-householdsim reads it: meta, id_list, attrs, profiles."""

import json
import re
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from smartgrid_lab.inputs.common import (MAX_POWER_W, InputError, _check_steps, _number,
                                         _parse_date, _parse_start, _read_lines, _show, _some)

HOUSE_ATTRS = ("num_hh", "num_residents")
MAX_PROFILES = 100_000  # SimBench's largest grid has 11,542 houses
UINT_RE = re.compile(r"[0-9]+")


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
