"""Reading a run directory for grading, and saying precisely how it is broken.

RUN and REF are run directories (holding ``<scenario>.hdf5`` and
``manifest.json``), paths to a file in one, or run ids under ``results/``.
"""

import dataclasses
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import h5py
import numpy as np

from smartgrid_lab.grading.common import Unusable
from smartgrid_lab.simulators import clock
from smartgrid_lab.results import read_series


@dataclasses.dataclass
class Run:
    """A run directory as the grader sees it: files, manifest and recorded series."""

    label: str  # "run" or "reference", for messages
    directory: Path
    hdf5_file: Path
    manifest: dict | None
    manifest_problem: str | None
    series: dict[str, dict[str, np.ndarray]]

    @property
    def crashed(self) -> bool:
        """Whether a simulator ended the run early (the manifest says which, and how)."""
        return crash_line(self.manifest or {}) is not None

    @property
    def scenario(self) -> str:
        return ((self.manifest or {}).get("scenario") or {}).get("name") or self.hdf5_file.stem


def locate(arg: str, results_dir: Path, label: str) -> tuple[Path, Path | None]:
    """The run directory ``arg`` means, and the HDF5 file if it named one."""
    path = Path(arg)
    if not path.exists():
        path = results_dir / arg
        if not path.exists():
            raise Unusable(f"{label} {arg!r}: no such run directory or file "
                           f"(also looked for {path})")
    if path.is_dir():
        return path, None
    return path.parent, (None if path.name == "manifest.json" else path)


def read_manifest(directory: Path) -> tuple[dict | None, str | None]:
    """The manifest, or what is wrong with it (a FAIL, not an ERROR: the data may be fine)."""
    path = directory / "manifest.json"
    if not path.is_file():
        return None, f"missing from {directory}: the run directory is incomplete"
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"unreadable ({error})"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    if crash := crash_line(record):
        return record, crash
    if record.get("status") != "completed":
        detail = f": {record['error']}" if record.get("error") else ""
        return record, f"says the run did not complete (status {record.get('status')!r}{detail})"
    return record, None


def crash_line(record: dict) -> str | None:
    """What ended a failed run early, from the manifest's ``failure`` facts:
    ``simulator PV-0 crashed at 12:00 in step(): RuntimeError: bug (simulator.py:70)``."""
    failure = record.get("failure")
    if record.get("status") == "completed" or not isinstance(failure, dict):
        return None
    at = clock(int(failure.get("simulated_time") or 0))
    who, call = failure.get("simulator", "?"), failure.get("call", "?")
    if failure.get("kind") == "exception":
        where = f" ({Path(failure['location']).name})" if failure.get("location") else ""
        return (f"simulator {who} crashed at {at} in {call}(): {failure.get('exception')}: "
                f"{failure.get('message') or '(no message)'}{where}")
    if failure.get("kind") == "never_came_up":
        return f"simulator {who} never came up at {failure.get('address')}"
    return f"simulator {who} {failure.get('message', 'was lost')} during {call}() at {at}"


def find_hdf5(directory: Path, record: dict | None, label: str) -> Path:
    """The run's HDF5 file: as the manifest names it, else the only one there."""
    named = ((record or {}).get("hdf5") or {}).get("file")
    if named and (directory / named).exists():
        return directory / named
    found = sorted(directory.glob("*.hdf5"))
    if len(found) == 1:
        return found[0]
    if not found:
        status = f" (manifest.json: status {record.get('status')!r})" if record else ""
        raise Unusable(f"{label} {directory}: no HDF5 file in it{status}")
    raise Unusable(f"{label} {directory}: several HDF5 files "
                   f"({', '.join(p.name for p in found)}); name one")


def read_hdf5(path: Path, label: str) -> dict[str, dict[str, np.ndarray]]:
    """Every recorded series, or :class:`Unusable` saying how the file is broken."""
    if not h5py.is_hdf5(path):
        size = path.stat().st_size
        what = "is empty" if size == 0 else f"is corrupt: no HDF5 signature in its {size:,} bytes"
        raise Unusable(f"{label} file {path} {what} (not a usable HDF5 file)")
    try:
        return read_series(path)
    except KeyError:
        raise Unusable(f"{label} file {path} has no Series group: "
                       "not a mosaik-hdf5 recording") from None
    except Exception as error:  # noqa: BLE001 - h5py reports damage as many types
        raise Unusable(f"{label} file {path} {_damage(error, path.stat().st_size)}") from None


def _damage(error: Exception, size: int) -> str:
    """h5py's message about a damaged file, in words a teacher can act on."""
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    truncated = re.search(r"eof = (\d+).*stored_eof = (\d+)", message)
    if truncated:
        return (f"is truncated: only {size:,} of its {int(truncated.group(2)):,} bytes "
                "are there (copy incomplete?)")
    return f"is corrupt and cannot be read (h5py: {message})"


def load_run(arg: str, results_dir: Path, label: str) -> Run:
    directory, hdf5_file = locate(arg, results_dir, label)
    record, problem = read_manifest(directory)
    hdf5_file = hdf5_file or find_hdf5(directory, record, label)
    return Run(label, directory, hdf5_file, record, problem, read_hdf5(hdf5_file, label))


def check_reference(ref: Run) -> None:
    """A reference with NaN or non-numeric data would make every grade meaningless."""
    for entity, attrs in ref.series.items():
        for attr, values in attrs.items():
            if not numeric(values) or not np.all(np.isfinite(values)):
                raise Unusable(f"reference dataset Series/{entity}/{attr} is not finite "
                               f"numbers: {ref.hdf5_file} is not a valid reference")


def numeric(values: np.ndarray) -> bool:
    return values.dtype.kind in "biuf"


@dataclasses.dataclass
class Clock:
    """Turns step numbers into times of day, so problems say *when*."""

    step_seconds: float = 60.0
    start: datetime | None = None

    @classmethod
    def of(cls, run: Run) -> "Clock":
        params = ((run.manifest or {}).get("scenario") or {}).get("params") or {}
        try:
            start = datetime.fromisoformat(params["start"]) if "start" in params else None
            return cls(float(params.get("step", 60)), start)
        except (TypeError, ValueError):
            return cls()

    def label(self, step: int) -> str:
        if self.start is None:
            return f"step {step}"
        at = self.start + timedelta(seconds=step * self.step_seconds)
        return f"step {step} ({at:%H:%M})"

    def hours(self, steps: int) -> np.ndarray:
        return np.arange(steps) * self.step_seconds / 3600

    def kwh(self, power: np.ndarray) -> float:
        """A day's energy in kWh from power in W, one value per step."""
        return float(np.sum(power) * self.step_seconds / 3.6e6)

