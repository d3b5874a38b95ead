"""pv.csv, as mosaik-csv reads it: a model line, a header, one row a minute
(or every *resolution* minutes)."""

import math
import re
from datetime import timedelta
from pathlib import Path

from smartgrid_lab.inputs.common import (MAX_POWER_W, InputError, _check_steps, _number,
                                         _parse_date, _parse_start, _read_lines, _show)

MINUTE = timedelta(minutes=1)
MODEL_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_pv(path, steps: int, *, start=None, model: str | None = "PV",
             resolution: int = 1) -> None:
    """Check a PV series in mosaik-csv's format.

    Line 1 the model name (*model*, the name the scenario creates entities
    with), line 2 the header ``Date,P`` (or ``Date,P_0,P_1,...``: one column
    per PV system), then ``YYYY-MM-DD HH:MM:SS,P`` every *resolution*
    minutes with a finite P ≤ 0 W (feed-in is negative in mosaik-pypower),
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
    columns = header.split(",")[1:]
    if header != "Date,P" and (not columns or columns != [f"P_{i}" for i in range(len(columns))]):
        fail(2, f"the header is {_show(header)}",
             "the header 'Date,P' (or 'Date,P_0,P_1,...') on line 2")
    step = resolution * MINUTE
    every = "a minute" if resolution == 1 else f"{resolution} minutes"

    def check_power(n, p_text):
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
        date_text, *p_texts = line.split(",", len(columns))
        date = _parse_date(date_text, seconds=True)
        if date is None:
            fail(n, f"the date {_show(date_text)} is not a date 'YYYY-MM-DD HH:MM:SS' "
                 "(years 1900-2200)", row_form)
        if prev is not None and date != prev + step:
            how = "is not after" if date <= prev else f"is more than {every} after"
            fail(n, f"the date {date_text} {how} the previous row's {prev:%Y-%m-%d %H:%M:%S}",
                 f"{prev + step:%Y-%m-%d %H:%M:%S} (one row "
                 f"{'per minute' if resolution == 1 else 'every ' + every}, strictly increasing)")
        first, prev = first or date, date
        if len(p_texts) != len(columns):
            fail(n, f"the row has {len(p_texts)} values, but the header names {len(columns)}",
                 row_form)
        for p_text in p_texts:
            check_power(n, p_text)

    if first is None:
        fail(2, "the file has no data rows after the header", row_form)
    sim_start = start or first
    if sim_start < first:
        fail(3, f"the series starts at {first:%Y-%m-%d %H:%M:%S}, after the simulation "
             f"start {sim_start:%Y-%m-%d %H:%M:%S} (mosaik-csv would then use the last row)",
             "a first row at or before the simulation start")
    needed = (int((sim_start - first).total_seconds() // 60) + steps - 1) // resolution + 1
    if len(rows) < needed:
        fail(2 + len(rows), f"the file has {len(rows)} data rows ({first:%Y-%m-%d %H:%M:%S} to "
             f"{prev:%Y-%m-%d %H:%M:%S}), too few for {steps} one-minute steps from "
             f"{sim_start:%Y-%m-%d %H:%M:%S}",
             f"{needed} rows (up to {first + (needed - 1) * step:%Y-%m-%d %H:%M:%S})")
