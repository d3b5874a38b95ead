"""Grade a run against a reference run: for teachers.

    python -m smartgrid_lab.grading grade RUN REF [--spec FILE] [--report DIR]
    python -m smartgrid_lab.grading batch SUBMISSIONS_DIR --ref REF [--out table.csv]

RUN and REF are run directories (holding ``<scenario>.hdf5`` and
``manifest.json``), paths to a file in one, or run ids under ``results/``.
Every recorded dataset (``Series/<entity>/<attr>``) of the run is compared
with the reference's within the tolerances of a grading spec (TOML; see
``scenarios/demo.grading.toml``, which documents the format), and the run is
checked against physical rules: voltage band, line loading, energy balance.

The verdict is PASS (exit 0), FAIL (exit 1: one line per problem, naming the
dataset and the numbers) or ERROR (exit 2: the input cannot be graded, e.g. a
truncated or corrupt HDF5 file; one line saying why). Never a traceback: a
teacher grading 30 submissions needs a verdict for each, not a stack dump.

Score, 0-100: five categories (completeness, accuracy, voltage, loading,
energy) each earn the share of their items that pass; the score is their
weighted mean (weights from the spec), rounded to 0.1. Items that cannot be
checked because their data is missing do not pass. A run with any problem
scores at most 99.9, so 100 always means PASS; ERROR scores 0.

``grade`` also writes a Markdown report with plots (default ``RUN/grading/``).
``batch`` grades every subfolder of SUBMISSIONS_DIR in its own subprocess
with a time limit, so one pathological file cannot hang or crash the batch,
and writes one CSV row per student.
"""

import argparse
import csv
import dataclasses
import fnmatch
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h5py
import numpy as np

from smartgrid_lab import manifest as manifests
from smartgrid_lab import submissions
from smartgrid_lab.results import entities_of, power_balance, read_series

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "results"
PASS, FAIL, ERROR = "PASS", "FAIL", "ERROR"
EXIT_CODES = {PASS: 0, FAIL: 1, ERROR: 2}
CATEGORIES = ("completeness", "accuracy", "voltage", "loading", "energy")
MAX_PRINTED_PROBLEMS = 40


class Unusable(Exception):
    """Input that cannot be graded at all; the message is the verdict line."""


# --- The grading spec -------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Tolerance:
    match: str
    abs: float = 0.0
    rel: float = 0.0
    mean_abs: float | None = None

    def fits(self, entity: str, attr: str) -> bool:
        name = f"{entity}/{attr}" if "/" in self.match else attr
        return fnmatch.fnmatchcase(name, self.match)

    def describe(self) -> str:
        text = f"{self.abs:g} + {self.rel:g}·\\|ref\\|"  # escaped for Markdown tables
        return text + (f", mean ≤ {self.mean_abs:g}" if self.mean_abs is not None else "")


EXACT = Tolerance(match="(no rule: exact)")

DEFAULTS = {
    "datasets": {"allow_extra": False, "ignore": []},
    "tolerance": [],
    "voltage": {"band": [0.95, 1.05]},
    "loading": {"max": 1.0, "grid": str(REPO / "data" / "grid.json")},
    "energy": {"max_negative_loss": 1.0, "max_loss_share": 0.1, "rel": 0.01},
    "score": {"completeness": 30, "accuracy": 40, "voltage": 10, "loading": 10, "energy": 10},
}


@dataclasses.dataclass
class Spec:
    """What a run must satisfy; built from a TOML file over :data:`DEFAULTS`."""

    file: Path | None
    allow_extra: bool
    ignore: list[str]
    tolerances: list[Tolerance]
    band: tuple[float, float]
    max_loading: float
    grid_file: Path | None
    max_negative_loss: float
    max_loss_share: float
    energy_rel: float
    weights: dict[str, float]

    def tolerance_for(self, entity: str, attr: str) -> Tolerance:
        """The first rule that fits: order in the file is priority."""
        return next((t for t in self.tolerances if t.fits(entity, attr)), EXACT)

    def ignores(self, entity: str, attr: str) -> bool:
        return any(fnmatch.fnmatchcase(f"{entity}/{attr}", p) for p in self.ignore)


def load_spec(path: Path | None) -> Spec:
    """Parse and validate a spec; a bad spec is :class:`Unusable`, never a guess."""
    raw = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except OSError as error:
            raise Unusable(f"grading spec {path}: cannot read it ({error.strerror})") from None
        except tomllib.TOMLDecodeError as error:
            raise Unusable(f"grading spec {path}: not valid TOML ({error})") from None
    try:
        return _build_spec(path, raw)
    except (KeyError, TypeError, ValueError) as error:
        raise Unusable(f"grading spec {path or '(built-in)'}: {error.args[0]}") from None


def _section(raw: dict, name: str) -> dict:
    """One spec section over its defaults, refusing keys the grader does not know."""
    given = raw.get(name, {})
    if not isinstance(given, dict):
        raise TypeError(f"[{name}] must be a table")
    unknown = set(given) - set(DEFAULTS[name])
    if unknown:
        raise KeyError(f"unknown key(s) {', '.join(sorted(unknown))} in [{name}]")
    return DEFAULTS[name] | given


def _tolerances(raw: dict) -> list[Tolerance]:
    rules = raw.get("tolerance", [])
    if not isinstance(rules, list):
        raise TypeError("tolerances must be [[tolerance]] tables")
    tolerances = []
    for rule in rules:
        unknown = set(rule) - {f.name for f in dataclasses.fields(Tolerance)}
        if unknown or "match" not in rule:
            raise KeyError(f"[[tolerance]] {rule}: needs `match`, allows abs, rel, mean_abs "
                           f"(unknown: {', '.join(sorted(unknown)) or 'none'})")
        tolerance = Tolerance(str(rule["match"]), float(rule.get("abs", 0.0)),
                              float(rule.get("rel", 0.0)), rule.get("mean_abs"))
        if min(tolerance.abs, tolerance.rel, tolerance.mean_abs or 0.0) < 0:
            raise ValueError(f"[[tolerance]] {rule}: tolerances cannot be negative")
        tolerances.append(tolerance)
    return tolerances


def _build_spec(path: Path | None, raw: dict) -> Spec:
    unknown = set(raw) - set(DEFAULTS)
    if unknown:
        raise KeyError(f"unknown section(s) {', '.join(sorted(unknown))}")
    datasets, voltage, loading = (_section(raw, s) for s in ("datasets", "voltage", "loading"))
    energy, score = _section(raw, "energy"), _section(raw, "score")
    low, high = (float(v) for v in voltage["band"])
    if not 0 < low < high:
        raise ValueError(f"[voltage] band {voltage['band']} must be two p.u. values, low < high")
    weights = {name: float(score[name]) for name in CATEGORIES}
    if min(weights.values()) < 0 or sum(weights.values()) <= 0:
        raise ValueError("[score] weights must be non-negative and not all zero")
    grid = str(loading["grid"])
    grid_file = None if not grid else (Path(path).parent if path else REPO) / grid
    if grid_file is not None and not grid_file.is_file():
        raise ValueError(f"[loading] grid file {grid_file} does not exist")
    return Spec(
        file=Path(path) if path else None,
        allow_extra=bool(datasets["allow_extra"]), ignore=list(datasets["ignore"]),
        tolerances=_tolerances(raw), band=(low, high), max_loading=float(loading["max"]),
        grid_file=grid_file, max_negative_loss=float(energy["max_negative_loss"]),
        max_loss_share=float(energy["max_loss_share"]), energy_rel=float(energy["rel"]),
        weights=weights,
    )


def default_spec_file(scenario: str) -> Path | None:
    """``scenarios/<scenario>.grading.toml``, if the teacher wrote one."""
    candidate = REPO / "scenarios" / f"{scenario}.grading.toml"
    return candidate if candidate.is_file() else None


# --- Reading a run --------------------------------------------------------------------

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
    if record.get("status") != "completed":
        detail = f": {record['error']}" if record.get("error") else ""
        return record, f"says the run did not complete (status {record.get('status')!r}{detail})"
    return record, None


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
            if not _numeric(values) or not np.all(np.isfinite(values)):
                raise Unusable(f"reference dataset Series/{entity}/{attr} is not finite "
                               f"numbers: {ref.hdf5_file} is not a valid reference")


def _numeric(values: np.ndarray) -> bool:
    return values.dtype.kind in "biuf"


# --- Time ------------------------------------------------------------------------

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


# --- Comparing datasets ----------------------------------------------------------------

@dataclasses.dataclass
class Problem:
    where: str  # the dataset, entity or rule: "Series/Grid-0.0-node_a1/Vm"
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclasses.dataclass
class Row:
    """One line of the per-dataset error table."""

    name: str
    tolerance: str
    status: str = "ok"
    max_abs: float = math.nan
    mean_abs: float = math.nan
    max_rel: float = math.nan
    steps_out: int = 0
    clean: bool = False  # present, numeric, right shape, finite: usable for physics
    within: bool = False


def unit(attr: str) -> str:
    if attr in ("Vm", "Vl"):
        return "V"
    if attr == "Va":
        return "°"
    return {"P": "W", "Q": "var"}.get(attr[:1], "")


def compare_one(name: str, attr: str, run: np.ndarray | None, ref: np.ndarray,
                tol: Tolerance, clock: Clock) -> tuple[Row, str | None]:
    """Compare one dataset; return its table row and the problem, if any."""
    row = Row(name, tol.describe())
    if run is None:
        row.status = "missing"
        return row, "dataset missing"
    if not _numeric(run):
        row.status = "not numeric"
        return row, f"not numeric (dtype {run.dtype})"
    if run.shape != ref.shape:
        row.status = "wrong shape"
        return row, f"shape {run.shape} ({run.size} values), reference has {ref.shape}"
    bad = ~np.isfinite(run)
    if bad.any():
        row.status = "NaN/inf"
        first = int(np.argmax(bad.ravel()))
        return row, (f"{int(bad.sum())} NaN or infinite value(s) of {run.size}, "
                     f"first at {clock.label(first)}")
    row.clean = True
    return _errors(row, attr, run.astype(float), ref.astype(float), tol, clock)


def _errors(row: Row, attr: str, run: np.ndarray, ref: np.ndarray, tol: Tolerance,
            clock: Clock) -> tuple[Row, str | None]:
    """Absolute and relative errors against the tolerance (numpy.isclose's rule)."""
    diff = np.abs(run - ref).ravel()
    allowed = (tol.abs + tol.rel * np.abs(ref)).ravel()
    out = diff > allowed
    significant = np.abs(ref.ravel()) > max(tol.abs, 1e-12)  # relative error near 0 is noise
    row.max_abs = float(diff.max(initial=0))
    row.mean_abs = float(diff.mean()) if diff.size else 0.0
    row.max_rel = float((diff[significant] / np.abs(ref.ravel()[significant])).max(initial=0))
    row.steps_out = int(out.sum())
    u = unit(attr)
    if out.any():
        row.status = "beyond tolerance"
        worst = int(np.argmax(diff - allowed))
        return row, (f"{row.steps_out} of {diff.size} steps beyond tolerance; worst at "
                     f"{clock.label(worst)}: run {run.ravel()[worst]:.6g} {u}, reference "
                     f"{ref.ravel()[worst]:.6g} {u}, |Δ| {diff[worst]:.3g} {u} > allowed "
                     f"{allowed[worst]:.3g} {u} (max |Δ| {row.max_abs:.3g}, "
                     f"mean |Δ| {row.mean_abs:.3g})")
    if tol.mean_abs is not None and row.mean_abs > tol.mean_abs:
        row.status = "mean beyond tolerance"
        return row, f"mean |Δ| {row.mean_abs:.3g} {u} > allowed {tol.mean_abs:.3g} {u}"
    row.within = True
    return row, None


@dataclasses.dataclass
class Comparison:
    rows: list[Row]
    problems: list[Problem]
    clean: dict[str, dict[str, np.ndarray]]  # the run's usable datasets that the ref has
    extra: int


def compare_series(run: dict, ref: dict, spec: Spec, clock: Clock) -> Comparison:
    """Every reference dataset against the run's; then what the run has in addition."""
    rows, problems, clean = [], [], {}
    for entity in sorted(ref):
        attrs = sorted(a for a in ref[entity] if not spec.ignores(entity, a))
        if entity not in run and attrs:
            problems.append(Problem(f"Series/{entity}",
                                    f"entity missing (reference records {', '.join(attrs)})"))
        for attr in attrs:
            name = f"Series/{entity}/{attr}"
            values = run.get(entity, {}).get(attr)
            row, message = compare_one(name, attr, values, ref[entity][attr],
                                       spec.tolerance_for(entity, attr), clock)
            rows.append(row)
            if message and entity in run:
                problems.append(Problem(name, message))
            if row.clean:
                clean.setdefault(entity, {})[attr] = values
    extra = [f"Series/{e}/{a}" for e in sorted(run) for a in sorted(run[e])
             if a not in ref.get(e, {}) and not spec.ignores(e, a)]
    if not spec.allow_extra:
        problems += [Problem(name, "extra dataset: the reference does not record it")
                     for name in extra]
    return Comparison(rows, problems, clean, 0 if spec.allow_extra else len(extra))


# --- Physical rules ----------------------------------------------------------------------

@dataclasses.dataclass
class RuleResult:
    """The outcome of one physical rule: problems, and how many of its items pass."""

    problems: list[Problem] = dataclasses.field(default_factory=list)
    passed: int = 0
    total: int = 0
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def share(self) -> float:
        return self.passed / self.total if self.total else 1.0


def buses(series: dict) -> dict[str, dict[str, np.ndarray]]:
    """The entities that are buses: they record a voltage and its nominal value."""
    return {e: a for e, a in series.items() if "Vm" in a and "Vl" in a}


def per_unit(series: dict) -> dict[str, np.ndarray]:
    return {e: a["Vm"] / a["Vl"] for e, a in buses(series).items() if np.all(a["Vl"] > 0)}


def check_voltage(clean: dict, ref: dict, spec: Spec, clock: Clock) -> RuleResult:
    """Every reference bus must stay in the band; a bus without usable data fails."""
    low, high = spec.band
    result = RuleResult(total=len(buses(ref)))
    for entity, pu in sorted(per_unit(clean).items()):
        if pu.min() >= low and pu.max() <= high:
            result.passed += 1
            continue
        worst = int(np.argmax(np.maximum(low - pu, pu - high)))
        result.problems.append(Problem(
            f"Series/{entity}/Vm",
            f"voltage {pu.min():.4f}–{pu.max():.4f} p.u. leaves the band {low}–{high} p.u. "
            f"(worst {pu[worst]:.4f} p.u. at {clock.label(worst)})"))
    return result


@dataclasses.dataclass
class Element:
    """A branch or transformer of the grid file, with its rating."""

    id: str
    kind: str  # "branch" or "trafo"
    ends: tuple[str, str]  # bus ids, from and to
    rating: float  # A for branches, VA for transformers


def grid_elements(grid_file: Path) -> tuple[list[Element], dict[str, float]]:
    """Branches and transformers with ratings, and nominal bus voltages in V."""
    try:
        grid = json.loads(grid_file.read_text())
        nominal = {bus[0]: float(bus[2]) * 1000 for bus in grid["bus"]}
        elements = [Element(b[0], "branch", (b[1], b[2]), float(grid["branch_types"][b[3]][3]))
                    for b in grid.get("branch", [])]
        elements += [Element(t[0], "trafo", (t[1], t[2]),
                             float(grid["trafo_types"][t[3]][0]) * 1e6)
                     for t in grid.get("trafo", [])]
    except (OSError, ValueError, KeyError, IndexError, TypeError) as error:
        raise Unusable(f"grid file {grid_file}: cannot read ratings from it ({error!r})") from None
    return elements, nominal


def by_element_id(series: dict) -> dict[str, str]:
    """mosaik-pypower's entity names end in the grid file's ids: ``Grid-0.0-branch_1``."""
    return {entity.rsplit("-", 1)[-1]: entity for entity in series}


def loading_of(element: Element, attrs: dict, clean: dict, ids: dict,
               nominal: dict) -> np.ndarray | None:
    """Loading over time as a fraction of the rating, or None without usable data."""
    if not all(a in attrs for a in ("P_from", "Q_from", "P_to", "Q_to")):
        return None
    apparent = [np.hypot(attrs["P_from"], attrs["Q_from"]), np.hypot(attrs["P_to"], attrs["Q_to"])]
    if element.kind == "trafo":
        rating = float(attrs["S_r"].flat[0]) if "S_r" in attrs else element.rating
        return np.maximum(*apparent) / rating
    rating = float(attrs["I_max"].flat[0]) if "I_max" in attrs else element.rating
    currents = []
    for s, bus in zip(apparent, element.ends, strict=True):
        volts = clean.get(ids.get(bus, ""), {}).get("Vm", nominal.get(bus, np.nan))
        currents.append(s / (math.sqrt(3) * volts))
    return np.maximum(*currents) / rating


def line_loading(clean: dict, ref: dict, grid_file: Path) -> tuple[dict, int]:
    """``{entity: loading over time}`` for the run, and how many elements the ref has."""
    elements, nominal = grid_elements(grid_file)
    ids = by_element_id(ref)
    graded = [e for e in elements if e.id in ids]
    loading = {}
    for element in graded:
        entity = ids[element.id]
        values = loading_of(element, clean.get(entity, {}), clean, ids, nominal)
        if values is not None:
            loading[entity] = values
    return loading, len(graded)


def check_loading(loading: dict, graded: int, spec: Spec, clock: Clock) -> RuleResult:
    result = RuleResult(total=graded)
    for entity, values in sorted(loading.items()):
        peak = int(np.argmax(values))
        if values[peak] <= spec.max_loading:
            result.passed += 1
            continue
        result.problems.append(Problem(
            f"Series/{entity}",
            f"loading up to {values[peak]:.1%} of its rating at {clock.label(peak)} "
            f"(limit {spec.max_loading:.0%}; "
            f"{int((values > spec.max_loading).sum())} steps over)"))
    return result


BALANCE_NEEDS = {"House_": ("P_out",), "PV_": ("P",)}


def balance_inputs_missing(clean: dict, ref: dict) -> list[str]:
    """The reference datasets power_balance needs that the run cannot supply."""
    needed = [(e, a) for e in buses(ref) for a in ("P", "Vl")]
    for kind, attrs in BALANCE_NEEDS.items():
        needed += [(e, a) for e in entities_of(ref, kind) for a in attrs]
    return [f"Series/{e}/{a}" for e, a in needed if a not in clean.get(e, {})]


def check_energy(clean: dict, ref: dict, spec: Spec, clock: Clock) -> tuple[RuleResult, dict]:
    """Two balance rules on the run, and its day energies against the reference's."""
    result = RuleResult(total=5)
    missing = balance_inputs_missing(clean, ref)
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        result.notes.append(f"energy balance not checked: it needs {missing[0]}{more}, "
                            "which the run lacks or cannot use")
        return result, {}
    run_balance = power_balance({e: clean[e] for e in clean})
    ref_balance = power_balance(ref)
    losses = run_balance["losses"]
    worst = int(np.argmin(losses))
    if losses[worst] >= -spec.max_negative_loss:
        result.passed += 1
    else:
        result.problems.append(Problem("power balance", (
            f"at {clock.label(worst)} the slack bus supplies {-losses[worst]:.1f} W less than "
            f"household load + PV feed-in (losses must be ≥ −{spec.max_negative_loss:g} W)")))
    loss_kwh, through_kwh = clock.kwh(losses), clock.kwh(np.abs(run_balance["slack"]))
    share = loss_kwh / through_kwh if through_kwh else 0.0
    if share <= spec.max_loss_share:
        result.passed += 1
    else:
        result.problems.append(Problem("power balance", (
            f"losses are {loss_kwh:.2f} kWh, {share:.2%} of the {through_kwh:.1f} kWh through "
            f"the slack bus (limit {spec.max_loss_share:.2%})")))
    names = {"loads": "household load", "feed_in": "PV feed-in", "slack": "slack-bus energy"}
    for key, name in names.items():
        run_kwh, ref_kwh = clock.kwh(run_balance[key]), clock.kwh(ref_balance[key])
        if abs(run_kwh - ref_kwh) <= spec.energy_rel * abs(ref_kwh) + 1e-6:
            result.passed += 1
            continue
        off = abs(run_kwh - ref_kwh) / abs(ref_kwh) if ref_kwh else math.inf
        result.problems.append(Problem(f"energy: {name}", (
            f"{run_kwh:.3f} kWh over the day, reference {ref_kwh:.3f} kWh "
            f"({off:.2%} off, allowed {spec.energy_rel:.2%})")))
    return result, {"run": run_balance, "ref": ref_balance}


# --- The grade --------------------------------------------------------------------------

@dataclasses.dataclass
class Grade:
    verdict: str
    score: float
    problems: list[Problem]
    notes: list[str] = dataclasses.field(default_factory=list)
    rows: list[Row] = dataclasses.field(default_factory=list)
    shares: dict[str, float] = dataclasses.field(default_factory=dict)
    run: Run | None = None
    ref: Run | None = None
    spec: Spec | None = None
    clock: Clock = dataclasses.field(default_factory=Clock)
    plots: dict = dataclasses.field(default_factory=dict)  # what the report draws

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def summary(self) -> dict:
        return {"verdict": self.verdict, "score": self.score,
                "problems": [str(p) for p in self.problems], "notes": self.notes}


def unusable(message: str) -> Grade:
    return Grade(ERROR, 0.0, [Problem("", message)])


def score_of(shares: dict[str, float], weights: dict[str, float], failed: bool) -> float:
    """Weighted mean of the category shares, in 0-100; never 100 for a failed run."""
    score = 100 * sum(weights[c] * shares[c] for c in CATEGORIES) / sum(weights.values())
    score = round(score, 1)
    return min(score, 99.9) if failed else score


def manifest_notes(run: Run) -> list[str]:
    """Datasets changed since the run wrote its manifest: worth a teacher's look, not a FAIL."""
    recorded = ((run.manifest or {}).get("hdf5") or {}).get("datasets")
    if not recorded:
        return []
    actual = manifests.dataset_checksums(run.hdf5_file)
    changed = sorted(n for n in set(recorded) | set(actual) if recorded.get(n) != actual.get(n))
    if not changed:
        return []
    return [f"{len(changed)} dataset(s) differ from the checksums in manifest.json (first: "
            f"{changed[0]}): {run.hdf5_file.name} was changed after the run"]


def grade_runs(run: Run, ref: Run, spec: Spec) -> Grade:
    """Compare, check the physics, score; the heart of the grader."""
    check_reference(ref)
    clock = Clock.of(ref)
    comparison = compare_series(run.series, ref.series, spec, clock)
    problems = list(comparison.problems)
    if run.manifest_problem:
        problems.insert(0, Problem("manifest.json", run.manifest_problem))
    clean = comparison.clean
    voltage = check_voltage(clean, ref.series, spec, clock)
    loading, graded = ({}, 0) if spec.grid_file is None else \
        line_loading(clean, ref.series, spec.grid_file)
    loading_result = check_loading(loading, graded, spec, clock)
    energy, balances = check_energy(clean, ref.series, spec, clock)
    for result in (voltage, loading_result, energy):
        problems += result.problems
    rows = comparison.rows
    items = len(rows) + comparison.extra + 1
    shares = {
        "completeness": (sum(r.clean for r in rows) + (run.manifest_problem is None)) / items,
        "accuracy": sum(r.within for r in rows) / len(rows) if rows else 1.0,
        "voltage": voltage.share, "loading": loading_result.share, "energy": energy.share,
    }
    notes = energy.notes + manifest_notes(run)
    if ref.manifest_problem:
        notes.append(f"the reference's manifest.json is {ref.manifest_problem}")
    if spec.file is None:
        notes.append("no grading spec found: built-in defaults used")
    verdict = FAIL if problems else PASS
    return Grade(verdict, score_of(shares, spec.weights, bool(problems)), problems, notes,
                 rows, shares, run, ref, spec, clock,
                 {"clean": clean, "loading": loading, "balances": balances})


def grade(run_arg: str, ref_arg: str, spec_file: Path | None = None,
          results_dir: Path = RESULTS) -> Grade:
    """Grade ``run_arg`` against ``ref_arg``; unusable input gives an ERROR grade."""
    try:
        ref = load_run(ref_arg, results_dir, "reference")
        run = load_run(run_arg, results_dir, "run")
        spec = load_spec(spec_file or default_spec_file(ref.scenario))
        return grade_runs(run, ref, spec)
    except Unusable as error:
        return unusable(str(error))


# --- The report ---------------------------------------------------------------------------

def _figure(title: str, ylabel: str, rows: int = 1):
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    fig = Figure(figsize=(10, 3.6 * rows), dpi=100, layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    axes[0].set_title(title)
    for ax in axes:
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.set_xlim(0, 24)
        ax.set_xticks(range(0, 25, 3))
    axes[-1].set_xlabel("time of day [h]")
    return fig, axes


def plot_voltages(path: Path, grade: Grade) -> None:
    """Every bus of the run in p.u., the reference's envelope, and the band."""
    fig, (ax,) = _figure("Node voltages over the day (run; grey: reference range)", "Vm [p.u.]")
    ref_pu = list(per_unit(grade.ref.series).values())
    if ref_pu:
        hours = grade.clock.hours(ref_pu[0].size)
        ax.fill_between(hours, np.min(ref_pu, axis=0), np.max(ref_pu, axis=0), color="0.8",
                        label="reference min–max")
    for _, pu in sorted(per_unit(grade.plots["clean"]).items()):
        ax.plot(grade.clock.hours(pu.size), pu, lw=0.8, alpha=0.8)
    for limit in grade.spec.band:
        ax.axhline(limit, color="red", ls="--", lw=1)
    low, high = grade.spec.band
    ax.plot([], [], color="red", ls="--", label=f"band {low}–{high}")
    ax.legend(loc="upper left")
    fig.savefig(path)


def plot_loading(path: Path, grade: Grade) -> None:
    """Loading of every branch; the five most loaded get a legend entry."""
    fig, (ax,) = _figure("Line and transformer loading over the day (run)", "loading [%]")
    loading = grade.plots["loading"]
    top = sorted(loading, key=lambda e: loading[e].max(), reverse=True)[:5]
    for entity in sorted(set(loading) - set(top)):
        ax.plot(grade.clock.hours(loading[entity].size), 100 * loading[entity],
                lw=0.6, color="0.7")
    for entity, colour in zip(top, ("tab:red", "tab:blue", "tab:orange", "tab:green",
                                    "tab:purple"), strict=False):
        ax.plot(grade.clock.hours(loading[entity].size), 100 * loading[entity], lw=1.2,
                color=colour, label=entity.rsplit("-", 1)[-1])
    ax.plot([], [], lw=0.6, color="0.7", label="others")
    ax.axhline(100 * grade.spec.max_loading, color="red", ls="--", lw=1, label="limit")
    if not loading:
        ax.text(12, 0.5, "no loading data", ha="center")
    ax.legend(loc="upper left")
    fig.savefig(path)


def plot_balance(path: Path, grade: Grade) -> None:
    """Summed household load and PV feed-in (and the slack bus), run against reference."""
    fig, (ax,) = _figure("PV feed-in vs household load (sums; dashed: reference)", "P [kW]")
    balances = grade.plots["balances"]
    colours = {"loads": "tab:blue", "feed_in": "tab:orange", "slack": "tab:green"}
    names = {"loads": "household load", "feed_in": "PV feed-in", "slack": "slack bus"}
    for key, colour in colours.items():
        for which, style in (("ref", "--"), ("run", "-")):
            if which in balances:
                values = balances[which][key] / 1000
                ax.plot(grade.clock.hours(values.size), values, style, color=colour,
                        lw=1, label=f"{names[key]} ({which})")
    if not balances:
        ax.text(12, 0, "energy balance not available (data missing)", ha="center")
    ax.axhline(0, color="black", lw=0.5)
    ax.legend(loc="lower left", ncols=3, fontsize="small")
    fig.savefig(path)


def max_difference(run: dict, ref: dict, attrs: tuple[str, ...]) -> np.ndarray | None:
    """Per step, the largest |run - ref| over every usable dataset of ``attrs``."""
    diffs = [np.abs(values - ref[e][a]) for e, group in run.items()
             for a, values in group.items() if a in attrs]
    return np.max(diffs, axis=0) if diffs else None


def plot_difference(path: Path, grade: Grade) -> None:
    """Largest voltage and power difference to the reference at each step."""
    fig, axes = _figure("Difference to the reference (largest over all entities)", "", rows=2)
    clean, ref = grade.plots["clean"], grade.ref.series
    panels = [(("Vm",), "V"), (("P", "P_out", "P_from", "P_to"), "W")]
    for ax, (attrs, unit_) in zip(axes, panels, strict=True):
        ax.set_ylabel(f"max |Δ{attrs[0]}| [{unit_}]")
        diff = max_difference(clean, ref, attrs)
        if diff is None:
            ax.text(12, 0.5, "no usable data", ha="center")
            continue
        tolerance = grade.spec.tolerance_for("", attrs[0]).abs
        # symlog: linear near zero, logarithmic above, so 1e-3 and 100 both show
        ax.set_yscale("symlog", linthresh=tolerance / 10 if tolerance else 1e-6)
        ax.plot(grade.clock.hours(diff.size), diff, lw=1.5, color="tab:purple",
                label="run − ref", clip_on=False, zorder=3)  # visible on the axis when zero
        ax.axhline(tolerance, color="red", ls="--", lw=1,
                   label=f"absolute tolerance {tolerance:g} {unit_}")
        ax.set_ylim(0, max(10 * tolerance, 3 * diff.max(), 1e-6))
        ax.legend(loc="center left")
        if not diff.any():
            ax.text(12, 0, "identical to the reference", ha="center", va="bottom")
    fig.savefig(path)


PLOTS = {
    "voltages.png": ("Node voltages", plot_voltages),
    "loading.png": ("Line loading", plot_loading),
    "balance.png": ("PV vs household load", plot_balance),
    "difference.png": ("Difference to the reference", plot_difference),
}


def _cell(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.3g}"


def error_table(rows: list[Row]) -> list[str]:
    """Rows that differ from the reference, worst first; identical ones only counted."""
    shown = [r for r in rows if r.status != "ok" or r.max_abs > 0]
    shown.sort(key=lambda r: (r.status == "ok", -r.steps_out, -np.nan_to_num(r.max_rel)))
    lines = ["| Dataset | Tolerance | max \\|Δ\\| | mean \\|Δ\\| | max rel. | steps beyond "
             "| Status |", "|---|---|---|---|---|---|---|"]
    lines += [f"| `{r.name}` | {r.tolerance} | {_cell(r.max_abs)} | {_cell(r.mean_abs)} | "
              f"{_cell(r.max_rel)} | {r.steps_out} | {r.status} |" for r in shown]
    identical = len(rows) - len(shown)
    lines.append("")
    lines.append(f"{identical} of {len(rows)} datasets are identical to the reference "
                 "(not listed). Relative error ignores steps where |ref| ≤ the absolute "
                 "tolerance.")
    return lines


def report_markdown(grade: Grade, title: str, plots: list[str]) -> str:
    lines = [f"# Grading report: {title}", "",
             f"**Verdict: {grade.verdict}** — score {grade.score:.1f}/100", "",
             "| | |", "|---|---|"]
    if grade.run:
        lines += [f"| Run | `{grade.run.hdf5_file}` |", f"| Reference | `{grade.ref.hdf5_file}` |",
                  f"| Spec | `{grade.spec.file or 'built-in defaults'}` |"]
    lines += [f"| Graded | {datetime.now(UTC):%Y-%m-%d %H:%M} UTC |", "", "## Problems", ""]
    lines += [f"1. `{p.where}`: {p.message}" for p in grade.problems] or ["None."]
    if grade.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in grade.notes]
    if grade.shares:
        lines += ["", "## Score", "", "| Category | Weight | Share passed |", "|---|---|---|"]
        lines += [f"| {c} | {grade.spec.weights[c]:g} | {grade.shares[c]:.1%} |"
                  for c in CATEGORIES]
    for name in plots:
        lines += ["", f"## {PLOTS[name][0]}", "", f"![{PLOTS[name][0]}]({name})"]
    if grade.rows:
        lines += ["", "## Per-dataset errors", ""] + error_table(grade.rows)
    return "\n".join(lines) + "\n"


def write_report(grade: Grade, directory: Path, title: str) -> Path:
    """``report.md`` and its PNGs; an ERROR grade gets the verdict alone."""
    directory.mkdir(parents=True, exist_ok=True)
    plots = []
    if grade.verdict != ERROR:
        for name, (_, draw) in PLOTS.items():
            draw(directory / name, grade)
            plots.append(name)
    path = directory / "report.md"
    path.write_text(report_markdown(grade, title, plots))
    return path


# --- Output -----------------------------------------------------------------------------

def verdict_lines(grade: Grade) -> list[str]:
    """What the teacher reads: the verdict, then one line per problem."""
    if grade.verdict == ERROR:
        return [f"ERROR: {grade.problems[0].message}"]
    what = "matches" if grade.verdict == PASS else "does not match"
    count = len(grade.problems)
    lines = [f"{grade.verdict}: run {grade.run.directory} {what} reference "
             f"{grade.ref.directory} (spec {grade.spec.file or 'built-in defaults'}): "
             f"score {grade.score:.1f}/100" + (f", {count} problem(s)" if count else "")]
    lines += [f"  {p}" for p in grade.problems[:MAX_PRINTED_PROBLEMS]]
    if count > MAX_PRINTED_PROBLEMS:
        lines.append(f"  … and {count - MAX_PRINTED_PROBLEMS} more problems (all in the report)")
    lines += [f"note: {note}" for note in grade.notes]
    return lines


def run_directory_of(arg: str, results_dir: Path) -> Path | None:
    """Where the default report goes, even when the run itself cannot be graded."""
    try:
        return locate(arg, results_dir, "run")[0]
    except Unusable:
        return None


def run_grade(args) -> int:
    result = grade(args.run, args.ref, args.spec, args.results)
    print("\n".join(verdict_lines(result)))
    run_directory = run_directory_of(args.run, args.results)
    directory = args.report or (run_directory and run_directory / "grading")
    if not args.no_report and directory:
        try:
            print(f"report: {write_report(result, directory, Path(args.run).name)}")
        except OSError as error:
            print(f"note: report not written to {directory}: {error.strerror or error}")
    if args.json:
        Path(args.json).write_text(json.dumps(result.summary(), indent=2) + "\n")
    return result.exit_code


# --- Batch ------------------------------------------------------------------------------

COLUMNS = ("student", "verdict", "score", "problems", "first_problem")


def child_env() -> dict[str, str]:
    """The environment of a grading subprocess: this package importable, no GUI."""
    paths = [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]
    return os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, paths)),
                         "MPLBACKEND": "Agg"}


def grade_in_subprocess(submission: Path, ref: str, args) -> dict:
    """One submission, graded by a child process with a time limit.

    A damaged file can make HDF5 hang (an external dataset on a FIFO or a
    dead network mount) or crash the interpreter; in a child, that costs one
    row, not the batch. The child hands its verdict back as a JSON file.
    """
    error_row = {"student": submission.name, "verdict": ERROR, "score": 0.0, "problems": 1}
    with tempfile.TemporaryDirectory() as tmp:
        summary_file = Path(tmp) / "grade.json"
        command = [sys.executable, "-m", "smartgrid_lab.grading", "grade", str(submission),
                   ref, "--json", str(summary_file), "--results", str(args.results)]
        command += ["--spec", str(args.spec)] if args.spec else []
        command += ["--no-report"] if args.no_report else []
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=child_env(),
                                  timeout=args.timeout)
        except subprocess.TimeoutExpired:
            return error_row | {"first_problem": f"grading timed out after {args.timeout:g} s"}
        try:
            summary = json.loads(summary_file.read_text())
        except (OSError, ValueError):  # no verdict: the child crashed
            last = ((done.stdout + done.stderr).strip().splitlines() or ["no output"])[-1]
            return error_row | {"first_problem": f"grader failed (exit {done.returncode}): "
                                                 f"{last}"}
    problems = summary["problems"]
    return {"student": submission.name, "verdict": summary["verdict"],
            "score": summary["score"], "problems": len(problems),
            "first_problem": problems[0] if problems else ""}


def grade_submission(submission: Path, args) -> dict:
    """A run directory is graded as it is; a simulator is first run in the lab."""
    run_directory = submission
    if submissions.is_simulator(submission):
        print(f"running {submission.name}'s simulator as {args.role} ...", file=sys.stderr,
              flush=True)
        run_directory, problem = submissions.run_in_lab(submission, args.role,
                                                         args.run_timeout)
        if problem:
            return {"student": submission.name, "verdict": ERROR, "score": 0.0,
                    "problems": 1, "first_problem": problem}
    return grade_in_subprocess(run_directory, args.ref, args) | {"student": submission.name}


def print_table(rows: list[dict]) -> None:
    widths = {c: max(len(c), *(len(str(r[c])[:70]) for r in rows)) for c in COLUMNS}
    print("  ".join(c.ljust(widths[c]) for c in COLUMNS))
    for row in rows:
        print("  ".join(str(row[c])[:70].ljust(widths[c]) for c in COLUMNS))


def run_batch(args) -> int:
    if not args.submissions.is_dir():
        print(f"ERROR: submissions folder {args.submissions} does not exist")
        return 2
    try:
        locate(args.ref, args.results, "reference")
    except Unusable as error:
        print(f"ERROR: {error}")
        return 2
    folders = sorted(p for p in args.submissions.iterdir()
                     if p.is_dir() and not p.name.startswith((".", "_")))
    if not folders:
        print(f"ERROR: no submission folders in {args.submissions}")
        return 2
    rows = []
    for submission in folders:
        rows.append(grade_submission(submission, args))
        print(f"graded {submission.name}: {rows[-1]['verdict']}", file=sys.stderr, flush=True)
    out = args.out or args.submissions / "grades.csv"
    with open(out, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print_table(rows)
    print(f"table: {out}")
    return 0


# --- Command line -------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m smartgrid_lab.grading",
        description="Grade Smart Grid Lab runs against a reference run.")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="where run ids are looked up (default: results/)")
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("grade", help="grade one run: PASS (0), FAIL (1), ERROR (2)")
    one.add_argument("run", help="run directory, a file in it, or a run id")
    one.add_argument("ref", help="the reference: run directory, a file in it, or a run id")
    one.add_argument("--report", type=Path, help="report folder (default: RUN/grading/)")
    one.add_argument("--no-report", action="store_true", help="print the verdict only")
    one.add_argument("--json", type=Path, help=argparse.SUPPRESS)  # for `batch`
    many = commands.add_parser("batch", help="grade every subfolder into one CSV table")
    many.add_argument("submissions", type=Path,
                      help="folder with one run directory, or one simulator folder "
                           "(with a Dockerfile, to run in the lab first), per student")
    many.add_argument("--role", default="pv",
                      help="the simulator service a submitted simulator replaces (default pv)")
    many.add_argument("--run-timeout", type=float, default=900,
                      help="seconds allowed for running a submitted simulator (default 900)")
    many.add_argument("--ref", required=True, help="the reference run")
    many.add_argument("--out", type=Path, help="CSV file (default: SUBMISSIONS/grades.csv)")
    many.add_argument("--timeout", type=float, default=120,
                      help="seconds allowed per submission (default 120)")
    many.add_argument("--no-report", action="store_true", help="no report per submission")
    for sub in (one, many):
        sub.add_argument("--spec", type=Path,
                         help="grading spec (default: scenarios/<scenario>.grading.toml)")
        sub.add_argument("--results", type=Path, default=argparse.SUPPRESS,
                         help="where run ids are looked up (default: results/)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return run_grade(args) if args.command == "grade" else run_batch(args)
    except Exception as error:  # noqa: BLE001 - a verdict line, even for a grader bug
        print(f"ERROR: the grader failed on this input ({type(error).__name__}: {error}); "
              "please report it with the files")
        return 2


if __name__ == "__main__":
    sys.exit(main())
