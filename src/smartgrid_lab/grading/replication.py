"""Does the run reproduce the reference? Every dataset compared within its tolerance."""

import dataclasses
import math

import numpy as np

from smartgrid_lab.grading.common import Problem
from smartgrid_lab.grading.load import Clock, numeric
from smartgrid_lab.grading.spec import Spec, Tolerance


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
    if not numeric(run):
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

