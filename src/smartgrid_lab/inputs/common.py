"""InputError, and the reading and parsing every input format shares.

One error type, so that a scenario can catch it and print one paragraph
instead of a loader's traceback.
"""

import json
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

MAX_POWER_W = 1e9  # |P| above 1 GW is no house or rooftop PV (and overflows pandas' ints)
YEARS = (1900, 2200)  # inside pandas' datetime64[ns] range (1677-2262)
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}(:[0-9]{2})?")
NUMBER_RE = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


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
